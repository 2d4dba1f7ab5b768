/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Journal entries: canonical encoding, strict decoding, signatures, object
 * keys.  See journal.h and doc/FORMAT-sync.md "Journal entry".
 */
#include "sync/journal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/enc.h"
#include "crypto/hash.h"
#include "crypto/sig.h"
#include "sync/manifest.h"
#include "sync/pack.h"
#include "util/hex.h"

#define JOURNAL_SIG_TYPE "journal"
#define JOURNAL_KEY_MID "/journal/"

static int journal_all_zero(const uint8_t *p, size_t n)
{
        uint8_t acc = 0;
        size_t i;

        for (i = 0; i < n; i++)
                acc |= p[i];
        return acc == 0;
}

/* The listed pack with HASH (PACKS strictly ascending), or NULL. */
static const struct journal_pack *journal_find_pack(const struct journal_pack *packs, size_t n,
                                                    const uint8_t hash[static JOURNAL_HASH_LEN])
{
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = memcmp(packs[mid].hash, hash, JOURNAL_HASH_LEN);

                if (c == 0)
                        return &packs[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

/* ---- invariants 1-4, shared by encoder and decoder ---- */

int journal_marks_check(const struct journal_seen *m, size_t n, size_t max, const uint8_t *exclude)
{
        size_t i;

        if (n > max || (n > 0 && m == NULL))
                return -EBADMSG;
        for (i = 0; i < n; i++) {
                if (m[i].seq == 0 || (exclude != NULL &&
                                      memcmp(m[i].device_id, exclude, JOURNAL_DEVICE_ID_LEN) == 0))
                        return -EBADMSG;
                if (i > 0 && memcmp(m[i - 1].device_id, m[i].device_id, JOURNAL_DEVICE_ID_LEN) >= 0)
                        return -EBADMSG;
        }
        return 0;
}

static int journal_check_packs(const struct journal_pack *packs, size_t npacks)
{
        size_t i;

        if (npacks > JOURNAL_MAX_PACKS || (npacks > 0 && packs == NULL))
                return -EBADMSG;
        for (i = 0; i < npacks; i++) {
                if (packs[i].size < PACK_MIN_SIZE || packs[i].size > PACK_MAX_SIZE)
                        return -EBADMSG;
                if (i > 0 && memcmp(packs[i - 1].hash, packs[i].hash, JOURNAL_HASH_LEN) >= 0)
                        return -EBADMSG;
        }
        return 0;
}

int journal_refs_check(const struct journal_commit *commits, size_t ncommits, size_t max,
                       const struct journal_pack *packs, size_t npacks)
{
        size_t i;

        /* Packs first: commits look their packs up. */
        if (journal_check_packs(packs, npacks) != 0)
                return -EBADMSG;
        if (ncommits > max || (ncommits > 0 && commits == NULL))
                return -EBADMSG;
        for (i = 0; i < ncommits; i++) {
                const struct journal_commit *c = &commits[i];
                const struct journal_pack *p;

                if (journal_all_zero(c->file_id, JOURNAL_DEVICE_ID_LEN))
                        return -EBADMSG;
                if (i > 0 && memcmp(commits[i - 1].file_id, c->file_id, JOURNAL_DEVICE_ID_LEN) >= 0)
                        return -EBADMSG;
                if (c->len < MANIFEST_MIN_SIZE || c->len > MANIFEST_MAX_SIZE)
                        return -EBADMSG;
                p = journal_find_pack(packs, npacks, c->pack_hash);
                if (p == NULL)
                        return -EBADMSG;
                /* p->size <= PACK_MAX_SIZE: no overflow below. */
                if (c->off < PACK_MIN_RECORD_OFF || c->off > p->size - PACK_ENTRY_LEN - 4 ||
                    c->len > p->size - PACK_ENTRY_LEN - 4 - c->off)
                        return -EBADMSG;
        }
        return 0;
}

static int journal_check(const struct journal_entry *e)
{
        if (e->version != JOURNAL_VERSION || e->seq == 0)
                return -EBADMSG;
        if ((e->seq == 1) != journal_all_zero(e->prev, JOURNAL_HASH_LEN))
                return -EBADMSG;
        if (journal_marks_check(e->seen, e->nseen, JOURNAL_MAX_SEEN, e->device_id) != 0 ||
            journal_refs_check(e->commits, e->ncommits, JOURNAL_MAX_COMMITS, e->packs, e->npacks) !=
                0)
                return -EBADMSG;
        return 0;
}

/* ---- encoding ---- */

void journal_marks_enc(struct enc *d, const struct journal_seen *m, size_t n)
{
        size_t i;

        enc_u32(d, (uint32_t)n);
        for (i = 0; i < n; i++) {
                enc_fixed(d, m[i].device_id, JOURNAL_DEVICE_ID_LEN);
                enc_u64(d, m[i].seq);
                enc_fixed(d, m[i].hash, JOURNAL_HASH_LEN);
        }
}

void journal_refs_enc(struct enc *d, const struct journal_commit *commits, size_t ncommits,
                      const struct journal_pack *packs, size_t npacks)
{
        size_t i;

        enc_u32(d, (uint32_t)ncommits);
        for (i = 0; i < ncommits; i++) {
                const struct journal_commit *c = &commits[i];

                enc_fixed(d, c->file_id, JOURNAL_DEVICE_ID_LEN);
                enc_fixed(d, c->manifest_hash, JOURNAL_HASH_LEN);
                enc_fixed(d, c->pack_hash, JOURNAL_HASH_LEN);
                enc_u64(d, c->off);
                enc_u32(d, c->len);
        }
        enc_u32(d, (uint32_t)npacks);
        for (i = 0; i < npacks; i++) {
                enc_fixed(d, packs[i].hash, JOURNAL_HASH_LEN);
                enc_u64(d, packs[i].size);
        }
}

static void journal_enc_signed(struct enc *d, const struct journal_entry *e)
{
        enc_u8(d, e->version);
        enc_fixed(d, e->region_id, JOURNAL_ID_LEN);
        enc_fixed(d, e->device_id, JOURNAL_DEVICE_ID_LEN);
        enc_u64(d, e->seq);
        enc_fixed(d, e->prev, JOURNAL_HASH_LEN);
        enc_fixed(d, e->member_head, JOURNAL_HASH_LEN);
        enc_u64(d, e->time_ms);
        journal_marks_enc(d, e->seen, e->nseen);
        journal_refs_enc(d, e->commits, e->ncommits, e->packs, e->npacks);
}

int journal_encode_sign(const struct journal_entry *e, const uint8_t sign_sk[static 64],
                        uint8_t **out, size_t *out_len, uint8_t hash[static JOURNAL_HASH_LEN])
{
        struct enc d;
        int rc;

        if (journal_check(e) != 0)
                return -EINVAL;
        enc_init(&d);
        journal_enc_signed(&d, e);
        rc = sig_finish_enc(&d, sign_sk, JOURNAL_SIG_TYPE, JOURNAL_MAX_SIZE, out, out_len);
        if (rc == 0)
                hash_blake2b(hash, *out, *out_len);
        return rc;
}

/* ---- decoding ---- */

size_t journal_dec_count(struct dec *d, size_t max, size_t item)
{
        size_t n = dec_u32(d);

        if (d->err == 0 && (n > max || n > (d->len - d->off) / item))
                d->err = -EBADMSG;
        return d->err == 0 ? n : 0;
}

int journal_marks_dec(struct dec *d, size_t max, struct journal_seen **out, size_t *n)
{
        size_t i, k = journal_dec_count(d, max, JOURNAL_SEEN_LEN);
        struct journal_seen *m;

        if (d->err != 0)
                return -EBADMSG;
        if (k == 0) {
                *out = NULL;
                *n = 0;
                return 0;
        }
        m = calloc(k, sizeof(*m));
        if (m == NULL)
                return -ENOMEM;
        for (i = 0; i < k; i++) {
                dec_fixed(d, m[i].device_id, JOURNAL_DEVICE_ID_LEN);
                m[i].seq = dec_u64(d);
                dec_fixed(d, m[i].hash, JOURNAL_HASH_LEN);
        }
        *out = m;
        *n = k;
        return 0;
}

int journal_refs_dec(struct dec *d, size_t max, struct journal_commit **commits, size_t *ncommits,
                     struct journal_pack **packs, size_t *npacks)
{
        size_t i, nc = journal_dec_count(d, max, JOURNAL_COMMIT_LEN), np;
        struct journal_commit *c = NULL;
        struct journal_pack *p = NULL;

        if (d->err != 0)
                return -EBADMSG;
        if (nc > 0 && (c = calloc(nc, sizeof(*c))) == NULL)
                return -ENOMEM;
        for (i = 0; i < nc; i++) {
                dec_fixed(d, c[i].file_id, JOURNAL_DEVICE_ID_LEN);
                dec_fixed(d, c[i].manifest_hash, JOURNAL_HASH_LEN);
                dec_fixed(d, c[i].pack_hash, JOURNAL_HASH_LEN);
                c[i].off = dec_u64(d);
                c[i].len = dec_u32(d);
        }
        np = journal_dec_count(d, JOURNAL_MAX_PACKS, JOURNAL_PACK_LEN);
        if (d->err != 0) {
                free(c);
                return -EBADMSG;
        }
        if (np > 0 && (p = calloc(np, sizeof(*p))) == NULL) {
                free(c);
                return -ENOMEM;
        }
        for (i = 0; i < np; i++) {
                dec_fixed(d, p[i].hash, JOURNAL_HASH_LEN);
                p[i].size = dec_u64(d);
        }
        *commits = c;
        *ncommits = nc;
        *packs = p;
        *npacks = np;
        return 0;
}

int journal_decode(const uint8_t *buf, size_t len, struct journal_entry *out)
{
        struct journal_entry t;
        struct dec d;
        int rc = -EBADMSG;

        if (buf == NULL || len < JOURNAL_FIXED_LEN || len > JOURNAL_MAX_SIZE)
                return -EBADMSG;
        memset(&t, 0, sizeof(t));
        dec_init(&d, buf, len - JOURNAL_SIG_LEN);
        t.version = dec_u8(&d);
        if (t.version != JOURNAL_VERSION)
                goto fail;
        dec_fixed(&d, t.region_id, JOURNAL_ID_LEN);
        dec_fixed(&d, t.device_id, JOURNAL_DEVICE_ID_LEN);
        t.seq = dec_u64(&d);
        dec_fixed(&d, t.prev, JOURNAL_HASH_LEN);
        dec_fixed(&d, t.member_head, JOURNAL_HASH_LEN);
        t.time_ms = dec_u64(&d);
        rc = journal_marks_dec(&d, JOURNAL_MAX_SEEN, &t.seen, &t.nseen);
        if (rc == 0)
                rc = journal_refs_dec(&d, JOURNAL_MAX_COMMITS, &t.commits, &t.ncommits, &t.packs,
                                      &t.npacks);
        if (rc != 0)
                goto fail;
        rc = -EBADMSG;
        if (dec_finish(&d) != 0 || journal_check(&t) != 0)
                goto fail;
        memcpy(t.sig, buf + len - JOURNAL_SIG_LEN, JOURNAL_SIG_LEN);
        hash_blake2b(t.hash, buf, len);
        *out = t;
        return 0;

fail:
        journal_release(&t);
        return rc;
}

int journal_verify_sig(const uint8_t *buf, size_t len, const uint8_t sign_pk[static 32])
{
        int rc;

        if (buf == NULL || len < JOURNAL_FIXED_LEN || len > JOURNAL_MAX_SIZE)
                return -EBADMSG;
        rc = sig_verify(buf + len - JOURNAL_SIG_LEN, sign_pk, JOURNAL_SIG_TYPE, buf,
                        len - JOURNAL_SIG_LEN);
        if (rc == -ENOMEM)
                return rc;
        return rc == 0 ? 0 : -EBADMSG;
}

void journal_release(struct journal_entry *e)
{
        if (e == NULL)
                return;
        free(e->seen);
        free(e->commits);
        free(e->packs);
        memset(e, 0, sizeof(*e));
}

/* ---- object keys ---- */

int journal_seq_key(const char *region_hex, const char *mid,
                    const uint8_t device_id[static JOURNAL_DEVICE_ID_LEN], uint64_t seq,
                    const uint8_t hash[static JOURNAL_HASH_LEN], char *out, size_t size)
{
        char dev[2 * JOURNAL_DEVICE_ID_LEN + 1], h[2 * JOURNAL_HASH_LEN + 1];
        int n;

        if (region_hex == NULL || strlen(region_hex) != 2 * JOURNAL_ID_LEN ||
            hex_decode_lower(NULL, JOURNAL_ID_LEN, region_hex) != 0 || seq == 0)
                return -EINVAL;
        hex_encode(dev, device_id, JOURNAL_DEVICE_ID_LEN);
        hex_encode(h, hash, JOURNAL_HASH_LEN);
        n = snprintf(out, size, "%s%s%s/%016llx-%s", region_hex, mid, dev, (unsigned long long)seq,
                     h);
        return n > 0 && (size_t)n == journal_seq_key_len(mid) && (size_t)n < size ? 0 : -EINVAL;
}

size_t journal_seq_key_len(const char *mid)
{
        return 2 * JOURNAL_ID_LEN + strlen(mid) + 2 * JOURNAL_DEVICE_ID_LEN + 1 + 16 + 1 +
               2 * JOURNAL_HASH_LEN;
}

int journal_parse_seq_key(const char *key, const char *mid, uint8_t *region_id,
                          uint8_t device_id[static JOURNAL_DEVICE_ID_LEN], uint64_t *seq,
                          uint8_t hash[static JOURNAL_HASH_LEN])
{
        uint8_t rid[JOURNAL_ID_LEN], dev[JOURNAL_DEVICE_ID_LEN], h[JOURNAL_HASH_LEN], s[8];
        size_t want = journal_seq_key_len(mid), mid_len = strlen(mid);
        const char *p = key;
        uint64_t v = 0;
        int i;

        if (key == NULL || strnlen(key, want + 1) != want)
                return -EINVAL;
        if (hex_decode_lower(rid, sizeof(rid), p) != 0)
                return -EINVAL;
        p += 2 * sizeof(rid);
        if (memcmp(p, mid, mid_len) != 0)
                return -EINVAL;
        p += mid_len;
        if (hex_decode_lower(dev, sizeof(dev), p) != 0 || p[2 * sizeof(dev)] != '/')
                return -EINVAL;
        p += 2 * sizeof(dev) + 1;
        if (hex_decode_lower(s, sizeof(s), p) != 0 || p[2 * sizeof(s)] != '-')
                return -EINVAL;
        p += 2 * sizeof(s) + 1;
        if (hex_decode_lower(h, sizeof(h), p) != 0)
                return -EINVAL;
        for (i = 0; i < 8; i++)
                v = v << 8 | s[i];
        if (v == 0)
                return -EINVAL;
        if (region_id != NULL)
                memcpy(region_id, rid, sizeof(rid));
        memcpy(device_id, dev, sizeof(dev));
        *seq = v;
        memcpy(hash, h, sizeof(h));
        return 0;
}

int journal_object_key(const char *region_hex,
                       const uint8_t device_id[static JOURNAL_DEVICE_ID_LEN], uint64_t seq,
                       const uint8_t hash[static JOURNAL_HASH_LEN],
                       char out[static JOURNAL_KEY_SIZE])
{
        return journal_seq_key(region_hex, JOURNAL_KEY_MID, device_id, seq, hash, out,
                               JOURNAL_KEY_SIZE);
}

int journal_parse_key(const char *key, uint8_t *region_id,
                      uint8_t device_id[static JOURNAL_DEVICE_ID_LEN], uint64_t *seq,
                      uint8_t hash[static JOURNAL_HASH_LEN])
{
        return journal_parse_seq_key(key, JOURNAL_KEY_MID, region_id, device_id, seq, hash);
}
