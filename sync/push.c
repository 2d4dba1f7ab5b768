#include "sync/push.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sync/journal.h"
#include "util/fileio.h"
#include "util/hex.h"
#include "util/log.h"

#define PUSH_IDLE_S 5
#define PUSH_BACKOFF_MAX_S 60
#define PUSH_ENTRY_MAX (64u << 20)
/*
 * Packs of one entry uploaded at once.  Each is read whole (<= 64 MiB,
 * PACK_MAX_SIZE) while it is sent, so this bounds the pusher's memory; the
 * store bounds the requests in flight (an s3:// store sends a large pack's
 * parts in parallel too, through the same connection pool).
 */
#define PUSH_PACKS_PAR 2

struct push {
        struct store *store;
        char outbox[PATH_MAX];
        char region_hex[65];
        uint8_t device_id[16];
        uint64_t (*durable)(void *arg);
        void *arg;

        pthread_t thread;
        int stepped;          /* push_start_stepped: no thread; passes run in push_step only */
        pthread_mutex_t lock; /* everything below; the upload itself runs unlocked */
        pthread_cond_t cond;
        pthread_mutex_t run; /* one upload pass at a time */
        int kicked;
        int stopping;
        struct push_status st;
        struct push_stats stats; /* push_get_stats */
        char pass_err[256];      /* why a pack upload of this pass failed, "" if none */
};

struct push_item {
        uint64_t seq;
        char name[96];
};

static int push_item_cmp(const void *a, const void *b)
{
        const struct push_item *x = a, *y = b;

        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The outbox's entries "j-<seq:016x>-<hash>" in seq order. */
static int push_scan(struct push *p, struct push_item **out, size_t *n)
{
        struct push_item *items = NULL;
        size_t cap = 0, cnt = 0;
        struct dirent *de;
        DIR *d = opendir(p->outbox);

        if (d == NULL)
                return -errno;
        while ((de = readdir(d)) != NULL) {
                uint8_t seqb[8];
                char hex[17];
                uint64_t seq = 0;
                int i;

                if (strncmp(de->d_name, "j-", 2) != 0 || strlen(de->d_name) != 83)
                        continue;
                memcpy(hex, de->d_name + 2, 16);
                hex[16] = '\0';
                if (hex_decode(seqb, 8, hex) != 0)
                        continue;
                for (i = 0; i < 8; i++)
                        seq = seq << 8 | seqb[i];
                if (cnt == cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        struct push_item *ni = realloc(items, ncap * sizeof(*ni));

                        if (ni == NULL) {
                                free(items);
                                closedir(d);
                                return -ENOMEM;
                        }
                        items = ni;
                        cap = ncap;
                }
                items[cnt].seq = seq;
                /* 83 characters, checked above. */
                memcpy(items[cnt].name, de->d_name, 84);
                cnt++;
        }
        closedir(d);
        qsort(items, cnt, sizeof(*items), push_item_cmp);
        *out = items;
        *n = cnt;
        return 0;
}

static int push_file(struct push *p, const char *name, uint8_t **buf, size_t *len)
{
        char path[PATH_MAX];

        if (snprintf(path, sizeof(path), "%s/%s", p->outbox, name) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        return fileio_read_all(path, PUSH_ENTRY_MAX, buf, len);
}

/* PUT KEY if absent; an existing object must hold the same bytes. */
static int push_put(struct push *p, const char *key, const uint8_t *buf, size_t len)
{
        uint8_t *have = NULL;
        size_t hlen = 0;
        int rc = p->store->ops->put(p->store, key, buf, len, 1);

        if (rc == -EEXIST) {
                rc = p->store->ops->get(p->store, key, len, &have, &hlen);
                if (rc == 0 && (hlen != len || memcmp(have, buf, len) != 0))
                        rc = -EBADE;
                free(have);
        }
        if (rc == 0) {
                pthread_mutex_lock(&p->lock);
                p->stats.objects_sent++;
                p->stats.bytes_sent += len;
                pthread_mutex_unlock(&p->lock);
        }
        return rc;
}

/* Uploads the outbox's pack HASH unless an earlier pass did (its file is gone). */
static int push_pack(struct push *p, const uint8_t hash[32])
{
        char key[JOURNAL_KEY_SIZE + 128], hex[65], pname[80];
        uint8_t *pb = NULL;
        size_t plen = 0;
        int rc;

        hex_encode(hex, hash, 32);
        snprintf(pname, sizeof(pname), "p-%s", hex);
        rc = push_file(p, pname, &pb, &plen);
        if (rc == -ENOENT)
                return 0; /* uploaded by an earlier pass that stopped before cleanup */
        snprintf(key, sizeof(key), "%s/p/%s", p->region_hex, hex);
        if (rc == 0)
                rc = push_put(p, key, pb, plen);
        free(pb);
        return rc;
}

/*
 * The packs of one entry being uploaded: the workers share NEXT (the next
 * pack to send) and RC (the first failure) under LOCK.
 */
struct push_packs {
        struct push *p;
        const struct journal_entry *e;
        pthread_mutex_t lock;
        size_t next;
        int rc;
        char why[256]; /* the failing worker's last error line (util/log.h: per thread) */
};

/* A worker: uploads packs in order until none is left or one has failed. */
static void *push_packs_worker(void *arg)
{
        struct push_packs *w = arg;
        size_t i;
        int rc;

        for (;;) {
                pthread_mutex_lock(&w->lock);
                if (w->rc != 0 || w->next == w->e->npacks) {
                        pthread_mutex_unlock(&w->lock);
                        return NULL;
                }
                i = w->next++;
                pthread_mutex_unlock(&w->lock);
                rc = push_pack(w->p, w->e->packs[i].hash);
                if (rc == 0)
                        continue;
                pthread_mutex_lock(&w->lock);
                if (w->rc == 0) {
                        w->rc = rc;
                        if (!log_last_error(w->why, sizeof(w->why)))
                                w->why[0] = '\0';
                }
                pthread_mutex_unlock(&w->lock);
        }
}

/*
 * Uploads every pack of E, up to PUSH_PACKS_PAR at once (the calling
 * thread is one worker; fewer if threads cannot be created), and returns
 * only when none is in flight any more: 0 once all of them are on the
 * store, else the first failure.
 */
static int push_packs(struct push *p, const struct journal_entry *e)
{
        struct push_packs w = {.p = p, .e = e};
        pthread_t th[PUSH_PACKS_PAR - 1];
        size_t n = 0, i;

        if (pthread_mutex_init(&w.lock, NULL) != 0)
                return -ENOMEM;
        while (!p->stepped && n < PUSH_PACKS_PAR - 1 && n + 1 < e->npacks &&
               pthread_create(&th[n], NULL, push_packs_worker, &w) == 0)
                n++;
        push_packs_worker(&w);
        for (i = 0; i < n; i++)
                pthread_join(th[i], NULL);
        pthread_mutex_destroy(&w.lock);
        if (w.rc != 0) {
                pthread_mutex_lock(&p->lock);
                memcpy(p->pass_err, w.why, sizeof(p->pass_err));
                pthread_mutex_unlock(&p->lock);
        }
        return w.rc;
}

/*
 * Uploads one entry and its packs, then removes them from the outbox.  The
 * entry is put only after every pack it references is on the store
 * (push_packs has joined all its uploads): a published entry never names a
 * missing pack.
 */
static int push_one(struct push *p, const struct push_item *it)
{
        struct journal_entry e;
        char key[JOURNAL_KEY_SIZE + 128], hex[65], path[PATH_MAX + 128];
        uint8_t *buf = NULL, hash[32];
        size_t len = 0, i;
        int rc;

        rc = push_file(p, it->name, &buf, &len);
        if (rc != 0)
                return rc;
        rc = journal_decode(buf, len, &e);
        if (rc != 0) {
                log_err("outbox: %s is corrupt; it stays for inspection", it->name);
                free(buf);
                return rc;
        }
        rc = push_packs(p, &e);
        if (rc == 0) {
                memcpy(hash, e.hash, 32);
                rc = journal_object_key(p->region_hex, p->device_id, e.seq, hash, key);
        }
        if (rc == 0) {
                rc = push_put(p, key, buf, len);
                if (rc == -EBADE)
                        log_err("the store already holds a different journal entry %llu of this "
                                "device: this device's state was restored or cloned; refusing "
                                "to publish (re-enroll as a new device)",
                                (unsigned long long)e.seq);
        }
        if (rc == 0) {
                /* The entry first: leftover packs are harmless, a leftover entry is re-sent. */
                snprintf(path, sizeof(path), "%s/%s", p->outbox, it->name);
                unlink(path);
                for (i = 0; i < e.npacks; i++) {
                        hex_encode(hex, e.packs[i].hash, 32);
                        snprintf(path, sizeof(path), "%s/p-%s", p->outbox, hex);
                        unlink(path);
                }
                pthread_mutex_lock(&p->lock);
                p->st.pushed_seq = e.seq;
                p->st.last_ok = time(NULL);
                p->st.last_err = 0;
                pthread_mutex_unlock(&p->lock);
        }
        journal_release(&e);
        free(buf);
        return rc;
}

#define PUSH_STALE_S 120

/*
 * With no entry queued, a pack or temporary file in the outbox older than
 * PUSH_STALE_S belongs to no entry (a crash between a round's packs and its
 * entry, or a dying daemon): remove it.  A round writes its packs and its
 * entry within seconds, so a fresh file is never touched.
 */
static void push_drop_stale(struct push *p)
{
        struct dirent *de;
        struct stat st;
        time_t now = time(NULL);
        DIR *d = opendir(p->outbox);

        if (d == NULL)
                return;
        while ((de = readdir(d)) != NULL) {
                char path[PATH_MAX + 260];

                if (strncmp(de->d_name, "p-", 2) != 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", p->outbox, de->d_name);
                if (stat(path, &st) == 0 && now - st.st_mtime > PUSH_STALE_S) {
                        log_warn("outbox: removing %s, left by an interrupted round",
                                 strchr(de->d_name, '.') ? "a temporary pack" : "a pack");
                        unlink(path);
                }
        }
        closedir(d);
}

/* The one-line reason for failure RC: the line logged where it was detected, if any. */
static void push_error_text(int rc, char *buf, size_t size)
{
        if (rc == -EBADE)
                snprintf(buf, size,
                         "the store holds a different journal entry at this device's seq: this "
                         "device was restored or cloned; publishing stopped (re-enroll it)");
        else if (log_last_error(buf, size))
                return;
        else if (rc == -EACCES)
                snprintf(buf, size, "the store denied access (check its credentials)");
        else if (rc == -EAGAIN)
                snprintf(buf, size, "the store is unreachable or failing (gave up after retries)");
        else
                snprintf(buf, size, "uploading to the store failed: %s", strerror(-rc));
}

/* Records the outcome RC of the pass that just ended.  Caller holds P->lock. */
static void push_pass_end(struct push *p, int rc)
{
        p->stats.passes_done = p->stats.passes_started;
        p->stats.last_pass_rc = rc;
        if (rc == 0) {
                p->stats.last_err = 0;
                p->stats.last_err_text[0] = '\0';
                return;
        }
        p->stats.last_err = rc;
        p->stats.last_err_time = time(NULL);
        if (p->pass_err[0] != '\0') /* logged by a pack upload thread */
                memcpy(p->stats.last_err_text, p->pass_err, sizeof(p->stats.last_err_text));
        else
                push_error_text(rc, p->stats.last_err_text, sizeof(p->stats.last_err_text));
}

/* One pass over the outbox.  Returns 0 when nothing uploadable is left. */
static int push_pass(struct push *p)
{
        struct push_item *items = NULL;
        uint64_t durable = p->durable(p->arg);
        size_t n = 0, i, queued = 0;
        int rc;

        pthread_mutex_lock(&p->run);
        pthread_mutex_lock(&p->lock);
        p->stats.passes_started++;
        p->pass_err[0] = '\0';
        pthread_mutex_unlock(&p->lock);
        log_last_error_reset();
        rc = push_scan(p, &items, &n);
        for (i = 0; i < n && rc == 0; i++) {
                if (items[i].seq > durable)
                        break;
                rc = push_one(p, &items[i]);
        }
        queued = rc == 0 ? 0 : n - i + 1;
        if (rc == 0 && i == n)
                push_drop_stale(p);
        pthread_mutex_lock(&p->lock);
        p->st.queued = (unsigned)queued;
        if (rc != 0) {
                p->st.last_err = rc;
                if (rc == -EBADE)
                        p->st.stopped = 1;
        }
        push_pass_end(p, rc);
        pthread_mutex_unlock(&p->lock);
        pthread_mutex_unlock(&p->run);
        free(items);
        return rc;
}

static void *push_main(void *arg)
{
        struct push *p = arg;
        unsigned backoff = 0;

        pthread_mutex_lock(&p->lock);
        while (!p->stopping && !p->st.stopped) {
                struct timespec ts;
                int rc;

                if (!p->kicked) {
                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_sec += backoff ? backoff : PUSH_IDLE_S;
                        pthread_cond_timedwait(&p->cond, &p->lock, &ts);
                }
                if (p->stopping)
                        break;
                p->kicked = 0;
                pthread_mutex_unlock(&p->lock);
                rc = push_pass(p);
                if (rc == 0)
                        backoff = 0;
                else
                        backoff = backoff ? (backoff * 2 > PUSH_BACKOFF_MAX_S ? PUSH_BACKOFF_MAX_S
                                                                              : backoff * 2)
                                          : 1;
                if (rc != 0 && rc != -EAGAIN)
                        log_warn("upload failed (%s); retrying in %u s", strerror(-rc), backoff);
                pthread_mutex_lock(&p->lock);
        }
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

static int push_alloc(struct push **out, struct store *store, const char *outbox_dir,
                      const char *region_hex, const uint8_t device_id[static 16],
                      uint64_t (*durable)(void *arg), void *arg)
{
        struct push *p = calloc(1, sizeof(*p));

        if (p == NULL)
                return -ENOMEM;
        p->store = store;
        if (snprintf(p->outbox, sizeof(p->outbox), "%s", outbox_dir) >= (int)sizeof(p->outbox) ||
            strlen(region_hex) != 64) {
                free(p);
                return -EINVAL;
        }
        memcpy(p->region_hex, region_hex, 65);
        memcpy(p->device_id, device_id, 16);
        p->durable = durable;
        p->arg = arg;
        p->kicked = 1; /* first pass at once: resume what a previous run left */
        pthread_mutex_init(&p->lock, NULL);
        pthread_mutex_init(&p->run, NULL);
        pthread_cond_init(&p->cond, NULL);
        *out = p;
        return 0;
}

static void push_destroy(struct push *p)
{
        pthread_mutex_destroy(&p->lock);
        pthread_mutex_destroy(&p->run);
        pthread_cond_destroy(&p->cond);
        free(p);
}

int push_start(struct push **out, struct store *store, const char *outbox_dir,
               const char *region_hex, const uint8_t device_id[static 16],
               uint64_t (*durable)(void *arg), void *arg)
{
        struct push *p = NULL;
        int rc = push_alloc(&p, store, outbox_dir, region_hex, device_id, durable, arg);

        if (rc != 0)
                return rc;
        if (pthread_create(&p->thread, NULL, push_main, p) != 0) {
                push_destroy(p);
                return -EAGAIN;
        }
        *out = p;
        return 0;
}

int push_start_stepped(struct push **out, struct store *store, const char *outbox_dir,
                       const char *region_hex, const uint8_t device_id[static 16],
                       uint64_t (*durable)(void *arg), void *arg)
{
        struct push *p = NULL;
        int rc = push_alloc(&p, store, outbox_dir, region_hex, device_id, durable, arg);

        if (rc != 0)
                return rc;
        p->stepped = 1;
        *out = p;
        return 0;
}

int push_step(struct push *p)
{
        return p->st.stopped ? -EBADE : push_pass(p);
}

void push_kick(struct push *p)
{
        if (p == NULL)
                return;
        pthread_mutex_lock(&p->lock);
        p->kicked = 1;
        pthread_cond_signal(&p->cond);
        pthread_mutex_unlock(&p->lock);
}

int push_drain(struct push *p, int timeout_s)
{
        time_t end = time(NULL) + timeout_s;
        int rc;

        do {
                rc = push_pass(p);
                if (rc == 0 || rc == -EBADE || rc == -EACCES)
                        break;
                sleep(1);
        } while (time(NULL) < end);
        return rc;
}

void push_get_status(struct push *p, struct push_status *st)
{
        pthread_mutex_lock(&p->lock);
        *st = p->st;
        pthread_mutex_unlock(&p->lock);
}

void push_get_stats(struct push *p, struct push_stats *st)
{
        pthread_mutex_lock(&p->lock);
        *st = p->stats;
        st->pushed_seq = p->st.pushed_seq;
        st->last_ok = p->st.last_ok;
        st->stopped = p->st.stopped;
        pthread_mutex_unlock(&p->lock);
}

int push_outbox_queue(const char *outbox_dir, unsigned *entries, uint64_t *bytes)
{
        char path[PATH_MAX + 260];
        struct dirent *de;
        struct stat st;
        uint64_t b = 0;
        unsigned n = 0;
        DIR *d = opendir(outbox_dir);

        if (d == NULL)
                return errno == ENOENT ? (*entries = 0, *bytes = 0, 0) : -errno;
        while ((de = readdir(d)) != NULL) {
                int entry = strncmp(de->d_name, "j-", 2) == 0;

                /* Entries and packs; temporary files (with a '.') are not queued yet. */
                if ((!entry && strncmp(de->d_name, "p-", 2) != 0) || strchr(de->d_name, '.'))
                        continue;
                snprintf(path, sizeof(path), "%s/%s", outbox_dir, de->d_name);
                if (stat(path, &st) != 0)
                        continue; /* uploaded and removed meanwhile */
                n += entry;
                b += (uint64_t)st.st_size;
        }
        closedir(d);
        *entries = n;
        *bytes = b;
        return 0;
}

void push_stop(struct push *p)
{
        if (p == NULL)
                return;
        if (!p->stepped) {
                pthread_mutex_lock(&p->lock);
                p->stopping = 1;
                pthread_cond_signal(&p->cond);
                pthread_mutex_unlock(&p->lock);
                pthread_join(p->thread, NULL);
        }
        push_destroy(p);
}
