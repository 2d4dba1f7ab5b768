/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `sealsync verify`: see verify.h.
 *
 * One run:
 *   1. LIST every key of the region (at most VERIFY_MAX_KEYS), sorted here
 *      (the store's order is not trusted).
 *   2. verify_members: GET members/ and fold it from the pinned GENESIS
 *      alone (the local cache only tells what was withheld).
 *   3. verify_epochs: this device's keys (region_keys_from_state) and a look
 *      at each epoch's own wrap and history link.
 *   4. verify_journal for every device of the fold (active, then removed):
 *      its keys are a contiguous run of the sorted list.  Each entry is
 *      GET (<= JOURNAL_MAX_SIZE), checked (sync/check.h) and, if it counts,
 *      its packs are GET one at a time (<= their signed size) with their
 *      manifests checked while the pack is in memory.
 *   5. verify_blocks: every block reference against the block records seen.
 *   6. verify_rest: packs no entry names, acks, the other prefixes, junk.
 *
 * Invariants: nothing is written (no put, no del, no local file); metadata
 * opened to prove the epoch key is wiped at once (manifest_meta_release);
 * epoch keys live in secure memory (region_keys) and are freed at the end.
 */
#include "sync/verify.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/secmem.h"
#include "keyring/member.h"
#include "keyring/members.h"
#include "sync/ack.h"
#include "sync/check.h"
#include "sync/journal.h"
#include "sync/manifest.h"
#include "sync/membership.h"
#include "sync/checkpoint.h"
#include "sync/pack.h"
#include "util/hex.h"
#include "util/log.h"

#define VERIFY_TEXT_MAX 320
#define VERIFY_KEY_MAX 600   /* a store key (<= 512) and some */
#define VERIFY_AUTHOR_OFF 50 /* a manifest's author (doc/FORMAT-sync.md "Manifest") */

/* A block reference waiting for the block records of every pack. */
struct verify_ref {
        uint8_t hash[32];
        uint32_t entry; /* index in ENTRIES */
};

/* An entry whose manifests referenced blocks (for naming it in a problem). */
struct verify_entry_id {
        uint8_t device[16];
        uint64_t seq;
        uint8_t hash[32];
};

/* A growing array of fixed-size items, bounded by VERIFY_MAX_REFS. */
struct verify_vec {
        uint8_t *v;
        size_t n, cap, size;
        int full; /* an add was refused at the bound */
};

struct verify {
        struct store *st;
        const struct region_info *ri;
        const struct identity *id;
        const struct verify_ops *ops;
        void *arg;
        struct verify_counts *c;
        char rhex[65];
        struct membership_keys all; /* every key of the region, sorted */
        struct members_state *ms;   /* the store's log, folded */
        struct region_keys *keys;   /* this device's epoch keys, or NULL */
        struct verify_vec blocks;   /* uint8_t[32]: block records of the packs read */
        struct verify_vec refs;     /* struct verify_ref */
        struct verify_vec entries;  /* struct verify_entry_id */
        struct verify_vec packs;    /* uint8_t[32]: packs named by entries */
        struct checkpoint gcbase;   /* the verified checkpoint with the most entries */
        int have_gcbase;
};

static const char *const verify_cats[VERIFY_NCATS] = {
    [VERIFY_MEMBERS] = "members",     [VERIFY_EPOCHS] = "epochs",
    [VERIFY_JOURNALS] = "journals",   [VERIFY_PACKS] = "packs",
    [VERIFY_MANIFESTS] = "manifests", [VERIFY_BLOCKS] = "blocks",
    [VERIFY_ACKS] = "acks",           [VERIFY_CHECKPOINTS] = "checkpoints",
    [VERIFY_OTHER] = "other",
};

const char *verify_cat_name(enum verify_cat cat)
{
        return (unsigned)cat < VERIFY_NCATS ? verify_cats[cat] : "?";
}

/* ---- small helpers ---- */

static void verify_vec_init(struct verify_vec *a, size_t size)
{
        memset(a, 0, sizeof(*a));
        a->size = size;
}

/* Appends ITEM; 0, -ENOMEM, or -E2BIG (the bound: nothing added, A->full set). */
static int verify_vec_add(struct verify_vec *a, const void *item)
{
        if (a->n == a->cap) {
                size_t cap = a->cap ? 2 * a->cap : 256;
                uint8_t *p;

                if (a->n >= VERIFY_MAX_REFS) {
                        a->full = 1;
                        return -E2BIG;
                }
                if (cap > VERIFY_MAX_REFS)
                        cap = VERIFY_MAX_REFS;
                p = realloc(a->v, cap * a->size);
                if (p == NULL)
                        return -ENOMEM;
                a->v = p;
                a->cap = cap;
        }
        memcpy(a->v + a->n * a->size, item, a->size);
        a->n++;
        return 0;
}

static void verify_vec_release(struct verify_vec *a)
{
        free(a->v);
        memset(a, 0, sizeof(*a));
}

static int verify_hash_cmp(const void *a, const void *b)
{
        return memcmp(a, b, 32);
}

static int verify_str_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Reports one problem (formatted text) and counts it. */
static void verify_problem(struct verify *v, enum verify_cat cat, const char *kind,
                           const char *object, const uint8_t *device, uint64_t seq, const char *fmt,
                           ...) __attribute__((format(printf, 7, 8)));

static void verify_problem(struct verify *v, enum verify_cat cat, const char *kind,
                           const char *object, const uint8_t *device, uint64_t seq, const char *fmt,
                           ...)
{
        struct verify_problem p;
        char text[VERIFY_TEXT_MAX], dev[33] = "";
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        if (device != NULL)
                hex_encode(dev, device, 16);
        p.cat = cat;
        p.kind = kind;
        p.object = object != NULL ? object : "";
        p.device = dev;
        p.seq = seq;
        p.text = text;
        v->c->problems[cat]++;
        v->ops->problem(v->arg, &p);
}

/* One more object of CAT checked. */
static void verify_tick(struct verify *v, enum verify_cat cat)
{
        v->c->checked[cat]++;
        v->c->checked_total++;
        if (v->ops->progress != NULL)
                v->ops->progress(v->arg, v->c->checked_total);
}

/* The key of KEY after "<region hex>/", or NULL if KEY is not under it. */
static const char *verify_rel(const struct verify *v, const char *key)
{
        return strncmp(key, v->rhex, 64) == 0 && key[64] == '/' ? key + 65 : NULL;
}

/* Index of the first key of V->all not below PREFIX (binary search). */
static size_t verify_lower(const struct verify *v, const char *prefix)
{
        size_t lo = 0, hi = v->all.n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (strcmp(v->all.v[mid], prefix) < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

static int verify_has_key(const struct verify *v, const char *key)
{
        size_t i = verify_lower(v, key);

        return i < v->all.n && strcmp(v->all.v[i], key) == 0;
}

/* GETs KEY (at most MAX bytes): 0, or -ENOENT/-EFBIG (the caller's problem), or a store error
 * (logged). */
static int verify_get(struct verify *v, const char *key, size_t max, uint8_t **buf, size_t *len)
{
        int rc = v->st->ops->get(v->st, key, max, buf, len);

        if (rc != 0 && rc != -ENOENT && rc != -EFBIG)
                log_err("verify: cannot read %s from the store: %s", key, strerror(-rc));
        return rc;
}

/* ---- 2. the membership log ---- */

static void verify_members_key(const struct verify *v, const char *name, char *out, size_t size)
{
        snprintf(out, size, "%s/members/%s", v->rhex, name);
}

/* Objects of M the fetch skipped (too large, vanished) and what the fold skipped. */
static void verify_members_junk(struct verify *v, const struct membership_objs *m)
{
        char key[VERIFY_KEY_MAX];
        size_t i, j = 0;

        for (i = 0; i < m->keys.n; i++) {
                const char *slash = strrchr(m->keys.v[i], '/');

                if (slash != NULL && j < m->n && m->objs[j].name == slash + 1) {
                        j++;
                        continue;
                }
                verify_problem(v, VERIFY_MEMBERS, "junk", m->keys.v[i], NULL, 0,
                               "too large for a membership entry, or vanished while read");
        }
        for (i = 0; i < v->ms->nskips; i++) {
                verify_members_key(v, v->ms->skips[i].name, key, sizeof(key));
                verify_problem(v, VERIFY_MEMBERS, "junk", key, NULL, 0, "%s; skipped by the fold",
                               v->ms->skips[i].why);
        }
        if (v->ms->nskipped > v->ms->nskips)
                verify_problem(v, VERIFY_MEMBERS, "junk", "", NULL, 0,
                               "%zu more junk objects under members/ (not named)",
                               v->ms->nskipped - v->ms->nskips);
}

/* 1 if S holds an applied entry with HASH. */
static int verify_members_holds(const struct members_state *s, const uint8_t *hash)
{
        size_t i;

        for (i = 0; i < s->nentries; i++)
                if (memcmp(s->entries[i]->hash, hash, MEMBER_HASH_LEN) == 0)
                        return 1;
        return 0;
}

/* Entries of LOCAL (verified before by this device) the store does not show, GENESIS too. */
static void verify_members_withheld(struct verify *v, const struct members_state *local)
{
        char name[MEMBERS_NAME_LEN + 1], key[VERIFY_KEY_MAX];
        size_t i;

        for (i = 0; i < local->nentries; i++) {
                members_entry_name(local->entries[i], name);
                verify_members_key(v, name, key, sizeof(key));
                if (i == 0 ? verify_has_key(v, key)
                           : verify_members_holds(v->ms, local->entries[i]->hash))
                        continue;
                verify_problem(v, VERIFY_MEMBERS, "withheld", key, local->entries[i]->author, 0,
                               "%s this device verified before is not on the store",
                               i == 0 ? "the GENESIS" : "a membership entry");
        }
}

static void verify_members_alarm(struct verify *v)
{
        char hex[65], key[VERIFY_KEY_MAX] = "";
        const char *rel;
        size_t i;

        if (v->ms->alarm == MEMBERS_OK)
                return;
        hex_encode(hex, v->ms->alarm_hash, 32);
        for (i = 0; i < v->all.n; i++) {
                rel = verify_rel(v, v->all.v[i]);
                if (rel != NULL && strlen(rel) == 8 + MEMBERS_NAME_LEN &&
                    strncmp(rel, "members/", 8) == 0 && strcmp(rel + 8 + 17, hex) == 0)
                        snprintf(key, sizeof(key), "%s", v->all.v[i]);
        }
        verify_problem(v, VERIFY_MEMBERS, members_alarm_name(v->ms->alarm), key, NULL, 0,
                       "the membership log stops at this validly signed entry (entry %.16s...)",
                       hex);
}

static int verify_members(struct verify *v)
{
        struct members_state *local = NULL;
        struct membership_objs m;
        size_t i;
        int rc;

        rc = region_load_members(v->ri, &local);
        if (rc != 0) {
                if (rc != -EBADMSG)
                        log_err("verify: cannot read region %s's membership: %s", v->ri->name,
                                strerror(-rc));
                return rc;
        }
        rc = membership_fetch(v->st, v->ri->id, NULL, &m);
        if (rc != 0)
                goto out;
        rc = members_fold(local->entries[0]->raw, local->entries[0]->raw_len, v->ri->genesis_hash,
                          m.objs, m.n, &v->ms);
        if (rc != 0) {
                log_err("verify: cannot fold region %s's membership log: %s", v->ri->name,
                        strerror(-rc));
                goto out_objs;
        }
        for (i = 0; i < m.keys.n; i++)
                verify_tick(v, VERIFY_MEMBERS);
        if (m.keys.truncated)
                verify_problem(v, VERIFY_MEMBERS, "incomplete", "", NULL, 0,
                               "more than %d objects under members/; the rest was not read",
                               MEMBERS_MAX_ENTRIES + 1);
        verify_members_junk(v, &m);
        verify_members_alarm(v);
        verify_members_withheld(v, local);
out_objs:
        membership_objs_release(&m);
out:
        members_state_free(local);
        return rc;
}

/* ---- 3. epochs ---- */

/*
 * 1 if this device cannot hold the key of epoch EPOCH_ID by design: it holds
 * a later epoch whose rotation has no history link (the key-history policy
 * cut the history before it was enrolled), so the links stop there.
 */
static int verify_withheld(const struct verify *v, const uint8_t epoch_id[static 32])
{
        size_t i, j;

        if (v->keys == NULL)
                return 0;
        for (i = 0; i < v->ms->nepochs; i++)
                if (memcmp(v->ms->epochs[i].id, epoch_id, 32) == 0)
                        break;
        for (j = i + 1; j < v->ms->nepochs; j++)
                if (!v->ms->epochs[j].has_link &&
                    region_keys_find(v->keys, v->ms->epochs[j].id) != NULL)
                        return 1;
        return 0;
}

/* Epoch EP: this device's own wrap, its reachability, its history link. */
static int verify_epoch(struct verify *v, const struct members_epoch *ep, uint8_t *tmp)
{
        char name[MEMBERS_NAME_LEN + 1], key[VERIFY_KEY_MAX];
        const uint8_t *k = v->keys != NULL ? region_keys_find(v->keys, ep->id) : NULL;
        int rc;

        members_entry_name(v->ms->entries[ep->entry], name);
        verify_members_key(v, name, key, sizeof(key));
        verify_tick(v, VERIFY_EPOCHS);
        rc = members_open_epoch(v->ms, ep, v->id, tmp);
        if (rc == -ENOMEM)
                return rc;
        if (rc != 0 && rc != -EACCES)
                verify_problem(v, VERIFY_EPOCHS, "bad-wrap", key, v->id->device_id, 0,
                               "this device's wrap of the epoch does not open or fails its key "
                               "check");
        if (k == NULL && verify_withheld(v, ep->id))
                v->c->withheld_epochs++;
        else if (k == NULL && v->keys != NULL)
                verify_problem(v, VERIFY_EPOCHS, "unreadable-epoch", key, v->id->device_id, 0,
                               "this device holds no key of this epoch (no wrap, no history "
                               "link reaches it)");
        if (k == NULL || !ep->has_link)
                return 0;
        rc = members_open_link(v->ms, ep, k, tmp);
        if (rc == -ENOMEM)
                return rc;
        if (rc != 0)
                verify_problem(v, VERIFY_EPOCHS, "bad-link", key, NULL, 0,
                               "the history link to the previous epoch does not open or fails "
                               "its key check");
        return 0;
}

static int verify_epochs(struct verify *v)
{
        uint8_t *tmp;
        size_t i;
        int rc;

        rc = region_keys_from_state(v->id, v->ri, v->ms, &v->keys);
        if (rc == -ENOMEM)
                return rc;
        if (rc != 0) {
                v->keys = NULL;
                verify_problem(v, VERIFY_EPOCHS, "no-key", "", v->id->device_id, 0,
                               "this device cannot unlock the region's current epoch (%s); "
                               "manifests cannot be opened",
                               rc == -EACCES ? "not an active member, or no wrap for it yet"
                                             : strerror(-rc));
        }
        tmp = secmem_alloc(32);
        if (tmp == NULL)
                return -ENOMEM;
        rc = 0;
        for (i = 0; i < v->ms->nepochs && rc == 0; i++)
                rc = verify_epoch(v, &v->ms->epochs[i], tmp);
        secmem_free(tmp);
        return rc;
}

/* ---- 4. journals, packs, manifests ---- */

/* A journal being walked: its device and where the chain is. */
struct verify_dev {
        const uint8_t *device_id;
        const uint8_t *sign_pk;
        struct check_signer signer;
        uint64_t expect;   /* the next seq */
        uint64_t last_seq; /* the last seq listed, 0 if none */
        int chain_known;   /* PREV is the one entry at LAST_SEQ */
        uint8_t prev[32];
};

/* The entry being checked. */
struct verify_cur {
        struct verify_dev *d;
        int any_author; /* a checkpoint's: each manifest's author signs it (else D) */
        const struct journal_entry *e;
        const char *key; /* its store key */
        uint32_t idx;    /* its index in V->entries */
};

/* The key of DEV if it is (or was, until removed) a writer or admin, else NULL. */
static const uint8_t *verify_writer_pk(const struct verify *v, const uint8_t *dev)
{
        const struct member_device *d = members_find(v->ms, dev);
        const struct members_removed *r = members_find_removed(v->ms, dev);

        if (d == NULL && r != NULL)
                d = &r->device;
        if (d == NULL || (d->role != MEMBER_ROLE_WRITER && d->role != MEMBER_ROLE_ADMIN))
                return NULL;
        return d->sign_pk;
}

/*
 * Checks manifest record C in pack bytes BUF, named by object KEY (an entry
 * of DEVICE_ID at SEQ, or a checkpoint) and signed by AUTHOR's key SIGN_PK:
 * check_manifest, its epoch held here, its metadata opens.  On 0 *M is the
 * manifest (release it); 1: a problem was reported; or -ENOMEM.
 */
static int verify_manifest_open(struct verify *v, const char *key, const uint8_t *device_id,
                                uint64_t seq, const uint8_t *author, const uint8_t *sign_pk,
                                const struct journal_commit *c, const uint8_t *buf,
                                struct manifest *m)
{
        struct manifest_meta meta;
        const char *why = NULL;
        const uint8_t *k;
        int rc;

        verify_tick(v, VERIFY_MANIFESTS);
        rc = check_manifest(buf + c->off, c, v->ri->id, author, sign_pk, m, &why);
        if (rc == -EBADMSG)
                verify_problem(v, VERIFY_MANIFESTS, "bad-object", key, device_id, seq, "%s", why);
        if (rc != 0)
                return rc == -EBADMSG ? 1 : rc;
        k = v->keys != NULL ? region_keys_find(v->keys, m->epoch_id) : NULL;
        if (k == NULL && verify_withheld(v, m->epoch_id)) {
                v->c->withheld_manifests++; /* the key-history policy: information */
                return 0;
        }
        if (k == NULL) {
                verify_problem(v, VERIFY_MANIFESTS, "unknown-epoch", key, device_id, seq,
                               "a manifest of an epoch this device holds no key of");
                return 0; /* its block references still count */
        }
        rc = manifest_open_meta(m, k, &meta);
        if (rc == 0)
                manifest_meta_release(&meta);
        else if (rc == -EBADMSG)
                verify_problem(v, VERIFY_MANIFESTS, "bad-object", key, device_id, seq,
                               "a manifest's metadata does not open under its epoch's "
                               "key (key commitment or AEAD)");
        if (rc == -ENOMEM)
                manifest_release(m);
        return rc == -ENOMEM ? rc : 0;
}

/* Checks manifest record of commit C in pack bytes BUF of entry CUR; its refs are remembered. */
static int verify_manifest(struct verify *v, const struct verify_cur *cur,
                           const struct journal_commit *c, const uint8_t *buf)
{
        const uint8_t *author = cur->d->device_id, *pk = cur->d->sign_pk;
        struct manifest m;
        struct verify_ref ref;
        size_t i;
        int rc;

        if (cur->any_author) {
                author = buf + c->off + VERIFY_AUTHOR_OFF; /* journal_decode: len >= min size */
                pk = verify_writer_pk(v, author);
                if (pk == NULL) {
                        verify_problem(v, VERIFY_CHECKPOINTS, "bad-checkpoint", cur->key,
                                       cur->d->device_id, cur->e->seq,
                                       "a manifest's author is not a writer of the region");
                        return 0;
                }
        }
        rc = verify_manifest_open(v, cur->key, cur->d->device_id, cur->e->seq, author, pk, c, buf,
                                  &m);
        if (rc != 0)
                return rc == 1 ? 0 : rc;
        ref.entry = cur->idx;
        for (i = 0; i < m.nrefs && rc == 0; i++) {
                memcpy(ref.hash, m.refs[i].hash, 32);
                rc = verify_vec_add(&v->refs, &ref);
                if (rc == 0)
                        verify_tick(v, VERIFY_BLOCKS);
        }
        manifest_release(&m);
        return rc == -ENOMEM ? rc : 0;
}

/*
 * 1 if entry SEQ of DEVICE is at or below the vector of the newest verified
 * checkpoint: its packs may have been garbage-collected (`sealsync gc`).
 */
static int verify_collected(const struct verify *v, const uint8_t *device, uint64_t seq)
{
        const struct journal_seen *m = v->have_gcbase ? checkpoint_mark(&v->gcbase, device) : NULL;

        return seq >= 1 && m != NULL && seq <= m->seq;
}

/* Remembers the block records of pack ENTS (N). */
static int verify_pack_blocks(struct verify *v, const struct pack_entry *ents, size_t n)
{
        size_t i;
        int rc = 0;

        for (i = 0; i < n && rc == 0; i++)
                if (ents[i].kind == PACK_KIND_BLOCK)
                        rc = verify_vec_add(&v->blocks, ents[i].hash);
        return rc == -ENOMEM ? rc : 0;
}

/* Skips the commits of BY_PACK[*POS..] naming pack HASH (not readable). */
static void verify_skip_commits(const struct journal_entry *e,
                                const struct journal_commit **by_pack, size_t *pos,
                                const uint8_t *hash)
{
        while (*pos < e->ncommits && memcmp(by_pack[*pos]->pack_hash, hash, 32) == 0)
                (*pos)++;
}

/* GETs and checks pack I of entry CUR into *BUF and *ENTS; 1 if it is not usable (reported). */
static int verify_pack_load(struct verify *v, const struct verify_cur *cur, size_t i, uint8_t **buf,
                            struct pack_entry **ents, size_t *n)
{
        const struct journal_pack *jp = &cur->e->packs[i];
        char key[VERIFY_KEY_MAX], hex[65];
        const char *why = NULL;
        size_t len = 0;
        int rc;

        hex_encode(hex, jp->hash, 32);
        snprintf(key, sizeof(key), "%s/p/%s", v->rhex, hex);
        rc = verify_vec_add(&v->packs, jp->hash);
        if (rc == -ENOMEM)
                return rc;
        verify_tick(v, VERIFY_PACKS);
        rc = verify_get(v, key, (size_t)jp->size, buf, &len);
        if (rc == -ENOENT && !cur->any_author &&
            verify_collected(v, cur->d->device_id, cur->e->seq)) {
                v->c->collected++;
                return 1;
        }
        if (rc == -ENOENT) {
                verify_problem(v, VERIFY_PACKS, "missing-pack", key, cur->d->device_id, cur->e->seq,
                               "named by entry %s but not on the store", cur->key);
                return 1;
        }
        if (rc == -EFBIG)
                verify_problem(v, VERIFY_PACKS, "bad-object", key, cur->d->device_id, cur->e->seq,
                               "larger than the size its entry gives");
        if (rc != 0)
                return rc == -EFBIG ? 1 : rc;
        rc = check_pack(*buf, len, jp, ents, n, &why);
        if (rc == -EBADMSG)
                verify_problem(v, VERIFY_PACKS, "bad-object", key, cur->d->device_id, cur->e->seq,
                               "%s (entry %s)", why, cur->key);
        if (rc != 0) {
                free(*buf);
                *buf = NULL;
                return rc == -EBADMSG ? 1 : rc;
        }
        return 0;
}

/* Pack I of entry CUR and the manifests its commits (BY_PACK[*POS..]) name in it. */
static int verify_pack(struct verify *v, const struct verify_cur *cur, size_t i,
                       const struct journal_commit **by_pack, size_t *pos)
{
        const struct journal_entry *e = cur->e;
        struct pack_entry *ents = NULL;
        uint8_t *buf = NULL;
        const char *why = NULL;
        size_t n = 0, start = *pos, j;
        int rc;

        rc = verify_pack_load(v, cur, i, &buf, &ents, &n);
        if (rc != 0) {
                verify_skip_commits(e, by_pack, pos, e->packs[i].hash);
                return rc > 0 ? 0 : rc;
        }
        rc = verify_pack_blocks(v, ents, n);
        if (rc == 0 && check_pack_commits(e, by_pack, pos, e->packs[i].hash, ents, n, &why) != 0) {
                verify_problem(v, VERIFY_JOURNALS, "bad-object", cur->key, cur->d->device_id,
                               e->seq, "%s", why);
                verify_skip_commits(e, by_pack, pos, e->packs[i].hash);
                start = *pos; /* its manifests are not where it says */
        }
        for (j = start; j < *pos && rc == 0; j++)
                rc = verify_manifest(v, cur, by_pack[j], buf);
        free(ents);
        free(buf);
        return rc;
}

/* The packs and manifests of entry CUR, which counts. */
static int verify_content(struct verify *v, struct verify_cur *cur)
{
        const struct journal_commit **by_pack = NULL;
        struct verify_entry_id id;
        size_t i, pos = 0;
        int rc;

        memcpy(id.device, cur->d->device_id, 16);
        id.seq = cur->e->seq;
        memcpy(id.hash, cur->e->hash, 32);
        cur->idx = (uint32_t)v->entries.n;
        rc = verify_vec_add(&v->entries, &id);
        if (rc == 0)
                rc = check_commits_by_pack(cur->e, &by_pack);
        for (i = 0; i < cur->e->npacks && rc == 0; i++)
                rc = verify_pack(v, cur, i, by_pack, &pos);
        free(by_pack);
        return rc == -E2BIG ? 0 : rc;
}

static void verify_standing(struct verify *v, const struct verify_cur *cur, int st, const char *why)
{
        static const char *const kinds[] = {
            [CHECK_STANDING_NOT_WRITER] = "not-a-writer",
            [CHECK_STANDING_REVOKED] = "revoked",
            [CHECK_STANDING_FORKED] = "equivocation",
            [CHECK_STANDING_DEMOTED] = "not-a-writer",
        };

        verify_problem(v, VERIFY_JOURNALS, kinds[st], cur->key, cur->d->device_id, cur->e->seq,
                       "%s (role %u%s)", why, cur->d->signer.role,
                       cur->d->signer.removed ? ", removed" : "");
}

/* GETs and checks entry KEY (SEQ, HASH) of journal D; then its content if it counts. */
static int verify_entry(struct verify *v, struct verify_dev *d, const char *key, uint64_t seq,
                        const uint8_t hash[static 32])
{
        struct journal_entry e;
        struct verify_cur cur = {.d = d, .e = &e, .key = key};
        const char *why = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc, st;

        rc = verify_get(v, key, JOURNAL_MAX_SIZE, &buf, &len);
        if (rc == -ENOENT || rc == -EFBIG) {
                verify_problem(v, VERIFY_JOURNALS, rc == -EFBIG ? "bad-object" : "journal-gap", key,
                               d->device_id, seq, "%s",
                               rc == -EFBIG ? "larger than any journal entry"
                                            : "listed, but vanished when read");
                return 0;
        }
        if (rc != 0)
                return rc;
        rc = check_entry(buf, len, hash, v->ri->id, d->device_id, seq, d->sign_pk, &e, &why);
        free(buf);
        if (rc == -EBADMSG)
                verify_problem(v, VERIFY_JOURNALS, "bad-object", key, d->device_id, seq, "%s", why);
        if (rc != 0)
                return rc == -EBADMSG ? 0 : rc;
        st = check_standing(&d->signer, seq, hash, &why);
        if (st != CHECK_STANDING_OK && st != CHECK_STANDING_VOID)
                verify_standing(v, &cur, st, why);
        else if (d->chain_known && d->last_seq == seq - 1 && memcmp(e.prev, d->prev, 32) != 0)
                verify_problem(v, VERIFY_JOURNALS, "equivocation", key, d->device_id, seq,
                               "does not follow the previous entry (forked journal)");
        else if (st == CHECK_STANDING_OK)
                rc = verify_content(v, &cur); /* a void entry (R5) is a link, not content */
        journal_release(&e);
        return rc;
}

/* One key KEY of journal D, in order. */
static int verify_journal_key(struct verify *v, struct verify_dev *d, const char *key)
{
        uint8_t dev[16], hash[32];
        uint64_t seq = 0;
        int rc = 0;

        if (journal_parse_key(key, NULL, dev, &seq, hash) != 0)
                return 0; /* junk: verify_rest reports it */
        verify_tick(v, VERIFY_JOURNALS);
        if (seq == d->last_seq) {
                verify_problem(v, VERIFY_JOURNALS, "equivocation", key, d->device_id, seq,
                               "two entries at one seq");
                d->chain_known = 0;
                return 0;
        }
        if (seq > d->expect) {
                verify_problem(v, VERIFY_JOURNALS, "journal-gap", key, d->device_id, d->expect,
                               "entries %" PRIu64 "..%" PRIu64 " are missing", d->expect, seq - 1);
                d->chain_known = 0;
        }
        rc = verify_entry(v, d, key, seq, hash);
        d->last_seq = seq;
        d->expect = seq + 1;
        d->chain_known = 1;
        memcpy(d->prev, hash, 32);
        return rc;
}

/* The journal of DEVICE_ID (key SIGN_PK, standing SIGNER): every key under its directory. */
static int verify_journal(struct verify *v, const uint8_t *device_id, const uint8_t *sign_pk,
                          const struct check_signer *signer)
{
        struct verify_dev d;
        char prefix[VERIFY_KEY_MAX], hex[33];
        size_t i, plen;
        int rc = 0;

        memset(&d, 0, sizeof(d));
        d.device_id = device_id;
        d.sign_pk = sign_pk;
        d.signer = *signer;
        d.expect = 1;
        hex_encode(hex, device_id, 16);
        snprintf(prefix, sizeof(prefix), "%s/journal/%s/", v->rhex, hex);
        plen = strlen(prefix);
        v->c->devices++;
        for (i = verify_lower(v, prefix);
             i < v->all.n && strncmp(v->all.v[i], prefix, plen) == 0 && rc == 0; i++)
                rc = verify_journal_key(v, &d, v->all.v[i]);
        if (rc == 0 && signer->removed && d.last_seq < signer->cutoff_seq)
                verify_problem(v, VERIFY_JOURNALS, "journal-gap", prefix, device_id, d.last_seq + 1,
                               "the removal names entry %" PRIu64 " as its cutoff; the store "
                               "shows none after %" PRIu64,
                               signer->cutoff_seq, d.last_seq);
        return rc;
}

static int verify_journals(struct verify *v)
{
        struct check_signer s;
        size_t i;
        int rc = 0;

        for (i = 0; i < v->ms->nmembers && rc == 0; i++) {
                memset(&s, 0, sizeof(s));
                s.role = v->ms->members[i].role;
                members_standing(v->ms, v->ms->members[i].device_id, &s.standing);
                rc = verify_journal(v, v->ms->members[i].device_id, v->ms->members[i].sign_pk, &s);
        }
        for (i = 0; i < v->ms->nremoved && rc == 0; i++) {
                const struct members_removed *r = &v->ms->removed[i];

                memset(&s, 0, sizeof(s));
                s.role = r->device.role;
                s.removed = 1;
                s.cutoff_seq = r->cutoff_seq;
                memcpy(s.cutoff_hash, r->cutoff_hash, 32);
                members_standing(v->ms, r->device.device_id, &s.standing);
                rc = verify_journal(v, r->device.device_id, r->device.sign_pk, &s);
        }
        return rc;
}

/* ---- 5. checkpoints ---- */

/* Every mark of C names an entry the store shows; else checkpoint-fork or bad-checkpoint. */
static void verify_ckpt_vector(struct verify *v, const struct checkpoint *c, const char *key)
{
        char jkey[JOURNAL_KEY_SIZE];
        size_t i, j, plen = JOURNAL_KEY_LEN - 64; /* "<rid>/journal/<dev>/<seq>-" */

        for (i = 0; i < c->nmarks; i++) {
                const struct journal_seen *m = &c->marks[i];

                if (journal_object_key(v->rhex, m->device_id, m->seq, m->hash, jkey) != 0 ||
                    verify_has_key(v, jkey))
                        continue;
                jkey[plen] = '\0';
                j = verify_lower(v, jkey);
                if (j < v->all.n && strncmp(v->all.v[j], jkey, plen) == 0)
                        verify_problem(v, VERIFY_CHECKPOINTS, "checkpoint-fork", key, c->device_id,
                                       c->seq,
                                       "its vector names another entry at seq %" PRIu64
                                       " of a device than the journal's",
                                       m->seq);
                else
                        verify_problem(v, VERIFY_CHECKPOINTS, "bad-checkpoint", key, c->device_id,
                                       c->seq,
                                       "its vector names entry %" PRIu64 " of a device, "
                                       "which the store does not show",
                                       m->seq);
        }
}

/* The bundles and manifests of checkpoint C (KEY), signed by D. */
static int verify_ckpt_content(struct verify *v, const struct checkpoint *c, const char *key,
                               struct verify_dev *d)
{
        struct journal_entry view;
        struct verify_cur cur = {.d = d, .e = &view, .key = key, .any_author = 1};
        const struct journal_commit **by_pack = NULL;
        struct verify_entry_id id;
        size_t i, pos = 0;
        int rc;

        memset(&view, 0, sizeof(view));
        view.seq = c->seq;
        view.commits = c->files; /* the rules of an entry's commits apply as they are */
        view.ncommits = c->nfiles;
        view.packs = c->packs;
        view.npacks = c->npacks;
        memcpy(id.device, c->device_id, 16);
        id.seq = 0; /* not a journal entry: its references are never "collected" */
        memcpy(id.hash, c->hash, 32);
        cur.idx = (uint32_t)v->entries.n;
        rc = verify_vec_add(&v->entries, &id);
        if (rc == 0)
                rc = check_commits_by_pack(&view, &by_pack);
        for (i = 0; i < c->npacks && rc == 0; i++)
                rc = verify_pack(v, &cur, i, by_pack, &pos);
        free(by_pack);
        return rc == -E2BIG ? 0 : rc;
}

static uint64_t verify_ckpt_entries(const struct checkpoint *c)
{
        uint64_t s = 0;

        for (size_t i = 0; i < c->nmarks; i++)
                s += c->marks[i].seq;
        return s;
}

/* Checkpoint KEY: its author's standing and signature, its member head, vector and bundles. */
static int verify_checkpoint(struct verify *v, const char *key)
{
        struct verify_dev d;
        struct checkpoint c;
        uint8_t dev[16], hash[32], *buf = NULL;
        const char *why = NULL;
        uint64_t seq = 0;
        size_t len = 0;
        int rc;

        verify_tick(v, VERIFY_CHECKPOINTS);
        if (checkpoint_parse_key(key, NULL, dev, &seq, hash) != 0) {
                verify_problem(v, VERIFY_CHECKPOINTS, "junk", key, NULL, 0, "not a checkpoint key");
                return 0;
        }
        memset(&d, 0, sizeof(d));
        d.device_id = dev;
        d.sign_pk = members_find(v->ms, dev) != NULL ? verify_writer_pk(v, dev) : NULL;
        if (d.sign_pk == NULL) {
                verify_problem(v, VERIFY_CHECKPOINTS, "bad-checkpoint", key, dev, seq,
                               "signed by a device that is not an active writer or admin");
                return 0;
        }
        rc = verify_get(v, key, CHECKPOINT_MAX_SIZE, &buf, &len);
        if (rc == -ENOENT)
                return 0;
        if (rc == 0)
                rc = checkpoint_open(buf, len, hash, v->ri->id, dev, seq, d.sign_pk, &c, &why);
        free(buf);
        if (rc == -EBADMSG || rc == -EFBIG)
                verify_problem(v, VERIFY_CHECKPOINTS, "bad-checkpoint", key, dev, seq, "%s",
                               rc == -EFBIG ? "larger than any checkpoint" : why);
        if (rc != 0)
                return rc == -EBADMSG || rc == -EFBIG ? 0 : rc;
        if (!verify_members_holds(v->ms, c.member_head))
                verify_problem(v, VERIFY_CHECKPOINTS, "bad-checkpoint", key, dev, seq,
                               "it names a membership entry the store's log does not hold");
        verify_ckpt_vector(v, &c, key);
        rc = verify_ckpt_content(v, &c, key, &d);
        if (!v->have_gcbase || verify_ckpt_entries(&c) > verify_ckpt_entries(&v->gcbase)) {
                if (v->have_gcbase)
                        checkpoint_release(&v->gcbase);
                v->gcbase = c;
                v->have_gcbase = 1;
        } else {
                checkpoint_release(&c);
        }
        return rc;
}

static int verify_checkpoints(struct verify *v)
{
        char prefix[VERIFY_KEY_MAX];
        size_t i, plen;
        int rc = 0;

        snprintf(prefix, sizeof(prefix), "%s/c/", v->rhex);
        plen = strlen(prefix);
        for (i = verify_lower(v, prefix);
             i < v->all.n && strncmp(v->all.v[i], prefix, plen) == 0 && rc == 0; i++) {
                v->c->checkpoints++;
                rc = verify_checkpoint(v, v->all.v[i]);
        }
        return rc;
}

/* ---- 5b. block references ---- */

static void verify_blocks(struct verify *v)
{
        const struct verify_ref *refs = (const struct verify_ref *)(const void *)v->refs.v;
        char key[JOURNAL_KEY_SIZE];
        size_t i, missing = 0;

        if (v->blocks.full || v->refs.full || v->entries.full)
                verify_problem(v, VERIFY_BLOCKS, "incomplete", "", NULL, 0,
                               "more than %u block records or references; the rest were not "
                               "checked",
                               VERIFY_MAX_REFS);
        qsort(v->blocks.v, v->blocks.n, 32, verify_hash_cmp);
        for (i = 0; i < v->refs.n; i++) {
                const struct verify_entry_id *e;

                e = (const struct verify_entry_id *)(const void *)(v->entries.v +
                                                                   refs[i].entry * v->entries.size);
                if (bsearch(refs[i].hash, v->blocks.v, v->blocks.n, 32, verify_hash_cmp) == NULL &&
                    !verify_collected(v, e->device, e->seq))
                        missing++;
                if (missing == 0 || (i + 1 < v->refs.n && refs[i + 1].entry == refs[i].entry))
                        continue;
                /* The last reference of an entry with missing ones: one problem per entry. */
                if (journal_object_key(v->rhex, e->device, e->seq, e->hash, key) != 0)
                        key[0] = '\0';
                verify_problem(v, VERIFY_BLOCKS, "missing-block", key, e->device, e->seq,
                               "%zu block reference%s of its manifests name%s no block record "
                               "of any pack",
                               missing, missing == 1 ? "" : "s", missing == 1 ? "s" : "");
                missing = 0;
        }
}

/* ---- 6. everything else ---- */

/* A journal key: junk unless it is a valid key of a device of the fold (verify_journal's). */
static void verify_rest_journal(struct verify *v, const char *key)
{
        uint8_t rid[32], dev[16], hash[32];
        uint64_t seq = 0;

        if (journal_parse_key(key, rid, dev, &seq, hash) != 0 || memcmp(rid, v->ri->id, 32) != 0) {
                verify_tick(v, VERIFY_OTHER);
                verify_problem(v, VERIFY_OTHER, "junk", key, NULL, 0, "not a journal key");
        } else if (members_find(v->ms, dev) == NULL && members_find_removed(v->ms, dev) == NULL) {
                verify_tick(v, VERIFY_JOURNALS);
                verify_problem(v, VERIFY_JOURNALS, "unknown-device", key, dev, seq,
                               "a journal of a device that was never a member");
        }
}

static void verify_rest_pack(struct verify *v, const char *key, const char *rel)
{
        uint8_t h[32];

        if (strlen(rel) != 2 + 64 || hex_decode_lower(h, 32, rel + 2) != 0) {
                verify_tick(v, VERIFY_OTHER);
                verify_problem(v, VERIFY_OTHER, "junk", key, NULL, 0, "not a pack key");
        } else if (bsearch(h, v->packs.v, v->packs.n, 32, verify_hash_cmp) == NULL) {
                v->c->unreferenced_packs++;
        }
}

static int verify_rest_ack(struct verify *v, const char *key)
{
        const struct member_device *d;
        const struct members_removed *r;
        uint8_t dev[16], *buf = NULL;
        struct ack a;
        size_t len = 0;
        int rc;

        verify_tick(v, VERIFY_ACKS);
        if (ack_parse_key(key, NULL, dev) != 0) {
                verify_problem(v, VERIFY_ACKS, "junk", key, NULL, 0, "not an ack key");
                return 0;
        }
        d = members_find(v->ms, dev);
        r = members_find_removed(v->ms, dev);
        if (d == NULL && r == NULL) {
                verify_problem(v, VERIFY_ACKS, "bad-ack", key, dev, 0,
                               "from a device that was never a member");
                return 0;
        }
        rc = verify_get(v, key, ACK_MAX_SIZE, &buf, &len);
        if (rc == -ENOENT)
                return 0; /* overwritten or deleted meanwhile: nothing to judge */
        if (rc == 0)
                rc = ack_open(buf, len, v->ri->id, dev, d != NULL ? d->sign_pk : r->device.sign_pk,
                              &a);
        free(buf);
        if (rc == 0)
                ack_release(&a);
        if (rc == -EBADMSG || rc == -EFBIG)
                verify_problem(v, VERIFY_ACKS, "bad-ack", key, dev, 0,
                               "malformed, another region or device, or not signed by the "
                               "device's key");
        return rc == -EBADMSG || rc == -EFBIG ? 0 : rc;
}

/* The counted prefixes: invite/, join/, reply/, c/. */
static int verify_rest_info(struct verify *v, const char *rel)
{
        static const char *const prefixes[] = {"invite/", "join/", "reply/"};
        uint64_t *counts[] = {&v->c->invites, &v->c->joins, &v->c->replies};
        size_t i;

        for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
                if (strncmp(rel, prefixes[i], strlen(prefixes[i])) == 0) {
                        (*counts[i])++;
                        verify_tick(v, VERIFY_OTHER);
                        return 1;
                }
        return 0;
}

static int verify_rest(struct verify *v)
{
        size_t i;
        int rc = 0;

        qsort(v->packs.v, v->packs.n, 32, verify_hash_cmp);
        for (i = 0; i < v->all.n && rc == 0; i++) {
                const char *key = v->all.v[i], *rel = verify_rel(v, key);

                if (rel == NULL) {
                        verify_tick(v, VERIFY_OTHER);
                        verify_problem(v, VERIFY_OTHER, "junk", key, NULL, 0,
                                       "listed under the region's prefix, but is not under it");
                } else if (strncmp(rel, "members/", 8) == 0 || strncmp(rel, "c/", 2) == 0) {
                        continue; /* verify_members, verify_checkpoints */
                } else if (strncmp(rel, "journal/", 8) == 0) {
                        verify_rest_journal(v, key);
                } else if (strncmp(rel, "p/", 2) == 0) {
                        verify_rest_pack(v, key, rel);
                } else if (strncmp(rel, "ack/", 4) == 0) {
                        rc = verify_rest_ack(v, key);
                } else if (!verify_rest_info(v, rel)) {
                        verify_tick(v, VERIFY_OTHER);
                        verify_problem(v, VERIFY_OTHER, "junk", key, NULL, 0,
                                       "not a kind of object sealsync stores");
                }
        }
        return rc;
}

/* ---- the run ---- */

static int verify_list(struct verify *v)
{
        int rc = membership_list(v->st, v->ri->id, NULL, VERIFY_MAX_KEYS, &v->all);

        if (rc != 0)
                return rc; /* logged */
        qsort(v->all.v, v->all.n, sizeof(*v->all.v), verify_str_cmp);
        if (v->all.truncated)
                verify_problem(v, VERIFY_OTHER, "incomplete", "", NULL, 0,
                               "more than %u objects in the region; only the first were checked",
                               VERIFY_MAX_KEYS);
        return 0;
}

int verify_region(struct store *st, const struct region_info *ri, const struct identity *id,
                  const struct verify_ops *ops, void *arg, struct verify_counts *out)
{
        struct verify v;
        int rc;

        memset(out, 0, sizeof(*out));
        memset(&v, 0, sizeof(v));
        v.st = st;
        v.ri = ri;
        v.id = id;
        v.ops = ops;
        v.arg = arg;
        v.c = out;
        hex_encode(v.rhex, ri->id, 32);
        verify_vec_init(&v.blocks, 32);
        verify_vec_init(&v.refs, sizeof(struct verify_ref));
        verify_vec_init(&v.entries, sizeof(struct verify_entry_id));
        verify_vec_init(&v.packs, 32);
        rc = verify_list(&v);
        if (rc == 0)
                rc = verify_members(&v);
        if (rc == 0)
                rc = verify_epochs(&v);
        if (rc == 0)
                rc = verify_checkpoints(&v); /* first: which packs gc may have collected */
        if (rc == 0)
                rc = verify_journals(&v);
        if (rc == 0)
                verify_blocks(&v);
        if (rc == 0)
                rc = verify_rest(&v);
        verify_vec_release(&v.blocks);
        verify_vec_release(&v.refs);
        verify_vec_release(&v.entries);
        verify_vec_release(&v.packs);
        if (v.have_gcbase)
                checkpoint_release(&v.gcbase);
        region_keys_free(v.keys);
        members_state_free(v.ms);
        membership_keys_release(&v.all);
        return rc;
}
