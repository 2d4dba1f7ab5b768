/* SPDX-License-Identifier: Apache-2.0 */
#include "util/scratch.h"

#include <pthread.h>
#include <stdlib.h>

/* A thread's buffers: SCRATCH_SLOTS of them, each held by at most one take. */
struct scratch {
        struct {
                void *buf;
                size_t cap;
                int held;
        } slot[SCRATCH_SLOTS];
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static int scratch_key_ok;

static void scratch_destroy(void *p)
{
        struct scratch *s = p;
        int i;

        for (i = 0; i < SCRATCH_SLOTS; i++)
                free(s->slot[i].buf);
        free(s);
}

static void scratch_key_make(void)
{
        scratch_key_ok = pthread_key_create(&scratch_key, scratch_destroy) == 0;
}

/* This thread's record, made on first use; NULL without a key or memory. */
static struct scratch *scratch_mine(void)
{
        struct scratch *s;

        if (pthread_once(&scratch_once, scratch_key_make) != 0 || !scratch_key_ok)
                return NULL;
        s = pthread_getspecific(scratch_key);
        if (s != NULL)
                return s;
        s = calloc(1, sizeof(*s));
        if (s != NULL && pthread_setspecific(scratch_key, s) != 0) {
                free(s);
                s = NULL;
        }
        return s;
}

void *scratch_take(size_t len)
{
        struct scratch *s = scratch_mine();
        int i;

        if (len == 0)
                len = 1;
        for (i = 0; s != NULL && i < SCRATCH_SLOTS; i++) {
                if (s->slot[i].held)
                        continue;
                if (s->slot[i].cap < len) {
                        void *nb = malloc(len);

                        if (nb == NULL)
                                return NULL;
                        free(s->slot[i].buf);
                        s->slot[i].buf = nb;
                        s->slot[i].cap = len;
                }
                s->slot[i].held = 1;
                return s->slot[i].buf;
        }
        return malloc(len);
}

void scratch_give(void *p)
{
        struct scratch *s;
        int i;

        if (p == NULL)
                return;
        s = scratch_key_ok ? pthread_getspecific(scratch_key) : NULL;
        for (i = 0; s != NULL && i < SCRATCH_SLOTS; i++) {
                if (s->slot[i].held && p == s->slot[i].buf) {
                        s->slot[i].held = 0;
                        return;
                }
        }
        free(p);
}
