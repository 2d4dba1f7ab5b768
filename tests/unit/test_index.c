/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests: sync/index (encrypted local index). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "crypto/secmem.h"
#include "sync/index.h"

static char dir[] = "/tmp/sealsync-test-index.XXXXXX";
static char path[256];
static const uint8_t root_id[16] = {1};
static const uint8_t root_attr[] = "root-attr";

static struct index *open_ix(uint8_t key_byte)
{
        uint8_t key[32], rid[32];
        struct index *ix = NULL;

        memset(key, key_byte, sizeof(key));
        memset(rid, 7, sizeof(rid));
        if (index_open(&ix, path, key, rid, root_id, root_attr, sizeof(root_attr)) != 0)
                return NULL;
        return ix;
}

struct seen {
        int n;
        char names[8][32];
        uint8_t types[8];
};

static int collect(void *arg, int64_t pos, uint64_t ino, uint8_t type, const char *name, size_t len)
{
        struct seen *s = arg;

        (void)pos;
        (void)ino;
        if (s->n < 8) {
                snprintf(s->names[s->n], sizeof(s->names[0]), "%.*s", (int)len, name);
                s->types[s->n] = type;
        }
        s->n++;
        return 0;
}

static void test_index_basic(void **state)
{
        struct index *ix = open_ix(1);
        uint8_t fid[16] = {2}, got_fid[16];
        uint8_t *attr = NULL;
        size_t alen = 0;
        uint32_t nlink = 0;
        uint64_t ino = 0, found = 0;
        struct seen s = {0};

        (void)state;
        assert_non_null(ix);
        assert_int_equal(index_inode_get(ix, INDEX_ROOT_INO, got_fid, &nlink, &attr, &alen), 0);
        assert_memory_equal(attr, root_attr, sizeof(root_attr));
        free(attr);
        assert_int_equal(index_inode_add(ix, fid, 1, (const uint8_t *)"abc", 3, &ino), 0);
        assert_true(ino > INDEX_ROOT_INO);
        assert_int_equal(index_link(ix, INDEX_ROOT_INO, "hello.txt", 9, ino, 1), 0);
        assert_int_equal(index_link(ix, INDEX_ROOT_INO, "hello.txt", 9, ino, 1), -EEXIST);
        assert_int_equal(index_lookup(ix, INDEX_ROOT_INO, "hello.txt", 9, &found), 0);
        assert_int_equal(found, ino);
        assert_int_equal(index_lookup(ix, INDEX_ROOT_INO, "Hello.txt", 9, &found), -ENOENT);
        assert_int_equal(index_dir_empty(ix, INDEX_ROOT_INO), 0);
        assert_int_equal(index_readdir(ix, INDEX_ROOT_INO, 0, collect, &s), 0);
        assert_int_equal(s.n, 1);
        assert_string_equal(s.names[0], "hello.txt");
        assert_int_equal(s.types[0], 1);
        assert_int_equal(index_commit(ix), 0);
        assert_int_equal(index_close(ix), 0);

        /* Reopen: state persisted; a different device key cannot read it. */
        ix = open_ix(1);
        assert_non_null(ix);
        assert_int_equal(index_lookup(ix, INDEX_ROOT_INO, "hello.txt", 9, &found), 0);
        assert_int_equal(index_inode_get(ix, ino, got_fid, &nlink, &attr, &alen), 0);
        assert_int_equal(alen, 3);
        free(attr);
        assert_int_equal(index_unlink(ix, INDEX_ROOT_INO, "hello.txt", 9), 0);
        assert_int_equal(index_unlink(ix, INDEX_ROOT_INO, "hello.txt", 9), -ENOENT);
        assert_int_equal(index_dir_empty(ix, INDEX_ROOT_INO), 1);
        assert_int_equal(index_close(ix), 0);

        ix = open_ix(9);
        assert_non_null(ix);
        assert_int_equal(index_inode_get(ix, INDEX_ROOT_INO, got_fid, &nlink, &attr, &alen),
                         -EBADMSG);
        assert_int_equal(index_close(ix), 0);
}

/* Names and attributes never appear in the database file in plaintext. */
static void test_index_no_plaintext(void **state)
{
        struct index *ix = open_ix(1);
        uint8_t fid[16] = {3};
        uint64_t ino;
        FILE *f;
        char *buf;
        long n;
        char wal[300];

        (void)state;
        assert_non_null(ix);
        assert_int_equal(index_inode_add(ix, fid, 1, (const uint8_t *)"ATTRMARKER", 10, &ino), 0);
        assert_int_equal(index_link(ix, INDEX_ROOT_INO, "NAMEMARKER", 10, ino, 1), 0);
        assert_int_equal(index_close(ix), 0);
        snprintf(wal, sizeof(wal), "%s", path);
        f = fopen(wal, "rb");
        assert_non_null(f);
        buf = malloc(1 << 22);
        n = (long)fread(buf, 1, 1 << 22, f);
        fclose(f);
        assert_true(n > 0);
        assert_null(memmem(buf, (size_t)n, "NAMEMARKER", 10));
        assert_null(memmem(buf, (size_t)n, "ATTRMARKER", 10));
        free(buf);
}

/* A row moved to another directory, or an entry pointed at another inode, fails. */
static void test_index_tamper(void **state)
{
        struct index *ix = open_ix(1);
        uint8_t fa[16] = {4}, fb[16] = {5};
        uint64_t a, b, found;
        sqlite3 *db;

        (void)state;
        assert_non_null(ix);
        assert_int_equal(index_inode_add(ix, fa, 1, (const uint8_t *)"a", 1, &a), 0);
        assert_int_equal(index_inode_add(ix, fb, 1, (const uint8_t *)"b", 1, &b), 0);
        assert_int_equal(index_link(ix, INDEX_ROOT_INO, "tamper-a", 8, a, 1), 0);
        assert_int_equal(index_close(ix), 0);
        assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
        assert_int_equal(sqlite3_exec(db, "UPDATE dentry SET ino = (SELECT max(ino) FROM inode)",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
        ix = open_ix(1);
        assert_non_null(ix);
        assert_int_equal(index_lookup(ix, INDEX_ROOT_INO, "tamper-a", 8, &found), -EIO);
        assert_int_equal(index_close(ix), 0);
}

static int count_cb(void *arg, uint64_t ino)
{
        (void)ino;
        (*(int *)arg)++;
        return 0;
}

static int tomb_cb(void *arg, const uint8_t *file_id, const uint8_t *state, size_t len)
{
        (void)file_id;
        (void)state;
        *(size_t *)arg += len;
        return 0;
}

/* Sync state: reverse name lookup, dirty flags, block references, tombstones. */
static void test_index_sync_state(void **state)
{
        struct index *ix = open_ix(1);
        uint8_t fid[16] = {6}, h[32], got[32];
        char name[INDEX_NAME_MAX + 1];
        uint64_t ino, parent = 0;
        size_t len = 0, tlen = 0;
        uint8_t type = 0;
        int n = 0;

        (void)state;
        assert_non_null(ix);
        assert_int_equal(index_inode_add(ix, fid, 1, (const uint8_t *)"x", 1, &ino), 0);
        assert_int_equal(index_link(ix, INDEX_ROOT_INO, "named", 5, ino, 3), 0);
        assert_int_equal(index_name_of(ix, ino, &parent, name, &len, &type), 0);
        assert_int_equal(parent, INDEX_ROOT_INO);
        assert_int_equal(len, 5);
        assert_string_equal(name, "named");
        assert_int_equal(type, 3);
        assert_int_equal(index_name_of(ix, INDEX_ROOT_INO, &parent, name, &len, &type), -ENOENT);

        assert_int_equal(index_set_dirty(ix, ino, 1), 0);
        assert_int_equal(index_for_each_dirty(ix, count_cb, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(index_set_dirty(ix, ino, 0), 0);
        n = 0;
        assert_int_equal(index_for_each_dirty(ix, count_cb, &n), 0);
        assert_int_equal(n, 0);
        {
                /* Bounded batches: a cursor past the last ino given, and whether more may follow.
                 */
                uint8_t f2[16] = {7}, f3[16] = {8};
                uint64_t i2, i3, last = 0;
                int more = -1;

                assert_int_equal(index_inode_add(ix, f2, 1, (const uint8_t *)"y", 1, &i2), 0);
                assert_int_equal(index_inode_add(ix, f3, 1, (const uint8_t *)"z", 1, &i3), 0);
                assert_true(ino < i2 && i2 < i3);
                assert_int_equal(index_set_dirty(ix, ino, 1), 0);
                assert_int_equal(index_set_dirty(ix, i3, 1), 0);
                assert_int_equal(index_for_each_dirty_after(ix, 0, 1, count_cb, &n, &last, &more),
                                 0);
                assert_int_equal(n, 1);
                assert_int_equal(last, ino);
                assert_int_equal(more, 1);
                assert_int_equal(
                    index_for_each_dirty_after(ix, last, 1, count_cb, &n, &last, &more), 0);
                assert_int_equal(n, 2);
                assert_int_equal(last, i3);
                assert_int_equal(more, 1);
                assert_int_equal(
                    index_for_each_dirty_after(ix, last, 1, count_cb, &n, &last, &more), 0);
                assert_int_equal(n, 2);
                assert_int_equal(last, i3);
                assert_int_equal(more, 0);
                assert_int_equal(index_for_each_dirty_after(ix, 0, 0, count_cb, &n, &last, &more),
                                 -EINVAL);
                assert_int_equal(index_set_dirty(ix, ino, 0), 0);
                assert_int_equal(index_inode_delete(ix, i2), 0);
                assert_int_equal(index_inode_delete(ix, i3), 0);
                n = 0;
        }

        memset(h, 0x5a, sizeof(h));
        assert_int_equal(index_blockref_get(ix, ino, 3, got), -ENOENT);
        assert_int_equal(index_blockref_put(ix, ino, 3, h), 0);
        assert_int_equal(index_blockref_put(ix, ino, 9, h), 0);
        assert_int_equal(index_blockref_get(ix, ino, 3, got), 0);
        assert_memory_equal(got, h, 32);
        assert_int_equal(index_blockref_truncate(ix, ino, 4), 0);
        assert_int_equal(index_blockref_get(ix, ino, 9, got), -ENOENT);
        assert_int_equal(index_blockref_get(ix, ino, 3, got), 0);
        assert_int_equal(index_inode_delete(ix, ino), 0);
        assert_int_equal(index_blockref_get(ix, ino, 3, got), -ENOENT);

        assert_int_equal(index_tomb_add(ix, fid, (const uint8_t *)"vv", 2), 0);
        assert_int_equal(index_for_each_tomb(ix, tomb_cb, &tlen), 0);
        assert_int_equal(tlen, 2);
        assert_int_equal(index_tomb_remove(ix, fid), 0);
        tlen = 0;
        assert_int_equal(index_for_each_tomb(ix, tomb_cb, &tlen), 0);
        assert_int_equal(tlen, 0);
        assert_int_equal(index_close(ix), 0);
}

struct committer {
        struct index *ix;
        int rc;
        volatile int done;
};

static void *commit_thread(void *arg)
{
        struct committer *c = arg;

        c->rc = index_commit(c->ix);
        c->done = 1;
        return NULL;
}

/* index_commit from another thread waits for an open savepoint (review item 4). */
static void test_index_commit_waits_for_savepoint(void **state)
{
        struct index *ix = open_ix(1);
        struct committer c = {ix, -1, 0};
        uint8_t v[1] = {1}, got[1];
        size_t len = 0;
        pthread_t t;

        (void)state;
        assert_non_null(ix);
        assert_int_equal(index_savepoint(ix, 0), 0);
        assert_int_equal(index_savepoint(ix, 0), -EINVAL); /* not nested */
        assert_int_equal(index_commit(ix), -EDEADLK);      /* its own savepoint */
        assert_int_equal(index_meta_put(ix, "sp-test", v, 1), 0);
        assert_int_equal(pthread_create(&t, NULL, commit_thread, &c), 0);
        usleep(100 * 1000);
        assert_int_equal(c.done, 0); /* waiting: a COMMIT now would break the savepoint */
        assert_int_equal(index_savepoint(ix, 1), 0);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(c.rc, 0);
        assert_int_equal(index_savepoint(ix, 2), -EINVAL); /* none open */
        /* A rolled-back savepoint also wakes waiters and leaves nothing behind. */
        assert_int_equal(index_savepoint(ix, 0), 0);
        v[0] = 2;
        assert_int_equal(index_meta_put(ix, "sp-test", v, 1), 0);
        assert_int_equal(index_savepoint(ix, 2), 0);
        assert_int_equal(index_commit(ix), 0);
        assert_int_equal(index_close(ix), 0);
        ix = open_ix(1);
        assert_non_null(ix);
        assert_int_equal(index_meta_get(ix, "sp-test", got, 1, &len), 0);
        assert_int_equal(got[0], 1);
        assert_int_equal(index_close(ix), 0);
}

static int setup(void **state)
{
        (void)state;
        if (mkdtemp(dir) == NULL)
                return -1;
        snprintf(path, sizeof(path), "%s/index.db", dir);
        return 0;
}

static int teardown(void **state)
{
        char cmd[300];

        (void)state;
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

/* Lasting alarms (A1): recorded once per (kind, device, seq, object), listed, cleared. */
static int count_alarm(void *arg, const struct index_alarm *a)
{
        int64_t *ids = arg;

        assert_true(a->id > 0);
        ids[ids[0] + 1] = a->id;
        ids[0]++;
        return 0;
}

static void test_index_alarms(void **state)
{
        struct index *ix = open_ix(3);
        struct index_alarm a;
        int64_t id1 = 0, id2 = 0, again = 0, ids[8];
        unsigned n = 9;

        (void)state;
        assert_non_null(ix);
        memset(&a, 0, sizeof(a));
        a.time = 1700000000;
        snprintf(a.kind, sizeof(a.kind), "equivocation");
        snprintf(a.device, sizeof(a.device), "%032x", 0xab);
        a.seq = 5;
        snprintf(a.object, sizeof(a.object), "r/journal/d/0000000000000005-aa");
        snprintf(a.detail, sizeof(a.detail), "two entries at one seq");
        a.holds = 1;
        assert_int_equal(index_alarm_add(ix, &a, &id1), 0);
        assert_int_equal(index_alarm_add(ix, &a, &again), 0);
        assert_int_equal(again, id1); /* the same alarm, not a second row */
        a.seq = 6;
        assert_int_equal(index_alarm_add(ix, &a, &id2), 0);
        assert_true(id2 > id1);
        assert_int_equal(index_close(ix), 0);
        /* Not mounted: read and cleared without the keys. */
        memset(ids, 0, sizeof(ids));
        assert_int_equal(index_alarm_list_at(path, count_alarm, ids), 0);
        assert_int_equal(ids[0], 2);
        assert_int_equal(ids[1], id1);
        assert_int_equal(index_alarm_clear_at(path, id2 + 10, &n), -ENOENT);
        assert_int_equal(index_alarm_clear_at(path, id1, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(index_alarm_clear_at(path, id1, &n), -ENOENT);
        ix = open_ix(3);
        assert_non_null(ix);
        memset(ids, 0, sizeof(ids));
        assert_int_equal(index_alarm_list(ix, count_alarm, ids), 0);
        assert_int_equal(ids[0], 1);
        assert_int_equal(ids[1], id2);
        /* While it is open (mounted), another writer is refused, a reader is not. */
        assert_int_equal(index_alarm_clear_at(path, 0, &n), -EBUSY);
        memset(ids, 0, sizeof(ids));
        assert_int_equal(index_alarm_list_at(path, count_alarm, ids), 0);
        assert_int_equal(index_alarm_clear(ix, 0, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(index_close(ix), 0);
        memset(ids, 0, sizeof(ids));
        assert_int_equal(index_alarm_list_at(path, count_alarm, ids), 0);
        assert_int_equal(ids[0], 0);
        unlink(path);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_index_basic),
            cmocka_unit_test(test_index_no_plaintext),
            cmocka_unit_test(test_index_tamper),
            cmocka_unit_test(test_index_sync_state),
            cmocka_unit_test(test_index_commit_waits_for_savepoint),
            cmocka_unit_test(test_index_alarms),
        };

        if (secmem_init() != 0)
                return 1;
        return cmocka_run_group_tests(tests, setup, teardown);
}
