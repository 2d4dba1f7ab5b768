/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for keyring/: identity key files, passphrases, the device
 * directory, membership entries (GENESIS) and regions.  Run from the repo
 * root.  Argon2id runs at KDF_INTERACTIVE throughout.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/enc.h"
#include "crypto/hash.h"
#include "crypto/secmem.h"
#include "crypto/sig.h"
#include "crypto/suite.h"
#include "crypto/wrap.h"
#include "keyring/home.h"
#include "keyring/identity.h"
#include "keyring/member.h"
#include "keyring/passphrase.h"
#include "keyring/region.h"
#include "util/fileio.h"
#include "util/hex.h"
#include "util/log.h"

#define PASS "correct horse battery staple"

/* ---- helpers ----------------------------------------------------------- */

struct fixture {
        char home[256];
};

/* snprintf into a PATH_MAX buffer, failing the test on truncation. */
static void __attribute__((format(printf, 2, 3))) pathf(char *out, const char *fmt, ...)
{
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(out, PATH_MAX, fmt, ap);
        va_end(ap);
        assert_true(n > 0 && n < PATH_MAX);
}

static void rm_rf(const char *path)
{
        char cmd[PATH_MAX + 32];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
        assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        char tmpl[] = "/tmp/test_keyring.XXXXXX";

        assert_non_null(f);
        assert_non_null(mkdtemp(tmpl));
        snprintf(f->home, sizeof(f->home), "%s/home", tmpl);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char *slash = strrchr(f->home, '/');

        *slash = '\0';
        rm_rf(f->home);
        free(f);
        return 0;
}

static void read_file(const char *path, uint8_t **buf, size_t *len)
{
        assert_int_equal(fileio_read_all(path, 1 << 24, buf, len), 0);
}

static void write_file(const char *path, const void *buf, size_t len)
{
        FILE *fp = fopen(path, "wb");

        assert_non_null(fp);
        assert_int_equal(fwrite(buf, 1, len, fp), len);
        assert_int_equal(fclose(fp), 0);
}

static void key_path(const struct fixture *f, char *out)
{
        pathf(out, "%s/device.key", f->home);
}

static struct identity *new_identity(const char *home, const char *name, const char *pass)
{
        struct identity *id = NULL;

        assert_int_equal(identity_create(home, name, pass, KDF_INTERACTIVE), 0);
        assert_int_equal(identity_load(home, pass, &id), 0);
        return id;
}

static int pick_suite(void)
{
        return suite_default();
}

/* ---- identity ---------------------------------------------------------- */

static void test_identity_roundtrip(void **state)
{
        struct fixture *f = *state;
        struct identity *id = NULL, *pub = NULL;
        char path[PATH_MAX];
        struct stat st;
        uint8_t did[IDENTITY_ID_LEN];

        assert_int_equal(identity_create(f->home, "laptop", PASS, KDF_INTERACTIVE), 0);
        assert_int_equal(stat(f->home, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
        key_path(f, path);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);

        assert_int_equal(identity_has_passphrase(f->home), 1);
        assert_int_equal(identity_load(f->home, PASS, &id), 0);
        assert_string_equal(id->name, "laptop");
        assert_non_null(id->sign_sk);
        assert_non_null(id->box_sk);
        assert_non_null(id->local_key);
        identity_device_id(id->sign_pk, id->box_pk, did);
        assert_memory_equal(did, id->device_id, IDENTITY_ID_LEN);

        assert_int_equal(identity_load_public(f->home, &pub), 0);
        assert_null(pub->sign_sk);
        assert_null(pub->box_sk);
        assert_null(pub->local_key);
        assert_memory_equal(pub->device_id, id->device_id, IDENTITY_ID_LEN);
        assert_memory_equal(pub->sign_pk, id->sign_pk, 32);
        assert_memory_equal(pub->box_pk, id->box_pk, 32);
        assert_string_equal(pub->name, "laptop");

        /* The loaded secret key signs for the stored public key. */
        {
                uint8_t sig[SIG_LEN];

                assert_int_equal(sig_sign(sig, id->sign_sk, "test", "x", 1), 0);
                assert_int_equal(sig_verify(sig, pub->sign_pk, "test", "x", 1), 0);
        }
        assert_int_equal(identity_create(f->home, "again", PASS, KDF_INTERACTIVE), -EEXIST);
        identity_free(pub);
        identity_free(id);
        identity_free(NULL);
}

static void test_identity_wrong_passphrase(void **state)
{
        struct fixture *f = *state;
        struct identity *id = NULL;

        assert_int_equal(identity_create(f->home, "pc", PASS, KDF_INTERACTIVE), 0);
        assert_int_equal(identity_load(f->home, "wrong", &id), -EKEYREJECTED);
        assert_int_equal(identity_load(f->home, NULL, &id), -EKEYREJECTED);
        assert_null(id);
}

static void test_identity_missing(void **state)
{
        struct fixture *f = *state;
        struct identity *id = NULL;

        assert_int_equal(identity_load(f->home, PASS, &id), -ENOENT);
        assert_int_equal(identity_load_public(f->home, &id), -ENOENT);
        assert_int_equal(identity_has_passphrase(f->home), -ENOENT);
}

static void test_identity_mode(void **state)
{
        struct fixture *f = *state;
        struct identity *id = NULL;
        char path[PATH_MAX];

        assert_int_equal(identity_create(f->home, "pc", NULL, KDF_INTERACTIVE), 0);
        key_path(f, path);
        assert_int_equal(chmod(path, 0644), 0);
        assert_int_equal(identity_load(f->home, NULL, &id), -EPERM);
        assert_int_equal(identity_load_public(f->home, &id), -EPERM);
        assert_int_equal(chmod(path, 0640), 0);
        assert_int_equal(identity_load(f->home, NULL, &id), -EPERM);
        assert_int_equal(chmod(path, 0400), 0);
        assert_int_equal(identity_load(f->home, NULL, &id), 0);
        identity_free(id);
}

static void test_identity_no_passphrase(void **state)
{
        struct fixture *f = *state;
        struct identity *a = NULL, *b = NULL;

        assert_int_equal(identity_create(f->home, NULL, NULL, KDF_INTERACTIVE), 0);
        assert_int_equal(identity_has_passphrase(f->home), 0);
        assert_int_equal(identity_load(f->home, NULL, &a), 0);
        assert_true(member_name_valid(a->name)); /* the host name, made valid */
        /* A passphrase given for an unprotected file is ignored. */
        assert_int_equal(identity_load(f->home, "anything", &b), 0);
        assert_memory_equal(a->sign_sk, b->sign_sk, SIG_SK_LEN);
        assert_memory_equal(a->box_sk, b->box_sk, WRAP_SK_LEN);
        assert_memory_equal(a->local_key, b->local_key, 32);
        identity_free(a);
        identity_free(b);
}

static void test_identity_bad_args(void **state)
{
        struct fixture *f = *state;

        assert_int_equal(identity_create(f->home, "", NULL, KDF_INTERACTIVE), -EINVAL);
        assert_int_equal(identity_create(f->home, "tab\there", NULL, KDF_INTERACTIVE), -EINVAL);
        assert_int_equal(identity_create(f->home, " lead", NULL, KDF_INTERACTIVE), -EINVAL);
        assert_int_equal(identity_create(f->home,
                                         "0123456789012345678901234567890123456789012345678901234"
                                         "567890123456789",
                                         NULL, KDF_INTERACTIVE),
                         -EINVAL);
        assert_int_equal(identity_create(f->home, "pc", "", KDF_INTERACTIVE), -EINVAL);
        assert_int_equal(identity_load_public(f->home, &(struct identity *){NULL}), -ENOENT);
}

/* Every single-byte change of the key file is refused, never accepted. */
static void test_identity_corrupt(void **state)
{
        struct fixture *f = *state;
        struct identity *id = NULL;
        char path[PATH_MAX];
        uint8_t *buf = NULL;
        size_t len = 0, i;
        int rc;

        assert_int_equal(identity_create(f->home, "pc", PASS, KDF_INTERACTIVE), 0);
        key_path(f, path);
        read_file(path, &buf, &len);
        for (i = 0; i < len; i++) {
                buf[i] ^= 0x01;
                rc = identity_parse_keyfile(buf, len, 1, PASS, &id);
                if (rc != -EBADMSG && rc != -EKEYREJECTED)
                        fail_msg("flip at byte %zu: rc %d", i, rc);
                rc = identity_parse_keyfile(buf, len, 0, NULL, &id);
                assert_int_equal(rc, -EBADMSG);
                buf[i] ^= 0x01;
        }
        /* Truncated and extended files. */
        for (i = 0; i < len; i++)
                assert_int_equal(identity_parse_keyfile(buf, i, 1, PASS, &id), -EBADMSG);
        {
                uint8_t *big = calloc(1, len + 1);

                assert_non_null(big);
                memcpy(big, buf, len);
                assert_int_equal(identity_parse_keyfile(big, len + 1, 1, PASS, &id), -EBADMSG);
                free(big);
        }
        /* Through the file, too. */
        buf[len / 2] ^= 0x80;
        write_file(path, buf, len);
        assert_int_equal(chmod(path, 0600), 0);
        rc = identity_load(f->home, PASS, &id);
        assert_true(rc == -EBADMSG || rc == -EKEYREJECTED);
        assert_null(id);
        free(buf);
}

/* A corrupted seal with a recomputed check reads as a wrong passphrase. */
static void test_identity_keyrejected_vs_badmsg(void **state)
{
        struct fixture *f = *state;
        struct identity *id = NULL;
        char path[PATH_MAX];
        uint8_t *buf = NULL;
        size_t len = 0;
        struct hash_part parts[2];
        static const char domain[] = "sealsync/v1/devkey-check";

        assert_int_equal(identity_create(f->home, "pc", NULL, KDF_INTERACTIVE), 0);
        key_path(f, path);
        read_file(path, &buf, &len);
        buf[len - 40] ^= 0x01; /* inside the sealed secrets */
        parts[0].p = domain;
        parts[0].n = sizeof(domain);
        parts[1].p = buf;
        parts[1].n = len - 32;
        assert_int_equal(hash_parts(buf + len - 32, 32, NULL, 0, parts, 2), 0);
        assert_int_equal(identity_parse_keyfile(buf, len, 0, NULL, &id), 0);
        identity_free(id);
        id = NULL;
        assert_int_equal(identity_parse_keyfile(buf, len, 1, NULL, &id), -EKEYREJECTED);
        free(buf);
}

static void test_identity_change_passphrase(void **state)
{
        struct fixture *f = *state;
        struct identity *a = NULL, *b = NULL;

        assert_int_equal(identity_create(f->home, "pc", PASS, KDF_INTERACTIVE), 0);
        assert_int_equal(identity_load(f->home, PASS, &a), 0);
        assert_int_equal(identity_change_passphrase(f->home, "bad", "new", KDF_INTERACTIVE),
                         -EKEYREJECTED);
        assert_int_equal(identity_change_passphrase(f->home, PASS, "new", KDF_INTERACTIVE), 0);
        assert_int_equal(identity_load(f->home, PASS, &b), -EKEYREJECTED);
        assert_int_equal(identity_load(f->home, "new", &b), 0);
        assert_memory_equal(a->sign_sk, b->sign_sk, SIG_SK_LEN);
        assert_memory_equal(a->box_sk, b->box_sk, WRAP_SK_LEN);
        assert_memory_equal(a->local_key, b->local_key, 32);
        identity_free(b);
        b = NULL;
        assert_int_equal(identity_change_passphrase(f->home, "new", NULL, KDF_INTERACTIVE), 0);
        assert_int_equal(identity_has_passphrase(f->home), 0);
        assert_int_equal(identity_load(f->home, NULL, &b), 0);
        assert_memory_equal(a->box_sk, b->box_sk, WRAP_SK_LEN);
        identity_free(a);
        identity_free(b);
}

static void test_fingerprint(void **state)
{
        uint8_t spk[32], bpk[32];
        char a[128], b[128], small[8];
        size_t i, dashes = 0;

        (void)state;
        memset(spk, 0x11, sizeof(spk));
        memset(bpk, 0x22, sizeof(bpk));
        assert_int_equal(identity_fingerprint(spk, bpk, a, sizeof(a)), 0);
        assert_int_equal(identity_fingerprint(spk, bpk, b, sizeof(b)), 0);
        assert_string_equal(a, b);
        for (i = 0; a[i] != '\0'; i++)
                dashes += a[i] == '-';
        assert_int_equal(dashes, IDENTITY_FPR_WORDS - 1);
        bpk[0] ^= 1;
        assert_int_equal(identity_fingerprint(spk, bpk, b, sizeof(b)), 0);
        assert_string_not_equal(a, b);
        assert_int_equal(identity_fingerprint(spk, bpk, small, sizeof(small)), -ENOSPC);
}

/* ---- passphrase and home ----------------------------------------------- */

static void test_passphrase_sources(void **state)
{
        struct fixture *f = *state;
        char path[PATH_MAX];
        char *pass = NULL;

        assert_int_equal(fileio_mkdirs(f->home, 0700), 0);
        pathf(path, "%s/pass", f->home);
        write_file(path, "first line\nsecond\n", 18);
        assert_int_equal(passphrase_get(&pass, path, "P: ", 1), 0);
        assert_string_equal(pass, "first line");
        passphrase_free(pass);
        write_file(path, "dos\r\n", 5);
        assert_int_equal(passphrase_get(&pass, path, "P: ", 0), 0);
        assert_string_equal(pass, "dos");
        passphrase_free(pass);
        write_file(path, "no newline", 10);
        assert_int_equal(passphrase_get(&pass, path, "P: ", 0), 0);
        assert_string_equal(pass, "no newline");
        passphrase_free(pass);
        write_file(path, "\nsecond\n", 8);
        assert_int_equal(passphrase_get(&pass, path, "P: ", 0), -EINVAL);
        write_file(path, "", 0);
        assert_int_equal(passphrase_get(&pass, path, "P: ", 0), -EINVAL);
        pathf(path, "%s/missing", f->home);
        assert_int_equal(passphrase_get(&pass, path, "P: ", 0), -ENOENT);

        /* The file wins over the environment. */
        assert_int_equal(setenv("SEALSYNC_PASSPHRASE", "from env", 1), 0);
        assert_int_equal(passphrase_get(&pass, NULL, "P: ", 1), 0);
        assert_string_equal(pass, "from env");
        passphrase_free(pass);
        assert_int_equal(setenv("SEALSYNC_PASSPHRASE", "", 1), 0);
        assert_int_equal(passphrase_get(&pass, NULL, "P: ", 1), -EINVAL);
        assert_int_equal(unsetenv("SEALSYNC_PASSPHRASE"), 0);
        passphrase_free(NULL);
}

static void test_home_dir(void **state)
{
        char out[PATH_MAX], tiny[4];

        (void)state;
        assert_int_equal(setenv("SEALSYNC_HOME", "/a/b", 1), 0);
        assert_int_equal(home_dir(out, sizeof(out)), 0);
        assert_string_equal(out, "/a/b");
        assert_int_equal(home_dir(tiny, sizeof(tiny)), -ENAMETOOLONG);
        assert_int_equal(setenv("SEALSYNC_HOME", "", 1), 0);
        assert_int_equal(setenv("XDG_DATA_HOME", "/x", 1), 0);
        assert_int_equal(home_dir(out, sizeof(out)), 0);
        assert_string_equal(out, "/x/sealsync");
        assert_int_equal(unsetenv("XDG_DATA_HOME"), 0);
        assert_int_equal(setenv("HOME", "/h", 1), 0);
        assert_int_equal(home_dir(out, sizeof(out)), 0);
        assert_string_equal(out, "/h/.local/share/sealsync");
        assert_int_equal(unsetenv("HOME"), 0);
        assert_int_equal(home_dir(out, sizeof(out)), -ENOENT);
        assert_int_equal(unsetenv("SEALSYNC_HOME"), 0);
}

/* HOME/owner: saved and loaded; missing -ENOENT; anything but one valid name -EBADMSG. */
static void test_home_owner(void **state)
{
        struct fixture *f = *state;
        static const char *const bad[] = {"",        "\n",         "two\nlines\n",
                                          " lead\n", "no-newline", "nul\0x\n"};
        static const size_t badlen[] = {0, 1, 10, 6, 10, 6};
        char out[HOME_OWNER_MAX + 1] = "untouched", path[PATH_MAX], big[80];
        size_t i;

        assert_int_equal(fileio_mkdirs(f->home, 0700), 0);
        assert_int_equal(home_owner_load(f->home, out), -ENOENT);
        assert_string_equal(out, "untouched");
        assert_int_equal(home_owner_save(f->home, " alice"), -EINVAL);
        assert_int_equal(home_owner_save(f->home, ""), -EINVAL);
        assert_int_equal(home_owner_save(f->home, "Alice Liddell"), 0);
        assert_int_equal(home_owner_load(f->home, out), 0);
        assert_string_equal(out, "Alice Liddell");
        memset(big, 'a', 64);
        big[64] = '\0';
        assert_int_equal(home_owner_save(f->home, big), 0);
        assert_int_equal(home_owner_load(f->home, out), 0);
        assert_string_equal(out, big);
        snprintf(path, sizeof(path), "%s/owner", f->home);
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(fileio_write_atomic(path, bad[i], badlen[i], 0600, 0), 0);
                snprintf(out, sizeof(out), "untouched");
                assert_int_equal(home_owner_load(f->home, out), -EBADMSG);
                assert_string_equal(out, "untouched");
        }
        big[64] = 'a'; /* 65 characters and a newline: too long */
        big[65] = '\n';
        assert_int_equal(fileio_write_atomic(path, big, 66, 0600, 0), 0);
        assert_int_equal(home_owner_load(f->home, out), -EBADMSG);
}

/* ---- regions ----------------------------------------------------------- */

static void make_region(struct fixture *f, struct identity *id, const char *name,
                        struct region_info *ri)
{
        uint8_t *entry = NULL;
        size_t len = 0;

        assert_int_equal(region_build(id, f->home, name, "file:///tmp/nowhere", pick_suite(), 65536,
                                      ri, &entry, &len),
                         0);
        assert_int_equal(region_save(f->home, ri, entry, len), 0);
        free(entry);
}

static void genesis_path(const struct region_info *ri, char *out)
{
        pathf(out, "%s/genesis", ri->dir);
}

static void test_region_names(void **state)
{
        (void)state;
        assert_true(region_name_valid("photos"));
        assert_true(region_name_valid("A.b_c-9"));
        assert_true(region_name_valid("..."));
        assert_false(region_name_valid(""));
        assert_false(region_name_valid("."));
        assert_false(region_name_valid(".."));
        assert_false(region_name_valid("a/b"));
        assert_false(region_name_valid("a b"));
        assert_false(region_name_valid("\xc3\xa9"));
        assert_true(
            region_name_valid("0123456789012345678901234567890123456789012345678901234567890123"));
        assert_false(
            region_name_valid("01234567890123456789012345678901234567890123456789012345678901234"));
}

static void test_region_lifecycle(void **state)
{
        struct fixture *f = *state;
        struct identity *id = new_identity(f->home, "pc", NULL);
        struct region_info ri, loaded, *list = NULL, other;
        struct region_keys *k = NULL;
        uint8_t *entry = NULL;
        size_t len = 0, n = 0;
        char key[256], hex[65], expect[256];

        assert_int_equal(region_list(f->home, &list, &n), 0);
        assert_int_equal(n, 0);
        free(list);

        assert_int_equal(region_build(id, f->home, "photos", "file:///tmp/s", pick_suite(), 4096,
                                      &ri, &entry, &len),
                         0);
        /* Nothing is written before region_save. */
        assert_int_equal(region_load(f->home, "photos", &loaded), -ENOENT);
        assert_int_equal(region_genesis_key(&ri, key, sizeof(key)), 0);
        hex_encode(hex, ri.id, 32);
        snprintf(expect, sizeof(expect), "%s/members/0000000000000000-", hex);
        assert_int_equal(strncmp(key, expect, strlen(expect)), 0);
        assert_int_equal(strlen(key), 64 + 9 + 16 + 1 + 64);
        assert_int_equal(region_genesis_key(&ri, key, 20), -ENOSPC);

        assert_int_equal(region_save(f->home, &ri, entry, len), 0);
        assert_int_equal(region_save(f->home, &ri, entry, len), -EEXIST);
        free(entry);

        assert_int_equal(region_load(f->home, "photos", &loaded), 0);
        assert_string_equal(loaded.name, "photos");
        assert_string_equal(loaded.store_url, "file:///tmp/s");
        assert_memory_equal(loaded.id, ri.id, 32);
        assert_int_equal(loaded.suite, ri.suite);
        assert_int_equal(loaded.block_size, 4096);
        assert_memory_equal(loaded.genesis_hash, ri.genesis_hash, 32);
        assert_string_equal(loaded.dir, ri.dir);

        make_region(f, id, "docs", &other);
        assert_int_equal(region_list(f->home, &list, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(list[0].name, "docs");
        assert_string_equal(list[1].name, "photos");
        free(list);

        assert_int_equal(region_unlock(id, &loaded, &k), 0);
        assert_memory_equal(k->region_id, ri.id, 32);
        assert_memory_equal(k->epoch_id, ri.genesis_hash, 32);
        assert_int_equal(k->suite, ri.suite);
        assert_int_equal(k->block_size, 4096);
        assert_non_null(k->epoch_key);
        region_keys_free(k);
        region_keys_free(NULL);
        identity_free(id);
}

static void test_region_build_args(void **state)
{
        struct fixture *f = *state;
        struct identity *id = new_identity(f->home, "pc", NULL);
        struct identity *pub = NULL;
        struct region_info ri;
        uint8_t *entry = NULL;
        size_t len = 0;
        int s = pick_suite();

        assert_int_equal(region_build(id, f->home, "a/b", "file:///x", s, 65536, &ri, &entry, &len),
                         -EINVAL);
        assert_int_equal(region_build(id, f->home, "a", "", s, 65536, &ri, &entry, &len), -EINVAL);
        assert_int_equal(region_build(id, f->home, "a", "file:///x\n", s, 65536, &ri, &entry, &len),
                         -EINVAL);
        assert_int_equal(region_build(id, f->home, "a", "file:///x", 99, 65536, &ri, &entry, &len),
                         -EINVAL);
        assert_int_equal(region_build(id, f->home, "a", "file:///x", s, 65535, &ri, &entry, &len),
                         -EINVAL);
        assert_int_equal(region_build(id, f->home, "a", "file:///x", s, 2048, &ri, &entry, &len),
                         -EINVAL);
        assert_int_equal(
            region_build(id, f->home, "a", "file:///x", s, 1u << 21, &ri, &entry, &len), -EINVAL);
        assert_int_equal(identity_load_public(f->home, &pub), 0);
        assert_int_equal(region_build(pub, f->home, "a", "file:///x", s, 65536, &ri, &entry, &len),
                         -EINVAL);
        if (!suite_available(SUITE_AES256GCM))
                assert_int_equal(region_build(id, f->home, "a", "file:///x", SUITE_AES256GCM, 65536,
                                              &ri, &entry, &len),
                                 -ENOTSUP);
        identity_free(pub);
        identity_free(id);
}

/* Any bit flipped anywhere in the GENESIS is refused, pinned or re-pinned. */
static void test_region_tampered_genesis(void **state)
{
        struct fixture *f = *state;
        struct identity *id = new_identity(f->home, "pc", NULL);
        struct region_info ri, repinned;
        struct region_keys *k = NULL;
        char path[PATH_MAX];
        uint8_t *buf = NULL;
        size_t len = 0, i;
        int bit, rc;

        make_region(f, id, "r", &ri);
        genesis_path(&ri, path);
        read_file(path, &buf, &len);
        for (i = 0; i < len; i++) {
                for (bit = 0; bit < 8; bit++) {
                        buf[i] ^= (uint8_t)(1u << bit);
                        write_file(path, buf, len);
                        assert_int_equal(region_unlock(id, &ri, &k), -EBADMSG);
                        /* An attacker who also rewrote the pin still gets nowhere. */
                        repinned = ri;
                        hash_blake2b(repinned.genesis_hash, buf, len);
                        rc = region_unlock(id, &repinned, &k);
                        if (rc != -EBADMSG)
                                fail_msg("flip of bit %d at byte %zu: rc %d", bit, i, rc);
                        buf[i] ^= (uint8_t)(1u << bit);
                }
        }
        write_file(path, buf, len);
        assert_int_equal(region_unlock(id, &ri, &k), 0);
        region_keys_free(k);
        k = NULL;
        /* Truncated or extended. */
        write_file(path, buf, len - 1);
        assert_int_equal(region_unlock(id, &ri, &k), -EBADMSG);
        free(buf);
        identity_free(id);
}

static void test_region_pin_mismatch(void **state)
{
        struct fixture *f = *state;
        struct identity *id = new_identity(f->home, "pc", NULL);
        struct region_info a, b, swapped;
        struct region_keys *k = NULL;

        make_region(f, id, "a", &a);
        make_region(f, id, "b", &b);
        swapped = a;
        swapped.genesis_hash[5] ^= 1;
        assert_int_equal(region_unlock(id, &swapped, &k), -EBADMSG);
        /* b's valid GENESIS in a's place: the pin catches it. */
        swapped = a;
        memcpy(swapped.genesis_hash, b.genesis_hash, 32);
        snprintf(swapped.dir, sizeof(swapped.dir), "%s", b.dir);
        assert_int_equal(region_unlock(id, &swapped, &k), -EBADMSG);
        /* A conf whose suite or block size disagrees with the signed entry. */
        swapped = a;
        swapped.block_size = 8192;
        assert_int_equal(region_unlock(id, &swapped, &k), -EBADMSG);
        assert_null(k);
        identity_free(id);
}

static void test_region_other_identity(void **state)
{
        struct fixture *f = *state;
        struct identity *id = new_identity(f->home, "pc", NULL);
        struct identity *other = NULL;
        struct region_info ri;
        struct region_keys *k = NULL;
        char home2[PATH_MAX];

        make_region(f, id, "r", &ri);
        pathf(home2, "%s2", f->home);
        other = new_identity(home2, "other", NULL);
        assert_int_equal(region_unlock(other, &ri, &k), -EACCES);
        assert_null(k);
        identity_free(other);
        identity_free(id);
        rm_rf(home2);
}

static void test_region_conf_corrupt(void **state)
{
        struct fixture *f = *state;
        struct identity *id = new_identity(f->home, "pc", NULL);
        struct region_info ri, out, *list = NULL;
        char path[PATH_MAX];
        uint8_t *buf = NULL;
        size_t len = 0, n = 0;
        char *text;

        make_region(f, id, "r", &ri);
        pathf(path, "%s/region.conf", ri.dir);
        read_file(path, &buf, &len);
        text = calloc(1, len + 64);
        assert_non_null(text);
        memcpy(text, buf, len);
        /* A duplicate key. */
        snprintf(text + strlen(text), len + 64 - strlen(text), "%s", "suite=xchacha20poly1305\n");
        write_file(path, text, strlen(text));
        assert_int_equal(region_load(f->home, "r", &out), -EBADMSG);
        assert_int_equal(region_list(f->home, &list, &n), 0);
        assert_int_equal(n, 0);
        free(list);
        /* A missing key. */
        write_file(path, text, strstr(text, "genesis=") - text);
        assert_int_equal(region_load(f->home, "r", &out), -EBADMSG);
        /* No final newline. */
        write_file(path, buf, len - 1);
        assert_int_equal(region_load(f->home, "r", &out), -EBADMSG);
        /* Restored. */
        write_file(path, buf, len);
        assert_int_equal(region_load(f->home, "r", &out), 0);
        free(text);
        free(buf);
        identity_free(id);
}

/* ---- membership entries ------------------------------------------------ */

/* Builds a signed two-member GENESIS by hand: A (admin, author), B (writer). */
static uint8_t *two_member_genesis(const struct identity *a, const struct identity *b,
                                   const uint8_t epoch_key[32], int swap_b_ctx, size_t *len)
{
        struct member_entry e;
        struct member_device m[2];
        struct member_wrap w[2];
        const struct identity *ids[2];
        uint8_t ctx[WRAP_CTX_LEN], ctx_a[WRAP_CTX_LEN];
        uint8_t *out = NULL;
        size_t i;

        memset(&e, 0, sizeof(e));
        memset(m, 0, sizeof(m));
        memset(w, 0, sizeof(w));
        e.version = MEMBER_VERSION;
        e.type = MEMBER_GENESIS;
        secmem_random(e.region_id, 32);
        e.time = 1700000000;
        memcpy(e.author, a->device_id, IDENTITY_ID_LEN);
        e.genesis.suite = (uint8_t)pick_suite();
        e.genesis.block_size = 65536;
        e.genesis.max_key_age = 86400;
        assert_int_equal(member_key_check(e.genesis.epoch.key_check, epoch_key), 0);
        /* Canonical order: ascending device id. */
        ids[0] = memcmp(a->device_id, b->device_id, IDENTITY_ID_LEN) < 0 ? a : b;
        ids[1] = ids[0] == a ? b : a;
        assert_int_equal(
            member_wrap_ctx(ctx_a, e.region_id, a->device_id, e.genesis.epoch.key_check), 0);
        for (i = 0; i < 2; i++) {
                memcpy(m[i].device_id, ids[i]->device_id, IDENTITY_ID_LEN);
                memcpy(m[i].sign_pk, ids[i]->sign_pk, 32);
                memcpy(m[i].box_pk, ids[i]->box_pk, 32);
                snprintf(m[i].owner, sizeof(m[i].owner), "%s", "alice");
                snprintf(m[i].name, sizeof(m[i].name), "%s", ids[i]->name);
                m[i].role = ids[i] == a ? MEMBER_ROLE_ADMIN : MEMBER_ROLE_WRITER;
                memcpy(w[i].device_id, ids[i]->device_id, IDENTITY_ID_LEN);
                assert_int_equal(
                    member_wrap_ctx(ctx, e.region_id, ids[i]->device_id, e.genesis.epoch.key_check),
                    0);
                /* With SWAP_B_CTX, B's slot holds a wrap made for A's slot (to B's key). */
                assert_int_equal(wrap_seal(w[i].wrap, epoch_key,
                                           (ids[i] == b && swap_b_ctx) ? ctx_a : ctx,
                                           ids[i]->box_pk),
                                 0);
        }
        e.genesis.nmembers = 2;
        e.genesis.members = m;
        e.genesis.epoch.nwraps = 2;
        e.genesis.epoch.wraps = w;
        assert_int_equal(member_encode(&e, a->sign_sk, &out, len), 0);
        free(e.raw);
        return out;
}

static void save_entry_as_region(struct fixture *f, const uint8_t *entry, size_t len,
                                 const char *name, struct region_info *ri)
{
        struct member_entry *e = NULL;

        assert_int_equal(member_decode(entry, len, &e), 0);
        memset(ri, 0, sizeof(*ri));
        snprintf(ri->name, sizeof(ri->name), "%s", name);
        snprintf(ri->store_url, sizeof(ri->store_url), "%s", "file:///tmp/x");
        memcpy(ri->id, e->region_id, 32);
        ri->suite = e->genesis.suite;
        ri->block_size = e->genesis.block_size;
        memcpy(ri->genesis_hash, e->hash, 32);
        assert_int_equal(region_save(f->home, ri, entry, len), 0);
        assert_int_equal(region_load(f->home, name, ri), 0);
        member_entry_free(e);
}

static void test_member_two_devices(void **state)
{
        struct fixture *f = *state;
        struct identity *a = new_identity(f->home, "a", NULL);
        struct identity *b = NULL;
        struct region_info ri;
        struct region_keys *ka = NULL, *kb = NULL;
        struct member_entry *e = NULL;
        uint8_t key[32];
        uint8_t *entry;
        size_t len = 0;
        char home2[PATH_MAX];

        pathf(home2, "%s2", f->home);
        b = new_identity(home2, "b", NULL);
        secmem_random(key, sizeof(key));
        entry = two_member_genesis(a, b, key, 0, &len);
        assert_int_equal(member_decode(entry, len, &e), 0);
        assert_int_equal(member_verify_genesis(e), 0);
        assert_int_equal(e->genesis.nmembers, 2);
        assert_int_equal(e->genesis.max_key_age, 86400);
        assert_int_equal(e->time, 1700000000);
        assert_non_null(member_find(&e->genesis, b->device_id));
        assert_non_null(member_find_wrap(&e->genesis.epoch, a->device_id));
        member_entry_free(e);
        save_entry_as_region(f, entry, len, "two", &ri);
        assert_int_equal(region_unlock(a, &ri, &ka), 0);
        assert_int_equal(region_unlock(b, &ri, &kb), 0);
        assert_memory_equal(ka->epoch_key, key, 32);
        assert_memory_equal(kb->epoch_key, key, 32);
        region_keys_free(ka);
        region_keys_free(kb);
        free(entry);
        identity_free(a);
        identity_free(b);
        rm_rf(home2);
}

/* A validly signed entry whose wrap in B's slot carries A's slot context. */
static void test_member_wrap_moved(void **state)
{
        struct fixture *f = *state;
        struct identity *a = new_identity(f->home, "a", NULL);
        struct identity *b = NULL;
        struct region_info ri;
        struct region_keys *k = NULL;
        struct member_entry *e = NULL;
        const struct member_wrap *wa, *wb;
        uint8_t key[32], out[32], ctx_b[WRAP_CTX_LEN];
        uint8_t *entry;
        size_t len = 0;
        char home2[PATH_MAX];

        pathf(home2, "%s2", f->home);
        b = new_identity(home2, "b", NULL);
        secmem_random(key, sizeof(key));
        entry = two_member_genesis(a, b, key, 1, &len);
        save_entry_as_region(f, entry, len, "moved", &ri);
        assert_int_equal(region_unlock(a, &ri, &k), 0);
        region_keys_free(k);
        k = NULL;
        assert_int_equal(region_unlock(b, &ri, &k), -EBADMSG);
        assert_null(k);

        /* And A's own wrap, opened by B under B's slot context, fails too. */
        assert_int_equal(member_decode(entry, len, &e), 0);
        wa = member_find_wrap(&e->genesis.epoch, a->device_id);
        wb = member_find_wrap(&e->genesis.epoch, b->device_id);
        assert_non_null(wa);
        assert_non_null(wb);
        assert_int_equal(
            member_wrap_ctx(ctx_b, e->region_id, b->device_id, e->genesis.epoch.key_check), 0);
        assert_int_equal(wrap_open(out, wa->wrap, ctx_b, b->box_pk, b->box_sk), -EBADMSG);
        member_entry_free(e);
        free(entry);
        identity_free(a);
        identity_free(b);
        rm_rf(home2);
}

static void test_member_encode_rejects(void **state)
{
        struct fixture *f = *state;
        struct identity *a = new_identity(f->home, "a", NULL);
        struct member_entry e;
        struct member_device m[2];
        struct member_wrap w[2];
        uint8_t *out = NULL;
        size_t len = 0;

        memset(&e, 0, sizeof(e));
        memset(m, 0, sizeof(m));
        memset(w, 0, sizeof(w));
        e.version = MEMBER_VERSION;
        e.type = MEMBER_GENESIS;
        e.genesis.suite = (uint8_t)pick_suite();
        e.genesis.block_size = 65536;
        snprintf(m[0].owner, sizeof(m[0].owner), "%s", "o");
        snprintf(m[0].name, sizeof(m[0].name), "%s", "n");
        m[0].role = MEMBER_ROLE_ADMIN;
        m[1] = m[0];
        e.genesis.members = m;
        e.genesis.nmembers = 2; /* equal device ids: not strictly ascending */
        e.genesis.epoch.wraps = w;
        e.genesis.epoch.nwraps = 1;
        assert_int_equal(member_encode(&e, a->sign_sk, &out, &len), -EINVAL);
        e.genesis.nmembers = 1;
        e.height = 1;
        assert_int_equal(member_encode(&e, a->sign_sk, &out, &len), -EINVAL);
        e.height = 0;
        m[0].role = 9;
        assert_int_equal(member_encode(&e, a->sign_sk, &out, &len), -EINVAL);
        m[0].role = MEMBER_ROLE_ADMIN;
        e.genesis.block_size = 1000;
        assert_int_equal(member_encode(&e, a->sign_sk, &out, &len), -EINVAL);
        e.genesis.block_size = 65536;
        e.type = MEMBER_ROTATE_KEY;
        assert_int_equal(member_encode(&e, a->sign_sk, &out, &len), -EINVAL); /* no body */
        e.type = MEMBER_GENESIS;
        assert_int_equal(member_encode(&e, a->sign_sk, &out, &len), 0);
        free(out);
        free(e.raw);
        identity_free(a);
}

static void test_member_decoder_strict(void **state)
{
        struct fixture *f = *state;
        struct identity *id = new_identity(f->home, "pc", NULL);
        struct region_info ri;
        struct member_entry *e = NULL;
        uint8_t *entry = NULL, *big;
        size_t len = 0, i;
        uint32_t body_len;
        size_t body_off = 1 + 1 + 32 + 8 + 8 + 2 + IDENTITY_ID_LEN;

        assert_int_equal(
            region_build(id, f->home, "r", "file:///x", pick_suite(), 65536, &ri, &entry, &len), 0);
        assert_int_equal(member_decode(entry, len, &e), 0);
        assert_int_equal(member_verify_genesis(e), 0);
        assert_memory_equal(e->hash, ri.genesis_hash, 32);
        assert_int_equal(e->raw_len, len);
        assert_int_equal(e->signed_len, len - 64);
        member_entry_free(e);
        e = NULL;

        /* Every truncation. */
        for (i = 0; i < len; i++)
                assert_int_equal(member_decode(entry, i, &e), -EBADMSG);
        /* Trailing bytes (inside the signed part and after the signature). */
        big = calloc(1, MEMBER_MAX_ENTRY + 2);
        assert_non_null(big);
        memcpy(big, entry, len);
        assert_int_equal(member_decode(big, len + 1, &e), -EBADMSG);
        assert_int_equal(member_decode(big, MEMBER_MAX_ENTRY + 1, &e), -EBADMSG);
        assert_null(e);

        /* The body's length, off by one either way, or huge. */
        memcpy(&body_len, entry + body_off, 4);
        for (i = 0; i < 3; i++) {
                static const int32_t delta[] = {1, -1, 0x40000000};
                uint32_t v = __builtin_bswap32(__builtin_bswap32(body_len) + (uint32_t)delta[i]);

                memcpy(big, entry, len);
                memcpy(big + body_off, &v, 4);
                assert_int_equal(member_decode(big, len, &e), -EBADMSG);
        }
        /* Counts inflated: members (at the body's offset 13) and names. */
        memcpy(big, entry, len);
        big[body_off + 4 + 13] = 0xff;
        big[body_off + 4 + 14] = 0xff;
        assert_int_equal(member_decode(big, len, &e), -EBADMSG);
        memcpy(big, entry, len);
        big[body_off + 4 + 15 + 80] = 0x7f; /* owner length's top byte */
        assert_int_equal(member_decode(big, len, &e), -EBADMSG);
        /* Unknown version and type. */
        memcpy(big, entry, len);
        big[0] = 2;
        assert_int_equal(member_decode(big, len, &e), -EBADMSG);
        memcpy(big, entry, len);
        big[1] = 7;
        assert_int_equal(member_decode(big, len, &e), -EBADMSG);
        assert_null(e);

        /* A structurally valid non-GENESIS envelope keeps its body raw. */
        {
                struct enc en;
                uint8_t parent[32] = {1};

                enc_init(&en);
                enc_u8(&en, MEMBER_VERSION);
                enc_u8(&en, MEMBER_ADD_DEVICE);
                enc_fixed(&en, ri.id, 32);
                enc_u64(&en, 1);
                enc_u64(&en, 5);
                enc_u16(&en, 1);
                enc_fixed(&en, parent, 32);
                enc_fixed(&en, id->device_id, IDENTITY_ID_LEN);
                enc_var(&en, "xyz", 3);
                enc_fixed(&en, big, 64); /* a (bad) signature */
                assert_int_equal(enc_error(&en), 0);
                assert_int_equal(member_decode(en.buf, en.len, &e), 0);
                assert_int_equal(e->type, MEMBER_ADD_DEVICE);
                assert_int_equal(e->body_len, 3);
                assert_memory_equal(e->body, "xyz", 3);
                assert_int_equal(member_verify_genesis(e), -EBADMSG);
                member_entry_free(e);
                e = NULL;
                /* Height 0 or no parents is GENESIS-only. */
                en.buf[1 + 1 + 32 + 7] = 0;
                assert_int_equal(member_decode(en.buf, en.len, &e), -EBADMSG);
                enc_release(&en);
        }
        free(big);
        free(entry);
        identity_free(id);
}

static void test_member_names(void **state)
{
        (void)state;
        assert_true(member_name_valid("Alice's laptop"));
        assert_false(member_name_valid(""));
        assert_false(member_name_valid("a\n"));
        assert_false(member_name_valid("trailing "));
        assert_false(member_name_valid("\xc3\xa9"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_identity_roundtrip, setup, teardown),
            cmocka_unit_test_setup_teardown(test_identity_wrong_passphrase, setup, teardown),
            cmocka_unit_test_setup_teardown(test_identity_missing, setup, teardown),
            cmocka_unit_test_setup_teardown(test_identity_mode, setup, teardown),
            cmocka_unit_test_setup_teardown(test_identity_no_passphrase, setup, teardown),
            cmocka_unit_test_setup_teardown(test_identity_bad_args, setup, teardown),
            cmocka_unit_test_setup_teardown(test_identity_corrupt, setup, teardown),
            cmocka_unit_test_setup_teardown(test_identity_keyrejected_vs_badmsg, setup, teardown),
            cmocka_unit_test_setup_teardown(test_identity_change_passphrase, setup, teardown),
            cmocka_unit_test(test_fingerprint),
            cmocka_unit_test_setup_teardown(test_passphrase_sources, setup, teardown),
            cmocka_unit_test(test_home_dir),
            cmocka_unit_test_setup_teardown(test_home_owner, setup, teardown),
            cmocka_unit_test(test_region_names),
            cmocka_unit_test_setup_teardown(test_region_lifecycle, setup, teardown),
            cmocka_unit_test_setup_teardown(test_region_build_args, setup, teardown),
            cmocka_unit_test_setup_teardown(test_region_tampered_genesis, setup, teardown),
            cmocka_unit_test_setup_teardown(test_region_pin_mismatch, setup, teardown),
            cmocka_unit_test_setup_teardown(test_region_other_identity, setup, teardown),
            cmocka_unit_test_setup_teardown(test_region_conf_corrupt, setup, teardown),
            cmocka_unit_test_setup_teardown(test_member_two_devices, setup, teardown),
            cmocka_unit_test_setup_teardown(test_member_wrap_moved, setup, teardown),
            cmocka_unit_test_setup_teardown(test_member_encode_rejects, setup, teardown),
            cmocka_unit_test_setup_teardown(test_member_decoder_strict, setup, teardown),
            cmocka_unit_test(test_member_names),
        };

        if (secmem_init() != 0)
                return 1;
        log_init("test_keyring", LOG_LEVEL_ERR);
        log_quiet_stderr(); /* the failures under test log errors by design */
        return cmocka_run_group_tests(tests, NULL, NULL);
}
