/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The mount daemon's control socket (fs/ctl.h; protocol in doc/CLI.md
 * "Control socket").
 *
 * Threads: the listener (ctl_listen_main) accepts, checks the peer's uid
 * and hands each connection to a thread of its own (ctl_conn_main, at most
 * CTL_MAX_CONN); a SYNC request adds one more, the pull worker
 * (ctl_pull_main), so the connection's thread can report progress while a
 * pull round runs.
 *
 * Invariants:
 *   1. Nothing is read from or written to the store here: a SYNC only drives
 *      the committer (fs_commit), the pusher (push_kick), the puller
 *      (pull_round) and the acknowledgement exchange (confirm_round: our
 *      ack if it changed, then the peers'), and reads their counters; a PIN
 *      drives fs_fetch_tree (fs/fetch.c) in the connection's thread; a
 *      MEMBERS drives fs_members_switch_to (fs/mount.c: the membership
 *      refold, doc/SYNC.md R2); a CONFLICTS reads the index only
 *      (fs_conflicts_walk, fs/conflicts.c), streaming as it walks.
 *   2. ctl_stop returns only after every thread of this module has been
 *      joined, so FS (its pusher and puller) may be torn down afterwards.
 *   3. Every line sent ends in '\n' and carries no other control character
 *      (ctl_clean): the client splits on newlines and on spaces.
 */
#include "fs/ctl.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fs/fsint.h"
#include "crypto/secmem.h"
#include "sync/confirm.h"
#include "sync/pull.h"
#include "sync/push.h"
#include "util/hex.h"
#include "util/log.h"

#define CTL_CKPT_WAIT_S 120      /* a CHECKPOINT waits this long for the puller */
#define CTL_POLL_MS 250          /* progress report interval of a SYNC */
#define CTL_REQ_TIMEOUT_S 5      /* to send the request line */
#define CTL_REQ_MAX CTL_LINE_MAX /* longest request line (PIN carries a path) */
#define CTL_SYNC_DEFAULT_S 300

struct ctl;

struct ctl_conn {
        struct ctl *c;
        pthread_t thread;
        int fd;
        int used; /* a thread was started and not joined yet */
        int done; /* the thread has finished: join it */
};

struct ctl {
        struct fs *fs;
        char dir[PATH_MAX];
        char mountpoint[PATH_MAX];
        int dirfd;   /* the region directory (O_PATH): names the socket if DIR is long */
        int lfd;     /* the listening socket */
        int wake[2]; /* a pipe: closing wake[1] stops the listener */
        pthread_t thread;
        int thread_running;
        pthread_mutex_t lock; /* conns[].used/done, stopping */
        struct ctl_conn conns[CTL_MAX_CONN];
        int stopping;
};

/* ---- addresses ---- */

/*
 * The socket's address: DIR/ctl.sock, or, when that does not fit in
 * sun_path (108 bytes), the same file named through DIRFD's /proc link.
 */
static int ctl_addr(const char *dir, int dirfd, struct sockaddr_un *sa)
{
        int n;

        memset(sa, 0, sizeof(*sa));
        sa->sun_family = AF_UNIX;
        n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", dir, CTL_SOCKET_NAME);
        if (n > 0 && (size_t)n < sizeof(sa->sun_path))
                return 0;
        if (dirfd < 0)
                return -ENAMETOOLONG;
        n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", dirfd,
                     CTL_SOCKET_NAME);
        if (n < 0 || (size_t)n >= sizeof(sa->sun_path))
                return -ENAMETOOLONG;
        return 0;
}

int ctl_connect(const char *region_dir, int *fd_out)
{
        struct sockaddr_un sa;
        int dirfd, fd, rc;

        dirfd = open(region_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dirfd < 0)
                return -errno;
        rc = ctl_addr(region_dir, dirfd, &sa);
        if (rc != 0)
                goto out;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                rc = -errno;
                goto out;
        }
        if (connect(fd, (const struct sockaddr *)&sa, sizeof(sa)) != 0) {
                rc = -errno;
                close(fd);
                goto out;
        }
        *fd_out = fd;
out:
        close(dirfd);
        return rc;
}

/* ---- sending ---- */

/* Copies S into OUT (SIZE bytes) with every control character made a space (invariant 3). */
static void ctl_clean(char *out, size_t size, const char *s)
{
        size_t i;

        for (i = 0; i + 1 < size && s[i] != '\0'; i++)
                out[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? ' ' : s[i];
        out[i] = '\0';
}

/* Sends one line (FMT..., the newline added).  Returns 0 or a negative errno (peer gone). */
static int ctl_send(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int ctl_send(int fd, const char *fmt, ...)
{
        char line[CTL_LINE_MAX];
        size_t off = 0, len;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -EINVAL;
        len = (size_t)n < sizeof(line) - 1 ? (size_t)n : sizeof(line) - 2;
        line[len++] = '\n';
        while (off < len) {
                ssize_t w = send(fd, line + off, len - off, MSG_NOSIGNAL);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return w < 0 ? -errno : -EPIPE;
                off += (size_t)w;
        }
        return 0;
}

/* "message TEXT" (TEXT cleaned). */
static int ctl_send_text(int fd, const char *key, const char *text)
{
        char clean[CTL_LINE_MAX - 64];

        ctl_clean(clean, sizeof(clean), text);
        return ctl_send(fd, "%s %s", key, clean);
}

/* ---- STATUS ---- */

static int ctl_status_queue(struct ctl *c, int fd)
{
        char outbox[PATH_MAX + 16];
        uint64_t bytes = 0;
        unsigned entries = 0;
        int n;

        n = snprintf(outbox, sizeof(outbox), "%s/outbox", c->dir);
        if (n < 0 || (size_t)n >= sizeof(outbox) || push_outbox_queue(outbox, &entries, &bytes))
                return ctl_send(fd, "queue - -");
        return ctl_send(fd, "queue %u %" PRIu64, entries, bytes);
}

static int ctl_status_push(struct fs *fs, int fd)
{
        struct push_stats ps;
        int rc;

        push_get_stats(fs->push, &ps);
        rc = ctl_send(fd, "push_ok %lld", (long long)ps.last_ok);
        if (rc == 0)
                rc = ctl_send(fd, "push_seq %" PRIu64, ps.pushed_seq);
        if (rc == 0 && ps.last_err != 0) {
                char text[300];

                ctl_clean(text, sizeof(text), ps.last_err_text);
                rc = ctl_send(fd, "push_error %lld %s", (long long)ps.last_err_time, text);
        }
        return rc;
}

static int ctl_status_alarms(struct pull *p, int fd)
{
        struct pull_alarm_info a;
        size_t i, n = pull_alarm_count(p);
        int rc = 0;

        for (i = 0; i < n && rc == 0; i++) {
                char text[sizeof(a.text)];

                if (pull_alarm_get(p, i, &a) != 0)
                        break;
                ctl_clean(text, sizeof(text), a.text);
                /* Store keys are [a-z0-9/-]: no space, never empty once "-" stands for none. */
                rc = ctl_send(fd, "alarm %lld %lld %s %s %" PRIu64 " %d %s %s", (long long)a.id,
                              (long long)a.time, a.kind, a.device, a.seq, a.holds,
                              a.object[0] ? a.object : "-", text);
        }
        return rc;
}

/* "confirmed DEVICE SEQ TIME_S" per peer whose acknowledgement was accepted. */
static int ctl_status_confirmed(struct confirm *cf, int fd)
{
        struct confirm_info ci;
        size_t i, n = confirm_count(cf);
        int rc = ctl_send(fd, "confirm_on 1");

        for (i = 0; i < n && rc == 0; i++) {
                if (confirm_get(cf, i, &ci) != 0)
                        break;
                rc =
                    ctl_send(fd, "confirmed %s %" PRIu64 " %" PRIu64, ci.device, ci.seq, ci.time_s);
        }
        return rc;
}

static int ctl_status_pull(struct fs *fs, int fd)
{
        struct pull_peer_info pi;
        struct pull_stats st;
        size_t i, n;
        int rc;

        pull_get_stats(fs->pull, &st);
        rc = ctl_send(fd, "pull_ok %lld", (long long)st.last_ok);
        if (rc == 0 && st.last_err != 0) {
                char text[300];

                ctl_clean(text, sizeof(text), st.last_err_text);
                rc = ctl_send(fd, "pull_error %lld %s", (long long)st.last_err_time, text);
        }
        if (rc == 0)
                rc = ctl_send(fd, "alarms %u", st.nalarms);
        n = pull_peer_count(fs->pull);
        for (i = 0; i < n && rc == 0; i++) {
                if (pull_peer_get(fs->pull, i, &pi) != 0)
                        continue; /* logged by the puller */
                rc = ctl_send(fd, "peer %s %d %" PRIu64 " %d", pi.device, pi.have, pi.seq, pi.held);
        }
        if (rc == 0)
                rc = ctl_status_alarms(fs->pull, fd);
        if (rc == 0 && fs->confirm != NULL)
                rc = ctl_status_confirmed(fs->confirm, fd);
        return rc;
}

/*
 * "content REMOTE LOCAL FETCHED": bytes of blocks not fetched yet and here
 * (on-demand content), and bytes the puller fetched since the mount.
 */
static int ctl_status_content(struct fs *fs, int fd)
{
        struct pull_stats st;
        uint64_t remote = 0, local = 0;

        if (fs_content_counts(fs, &remote, &local) != 0)
                return 0; /* logged by the index */
        memset(&st, 0, sizeof(st));
        if (fs->pull != NULL)
                pull_get_stats(fs->pull, &st);
        return ctl_send(fd, "content %" PRIu64 " %" PRIu64 " %" PRIu64, remote, local,
                        st.bytes_fetched);
}

static int ctl_path_of(struct fs *fs, uint64_t ino, char *out, size_t size);

/* "uncommitted FILE_ID ERRNO PATH" per file the committer cannot commit (D2). */
static int ctl_status_stuck(struct fs *fs, int fd)
{
        struct fs_stuck *v = NULL;
        char fid[33], path[CTL_LINE_MAX - 128], clean[CTL_LINE_MAX - 128];
        size_t i, n = 0;
        int rc = fs_commit_stuck(fs, &v, &n);

        for (i = 0; i < n && rc == 0; i++) {
                hex_encode(fid, v[i].file_id, 16);
                if (ctl_path_of(fs, v[i].ino, path, sizeof(path)) != 0)
                        snprintf(path, sizeof(path), "(inode %llu, deleted or unnamed)",
                                 (unsigned long long)v[i].ino);
                ctl_clean(clean, sizeof(clean), path);
                rc = ctl_send(fd, "uncommitted %s %d /%s", fid, -v[i].err, clean);
        }
        secmem_wipe(path, sizeof(path));
        secmem_wipe(clean, sizeof(clean));
        free(v);
        return rc;
}

/* "open_wait /PATH": a remote deletion waits until PATH is closed here (U7). */
static int ctl_status_open_wait(struct fs *fs, int fd)
{
        char path[CTL_LINE_MAX - 128], clean[CTL_LINE_MAX - 128];
        uint64_t ino = atomic_load(&fs->open_wait_ino);
        int rc;

        if (ino == 0)
                return 0;
        if (ctl_path_of(fs, ino, path, sizeof(path)) != 0)
                snprintf(path, sizeof(path), "(inode %llu, unnamed)", (unsigned long long)ino);
        ctl_clean(clean, sizeof(clean), path);
        rc = ctl_send(fd, "open_wait /%s", clean);
        secmem_wipe(path, sizeof(path));
        secmem_wipe(clean, sizeof(clean));
        return rc;
}

/*
 * "epoch <id hex>": the epoch new content is sealed under; "removed 1" once
 * this device learned of its removal (doc/SYNC.md R4).
 */
static int ctl_status_epoch(struct fs *fs, int fd)
{
        uint8_t id[32];
        char hex[65];
        int rc;

        (void)fs_keys_current(fs, id);
        hex_encode(hex, id, 32);
        rc = ctl_send(fd, "epoch %s", hex);
        if (rc == 0 && atomic_load(&fs->key_warn) == FS_KEY_REMOVED)
                rc = ctl_send(fd, "removed 1");
        return rc;
}

static int ctl_status(struct ctl *c, int fd)
{
        struct fs *fs = c->fs;
        char mp[PATH_MAX], dev[33];
        int rc;

        ctl_clean(mp, sizeof(mp), c->mountpoint);
        hex_encode(dev, fs->device_id, 16);
        rc = ctl_send(fd, "pid %ld", (long)getpid());
        if (rc == 0)
                rc = ctl_send(fd, "mountpoint %s", mp);
        if (rc == 0)
                rc = ctl_send(fd, "sync %d %d", fs->push != NULL, fs->read_only);
        if (rc == 0 && fs->push != NULL)
                rc = ctl_send(fd, "device %s", dev);
        if (rc == 0)
                rc = ctl_send(fd, "journal_seq %" PRIu64,
                              __atomic_load_n(&fs->committed_seq, __ATOMIC_ACQUIRE));
        if (rc == 0)
                rc = ctl_status_queue(c, fd);
        if (rc == 0)
                rc = ctl_send(fd, "conflicts %lu", atomic_load(&fs->nconflicts));
        if (rc == 0)
                rc = ctl_send(fd, "keys %s", fs_key_warn_name(atomic_load(&fs->key_warn)));
        if (rc == 0)
                rc = ctl_status_epoch(fs, fd);
        if (rc == 0 && fs->push != NULL)
                rc = ctl_status_push(fs, fd);
        if (rc == 0 && fs->pull != NULL)
                rc = ctl_status_pull(fs, fd);
        if (rc == 0)
                rc = ctl_status_content(fs, fd);
        if (rc == 0 && fs->push != NULL)
                rc = ctl_status_stuck(fs, fd);
        if (rc == 0)
                rc = ctl_status_open_wait(fs, fd);
        if (rc == 0)
                rc = ctl_send(fd, "end");
        return rc;
}

/* ---- SYNC ---- */

/* The pull half of a SYNC: makes sure a round begun after AFTER has finished. */
struct ctl_pull_job {
        struct fs *fs;
        uint64_t after; /* rounds_started when the request came */
        int stop;       /* atomic: the requester gives up */
        int finished;   /* atomic */
};

static void *ctl_pull_main(void *arg)
{
        struct ctl_pull_job *j = arg;
        struct pull_stats st;

        /* Membership first: a revocation or rotation changes what the round may apply. */
        if (j->fs->store != NULL)
                fs_refresh_peers(j->fs);

        for (;;) {
                unsigned applied = 0;

                pull_get_stats(j->fs->pull, &st);
                if (st.rounds_done > j->after || __atomic_load_n(&j->stop, __ATOMIC_ACQUIRE))
                        break;
                if (st.in_round) {
                        usleep(50 * 1000); /* the puller's round; it may have begun after AFTER */
                        continue;
                }
                /* The outcome is in the stats; -EAGAIN here may also be a lost race. */
                if (pull_round(j->fs->pull, &applied) != 0)
                        log_debug("sync request: the pull round did not complete");
                if (applied > 0) {
                        log_info("applied %u remote version(s) (sync request)", applied);
                        if (index_commit(j->fs->ix) != 0)
                                log_err("cannot commit applied remote versions");
                }
        }
        /* Our ack now if it changed, then the peers' (logged once if failing). */
        if (j->fs->confirm != NULL && !__atomic_load_n(&j->stop, __ATOMIC_ACQUIRE) &&
            !fs_publish_held(j->fs) && confirm_round(j->fs->confirm, 1, 1) != 0)
                log_debug("sync request: the acknowledgement exchange did not complete");
        __atomic_store_n(&j->finished, 1, __ATOMIC_RELEASE);
        return NULL;
}

/* Where a SYNC stands (ctl_sync_*). */
struct ctl_sync {
        struct ctl *c;
        int fd;
        struct timespec t0;
        size_t committed;           /* files committed by this request */
        uint64_t push_after;        /* passes_started before the kick */
        struct push_stats ps0, ps;  /* at the start, now */
        struct pull_stats pl0, pl;  /* at the start, now */
        unsigned q_entries;         /* the outbox now */
        uint64_t q_bytes, q_bytes0; /* the outbox now, after the commit */
        struct ctl_pull_job job;
        int pulling; /* the pull worker runs */
        pthread_t puller;
};

static long long ctl_ms_since(const struct timespec *t0)
{
        struct timespec now;

        clock_gettime(CLOCK_MONOTONIC, &now);
        return (long long)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static void ctl_sync_queue(struct ctl_sync *s)
{
        char outbox[PATH_MAX + 16];
        int n = snprintf(outbox, sizeof(outbox), "%s/outbox", s->c->dir);

        if (n < 0 || (size_t)n >= sizeof(outbox) ||
            push_outbox_queue(outbox, &s->q_entries, &s->q_bytes) != 0)
                s->q_entries = 0, s->q_bytes = 0;
}

/* Reads the counters; returns 1 once both halves are done. */
static int ctl_sync_poll(struct ctl_sync *s)
{
        struct fs *fs = s->c->fs;
        int push_done = 1, pull_done = 1;

        ctl_sync_queue(s);
        if (fs->push != NULL) {
                push_get_stats(fs->push, &s->ps);
                push_done = s->ps.stopped || s->ps.passes_done > s->push_after;
        }
        if (fs->pull != NULL) {
                pull_get_stats(fs->pull, &s->pl);
                pull_done = !s->pulling || __atomic_load_n(&s->job.finished, __ATOMIC_ACQUIRE);
        }
        return push_done && pull_done;
}

static int ctl_sync_progress(struct ctl_sync *s)
{
        return ctl_send(s->fd,
                        "progress ms=%lld files=%zu up_entries=%u up_left=%" PRIu64
                        " up_sent=%" PRIu64 " up_total=%" PRIu64 " down_files=%" PRIu64
                        " down_entries=%" PRIu64 " down_listed=%" PRIu64 " down_bytes=%" PRIu64,
                        ctl_ms_since(&s->t0), s->committed, s->q_entries, s->q_bytes,
                        s->ps.bytes_sent - s->ps0.bytes_sent, s->q_bytes0,
                        s->pl.applied - s->pl0.applied, s->pl.entries_done - s->pl0.entries_done,
                        s->pl.entries_listed - s->pl0.entries_listed,
                        s->pl.bytes_fetched - s->pl0.bytes_fetched);
}

/*
 * 1 when the client has gone (EOF or error on FD), after waiting up to
 * CTL_POLL_MS for that.
 */
static int ctl_client_gone(int fd)
{
        struct pollfd pf = {fd, POLLIN, 0};
        char b[16];

        if (poll(&pf, 1, CTL_POLL_MS) <= 0)
                return 0;
        return recv(fd, b, sizeof(b), MSG_DONTWAIT) <= 0 || (pf.revents & (POLLHUP | POLLERR));
}

/* Commits and kicks the pusher, starts the pull worker.  Returns 0 or a negative errno (sent). */
static int ctl_sync_begin(struct ctl_sync *s)
{
        struct fs *fs = s->c->fs;
        int rc;

        if (fs->push != NULL) {
                atomic_store(&fs->commit_failed, 0);
                rc = fs_commit(fs, &s->committed);
                if (rc != 0) {
                        ctl_send(s->fd, "result status=error");
                        ctl_send(s->fd, "message committing local changes failed: %s",
                                 strerror(-rc));
                        return rc;
                }
                push_get_stats(fs->push, &s->ps0);
                s->push_after = s->ps0.passes_started;
                s->ps = s->ps0;
                push_kick(fs->push);
        }
        ctl_sync_queue(s);
        s->q_bytes0 = s->q_bytes;
        if (fs->pull != NULL) {
                pull_get_stats(fs->pull, &s->pl0);
                s->pl = s->pl0;
                s->job.fs = fs;
                s->job.after = s->pl0.rounds_started;
                if (pthread_create(&s->puller, NULL, ctl_pull_main, &s->job) != 0) {
                        ctl_send(s->fd, "result status=error");
                        ctl_send(s->fd, "message cannot start a pull round (out of threads)");
                        return -EAGAIN;
                }
                s->pulling = 1;
        }
        return 0;
}

/* Sends the alarms as "message" lines. */
static void ctl_sync_alarms(struct ctl_sync *s)
{
        struct pull_alarm_info a;
        size_t i, n = pull_alarm_count(s->c->fs->pull);
        char line[CTL_LINE_MAX - 64];

        for (i = 0; i < n; i++) {
                if (pull_alarm_get(s->c->fs->pull, i, &a) != 0)
                        break;
                snprintf(line, sizeof(line), "alarm %s: device %s seq %" PRIu64 ": %.300s (%.200s)",
                         a.kind, a.device, a.seq, a.text, a.object[0] ? a.object : "-");
                ctl_send_text(s->fd, "message", line);
        }
}

static int ctl_dirty_cb(void *arg, uint64_t ino)
{
        if (ino == INDEX_ROOT_INO)
                return 0; /* the root has no manifest */
        *(int *)arg = 1;
        return 1;
}

static int ctl_tomb_cb(void *arg, const uint8_t *file_id, const uint8_t *state, size_t len)
{
        (void)file_id;
        (void)state;
        (void)len;
        *(int *)arg = 1;
        return 1;
}

/*
 * 1 if a mount that may no longer publish (its device was demoted to
 * reader) holds local changes it cannot publish: `sync` must not say ok.
 */
static int ctl_stuck_changes(struct fs *fs)
{
        int any = 0;

        if (fs->push == NULL || !atomic_load(&fs->read_only) || fs->user_read_only)
                return 0;
        pthread_mutex_lock(&fs->commit_lock);
        if (index_for_each_dirty(fs->ix, ctl_dirty_cb, &any) < 0 ||
            (!any && index_for_each_tomb(fs->ix, ctl_tomb_cb, &any) < 0))
                any = 1; /* unknown: not ok either */
        pthread_mutex_unlock(&fs->commit_lock);
        return any;
}

/* The final lines; WHY: 0, -ETIMEDOUT, -ESHUTDOWN (unmounting). */
static void ctl_sync_result(struct ctl_sync *s, int why, long timeout_s)
{
        struct fs *fs = s->c->fs;
        int push_err =
            fs->push != NULL &&
            (s->ps.stopped || (s->ps.passes_done > s->push_after && s->ps.last_pass_rc != 0));
        int pull_err =
            fs->pull != NULL && s->pl.rounds_done > s->job.after && s->pl.last_round_rc != 0;
        unsigned alarms = fs->pull != NULL ? s->pl.nalarms : 0;
        unsigned failed = atomic_load(&fs->commit_failed);
        /* R4: nothing can be published (removed, or no key of the current epoch) */
        int removed = atomic_load(&fs->keys_lost) || atomic_load(&fs->key_warn) == FS_KEY_REMOVED;
        int stuck = !removed && ctl_stuck_changes(fs);
        const char *status = why == -ETIMEDOUT                                    ? "timeout"
                             : why != 0                                           ? "error"
                             : push_err || pull_err || failed || removed || stuck ? "error"
                             : alarms > 0                                         ? "alarm"
                                                                                  : "ok";

        if (failed > 0)
                ctl_send(s->fd,
                         "message %u file(s) could not be committed (see mount.log); they stay "
                         "queued for the next round",
                         failed);
        ctl_send(s->fd,
                 "result status=%s ms=%lld committed=%zu up_objects=%" PRIu64 " up_bytes=%" PRIu64
                 " down_files=%" PRIu64 " down_bytes=%" PRIu64 " alarms=%u queue_entries=%u"
                 " queue_bytes=%" PRIu64,
                 status, ctl_ms_since(&s->t0), s->committed,
                 s->ps.objects_sent - s->ps0.objects_sent, s->ps.bytes_sent - s->ps0.bytes_sent,
                 s->pl.applied - s->pl0.applied, s->pl.bytes_fetched - s->pl0.bytes_fetched, alarms,
                 s->q_entries, s->q_bytes);
        if (why == -ETIMEDOUT)
                ctl_send(s->fd,
                         "message not done after %ld s; the daemon carries on in the "
                         "background",
                         timeout_s);
        if (why == -ESHUTDOWN)
                ctl_send(s->fd, "message the region is being unmounted");
        if (removed)
                ctl_send(s->fd, "message this device was removed from the region (or holds no "
                                "key of its current epoch): the mount is read-only and publishes "
                                "nothing; changes made before it learned of it stay local");
        if (stuck)
                ctl_send(s->fd, "message this device may not write in the region (a reader "
                                "now): its local changes cannot be published and stay local");
        if (push_err)
                ctl_send_text(s->fd, "message", s->ps.last_err_text);
        if (pull_err)
                ctl_send_text(s->fd, "message", s->pl.last_err_text);
        if (alarms > 0)
                ctl_sync_alarms(s);
        ctl_send(s->fd, "end");
}

static int ctl_sync(struct ctl *c, int fd, long timeout_s)
{
        struct ctl_sync s;
        int why = 0, stopping;

        memset(&s, 0, sizeof(s));
        s.c = c;
        s.fd = fd;
        clock_gettime(CLOCK_MONOTONIC, &s.t0);
        if (c->fs->push == NULL && c->fs->pull == NULL) {
                ctl_send(fd, "result status=off");
                ctl_send(fd, "message the region is mounted without sync (--no-sync or "
                             "--read-only, or this device cannot sign)");
                return ctl_send(fd, "end");
        }
        if (ctl_sync_begin(&s) != 0)
                return ctl_send(fd, "end");
        while (!ctl_sync_poll(&s)) {
                if (ctl_sync_progress(&s) != 0 || ctl_client_gone(fd)) {
                        why = -EPIPE;
                        break;
                }
                pthread_mutex_lock(&c->lock);
                stopping = c->stopping;
                pthread_mutex_unlock(&c->lock);
                if (stopping) {
                        why = -ESHUTDOWN;
                        break;
                }
                if (timeout_s > 0 && ctl_ms_since(&s.t0) >= timeout_s * 1000) {
                        why = -ETIMEDOUT;
                        break;
                }
        }
        if (s.pulling) {
                __atomic_store_n(&s.job.stop, 1, __ATOMIC_RELEASE);
                pthread_join(s.puller, NULL); /* a round in flight completes */
        }
        (void)ctl_sync_poll(&s);
        if (why != -EPIPE) {
                (void)ctl_sync_progress(&s);
                ctl_sync_result(&s, why, timeout_s);
        }
        return 0;
}

/* ---- PIN, UNPIN, PINS (on-demand content, fs/fetch.c) ---- */

/*
 * The inode of PATH: an absolute path under the mountpoint, or a path
 * relative to the region's root.  -ENOENT, -EXDEV (absolute, elsewhere),
 * -EINVAL ("..").
 */
static int ctl_resolve(struct ctl *c, const char *path, uint64_t *ino)
{
        size_t mlen = strlen(c->mountpoint), n;
        uint64_t cur = INDEX_ROOT_INO;
        const char *p = path, *slash;
        int rc = 0;

        if (path[0] == '/') {
                if (strncmp(path, c->mountpoint, mlen) != 0 ||
                    (path[mlen] != '\0' && path[mlen] != '/'))
                        return -EXDEV;
                p = path + mlen;
        }
        while (*p != '\0' && rc == 0) {
                while (*p == '/')
                        p++;
                slash = strchr(p, '/');
                n = slash != NULL ? (size_t)(slash - p) : strlen(p);
                if (n == 0 || (n == 1 && p[0] == '.')) {
                        p += n;
                        continue;
                }
                if (n == 2 && p[0] == '.' && p[1] == '.')
                        return -EINVAL;
                rc = index_lookup(c->fs->ix, cur, p, n, &cur);
                p += n;
        }
        if (rc == 0)
                *ino = cur;
        return rc;
}

/* The path of INO relative to the root into OUT ("" for the root). */
static int ctl_path_of(struct fs *fs, uint64_t ino, char *out, size_t size)
{
        char name[INDEX_NAME_MAX + 1], tmp[CTL_LINE_MAX];
        size_t len = 0;
        uint8_t type;
        int depth, rc = 0;

        out[0] = '\0';
        for (depth = 0; ino != INDEX_ROOT_INO && depth < 4096 && rc == 0; depth++) {
                rc = index_name_of(fs->ix, ino, &ino, name, &len, &type);
                if (rc == 0 && snprintf(tmp, sizeof(tmp), "%s%s%s", name, out[0] ? "/" : "", out) >=
                                   (int)sizeof(tmp))
                        rc = -ENAMETOOLONG;
                if (rc == 0 && strlen(tmp) >= size)
                        rc = -ENAMETOOLONG;
                if (rc == 0)
                        memcpy(out, tmp, strlen(tmp) + 1);
        }
        secmem_wipe(tmp, sizeof(tmp));
        secmem_wipe(name, sizeof(name));
        return rc;
}

struct ctl_pin_progress {
        int fd;
        struct timespec last;
};

static int ctl_pin_progress(void *arg, uint64_t done, uint64_t total)
{
        struct ctl_pin_progress *pp = arg;

        if (ctl_ms_since(&pp->last) < CTL_POLL_MS && done < total)
                return 0;
        clock_gettime(CLOCK_MONOTONIC, &pp->last);
        return ctl_send(pp->fd, "progress %" PRIu64 " %" PRIu64, done, total);
}

/* PIN PATH / UNPIN PATH: "progress DONE TOTAL"..., then "ok" or "error TEXT", "end". */
static int ctl_pin(struct ctl *c, int fd, const char *path, int on)
{
        struct ctl_pin_progress pp = {fd, {0, 0}};
        uint64_t ino = 0;
        int rc = ctl_resolve(c, path, &ino);

        if (rc == 0)
                rc = fs_pin_set(c->fs, ino, on);
        if (rc == 0 && on)
                rc = fs_fetch_tree(c->fs, ino, ctl_pin_progress, &pp);
        if (rc == -EPIPE || rc == -ECONNRESET)
                return rc; /* the client went away; the pin stays, reads fetch the rest */
        if (rc == 0)
                rc = ctl_send(fd, "ok");
        else if (rc == -EXDEV)
                rc = ctl_send(fd, "error the path is not under the mountpoint %s", c->mountpoint);
        else if (rc == -ENOENT && !on && ino != 0)
                rc = ctl_send(fd, "error it is not pinned");
        else
                rc = ctl_send(fd, "error %s", strerror(-rc));
        return rc == 0 ? ctl_send(fd, "end") : rc;
}

/* PINS: "pin PATH" for each pinned directory or file, then "ok", "end". */
static int ctl_pins(struct ctl *c, int fd)
{
        uint64_t pins[FS_PINS_MAX];
        char path[CTL_LINE_MAX - 16];
        size_t i, n = fs_pin_get(c->fs, pins, FS_PINS_MAX);
        int rc = 0;

        for (i = 0; i < n && rc == 0; i++) {
                if (ctl_path_of(c->fs, pins[i], path, sizeof(path)) != 0)
                        continue; /* deleted since: it stays harmless */
                rc = ctl_send_text(fd, "pin", path[0] ? path : ".");
        }
        secmem_wipe(path, sizeof(path));
        if (rc == 0)
                rc = ctl_send(fd, "ok");
        return rc == 0 ? ctl_send(fd, "end") : rc;
}

/* ---- CONFLICTS (fs/conflicts.c) ---- */

struct ctl_conflicts {
        int fd;
        struct timespec last; /* the last line sent */
};

/* "SIDE exists AUTHOR_ID|- MTIME LABEL" of one version (LABEL cleaned, may hold spaces). */
static int ctl_conflict_side(int fd, const char *key, const struct fs_conflict_side *s)
{
        char id[33], label[sizeof(s->label)];

        if (!s->exists)
                return ctl_send(fd, "%s 0", key);
        if (!s->author_known)
                return ctl_send(fd, "%s 1 - %lld -", key, (long long)s->mtime_s);
        hex_encode(id, s->author, 16);
        ctl_clean(label, sizeof(label), s->label);
        return ctl_send(fd, "%s 1 %s %lld %s", key, id, (long long)s->mtime_s, label);
}

/* fs_conflict_cb: one copy as "copy_path", "copy", "original", "original_path" (the last). */
static int ctl_conflict_cb(void *arg, const struct fs_conflict *c)
{
        struct ctl_conflicts *k = arg;
        int rc = ctl_send_text(k->fd, "copy_path", c->path);

        if (rc == 0)
                rc = ctl_conflict_side(k->fd, "copy", &c->copy);
        if (rc == 0)
                rc = ctl_conflict_side(k->fd, "original", &c->orig);
        if (rc == 0)
                rc = ctl_send_text(k->fd, "original_path", c->orig_path);
        clock_gettime(CLOCK_MONOTONIC, &k->last);
        return rc;
}

/* fs_conflict_tick: "progress SCANNED" once a second, so the client knows the walk goes on. */
static int ctl_conflict_tick(void *arg, uint64_t scanned)
{
        struct ctl_conflicts *k = arg;

        if (ctl_ms_since(&k->last) < 1000)
                return 0;
        clock_gettime(CLOCK_MONOTONIC, &k->last);
        return ctl_send(k->fd, "progress %" PRIu64, scanned);
}

/*
 * CONFLICTS: every conflict copy, streamed as found (four lines each, see
 * ctl_conflict_cb), "progress SCANNED" lines while walking, then "ok
 * SCANNED SKIPPED" or "error TEXT", "end".
 */
static int ctl_conflicts(struct ctl *c, int fd)
{
        struct ctl_conflicts k = {fd, {0, 0}};
        struct fs_conflict_counts n;
        int rc;

        clock_gettime(CLOCK_MONOTONIC, &k.last);
        rc = fs_conflicts_walk(c->fs, ctl_conflict_cb, ctl_conflict_tick, &k, &n);
        if (rc == -EPIPE || rc == -ECONNRESET)
                return rc; /* the client went away */
        if (rc == 0)
                rc = ctl_send(fd, "ok %" PRIu64 " %" PRIu64, n.scanned, n.skipped);
        else
                rc = ctl_send(fd, "error cannot list the conflict copies: %s", strerror(-rc));
        return rc == 0 ? ctl_send(fd, "end") : rc;
}

/* ---- connections ---- */

/* Reads the request line (without its newline) into BUF.  0 or a negative errno. */
static int ctl_read_request(int fd, char *buf, size_t size)
{
        struct timeval tv = {CTL_REQ_TIMEOUT_S, 0};
        size_t len = 0;

        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
                return -errno;
        while (len + 1 < size) {
                ssize_t n = recv(fd, buf + len, 1, 0);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return n < 0 ? -errno : -EPROTO;
                if (buf[len] == '\n') {
                        buf[len] = '\0';
                        return 0;
                }
                len++;
        }
        return -EPROTO;
}

/*
 * REKEY: the membership first (a rotation made a moment ago), then every
 * file under an older epoch is marked changed and a SYNC without time
 * limit re-encrypts and publishes them ("rekey N" before the SYNC lines).
 */
static int ctl_rekey(struct ctl *c, int fd)
{
        uint64_t n = 0;
        int rc;

        if (c->fs->push == NULL || c->fs->store == NULL) {
                ctl_send(fd, "result status=off");
                ctl_send(fd, "message the region is mounted without sync; nothing to re-encrypt");
                return ctl_send(fd, "end");
        }
        fs_refresh_peers(c->fs);
        rc = fs_rekey_mark(c->fs, &n);
        if (rc != 0) {
                ctl_send(fd, "error cannot mark the files for re-encryption: %s",
                         rc == -EROFS ? "the mount is read-only" : strerror(-rc));
                return ctl_send(fd, "end");
        }
        if (ctl_send(fd, "rekey %" PRIu64, n) != 0)
                return -EPIPE;
        return ctl_sync(c, fd, 0);
}

/*
 * ALARM-CLEAR ID|all (doc/SYNC.md invariant A1): "cleared N", committed to
 * the index at once; the devices released are pulled again at the next round.
 */
static int ctl_alarm_clear(struct ctl *c, int fd, const char *arg)
{
        long long id = 0;
        unsigned n = 0;
        char *end;
        int rc;

        if (c->fs->pull == NULL) {
                ctl_send(fd, "error the region is mounted without sync: no alarms");
                return ctl_send(fd, "end");
        }
        if (strcmp(arg, "all") != 0) {
                errno = 0;
                id = strtoll(arg, &end, 10);
                if (errno != 0 || *end != '\0' || end == arg || id <= 0) {
                        ctl_send(fd, "error bad alarm id");
                        return ctl_send(fd, "end");
                }
        }
        rc = pull_alarm_clear(c->fs->pull, (int64_t)id, &n);
        if (rc == 0)
                rc = index_commit(c->fs->ix);
        if (rc == -ENOENT)
                ctl_send(fd, "error no alarm %lld (not raised, or cleared already)", id);
        else if (rc != 0)
                ctl_send(fd, "error cannot clear: %s", strerror(-rc));
        else
                ctl_send(fd, "cleared %u", n);
        return ctl_send(fd, "end"); /* the puller's next round looks at them again */
}

/*
 * MEMBERS <entry hash hex>: a membership command (revoke, rotate, role,
 * policy) appended that entry; the mount switches to a fold holding it
 * before the command returns (doc/SYNC.md R2).  Replies "epoch <hex>",
 * "removed 1" (if so), then "ok" or "error TEXT", "end".
 */
static int ctl_members(struct ctl *c, int fd, const char *arg)
{
        uint8_t entry[32];
        int rc;

        if (strlen(arg) != 64 || hex_decode(entry, 32, arg) != 0) {
                ctl_send(fd, "error MEMBERS takes an entry hash (64 hex digits)");
                return ctl_send(fd, "end");
        }
        rc = fs_members_switch_to(c->fs, entry);
        if (rc == 0)
                rc = ctl_status_epoch(c->fs, fd) == 0 ? 0 : -EPIPE;
        if (rc == -EPIPE)
                return rc;
        if (rc == 0)
                rc = ctl_send(fd, "ok");
        else
                rc = ctl_send(fd, "error the mount cannot fold a membership holding the entry: %s",
                              rc == -ENOENT ? "it is in no fold (not verified?)" : strerror(-rc));
        return rc == 0 ? ctl_send(fd, "end") : rc;
}

/*
 * CHECKPOINT: asks the puller for a checkpoint at the end of its next round
 * (fs_ckpt_request) and waits up to CTL_CKPT_WAIT_S for the answer:
 * "ok SEQ" or "error TEXT", then "end".
 */
static int ctl_checkpoint(struct ctl *c, int fd)
{
        struct fs *fs = c->fs;
        uint64_t n, seq = 0;
        int rc = 0, i;

        if (fs->pull == NULL || fs_publish_held(fs)) {
                (void)ctl_send(fd, "error this mount does not sync or publish: no checkpoint");
                return ctl_send(fd, "end");
        }
        n = fs_ckpt_request(fs);
        for (i = 0; i < CTL_CKPT_WAIT_S * 10 && !fs_ckpt_answer(fs, n, &rc, &seq); i++) {
                if (ctl_client_gone(fd))
                        return -EPIPE;
                usleep(100 * 1000);
        }
        if (i == CTL_CKPT_WAIT_S * 10)
                (void)ctl_send(fd,
                               "error no checkpoint after %d s (changes still waiting to upload?)",
                               CTL_CKPT_WAIT_S);
        else if (rc == 0)
                (void)ctl_send(fd, "ok %" PRIu64, seq);
        else if (rc == -EROFS)
                (void)ctl_send(fd, "error a read-only or reader mount writes no checkpoint");
        else if (rc == -EBUSY)
                (void)ctl_send(fd, "error a removed device's entries wait to be undone; try later");
        else
                (void)ctl_send(fd, "error checkpoint not written: %s", strerror(-rc));
        return ctl_send(fd, "end");
}

static void ctl_request(struct ctl *c, int fd, const char *req)
{
        long timeout_s = CTL_SYNC_DEFAULT_S;
        char *end;

        if (ctl_send(fd, "sealsync-ctl %d", CTL_PROTO_VERSION) != 0)
                return;
        if (strcmp(req, "STATUS") == 0) {
                (void)ctl_status(c, fd);
                return;
        }
        if (strcmp(req, "REKEY") == 0) {
                (void)ctl_rekey(c, fd);
                return;
        }
        if (strncmp(req, "PIN ", 4) == 0 || strncmp(req, "UNPIN ", 6) == 0) {
                (void)ctl_pin(c, fd, strchr(req, ' ') + 1, req[0] == 'P');
                return;
        }
        if (strncmp(req, "MEMBERS ", 8) == 0) {
                (void)ctl_members(c, fd, req + 8);
                return;
        }
        if (strcmp(req, "PINS") == 0) {
                (void)ctl_pins(c, fd);
                return;
        }
        if (strcmp(req, "CONFLICTS") == 0) {
                (void)ctl_conflicts(c, fd);
                return;
        }
        if (strcmp(req, "CHECKPOINT") == 0) {
                (void)ctl_checkpoint(c, fd);
                return;
        }
        if (strncmp(req, "ALARM-CLEAR ", 12) == 0) {
                (void)ctl_alarm_clear(c, fd, req + 12);
                return;
        }
        if (strncmp(req, "SYNC", 4) == 0 && (req[4] == '\0' || req[4] == ' ')) {
                if (req[4] == ' ') {
                        errno = 0;
                        timeout_s = strtol(req + 5, &end, 10);
                        if (errno != 0 || *end != '\0' || end == req + 5 || timeout_s < 0)
                                goto bad;
                }
                (void)ctl_sync(c, fd, timeout_s);
                return;
        }
bad:
        ctl_send(fd, "error unknown request");
        ctl_send(fd, "end");
}

static void *ctl_conn_main(void *arg)
{
        struct ctl_conn *k = arg;
        char req[CTL_REQ_MAX];

        if (ctl_read_request(k->fd, req, sizeof(req)) == 0)
                ctl_request(k->c, k->fd, req);
        close(k->fd);
        pthread_mutex_lock(&k->c->lock);
        k->done = 1;
        pthread_mutex_unlock(&k->c->lock);
        return NULL;
}

/* Joins the finished connection threads; with ALL, waits for every one. */
static void ctl_reap(struct ctl *c, int all)
{
        size_t i;

        for (i = 0; i < CTL_MAX_CONN; i++) {
                int join;

                pthread_mutex_lock(&c->lock);
                join = c->conns[i].used && (all || c->conns[i].done);
                pthread_mutex_unlock(&c->lock);
                if (!join)
                        continue;
                pthread_join(c->conns[i].thread, NULL);
                pthread_mutex_lock(&c->lock);
                c->conns[i].used = 0;
                pthread_mutex_unlock(&c->lock);
        }
}

/* 1 if the peer on FD runs as our uid. */
static int ctl_peer_ok(int fd)
{
        struct ucred cr;
        socklen_t len = sizeof(cr);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 || len != sizeof(cr))
                return 0;
        return cr.uid == getuid();
}

/* Serves FD in a connection thread, or answers "busy" / refuses it. */
static void ctl_accept_one(struct ctl *c, int fd)
{
        struct ctl_conn *k = NULL;
        size_t i;

        if (!ctl_peer_ok(fd)) {
                log_warn("control socket: refused a connection from another user");
                close(fd);
                return;
        }
        ctl_reap(c, 0);
        pthread_mutex_lock(&c->lock);
        for (i = 0; i < CTL_MAX_CONN && k == NULL; i++)
                if (!c->conns[i].used)
                        k = &c->conns[i];
        if (k != NULL) {
                k->c = c;
                k->fd = fd;
                k->done = 0;
                k->used = pthread_create(&k->thread, NULL, ctl_conn_main, k) == 0;
        }
        pthread_mutex_unlock(&c->lock);
        if (k == NULL || !k->used) {
                (void)ctl_send(fd, "sealsync-ctl %d", CTL_PROTO_VERSION);
                (void)ctl_send(fd, "error busy: too many requests at once; try again");
                (void)ctl_send(fd, "end");
                close(fd);
        }
}

static void *ctl_listen_main(void *arg)
{
        struct ctl *c = arg;

        for (;;) {
                struct pollfd pf[2] = {{c->lfd, POLLIN, 0}, {c->wake[0], POLLIN, 0}};
                int fd;

                if (poll(pf, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        log_err("control socket: poll: %s", strerror(errno));
                        break;
                }
                if (pf[1].revents != 0)
                        break; /* ctl_stop */
                if ((pf[0].revents & POLLIN) == 0)
                        continue;
                fd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0) {
                        if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
                                usleep(100 * 1000); /* no busy loop while out of descriptors */
                        continue;
                }
                ctl_accept_one(c, fd);
        }
        return NULL;
}

/* ---- lifecycle ---- */

/* Binds and listens on C's socket (a leftover one is removed first). */
static int ctl_listen(struct ctl *c)
{
        struct sockaddr_un sa;
        int rc;

        rc = ctl_addr(c->dir, c->dirfd, &sa);
        if (rc != 0)
                return rc;
        if (unlinkat(c->dirfd, CTL_SOCKET_NAME, 0) != 0 && errno != ENOENT)
                return -errno;
        c->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c->lfd < 0)
                return -errno;
        if (bind(c->lfd, (const struct sockaddr *)&sa, sizeof(sa)) != 0)
                return -errno;
        /* The directory is private already; the mode says so again. */
        if (fchmodat(c->dirfd, CTL_SOCKET_NAME, 0600, 0) != 0)
                return -errno;
        if (listen(c->lfd, CTL_MAX_CONN) != 0)
                return -errno;
        return 0;
}

static void ctl_free(struct ctl *c)
{
        if (c->lfd >= 0) {
                close(c->lfd);
                if (unlinkat(c->dirfd, CTL_SOCKET_NAME, 0) != 0 && errno != ENOENT)
                        log_warn("cannot remove the control socket: %s", strerror(errno));
        }
        if (c->wake[0] >= 0)
                close(c->wake[0]);
        if (c->wake[1] >= 0)
                close(c->wake[1]);
        if (c->dirfd >= 0)
                close(c->dirfd);
        pthread_mutex_destroy(&c->lock);
        free(c);
}

int ctl_start(struct ctl **out, struct fs *fs, const char *region_dir, const char *mountpoint)
{
        struct ctl *c = calloc(1, sizeof(*c));
        int n, rc;

        if (c == NULL)
                return -ENOMEM;
        c->fs = fs;
        c->lfd = c->dirfd = c->wake[0] = c->wake[1] = -1;
        pthread_mutex_init(&c->lock, NULL);
        n = snprintf(c->dir, sizeof(c->dir), "%s", region_dir);
        rc = n < 0 || (size_t)n >= sizeof(c->dir) ? -ENAMETOOLONG : 0;
        if (rc == 0) {
                n = snprintf(c->mountpoint, sizeof(c->mountpoint), "%s", mountpoint);
                rc = n < 0 || (size_t)n >= sizeof(c->mountpoint) ? -ENAMETOOLONG : 0;
        }
        if (rc == 0) {
                c->dirfd = open(region_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
                rc = c->dirfd < 0 ? -errno : 0;
        }
        if (rc == 0)
                rc = ctl_listen(c);
        if (rc == 0 && pipe2(c->wake, O_CLOEXEC) != 0)
                rc = -errno;
        if (rc == 0 && pthread_create(&c->thread, NULL, ctl_listen_main, c) != 0)
                rc = -EAGAIN;
        if (rc != 0) {
                log_err("control socket %s/%s: %s; 'sealsync status' and 'sync' cannot reach "
                        "this mount",
                        region_dir, CTL_SOCKET_NAME, strerror(-rc));
                ctl_free(c);
                return rc;
        }
        c->thread_running = 1;
        *out = c;
        return 0;
}

void ctl_stop(struct ctl *c)
{
        if (c == NULL)
                return;
        pthread_mutex_lock(&c->lock);
        c->stopping = 1;
        pthread_mutex_unlock(&c->lock);
        if (c->wake[1] >= 0) {
                close(c->wake[1]); /* the listener sees POLLHUP */
                c->wake[1] = -1;
        }
        if (c->thread_running)
                pthread_join(c->thread, NULL);
        ctl_reap(c, 1);
        ctl_free(c);
}
