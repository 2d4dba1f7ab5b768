/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key wrapping: crypto_box_seal(recipient_pk, ctx(64) || key(32)).
 * The context is compared in constant time after opening, and the key is
 * released only if it matches; see doc/FORMAT.md "Key wrapping".
 */
#include "crypto/wrap.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#define WRAP_PLAIN_LEN (WRAP_CTX_LEN + WRAP_KEY_LEN)

_Static_assert(WRAP_LEN == crypto_box_SEALBYTES + WRAP_PLAIN_LEN, "WRAP_LEN mismatch");
_Static_assert(WRAP_PK_LEN == crypto_box_PUBLICKEYBYTES, "pk length");
_Static_assert(WRAP_SK_LEN == crypto_box_SECRETKEYBYTES, "sk length");
_Static_assert(crypto_box_SEEDBYTES == 32, "seed length");

int wrap_keypair(uint8_t pk[static WRAP_PK_LEN], uint8_t sk[static WRAP_SK_LEN])
{
        if (crypto_box_keypair(pk, sk) != 0)
                return -EIO;
        return 0;
}

int wrap_keypair_seed(uint8_t pk[static WRAP_PK_LEN], uint8_t sk[static WRAP_SK_LEN],
                      const uint8_t seed[static 32])
{
        if (crypto_box_seed_keypair(pk, sk, seed) != 0)
                return -EIO;
        return 0;
}

int wrap_seal(uint8_t out[static WRAP_LEN], const uint8_t key[static WRAP_KEY_LEN],
              const uint8_t ctx[static WRAP_CTX_LEN],
              const uint8_t recipient_pk[static WRAP_PK_LEN])
{
        uint8_t plain[WRAP_PLAIN_LEN];
        uint8_t sealed[WRAP_LEN];
        int rc = -EINVAL;

        memcpy(plain, ctx, WRAP_CTX_LEN);
        memcpy(plain + WRAP_CTX_LEN, key, WRAP_KEY_LEN);
        /* Fails for a low-order recipient key (all-zero shared secret). */
        if (crypto_box_seal(sealed, plain, sizeof plain, recipient_pk) != 0)
                goto cleanup_plain;
        memcpy(out, sealed, sizeof sealed);
        rc = 0;
cleanup_plain:
        sodium_memzero(sealed, sizeof sealed);
        sodium_memzero(plain, sizeof plain);
        return rc;
}

int wrap_open(uint8_t key[static WRAP_KEY_LEN], const uint8_t in[static WRAP_LEN],
              const uint8_t ctx[static WRAP_CTX_LEN], const uint8_t pk[static WRAP_PK_LEN],
              const uint8_t sk[static WRAP_SK_LEN])
{
        uint8_t plain[WRAP_PLAIN_LEN];
        int rc = -EBADMSG;

        if (crypto_box_seal_open(plain, in, WRAP_LEN, pk, sk) != 0)
                goto cleanup_plain;
        if (sodium_memcmp(plain, ctx, WRAP_CTX_LEN) != 0)
                goto cleanup_plain;
        memcpy(key, plain + WRAP_CTX_LEN, WRAP_KEY_LEN);
        rc = 0;
cleanup_plain:
        sodium_memzero(plain, sizeof plain);
        return rc;
}
