/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_SYNC_JOURNAL_H
#define SEALSYNC_SYNC_JOURNAL_H
/*
 * Journal entries (<region hex>/journal/<device hex>/<seq:016x>-<hash hex>):
 * each device's append-only, signed, hash-chained log of commits.
 * Byte-exact format: doc/FORMAT-sync.md "Journal entry".
 *
 *   object = signed || sig(64)
 *   signed = u8 version(1) || region_id(32) || device_id(16) || u64 seq
 *            || prev(32) || member_head(32) || u64 time_ms
 *            || u32 n || n x seen   (device_id(16) || u64 seq || hash(32))
 *            || u32 n || n x commit (file_id(16) || manifest hash(32) || pack hash(32)
 *                                    || u64 off || u32 len)
 *            || u32 n || n x pack   (hash(32) || u64 size)
 *   sig    = Ed25519(device sign_sk, "sealsync/v1/journal\0" || signed)
 *   hash   = BLAKE2b-256(object)
 *
 * Structural invariants (journal_decode rejects, the encoder refuses):
 *   1. version 1; seq >= 1; prev all zero if and only if seq == 1.
 *   2. seen: at most JOURNAL_MAX_SEEN, strictly ascending by device id, never
 *      the entry's own device (its own head is PREV), every seq >= 1.
 *   3. commits: at most JOURNAL_MAX_COMMITS, strictly ascending by file id
 *      (one commit per file per entry), file id not all zero; len within a
 *      manifest's bounds; the pack is listed in PACKS and the record lies in it:
 *      PACK_MIN_RECORD_OFF <= off and off + len <= size - trailer of one entry.
 *   4. packs: at most JOURNAL_MAX_PACKS, strictly ascending by hash, size in
 *      [PACK_MIN_SIZE, PACK_MAX_SIZE] (sync/pack.h).
 *   5. no trailing bytes; the whole object <= JOURNAL_MAX_SIZE.
 * Not checked here (the engine's): the signer's key and role, the chain
 * (seq/prev against the last applied entry), the member head, that the
 * object key's device/seq/hash match the entry.  Pure: no I/O, no globals.
 */
#include <stddef.h>
#include <stdint.h>

#define JOURNAL_VERSION 1
#define JOURNAL_ID_LEN 32        /* region id */
#define JOURNAL_DEVICE_ID_LEN 16 /* device and file ids */
#define JOURNAL_HASH_LEN 32
#define JOURNAL_SIG_LEN 64
#define JOURNAL_MAX_SEEN 4096
#define JOURNAL_MAX_COMMITS 65536
#define JOURNAL_MAX_PACKS 65536
#define JOURNAL_SEEN_LEN 56   /* device_id || u64 seq || hash */
#define JOURNAL_COMMIT_LEN 92 /* file_id || 2 hashes || u64 off || u32 len */
#define JOURNAL_PACK_LEN 40   /* hash || u64 size */
#define JOURNAL_FIXED_LEN (1u + 32u + 16u + 8u + 32u + 32u + 8u + 3u * 4u + JOURNAL_SIG_LEN)
#define JOURNAL_MAX_SIZE                                                                           \
        (JOURNAL_FIXED_LEN + JOURNAL_MAX_SEEN * JOURNAL_SEEN_LEN +                                 \
         JOURNAL_MAX_COMMITS * JOURNAL_COMMIT_LEN + JOURNAL_MAX_PACKS * JOURNAL_PACK_LEN)
/* "<region:64>/journal/<device:32>/<seq:016x>-<hash:64>" and its NUL. */
#define JOURNAL_KEY_LEN (64 + 9 + 32 + 1 + 16 + 1 + 64)
#define JOURNAL_KEY_SIZE (JOURNAL_KEY_LEN + 1)

struct journal_seen {
        uint8_t device_id[JOURNAL_DEVICE_ID_LEN];
        uint64_t seq;
        uint8_t hash[JOURNAL_HASH_LEN]; /* that device's entry at SEQ */
};

struct journal_commit {
        uint8_t file_id[JOURNAL_DEVICE_ID_LEN];
        uint8_t manifest_hash[JOURNAL_HASH_LEN];
        uint8_t pack_hash[JOURNAL_HASH_LEN];
        uint64_t off; /* the manifest record's bytes in the pack */
        uint32_t len;
};

struct journal_pack {
        uint8_t hash[JOURNAL_HASH_LEN];
        uint64_t size;
};

/*
 * One entry.  Filled by journal_decode (arrays malloc'd; journal_release),
 * or by the caller for encoding (arrays the caller's).
 */
struct journal_entry {
        uint8_t version; /* JOURNAL_VERSION */
        uint8_t region_id[JOURNAL_ID_LEN];
        uint8_t device_id[JOURNAL_DEVICE_ID_LEN];
        uint64_t seq;
        uint8_t prev[JOURNAL_HASH_LEN];        /* hash of entry seq-1; zeros at seq 1 */
        uint8_t member_head[JOURNAL_HASH_LEN]; /* membership head the author saw */
        uint64_t time_ms;                      /* author's clock; informational */
        size_t nseen;
        struct journal_seen *seen;
        size_t ncommits;
        struct journal_commit *commits;
        size_t npacks;
        struct journal_pack *packs;
        /* Set by journal_decode only: */
        uint8_t sig[JOURNAL_SIG_LEN];
        uint8_t hash[JOURNAL_HASH_LEN];
};

/*
 * Encodes E, signs it with SIGN_SK (the device's, 64 bytes); *OUT receives
 * the malloc'd object (*OUT_LEN bytes) and HASH its BLAKE2b-256.
 * Deterministic: the same E and key give the same bytes.  Returns 0,
 * -EINVAL (E violates invariants 1-5) or -ENOMEM; outputs untouched on error.
 */
int journal_encode_sign(const struct journal_entry *e, const uint8_t sign_sk[static 64],
                        uint8_t **out, size_t *out_len, uint8_t hash[static JOURNAL_HASH_LEN])
    __attribute__((warn_unused_result));

/*
 * Parses BUF (LEN bytes, untrusted) into *OUT: structure only (invariants
 * 1-5), signature not checked; sets OUT->sig and hash.  Returns 0,
 * -EBADMSG or -ENOMEM.  *OUT untouched on error; journal_release on success.
 */
int journal_decode(const uint8_t *buf, size_t len, struct journal_entry *out)
    __attribute__((warn_unused_result));

/*
 * Verifies the signature (type "journal") of the object BUF (LEN bytes)
 * under SIGN_PK.  Returns 0, -EBADMSG, or -ENOMEM (retryable).
 */
int journal_verify_sig(const uint8_t *buf, size_t len, const uint8_t sign_pk[static 32])
    __attribute__((warn_unused_result));

/* Frees what journal_decode allocated and zeroes *E.  NULL is a no-op. */
void journal_release(struct journal_entry *e);

/*
 * Writes "<REGION_HEX>/journal/<device hex>/<seq:016x>-<hash hex>" into OUT
 * (JOURNAL_KEY_SIZE bytes).  REGION_HEX must be 64 lowercase hex digits.
 * Returns 0 or -EINVAL (bad REGION_HEX, SEQ 0).
 */
int journal_object_key(const char *region_hex,
                       const uint8_t device_id[static JOURNAL_DEVICE_ID_LEN], uint64_t seq,
                       const uint8_t hash[static JOURNAL_HASH_LEN],
                       char out[static JOURNAL_KEY_SIZE]) __attribute__((warn_unused_result));

/*
 * Parses an object key of that form, strictly: exact widths, lowercase hex
 * only, seq >= 1, nothing else.  REGION_ID may be NULL.  Returns 0 or
 * -EINVAL; outputs untouched on error.
 */
int journal_parse_key(const char *key, uint8_t *region_id,
                      uint8_t device_id[static JOURNAL_DEVICE_ID_LEN], uint64_t *seq,
                      uint8_t hash[static JOURNAL_HASH_LEN]) __attribute__((warn_unused_result));

/*
 * ---- Shared with sync/checkpoint.c (the same lists and key shapes) ----
 *
 * journal_marks_check: M (N entries) has at most MAX entries, strictly
 * ascending by device id, every seq >= 1, none for EXCLUDE (16 bytes, may be
 * NULL).  journal_refs_check: invariants 3 and 4 for COMMITS (at most MAX)
 * and PACKS.  Both return 0 or -EBADMSG.
 */
int journal_marks_check(const struct journal_seen *m, size_t n, size_t max, const uint8_t *exclude)
    __attribute__((warn_unused_result));
int journal_refs_check(const struct journal_commit *commits, size_t ncommits, size_t max,
                       const struct journal_pack *packs, size_t npacks)
    __attribute__((warn_unused_result));

struct enc;
struct dec;
/* Canonical encodings: u32 n || n x mark;  u32 n || n x commit || u32 n || n x pack. */
void journal_marks_enc(struct enc *d, const struct journal_seen *m, size_t n);
void journal_refs_enc(struct enc *d, const struct journal_commit *commits, size_t ncommits,
                      const struct journal_pack *packs, size_t npacks);
/*
 * A u32 count bounded by MAX and by the bytes left in D (ITEM bytes each);
 * 0 and D's error set when out of bounds.
 */
size_t journal_dec_count(struct dec *d, size_t max, size_t item);
/*
 * Decoders of those lists (structure only: the caller checks the rules).
 * Arrays malloc'd (NULL when empty).  Return 0, -EBADMSG or -ENOMEM; outputs
 * untouched on error.
 */
int journal_marks_dec(struct dec *d, size_t max, struct journal_seen **out, size_t *n)
    __attribute__((warn_unused_result));
int journal_refs_dec(struct dec *d, size_t max, struct journal_commit **commits, size_t *ncommits,
                     struct journal_pack **packs, size_t *npacks)
    __attribute__((warn_unused_result));

/*
 * Keys "<REGION_HEX><MID><device hex>/<seq:016x>-<hash hex>" (MID such as
 * "/journal/" or "/c/") into OUT (SIZE bytes), their length, and their
 * strict parser (as journal_parse_key).  Return 0 or -EINVAL.
 */
int journal_seq_key(const char *region_hex, const char *mid,
                    const uint8_t device_id[static JOURNAL_DEVICE_ID_LEN], uint64_t seq,
                    const uint8_t hash[static JOURNAL_HASH_LEN], char *out, size_t size)
    __attribute__((warn_unused_result));
size_t journal_seq_key_len(const char *mid);
int journal_parse_seq_key(const char *key, const char *mid, uint8_t *region_id,
                          uint8_t device_id[static JOURNAL_DEVICE_ID_LEN], uint64_t *seq,
                          uint8_t hash[static JOURNAL_HASH_LEN])
    __attribute__((warn_unused_result));

#endif
