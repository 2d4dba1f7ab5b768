/* SPDX-License-Identifier: Apache-2.0 */
/* Pack recipes: codec and assembly (sync/recipe.h, doc/DESIGN.md "Write once"). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hash.h"
#include "sync/recipe.h"
#include "util/hex.h"
#include "util/log.h"

#define RECIPE_BLOCK_BODY (16 + 8)

void recipe_builder_init(struct recipe_builder *b)
{
        enc_init(&b->buf);
        b->n = 0;
        b->pack_size = PACK_MAGIC_LEN;
}

static void recipe_item_hdr(struct recipe_builder *b, uint8_t kind, uint32_t len,
                            const uint8_t hash[static PACK_HASH_LEN])
{
        enc_u8(&b->buf, kind);
        enc_u32(&b->buf, len);
        enc_fixed(&b->buf, hash, PACK_HASH_LEN);
        b->n++;
        b->pack_size += PACK_RECORD_HDR_LEN + (uint64_t)len;
}

void recipe_builder_block(struct recipe_builder *b, const uint8_t file_id[static 16], uint64_t off,
                          uint32_t len, const uint8_t hash[static PACK_HASH_LEN])
{
        recipe_item_hdr(b, PACK_KIND_BLOCK, len, hash);
        enc_fixed(&b->buf, file_id, 16);
        enc_u64(&b->buf, off);
}

void recipe_builder_inline(struct recipe_builder *b, uint8_t kind, const uint8_t *bytes,
                           uint32_t len, const uint8_t hash[static PACK_HASH_LEN])
{
        recipe_item_hdr(b, kind, len, hash);
        enc_fixed(&b->buf, bytes, len);
}

size_t recipe_builder_count(const struct recipe_builder *b)
{
        return b->n;
}

int recipe_builder_take(struct recipe_builder *b, const uint8_t pack_hash[static PACK_HASH_LEN],
                        const uint8_t sha256[static SHA256_LEN], uint64_t pack_size, uint8_t **out,
                        size_t *out_len)
{
        struct enc e;

        if (enc_error(&b->buf) != 0)
                return -ENOMEM;
        if (b->n == 0 || b->n > PACK_MAX_RECORDS ||
            pack_size != b->pack_size + pack_trailer_len(b->n))
                return -EINVAL;
        enc_init(&e);
        enc_fixed(&e, RECIPE_MAGIC, RECIPE_MAGIC_LEN);
        enc_u64(&e, pack_size);
        enc_fixed(&e, pack_hash, PACK_HASH_LEN);
        enc_fixed(&e, sha256, SHA256_LEN);
        enc_u32(&e, (uint32_t)b->n);
        enc_fixed(&e, b->buf.buf, b->buf.len);
        if (enc_error(&e) != 0) {
                enc_release(&e);
                return -ENOMEM;
        }
        *out = e.buf;
        *out_len = e.len;
        recipe_builder_release(b);
        recipe_builder_init(b);
        return 0;
}

void recipe_builder_release(struct recipe_builder *b)
{
        enc_release(&b->buf); /* ciphertext locations and signed manifests: nothing secret */
        b->n = 0;
}

int recipe_peek_size(const uint8_t *hdr, size_t len, uint64_t *pack_size)
{
        struct dec d;
        uint64_t v;

        if (len < RECIPE_MAGIC_LEN + 8 || (memcmp(hdr, RECIPE_MAGIC, RECIPE_MAGIC_LEN) != 0 &&
                                           memcmp(hdr, RECIPE_MAGIC_V1, RECIPE_MAGIC_LEN) != 0))
                return -EBADMSG;
        dec_init(&d, hdr + RECIPE_MAGIC_LEN, 8);
        v = dec_u64(&d);
        if (dec_finish(&d) != 0 || v > PACK_MAX_SIZE)
                return -EBADMSG;
        *pack_size = v;
        return 0;
}

static void recipe_put_be(uint8_t *p, uint64_t v, size_t n)
{
        while (n-- > 0) {
                p[n] = (uint8_t)v;
                v >>= 8;
        }
}

/* Writes the trailer of a pack of the N ITEMS at T (pack_trailer_len(N) bytes). */
static void recipe_trailer(const struct recipe_item *items, size_t n, uint8_t *t)
{
        uint64_t off = PACK_MAGIC_LEN;
        size_t i;

        for (i = 0; i < n; i++, t += PACK_ENTRY_LEN) {
                off += PACK_RECORD_HDR_LEN;
                t[0] = items[i].kind;
                recipe_put_be(t + 1, off, 8);
                recipe_put_be(t + 9, items[i].len, 4);
                memcpy(t + 13, items[i].hash, PACK_HASH_LEN);
                off += items[i].len;
        }
        recipe_put_be(t, n, 4);
}

/* Invariant 4: NAME is the version-2 name of the trailer ITEMS describe.  0 or -EBADMSG. */
static int recipe_name_check(const struct recipe_item *items, size_t n,
                             const uint8_t name[static PACK_HASH_LEN])
{
        size_t tlen = pack_trailer_len(n);
        uint8_t *t, h[PACK_HASH_LEN];

        t = malloc(tlen);
        if (t == NULL)
                return -ENOMEM;
        recipe_trailer(items, n, t);
        pack_name_of_trailer(t, tlen, h);
        free(t);
        return memcmp(h, name, PACK_HASH_LEN) == 0 ? 0 : -EBADMSG;
}

int recipe_decode(const uint8_t *buf, size_t len, struct recipe *r)
{
        struct recipe_item *items;
        struct dec d;
        uint64_t size, pos = PACK_MAGIC_LEN;
        uint8_t phash[PACK_HASH_LEN], sha[SHA256_LEN] = {0}, magic[RECIPE_MAGIC_LEN];
        uint32_t n, i;
        int version;

        dec_init(&d, buf, len);
        dec_fixed(&d, magic, sizeof(magic));
        version = memcmp(magic, RECIPE_MAGIC, RECIPE_MAGIC_LEN) == 0      ? 2
                  : memcmp(magic, RECIPE_MAGIC_V1, RECIPE_MAGIC_LEN) == 0 ? 1
                                                                          : 0;
        size = dec_u64(&d);
        dec_fixed(&d, phash, sizeof(phash));
        if (version == 2)
                dec_fixed(&d, sha, sizeof(sha));
        n = dec_u32(&d);
        if (d.err != 0 || version == 0 || n == 0 || n > PACK_MAX_RECORDS || size > PACK_MAX_SIZE)
                return -EBADMSG;
        /* Every item takes at least its 37-byte header: a cheap bound before allocating. */
        if ((uint64_t)n * (1 + 4 + PACK_HASH_LEN) > len)
                return -EBADMSG;
        items = calloc(n, sizeof(*items));
        if (items == NULL)
                return -ENOMEM;
        for (i = 0; i < n; i++) {
                struct recipe_item *it = &items[i];

                it->kind = dec_u8(&d);
                it->len = dec_u32(&d);
                dec_fixed(&d, it->hash, PACK_HASH_LEN);
                if (d.err != 0 || !pack_kind_len_ok(it->kind, it->len))
                        goto bad;
                if (it->kind == PACK_KIND_BLOCK) {
                        dec_fixed(&d, it->file_id, 16);
                        it->off = dec_u64(&d);
                        if (d.err != 0 || it->off > UINT64_MAX - it->len)
                                goto bad;
                } else {
                        uint8_t h[PACK_HASH_LEN];

                        if (len - d.off < it->len)
                                goto bad;
                        it->bytes = buf + d.off;
                        d.off += it->len;
                        hash_blake2b(h, it->bytes, it->len);
                        if (memcmp(h, it->hash, PACK_HASH_LEN) != 0)
                                goto bad;
                }
                pos += PACK_RECORD_HDR_LEN + (uint64_t)it->len;
                if (pos > PACK_MAX_SIZE)
                        goto bad;
        }
        if (dec_finish(&d) != 0 || pos + pack_trailer_len(n) != size)
                goto bad;
        if (version == 2) {
                int rc = recipe_name_check(items, n, phash);

                if (rc != 0) {
                        free(items);
                        return rc;
                }
        }
        r->version = version;
        r->pack_size = size;
        memcpy(r->pack_hash, phash, PACK_HASH_LEN);
        memcpy(r->sha256, sha, SHA256_LEN);
        r->items = items;
        r->n = n;
        return 0;
bad:
        free(items);
        return -EBADMSG;
}

void recipe_release(struct recipe *r)
{
        free(r->items);
        r->items = NULL;
        r->n = 0;
}

/* Reads block IT into DST through READ, trying each place until its bytes hash right. */
static int recipe_read_block(const struct recipe_item *it, recipe_read_fn read, void *arg,
                             uint8_t *dst)
{
        uint8_t h[PACK_HASH_LEN];
        unsigned attempt;

        for (attempt = 0;; attempt++) {
                int rc = read(arg, it, attempt, dst);

                if (rc == -ENOENT)
                        break;
                if (rc != 0)
                        return rc;
                hash_blake2b(h, dst, it->len);
                if (memcmp(h, it->hash, PACK_HASH_LEN) == 0)
                        return 0;
        }
        {
                char fid[33];

                hex_encode(fid, it->file_id, 16);
                log_err("outbox: a block of file %s waiting for upload (offset %llu) is found "
                        "nowhere: its pack cannot be assembled",
                        fid, (unsigned long long)it->off);
        }
        return -EIO;
}

/*
 * Fills BUF (R->pack_size bytes) with the pack R describes.  CHECKED: every
 * block from the first place whose bytes hash to its item's hash; else
 * every block from its first place as it is (attempt 0), unchecked.
 */
static int recipe_fill(const struct recipe *r, recipe_read_fn read, void *arg, int checked,
                       uint8_t *buf)
{
        uint8_t *p;
        size_t i;
        int rc = 0;

        memcpy(buf, r->version == 1 ? PACK_MAGIC_V1 : PACK_MAGIC, PACK_MAGIC_LEN);
        p = buf + PACK_MAGIC_LEN;
        for (i = 0; i < r->n && rc == 0; i++) {
                const struct recipe_item *it = &r->items[i];

                p[0] = it->kind;
                recipe_put_be(p + 1, it->len, 4);
                p += PACK_RECORD_HDR_LEN;
                if (it->kind != PACK_KIND_BLOCK)
                        memcpy(p, it->bytes, it->len);
                else if (checked)
                        rc = recipe_read_block(it, read, arg, p);
                else if ((rc = read(arg, it, 0, p)) == -ENOENT)
                        rc = 0; /* no first place: the whole will not match */
                p += it->len;
        }
        if (rc == 0) /* recipe_decode checked the layout: the trailer ends the buffer */
                recipe_trailer(r->items, r->n, buf + r->pack_size - pack_trailer_len(r->n));
        return rc;
}

/*
 * 1 if BUF is the pack the committer hashed: version 2, its SHA-256 (into
 * SHA) is the recipe's; version 1, it hashes to the name (and SHA gets its
 * SHA-256 too).
 */
static int recipe_is_committed(const struct recipe *r, const uint8_t *buf,
                               uint8_t sha[static SHA256_LEN])
{
        uint8_t h[PACK_HASH_LEN];

        sha256_hash(sha, buf, r->pack_size);
        if (r->version != 1)
                return memcmp(sha, r->sha256, SHA256_LEN) == 0;
        hash_blake2b(h, buf, r->pack_size);
        return memcmp(h, r->pack_hash, PACK_HASH_LEN) == 0;
}

/*
 * One pass where nothing moved: every block from its first place, and the
 * whole hashed once.  It matches exactly when every record is the
 * committed one (the committer computed the SHA-256 over records that
 * hashed to these items' hashes, and named the pack from those hashes), so
 * the records need no hash of their own.  Only when it does not (a block
 * overwritten and kept elsewhere, D5), the records are read again, each
 * checked, and the whole checked again.
 */
int recipe_assemble(const struct recipe *r, recipe_read_fn read, void *arg, uint8_t **out,
                    uint8_t *sha)
{
        uint8_t *buf, digest[SHA256_LEN];
        int rc;

        if (r->n == 0 || r->pack_size > PACK_MAX_SIZE)
                return -EINVAL;
        buf = malloc(r->pack_size);
        if (buf == NULL)
                return -ENOMEM;
        rc = recipe_fill(r, read, arg, 0, buf);
        if (rc == 0 && !recipe_is_committed(r, buf, digest)) {
                rc = recipe_fill(r, read, arg, 1, buf);
                if (rc == 0 && !recipe_is_committed(r, buf, digest)) {
                        log_err("outbox: an assembled pack is not the one its recipe names");
                        rc = -EIO;
                }
        }
        if (rc != 0) {
                free(buf);
                return rc;
        }
        if (sha != NULL)
                memcpy(sha, digest, SHA256_LEN);
        *out = buf;
        return 0;
}

/* ---- the pack as a stream (D9) ---- */

static void recipe_src_rewind(struct recipe_src *s)
{
        if (s->sha_live)
                sha256_stream_release(&s->sha);
        sha256_stream_init(&s->sha);
        s->sha_live = 1;
        s->pos = 0;
        s->item = 0;
        s->item_start = PACK_MAGIC_LEN;
}

int recipe_src_init(struct recipe_src *s, const struct recipe *r, recipe_read_fn read, void *arg)
{
        size_t i, maxblk = 0;

        memset(s, 0, sizeof(*s));
        s->blk_item = SIZE_MAX;
        if (r->version != 2 || r->n == 0 || r->pack_size > PACK_MAX_SIZE)
                return -EINVAL;
        for (i = 0; i < r->n; i++)
                if (r->items[i].kind == PACK_KIND_BLOCK && r->items[i].len > maxblk)
                        maxblk = r->items[i].len;
        s->tlen = pack_trailer_len(r->n);
        s->trailer = malloc(s->tlen);
        s->blk = malloc(maxblk > 0 ? maxblk : 1);
        if (s->trailer == NULL || s->blk == NULL) {
                recipe_src_release(s);
                return -ENOMEM;
        }
        recipe_trailer(r->items, r->n, s->trailer);
        s->r = r;
        s->read = read;
        s->arg = arg;
        recipe_src_rewind(s);
        return 0;
}

void recipe_src_release(struct recipe_src *s)
{
        if (s->sha_live)
                sha256_stream_release(&s->sha);
        free(s->trailer);
        free(s->blk); /* sealed bytes only: nothing to wipe */
        memset(s, 0, sizeof(*s));
}

/* The bytes of the current item's record from its offset AT (header first), into P. */
static int recipe_src_item(struct recipe_src *s, uint64_t at, uint8_t *p, size_t n)
{
        const struct recipe_item *it = &s->r->items[s->item];
        uint8_t hdr[PACK_RECORD_HDR_LEN];
        size_t k;

        if (at < PACK_RECORD_HDR_LEN) { /* within the header */
                hdr[0] = it->kind;
                recipe_put_be(hdr + 1, it->len, 4);
                k = PACK_RECORD_HDR_LEN - (size_t)at;
                memcpy(p, hdr + at, n < k ? n : k);
                return 0;
        }
        at -= PACK_RECORD_HDR_LEN;
        if (it->kind != PACK_KIND_BLOCK) {
                memcpy(p, it->bytes + at, n);
                return 0;
        }
        if (s->blk_item != s->item) {
                int rc = s->read(s->arg, it, 0, s->blk);

                if (rc == -ENOENT)
                        memset(s->blk, 0, it->len); /* no first place: the checksum fails */
                else if (rc != 0)
                        return rc;
                s->blk_item = s->item;
        }
        memcpy(p, s->blk + at, n);
        return 0;
}

/* Hands out the next N bytes (N <= what is left) into P, hashing them. */
static int recipe_src_next(struct recipe_src *s, uint8_t *p, size_t n)
{
        const struct recipe *r = s->r;

        while (n > 0) {
                size_t k;
                int rc = 0;

                if (s->pos < PACK_MAGIC_LEN) {
                        k = PACK_MAGIC_LEN - (size_t)s->pos;
                        k = n < k ? n : k;
                        memcpy(p, &PACK_MAGIC[s->pos], k);
                } else if (s->item < r->n) {
                        uint64_t end = s->item_start + PACK_RECORD_HDR_LEN + r->items[s->item].len;
                        uint64_t at = s->pos - s->item_start;

                        k = (size_t)(end - s->pos) < n ? (size_t)(end - s->pos) : n;
                        if (at < PACK_RECORD_HDR_LEN && k > PACK_RECORD_HDR_LEN - at)
                                k = PACK_RECORD_HDR_LEN - (size_t)at; /* the header alone */
                        rc = recipe_src_item(s, at, p, k);
                        if (rc == 0 && s->pos + k == end) {
                                s->item++;
                                s->item_start = end;
                        }
                } else {
                        size_t at = (size_t)(s->pos - (r->pack_size - s->tlen));

                        k = s->tlen - at < n ? s->tlen - at : n;
                        memcpy(p, s->trailer + at, k);
                }
                if (rc != 0)
                        return rc;
                sha256_stream_update(&s->sha, p, k);
                s->pos += k;
                p += k;
                n -= k;
        }
        return 0;
}

int recipe_src_read(void *src, uint64_t off, uint8_t *buf, size_t n)
{
        struct recipe_src *s = src;
        uint8_t skip[4096], digest[SHA256_LEN];
        int rc;

        if (s->r == NULL || off > s->r->pack_size || n > s->r->pack_size - off)
                return -EINVAL;
        if (n == 0)
                return 0;
        if (off < s->pos)
                recipe_src_rewind(s); /* a resend from the start */
        while (s->pos < off) {
                size_t k = off - s->pos < sizeof(skip) ? (size_t)(off - s->pos) : sizeof(skip);

                rc = recipe_src_next(s, skip, k);
                if (rc != 0)
                        return rc;
        }
        rc = recipe_src_next(s, buf, n);
        if (rc != 0 || s->pos < s->r->pack_size)
                return rc;
        s->sha_live = 0;
        rc = sha256_stream_final(&s->sha, digest);
        if (rc == 0 && memcmp(digest, s->r->sha256, SHA256_LEN) != 0)
                rc = -EILSEQ; /* not the committed pack: the last bytes are never handed out */
        if (rc != 0)
                memset(buf, 0, n);
        return rc;
}
