/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Secure memory and randomness: thin wrappers over libsodium so that only
 * crypto/ includes sodium.h.
 */
#include "crypto/secmem.h"

#include <errno.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <sodium.h>

int secmem_init(void)
{
        struct rlimit rl = {0, 0};

        /* sodium_init: 0 first time, 1 if already initialised, -1 on failure. */
        if (sodium_init() < 0)
                return -EIO;
        /* A core dump would write every mlock'd secret to disk: refuse to run without this. */
        if (setrlimit(RLIMIT_CORE, &rl) != 0)
                return -EIO;
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
                return -EIO;
        return 0;
}

void *secmem_alloc(size_t n)
{
        return sodium_malloc(n);
}

void secmem_free(void *p)
{
        if (p != NULL)
                sodium_free(p);
}

/* The recycled regions: wiped, guarded, locked, read-write. */
static struct {
        void *p;
        size_t n;
} secmem_cache[SECMEM_CACHE_MAX];
static size_t secmem_ncache;
static pthread_mutex_t secmem_cache_lock = PTHREAD_MUTEX_INITIALIZER;

void *secmem_cache_alloc(size_t n)
{
        void *p = NULL;
        size_t i;

        pthread_mutex_lock(&secmem_cache_lock);
        for (i = secmem_ncache; i > 0; i--) {
                if (secmem_cache[i - 1].n == n) {
                        p = secmem_cache[i - 1].p;
                        secmem_cache[i - 1] = secmem_cache[--secmem_ncache];
                        break;
                }
        }
        pthread_mutex_unlock(&secmem_cache_lock);
        return p != NULL ? p : sodium_malloc(n);
}

void secmem_cache_free(void *p, size_t n)
{
        if (p == NULL)
                return;
        sodium_memzero(p, n);
        pthread_mutex_lock(&secmem_cache_lock);
        if (secmem_ncache < SECMEM_CACHE_MAX) {
                secmem_cache[secmem_ncache].p = p;
                secmem_cache[secmem_ncache].n = n;
                secmem_ncache++;
                p = NULL;
        }
        pthread_mutex_unlock(&secmem_cache_lock);
        if (p != NULL)
                sodium_free(p);
}

void secmem_wipe(void *p, size_t n)
{
        if (n > 0)
                sodium_memzero(p, n);
}

int secmem_equal(const void *a, const void *b, size_t n)
{
        if (n == 0)
                return 1;
        return sodium_memcmp(a, b, n) == 0;
}

void secmem_random(void *p, size_t n)
{
        if (n > 0)
                randombytes_buf(p, n);
}
