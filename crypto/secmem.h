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

/* sodium_memzero. */
void secmem_wipe(void *p, size_t n);

/* Constant-time comparison: returns 1 if equal, 0 otherwise. */
int secmem_equal(const void *a, const void *b, size_t n);

/* Fills P with N bytes from the OS CSPRNG (randombytes_buf). */
void secmem_random(void *p, size_t n);

#endif
