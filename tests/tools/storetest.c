/* SPDX-License-Identifier: Apache-2.0 */
/*
 * storetest: conformance test of an object store against store.h's
 * contract, for any URL (file://, s3://).  Prints TAP; exits 0 only if
 * every test passed.
 *
 *   storetest [-n KEYS] URL   the whole suite under a fresh random prefix
 *                             "storetest-XXXXXXXX/" (removed at the end);
 *                             KEYS (default 1100, over S3's 1000-key page)
 *                             objects for the listing tests
 *   storetest --probe URL     one get, put and list; prints "OP: 0" or
 *                             "OP: -ENAME (strerror)" for each and exits 0
 *                             only if all three succeeded; for the error
 *                             mapping tests (denied, missing bucket, down)
 *   storetest --big MIB URL   one put (if absent, as the pusher does) of MIB
 *                             MiB + 12345 random bytes at a fresh key, then
 *                             a get compared byte for byte, then del; prints
 *                             "key: K", "put: 0", "put seconds: S", "get:
 *                             0", "bytes: same"
 *                             (or the errors) and exits 0 only if the object
 *                             came back whole; for multipart under faults
 *   storetest --big-named MIB URL  the same with a STORE_PUT_NAMED put (a
 *                             pack's: doc/SYNC.md D6)
 *
 * The large-object test (20 MiB + 12345 bytes) crosses the S3 backend's
 * multipart threshold and part boundaries.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/secmem.h"
#include "crypto/sha256.h"
#include "sync/store.h"
#include "util/log.h"

#define ST_BIG (20u * 1024 * 1024 + 12345)
#define ST_THREADS 4

static int st_n, st_failed;
static char st_run[32]; /* "storetest-XXXXXXXX/" */

static void ok(int cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void ok(int cond, const char *fmt, ...)
{
        va_list ap;

        st_n++;
        if (!cond)
                st_failed++;
        printf("%sok %d - ", cond ? "" : "not ", st_n);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        fflush(stdout);
}

static const char *errname(int rc)
{
        static char buf[32];

        switch (rc) {
        case 0:
                return "0";
        case -ENOENT:
                return "-ENOENT";
        case -EEXIST:
                return "-EEXIST";
        case -EACCES:
                return "-EACCES";
        case -EAGAIN:
                return "-EAGAIN";
        case -EINVAL:
                return "-EINVAL";
        case -EIO:
                return "-EIO";
        case -EFBIG:
                return "-EFBIG";
        case -ENOTSUP:
                return "-ENOTSUP";
        case -ENOMEM:
                return "-ENOMEM";
        default:
                snprintf(buf, sizeof(buf), "%d", rc);
                return buf;
        }
}

/* is(RC, WANT, what): one test point comparing return codes. */
static void is_rc(int rc, int want, const char *what)
{
        st_n++;
        if (rc != want)
                st_failed++;
        printf("%sok %d - %s: %s", rc == want ? "" : "not ", st_n, what, errname(want));
        if (rc != want)
                printf(" (got %s)", errname(rc));
        printf("\n");
        fflush(stdout);
}

static void key(char *out, size_t n, const char *rel)
{
        snprintf(out, n, "%s%s", st_run, rel);
}

static double now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------- listing */

struct collect {
        char **keys;
        uint64_t *sizes;
        size_t n, cap;
        int stop_after; /* return 7 after this many keys (0: never) */
        int in_order;
};

static int collect_cb(void *arg, const char *k, uint64_t size)
{
        struct collect *c = arg;

        if (c->n == c->cap) {
                c->cap = c->cap ? 2 * c->cap : 64;
                c->keys = realloc(c->keys, c->cap * sizeof(*c->keys));
                c->sizes = realloc(c->sizes, c->cap * sizeof(*c->sizes));
                if (c->keys == NULL || c->sizes == NULL)
                        abort();
        }
        if (c->n > 0 && strcmp(c->keys[c->n - 1], k) >= 0)
                c->in_order = 0;
        c->keys[c->n] = strdup(k);
        c->sizes[c->n] = size;
        c->n++;
        return c->stop_after > 0 && (int)c->n == c->stop_after ? 7 : 0;
}

static void collect_free(struct collect *c)
{
        size_t i;

        for (i = 0; i < c->n; i++)
                free(c->keys[i]);
        free(c->keys);
        free(c->sizes);
        memset(c, 0, sizeof(*c));
        c->in_order = 1;
}

static int do_list(struct store *s, const char *prefix, const char *start_after, struct collect *c)
{
        collect_free(c);
        return s->ops->list(s, prefix, start_after, collect_cb, c);
}

/* --------------------------------------------------------- bulk put/del */

struct bulk {
        struct store *s;
        int del;
        long n;
        long next;
        int failures;
        int first_rc;
        pthread_mutex_t lock;
};

static void many_key(char *out, size_t n, long i)
{
        char rel[64];

        snprintf(rel, sizeof(rel), "many/k%06ld", i);
        key(out, n, rel);
}

static void *bulk_worker(void *arg)
{
        struct bulk *b = arg;
        char k[128], v[32];
        long i;
        int rc;

        for (;;) {
                pthread_mutex_lock(&b->lock);
                i = b->next++;
                pthread_mutex_unlock(&b->lock);
                if (i >= b->n)
                        break;
                many_key(k, sizeof(k), i);
                if (b->del) {
                        rc = b->s->ops->del(b->s, k);
                } else {
                        snprintf(v, sizeof(v), "v%ld", i);
                        rc = b->s->ops->put(b->s, k, v, strlen(v), 0);
                }
                if (rc != 0) {
                        pthread_mutex_lock(&b->lock);
                        if (b->failures++ == 0)
                                b->first_rc = rc;
                        pthread_mutex_unlock(&b->lock);
                }
        }
        return NULL;
}

static int bulk(struct store *s, long n, int del)
{
        pthread_t t[ST_THREADS];
        struct bulk b;
        int i;

        memset(&b, 0, sizeof(b));
        b.s = s;
        b.n = n;
        b.del = del;
        pthread_mutex_init(&b.lock, NULL);
        for (i = 0; i < ST_THREADS; i++)
                if (pthread_create(&t[i], NULL, bulk_worker, &b) != 0)
                        abort();
        for (i = 0; i < ST_THREADS; i++)
                pthread_join(t[i], NULL);
        pthread_mutex_destroy(&b.lock);
        return b.failures ? b.first_rc : 0;
}

/* ---------------------------------------------------------------- tests */

static void test_basic(struct store *s)
{
        char k1[128], k2[128], k3[128];
        uint8_t *buf = NULL, rb[16];
        size_t len = 0;
        int rc;

        key(k1, sizeof(k1), "basic/one");
        key(k2, sizeof(k2), "basic/two");
        key(k3, sizeof(k3), "basic/missing");
        is_rc(s->ops->put(s, k1, "hello, store", 12, 0), 0, "put");
        rc = s->ops->get(s, k1, 1024, &buf, &len);
        is_rc(rc, 0, "get");
        ok(rc == 0 && len == 12 && memcmp(buf, "hello, store", 12) == 0,
           "get returns the bytes put");
        free(buf);
        buf = NULL;
        is_rc(s->ops->get(s, k1, 11, &buf, &len), -EFBIG, "get with max below the size");
        rc = s->ops->get(s, k1, 12, &buf, &len);
        is_rc(rc, 0, "get with max equal to the size");
        free(buf);
        buf = NULL;
        is_rc(s->ops->put(s, k1, "second version", 14, 0), 0, "put over an existing object");
        rc = s->ops->get(s, k1, 1024, &buf, &len);
        ok(rc == 0 && len == 14 && memcmp(buf, "second version", 14) == 0,
           "get returns the new version");
        free(buf);
        buf = NULL;
        is_rc(s->ops->put(s, k1, "third", 5, 1), -EEXIST, "put if_absent over an existing object");
        rc = s->ops->get(s, k1, 1024, &buf, &len);
        ok(rc == 0 && len == 14 && memcmp(buf, "second version", 14) == 0,
           "the existing object is unchanged");
        free(buf);
        buf = NULL;
        is_rc(s->ops->put(s, k2, "", 0, 1), 0, "put if_absent of a new (empty) object");
        rc = s->ops->get(s, k2, 1024, &buf, &len);
        ok(rc == 0 && len == 0 && buf != NULL, "get of an empty object");
        free(buf);
        buf = NULL;
        is_rc(s->ops->get(s, k3, 1024, &buf, &len), -ENOENT, "get of a missing key");

        /* get_range on "second version" */
        memset(rb, 0, sizeof(rb));
        rc = s->ops->get_range(s, k1, 7, 7, rb);
        ok(rc == 0 && memcmp(rb, "version", 7) == 0, "get_range of the last 7 bytes (rc %s)",
           errname(rc));
        rc = s->ops->get_range(s, k1, 0, 6, rb);
        ok(rc == 0 && memcmp(rb, "second", 6) == 0, "get_range at offset 0 (rc %s)", errname(rc));
        is_rc(s->ops->get_range(s, k1, 10, 5, rb), -EIO, "get_range past the end");
        is_rc(s->ops->get_range(s, k1, 100, 1, rb), -EIO, "get_range wholly past the end");
        is_rc(s->ops->get_range(s, k1, 14, 0, rb), 0, "get_range of 0 bytes at the end");
        is_rc(s->ops->get_range(s, k3, 0, 1, rb), -ENOENT, "get_range of a missing key");

        is_rc(s->ops->del(s, k1), 0, "del");
        is_rc(s->ops->get(s, k1, 1024, &buf, &len), -ENOENT, "get after del");
        is_rc(s->ops->del(s, k1), -ENOENT, "del of a deleted key");
        is_rc(s->ops->del(s, k3), -ENOENT, "del of a missing key");
        /* STORE_PUT_NAMED: a new object is written; over the same bytes it either
         * succeeds (a store without conditional PUT) or is refused (-EEXIST), and
         * the object holds those bytes either way. */
        is_rc(s->ops->put(s, k1, "named", 5, STORE_PUT_NAMED), 0, "put named of a new object");
        rc = s->ops->put(s, k1, "named", 5, STORE_PUT_NAMED);
        ok(rc == 0 || rc == -EEXIST, "put named again: 0 or -EEXIST (rc %s)", errname(rc));
        rc = s->ops->get(s, k1, 1024, &buf, &len);
        ok(rc == 0 && len == 5 && memcmp(buf, "named", 5) == 0, "the named object reads back");
        free(buf);
        buf = NULL;
        is_rc(s->ops->del(s, k1), 0, "del of the named object");
        is_rc(s->ops->put(s, k1, "again", 5, 1), 0, "put if_absent after del");
        is_rc(s->ops->del(s, k1), 0, "del again");
        is_rc(s->ops->del(s, k2), 0, "del of the empty object");
}

static void test_bad_keys(struct store *s)
{
        static const char *bad[] = {"",        "/abs",   "trail/", "a//b",   "Upper",
                                    "dot.dot", "sp ace", "..",     "a/../b", "nul\x01"};
        uint8_t *buf = NULL, rb[1];
        size_t i, len;
        int put_ok = 1, get_ok = 1, range_ok = 1, del_ok = 1;
        char long_key[600];

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                put_ok &= s->ops->put(s, bad[i], "x", 1, 0) == -EINVAL;
                get_ok &= s->ops->get(s, bad[i], 16, &buf, &len) == -EINVAL;
                range_ok &= s->ops->get_range(s, bad[i], 0, 1, rb) == -EINVAL;
                del_ok &= s->ops->del(s, bad[i]) == -EINVAL;
        }
        memset(long_key, 'a', sizeof(long_key) - 1);
        long_key[sizeof(long_key) - 1] = '\0';
        put_ok &= s->ops->put(s, long_key, "x", 1, 0) == -EINVAL;
        ok(put_ok,
           "put of invalid keys (empty, '/', '//', upper case, '.', space, > 512): -EINVAL");
        ok(get_ok, "get of invalid keys: -EINVAL");
        ok(range_ok, "get_range of invalid keys: -EINVAL");
        ok(del_ok, "del of invalid keys: -EINVAL");
        is_rc(s->ops->list(s, "Bad", NULL, collect_cb, NULL), -EINVAL,
              "list with an invalid prefix");
}

static void test_list(struct store *s, long n)
{
        struct collect c = {.in_order = 1};
        char prefix[128], k[128], want[128];
        long i;
        int rc, good;
        double t0;

        key(prefix, sizeof(prefix), "many/");
        t0 = now();
        is_rc(bulk(s, n, 0), 0, "put of many keys");
        printf("# %ld puts in %.1f s\n", n, now() - t0);

        t0 = now();
        rc = do_list(s, prefix, NULL, &c);
        printf("# list of %zu keys in %.2f s\n", c.n, now() - t0);
        good = rc == 0 && c.n == (size_t)n && c.in_order;
        for (i = 0; good && i < n; i++) {
                many_key(want, sizeof(want), i);
                snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s", "");
                good = strcmp(c.keys[i], want) == 0 &&
                       c.sizes[i] == (uint64_t)snprintf(k, 16, "v%ld", i);
        }
        ok(good,
           "list of %ld keys (continuation past 1000): every key once, in order, with its "
           "size (rc %s, got %zu)",
           n, errname(rc), c.n);

        many_key(k, sizeof(k), n / 2);
        rc = do_list(s, prefix, k, &c);
        many_key(want, sizeof(want), n / 2 + 1);
        ok(rc == 0 && c.n == (size_t)(n - n / 2 - 1) && c.in_order &&
               (c.n == 0 || strcmp(c.keys[0], want) == 0),
           "list with start_after (middle key): the keys after it (got %zu)", c.n);

        many_key(k, sizeof(k), 5);
        k[strlen(k) - 1] = '\0'; /* ".../k00000": between keys */
        snprintf(k + strlen(k), sizeof(k) - strlen(k), "4z");
        rc = do_list(s, prefix, k, &c);
        ok(rc == 0 && c.n == (size_t)(n - 5), "list with start_after between keys (got %zu)", c.n);

        many_key(k, sizeof(k), n - 1);
        rc = do_list(s, prefix, k, &c);
        ok(rc == 0 && c.n == 0, "list with start_after the last key: nothing (got %zu)", c.n);

        many_key(k, sizeof(k), 0);
        k[strlen(k) - 1] = '\0'; /* prefix ".../k00000" : k000000..k000009 */
        rc = do_list(s, k, NULL, &c);
        ok(rc == 0 && c.n == 10, "list with a partial-name prefix (got %zu)", c.n);

        key(k, sizeof(k), "nothing-here/");
        rc = do_list(s, k, NULL, &c);
        ok(rc == 0 && c.n == 0, "list of an empty prefix (got %zu)", c.n);

        collect_free(&c);
        c.stop_after = 3;
        rc = s->ops->list(s, prefix, NULL, collect_cb, &c);
        ok(rc == 7 && c.n == 3, "a callback's non-zero return stops the listing and is returned");
        c.stop_after = 0;

        rc = do_list(s, st_run, NULL, &c);
        ok(rc == 0 && c.n == (size_t)n, "list of the run's whole prefix (got %zu)", c.n);

        t0 = now();
        is_rc(bulk(s, n, 1), 0, "del of many keys");
        printf("# %ld dels in %.1f s\n", n, now() - t0);
        rc = do_list(s, prefix, NULL, &c);
        ok(rc == 0 && c.n == 0, "list after deleting them: empty (got %zu)", c.n);
        collect_free(&c);
}

/* A streamed body (doc/SYNC.md D9): BUF, failing with FAIL_RC on the piece that reaches its end. */
struct st_src {
        const uint8_t *buf;
        size_t len;
        int fail_rc;
        unsigned calls;
};

static int st_src_read(void *arg, uint64_t off, uint8_t *out, size_t n)
{
        struct st_src *src = arg;

        src->calls++;
        if (off > src->len || n > src->len - off)
                return -EINVAL;
        if (src->fail_rc != 0 && off + n == src->len)
                return src->fail_rc;
        memcpy(out, src->buf + off, n);
        return 0;
}

/* D9: a streamed put stores its body whole, or, if the body fails, nothing at all. */
static void test_stream(struct store *s)
{
        size_t len = 3u * 1024 * 1024 + 777, glen = 0;
        uint8_t *buf = malloc(len), *got = NULL, sha[SHA256_LEN];
        struct st_src src = {0};
        char k[600];
        int rc;

        if (buf == NULL) {
                ok(0, "stream: memory");
                return;
        }
        secmem_random(buf, len);
        sha256_hash(sha, buf, len);
        src.buf = buf;
        src.len = len;
        key(k, sizeof(k), "stream/whole");
        is_rc(store_put_stream(s, k, len, STORE_PUT_NAMED, sha, st_src_read, &src), 0,
              "streamed put of 3 MiB");
        ok(src.calls >= 1, "  ... read through its source (%u reads)", src.calls);
        rc = s->ops->get(s, k, len, &got, &glen);
        ok(rc == 0 && glen == len && memcmp(got, buf, len) == 0, "  ... reads back whole");
        free(got);
        got = NULL;
        (void)s->ops->del(s, k);
        key(k, sizeof(k), "stream/failed");
        src.fail_rc = -EILSEQ;
        src.calls = 0;
        is_rc(store_put_stream(s, k, len, STORE_PUT_NAMED, sha, st_src_read, &src), -EILSEQ,
              "a streamed put whose body fails on its last piece fails with that error");
        is_rc(s->ops->get(s, k, len, &got, &glen), -ENOENT, "  ... and stores nothing");
        free(got);
        free(buf);
}

static void test_big(struct store *s)
{
        uint8_t *big, *buf = NULL, rb[64];
        char k[128];
        size_t len = 0;
        uint64_t off;
        int rc;
        double t0;

        big = malloc(ST_BIG);
        if (big == NULL)
                abort();
        secmem_random(big, ST_BIG);
        key(k, sizeof(k), "big/object");
        t0 = now();
        is_rc(s->ops->put(s, k, big, ST_BIG, 1), 0, "put if_absent of a 20 MiB object (multipart)");
        printf("# put of %u bytes in %.1f s\n", ST_BIG, now() - t0);
        t0 = now();
        rc = s->ops->get(s, k, ST_BIG, &buf, &len);
        ok(rc == 0 && len == ST_BIG && memcmp(buf, big, ST_BIG) == 0,
           "get of the large object returns every byte (rc %s)", errname(rc));
        printf("# get in %.1f s\n", now() - t0);
        free(buf);
        buf = NULL;
        off = 8u * 1024 * 1024 - 32; /* across the first part boundary */
        rc = s->ops->get_range(s, k, off, sizeof(rb), rb);
        ok(rc == 0 && memcmp(rb, big + off, sizeof(rb)) == 0, "get_range across a part boundary");
        rc = s->ops->get_range(s, k, ST_BIG - sizeof(rb), sizeof(rb), rb);
        ok(rc == 0 && memcmp(rb, big + ST_BIG - sizeof(rb), sizeof(rb)) == 0,
           "get_range of the last bytes");
        is_rc(s->ops->put(s, k, big, ST_BIG, 1), -EEXIST, "put if_absent of it again");
        big[0] ^= 1;
        is_rc(s->ops->put(s, k, big, ST_BIG, 0), 0, "put over it (multipart)");
        rc = s->ops->get(s, k, ST_BIG, &buf, &len);
        ok(rc == 0 && len == ST_BIG && memcmp(buf, big, ST_BIG) == 0,
           "get returns the new version");
        free(buf);
        is_rc(s->ops->del(s, k), 0, "del of the large object");
        free(big);
}

static void test_cleanup(struct store *s)
{
        struct collect c = {.in_order = 1};
        size_t i;
        int rc, bad = 0;

        rc = do_list(s, st_run, NULL, &c);
        for (i = 0; rc == 0 && i < c.n; i++)
                bad |= s->ops->del(s, c.keys[i]) != 0;
        ok(rc == 0 && !bad, "cleanup of %zu leftover keys", c.n);
        collect_free(&c);
}

static int probe(struct store *s)
{
        uint8_t *buf = NULL;
        size_t len;
        int rc, all = 0;

        rc = s->ops->get(s, "storetest-probe/x", 1024, &buf, &len);
        printf("get: %s (%s)\n", errname(rc), strerror(-rc));
        free(buf);
        all |= rc != 0 && rc != -ENOENT;
        rc = s->ops->put(s, "storetest-probe/x", "probe", 5, 0);
        printf("put: %s (%s)\n", errname(rc), strerror(-rc));
        all |= rc != 0;
        {
                struct collect c = {0};

                rc = s->ops->list(s, "storetest-probe/", NULL, collect_cb, &c);
                collect_free(&c);
        }
        printf("list: %s (%s)\n", errname(rc), strerror(-rc));
        all |= rc != 0;
        return all ? 1 : 0;
}

/* --big: one large put, read back and compared, then removed. */
static int big_roundtrip(struct store *s, long mib, int mode)
{
        size_t len = (size_t)mib * 1024 * 1024 + 12345, glen = 0;
        uint8_t *buf = malloc(len), *got = NULL;
        char key[64];
        struct timespec t0, t1;
        uint32_t r;
        int rc, same = 0;

        if (buf == NULL)
                return 1;
        secmem_random(buf, len);
        secmem_random(&r, sizeof(r));
        snprintf(key, sizeof(key), "storetest-big-%08x/obj", r);
        printf("key: %s\n", key);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = s->ops->put(s, key, buf, len, mode);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("put: %s (%s)\n", errname(rc), strerror(-rc));
        printf("put seconds: %.2f\n",
               (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
        rc = s->ops->get(s, key, len, &got, &glen);
        printf("get: %s (%s)\n", errname(rc), strerror(-rc));
        if (rc == 0) {
                same = glen == len && memcmp(got, buf, len) == 0;
                printf("bytes: %s (%zu of %zu)\n", same ? "same" : "DIFFERENT", glen, len);
                rc = s->ops->del(s, key);
                printf("del: %s (%s)\n", errname(rc), strerror(-rc));
        }
        free(got);
        free(buf);
        return same && rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
        struct store *s = NULL;
        long n = 1100;
        uint32_t r;
        int rc, argi = 1, probe_mode = 0, big_mode = STORE_PUT_ABSENT;
        long big_mib = 0;

        log_init("storetest", LOG_LEVEL_INFO);
        if (argc >= 3 && strcmp(argv[1], "--probe") == 0) {
                probe_mode = 1;
                argi = 2;
        } else if (argc >= 4 &&
                   (strcmp(argv[1], "--big") == 0 || strcmp(argv[1], "--big-named") == 0)) {
                if (strcmp(argv[1], "--big-named") == 0)
                        big_mode = STORE_PUT_NAMED;
                big_mib = strtol(argv[2], NULL, 10);
                if (big_mib < 1 || big_mib > 1024)
                        n = 0; /* usage */
                argi = 3;
        } else if (argc >= 4 && strcmp(argv[1], "-n") == 0) {
                n = strtol(argv[2], NULL, 10);
                argi = 3;
        }
        if (argi != argc - 1 || n < 20) {
                fprintf(stderr, "usage: storetest [-n KEYS (>= 20)] URL | storetest --probe URL | "
                                "storetest --big|--big-named MIB (1..1024) URL\n");
                return 2;
        }
        if (secmem_init() != 0)
                return 1;
        rc = store_open(argv[argi], &s);
        if (probe_mode || big_mib > 0) {
                if (rc != 0) {
                        printf("open: %s (%s)\n", errname(rc), strerror(-rc));
                        return 1;
                }
                rc = probe_mode ? probe(s) : big_roundtrip(s, big_mib, big_mode);
                store_close(s);
                return rc;
        }
        if (rc != 0) {
                printf("1..1\nnot ok 1 - store_open(%s): %s\n", argv[argi], errname(rc));
                return 1;
        }
        secmem_random(&r, sizeof(r));
        snprintf(st_run, sizeof(st_run), "storetest-%08x/", r);
        printf("# run prefix %s\n", st_run);
        test_basic(s);
        test_bad_keys(s);
        test_list(s, n);
        test_big(s);
        test_stream(s);
        test_cleanup(s);
        store_close(s);
        printf("1..%d\n", st_n);
        if (st_failed)
                printf("# %d of %d failed\n", st_failed, st_n);
        return st_failed ? 1 : 0;
}
