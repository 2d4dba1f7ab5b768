/*
 * Applying verified remote versions (doc/SYNC.md "State machine", step 3).
 * sync/pull.c has checked every byte (hashes, signatures, roles, epoch, key
 * commitment, metadata AEAD) before fs_apply is called.
 *
 * Rules (first slice; the full conflict rules are in doc/SYNC.md):
 *  1. Idempotent: a manifest already applied (same hash) changes nothing, so
 *     re-applying an entry after a crash is harmless.
 *  2. A remote version is applied only if its version vector dominates the
 *     local one and the local file has no unpublished change.  Older or
 *     equal versions are ignored.  Concurrent versions are held (logged,
 *     not applied, never lost: they stay on the store) until conflict
 *     copies exist.
 *  3. A missing parent directory is created as a placeholder (mode 0700)
 *     under ".sealsync-orphans", named by its file id; when its own
 *     manifest arrives it moves to its place.  Order within an entry
 *     therefore does not matter.
 *  4. Remote changes are never marked dirty (they are not re-published).
 *  5. Kernel caches are invalidated after the locks are released.
 */
#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "crypto/secmem.h"
#include "fs/fsint.h"
#include "sync/manifest.h"
#include "sync/pull.h"
#include "util/hex.h"
#include "util/log.h"

#define FS_ORPHANS_NAME ".sealsync-orphans"
#define APPLY_MODE_MASK 01777 /* permission bits and sticky; never setuid/setgid */

static void apply_inval(struct fs *fs, uint64_t parent, uint64_t ino, const char *name)
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
                                NULL, &in);
        if (rc != 0)
                return rc;
        rc = index_link(fs->ix, parent, name, strlen(name), in->ino, FS_KIND_DIR);
        if (rc == 0) {
                in->nlink = 1;
                rc = fs_inode_save(fs, in);
        }
        *ino = in->ino;
        fs_inode_put(fs, in);
        apply_inval(fs, parent, 0, name);
        return rc;
}

/* The local directory for parent id PID: the root, a known directory, or a placeholder. */
static int apply_parent(struct fs *fs, const uint8_t pid[16], uint64_t *ino)
{
        static const uint8_t zero[16];
        char hex[33];
        int rc;

        if (memcmp(pid, zero, 16) == 0) {
                *ino = INDEX_ROOT_INO;
                return 0;
        }
        rc = index_ino_by_file_id(fs->ix, pid, ino);
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

/* A free name in PARENT for NAME held by another file: "name (conflict from DEV DATE).ext". */
static int apply_conflict_name(struct fs *fs, uint64_t parent, const struct manifest *m,
                               const struct manifest_meta *meta, char out[256])
{
        const char *dot = strrchr(meta->name, '.');
        size_t base = dot && dot != meta->name ? (size_t)(dot - meta->name) : meta->name_len;
        char dev[9], date[16];
        struct tm tm;
        time_t t = (time_t)meta->mtime_s;
        uint64_t other;
        int i;

        hex_encode(dev, m->author, 4);
        gmtime_r(&t, &tm);
        strftime(date, sizeof(date), "%Y-%m-%d", &tm);
        for (i = 1; i < 100; i++) {
                char n[16] = "";
                int len;

                if (i > 1)
                        snprintf(n, sizeof(n), " %d", i);
                if (base > 200)
                        base = 200;
                len = snprintf(out, 256, "%.*s (conflict from %s %s%s)%s", (int)base, meta->name,
                               dev, date, n, meta->name + base);
                if (len >= 256)
                        return -ENAMETOOLONG;
                if (index_lookup(fs->ix, parent, out, (size_t)len, &other) == -ENOENT)
                        return 0;
        }
        return -EEXIST;
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
                return 0;
        rc = index_lookup(fs->ix, parent, name, strlen(name), &other);
        if (rc == 0 && other != in->ino) {
                rc = apply_conflict_name(fs, parent, m, meta, alt);
                if (rc != 0)
                        return rc;
                log_warn("name collision: a remote %s arrives as a conflict copy",
                         in->kind == FS_KIND_DIR ? "directory" : "file");
                want = alt;
        } else if (rc != 0 && rc != -ENOENT) {
                return rc;
        }
        if (have) {
                rc = index_unlink(fs->ix, cur_parent, cur, cur_len);
                if (rc != 0)
                        return rc;
                apply_inval(fs, cur_parent, 0, cur);
        }
        rc = index_link(fs->ix, parent, want, strlen(want), in->ino, (uint8_t)in->kind);
        if (rc == 0) {
                in->nlink = 1;
                apply_inval(fs, parent, 0, want);
        }
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

/* Brings IN's blocks to M's references, fetching what is not here yet. */
static int apply_blocks(struct fs *fs, struct fs_inode *in, const struct manifest *m)
{
        struct rangeset want;
        uint8_t *buf, have[32];
        uint64_t nblocks = (m->size + fs->bs - 1) / fs->bs;
        size_t i, len = 0;
        int rc = 0;

        buf = malloc(fs->slot_len);
        if (buf == NULL)
                return -ENOMEM;
        rangeset_init(&want);
        for (i = 0; i < m->nrefs && rc == 0; i++) {
                const struct manifest_ref *r = &m->refs[i];

                rc = rangeset_add(&want, r->index, r->index + 1);
                if (rc != 0)
                        break;
                if (rangeset_contains(&in->blocks, r->index) &&
                    index_blockref_get(fs->ix, in->ino, r->index, have) == 0 &&
                    memcmp(have, r->hash, 32) == 0)
                        continue; /* already this block */
                rc = pull_fetch_block(fs->pull, r->hash, buf, fs->slot_len, &len);
                if (rc == 0)
                        rc = fs_content_put_sealed(fs, in, r->index, r->final, buf, len);
                if (rc == 0)
                        rc = index_blockref_put(fs->ix, in->ino, r->index, r->hash);
        }
        if (rc == 0) {
                /* Blocks the new version does not list are holes now. */
                rangeset_release(&in->blocks);
                in->blocks = want;
                rangeset_init(&want);
                rc = index_blockref_truncate(fs->ix, in->ino, nblocks);
                fs_content_trim(fs, in, nblocks);
        }
        rangeset_release(&want);
        free(buf);
        return rc;
}

static int apply_kind(uint8_t kind)
{
        return kind == MANIFEST_DIR       ? FS_KIND_DIR
               : kind == MANIFEST_SYMLINK ? FS_KIND_LNK
                                          : FS_KIND_REG;
}

/* Takes M's version state (vector, Lamport, hash) into IN. */
static int apply_version_state(struct fs_inode *in, const struct manifest *m)
{
        struct fs_vv *vv = NULL;

        if (m->nvv > 0) {
                vv = malloc(m->nvv * sizeof(*vv));
                if (vv == NULL)
                        return -ENOMEM;
                memcpy(vv, m->vv, m->nvv * sizeof(*vv));
        }
        free(in->vv);
        in->vv = vv;
        in->nvv = m->nvv;
        in->lamport = m->lamport;
        in->has_manifest = 1;
        memcpy(in->manifest_hash, m->hash, 32);
        return 0;
}

/* Deletion: the file loses its name (its data goes when unused). */
static int apply_tombstone(struct fs *fs, struct fs_inode *in, const struct manifest *m)
{
        char name[INDEX_NAME_MAX + 1];
        uint64_t parent;
        size_t len;
        uint8_t type;
        int rc = index_name_of(fs->ix, in->ino, &parent, name, &len, &type);

        if (rc == 0 && in->kind == FS_KIND_DIR && index_dir_empty(fs->ix, in->ino) != 1) {
                log_warn("a remote deletion of a directory that is not empty here is held");
                return 0;
        }
        if (rc == 0)
                rc = index_unlink(fs->ix, parent, name, len);
        else if (rc == -ENOENT)
                rc = 0;
        if (rc != 0)
                return rc;
        if (len > 0)
                apply_inval(fs, parent, 0, name);
        in->nlink = 0;
        fs_now(&in->ctime);
        rc = apply_version_state(in, m);
        return rc == 0 ? fs_inode_save(fs, in) : rc;
}

static int apply_update(struct fs *fs, struct fs_inode *in, const struct manifest *m,
                        const struct manifest_meta *meta, uint64_t parent)
{
        int rc = 0;

        if (in->kind != apply_kind(m->kind)) {
                log_err("a remote version changes a file's kind; held");
                return 0;
        }
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
        rc = apply_xattrs(in, meta);
        if (rc == 0 && in->kind == FS_KIND_REG) {
                rc = apply_blocks(fs, in, m);
                if (rc == 0)
                        in->size = m->size;
        }
        if (rc == 0)
                rc = apply_place(fs, in, parent, meta->name, m, meta);
        if (rc == 0)
                rc = apply_version_state(in, m);
        if (rc == 0)
                rc = fs_inode_save(fs, in);
        apply_inval(fs, 0, in->ino, NULL);
        return rc;
}

/* Decides what to do with M for the local inode IN (NULL: unknown file id). */
static int apply_decide(struct fs *fs, struct fs_inode *in, const struct manifest *m)
{
        char fid[33];
        int order;

        if (in == NULL)
                return m->kind == MANIFEST_TOMBSTONE ? 0 : 1;
        if (in->has_manifest && memcmp(in->manifest_hash, m->hash, 32) == 0)
                return 0; /* rule 1 */
        order = manifest_vv_compare((const struct manifest_vv *)m->vv, m->nvv,
                                    (const struct manifest_vv *)in->vv, in->nvv);
        if (order == MANIFEST_VV_EQUAL || order == MANIFEST_VV_DOMINATED)
                return 0;
        if (order == MANIFEST_VV_DOMINATES && !in->sync_dirty)
                return 1;
        hex_encode(fid, m->file_id, 16);
        log_warn("file %s: concurrent versions (local change not yet reconciled); the remote "
                 "version is held, not lost (conflict copies are not implemented yet)",
                 fid);
        return 0;
}

int fs_apply(void *arg, const struct manifest *m, const struct manifest_meta *meta)
{
        struct fs *fs = arg;
        struct fs_inode *in = NULL;
        uint64_t ino, parent = 0;
        int rc, act;

        pthread_mutex_lock(&fs->ns_lock);
        rc = index_ino_by_file_id(fs->ix, m->file_id, &ino);
        if (rc == 0)
                rc = fs_inode_get(fs, ino, &in);
        else if (rc == -ENOENT)
                rc = 0;
        if (rc != 0)
                goto out;
        if (in != NULL)
                pthread_rwlock_wrlock(&in->lock);
        act = apply_decide(fs, in, m);
        if (act && m->kind != MANIFEST_TOMBSTONE)
                rc = apply_parent(fs, meta->parent_id, &parent);
        if (rc == 0 && act && in == NULL) {
                uint32_t type = m->kind == MANIFEST_DIR       ? S_IFDIR
                                : m->kind == MANIFEST_SYMLINK ? S_IFLNK
                                                              : S_IFREG;

                rc = fs_inode_create_id(fs, apply_kind(m->kind),
                                        type | (meta->mode & APPLY_MODE_MASK), fs->uid, fs->gid,
                                        m->kind == MANIFEST_SYMLINK ? meta->target : NULL,
                                        m->file_id, m->salt, &in);
                if (rc == 0)
                        pthread_rwlock_wrlock(&in->lock);
        }
        if (rc == 0 && act)
                rc = m->kind == MANIFEST_TOMBSTONE ? apply_tombstone(fs, in, m)
                                                   : apply_update(fs, in, m, meta, parent);
        if (in != NULL) {
                fs_inode_idle_locked(fs, in);
                pthread_rwlock_unlock(&in->lock);
                fs_inode_put(fs, in);
        }
out:
        pthread_mutex_unlock(&fs->ns_lock);
        if (rc != 0) {
                char fid[33];

                hex_encode(fid, m->file_id, 16);
                log_err("file %s: cannot apply a remote version: %s", fid, strerror(-rc));
        }
        return rc;
}

int fs_apply_entry_done(void *arg)
{
        struct fs *fs = arg;
        size_t i;

        /* Rule 5: no lock is held here. */
        for (i = 0; i < fs->ninval && fs->se != NULL; i++) {
                const struct fs_inval *n = &fs->inval[i];

                if (n->parent != 0)
                        fuse_lowlevel_notify_inval_entry(fs->se, n->parent, n->name,
                                                         strlen(n->name));
                else
                        fuse_lowlevel_notify_inval_inode(fs->se, n->ino, 0, 0);
        }
        fs->ninval = 0;
        return 0;
}
