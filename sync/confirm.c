/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The acknowledgement exchange: see confirm.h and doc/SYNC.md
 * "Acknowledgements".
 *
 * Invariants:
 *   1. OP_LOCK serialises confirm_round (store I/O, the counter, LAST);
 *      LOCK guards the own heads and the peers' confirmations and is never
 *      held while the store, the index or the puller is called.
 *   2. A counter is taken (index meta "ack_counter" + 1, committed) before
 *      the ack carrying it is built, so a crash or a failed PUT only skips
 *      counters; peers see each of our counters with one content at most.
 *   3. A peer's confirmation only changes on an ack that verified, whose
 *      counter is higher than the last one accepted from it, and that
 *      passed the fork check.
 *   4. Allocation from untrusted sizes is bounded: the listing by
 *      CONFIRM_LIST_MAX keys, each ack by ACK_MAX_SIZE (the store's GET
 *      refuses more).
 */
#include "sync/confirm.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sync/ack.h"
#include "util/hex.h"
#include "util/log.h"

#define CONFIRM_COUNTER_KEY "ack_counter"
#define CONFIRM_LIST_MAX PULL_PEERS_MAX /* ack keys taken per reading */

struct confirm_own {
        uint64_t seq; /* 0: empty slot */
        uint8_t hash[32];
};

struct confirm_peer {
        uint8_t device_id[16];
        char hex[33];
        uint64_t counter; /* of the last ack accepted */
        uint64_t time_s;
        uint64_t seq; /* our entry it confirms, 0: none */
};

struct confirm {
        struct store *store;
        struct index *ix;
        struct pull *pull;
        uint8_t region_id[32];
        char region_hex[65];
        uint8_t self_id[16];
        const uint8_t *sign_sk;

        pthread_mutex_t op_lock; /* invariant 1: below, up to LOCK */
        struct ack_mark *last;   /* the marks of the last successful PUT */
        size_t nlast;
        int published;
        int tried;
        time_t last_try; /* CLOCK_MONOTONIC seconds */
        int put_failing, read_failing;

        pthread_mutex_t lock;    /* invariant 1: below */
        struct confirm_own *own; /* CONFIRM_OWN_KEEP slots, slot seq % KEEP */
        uint64_t head_seq;       /* our committed head, 0: none */
        uint8_t head_hash[32];
        struct confirm_peer *peers;
        size_t npeers, cap;
};

/* ---- small helpers ---- */

static void confirm_put_u64(uint8_t *p, uint64_t v)
{
        int i;

        for (i = 7; i >= 0; i--) {
                p[i] = (uint8_t)v;
                v >>= 8;
        }
}

static uint64_t confirm_get_u64(const uint8_t *p)
{
        uint64_t v = 0;
        int i;

        for (i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return v;
}

static time_t confirm_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return ts.tv_sec;
}

static int confirm_mark_cmp(const void *a, const void *b)
{
        return memcmp(((const struct ack_mark *)a)->device_id,
                      ((const struct ack_mark *)b)->device_id, 16);
}

/* ---- publishing ---- */

/* Our ack's marks into a new *OUT, *N: the puller's marks and our head, by device id. */
static int confirm_marks(struct confirm *c, struct ack_mark **out, size_t *n)
{
        size_t cnt = pull_peer_count(c->pull), i, k = 0;
        struct ack_mark *m;
        int rc;

        m = calloc(cnt + 1, sizeof(*m));
        if (m == NULL)
                return -ENOMEM;
        for (i = 0; i < cnt; i++) {
                struct pull_peer_info pi;

                rc = pull_peer_get(c->pull, i, &pi);
                if (rc != 0) {
                        free(m); /* logged by the puller */
                        return rc;
                }
                if (!pi.have)
                        continue;
                memcpy(m[k].device_id, pi.device_id, 16);
                m[k].seq = pi.seq;
                memcpy(m[k].hash, pi.hash, 32);
                k++;
        }
        pthread_mutex_lock(&c->lock);
        if (c->head_seq > 0) {
                memcpy(m[k].device_id, c->self_id, 16);
                m[k].seq = c->head_seq;
                memcpy(m[k].hash, c->head_hash, 32);
                k++;
        }
        pthread_mutex_unlock(&c->lock);
        qsort(m, k, sizeof(*m), confirm_mark_cmp);
        *out = m;
        *n = k;
        return 0;
}

/* The last counter taken into *N (0 if none yet). */
static int confirm_counter_get(struct confirm *c, uint64_t *n)
{
        uint8_t v[8];
        size_t len = 0;
        int rc;

        rc = index_meta_get(c->ix, CONFIRM_COUNTER_KEY, v, sizeof(v), &len);
        if (rc == -ENOENT) {
                *n = 0;
                return 0;
        }
        if (rc == 0 && len != 8)
                rc = -EIO;
        if (rc == 0)
                *n = confirm_get_u64(v);
        return rc == -EFBIG ? -EIO : rc;
}

/* The next counter, durably recorded (invariant 2). */
static int confirm_next_counter(struct confirm *c, uint64_t *counter)
{
        uint8_t v[8];
        uint64_t n = 0;
        int rc;

        rc = confirm_counter_get(c, &n);
        if (rc == 0 && n == UINT64_MAX)
                rc = -EOVERFLOW;
        if (rc == 0) {
                confirm_put_u64(v, n + 1);
                rc = index_meta_put(c->ix, CONFIRM_COUNTER_KEY, v, sizeof(v));
        }
        if (rc == 0)
                rc = index_commit(c->ix);
        if (rc != 0)
                return rc; /* logged once by confirm_publish */
        *counter = n + 1;
        return 0;
}

/* Signs MARKS (N) as our ack and PUTs it.  Returns 0 or a negative errno (not logged here). */
static int confirm_put(struct confirm *c, const struct ack_mark *marks, size_t n)
{
        char key[ACK_KEY_SIZE];
        struct ack a;
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc;

        memset(&a, 0, sizeof(a));
        a.version = ACK_VERSION;
        memcpy(a.region_id, c->region_id, 32);
        memcpy(a.device_id, c->self_id, 16);
        a.time_s = (uint64_t)time(NULL);
        a.nmarks = n;
        a.marks = (struct ack_mark *)marks;
        rc = confirm_next_counter(c, &a.counter);
        if (rc == 0)
                rc = ack_encode_sign(&a, c->sign_sk, &buf, &len);
        if (rc == 0)
                rc = ack_object_key(c->region_hex, c->self_id, key);
        if (rc == 0)
                rc = c->store->ops->put(c->store, key, buf, len, 0);
        if (rc == 0)
                log_debug("ack: published counter %" PRIu64 " with %zu mark(s)", a.counter, n);
        free(buf);
        return rc;
}

/* Publishes our ack if it changed and (unless FORCE) the interval has passed. */
static int confirm_publish(struct confirm *c, int force)
{
        struct ack_mark *m = NULL;
        size_t n = 0;
        time_t now;
        int rc;

        rc = confirm_marks(c, &m, &n);
        if (rc != 0)
                return rc;
        if (c->published && n == c->nlast && (n == 0 || memcmp(m, c->last, n * sizeof(*m)) == 0)) {
                free(m);
                return 0; /* unchanged since the last PUT */
        }
        now = confirm_now();
        if (!force && c->tried && now - c->last_try < CONFIRM_PUBLISH_EVERY_S) {
                free(m);
                return 0; /* a later round */
        }
        c->tried = 1;
        c->last_try = now;
        rc = confirm_put(c, m, n);
        if (rc != 0) {
                if (!c->put_failing)
                        log_warn("ack: cannot publish this device's acknowledgement (%s); "
                                 "retrying later",
                                 strerror(-rc));
                c->put_failing = 1;
                free(m);
                return rc;
        }
        if (c->put_failing)
                log_info("ack: this device's acknowledgement is published again");
        c->put_failing = 0;
        free(c->last);
        c->last = m;
        c->nlast = n;
        c->published = 1;
        return 0;
}

/* ---- reading ---- */

/* The devices that have an ack on the store (other than ours). */
struct confirm_list {
        struct confirm *c;
        uint8_t (*dev)[16];
        size_t n, cap;
};

static int confirm_list_cb(void *arg, const char *key, uint64_t size)
{
        struct confirm_list *l = arg;
        uint8_t rid[32], dev[16];

        (void)size;
        if (ack_parse_key(key, rid, dev) != 0 || memcmp(rid, l->c->region_id, 32) != 0) {
                log_debug("ack: skipping %s: not an acknowledgement key", key);
                return 0;
        }
        if (memcmp(dev, l->c->self_id, 16) == 0)
                return 0;
        if (l->n == CONFIRM_LIST_MAX)
                return 1; /* enough (invariant 4) */
        if (l->n == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 8;
                uint8_t(*v)[16] = realloc(l->dev, cap * sizeof(*v));

                if (v == NULL)
                        return -ENOMEM;
                l->dev = v;
                l->cap = cap;
        }
        memcpy(l->dev[l->n++], dev, 16);
        return 0;
}

/* Peer DEVICE's record, or NULL.  Caller holds C->lock. */
static struct confirm_peer *confirm_peer_find(struct confirm *c, const uint8_t device[static 16])
{
        size_t i;

        for (i = 0; i < c->npeers; i++)
                if (memcmp(c->peers[i].device_id, device, 16) == 0)
                        return &c->peers[i];
        return NULL;
}

/* A new record for peer DEVICE, or NULL (out of memory).  Caller holds C->lock. */
static struct confirm_peer *confirm_peer_add(struct confirm *c, const uint8_t device[static 16])
{
        struct confirm_peer *v;

        if (c->npeers == c->cap) {
                size_t cap = c->cap ? 2 * c->cap : 4;

                v = realloc(c->peers, cap * sizeof(*v));
                if (v == NULL)
                        return NULL;
                c->peers = v;
                c->cap = cap;
        }
        v = &c->peers[c->npeers++];
        memset(v, 0, sizeof(*v));
        memcpy(v->device_id, device, 16);
        hex_encode(v->hex, device, 16);
        return v;
}

/*
 * The fork check of M, a peer's mark for our journal: 0 if it names an
 * entry we wrote (or one too old to remember), else -EBADMSG with WHY.
 */
static int confirm_fork_check(struct confirm *c, const struct ack_mark *m, char *why, size_t size)
{
        const struct confirm_own *o;
        int rc = 0;

        pthread_mutex_lock(&c->lock);
        o = &c->own[m->seq % CONFIRM_OWN_KEEP];
        if (m->seq > c->head_seq) {
                snprintf(why, size,
                         "it confirms entry %" PRIu64 " of this device's journal, beyond the "
                         "head %" PRIu64 " this device committed",
                         m->seq, c->head_seq);
                rc = -EBADMSG;
        } else if (o->seq == m->seq && memcmp(o->hash, m->hash, 32) != 0) {
                snprintf(why, size,
                         "it confirms another entry at seq %" PRIu64
                         " of this device's journal than the one this device wrote",
                         m->seq);
                rc = -EBADMSG;
        }
        pthread_mutex_unlock(&c->lock);
        return rc;
}

/* The counter of the last ack accepted from DEVICE, 0 if none. */
static uint64_t confirm_last_counter(struct confirm *c, const uint8_t device[static 16])
{
        const struct confirm_peer *p;
        uint64_t last;

        pthread_mutex_lock(&c->lock);
        p = confirm_peer_find(c, device);
        last = p != NULL ? p->counter : 0;
        pthread_mutex_unlock(&c->lock);
        return last;
}

/* Records ack A of DEVICE as accepted; its confirmation too unless FORK (invariant 3). */
static int confirm_record(struct confirm *c, const uint8_t device[static 16], const struct ack *a,
                          const struct ack_mark *m, int fork)
{
        struct confirm_peer *p;

        pthread_mutex_lock(&c->lock);
        p = confirm_peer_find(c, device);
        if (p == NULL)
                p = confirm_peer_add(c, device);
        if (p != NULL) {
                p->counter = a->counter; /* the same ack is not looked at again */
                if (!fork) {
                        p->time_s = a->time_s;
                        p->seq = m != NULL ? m->seq : 0;
                }
        }
        pthread_mutex_unlock(&c->lock);
        return p != NULL ? 0 : -ENOMEM;
}

/* Takes verified ack A of peer DEVICE (KEY on the store): counter, fork check, record. */
static int confirm_accept(struct confirm *c, const uint8_t device[static 16], const char *key,
                          const struct ack *a)
{
        const struct ack_mark *m = ack_find(a, c->self_id);
        uint64_t last = confirm_last_counter(c, device);
        char why[256];
        int fork;

        if (a->counter == last)
                return 0; /* the same ack again */
        if (a->counter < last) {
                snprintf(why, sizeof(why),
                         "its acknowledgement has counter %" PRIu64 ", lower than %" PRIu64
                         " accepted before (a replayed old one); ignored",
                         a->counter, last);
                (void)pull_ack_alarm(c->pull, device, PULL_ALARM_ACK_ROLLBACK, a->counter, key,
                                     why);
                return 0;
        }
        fork = m != NULL && confirm_fork_check(c, m, why, sizeof(why)) != 0;
        if (fork)
                (void)pull_ack_alarm(c->pull, device, PULL_ALARM_ACK_FORK, m->seq, key, why);
        else
                log_debug("ack: %s confirms seq %" PRIu64 " (counter %" PRIu64 ")", key,
                          m != NULL ? m->seq : 0, a->counter);
        return confirm_record(c, device, a, m, fork);
}

/* GETs, verifies and accepts the ack of peer PI.  Returns 0 or a transient error. */
static int confirm_read_one(struct confirm *c, const struct pull_peer_info *pi)
{
        char key[ACK_KEY_SIZE];
        uint8_t *buf = NULL;
        size_t len = 0;
        struct ack a;
        int rc;

        rc = ack_object_key(c->region_hex, pi->device_id, key);
        if (rc != 0)
                return rc;
        rc = c->store->ops->get(c->store, key, ACK_MAX_SIZE, &buf, &len);
        if (rc == -ENOENT)
                return 0; /* removed since the listing */
        if (rc == -EFBIG) {
                (void)pull_ack_alarm(c->pull, pi->device_id, PULL_ALARM_BAD_ACK, 0, key,
                                     "its acknowledgement is larger than any valid one");
                return 0;
        }
        if (rc != 0)
                return rc;
        rc = ack_open(buf, len, c->region_id, pi->device_id, pi->sign_pk, &a);
        free(buf);
        if (rc == -EBADMSG) {
                (void)pull_ack_alarm(c->pull, pi->device_id, PULL_ALARM_BAD_ACK, 0, key,
                                     "its acknowledgement is malformed, names another region or "
                                     "device, or its signature does not verify under the "
                                     "device's pinned key; ignored");
                return 0;
        }
        if (rc != 0)
                return rc;
        rc = confirm_accept(c, pi->device_id, key, &a);
        ack_release(&a);
        return rc;
}

/* The puller's peer DEVICE into *PI; -ENOENT if it is not one. */
static int confirm_find_peer(struct confirm *c, const uint8_t device[static 16],
                             struct pull_peer_info *pi)
{
        size_t i, n = pull_peer_count(c->pull);

        for (i = 0; i < n; i++) {
                if (pull_peer_get(c->pull, i, pi) != 0)
                        continue;
                if (memcmp(pi->device_id, device, 16) == 0)
                        return 0;
        }
        return -ENOENT;
}

/* LISTs the acks and takes every peer's.  Returns 0 or a transient error. */
static int confirm_read(struct confirm *c)
{
        struct confirm_list l = {c, NULL, 0, 0};
        char prefix[ACK_KEY_SIZE];
        size_t i;
        int rc;

        rc = ack_object_key(c->region_hex, NULL, prefix);
        if (rc == 0)
                rc = c->store->ops->list(c->store, prefix, NULL, confirm_list_cb, &l);
        if (rc == 1)
                rc = 0;
        for (i = 0; i < l.n && rc == 0; i++) {
                struct pull_peer_info pi;

                if (confirm_find_peer(c, l.dev[i], &pi) != 0) {
                        char hex[33];

                        hex_encode(hex, l.dev[i], 16);
                        log_debug("ack: skipping the acknowledgement of %s: not a member", hex);
                        continue;
                }
                rc = confirm_read_one(c, &pi);
        }
        free(l.dev);
        if (rc != 0 && !c->read_failing)
                log_warn("ack: cannot read the other devices' acknowledgements (%s); "
                         "retrying later",
                         strerror(-rc));
        c->read_failing = rc != 0;
        return rc;
}

/* ---- API ---- */

int confirm_new(struct confirm **out, struct store *store, struct index *ix, struct pull *pull,
                const uint8_t region_id[static 32], const uint8_t self_id[static 16],
                const uint8_t *sign_sk)
{
        struct confirm *c;

        c = calloc(1, sizeof(*c));
        if (c == NULL)
                return -ENOMEM;
        c->own = calloc(CONFIRM_OWN_KEEP, sizeof(*c->own));
        if (c->own == NULL) {
                free(c);
                return -ENOMEM;
        }
        c->store = store;
        c->ix = ix;
        c->pull = pull;
        memcpy(c->region_id, region_id, 32);
        hex_encode(c->region_hex, region_id, 32);
        memcpy(c->self_id, self_id, 16);
        c->sign_sk = sign_sk;
        pthread_mutex_init(&c->op_lock, NULL);
        pthread_mutex_init(&c->lock, NULL);
        *out = c;
        return 0;
}

void confirm_note_own(struct confirm *c, uint64_t seq, const uint8_t hash[static 32])
{
        struct confirm_own *o;

        if (seq == 0)
                return;
        pthread_mutex_lock(&c->lock);
        o = &c->own[seq % CONFIRM_OWN_KEEP];
        o->seq = seq;
        memcpy(o->hash, hash, 32);
        if (seq > c->head_seq) {
                c->head_seq = seq;
                memcpy(c->head_hash, hash, 32);
        }
        pthread_mutex_unlock(&c->lock);
}

int confirm_round(struct confirm *c, int read, int force)
{
        int rc, r;

        pthread_mutex_lock(&c->op_lock);
        rc = confirm_publish(c, force);
        if (read) {
                r = confirm_read(c);
                if (r != 0)
                        rc = r;
        }
        pthread_mutex_unlock(&c->op_lock);
        return rc;
}

size_t confirm_count(struct confirm *c)
{
        size_t n;

        pthread_mutex_lock(&c->lock);
        n = c->npeers;
        pthread_mutex_unlock(&c->lock);
        return n;
}

int confirm_get(struct confirm *c, size_t i, struct confirm_info *out)
{
        pthread_mutex_lock(&c->lock);
        if (i >= c->npeers) {
                pthread_mutex_unlock(&c->lock);
                return -ENOENT;
        }
        memcpy(out->device, c->peers[i].hex, sizeof(out->device));
        out->seq = c->peers[i].seq;
        out->time_s = c->peers[i].time_s;
        out->counter = c->peers[i].counter;
        pthread_mutex_unlock(&c->lock);
        return 0;
}

void confirm_free(struct confirm *c)
{
        if (c == NULL)
                return;
        free(c->last);
        free(c->own);
        free(c->peers);
        pthread_mutex_destroy(&c->op_lock);
        pthread_mutex_destroy(&c->lock);
        free(c);
}
