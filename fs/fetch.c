/* SPDX-License-Identifier: Apache-2.0 */
/*
 * On-demand content (doc/DESIGN.md "On-demand content"): blocks of remote
 * versions are recorded as remote (IN->remote, a subset of IN->blocks,
 * whose index blockref row holds the reference) and fetched when first
 * needed; pinned subtrees are kept fully local.
 *
 * Invariants:
 *  1. A fetched block is stored only if, under IN's write lock, it is still
 *     remote and its blockref still names the hash it was fetched by: a
 *     newer version applied meanwhile (fs/apply.c) is never mixed with bytes
 *     of the older one.  pull_fetch_blocks has checked the hash;
 *     fs_content_put_sealed checks that it opens under IN's keys.
 *  2. Nothing is fetched while a lock is held, except by fs_fetch_locked,
 *     whose callers (partial writes, truncation, re-encryption, conflict
 *     copies) hold IN->lock for writing and accept waiting for the store.
 *  3. Remote blocks are never dirty: a block written here is local.
 *  4. Failures are EIO for the reader's range (never zeros, never another
 *     version); the block stays remote and is tried again at the next read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/enc.h"
#include "crypto/secmem.h"
#include "fs/fsint.h"
#include "sync/pull.h"
#include "util/hex.h"
#include "util/log.h"

#define FETCH_RA_FIRST_BYTES (1u << 20) /* read-ahead of a first or random read */
#define FETCH_RA_MAX_BYTES (8u << 20)   /* of a long sequential read */
#define FETCH_BATCH_BYTES (8u << 20)    /* blocks fetched per pull_fetch_blocks call */
#define FETCH_PINS_KEY "pins"           /* older indexes: u64be inode numbers */
#define FETCH_PINS_ID_KEY "pins-id"
#define FETCH_PINS_MAX FS_PINS_MAX
#define FETCH_DEPTH_MAX 4096

/* Remote blocks being fetched: their indexes and the pull's wants. */
struct fetch_set {
        uint64_t *idx;
        struct pull_want *w;
        uint8_t *bufs; /* n × slot_len */
        size_t n, cap;
};

static void fetch_set_release(struct fetch_set *fs_set, size_t slot_len)
{
        if (fs_set->bufs != NULL)
                secmem_wipe(fs_set->bufs, fs_set->cap * slot_len);
        free(fs_set->bufs);
        free(fs_set->idx);
        free(fs_set->w);
        memset(fs_set, 0, sizeof(*fs_set));
}

static uint64_t fetch_blocks_of(const struct fs *fs, uint64_t bytes)
{
        uint64_t n = bytes / fs->bs;

        return n > 0 ? n : 1;
}

/*
 * Collects at most MAX remote blocks of IN in [FIRST, END) with their
 * references into SET (caller holds IN->lock).
 */
static int fetch_collect(struct fs *fs, struct fs_inode *in, uint64_t first, uint64_t end,
                         size_t max, struct fetch_set *set)
{
        uint64_t v = first;
        size_t i;

        memset(set, 0, sizeof(*set));
        while (set->n < max && rangeset_next(&in->remote, v, &v) && v < end) {
                if (set->n == set->cap) {
                        size_t cap = set->cap ? 2 * set->cap : 16;
                        uint64_t *idx = realloc(set->idx, cap * sizeof(*idx));

                        if (idx == NULL)
                                return -ENOMEM;
                        set->idx = idx;
                        set->cap = cap;
                }
                set->idx[set->n++] = v++;
        }
        if (set->n == 0)
                return 0;
        set->w = calloc(set->n, sizeof(*set->w));
        set->bufs = malloc(set->n * fs->slot_len);
        set->cap = set->n;
        if (set->w == NULL || set->bufs == NULL)
                return -ENOMEM;
        for (i = 0; i < set->n; i++) {
                int rc = index_blockref_get(fs->ix, in->ino, set->idx[i], set->w[i].hash);

                if (rc != 0)
                        return rc == -ENOENT ? -EIO : rc; /* remote without a reference */
                set->w[i].out = set->bufs + i * fs->slot_len;
        }
        return 0;
}

/*
 * Stores the fetched blocks of SET that IN still wants (invariant 1; IN->lock
 * held for writing).  A block that cannot be stored gets its W[i].RC set
 * (-EIO: logged by fs_content_put_sealed) and the others are still stored.
 * Returns 0, or saving the record's errno.
 */
static int fetch_store(struct fs *fs, struct fs_inode *in, struct fetch_set *set)
{
        uint64_t nblocks = (in->size + fs->bs - 1) / fs->bs;
        uint8_t have[32];
        size_t i, stored = 0;
        int rc;

        for (i = 0; i < set->n; i++) {
                uint64_t idx = set->idx[i];

                if (set->w[i].rc != 0 || !rangeset_contains(&in->remote, idx) ||
                    index_blockref_get(fs->ix, in->ino, idx, have) != 0 ||
                    memcmp(have, set->w[i].hash, 32) != 0)
                        continue;
                rc = fs_content_put_sealed(fs, in, idx, idx + 1 == nblocks, set->w[i].out,
                                           set->w[i].len);
                if (rc == 0)
                        rc = rangeset_remove(&in->remote, idx, idx + 1);
                if (rc == 0)
                        stored++;
                else
                        set->w[i].rc = rc == -EBADMSG ? -EIO : rc; /* never EBADMSG to FUSE */
        }
        return stored > 0 ? fs_inode_save(fs, in) : 0;
}

/*
 * The failure among SET's blocks [LO, HI] (the caller's range; read-ahead
 * beyond it fails nobody's read), logged once per call with IN's file id.
 */
static int fetch_failed(struct fs_inode *in, const struct fetch_set *set, uint64_t lo, uint64_t hi)
{
        char fid[33];
        size_t i, bad = 0, ahead = 0;
        int rc = 0;

        for (i = 0; i < set->n; i++) {
                if (set->w[i].rc == 0)
                        continue;
                if (set->idx[i] < lo || set->idx[i] > hi) {
                        ahead++;
                        continue;
                }
                bad++;
                if (rc == 0)
                        rc = set->w[i].rc;
        }
        hex_encode(fid, in->file_id, 16);
        if (ahead > 0)
                log_warn("file %s (inode %llu): %zu read-ahead block(s) could not be fetched; "
                         "they are tried again when read",
                         fid, (unsigned long long)in->ino, ahead);
        if (bad == 0)
                return 0;
        log_err("file %s (inode %llu): %zu of %zu blocks could not be fetched from the store "
                "(%s); returning EIO",
                fid, (unsigned long long)in->ino, bad, set->n, strerror(-rc));
        return -EIO;
}

/*
 * Fetches SET (no lock held unless LOCKED) and stores it under IN's write
 * lock.  Only a failure of a block in [LO, HI] is the caller's failure.
 */
static int fetch_run(struct fs *fs, struct fs_inode *in, struct fetch_set *set, int locked,
                     uint64_t lo, uint64_t hi)
{
        size_t i;
        int st;

        if (fs->pull == NULL)
                return -EIO; /* remote blocks on a mount without a store */
        for (i = 0; i < set->n; i++)
                set->w[i].rc = -ENOMEM; /* if it fails before looking at them */
        /* Per-block outcomes are in SET->W[i].RC; the first failure adds nothing. */
        if (pull_fetch_blocks(fs->pull, set->w, set->n, fs->slot_len) != 0)
                log_debug("fetch: some blocks did not come (per block below)");
        if (!locked)
                pthread_rwlock_wrlock(&in->lock);
        st = fetch_store(fs, in, set);
        if (!locked) {
                fs_inode_idle_locked(fs, in); /* pin fetches touch files nobody has open */
                pthread_rwlock_unlock(&in->lock);
        }
        return st != 0 ? st : fetch_failed(in, set, lo, hi);
}

int fs_fetch_locked(struct fs *fs, struct fs_inode *in, uint64_t first, uint64_t end)
{
        struct fetch_set set;
        int rc = 0;

        while (rc == 0 && rangeset_next(&in->remote, first, &first) && first < end) {
                rc =
                    fetch_collect(fs, in, first, end, fetch_blocks_of(fs, FETCH_BATCH_BYTES), &set);
                if (rc == 0)
                        rc = fetch_run(fs, in, &set, 1, first, end - 1);
                fetch_set_release(&set, fs->slot_len);
        }
        return rc;
}

/*
 * The read-ahead window (in blocks) for a read of blocks [FIRST, LAST]:
 * doubled while reads follow each other, up to FETCH_RA_MAX_BYTES.
 * Advisory state, updated with relaxed atomics under the read lock.
 */
static uint64_t fetch_window(struct fs *fs, struct fs_inode *in, uint64_t first)
{
        uint32_t win = __atomic_load_n(&in->ra_win, __ATOMIC_RELAXED);
        uint64_t max = fetch_blocks_of(fs, FETCH_RA_MAX_BYTES);

        if (win == 0 || __atomic_load_n(&in->ra_next, __ATOMIC_RELAXED) != first)
                win = (uint32_t)fetch_blocks_of(fs, FETCH_RA_FIRST_BYTES);
        else if (2 * (uint64_t)win <= max)
                win *= 2;
        __atomic_store_n(&in->ra_win, win, __ATOMIC_RELAXED);
        return win;
}

int fs_fetch_for_read(struct fs *fs, struct fs_inode *in, uint64_t off, size_t len)
{
        struct fetch_set set;
        uint64_t first, last, v, win;
        int rc;

        if (len == 0)
                return 0;
        first = off / fs->bs;
        last = (off + len - 1) / fs->bs;
        pthread_rwlock_rdlock(&in->lock);
        if (!rangeset_next(&in->remote, first, &v) || v > last) {
                __atomic_store_n(&in->ra_next, last + 1, __ATOMIC_RELAXED);
                pthread_rwlock_unlock(&in->lock);
                return 0;
        }
        win = fetch_window(fs, in, first);
        __atomic_store_n(&in->ra_next, last + 1, __ATOMIC_RELAXED);
        rc = fetch_collect(fs, in, first, last + 1 + win, (size_t)(last + 1 - first + win), &set);
        pthread_rwlock_unlock(&in->lock);
        if (rc == 0 && set.n > 0)
                rc = fetch_run(fs, in, &set, 0, first, last);
        fetch_set_release(&set, fs->slot_len);
        return rc;
}

/* Fetches every remote block of IN, batch by batch (no lock held); *DONE += bytes stored. */
static int fetch_whole(struct fs *fs, struct fs_inode *in, uint64_t *done)
{
        struct fetch_set set;
        uint64_t next = 0, v;
        int rc = 0;

        for (;;) {
                pthread_rwlock_rdlock(&in->lock);
                if (!rangeset_next(&in->remote, next, &v)) {
                        pthread_rwlock_unlock(&in->lock);
                        return 0;
                }
                rc = fetch_collect(fs, in, v, UINT64_MAX, fetch_blocks_of(fs, FETCH_BATCH_BYTES),
                                   &set);
                pthread_rwlock_unlock(&in->lock);
                if (rc == 0)
                        rc = fetch_run(fs, in, &set, 0, 0, UINT64_MAX);
                if (rc == 0)
                        *done += set.n * (uint64_t)fs->bs;
                next = set.n > 0 ? set.idx[set.n - 1] + 1 : v + 1;
                fetch_set_release(&set, fs->slot_len);
                if (rc != 0)
                        return rc;
        }
}

/*
 * ---- pins (index meta "pins-id": n x file id[16]; older indexes: "pins",
 * u64be inode numbers, converted at load) ----
 * In memory: fs->pins[i] is the inode of fs->pin_ids[i].  Stored by file id
 * so a purged file's inode number, if ever given to another file, is not
 * pinned by mistake.
 */

/* Appends pin (INO, FILE_ID) (caller holds pins_lock; room checked). */
static void fetch_pin_add(struct fs *fs, uint64_t ino, const uint8_t file_id[16])
{
        fs->pins[fs->npins] = ino;
        memcpy(fs->pin_ids[fs->npins], file_id, 16);
        fs->npins++;
}

/* Removes pin I, the last one taking its place (caller holds pins_lock). */
static void fetch_pin_del(struct fs *fs, size_t i)
{
        fs->npins--;
        fs->pins[i] = fs->pins[fs->npins];
        memcpy(fs->pin_ids[i], fs->pin_ids[fs->npins], 16);
}

/* The file id of inode INO into FILE_ID.  -ENOENT if it has no row. */
static int fetch_file_id(struct fs *fs, uint64_t ino, uint8_t file_id[16])
{
        uint8_t *attr = NULL;
        size_t alen = 0;
        uint32_t nlink = 0;
        int rc = index_inode_get(fs->ix, ino, file_id, &nlink, &attr, &alen);

        if (attr != NULL) {
                secmem_wipe(attr, alen);
                free(attr);
        }
        return rc;
}

/* Writes the pins through to the index (caller holds pins_lock). */
static int fetch_pins_save(struct fs *fs)
{
        return index_meta_put(fs->ix, FETCH_PINS_ID_KEY, fs->npins ? fs->pin_ids[0] : NULL,
                              fs->npins * 16);
}

/* Loads the older format (inode numbers) into FS (caller holds pins_lock). */
static void fetch_pins_legacy(struct fs *fs, const uint8_t *buf, size_t len)
{
        uint8_t fid[16];
        struct dec d;
        size_t i;

        dec_init(&d, buf, len);
        for (i = 0; i < len / 8; i++) {
                uint64_t ino = dec_u64(&d);

                if (fetch_file_id(fs, ino, fid) == 0)
                        fetch_pin_add(fs, ino, fid);
        }
}

/* Loads pins by file id, dropping those whose file is gone (caller holds pins_lock). */
static void fetch_pins_ids(struct fs *fs, const uint8_t *buf, size_t len)
{
        size_t i;

        for (i = 0; i < len / 16; i++) {
                uint64_t ino;

                if (index_ino_by_file_id(fs->ix, buf + 16 * i, &ino) == 0)
                        fetch_pin_add(fs, ino, buf + 16 * i);
        }
}

int fs_pins_load(struct fs *fs)
{
        uint8_t *buf = malloc(FETCH_PINS_MAX * 16);
        size_t len = 0;
        int rc, legacy = 0;

        if (buf == NULL)
                return -ENOMEM;
        rc = index_meta_get(fs->ix, FETCH_PINS_ID_KEY, buf, FETCH_PINS_MAX * 16, &len);
        if (rc == -ENOENT) {
                legacy = 1;
                rc = index_meta_get(fs->ix, FETCH_PINS_KEY, buf, FETCH_PINS_MAX * 8, &len);
        }
        if (rc == -ENOENT) {
                rc = 0;
                len = 0;
        }
        if (rc == 0 && len % (legacy ? 8 : 16) != 0)
                rc = -EBADMSG;
        pthread_mutex_lock(&fs->pins_lock);
        fs->npins = 0;
        if (rc == 0 && legacy)
                fetch_pins_legacy(fs, buf, len);
        else if (rc == 0)
                fetch_pins_ids(fs, buf, len);
        if (rc == 0 && (legacy ? len > 0 : fs->npins != len / 16))
                rc = fetch_pins_save(fs); /* converted, or purged files dropped */
        pthread_mutex_unlock(&fs->pins_lock);
        free(buf);
        if (rc != 0)
                log_err("index: the pinned directories are unreadable: %s", strerror(-rc));
        return rc;
}

int fs_pin_set(struct fs *fs, uint64_t ino, int on)
{
        uint8_t fid[16], old[16];
        size_t i;
        int rc = on ? fetch_file_id(fs, ino, fid) : 0, changed = 0;

        if (rc != 0)
                return rc;
        pthread_mutex_lock(&fs->pins_lock);
        for (i = 0; i < fs->npins && fs->pins[i] != ino; i++)
                ;
        if (on && i == fs->npins && fs->npins == FETCH_PINS_MAX) {
                rc = -ENOSPC;
        } else if (on && i == fs->npins) {
                fetch_pin_add(fs, ino, fid);
                changed = 1;
        } else if (!on && i < fs->npins) {
                memcpy(old, fs->pin_ids[i], 16);
                fetch_pin_del(fs, i);
                changed = 1;
        } else {
                rc = on ? 0 : -ENOENT;
        }
        if (changed)
                rc = fetch_pins_save(fs);
        if (rc != 0 && changed) {
                /* Saving failed: memory keeps agreeing with the index (order aside). */
                if (on)
                        fs->npins--;
                else
                        fetch_pin_add(fs, ino, old);
        }
        pthread_mutex_unlock(&fs->pins_lock);
        /*
         * Durable at return; committed without pins_lock held: index_commit
         * may wait for the committer's savepoint, whose holder may evict an
         * inode (fs_pin_forget takes pins_lock).
         */
        if (rc == 0 && changed)
                rc = index_commit(fs->ix);
        return rc;
}

void fs_pin_forget(struct fs *fs, uint64_t ino)
{
        size_t i;

        pthread_mutex_lock(&fs->pins_lock);
        for (i = 0; i < fs->npins && fs->pins[i] != ino; i++)
                ;
        if (i < fs->npins) {
                fetch_pin_del(fs, i);
                if (fetch_pins_save(fs) != 0)
                        log_err("index: cannot drop the pin of a deleted file; dropped at the "
                                "next mount");
        }
        pthread_mutex_unlock(&fs->pins_lock);
}

size_t fs_pin_get(struct fs *fs, uint64_t *out, size_t cap)
{
        size_t n;

        pthread_mutex_lock(&fs->pins_lock);
        n = fs->npins < cap ? fs->npins : cap;
        memcpy(out, fs->pins, n * sizeof(*out));
        pthread_mutex_unlock(&fs->pins_lock);
        return n;
}

static int fetch_is_pin(struct fs *fs, uint64_t ino)
{
        size_t i;
        int hit = 0;

        pthread_mutex_lock(&fs->pins_lock);
        for (i = 0; i < fs->npins && !hit; i++)
                hit = fs->pins[i] == ino;
        pthread_mutex_unlock(&fs->pins_lock);
        return hit;
}

int fs_pinned(struct fs *fs, uint64_t ino)
{
        char name[INDEX_NAME_MAX + 1];
        size_t len, depth;
        uint8_t type;

        pthread_mutex_lock(&fs->pins_lock);
        depth = fs->npins;
        pthread_mutex_unlock(&fs->pins_lock);
        if (depth == 0)
                return 0;
        for (depth = 0; depth < FETCH_DEPTH_MAX; depth++) {
                if (fetch_is_pin(fs, ino)) {
                        secmem_wipe(name, sizeof(name));
                        return 1;
                }
                if (ino == INDEX_ROOT_INO ||
                    index_name_of(fs->ix, ino, &ino, name, &len, &type) != 0)
                        break;
        }
        secmem_wipe(name, sizeof(name));
        return 0;
}

/* ---- the puller's eager fetches of pinned files (fs/apply.c) ---- */

void fs_pin_queue(struct fs *fs, uint64_t ino)
{
        uint64_t *q;

        if (fs->npinq == fs->cappinq) {
                size_t cap = fs->cappinq ? 2 * fs->cappinq : 16;

                q = realloc(fs->pinq, cap * sizeof(*q));
                if (q == NULL)
                        return; /* fetched at its first read instead */
                fs->pinq = q;
                fs->cappinq = cap;
        }
        fs->pinq[fs->npinq++] = ino;
}

/* Fetches every remote block of inode INO (no lock held); *DONE counts bytes. */
static int fetch_ino(struct fs *fs, uint64_t ino, uint64_t *done)
{
        struct fs_inode *in;
        int rc = fs_inode_get(fs, ino, &in);

        if (rc != 0)
                return rc == -ENOENT ? 0 : rc;
        rc = in->kind == FS_KIND_REG ? fetch_whole(fs, in, done) : 0;
        fs_inode_put(fs, in);
        return rc;
}

void fs_pin_drain(struct fs *fs)
{
        uint64_t done = 0;
        size_t i;

        for (i = 0; i < fs->npinq; i++)
                if (fetch_ino(fs, fs->pinq[i], &done) != 0)
                        log_warn("inode %llu (pinned): its new version stays remote for now",
                                 (unsigned long long)fs->pinq[i]);
        fs->npinq = 0;
}

/* ---- a subtree: pin fetches and counts ---- */

struct fetch_tree {
        uint64_t *inos; /* regular files found */
        size_t n, cap;
        uint64_t *dirs; /* directories still to list */
        size_t ndirs, capdirs;
        int err;
};

static int fetch_push(uint64_t **v, size_t *n, size_t *cap, uint64_t x)
{
        if (*n == *cap) {
                size_t c = *cap ? 2 * *cap : 64;
                uint64_t *nv = realloc(*v, c * sizeof(*nv));

                if (nv == NULL)
                        return -ENOMEM;
                *v = nv;
                *cap = c;
        }
        (*v)[(*n)++] = x;
        return 0;
}

static int fetch_tree_cb(void *arg, int64_t pos, uint64_t ino, uint8_t type, const char *name,
                         size_t len)
{
        struct fetch_tree *t = arg;

        (void)pos;
        (void)name;
        (void)len;
        if (type == FS_KIND_DIR)
                return fetch_push(&t->dirs, &t->ndirs, &t->capdirs, ino);
        if (type == FS_KIND_REG)
                return fetch_push(&t->inos, &t->n, &t->cap, ino);
        return 0;
}

/* Every regular file under (or being) INO into T->inos. */
static int fetch_tree_list(struct fs *fs, uint64_t ino, struct fetch_tree *t)
{
        struct fs_inode *in;
        int rc = fs_inode_get(fs, ino, &in);

        if (rc != 0)
                return rc;
        rc = fetch_push(in->kind == FS_KIND_DIR ? &t->dirs : &t->inos,
                        in->kind == FS_KIND_DIR ? &t->ndirs : &t->n,
                        in->kind == FS_KIND_DIR ? &t->capdirs : &t->cap, ino);
        fs_inode_put(fs, in);
        while (rc == 0 && t->ndirs > 0)
                rc = index_readdir(fs->ix, t->dirs[--t->ndirs], 0, fetch_tree_cb, t);
        return rc;
}

/* The remote and local block bytes of inode INO, from its record. */
static int fetch_count_one(struct fs *fs, uint64_t ino, uint64_t *remote, uint64_t *local)
{
        struct fs_inode tmp;
        uint8_t *attr = NULL;
        size_t alen = 0;
        uint64_t r;
        int rc;

        memset(&tmp, 0, sizeof(tmp));
        rangeset_init(&tmp.blocks);
        rangeset_init(&tmp.dirty);
        rangeset_init(&tmp.remote);
        rc = index_inode_get(fs->ix, ino, tmp.file_id, &tmp.nlink, &attr, &alen);
        if (rc == 0)
                rc = fs_attr_decode(&tmp, attr, alen, fs->genesis_epoch);
        if (rc == 0 && tmp.kind == FS_KIND_REG) {
                r = rangeset_count(&tmp.remote);
                *remote += r * fs->bs;
                *local += (rangeset_count(&tmp.blocks) - r) * fs->bs;
        }
        if (attr != NULL)
                secmem_wipe(attr, alen);
        free(attr);
        fs_inode_clear(&tmp);
        return rc;
}

struct fetch_count {
        struct fs *fs;
        uint64_t remote, local;
};

static int fetch_count_cb(void *arg, uint64_t ino)
{
        struct fetch_count *c = arg;

        return fetch_count_one(c->fs, ino, &c->remote, &c->local);
}

int fs_content_counts(struct fs *fs, uint64_t *remote, uint64_t *local)
{
        struct fetch_count c = {fs, 0, 0};
        int rc = index_for_each_live(fs->ix, fetch_count_cb, &c);

        if (rc == 0) {
                *remote = c.remote;
                *local = c.local;
        }
        return rc;
}

int fs_fetch_tree(struct fs *fs, uint64_t ino,
                  int (*progress)(void *arg, uint64_t done, uint64_t total), void *arg)
{
        struct fetch_tree t;
        uint64_t total = 0, local = 0, done = 0;
        size_t i;
        int rc, failed = 0;

        memset(&t, 0, sizeof(t));
        rc = fetch_tree_list(fs, ino, &t);
        for (i = 0; i < t.n && rc == 0; i++)
                rc = fetch_count_one(fs, t.inos[i], &total, &local);
        for (i = 0; i < t.n && rc == 0; i++) {
                int r = fetch_ino(fs, t.inos[i], &done);

                if (r != 0 && failed == 0)
                        failed = r;
                if (progress != NULL)
                        rc = progress(arg, done, total);
        }
        free(t.inos);
        free(t.dirs);
        return rc != 0 ? rc : failed;
}
