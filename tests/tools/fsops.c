/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsops: small file-system operations the shell cannot express, for the
 * integration tests.
 *
 *   fsops excl PATH          open(O_CREAT|O_EXCL|O_WRONLY); exit 1 with
 *                            strerror on stderr if it fails
 *   fsops mkfiles DIR N      creates DIR/f0000000 .. DIR/f<N-1> (empty,
 *                            O_CREAT|O_EXCL) as fast as possible
 *   fsops fsync PATH         open O_RDWR, fsync, close
 *   fsops fdatasync PATH     open O_RDWR, fdatasync, close
 *   fsops pagecheck FILE REF every 4 KiB page of FILE is either REF's page at
 *                            the same offset or all zeros, and FILE is not
 *                            longer than REF (what a crash may leave of data
 *                            written without fsync); lists bad pages
 *   fsops mmapwrite PATH OFFSET STRING
 *                            writes STRING at OFFSET (inside the file) through
 *                            a MAP_SHARED mapping, then munmap and close
 *                            without msync or fsync
 *   fsops unlinked PATH      open PATH O_RDWR, unlink it, write "after-unlink"
 *                            at offset 0 through the fd, read it back, fstat
 *                            (st_nlink must be 0); exit 0 if all of it works
 *
 * Every failure prints "fsops: <what>: <strerror>" and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int die(const char *what, const char *path)
{
        int e = errno;
        fprintf(stderr, "fsops: %s %s: %s\n", what, path, strerror(e));
        return 1;
}

static int do_mkfiles(const char *dir, long n)
{
        char path[4096];
        long i;

        for (i = 0; i < n; i++) {
                int fd;
                snprintf(path, sizeof(path), "%s/f%07ld", dir, i);
                fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
                if (fd < 0)
                        return die("create", path);
                if (close(fd) != 0)
                        return die("close", path);
        }
        return 0;
}

static int do_sync(const char *path, int data_only)
{
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return die("open", path);
        if ((data_only ? fdatasync(fd) : fsync(fd)) != 0) {
                die(data_only ? "fdatasync" : "fsync", path);
                close(fd);
                return 1;
        }
        if (close(fd) != 0)
                return die("close", path);
        return 0;
}

static int do_mmapwrite(const char *path, const char *offstr, const char *str)
{
        long long off = strtoll(offstr, NULL, 10);
        size_t len = strlen(str);
        off_t base = (off_t)(off & ~4095LL);
        size_t maplen = (size_t)(off - base) + len;
        struct stat st;
        char *p;
        int fd = open(path, O_RDWR | O_CLOEXEC);

        if (fd < 0)
                return die("open", path);
        if (fstat(fd, &st) != 0 || off < 0 || off + (long long)len > (long long)st.st_size) {
                fprintf(stderr, "fsops: mmapwrite %s: range outside the file\n", path);
                close(fd);
                return 1;
        }
        p = mmap(NULL, maplen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, base);
        if (p == MAP_FAILED) {
                die("mmap", path);
                close(fd);
                return 1;
        }
        memcpy(p + (off - base), str, len);
        if (munmap(p, maplen) != 0) {
                die("munmap", path);
                close(fd);
                return 1;
        }
        return close(fd) == 0 ? 0 : die("close", path);
}

static int do_unlinked(const char *path)
{
        static const char msg[] = "after-unlink";
        char buf[sizeof(msg)];
        struct stat st;
        int fd = open(path, O_RDWR | O_CLOEXEC);

        if (fd < 0)
                return die("open", path);
        if (unlink(path) != 0)
                return die("unlink", path);
        if (pwrite(fd, msg, sizeof(msg) - 1, 0) != (ssize_t)sizeof(msg) - 1)
                return die("pwrite on unlinked", path);
        memset(buf, 0, sizeof(buf));
        if (pread(fd, buf, sizeof(msg) - 1, 0) != (ssize_t)sizeof(msg) - 1)
                return die("pread on unlinked", path);
        if (memcmp(buf, msg, sizeof(msg) - 1) != 0) {
                fprintf(stderr, "fsops: unlinked %s: read back '%s', wrote '%s'\n", path, buf, msg);
                return 1;
        }
        if (fstat(fd, &st) != 0)
                return die("fstat on unlinked", path);
        if (st.st_nlink != 0) {
                fprintf(stderr, "fsops: unlinked %s: st_nlink %lu, expected 0\n", path,
                        (unsigned long)st.st_nlink);
                return 1;
        }
        if (close(fd) != 0)
                return die("close", path);
        return 0;
}

static int do_pagecheck(const char *file, const char *refpath)
{
        static unsigned char a[4096], b[4096], zero[4096];
        FILE *f, *r;
        unsigned long long page = 0, bad = 0, zeros = 0;
        size_t na, nb;
        int err;

        f = fopen(file, "rb");
        if (!f)
                return die("open", file);
        r = fopen(refpath, "rb");
        if (!r) {
                fclose(f);
                return die("open", refpath);
        }
        for (;; page++) {
                na = fread(a, 1, sizeof(a), f);
                if (na == 0)
                        break;
                nb = fread(b, 1, sizeof(b), r);
                if (nb < na) {
                        fprintf(stderr, "fsops: %s is longer than %s (page %llu)\n", file, refpath,
                                page);
                        bad++;
                        break;
                }
                if (memcmp(a, b, na) == 0)
                        continue;
                if (memcmp(a, zero, na) == 0) {
                        zeros++;
                        continue;
                }
                if (bad++ < 10)
                        fprintf(stderr,
                                "fsops: page %llu (offset %llu) is neither the data written "
                                "there nor zeros\n",
                                page, page * 4096);
        }
        err = ferror(f);
        fclose(f);
        fclose(r);
        if (err) {
                fprintf(stderr, "fsops: read error on %s\n", file);
                return 1;
        }
        printf("%llu pages, %llu zero pages, %llu bad\n", page, zeros, bad);
        return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
        if (argc == 3 && strcmp(argv[1], "excl") == 0) {
                int fd = open(argv[2], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
                if (fd < 0)
                        return die("open O_EXCL", argv[2]);
                return close(fd) == 0 ? 0 : die("close", argv[2]);
        }
        if (argc == 4 && strcmp(argv[1], "mkfiles") == 0)
                return do_mkfiles(argv[2], strtol(argv[3], NULL, 10));
        if (argc == 3 && strcmp(argv[1], "fsync") == 0)
                return do_sync(argv[2], 0);
        if (argc == 3 && strcmp(argv[1], "fdatasync") == 0)
                return do_sync(argv[2], 1);
        if (argc == 4 && strcmp(argv[1], "pagecheck") == 0)
                return do_pagecheck(argv[2], argv[3]);
        if (argc == 5 && strcmp(argv[1], "mmapwrite") == 0)
                return do_mmapwrite(argv[2], argv[3], argv[4]);
        if (argc == 3 && strcmp(argv[1], "unlinked") == 0)
                return do_unlinked(argv[2]);
        fprintf(stderr, "usage: fsops excl|fsync|fdatasync|unlinked PATH | mkfiles DIR N | "
                        "pagecheck FILE REF | mmapwrite PATH OFFSET STRING\n");
        return 2;
}
