/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sealsync forget: drops a region from this device (doc/CLI.md "forget").
 *
 * The region's directory (HOME/regions/<id hex>: region.conf, the pinned
 * genesis, the membership cache with the wrapped epoch keys, the index, the
 * local data, the outbox of sealed objects, mount.log) is removed; nothing
 * on the store is touched.  Files holding key material (genesis, members/,
 * invites/, region.conf, *.key) are overwritten with zeros and synced before they are
 * unlinked.  The region's lock is held throughout, so no mount of this
 * device home can start meanwhile; a mounted region is refused.
 *
 * Returns 0, 1 (a message on stderr) or 2 (usage error).
 */
#include "cli/cmd.h"
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keyring/region.h"
#include "util/hex.h"
#include "util/log.h"

static const char forget_usage[] =
    "usage: sealsync forget NAME [--yes]\n"
    "\n"
    "Drop region NAME from this device: its local data, index, membership cache\n"
    "and keys, saved S3 settings, and the sealed objects still waiting to upload\n"
    "are deleted (files holding key material are overwritten before they are\n"
    "unlinked).  Nothing on the store is touched: other devices keep the region,\n"
    "and this device can join it again with a new invite.  Changes not yet\n"
    "uploaded are lost.\n"
    "Refused while NAME is mounted by this device.  Asks for confirmation (type\n"
    "'yes') unless --yes is given.  Prints what it removed.\n"
    "\n"
    "      --yes    do not ask for confirmation\n"
    "  -h, --help   show this help\n";

/* Removal counts of one top-level entry of the region directory. */
struct forget_entry {
        char name[NAME_MAX + 1];
        uint64_t files, bytes, wiped;
};

/* What nftw's callback adds to (nftw has no user argument). */
static struct {
        size_t base_len; /* length of the region directory path */
        struct forget_entry *v;
        size_t n;
        int err; /* first errno */
} forget_walk;

/* 1 if REL (a path relative to the region directory) holds key material. */
static int forget_is_key_file(const char *rel)
{
        size_t n = strlen(rel);

        return strcmp(rel, "genesis") == 0 || strcmp(rel, "region.conf") == 0 ||
               strncmp(rel, "members/", 8) == 0 || strncmp(rel, "invites/", 8) == 0 ||
               (n > 4 && strcmp(rel + n - 4, ".key") == 0);
}

/* Overwrites the regular file PATH with zeros and syncs it.  0 or a negative errno. */
static int forget_overwrite(const char *path)
{
        static const char zeros[4096];
        struct stat st;
        off_t done = 0;
        int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC), rc = 0;

        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) != 0) {
                rc = -errno;
                goto out_close;
        }
        while (done < st.st_size) {
                size_t want = st.st_size - done < (off_t)sizeof(zeros) ? (size_t)(st.st_size - done)
                                                                       : sizeof(zeros);
                ssize_t w = pwrite(fd, zeros, want, done);

                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0) {
                        rc = w < 0 ? -errno : -EIO;
                        goto out_close;
                }
                done += w;
        }
        if (fsync(fd) != 0)
                rc = -errno;
out_close:
        if (close(fd) != 0 && rc == 0)
                rc = -errno;
        return rc;
}

/* The counts of the top-level entry REL belongs to (added if new), or NULL. */
static struct forget_entry *forget_entry_of(const char *rel)
{
        size_t l = strcspn(rel, "/"), i;
        struct forget_entry *v;

        if (l > NAME_MAX)
                return NULL;
        for (i = 0; i < forget_walk.n; i++)
                if (strncmp(forget_walk.v[i].name, rel, l) == 0 && forget_walk.v[i].name[l] == '\0')
                        return &forget_walk.v[i];
        v = realloc(forget_walk.v, (forget_walk.n + 1) * sizeof(*v));
        if (v == NULL)
                return NULL;
        forget_walk.v = v;
        v = &v[forget_walk.n++];
        memset(v, 0, sizeof(*v));
        memcpy(v->name, rel, l);
        v->name[l] = '\0';
        return v;
}

/* nftw callback (depth first): removes one entry; the lock file is left for last. */
static int forget_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
        const char *rel = path + forget_walk.base_len + 1;
        struct forget_entry *e;
        int rc;

        if (ftw->level == 0)
                return 0; /* the directory itself: removed by the caller */
        if (type == FTW_DP) {
                if (rmdir(path) != 0 && forget_walk.err == 0)
                        forget_walk.err = errno;
                return 0;
        }
        if (strcmp(rel, "lock") == 0)
                return 0;
        e = forget_entry_of(rel);
        if (e == NULL) {
                forget_walk.err = ENOMEM;
                return 1;
        }
        if (type == FTW_F && forget_is_key_file(rel)) {
                rc = forget_overwrite(path);
                if (rc != 0) {
                        log_err("cannot overwrite %s: %s", path, strerror(-rc));
                        forget_walk.err = -rc;
                        return 1; /* stop: a key file is never unlinked unwiped */
                }
                e->wiped++;
        }
        if (unlink(path) != 0) {
                log_err("cannot remove %s: %s", path, strerror(errno));
                forget_walk.err = errno;
                return 1;
        }
        e->files++;
        if (type == FTW_F)
                e->bytes += (uint64_t)st->st_size;
        return 0;
}

/* Asks on the terminal (stdin) whether to forget NAME.  1 yes, 0 no. */
static int forget_confirm(const char *name)
{
        char line[16];

        fprintf(stderr,
                "Forget region '%s' on this device?  Its local data, index and keys are "
                "deleted, and changes not yet uploaded are lost; the store is not touched.\n"
                "Type 'yes' to go on: ",
                name);
        if (fgets(line, sizeof(line), stdin) == NULL)
                return 0;
        line[strcspn(line, "\n")] = '\0';
        return strcmp(line, "yes") == 0;
}

/*
 * Takes the lock of RI (RI->dir/lock) into *FD.  CLI_EXIT_OK, or logs why
 * (mounted by this device, or an error) and returns CLI_EXIT_FAIL.
 */
static int forget_lock(const struct region_info *ri, int *fd)
{
        char path[sizeof(ri->dir) + 8], buf[PATH_MAX + 32], *mp;
        ssize_t n;

        snprintf(path, sizeof(path), "%s/lock", ri->dir);
        *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (*fd < 0) {
                log_err("%s: %s", path, strerror(errno));
                return CLI_EXIT_FAIL;
        }
        if (flock(*fd, LOCK_EX | LOCK_NB) == 0)
                return CLI_EXIT_OK;
        n = errno == EWOULDBLOCK ? pread(*fd, buf, sizeof(buf) - 1, 0) : -1;
        buf[n > 0 ? n : 0] = '\0';
        mp = strchr(buf, '\n');
        if (mp != NULL && mp[1] != '\0') {
                mp++;
                mp[strcspn(mp, "\n")] = '\0';
                log_err("region '%s' is mounted on %s: unmount it first ('sealsync umount %s')",
                        ri->name, mp, mp);
        } else {
                log_err("region '%s' is mounted by this device (or locked): unmount it first",
                        ri->name);
        }
        close(*fd);
        *fd = -1;
        return CLI_EXIT_FAIL;
}

static void forget_report(const char *name, const char *hex)
{
        size_t i;

        printf("forgot region '%s' (%s) on this device; the store was not touched\n", name, hex);
        for (i = 0; i < forget_walk.n; i++) {
                const struct forget_entry *e = &forget_walk.v[i];

                printf("  removed %-12s %" PRIu64 " file%s, %" PRIu64 " bytes", e->name, e->files,
                       e->files == 1 ? "" : "s", e->bytes);
                if (e->wiped > 0)
                        printf(" (%" PRIu64 " overwritten first)", e->wiped);
                putchar('\n');
        }
}

/*
 * Renames RI's directory out of the region list's way (HOME/regions/.forget-<hex>)
 * and removes everything in it.  CLI_EXIT_*.
 */
static int forget_remove(const struct region_info *ri, const char *hex)
{
        char gone[sizeof(ri->dir) + 96], *slash, lock[sizeof(gone) + 8];
        int rc;

        snprintf(gone, sizeof(gone), "%s", ri->dir);
        slash = strrchr(gone, '/');
        if (slash == NULL)
                return CLI_EXIT_FAIL;
        snprintf(slash + 1, sizeof(gone) - (size_t)(slash + 1 - gone), ".forget-%s", hex);
        if (rename(ri->dir, gone) != 0) {
                log_err("cannot move %s aside: %s", ri->dir, strerror(errno));
                return CLI_EXIT_FAIL;
        }
        memset(&forget_walk, 0, sizeof(forget_walk));
        forget_walk.base_len = strlen(gone);
        rc = nftw(gone, forget_one, 16, FTW_DEPTH | FTW_PHYS);
        if (rc == 0 && forget_walk.err == 0) {
                snprintf(lock, sizeof(lock), "%s/lock", gone);
                if (unlink(lock) != 0 || rmdir(gone) != 0)
                        forget_walk.err = errno;
        }
        if (rc != 0 || forget_walk.err != 0) {
                log_err("forgetting region '%s' stopped: %s (what is left is in %s; run "
                        "'rm -rf' on it)",
                        ri->name, strerror(forget_walk.err != 0 ? forget_walk.err : errno), gone);
                free(forget_walk.v);
                return CLI_EXIT_FAIL;
        }
        forget_report(ri->name, hex);
        free(forget_walk.v);
        return cli_finish_output();
}

int cmd_forget(int argc, char **argv)
{
        static const struct option opts[] = {
            {"yes", no_argument, NULL, 'y'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        char home[PATH_MAX], hex[2 * REGION_ID_LEN + 1];
        struct region_info ri;
        int c, status, yes = 0, fd = -1, ret, rc;

        cli_start_options();
        while ((c = cli_next_option("forget", forget_usage, argc, argv, opts, &status)) > 0)
                yes = 1; /* 'y', the only other option */
        if (c == 0)
                return status;
        if (argc - optind != 1)
                return cli_usage_error("forget", "expected one region NAME");
        ret = cli_setup(home, sizeof(home));
        if (ret != CLI_EXIT_OK)
                return ret;
        rc = region_load(home, argv[optind], &ri);
        if (rc != 0) {
                if (rc == -ENOENT)
                        log_err("unknown region '%s' (see 'sealsync list')", argv[optind]);
                else
                        log_err("region '%s': %s", argv[optind], strerror(-rc));
                return CLI_EXIT_FAIL;
        }
        ret = forget_lock(&ri, &fd);
        if (ret != CLI_EXIT_OK)
                return ret;
        hex_encode(hex, ri.id, REGION_ID_LEN);
        if (!yes && !forget_confirm(ri.name)) {
                log_err("forget: not confirmed; nothing was removed");
                close(fd);
                return CLI_EXIT_FAIL;
        }
        ret = forget_remove(&ri, hex);
        close(fd);
        return ret;
}
