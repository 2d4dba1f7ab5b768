/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key derivation.  kdf_derive is keyed BLAKE2b over a domain-separated
 * message; every label in use is listed in doc/FORMAT.md "Key derivation".
 * kdf_passphrase is Argon2id13 with bounded costs.
 */
#include "crypto/kdf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/hash.h"

#define KDF_PREFIX "sealsync/v1/"
#define KDF_CONTEXT_MAX 64

/* 1 if CONTEXT is 1..KDF_CONTEXT_MAX printable ASCII characters (no space). */
static int context_valid(const char *context, size_t *len)
{
        size_t n;

        if (context == NULL)
                return 0;
        for (n = 0; context[n] != '\0'; n++) {
                if (n >= KDF_CONTEXT_MAX)
                        return 0;
                if (context[n] < 0x21 || context[n] > 0x7e)
                        return 0;
        }
        *len = n;
        return n > 0;
}

int kdf_derive(uint8_t *out, size_t outlen, const uint8_t key[static KDF_KEY_LEN],
               const char *context, const void *m, size_t mlen)
{
        static const uint8_t nul = 0;
        struct hash_part parts[4];
        size_t clen = 0;

        if (out == NULL || outlen < 16 || outlen > 64)
                return -EINVAL;
        if (!context_valid(context, &clen))
                return -EINVAL;
        if (mlen > 0 && m == NULL)
                return -EINVAL;
        parts[0] = (struct hash_part){KDF_PREFIX, sizeof KDF_PREFIX - 1};
        parts[1] = (struct hash_part){context, clen};
        parts[2] = (struct hash_part){&nul, 1};
        parts[3] = (struct hash_part){m, mlen};
        return hash_parts(out, outlen, key, KDF_KEY_LEN, parts, 4);
}

#ifdef SEALSYNC_TEST_HOOKS
/* 1 if a test asks for the minimum Argon2id costs (see kdf.h; test builds only). */
static int kdf_test_min(void)
{
        const char *v = getenv("SEALSYNC_TEST_KDF");

        return v != NULL && strcmp(v, "min") == 0;
}
#endif

int kdf_level_params(enum kdf_level level, uint64_t *ops, uint64_t *mem)
{
#ifdef SEALSYNC_TEST_HOOKS
        if (kdf_test_min() && level >= KDF_INTERACTIVE && level <= KDF_SENSITIVE) {
                *ops = crypto_pwhash_argon2id_OPSLIMIT_MIN;
                *mem = crypto_pwhash_argon2id_MEMLIMIT_MIN;
                return 0;
        }
#endif
        switch (level) {
        case KDF_INTERACTIVE:
                *ops = crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE;
                *mem = crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE;
                return 0;
        case KDF_MODERATE:
                *ops = crypto_pwhash_argon2id_OPSLIMIT_MODERATE;
                *mem = crypto_pwhash_argon2id_MEMLIMIT_MODERATE;
                return 0;
        case KDF_SENSITIVE:
                *ops = crypto_pwhash_argon2id_OPSLIMIT_SENSITIVE;
                *mem = crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE;
                return 0;
        }
        return -EINVAL;
}

int kdf_passphrase(uint8_t out[static KDF_KEY_LEN], const char *pass, size_t passlen,
                   const uint8_t salt[static KDF_SALT_LEN], uint64_t ops, uint64_t mem)
{
        uint8_t tmp[KDF_KEY_LEN];
        int rc = -ENOMEM;

        /* Costs come from key files on disk: bound them before allocating anything. */
        if (ops < crypto_pwhash_argon2id_OPSLIMIT_MIN ||
            ops > crypto_pwhash_argon2id_OPSLIMIT_SENSITIVE)
                return -EINVAL;
        if (mem < crypto_pwhash_argon2id_MEMLIMIT_MIN ||
            mem > crypto_pwhash_argon2id_MEMLIMIT_SENSITIVE)
                return -EINVAL;
        if (passlen > 0 && pass == NULL)
                return -EINVAL;
        if (passlen > crypto_pwhash_argon2id_PASSWD_MAX)
                return -EINVAL;
        if (pass == NULL)
                pass = "";

        if (crypto_pwhash(tmp, sizeof tmp, pass, (unsigned long long)passlen, salt,
                          (unsigned long long)ops, (size_t)mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
                goto cleanup_tmp;
        memcpy(out, tmp, sizeof tmp);
        rc = 0;
cleanup_tmp:
        sodium_memzero(tmp, sizeof tmp);
        return rc;
}
