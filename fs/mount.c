/* SPDX-License-Identifier: Apache-2.0 */
#include "fs/mount.h"
#include "fs/pin.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/secmem.h"
#include "crypto/suite.h"
#include "fs/ctl.h"
#include "fs/fsint.h"
#include "fs/ops.h"
#include "keyring/members.h"
#include "sync/confirm.h"
#include "sync/membership.h"
#include "sync/pull.h"
#include "sync/push.h"
#include "sync/store.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/par.h"

#define FS_COMMIT_INTERVAL_MS 1000
#define FS_SYNC_EVERY_TICKS 2 /* commit local changes every 2 s ... */
/* ... unless changes are still coming (doc/SYNC.md "When a round starts") */
#define FS_COMMIT_QUIET_MS 1000
#define FS_COMMIT_MAX_DELAY_MS 10000
#define FS_UNMOUNT_DRAIN_S 10 /* upload for at most this long at unmount */

/*
 * The daemon's allocator (issue #10, doc/DESIGN.md "Memory").  glibc by
 * default raises its mmap threshold up to 32 MiB after a large buffer is
 * freed, so later packs and pack reads (a few MiB, fs/fsint.h
 * FS_COMMIT_PACK_TARGET) come from the heap, whose freed pages are kept;
 * and it gives each of the up to 16 FUSE threads, the committer, the
 * pusher and the puller arenas of their own (8 per CPU), each keeping its
 * own free memory.  A fixed threshold returns every large buffer to the
 * system when freed, and two arenas bound the free memory kept; a malloc
 * here is never on a path where lock contention shows (each request seals
 * or opens blocks, which costs far more).
 */
#define FS_MALLOC_MMAP_THRESHOLD (128 * 1024)
#define FS_MALLOC_ARENAS 2

static void fs_malloc_tune(void)
{
#ifdef __GLIBC__
        if (mallopt(M_MMAP_THRESHOLD, FS_MALLOC_MMAP_THRESHOLD) != 1 ||
            mallopt(M_ARENA_MAX, FS_MALLOC_ARENAS) != 1)
                log_warn("cannot tune the allocator; memory use may be higher");
#endif
}

/* 1 if directory PATH holds an entry besides . and .., 0 if not, or a negative errno. */
static int fs_dir_has_entries(const char *path)
{
        DIR *d = opendir(path);
        struct dirent *de;
        int found = 0;

        if (d == NULL)
                return -errno;
        while (!found && (de = readdir(d)) != NULL)
                found = strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
        closedir(d);
        return found;
}

int fsmount_check_mountpoint(const char *path, int nonempty)
{
        char parent[PATH_MAX];
        struct stat st, pst;
        int rc;

        if (stat(path, &st) != 0) {
                int e = errno;

                if (e == ENOTCONN)
                        log_err("%s: a dead mount is still attached; run 'fusermount3 -u %s'", path,
                                path);
                else
                        log_err("mount point %s: %s", path, strerror(e));
                return -e;
        }
        if (!S_ISDIR(st.st_mode)) {
                log_err("mount point %s is not a directory", path);
                return -ENOTDIR;
        }
        if (snprintf(parent, sizeof(parent), "%s/..", path) >= (int)sizeof(parent))
                return -ENAMETOOLONG;
        if (stat(parent, &pst) != 0)
                return -errno;
        if (st.st_dev != pst.st_dev || st.st_ino == pst.st_ino) {
                log_err("mount point %s is busy: something is already mounted there", path);
                return -EBUSY;
        }
        if (nonempty)
                return 0;
        rc = fs_dir_has_entries(path);
        if (rc < 0) {
                log_err("mount point %s: %s", path, strerror(-rc));
                return rc;
        }
        if (rc > 0) {
                log_err("mount point %s is not empty; its entries would be hidden while "
                        "mounted (use --nonempty or -o nonempty to mount there anyway)",
                        path);
                return -ENOTEMPTY;
        }
        return 0;
}

/* One line of the sync state: control characters become spaces (one record per line). */
static size_t fs_state_line(char *out, size_t size, const char *key, long long t, const char *text)
{
        size_t i, n;
        int w = snprintf(out, size, "%s %lld%s", key, t, text != NULL ? " " : "");

        if (w < 0 || (size_t)w >= size)
                return 0;
        n = (size_t)w;
        for (i = 0; text != NULL && text[i] != '\0' && n + 2 < size; i++)
                out[n++] = ((unsigned char)text[i] < 0x20 || text[i] == 0x7f) ? ' ' : text[i];
        out[n++] = '\n';
        out[n] = '\0';
        return n;
}

#define FS_STATE_REFRESH_S 60 /* a success's time alone is saved at most this often */

/*
 * The last push and pull state (times of success, the last error) saved in
 * the index's clear meta record "last_sync", in the lines of the control
 * socket's STATUS reply (push_ok, push_seq, push_error, pull_ok, pull_error),
 * so `sealsync status` of a region not mounted shows them (cli/cmd_status.c).
 * Written when an error appears, changes its text or goes, when the pushed
 * seq changes, and newer times at most every FS_STATE_REFRESH_S (never an
 * index write per round, none while nothing changes); FORCE: now (unmount).
 * Flusher thread or close only.
 */
static void fs_sync_state_save(struct fs *fs, int force)
{
        struct push_stats ps;
        struct pull_stats pl;
        char buf[sizeof(fs->sync_state)], cmp[sizeof(fs->sync_state)];
        size_t n = 0;
        time_t now = time(NULL);
        int newer;

        if (fs->push == NULL || fs->pull == NULL || fs->ix == NULL)
                return;
        push_get_stats(fs->push, &ps);
        pull_get_stats(fs->pull, &pl);
        /* What decides a write at once: everything but the success times. */
        n += fs_state_line(cmp + n, sizeof(cmp) - n, "push_seq", (long long)ps.pushed_seq, NULL);
        if (ps.last_err != 0) /* the text, not its time: a store away fails every round */
                n += fs_state_line(cmp + n, sizeof(cmp) - n, "push_error", 0, ps.last_err_text);
        if (pl.last_err != 0)
                n += fs_state_line(cmp + n, sizeof(cmp) - n, "pull_error", 0, pl.last_err_text);
        n = 0;
        n += fs_state_line(buf + n, sizeof(buf) - n, "push_ok", ps.last_ok, NULL);
        n += fs_state_line(buf + n, sizeof(buf) - n, "push_seq", (long long)ps.pushed_seq, NULL);
        if (ps.last_err != 0)
                n += fs_state_line(buf + n, sizeof(buf) - n, "push_error", ps.last_err_time,
                                   ps.last_err_text);
        n += fs_state_line(buf + n, sizeof(buf) - n, "pull_ok", pl.last_ok, NULL);
        if (pl.last_err != 0)
                n += fs_state_line(buf + n, sizeof(buf) - n, "pull_error", pl.last_err_time,
                                   pl.last_err_text);
        newer = ps.last_ok > fs->sync_state_at || pl.last_ok > fs->sync_state_at ||
                ps.last_err_time > fs->sync_state_at || pl.last_err_time > fs->sync_state_at;
        if (!force && strcmp(cmp, fs->sync_state) == 0 &&
            (!newer || now - fs->sync_state_at < FS_STATE_REFRESH_S))
                return; /* no index write per round, none at all when nothing changes */
        if (index_meta_put(fs->ix, "last_sync", (const uint8_t *)buf, n) != 0) {
                log_warn("cannot save the sync state for 'status' when not mounted");
                return;
        }
        memcpy(fs->sync_state, cmp, sizeof(cmp));
        fs->sync_state_at = now;
}

/*
 * Whether the flusher's commit round waits: local changes are still coming
 * (the last less than FS_COMMIT_QUIET_MS ago) and the first of them is less
 * than FS_COMMIT_MAX_DELAY_MS old.  A burst (a large write, an untar, a
 * random writer) is then published once, after it, instead of every 2 s
 * while it runs: publishing does not compete with the writer, and a block
 * written many times is sealed into a pack once.
 */
static int fs_round_waits(struct fs *fs)
{
        long long now = fs_now_ms(), first = atomic_load(&fs->change_first_ms);

        return first != 0 && now - atomic_load(&fs->change_last_ms) < FS_COMMIT_QUIET_MS &&
               now - first < FS_COMMIT_MAX_DELAY_MS;
}

static void *fs_flusher_main(void *arg)
{
        struct fs *fs = arg;
        unsigned ticks = 0;

        pthread_mutex_lock(&fs->flush_lock);
        while (!fs->stopping) {
                struct timespec ts;
                int rc;

                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_sec += FS_COMMIT_INTERVAL_MS / 1000;
                pthread_cond_timedwait(&fs->flush_cond, &fs->flush_lock, &ts);
                if (fs->stopping)
                        break;
                pthread_mutex_unlock(&fs->flush_lock);
                fs_content_expire(fs, FS_WBUF_DELAY_MS); /* small writes' buffered blocks */
                if (fs->push != NULL && ++ticks >= FS_SYNC_EVERY_TICKS && !fs_round_waits(fs)) {
                        size_t n = 0;

                        ticks = 0;
                        atomic_store(&fs->change_first_ms, 0); /* changes from now: the next */

                        if (fs_commit(fs, &n) != 0) {
                                /* Logged by the round; its changes stay queued, and the
                                 * rounds before it (N files) are in the outbox. */
                        }
                        if (n > 0)
                                push_kick(fs->push);
                        fs_inval_flush(fs); /* rule 5 renames of the round (fs/names.c) */
                }
                if (index_dirty(fs->ix)) {
                        rc = fs_index_commit(fs);
                        if (rc != 0)
                                log_err("group commit of the index failed: %s", strerror(-rc));
                }
                fs_sync_state_save(fs, 0);
                fs_unlinked_drain(fs); /* after a commit round's index commit too */
                pthread_mutex_lock(&fs->flush_lock);
        }
        pthread_mutex_unlock(&fs->flush_lock);
        return NULL;
}

static int fs_lock_region(const struct region_info *ri, const char *mountpoint, int *fd_out)
{
        char path[PATH_MAX];
        int fd;

        if (snprintf(path, sizeof(path), "%s/lock", ri->dir) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (fd < 0) {
                log_err("%s: %s", path, strerror(errno));
                return -errno;
        }
        if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
                int e = errno;

                close(fd);
                if (e == EWOULDBLOCK) {
                        log_err("region %s is already mounted by this device", ri->name);
                        return -EBUSY;
                }
                return -e;
        }
        /*
         * The holder's pid and mount point, so `sealsync umount` waits for this
         * process to end (and not for another home's daemon of the same region).
         */
        if (ftruncate(fd, 0) != 0 || dprintf(fd, "%ld\n%s\n", (long)getpid(), mountpoint) < 0)
                log_warn("%s: cannot record the daemon's pid", path);
        *fd_out = fd;
        return 0;
}

/* Root attributes for a new index: a 0755 directory of the mounting user. */
static int fs_root_attr(uint8_t file_id[16], uint8_t **attr, size_t *len)
{
        struct fs_inode root;
        int rc;

        memset(&root, 0, sizeof(root));
        rangeset_init(&root.blocks);
        secmem_random(root.file_id, 16);
        secmem_random(root.salt, 32);
        root.kind = FS_KIND_DIR;
        root.mode = S_IFDIR | 0755;
        root.uid = getuid();
        root.gid = getgid();
        root.nlink = 1;
        fs_now(&root.mtime);
        root.atime = root.ctime = root.mtime;
        memcpy(file_id, root.file_id, 16);
        rc = fs_attr_encode(&root, attr, len);
        return rc;
}

static int fs_open_state(struct fs *fs, const struct fsmount_opts *o)
{
        char path[PATH_MAX];
        uint8_t root_id[16];
        uint8_t *root_attr = NULL;
        size_t root_len = 0;
        int rc;

        memcpy(fs->region_id, o->keys->region_id, 32);
        /* Records older than v4 were written when GENESIS's epoch was the only one. */
        memcpy(fs->genesis_epoch, o->region->genesis_hash, 32);
        fs->suite = o->keys->suite;
        fs->bs = o->keys->block_size;
        pthread_mutex_init(&fs->members_lock, NULL);
        pthread_mutex_init(&fs->head_lock, NULL);
        rc = fs_keys_init(fs, o->keys);
        if (rc != 0)
                return rc;
        fs->slot_len = FS_SLOT_HDR_LEN + suite_nonce_len(fs->suite) + fs->bs + BLOCK_TAG_LEN;
        fs->read_only = o->read_only || o->reader;
        fs->user_read_only = o->read_only;
        fs->max_read = o->max_read;
        fs->forge_role = o->forge_role;
        fs->uid = getuid();
        fs->gid = getgid();
        fs->timeout = 60.0;
        if (snprintf(path, sizeof(path), "%s/data", o->region->dir) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
                return -errno;
        fs->data_dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fs->data_dirfd < 0)
                return -errno;
        if (snprintf(path, sizeof(path), "%s/index.db", o->region->dir) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        rc = fs_root_attr(root_id, &root_attr, &root_len);
        if (rc != 0)
                return rc;
        rc = index_open(&fs->ix, path, o->local_key, fs->region_id, root_id, root_attr, root_len);
        free(root_attr);
        if (rc == -EUCLEAN) {
                /* D4: never mounted as an empty region (doc/SYNC.md). */
                log_err("the local index %s is missing, empty or damaged: refusing to mount "
                        "(it would show an empty region). Nothing was changed; the files on the "
                        "store are intact. Restore index.db from a backup, or enroll this "
                        "device home again (sealsync join) and mount that",
                        path);
                return rc;
        }
        if (rc != 0) {
                log_err("cannot open the local index %s: %s", path, strerror(-rc));
                return rc;
        }
        rc = fs_table_init(fs);
        if (rc != 0)
                return rc;
        {
                /* Authenticates the root record: a wrong device key or a tampered index stops here.
                 */
                struct fs_inode *root;

                rc = fs_inode_get(fs, INDEX_ROOT_INO, &root);
                if (rc != 0) {
                        log_err("the local index does not authenticate with this device's key");
                        return rc == -ENOENT ? -EBADMSG : rc;
                }
                fs_inode_ref(fs, root, 1, 0); /* pinned for the whole mount */
                fs_inode_put(fs, root);
        }
        /* Before the purge: a deleted file's blocks may wait for upload (fs/pin.h). */
        rc = fs_pin_open(fs, o->region->dir);
        if (rc != 0) {
                log_err("cannot read the blocks waiting for upload: %s", strerror(-rc));
                return rc;
        }
        rc = fs_purge_orphans(fs);
        if (rc != 0)
                log_err("cannot purge deleted files from the index: %s", strerror(-rc));
        return rc;
}

/*
 * This device's role in fold ST decides whether the mount takes changes: a
 * reader's (or RECOVERY's) is read-only, a writer's or admin's writable --
 * unless mounted read-only on request or without the current key.
 */
static void fs_follow_role(struct fs *fs, const struct members_state *st)
{
        const struct member_device *me = members_find(st, fs->device_id);
        int ro;

        if (me == NULL || fs->user_read_only || fs->forge_role || atomic_load(&fs->keys_lost))
                return;
        ro = me->role == MEMBER_ROLE_READER || me->role == MEMBER_ROLE_RECOVERY;
        if (atomic_exchange(&fs->read_only, ro) == ro)
                return;
        if (ro)
                log_info("region %s: this device is a reader now; the mount is read-only",
                         fs->region->name);
        else
                log_info("region %s: this device may write now; the mount is writable",
                         fs->region->name);
}

/*
 * The membership our journal entries name from now on (the last entry of
 * fold ST in fold order; every device folds the same entries in the same
 * order), and the entries a peer's journal may name (fs_member_known).
 */
static void fs_set_member_head(struct fs *fs, const struct members_state *st)
{
        uint8_t(*seen)[32] = calloc(st->nentries, sizeof(*seen));
        uint8_t(*epochs)[32] = calloc(st->nepochs, sizeof(*epochs));
        size_t i;

        if (seen == NULL || epochs == NULL) {
                free(seen);
                free(epochs);
                log_warn("out of memory; the membership head stays as it was");
                return;
        }
        for (i = 0; i < st->nentries; i++)
                memcpy(seen[i], st->entries[i]->hash, 32);
        for (i = 0; i < st->nepochs; i++)
                memcpy(epochs[i], st->epochs[i].id, 32);
        pthread_mutex_lock(&fs->head_lock);
        memcpy(fs->member_head, st->entries[st->nentries - 1]->hash, 32);
        free(fs->member_seen);
        fs->member_seen = seen;
        fs->nmember_seen = st->nentries;
        free(fs->epoch_seen);
        fs->epoch_seen = epochs;
        fs->nepoch_seen = st->nepochs;
        pthread_mutex_unlock(&fs->head_lock);
}

/*
 * 1 if fold ST still has every membership entry this mount had verified.  A
 * fold that lost one (it cannot happen with an honest store and the local
 * cache; it would roll back a removal or a rotation) is not used: logged.
 */
static int fs_fold_grows(struct fs *fs, const struct members_state *st)
{
        size_t i;
        int ok = 1;

        pthread_mutex_lock(&fs->head_lock);
        for (i = 0; i < fs->nmember_seen && ok; i++)
                ok = members_has_entry(st, fs->member_seen[i]);
        pthread_mutex_unlock(&fs->head_lock);
        if (!ok)
                log_err("region %s: the membership log lost an entry this mount had verified; "
                        "keeping the previous state",
                        fs->region->name);
        return ok;
}

/* 1 if HASH is among the N hashes V (a snapshot of FS under head_lock). */
static int fs_seen_has(struct fs *fs, uint8_t (*const *v)[32], const size_t *n,
                       const uint8_t hash[static 32])
{
        size_t i;
        int known = 0;

        pthread_mutex_lock(&fs->head_lock);
        for (i = 0; i < *n && !known; i++)
                known = memcmp((*v)[i], hash, 32) == 0;
        pthread_mutex_unlock(&fs->head_lock);
        return known;
}

static int fs_member_known(void *arg, const uint8_t hash[static 32])
{
        struct fs *fs = arg;

        return fs_seen_has(fs, &fs->member_seen, &fs->nmember_seen, hash);
}

static int fs_epoch_known(void *arg, const uint8_t epoch_id[static 32])
{
        struct fs *fs = arg;

        return fs_seen_has(fs, &fs->epoch_seen, &fs->nepoch_seen, epoch_id);
}

const struct pull_ops fs_pull_ops = {
    .apply = fs_apply,
    .entry_done = fs_apply_entry_done,
    .epoch_key = fs_keys_lookup,
    .member_known = fs_member_known,
    .epoch_known = fs_epoch_known,
    .undo = fs_apply_undo,
};

/* Reports an alarm of fold ST once (until it changes): the last verified state is used. */
static void fs_members_alarm(struct fs *fs, const struct members_state *st)
{
        if ((int)st->alarm == fs->members_alarm)
                return;
        fs->members_alarm = (int)st->alarm;
        if (st->alarm != MEMBERS_OK)
                log_warn("region %s: the membership log stops at a signed entry that does not "
                         "verify (%s); using the last verified state",
                         fs->region->name, members_alarm_name(st->alarm));
}

/* The devices' names of fold ST become the labels of conflict names (fs_device_label). */
static void fs_set_labels(struct fs *fs, const struct members_state *st)
{
        size_t n = st->nmembers + st->nremoved, i, j;
        struct fs_label *l = calloc(n ? n : 1, sizeof(*l)), *old;

        if (l == NULL)
                return; /* the old names (or hex ids) stay */
        /* Removed devices keep their names: a conflict copy of a version of theirs is
         * named the same before and after its author's removal is known (U3, C5). */
        for (i = 0; i < n; i++) {
                const struct member_device *d =
                    i < st->nmembers ? &st->members[i] : &st->removed[i - st->nmembers].device;

                memcpy(l[i].device_id, d->device_id, 16);
                snprintf(l[i].name, sizeof(l[i].name), "%s", d->name);
                for (j = 0; l[i].name[j] != '\0'; j++)
                        if (l[i].name[j] == '/')
                                l[i].name[j] = '_';
        }
        pthread_mutex_lock(&fs->labels_lock);
        old = fs->labels;
        fs->labels = l;
        fs->nlabels = n;
        pthread_mutex_unlock(&fs->labels_lock);
        free(old);
}

/* The peers of fold ST (every active device; pull skips this one) into a new *OUT, *N. */
static int fs_peers_of(const struct members_state *st, struct pull_peer **out, size_t *n)
{
        struct pull_peer *peers;
        size_t i, k = st->nmembers + st->nremoved;

        peers = calloc(k ? k : 1, sizeof(*peers));
        if (peers == NULL)
                return -ENOMEM;
        for (i = 0; i < k; i++) {
                const struct member_device *d =
                    i < st->nmembers ? &st->members[i] : &st->removed[i - st->nmembers].device;

                memcpy(peers[i].device_id, d->device_id, 16);
                memcpy(peers[i].sign_pk, d->sign_pk, 32);
                peers[i].role = d->role;
                members_standing(st, d->device_id, &peers[i].standing); /* invariant R5 */
                if (i >= st->nmembers) {
                        const struct members_removed *r = &st->removed[i - st->nmembers];

                        peers[i].removed = 1;
                        peers[i].cutoff_seq = r->cutoff_seq;
                        memcpy(peers[i].cutoff_hash, r->cutoff_hash, 32);
                }
        }
        *out = peers;
        *n = k;
        return 0;
}

/* Records LISTING as the members/ listing the mount follows (fs_members_changed). */
static void fs_members_listed(struct fs *fs, const uint8_t listing[static 32])
{
        pthread_mutex_lock(&fs->head_lock);
        memcpy(fs->members_listing, listing, 32);
        fs->members_listing_ok = 1;
        pthread_mutex_unlock(&fs->head_lock);
}

static void fs_refresh_keys(struct fs *fs, const struct members_state *st);

/*
 * The verified membership at mount: the store's log folded with the local
 * cache (membership_refresh), or, when the store's log cannot be read (an
 * offline mount), the local cache alone.  Devices enrolled meanwhile are
 * picked up by the puller's refresh once the store answers.
 */
static int fs_load_members(struct fs *fs, struct store *store, struct members_state **out)
{
        uint8_t listing[32];
        int listed = membership_digest(store, fs->region_id, listing) == 0, rc;

        rc = membership_refresh(store, fs->region, out);
        if (rc == 0) {
                /* R1: this fold's keys, should they be newer than the ones mounted with
                 * (no thread runs yet); its listing is the one the checks compare with. */
                fs_refresh_keys(fs, *out);
                if (listed)
                        fs_members_listed(fs, listing);
        }
        if (rc != 0 && rc != -ENOMEM && rc != -EBADMSG) {
                log_warn("region %s: %s (%s); mounting with the membership known locally",
                         fs->region->name,
                         membership_transient(rc) ? "the store is unreachable"
                                                  : "cannot read the membership log in the store",
                         strerror(-rc));
                rc = region_load_members(fs->region, out);
        }
        if (rc != 0) {
                log_err("cannot load the membership: %s", strerror(-rc));
                return rc;
        }
        fs_members_alarm(fs, *out);
        fs_follow_role(fs, *out);
        fs_set_member_head(fs, *out);
        atomic_store(&fs->key_hold, (*out)->cur_tainted);
        return 0;
}

/*
 * Environment variable NAME as a number from LO to HI (for measuring), or
 * DFLT when it is not set; anything else is refused with a warning.
 */
static int fs_env_int(const char *name, long lo, long hi, int dflt)
{
        const char *v = getenv(name);
        char *end = NULL;
        long n;

        if (v == NULL)
                return dflt;
        errno = 0;
        n = strtol(v, &end, 10);
        if (errno == 0 && end != v && *end == '\0' && n >= lo && n <= hi)
                return (int)n;
        log_warn("%s=%s is not a number from %ld to %ld; using %d", name, v, lo, hi, dflt);
        return dflt;
}

/*
 * Helper threads for sealing a write's blocks (util/par.h): SEALSYNC_SEAL_THREADS
 * (0..PAR_MAX_THREADS) or the number of cores minus one.
 */
static int fs_seal_threads(void)
{
        return fs_env_int("SEALSYNC_SEAL_THREADS", 0, PAR_MAX_THREADS, par_default_threads());
}

/* 1 if environment variable NAME is set to "1". */
static int fs_env_flag(const char *name)
{
        const char *v = getenv(name);

        return v != NULL && strcmp(v, "1") == 0;
}

/* The puller, with the peers of the verified membership fold. */
static int fs_open_pull(struct fs *fs, struct store *store)
{
        struct members_state *st = NULL;
        struct pull_peer *peers = NULL;
        size_t n = 0;
        int rc;

        rc = fs_load_members(fs, store, &st);
        if (rc != 0)
                return rc;
        fs_set_labels(fs, st);
        rc = fs_peers_of(st, &peers, &n);
        members_state_free(st);
        if (rc != 0)
                return rc;
        rc = pull_new(&fs->pull, store, fs->ix, fs->region_id, fs->device_id, peers, n,
                      &fs_pull_ops, fs);
        free(peers);
        if (rc != 0) {
                log_err("cannot start the puller: %s", strerror(-rc));
                return rc;
        }
        pull_set_spool(fs->pull, fs->data_dirfd); /* the region's private data directory */
        if (fs->id != NULL)
                pull_set_self_key(fs->pull, fs->id->sign_pk); /* own versions to go back to */
        /* On-demand content (doc/DESIGN.md); SEALSYNC_EAGER=1 downloads everything as before. */
        pull_set_lazy(fs->pull, !fs_env_flag("SEALSYNC_EAGER"));
        /* Tests shorten the wait before a missing seen entry is the alarm withheld. */
        if (getenv("SEALSYNC_WITHHELD_GRACE_S") != NULL)
                pull_set_withheld_grace(fs->pull,
                                        strtol(getenv("SEALSYNC_WITHHELD_GRACE_S"), NULL, 10));
        /* ... and before a listing's gap is the alarm journal-gap (FOUND.md B5). */
        if (getenv("SEALSYNC_GAP_GRACE_S") != NULL)
                pull_set_gap_grace(fs->pull, strtol(getenv("SEALSYNC_GAP_GRACE_S"), NULL, 10));
        fs_ckpt_setup(fs); /* a device with no marks starts from a checkpoint */
        rc = fs_pins_load(fs);
        if (rc == 0)
                fs_apply_mount_tidy(fs); /* a placeholder directory left by the last run */
        if (rc == 0)
                rc = fs_names_settle(fs); /* rule 5 on the state found (a crash may have cut it) */
        if (rc != 0)
                return rc;
        rc = confirm_new(&fs->confirm, store, fs->ix, fs->pull, fs->region_id, fs->device_id,
                         fs->sign_sk);
        if (rc != 0) {
                log_err("cannot start the acknowledgement exchange: %s", strerror(-rc));
                return rc;
        }
        /* Our head at mount (fs_commit_init): what the first ack carries. */
        confirm_note_own(fs->confirm, fs->journal_seq, fs->journal_head);
        return 0;
}

/*
 * The epoch keys of the refreshed fold ST: installed if the epoch set
 * changed (fs_keys_install; commits from then on use the new current
 * epoch).  No wrap of the current epoch for this device (-EACCES: removed)
 * keeps the old keys and makes the mount read-only (fs_keys_lost).  Other
 * failures keep the old keys and are logged.
 */
static void fs_refresh_keys(struct fs *fs, const struct members_state *st)
{
        struct region_keys *k = NULL;
        int rc;

        if (fs->id == NULL)
                return;
        rc = region_keys_from_state(fs->id, fs->region, st, &k);
        if (rc == -EACCES) {
                fs_keys_lost(fs);
                return;
        }
        if (rc == 0 && fs_keys_install(fs, k) < 0)
                rc = -EINVAL;
        /* R1: never seal on under a key the fold has retired: commits wait for a fold
         * whose keys install. */
        if (atomic_exchange(&fs->keys_behind, rc != 0) != (rc != 0) || rc != 0)
                log_err("region %s: %s", fs->region->name,
                        rc != 0 ? "cannot install the refreshed membership's keys; commits wait "
                                  "until a refresh succeeds"
                                : "the membership's keys are installed again; commits resume");
}

/*
 * While mounted (the puller thread): folds the membership again, installs
 * its epoch keys, and adds the devices enrolled since to the puller.
 * Failures are logged where detected (an unreachable store as a warning);
 * the puller keeps its peers and the mount its keys.
 */
const char *fs_key_warn_name(int warn)
{
        static const char *const names[] = {"ok",      "stale",           "needs-rotation",
                                            "removed", "rotation-failed", "held"};

        return warn >= 0 && warn < (int)(sizeof(names) / sizeof(names[0])) ? names[warn] : "?";
}

/* Records W for `status`, logging a change once. */
static void fs_key_warn(struct fs *fs, int w)
{
        if (atomic_exchange(&fs->key_warn, w) == w || w == FS_KEY_OK)
                return;
        log_warn("region %s: key: %s", fs->region->name, fs_key_warn_name(w));
}

/* Builds, signs and puts a ROTATE_KEY on top of ST with the current key. */
static int fs_rotate(struct fs *fs, const struct members_state *st, uint64_t now)
{
        uint8_t id[32], *obj = NULL;
        const uint8_t *key = fs_keys_current(fs, id);
        size_t len = 0;
        int rc;

        if (memcmp(id, st->epoch_id, 32) != 0)
                return -EAGAIN; /* this fold's keys are not installed (logged there) */
        rc = members_build_rotate(st, fs->id, key, 1, now, &obj, &len, NULL);
        if (rc == 0)
                rc = membership_append(fs->store, fs->region_id, obj, len);
        free(obj);
        return rc;
}

/*
 * Switches the mount to fold ST (doc/SYNC.md R1): its epoch keys, this
 * device's role, the key hold and the membership head the commits name,
 * together, between two commit rounds (commit_lock): a round seals and
 * names one membership from start to end.
 */
static void fs_members_switch(struct fs *fs, const struct members_state *st)
{
        pthread_mutex_lock(&fs->commit_lock);
        fs_refresh_keys(fs, st);
        fs_follow_role(fs, st);
        atomic_store(&fs->key_hold, st->cur_tainted);
        fs_set_member_head(fs, st);
        pthread_mutex_unlock(&fs->commit_lock);
}

/*
 * A fold that asks for a rotation (a member without the current key, or a
 * key older than the region's max_key_age) is answered by a device allowed
 * to rotate, at once; the others record the warning for `status`.  After a
 * rotation *STP is refolded and its keys installed.
 */
static void fs_maybe_rotate(struct fs *fs, struct members_state **stp)
{
        const struct members_state *st = *stp;
        const struct member_device *me = members_find(st, fs->device_id);
        time_t t = time(NULL);
        uint64_t now = t < 0 ? 0 : (uint64_t)t;
        struct members_state *again = NULL;
        uint8_t listing[32];
        int stale = members_key_stale(st, now), rc, listed;

        if (me == NULL) {
                fs_key_warn(fs,
                            members_find_removed(st, fs->device_id) ? FS_KEY_REMOVED : FS_KEY_OK);
                return;
        }
        if (st->alarm != MEMBERS_OK || (!st->needs_rotate && !stale)) {
                fs_key_warn(fs, FS_KEY_OK);
                return;
        }
        if (fs->id == NULL || fs->push == NULL || !members_may_rotate(st, me, now)) {
                fs_key_warn(fs, st->cur_tainted ? FS_KEY_HELD
                                : stale         ? FS_KEY_STALE
                                                : FS_KEY_NEEDS_ROTATE);
                return;
        }
        rc = fs_rotate(fs, st, now);
        if (rc != 0) {
                log_err("region %s: cannot rotate the key (%s): %s", fs->region->name,
                        stale ? "older than max_key_age" : "a member holds no current key",
                        strerror(-rc));
                fs_key_warn(fs, FS_KEY_ROTATE_FAILED);
                return;
        }
        log_info("region %s: rotated the key (%s)", fs->region->name,
                 stale ? "it was older than max_key_age" : "a member held no key of it");
        fs_key_warn(fs, FS_KEY_OK);
        listed = membership_digest(fs->store, fs->region_id, listing) == 0;
        if (membership_refresh(fs->store, fs->region, &again) != 0)
                return; /* the next refresh picks the new epoch up */
        members_state_free(*stp);
        *stp = again;
        fs_members_switch(fs, again);
        if (listed)
                fs_members_listed(fs, listing); /* our own rotation is no news to the check */
}

/*
 * Uses fold ST (freed here): the switch (R1), a rotation if the fold asks
 * for one, the labels and the puller's peers.  Returns 0, or -ESTALE if ST
 * lost an entry this mount had verified (not used).
 */
static int fs_members_use(struct fs *fs, struct members_state *st, const uint8_t *listing)
{
        struct pull_peer *peers = NULL;
        size_t n = 0;
        int rc;

        if (!fs_fold_grows(fs, st)) {
                members_state_free(st);
                return -ESTALE;
        }
        fs_members_alarm(fs, st);
        fs_members_switch(fs, st);
        if (listing != NULL)
                fs_members_listed(fs, listing); /* ST holds every entry it names */
        fs_maybe_rotate(fs, &st);               /* after a rotation: switched to its fold */
        pull_keys_refreshed(fs->pull);          /* a journal waiting for an epoch is retried */
        fs_set_labels(fs, st);
        rc = fs_peers_of(st, &peers, &n);
        members_state_free(st);
        if (rc != 0) {
                log_err("cannot refresh the peers: %s", strerror(-rc));
                return 0; /* the mount switched; the puller keeps its peers */
        }
        /* A changed key is an alarm (logged, listed by `status`); the pinned key stays. */
        if (pull_set_peers(fs->pull, peers, n) != 0)
                log_debug("the membership refresh left some peers unchanged");
        free(peers);
        return 0;
}

/*
 * The store's fold, used.  The listing is taken before the fold's own LIST,
 * so the fold holds every entry it names (an honest store's listings only
 * grow).  Returns 0 or a negative errno (logged where detected).
 */
static int fs_refresh_peers_locked(struct fs *fs)
{
        struct members_state *st = NULL;
        uint8_t listing[32];
        int listed = membership_digest(fs->store, fs->region_id, listing) == 0;
        int rc = membership_refresh(fs->store, fs->region, &st);

        if (rc == 0)
                rc = fs_members_use(fs, st, listed ? listing : NULL);
        return rc;
}

void fs_refresh_peers(struct fs *fs)
{
        pthread_mutex_lock(&fs->members_lock); /* the puller thread and `sync` requests */
        (void)fs_refresh_peers_locked(fs);
        pthread_mutex_unlock(&fs->members_lock);
}

int fs_members_changed(struct fs *fs)
{
        uint8_t listing[32];
        int rc, same;

        if (fs->store == NULL)
                return 0;
        rc = membership_digest(fs->store, fs->region_id, listing);
        if (rc != 0)
                return rc;
        pthread_mutex_lock(&fs->head_lock);
        same = fs->members_listing_ok && memcmp(fs->members_listing, listing, 32) == 0;
        pthread_mutex_unlock(&fs->head_lock);
        return !same;
}

int fs_members_switch_to(struct fs *fs, const uint8_t entry[static 32])
{
        struct members_state *st = NULL;
        int rc;

        if (fs->store == NULL)
                return 0; /* not syncing: nothing is sealed for the store while mounted */
        pthread_mutex_lock(&fs->members_lock);
        rc = fs_refresh_peers_locked(fs);
        if (!fs_member_known(fs, entry)) {
                /* The store did not answer or hides it: the command cached it here. */
                int lrc = region_load_members(fs->region, &st);

                if (lrc == 0)
                        lrc = fs_members_use(fs, st, NULL);
                if (rc == 0)
                        rc = lrc;
        }
        if (fs_member_known(fs, entry))
                rc = 0;
        else if (rc == 0)
                rc = -ENOENT;
        pthread_mutex_unlock(&fs->members_lock);
        return rc;
}

static uint64_t fs_durable_seq(void *arg)
{
        struct fs *fs = arg;

        return __atomic_load_n(&fs->committed_seq, __ATOMIC_ACQUIRE);
}

/* The pusher found this home restored or cloned (K1): the alarm, in the puller's list. */
static void fs_cloned(void *arg, uint64_t seq, const char *object, const char *text)
{
        struct fs *fs = arg;

        if (fs->pull == NULL || pull_ack_alarm(fs->pull, fs->device_id, PULL_ALARM_CLONED_DEVICE,
                                               seq, object[0] != '\0' ? object : NULL, text) != 0)
                log_err("%s", text);
}

/*
 * 1 while nothing but journal entries may be published: until the pusher's
 * first checks have passed (the home may be a clone, K1), and for good once
 * it has stopped (cloned-device).
 */
int fs_publish_held(struct fs *fs)
{
        struct push_status ps;

        if (fs->push == NULL)
                return 0;
        push_get_status(fs->push, &ps);
        return ps.stopped || !ps.checked;
}

static void fs_pack_sent(void *arg, const uint8_t hash[32])
{
        fs_pin_drop_pack(arg, hash);
}

static int64_t fs_round_start(void *arg)
{
        const struct fs *fs = arg;

        return (int64_t)atomic_load(&fs->round_start);
}

/* The pusher, with what K1 and S1 check (sync/push.h). */
static int fs_start_push(struct fs *fs, const struct fsmount_opts *o, struct store *store,
                         const char *outbox, int stepped)
{
        struct push_self self = {.head_seq = fs->journal_seq,
                                 .cloned = fs_cloned,
                                 .block_read = fs_pin_read,
                                 .pack_sent = fs_pack_sent,
                                 .round_start = fs_round_start,
                                 .block_arg = fs};
        int rc;

        memcpy(self.head_hash, fs->journal_head, 32);
        memcpy(self.sign_pk, o->id->sign_pk, 32);
        memcpy(self.region_id, o->region->id, 32);
        memcpy(self.genesis_hash, o->region->genesis_hash, 32);
        rc = (stepped ? push_start_stepped : push_start)(&fs->push, store, outbox, fs->region_hex,
                                                         fs->device_id, fs_durable_seq, fs, &self);
        if (rc != 0)
                log_err("cannot start the uploader: %s", strerror(-rc));
        return rc;
}

/* Outbox, commit state, store and pusher (doc/SYNC.md). */
static int fs_open_sync(struct fs *fs, const struct fsmount_opts *o, struct store **store,
                        int stepped)
{
        char path[PATH_MAX];
        int rc;

        if (o->id == NULL || o->id->sign_sk == NULL || o->read_only || o->no_sync)
                return 0;
        if (snprintf(path, sizeof(path), "%s/outbox", o->region->dir) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
                return -errno;
        fs->outbox_dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fs->outbox_dirfd < 0)
                return -errno;
        fs->sign_sk = o->id->sign_sk;
        fs->id = o->id;
        memcpy(fs->device_id, o->id->device_id, 16);
        memcpy(fs->member_head, o->region->genesis_hash, 32); /* until the fold below */
        hex_encode(fs->region_hex, o->region->id, REGION_ID_LEN);
        rc = fs_commit_init(fs);
        if (rc != 0) {
                log_err("cannot read the sync state: %s", strerror(-rc));
                return rc;
        }
        rc = o->store != NULL ? 0 : store_open(o->region->store_url, store);
        if (rc != 0) {
                log_err("cannot open the store %s: %s", o->region->store_url, strerror(-rc));
                return rc;
        }
        if (o->store != NULL)
                *store = o->store; /* the caller's (fsmount_open): not closed here */
        /* S1: a missing store mounts offline; the pusher checks again before publishing. */
        rc = store_check(*store, o->region->id, o->region->genesis_hash);
        if (rc == -ENOMEDIUM)
                log_err("store-missing: the store %s has no sealsync store marker or does not "
                        "hold this region; mounting offline, nothing is published until it is "
                        "back",
                        o->region->store_url);
        else if (rc != 0)
                log_warn("cannot check the store %s (%s); the uploader checks it again",
                         o->region->store_url, strerror(-rc));
        fs->region = o->region;
        fs->store = *store;
        rc = fs_open_pull(fs, *store);
        /* A daemon fetches an entry's packs 3 at a time; the simulation (stepped)
         * one at a time, so that a seed replays its store's requests in order. */
        if (rc == 0 && !stepped)
                pull_set_fetch_par(fs->pull, fs_env_int("SEALSYNC_FETCH_PAR", 1, 4, 3));
        /* After the puller: the pusher raises cloned-device in its alarm list. */
        return rc == 0 ? fs_start_push(fs, o, *store, path, stepped) : rc;
}

/* Stops the pusher, the acknowledgements and the puller, in that order. */
static void fs_stop_engines(struct fs *fs)
{
        push_stop(fs->push);
        fs->push = NULL;
        confirm_free(fs->confirm);
        fs->confirm = NULL;
        pull_free(fs->pull);
        fs->pull = NULL;
        free(fs->inval);
        fs->inval = NULL;
}

/* Commits what is left and uploads for a bounded time; the rest waits in the outbox. */
static void fs_close_sync(struct fs *fs)
{
        size_t n = 0;
        int rc;

        if (fs->push == NULL)
                return;
        rc = fs_commit(fs, &n);
        if (rc == 0)
                rc = push_drain(fs->push, FS_UNMOUNT_DRAIN_S);
        if (rc != 0)
                log_warn("unmounting with changes not yet uploaded (%s); they are kept in the "
                         "outbox and sent at the next mount",
                         strerror(-rc));
        fs_sync_state_save(fs, 1); /* committed with the index at close */
        fs_stop_engines(fs);
}

static void fs_close_state(struct fs *fs)
{
        int rc;

        if (fs->table != NULL)
                fs_table_release(fs);
        if (fs->ix != NULL) {
                rc = index_close(fs->ix);
                if (rc != 0)
                        log_err("closing the index failed: %s", strerror(-rc));
                fs->ix = NULL;
        }
        if (fs->data_dirfd >= 0)
                close(fs->data_dirfd);
        fs->data_dirfd = -1;
        if (fs->outbox_dirfd >= 0)
                close(fs->outbox_dirfd);
        fs->outbox_dirfd = -1;
        fs_pin_close(fs);
        fs_keys_release(fs); /* every thread has stopped */
        free(fs->member_seen);
        fs->member_seen = NULL;
        free(fs->epoch_seen);
        fs->epoch_seen = NULL;
}

/*
 * Daemonizing: SQLite and threads must not cross a fork, so we fork first.
 * The parent waits for the child's report on a pipe (0 once the mount is
 * live, else the negative errno) and returns it; the child carries on.
 */
static int fs_fork(int *report_fd)
{
        int p[2], status = -EIO;
        pid_t pid;
        ssize_t n;

        if (pipe2(p, O_CLOEXEC) != 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                close(p[0]);
                close(p[1]);
                return -errno;
        }
        if (pid == 0) {
                close(p[0]);
                setsid();
                *report_fd = p[1];
                return 1;
        }
        close(p[1]);
        do
                n = read(p[0], &status, sizeof(status));
        while (n < 0 && errno == EINTR);
        close(p[0]);
        if (n != (ssize_t)sizeof(status))
                status = -EIO; /* the child died before reporting */
        return status;
}

static void fs_report(int *report_fd, int status)
{
        int nul;

        if (*report_fd < 0)
                return;
        if (write(*report_fd, &status, sizeof(status)) != (ssize_t)sizeof(status))
                log_warn("cannot report mount status to the parent");
        close(*report_fd);
        *report_fd = -1;
        if (status != 0)
                return;
        /* Detach from the terminal: logging continues in mount.log. */
        nul = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (nul >= 0) {
                dup2(nul, 0);
                dup2(nul, 1);
                dup2(nul, 2);
                if (nul > 2)
                        close(nul);
        }
        log_quiet_stderr();
        if (chdir("/") != 0)
                log_warn("chdir /: %s", strerror(errno));
}

#define FS_PULL_INTERVAL_S 3
#define FS_MEMBERS_EVERY_ROUNDS 10 /* refresh the membership about every 30 s */
#define FS_ACKS_EVERY_ROUNDS 10    /* read the peers' acknowledgements about every 30 s */

/*
 * Pulls other devices' changes every few seconds (doc/SYNC.md step 3); every
 * FS_MEMBERS_EVERY_ROUNDS rounds, first refreshes the membership so devices
 * enrolled while mounted are pulled too (doc/SYNC.md "Membership").  After
 * each round, publishes this device's acknowledgement if it changed (at most
 * every CONFIRM_PUBLISH_EVERY_S), and every FS_ACKS_EVERY_ROUNDS rounds
 * reads the peers' (doc/SYNC.md "Acknowledgements").
 */
static void *fs_puller_main(void *arg)
{
        struct fs *fs = arg;
        unsigned rounds = 0;

        pthread_mutex_lock(&fs->flush_lock);
        while (!fs->stopping) {
                struct timespec ts;
                unsigned applied = 0;
                int rc;

                /* The first round at once: a new device shows the region soon. */
                if (rounds > 0) {
                        clock_gettime(CLOCK_REALTIME, &ts);
                        ts.tv_sec += FS_PULL_INTERVAL_S;
                        pthread_cond_timedwait(&fs->flush_cond, &fs->flush_lock, &ts);
                }
                if (fs->stopping)
                        break;
                pthread_mutex_unlock(&fs->flush_lock);
                /* A peer's journal waiting for an epoch key: refresh now, not in 30 s. */
                /* R3/R4: a changed members/ listing (one LIST) is followed at once. */
                if (++rounds % FS_MEMBERS_EVERY_ROUNDS == 0 || pull_wants_keys(fs->pull) ||
                    fs_members_changed(fs) == 1)
                        fs_refresh_peers(fs);
                rc = pull_round(fs->pull, &applied);
                if (applied > 0) {
                        log_info("applied %u remote version(s)", applied);
                        if (index_commit(fs->ix) != 0)
                                log_err("cannot commit applied remote versions");
                }
                if (rc != 0 && rc != -EAGAIN && rc != -ENOMEDIUM)
                        log_warn("pulling failed: %s", strerror(-rc));
                /* A cloned home publishes nothing, acknowledgements and checkpoints
                 * included (K1).  Failures are logged once by the exchange and retried. */
                if (!fs_publish_held(fs) &&
                    confirm_round(fs->confirm, rounds % FS_ACKS_EVERY_ROUNDS == 0, 0) != 0)
                        log_debug("the acknowledgement exchange did not complete");
                if (!fs_publish_held(fs))
                        fs_ckpt_maybe(fs);
                pthread_mutex_lock(&fs->flush_lock);
        }
        pthread_mutex_unlock(&fs->flush_lock);
        return NULL;
}

static int fs_serve(struct fs *fs, struct fuse_session *se)
{
        struct fuse_loop_config *cfg;
        pthread_t puller;
        int rc, puller_running = 0;

        pthread_mutex_init(&fs->flush_lock, NULL);
        pthread_cond_init(&fs->flush_cond, NULL);
        fs->se = se;
        if (pthread_create(&fs->flusher, NULL, fs_flusher_main, fs) == 0)
                fs->flusher_running = 1;
        else
                log_warn("no group-commit thread: the index commits on fsync and unmount only");
        if (fs->pull != NULL) {
                if (pthread_create(&puller, NULL, fs_puller_main, fs) == 0)
                        puller_running = 1;
                else
                        log_warn("no pull thread: remote changes are not applied");
        }
        cfg = fuse_loop_cfg_create();
        if (cfg == NULL)
                return -ENOMEM;
        fuse_loop_cfg_set_clone_fd(cfg, 0);
        fuse_loop_cfg_set_max_threads(cfg, 16);
        fuse_loop_cfg_set_idle_threads(cfg, 4);
        rc = fuse_session_loop_mt(se, cfg);
        fuse_loop_cfg_destroy(cfg);
        pthread_mutex_lock(&fs->flush_lock);
        fs->stopping = 1;
        pthread_cond_broadcast(&fs->flush_cond);
        pthread_mutex_unlock(&fs->flush_lock);
        if (fs->flusher_running)
                pthread_join(fs->flusher, NULL);
        if (puller_running)
                pthread_join(puller, NULL);
        fs->se = NULL;
        log_info("unmounted");
        return rc < 0 ? rc : 0;
}

int fsmount_run(const struct fsmount_opts *o)
{
        char logpath[PATH_MAX], mntopts[1024];
        char *argv[4] = {"sealsync", "-o", NULL, NULL};
        struct fuse_args args;
        struct fuse_session *se = NULL;
        struct store *store = NULL;
        struct ctl *ctl = NULL;
        struct fs fs;
        int lockfd = -1, report_fd = -1, rc;

        memset(&fs, 0, sizeof(fs));
        fs.data_dirfd = -1;
        fs.outbox_dirfd = -1;
        pthread_mutex_init(&fs.ns_lock, NULL);
        pthread_mutex_init(&fs.labels_lock, NULL);
        pthread_mutex_init(&fs.pins_lock, NULL);
        rc = fsmount_check_mountpoint(o->mountpoint, o->nonempty);
        if (rc != 0)
                return rc;
        if (!o->foreground) {
                rc = fs_fork(&report_fd);
                if (rc <= 0)
                        return rc; /* the parent: the child's report */
        }
        fs_malloc_tune(); /* before any thread starts */
        rc = fs_lock_region(o->region, o->mountpoint, &lockfd);
        if (rc != 0) {
                fs_report(&report_fd, rc);
                return rc;
        }
        if (snprintf(logpath, sizeof(logpath), "%s/mount.log", o->region->dir) <
                (int)sizeof(logpath) &&
            log_open_file(logpath) != 0)
                log_warn("cannot open %s; logging to stderr only", logpath);
        rc = fs_open_state(&fs, o);
        if (rc == 0)
                rc = fs_open_sync(&fs, o, &store, 0);
        if (rc != 0)
                goto out;
        {
                char hex[65];

                hex_encode(hex, o->region->id, REGION_ID_LEN);
                /*
                 * nodev, nosuid explicitly (libfuse's defaults too): a device
                 * number or mode synced from another member never opens
                 * hardware nor raises privileges here (doc/SYNC.md C6).  The
                 * -o options come after them; cli/cmd_mount.c refuses dev and
                 * suid, so none can undo them.
                 */
                if (snprintf(mntopts, sizeof(mntopts),
                             "fsname=sealsync:%s,subtype=sealsync,default_permissions,nodev,"
                             "nosuid%s%s%s",
                             hex, o->read_only ? ",ro" : "", o->fuse_opts != NULL ? "," : "",
                             o->fuse_opts != NULL ? o->fuse_opts : "") >= (int)sizeof(mntopts)) {
                        rc = -E2BIG;
                        log_err("the mount options are too long");
                        goto out;
                }
        }
        argv[2] = mntopts;
        if (o->debug)
                argv[3] = "-d";
        args = (struct fuse_args)FUSE_ARGS_INIT(o->debug ? 4 : 3, argv);
        se = fuse_session_new(&args, fs_lowlevel_ops(), sizeof(struct fuse_lowlevel_ops), &fs);
        fuse_opt_free_args(&args); /* libfuse may have added arguments */
        if (se == NULL) {
                rc = -EIO;
                log_err("cannot create the FUSE session");
                goto out;
        }
        if (fuse_set_signal_handlers(se) != 0) {
                rc = -EIO;
                goto out_session;
        }
        if (fuse_session_mount(se, o->mountpoint) != 0) {
                rc = -EIO;
                log_err("cannot mount on %s (is /dev/fuse available and fusermount3 installed?)",
                        o->mountpoint);
                if (getuid() != 0 && o->fuse_opts != NULL &&
                    (strstr(o->fuse_opts, "allow_other") != NULL ||
                     strstr(o->fuse_opts, "allow_root") != NULL))
                        log_err("allow_other and allow_root need 'user_allow_other' in "
                                "/etc/fuse.conf when not mounting as root");
                goto out_signals;
        }
        /* Before the report: `status` works as soon as `mount` has returned. */
        if (ctl_start(&ctl, &fs, o->region->dir, o->mountpoint) != 0)
                ctl = NULL;       /* logged; the mount works without it */
        fs_report(&report_fd, 0); /* detaches from the terminal when daemonized */
        log_info("mounted region %s on %s", o->region->name, o->mountpoint);
        /* From the membership just folded (the store's log), not the caller's guess. */
        if (atomic_load(&fs.keys_lost))
                log_info("read-only: this device holds no key of region %s's current epoch "
                         "(removed?); every change is refused with EROFS",
                         o->region->name);
        else if (atomic_load(&fs.read_only) && !fs.user_read_only)
                log_info("read-only: this device is a reader in region %s; every change is "
                         "refused with EROFS",
                         o->region->name);
        {
                int n = fs_seal_threads();

                fs.par = n > 0 ? par_new(n) : NULL; /* NULL: writes seal inline */
        }
        rc = fs_serve(&fs, se);
        ctl_stop(ctl);
        fuse_session_unmount(se);
        fs_close_sync(&fs);
        par_free(fs.par);
        fs.par = NULL;
out_signals:
        fuse_remove_signal_handlers(se);
out_session:
        fuse_session_destroy(se);
out:
        fs_report(&report_fd, rc);
        if (fs.push != NULL) {
                push_stop(fs.push);
                fs.push = NULL;
        }
        confirm_free(fs.confirm);
        fs.confirm = NULL;
        pull_free(fs.pull);
        fs.pull = NULL;
        store_close(store);
        fs_close_state(&fs);
        free(fs.labels);
        fs_commit_fini(&fs);
        free(fs.pinq);
        close(lockfd);
        return rc;
}

/* fsmount_open and friends (fs/mount.h): the same state without FUSE or threads. */
int fsmount_open(const struct fsmount_opts *o, struct fs **out)
{
        struct store *store = NULL;
        struct fs *fs = calloc(1, sizeof(*fs));
        int rc;

        if (fs == NULL)
                return -ENOMEM;
        fs->data_dirfd = -1;
        fs->outbox_dirfd = -1;
        pthread_mutex_init(&fs->ns_lock, NULL);
        pthread_mutex_init(&fs->labels_lock, NULL);
        pthread_mutex_init(&fs->pins_lock, NULL);
        pthread_mutex_init(&fs->flush_lock, NULL);
        pthread_cond_init(&fs->flush_cond, NULL);
        rc = fs_open_state(fs, o);
        if (rc == 0)
                rc = fs_open_sync(fs, o, &store, 1);
        if (rc == 0 && index_dirty(fs->ix))
                rc = index_commit(fs->ix);
        if (rc != 0) {
                fsmount_close(fs, 0);
                return rc;
        }
        *out = fs;
        return 0;
}

int fsmount_step_commit(struct fs *fs, size_t *n)
{
        int rc;

        *n = 0;
        rc = fs->push != NULL ? fs_commit(fs, n) : 0;
        if (rc == 0 && index_dirty(fs->ix))
                rc = index_commit(fs->ix);
        if (rc == 0)
                fs_unlinked_drain(fs);
        return rc;
}

int fsmount_step_push(struct fs *fs)
{
        return fs->push != NULL ? push_step(fs->push) : 0;
}

int fsmount_step_pull(struct fs *fs, unsigned *applied)
{
        int rc, crc;

        *applied = 0;
        if (fs->pull == NULL)
                return 0;
        if (fs->in_mid_commit) {
                if (pull_booting(fs->pull))
                        return 0; /* the bootstrap reads the journal head under commit_lock */
        } else if (pull_wants_keys(fs->pull)) {
                fs_refresh_peers(fs); /* the switch takes commit_lock */
        }
        rc = pull_round(fs->pull, applied);
        crc = index_dirty(fs->ix) ? index_commit(fs->ix) : 0;
        if (crc == 0)
                fs_unlinked_drain(fs);
        return rc != 0 ? rc : crc;
}

void fsmount_set_mid_commit(struct fs *fs, void (*fn)(void *arg), void *arg)
{
        fs->mid_commit = fn;
        fs->mid_commit_arg = arg;
}

void fsmount_close(struct fs *fs, int clean)
{
        size_t n = 0;

        if (fs == NULL)
                return;
        if (clean && fs->ix != NULL)
                fs_content_expire(fs, 0);
        if (clean && fs->push != NULL && fs_commit(fs, &n) != 0)
                log_warn("closing with changes not committed");
        if (!clean && fs->ix != NULL) {
                index_abandon(fs->ix); /* a power cut: the open transaction is lost */
                fs->ix = NULL;
        }
        fs_stop_engines(fs);
        fs_close_state(fs);
        free(fs->labels);
        free(fs->pinq);
        free(fs);
}
