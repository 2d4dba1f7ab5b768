/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_FS_MOUNT_H
#define SEALSYNC_FS_MOUNT_H
/*
 * Mounting a region.  fsmount_run() opens the region's local state, mounts
 * with FUSE, daemonizes unless FOREGROUND (the caller's process returns
 * once the mount is live), serves requests on the multi-threaded loop and
 * returns after unmount with the index committed.
 */
#include <stdint.h>

#include "keyring/region.h"

struct fsmount_opts {
        const struct region_info *region;
        const struct region_keys *keys;
        const uint8_t *local_key;  /* 32 bytes: the device-local key */
        const struct identity *id; /* signs commits; NULL: never publish */
        const char *mountpoint;
        int foreground;
        int debug;
        int read_only;  /* --read-only: no changes, no syncing */
        int reader;     /* this device is a reader: no changes (EROFS), but it pulls */
        int forge_role; /* tests/tools/forgemount only: writable whatever the role says */
        int no_sync;    /* local only: changes stay marked and are published at a later mount */
        int nonempty;   /* --nonempty / -o nonempty: mount over a directory that holds entries */
        /*
         * NULL or extra FUSE mount options for libfuse ("allow_other,noatime"),
         * already checked against the list cli/cmd_mount.c accepts.
         */
        const char *fuse_opts;
        unsigned max_read; /* the number in fuse_opts' max_read=N, or 0 */
        /*
         * fsmount_open only (tests/sim): the store to use instead of opening
         * region->store_url (the caller's; it must outlive the mount).
         */
        struct store *store;
};

/*
 * Returns 0 after a clean unmount; before mounting: -EBUSY (region already
 * mounted by this device, or mount point busy), -ENOENT/-ENOTDIR (mount
 * point), -EBADMSG (local index does not authenticate), or a negative errno.
 * Errors are reported on stderr (and in mount.log) before returning.
 */
int fsmount_run(const struct fsmount_opts *o) __attribute__((warn_unused_result));

/*
 * Headless mount for the deterministic simulation (tests/sim): opens the
 * region's local state and sync machinery exactly as fsmount_run does, but
 * without FUSE, without a daemon and without any thread: nothing happens
 * unless the caller drives it (fs/fsint.h fs_api_* for file operations,
 * fsmount_step_* below for the committer, pusher and puller).  O->store
 * (if set) replaces the region's store.  *OUT is freed by fsmount_close.
 * Returns 0 or a negative errno (logged).
 */
struct fs;
int fsmount_open(const struct fsmount_opts *o, struct fs **out) __attribute__((warn_unused_result));
/* One commit round (fs_commit) and the index's group commit; *N: files committed. */
int fsmount_step_commit(struct fs *fs, size_t *n) __attribute__((warn_unused_result));
/* One upload pass (push_step): 0 when the outbox is empty. */
int fsmount_step_push(struct fs *fs) __attribute__((warn_unused_result));
/*
 * One pull round (pull_round) and the index's group commit; *APPLIED: versions
 * applied.  Called from the hook of fsmount_set_mid_commit, it neither
 * refreshes the membership nor bootstraps from a checkpoint (both wait for
 * the round to end: they take commit_lock), so it may apply nothing.
 */
int fsmount_step_pull(struct fs *fs, unsigned *applied) __attribute__((warn_unused_result));
/*
 * For the simulation (tests/sim): FN(ARG) runs in every commit round that
 * publishes, between sealing the round's journal entry and recording it in
 * the index, on the committing thread (commit_lock held): where a daemon's
 * puller thread may apply remote versions while a round is under way.  FN
 * may call fsmount_step_pull only.  NULL: none.
 */
void fsmount_set_mid_commit(struct fs *fs, void (*fn)(void *arg), void *arg);
/*
 * Closes a headless mount.  CLEAN: as an unmount (a last commit round, the
 * index committed); otherwise as a power cut: nothing more is written (the
 * index's open transaction is rolled back by SQLite at the next open).
 */
void fsmount_close(struct fs *fs, int clean);

/*
 * Checks that PATH is an existing directory that is not already a mount
 * point and, unless NONEMPTY, holds no entries.  Returns 0, -ENOTEMPTY,
 * -EBUSY, -ENOTDIR or a negative errno (logged, naming PATH).
 */
int fsmount_check_mountpoint(const char *path, int nonempty) __attribute__((warn_unused_result));

#endif
