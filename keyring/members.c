/*
 * The membership fold; see members.h and doc/FORMAT-keyring.md "The fold".
 *
 * Order: candidates are sorted by (height, hash) and applied one by one.
 * Heights strictly grow along parent links (height = 1 + max parent
 * height), so every parent of an entry sorts before it; the order only
 * decides which of two concurrent entries is looked at first, and with
 * ADD_DEVICE as the only non-GENESIS type, concurrent adds commute (the
 * re-use check is order-independent: it fails whichever comes second).
 * Authority is judged on the entry's ancestry, not on the fold order: the
 * author must have been added by an ancestor of the entry.
 */
#include "keyring/members.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "crypto/hash.h"
#include "crypto/secmem.h"
#include "crypto/wrap.h"
#include "util/hex.h"
#include "util/log.h"

/* members_apply's results besides 0 (applied) and -errno. */
#define MEMBERS_SKIPPED 1
#define MEMBERS_STOPPED 2

const char *members_alarm_name(enum members_alarm alarm)
{
        switch (alarm) {
        case MEMBERS_OK:
                return "ok";
        case MEMBERS_UNKNOWN_PARENT:
                return "unknown-parent";
        case MEMBERS_BAD_HEIGHT:
                return "bad-height";
        case MEMBERS_UNAUTHORISED:
                return "unauthorised-author";
        case MEMBERS_BAD_REVERSE_SIG:
                return "bad-reverse-signature";
        case MEMBERS_REUSED_DEVICE:
                return "reused-device";
        case MEMBERS_WRONG_EPOCH:
                return "wrong-epoch";
        case MEMBERS_BAD_ENTRY:
                return "malformed-signed-entry";
        case MEMBERS_UNSUPPORTED:
                return "unsupported-entry";
        case MEMBERS_TOO_MANY:
                return "too-many-entries";
        }
        return "unknown";
}

void members_entry_name(const struct member_entry *e, char out[static MEMBERS_NAME_LEN + 1])
{
        char hex[2 * MEMBER_HASH_LEN + 1];

        hex_encode(hex, e->hash, MEMBER_HASH_LEN);
        snprintf(out, MEMBERS_NAME_LEN + 1, "%016llx-%s", (unsigned long long)e->height, hex);
}

void members_state_free(struct members_state *s)
{
        size_t i;

        if (s == NULL)
                return;
        for (i = 0; i < s->nentries; i++) {
                member_entry_free(s->entries[i]);
                free(s->parents_idx[i]);
        }
        free(s->entries);
        free(s->parents_idx);
        free(s->members);
        free(s->wraps);
        free(s->added_by);
        free(s->heads);
        free(s->skips);
        free(s);
}

static ssize_t members_index(const struct members_state *s,
                             const uint8_t device_id[static IDENTITY_ID_LEN])
{
        size_t i;

        for (i = 0; i < s->nmembers; i++)
                if (memcmp(s->members[i].device_id, device_id, IDENTITY_ID_LEN) == 0)
                        return (ssize_t)i;
        return -1;
}

const struct member_device *members_find(const struct members_state *s,
                                         const uint8_t device_id[static IDENTITY_ID_LEN])
{
        ssize_t i = members_index(s, device_id);

        return i < 0 ? NULL : &s->members[i];
}

const struct member_entry *members_added_by(const struct members_state *s,
                                            const uint8_t device_id[static IDENTITY_ID_LEN])
{
        ssize_t i = members_index(s, device_id);

        return i < 0 ? NULL : s->entries[s->added_by[i]];
}

int members_may_add(const struct member_device *author, const char *owner, uint8_t role)
{
        /* RECOVERY devices come from their own setup, never from an ADD. */
        if (role < MEMBER_ROLE_READER || role > MEMBER_ROLE_ADMIN)
                return 0;
        if (author->role == MEMBER_ROLE_ADMIN || author->role == MEMBER_ROLE_RECOVERY)
                return 1;
        /* Any member enrolls its own owner's further devices, with a role no higher
         * than its own (a reader's new device is a reader). */
        return (author->role == MEMBER_ROLE_WRITER || author->role == MEMBER_ROLE_READER) &&
               strcmp(author->owner, owner) == 0 && role <= author->role;
}

/* 1 if a device id or key of D is already a member's. */
static int members_seen(const struct members_state *s, const struct member_device *d)
{
        size_t i;

        for (i = 0; i < s->nmembers; i++) {
                const struct member_device *m = &s->members[i];

                if (memcmp(m->device_id, d->device_id, IDENTITY_ID_LEN) == 0 ||
                    memcmp(m->sign_pk, d->sign_pk, 32) == 0 ||
                    memcmp(m->box_pk, d->box_pk, 32) == 0)
                        return 1;
        }
        return 0;
}

static ssize_t members_entry_index(const struct members_state *s,
                                   const uint8_t hash[static MEMBER_HASH_LEN])
{
        size_t i;

        for (i = 0; i < s->nentries; i++)
                if (memcmp(s->entries[i]->hash, hash, MEMBER_HASH_LEN) == 0)
                        return (ssize_t)i;
        return -1;
}

/* 1 if entries[WANT] is one of PARENTS (N indices) or an ancestor of one. */
static int members_is_ancestor(const struct members_state *s, size_t want, const size_t *parents,
                               size_t n)
{
        uint8_t *seen = calloc(s->nentries, 1);
        size_t *stack = calloc(s->nentries + n, sizeof(*stack));
        size_t top = 0, i, cur;
        int found = 0;

        if (seen == NULL || stack == NULL) {
                found = -ENOMEM;
                goto out;
        }
        for (i = 0; i < n; i++)
                stack[top++] = parents[i];
        while (top > 0 && !found) {
                cur = stack[--top];
                if (seen[cur])
                        continue;
                seen[cur] = 1;
                if (cur == want) {
                        found = 1;
                        break;
                }
                for (i = 0; i < s->entries[cur]->nparents; i++)
                        if (!seen[s->parents_idx[cur][i]])
                                stack[top++] = s->parents_idx[cur][i];
        }
out:
        free(stack);
        free(seen);
        return found;
}

/* Logs and counts a junk object; remembers the first MEMBERS_MAX_SKIPS (if memory allows). */
static void members_log_skip(struct members_state *s, const char *name, const char *why)
{
        struct members_skip *k;
        size_t i;

        log_warn("membership object %s: %s; skipped", name != NULL ? name : "(unnamed)", why);
        s->nskipped++;
        if (s->nskips >= MEMBERS_MAX_SKIPS)
                return;
        k = realloc(s->skips, (s->nskips + 1) * sizeof(*k));
        if (k == NULL)
                return; /* the count stays right; only the name is lost */
        s->skips = k;
        k = &s->skips[s->nskips++];
        if (name == NULL)
                name = "(unnamed)";
        for (i = 0; i < MEMBERS_NAME_LEN && name[i] != '\0'; i++)
                k->name[i] = (name[i] >= 0x21 && name[i] <= 0x7e) ? name[i] : '?';
        k->name[i] = '\0';
        k->why = why;
}

/*
 * Resolves E's parents into *IDX (malloc'd) and checks its height.
 * Returns 0, MEMBERS_STOPPED with *ALARM, or -ENOMEM.
 */
static int members_parents(const struct members_state *s, const struct member_entry *e,
                           size_t **idx, enum members_alarm *alarm)
{
        size_t *v = calloc(e->nparents, sizeof(*v));
        uint64_t maxh = 0;
        size_t i, j;
        ssize_t k;

        if (v == NULL)
                return -ENOMEM;
        for (i = 0; i < e->nparents; i++) {
                k = members_entry_index(s, e->parents[i]);
                if (k < 0) {
                        *alarm = MEMBERS_UNKNOWN_PARENT;
                        goto stop;
                }
                for (j = 0; j < i; j++)
                        if (v[j] == (size_t)k) {
                                *alarm = MEMBERS_BAD_HEIGHT; /* a repeated parent */
                                goto stop;
                        }
                v[i] = (size_t)k;
                if (s->entries[k]->height > maxh)
                        maxh = s->entries[k]->height;
        }
        if (e->height != maxh + 1) {
                *alarm = MEMBERS_BAD_HEIGHT;
                goto stop;
        }
        *idx = v;
        return 0;
stop:
        free(v);
        return MEMBERS_STOPPED;
}

/* Checks the ADD_DEVICE body of E (author AUTHOR) against S into *ADD. */
static enum members_alarm members_check_add(const struct members_state *s,
                                            const struct member_entry *e,
                                            const struct member_device *author,
                                            struct member_add *add)
{
        uint8_t id[IDENTITY_ID_LEN];

        if (e->type != MEMBER_ADD_DEVICE)
                return MEMBERS_UNSUPPORTED;
        if (member_decode_add(e->body, e->body_len, add) != 0)
                return MEMBERS_BAD_ENTRY;
        identity_device_id(add->device.sign_pk, add->device.box_pk, id);
        if (memcmp(id, add->device.device_id, IDENTITY_ID_LEN) != 0)
                return MEMBERS_BAD_ENTRY;
        if (members_seen(s, &add->device))
                return MEMBERS_REUSED_DEVICE;
        if (!members_may_add(author, add->device.owner, add->device.role))
                return MEMBERS_UNAUTHORISED;
        if (member_verify_self(add->self_sig, s->region_id, &add->device) != 0)
                return MEMBERS_BAD_REVERSE_SIG;
        if (memcmp(add->epoch_id, s->epoch_id, MEMBER_HASH_LEN) != 0)
                return MEMBERS_WRONG_EPOCH;
        return MEMBERS_OK;
}

static int members_hash_cmp(const void *a, const void *b)
{
        return memcmp(a, b, MEMBER_HASH_LEN);
}

/* Appends E (owned by S from now on) with its ADD body and parent indices. */
static void members_append(struct members_state *s, struct member_entry *e,
                           const struct member_add *add, size_t *pidx)
{
        size_t i, j, idx = s->nentries;

        s->entries[idx] = e;
        s->parents_idx[idx] = pidx;
        s->nentries++;
        s->members[s->nmembers] = add->device;
        memcpy(s->wraps[s->nmembers].device_id, add->device.device_id, IDENTITY_ID_LEN);
        memcpy(s->wraps[s->nmembers].wrap, add->wrap, WRAP_LEN);
        s->added_by[s->nmembers] = idx;
        s->nmembers++;
        /* Heads: drop the parents, add E. */
        for (i = 0; i < s->nheads;) {
                int parent = 0;

                for (j = 0; j < e->nparents; j++)
                        if (memcmp(s->heads[i], e->parents[j], MEMBER_HASH_LEN) == 0)
                                parent = 1;
                if (parent) {
                        memmove(s->heads[i], s->heads[i + 1],
                                (s->nheads - i - 1) * sizeof(s->heads[0]));
                        s->nheads--;
                } else {
                        i++;
                }
        }
        memcpy(s->heads[s->nheads++], e->hash, MEMBER_HASH_LEN);
        qsort(s->heads, s->nheads, sizeof(s->heads[0]), members_hash_cmp);
        if (e->height > s->height)
                s->height = e->height;
}

/*
 * Applies candidate E (named NAME) to S.  Returns 0 (applied; S owns E),
 * MEMBERS_SKIPPED (junk), MEMBERS_STOPPED (S->alarm set) or -ENOMEM.
 */
static int members_apply(struct members_state *s, struct member_entry *e, const char *name)
{
        enum members_alarm alarm = MEMBERS_OK;
        char own[MEMBERS_NAME_LEN + 1];
        struct member_add add;
        ssize_t author;
        size_t *pidx = NULL;
        int rc;

        author = members_index(s, e->author);
        if (author < 0) {
                members_log_skip(s, name, "its author is not an active member");
                return MEMBERS_SKIPPED;
        }
        if (member_verify_sig(e, s->members[author].sign_pk) != 0) {
                members_log_skip(s, name, "bad signature");
                return MEMBERS_SKIPPED;
        }
        /* Validly signed by a member from here on: failures stop the fold. */
        rc = members_parents(s, e, &pidx, &alarm);
        if (rc < 0)
                return rc;
        if (rc == 0) {
                rc = members_is_ancestor(s, s->added_by[author], pidx, e->nparents);
                if (rc < 0) {
                        free(pidx);
                        return rc;
                }
                alarm = rc == 1 ? members_check_add(s, e, &s->members[author], &add)
                                : MEMBERS_UNAUTHORISED;
        }
        if (alarm != MEMBERS_OK) {
                free(pidx);
                s->alarm = alarm;
                memcpy(s->alarm_hash, e->hash, MEMBER_HASH_LEN);
                members_entry_name(e, own);
                log_err("the membership log stops at entry %s: %s", name != NULL ? name : own,
                        members_alarm_name(alarm));
                return MEMBERS_STOPPED;
        }
        members_append(s, e, &add, pidx);
        return 0;
}

/* A new state holding the verified GENESIS G (taken over) with room for EXTRA entries. */
static int members_state_new(struct member_entry *g, size_t extra, struct members_state **out)
{
        struct members_state *s = calloc(1, sizeof(*s));
        size_t cap = g->genesis.nmembers + extra, i;
        const struct member_wrap *w;

        if (s == NULL)
                return -ENOMEM;
        s->entries = calloc(extra + 1, sizeof(*s->entries));
        s->parents_idx = calloc(extra + 1, sizeof(*s->parents_idx));
        s->heads = calloc(extra + 1, sizeof(*s->heads));
        s->members = calloc(cap, sizeof(*s->members));
        s->wraps = calloc(cap, sizeof(*s->wraps));
        s->added_by = calloc(cap, sizeof(*s->added_by));
        if (s->entries == NULL || s->parents_idx == NULL || s->heads == NULL ||
            s->members == NULL || s->wraps == NULL || s->added_by == NULL) {
                members_state_free(s);
                return -ENOMEM;
        }
        memcpy(s->region_id, g->region_id, 32);
        memcpy(s->genesis_hash, g->hash, MEMBER_HASH_LEN);
        memcpy(s->epoch_id, g->hash, MEMBER_HASH_LEN); /* GENESIS's epoch id = its hash */
        memcpy(s->key_check, g->genesis.epoch.key_check, 32);
        s->suite = g->genesis.suite;
        s->block_size = g->genesis.block_size;
        for (i = 0; i < g->genesis.nmembers; i++) {
                s->members[i] = g->genesis.members[i];
                /* member_verify_genesis: exactly one wrap per member. */
                w = member_find_wrap(&g->genesis.epoch, g->genesis.members[i].device_id);
                if (w == NULL) {
                        members_state_free(s);
                        return -EBADMSG;
                }
                s->wraps[i] = *w;
                s->added_by[i] = 0;
        }
        s->nmembers = g->genesis.nmembers;
        s->entries[0] = g;
        s->nentries = 1;
        memcpy(s->heads[0], g->hash, MEMBER_HASH_LEN);
        s->nheads = 1;
        *out = s;
        return 0;
}

struct members_cand {
        struct member_entry *e;
        const char *name;
};

static int members_cand_cmp(const void *a, const void *b)
{
        const struct members_cand *x = a, *y = b;

        if (x->e->height != y->e->height)
                return x->e->height < y->e->height ? -1 : 1;
        return memcmp(x->e->hash, y->e->hash, MEMBER_HASH_LEN);
}

/*
 * Decodes OBJ into a candidate *E.  Returns 0 (*E NULL for junk, logged),
 * 1 for a copy of the pinned GENESIS, or -ENOMEM.
 */
static int members_candidate(struct members_state *s, const struct members_obj *obj,
                             struct member_entry **e)
{
        char want[MEMBERS_NAME_LEN + 1];
        uint8_t hash[MEMBER_HASH_LEN];
        int rc;

        *e = NULL;
        if (obj->len > MEMBER_MAX_ENTRY) {
                members_log_skip(s, obj->name, "too large");
                return 0;
        }
        hash_blake2b(hash, obj->buf, obj->len);
        if (memcmp(hash, s->genesis_hash, MEMBER_HASH_LEN) == 0)
                return 1; /* the pinned GENESIS itself: not junk */
        rc = member_decode(obj->buf, obj->len, e);
        if (rc == -ENOMEM)
                return rc;
        if (rc != 0) {
                members_log_skip(s, obj->name, "malformed");
                return 0;
        }
        if (obj->name != NULL) {
                members_entry_name(*e, want);
                if (strcmp(want, obj->name) != 0) {
                        members_log_skip(s, obj->name, "its name does not match its bytes");
                        goto junk;
                }
        }
        if (memcmp((*e)->region_id, s->region_id, 32) != 0) {
                members_log_skip(s, obj->name, "it names another region");
                goto junk;
        }
        if ((*e)->type == MEMBER_GENESIS) {
                members_log_skip(s, obj->name, "a second GENESIS for this region");
                goto junk;
        }
        return 0;
junk:
        member_entry_free(*e);
        *e = NULL;
        return 0;
}

/* Decodes the pinned GENESIS into *OUT. */
static int members_genesis(const uint8_t *buf, size_t len,
                           const uint8_t pin[static MEMBER_HASH_LEN], struct member_entry **out)
{
        uint8_t hash[MEMBER_HASH_LEN];
        int rc;

        if (len > MEMBER_MAX_ENTRY)
                return -EBADMSG;
        hash_blake2b(hash, buf, len);
        if (memcmp(hash, pin, MEMBER_HASH_LEN) != 0)
                return -EBADMSG;
        rc = member_decode(buf, len, out);
        if (rc != 0)
                return rc;
        rc = member_verify_genesis(*out);
        if (rc != 0) {
                member_entry_free(*out);
                *out = NULL;
        }
        return rc;
}

int members_fold(const uint8_t *genesis, size_t genesis_len,
                 const uint8_t pin[static MEMBER_HASH_LEN], const struct members_obj *objs,
                 size_t n, struct members_state **out)
{
        struct members_state *s = NULL;
        struct members_cand *c = NULL;
        struct member_entry *g = NULL;
        uint8_t prev[MEMBER_HASH_LEN];
        size_t nc = 0, i;
        int rc;

        rc = members_genesis(genesis, genesis_len, pin, &g);
        if (rc != 0)
                return rc;
        rc = members_state_new(g, n > MEMBERS_MAX_ENTRIES ? 0 : n, &s);
        if (rc != 0) {
                member_entry_free(g);
                return rc;
        }
        if (n > MEMBERS_MAX_ENTRIES) {
                log_err("the membership log has more than %d objects", MEMBERS_MAX_ENTRIES);
                s->alarm = MEMBERS_TOO_MANY;
                goto done;
        }
        c = calloc(n > 0 ? n : 1, sizeof(*c));
        if (c == NULL) {
                rc = -ENOMEM;
                goto fail;
        }
        for (i = 0; i < n; i++) {
                rc = members_candidate(s, &objs[i], &c[nc].e);
                if (rc < 0)
                        goto fail;
                if (rc == 1)
                        continue;
                if (c[nc].e == NULL)
                        continue; /* junk, counted by members_log_skip */
                c[nc++].name = objs[i].name;
        }
        qsort(c, nc, sizeof(*c), members_cand_cmp);
        for (i = 0; i < nc && s->alarm == MEMBERS_OK; i++) {
                /* The same object twice (store and cache): C[i-1].e may be S's now. */
                if (i > 0 && memcmp(c[i].e->hash, prev, MEMBER_HASH_LEN) == 0)
                        continue;
                memcpy(prev, c[i].e->hash, MEMBER_HASH_LEN);
                rc = members_apply(s, c[i].e, c[i].name);
                if (rc < 0)
                        goto fail;
                if (rc == 0)
                        c[i].e = NULL; /* owned by S; MEMBERS_SKIPPED was counted */
        }
        for (i = 0; i < nc; i++)
                member_entry_free(c[i].e);
        free(c);
done:
        *out = s;
        return 0;
fail:
        for (i = 0; c != NULL && i < nc; i++)
                member_entry_free(c[i].e);
        free(c);
        members_state_free(s);
        return rc;
}

int members_unlock(const struct members_state *s, const struct identity *id, uint8_t key[static 32])
{
        uint8_t ctx[WRAP_CTX_LEN], check[32];
        uint8_t *tmp;
        ssize_t i;
        int rc;

        if (id->box_sk == NULL)
                return -EINVAL;
        i = members_index(s, id->device_id);
        if (i < 0)
                return -EACCES;
        rc = member_wrap_ctx(ctx, s->region_id, id->device_id, s->key_check);
        if (rc != 0)
                return rc;
        tmp = secmem_alloc(32);
        if (tmp == NULL)
                return -ENOMEM;
        rc = wrap_open(tmp, s->wraps[i].wrap, ctx, id->box_pk, id->box_sk);
        if (rc == 0)
                rc = member_key_check(check, tmp);
        /* Key commitment: the sealed box does not commit to the key it carries. */
        if (rc == 0 && !secmem_equal(check, s->key_check, sizeof(check)))
                rc = -EBADMSG;
        if (rc == 0)
                memcpy(key, tmp, 32);
        secmem_free(tmp);
        return rc == -ENOMEM ? rc : rc != 0 ? -EBADMSG : 0;
}

/* Re-folds S's entries plus the new one (BUF, LEN): 0 if it applies cleanly. */
static int members_recheck(const struct members_state *s, const uint8_t *buf, size_t len)
{
        struct members_obj *objs = calloc(s->nentries, sizeof(*objs));
        struct members_state *t = NULL;
        uint8_t hash[MEMBER_HASH_LEN];
        size_t i;
        int rc;

        if (objs == NULL)
                return -ENOMEM;
        for (i = 1; i < s->nentries; i++) {
                objs[i - 1].buf = s->entries[i]->raw;
                objs[i - 1].len = s->entries[i]->raw_len;
        }
        objs[s->nentries - 1].buf = buf;
        objs[s->nentries - 1].len = len;
        rc = members_fold(s->entries[0]->raw, s->entries[0]->raw_len, s->genesis_hash, objs,
                          s->nentries, &t);
        free(objs);
        if (rc != 0)
                return rc;
        hash_blake2b(hash, buf, len);
        rc = t->alarm == MEMBERS_OK && members_entry_index(t, hash) >= 0 ? 0 : -EPERM;
        members_state_free(t);
        return rc;
}

/* Checks that AUTHOR may add NEWDEV to S (members_build_add's errors). */
static int members_add_allowed(const struct members_state *s, const struct identity *author,
                               const struct member_device *newdev,
                               const uint8_t self_sig[static 64])
{
        const struct member_device *a = members_find(s, author->device_id);
        uint8_t id[IDENTITY_ID_LEN];

        if (s->alarm != MEMBERS_OK || a == NULL || !members_may_add(a, newdev->owner, newdev->role))
                return -EPERM;
        identity_device_id(newdev->sign_pk, newdev->box_pk, id);
        if (memcmp(id, newdev->device_id, IDENTITY_ID_LEN) != 0)
                return -EINVAL;
        if (members_seen(s, newdev))
                return -EEXIST;
        if (member_verify_self(self_sig, s->region_id, newdev) != 0)
                return -EBADMSG;
        if (s->nheads > MEMBER_MAX_PARENTS)
                return -E2BIG;
        return 0;
}

int members_build_add(const struct members_state *s, const struct identity *author,
                      const struct member_device *newdev, const uint8_t self_sig[static 64],
                      const uint8_t epoch_key[static 32], uint64_t now, uint8_t **out,
                      size_t *out_len, struct member_entry **entry)
{
        struct member_entry *e = NULL;
        uint8_t ctx[WRAP_CTX_LEN], check[32];
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc;

        if (author->sign_sk == NULL)
                return -EINVAL;
        rc = members_add_allowed(s, author, newdev, self_sig);
        if (rc != 0)
                return rc;
        /* Never wrap a key that is not the current epoch's. */
        rc = member_key_check(check, epoch_key);
        if (rc != 0)
                return rc;
        if (!secmem_equal(check, s->key_check, sizeof(check)))
                return -EINVAL;
        e = calloc(1, sizeof(*e));
        if (e == NULL)
                return -ENOMEM;
        e->parents = calloc(s->nheads, MEMBER_HASH_LEN);
        if (e->parents == NULL) {
                rc = -ENOMEM;
                goto out;
        }
        e->version = MEMBER_VERSION;
        e->type = MEMBER_ADD_DEVICE;
        memcpy(e->region_id, s->region_id, 32);
        e->height = s->height + 1; /* the highest entry is always a head */
        e->time = now;
        memcpy(e->parents, s->heads, s->nheads * MEMBER_HASH_LEN);
        e->nparents = s->nheads;
        memcpy(e->author, author->device_id, IDENTITY_ID_LEN);
        e->add.device = *newdev;
        memcpy(e->add.self_sig, self_sig, MEMBER_SIG_LEN);
        memcpy(e->add.epoch_id, s->epoch_id, MEMBER_HASH_LEN);
        rc = member_wrap_ctx(ctx, s->region_id, newdev->device_id, s->key_check);
        if (rc == 0)
                rc = wrap_seal(e->add.wrap, epoch_key, ctx, newdev->box_pk);
        if (rc == 0)
                rc = member_encode(e, author->sign_sk, &buf, &len);
        if (rc == 0)
                rc = members_recheck(s, buf, len);
        if (rc != 0)
                goto out;
        *out = buf;
        *out_len = len;
        buf = NULL;
        if (entry != NULL) {
                *entry = e;
                e = NULL;
        }
out:
        free(buf);
        member_entry_free(e);
        return rc;
}
