/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_KEYRING_IDENTITY_H
#define SEALSYNC_KEYRING_IDENTITY_H
/*
 * Device identity: an Ed25519 signing pair, an X25519 pair, and a 32-byte
 * device-local key (encrypts the local index).  Stored in HOME/device.key
 * (mode 0600, written atomically), secrets sealed under an Argon2id-derived
 * key; public keys readable without the passphrase.  Format: doc/FORMAT-keyring.md.
 *
 *   device_id = first 16 bytes of BLAKE2b-256("sealsync/v1/device-id\0" || sign_pk || box_pk)
 */
#include <stddef.h>
#include <stdint.h>

#include "crypto/kdf.h"

#define IDENTITY_ID_LEN 16
#define IDENTITY_NAME_MAX 64
#define IDENTITY_FPR_WORDS 6

struct identity {
        uint8_t device_id[IDENTITY_ID_LEN];
        uint8_t sign_pk[32];
        uint8_t box_pk[32];
        char name[IDENTITY_NAME_MAX + 1]; /* device name (default: hostname) */
        uint8_t *sign_sk;                 /* 64 bytes, secmem; NULL if public-only */
        uint8_t *box_sk;                  /* 32 bytes, secmem; NULL if public-only */
        uint8_t *local_key;               /* 32 bytes, secmem; NULL if public-only */
};

/*
 * Creates a new identity in HOME (created 0700 if missing).  PASS NULL means
 * no passphrase (the caller warns).  Returns 0, -EEXIST if one exists,
 * -EINVAL (bad name) or another negative errno; nothing written on error.
 */
int identity_create(const char *home, const char *name, const char *pass, enum kdf_level level)
    __attribute__((warn_unused_result));

/*
 * Loads HOME's identity with secrets.  Returns 0, -ENOENT (no identity),
 * -EPERM (key file readable by group/others: refused), -EKEYREJECTED (wrong
 * or missing passphrase), -EBADMSG (corrupt/unknown format).
 */
int identity_load(const char *home, const char *pass, struct identity **out)
    __attribute__((warn_unused_result));

/* Loads only the public part (no passphrase).  Errors as identity_load. */
int identity_load_public(const char *home, struct identity **out)
    __attribute__((warn_unused_result));

/* 1 if HOME's key file is passphrase-protected, 0 if not, or a negative errno. */
int identity_has_passphrase(const char *home) __attribute__((warn_unused_result));

/*
 * Re-seals the secrets under NEW_PASS (NULL = none).  Returns as
 * identity_load for OLD_PASS; the file is replaced atomically.
 */
int identity_change_passphrase(const char *home, const char *old_pass, const char *new_pass,
                               enum kdf_level level) __attribute__((warn_unused_result));

/*
 * A new identity (with secrets, in secure memory) whose key pairs derive
 * from SIGN_SEED (the Ed25519 seed) and BOX_SEED (the X25519 seed), named
 * NAME; its local_key is random and meant for no use.  Nothing is written
 * to disk.  For keys derived from something else (the recovery key,
 * keyring/recovery.h).  Returns 0, -EINVAL (bad NAME), -ENOMEM or -EIO;
 * *OUT untouched on error.
 */
int identity_from_seeds(const uint8_t sign_seed[static 32], const uint8_t box_seed[static 32],
                        const char *name, struct identity **out)
    __attribute__((warn_unused_result));

void identity_free(struct identity *id); /* wipes secrets; NULL is a no-op */

/* DEVICE_ID of a key pair, as defined at the top of this file. */
void identity_device_id(const uint8_t sign_pk[static 32], const uint8_t box_pk[static 32],
                        uint8_t out[static IDENTITY_ID_LEN]);

/*
 * For tests and fuzzing: parses key file bytes BUF (LEN, untrusted) as
 * identity_load does (WITH_SECRETS 1, PASS as there) or identity_load_public
 * (WITH_SECRETS 0, PASS ignored).  Same errors, minus -ENOENT/-EPERM.
 */
int identity_parse_keyfile(const uint8_t *buf, size_t len, int with_secrets, const char *pass,
                           struct identity **out) __attribute__((warn_unused_result));

/*
 * Short fingerprint of a device's public keys as IDENTITY_FPR_WORDS words
 * joined by '-': words of BLAKE2b-256("sealsync/v1/fingerprint\0" || sign_pk || box_pk).
 * OUT needs 128 bytes.  Returns 0 or -ENOSPC.
 */
int identity_fingerprint(const uint8_t sign_pk[static 32], const uint8_t box_pk[static 32],
                         char *out, size_t outlen) __attribute__((warn_unused_result));

#endif
