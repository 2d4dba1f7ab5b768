/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_SYNC_CHECKPOINT_H
#define SEALSYNC_SYNC_CHECKPOINT_H
/*
 * Checkpoints (<region hex>/c/<device hex>/<seq:016x>-<hash hex>): a
 * writer's or admin's signed summary of a region's state, so a new device
 * bootstraps in a few GETs instead of replaying every journal.  Byte-exact
 * format: doc/FORMAT-sync.md "Checkpoint".
 *
 *   object = signed || sig(64)
 *   signed = u8 version(1) || region_id(32) || device_id(16) || u64 seq
 *            || member_head(32) || u64 time_ms
 *            || u32 n || n x mark (device_id(16) || u64 seq || hash(32))
 *            || u32 n || n x file (file_id(16) || manifest hash(32) || pack hash(32)
 *                                  || u64 off || u32 len)
 *            || u32 n || n x pack (hash(32) || u64 size)
 *   sig    = Ed25519(device sign_sk, "sealsync/v1/checkpoint\0" || signed)
 *   hash   = BLAKE2b-256(object)
 *
 * MARKS is the journal vector the author had applied (its own committed
 * and uploaded head included); FILES names, per file id, the current
 * manifest (a tombstone for a deleted file) and where its record is; PACKS
 * are the checkpoint's bundles: packs built by the author holding those
 * manifest records and location records (PACK_KIND_LOCS, below) for every
 * block the manifests reference.  Everything a bootstrap reads is bound by
 * hash to the signature.
 *
 * Structural invariants (checkpoint_decode rejects, the encoder refuses):
 *   1. version 1; seq >= 1.
 *   2. marks: at most CHECKPOINT_MAX_MARKS, strictly ascending by device id,
 *      every seq >= 1 (the author's own journal may appear).
 *   3. files and packs: the rules of a journal entry's commits and packs
 *      (journal.h invariants 3 and 4) with at most CHECKPOINT_MAX_FILES files.
 *   4. no trailing bytes; the whole object <= CHECKPOINT_MAX_SIZE.
 * Not checked here (the engine's, sync/ckpt.c): the author's key and role,
 * the member head, the marks against local marks and the journals, the
 * bundles and manifests.  Pure: no I/O, no globals.
 */
#include <stddef.h>
#include <stdint.h>

#include "sync/journal.h"

#define CHECKPOINT_VERSION 1
#define CHECKPOINT_MAX_MARKS 8192
#define CHECKPOINT_MAX_FILES (1u << 20)
#define CHECKPOINT_SIG_LEN 64
#define CHECKPOINT_FIXED_LEN (1u + 32u + 16u + 8u + 32u + 8u + 3u * 4u + CHECKPOINT_SIG_LEN)
#define CHECKPOINT_MAX_SIZE                                                                        \
        ((size_t)CHECKPOINT_FIXED_LEN + (size_t)CHECKPOINT_MAX_MARKS * JOURNAL_SEEN_LEN +          \
         (size_t)CHECKPOINT_MAX_FILES * JOURNAL_COMMIT_LEN +                                       \
         (size_t)JOURNAL_MAX_PACKS * JOURNAL_PACK_LEN)
#define CHECKPOINT_KEY_MID "/c/"
/* "<region:64>/c/<device:32>/<seq:016x>-<hash:64>" and its NUL. */
#define CHECKPOINT_KEY_LEN (64 + 3 + 32 + 1 + 16 + 1 + 64)
#define CHECKPOINT_KEY_SIZE (CHECKPOINT_KEY_LEN + 1)
/* Location records: at most this many locations each (sync/pack.h PACK_LOCS_MAX_LEN). */
#define CHECKPOINT_LOCS_MAX 65536u

/*
 * One checkpoint.  Filled by checkpoint_decode (arrays malloc'd;
 * checkpoint_release), or by the caller for encoding (arrays the caller's).
 */
struct checkpoint {
        uint8_t version; /* CHECKPOINT_VERSION */
        uint8_t region_id[JOURNAL_ID_LEN];
        uint8_t device_id[JOURNAL_DEVICE_ID_LEN]; /* the author */
        uint64_t seq;                             /* the author's checkpoint counter */
        uint8_t member_head[JOURNAL_HASH_LEN];    /* membership head the author saw */
        uint64_t time_ms;                         /* author's clock; informational */
        size_t nmarks;
        struct journal_seen *marks; /* the journal vector */
        size_t nfiles;
        struct journal_commit *files; /* current manifest per file id, in a bundle */
        size_t npacks;
        struct journal_pack *packs; /* the bundles */
        /* Set by checkpoint_decode only: */
        uint8_t sig[CHECKPOINT_SIG_LEN];
        uint8_t hash[JOURNAL_HASH_LEN];
};

/*
 * Encodes C, signs it with SIGN_SK; *OUT receives the malloc'd object
 * (*OUT_LEN bytes), HASH its BLAKE2b-256.  Deterministic.  Returns 0,
 * -EINVAL (C violates invariants 1-4) or -ENOMEM; outputs untouched on error.
 */
int checkpoint_encode_sign(const struct checkpoint *c, const uint8_t sign_sk[static 64],
                           uint8_t **out, size_t *out_len, uint8_t hash[static JOURNAL_HASH_LEN])
    __attribute__((warn_unused_result));

/*
 * Parses BUF (LEN bytes, untrusted) into *OUT: structure only (invariants
 * 1-4); sets OUT->sig and hash.  Returns 0, -EBADMSG or -ENOMEM.  *OUT
 * untouched on error; checkpoint_release on success.
 */
int checkpoint_decode(const uint8_t *buf, size_t len, struct checkpoint *out)
    __attribute__((warn_unused_result));

/* The signature (type "checkpoint") of BUF under SIGN_PK: 0, -EBADMSG or -ENOMEM. */
int checkpoint_verify_sig(const uint8_t *buf, size_t len, const uint8_t sign_pk[static 32])
    __attribute__((warn_unused_result));

/*
 * What a receiver checks on the bytes alone: the object listed as
 * "<REGION_ID>/c/<DEVICE_ID>/<SEQ>-<NAME_HASH>" hashes to NAME_HASH, decodes,
 * names REGION_ID, DEVICE_ID and SEQ, and is signed under SIGN_PK.  Returns
 * 0, -EBADMSG (*WHY: a static reason) or -ENOMEM; *OUT as checkpoint_decode.
 */
int checkpoint_open(const uint8_t *buf, size_t len, const uint8_t name_hash[static 32],
                    const uint8_t region_id[static 32], const uint8_t device_id[static 16],
                    uint64_t seq, const uint8_t sign_pk[static 32], struct checkpoint *out,
                    const char **why) __attribute__((warn_unused_result));

/* C's mark for DEVICE_ID (binary search), or NULL. */
const struct journal_seen *checkpoint_mark(const struct checkpoint *c,
                                           const uint8_t device_id[static 16]);

/* C's file entry for FILE_ID (binary search), or NULL. */
const struct journal_commit *checkpoint_file(const struct checkpoint *c,
                                             const uint8_t file_id[static 16]);

/* Frees what checkpoint_decode allocated and zeroes *C.  NULL is a no-op. */
void checkpoint_release(struct checkpoint *c);

/* Object keys, as journal_object_key / journal_parse_key with "/c/". */
int checkpoint_object_key(const char *region_hex, const uint8_t device_id[static 16], uint64_t seq,
                          const uint8_t hash[static 32], char out[static CHECKPOINT_KEY_SIZE])
    __attribute__((warn_unused_result));
int checkpoint_parse_key(const char *key, uint8_t *region_id, uint8_t device_id[static 16],
                         uint64_t *seq, uint8_t hash[static 32])
    __attribute__((warn_unused_result));

/*
 * Location records (pack records of kind PACK_KIND_LOCS in a checkpoint's
 * bundles): where the sealed blocks of the checkpoint's manifests are.
 *
 *   locs  = u32 n || n x group                     n >= 1
 *   group = pack_hash(32) || u32 k || k x loc     k >= 1
 *   loc   = record hash(32) || u64 off || u32 len
 *
 * Rules: groups strictly ascending by pack hash; locations strictly
 * ascending by offset, not overlapping (each next off >= off + len + 5),
 * off >= 13, len within a sealed block's bounds, off + len <= PACK_MAX_SIZE
 * - 49; at most CHECKPOINT_LOCS_MAX locations in all.  The flat form below is sorted by
 * (pack, off).  A location is only a hint: the block fetched there is
 * checked against its signed reference.
 */
struct checkpoint_loc {
        uint8_t pack[JOURNAL_HASH_LEN];
        uint8_t hash[JOURNAL_HASH_LEN];
        uint64_t off;
        uint32_t len;
};

/* Encodes L (N, sorted as above); -EINVAL if it breaks a rule, -ENOMEM. */
int checkpoint_locs_encode(const struct checkpoint_loc *l, size_t n, uint8_t **out, size_t *out_len)
    __attribute__((warn_unused_result));

/* Decodes BUF (LEN, untrusted) into malloc'd *OUT (*N); -EBADMSG, -ENOMEM. */
int checkpoint_locs_decode(const uint8_t *buf, size_t len, struct checkpoint_loc **out, size_t *n)
    __attribute__((warn_unused_result));

/* Orders locations by (pack, off): for qsort. */
int checkpoint_loc_cmp(const void *a, const void *b);

#endif
