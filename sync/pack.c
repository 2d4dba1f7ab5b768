/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Packs: builder and strict parser.  See pack.h and doc/FORMAT-sync.md.
 */
#include "sync/pack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hash.h"
#include "sync/manifest.h"
#include "util/par.h"

/* The largest record of any kind, with the smallest pack around it, fits. */
_Static_assert(MANIFEST_MAX_SIZE + PACK_MIN_RECORD_OFF + PACK_ENTRY_LEN + 4 <= PACK_MAX_SIZE,
               "a maximal manifest must fit in a pack");
_Static_assert(PACK_BLOCK_MAX_LEN + PACK_MIN_RECORD_OFF + PACK_ENTRY_LEN + 4 <= PACK_MAX_SIZE,
               "a maximal block must fit in a pack");

static int pack_len_valid(uint8_t kind, size_t len)
{
        switch (kind) {
        case PACK_KIND_BLOCK:
                return len >= PACK_BLOCK_MIN_LEN && len <= PACK_BLOCK_MAX_LEN;
        case PACK_KIND_MANIFEST:
                return len >= MANIFEST_MIN_SIZE && len <= MANIFEST_MAX_SIZE;
        case PACK_KIND_LOCS:
                return len >= PACK_LOCS_MIN_LEN && len <= PACK_LOCS_MAX_LEN;
        default:
                return 0;
        }
}

int pack_kind_len_ok(uint8_t kind, size_t len)
{
        return pack_len_valid(kind, len);
}

size_t pack_trailer_len(size_t n)
{
        return n * PACK_ENTRY_LEN + 4;
}

static uint64_t pack_get_be(const uint8_t *p, size_t n)
{
        uint64_t v = 0;
        size_t i;

        for (i = 0; i < n; i++)
                v = v << 8 | p[i];
        return v;
}

/* ---- builder ---- */

void pack_builder_init(struct pack_builder *b)
{
        enc_init(&b->buf);
        b->entries = NULL;
        b->n = 0;
        b->ncap = 0;
        b->len = 0;
        b->hashed = 0;
        b->sha.evp = NULL; /* nothing to release */
        b->err = 0;
        b->par = NULL;
}

void pack_builder_init_hashed(struct pack_builder *b)
{
        pack_builder_init(b);
        b->hashed = 1;
        sha256_stream_init(&b->sha);
}

void pack_builder_release(struct pack_builder *b)
{
        enc_release(&b->buf); /* wipes */
        free(b->entries);
        if (b->hashed)
                sha256_stream_release(&b->sha);
        pack_builder_init(b);
}

/* Appends (or, HASHED, checksums) P (N bytes) to the pack's bytes. */
static void pack_put(struct pack_builder *b, const void *p, size_t n)
{
        if (b->hashed)
                sha256_stream_update(&b->sha, p, n);
        else
                enc_fixed(&b->buf, p, n);
        b->len += n;
}

void pack_builder_set_par(struct pack_builder *b, struct par *par)
{
        b->par = par;
}

/* Records at least this long hash in parallel (pack_builder_set_par). */
#define PACK_PAR_MIN (16u * 1024u)

/* The two hashes over one record: its own (0) and the pack's running SHA-256 (1). */
struct pack_hash2 {
        struct pack_builder *b;
        const uint8_t *bytes;
        size_t len;
        uint8_t *hash;
};

static int pack_hash2_one(void *arg, size_t i)
{
        struct pack_hash2 *h = arg;

        if (i == 0)
                hash_blake2b(h->hash, h->bytes, h->len);
        else
                sha256_stream_update(&h->b->sha, h->bytes, h->len);
        return 0;
}

size_t pack_builder_count(const struct pack_builder *b)
{
        return b->n;
}

size_t pack_builder_size(const struct pack_builder *b)
{
        return (b->len > 0 ? b->len : PACK_MAGIC_LEN) + pack_trailer_len(b->n);
}

int pack_builder_add(struct pack_builder *b, uint8_t kind, const uint8_t *bytes, size_t len,
                     struct pack_entry *out)
{
        struct pack_entry ent;
        uint8_t hdr[PACK_RECORD_HDR_LEN];
        size_t after, i;

        if (b->err != 0)
                return b->err;
        if (!pack_len_valid(kind, len) || bytes == NULL)
                return -EINVAL;
        if (b->n >= PACK_MAX_RECORDS)
                return -EFBIG;
        /* Sizes here are bounded (<= 64 MiB + one record), no overflow. */
        after = pack_builder_size(b) + PACK_RECORD_HDR_LEN + len + PACK_ENTRY_LEN;
        if (after > PACK_MAX_SIZE)
                return -EFBIG;
        if (b->n == b->ncap) {
                size_t ncap = b->ncap ? 2 * b->ncap : 64;
                struct pack_entry *ne = realloc(b->entries, ncap * sizeof(*ne));

                if (ne == NULL)
                        return -ENOMEM; /* builder unchanged */
                b->entries = ne;
                b->ncap = ncap;
        }
        memset(&ent, 0, sizeof(ent)); /* padding too: callers may compare entries */
        if (b->len == 0)
                pack_put(b, PACK_MAGIC, PACK_MAGIC_LEN);
        hdr[0] = kind;
        for (i = 0; i < 4; i++)
                hdr[1 + i] = (uint8_t)((uint32_t)len >> (24 - 8 * i)); /* big-endian */
        pack_put(b, hdr, sizeof(hdr));
        ent.kind = kind;
        ent.off = b->len;
        ent.len = (uint32_t)len;
        if (b->hashed && b->par != NULL && len >= PACK_PAR_MIN) {
                struct pack_hash2 h = {.b = b, .bytes = bytes, .len = len, .hash = ent.hash};

                if (par_for(b->par, 2, pack_hash2_one, &h) != 0) { /* the calls cannot fail */
                        b->err = -EIO;
                        return b->err;
                }
                b->len += len;
        } else {
                pack_put(b, bytes, len);
                if (enc_error(&b->buf) != 0) {
                        b->err = -ENOMEM;
                        return b->err;
                }
                hash_blake2b(ent.hash, bytes, len);
        }
        b->entries[b->n++] = ent;
        if (out != NULL)
                *out = ent;
        return 0;
}

/* Appends B's trailer (its entries, then their count) to E. */
static void pack_trailer_enc(struct enc *e, const struct pack_builder *b)
{
        size_t i;

        for (i = 0; i < b->n; i++) {
                enc_u8(e, b->entries[i].kind);
                enc_u64(e, b->entries[i].off);
                enc_u32(e, b->entries[i].len);
                enc_fixed(e, b->entries[i].hash, PACK_HASH_LEN);
        }
        enc_u32(e, (uint32_t)b->n);
}

int pack_builder_finish(struct pack_builder *b, uint8_t **out, size_t *out_len,
                        uint8_t hash[static PACK_HASH_LEN])
{
        struct enc t;
        uint8_t *buf;
        size_t total;
        int rc = 0;

        if (b->err != 0)
                return b->err;
        if (b->n == 0 || b->hashed)
                return -EINVAL;
        enc_init(&t);
        pack_trailer_enc(&t, b);
        if (enc_error(&t) != 0) {
                rc = -ENOMEM;
                goto out_trailer;
        }
        total = b->buf.len + t.len;
        buf = malloc(total);
        if (buf == NULL) {
                rc = -ENOMEM;
                goto out_trailer;
        }
        memcpy(buf, b->buf.buf, b->buf.len);
        memcpy(buf + b->buf.len, t.buf, t.len);
        pack_name_of_trailer(t.buf, t.len, hash);
        *out = buf;
        *out_len = total;
out_trailer:
        enc_release(&t);
        return rc;
}

/* pack_builder_take of a HASHED builder: the trailer is hashed, no bytes are kept. */
static int pack_take_hashed(struct pack_builder *b, uint8_t **out, size_t *out_len,
                            uint8_t hash[static PACK_HASH_LEN], uint8_t *sha)
{
        uint8_t digest[SHA256_LEN];
        struct enc t;

        enc_init(&t);
        pack_trailer_enc(&t, b);
        if (enc_error(&t) != 0) {
                enc_release(&t);
                b->err = -ENOMEM;
                return b->err;
        }
        pack_put(b, t.buf, t.len);
        pack_name_of_trailer(t.buf, t.len, hash);
        enc_release(&t);
        b->hashed = 0; /* the stream is finished (and released) here, whatever happens */
        if (sha256_stream_final(&b->sha, digest) != 0) {
                b->err = -EIO;
                return b->err;
        }
        if (sha != NULL)
                memcpy(sha, digest, SHA256_LEN);
        *out = NULL;
        *out_len = b->len;
        free(b->entries);
        {
                struct par *par = b->par;

                pack_builder_init_hashed(b); /* ready for the next pack, with its pool */
                b->par = par;
        }
        return 0;
}

int pack_builder_take(struct pack_builder *b, uint8_t **out, size_t *out_len,
                      uint8_t hash[static PACK_HASH_LEN], uint8_t *sha)
{
        size_t records_end;

        if (b->err != 0)
                return b->err;
        if (b->n == 0)
                return -EINVAL;
        if (b->hashed)
                return pack_take_hashed(b, out, out_len, hash, sha);
        records_end = b->buf.len;
        pack_trailer_enc(&b->buf, b);
        if (enc_error(&b->buf) != 0) {
                b->err = -ENOMEM;
                return b->err;
        }
        pack_name_of_trailer(b->buf.buf + records_end, b->buf.len - records_end, hash);
        if (sha != NULL)
                sha256_hash(sha, b->buf.buf, b->buf.len);
        *out = b->buf.buf;
        *out_len = b->buf.len;
        free(b->entries);
        pack_builder_init(b); /* the buffer is the caller's now */
        return 0;
}

/* ---- parsing ---- */

/* Decodes and checks N trailer entries at P against a records area [8, end). */
static int pack_dec_entries(const uint8_t *p, size_t n, uint64_t records_end,
                            struct pack_entry *ents)
{
        uint64_t pos = PACK_MAGIC_LEN;
        size_t i;

        for (i = 0; i < n; i++, p += PACK_ENTRY_LEN) {
                struct pack_entry *e = &ents[i];

                e->kind = p[0];
                e->off = pack_get_be(p + 1, 8);
                e->len = (uint32_t)pack_get_be(p + 9, 4);
                memcpy(e->hash, p + 13, PACK_HASH_LEN);
                if (!pack_len_valid(e->kind, e->len))
                        return -EBADMSG;
                /* Contiguous: pos <= records_end <= 64 MiB, so no overflow. */
                if (e->off != pos + PACK_RECORD_HDR_LEN)
                        return -EBADMSG;
                if (e->off > records_end || e->len > records_end - e->off)
                        return -EBADMSG;
                pos = e->off + e->len;
        }
        return pos == records_end ? 0 : -EBADMSG;
}

/* The trailer count from the last 4 bytes, bounded against PACK_SIZE. */
static int pack_dec_count(const uint8_t *last4, uint64_t pack_size, size_t *n)
{
        uint64_t cnt = pack_get_be(last4, 4);

        if (cnt == 0 || cnt > PACK_MAX_RECORDS)
                return -EBADMSG;
        /* Magic, then at least one header + minimal record per entry, then the trailer. */
        if (PACK_MAGIC_LEN + cnt * (PACK_RECORD_HDR_LEN + PACK_BLOCK_MIN_LEN) +
                pack_trailer_len(cnt) >
            pack_size)
                return -EBADMSG;
        *n = (size_t)cnt;
        return 0;
}

int pack_parse_trailer(const uint8_t *tail, size_t tail_len, uint64_t pack_size,
                       struct pack_entry **entries, size_t *n, size_t *need)
{
        struct pack_entry *ents;
        size_t cnt, tlen;
        int rc;

        if (pack_size > PACK_MAX_SIZE || tail == NULL || tail_len < 4 || tail_len > pack_size)
                return -EBADMSG;
        rc = pack_dec_count(tail + tail_len - 4, pack_size, &cnt);
        if (rc != 0)
                return rc;
        tlen = pack_trailer_len(cnt);
        if (tail_len < tlen) {
                if (need != NULL)
                        *need = tlen;
                return -EAGAIN;
        }
        ents = calloc(cnt, sizeof(*ents));
        if (ents == NULL)
                return -ENOMEM;
        rc = pack_dec_entries(tail + tail_len - tlen, cnt, pack_size - tlen, ents);
        if (rc != 0) {
                free(ents);
                return rc;
        }
        *entries = ents;
        *n = cnt;
        return 0;
}

/* 2 or 1 by BUF's magic (at least PACK_MAGIC_LEN bytes), else 0. */
static int pack_version(const uint8_t *buf)
{
        if (memcmp(buf, PACK_MAGIC, PACK_MAGIC_LEN) == 0)
                return 2;
        if (memcmp(buf, PACK_MAGIC_V1, PACK_MAGIC_LEN) == 0)
                return 1;
        return 0;
}

int pack_newer(const uint8_t *buf, size_t len)
{
        return buf != NULL && len >= PACK_MAGIC_LEN && memcmp(buf, "SEALPAK", 7) == 0 &&
               buf[7] > '2' && buf[7] <= '9';
}

void pack_name_of_trailer(const uint8_t *trailer, size_t tlen, uint8_t name[static PACK_HASH_LEN])
{
        struct hash_stream hs;

        hash_stream_init(&hs);
        hash_stream_update(&hs, PACK_MAGIC, PACK_MAGIC_LEN);
        hash_stream_update(&hs, trailer, tlen);
        hash_stream_final(&hs, name);
}

int pack_name(const uint8_t *buf, size_t len, uint8_t name[static PACK_HASH_LEN])
{
        size_t cnt, tlen;
        int v;

        if (buf == NULL || len > PACK_MAX_SIZE || len < PACK_MAGIC_LEN + 4)
                return -EBADMSG;
        v = pack_version(buf);
        if (v == 1) {
                hash_blake2b(name, buf, len);
                return 0;
        }
        if (v != 2 || pack_dec_count(buf + len - 4, len, &cnt) != 0)
                return -EBADMSG;
        tlen = pack_trailer_len(cnt); /* pack_dec_count: magic + tlen < len */
        pack_name_of_trailer(buf + len - tlen, tlen, name);
        return 0;
}

int pack_parse(const uint8_t *buf, size_t len, struct pack_entry **entries, size_t *n)
{
        struct pack_entry *ents;
        uint8_t h[PACK_HASH_LEN];
        size_t cnt, i, tlen;
        int rc;

        if (buf == NULL || len > PACK_MAX_SIZE || len < PACK_MAGIC_LEN + 4)
                return -EBADMSG;
        if (pack_version(buf) == 0)
                return -EBADMSG;
        rc = pack_dec_count(buf + len - 4, len, &cnt);
        if (rc != 0)
                return rc;
        tlen = pack_trailer_len(cnt);
        ents = calloc(cnt, sizeof(*ents));
        if (ents == NULL)
                return -ENOMEM;
        /* Entries first: they pin every record's place, so the walk below only
         * has to confirm each header and hash. */
        rc = pack_dec_entries(buf + len - tlen, cnt, len - tlen, ents);
        if (rc != 0)
                goto fail;
        rc = -EBADMSG;
        for (i = 0; i < cnt; i++) {
                const uint8_t *hdr = buf + ents[i].off - PACK_RECORD_HDR_LEN;

                if (hdr[0] != ents[i].kind || pack_get_be(hdr + 1, 4) != ents[i].len)
                        goto fail;
        }
        rc = -EILSEQ; /* the layout is sound: what fails now is a record's bytes */
        for (i = 0; i < cnt; i++) {
                hash_blake2b(h, buf + ents[i].off, ents[i].len);
                if (memcmp(h, ents[i].hash, PACK_HASH_LEN) != 0)
                        goto fail;
        }
        *entries = ents;
        *n = cnt;
        return 0;
fail:
        free(ents);
        return rc;
}

int pack_record_check(uint8_t kind, const uint8_t *bytes, size_t len,
                      const uint8_t hash[static PACK_HASH_LEN])
{
        uint8_t h[PACK_HASH_LEN];

        if (bytes == NULL || !pack_len_valid(kind, len))
                return -EBADMSG;
        hash_blake2b(h, bytes, len);
        return memcmp(h, hash, PACK_HASH_LEN) == 0 ? 0 : -EBADMSG;
}
