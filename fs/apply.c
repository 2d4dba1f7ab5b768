/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Applying verified remote versions (doc/SYNC.md "State machine", step 3).
 * sync/pull.c has checked every byte (hashes, signatures, roles, epoch, key
 * commitment, metadata AEAD) before fs_apply is called.
 *
 * Rules (doc/SYNC.md "Conflicts"; every device computes the same outcome
 * from the same versions, whatever order they arrive in):
 *  1. Idempotent: a manifest already applied (same hash) changes nothing, so
 *     re-applying an entry after a crash is harmless.
 *  2. A local change not committed yet (or being committed) is never
 *     overwritten: the entry is retried in a later round (-EAGAIN), after
 *     the committer has turned the change into a version.  A file open for
 *     writing here (SYNC.md U7) takes a remote version, but what the handles
 *     opened before it write next is concurrent with it (fs_inode_blind_mark);
 *     a remote deletion of it waits until the last writable handle closes.
 *  3. Version vectors decide: older or equal versions are ignored, newer
 *     ones applied.  Concurrent versions:
 *       - edit vs delete (SYNC.md U1): the higher Lamport wins, a tie goes
 *         to the edit; an edit that wins brings a deleted file, and the
 *         directories above it, back; a deletion that wins leaves the edit
 *         to its author's conflict copy;
 *       - two edits: the higher (Lamport, author) wins everywhere.  The
 *         device that authored the losing version, and only it, keeps that
 *         version as a new file "name (conflict from DEV DATE HASH).ext"
 *         (U3; new file id, re-encrypted) and publishes it like any other
 *         file; every other device simply takes the winner.  Only the
 *         loser's author merges the loser's vector in (U2).
 *  4. Deletions are remembered (index "gone" rows, with the vector of the
 *     deleting version), so a version older than a deletion, arriving late
 *     from a third device, does not bring the file back.
 *  5. Two different files under one name: the higher (Lamport, author)
 *     keeps the name, the other is shown as "name (conflict from DEV
 *     DATE HASH).ext" (DEV and DATE of the losing version, HASH of its
 *     file id); a local file never
 *     committed counts as newest (it will be, when published).  Same-name
 *     directories merge: the older one's entries move into the newer one
 *     and its id becomes an alias.
 *  Logs name files by id only: names are plaintext and mount.log is on disk.
 *  6. A missing parent directory is created as a placeholder (mode 0700)
 *     under ".sealsync-orphans", named by its file id; when its own
 *     manifest arrives it moves to its place.
 *  7. Remote changes are never marked dirty (they are not re-published);
 *     conflict copies are (they are new files of this device).
 *  8. Kernel caches are invalidated after the locks are released.
 */
#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "crypto/enc.h"
#include "crypto/secmem.h"
#include "fs/fsint.h"
#include "sync/manifest.h"
#include "sync/pull.h"
#include "util/hex.h"
#include "util/log.h"

#define FS_ORPHANS_NAME ".sealsync-orphans"
#define APPLY_MODE_MASK 01777 /* permission bits and sticky; never setuid/setgid */

void fs_inval_queue(struct fs *fs, uint64_t parent, uint64_t ino, const char *name)
{
        struct fs_inval *n;

        if (fs->ninval == fs->capinval) {
                size_t cap = fs->capinval ? fs->capinval * 2 : 64;
                struct fs_inval *ni = realloc(fs->inval, cap * sizeof(*ni));

                if (ni == NULL)
                        return; /* the kernel's timeouts bound the staleness */
                fs->inval = ni;
                fs->capinval = cap;
        }
        n = &fs->inval[fs->ninval++];
        n->parent = parent;
        n->ino = ino;
        snprintf(n->name, sizeof(n->name), "%s", name ? name : "");
}

/* Creates (unsynced, never marked dirty) directory NAME in PARENT. */
static int apply_local_dir(struct fs *fs, uint64_t parent, const char *name, const uint8_t *file_id,
                           uint64_t *ino)
{
        struct fs_inode *in;
        int rc = index_lookup(fs->ix, parent, name, strlen(name), ino);

        if (rc != -ENOENT)
                return rc;
        rc = fs_inode_create_id(fs, FS_KIND_DIR, S_IFDIR | 0700, fs->uid, fs->gid, NULL, file_id,
                                NULL, NULL, &in);
        if (rc != 0)
                return rc;
        rc = index_link(fs->ix, parent, name, strlen(name), in->ino, FS_KIND_DIR);
        if (rc == 0) {
                in->nlink = 1;
                rc = fs_inode_save(fs, in);
        }
        *ino = in->ino;
        fs_inode_put(fs, in);
        fs_inval_queue(fs, parent, 0, name);
        return rc;
}

/* ---- versions: vectors, winners, remembered deletions ---- */

/* A version as the rules see it. */
struct apply_ver {
        uint64_t lamport;
        const uint8_t *author; /* 16 bytes */
        const uint8_t *hash;   /* 32 bytes, or NULL: not compared */
        const struct fs_vv *vv;
        size_t nvv;
};

static int apply_vv_cmp(const struct fs_vv *a, size_t na, const struct fs_vv *b, size_t nb)
{
        return manifest_vv_compare((const struct manifest_vv *)a, na, (const struct manifest_vv *)b,
                                   nb);
}

/*
 * 1 if version A wins over the concurrent version B: higher Lamport, then
 * author, then hash (two versions by one author with one Lamport clock are
 * the twins of a forked journal; sync/manifest.c manifest_later).
 */
static int apply_wins(const struct apply_ver *a, const struct apply_ver *b)
{
        int c;

        if (a->lamport != b->lamport)
                return a->lamport > b->lamport;
        c = memcmp(a->author, b->author, 16);
        if (c != 0 || a->hash == NULL || b->hash == NULL)
                return c > 0;
        return memcmp(a->hash, b->hash, 32) > 0;
}

int fs_vv_merge(const struct fs_vv *a, size_t na, const struct fs_vv *b, size_t nb,
                struct fs_vv **out, size_t *nout)
{
        struct fs_vv *v = malloc((na + nb ? na + nb : 1) * sizeof(*v));
        size_t i = 0, j = 0, n = 0;

        if (v == NULL)
                return -ENOMEM;
        while (i < na || j < nb) {
                int c = i == na ? 1 : j == nb ? -1 : memcmp(a[i].device_id, b[j].device_id, 16);

                if (c < 0) {
                        v[n++] = a[i++];
                } else if (c > 0) {
                        v[n++] = b[j++];
                } else {
                        v[n] = a[i];
                        if (b[j].counter > v[n].counter)
                                v[n].counter = b[j].counter;
                        n++, i++, j++;
                }
        }
        if (n > FS_MAX_VV) {
                free(v);
                return -E2BIG;
        }
        *out = v;
        *nout = n;
        return 0;
}

/* IN's vector becomes the merge of itself and VV (it has now seen both). */
static int apply_vv_absorb(struct fs_inode *in, const struct fs_vv *vv, size_t nvv)
{
        struct fs_vv *m;
        size_t n;
        int rc = fs_vv_merge(in->vv, in->nvv, vv, nvv, &m, &n);

        if (rc != 0)
                return rc;
        free(in->vv);
        in->vv = m;
        in->nvv = n;
        return 0;
}

/*
 * U2: IN's vector takes VV's entry for SELF if it is higher (nothing else):
 * this device never reuses a counter of its own, and a version it does not
 * hold is not absorbed (its later versions stay concurrent with it).
 */
static int apply_vv_absorb_self(struct fs_inode *in, const struct fs_vv *vv, size_t nvv,
                                const uint8_t self[16])
{
        size_t i;

        for (i = 0; i < nvv; i++)
                if (memcmp(vv[i].device_id, self, 16) == 0)
                        return apply_vv_absorb(in, &vv[i], 1);
        return 0;
}
static int apply_gone_put(struct fs *fs, const uint8_t file_id[16], const struct fs_gone *g)
{
        struct enc e;
        int rc;

        enc_init(&e);
        enc_u64(&e, g->lamport);
        enc_fixed(&e, g->hash, 32);
        fs_vv_put(&e, g->vv, g->nvv);
        enc_u32(&e, g->mode);
        enc_fixed(&e, g->parent_id, 16);
        enc_var(&e, g->name, g->name_len);
        rc = enc_error(&e);
        if (rc == 0)
                rc = index_gone_put(fs->ix, file_id, e.buf, e.len);
        secmem_wipe(e.buf, e.len);
        enc_release(&e);
        return rc;
}

int fs_gone_decode(const uint8_t *buf, size_t len, struct fs_gone *g)
{
        const uint8_t *name;
        struct dec d;
        int rc;

        memset(g, 0, sizeof(*g));
        dec_init(&d, buf, len);
        g->lamport = dec_u64(&d);
        dec_fixed(&d, g->hash, 32);
        rc = fs_vv_get(&d, &g->vv, &g->nvv);
        if (rc != 0)
                return rc;
        g->mode = dec_u32(&d) & APPLY_MODE_MASK;
        dec_fixed(&d, g->parent_id, 16);
        dec_var(&d, &name, &g->name_len, MANIFEST_NAME_MAX);
        rc = dec_finish(&d);
        if (rc == 0) {
                memcpy(g->name, name, g->name_len);
                g->name[g->name_len] = '\0';
        } else {
                free(g->vv);
                g->vv = NULL;
                g->nvv = 0;
        }
        return rc;
}

int fs_gone_get(struct fs *fs, const uint8_t file_id[static 16], struct fs_gone *g)
{
        uint8_t *state = NULL;
        size_t len = 0;
        int rc = index_gone_get(fs->ix, file_id, &state, &len);

        memset(g, 0, sizeof(*g));
        if (rc != 0)
                return rc;
        rc = fs_gone_decode(state, len, g);
        if (rc == -EBADMSG)
                log_err("index: a remembered deletion record is malformed");
        secmem_wipe(state, len);
        free(state);
        return rc;
}

int fs_gone_record(struct fs *fs, const uint8_t file_id[static 16], uint64_t lamport,
                   const uint8_t hash[static 32], const struct fs_vv *vv, size_t nvv, uint32_t mode,
                   const uint8_t parent_id[static 16], const char *name, size_t name_len)
{
        struct fs_gone old, g;
        int rc = fs_gone_get(fs, file_id, &old);

        if (rc != 0 && rc != -ENOENT)
                return rc;
        memset(&g, 0, sizeof(g));
        if (rc == 0 && (old.lamport > lamport ||
                        (old.lamport == lamport && memcmp(old.hash, hash, 32) >= 0))) {
                /* U1: the later deletion is the one an edit is measured against,
                 * whatever order the two arrived in (FOUND.md F7). */
                g = old;
                g.vv = NULL;
                g.nvv = 0;
        } else {
                g.lamport = lamport;
                g.mode = mode & APPLY_MODE_MASK;
                memcpy(g.hash, hash, 32);
                memcpy(g.parent_id, parent_id, 16);
                if (name_len > MANIFEST_NAME_MAX)
                        name_len = MANIFEST_NAME_MAX;
                memcpy(g.name, name, name_len);
                g.name_len = name_len;
        }
        /* Two deletions of one file: remember that both happened. */
        rc = fs_vv_merge(old.vv, old.nvv, vv, nvv, &g.vv, &g.nvv);
        if (rc == 0)
                rc = apply_gone_put(fs, file_id, &g);
        free(g.vv);
        free(old.vv);
        return rc;
}

void fs_device_label(struct fs *fs, const uint8_t device_id[static 16], char out[static 65])
{
        size_t i;

        hex_encode(out, device_id, 4);
        pthread_mutex_lock(&fs->labels_lock);
        for (i = 0; i < fs->nlabels; i++)
                if (memcmp(fs->labels[i].device_id, device_id, 16) == 0) {
                        memcpy(out, fs->labels[i].name, sizeof(fs->labels[i].name));
                        break;
                }
        pthread_mutex_unlock(&fs->labels_lock);
}

/* The length of NAME's extension (from its last dot), 0 if none or too long to keep. */
static size_t apply_ext_len(const char *name)
{
        const char *dot = strrchr(name, '.');
        size_t n = dot != NULL && dot != name ? strlen(dot) : 0;

        return n <= 16 ? n : 0;
}

/*
 * U3: a free name in PARENT for a version of NAME by AUTHOR with mtime
 * MTIME_S, identified by ID (the losing manifest's hash for a rule 3 copy,
 * the displaced file's id for rule 5): "name (conflict from DEVICE DATE
 * HASH).ext" (DEVICE: the author's name in the membership, DATE: UTC, HASH:
 * the first 6 hex digits of ID; more digits, up to 32, only when another
 * file holds that name).  A function of the version, not of arrival order.
 * Always fits in 255 bytes: the base is shortened (at a UTF-8 character
 * boundary) when it must be.  A name held by inode SELF (0: none) counts as
 * free: a file already renamed to its conflict name keeps it.
 */
int fs_conflict_name(struct fs *fs, uint64_t parent, const char *name,
                     const uint8_t author[static 16], uint64_t mtime_s, const uint8_t id[static 16],
                     uint64_t self, char out[static 256])
{
        static const int digits[] = {6, 12, 20, 32};
        size_t ext = apply_ext_len(name), base = strlen(name) - ext, i;
        char dev[65], date[16], hex[33];
        struct tm tm;
        time_t t = (time_t)mtime_s;
        uint64_t other;
        int rc;

        fs_device_label(fs, author, dev);
        hex_encode(hex, id, 16);
        if (gmtime_r(&t, &tm) == NULL || strftime(date, sizeof(date), "%Y-%m-%d", &tm) == 0)
                snprintf(date, sizeof(date), "unknown-date");
        for (i = 0; i < sizeof(digits) / sizeof(digits[0]); i++) {
                char suffix[160];
                size_t b = base;
                int slen, len;

                slen = snprintf(suffix, sizeof(suffix), " (conflict from %s %s %.*s)", dev, date,
                                digits[i], hex);
                if (slen < 0 || (size_t)slen + ext >= 255)
                        return -ENAMETOOLONG;
                if (b > 255 - (size_t)slen - ext)
                        b = 255 - (size_t)slen - ext;
                while (b > 0 && b < base && ((unsigned char)name[b] & 0xC0) == 0x80)
                        b--; /* never split a UTF-8 sequence */
                len = snprintf(out, 256, "%.*s%s%s", (int)b, name, suffix, name + base);
                if (len < 0 || len > 255)
                        return -ENAMETOOLONG;
                rc = index_lookup(fs->ix, parent, out, (size_t)len, &other);
                if (rc == -ENOENT || (rc == 0 && self != 0 && other == self))
                        return 0;
                if (rc != 0)
                        return rc;
        }
        return -EEXIST;
}

static int apply_copy_xattrs(struct fs_inode *dst, const struct fs_inode *src)
{
        size_t i;

        if (src->nxattrs == 0)
                return 0;
        dst->xattrs = calloc(src->nxattrs, sizeof(*dst->xattrs));
        if (dst->xattrs == NULL)
                return -ENOMEM;
        for (i = 0; i < src->nxattrs; i++) {
                const struct fs_xattr *x = &src->xattrs[i];

                dst->nxattrs = i + 1;
                dst->xattrs[i].name = strdup(x->name);
                dst->xattrs[i].value = malloc(x->len ? x->len : 1);
                if (dst->xattrs[i].name == NULL || dst->xattrs[i].value == NULL)
                        return -ENOMEM;
                memcpy(dst->xattrs[i].value, x->value, x->len);
                dst->xattrs[i].len = x->len;
        }
        return 0;
}

/* Re-encrypts SRC's present blocks into DST (a new file: its own id and keys). */
static int apply_copy_content(struct fs *fs, struct fs_inode *src, struct fs_inode *dst)
{
        uint8_t *buf = malloc(fs->bs);
        size_t r;
        int rc;

        if (buf == NULL)
                return -ENOMEM;
        rc = fs_fetch_locked(fs, src, 0, UINT64_MAX); /* its remote blocks, if any */
        if (rc == 0)
                rc = fs_content_truncate(fs, dst, src->size); /* holes stay holes */
        for (r = 0; r < src->blocks.n && rc == 0; r++) {
                uint64_t idx;

                for (idx = src->blocks.r[r].start; idx < src->blocks.r[r].end && rc == 0; idx++) {
                        uint64_t off = idx * fs->bs;
                        size_t n, got = 0;

                        if (off >= src->size)
                                break;
                        n = src->size - off < fs->bs ? (size_t)(src->size - off) : fs->bs;
                        rc = fs_content_read(fs, src, off, n, buf, &got);
                        if (rc == 0 && got != n)
                                rc = -EIO;
                        if (rc == 0)
                                rc = fs_content_write(fs, dst, off, buf, n);
                }
        }
        secmem_wipe(buf, fs->bs);
        free(buf);
        return rc;
}

/*
 * Rule 3: IN's local version, authored here, lost to a concurrent one.  It
 * is kept as a new file next to IN, which then takes the winner.  The copy
 * is this device's own new file: marked changed, so it is published.
 */
static int apply_copy_local(struct fs *fs, struct fs_inode *in)
{
        char cur[INDEX_NAME_MAX + 1], alt[256];
        struct fs_inode *cp;
        uint64_t parent = 0;
        size_t len = 0;
        uint8_t type;
        int rc = index_name_of(fs->ix, in->ino, &parent, cur, &len, &type);

        if (rc == -ENOENT)
                return 0; /* no name here: nothing to keep a copy under */
        if (rc == 0)
                rc = fs_conflict_name(fs, parent, cur, fs->device_id, (uint64_t)in->mtime.tv_sec,
                                      in->manifest_hash, 0, alt);
        if (rc == 0)
                rc = fs_inode_create(fs, in->kind, in->mode, in->uid, in->gid, in->target, &cp);
        if (rc != 0)
                return rc;
        pthread_rwlock_wrlock(&cp->lock);
        cp->rdev = in->rdev; /* a special file's device number (C6) */
        rc = apply_copy_xattrs(cp, in);
        if (rc == 0 && in->kind == FS_KIND_REG)
                rc = apply_copy_content(fs, in, cp);
        if (rc == 0)
                rc = index_link(fs->ix, parent, alt, strlen(alt), cp->ino, (uint8_t)cp->kind);
        if (rc == 0) {
                cp->nlink = 1;
                cp->mtime = in->mtime;
                fs_now(&cp->ctime);
                rc = fs_inode_mark_changed(fs, cp, 0, (cp->size + fs->bs - 1) / fs->bs);
        }
        if (rc == 0)
                rc = fs_inode_save(fs, cp);
        if (rc == 0) {
                char fid[33];

                hex_encode(fid, cp->file_id, 16);
                log_warn("conflict: this device's version lost to a concurrent one; it is kept "
                         "next to the winner as a new file %s",
                         fid);
                fs_inval_queue(fs, parent, 0, alt);
        }
        fs_inode_idle_locked(fs, cp);
        pthread_rwlock_unlock(&cp->lock);
        fs_inode_put(fs, cp);
        return rc;
}

/* The version IN holds, for rules 3 and 5 (a never-committed file is newest). */
static void apply_local_ver(const struct fs *fs, const struct fs_inode *in, struct apply_ver *v)
{
        v->lamport = in->has_manifest ? in->lamport : UINT64_MAX;
        v->author = in->has_manifest ? in->author : fs->device_id;
        v->hash = in->has_manifest ? in->manifest_hash : NULL;
        v->vv = in->vv;
        v->nvv = in->nvv;
}

static void apply_remote_ver(const struct manifest *m, struct apply_ver *v)
{
        v->lamport = m->lamport;
        v->author = m->author;
        v->hash = m->hash;
        v->vv = (const struct fs_vv *)m->vv;
        v->nvv = m->nvv;
}

/*
 * Rule 5: two different files want PARENT/NAME; OTHER holds it here and the
 * version M of file SELF (IN) arrives.  The better rank keeps the name
 * (fs/names.c); the other is shown under its conflict name and remembered
 * as displaced.  An OTHER shown there only as a displaced file (it wants
 * another name) yields whatever the ranks (U4).  *REMOTE_LOSES: M is shown
 * at ALT.
 */
static int apply_collide(struct fs *fs, uint64_t parent, const char *name, struct fs_inode *in,
                         uint64_t other, const struct manifest *m, const struct manifest_meta *meta,
                         char alt[256], int *remote_loses)
{
        struct fs_inode *o;
        struct fs_rank rr, orank;
        uint8_t ohash[32];
        uint64_t mtime;
        int rc = fs_inode_get(fs, other, &o), ohas, squat;

        if (rc != 0)
                return rc;
        pthread_rwlock_rdlock(&o->lock);
        fs_rank_of_holder(fs, o, &orank); /* a local change keeps its name until committed */
        mtime = (uint64_t)o->mtime.tv_sec;
        memcpy(ohash, o->manifest_hash, 32);
        ohas = o->has_manifest;
        pthread_rwlock_unlock(&o->lock);
        fs_inode_put(fs, o);
        rr.lamport = m->lamport;
        memcpy(rr.author, m->author, 16);
        memcpy(rr.file_id, m->file_id, 16);
        rr.kind = in->kind;
        /* U4: a holder shown there as a displaced file yields to a file that wants the name */
        squat = ohas && orank.lamport != UINT64_MAX
                    ? fs_names_squatter(fs, orank.file_id, ohash, parent, name)
                    : 0;
        if (squat < 0)
                return squat;
        *remote_loses = !squat && !fs_rank_beats(&rr, &orank);
        if (*remote_loses) {
                rc = fs_conflict_name(fs, parent, name, m->author, meta->mtime_s, m->file_id,
                                      in->ino, alt);
                if (rc == 0)
                        rc = fs_names_displaced(fs, m->file_id, m->hash, parent, name, alt);
        } else {
                char wanted[256];

                /* OTHER may be shown under a conflict name already: it wants its own (F20) */
                rc = fs_names_wanted(fs, orank.file_id, parent, name, wanted);
                if (rc == 0)
                        rc = fs_conflict_name(fs, parent, wanted, orank.author, mtime,
                                              orank.file_id, 0, alt);
                if (rc == 0)
                        rc = index_unlink(fs->ix, parent, name, strlen(name));
                if (rc == 0)
                        rc = index_link(fs->ix, parent, alt, strlen(alt), other,
                                        (uint8_t)orank.kind);
                if (rc == 0 && ohas)
                        rc = fs_names_displaced(fs, orank.file_id, ohash, parent, wanted, alt);
                if (rc == 0) {
                        fs_inval_queue(fs, parent, 0, name);
                        fs_inval_queue(fs, parent, 0, alt);
                }
        }
        if (rc == 0)
                log_warn("name collision: two files under one name; the older one is renamed");
        return rc;
}

/* Places IN (kind KIND) at PARENT/NAME, moving it from its current entry. */
static int apply_place(struct fs *fs, struct fs_inode *in, uint64_t parent, const char *name,
                       const struct manifest *m, const struct manifest_meta *meta)
{
        char cur[INDEX_NAME_MAX + 1], alt[256];
        const char *want = name;
        uint64_t cur_parent = 0, other;
        size_t cur_len = 0;
        uint8_t type;
        int rc, have = 0;

        rc = index_name_of(fs->ix, in->ino, &cur_parent, cur, &cur_len, &type);
        if (rc == 0)
                have = 1;
        else if (rc != -ENOENT)
                return rc;
        if (have && cur_parent == parent && strcmp(cur, name) == 0)
                return fs_names_placed(fs, in->file_id);
        rc = index_lookup(fs->ix, parent, name, strlen(name), &other);
        if (rc == 0 && other != in->ino) {
                int remote_loses = 0;

                rc = apply_collide(fs, parent, name, in, other, m, meta, alt, &remote_loses);
                if (rc != 0)
                        return rc;
                if (remote_loses)
                        want = alt;
        } else if (rc != 0 && rc != -ENOENT) {
                return rc;
        }
        if (have) {
                rc = index_unlink(fs->ix, cur_parent, cur, cur_len);
                if (rc != 0)
                        return rc;
                fs_inval_queue(fs, cur_parent, 0, cur);
        }
        rc = index_link(fs->ix, parent, want, strlen(want), in->ino, (uint8_t)in->kind);
        if (rc == 0) {
                in->nlink = 1;
                fs_inval_queue(fs, parent, 0, want);
        }
        if (rc == 0 && want == name)
                rc = fs_names_placed(fs, in->file_id);
        return rc;
}

static int apply_xattrs(struct fs_inode *in, const struct manifest_meta *meta)
{
        size_t i;

        for (i = 0; i < in->nxattrs; i++) {
                free(in->xattrs[i].name);
                secmem_wipe(in->xattrs[i].value, in->xattrs[i].len);
                free(in->xattrs[i].value);
        }
        free(in->xattrs);
        in->xattrs = NULL;
        in->nxattrs = 0;
        if (meta->nxattrs == 0)
                return 0;
        in->xattrs = calloc(meta->nxattrs, sizeof(*in->xattrs));
        if (in->xattrs == NULL)
                return -ENOMEM;
        for (i = 0; i < meta->nxattrs; i++) {
                const struct manifest_xattr *x = &meta->xattrs[i];

                in->xattrs[i].name = malloc(x->name_len + 1);
                in->xattrs[i].value = malloc(x->value_len ? x->value_len : 1);
                in->nxattrs = i + 1;
                if (in->xattrs[i].name == NULL || in->xattrs[i].value == NULL)
                        return -ENOMEM;
                memcpy(in->xattrs[i].name, x->name, x->name_len);
                in->xattrs[i].name[x->name_len] = '\0';
                memcpy(in->xattrs[i].value, x->value, x->value_len);
                in->xattrs[i].len = x->value_len;
        }
        return 0;
}

/*
 * Block REF of a version being applied to IN: stored if the puller has its
 * bytes at hand (the entry's packs), else recorded remote (its reference is
 * in the index; fs/fetch.c fetches it when needed).  BUF: slot_len bytes.
 */
static int apply_block(struct fs *fs, struct fs_inode *in, const struct manifest_ref *r,
                       uint8_t *buf, struct rangeset *remote)
{
        size_t len = 0;
        int rc = pull_block_here(fs->pull, r->hash, buf, fs->slot_len, &len);

        if (rc == 0) {
                rc = fs_content_put_sealed(fs, in, r->index, r->final, buf, len);
        } else if (rc == -ENOENT || rc == -EBADMSG) {
                rc = rangeset_add(remote, r->index, r->index + 1); /* checked when fetched */
                /* An old local version of the block must never be read as this one. */
                if (rc == 0 && in->reset == NULL && rangeset_contains(&in->blocks, r->index) &&
                    !rangeset_contains(&in->remote, r->index))
                        rc = fs_content_drop_slot(fs, in, r->index);
        }
        if (rc == 0)
                rc = index_blockref_put(fs->ix, in->ino, r->index, r->hash);
        return rc;
}

/* 1 if REF replaces a local block of IN (one whose slot would be overwritten in place). */
static int apply_overwrites(struct fs *fs, struct fs_inode *in, const struct manifest_ref *r)
{
        uint8_t have[32];

        return in->reset == NULL && rangeset_contains(&in->blocks, r->index) &&
               !rangeset_contains(&in->remote, r->index) &&
               index_blockref_get(fs->ix, in->ino, r->index, have) == 0 &&
               memcmp(have, r->hash, 32) != 0;
}

/*
 * Phase one of replacing local blocks (a kill -9 must never leave a mix of
 * versions): the local blocks M changes become remote under their old
 * references, durably, before any of their slots is overwritten; their
 * slots are then made unreadable.  A crash later leaves the old version,
 * its changed blocks fetched again from the store.  Caller holds ns_lock
 * (no committer savepoint is open) and IN->lock for writing.
 */
static int apply_protect(struct fs *fs, struct fs_inode *in, const struct manifest *m)
{
        struct rangeset hit;
        size_t i;
        int rc = 0;

        rangeset_init(&hit);
        for (i = 0; i < m->nrefs && rc == 0; i++)
                if (apply_overwrites(fs, in, &m->refs[i]))
                        rc = rangeset_add(&hit, m->refs[i].index, m->refs[i].index + 1);
        for (i = 0; i < hit.n && rc == 0; i++)
                rc = rangeset_add(&in->remote, hit.r[i].start, hit.r[i].end);
        if (rc == 0 && hit.n > 0)
                rc = fs_inode_save(fs, in);
        if (rc == 0 && hit.n > 0)
                rc = index_commit(fs->ix);
        for (i = 0; i < hit.n && rc == 0; i++) {
                uint64_t b;

                for (b = hit.r[i].start; b < hit.r[i].end && rc == 0; b++)
                        rc = fs_content_drop_slot(fs, in, b);
        }
        rangeset_release(&hit);
        return rc;
}

/* Brings IN's blocks to M's references; what the puller did not fetch becomes remote. */
static int apply_blocks(struct fs *fs, struct fs_inode *in, const struct manifest *m)
{
        struct rangeset want, remote;
        uint8_t *buf, have[32];
        uint64_t nblocks = (m->size + fs->bs - 1) / fs->bs;
        size_t i;
        int rc = 0;

        rc = apply_protect(fs, in, m);
        if (rc != 0)
                return rc;
        buf = malloc(fs->slot_len);
        if (buf == NULL)
                return -ENOMEM;
        rangeset_init(&want);
        rangeset_init(&remote);
        for (i = 0; i < m->nrefs && rc == 0; i++) {
                const struct manifest_ref *r = &m->refs[i];

                rc = rangeset_add(&want, r->index, r->index + 1);
                if (rc != 0)
                        break;
                if (in->reset == NULL && rangeset_contains(&in->blocks, r->index) &&
                    index_blockref_get(fs->ix, in->ino, r->index, have) == 0 &&
                    memcmp(have, r->hash, 32) == 0) {
                        /* Already this block (here, or still remote). */
                        if (rangeset_contains(&in->remote, r->index))
                                rc = rangeset_add(&remote, r->index, r->index + 1);
                        continue;
                }
                rc = apply_block(fs, in, r, buf, &remote);
        }
        if (rc == 0) {
                /* Blocks the new version does not list are holes now. */
                rangeset_release(&in->blocks);
                in->blocks = want;
                rangeset_init(&want);
                rangeset_release(&in->remote);
                in->remote = remote;
                rangeset_init(&remote);
                for (i = 0; i < in->remote.n && rc == 0; i++) /* a remote block is never dirty */
                        rc =
                            rangeset_remove(&in->dirty, in->remote.r[i].start, in->remote.r[i].end);
                if (rc == 0)
                        rc = index_blockref_truncate(fs->ix, in->ino, nblocks);
                fs_content_trim(fs, in, nblocks);
        }
        rangeset_release(&want);
        rangeset_release(&remote);
        secmem_wipe(buf, fs->slot_len);
        free(buf);
        return rc;
}

/*
 * IN's content becomes M's.  A version under another salt or epoch than the
 * local blocks (a peer re-encrypted the file after a rotation) goes into a
 * new ciphertext file that replaces the old one once its record is durable
 * (fs_content_reset); on any failure the old content stays.
 */
static int apply_content(struct fs *fs, struct fs_inode *in, const struct manifest *m)
{
        int pending = 0;
        int rc = fs_content_flush(fs, in); /* a buffered block first (doc/DESIGN.md) */

        if (rc == 0)
                rc = fs_content_reset(fs, in, m->salt, m->epoch_id, &pending);

        if (rc == 0)
                rc = apply_blocks(fs, in, m);
        if (rc == 0)
                in->size = m->size;
        if (rc == 0 && pending)
                rc = fs_content_reset_finish(fs, in);
        if (rc != 0 && pending)
                fs_content_reset_abort(fs, in);
        return rc;
}

static int apply_kind(uint8_t kind)
{
        return kind == MANIFEST_DIR       ? FS_KIND_DIR
               : kind == MANIFEST_SYMLINK ? FS_KIND_LNK
               : kind == MANIFEST_SPECIAL ? FS_KIND_SPECIAL
                                          : FS_KIND_REG;
}

/* The S_IFMT of a version of kind KIND with metadata META (C6: a special's sealed type). */
static uint32_t apply_type(uint8_t kind, const struct manifest_meta *meta)
{
        static const uint32_t special[] = {0, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK};

        if (kind == MANIFEST_SPECIAL)
                return special[meta->special_type]; /* 1..4: manifest_open_meta checked */
        return kind == MANIFEST_DIR ? S_IFDIR : kind == MANIFEST_SYMLINK ? S_IFLNK : S_IFREG;
}

enum apply_merge {
        APPLY_MERGE_NONE, /* M's vector */
        APPLY_MERGE_ALL,  /* M's vector and IN's (IN's version was seen: U2) */
        APPLY_MERGE_SELF, /* M's vector and IN's entry for this device (U2) */
};

/* Takes M's version state (vector, Lamport, hash, author) into IN; MERGE: see enum apply_merge. */
static int apply_version_state(const struct fs *fs, struct fs_inode *in, const struct manifest *m,
                               int merge)
{
        struct fs_vv *vv = NULL;
        size_t nvv = m->nvv;

        /* This device's own counter never goes back (FOUND.md F12): a version of its own
         * that lost (to an edit or a deletion) was kept as its copy, and the next version
         * it writes must count past it, or a device that saw the loser takes it for old. */
        if (merge == APPLY_MERGE_NONE)
                merge = APPLY_MERGE_SELF;
        if (merge == APPLY_MERGE_SELF) {
                size_t i;

                for (i = 0; i < in->nvv; i++)
                        if (memcmp(in->vv[i].device_id, fs->device_id, 16) == 0)
                                break;
                if (i < in->nvv) {
                        int rc = fs_vv_merge(&in->vv[i], 1, (const struct fs_vv *)m->vv, m->nvv,
                                             &vv, &nvv);

                        if (rc != 0)
                                return rc;
                } else {
                        merge = APPLY_MERGE_NONE;
                }
        } else if (merge == APPLY_MERGE_ALL) {
                int rc =
                    fs_vv_merge(in->vv, in->nvv, (const struct fs_vv *)m->vv, m->nvv, &vv, &nvv);

                if (rc != 0)
                        return rc;
        }
        if (merge == APPLY_MERGE_NONE && m->nvv > 0) {
                vv = malloc(m->nvv * sizeof(*vv));
                if (vv == NULL)
                        return -ENOMEM;
                memcpy(vv, m->vv, m->nvv * sizeof(*vv));
        }
        free(in->vv);
        in->vv = vv;
        in->nvv = nvv;
        in->lamport = m->lamport;
        in->has_manifest = 1;
        memcpy(in->manifest_hash, m->hash, 32);
        memcpy(in->author, m->author, 16);
        return 0;
}

/* Deletion: the file loses its name (its data goes when unused); rule 4 remembers it. */
static int apply_parent(struct fs *fs, const uint8_t pid[16], uint64_t *ino);
static int apply_is_dir(struct fs *fs, uint64_t ino);
static int apply_above(struct fs *fs, uint64_t ino, uint64_t parent);
static int apply_merge_into(struct fs *fs, uint64_t from, uint64_t into, int depth);
static int apply_split_held(struct fs *fs, struct fs_inode *g, const uint8_t fid[16]);
static int apply_split_busy(struct fs *fs, const struct fs_inode *g, const uint8_t fid[16]);
static int apply_parent_known(struct fs *fs, const uint8_t pid[16], uint64_t *ino);
static int apply_hold_busy(struct fs *fs, const struct fs_inode *g, const struct manifest *m,
                           const struct manifest_meta *meta);
static int apply_tomb_dead_keeps(struct fs *fs, struct fs_inode *in, const struct manifest *m,
                                 const struct manifest_meta *meta);

/*
 * U8: directory IN (at CUR in CUR_PARENT), deleted by a winning deletion
 * whose last place was PID/DNAME (DLEN bytes, NUL-terminated) but held by
 * entries it did not see, is held where the deletion names it: a rename
 * that lost to the deletion is undone, as on a device that brings it back
 * held after the deletion (apply_resurrect_dir).  A directory holding that
 * name takes its entries, and IN's id stays deleted (*MERGED: an alias row
 * routes entries only, U6/F21); a file there: IN is named from its id
 * alone.
 */
static int apply_hold_place(struct fs *fs, struct fs_inode *in, const uint8_t pid[16],
                            const char *dname, size_t dlen, uint64_t cur_parent, const char *cur,
                            size_t cur_len, int *merged)
{
        char alt[256];
        const char *name = dname;
        uint64_t parent, other;
        int rc = apply_parent(fs, pid, &parent);

        *merged = 0;
        if (rc != 0)
                return rc;
        if ((parent == cur_parent && cur_len == dlen && memcmp(cur, dname, cur_len) == 0) ||
            apply_above(fs, in->ino, parent))
                return 0; /* where the deletion saw it (or a move cycle: not handled) */
        rc = index_lookup(fs->ix, parent, dname, dlen, &other);
        if (rc == 0 && apply_is_dir(fs, other)) {
                rc = apply_merge_into(fs, in->ino, other, 0);
                if (rc == 0)
                        rc = index_unlink(fs->ix, cur_parent, cur, cur_len);
                if (rc == 0)
                        rc = index_alias_move(fs->ix, in->ino, other);
                if (rc == 0)
                        rc = index_alias_put(fs->ix, in->file_id, other);
                if (rc == 0) {
                        fs_inval_queue(fs, cur_parent, 0, cur);
                        *merged = 1;
                        log_info("a directory renamed here and deleted later on another device "
                                 "is held by entries the deletion did not see: they go into the "
                                 "directory now under its old name");
                }
                return rc;
        }
        if (rc == 0) {
                rc = fs_conflict_name(fs, parent, dname, in->file_id, 0, in->file_id, 0, alt);
                name = alt;
        } else if (rc == -ENOENT) {
                rc = 0;
        }
        if (rc == 0)
                rc = fs_entry_move(fs, cur_parent, cur, parent, name, in->ino, FS_KIND_DIR);
        if (rc == 0)
                log_info("a directory renamed here and deleted later on another device is held "
                         "by entries the deletion did not see: it goes back to where the "
                         "deletion saw it");
        return rc;
}

static int apply_tombstone(struct fs *fs, struct fs_inode *in, const struct manifest *m,
                           const struct manifest_meta *meta)
{
        char name[INDEX_NAME_MAX + 1];
        uint64_t parent;
        size_t len = 0;
        uint8_t type;
        int rc = index_name_of(fs->ix, in->ino, &parent, name, &len, &type), kept = 0;

        if (rc == 0 && in->kind == FS_KIND_DIR) {
                /* U5: a merged directory lives while one of its ids does; the entries whose
                 * versions name the deleted one hold it (U6) */
                rc = apply_hold_busy(fs, in, m, meta); /* before anything changes (F40) */
                if (rc == 0)
                        rc = fs_alias_rekey(fs, in, m, meta, &kept);
                if (rc == 0 && kept)
                        rc = apply_split_held(fs, in, m->file_id);
                if (rc == 0 && !kept)
                        rc = apply_tomb_dead_keeps(fs, in, m, meta);
                if (rc != 0 || kept)
                        return rc < 0 ? rc : 0;
        }
        if (rc == 0 && in->kind == FS_KIND_DIR && index_dir_empty(fs->ix, in->ino) != 1) {
                /* U6: entries here the deletion did not see hold the directory until they go */
                int merged = 0;

                log_info("a remote deletion of a directory that is not empty here: it stays "
                         "while it holds entries");
                rc = apply_hold_place(fs, in, meta->parent_id, meta->name, meta->name_len, parent,
                                      name, len, &merged);
                if (rc == 0 && merged) { /* its entries are in the one of its name (U8) */
                        in->nlink = 0;
                        rc = apply_version_state(fs, in, m, APPLY_MERGE_NONE);
                        if (rc == 0)
                                rc = fs_gone_record(fs, m->file_id, m->lamport, m->hash, in->vv,
                                                    in->nvv, meta->mode, meta->parent_id,
                                                    meta->name, meta->name_len);
                        return rc == 0 ? fs_inode_save(fs, in) : rc;
                }
                if (rc == 0)
                        rc = apply_version_state(fs, in, m, APPLY_MERGE_NONE);
                if (rc == 0)
                        rc =
                            fs_gone_record(fs, m->file_id, m->lamport, m->hash, in->vv, in->nvv,
                                           meta->mode, meta->parent_id, meta->name, meta->name_len);
                if (rc == 0)
                        rc = fs_held_put(fs, m->file_id, m->hash);
                return rc == 0 ? fs_inode_save(fs, in) : rc;
        }
        if (rc == 0)
                rc = index_unlink(fs->ix, parent, name, len);
        else if (rc == -ENOENT)
                rc = 0;
        if (rc != 0)
                return rc;
        if (len > 0)
                fs_inval_queue(fs, parent, 0, name);
        in->nlink = 0;
        in->unlinked_remote = 1; /* U7: an open through a stale dentry gets ESTALE */
        fs_now(&in->ctime);
        rc = apply_version_state(fs, in, m, APPLY_MERGE_NONE);
        if (rc == 0)
                rc = fs_gone_record(fs, m->file_id, m->lamport, m->hash, in->vv, in->nvv,
                                    meta->mode, meta->parent_id, meta->name, meta->name_len);
        return rc == 0 ? fs_inode_save(fs, in) : rc;
}

static int apply_update(struct fs *fs, struct fs_inode *in, const struct manifest *m,
                        const struct manifest_meta *meta, uint64_t parent, int merge)
{
        int rc = 0;

        if (in->kind != apply_kind(m->kind) ||
            (in->kind == FS_KIND_SPECIAL && (in->mode & S_IFMT) != apply_type(m->kind, meta))) {
                log_err("a remote version changes a file's kind; held");
                return 0;
        }
        in->rdev = meta->rdev; /* C6: 0 unless a device */
        if (m->block_size != fs->bs) {
                log_err("a remote version uses another block size than the region; held");
                return 0;
        }
        /* Another device never makes a file setuid or setgid here. */
        in->mode = (in->mode & S_IFMT) | (meta->mode & APPLY_MODE_MASK);
        in->mtime.tv_sec = (time_t)meta->mtime_s;
        in->mtime.tv_nsec = (long)meta->mtime_ns;
        fs_now(&in->ctime);
        if (in->kind == FS_KIND_LNK) {
                char *t = strdup(meta->target);

                if (t == NULL)
                        return -ENOMEM;
                free(in->target);
                in->target = t;
                in->size = meta->target_len;
        }
        rc = fs_inode_blind_mark(fs, in); /* U7 */
        if (rc == 0)
                rc = apply_xattrs(in, meta);
        if (rc == 0 && in->kind == FS_KIND_REG)
                rc = apply_content(fs, in, m);
        if (rc == 0)
                rc = apply_place(fs, in, parent, meta->name, m, meta);
        if (rc == 0)
                rc = apply_version_state(fs, in, m, merge);
        if (rc == 0) { /* U5: the id its version names, so a split of its directory knows */
                in->vparent_known = 1;
                memcpy(in->vparent, meta->parent_id, 16);
        }
        if (rc == 0)
                rc = fs_inode_save(fs, in);
        fs_inval_queue(fs, 0, in->ino, NULL);
        return rc;
}

/* Rule 2: the entry is retried next round; says so once per file and reason. */
static int apply_wait(struct fs *fs, const uint8_t file_id[16], const char *why)
{
        static _Thread_local uint8_t last[16];
        static _Thread_local const char *last_why;
        char fid[33];

        if (memcmp(last, file_id, 16) != 0 || last_why != why) {
                memcpy(last, file_id, 16);
                last_why = why;
                hex_encode(fid, file_id, 16);
                log_info("file %s: a remote version waits (%s)", fid, why);
        }
        return -EAGAIN;
}

#define APPLY_MAX_DEPTH 256

static int apply_parent_at(struct fs *fs, const uint8_t pid[16], uint64_t *ino, int depth);

/* 1 if inode INO is a directory. */
static int apply_is_dir(struct fs *fs, uint64_t ino)
{
        struct fs_inode *o;
        int dir;

        if (fs_inode_get(fs, ino, &o) != 0)
                return 0;
        pthread_rwlock_rdlock(&o->lock);
        dir = o->kind == FS_KIND_DIR;
        pthread_rwlock_unlock(&o->lock);
        fs_inode_put(fs, o);
        return dir;
}

/* IN's version state becomes deletion G's (U6: a held directory). */
static int apply_held_state(struct fs_inode *in, const struct fs_gone *g)
{
        struct fs_vv *vv = malloc((g->nvv ? g->nvv : 1) * sizeof(*vv));

        if (vv == NULL)
                return -ENOMEM;
        if (g->nvv > 0)
                memcpy(vv, g->vv, g->nvv * sizeof(*vv));
        free(in->vv);
        in->vv = vv;
        in->nvv = g->nvv;
        in->lamport = g->lamport;
        memcpy(in->manifest_hash, g->hash, 32);
        in->has_manifest = 1;
        return 0;
}

/*
 * Rule 3, "the directories above it come back": directory PID, deleted here,
 * returns to its last place (G) with its permission bits; IN is its inode if
 * still loaded (unlinked), else it is created again under its own id.
 */
static int apply_resurrect_dir(struct fs *fs, const uint8_t pid[16], const struct fs_gone *g,
                               uint64_t *ino, int depth)
{
        struct fs_inode *in = NULL;
        char alt[256];
        const char *name = g->name;
        uint64_t parent, other;
        int rc = apply_parent_at(fs, g->parent_id, &parent, depth + 1);

        if (rc != 0)
                return rc;
        if (index_lookup(fs->ix, parent, name, g->name_len, &other) == 0) {
                if (apply_is_dir(fs, other)) { /* rule 5: same-named directories merge */
                        /* U5, U6: its entries land in the one directory, but the id stays
                         * deleted (held): it does not keep the directory alive (F21) */
                        rc = index_alias_put(fs->ix, pid, other);
                        *ino = other;
                        if (rc == 0)
                                log_info("a directory deleted here comes back into the "
                                         "same-named one made since (held)");
                        return rc;
                }
                /* A file holds the name: the directory's own version is not known here, so
                 * its conflict name is made from its id alone (the same on every device). */
                rc = fs_conflict_name(fs, parent, name, pid, 0, pid, 0, alt);
                if (rc != 0)
                        return rc;
                name = alt;
        }
        rc = index_ino_by_file_id(fs->ix, pid, ino);
        if (rc == 0)
                rc = fs_inode_get(fs, *ino, &in);
        else if (rc == -ENOENT)
                rc = fs_inode_create_id(fs, FS_KIND_DIR, S_IFDIR | (g->mode ? g->mode : 0700),
                                        fs->uid, fs->gid, NULL, pid, NULL, NULL, &in);
        if (rc != 0)
                return rc;
        pthread_rwlock_wrlock(&in->lock);
        rc = in->kind == FS_KIND_DIR
                 ? index_link(fs->ix, parent, name, strlen(name), in->ino, FS_KIND_DIR)
                 : -ENOTDIR;
        if (rc == 0) { /* U6: back held, its state its deletion's, until it is empty again */
                in->nlink = 1;
                rc = apply_held_state(in, g);
        }
        if (rc == 0)
                rc = fs_inode_save(fs, in);
        if (rc == 0)
                rc = fs_held_put(fs, pid, g->hash);
        *ino = in->ino;
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(fs, in);
        if (rc == 0) {
                log_warn("a directory deleted here comes back while it holds a file changed on "
                         "another device at the same time");
                fs_inval_queue(fs, parent, 0, name);
        }
        return rc;
}

/* 1 if INO is an inode here that has a name (or the root). */
static int apply_live(struct fs *fs, uint64_t ino)
{
        struct fs_inode *in;
        int live;

        if (ino == INDEX_ROOT_INO)
                return 1;
        if (fs_inode_get(fs, ino, &in) != 0)
                return 0;
        pthread_rwlock_rdlock(&in->lock);
        live = in->nlink > 0;
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(fs, in);
        return live;
}

/* PID's live directory here without resolving further (its inode or its alias row), or 0. */
static uint64_t apply_dir_now(struct fs *fs, const uint8_t pid[16])
{
        static const uint8_t zero[16];
        uint64_t ino;

        if (memcmp(pid, zero, 16) == 0)
                return INDEX_ROOT_INO;
        if (index_ino_by_file_id(fs->ix, pid, &ino) == 0 && apply_live(fs, ino))
                return ino;
        if (index_alias_get(fs->ix, pid, &ino) == 0 && apply_live(fs, ino))
                return ino;
        return 0;
}

/*
 * U5 with U6 (FOUND.md F36, F37): a deleted id's alias row (fs_alias_keep_dead,
 * apply_hold_place) routes the entries that name PID into directory INO only
 * while INO is live at the place PID's deletion names.  Once INO is deleted
 * or has moved elsewhere, the row goes and 1 is returned: PID is then
 * decided and resolved as any deleted directory (held by the entries that
 * name it, at its deletion's place).  0: the row stands (PID is a live
 * alias, or INO is where the deletion put PID, or that place is not known
 * here).  LOCKED: an inode this thread holds locked (read without locking
 * if it is INO), or NULL.  Caller holds ns_lock.
 */
static int apply_dead_stale(struct fs *fs, const uint8_t pid[16], uint64_t ino,
                            const struct fs_inode *locked)
{
        char cur[INDEX_NAME_MAX + 1], wanted[256];
        struct fs_inode *o = NULL;
        struct fs_gone g;
        uint8_t fid[16], type;
        uint64_t p = 0, gp;
        size_t len = 0;
        int rc = fs_gone_get(fs, pid, &g), live, stale = 0;

        if (rc != 0)
                return rc == -ENOENT ? 0 : rc;
        if (locked != NULL && locked->ino == ino) {
                live = locked->nlink > 0;
                memcpy(fid, locked->file_id, 16);
        } else if (fs_inode_get(fs, ino, &o) == 0) {
                pthread_rwlock_rdlock(&o->lock);
                live = o->nlink > 0;
                memcpy(fid, o->file_id, 16);
                pthread_rwlock_unlock(&o->lock);
                fs_inode_put(fs, o);
        } else {
                live = 0;
        }
        if (!live) {
                stale = 1;
        } else if ((gp = apply_dir_now(fs, g.parent_id)) != 0) {
                rc = index_name_of(fs->ix, ino, &p, cur, &len, &type);
                if (rc == 0)
                        rc = fs_names_wanted(fs, fid, p, cur, wanted);
                stale = rc == 0 &&
                        (p != gp || (strcmp(cur, g.name) != 0 && strcmp(wanted, g.name) != 0));
                rc = rc == -ENOENT ? 0 : rc;
        }
        free(g.vv);
        if (rc == 0 && stale)
                rc = index_alias_remove(fs->ix, pid);
        return rc == 0 ? stale : rc;
}

/* The local directory for parent id PID: the root, a known directory, or a placeholder. */
static int apply_parent_at(struct fs *fs, const uint8_t pid[16], uint64_t *ino, int depth)
{
        struct fs_gone g;
        uint8_t *pending = NULL;
        size_t plen = 0;
        char hex[33];
        int rc;

        rc = apply_parent_known(fs, pid, ino); /* (an alias: its own inode gone or going) */
        if (rc != -ENOENT)
                return rc;
        rc = index_tomb_get(fs->ix, pid, &pending, &plen);
        if (rc == 0) {
                secmem_wipe(pending, plen);
                free(pending);
                return apply_wait(fs, pid, "its directory's deletion is not committed yet");
        }
        if (rc != -ENOENT)
                return rc;
        rc = depth < APPLY_MAX_DEPTH ? fs_gone_get(fs, pid, &g) : -ENOENT;
        if (rc == 0) {
                rc = apply_resurrect_dir(fs, pid, &g, ino, depth);
                free(g.vv);
                return rc;
        }
        if (rc != -ENOENT)
                return rc;
        if (fs->orphans_ino == 0) {
                rc = apply_local_dir(fs, INDEX_ROOT_INO, FS_ORPHANS_NAME, NULL, &fs->orphans_ino);
                if (rc != 0)
                        return rc;
        }
        hex_encode(hex, pid, 16);
        return apply_local_dir(fs, fs->orphans_ino, hex, pid, ino);
}

static int apply_parent(struct fs *fs, const uint8_t pid[16], uint64_t *ino)
{
        return apply_parent_at(fs, pid, ino, 0);
}

enum apply_act {
        APPLY_SKIP,
        APPLY_NEWER,      /* dominates: take it */
        APPLY_RESURRECT,  /* an edit of a file deleted here: take it, forget the deletion */
        APPLY_WINNER,     /* concurrent and wins: take it (U2: which vector) */
        APPLY_COPY_FIRST, /* the same, after keeping this device's losing version as a copy */
};

static void apply_log_conflict(struct fs *fs, const struct manifest *m, const char *what)
{
        char fid[33], dev[33];

        atomic_fetch_add(&fs->nconflicts, 1);
        hex_encode(fid, m->file_id, 16);
        hex_encode(dev, m->author, 16);
        log_warn("conflict on file %s with device %s: %s", fid, dev, what);
}

/*
 * U6 with F7 (tests/sim/FOUND.md F30): directory IN (locked) is held and a
 * second deletion of it, concurrent with the first, was just remembered.
 * Of two deletions the later is kept (fs_gone_record), whatever the order
 * of arrival; if that is now the other one, IN is held at its state and at
 * the place it names, as on a device that received it first.  Before, IN
 * stayed where the first-arrived deletion had put it: a directory renamed
 * and deleted at its new name on one device, deleted at its old name on
 * another, and held by an entry neither deletion saw, ended under one name
 * here and the other there.
 */
static int apply_held_later(struct fs *fs, struct fs_inode *in)
{
        char cur[INDEX_NAME_MAX + 1];
        struct fs_gone g;
        uint64_t cur_parent = 0;
        size_t len = 0;
        uint8_t type;
        int merged = 0, rc = fs_gone_get(fs, in->file_id, &g);

        if (rc != 0)
                return rc == -ENOENT ? 0 : rc;
        if (memcmp(g.hash, in->manifest_hash, 32) != 0) {
                rc = apply_held_state(in, &g);
                if (rc == 0)
                        rc = index_name_of(fs->ix, in->ino, &cur_parent, cur, &len, &type);
                if (rc == 0)
                        rc = apply_hold_place(fs, in, g.parent_id, g.name, g.name_len, cur_parent,
                                              cur, len, &merged);
                if (rc == 0 && merged) { /* its entries are in the one of that name now */
                        in->nlink = 0;
                        rc = index_held_remove(fs->ix, in->file_id);
                } else if (rc == 0) {
                        rc = fs_held_put(fs, in->file_id, g.hash);
                }
                if (rc == 0)
                        rc = fs_inode_save(fs, in);
        }
        free(g.vv);
        return rc;
}

/* Rules 3 and 4 for a file that is deleted (IN unlinked) or unknown here (IN NULL). */
static int apply_decide_deleted(struct fs *fs, struct fs_inode *in, const struct manifest *m,
                                const struct manifest_meta *meta, int *act)
{
        struct fs_gone g;
        uint8_t *pending = NULL;
        size_t plen = 0;
        uint64_t del_lamport = 0;
        int rc, order, tomb = m->kind == MANIFEST_TOMBSTONE;

        *act = APPLY_SKIP;
        rc = index_tomb_get(fs->ix, m->file_id, &pending, &plen);
        if (rc == 0) {
                secmem_wipe(pending, plen);
                free(pending);
                return apply_wait(fs, m->file_id, "its deletion here is not committed yet");
        }
        if (rc != -ENOENT)
                return rc;
        rc = fs_gone_get(fs, m->file_id, &g);
        if (rc == -ENOENT && in != NULL && in->has_manifest) {
                /* Deleted here, deletion not remembered (older index): its last version. */
                order = apply_vv_cmp((const struct fs_vv *)m->vv, m->nvv, in->vv, in->nvv);
                del_lamport = in->lamport;
        } else if (rc == -ENOENT) {
                if (tomb) /* never seen: remember the deletion for what arrives later */
                        return fs_gone_record(fs, m->file_id, m->lamport, m->hash,
                                              (const struct fs_vv *)m->vv, m->nvv, meta->mode,
                                              meta->parent_id, meta->name, meta->name_len);
                *act = APPLY_NEWER;
                return 0;
        } else if (rc == 0) {
                order = apply_vv_cmp((const struct fs_vv *)m->vv, m->nvv, g.vv, g.nvv);
                del_lamport = g.lamport;
                free(g.vv);
        } else {
                return rc;
        }
        if (order == MANIFEST_VV_EQUAL || order == MANIFEST_VV_DOMINATED)
                return 0;
        if (tomb) { /* deleted on both sides: remember both */
                rc =
                    fs_gone_record(fs, m->file_id, m->lamport, m->hash, (const struct fs_vv *)m->vv,
                                   m->nvv, meta->mode, meta->parent_id, meta->name, meta->name_len);
                if (rc == 0 && in != NULL && in->nlink > 0 && in->kind == FS_KIND_DIR)
                        rc = apply_held_later(fs, in); /* held: at the later one's place */
                return rc;
        }
        if (order == MANIFEST_VV_CONCURRENT && m->lamport < del_lamport) {
                /* U1: the later deletion wins; the edit's author keeps it as a copy */
                apply_log_conflict(fs, m, "edited there, deleted here later: the deletion wins");
                return 0;
        }
        if (order == MANIFEST_VV_CONCURRENT)
                apply_log_conflict(fs, m, "edited there, deleted here: the edit wins");
        *act = APPLY_RESURRECT;
        return 0;
}

/*
 * Invariant C8 (doc/SYNC.md): the current version's own manifest, which
 * apply_decide needs when M is older by the file's vector yet later by
 * (Lamport, author, hash).  Read by fs_apply outside every lock (store I/O).
 */
struct apply_own {
        int read; /* a read of HASH was tried (M, META valid if OK) */
        int ok;
        uint8_t hash[32]; /* the version wanted or read */
        struct manifest m;
        struct manifest_meta meta;
};

#define APPLY_NEED_OWN 2  /* apply_decide: read OWN->hash first, then decide again */
#define APPLY_NOT_ALIAS 3 /* apply_alias: the row was a deleted id's of a deleted directory */

static void apply_own_release(struct apply_own *own)
{
        if (own->ok) {
                manifest_meta_release(&own->meta);
                manifest_release(&own->m);
        }
        own->ok = 0;
        own->read = 0;
}

/* Reads OWN->hash (of file FID); a version it cannot read leaves the vectors to decide. */
static int apply_own_read(struct fs *fs, const uint8_t fid[16], struct apply_own *own)
{
        char hex[33];
        int rc = fs->pull != NULL ? pull_manifest_get(fs->pull, own->hash, fid, &own->m, &own->meta)
                                  : -ENOENT;

        if (rc != 0 && rc != -ENOENT && rc != -EBADMSG && rc != -ENOKEY)
                return rc; /* the store's, or -ENOMEM: the entry is applied again next round */
        own->read = 1;
        own->ok = rc == 0;
        if (rc != 0) {
                hex_encode(hex, fid, 16);
                log_warn("file %s: cannot read its current version (%s); the vectors decide", hex,
                         strerror(-rc));
        }
        return 0;
}

/*
 * C8 for M, older or equal by IN's (merged) vector and yet later than IN's
 * current version: 1 if the current version's own vector counts M (its
 * vector claims M, which it cannot have seen: a forked journal; concurrent),
 * 0 if only a merged vector does (a version the current one beat, or a
 * deletion an edit beat, saw M: ignored as before), or APPLY_NEED_OWN.
 */
static int apply_c8_counted(const struct fs_inode *in, const struct manifest *m,
                            struct apply_own *own)
{
        int order;

        if (!own->read || memcmp(own->hash, in->manifest_hash, 32) != 0) {
                memcpy(own->hash, in->manifest_hash, 32);
                return APPLY_NEED_OWN;
        }
        if (!own->ok)
                return 0;
        order = manifest_vv_compare(m->vv, m->nvv, own->m.vv, own->m.nvv);
        return order == MANIFEST_VV_EQUAL || order == MANIFEST_VV_DOMINATED;
}

/*
 * Decides what to do with M for the local inode IN (NULL: unknown file id).
 * OWN: the current version's own manifest if read (C8); APPLY_NEED_OWN asks
 * fs_apply to read OWN->hash (set here) and call again.
 */
static int apply_decide(struct fs *fs, struct fs_inode *in, const struct manifest *m,
                        const struct manifest_meta *meta, struct apply_own *own, int *act)
{
        struct apply_ver rv, lv;
        int order, later, rc;

        *act = APPLY_SKIP;
        if (in != NULL && in->has_manifest && memcmp(in->manifest_hash, m->hash, 32) == 0)
                return 0; /* rule 1 */
        if (in != NULL && (in->sync_dirty || in->committing))
                return apply_wait(fs, m->file_id,
                                  in->committing
                                      ? "a local change is being committed"
                                      : "a local change is not committed yet"); /* rule 2 */
        if (in != NULL && (rc = apply_split_busy(fs, in, m->file_id)) != 0)
                return rc; /* rule 2: a split would not see its entry's new version (U5) */
        if (in == NULL || (in->nlink == 0 && in->ino != INDEX_ROOT_INO))
                return apply_decide_deleted(fs, in, m, meta, act);
        rc = fs_held_is(fs, in); /* U6: measured against its deletion, as a deleted one */
        if (rc != 0)
                return rc < 0 ? rc : apply_decide_deleted(fs, in, m, meta, act);
        order = apply_vv_cmp((const struct fs_vv *)m->vv, m->nvv, in->vv, in->nvv);
        apply_remote_ver(m, &rv);
        apply_local_ver(fs, in, &lv);
        later = apply_wins(&rv, &lv);
        /*
         * C8: an honest version is later than every version its vector
         * counts; vectors that say otherwise count two branches of a forked
         * journal (finding 2 of doc/SYNC.md), and the versions are
         * concurrent.  Never the case without a fork: one comparison more.
         */
        if (order == MANIFEST_VV_EQUAL || order == MANIFEST_VV_DOMINATED) {
                if (!later || !in->has_manifest || m->kind == MANIFEST_TOMBSTONE)
                        return 0;
                rc = apply_c8_counted(in, m, own);
                if (rc != 1)
                        return rc; /* 0: ignored; APPLY_NEED_OWN */
                apply_log_conflict(fs, m, "its vector and its clock disagree (forked journal)");
        } else if (order == MANIFEST_VV_DOMINATES && (later || !in->has_manifest)) {
                *act = APPLY_NEWER;
                return 0;
        } else if (order == MANIFEST_VV_DOMINATES) {
                apply_log_conflict(fs, m, "its vector and its clock disagree (forked journal)");
        }
        if (m->kind == MANIFEST_TOMBSTONE && m->lamport <= lv.lamport) { /* U1 */
                apply_log_conflict(fs, m, "deleted there, edited here: the edit wins");
                return apply_vv_absorb(in, (const struct fs_vv *)m->vv, m->nvv);
        }
        if (m->kind == MANIFEST_TOMBSTONE) { /* U1: the later deletion wins; the edit is kept */
                apply_log_conflict(fs, m,
                                   "deleted there later than edited here: the deletion wins");
                /* a symlink or special file that lost is kept too (its target, its
                 * type); a directory's own edit has nothing to keep */
                *act = in->kind != FS_KIND_DIR && memcmp(in->author, fs->device_id, 16) == 0
                           ? APPLY_COPY_FIRST
                           : APPLY_NEWER;
                return 0;
        }
        if (!later) {
                apply_log_conflict(fs, m, "both changed it; this version wins");
                /* U2: the loser's author keeps it; absorbing it here would let this
                 * device's next version pass for one that saw it (FOUND.md B2). */
                return apply_vv_absorb_self(in, (const struct fs_vv *)m->vv, m->nvv, fs->device_id);
        }
        apply_log_conflict(fs, m, "both changed it; the other version wins");
        *act = in->kind != FS_KIND_DIR && in->kind == apply_kind(m->kind) &&
                       memcmp(in->author, fs->device_id, 16) == 0
                   ? APPLY_COPY_FIRST
                   : APPLY_WINNER;
        return 0;
}

/* Creates the inode for M's file (unknown here, or deleted and gone from the index). */
static int apply_create(struct fs *fs, const struct manifest *m, const struct manifest_meta *meta,
                        struct fs_inode **out)
{
        uint32_t type = apply_type(m->kind, meta);
        int rc =
            fs_inode_create_id(fs, apply_kind(m->kind), type | (meta->mode & APPLY_MODE_MASK),
                               fs->uid, fs->gid, m->kind == MANIFEST_SYMLINK ? meta->target : NULL,
                               m->file_id, m->salt, m->epoch_id, out);

        if (rc == 0) {
                pthread_rwlock_wrlock(&(*out)->lock);
                (*out)->rdev = meta->rdev; /* C6; saved with the version */
        }
        return rc;
}

/* ---- rule 5 for directories: same-name directories merge ---- */

struct apply_child {
        uint64_t ino;
        uint8_t type;
        char name[INDEX_NAME_MAX + 1];
};

struct apply_children {
        struct apply_child *v;
        size_t n, cap;
};

static int apply_child_cb(void *arg, int64_t pos, uint64_t ino, uint8_t type, const char *name,
                          size_t len)
{
        struct apply_children *c = arg;

        (void)pos;
        if (c->n == c->cap) {
                size_t cap = c->cap ? 2 * c->cap : 32;
                struct apply_child *v = realloc(c->v, cap * sizeof(*v));

                if (v == NULL)
                        return -ENOMEM;
                c->v = v;
                c->cap = cap;
        }
        c->v[c->n].ino = ino;
        c->v[c->n].type = type;
        memcpy(c->v[c->n].name, name, len);
        c->v[c->n].name[len] = '\0';
        c->n++;
        return 0;
}

/*
 * U5, rule 2 (FOUND.md F35): -EAGAIN if G (locked) is a merged directory one
 * of whose entries is being committed: the version that round sealed names
 * G's stayed id while the entry's recorded parent id is still its last
 * version's, so a split now would sort it by the wrong id.  FID is the id
 * whose version waits (for the log line).  0 otherwise, or an errno.
 */
static int apply_split_busy(struct fs *fs, const struct fs_inode *g, const uint8_t fid[16])
{
        struct apply_children ch = {NULL, 0, 0};
        uint8_t(*ids)[16] = NULL;
        size_t n = 0, i;
        int rc, busy = 0;

        if (g->kind != FS_KIND_DIR || g->nlink == 0)
                return 0;
        rc = index_aliases_of(fs->ix, g->ino, &ids, &n);
        free(ids);
        if (rc != 0 || n == 0)
                return rc;
        rc = index_readdir(fs->ix, g->ino, 0, apply_child_cb, &ch);
        for (i = 0; i < ch.n && rc == 0 && !busy; i++) {
                struct fs_inode *c;

                rc = fs_inode_get(fs, ch.v[i].ino, &c);
                if (rc != 0)
                        break;
                pthread_rwlock_rdlock(&c->lock);
                busy = c->committing;
                pthread_rwlock_unlock(&c->lock);
                fs_inode_put(fs, c);
        }
        free(ch.v);
        if (rc == 0 && busy)
                rc = apply_wait(fs, fid, "an entry of its merged directory is being committed");
        return rc;
}

/*
 * Inode INO's part in a merge (apply_merge_busy): *DIR its kind, *BUSY a
 * local change that makes the merge wait (being committed; a directory
 * also with a change not committed yet), *NAMES whether its current
 * version names FID as its parent (1 if FID is NULL).
 */
static int apply_busy_state(struct fs *fs, uint64_t ino, const uint8_t *fid, int *dir, int *busy,
                            int *names)
{
        struct fs_inode *o;
        int rc = fs_inode_get(fs, ino, &o);

        if (rc != 0)
                return rc;
        pthread_rwlock_rdlock(&o->lock);
        *dir = o->kind == FS_KIND_DIR;
        *busy = o->committing || (*dir && o->sync_dirty);
        *names = fid == NULL || (o->vparent_known && memcmp(o->vparent, fid, 16) == 0);
        pthread_rwlock_unlock(&o->lock);
        fs_inode_put(fs, o);
        return 0;
}

/*
 * U5 (FOUND.md F40): 1 if a rule 5 merge of the entries of directory FROM
 * (only those whose versions name FID, if FID is not NULL) with directory
 * INTO would have to wait halfway (-EAGAIN): a pair of same-named
 * directories one of which has a local change not committed yet
 * (apply_ino_ver), or a same-named entry being committed that the clash
 * would move (fs_entry_move_idle); 0 if not, or an errno.  SKIP, an inode
 * the caller holds locked, is never looked at.  Caller holds ns_lock.
 */
static int apply_merge_busy(struct fs *fs, uint64_t from, const uint8_t *fid, uint64_t into,
                            uint64_t skip, int depth)
{
        struct apply_children ch = {NULL, 0, 0};
        size_t i;
        int rc = depth > APPLY_MAX_DEPTH ? 0 : index_readdir(fs->ix, from, 0, apply_child_cb, &ch),
            busy = 0;

        for (i = 0; i < ch.n && rc == 0 && !busy; i++) {
                int cdir, cbusy, names, odir, obusy, any;
                uint64_t other;

                rc = index_lookup(fs->ix, into, ch.v[i].name, strlen(ch.v[i].name), &other);
                if (rc == -ENOENT || (rc == 0 && (ch.v[i].ino == skip || other == skip))) {
                        rc = 0;
                        continue; /* no clash: a plain move never waits */
                }
                if (rc == 0)
                        rc = apply_busy_state(fs, ch.v[i].ino, fid, &cdir, &cbusy, &names);
                if (rc == 0 && names)
                        rc = apply_busy_state(fs, other, NULL, &odir, &obusy, &any);
                if (rc != 0 || !names)
                        continue;
                busy = cbusy || obusy;
                if (!busy && cdir && odir) {
                        rc = apply_merge_busy(fs, ch.v[i].ino, NULL, other, skip, depth + 1);
                        busy = rc > 0;
                        rc = rc > 0 ? 0 : rc;
                }
        }
        free(ch.v);
        return rc == 0 ? busy : rc;
}

/*
 * U5/U6 (F40): the entries of G (locked) naming FID are about to land, in
 * an inode of FID's own, at PARENT/NAME (LEN bytes): -EAGAIN (the version
 * waits, nothing changed yet) if a directory there would merge with them
 * only halfway (apply_merge_busy); 0 otherwise, or an errno.
 */
static int apply_land_busy(struct fs *fs, const struct fs_inode *g, const uint8_t fid[16],
                           uint64_t parent, const char *name, size_t len)
{
        uint64_t other;
        int rc = index_lookup(fs->ix, parent, name, len, &other);

        if (rc == -ENOENT || (rc == 0 && (other == g->ino || !apply_is_dir(fs, other))))
                return 0;
        if (rc == 0)
                rc = apply_merge_busy(fs, g->ino, fid, other, g->ino, 0);
        return rc > 0 ? apply_wait(fs, fid, "an entry where it lands is being committed") : rc;
}

/*
 * F40: deletion M of id FID of merged directory G (locked) may leave the
 * entries that name FID held at the place it names, or at the place of the
 * deletion remembered before it (the later of the two holds them:
 * apply_split_held); -EAGAIN if landing at either would have to wait.
 */
static int apply_hold_busy(struct fs *fs, const struct fs_inode *g, const struct manifest *m,
                           const struct manifest_meta *meta)
{
        struct fs_gone gone;
        uint64_t parent;
        int rc;

        if (m->kind != MANIFEST_TOMBSTONE || g->kind != FS_KIND_DIR || g->nlink == 0)
                return 0;
        rc = apply_parent_known(fs, meta->parent_id, &parent);
        if (rc == 0)
                rc = apply_land_busy(fs, g, m->file_id, parent, meta->name, meta->name_len);
        if (rc != 0)
                return rc == -ENOENT ? 0 : rc;
        rc = fs_gone_get(fs, m->file_id, &gone);
        if (rc != 0)
                return rc == -ENOENT ? 0 : rc;
        rc = apply_parent_known(fs, gone.parent_id, &parent);
        if (rc == 0)
                rc = apply_land_busy(fs, g, m->file_id, parent, gone.name, gone.name_len);
        free(gone.vv);
        return rc == -ENOENT ? 0 : rc;
}

/* The version of local inode INO (a copy of its author), its kind and mtime. */
static int apply_ino_ver(struct fs *fs, uint64_t ino, struct apply_ver *v, uint8_t author[16],
                         int *kind, uint64_t *mtime, uint8_t file_id[16])
{
        struct fs_inode *o;
        int rc = fs_inode_get(fs, ino, &o);

        if (rc != 0)
                return rc;
        pthread_rwlock_rdlock(&o->lock);
        apply_local_ver(fs, o, v);
        memcpy(author, v->author, 16);
        v->author = author;
        v->hash = NULL;
        v->vv = NULL; /* not kept: only (Lamport, author) decide here */
        v->nvv = 0;
        *kind = o->kind;
        *mtime = (uint64_t)o->mtime.tv_sec;
        memcpy(file_id, o->file_id, 16);
        /* A directory with an uncommitted change is not merged away before it is published. */
        rc = o->kind == FS_KIND_DIR && (o->sync_dirty || o->committing) ? -EAGAIN : 0;
        pthread_rwlock_unlock(&o->lock);
        fs_inode_put(fs, o);
        return rc;
}

int fs_entry_move(struct fs *fs, uint64_t from, const char *name, uint64_t into,
                  const char *newname, uint64_t ino, uint8_t type)
{
        int rc = index_unlink(fs->ix, from, name, strlen(name));

        if (rc == 0)
                rc = index_link(fs->ix, into, newname, strlen(newname), ino, type);
        if (rc == 0) {
                fs_inval_queue(fs, from, 0, name);
                fs_inval_queue(fs, into, 0, newname);
        }
        return rc;
}

int fs_entry_move_idle(struct fs *fs, uint64_t from, const char *name, uint64_t into,
                       const char *newname, uint64_t ino, uint8_t type)
{
        struct fs_inode *in;
        int rc = fs_inode_get(fs, ino, &in);

        if (rc != 0)
                return rc;
        pthread_rwlock_rdlock(&in->lock);
        rc = in->committing ? -EAGAIN : fs_entry_move(fs, from, name, into, newname, ino, type);
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(fs, in);
        return rc;
}

/* Directory INO is merged away: its id now means INTO; the inode goes when unused. */
static int apply_retire_dir(struct fs *fs, uint64_t ino, const uint8_t file_id[16], uint64_t into)
{
        struct fs_aliasver a;
        struct fs_inode *o;
        int rc = fs_inode_get(fs, ino, &o);

        if (rc != 0)
                return rc;
        pthread_rwlock_wrlock(&o->lock);
        /* U5: the id lives on as an alias, with its own version */
        a.lamport = o->has_manifest ? o->lamport : 0;
        memcpy(a.author, o->author, 16);
        memcpy(a.hash, o->manifest_hash, 32);
        a.vv = o->vv;
        a.nvv = o->nvv;
        rc = fs_alias_record(fs, file_id, into, &a);
        if (rc == 0)
                rc = index_alias_move(fs->ix, ino, into); /* ids merged into INO earlier */
        if (rc == 0) {
                o->nlink = 0;
                rc = fs_inode_save(fs, o);
        }
        pthread_rwlock_unlock(&o->lock);
        fs_inode_put(fs, o);
        return rc;
}

static int apply_merge_into(struct fs *fs, uint64_t from, uint64_t into, int depth);

/*
 * Child C of FROM moves to INTO/NAME in a merge.  A displaced child's record
 * follows it: it still wants its name, now in INTO (U4, FOUND.md F23).
 */
static int apply_merge_move(struct fs *fs, uint64_t from, const struct apply_child *c,
                            uint64_t into, const char *name)
{
        int rc = fs_entry_move(fs, from, c->name, into, name, c->ino, c->type);

        return rc == 0 ? fs_names_moved(fs, c->ino, from, c->name, into, name) : rc;
}

/* Inode INO, moved to INTO/ALT by a merge, wants INTO/NAME (rule 5, fs/names.c). */
static int apply_merge_displaced(struct fs *fs, uint64_t ino, uint64_t into, const char *name,
                                 const char *alt)
{
        struct fs_inode *o;
        uint8_t fid[16], hash[32];
        int rc = fs_inode_get(fs, ino, &o), has;

        if (rc != 0)
                return rc;
        pthread_rwlock_rdlock(&o->lock);
        has = o->has_manifest;
        memcpy(fid, o->file_id, 16);
        memcpy(hash, o->manifest_hash, 32);
        pthread_rwlock_unlock(&o->lock);
        fs_inode_put(fs, o);
        return has ? fs_names_displaced(fs, fid, hash, into, name, alt) : 0;
}

/*
 * Child C of FROM meets OTHER under the same name in INTO: two directories
 * merge (the older into the newer), anything else is resolved like two files
 * (the older renamed).
 */
static int apply_merge_pair(struct fs *fs, uint64_t from, const struct apply_child *c,
                            uint64_t into, uint64_t other, int depth)
{
        struct apply_ver cv, ov;
        uint8_t ca[16], oa[16], cfid[16], ofid[16];
        uint64_t cm, om;
        int ck, ok, rc;
        char alt[256], wanted[256];

        rc = apply_ino_ver(fs, c->ino, &cv, ca, &ck, &cm, cfid);
        if (rc == 0)
                rc = apply_ino_ver(fs, other, &ov, oa, &ok, &om, ofid);
        if (rc != 0)
                return rc;
        if (ck == FS_KIND_DIR && ok == FS_KIND_DIR) {
                if (apply_wins(&ov, &cv)) { /* C merges into OTHER */
                        rc = apply_merge_into(fs, c->ino, other, depth + 1);
                        if (rc == 0)
                                rc = index_unlink(fs->ix, from, c->name, strlen(c->name));
                        return rc == 0 ? apply_retire_dir(fs, c->ino, cfid, other) : rc;
                }
                rc = apply_merge_into(fs, other, c->ino, depth + 1); /* OTHER into C */
                if (rc == 0)
                        rc = index_unlink(fs->ix, into, c->name, strlen(c->name));
                if (rc == 0)
                        rc = apply_retire_dir(fs, other, ofid, c->ino);
                return rc == 0 ? apply_merge_move(fs, from, c, into, c->name) : rc;
        }
        /* the older is named from the name it wants: it may show a conflict name (F20) */
        if (apply_wins(&ov, &cv)) { /* C is the older: it moves in under a conflict name */
                rc = fs_names_wanted(fs, cfid, from, c->name, wanted);
                if (rc == 0)
                        rc = fs_conflict_name(fs, into, wanted, ca, cm, cfid, 0, alt);
                if (rc == 0) /* being committed under its name: the entry waits (F28) */
                        rc = fs_entry_move_idle(fs, from, c->name, into, alt, c->ino, c->type);
                return rc == 0 ? apply_merge_displaced(fs, c->ino, into, wanted, alt) : rc;
        }
        rc = fs_names_wanted(fs, ofid, into, c->name, wanted);
        if (rc == 0)
                rc = fs_conflict_name(fs, into, wanted, oa, om, ofid, 0, alt);
        if (rc == 0)
                rc = fs_entry_move_idle(fs, into, c->name, into, alt, other, (uint8_t)ok);
        if (rc == 0)
                rc = apply_merge_displaced(fs, other, into, wanted, alt);
        return rc == 0 ? apply_merge_move(fs, from, c, into, c->name) : rc;
}

/* Every entry of directory FROM moves into directory INTO (same names resolved). */
static int apply_merge_into(struct fs *fs, uint64_t from, uint64_t into, int depth)
{
        struct apply_children ch = {NULL, 0, 0};
        size_t i;
        int rc;

        if (depth > APPLY_MAX_DEPTH)
                return -ELOOP;
        rc = index_readdir(fs->ix, from, 0, apply_child_cb, &ch);
        for (i = 0; i < ch.n && rc == 0; i++) {
                const struct apply_child *c = &ch.v[i];
                uint64_t other;

                rc = index_lookup(fs->ix, into, c->name, strlen(c->name), &other);
                if (rc == -ENOENT)
                        rc = apply_merge_move(fs, from, c, into, c->name);
                else if (rc == 0)
                        rc = apply_merge_pair(fs, from, c, into, other, depth);
        }
        free(ch.v);
        return rc;
}

/* Placeholder IN (locked) merges into INTO: its entries move, its name goes. */
static int apply_retire_placeholder(struct fs *fs, struct fs_inode *in, uint64_t into)
{
        char cur[INDEX_NAME_MAX + 1];
        uint64_t p;
        size_t len = 0;
        uint8_t type;
        int rc = apply_merge_into(fs, in->ino, into, 0);

        if (rc == 0 && index_name_of(fs->ix, in->ino, &p, cur, &len, &type) == 0) {
                rc = index_unlink(fs->ix, p, cur, len);
                fs_inval_queue(fs, p, 0, cur);
        }
        if (rc == 0) {
                in->nlink = 0;
                rc = fs_inode_save(fs, in);
        }
        return rc;
}

/* Directory M's id becomes an alias of INTO, at M's version (U5). */
static int apply_alias_of_version(struct fs *fs, const struct manifest *m,
                                  const struct fs_inode *local, uint64_t into)
{
        struct fs_aliasver a = {m->lamport, {0}, {0}, (struct fs_vv *)m->vv, m->nvv};
        struct fs_vv *vv = NULL;
        size_t i, n = 0;
        int rc = 0;

        memcpy(a.author, m->author, 16);
        memcpy(a.hash, m->hash, 32);
        if (local != NULL && local->has_manifest && memcmp(local->author, fs->device_id, 16) == 0)
                rc = fs_vv_merge(a.vv, a.nvv, local->vv, local->nvv, &vv, &n); /* all of it */
        for (i = 0; local != NULL && vv == NULL && rc == 0 && i < local->nvv; i++)
                if (memcmp(local->vv[i].device_id, fs->device_id, 16) == 0) /* its own counter */
                        rc = fs_vv_merge(a.vv, a.nvv, &local->vv[i], 1, &vv, &n);
        if (vv != NULL) { /* U2 (F42): this device's counter is never reused */
                a.vv = vv;
                a.nvv = n;
        }
        if (rc == 0)
                rc = fs_alias_record(fs, m->file_id, into, &a);
        free(vv);
        return rc;
}

/* 1 if directory INO is PARENT or above it (a move of INO under PARENT would be a cycle). */
static int apply_above(struct fs *fs, uint64_t ino, uint64_t parent)
{
        char cur[INDEX_NAME_MAX + 1];
        size_t len;
        uint8_t type;
        int depth;

        for (depth = 0; depth <= APPLY_MAX_DEPTH && parent != INDEX_ROOT_INO; depth++) {
                if (parent == ino)
                        return 1;
                if (index_name_of(fs->ix, parent, &parent, cur, &len, &type) != 0)
                        return 0;
        }
        return parent == ino;
}

/*
 * Rule 5 for a directory M arriving (IN: its inode if any: new, a
 * placeholder, or placed elsewhere and moved by M, U8) where a different
 * local directory already has its name.  The newer
 * of the two (Lamport, author) stays; the other's entries move into it and
 * its id becomes an alias.  Every device ends with the same single
 * directory.  *DONE: M is fully handled (merged into the local one).
 */
static int apply_dir_merge(struct fs *fs, struct fs_inode **in, const struct manifest *m,
                           const struct manifest_meta *meta, uint64_t parent, int *done)
{
        struct apply_ver rv, ov;
        uint8_t oa[16], ofid[16];
        uint64_t other, om;
        int ok, rc;

        *done = 0;
        if (m->kind != MANIFEST_DIR)
                return 0;
        if (*in != NULL) {
                uint64_t p;
                char cur[INDEX_NAME_MAX + 1];
                size_t len;
                uint8_t type;

                rc = index_name_of(fs->ix, (*in)->ino, &p, cur, &len, &type);
                if (rc == 0 && p == parent && len == meta->name_len &&
                    memcmp(cur, meta->name, len) == 0)
                        return 0; /* where it is already */
                if (rc != 0 && rc != -ENOENT)
                        return rc;
                if (apply_above(fs, (*in)->ino, parent))
                        return 0; /* a move cycle: not merged (not handled yet) */
                /* placed elsewhere (or a placeholder): a move onto a directory's name merges
                 * the two like two new ones (U8); onto a file's name it is rule 5's rename */
        }
        rc = index_lookup(fs->ix, parent, meta->name, meta->name_len, &other);
        if (rc == -ENOENT ||
            (rc == 0 && (other == fs->orphans_ino || (*in != NULL && other == (*in)->ino))))
                return 0;
        if (rc == 0)
                rc = apply_ino_ver(fs, other, &ov, oa, &ok, &om, ofid);
        if (rc != 0 || ok != FS_KIND_DIR)
                return rc; /* a file there: rule 5's rename */
        apply_remote_ver(m, &rv);
        if (!apply_wins(&rv, &ov)) { /* the local directory stays; M's id shows it */
                if (*in != NULL)     /* placed or a placeholder: its entries move, it goes */
                        rc = apply_retire_placeholder(fs, *in, other);
                if (rc == 0 && *in != NULL) /* ids merged into it earlier follow (U5) */
                        rc = index_alias_move(fs->ix, (*in)->ino, other);
                if (rc == 0)
                        rc = apply_alias_of_version(fs, m, *in, other);
                *done = 1;
                if (rc == 0)
                        log_info("a directory made on another device under the name of one here "
                                 "merges into it");
                return rc;
        }
        if (*in == NULL)
                rc = apply_create(fs, m, meta, in);
        if (rc == 0)
                rc = apply_merge_into(fs, other, (*in)->ino, 0);
        if (rc == 0)
                rc = index_unlink(fs->ix, parent, meta->name, meta->name_len);
        if (rc == 0) {
                fs_inval_queue(fs, parent, 0, meta->name);
                rc = apply_retire_dir(fs, other, ofid, (*in)->ino);
        }
        if (rc == 0)
                log_info("a directory here merges into the same-named one from another device");
        return rc;
}

/* ---- U5: a rename of one id of a merged directory splits it ---- */

/*
 * 1 if directory G (locked) is not where META wants it: PARENT/NAME, against
 * G's entry (the name G's record wants if it is shown under a conflict
 * name); 0 if it is there, has no name, or PARENT is G or below it (a move
 * cycle, not handled); or a negative errno.
 */
static int apply_split_elsewhere(struct fs *fs, const struct fs_inode *g,
                                 const struct manifest_meta *meta, uint64_t parent)
{
        char cur[INDEX_NAME_MAX + 1], wanted[256];
        uint64_t p = 0;
        size_t len = 0;
        uint8_t type;
        int rc = index_name_of(fs->ix, g->ino, &p, cur, &len, &type);

        if (rc == -ENOENT)
                return 0;
        if (rc == 0)
                rc = fs_names_wanted(fs, g->file_id, p, cur, wanted);
        if (rc != 0)
                return rc;
        if (p == parent && strcmp(wanted, meta->name) == 0)
                return 0;
        return !apply_above(fs, g->ino, parent);
}

/*
 * Rule 2 where a split-off id lands: a directory there with a local change
 * not committed yet is not merged before it is published (apply_ino_ver),
 * so the split waits (-EAGAIN) before it changes anything, rather than
 * leave the split-off id without a name.  G (locked) is never looked at.
 */
static int apply_split_landing(struct fs *fs, const struct fs_inode *g, const struct manifest *m,
                               const struct manifest_meta *meta, uint64_t parent)
{
        struct apply_ver v;
        uint8_t author[16], fid[16];
        uint64_t other, mtime;
        int kind, rc = index_lookup(fs->ix, parent, meta->name, meta->name_len, &other);

        if (rc == -ENOENT || (rc == 0 && other == g->ino))
                return 0;
        if (rc == 0)
                rc = apply_ino_ver(fs, other, &v, author, &kind, &mtime, fid);
        if (rc == -EAGAIN)
                return apply_wait(
                    fs, m->file_id,
                    "the directory where it goes has a local change not committed yet");
        return rc == 0 ? apply_land_busy(fs, g, m->file_id, parent, meta->name, meta->name_len)
                       : rc;
}

/*
 * Directory id FID, split off from G (locked), becomes an inode of its own at
 * version V, without a name until the caller places it; returned locked for
 * writing with a busy reference, as apply_create's.
 */
static int apply_split_new(struct fs *fs, const struct fs_inode *g, const uint8_t fid[16],
                           const struct fs_aliasver *v, struct fs_inode **out)
{
        struct fs_inode *n;
        int rc =
            fs_inode_create_id(fs, FS_KIND_DIR, g->mode, g->uid, g->gid, NULL, fid, NULL, NULL, &n);

        if (rc != 0)
                return rc;
        pthread_rwlock_wrlock(&n->lock);
        if (v->nvv > 0) {
                n->vv = malloc(v->nvv * sizeof(*n->vv));
                if (n->vv == NULL)
                        rc = -ENOMEM;
                else
                        memcpy(n->vv, v->vv, v->nvv * sizeof(*n->vv));
        }
        if (rc == 0) {
                n->nvv = v->nvv;
                n->lamport = v->lamport;
                memcpy(n->author, v->author, 16);
                memcpy(n->manifest_hash, v->hash, 32);
                n->has_manifest = 1;
                n->mtime = g->mtime;
                rc = fs_inode_save(fs, n);
        }
        if (rc != 0) {
                pthread_rwlock_unlock(&n->lock);
                fs_inode_put(fs, n); /* nameless: evicted and deleted */
                return rc;
        }
        *out = n;
        return 0;
}

/* The number of entries of G whose current version names FID as their parent, or an errno. */
static int apply_split_count(struct fs *fs, uint64_t g, const uint8_t fid[16])
{
        struct apply_children ch = {NULL, 0, 0};
        size_t i;
        int rc = index_readdir(fs->ix, g, 0, apply_child_cb, &ch), n = 0;

        for (i = 0; i < ch.n && rc == 0; i++) {
                struct fs_inode *c;

                rc = fs_inode_get(fs, ch.v[i].ino, &c);
                if (rc != 0)
                        break;
                pthread_rwlock_rdlock(&c->lock);
                n += c->vparent_known && memcmp(c->vparent, fid, 16) == 0;
                pthread_rwlock_unlock(&c->lock);
                fs_inode_put(fs, c);
        }
        free(ch.v);
        return rc == 0 ? n : rc;
}

struct apply_holds {
        struct fs *fs;
        uint64_t g;
};

/* fs_alias_dead_held's HOLDS: 1 if entries of directory H->g name ID. */
static int apply_split_holds(void *arg, const uint8_t id[16])
{
        const struct apply_holds *h = arg;
        int n = apply_split_count(h->fs, h->g, id);

        return n > 0 ? 1 : n;
}

/* Every entry of G whose current version names FID as its parent moves into N (U5). */
static int apply_split_move(struct fs *fs, uint64_t g, uint64_t n, const uint8_t fid[16],
                            size_t *moved)
{
        struct apply_children ch = {NULL, 0, 0};
        size_t i;
        int rc = index_readdir(fs->ix, g, 0, apply_child_cb, &ch);

        *moved = 0;
        for (i = 0; i < ch.n && rc == 0; i++) {
                struct fs_inode *c;
                int its;

                rc = fs_inode_get(fs, ch.v[i].ino, &c);
                if (rc != 0)
                        break;
                pthread_rwlock_rdlock(&c->lock);
                its = c->vparent_known && memcmp(c->vparent, fid, 16) == 0;
                pthread_rwlock_unlock(&c->lock);
                fs_inode_put(fs, c);
                if (its) /* N is empty: no name meets another */
                        rc = apply_merge_move(fs, g, &ch.v[i], n, ch.v[i].name);
                if (its && rc == 0)
                        (*moved)++;
        }
        free(ch.v);
        return rc;
}

/*
 * 1 if parent id PID is G's own or an alias of G (locked): a directory
 * placed in G, which must not be resolved through apply_parent (it would
 * read G, whose lock this thread holds): a move cycle, not handled.
 */
static int apply_pid_in(struct fs *fs, const uint8_t pid[16], const struct fs_inode *g)
{
        uint64_t at;

        return memcmp(pid, g->file_id, 16) == 0 ||
               (index_alias_get(fs->ix, pid, &at) == 0 && at == g->ino);
}

/* PID's directory if it is here and live (the root, an inode, an alias), else -ENOENT. */
static int apply_parent_known(struct fs *fs, const uint8_t pid[16], uint64_t *ino)
{
        static const uint8_t zero[16];
        uint64_t alias;
        int rc;

        if (memcmp(pid, zero, 16) == 0) {
                *ino = INDEX_ROOT_INO;
                return 0;
        }
        rc = index_ino_by_file_id(fs->ix, pid, ino);
        if (rc == 0 && apply_live(fs, *ino))
                return 0;
        if (rc != 0 && rc != -ENOENT)
                return rc;
        if (index_alias_get(fs->ix, pid, &alias) == 0 && apply_live(fs, alias)) {
                rc = apply_dead_stale(fs, pid, alias, NULL);
                if (rc <= 0)
                        *ino = alias;
                return rc < 0 ? rc : rc == 0 ? 0 : -ENOENT;
        }
        return -ENOENT;
}

/*
 * U5 with U6: id FID of merged directory G (locked) lost to a deletion (its
 * other ids live on; remembered in "gone").  The entries of G whose versions
 * name FID were not seen by that deletion (an entry it saw is deleted by its
 * own tombstone, in its journal entry or before), so they hold FID (U6) at
 * the place the deletion names, as on a device where FID never merged:
 * FID gets an inode of its own, held, with them; a directory holding that
 * place takes them instead (FID stays deleted, its alias row routing
 * entries, as apply_hold_place does).  Where that place is G's own (the
 * usual case: FID was deleted where it merged), they stay, and FID keeps an
 * alias row of G as a deleted id (alias_dead): entries that name it land in
 * G, and a version of it later than its deletion finds it there, lives
 * again and splits off with them (apply_alias) -- without the row it came
 * back empty, its entries left in G (FOUND.md F32).  Elsewhere, FID routes
 * nothing into G.  A place below G, or a directory there above G, is a move
 * cycle (not handled): they stay too.
 */
static int apply_split_held(struct fs *fs, struct fs_inode *g, const uint8_t fid[16])
{
        struct fs_inode *n = NULL;
        struct fs_aliasver v;
        struct fs_gone gone;
        uint64_t parent = 0, other = 0;
        size_t moved = 0;
        int count = apply_split_count(fs, g->ino, fid), rc, into_dir = 0;

        if (count < 0)
                return count;
        rc = fs_gone_get(fs, fid, &gone);
        if (rc != 0)
                return rc == -ENOENT ? 0 : rc;
        if (apply_pid_in(fs, gone.parent_id, g))
                goto out; /* a cycle */
        /* with no entry to hold, no placeholder and no resurrection for the parent */
        rc = count > 0 ? apply_parent(fs, gone.parent_id, &parent)
                       : apply_parent_known(fs, gone.parent_id, &parent);
        if (rc == 0 && apply_above(fs, g->ino, parent))
                goto out; /* a cycle */
        if (rc == 0) {
                rc = index_lookup(fs->ix, parent, gone.name, gone.name_len, &other);
                if (rc == 0 && (other == g->ino || apply_above(fs, other, g->ino))) {
                        rc = index_alias_put(fs->ix, fid, g->ino); /* G holds its place */
                        goto out;
                }
                into_dir = rc == 0 && apply_is_dir(fs, other);
                rc = rc == -ENOENT ? 0 : rc;
        }
        if (rc == -ENOENT || (rc == 0 && count == 0)) {
                rc = index_alias_remove(fs->ix, fid); /* deleted elsewhere: routes nothing here */
                goto out;
        }
        memset(&v, 0, sizeof(v));
        v.lamport = gone.lamport;
        memcpy(v.hash, gone.hash, 32);
        v.vv = gone.vv;
        v.nvv = gone.nvv;
        if (rc == 0)
                rc = index_alias_remove(fs->ix, fid);
        if (rc == 0)
                rc = apply_split_new(fs, g, fid, &v, &n);
        if (rc != 0)
                goto out;
        rc = apply_split_move(fs, g->ino, n->ino, fid, &moved);
        if (rc == 0 && into_dir) { /* rule 5: its entries land in the one of that name */
                rc = apply_merge_into(fs, n->ino, other, 0);
                if (rc == 0)
                        rc = index_alias_put(fs->ix, fid, other);
                n->nlink = 0;
        } else if (rc == 0) {
                char alt[256];
                const char *name = gone.name;

                if (other != 0) { /* a file has the name: named from the id alone (U6) */
                        rc = fs_conflict_name(fs, parent, gone.name, fid, 0, fid, 0, alt);
                        name = alt;
                }
                if (rc == 0)
                        rc = index_link(fs->ix, parent, name, strlen(name), n->ino, FS_KIND_DIR);
                if (rc == 0) {
                        n->nlink = 1;
                        fs_inval_queue(fs, parent, 0, name);
                        rc = apply_held_state(n, &gone);
                }
                if (rc == 0)
                        rc = fs_held_put(fs, fid, gone.hash);
        }
        if (rc == 0)
                rc = fs_inode_save(fs, n);
        if (rc == 0)
                log_info("a merged directory's id deleted on another device is held by %zu "
                         "entr%s the deletion did not see (U6)",
                         moved, moved == 1 ? "y" : "ies");
        pthread_rwlock_unlock(&n->lock);
        fs_inode_put(fs, n);
out:
        free(gone.vv);
        return rc;
}

/*
 * U5 with U6 (FOUND.md F41): deletion M of directory IN's own id (locked),
 * no live alias left.  If a deleted id merged in is still named by entries
 * here, it keeps the directory, held by them (fs_alias_hold, as
 * apply_split_stayed does when the stayed id moves), M's deletion is
 * remembered, and the entries that name M's id hold it where M puts it
 * (apply_split_held): 1.  0 if there is no such id (M applies to the whole
 * directory), or an errno.
 */
static int apply_tomb_dead_keeps(struct fs *fs, struct fs_inode *in, const struct manifest *m,
                                 const struct manifest_meta *meta)
{
        struct apply_holds h = {fs, in->ino};
        uint8_t dead[16];
        int rc = in->nlink > 0 ? fs_alias_dead_held(fs, in->ino, apply_split_holds, &h, dead) : 0;

        if (rc <= 0)
                return rc;
        rc = fs_alias_hold(fs, in, dead);
        if (rc == 0)
                rc =
                    fs_gone_record(fs, m->file_id, m->lamport, m->hash, (const struct fs_vv *)m->vv,
                                   m->nvv, meta->mode, meta->parent_id, meta->name, meta->name_len);
        if (rc == 0) /* M's id routes what names it here while here is its place (F32, F37) */
                rc = fs_alias_keep_dead(fs, m->file_id, in->ino);
        if (rc == 0)
                rc = apply_split_held(fs, in, m->file_id);
        return rc == 0 ? 1 : rc;
}

static void apply_split_log(const uint8_t fid[16], size_t moved, int stayed)
{
        char hex[33];

        hex_encode(hex, fid, 16);
        log_info("merged directory id %s: a later version names another place: it splits off "
                 "with %zu entr%s%s",
                 hex, moved, moved == 1 ? "y" : "ies",
                 stayed ? " (the directory keeps its other ids)" : "");
}

/*
 * U5: version M of directory *IN's own id (the id whose inode stayed when
 * others merged into it) names another place while other ids of it live:
 * M's id splits off.  The inode stays where it is under the best remaining
 * id (fs_alias_takeover, as when its own id is deleted); M's id gets a new
 * inode, *IN from here on (the old one is unlocked and put), with the
 * entries whose versions name it, and the caller places it as any
 * directory.  With no other live id, a deleted id merged in that entries
 * still name keeps the place the same way, held by them (U6,
 * fs_alias_hold; tests/sim/FOUND.md F33).  Nothing changes if M stays in
 * place or no other id is left: the whole directory moves.
 */
static int apply_split_stayed(struct fs *fs, struct fs_inode **in, const struct manifest *m,
                              const struct manifest_meta *meta, uint64_t parent)
{
        struct fs_inode *g = *in, *n = NULL;
        struct fs_aliasver old, *vers = NULL;
        uint8_t(*ids)[16] = NULL, dead[16];
        size_t nids = 0, i, moved = 0;
        int rc, kept = 0;

        if (m->kind != MANIFEST_DIR || g->kind != FS_KIND_DIR || g->nlink == 0)
                return 0;
        rc = apply_split_elsewhere(fs, g, meta, parent);
        if (rc <= 0)
                return rc;
        rc = fs_alias_live_list(fs, g->ino, &ids, &vers, &nids);
        for (i = 0; i < nids; i++)
                free(vers[i].vv);
        free(vers);
        free(ids);
        if (rc == 0 && nids == 0) { /* U6: a deleted id that entries name keeps the place */
                struct apply_holds h = {fs, g->ino};

                rc = fs_alias_dead_held(fs, g->ino, apply_split_holds, &h, dead);
                if (rc <= 0)
                        return rc; /* its only id: the whole directory moves */
                rc = 0;
        }
        if (rc != 0)
                return rc;
        rc = apply_split_landing(fs, g, m, meta, parent);
        if (rc != 0)
                return rc;
        memset(&old, 0, sizeof(old));
        old.lamport = g->lamport;
        memcpy(old.author, g->author, 16);
        memcpy(old.hash, g->manifest_hash, 32);
        old.nvv = g->nvv;
        if (g->nvv > 0) {
                old.vv = malloc(g->nvv * sizeof(*old.vv));
                if (old.vv == NULL)
                        return -ENOMEM;
                memcpy(old.vv, g->vv, g->nvv * sizeof(*old.vv));
        }
        if (nids > 0) {
                rc = fs_alias_takeover(fs, g, &kept);
        } else { /* held by the entries naming DEAD, where its deletion put it (F33) */
                rc = fs_alias_hold(fs, g, dead);
                kept = rc == 0;
        }
        if (rc == 0 && kept)
                rc = apply_split_new(fs, g, m->file_id, &old, &n);
        free(old.vv);
        if (rc == 0 && n != NULL)
                rc = apply_split_move(fs, g->ino, n->ino, m->file_id, &moved);
        if (n == NULL)
                return rc;
        fs_inode_idle_locked(fs, g);
        pthread_rwlock_unlock(&g->lock);
        fs_inode_put(fs, g);
        *in = n;
        if (rc == 0)
                apply_split_log(m->file_id, moved, 1);
        return rc;
}

/*
 * Version M of FID, an alias of directory GINO here (U5): the id's own
 * version moves on (fs_alias_version).  A version it takes that names
 * another place than the directory's splits it off, with the entries whose
 * versions name it, and it lands there like any directory (rule 5: a
 * directory of that name merges with it).  A deletion of it that wins
 * leaves those entries holding it (U6, apply_split_held).  Rule 2: while
 * the directory has a local change not committed yet (a rename here
 * publishes each of its ids, fs/commit.c), the version waits.
 */
static int apply_alias(struct fs *fs, const struct manifest *m, const struct manifest_meta *meta,
                       uint64_t gino)
{
        struct fs_inode *g = NULL, *n = NULL;
        struct fs_aliasver a;
        uint64_t parent = 0;
        size_t moved = 0;
        int rc = fs_inode_get(fs, gino, &g), what = FS_ALIAS_KEPT, done = 0;

        if (rc == -ENOENT) {
                rc = apply_dead_stale(fs, m->file_id, gino, NULL); /* no inode: stale */
                return rc > 0    ? APPLY_NOT_ALIAS
                       : rc == 0 ? fs_alias_version(fs, m, meta, &what)
                                 : rc;
        }
        if (rc != 0)
                return rc;
        pthread_rwlock_wrlock(&g->lock);
        rc = apply_dead_stale(fs, m->file_id, g->ino, g); /* G deleted, or moved away */
        if (rc != 0) {
                rc = rc > 0 ? APPLY_NOT_ALIAS : rc;
                goto out;
        }
        if (g->nlink > 0 && (g->sync_dirty || g->committing)) {
                rc = apply_wait(fs, m->file_id,
                                "its merged directory has a local change not committed yet");
                goto out;
        }
        rc = apply_split_busy(fs, g, m->file_id);
        if (rc == 0)
                rc = apply_hold_busy(fs, g, m, meta); /* before anything changes (F40) */
        if (rc != 0)
                goto out;
        rc = fs_alias_version(fs, m, meta, &what);
        if (rc == 0 && what == FS_ALIAS_DELETED && g->nlink > 0)
                rc = apply_split_held(fs, g, m->file_id); /* U6: what it did not see holds it */
        if (rc != 0 || what != FS_ALIAS_TAKEN || m->kind != MANIFEST_DIR || g->nlink == 0 ||
            apply_pid_in(fs, meta->parent_id, g))
                goto out; /* (a place inside G: a move cycle, not handled) */
        rc = apply_parent(fs, meta->parent_id, &parent);
        if (rc == 0)
                rc = apply_split_elsewhere(fs, g, meta, parent);
        if (rc <= 0)
                goto out;
        rc = apply_split_landing(fs, g, m, meta, parent);
        if (rc == 0)
                rc = fs_aliasver_get(fs, m->file_id, &a); /* M's, its vector absorbed */
        if (rc != 0)
                goto out;
        rc = index_alias_remove(fs->ix, m->file_id);
        if (rc == 0)
                rc = apply_split_new(fs, g, m->file_id, &a, &n);
        free(a.vv);
        if (rc == 0)
                rc = apply_split_move(fs, g->ino, n->ino, m->file_id, &moved);
out:
        fs_inode_idle_locked(fs, g);
        pthread_rwlock_unlock(&g->lock);
        fs_inode_put(fs, g);
        if (n == NULL)
                return rc;
        if (rc == 0) { /* G unlocked: the landing may merge a directory above it */
                apply_split_log(m->file_id, moved, 0);
                rc = apply_dir_merge(fs, &n, m, meta, parent, &done);
        }
        if (rc == 0 && !done)
                rc = apply_update(fs, n, m, meta, parent, APPLY_MERGE_ALL);
        fs_inode_idle_locked(fs, n);
        pthread_rwlock_unlock(&n->lock);
        fs_inode_put(fs, n);
        return rc;
}

/*
 * U2: whose vector a taken version keeps.  The loser's author (a copy kept,
 * or a directory's own version) and a deleted file coming back keep both;
 * another device keeps only its own counter: it does not hold the losing
 * version, which stays concurrent with what it writes next.
 */
static int apply_merge_of(const struct fs *fs, const struct fs_inode *in, int act)
{
        if (act == APPLY_COPY_FIRST || act == APPLY_RESURRECT)
                return APPLY_MERGE_ALL;
        if (act != APPLY_WINNER || in == NULL)
                return APPLY_MERGE_NONE;
        return in->has_manifest && memcmp(in->author, fs->device_id, 16) == 0 ? APPLY_MERGE_ALL
                                                                              : APPLY_MERGE_SELF;
}

/* Carries out ACT for M on IN (NULL: create it), both locks held. */
static int apply_act(struct fs *fs, struct fs_inode **in, const struct manifest *m,
                     const struct manifest_meta *meta, int act)
{
        struct fs_gone g;
        uint64_t parent = 0;
        int rc = 0, have_gone = 0;

        if (m->kind == MANIFEST_TOMBSTONE && *in != NULL && (*in)->kind == FS_KIND_REG &&
            (*in)->nlink > 0 && fs_inode_writers(fs, *in, 0) > 0) {
                atomic_store(&fs->open_wait_ino, (*in)->ino); /* `status` says so */
                return apply_wait(fs, m->file_id, "the file is open for writing here"); /* U7 */
        }
        if (m->kind == MANIFEST_TOMBSTONE && act == APPLY_COPY_FIRST && *in != NULL)
                rc = apply_copy_local(fs, *in); /* U1: the edit that lost is kept */
        if (m->kind == MANIFEST_TOMBSTONE)
                return rc == 0 && *in != NULL ? apply_tombstone(fs, *in, m, meta) : rc;
        rc = apply_parent(fs, meta->parent_id, &parent);
        if (rc == 0 && *in != NULL && (act == APPLY_NEWER || act == APPLY_WINNER))
                rc = apply_split_stayed(fs, in, m, meta, parent); /* U5: other ids stay */
        if (rc == 0 && act != APPLY_SKIP) { /* a directory: also a concurrent winner (U8) */
                int done = 0;

                rc = apply_dir_merge(fs, in, m, meta, parent, &done);
                if (rc == 0 && done && act == APPLY_RESURRECT) /* merged in, alive (F38) */
                        rc = fs_alias_revived(fs, m->file_id);
                if (rc != 0 || done)
                        return rc;
        }
        if (rc == 0 && act == APPLY_RESURRECT) {
                /* The version comes back with the deletion's vector absorbed: this device's
                 * next version counts past its own deletion (else a counter is reused and
                 * the others, who absorbed the deletion, take the new edit for an old one). */
                rc = fs_gone_get(fs, m->file_id, &g);
                if (rc == 0)
                        have_gone = 1;
                else if (rc == -ENOENT)
                        rc = 0;
        }
        if (rc == 0 && act == APPLY_RESURRECT)
                rc = index_gone_remove(fs->ix, m->file_id); /* apply_place relinks it */
        if (rc == 0 && act == APPLY_RESURRECT)
                rc = index_held_remove(fs->ix, m->file_id); /* U6: a hold is over */
        if (rc == 0 && act == APPLY_COPY_FIRST)
                rc = apply_copy_local(fs, *in);
        if (rc == 0 && *in == NULL)
                rc = apply_create(fs, m, meta, in);
        if (rc == 0)
                rc = apply_update(fs, *in, m, meta, parent, apply_merge_of(fs, *in, act));
        if (rc == 0 && have_gone)
                rc = apply_vv_absorb(*in, g.vv, g.nvv);
        if (rc == 0 && have_gone)
                rc = fs_inode_save(fs, *in);
        if (have_gone)
                free(g.vv);
        return rc;
}

/* SEALSYNC_DEBUG: one line per remote version decided (file id, inode, author; no name). */
static void apply_trace(const struct manifest *m, const struct manifest_meta *meta,
                        const struct fs_inode *in, int rc, int act)
{
        static const char *const what[] = {"skipped", "newer: taken", "taken back from a deletion",
                                           "concurrent, wins: taken",
                                           "concurrent, wins: taken after a copy of ours"};
        char fid[33], dev[33], pid[33];

        if (!log_enabled(LOG_LEVEL_DEBUG))
                return;
        hex_encode(fid, m->file_id, 16);
        hex_encode(dev, m->author, 16);
        hex_encode(pid, meta->parent_id, 16);
        pid[8] = '\0';
        log_debug("apply: file %s (inode %llu, in %s) %s by %s at Lamport %llu: %s", fid,
                  in != NULL ? (unsigned long long)in->ino : 0ULL, pid,
                  m->kind == MANIFEST_TOMBSTONE ? "deletion" : "version", dev,
                  (unsigned long long)m->lamport,
                  rc == -EAGAIN          ? "waits"
                  : rc == APPLY_NEED_OWN ? "reads this device's version first (C8)"
                  : rc != 0              ? "error"
                  : act >= 0 && act < (int)(sizeof(what) / sizeof(what[0])) ? what[act]
                                                                            : "?");
}

/* fs_apply under the locks; APPLY_NEED_OWN: read OWN->hash and call again (C8). */
static int apply_locked(struct fs *fs, const struct manifest *m, const struct manifest_meta *meta,
                        struct apply_own *own)
{
        struct fs_inode *in = NULL;
        uint64_t ino;
        int rc, act = APPLY_SKIP;

        pthread_mutex_lock(&fs->ns_lock);
        rc = index_ino_by_file_id(fs->ix, m->file_id, &ino);
        if (rc == 0)
                rc = fs_inode_get(fs, ino, &in);
        else if (rc == -ENOENT && index_alias_get(fs->ix, m->file_id, &ino) == 0) {
                /* a directory merged into another one here (rule 5): its own version (U5) */
                rc = apply_alias(fs, m, meta, ino);
                if (rc != APPLY_NOT_ALIAS)
                        goto out;
                rc = 0; /* a deleted id of a deleted directory: as any deleted one (F36) */
        } else if (rc == -ENOENT)
                rc = 0;
        if (rc != 0)
                goto out;
        if (in != NULL)
                pthread_rwlock_wrlock(&in->lock);
        rc = apply_decide(fs, in, m, meta, own, &act);
        apply_trace(m, meta, in, rc, act);
        if (rc == 0 && act != APPLY_SKIP)
                rc = apply_act(fs, &in, m, meta, act);
        else if (rc == 0 && in != NULL)
                rc = fs_inode_save(fs, in); /* a vector may have absorbed the other's */
        if (in != NULL) {
                if (rc == 0 && in->remote.n > 0 && in->nlink > 0 && fs_pinned(fs, in->ino))
                        fs_pin_queue(fs, in->ino); /* fetched once the entry is applied */
                fs_inode_idle_locked(fs, in);
                pthread_rwlock_unlock(&in->lock);
                fs_inode_put(fs, in);
        }
out:
        pthread_mutex_unlock(&fs->ns_lock);
        return rc;
}

int fs_apply(void *arg, const struct manifest *m, const struct manifest_meta *meta)
{
        struct fs *fs = arg;
        struct apply_own own;
        uint64_t seen = atomic_load(&fs->lamport_seen);
        int rc, tries = 0;

        /* Lamport: what this device publishes next is later than everything it has seen. */
        while (m->lamport > seen &&
               !atomic_compare_exchange_weak(&fs->lamport_seen, &seen, m->lamport))
                ;
        memset(&own, 0, sizeof(own));
        while ((rc = apply_locked(fs, m, meta, &own)) == APPLY_NEED_OWN) {
                /* C8, only with a forked journal: store I/O, so outside the locks */
                apply_own_release(&own);
                rc = ++tries > 2 ? -EAGAIN : apply_own_read(fs, m->file_id, &own);
                if (rc != 0)
                        break; /* the current version keeps changing: next round */
        }
        apply_own_release(&own);
        if (rc != 0 && rc != -EAGAIN) {
                char fid[33];

                hex_encode(fid, m->file_id, 16);
                log_err("file %s: cannot apply a remote version: %s", fid, strerror(-rc));
        }
        return rc;
}

/* Removes ".sealsync-orphans" once every placeholder in it found its place. */
static void apply_orphans_tidy(struct fs *fs)
{
        struct fs_inode *in;
        int rc;

        pthread_mutex_lock(&fs->ns_lock);
        if (fs->orphans_ino == 0 || index_dir_empty(fs->ix, fs->orphans_ino) != 1 ||
            fs_inode_get(fs, fs->orphans_ino, &in) != 0) {
                pthread_mutex_unlock(&fs->ns_lock);
                return;
        }
        pthread_rwlock_wrlock(&in->lock);
        rc = index_unlink(fs->ix, INDEX_ROOT_INO, FS_ORPHANS_NAME, strlen(FS_ORPHANS_NAME));
        if (rc == 0) {
                in->nlink = 0;
                rc = fs_inode_save(fs, in);
                fs_inval_queue(fs, INDEX_ROOT_INO, 0, FS_ORPHANS_NAME);
                fs->orphans_ino = 0;
        }
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(fs, in);
        pthread_mutex_unlock(&fs->ns_lock);
        if (rc != 0)
                log_warn("cannot remove the empty %s: %s", FS_ORPHANS_NAME, strerror(-rc));
}

/*
 * Invariant C8: a version written here is later than every version its
 * vector counts, a deletion an edit beat included, also after a restart:
 * the highest Lamport time applied is kept with the mark (the puller's open
 * transaction), and fs_commit_init loads it.
 */
static int apply_lamport_keep(struct fs *fs)
{
        uint64_t seen = atomic_load(&fs->lamport_seen);
        uint8_t v[8];
        size_t i;
        int rc;

        if (seen <= fs->lamport_kept)
                return 0;
        for (i = 0; i < 8; i++)
                v[i] = (uint8_t)(seen >> (56 - 8 * i));
        pthread_mutex_lock(&fs->ns_lock);
        rc = index_meta_put(fs->ix, "lamport_seen", v, 8);
        pthread_mutex_unlock(&fs->ns_lock);
        if (rc == 0)
                fs->lamport_kept = seen;
        return rc;
}

void fs_apply_mount_tidy(struct fs *fs)
{
        uint64_t ino;

        pthread_mutex_lock(&fs->ns_lock);
        if (fs->orphans_ino == 0 && index_lookup(fs->ix, INDEX_ROOT_INO, FS_ORPHANS_NAME,
                                                 strlen(FS_ORPHANS_NAME), &ino) == 0)
                fs->orphans_ino = ino; /* memory only: found again after a restart */
        pthread_mutex_unlock(&fs->ns_lock);
        apply_orphans_tidy(fs);
}

int fs_apply_entry_done(void *arg)
{
        struct fs *fs = arg;
        int rc;

        apply_orphans_tidy(fs);
        if (fs_names_settle(fs) != 0) {
                /* logged; tried again after the next entry */
        }
        rc = apply_lamport_keep(fs);
        fs_inval_flush(fs); /* rule 8: no lock is held here */
        fs_pin_drain(fs);   /* pinned files' new versions, now that no lock is held */
        return rc;
}

void fs_inval_flush(struct fs *fs)
{
        struct fs_inval *v;
        size_t n, i;

        pthread_mutex_lock(&fs->ns_lock); /* every fs_inval_queue caller holds it */
        v = fs->inval;
        n = fs->ninval;
        fs->inval = NULL;
        fs->ninval = fs->capinval = 0;
        pthread_mutex_unlock(&fs->ns_lock);
        for (i = 0; i < n && fs->se != NULL; i++) {
                const struct fs_inval *e = &v[i];

                if (e->parent != 0)
                        fuse_lowlevel_notify_inval_entry(fs->se, e->parent, e->name,
                                                         strlen(e->name));
                else
                        fuse_lowlevel_notify_inval_inode(fs->se, e->ino, 0, 0);
        }
        free(v);
}

/*
 * ---- invariant C2: undoing a removed device's entries past its cutoff ----
 *
 * A file whose current version V here is one of the refused versions U goes
 * back to the version C1 gives without them: following V's parents through
 * refused versions only, the accepted versions reached are the candidates
 * and the one that wins by rule 3 (higher Lamport, then author) is taken,
 * exactly, vector included, locally (nothing is published: every device that
 * applied V computes the same target from the same signed manifests, and a
 * device that never applied V holds that target already).  No candidate: the
 * removed device created the file past its cutoff, and it is unlinked (no
 * tombstone, no `gone` row: a device replaying the journals never saw it).
 * A file whose current version is not refused keeps it: an honest version
 * written on top of a refused one is a write that saw it, and stays (as does
 * a local change not committed yet).
 */

#define UNDO_MAX_DEPTH 4096 /* refused versions followed per file */
#define UNDO_LATER 1        /* undo_file: a directory to drop is not empty yet */

static int undo_refused(const struct pull_undo *u, size_t n, const uint8_t hash[32])
{
        size_t i;

        for (i = 0; i < n; i++)
                if (memcmp(u[i].manifest_hash, hash, 32) == 0)
                        return 1;
        return 0;
}

struct undo_target {
        int found;
        struct manifest m;
        struct manifest_meta meta;
};

static void undo_target_release(struct undo_target *t)
{
        if (t->found) {
                manifest_meta_release(&t->meta);
                manifest_release(&t->m);
        }
        t->found = 0;
}

/* Candidate HASH (an accepted version of FID) against the best so far in T. */
static int undo_candidate(struct fs *fs, const uint8_t fid[16], const uint8_t hash[32],
                          struct undo_target *t)
{
        struct undo_target c = {0};
        struct apply_ver a, b;
        int rc;

        if (t->found && memcmp(t->m.hash, hash, 32) == 0)
                return 0;
        rc = pull_manifest_get(fs->pull, hash, fid, &c.m, &c.meta);
        if (rc != 0)
                return rc;
        c.found = 1;
        apply_remote_ver(&c.m, &a);
        if (t->found)
                apply_remote_ver(&t->m, &b);
        if (!t->found || apply_wins(&a, &b)) {
                undo_target_release(t);
                *t = c;
        } else {
                undo_target_release(&c);
        }
        return 0;
}

/* The version FID goes back to from refused version CUR (see above) into *T. */
static int undo_target_of(struct fs *fs, const uint8_t fid[16], const uint8_t cur[32],
                          const struct pull_undo *u, size_t n, struct undo_target *t)
{
        uint8_t(*todo)[32] = malloc(UNDO_MAX_DEPTH * sizeof(*todo));
        size_t ntodo = 1, nseen = 0, i;
        struct manifest m;
        struct manifest_meta meta;
        int rc = todo != NULL ? 0 : -ENOMEM;

        if (todo != NULL)
                memcpy(todo[0], cur, 32);
        while (rc == 0 && nseen < ntodo) {
                rc = pull_manifest_get(fs->pull, todo[nseen++], fid, &m, &meta);
                if (rc != 0)
                        break;
                for (i = 0; i < m.nparents && rc == 0; i++) {
                        const uint8_t *h = m.parents[i];
                        size_t k;

                        if (!undo_refused(u, n, h)) {
                                rc = undo_candidate(fs, fid, h, t);
                                continue;
                        }
                        for (k = 0; k < ntodo && memcmp(todo[k], h, 32) != 0; k++)
                                ;
                        if (k == ntodo && ntodo < UNDO_MAX_DEPTH)
                                memcpy(todo[ntodo++], h, 32);
                        else if (k == ntodo)
                                rc = -E2BIG;
                }
                manifest_meta_release(&meta);
                manifest_release(&m);
        }
        free(todo);
        if (rc != 0)
                undo_target_release(t);
        return rc;
}

/*
 * The removed device created IN past its cutoff: it loses its name here.
 * UNDO_LATER if IN is a directory that is not empty (yet).
 */
static int undo_drop(struct fs *fs, struct fs_inode *in)
{
        char name[INDEX_NAME_MAX + 1];
        uint64_t parent;
        size_t len = 0;
        uint8_t type;
        int rc = index_name_of(fs->ix, in->ino, &parent, name, &len, &type);

        if (rc == -ENOENT)
                return 0;
        if (rc == 0 && in->kind == FS_KIND_DIR && index_dir_empty(fs->ix, in->ino) != 1)
                return UNDO_LATER; /* fs_apply_undo tries again once the files in it went */
        if (rc == 0)
                rc = index_unlink(fs->ix, parent, name, len);
        if (rc != 0)
                return rc;
        fs_inval_queue(fs, parent, 0, name);
        in->nlink = 0;
        in->unlinked_remote = 1; /* U7 */
        fs_now(&in->ctime);
        return fs_inode_save(fs, in);
}

/* Puts IN (current version CUR, refused) back to T; both locks held. */
static int undo_act(struct fs *fs, struct fs_inode *in, const uint8_t cur[32],
                    struct undo_target *t)
{
        uint64_t parent = 0;
        int rc;

        if (!in->has_manifest || memcmp(in->manifest_hash, cur, 32) != 0 || in->sync_dirty ||
            in->committing)
                return 0; /* a later write saw it (committed or not): it stays */
        if (!t->found)
                return undo_drop(fs, in);
        if (t->m.kind == MANIFEST_TOMBSTONE)
                return apply_tombstone(fs, in, &t->m, &t->meta);
        if (in->nlink == 0 && in->ino != INDEX_ROOT_INO) {
                rc = index_gone_remove(fs->ix, t->m.file_id); /* a refused deletion */
                if (rc != 0 && rc != -ENOENT)
                        return rc;
        }
        rc = apply_parent(fs, t->meta.parent_id, &parent);
        return rc == 0 ? apply_update(fs, in, &t->m, &t->meta, parent, 0) : rc;
}

/* The hash of the deletion remembered for FID (its `gone` row) into HASH; -ENOENT if none. */
static int undo_gone_hash(struct fs *fs, const uint8_t fid[16], uint8_t hash[32])
{
        struct fs_gone g;
        int rc = fs_gone_get(fs, fid, &g);

        if (rc != 0)
                return rc;
        memcpy(hash, g.hash, 32);
        free(g.vv);
        return 0;
}

/* FID has no inode here: 1 (and CUR) if its remembered deletion is one of U, else 0. */
static int undo_gone_current(struct fs *fs, const uint8_t fid[16], const struct pull_undo *u,
                             size_t n, uint8_t cur[32])
{
        int rc = undo_gone_hash(fs, fid, cur);

        if (rc == -ENOENT)
                return 0;
        return rc == 0 ? undo_refused(u, n, cur) : rc;
}

/* Reads file FID's current version into CUR: 1 if it is one of U, else 0 (or an error). */
static int undo_current(struct fs *fs, const uint8_t fid[16], const struct pull_undo *u, size_t n,
                        uint8_t cur[32])
{
        struct fs_inode *in = NULL;
        uint64_t ino;
        int rc;

        pthread_mutex_lock(&fs->ns_lock);
        rc = index_ino_by_file_id(fs->ix, fid, &ino);
        if (rc == 0)
                rc = fs_inode_get(fs, ino, &in);
        if (rc == 0) {
                pthread_rwlock_rdlock(&in->lock);
                rc = in->has_manifest && undo_refused(u, n, in->manifest_hash);
                memcpy(cur, in->manifest_hash, 32);
                pthread_rwlock_unlock(&in->lock);
                fs_inode_put(fs, in);
        }
        if (rc == -ENOENT)
                rc = undo_gone_current(fs, fid, u, n, cur);
        pthread_mutex_unlock(&fs->ns_lock);
        return rc;
}

/*
 * A refused deletion whose inode is gone here (evicted since; only the `gone`
 * row is left): FID comes back from target T as a new inode, the row dropped.
 * ns_lock held.  0 also when nothing is to be done (the row changed since).
 * The row goes only once the parent is known: a parent that waits (-EAGAIN,
 * its deletion not committed yet) leaves the row, and so the undo, for the
 * next round (without the row, undo_current would find nothing to undo).
 */
static int undo_gone_act(struct fs *fs, const uint8_t fid[16], const uint8_t cur[32],
                         struct undo_target *t)
{
        struct fs_inode *in = NULL;
        uint64_t parent = 0;
        uint8_t gh[32];
        int rc = undo_gone_hash(fs, fid, gh);

        if (rc == -ENOENT || (rc == 0 && memcmp(gh, cur, 32) != 0) ||
            (rc == 0 && (!t->found || t->m.kind == MANIFEST_TOMBSTONE)))
                return rc == -ENOENT ? 0 : rc; /* nothing to bring back */
        if (rc == 0)
                rc = apply_parent(fs, t->meta.parent_id, &parent);
        if (rc == 0)
                rc = index_gone_remove(fs->ix, fid);
        if (rc == 0)
                rc = apply_create(fs, &t->m, &t->meta, &in);
        if (rc != 0)
                return rc;
        rc = apply_update(fs, in, &t->m, &t->meta, parent, 0);
        fs_inode_idle_locked(fs, in);
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(fs, in);
        return rc;
}

static int undo_file(struct fs *fs, const uint8_t fid[16], const struct pull_undo *u, size_t n)
{
        struct undo_target t = {0};
        struct fs_inode *in = NULL;
        uint8_t cur[32];
        uint64_t ino;
        char hex[33];
        int rc = undo_current(fs, fid, u, n, cur);

        if (rc <= 0)
                return rc;
        rc = undo_target_of(fs, fid, cur, u, n, &t); /* store I/O: no lock held */
        if (rc != 0)
                goto out;
        pthread_mutex_lock(&fs->ns_lock);
        rc = index_ino_by_file_id(fs->ix, fid, &ino);
        if (rc == -ENOENT)
                rc = undo_gone_act(fs, fid, cur, &t);
        else if (rc == 0)
                rc = fs_inode_get(fs, ino, &in);
        if (rc == 0 && in != NULL) {
                pthread_rwlock_wrlock(&in->lock);
                rc = undo_act(fs, in, cur, &t);
                fs_inode_idle_locked(fs, in);
                pthread_rwlock_unlock(&in->lock);
                fs_inode_put(fs, in);
        }
        pthread_mutex_unlock(&fs->ns_lock);
        rc = rc == -ENOENT ? 0 : rc;
out:
        hex_encode(hex, fid, 16);
        if (rc == UNDO_LATER)
                ; /* said by fs_apply_undo if it stays */
        else if (rc == 0)
                log_warn("file %s: a removed device's version undone (%s)", hex,
                         t.found ? "back to the version before it" : "created by it: removed");
        else
                log_err("file %s: cannot undo a removed device's version: %s", hex, strerror(-rc));
        undo_target_release(&t);
        return rc;
}

/*
 * The order of the commits in an entry is not the order of the writes (the
 * committer takes changed inodes by number, then deletions by file id): a
 * directory the removed device created can come before the files it made in
 * it.  Such a directory (UNDO_LATER) is tried again after each pass that
 * dropped something; one that still holds files then (an honest device wrote
 * into it) keeps its name.
 */
int fs_apply_undo(void *arg, const uint8_t device_id[static 16], const struct pull_undo *u,
                  size_t n)
{
        struct fs *fs = arg;
        char label[65];
        size_t i, nlater, before;
        uint8_t *later = calloc(n > 0 ? n : 1, 1);
        int rc = 0, r;

        if (later == NULL)
                return -ENOMEM;
        fs_device_label(fs, device_id, label);
        log_warn("undoing %zu version%s of removed device %s applied past its cutoff", n,
                 n == 1 ? "" : "s", label);
        nlater = 0;
        for (i = n; i-- > 0;) { /* latest commit first */
                r = undo_file(fs, u[i].file_id, u, n);
                later[i] = r == UNDO_LATER;
                nlater += later[i];
                if (r != UNDO_LATER && r != 0)
                        rc = r;
        }
        do { /* each pass drops at least one directory, or stops */
                before = nlater;
                for (i = n; nlater > 0 && i-- > 0;) {
                        if (!later[i])
                                continue;
                        r = undo_file(fs, u[i].file_id, u, n);
                        if (r == UNDO_LATER)
                                continue;
                        later[i] = 0;
                        nlater--;
                        if (r != 0)
                                rc = r;
                }
        } while (nlater > 0 && nlater < before);
        if (nlater > 0)
                log_warn("%zu director%s created by removed device %s hold%s other files; kept",
                         nlater, nlater == 1 ? "y" : "ies", label, nlater == 1 ? "s" : "");
        free(later);
        r = fs_names_settle(fs); /* an undone version may free a name or lose one */
        if (rc == 0)
                rc = r;
        fs_inval_flush(fs);
        return rc;
}
