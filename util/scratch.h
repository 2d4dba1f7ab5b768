/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_UTIL_SCRATCH_H
#define SEALSYNC_UTIL_SCRATCH_H
/*
 * A per-thread scratch buffer for ciphertext that a call needs only while it
 * runs (a run of sealed slots read or written in one go).
 *
 * Why: glibc serves allocations above the daemon's fixed mmap threshold
 * (128 KiB, fs_malloc_tune) with mmap, so a 1 MiB buffer taken and freed on
 * every FUSE write or read cost an mmap, a munmap and a page fault per 4 KiB
 * touched (about 15% of the daemon's time writing with dd bs=1M).  Each
 * thread keeps one buffer instead, freed when the thread exits.
 *
 * Contract:
 * - scratch_take(LEN) returns a buffer of at least LEN bytes that the calling
 *   thread alone uses until scratch_give; its contents are unspecified.
 *   While this thread holds it, a nested scratch_take gets a fresh heap
 *   buffer (never the held one), so callers need not know who else uses it.
 *   NULL when memory runs out.
 * - scratch_give(P) hands P back (the thread's buffer stays, anything else is
 *   freed).  NULL is a no-op.
 * - Not for secrets: the buffer is neither locked nor wiped.  Plaintext and
 *   keys use crypto/secmem.
 */
#include <stddef.h>

void *scratch_take(size_t len);
void scratch_give(void *p);

#endif
