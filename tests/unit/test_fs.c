/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests: util/rangeset and the fs/ attribute record codec. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/enc.h"
#include "crypto/secmem.h"
#include "fs/fsint.h"
#include "util/rangeset.h"

static const uint8_t genesis_epoch[32] = {0x9e};

/* On-demand content: remove (split, trim, across ranges), within, count, next. */
static void test_rangeset_remove(void **state)
{
        struct rangeset a, b;
        uint64_t v = 0;

        (void)state;
        rangeset_init(&a);
        rangeset_init(&b);
        assert_int_equal(rangeset_add(&a, 0, 10), 0);
        assert_int_equal(rangeset_add(&a, 20, 30), 0);
        assert_int_equal(rangeset_remove(&a, 4, 6), 0); /* split */
        assert_int_equal(a.n, 3);
        assert_int_equal(rangeset_count(&a), 18);
        assert_false(rangeset_contains(&a, 4));
        assert_true(rangeset_contains(&a, 6));
        assert_int_equal(rangeset_remove(&a, 8, 25), 0); /* across two ranges */
        assert_int_equal(rangeset_count(&a), 4 + 2 + 5);
        assert_int_equal(rangeset_remove(&a, 100, 200), 0); /* nothing there */
        assert_int_equal(rangeset_next(&a, 4, &v), 1);
        assert_int_equal(v, 6);
        assert_int_equal(rangeset_next(&a, 8, &v), 1);
        assert_int_equal(v, 25);
        assert_int_equal(rangeset_next(&a, 30, &v), 0);
        assert_int_equal(rangeset_add(&b, 0, 40), 0);
        assert_true(rangeset_within(&a, &b));
        assert_false(rangeset_within(&b, &a));
        assert_int_equal(rangeset_remove(&a, 0, UINT64_MAX), 0);
        assert_int_equal(a.n, 0);
        assert_int_equal(rangeset_validate(b.r, b.n), 0);
        rangeset_release(&a);
        rangeset_release(&b);
}

static void test_rangeset_basic(void **state)
{
        struct rangeset s;

        (void)state;
        rangeset_init(&s);
        assert_int_equal(rangeset_add(&s, 10, 20), 0);
        assert_int_equal(rangeset_add(&s, 30, 40), 0);
        assert_int_equal(s.n, 2);
        assert_true(rangeset_contains(&s, 10));
        assert_true(rangeset_contains(&s, 19));
        assert_false(rangeset_contains(&s, 20));
        assert_false(rangeset_contains(&s, 9));
        /* Adjacent ranges merge. */
        assert_int_equal(rangeset_add(&s, 20, 30), 0);
        assert_int_equal(s.n, 1);
        assert_int_equal(s.r[0].start, 10);
        assert_int_equal(s.r[0].end, 40);
        /* Overlap spanning several. */
        assert_int_equal(rangeset_add(&s, 50, 60), 0);
        assert_int_equal(rangeset_add(&s, 70, 80), 0);
        assert_int_equal(rangeset_add(&s, 5, 75), 0);
        assert_int_equal(s.n, 1);
        assert_int_equal(s.r[0].start, 5);
        assert_int_equal(s.r[0].end, 80);
        rangeset_truncate(&s, 60);
        assert_int_equal(s.r[0].end, 60);
        rangeset_truncate(&s, 0);
        assert_int_equal(s.n, 0);
        assert_false(rangeset_contains(&s, UINT64_MAX));
        rangeset_release(&s);
}

/* Random operations checked against a bitmap. */
static void test_rangeset_random(void **state)
{
        enum { N = 512 };
        uint8_t ref[N];
        struct rangeset s;
        unsigned i, j, seed = 12345;

        (void)state;
        memset(ref, 0, sizeof(ref));
        rangeset_init(&s);
        for (i = 0; i < 20000; i++) {
                unsigned a, b;

                seed = seed * 1103515245u + 12345u;
                a = (seed >> 8) % N;
                seed = seed * 1103515245u + 12345u;
                b = a + (seed >> 8) % 16;
                if (b > N)
                        b = N;
                if ((seed >> 4) % 10 == 0) {
                        rangeset_truncate(&s, a);
                        memset(ref + a, 0, N - a);
                } else {
                        assert_int_equal(rangeset_add(&s, a, b), 0);
                        memset(ref + a, 1, b - a);
                }
                assert_int_equal(rangeset_validate(s.r, s.n), 0);
                for (j = 0; j < N; j += 7)
                        assert_int_equal(rangeset_contains(&s, j), ref[j]);
        }
        rangeset_release(&s);
}

static void test_rangeset_validate(void **state)
{
        struct range bad1[2] = {{0, 5}, {5, 9}};   /* adjacent: not canonical */
        struct range bad2[1] = {{7, 7}};           /* empty */
        struct range bad3[2] = {{10, 20}, {0, 5}}; /* unsorted */
        struct range good[2] = {{0, 5}, {6, 9}};

        (void)state;
        assert_int_equal(rangeset_validate(bad1, 2), -EBADMSG);
        assert_int_equal(rangeset_validate(bad2, 1), -EBADMSG);
        assert_int_equal(rangeset_validate(bad3, 2), -EBADMSG);
        assert_int_equal(rangeset_validate(good, 2), 0);
}

static void fill_inode(struct fs_inode *in)
{
        memset(in, 0, sizeof(*in));
        rangeset_init(&in->blocks);
        in->kind = FS_KIND_REG;
        in->mode = 0100644;
        in->uid = 1000;
        in->gid = 1001;
        in->size = 5ull << 30;
        in->mtime.tv_sec = 1700000000;
        in->mtime.tv_nsec = 123456789;
        memset(in->salt, 0xab, sizeof(in->salt));
}

static void test_attr_roundtrip(void **state)
{
        struct fs_inode a, b;
        uint8_t *buf = NULL;
        size_t len = 0;

        (void)state;
        fill_inode(&a);
        assert_int_equal(rangeset_add(&a.blocks, 0, 3), 0);
        assert_int_equal(rangeset_add(&a.blocks, 73728, 73729), 0);
        a.xattrs = calloc(1, sizeof(*a.xattrs));
        a.xattrs[0].name = strdup("user.k");
        a.xattrs[0].value = (uint8_t *)strdup("value");
        a.xattrs[0].len = 5;
        a.nxattrs = 1;
        assert_int_equal(fs_attr_encode(&a, &buf, &len), 0);
        memset(&b, 0, sizeof(b));
        rangeset_init(&b.blocks);
        assert_int_equal(fs_attr_decode(&b, buf, len, genesis_epoch), 0);
        assert_int_equal(b.size, a.size);
        assert_int_equal(b.mode, a.mode);
        assert_int_equal(b.mtime.tv_nsec, a.mtime.tv_nsec);
        assert_memory_equal(b.salt, a.salt, 32);
        assert_int_equal(b.blocks.n, 2);
        assert_true(rangeset_contains(&b.blocks, 73728));
        assert_int_equal(b.nxattrs, 1);
        assert_string_equal(b.xattrs[0].name, "user.k");
        assert_memory_equal(b.xattrs[0].value, "value", 5);
        fs_inode_clear(&b);

        /* Every strict prefix and a trailing byte are rejected. */
        for (size_t cut = 0; cut < len; cut++) {
                memset(&b, 0, sizeof(b));
                rangeset_init(&b.blocks);
                assert_int_not_equal(fs_attr_decode(&b, buf, cut, genesis_epoch), 0);
                fs_inode_clear(&b);
        }
        {
                uint8_t *longer = malloc(len + 1);

                memcpy(longer, buf, len);
                longer[len] = 0;
                memset(&b, 0, sizeof(b));
                rangeset_init(&b.blocks);
                assert_int_equal(fs_attr_decode(&b, longer, len + 1, genesis_epoch), -EBADMSG);
                fs_inode_clear(&b);
                free(longer);
        }
        fs_inode_clear(&a);
        free(buf);
}

static void test_attr_rejects_bad_ranges(void **state)
{
        struct fs_inode a, b;
        uint8_t *buf = NULL;
        size_t len = 0;
        size_t off;

        (void)state;
        fill_inode(&a);
        assert_int_equal(rangeset_add(&a.blocks, 4, 8), 0);
        assert_int_equal(rangeset_add(&a.blocks, 10, 12), 0);
        assert_int_equal(fs_attr_encode(&a, &buf, &len), 0);
        /* The ranges start after: 1+1+4+4+4+8+3*12+32 = 90, then u32 count. */
        off = 90 + 4;
        /* Make the second range start inside the first: 10 -> 6. */
        buf[off + 16 + 7] = 6;
        memset(&b, 0, sizeof(b));
        rangeset_init(&b.blocks);
        assert_int_equal(fs_attr_decode(&b, buf, len, genesis_epoch), -EBADMSG);
        fs_inode_clear(&b);
        fs_inode_clear(&a);
        free(buf);
}

/* Decodes BUF (LEN) into a fresh inode and returns the result. */
static int attr_decode_rc(const uint8_t *buf, size_t len)
{
        struct fs_inode b;
        int rc;

        memset(&b, 0, sizeof(b));
        rangeset_init(&b.blocks);
        rc = fs_attr_decode(&b, buf, len, genesis_epoch);
        fs_inode_clear(&b);
        return rc;
}

/* Record v6: a special file keeps its type and rdev; rdev is the 8 bytes
 * before v7's 17; a special without a special type, with content or an rdev
 * on a FIFO is refused (doc/SYNC.md C6). */
static void test_attr_special(void **state)
{
        struct fs_inode a, b;
        uint8_t *buf = NULL;
        size_t len = 0;

        (void)state;
        fill_inode(&a);
        a.kind = FS_KIND_SPECIAL;
        a.mode = S_IFBLK | 0660;
        a.size = 0;
        a.rdev = 0x0102030405060708ull;
        assert_int_equal(fs_attr_encode(&a, &buf, &len), 0);
        assert_int_equal(buf[0], 7);
        assert_int_equal(buf[len - 17 - 1], 0x08);
        memset(&b, 0, sizeof(b));
        rangeset_init(&b.blocks);
        assert_int_equal(fs_attr_decode(&b, buf, len, genesis_epoch), 0);
        assert_int_equal(b.kind, FS_KIND_SPECIAL);
        assert_int_equal(b.mode, S_IFBLK | 0660);
        assert_true(b.rdev == a.rdev);
        fs_inode_clear(&b);
        free(buf);
        /* An rdev on a FIFO. */
        a.mode = S_IFIFO | 0600;
        assert_int_equal(fs_attr_encode(&a, &buf, &len), 0);
        assert_int_equal(attr_decode_rc(buf, len), -EBADMSG);
        free(buf);
        /* A special whose mode is a regular file's. */
        a.rdev = 0;
        a.mode = S_IFREG | 0600;
        assert_int_equal(fs_attr_encode(&a, &buf, &len), 0);
        assert_int_equal(attr_decode_rc(buf, len), -EBADMSG);
        free(buf);
        /* A regular file with a FIFO's mode, or with an rdev. */
        a.kind = FS_KIND_REG;
        a.mode = S_IFIFO | 0600;
        assert_int_equal(fs_attr_encode(&a, &buf, &len), 0);
        assert_int_equal(attr_decode_rc(buf, len), -EBADMSG);
        free(buf);
        a.mode = S_IFREG | 0600;
        a.rdev = 1;
        assert_int_equal(fs_attr_encode(&a, &buf, &len), 0);
        assert_int_equal(attr_decode_rc(buf, len), -EBADMSG);
        free(buf);
        /* A special with content. */
        a.kind = FS_KIND_SPECIAL;
        a.mode = S_IFSOCK | 0600;
        a.rdev = 0;
        a.size = 1;
        assert_int_equal(fs_attr_encode(&a, &buf, &len), 0);
        assert_int_equal(attr_decode_rc(buf, len), -EBADMSG);
        free(buf);
        fs_inode_clear(&a);
}

/*
 * Record v7 (doc/SYNC.md U5): the parent id the current version names, with
 * a known flag; an unknown one is all zero (canonical); a v6 record (the
 * same bytes without the last 17, version byte 6) is read with none known.
 */
static void test_attr_vparent(void **state)
{
        struct fs_inode a, b;
        uint8_t *buf = NULL;
        size_t len = 0;

        (void)state;
        fill_inode(&a);
        a.kind = FS_KIND_DIR;
        a.mode = S_IFDIR | 0755;
        a.size = 0;
        a.vparent_known = 1;
        memset(a.vparent, 0x5c, sizeof(a.vparent));
        assert_int_equal(fs_attr_encode(&a, &buf, &len), 0);
        assert_int_equal(buf[0], 7);
        assert_int_equal(buf[len - 17], 1);
        assert_int_equal(buf[len - 1], 0x5c);
        memset(&b, 0, sizeof(b));
        rangeset_init(&b.blocks);
        assert_int_equal(fs_attr_decode(&b, buf, len, genesis_epoch), 0);
        assert_int_equal(b.vparent_known, 1);
        assert_memory_equal(b.vparent, a.vparent, 16);
        fs_inode_clear(&b);
        /* A flag other than 0 or 1, and an id without the flag, are refused. */
        buf[len - 17] = 2;
        assert_int_equal(attr_decode_rc(buf, len), -EBADMSG);
        buf[len - 17] = 0;
        assert_int_equal(attr_decode_rc(buf, len), -EBADMSG);
        /* v6: no parent id (the record ends after rdev). */
        buf[0] = 6;
        memset(&b, 0, sizeof(b));
        rangeset_init(&b.blocks);
        assert_int_equal(fs_attr_decode(&b, buf, len - 17, genesis_epoch), 0);
        assert_int_equal(b.vparent_known, 0);
        fs_inode_clear(&b);
        assert_int_equal(attr_decode_rc(buf, len), -EBADMSG); /* v6 with v7's tail */
        free(buf);
        /* Not known: encoded as zeros whatever the memory holds. */
        a.vparent_known = 0;
        assert_int_equal(fs_attr_encode(&a, &buf, &len), 0);
        assert_int_equal(buf[len - 17], 0);
        assert_int_equal(buf[len - 1], 0);
        assert_int_equal(attr_decode_rc(buf, len), 0);
        free(buf);
        fs_inode_clear(&a);
}

/* fs_conflict_split: NAME is a copy whose original is WANT, or (WANT NULL) not a copy. */
static void split_is(const char *name, const char *want)
{
        size_t base = 999, ext = 999;
        char orig[512];
        int r = fs_conflict_split(name, strlen(name), &base, &ext);

        if (want == NULL) {
                assert_int_equal(r, 0);
                assert_int_equal(base, 999); /* untouched */
                return;
        }
        assert_int_equal(r, 1);
        snprintf(orig, sizeof(orig), "%.*s%s", (int)base, name, name + ext);
        assert_string_equal(orig, want);
}

static void test_conflict_split(void **state)
{
        (void)state;
        split_is("doc (conflict from devA 2026-12-06 45fd8f).txt", "doc.txt");
        split_is("f (conflict from devB 2026-12-06 f0ccb2)", "f");
        split_is("a.tar (conflict from dev x 2026-01-02 0123456789ab).gz", "a.tar.gz");
        split_is(".bashrc (conflict from 1a2b3c4d unknown-date 0a0b0c)", ".bashrc");
        split_is("n (conflict from A 2026-12-06 aaaaaa) (conflict from B 2026-12-07 bbbbbb).txt",
                 "n (conflict from A 2026-12-06 aaaaaa).txt");
        split_is("doc.txt", NULL);
        split_is("doc (conflict from devA 2026-12-06 45fd8).txt", NULL);  /* 5 digits */
        split_is("doc (conflict from devA 2026-12-06 45FD8F).txt", NULL); /* upper case */
        split_is("doc (conflict from devA 2026-1206 45fd8f).txt", NULL);  /* no date */
        split_is("doc (conflict from 2026-12-06 45fd8f).txt", NULL);      /* no device */
        split_is("doc (conflict from devA 2026-12-06 45fd8f).a.b", NULL); /* two dots after */
        split_is(" (conflict from devA 2026-12-06 45fd8f)", NULL);        /* no base */
}

/* A "want" record (fs/names.c, doc/SYNC.md U4): what the encoder writes decodes back. */
static void want_encode(struct enc *e, uint64_t parent, const char *name, const char *shown)
{
        uint8_t hash[32];

        memset(hash, 0xab, sizeof(hash));
        enc_init(e);
        enc_u64(e, parent);
        enc_fixed(e, hash, 32);
        enc_var(e, name, strlen(name));
        enc_var(e, shown, strlen(shown));
}

static void test_want_decode(void **state)
{
        struct fs_want w;
        struct enc e;

        (void)state;
        want_encode(&e, 7, "f1", "f1 (conflict from devB 2026-12-06 008b90)");
        assert_int_equal(enc_error(&e), 0);
        assert_int_equal(fs_want_decode(e.buf, e.len, &w), 0);
        assert_true(w.parent == 7);
        assert_int_equal(w.hash[31], 0xab);
        assert_string_equal(w.name, "f1");
        assert_string_equal(w.shown, "f1 (conflict from devB 2026-12-06 008b90)");
        assert_int_equal(fs_want_decode(e.buf, e.len - 1, &w), -EBADMSG); /* truncated */
        enc_release(&e);
        want_encode(&e, 7, "", "x"); /* an empty name */
        assert_int_equal(fs_want_decode(e.buf, e.len, &w), -EBADMSG);
        enc_release(&e);
        enc_init(&e); /* a NUL inside a name */
        enc_u64(&e, 7);
        enc_fixed(&e, w.hash, 32);
        enc_var(&e, "a\0b", 3);
        enc_var(&e, "x", 1);
        assert_int_equal(fs_want_decode(e.buf, e.len, &w), -EBADMSG);
        enc_release(&e);
}

/* Rule 5's rank is a total order: Lamport, then author, then file id; never two ways. */
static void test_rank_order(void **state)
{
        struct fs_rank a, b;

        (void)state;
        memset(&a, 0, sizeof(a));
        memset(&b, 0, sizeof(b));
        a.lamport = 5;
        b.lamport = 4;
        b.author[0] = 0xff;
        assert_true(fs_rank_beats(&a, &b) && !fs_rank_beats(&b, &a));
        b.lamport = 5;
        assert_true(fs_rank_beats(&b, &a) && !fs_rank_beats(&a, &b));
        memcpy(a.author, b.author, 16);
        a.file_id[15] = 1;
        assert_true(fs_rank_beats(&a, &b) && !fs_rank_beats(&b, &a));
        assert_false(fs_rank_beats(&a, &a));
}

/* F17: a holder with a local change not committed yet keeps its name (rank: newest). */
static void test_rank_holder(void **state)
{
        struct fs *fs = calloc(1, sizeof(*fs));
        struct fs_inode *in = calloc(1, sizeof(*in));
        struct fs_rank r, h, other;

        (void)state;
        assert_non_null(fs);
        assert_non_null(in);
        memset(fs->device_id, 0xbb, 16);
        in->has_manifest = 1;
        in->lamport = 7;
        memset(in->author, 0xcc, 16);
        memset(&other, 0, sizeof(other));
        other.lamport = 9;
        fs_rank_of_holder(fs, in, &h);
        assert_int_equal(h.lamport, 7);
        assert_true(fs_rank_beats(&other, &h)); /* clean: its version decides */
        in->sync_dirty = 1;
        fs_rank_of_holder(fs, in, &h);
        assert_true(h.lamport == UINT64_MAX && memcmp(h.author, fs->device_id, 16) == 0);
        assert_false(fs_rank_beats(&other, &h));
        in->sync_dirty = 0;
        in->committing = 1;
        fs_rank_of_holder(fs, in, &h);
        assert_false(fs_rank_beats(&other, &h));
        fs_rank_of(fs, in, &r); /* a displaced file's own rank stays its version's */
        assert_int_equal(r.lamport, 7);
        free(in);
        free(fs);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_rangeset_basic),  cmocka_unit_test(test_rangeset_remove),
            cmocka_unit_test(test_rangeset_random), cmocka_unit_test(test_rangeset_validate),
            cmocka_unit_test(test_attr_roundtrip),  cmocka_unit_test(test_attr_rejects_bad_ranges),
            cmocka_unit_test(test_attr_special),    cmocka_unit_test(test_attr_vparent),
            cmocka_unit_test(test_conflict_split),  cmocka_unit_test(test_want_decode),
            cmocka_unit_test(test_rank_order),      cmocka_unit_test(test_rank_holder),
        };

        if (secmem_init() != 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
