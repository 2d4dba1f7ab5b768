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
                   "                      [--read-only] [--no-sync] [--passphrase-file FILE]\n\n"
                   "Mounts region NAME on MOUNTPOINT and returns once the mount is live\n"
                   "(the file system keeps running in the background unless --foreground).\n\n"
                   "  -f, --foreground        stay in the foreground, log to stderr\n"
                   "  -d, --debug             print every FUSE request (implies --foreground)\n"
                   "      --read-only         mount read-only\n"
                   "      --no-sync           do not publish or pull while mounted (changes\n"
                   "                          are published by a later mount)\n"
                   "      --passphrase-file FILE  read the device passphrase from FILE\n"
                   "  -h, --help              show this help\n");
}

static int mount_unlock(const char *home, const char *pass_file, struct identity **id)
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
                rc = passphrase_get(&pass, pass_file, "Passphrase for this device: ", 0);
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

int cmd_mount(int argc, char **argv)
{
        static const struct option opts[] = {{"foreground", no_argument, NULL, 'f'},
                                             {"debug", no_argument, NULL, 'd'},
                                             {"read-only", no_argument, NULL, 'r'},
                                             {"no-sync", no_argument, NULL, 'n'},
                                             {"passphrase-file", required_argument, NULL, 'p'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
        struct fsmount_opts mo;
        struct region_info ri;
        struct identity *id = NULL;
        struct region_keys *keys = NULL;
        char home[PATH_MAX], mp[PATH_MAX];
        const char *pass_file = NULL;
        int c, rc;

        memset(&mo, 0, sizeof(mo));
        optind = 1;
        while ((c = getopt_long(argc, argv, "fdh", opts, NULL)) != -1) {
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
                case 'h':
                        mount_usage(stdout);
                        return 0;
                default:
                        mount_usage(stderr);
                        return 2;
                }
        }
        if (argc - optind != 2) {
                mount_usage(stderr);
                return 2;
        }
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
        if (fsmount_check_mountpoint(mp) != 0)
                return 1;
        if (mount_unlock(home, pass_file, &id) != 0)
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
        mo.reader = rc;
        if (mo.reader && mo.foreground)
                printf("mounting read-only: this device is a reader in %s\n", ri.name);
        mo.region = &ri;
        mo.keys = keys;
        mo.local_key = id->local_key;
        mo.id = id;
        mo.mountpoint = mp;
        rc = fsmount_run(&mo);
        if (rc == 0 && mo.reader && !mo.foreground)
                printf("mounted read-only: this device is a reader in %s\n", ri.name);
        region_keys_free(keys);
        identity_free(id);
        return rc == 0 ? 0 : 1;
}

static void umount_usage(FILE *f)
{
        fprintf(f, "usage: sealsync umount MOUNTPOINT\n\n"
                   "Unmounts a sealsync mount and waits until its daemon has committed\n"
                   "its state and exited.\n\n"
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
        pid_t pid;
        int status, rc;

        if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
                umount_usage(stdout);
                return 0;
        }
        if (argc != 2 || argv[1][0] == '-') {
                umount_usage(stderr);
                return 2;
        }
        if (realpath(argv[1], mp) == NULL) {
                if (errno == ENOTCONN) {
                        snprintf(mp, sizeof(mp), "%s", argv[1]); /* dead mount: detach it */
                } else {
                        fprintf(stderr, "sealsync: %s: %s\n", argv[1], strerror(errno));
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
                execlp("fusermount3", "fusermount3", "-u", "--", mp, (char *)NULL);
                fprintf(stderr, "sealsync: cannot run fusermount3: %s\n", strerror(errno));
                _exit(127);
        }
        if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
                fprintf(stderr, "sealsync: unmounting %s failed (files still open there?)\n", mp);
                return 1;
        }
        if (rc == 0 && lockpath[0] != '\0')
                umount_wait(lockpath, mp);
        return 0;
}
