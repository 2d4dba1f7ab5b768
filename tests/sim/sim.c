/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The deterministic simulation of the sync engine (issue #11; doc/SYNC.md
 * "Invariants over time", tests/sim/README.md).  N devices of one region run
 * in this one process, without FUSE and without threads: each is a headless
 * mount (fs/mount.h fsmount_open) driven through the operations beneath the
 * FUSE requests (fs/fsint.h fs_api_*) and stepped explicitly (commit round,
 * upload pass, pull round).  A seeded schedule picks, step by step, which
 * device does what: file operations (create, edit, append,
 * truncate-and-rewrite, delete, rename, mkdir, rmdir; with --dirrenames 1
 * a rename of a root directory), sync steps (with --midpull 1, a pull
 * inside a commit round, as a daemon's threads may interleave), and
 * crashes (the index's open transaction lost).  Every device talks to the
 * store through a wrapper that fails requests (before or after they took
 * effect) and hides new objects from other devices' listings for a while.
 * Randomness (libsodium's) and the clock are the simulation's, so a seed
 * replays exactly.
 *
 * After the workload, faults stop and every device syncs until nothing
 * changes; then the checker asserts:
 *   (a) every device holds the same tree, byte for byte, conflict copies
 *       included (C1, C5);
 *   (b) every write any device acknowledged survives on every device as
 *       the file or a conflict copy, unless a later write that saw it
 *       replaced it (C4, D1).  Each write adds lines "t<token>\n" (9 bytes);
 *       a token dies only when a device replaces or deletes it in a version
 *       that held it;
 *   (c) `verify` finds no problem on the store;
 *   (d) every file reads, and reads as whole lines (D2).
 * A failure prints "FAIL seed=S: ..." and the run goes on; the exit status
 * is 1 if any seed failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/secmem.h"
#include "fs/fsint.h"
#include "fs/mount.h"
#include "keyring/identity.h"
#include "keyring/region.h"
#include "sync/store.h"
#include "sync/verify.h"
#include "util/hex.h"
#include "util/log.h"

#define SIM_MAX_DEV 8
#define SIM_PASS "sim-passphrase"
#define SIM_LINE 9 /* "t%07u\n" */
#define SIM_MAX_TOKENS 100000
#define SIM_MAX_FILES 256

/* ---- the simulation's clock and randomness ---------------------------------------------- */

static struct timespec sim_clock = {1600000000, 0};

/* Every clock read advances 1 µs: deterministic, and never standing still. */
int clock_gettime(clockid_t clk, struct timespec *ts)
{
        (void)clk;
        sim_clock.tv_nsec += 1000;
        if (sim_clock.tv_nsec >= 1000000000) {
                sim_clock.tv_sec++;
                sim_clock.tv_nsec -= 1000000000;
        }
        *ts = sim_clock;
        return 0;
}

time_t time(time_t *t)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        if (t != NULL)
                *t = ts.tv_sec;
        return ts.tv_sec;
}

static uint64_t splitmix(uint64_t *s)
{
        uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

static uint64_t rb_state;
static const char *rb_name(void)
{
        return "sealsync-sim";
}
static uint32_t rb_random(void)
{
        return (uint32_t)(splitmix(&rb_state) >> 32);
}
static void rb_buf(void *const buf, const size_t n)
{
        uint8_t *p = buf;
        size_t i;

        for (i = 0; i < n; i += 8) {
                uint64_t v = splitmix(&rb_state);

                memcpy(p + i, &v, n - i < 8 ? n - i : 8);
        }
}
static struct randombytes_implementation rb_impl = {
    .implementation_name = rb_name, .random = rb_random, .buf = rb_buf};

/* The schedule's generator (separate from libsodium's, so code changes shift less). */
static uint64_t sched;
static unsigned rnd(unsigned n)
{
        return n ? (unsigned)(splitmix(&sched) % n) : 0;
}
static int chance(unsigned pct)
{
        return rnd(100) < pct;
}

/* ---- options and the trace ---------------------------------------------------------------- */

static struct {
        const char *tpl;
        const char *work;
        unsigned ndev, steps, faults, hide, crashes, renames, replaces, deletes, selftest, disjoint,
            verbose, held, stale, dirrenames, midpull;
        unsigned equivocate;
        uint64_t from, seeds;
} opt = {.ndev = 3,
         .steps = 150,
         .faults = 1,
         .crashes = 1,
         .renames = 1,
         .deletes = 1,
         .hide = 1,
         .seeds = 1};

/* The level of the engine's log lines: -v -v its info, -v -v -v its debug. */
static enum log_level sim_log_level(void)
{
        return opt.verbose > 2 ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERR + (opt.verbose > 1);
}

/* The engine's log lines name the device stepped. */
static void log_dev(unsigned d)
{
        static const char *const names[] = {"dev0", "dev1", "dev2", "dev3",
                                            "dev4", "dev5", "dev6", "dev7"};

        log_init(d < 8 ? names[d] : "sim", sim_log_level());
}

static char *trace;
static size_t trace_len, trace_cap;
static uint64_t cur_seed;
static unsigned cur_step;

__attribute__((format(printf, 1, 2))) static void tr(const char *fmt, ...)
{
        char line[512];
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if ((size_t)n >= sizeof(line))
                n = sizeof(line) - 1;
        if (trace_len + (size_t)n + 16 > trace_cap) {
                size_t cap = trace_cap ? trace_cap * 2 : 65536;
                char *t = realloc(trace, cap);

                if (t == NULL)
                        return;
                trace = t;
                trace_cap = cap;
        }
        n = snprintf(trace + trace_len, trace_cap - trace_len, "%4u %s\n", cur_step, line);
        if (n > 0 && (size_t)n < trace_cap - trace_len)
                trace_len += (size_t)n;
        if (opt.verbose > 1)
                fprintf(stderr, "%4u %s\n", cur_step, line);
}

static unsigned nfail;
__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
        va_list ap;

        printf("FAIL seed=%" PRIu64 ": ", cur_seed);
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        printf("\n");
        nfail++;
}

/* ---- the store wrapper -------------------------------------------------------------------- */

struct hidden {
        char *key;
        int dev;        /* its writer sees it */
        unsigned until; /* step from which the others list it */
};

static struct {
        int on;            /* faults are injected */
        unsigned fail_pct; /* a request fails (half of them after taking effect) */
        unsigned hide_pct; /* a new journal entry or pack is listed late to the others */
        struct hidden *hid;
        size_t nhid, caphid;
        uint64_t requests, failed, hidden;
} net;

struct simstore {
        struct store base;
        struct store *inner;
        int dev;
};

/*
 * --equivocate: device X's home is copied at step COPY_STEP (the clone, device
 * slot CLONE = opt.ndev); at FORK_STEP the clone publishes an entry at a seq
 * X has used since.  The clone's store does not show it the journal entries
 * X put since the copy (other than those it puts itself, the same bytes): K1's window (two homes
 * that check at the same moment), which no dumb store can close.  Then device 0 (the admin) revokes
 * X and the honest devices must converge and name the equivocation.
 */
static struct {
        unsigned x, clone, copy_step, fork_step;
        int copied, forked, removed;
        uint64_t copy_seq, fork_seq;
        char xdir[80]; /* "/journal/<X hex>/" */
        char **own;    /* keys the clone put (it sees them) */
        size_t nown, capown;
        char **xput; /* X's journal keys put since the copy (the clone does not see them) */
        size_t nxput, capxput;
        unsigned first_tok; /* X's and the clone's tokens from here on may be refused */
} eq;

/* The seq of journal KEY of X, or 0 if KEY is not one. */
static uint64_t eq_seq_of(const char *key)
{
        const char *p = eq.xdir[0] != '\0' ? strstr(key, eq.xdir) : NULL;

        return p != NULL ? strtoull(p + strlen(eq.xdir), NULL, 16) : 0;
}

/* 1 if device D takes part (X is out once it was revoked). */
static int live(unsigned d)
{
        return !(eq.removed && d == eq.x);
}

static int eq_in(char **v, size_t n, const char *key)
{
        size_t i;

        for (i = 0; i < n; i++)
                if (strcmp(v[i], key) == 0)
                        return 1;
        return 0;
}

static void eq_add(char ***v, size_t *n, size_t *cap, const char *key)
{
        if (eq_in(*v, *n, key))
                return;
        if (*n == *cap) {
                size_t c = *cap ? *cap * 2 : 16;
                char **o = realloc(*v, c * sizeof(*o));

                if (o == NULL)
                        abort();
                *v = o;
                *cap = c;
        }
        (*v)[*n] = strdup(key);
        if ((*v)[*n] == NULL)
                abort();
        (*n)++;
}

/* 1 if device DEV (the clone) must not see KEY: an entry X put since the copy. */
static int eq_hidden(int dev, const char *key)
{
        if (!eq.copied || dev != (int)eq.clone || eq_seq_of(key) == 0)
                return 0;
        return eq_in(eq.xput, eq.nxput, key) && !eq_in(eq.own, eq.nown, key);
}

/* Device DEV puts KEY: the clone's own keys, and X's since the copy, are remembered. */
static void eq_own(int dev, const char *key)
{
        if (!eq.copied || eq_seq_of(key) == 0)
                return;
        if (dev == (int)eq.clone)
                eq_add(&eq.own, &eq.nown, &eq.capown, key);
        else if (dev == (int)eq.x)
                eq_add(&eq.xput, &eq.nxput, &eq.capxput, key);
}

static int ss_fault(void)
{
        if (!net.on || !chance(net.fail_pct))
                return 0;
        net.failed++;
        return rnd(2) ? 1 : 2; /* 1: before, 2: after it took effect */
}

static int ss_is_hidden(int dev, const char *key)
{
        size_t i;

        for (i = 0; i < net.nhid; i++)
                if (net.hid[i].dev != dev && net.hid[i].until > cur_step &&
                    strcmp(net.hid[i].key, key) == 0)
                        return 1;
        return 0;
}

static void ss_hide(int dev, const char *key)
{
        if (!net.on || (strstr(key, "/journal/") == NULL && strstr(key, "/p/") == NULL) ||
            !chance(net.hide_pct))
                return;
        if (net.nhid == net.caphid) {
                size_t cap = net.caphid ? net.caphid * 2 : 64;
                struct hidden *h = realloc(net.hid, cap * sizeof(*h));

                if (h == NULL)
                        return;
                net.hid = h;
                net.caphid = cap;
        }
        net.hid[net.nhid].key = strdup(key);
        if (net.hid[net.nhid].key == NULL)
                return;
        net.hid[net.nhid].dev = dev;
        net.hid[net.nhid].until = cur_step + 1 + rnd(40);
        net.nhid++;
        net.hidden++;
}

static int ss_put(struct store *s, const char *key, const void *buf, size_t len, int if_absent)
{
        struct simstore *ss = (struct simstore *)s;
        int f = ss_fault(), rc;

        net.requests++;
        if (f == 1)
                return -EAGAIN;
        eq_own(ss->dev, key);
        rc = ss->inner->ops->put(ss->inner, key, buf, len, if_absent);
        if (rc == 0)
                ss_hide(ss->dev, key);
        return f == 2 ? -EAGAIN : rc;
}

static int ss_get(struct store *s, const char *key, size_t max, uint8_t **buf, size_t *len)
{
        struct simstore *ss = (struct simstore *)s;

        net.requests++;
        if (ss_fault())
                return -EAGAIN;
        if (eq_hidden(ss->dev, key))
                return -ENOENT;
        return ss->inner->ops->get(ss->inner, key, max, buf, len);
}

static int ss_get_range(struct store *s, const char *key, uint64_t off, size_t len, uint8_t *buf)
{
        struct simstore *ss = (struct simstore *)s;

        net.requests++;
        if (ss_fault())
                return -EAGAIN;
        return ss->inner->ops->get_range(ss->inner, key, off, len, buf);
}

struct ss_list {
        int dev;
        int (*cb)(void *arg, const char *key, uint64_t size);
        void *arg;
};

static int ss_list_cb(void *arg, const char *key, uint64_t size)
{
        struct ss_list *l = arg;

        /* The clone publishes at once (eq_fork): the listing lag is not its. */
        if ((ss_is_hidden(l->dev, key) && !(eq.copied && l->dev == (int)eq.clone)) ||
            eq_hidden(l->dev, key))
                return 0;
        return l->cb(l->arg, key, size);
}

static int ss_list(struct store *s, const char *prefix, const char *start_after,
                   int (*cb)(void *arg, const char *key, uint64_t size), void *arg)
{
        struct simstore *ss = (struct simstore *)s;
        struct ss_list l = {ss->dev, cb, arg};

        net.requests++;
        if (ss_fault())
                return -EAGAIN;
        return ss->inner->ops->list(ss->inner, prefix, start_after, ss_list_cb, &l);
}

static int ss_del(struct store *s, const char *key)
{
        struct simstore *ss = (struct simstore *)s;

        return ss->inner->ops->del(ss->inner, key);
}

static void ss_close(struct store *s)
{
        struct simstore *ss = (struct simstore *)s;

        store_close(ss->inner);
        free(ss);
}

static const struct store_ops ss_ops = {.put = ss_put,
                                        .get = ss_get,
                                        .get_range = ss_get_range,
                                        .list = ss_list,
                                        .del = ss_del,
                                        .close = ss_close};

static int ss_open(const char *dir, int dev, struct simstore **out)
{
        char url[PATH_MAX + 16];
        struct simstore *ss = calloc(1, sizeof(*ss));
        int rc;

        if (ss == NULL)
                return -ENOMEM;
        snprintf(url, sizeof(url), "file://%s", dir);
        rc = store_open(url, &ss->inner);
        if (rc != 0) {
                free(ss);
                return rc;
        }
        ss->base.ops = &ss_ops;
        ss->dev = dev;
        *out = ss;
        return 0;
}

/* ---- devices ------------------------------------------------------------------------------ */

struct dev {
        struct identity *id;      /* loaded once from the template */
        struct region_keys *keys; /* likewise */
        struct region_info ri;    /* this seed's copy */
        struct simstore *st;
        struct fs *fs;
        char home[PATH_MAX];
};

static struct dev devs[SIM_MAX_DEV];
static char store_dir[PATH_MAX];

static int dev_mount(unsigned i)
{
        struct fsmount_opts o;
        struct dev *d = &devs[i];
        int rc;

        memset(&o, 0, sizeof(o));
        o.region = &d->ri;
        o.keys = d->keys;
        o.local_key = d->id->local_key;
        o.id = d->id;
        o.mountpoint = "/nonexistent-sim";
        rc = ss_open(store_dir, (int)i, &d->st);
        if (rc != 0)
                return rc;
        o.store = &d->st->base;
        rc = fsmount_open(&o, &d->fs);
        if (rc != 0) {
                store_close(&d->st->base);
                d->st = NULL;
        }
        return rc;
}

static void dev_unmount(unsigned i, int clean)
{
        struct dev *d = &devs[i];

        fsmount_close(d->fs, clean);
        d->fs = NULL;
        store_close(d->st ? &d->st->base : NULL);
        d->st = NULL;
}

static int run_cmd(const char *fmt, ...)
{
        char cmd[3 * PATH_MAX];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(cmd, sizeof(cmd), fmt, ap);
        va_end(ap);
        return system(cmd) == 0 ? 0 : -EIO;
}

static int load_template(void)
{
        unsigned i;
        int rc;

        for (i = 0; i < opt.ndev; i++) {
                struct region_info ri;
                char home[PATH_MAX];

                snprintf(home, sizeof(home), "%s/home%u", opt.tpl, i);
                rc = identity_load(home, SIM_PASS, &devs[i].id);
                if (rc == 0)
                        rc = region_load(home, "sim", &ri);
                if (rc == 0)
                        rc = region_unlock(devs[i].id, &ri, &devs[i].keys);
                if (rc == 0 && opt.verbose > 1)
                        fprintf(stderr, "dev%u is %02x%02x%02x%02x\n", i, devs[i].id->device_id[0],
                                devs[i].id->device_id[1], devs[i].id->device_id[2],
                                devs[i].id->device_id[3]);
                if (rc != 0) {
                        fprintf(stderr, "sim: template device %u (%s): %s\n", i, home,
                                strerror(-rc));
                        return rc;
                }
        }
        return 0;
}

/* A fresh copy of the template for one seed, every device mounted. */
static int seed_setup(void)
{
        unsigned i;
        int rc;

        if (run_cmd("rm -rf '%s/run' && mkdir -p '%s/run' && cp -a '%s/store' '%s/run/store'",
                    opt.work, opt.work, opt.tpl, opt.work) != 0)
                return -EIO;
        snprintf(store_dir, sizeof(store_dir), "%s/run/store", opt.work);
        for (i = 0; i < opt.ndev; i++) {
                snprintf(devs[i].home, sizeof(devs[i].home), "%s/run/home%u", opt.work, i);
                if (run_cmd("cp -a '%s/home%u' '%s'", opt.tpl, i, devs[i].home) != 0)
                        return -EIO;
                /* The CLI (--equivocate's revoke) must talk to this run's store. */
                if (run_cmd("sed -i 's|^store=.*|store=file://%s|' '%s'/regions/*/region.conf",
                            store_dir, devs[i].home) != 0)
                        return -EIO;
                rc = region_load(devs[i].home, "sim", &devs[i].ri);
                if (rc == 0)
                        rc = dev_mount(i);
                if (rc != 0) {
                        fail("device %u does not mount: %s", i, strerror(-rc));
                        return rc;
                }
        }
        return 0;
}

/* ---- reading a device's tree -------------------------------------------------------------- */

struct node {
        char path[1024];
        uint64_t ino;
        int kind;
        uint8_t *data; /* content (REG) */
        size_t len;
        int err; /* read failed: the errno */
};

struct tree {
        struct node *n;
        size_t count, cap;
};

struct dirent_s {
        uint64_t ino;
        int kind;
        char name[256];
};

struct dirlist {
        struct dirent_s *e;
        size_t n, cap;
};

static int dir_cb(void *arg, int64_t pos, uint64_t ino, uint8_t type, const char *name, size_t len)
{
        struct dirlist *l = arg;

        (void)pos;
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 32;
                struct dirent_s *e = realloc(l->e, cap * sizeof(*e));

                if (e == NULL)
                        return -ENOMEM;
                l->e = e;
                l->cap = cap;
        }
        l->e[l->n].ino = ino;
        l->e[l->n].kind = type;
        snprintf(l->e[l->n].name, sizeof(l->e[l->n].name), "%.*s", (int)len, name);
        l->n++;
        return 0;
}

static int read_all(struct fs *fs, uint64_t ino, uint8_t **out, size_t *len)
{
        struct fs_inode *in = NULL;
        uint8_t *buf = NULL;
        size_t n = 0, cap = 0, got;
        int rc = fs_api_open(fs, ino, O_RDONLY, &in);

        if (rc != 0)
                return rc;
        for (;;) {
                if (cap - n < 65536) {
                        uint8_t *b = realloc(buf, cap + 65536);

                        if (b == NULL) {
                                rc = -ENOMEM;
                                break;
                        }
                        buf = b;
                        cap += 65536;
                }
                rc = fs_api_read(fs, in, n, 65536, buf + n, &got);
                if (rc != 0 || got == 0)
                        break;
                n += got;
        }
        fs_api_release(fs, in, O_RDONLY);
        if (rc != 0) {
                free(buf);
                return rc;
        }
        *out = buf;
        *len = n;
        return 0;
}

static int tree_add(struct tree *t, const char *path, uint64_t ino, int kind)
{
        if (t->count == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 64;
                struct node *n = realloc(t->n, cap * sizeof(*n));

                if (n == NULL)
                        return -ENOMEM;
                t->n = n;
                t->cap = cap;
        }
        memset(&t->n[t->count], 0, sizeof(t->n[0]));
        snprintf(t->n[t->count].path, sizeof(t->n[0].path), "%s", path);
        t->n[t->count].ino = ino;
        t->n[t->count].kind = kind;
        t->count++;
        return 0;
}

/* Every node under DIR (PREFIX its path), with contents if WITH_DATA. */
static int tree_walk(struct fs *fs, uint64_t dir, const char *prefix, struct tree *t, int with_data)
{
        struct dirlist l = {0};
        size_t i;
        int rc = index_readdir(fs->ix, dir, 0, dir_cb, &l);

        for (i = 0; i < l.n && rc == 0; i++) {
                char path[1024];
                struct node *n;

                snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "/" : "", l.e[i].name);
                rc = tree_add(t, path, l.e[i].ino, l.e[i].kind);
                if (rc != 0)
                        break;
                n = &t->n[t->count - 1];
                if (n->kind == FS_KIND_REG && with_data)
                        n->err = -read_all(fs, n->ino, &n->data, &n->len);
                if (n->kind == FS_KIND_DIR)
                        rc = tree_walk(fs, l.e[i].ino, path, t, with_data);
        }
        free(l.e);
        return rc;
}

static void tree_free(struct tree *t)
{
        size_t i;

        for (i = 0; i < t->count; i++)
                free(t->n[i].data);
        free(t->n);
        memset(t, 0, sizeof(*t));
}

static int node_cmp(const void *a, const void *b)
{
        return strcmp(((const struct node *)a)->path, ((const struct node *)b)->path);
}

/* ---- tokens ------------------------------------------------------------------------------- */

static struct {
        unsigned next;                   /* tokens 1..next-1 were written */
        uint8_t dead[SIM_MAX_TOKENS];    /* replaced by a write that saw it */
        uint8_t unacked[SIM_MAX_TOKENS]; /* lost to a crash before being durable */
        uint16_t dev[SIM_MAX_TOKENS];
        unsigned step[SIM_MAX_TOKENS];
        /* per device: tokens written since its last index commit (a crash may lose them) */
        unsigned *pending[SIM_MAX_DEV];
        size_t npending[SIM_MAX_DEV], cappending[SIM_MAX_DEV];
} tok;

/* T is written again by device D: a crash before D's next index commit may lose it. */
static void tok_pend(unsigned d, unsigned t)
{
        if (tok.npending[d] == tok.cappending[d]) {
                size_t cap = tok.cappending[d] ? tok.cappending[d] * 2 : 64;
                unsigned *p = realloc(tok.pending[d], cap * sizeof(*p));

                if (p == NULL)
                        abort();
                tok.pending[d] = p;
                tok.cappending[d] = cap;
        }
        tok.pending[d][tok.npending[d]++] = t;
}

static unsigned tok_new(unsigned d)
{
        unsigned t = tok.next++;

        if (t >= SIM_MAX_TOKENS)
                abort();
        tok.dev[t] = (uint16_t)d;
        tok.step[t] = cur_step;
        tok_pend(d, t);
        return t;
}

/* Parses a 9-byte line; 0 if malformed. */
static unsigned tok_parse(const uint8_t *p)
{
        unsigned v = 0, i;

        if (p[0] != 't' || p[8] != '\n')
                return 0;
        for (i = 1; i < 8; i++) {
                if (p[i] < '0' || p[i] > '9')
                        return 0;
                v = v * 10 + (unsigned)(p[i] - '0');
        }
        return v < SIM_MAX_TOKENS ? v : 0;
}

static void tok_line(unsigned t, char out[static 10])
{
        snprintf(out, 10, "t%07u\n", t);
}

/* Marks every token of DATA dead (a version that held them is replaced). */
static void tok_kill_all(const uint8_t *data, size_t len)
{
        size_t i;

        for (i = 0; i + SIM_LINE <= len; i += SIM_LINE) {
                unsigned t = tok_parse(data + i);

                if (t)
                        tok.dead[t] = 1;
        }
}

/* ---- the workload ------------------------------------------------------------------------- */

static const char *const file_names[] = {"f0", "f1", "f2", "f3", "f4", "notes.txt", "a.md"};
static const char *const dir_names[] = {"d0", "d1"};
/* The names a directory rename may take (--dirrenames 1): mkdir's and one more. */
static const char *const dir_rename_names[] = {"d0", "d1", "d2"};
#define NFILE_NAMES (sizeof(file_names) / sizeof(file_names[0]))
#define NDIR_NAMES (sizeof(dir_names) / sizeof(dir_names[0]))
#define NDIR_RENAME_NAMES (sizeof(dir_rename_names) / sizeof(dir_rename_names[0]))

/* The parent directory and leaf of PATH (any depth) in D's tree; 0, -ENOENT. */
static int resolve_parent(struct fs *fs, const char *path, uint64_t *parent, const char **leaf)
{
        uint64_t ino = INDEX_ROOT_INO;
        const char *p = path, *slash;

        /* a file may sit in ".sealsync-orphans/<id>/" while its directory is not known yet */
        while ((slash = strchr(p, '/')) != NULL) {
                int rc = index_lookup(fs->ix, ino, p, (size_t)(slash - p), &ino);

                if (rc != 0)
                        return rc;
                p = slash + 1;
        }
        *leaf = p;
        *parent = ino;
        return 0;
}

/* Writes N fresh tokens at OFF (APPEND: at the end) of open IN. */
static int write_tokens(unsigned d, struct fs_inode *in, uint64_t off, unsigned n, int append)
{
        char buf[SIM_LINE * 4 + 1];
        unsigned i;

        if (n > 4)
                n = 4;
        for (i = 0; i < n; i++) {
                unsigned t = tok_new(d);

                tok_line(t, buf + i * SIM_LINE);
                tr("  dev%u writes t%u into %02x%02x%02x%02x", d, t, in->file_id[0], in->file_id[1],
                   in->file_id[2], in->file_id[3]);
        }
        return fs_api_write(devs[d].fs, in, off, buf, (size_t)n * SIM_LINE, append);
}

static int maybe_fsync(unsigned d, struct fs_inode *in)
{
        int rc;

        if (!chance(30))
                return 0;
        rc = fs_api_fsync(devs[d].fs, in);
        if (rc == 0)
                tok.npending[d] = 0; /* the index committed: all of D's writes are durable */
        return rc;
}

static int op_create(unsigned d, const char *path)
{
        struct fs *fs = devs[d].fs;
        struct fs_inode *in = NULL, *h = NULL;
        uint64_t parent;
        const char *leaf;
        int rc = resolve_parent(fs, path, &parent, &leaf);

        if (rc != 0)
                return 0; /* its directory is gone: nothing to do */
        rc = fs_api_make_node(fs, parent, leaf, FS_KIND_REG, 0644, 1000, 1000, NULL, &in);
        if (rc == -EEXIST)
                return 0;
        if (rc != 0)
                return rc;
        rc = fs_api_open(fs, in->ino, O_RDWR, &h);
        fs_inode_put(fs, in);
        if (rc != 0)
                return rc;
        tr("dev%u create %s", d, path);
        rc = write_tokens(d, h, 0, 1 + rnd(3), 0);
        if (rc == 0)
                rc = maybe_fsync(d, h);
        fs_api_release(fs, h, O_RDWR);
        return rc;
}

/* Edit, append or truncate-and-rewrite the file N of D's tree. */
static int op_write(unsigned d, const struct node *n)
{
        struct fs *fs = devs[d].fs;
        struct fs_inode *h = NULL;
        unsigned kind = rnd(10);
        size_t lines = n->len / SIM_LINE;
        int rc;

        if (kind < 2 || lines == 0) { /* truncate and rewrite */
                rc = fs_api_open(fs, n->ino, O_RDWR | O_TRUNC, &h);
                if (rc != 0)
                        return rc;
                tok_kill_all(n->data, n->len);
                tr("dev%u rewrite %s", d, n->path);
                rc = write_tokens(d, h, 0, 1 + rnd(2), 0);
        } else {
                rc = fs_api_open(fs, n->ino, O_RDWR, &h);
                if (rc != 0)
                        return rc;
                if (kind < 5) {
                        tr("dev%u append %s", d, n->path);
                        rc = write_tokens(d, h, 0, 1, 1);
                } else {
                        size_t i = rnd((unsigned)lines);
                        unsigned old = tok_parse(n->data + i * SIM_LINE);

                        if (old)
                                tok.dead[old] = 1;
                        tr("dev%u edit %s line %zu (t%u)", d, n->path, i, old);
                        rc = write_tokens(d, h, i * SIM_LINE, 1, 0);
                }
        }
        if (rc == 0)
                rc = maybe_fsync(d, h);
        fs_api_release(fs, h, O_RDWR);
        return rc;
}

static int op_delete(unsigned d, const struct node *n)
{
        struct fs *fs = devs[d].fs;
        uint64_t parent;
        const char *leaf;
        int rc = resolve_parent(fs, n->path, &parent, &leaf);

        if (rc != 0)
                return rc;
        tr("dev%u delete %s", d, n->path);
        rc = fs_api_remove(fs, parent, leaf, n->kind == FS_KIND_DIR);
        if (rc == 0)
                tok_kill_all(n->data, n->len);
        return rc == -ENOTEMPTY ? 0 : rc;
}

/*
 * A delete as tests/tools/workload.py makes it (--replaces 1): file N is
 * renamed to a unique trash name in its directory, then unlinked there (the
 * rename and the unlink may reach one commit round or two).
 */
static int op_delete_trash(unsigned d, const struct node *n)
{
        struct fs *fs = devs[d].fs;
        uint64_t parent;
        const char *leaf;
        char trash[64];
        int rc = resolve_parent(fs, n->path, &parent, &leaf);

        if (rc != 0)
                return rc;
        snprintf(trash, sizeof(trash), ".trash-dev%u-%u", d, cur_step);
        tr("dev%u delete %s (through %s)", d, n->path, trash);
        rc = fs_api_rename(fs, parent, leaf, parent, trash, 1 /* RENAME_NOREPLACE */);
        if (rc == 0)
                rc = fs_api_remove(fs, parent, trash, 0);
        if (rc == 0)
                tok_kill_all(n->data, n->len);
        return rc == -EEXIST ? 0 : rc;
}

static int op_rename(unsigned d, const struct node *n, const char *to)
{
        struct fs *fs = devs[d].fs;
        uint64_t p1, p2;
        const char *l1, *l2;
        int rc = resolve_parent(fs, n->path, &p1, &l1);

        if (rc == 0 && resolve_parent(fs, to, &p2, &l2) != 0)
                return 0;
        if (rc != 0)
                return rc;
        tr("dev%u rename %s -> %s", d, n->path, to);
        rc = fs_api_rename(fs, p1, l1, p2, l2, 1 /* RENAME_NOREPLACE */);
        return rc == -EEXIST || rc == -ENOTEMPTY ? 0 : rc;
}

/*
 * An editor's save of file N (--replaces 1): a temporary file in the same
 * directory gets N's lines and one more, then is renamed over N (the old
 * file id is deleted by the rename; its lines live on in the new one).
 */
static int op_replace(unsigned d, const struct node *n)
{
        struct fs *fs = devs[d].fs;
        struct fs_inode *in = NULL, *h = NULL;
        uint64_t parent;
        const char *leaf;
        char tmp[64];
        int rc = resolve_parent(fs, n->path, &parent, &leaf);

        if (rc != 0)
                return 0; /* its directory is gone */
        snprintf(tmp, sizeof(tmp), ".tmp-dev%u-%u", d, cur_step);
        rc = fs_api_make_node(fs, parent, tmp, FS_KIND_REG, 0644, 1000, 1000, NULL, &in);
        if (rc != 0)
                return rc == -EEXIST ? 0 : rc;
        rc = fs_api_open(fs, in->ino, O_RDWR, &h);
        fs_inode_put(fs, in);
        if (rc != 0)
                return rc;
        tr("dev%u replace %s", d, n->path);
        rc = n->len > 0 ? fs_api_write(fs, h, 0, n->data, n->len, 0) : 0;
        if (rc == 0)
                rc = write_tokens(d, h, n->len, 1, 0);
        if (rc == 0)
                rc = maybe_fsync(d, h);
        fs_api_release(fs, h, O_RDWR);
        if (rc == 0)
                rc = fs_api_rename(fs, parent, tmp, parent, leaf, 0);
        return rc;
}

/*
 * A rewrite held open across other steps (--held 1), as tests/tools/workload.py
 * makes it: open read-write and read the file (step 1), then, at the device's
 * next operation (other devices and this device's pulls may run between),
 * truncate it and write back what was read plus one line (step 2).  Lines that
 * arrived in between were never read: the rewrite did not see them, so they
 * must survive as a conflict copy (D1, U7).  Nothing is killed.
 */
static struct {
        struct fs_inode *h; /* NULL: none held */
        uint8_t *data;
        size_t len;
        char path[1024];
} held[SIM_MAX_DEV];

static int op_held_start(unsigned d, const struct node *n)
{
        struct fs *fs = devs[d].fs;
        int rc = fs_api_open(fs, n->ino, O_RDWR, &held[d].h);

        if (rc != 0)
                return rc;
        rc = read_all(fs, n->ino, &held[d].data, &held[d].len);
        if (rc != 0) {
                fs_api_release(fs, held[d].h, O_RDWR);
                held[d].h = NULL;
                return rc;
        }
        snprintf(held[d].path, sizeof(held[d].path), "%s", n->path);
        tr("dev%u opens %s to rewrite it (%zu bytes read)", d, n->path, held[d].len);
        return 0;
}

/* Drops D's held rewrite unwritten (a crash, the end of the workload). */
static void held_drop(unsigned d)
{
        if (held[d].h == NULL)
                return;
        tr("dev%u closes %s unwritten", d, held[d].path);
        fs_api_release(devs[d].fs, held[d].h, O_RDWR);
        free(held[d].data);
        memset(&held[d], 0, sizeof(held[d]));
}

static int op_held_finish(unsigned d)
{
        struct fs *fs = devs[d].fs;
        struct fs_inode *t = NULL;
        size_t i;
        int rc = fs_api_open(fs, held[d].h->ino, O_WRONLY | O_TRUNC, &t);

        tr("dev%u rewrites %s from what it read", d, held[d].path);
        /* the lines read are truncated away and written again: a crash before the
         * index commit may lose them, as any write not durable yet */
        for (i = 0; rc == 0 && i + SIM_LINE <= held[d].len; i += SIM_LINE) {
                unsigned tk = tok_parse(held[d].data + i);

                if (tk)
                        tok_pend(d, tk);
        }
        if (rc == 0) {
                fs_api_release(fs, t, O_WRONLY);
                rc = held[d].len > 0 ? fs_api_write(fs, held[d].h, 0, held[d].data, held[d].len, 0)
                                     : 0;
        }
        if (rc == 0)
                rc = write_tokens(d, held[d].h, held[d].len, 1, 0);
        if (rc == 0)
                rc = maybe_fsync(d, held[d].h);
        fs_api_release(fs, held[d].h, O_RDWR);
        free(held[d].data);
        memset(&held[d], 0, sizeof(held[d]));
        return rc == -ENOENT ? 0 : rc;
}

/*
 * A name the kernel looked up and keeps in its dentry cache (--stale 1): the
 * lookup is taken at one step (nlookup, as the kernel's), and at the device's
 * next operation the file is opened through it and appended to, as `echo >>`
 * does when the dentry is still cached.  If a remote deletion unlinked the
 * file in between, the open must fail (ESTALE: the kernel then looks the name
 * up again) rather than write into a file that no name reaches (U7).
 */
static struct {
        uint64_t ino; /* 0: none kept */
        char path[1024];
} dentry[SIM_MAX_DEV];

static int op_dentry_keep(unsigned d, const struct node *n)
{
        struct fs_inode *in = NULL;
        int rc = fs_inode_get(devs[d].fs, n->ino, &in);

        if (rc != 0)
                return rc == -ENOENT ? 0 : rc;
        fs_inode_ref(devs[d].fs, in, 1, 0);
        fs_inode_put(devs[d].fs, in);
        dentry[d].ino = n->ino;
        snprintf(dentry[d].path, sizeof(dentry[d].path), "%s", n->path);
        tr("dev%u looks up %s (inode %" PRIu64 ", kept as a dentry)", d, n->path, n->ino);
        return 0;
}

/* The kernel forgets D's kept dentry (it was used, or the device goes down). */
static void dentry_drop(unsigned d)
{
        if (dentry[d].ino == 0)
                return;
        fs_inode_forget(devs[d].fs, dentry[d].ino, 1);
        memset(&dentry[d], 0, sizeof(dentry[d]));
}

static int op_dentry_append(unsigned d)
{
        struct fs *fs = devs[d].fs;
        struct fs_inode *h = NULL;
        int rc = fs_api_open(fs, dentry[d].ino, O_WRONLY | O_APPEND, &h);

        if (rc == -ESTALE || rc == -ENOENT) {
                tr("dev%u opens %s through its dentry: stale (%s)", d, dentry[d].path,
                   strerror(-rc));
                dentry_drop(d);
                return 0;
        }
        if (rc == 0) {
                tr("dev%u appends to %s through its dentry", d, dentry[d].path);
                rc = write_tokens(d, h, 0, 1, 1);
                if (rc == 0)
                        rc = maybe_fsync(d, h);
                fs_api_release(fs, h, O_WRONLY);
        }
        dentry_drop(d);
        return rc;
}

/*
 * A rename of a root directory (--dirrenames 1): one of D's root directories
 * DIRS (not a dot name) to another of dir_rename_names, at the root, with
 * RENAME_NOREPLACE.  No nesting, so no cycle.
 */
static int op_dir_rename(unsigned d, struct node *const *dirs, size_t nd)
{
        struct fs *fs = devs[d].fs;
        const struct node *src[SIM_MAX_FILES];
        const struct node *n;
        const char *to;
        size_t ns = 0, i;
        int rc;

        for (i = 0; i < nd; i++)
                if (strchr(dirs[i]->path, '/') == NULL && dirs[i]->path[0] != '.')
                        src[ns++] = dirs[i];
        if (ns == 0)
                return 0;
        n = src[rnd((unsigned)ns)];
        to = dir_rename_names[rnd(NDIR_RENAME_NAMES)];
        if (strcmp(to, n->path) == 0)
                return 0;
        tr("dev%u rename directory %s -> %s", d, n->path, to);
        rc = fs_api_rename(fs, INDEX_ROOT_INO, n->path, INDEX_ROOT_INO, to,
                           1 /* RENAME_NOREPLACE */);
        return rc == -EEXIST || rc == -ENOTEMPTY ? 0 : rc;
}

static int op_mkdir(unsigned d, const char *name)
{
        struct fs *fs = devs[d].fs;
        struct fs_inode *in = NULL;
        int rc =
            fs_api_make_node(fs, INDEX_ROOT_INO, name, FS_KIND_DIR, 0755, 1000, 1000, NULL, &in);

        if (rc == -EEXIST)
                return 0;
        if (rc == 0) {
                tr("dev%u mkdir %s (%02x%02x%02x%02x)", d, name, in->file_id[0], in->file_id[1],
                   in->file_id[2], in->file_id[3]);
                fs_inode_put(fs, in);
        }
        return rc;
}

/*
 * --disjoint: file name I of the pool belongs to device I % N, which alone
 * creates, writes, deletes and renames it (so no two versions are ever
 * concurrent); directories are dev0's and never removed.  -1: nobody's.
 */
static int name_owner(const char *path)
{
        const char *leaf = strrchr(path, '/');
        size_t i;

        leaf = leaf != NULL ? leaf + 1 : path;
        for (i = 0; i < NFILE_NAMES; i++)
                if (strcmp(leaf, file_names[i]) == 0)
                        return (int)(i % opt.ndev);
        return -1;
}

static int may_touch(unsigned d, const char *path)
{
        return !opt.disjoint || name_owner(path) == (int)d;
}

static void random_path(unsigned d, char *out, size_t size)
{
        unsigned i = rnd(NFILE_NAMES);

        if (opt.disjoint)
                while (i % opt.ndev != d)
                        i = (i + 1) % NFILE_NAMES;
        if (opt.renames && chance(30))
                snprintf(out, size, "%s/%s", dir_names[rnd(NDIR_NAMES)], file_names[i]);
        else
                snprintf(out, size, "%s", file_names[i]);
}

/* One file operation on device D. */
static int step_op(unsigned d)
{
        struct tree t = {0};
        struct node *files[SIM_MAX_FILES], *dirs[SIM_MAX_FILES];
        size_t nf = 0, nd = 0, i;
        char path[600];
        const char *op = "write";
        unsigned what = rnd(100);
        int rc = tree_walk(devs[d].fs, INDEX_ROOT_INO, "", &t, 1);

        if (rc != 0) {
                fail("dev%u: the tree does not read: %s", d, strerror(-rc));
                tree_free(&t);
                return rc;
        }
        for (i = 0; i < t.count; i++) {
                if (t.n[i].kind == FS_KIND_REG && t.n[i].err == 0 && nf < SIM_MAX_FILES &&
                    may_touch(d, t.n[i].path))
                        files[nf++] = &t.n[i];
                else if (t.n[i].kind == FS_KIND_DIR && nd < SIM_MAX_FILES)
                        dirs[nd++] = &t.n[i];
        }
        random_path(d, path, sizeof(path));
        if (held[d].h != NULL) {
                op = "rewrite held open";
                rc = op_held_finish(d);
        } else if (dentry[d].ino != 0) {
                op = "append through a kept dentry";
                rc = op_dentry_append(d);
        } else if (what < 20 || nf == 0) {
                op = "create";
                rc = op_create(d, path);
        } else if (what < 70 && opt.stale && chance(30)) {
                op = "look up";
                rc = op_dentry_keep(d, files[rnd((unsigned)nf)]);
        } else if (what < 70 && opt.held && chance(30)) {
                op = "open to rewrite";
                rc = op_held_start(d, files[rnd((unsigned)nf)]);
        } else if (what < 70) {
                rc = op_write(d, files[rnd((unsigned)nf)]);
        } else if (what < 82 && opt.deletes && opt.replaces && chance(50)) {
                op = "delete through a trash name";
                rc = op_delete_trash(d, files[rnd((unsigned)nf)]);
        } else if (what < 82 && opt.deletes) {
                op = "delete";
                rc = op_delete(d, files[rnd((unsigned)nf)]);
        } else if (what < 82) {
                rc = op_write(d, files[rnd((unsigned)nf)]);
        } else if (!opt.renames) {
                rc = op_write(d, files[rnd((unsigned)nf)]);
        } else if (opt.dirrenames && !opt.disjoint && nd > 0 && chance(35)) {
                op = "rename a directory";
                rc = op_dir_rename(d, dirs, nd);
        } else if (what < 92 && opt.replaces && chance(50)) {
                op = "replace";
                rc = op_replace(d, files[rnd((unsigned)nf)]);
        } else if (what < 92) {
                op = "rename";
                rc = op_rename(d, files[rnd((unsigned)nf)], path);
        } else if (opt.disjoint && d != 0) {
                rc = op_write(d, files[rnd((unsigned)nf)]);
        } else if (what < 96 || nd == 0 || opt.disjoint) {
                op = "mkdir";
                rc = op_mkdir(d, dir_names[rnd(NDIR_NAMES)]);
        } else {
                op = "rmdir";
                rc = op_delete(d, dirs[rnd((unsigned)nd)]);
        }
        tree_free(&t);
        if (rc != 0)
                fail("dev%u: a file operation (%s) failed: %s", d, op, strerror(-rc));
        return rc;
}

/* ---- sync steps and crashes ---------------------------------------------------------------- */

/*
 * A pull inside a commit round (--midpull 1): the round has sealed its
 * journal entry from the files as they were, not yet recorded it; a daemon's
 * puller thread may apply remote versions there (F17).  Once per armed round.
 */
static struct {
        unsigned d;
        int armed;
} midpull;

static void midpull_hook(void *arg)
{
        unsigned applied = 0;
        int rc;

        (void)arg;
        if (!midpull.armed)
                return;
        midpull.armed = 0;
        rc = fsmount_step_pull(devs[midpull.d].fs, &applied);
        tr("dev%u pull during its commit round: %u applied%s%s", midpull.d, applied,
           rc ? " rc " : "", rc ? strerror(-rc) : "");
}

static int step_commit(unsigned d, size_t *n)
{
        int rc;

        /* (no draw without the option: the other configurations keep their courses) */
        midpull.armed = opt.midpull && chance(50);
        midpull.d = d;
        fsmount_set_mid_commit(devs[d].fs, midpull.armed ? midpull_hook : NULL, NULL);
        rc = fsmount_step_commit(devs[d].fs, n);
        fsmount_set_mid_commit(devs[d].fs, NULL, NULL);
        midpull.armed = 0;

        if (rc == 0)
                tok.npending[d] = 0;
        if (*n)
                tr("dev%u commit %zu file(s)%s", d, *n, rc ? " (failed)" : "");
        return rc;
}

static int step_push(unsigned d)
{
        int rc = fsmount_step_push(devs[d].fs);

        tr("dev%u push%s", d, rc ? " (not all)" : "");
        return rc;
}

static int step_pull(unsigned d, unsigned *applied)
{
        int rc = fsmount_step_pull(devs[d].fs, applied);

        if (*applied || rc)
                tr("dev%u pull: %u applied%s%s", d, *applied, rc ? " rc " : "",
                   rc ? strerror(-rc) : "");
        return rc;
}

/* Kills device D (its index's open transaction is lost) and mounts it again. */
static int step_crash(unsigned d)
{
        size_t i;
        int rc;

        held_drop(d);
        dentry_drop(d);
        tr("dev%u crash (%zu write(s) not durable)", d, tok.npending[d]);
        for (i = 0; i < tok.npending[d]; i++)
                tok.unacked[tok.pending[d][i]] = 1;
        tok.npending[d] = 0;
        dev_unmount(d, 0);
        rc = dev_mount(d);
        if (rc != 0)
                fail("dev%u does not mount after a crash: %s", d, strerror(-rc));
        return rc;
}

/* Every device syncs, faults off, until a whole round changes nothing. */
static int settle(void)
{
        unsigned round, quiet = 0, d;

        net.on = 0;
        for (round = 0; round < 40 && quiet < 2; round++) {
                int busy = 0;

                for (d = 0; d < opt.ndev; d++) {
                        size_t n = 0;
                        unsigned applied = 0;

                        if (!live(d))
                                continue;
                        log_dev(d);
                        if (step_commit(d, &n) != 0 || n)
                                busy = 1;
                        if (step_push(d) != 0)
                                busy = 1;
                        if (step_pull(d, &applied) != 0 || applied)
                                busy = 1;
                }
                quiet = busy ? 0 : quiet + 1;
        }
        if (quiet < 2) {
                fail("the devices do not settle after %u rounds without faults", round);
                return -EAGAIN;
        }
        return 0;
}

/* ---- --equivocate: a cloned home, then the admin's revoke ------------------------------------ */

/* X's highest journal seq on the store (as the clone's filter is off for it). */
static uint64_t eq_store_head(void)
{
        char cmd[2 * PATH_MAX];
        uint64_t hi = 0;
        FILE *f;
        char line[512];

        snprintf(cmd, sizeof(cmd), "find '%s' -path '*%s*' -type f -printf '%%P\\n' 2>/dev/null",
                 store_dir, eq.xdir);
        f = popen(cmd, "r");
        if (f == NULL)
                return 0;
        while (fgets(line, sizeof(line), f) != NULL) {
                char key[600];
                uint64_t v;

                snprintf(key, sizeof(key), "/%s", line);
                v = eq_seq_of(key);
                if (v > hi)
                        hi = v;
        }
        pclose(f);
        return hi;
}

/* Runs the CLI as device D's home (deterministic randomness and clock, like the template's). */
static int eq_cli(unsigned d, const char *args, char *out, size_t size)
{
        const char *bin = getenv("SEALSYNC_BIN"), *shim = getenv("SEALSYNC_SIM_DETRAND");
        char cmd[3 * PATH_MAX];
        size_t n = 0;
        FILE *f;
        int st;

        if (bin == NULL || shim == NULL) {
                fail("--equivocate needs SEALSYNC_BIN and SEALSYNC_SIM_DETRAND (scripts/sim.sh)");
                return -EINVAL;
        }
        snprintf(cmd, sizeof(cmd),
                 "SEALSYNC_HOME='%s' SEALSYNC_SIM_RAND=%" PRIu64 " SEALSYNC_SIM_TIME=%lld "
                 "LD_PRELOAD='%s' '%s' %s 2>&1",
                 devs[d].home, cur_seed * 7919 + 17, (long long)sim_clock.tv_sec, shim, bin, args);
        f = popen(cmd, "r");
        if (f == NULL)
                return -errno;
        if (out != NULL && size > 0) {
                n = fread(out, 1, size - 1, f);
                out[n] = '\0';
        } else {
                char sink[4096];

                while (fread(sink, 1, sizeof(sink), f) > 0)
                        ;
        }
        st = pclose(f);
        return st == 0 ? 0 : -EIO;
}

/*
 * Forces device D to write and publish (faults off meanwhile): an edit of a
 * file OWNER may touch, if D holds one (the clone: a fork of one file, as
 * 76-equivocation.t), else a new file PATH.
 */
static int eq_publish_new(unsigned d, unsigned owner, const char *path)
{
        struct tree t = {0};
        int on = net.on, rc;
        size_t n = 0, i;

        net.on = 0;
        rc = tree_walk(devs[d].fs, INDEX_ROOT_INO, "", &t, 1);
        for (i = 0; rc == 0 && i < t.count; i++)
                if (t.n[i].kind == FS_KIND_REG && t.n[i].err == 0 && may_touch(owner, t.n[i].path))
                        break;
        if (rc == 0 && i < t.count)
                rc = op_write(d, &t.n[i]);
        else if (rc == 0)
                rc = op_create(d, path);
        tree_free(&t);
        if (rc == 0)
                rc = step_commit(d, &n);
        if (rc == 0)
                rc = step_push(d);
        net.on = on;
        return rc;
}

/* COPY_STEP: X's home is copied (X unmounted for it, as `cp -a` of a live home would not do). */
static int eq_copy(void)
{
        char seqbuf[64];
        unsigned x = eq.x;
        int rc;

        dev_unmount(x, 1);
        snprintf(devs[eq.clone].home, sizeof(devs[eq.clone].home), "%s/run/homeclone", opt.work);
        if (run_cmd("cp -a '%s' '%s'", devs[x].home, devs[eq.clone].home) != 0)
                return -EIO;
        /* The clone's history: what X had committed (published or still in its outbox). */
        if (eq_cli(x, "status sim --json | jq -r .journal_seq", seqbuf, sizeof(seqbuf)) != 0) {
                fail("--equivocate: dev%u's journal seq cannot be read: %s", x, seqbuf);
                return -EIO;
        }
        eq.copy_seq = strtoull(seqbuf, NULL, 10);
        eq.copied = 1;
        eq.first_tok = tok.next;
        tr("dev%u's home is copied (the clone) at its journal seq %" PRIu64, x, eq.copy_seq);
        rc = region_load(devs[eq.clone].home, "sim", &devs[eq.clone].ri);
        if (rc == 0)
                rc = dev_mount(x);
        if (rc != 0)
                fail("--equivocate: dev%u does not mount again after the copy: %s", x,
                     strerror(-rc));
        return rc;
}

/* FORK_STEP: X has an entry past the copy; the clone publishes another at the same seq. */
static int eq_fork(void)
{
        uint64_t head = eq_store_head();
        int rc = 0;

        if (head <= eq.copy_seq) {
                rc = eq_publish_new(eq.x, eq.x, "eq-x");
                head = eq_store_head();
        }
        if (rc != 0 || head <= eq.copy_seq) {
                tr("dev%u published nothing after the copy: no fork this seed", eq.x);
                return 0;
        }
        devs[eq.clone].id = devs[eq.x].id;
        devs[eq.clone].keys = devs[eq.x].keys;
        rc = dev_mount(eq.clone);
        if (rc != 0) {
                fail("--equivocate: the clone does not mount: %s", strerror(-rc));
                return rc;
        }
        rc = eq_publish_new(eq.clone, eq.x, "eq-twin");
        dev_unmount(eq.clone, 1);
        if (rc != 0) {
                fail("--equivocate: the clone cannot publish: %s", strerror(-rc));
                return rc;
        }
        eq.forked = 1;
        for (size_t i = 0; i < eq.nown; i++)
                if (eq_seq_of(eq.own[i]) > eq.fork_seq)
                        eq.fork_seq = eq_seq_of(eq.own[i]);
        tr("the clone of dev%u published up to seq %" PRIu64 " (X's head %" PRIu64 ")", eq.x,
           eq.fork_seq, head);
        return 0;
}

/* After the workload: device 0 (the admin) revokes X; X takes no further part. */
static int eq_remove(void)
{
        char out[2048], args[64], hex[33];
        int rc;

        hex_encode(hex, devs[eq.x].id->device_id, 16);
        snprintf(args, sizeof(args), "revoke sim %.8s", hex);
        dev_unmount(0, 1);
        rc = eq_cli(0, args, out, sizeof(out));
        tr("dev0 revokes dev%u: %s", eq.x,
           rc != 0                  ? "failed"
           : strstr(out, "refused") ? strstr(out, "entries after")
                                    : "ok");
        if (rc != 0)
                fail("--equivocate: dev0 cannot revoke dev%u: %s", eq.x, out);
        if (rc == 0)
                rc = dev_mount(0);
        dev_unmount(eq.x, 1);
        eq.removed = 1;
        return rc;
}

/*
 * (e) after the run, every device unmounted: every honest device names the
 * alarm equivocation about X.
 */
static void eq_check(void)
{
        char args[256], hex[33];
        unsigned d;

        hex_encode(hex, devs[eq.x].id->device_id, 16);
        snprintf(args, sizeof(args),
                 "status sim --json | jq -e --arg d %s '[.alarms[] | select(.kind == "
                 "\"equivocation\" and .device_id == $d)] | length >= 1' >/dev/null",
                 hex);
        for (d = 0; d < opt.ndev; d++)
                if (live(d) && eq_cli(d, args, NULL, 0) != 0)
                        fail("(e) dev%u does not name the equivocation of dev%u", d, eq.x);
}

/* ---- the checker -------------------------------------------------------------------------- */

static void vf_problem(void *arg, const struct verify_problem *p)
{
        unsigned *n = arg;
        char hex[33];

        if (eq.removed) { /* X's fork and its refused entries are what --equivocate made */
                hex_encode(hex, devs[eq.x].id->device_id, 16);
                if (p->device != NULL && strcmp(p->device, hex) == 0)
                        return;
        }
        if ((*n)++ < 5)
                fail("(c) verify: %s %s: %s", verify_cat_name(p->cat), p->kind, p->text);
}

static void check(void)
{
        struct tree t[SIM_MAX_DEV];
        unsigned d, vproblems = 0;
        size_t i;
        uint8_t *seen = calloc(SIM_MAX_TOKENS, 1);
        unsigned before = nfail;

        if (seen == NULL)
                abort();
        memset(t, 0, sizeof(t));
        for (d = 0; d < opt.ndev; d++) {
                int rc;

                if (!live(d))
                        continue;
                rc = tree_walk(devs[d].fs, INDEX_ROOT_INO, "", &t[d], 1);
                if (rc != 0)
                        fail("dev%u: the tree does not read: %s", d, strerror(-rc));
                qsort(t[d].n, t[d].count, sizeof(t[d].n[0]), node_cmp);
                for (i = 0; i < t[d].count; i++) {
                        const struct node *n = &t[d].n[i];
                        size_t k;

                        if (n->err)
                                fail("(d) dev%u: %s does not read: %s", d, n->path,
                                     strerror(n->err));
                        if (n->kind != FS_KIND_REG || n->err)
                                continue;
                        if (n->len % SIM_LINE)
                                fail("(d) dev%u: %s has %zu bytes, not whole lines", d, n->path,
                                     n->len);
                        for (k = 0; k + SIM_LINE <= n->len; k += SIM_LINE) {
                                unsigned tk = tok_parse(n->data + k);

                                if (tk == 0)
                                        fail("(d) dev%u: %s has a damaged line at %zu", d, n->path,
                                             k);
                                else if (d == 0)
                                        seen[tk] = 1;
                        }
                }
        }
        /* (a) the same tree everywhere */
        for (d = 1; d < opt.ndev; d++) {
                size_t a = 0, b = 0;

                if (!live(d))
                        continue;
                while (a < t[0].count || b < t[d].count) {
                        int c = a == t[0].count   ? 1
                                : b == t[d].count ? -1
                                                  : strcmp(t[0].n[a].path, t[d].n[b].path);

                        if (c < 0) {
                                fail("(a) %s is on dev0, not on dev%u", t[0].n[a].path, d);
                                a++;
                        } else if (c > 0) {
                                fail("(a) %s is on dev%u, not on dev0", t[d].n[b].path, d);
                                b++;
                        } else {
                                const struct node *x = &t[0].n[a], *y = &t[d].n[b];

                                if (x->kind != y->kind || x->len != y->len ||
                                    (x->len && memcmp(x->data, y->data, x->len) != 0))
                                        fail("(a) %s differs between dev0 and dev%u", x->path, d);
                                a++;
                                b++;
                        }
                }
        }
        /* (b) every acknowledged write that nothing replaced survives */
        for (i = 1; i < tok.next; i++)
                if (!tok.dead[i] && !tok.unacked[i] && !seen[i] &&
                    !(eq.removed && (tok.dev[i] == eq.x || tok.dev[i] == eq.clone)))
                        fail("(b) t%zu (dev%u, step %u) is in no file", i, tok.dev[i], tok.step[i]);
        /* (c) verify */
        {
                static const struct verify_ops ops = {.problem = vf_problem};
                struct verify_counts c;
                int rc;

                memset(&c, 0, sizeof(c));
                rc =
                    verify_region(devs[0].st->inner, &devs[0].ri, devs[0].id, &ops, &vproblems, &c);
                if (rc != 0)
                        fail("(c) verify could not finish: %s", strerror(-rc));
        }
        if (nfail != before && opt.verbose) {
                for (d = 0; d < opt.ndev; d++) {
                        printf("  dev%u tree:\n", d);
                        for (i = 0; i < t[d].count; i++) {
                                printf("    %s %s", t[d].n[i].kind == FS_KIND_DIR ? "d" : "f",
                                       t[d].n[i].path);
                                if (t[d].n[i].kind == FS_KIND_REG) {
                                        size_t k;

                                        printf(":");
                                        for (k = 0; k + SIM_LINE <= t[d].n[i].len; k += SIM_LINE)
                                                printf(" %.8s", t[d].n[i].data + k);
                                }
                                printf("\n");
                        }
                }
        }
        for (d = 0; d < opt.ndev; d++)
                tree_free(&t[d]);
        free(seen);
}

/*
 * --selftest: the checker must catch a lost write.  After settling, dev0
 * drops its first file behind the others' back (no token dies): (a) and
 * (b) must fail.
 */
static void selftest_damage(void)
{
        struct tree t = {0};
        size_t i;

        if (tree_walk(devs[0].fs, INDEX_ROOT_INO, "", &t, 0) != 0)
                return;
        for (i = 0; i < t.count; i++) {
                uint64_t parent;
                const char *leaf;

                if (t.n[i].kind != FS_KIND_REG ||
                    resolve_parent(devs[0].fs, t.n[i].path, &parent, &leaf) != 0)
                        continue;
                if (fs_api_remove(devs[0].fs, parent, leaf, 0) == 0) {
                        tr("selftest: dev0 drops %s", t.n[i].path);
                        break;
                }
        }
        tree_free(&t);
}

/* ---- one seed ----------------------------------------------------------------------------- */

static void seed_reset(uint64_t seed)
{
        unsigned d;
        size_t i;

        cur_seed = seed;
        cur_step = 0;
        sched = seed * 0x2545f4914f6cdd1dull + 1;
        rb_state = seed ^ 0x5ea15eed5ea15eedull;
        sim_clock.tv_sec = 1600000000;
        sim_clock.tv_nsec = 0;
        trace_len = 0;
        for (i = 0; i < net.nhid; i++)
                free(net.hid[i].key);
        net.nhid = 0;
        net.on = 0;
        net.requests = net.failed = net.hidden = 0;
        net.fail_pct = opt.faults ? 5 + rnd(20) : 0;
        net.hide_pct = opt.faults && opt.hide ? rnd(30) : 0;
        tok.next = 1;
        memset(tok.dead, 0, sizeof(tok.dead));
        memset(tok.unacked, 0, sizeof(tok.unacked));
        for (d = 0; d < SIM_MAX_DEV; d++)
                tok.npending[d] = 0;
        for (i = 0; i < eq.nown; i++)
                free(eq.own[i]);
        free(eq.own);
        for (i = 0; i < eq.nxput; i++)
                free(eq.xput[i]);
        free(eq.xput);
        memset(&eq, 0, sizeof(eq));
        if (opt.equivocate) {
                char hex[33];

                eq.x = 1 + rnd(opt.ndev - 1);
                eq.clone = opt.ndev;
                eq.copy_step = opt.steps / 5 + rnd(opt.steps / 5 + 1);
                eq.fork_step = eq.copy_step + 10 + rnd(opt.steps / 4 + 1);
                hex_encode(hex, devs[eq.x].id->device_id, 16);
                snprintf(eq.xdir, sizeof(eq.xdir), "/journal/%s/", hex);
        }
}

static void run_seed(uint64_t seed)
{
        unsigned before = nfail, d;
        int rc;

        seed_reset(seed);
        rc = seed_setup();
        if (rc == 0) {
                net.on = opt.faults;
                for (cur_step = 1; cur_step <= opt.steps && rc == 0; cur_step++) {
                        unsigned what = rnd(100), applied;
                        size_t n;

                        d = rnd(opt.ndev);
                        sim_clock.tv_sec++;
                        log_dev(d);
                        if (opt.equivocate && cur_step == eq.copy_step)
                                rc = eq_copy();
                        else if (opt.equivocate && cur_step == eq.fork_step && eq.copied)
                                rc = eq_fork();
                        if (rc != 0)
                                break;
                        if (what < 45)
                                rc = step_op(d);
                        else if (what < 60)
                                (void)step_commit(d, &n);
                        else if (what < 75)
                                (void)step_push(d);
                        else if (what < 97 || !opt.crashes)
                                (void)step_pull(d, &applied);
                        else
                                rc = step_crash(d);
                }
                for (d = 0; d < opt.ndev; d++) {
                        if (held[d].h != NULL && rc == 0)
                                rc = op_held_finish(d);
                        if (dentry[d].ino != 0 && rc == 0)
                                rc = op_dentry_append(d);
                }
                cur_step = opt.steps + 1000; /* every hidden object is listed from now on */
                if (rc == 0 && eq.forked)
                        rc = eq_remove();
                if (rc == 0)
                        rc = settle();
                for (d = 0; d < opt.ndev && rc == 0; d++) { /* as after a restart */
                        if (!live(d))
                                continue;
                        dev_unmount(d, 1);
                        rc = dev_mount(d);
                        if (rc != 0)
                                fail("dev%u does not mount again: %s", d, strerror(-rc));
                }
                if (rc == 0 && settle() == 0) {
                        if (opt.selftest)
                                selftest_damage();
                        check();
                }
        }
        for (d = 0; d <= opt.ndev && d < SIM_MAX_DEV; d++) {
                if (devs[d].fs != NULL)
                        held_drop(d);
                if (devs[d].fs != NULL)
                        dentry_drop(d);
                if (devs[d].fs != NULL)
                        dev_unmount(d, 1);
        }
        if (rc == 0 && eq.removed)
                eq_check();
        if (opt.equivocate && opt.verbose)
                printf("seed %" PRIu64 ": dev%u cloned at step %u, %s\n", seed, eq.x, eq.copy_step,
                       eq.forked ? "forked" : "no fork");
        if (nfail != before) {
                printf("seed %" PRIu64 " FAILED (replay: scripts/sim.sh --seeds 1 --from %" PRIu64
                       " -v)\n",
                       seed, seed);
                if (opt.verbose)
                        fwrite(trace, 1, trace_len, stdout);
        } else if (opt.verbose) {
                printf("seed %" PRIu64 " ok (%u tokens, %" PRIu64 " requests, %" PRIu64
                       " failed, %" PRIu64 " hidden)\n",
                       seed, tok.next - 1, net.requests, net.failed, net.hidden);
        }
        fflush(stdout);
}

static void usage(FILE *f)
{
        fprintf(f, "usage: sim --template DIR [--work DIR] [--seeds N] [--from S] [--devices N]\n"
                   "           [--steps K] [--faults 0|1] [--crashes 0|1] [--renames 0|1] "
                   "[--deletes 0|1] [--selftest]\n"
                   "           [--disjoint 0|1] [--hide 0|1] [--replaces 0|1] [--held 0|1] "
                   "[--stale 0|1]\n"
                   "           [--dirrenames 0|1] [--midpull 0|1] [--equivocate 0|1] [-v]\n");
}

/* A whole number option argument (0..100000); anything else exits with usage status 2. */
static unsigned sim_uint_arg(const char *arg)
{
        char *end = NULL;
        unsigned long v;

        errno = 0;
        v = strtoul(arg, &end, 10);
        if (errno != 0 || end == arg || *end != '\0' || v > 100000) {
                fprintf(stderr, "sim: bad number '%s'\n", arg);
                exit(2);
        }
        return (unsigned)v;
}

int main(int argc, char **argv)
{
        static const struct option lo[] = {{"template", required_argument, NULL, 't'},
                                           {"work", required_argument, NULL, 'w'},
                                           {"seeds", required_argument, NULL, 'n'},
                                           {"from", required_argument, NULL, 'f'},
                                           {"devices", required_argument, NULL, 'd'},
                                           {"steps", required_argument, NULL, 's'},
                                           {"faults", required_argument, NULL, 'F'},
                                           {"crashes", required_argument, NULL, 'C'},
                                           {"renames", required_argument, NULL, 'R'},
                                           {"deletes", required_argument, NULL, 'D'},
                                           {"selftest", no_argument, NULL, 'S'},
                                           {"disjoint", required_argument, NULL, 'J'},
                                           {"hide", required_argument, NULL, 'H'},
                                           {"verbose", no_argument, NULL, 'v'},
                                           {"replaces", required_argument, NULL, 'P'},
                                           {"held", required_argument, NULL, 'O'},
                                           {"stale", required_argument, NULL, 'K'},
                                           {"dirrenames", required_argument, NULL, 'M'},
                                           {"midpull", required_argument, NULL, 'Q'},
                                           {"equivocate", required_argument, NULL, 'E'},
                                           {"help", no_argument, NULL, 'h'},
                                           {NULL, 0, NULL, 0}};
        char workbuf[PATH_MAX];
        uint64_t s, failed_seeds = 0;
        int c;

        while ((c = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
                switch (c) {
                case 't':
                        opt.tpl = optarg;
                        break;
                case 'w':
                        opt.work = optarg;
                        break;
                case 'n':
                        opt.seeds = strtoull(optarg, NULL, 10);
                        break;
                case 'f':
                        opt.from = strtoull(optarg, NULL, 10);
                        break;
                case 'd':
                        opt.ndev = sim_uint_arg(optarg);
                        break;
                case 's':
                        opt.steps = sim_uint_arg(optarg);
                        break;
                case 'F':
                        opt.faults = sim_uint_arg(optarg);
                        break;
                case 'C':
                        opt.crashes = sim_uint_arg(optarg);
                        break;
                case 'R':
                        opt.renames = sim_uint_arg(optarg);
                        break;
                case 'P':
                        opt.replaces = sim_uint_arg(optarg);
                        break;
                case 'O':
                        opt.held = sim_uint_arg(optarg);
                        break;
                case 'K':
                        opt.stale = sim_uint_arg(optarg);
                        break;
                case 'M':
                        opt.dirrenames = sim_uint_arg(optarg);
                        break;
                case 'Q':
                        opt.midpull = sim_uint_arg(optarg);
                        break;
                case 'D':
                        opt.deletes = sim_uint_arg(optarg);
                        break;
                case 'S':
                        opt.selftest = 1;
                        break;
                case 'H':
                        opt.hide = sim_uint_arg(optarg);
                        break;
                case 'J':
                        opt.disjoint = sim_uint_arg(optarg);
                        break;
                case 'E':
                        opt.equivocate = sim_uint_arg(optarg);
                        break;
                case 'v':
                        opt.verbose++;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (opt.tpl == NULL || opt.ndev < 2 || opt.ndev > SIM_MAX_DEV ||
            (opt.equivocate && opt.ndev >= SIM_MAX_DEV)) {
                usage(stderr);
                return 2;
        }
        if (opt.work == NULL) {
                snprintf(workbuf, sizeof(workbuf), "%s/sealsync-sim.XXXXXX",
                         access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
                if (mkdtemp(workbuf) == NULL) {
                        perror("sim: mkdtemp");
                        return 1;
                }
                opt.work = workbuf;
        }
        setenv("SEALSYNC_NO_CHECKPOINT", "1", 1);
        setenv("SEALSYNC_EAGER", "1", 1); /* every version whole: (d) reads need no store */
        log_init("sim", sim_log_level());
        if (opt.verbose < 2)
                log_quiet_stderr(); /* the engine's own lines only with -v -v */
        if (randombytes_set_implementation(&rb_impl) != 0 || secmem_init() != 0) {
                fprintf(stderr, "sim: cannot initialise libsodium\n");
                return 1;
        }
        if (load_template() != 0)
                return 1;
        for (s = opt.from; s < opt.from + opt.seeds; s++) {
                unsigned before = nfail;

                run_seed(s);
                if (nfail != before)
                        failed_seeds++;
        }
        printf("sim: %" PRIu64 " seed(s) from %" PRIu64 ", %u device(s), %u steps: %" PRIu64
               " failed\n",
               opt.seeds, opt.from, opt.ndev, opt.steps, failed_seeds);
        if (strstr(opt.work, "sealsync-sim.") != NULL)
                (void)run_cmd("rm -rf '%s'", opt.work);
        return failed_seeds ? 1 : 0;
}
