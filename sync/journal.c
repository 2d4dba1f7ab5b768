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
#define JOURNAL_KEY_MID_LEN 9

static int journal_all_zero(const uint8_t *p, size_t n)
{
        uint8_t acc = 0;
        size_t i;

        for (i = 0; i < n; i++)
                acc |= p[i];
        return acc == 0;
}

/* The listed pack with HASH (PACKS strictly ascending), or NULL. */
static const struct journal_pack *journal_find_pack(const struct journal_entry *e,
                                                    const uint8_t hash[static JOURNAL_HASH_LEN])
{
        size_t lo = 0, hi = e->npacks;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = memcmp(e->packs[mid].hash, hash, JOURNAL_HASH_LEN);

                if (c == 0)
                        return &e->packs[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

/* ---- invariants 1-4, shared by encoder and decoder ---- */

static int journal_check_seen(const struct journal_entry *e)
{
        size_t i;

        if (e->nseen > JOURNAL_MAX_SEEN || (e->nseen > 0 && e->seen == NULL))
                return -EBADMSG;
        for (i = 0; i < e->nseen; i++) {
                const struct journal_seen *s = &e->seen[i];

                if (s->seq == 0 || memcmp(s->device_id, e->device_id, JOURNAL_DEVICE_ID_LEN) == 0)
                        return -EBADMSG;
                if (i > 0 &&
                    memcmp(e->seen[i - 1].device_id, s->device_id, JOURNAL_DEVICE_ID_LEN) >= 0)
                        return -EBADMSG;
        }
        return 0;
}

static int journal_check_packs(const struct journal_entry *e)
{
        size_t i;

        if (e->npacks > JOURNAL_MAX_PACKS || (e->npacks > 0 && e->packs == NULL))
                return -EBADMSG;
        for (i = 0; i < e->npacks; i++) {
                if (e->packs[i].size < PACK_MIN_SIZE || e->packs[i].size > PACK_MAX_SIZE)
                        return -EBADMSG;
                if (i > 0 && memcmp(e->packs[i - 1].hash, e->packs[i].hash, JOURNAL_HASH_LEN) >= 0)
                        return -EBADMSG;
        }
        return 0;
}

static int journal_check_commits(const struct journal_entry *e)
{
        size_t i;

        if (e->ncommits > JOURNAL_MAX_COMMITS || (e->ncommits > 0 && e->commits == NULL))
                return -EBADMSG;
        for (i = 0; i < e->ncommits; i++) {
                const struct journal_commit *c = &e->commits[i];
                const struct journal_pack *p;

                if (journal_all_zero(c->file_id, JOURNAL_DEVICE_ID_LEN))
                        return -EBADMSG;
                if (i > 0 &&
                    memcmp(e->commits[i - 1].file_id, c->file_id, JOURNAL_DEVICE_ID_LEN) >= 0)
                        return -EBADMSG;
                if (c->len < MANIFEST_MIN_SIZE || c->len > MANIFEST_MAX_SIZE)
                        return -EBADMSG;
                p = journal_find_pack(e, c->pack_hash);
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
        /* Packs first: commits look their packs up. */
        if (journal_check_seen(e) != 0 || journal_check_packs(e) != 0 ||
            journal_check_commits(e) != 0)
                return -EBADMSG;
        return 0;
}

/* ---- encoding ---- */

static void journal_enc_signed(struct enc *d, const struct journal_entry *e)
{
        size_t i;

        enc_u8(d, e->version);
        enc_fixed(d, e->region_id, JOURNAL_ID_LEN);
        enc_fixed(d, e->device_id, JOURNAL_DEVICE_ID_LEN);
        enc_u64(d, e->seq);
        enc_fixed(d, e->prev, JOURNAL_HASH_LEN);
        enc_fixed(d, e->member_head, JOURNAL_HASH_LEN);
        enc_u64(d, e->time_ms);
        enc_u32(d, (uint32_t)e->nseen);
        for (i = 0; i < e->nseen; i++) {
                enc_fixed(d, e->seen[i].device_id, JOURNAL_DEVICE_ID_LEN);
                enc_u64(d, e->seen[i].seq);
                enc_fixed(d, e->seen[i].hash, JOURNAL_HASH_LEN);
        }
        enc_u32(d, (uint32_t)e->ncommits);
        for (i = 0; i < e->ncommits; i++) {
                const struct journal_commit *c = &e->commits[i];

                enc_fixed(d, c->file_id, JOURNAL_DEVICE_ID_LEN);
                enc_fixed(d, c->manifest_hash, JOURNAL_HASH_LEN);
                enc_fixed(d, c->pack_hash, JOURNAL_HASH_LEN);
                enc_u64(d, c->off);
                enc_u32(d, c->len);
        }
        enc_u32(d, (uint32_t)e->npacks);
        for (i = 0; i < e->npacks; i++) {
                enc_fixed(d, e->packs[i].hash, JOURNAL_HASH_LEN);
                enc_u64(d, e->packs[i].size);
        }
}

int journal_encode_sign(const struct journal_entry *e, const uint8_t sign_sk[static 64],
                        uint8_t **out, size_t *out_len, uint8_t hash[static JOURNAL_HASH_LEN])
{
        uint8_t sig[JOURNAL_SIG_LEN];
        struct enc d;
        int rc;

        if (journal_check(e) != 0)
                return -EINVAL;
        enc_init(&d);
        journal_enc_signed(&d, e);
        if (enc_error(&d) != 0) {
                rc = -ENOMEM;
                goto out_enc;
        }
        rc = sig_sign(sig, sign_sk, JOURNAL_SIG_TYPE, d.buf, d.len);
        if (rc != 0)
                goto out_enc;
        enc_fixed(&d, sig, sizeof(sig));
        if (enc_error(&d) != 0) {
                rc = -ENOMEM;
                goto out_enc;
        }
        if (d.len > JOURNAL_MAX_SIZE) { /* cannot happen under the bounds */
                rc = -EINVAL;
                goto out_enc;
        }
        hash_blake2b(hash, d.buf, d.len);
        *out = d.buf; /* hand the buffer over */
        *out_len = d.len;
        enc_init(&d);
out_enc:
        enc_release(&d);
        return rc;
}

/* ---- decoding ---- */

static size_t journal_dec_count(struct dec *d, size_t max, size_t item)
{
        size_t n = dec_u32(d);

        if (d->err == 0 && (n > max || n > (d->len - d->off) / item))
                d->err = -EBADMSG;
        return d->err == 0 ? n : 0;
}

int journal_decode(const uint8_t *buf, size_t len, struct journal_entry *out)
{
        struct journal_entry t;
        struct dec d;
        size_t i;
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

        t.nseen = journal_dec_count(&d, JOURNAL_MAX_SEEN, JOURNAL_SEEN_LEN);
        if (d.err != 0)
                goto fail;
        if (t.nseen > 0 && (t.seen = calloc(t.nseen, sizeof(*t.seen))) == NULL)
                goto nomem;
        for (i = 0; i < t.nseen; i++) {
                dec_fixed(&d, t.seen[i].device_id, JOURNAL_DEVICE_ID_LEN);
                t.seen[i].seq = dec_u64(&d);
                dec_fixed(&d, t.seen[i].hash, JOURNAL_HASH_LEN);
        }

        t.ncommits = journal_dec_count(&d, JOURNAL_MAX_COMMITS, JOURNAL_COMMIT_LEN);
        if (d.err != 0)
                goto fail;
        if (t.ncommits > 0 && (t.commits = calloc(t.ncommits, sizeof(*t.commits))) == NULL)
                goto nomem;
        for (i = 0; i < t.ncommits; i++) {
                struct journal_commit *c = &t.commits[i];

                dec_fixed(&d, c->file_id, JOURNAL_DEVICE_ID_LEN);
                dec_fixed(&d, c->manifest_hash, JOURNAL_HASH_LEN);
                dec_fixed(&d, c->pack_hash, JOURNAL_HASH_LEN);
                c->off = dec_u64(&d);
                c->len = dec_u32(&d);
        }

        t.npacks = journal_dec_count(&d, JOURNAL_MAX_PACKS, JOURNAL_PACK_LEN);
        if (d.err != 0)
                goto fail;
        if (t.npacks > 0 && (t.packs = calloc(t.npacks, sizeof(*t.packs))) == NULL)
                goto nomem;
        for (i = 0; i < t.npacks; i++) {
                dec_fixed(&d, t.packs[i].hash, JOURNAL_HASH_LEN);
                t.packs[i].size = dec_u64(&d);
        }
        if (dec_finish(&d) != 0 || journal_check(&t) != 0)
                goto fail;
        memcpy(t.sig, buf + len - JOURNAL_SIG_LEN, JOURNAL_SIG_LEN);
        hash_blake2b(t.hash, buf, len);
        *out = t;
        return 0;

nomem:
        rc = -ENOMEM;
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

int journal_object_key(const char *region_hex,
                       const uint8_t device_id[static JOURNAL_DEVICE_ID_LEN], uint64_t seq,
                       const uint8_t hash[static JOURNAL_HASH_LEN],
                       char out[static JOURNAL_KEY_SIZE])
{
        char dev[2 * JOURNAL_DEVICE_ID_LEN + 1], h[2 * JOURNAL_HASH_LEN + 1];
        int n;

        if (region_hex == NULL || strlen(region_hex) != 2 * JOURNAL_ID_LEN ||
            hex_decode_lower(NULL, JOURNAL_ID_LEN, region_hex) != 0 || seq == 0)
                return -EINVAL;
        hex_encode(dev, device_id, JOURNAL_DEVICE_ID_LEN);
        hex_encode(h, hash, JOURNAL_HASH_LEN);
        n = snprintf(out, JOURNAL_KEY_SIZE, "%s" JOURNAL_KEY_MID "%s/%016llx-%s", region_hex, dev,
                     (unsigned long long)seq, h);
        return n == JOURNAL_KEY_LEN ? 0 : -EINVAL;
}

int journal_parse_key(const char *key, uint8_t *region_id,
                      uint8_t device_id[static JOURNAL_DEVICE_ID_LEN], uint64_t *seq,
                      uint8_t hash[static JOURNAL_HASH_LEN])
{
        uint8_t rid[JOURNAL_ID_LEN], dev[JOURNAL_DEVICE_ID_LEN], h[JOURNAL_HASH_LEN], s[8];
        const char *p = key;
        uint64_t v = 0;
        int i;

        if (key == NULL || strnlen(key, JOURNAL_KEY_SIZE) != JOURNAL_KEY_LEN)
                return -EINVAL;
        if (hex_decode_lower(rid, sizeof(rid), p) != 0)
                return -EINVAL;
        p += 2 * sizeof(rid);
        if (memcmp(p, JOURNAL_KEY_MID, JOURNAL_KEY_MID_LEN) != 0)
                return -EINVAL;
        p += JOURNAL_KEY_MID_LEN;
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
