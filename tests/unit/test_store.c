/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for sync/store.c and the file:// backend: URL parsing, key
 * validation, put/get/get_range/list/del semantics.  Run from the repo root.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sync/store.h"
#include "util/hex.h"
#include "util/log.h"

struct fixture {
        char dir[256];
        char url[300];
        struct store *s;
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        char path[300];

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "%s", "/tmp/test_store.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->url, sizeof(f->url), "file://%s/store", f->dir);
        assert_int_equal(store_open(f->url, &f->s), 0);
        snprintf(path, sizeof(path), "%s/store", f->dir);
        assert_int_equal(mkdir(path, 0700), 0);  /* a store exists once created */
        assert_int_equal(store_create(f->s), 0); /* and marked (puts need the marker) */
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;
        char cmd[300];

        store_close(f->s);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static void put(struct store *s, const char *key, const char *val)
{
        assert_int_equal(s->ops->put(s, key, val, strlen(val), 0), 0);
}

/* Collects listed keys as "key:size," into a string. */
struct collect {
        char out[4096];
        int stop_after; /* stop (return 7) after this many, 0 = never */
        int count;
};

static int collect_cb(void *arg, const char *key, uint64_t size)
{
        struct collect *c = arg;
        size_t n = strlen(c->out);

        snprintf(c->out + n, sizeof(c->out) - n, "%s:%llu,", key, (unsigned long long)size);
        c->count++;
        return c->stop_after != 0 && c->count >= c->stop_after ? 7 : 0;
}

static const char *list(struct store *s, const char *prefix, const char *after)
{
        static struct collect c;

        memset(&c, 0, sizeof(c));
        assert_int_equal(s->ops->list(s, prefix, after, collect_cb, &c), 0);
        return c.out;
}

/* ---- keys and URLs ----------------------------------------------------- */

static void test_key_valid(void **state)
{
        char big[600];

        (void)state;
        assert_true(store_key_valid("a"));
        assert_true(store_key_valid("abc/members/0000000000000000-ff"));
        assert_true(store_key_valid("p/0-9"));
        assert_false(store_key_valid(""));
        assert_false(store_key_valid("/a"));
        assert_false(store_key_valid("a/"));
        assert_false(store_key_valid("a//b"));
        assert_false(store_key_valid("a/../b"));
        assert_false(store_key_valid(".."));
        assert_false(store_key_valid("a/./b"));
        assert_false(store_key_valid("A"));
        assert_false(store_key_valid("a b"));
        assert_false(store_key_valid("a_b"));
        assert_false(store_key_valid("a.tmp"));
        memset(big, 'a', sizeof(big));
        big[512] = '\0';
        assert_true(store_key_valid(big));
        big[512] = 'a';
        big[513] = '\0';
        assert_false(store_key_valid(big));
}

static void test_url_parsing(void **state)
{
        struct store *s = NULL;

        (void)state;
        assert_int_equal(store_open("file:///tmp/x", &s), 0);
        store_close(s);
        s = NULL;
        assert_int_equal(store_open("file:///tmp/x/", &s), 0);
        store_close(s);
        s = NULL;
        assert_int_equal(store_open("FILE:///tmp/x", &s), 0);
        store_close(s);
        s = NULL;
        assert_int_equal(store_open("file://host/tmp/x", &s), -EINVAL);
        assert_int_equal(store_open("file://", &s), -EINVAL);
        assert_int_equal(store_open("file:relative", &s), -EINVAL);
        /* Valid s3:// URLs open without contacting anything (credentials from env). */
        setenv("AWS_ACCESS_KEY_ID", "k", 1);
        setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
        {
                static const char *const ok_urls[] = {"s3://my-bucket", "s3://my-bucket/",
                                                      "s3://my.bucket.example/some/prefix",
                                                      "s3://my-bucket/Pre_fix/v1.0/"};
                for (size_t i = 0; i < sizeof(ok_urls) / sizeof(ok_urls[0]); i++) {
                        s = NULL;
                        assert_int_equal(store_open(ok_urls[i], &s), 0);
                        store_close(s);
                }
                s = NULL;
        }
        assert_int_equal(store_open("s3://", &s), -EINVAL);
        assert_int_equal(store_open("s3://ab", &s), -EINVAL);
        assert_int_equal(store_open("s3://My-Bucket", &s), -EINVAL);
        assert_int_equal(store_open("s3://-bucket", &s), -EINVAL);
        assert_int_equal(store_open("s3://bucket-", &s), -EINVAL);
        assert_int_equal(store_open("s3://a..b", &s), -EINVAL);
        assert_int_equal(store_open("s3://192.168.1.1", &s), -EINVAL);
        assert_int_equal(store_open("s3://key:secret@bucket", &s), -EINVAL);
        assert_int_equal(store_open("s3://bucket//x", &s), -EINVAL);
        assert_int_equal(store_open("s3://bucket/a//b", &s), -EINVAL);
        assert_int_equal(store_open("s3://bucket/a/../b", &s), -EINVAL);
        assert_int_equal(store_open("s3://bucket/a/./b", &s), -EINVAL);
        assert_int_equal(store_open("s3://bucket/a b", &s), -EINVAL);
        assert_int_equal(store_open("http://example.com/x", &s), -EINVAL);
        assert_int_equal(store_open("/tmp/x", &s), -EINVAL);
        assert_int_equal(store_open("", &s), -EINVAL);
        assert_null(s);
}

/* ---- objects ----------------------------------------------------------- */

static void test_put_get(void **state)
{
        struct fixture *f = *state;
        struct store *s = f->s;
        uint8_t *buf = NULL;
        size_t len = 0;
        char path[600];
        struct stat st;

        put(s, "r/members/0001-aa", "hello");
        assert_int_equal(s->ops->get(s, "r/members/0001-aa", 100, &buf, &len), 0);
        assert_int_equal(len, 5);
        assert_memory_equal(buf, "hello", 5);
        free(buf);
        buf = NULL;
        /* Replace (not if_absent). */
        put(s, "r/members/0001-aa", "bye");
        assert_int_equal(s->ops->get(s, "r/members/0001-aa", 3, &buf, &len), 0);
        assert_int_equal(len, 3);
        assert_memory_equal(buf, "bye", 3);
        free(buf);
        buf = NULL;
        assert_int_equal(s->ops->get(s, "r/members/0001-aa", 2, &buf, &len), -EFBIG);
        assert_int_equal(s->ops->get(s, "r/members/none", 100, &buf, &len), -ENOENT);
        /* A "directory" is not an object. */
        assert_int_equal(s->ops->get(s, "r/members", 100, &buf, &len), -ENOENT);
        assert_int_equal(s->ops->get(s, "r/members/0001-aa/x", 100, &buf, &len), -ENOENT);
        assert_null(buf);
        /* Empty objects exist. */
        assert_int_equal(s->ops->put(s, "empty", "", 0, 1), 0);
        assert_int_equal(s->ops->get(s, "empty", 0, &buf, &len), 0);
        assert_int_equal(len, 0);
        free(buf);
        /* Private files. */
        snprintf(path, sizeof(path), "%s/store/r/members/0001-aa", f->dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_if_absent(void **state)
{
        struct fixture *f = *state;
        struct store *s = f->s;
        uint8_t *buf = NULL;
        size_t len = 0;

        assert_int_equal(s->ops->put(s, "a/b", "one", 3, 1), 0);
        assert_int_equal(s->ops->put(s, "a/b", "two", 3, 1), -EEXIST);
        assert_int_equal(s->ops->get(s, "a/b", 10, &buf, &len), 0);
        assert_memory_equal(buf, "one", 3);
        free(buf);
        /* No temporary file is left behind. */
        assert_string_equal(list(s, "", NULL), "a/b:3,sealsync-store:17,");
        {
                char cmd[400];

                snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s/store/a' | grep -v '^b$')\"",
                         f->dir);
                assert_int_equal(system(cmd), 0);
        }
}

static void test_get_range(void **state)
{
        struct fixture *f = *state;
        struct store *s = f->s;
        uint8_t buf[8];

        put(s, "p/0", "0123456789");
        assert_int_equal(s->ops->get_range(s, "p/0", 2, 3, buf), 0);
        assert_memory_equal(buf, "234", 3);
        assert_int_equal(s->ops->get_range(s, "p/0", 0, 0, buf), 0);
        assert_int_equal(s->ops->get_range(s, "p/0", 8, 2, buf), 0);
        assert_memory_equal(buf, "89", 2);
        assert_int_equal(s->ops->get_range(s, "p/0", 8, 3, buf), -EIO);
        assert_int_equal(s->ops->get_range(s, "p/0", 100, 1, buf), -EIO);
        assert_int_equal(s->ops->get_range(s, "p/0", UINT64_MAX, 1, buf), -EINVAL);
        assert_int_equal(s->ops->get_range(s, "p/1", 0, 1, buf), -ENOENT);
        assert_int_equal(s->ops->get_range(s, "p", 0, 1, buf), -ENOENT);
}

static void test_list_order(void **state)
{
        struct fixture *f = *state;
        struct store *s = f->s;

        assert_string_equal(list(s, "", NULL), "sealsync-store:17,"); /* only the marker yet */
        /* '-' (0x2d) < '/' (0x2f) < '0': "a-b" sorts between "a" entries and "a/...". */
        put(s, "a/x", "1");
        put(s, "a-b", "22");
        put(s, "a0", "333");
        put(s, "a/a/z", "4444");
        put(s, "b", "");
        put(s, "a/y", "5");
        assert_string_equal(list(s, "", NULL),
                            "a-b:2,a/a/z:4,a/x:1,a/y:1,a0:3,b:0,sealsync-store:17,");
        assert_string_equal(list(s, NULL, NULL),
                            "a-b:2,a/a/z:4,a/x:1,a/y:1,a0:3,b:0,sealsync-store:17,");
        /* Prefixes are string prefixes, not directories. */
        assert_string_equal(list(s, "a/", NULL), "a/a/z:4,a/x:1,a/y:1,");
        assert_string_equal(list(s, "a", NULL), "a-b:2,a/a/z:4,a/x:1,a/y:1,a0:3,");
        assert_string_equal(list(s, "a/a", NULL), "a/a/z:4,");
        assert_string_equal(list(s, "a/a/", NULL), "a/a/z:4,");
        assert_string_equal(list(s, "c", NULL), "");
        assert_string_equal(list(s, "a/q/r", NULL), "");
        /* start_after. */
        assert_string_equal(list(s, "", "a-b"), "a/a/z:4,a/x:1,a/y:1,a0:3,b:0,sealsync-store:17,");
        assert_string_equal(list(s, "", "a/a"), "a/a/z:4,a/x:1,a/y:1,a0:3,b:0,sealsync-store:17,");
        assert_string_equal(list(s, "", "a/a/z"), "a/x:1,a/y:1,a0:3,b:0,sealsync-store:17,");
        assert_string_equal(list(s, "", "a/x"), "a/y:1,a0:3,b:0,sealsync-store:17,");
        assert_string_equal(list(s, "", "a/zzz"), "a0:3,b:0,sealsync-store:17,");
        assert_string_equal(list(s, "a/", "a/x"), "a/y:1,");
        assert_string_equal(list(s, "", "b"), "sealsync-store:17,");
        assert_string_equal(list(s, "", ""),
                            "a-b:2,a/a/z:4,a/x:1,a/y:1,a0:3,b:0,sealsync-store:17,");
        assert_string_equal(list(s, "", "0"),
                            "a-b:2,a/a/z:4,a/x:1,a/y:1,a0:3,b:0,sealsync-store:17,");
}

static void test_list_junk_and_stop(void **state)
{
        struct fixture *f = *state;
        struct store *s = f->s;
        struct collect c;
        char path[600];
        FILE *fp;

        put(s, "k/1", "x");
        put(s, "k/2", "x");
        put(s, "k/3", "x");
        /* Junk the backend did not write is skipped. */
        snprintf(path, sizeof(path), "%s/store/k/.tmp-abcdef", f->dir);
        fp = fopen(path, "w");
        assert_non_null(fp);
        fclose(fp);
        snprintf(path, sizeof(path), "%s/store/k/UPPER", f->dir);
        fp = fopen(path, "w");
        assert_non_null(fp);
        fclose(fp);
        snprintf(path, sizeof(path), "%s/store/k/link", f->dir);
        assert_int_equal(symlink("/etc/passwd", path), 0);
        assert_string_equal(list(s, "k/", NULL), "k/1:1,k/2:1,k/3:1,");
        /* A symlink is not an object. */
        {
                uint8_t *buf = NULL;
                size_t len = 0;

                assert_int_equal(s->ops->get(s, "k/link", 1 << 20, &buf, &len), -ENOENT);
        }
        /* A non-zero callback return stops the listing and is returned. */
        memset(&c, 0, sizeof(c));
        c.stop_after = 2;
        assert_int_equal(s->ops->list(s, "k/", NULL, collect_cb, &c), 7);
        assert_string_equal(c.out, "k/1:1,k/2:1,");
        /* Bad prefixes. */
        assert_int_equal(s->ops->list(s, "/k", NULL, collect_cb, &c), -EINVAL);
        assert_int_equal(s->ops->list(s, "K", NULL, collect_cb, &c), -EINVAL);
        assert_int_equal(s->ops->list(s, "k//", NULL, collect_cb, &c), -EINVAL);
        assert_int_equal(s->ops->list(s, "../", NULL, collect_cb, &c), -EINVAL);
}

/* A root that is gone (unmounted share, renamed) is a missing store, not an empty one. */
static void test_root_gone(void **state)
{
        struct fixture *f = *state;
        struct collect c;
        uint8_t *buf = NULL, b[4];
        size_t len = 0;
        char path[300];
        struct stat st;

        put(f->s, "r/x", "1");
        snprintf(path, sizeof(path), "rm -rf '%s/store'", f->dir);
        assert_int_equal(system(path), 0);
        memset(&c, 0, sizeof(c));
        assert_int_equal(f->s->ops->list(f->s, "r/", NULL, collect_cb, &c), -ENOMEDIUM);
        assert_int_equal(f->s->ops->get(f->s, "r/x", 16, &buf, &len), -ENOMEDIUM);
        assert_int_equal(f->s->ops->get_range(f->s, "r/x", 0, 1, b), -ENOMEDIUM);
        assert_int_equal(f->s->ops->del(f->s, "r/x"), -ENOMEDIUM);
        /* Never recreated by a put (S1). */
        assert_int_equal(f->s->ops->put(f->s, "r/y", "2", 1, 0), -ENOMEDIUM);
        assert_int_equal(f->s->ops->put(f->s, "top", "2", 1, 1), -ENOMEDIUM);
        snprintf(path, sizeof(path), "%s/store", f->dir);
        assert_int_equal(stat(path, &st), -1);
        /* A regular file in its place: the same. */
        assert_int_equal(close(open(path, O_CREAT | O_WRONLY, 0600)), 0);
        assert_int_equal(f->s->ops->list(f->s, "", NULL, collect_cb, &c), -ENOMEDIUM);
        assert_true(f->s->ops->put(f->s, "r/y", "2", 1, 0) < 0);
        assert_int_equal(c.count, 0);
}

/* The store marker (doc/SYNC.md S1): create, check, migration, missing. */
static void test_marker(void **state)
{
        struct fixture *f = *state;
        uint8_t region[32], genesis[32], other[32], *buf = NULL;
        char key[200], rhex[65], ghex[65], path[300];
        size_t len = 0;
        struct stat st;

        memset(region, 0x5a, 32);
        memset(genesis, 0x6b, 32);
        memset(other, 0x7c, 32);
        hex_encode(rhex, region, 32);
        hex_encode(ghex, genesis, 32);
        snprintf(key, sizeof(key), "%s/members/0000000000000000-%s", rhex, ghex);
        /* An empty, unmarked store: no GENESIS, and no put goes in. */
        assert_int_equal(f->s->ops->del(f->s, STORE_MARKER_KEY), 0);
        assert_int_equal(store_check(f->s, region, genesis), -ENOMEDIUM);
        assert_int_equal(store_check(f->s, region, NULL), -ENOMEDIUM);
        assert_int_equal(f->s->ops->get(f->s, STORE_MARKER_KEY, 64, &buf, &len), -ENOENT);
        assert_int_equal(f->s->ops->put(f->s, key, "genesis", 7, 1), -ENOMEDIUM);
        assert_string_equal(list(f->s, "", NULL), "");
        /* Made before markers (GENESIS, no marker): the open marks it. */
        assert_int_equal(store_create(f->s), 0);
        put(f->s, key, "genesis");
        assert_int_equal(f->s->ops->del(f->s, STORE_MARKER_KEY), 0);
        assert_int_equal(store_check(f->s, region, genesis), 0);
        assert_int_equal(f->s->ops->get(f->s, STORE_MARKER_KEY, 64, &buf, &len), 0);
        assert_int_equal(len, strlen(STORE_MARKER));
        assert_memory_equal(buf, STORE_MARKER, len);
        free(buf);
        assert_int_equal(store_check(f->s, region, NULL), 0);
        /* A marker without the region: not this region's store. */
        assert_int_equal(store_check(f->s, other, NULL), -ENOMEDIUM);
        assert_int_equal(store_check(f->s, region, other), -ENOMEDIUM);
        /* create on a marked store keeps it; on a foreign marker it refuses. */
        assert_int_equal(store_create(f->s), 0);
        assert_int_equal(f->s->ops->put(f->s, STORE_MARKER_KEY, "x", 1, 0), 0);
        assert_int_equal(store_create(f->s), -ENOMEDIUM);
        assert_int_equal(store_check(f->s, region, genesis), -ENOMEDIUM);
        /* A root that is gone: only store_create makes it again. */
        snprintf(path, sizeof(path), "rm -rf '%s/store'", f->dir);
        assert_int_equal(system(path), 0);
        assert_int_equal(store_check(f->s, region, genesis), -ENOMEDIUM);
        snprintf(path, sizeof(path), "%s/store", f->dir);
        assert_int_equal(stat(path, &st), -1);
        assert_int_equal(store_create(f->s), 0);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(f->s->ops->get(f->s, STORE_MARKER_KEY, 64, &buf, &len), 0);
        assert_memory_equal(buf, STORE_MARKER, len);
        free(buf);
}

static void test_del(void **state)
{
        struct fixture *f = *state;
        struct store *s = f->s;
        uint8_t *buf = NULL;
        size_t len = 0;

        put(s, "d/1", "x");
        assert_int_equal(s->ops->del(s, "d/1"), 0);
        assert_int_equal(s->ops->del(s, "d/1"), -ENOENT);
        assert_int_equal(s->ops->del(s, "d"), -ENOENT);
        assert_int_equal(s->ops->del(s, "nothing/here"), -ENOENT);
        assert_int_equal(s->ops->get(s, "d/1", 10, &buf, &len), -ENOENT);
        assert_string_equal(list(s, "", NULL), "sealsync-store:17,");
        /* Put again after delete. */
        assert_int_equal(s->ops->put(s, "d/1", "y", 1, 1), 0);
        assert_string_equal(list(s, "", NULL), "d/1:1,sealsync-store:17,");
}

static void test_bad_keys(void **state)
{
        struct fixture *f = *state;
        struct store *s = f->s;
        static const char *bad[] = {"", "/abs", "../x", "a/../../x", "a//b", "a/", "A", "a.b"};
        uint8_t *buf = NULL, one[1];
        size_t len = 0, i;

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(s->ops->put(s, bad[i], "x", 1, 0), -EINVAL);
                assert_int_equal(s->ops->get(s, bad[i], 10, &buf, &len), -EINVAL);
                assert_int_equal(s->ops->get_range(s, bad[i], 0, 1, one), -EINVAL);
                assert_int_equal(s->ops->del(s, bad[i]), -EINVAL);
        }
        assert_string_equal(list(s, "", NULL), "sealsync-store:17,");
        /* A key under an existing object. */
        put(s, "o", "x");
        assert_int_equal(s->ops->put(s, "o/p", "x", 1, 0), -ENOTDIR);
        assert_null(buf);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_key_valid),
            cmocka_unit_test(test_url_parsing),
            cmocka_unit_test_setup_teardown(test_put_get, setup, teardown),
            cmocka_unit_test_setup_teardown(test_if_absent, setup, teardown),
            cmocka_unit_test_setup_teardown(test_get_range, setup, teardown),
            cmocka_unit_test_setup_teardown(test_list_order, setup, teardown),
            cmocka_unit_test_setup_teardown(test_list_junk_and_stop, setup, teardown),
            cmocka_unit_test_setup_teardown(test_del, setup, teardown),
            cmocka_unit_test_setup_teardown(test_root_gone, setup, teardown),
            cmocka_unit_test_setup_teardown(test_marker, setup, teardown),
            cmocka_unit_test_setup_teardown(test_bad_keys, setup, teardown),
        };

        log_init("test_store", LOG_LEVEL_ERR);
        log_quiet_stderr(); /* the failures under test log errors by design */
        return cmocka_run_group_tests(tests, NULL, NULL);
}
