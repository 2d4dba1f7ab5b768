/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the membership fold's later entry types (keyring/members.c):
 * ROTATE_KEY, REMOVE_DEVICE, SET_ROLE and POLICY, their authority rules,
 * sticky removal, key history, concurrent entries and hostile rotations.
 * Devices: A (creator, admin), B (admin, added second), C (writer),
 * D (reader, another owner), E (not enrolled at first).
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
#include <unistd.h>

#include <cmocka.h>

#include "crypto/hash.h"
#include "crypto/secmem.h"
#include "crypto/suite.h"
#include "crypto/wrap.h"
#include "keyring/identity.h"
#include "keyring/member.h"
#include "keyring/members.h"
#include "keyring/recovery.h"
#include "keyring/region.h"

#define NOW 1800000000ull
#define NID 5
#define MAXOBJ 32

struct fx {
        char dir[64];
        struct identity *id[NID];
        struct region_info ri;
        uint8_t *genesis;
        size_t genesis_len;
        uint8_t *bufs[MAXOBJ];
        size_t lens[MAXOBJ];
        size_t nobj;
        struct members_state *st; /* the fold of the bag so far */
};

enum { A, B, C, D, E };

static int setup(void **state)
{
        static const char *names[NID] = {"devA", "devB", "devC", "devD", "devE"};
        struct fx *f = calloc(1, sizeof(*f));
        char home[PATH_MAX];
        size_t i;

        assert_non_null(f);
        snprintf(f->dir, sizeof(f->dir), "%s", "/tmp/test_members.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        for (i = 0; i < NID; i++) {
                snprintf(home, sizeof(home), "%s/%c", f->dir, (char)('a' + i));
                assert_int_equal(identity_create(home, names[i], NULL, KDF_INTERACTIVE), 0);
                assert_int_equal(identity_load(home, NULL, &f->id[i]), 0);
        }
        snprintf(home, sizeof(home), "%s/a", f->dir);
        assert_int_equal(region_build(f->id[A], home, "docs", "file:///tmp/x", suite_default(),
                                      65536, &f->ri, &f->genesis, &f->genesis_len),
                         0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        char cmd[128];
        size_t i;

        for (i = 0; i < NID; i++)
                identity_free(f->id[i]);
        for (i = 0; i < f->nobj; i++)
                free(f->bufs[i]);
        members_state_free(f->st);
        free(f->genesis);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

/* Folds the GENESIS with the bag's objects, optionally leaving out SKIP (or SIZE_MAX). */
static struct members_state *fold_skip(const struct fx *f, size_t skip)
{
        struct members_obj objs[MAXOBJ];
        struct members_state *s = NULL;
        size_t i, n = 0;

        for (i = 0; i < f->nobj; i++) {
                if (i == skip)
                        continue;
                objs[n].name = NULL;
                objs[n].buf = f->bufs[i];
                objs[n++].len = f->lens[i];
        }
        assert_int_equal(members_fold(f->genesis, f->genesis_len, f->ri.genesis_hash, objs, n, &s),
                         0);
        return s;
}

/* Folds the GENESIS with the first K objects of the bag only. */
static struct members_state *fold_first(const struct fx *f, size_t k)
{
        struct members_obj objs[MAXOBJ];
        struct members_state *s = NULL;
        size_t i;

        for (i = 0; i < k; i++) {
                objs[i].name = NULL;
                objs[i].buf = f->bufs[i];
                objs[i].len = f->lens[i];
        }
        assert_int_equal(members_fold(f->genesis, f->genesis_len, f->ri.genesis_hash, objs, k, &s),
                         0);
        return s;
}

/* Adds OBJ to the bag and refolds F->st. */
static void push(struct fx *f, uint8_t *obj, size_t len)
{
        assert_true(f->nobj < MAXOBJ);
        f->bufs[f->nobj] = obj;
        f->lens[f->nobj++] = len;
        members_state_free(f->st);
        f->st = fold_skip(f, SIZE_MAX);
}

/* The current epoch key of ID in S (asserts it opens). */
static void cur_key(const struct members_state *s, const struct identity *id, uint8_t key[32])
{
        assert_int_equal(members_unlock(s, id, key), 0);
}

/* The record of WHO as OWNER/ROLE and its reverse signature SS. */
static void record_of(const struct fx *f, const struct identity *who, const char *owner,
                      uint8_t role, struct member_device *d, uint8_t ss[64])
{
        member_device_of(d, who, owner, role);
        assert_int_equal(member_self_sign(ss, who->sign_sk, f->ri.id, d), 0);
}

/* AUTHOR adds WHO as OWNER/ROLE with members_build_add: its result. */
static int add_by(struct fx *f, const struct identity *author, const struct identity *who,
                  const char *owner, uint8_t role)
{
        struct member_device d;
        uint8_t ss[64], key[32], *obj = NULL;
        size_t len = 0;
        int rc;

        record_of(f, who, owner, role, &d, ss);
        cur_key(f->st, author, key);
        rc = members_build_add(f->st, author, &d, ss, key, NULL, 0, NOW, &obj, &len, NULL);
        if (rc == 0)
                push(f, obj, len);
        return rc;
}

/* AUTHOR (an admin in F->st) adds device WHO as OWNER/ROLE. */
static void add(struct fx *f, int author, int who, const char *owner, uint8_t role)
{
        assert_int_equal(add_by(f, f->id[author], f->id[who], owner, role), 0);
}

/* The usual region: A admin; B admin; C writer (A's owner); D reader (owner "dora"). */
static void usual(struct fx *f)
{
        f->st = fold_skip(f, SIZE_MAX);
        add(f, A, B, "devA", MEMBER_ROLE_ADMIN);
        add(f, A, C, "devA", MEMBER_ROLE_WRITER);
        add(f, B, D, "dora", MEMBER_ROLE_READER);
        assert_int_equal(f->st->alarm, MEMBERS_OK);
        assert_int_equal(f->st->nmembers, 4);
}

/* AUTHOR rotates at NOW, with the history link if LINK. */
static int rotate_link(struct fx *f, int author, uint64_t now, int link)
{
        uint8_t key[32], *obj = NULL;
        size_t len = 0;
        int rc;

        cur_key(f->st, f->id[author], key);
        rc = members_build_rotate(f->st, f->id[author], key, link, now, &obj, &len, NULL);
        if (rc == 0)
                push(f, obj, len);
        return rc;
}

static int rotate(struct fx *f, int author, uint64_t now)
{
        return rotate_link(f, author, now, 1);
}

static int remove_dev(struct fx *f, int author, int who, uint64_t cutoff)
{
        uint8_t key[32], hash[32], *obj = NULL;
        size_t len = 0;
        int rc;

        memset(hash, cutoff == 0 ? 0 : 0x5a, sizeof(hash));
        cur_key(f->st, f->id[author], key);
        rc = members_build_remove(f->st, f->id[author], f->id[who]->device_id, cutoff, hash, key,
                                  NOW, &obj, &len, NULL);
        if (rc == 0)
                push(f, obj, len);
        return rc;
}

/* Every epoch key ID reaches in S. */
static struct region_keys *keys_of(const struct fx *f, const struct members_state *s, int id,
                                   int want)
{
        struct region_keys *k = NULL;

        assert_int_equal(region_keys_from_state(f->id[id], &f->ri, s, &k), want);
        return k;
}

static void test_rotate_and_history(void **state)
{
        struct fx *f = *state;
        struct region_keys *ka, *kc, *ke;
        uint8_t old[32], cur[32];
        size_t i;

        usual(f);
        cur_key(f->st, f->id[A], old);
        assert_int_equal(rotate(f, A, NOW), 0);
        assert_int_equal(f->st->alarm, MEMBERS_OK);
        assert_int_equal(f->st->nepochs, 2);
        assert_int_equal(f->st->cur, 1);
        assert_int_equal(f->st->needs_rotate, 0);
        assert_memory_equal(f->st->epoch_id, f->st->entries[f->st->nentries - 1]->hash, 32);
        cur_key(f->st, f->id[A], cur);
        assert_memory_not_equal(old, cur, 32);
        /* Every member gets the new key, and the old one through its own wrap. */
        for (i = 0; i < 4; i++) {
                uint8_t k[32];

                cur_key(f->st, f->id[i], k);
                assert_memory_equal(k, cur, 32);
        }
        ka = keys_of(f, f->st, A, 0);
        assert_int_equal(ka->nepochs, 2);
        assert_memory_equal(ka->epoch_key, cur, 32);
        assert_memory_equal(region_keys_find(ka, f->ri.genesis_hash), old, 32);
        region_keys_free(ka);

        /* E joins after the rotation: its wrap is of the new epoch only, and the
         * history link gives it the old key. */
        add(f, A, E, "devA", MEMBER_ROLE_WRITER);
        ke = keys_of(f, f->st, E, 0);
        assert_int_equal(ke->nepochs, 2);
        assert_memory_equal(region_keys_find(ke, f->ri.genesis_hash), old, 32);
        assert_memory_equal(ke->epoch_key, cur, 32);
        region_keys_free(ke);
        kc = keys_of(f, f->st, C, 0);
        assert_int_equal(kc->nepochs, 2);
        region_keys_free(kc);
}

static void test_remove(void **state)
{
        struct fx *f = *state;
        const struct members_removed *r;
        struct region_keys *kb;
        uint8_t old[32];

        usual(f);
        cur_key(f->st, f->id[A], old);
        assert_int_equal(remove_dev(f, A, C, 7), 0);
        assert_int_equal(f->st->alarm, MEMBERS_OK);
        assert_null(members_find(f->st, f->id[C]->device_id));
        r = members_find_removed(f->st, f->id[C]->device_id);
        assert_non_null(r);
        assert_int_equal(r->cutoff_seq, 7);
        assert_int_equal(f->st->nmembers, 3);
        assert_int_equal(f->st->nepochs, 2);
        assert_int_equal(f->st->cur, 1);
        assert_int_equal(f->st->epochs[0].tainted, 1);
        /* C holds nothing of the new epoch; the others hold both. */
        keys_of(f, f->st, C, -EACCES);
        kb = keys_of(f, f->st, B, 0);
        assert_int_equal(kb->nepochs, 2);
        assert_memory_not_equal(kb->epoch_key, old, 32);
        region_keys_free(kb);
        /* C can never come back with the same keys. */
        {
                struct member_device d;
                uint8_t ss[64], key[32], *obj = NULL;
                size_t len = 0;

                memset(&d, 0, sizeof(d));
                memcpy(d.device_id, f->id[C]->device_id, IDENTITY_ID_LEN);
                memcpy(d.sign_pk, f->id[C]->sign_pk, 32);
                memcpy(d.box_pk, f->id[C]->box_pk, 32);
                snprintf(d.owner, sizeof(d.owner), "devA");
                snprintf(d.name, sizeof(d.name), "devC");
                d.role = MEMBER_ROLE_WRITER;
                assert_int_equal(member_self_sign(ss, f->id[C]->sign_sk, f->ri.id, &d), 0);
                cur_key(f->st, f->id[A], key);
                assert_int_equal(
                    members_build_add(f->st, f->id[A], &d, ss, key, NULL, 0, NOW, &obj, &len, NULL),
                    -EEXIST);
        }
        /* Dropping the REMOVE from the bag brings back the old state (withholding is
         * only caught by the journals' membership heads, not here). */
        {
                struct members_state *s = fold_skip(f, f->nobj - 1);

                assert_non_null(members_find(s, f->id[C]->device_id));
                assert_int_equal(s->nepochs, 1);
                members_state_free(s);
        }
}

static void test_remove_authority(void **state)
{
        struct fx *f = *state;

        usual(f);
        /* A writer or reader removes nobody; a junior admin not its senior. */
        assert_int_equal(remove_dev(f, C, D, 0), -EPERM);
        assert_int_equal(remove_dev(f, D, C, 0), -EPERM);
        assert_int_equal(remove_dev(f, B, A, 0), -EPERM);
        assert_int_equal(remove_dev(f, A, A, 0), -EPERM);
        /* The senior admin removes the junior one. */
        assert_int_equal(remove_dev(f, A, B, 0), 0);
        assert_null(members_find(f->st, f->id[B]->device_id));
        assert_int_equal(f->st->alarm, MEMBERS_OK);
}

static void test_set_role_and_policy(void **state)
{
        struct fx *f = *state;
        uint8_t *obj = NULL;
        size_t len = 0;

        usual(f);
        /* A demotes C to reader; B (junior) cannot demote A; C cannot change roles. */
        assert_int_equal(members_build_set_role(f->st, f->id[A], f->id[C]->device_id,
                                                MEMBER_ROLE_READER, NOW, &obj, &len),
                         0);
        push(f, obj, len);
        assert_int_equal(members_find(f->st, f->id[C]->device_id)->role, MEMBER_ROLE_READER);
        assert_int_equal(members_build_set_role(f->st, f->id[B], f->id[A]->device_id,
                                                MEMBER_ROLE_READER, NOW, &obj, &len),
                         -EPERM);
        assert_int_equal(members_build_set_role(f->st, f->id[C], f->id[D]->device_id,
                                                MEMBER_ROLE_WRITER, NOW, &obj, &len),
                         -EPERM);
        /* Promotion of D to writer by B. */
        assert_int_equal(members_build_set_role(f->st, f->id[B], f->id[D]->device_id,
                                                MEMBER_ROLE_WRITER, NOW, &obj, &len),
                         0);
        push(f, obj, len);
        assert_int_equal(members_find(f->st, f->id[D]->device_id)->role, MEMBER_ROLE_WRITER);

        /* Writers rotate only a stale key; only admins set the policy. */
        assert_int_equal(rotate(f, D, NOW + 10), -EPERM);
        assert_int_equal(
            members_build_policy(f->st, f->id[D], 100, MEMBER_HISTORY_ALL, NOW, &obj, &len),
            -EPERM);
        assert_int_equal(
            members_build_policy(f->st, f->id[A], 100, MEMBER_HISTORY_ALL, NOW, &obj, &len), 0);
        push(f, obj, len);
        assert_int_equal(f->st->max_key_age, 100);
        assert_false(members_key_stale(f->st, f->st->epochs[0].time + 99));
        assert_true(members_key_stale(f->st, f->st->epochs[0].time + 100));
        assert_int_equal(rotate(f, D, f->st->epochs[0].time + 100), 0);
        assert_int_equal(f->st->alarm, MEMBERS_OK);
        assert_int_equal(f->st->nepochs, 2);
        /* A reader never rotates. */
        assert_int_equal(rotate(f, C, NOW + 1000000), -EPERM);
}

/* An entry by AUTHOR of TYPE with BODY on PARENT's heads, signed without any check. */
static uint8_t *raw_entry(const struct members_state *s, const struct identity *author,
                          uint8_t type, uint8_t *body, size_t blen, size_t *len)
{
        struct member_entry e;
        uint8_t *out = NULL;

        memset(&e, 0, sizeof(e));
        e.version = MEMBER_VERSION;
        e.type = type;
        memcpy(e.region_id, s->region_id, 32);
        e.time = NOW;
        e.parents = calloc(s->nheads, MEMBER_HASH_LEN);
        assert_non_null(e.parents);
        memcpy(e.parents, s->heads, s->nheads * MEMBER_HASH_LEN);
        e.nparents = s->nheads;
        e.height = s->height + 1;
        memcpy(e.author, author->device_id, IDENTITY_ID_LEN);
        e.body = body;
        e.body_len = blen;
        assert_int_equal(member_encode(&e, author->sign_sk, &out, len), 0);
        free(e.raw);
        free(e.parents);
        free(body);
        return out;
}

/* A rotation body to the devices WHO[0..N) (every one of them gets KEY unless ODD >= 0 gets
 * another). */
static struct member_rotation rotation_to(const struct fx *f, const int *who, size_t n, int odd)
{
        struct member_rotation r;
        uint8_t key[32], other[32], prev[32], ctx[WRAP_CTX_LEN];
        size_t i, j;

        memset(&r, 0, sizeof(r));
        secmem_random(key, 32);
        secmem_random(other, 32);
        assert_int_equal(member_key_check(r.key_check, key), 0);
        memcpy(r.prev_epoch_id, f->st->epoch_id, 32);
        r.has_link = 1;
        cur_key(f->st, f->id[A], prev);
        assert_int_equal(
            member_link_seal(r.link, key, f->st->region_id, r.prev_epoch_id, r.key_check, prev), 0);
        r.wraps = calloc(n, sizeof(*r.wraps));
        r.nwraps = n;
        assert_non_null(r.wraps);
        for (i = 0; i < n; i++) {
                const struct identity *d = f->id[who[i]];

                memcpy(r.wraps[i].device_id, d->device_id, IDENTITY_ID_LEN);
                assert_int_equal(member_wrap_ctx(ctx, f->st->region_id, d->device_id, r.key_check),
                                 0);
                assert_int_equal(
                    wrap_seal(r.wraps[i].wrap, who[i] == odd ? other : key, ctx, d->box_pk), 0);
        }
        /* Ascending device ids. */
        for (i = 1; i < n; i++)
                for (j = i; j > 0 && memcmp(r.wraps[j - 1].device_id, r.wraps[j].device_id,
                                            IDENTITY_ID_LEN) > 0;
                     j--) {
                        struct member_wrap t = r.wraps[j];

                        r.wraps[j] = r.wraps[j - 1];
                        r.wraps[j - 1] = t;
                }
        return r;
}

static uint8_t *rotate_raw(const struct fx *f, int author, const int *who, size_t n, int odd,
                           size_t *len)
{
        struct member_rotation r = rotation_to(f, who, n, odd);
        uint8_t *body = NULL;
        size_t blen = 0;

        assert_int_equal(member_body_rotation(&r, &body, &blen), 0);
        member_rotation_release(&r);
        return raw_entry(f->st, f->id[author], MEMBER_ROTATE_KEY, body, blen, len);
}

static void test_hostile_rotations(void **state)
{
        struct fx *f = *state;
        const int all[] = {A, B, C, D}, with_e[] = {A, B, C, D, E}, no_author[] = {B, C, D};
        struct members_state *s;
        struct region_keys *k;
        uint8_t *obj;
        size_t len = 0;

        usual(f);
        /* Wrapped to a device that is not a member: the fold stops there. */
        obj = rotate_raw(f, A, with_e, 5, -1, &len);
        f->bufs[f->nobj] = obj;
        f->lens[f->nobj++] = len;
        s = fold_skip(f, SIZE_MAX);
        assert_int_equal(s->alarm, MEMBERS_BAD_RECIPIENTS);
        assert_int_equal(s->nepochs, 1);
        members_state_free(s);
        free(f->bufs[--f->nobj]);
        /* Not wrapped to its author: the same. */
        obj = rotate_raw(f, A, no_author, 3, -1, &len);
        f->bufs[f->nobj] = obj;
        f->lens[f->nobj++] = len;
        s = fold_skip(f, SIZE_MAX);
        assert_int_equal(s->alarm, MEMBERS_BAD_RECIPIENTS);
        members_state_free(s);
        free(f->bufs[--f->nobj]);
        /* A reader signing a rotation: unauthorised. */
        obj = rotate_raw(f, D, all, 4, -1, &len);
        f->bufs[f->nobj] = obj;
        f->lens[f->nobj++] = len;
        s = fold_skip(f, SIZE_MAX);
        assert_int_equal(s->alarm, MEMBERS_UNAUTHORISED);
        members_state_free(s);
        free(f->bufs[--f->nobj]);
        /* Different keys to different devices in one rotation: the fold cannot see
         * it, the device given the odd key can (key check) and refuses that epoch;
         * the others are unaffected. */
        obj = rotate_raw(f, A, all, 4, C, &len);
        push(f, obj, len);
        assert_int_equal(f->st->alarm, MEMBERS_OK);
        keys_of(f, f->st, C, -EBADMSG);
        k = keys_of(f, f->st, B, 0);
        assert_int_equal(k->nepochs, 2);
        region_keys_free(k);
}

static void test_forged_membership_changes(void **state)
{
        struct fx *f = *state;
        struct member_remove rm;
        struct member_set_role sr;
        struct members_state *s;
        uint8_t *body = NULL, *obj;
        size_t blen = 0, len = 0;
        const int rest[] = {A, B, C};

        usual(f);
        /* A writer signs a removal (with a proper rotation) and a role change. */
        memset(&rm, 0, sizeof(rm));
        memcpy(rm.device_id, f->id[D]->device_id, IDENTITY_ID_LEN);
        rm.rot = rotation_to(f, rest, 3, -1);
        assert_int_equal(member_body_remove(&rm, &body, &blen), 0);
        member_rotation_release(&rm.rot);
        obj = raw_entry(f->st, f->id[C], MEMBER_REMOVE_DEVICE, body, blen, &len);
        f->bufs[f->nobj] = obj;
        f->lens[f->nobj++] = len;
        s = fold_skip(f, SIZE_MAX);
        assert_int_equal(s->alarm, MEMBERS_UNAUTHORISED);
        assert_non_null(members_find(s, f->id[D]->device_id));
        members_state_free(s);
        free(f->bufs[--f->nobj]);

        memset(&sr, 0, sizeof(sr));
        memcpy(sr.device_id, f->id[C]->device_id, IDENTITY_ID_LEN);
        sr.role = MEMBER_ROLE_ADMIN;
        assert_int_equal(member_body_set_role(&sr, &body, &blen), 0);
        obj = raw_entry(f->st, f->id[D], MEMBER_SET_ROLE, body, blen, &len);
        f->bufs[f->nobj] = obj;
        f->lens[f->nobj++] = len;
        s = fold_skip(f, SIZE_MAX);
        assert_int_equal(s->alarm, MEMBERS_UNAUTHORISED);
        assert_int_equal(members_find(s, f->id[C]->device_id)->role, MEMBER_ROLE_WRITER);
        members_state_free(s);
        free(f->bufs[--f->nobj]);
}

/* Two entries on the same heads: both orders of arrival give one state. */
static void test_concurrent_remove_is_sticky(void **state)
{
        struct fx *f = *state;
        struct members_state *base, *s1, *s2;
        struct member_device d;
        uint8_t ss[64], key[32], *add_by_c = NULL;
        size_t add_len = 0;

        usual(f);
        base = f->st;
        f->st = NULL;
        /* C (writer) enrolls E, its own device, concurrently with A removing C. */
        memset(&d, 0, sizeof(d));
        memcpy(d.device_id, f->id[E]->device_id, IDENTITY_ID_LEN);
        memcpy(d.sign_pk, f->id[E]->sign_pk, 32);
        memcpy(d.box_pk, f->id[E]->box_pk, 32);
        snprintf(d.owner, sizeof(d.owner), "devA");
        snprintf(d.name, sizeof(d.name), "devE");
        d.role = MEMBER_ROLE_WRITER;
        assert_int_equal(member_self_sign(ss, f->id[E]->sign_sk, f->ri.id, &d), 0);
        cur_key(base, f->id[C], key);
        assert_int_equal(
            members_build_add(base, f->id[C], &d, ss, key, NULL, 0, NOW, &add_by_c, &add_len, NULL),
            0);
        f->st = base;
        assert_int_equal(remove_dev(f, A, C, 3), 0);
        /* The bag now has A's REMOVE; add C's concurrent ADD. */
        f->bufs[f->nobj] = add_by_c;
        f->lens[f->nobj++] = add_len;
        s1 = fold_skip(f, SIZE_MAX);
        assert_int_equal(s1->alarm, MEMBERS_OK);
        assert_null(members_find(s1, f->id[C]->device_id));
        assert_null(members_find(s1, f->id[E]->device_id)); /* void: C was removed */
        assert_int_equal(s1->nheads, 2);
        /* Whatever the order in the bag, the same result. */
        {
                uint8_t *tb = f->bufs[f->nobj - 1];
                size_t tl = f->lens[f->nobj - 1];

                f->bufs[f->nobj - 1] = f->bufs[f->nobj - 2];
                f->lens[f->nobj - 1] = f->lens[f->nobj - 2];
                f->bufs[f->nobj - 2] = tb;
                f->lens[f->nobj - 2] = tl;
        }
        s2 = fold_skip(f, SIZE_MAX);
        assert_int_equal(s2->alarm, MEMBERS_OK);
        assert_null(members_find(s2, f->id[E]->device_id));
        assert_memory_equal(s1->heads, s2->heads, s1->nheads * MEMBER_HASH_LEN);
        /* A later entry by A merges both heads and applies. */
        members_state_free(f->st);
        f->st = s2;
        assert_int_equal(rotate(f, A, NOW), 0);
        assert_int_equal(f->st->alarm, MEMBERS_OK);
        assert_int_equal(f->st->nheads, 1);
        members_state_free(s1);
}

/* A rotation concurrent with an add: the new device lacks the current key until the next. */
static void test_concurrent_rotate_and_add(void **state)
{
        struct fx *f = *state;
        struct members_state *base;
        uint8_t *rot = NULL;
        size_t rot_len = 0;
        uint8_t key[32];

        usual(f);
        base = fold_skip(f, SIZE_MAX);
        cur_key(base, f->id[B], key);
        assert_int_equal(members_build_rotate(base, f->id[B], key, 1, NOW, &rot, &rot_len, NULL),
                         0);
        add(f, A, E, "devA", MEMBER_ROLE_WRITER); /* on the same heads as the rotation */
        push(f, rot, rot_len);
        assert_int_equal(f->st->alarm, MEMBERS_OK);
        assert_non_null(members_find(f->st, f->id[E]->device_id));
        assert_int_equal(f->st->needs_rotate, 1);
        keys_of(f, f->st, E, -EACCES);
        /* The next rotation (any admin) wraps to everybody. */
        assert_int_equal(rotate(f, A, NOW), 0);
        assert_int_equal(f->st->needs_rotate, 0);
        region_keys_free(keys_of(f, f->st, E, 0));
        members_state_free(base);
}

/* An ADD of WHO by AUTHOR signed without the builder's checks (what a modified client sends),
 * with the history wraps HIST (NHIST, ascending). */
static uint8_t *raw_add_hist(const struct fx *f, const struct identity *author,
                             const struct identity *who, const char *owner, uint8_t role,
                             struct member_hist *hist, size_t nhist, size_t *len)
{
        struct member_entry e;
        uint8_t key[32], ctx[WRAP_CTX_LEN], *out = NULL;

        memset(&e, 0, sizeof(e));
        e.version = MEMBER_VERSION;
        e.type = MEMBER_ADD_DEVICE;
        memcpy(e.region_id, f->st->region_id, 32);
        e.time = NOW;
        e.parents = calloc(f->st->nheads, MEMBER_HASH_LEN);
        assert_non_null(e.parents);
        memcpy(e.parents, f->st->heads, f->st->nheads * MEMBER_HASH_LEN);
        e.nparents = f->st->nheads;
        e.height = f->st->height + 1;
        memcpy(e.author, author->device_id, IDENTITY_ID_LEN);
        record_of(f, who, owner, role, &e.add.device, e.add.self_sig);
        memcpy(e.add.epoch_id, f->st->epoch_id, 32);
        cur_key(f->st, author, key);
        assert_int_equal(member_wrap_ctx(ctx, f->st->region_id, who->device_id, f->st->key_check),
                         0);
        assert_int_equal(wrap_seal(e.add.wrap, key, ctx, who->box_pk), 0);
        e.add.hist = hist;
        e.add.nhist = nhist;
        assert_int_equal(member_encode(&e, author->sign_sk, &out, len), 0);
        free(e.raw);
        free(e.parents);
        return out;
}

static uint8_t *raw_add(const struct fx *f, const struct identity *author,
                        const struct identity *who, const char *owner, uint8_t role, size_t *len)
{
        return raw_add_hist(f, author, who, owner, role, NULL, 0, len);
}

/* Folds the bag plus OBJ (freed) and returns the alarm. */
static enum members_alarm alarm_with(struct fx *f, uint8_t *obj, size_t len)
{
        struct members_state *s;
        enum members_alarm a;

        f->bufs[f->nobj] = obj;
        f->lens[f->nobj++] = len;
        s = fold_skip(f, SIZE_MAX);
        a = s->alarm;
        members_state_free(s);
        free(f->bufs[--f->nobj]);
        return a;
}

/* The RECOVERY device of F's region for secret byte X. */
static struct identity *recovery_of(const struct fx *f, uint8_t x)
{
        struct identity *r = NULL;
        uint8_t secret[RECOVERY_SECRET_LEN];

        memset(secret, x, sizeof(secret));
        assert_int_equal(recovery_identity(secret, f->ri.id, f->ri.genesis_hash, &r), 0);
        return r;
}

/* The entry hash of OBJ (LEN bytes). */
static void obj_hash(const uint8_t *obj, size_t len, uint8_t out[32])
{
        hash_blake2b(out, obj, len);
}

/*
 * Writer C rotates the stale key concurrently with admin A (both on the
 * same heads, after `policy --max-key-age`): whichever sorts first, both
 * rotations apply on every device, no alarm, one current epoch.  A writer
 * that had seen a newer key may not rotate by naming an older stale one.
 */
static void test_writer_rotation_concurrent_with_admin(void **state)
{
        struct fx *f = *state;
        struct members_state *base, *s;
        uint8_t *pol = NULL, *ra = NULL, *rc_ = NULL, ha[32], hc[32], key[32];
        size_t plen = 0, la = 0, lc = 0, n0, tries;
        uint64_t t;

        usual(f);
        assert_int_equal(
            members_build_policy(f->st, f->id[A], 100, MEMBER_HISTORY_ALL, NOW, &pol, &plen), 0);
        push(f, pol, plen);
        t = f->st->epochs[0].time + 100; /* GENESIS's key is stale from here */
        n0 = f->nobj;
        base = fold_skip(f, SIZE_MAX);
        cur_key(base, f->id[C], key);
        assert_int_equal(members_build_rotate(base, f->id[C], key, 1, t + 1, &rc_, &lc, NULL), 0);
        obj_hash(rc_, lc, hc);
        /* A's rotation sorted first (the order that refused C's before): retry A's time. */
        cur_key(base, f->id[A], key);
        for (tries = 0; tries < 64; tries++) {
                free(ra);
                ra = NULL;
                assert_int_equal(
                    members_build_rotate(base, f->id[A], key, 1, t + tries, &ra, &la, NULL), 0);
                obj_hash(ra, la, ha);
                if (memcmp(ha, hc, 32) < 0)
                        break;
        }
        assert_true(tries < 64);
        push(f, ra, la);
        push(f, rc_, lc);
        assert_int_equal(f->st->alarm, MEMBERS_OK);
        assert_int_equal(f->st->nepochs, 3);
        assert_int_equal(f->st->nheads, 2);
        assert_memory_equal(f->st->epoch_id, hc, 32); /* the last in fold order */
        /* The other bag order folds the same. */
        {
                uint8_t *tb = f->bufs[n0];
                size_t tl = f->lens[n0];

                f->bufs[n0] = f->bufs[n0 + 1];
                f->lens[n0] = f->lens[n0 + 1];
                f->bufs[n0 + 1] = tb;
                f->lens[n0 + 1] = tl;
        }
        s = fold_skip(f, SIZE_MAX);
        assert_int_equal(s->alarm, MEMBERS_OK);
        assert_memory_equal(s->epoch_id, f->st->epoch_id, 32);
        members_state_free(s);
        members_state_free(base);

        /* A rotates again at t + 200; C, having seen it, names the GENESIS epoch as its
         * current one (stale) at t + 201: the fold refuses it (A's fresh key is an
         * ancestor), so the builder, which refolds with the entry, does too. */
        assert_int_equal(rotate(f, A, t + 200), 0);
        s = f->st;
        s->cur = 0; /* C's claimed view: the GENESIS epoch is its current one */
        memcpy(s->epoch_id, s->epochs[0].id, 32);
        memcpy(s->key_check, s->epochs[0].key_check, 32);
        cur_key(s, f->id[C], key);
        rc_ = NULL;
        assert_true(members_key_stale(s, t + 201));
        assert_int_equal(members_build_rotate(s, f->id[C], key, 1, t + 201, &rc_, &lc, NULL),
                         -EPERM);
        assert_null(rc_);
        members_state_free(f->st);
        f->st = fold_skip(f, SIZE_MAX);
        assert_int_equal(f->st->alarm, MEMBERS_OK);
}

/* RECOVERY is added by the most senior admin only, and once. */
static void test_recovery_added_by_admin_only(void **state)
{
        struct fx *f = *state;
        struct identity *r = recovery_of(f, 0x01), *r2 = recovery_of(f, 0x02);
        size_t len = 0;
        uint8_t *obj;

        usual(f);
        /* A writer and a reader may not, not even for their own owner. */
        assert_int_equal(add_by(f, f->id[C], r, "devA", MEMBER_ROLE_RECOVERY), -EPERM);
        assert_int_equal(add_by(f, f->id[D], r, "dora", MEMBER_ROLE_RECOVERY), -EPERM);
        obj = raw_add(f, f->id[C], r, "devA", MEMBER_ROLE_RECOVERY, &len);
        assert_int_equal(alarm_with(f, obj, len), MEMBERS_UNAUTHORISED);
        obj = raw_add(f, f->id[D], r, "dora", MEMBER_ROLE_RECOVERY, &len);
        assert_int_equal(alarm_with(f, obj, len), MEMBERS_UNAUTHORISED);
        assert_null(members_recovery(f->st));
        /* A junior admin may not (it would put a key of its choosing above its seniors);
         * the most senior admin may. */
        assert_int_equal(add_by(f, f->id[B], r, "devA", MEMBER_ROLE_RECOVERY), -EPERM);
        obj = raw_add(f, f->id[B], r, "devA", MEMBER_ROLE_RECOVERY, &len);
        assert_int_equal(alarm_with(f, obj, len), MEMBERS_UNAUTHORISED);
        assert_int_equal(add_by(f, f->id[A], r, "devA", MEMBER_ROLE_RECOVERY), 0);
        assert_int_equal(f->st->alarm, MEMBERS_OK);
        assert_non_null(members_recovery(f->st));
        assert_memory_equal(members_recovery(f->st)->device_id, r->device_id, IDENTITY_ID_LEN);
        /* A second one: refused by the builder and by the fold, also from RECOVERY itself. */
        assert_int_equal(add_by(f, f->id[A], r2, "devA", MEMBER_ROLE_RECOVERY), -EPERM);
        assert_int_equal(add_by(f, r, r2, "devA", MEMBER_ROLE_RECOVERY), -EPERM);
        obj = raw_add(f, f->id[A], r2, "devA", MEMBER_ROLE_RECOVERY, &len);
        assert_int_equal(alarm_with(f, obj, len), MEMBERS_UNAUTHORISED);
        /* Nobody removes it or changes its role: it is first in the removal order. */
        assert_false(members_may_remove(f->st, members_find(f->st, f->id[A]->device_id),
                                        members_recovery(f->st)));
        assert_int_equal(members_build_set_role(f->st, f->id[A], r->device_id, MEMBER_ROLE_READER,
                                                NOW, &obj, &len),
                         -EPERM);
        identity_free(r);
        identity_free(r2);
}

/* A RECOVERY device enrolls, removes senior admins and rotates; it gets every new key. */
static void test_recovery_authors(void **state)
{
        struct fx *f = *state;
        struct identity *r = recovery_of(f, 0x07);
        uint8_t key[32], hash[32], *obj = NULL;
        size_t len = 0;

        usual(f);
        assert_int_equal(add_by(f, f->id[A], r, "devA", MEMBER_ROLE_RECOVERY), 0);
        /* Its ADD of a new admin device applies. */
        assert_int_equal(add_by(f, r, f->id[E], "devA", MEMBER_ROLE_ADMIN), 0);
        assert_int_equal(f->st->alarm, MEMBERS_OK);
        assert_int_equal(members_find(f->st, f->id[E]->device_id)->role, MEMBER_ROLE_ADMIN);
        /* Its REMOVE of A, the most senior admin, applies; the new key reaches it. */
        memset(hash, 0, sizeof(hash));
        cur_key(f->st, r, key);
        assert_int_equal(members_build_remove(f->st, r, f->id[A]->device_id, 0, hash, key, NOW,
                                              &obj, &len, NULL),
                         0);
        push(f, obj, len);
        assert_int_equal(f->st->alarm, MEMBERS_OK);
        assert_null(members_find(f->st, f->id[A]->device_id));
        assert_non_null(members_find_removed(f->st, f->id[A]->device_id));
        assert_int_equal(members_unlock(f->st, r, key), 0);
        assert_int_equal(members_unlock(f->st, f->id[E], key), 0);
        assert_int_equal(members_unlock(f->st, f->id[A], key), -EACCES);
        /* It rotates; an admin's rotation wraps to it too. */
        obj = NULL;
        assert_int_equal(members_build_rotate(f->st, r, key, 1, NOW, &obj, &len, NULL), 0);
        push(f, obj, len);
        assert_int_equal(f->st->alarm, MEMBERS_OK);
        assert_int_equal(rotate(f, B, NOW), 0);
        assert_int_equal(members_unlock(f->st, r, key), 0);
        /* An admin may not remove it. */
        memset(hash, 0, sizeof(hash));
        cur_key(f->st, f->id[B], key);
        obj = NULL;
        assert_int_equal(members_build_remove(f->st, f->id[B], r->device_id, 0, hash, key, NOW,
                                              &obj, &len, NULL),
                         -EPERM);
        identity_free(r);
}

/*
 * A member cannot hide a later entry behind an invalid one: C (a writer)
 * signs an unauthorised POLICY on an old head, so it sorts before A's
 * removal of D.  The POLICY is rejected (alarm), the REMOVE still applies.
 */
static void test_invalid_entry_hides_nothing(void **state)
{
        struct fx *f = *state;
        struct member_policy po = {.max_key_age = 1};
        struct members_state *old;
        uint8_t *body = NULL, *obj;
        size_t blen = 0, len = 0, n;

        usual(f);
        old = fold_first(f, 2); /* GENESIS + B + C: height 2 */
        assert_int_equal(remove_dev(f, A, D, 0), 0);
        n = f->nobj;
        assert_int_equal(member_body_policy(&po, &body, &blen), 0);
        obj = raw_entry(old, f->id[C], MEMBER_POLICY, body, blen, &len);
        push(f, obj, len);
        assert_true(f->st->entries[f->st->nentries - 1]->height > old->height + 1);
        assert_int_equal(f->st->alarm, MEMBERS_UNAUTHORISED);
        assert_null(members_find(f->st, f->id[D]->device_id));
        assert_non_null(members_find_removed(f->st, f->id[D]->device_id));
        assert_memory_equal(f->st->epoch_id, f->st->epochs[f->st->nepochs - 1].id, 32);
        assert_int_equal(f->st->max_key_age, 0);
        keys_of(f, f->st, D, -EACCES);
        /* An admin can still act on the verified rest. */
        assert_int_equal(rotate(f, A, NOW), 0);
        assert_int_equal(f->nobj, n + 2);
        members_state_free(old);
}

/*
 * A removed device must not reach the current key through history links:
 * B, not seeing E's removal, rotates to everybody including E; that epoch's
 * link opens B's previous epoch, so both are tainted and the current epoch
 * is the removal's.
 */
static void test_taint_follows_links(void **state)
{
        struct fx *f = *state;
        struct members_state *before_e, *without_r;
        uint8_t key[32], *q1 = NULL, *q2 = NULL, *robj;
        size_t q1len = 0, q2len = 0, rlen, k;
        const struct members_epoch *ep;

        usual(f);
        before_e = fold_first(f, f->nobj); /* without E's ADD */
        add(f, A, E, "devA", MEMBER_ROLE_WRITER);
        assert_int_equal(remove_dev(f, A, E, 0), 0);
        robj = f->bufs[f->nobj - 1];
        rlen = f->lens[f->nobj - 1];
        /* B rotates on the state before E was added ... */
        cur_key(before_e, f->id[B], key);
        assert_int_equal(members_build_rotate(before_e, f->id[B], key, 1, NOW, &q1, &q1len, NULL),
                         0);
        /* ... then sees E's ADD and Q1, but not the removal, and rotates again. */
        f->bufs[f->nobj - 1] = q1;
        f->lens[f->nobj - 1] = q1len;
        without_r = fold_skip(f, SIZE_MAX);
        cur_key(without_r, f->id[B], key);
        assert_int_equal(members_build_rotate(without_r, f->id[B], key, 1, NOW, &q2, &q2len, NULL),
                         0);
        f->bufs[f->nobj - 1] = robj;
        f->lens[f->nobj - 1] = rlen;
        push(f, q1, q1len);
        push(f, q2, q2len);
        assert_int_equal(f->st->alarm, MEMBERS_OK);
        for (k = 0; k < f->st->nepochs; k++) {
                ep = &f->st->epochs[k];
                if (f->st->entries[ep->entry]->type == MEMBER_ROTATE_KEY)
                        assert_true(ep->tainted); /* Q2 (wrapped to E) and Q1 (its link) */
        }
        ep = &f->st->epochs[f->st->cur];
        assert_int_equal(f->st->entries[ep->entry]->type, MEMBER_REMOVE_DEVICE);
        assert_false(ep->tainted);
        assert_int_equal(f->st->cur_tainted, 0);
        members_state_free(before_e);
        members_state_free(without_r);
}

/* A demoted admin cannot act as one by backdating: its entries made without
 * seeing the demotion are void; as a writer it still adds its own devices. */
static void test_demotion_is_sticky(void **state)
{
        struct fx *f = *state;
        struct members_state *old;
        struct member_device d;
        uint8_t ss[64], key[32], *obj = NULL;
        size_t len = 0;

        usual(f);
        old = fold_skip(f, SIZE_MAX);
        assert_int_equal(members_build_set_role(f->st, f->id[A], f->id[B]->device_id,
                                                MEMBER_ROLE_WRITER, NOW, &obj, &len),
                         0);
        push(f, obj, len);
        /* B, on the heads before its demotion, adds E as an admin. */
        record_of(f, f->id[E], "devA", MEMBER_ROLE_ADMIN, &d, ss);
        cur_key(old, f->id[B], key);
        assert_int_equal(
            members_build_add(old, f->id[B], &d, ss, key, NULL, 0, NOW, &obj, &len, NULL), 0);
        push(f, obj, len);
        assert_int_equal(f->st->alarm, MEMBERS_OK);
        assert_null(members_find(f->st, f->id[E]->device_id));
        for (len = 0; len < f->st->nentries; len++)
                if (f->st->entries[len]->type == MEMBER_ADD_DEVICE &&
                    memcmp(f->st->entries[len]->author, f->id[B]->device_id, 16) == 0 &&
                    f->st->entries[len]->height == f->st->height)
                        assert_true(f->st->voided[len]);
        /* Having seen it, B (a writer now) enrolls its owner's device as a writer. */
        add(f, B, E, "devA", MEMBER_ROLE_WRITER);
        assert_int_equal(members_find(f->st, f->id[E]->device_id)->role, MEMBER_ROLE_WRITER);
        members_state_free(old);
}

/* Seniority among admins is when each became one, not where it sits in the list. */
static void test_seniority_is_when_admin(void **state)
{
        struct fx *f = *state;
        uint8_t *obj = NULL;
        size_t len = 0;

        usual(f); /* C (writer) was added before... */
        assert_int_equal(members_build_set_role(f->st, f->id[A], f->id[C]->device_id,
                                                MEMBER_ROLE_ADMIN, NOW, &obj, &len),
                         0);
        push(f, obj, len); /* ... and promoted after B became an admin */
        assert_true(members_may_remove(f->st, members_find(f->st, f->id[B]->device_id),
                                       members_find(f->st, f->id[C]->device_id)));
        assert_false(members_may_remove(f->st, members_find(f->st, f->id[C]->device_id),
                                        members_find(f->st, f->id[B]->device_id)));
}

/* An epoch dated far ahead is stale: it cannot switch the key-age policy off. */
static void test_future_epoch_is_stale(void **state)
{
        struct fx *f = *state;
        uint8_t *obj = NULL;
        size_t len = 0;

        usual(f);
        assert_int_equal(
            members_build_policy(f->st, f->id[A], 3600, MEMBER_HISTORY_ALL, NOW, &obj, &len), 0);
        push(f, obj, len);
        assert_int_equal(rotate(f, A, NOW + 10u * 86400u), 0);
        assert_false(members_key_stale(f->st, NOW + 10u * 86400u + 60));
        assert_true(members_key_stale(f->st, NOW));
        assert_false(members_key_stale(f->st, NOW + 10u * 86400u - 3600));
}

/* POLICY body: u64 max_key_age || u8 history, 9 bytes exactly, history 0 or 1. */
static void test_policy_history_codec(void **state)
{
        struct fx *f = *state;
        struct member_policy po = {.max_key_age = 86400, .history = MEMBER_HISTORY_OWNER}, got;
        uint8_t *body = NULL, *obj = NULL, bad[10];
        size_t blen = 0, len = 0;

        assert_int_equal(member_body_policy(&po, &body, &blen), 0);
        assert_int_equal(blen, 9);
        assert_int_equal(body[8], 1);
        assert_int_equal(member_decode_policy(body, blen, &got), 0);
        assert_int_equal(got.max_key_age, 86400);
        assert_int_equal(got.history, MEMBER_HISTORY_OWNER);
        memcpy(bad, body, 9);
        bad[9] = 0;
        assert_int_equal(member_decode_policy(bad, 8, &got), -EBADMSG);  /* the old layout */
        assert_int_equal(member_decode_policy(bad, 10, &got), -EBADMSG); /* trailing byte */
        bad[8] = 2;
        assert_int_equal(member_decode_policy(bad, 9, &got), -EBADMSG); /* unknown policy */
        free(body);
        po.history = 2;
        assert_int_equal(member_body_policy(&po, &body, &blen), -EINVAL);

        /* GENESIS regions read their whole history; a POLICY entry sets both fields. */
        usual(f);
        assert_int_equal(f->st->history, MEMBER_HISTORY_ALL);
        assert_int_equal(
            members_build_policy(f->st, f->id[A], 60, MEMBER_HISTORY_OWNER, NOW, &obj, &len), 0);
        push(f, obj, len);
        assert_int_equal(f->st->alarm, MEMBERS_OK);
        assert_int_equal(f->st->history, MEMBER_HISTORY_OWNER);
        assert_int_equal(f->st->max_key_age, 60);
}

/* rotation = key_check || prev_epoch_id || u8 flags || link (only with bit 0) || wraps. */
static void test_rotation_link_codec(void **state)
{
        struct fx *f = *state;
        const int all[] = {A, B, C, D};
        struct member_rotation r, got;
        uint8_t *body = NULL, *nolink = NULL;
        size_t blen = 0, nlen = 0;

        usual(f);
        r = rotation_to(f, all, 4, -1);
        assert_int_equal(member_body_rotation(&r, &body, &blen), 0);
        assert_int_equal(blen, 139 + 160 * 4);
        assert_int_equal(body[64], MEMBER_ROT_HAS_LINK);
        assert_int_equal(member_decode_rotation(body, blen, &got), 0);
        assert_true(got.has_link);
        assert_memory_equal(got.link, r.link, MEMBER_LINK_LEN);
        member_rotation_release(&got);
        body[64] = 0x03; /* an unknown flag */
        assert_int_equal(member_decode_rotation(body, blen, &got), -EBADMSG);
        body[64] = 0x00; /* no link, but its bytes still there: trailing bytes */
        assert_int_equal(member_decode_rotation(body, blen, &got), -EBADMSG);

        r.has_link = 0;
        assert_int_equal(member_body_rotation(&r, &nolink, &nlen), 0);
        assert_int_equal(nlen, 67 + 160 * 4);
        assert_int_equal(nolink[64], 0);
        assert_int_equal(member_decode_rotation(nolink, nlen, &got), 0);
        assert_false(got.has_link);
        member_rotation_release(&got);
        nolink[64] = MEMBER_ROT_HAS_LINK; /* claims a link that is not there */
        assert_int_equal(member_decode_rotation(nolink, nlen, &got), -EBADMSG);
        r.has_link = 2;
        free(body);
        body = NULL;
        assert_int_equal(member_body_rotation(&r, &body, &blen), -EINVAL);
        member_rotation_release(&r);
        free(nolink);
}

/*
 * A rotation without a link stops the key history: E, enrolled after it,
 * reaches that epoch and the ones linked to it later, nothing before; the
 * members that held the older keys keep them.
 */
static void test_no_link_stops_history(void **state)
{
        struct fx *f = *state;
        struct region_keys *ka, *ke;
        size_t cut;

        usual(f);
        assert_int_equal(rotate(f, A, NOW), 0); /* epoch 1, linked to GENESIS's */
        assert_int_equal(rotate_link(f, B, NOW, 0), 0);
        assert_int_equal(f->st->alarm, MEMBERS_OK);
        cut = f->st->nepochs - 1;
        assert_int_equal(cut, 2);
        assert_false(f->st->epochs[cut].has_link);
        assert_true(f->st->epochs[1].has_link);
        add(f, A, E, "erin", MEMBER_ROLE_WRITER);
        ke = keys_of(f, f->st, E, 0);
        assert_int_equal(ke->nepochs, 1);
        assert_null(region_keys_find(ke, f->ri.genesis_hash));
        assert_null(region_keys_find(ke, f->st->epochs[1].id));
        assert_non_null(region_keys_find(ke, f->st->epochs[cut].id));
        region_keys_free(ke);
        ka = keys_of(f, f->st, A, 0);
        assert_int_equal(ka->nepochs, 3);
        region_keys_free(ka);
        /* A later linked rotation links back to the cut, not past it. */
        assert_int_equal(rotate(f, A, NOW + 1), 0);
        ke = keys_of(f, f->st, E, 0);
        assert_int_equal(ke->nepochs, 2);
        assert_non_null(region_keys_find(ke, f->st->epochs[cut].id));
        assert_null(region_keys_find(ke, f->st->epochs[1].id));
        region_keys_free(ke);
}

/* AUTHOR adds WHO as OWNER/ROLE with the keys AUTHOR holds as history: the ADD's history wraps. */
static size_t add_hist(struct fx *f, int author, int who, const char *owner, uint8_t role)
{
        struct region_keys *k = keys_of(f, f->st, author, 0);
        struct member_entry *e = NULL;
        struct member_device d;
        uint8_t ss[64], *obj = NULL;
        size_t len = 0, n;

        record_of(f, f->id[who], owner, role, &d, ss);
        assert_int_equal(members_build_add(f->st, f->id[author], &d, ss, k->epoch_key, k->epochs,
                                           k->nepochs, NOW, &obj, &len, &e),
                         0);
        n = e->add.nhist;
        member_entry_free(e);
        region_keys_free(k);
        push(f, obj, len);
        assert_int_equal(f->st->alarm, MEMBERS_OK);
        return n;
}

/*
 * After a history cut, a further device of an owner who has one gets the
 * owner's older keys as history wraps: they join their epochs' wraps, so
 * region_keys_from_state finds them (and follows their links).
 */
static void test_history_wraps_same_owner(void **state)
{
        struct fx *f = *state;
        struct region_keys *ke;
        uint8_t key[32];

        usual(f);
        assert_int_equal(rotate(f, A, NOW), 0);                             /* epoch 1, linked */
        assert_int_equal(rotate_link(f, B, NOW, 0), 0);                     /* epoch 2: the cut */
        assert_int_equal(add_hist(f, A, E, "devA", MEMBER_ROLE_WRITER), 2); /* GENESIS's, 1 */
        ke = keys_of(f, f->st, E, 0);
        assert_int_equal(ke->nepochs, 3);
        assert_non_null(region_keys_find(ke, f->ri.genesis_hash));
        assert_non_null(region_keys_find(ke, f->st->epochs[1].id));
        assert_non_null(region_keys_find(ke, f->st->epochs[2].id));
        region_keys_free(ke);
        assert_int_equal(members_open_epoch(f->st, &f->st->epochs[0], f->id[E], key), 0);
        /* History wraps add no epoch: the cut stays current. */
        assert_int_equal(f->st->cur, 2);
}

/* History wraps the owner's devices cannot reach, or for a new owner: bad-history. */
static void test_history_wraps_refused(void **state)
{
        struct fx *f = *state;
        struct member_hist h[1];
        struct region_keys *kc;
        uint8_t *obj;
        size_t len = 0;

        f->st = fold_skip(f, SIZE_MAX);
        add(f, A, B, "devA", MEMBER_ROLE_ADMIN);
        assert_int_equal(rotate_link(f, A, NOW, 0), 0); /* the cut: epoch 1 */
        add(f, A, D, "dora", MEMBER_ROLE_READER);       /* dora's first device: epoch 1 only */
        /* The builder gives dora's next device nothing from before the cut. */
        assert_int_equal(add_hist(f, A, C, "dora", MEMBER_ROLE_READER), 0);
        kc = keys_of(f, f->st, C, 0);
        assert_int_equal(kc->nepochs, 1);
        assert_null(region_keys_find(kc, f->ri.genesis_hash));
        region_keys_free(kc);

        memset(h, 0x5a, sizeof(h));
        memcpy(h[0].epoch_id, f->ri.genesis_hash, 32); /* an epoch dora cannot reach */
        obj = raw_add_hist(f, f->id[A], f->id[E], "dora", MEMBER_ROLE_READER, h, 1, &len);
        assert_int_equal(alarm_with(f, obj, len), MEMBERS_BAD_HISTORY);
        obj = raw_add_hist(f, f->id[A], f->id[E], "erin", MEMBER_ROLE_READER, h, 1, &len);
        assert_int_equal(alarm_with(f, obj, len), MEMBERS_BAD_HISTORY); /* a new owner */
        memset(h[0].epoch_id, 0x77, 32);                                /* an unknown epoch */
        obj = raw_add_hist(f, f->id[A], f->id[E], "devA", MEMBER_ROLE_READER, h, 1, &len);
        assert_int_equal(alarm_with(f, obj, len), MEMBERS_BAD_HISTORY);
        memcpy(h[0].epoch_id, f->st->epoch_id, 32); /* the epoch the ADD wraps anyway */
        obj = raw_add_hist(f, f->id[A], f->id[E], "devA", MEMBER_ROLE_READER, h, 1, &len);
        assert_int_equal(alarm_with(f, obj, len), MEMBERS_BAD_HISTORY);
        memcpy(h[0].epoch_id, f->ri.genesis_hash, 32); /* devA reaches GENESIS's epoch */
        obj = raw_add_hist(f, f->id[A], f->id[E], "devA", MEMBER_ROLE_READER, h, 1, &len);
        assert_int_equal(alarm_with(f, obj, len), MEMBERS_OK);
        assert_string_equal(members_alarm_name(MEMBERS_BAD_HISTORY), "bad-history");
}

/* ADD_DEVICE body = member || self_sig || epoch_id || wrap || u16 nhist || (epoch_id || wrap)*. */
static void test_add_hist_codec(void **state)
{
        struct fx *f = *state;
        const size_t base = 329 + 4 + 4; /* owner "erin", device name "devE" */
        const size_t item = MEMBER_HASH_LEN + WRAP_LEN;
        struct member_hist h[2];
        struct member_add a, got;
        uint8_t *body = NULL, *big;
        size_t len = 0, i, n;

        memset(&a, 0, sizeof(a));
        memset(h, 0, sizeof(h));
        record_of(f, f->id[E], "erin", MEMBER_ROLE_WRITER, &a.device, a.self_sig);
        h[0].epoch_id[0] = 1;
        h[0].wrap[0] = 9;
        h[1].epoch_id[0] = 2;
        a.hist = h;
        a.nhist = 2;
        assert_int_equal(member_body_add(&a, &body, &len), 0);
        assert_int_equal(len, base + 2 + 2 * item);
        assert_int_equal(member_decode_add(body, len, &got), 0);
        assert_int_equal(got.nhist, 2);
        assert_memory_equal(got.hist, h, sizeof(h));
        member_add_release(&got);
        assert_int_equal(member_decode_add(body, base, &got), -EBADMSG); /* no nhist: old layout */
        assert_int_equal(member_decode_add(body, len - 1, &got), -EBADMSG);
        body[base + 1] = 3; /* more wraps than bytes */
        assert_int_equal(member_decode_add(body, len, &got), -EBADMSG);
        body[base + 1] = 2;
        body[base + 2 + item] = 1; /* the second epoch id equals the first: not ascending */
        assert_int_equal(member_decode_add(body, len, &got), -EBADMSG);
        free(body);
        h[1].epoch_id[0] = 0;
        assert_int_equal(member_body_add(&a, &body, &len), -EINVAL);
        a.nhist = 0;
        a.hist = NULL;
        assert_int_equal(member_body_add(&a, &body, &len), 0);
        assert_int_equal(len, base + 2);
        assert_int_equal(member_decode_add(body, len, &got), 0);
        assert_int_equal(got.nhist, 0);
        assert_null(got.hist);
        member_add_release(&got);

        /* At most MEMBER_MAX_HIST wraps. */
        big = calloc(1, base + 2 + (MEMBER_MAX_HIST + 1) * item);
        assert_non_null(big);
        memcpy(big, body, base);
        for (n = MEMBER_MAX_HIST; n <= MEMBER_MAX_HIST + 1; n++) {
                big[base] = (uint8_t)(n >> 8);
                big[base + 1] = (uint8_t)n;
                for (i = 0; i < n; i++) {
                        big[base + 2 + i * item] = (uint8_t)(i >> 8);
                        big[base + 2 + i * item + 1] = (uint8_t)i;
                }
                assert_int_equal(member_decode_add(big, base + 2 + n * item, &got),
                                 n == MEMBER_MAX_HIST ? 0 : -EBADMSG);
                if (n == MEMBER_MAX_HIST)
                        member_add_release(&got);
        }
        free(big);
        free(body);
}

/* SET_ROLE bodies: 17 bytes (legacy) or 57 (with a cutoff/resume), one encoding per value. */
static void test_set_role_codec(void **state)
{
        struct member_set_role sr, got;
        uint8_t *body = NULL, buf[MEMBER_SET_ROLE_LEN + 1];
        size_t blen = 0;

        (void)state;
        memset(&sr, 0, sizeof(sr));
        memset(sr.device_id, 7, IDENTITY_ID_LEN);
        sr.role = MEMBER_ROLE_READER;
        assert_int_equal(member_body_set_role(&sr, &body, &blen), 0);
        assert_int_equal(blen, MEMBER_SET_ROLE_LEGACY_LEN);
        assert_int_equal(member_decode_set_role(body, blen, &got), 0);
        assert_false(got.has_journal);
        free(body);
        sr.has_journal = 1;
        sr.journal_seq = 0x0102030405060708ull;
        memset(sr.journal_hash, 0xab, 32);
        assert_int_equal(member_body_set_role(&sr, &body, &blen), 0);
        assert_int_equal(blen, MEMBER_SET_ROLE_LEN);
        assert_int_equal(body[16], MEMBER_ROLE_READER);
        assert_int_equal(body[17], 1);
        assert_int_equal(body[24], 8);
        assert_int_equal(body[25], 0xab);
        assert_int_equal(member_decode_set_role(body, blen, &got), 0);
        assert_true(got.has_journal);
        assert_true(got.journal_seq == sr.journal_seq);
        assert_memory_equal(got.journal_hash, sr.journal_hash, 32);
        /* Any other length, a bad role, seq 0 with a hash or a seq without one: refused. */
        memcpy(buf, body, blen);
        buf[blen] = 0;
        assert_int_equal(member_decode_set_role(buf, blen + 1, &got), -EBADMSG);
        assert_int_equal(member_decode_set_role(buf, blen - 1, &got), -EBADMSG);
        assert_int_equal(member_decode_set_role(buf, 18, &got), -EBADMSG);
        buf[16] = MEMBER_ROLE_RECOVERY;
        assert_int_equal(member_decode_set_role(buf, blen, &got), -EBADMSG);
        buf[16] = MEMBER_ROLE_READER;
        memset(buf + 17, 0, 8); /* seq 0, hash not zero */
        assert_int_equal(member_decode_set_role(buf, blen, &got), -EBADMSG);
        memset(buf + 25, 0, 32); /* seq 0, zero hash: none */
        assert_int_equal(member_decode_set_role(buf, blen, &got), 0);
        buf[24] = 3; /* seq 3, zero hash */
        assert_int_equal(member_decode_set_role(buf, blen, &got), -EBADMSG);
        sr.journal_seq = 0;
        assert_int_equal(member_body_set_role(&sr, &body, &blen), -EINVAL);
        free(body);
}

/* A SET_ROLE by A of C to ROLE naming journal entry SEQ (hash byte H; no reference if SEQ < 0). */
static void set_role_at(struct fx *f, int author, int who, uint8_t role, int64_t seq, uint8_t h)
{
        struct member_set_role sr;
        uint8_t *obj = NULL;
        size_t len = 0;

        memset(&sr, 0, sizeof(sr));
        memcpy(sr.device_id, f->id[who]->device_id, IDENTITY_ID_LEN);
        sr.role = role;
        if (seq >= 0) {
                sr.has_journal = 1;
                sr.journal_seq = (uint64_t)seq;
                if (seq > 0)
                        memset(sr.journal_hash, h, 32);
        }
        assert_int_equal(members_build_set_role_body(f->st, f->id[author], &sr, NOW, &obj, &len),
                         0);
        push(f, obj, len);
        assert_int_equal(f->st->alarm, MEMBERS_OK);
}

/* R5: demotion cutoffs, void ranges, legacy bodies, in fold order. */
static void test_demotion_cutoff_standing(void **state)
{
        struct fx *f = *state;
        struct members_standing st;

        usual(f);
        members_standing(f->st, f->id[C]->device_id, &st);
        assert_false(st.cut);
        assert_int_equal(st.nvoid, 0);
        set_role_at(f, A, C, MEMBER_ROLE_READER, 5, 0x55);
        members_standing(f->st, f->id[C]->device_id, &st);
        assert_true(st.cut);
        assert_true(st.cut_seq == 5);
        assert_int_equal(st.cut_hash[0], 0x55);
        /* A second demotion (another admin's, concurrent) keeps the lower cutoff. */
        set_role_at(f, B, C, MEMBER_ROLE_READER, 7, 0x77);
        members_standing(f->st, f->id[C]->device_id, &st);
        assert_true(st.cut && st.cut_seq == 5);
        set_role_at(f, B, C, MEMBER_ROLE_READER, 4, 0x44);
        members_standing(f->st, f->id[C]->device_id, &st);
        assert_true(st.cut && st.cut_seq == 4 && st.cut_hash[0] == 0x44);
        /* Promoted again with resume 9: (4, 9] is void, the cut closed. */
        set_role_at(f, A, C, MEMBER_ROLE_WRITER, 9, 0x99);
        members_standing(f->st, f->id[C]->device_id, &st);
        assert_false(st.cut);
        assert_int_equal(st.nvoid, 1);
        assert_true(st.voids[0].lo_seq == 4 && st.voids[0].lo_hash[0] == 0x44);
        assert_true(st.voids[0].hi_seq == 9 && st.voids[0].hi_hash[0] == 0x99);
        /* Demoted to reader with cutoff 0 from admin, then promoted by a legacy body. */
        set_role_at(f, A, C, MEMBER_ROLE_ADMIN, -1, 0);
        set_role_at(f, A, C, MEMBER_ROLE_READER, 12, 0x12);
        members_standing(f->st, f->id[C]->device_id, &st);
        assert_true(st.cut && st.cut_seq == 12 && st.nvoid == 1);
        set_role_at(f, A, C, MEMBER_ROLE_WRITER, -1, 0);
        members_standing(f->st, f->id[C]->device_id, &st);
        assert_false(st.cut);
        assert_int_equal(st.nvoid, 1);
        /* A legacy demotion has no cutoff: judged by the role, as before R5. */
        set_role_at(f, A, C, MEMBER_ROLE_READER, -1, 0);
        members_standing(f->st, f->id[C]->device_id, &st);
        assert_false(st.cut);
        /* A resume at or below the cutoff voids nothing. */
        set_role_at(f, A, D, MEMBER_ROLE_WRITER, -1, 0);
        set_role_at(f, A, D, MEMBER_ROLE_READER, 3, 0x33);
        set_role_at(f, A, D, MEMBER_ROLE_WRITER, 3, 0x33);
        members_standing(f->st, f->id[D]->device_id, &st);
        assert_false(st.cut);
        assert_int_equal(st.nvoid, 0);
        /* Arriving in the reverse order, the objects fold to the same standing. */
        {
                struct members_obj objs[MAXOBJ];
                struct members_state *s = NULL;
                struct members_standing st2;
                size_t i;

                for (i = 0; i < f->nobj; i++) {
                        objs[i].name = NULL;
                        objs[i].buf = f->bufs[f->nobj - 1 - i];
                        objs[i].len = f->lens[f->nobj - 1 - i];
                }
                assert_int_equal(
                    members_fold(f->genesis, f->genesis_len, f->ri.genesis_hash, objs, f->nobj, &s),
                    0);
                members_standing(s, f->id[C]->device_id, &st2);
                members_standing(f->st, f->id[C]->device_id, &st);
                assert_memory_equal(&st, &st2, sizeof(st));
                members_state_free(s);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_rotate_and_history, setup, teardown),
            cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
            cmocka_unit_test_setup_teardown(test_remove_authority, setup, teardown),
            cmocka_unit_test_setup_teardown(test_set_role_and_policy, setup, teardown),
            cmocka_unit_test_setup_teardown(test_hostile_rotations, setup, teardown),
            cmocka_unit_test_setup_teardown(test_forged_membership_changes, setup, teardown),
            cmocka_unit_test_setup_teardown(test_concurrent_remove_is_sticky, setup, teardown),
            cmocka_unit_test_setup_teardown(test_concurrent_rotate_and_add, setup, teardown),
            cmocka_unit_test_setup_teardown(test_writer_rotation_concurrent_with_admin, setup,
                                            teardown),
            cmocka_unit_test_setup_teardown(test_invalid_entry_hides_nothing, setup, teardown),
            cmocka_unit_test_setup_teardown(test_taint_follows_links, setup, teardown),
            cmocka_unit_test_setup_teardown(test_demotion_is_sticky, setup, teardown),
            cmocka_unit_test_setup_teardown(test_seniority_is_when_admin, setup, teardown),
            cmocka_unit_test_setup_teardown(test_future_epoch_is_stale, setup, teardown),
            cmocka_unit_test_setup_teardown(test_recovery_added_by_admin_only, setup, teardown),
            cmocka_unit_test_setup_teardown(test_recovery_authors, setup, teardown),
            cmocka_unit_test_setup_teardown(test_policy_history_codec, setup, teardown),
            cmocka_unit_test_setup_teardown(test_rotation_link_codec, setup, teardown),
            cmocka_unit_test_setup_teardown(test_no_link_stops_history, setup, teardown),
            cmocka_unit_test_setup_teardown(test_history_wraps_same_owner, setup, teardown),
            cmocka_unit_test_setup_teardown(test_history_wraps_refused, setup, teardown),
            cmocka_unit_test_setup_teardown(test_add_hist_codec, setup, teardown),
            cmocka_unit_test(test_set_role_codec),
            cmocka_unit_test_setup_teardown(test_demotion_cutoff_standing, setup, teardown),
        };

        if (secmem_init() != 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
