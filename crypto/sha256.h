/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_CRYPTO_SHA256_H
#define SEALSYNC_CRYPTO_SHA256_H
/*
 * SHA-256 and HMAC-SHA-256, for protocols that mandate them (AWS Signature
 * V4 in sync/store_s3.c, which hashes every request body).  sha256_hash is
 * OpenSSL's libcrypto (it uses the CPU's SHA extensions; libsodium's is the
 * fallback should libcrypto fail); HMAC (small inputs, secret keys) is
 * libsodium's.  Nothing of sealsync's own format uses SHA-256: objects and
 * blocks are named by BLAKE2b (hash.h).
 */
#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

/* OUT = SHA-256(IN).  IN may be NULL when LEN is 0.  Cannot fail. */
void sha256_hash(uint8_t out[static SHA256_LEN], const void *in, size_t len);

/*
 * OUT = HMAC-SHA-256(KEY, MSG), any KEYLEN (keys longer than the block are
 * hashed first, as RFC 2104 says).  The internal state is wiped before
 * returning; the caller wipes KEY and, where it is a key, OUT.  Cannot fail.
 */
void hmac_sha256(uint8_t out[static SHA256_LEN], const void *key, size_t keylen, const void *msg,
                 size_t len);

#endif
