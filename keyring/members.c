/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The membership fold; see members.h and doc/FORMAT-keyring.md "The fold".
 *
 * Order: candidates are sorted by (height, hash) and applied one by one.
 * Heights strictly grow along parent links (height = 1 + max parent
 * height), so every parent of an entry sorts before it; the order only
 * decides which of two concurrent entries is looked at first.  Authority
 * is judged on the entry's ancestry for the author's membership (the
 * author must have been added by an ancestor of the entry) and on the
 * state at that point of the fold for roles.
 *
 * Sticky removal: once a REMOVE_DEVICE of X applies, every entry by X
 * that is not an ancestor of that REMOVE is void (a DAG node without
 * effect).  Whether an entry of X is an ancestor of its removal is only
 * known once the removal is seen, and the removal may sort after the
 * entry, so the fold runs in passes: each pass voids by the removals the
 * previous pass applied, until the set of applied removals is stable.
 */
#include "keyring/members.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "crypto/hash.h"
#include "crypto/kdf.h"
#include "crypto/secmem.h"
#include "crypto/wrap.h"
#include "util/hex.h"
#include "util/log.h"

#define MEMBERS_CLOCK_SKEW (24u * 3600u) /* seconds an epoch may be dated ahead of us */

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
        case MEMBERS_BAD_RECIPIENTS:
                return "bad-recipients";
        case MEMBERS_NO_CONVERGENCE:
                return "removals-do-not-converge";
        case MEMBERS_BAD_HISTORY:
                return "bad-history";
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
        for (i = 0; i < s->nepochs; i++)
                free(s->epochs[i].wraps);
        free(s->entries);
        free(s->parents_idx);
        free(s->voided);
        free(s->members);
        free(s->added_by);
        free(s->since);
        free(s->demoted);
        free(s->roles);
        free(s->removed);
        free(s->epochs);
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

const struct members_removed *members_find_removed(const struct members_state *s,
                                                   const uint8_t device_id[static IDENTITY_ID_LEN])
{
        size_t i;

        for (i = 0; i < s->nremoved; i++)
                if (memcmp(s->removed[i].device.device_id, device_id, IDENTITY_ID_LEN) == 0)
                        return &s->removed[i];
        return NULL;
}

static ssize_t members_epoch_index(const struct members_state *s,
                                   const uint8_t epoch_id[static MEMBER_HASH_LEN])
{
        size_t i;

        for (i = 0; i < s->nepochs; i++)
                if (memcmp(s->epochs[i].id, epoch_id, MEMBER_HASH_LEN) == 0)
                        return (ssize_t)i;
        return -1;
}

const struct members_epoch *members_find_epoch(const struct members_state *s,
                                               const uint8_t epoch_id[static MEMBER_HASH_LEN])
{
        ssize_t i = members_epoch_index(s, epoch_id);

        return i < 0 ? NULL : &s->epochs[i];
}

/* 1 if epoch EP is older than S's max_key_age at NOW (or dated far after NOW). */
static int members_epoch_stale(const struct members_state *s, const struct members_epoch *ep,
                               uint64_t now)
{
        if (s->max_key_age == 0)
                return 0;
        /* An epoch dated far in the future (an author's clock, or a lie) is stale: it
         * must not switch the policy off. */
        if (ep->time > now)
                return ep->time - now > MEMBERS_CLOCK_SKEW;
        return now - ep->time >= s->max_key_age;
}

int members_key_stale(const struct members_state *s, uint64_t now)
{
        return members_epoch_stale(s, &s->epochs[s->cur], now);
}

int members_may_add(const struct member_device *author, const char *owner, uint8_t role)
{
        /* The recovery key is set up by an admin (`recovery-key`), by nobody else;
         * that the region has no active RECOVERY yet is members_recovery's part. */
        if (role == MEMBER_ROLE_RECOVERY)
                return author->role == MEMBER_ROLE_ADMIN;
        if (role < MEMBER_ROLE_READER || role > MEMBER_ROLE_ADMIN)
                return 0;
        if (author->role == MEMBER_ROLE_ADMIN || author->role == MEMBER_ROLE_RECOVERY)
                return 1;
        /* Any member enrolls its own owner's further devices, with a role no higher
         * than its own (a reader's new device is a reader). */
        return (author->role == MEMBER_ROLE_WRITER || author->role == MEMBER_ROLE_READER) &&
               strcmp(author->owner, owner) == 0 && role <= author->role;
}

const struct member_device *members_recovery(const struct members_state *s)
{
        size_t i;

        for (i = 0; i < s->nmembers; i++)
                if (s->members[i].role == MEMBER_ROLE_RECOVERY)
                        return &s->members[i];
        return NULL;
}

/* Removal order (DESIGN-NOTES): RECOVERY first, then admins by seniority, then the rest. */
static uint64_t members_rank(const struct members_state *s, const struct member_device *d)
{
        if (d->role == MEMBER_ROLE_RECOVERY)
                return 0;
        if (d->role == MEMBER_ROLE_ADMIN)
                return 1 + s->since[d - s->members];
        return UINT64_MAX;
}

/* The most senior active admin of S (not RECOVERY), or NULL. */
static const struct member_device *members_senior_admin(const struct members_state *s)
{
        const struct member_device *best = NULL;
        size_t i;

        for (i = 0; i < s->nmembers; i++)
                if (s->members[i].role == MEMBER_ROLE_ADMIN &&
                    (best == NULL || members_rank(s, &s->members[i]) < members_rank(s, best)))
                        best = &s->members[i];
        return best;
}

/*
 * 1 if AUTHOR may add a device of OWNER with ROLE to S as it is: at most one
 * RECOVERY, and only the most senior admin adds it (RECOVERY tops the removal
 * order: a junior admin must not put a device of its own choosing above its
 * seniors).
 */
static int members_may_add_now(const struct members_state *s, const struct member_device *author,
                               const char *owner, uint8_t role)
{
        return members_may_add(author, owner, role) &&
               (role != MEMBER_ROLE_RECOVERY ||
                (members_recovery(s) == NULL && members_senior_admin(s) == author));
}

static int members_is_admin(const struct member_device *d)
{
        return d->role == MEMBER_ROLE_ADMIN || d->role == MEMBER_ROLE_RECOVERY;
}

int members_may_remove(const struct members_state *s, const struct member_device *author,
                       const struct member_device *target)
{
        return members_is_admin(author) && author != target &&
               members_rank(s, author) < members_rank(s, target);
}

int members_may_rotate(const struct members_state *s, const struct member_device *author,
                       uint64_t now)
{
        return members_is_admin(author) ||
               (author->role == MEMBER_ROLE_WRITER && members_key_stale(s, now));
}

/* 1 if a device id or key of D is already a member's or a removed device's. */
static int members_seen(const struct members_state *s, const struct member_device *d)
{
        size_t i;

        for (i = 0; i < s->nmembers + s->nremoved; i++) {
                const struct member_device *m =
                    i < s->nmembers ? &s->members[i] : &s->removed[i - s->nmembers].device;

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

int members_has_entry(const struct members_state *s, const uint8_t hash[static MEMBER_HASH_LEN])
{
        return members_entry_index(s, hash) >= 0;
}

/* Pushes entry I on STACK unless SEEN: each entry at most once, so nentries bound TOP. */
static void members_push_unseen(uint8_t *seen, size_t *stack, size_t *top, size_t i)
{
        if (!seen[i]) {
                seen[i] = 1;
                stack[(*top)++] = i;
        }
}

/* 1 if entries[WANT] is one of PARENTS (N indices) or an ancestor of one. */
static int members_is_ancestor(const struct members_state *s, size_t want, const size_t *parents,
                               size_t n)
{
        uint8_t *seen = calloc(s->nentries, 1);
        size_t *stack = calloc(s->nentries, sizeof(*stack));
        size_t top = 0, i, cur;
        int found = 0;

        if (seen == NULL || stack == NULL) {
                found = -ENOMEM;
                goto out;
        }
        /* Marked when pushed (not when popped): an entry reached through two children
         * (a hostile store's DAG of merges) is never on the stack twice. */
        for (i = 0; i < n; i++)
                members_push_unseen(seen, stack, &top, parents[i]);
        while (top > 0) {
                cur = stack[--top];
                if (cur == want) {
                        found = 1;
                        break;
                }
                for (i = 0; i < s->entries[cur]->nparents; i++)
                        members_push_unseen(seen, stack, &top, s->parents_idx[cur][i]);
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

/* What an entry does to the state, decoded and checked by members_check. */
struct members_effect {
        struct member_add add;
        size_t add_epoch; /* index of the epoch ADD's wrap belongs to */
        struct member_remove rm;
        struct member_rotation rot; /* ROTATE_KEY's (REMOVE_DEVICE's is rm.rot) */
        struct member_set_role sr;
        struct member_policy po;
        int taints;         /* the rotation wraps to a removed device */
        const size_t *pidx; /* the entry's parents (indices), for the checks */
        size_t nparents;
};

static void members_effect_release(struct members_effect *f)
{
        member_rotation_release(&f->rm.rot);
        member_rotation_release(&f->rot);
        member_add_release(&f->add);
}

int members_owner_active(const struct members_state *s, const char *owner)
{
        size_t i;

        for (i = 0; i < s->nmembers; i++)
                if (strcmp(s->members[i].owner, owner) == 0)
                        return 1;
        return 0;
}

/* 1 if an active device of OWNER holds a wrap of EP. */
static int members_owner_wrapped(const struct members_state *s, const struct members_epoch *ep,
                                 const char *owner)
{
        const struct member_device *d;
        size_t i;

        for (i = 0; i < ep->nwraps; i++) {
                d = members_find(s, ep->wraps[i].device_id);
                if (d != NULL && strcmp(d->owner, owner) == 0)
                        return 1;
        }
        return 0;
}

/*
 * The epochs OWNER's active devices can reach into *OUT (malloc'd, one flag
 * per epoch): their wraps, and the history links from those (links point to
 * earlier epochs, so one pass from the newest down closes the set).
 * Returns 0 or -ENOMEM.
 */
static int members_owner_reach(const struct members_state *s, const char *owner, uint8_t **out)
{
        uint8_t *reach = calloc(s->nepochs, 1);
        ssize_t p;
        size_t i;

        if (reach == NULL)
                return -ENOMEM;
        for (i = 0; i < s->nepochs; i++)
                reach[i] = (uint8_t)members_owner_wrapped(s, &s->epochs[i], owner);
        for (i = s->nepochs; i-- > 0;) {
                if (!reach[i] || !s->epochs[i].has_link)
                        continue;
                p = members_epoch_index(s, s->epochs[i].prev_id);
                if (p >= 0)
                        reach[p] = 1;
        }
        *out = reach;
        return 0;
}

/*
 * ADD's history wraps: only for a device whose owner has an active device,
 * each of a known epoch other than the one ADD wraps, which one of the
 * owner's active devices can reach.  MEMBERS_OK, the alarm, or -ENOMEM.
 */
static int members_check_hist(const struct members_state *s, const struct member_add *add)
{
        uint8_t *reach = NULL;
        ssize_t ep;
        size_t i;
        int rc;

        if (add->nhist == 0)
                return MEMBERS_OK;
        if (!members_owner_active(s, add->device.owner))
                return MEMBERS_BAD_HISTORY;
        rc = members_owner_reach(s, add->device.owner, &reach);
        if (rc != 0)
                return rc;
        rc = MEMBERS_OK;
        for (i = 0; i < add->nhist && rc == MEMBERS_OK; i++) {
                ep = members_epoch_index(s, add->hist[i].epoch_id);
                if (ep < 0 || memcmp(add->hist[i].epoch_id, add->epoch_id, MEMBER_HASH_LEN) == 0 ||
                    !reach[ep])
                        rc = MEMBERS_BAD_HISTORY;
        }
        free(reach);
        return rc;
}

/* ADD_DEVICE E by AUTHOR into F: MEMBERS_OK, the alarm, or -ENOMEM. */
static int members_check_add(const struct members_state *s, const struct member_entry *e,
                             const struct member_device *author, struct members_effect *f)
{
        struct member_add *add = &f->add;
        uint8_t id[IDENTITY_ID_LEN];
        ssize_t ep;

        if (member_decode_add(e->body, e->body_len, add) != 0)
                return MEMBERS_BAD_ENTRY;
        identity_device_id(add->device.sign_pk, add->device.box_pk, id);
        if (memcmp(id, add->device.device_id, IDENTITY_ID_LEN) != 0)
                return MEMBERS_BAD_ENTRY;
        if (members_seen(s, &add->device))
                return MEMBERS_REUSED_DEVICE;
        if (!members_may_add_now(s, author, add->device.owner, add->device.role))
                return MEMBERS_UNAUTHORISED;
        if (member_verify_self(add->self_sig, s->region_id, &add->device) != 0)
                return MEMBERS_BAD_REVERSE_SIG;
        /* An add concurrent with a rotation may wrap the epoch before it: the new
         * device then lacks the current key until the next rotation (needs_rotate). */
        ep = members_epoch_index(s, add->epoch_id);
        if (ep < 0)
                return MEMBERS_WRONG_EPOCH;
        f->add_epoch = (size_t)ep;
        return members_check_hist(s, add);
}

/*
 * The recipients and history of rotation R by AUTHOR: the previous epoch is
 * known, the key is new, every wrap goes to an active member (or a removed
 * one, which taints the epoch; never to EXCLUDE) and one to the author;
 * EXACT: to every active member.
 */
static enum members_alarm members_check_rotation(const struct members_state *s,
                                                 const struct member_rotation *r,
                                                 const struct member_device *author,
                                                 const uint8_t *exclude, int exact,
                                                 struct members_effect *f)
{
        size_t i, nactive = 0;
        int self = 0;

        if (members_epoch_index(s, r->prev_epoch_id) < 0)
                return MEMBERS_WRONG_EPOCH;
        for (i = 0; i < s->nepochs; i++)
                if (memcmp(s->epochs[i].key_check, r->key_check, 32) == 0)
                        return MEMBERS_BAD_ENTRY; /* an old key again */
        for (i = 0; i < r->nwraps; i++) {
                const uint8_t *d = r->wraps[i].device_id;

                if (exclude != NULL && memcmp(d, exclude, IDENTITY_ID_LEN) == 0)
                        return MEMBERS_BAD_RECIPIENTS;
                if (members_index(s, d) >= 0)
                        nactive++;
                else if (members_find_removed(s, d) != NULL)
                        f->taints = 1;
                else
                        return MEMBERS_BAD_RECIPIENTS;
                if (memcmp(d, author->device_id, IDENTITY_ID_LEN) == 0)
                        self = 1;
        }
        if (!self || (exact && (f->taints || nactive != s->nmembers)))
                return MEMBERS_BAD_RECIPIENTS;
        return MEMBERS_OK;
}

/*
 * 1 if writer rotation R (entry E, parents in F) replaces a stale key: the
 * fold's current one, or the epoch R names as its author's current provided
 * no later epoch in fold order was made by an ancestor of E (its author had
 * seen no newer key: a rotation concurrent with another one sorted before
 * it).  Deterministic: the fold at E's place and E's parents.  0, 1 or -ENOMEM.
 */
static int members_writer_may_rotate(const struct members_state *s, const struct member_entry *e,
                                     const struct member_rotation *r,
                                     const struct members_effect *f)
{
        ssize_t prev = members_epoch_index(s, r->prev_epoch_id);
        size_t i;
        int rc;

        if (members_key_stale(s, e->time))
                return 1;
        if (prev < 0 || !members_epoch_stale(s, &s->epochs[prev], e->time))
                return 0;
        for (i = (size_t)prev + 1; i < s->nepochs; i++) {
                rc = members_is_ancestor(s, s->epochs[i].entry, f->pidx, f->nparents);
                if (rc != 0)
                        return rc < 0 ? rc : 0;
        }
        return 1;
}

static int members_check_rotate(const struct members_state *s, const struct member_entry *e,
                                const struct member_device *author, struct members_effect *f)
{
        int rc;

        if (member_decode_rotation(e->body, e->body_len, &f->rot) != 0)
                return MEMBERS_BAD_ENTRY;
        if (author->role == MEMBER_ROLE_WRITER) {
                rc = members_writer_may_rotate(s, e, &f->rot, f);
                if (rc <= 0)
                        return rc < 0 ? rc : MEMBERS_UNAUTHORISED;
        } else if (!members_may_rotate(s, author, e->time)) {
                return MEMBERS_UNAUTHORISED;
        }
        /* A writer's (stale-key) rotation goes to the same recipients. */
        return members_check_rotation(s, &f->rot, author, NULL, !members_is_admin(author), f);
}

static enum members_alarm members_check_remove(const struct members_state *s,
                                               const struct member_entry *e,
                                               const struct member_device *author,
                                               struct members_effect *f)
{
        const struct member_device *t;

        if (member_decode_remove(e->body, e->body_len, &f->rm) != 0)
                return MEMBERS_BAD_ENTRY;
        t = members_find(s, f->rm.device_id);
        if (t == NULL) {
                /* Removed already by a concurrent entry: this one still rotates. */
                if (members_find_removed(s, f->rm.device_id) == NULL)
                        return MEMBERS_BAD_ENTRY;
                if (!members_is_admin(author))
                        return MEMBERS_UNAUTHORISED;
        } else if (!members_may_remove(s, author, t)) {
                return MEMBERS_UNAUTHORISED;
        }
        return members_check_rotation(s, &f->rm.rot, author, f->rm.device_id, 0, f);
}

static enum members_alarm members_check_set_role(const struct members_state *s,
                                                 const struct member_entry *e,
                                                 const struct member_device *author,
                                                 struct members_effect *f)
{
        const struct member_device *t;

        if (member_decode_set_role(e->body, e->body_len, &f->sr) != 0)
                return MEMBERS_BAD_ENTRY;
        t = members_find(s, f->sr.device_id);
        if (t == NULL)
                return members_find_removed(s, f->sr.device_id) != NULL ? MEMBERS_OK
                                                                        : MEMBERS_BAD_ENTRY;
        /* The same order as removal: only a device above T changes T's role. */
        if (!members_may_remove(s, author, t) || t->role == MEMBER_ROLE_RECOVERY)
                return MEMBERS_UNAUTHORISED;
        return MEMBERS_OK;
}

/* Decodes and checks E (by AUTHOR) against S into F.  MEMBERS_OK, the alarm, or -ENOMEM. */
static int members_check(const struct members_state *s, const struct member_entry *e,
                         const struct member_device *author, struct members_effect *f)
{
        switch (e->type) {
        case MEMBER_ADD_DEVICE:
                return members_check_add(s, e, author, f);
        case MEMBER_ROTATE_KEY:
                return members_check_rotate(s, e, author, f);
        case MEMBER_REMOVE_DEVICE:
                return members_check_remove(s, e, author, f);
        case MEMBER_SET_ROLE:
                return members_check_set_role(s, e, author, f);
        case MEMBER_POLICY:
                if (member_decode_policy(e->body, e->body_len, &f->po) != 0)
                        return MEMBERS_BAD_ENTRY;
                return members_is_admin(author) ? MEMBERS_OK : MEMBERS_UNAUTHORISED;
        }
        return MEMBERS_UNSUPPORTED;
}

static int members_hash_cmp(const void *a, const void *b)
{
        return memcmp(a, b, MEMBER_HASH_LEN);
}

/* Appends E (owned by S from now on) as a DAG node with its parent indices. */
static void members_append_node(struct members_state *s, struct member_entry *e, size_t *pidx,
                                int voided)
{
        size_t i, j, idx = s->nentries;

        s->entries[idx] = e;
        s->parents_idx[idx] = pidx;
        s->voided[idx] = (uint8_t)voided;
        s->nentries++;
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
 * A removed device that holds an epoch's key also opens every key the
 * history links reach from it: taint those too (links point backwards in
 * fold order, so one pass from the newest epoch down closes the set).
 */
static void members_taint_links(struct members_state *s)
{
        ssize_t p;
        size_t i;

        for (i = s->nepochs; i-- > 0;) {
                if (!s->epochs[i].tainted || !s->epochs[i].has_link)
                        continue;
                p = members_epoch_index(s, s->epochs[i].prev_id);
                if (p >= 0)
                        s->epochs[p].tainted = 1;
        }
}

/* 1 if every active member holds a wrap of EP. */
static int members_all_wrapped(const struct members_state *s, const struct members_epoch *ep)
{
        size_t i, j;

        for (i = 0; i < s->nmembers; i++) {
                int found = 0;

                for (j = 0; j < ep->nwraps && !found; j++)
                        found = memcmp(ep->wraps[j].device_id, s->members[i].device_id,
                                       IDENTITY_ID_LEN) == 0;
                if (!found)
                        return 0;
        }
        return 1;
}

/*
 * The current epoch: the last one in fold order that no removed device can
 * reach; when there is none, the newest, marked cur_tainted (nothing new is
 * written under it until a rotation).  needs_rotate when a member lacks it
 * or it is tainted.
 */
static void members_settle(struct members_state *s)
{
        const struct members_epoch *ep;
        size_t i;

        members_taint_links(s);
        for (i = s->nepochs; i-- > 0;)
                if (!s->epochs[i].tainted)
                        break;
        s->cur_tainted = i == (size_t)-1;
        s->cur = s->cur_tainted ? s->nepochs - 1 : i;
        ep = &s->epochs[s->cur];
        memcpy(s->epoch_id, ep->id, MEMBER_HASH_LEN);
        memcpy(s->key_check, ep->key_check, 32);
        s->needs_rotate = s->cur_tainted || !members_all_wrapped(s, ep);
}

/* Adds the epoch of rotation R made by entry IDX; takes R's wraps. */
static void members_add_epoch(struct members_state *s, size_t idx, struct member_rotation *r,
                              int tainted)
{
        struct members_epoch *ep = &s->epochs[s->nepochs++];

        memset(ep, 0, sizeof(*ep));
        memcpy(ep->id, s->entries[idx]->hash, MEMBER_HASH_LEN);
        memcpy(ep->key_check, r->key_check, 32);
        ep->time = s->entries[idx]->time;
        ep->entry = idx;
        ep->has_link = r->has_link;
        memcpy(ep->prev_id, r->prev_epoch_id, MEMBER_HASH_LEN);
        if (r->has_link)
                memcpy(ep->link, r->link, MEMBER_LINK_LEN);
        ep->nwraps = r->nwraps;
        ep->wraps = r->wraps;
        ep->tainted = tainted;
        r->wraps = NULL;
        r->nwraps = 0;
}

/* Moves active member T to the removed devices; taints every epoch it holds. */
static void members_remove(struct members_state *s, size_t t, size_t idx,
                           const struct member_remove *rm)
{
        struct members_removed *r = &s->removed[s->nremoved++];
        size_t i;

        r->device = s->members[t];
        r->by = idx;
        r->cutoff_seq = rm->cutoff_seq;
        memcpy(r->cutoff_hash, rm->cutoff_hash, 32);
        memmove(&s->members[t], &s->members[t + 1], (s->nmembers - t - 1) * sizeof(s->members[0]));
        memmove(&s->added_by[t], &s->added_by[t + 1],
                (s->nmembers - t - 1) * sizeof(s->added_by[0]));
        memmove(&s->since[t], &s->since[t + 1], (s->nmembers - t - 1) * sizeof(s->since[0]));
        s->nmembers--;
        for (i = 0; i < s->nepochs; i++)
                if (member_find_wrap(&(struct member_epoch){.nwraps = s->epochs[i].nwraps,
                                                            .wraps = s->epochs[i].wraps},
                                     rm->device_id) != NULL)
                        s->epochs[i].tainted = 1;
}

/* Member T gets SR's role by entries[IDX]: a promotion to admin starts its seniority, a
 * demotion is recorded (it voids T's entries made without seeing it), and the change
 * with the journal entry SR names is kept for members_standing (invariant R5). */
static void members_set_role(struct members_state *s, size_t t, size_t idx,
                             const struct member_set_role *sr)
{
        struct members_role_change *c = &s->roles[s->nroles++];
        struct members_demoted *d;
        uint8_t role = sr->role;

        memcpy(c->device_id, s->members[t].device_id, IDENTITY_ID_LEN);
        c->by = idx;
        c->from = s->members[t].role;
        c->to = role;
        c->has_journal = sr->has_journal;
        c->journal_seq = sr->journal_seq;
        memcpy(c->journal_hash, sr->journal_hash, 32);
        if (role < s->members[t].role) {
                d = &s->demoted[s->ndemoted++];
                memcpy(d->device_id, s->members[t].device_id, IDENTITY_ID_LEN);
                d->by = idx;
        }
        if (role == MEMBER_ROLE_ADMIN && s->members[t].role != MEMBER_ROLE_ADMIN)
                s->since[t] = (uint64_t)idx << 16;
        s->members[t].role = role;
}

/* Change C of OUT's device (members_standing). */
static void members_standing_step(struct members_standing *out, const struct members_role_change *c)
{
        struct members_void *v;
        int lower = c->to == MEMBER_ROLE_READER, was_reader = c->from == MEMBER_ROLE_READER;

        if (lower && !was_reader) { /* a writer or admin demoted to reader */
                out->cut = c->has_journal;
                out->cut_seq = c->journal_seq;
                memcpy(out->cut_hash, c->journal_hash, 32);
        } else if (lower && out->cut && c->has_journal && c->journal_seq < out->cut_seq) {
                out->cut_seq = c->journal_seq; /* concurrent demotions: the lower cutoff */
                memcpy(out->cut_hash, c->journal_hash, 32);
        } else if (!lower && was_reader && out->cut) { /* promoted again */
                if (c->has_journal && c->journal_seq > out->cut_seq) {
                        if (out->nvoid == MEMBERS_VOID_MAX) {
                                out->overflow = 1; /* fail closed: stays cut */
                                return;
                        }
                        v = &out->voids[out->nvoid++];
                        v->lo_seq = out->cut_seq;
                        memcpy(v->lo_hash, out->cut_hash, 32);
                        v->hi_seq = c->journal_seq;
                        memcpy(v->hi_hash, c->journal_hash, 32);
                }
                out->cut = 0;
        }
}

void members_standing(const struct members_state *s,
                      const uint8_t device_id[static IDENTITY_ID_LEN], struct members_standing *out)
{
        size_t i;

        memset(out, 0, sizeof(*out));
        for (i = 0; i < s->nroles; i++)
                if (!out->overflow &&
                    memcmp(s->roles[i].device_id, device_id, IDENTITY_ID_LEN) == 0)
                        members_standing_step(out, &s->roles[i]);
}

/* Appends WRAP of epoch EP to DEVICE_ID.  Returns 0 or -ENOMEM. */
static int members_epoch_append(struct members_epoch *ep,
                                const uint8_t device_id[static IDENTITY_ID_LEN],
                                const uint8_t wrap[static WRAP_LEN])
{
        struct member_wrap *w = realloc(ep->wraps, (ep->nwraps + 1) * sizeof(*w));

        if (w == NULL)
                return -ENOMEM;
        ep->wraps = w;
        memcpy(w[ep->nwraps].device_id, device_id, IDENTITY_ID_LEN);
        memcpy(w[ep->nwraps].wrap, wrap, WRAP_LEN);
        ep->nwraps++;
        return 0;
}

/* ADD's wrap and its history wraps (checked: known epochs) join their epochs' wraps. */
static int members_apply_add_wraps(struct members_state *s, const struct members_effect *f)
{
        const struct member_add *a = &f->add;
        ssize_t ep;
        size_t i;
        int rc;

        rc = members_epoch_append(&s->epochs[f->add_epoch], a->device.device_id, a->wrap);
        for (i = 0; i < a->nhist && rc == 0; i++) {
                ep = members_epoch_index(s, a->hist[i].epoch_id);
                if (ep < 0)
                        return -EINVAL; /* members_check_hist checked it */
                rc = members_epoch_append(&s->epochs[ep], a->device.device_id, a->hist[i].wrap);
        }
        return rc;
}

/* Applies F, the checked effect of entries[IDX]. */
static int members_effect_apply(struct members_state *s, size_t idx, struct members_effect *f)
{
        const struct member_entry *e = s->entries[idx];
        struct members_removed *old;
        ssize_t t;
        int rc;

        switch (e->type) {
        case MEMBER_ADD_DEVICE:
                rc = members_apply_add_wraps(s, f);
                if (rc != 0)
                        return rc;
                s->members[s->nmembers] = f->add.device;
                s->added_by[s->nmembers] = idx;
                s->since[s->nmembers] = (uint64_t)idx << 16;
                s->nmembers++;
                break;
        case MEMBER_ROTATE_KEY:
                members_add_epoch(s, idx, &f->rot, f->taints);
                break;
        case MEMBER_REMOVE_DEVICE:
                t = members_index(s, f->rm.device_id);
                if (t >= 0) {
                        members_remove(s, (size_t)t, idx, &f->rm);
                } else {
                        /* Two removals of one device: the earlier cutoff counts. */
                        old = (struct members_removed *)members_find_removed(s, f->rm.device_id);
                        if (old != NULL && f->rm.cutoff_seq < old->cutoff_seq) {
                                old->cutoff_seq = f->rm.cutoff_seq;
                                memcpy(old->cutoff_hash, f->rm.cutoff_hash, 32);
                        }
                }
                members_add_epoch(s, idx, &f->rm.rot, f->taints);
                break;
        case MEMBER_SET_ROLE:
                t = members_index(s, f->sr.device_id);
                if (t >= 0)
                        members_set_role(s, (size_t)t, idx, &f->sr);
                break;
        case MEMBER_POLICY:
                s->max_key_age = f->po.max_key_age;
                s->history = f->po.history;
                break;
        }
        members_settle(s);
        return 0;
}

/*
 * Rejects validly signed entry E (named NAME): it is not applied, and nor
 * will its descendants be (their parent is unknown).  The first rejection is
 * S's alarm.  Returns MEMBERS_SKIPPED.
 */
static int members_reject(struct members_state *s, const struct member_entry *e, const char *name,
                          enum members_alarm alarm)
{
        char own[MEMBERS_NAME_LEN + 1];

        if (s->alarm == MEMBERS_OK) {
                s->alarm = alarm;
                memcpy(s->alarm_hash, e->hash, MEMBER_HASH_LEN);
        }
        members_entry_name(e, own);
        log_err("membership entry %s does not verify (%s); it and its descendants are left out",
                name != NULL ? name : own, members_alarm_name(alarm));
        return MEMBERS_SKIPPED;
}

/* The signing key of E's author: an active member's or a removed device's (void entries). */
static const uint8_t *members_author_key(const struct members_state *s,
                                         const struct member_entry *e, int voided)
{
        const struct member_device *d = members_find(s, e->author);
        const struct members_removed *r;

        if (d != NULL)
                return d->sign_pk;
        r = voided ? members_find_removed(s, e->author) : NULL;
        return r != NULL ? r->device.sign_pk : NULL;
}

/*
 * Applies candidate E (named NAME) to S; VOIDED: E is by a removed (or
 * demoted) device and was made without seeing that, so it only joins the
 * DAG.  Returns 0 (applied; S owns E), MEMBERS_SKIPPED (junk, or rejected:
 * S->alarm set) or -ENOMEM.
 */
static int members_apply(struct members_state *s, struct member_entry *e, const char *name,
                         int voided)
{
        enum members_alarm alarm = MEMBERS_OK;
        struct members_effect f;
        const uint8_t *pk = members_author_key(s, e, voided);
        ssize_t author;
        size_t *pidx = NULL;
        int rc;

        if (pk == NULL) {
                members_log_skip(s, name, "its author is not an active member");
                return MEMBERS_SKIPPED;
        }
        if (member_verify_sig(e, pk) != 0) {
                members_log_skip(s, name, "bad signature");
                return MEMBERS_SKIPPED;
        }
        /* Validly signed by a member from here on: a failure is an alarm. */
        rc = members_parents(s, e, &pidx, &alarm);
        if (rc < 0)
                return rc;
        if (rc != 0)
                return members_reject(s, e, name, alarm);
        if (voided) {
                members_append_node(s, e, pidx, 1);
                return 0;
        }
        author = members_index(s, e->author);
        rc = members_is_ancestor(s, s->added_by[author], pidx, e->nparents);
        if (rc < 0) {
                free(pidx);
                return rc;
        }
        memset(&f, 0, sizeof(f));
        f.pidx = pidx;
        f.nparents = e->nparents;
        rc = rc == 1 ? members_check(s, e, &s->members[author], &f) : MEMBERS_UNAUTHORISED;
        if (rc != MEMBERS_OK) {
                members_effect_release(&f);
                free(pidx);
                return rc < 0 ? rc : members_reject(s, e, name, (enum members_alarm)rc);
        }
        members_append_node(s, e, pidx, 0);
        rc = members_effect_apply(s, s->nentries - 1, &f);
        members_effect_release(&f);
        return rc;
}

/* A new state holding the verified GENESIS G (taken over) with room for EXTRA entries. */
static int members_state_new(struct member_entry *g, size_t extra, struct members_state **out)
{
        struct members_state *s = calloc(1, sizeof(*s));
        size_t cap = g->genesis.nmembers + extra, i;
        struct members_epoch *ep;

        if (s == NULL)
                return -ENOMEM;
        s->entries = calloc(extra + 1, sizeof(*s->entries));
        s->parents_idx = calloc(extra + 1, sizeof(*s->parents_idx));
        s->voided = calloc(extra + 1, 1);
        s->heads = calloc(extra + 1, sizeof(*s->heads));
        s->members = calloc(cap, sizeof(*s->members));
        s->added_by = calloc(cap, sizeof(*s->added_by));
        s->since = calloc(cap, sizeof(*s->since));
        s->demoted = calloc(extra + 1, sizeof(*s->demoted));
        s->roles = calloc(extra + 1, sizeof(*s->roles));
        s->removed = calloc(extra + 1, sizeof(*s->removed));
        s->epochs = calloc(extra + 1, sizeof(*s->epochs));
        if (s->entries == NULL || s->parents_idx == NULL || s->voided == NULL || s->heads == NULL ||
            s->members == NULL || s->added_by == NULL || s->since == NULL || s->demoted == NULL ||
            s->roles == NULL || s->removed == NULL || s->epochs == NULL)
                goto nomem;
        memcpy(s->region_id, g->region_id, 32);
        memcpy(s->genesis_hash, g->hash, MEMBER_HASH_LEN);
        s->suite = g->genesis.suite;
        s->block_size = g->genesis.block_size;
        s->max_key_age = g->genesis.max_key_age;
        s->history = MEMBER_HISTORY_ALL;
        for (i = 0; i < g->genesis.nmembers; i++) {
                s->members[i] = g->genesis.members[i];
                s->added_by[i] = 0;
                s->since[i] = i; /* GENESIS's admins: senior in the order they are listed */
        }
        s->nmembers = g->genesis.nmembers;
        /* GENESIS's epoch: id = its hash; member_verify_genesis: one wrap per member. */
        ep = &s->epochs[0];
        memcpy(ep->id, g->hash, MEMBER_HASH_LEN);
        memcpy(ep->key_check, g->genesis.epoch.key_check, 32);
        ep->time = g->time;
        ep->wraps = calloc(g->genesis.epoch.nwraps, sizeof(*ep->wraps));
        if (ep->wraps == NULL)
                goto nomem;
        memcpy(ep->wraps, g->genesis.epoch.wraps, g->genesis.epoch.nwraps * sizeof(*ep->wraps));
        ep->nwraps = g->genesis.epoch.nwraps;
        s->nepochs = 1;
        s->entries[0] = g;
        s->nentries = 1;
        memcpy(s->heads[0], g->hash, MEMBER_HASH_LEN);
        s->nheads = 1;
        members_settle(s);
        *out = s;
        return 0;
nomem:
        members_state_free(s);
        return -ENOMEM;
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

/*
 * What a pass voids by (the previous pass's applied removals and demotions):
 * device, the entry that removed or demoted it, and which.  A removed
 * device's entries that are not ancestors of its removal are void; a
 * demoted device's entries that are neither ancestors nor descendants of
 * its demotion (made without seeing it, e.g. backdated) are void.
 */
struct members_sticky {
        size_t n;
        uint8_t (*device)[IDENTITY_ID_LEN];
        uint8_t (*hash)[MEMBER_HASH_LEN];
        uint8_t *demotion; /* 0: removal, 1: demotion */
};

static void members_sticky_release(struct members_sticky *r)
{
        free(r->device);
        free(r->hash);
        free(r->demotion);
        memset(r, 0, sizeof(*r));
}

static void members_sticky_put(struct members_sticky *r, const uint8_t *device, const uint8_t *hash,
                               int demotion)
{
        memcpy(r->device[r->n], device, IDENTITY_ID_LEN);
        memcpy(r->hash[r->n], hash, MEMBER_HASH_LEN);
        r->demotion[r->n++] = (uint8_t)demotion;
}

/* The removals, then the demotions, S applied. */
static int members_sticky_of(const struct members_state *s, struct members_sticky *r)
{
        size_t i, cap = s->nremoved + s->ndemoted + 1;

        memset(r, 0, sizeof(*r));
        r->device = calloc(cap, sizeof(*r->device));
        r->hash = calloc(cap, sizeof(*r->hash));
        r->demotion = calloc(cap, 1);
        if (r->device == NULL || r->hash == NULL || r->demotion == NULL) {
                members_sticky_release(r);
                return -ENOMEM;
        }
        for (i = 0; i < s->nremoved; i++)
                members_sticky_put(r, s->removed[i].device.device_id,
                                   s->entries[s->removed[i].by]->hash, 0);
        for (i = 0; i < s->ndemoted; i++)
                members_sticky_put(r, s->demoted[i].device_id, s->entries[s->demoted[i].by]->hash,
                                   1);
        return 0;
}

static int members_sticky_equal(const struct members_sticky *a, const struct members_sticky *b)
{
        return a->n == b->n &&
               (a->n == 0 || (memcmp(a->device, b->device, a->n * sizeof(*a->device)) == 0 &&
                              memcmp(a->hash, b->hash, a->n * sizeof(*a->hash)) == 0 &&
                              memcmp(a->demotion, b->demotion, a->n) == 0));
}

/* A candidate's hash and its index, for the lookup by hash. */
struct members_hidx {
        const uint8_t *hash;
        size_t idx;
};

/* The candidates (N, sorted by (height, hash)) with a lookup by hash. */
struct members_graph {
        const struct members_cand *c;
        size_t n;
        struct members_hidx *by_hash; /* sorted by hash */
};

static int members_hidx_cmp(const void *a, const void *b)
{
        return memcmp(((const struct members_hidx *)a)->hash,
                      ((const struct members_hidx *)b)->hash, MEMBER_HASH_LEN);
}

static int members_graph_new(struct members_graph *g, const struct members_cand *c, size_t n)
{
        size_t i;

        g->c = c;
        g->n = n;
        g->by_hash = calloc(n ? n : 1, sizeof(*g->by_hash));
        if (g->by_hash == NULL)
                return -ENOMEM;
        for (i = 0; i < n; i++) {
                g->by_hash[i].hash = c[i].e->hash;
                g->by_hash[i].idx = i;
        }
        qsort(g->by_hash, n, sizeof(*g->by_hash), members_hidx_cmp);
        return 0;
}

/* Index of the candidate with HASH, or -1. */
static ssize_t members_graph_find(const struct members_graph *g,
                                  const uint8_t hash[static MEMBER_HASH_LEN])
{
        size_t lo = 0, hi = g->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = memcmp(g->by_hash[mid].hash, hash, MEMBER_HASH_LEN);

                if (c == 0)
                        return (ssize_t)g->by_hash[mid].idx;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return -1;
}

/* ANC[i] = 1 for candidate FROM and each of its ancestors among the candidates. */
static int members_graph_ancestors(const struct members_graph *g, size_t from, uint8_t *anc)
{
        size_t *stack = calloc(g->n * (MEMBER_MAX_PARENTS + 1) + 1, sizeof(*stack));
        size_t top = 0, cur, j;
        ssize_t k;

        if (stack == NULL)
                return -ENOMEM;
        memset(anc, 0, g->n);
        stack[top++] = from;
        while (top > 0) {
                cur = stack[--top];
                if (anc[cur])
                        continue;
                anc[cur] = 1;
                for (j = 0; j < g->c[cur].e->nparents; j++) {
                        k = members_graph_find(g, g->c[cur].e->parents[j]);
                        if (k >= 0 && !anc[k])
                                stack[top++] = (size_t)k;
                }
        }
        free(stack);
        return 0;
}

/* 1 if candidate I descends from candidate K (K is among I's ancestors). */
static int members_graph_descends(const struct members_graph *g, size_t i, size_t k, uint8_t *tmp)
{
        int rc = members_graph_ancestors(g, i, tmp);

        return rc < 0 ? rc : tmp[k];
}

/* VOIDS[i] for every candidate, by the sticky records R. */
static int members_void_flags(const struct members_cand *c, size_t n,
                              const struct members_sticky *r, uint8_t *voids)
{
        struct members_graph g = {0};
        uint8_t *anc = calloc(n ? n : 1, 1), *tmp = calloc(n ? n : 1, 1);
        size_t i, j;
        ssize_t k;
        int rc = anc != NULL && tmp != NULL ? members_graph_new(&g, c, n) : -ENOMEM;

        memset(voids, 0, n);
        for (j = 0; rc == 0 && j < r->n; j++) {
                k = members_graph_find(&g, r->hash[j]);
                if (k < 0)
                        continue;
                rc = members_graph_ancestors(&g, (size_t)k, anc);
                for (i = 0; rc == 0 && i < n; i++) {
                        if (anc[i] || memcmp(c[i].e->author, r->device[j], IDENTITY_ID_LEN) != 0)
                                continue;
                        /* Not an ancestor: a removed device's entry is void; a demoted one's
                         * only if it did not see its demotion either. */
                        rc = r->demotion[j] ? members_graph_descends(&g, i, (size_t)k, tmp) : 0;
                        if (rc == 0)
                                voids[i] = 1;
                        rc = rc < 0 ? rc : 0;
                }
        }
        free(g.by_hash);
        free(anc);
        free(tmp);
        return rc;
}

/* Decodes OBJS into sorted candidates *C (*NC of them); junk is logged in S. */
static int members_candidates(struct members_state *s, const struct members_obj *objs, size_t n,
                              struct members_cand **c, size_t *nc)
{
        size_t i;
        int rc;

        *nc = 0;
        *c = calloc(n > 0 ? n : 1, sizeof(**c));
        if (*c == NULL)
                return -ENOMEM;
        for (i = 0; i < n; i++) {
                rc = members_candidate(s, &objs[i], &(*c)[*nc].e);
                if (rc < 0)
                        return rc;
                if (rc == 1 || (*c)[*nc].e == NULL)
                        continue; /* the GENESIS, or junk counted by members_log_skip */
                (*c)[(*nc)++].name = objs[i].name;
        }
        qsort(*c, *nc, sizeof(**c), members_cand_cmp);
        return 0;
}

/* One pass of the fold, voiding by the sticky records R. */
static int members_pass(const uint8_t *genesis, size_t genesis_len,
                        const uint8_t pin[static MEMBER_HASH_LEN], const struct members_obj *objs,
                        size_t n, const struct members_sticky *r, struct members_state **out)
{
        struct members_state *s = NULL;
        struct members_cand *c = NULL;
        struct member_entry *g = NULL;
        uint8_t prev[MEMBER_HASH_LEN];
        uint8_t *voids = NULL;
        size_t nc = 0, i;
        int rc;

        if (n > MEMBERS_MAX_ENTRIES) {
                log_err("the membership log has more than %d objects; not folded (the last "
                        "verified state stays)",
                        MEMBERS_MAX_ENTRIES);
                return -E2BIG;
        }
        rc = members_genesis(genesis, genesis_len, pin, &g);
        if (rc != 0)
                return rc;
        rc = members_state_new(g, n, &s);
        if (rc != 0) {
                member_entry_free(g);
                return rc;
        }
        rc = members_candidates(s, objs, n, &c, &nc);
        voids = calloc(nc > 0 ? nc : 1, 1);
        if (rc == 0 && voids == NULL)
                rc = -ENOMEM;
        if (rc == 0)
                rc = members_void_flags(c, nc, r, voids);
        for (i = 0; rc == 0 && i < nc; i++) {
                /* The same object twice (store and cache): C[i-1].e may be S's now. */
                if (i > 0 && memcmp(c[i].e->hash, prev, MEMBER_HASH_LEN) == 0)
                        continue;
                memcpy(prev, c[i].e->hash, MEMBER_HASH_LEN);
                rc = members_apply(s, c[i].e, c[i].name, voids[i]);
                if (rc == 0)
                        c[i].e = NULL; /* owned by S; MEMBERS_SKIPPED was counted */
                rc = rc < 0 ? rc : 0;
        }
        for (i = 0; c != NULL && i < n; i++)
                member_entry_free(c[i].e);
        free(c);
        free(voids);
        if (rc != 0) {
                members_state_free(s);
                return rc;
        }
        *out = s;
        return 0;
}

#define MEMBERS_MAX_PASSES 8

int members_fold(const uint8_t *genesis, size_t genesis_len,
                 const uint8_t pin[static MEMBER_HASH_LEN], const struct members_obj *objs,
                 size_t n, struct members_state **out)
{
        struct members_sticky r = {0}, next;
        struct members_state *s = NULL;
        size_t pass;
        int rc;

        for (pass = 0; pass < MEMBERS_MAX_PASSES; pass++) {
                members_state_free(s);
                s = NULL;
                rc = members_pass(genesis, genesis_len, pin, objs, n, &r, &s);
                if (rc == 0)
                        rc = members_sticky_of(s, &next);
                if (rc != 0) {
                        members_sticky_release(&r);
                        members_state_free(s);
                        return rc;
                }
                if (members_sticky_equal(&r, &next)) {
                        members_sticky_release(&next);
                        break;
                }
                members_sticky_release(&r);
                r = next;
        }
        members_sticky_release(&r);
        if (pass == MEMBERS_MAX_PASSES && s->alarm == MEMBERS_OK) {
                log_err("the membership log's removals do not settle");
                s->alarm = MEMBERS_NO_CONVERGENCE;
        }
        *out = s;
        return 0;
}

int members_open_epoch(const struct members_state *s, const struct members_epoch *ep,
                       const struct identity *id, uint8_t key[static 32])
{
        struct member_epoch view = {.nwraps = ep->nwraps, .wraps = ep->wraps};
        const struct member_wrap *w;
        uint8_t ctx[WRAP_CTX_LEN], check[32];
        uint8_t *tmp;
        int rc;

        if (id->box_sk == NULL)
                return -EINVAL;
        w = member_find_wrap(&view, id->device_id);
        if (w == NULL)
                return -EACCES;
        rc = member_wrap_ctx(ctx, s->region_id, id->device_id, ep->key_check);
        if (rc != 0)
                return rc;
        tmp = secmem_alloc(32);
        if (tmp == NULL)
                return -ENOMEM;
        rc = wrap_open(tmp, w->wrap, ctx, id->box_pk, id->box_sk);
        if (rc == 0)
                rc = member_key_check(check, tmp);
        /* Key commitment: the sealed box does not commit to the key it carries. */
        if (rc == 0 && !secmem_equal(check, ep->key_check, sizeof(check)))
                rc = -EBADMSG;
        if (rc == 0)
                memcpy(key, tmp, 32);
        secmem_free(tmp);
        return rc == -ENOMEM ? rc : rc != 0 ? -EBADMSG : 0;
}

int members_open_link(const struct members_state *s, const struct members_epoch *ep,
                      const uint8_t key[static 32], uint8_t prev[static 32])
{
        const struct members_epoch *pe;
        uint8_t check[32];
        uint8_t *tmp;
        int rc;

        if (!ep->has_link)
                return -ENOENT;
        pe = members_find_epoch(s, ep->prev_id);
        if (pe == NULL)
                return -EBADMSG;
        tmp = secmem_alloc(32);
        if (tmp == NULL)
                return -ENOMEM;
        rc = member_link_open(tmp, ep->link, key, s->region_id, ep->prev_id, ep->key_check);
        if (rc == 0)
                rc = member_key_check(check, tmp);
        if (rc == 0 && !secmem_equal(check, pe->key_check, sizeof(check)))
                rc = -EBADMSG;
        if (rc == 0)
                memcpy(prev, tmp, 32);
        secmem_free(tmp);
        return rc == -ENOMEM ? rc : rc != 0 ? -EBADMSG : 0;
}

int members_unlock(const struct members_state *s, const struct identity *id, uint8_t key[static 32])
{
        if (members_index(s, id->device_id) < 0)
                return -EACCES;
        return members_open_epoch(s, &s->epochs[s->cur], id, key);
}

/* Re-folds S's entries plus the new one (BUF, LEN): 0 if it applies cleanly. */
static int members_recheck(const struct members_state *s, const uint8_t *buf, size_t len)
{
        struct members_obj *objs = calloc(s->nentries, sizeof(*objs));
        struct members_state *t = NULL;
        uint8_t hash[MEMBER_HASH_LEN];
        ssize_t k;
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
        k = members_entry_index(t, hash);
        rc = k >= 0 && !t->voided[k] ? 0 : -EPERM; /* applied (other entries may be rejected) */
        members_state_free(t);
        return rc;
}

/* A new entry of TYPE by AUTHOR on top of S's heads (body still empty). */
static int members_entry_new(const struct members_state *s, const struct identity *author,
                             uint8_t type, uint64_t now, struct member_entry **out)
{
        struct member_entry *e;

        if (author->sign_sk == NULL)
                return -EINVAL;
        if (s->nheads > MEMBER_MAX_PARENTS)
                return -E2BIG;
        e = calloc(1, sizeof(*e));
        if (e == NULL)
                return -ENOMEM;
        e->parents = calloc(s->nheads, MEMBER_HASH_LEN);
        if (e->parents == NULL) {
                free(e);
                return -ENOMEM;
        }
        e->version = MEMBER_VERSION;
        e->type = type;
        memcpy(e->region_id, s->region_id, 32);
        e->height = s->height + 1; /* the highest entry is always a head */
        e->time = now;
        memcpy(e->parents, s->heads, s->nheads * MEMBER_HASH_LEN);
        e->nparents = s->nheads;
        memcpy(e->author, author->device_id, IDENTITY_ID_LEN);
        *out = e;
        return 0;
}

/* Signs E, checks it the way the fold would, and hands the object out; frees E. */
static int members_entry_finish(const struct members_state *s, const struct identity *author,
                                struct member_entry *e, uint8_t **out, size_t *out_len,
                                struct member_entry **entry)
{
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc;

        rc = member_encode(e, author->sign_sk, &buf, &len);
        if (rc == 0)
                rc = members_recheck(s, buf, len);
        if (rc == 0) {
                *out = buf;
                *out_len = len;
                buf = NULL;
                if (entry != NULL) {
                        *entry = e;
                        e = NULL;
                }
        }
        free(buf);
        member_entry_free(e);
        return rc;
}

/* Checks that AUTHOR may add NEWDEV to S (members_build_add's errors). */
static int members_add_allowed(const struct members_state *s, const struct identity *author,
                               const struct member_device *newdev,
                               const uint8_t self_sig[static 64])
{
        const struct member_device *a = members_find(s, author->device_id);
        uint8_t id[IDENTITY_ID_LEN];

        if (a == NULL || !members_may_add_now(s, a, newdev->owner, newdev->role))
                return -EPERM;
        identity_device_id(newdev->sign_pk, newdev->box_pk, id);
        if (memcmp(id, newdev->device_id, IDENTITY_ID_LEN) != 0)
                return -EINVAL;
        if (members_seen(s, newdev))
                return -EEXIST;
        if (member_verify_self(self_sig, s->region_id, newdev) != 0)
                return -EBADMSG;
        return 0;
}

/* -EINVAL unless KEY is the key of the epoch with KEY_CHECK. */
static int members_check_key(const uint8_t key[static 32], const uint8_t key_check[static 32])
{
        uint8_t check[32];
        int rc = member_key_check(check, key);

        if (rc == 0 && !secmem_equal(check, key_check, sizeof(check)))
                rc = -EINVAL;
        return rc;
}

/* -EINVAL unless KEY is S's current epoch key. */
static int members_check_cur_key(const struct members_state *s, const uint8_t key[static 32])
{
        return members_check_key(key, s->key_check);
}

/* KEY (checked against KEY_CHECK, its epoch's) wrapped to device D of S's region into WRAP. */
static int members_wrap_to(const struct members_state *s, const uint8_t key_check[static 32],
                           const uint8_t key[static 32], const struct member_device *d,
                           uint8_t wrap[static WRAP_LEN])
{
        uint8_t ctx[WRAP_CTX_LEN];
        int rc = members_check_key(key, key_check);

        if (rc == 0)
                rc = member_wrap_ctx(ctx, s->region_id, d->device_id, key_check);
        if (rc == 0)
                rc = wrap_seal(wrap, key, ctx, d->box_pk);
        return rc;
}

/* The key of epoch ID among KEYS (N), or NULL. */
static const uint8_t *members_key_find(const struct members_key *keys, size_t n,
                                       const uint8_t id[static MEMBER_HASH_LEN])
{
        size_t i;

        for (i = 0; i < n; i++)
                if (keys[i].key != NULL && memcmp(keys[i].id, id, MEMBER_HASH_LEN) == 0)
                        return keys[i].key;
        return NULL;
}

static int members_hist_cmp(const void *a, const void *b)
{
        return memcmp(((const struct member_hist *)a)->epoch_id,
                      ((const struct member_hist *)b)->epoch_id, MEMBER_HASH_LEN);
}

/*
 * A's history wraps (members_build_add): every epoch but the current one that
 * NEWDEV's owner's active devices reach and KEYS (N) hold, newest first, at
 * most MEMBER_MAX_HIST, then sorted by epoch id.  None for a new owner.
 */
static int members_build_hist(const struct members_state *s, const struct member_device *newdev,
                              const struct members_key *keys, size_t n, struct member_add *a)
{
        const uint8_t *key;
        uint8_t *reach = NULL;
        size_t i;
        int rc;

        if (n == 0 || !members_owner_active(s, newdev->owner))
                return 0;
        rc = members_owner_reach(s, newdev->owner, &reach);
        if (rc != 0)
                return rc;
        a->hist = calloc(n < MEMBER_MAX_HIST ? n : MEMBER_MAX_HIST, sizeof(*a->hist));
        if (a->hist == NULL)
                rc = -ENOMEM;
        for (i = s->nepochs; rc == 0 && i-- > 0 && a->nhist < MEMBER_MAX_HIST && a->nhist < n;) {
                const struct members_epoch *ep = &s->epochs[i];

                key = members_key_find(keys, n, ep->id);
                if (i == s->cur || !reach[i] || key == NULL)
                        continue;
                memcpy(a->hist[a->nhist].epoch_id, ep->id, MEMBER_HASH_LEN);
                rc = members_wrap_to(s, ep->key_check, key, newdev, a->hist[a->nhist].wrap);
                a->nhist++;
        }
        free(reach);
        if (rc == 0)
                qsort(a->hist, a->nhist, sizeof(*a->hist), members_hist_cmp);
        return rc;
}

int members_build_add(const struct members_state *s, const struct identity *author,
                      const struct member_device *newdev, const uint8_t self_sig[static 64],
                      const uint8_t epoch_key[static 32], const struct members_key *hist,
                      size_t nhist, uint64_t now, uint8_t **out, size_t *out_len,
                      struct member_entry **entry)
{
        struct member_entry *e = NULL;
        int rc;

        if (hist == NULL && nhist != 0)
                return -EINVAL;
        rc = members_add_allowed(s, author, newdev, self_sig);
        /* Never wrap a key that is not the current epoch's. */
        if (rc == 0)
                rc = members_check_cur_key(s, epoch_key);
        if (rc == 0)
                rc = members_entry_new(s, author, MEMBER_ADD_DEVICE, now, &e);
        if (rc != 0)
                return rc;
        e->add.device = *newdev;
        memcpy(e->add.self_sig, self_sig, MEMBER_SIG_LEN);
        memcpy(e->add.epoch_id, s->epoch_id, MEMBER_HASH_LEN);
        rc = members_wrap_to(s, s->key_check, epoch_key, newdev, e->add.wrap);
        if (rc == 0)
                rc = members_build_hist(s, newdev, hist, nhist, &e->add);
        if (rc != 0) {
                member_entry_free(e);
                return rc;
        }
        return members_entry_finish(s, author, e, out, out_len, entry);
}

static int members_wrap_cmp(const void *a, const void *b)
{
        return memcmp(((const struct member_wrap *)a)->device_id,
                      ((const struct member_wrap *)b)->device_id, IDENTITY_ID_LEN);
}

/* A fresh epoch key (NEW_KEY, secmem) wrapped to every active member but EXCLUDE, with LINK
 * linked to CUR_KEY (always checked). */
static int members_make_rotation(const struct members_state *s, const uint8_t cur_key[static 32],
                                 int link, const uint8_t *exclude, uint8_t *new_key,
                                 struct member_rotation *r)
{
        size_t i;
        int rc;

        memset(r, 0, sizeof(*r));
        rc = members_check_cur_key(s, cur_key);
        if (rc != 0)
                return rc;
        r->wraps = calloc(s->nmembers, sizeof(*r->wraps));
        if (r->wraps == NULL)
                return -ENOMEM;
        secmem_random(new_key, 32);
        rc = member_key_check(r->key_check, new_key);
        memcpy(r->prev_epoch_id, s->epoch_id, MEMBER_HASH_LEN);
        r->has_link = link != 0;
        if (rc == 0 && r->has_link)
                rc = member_link_seal(r->link, new_key, s->region_id, s->epoch_id, r->key_check,
                                      cur_key);
        for (i = 0; rc == 0 && i < s->nmembers; i++) {
                const struct member_device *m = &s->members[i];

                if (exclude != NULL && memcmp(m->device_id, exclude, IDENTITY_ID_LEN) == 0)
                        continue;
                memcpy(r->wraps[r->nwraps].device_id, m->device_id, IDENTITY_ID_LEN);
                rc = members_wrap_to(s, r->key_check, new_key, m, r->wraps[r->nwraps].wrap);
                r->nwraps++;
        }
        qsort(r->wraps, r->nwraps, sizeof(*r->wraps), members_wrap_cmp);
        if (rc != 0)
                member_rotation_release(r);
        return rc;
}

/* E's body = BODY (taken over); finishes E. */
static int members_finish_body(const struct members_state *s, const struct identity *author,
                               struct member_entry *e, int rc, uint8_t *body, size_t blen,
                               uint8_t **out, size_t *out_len)
{
        if (rc != 0) {
                free(body);
                member_entry_free(e);
                return rc;
        }
        e->body = body;
        e->body_len = blen;
        return members_entry_finish(s, author, e, out, out_len, NULL);
}

/* The active author in S, or NULL.  A rejected entry elsewhere (S->alarm) does not stop
 * an admin from acting on the verified rest: removing its author, for one. */
static const struct member_device *members_author(const struct members_state *s,
                                                  const struct identity *author)
{
        return members_find(s, author->device_id);
}

/* Copies the fresh key out, or wipes it. */
static void members_key_out(uint8_t *key, uint8_t *new_key, int rc)
{
        if (rc == 0 && new_key != NULL)
                memcpy(new_key, key, 32);
        secmem_free(key);
}

int members_build_rotate(const struct members_state *s, const struct identity *author,
                         const uint8_t cur_key[static 32], int link, uint64_t now, uint8_t **out,
                         size_t *out_len, uint8_t *new_key)
{
        const struct member_device *a = members_author(s, author);
        struct member_rotation r;
        struct member_entry *e = NULL;
        uint8_t *body = NULL, *key;
        size_t blen = 0;
        int rc;

        if (a == NULL || !members_may_rotate(s, a, now))
                return -EPERM;
        key = secmem_alloc(32);
        if (key == NULL)
                return -ENOMEM;
        rc = members_make_rotation(s, cur_key, link, NULL, key, &r);
        if (rc == 0) {
                rc = member_body_rotation(&r, &body, &blen);
                member_rotation_release(&r);
        }
        if (rc == 0)
                rc = members_entry_new(s, author, MEMBER_ROTATE_KEY, now, &e);
        rc = members_finish_body(s, author, e, rc, body, blen, out, out_len);
        members_key_out(key, new_key, rc);
        return rc;
}

int members_build_remove(const struct members_state *s, const struct identity *author,
                         const uint8_t device_id[static IDENTITY_ID_LEN], uint64_t cutoff_seq,
                         const uint8_t cutoff_hash[static 32], const uint8_t cur_key[static 32],
                         uint64_t now, uint8_t **out, size_t *out_len, uint8_t *new_key)
{
        const struct member_device *a = members_author(s, author), *t;
        struct member_remove rm;
        struct member_entry *e = NULL;
        uint8_t *body = NULL, *key;
        size_t blen = 0;
        int rc;

        t = members_find(s, device_id);
        if (t == NULL)
                return -ENOENT;
        if (a == NULL || !members_may_remove(s, a, t))
                return -EPERM;
        key = secmem_alloc(32);
        if (key == NULL)
                return -ENOMEM;
        memcpy(rm.device_id, device_id, IDENTITY_ID_LEN);
        rm.cutoff_seq = cutoff_seq;
        memcpy(rm.cutoff_hash, cutoff_hash, 32);
        rc = members_make_rotation(s, cur_key, 1, device_id, key, &rm.rot);
        if (rc == 0) {
                rc = member_body_remove(&rm, &body, &blen);
                member_rotation_release(&rm.rot);
        }
        if (rc == 0)
                rc = members_entry_new(s, author, MEMBER_REMOVE_DEVICE, now, &e);
        rc = members_finish_body(s, author, e, rc, body, blen, out, out_len);
        members_key_out(key, new_key, rc);
        return rc;
}

int members_build_set_role(const struct members_state *s, const struct identity *author,
                           const uint8_t device_id[static IDENTITY_ID_LEN], uint8_t role,
                           uint64_t now, uint8_t **out, size_t *out_len)
{
        struct member_set_role sr;

        memset(&sr, 0, sizeof(sr));
        memcpy(sr.device_id, device_id, IDENTITY_ID_LEN);
        sr.role = role;
        return members_build_set_role_body(s, author, &sr, now, out, out_len);
}

int members_build_set_role_body(const struct members_state *s, const struct identity *author,
                                const struct member_set_role *sr, uint64_t now, uint8_t **out,
                                size_t *out_len)
{
        const struct member_device *a = members_author(s, author), *t;
        struct member_entry *e = NULL;
        uint8_t *body = NULL;
        size_t blen = 0;
        int rc;

        t = members_find(s, sr->device_id);
        if (t == NULL)
                return -ENOENT;
        if (a == NULL || !members_may_remove(s, a, t) || t->role == MEMBER_ROLE_RECOVERY)
                return -EPERM;
        rc = member_body_set_role(sr, &body, &blen);
        if (rc == 0)
                rc = members_entry_new(s, author, MEMBER_SET_ROLE, now, &e);
        return members_finish_body(s, author, e, rc, body, blen, out, out_len);
}

int members_build_policy(const struct members_state *s, const struct identity *author,
                         uint64_t max_key_age, uint8_t history, uint64_t now, uint8_t **out,
                         size_t *out_len)
{
        const struct member_device *a = members_author(s, author);
        struct member_policy po = {.max_key_age = max_key_age, .history = history};
        struct member_entry *e = NULL;
        uint8_t *body = NULL;
        size_t blen = 0;
        int rc;

        if (a == NULL || !members_is_admin(a))
                return -EPERM;
        rc = member_body_policy(&po, &body, &blen);
        if (rc == 0)
                rc = members_entry_new(s, author, MEMBER_POLICY, now, &e);
        return members_finish_body(s, author, e, rc, body, blen, out, out_len);
}
