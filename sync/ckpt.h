/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_SYNC_CKPT_H
#define SEALSYNC_SYNC_CKPT_H
/*
 * The checkpoint engine (doc/SYNC.md "Checkpoints"): writing a checkpoint
 * with its bundles, and bootstrapping a device from the newest one.  The
 * codec is sync/checkpoint.h; this module does the store I/O, using the
 * puller (sync/pull.h) for peers, marks, alarms and record fetches, and the
 * puller's ops (fs/apply.c) to apply manifests.
 *
 * Writing (ckpt_write): every current manifest the caller names (one per
 * file id: the live version, or the tombstone of a deleted file) is located
 * through the pack index and fetched (coalesced ranged GETs), decoded, and
 * copied with location records for all its blocks into new bundles (packs
 * of at most CKPT_BUNDLE_TARGET bytes); the bundles are PUT, then the signed
 * checkpoint "<region>/c/<self>/<seq:016x>-<hash>".
 *
 * Bootstrap (ckpt_bootstrap), for a device with no marks:
 *   1. LIST <region>/c/; per author the highest seq (this device's skipped).
 *   2. GET each; accept only if: hash == name, strict decoding, region,
 *      author and seq as named, the author a known peer with role writer or
 *      admin (not removed), signature under its pinned key, member head in
 *      this device's fold, no mark below this device's marks or own journal
 *      head (an own mark above the head or with another hash is a fork),
 *      no mark of a removed device past its cutoff, nor one at or below
 *      a removed or demoted device's cutoff off the chain it names
 *      (past-cutoff, C3; pull_named_chain_at, fail closed).
 *      The one with the most entries (sum of its vector's seqs) is chosen.
 *   3. Its vector against the journals: one LIST per device; the entry at
 *      each mark's seq must be on the store with the mark's hash (else
 *      bad-checkpoint); another entry at that seq is checkpoint-fork unless
 *      a cutoff's named chain decides it for the mark (C9).
 *   4. GET its bundles (hash == name, pack_parse); their location records
 *      and records go to the pack index.
 *   5. Every file's manifest: record hash, strict decoding, region and file
 *      id, author a known writer/admin (or a removed device: see
 *      doc/SYNC.md), its own signature under the author's pinned key, an
 *      epoch this device holds, metadata opened (key commitment first).
 *   6. Apply (tombstones, directories parents first, the rest) through
 *      ops->apply, ops->entry_done, then every peer's mark := the vector.
 * Any refusal in 2-5 is an alarm (bad-checkpoint / checkpoint-fork, not
 * holding) and the device falls back to the journals; nothing is applied
 * before 5 has passed for every manifest.
 */
#include <stddef.h>
#include <stdint.h>

#include "sync/checkpoint.h"
#include "sync/index.h"
#include "sync/pull.h"
#include "sync/store.h"

/* A bundle is closed once it reaches this many bytes (one GET each at bootstrap). */
#define CKPT_BUNDLE_TARGET (8u * 1024u * 1024u)
/* The most bundle bytes a bootstrap keeps in memory (else it falls back to the journals). */
#define CKPT_BUNDLES_MAX (256u * 1024u * 1024u)

struct ckpt_ctx {
        struct store *store;
        struct index *ix;
        struct pull *pull;
        const struct pull_ops *ops; /* the puller's (apply, entry_done, epoch_key, member_known) */
        void *arg;
        uint8_t region_id[32];
        char region_hex[65];
        uint8_t self_id[16];
        uint8_t self_pk[32]; /* this device's signing key (its own manifests in a checkpoint) */
        uint64_t own_seq;    /* this device's journal head (committed and, for writing, uploaded) */
        uint8_t own_head[32];
};

/* One current manifest: the file id and the manifest's hash. */
struct ckpt_file {
        uint8_t file_id[16];
        uint8_t manifest_hash[32];
};

/*
 * Bootstraps from the newest acceptable checkpoint (steps 1-6 above).
 * *APPLIED counts the manifests applied.  Returns 0 (bootstrapped, or no
 * checkpoint to use: the journals take over) or a transient error (the
 * store's -EAGAIN, -EACCES, -ENOMEM: try again at the next round).
 */
int ckpt_bootstrap(const struct ckpt_ctx *x, unsigned *applied) __attribute__((warn_unused_result));

/*
 * The journal vector now: every peer's mark (pull_peer_get) and X's own
 * head (if own_seq > 0), sorted by device id, into malloc'd *OUT (*N).
 * Read it before the state a checkpoint names, so the state is not older.
 * Returns 0, -EBUSY (a removed peer's mark is past its cutoff: its entries
 * wait to be undone, and no checkpoint may carry them, invariant C3),
 * -ENOMEM or the index's error.
 */
int ckpt_vector(const struct ckpt_ctx *x, struct journal_seen **out, size_t *n)
    __attribute__((warn_unused_result));

/*
 * Writes checkpoint SEQ (> every earlier one of this device) of FILES (N;
 * sorted here) with the vector MARKS (NMARKS, from ckpt_vector) and
 * MEMBER_HEAD, signed with SIGN_SK.  KEY (may be NULL) gets its object key.
 * Returns 0, -ENOENT (a manifest or block location is not in the pack
 * index: written before this device indexed its own packs), -EFBIG (more
 * than CKPT_BUNDLES_MAX of manifests), or the store's error.
 */
int ckpt_write(const struct ckpt_ctx *x, const uint8_t sign_sk[static 64],
               const uint8_t member_head[static 32], const struct journal_seen *marks,
               size_t nmarks, struct ckpt_file *files, size_t n, uint64_t seq, char *key)
    __attribute__((warn_unused_result));

#endif
