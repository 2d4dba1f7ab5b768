/* SPDX-License-Identifier: Apache-2.0 */
#include "sync/push.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sync/check.h"
#include "sync/journal.h"
#include "util/fileio.h"
#include "util/hex.h"
#include "util/log.h"

#define PUSH_IDLE_S 5
#define PUSH_BACKOFF_MAX_S 60
#define PUSH_ENTRY_MAX (64u << 20)
/*
 * Packs of one entry uploaded at once.  Each is streamed into its PUT
 * (doc/SYNC.md D9: a block and the trailer in memory, not the pack; only a
 * pack that is not the committed one is assembled whole, <= PACK_MAX_SIZE,
 * as is a pack for a store that cannot stream); the
 * store bounds the requests in flight (an s3:// store sends a large pack's
 * parts in parallel too, through the same connection pool).
 */
#define PUSH_PACKS_PAR 2
#define PUSH_STALE_S 120 /* push_drop_stale */
/* D7: packs uploaded before their entry, remembered; the entry's pass skips fresh ones. */
#define PUSH_EARLY_MAX 4096
#define PUSH_EARLY_FRESH_S 3600

struct push_early_pack {
        uint8_t hash[32];
        time_t when;
};

struct push {
        struct store *store;
        char outbox[PATH_MAX];
        char region_hex[65];
        uint8_t device_id[16];
        uint64_t (*durable)(void *arg);
        void *arg;
        struct push_self self; /* K1 and S1 (push.h) */
        int head_checked;      /* the first pass's checks succeeded (pusher's passes only) */

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
        char stop_text[256];     /* why publishing stopped for good (K1), "" if it did not */
        char hold[PATH_MAX];     /* tests: no upload while this file exists ("": none) */
        long stale_s;            /* PUSH_STALE_S, or SEALSYNC_PUSH_STALE_S (tests) */
        int no_early;            /* SEALSYNC_PUSH_EARLY=0: packs only with their entry (D7 off) */
        struct push_early_pack early[PUSH_EARLY_MAX]; /* D7, under LOCK */
        size_t nearly;
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
        if (cnt > 1) /* items may be NULL when empty: qsort's argument must not be */
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

static void push_count_sent(struct push *p, uint64_t len)
{
        pthread_mutex_lock(&p->lock);
        p->stats.objects_sent++;
        p->stats.bytes_sent += len;
        pthread_mutex_unlock(&p->lock);
}

/*
 * PUT KEY as MODE (STORE_PUT_ABSENT, or STORE_PUT_NAMED for a pack or a journal
 * entry, whose key names its bytes' hash: doc/SYNC.md
 * D6); an existing object the store refuses to replace must hold the same bytes.
 */
static int push_put(struct push *p, const char *key, const uint8_t *buf, size_t len, int mode,
                    const uint8_t *sha)
{
        uint8_t *have = NULL;
        size_t hlen = 0;
        int rc = store_put_hashed(p->store, key, buf, len, mode, sha);

        if (rc == -EEXIST) {
                rc = p->store->ops->get(p->store, key, len, &have, &hlen);
                if (rc == 0 && (hlen != len || memcmp(have, buf, len) != 0))
                        rc = -EBADE;
                free(have);
        }
        if (rc == 0)
                push_count_sent(p, len);
        return rc;
}

/*
 * D9: an object already under pack KEY (a conditional store's -EEXIST, where
 * no bytes of ours are at hand to compare) is judged as every reader judges
 * a pack (check_pack: its size, its name HASH, every record): 0 if it is
 * that pack (the same bytes, D8), else -EBADE.
 */
static int push_pack_there(struct push *p, const char *key, const uint8_t hash[32], uint64_t size)
{
        struct journal_pack jp = {.size = size};
        struct pack_entry *ents = NULL;
        const char *why = NULL;
        uint8_t *have = NULL;
        size_t hlen = 0, n = 0;
        int rc = p->store->ops->get(p->store, key, PACK_MAX_SIZE, &have, &hlen);

        memcpy(jp.hash, hash, 32);
        if (rc == 0 && check_pack(have, hlen, &jp, &ents, &n, &why) != 0)
                rc = -EBADE;
        free(ents);
        free(have);
        return rc;
}

/* D9: pack R (named HASH) streamed into its PUT at KEY.  -EILSEQ: not the committed bytes. */
static int push_stream(struct push *p, const struct recipe *r, const char *key,
                       const uint8_t hash[32])
{
        struct recipe_src src;
        int rc = recipe_src_init(&src, r, p->self.block_read, p->self.block_arg);

        if (rc != 0)
                return rc;
        rc = store_put_stream(p->store, key, r->pack_size, STORE_PUT_NAMED, r->sha256,
                              recipe_src_read, &src);
        recipe_src_release(&src);
        if (rc == -EEXIST)
                rc = push_pack_there(p, key, hash, r->pack_size);
        if (rc == 0)
                push_count_sent(p, r->pack_size);
        return rc;
}

/*
 * Pack HASH from its recipe RNAME ("r-<hash>", doc/DESIGN.md "Write once")
 * to KEY: streamed (D9); when the stream finds the bytes are not the
 * committed pack (a block moved, D5), or for a version-1 recipe, assembled
 * in memory with every record checked, and put.
 */
static int push_recipe(struct push *p, const char *rname, const char *key, const uint8_t hash[32])
{
        struct recipe r;
        uint8_t *rb = NULL, *buf = NULL, sha[32];
        size_t rlen = 0;
        int rc = push_file(p, rname, &rb, &rlen);

        if (rc != 0)
                return rc;
        if (p->self.block_read == NULL) {
                free(rb);
                log_err("outbox: %s is a pack recipe, and this uploader reads none", rname);
                return -ENOSYS;
        }
        rc = recipe_decode(rb, rlen, &r);
        if (rc != 0) {
                free(rb);
                log_err("outbox: %s is corrupt; it stays for inspection", rname);
                return rc;
        }
        rc = r.version == 2 ? push_stream(p, &r, key, hash) : -EILSEQ;
        if (rc == -EILSEQ) {
                rc = recipe_assemble(&r, p->self.block_read, p->self.block_arg, &buf, sha);
                if (rc == 0)
                        rc = push_put(p, key, buf, r.pack_size, STORE_PUT_NAMED, sha);
                free(buf);
        }
        recipe_release(&r);
        free(rb);
        return rc;
}

/* 0 and HASH if NAME is a recipe's or pack's outbox name ("r-"/"p-" and 64 hex), else -1. */
static int push_pack_name(const char *name, uint8_t hash[32])
{
        if ((strncmp(name, "r-", 2) != 0 && strncmp(name, "p-", 2) != 0) || strlen(name) != 66)
                return -1;
        return hex_decode(hash, 32, name + 2) == 0 ? 0 : -1;
}

/* The slot of HASH in the early set, or -1.  Caller holds P->lock. */
static long push_early_find(const struct push *p, const uint8_t hash[32])
{
        size_t i;

        for (i = 0; i < p->nearly; i++)
                if (memcmp(p->early[i].hash, hash, 32) == 0)
                        return (long)i;
        return -1;
}

/* 1 if HASH went up before its entry within PUSH_EARLY_FRESH_S (D7). */
static int push_early_fresh(struct push *p, const uint8_t hash[32])
{
        long i;
        int fresh;

        pthread_mutex_lock(&p->lock);
        i = push_early_find(p, hash);
        fresh = i >= 0 && time(NULL) - p->early[i].when < PUSH_EARLY_FRESH_S;
        pthread_mutex_unlock(&p->lock);
        return fresh;
}

/* Remembers that HASH went up now (the set full: not remembered, so put again later). */
static void push_early_note(struct push *p, const uint8_t hash[32])
{
        long i;

        pthread_mutex_lock(&p->lock);
        i = push_early_find(p, hash);
        if (i < 0 && p->nearly < PUSH_EARLY_MAX)
                i = (long)p->nearly++;
        for (size_t k = 0; i < 0 && k < p->nearly; k++) /* full: reuse an expired slot */
                if (time(NULL) - p->early[k].when >= PUSH_EARLY_FRESH_S)
                        i = (long)k;
        if (i >= 0) {
                memcpy(p->early[i].hash, hash, 32);
                p->early[i].when = time(NULL);
        }
        pthread_mutex_unlock(&p->lock);
}

static void push_early_forget(struct push *p, const uint8_t hash[32])
{
        long i;

        pthread_mutex_lock(&p->lock);
        i = push_early_find(p, hash);
        if (i >= 0)
                p->early[i] = p->early[--p->nearly];
        pthread_mutex_unlock(&p->lock);
}

/* Uploads the outbox's pack HASH unless an earlier pass did (its file is gone, or D7). */
static int push_pack(struct push *p, const uint8_t hash[32], int early)
{
        char key[JOURNAL_KEY_SIZE + 128], hex[65], pname[80];
        uint8_t *pb = NULL;
        size_t plen = 0;
        int rc;

        if (push_early_fresh(p, hash))
                return 0;
        hex_encode(hex, hash, 32);
        snprintf(key, sizeof(key), "%s/p/%s", p->region_hex, hex);
        snprintf(pname, sizeof(pname), "p-%s", hex);
        rc = push_file(p, pname, &pb, &plen); /* an outbox from before recipes */
        if (rc == 0) {
                rc = push_put(p, key, pb, plen, STORE_PUT_NAMED, NULL);
        } else if (rc == -ENOENT) {
                pname[0] = 'r';
                rc = push_recipe(p, pname, key, hash);
        }
        if (rc == -ENOENT)
                return 0; /* uploaded by an earlier pass that stopped before cleanup */
        if (rc == 0 && early)
                push_early_note(p, hash);
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
        int early; /* D7: packs of a round in progress (no entry yet) */
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
                rc = push_pack(w->p, w->e->packs[i].hash, w->early);
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
static int push_packs(struct push *p, const struct journal_entry *e, int early)
{
        struct push_packs w = {.p = p, .e = e, .early = early};
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

/* ---- one device, one history (doc/SYNC.md K1) ---- */

#define PUSH_CLONED_FILE "cloned-device"
#define PUSH_FOREIGN_MAX 8 /* foreign keys looked at per listing */

/* What a listing of our own journal showed. */
struct push_seen {
        const char *mine; /* our own key expected there (NULL: none) */
        const char *prev; /* our previous entry's key (NULL: none expected) */
        int prev_found;
        size_t nforeign;
        char foreign[PUSH_FOREIGN_MAX][JOURNAL_KEY_SIZE];
};

static int push_seen_cb(void *arg, const char *key, uint64_t size)
{
        struct push_seen *s = arg;

        (void)size;
        if (s->prev != NULL && strcmp(key, s->prev) == 0) {
                s->prev_found = 1;
                return 0;
        }
        if ((s->mine != NULL && strcmp(key, s->mine) == 0) || s->nforeign == PUSH_FOREIGN_MAX ||
            strlen(key) >= JOURNAL_KEY_SIZE)
                return 0; /* a retry of ours; or enough to look at; or junk */
        memcpy(s->foreign[s->nforeign++], key, strlen(key) + 1);
        return 0;
}

/*
 * 1 if KEY is an entry of this device that verifies under its own key (the
 * store cannot forge one), 0 if it is junk, else a negative errno.
 */
static int push_foreign_verifies(struct push *p, const char *key, uint64_t *seq)
{
        uint8_t rid[32], dev[16], hash[32], *buf = NULL;
        struct journal_entry e;
        size_t len = 0;
        int rc;

        if (journal_parse_key(key, rid, dev, seq, hash) != 0 ||
            memcmp(rid, p->self.region_id, 32) != 0 || memcmp(dev, p->device_id, 16) != 0)
                return 0;
        rc = p->store->ops->get(p->store, key, JOURNAL_MAX_SIZE, &buf, &len);
        if (rc == -ENOENT || rc == -EFBIG)
                return 0;
        if (rc != 0)
                return rc;
        rc = journal_decode(buf, len, &e);
        if (rc == 0) {
                rc = memcmp(e.hash, hash, 32) == 0 && e.seq == *seq &&
                     memcmp(e.device_id, p->device_id, 16) == 0 &&
                     memcmp(e.region_id, p->self.region_id, 32) == 0;
                journal_release(&e);
        } else if (rc == -EBADMSG) {
                rc = 0;
        }
        if (rc == 1) {
                rc = journal_verify_sig(buf, len, p->self.sign_pk);
                rc = rc == 0 ? 1 : rc == -EBADMSG ? 0 : rc;
        }
        free(buf);
        return rc;
}

/*
 * Stops publishing for good: records it in the outbox (a remount stays
 * stopped), tells the caller once.  Returns -EBADE.
 */
static int push_cloned(struct push *p, uint64_t seq, const char *object)
{
        char text[512], path[PATH_MAX + 32];
        size_t tl;
        int fd;

        snprintf(text, sizeof(text),
                 "cloned-device: the store holds entry %" PRIu64 " of this device, signed by its "
                 "key, that this home did not write (a restored or copied home); it publishes "
                 "nothing more. Re-enroll: 'sealsync init' in a new home, join again, revoke this "
                 "device id",
                 seq);
        log_err("%s (%s)", text, object);
        snprintf(path, sizeof(path), "%s/" PUSH_CLONED_FILE, p->outbox);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || fileio_pwrite_full(fd, text, strlen(text), 0) != 0 || fsync(fd) != 0)
                log_err("cannot record the stop in %s; it is checked again at the next mount",
                        path);
        if (fd >= 0)
                close(fd);
        pthread_mutex_lock(&p->lock);
        p->st.stopped = 1;
        tl = strnlen(text, sizeof(p->stop_text) - 1); /* cut to fit: it is a message */
        memcpy(p->stop_text, text, tl);
        p->stop_text[tl] = '\0';
        pthread_mutex_unlock(&p->lock);
        if (p->self.cloned != NULL)
                p->self.cloned(p->arg, seq, object, text);
        return -EBADE;
}

/*
 * Lists our own journal after START_AFTER (NULL: all) into S; a foreign key
 * that verifies stops the pusher (-EBADE).  Returns 0 or a negative errno.
 */
static int push_list_own(struct push *p, const char *start_after, struct push_seen *s)
{
        char prefix[JOURNAL_KEY_SIZE], dhex[33];
        uint64_t seq = 0;
        size_t i;
        int rc;

        hex_encode(dhex, p->device_id, 16);
        snprintf(prefix, sizeof(prefix), "%s/journal/%s/", p->region_hex, dhex);
        rc = p->store->ops->list(p->store, prefix, start_after, push_seen_cb, s);
        for (i = 0; i < s->nforeign && rc == 0; i++) {
                rc = push_foreign_verifies(p, s->foreign[i], &seq);
                if (rc == 1)
                        return push_cloned(p, seq, s->foreign[i]);
                if (rc == 0)
                        log_warn("store junk under this device's journal ignored: %s",
                                 s->foreign[i]);
        }
        return rc;
}

/* "<region>/journal/<device>/<seq:016x>": every key of SEQ sorts after it. */
static void push_seq_prefix(struct push *p, uint64_t seq, char out[static JOURNAL_KEY_SIZE])
{
        char dhex[33];

        hex_encode(dhex, p->device_id, 16);
        snprintf(out, JOURNAL_KEY_SIZE, "%s/journal/%s/%016" PRIx64, p->region_hex, dhex, seq);
}

/* At the first pass: the store is ours (S1) and no entry above our head is ours (K1). */
static int push_check_head(struct push *p)
{
        char after[JOURNAL_KEY_SIZE], mine[JOURNAL_KEY_SIZE];
        struct push_seen s = {0};
        int rc = store_check(p->store, p->self.region_id, p->self.genesis_hash);

        if (rc != 0)
                return rc;
        if (p->self.head_seq > 0) {
                push_seq_prefix(p, p->self.head_seq, after);
                rc = journal_object_key(p->region_hex, p->device_id, p->self.head_seq,
                                        p->self.head_hash, mine);
                if (rc != 0)
                        return rc;
                s.mine = mine;
        }
        return push_list_own(p, p->self.head_seq > 0 ? after : NULL, &s);
}

/*
 * Before entry E (object key KEY) and its packs are put: nothing but E and
 * its prev under our id from seq E.prev on (K1), and the prev is there
 * (else S1 again).  One LIST; the window until the entry's PUT is the time
 * its packs take to upload (doc/SYNC.md K1).
 */
static int push_check_entry(struct push *p, const struct journal_entry *e, const char *key)
{
        char after[JOURNAL_KEY_SIZE], prev[JOURNAL_KEY_SIZE];
        struct push_seen s = {.mine = key};
        int rc;

        if (e->seq > 1) {
                push_seq_prefix(p, e->seq - 1, after);
                rc = journal_object_key(p->region_hex, p->device_id, e->seq - 1, e->prev, prev);
                if (rc != 0)
                        return rc;
                s.prev = prev;
        }
        rc = push_list_own(p, e->seq > 1 ? after : NULL, &s);
        if (rc != 0 || e->seq == 1 || s.prev_found)
                return rc;
        rc = store_check(p->store, p->self.region_id, p->self.genesis_hash);
        if (rc != 0)
                return rc;
        log_warn("the store does not list this device's journal entry %" PRIu64
                 " (yet); entry %" PRIu64 " waits",
                 e->seq - 1, e->seq);
        return -EAGAIN;
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
        memcpy(hash, e.hash, 32);
        rc = journal_object_key(p->region_hex, p->device_id, e.seq, hash, key);
        /* Before anything of the entry goes up: a clone or a missing store writes nothing. */
        if (rc == 0)
                rc = push_check_entry(p, &e, key);
        if (rc == 0)
                rc = push_packs(p, &e, 0);
        if (rc == 0) {
                /* D6: the key names the entry's hash, so a plain PUT where the store
                 * has no conditional one; K1's clone check is the LIST above. */
                rc = push_put(p, key, buf, len, STORE_PUT_NAMED, NULL);
                if (rc == -EBADE)
                        log_err("the store holds other bytes under the key of journal entry %llu "
                                "of this device (the key names the entry's hash: the store "
                                "altered it); publishing stops",
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
                        snprintf(path, sizeof(path), "%s/r-%s", p->outbox, hex);
                        unlink(path);
                        push_early_forget(p, e.packs[i].hash);
                        if (p->self.pack_sent != NULL)
                                p->self.pack_sent(p->self.block_arg, e.packs[i].hash);
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

/*
 * With no entry queued, a pack or temporary file in the outbox older than
 * PUSH_STALE_S belongs to no entry (a crash between a round's packs and its
 * entry, or a dying daemon): remove it.  Never a file of the round in
 * progress, however long it runs (written since ROUND_START), nor while an
 * entry waits: the pass scanned before it, and its round wrote the entry
 * before it ended (doc/SYNC.md D7).
 */
static void push_drop_stale(struct push *p)
{
        struct dirent *de;
        struct stat st;
        time_t now = time(NULL);
        /* D7: the round in progress (read first: a round starting after this
         * writes files newer than NOW - stale_s, which are kept anyway). */
        int64_t round = p->self.round_start != NULL ? p->self.round_start(p->self.block_arg) : 0;
        struct push_item *items = NULL;
        size_t nitems = 0;
        DIR *d;

        /* An entry written since this pass scanned (its round has ended): its recipes stay. */
        if (push_scan(p, &items, &nitems) != 0 || nitems > 0) {
                free(items);
                return;
        }
        free(items);
        d = opendir(p->outbox);
        if (d == NULL)
                return;
        while ((de = readdir(d)) != NULL) {
                char path[PATH_MAX + 260];

                uint8_t hash[32];

                if (strncmp(de->d_name, "p-", 2) != 0 && strncmp(de->d_name, "r-", 2) != 0)
                        continue;
                snprintf(path, sizeof(path), "%s/%s", p->outbox, de->d_name);
                if (stat(path, &st) == 0 && now - st.st_mtime > p->stale_s &&
                    (round == 0 || (int64_t)st.st_mtime < round)) {
                        log_warn("outbox: removing %s, left by an interrupted round",
                                 strchr(de->d_name, '.') ? "a temporary pack" : "a pack");
                        unlink(path);
                        if (p->self.pack_sent != NULL && push_pack_name(de->d_name, hash) == 0)
                                p->self.pack_sent(p->self.block_arg, hash);
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
        else if (rc == -ENOMEDIUM)
                snprintf(buf, size,
                         "store-missing: the store has no sealsync store marker or does not hold "
                         "this region (an unplugged disk, an unmounted share?); nothing is "
                         "published until it is back");
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
        if (rc == -EBADE && p->stop_text[0] != '\0')
                memcpy(p->stats.last_err_text, p->stop_text, sizeof(p->stats.last_err_text));
        else if (rc != -ENOMEDIUM && p->pass_err[0] != '\0') /* logged by a pack upload thread */
                memcpy(p->stats.last_err_text, p->pass_err, sizeof(p->stats.last_err_text));
        else
                push_error_text(rc, p->stats.last_err_text, sizeof(p->stats.last_err_text));
}

/* Appends the recipe name NAME's hash to *L (a growing list); 0 or -ENOMEM. */
static int push_early_add(struct journal_entry *l, size_t *cap, const char *name)
{
        uint8_t hash[32];

        if (name[0] != 'r' || push_pack_name(name, hash) != 0)
                return 0;
        if (l->npacks == *cap) {
                size_t ncap = *cap ? *cap * 2 : 16;
                struct journal_pack *np = realloc(l->packs, ncap * sizeof(*np));

                if (np == NULL)
                        return -ENOMEM;
                l->packs = np;
                *cap = ncap;
        }
        memcpy(l->packs[l->npacks].hash, hash, 32);
        l->packs[l->npacks++].size = 0;
        return 0;
}

/*
 * D7: with no entry waiting, every recipe in the outbox not uploaded yet
 * (a round in progress, or one whose entry is still being written) goes
 * up now, as the entry's packs would; each is remembered so the entry's
 * pass skips it.  Only the store's failing (unreachable, denied, missing)
 * fails the pass, which then backs off; a pack that cannot be assembled
 * goes up, or fails, with its entry, whose pass reports it (a crash's
 * leftover that cannot be is removed by push_drop_stale, not retried with
 * a backoff forever).  Returns 0 or such an error.
 */
static int push_early(struct push *p)
{
        struct journal_entry l;
        struct dirent *de;
        size_t cap = 0, i, n = 0;
        int rc = 0;
        DIR *d = opendir(p->outbox);

        if (d == NULL)
                return -errno;
        memset(&l, 0, sizeof(l));
        while (rc == 0 && (de = readdir(d)) != NULL)
                rc = push_early_add(&l, &cap, de->d_name);
        closedir(d);
        /* Only what is not up yet: push_pack skips fresh ones too, but counts nothing. */
        for (i = 0; i < l.npacks; i++)
                if (!push_early_fresh(p, l.packs[i].hash))
                        l.packs[n++] = l.packs[i];
        l.npacks = n;
        if (rc == 0 && n > 0)
                rc = push_packs(p, &l, 1);
        free(l.packs);
        /* The store failing is the pass's failure (it backs off); anything else is not. */
        if (rc != 0 && rc != -EAGAIN && rc != -EACCES && rc != -ENOMEDIUM && rc != -ENOMEM) {
                log_debug("outbox: a pack did not go up before its entry (%s); it goes up with it",
                          strerror(-rc));
                pthread_mutex_lock(&p->lock);
                p->pass_err[0] = '\0'; /* not this pass's failure */
                pthread_mutex_unlock(&p->lock);
                rc = 0;
        }
        return rc;
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
        pthread_mutex_lock(&p->lock);
        rc = p->st.stopped ? -EBADE : 0;
        pthread_mutex_unlock(&p->lock);
        if (rc == 0 && !p->head_checked) {
                rc = push_check_head(p);
                p->head_checked = rc == 0;
                pthread_mutex_lock(&p->lock);
                p->st.checked = p->head_checked;
                pthread_mutex_unlock(&p->lock);
        }
        /* Tests hold the uploads (SEALSYNC_PUSH_HOLD): changes between commit and upload. */
        if (rc == 0 && p->hold[0] != '\0' && access(p->hold, F_OK) == 0)
                rc = -EAGAIN;
        if (rc == 0)
                rc = push_scan(p, &items, &n);
        for (i = 0; i < n && rc == 0; i++) {
                if (items[i].seq > durable)
                        break;
                rc = push_one(p, &items[i]);
        }
        queued = rc == 0 ? 0 : n > i ? n - i : 0;
        if (rc == 0 && i == n && !p->no_early)
                rc = push_early(p);
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

/*
 * Publishing yields to the writer (issue #10): the pusher's thread, and the
 * pack-upload threads it starts (they inherit both), run at the lowest
 * best-effort I/O priority and nice 10, so reading the ciphertext files to
 * assemble packs waits behind the mount's own reads and writes.  Best
 * effort: a refusal changes nothing else.
 */
static void push_yield_to_writer(void)
{
        pid_t tid = (pid_t)syscall(SYS_gettid);

        /* ioprio_set(IOPRIO_WHO_PROCESS, tid, IOPRIO_PRIO_VALUE(IOPRIO_CLASS_BE, 7)) */
        (void)syscall(SYS_ioprio_set, 1, tid, (2 << 13) | 7);
        (void)setpriority(PRIO_PROCESS, (id_t)tid, 10);
}

static void *push_main(void *arg)
{
        struct push *p = arg;
        unsigned backoff = 0;

        push_yield_to_writer();

        pthread_mutex_lock(&p->lock);
        if (p->st.stopped && p->self.cloned != NULL) { /* stopped by an earlier run */
                char text[sizeof(p->stop_text)];

                memcpy(text, p->stop_text, sizeof(text));
                pthread_mutex_unlock(&p->lock);
                p->self.cloned(p->arg, 0, "", text);
                pthread_mutex_lock(&p->lock);
        }
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

/* A stop recorded by an earlier run (push_cloned): P starts stopped, with its text. */
static void push_load_stop(struct push *p)
{
        char path[PATH_MAX + 32];
        uint8_t *buf = NULL;
        size_t len = 0;

        snprintf(path, sizeof(path), "%s/" PUSH_CLONED_FILE, p->outbox);
        if (fileio_read_all(path, sizeof(p->stop_text) - 1, &buf, &len) != 0 &&
            access(path, F_OK) != 0)
                return;
        p->st.stopped = 1;
        p->st.last_err = -EBADE;
        snprintf(p->stop_text, sizeof(p->stop_text), "%.*s", (int)len,
                 buf != NULL ? (const char *)buf : "");
        if (strncmp(p->stop_text, "cloned-device: ", 15) != 0)
                snprintf(p->stop_text, sizeof(p->stop_text),
                         "cloned-device: this home was found restored or copied; it publishes "
                         "nothing more (re-enroll the device)");
        free(buf);
        p->stats.last_err = -EBADE;
        p->stats.last_err_time = time(NULL);
        memcpy(p->stats.last_err_text, p->stop_text, sizeof(p->stats.last_err_text));
        log_err("%s", p->stop_text);
}

static int push_alloc(struct push **out, struct store *store, const char *outbox_dir,
                      const char *region_hex, const uint8_t device_id[static 16],
                      uint64_t (*durable)(void *arg), void *arg, const struct push_self *self)
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
        p->self = *self;
        if (getenv("SEALSYNC_PUSH_HOLD") != NULL)
                snprintf(p->hold, sizeof(p->hold), "%s", getenv("SEALSYNC_PUSH_HOLD"));
        p->stale_s = PUSH_STALE_S;
        p->no_early = getenv("SEALSYNC_PUSH_EARLY") != NULL &&
                      strcmp(getenv("SEALSYNC_PUSH_EARLY"), "0") == 0; /* measuring */
        if (getenv("SEALSYNC_PUSH_STALE_S") != NULL) {                 /* tests (D7) */
                char *end = NULL;
                long v = strtol(getenv("SEALSYNC_PUSH_STALE_S"), &end, 10);

                if (end != NULL && *end == '\0' && v >= 1 && v <= 86400)
                        p->stale_s = v;
                else
                        log_warn("SEALSYNC_PUSH_STALE_S must be 1..86400 seconds; using %d",
                                 PUSH_STALE_S);
        }
        push_load_stop(p);
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
               uint64_t (*durable)(void *arg), void *arg, const struct push_self *self)
{
        struct push *p = NULL;
        int rc = push_alloc(&p, store, outbox_dir, region_hex, device_id, durable, arg, self);

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
                       uint64_t (*durable)(void *arg), void *arg, const struct push_self *self)
{
        struct push *p = NULL;
        int rc = push_alloc(&p, store, outbox_dir, region_hex, device_id, durable, arg, self);

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
                if (rc == 0 || rc == -EBADE || rc == -EACCES || rc == -ENOMEDIUM)
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
                int recipe = strncmp(de->d_name, "r-", 2) == 0;

                /* Entries and packs; temporary files (with a '.') are not queued yet. */
                if ((!entry && !recipe && strncmp(de->d_name, "p-", 2) != 0) ||
                    strchr(de->d_name, '.'))
                        continue;
                snprintf(path, sizeof(path), "%s/%s", outbox_dir, de->d_name);
                if (recipe) {
                        uint8_t hdr[RECIPE_HDR_LEN];
                        uint64_t size = 0;
                        int fd = open(path, O_RDONLY | O_CLOEXEC);

                        if (fd >= 0 && fileio_pread_full(fd, hdr, sizeof(hdr), 0) == 0 &&
                            recipe_peek_size(hdr, sizeof(hdr), &size) == 0)
                                b += size; /* the pack's bytes are what is left to send */
                        if (fd >= 0)
                                close(fd);
                        continue;
                }
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
