/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Manifests: canonical encoding, strict decoding, metadata sealing and
 * opening, signatures, version-vector order.  See manifest.h and
 * doc/FORMAT-sync.md "Manifest".
 */
#include "sync/manifest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/aead.h"
#include "crypto/block.h"
#include "crypto/enc.h"
#include "crypto/hash.h"
#include "crypto/kdf.h"
#include "crypto/secmem.h"
#include "crypto/sig.h"

#define MANIFEST_SIG_TYPE "manifest"
#define MANIFEST_KDF_META "meta"
static const char manifest_ad_domain[] = "sealsync/v1/manifest-meta"; /* + its NUL */
#define MANIFEST_AD_LEN (sizeof(manifest_ad_domain) + MANIFEST_ID_LEN + MANIFEST_FILE_ID_LEN + 8)
#define MANIFEST_XATTR_PREFIX "user."
#define MANIFEST_XATTR_PREFIX_LEN 5
#define MANIFEST_NS_PER_S 1000000000u

_Static_assert(MANIFEST_META_MAX % MANIFEST_META_PAD == 0, "padding divides the maximum");

/* ---- small helpers ---- */

static int manifest_all_zero(const uint8_t *p, size_t n)
{
        uint8_t acc = 0;
        size_t i;

        for (i = 0; i < n; i++)
                acc |= p[i];
        return acc == 0;
}

/* Bytewise order, a proper prefix first. */
static int manifest_bytes_cmp(const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
        int c = memcmp(a, b, na < nb ? na : nb);

        if (c != 0)
                return c;
        return na < nb ? -1 : na > nb;
}

int manifest_name_valid(const void *name, size_t len)
{
        const uint8_t *p = name;

        if (name == NULL || len == 0 || len > MANIFEST_NAME_MAX)
                return 0;
        if (memchr(p, '/', len) != NULL || memchr(p, '\0', len) != NULL)
                return 0;
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
                return 0;
        return 1;
}

static int manifest_meta_len_valid(size_t len)
{
        return len >= MANIFEST_META_OVERHEAD + MANIFEST_META_PAD &&
               len <= MANIFEST_META_OVERHEAD + MANIFEST_META_MAX &&
               (len - MANIFEST_META_OVERHEAD) % MANIFEST_META_PAD == 0;
}

int manifest_key_commit(uint8_t out[static 32], const uint8_t epoch_key[static 32],
                        const uint8_t file_id[static MANIFEST_FILE_ID_LEN],
                        const uint8_t salt[static 32])
{
        uint8_t m[MANIFEST_FILE_ID_LEN + 32];
        uint8_t k_file[32];
        int rc;

        memcpy(m, file_id, MANIFEST_FILE_ID_LEN);
        memcpy(m + MANIFEST_FILE_ID_LEN, salt, 32);
        rc = kdf_derive(k_file, sizeof(k_file), epoch_key, "file", m, sizeof(m));
        if (rc == 0)
                rc = kdf_derive(out, 32, k_file, "commit", NULL, 0);
        secmem_wipe(k_file, sizeof(k_file));
        return rc;
}

static void manifest_meta_ad(uint8_t ad[static MANIFEST_AD_LEN], const struct manifest *m)
{
        uint8_t *p = ad;
        int i;

        memcpy(p, manifest_ad_domain, sizeof(manifest_ad_domain)); /* includes the NUL */
        p += sizeof(manifest_ad_domain);
        memcpy(p, m->region_id, MANIFEST_ID_LEN);
        p += MANIFEST_ID_LEN;
        memcpy(p, m->file_id, MANIFEST_FILE_ID_LEN);
        p += MANIFEST_FILE_ID_LEN;
        for (i = 0; i < 8; i++)
                p[i] = (uint8_t)(m->lamport >> (56 - 8 * i));
}

/* ---- version vectors ---- */

int manifest_vv_compare(const struct manifest_vv *a, size_t na, const struct manifest_vv *b,
                        size_t nb)
{
        int a_more = 0, b_more = 0;
        size_t i = 0, j = 0;

        while (i < na || j < nb) {
                int c;

                if (i == na)
                        c = 1;
                else if (j == nb)
                        c = -1;
                else
                        c = memcmp(a[i].device_id, b[j].device_id, MANIFEST_FILE_ID_LEN);
                if (c < 0) {
                        a_more |= a[i].counter > 0;
                        i++;
                } else if (c > 0) {
                        b_more |= b[j].counter > 0;
                        j++;
                } else {
                        a_more |= a[i].counter > b[j].counter;
                        b_more |= b[j].counter > a[i].counter;
                        i++;
                        j++;
                }
        }
        if (a_more && b_more)
                return MANIFEST_VV_CONCURRENT;
        if (a_more)
                return MANIFEST_VV_DOMINATES;
        if (b_more)
                return MANIFEST_VV_DOMINATED;
        return MANIFEST_VV_EQUAL;
}

int manifest_later(const struct manifest *a, const struct manifest *b)
{
        int c;

        if (a->lamport != b->lamport)
                return a->lamport > b->lamport;
        c = memcmp(a->author, b->author, MANIFEST_FILE_ID_LEN);
        if (c != 0)
                return c > 0;
        return memcmp(a->hash, b->hash, MANIFEST_HASH_LEN) > 0; /* twins of one fork */
}

int manifest_order(const struct manifest *a, const struct manifest *b)
{
        int order = manifest_vv_compare(a->vv, a->nvv, b->vv, b->nvv);

        if (memcmp(a->hash, b->hash, MANIFEST_HASH_LEN) == 0)
                return MANIFEST_VV_EQUAL;
        if (order == MANIFEST_VV_EQUAL)
                return MANIFEST_VV_CONCURRENT; /* one vector, two versions: a fork */
        if (order == MANIFEST_VV_DOMINATES && !manifest_later(a, b))
                return MANIFEST_VV_CONCURRENT;
        if (order == MANIFEST_VV_DOMINATED && !manifest_later(b, a))
                return MANIFEST_VV_CONCURRENT;
        return order;
}

/* ---- structural invariants 1-6, shared by encoder and decoder ---- */

static int manifest_check_vv(const struct manifest *m)
{
        int have_author = 0;
        size_t i;

        if (m->nvv == 0 || m->nvv > MANIFEST_MAX_VV || m->vv == NULL)
                return -EBADMSG;
        for (i = 0; i < m->nvv; i++) {
                if (m->vv[i].counter == 0)
                        return -EBADMSG;
                if (i > 0 &&
                    memcmp(m->vv[i - 1].device_id, m->vv[i].device_id, MANIFEST_FILE_ID_LEN) >= 0)
                        return -EBADMSG;
                if (memcmp(m->vv[i].device_id, m->author, MANIFEST_FILE_ID_LEN) == 0)
                        have_author = 1;
        }
        return have_author ? 0 : -EBADMSG;
}

static int manifest_check_refs(const struct manifest *m)
{
        uint64_t nblocks;
        size_t i;

        if (m->nrefs == 0)
                return 0;
        if (m->kind != MANIFEST_FILE || m->nrefs > MANIFEST_MAX_REFS || m->refs == NULL)
                return -EBADMSG;
        nblocks = m->size / m->block_size + (m->size % m->block_size != 0);
        for (i = 0; i < m->nrefs; i++) {
                const struct manifest_ref *r = &m->refs[i];

                if (r->index >= nblocks || r->final > 1)
                        return -EBADMSG;
                if (i > 0 && m->refs[i - 1].index >= r->index)
                        return -EBADMSG;
                if (r->final != (r->index == nblocks - 1))
                        return -EBADMSG;
        }
        return 0;
}

static int manifest_check(const struct manifest *m)
{
        size_t i;

        if (m->version != MANIFEST_VERSION || m->kind < MANIFEST_FILE || m->kind > MANIFEST_SPECIAL)
                return -EBADMSG;
        if (manifest_all_zero(m->file_id, MANIFEST_FILE_ID_LEN) || m->lamport == 0)
                return -EBADMSG;
        if (manifest_check_vv(m) != 0)
                return -EBADMSG;
        if (m->nparents > MANIFEST_MAX_PARENTS || (m->nparents > 0 && m->parents == NULL))
                return -EBADMSG;
        for (i = 1; i < m->nparents; i++)
                if (memcmp(m->parents[i - 1], m->parents[i], MANIFEST_HASH_LEN) >= 0)
                        return -EBADMSG;
        if (m->block_size < BLOCK_MIN_SIZE || m->block_size > BLOCK_MAX_SIZE ||
            (m->block_size & (m->block_size - 1)) != 0)
                return -EBADMSG;
        if (m->size > (uint64_t)INT64_MAX || (m->kind != MANIFEST_FILE && m->size != 0))
                return -EBADMSG;
        if (manifest_check_refs(m) != 0)
                return -EBADMSG;
        if (m->meta == NULL || !manifest_meta_len_valid(m->meta_len))
                return -EBADMSG;
        return 0;
}

/* ---- metadata record ---- */

/* Kind SPECIAL: a known type, rdev only on devices; other kinds: neither. */
static int manifest_special_check(const struct manifest_meta *meta, uint8_t kind)
{
        if (kind != MANIFEST_SPECIAL)
                return meta->special_type == 0 && meta->rdev == 0 ? 0 : -EBADMSG;
        if (meta->special_type < MANIFEST_SPECIAL_FIFO || meta->special_type > MANIFEST_SPECIAL_BLK)
                return -EBADMSG;
        if (meta->special_type <= MANIFEST_SPECIAL_SOCK && meta->rdev != 0)
                return -EBADMSG;
        return 0;
}

static int manifest_meta_check(const struct manifest_meta *meta, uint8_t kind)
{
        size_t i;

        if (meta->name_len > MANIFEST_NAME_MAX || !manifest_name_valid(meta->name, meta->name_len))
                return -EBADMSG;
        if ((meta->mode & ~07777u) != 0 || meta->mtime_ns >= MANIFEST_NS_PER_S)
                return -EBADMSG;
        if (kind == MANIFEST_SYMLINK) {
                if (meta->target_len == 0 || meta->target_len > MANIFEST_TARGET_MAX ||
                    memchr(meta->target, '\0', meta->target_len) != NULL)
                        return -EBADMSG;
        } else if (meta->target_len != 0) {
                return -EBADMSG;
        }
        if (manifest_special_check(meta, kind) != 0)
                return -EBADMSG;
        if (meta->nxattrs > MANIFEST_MAX_XATTRS || (meta->nxattrs > 0 && meta->xattrs == NULL))
                return -EBADMSG;
        for (i = 0; i < meta->nxattrs; i++) {
                const struct manifest_xattr *x = &meta->xattrs[i];

                if (x->name == NULL || x->name_len <= MANIFEST_XATTR_PREFIX_LEN ||
                    x->name_len > MANIFEST_XATTR_NAME_MAX ||
                    memcmp(x->name, MANIFEST_XATTR_PREFIX, MANIFEST_XATTR_PREFIX_LEN) != 0 ||
                    memchr(x->name, '\0', x->name_len) != NULL)
                        return -EBADMSG;
                if (x->value_len > MANIFEST_XATTR_VALUE_MAX || (x->value_len > 0 && !x->value))
                        return -EBADMSG;
                if (i > 0 &&
                    manifest_bytes_cmp(meta->xattrs[i - 1].name, meta->xattrs[i - 1].name_len,
                                       x->name, x->name_len) >= 0)
                        return -EBADMSG;
        }
        return 0;
}

int manifest_meta_encode(const struct manifest_meta *meta, uint8_t kind, uint8_t **out,
                         size_t *out_len)
{
        struct enc e;
        uint8_t *buf;
        size_t i, padded;
        int rc = 0;

        if (manifest_meta_check(meta, kind) != 0)
                return -EINVAL;
        enc_init(&e);
        enc_var(&e, meta->name, meta->name_len);
        enc_fixed(&e, meta->parent_id, MANIFEST_FILE_ID_LEN);
        enc_u32(&e, meta->mode);
        enc_u64(&e, meta->mtime_s);
        enc_u32(&e, meta->mtime_ns);
        enc_var(&e, meta->target, meta->target_len);
        enc_u32(&e, (uint32_t)meta->nxattrs);
        for (i = 0; i < meta->nxattrs; i++) {
                enc_var(&e, meta->xattrs[i].name, meta->xattrs[i].name_len);
                enc_var(&e, meta->xattrs[i].value, meta->xattrs[i].value_len);
        }
        if (kind == MANIFEST_SPECIAL) {
                enc_u8(&e, meta->special_type);
                enc_u64(&e, meta->rdev);
        }
        if (enc_error(&e) != 0) {
                rc = -ENOMEM;
                goto out_enc;
        }
        padded = (e.len + MANIFEST_META_PAD - 1) / MANIFEST_META_PAD * MANIFEST_META_PAD;
        if (padded > MANIFEST_META_MAX) {
                rc = -EINVAL;
                goto out_enc;
        }
        buf = malloc(padded);
        if (buf == NULL) {
                rc = -ENOMEM;
                goto out_enc;
        }
        memcpy(buf, e.buf, e.len);
        memset(buf + e.len, 0, padded - e.len);
        *out = buf;
        *out_len = padded;
out_enc:
        enc_release(&e); /* wipes the names */
        return rc;
}

void manifest_meta_release(struct manifest_meta *meta)
{
        if (meta == NULL)
                return;
        if (meta->plain != NULL) {
                secmem_wipe(meta->plain, meta->plain_len);
                free(meta->plain);
                /* Decoded xattrs point into PLAIN; the array is ours. */
                free(meta->xattrs);
        }
        secmem_wipe(meta, sizeof(*meta));
}

/* Reads a var into a NUL-terminated fixed array of MAX + 1 bytes. */
static void manifest_dec_str(struct dec *d, char *out, size_t *out_len, size_t max)
{
        const uint8_t *p = NULL;
        size_t n = 0;

        dec_var(d, &p, &n, max);
        if (d->err != 0)
                return;
        memcpy(out, p, n);
        out[n] = '\0';
        *out_len = n;
}

/*
 * Decodes PLAIN (malloc'd, LEN bytes), taking ownership of it on success.
 * On failure PLAIN is still the caller's and *OUT untouched.
 */
static int manifest_meta_parse(uint8_t *plain, size_t len, uint8_t kind, struct manifest_meta *out)
{
        const size_t min_xattr = 4 + MANIFEST_XATTR_PREFIX_LEN + 1 + 4;
        struct manifest_meta *t;
        struct dec d;
        size_t i, n, rest;
        int rc = -EBADMSG;

        if (len == 0 || len % MANIFEST_META_PAD != 0 || len > MANIFEST_META_MAX)
                return -EBADMSG;
        /* The temporary holds names: heap, wiped by manifest_meta_release. */
        t = calloc(1, sizeof(*t));
        if (t == NULL)
                return -ENOMEM;
        dec_init(&d, plain, len);
        manifest_dec_str(&d, t->name, &t->name_len, MANIFEST_NAME_MAX);
        dec_fixed(&d, t->parent_id, MANIFEST_FILE_ID_LEN);
        t->mode = dec_u32(&d);
        t->mtime_s = dec_u64(&d);
        t->mtime_ns = dec_u32(&d);
        manifest_dec_str(&d, t->target, &t->target_len, MANIFEST_TARGET_MAX);
        n = dec_u32(&d);
        if (d.err != 0 || n > MANIFEST_MAX_XATTRS || n > (d.len - d.off) / min_xattr)
                goto fail;
        if (n > 0) {
                t->xattrs = calloc(n, sizeof(*t->xattrs));
                if (t->xattrs == NULL) {
                        rc = -ENOMEM;
                        goto fail;
                }
        }
        t->nxattrs = n;
        for (i = 0; i < n; i++) {
                struct manifest_xattr *x = &t->xattrs[i];

                dec_var(&d, &x->name, &x->name_len, MANIFEST_XATTR_NAME_MAX);
                dec_var(&d, &x->value, &x->value_len, MANIFEST_XATTR_VALUE_MAX);
        }
        if (kind == MANIFEST_SPECIAL) {
                t->special_type = dec_u8(&d);
                t->rdev = dec_u64(&d);
        }
        if (d.err != 0)
                goto fail;
        /* Canonical padding: the shortest run of zeros reaching a multiple of 256. */
        rest = d.len - d.off;
        if (rest >= MANIFEST_META_PAD || !manifest_all_zero(plain + d.off, rest))
                goto fail;
        if (manifest_meta_check(t, kind) != 0)
                goto fail;
        t->plain = plain;
        t->plain_len = len;
        *out = *t;
        secmem_wipe(t, sizeof(*t));
        free(t);
        return 0;
fail:
        free(t->xattrs);
        secmem_wipe(t, sizeof(*t));
        free(t);
        return rc;
}

int manifest_meta_decode(const uint8_t *plain, size_t len, uint8_t kind, struct manifest_meta *out)
{
        uint8_t *copy;
        int rc;

        if (plain == NULL || len == 0 || len % MANIFEST_META_PAD != 0 || len > MANIFEST_META_MAX)
                return -EBADMSG;
        copy = malloc(len);
        if (copy == NULL)
                return -ENOMEM;
        memcpy(copy, plain, len);
        rc = manifest_meta_parse(copy, len, kind, out);
        if (rc != 0) {
                secmem_wipe(copy, len);
                free(copy);
        }
        return rc;
}

int manifest_meta_seal(const struct manifest *m, const struct manifest_meta *meta,
                       const uint8_t epoch_key[static 32], uint8_t **out, size_t *out_len)
{
        uint8_t ad[MANIFEST_AD_LEN];
        uint8_t k_meta[AEAD_KEY_LEN];
        uint8_t *plain = NULL, *sealed = NULL;
        size_t plen = 0;
        int rc;

        rc = manifest_meta_encode(meta, m->kind, &plain, &plen);
        if (rc != 0)
                return rc;
        rc = kdf_derive(k_meta, sizeof(k_meta), epoch_key, MANIFEST_KDF_META, m->file_id,
                        MANIFEST_FILE_ID_LEN);
        if (rc != 0)
                goto out_plain;
        sealed = malloc(plen + AEAD_OVERHEAD);
        if (sealed == NULL) {
                rc = -ENOMEM;
                goto out_key;
        }
        manifest_meta_ad(ad, m);
        rc = aead_seal(sealed, k_meta, ad, sizeof(ad), plain, plen);
        if (rc != 0) {
                free(sealed);
                goto out_key;
        }
        *out = sealed;
        *out_len = plen + AEAD_OVERHEAD;
out_key:
        secmem_wipe(k_meta, sizeof(k_meta));
out_plain:
        secmem_wipe(plain, plen);
        free(plain);
        return rc;
}

int manifest_open_meta(const struct manifest *m, const uint8_t epoch_key[static 32],
                       struct manifest_meta *out)
{
        uint8_t ad[MANIFEST_AD_LEN];
        uint8_t k_meta[AEAD_KEY_LEN];
        uint8_t commit[32];
        uint8_t *plain = NULL;
        size_t plen;
        int rc;

        if (m->meta == NULL || !manifest_meta_len_valid(m->meta_len))
                return -EBADMSG;
        /* Key commitment first: neither AEAD commits to its key. */
        rc = manifest_key_commit(commit, epoch_key, m->file_id, m->salt);
        if (rc != 0)
                return rc;
        if (!secmem_equal(commit, m->key_commit, sizeof(commit)))
                return -EBADMSG;
        rc = kdf_derive(k_meta, sizeof(k_meta), epoch_key, MANIFEST_KDF_META, m->file_id,
                        MANIFEST_FILE_ID_LEN);
        if (rc != 0)
                return rc;
        plen = m->meta_len - AEAD_OVERHEAD;
        plain = malloc(plen);
        if (plain == NULL) {
                rc = -ENOMEM;
                goto out_key;
        }
        manifest_meta_ad(ad, m);
        rc = aead_open(plain, k_meta, ad, sizeof(ad), m->meta, m->meta_len);
        if (rc == 0)
                rc = manifest_meta_parse(plain, plen, m->kind, out);
        if (rc != 0) {
                secmem_wipe(plain, plen);
                free(plain);
        }
out_key:
        secmem_wipe(k_meta, sizeof(k_meta));
        return rc;
}

/* ---- manifest object ---- */

static void manifest_enc_signed(struct enc *e, const struct manifest *m)
{
        size_t i;

        enc_u8(e, m->version);
        enc_fixed(e, m->region_id, MANIFEST_ID_LEN);
        enc_fixed(e, m->file_id, MANIFEST_FILE_ID_LEN);
        enc_u8(e, m->kind);
        enc_fixed(e, m->author, MANIFEST_FILE_ID_LEN);
        enc_u64(e, m->lamport);
        enc_u32(e, (uint32_t)m->nvv);
        for (i = 0; i < m->nvv; i++) {
                enc_fixed(e, m->vv[i].device_id, MANIFEST_FILE_ID_LEN);
                enc_u64(e, m->vv[i].counter);
        }
        enc_u32(e, (uint32_t)m->nparents);
        for (i = 0; i < m->nparents; i++)
                enc_fixed(e, m->parents[i], MANIFEST_HASH_LEN);
        enc_fixed(e, m->epoch_id, MANIFEST_ID_LEN);
        enc_fixed(e, m->salt, 32);
        enc_fixed(e, m->key_commit, 32);
        enc_u32(e, m->block_size);
        enc_u64(e, m->size);
        enc_u32(e, (uint32_t)m->nrefs);
        for (i = 0; i < m->nrefs; i++) {
                enc_u64(e, m->refs[i].index);
                enc_fixed(e, m->refs[i].hash, MANIFEST_HASH_LEN);
                enc_u8(e, m->refs[i].final);
        }
        enc_var(e, m->meta, m->meta_len);
}

int manifest_encode_sealed(const struct manifest *m, const uint8_t sign_sk[static 64],
                           uint8_t **out, size_t *out_len)
{
        struct enc e;

        if (manifest_check(m) != 0)
                return -EINVAL;
        enc_init(&e);
        manifest_enc_signed(&e, m);
        /* Invariants 2-6 bound every part, so the decoder's limit holds (-EINVAL if not). */
        return sig_finish_enc(&e, sign_sk, MANIFEST_SIG_TYPE, MANIFEST_MAX_SIZE, out, out_len);
}

int manifest_encode_sign(const struct manifest *m, const struct manifest_meta *meta,
                         const uint8_t epoch_key[static 32], const uint8_t sign_sk[static 64],
                         uint8_t **out, size_t *out_len)
{
        struct manifest tmp;
        uint8_t commit[32];
        uint8_t *sealed = NULL;
        size_t sealed_len = 0;
        int rc;

        rc = manifest_key_commit(commit, epoch_key, m->file_id, m->salt);
        if (rc != 0)
                return rc;
        if (!secmem_equal(commit, m->key_commit, sizeof(commit)))
                return -EINVAL;
        rc = manifest_meta_seal(m, meta, epoch_key, &sealed, &sealed_len);
        if (rc != 0)
                return rc;
        tmp = *m;
        tmp.meta = sealed;
        tmp.meta_len = sealed_len;
        rc = manifest_encode_sealed(&tmp, sign_sk, out, out_len);
        free(sealed);
        return rc;
}

/* A list count, bounded by MAX and by the bytes left (each item >= ITEM bytes). */
static size_t manifest_dec_count(struct dec *d, size_t max, size_t item)
{
        size_t n = dec_u32(d);

        if (d->err == 0 && (n > max || n > (d->len - d->off) / item))
                d->err = -EBADMSG;
        return d->err == 0 ? n : 0;
}

int manifest_decode(const uint8_t *buf, size_t len, struct manifest *out)
{
        struct manifest t;
        const uint8_t *meta = NULL;
        size_t i, meta_len = 0;
        struct dec d;
        int rc = -EBADMSG;

        if (buf == NULL || len < MANIFEST_MIN_SIZE || len > MANIFEST_MAX_SIZE)
                return -EBADMSG;
        memset(&t, 0, sizeof(t));
        t.signed_len = len - MANIFEST_SIG_LEN;
        dec_init(&d, buf, t.signed_len);
        t.version = dec_u8(&d);
        dec_fixed(&d, t.region_id, MANIFEST_ID_LEN);
        dec_fixed(&d, t.file_id, MANIFEST_FILE_ID_LEN);
        t.kind = dec_u8(&d);
        dec_fixed(&d, t.author, MANIFEST_FILE_ID_LEN);
        t.lamport = dec_u64(&d);
        if (t.version != MANIFEST_VERSION)
                goto fail; /* a future version may differ from here on */

        t.nvv = manifest_dec_count(&d, MANIFEST_MAX_VV, MANIFEST_VV_ENTRY_LEN);
        if (d.err != 0)
                goto fail;
        if (t.nvv > 0 && (t.vv = calloc(t.nvv, sizeof(*t.vv))) == NULL)
                goto nomem;
        for (i = 0; i < t.nvv; i++) {
                dec_fixed(&d, t.vv[i].device_id, MANIFEST_FILE_ID_LEN);
                t.vv[i].counter = dec_u64(&d);
        }

        t.nparents = manifest_dec_count(&d, MANIFEST_MAX_PARENTS, MANIFEST_HASH_LEN);
        if (d.err != 0)
                goto fail;
        if (t.nparents > 0 && (t.parents = calloc(t.nparents, MANIFEST_HASH_LEN)) == NULL)
                goto nomem;
        for (i = 0; i < t.nparents; i++)
                dec_fixed(&d, t.parents[i], MANIFEST_HASH_LEN);

        dec_fixed(&d, t.epoch_id, MANIFEST_ID_LEN);
        dec_fixed(&d, t.salt, 32);
        dec_fixed(&d, t.key_commit, 32);
        t.block_size = dec_u32(&d);
        t.size = dec_u64(&d);

        t.nrefs = manifest_dec_count(&d, MANIFEST_MAX_REFS, MANIFEST_REF_LEN);
        if (d.err != 0)
                goto fail;
        if (t.nrefs > 0 && (t.refs = calloc(t.nrefs, sizeof(*t.refs))) == NULL)
                goto nomem;
        for (i = 0; i < t.nrefs; i++) {
                t.refs[i].index = dec_u64(&d);
                dec_fixed(&d, t.refs[i].hash, MANIFEST_HASH_LEN);
                t.refs[i].final = dec_u8(&d);
        }

        dec_var(&d, &meta, &meta_len, MANIFEST_META_OVERHEAD + MANIFEST_META_MAX);
        if (dec_finish(&d) != 0 || !manifest_meta_len_valid(meta_len))
                goto fail;
        t.meta = malloc(meta_len);
        if (t.meta == NULL)
                goto nomem;
        memcpy(t.meta, meta, meta_len);
        t.meta_len = meta_len;
        if (manifest_check(&t) != 0)
                goto fail;
        memcpy(t.sig, buf + t.signed_len, MANIFEST_SIG_LEN);
        hash_blake2b(t.hash, buf, len);
        *out = t;
        return 0;

nomem:
        rc = -ENOMEM;
fail:
        manifest_release(&t);
        return rc;
}

int manifest_verify_sig(const uint8_t *buf, size_t len, const struct manifest *m,
                        const uint8_t sign_pk[static 32])
{
        uint8_t h[MANIFEST_HASH_LEN];
        int rc;

        if (buf == NULL || len < MANIFEST_SIG_LEN || len != m->signed_len + MANIFEST_SIG_LEN)
                return -EBADMSG;
        hash_blake2b(h, buf, len);
        if (memcmp(h, m->hash, sizeof(h)) != 0)
                return -EBADMSG;
        rc = sig_verify(buf + m->signed_len, sign_pk, MANIFEST_SIG_TYPE, buf, m->signed_len);
        if (rc == -ENOMEM)
                return rc;
        return rc == 0 ? 0 : -EBADMSG;
}

void manifest_release(struct manifest *m)
{
        if (m == NULL)
                return;
        free(m->vv);
        free(m->parents);
        free(m->refs);
        free(m->meta);
        memset(m, 0, sizeof(*m));
}
