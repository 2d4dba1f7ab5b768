/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Membership-log entries: canonical encoding, strict decoding, GENESIS
 * verification.  See member.h and doc/FORMAT-keyring.md.
 */
#include "keyring/member.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/aead.h"
#include "crypto/block.h"
#include "crypto/enc.h"
#include "crypto/hash.h"
#include "crypto/kdf.h"
#include "crypto/secmem.h"
#include "crypto/sig.h"
#include "crypto/suite.h"

static const char member_wrap_domain[] = "sealsync/v1/wrap"; /* + its NUL */
static const char member_link_domain[] = "sealsync/v1/link"; /* + its NUL */

int member_name_valid(const char *s)
{
        size_t n = strnlen(s, MEMBER_NAME_MAX + 1);
        size_t i;

        if (n == 0 || n > MEMBER_NAME_MAX)
                return 0;
        for (i = 0; i < n; i++)
                if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
                        return 0;
        /* Leading/trailing blanks make names that look equal but are not. */
        return s[0] != ' ' && s[n - 1] != ' ';
}

static int member_role_valid(unsigned role)
{
        return role >= MEMBER_ROLE_READER && role <= MEMBER_ROLE_RECOVERY;
}

static int member_type_valid(unsigned type)
{
        return type >= MEMBER_GENESIS && type <= MEMBER_POLICY;
}

static int member_block_size_valid(uint32_t bs)
{
        return bs >= BLOCK_MIN_SIZE && bs <= BLOCK_MAX_SIZE && (bs & (bs - 1)) == 0;
}

int member_key_check(uint8_t out[static 32], const uint8_t epoch_key[static 32])
{
        return kdf_derive(out, 32, epoch_key, "key-check", NULL, 0);
}

int member_wrap_ctx(uint8_t out[static WRAP_CTX_LEN], const uint8_t region_id[static 32],
                    const uint8_t device_id[static IDENTITY_ID_LEN],
                    const uint8_t key_check[static 32])
{
        const struct hash_part parts[] = {
            {member_wrap_domain, sizeof(member_wrap_domain)}, /* includes the NUL */
            {region_id, 32},
            {device_id, IDENTITY_ID_LEN},
            {key_check, 32},
        };

        return hash_parts(out, WRAP_CTX_LEN, NULL, 0, parts, sizeof(parts) / sizeof(parts[0]));
}

const struct member_device *member_find(const struct member_genesis *g,
                                        const uint8_t device_id[static IDENTITY_ID_LEN])
{
        size_t i;

        for (i = 0; i < g->nmembers; i++)
                if (memcmp(g->members[i].device_id, device_id, IDENTITY_ID_LEN) == 0)
                        return &g->members[i];
        return NULL;
}

const struct member_wrap *member_find_wrap(const struct member_epoch *ep,
                                           const uint8_t device_id[static IDENTITY_ID_LEN])
{
        size_t i;

        for (i = 0; i < ep->nwraps; i++)
                if (memcmp(ep->wraps[i].device_id, device_id, IDENTITY_ID_LEN) == 0)
                        return &ep->wraps[i];
        return NULL;
}

void member_entry_free(struct member_entry *e)
{
        if (e == NULL)
                return;
        free(e->genesis.epoch.wraps);
        free(e->genesis.members);
        free(e->add.hist);
        free(e->body);
        free(e->raw);
        free(e->parents);
        free(e);
}

/* ---- structural invariants shared by encoder and decoder ---- */

static int member_check_envelope(const struct member_entry *e)
{
        if (e->version != MEMBER_VERSION || !member_type_valid(e->type))
                return -EBADMSG;
        if (e->nparents > MEMBER_MAX_PARENTS)
                return -EBADMSG;
        if (e->type == MEMBER_GENESIS) {
                if (e->height != 0 || e->nparents != 0)
                        return -EBADMSG;
        } else if (e->height == 0 || e->nparents == 0) {
                return -EBADMSG;
        }
        return 0;
}

static int member_check_device(const struct member_device *m)
{
        if (!member_role_valid(m->role) || !member_name_valid(m->owner) ||
            !member_name_valid(m->name))
                return -EBADMSG;
        return 0;
}

/* History wraps: bounded, strictly ascending by epoch id (one encoding per set). */
static int member_check_add(const struct member_add *a)
{
        size_t i;

        if (member_check_device(&a->device) != 0 || a->nhist > MEMBER_MAX_HIST ||
            (a->nhist > 0 && a->hist == NULL))
                return -EBADMSG;
        for (i = 1; i < a->nhist; i++)
                if (memcmp(a->hist[i - 1].epoch_id, a->hist[i].epoch_id, MEMBER_HASH_LEN) >= 0)
                        return -EBADMSG;
        return 0;
}

static int member_check_genesis(const struct member_genesis *g)
{
        size_t i;

        if (suite_nonce_len(g->suite) == 0 || !member_block_size_valid(g->block_size))
                return -EBADMSG;
        if (g->nmembers == 0 || g->nmembers > MEMBER_MAX_MEMBERS)
                return -EBADMSG;
        if (g->epoch.nwraps == 0 || g->epoch.nwraps > MEMBER_MAX_MEMBERS)
                return -EBADMSG;
        for (i = 0; i < g->nmembers; i++) {
                const struct member_device *m = &g->members[i];

                if (member_check_device(m) != 0)
                        return -EBADMSG;
                if (i > 0 &&
                    memcmp(g->members[i - 1].device_id, m->device_id, IDENTITY_ID_LEN) >= 0)
                        return -EBADMSG;
        }
        for (i = 1; i < g->epoch.nwraps; i++)
                if (memcmp(g->epoch.wraps[i - 1].device_id, g->epoch.wraps[i].device_id,
                           IDENTITY_ID_LEN) >= 0)
                        return -EBADMSG;
        return 0;
}

/* ---- encoding ---- */

static void member_enc_name(struct enc *e, const char *s)
{
        enc_var(e, s, strlen(s));
}

static void member_enc_device(struct enc *e, const struct member_device *m)
{
        enc_fixed(e, m->device_id, IDENTITY_ID_LEN);
        enc_fixed(e, m->sign_pk, 32);
        enc_fixed(e, m->box_pk, 32);
        member_enc_name(e, m->owner);
        member_enc_name(e, m->name);
        enc_u8(e, m->role);
}

static void member_enc_genesis(struct enc *e, const struct member_genesis *g)
{
        size_t i;

        enc_u8(e, g->suite);
        enc_u32(e, g->block_size);
        enc_u64(e, g->max_key_age);
        enc_u16(e, (uint16_t)g->nmembers);
        for (i = 0; i < g->nmembers; i++)
                member_enc_device(e, &g->members[i]);
        enc_fixed(e, g->epoch.key_check, 32);
        enc_u16(e, (uint16_t)g->epoch.nwraps);
        for (i = 0; i < g->epoch.nwraps; i++) {
                enc_fixed(e, g->epoch.wraps[i].device_id, IDENTITY_ID_LEN);
                enc_fixed(e, g->epoch.wraps[i].wrap, WRAP_LEN);
        }
}

static void member_enc_add(struct enc *e, const struct member_add *a)
{
        size_t i;

        member_enc_device(e, &a->device);
        enc_fixed(e, a->self_sig, MEMBER_SIG_LEN);
        enc_fixed(e, a->epoch_id, MEMBER_HASH_LEN);
        enc_fixed(e, a->wrap, WRAP_LEN);
        enc_u16(e, (uint16_t)a->nhist);
        for (i = 0; i < a->nhist; i++) {
                enc_fixed(e, a->hist[i].epoch_id, MEMBER_HASH_LEN);
                enc_fixed(e, a->hist[i].wrap, WRAP_LEN);
        }
}

/* The body of E, for types with a raw body: does it decode as its type's? */
static int member_check_raw_body(const struct member_entry *e)
{
        union {
                struct member_rotation rot;
                struct member_remove rm;
                struct member_set_role sr;
                struct member_policy po;
        } u;
        int rc;

        if (e->body == NULL || e->body_len == 0)
                return -EBADMSG;
        switch (e->type) {
        case MEMBER_ROTATE_KEY:
                rc = member_decode_rotation(e->body, e->body_len, &u.rot);
                if (rc == 0)
                        member_rotation_release(&u.rot);
                return rc;
        case MEMBER_REMOVE_DEVICE:
                rc = member_decode_remove(e->body, e->body_len, &u.rm);
                if (rc == 0)
                        member_rotation_release(&u.rm.rot);
                return rc;
        case MEMBER_SET_ROLE:
                return member_decode_set_role(e->body, e->body_len, &u.sr);
        case MEMBER_POLICY:
                return member_decode_policy(e->body, e->body_len, &u.po);
        }
        return -EBADMSG;
}

static int member_check_body(const struct member_entry *e)
{
        if (e->type == MEMBER_GENESIS)
                return member_check_genesis(&e->genesis);
        if (e->type == MEMBER_ADD_DEVICE)
                return member_check_add(&e->add);
        return member_check_raw_body(e);
}

int member_encode(struct member_entry *e, const uint8_t sign_sk[static 64], uint8_t **out,
                  size_t *out_len)
{
        struct enc body, obj;
        uint8_t sig[MEMBER_SIG_LEN];
        uint8_t hash[MEMBER_HASH_LEN];
        uint8_t *raw = NULL, *copy = NULL;
        size_t i, signed_len;
        int rc;

        if (member_check_envelope(e) != 0 || member_check_body(e) != 0)
                return -EINVAL;
        enc_init(&body);
        enc_init(&obj);
        if (e->type == MEMBER_GENESIS)
                member_enc_genesis(&body, &e->genesis);
        else if (e->type == MEMBER_ADD_DEVICE)
                member_enc_add(&body, &e->add);
        else
                enc_fixed(&body, e->body, e->body_len);
        rc = enc_error(&body);
        if (rc != 0)
                goto out_enc;
        if (body.len > MEMBER_MAX_ENTRY) {
                rc = -EINVAL;
                goto out_enc;
        }
        enc_u8(&obj, e->version);
        enc_u8(&obj, e->type);
        enc_fixed(&obj, e->region_id, 32);
        enc_u64(&obj, e->height);
        enc_u64(&obj, e->time);
        enc_u16(&obj, (uint16_t)e->nparents);
        for (i = 0; i < e->nparents; i++)
                enc_fixed(&obj, e->parents[i], MEMBER_HASH_LEN);
        enc_fixed(&obj, e->author, IDENTITY_ID_LEN);
        enc_var(&obj, body.buf, body.len);
        rc = enc_error(&obj);
        if (rc != 0)
                goto out_enc;
        signed_len = obj.len;
        rc = sig_sign(sig, sign_sk, MEMBER_SIG_TYPE, obj.buf, signed_len);
        if (rc != 0)
                goto out_enc;
        enc_fixed(&obj, sig, sizeof(sig));
        rc = enc_error(&obj);
        if (rc != 0)
                goto out_enc;
        if (obj.len > MEMBER_MAX_ENTRY) {
                rc = -EINVAL;
                goto out_enc;
        }
        raw = malloc(obj.len);
        copy = malloc(obj.len);
        if (raw == NULL || copy == NULL) {
                rc = -ENOMEM;
                goto out_free;
        }
        memcpy(raw, obj.buf, obj.len);
        memcpy(copy, obj.buf, obj.len);
        hash_blake2b(hash, raw, obj.len);

        free(e->raw);
        e->raw = raw;
        e->raw_len = obj.len;
        e->signed_len = signed_len;
        memcpy(e->sig, sig, sizeof(sig));
        memcpy(e->hash, hash, sizeof(hash));
        *out = copy;
        *out_len = obj.len;
        raw = copy = NULL;
out_free:
        free(copy);
        free(raw);
out_enc:
        enc_release(&obj);
        enc_release(&body);
        return rc;
}

/* ---- decoding ---- */

static void member_dec_name(struct dec *d, char out[static MEMBER_NAME_MAX + 1])
{
        const uint8_t *p = NULL;
        size_t n = 0;

        out[0] = '\0';
        dec_var(d, &p, &n, MEMBER_NAME_MAX);
        if (d->err != 0)
                return;
        memcpy(out, p, n);
        out[n] = '\0';
        /* An embedded NUL would shorten the string: member_name_valid sees the
         * shortened copy, so compare the lengths too. */
        if (strlen(out) != n)
                d->err = -EBADMSG;
}

static void member_dec_device(struct dec *d, struct member_device *m)
{
        dec_fixed(d, m->device_id, IDENTITY_ID_LEN);
        dec_fixed(d, m->sign_pk, 32);
        dec_fixed(d, m->box_pk, 32);
        member_dec_name(d, m->owner);
        member_dec_name(d, m->name);
        m->role = dec_u8(d);
}

/* Each count is checked against the bytes left before allocating. */
static int member_dec_count(struct dec *d, size_t *count, size_t max, size_t min_item)
{
        size_t n = dec_u16(d);

        if (d->err != 0)
                return -EBADMSG;
        if (n > max || n * min_item > d->len - d->off)
                return -EBADMSG;
        *count = n;
        return 0;
}

static int member_dec_genesis(const uint8_t *p, size_t len, struct member_genesis *g)
{
        /* device_id + 2 keys + two u32 lengths with >= 1 byte each + role */
        const size_t min_member = IDENTITY_ID_LEN + 64 + 4 + 1 + 4 + 1 + 1;
        const size_t min_wrap = IDENTITY_ID_LEN + WRAP_LEN;
        struct dec d;
        size_t i;

        dec_init(&d, p, len);
        g->suite = dec_u8(&d);
        g->block_size = dec_u32(&d);
        g->max_key_age = dec_u64(&d);
        if (member_dec_count(&d, &g->nmembers, MEMBER_MAX_MEMBERS, min_member) != 0)
                return -EBADMSG;
        g->members = calloc(g->nmembers > 0 ? g->nmembers : 1, sizeof(*g->members));
        if (g->members == NULL)
                return -ENOMEM;
        for (i = 0; i < g->nmembers && d.err == 0; i++)
                member_dec_device(&d, &g->members[i]);
        dec_fixed(&d, g->epoch.key_check, 32);
        if (member_dec_count(&d, &g->epoch.nwraps, MEMBER_MAX_MEMBERS, min_wrap) != 0)
                return -EBADMSG;
        g->epoch.wraps = calloc(g->epoch.nwraps > 0 ? g->epoch.nwraps : 1, sizeof(*g->epoch.wraps));
        if (g->epoch.wraps == NULL)
                return -ENOMEM;
        for (i = 0; i < g->epoch.nwraps; i++) {
                dec_fixed(&d, g->epoch.wraps[i].device_id, IDENTITY_ID_LEN);
                dec_fixed(&d, g->epoch.wraps[i].wrap, WRAP_LEN);
        }
        if (dec_finish(&d) != 0)
                return -EBADMSG;
        return member_check_genesis(g);
}

int member_decode(const uint8_t *buf, size_t len, struct member_entry **out)
{
        struct member_entry *e;
        const uint8_t *body = NULL;
        size_t body_len = 0, i;
        struct dec d;
        int rc = -EBADMSG;

        if (len > MEMBER_MAX_ENTRY || len < MEMBER_SIG_LEN)
                return -EBADMSG;
        e = calloc(1, sizeof(*e));
        if (e == NULL)
                return -ENOMEM;
        e->signed_len = len - MEMBER_SIG_LEN;
        dec_init(&d, buf, e->signed_len);
        e->version = dec_u8(&d);
        e->type = dec_u8(&d);
        dec_fixed(&d, e->region_id, 32);
        e->height = dec_u64(&d);
        e->time = dec_u64(&d);
        if (member_dec_count(&d, &e->nparents, MEMBER_MAX_PARENTS, MEMBER_HASH_LEN) != 0)
                goto fail;
        e->parents = calloc(e->nparents > 0 ? e->nparents : 1, MEMBER_HASH_LEN);
        if (e->parents == NULL) {
                rc = -ENOMEM;
                goto fail;
        }
        for (i = 0; i < e->nparents; i++)
                dec_fixed(&d, e->parents[i], MEMBER_HASH_LEN);
        dec_fixed(&d, e->author, IDENTITY_ID_LEN);
        dec_var(&d, &body, &body_len, MEMBER_MAX_ENTRY);
        if (dec_finish(&d) != 0 || member_check_envelope(e) != 0)
                goto fail;
        memcpy(e->sig, buf + e->signed_len, MEMBER_SIG_LEN);

        if (e->type == MEMBER_GENESIS) {
                rc = member_dec_genesis(body, body_len, &e->genesis);
                if (rc != 0)
                        goto fail;
        } else {
                e->body = malloc(body_len > 0 ? body_len : 1);
                if (e->body == NULL) {
                        rc = -ENOMEM;
                        goto fail;
                }
                memcpy(e->body, body, body_len);
                e->body_len = body_len;
        }
        e->raw = malloc(len);
        if (e->raw == NULL) {
                rc = -ENOMEM;
                goto fail;
        }
        memcpy(e->raw, buf, len);
        e->raw_len = len;
        hash_blake2b(e->hash, buf, len);
        *out = e;
        return 0;

fail:
        member_entry_free(e);
        return rc;
}

void member_add_release(struct member_add *a)
{
        if (a == NULL)
                return;
        free(a->hist);
        secmem_wipe(a, sizeof(*a));
}

/* ADD_DEVICE's history wraps (count bounded by the bytes left before allocating). */
static int member_dec_hist(struct dec *d, struct member_add *a)
{
        size_t i;

        if (member_dec_count(d, &a->nhist, MEMBER_MAX_HIST, MEMBER_HASH_LEN + WRAP_LEN) != 0)
                return -EBADMSG;
        if (a->nhist == 0)
                return 0;
        a->hist = calloc(a->nhist, sizeof(*a->hist));
        if (a->hist == NULL)
                return -ENOMEM;
        for (i = 0; i < a->nhist; i++) {
                dec_fixed(d, a->hist[i].epoch_id, MEMBER_HASH_LEN);
                dec_fixed(d, a->hist[i].wrap, WRAP_LEN);
        }
        return 0;
}

int member_decode_add(const uint8_t *body, size_t len, struct member_add *out)
{
        struct member_add a;
        struct dec d;
        int rc;

        memset(&a, 0, sizeof(a));
        dec_init(&d, body, len);
        member_dec_device(&d, &a.device);
        dec_fixed(&d, a.self_sig, MEMBER_SIG_LEN);
        dec_fixed(&d, a.epoch_id, MEMBER_HASH_LEN);
        dec_fixed(&d, a.wrap, WRAP_LEN);
        rc = member_dec_hist(&d, &a);
        if (rc == 0)
                rc = dec_finish(&d) != 0 ? -EBADMSG : member_check_add(&a);
        if (rc == 0) {
                *out = a; /* *OUT owns the history wraps now */
                secmem_wipe(&a, sizeof(a));
                return 0;
        }
        member_add_release(&a);
        return rc;
}

/* ---- verification ---- */

/* The statement a new device signs over its own record (member.h). */
static int member_self_statement(struct enc *en, const uint8_t region_id[static 32],
                                 const struct member_device *d)
{
        if (!member_name_valid(d->name))
                return -EINVAL;
        enc_fixed(en, region_id, 32);
        enc_fixed(en, d->device_id, IDENTITY_ID_LEN);
        enc_fixed(en, d->sign_pk, 32);
        enc_fixed(en, d->box_pk, 32);
        member_enc_name(en, d->name);
        return enc_error(en);
}

int member_self_sign(uint8_t sig[static MEMBER_SIG_LEN], const uint8_t sign_sk[static 64],
                     const uint8_t region_id[static 32], const struct member_device *d)
{
        struct enc en;
        int rc;

        enc_init(&en);
        rc = member_self_statement(&en, region_id, d);
        if (rc == 0)
                rc = sig_sign(sig, sign_sk, MEMBER_SELF_SIG_TYPE, en.buf, en.len);
        enc_release(&en);
        return rc;
}

int member_verify_self(const uint8_t sig[static MEMBER_SIG_LEN], const uint8_t region_id[static 32],
                       const struct member_device *d)
{
        struct enc en;
        int rc;

        enc_init(&en);
        rc = member_self_statement(&en, region_id, d);
        if (rc == 0)
                rc = sig_verify(sig, d->sign_pk, MEMBER_SELF_SIG_TYPE, en.buf, en.len);
        else if (rc == -EINVAL)
                rc = -EBADMSG;
        enc_release(&en);
        return rc == 0 ? 0 : rc == -ENOMEM ? -ENOMEM : -EBADMSG;
}

int member_verify_sig(const struct member_entry *e, const uint8_t sign_pk[static 32])
{
        if (e->raw == NULL || e->signed_len > e->raw_len)
                return -EBADMSG;
        return sig_verify(e->sig, sign_pk, MEMBER_SIG_TYPE, e->raw, e->signed_len) == 0 ? 0
                                                                                        : -EBADMSG;
}

int member_verify_genesis(const struct member_entry *e)
{
        const struct member_genesis *g = &e->genesis;
        const struct member_device *author;
        uint8_t id[IDENTITY_ID_LEN];
        size_t i;

        if (e->type != MEMBER_GENESIS || e->raw == NULL || e->signed_len > e->raw_len)
                return -EBADMSG;
        if (member_check_envelope(e) != 0 || member_check_genesis(g) != 0)
                return -EBADMSG;
        for (i = 0; i < g->nmembers; i++) {
                identity_device_id(g->members[i].sign_pk, g->members[i].box_pk, id);
                if (memcmp(id, g->members[i].device_id, IDENTITY_ID_LEN) != 0)
                        return -EBADMSG;
        }
        author = member_find(g, e->author);
        if (author == NULL || author->role != MEMBER_ROLE_ADMIN)
                return -EBADMSG;
        if (sig_verify(e->sig, author->sign_pk, MEMBER_SIG_TYPE, e->raw, e->signed_len) != 0)
                return -EBADMSG;
        /* Both lists are strictly ascending: equal lists mean one wrap each. */
        if (g->epoch.nwraps != g->nmembers)
                return -EBADMSG;
        for (i = 0; i < g->nmembers; i++)
                if (memcmp(g->epoch.wraps[i].device_id, g->members[i].device_id, IDENTITY_ID_LEN) !=
                    0)
                        return -EBADMSG;
        return 0;
}

/* ---- ROTATE_KEY, REMOVE_DEVICE, SET_ROLE and POLICY bodies ---- */

static void member_enc_rotation(struct enc *e, const struct member_rotation *r)
{
        size_t i;

        enc_fixed(e, r->key_check, 32);
        enc_fixed(e, r->prev_epoch_id, MEMBER_HASH_LEN);
        enc_u8(e, r->has_link ? MEMBER_ROT_HAS_LINK : 0);
        if (r->has_link)
                enc_fixed(e, r->link, MEMBER_LINK_LEN);
        enc_u16(e, (uint16_t)r->nwraps);
        for (i = 0; i < r->nwraps; i++) {
                enc_fixed(e, r->wraps[i].device_id, IDENTITY_ID_LEN);
                enc_fixed(e, r->wraps[i].wrap, WRAP_LEN);
        }
}

static int member_check_rotation(const struct member_rotation *r)
{
        size_t i;

        if (r->nwraps == 0 || r->nwraps > MEMBER_MAX_MEMBERS ||
            (r->has_link != 0 && r->has_link != 1))
                return -EBADMSG;
        for (i = 1; i < r->nwraps; i++)
                if (memcmp(r->wraps[i - 1].device_id, r->wraps[i].device_id, IDENTITY_ID_LEN) >= 0)
                        return -EBADMSG;
        return 0;
}

static int member_dec_rotation(struct dec *d, struct member_rotation *r)
{
        const size_t min_wrap = IDENTITY_ID_LEN + WRAP_LEN;
        uint8_t flags;
        size_t i;

        memset(r, 0, sizeof(*r));
        dec_fixed(d, r->key_check, 32);
        dec_fixed(d, r->prev_epoch_id, MEMBER_HASH_LEN);
        flags = dec_u8(d);
        if ((flags & ~MEMBER_ROT_HAS_LINK) != 0)
                return -EBADMSG; /* an unknown flag: a later format */
        r->has_link = (flags & MEMBER_ROT_HAS_LINK) != 0;
        if (r->has_link)
                dec_fixed(d, r->link, MEMBER_LINK_LEN);
        if (member_dec_count(d, &r->nwraps, MEMBER_MAX_MEMBERS, min_wrap) != 0)
                return -EBADMSG;
        r->wraps = calloc(r->nwraps > 0 ? r->nwraps : 1, sizeof(*r->wraps));
        if (r->wraps == NULL)
                return -ENOMEM;
        for (i = 0; i < r->nwraps; i++) {
                dec_fixed(d, r->wraps[i].device_id, IDENTITY_ID_LEN);
                dec_fixed(d, r->wraps[i].wrap, WRAP_LEN);
        }
        return 0;
}

void member_rotation_release(struct member_rotation *r)
{
        free(r->wraps);
        r->wraps = NULL;
        r->nwraps = 0;
}

int member_decode_rotation(const uint8_t *body, size_t len, struct member_rotation *out)
{
        struct member_rotation r;
        struct dec d;
        int rc;

        dec_init(&d, body, len);
        rc = member_dec_rotation(&d, &r);
        if (rc == 0)
                rc = dec_finish(&d) != 0 ? -EBADMSG : member_check_rotation(&r);
        if (rc != 0) {
                member_rotation_release(&r);
                return rc;
        }
        *out = r;
        return 0;
}

int member_decode_remove(const uint8_t *body, size_t len, struct member_remove *out)
{
        struct member_remove r;
        struct dec d;
        int rc;

        memset(&r, 0, sizeof(r));
        dec_init(&d, body, len);
        dec_fixed(&d, r.device_id, IDENTITY_ID_LEN);
        r.cutoff_seq = dec_u64(&d);
        dec_fixed(&d, r.cutoff_hash, 32);
        rc = member_dec_rotation(&d, &r.rot);
        if (rc == 0)
                rc = dec_finish(&d) != 0 ? -EBADMSG : member_check_rotation(&r.rot);
        if (rc != 0) {
                member_rotation_release(&r.rot);
                return rc;
        }
        *out = r;
        return 0;
}

/* 1 if the 32 bytes at H are all zero. */
static int member_zero32(const uint8_t h[static 32])
{
        uint8_t acc = 0;
        size_t i;

        for (i = 0; i < 32; i++)
                acc |= h[i];
        return acc == 0;
}

/* SET_ROLE's journal reference is canonical: seq 0 exactly with the zero hash. */
static int member_check_set_role(const struct member_set_role *r)
{
        if (r->role < MEMBER_ROLE_READER || r->role > MEMBER_ROLE_ADMIN)
                return -EBADMSG;
        if (r->has_journal && (r->journal_seq == 0) != member_zero32(r->journal_hash))
                return -EBADMSG;
        return 0;
}

int member_decode_set_role(const uint8_t *body, size_t len, struct member_set_role *out)
{
        struct member_set_role r;
        struct dec d;

        if (len != MEMBER_SET_ROLE_LEGACY_LEN && len != MEMBER_SET_ROLE_LEN)
                return -EBADMSG;
        memset(&r, 0, sizeof(r));
        dec_init(&d, body, len);
        dec_fixed(&d, r.device_id, IDENTITY_ID_LEN);
        r.role = dec_u8(&d);
        r.has_journal = len == MEMBER_SET_ROLE_LEN;
        if (r.has_journal) {
                r.journal_seq = dec_u64(&d);
                dec_fixed(&d, r.journal_hash, 32);
        }
        if (dec_finish(&d) != 0 || member_check_set_role(&r) != 0)
                return -EBADMSG;
        *out = r;
        return 0;
}

int member_decode_policy(const uint8_t *body, size_t len, struct member_policy *out)
{
        struct member_policy p;
        struct dec d;

        dec_init(&d, body, len);
        p.max_key_age = dec_u64(&d);
        p.history = dec_u8(&d);
        if (dec_finish(&d) != 0 || p.history > MEMBER_HISTORY_OWNER)
                return -EBADMSG;
        *out = p;
        return 0;
}

/* Hands the bytes of E to *OUT and *LEN. */
static int member_body_finish(struct enc *e, uint8_t **out, size_t *len)
{
        uint8_t *p = NULL;
        int rc = enc_error(e);

        if (rc == 0)
                p = malloc(e->len > 0 ? e->len : 1);
        if (rc == 0 && p == NULL)
                rc = -ENOMEM;
        if (rc == 0) {
                memcpy(p, e->buf, e->len);
                *out = p;
                *len = e->len;
        }
        enc_release(e);
        return rc;
}

int member_body_add(const struct member_add *a, uint8_t **out, size_t *len)
{
        struct enc e;

        if (member_check_add(a) != 0)
                return -EINVAL;
        enc_init(&e);
        member_enc_add(&e, a);
        return member_body_finish(&e, out, len);
}

int member_body_rotation(const struct member_rotation *r, uint8_t **out, size_t *len)
{
        struct enc e;

        if (member_check_rotation(r) != 0)
                return -EINVAL;
        enc_init(&e);
        member_enc_rotation(&e, r);
        return member_body_finish(&e, out, len);
}

int member_body_remove(const struct member_remove *r, uint8_t **out, size_t *len)
{
        struct enc e;

        if (member_check_rotation(&r->rot) != 0)
                return -EINVAL;
        enc_init(&e);
        enc_fixed(&e, r->device_id, IDENTITY_ID_LEN);
        enc_u64(&e, r->cutoff_seq);
        enc_fixed(&e, r->cutoff_hash, 32);
        member_enc_rotation(&e, &r->rot);
        return member_body_finish(&e, out, len);
}

int member_body_set_role(const struct member_set_role *r, uint8_t **out, size_t *len)
{
        struct enc e;

        if ((r->has_journal != 0 && r->has_journal != 1) || member_check_set_role(r) != 0)
                return -EINVAL;
        enc_init(&e);
        enc_fixed(&e, r->device_id, IDENTITY_ID_LEN);
        enc_u8(&e, r->role);
        if (r->has_journal) {
                enc_u64(&e, r->journal_seq);
                enc_fixed(&e, r->journal_hash, 32);
        }
        return member_body_finish(&e, out, len);
}

int member_body_policy(const struct member_policy *p, uint8_t **out, size_t *len)
{
        struct enc e;

        if (p->history > MEMBER_HISTORY_OWNER)
                return -EINVAL;
        enc_init(&e);
        enc_u64(&e, p->max_key_age);
        enc_u8(&e, p->history);
        return member_body_finish(&e, out, len);
}

/* ---- the key-history link ---- */

static int member_link_key(uint8_t kl[static 32],
                           uint8_t ad[static sizeof(member_link_domain) + 96],
                           const uint8_t new_key[static 32], const uint8_t region_id[static 32],
                           const uint8_t prev_epoch_id[static 32],
                           const uint8_t new_key_check[static 32])
{
        memcpy(ad, member_link_domain, sizeof(member_link_domain)); /* with its NUL */
        memcpy(ad + sizeof(member_link_domain), region_id, 32);
        memcpy(ad + sizeof(member_link_domain) + 32, prev_epoch_id, 32);
        memcpy(ad + sizeof(member_link_domain) + 64, new_key_check, 32);
        return kdf_derive(kl, 32, new_key, "link", prev_epoch_id, 32);
}

int member_link_seal(uint8_t link[static MEMBER_LINK_LEN], const uint8_t new_key[static 32],
                     const uint8_t region_id[static 32], const uint8_t prev_epoch_id[static 32],
                     const uint8_t new_key_check[static 32], const uint8_t prev_key[static 32])
{
        uint8_t ad[sizeof(member_link_domain) + 96];
        uint8_t *kl = secmem_alloc(32);
        int rc;

        if (kl == NULL)
                return -ENOMEM;
        rc = member_link_key(kl, ad, new_key, region_id, prev_epoch_id, new_key_check);
        if (rc == 0)
                rc = aead_seal(link, kl, ad, sizeof(ad), prev_key, 32);
        secmem_free(kl);
        return rc;
}

int member_link_open(uint8_t prev_key[static 32], const uint8_t link[static MEMBER_LINK_LEN],
                     const uint8_t new_key[static 32], const uint8_t region_id[static 32],
                     const uint8_t prev_epoch_id[static 32], const uint8_t new_key_check[static 32])
{
        uint8_t ad[sizeof(member_link_domain) + 96];
        uint8_t *kl = secmem_alloc(32), *tmp = secmem_alloc(32);
        int rc = -ENOMEM;

        if (kl != NULL && tmp != NULL) {
                rc = member_link_key(kl, ad, new_key, region_id, prev_epoch_id, new_key_check);
                if (rc == 0)
                        rc = aead_open(tmp, kl, ad, sizeof(ad), link, MEMBER_LINK_LEN);
                if (rc == 0)
                        memcpy(prev_key, tmp, 32);
        }
        secmem_free(tmp);
        secmem_free(kl);
        return rc;
}

void member_device_of(struct member_device *d, const struct identity *id, const char *owner,
                      uint8_t role)
{
        memset(d, 0, sizeof(*d));
        memcpy(d->device_id, id->device_id, IDENTITY_ID_LEN);
        memcpy(d->sign_pk, id->sign_pk, 32);
        memcpy(d->box_pk, id->box_pk, 32);
        snprintf(d->owner, sizeof(d->owner), "%s", owner);
        snprintf(d->name, sizeof(d->name), "%s", id->name);
        d->role = role;
}
