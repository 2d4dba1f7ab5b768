/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Pinned blocks: copy-on-write for the blocks a pack recipe names
 * (fs/pin.h, doc/DESIGN.md "Write once", doc/SYNC.md D5).
 *
 * Invariant (D5): while a recipe in the outbox names LEN bytes at OFF of a
 * ciphertext file with hash H, bytes hashing to H exist durably in that
 * file at OFF, or in keep/b-<H>, or at OFF of a keep/k-<file id>-*
 * file.  A pin is LIVE (bytes only in the ciphertext file), SPILLED (b-) or
 * KEPT (k-); only LIVE pins cost anything when the file changes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/hash.h"
#include "fs/fsint.h"
#include "fs/pin.h"
#include "util/fileio.h"
#include "util/hex.h"
#include "util/log.h"

#define PIN_BUCKETS 1024
#define PIN_RECIPE_MAX (64u << 20)

enum { PIN_LIVE = 0, PIN_SPILLED = 1, PIN_KEPT = 2 };

struct pin_blk {
        uint64_t off;
        uint32_t len;
        uint32_t recipe;
        uint8_t hash[32];
        uint8_t state;
};

struct pin_file {
        struct pin_file *next;
        uint8_t fid[16];
        struct pin_blk *b;
        size_t n, cap;
        size_t nkept; /* k- files made for it (removed when its last pin goes) */
};

struct pin_recipe {
        uint32_t id;
        int named;
        uint8_t hash[32];
        uint64_t size; /* of the pack, once named */
};

struct fs_pins {
        pthread_mutex_t lock;
        int dirfd; /* REGION/keep */
        struct pin_file *bucket[PIN_BUCKETS];
        struct pin_recipe *rec;
        size_t nrec, caprec;
        uint32_t next_id;
        uint64_t keep_seq;
};

static unsigned pin_bucket(const uint8_t fid[16])
{
        return ((unsigned)fid[0] | (unsigned)fid[1] << 8) % PIN_BUCKETS;
}

static struct pin_file *pin_find(struct fs_pins *p, const uint8_t fid[16])
{
        struct pin_file *f = p->bucket[pin_bucket(fid)];

        while (f != NULL && memcmp(f->fid, fid, 16) != 0)
                f = f->next;
        return f;
}

static void pin_name(char *out, size_t size, char tag, const uint8_t *bytes, size_t n)
{
        char hex[65];

        hex_encode(hex, bytes, n);
        snprintf(out, size, "%c-%s", tag, hex);
}

/*
 * A fresh listing of keep/ (its own descriptor: dup()s of one handle share
 * the read position, so a second listing through them sees nothing), or
 * NULL with errno set.
 */
static DIR *pin_opendir(struct fs_pins *p)
{
        int fd = openat(p->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d;

        if (fd < 0)
                return NULL;
        d = fdopendir(fd);
        if (d == NULL) {
                int e = errno;

                close(fd);
                errno = e;
        }
        return d;
}

/* Removes keep/k-<FID>-* (caller holds the lock). */
static void pin_unlink_kept(struct fs_pins *p, const uint8_t fid[16])
{
        char prefix[80];
        struct dirent *de;
        DIR *d = pin_opendir(p);

        if (d == NULL)
                return;
        pin_name(prefix, sizeof(prefix), 'k', fid, 16);
        while ((de = readdir(d)) != NULL)
                if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 &&
                    de->d_name[strlen(prefix)] == '-')
                        (void)unlinkat(p->dirfd, de->d_name, 0);
        closedir(d);
}

static int pin_id_in(const uint32_t *ids, size_t n, uint32_t id)
{
        for (size_t i = 0; i < n; i++)
                if (ids[i] == id)
                        return 1;
        return 0;
}

/* Drops every pin of the recipes IDS, and the files that only they needed (lock held). */
static void pin_drop_ids(struct fs_pins *p, const uint32_t *ids, size_t nids)
{
        size_t i, j, k;

        for (i = 0; i < PIN_BUCKETS; i++) {
                struct pin_file **pf = &p->bucket[i];

                while (*pf != NULL) {
                        struct pin_file *f = *pf;

                        for (j = 0, k = 0; j < f->n; j++) {
                                if (!pin_id_in(ids, nids, f->b[j].recipe)) {
                                        f->b[k++] = f->b[j];
                                } else if (f->b[j].state == PIN_SPILLED) {
                                        char name[80];

                                        pin_name(name, sizeof(name), 'b', f->b[j].hash, 32);
                                        (void)unlinkat(p->dirfd, name, 0);
                                }
                        }
                        f->n = k;
                        if (f->n > 0) {
                                pf = &f->next;
                                continue;
                        }
                        if (f->nkept > 0)
                                pin_unlink_kept(p, f->fid);
                        *pf = f->next;
                        free(f->b);
                        free(f);
                }
        }
        for (i = 0, k = 0; i < p->nrec; i++)
                if (!pin_id_in(ids, nids, p->rec[i].id))
                        p->rec[k++] = p->rec[i];
        p->nrec = k;
}

uint32_t fs_pin_recipe_new(struct fs *fs)
{
        struct fs_pins *p = fs->bpins;
        uint32_t id;

        if (p == NULL)
                return 0;
        pthread_mutex_lock(&p->lock);
        id = ++p->next_id;
        pthread_mutex_unlock(&p->lock);
        return id;
}

static int pin_add_locked(struct fs_pins *p, uint32_t id, const uint8_t fid[16], uint64_t off,
                          uint32_t len, const uint8_t hash[32])
{
        struct pin_file *f = pin_find(p, fid);
        struct pin_blk *b;
        size_t i;

        for (i = 0; i < p->nrec && p->rec[i].id != id; i++)
                ;
        if (i == p->nrec) {
                if (p->nrec == p->caprec) {
                        size_t ncap = p->caprec ? p->caprec * 2 : 16;
                        struct pin_recipe *nr = realloc(p->rec, ncap * sizeof(*nr));

                        if (nr == NULL)
                                return -ENOMEM;
                        p->rec = nr;
                        p->caprec = ncap;
                }
                memset(&p->rec[p->nrec], 0, sizeof(p->rec[0]));
                p->rec[p->nrec++].id = id;
        }
        if (f == NULL) {
                f = calloc(1, sizeof(*f));
                if (f == NULL)
                        return -ENOMEM;
                memcpy(f->fid, fid, 16);
                f->next = p->bucket[pin_bucket(fid)];
                p->bucket[pin_bucket(fid)] = f;
        }
        if (f->n == f->cap) {
                size_t ncap = f->cap ? f->cap * 2 : 4;
                struct pin_blk *nb = realloc(f->b, ncap * sizeof(*nb));

                if (nb == NULL)
                        return -ENOMEM; /* an empty F stays: dropped with its recipe's pins */
                f->b = nb;
                f->cap = ncap;
        }
        b = &f->b[f->n++];
        b->off = off;
        b->len = len;
        b->recipe = id;
        memcpy(b->hash, hash, 32);
        b->state = PIN_LIVE;
        return 0;
}

int fs_pin_add(struct fs *fs, uint32_t id, const uint8_t file_id[static 16], uint64_t off,
               uint32_t len, const uint8_t hash[static 32])
{
        struct fs_pins *p = fs->bpins;
        int rc;

        if (p == NULL)
                return 0;
        pthread_mutex_lock(&p->lock);
        rc = pin_add_locked(p, id, file_id, off, len, hash);
        pthread_mutex_unlock(&p->lock);
        return rc;
}

void fs_pin_named(struct fs *fs, uint32_t id, const uint8_t hash[static 32], uint64_t size)
{
        struct fs_pins *p = fs->bpins;

        if (p == NULL)
                return;
        pthread_mutex_lock(&p->lock);
        for (size_t i = 0; i < p->nrec; i++)
                if (p->rec[i].id == id) {
                        p->rec[i].named = 1;
                        memcpy(p->rec[i].hash, hash, 32);
                        p->rec[i].size = size;
                }
        pthread_mutex_unlock(&p->lock);
}

uint64_t fs_pin_queued(struct fs *fs)
{
        struct fs_pins *p = fs->bpins;
        uint64_t sum = 0;

        if (p == NULL)
                return 0;
        pthread_mutex_lock(&p->lock);
        for (size_t i = 0; i < p->nrec; i++)
                sum += p->rec[i].named ? p->rec[i].size : 0;
        pthread_mutex_unlock(&p->lock);
        return sum;
}

void fs_pin_drop_id(struct fs *fs, uint32_t id)
{
        struct fs_pins *p = fs->bpins;

        if (p == NULL)
                return;
        pthread_mutex_lock(&p->lock);
        pin_drop_ids(p, &id, 1);
        pthread_mutex_unlock(&p->lock);
}

void fs_pin_drop_pack(struct fs *fs, const uint8_t hash[static 32])
{
        struct fs_pins *p = fs->bpins;
        uint32_t *ids;
        size_t n = 0;

        if (p == NULL)
                return;
        pthread_mutex_lock(&p->lock);
        ids = malloc((p->nrec + 1) * sizeof(*ids));
        if (ids != NULL) {
                for (size_t i = 0; i < p->nrec; i++)
                        if (p->rec[i].named && memcmp(p->rec[i].hash, hash, 32) == 0)
                                ids[n++] = p->rec[i].id;
                if (n > 0)
                        pin_drop_ids(p, ids, n);
        }
        /* Out of memory: the pins stay (harmless) until the next mount. */
        pthread_mutex_unlock(&p->lock);
        free(ids);
}

/* Writes BYTES as keep/NAME, durably (lock held). */
static int pin_write(struct fs_pins *p, const char *name, const uint8_t *bytes, size_t len)
{
        char path[PATH_MAX];

        snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", p->dirfd, name);
        return fileio_write_atomic(path, bytes, len, 0600, 0);
}

/* Copies LIVE pin B of F from FD to keep/b-<hash> (lock held). */
static int pin_spill_one(struct fs_pins *p, struct pin_file *f, struct pin_blk *b, int fd)
{
        char name[80], fid[33];
        uint8_t h[32], *buf = malloc(b->len);
        int rc;

        if (buf == NULL)
                return -ENOMEM;
        pin_name(name, sizeof(name), 'b', b->hash, 32);
        rc = fd >= 0 ? fileio_pread_full(fd, buf, b->len, (off_t)b->off) : -EBADF;
        if (rc == 0)
                hash_blake2b(h, buf, b->len);
        if (rc == 0 && memcmp(h, b->hash, 32) == 0) {
                rc = pin_write(p, name, buf, b->len);
        } else if (faccessat(p->dirfd, name, F_OK, 0) == 0) {
                rc = 0; /* spilled before a crash; the pin was loaded LIVE again */
        } else {
                /* Changed before this mount kept it (e.g. a kept file's bytes): say so once. */
                hex_encode(fid, f->fid, 16);
                log_warn("file %s: a block waiting for upload (offset %llu) is not in its "
                         "ciphertext file any more; looking for it in keep/ at upload",
                         fid, (unsigned long long)b->off);
                rc = 0;
        }
        free(buf);
        if (rc == 0)
                b->state = PIN_SPILLED;
        return rc;
}

int fs_pin_spill(struct fs *fs, const uint8_t file_id[static 16], int fd, uint64_t lo, uint64_t hi)
{
        struct fs_pins *p = fs->bpins;
        struct pin_file *f;
        int rc = 0;

        if (p == NULL)
                return 0;
        pthread_mutex_lock(&p->lock);
        f = pin_find(p, file_id);
        for (size_t i = 0; f != NULL && i < f->n && rc == 0; i++) {
                struct pin_blk *b = &f->b[i];

                if (b->state == PIN_LIVE && b->off < hi && b->off + b->len > lo)
                        rc = pin_spill_one(p, f, b, fd);
        }
        pthread_mutex_unlock(&p->lock);
        if (rc != 0)
                log_err("cannot keep a block waiting for upload before it changes: %s",
                        strerror(-rc));
        return rc;
}

static int pin_live(const struct pin_file *f)
{
        for (size_t i = 0; f != NULL && i < f->n; i++)
                if (f->b[i].state == PIN_LIVE)
                        return 1;
        return 0;
}

int fs_pin_has(struct fs *fs, const uint8_t file_id[static 16])
{
        struct fs_pins *p = fs->bpins;
        int has;

        if (p == NULL)
                return 0;
        pthread_mutex_lock(&p->lock);
        has = pin_live(pin_find(p, file_id));
        pthread_mutex_unlock(&p->lock);
        return has;
}

int fs_pin_keep(struct fs *fs, const uint8_t file_id[static 16])
{
        struct fs_pins *p = fs->bpins;
        struct pin_file *f;
        char path[40], name[80], fid[33];
        int rc = 0;

        if (p == NULL)
                return 0;
        pthread_mutex_lock(&p->lock);
        f = pin_find(p, file_id);
        if (!pin_live(f))
                goto out;
        fs_content_path(file_id, path);
        hex_encode(fid, file_id, 16);
        {
                /* Its blocks may not be synced yet (the committer syncs the path, not this inode).
                 */
                int fd = openat(fs->data_dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

                if (fd >= 0 && fdatasync(fd) != 0) {
                        rc = -errno;
                        close(fd);
                        log_err("file %s: cannot sync its blocks waiting for upload: %s", fid,
                                strerror(-rc));
                        goto out;
                }
                if (fd >= 0)
                        close(fd);
        }
        for (;;) {
                snprintf(name, sizeof(name), "k-%s-%016llx", fid,
                         (unsigned long long)++p->keep_seq);
                if (linkat(fs->data_dirfd, path, p->dirfd, name, 0) == 0)
                        break;
                if (errno != EEXIST) {
                        rc = errno == ENOENT ? 0 : -errno;
                        if (rc != 0)
                                log_err("file %s: cannot keep its blocks waiting for upload: %s",
                                        fid, strerror(errno));
                        goto out;
                }
        }
        rc = fileio_fsync_dirat(p->dirfd, ".");
        if (rc != 0)
                goto out;
        f->nkept++;
        for (size_t i = 0; i < f->n; i++)
                if (f->b[i].state == PIN_LIVE)
                        f->b[i].state = PIN_KEPT;
out:
        pthread_mutex_unlock(&p->lock);
        return rc;
}

/* Reads IT's bytes from the file NAME under DIRFD into OUT; unreadable: zeros (no match). */
static int pin_read_at(int dirfd, const char *name, uint64_t off, const struct recipe_item *it,
                       uint8_t *out)
{
        int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

        if (fd < 0 || fileio_pread_full(fd, out, it->len, (off_t)off) != 0)
                memset(out, 0, it->len);
        if (fd >= 0)
                close(fd);
        return 0;
}

/* The N-th (from 0) keep/k-<fid>-* name, or -ENOENT. */
static int pin_kept_name(struct fs_pins *p, const uint8_t fid[16], unsigned n, char *out,
                         size_t size)
{
        char prefix[80];
        struct dirent *de;
        int rc = -ENOENT;
        DIR *d = pin_opendir(p);

        if (d == NULL)
                return errno ? -errno : -ENOMEM;
        pin_name(prefix, sizeof(prefix), 'k', fid, 16);
        while ((de = readdir(d)) != NULL) {
                if (strncmp(de->d_name, prefix, strlen(prefix)) != 0 ||
                    de->d_name[strlen(prefix)] != '-' || n-- > 0)
                        continue;
                snprintf(out, size, "%s", de->d_name);
                rc = 0;
                break;
        }
        closedir(d);
        return rc;
}

int fs_pin_read(void *arg, const struct recipe_item *it, unsigned attempt, uint8_t *out)
{
        struct fs *fs = arg;
        struct fs_pins *p = fs->bpins;
        char name[PATH_MAX];

        if (attempt == 0) {
                fs_content_path(it->file_id, name);
                return pin_read_at(fs->data_dirfd, name, it->off, it, out);
        }
        if (p == NULL)
                return -ENOENT;
        if (attempt == 1) {
                pin_name(name, sizeof(name), 'b', it->hash, 32);
                if (pin_read_at(p->dirfd, name, 0, it, out) == 0 &&
                    faccessat(p->dirfd, name, F_OK, 0) == 0)
                        return 0;
                memset(out, 0, it->len);
                return 0;
        }
        if (pin_kept_name(p, it->file_id, attempt - 2, name, sizeof(name)) != 0)
                return -ENOENT;
        return pin_read_at(p->dirfd, name, it->off, it, out);
}

/* ---- open: load the recipes, drop what no pin needs ---- */

static int pin_load_recipe(struct fs_pins *p, int outfd, const char *name)
{
        char path[PATH_MAX];
        struct recipe r;
        uint8_t *buf = NULL, hash[32];
        size_t len = 0, i;
        uint32_t id = ++p->next_id;
        int rc;

        if (hex_decode(hash, 32, name + 2) != 0)
                return 0;
        snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", outfd, name);
        rc = fileio_read_all(path, PIN_RECIPE_MAX, &buf, &len);
        if (rc == 0)
                rc = recipe_decode(buf, len, &r);
        if (rc != 0) {
                free(buf);
                log_err("outbox: recipe %s cannot be read (%s); it stays for inspection", name,
                        strerror(-rc));
                return rc == -EBADMSG ? 0 : rc;
        }
        for (i = 0; i < r.n && rc == 0; i++)
                if (r.items[i].kind == PACK_KIND_BLOCK)
                        rc = pin_add_locked(p, id, r.items[i].file_id, r.items[i].off,
                                            r.items[i].len, r.items[i].hash);
        for (i = 0; i < p->nrec && rc == 0; i++)
                if (p->rec[i].id == id) {
                        p->rec[i].named = 1;
                        memcpy(p->rec[i].hash, hash, 32);
                        p->rec[i].size = r.pack_size;
                }
        recipe_release(&r);
        free(buf);
        return rc;
}

static int pin_load(struct fs_pins *p, const char *region_dir)
{
        char path[PATH_MAX];
        struct dirent *de;
        DIR *d;
        int fd, rc = 0;

        if (snprintf(path, sizeof(path), "%s/outbox", region_dir) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        d = fdopendir(fd);
        if (d == NULL) {
                close(fd);
                return -ENOMEM;
        }
        while (rc == 0 && (de = readdir(d)) != NULL)
                if (strncmp(de->d_name, "r-", 2) == 0 && strlen(de->d_name) == 66)
                        rc = pin_load_recipe(p, dirfd(d), de->d_name);
        closedir(d);
        return rc;
}

/* 1 if keep/NAME is still needed by a loaded pin. */
static int pin_needed(struct fs_pins *p, const char *name)
{
        uint8_t h[32];
        struct pin_file *f;

        if (name[0] == 'k' && name[1] == '-' && strlen(name) == 2 + 32 + 1 + 16 &&
            hex_decode_lower(h, 16, name + 2) == 0 && (f = pin_find(p, h)) != NULL) {
                f->nkept++;
                return 1;
        }
        if (name[0] == 'b' && name[1] == '-' && strlen(name) == 66 &&
            hex_decode(h, 32, name + 2) == 0)
                for (size_t i = 0; i < PIN_BUCKETS; i++)
                        for (f = p->bucket[i]; f != NULL; f = f->next)
                                for (size_t j = 0; j < f->n; j++)
                                        if (memcmp(f->b[j].hash, h, 32) == 0) {
                                                /* spilled before a crash: dropped with its pin */
                                                f->b[j].state = PIN_SPILLED;
                                                return 1;
                                        }
        return 0;
}

static void pin_sweep(struct fs_pins *p)
{
        struct dirent *de;
        DIR *d = pin_opendir(p);

        if (d == NULL)
                return;
        while ((de = readdir(d)) != NULL) {
                if (de->d_name[0] == '.' &&
                    (de->d_name[1] == '\0' || strcmp(de->d_name, "..") == 0))
                        continue;
                if (!pin_needed(p, de->d_name))
                        (void)unlinkat(p->dirfd, de->d_name, 0);
        }
        closedir(d);
}

int fs_pin_open(struct fs *fs, const char *region_dir)
{
        char path[PATH_MAX];
        struct fs_pins *p;
        struct timespec now;
        int rc;

        if (snprintf(path, sizeof(path), "%s/keep", region_dir) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
                return -errno;
        p = calloc(1, sizeof(*p));
        if (p == NULL)
                return -ENOMEM;
        p->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (p->dirfd < 0) {
                rc = -errno;
                free(p);
                return rc;
        }
        pthread_mutex_init(&p->lock, NULL);
        clock_gettime(CLOCK_REALTIME, &now);
        p->keep_seq = (uint64_t)now.tv_sec << 20; /* k- names stay unique across mounts */
        rc = pin_load(p, region_dir);
        if (rc == 0)
                pin_sweep(p);
        fs->bpins = p;
        if (rc != 0)
                fs_pin_close(fs);
        return rc;
}

void fs_pin_close(struct fs *fs)
{
        struct fs_pins *p = fs->bpins;

        if (p == NULL)
                return;
        for (size_t i = 0; i < PIN_BUCKETS; i++)
                while (p->bucket[i] != NULL) {
                        struct pin_file *f = p->bucket[i];

                        p->bucket[i] = f->next;
                        free(f->b);
                        free(f);
                }
        free(p->rec);
        close(p->dirfd);
        pthread_mutex_destroy(&p->lock);
        free(p);
        fs->bpins = NULL;
}
