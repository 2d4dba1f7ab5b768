/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for util/par.c (the sealing pool) and util/scratch.c (per-thread buffers). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/par.h"
#include "util/scratch.h"

#define N 1000

struct job {
        _Atomic int hits[N];
        size_t fail_at; /* N: none */
        atomic_int threads_seen;
};

static int job_item(void *arg, size_t i)
{
        struct job *j = arg;

        atomic_fetch_add(&j->hits[i], 1);
        return i == j->fail_at ? -EIO : 0;
}

static void job_check_once(struct job *j)
{
        size_t i;

        for (i = 0; i < N; i++)
                assert_int_equal(atomic_load(&j->hits[i]), 1);
}

static void test_par_every_item_once(void **state)
{
        struct par *p = par_new(2);
        struct job *j = calloc(1, sizeof(*j));
        int round;

        (void)state;
        assert_non_null(p);
        assert_non_null(j);
        for (round = 0; round < 200; round++) { /* many posts: no stale helper reruns an item */
                memset(j, 0, sizeof(*j));
                j->fail_at = N;
                assert_int_equal(par_for(p, N, job_item, j), 0);
                job_check_once(j);
        }
        par_free(p);
        free(j);
}

static void test_par_error_and_inline(void **state)
{
        struct job *j = calloc(1, sizeof(*j));
        struct par *p = par_new(1);

        (void)state;
        assert_non_null(j);
        j->fail_at = 17;
        assert_int_equal(par_for(p, N, job_item, j), -EIO);
        job_check_once(j); /* the other items still ran */
        memset(j, 0, sizeof(*j));
        j->fail_at = 3;
        assert_int_equal(par_for(NULL, N, job_item, j), -EIO); /* no pool: inline */
        job_check_once(j);
        memset(j, 0, sizeof(*j));
        j->fail_at = N;
        assert_int_equal(par_for(p, 0, job_item, j), 0);
        assert_null(par_new(PAR_MAX_THREADS + 1));
        par_free(p);
        par_free(NULL);
        free(j);
}

struct racer {
        struct par *p;
        struct job *j;
        int rc;
};

static void *racer_main(void *v)
{
        struct racer *r = v;
        int k;

        for (k = 0; k < 100 && r->rc == 0; k++) {
                memset(r->j, 0, sizeof(*r->j));
                r->j->fail_at = N;
                r->rc = par_for(r->p, N, job_item, r->j);
                for (size_t i = 0; i < N && r->rc == 0; i++)
                        if (atomic_load(&r->j->hits[i]) != 1)
                                r->rc = -1;
        }
        return NULL;
}

/* Two threads' loops at once: one gets the helpers, the other runs inline. */
static void test_par_two_callers(void **state)
{
        struct par *p = par_new(2);
        struct racer r[2];
        pthread_t th[2];
        int k;

        (void)state;
        for (k = 0; k < 2; k++) {
                r[k].p = p;
                r[k].j = calloc(1, sizeof(struct job));
                r[k].rc = 0;
                assert_int_equal(pthread_create(&th[k], NULL, racer_main, &r[k]), 0);
        }
        for (k = 0; k < 2; k++) {
                pthread_join(th[k], NULL);
                assert_int_equal(r[k].rc, 0);
                free(r[k].j);
        }
        par_free(p);
}

static void test_scratch(void **state)
{
        uint8_t *a, *b, *c;

        (void)state;
        a = scratch_take(100);
        assert_non_null(a);
        memset(a, 1, 100);
        b = scratch_take(100); /* nested: the thread's other buffer */
        assert_non_null(b);
        assert_ptr_not_equal(a, b);
        memset(b, 2, 100);
        c = scratch_take(100); /* deeper: a heap buffer, neither of them */
        assert_non_null(c);
        assert_ptr_not_equal(c, a);
        assert_ptr_not_equal(c, b);
        scratch_give(c);
        scratch_give(b);
        assert_int_equal(a[99], 1);
        scratch_give(a);
        c = scratch_take(50); /* reused: the thread's buffer */
        assert_ptr_equal(c, a);
        scratch_give(c);
        c = scratch_take(1 << 20); /* grown */
        assert_non_null(c);
        memset(c, 3, 1 << 20);
        scratch_give(c);
        scratch_give(NULL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_par_every_item_once),
            cmocka_unit_test(test_par_error_and_inline),
            cmocka_unit_test(test_par_two_callers),
            cmocka_unit_test(test_scratch),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
