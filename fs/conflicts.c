/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Listing the conflict copies of a mounted region (the control socket's
 * CONFLICTS, fs/ctl.c; `sealsync conflicts`).
 *
 * A conflict copy is an entry named as fs/apply.c apply_conflict_name
 * names one: "name (conflict from DEVICE DATE HASH).ext".  Names are
 * plaintext only inside the daemon, so the walk runs here, over the index
 * (index_readdir), like readdir does.
 *
 * Invariants:
 *   1. Bounded memory whatever the region's size: a stack of one frame per
 *      directory level (at most FS_CONFLICT_DEPTH_MAX) and one batch of at
 *      most FS_CONFLICT_BATCH entries; every copy is handed to the caller's
 *      callback as soon as it is found, nothing is collected.
 *   2. No index call is made from inside index_readdir's callback (it holds
 *      the index lock): a batch is read first, then looked at.
 *   3. Plaintext names in the batch and the path buffers are wiped after use.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/secmem.h"
#include "fs/fsint.h"
#include "sync/index.h"

#define FS_CONFLICT_BATCH 256
#define FS_CONFLICT_DEPTH_MAX 1024

static const char conflict_tag[] = " (conflict from ";

/* 1 if S (N bytes) is N hex digits (lower case), N one of apply_conflict_name's lengths. */
static int conflict_is_hash(const char *s, size_t n)
{
        size_t i;

        if (n != 6 && n != 12 && n != 20 && n != 32)
                return 0;
        for (i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return 0;
        return 1;
}

/* 1 if S (N bytes) is a "YYYY-MM-DD" date or "unknown-date". */
static int conflict_is_date(const char *s, size_t n)
{
        size_t i;

        if (n == 12 && memcmp(s, "unknown-date", 12) == 0)
                return 1;
        if (n != 10 || s[4] != '-' || s[7] != '-')
                return 0;
        for (i = 0; i < n; i++)
                if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
                        return 0;
        return 1;
}

/*
 * The suffix starting at TAG (" (conflict from ") and ending before EXT
 * (NAME + LEN): "DEVICE DATE HASH)" with an extension after it that
 * apply_ext_len would have kept ("" or ".x", at most 16 bytes, one dot).
 */
static int conflict_suffix_ok(const char *tag, const char *name, size_t len, size_t *ext_off)
{
        const char *end = name + len, *p, *rp;

        for (rp = end - 1; rp > tag; rp--) {
                const char *sp1, *sp2;
                size_t ext = (size_t)(end - rp - 1);

                if (*rp != ')')
                        continue;
                if (ext > 16 || (ext > 0 && (rp[1] != '.' || memchr(rp + 2, '.', ext - 1) != NULL)))
                        continue;
                /* rp: the suffix's ')'; before it " DATE HASH" */
                for (sp2 = rp - 1; sp2 > tag && *sp2 != ' '; sp2--)
                        ;
                for (sp1 = sp2 - 1; sp1 > tag && *sp1 != ' '; sp1--)
                        ;
                p = tag + sizeof(conflict_tag) - 1; /* DEVICE starts here */
                if (sp1 < p + 1 || !conflict_is_hash(sp2 + 1, (size_t)(rp - sp2 - 1)) ||
                    !conflict_is_date(sp1 + 1, (size_t)(sp2 - sp1 - 1)))
                        continue;
                *ext_off = (size_t)(rp + 1 - name);
                return 1;
        }
        return 0;
}

int fs_conflict_split(const char *name, size_t len, size_t *base_len, size_t *ext_off)
{
        const char *tag = NULL, *p = name;
        size_t tl = sizeof(conflict_tag) - 1, eo = 0;

        /* The last tag that parses: a copy of a copy names the first copy as its original. */
        for (;;) {
                const char *q =
                    p < name + len ? memmem(p, (size_t)(name + len - p), conflict_tag, tl) : NULL;

                if (q == NULL)
                        break;
                if (q > name && conflict_suffix_ok(q, name, len, &eo))
                        tag = q;
                p = q + 1;
        }
        if (tag == NULL || !conflict_suffix_ok(tag, name, len, &eo))
                return 0;
        *base_len = (size_t)(tag - name);
        *ext_off = eo;
        return 1;
}

struct conflict_entry {
        int64_t pos;
        uint64_t ino;
        uint8_t type;
        size_t len;
        char name[INDEX_NAME_MAX + 1];
};

struct conflict_batch {
        struct conflict_entry *e;
        size_t n;
};

struct conflict_frame {
        uint64_t dir;
        int64_t pos; /* the last entry looked at */
        size_t plen; /* the length of this directory's path */
};

/* index_readdir callback: a batch, ending early after a directory (to descend into it). */
static int conflict_collect(void *arg, int64_t pos, uint64_t ino, uint8_t type, const char *name,
                            size_t len)
{
        struct conflict_batch *b = arg;
        struct conflict_entry *e = &b->e[b->n++];

        e->pos = pos;
        e->ino = ino;
        e->type = type;
        e->len = len < INDEX_NAME_MAX ? len : INDEX_NAME_MAX;
        memcpy(e->name, name, e->len);
        e->name[e->len] = '\0';
        return b->n == FS_CONFLICT_BATCH || type == FS_KIND_DIR ? 1 : 0;
}

/* The author and mtime of inode INO into S (S->exists set). */
static int conflict_side(struct fs *fs, uint64_t ino, struct fs_conflict_side *s)
{
        static const uint8_t zero[16];
        struct fs_inode *in;
        int rc = fs_inode_get(fs, ino, &in);

        if (rc != 0)
                return rc;
        pthread_rwlock_rdlock(&in->lock);
        /* A version never committed is this device's (apply.c apply_local_ver). */
        memcpy(s->author, in->has_manifest ? in->author : fs->device_id, 16);
        s->mtime_s = (int64_t)in->mtime.tv_sec;
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(fs, in);
        s->exists = 1;
        s->author_known = memcmp(s->author, zero, 16) != 0;
        if (s->author_known)
                fs_device_label(fs, s->author, s->label);
        return 0;
}

/* A shortened copy's original: the one entry BASE...EXT that is no copy itself. */
struct conflict_prefix {
        const char *base, *ext;
        size_t blen, elen;
        char found[INDEX_NAME_MAX + 1];
        size_t flen;
        unsigned n;
};

static int conflict_prefix_cb(void *arg, int64_t pos, uint64_t ino, uint8_t type, const char *name,
                              size_t len)
{
        struct conflict_prefix *p = arg;
        size_t b, e;

        (void)pos;
        (void)ino;
        (void)type;
        if (len <= p->blen + p->elen || len > INDEX_NAME_MAX ||
            memcmp(name, p->base, p->blen) != 0 ||
            memcmp(name + len - p->elen, p->ext, p->elen) != 0 ||
            fs_conflict_split(name, len, &b, &e))
                return 0;
        if (p->n++ == 0) {
                memcpy(p->found, name, len);
                p->found[len] = '\0';
                p->flen = len;
        }
        return 0;
}

/*
 * fs_conflict_name shortens the base of a name that would pass 255 bytes, so
 * such a copy's original is the one entry of DIR that starts with the kept
 * base, ends with the extension and is no copy: into ONAME (*ONLEN) if
 * exactly one is found; else ONAME is left as it is (several: ambiguous).
 */
static int conflict_shortened(struct fs *fs, uint64_t dir, const struct conflict_entry *e,
                              size_t base, size_t ext, char *oname, size_t *onlen)
{
        struct conflict_prefix p;
        int rc;

        memset(&p, 0, sizeof(p));
        p.base = e->name;
        p.blen = base;
        p.ext = e->name + ext;
        p.elen = e->len - ext;
        rc = index_readdir(fs->ix, dir, 0, conflict_prefix_cb, &p);
        if (rc == 0 && p.n == 1) {
                memcpy(oname, p.found, p.flen + 1);
                *onlen = p.flen;
        }
        secmem_wipe(p.found, sizeof(p.found));
        return rc;
}

/* A copy's name this long may have had its base shortened (fs_conflict_name: 255 bytes). */
#define CONFLICT_SHORTENED_MIN (INDEX_NAME_MAX - 3)

/*
 * Entry E of directory DIR (path PATH, PLEN bytes, room for a name more):
 * if it is a conflict copy, its report to CB.
 */
static int conflict_one(struct fs *fs, uint64_t dir, char *path, size_t plen, size_t room,
                        const struct conflict_entry *e, fs_conflict_cb cb, void *arg)
{
        char oname[INDEX_NAME_MAX + 1], *orig;
        struct fs_conflict c;
        size_t base, ext, onlen, olen;
        uint64_t oino = 0;
        int rc;

        if (!fs_conflict_split(e->name, e->len, &base, &ext))
                return 0;
        if (plen + 1 + e->len + 1 > room)
                return -ENAMETOOLONG;
        /* The original: the same directory, the name without the suffix. */
        onlen = base + (e->len - ext);
        memcpy(oname, e->name, base);
        memcpy(oname + base, e->name + ext, e->len - ext);
        oname[onlen] = '\0';
        if (e->len >= CONFLICT_SHORTENED_MIN &&
            index_lookup(fs->ix, dir, oname, onlen, &oino) != 0) {
                rc = conflict_shortened(fs, dir, e, base, ext, oname, &onlen);
                if (rc != 0)
                        return rc;
        }
        olen = plen + (plen ? 1 : 0) + onlen;
        orig = malloc(olen + 1);
        if (orig == NULL)
                return -ENOMEM;
        snprintf(orig, olen + 1, "%.*s%s%s", (int)plen, path, plen ? "/" : "", oname);
        snprintf(path + plen, room - plen, "%s%s", plen ? "/" : "", e->name);
        memset(&c, 0, sizeof(c));
        c.path = path;
        c.orig_path = orig;
        rc = conflict_side(fs, e->ino, &c.copy);
        if (rc == -ENOENT) {
                rc = 0; /* gone since the batch was read */
        } else if (rc == 0) {
                rc = index_lookup(fs->ix, dir, oname, onlen, &oino);
                if (rc == 0)
                        rc = conflict_side(fs, oino, &c.orig);
                if (rc == -ENOENT)
                        rc = 0; /* the original no longer exists (c.orig.exists = 0) */
                if (rc == 0)
                        rc = cb(arg, &c);
        }
        path[plen] = '\0';
        secmem_wipe(oname, sizeof(oname));
        secmem_wipe(orig, olen);
        free(orig);
        return rc;
}

int fs_conflicts_walk(struct fs *fs, fs_conflict_cb cb, fs_conflict_tick tick, void *arg,
                      struct fs_conflict_counts *counts)
{
        struct conflict_batch b = {NULL, 0};
        struct conflict_frame *fr = calloc(FS_CONFLICT_DEPTH_MAX, sizeof(*fr));
        char *path = malloc(FS_CONFLICT_PATH_MAX + 1);
        size_t depth = 1, i;
        int rc = 0;

        memset(counts, 0, sizeof(*counts));
        b.e = malloc(FS_CONFLICT_BATCH * sizeof(*b.e));
        if (fr == NULL || path == NULL || b.e == NULL) {
                rc = -ENOMEM;
                goto out;
        }
        path[0] = '\0';
        fr[0].dir = INDEX_ROOT_INO;
        while (depth > 0 && rc == 0) {
                struct conflict_frame *f = &fr[depth - 1];

                b.n = 0;
                path[f->plen] = '\0';
                rc = index_readdir(fs->ix, f->dir, f->pos, conflict_collect, &b);
                if (rc == -ENOENT) /* the directory went away meanwhile */
                        rc = 0, b.n = 0;
                if (rc != 0)
                        break;
                if (b.n == 0) {
                        depth--;
                        continue;
                }
                for (i = 0; i < b.n && rc == 0; i++) {
                        f->pos = b.e[i].pos;
                        counts->scanned++;
                        rc = conflict_one(fs, f->dir, path, f->plen, FS_CONFLICT_PATH_MAX + 1,
                                          &b.e[i], cb, arg);
                        if (rc == -ENAMETOOLONG) {
                                counts->skipped++;
                                rc = 0;
                        }
                }
                if (rc == 0 && tick != NULL)
                        rc = tick(arg, counts->scanned);
                if (rc != 0 || b.e[b.n - 1].type != FS_KIND_DIR)
                        continue;
                /* Descend into the batch's last entry, a directory. */
                {
                        const struct conflict_entry *e = &b.e[b.n - 1];
                        size_t nl = f->plen + (f->plen ? 1 : 0) + e->len;

                        if (depth == FS_CONFLICT_DEPTH_MAX || nl > FS_CONFLICT_PATH_MAX) {
                                counts->skipped++; /* too deep to report */
                                continue;
                        }
                        snprintf(path + f->plen, FS_CONFLICT_PATH_MAX + 1 - f->plen, "%s%s",
                                 f->plen ? "/" : "", e->name);
                        fr[depth].dir = e->ino;
                        fr[depth].pos = 0;
                        fr[depth].plen = nl;
                        depth++;
                }
        }
out:
        if (b.e != NULL)
                secmem_wipe(b.e, FS_CONFLICT_BATCH * sizeof(*b.e));
        if (path != NULL)
                secmem_wipe(path, FS_CONFLICT_PATH_MAX + 1);
        free(b.e);
        free(path);
        free(fr);
        return rc;
}
