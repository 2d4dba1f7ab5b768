/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Device identity and its key file (HOME/device.key).
 *
 * Key file, version 1 (byte-exact in doc/FORMAT-keyring.md):
 *
 *   header  = "SEALSYNC-DEVKEY1"(16) || u8 version(1) || u8 kdf || u64 ops || u64 mem
 *             || salt(16) || device_id(16) || sign_pk(32) || box_pk(32) || u32 n || name(n)
 *   sealed  = aead_seal(K, AD = header, sign_seed(32) || box_sk(32) || local_key(32))
 *   check   = BLAKE2b-256("sealsync/v1/devkey-check\0" || header || sealed)
 *   file    = header || sealed || check
 *
 * kdf 0: no passphrase, K = 32 zero bytes, ops = mem = 0, salt all zero.
 * kdf 1: K = Argon2id13(passphrase, salt, ops, mem).
 *
 * The unkeyed check separates damage from a wrong passphrase: a file whose
 * check fails is corrupt (-EBADMSG); one whose check holds but whose seal
 * does not open was opened with the wrong key (-EKEYREJECTED).  Loading
 * checks the secrets against the stored public keys (identity_set_secrets),
 * so a file can never pair one device's public keys with other secrets.
 */
#include "keyring/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/aead.h"
#include "crypto/enc.h"
#include "crypto/hash.h"
#include "crypto/secmem.h"
#include "crypto/sig.h"
#include "crypto/words.h"
#include "crypto/wrap.h"
#include "keyring/member.h"
#include "util/fileio.h"
#include "util/log.h"

#define IDENTITY_FILE "device.key"
#define IDENTITY_MAGIC "SEALSYNC-DEVKEY1"
#define IDENTITY_MAGIC_LEN 16
#define IDENTITY_VERSION 1
#define IDENTITY_KDF_NONE 0
#define IDENTITY_KDF_ARGON2ID 1
#define IDENTITY_SECRETS_LEN 96 /* sign seed, box seed, local key */
#define IDENTITY_SEALED_LEN (IDENTITY_SECRETS_LEN + AEAD_OVERHEAD)
#define IDENTITY_FILE_MAX 1024

static const char identity_check_domain[] = "sealsync/v1/devkey-check";

/* The parsed, not yet trusted, public part of a key file. */
struct identity_file {
        uint8_t kdf;
        uint64_t ops, mem;
        uint8_t salt[KDF_SALT_LEN];
        uint8_t device_id[IDENTITY_ID_LEN];
        uint8_t sign_pk[32];
        uint8_t box_pk[32];
        char name[IDENTITY_NAME_MAX + 1];
        size_t header_len; /* bytes of header (the AD) */
        const uint8_t *sealed;
};

void identity_device_id(const uint8_t sign_pk[static 32], const uint8_t box_pk[static 32],
                        uint8_t out[static IDENTITY_ID_LEN])
{
        static const char domain[] = "sealsync/v1/device-id";
        const struct hash_part parts[] = {
            {domain, sizeof(domain)}, /* includes the NUL */
            {sign_pk, 32},
            {box_pk, 32},
        };
        uint8_t h[32];

        /* Cannot fail: fixed valid lengths. */
        if (hash_parts(h, sizeof(h), NULL, 0, parts, 3) != 0)
                abort();
        memcpy(out, h, IDENTITY_ID_LEN);
}

int identity_fingerprint(const uint8_t sign_pk[static 32], const uint8_t box_pk[static 32],
                         char *out, size_t outlen)
{
        static const char domain[] = "sealsync/v1/fingerprint";
        const struct hash_part parts[] = {
            {domain, sizeof(domain)},
            {sign_pk, 32},
            {box_pk, 32},
        };
        uint8_t h[32];
        int rc;

        rc = hash_parts(h, sizeof(h), NULL, 0, parts, 3);
        if (rc != 0)
                return rc;
        rc = words_encode(out, outlen, h, sizeof(h), IDENTITY_FPR_WORDS, '-');
        return rc == -EINVAL ? -ENOSPC : rc;
}

void identity_free(struct identity *id)
{
        if (id == NULL)
                return;
        secmem_free(id->sign_sk);
        secmem_free(id->box_sk);
        secmem_free(id->local_key);
        free(id);
}

static int identity_path(const char *home, char *out, size_t outlen)
{
        int n = snprintf(out, outlen, "%s/%s", home, IDENTITY_FILE);

        return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static void identity_check(uint8_t out[static 32], const uint8_t *buf, size_t len)
{
        const struct hash_part parts[] = {
            {identity_check_domain, sizeof(identity_check_domain)},
            {buf, len},
        };

        if (hash_parts(out, 32, NULL, 0, parts, 2) != 0)
                abort();
}

/* Parses and checks the public part (everything but opening the seal). */
static int identity_parse_public(const uint8_t *buf, size_t len, struct identity_file *f)
{
        static const uint8_t zero[KDF_SALT_LEN];
        uint8_t magic[IDENTITY_MAGIC_LEN];
        uint8_t check[32], id[IDENTITY_ID_LEN];
        const uint8_t *name = NULL;
        size_t name_len = 0;
        struct dec d;

        if (len < 32 + IDENTITY_SEALED_LEN || len > IDENTITY_FILE_MAX)
                return -EBADMSG;
        dec_init(&d, buf, len - 32 - IDENTITY_SEALED_LEN);
        dec_fixed(&d, magic, sizeof(magic));
        if (dec_u8(&d) != IDENTITY_VERSION)
                return -EBADMSG;
        f->kdf = dec_u8(&d);
        f->ops = dec_u64(&d);
        f->mem = dec_u64(&d);
        dec_fixed(&d, f->salt, sizeof(f->salt));
        dec_fixed(&d, f->device_id, sizeof(f->device_id));
        dec_fixed(&d, f->sign_pk, sizeof(f->sign_pk));
        dec_fixed(&d, f->box_pk, sizeof(f->box_pk));
        dec_var(&d, &name, &name_len, IDENTITY_NAME_MAX);
        if (dec_finish(&d) != 0 || memcmp(magic, IDENTITY_MAGIC, IDENTITY_MAGIC_LEN) != 0)
                return -EBADMSG;
        f->header_len = len - 32 - IDENTITY_SEALED_LEN;
        f->sealed = buf + f->header_len;

        identity_check(check, buf, len - 32);
        if (memcmp(check, buf + len - 32, 32) != 0)
                return -EBADMSG;

        memcpy(f->name, name, name_len);
        f->name[name_len] = '\0';
        if (strlen(f->name) != name_len || !member_name_valid(f->name))
                return -EBADMSG;
        if (f->kdf == IDENTITY_KDF_NONE) {
                if (f->ops != 0 || f->mem != 0 || memcmp(f->salt, zero, sizeof(zero)) != 0)
                        return -EBADMSG;
        } else if (f->kdf != IDENTITY_KDF_ARGON2ID) {
                return -EBADMSG;
        }
        identity_device_id(f->sign_pk, f->box_pk, id);
        if (memcmp(id, f->device_id, sizeof(id)) != 0)
                return -EBADMSG;
        return 0;
}

/* The sealing key of F for PASS (ignored when F has no passphrase). */
static int identity_file_key(uint8_t key[static AEAD_KEY_LEN], const struct identity_file *f,
                             const char *pass)
{
        int rc;

        if (f->kdf == IDENTITY_KDF_NONE) {
                memset(key, 0, AEAD_KEY_LEN);
                return 0;
        }
        if (pass == NULL)
                return -EKEYREJECTED;
        rc = kdf_passphrase(key, pass, strlen(pass), f->salt, f->ops, f->mem);
        /* Costs outside the accepted range come from a damaged or hostile file. */
        return rc == -EINVAL ? -EBADMSG : rc;
}

static struct identity *identity_alloc(int with_secrets)
{
        struct identity *id = calloc(1, sizeof(*id));

        if (id == NULL || !with_secrets)
                return id;
        id->sign_sk = secmem_alloc(SIG_SK_LEN);
        id->box_sk = secmem_alloc(WRAP_SK_LEN);
        id->local_key = secmem_alloc(32);
        if (id->sign_sk == NULL || id->box_sk == NULL || id->local_key == NULL) {
                identity_free(id);
                return NULL;
        }
        return id;
}

/*
 * Fills ID's secrets from SECRETS (sign seed || box_sk || local key) and
 * checks them against the public keys in ID: the Ed25519 pair is re-derived
 * from its seed; the X25519 pair is checked by a wrap round trip, since the
 * crypto layer exposes no scalar multiplication.  Returns 0 or -EBADMSG.
 */
static int identity_set_secrets(struct identity *id, const uint8_t *secrets)
{
        uint8_t pk[SIG_PK_LEN];
        uint8_t ctx[WRAP_CTX_LEN], probe[WRAP_KEY_LEN], back[WRAP_KEY_LEN];
        uint8_t boxed[WRAP_LEN];
        int rc;

        rc = sig_keypair_seed(pk, id->sign_sk, secrets);
        if (rc != 0)
                return rc;
        if (memcmp(pk, id->sign_pk, sizeof(pk)) != 0)
                return -EBADMSG;
        memcpy(id->box_sk, secrets + 32, WRAP_SK_LEN);
        memcpy(id->local_key, secrets + 64, 32);
        secmem_random(ctx, sizeof(ctx));
        secmem_random(probe, sizeof(probe));
        rc = wrap_seal(boxed, probe, ctx, id->box_pk);
        if (rc == 0)
                rc = wrap_open(back, boxed, ctx, id->box_pk, id->box_sk);
        if (rc == 0 && !secmem_equal(back, probe, sizeof(probe)))
                rc = -EBADMSG;
        secmem_wipe(back, sizeof(back));
        return rc != 0 ? -EBADMSG : 0;
}

int identity_parse_keyfile(const uint8_t *buf, size_t len, int with_secrets, const char *pass,
                           struct identity **out)
{
        struct identity_file f;
        struct identity *id;
        uint8_t *key = NULL, *secrets = NULL;
        int rc;

        rc = identity_parse_public(buf, len, &f);
        if (rc != 0)
                return rc;
        id = identity_alloc(with_secrets);
        if (id == NULL)
                return -ENOMEM;
        memcpy(id->device_id, f.device_id, sizeof(id->device_id));
        memcpy(id->sign_pk, f.sign_pk, sizeof(id->sign_pk));
        memcpy(id->box_pk, f.box_pk, sizeof(id->box_pk));
        memcpy(id->name, f.name, sizeof(id->name));
        if (!with_secrets)
                goto done;

        key = secmem_alloc(AEAD_KEY_LEN);
        secrets = secmem_alloc(IDENTITY_SECRETS_LEN);
        if (key == NULL || secrets == NULL) {
                rc = -ENOMEM;
                goto out_free;
        }
        rc = identity_file_key(key, &f, pass);
        if (rc != 0)
                goto out_free;
        if (aead_open(secrets, key, buf, f.header_len, f.sealed, IDENTITY_SEALED_LEN) != 0) {
                /* The check held, so the bytes are as written: wrong key. */
                rc = -EKEYREJECTED;
                goto out_free;
        }
        rc = identity_set_secrets(id, secrets);
        if (rc != 0)
                goto out_free;
done:
        *out = id;
        id = NULL;
out_free:
        secmem_free(secrets); /* secmem_free wipes */
        secmem_free(key);
        identity_free(id);
        return rc;
}

/* Reads HOME's key file, refusing one that group or others may access. */
static int identity_read(const char *home, uint8_t **buf, size_t *len)
{
        char path[PATH_MAX];
        struct stat st;
        uint8_t *p;
        int fd, rc;

        rc = identity_path(home, path, sizeof(path));
        if (rc != 0)
                return rc;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return errno == ELOOP ? -EPERM : -errno;
        if (fstat(fd, &st) != 0) {
                rc = -errno;
                goto out_close;
        }
        if (!S_ISREG(st.st_mode)) {
                rc = -EBADMSG;
                goto out_close;
        }
        if ((st.st_mode & 077) != 0) {
                log_err("%s is accessible by group or others (mode %04o): refusing it; "
                        "run chmod 600 on it",
                        path, (unsigned)(st.st_mode & 07777));
                rc = -EPERM;
                goto out_close;
        }
        if (st.st_size > IDENTITY_FILE_MAX) {
                rc = -EBADMSG;
                goto out_close;
        }
        p = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
        if (p == NULL) {
                rc = -ENOMEM;
                goto out_close;
        }
        rc = fileio_pread_full(fd, p, (size_t)st.st_size, 0);
        if (rc != 0) {
                free(p);
                goto out_close;
        }
        *buf = p;
        *len = (size_t)st.st_size;
out_close:
        close(fd);
        return rc;
}

static int identity_load_any(const char *home, int with_secrets, const char *pass,
                             struct identity **out)
{
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc;

        rc = identity_read(home, &buf, &len);
        if (rc != 0)
                return rc;
        rc = identity_parse_keyfile(buf, len, with_secrets, pass, out);
        free(buf); /* holds no secret in clear */
        return rc;
}

int identity_load(const char *home, const char *pass, struct identity **out)
{
        return identity_load_any(home, 1, pass, out);
}

int identity_load_public(const char *home, struct identity **out)
{
        return identity_load_any(home, 0, NULL, out);
}

int identity_has_passphrase(const char *home)
{
        struct identity_file f;
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc;

        rc = identity_read(home, &buf, &len);
        if (rc != 0)
                return rc;
        rc = identity_parse_public(buf, len, &f);
        free(buf);
        if (rc != 0)
                return rc;
        return f.kdf != IDENTITY_KDF_NONE;
}

/*
 * Serialises ID (with secrets) sealed under PASS (NULL = none) with LEVEL's
 * Argon2id costs into the malloc'd *OUT (*OUT_LEN bytes).
 */
static int identity_serialize(const struct identity *id, const char *pass, enum kdf_level level,
                              uint8_t **out, size_t *out_len)
{
        static const uint8_t no_salt[KDF_SALT_LEN];
        uint64_t ops = 0, mem = 0;
        uint8_t salt[KDF_SALT_LEN];
        uint8_t sealed[IDENTITY_SEALED_LEN];
        uint8_t check[32];
        uint8_t *key = NULL, *secrets = NULL, *p;
        size_t header_len;
        struct enc e;
        int rc;

        memcpy(salt, no_salt, sizeof(salt));
        if (pass != NULL) {
                rc = kdf_level_params(level, &ops, &mem);
                if (rc != 0)
                        return rc;
                secmem_random(salt, sizeof(salt));
        }
        enc_init(&e);
        key = secmem_alloc(AEAD_KEY_LEN);
        secrets = secmem_alloc(IDENTITY_SECRETS_LEN);
        if (key == NULL || secrets == NULL) {
                rc = -ENOMEM;
                goto out;
        }
        if (pass != NULL) {
                rc = kdf_passphrase(key, pass, strlen(pass), salt, ops, mem);
                if (rc != 0)
                        goto out;
        } else {
                memset(key, 0, AEAD_KEY_LEN);
        }
        /* An Ed25519 secret key is seed || public key: the seed suffices. */
        memcpy(secrets, id->sign_sk, 32);
        memcpy(secrets + 32, id->box_sk, WRAP_SK_LEN);
        memcpy(secrets + 64, id->local_key, 32);

        enc_fixed(&e, IDENTITY_MAGIC, IDENTITY_MAGIC_LEN);
        enc_u8(&e, IDENTITY_VERSION);
        enc_u8(&e, pass != NULL ? IDENTITY_KDF_ARGON2ID : IDENTITY_KDF_NONE);
        enc_u64(&e, ops);
        enc_u64(&e, mem);
        enc_fixed(&e, salt, sizeof(salt));
        enc_fixed(&e, id->device_id, IDENTITY_ID_LEN);
        enc_fixed(&e, id->sign_pk, 32);
        enc_fixed(&e, id->box_pk, 32);
        enc_var(&e, id->name, strlen(id->name));
        rc = enc_error(&e);
        if (rc != 0)
                goto out;
        header_len = e.len;
        rc = aead_seal(sealed, key, e.buf, header_len, secrets, IDENTITY_SECRETS_LEN);
        if (rc != 0)
                goto out;
        enc_fixed(&e, sealed, sizeof(sealed));
        rc = enc_error(&e);
        if (rc != 0)
                goto out;
        identity_check(check, e.buf, e.len);
        enc_fixed(&e, check, sizeof(check));
        rc = enc_error(&e);
        if (rc != 0)
                goto out;
        p = malloc(e.len);
        if (p == NULL) {
                rc = -ENOMEM;
                goto out;
        }
        memcpy(p, e.buf, e.len);
        *out = p;
        *out_len = e.len;
out:
        enc_release(&e);
        secmem_free(secrets);
        secmem_free(key);
        return rc;
}

static int identity_write(const char *home, const struct identity *id, const char *pass,
                          enum kdf_level level, int excl)
{
        char path[PATH_MAX];
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc;

        rc = identity_path(home, path, sizeof(path));
        if (rc != 0)
                return rc;
        rc = identity_serialize(id, pass, level, &buf, &len);
        if (rc != 0)
                return rc;
        rc = fileio_write_atomic(path, buf, len, 0600, excl);
        free(buf);
        return rc;
}

/* The default device name: the host name, made valid, else "device". */
static void identity_default_name(char out[static IDENTITY_NAME_MAX + 1])
{
        char host[256];
        size_t i, n;

        if (gethostname(host, sizeof(host)) != 0)
                host[0] = '\0';
        host[sizeof(host) - 1] = '\0';
        n = strnlen(host, IDENTITY_NAME_MAX);
        for (i = 0; i < n; i++)
                out[i] = (host[i] >= 0x21 && host[i] <= 0x7e) ? host[i] : '-';
        out[n] = '\0';
        if (!member_name_valid(out))
                memcpy(out, "device", sizeof("device"));
}

int identity_create(const char *home, const char *name, const char *pass, enum kdf_level level)
{
        struct identity *id;
        char path[PATH_MAX];
        uint64_t ops, mem;
        int rc;

        if (name != NULL && (strlen(name) > IDENTITY_NAME_MAX || !member_name_valid(name)))
                return -EINVAL;
        if (pass != NULL && (pass[0] == '\0' || kdf_level_params(level, &ops, &mem) != 0))
                return -EINVAL;
        rc = identity_path(home, path, sizeof(path));
        if (rc != 0)
                return rc;
        if (access(path, F_OK) == 0)
                return -EEXIST; /* fail before the Argon2 cost; the link below decides */
        rc = fileio_mkdirs(home, 0700);
        if (rc != 0)
                return rc;
        id = identity_alloc(1);
        if (id == NULL)
                return -ENOMEM;
        if (name != NULL)
                snprintf(id->name, sizeof(id->name), "%s", name);
        else
                identity_default_name(id->name);
        rc = sig_keypair(id->sign_pk, id->sign_sk);
        if (rc == 0)
                rc = wrap_keypair(id->box_pk, id->box_sk);
        if (rc != 0)
                goto out;
        secmem_random(id->local_key, 32);
        identity_device_id(id->sign_pk, id->box_pk, id->device_id);
        rc = identity_write(home, id, pass, level, 1);
out:
        identity_free(id);
        return rc;
}

int identity_from_seeds(const uint8_t sign_seed[static 32], const uint8_t box_seed[static 32],
                        const char *name, struct identity **out)
{
        struct identity *id;
        int rc;

        if (strlen(name) > IDENTITY_NAME_MAX || !member_name_valid(name))
                return -EINVAL;
        id = identity_alloc(1);
        if (id == NULL)
                return -ENOMEM;
        snprintf(id->name, sizeof(id->name), "%s", name);
        rc = sig_keypair_seed(id->sign_pk, id->sign_sk, sign_seed);
        if (rc == 0)
                rc = wrap_keypair_seed(id->box_pk, id->box_sk, box_seed);
        if (rc != 0) {
                identity_free(id);
                return rc;
        }
        secmem_random(id->local_key, 32); /* unused: such an identity has no local index */
        identity_device_id(id->sign_pk, id->box_pk, id->device_id);
        *out = id;
        return 0;
}

int identity_change_passphrase(const char *home, const char *old_pass, const char *new_pass,
                               enum kdf_level level)
{
        struct identity *id = NULL;
        int rc;

        if (new_pass != NULL && new_pass[0] == '\0')
                return -EINVAL;
        rc = identity_load(home, old_pass, &id);
        if (rc != 0)
                return rc;
        rc = identity_write(home, id, new_pass, level, 0);
        identity_free(id);
        return rc;
}
