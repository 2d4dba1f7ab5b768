/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests: key epochs in fs/ (doc/DESIGN.md "Key epochs").  A real
 * struct fs (index, data/ and outbox/ in a temporary directory, no FUSE)
 * with a key table of one epoch, then two: content written under the first
 * stays readable, a modified file is re-encrypted under the second (its
 * manifest too), an unmodified one keeps its first-epoch version, and a
 * peer's version under another salt and epoch replaces the local content.
 * Run from the repo root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/block.h"
#include "crypto/secmem.h"
#include "crypto/sig.h"
#include "crypto/suite.h"
#include "fs/fsint.h"
#include "fs/pin.h"
#include "keyring/region.h"
#include "sync/manifest.h"
#include "sync/pack.h"
#include "sync/recipe.h"
#include "util/fileio.h"

#define BS 4096
#define FILE_LEN (2 * BS + 1000) /* three blocks, the last partial */

struct fx {
        char dir[64];
        struct fs fs;
        uint8_t sk[64], pk[32];
        uint8_t e1[32], e2[32], k1[32], k2[32];
};

/* A region_keys holding epochs IDS/KEYS (N, oldest first; the last is current). */
static struct region_keys *make_keys(const struct fx *f, const uint8_t (*ids)[32],
                                     const uint8_t (*keys)[32], size_t n)
{
        struct region_keys *k = calloc(1, sizeof(*k));
        size_t i;

        assert_non_null(k);
        memcpy(k->region_id, f->fs.region_id, 32);
        k->suite = SUITE_XCHACHA20POLY1305;
        k->block_size = BS;
        k->nepochs = n;
        k->epochs = calloc(n, sizeof(*k->epochs));
        assert_non_null(k->epochs);
        for (i = 0; i < n; i++) {
                memcpy(k->epochs[i].id, ids[i], 32);
                k->epochs[i].key = secmem_alloc(32);
                assert_non_null(k->epochs[i].key);
                memcpy(k->epochs[i].key, keys[i], 32);
        }
        memcpy(k->epoch_id, ids[n - 1], 32);
        k->epoch_key = secmem_alloc(32);
        assert_non_null(k->epoch_key);
        memcpy(k->epoch_key, keys[n - 1], 32);
        return k;
}

static int open_dirfd(const char *base, const char *name)
{
        char path[128];
        int fd;

        snprintf(path, sizeof(path), "%s/%s", base, name);
        assert_int_equal(mkdir(path, 0700), 0);
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        return fd;
}

static void open_index(struct fx *f)
{
        struct fs_inode root;
        uint8_t *attr = NULL, local[32];
        char path[128];
        size_t len = 0;

        memset(&root, 0, sizeof(root));
        rangeset_init(&root.blocks);
        memset(root.file_id, 0x77, 16);
        root.kind = FS_KIND_DIR;
        root.mode = S_IFDIR | 0755;
        assert_int_equal(fs_attr_encode(&root, &attr, &len), 0);
        memset(local, 0x33, 32);
        snprintf(path, sizeof(path), "%s/index.db", f->dir);
        assert_int_equal(
            index_open(&f->fs.ix, path, local, f->fs.region_id, root.file_id, attr, len), 0);
        free(attr);
}

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));
        const uint8_t(*ids)[32];

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "%s", "/tmp/test_epoch.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        memset(f->e1, 0xe1, 32);
        memset(f->e2, 0xe2, 32);
        memset(f->k1, 0x51, 32);
        memset(f->k2, 0x52, 32);
        memset(f->fs.region_id, 0x11, 32);
        memcpy(f->fs.genesis_epoch, f->e1, 32);
        f->fs.suite = SUITE_XCHACHA20POLY1305;
        f->fs.bs = BS;
        f->fs.slot_len = FS_SLOT_HDR_LEN + suite_nonce_len(f->fs.suite) + BS + BLOCK_TAG_LEN;
        f->fs.uid = getuid();
        f->fs.gid = getgid();
        pthread_mutex_init(&f->fs.ns_lock, NULL);
        pthread_mutex_init(&f->fs.labels_lock, NULL);
        ids = &f->e1;
        assert_int_equal(fs_keys_init(&f->fs, make_keys(f, ids, &f->k1, 1)), 0);
        /* fs_keys_init borrows: hand the first table to fs_keys_release too. */
        f->fs.keytab->owned = (struct region_keys *)f->fs.keytab->k;
        f->fs.data_dirfd = open_dirfd(f->dir, "data");
        f->fs.outbox_dirfd = open_dirfd(f->dir, "outbox");
        assert_int_equal(fs_pin_open(&f->fs, f->dir), 0); /* blocks the recipes name */
        open_index(f);
        assert_int_equal(fs_table_init(&f->fs), 0);
        assert_int_equal(sig_keypair(f->pk, f->sk), 0);
        f->fs.sign_sk = f->sk;
        memset(f->fs.device_id, 0xa0, 16);
        assert_int_equal(fs_commit_init(&f->fs), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        char cmd[128];

        fs_table_release(&f->fs);
        assert_int_equal(index_close(f->fs.ix), 0);
        close(f->fs.data_dirfd);
        close(f->fs.outbox_dirfd);
        fs_pin_close(&f->fs);
        fs_keys_release(&f->fs);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

/* The current epoch becomes E2 (E1 still held). */
static void rotate(struct fx *f)
{
        uint8_t ids[2][32], keys[2][32];

        memcpy(ids[0], f->e1, 32);
        memcpy(ids[1], f->e2, 32);
        memcpy(keys[0], f->k1, 32);
        memcpy(keys[1], f->k2, 32);
        assert_int_equal(fs_keys_install(&f->fs, make_keys(f, ids, keys, 2)), 1);
        /* The same epoch set again is not a new table. */
        assert_int_equal(fs_keys_install(&f->fs, make_keys(f, ids, keys, 2)), 0);
}

static void pattern(uint8_t *buf, size_t len, uint8_t seed)
{
        size_t i;

        for (i = 0; i < len; i++)
                buf[i] = (uint8_t)(seed + i * 7);
}

/* A new regular file NAME in the root with FILE_LEN bytes of pattern SEED. */
static struct fs_inode *new_file(struct fx *f, const char *name, uint8_t seed)
{
        uint8_t buf[FILE_LEN];
        struct fs_inode *in = NULL;

        pattern(buf, sizeof(buf), seed);
        assert_int_equal(
            fs_inode_create(&f->fs, FS_KIND_REG, S_IFREG | 0644, 1000, 1000, NULL, &in), 0);
        assert_int_equal(
            index_link(f->fs.ix, INDEX_ROOT_INO, name, strlen(name), in->ino, FS_KIND_REG), 0);
        pthread_rwlock_wrlock(&in->lock);
        in->nlink = 1;
        assert_int_equal(fs_content_write(&f->fs, in, 0, buf, sizeof(buf)), 0);
        assert_int_equal(fs_inode_mark_changed(&f->fs, in, 0, 3), 0);
        assert_int_equal(fs_inode_save(&f->fs, in), 0);
        pthread_rwlock_unlock(&in->lock);
        return in;
}

static void write_at(struct fx *f, struct fs_inode *in, uint64_t off, const uint8_t *buf,
                     size_t len)
{
        pthread_rwlock_wrlock(&in->lock);
        assert_int_equal(fs_content_write(&f->fs, in, off, buf, len), 0);
        assert_int_equal(fs_inode_mark_changed(&f->fs, in, off / BS, (off + len + BS - 1) / BS), 0);
        assert_int_equal(fs_inode_save(&f->fs, in), 0);
        pthread_rwlock_unlock(&in->lock);
}

static void expect_content(struct fx *f, struct fs_inode *in, const uint8_t *want, size_t len)
{
        uint8_t got[FILE_LEN];
        size_t n = 0;

        pthread_rwlock_rdlock(&in->lock);
        assert_int_equal(in->size, len);
        assert_int_equal(fs_content_read(&f->fs, in, 0, len, got, &n), 0);
        pthread_rwlock_unlock(&in->lock);
        assert_int_equal(n, len);
        assert_memory_equal(got, want, len);
}

static size_t commit(struct fx *f)
{
        size_t n = 0;

        assert_int_equal(fs_commit(&f->fs, &n), 0);
        return n;
}

/* Every pack in the outbox, assembled from its recipe as the pusher does (issue #10). */
struct packs {
        uint8_t *buf[64];
        size_t len[64];
        struct pack_entry *ents[64];
        size_t nents[64];
        size_t n;
};

static void load_packs(struct fx *f, struct packs *ps)
{
        struct dirent *de;
        DIR *d;
        char path[512];

        memset(ps, 0, sizeof(*ps));
        snprintf(path, sizeof(path), "%s/outbox", f->dir);
        d = opendir(path);
        assert_non_null(d);
        while ((de = readdir(d)) != NULL) {
                struct recipe r;
                uint8_t *rb = NULL;
                size_t rlen = 0;

                if (strncmp(de->d_name, "r-", 2) != 0)
                        continue;
                assert_true(ps->n < 64);
                snprintf(path, sizeof(path), "%s/outbox/%s", f->dir, de->d_name);
                assert_int_equal(fileio_read_all(path, 64u << 20, &rb, &rlen), 0);
                assert_int_equal(recipe_decode(rb, rlen, &r), 0);
                assert_int_equal(recipe_assemble(&r, fs_pin_read, &f->fs, &ps->buf[ps->n], NULL),
                                 0);
                ps->len[ps->n] = r.pack_size;
                recipe_release(&r);
                free(rb);
                assert_int_equal(
                    pack_parse(ps->buf[ps->n], ps->len[ps->n], &ps->ents[ps->n], &ps->nents[ps->n]),
                    0);
                ps->n++;
        }
        closedir(d);
}

static void free_packs(struct packs *ps)
{
        size_t i;

        for (i = 0; i < ps->n; i++) {
                free(ps->buf[i]);
                free(ps->ents[i]);
        }
}

/* The record with hash HASH (its bytes and length), or NULL. */
static const uint8_t *find_record(const struct packs *ps, const uint8_t hash[32], size_t *len)
{
        size_t i, j;

        for (i = 0; i < ps->n; i++)
                for (j = 0; j < ps->nents[i]; j++)
                        if (memcmp(ps->ents[i][j].hash, hash, 32) == 0) {
                                *len = ps->ents[i][j].len;
                                return ps->buf[i] + ps->ents[i][j].off;
                        }
        return NULL;
}

/* IN's last committed manifest, decoded from the outbox into *M. */
static void last_manifest(const struct packs *ps, const struct fs_inode *in, struct manifest *m)
{
        const uint8_t *rec;
        size_t len = 0;

        assert_true(in->has_manifest);
        rec = find_record(ps, in->manifest_hash, &len);
        assert_non_null(rec);
        assert_int_equal(manifest_decode(rec, len, m), 0);
        assert_memory_equal(m->file_id, in->file_id, 16);
}

/* 0 if sealed block REF of M opens under KEY for EPOCH_ID (M's file id and salt). */
static int open_block(struct fx *f, const struct packs *ps, const struct manifest *m,
                      const struct manifest_ref *ref, const uint8_t *key, const uint8_t *epoch_id)
{
        struct block_file_info info;
        struct block_ctx *ctx = NULL;
        uint8_t plain[BS];
        const uint8_t *rec;
        size_t len = 0, plen = 0;
        int rc;

        rec = find_record(ps, ref->hash, &len);
        assert_non_null(rec);
        memcpy(info.region_id, f->fs.region_id, 32);
        memcpy(info.epoch_id, epoch_id, 32);
        info.suite = f->fs.suite;
        memcpy(info.file_id, m->file_id, 16);
        memcpy(info.salt, m->salt, 32);
        assert_int_equal(block_ctx_new(&ctx, key, &info), 0);
        rc = block_open(ctx, ref->index, ref->final, rec, len, plain, &plen);
        block_ctx_free(ctx);
        return rc;
}

static void test_rotation_lazy_reencrypt(void **state)
{
        struct fx *f = *state;
        uint8_t a_want[FILE_LEN], b_want[FILE_LEN], old_salt[32], patch[10];
        struct fs_inode *a, *b;
        struct manifest m;
        struct packs ps;
        size_t i;

        pattern(a_want, sizeof(a_want), 1);
        pattern(b_want, sizeof(b_want), 2);
        a = new_file(f, "a", 1);
        b = new_file(f, "b", 2);
        assert_int_equal(commit(f), 2);
        assert_memory_equal(a->epoch_id, f->e1, 32);
        assert_memory_equal(b->epoch_id, f->e1, 32);

        /* After the rotation, first-epoch content stays readable. */
        rotate(f);
        expect_content(f, a, a_want, sizeof(a_want));
        expect_content(f, b, b_want, sizeof(b_want));
        assert_memory_equal(a->epoch_id, f->e1, 32);

        /* A modification re-encrypts the whole file under the current epoch. */
        memcpy(old_salt, a->salt, 32);
        memset(patch, 0xee, sizeof(patch));
        memcpy(a_want + 5000, patch, sizeof(patch));
        write_at(f, a, 5000, patch, sizeof(patch));
        assert_memory_equal(a->epoch_id, f->e2, 32);
        assert_memory_not_equal(a->salt, old_salt, 32);
        expect_content(f, a, a_want, sizeof(a_want));
        assert_int_equal(commit(f), 1); /* only A: B keeps its first-epoch version */

        load_packs(f, &ps);
        last_manifest(&ps, a, &m);
        assert_memory_equal(m.epoch_id, f->e2, 32);
        assert_memory_equal(m.salt, a->salt, 32);
        assert_int_equal(m.nrefs, 3); /* every block, not only the one changed */
        for (i = 0; i < m.nrefs; i++) {
                assert_int_equal(open_block(f, &ps, &m, &m.refs[i], f->k2, f->e2), 0);
                assert_int_not_equal(open_block(f, &ps, &m, &m.refs[i], f->k1, f->e2), 0);
                assert_int_not_equal(open_block(f, &ps, &m, &m.refs[i], f->k1, f->e1), 0);
        }
        manifest_release(&m);
        last_manifest(&ps, b, &m);
        assert_memory_equal(m.epoch_id, f->e1, 32);
        assert_int_equal(open_block(f, &ps, &m, &m.refs[0], f->k1, f->e1), 0);
        manifest_release(&m);
        free_packs(&ps);
        assert_memory_equal(b->epoch_id, f->e1, 32);
        expect_content(f, b, b_want, sizeof(b_want));

        /* The state survives eviction: record v4 keeps each file's epoch. */
        fs_inode_put(&f->fs, a);
        fs_inode_put(&f->fs, b);
        assert_int_equal(index_commit(f->fs.ix), 0);
}

/* A rename-only change (no content write) is committed under the current epoch too. */
static void test_commit_moves_epoch(void **state)
{
        struct fx *f = *state;
        uint8_t want[FILE_LEN];
        struct fs_inode *a;
        struct manifest m;
        struct packs ps;

        pattern(want, sizeof(want), 3);
        a = new_file(f, "a", 3);
        assert_int_equal(commit(f), 1);
        rotate(f);
        pthread_rwlock_wrlock(&a->lock);
        assert_int_equal(fs_inode_mark_changed(&f->fs, a, 0, 0), 0); /* metadata only */
        assert_int_equal(fs_inode_save(&f->fs, a), 0);
        pthread_rwlock_unlock(&a->lock);
        assert_int_equal(commit(f), 1);
        assert_memory_equal(a->epoch_id, f->e2, 32);
        load_packs(f, &ps);
        last_manifest(&ps, a, &m);
        assert_memory_equal(m.epoch_id, f->e2, 32);
        assert_int_equal(m.nrefs, 3);
        manifest_release(&m);
        free_packs(&ps);
        expect_content(f, a, want, sizeof(want));
        fs_inode_put(&f->fs, a);
}

/* A peer's version under another salt and epoch replaces the local content whole. */
static void test_remote_version_other_epoch(void **state)
{
        struct fx *f = *state;
        uint8_t want[FILE_LEN], salt[32], sealed[BS + 64];
        struct block_file_info info;
        struct block_ctx *ctx = NULL;
        struct fs_inode *a;
        int pending = 0;
        uint64_t i;

        a = new_file(f, "a", 4);
        rotate(f);
        pattern(want, sizeof(want), 9);
        memset(salt, 0x5a, 32);
        memcpy(info.region_id, f->fs.region_id, 32);
        memcpy(info.epoch_id, f->e2, 32);
        info.suite = f->fs.suite;
        memcpy(info.file_id, a->file_id, 16);
        memcpy(info.salt, salt, 32);
        assert_int_equal(block_ctx_new(&ctx, f->k2, &info), 0);
        pthread_rwlock_wrlock(&a->lock);
        assert_int_equal(fs_content_reset(&f->fs, a, salt, f->e2, &pending), 0);
        assert_int_equal(pending, 1);
        for (i = 0; i < 3; i++) {
                size_t len = i == 2 ? FILE_LEN - 2 * BS : BS;

                assert_int_equal(block_seal(ctx, i, i == 2, want + i * BS, len, sealed), 0);
                assert_int_equal(
                    fs_content_put_sealed(&f->fs, a, i, i == 2, sealed, block_sealed_len(ctx, len)),
                    0);
        }
        assert_int_equal(fs_content_reset_finish(&f->fs, a), 0);
        assert_null(a->reset);
        assert_memory_equal(a->epoch_id, f->e2, 32);
        pthread_rwlock_unlock(&a->lock);
        block_ctx_free(ctx);
        expect_content(f, a, want, sizeof(want));
        /* A block under the first epoch is refused now. */
        pthread_rwlock_wrlock(&a->lock);
        memcpy(info.epoch_id, f->e1, 32);
        assert_int_equal(block_ctx_new(&ctx, f->k1, &info), 0);
        assert_int_equal(block_seal(ctx, 0, 0, want, BS, sealed), 0);
        assert_int_equal(fs_content_put_sealed(&f->fs, a, 0, 0, sealed, block_sealed_len(ctx, BS)),
                         -EBADMSG);
        block_ctx_free(ctx);
        pthread_rwlock_unlock(&a->lock);
        fs_inode_put(&f->fs, a);
}

/* A crash after the record became durable, before the rename: the next open finishes it. */
static void test_reencrypt_roll_forward(void **state)
{
        struct fx *f = *state;
        uint8_t want[FILE_LEN], patch[4];
        char path[40], rk[128], real[128];
        struct fs_inode *a;

        pattern(want, sizeof(want), 5);
        a = new_file(f, "a", 5);
        assert_int_equal(commit(f), 1);
        fs_content_path(a->file_id, path);
        snprintf(real, sizeof(real), "%s/data/%s", f->dir, path);
        snprintf(rk, sizeof(rk), "%s/data/%s.keep", f->dir, path);
        /* Keep the first-epoch file aside to put it back as if the rename had not happened. */
        assert_int_equal(link(real, rk), 0);
        rotate(f);
        memset(patch, 0x99, sizeof(patch));
        memcpy(want, patch, sizeof(patch));
        write_at(f, a, 0, patch, sizeof(patch));
        pthread_rwlock_wrlock(&a->lock);
        fs_content_close(a);
        pthread_rwlock_unlock(&a->lock);
        {
                char rkname[128];

                snprintf(rkname, sizeof(rkname), "%s/data/%s.rk", f->dir, path);
                assert_int_equal(rename(real, rkname), 0);
                assert_int_equal(rename(rk, real), 0);
        }
        expect_content(f, a, want, sizeof(want));
        fs_inode_put(&f->fs, a);
}

/*
 * Review item 1: a committed file shrunk to a block boundary publishes its
 * new last block sealed as final (here without the dirty mark fs/ops.c adds:
 * the committer's backstop must not reuse the old, non-final reference).
 */
static void test_truncate_aligned_final(void **state)
{
        struct fx *f = *state;
        uint8_t want[FILE_LEN];
        struct fs_inode *a;
        struct manifest m;
        struct packs ps;

        pattern(want, sizeof(want), 7);
        a = new_file(f, "a", 7);
        assert_int_equal(commit(f), 1);
        pthread_rwlock_wrlock(&a->lock);
        assert_int_equal(fs_content_truncate(&f->fs, a, 2 * BS), 0);
        assert_int_equal(fs_inode_mark_changed(&f->fs, a, 0, 0), 0);
        assert_int_equal(fs_inode_save(&f->fs, a), 0);
        pthread_rwlock_unlock(&a->lock);
        assert_int_equal(commit(f), 1);
        load_packs(f, &ps);
        last_manifest(&ps, a, &m);
        assert_int_equal(m.size, 2 * BS);
        assert_int_equal(m.nrefs, 2);
        assert_int_equal(m.refs[1].final, 1);
        assert_int_equal(open_block(f, &ps, &m, &m.refs[0], f->k1, f->e1), 0);
        assert_int_equal(open_block(f, &ps, &m, &m.refs[1], f->k1, f->e1), 0);
        manifest_release(&m);
        free_packs(&ps);
        expect_content(f, a, want, 2 * BS);
        fs_inode_put(&f->fs, a);
}

/* A file of NBLK remote blocks (references REFS[i] = i+1 repeated) with no ciphertext file. */
static struct fs_inode *remote_file(struct fx *f, const char *name, uint64_t nblk)
{
        struct fs_inode *in = NULL;
        uint8_t h[32];
        uint64_t i;

        assert_int_equal(
            fs_inode_create(&f->fs, FS_KIND_REG, S_IFREG | 0644, 1000, 1000, NULL, &in), 0);
        assert_int_equal(
            index_link(f->fs.ix, INDEX_ROOT_INO, name, strlen(name), in->ino, FS_KIND_REG), 0);
        pthread_rwlock_wrlock(&in->lock);
        in->nlink = 1;
        in->size = nblk * BS;
        assert_int_equal(rangeset_add(&in->blocks, 0, nblk), 0);
        assert_int_equal(rangeset_add(&in->remote, 0, nblk), 0);
        for (i = 0; i < nblk; i++) {
                memset(h, (int)(i + 1), sizeof(h));
                assert_int_equal(index_blockref_put(f->fs.ix, in->ino, i, h), 0);
        }
        assert_int_equal(fs_inode_save(&f->fs, in), 0);
        pthread_rwlock_unlock(&in->lock);
        return in;
}

/*
 * Review items 3 and 7: a peer's re-encrypted version of a file this
 * (lazy) device never fetched: the reset works without a ciphertext file,
 * an aborted one keeps the old references, and an interrupted one rolls
 * forward from the .rk file.
 */
static void test_reset_all_remote(void **state)
{
        struct fx *f = *state;
        uint8_t want[2 * BS], salt[32], sealed[BS + 64], h[32];
        char path[40], real[128], rk[128];
        struct block_file_info info;
        struct block_ctx *ctx = NULL;
        struct fs_inode *a;
        int pending = 0;
        uint64_t i;

        a = remote_file(f, "a", 2);
        rotate(f);
        memset(salt, 0x6b, 32);
        /* Aborted: the old remote blocks keep their references. */
        pthread_rwlock_wrlock(&a->lock);
        assert_int_equal(fs_content_reset(&f->fs, a, salt, f->e2, &pending), 0);
        assert_int_equal(pending, 1);
        memset(h, 0x77, sizeof(h));
        assert_int_equal(index_blockref_put(f->fs.ix, a->ino, 0, h), 0); /* the new version's */
        fs_content_reset_abort(&f->fs, a);
        assert_memory_equal(a->epoch_id, f->e1, 32);
        assert_true(rangeset_contains(&a->remote, 1));
        for (i = 0; i < 2; i++) {
                uint8_t want_h[32];

                memset(want_h, (int)(i + 1), sizeof(want_h));
                assert_int_equal(index_blockref_get(f->fs.ix, a->ino, i, h), 0);
                assert_memory_equal(h, want_h, 32);
        }
        /* Finished: the new blocks are stored, and the swap needs no old file. */
        pattern(want, sizeof(want), 11);
        memcpy(info.region_id, f->fs.region_id, 32);
        memcpy(info.epoch_id, f->e2, 32);
        info.suite = f->fs.suite;
        memcpy(info.file_id, a->file_id, 16);
        memcpy(info.salt, salt, 32);
        assert_int_equal(block_ctx_new(&ctx, f->k2, &info), 0);
        assert_int_equal(fs_content_reset(&f->fs, a, salt, f->e2, &pending), 0);
        assert_int_equal(pending, 1);
        rangeset_truncate(&a->remote, 0);
        for (i = 0; i < 2; i++) {
                assert_int_equal(block_seal(ctx, i, i == 1, want + i * BS, BS, sealed), 0);
                assert_int_equal(
                    fs_content_put_sealed(&f->fs, a, i, i == 1, sealed, block_sealed_len(ctx, BS)),
                    0);
        }
        assert_int_equal(fs_content_reset_finish(&f->fs, a), 0);
        fs_content_close(a);
        pthread_rwlock_unlock(&a->lock);
        block_ctx_free(ctx);
        /* A crash before the rename: only the .rk file exists; opening rolls forward. */
        fs_content_path(a->file_id, path);
        snprintf(real, sizeof(real), "%s/data/%s", f->dir, path);
        snprintf(rk, sizeof(rk), "%s/data/%s.rk", f->dir, path);
        assert_int_equal(rename(real, rk), 0);
        expect_content(f, a, want, sizeof(want));
        assert_int_equal(access(rk, F_OK), -1);
        fs_inode_put(&f->fs, a);
}

/* Without a key of the current epoch the mount stops writing and publishing. */
static void test_keys_lost(void **state)
{
        struct fx *f = *state;
        struct fs_inode *a;

        a = new_file(f, "a", 6);
        fs_keys_lost(&f->fs);
        assert_true(f->fs.read_only);
        assert_int_equal(commit(f), 0);
        fs_inode_put(&f->fs, a);
}

/*
 * The partial-block buffer (doc/DESIGN.md "Small writes"): 100-byte writes
 * through fs_api_write read back at once; the block they fill is sealed,
 * the last one stays in memory, where the record does not see it (its size
 * stays the one from before); a commit seals it first and publishes the
 * whole file; a truncation seals it first too.
 */
static void test_small_writes_buffered(void **state)
{
        struct fx *f = *state;
        uint8_t want[FILE_LEN], got[FILE_LEN], *attr = NULL;
        struct fs_inode *a = NULL, rec;
        struct manifest m;
        struct packs ps;
        size_t off, n = 0, len = 0;

        pattern(want, sizeof(want), 3);
        assert_int_equal(fs_inode_create(&f->fs, FS_KIND_REG, S_IFREG | 0644, 1000, 1000, NULL, &a),
                         0);
        assert_int_equal(index_link(f->fs.ix, INDEX_ROOT_INO, "s", 1, a->ino, FS_KIND_REG), 0);
        a->nlink = 1;
        for (off = 0; off < FILE_LEN; off += 100)
                assert_int_equal(fs_api_write(&f->fs, a, off, want + off,
                                              FILE_LEN - off < 100 ? FILE_LEN - off : 100, 0),
                                 0);
        pthread_rwlock_rdlock(&a->lock);
        assert_int_equal(a->size, FILE_LEN);
        /* 8100..8200 crossed into block 2 (written directly); 8200.. is buffered. */
        assert_int_equal(fs_content_record_size(a), 8200);
        assert_int_not_equal(atomic_load(&a->wb_since), 0);
        assert_int_equal(fs_content_read(&f->fs, a, 0, FILE_LEN, got, &n), 0);
        assert_int_equal(n, FILE_LEN);
        assert_memory_equal(got, want, FILE_LEN);
        assert_int_equal(fs_content_read(&f->fs, a, 8190, 20, got, &n), 0);
        assert_memory_equal(got, want + 8190, 20);
        /* What a save writes now: the size before the live block, never its bytes. */
        assert_int_equal(fs_attr_encode(a, &attr, &len), 0);
        pthread_rwlock_unlock(&a->lock);
        memset(&rec, 0, sizeof(rec));
        assert_int_equal(fs_attr_decode(&rec, attr, len, f->e1), 0);
        assert_int_equal(rec.size, 8200);
        fs_inode_clear(&rec);
        free(attr);

        assert_int_equal(commit(f), 1); /* seals block 2 before taking the marks */
        assert_int_equal(atomic_load(&a->wb_since), 0);
        load_packs(f, &ps);
        last_manifest(&ps, a, &m);
        assert_int_equal(m.size, FILE_LEN);
        assert_int_equal(m.nrefs, 3);
        assert_int_equal(m.refs[2].final, 1);
        assert_int_equal(open_block(f, &ps, &m, &m.refs[2], f->k1, f->e1), 0);
        manifest_release(&m);
        free_packs(&ps);
        expect_content(f, a, want, FILE_LEN);

        /* Buffered again, then truncated: the live block is sealed first. */
        assert_int_equal(fs_api_write(&f->fs, a, 2 * BS + 10, "xyz", 3, 0), 0);
        memcpy(want + 2 * BS + 10, "xyz", 3);
        assert_int_not_equal(atomic_load(&a->wb_since), 0);
        pthread_rwlock_wrlock(&a->lock);
        assert_int_equal(fs_content_truncate(&f->fs, a, FILE_LEN - 10), 0);
        assert_int_equal(atomic_load(&a->wb_since), 0);
        assert_int_equal(fs_inode_save(&f->fs, a), 0);
        fs_content_unbuffer(&f->fs, a);
        pthread_rwlock_unlock(&a->lock);
        expect_content(f, a, want, FILE_LEN - 10);
        fs_inode_put(&f->fs, a);
}

/*
 * The inode table's memory bound (fs/fsint.h "Memory bound"): with the cache
 * at 0, an inode kept only by lookups drops to a ghost when put; the next
 * get loads it again with its lookups, its unsynced flag and its content;
 * forget counts a ghost down; hundreds of ghosts (table growth, deletion in
 * any order) keep their counts; a changed inode reloads as changed.
 */
#define GHOSTS 700
static void test_inode_ghosts(void **state)
{
        struct fx *f = *state;
        static uint64_t inos[GHOSTS];
        uint8_t want[FILE_LEN];
        struct fs_inode *a, *in;
        char name[32];
        size_t i, left;

        f->fs.inode_cache = 0;
        a = new_file(f, "ghost-a", 7);
        fs_inode_ref(&f->fs, a, 2, 0); /* the kernel's lookups */
        inos[0] = a->ino;
        assert_int_equal(a->unsynced, 1);
        fs_inode_put(&f->fs, a);
        assert_int_equal(f->fs.ghost_count, 1);
        for (i = 1; i < GHOSTS; i++) {
                snprintf(name, sizeof(name), "g%zu", i);
                assert_int_equal(
                    fs_inode_create(&f->fs, FS_KIND_REG, S_IFREG | 0644, 1000, 1000, NULL, &in), 0);
                assert_int_equal(
                    index_link(f->fs.ix, INDEX_ROOT_INO, name, strlen(name), in->ino, FS_KIND_REG),
                    0);
                pthread_rwlock_wrlock(&in->lock);
                in->nlink = 1;
                assert_int_equal(fs_inode_save(&f->fs, in), 0);
                pthread_rwlock_unlock(&in->lock);
                fs_inode_ref(&f->fs, in, (int64_t)(i % 5) + 1, 0);
                inos[i] = in->ino;
                fs_inode_put(&f->fs, in);
        }
        assert_int_equal(f->fs.ghost_count, GHOSTS);
        /* Back with its lookups, unsynced flag and content. */
        assert_int_equal(fs_inode_get(&f->fs, inos[0], &a), 0);
        assert_int_equal(f->fs.ghost_count, GHOSTS - 1);
        assert_int_equal(a->nlookup, 2);
        assert_int_equal(a->unsynced, 1);
        pattern(want, sizeof(want), 7);
        expect_content(f, a, want, FILE_LEN);
        /* Changed, dropped, loaded: the change is there (written through). */
        pattern(want, 1000, 9);
        pthread_rwlock_wrlock(&a->lock);
        assert_int_equal(fs_content_write(&f->fs, a, 0, want, 1000), 0);
        assert_int_equal(fs_inode_save(&f->fs, a), 0);
        pthread_rwlock_unlock(&a->lock);
        fs_inode_put(&f->fs, a);
        assert_int_equal(f->fs.ghost_count, GHOSTS);
        assert_int_equal(fs_inode_get(&f->fs, inos[0], &a), 0);
        expect_content(f, a, want, FILE_LEN);
        fs_inode_put(&f->fs, a);
        /* Forget counts ghosts down, in an order unlike their slots'. */
        for (i = 1; i < GHOSTS; i += 2)
                fs_inode_forget(&f->fs, inos[i], 100);
        for (i = 2; i < GHOSTS; i += 2) {
                assert_int_equal(fs_inode_get(&f->fs, inos[i], &in), 0);
                assert_int_equal(in->nlookup, (i % 5) + 1);
                fs_inode_put(&f->fs, in);
        }
        for (i = 1; i < GHOSTS; i += 2) { /* forgotten: loaded with no lookups */
                assert_int_equal(fs_inode_get(&f->fs, inos[i], &in), 0);
                assert_int_equal(in->nlookup, 0);
                fs_inode_put(&f->fs, in);
        }
        left = 1; /* inos[0] */
        for (i = GHOSTS - 2; i > 0; i -= 2) {
                fs_inode_forget(&f->fs, inos[i], 1); /* one of several, or the last */
                left += i % 5 != 0;
        }
        assert_int_equal(f->fs.ghost_count, left);
        for (i = 0; i < GHOSTS; i += 2)
                fs_inode_forget(&f->fs, inos[i], 100);
        assert_int_equal(f->fs.ghost_count, 0);
        /* With room for 3, the least recently used go first. */
        f->fs.inode_cache = 3;
        for (i = 0; i < 6; i++) {
                snprintf(name, sizeof(name), "lru%zu", i);
                assert_int_equal(
                    fs_inode_create(&f->fs, FS_KIND_REG, S_IFREG | 0644, 1000, 1000, NULL, &in), 0);
                assert_int_equal(
                    index_link(f->fs.ix, INDEX_ROOT_INO, name, strlen(name), in->ino, FS_KIND_REG),
                    0);
                pthread_rwlock_wrlock(&in->lock);
                in->nlink = 1;
                assert_int_equal(fs_inode_save(&f->fs, in), 0);
                pthread_rwlock_unlock(&in->lock);
                fs_inode_ref(&f->fs, in, 1, 0);
                inos[i] = in->ino;
                fs_inode_put(&f->fs, in);
        }
        assert_true(f->fs.table_count <= 3);
        left = f->fs.ghost_count;
        assert_true(left >= 3);
        assert_int_equal(fs_inode_get(&f->fs, inos[5], &in), 0); /* the last used: still whole */
        assert_int_equal(f->fs.ghost_count, left);
        fs_inode_put(&f->fs, in);
        assert_int_equal(fs_inode_get(&f->fs, inos[0], &in), 0); /* the first: a ghost */
        assert_int_equal(f->fs.ghost_count, left - 1);
        assert_int_equal(in->nlookup, 1);
        fs_inode_put(&f->fs, in);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_rotation_lazy_reencrypt, setup, teardown),
            cmocka_unit_test_setup_teardown(test_commit_moves_epoch, setup, teardown),
            cmocka_unit_test_setup_teardown(test_remote_version_other_epoch, setup, teardown),
            cmocka_unit_test_setup_teardown(test_reencrypt_roll_forward, setup, teardown),
            cmocka_unit_test_setup_teardown(test_keys_lost, setup, teardown),
            cmocka_unit_test_setup_teardown(test_truncate_aligned_final, setup, teardown),
            cmocka_unit_test_setup_teardown(test_reset_all_remote, setup, teardown),
            cmocka_unit_test_setup_teardown(test_small_writes_buffered, setup, teardown),
            cmocka_unit_test_setup_teardown(test_inode_ghosts, setup, teardown),
        };

        if (secmem_init() != 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
