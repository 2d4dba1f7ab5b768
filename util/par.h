/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_UTIL_PAR_H
#define SEALSYNC_UTIL_PAR_H
/*
 * A small pool that runs the independent items of one loop on several cores
 * (the blocks of one large write are sealed in parallel: doc/DESIGN.md,
 * "Write path").
 *
 * Contract:
 * - par_new(N) starts N helper threads (0 <= N <= PAR_MAX_THREADS); NULL on
 *   failure (callers then pass NULL, which runs everything inline).
 * - par_for(P, N, FN, ARG) calls FN(ARG, i) once for each i in [0, N), on the
 *   calling thread and on whichever helpers are idle, and returns when every
 *   call has returned: 0, or the first nonzero value a call returned (the
 *   other calls still run).  One loop at a time uses the helpers; a par_for
 *   that finds them busy (another thread's loop), or a NULL pool, runs every
 *   item on the calling thread.  FN must be safe to run concurrently with
 *   itself for different i.
 * - par_free(P) stops and joins the helpers; no par_for may be running.
 *   NULL is a no-op.
 */
#include <stddef.h>

#define PAR_MAX_THREADS 3

struct par;

typedef int (*par_fn)(void *arg, size_t i);

struct par *par_new(int nthreads);
void par_free(struct par *p);
int par_for(struct par *p, size_t n, par_fn fn, void *arg) __attribute__((warn_unused_result));

/* Helpers worth starting on this machine: online CPUs - 1, at most PAR_MAX_THREADS. */
int par_default_threads(void);

#endif
