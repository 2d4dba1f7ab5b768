/* SPDX-License-Identifier: Apache-2.0 */
#include "util/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fileio_fsync_dir(const char *path)
{
        return fileio_fsync_dirat(AT_FDCWD, path);
}

int fileio_fsync_dirat(int dirfd, const char *path)
{
        int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int rc = 0;

        if (fd < 0)
                return -errno;
        if (fsync(fd) != 0)
                rc = -errno;
        close(fd);
        return rc;
}

static int fileio_dirname(const char *path, char *dir, size_t size)
{
        const char *slash = strrchr(path, '/');

        if (slash == NULL) {
                if (size < 2)
                        return -ENAMETOOLONG;
                memcpy(dir, ".", 2);
                return 0;
        }
        if ((size_t)(slash - path) + 2 > size)
                return -ENAMETOOLONG;
        if (slash == path) {
                memcpy(dir, "/", 2);
                return 0;
        }
        memcpy(dir, path, (size_t)(slash - path));
        dir[slash - path] = '\0';
        return 0;
}

int fileio_pwrite_full(int fd, const void *buf, size_t len, off_t off)
{
        const uint8_t *p = buf;

        while (len > 0) {
                ssize_t n = pwrite(fd, p, len, off);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += n;
                len -= (size_t)n;
                off += n;
        }
        return 0;
}

int fileio_pread_full(int fd, void *buf, size_t len, off_t off)
{
        uint8_t *p = buf;

        while (len > 0) {
                ssize_t n = pread(fd, p, len, off);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        return -EIO;
                p += n;
                len -= (size_t)n;
                off += n;
        }
        return 0;
}

int fileio_write_atomic(const char *path, const void *buf, size_t len, mode_t mode, int excl)
{
        char tmp[PATH_MAX];
        char dir[PATH_MAX];
        int fd, rc;

        rc = fileio_dirname(path, dir, sizeof(dir));
        if (rc != 0)
                return rc;
        if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
                return -ENAMETOOLONG;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        rc = fileio_pwrite_full(fd, buf, len, 0);
        if (rc == 0 && fchmod(fd, mode) != 0)
                rc = -errno;
        if (rc == 0 && fsync(fd) != 0)
                rc = -errno;
        if (close(fd) != 0 && rc == 0)
                rc = -errno;
        if (rc != 0)
                goto fail_unlink;
        if (excl) {
                if (link(tmp, path) != 0) {
                        rc = -errno;
                        goto fail_unlink;
                }
                unlink(tmp);
        } else if (rename(tmp, path) != 0) {
                rc = -errno;
                goto fail_unlink;
        }
        return fileio_fsync_dir(dir);

fail_unlink:
        unlink(tmp);
        return rc;
}

int fileio_read_all(const char *path, size_t max, uint8_t **out, size_t *len)
{
        struct stat st;
        uint8_t *buf;
        int fd, rc;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) != 0) {
                rc = -errno;
                goto out_close;
        }
        if (!S_ISREG(st.st_mode)) {
                rc = -EINVAL;
                goto out_close;
        }
        if ((uint64_t)st.st_size > max) {
                rc = -EFBIG;
                goto out_close;
        }
        buf = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
        if (buf == NULL) {
                rc = -ENOMEM;
                goto out_close;
        }
        rc = fileio_pread_full(fd, buf, (size_t)st.st_size, 0);
        if (rc != 0) {
                free(buf);
                goto out_close;
        }
        *out = buf;
        *len = (size_t)st.st_size;
out_close:
        close(fd);
        return rc;
}

int fileio_mkdirs(const char *path, mode_t mode)
{
        char buf[PATH_MAX];
        size_t n = strlen(path);
        size_t i;

        if (n == 0 || n >= sizeof(buf))
                return -ENAMETOOLONG;
        memcpy(buf, path, n + 1);
        for (i = 1; i <= n; i++) {
                if (buf[i] != '/' && buf[i] != '\0')
                        continue;
                buf[i] = '\0';
                if (mkdir(buf, mode) != 0 && errno != EEXIST)
                        return -errno;
                if (i < n)
                        buf[i] = '/';
        }
        return 0;
}
