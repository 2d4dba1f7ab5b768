/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_CRYPTO_SECMEM_H
#define SEALSYNC_CRYPTO_SECMEM_H
/*
 * Secure memory and randomness (libsodium).  Every long-lived secret lives
 * in secmem_alloc() memory (guard pages, mlock'd, wiped on free).
 */
#include <stddef.h>

/*
 * Initialises libsodium and disables core dumps (RLIMIT_CORE=0,
 * PR_SET_DUMPABLE=0).  Call once before any other crypto/ function.
 * Returns 0 or -EIO if libsodium cannot initialise.  Idempotent.
 */
int secmem_init(void) __attribute__((warn_unused_result));

/* sodium_malloc(N): NULL on failure.  secmem_free(NULL) is a no-op. */
void *secmem_alloc(size_t n);
void secmem_free(void *p);

/*
 * The same memory, recycled: secmem_cache_free(P, N) wipes P (N bytes, as
 * allocated) and keeps it, still guarded and locked, for the next
 * secmem_cache_alloc(N) of the same size (at most SECMEM_CACHE_MAX kept; a
 * full cache frees).  For memory taken and given back per file (a file's
 * block keys, the partial-block buffer): sodium_malloc and sodium_free cost
 * about ten system calls each (mmap, mprotect, mlock, madvise and their
 * undoing; mprotect and munmap interrupt every other core running the
 * daemon's threads), which an untar pays for every file.  Thread-safe.
 * P must be read-write when given back.  NULL is a no-op.
 */
#define SECMEM_CACHE_MAX 64
void *secmem_cache_alloc(size_t n);
void secmem_cache_free(void *p, size_t n);

/* sodium_memzero. */
void secmem_wipe(void *p, size_t n);

/* Constant-time comparison: returns 1 if equal, 0 otherwise. */
int secmem_equal(const void *a, const void *b, size_t n);

/* Fills P with N bytes from the OS CSPRNG (randombytes_buf). */
void secmem_random(void *p, size_t n);

#endif
