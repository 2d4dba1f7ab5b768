/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_CRYPTO_WRAP_H
#define SEALSYNC_CRYPTO_WRAP_H
/*
 * Key wrapping, the "digital envelope": crypto_box_seal (X25519 +
 * XSalsa20-Poly1305, anonymous sender) of CONTEXT || KEY to a recipient's
 * X25519 public key.  On open the embedded context must equal the expected
 * one (constant time), so a wrap cannot be moved to another slot, region or
 * epoch.  Only ever trusted inside a signed membership entry.
 */
#include <stddef.h>
#include <stdint.h>

#define WRAP_PK_LEN 32
#define WRAP_SK_LEN 32
#define WRAP_KEY_LEN 32
#define WRAP_CTX_LEN 64 /* fixed-size context; see doc/FORMAT.md */
#define WRAP_LEN (48 + WRAP_CTX_LEN + WRAP_KEY_LEN)

/* New X25519 key pair.  Returns 0 or -EIO. */
int wrap_keypair(uint8_t pk[static WRAP_PK_LEN], uint8_t sk[static WRAP_SK_LEN])
    __attribute__((warn_unused_result));

/* Deterministic key pair from a 32-byte seed (recovery keys, test vectors). */
int wrap_keypair_seed(uint8_t pk[static WRAP_PK_LEN], uint8_t sk[static WRAP_SK_LEN],
                      const uint8_t seed[static 32]) __attribute__((warn_unused_result));

/* OUT = sealbox(RECIPIENT_PK, CTX || KEY).  Returns 0 or -EINVAL (bad public key). */
int wrap_seal(uint8_t out[static WRAP_LEN], const uint8_t key[static WRAP_KEY_LEN],
              const uint8_t ctx[static WRAP_CTX_LEN],
              const uint8_t recipient_pk[static WRAP_PK_LEN]) __attribute__((warn_unused_result));

/*
 * Opens IN with (PK, SK); KEY receives the wrapped key if the box opens and
 * its context equals CTX.  Returns 0 or -EBADMSG; KEY untouched on error.
 */
int wrap_open(uint8_t key[static WRAP_KEY_LEN], const uint8_t in[static WRAP_LEN],
              const uint8_t ctx[static WRAP_CTX_LEN], const uint8_t pk[static WRAP_PK_LEN],
              const uint8_t sk[static WRAP_SK_LEN]) __attribute__((warn_unused_result));

#endif
