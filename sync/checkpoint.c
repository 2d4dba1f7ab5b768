/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checkpoints: canonical encoding, strict decoding, signatures, object keys,
 * and the location records of their bundles.  See checkpoint.h and
 * doc/FORMAT-sync.md "Checkpoint".  The lists share journal.c's codecs.
 */
#include "sync/checkpoint.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/enc.h"
#include "crypto/hash.h"
#include "crypto/sig.h"
#include "sync/pack.h"

#define CHECKPOINT_SIG_TYPE "checkpoint"
#define CHECKPOINT_GROUP_LEN 36u /* pack hash || u32 k */
#define CHECKPOINT_LOC_LEN 44u   /* hash || u64 off || u32 len */

/* ---- invariants 1-4 ---- */

static int checkpoint_check(const struct checkpoint *c)
{
        if (c->version != CHECKPOINT_VERSION || c->seq == 0)
                return -EBADMSG;
        if (journal_marks_check(c->marks, c->nmarks, CHECKPOINT_MAX_MARKS, NULL) != 0 ||
            journal_refs_check(c->files, c->nfiles, CHECKPOINT_MAX_FILES, c->packs, c->npacks) != 0)
                return -EBADMSG;
        return 0;
}

static void checkpoint_enc_signed(struct enc *d, const struct checkpoint *c)
{
        enc_u8(d, c->version);
        enc_fixed(d, c->region_id, JOURNAL_ID_LEN);
        enc_fixed(d, c->device_id, JOURNAL_DEVICE_ID_LEN);
        enc_u64(d, c->seq);
        enc_fixed(d, c->member_head, JOURNAL_HASH_LEN);
        enc_u64(d, c->time_ms);
        journal_marks_enc(d, c->marks, c->nmarks);
        journal_refs_enc(d, c->files, c->nfiles, c->packs, c->npacks);
}

int checkpoint_encode_sign(const struct checkpoint *c, const uint8_t sign_sk[static 64],
                           uint8_t **out, size_t *out_len, uint8_t hash[static JOURNAL_HASH_LEN])
{
        struct enc d;
        int rc;

        if (checkpoint_check(c) != 0)
                return -EINVAL;
        enc_init(&d);
        checkpoint_enc_signed(&d, c);
        rc = sig_finish_enc(&d, sign_sk, CHECKPOINT_SIG_TYPE, CHECKPOINT_MAX_SIZE, out, out_len);
        if (rc == 0)
                hash_blake2b(hash, *out, *out_len);
        return rc;
}

int checkpoint_decode(const uint8_t *buf, size_t len, struct checkpoint *out)
{
        struct checkpoint t;
        struct dec d;
        int rc;

        if (buf == NULL || len < CHECKPOINT_FIXED_LEN || len > CHECKPOINT_MAX_SIZE)
                return -EBADMSG;
        memset(&t, 0, sizeof(t));
        dec_init(&d, buf, len - CHECKPOINT_SIG_LEN);
        t.version = dec_u8(&d);
        if (t.version != CHECKPOINT_VERSION)
                return -EBADMSG;
        dec_fixed(&d, t.region_id, JOURNAL_ID_LEN);
        dec_fixed(&d, t.device_id, JOURNAL_DEVICE_ID_LEN);
        t.seq = dec_u64(&d);
        dec_fixed(&d, t.member_head, JOURNAL_HASH_LEN);
        t.time_ms = dec_u64(&d);
        rc = journal_marks_dec(&d, CHECKPOINT_MAX_MARKS, &t.marks, &t.nmarks);
        if (rc == 0)
                rc = journal_refs_dec(&d, CHECKPOINT_MAX_FILES, &t.files, &t.nfiles, &t.packs,
                                      &t.npacks);
        if (rc == 0 && (dec_finish(&d) != 0 || checkpoint_check(&t) != 0))
                rc = -EBADMSG;
        if (rc != 0) {
                checkpoint_release(&t);
                return rc;
        }
        memcpy(t.sig, buf + len - CHECKPOINT_SIG_LEN, CHECKPOINT_SIG_LEN);
        hash_blake2b(t.hash, buf, len);
        *out = t;
        return 0;
}

int checkpoint_verify_sig(const uint8_t *buf, size_t len, const uint8_t sign_pk[static 32])
{
        int rc;

        if (buf == NULL || len < CHECKPOINT_FIXED_LEN || len > CHECKPOINT_MAX_SIZE)
                return -EBADMSG;
        rc = sig_verify(buf + len - CHECKPOINT_SIG_LEN, sign_pk, CHECKPOINT_SIG_TYPE, buf,
                        len - CHECKPOINT_SIG_LEN);
        if (rc == -ENOMEM)
                return rc;
        return rc == 0 ? 0 : -EBADMSG;
}

int checkpoint_open(const uint8_t *buf, size_t len, const uint8_t name_hash[static 32],
                    const uint8_t region_id[static 32], const uint8_t device_id[static 16],
                    uint64_t seq, const uint8_t sign_pk[static 32], struct checkpoint *out,
                    const char **why)
{
        struct checkpoint c;
        uint8_t h[JOURNAL_HASH_LEN];
        int rc;

        hash_blake2b(h, buf, len);
        if (memcmp(h, name_hash, sizeof(h)) != 0) {
                *why = "its bytes do not match the hash in its name";
                return -EBADMSG;
        }
        rc = checkpoint_decode(buf, len, &c);
        if (rc != 0) {
                *why = "it does not decode";
                return rc;
        }
        if (memcmp(c.region_id, region_id, 32) != 0 || memcmp(c.device_id, device_id, 16) != 0 ||
            c.seq != seq) {
                *why = "its region, author or seq differ from its name";
                rc = -EBADMSG;
        } else {
                rc = checkpoint_verify_sig(buf, len, sign_pk);
                if (rc == -EBADMSG)
                        *why = "its signature does not verify under the author's key";
        }
        if (rc != 0) {
                checkpoint_release(&c);
                return rc;
        }
        *out = c;
        return 0;
}

/* Marks and files both begin with their 16-byte id (device, file). */
static int checkpoint_id_cmp(const void *key, const void *elem)
{
        return memcmp(key, elem, 16);
}

const struct journal_seen *checkpoint_mark(const struct checkpoint *c,
                                           const uint8_t device_id[static 16])
{
        return c->nmarks == 0
                   ? NULL
                   : bsearch(device_id, c->marks, c->nmarks, sizeof(*c->marks), checkpoint_id_cmp);
}

const struct journal_commit *checkpoint_file(const struct checkpoint *c,
                                             const uint8_t file_id[static 16])
{
        return c->nfiles == 0
                   ? NULL
                   : bsearch(file_id, c->files, c->nfiles, sizeof(*c->files), checkpoint_id_cmp);
}

void checkpoint_release(struct checkpoint *c)
{
        if (c == NULL)
                return;
        free(c->marks);
        free(c->files);
        free(c->packs);
        memset(c, 0, sizeof(*c));
}

int checkpoint_object_key(const char *region_hex, const uint8_t device_id[static 16], uint64_t seq,
                          const uint8_t hash[static 32], char out[static CHECKPOINT_KEY_SIZE])
{
        return journal_seq_key(region_hex, CHECKPOINT_KEY_MID, device_id, seq, hash, out,
                               CHECKPOINT_KEY_SIZE);
}

int checkpoint_parse_key(const char *key, uint8_t *region_id, uint8_t device_id[static 16],
                         uint64_t *seq, uint8_t hash[static 32])
{
        return journal_parse_seq_key(key, CHECKPOINT_KEY_MID, region_id, device_id, seq, hash);
}

/* ---- location records ---- */

int checkpoint_loc_cmp(const void *a, const void *b)
{
        const struct checkpoint_loc *x = a, *y = b;
        int c = memcmp(x->pack, y->pack, JOURNAL_HASH_LEN);

        if (c != 0)
                return c;
        return x->off < y->off ? -1 : x->off > y->off;
}

/* Location I of L (N) follows I-1 by the rules (same group) and lies in its pack. */
static int checkpoint_loc_valid(const struct checkpoint_loc *l, size_t i)
{
        const struct checkpoint_loc *x = &l[i];

        if (x->len < PACK_BLOCK_MIN_LEN || x->len > PACK_BLOCK_MAX_LEN ||
            x->off < PACK_MIN_RECORD_OFF || x->off > PACK_MAX_SIZE - PACK_ENTRY_LEN - 4 ||
            x->len > PACK_MAX_SIZE - PACK_ENTRY_LEN - 4 - x->off)
                return 0;
        if (i == 0)
                return 1;
        if (memcmp(l[i - 1].pack, x->pack, JOURNAL_HASH_LEN) != 0)
                return memcmp(l[i - 1].pack, x->pack, JOURNAL_HASH_LEN) < 0;
        return x->off >= l[i - 1].off + l[i - 1].len + PACK_RECORD_HDR_LEN;
}

static int checkpoint_locs_valid(const struct checkpoint_loc *l, size_t n)
{
        size_t i;

        if (n == 0 || n > CHECKPOINT_LOCS_MAX)
                return 0;
        for (i = 0; i < n; i++)
                if (!checkpoint_loc_valid(l, i))
                        return 0;
        return 1;
}

int checkpoint_locs_encode(const struct checkpoint_loc *l, size_t n, uint8_t **out, size_t *out_len)
{
        size_t i, j, groups = 0;
        struct enc e;

        if (!checkpoint_locs_valid(l, n))
                return -EINVAL;
        for (i = 0; i < n; i++)
                groups += i == 0 || memcmp(l[i - 1].pack, l[i].pack, JOURNAL_HASH_LEN) != 0;
        enc_init(&e);
        enc_u32(&e, (uint32_t)groups);
        for (i = 0; i < n; i = j) {
                for (j = i; j < n && memcmp(l[j].pack, l[i].pack, JOURNAL_HASH_LEN) == 0; j++)
                        ;
                enc_fixed(&e, l[i].pack, JOURNAL_HASH_LEN);
                enc_u32(&e, (uint32_t)(j - i));
                for (size_t k = i; k < j; k++) {
                        enc_fixed(&e, l[k].hash, JOURNAL_HASH_LEN);
                        enc_u64(&e, l[k].off);
                        enc_u32(&e, l[k].len);
                }
        }
        if (enc_error(&e) != 0) {
                enc_release(&e);
                return -ENOMEM;
        }
        *out = e.buf;
        *out_len = e.len;
        return 0;
}

/* Decodes one group of D into L from *N on (room checked by the caller's bound). */
static void checkpoint_group_dec(struct dec *d, struct checkpoint_loc *l, size_t *n, size_t max)
{
        uint8_t pack[JOURNAL_HASH_LEN];
        size_t k, i;

        dec_fixed(d, pack, sizeof(pack));
        /* Groups strictly ascending: one encoding (a pack is never split). */
        if (d->err == 0 && *n > 0 && memcmp(l[*n - 1].pack, pack, sizeof(pack)) >= 0)
                d->err = -EBADMSG;
        k = journal_dec_count(d, max - *n, CHECKPOINT_LOC_LEN);
        if (d->err == 0 && k == 0)
                d->err = -EBADMSG;
        for (i = 0; i < k && d->err == 0; i++) {
                struct checkpoint_loc *x = &l[*n + i];

                memcpy(x->pack, pack, sizeof(pack));
                dec_fixed(d, x->hash, JOURNAL_HASH_LEN);
                x->off = dec_u64(d);
                x->len = dec_u32(d);
        }
        if (d->err == 0)
                *n += k;
}

int checkpoint_locs_decode(const uint8_t *buf, size_t len, struct checkpoint_loc **out, size_t *n)
{
        struct checkpoint_loc *l;
        size_t groups, i, k = 0, max;
        struct dec d;

        if (buf == NULL || len < PACK_LOCS_MIN_LEN || len > PACK_LOCS_MAX_LEN)
                return -EBADMSG;
        max = (len - 4) / CHECKPOINT_LOC_LEN;
        if (max > CHECKPOINT_LOCS_MAX)
                max = CHECKPOINT_LOCS_MAX;
        l = calloc(max, sizeof(*l));
        if (l == NULL)
                return -ENOMEM;
        dec_init(&d, buf, len);
        groups = journal_dec_count(&d, max, CHECKPOINT_GROUP_LEN + CHECKPOINT_LOC_LEN);
        if (d.err == 0 && groups == 0)
                d.err = -EBADMSG;
        for (i = 0; i < groups && d.err == 0; i++)
                checkpoint_group_dec(&d, l, &k, max);
        if (dec_finish(&d) != 0 || !checkpoint_locs_valid(l, k)) {
                free(l);
                return -EBADMSG;
        }
        *out = l;
        *n = k;
        return 0;
}
