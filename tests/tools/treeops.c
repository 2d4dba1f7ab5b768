/* SPDX-License-Identifier: Apache-2.0 */
/*
 * treeops MOUNTDIR REFDIR OPS SEED
 *
 * Random namespace operations for the integration tests: the same OPS
 * pseudo-random operations (deterministic for a SEED) are applied under
 * MOUNTDIR (the file system under test) and REFDIR (plain disk), and every
 * result must agree: return value and errno of each call, then, every 250
 * ops and at the end, the whole trees (names, types, permission bits, sizes,
 * file contents, symlink targets, the user.t xattr).
 *
 * Names come from a tiny namespace (a..e, up to 3 levels) so that operations
 * collide: creating over existing names, renaming onto files and non-empty
 * directories, RENAME_NOREPLACE / RENAME_EXCHANGE, rmdir of non-empty
 * directories, paths through files (ENOTDIR), symlinks (dangling or not;
 * targets stay inside the tree), O_CREAT|O_EXCL, O_TRUNC, O_APPEND,
 * truncate, chmod, utimensat, setxattr/removexattr.  Hard links are left out
 * (the mount refuses them by design).
 *
 * Both trees are compared first, so OPS = 0 only compares (e.g. after a
 * remount).  POSIX lets rename and rmdir report a non-empty directory as
 * ENOTEMPTY or EEXIST; those two are treated as equal.
 *
 * Exit: 0 agreement; 1 disagreement (op number, op, both results and the
 * last ops on stderr); 2 usage or reference-side trouble.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define HISTORY 30
#define MAXDATA 140000

static const char *root_m, *root_r;
static uint64_t rng_state;
static long opno;
static char history[HISTORY][600];
static unsigned char databuf[MAXDATA];

static uint64_t rnd64(void)
{
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
        if (getenv("TREEOPS_VERBOSE"))
                fprintf(stderr, "%s\n", h);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
        va_list ap;
        long i, first = opno - HISTORY + 1;

        fprintf(stderr, "treeops: FAILED at op %ld: ", opno);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, "\ntreeops: last operations (most recent last):\n");
        for (i = first < 0 ? 0 : first; i <= opno; i++)
                fprintf(stderr, "  %s\n", history[i % HISTORY]);
        exit(1);
}

/* A random relative path of 1..3 components from a..e. */
static void rnd_path(char *out, size_t len)
{
        int depth = 1 + (int)rnd(3), i;
        size_t n = 0;

        for (i = 0; i < depth; i++)
                n += (size_t)snprintf(out + n, len - n, "%s%c", i ? "/" : "", (char)('a' + rnd(5)));
}

static void join(char *out, size_t len, const char *root, const char *rel)
{
        int n = snprintf(out, len, "%s/%s", root, rel);

        if (n < 0 || (size_t)n >= len) {
                fprintf(stderr, "treeops: path too long: %s/%s\n", root, rel);
                exit(2);
        }
}

/* Result of one call: 0 or an errno; ENOTEMPTY and EEXIST are one class. */
static int norm(int e)
{
        return e == ENOTEMPTY ? EEXIST : e;
}

static void agree(const char *what, int rm, int rr)
{
        if (norm(rm) != norm(rr))
                fail("%s: mount says %s (%d), reference says %s (%d)", what,
                     rm ? strerror(rm) : "success", rm, rr ? strerror(rr) : "success", rr);
}

static int r_errno(int rc)
{
        return rc == 0 ? 0 : errno;
}

static int do_write_file(const char *path, int flags, const unsigned char *data, size_t len)
{
        int fd = open(path, flags | O_CLOEXEC, 0644), e;
        size_t done = 0;

        if (fd < 0)
                return errno;
        while (done < len) {
                ssize_t n = write(fd, data + done, len - done);
                if (n < 0) {
                        e = errno;
                        close(fd);
                        return e;
                }
                done += (size_t)n;
        }
        return close(fd) == 0 ? 0 : errno;
}

static size_t fill(void)
{
        uint64_t r = rnd(100);
        size_t len = r < 50 ? rnd(100) : r < 90 ? rnd(5000) : rnd(MAXDATA);
        size_t i;

        for (i = 0; i < len; i++)
                databuf[i] = (unsigned char)('A' + rnd(26));
        return len;
}

/* ------------------------------------------------------------ compare */

static unsigned char *slurp(const char *path, size_t *len, int *err)
{
        FILE *f = fopen(path, "rb");
        unsigned char *buf = NULL;
        size_t cap = 0, n = 0, got;

        *err = 0;
        if (!f) {
                *err = errno;
                return NULL;
        }
        for (;;) {
                if (n == cap) {
                        unsigned char *nb = realloc(buf, cap ? cap * 2 : 65536);
                        if (!nb) {
                                free(buf);
                                fclose(f);
                                *err = ENOMEM;
                                return NULL;
                        }
                        buf = nb;
                        cap = cap ? cap * 2 : 65536;
                }
                got = fread(buf + n, 1, cap - n, f);
                n += got;
                if (got == 0)
                        break;
        }
        if (ferror(f))
                *err = EIO;
        fclose(f);
        *len = n;
        return buf;
}

static int name_cmp(const void *a, const void *b)
{
        return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted entry names of DIR (without . and ..); NULL-terminated, malloc'd. */
static char **list_dir(const char *dir, int *err)
{
        DIR *d = opendir(dir);
        struct dirent *de;
        char **v = NULL;
        size_t n = 0;

        *err = 0;
        if (!d) {
                *err = errno;
                return NULL;
        }
        while ((de = readdir(d)) != NULL) {
                char **nv;
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                nv = realloc(v, (n + 2) * sizeof(*v));
                if (!nv)
                        break;
                v = nv;
                v[n++] = strdup(de->d_name);
        }
        closedir(d);
        if (!v) {
                v = calloc(1, sizeof(*v));
                if (!v) {
                        *err = ENOMEM;
                        return NULL;
                }
        }
        v[n] = NULL;
        qsort(v, n, sizeof(*v), name_cmp);
        return v;
}

static void free_list(char **v)
{
        size_t i;

        for (i = 0; v && v[i]; i++)
                free(v[i]);
        free(v);
}

static long entries;

static void compare_tree(const char *rel)
{
        char pm[4096], pr[4096];
        char **lm, **lr;
        int em, er;
        size_t i;

        join(pm, sizeof(pm), root_m, rel);
        join(pr, sizeof(pr), root_r, rel);
        lm = list_dir(pm, &em);
        lr = list_dir(pr, &er);
        if (er) {
                fprintf(stderr, "treeops: reference readdir %s: %s\n", pr, strerror(er));
                exit(2);
        }
        if (em)
                fail("tree compare: readdir of %s: %s", pm, strerror(em));
        for (i = 0; lm[i] || lr[i]; i++) {
                char sub[4096], fm[4096], fr[4096];
                struct stat sm, sr;

                if (!lm[i] || !lr[i] || strcmp(lm[i], lr[i]) != 0)
                        fail("tree compare: directory '%s' lists '%s' on the mount, '%s' on the "
                             "reference",
                             *rel ? rel : ".", lm[i] ? lm[i] : "(end)", lr[i] ? lr[i] : "(end)");
                if ((size_t)snprintf(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", lr[i]) >=
                    sizeof(sub)) {
                        fprintf(stderr, "treeops: path too long under %s\n", rel);
                        exit(2);
                }
                join(fm, sizeof(fm), root_m, sub);
                join(fr, sizeof(fr), root_r, sub);
                entries++;
                if (lstat(fr, &sr) != 0) {
                        fprintf(stderr, "treeops: reference lstat %s: %s\n", fr, strerror(errno));
                        exit(2);
                }
                if (lstat(fm, &sm) != 0)
                        fail("tree compare: lstat of %s: %s", sub, strerror(errno));
                if ((sm.st_mode & S_IFMT) != (sr.st_mode & S_IFMT))
                        fail("tree compare: %s has type %o on the mount, %o on the reference", sub,
                             (unsigned)(sm.st_mode & S_IFMT), (unsigned)(sr.st_mode & S_IFMT));
                if (!S_ISLNK(sr.st_mode) && (sm.st_mode & 07777) != (sr.st_mode & 07777))
                        fail("tree compare: %s has mode %04o on the mount, %04o on the reference",
                             sub, (unsigned)(sm.st_mode & 07777), (unsigned)(sr.st_mode & 07777));
                if (S_ISREG(sr.st_mode)) {
                        size_t nm = 0, nr = 0;
                        unsigned char *bm, *br;
                        int e1, e2;
                        char xm[256], xr[256];
                        ssize_t lxm, lxr;

                        if (sm.st_size != sr.st_size)
                                fail("tree compare: %s is %" PRId64 " bytes on the mount, %" PRId64
                                     " on the reference",
                                     sub, (int64_t)sm.st_size, (int64_t)sr.st_size);
                        bm = slurp(fm, &nm, &e1);
                        br = slurp(fr, &nr, &e2);
                        if (e2) {
                                fprintf(stderr, "treeops: reference read %s: %s\n", fr,
                                        strerror(e2));
                                exit(2);
                        }
                        if (e1)
                                fail("tree compare: reading %s: %s", sub, strerror(e1));
                        if (nm != nr || memcmp(bm, br, nr) != 0)
                                fail("tree compare: content of %s differs (%zu vs %zu bytes read)",
                                     sub, nm, nr);
                        free(bm);
                        free(br);
                        if (sm.st_mtim.tv_sec != sr.st_mtim.tv_sec &&
                            sr.st_mtim.tv_sec < 1000000000)
                                fail(
                                    "tree compare: %s: mtime set by utimensat is %ld on the mount, "
                                    "%ld on the reference",
                                    sub, (long)sm.st_mtim.tv_sec, (long)sr.st_mtim.tv_sec);
                        lxm = getxattr(fm, "user.t", xm, sizeof(xm));
                        e1 = lxm < 0 ? errno : 0;
                        lxr = getxattr(fr, "user.t", xr, sizeof(xr));
                        e2 = lxr < 0 ? errno : 0;
                        if (e1 != e2 || lxm != lxr || (lxm > 0 && memcmp(xm, xr, (size_t)lxm) != 0))
                                fail("tree compare: xattr user.t of %s differs (mount: %zd %s, "
                                     "reference: "
                                     "%zd %s)",
                                     sub, lxm, e1 ? strerror(e1) : "", lxr, e2 ? strerror(e2) : "");
                } else if (S_ISLNK(sr.st_mode)) {
                        char tm[4096], tr[4096];
                        ssize_t a = readlink(fm, tm, sizeof(tm) - 1),
                                b = readlink(fr, tr, sizeof(tr) - 1);
                        if (a < 0 || a != b || memcmp(tm, tr, (size_t)b) != 0)
                                fail("tree compare: symlink %s differs", sub);
                } else if (S_ISDIR(sr.st_mode)) {
                        compare_tree(sub);
                }
        }
        free_list(lm);
        free_list(lr);
}

static void compare_all(const char *why)
{
        record("tree compare (%s)", why);
        entries = 0;
        compare_tree("");
}

/* ------------------------------------------------------------ ops */

static void op_create(void)
{
        char rel[64], m[4096], r[4096];
        static const int modes[] = {0, O_EXCL, O_TRUNC, O_APPEND};
        int fl = O_WRONLY | O_CREAT | modes[rnd(4)];
        size_t len = fill();

        rnd_path(rel, sizeof(rel));
        join(m, sizeof(m), root_m, rel);
        join(r, sizeof(r), root_r, rel);
        record("create %s flags=%s len=%zu", rel,
               fl & O_EXCL     ? "O_EXCL"
               : fl & O_TRUNC  ? "O_TRUNC"
               : fl & O_APPEND ? "O_APPEND"
                               : "-",
               len);
        agree("create", do_write_file(m, fl, databuf, len), do_write_file(r, fl, databuf, len));
}

static void op_write_existing(void)
{
        char rel[64], m[4096], r[4096];
        int fl = rnd(2) ? O_WRONLY | O_APPEND : O_WRONLY;
        size_t len = fill();

        rnd_path(rel, sizeof(rel));
        join(m, sizeof(m), root_m, rel);
        join(r, sizeof(r), root_r, rel);
        record("write (no O_CREAT) %s %s len=%zu", rel, fl & O_APPEND ? "O_APPEND" : "at 0", len);
        agree("write", do_write_file(m, fl, databuf, len), do_write_file(r, fl, databuf, len));
}

static void op_path1(int which)
{
        char rel[64], m[4096], r[4096];
        int a, b;
        off_t sz = (off_t)rnd(3) == 0 ? (off_t)rnd(200000) : (off_t)rnd(300);
        mode_t mode = (mode_t)(rnd(2) ? 0640 : 0755);
        struct timespec ts[2] = {{123456789, 0}, {234567890 + (time_t)rnd(1000), 0}};
        char val[32];
        int vl = snprintf(val, sizeof(val), "v%llu", (unsigned long long)rnd(1000));
        static const char *names[] = {"unlink", "mkdir",     "rmdir",    "truncate",
                                      "chmod",  "utimensat", "setxattr", "removexattr"};

        rnd_path(rel, sizeof(rel));
        join(m, sizeof(m), root_m, rel);
        join(r, sizeof(r), root_r, rel);
        switch (which) {
        case 0:
                record("unlink %s", rel);
                a = r_errno(unlink(m));
                b = r_errno(unlink(r));
                break;
        case 1:
                record("mkdir %s", rel);
                a = r_errno(mkdir(m, 0755));
                b = r_errno(mkdir(r, 0755));
                break;
        case 2:
                record("rmdir %s", rel);
                a = r_errno(rmdir(m));
                b = r_errno(rmdir(r));
                break;
        case 3:
                record("truncate %s %lld", rel, (long long)sz);
                a = r_errno(truncate(m, sz));
                b = r_errno(truncate(r, sz));
                break;
        case 4:
                record("chmod %s %o", rel, (unsigned)mode);
                a = r_errno(chmod(m, mode));
                b = r_errno(chmod(r, mode));
                break;
        case 5:
                record("utimensat %s", rel);
                a = r_errno(utimensat(AT_FDCWD, m, ts, 0));
                b = r_errno(utimensat(AT_FDCWD, r, ts, 0));
                break;
        case 6:
                record("setxattr %s user.t=%s", rel, val);
                a = r_errno(setxattr(m, "user.t", val, (size_t)vl, 0));
                b = r_errno(setxattr(r, "user.t", val, (size_t)vl, 0));
                break;
        default:
                record("removexattr %s user.t", rel);
                a = r_errno(removexattr(m, "user.t"));
                b = r_errno(removexattr(r, "user.t"));
                break;
        }
        agree(names[which], a, b);
}

static void op_rename(void)
{
        char ra[64], rb[64], ma[4096], mb[4096], fa[4096], fb[4096];
        static const unsigned flags[] = {0, 0, RENAME_NOREPLACE, RENAME_EXCHANGE};
        unsigned fl = flags[rnd(4)];
        int a, b;

        rnd_path(ra, sizeof(ra));
        rnd_path(rb, sizeof(rb));
        join(ma, sizeof(ma), root_m, ra);
        join(mb, sizeof(mb), root_m, rb);
        join(fa, sizeof(fa), root_r, ra);
        join(fb, sizeof(fb), root_r, rb);
        record("rename %s -> %s%s", ra, rb,
               fl == RENAME_NOREPLACE  ? " NOREPLACE"
               : fl == RENAME_EXCHANGE ? " EXCHANGE"
                                       : "");
        a = r_errno((int)syscall(SYS_renameat2, AT_FDCWD, ma, AT_FDCWD, mb, fl));
        b = r_errno((int)syscall(SYS_renameat2, AT_FDCWD, fa, AT_FDCWD, fb, fl));
        agree("rename", a, b);
}

static void op_symlink(void)
{
        char rel[64], tgt[64], m[4096], r[4096];

        rnd_path(rel, sizeof(rel));
        if (rnd(4) == 0)
                snprintf(tgt, sizeof(tgt), "dangling%u", (unsigned)rnd(10));
        else
                rnd_path(tgt, sizeof(tgt)); /* relative to the link's directory: stays inside */
        join(m, sizeof(m), root_m, rel);
        join(r, sizeof(r), root_r, rel);
        record("symlink %s -> %s", rel, tgt);
        agree("symlink", r_errno(symlink(tgt, m)), r_errno(symlink(tgt, r)));
}

static void op_read(void)
{
        char rel[64], m[4096], r[4096];
        size_t nm = 0, nr = 0;
        int e1, e2;
        unsigned char *bm, *br;

        rnd_path(rel, sizeof(rel));
        join(m, sizeof(m), root_m, rel);
        join(r, sizeof(r), root_r, rel);
        record("read %s", rel);
        bm = slurp(m, &nm, &e1);
        br = slurp(r, &nr, &e2);
        /* reading a directory with stdio: EISDIR from fread on both */
        agree("read", e1, e2);
        if (!e1 && (nm != nr || memcmp(bm, br, nr) != 0))
                fail("read %s: content differs (%zu vs %zu bytes)", rel, nm, nr);
        free(bm);
        free(br);
}

int main(int argc, char **argv)
{
        long ops, i;
        char *end;
        unsigned long long seed;

        if (argc != 5) {
                fprintf(stderr, "usage: treeops MOUNTDIR REFDIR OPS SEED\n");
                return 2;
        }
        root_m = argv[1];
        root_r = argv[2];
        ops = strtol(argv[3], &end, 10);
        if (*end || ops < 0) {
                fprintf(stderr, "treeops: bad OPS '%s'\n", argv[3]);
                return 2;
        }
        seed = strtoull(argv[4], &end, 0);
        if (*end) {
                fprintf(stderr, "treeops: bad SEED '%s'\n", argv[4]);
                return 2;
        }
        rng_state = seed;
        umask(022);
        opno = 0;
        compare_all("initial: trees must start equal");
        for (i = 1; i <= ops; i++) {
                uint64_t r = rnd(100);
                opno = i;
                if (r < 20)
                        op_create();
                else if (r < 27)
                        op_write_existing();
                else if (r < 37)
                        op_path1(0);
                else if (r < 47)
                        op_path1(1);
                else if (r < 53)
                        op_path1(2);
                else if (r < 56)
                        op_path1(3);
                else if (r < 59)
                        op_path1(4);
                else if (r < 61)
                        op_path1(5);
                else if (r < 64)
                        op_path1(6);
                else if (r < 66)
                        op_path1(7);
                else if (r < 84)
                        op_rename();
                else if (r < 90)
                        op_symlink();
                else
                        op_read();
                if (i % 250 == 0)
                        compare_all("periodic");
        }
        opno = ops + 1;
        compare_all("final");
        printf("treeops: %ld ops agreed (seed %llu); final tree has %ld entries\n", ops, seed,
               entries);
        return 0;
}
