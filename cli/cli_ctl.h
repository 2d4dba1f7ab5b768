/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_CLI_CLI_CTL_H
#define SEALSYNC_CLI_CLI_CTL_H
/* The client side of the mount daemon's control socket (fs/ctl.h). */
#include <stddef.h>

#include "fs/ctl.h"
#include "keyring/region.h"

struct cli_ctl_reader {
        int fd;
        char buf[CTL_LINE_MAX];
        size_t len;
};

/*
 * The next line (without its newline) into LINE (CTL_LINE_MAX bytes).
 * Returns 0, -EPROTO (too long, or the daemon closed mid-reply), or a
 * negative errno (-EAGAIN: the receive timeout passed).
 */
int cli_ctl_line(struct cli_ctl_reader *r, char *line) __attribute__((warn_unused_result));

/*
 * Connects to the daemon of RI, sends REQ (with its newline), checks the
 * greeting; replies time out after TIMEOUT_S.  0, -ENOTCONN (not mounted)
 * or a negative errno.  On success the caller closes R->fd.
 */
int cli_ctl_open(const struct region_info *ri, const char *req, int timeout_s,
                 struct cli_ctl_reader *r) __attribute__((warn_unused_result));

/* cli_setup, then region NAME into *RI.  CLI_EXIT_* (a message printed on failure). */
int cli_ctl_region(const char *name, struct region_info *ri) __attribute__((warn_unused_result));

/* cli_ctl_open with the messages for "not mounted" and other failures.  CLI_EXIT_*. */
int cli_ctl_start(const struct region_info *ri, const char *req, int timeout_s,
                  struct cli_ctl_reader *r) __attribute__((warn_unused_result));

#endif
