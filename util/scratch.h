/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_UTIL_SCRATCH_H
#define SEALSYNC_UTIL_SCRATCH_H
/*
 * Per-thread scratch buffers for what a call needs only while it runs: a run
 * of sealed slots read or written in one go, a read's reply.
 *
 * Why: glibc serves allocations above the daemon's fixed mmap threshold
 * (128 KiB, fs_malloc_tune) with mmap, so a 1 MiB buffer taken and freed on
 * every FUSE write or read cost an mmap, a munmap and a page fault per 4 KiB
 * touched (about 15% of the daemon's time writing with dd bs=1M), and a
 * 128 KiB read's reply buffer the same.  Each thread keeps its buffers
 * instead, freed when the thread exits.
 *
 * Contract:
 * - scratch_take(LEN) returns a buffer of at least LEN bytes that the calling
 *   thread alone uses until scratch_give; its contents are unspecified.  A
 *   thread has SCRATCH_SLOTS buffers; a take while all of them are held gets
 *   a fresh heap buffer, so callers need not know who else uses them.  NULL
 *   when memory runs out.
 * - scratch_give(P) hands P back (the thread's buffer stays, anything else is
 *   freed).  NULL is a no-op.
 * - The buffers are neither locked nor wiped.  A caller that puts plaintext
 *   in one (a read's reply, fs/ops.c) wipes it before giving it back, as it
 *   wiped the heap buffer it had before; keys never go here (crypto/secmem).
 */
#define SCRATCH_SLOTS 2

#include <stddef.h>

void *scratch_take(size_t len);
void scratch_give(void *p);

#endif
