/* SPDX-License-Identifier: Apache-2.0 */
#include "util/par.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

/*
 * Invariants (under MU):
 * 1. BUSY is set from a par_for's start until every helper that joined its
 *    loop (INSIDE) has left; only then may a new loop be posted.
 * 2. A helper joins a loop only while OPEN, i.e. before the poster has seen
 *    the last item taken, so a late helper never touches a finished loop's
 *    FN or ARG.
 */
struct par {
        pthread_mutex_t mu;
        pthread_cond_t work; /* a loop was posted, or STOP */
        pthread_cond_t left; /* INSIDE fell to 0 */
        pthread_t th[PAR_MAX_THREADS];
        int nth;
        int stop;
        atomic_int busy;
        int open;
        int inside;
        unsigned long gen;
        /* the posted loop */
        par_fn fn;
        void *arg;
        size_t n;
        atomic_size_t next;
        atomic_int rc;
};

/* Takes items of the posted loop until none is left. */
static void par_drain(struct par *p, par_fn fn, void *arg, size_t n)
{
        size_t i;

        while ((i = atomic_fetch_add(&p->next, 1)) < n) {
                int rc = fn(arg, i);
                int zero = 0;

                if (rc != 0)
                        atomic_compare_exchange_strong(&p->rc, &zero, rc);
        }
}

static void *par_main(void *v)
{
        struct par *p = v;
        unsigned long seen = 0;

        pthread_mutex_lock(&p->mu);
        for (;;) {
                while (!p->stop && (p->gen == seen || !p->open))
                        pthread_cond_wait(&p->work, &p->mu);
                if (p->stop)
                        break;
                seen = p->gen;
                p->inside++;
                pthread_mutex_unlock(&p->mu);
                par_drain(p, p->fn, p->arg, p->n);
                pthread_mutex_lock(&p->mu);
                if (--p->inside == 0)
                        pthread_cond_signal(&p->left);
        }
        pthread_mutex_unlock(&p->mu);
        return NULL;
}

struct par *par_new(int nthreads)
{
        struct par *p;

        if (nthreads < 0 || nthreads > PAR_MAX_THREADS)
                return NULL;
        p = calloc(1, sizeof(*p));
        if (p == NULL)
                return NULL;
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->work, NULL);
        pthread_cond_init(&p->left, NULL);
        while (p->nth < nthreads && pthread_create(&p->th[p->nth], NULL, par_main, p) == 0)
                p->nth++;
        return p;
}

void par_free(struct par *p)
{
        int i;

        if (p == NULL)
                return;
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->mu);
        for (i = 0; i < p->nth; i++)
                pthread_join(p->th[i], NULL);
        pthread_cond_destroy(&p->left);
        pthread_cond_destroy(&p->work);
        pthread_mutex_destroy(&p->mu);
        free(p);
}

static int par_inline(size_t n, par_fn fn, void *arg)
{
        int rc = 0;
        size_t i;

        for (i = 0; i < n; i++) {
                int r = fn(arg, i);

                if (rc == 0)
                        rc = r;
        }
        return rc;
}

int par_for(struct par *p, size_t n, par_fn fn, void *arg)
{
        int expect = 0, rc;

        if (p == NULL || p->nth == 0 || n < 2 ||
            !atomic_compare_exchange_strong(&p->busy, &expect, 1))
                return par_inline(n, fn, arg);
        pthread_mutex_lock(&p->mu);
        p->fn = fn;
        p->arg = arg;
        p->n = n;
        atomic_store(&p->next, 0);
        atomic_store(&p->rc, 0);
        p->open = 1;
        p->gen++;
        pthread_cond_broadcast(&p->work);
        pthread_mutex_unlock(&p->mu);

        par_drain(p, fn, arg, n);

        pthread_mutex_lock(&p->mu);
        p->open = 0; /* invariant 2 */
        while (p->inside > 0)
                pthread_cond_wait(&p->left, &p->mu);
        rc = atomic_load(&p->rc);
        pthread_mutex_unlock(&p->mu);
        atomic_store(&p->busy, 0);
        return rc;
}

int par_default_threads(void)
{
        long n = sysconf(_SC_NPROCESSORS_ONLN);

        if (n <= 1)
                return 0;
        return n - 1 > PAR_MAX_THREADS ? PAR_MAX_THREADS : (int)(n - 1);
}
