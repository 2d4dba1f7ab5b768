/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_FS_CTL_H
#define SEALSYNC_FS_CTL_H
/*
 * The mount daemon's control socket: `sealsync status` and `sealsync sync`
 * talk to a mounted region through it (protocol: doc/CLI.md "Control
 * socket").
 *
 * The daemon listens on the Unix stream socket REGION_DIR/ctl.sock (mode
 * 0600, in the private region directory); a peer whose SO_PEERCRED uid is
 * not ours is refused.  One listener thread accepts; each connection is
 * served by its own short-lived thread (at most CTL_MAX_CONN at once), so a
 * long `sync` never delays a `status`.  A request is one line; the reply is
 * lines of "key value..." ending with "end".
 */
#include <stddef.h>

#define CTL_SOCKET_NAME "ctl.sock"
#define CTL_PROTO_VERSION 1
#define CTL_MAX_CONN 8
#define CTL_LINE_MAX 2048 /* longest line either side sends, newline included */

struct fs;
struct ctl;

/*
 * Starts serving FS, mounted at MOUNTPOINT, on REGION_DIR/ctl.sock: a
 * leftover socket there is removed first (the caller holds the region's
 * lock, so no other daemon owns it).  Returns 0 or a negative errno (logged;
 * the mount works without the socket).  FS must outlive ctl_stop.
 */
int ctl_start(struct ctl **out, struct fs *fs, const char *region_dir, const char *mountpoint)
    __attribute__((warn_unused_result));

/*
 * Stops accepting, waits for the connections being served (a `sync` ends
 * its wait at once and reports that the mount is going away; a pull round
 * in flight completes), removes the socket and frees C.  NULL is a no-op.
 */
void ctl_stop(struct ctl *c);

/*
 * Client side: connects to the daemon of the region in REGION_DIR.  Returns
 * 0 with *FD a connected socket (close it), -ENOENT or -ECONNREFUSED (no
 * daemon: no socket, or a stale one), or another negative errno.
 */
int ctl_connect(const char *region_dir, int *fd) __attribute__((warn_unused_result));

#endif
