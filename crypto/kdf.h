/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_CRYPTO_KDF_H
#define SEALSYNC_CRYPTO_KDF_H
/*
 * Key derivation by keyed BLAKE2b with domain separation:
 *   kdf_derive(out, n, K, "ctx", m) = BLAKE2b-(8n)(key=K, "sealsync/v1/" ctx "\0" || m)
 * (see doc/FORMAT.md "Key derivation").  Also Argon2id for passphrases.
 */
#include <stddef.h>
#include <stdint.h>

#define KDF_KEY_LEN 32
#define KDF_SALT_LEN 16

/*
 * Derives OUTLEN (16..64) bytes from KEY (32 bytes) for CONTEXT (a short
 * ASCII label without NUL) and message M (may be NULL with MLEN 0).
 * Returns 0 or -EINVAL.
 */
int kdf_derive(uint8_t *out, size_t outlen, const uint8_t key[static KDF_KEY_LEN],
               const char *context, const void *m, size_t mlen) __attribute__((warn_unused_result));

/* Argon2id cost presets (libsodium's INTERACTIVE, MODERATE, SENSITIVE). */
enum kdf_level { KDF_INTERACTIVE = 1, KDF_MODERATE = 2, KDF_SENSITIVE = 3 };

/*
 * Returns the opslimit/memlimit of LEVEL via OPS/MEM; -EINVAL for unknown.
 * Test binaries only (this file compiled with -DSEALSYNC_TEST_HOOKS into
 * build/tests/sealsync, which is never installed; the Makefile's integration
 * tests run it): with SEALSYNC_TEST_KDF=min in the environment every level
 * gives libsodium's minimum costs, so that a test's key is cheap to unlock.
 * The costs are stored in the key file, so the real binary opens such a key
 * too; the real binary has no such switch and never writes cheaper costs.
 */
int kdf_level_params(enum kdf_level level, uint64_t *ops, uint64_t *mem)
    __attribute__((warn_unused_result));

/*
 * OUT (32 bytes) = Argon2id13(PASS, SALT, OPS, MEM).  Rejects OPS/MEM outside
 * libsodium's limits or above SENSITIVE (a hostile key file must not make us
 * allocate terabytes) with -EINVAL; -ENOMEM if the memory is unavailable.
 */
int kdf_passphrase(uint8_t out[static KDF_KEY_LEN], const char *pass, size_t passlen,
                   const uint8_t salt[static KDF_SALT_LEN], uint64_t ops, uint64_t mem)
    __attribute__((warn_unused_result));

#endif
