/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_CRYPTO_SIG_H
#define SEALSYNC_CRYPTO_SIG_H
/*
 * Ed25519 signatures, always domain-separated: the signed message is
 *   "sealsync/v1/" TYPE "\0" || BODY
 * so a signature over one structure type never verifies as another.
 */
#include <stddef.h>
#include <stdint.h>

#define SIG_PK_LEN 32
#define SIG_SK_LEN 64
#define SIG_LEN 64
#define SIG_SEED_LEN 32

/* New key pair (SK in caller's secure memory).  Returns 0 or -EIO. */
int sig_keypair(uint8_t pk[static SIG_PK_LEN], uint8_t sk[static SIG_SK_LEN])
    __attribute__((warn_unused_result));

/* Deterministic key pair from a 32-byte seed (recovery keys, test vectors). */
int sig_keypair_seed(uint8_t pk[static SIG_PK_LEN], uint8_t sk[static SIG_SK_LEN],
                     const uint8_t seed[static SIG_SEED_LEN]) __attribute__((warn_unused_result));

/* SIG = Ed25519(SK, domain(TYPE) || BODY).  Returns 0, -EINVAL (bad TYPE) or -ENOMEM. */
int sig_sign(uint8_t sig[static SIG_LEN], const uint8_t sk[static SIG_SK_LEN], const char *type,
             const void *body, size_t len) __attribute__((warn_unused_result));

struct enc;

/*
 * Finishes a signed object whose signed bytes are in E: appends
 * sig_sign(SK, TYPE, those bytes) and hands E's buffer to *OUT and *OUT_LEN.
 * E is empty afterwards, on success and on failure (released, wiped).
 * Returns 0, -ENOMEM (E's sticky error, or growing it), -EINVAL (longer
 * than MAX: the caller's bounds did not hold) or sig_sign's error.
 */
int sig_finish_enc(struct enc *e, const uint8_t sk[static SIG_SK_LEN], const char *type, size_t max,
                   uint8_t **out, size_t *out_len) __attribute__((warn_unused_result));

/*
 * Returns 0 if SIG is valid for PK over domain(TYPE) || BODY, else -EBADMSG;
 * -EINVAL for a bad TYPE (programmer error) and -ENOMEM if a large BODY cannot
 * be buffered (retryable: not evidence of a bad signature).
 */
int sig_verify(const uint8_t sig[static SIG_LEN], const uint8_t pk[static SIG_PK_LEN],
               const char *type, const void *body, size_t len) __attribute__((warn_unused_result));

#endif
