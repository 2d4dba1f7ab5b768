/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_FS_PIN_H
#define SEALSYNC_FS_PIN_H
/*
 * Pinned blocks (issue #10, "Write once"; doc/DESIGN.md "Write once", doc/SYNC.md
 * D5): the sealed blocks that a pack recipe in the outbox names, in a local
 * ciphertext file, until that pack is on the store.  Before such bytes would
 * change or go, they are preserved in REGION/keep/:
 *
 *   - an in-place rewrite or a cut of a pinned slot first copies the slot's
 *     sealed bytes to keep/b-<hash> (fs_pin_spill, fsynced before the slot
 *     changes): copy-on-write, paid only for blocks still waiting;
 *   - a ciphertext file removed or replaced whole (unlink, purge, truncation
 *     to zero, re-encryption) is first hard-linked as keep/k-<file id>-<n>
 *     (fs_pin_keep): no copy at all.
 *
 * The pusher reads a block from the ciphertext file, else b-<hash>, else the
 * k- files of its file id, and takes the first whose bytes hash to the
 * recipe's hash (fs_pin_read); when an entry's packs are on the store their
 * pins go and so do their b-/k- files (fs_pin_drop_pack).
 *
 * Thread-safe (one mutex; the spill's I/O runs under it: spills are rare).
 */
#include <stddef.h>
#include <stdint.h>

#include "sync/recipe.h"

struct fs;

/*
 * Opens REGION_DIR/pinned (made if missing), loads the pins of every recipe
 * in REGION_DIR/outbox and removes b-/k- files no pin needs (a crash's
 * leftovers).  Before anything may change a ciphertext file (the mount's
 * purge).  Returns 0 or a negative errno.
 */
int fs_pin_open(struct fs *fs, const char *region_dir) __attribute__((warn_unused_result));
void fs_pin_close(struct fs *fs);

/* A new recipe (one pack being built by the committer): its id. */
uint32_t fs_pin_recipe_new(struct fs *fs);
/*
 * Pins LEN bytes at OFF of FILE_ID's ciphertext file for recipe ID, hashing
 * HASH.  Called by the committer while it holds the inode's lock, right after
 * reading the bytes.  Returns 0 or -ENOMEM.
 */
int fs_pin_add(struct fs *fs, uint32_t id, const uint8_t file_id[static 16], uint64_t off,
               uint32_t len, const uint8_t hash[static 32]) __attribute__((warn_unused_result));
/* Recipe ID is the pack HASH of SIZE bytes (its recipe file is written). */
void fs_pin_named(struct fs *fs, uint32_t id, const uint8_t hash[static 32], uint64_t size);
/*
 * Bytes of the packs whose recipes hold pins: what waits for upload and is
 * not in the outbox (doc/SYNC.md D3: the committer keeps that much free).
 */
uint64_t fs_pin_queued(struct fs *fs);
/* Drops the pins of recipe ID (a failed round) or of every recipe of pack HASH (uploaded). */
void fs_pin_drop_id(struct fs *fs, uint32_t id);
void fs_pin_drop_pack(struct fs *fs, const uint8_t hash[static 32]);

/*
 * Before bytes [LO, HI) of FILE_ID's ciphertext file (open as FD) change in
 * place or are cut: copies every pinned block in that range to keep/.
 * Returns 0 or a negative errno (then nothing may change).
 */
int fs_pin_spill(struct fs *fs, const uint8_t file_id[static 16], int fd, uint64_t lo, uint64_t hi)
    __attribute__((warn_unused_result));
/* 1 if FILE_ID has a pinned block not preserved yet, else 0. */
int fs_pin_has(struct fs *fs, const uint8_t file_id[static 16]);
/*
 * Before FILE_ID's ciphertext file is removed or replaced whole: links it
 * into keep/ if a pinned block is still only there.  Returns 0 or a
 * negative errno (then it must not go).
 */
int fs_pin_keep(struct fs *fs, const uint8_t file_id[static 16])
    __attribute__((warn_unused_result));

/* The pusher's recipe_read_fn (sync/recipe.h); ARG is the struct fs. */
int fs_pin_read(void *arg, const struct recipe_item *it, unsigned attempt, uint8_t *out);

#endif
