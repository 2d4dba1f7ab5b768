/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checkpoints on the fs side (doc/SYNC.md "Checkpoints"): when this mount
 * writes one and what state it names; the bootstrap hook of a new device.
 * The work is sync/ckpt.c's.
 *
 * When: after a pull round, by a writable (writer or admin) sync mount with
 * nothing waiting in its outbox, once the journal vector (every peer's mark
 * and our own uploaded head) has grown by CKPT_EVERY entries since this
 * device's last checkpoint -- 4 x CKPT_EVERY for all but the designated
 * device (the writer or admin with the lowest device id), so in a region of
 * several writers one device writes them and the others only if it is
 * away.  SEALSYNC_CHECKPOINT_EVERY=N in the mount's environment makes this
 * mount write one every N entries, designated or not (tests).  A failed attempt waits
 * FS_CKPT_RETRY_S.
 *
 * What: per file id its current manifest: every live inode's last committed
 * or applied version, and the deleting version (tombstone) of every
 * remembered deletion not live again.  The vector is read before the state,
 * so the state is never older than the vector (a version newer than it is
 * applied twice at most: apply is idempotent).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/secmem.h"
#include "fs/fsint.h"
#include "keyring/identity.h"
#include "keyring/member.h"
#include "keyring/region.h"
#include "sync/ckpt.h"
#include "sync/push.h"
#include "util/log.h"

#define FS_CKPT_EVERY 256   /* entries between checkpoints of the designated device */
#define FS_CKPT_RETRY_S 600 /* after a failed attempt */
#define FS_CKPT_OTHERS_FACTOR 4

static void fs_ckpt_u64be(uint8_t out[8], uint64_t v)
{
        for (int i = 7; i >= 0; i--) {
                out[i] = (uint8_t)v;
                v >>= 8;
        }
}

static uint64_t fs_ckpt_get_u64(struct fs *fs, const char *name)
{
        uint8_t v[8];
        size_t len = 0;
        uint64_t x = 0;

        if (index_meta_get(fs->ix, name, v, sizeof(v), &len) != 0 || len != 8)
                return 0;
        for (int i = 0; i < 8; i++)
                x = x << 8 | v[i];
        return x;
}

static void fs_ckpt_ctx(struct fs *fs, struct ckpt_ctx *x)
{
        memset(x, 0, sizeof(*x));
        x->store = fs->store;
        x->ix = fs->ix;
        x->pull = fs->pull;
        x->ops = &fs_pull_ops;
        x->arg = fs;
        memcpy(x->region_id, fs->region_id, 32);
        memcpy(x->region_hex, fs->region_hex, sizeof(x->region_hex));
        memcpy(x->self_id, fs->device_id, 16);
        if (fs->id != NULL)
                memcpy(x->self_pk, fs->id->sign_pk, 32);
        pthread_mutex_lock(&fs->commit_lock);
        x->own_seq = fs->journal_seq;
        memcpy(x->own_head, fs->journal_head, 32);
        pthread_mutex_unlock(&fs->commit_lock);
}

/* ---- bootstrap ---- */

static int fs_ckpt_boot(void *arg, unsigned *applied)
{
        struct fs *fs = arg;
        struct ckpt_ctx x;

        fs_ckpt_ctx(fs, &x);
        return ckpt_bootstrap(&x, applied);
}

void fs_ckpt_setup(struct fs *fs)
{
        struct pull_peer_info pi;
        size_t i, n = pull_peer_count(fs->pull);
        const char *off = getenv("SEALSYNC_NO_CHECKPOINT");

        if (off != NULL && strcmp(off, "1") == 0)
                return;
        for (i = 0; i < n; i++)
                if (pull_peer_get(fs->pull, i, &pi) != 0 || pi.have)
                        return; /* marks: the journals go on from them */
        pull_set_bootstrap(fs->pull, fs_ckpt_boot, fs);
}

/* ---- writing ---- */

struct fs_ckpt_list {
        struct fs *fs;
        struct ckpt_file *v;
        size_t n, cap;
};

static int fs_ckpt_add(struct fs_ckpt_list *l, const uint8_t file_id[16], const uint8_t hash[32])
{
        if (l->n == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 256;
                struct ckpt_file *v = realloc(l->v, cap * sizeof(*v));

                if (v == NULL)
                        return -ENOMEM;
                l->v = v;
                l->cap = cap;
        }
        memcpy(l->v[l->n].file_id, file_id, 16);
        memcpy(l->v[l->n++].manifest_hash, hash, 32);
        return 0;
}

static int fs_ckpt_live_cb(void *arg, uint64_t ino)
{
        struct fs_ckpt_list *l = arg;
        struct fs_inode *in;
        int rc = fs_inode_get(l->fs, ino, &in);

        if (rc != 0)
                return rc == -ENOENT ? 0 : rc;
        pthread_rwlock_rdlock(&in->lock);
        /* U6: a held directory's current manifest is its deletion (listed with the gone) */
        if (in->nlink > 0 && in->has_manifest && (rc = fs_held_is(l->fs, in)) == 0)
                rc = fs_ckpt_add(l, in->file_id, in->manifest_hash);
        else if (rc > 0)
                rc = 0;
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(l->fs, in);
        return rc;
}

static int fs_ckpt_gone_cb(void *arg, const uint8_t *file_id, const uint8_t *state, size_t len)
{
        struct fs_ckpt_list *l = arg;
        struct fs_gone g;
        int rc = fs_gone_decode(state, len, &g);

        if (rc != 0)
                return rc;
        free(g.vv);
        rc = fs_ckpt_add(l, file_id, g.hash);
        secmem_wipe(&g, sizeof(g));
        return rc;
}

/* U5: a merged directory's other ids are current versions too (zero hash: not known here). */
static int fs_ckpt_alias_cb(void *arg, const uint8_t *file_id, const uint8_t *state, size_t len)
{
        static const uint8_t zero[32];
        struct fs_ckpt_list *l = arg;
        struct fs_aliasver a;
        int rc = fs_aliasver_decode(state, len, &a);

        if (rc != 0)
                return rc;
        free(a.vv);
        return memcmp(a.hash, zero, 32) != 0 ? fs_ckpt_add(l, file_id, a.hash) : 0;
}

static int fs_ckpt_cmp(const void *a, const void *b)
{
        return memcmp(a, b, 16); /* file_id is the first member */
}

/* Every current manifest: live versions, then deletions of files not live and merged
 * directories' other ids (one per id). */
static int fs_ckpt_collect(struct fs *fs, struct fs_ckpt_list *l)
{
        size_t live, i, k;
        int rc;

        rc = index_for_each_live(fs->ix, fs_ckpt_live_cb, l);
        live = l->n;
        if (rc == 0)
                rc = index_for_each_gone(fs->ix, fs_ckpt_gone_cb, l);
        if (rc == 0)
                rc = index_for_each_aliasver(fs->ix, fs_ckpt_alias_cb, l);
        if (rc != 0)
                return rc;
        qsort(l->v, live, sizeof(*l->v), fs_ckpt_cmp);
        for (i = k = live; i < l->n; i++)
                if (bsearch(&l->v[i], l->v, live, sizeof(*l->v), fs_ckpt_cmp) == NULL)
                        l->v[k++] = l->v[i];
        l->n = k;
        return 0;
}

/* 1 if no active writer or admin has a lower device id than ours. */
static int fs_ckpt_designated(struct fs *fs)
{
        struct pull_peer_info pi;
        struct pull_peer peer;
        size_t i, n = pull_peer_count(fs->pull);

        for (i = 0; i < n; i++) {
                if (pull_peer_get(fs->pull, i, &pi) != 0 ||
                    memcmp(pi.device_id, fs->device_id, 16) >= 0 ||
                    pull_peer_lookup(fs->pull, pi.device_id, &peer) != 0)
                        continue;
                if (!peer.removed &&
                    (peer.role == MEMBER_ROLE_WRITER || peer.role == MEMBER_ROLE_ADMIN))
                        return 0;
        }
        return 1;
}

static uint64_t fs_ckpt_sum(const struct journal_seen *m, size_t n)
{
        uint64_t s = 0;

        for (size_t i = 0; i < n; i++)
                s += m[i].seq;
        return s;
}

/* The interval: SEALSYNC_CHECKPOINT_EVERY if set (designated or not), else by designation. */
static uint64_t fs_ckpt_every(struct fs *fs)
{
        const char *v = getenv("SEALSYNC_CHECKPOINT_EVERY");
        unsigned long long n;
        char *end;

        if (v != NULL) {
                errno = 0;
                n = strtoull(v, &end, 10);
                if (errno == 0 && *end == '\0' && n > 0)
                        return n;
        }
        return fs_ckpt_designated(fs) ? FS_CKPT_EVERY : FS_CKPT_EVERY * FS_CKPT_OTHERS_FACTOR;
}

/* 1 if nothing waits in the outbox (our head is on the store). */
static int fs_ckpt_uploaded(struct fs *fs)
{
        char path[PATH_MAX];
        unsigned entries = 1;
        uint64_t bytes = 0;

        if (snprintf(path, sizeof(path), "%s/outbox", fs->region->dir) >= (int)sizeof(path))
                return 0;
        return push_outbox_queue(path, &entries, &bytes) == 0 && entries == 0;
}

static int fs_ckpt_write(struct fs *fs, const struct ckpt_ctx *x, const struct journal_seen *m,
                         size_t nm)
{
        struct fs_ckpt_list l = {fs, NULL, 0, 0};
        uint8_t head[32], v[8];
        uint64_t seq = fs_ckpt_get_u64(fs, "ckpt_seq") + 1;
        int rc = fs_ckpt_collect(fs, &l);

        pthread_mutex_lock(&fs->head_lock);
        memcpy(head, fs->member_head, 32);
        pthread_mutex_unlock(&fs->head_lock);
        /* The counter first: no seq is ever signed over two contents. */
        fs_ckpt_u64be(v, seq);
        if (rc == 0)
                rc = index_meta_put(fs->ix, "ckpt_seq", v, 8);
        pthread_mutex_lock(&fs->ns_lock); /* no committer savepoint is open (DESIGN.md) */
        if (rc == 0)
                rc = index_commit(fs->ix);
        pthread_mutex_unlock(&fs->ns_lock);
        if (rc == 0)
                rc = ckpt_write(x, fs->sign_sk, head, m, nm, l.v, l.n, seq, NULL);
        fs_ckpt_u64be(v, fs_ckpt_sum(m, nm));
        if (rc == 0)
                rc = index_meta_put(fs->ix, "ckpt_entries", v, 8);
        free(l.v);
        return rc;
}

uint64_t fs_ckpt_request(struct fs *fs)
{
        return atomic_fetch_add(&fs->ckpt_asked, 1) + 1;
}

int fs_ckpt_answer(struct fs *fs, uint64_t n, int *rc, uint64_t *seq)
{
        if (atomic_load(&fs->ckpt_answered) < n)
                return 0;
        *rc = atomic_load(&fs->ckpt_answer_rc);
        *seq = atomic_load(&fs->ckpt_answer_seq);
        return 1;
}

/* Answers the forced requests up to ASKED with RC (the puller thread). */
static void fs_ckpt_answer_all(struct fs *fs, uint64_t asked, int rc)
{
        atomic_store(&fs->ckpt_answer_rc, rc);
        atomic_store(&fs->ckpt_answer_seq, rc == 0 ? fs_ckpt_get_u64(fs, "ckpt_seq") : 0);
        atomic_store(&fs->ckpt_answered, asked);
}

void fs_ckpt_maybe(struct fs *fs)
{
        struct journal_seen *m = NULL;
        struct ckpt_ctx x;
        size_t nm = 0;
        time_t now = time(NULL);
        uint64_t asked = atomic_load(&fs->ckpt_asked);
        int forced = asked > atomic_load(&fs->ckpt_answered), rc;

        if (fs->push == NULL || fs->sign_sk == NULL || atomic_load(&fs->read_only) ||
            fs->commit_broken) {
                if (forced)
                        fs_ckpt_answer_all(fs, asked, -EROFS);
                return;
        }
        if (!forced && now < fs->ckpt_retry_after)
                return;
        fs_ckpt_ctx(fs, &x);
        if (!fs_ckpt_uploaded(fs))     /* after reading our head: it is on the store */
                return;                /* a forced request waits for the next round */
        rc = ckpt_vector(&x, &m, &nm); /* the vector before the state (see the top) */
        if (rc == -EBUSY) {
                if (forced)
                        fs_ckpt_answer_all(fs, asked, rc);
                return; /* invariant C3: an undo is pending (sync/pull.c pull_peer_cut) */
        }
        if (rc == 0 && !forced &&
            fs_ckpt_sum(m, nm) < fs_ckpt_get_u64(fs, "ckpt_entries") + fs_ckpt_every(fs)) {
                free(m);
                return;
        }
        if (rc == 0)
                rc = fs_ckpt_write(fs, &x, m, nm);
        free(m);
        if (forced)
                fs_ckpt_answer_all(fs, asked, rc);
        if (rc != 0) {
                log_warn("checkpoint not written (%s); trying again in %d s", strerror(-rc),
                         FS_CKPT_RETRY_S);
                fs->ckpt_retry_after = now + FS_CKPT_RETRY_S;
        }
}
