/* SPDX-License-Identifier: Apache-2.0 */
/*
 * membership_digest (sync/membership.h): the cheap check of doc/SYNC.md R3.
 * Equal listings of <region>/members/ give equal digests; a new object, a
 * removed one or another region's objects are told apart; a store that
 * cannot be listed is an error and leaves the output untouched.
 */
#include <errno.h>
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

#include "sync/membership.h"
#include "sync/store.h"
#include "util/hex.h"

struct fixture {
        char dir[256];
        char url[300];
        struct store *s;
        uint8_t region[32];
        char hex[65];
};

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "%s", "/tmp/test_mdigest.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->url, sizeof(f->url), "file://%s/store", f->dir);
        assert_int_equal(store_open(f->url, &f->s), 0);
        assert_int_equal(store_create(f->s), 0); /* the root and its marker (S1) */
        memset(f->region, 0xab, sizeof(f->region));
        hex_encode(f->hex, f->region, 32);
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

/* Puts "<region hex>/<rest>" (or another region's with OTHER). */
static void put(struct fixture *f, const char *rest, int other)
{
        char key[256];

        if (other)
                snprintf(key, sizeof(key), "%064d/%s", 0, rest);
        else
                snprintf(key, sizeof(key), "%s/%s", f->hex, rest);
        assert_int_equal(f->s->ops->put(f->s, key, "x", 1, 0), 0);
}

static void test_digest_follows_the_listing(void **state)
{
        struct fixture *f = *state;
        uint8_t d0[32], d1[32], d2[32], d3[32], again[32];

        put(f, "members/0000000000000000-aa", 0);
        assert_int_equal(membership_digest(f->s, f->region, d0), 0);
        assert_int_equal(membership_digest(f->s, f->region, again), 0);
        assert_memory_equal(d0, again, 32); /* the same listing, the same digest */

        put(f, "journal/00/0000000000000001-bb", 0); /* not under members/ */
        put(f, "members/0000000000000005-cc", 1);    /* another region's */
        assert_int_equal(membership_digest(f->s, f->region, d1), 0);
        assert_memory_equal(d0, d1, 32);

        put(f, "members/0000000000000001-dd", 0); /* a new entry */
        assert_int_equal(membership_digest(f->s, f->region, d2), 0);
        assert_memory_not_equal(d1, d2, 32);

        /* An entry at a lower height than every known one is seen too. */
        put(f, "members/0000000000000000-00", 0);
        assert_int_equal(membership_digest(f->s, f->region, d3), 0);
        assert_memory_not_equal(d2, d3, 32);
}

static void test_digest_sees_removal(void **state)
{
        struct fixture *f = *state;
        uint8_t d0[32], d1[32];
        char key[256];

        put(f, "members/0000000000000000-aa", 0);
        put(f, "members/0000000000000001-bb", 0);
        assert_int_equal(membership_digest(f->s, f->region, d0), 0);
        snprintf(key, sizeof(key), "%s/members/0000000000000001-bb", f->hex);
        assert_int_equal(f->s->ops->del(f->s, key), 0);
        assert_int_equal(membership_digest(f->s, f->region, d1), 0);
        assert_memory_not_equal(d0, d1, 32);
}

static void test_unlistable_store(void **state)
{
        struct fixture *f = *state;
        uint8_t d[32], keep[32];
        char cmd[300];

        memset(d, 0x5a, sizeof(d));
        memcpy(keep, d, 32);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s/store'", f->dir);
        assert_int_equal(system(cmd), 0); /* the store's root is gone */
        assert_int_not_equal(membership_digest(f->s, f->region, d), 0);
        assert_memory_equal(d, keep, 32); /* untouched on failure */
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_digest_follows_the_listing, setup, teardown),
            cmocka_unit_test_setup_teardown(test_digest_sees_removal, setup, teardown),
            cmocka_unit_test_setup_teardown(test_unlistable_store, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
