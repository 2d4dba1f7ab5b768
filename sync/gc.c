/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Garbage collection: see gc.h and doc/SYNC.md "Garbage collection".
 *
 * Invariants:
 *   1. Nothing is deleted unless the base checkpoint verified under this
 *      device's own key and every active device's ack covers its vector.
 *   2. A key is deleted only if it is a candidate now and was one GRACE
 *      seconds ago (the candidates file), never a live pack.
 *   3. Store bytes are hostile: listings are bounded by GC_MAX_KEYS, objects
 *      by their kinds' maximum sizes; what does not decode keeps nothing
 *      alive and is not deleted for that reason alone (only packs and
 *      checkpoints are ever candidates).
 */
#include "sync/gc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keyring/member.h"
#include "keyring/members.h"
#include "sync/ack.h"
#include "sync/check.h"
#include "sync/checkpoint.h"
#include "sync/journal.h"
#include "sync/pack.h"
#include "util/fileio.h"
#include "util/hex.h"
#include "util/log.h"

#define GC_MAX_KEYS (1u << 21)
#define GC_STATE_MAX (64u * 1024u * 1024u)
#define GC_KEY_MAX 512

/* A listed key and its size. */
struct gc_key {
        char *key;
        uint64_t size;
};

struct gc_keys {
        struct gc_key *v;
        size_t n, cap;
};

/* A sorted set of 32-byte hashes (live packs). */
struct gc_set {
        uint8_t (*v)[32];
        size_t n, cap;
        int sorted;
};

struct gc {
        struct store *st;
        const struct region_info *ri;
        const struct identity *id;
        const struct gc_opts *o;
        struct gc_report *r;
        char rhex[65];
        const struct members_state *ms;
        struct checkpoint base;
        int have_base;
        struct gc_set live;
        struct gc_keys cands; /* candidates: packs and checkpoints */
};

/* ---- small containers ---- */

static int gc_keys_add(struct gc_keys *k, const char *key, uint64_t size)
{
        if (k->n == GC_MAX_KEYS)
                return -E2BIG;
        if (k->n == k->cap) {
                size_t cap = k->cap ? 2 * k->cap : 256;
                struct gc_key *v = realloc(k->v, cap * sizeof(*v));

                if (v == NULL)
                        return -ENOMEM;
                k->v = v;
                k->cap = cap;
        }
        k->v[k->n].key = strdup(key);
        if (k->v[k->n].key == NULL)
                return -ENOMEM;
        k->v[k->n++].size = size;
        return 0;
}

static void gc_keys_release(struct gc_keys *k)
{
        for (size_t i = 0; i < k->n; i++)
                free(k->v[i].key);
        free(k->v);
        memset(k, 0, sizeof(*k));
}

static int gc_list_cb(void *arg, const char *key, uint64_t size)
{
        return gc_keys_add(arg, key, size);
}

/* Every key under "<region>/<DIR>/" into *K. */
static int gc_list(struct gc *g, const char *dir, struct gc_keys *k)
{
        char prefix[64 + 16];
        int rc;

        snprintf(prefix, sizeof(prefix), "%s/%s/", g->rhex, dir);
        rc = g->st->ops->list(g->st, prefix, NULL, gc_list_cb, k);
        if (rc == -E2BIG)
                log_err("gc: more than %u objects under %s; nothing collected", GC_MAX_KEYS, dir);
        else if (rc != 0)
                log_err("gc: cannot list %s: %s", prefix, strerror(-rc));
        return rc;
}

static int gc_hash_cmp(const void *a, const void *b)
{
        return memcmp(a, b, 32);
}

static int gc_set_add(struct gc_set *s, const uint8_t h[static 32])
{
        if (s->n == s->cap) {
                size_t cap = s->cap ? 2 * s->cap : 256;
                uint8_t(*v)[32] = realloc(s->v, cap * sizeof(*v));

                if (v == NULL)
                        return -ENOMEM;
                s->v = v;
                s->cap = cap;
        }
        memcpy(s->v[s->n++], h, 32);
        s->sorted = 0;
        return 0;
}

static int gc_set_has(struct gc_set *s, const uint8_t h[static 32])
{
        if (!s->sorted) {
                qsort(s->v, s->n, sizeof(*s->v), gc_hash_cmp);
                s->sorted = 1;
        }
        return s->n > 0 && bsearch(h, s->v, s->n, sizeof(*s->v), gc_hash_cmp) != NULL;
}

/* ---- checkpoints: the base and the others ---- */

/* The pinned key of DEV if it is, or was, a writer or admin; else NULL. */
static const uint8_t *gc_writer_pk(const struct gc *g, const uint8_t dev[static 16])
{
        const struct member_device *d = members_find(g->ms, dev);
        const struct members_removed *rm = members_find_removed(g->ms, dev);

        if (d == NULL && rm != NULL)
                d = &rm->device;
        if (d == NULL || (d->role != MEMBER_ROLE_WRITER && d->role != MEMBER_ROLE_ADMIN))
                return NULL;
        return d->sign_pk;
}

/* GETs and opens checkpoint KEY into *C; -EBADMSG if it does not verify. */
static int gc_ckpt_load(struct gc *g, const char *key, struct checkpoint *c)
{
        uint8_t dev[16], hash[32], *buf = NULL;
        const uint8_t *pk;
        const char *why = NULL;
        uint64_t seq = 0;
        size_t len = 0;
        int rc;

        if (checkpoint_parse_key(key, NULL, dev, &seq, hash) != 0 ||
            (pk = gc_writer_pk(g, dev)) == NULL)
                return -EBADMSG;
        rc = g->st->ops->get(g->st, key, CHECKPOINT_MAX_SIZE, &buf, &len);
        if (rc == -ENOENT || rc == -EFBIG)
                return -EBADMSG;
        if (rc == 0)
                rc = checkpoint_open(buf, len, hash, g->ri->id, dev, seq, pk, c, &why);
        free(buf);
        return rc;
}

/* 1 if every mark of C is at or below BASE's for its device. */
static int gc_dominated(const struct checkpoint *c, const struct checkpoint *base)
{
        for (size_t i = 0; i < c->nmarks; i++) {
                const struct journal_seen *m = checkpoint_mark(base, c->marks[i].device_id);

                if (m == NULL || m->seq < c->marks[i].seq)
                        return 0;
        }
        return 1;
}

/* C's bundles and the packs its location records name are live. */
static int gc_ckpt_roots(struct gc *g, const struct checkpoint *c)
{
        char key[64 + 3 + 64 + 1], hex[65];
        size_t i, j, k, n, nl;
        int rc = 0;

        for (i = 0; i < c->npacks && rc == 0; i++) {
                struct pack_entry *ents = NULL;
                struct checkpoint_loc *l = NULL;
                const char *why = NULL;
                uint8_t *buf = NULL;
                size_t len = 0;

                rc = gc_set_add(&g->live, c->packs[i].hash);
                hex_encode(hex, c->packs[i].hash, 32);
                snprintf(key, sizeof(key), "%s/p/%s", g->rhex, hex);
                if (rc == 0)
                        rc = g->st->ops->get(g->st, key, c->packs[i].size, &buf, &len);
                if (rc == 0)
                        rc = check_pack(buf, len, &c->packs[i], &ents, &n, &why);
                for (j = 0; rc == 0 && j < n; j++) {
                        if (ents[j].kind != PACK_KIND_LOCS)
                                continue;
                        rc = checkpoint_locs_decode(buf + ents[j].off, ents[j].len, &l, &nl);
                        for (k = 0; rc == 0 && k < nl; k++)
                                if (k == 0 || memcmp(l[k - 1].pack, l[k].pack, 32) != 0)
                                        rc = gc_set_add(&g->live, l[k].pack);
                        free(l);
                        l = NULL;
                }
                free(ents);
                free(buf);
                if (rc != 0 && rc != -ENOMEM)
                        log_err("gc: checkpoint %" PRIu64 "'s bundle %s is missing or bad (%s); "
                                "nothing collected",
                                c->seq, key, rc == -EBADMSG ? why : strerror(-rc));
        }
        return rc == 0 ? 0 : rc == -ENOMEM ? rc : -EIO;
}

/* Per author, the index of its newest checkpoint in K (keys in byte order: the last one). */
static int gc_newest(const struct gc_keys *k, size_t i)
{
        uint8_t d1[16], d2[16], h[32];
        uint64_t s;

        if (i + 1 == k->n)
                return 1;
        if (checkpoint_parse_key(k->v[i].key, NULL, d1, &s, h) != 0 ||
            checkpoint_parse_key(k->v[i + 1].key, NULL, d2, &s, h) != 0)
                return 1;
        return memcmp(d1, d2, 16) != 0;
}

/*
 * The base (this device's newest checkpoint), the live roots of every
 * checkpoint kept, and every other checkpoint as a candidate.
 */
static int gc_checkpoints(struct gc *g)
{
        struct gc_keys k = {NULL, 0, 0};
        struct checkpoint c;
        uint8_t dev[16], h[32];
        uint64_t s;
        size_t i;
        int rc = gc_list(g, "c", &k), own;

        for (i = k.n; i-- > 0 && rc == 0 && !g->have_base;) {
                own = checkpoint_parse_key(k.v[i].key, NULL, dev, &s, h) == 0 &&
                      memcmp(dev, g->id->device_id, 16) == 0;
                if (own && gc_ckpt_load(g, k.v[i].key, &g->base) == 0) {
                        g->have_base = 1;
                        snprintf(g->r->base, sizeof(g->r->base), "%s", k.v[i].key);
                }
        }
        if (rc == 0 && g->have_base)
                rc = gc_ckpt_roots(g, &g->base);
        for (i = 0; i < k.n && rc == 0 && g->have_base; i++) {
                if (strcmp(k.v[i].key, g->r->base) == 0)
                        continue;
                if (gc_newest(&k, i) && gc_ckpt_load(g, k.v[i].key, &c) == 0) {
                        int keep = !gc_dominated(&c, &g->base);

                        if (keep)
                                rc = gc_ckpt_roots(g, &c); /* another author's, not older */
                        checkpoint_release(&c);
                        if (keep)
                                continue;
                }
                if (rc == 0)
                        rc = gc_keys_add(&g->cands, k.v[i].key, k.v[i].size);
        }
        gc_keys_release(&k);
        return rc;
}

/* ---- acknowledgements ---- */

/* 1 if device D's ack covers every mark of the base. */
static int gc_acked(struct gc *g, const struct member_device *d)
{
        char key[ACK_KEY_SIZE];
        uint8_t *buf = NULL;
        size_t len = 0, i;
        struct ack a;
        int ok = 0;

        if (ack_object_key(g->rhex, d->device_id, key) != 0 ||
            g->st->ops->get(g->st, key, ACK_MAX_SIZE, &buf, &len) != 0)
                return 0;
        if (ack_open(buf, len, g->ri->id, d->device_id, d->sign_pk, &a) == 0) {
                ok = 1;
                for (i = 0; i < g->base.nmarks && ok; i++) {
                        const struct ack_mark *m = ack_find(&a, g->base.marks[i].device_id);

                        ok = m != NULL && m->seq >= g->base.marks[i].seq;
                }
                ack_release(&a);
        }
        free(buf);
        return ok;
}

/* Invariant 1: every active device but RECOVERY has acknowledged the base's vector. */
static int gc_all_acked(struct gc *g)
{
        for (size_t i = 0; i < g->ms->nmembers; i++) {
                const struct member_device *d = &g->ms->members[i];

                if (d->role == MEMBER_ROLE_RECOVERY || gc_acked(g, d))
                        continue;
                hex_encode(g->r->blocked_by, d->device_id, 16);
                return 0;
        }
        return 1;
}

/* ---- journals above the base ---- */

static int gc_journal_roots(struct gc *g)
{
        struct gc_keys k = {NULL, 0, 0};
        struct journal_entry e;
        uint8_t rid[32], dev[16], h[32], *buf = NULL;
        uint64_t seq = 0;
        size_t i, j, len = 0;
        int rc = gc_list(g, "journal", &k);

        for (i = 0; i < k.n && rc == 0; i++) {
                const struct journal_seen *m;

                if (journal_parse_key(k.v[i].key, rid, dev, &seq, h) != 0)
                        continue;
                m = checkpoint_mark(&g->base, dev);
                if (m != NULL && seq <= m->seq)
                        continue;
                rc = g->st->ops->get(g->st, k.v[i].key, JOURNAL_MAX_SIZE, &buf, &len);
                if (rc == -ENOENT || rc == -EFBIG) {
                        rc = 0;
                        continue;
                }
                if (rc == 0 && journal_decode(buf, len, &e) == 0) {
                        for (j = 0; j < e.npacks && rc == 0; j++)
                                rc = gc_set_add(&g->live, e.packs[j].hash);
                        journal_release(&e);
                }
                free(buf);
                buf = NULL;
        }
        gc_keys_release(&k);
        return rc;
}

/* Packs not live are candidates. */
static int gc_pack_candidates(struct gc *g)
{
        struct gc_keys k = {NULL, 0, 0};
        size_t i, plen = 64 + 3;
        uint8_t h[32];
        int rc = gc_list(g, "p", &k);

        for (i = 0; i < k.n && rc == 0; i++) {
                g->r->packs++;
                if (strlen(k.v[i].key) != plen + 64 || hex_decode_lower(h, 32, k.v[i].key + plen))
                        continue; /* junk: `sealsync verify` names it */
                if (gc_set_has(&g->live, h))
                        g->r->live++;
                else
                        rc = gc_keys_add(&g->cands, k.v[i].key, k.v[i].size);
        }
        gc_keys_release(&k);
        return rc;
}

/* ---- the candidates file and deletion ---- */

/* When KEY was first a candidate, from the state STATE (LEN bytes), or NOW. */
static uint64_t gc_first_seen(const char *state, size_t len, const char *key, uint64_t now)
{
        size_t klen = strlen(key);
        const char *p = state, *end = state + len;

        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t l = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);

                if (l > klen + 1 && memcmp(p, key, klen) == 0 && p[klen] == ' ') {
                        char num[24];
                        size_t nlen = l - klen - 1;

                        if (nlen < sizeof(num)) {
                                memcpy(num, p + klen + 1, nlen);
                                num[nlen] = '\0';
                                return strtoull(num, NULL, 10);
                        }
                }
                p += l + 1;
        }
        return now;
}

static int gc_collect(struct gc *g)
{
        uint8_t *state = NULL;
        size_t slen = 0, i;
        uint64_t now = (uint64_t)time(NULL);
        char *out = NULL;
        size_t olen = 0;
        FILE *f;
        int rc = fileio_read_all(g->o->state, GC_STATE_MAX, &state, &slen);

        if (rc == -ENOENT)
                rc = 0;
        f = rc == 0 ? open_memstream(&out, &olen) : NULL;
        if (rc == 0 && f == NULL)
                rc = -ENOMEM;
        for (i = 0; i < g->cands.n && rc == 0; i++) {
                const struct gc_key *c = &g->cands.v[i];
                uint64_t first = gc_first_seen((const char *)state, slen, c->key, now);

                if (first > now || now - first < g->o->grace_s) {
                        g->r->waiting++;
                        fprintf(f, "%s %" PRIu64 "\n", c->key, first);
                        continue;
                }
                if (!g->o->dry_run) {
                        rc = g->st->ops->del(g->st, c->key);
                        if (rc == -ENOENT)
                                rc = 0;
                        if (rc != 0)
                                log_err("gc: cannot delete %s: %s", c->key, strerror(-rc));
                }
                g->r->deleted++;
                g->r->deleted_bytes += c->size;
                g->r->checkpoints += strstr(c->key, "/c/") != NULL;
        }
        if (f != NULL && fclose(f) != 0 && rc == 0)
                rc = -ENOMEM;
        if (rc == 0 && !g->o->dry_run)
                rc = fileio_write_atomic(g->o->state, out, olen, 0600, 0);
        free(out);
        free(state);
        return rc;
}

int gc_region(struct store *st, const struct region_info *ri, const struct identity *id,
              const struct members_state *ms, const struct gc_opts *opts, struct gc_report *r)
{
        struct gc g;
        int rc;

        memset(r, 0, sizeof(*r));
        memset(&g, 0, sizeof(g));
        g.st = st;
        g.ri = ri;
        g.id = id;
        g.o = opts;
        g.r = r;
        g.ms = ms;
        hex_encode(g.rhex, ri->id, 32);
        rc = gc_checkpoints(&g);
        if (rc == 0 && g.have_base && gc_all_acked(&g)) {
                rc = gc_journal_roots(&g);
                if (rc == 0)
                        rc = gc_pack_candidates(&g);
                if (rc == 0)
                        rc = gc_collect(&g);
        }
        if (g.have_base)
                checkpoint_release(&g.base);
        gc_keys_release(&g.cands);
        free(g.live.v);
        return rc;
}
