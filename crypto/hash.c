/* SPDX-License-Identifier: Apache-2.0 */
/* BLAKE2b via libsodium crypto_generichash. */
#include "crypto/hash.h"

#include <errno.h>

#include <sodium.h>

void hash_blake2b(uint8_t out[static HASH_LEN], const void *in, size_t len)
{
        /* Unkeyed with a valid output length: cannot fail. */
        (void)crypto_generichash(out, HASH_LEN, in, len, NULL, 0);
}

_Static_assert(sizeof(crypto_generichash_state) <= sizeof(((struct hash_stream *)0)->opaque),
               "crypto_generichash_state fits hash_stream");
_Static_assert(_Alignof(crypto_generichash_state) <= 64, "hash_stream is aligned enough");

void hash_stream_init(struct hash_stream *h)
{
        (void)crypto_generichash_init((crypto_generichash_state *)(void *)h->opaque, NULL, 0,
                                      HASH_LEN);
}

void hash_stream_update(struct hash_stream *h, const void *p, size_t n)
{
        (void)crypto_generichash_update((crypto_generichash_state *)(void *)h->opaque, p, n);
}

void hash_stream_final(struct hash_stream *h, uint8_t out[static HASH_LEN])
{
        (void)crypto_generichash_final((crypto_generichash_state *)(void *)h->opaque, out,
                                       HASH_LEN);
}

int hash_parts(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen,
               const struct hash_part *parts, size_t nparts)
{
        crypto_generichash_state st;
        size_t i;
        int rc = -EINVAL;

        if (out == NULL || outlen < crypto_generichash_BYTES_MIN ||
            outlen > crypto_generichash_BYTES_MAX)
                return -EINVAL;
        if (keylen != 0 && (key == NULL || keylen < crypto_generichash_KEYBYTES_MIN ||
                            keylen > crypto_generichash_KEYBYTES_MAX))
                return -EINVAL;
        if (nparts > 0 && parts == NULL)
                return -EINVAL;
        for (i = 0; i < nparts; i++)
                if (parts[i].n > 0 && parts[i].p == NULL)
                        return -EINVAL;

        if (crypto_generichash_init(&st, keylen ? key : NULL, keylen, outlen) != 0)
                goto cleanup_state;
        for (i = 0; i < nparts; i++)
                if (crypto_generichash_update(&st, parts[i].p, parts[i].n) != 0)
                        goto cleanup_state;
        if (crypto_generichash_final(&st, out, outlen) != 0)
                goto cleanup_state;
        rc = 0;
cleanup_state:
        /* A keyed state holds the key: wipe on every path. */
        sodium_memzero(&st, sizeof st);
        return rc;
}
