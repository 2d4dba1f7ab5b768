/* SPDX-License-Identifier: Apache-2.0 */
/*
 * exerciser MOUNTFILE REFFILE OPS SEED
 *
 * Random-operation file exerciser for the integration tests.  Applies the
 * same OPS pseudo-random operations (deterministic for a given SEED) to
 * MOUNTFILE (on the file system under test) and REFFILE (on a plain file
 * system) and checks after every read that both agree byte for byte:
 *
 *   pwrite   at offsets chosen to hit 64 KiB (the default block size) and
 *            4 KiB boundaries +-1, the end of file, or beyond it (holes);
 *            sizes from 1 byte to ~600 KiB, random, zero or repeated bytes
 *   pread    same offsets; also reads straddling the end of file
 *   ftruncate up and down (down then up must read zeros, never old bytes)
 *   fsync, fdatasync, fstat (sizes must agree)
 *   close + reopen (sometimes with O_TRUNC) of one of two handles; writes
 *            and reads go through either handle
 *   mmap     MAP_SHARED reads, and writes + msync, inside the file
 *   full     compare of the whole files every 2500 ops and at the end
 *
 * Both files are opened without O_TRUNC and compared first, so a run can
 * resume on files left by an earlier run (e.g. after a remount).
 *
 * Environment: EXERCISER_MAX_SIZE (bytes, default 8 MiB), EXERCISER_VERBOSE=1
 * (print every op), EXERCISER_NO_OTRUNC=1 (reopen never uses O_TRUNC: to look
 * past a known O_TRUNC bug), EXERCISER_DIRECT=1 (the mount file's second
 * handle is opened O_DIRECT, so its reads and writes bypass the page cache
 * and reach the daemon every time), EXERCISER_SELFTEST_CORRUPT=N (self-test of the checker:
 * the write at op N or the first one after it also flips one byte of
 * MOUNTFILE behind the checker's back and reads the range again; the run
 * must then fail).
 *
 * Exit: 0 all ops agreed; 1 mismatch or failed operation on MOUNTFILE (the op
 * number, its details, the first differing offset and the last ops are
 * printed on stderr); 2 usage error or failure on REFFILE.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 65536
#define PAGE 4096
#define NHANDLES 2
#define HISTORY 40
#define MAXIO (640 * 1024)

struct side {
        const char *path;
        int fd[NHANDLES];
};

static struct side mnt, ref;
static uint64_t rng_state;
static uint64_t max_size = 8u << 20;
static long opno;
static int verbose;
static long corrupt_at = -1;
static int no_otrunc;
static int direct;
static char history[HISTORY][160];
static unsigned char *buf_w, *buf_m, *buf_r;

static uint64_t rnd64(void)
{
        /* splitmix64 */
        uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t n)
{
        return n ? rnd64() % n : 0;
}

static void record(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void record(const char *fmt, ...)
{
        char *h = history[opno % HISTORY];
        int n = snprintf(h, sizeof(history[0]), "op %ld: ", opno);
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(h + n, sizeof(history[0]) - (size_t)n, fmt, ap);
        va_end(ap);
        if (verbose)
                fprintf(stderr, "%s\n", h);
}

static void dump_history(void)
{
        long i, first = opno - HISTORY + 1;

        fprintf(stderr, "exerciser: last operations (most recent last):\n");
        for (i = first < 0 ? 0 : first; i <= opno; i++)
                fprintf(stderr, "  %s\n", history[i % HISTORY]);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
        va_list ap;

        fprintf(stderr, "exerciser: FAILED at op %ld: ", opno);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\n");
        dump_history();
        exit(1);
}

static void ref_fail(const char *what) __attribute__((noreturn));
static void ref_fail(const char *what)
{
        fprintf(stderr, "exerciser: reference file %s: %s: %s\n", ref.path, what, strerror(errno));
        exit(2);
}

/* Reads up to LEN bytes at OFF, looping over short reads; -1 on error. */
static ssize_t full_pread(int fd, unsigned char *b, size_t len, off_t off)
{
        size_t done = 0;

        while (done < len) {
                ssize_t n = pread(fd, b + done, len - done, off + (off_t)done);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                if (n == 0)
                        break;
                done += (size_t)n;
        }
        return (ssize_t)done;
}

static int full_pwrite(int fd, const unsigned char *b, size_t len, off_t off)
{
        size_t done = 0;

        while (done < len) {
                ssize_t n = pwrite(fd, b + done, len - done, off + (off_t)done);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -1;
                }
                if (n == 0) {
                        errno = EIO;
                        return -1;
                }
                done += (size_t)n;
        }
        return 0;
}

static int open_side(const char *path, int trunc, int h)
{
        int dio = direct && h == 1 && path == mnt.path ? O_DIRECT : 0;

        return open(path, O_RDWR | O_CREAT | O_CLOEXEC | dio | (trunc ? O_TRUNC : 0), 0644);
}

static uint64_t ref_size(void)
{
        struct stat st;

        if (fstat(ref.fd[0], &st) != 0)
                ref_fail("fstat");
        return (uint64_t)st.st_size;
}

/* An offset that tends to land on interesting places. */
static uint64_t pick_offset(uint64_t size)
{
        uint64_t off, r = rnd(100);
        int64_t d;

        if (r < 30) {
                off = rnd(max_size + 1);
        } else if (r < 65) {
                d = rnd(10) < 6 ? (int64_t)rnd(3) - 1 : (int64_t)rnd(33) - 16;
                off = rnd(max_size / BLOCK + 1) * BLOCK;
                off = (int64_t)off + d < 0 ? 0 : (uint64_t)((int64_t)off + d);
        } else if (r < 75) {
                d = (int64_t)rnd(3) - 1;
                off = rnd(max_size / PAGE + 1) * PAGE;
                off = (int64_t)off + d < 0 ? 0 : (uint64_t)((int64_t)off + d);
        } else if (r < 90) {
                /* near the end of file, either side */
                d = (int64_t)rnd(200001) - 100000;
                off = (int64_t)size + d < 0 ? 0 : (uint64_t)((int64_t)size + d);
        } else {
                off = size; /* exactly at EOF */
        }
        return off > max_size ? max_size : off;
}

static size_t pick_len(void)
{
        uint64_t r = rnd(100);
        static const size_t special[] = {BLOCK - 1,     BLOCK,     BLOCK + 1,
                                         2 * BLOCK - 1, 2 * BLOCK, 2 * BLOCK + 1,
                                         PAGE - 1,      PAGE,      PAGE + 1};

        if (r < 20)
                return 1 + rnd(16);
        if (r < 45)
                return 1 + rnd(PAGE);
        if (r < 75)
                return 1 + rnd(BLOCK + 5000);
        if (r < 88)
                return special[rnd(sizeof(special) / sizeof(special[0]))];
        return 1 + rnd(MAXIO - 1);
}

static void fill(unsigned char *b, size_t len, const char **kind)
{
        uint64_t r = rnd(100);
        size_t i;

        if (r < 70) {
                for (i = 0; i + 8 <= len; i += 8) {
                        uint64_t v = rnd64();
                        memcpy(b + i, &v, 8);
                }
                for (; i < len; i++)
                        b[i] = (unsigned char)rnd64();
                *kind = "random";
        } else if (r < 85) {
                memset(b, 0, len);
                *kind = "zeros";
        } else {
                memset(b, (int)(1 + rnd(255)), len);
                *kind = "repeated";
        }
}

/* Compares LEN bytes at OFF through handles HM / HR. */
static void compare_range(int hm, int hr, uint64_t off, size_t len, const char *what)
{
        ssize_t nm, nr;
        size_t i, n;

        nr = full_pread(ref.fd[hr], buf_r, len, (off_t)off);
        if (nr < 0)
                ref_fail("pread");
        nm = full_pread(mnt.fd[hm], buf_m, len, (off_t)off);
        if (nm < 0)
                fail("%s: pread(mount, off=%" PRIu64 ", len=%zu) failed: %s", what, off, len,
                     strerror(errno));
        if (nm != nr)
                fail("%s: pread(off=%" PRIu64 ", len=%zu) returned %zd bytes on the mount, %zd on "
                     "the reference (ref size %" PRIu64 ")",
                     what, off, len, nm, nr, ref_size());
        n = (size_t)nr;
        if (memcmp(buf_m, buf_r, n) != 0) {
                for (i = 0; i < n && buf_m[i] == buf_r[i]; i++)
                        ;
                size_t j = i;
                while (j < n && buf_m[j] != buf_r[j])
                        j++;
                fail("%s: data mismatch reading off=%" PRIu64 " len=%zu: first difference at file "
                     "offset %" PRIu64 " (block %" PRIu64 " +%" PRIu64 "): mount 0x%02x, "
                     "reference 0x%02x; differing run of %zu byte(s)",
                     what, off, len, off + i, (off + i) / BLOCK, (off + i) % BLOCK, buf_m[i],
                     buf_r[i], j - i);
        }
}

static void compare_size(const char *what)
{
        struct stat sm;
        uint64_t rs = ref_size();
        int h;

        for (h = 0; h < NHANDLES; h++) {
                if (fstat(mnt.fd[h], &sm) != 0)
                        fail("%s: fstat(mount handle %d): %s", what, h, strerror(errno));
                if ((uint64_t)sm.st_size != rs)
                        fail("%s: size through handle %d is %" PRIu64 ", reference %" PRIu64, what,
                             h, (uint64_t)sm.st_size, rs);
        }
}

static void compare_all(const char *what)
{
        uint64_t size = ref_size(), off;
        struct stat st;

        if (stat(mnt.path, &st) != 0)
                fail("%s: stat(%s): %s", what, mnt.path, strerror(errno));
        if ((uint64_t)st.st_size != size)
                fail("%s: stat size of mount file %" PRIu64 ", reference %" PRIu64, what,
                     (uint64_t)st.st_size, size);
        compare_size(what);
        for (off = 0; off < size + 1; off += MAXIO)
                compare_range((int)rnd(NHANDLES), (int)rnd(NHANDLES), off, MAXIO, what);
}

static void op_write(void)
{
        int h = (int)rnd(NHANDLES);
        uint64_t off = pick_offset(ref_size());
        size_t len = pick_len();
        const char *kind;

        fill(buf_w, len, &kind);
        record("pwrite h%d off=%" PRIu64 " len=%zu end=%" PRIu64 " (%s)", h, off, len, off + len,
               kind);
        if (full_pwrite(ref.fd[h], buf_w, len, (off_t)off) != 0)
                ref_fail("pwrite");
        if (full_pwrite(mnt.fd[h], buf_w, len, (off_t)off) != 0)
                fail("pwrite(mount, off=%" PRIu64 ", len=%zu): %s", off, len, strerror(errno));
        if (corrupt_at >= 0 && opno >= corrupt_at) {
                unsigned char c = (unsigned char)(buf_w[0] ^ 0x20);
                if (pwrite(mnt.fd[h], &c, 1, (off_t)off) != 1)
                        fail("self-test corruption write: %s", strerror(errno));
                fprintf(stderr, "exerciser: self-test: corrupted mount byte at %" PRIu64 "\n", off);
                corrupt_at = -1;
                compare_range(h, h, off, len, "self-test read-back");
        }
}

static void op_read(int near_eof)
{
        int hm = (int)rnd(NHANDLES), hr = (int)rnd(NHANDLES);
        uint64_t size = ref_size(), off;
        size_t len = pick_len();

        if (near_eof) {
                uint64_t back = rnd(70001);
                off = size > back ? size - back : 0;
                len = 1 + rnd(140000);
        } else {
                off = pick_offset(size);
        }
        record("pread h%d off=%" PRIu64 " len=%zu (size %" PRIu64 ")", hm, off, len, size);
        compare_range(hm, hr, off, len, "pread");
}

static void op_truncate(void)
{
        int h = (int)rnd(NHANDLES);
        uint64_t size = ref_size(), to, r = rnd(100);

        if (r < 40)
                to = size > 0 ? rnd(size + 1) : 0; /* down */
        else if (r < 60)
                to = pick_offset(size); /* anywhere, block edges likely */
        else if (r < 70)
                to = 0;
        else
                to = size + rnd(3 * BLOCK); /* up: a hole at the end */
        if (to > max_size)
                to = max_size;
        record("ftruncate h%d %" PRIu64 " -> %" PRIu64, h, size, to);
        if (ftruncate(ref.fd[h], (off_t)to) != 0)
                ref_fail("ftruncate");
        if (ftruncate(mnt.fd[h], (off_t)to) != 0)
                fail("ftruncate(mount, %" PRIu64 "): %s", to, strerror(errno));
        compare_size("after ftruncate");
}

static void op_sync(int data_only)
{
        int h = (int)rnd(NHANDLES);

        record("%s h%d", data_only ? "fdatasync" : "fsync", h);
        if ((data_only ? fdatasync(mnt.fd[h]) : fsync(mnt.fd[h])) != 0)
                fail("%s(mount): %s", data_only ? "fdatasync" : "fsync", strerror(errno));
}

static void op_reopen(void)
{
        int h = (int)rnd(NHANDLES), trunc = rnd(10) == 0 && !no_otrunc;

        record("close+reopen h%d%s", h, trunc ? " O_TRUNC" : "");
        if (close(ref.fd[h]) != 0)
                ref_fail("close");
        if (close(mnt.fd[h]) != 0)
                fail("close(mount handle %d): %s", h, strerror(errno));
        ref.fd[h] = open_side(ref.path, trunc, h);
        if (ref.fd[h] < 0)
                ref_fail("open");
        mnt.fd[h] = open_side(mnt.path, trunc, h);
        if (mnt.fd[h] < 0)
                fail("reopen(mount): %s", strerror(errno));
}

static void op_mmap(int write)
{
        int h = (int)rnd(NHANDLES);
        uint64_t size = ref_size(), off, len;
        unsigned char *p;
        const char *kind = "";

        if (size < 2) {
                record("mmap skipped (size %" PRIu64 ")", size);
                return;
        }
        off = rnd(size) & ~(uint64_t)(PAGE - 1);
        len = 1 + rnd(size - off < 3 * BLOCK ? size - off : 3 * BLOCK);
        record("mmap %s h%d off=%" PRIu64 " len=%" PRIu64 " (size %" PRIu64 ")",
               write ? "write+msync" : "read", h, off, len, size);
        p = mmap(NULL, (size_t)len, PROT_READ | (write ? PROT_WRITE : 0), MAP_SHARED, mnt.fd[h],
                 (off_t)off);
        if (p == MAP_FAILED)
                fail("mmap(mount, off=%" PRIu64 ", len=%" PRIu64 "): %s", off, len,
                     strerror(errno));
        if (write) {
                fill(buf_w, (size_t)len, &kind);
                memcpy(p, buf_w, (size_t)len);
                if (msync(p, (size_t)len, MS_SYNC) != 0)
                        fail("msync(mount): %s", strerror(errno));
                if (full_pwrite(ref.fd[h], buf_w, (size_t)len, (off_t)off) != 0)
                        ref_fail("pwrite");
        } else {
                if (full_pread(ref.fd[h], buf_r, (size_t)len, (off_t)off) != (ssize_t)len)
                        ref_fail("pread");
                if (memcmp(p, buf_r, (size_t)len) != 0) {
                        uint64_t i = 0;
                        while (p[i] == buf_r[i])
                                i++;
                        fail("mmap read mismatch at file offset %" PRIu64 ": mount 0x%02x, "
                             "reference 0x%02x",
                             off + i, p[i], buf_r[i]);
                }
        }
        if (munmap(p, (size_t)len) != 0)
                fail("munmap: %s", strerror(errno));
}

int main(int argc, char **argv)
{
        long ops, i;
        int h;
        char *end;
        unsigned long long seed;
        long counts[10] = {0};
        uint64_t final_size;

        if (argc != 5) {
                fprintf(stderr, "usage: exerciser MOUNTFILE REFFILE OPS SEED\n");
                return 2;
        }
        mnt.path = argv[1];
        ref.path = argv[2];
        ops = strtol(argv[3], &end, 10);
        if (*end || ops < 0) {
                fprintf(stderr, "exerciser: bad OPS '%s'\n", argv[3]);
                return 2;
        }
        seed = strtoull(argv[4], &end, 0);
        if (*end) {
                fprintf(stderr, "exerciser: bad SEED '%s'\n", argv[4]);
                return 2;
        }
        if (getenv("EXERCISER_MAX_SIZE"))
                max_size = strtoull(getenv("EXERCISER_MAX_SIZE"), NULL, 0);
        if (getenv("EXERCISER_SELFTEST_CORRUPT"))
                corrupt_at = strtol(getenv("EXERCISER_SELFTEST_CORRUPT"), NULL, 10);
        no_otrunc = getenv("EXERCISER_NO_OTRUNC") && *getenv("EXERCISER_NO_OTRUNC") == '1';
        direct = getenv("EXERCISER_DIRECT") && *getenv("EXERCISER_DIRECT") == '1';
        verbose = getenv("EXERCISER_VERBOSE") && *getenv("EXERCISER_VERBOSE") == '1';
        rng_state = seed;
        buf_w = malloc(MAXIO + 3 * BLOCK);
        buf_m = malloc(MAXIO + 3 * BLOCK);
        buf_r = malloc(MAXIO + 3 * BLOCK);
        if (!buf_w || !buf_m || !buf_r) {
                fprintf(stderr, "exerciser: out of memory\n");
                return 2;
        }
        for (h = 0; h < NHANDLES; h++) {
                ref.fd[h] = open_side(ref.path, 0, h);
                if (ref.fd[h] < 0)
                        ref_fail("open");
                mnt.fd[h] = open_side(mnt.path, 0, h);
                if (mnt.fd[h] < 0) {
                        fprintf(stderr, "exerciser: open %s: %s\n", mnt.path, strerror(errno));
                        return 1;
                }
        }
        opno = 0;
        record("initial compare");
        compare_all("initial compare (files must start equal)");

        for (i = 1; i <= ops; i++) {
                uint64_t r = rnd(100);
                opno = i;
                if (r < 34) {
                        op_write();
                        counts[0]++;
                } else if (r < 66) {
                        op_read(0);
                        counts[1]++;
                } else if (r < 72) {
                        op_read(1);
                        counts[1]++;
                } else if (r < 80) {
                        op_truncate();
                        counts[2]++;
                } else if (r < 82) {
                        op_sync(0);
                        counts[3]++;
                } else if (r < 83) {
                        op_sync(1);
                        counts[3]++;
                } else if (r < 86) {
                        op_reopen();
                        counts[4]++;
                } else if (r < 92) {
                        record("fstat compare");
                        compare_size("fstat");
                        counts[5]++;
                } else if (r < 96) {
                        op_mmap(0);
                        counts[6]++;
                } else {
                        op_mmap(1);
                        counts[6]++;
                }
                if (i % 2500 == 0) {
                        record("periodic full compare");
                        compare_all("periodic full compare");
                }
        }
        record("final full compare");
        compare_all("final full compare");
        final_size = ref_size();
        for (h = 0; h < NHANDLES; h++) {
                if (close(mnt.fd[h]) != 0)
                        fail("close(mount): %s", strerror(errno));
                close(ref.fd[h]);
        }
        printf("exerciser: %ld ops agreed (seed %llu): %ld writes, %ld reads, %ld truncates, "
               "%ld syncs, %ld reopens, %ld stats, %ld mmaps; final size %" PRIu64 "\n",
               ops, seed, counts[0], counts[1], counts[2], counts[3], counts[4], counts[5],
               counts[6], final_size);
        return 0;
}
