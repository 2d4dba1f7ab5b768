/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rewriter: truncate-and-rewrite driver for the crash tests (issue #11
 * case 4, doc/SYNC.md D2).
 *
 *   rewriter loop FILE COUNTFILE MODE   rewrites FILE forever, version 1, 2, ...:
 *                                       MODE "otrunc": open(O_TRUNC), write, close;
 *                                       MODE "ftrunc": open, ftruncate(0), write, close.
 *                                       After each version, writes its number to COUNTFILE.
 *                                       Stops at the first error (exit 1).
 *   rewriter check FILE                 FILE must read without error as a prefix of some
 *                                       version (empty included): exit 0, else prints why
 *                                       and exits 1.
 *
 * Version N is LEN(N) bytes: a 32-byte header "ver %010u len %010u\n" padded with
 * spaces, then byte i = (N * 131 + i * 7 + i / 65536) & 0xff.  Lengths vary
 * from ~1 KiB to ~700 KiB, so truncations drop and re-seal blocks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HDR 32

static size_t ver_len(unsigned n)
{
        return 1000 + (size_t)((n * 2654435761u) % 700000u);
}

static void ver_fill(unsigned n, uint8_t *buf, size_t len)
{
        size_t i;
        char hdr[HDR + 1];

        for (i = 0; i < len; i++)
                buf[i] = (uint8_t)(n * 131u + i * 7u + i / 65536u);
        snprintf(hdr, sizeof(hdr), "ver %010u len %010zu", n, len);
        memset(hdr + strlen(hdr), ' ', HDR - strlen(hdr));
        hdr[HDR - 1] = '\n';
        memcpy(buf, hdr, len < HDR ? len : HDR);
}

static int write_all(int fd, const uint8_t *p, size_t len, off_t off)
{
        while (len > 0) {
                size_t chunk = len < 65536 ? len : 65536;
                ssize_t w = pwrite(fd, p, chunk, off);

                if (w <= 0)
                        return -1;
                p += w;
                len -= (size_t)w;
                off += w;
        }
        return 0;
}

static int one_version(const char *file, const char *mode, unsigned n, uint8_t *buf)
{
        size_t len = ver_len(n);
        int fd, flags = O_WRONLY | O_CREAT;

        ver_fill(n, buf, len);
        if (strcmp(mode, "otrunc") == 0)
                flags |= O_TRUNC;
        fd = open(file, flags, 0644);
        if (fd < 0)
                return -1;
        if ((strcmp(mode, "ftrunc") == 0 && ftruncate(fd, 0) != 0) ||
            write_all(fd, buf, len, 0) != 0) {
                close(fd);
                return -1;
        }
        return close(fd);
}

static int loop(const char *file, const char *countfile, const char *mode)
{
        uint8_t *buf = malloc(800000);
        unsigned n;

        if (buf == NULL)
                return 1;
        for (n = 1;; n++) {
                FILE *f;

                if (one_version(file, mode, n, buf) != 0) {
                        fprintf(stderr, "rewriter: version %u: %s\n", n, strerror(errno));
                        free(buf);
                        return 1;
                }
                f = fopen(countfile, "w");
                if (f != NULL) {
                        fprintf(f, "%u\n", n);
                        fclose(f);
                }
        }
}

static int check(const char *file)
{
        uint8_t *got = malloc(800001), *want = malloc(800000);
        size_t len = 0;
        unsigned n;
        int fd, rc = 1;
        ssize_t r;

        if (got == NULL || want == NULL)
                return 2;
        fd = open(file, O_RDONLY);
        if (fd < 0) {
                printf("open: %s\n", strerror(errno));
                goto out;
        }
        while ((r = read(fd, got + len, 800001 - len)) > 0)
                len += (size_t)r;
        if (r < 0) {
                printf("read at %zu: %s\n", len, strerror(errno));
                close(fd);
                goto out;
        }
        close(fd);
        if (len == 0) {
                printf("empty (the truncated state)\n");
                rc = 0;
                goto out;
        }
        if (len < HDR || sscanf((const char *)got, "ver %10u", &n) != 1) {
                printf("%zu bytes without a version header\n", len);
                goto out;
        }
        if (len > ver_len(n)) {
                printf("version %u: %zu bytes, longer than the version (%zu)\n", n, len,
                       ver_len(n));
                goto out;
        }
        ver_fill(n, want, ver_len(n));
        for (size_t i = 0; i < len; i++) {
                if (got[i] != want[i]) {
                        printf("version %u (%zu of %zu bytes): differs at byte %zu\n", n, len,
                               ver_len(n), i);
                        goto out;
                }
        }
        printf("version %u, %zu of %zu bytes\n", n, len, ver_len(n));
        rc = 0;
out:
        free(got);
        free(want);
        return rc;
}

int main(int argc, char **argv)
{
        if (argc == 5 && strcmp(argv[1], "loop") == 0)
                return loop(argv[2], argv[3], argv[4]);
        if (argc == 3 && strcmp(argv[1], "check") == 0)
                return check(argv[2]);
        fprintf(stderr, "usage: rewriter loop FILE COUNTFILE otrunc|ftrunc\n"
                        "       rewriter check FILE\n");
        return 2;
}
