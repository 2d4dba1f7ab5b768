/* SPDX-License-Identifier: Apache-2.0 */
/* sealsync mount / umount. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include "cli/cli.h"
#include "cli/cli_ctl.h"
#include "cli/cli_s3.h"
#include "cli/cmd.h"
#include "crypto/secmem.h"
#include "fs/mount.h"
#include "keyring/home.h"
#include "keyring/identity.h"
#include "keyring/member.h"
#include "keyring/members.h"
#include "keyring/passphrase.h"
#include "keyring/region.h"
#include "util/log.h"

static void mount_usage(FILE *f)
{
        fprintf(f, "usage: sealsync mount NAME MOUNTPOINT [-f|--foreground] [-d|--debug]\n"
                   "                      [--read-only] [--no-sync] [--nonempty] [-o OPTS]\n"
                   "                      [--passphrase-file FILE | --extpass CMD]\n\n"
                   "Mounts region NAME on MOUNTPOINT and returns once the mount is live\n"
                   "(the file system keeps running in the background unless --foreground).\n"
                   "MOUNTPOINT must be an empty directory unless --nonempty.\n\n"
                   "  -f, --foreground        stay in the foreground, log to stderr\n"
                   "  -d, --debug             print every FUSE request (implies --foreground)\n"
                   "      --read-only         mount read-only (same as -o ro)\n"
                   "      --no-sync           do not publish or pull while mounted (changes\n"
                   "                          are published by a later mount)\n"
                   "      --nonempty          mount over a directory that holds entries\n"
                   "                          (they are hidden while mounted)\n"
                   "  -o OPTS                 comma-separated FUSE mount options, given to\n"
                   "                          libfuse: allow_other, allow_root, auto_unmount,\n"
                   "                          max_read=N, ro, rw, nonempty, noatime, noexec,\n"
                   "                          exec, sync, async, dirsync; default_permissions,\n"
                   "                          nodev and nosuid are always on.  dev and suid\n"
                   "                          are refused (a device node or set-id mode synced\n"
                   "                          from another device is never honoured), as are\n"
                   "                          fsname and subtype (umount and status find the\n"
                   "                          mount by them) and any other option.\n"
                   "                          allow_other and allow_root need\n"
                   "                          'user_allow_other' in /etc/fuse.conf unless\n"
                   "                          run as root\n"
                   "      --passphrase-file FILE  read the device passphrase from FILE\n"
                   "      --extpass CMD       run CMD with /bin/sh -c and read the passphrase\n"
                   "                          from the first line of its output\n"
                   "  -h, --help              show this help\n\n"
                   "Without --passphrase-file or --extpass the passphrase comes from\n"
                   "SEALSYNC_PASSPHRASE (removed from the daemon's environment after use)\n"
                   "or the terminal.\n");
}

/* After a message of mount's own about its arguments: the pointer to the help; returns 2. */
static int mount_usage_hint(void)
{
        fputs("Try 'sealsync help mount'.\n", stderr);
        return CLI_EXIT_USAGE;
}

/*
 * FUSE mount options accepted by -o and passed on to libfuse as they are.
 * Not here: dev and suid (refused, see mount_parse_one); default_permissions,
 * nodev and nosuid (accepted, dropped: fs/mount.c always passes them).
 */
static const char *const mount_fuse_flags[] = {
    "allow_other", "allow_root", "auto_unmount", "rw",      "exec", "noexec",
    "sync",        "async",      "dirsync",      "noatime", NULL};

/* Options accepted and dropped: fs/mount.c always sets them. */
static const char *const mount_always_on[] = {"default_permissions", "nodev", "nosuid", NULL};

/* 1 if OPT (LEN bytes) is one of the NULL-terminated LIST. */
static int mount_opt_in(const char *opt, size_t len, const char *const *list)
{
        size_t i;

        for (i = 0; list[i] != NULL; i++)
                if (strlen(list[i]) == len && strncmp(opt, list[i], len) == 0)
                        return 1;
        return 0;
}

/* 1 if the comma-separated list LIST holds exactly the option NAME. */
static int mount_opts_have(const char *list, const char *name)
{
        size_t n = strlen(name);
        const char *p = list;

        while (p != NULL && *p != '\0') {
                if (strncmp(p, name, n) == 0 && (p[n] == ',' || p[n] == '\0'))
                        return 1;
                p = strchr(p, ',');
                if (p != NULL)
                        p++;
        }
        return 0;
}

/* Appends option OPT (LEN bytes) to the comma-separated list EXTRA (SIZE bytes). */
static int mount_opts_add(char *extra, size_t size, const char *opt, size_t len)
{
        size_t used = strlen(extra);

        if (used + (used > 0) + len + 1 > size) {
                fprintf(stderr, "sealsync mount: the -o options are too long\n");
                return -1;
        }
        if (used > 0)
                extra[used++] = ',';
        memcpy(extra + used, opt, len);
        extra[used + len] = '\0';
        return 0;
}

/*
 * Checks one -o option OPT (LEN bytes, no comma): sets MO's flags for ro and
 * nonempty, drops default_permissions (always on), appends the others that
 * libfuse takes to EXTRA.  Returns 0, or -1 with the error printed.
 */
static int mount_parse_one(const char *opt, size_t len, struct fsmount_opts *mo, char *extra,
                           size_t size)
{
        size_t d;

        if (len == 2 && strncmp(opt, "ro", 2) == 0) {
                mo->read_only = 1;
                return 0;
        }
        if (len == 8 && strncmp(opt, "nonempty", 8) == 0) {
                mo->nonempty = 1;
                return 0;
        }
        if (mount_opt_in(opt, len, mount_always_on))
                return 0;
        if (mount_opt_in(opt, len, mount_fuse_flags))
                return mount_opts_add(extra, size, opt, len);
        /*
         * dev: a device number comes from whichever member created the node
         * (doc/SYNC.md C6); honouring it would let any writer of the region
         * open hardware on this machine.  suid: a set-id mode synced from
         * another member would run with the mounting user's (or root's)
         * privileges.  Both stay off whoever mounts.
         */
        if ((len == 3 && strncmp(opt, "dev", 3) == 0) ||
            (len == 4 && strncmp(opt, "suid", 4) == 0)) {
                fprintf(stderr,
                        "sealsync mount: -o %.*s is refused: a sealsync mount is always "
                        "nodev,nosuid (a device node or set-id mode synced from another device "
                        "is never honoured)\n",
                        (int)len, opt);
                return -1;
        }
        if (len > 9 && strncmp(opt, "max_read=", 9) == 0) {
                d = strspn(opt + 9, "0123456789");
                if (d == len - 9 && d <= 9) {
                        mo->max_read = (unsigned)strtoul(opt + 9, NULL, 10);
                        if (mo->max_read >= 4096)
                                return mount_opts_add(extra, size, opt, len);
                }
                fprintf(
                    stderr,
                    "sealsync mount: max_read needs a number of bytes (4096 or more): -o %.*s\n",
                    (int)len, opt);
                return -1;
        }
        if ((len >= 7 && strncmp(opt, "fsname=", 7) == 0) ||
            (len >= 8 && strncmp(opt, "subtype=", 8) == 0)) {
                fprintf(stderr,
                        "sealsync mount: -o %.*s is not supported: sealsync sets fsname and "
                        "subtype itself (umount and status find the mount by them)\n",
                        (int)len, opt);
                return -1;
        }
        fprintf(stderr,
                "sealsync mount: unknown mount option '%.*s' (see 'sealsync mount --help' for "
                "the options accepted)\n",
                (int)len, opt);
        return -1;
}

/* Parses one -o argument ARG (comma-separated) into MO and EXTRA. */
static int mount_parse_opts(const char *arg, struct fsmount_opts *mo, char *extra, size_t size)
{
        const char *p = arg, *comma;
        size_t len;

        for (;;) {
                comma = strchr(p, ',');
                len = comma != NULL ? (size_t)(comma - p) : strlen(p);
                if (len > 0 && mount_parse_one(p, len, mo, extra, size) != 0)
                        return -1;
                if (comma == NULL)
                        return 0;
                p = comma + 1;
        }
}

/* 1 if /etc/fuse.conf holds an uncommented user_allow_other line, else 0. */
static int mount_user_allow_other(void)
{
        char line[256];
        FILE *f = fopen("/etc/fuse.conf", "re");
        int found = 0;

        if (f == NULL)
                return 0;
        while (!found && fgets(line, sizeof(line), f) != NULL) {
                const char *p = line + strspn(line, " \t");

                found = strncmp(p, "user_allow_other", 16) == 0 &&
                        (p[16] == '\0' || strchr(" \t\r\n", p[16]) != NULL);
        }
        fclose(f);
        return found;
}

/* Refuses allow_other/allow_root up front when fusermount3 would refuse them. */
static int mount_check_allow_other(const char *extra)
{
        if (!mount_opts_have(extra, "allow_other") && !mount_opts_have(extra, "allow_root"))
                return 0;
        if (mount_opts_have(extra, "allow_other") && mount_opts_have(extra, "allow_root")) {
                fprintf(stderr, "sealsync mount: allow_other and allow_root exclude each other\n");
                return -1;
        }
        if (getuid() == 0 || mount_user_allow_other())
                return 0;
        fprintf(stderr, "sealsync mount: allow_other and allow_root are only allowed to root "
                        "unless /etc/fuse.conf has a line 'user_allow_other' (ask your "
                        "administrator to add it)\n");
        return -1;
}

/*
 * Removes SEALSYNC_PASSPHRASE from this process's environment: the value is
 * overwritten in place first (it usually lives in the initial environment
 * block that /proc/PID/environ shows, and that a forked daemon inherits),
 * then the variable is unset.
 */
static void mount_scrub_env(void)
{
        static const char name[] = "SEALSYNC_PASSPHRASE=";
        char *v = getenv("SEALSYNC_PASSPHRASE");
        char *entry;

        if (v == NULL)
                return;
        entry = v - (sizeof(name) - 1);
        if (unsetenv("SEALSYNC_PASSPHRASE") != 0)
                fprintf(stderr, "sealsync: cannot unset SEALSYNC_PASSPHRASE: %s\n",
                        strerror(errno));
        secmem_wipe(entry, sizeof(name) - 1 + strlen(v)); /* the name too: no trace left */
}

static int mount_unlock(const char *home, const char *pass_file, const char *extpass,
                        struct identity **id)
{
        char *pass = NULL;
        int has, rc;

        has = identity_has_passphrase(home);
        if (has < 0) {
                if (has == -ENOENT)
                        fprintf(stderr, "sealsync: no device identity in %s; run 'sealsync init'\n",
                                home);
                else
                        fprintf(stderr, "sealsync: cannot read the device key: %s\n",
                                strerror(-has));
                return has;
        }
        if (has) {
                if (extpass != NULL)
                        rc = passphrase_from_command(&pass, extpass);
                else
                        rc = passphrase_get(&pass, pass_file, "Passphrase for this device: ", 0);
                if (rc != 0 && extpass != NULL)
                        return rc; /* logged, naming the command */
                if (rc != 0) {
                        fprintf(stderr,
                                "sealsync: no passphrase (%s); use a terminal, "
                                "--passphrase-file or SEALSYNC_PASSPHRASE\n",
                                strerror(-rc));
                        return rc;
                }
        }
        rc = identity_load(home, pass, id);
        passphrase_free(pass);
        if (rc == -EKEYREJECTED)
                fprintf(stderr, "sealsync: wrong passphrase\n");
        else if (rc == -EPERM)
                fprintf(stderr,
                        "sealsync: the device key file is readable by other users; "
                        "refusing it (chmod 600 %s/device.key)\n",
                        home);
        else if (rc != 0)
                fprintf(stderr, "sealsync: cannot load the device key: %s\n", strerror(-rc));
        return rc;
}

/*
 * 1 if this device ID is a reader in RI's verified membership (the local
 * cache folded from the pinned GENESIS), 0 if not, or a negative errno.
 */
static int mount_is_reader(const struct region_info *ri, const struct identity *id)
{
        struct members_state *st = NULL;
        const struct member_device *me;
        int rc = region_load_members(ri, &st);

        if (rc != 0) {
                fprintf(stderr, "sealsync: cannot read region %s's membership: %s\n", ri->name,
                        strerror(-rc));
                return rc;
        }
        me = members_find(st, id->device_id);
        rc = me != NULL && me->role == MEMBER_ROLE_READER;
        members_state_free(st);
        return rc;
}

/*
 * After a background mount went live: why it is read-only when the user did
 * not ask for that, as the daemon sees it (it folded the store's membership
 * log at mount; the local cache mount_is_reader read may be older).  Prints
 * nothing when the daemon does not answer or the mount is writable.
 */
static void mount_say_mode(const struct region_info *ri)
{
        struct cli_ctl_reader r;
        char line[CTL_LINE_MAX];
        int sync = 0, ro = 0, removed = 0; /* "sync PUSHING READ_ONLY", "removed 1" */

        if (cli_ctl_open(ri, "STATUS\n", 10, &r) != 0)
                return;
        while (cli_ctl_line(&r, line) == 0 && strcmp(line, "end") != 0) {
                if (strncmp(line, "sync ", 5) == 0 && sscanf(line + 5, "%d %d", &sync, &ro) != 2)
                        sync = ro = 0;
                else if (strncmp(line, "removed ", 8) == 0 && sscanf(line + 8, "%d", &removed) != 1)
                        removed = 0;
        }
        close(r.fd);
        if (removed)
                printf("mounted read-only: this device was removed from %s\n", ri->name);
        else if (ro) /* not asked for (the caller checked): the role makes it so */
                printf("mounted read-only: this device is a reader in %s\n", ri->name);
}

int cmd_mount(int argc, char **argv)
{
        static const struct option opts[] = {{"foreground", no_argument, NULL, 'f'},
                                             {"debug", no_argument, NULL, 'd'},
                                             {"read-only", no_argument, NULL, 'r'},
                                             {"no-sync", no_argument, NULL, 'n'},
                                             {"passphrase-file", required_argument, NULL, 'p'},
                                             {"extpass", required_argument, NULL, 'x'},
                                             {"nonempty", no_argument, NULL, 'N'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
        struct fsmount_opts mo;
        struct region_info ri;
        struct identity *id = NULL;
        struct region_keys *keys = NULL;
        char home[PATH_MAX], mp[PATH_MAX], extra[1024] = "";
        const char *pass_file = NULL, *extpass = NULL;
        int c, rc;

        memset(&mo, 0, sizeof(mo));
        cli_start_options();
        while ((c = getopt_long(argc, argv, ":fdho:", opts, NULL)) != -1) {
                switch (c) {
                case 'f':
                        mo.foreground = 1;
                        break;
                case 'd':
                        mo.debug = mo.foreground = 1;
                        break;
                case 'r':
                        mo.read_only = 1;
                        break;
                case 'n':
                        mo.no_sync = 1;
                        break;
                case 'p':
                        pass_file = optarg;
                        break;
                case 'x':
                        extpass = optarg;
                        break;
                case 'N':
                        mo.nonempty = 1;
                        break;
                case 'o':
                        if (mount_parse_opts(optarg, &mo, extra, sizeof(extra)) != 0)
                                return mount_usage_hint();
                        break;
                case 'h':
                        mount_usage(stdout);
                        return 0;
                default:
                        return cli_bad_option("mount", c, argv);
                }
        }
        if (argc - optind != 2)
                return cli_usage_error("mount", argc - optind < 2
                                                    ? "expected a region NAME and a MOUNTPOINT"
                                                    : "unexpected argument");
        if (pass_file != NULL && extpass != NULL)
                return cli_usage_error("mount", "--passphrase-file and --extpass exclude each "
                                                "other");
        if (mo.read_only && mount_opts_have(extra, "rw"))
                return cli_usage_error("mount", "-o rw and read-only (ro, --read-only) exclude "
                                                "each other");
        if (mount_check_allow_other(extra) != 0)
                return 1;
        mo.fuse_opts = extra[0] != '\0' ? extra : NULL;
        if (secmem_init() != 0) {
                fprintf(stderr, "sealsync: cannot initialise libsodium\n");
                return 1;
        }
        if (home_dir(home, sizeof(home)) != 0) {
                fprintf(stderr, "sealsync: cannot find the device directory; set SEALSYNC_HOME\n");
                return 1;
        }
        rc = cli_region_load(home, argv[optind], &ri);
        if (rc != 0) {
                if (rc == -ENOENT)
                        fprintf(stderr, "sealsync: unknown region '%s' (see 'sealsync list')\n",
                                argv[optind]);
                else
                        fprintf(stderr, "sealsync: region '%s': %s\n", argv[optind], strerror(-rc));
                return 1;
        }
        if (realpath(argv[optind + 1], mp) == NULL) {
                fprintf(stderr, "sealsync: mount point %s: %s\n", argv[optind + 1],
                        strerror(errno));
                return 1;
        }
        if (fsmount_check_mountpoint(mp, mo.nonempty) != 0)
                return 1;
        rc = mount_unlock(home, pass_file, extpass, &id);
        mount_scrub_env(); /* before the daemon forks: it never sees the passphrase */
        if (rc != 0)
                return 1;
        rc = region_unlock(id, &ri, &keys);
        if (rc != 0) {
                fprintf(stderr, "sealsync: cannot unlock region '%s': %s\n", ri.name,
                        rc == -EBADMSG  ? "its signed GENESIS does not verify (tampered or corrupt)"
                        : rc == -EACCES ? "this device holds no key for it"
                                        : strerror(-rc));
                identity_free(id);
                return 1;
        }
        rc = mount_is_reader(&ri, id);
        if (rc < 0) {
                region_keys_free(keys);
                identity_free(id);
                return 1;
        }
        mo.reader = rc; /* the daemon follows the store's log from its first fold on */
        mo.region = &ri;
        mo.keys = keys;
        mo.local_key = id->local_key;
        mo.id = id;
        mo.mountpoint = mp;
        rc = fsmount_run(&mo);
        if (rc == 0 && !mo.foreground && !mo.read_only)
                mount_say_mode(&ri);
        region_keys_free(keys);
        identity_free(id);
        return rc == 0 ? 0 : 1;
}

static void umount_usage(FILE *f)
{
        fprintf(f, "usage: sealsync umount [-l|--lazy] MOUNTPOINT\n\n"
                   "Unmounts a sealsync mount and waits until its daemon has committed\n"
                   "its state and exited.  A mount still in use (open files, a shell's\n"
                   "current directory) is refused unless --lazy.\n\n"
                   "  -l, --lazy   detach the mount now even if busy (fusermount3 -u -z,\n"
                   "               umount2 MNT_DETACH): it leaves the directory tree at\n"
                   "               once, and the daemon commits and exits when the last\n"
                   "               user lets go (umount does not wait for that)\n"
                   "  -h, --help   show this help\n");
}

/* Finds the region directory recorded as the source of the mount at MP. */
static int umount_find_lock(const char *mp, char *lockpath, size_t size)
{
        char line[8192], fsname[512], where[PATH_MAX], type[64], home[PATH_MAX];
        FILE *f = fopen("/proc/self/mounts", "re");
        int found = -ENOENT;

        if (f == NULL)
                return -errno;
        while (fgets(line, sizeof(line), f) != NULL) {
                if (sscanf(line, "%511s %4095s %63s", fsname, where, type) != 3)
                        continue;
                if (strcmp(where, mp) != 0 || strcmp(type, "fuse.sealsync") != 0)
                        continue;
                found = 0;
                lockpath[0] = '\0';
                if (strncmp(fsname, "sealsync:", 9) == 0 && strlen(fsname + 9) == 64 &&
                    strspn(fsname + 9, "0123456789abcdef") == 64 &&
                    home_dir(home, sizeof(home)) == 0 &&
                    (size_t)snprintf(lockpath, size, "%s/regions/%s/lock", home, fsname + 9) >=
                        size)
                        lockpath[0] = '\0';
        }
        fclose(f);
        return found;
}

/* 1 while process PID exists and is not a zombie. */
static int umount_pid_alive(long pid)
{
        char path[64], buf[512], *p;
        FILE *f;
        size_t n;

        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        f = fopen(path, "re");
        if (f == NULL)
                return 0;
        n = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[n] = '\0';
        p = strrchr(buf, ')'); /* the state follows the command name */
        return p != NULL && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}

/*
 * Waits (up to 60 s) until the daemon holding LOCKPATH has released the lock
 * and its process (pid recorded in the lock file) has ended.
 */
static void umount_wait(const char *lockpath, const char *mp)
{
        int fd = open(lockpath, O_RDONLY | O_CLOEXEC);
        char buf[PATH_MAX + 32], *nl;
        long pid = 0;
        ssize_t n;
        int i;

        if (fd < 0)
                return;
        n = pread(fd, buf, sizeof(buf) - 1, 0);
        if (n > 0) {
                buf[n] = '\0';
                pid = strtol(buf, NULL, 10);
                nl = strchr(buf, '\n');
                if (nl != NULL && nl[1] != '\0') {
                        char *end = strchr(nl + 1, '\n');

                        if (end != NULL)
                                *end = '\0';
                        if (strcmp(nl + 1, mp) != 0) { /* another home's daemon holds this lock */
                                close(fd);
                                return;
                        }
                }
        }
        for (i = 0; i < 600; i++) {
                if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
                        flock(fd, LOCK_UN);
                        if (pid <= 0 || !umount_pid_alive(pid))
                                break;
                }
                usleep(100000);
        }
        if (i == 600)
                fprintf(stderr, "sealsync: the daemon has not exited after 60 s\n");
        close(fd);
}

int cmd_umount(int argc, char **argv)
{
        char mp[PATH_MAX], lockpath[PATH_MAX];
        const char *arg = NULL;
        int status, rc, i, lazy = 0;
        pid_t pid;

        for (i = 1; i < argc; i++) {
                if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
                        umount_usage(stdout);
                        return 0;
                }
                if (strcmp(argv[i], "-l") == 0 || strcmp(argv[i], "--lazy") == 0)
                        lazy = 1;
                else if (strcmp(argv[i], "--") == 0 && i + 2 == argc && arg == NULL)
                        arg = argv[++i];
                else if (argv[i][0] != '-' && arg == NULL)
                        arg = argv[i];
                else if (argv[i][0] == '-' && argv[i][1] != '\0')
                        return cli_unknown_option("umount", argv[i] + strspn(argv[i], "-"));
                else
                        return cli_usage_error("umount", "unexpected argument");
        }
        if (arg == NULL)
                return cli_usage_error("umount", "expected a MOUNTPOINT");
        if (realpath(arg, mp) == NULL) {
                if (errno == ENOTCONN) {
                        snprintf(mp, sizeof(mp), "%s", arg); /* dead mount: detach it */
                } else {
                        fprintf(stderr, "sealsync: %s: %s\n", arg, strerror(errno));
                        return 1;
                }
        }
        rc = umount_find_lock(mp, lockpath, sizeof(lockpath));
        if (rc == -ENOENT) {
                fprintf(stderr, "sealsync: %s is not a sealsync mount\n", mp);
                return 1;
        }
        pid = fork();
        if (pid == 0) {
                if (lazy)
                        execlp("fusermount3", "fusermount3", "-u", "-z", "--", mp, (char *)NULL);
                else
                        execlp("fusermount3", "fusermount3", "-u", "--", mp, (char *)NULL);
                fprintf(stderr, "sealsync: cannot run fusermount3: %s\n", strerror(errno));
                _exit(127);
        }
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
                fprintf(stderr, "sealsync: unmounting %s failed%s\n", mp,
                        lazy ? "" : " (files still open there? see --lazy)");
                return 1;
        }
        if (lazy) {
                printf("detached %s; the daemon exits once nothing uses the mount any more\n", mp);
                return 0;
        }
        if (rc == 0 && lockpath[0] != '\0')
                umount_wait(lockpath, mp);
        return 0;
}
