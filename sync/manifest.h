/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_SYNC_MANIFEST_H
#define SEALSYNC_SYNC_MANIFEST_H
/*
 * Manifests: the signed description of one version of one file (the
 * "signature package").  Byte-exact format: doc/FORMAT-sync.md "Manifest".
 *
 *   object = signed || sig(64)
 *   signed = u8 version(1) || region_id(32) || file_id(16) || u8 kind
 *            || author(16) || u64 lamport
 *            || u32 n || n x (device_id(16) || u64 counter)      version vector
 *            || u32 n || n x parent manifest hash(32)
 *            || epoch_id(32) || salt(32) || key_commit(32) || u32 block_size || u64 size
 *            || u32 n || n x (u64 index || hash(32) || u8 final)  block refs
 *            || u32 len || meta(len)                               sealed metadata
 *   sig    = Ed25519(author sign_sk, "sealsync/v1/manifest\0" || signed)
 *   hash   = BLAKE2b-256(object)
 *
 *   meta   = aead_seal(K_meta, AD, padded)           (crypto/aead.h, XChaCha20-Poly1305)
 *   K_meta = kdf_derive(32, epoch_key, "meta", file_id)
 *   AD     = "sealsync/v1/manifest-meta\0" || region_id || file_id || u64be lamport
 *   padded = var name || parent_id(16) || u32 mode || u64 mtime_s || u32 mtime_ns
 *            || var symlink_target || u32 n || n x (var xattr name || var value)
 *            || zeros to the next multiple of 256 (none if already a multiple)
 *
 * Structural invariants (manifest_decode rejects, encoders refuse):
 *   1. version 1; kind 1..5; file_id not all zero (zero is the region root,
 *      which has no manifest); lamport >= 1.
 *   2. version vector: 1..MANIFEST_MAX_VV entries, strictly ascending by
 *      device id, every counter >= 1, and the author present.
 *   3. parents: 0..MANIFEST_MAX_PARENTS hashes, strictly ascending.
 *   4. block_size a power of two in [BLOCK_MIN_SIZE, BLOCK_MAX_SIZE];
 *      size <= INT64_MAX.
 *   5. block refs: only kind FILE has any, and only when size > 0; at most
 *      MANIFEST_MAX_REFS; index strictly ascending and below
 *      nblocks = ceil(size / block_size); final is 0 or 1, and 1 exactly on
 *      index nblocks - 1 (if that block is present).  Absent indexes are holes.
 *      Other kinds have size 0.
 *   6. meta length = 40 + 256k for 1 <= k <= MANIFEST_META_MAX / 256.
 *   7. no trailing bytes; the whole object <= MANIFEST_MAX_SIZE.
 * Metadata invariants (manifest_meta_decode / manifest_open_meta):
 *   8. name 1..255 bytes, no '/' and no NUL, not "." or "..".
 *   9. symlink target 1..4095 bytes without NUL for kind SYMLINK, empty otherwise.
 *      Kind SPECIAL: after the xattrs u8 type (1..4, enum manifest_special_type)
 *      and u64 rdev (0 unless CHR/BLK); other kinds have neither (doc/SYNC.md C6).
 *  10. mode has only permission bits (07777; the type is KIND); mtime_ns < 10^9.
 *  11. xattrs: at most MANIFEST_MAX_XATTRS, names strictly ascending (bytewise),
 *      6..255 bytes starting "user.", no NUL; values 0..65536 bytes.
 *  12. padding: fewer than 256 bytes, all zero.
 *
 * Not checked here (the engine's, with the membership and the parents at
 * hand): the author's key and role, the epoch, that the vector dominates the
 * parents'.  Everything here is pure: no I/O, no globals.
 */
#include <stddef.h>
#include <stdint.h>

#define MANIFEST_VERSION 1
#define MANIFEST_ID_LEN 32      /* region id, epoch id */
#define MANIFEST_FILE_ID_LEN 16 /* file ids, device ids */
#define MANIFEST_HASH_LEN 32
#define MANIFEST_SIG_LEN 64
#define MANIFEST_MAX_VV 4096
#define MANIFEST_MAX_PARENTS 64
#define MANIFEST_MAX_REFS (1u << 20)
#define MANIFEST_META_PAD 256
#define MANIFEST_META_MAX (1u << 20) /* padded plaintext, bytes */
#define MANIFEST_NAME_MAX 255
#define MANIFEST_TARGET_MAX 4095
#define MANIFEST_XATTR_NAME_MAX 255
#define MANIFEST_XATTR_VALUE_MAX 65536
#define MANIFEST_MAX_XATTRS 1024
#define MANIFEST_META_OVERHEAD 40 /* nonce(24) + tag(16) */
#define MANIFEST_VV_ENTRY_LEN 24  /* device_id(16) || u64 counter */
#define MANIFEST_REF_LEN 41       /* u64 index || hash(32) || u8 final */
/* Every fixed field and count of an object, with empty lists and meta. */
#define MANIFEST_FIXED_LEN (74u + 4u + 4u + 96u + 4u + 8u + 4u + 4u + MANIFEST_SIG_LEN)
#define MANIFEST_MIN_SIZE                                                                          \
        (MANIFEST_FIXED_LEN + MANIFEST_VV_ENTRY_LEN + MANIFEST_META_OVERHEAD + MANIFEST_META_PAD)
#define MANIFEST_MAX_SIZE                                                                          \
        (MANIFEST_FIXED_LEN + MANIFEST_MAX_VV * MANIFEST_VV_ENTRY_LEN +                            \
         MANIFEST_MAX_PARENTS * MANIFEST_HASH_LEN + MANIFEST_MAX_REFS * MANIFEST_REF_LEN +         \
         MANIFEST_META_OVERHEAD + MANIFEST_META_MAX)

enum manifest_kind {
        MANIFEST_FILE = 1,
        MANIFEST_DIR = 2,
        MANIFEST_SYMLINK = 3,
        MANIFEST_TOMBSTONE = 4,
        MANIFEST_SPECIAL = 5, /* FIFO, socket or device: metadata only (doc/SYNC.md C6) */
};

/* The sealed type of a MANIFEST_SPECIAL (its metadata's TYPE field). */
enum manifest_special_type {
        MANIFEST_SPECIAL_FIFO = 1,
        MANIFEST_SPECIAL_SOCK = 2,
        MANIFEST_SPECIAL_CHR = 3,
        MANIFEST_SPECIAL_BLK = 4,
};

enum manifest_vv_order {
        MANIFEST_VV_EQUAL = 0,
        MANIFEST_VV_DOMINATES = 1, /* a > b: a has seen everything b has, and more */
        MANIFEST_VV_DOMINATED = 2, /* a < b */
        MANIFEST_VV_CONCURRENT = 3,
};

struct manifest_vv {
        uint8_t device_id[MANIFEST_FILE_ID_LEN];
        uint64_t counter;
};

struct manifest_ref {
        uint64_t index;
        uint8_t hash[MANIFEST_HASH_LEN]; /* BLAKE2b-256 of the sealed block */
        uint8_t final;                   /* 0/1 */
};

/*
 * One version.  Filled by manifest_decode (arrays malloc'd; release with
 * manifest_release), or by the caller for encoding (arrays the caller's;
 * then do not call manifest_release unless they were malloc'd).
 */
struct manifest {
        uint8_t version; /* MANIFEST_VERSION */
        uint8_t region_id[MANIFEST_ID_LEN];
        uint8_t file_id[MANIFEST_FILE_ID_LEN];
        uint8_t kind; /* enum manifest_kind */
        uint8_t author[MANIFEST_FILE_ID_LEN];
        uint64_t lamport;
        size_t nvv;
        struct manifest_vv *vv; /* ascending device_id */
        size_t nparents;
        uint8_t (*parents)[MANIFEST_HASH_LEN]; /* ascending */
        uint8_t epoch_id[MANIFEST_ID_LEN];
        uint8_t salt[32];
        uint8_t key_commit[32];
        uint32_t block_size;
        uint64_t size;
        size_t nrefs;
        struct manifest_ref *refs; /* ascending index */
        uint8_t *meta;             /* sealed metadata */
        size_t meta_len;
        /* Set by manifest_decode only: */
        uint8_t sig[MANIFEST_SIG_LEN];
        uint8_t hash[MANIFEST_HASH_LEN]; /* BLAKE2b-256 of the object */
        size_t signed_len;               /* object length - MANIFEST_SIG_LEN */
};

struct manifest_xattr {
        const uint8_t *name; /* not NUL-terminated */
        size_t name_len;
        const uint8_t *value;
        size_t value_len;
};

/*
 * Decrypted metadata.  From manifest_open_meta / manifest_meta_decode the
 * xattr pointers point into PLAIN (private); release with
 * manifest_meta_release, which wipes everything.  For encoding, the caller
 * fills the fields (xattrs its own) and leaves PLAIN NULL.
 */
struct manifest_meta {
        char name[MANIFEST_NAME_MAX + 1]; /* NUL-terminated, name_len bytes */
        size_t name_len;
        uint8_t parent_id[MANIFEST_FILE_ID_LEN]; /* all zero: the region root */
        uint32_t mode;                           /* permission bits only */
        uint64_t mtime_s;
        uint32_t mtime_ns;
        char target[MANIFEST_TARGET_MAX + 1]; /* symlink target, NUL-terminated */
        size_t target_len;
        size_t nxattrs;
        struct manifest_xattr *xattrs; /* ascending name */
        uint8_t special_type;          /* kind SPECIAL: enum manifest_special_type; else 0 */
        uint64_t rdev;                 /* kind SPECIAL CHR/BLK: device number; else 0 */
        uint8_t *plain;                /* private: decrypted record */
        size_t plain_len;
};

/* 1 if NAME (LEN bytes) passes the name rules (invariant 8), else 0. */
int manifest_name_valid(const void *name, size_t len);

/*
 * K_file's commitment, kdf_derive(32, kdf_derive(32, EPOCH_KEY, "file",
 * file_id || salt), "commit", "") -- equal to crypto/block.h's
 * block_key_commit.  Returns 0 or a negative errno from kdf_derive.
 */
int manifest_key_commit(uint8_t out[static 32], const uint8_t epoch_key[static 32],
                        const uint8_t file_id[static MANIFEST_FILE_ID_LEN],
                        const uint8_t salt[static 32]) __attribute__((warn_unused_result));

/*
 * Encodes META as the padded plaintext record for a manifest of KIND into
 * malloc'd *OUT (*OUT_LEN, a multiple of 256; wipe before freeing: it holds
 * names).  Returns 0, -EINVAL (META violates invariants 8-11, or the padded
 * record would exceed MANIFEST_META_MAX) or -ENOMEM.  Outputs untouched on error.
 */
int manifest_meta_encode(const struct manifest_meta *meta, uint8_t kind, uint8_t **out,
                         size_t *out_len) __attribute__((warn_unused_result));

/*
 * Strictly decodes a padded plaintext record PLAIN (LEN bytes) of a manifest
 * of KIND into *OUT (takes a private copy; manifest_meta_release).  Returns
 * 0, -EBADMSG (invariants 8-12, length not a multiple of 256 or above
 * MANIFEST_META_MAX, malformed) or -ENOMEM.  *OUT untouched on error.
 */
int manifest_meta_decode(const uint8_t *plain, size_t len, uint8_t kind, struct manifest_meta *out)
    __attribute__((warn_unused_result));

/*
 * Seals META for manifest M (uses M's region_id, file_id, kind, lamport)
 * under K_meta from EPOCH_KEY, with a fresh random nonce: *OUT (malloc'd,
 * *OUT_LEN bytes) is what goes into M->meta.  Returns 0, -EINVAL (META
 * invalid, see manifest_meta_encode) or -ENOMEM.  Outputs untouched on error.
 */
int manifest_meta_seal(const struct manifest *m, const struct manifest_meta *meta,
                       const uint8_t epoch_key[static 32], uint8_t **out, size_t *out_len)
    __attribute__((warn_unused_result));

/*
 * Encodes M as it is (M->meta being already sealed) and signs it with
 * SIGN_SK (the author's, 64 bytes).  *OUT receives the malloc'd object
 * (*OUT_LEN bytes).  Deterministic (Ed25519): the same M and key give the
 * same bytes.  Returns 0, -EINVAL (M violates invariants 1-7) or -ENOMEM.
 * Outputs untouched on error.  M->sig/hash/signed_len are ignored.
 */
int manifest_encode_sealed(const struct manifest *m, const uint8_t sign_sk[static 64],
                           uint8_t **out, size_t *out_len) __attribute__((warn_unused_result));

/*
 * The usual way to make a manifest: checks that M->key_commit is the one
 * derived from EPOCH_KEY, seals META (manifest_meta_seal; M->meta and
 * M->meta_len are ignored) and encodes and signs (manifest_encode_sealed).
 * Returns 0, -EINVAL (wrong key_commit, M or META invalid) or -ENOMEM.
 * Outputs untouched on error.
 */
int manifest_encode_sign(const struct manifest *m, const struct manifest_meta *meta,
                         const uint8_t epoch_key[static 32], const uint8_t sign_sk[static 64],
                         uint8_t **out, size_t *out_len) __attribute__((warn_unused_result));

/*
 * Parses BUF (LEN bytes, untrusted) into *OUT: structure only (invariants
 * 1-7), no cryptography; sets OUT->sig, hash and signed_len.  Returns 0,
 * -EBADMSG (malformed, out of bounds, non-canonical) or -ENOMEM.  *OUT
 * untouched on error; on success release it with manifest_release.
 */
int manifest_decode(const uint8_t *buf, size_t len, struct manifest *out)
    __attribute__((warn_unused_result));

/*
 * Checks that BUF (LEN bytes) is the object M was decoded from (length and
 * hash) and that its signature (type "manifest") verifies under SIGN_PK.
 * Returns 0, -EBADMSG, or -ENOMEM (the body could not be buffered for
 * verification: retryable, not evidence of forgery).
 */
int manifest_verify_sig(const uint8_t *buf, size_t len, const struct manifest *m,
                        const uint8_t sign_pk[static 32]) __attribute__((warn_unused_result));

/*
 * Opens M's metadata with EPOCH_KEY: first checks M->key_commit against the
 * one derived from EPOCH_KEY (constant time), then opens the AEAD and decodes
 * strictly (invariants 8-12).  Returns 0, -EBADMSG (wrong key, tampered,
 * malformed; no plaintext is released) or -ENOMEM.  *OUT untouched on error.
 */
int manifest_open_meta(const struct manifest *m, const uint8_t epoch_key[static 32],
                       struct manifest_meta *out) __attribute__((warn_unused_result));

/*
 * Compares two version vectors (each strictly ascending by device id; an
 * absent device counts 0).  Returns an enum manifest_vv_order.
 */
int manifest_vv_compare(const struct manifest_vv *a, size_t na, const struct manifest_vv *b,
                        size_t nb);

/*
 * Invariant C8 of doc/SYNC.md: how version A stands to version B for the
 * conflict rules.  Their own vectors decide (manifest_vv_compare), unless
 * they contradict the order of (Lamport, author, hash): an honest version
 * is later than every version its vector counts, so a vector that counts B
 * while A is not later (or counts A while B is not later) counts another
 * branch of a forked journal -- two entries at one seq of an equivocating
 * device, the model's finding 2 -- and the two are concurrent (rule 3 keeps
 * both).  Equal vectors with different hashes are concurrent too.  Pure;
 * costs one comparison more than manifest_vv_compare when the vectors order
 * the two.  Returns an enum manifest_vv_order.
 */
int manifest_order(const struct manifest *a, const struct manifest *b);

/* 1 if A is later than B by (Lamport, author, hash), rule 3's winner; else 0. */
int manifest_later(const struct manifest *a, const struct manifest *b);

/* Frees what manifest_decode allocated and zeroes *M.  NULL is a no-op. */
void manifest_release(struct manifest *m);

/* Wipes and frees *META (decoded plaintext, names, xattrs).  NULL is a no-op. */
void manifest_meta_release(struct manifest_meta *meta);

#endif
