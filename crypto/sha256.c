/* SPDX-License-Identifier: Apache-2.0 */
/* SHA-256 (OpenSSL's libcrypto, libsodium's as the fallback) and HMAC-SHA-256
 * (libsodium); see sha256.h. */
#include "crypto/sha256.h"

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
