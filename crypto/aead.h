/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_CRYPTO_AEAD_H
#define SEALSYNC_CRYPTO_AEAD_H
/*
 * Metadata AEAD: XChaCha20-Poly1305-IETF with a fresh random 24-byte nonce
 * per call.  Sealed form: nonce(24) || ciphertext || tag(16).
 */
#include <stddef.h>
#include <stdint.h>

#define AEAD_KEY_LEN 32
#define AEAD_NONCE_LEN 24
#define AEAD_TAG_LEN 16
#define AEAD_OVERHEAD (AEAD_NONCE_LEN + AEAD_TAG_LEN)

/* OUT (LEN + AEAD_OVERHEAD bytes) = seal(KEY, AD, PLAIN).  Returns 0 or -EINVAL. */
int aead_seal(uint8_t *out, const uint8_t key[static AEAD_KEY_LEN], const void *ad, size_t adlen,
              const void *plain, size_t len) __attribute__((warn_unused_result));

/*
 * Opens IN (INLEN bytes, >= AEAD_OVERHEAD) into PLAIN (INLEN - AEAD_OVERHEAD
 * bytes).  Returns 0, or -EBADMSG if INLEN is too short or authentication
 * fails; then PLAIN is wiped and holds no released plaintext.
 */
int aead_open(uint8_t *plain, const uint8_t key[static AEAD_KEY_LEN], const void *ad, size_t adlen,
              const uint8_t *in, size_t inlen) __attribute__((warn_unused_result));

#endif
