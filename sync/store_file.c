/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The file:// store: one file per object under a root directory.
 *
 * Invariants:
 *  1. An object is visible under its key only complete: put writes a
 *     temporary file ".tmp-XXXXXX" in the key's directory, fsyncs it, and
 *     renames it into place (link(2) with if_absent, so an existing object
 *     is never replaced), then fsyncs the directory.
 *  2. Temporary names contain '.', never valid in a key: list skips them,
 *     as it skips anything else that is not a regular file or directory
 *     with a key-shaped name (store junk).
 *  3. list yields keys in strict byte order: a directory D sorts as "D/",
 *     so every key under it comes out where its full key belongs.
 *  4. Only init (store_create, for `create`) makes the root.  put makes
 *     the directories of a key below an existing root, one mkdir at a time,
 *     so a root that is gone (an unplugged disk, an unmounted share) is
 *     never replaced by an empty one: every operation then fails with
 *     -ENOMEDIUM (doc/SYNC.md S1, store-missing).
 *  5. put writes nothing but the marker (STORE_MARKER_KEY) into a root
 *     without a marker: an empty directory in the store's place (the
 *     mount point of an unmounted share) is no store either (-ENOMEDIUM).
 *     The marker is written by store_create and store_check only.
 */
#include "sync/store_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fileio.h"
#include "util/log.h"

#define STORE_FILE_KEY_MAX 512
#define STORE_FILE_TMP ".tmp-XXXXXX"

struct store_file {
        struct store base;
        char root[PATH_MAX];
        int trace_fd; /* SEALSYNC_STORE_TRACE: one line per request, or -1 */
};

static struct store_file *store_file_of(struct store *s)
{
        return (struct store_file *)s;
}

/*
 * Request counting for tests and measurements (doc/STORE.md): with
 * SEALSYNC_STORE_TRACE=FILE, every request appends "OP KEY" to FILE (object
 * keys are hashes and ids: no names, no content).
 */
static void store_file_trace(struct store *s, const char *op, const char *key)
{
        char line[STORE_FILE_KEY_MAX + 16];
        int n;

        if (store_file_of(s)->trace_fd < 0)
                return;
        n = snprintf(line, sizeof(line), "%s %s\n", op, key != NULL ? key : "");
        if (n > 0 && (size_t)n < sizeof(line) &&
            write(store_file_of(s)->trace_fd, line, (size_t)n) != n)
                log_debug("store trace: write failed");
}

static int store_file_path(struct store *s, const char *key, char *out, size_t outlen)
{
        int n;

        if (!store_key_valid(key))
                return -EINVAL;
        n = snprintf(out, outlen, "%s/%s", store_file_of(s)->root, key);
        return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

/*
 * 1 if the store's root is a directory.  A root that is gone (an unmounted
 * network share, a renamed directory) is a missing store (-ENOMEDIUM),
 * never an empty one: the puller would take "no objects" as a rollback.
 */
static int store_file_root_ok(struct store *s)
{
        const char *root = store_file_of(s)->root;
        struct stat st;

        return stat(root[0] != '\0' ? root : "/", &st) == 0 && S_ISDIR(st.st_mode);
}

/* 1 if the root holds the store marker (a regular file; its bytes are store_check's). */
static int store_file_marked(struct store *s)
{
        char path[PATH_MAX];
        struct stat st;

        if (snprintf(path, sizeof(path), "%s/" STORE_MARKER_KEY, store_file_of(s)->root) >=
            (int)sizeof(path))
                return 0;
        return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/*
 * Makes the directories of PATH (ROOT or ROOT/DIRS, the directory of a
 * key) that are missing, below the root only: if the root is
 * gone, the first mkdir fails and nothing is created.
 */
static int store_file_mkdirs(struct store *s, char *path)
{
        size_t rootlen = strlen(store_file_of(s)->root);
        char *c;

        if (!store_file_root_ok(s))
                return -ENOMEDIUM;
        if (strlen(path) <= rootlen)
                return 0; /* a key at the root */
        for (c = path + rootlen + 1;; c++) {
                char save = *c;

                if (save != '/' && save != '\0')
                        continue;
                *c = '\0';
                if (mkdir(path, 0700) != 0 && errno != EEXIST) {
                        int err = errno;

                        *c = save;
                        return err == ENOENT && !store_file_root_ok(s) ? -ENOMEDIUM : -err;
                }
                *c = save;
                if (save == '\0')
                        return 0;
        }
}

/* Writes BUF to the temporary file FD and makes it durable. */
static int store_file_fill(int fd, const void *buf, size_t len)
{
        int rc = fileio_pwrite_full(fd, buf, len, 0);

        if (rc == 0 && fsync(fd) != 0)
                rc = -errno;
        return rc;
}

/* A put's body: BUF (LEN bytes), or LEN bytes from READ (a streamed put, D9). */
struct store_file_body {
        const void *buf;
        uint64_t len;
        store_source_fn read;
        void *arg;
};

#define STORE_FILE_STREAM_CHUNK (1u << 20)

/* Writes B's LEN bytes from READ into FD at 0, and syncs it; READ's error stops it. */
static int store_file_fill_stream(int fd, const struct store_file_body *b)
{
        uint8_t *chunk = malloc(STORE_FILE_STREAM_CHUNK);
        uint64_t off = 0;
        int rc = 0;

        if (chunk == NULL)
                return -ENOMEM;
        while (rc == 0 && off < b->len) {
                size_t k = b->len - off < STORE_FILE_STREAM_CHUNK ? (size_t)(b->len - off)
                                                                  : STORE_FILE_STREAM_CHUNK;

                rc = b->read(b->arg, off, chunk, k);
                if (rc == 0)
                        rc = fileio_pwrite_full(fd, chunk, k, (off_t)off);
                off += k;
        }
        free(chunk);
        if (rc == 0 && fsync(fd) != 0)
                rc = -errno;
        return rc;
}

static int store_file_put_body(struct store *s, const char *key, const struct store_file_body *b,
                               int if_absent)
{
        char path[PATH_MAX], dir[PATH_MAX], tmp[PATH_MAX];
        char *slash;
        int fd, rc;

        store_file_trace(s, "PUT", key);
        rc = store_file_path(s, key, path, sizeof(path));
        if (rc != 0)
                return rc;
        snprintf(dir, sizeof(dir), "%s", path);
        slash = strrchr(dir, '/');
        *slash = '\0'; /* there is one: the path is ROOT/KEY */
        if (snprintf(tmp, sizeof(tmp), "%s/" STORE_FILE_TMP, dir) >= (int)sizeof(tmp))
                return -ENAMETOOLONG;
        if (strcmp(key, STORE_MARKER_KEY) != 0 && !store_file_marked(s))
                return -ENOMEDIUM; /* invariant 5 (also: no root at all) */
        rc = store_file_mkdirs(s, dir);
        if (rc != 0)
                return rc;
        fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
        if (fd < 0)
                return -errno;
        /* A streamed body that fails is never linked into place (D9). */
        rc = b->read != NULL ? store_file_fill_stream(fd, b) : store_file_fill(fd, b->buf, b->len);
        if (close(fd) != 0 && rc == 0)
                rc = -errno;
        if (rc != 0)
                goto out_unlink;
        if (if_absent) {
                if (link(tmp, path) != 0)
                        rc = -errno;
        } else if (rename(tmp, path) != 0) {
                rc = -errno;
        }
        if (rc == 0)
                rc = fileio_fsync_dir(dir);
out_unlink:
        unlink(tmp); /* after a rename there is nothing left to remove */
        return rc;
}

static int store_file_put(struct store *s, const char *key, const void *buf, size_t len,
                          int if_absent)
{
        struct store_file_body b = {.buf = buf, .len = len};

        return store_file_put_body(s, key, &b, if_absent);
}

static int store_file_put_stream(struct store *s, const char *key, uint64_t len, int if_absent,
                                 const uint8_t sha256[32], store_source_fn read, void *arg)
{
        struct store_file_body b = {.len = len, .read = read, .arg = arg};

        (void)sha256; /* the source checks its own bytes (D9) */
        if (read == NULL)
                return -EINVAL;
        return store_file_put_body(s, key, &b, if_absent);
}

/* Not a regular file where the key points: there is no such object (or no store: -ENOMEDIUM). */
static int store_file_absent(struct store *s, int rc)
{
        if (rc == -EINVAL || rc == -EISDIR || rc == -ENOTDIR || rc == -ELOOP || rc == -ENOENT)
                return store_file_root_ok(s) ? -ENOENT : -ENOMEDIUM;
        return rc;
}

static int store_file_get(struct store *s, const char *key, size_t max, uint8_t **buf, size_t *len)
{
        char path[PATH_MAX];
        int rc;

        store_file_trace(s, "GET", key);
        rc = store_file_path(s, key, path, sizeof(path));
        if (rc != 0)
                return rc;
        return store_file_absent(s, fileio_read_all(path, max, buf, len));
}

static int store_file_get_range(struct store *s, const char *key, uint64_t off, size_t len,
                                uint8_t *buf)
{
        char path[PATH_MAX];
        struct stat st;
        int fd, rc;

        store_file_trace(s, "GET-RANGE", key);
        rc = store_file_path(s, key, path, sizeof(path));
        if (rc != 0)
                return rc;
        if (off > (uint64_t)INT64_MAX || len > (uint64_t)INT64_MAX - off)
                return -EINVAL;
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return store_file_absent(s, -errno);
        if (fstat(fd, &st) != 0)
                rc = -errno;
        else if (!S_ISREG(st.st_mode))
                rc = -ENOENT;
        else
                rc = fileio_pread_full(fd, buf, len, (off_t)off); /* -EIO if shorter */
        close(fd);
        return rc;
}

static int store_file_del(struct store *s, const char *key)
{
        char path[PATH_MAX];
        int rc;

        store_file_trace(s, "DELETE", key);
        rc = store_file_path(s, key, path, sizeof(path));
        if (rc != 0)
                return rc;
        if (unlink(path) != 0)
                return store_file_absent(s, -errno);
        /* Empty directories stay: removing them would race with a concurrent put. */
        return 0;
}

/* ---- list ---- */

struct store_file_ent {
        char name[NAME_MAX + 2]; /* a directory's name ends in '/' */
        uint64_t size;
};

struct store_file_walk {
        struct store_file *s;
        const char *prefix;
        const char *start_after;
        int (*cb)(void *arg, const char *key, uint64_t size);
        void *arg;
        char key[STORE_FILE_KEY_MAX + 2]; /* the directory being walked, as a key prefix */
};

static int store_file_ent_cmp(const void *a, const void *b)
{
        return strcmp(((const struct store_file_ent *)a)->name,
                      ((const struct store_file_ent *)b)->name);
}

static int store_file_name_ok(const char *name)
{
        size_t i;

        for (i = 0; name[i] != '\0'; i++)
                if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
                      name[i] == '-'))
                        return 0;
        return i > 0;
}

static int starts_with(const char *s, const char *p)
{
        return strncmp(s, p, strlen(p)) == 0;
}

/* Reads directory PATH's key-shaped entries into a malloc'd, sorted array. */
static int store_file_readdir(const char *path, size_t keylen, struct store_file_ent **out,
                              size_t *n)
{
        struct store_file_ent *v = NULL, *nv;
        size_t count = 0, cap = 0, len;
        struct dirent *de;
        struct stat st;
        DIR *dir;
        int rc = 0;

        dir = opendir(path);
        if (dir == NULL)
                return errno == ENOENT || errno == ENOTDIR ? -ENOENT : -errno;
        while ((errno = 0, de = readdir(dir)) != NULL) {
                len = strlen(de->d_name);
                if (!store_file_name_ok(de->d_name) || keylen + len > STORE_FILE_KEY_MAX)
                        continue;
                if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
                        continue; /* vanished meanwhile */
                if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
                        continue;
                if (count == cap) {
                        cap = cap ? 2 * cap : 64;
                        nv = realloc(v, cap * sizeof(*v));
                        if (nv == NULL) {
                                rc = -ENOMEM;
                                goto fail;
                        }
                        v = nv;
                }
                memcpy(v[count].name, de->d_name, len + 1);
                if (S_ISDIR(st.st_mode)) {
                        v[count].name[len] = '/';
                        v[count].name[len + 1] = '\0';
                }
                v[count].size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
                count++;
        }
        if (errno != 0) {
                rc = -errno;
                goto fail;
        }
        closedir(dir);
        if (count > 1)
                qsort(v, count, sizeof(*v), store_file_ent_cmp);
        *out = v;
        *n = count;
        return 0;
fail:
        closedir(dir);
        free(v);
        return rc;
}

/* Walks the directory for key prefix W->key (KEYLEN bytes, "" or ending in '/'). */
static int store_file_walk_dir(struct store_file_walk *w, size_t keylen)
{
        char path[PATH_MAX];
        struct store_file_ent *v = NULL;
        size_t n = 0, i, len;
        int rc;

        if (snprintf(path, sizeof(path), "%s/%s", w->s->root, w->key) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        rc = store_file_readdir(path, keylen, &v, &n);
        if (rc == -ENOENT)
                return 0; /* nothing stored yet */
        if (rc != 0)
                return rc;
        for (i = 0; i < n && rc == 0; i++) {
                len = strlen(v[i].name);
                memcpy(w->key + keylen, v[i].name, len + 1);
                if (w->key[keylen + len - 1] != '/') {
                        if (starts_with(w->key, w->prefix) &&
                            (w->start_after == NULL || strcmp(w->key, w->start_after) > 0))
                                rc = w->cb(w->arg, w->key, v[i].size);
                        continue;
                }
                /* Directory "K/": descend only if some key under it can match. */
                if (!starts_with(w->key, w->prefix) && !starts_with(w->prefix, w->key))
                        continue;
                if (w->start_after != NULL && strcmp(w->start_after, w->key) > 0 &&
                    !starts_with(w->start_after, w->key))
                        continue; /* every key under K/ sorts before START_AFTER */
                rc = store_file_walk_dir(w, keylen + len);
        }
        w->key[keylen] = '\0';
        free(v);
        return rc;
}

static int store_file_list(struct store *s, const char *prefix, const char *start_after,
                           int (*cb)(void *arg, const char *key, uint64_t size), void *arg)
{
        struct store_file_walk w;
        size_t i;
        int rc;

        if (prefix == NULL)
                prefix = "";
        store_file_trace(s, "LIST", prefix);
        if (strlen(prefix) > STORE_FILE_KEY_MAX || prefix[0] == '/')
                return -EINVAL;
        for (i = 0; prefix[i] != '\0'; i++)
                if (!((prefix[i] >= 'a' && prefix[i] <= 'z') ||
                      (prefix[i] >= '0' && prefix[i] <= '9') || prefix[i] == '-' ||
                      prefix[i] == '/') ||
                    (prefix[i] == '/' && prefix[i + 1] == '/'))
                        return -EINVAL;
        if (!store_file_root_ok(s))
                return -ENOMEDIUM;
        memset(&w, 0, sizeof(w));
        w.s = store_file_of(s);
        w.prefix = prefix;
        w.start_after = start_after;
        w.cb = cb;
        w.arg = arg;
        rc = store_file_walk_dir(&w, 0);
        /* A root that went away during the walk made missing directories look empty. */
        if ((rc == 0 || rc == -ENOENT) && !store_file_root_ok(s))
                return -ENOMEDIUM;
        return rc;
}

/* The root and its parents (`create` only). */
static int store_file_init(struct store *s)
{
        const char *root = store_file_of(s)->root;

        return root[0] == '\0' ? 0 : fileio_mkdirs(root, 0700);
}

static void store_file_close(struct store *s)
{
        if (store_file_of(s)->trace_fd >= 0)
                close(store_file_of(s)->trace_fd);
        free(store_file_of(s));
}

static const struct store_ops store_file_ops = {
    .put = store_file_put,
    .put_stream = store_file_put_stream,
    .get = store_file_get,
    .get_range = store_file_get_range,
    .list = store_file_list,
    .del = store_file_del,
    .init = store_file_init,
    .close = store_file_close,
};

int store_file_open(const char *root, struct store **out)
{
        struct store_file *s;
        size_t n = strlen(root);

        if (root[0] != '/')
                return -EINVAL;
        while (n > 1 && root[n - 1] == '/')
                n--;
        /* Leave room for a whole key and a temporary name under the root. */
        if (n + 1 + STORE_FILE_KEY_MAX + sizeof(STORE_FILE_TMP) >= PATH_MAX) {
                log_err("file store path is too long");
                return -ENAMETOOLONG;
        }
        s = calloc(1, sizeof(*s));
        if (s == NULL)
                return -ENOMEM;
        s->base.ops = &store_file_ops;
        s->trace_fd = -1;
        if (getenv("SEALSYNC_STORE_TRACE") != NULL)
                s->trace_fd = open(getenv("SEALSYNC_STORE_TRACE"),
                                   O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        memcpy(s->root, root, n);
        s->root[n] = '\0';
        if (n == 1)
                s->root[0] = '\0'; /* "/" + "/" + key would double the slash */
        *out = &s->base;
        return 0;
}
