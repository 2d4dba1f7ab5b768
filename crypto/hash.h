/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_CRYPTO_HASH_H
#define SEALSYNC_CRYPTO_HASH_H
/*
 * BLAKE2b (libsodium crypto_generichash).  Unkeyed 256-bit hashes name
 * objects and sealed blocks; keyed hashes are MACs/KDFs (see kdf.h).
 */
#include <stddef.h>
#include <stdint.h>

#define HASH_LEN 32

struct hash_part {
        const void *p;
        size_t n;
};

/* OUT = BLAKE2b-256(IN). */
void hash_blake2b(uint8_t out[static HASH_LEN], const void *in, size_t len);

/*
 * BLAKE2b-256 of a byte stream fed in pieces (unkeyed: none of these can
 * fail).  Caller-owned; the state is opaque (libsodium's
 * crypto_generichash_state, checked to fit at build time).
 */
struct hash_stream {
        _Alignas(64) unsigned char opaque[384];
};
void hash_stream_init(struct hash_stream *h);
void hash_stream_update(struct hash_stream *h, const void *p, size_t n);
/* OUT = the hash of everything fed since init; H must be initialised again before reuse. */
void hash_stream_final(struct hash_stream *h, uint8_t out[static HASH_LEN]);

/*
 * OUT (OUTLEN in 16..64) = BLAKE2b(key=KEY (KEYLEN 0 or 16..64), parts[0] || ... ).
 * KEY may be NULL with KEYLEN 0.  Returns 0 or -EINVAL on bad lengths.
 */
int hash_parts(uint8_t *out, size_t outlen, const uint8_t *key, size_t keylen,
               const struct hash_part *parts, size_t nparts) __attribute__((warn_unused_result));

#endif
