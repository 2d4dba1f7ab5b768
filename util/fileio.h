/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_UTIL_FILEIO_H
#define SEALSYNC_UTIL_FILEIO_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Writes LEN bytes to PATH atomically: a temporary file in the same
 * directory with MODE, fsync, rename over PATH, fsync of the directory.
 * With EXCL, fails with -EEXIST if PATH exists (link(2) instead of rename).
 * Returns 0 or a negative errno; on error PATH is unchanged.
 */
int fileio_write_atomic(const char *path, const void *buf, size_t len, mode_t mode, int excl)
    __attribute__((warn_unused_result));

/*
 * Reads the whole regular file PATH into a malloc'd buffer (*OUT, *LEN).
 * Fails with -EFBIG if it is larger than MAX bytes.  Returns 0 or a negative
 * errno; outputs untouched on error.  Caller frees.
 */
int fileio_read_all(const char *path, size_t max, uint8_t **out, size_t *len)
    __attribute__((warn_unused_result));

/* mkdir -p with MODE for created components.  Returns 0 or a negative errno. */
int fileio_mkdirs(const char *path, mode_t mode) __attribute__((warn_unused_result));

/* fsync the directory at PATH.  Returns 0 or a negative errno. */
int fileio_fsync_dir(const char *path) __attribute__((warn_unused_result));
/* The same for PATH relative to directory DIRFD (AT_FDCWD: as fileio_fsync_dir). */
int fileio_fsync_dirat(int dirfd, const char *path) __attribute__((warn_unused_result));

/* pread/pwrite until done, retrying EINTR; return 0, -EIO on short read, or -errno. */
int fileio_pread_full(int fd, void *buf, size_t len, off_t off) __attribute__((warn_unused_result));
int fileio_pwrite_full(int fd, const void *buf, size_t len, off_t off)
    __attribute__((warn_unused_result));

#endif
