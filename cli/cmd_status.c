/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sealsync status / sync: the client side of the mount daemon's control
 * socket (fs/ctl.h; protocol and JSON in doc/CLI.md).
 *
 * Both return 0, 1 (a message on stderr; for status also: an alarm or an
 * error is shown) or 2 (usage error).
 */
#include "cli/cli_s3.h"
#include "cli/cmd.h"
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_ctl.h"
#include "fs/ctl.h"
#include "keyring/region.h"
#include "sync/index.h"
#include "sync/push.h"
#include "util/hex.h"
#include "util/log.h"

#define STATUS_REPLY_TIMEOUT_S 10 /* a STATUS reply; a SYNC reports every 250 ms */
#define SYNC_SILENCE_S 60         /* no line from the daemon for this long: it is stuck */
#define SYNC_DEFAULT_TIMEOUT_S 300

static const char status_usage[] =
    "usage: sealsync status [NAME] [--json]\n"
    "\n"
    "Show the sync state of every region, or of region NAME: mounted by this device\n"
    "home or not (and where; a mount of the region by another device home on this\n"
    "machine is shown as such, not as this one's), the upload queue (entries and\n"
    "bytes waiting), the last successful push and pull (UTC time and age), the last\n"
    "store error, the alarms raised by the puller (kind, device, seq, store object,\n"
    "text), the number of conflicts, and the peers' journal heads (the last seq\n"
    "applied from each device), and which of this device's changes each other\n"
    "device has confirmed (from its signed acknowledgement: up to which seq of this\n"
    "device's journal, and when), and how many bytes of file content are local and\n"
    "how many still remote (fetched on first read; see 'sealsync pin'), and a\n"
    "remote deletion that waits until a file open for writing here is closed.\n"
    "Exit status: 0 all well, 1 an alarm or an error (or a failure), 2 usage.\n"
    "\n"
    "      --json   print a JSON object (with NAME) or an array of them\n"
    "  -h, --help   show this help\n";

static const char rekey_usage[] =
    "usage: sealsync rekey NAME [--json]\n"
    "\n"
    "Re-encrypt now, under the region's current key, every file, directory and\n"
    "symlink of region NAME that is still under an older key, and publish them\n"
    "(run it after 'sealsync revoke' so that a removed device's old keys open\n"
    "none of the current content).  NAME must be mounted here; the daemon does\n"
    "it, with a progress line on a terminal, and waits without a time limit.\n"
    "Old objects stay on the store until 'sealsync gc NAME' deletes them (after\n"
    "its grace period); whoever copied them before, with the old keys, can still\n"
    "read the old versions.\n"
    "\n"
    "      --json             print the final summary as one JSON object\n"
    "  -h, --help             show this help\n";

static const char sync_usage[] =
    "usage: sealsync sync NAME [--timeout DURATION] [--json]\n"
    "\n"
    "Force one full round now in the daemon that has region NAME mounted, and wait\n"
    "until it is done: commit local changes, upload the queue, pull every peer.\n"
    "On a terminal a progress line (files, bytes, rate, ETA) is updated in place;\n"
    "otherwise one summary line is printed at the end.\n"
    "Fails (exit 1) if NAME is not mounted, if the store cannot be reached after\n"
    "the daemon's retries, on an alarm, or on timeout.\n"
    "\n"
    "      --timeout DURATION stop waiting after DURATION (N seconds, or Ns, Nm, Nh,\n"
    "                         Nd, Nw; default 300; 0: no limit); the daemon\n"
    "                         carries on in the background\n"
    "      --json             print the final summary as one JSON object\n"
    "  -h, --help             show this help\n";

/* ---- time and sizes ---- */

static void fmt_time(long long t, char *out, size_t size)
{
        time_t tt = (time_t)t;
        struct tm tm;

        if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
            strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(out, size, "-");
}

static long long age_of(long long t)
{
        long long now = (long long)time(NULL);

        return now > t ? now - t : 0;
}

static void fmt_bytes(uint64_t b, char *out, size_t size)
{
        static const char *const unit[] = {"B", "kB", "MB", "GB", "TB"};
        double v = (double)b;
        int i = 0;

        while (v >= 1000.0 && i < 4) {
                v /= 1000.0;
                i++;
        }
        if (i == 0)
                snprintf(out, size, "%" PRIu64 " B", b);
        else
                snprintf(out, size, "%.1f %s", v, unit[i]);
}

static void fmt_age(long long s, char *out, size_t size)
{
        if (s < 120)
                snprintf(out, size, "%lld s ago", s);
        else if (s < 7200)
                snprintf(out, size, "%lld min ago", s / 60);
        else if (s < 172800)
                snprintf(out, size, "%lld h ago", s / 3600);
        else
                snprintf(out, size, "%lld days ago", s / 86400);
}

/* ---- status: what the daemon says ---- */

struct st_alarm {
        long long id; /* the index's alarm id (sealsync alarms --clear ID), 0 if none */
        long long time;
        char kind[24];
        char device[33];
        uint64_t seq;
        int holds;
        char object[520];
        char text[CTL_LINE_MAX];
};

struct st_peer {
        char device[33];
        int have;
        uint64_t seq;
        int held;
};

struct st_confirmed {
        char device[33];
        uint64_t seq;    /* of this device's journal */
        uint64_t time_s; /* the acknowledgement's time */
};

struct st_op {
        int known; /* the daemon syncs: the fields below are meaningful */
        long long last_ok;
        uint64_t seq;
        int err;
        long long err_time;
        char err_text[CTL_LINE_MAX];
};

/* "uncommitted FILE_ID ERRNO /PATH": a file the committer cannot commit. */
struct st_stuck {
        char file_id[33];
        int err;
        char path[CTL_LINE_MAX];
};

struct st {
        const struct region_info *ri;
        int mounted, answered;
        long pid;
        char mountpoint[PATH_MAX];
        int sync, read_only;
        char device[33];
        uint64_t journal_seq;
        int have_queue;
        unsigned q_entries;
        uint64_t q_bytes;
        int have_conflicts;
        char keys[32];  /* the daemon's key state ("ok", "stale", ...); "" if not told */
        char epoch[65]; /* the epoch new content is sealed under; "" if not told */
        int removed;    /* this device learned of its removal (doc/SYNC.md R4) */
        unsigned long conflicts;
        int have_content; /* on-demand content: bytes not fetched yet, and here */
        uint64_t remote_bytes, local_bytes, fetched_bytes;
        struct st_op push, pull;
        unsigned nalarms;
        struct st_alarm *alarms;
        size_t nkept;
        struct st_peer *peers;
        size_t npeers;
        int confirm_on; /* the daemon exchanges acknowledgements */
        struct st_confirmed *confirmed;
        size_t nconfirmed;
        char other_mount[PATH_MAX]; /* another device home's mount of the region, or "" */
        char problem[256];          /* trouble reaching the daemon, "" if none */
        int from_index;             /* not mounted: the alarms were read from the index */
        int index_seq;              /* not mounted: journal_seq read from the index (0 if none) */
        int from_index_sync;        /* not mounted: push/pull state read from the index */
        struct st_stuck *stuck;     /* files the committer cannot commit (doc/SYNC.md D2) */
        size_t nstuck;
        char open_wait[CTL_LINE_MAX]; /* U7: a remote deletion waits for this file's writers */
};

static int st_add_stuck(struct st *s, const char *rest)
{
        struct st_stuck a, *v;
        int off = 0;

        memset(&a, 0, sizeof(a));
        if (sscanf(rest, "%32s %d %n", a.file_id, &a.err, &off) < 2 || off == 0 ||
            strlen(a.file_id) != 32)
                return -EPROTO;
        snprintf(a.path, sizeof(a.path), "%s", rest + off);
        v = realloc(s->stuck, (s->nstuck + 1) * sizeof(*v));
        if (v == NULL)
                return -ENOMEM;
        s->stuck = v;
        v[s->nstuck++] = a;
        return 0;
}

static int st_add_alarm(struct st *s, const char *rest)
{
        struct st_alarm a, *v;
        int off = 0;

        memset(&a, 0, sizeof(a));
        if (sscanf(rest, "%lld %lld %23s %32s %" SCNu64 " %d %519s %n", &a.id, &a.time, a.kind,
                   a.device, &a.seq, &a.holds, a.object, &off) < 7 ||
            off == 0)
                return -EPROTO;
        snprintf(a.text, sizeof(a.text), "%s", rest + off);
        if (strcmp(a.object, "-") == 0)
                a.object[0] = '\0';
        v = realloc(s->alarms, (s->nkept + 1) * sizeof(*v));
        if (v == NULL)
                return -ENOMEM;
        s->alarms = v;
        s->alarms[s->nkept++] = a;
        return 0;
}

static int st_add_peer(struct st *s, const char *rest)
{
        struct st_peer p, *v;

        memset(&p, 0, sizeof(p));
        if (sscanf(rest, "%32s %d %" SCNu64 " %d", p.device, &p.have, &p.seq, &p.held) != 4)
                return -EPROTO;
        v = realloc(s->peers, (s->npeers + 1) * sizeof(*v));
        if (v == NULL)
                return -ENOMEM;
        s->peers = v;
        s->peers[s->npeers++] = p;
        return 0;
}

static int st_add_confirmed(struct st *s, const char *rest)
{
        struct st_confirmed c, *v;

        memset(&c, 0, sizeof(c));
        if (sscanf(rest, "%32s %" SCNu64 " %" SCNu64, c.device, &c.seq, &c.time_s) != 3)
                return -EPROTO;
        v = realloc(s->confirmed, (s->nconfirmed + 1) * sizeof(*v));
        if (v == NULL)
                return -ENOMEM;
        s->confirmed = v;
        s->confirmed[s->nconfirmed++] = c;
        return 0;
}

/* "TIME TEXT" of a push_error/pull_error line into OP. */
static int st_op_error(struct st_op *op, const char *rest)
{
        int off = 0;

        if (sscanf(rest, "%lld %n", &op->err_time, &off) < 1 || off == 0)
                return -EPROTO;
        op->err = 1;
        snprintf(op->err_text, sizeof(op->err_text), "%s", rest + off);
        return 0;
}

/* One line of a STATUS reply into S.  Unknown keys are skipped (newer daemons). */
static int st_line(struct st *s, const char *key, const char *rest)
{
        if (strcmp(key, "pid") == 0)
                return sscanf(rest, "%ld", &s->pid) == 1 ? 0 : -EPROTO;
        if (strcmp(key, "mountpoint") == 0)
                return snprintf(s->mountpoint, sizeof(s->mountpoint), "%s", rest) < 0 ? -EPROTO : 0;
        if (strcmp(key, "sync") == 0)
                return sscanf(rest, "%d %d", &s->sync, &s->read_only) == 2 ? 0 : -EPROTO;
        if (strcmp(key, "device") == 0)
                return sscanf(rest, "%32s", s->device) == 1 ? 0 : -EPROTO;
        if (strcmp(key, "journal_seq") == 0)
                return sscanf(rest, "%" SCNu64, &s->journal_seq) == 1 ? 0 : -EPROTO;
        if (strcmp(key, "queue") == 0) {
                s->have_queue = sscanf(rest, "%u %" SCNu64, &s->q_entries, &s->q_bytes) == 2;
                return 0;
        }
        if (strcmp(key, "keys") == 0)
                return sscanf(rest, "%31s", s->keys) == 1 &&
                               strspn(s->keys, "abcdefghijklmnopqrstuvwxyz-") == strlen(s->keys)
                           ? 0
                           : -EPROTO;
        if (strcmp(key, "epoch") == 0)
                return sscanf(rest, "%64[0-9a-f]", s->epoch) == 1 && strlen(s->epoch) == 64
                           ? 0
                           : -EPROTO;
        if (strcmp(key, "removed") == 0)
                return sscanf(rest, "%d", &s->removed) == 1 ? 0 : -EPROTO;
        if (strcmp(key, "content") == 0) {
                s->have_content = sscanf(rest, "%" SCNu64 " %" SCNu64 " %" SCNu64, &s->remote_bytes,
                                         &s->local_bytes, &s->fetched_bytes) == 3;
                return 0;
        }
        if (strcmp(key, "conflicts") == 0) {
                s->have_conflicts = 1;
                return sscanf(rest, "%lu", &s->conflicts) == 1 ? 0 : -EPROTO;
        }
        if (strcmp(key, "push_ok") == 0) {
                s->push.known = 1;
                return sscanf(rest, "%lld", &s->push.last_ok) == 1 ? 0 : -EPROTO;
        }
        if (strcmp(key, "push_seq") == 0)
                return sscanf(rest, "%" SCNu64, &s->push.seq) == 1 ? 0 : -EPROTO;
        if (strcmp(key, "push_error") == 0)
                return st_op_error(&s->push, rest);
        if (strcmp(key, "pull_ok") == 0) {
                s->pull.known = 1;
                return sscanf(rest, "%lld", &s->pull.last_ok) == 1 ? 0 : -EPROTO;
        }
        if (strcmp(key, "pull_error") == 0)
                return st_op_error(&s->pull, rest);
        if (strcmp(key, "alarms") == 0)
                return sscanf(rest, "%u", &s->nalarms) == 1 ? 0 : -EPROTO;
        if (strcmp(key, "peer") == 0)
                return st_add_peer(s, rest);
        if (strcmp(key, "alarm") == 0)
                return st_add_alarm(s, rest);
        if (strcmp(key, "uncommitted") == 0)
                return st_add_stuck(s, rest);
        if (strcmp(key, "open_wait") == 0) {
                snprintf(s->open_wait, sizeof(s->open_wait), "%s", rest);
                return 0;
        }
        if (strcmp(key, "confirm_on") == 0) {
                s->confirm_on = 1;
                return 0;
        }
        if (strcmp(key, "confirmed") == 0)
                return st_add_confirmed(s, rest);
        return 0;
}

/* Reads a STATUS reply from R into S. */
static int st_read(struct st *s, struct cli_ctl_reader *r)
{
        char line[CTL_LINE_MAX];
        int rc;

        while ((rc = cli_ctl_line(r, line)) == 0) {
                char *sp = strchr(line, ' ');

                if (strcmp(line, "end") == 0)
                        return 0;
                if (sp != NULL)
                        *sp++ = '\0';
                if (strcmp(line, "error") == 0) {
                        snprintf(s->problem, sizeof(s->problem), "the daemon says: %.200s",
                                 sp ? sp : "error");
                        return -EPROTO;
                }
                rc = st_line(s, line, sp ? sp : "");
                if (rc != 0)
                        return rc;
        }
        return rc;
}

/* The mount point of RI from /proc/self/mounts (a daemon that does not answer), or "". */
static void st_find_mount(const struct region_info *ri, char *out, size_t size)
{
        char line[8192], fsname[512], where[PATH_MAX], type[64], want[80];
        FILE *f = fopen("/proc/self/mounts", "re");

        out[0] = '\0';
        if (f == NULL)
                return;
        snprintf(want, sizeof(want), "sealsync:");
        hex_encode(want + 9, ri->id, REGION_ID_LEN);
        while (fgets(line, sizeof(line), f) != NULL) {
                if (sscanf(line, "%511s %4095s %63s", fsname, where, type) == 3 &&
                    strcmp(fsname, want) == 0 && strcmp(type, "fuse.sealsync") == 0 &&
                    snprintf(out, size, "%s", where) >= (int)size)
                        out[0] = '\0';
        }
        fclose(f);
}

/*
 * 1 if a daemon of this device home holds RI's lock (RI->dir/lock, taken by
 * the mount for its lifetime), 0 if none does (a mount point of the region
 * is then another home's on this machine).
 */
static int st_lock_held(const struct region_info *ri)
{
        char path[sizeof(ri->dir) + 8];
        int fd, held;

        if (snprintf(path, sizeof(path), "%s/lock", ri->dir) >= (int)sizeof(path))
                return 1; /* cannot tell: keep the mount point */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return errno == ENOENT ? 0 : 1;
        held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
        close(fd); /* releases the shared lock if taken */
        return held;
}

/* index_alarm_list_at callback: one lasting alarm of a region not mounted into S. */
static int st_index_alarm(void *arg, const struct index_alarm *ia)
{
        struct st *s = arg;
        struct st_alarm a, *v;

        memset(&a, 0, sizeof(a));
        a.id = (long long)ia->id;
        a.time = (long long)ia->time;
        snprintf(a.kind, sizeof(a.kind), "%s", ia->kind);
        snprintf(a.device, sizeof(a.device), "%s", ia->device);
        a.seq = ia->seq;
        a.holds = ia->holds;
        snprintf(a.object, sizeof(a.object), "%s", ia->object);
        snprintf(a.text, sizeof(a.text), "%s", ia->detail);
        v = realloc(s->alarms, (s->nkept + 1) * sizeof(*v));
        if (v == NULL)
                return -ENOMEM;
        s->alarms = v;
        s->alarms[s->nkept++] = a;
        s->nalarms = (unsigned)s->nkept;
        return 0;
}

/*
 * The lasting alarms of region RI read from its index (invariant A1): no
 * daemon of this device home answers (a mount point of the region may be
 * another home's on this machine, or a daemon that is stuck: a reader of
 * the WAL index does not disturb it).
 */
static void st_index_alarms(const struct region_info *ri, struct st *s)
{
        char path[sizeof(ri->dir) + 16];
        int rc;

        if (snprintf(path, sizeof(path), "%s/index.db", ri->dir) >= (int)sizeof(path))
                return;
        rc = index_alarm_list_at(path, st_index_alarm, s);
        if (rc != 0 && s->problem[0] == '\0')
                snprintf(s->problem, sizeof(s->problem), "cannot read the alarms in %.150s: %s",
                         path, strerror(-rc));
        s->from_index = 1;
}

/*
 * The daemon's last push and pull state (fs/mount.c fs_sync_state_save):
 * lines of the STATUS reply, of which only these keys are taken.
 */
static int st_index_sync(struct st *s, const char *v, size_t len)
{
        static const char *const keys[] = {"push_ok", "push_seq", "push_error", "pull_ok",
                                           "pull_error"};
        char line[CTL_LINE_MAX];
        size_t off = 0, i;

        while (off < len) {
                const char *nl = memchr(v + off, '\n', len - off);
                size_t n = nl != NULL ? (size_t)(nl - (v + off)) : len - off;
                char *sp;

                if (n < sizeof(line)) {
                        memcpy(line, v + off, n);
                        line[n] = '\0';
                        sp = strchr(line, ' ');
                        if (sp != NULL) {
                                *sp = '\0';
                                for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
                                        if (strcmp(line, keys[i]) == 0 &&
                                            st_line(s, line, sp + 1) != 0)
                                                return 0; /* a damaged record: left out */
                        }
                }
                off += n + 1;
        }
        s->from_index_sync = 1;
        return 0;
}

/* One meta record of an unmounted region's index: this device's journal seq, a peer's mark. */
static int st_index_meta(void *arg, const char *key, const uint8_t *v, size_t len)
{
        struct st *s = arg;
        struct st_peer p, *pv;
        uint64_t seq = 0;
        size_t i;

        for (i = 0; i < 8 && i < len; i++)
                seq = seq << 8 | v[i];
        if (strcmp(key, "last_sync") == 0)
                return st_index_sync(s, (const char *)v, len);
        if (strcmp(key, "journal_seq") == 0 && len == 8) {
                s->journal_seq = seq;
                s->index_seq = 1;
                return 0;
        }
        /* "peer:<32 hex>" = u64be seq || entry hash (sync/pull.c marks) */
        if (strncmp(key, "peer:", 5) != 0 || strlen(key + 5) != 32 ||
            strspn(key + 5, "0123456789abcdef") != 32 || len != 40 || seq == 0)
                return 0; /* not a mark, or not one we read: left out */
        memset(&p, 0, sizeof(p));
        memcpy(p.device, key + 5, 33);
        p.have = 1;
        p.seq = seq;
        for (i = 0; i < s->nkept; i++)
                p.held |= s->alarms[i].holds && strcmp(s->alarms[i].device, p.device) == 0;
        pv = realloc(s->peers, (s->npeers + 1) * sizeof(*pv));
        if (pv == NULL)
                return -ENOMEM;
        s->peers = pv;
        s->peers[s->npeers++] = p;
        return 0;
}

/*
 * Not mounted: the last known state the index keeps in clear (no keys
 * needed): this device's journal seq and the last entry applied from each
 * peer.  Times, errors, conflicts and content live in the daemon only.
 */
static void st_index_state(const struct region_info *ri, struct st *s)
{
        char path[sizeof(ri->dir) + 16];
        int rc;

        if (snprintf(path, sizeof(path), "%s/index.db", ri->dir) >= (int)sizeof(path))
                return;
        if (access(path, F_OK) != 0)
                return;   /* never mounted by this device home */
        s->index_seq = 1; /* no journal_seq record: nothing committed yet, seq 0 */
        rc = index_meta_list_at(path, "", st_index_meta, s);
        if (rc != 0 && s->problem[0] == '\0')
                snprintf(s->problem, sizeof(s->problem), "cannot read the last state in %.150s: %s",
                         path, strerror(-rc));
}

/* Everything about region RI into S (zeroed by the caller). */
static void st_collect(const struct region_info *ri, struct st *s)
{
        char outbox[sizeof(ri->dir) + 16];
        struct cli_ctl_reader r;
        int rc;

        s->ri = ri;
        rc = cli_ctl_open(ri, "STATUS\n", STATUS_REPLY_TIMEOUT_S, &r);
        if (rc == 0) {
                s->mounted = 1;
                rc = st_read(s, &r);
                close(r.fd);
                s->answered = rc == 0;
                if (rc != 0 && s->problem[0] == '\0')
                        snprintf(s->problem, sizeof(s->problem),
                                 "the mount daemon's reply was cut short: %s", strerror(-rc));
                return;
        }
        if (rc != -ENOTCONN)
                snprintf(s->problem, sizeof(s->problem),
                         "cannot reach the mount daemon's control socket: %s", strerror(-rc));
        st_find_mount(ri, s->mountpoint, sizeof(s->mountpoint));
        if (s->mountpoint[0] != '\0' && !st_lock_held(ri)) {
                /* Not ours: another device home on this machine mounted the region. */
                memcpy(s->other_mount, s->mountpoint, sizeof(s->other_mount));
                s->mountpoint[0] = '\0';
        }
        if (s->mountpoint[0] != '\0') {
                s->mounted = 1;
                if (s->problem[0] == '\0')
                        snprintf(s->problem, sizeof(s->problem),
                                 "mounted, but the daemon does not answer on its control socket");
        }
        /* Not mounted: the outbox still tells what waits for the next mount. */
        if (snprintf(outbox, sizeof(outbox), "%s/outbox", ri->dir) < (int)sizeof(outbox))
                s->have_queue = push_outbox_queue(outbox, &s->q_entries, &s->q_bytes) == 0;
        /* No daemon of this device home answers: the alarms are in the index (A1). */
        st_index_alarms(ri, s);
        if (!s->mounted)
                st_index_state(ri, s);
}

static void st_release(struct st *s)
{
        free(s->alarms);
        free(s->stuck);
        free(s->peers);
        free(s->confirmed);
}

/* 1 if S is to be reported as a problem (exit 1). */
static int st_bad(const struct st *s)
{
        return s->problem[0] != '\0' || s->nalarms > 0 || s->nkept > 0 || s->push.err ||
               s->pull.err || s->nstuck > 0 || s->removed;
}

/* ---- status: text ---- */

static void st_print_op(const char *label, const struct st_op *op, int from_index)
{
        char t[32], age[32];

        if (!op->known)
                return;
        if (op->last_ok > 0) {
                fmt_time(op->last_ok, t, sizeof(t));
                fmt_age(age_of(op->last_ok), age, sizeof(age));
                printf("  %-11s %s (%s)\n", label, t, age);
        } else {
                printf("  %-11s never%s\n", label, from_index ? "" : " (since the mount)");
        }
        if (op->err) {
                fmt_time(op->err_time, t, sizeof(t));
                printf("  %-11s %s (at %s)\n", "  error:", op->err_text, t);
        }
}

static void st_print_alarms(const struct st *s)
{
        char t[32];
        size_t i;

        if (s->nalarms == 0 && s->nkept == 0) {
                if (s->pull.known || s->from_index)
                        printf("  alarms:     none\n");
                return;
        }
        printf("  alarms:     %u (kept until cleared with 'sealsync alarms %s --clear ID'; the "
               "updates of devices named by a holding one are held until then)\n",
               s->nalarms > s->nkept ? s->nalarms : (unsigned)s->nkept, s->ri->name);
        for (i = 0; i < s->nkept; i++) {
                const struct st_alarm *a = &s->alarms[i];

                fmt_time(a->time, t, sizeof(t));
                printf("    [%lld] %s: device %s seq %" PRIu64
                       " at %s%s\n      %s\n      object %s\n",
                       a->id, a->kind, a->device, a->seq, t, a->holds ? " (holds)" : "", a->text,
                       a->object[0] ? a->object : "-");
        }
}

/* An acknowledgement's time (a peer's u64) as ISO-8601 UTC, "-" if out of range. */
static void fmt_ack_time(uint64_t t, char *out, size_t size)
{
        fmt_time(t <= (uint64_t)INT64_MAX / 2 ? (long long)t : 0, out, size);
}

static void st_print_confirmed(const struct st *s)
{
        char t[32];
        size_t i;

        if (!s->confirm_on)
                return;
        if (s->nconfirmed == 0)
                printf("  confirmed:  by no other device yet\n");
        for (i = 0; i < s->nconfirmed; i++) {
                const struct st_confirmed *c = &s->confirmed[i];

                fmt_ack_time(c->time_s, t, sizeof(t));
                if (c->seq >= s->journal_seq)
                        printf("  confirmed:  %s has all of this device's changes (seq %" PRIu64
                               ") as of %s\n",
                               c->device, c->seq, t);
                else
                        printf("  confirmed:  %s has this device's changes up to seq %" PRIu64
                               " of %" PRIu64 " as of %s\n",
                               c->device, c->seq, s->journal_seq, t);
        }
}

/* What the daemon's key state means, for the text output. */
static const char *st_key_text(const char *k)
{
        static const struct {
                const char *state, *text;
        } v[] = {
            {"stale", "older than the region's max_key_age policy; an admin should run "
                      "'sealsync rotate'"},
            {"needs-rotation", "a member holds no key of the current epoch; an admin should run "
                               "'sealsync rotate'"},
            {"removed", "this device was removed from the region; the mount is read-only"},
            {"rotation-failed", "this device should rotate the key and could not (see mount.log)"},
            {"held",
             "a removed device can reach every key epoch: changes stay local until an admin "
             "runs 'sealsync rotate'"},
        };
        size_t i;

        for (i = 0; i < sizeof(v) / sizeof(v[0]); i++)
                if (strcmp(k, v[i].state) == 0)
                        return v[i].text;
        return k;
}

static void st_print_text(const struct st *s)
{
        char hex[2 * REGION_ID_LEN + 1], b[32];
        size_t i;

        hex_encode(hex, s->ri->id, REGION_ID_LEN);
        printf("%s (region %s)\n", s->ri->name, hex);
        if (!s->mounted && s->other_mount[0] != '\0')
                printf("  mounted:    no (another device home on this machine has it mounted "
                       "on %s)\n",
                       s->other_mount);
        else if (!s->mounted && !s->index_seq)
                printf("  mounted:    no (never mounted by this device home)\n");
        else if (!s->mounted && s->from_index_sync)
                printf(
                    "  mounted:    no (last known state, saved in the region's index while it was "
                    "mounted; conflicts and content are known only while mounted)\n");
        else if (!s->mounted)
                printf("  mounted:    no (last known state, from the region's index; push and "
                       "pull times, errors, conflicts and content are known only while "
                       "mounted)\n");
        else if (s->answered)
                printf("  mounted:    on %s (pid %ld)%s\n", s->mountpoint, s->pid,
                       s->removed ? ", read-only (this device was removed from the region; "
                                    "nothing is published)"
                       : s->sync && s->read_only ? ", read-only (this device is a reader)"
                       : s->sync                 ? ""
                       : s->read_only            ? ", read-only: not syncing"
                                                 : ", not syncing (--no-sync)");
        else
                printf("  mounted:    %s\n", s->mountpoint[0] ? s->mountpoint : "yes");
        if (s->problem[0] != '\0')
                printf("  problem:    %s\n", s->problem);
        if (s->have_queue) {
                fmt_bytes(s->q_bytes, b, sizeof(b));
                printf("  queue:      %u entr%s, %s waiting to upload\n", s->q_entries,
                       s->q_entries == 1 ? "y" : "ies", b);
        }
        if (s->index_seq)
                printf("  journal:    this device's last entry is seq %" PRIu64 "\n",
                       s->journal_seq);
        st_print_op("last push:", &s->push, s->from_index_sync);
        st_print_op("last pull:", &s->pull, s->from_index_sync);
        if (s->have_content) {
                char r[32];

                fmt_bytes(s->local_bytes, b, sizeof(b));
                fmt_bytes(s->remote_bytes, r, sizeof(r));
                printf("  content:    %s local, %s remote (fetched on first read)\n", b, r);
        }
        if (s->have_conflicts && s->conflicts != 0)
                printf("  conflicts:  %lu (list the conflict copies with 'sealsync conflicts "
                       "%s')\n",
                       s->conflicts, s->ri->name);
        else if (s->have_conflicts)
                printf("  conflicts:  0\n");
        if (s->keys[0] != '\0' && strcmp(s->keys, "ok") != 0)
                printf("  key:        %s\n", st_key_text(s->keys));
        for (i = 0; i < s->npeers; i++)
                printf("  peer:       %s at seq %" PRIu64 "%s\n", s->peers[i].device,
                       s->peers[i].seq, s->peers[i].held ? " (held by an alarm)" : "");
        st_print_confirmed(s);
        st_print_alarms(s);
        for (i = 0; i < s->nstuck; i++)
                printf("  uncommitted: %s (file %s) cannot be committed: %s; it stays queued\n",
                       s->stuck[i].path, s->stuck[i].file_id, strerror(s->stuck[i].err));
        if (s->open_wait[0] != '\0')
                printf("  waiting:    another device deleted %s; it is open for writing here, so "
                       "that device's changes wait until it is closed\n",
                       s->open_wait);
}

/* ---- status: JSON ---- */

static void json_time_or_null(const char *key, long long t)
{
        printf("\"%s\":", key);
        cli_json_time(t > 0 ? (uint64_t)t : 0);
}

static void st_json_op(const char *key, const struct st_op *op, int with_seq)
{
        printf(",\"%s\":", key);
        if (!op->known) {
                fputs("null", stdout);
                return;
        }
        putchar('{');
        json_time_or_null("last_success", op->last_ok);
        if (op->last_ok > 0)
                printf(",\"age_s\":%lld", age_of(op->last_ok));
        else
                fputs(",\"age_s\":null", stdout);
        if (with_seq)
                printf(",\"seq\":%" PRIu64, op->seq);
        fputs(",\"error\":", stdout);
        if (op->err) {
                putchar('{');
                json_time_or_null("time", op->err_time);
                fputs(",\"message\":", stdout);
                cli_json_str(op->err_text);
                putchar('}');
        } else {
                fputs("null", stdout);
        }
        putchar('}');
}

/*
 * One alarm as a JSON object, a comma first if SEP; TOP: an element of
 * alarms --json (with "version"), not one of status's "alarms".
 */
static void st_json_alarm(const struct st_alarm *a, int sep, int top)
{
        if (sep)
                putchar(',');
        if (top)
                cli_json_open();
        else
                putchar('{');
        printf("\"id\":%lld,\"kind\":", a->id);
        cli_json_str(a->kind);
        printf(",\"device_id\":\"%s\",\"seq\":%" PRIu64 ",\"object\":", a->device, a->seq);
        if (a->object[0])
                cli_json_str(a->object);
        else
                fputs("null", stdout);
        fputs(",\"text\":", stdout);
        cli_json_str(a->text);
        putchar(',');
        json_time_or_null("time", a->time);
        printf(",\"holds\":%s}", a->holds ? "true" : "false");
}

static void st_json_lists(const struct st *s)
{
        size_t i;

        fputs(",\"alarms\":[", stdout);
        for (i = 0; i < s->nkept; i++) {
                const struct st_alarm *a = &s->alarms[i];

                st_json_alarm(a, i > 0, 0);
        }
        printf("],\"alarm_count\":%u,\"peers\":",
               s->nalarms > s->nkept ? s->nalarms : (unsigned)s->nkept);
        if (!s->pull.known && !s->index_seq) {
                fputs("null", stdout);
                return;
        }
        putchar('[');
        for (i = 0; i < s->npeers; i++)
                printf("%s{\"device_id\":\"%s\",\"seq\":%" PRIu64 ",\"held\":%s}", i ? "," : "",
                       s->peers[i].device, s->peers[i].seq, s->peers[i].held ? "true" : "false");
        putchar(']');
}

/* "confirmed": null unless the daemon exchanges acknowledgements, else an array. */
static void st_json_confirmed(const struct st *s)
{
        size_t i;

        fputs(",\"confirmed\":", stdout);
        if (!s->confirm_on) {
                fputs("null", stdout);
                return;
        }
        putchar('[');
        for (i = 0; i < s->nconfirmed; i++) {
                const struct st_confirmed *c = &s->confirmed[i];

                printf("%s{\"device_id\":\"%s\",\"seq\":%" PRIu64 ",\"confirmed_at\":",
                       i ? "," : "", c->device, c->seq);
                cli_json_time(c->time_s);
                printf(",\"current\":%s}", c->seq >= s->journal_seq ? "true" : "false");
        }
        putchar(']');
}

static void st_print_json(const struct st *s)
{
        char hex[2 * REGION_ID_LEN + 1];

        hex_encode(hex, s->ri->id, REGION_ID_LEN);
        cli_json_open();
        fputs("\"name\":", stdout);
        cli_json_str(s->ri->name);
        printf(",\"region_id\":\"%s\",\"store\":", hex);
        cli_json_str(s->ri->store_url);
        printf(",\"mounted\":%s,\"mountpoint\":", s->mounted ? "true" : "false");
        if (s->mountpoint[0])
                cli_json_str(s->mountpoint);
        else
                fputs("null", stdout);
        fputs(",\"other_home_mountpoint\":", stdout);
        if (s->other_mount[0])
                cli_json_str(s->other_mount);
        else
                fputs("null", stdout);
        if (s->answered)
                printf(",\"pid\":%ld,\"sync\":%s", s->pid, s->sync ? "true" : "false");
        else
                fputs(",\"pid\":null,\"sync\":false", stdout);
        if (s->device[0])
                printf(",\"device_id\":\"%s\",\"journal_seq\":%" PRIu64, s->device, s->journal_seq);
        else if (s->index_seq)
                printf(",\"device_id\":null,\"journal_seq\":%" PRIu64, s->journal_seq);
        else
                fputs(",\"device_id\":null,\"journal_seq\":null", stdout);
        printf(",\"source\":\"%s\"", s->answered ? "daemon" : "index");
        if (s->have_queue)
                printf(",\"queue\":{\"entries\":%u,\"bytes\":%" PRIu64 "}", s->q_entries,
                       s->q_bytes);
        else
                fputs(",\"queue\":null", stdout);
        st_json_op("push", &s->push, 1);
        st_json_op("pull", &s->pull, 0);
        st_json_lists(s);
        printf(",\"removed\":%s,\"epoch\":", s->removed ? "true" : "false");
        if (s->epoch[0] != '\0')
                printf("\"%s\"", s->epoch);
        else
                fputs("null", stdout);
        fputs(",\"key_state\":", stdout);
        if (s->keys[0] != '\0')
                printf("\"%s\"", s->keys);
        else
                fputs("null", stdout);
        if (s->have_conflicts)
                printf(",\"conflicts\":%lu", s->conflicts);
        else
                fputs(",\"conflicts\":null", stdout);
        if (s->have_content)
                printf(",\"content\":{\"local_bytes\":%" PRIu64 ",\"remote_bytes\":%" PRIu64
                       ",\"fetched_bytes\":%" PRIu64 "}",
                       s->local_bytes, s->remote_bytes, s->fetched_bytes);
        else
                fputs(",\"content\":null", stdout);
        st_json_confirmed(s);
        fputs(",\"uncommitted\":[", stdout);
        for (size_t i = 0; i < s->nstuck; i++) {
                printf("%s{\"file_id\":\"%s\",\"path\":", i ? "," : "", s->stuck[i].file_id);
                cli_json_str(s->stuck[i].path);
                fputs(",\"error\":", stdout);
                cli_json_str(strerror(s->stuck[i].err));
                putchar('}');
        }
        putchar(']');
        fputs(",\"open_wait\":", stdout);
        if (s->open_wait[0] != '\0')
                cli_json_str(s->open_wait);
        else
                fputs("null", stdout);
        fputs(",\"error\":", stdout);
        if (s->problem[0])
                cli_json_str(s->problem);
        else
                fputs("null", stdout);
        printf(",\"ok\":%s}", st_bad(s) ? "false" : "true");
}

/* ---- status ---- */

static int status_parse(int argc, char **argv, int *json, const char **name, int *done)
{
        static const struct option opts[] = {
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int c, status;

        *done = 0;
        cli_start_options();
        while ((c = cli_next_option("status", status_usage, argc, argv, opts, &status)) > 0)
                *json = 1; /* 'j', the only other option */
        if (c == 0) {
                *done = 1;
                return status;
        }
        if (argc - optind > 1) {
                *done = 1;
                return cli_usage_error("status", "at most one region NAME");
        }
        *name = optind < argc ? argv[optind] : NULL;
        return CLI_EXIT_OK;
}

/* The regions to show into *V, *N (malloc'd).  CLI_EXIT_*. */
static int status_regions(const char *home, const char *name, struct region_info **v, size_t *n)
{
        int rc;

        if (name == NULL) {
                rc = region_list(home, v, n);
                if (rc != 0) {
                        log_err("cannot list the regions under %s: %s", home, strerror(-rc));
                        return CLI_EXIT_FAIL;
                }
                return CLI_EXIT_OK;
        }
        *v = malloc(sizeof(**v));
        if (*v == NULL) {
                log_err("out of memory");
                return CLI_EXIT_FAIL;
        }
        rc = cli_region_load(home, name, *v);
        if (rc != 0) {
                if (rc == -ENOENT)
                        log_err("unknown region '%s' (see 'sealsync list')", name);
                else
                        log_err("region '%s': %s", name, strerror(-rc));
                free(*v);
                *v = NULL;
                return CLI_EXIT_FAIL;
        }
        *n = 1;
        return CLI_EXIT_OK;
}

int cmd_status(int argc, char **argv)
{
        char home[PATH_MAX];
        struct region_info *v = NULL;
        const char *name = NULL;
        size_t n = 0, i;
        int json = 0, done, ret, bad = 0;

        ret = status_parse(argc, argv, &json, &name, &done);
        if (done)
                return ret;
        ret = cli_setup(home, sizeof(home));
        if (ret == CLI_EXIT_OK)
                ret = status_regions(home, name, &v, &n);
        if (ret != CLI_EXIT_OK)
                return ret;
        if (json && name == NULL)
                putchar('[');
        for (i = 0; i < n; i++) {
                struct st s;

                memset(&s, 0, sizeof(s));
                st_collect(&v[i], &s);
                bad |= st_bad(&s);
                if (json) {
                        if (i > 0)
                                putchar(',');
                        st_print_json(&s);
                } else {
                        if (i > 0)
                                putchar('\n');
                        st_print_text(&s);
                }
                st_release(&s);
        }
        if (json)
                fputs(name == NULL ? "]\n" : "\n", stdout);
        else if (n == 0)
                printf("no regions (see 'sealsync create' and 'sealsync join')\n");
        free(v);
        ret = cli_finish_output();
        return ret != CLI_EXIT_OK ? ret : bad ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}

/* ---- sync ---- */

/* The key=value fields of a progress or result line. */
struct sync_nums {
        char status[16];
        long long ms;
        uint64_t files, up_entries, up_left, up_sent, up_total;
        uint64_t down_files, down_entries, down_listed, down_bytes;
        uint64_t committed, up_objects, up_bytes, alarms, queue_entries, queue_bytes;
};

static void sync_field(struct sync_nums *s, const char *k, const char *v)
{
        static const struct {
                const char *key;
                size_t off;
        } f[] = {
            {"files", offsetof(struct sync_nums, files)},
            {"up_entries", offsetof(struct sync_nums, up_entries)},
            {"up_left", offsetof(struct sync_nums, up_left)},
            {"up_sent", offsetof(struct sync_nums, up_sent)},
            {"up_total", offsetof(struct sync_nums, up_total)},
            {"down_files", offsetof(struct sync_nums, down_files)},
            {"down_entries", offsetof(struct sync_nums, down_entries)},
            {"down_listed", offsetof(struct sync_nums, down_listed)},
            {"down_bytes", offsetof(struct sync_nums, down_bytes)},
            {"committed", offsetof(struct sync_nums, committed)},
            {"up_objects", offsetof(struct sync_nums, up_objects)},
            {"up_bytes", offsetof(struct sync_nums, up_bytes)},
            {"alarms", offsetof(struct sync_nums, alarms)},
            {"queue_entries", offsetof(struct sync_nums, queue_entries)},
            {"queue_bytes", offsetof(struct sync_nums, queue_bytes)},
        };
        size_t i;

        if (strcmp(k, "status") == 0) {
                snprintf(s->status, sizeof(s->status), "%s", v);
                return;
        }
        if (strcmp(k, "ms") == 0) {
                s->ms = strtoll(v, NULL, 10);
                return;
        }
        for (i = 0; i < sizeof(f) / sizeof(f[0]); i++)
                if (strcmp(k, f[i].key) == 0)
                        *(uint64_t *)((char *)s + f[i].off) = strtoull(v, NULL, 10);
}

/* Parses "k=v k=v ..." (REST is modified) into S. */
static void sync_fields(struct sync_nums *s, char *rest)
{
        char *save = NULL, *tok;

        for (tok = strtok_r(rest, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
                char *eq = strchr(tok, '=');

                if (eq == NULL)
                        continue;
                *eq = '\0';
                sync_field(s, tok, eq + 1);
        }
}

static void sync_eta(uint64_t left, double rate, char *out, size_t size)
{
        if (left == 0)
                snprintf(out, size, "done");
        else if (rate <= 0)
                snprintf(out, size, "ETA ?");
        else
                snprintf(out, size, "ETA %.0f s", (double)left / rate + 0.5);
}

/* The progress line on stderr (a terminal), updated in place. */
static void sync_show_progress(const char *name, const struct sync_nums *p)
{
        char sent[32], left[32], rate_s[32], eta[32], down[32], deta[32];
        double secs = p->ms > 0 ? (double)p->ms / 1000.0 : 0.001;
        double rate = (double)p->up_sent / secs;
        double erate = (double)p->down_entries / secs;

        fmt_bytes(p->up_sent, sent, sizeof(sent));
        fmt_bytes(p->up_left, left, sizeof(left));
        fmt_bytes((uint64_t)rate, rate_s, sizeof(rate_s));
        fmt_bytes(p->down_bytes, down, sizeof(down));
        sync_eta(p->up_left, rate, eta, sizeof(eta));
        sync_eta(p->down_listed - p->down_entries, erate, deta, sizeof(deta));
        fprintf(stderr,
                "\r\033[K%s: up %" PRIu64 " file(s), %s sent, %s left, %s/s, %s | down %" PRIu64
                " file(s), %s, entries %" PRIu64 "/%" PRIu64 ", %s",
                name, p->files, sent, left, rate_s, eta, p->down_files, down, p->down_entries,
                p->down_listed, deta);
        fflush(stderr);
}

struct sync_result {
        struct sync_nums n;
        int have_rekey; /* REKEY: the daemon marked REKEYED files first */
        uint64_t rekeyed;
        char **messages;
        size_t nmessages;
};

static int sync_add_message(struct sync_result *r, const char *text)
{
        char **v = realloc(r->messages, (r->nmessages + 1) * sizeof(*v));

        if (v == NULL)
                return -ENOMEM;
        r->messages = v;
        v[r->nmessages] = strdup(text);
        if (v[r->nmessages] == NULL)
                return -ENOMEM;
        r->nmessages++;
        return 0;
}

static void sync_result_release(struct sync_result *r)
{
        size_t i;

        for (i = 0; i < r->nmessages; i++)
                free(r->messages[i]);
        free(r->messages);
}

/* Reads the SYNC reply until "end".  0 or a negative errno (the reply was cut short). */
static int sync_read(struct cli_ctl_reader *rd, const char *name, int tty, struct sync_result *res)
{
        char line[CTL_LINE_MAX];
        int rc, shown = 0;

        while ((rc = cli_ctl_line(rd, line)) == 0) {
                char *sp = strchr(line, ' ');

                if (strcmp(line, "end") == 0)
                        break;
                if (sp != NULL)
                        *sp++ = '\0';
                if (strcmp(line, "progress") == 0 && sp != NULL) {
                        struct sync_nums p;

                        memset(&p, 0, sizeof(p));
                        sync_fields(&p, sp);
                        if (tty) {
                                sync_show_progress(name, &p);
                                shown = 1;
                        }
                } else if (strcmp(line, "result") == 0 && sp != NULL) {
                        sync_fields(&res->n, sp);
                } else if (strcmp(line, "rekey") == 0 && sp != NULL) {
                        res->have_rekey = sscanf(sp, "%" SCNu64, &res->rekeyed) == 1;
                        if (res->have_rekey && tty)
                                fprintf(stderr,
                                        "re-encrypting %" PRIu64 " file(s) of %s under "
                                        "the current key\n",
                                        res->rekeyed, name);
                } else if ((strcmp(line, "message") == 0 || strcmp(line, "error") == 0) &&
                           sp != NULL) {
                        rc = sync_add_message(res, sp);
                        if (rc != 0)
                                break;
                }
        }
        if (shown)
                fputc('\n', stderr);
        return rc;
}

static void sync_print_text(const char *name, const struct sync_result *r)
{
        char up[32], down[32], q[32];

        fmt_bytes(r->n.up_bytes, up, sizeof(up));
        fmt_bytes(r->n.down_bytes, down, sizeof(down));
        fmt_bytes(r->n.queue_bytes, q, sizeof(q));
        printf("sync %s: %s in %.1f s: committed %" PRIu64 " file(s); uploaded %" PRIu64
               " object(s), %s; applied %" PRIu64 " remote version(s), %s fetched; queue %" PRIu64
               " entr%s, %s; %" PRIu64 " alarm(s)\n",
               name, r->n.status, (double)r->n.ms / 1000.0, r->n.committed, r->n.up_objects, up,
               r->n.down_files, down, r->n.queue_entries, r->n.queue_entries == 1 ? "y" : "ies", q,
               r->n.alarms);
}

static void sync_print_json(const struct region_info *ri, const struct sync_result *r)
{
        char hex[2 * REGION_ID_LEN + 1];
        size_t i;

        hex_encode(hex, ri->id, REGION_ID_LEN);
        cli_json_open();
        fputs("\"name\":", stdout);
        cli_json_str(ri->name);
        printf(",\"region_id\":\"%s\",\"status\":", hex);
        cli_json_str(r->n.status);
        if (r->have_rekey)
                printf(",\"rekeyed\":%" PRIu64, r->rekeyed);
        printf(",\"seconds\":%.3f,\"committed\":%" PRIu64 ",\"uploaded\":{\"objects\":%" PRIu64
               ",\"bytes\":%" PRIu64 "},\"pulled\":{\"files\":%" PRIu64 ",\"bytes\":%" PRIu64
               "},\"alarms\":%" PRIu64 ",\"queue\":{\"entries\":%" PRIu64 ",\"bytes\":%" PRIu64
               "},\"messages\":[",
               (double)r->n.ms / 1000.0, r->n.committed, r->n.up_objects, r->n.up_bytes,
               r->n.down_files, r->n.down_bytes, r->n.alarms, r->n.queue_entries, r->n.queue_bytes);
        for (i = 0; i < r->nmessages; i++) {
                if (i > 0)
                        putchar(',');
                cli_json_str(r->messages[i]);
        }
        fputs("]}\n", stdout);
}

static int sync_parse(const char *cmd, const char *usage, int argc, char **argv, int *json,
                      long *timeout_s, const char **name, int *done)
{
        static const struct option opts[] = {
            {"json", no_argument, NULL, 'j'},
            {"timeout", required_argument, NULL, 't'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        uint64_t t;
        int c, status;

        *done = 1;
        cli_start_options();
        while ((c = cli_next_option(cmd, usage, argc, argv, opts, &status)) > 0) {
                if (c == 'j') {
                        *json = 1;
                        continue;
                }
                if (strcmp(cmd, "sync") != 0)
                        return cli_unknown_option(cmd, "timeout");
                if (cli_parse_duration0(optarg, 86400 * 365, &t) != 0)
                        return cli_usage_error(cmd, "--timeout takes a duration (e.g. 30m, "
                                                    "plain number = seconds; 0: no limit)");
                *timeout_s = (long)t;
        }
        if (c == 0)
                return status;
        if (argc - optind != 1)
                return cli_usage_error(cmd, "expected one region NAME");
        *name = argv[optind];
        *done = 0;
        return CLI_EXIT_OK;
}

/* Runs the SYNC (or, REKEY, the REKEY) exchange with RI's daemon.  CLI_EXIT_*. */
static int sync_run(const struct region_info *ri, long timeout_s, int json, int rekey)
{
        struct sync_result res;
        struct cli_ctl_reader rd;
        char req[64];
        size_t i;
        int rc, ret;

        if (rekey)
                snprintf(req, sizeof(req), "REKEY\n");
        else
                snprintf(req, sizeof(req), "SYNC %ld\n", timeout_s);
        ret = cli_ctl_start(ri, req, SYNC_SILENCE_S, &rd);
        if (ret != CLI_EXIT_OK)
                return ret;
        memset(&res, 0, sizeof(res));
        rc = sync_read(&rd, ri->name, !json && isatty(2), &res);
        close(rd.fd);
        if (rc != 0 || res.n.status[0] == '\0') {
                log_err("the mount daemon of region '%s' stopped answering: %s", ri->name,
                        rc == -EAGAIN ? "no word for 60 s" : strerror(rc ? -rc : EPROTO));
                sync_result_release(&res);
                return CLI_EXIT_FAIL;
        }
        if (json)
                sync_print_json(ri, &res);
        else if (res.have_rekey)
                printf("rekey %s: %" PRIu64 " file(s) re-encrypted under the current key\n",
                       ri->name, res.rekeyed);
        if (!json)
                sync_print_text(ri->name, &res);
        ret = strcmp(res.n.status, "ok") == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
        for (i = 0; i < res.nmessages && !json; i++)
                log_err("sync %s: %s", ri->name, res.messages[i]);
        if (ret != CLI_EXIT_OK && json)
                log_err("sync %s: %s%s%s", ri->name, res.n.status, res.nmessages ? ": " : "",
                        res.nmessages ? res.messages[0] : "");
        sync_result_release(&res);
        rc = cli_finish_output();
        return rc != CLI_EXIT_OK ? rc : ret;
}

/* sync and rekey: NAME's daemon does a round (REKEY: after marking every old-epoch file). */
static int sync_cmd(const char *cmd, const char *usage, int argc, char **argv, int rekey)
{
        struct region_info ri;
        const char *name = NULL;
        long timeout_s = SYNC_DEFAULT_TIMEOUT_S;
        int json = 0, done, ret;

        ret = sync_parse(cmd, usage, argc, argv, &json, &timeout_s, &name, &done);
        if (done)
                return ret;
        ret = cli_ctl_region(name, &ri);
        return ret != CLI_EXIT_OK ? ret : sync_run(&ri, timeout_s, json, rekey);
}

int cmd_sync(int argc, char **argv)
{
        return sync_cmd("sync", sync_usage, argc, argv, 0);
}

int cmd_rekey(int argc, char **argv)
{
        return sync_cmd("rekey", rekey_usage, argc, argv, 1);
}

/* ---- alarms (doc/SYNC.md invariant A1) ---- */

static const char alarms_usage[] =
    "usage: sealsync alarms NAME [--json] [--clear ID | --clear-all]\n"
    "\n"
    "List the alarms of region NAME that were not cleared: each one is kept in the\n"
    "region's index with its evidence (store object key, hashes) across remounts and\n"
    "restarts, mounted or not.  A holding alarm (equivocation, journal-gap,\n"
    "bad-object, ...) holds the updates of the device it names, also after a\n"
    "remount, until it is cleared.\n"
    "\n"
    "Clearing one says: I have looked at it.  It is then no longer listed, and the\n"
    "device it held is released (unless another alarm holds it): its journal is\n"
    "checked again from the last entry applied here at the next pull round (at\n"
    "once if NAME is mounted, else at its next mount); whatever still fails\n"
    "verification raises a new alarm, whatever verifies is applied.\n"
    "\n"
    "      --clear ID   clear alarm ID (the number in brackets, or \"id\" in --json)\n"
    "      --clear-all  clear every alarm of NAME\n"
    "      --json       print the alarms as a JSON array (with --clear: those cleared)\n"
    "  -h, --help       show this help\n"
    "Exit status: 0 success, 1 failure (e.g. no such alarm), 2 usage.\n";

static void alarms_print_json(const struct st *s, long long only)
{
        size_t i, k = 0;

        putchar('[');
        for (i = 0; i < s->nkept; i++) {
                const struct st_alarm *a = &s->alarms[i];

                if (only > 0 && a->id != only)
                        continue;
                st_json_alarm(a, k++ > 0, 1);
        }
        fputs("]\n", stdout);
}

static void alarms_print_text(const struct st *s)
{
        char t[32];
        size_t i;

        if (s->nkept == 0) {
                printf("no alarms in region %s\n", s->ri->name);
                return;
        }
        for (i = 0; i < s->nkept; i++) {
                const struct st_alarm *a = &s->alarms[i];

                fmt_time(a->time, t, sizeof(t));
                printf("[%lld] %s: device %s seq %" PRIu64 " at %s%s\n    %s\n    object %s\n",
                       a->id, a->kind, a->device, a->seq, t,
                       a->holds ? " (holds the device's updates)" : "", a->text,
                       a->object[0] ? a->object : "-");
        }
        printf("Clear one with 'sealsync alarms %s --clear ID' once you have looked at it.\n",
               s->ri->name);
}

/* Clears ID (0: all) through the daemon of the mounted region RI: *N cleared.  0 or -errno. */
static int alarms_clear_mounted(const struct region_info *ri, long long id, unsigned *n)
{
        char req[64], line[CTL_LINE_MAX];
        struct cli_ctl_reader r;
        int rc;

        if (id == 0)
                snprintf(req, sizeof(req), "ALARM-CLEAR all\n");
        else
                snprintf(req, sizeof(req), "ALARM-CLEAR %lld\n", id);
        rc = cli_ctl_open(ri, req, STATUS_REPLY_TIMEOUT_S, &r);
        if (rc != 0)
                return rc;
        while ((rc = cli_ctl_line(&r, line)) == 0 && strcmp(line, "end") != 0) {
                if (sscanf(line, "cleared %u", n) == 1)
                        continue;
                if (strncmp(line, "error ", 6) == 0) {
                        log_err("the mount daemon says: %s", line + 6);
                        rc = strstr(line, "no alarm") != NULL ? -ENOENT : -EPROTO;
                        break;
                }
        }
        close(r.fd);
        return rc;
}

/* What clearing alarm A means, in words. */
static void alarms_say_cleared(const struct st *s, const struct st_alarm *a)
{
        printf("cleared alarm %lld: %s about device %s seq %" PRIu64 "\n", a->id, a->kind,
               a->device, a->seq);
        if (!a->holds)
                return;
        printf("  device %s is no longer held by it: unless another alarm holds it, its journal\n"
               "  is checked again from the last entry applied here %s; what verifies is\n"
               "  applied, what still fails raises a new alarm.\n",
               a->device,
               s->answered ? "at the daemon's next pull round (now: 'sealsync sync NAME')"
                           : "at the next mount");
}

static int alarms_clear(struct st *s, long long id, int json)
{
        char path[sizeof(s->ri->dir) + 16];
        unsigned n = 0;
        size_t i;
        int rc;

        if (s->answered) {
                rc = alarms_clear_mounted(s->ri, id, &n);
        } else {
                snprintf(path, sizeof(path), "%s/index.db", s->ri->dir);
                rc = index_alarm_clear_at(path, id, &n);
        }
        if (rc == -ENOENT) {
                log_err("region %s has no alarm %lld (see 'sealsync alarms %s')", s->ri->name, id,
                        s->ri->name);
                return CLI_EXIT_FAIL;
        }
        if (rc != 0) {
                log_err("cannot clear the alarm%s of region %s: %s", id ? "" : "s", s->ri->name,
                        rc == -EBUSY ? "its index is in use (is it being mounted?)"
                                     : strerror(-rc));
                return CLI_EXIT_FAIL;
        }
        if (json) {
                alarms_print_json(s, id);
                return CLI_EXIT_OK;
        }
        for (i = 0; i < s->nkept; i++)
                if (id == 0 || s->alarms[i].id == id)
                        alarms_say_cleared(s, &s->alarms[i]);
        if (n == 0)
                printf("no alarms to clear in region %s\n", s->ri->name);
        return CLI_EXIT_OK;
}

static int alarms_parse(int argc, char **argv, int *json, long long *clear, int *done)
{
        static const struct option opts[] = {
            {"json", no_argument, NULL, 'j'},
            {"clear", required_argument, NULL, 'c'},
            {"clear-all", no_argument, NULL, 'a'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        char *end;
        int c, status;

        *done = 1;
        cli_start_options();
        while ((c = cli_next_option("alarms", alarms_usage, argc, argv, opts, &status)) > 0) {
                if (c == 'j') {
                        *json = 1;
                } else if (*clear >= 0) {
                        return cli_usage_error("alarms", "--clear and --clear-all once, not both");
                } else if (c == 'a') {
                        *clear = 0;
                } else {
                        errno = 0;
                        *clear = strtoll(optarg, &end, 10);
                        if (errno != 0 || *end != '\0' || end == optarg || *clear <= 0)
                                return cli_usage_error("alarms", "--clear takes an alarm id");
                }
        }
        if (c == 0)
                return status;
        if (argc - optind != 1)
                return cli_usage_error("alarms", "one region NAME");
        *done = 0;
        return CLI_EXIT_OK;
}

int cmd_alarms(int argc, char **argv)
{
        struct region_info ri;
        struct st s;
        long long clear = -1;
        int json = 0, done, ret;

        ret = alarms_parse(argc, argv, &json, &clear, &done);
        if (done)
                return ret;
        ret = cli_ctl_region(argv[optind], &ri);
        if (ret != CLI_EXIT_OK)
                return ret;
        memset(&s, 0, sizeof(s));
        st_collect(&ri, &s);
        if (clear >= 0)
                ret = alarms_clear(&s, clear, json);
        else if (json)
                alarms_print_json(&s, 0);
        else
                alarms_print_text(&s);
        st_release(&s);
        if (ret == CLI_EXIT_OK)
                ret = cli_finish_output();
        return ret;
}
