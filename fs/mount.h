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
};

/*
 * Returns 0 after a clean unmount; before mounting: -EBUSY (region already
 * mounted by this device, or mount point busy), -ENOENT/-ENOTDIR (mount
 * point), -EBADMSG (local index does not authenticate), or a negative errno.
 * Errors are reported on stderr (and in mount.log) before returning.
 */
int fsmount_run(const struct fsmount_opts *o) __attribute__((warn_unused_result));

/* Checks that PATH is an existing directory that is not already a mount point. */
int fsmount_check_mountpoint(const char *path) __attribute__((warn_unused_result));

#endif
