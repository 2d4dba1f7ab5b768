/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_SYNC_RECIPE_H
#define SEALSYNC_SYNC_RECIPE_H
/*
 * Pack recipes (issue #10, "Write once"; doc/DESIGN.md "Write once"): what
 * the outbox holds instead of a pack's bytes.  A recipe names, record by
 * record, where the bytes of a pack are: a sealed block is a range of a
 * local ciphertext file (file id, offset, length), a manifest or location
 * record is held inline.  The pusher assembles the pack from it at upload
 * time (recipe_assemble), so a committed version's blocks are written once
 * locally and read once to upload.
 *
 *   recipe = "SEALRCP2" || u64 pack_size || pack_hash[32] || sha256[32] || u32 n || n x item
 *          | "SEALRCP1" || u64 pack_size || pack_hash[32] || u32 n || n x item   (read only)
 *   item   = u8 kind || u32 len || hash[32] || body
 *   body   = kind 1 (block):          file_id[16] || u64 off
 *            kind 2, 3 (inline):      bytes[len]
 *
 * The pack it stands for is the one pack_builder would build from the
 * records in order (doc/FORMAT-sync.md "Pack"): version 2 for a version-2
 * recipe, version 1 for a version-1 one (an outbox written by an older
 * build); PACK_SIZE and PACK_HASH are that pack's size and name, SHA256 the
 * SHA-256 of its bytes as the committer computed it.  The recipe is local,
 * untrusted input (recipe_decode checks everything below); the assembled
 * pack must have that SHA-256 (version 1: hash to PACK_HASH) before anything
 * is uploaded (doc/SYNC.md D5, D8).  That guards against damage and moved
 * blocks, not against a hand-made recipe: a recipe is not authenticated
 * (whoever can write the outbox can as well damage the ciphertext files it
 * points into), and receivers check every record of a pack anyway.
 *
 * Invariants enforced by recipe_decode:
 *   1. magic; 1 <= n <= PACK_MAX_RECORDS; every kind known and its len within
 *      the kind's bounds (as pack_parse); no trailing bytes.
 *   2. PACK_SIZE equals the size of the pack the items describe, and is at
 *      most PACK_MAX_SIZE.
 *   3. an inline item's hash is the BLAKE2b-256 of its bytes.
 *   4. version 2: PACK_HASH is the version-2 name of the trailer the items
 *      describe (so the name uploaded is the name of what is uploaded).
 */
#include <stddef.h>
#include <stdint.h>

#include "crypto/enc.h"
#include "crypto/sha256.h"
#include "sync/pack.h"

#define RECIPE_MAGIC "SEALRCP2"    /* what the builder writes */
#define RECIPE_MAGIC_V1 "SEALRCP1" /* read only */
#define RECIPE_MAGIC_LEN 8
/* The fixed part before the items (version 2; version 1 lacks the SHA-256). */
#define RECIPE_HDR_LEN (RECIPE_MAGIC_LEN + 8 + PACK_HASH_LEN + SHA256_LEN + 4)

/* One record of the pack.  For a block, FILE_ID/OFF say where its bytes are. */
struct recipe_item {
        uint8_t kind; /* enum pack_kind */
        uint32_t len;
        uint8_t hash[PACK_HASH_LEN];
        uint8_t file_id[16];  /* PACK_KIND_BLOCK */
        uint64_t off;         /* PACK_KIND_BLOCK: offset of the sealed bytes in the file */
        const uint8_t *bytes; /* inline kinds: points into the decoded buffer */
};

/* A decoded recipe; ITEMS malloc'd (recipe_release). */
struct recipe {
        int version; /* 2, or 1 (a version-1 pack, checked by its name) */
        uint64_t pack_size;
        uint8_t pack_hash[PACK_HASH_LEN];
        uint8_t sha256[SHA256_LEN]; /* version 2: of the pack's bytes */
        struct recipe_item *items;
        size_t n;
};

/*
 * A recipe under construction, beside the committer's pack_builder.
 * Caller-owned: recipe_builder_init, _block/_inline..., recipe_builder_take,
 * and always recipe_builder_release.
 */
struct recipe_builder {
        struct enc buf; /* items so far */
        size_t n;
        uint64_t pack_size; /* of the pack the items describe so far, without trailer */
};

void recipe_builder_init(struct recipe_builder *b);
/* Appends a block record of LEN bytes at OFF in FILE_ID's ciphertext file, hashing HASH. */
void recipe_builder_block(struct recipe_builder *b, const uint8_t file_id[static 16], uint64_t off,
                          uint32_t len, const uint8_t hash[static PACK_HASH_LEN]);
/* Appends an inline record (manifest, locations) of LEN bytes BYTES hashing HASH. */
void recipe_builder_inline(struct recipe_builder *b, uint8_t kind, const uint8_t *bytes,
                           uint32_t len, const uint8_t hash[static PACK_HASH_LEN]);
size_t recipe_builder_count(const struct recipe_builder *b);
/*
 * Finishes: *OUT (malloc'd, *OUT_LEN bytes) is the encoded (version-2)
 * recipe of the pack PACK_HASH of PACK_SIZE bytes whose SHA-256 is SHA256;
 * PACK_SIZE must be the size the items describe (-EINVAL otherwise, or with
 * no items).  The builder is left empty, ready for the next pack.  Returns
 * 0, -EINVAL or -ENOMEM (then release it); outputs untouched on error.
 */
int recipe_builder_take(struct recipe_builder *b, const uint8_t pack_hash[static PACK_HASH_LEN],
                        const uint8_t sha256[static SHA256_LEN], uint64_t pack_size, uint8_t **out,
                        size_t *out_len) __attribute__((warn_unused_result));
void recipe_builder_release(struct recipe_builder *b);

/*
 * Decodes BUF (LEN bytes, untrusted; either version) against invariants
 * 1-4 into *R, whose
 * inline items point into BUF (keep it while R is used).  Returns 0,
 * -EBADMSG or -ENOMEM; *R untouched on error.
 */
int recipe_decode(const uint8_t *buf, size_t len, struct recipe *r)
    __attribute__((warn_unused_result));
void recipe_release(struct recipe *r);

/*
 * Reads the pack size of an encoded recipe (either version) from its first
 * RECIPE_HDR_LEN bytes, or fewer (at least 16), for `status`: how many
 * bytes wait, without decoding the rest.
 * Returns 0 or -EBADMSG.
 */
int recipe_peek_size(const uint8_t *hdr, size_t len, uint64_t *pack_size)
    __attribute__((warn_unused_result));

/*
 * Where the pusher gets a block's bytes: ATTEMPT 0, 1, ... asks for the
 * next place the bytes of IT (IT->len of them) may be, into OUT.  Returns 0
 * (bytes in OUT, to be checked), -ENOENT (no further place) or another
 * negative errno (failure, stops the assembly).
 */
typedef int (*recipe_read_fn)(void *arg, const struct recipe_item *it, unsigned attempt,
                              uint8_t *out);

/*
 * Assembles the pack R describes: every block through READ, inline records
 * as they are, then the trailer; the result must have R->sha256 as its
 * SHA-256 (version 1: hash to R->pack_hash).  First every block from its
 * first place (ATTEMPT 0) and one hash of the whole; only if that does not
 * match, every block again from the first place whose bytes hash to the
 * item's hash, and the whole hashed again.  *OUT (malloc'd, R->pack_size
 * bytes; free()) holds only sealed or signed records; SHA, if not NULL,
 * receives its SHA-256 (for the store's request signature).  Returns 0;
 * -EIO if a block's bytes are found nowhere or the pack is not the one the
 * committer hashed (logged); -ENOMEM; READ's error.  Outputs untouched on
 * error.
 */
int recipe_assemble(const struct recipe *r, recipe_read_fn read, void *arg, uint8_t **out,
                    uint8_t *sha) __attribute__((warn_unused_result));

/*
 * The pack R describes as a stream (doc/SYNC.md D9), for a store's
 * streaming put: recipe_src_init, then recipe_src_read (a store_source_fn:
 * N bytes at OFF; an OFF below what was handed out restarts from the
 * beginning, one above skips ahead), and always recipe_src_release.
 * Blocks come from their first place (ATTEMPT 0 of READ) unchecked, a
 * missing one as zeros; a SHA-256 runs over every byte handed out, and the
 * read that reaches the pack's end fails with -EILSEQ instead when it is
 * not R->sha256, so a consumer that stores only complete bodies stores
 * nothing then.  Memory: the largest block and the trailer, not the pack.
 * Version 2 only (-EINVAL for a version-1 recipe: assemble it).
 */
struct recipe_src {
        const struct recipe *r;
        recipe_read_fn read;
        void *arg;
        uint64_t pos;        /* bytes handed out (and hashed) so far */
        size_t item;         /* the item POS is in, or R->n in the trailer */
        uint64_t item_start; /* pack offset of that item's header */
        uint8_t *blk;        /* the largest block's room */
        size_t blk_item;     /* the item whose bytes BLK holds, or SIZE_MAX */
        uint8_t *trailer;
        size_t tlen;
        struct sha256_stream sha;
        int sha_live;
};

int recipe_src_init(struct recipe_src *s, const struct recipe *r, recipe_read_fn read, void *arg)
    __attribute__((warn_unused_result));
/* SRC is a struct recipe_src.  0, -EILSEQ (above), -EINVAL (past the end), READ's error. */
int recipe_src_read(void *src, uint64_t off, uint8_t *buf, size_t n)
    __attribute__((warn_unused_result));
void recipe_src_release(struct recipe_src *s);

#endif
