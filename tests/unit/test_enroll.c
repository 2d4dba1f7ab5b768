/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for enrollment (keyring/enroll.c) and the membership fold
 * (keyring/members.c): codes, request and reply MACs, invite expiry and
 * single use, the reverse signature, and the fold's refusals.  Run from the
 * repo root.  Identities have no passphrase (no Argon2id here).
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/secmem.h"
#include "crypto/sig.h"
#include "crypto/suite.h"
#include "crypto/wrap.h"
#include "keyring/enroll.h"
#include "keyring/identity.h"
#include "keyring/member.h"
#include "keyring/members.h"
#include "keyring/region.h"
#include "util/hex.h"
#include "util/log.h"

#define NOW 1800000000ull

struct fx {
        char dir[64];
        char home[4][PATH_MAX];
        struct identity *id[4]; /* A (creator, admin), B, C, D */
        struct region_info ri;
        uint8_t *genesis;
        size_t genesis_len;
        uint8_t *epoch_key; /* secmem */
        struct members_state *st;
};

static struct identity *mk_identity(const char *home, const char *name)
{
        struct identity *id = NULL;

        assert_int_equal(identity_create(home, name, NULL, KDF_INTERACTIVE), 0);
        assert_int_equal(identity_load(home, NULL, &id), 0);
        return id;
}

static int setup(void **state)
{
        static const char *names[4] = {"devA", "devB", "devC", "devD"};
        struct fx *f = calloc(1, sizeof(*f));
        size_t i;

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "%s", "/tmp/test_enroll.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        for (i = 0; i < 4; i++) {
                snprintf(f->home[i], sizeof(f->home[i]), "%s/%c", f->dir, (char)('a' + i));
                f->id[i] = mk_identity(f->home[i], names[i]);
        }
        assert_int_equal(region_build(f->id[0], f->home[0], "docs", "file:///tmp/x",
                                      suite_default(), 65536, &f->ri, &f->genesis, &f->genesis_len),
                         0);
        assert_int_equal(region_save(f->home[0], &f->ri, f->genesis, f->genesis_len), 0);
        assert_int_equal(region_load(f->home[0], "docs", &f->ri), 0);
        assert_int_equal(region_load_members(&f->ri, &f->st), 0);
        f->epoch_key = secmem_alloc(32);
        assert_non_null(f->epoch_key);
        assert_int_equal(members_unlock(f->st, f->id[0], f->epoch_key), 0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        char cmd[128];
        size_t i;

        for (i = 0; i < 4; i++)
                identity_free(f->id[i]);
        members_state_free(f->st);
        secmem_free(f->epoch_key);
        free(f->genesis);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static void device_of(const struct identity *id, const char *owner, uint8_t role,
                      struct member_device *d)
{
        member_device_of(d, id, owner, role);
}

/* Folds the pinned GENESIS with N objects. */
static struct members_state *fold(const struct fx *f, const struct members_obj *objs, size_t n)
{
        struct members_state *s = NULL;

        assert_int_equal(members_fold(f->genesis, f->genesis_len, f->ri.genesis_hash, objs, n, &s),
                         0);
        return s;
}

/*
 * An ADD_DEVICE built by hand (no policy checks): AUTHOR adds NEWID as
 * OWNER/ROLE on top of S (or on PARENT at HEIGHT), with a reverse signature
 * by NEWID unless BAD_SELF.
 */
static uint8_t *make_add(const struct fx *f, const struct members_state *s,
                         const struct identity *author, const struct identity *newid,
                         const char *owner, uint8_t role, const uint8_t *parent, uint64_t height,
                         int bad_self, size_t *len)
{
        struct member_entry e;
        uint8_t ctx[WRAP_CTX_LEN];
        uint8_t *out = NULL;

        memset(&e, 0, sizeof(e));
        e.version = MEMBER_VERSION;
        e.type = MEMBER_ADD_DEVICE;
        memcpy(e.region_id, s->region_id, 32);
        e.time = NOW;
        if (parent != NULL) {
                e.parents = calloc(1, MEMBER_HASH_LEN);
                assert_non_null(e.parents);
                memcpy(e.parents[0], parent, MEMBER_HASH_LEN);
                e.nparents = 1;
                e.height = height;
        } else {
                e.parents = calloc(s->nheads, MEMBER_HASH_LEN);
                assert_non_null(e.parents);
                memcpy(e.parents, s->heads, s->nheads * MEMBER_HASH_LEN);
                e.nparents = s->nheads;
                e.height = s->height + 1;
        }
        memcpy(e.author, author->device_id, IDENTITY_ID_LEN);
        device_of(newid, owner, role, &e.add.device);
        assert_int_equal(member_self_sign(e.add.self_sig,
                                          bad_self ? author->sign_sk : newid->sign_sk, s->region_id,
                                          &e.add.device),
                         0);
        memcpy(e.add.epoch_id, s->epoch_id, 32);
        assert_int_equal(member_wrap_ctx(ctx, s->region_id, newid->device_id, s->key_check), 0);
        assert_int_equal(wrap_seal(e.add.wrap, f->epoch_key, ctx, newid->box_pk), 0);
        assert_int_equal(member_encode(&e, author->sign_sk, &out, len), 0);
        free(e.raw);
        free(e.parents);
        return out;
}

/* S + the proper ADD of B (writer, A's owner) by A: the state and the object. */
static struct members_state *add_b(struct fx *f, uint8_t **obj, size_t *len)
{
        struct member_device d;
        uint8_t self_sig[64];
        struct members_obj o;

        device_of(f->id[1], f->id[0]->name, MEMBER_ROLE_WRITER, &d);
        assert_int_equal(member_self_sign(self_sig, f->id[1]->sign_sk, f->ri.id, &d), 0);
        assert_int_equal(members_build_add(f->st, f->id[0], &d, self_sig, f->epoch_key, NULL, 0,
                                           NOW, obj, len, NULL),
                         0);
        o.name = NULL;
        o.buf = *obj;
        o.len = *len;
        return fold(f, &o, 1);
}

/* ---- codes ---- */

static void test_code(void **state)
{
        struct fx *f = *state;
        uint8_t s[ENROLL_SECRET_LEN], s2[ENROLL_SECRET_LEN], other[32];
        char code[ENROLL_CODE_MAX], bad[ENROLL_CODE_MAX + 16], *last;
        uint16_t check = 0;

        secmem_random(s, sizeof(s));
        assert_int_equal(enroll_code_encode(code, sizeof(code), s, f->ri.id, f->ri.genesis_hash),
                         0);
        assert_int_equal(enroll_code_decode(s2, &check, code), 0);
        assert_memory_equal(s, s2, sizeof(s));
        assert_true(enroll_code_matches(s2, check, f->ri.id, f->ri.genesis_hash));
        /* Another region or GENESIS: the check bits do not match. */
        memcpy(other, f->ri.genesis_hash, 32);
        other[0] ^= 1;
        assert_false(enroll_code_matches(s2, check, f->ri.id, other));
        assert_false(enroll_code_matches(s2, check, other, f->ri.genesis_hash));
        /* The last word carries only check bits: replacing it is always detected. */
        snprintf(bad, sizeof(bad), "%s", code);
        last = strrchr(bad, ' ');
        assert_non_null(last);
        snprintf(last + 1, sizeof(bad) - (size_t)(last + 1 - bad), "%s",
                 strcmp(last + 1, "zoo") == 0 ? "abandon" : "zoo");
        assert_int_equal(enroll_code_decode(s2, &check, bad), 0);
        assert_false(enroll_code_matches(s2, check, f->ri.id, f->ri.genesis_hash));
        /* Unknown words and wrong counts. */
        assert_int_equal(enroll_code_decode(s2, &check, "abandon ability"), -EINVAL);
        snprintf(bad, sizeof(bad), "%s xylophonex", code);
        assert_int_equal(enroll_code_decode(s2, &check, bad), -EINVAL);
        snprintf(bad, sizeof(bad), "%s zoo", code);
        assert_int_equal(enroll_code_decode(s2, &check, bad), -EINVAL);
}

/* ---- requests and replies ---- */

static void build_request(struct fx *f, const uint8_t *s, struct enroll_request *r)
{
        uint8_t nonce[ENROLL_NONCE_LEN];

        secmem_random(nonce, sizeof(nonce));
        assert_int_equal(
            enroll_request_build(f->id[1], f->ri.id, f->ri.genesis_hash, s, nonce, NOW, r), 0);
}

/* Re-signs R's bytes (after a change) with ID's key, as an attacker with its own key would. */
static void resign(struct enroll_request *r, const struct identity *id)
{
        assert_int_equal(
            sig_sign(r->raw + r->raw_len - 64, id->sign_sk, "join", r->raw, r->raw_len - 64), 0);
}

static void test_request_mac(void **state)
{
        struct fx *f = *state;
        struct enroll_request r, d;
        uint8_t s[ENROLL_SECRET_LEN], wrong[ENROLL_SECRET_LEN];
        size_t i;

        secmem_random(s, sizeof(s));
        memcpy(wrong, s, sizeof(s));
        wrong[5] ^= 0x40;
        build_request(f, s, &r);
        assert_int_equal(enroll_request_decode(r.raw, r.raw_len, &d), 0);
        assert_int_equal(d.raw_len, r.raw_len);
        assert_string_equal(d.device.name, "devB");
        assert_int_equal(enroll_request_verify(&d), 0);
        assert_int_equal(enroll_request_verify_mac(&d, s), 0);
        assert_int_equal(enroll_request_verify_mac(&d, wrong), -EKEYREJECTED);

        /* Every truncation and one trailing byte are malformed. */
        for (i = 0; i < r.raw_len; i++)
                assert_int_equal(enroll_request_decode(r.raw, i, &d), -EBADMSG);
        assert_int_equal(enroll_request_decode(r.raw, r.raw_len + 1, &d), -EBADMSG);

        /* Any changed byte breaks the self-signature (or the structure). */
        for (i = 0; i < r.raw_len; i += 7) {
                struct enroll_request t = r;

                t.raw[i] ^= 0x01;
                if (enroll_request_decode(t.raw, t.raw_len, &d) == 0)
                        assert_int_equal(enroll_request_verify(&d), -EBADMSG);
        }

        /* Re-signed after a change of the name: the MAC catches it. */
        {
                struct enroll_request t = r;
                size_t name_off = 1 + 32 + 32 + 32 + 16 + 8 + 16 + 32 + 32 + 4;

                t.raw[name_off] = 'X';
                resign(&t, f->id[1]);
                assert_int_equal(enroll_request_decode(t.raw, t.raw_len, &d), 0);
                /* The reverse signature covers the name too. */
                assert_int_equal(enroll_request_verify(&d), -EBADMSG);
                assert_int_equal(enroll_request_verify_mac(&d, s), -EKEYREJECTED);
        }
}

static void test_reply(void **state)
{
        struct fx *f = *state;
        struct enroll_request r, r2;
        uint8_t s[ENROLL_SECRET_LEN], wrong[ENROLL_SECRET_LEN];
        uint8_t reply[ENROLL_REPLY_LEN], hash[32], got[32];
        uint64_t height = 0;

        secmem_random(s, sizeof(s));
        memcpy(wrong, s, sizeof(s));
        wrong[0] ^= 1;
        secmem_random(hash, sizeof(hash));
        build_request(f, s, &r);
        assert_int_equal(enroll_reply_build(reply, &r, s, hash, 7), 0);
        assert_int_equal(enroll_reply_open(reply, sizeof(reply), &r, s, got, &height), 0);
        assert_memory_equal(got, hash, 32);
        assert_int_equal(height, 7);
        /* Not from a holder of the code. */
        assert_int_equal(enroll_reply_open(reply, sizeof(reply), &r, wrong, got, &height),
                         -EKEYREJECTED);
        /* Bound to the request's keys: same nonce, other keys. */
        r2 = r;
        memcpy(r2.device.box_pk, f->id[2]->box_pk, 32);
        assert_int_equal(enroll_reply_open(reply, sizeof(reply), &r2, s, got, &height),
                         -EKEYREJECTED);
        /* A changed ADD hash. */
        reply[1 + 32 + 16 + 8] ^= 1;
        assert_int_equal(enroll_reply_open(reply, sizeof(reply), &r, s, got, &height),
                         -EKEYREJECTED);
        reply[1 + 32 + 16 + 8] ^= 1;
        /* Malformed: length, another nonce. */
        assert_int_equal(enroll_reply_open(reply, sizeof(reply) - 1, &r, s, got, &height),
                         -EBADMSG);
        reply[40] ^= 1;
        assert_int_equal(enroll_reply_open(reply, sizeof(reply), &r, s, got, &height), -EBADMSG);
}

/* ---- invites ---- */

/* Creates an invite by A and returns its secret (from the code). */
static void new_invite(struct fx *f, uint64_t now, uint64_t expires, uint8_t s[static 16])
{
        char code[ENROLL_CODE_MAX];
        uint8_t id[ENROLL_ID_LEN];
        uint16_t check = 0;

        assert_int_equal(enroll_invite_create(f->ri.dir, f->id[0]->local_key, f->ri.id,
                                              f->ri.genesis_hash, now, expires, MEMBER_ROLE_WRITER,
                                              "devA", code, sizeof(code), id),
                         0);
        assert_int_equal(enroll_code_decode(s, &check, code), 0);
        assert_true(enroll_code_matches(s, check, f->ri.id, f->ri.genesis_hash));
}

static void test_invite_expired(void **state)
{
        struct fx *f = *state;
        struct enroll_invite *inv = NULL;
        struct enroll_request r;
        uint8_t s[ENROLL_SECRET_LEN], id[ENROLL_ID_LEN];
        char code[ENROLL_CODE_MAX];

        new_invite(f, NOW, NOW + 60, s);
        build_request(f, s, &r);
        assert_int_equal(enroll_request_check(f->ri.dir, f->id[0]->local_key, &r, NOW + 60, &inv),
                         -ETIME);
        assert_null(inv);
        assert_int_equal(enroll_request_check(f->ri.dir, f->id[0]->local_key, &r, NOW + 59, &inv),
                         0);
        assert_non_null(inv);
        assert_int_equal(inv->role, MEMBER_ROLE_WRITER);
        enroll_invite_free(inv);
        /* Lifetimes outside (0, 30 days] are refused. */
        assert_int_equal(enroll_invite_create(f->ri.dir, f->id[0]->local_key, f->ri.id,
                                              f->ri.genesis_hash, NOW, NOW, MEMBER_ROLE_WRITER,
                                              "devA", code, sizeof(code), id),
                         -EINVAL);
        assert_int_equal(enroll_invite_create(f->ri.dir, f->id[0]->local_key, f->ri.id,
                                              f->ri.genesis_hash, NOW,
                                              NOW + ENROLL_MAX_LIFETIME + 1, MEMBER_ROLE_WRITER,
                                              "devA", code, sizeof(code), id),
                         -EINVAL);
}

static void test_invite_single_use(void **state)
{
        struct fx *f = *state;
        struct enroll_invite *inv = NULL;
        struct enroll_request r;
        uint8_t s[ENROLL_SECRET_LEN];

        new_invite(f, NOW, NOW + 3600, s);
        build_request(f, s, &r);
        assert_int_equal(enroll_request_check(f->ri.dir, f->id[0]->local_key, &r, NOW, &inv), 0);
        assert_int_equal(enroll_invite_burn(f->ri.dir, inv, ENROLL_INVITE_USED), 0);
        assert_null(inv->secret);
        enroll_invite_free(inv);
        inv = NULL;
        assert_int_equal(enroll_request_check(f->ri.dir, f->id[0]->local_key, &r, NOW, &inv),
                         -EALREADY);
        /* The record keeps no secret any more. */
        assert_int_equal(
            enroll_invite_load(f->ri.dir, f->id[0]->local_key, f->ri.id, r.invite_id, &inv), 0);
        assert_int_equal(inv->state, ENROLL_INVITE_USED);
        assert_null(inv->secret);
        enroll_invite_free(inv);
        /* Another device's key cannot open an invite record. */
        new_invite(f, NOW, NOW + 3600, s);
        build_request(f, s, &r);
        inv = NULL;
        assert_int_equal(
            enroll_invite_load(f->ri.dir, f->id[1]->local_key, f->ri.id, r.invite_id, &inv),
            -EBADMSG);
        assert_null(inv);
}

/* A wrong code (same invite id, MAC under another secret) is refused and voids the invite. */
static void test_wrong_code_voids(void **state)
{
        struct fx *f = *state;
        struct enroll_invite *inv = NULL;
        struct enroll_request good, forged, d;
        uint8_t s[ENROLL_SECRET_LEN], wrong[ENROLL_SECRET_LEN], nonce[ENROLL_NONCE_LEN];

        new_invite(f, NOW, NOW + 3600, s);
        build_request(f, s, &good);
        /* An attacker (C) who saw the invite id but not the code. */
        memcpy(wrong, s, sizeof(s));
        wrong[15] ^= 0x80;
        secmem_random(nonce, sizeof(nonce));
        assert_int_equal(enroll_request_build(f->id[2], f->ri.id, f->ri.genesis_hash, wrong, nonce,
                                              NOW, &forged),
                         0);
        memcpy(forged.raw + 1 + 32 + 32, good.invite_id, ENROLL_ID_LEN);
        resign(&forged, f->id[2]);
        assert_int_equal(enroll_request_decode(forged.raw, forged.raw_len, &d), 0);
        assert_int_equal(enroll_request_verify(&d), 0);
        assert_int_equal(enroll_request_check(f->ri.dir, f->id[0]->local_key, &d, NOW, &inv),
                         -EKEYREJECTED);
        assert_null(inv);
        /* The first MAC failure voided the invite: the genuine request is refused now. */
        assert_int_equal(enroll_request_check(f->ri.dir, f->id[0]->local_key, &good, NOW, &inv),
                         -ECANCELED);
        /* A request for an invite that does not exist. */
        secmem_random(wrong, sizeof(wrong));
        build_request(f, wrong, &d);
        assert_int_equal(enroll_request_check(f->ri.dir, f->id[0]->local_key, &d, NOW, &inv),
                         -ENOENT);
        assert_string_equal(enroll_status_name(-ECANCELED), "void");
        assert_string_equal(enroll_status_name(-EKEYREJECTED), "bad-mac");
}

/* ---- owners, offers and pairing words (issue #4) ---- */

/* An invite for another user's device keeps owner and role, used or not; its header is the AD. */
static void test_invite_owner(void **state)
{
        struct fx *f = *state;
        struct enroll_invite *inv = NULL;
        char code[ENROLL_CODE_MAX], path[PATH_MAX + 80], hex[2 * ENROLL_ID_LEN + 1];
        uint8_t id[ENROLL_ID_LEN], *buf;
        FILE *fp;
        long len;

        assert_int_equal(enroll_invite_create(f->ri.dir, f->id[0]->local_key, f->ri.id,
                                              f->ri.genesis_hash, NOW, NOW + 60, MEMBER_ROLE_READER,
                                              " carol", code, sizeof(code), id),
                         -EINVAL);
        assert_int_equal(enroll_invite_create(f->ri.dir, f->id[0]->local_key, f->ri.id,
                                              f->ri.genesis_hash, NOW, NOW + 60, MEMBER_ROLE_READER,
                                              "carol", code, sizeof(code), id),
                         0);
        assert_int_equal(enroll_invite_load(f->ri.dir, f->id[0]->local_key, f->ri.id, id, &inv), 0);
        assert_string_equal(inv->owner, "carol");
        assert_int_equal(inv->role, MEMBER_ROLE_READER);
        assert_int_equal(enroll_invite_burn(f->ri.dir, inv, ENROLL_INVITE_USED), 0);
        enroll_invite_free(inv);
        inv = NULL;
        assert_int_equal(enroll_invite_load(f->ri.dir, f->id[0]->local_key, f->ri.id, id, &inv), 0);
        assert_string_equal(inv->owner, "carol");
        enroll_invite_free(inv);
        inv = NULL;
        /* An open record whose owner was changed on disk does not open. */
        assert_int_equal(enroll_invite_create(f->ri.dir, f->id[0]->local_key, f->ri.id,
                                              f->ri.genesis_hash, NOW, NOW + 60, MEMBER_ROLE_READER,
                                              "carol", code, sizeof(code), id),
                         0);
        hex_encode(hex, id, ENROLL_ID_LEN);
        snprintf(path, sizeof(path), "%s/invites/%s", f->ri.dir, hex);
        fp = fopen(path, "r+b");
        assert_non_null(fp);
        assert_int_equal(fseek(fp, 0, SEEK_END), 0);
        len = ftell(fp);
        assert_int_equal(len, 103 + 5 + 56); /* header 103 + owner, sealed 56 */
        buf = malloc((size_t)len);
        assert_non_null(buf);
        rewind(fp);
        assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
        buf[103] = 'k'; /* "carol" -> "karol" */
        rewind(fp);
        assert_int_equal(fwrite(buf, 1, (size_t)len, fp), (size_t)len);
        assert_int_equal(fclose(fp), 0);
        free(buf);
        assert_int_equal(enroll_invite_load(f->ri.dir, f->id[0]->local_key, f->ri.id, id, &inv),
                         -EBADMSG);
        assert_null(inv);
}

static void mk_offer(struct fx *f, struct enroll_offer *o, const char *owner, uint8_t role)
{
        struct enroll_offer fields;

        memset(&fields, 0, sizeof(fields));
        memcpy(fields.region_id, f->ri.id, 32);
        memset(fields.invite_id, 0x5a, ENROLL_ID_LEN);
        fields.expires = NOW + 60;
        memcpy(fields.approver, f->id[0]->device_id, IDENTITY_ID_LEN);
        fields.role = role;
        snprintf(fields.owner, sizeof(fields.owner), "%s", owner);
        assert_int_equal(enroll_offer_build(f->id[0], &fields, o), 0);
}

static void test_offer(void **state)
{
        struct fx *f = *state;
        const struct member_device *a = members_find(f->st, f->id[0]->device_id);
        struct member_device other = *a;
        struct enroll_offer o, d, fields;
        uint8_t buf[ENROLL_OFFER_MAX + 1];
        size_t i;
        int bit;

        mk_offer(f, &o, "bob", MEMBER_ROLE_WRITER);
        assert_int_equal(o.raw_len, 158 + 3);
        assert_int_equal(enroll_offer_decode(o.raw, o.raw_len, &d), 0);
        assert_string_equal(d.owner, "bob");
        assert_int_equal(d.role, MEMBER_ROLE_WRITER);
        assert_int_equal(d.expires, NOW + 60);
        assert_int_equal(enroll_offer_verify(&d, a), 0);
        /* Another device's key, or another approver named: refused. */
        memcpy(other.sign_pk, f->id[1]->sign_pk, 32);
        assert_int_equal(enroll_offer_verify(&d, &other), -EBADMSG);
        memcpy(other.device_id, f->id[1]->device_id, IDENTITY_ID_LEN);
        assert_int_equal(enroll_offer_verify(&d, &other), -EBADMSG);
        /* Every flipped bit fails to decode or to verify; truncations and a trailing byte are
         * malformed. */
        for (i = 0; i < o.raw_len; i++)
                for (bit = 0; bit < 8; bit++) {
                        memcpy(buf, o.raw, o.raw_len);
                        buf[i] ^= (uint8_t)(1u << bit);
                        if (enroll_offer_decode(buf, o.raw_len, &d) == 0)
                                assert_int_equal(enroll_offer_verify(&d, a), -EBADMSG);
                }
        for (i = 0; i < o.raw_len; i++)
                assert_int_equal(enroll_offer_decode(o.raw, i, &d), -EBADMSG);
        memcpy(buf, o.raw, o.raw_len);
        buf[o.raw_len] = 0;
        assert_int_equal(enroll_offer_decode(buf, o.raw_len + 1, &d), -EBADMSG);
        /* Only the approver signs its offers; no recovery role, no bad owner. */
        fields = o;
        memcpy(fields.approver, f->id[1]->device_id, IDENTITY_ID_LEN);
        assert_int_equal(enroll_offer_build(f->id[0], &fields, &d), -EINVAL);
        fields = o;
        fields.role = MEMBER_ROLE_RECOVERY;
        assert_int_equal(enroll_offer_build(f->id[0], &fields, &d), -EINVAL);
        fields = o;
        snprintf(fields.owner, sizeof(fields.owner), "%s", "bob ");
        assert_int_equal(enroll_offer_build(f->id[0], &fields, &d), -EINVAL);
}

static void test_pairing_words(void **state)
{
        struct fx *f = *state;
        const struct member_device *a = members_find(f->st, f->id[0]->device_id);
        struct member_device b;
        uint8_t inv[ENROLL_ID_LEN];
        char w1[ENROLL_PAIRING_MAX], w2[ENROLL_PAIRING_MAX];
        size_t i, n = 1;

        memset(&b, 0, sizeof(b));
        memcpy(b.device_id, f->id[1]->device_id, IDENTITY_ID_LEN);
        memcpy(b.sign_pk, f->id[1]->sign_pk, 32);
        memcpy(b.box_pk, f->id[1]->box_pk, 32);
        memset(inv, 7, sizeof(inv));
        assert_int_equal(
            enroll_pairing_words(w1, sizeof(w1), f->ri.id, inv, a, &b, "bob", MEMBER_ROLE_WRITER),
            0);
        for (i = 0; w1[i] != '\0'; i++)
                n += w1[i] == ' ';
        assert_int_equal(n, ENROLL_PAIRING_WORDS);
        /* The device name is not covered (the keys are); everything else is. */
        snprintf(b.name, sizeof(b.name), "%s", "renamed");
        assert_int_equal(
            enroll_pairing_words(w2, sizeof(w2), f->ri.id, inv, a, &b, "bob", MEMBER_ROLE_WRITER),
            0);
        assert_string_equal(w1, w2);
        assert_int_equal(
            enroll_pairing_words(w2, sizeof(w2), f->ri.id, inv, a, &b, "bob", MEMBER_ROLE_READER),
            0);
        assert_string_not_equal(w1, w2);
        assert_int_equal(
            enroll_pairing_words(w2, sizeof(w2), f->ri.id, inv, a, &b, "bob2", MEMBER_ROLE_WRITER),
            0);
        assert_string_not_equal(w1, w2);
        assert_int_equal(
            enroll_pairing_words(w2, sizeof(w2), f->ri.id, inv, &b, a, "bob", MEMBER_ROLE_WRITER),
            0);
        assert_string_not_equal(w1, w2);
        inv[0] ^= 1;
        assert_int_equal(
            enroll_pairing_words(w2, sizeof(w2), f->ri.id, inv, a, &b, "bob", MEMBER_ROLE_WRITER),
            0);
        assert_string_not_equal(w1, w2);
}

/* ---- the fold ---- */

static void test_fold_add(void **state)
{
        struct fx *f = *state;
        struct members_state *s;
        struct region_keys *kb = NULL;
        struct region_info rb;
        uint8_t *obj = NULL, key[32];
        size_t len = 0;

        s = add_b(f, &obj, &len);
        assert_int_equal(s->alarm, MEMBERS_OK);
        assert_int_equal(s->nmembers, 2);
        assert_int_equal(s->nentries, 2);
        assert_int_equal(s->height, 1);
        assert_int_equal(s->nheads, 1);
        assert_non_null(members_find(s, f->id[1]->device_id));
        assert_int_equal(members_find(s, f->id[1]->device_id)->role, MEMBER_ROLE_WRITER);
        assert_int_equal(members_added_by(s, f->id[1]->device_id)->type, MEMBER_ADD_DEVICE);
        /* B unwraps the same epoch key; D cannot. */
        assert_int_equal(members_unlock(s, f->id[1], key), 0);
        assert_memory_equal(key, f->epoch_key, 32);
        assert_int_equal(members_unlock(s, f->id[3], key), -EACCES);

        /* B records the region with the verified entries; its region_unlock works. */
        rb = f->ri;
        assert_int_equal(region_save_joined(f->home[1], &rb, f->genesis, f->genesis_len, s), 0);
        assert_int_equal(region_load(f->home[1], "docs", &rb), 0);
        assert_int_equal(region_unlock(f->id[1], &rb, &kb), 0);
        assert_memory_equal(kb->epoch_key, f->epoch_key, 32);
        assert_memory_equal(kb->epoch_id, f->ri.genesis_hash, 32);
        region_keys_free(kb);
        kb = NULL;
        /* A's region (no cache entry for B yet) still unlocks for A, not for B. */
        assert_int_equal(region_unlock(f->id[1], &f->ri, &kb), -EACCES);

        /* Adding B twice is refused by the builder. */
        {
                struct member_device d;
                uint8_t ss[64], *o2 = NULL;
                size_t l2 = 0;

                device_of(f->id[1], "devA", MEMBER_ROLE_WRITER, &d);
                assert_int_equal(member_self_sign(ss, f->id[1]->sign_sk, f->ri.id, &d), 0);
                assert_int_equal(members_build_add(s, f->id[0], &d, ss, f->epoch_key, NULL, 0, NOW,
                                                   &o2, &l2, NULL),
                                 -EEXIST);
        }
        members_state_free(s);
        free(obj);
}

static void test_fold_unauthorised(void **state)
{
        struct fx *f = *state;
        struct members_state *s;
        struct members_obj o[2];
        struct member_device d;
        uint8_t *b = NULL, *c = NULL, ss[64], *x = NULL;
        size_t bl = 0, cl = 0, xl = 0;

        s = add_b(f, &b, &bl); /* B: writer, owner devA */
        /* The builder refuses: B (writer) adding C for another owner, or as admin. */
        device_of(f->id[2], "mallory", MEMBER_ROLE_WRITER, &d);
        assert_int_equal(member_self_sign(ss, f->id[2]->sign_sk, f->ri.id, &d), 0);
        assert_int_equal(
            members_build_add(s, f->id[1], &d, ss, f->epoch_key, NULL, 0, NOW, &x, &xl, NULL),
            -EPERM);
        device_of(f->id[2], "devA", MEMBER_ROLE_ADMIN, &d);
        assert_int_equal(member_self_sign(ss, f->id[2]->sign_sk, f->ri.id, &d), 0);
        assert_int_equal(
            members_build_add(s, f->id[1], &d, ss, f->epoch_key, NULL, 0, NOW, &x, &xl, NULL),
            -EPERM);
        /* Built by hand, the fold stops at it. */
        c = make_add(f, s, f->id[1], f->id[2], "mallory", MEMBER_ROLE_WRITER, NULL, 0, 0, &cl);
        o[0] = (struct members_obj){NULL, b, bl};
        o[1] = (struct members_obj){NULL, c, cl};
        members_state_free(s);
        s = fold(f, o, 2);
        assert_int_equal(s->alarm, MEMBERS_UNAUTHORISED);
        assert_null(members_find(s, f->id[2]->device_id));
        assert_int_equal(s->nmembers, 2);
        members_state_free(s);
        free(c);
        /* A writer may add its owner's device as a writer. */
        s = fold(f, o, 1);
        c = make_add(f, s, f->id[1], f->id[2], "devA", MEMBER_ROLE_WRITER, NULL, 0, 0, &cl);
        o[1].buf = c;
        o[1].len = cl;
        members_state_free(s);
        s = fold(f, o, 2);
        assert_int_equal(s->alarm, MEMBERS_OK);
        assert_non_null(members_find(s, f->id[2]->device_id));
        members_state_free(s);
        free(c);
        free(b);
}

static void test_fold_forged_signature(void **state)
{
        struct fx *f = *state;
        struct members_state *s;
        struct members_obj o;
        uint8_t *b = NULL;
        size_t bl = 0;

        b = make_add(f, f->st, f->id[0], f->id[1], "devA", MEMBER_ROLE_WRITER, NULL, 0, 0, &bl);
        b[bl - 1] ^= 0x01; /* the signature */
        o = (struct members_obj){NULL, b, bl};
        s = fold(f, &o, 1);
        /* Badly signed: store junk, skipped, B not added. */
        assert_int_equal(s->alarm, MEMBERS_OK);
        assert_int_equal(s->nskipped, 1);
        assert_int_equal(s->nskips, 1);
        assert_string_equal(s->skips[0].name, "(unnamed)");
        assert_string_equal(s->skips[0].why, "bad signature");
        assert_null(members_find(s, f->id[1]->device_id));
        members_state_free(s);
        /* Signed by a key that is no member's (D claims to be A: same author id). */
        free(b);
        b = make_add(f, f->st, f->id[0], f->id[1], "devA", MEMBER_ROLE_WRITER, NULL, 0, 0, &bl);
        {
                struct member_entry *e = NULL;

                assert_int_equal(member_decode(b, bl, &e), 0);
                assert_int_equal(
                    sig_sign(b + e->signed_len, f->id[3]->sign_sk, "member", b, e->signed_len), 0);
                member_entry_free(e);
        }
        o = (struct members_obj){NULL, b, bl};
        s = fold(f, &o, 1);
        assert_int_equal(s->nskipped, 1);
        assert_null(members_find(s, f->id[1]->device_id));
        members_state_free(s);
        free(b);
}

static void test_fold_unknown_parent(void **state)
{
        struct fx *f = *state;
        struct members_state *s;
        struct members_obj o;
        uint8_t parent[32], *b = NULL;
        size_t bl = 0;

        secmem_random(parent, sizeof(parent));
        b = make_add(f, f->st, f->id[0], f->id[1], "devA", MEMBER_ROLE_WRITER, parent, 1, 0, &bl);
        o = (struct members_obj){NULL, b, bl};
        s = fold(f, &o, 1);
        assert_int_equal(s->alarm, MEMBERS_UNKNOWN_PARENT);
        assert_null(members_find(s, f->id[1]->device_id));
        assert_string_equal(members_alarm_name(s->alarm), "unknown-parent");
        members_state_free(s);
        free(b);
        /* A known parent at the wrong height. */
        b = make_add(f, f->st, f->id[0], f->id[1], "devA", MEMBER_ROLE_WRITER, f->ri.genesis_hash,
                     2, 0, &bl);
        o = (struct members_obj){NULL, b, bl};
        s = fold(f, &o, 1);
        assert_int_equal(s->alarm, MEMBERS_BAD_HEIGHT);
        members_state_free(s);
        free(b);
}

static void test_fold_reused_device(void **state)
{
        struct fx *f = *state;
        struct members_state *s;
        struct members_obj o[2];
        uint8_t *b = NULL, *b2 = NULL;
        size_t bl = 0, bl2 = 0;

        s = add_b(f, &b, &bl);
        /* B added a second time (a later entry), and A's own keys re-added. */
        b2 = make_add(f, s, f->id[0], f->id[1], "devA", MEMBER_ROLE_WRITER, NULL, 0, 0, &bl2);
        o[0] = (struct members_obj){NULL, b, bl};
        o[1] = (struct members_obj){NULL, b2, bl2};
        members_state_free(s);
        s = fold(f, o, 2);
        assert_int_equal(s->alarm, MEMBERS_REUSED_DEVICE);
        assert_int_equal(s->nmembers, 2);
        members_state_free(s);
        free(b2);
        b2 = make_add(f, f->st, f->id[0], f->id[0], "devA", MEMBER_ROLE_WRITER, NULL, 0, 0, &bl2);
        o[0] = (struct members_obj){NULL, b2, bl2};
        s = fold(f, o, 1);
        assert_int_equal(s->alarm, MEMBERS_REUSED_DEVICE);
        members_state_free(s);
        free(b2);
        free(b);
}

static void test_fold_reverse_signature(void **state)
{
        struct fx *f = *state;
        struct members_state *s;
        struct members_obj o;
        struct member_device d;
        uint8_t *b = NULL, ss[64], *x = NULL;
        size_t bl = 0, xl = 0;

        /* The builder wants B's own signature over its record. */
        device_of(f->id[1], "devA", MEMBER_ROLE_WRITER, &d);
        assert_int_equal(member_self_sign(ss, f->id[0]->sign_sk, f->ri.id, &d), 0);
        assert_int_equal(
            members_build_add(f->st, f->id[0], &d, ss, f->epoch_key, NULL, 0, NOW, &x, &xl, NULL),
            -EBADMSG);
        /* Signed for another region. */
        assert_int_equal(member_self_sign(ss, f->id[1]->sign_sk, f->ri.genesis_hash, &d), 0);
        assert_int_equal(
            members_build_add(f->st, f->id[0], &d, ss, f->epoch_key, NULL, 0, NOW, &x, &xl, NULL),
            -EBADMSG);
        /* The fold stops at an ADD without it. */
        b = make_add(f, f->st, f->id[0], f->id[1], "devA", MEMBER_ROLE_WRITER, NULL, 0, 1, &bl);
        o = (struct members_obj){NULL, b, bl};
        s = fold(f, &o, 1);
        assert_int_equal(s->alarm, MEMBERS_BAD_REVERSE_SIG);
        assert_null(members_find(s, f->id[1]->device_id));
        members_state_free(s);
        free(b);
}

static void test_fold_junk_and_names(void **state)
{
        struct fx *f = *state;
        struct members_state *s;
        struct members_obj o[4];
        struct member_entry *e = NULL;
        uint8_t *b = NULL, junk[100];
        char name[MEMBERS_NAME_LEN + 1], wrong[MEMBERS_NAME_LEN + 1];
        size_t bl = 0;

        b = make_add(f, f->st, f->id[0], f->id[1], "devA", MEMBER_ROLE_WRITER, NULL, 0, 0, &bl);
        assert_int_equal(member_decode(b, bl, &e), 0);
        members_entry_name(e, name);
        snprintf(wrong, sizeof(wrong), "%s", name);
        wrong[0] = '1';
        memset(junk, 0xab, sizeof(junk));
        /* A misnamed copy and junk are skipped; the pinned GENESIS copy is ignored. */
        o[0] = (struct members_obj){wrong, b, bl};
        o[1] = (struct members_obj){"junk", junk, sizeof(junk)};
        o[2] = (struct members_obj){NULL, f->genesis, f->genesis_len};
        s = fold(f, o, 3);
        assert_int_equal(s->alarm, MEMBERS_OK);
        assert_int_equal(s->nskipped, 2);
        /* Both remembered by name, in the order seen. */
        assert_int_equal(s->nskips, 2);
        assert_string_equal(s->skips[0].name, wrong);
        assert_string_equal(s->skips[0].why, "its name does not match its bytes");
        assert_string_equal(s->skips[1].name, "junk");
        assert_string_equal(s->skips[1].why, "malformed");
        assert_int_equal(s->nmembers, 1);
        members_state_free(s);
        /* Rightly named, twice: applied once. */
        o[0].name = name;
        o[1] = o[0];
        s = fold(f, o, 2);
        assert_int_equal(s->alarm, MEMBERS_OK);
        assert_int_equal(s->nmembers, 2);
        members_state_free(s);
        /* A GENESIS that is not the pinned one refuses the fold outright. */
        assert_int_equal(members_fold(b, bl, f->ri.genesis_hash, o, 0, &s), -EBADMSG);
        member_entry_free(e);
        free(b);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_code, setup, teardown),
            cmocka_unit_test_setup_teardown(test_request_mac, setup, teardown),
            cmocka_unit_test_setup_teardown(test_reply, setup, teardown),
            cmocka_unit_test_setup_teardown(test_invite_expired, setup, teardown),
            cmocka_unit_test_setup_teardown(test_invite_single_use, setup, teardown),
            cmocka_unit_test_setup_teardown(test_wrong_code_voids, setup, teardown),
            cmocka_unit_test_setup_teardown(test_invite_owner, setup, teardown),
            cmocka_unit_test_setup_teardown(test_offer, setup, teardown),
            cmocka_unit_test_setup_teardown(test_pairing_words, setup, teardown),
            cmocka_unit_test_setup_teardown(test_fold_add, setup, teardown),
            cmocka_unit_test_setup_teardown(test_fold_unauthorised, setup, teardown),
            cmocka_unit_test_setup_teardown(test_fold_forged_signature, setup, teardown),
            cmocka_unit_test_setup_teardown(test_fold_unknown_parent, setup, teardown),
            cmocka_unit_test_setup_teardown(test_fold_reused_device, setup, teardown),
            cmocka_unit_test_setup_teardown(test_fold_reverse_signature, setup, teardown),
            cmocka_unit_test_setup_teardown(test_fold_junk_and_names, setup, teardown),
        };

        log_init("test_enroll", LOG_LEVEL_ERR);
        if (secmem_init() != 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
