/* SPDX-License-Identifier: Apache-2.0 */
/* Content cipher suites. */
#include "crypto/suite.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

int suite_available(int suite)
{
        /* CPU feature detection happens in sodium_init (idempotent, thread-safe). */
        if (sodium_init() < 0)
                return 0;
        switch (suite) {
        case SUITE_AES256GCM:
                return crypto_aead_aes256gcm_is_available() == 1;
        case SUITE_XCHACHA20POLY1305:
                return 1;
        }
        return 0;
}

int suite_default(void)
{
        return suite_available(SUITE_AES256GCM) ? SUITE_AES256GCM : SUITE_XCHACHA20POLY1305;
}

int suite_parse(const char *name, int *out)
{
        if (name == NULL)
                return -EINVAL;
        if (strcmp(name, "aes256gcm") == 0) {
                *out = SUITE_AES256GCM;
                return 0;
        }
        if (strcmp(name, "xchacha20poly1305") == 0) {
                *out = SUITE_XCHACHA20POLY1305;
                return 0;
        }
        return -EINVAL;
}

const char *suite_name(int suite)
{
        switch (suite) {
        case SUITE_AES256GCM:
                return "aes256gcm";
        case SUITE_XCHACHA20POLY1305:
                return "xchacha20poly1305";
        }
        return "unknown";
}

size_t suite_nonce_len(int suite)
{
        switch (suite) {
        case SUITE_AES256GCM:
                return 24; /* stored nonce; GCM uses its last 12 bytes (crypto/block.c) */
        case SUITE_XCHACHA20POLY1305:
                return crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
        }
        return 0;
}
