/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_CRYPTO_SUITE_H
#define SEALSYNC_CRYPTO_SUITE_H
/* Content cipher suites, fixed per region at GENESIS. */
#include <stddef.h>

enum suite {
        SUITE_AES256GCM =
            1, /* AES-256-GCM (needs AES-NI/PCLMUL); 24-byte stored nonce, see block.h */
        SUITE_XCHACHA20POLY1305 = 2, /* XChaCha20-Poly1305-IETF, 24-byte nonce */
};

/* 1 if this CPU can run SUITE (AES-GCM needs hardware support in libsodium), else 0. */
int suite_available(int suite);

/* The default for new regions: AES-256-GCM if available, else XChaCha20-Poly1305. */
int suite_default(void);

/* "aes256gcm" / "xchacha20poly1305" <-> enum.  Parse returns 0 or -EINVAL. */
int suite_parse(const char *name, int *out) __attribute__((warn_unused_result));
const char *suite_name(int suite); /* "unknown" for an unknown value */

/* Stored nonce length of SUITE (24 for both), 0 if unknown.  The tag is always 16. */
size_t suite_nonce_len(int suite);

#endif
