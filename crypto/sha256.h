/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_CRYPTO_SHA256_H
#define SEALSYNC_CRYPTO_SHA256_H
/*
 * SHA-256 and HMAC-SHA-256, for protocols that mandate them (AWS Signature
 * V4 in sync/store_s3.c, which hashes every request body), and the local
 * checksum of a pack a recipe describes (sync/recipe.h).  sha256_hash is
 * OpenSSL's libcrypto (it uses the CPU's SHA extensions; libsodium's is the
 * fallback should libcrypto fail); HMAC (small inputs, secret keys) is
 * libsodium's.  Nothing sealsync writes to a store is named by SHA-256:
 * objects and blocks are named by BLAKE2b (hash.h).
 */
#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32

/* OUT = SHA-256(IN).  IN may be NULL when LEN is 0.  Cannot fail. */
void sha256_hash(uint8_t out[static SHA256_LEN], const void *in, size_t len);

/*
 * Streaming SHA-256 (the committer's pack checksum, doc/SYNC.md D8): init,
 * update..., final; release frees a stream that will not be finalised (final
 * releases it too).  libcrypto's where it can allocate its context, else
 * libsodium's (same digest, slower).  None of these can fail: a libcrypto
 * update that fails (it does not, for SHA-256) poisons the stream, and
 * final then returns -EIO.  Not thread-safe per stream.
 */
struct sha256_stream {
        void *evp; /* EVP_MD_CTX *, or NULL: the libsodium state below */
        int failed;
        unsigned char sodium_state[128]; /* crypto_hash_sha256_state (104 bytes in 1.0.18) */
};
void sha256_stream_init(struct sha256_stream *s);
void sha256_stream_update(struct sha256_stream *s, const void *p, size_t n);
/* OUT = the digest; 0, or -EIO (a poisoned stream; OUT unspecified).  Releases S. */
int sha256_stream_final(struct sha256_stream *s, uint8_t out[static SHA256_LEN])
    __attribute__((warn_unused_result));
void sha256_stream_release(struct sha256_stream *s);

/*
 * OUT = HMAC-SHA-256(KEY, MSG), any KEYLEN (keys longer than the block are
 * hashed first, as RFC 2104 says).  The internal state is wiped before
 * returning; the caller wipes KEY and, where it is a key, OUT.  Cannot fail.
 */
void hmac_sha256(uint8_t out[static SHA256_LEN], const void *key, size_t keylen, const void *msg,
                 size_t len);

#endif
