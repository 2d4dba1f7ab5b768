/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The client side of the mount daemon's control socket, shared by status,
 * sync and pin (protocol: doc/CLI.md "Control socket").
 */
#include "cli/cli_s3.h"
#include "cli/cli_ctl.h"
#include "cli/cli.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "util/log.h"

/*
 * The next line (without its newline) into LINE (CTL_LINE_MAX bytes).
 * Returns 0, -EPROTO (too long, or the daemon closed mid-reply), or a
 * negative errno (-EAGAIN: the receive timeout passed).
 */
int cli_ctl_line(struct cli_ctl_reader *r, char *line)
{
        for (;;) {
                char *nl = memchr(r->buf, '\n', r->len);
                ssize_t n;

                if (nl != NULL) {
                        size_t l = (size_t)(nl - r->buf);

                        memcpy(line, r->buf, l);
                        line[l] = '\0';
                        memmove(r->buf, nl + 1, r->len - l - 1);
                        r->len -= l + 1;
                        return 0;
                }
                if (r->len == sizeof(r->buf))
                        return -EPROTO;
                n = recv(r->fd, r->buf + r->len, sizeof(r->buf) - r->len, 0);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
                if (n == 0)
                        return -EPROTO;
                r->len += (size_t)n;
        }
}

/* Connects to the daemon of RI, sends REQ, checks the greeting.  0, -ENOTCONN (not mounted). */
int cli_ctl_open(const struct region_info *ri, const char *req, int timeout_s,
                 struct cli_ctl_reader *r)
{
        struct timeval tv = {timeout_s, 0};
        char line[CTL_LINE_MAX];
        int rc, fd = -1;

        rc = ctl_connect(ri->dir, &fd);
        if (rc == -ENOENT || rc == -ECONNREFUSED)
                return -ENOTCONN;
        if (rc != 0)
                return rc;
        r->fd = fd;
        r->len = 0;
        errno = 0;
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
            send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
                rc = errno != 0 ? -errno : -EIO; /* a short send leaves errno unset */
                close(fd);
                return rc;
        }
        rc = cli_ctl_line(r, line);
        if (rc == 0 && strncmp(line, "sealsync-ctl ", 13) != 0)
                rc = -EPROTO;
        if (rc != 0)
                close(fd);
        return rc;
}

int cli_ctl_region(const char *name, struct region_info *ri)
{
        char home[PATH_MAX];
        int ret = cli_setup(home, sizeof(home)), rc;

        if (ret != CLI_EXIT_OK)
                return ret;
        rc = cli_region_load(home, name, ri);
        if (rc == 0)
                return CLI_EXIT_OK;
        if (rc == -ENOENT)
                log_err("unknown region '%s' (see 'sealsync list')", name);
        else
                log_err("region '%s': %s", name, strerror(-rc));
        return CLI_EXIT_FAIL;
}

int cli_ctl_start(const struct region_info *ri, const char *req, int timeout_s,
                  struct cli_ctl_reader *r)
{
        int rc = cli_ctl_open(ri, req, timeout_s, r);

        if (rc == 0)
                return CLI_EXIT_OK;
        if (rc == -ENOTCONN)
                log_err("region '%s' is not mounted (mount it with 'sealsync mount %s DIR')",
                        ri->name, ri->name);
        else
                log_err("cannot reach the mount daemon of region '%s': %s", ri->name,
                        strerror(-rc));
        return CLI_EXIT_FAIL;
}
