/* SPDX-License-Identifier: Apache-2.0 */
/* SHA-256 (OpenSSL's libcrypto, libsodium's as the fallback) and HMAC-SHA-256
 * (libsodium); see sha256.h. */
#include "crypto/sha256.h"

#include <errno.h>
#include <openssl/evp.h>
#include <sodium.h>

void sha256_hash(uint8_t out[static SHA256_LEN], const void *in, size_t len)
{
        static const uint8_t empty[1];
        unsigned int olen = 0;

        /* libcrypto uses the CPU's SHA extensions (SHA-NI): ~4x libsodium's. */
        if (EVP_Digest(in != NULL ? in : empty, len, out, &olen, EVP_sha256(), NULL) == 1 &&
            olen == SHA256_LEN)
                return;
        /* crypto_hash_sha256 returns 0 unconditionally. */
        (void)crypto_hash_sha256(out, in != NULL ? in : empty, len);
}

_Static_assert(sizeof(crypto_hash_sha256_state) <=
                   sizeof(((struct sha256_stream *)0)->sodium_state),
               "libsodium's SHA-256 state must fit");

static crypto_hash_sha256_state *sha256_sodium(struct sha256_stream *s)
{
        return (crypto_hash_sha256_state *)(void *)s->sodium_state;
}

void sha256_stream_init(struct sha256_stream *s)
{
        EVP_MD_CTX *c = EVP_MD_CTX_new();

        s->failed = 0;
        s->evp = NULL;
        if (c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1) {
                s->evp = c;
                return;
        }
        EVP_MD_CTX_free(c);                              /* NULL is fine */
        (void)crypto_hash_sha256_init(sha256_sodium(s)); /* returns 0 unconditionally */
}

void sha256_stream_update(struct sha256_stream *s, const void *p, size_t n)
{
        if (n == 0)
                return;
        if (s->evp == NULL)
                (void)crypto_hash_sha256_update(sha256_sodium(s), p, n);
        else if (EVP_DigestUpdate(s->evp, p, n) != 1)
                s->failed = 1;
}

int sha256_stream_final(struct sha256_stream *s, uint8_t out[static SHA256_LEN])
{
        unsigned int olen = 0;
        int rc = 0;

        if (s->evp == NULL) {
                (void)crypto_hash_sha256_final(sha256_sodium(s), out);
                return 0;
        }
        if (s->failed || EVP_DigestFinal_ex(s->evp, out, &olen) != 1 || olen != SHA256_LEN)
                rc = -EIO;
        sha256_stream_release(s);
        return rc;
}

void sha256_stream_release(struct sha256_stream *s)
{
        EVP_MD_CTX_free(s->evp);
        s->evp = NULL;
}

void hmac_sha256(uint8_t out[static SHA256_LEN], const void *key, size_t keylen, const void *msg,
                 size_t len)
{
        static const uint8_t empty[1];
        crypto_auth_hmacsha256_state st;

        /* init/update/final return 0 unconditionally (libsodium 1.0.18). */
        (void)crypto_auth_hmacsha256_init(&st, key != NULL ? key : empty, keylen);
        (void)crypto_auth_hmacsha256_update(&st, msg != NULL ? msg : empty, len);
        (void)crypto_auth_hmacsha256_final(&st, out);
        sodium_memzero(&st, sizeof(st));
}
