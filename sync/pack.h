/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_SYNC_PACK_H
#define SEALSYNC_SYNC_PACK_H
/*
 * Packs (<region hex>/p/<hash hex>): immutable objects holding sealed blocks
 * and manifests of any files.  Byte-exact format: doc/FORMAT-sync.md "Pack".
 *
 *   pack    = magic || record[0] || ... || record[n-1] || trailer
 *   record  = u8 kind || u32 len || bytes[len]
 *   trailer = n x entry || u32 n
 *   entry   = u8 kind || u64 off || u32 len || hash(32)       (45 bytes)
 *   hash    = BLAKE2b-256(bytes) of the record;  off = offset of BYTES in the pack
 *   name    = version 2 ("SEALPAK2", built): BLAKE2b-256(magic || trailer)
 *             version 1 ("SEALPAK1", read only): BLAKE2b-256(pack)
 *
 * A version-2 name binds every byte through the trailer's record hashes
 * (doc/SYNC.md D8), so naming a pack and checking one cost one hash pass
 * over the records, not two.
 *
 * The count sits at the very end so the trailer (the pack index: record
 * hash -> off, len) can be fetched with one suffix range read.  Records are
 * contiguous, so every offset is determined by the lengths before it; a
 * decoder accepts only that one layout.  Everything here is pure: no I/O,
 * no globals.  Every byte is untrusted.
 *
 * Invariants enforced by pack_parse (and refused by the builder):
 *   1. magic "SEALPAK2" or "SEALPAK1"; 1 <= n <= PACK_MAX_RECORDS; whole
 *      pack <= PACK_MAX_SIZE.
 *   2. kind is PACK_KIND_BLOCK, _MANIFEST or _LOCS; len within that kind's
 *      bounds (pack_record_check).
 *   3. record i and entry i agree on kind, offset and length, and entry i's
 *      hash is the BLAKE2b-256 of record i's bytes.
 *   4. records end exactly where the trailer starts; no trailing bytes.
 * The same bytes may appear in two records (harmless, never produced).
 */
#include <stddef.h>
#include <stdint.h>

#include "crypto/enc.h"
#include "crypto/hash.h"
#include "crypto/sha256.h"

#define PACK_MAGIC "SEALPAK2"    /* what the builder writes */
#define PACK_MAGIC_V1 "SEALPAK1" /* read only */
#define PACK_MAGIC_LEN 8
#define PACK_HASH_LEN 32
#define PACK_RECORD_HDR_LEN 5 /* u8 kind || u32 len */
#define PACK_ENTRY_LEN 45     /* u8 kind || u64 off || u32 len || hash */
#define PACK_MAX_RECORDS 65536u
#define PACK_MAX_SIZE (64u * 1024u * 1024u) /* whole pack, bytes */
/* A record's bytes start at least here (after magic and one record header). */
#define PACK_MIN_RECORD_OFF (PACK_MAGIC_LEN + PACK_RECORD_HDR_LEN)
/* Sealed-block records: nonce(24) || ciphertext || tag(16), plaintext <= 1 MiB. */
#define PACK_BLOCK_MIN_LEN 40u
#define PACK_BLOCK_MAX_LEN ((1u << 20) + 40u)
/* The smallest valid pack: one minimal block record and its trailer. */
#define PACK_MIN_SIZE (PACK_MIN_RECORD_OFF + PACK_BLOCK_MIN_LEN + PACK_ENTRY_LEN + 4u)

enum pack_kind {
        PACK_KIND_BLOCK = 1,    /* crypto/block.h sealed block */
        PACK_KIND_MANIFEST = 2, /* sync/manifest.h signed manifest */
        PACK_KIND_LOCS = 3,     /* sync/checkpoint.h block locations (checkpoint bundles) */
};

/* Location records (sync/checkpoint.h): 1..65536 locations, grouped by pack. */
#define PACK_LOCS_MIN_LEN (4u + 36u + 44u)
#define PACK_LOCS_MAX_LEN (4u + 65536u * 80u)

/* One trailer entry: where a record's bytes are and what they hash to. */
struct pack_entry {
        uint8_t kind; /* enum pack_kind */
        uint64_t off; /* offset of the record's bytes in the pack */
        uint32_t len;
        uint8_t hash[PACK_HASH_LEN];
};

/*
 * In-memory pack under construction.  Caller-owned: pack_builder_init, then
 * pack_builder_add..., pack_builder_finish, and always pack_builder_release.
 * Fields are private.
 */
struct pack_builder {
        struct enc buf;             /* magic || records so far (not with HASHED) */
        struct pack_entry *entries; /* malloc'd, ncap slots */
        size_t n, ncap;
        size_t len;               /* bytes of magic || records so far */
        int hashed;               /* pack_builder_init_hashed: bytes hashed, not kept */
        struct sha256_stream sha; /* HASHED: the SHA-256 of those bytes so far */
        int err;                  /* sticky -ENOMEM from a failed add */
        struct par *par;          /* pack_builder_set_par, or NULL */
};

void pack_builder_init(struct pack_builder *b);

/*
 * A hashed builder (below) with a pool: a large record's own hash and the
 * pack's running hash over it are computed at once, on two cores when the
 * pool has an idle helper (util/par.h; a busy or NULL pool runs both on the
 * caller's thread).  The bytes and hashes are the same either way.
 */
struct par;
void pack_builder_set_par(struct pack_builder *b, struct par *par);

/*
 * A builder that keeps no record bytes, only the entries and a running
 * SHA-256 of the bytes (issue #10: the committer names a pack whose bytes
 * the pusher builds later from a recipe, and checks them by that SHA-256,
 * doc/SYNC.md D8).  pack_builder_take then returns *OUT = NULL with the
 * pack's length, name and SHA-256, and leaves the builder hashed and empty;
 * pack_builder_finish is -EINVAL for it.
 */
void pack_builder_init_hashed(struct pack_builder *b);

/*
 * Appends a record of KIND with BYTES (LEN bytes) and, if OUT is not NULL,
 * sets *OUT to its trailer entry (offset, length, hash: the record's name in
 * the pack index).  Returns 0; -EINVAL if KIND is unknown or LEN outside the
 * kind's bounds; -EFBIG if the pack would exceed PACK_MAX_RECORDS or
 * PACK_MAX_SIZE (finish this pack and start another; the builder is
 * unchanged); -ENOMEM (the builder is then unusable: release it).
 */
int pack_builder_add(struct pack_builder *b, uint8_t kind, const uint8_t *bytes, size_t len,
                     struct pack_entry *out) __attribute__((warn_unused_result));

/* Number of records added so far. */
size_t pack_builder_count(const struct pack_builder *b);

/* Size in bytes the pack would have if finished now (for batching thresholds). */
size_t pack_builder_size(const struct pack_builder *b);

/*
 * Finishes the pack: *OUT receives a malloc'd copy of its bytes (*OUT_LEN)
 * and HASH its name (version 2).  The builder is left as it was
 * (still to be released).  Returns 0, -EINVAL (no records) or -ENOMEM;
 * outputs untouched on error.
 */
int pack_builder_finish(struct pack_builder *b, uint8_t **out, size_t *out_len,
                        uint8_t hash[static PACK_HASH_LEN]) __attribute__((warn_unused_result));

/*
 * Like pack_builder_finish, but without a copy: the trailer is appended to
 * the builder's own buffer, which *OUT then owns (free(); it holds only
 * sealed records, so it needs no wiping).  The builder is left empty (as
 * after pack_builder_release), ready for a new pack.  SHA, if not NULL,
 * receives the SHA-256 of the pack's bytes (a hashed builder's running one).
 * Returns 0, -EINVAL (no records), -ENOMEM or -EIO (the SHA-256 stream
 * failed); on error the outputs are untouched and the builder must be
 * released.  A committer building packs of S bytes needs about S bytes for
 * it, not 2 S (issue #10).
 */
int pack_builder_take(struct pack_builder *b, uint8_t **out, size_t *out_len,
                      uint8_t hash[static PACK_HASH_LEN], uint8_t *sha)
    __attribute__((warn_unused_result));

/* Frees and wipes everything; B may then be initialised again. */
void pack_builder_release(struct pack_builder *b);

/*
 * Validates a whole pack BUF (LEN bytes, untrusted) against invariants 1-4,
 * recomputing every record's hash.  On success *ENTRIES receives a malloc'd
 * copy of the trailer (free()) and *N its length.  Returns 0, -EBADMSG
 * (malformed), -EILSEQ (well formed, but a record's bytes do not hash to
 * its entry) or -ENOMEM; outputs untouched on error.  The pack's own name
 * (pack_name) is the caller's to check (sync/check.h check_pack does both).
 */
int pack_parse(const uint8_t *buf, size_t len, struct pack_entry **entries, size_t *n)
    __attribute__((warn_unused_result));

/*
 * NAME = the name of pack BUF (LEN bytes, untrusted), as its magic says:
 * version 2, BLAKE2b-256(magic || trailer), the trailer located by the count
 * in the last 4 bytes (bounded as pack_parse bounds it); version 1,
 * BLAKE2b-256(BUF).  Checks only what it needs to find the trailer: a pack
 * whose name matches is still to be pack_parse'd.  Returns 0 or -EBADMSG.
 */
int pack_name(const uint8_t *buf, size_t len, uint8_t name[static PACK_HASH_LEN])
    __attribute__((warn_unused_result));

/*
 * 1 if BUF (LEN bytes) starts with the magic of a pack version above the
 * ones this build reads ("SEALPAK3".."SEALPAK9"), so a reader can say
 * "update" rather than "malformed"; else 0.
 */
int pack_newer(const uint8_t *buf, size_t len);

/* NAME = the version-2 name of a pack whose trailer is TRAILER (TLEN bytes). */
void pack_name_of_trailer(const uint8_t *trailer, size_t tlen, uint8_t name[static PACK_HASH_LEN]);

/* 1 if KIND is known and LEN within its bounds (invariant 2), else 0. */
int pack_kind_len_ok(uint8_t kind, size_t len);

/* Bytes of the trailer of a pack of N records: N * PACK_ENTRY_LEN + 4. */
size_t pack_trailer_len(size_t n);

/*
 * Parses the trailer alone, for rebuilding the pack index with a suffix
 * range read: TAIL is the last TAIL_LEN bytes of a pack of PACK_SIZE bytes
 * (TAIL_LEN >= 4; if it holds less than the whole trailer, -EAGAIN is
 * returned and *NEED is set to the trailer length to fetch).  Checks
 * invariants 1 and 2, and that the entries describe contiguous records
 * that exactly fill [PACK_MAGIC_LEN, PACK_SIZE - trailer): the hashes are
 * NOT checked (pack_record_check does, per fetched record).  Returns 0,
 * -EAGAIN (see above; NEED may be NULL), -EBADMSG or -ENOMEM; outputs
 * untouched on error.
 */
int pack_parse_trailer(const uint8_t *tail, size_t tail_len, uint64_t pack_size,
                       struct pack_entry **entries, size_t *n, size_t *need)
    __attribute__((warn_unused_result));

/*
 * Checks a record fetched on its own (range read): KIND known, LEN within
 * the kind's bounds, and BLAKE2b-256(BYTES) equal to HASH.  Returns 0 or
 * -EBADMSG.
 */
int pack_record_check(uint8_t kind, const uint8_t *bytes, size_t len,
                      const uint8_t hash[static PACK_HASH_LEN]) __attribute__((warn_unused_result));

#endif
