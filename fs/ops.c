/* SPDX-License-Identifier: Apache-2.0 */
/*
 * FUSE low-level operations.  Each op: resolve inodes (busy refs), take the
 * locks named in fsint.h, change memory + index (write-through), reply.
 */
#include <errno.h>
#include <fuse_lowlevel.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "crypto/secmem.h"
#include "fs/fsint.h"
#include "fs/ops.h"
#include "util/log.h"
#include "util/scratch.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

#define FS_READDIR_BATCH 256

static struct fs *fs_of(fuse_req_t req)
{
        return fuse_req_userdata(req);
}

/* The S_IFMT of KIND; 0 (unknown: readdir's DT_UNKNOWN) for a special file. */
static uint32_t fs_kind_type(int kind)
{
        return kind == FS_KIND_DIR       ? S_IFDIR
               : kind == FS_KIND_LNK     ? S_IFLNK
               : kind == FS_KIND_SPECIAL ? 0
                                         : S_IFREG;
}

static void fs_fill_stat(const struct fs *fs, const struct fs_inode *in, struct stat *st)
{
        uint64_t blocks = 0;
        size_t i;

        memset(st, 0, sizeof(*st));
        st->st_ino = in->ino;
        st->st_mode = in->mode;
        st->st_nlink = in->kind == FS_KIND_DIR ? 1 : in->nlink;
        st->st_uid = in->uid;
        st->st_gid = in->gid;
        st->st_rdev = (dev_t)in->rdev;
        st->st_size = (off_t)in->size;
        st->st_blksize = 4096;
        for (i = 0; i < in->blocks.n; i++)
                blocks += in->blocks.r[i].end - in->blocks.r[i].start;
        blocks *= fs->bs;
        if (blocks > in->size)
                blocks = in->size;
        st->st_blocks = (blkcnt_t)((blocks + 511) / 512);
        st->st_atim = in->atime;
        st->st_mtim = in->mtime;
        st->st_ctim = in->ctime;
}

static void fs_fill_entry(const struct fs *fs, const struct fs_inode *in,
                          struct fuse_entry_param *e)
{
        memset(e, 0, sizeof(*e));
        e->ino = in->ino;
        e->generation = 1;
        e->attr_timeout = fs->timeout;
        e->entry_timeout = fs->timeout;
        fs_fill_stat(fs, in, &e->attr);
}

static int fs_name_ok(const char *name)
{
        size_t n = strlen(name);

        if (n == 0 || n > INDEX_NAME_MAX)
                return -ENAMETOOLONG;
        return 0;
}

/* Replies with an entry for IN, taking a kernel lookup reference. */
static void fs_reply_entry(fuse_req_t req, struct fs *fs, struct fs_inode *in)
{
        struct fuse_entry_param e;

        pthread_rwlock_rdlock(&in->lock);
        fs_fill_entry(fs, in, &e);
        pthread_rwlock_unlock(&in->lock);
        fs_inode_ref(fs, in, 1, 0);
        if (fuse_reply_entry(req, &e) != 0)
                fs_inode_ref(fs, in, -1, 0); /* the kernel did not get it */
}

/*
 * Content state (ciphertext fd and block_ctx, which lives in guarded secure
 * memory) exists only while a file is open: the kernel may remember tens of
 * thousands of inodes, and each would otherwise hold an fd and several
 * mappings.  Closing is safe at any time; the next use reopens lazily.
 */
static void fs_content_idle(struct fs *fs, struct fs_inode *in)
{
        pthread_rwlock_wrlock(&in->lock);
        fs_inode_idle_locked(fs, in);
        pthread_rwlock_unlock(&in->lock);
}

/* Resolves INO (busy reference in *OUT), or replies with the error: returns -1 then. */
static int fs_get_or_reply(fuse_req_t req, struct fs *fs, uint64_t ino, struct fs_inode **out)
{
        int rc = fs_inode_get(fs, ino, out);

        if (rc != 0) {
                fuse_reply_err(req, rc == -EBADMSG ? EIO : -rc);
                return -1;
        }
        return 0;
}

static void fs_op_init(void *userdata, struct fuse_conn_info *conn)
{
        const struct fs *fs = userdata;

        /*
         * No FUSE_CAP_WRITEBACK_CACHE: with it the kernel keeps its own i_size
         * of regular files and never takes the daemon's again, so a size change
         * from another device would stay invisible while the inode is cached.
         * Writes therefore reach the daemon at once (and O_APPEND is ours).
         */
        conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
        if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
                conn->want |= FUSE_CAP_PARALLEL_DIROPS;
        conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
        conn->max_write = 1u << 20;
        conn->max_readahead = 1u << 20;
        if (fs->max_read != 0)
                conn->max_read = fs->max_read; /* libfuse refuses a mismatch with -o max_read */
}

static void fs_op_destroy(void *userdata)
{
        struct fs *fs = userdata;
        int rc;

        fs_content_expire(fs, 0); /* buffered blocks of files still open (a lazy unmount) */
        rc = index_commit(fs->ix);
        if (rc != 0)
                log_err("final index commit failed: %s", strerror(-rc));
}

static void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
        struct fs *fs = fs_of(req);
        struct fs_inode *in;
        uint64_t ino;
        int rc = fs_name_ok(name);

        if (rc == 0)
                rc = index_lookup(fs->ix, parent, name, strlen(name), &ino);
        if (rc == -ENOENT) {
                struct fuse_entry_param e;

                memset(&e, 0, sizeof(e));
                e.entry_timeout = fs->timeout; /* negative entry, cached */
                fuse_reply_entry(req, &e);
                return;
        }
        if (rc != 0) {
                fuse_reply_err(req, rc == -EBADMSG ? EIO : -rc);
                return;
        }
        if (fs_get_or_reply(req, fs, ino, &in) != 0)
                return;
        fs_reply_entry(req, fs, in);
        fs_inode_put(fs, in);
}

static void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
        fs_inode_forget(fs_of(req), ino, nlookup);
        fuse_reply_none(req);
}

static void fs_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
        size_t i;

        for (i = 0; i < count; i++)
                fs_inode_forget(fs_of(req), forgets[i].ino, forgets[i].nlookup);
        fuse_reply_none(req);
}

static void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        struct fs *fs = fs_of(req);
        struct fs_inode *in;
        struct stat st;

        (void)fi;
        if (fs_get_or_reply(req, fs, ino, &in) != 0)
                return;
        pthread_rwlock_rdlock(&in->lock);
        fs_fill_stat(fs, in, &st);
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(fs, in);
        fuse_reply_attr(req, &st, fs->timeout);
}

/*
 * Truncates IN to NSIZE, then marks the blocks whose final flag changed
 * (the old last block when growing, the new last block when shrinking):
 * marks are taken only once the content is local and re-sealed, so a
 * remote block is never dirty (doc/DESIGN.md "On-demand content").
 */
static int fs_truncate_marking(struct fs *fs, struct fs_inode *in, uint64_t nsize)
{
        uint64_t osize = in->size, mark;
        int rc;

        rc = fs_content_truncate(fs, in, nsize);
        if (rc != 0 || nsize == osize)
                return rc;
        if (nsize < osize)
                rangeset_truncate(&in->dirty, (nsize + fs->bs - 1) / fs->bs);
        if (nsize > osize && osize == 0)
                return 0;
        mark = nsize > osize ? (osize - 1) / fs->bs : nsize > 0 ? (nsize - 1) / fs->bs : 0;
        if (nsize == 0 || !rangeset_contains(&in->blocks, mark))
                return 0; /* a hole has no flag */
        return rangeset_add(&in->dirty, mark, mark + 1);
}

static int fs_apply_setattr(struct fs *fs, struct fs_inode *in, const struct stat *attr, int set)
{
        struct timespec now;
        int rc = 0;

        fs_now(&now);
        if (set & FUSE_SET_ATTR_SIZE) {
                if (in->kind != FS_KIND_REG)
                        return in->kind == FS_KIND_DIR ? -EISDIR : -EINVAL;
                if (attr->st_size < 0)
                        return -EINVAL;
                rc = fs_truncate_marking(fs, in, (uint64_t)attr->st_size);
                if (rc != 0)
                        return rc;
                in->mtime = now;
        }
        if (set & (FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_MTIME |
                   FUSE_SET_ATTR_MTIME_NOW)) {
                rc = fs_inode_mark_changed(fs, in, 0, 0);
                if (rc != 0)
                        return rc;
        }
        if (set & FUSE_SET_ATTR_MODE)
                in->mode = (in->mode & S_IFMT) | (attr->st_mode & 07777);
        if (set & FUSE_SET_ATTR_UID)
                in->uid = attr->st_uid;
        if (set & FUSE_SET_ATTR_GID)
                in->gid = attr->st_gid;
        if (set & FUSE_SET_ATTR_ATIME_NOW)
                in->atime = now;
        else if (set & FUSE_SET_ATTR_ATIME)
                in->atime = attr->st_atim;
        if (set & FUSE_SET_ATTR_MTIME_NOW)
                in->mtime = now;
        else if (set & FUSE_SET_ATTR_MTIME)
                in->mtime = attr->st_mtim;
        if (set & FUSE_SET_ATTR_CTIME)
                in->ctime = attr->st_ctim;
        else
                in->ctime = now;
        return fs_inode_save(fs, in);
}

/*
 * D2 (doc/SYNC.md): a shrinking truncation changed IN's record only.  Makes
 * it durable -- with no lock held: index_commit waits for the committer's
 * savepoint, whose owner takes inode locks -- then drops the slots it cut
 * (fs_content_settle; skipped if blocks were removed since GEN).  A failed
 * commit leaves the slots: the old version stays readable after a crash.
 */
static void fs_truncate_settle(struct fs *fs, struct fs_inode *in, uint64_t gen)
{
        int rc = index_commit(fs->ix);

        if (rc == 0) {
                pthread_rwlock_wrlock(&in->lock);
                rc = fs_content_settle(fs, in, gen);
                pthread_rwlock_unlock(&in->lock);
        }
        if (rc != 0)
                log_warn("inode %llu: a truncation is not settled yet: %s",
                         (unsigned long long)in->ino, strerror(-rc));
}

static void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                          struct fuse_file_info *fi)
{
        struct fs *fs = fs_of(req);
        struct fs_inode *in;
        struct stat st;
        uint64_t gen;
        int rc, settle;

        (void)fi;
        if (fs->read_only) {
                fuse_reply_err(req, EROFS);
                return;
        }
        if (fs_get_or_reply(req, fs, ino, &in) != 0)
                return;
        pthread_rwlock_wrlock(&in->lock);
        rc = fs_apply_setattr(fs, in, attr, to_set);
        fs_fill_stat(fs, in, &st);
        settle = in->settle_due;
        gen = in->content_gen;
        pthread_rwlock_unlock(&in->lock);
        if (rc == 0 && settle)
                fs_truncate_settle(fs, in, gen);
        if (to_set & FUSE_SET_ATTR_SIZE)
                fs_content_idle(fs, in);
        fs_inode_put(fs, in);
        if (rc != 0)
                fuse_reply_err(req, -rc);
        else
                fuse_reply_attr(req, &st, fs->timeout);
}

static void fs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
        struct fs *fs = fs_of(req);
        struct fs_inode *in;

        if (fs_get_or_reply(req, fs, ino, &in) != 0)
                return;
        pthread_rwlock_rdlock(&in->lock);
        if (in->kind != FS_KIND_LNK || in->target == NULL)
                fuse_reply_err(req, EINVAL);
        else
                fuse_reply_readlink(req, in->target);
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(fs, in);
}

/* Touches a directory's mtime/ctime after a change of its entries. */
static int fs_dir_touch(struct fs *fs, struct fs_inode *dir)
{
        int rc;

        pthread_rwlock_wrlock(&dir->lock);
        fs_now(&dir->mtime);
        dir->ctime = dir->mtime;
        rc = fs_inode_save(fs, dir);
        pthread_rwlock_unlock(&dir->lock);
        return rc;
}

/* Resolves PARENT as a live directory (busy ref in *OUT). */
static int fs_get_dir(struct fs *fs, uint64_t parent, struct fs_inode **out)
{
        struct fs_inode *dir;
        int rc = fs_inode_get(fs, parent, &dir);

        if (rc != 0)
                return rc == -EBADMSG ? -EIO : rc;
        if (dir->kind != FS_KIND_DIR || dir->nlink == 0) {
                rc = dir->kind != FS_KIND_DIR ? -ENOTDIR : -ENOENT;
                fs_inode_put(fs, dir);
                return rc;
        }
        *out = dir;
        return 0;
}

/*
 * As fs_get_dir, for a new entry in *PARENT: a directory merged away by a
 * remote version (doc/SYNC.md "Conflicts", rule 5: its entries moved into
 * the directory its id is an alias of, its inode retired) stands for that
 * directory, so a create racing the merge lands in the merged directory
 * instead of failing with ENOENT (issue #11 case 6).  *PARENT is updated.
 */
static int fs_get_dir_merged(struct fs *fs, uint64_t *parent, struct fs_inode **out)
{
        int rc = fs_get_dir(fs, *parent, out), depth;

        for (depth = 0; rc == -ENOENT && depth < 8; depth++) {
                struct fs_inode *old;
                uint64_t into;

                if (fs_inode_get(fs, *parent, &old) != 0)
                        return rc;
                rc = old->kind == FS_KIND_DIR && old->nlink == 0
                         ? index_alias_get(fs->ix, old->file_id, &into)
                         : -ENOENT;
                fs_inode_put(fs, old);
                if (rc != 0 || into == *parent)
                        return -ENOENT;
                *parent = into;
                rc = fs_get_dir(fs, into, out);
        }
        return rc;
}

/*
 * fs_api_make_node with a device number RDEV (kind SPECIAL: the type is
 * MODE's S_IFMT, RDEV kept only for S_IFCHR/S_IFBLK).
 */
static int fs_make_node_rdev(struct fs *fs, uint64_t parent, const char *name, int kind,
                             uint32_t mode, uint64_t rdev, uint32_t uid, uint32_t gid,
                             const char *target, struct fs_inode **out)
{
        uint32_t type = kind == FS_KIND_SPECIAL ? (mode & S_IFMT) : fs_kind_type(kind);
        struct fs_inode *dir = NULL, *in = NULL;
        uint64_t existing;
        int rc;

        if (fs->read_only)
                return -EROFS;
        rc = fs_name_ok(name);
        if (rc == 0)
                rc = fs_space_check(fs, 64 << 10, 1); /* D3: never a node the index cannot keep */
        if (rc != 0)
                return rc;
        pthread_mutex_lock(&fs->ns_lock);
        rc = fs_get_dir_merged(fs, &parent, &dir);
        if (rc != 0)
                goto out;
        rc = index_lookup(fs->ix, parent, name, strlen(name), &existing);
        if (rc == 0) {
                rc = -EEXIST;
                goto out;
        }
        if (rc != -ENOENT)
                goto out;
        rc = fs_inode_create(fs, kind, type | (mode & 07777), uid, gid, target, &in);
        if (rc != 0)
                goto out;
        if (S_ISCHR(type) || S_ISBLK(type))
                in->rdev = rdev; /* saved below */
        rc = index_link(fs->ix, parent, name, strlen(name), in->ino, (uint8_t)kind);
        if (rc == 0) {
                in->nlink = 1;
                rc = fs_inode_mark_changed(fs, in, 0, 0);
        }
        if (rc == 0)
                rc = fs_inode_save(fs, in);
        if (rc == 0)
                rc = fs_dir_touch(fs, dir);
        if (rc != 0) {
                fs_inode_put(fs, in); /* nlink 0: evicted and deleted */
                in = NULL;
        }
out:
        if (dir != NULL)
                fs_inode_put(fs, dir);
        pthread_mutex_unlock(&fs->ns_lock);
        if (rc == 0)
                *out = in;
        return rc;
}

int fs_api_make_node(struct fs *fs, uint64_t parent, const char *name, int kind, uint32_t mode,
                     uint32_t uid, uint32_t gid, const char *target, struct fs_inode **out)
{
        if (kind == FS_KIND_SPECIAL && !fs_special_type_ok(mode))
                return -EINVAL;
        return fs_make_node_rdev(fs, parent, name, kind, mode, 0, uid, gid, target, out);
}

static int fs_make_node(fuse_req_t req, uint64_t parent, const char *name, int kind, uint32_t mode,
                        const char *target, struct fs_inode **out)
{
        const struct fuse_ctx *ctx = fuse_req_ctx(req);

        return fs_api_make_node(fs_of(req), parent, name, kind, mode, ctx->uid, ctx->gid, target,
                                out);
}

static void fs_reply_new(fuse_req_t req, int rc, struct fs_inode *in)
{
        struct fs *fs = fs_of(req);

        if (rc != 0) {
                fuse_reply_err(req, -rc);
                return;
        }
        fs_reply_entry(req, fs, in);
        fs_inode_put(fs, in);
}

static void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                        dev_t rdev)
{
        const struct fuse_ctx *ctx = fuse_req_ctx(req);
        struct fs_inode *in = NULL;
        int rc = -EINVAL;

        /* Special files are metadata only (doc/SYNC.md C6); the kernel has
         * checked CAP_MKNOD for devices before the request reaches us. */
        if (S_ISREG(mode))
                rc = fs_make_node(req, parent, name, FS_KIND_REG, mode, NULL, &in);
        else if (fs_special_type_ok(mode))
                rc = fs_make_node_rdev(fs_of(req), parent, name, FS_KIND_SPECIAL, mode,
                                       (uint64_t)rdev, ctx->uid, ctx->gid, NULL, &in);
        fs_reply_new(req, rc, in);
}

static void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
        struct fs_inode *in = NULL;
        int rc = fs_make_node(req, parent, name, FS_KIND_DIR, mode, NULL, &in);

        fs_reply_new(req, rc, in);
}

static void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
        struct fs_inode *in = NULL;
        int rc = -ENAMETOOLONG;

        if (strlen(link) > 0 && strlen(link) <= FS_SYMLINK_MAX)
                rc = fs_make_node(req, parent, name, FS_KIND_LNK, 0777, link, &in);
        fs_reply_new(req, rc, in);
}

static void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
        (void)ino;
        (void)newparent;
        (void)newname;
        /* Hard links are not supported (a synced file has one name): EPERM, as vfat. */
        fuse_reply_err(req, EPERM);
}

/* Removes NAME from PARENT; WANT_DIR selects rmdir semantics. */
int fs_api_remove(struct fs *fs, uint64_t parent, const char *name, int want_dir)
{
        struct fs_inode *dir = NULL, *in = NULL;
        uint64_t ino;
        int rc;

        if (fs->read_only)
                return -EROFS;
        pthread_mutex_lock(&fs->ns_lock);
        rc = fs_get_dir(fs, parent, &dir);
        if (rc == 0)
                rc = index_lookup(fs->ix, parent, name, strlen(name), &ino);
        if (rc == 0)
                rc = fs_inode_get(fs, ino, &in);
        if (rc != 0)
                goto out;
        if (want_dir && in->kind != FS_KIND_DIR)
                rc = -ENOTDIR;
        else if (!want_dir && in->kind == FS_KIND_DIR)
                rc = -EISDIR;
        else if (want_dir)
                rc = index_dir_empty(fs->ix, ino) == 1 ? 0 : -ENOTEMPTY;
        if (rc == 0)
                rc = index_unlink(fs->ix, parent, name, strlen(name));
        if (rc == 0) {
                pthread_rwlock_wrlock(&in->lock);
                in->nlink = want_dir ? 0 : in->nlink - 1;
                fs_now(&in->ctime);
                if (in->nlink == 0) {
                        uint8_t pid[16];

                        fs_sync_parent_id(dir, pid);
                        rc = fs_inode_tombstone(fs, in, pid, name, strlen(name));
                        if (rc == 0 && want_dir) /* U5: every id of a merged directory */
                                rc = fs_alias_tombstones(fs, in, pid, name, strlen(name));
                }
                if (rc == 0)
                        rc = fs_inode_save(fs, in);
                pthread_rwlock_unlock(&in->lock);
        }
        if (rc == 0)
                rc = fs_dir_touch(fs, dir);
out:
        if (in != NULL)
                fs_inode_put(fs, in);
        if (dir != NULL)
                fs_inode_put(fs, dir);
        pthread_mutex_unlock(&fs->ns_lock);
        return rc;
}

static void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
        fuse_reply_err(req, -fs_api_remove(fs_of(req), parent, name, 0));
}

static void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
        fuse_reply_err(req, -fs_api_remove(fs_of(req), parent, name, 1));
}

static int fs_rename_exchange(struct fs *fs, uint64_t p1, const char *n1, struct fs_inode *a,
                              uint64_t p2, const char *n2, struct fs_inode *b)
{
        int rc = index_unlink(fs->ix, p1, n1, strlen(n1));

        if (rc == 0)
                rc = index_unlink(fs->ix, p2, n2, strlen(n2));
        if (rc == 0)
                rc = index_link(fs->ix, p1, n1, strlen(n1), b->ino, (uint8_t)b->kind);
        if (rc == 0)
                rc = index_link(fs->ix, p2, n2, strlen(n2), a->ino, (uint8_t)a->kind);
        return rc;
}

/* Drops the existing target DST of a rename of SRC. */
static int fs_rename_replace(struct fs *fs, struct fs_inode *d2, const char *n2,
                             struct fs_inode *src, struct fs_inode *dst)
{
        uint64_t p2 = d2->ino;
        int rc;

        if (src->kind == FS_KIND_DIR && dst->kind != FS_KIND_DIR)
                return -ENOTDIR;
        if (src->kind != FS_KIND_DIR && dst->kind == FS_KIND_DIR)
                return -EISDIR;
        if (dst->kind == FS_KIND_DIR && index_dir_empty(fs->ix, dst->ino) != 1)
                return -ENOTEMPTY;
        rc = index_unlink(fs->ix, p2, n2, strlen(n2));
        if (rc != 0)
                return rc;
        pthread_rwlock_wrlock(&dst->lock);
        dst->nlink = dst->kind == FS_KIND_DIR ? 0 : dst->nlink - 1;
        fs_now(&dst->ctime);
        if (dst->nlink == 0) {
                uint8_t pid[16];

                fs_sync_parent_id(d2, pid);
                rc = fs_inode_tombstone(fs, dst, pid, n2, strlen(n2));
        }
        if (rc == 0)
                rc = fs_inode_save(fs, dst);
        pthread_rwlock_unlock(&dst->lock);
        return rc;
}

int fs_api_rename(struct fs *fs, uint64_t p1, const char *n1, uint64_t p2, const char *n2,
                  unsigned flags)
{
        struct fs_inode *d1 = NULL, *d2 = NULL, *src = NULL, *dst = NULL;
        uint64_t sino, dino;
        int rc, have_dst;

        if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE))
                return -EINVAL;
        if (fs->read_only)
                return -EROFS;
        rc = fs_name_ok(n2);
        if (rc != 0)
                return rc;
        pthread_mutex_lock(&fs->ns_lock);
        rc = fs_get_dir(fs, p1, &d1);
        if (rc == 0)
                rc = fs_get_dir(fs, p2, &d2);
        if (rc == 0)
                rc = index_lookup(fs->ix, p1, n1, strlen(n1), &sino);
        if (rc == 0)
                rc = fs_inode_get(fs, sino, &src);
        if (rc != 0)
                goto out;
        rc = index_lookup(fs->ix, p2, n2, strlen(n2), &dino);
        have_dst = rc == 0;
        if (rc != 0 && rc != -ENOENT)
                goto out;
        rc = 0;
        if (have_dst && dino == sino)
                goto out; /* same inode: POSIX says do nothing */
        if (have_dst)
                rc = fs_inode_get(fs, dino, &dst);
        if (rc != 0)
                goto out;
        if (flags & RENAME_EXCHANGE) {
                rc = have_dst ? fs_rename_exchange(fs, p1, n1, src, p2, n2, dst) : -ENOENT;
        } else {
                if (have_dst)
                        rc = (flags & RENAME_NOREPLACE) ? -EEXIST
                                                        : fs_rename_replace(fs, d2, n2, src, dst);
                if (rc == 0)
                        rc = index_unlink(fs->ix, p1, n1, strlen(n1));
                if (rc == 0)
                        rc = index_link(fs->ix, p2, n2, strlen(n2), sino, (uint8_t)src->kind);
        }
        if (rc == 0) {
                pthread_rwlock_wrlock(&src->lock);
                fs_now(&src->ctime);
                rc = fs_inode_mark_changed(fs, src, 0, 0);
                if (rc == 0)
                        rc = fs_inode_save(fs, src);
                pthread_rwlock_unlock(&src->lock);
        }
        if (rc == 0 && (flags & RENAME_EXCHANGE)) {
                pthread_rwlock_wrlock(&dst->lock);
                fs_now(&dst->ctime);
                rc = fs_inode_mark_changed(fs, dst, 0, 0);
                if (rc == 0)
                        rc = fs_inode_save(fs, dst);
                pthread_rwlock_unlock(&dst->lock);
        }
        if (rc == 0 && src->kind == FS_KIND_DIR) /* U5: what a deleted id held moves too */
                rc = fs_alias_moved(fs, src->ino);
        if (rc == 0 && (flags & RENAME_EXCHANGE) && dst->kind == FS_KIND_DIR)
                rc = fs_alias_moved(fs, dst->ino);
        if (rc == 0)
                rc = fs_dir_touch(fs, d1);
        if (rc == 0 && d2 != d1)
                rc = fs_dir_touch(fs, d2);
out:
        if (dst != NULL)
                fs_inode_put(fs, dst);
        if (src != NULL)
                fs_inode_put(fs, src);
        if (d2 != NULL)
                fs_inode_put(fs, d2);
        if (d1 != NULL)
                fs_inode_put(fs, d1);
        pthread_mutex_unlock(&fs->ns_lock);
        return rc;
}

static void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
                         const char *newname, unsigned int flags)
{
        fuse_reply_err(req, -fs_api_rename(fs_of(req), parent, name, newparent, newname, flags));
}

int fs_api_open(struct fs *fs, uint64_t ino, int flags, struct fs_inode **out)
{
        struct fs_inode *in;
        uint64_t gen;
        int rc = fs_inode_get(fs, ino, &in), settle;

        if (rc != 0)
                return rc == -EBADMSG ? -EIO : rc;
        if (in->kind == FS_KIND_DIR)
                rc = -EISDIR;
        else if (in->kind != FS_KIND_REG)
                rc = -EINVAL;
        else if (fs->read_only && (flags & O_ACCMODE) != O_RDONLY)
                rc = -EROFS;
        else if (in->nlink == 0 && in->unlinked_remote)
                rc = -ESTALE; /* checked again below, under the lock; not truncated */
        if (rc == 0 && (flags & O_TRUNC)) {
                /* FUSE_CAP_ATOMIC_O_TRUNC (libfuse's default): the truncation is ours. */
                pthread_rwlock_wrlock(&in->lock);
                /* A buffered block is sealed (and its record saved) while its mark stands. */
                rc = fs_content_flush(fs, in);
                if (rc == 0 && in->size != 0) {
                        rangeset_truncate(&in->dirty, 0);
                        rc = fs_content_truncate(fs, in, 0);
                        if (rc == 0)
                                rc = fs_inode_mark_changed(fs, in, 0, 0);
                        if (rc == 0) {
                                fs_now(&in->mtime);
                                in->ctime = in->mtime;
                                rc = fs_inode_save(fs, in);
                        }
                }
                settle = rc == 0 && in->settle_due;
                gen = in->content_gen;
                pthread_rwlock_unlock(&in->lock);
                if (settle)
                        fs_truncate_settle(fs, in, gen);
        }
        if (rc == 0) {
                /* Under the inode's lock, so a remote apply sees this writer or this
                 * open sees the apply's unlink (U7), never neither. */
                pthread_rwlock_rdlock(&in->lock);
                if (in->nlink == 0 && in->unlinked_remote)
                        rc = -ESTALE; /* a stale dentry: the kernel looks the name up again */
                if (rc == 0) {
                        fs_inode_ref(fs, in, 0, 1);
                        if (fs_flags_write(flags))
                                (void)fs_inode_writers(fs, in, 1);
                        *out = in;
                }
                pthread_rwlock_unlock(&in->lock);
        }
        fs_inode_put(fs, in);
        return rc;
}

static int fs_open_inode(struct fs *fs, uint64_t ino, struct fuse_file_info *fi)
{
        struct fs_inode *in = NULL;
        int rc = fs_api_open(fs, ino, fi->flags, &in);

        if (rc == 0) {
                fi->fh = (uint64_t)(uintptr_t)in;
                fi->keep_cache = 1;
                fi->noflush = 1;
        }
        return rc;
}

static void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        int rc = fs_open_inode(fs_of(req), ino, fi);

        if (rc != 0) {
                fuse_reply_err(req, -rc);
                return;
        }
        if (fuse_reply_open(req, fi) != 0)
                fs_api_release(fs_of(req), (struct fs_inode *)(uintptr_t)fi->fh, fi->flags);
}

/*
 * CREATE of a NAME that exists, without O_EXCL: the kernel held a negative
 * dentry that a remote version made stale (its invalidation is sent after the
 * journal entry); open the file the name holds, as open(2) would have.
 */
static void fs_create_existing(fuse_req_t req, uint64_t parent, const char *name,
                               struct fuse_file_info *fi)
{
        struct fs *fs = fs_of(req);
        struct fs_inode *in = NULL;
        struct fuse_entry_param e;
        uint64_t ino;
        int rc = index_lookup(fs->ix, parent, name, strlen(name), &ino);

        if (rc == 0)
                rc = fs_api_open(fs, ino, fi->flags, &in);
        if (rc != 0) {
                fuse_reply_err(req, rc == -ENOENT ? EEXIST : (rc == -EBADMSG ? EIO : -rc));
                return;
        }
        pthread_rwlock_rdlock(&in->lock);
        fs_fill_entry(fs, in, &e);
        pthread_rwlock_unlock(&in->lock);
        fs_inode_ref(fs, in, 1, 0);
        fi->fh = (uint64_t)(uintptr_t)in;
        fi->keep_cache = 1;
        fi->noflush = 1;
        if (fuse_reply_create(req, &e, fi) != 0) {
                fs_inode_ref(fs, in, -1, 0);
                fs_api_release(fs, in, fi->flags);
        }
}

static void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                         struct fuse_file_info *fi)
{
        struct fs *fs = fs_of(req);
        struct fs_inode *in = NULL;
        struct fuse_entry_param e;
        int rc = fs_make_node(req, parent, name, FS_KIND_REG, mode, NULL, &in);

        if (rc == -EEXIST && !(fi->flags & O_EXCL)) {
                fs_create_existing(req, parent, name, fi);
                return;
        }
        if (rc != 0) {
                fuse_reply_err(req, -rc);
                return;
        }
        pthread_rwlock_rdlock(&in->lock);
        fs_fill_entry(fs, in, &e);
        pthread_rwlock_unlock(&in->lock);
        fs_inode_ref(fs, in, 1, 1);
        if (fs_flags_write(fi->flags))
                (void)fs_inode_writers(fs, in, 1);
        fi->fh = (uint64_t)(uintptr_t)in;
        fi->keep_cache = 1;
        fi->noflush = 1;
        if (fuse_reply_create(req, &e, fi) != 0) {
                if (fs_flags_write(fi->flags))
                        (void)fs_inode_writers(fs, in, -1);
                fs_inode_ref(fs, in, -1, -1);
        }
        fs_inode_put(fs, in);
}

static struct fs_inode *fs_fh(struct fuse_file_info *fi)
{
        return (struct fs_inode *)(uintptr_t)fi->fh;
}

/*
 * Reads [OFF, OFF+SIZE) of IN, fetching its remote blocks first (no lock
 * held meanwhile).  Each attempt reads under one read lock, so a reply never
 * mixes two versions; a newer version applied between the fetch and the
 * read (its blocks remote again) is fetched in turn, a few times at most.
 */
int fs_api_read(struct fs *fs, struct fs_inode *in, uint64_t off, size_t size, uint8_t *buf,
                size_t *got)
{
        int rc = -ENODATA, tries;

        for (tries = 0; tries < 4 && rc == -ENODATA; tries++) {
                rc = fs_fetch_for_read(fs, in, off, size);
                if (rc != 0)
                        break;
                pthread_rwlock_rdlock(&in->lock);
                rc = fs_content_read(fs, in, off, size, buf, got);
                pthread_rwlock_unlock(&in->lock);
        }
        return rc == -ENODATA ? -EIO : rc;
}

static void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
        struct fs *fs = fs_of(req);
        struct fs_inode *in = fs_fh(fi);
        uint8_t *buf;
        size_t got = 0;
        int rc;

        (void)ino;
        if (off < 0) {
                fuse_reply_err(req, EINVAL);
                return;
        }
        buf = scratch_take(size ? size : 1); /* plaintext: wiped before it goes back */
        if (buf == NULL) {
                fuse_reply_err(req, ENOMEM);
                return;
        }
        rc = fs_api_read(fs, in, (uint64_t)off, size, buf, &got);
        if (rc != 0)
                fuse_reply_err(req, -rc);
        else
                fuse_reply_buf(req, (const char *)buf, got);
        secmem_wipe(buf, size);
        scratch_give(buf);
}

/* The early reply of a large write (fs_api_write_ack). */
struct fs_write_ack {
        fuse_req_t req;
        size_t size;
};

static void fs_write_acked(void *arg)
{
        const struct fs_write_ack *a = arg;

        fuse_reply_write(a->req, a->size);
}

static void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                        struct fuse_file_info *fi)
{
        struct fs *fs = fs_of(req);
        struct fs_inode *in = fs_fh(fi);
        struct fs_write_ack ack = {req, size};
        int rc, acked = 0;

        (void)ino;
        if (fs->read_only) {
                fuse_reply_err(req, EROFS);
                return;
        }
        if (off < 0) {
                fuse_reply_err(req, EINVAL);
                return;
        }
        rc = fs_api_write_ack(fs, in, (uint64_t)off, buf, size, fi->flags & O_APPEND,
                              fs_write_acked, &ack, &acked);
        if (acked)
                return; /* replied; a later failure is the next fsync's and close's */
        if (rc != 0)
                fuse_reply_err(req, -rc);
        else
                fuse_reply_write(req, size);
}

/*
 * D2: 1 if block B of IN is present and a write into its slot (in place)
 * could outlive a crash that loses its dirty mark: B is not a block first
 * written in the open transaction, nor marked dirty before the last commit.
 */
static int fs_block_unmarked(const struct fs_inode *in, uint64_t b, uint64_t gen)
{
        if (!rangeset_contains(&in->blocks, b) || rangeset_contains(&in->remote, b))
                return 0;
        if (in->fresh_gen == gen && rangeset_contains(&in->fresh, b))
                return 0;
        return !(rangeset_contains(&in->dirty, b) && in->dirty_gen < gen);
}

/*
 * D2': the marks made durable before an in-place write cover the write's
 * blocks and the other local blocks of its aligned window of
 * FS_MARK_AHEAD blocks (4 MiB of 64 KiB blocks), so a random writer commits
 * the index once per window, not once per block.  A marked block that was
 * not rewritten costs the committer a read and a hash: its sealed bytes
 * still hash to its committed reference, which is kept (commit_refs).
 * Remote blocks are never marked (they have no local slot to rewrite).
 */
#define FS_MARK_AHEAD 64

static int fs_write_mark_ahead(struct fs *fs, struct fs_inode *in, uint64_t first, uint64_t end)
{
        uint64_t wf = first / FS_MARK_AHEAD * FS_MARK_AHEAD, we = end, b, run = 0;
        uint64_t top = in->blocks.n > 0 ? in->blocks.r[in->blocks.n - 1].end : 0;
        int rc = fs_inode_mark_changed(fs, in, first, end);

        if (end % FS_MARK_AHEAD != 0)
                we = (end / FS_MARK_AHEAD + 1) * FS_MARK_AHEAD;
        if (we > top)
                we = top;
        for (b = wf; b <= we && rc == 0; b++) {
                int mark = b < we && (b < first || b >= end) && rangeset_contains(&in->blocks, b) &&
                           !rangeset_contains(&in->remote, b);

                if (mark) {
                        run++;
                        continue;
                }
                if (run > 0)
                        rc = fs_inode_mark_changed(fs, in, b - run, b);
                run = 0;
        }
        return rc;
}

/*
 * D2 (FOUND.md B7): before the first in-place write into blocks FIRST..END
 * after a commit, their dirty mark is made durable, so a crash that loses
 * the open transaction never leaves new bytes that nothing marks changed.
 * Called with IN's write lock, returned with it; drops it to commit.
 */
static int fs_write_mark_durable(struct fs *fs, struct fs_inode *in, uint64_t *off, int append,
                                 size_t size)
{
        int tries, rc = 0;

        for (tries = 0; tries < 8 && rc == 0 && size > 0; tries++) {
                uint64_t gen = index_commit_gen(fs->ix), b, first, end;
                int need = 0;

                if (append)
                        *off = in->size;
                first = *off / fs->bs;
                end = (*off + size - 1) / fs->bs + 1;
                for (b = first; b < end && !need; b++)
                        need = fs_block_unmarked(in, b, gen);
                if (!need)
                        return 0;
                rc = fs_write_mark_ahead(fs, in, first, end);
                if (rc == 0)
                        rc = fs_inode_save(fs, in);
                pthread_rwlock_unlock(&in->lock);
                if (rc == 0)
                        rc = fs_index_commit(fs);
                pthread_rwlock_wrlock(&in->lock);
        }
        if (rc == 0 && size > 0)
                log_warn("inode %llu: written in place before its dirty mark was durable "
                         "(commit rounds took it 8 times)",
                         (unsigned long long)in->ino);
        return rc;
}

/* Records the blocks FIRST..END that were not present before a write as fresh (D2). */
static void fs_write_note_fresh(struct fs *fs, struct fs_inode *in, uint64_t first, uint64_t end)
{
        uint64_t gen = index_commit_gen(fs->ix), b;

        if (in->fresh_gen != gen) {
                rangeset_truncate(&in->fresh, 0);
                in->fresh_gen = gen;
        }
        for (b = first; b < end; b++)
                if (!rangeset_contains(&in->blocks, b) && rangeset_add(&in->fresh, b, b + 1) != 0)
                        return; /* out of memory: a later write commits its mark first */
}

int fs_api_write(struct fs *fs, struct fs_inode *in, uint64_t off, const void *buf, size_t size,
                 int append)
{
        int acked = 0;

        return fs_api_write_ack(fs, in, off, buf, size, append, NULL, NULL, &acked);
}

int fs_api_write_ack(struct fs *fs, struct fs_inode *in, uint64_t off, const void *buf, size_t size,
                     int append, void (*ack)(void *arg), void *arg, int *acked)
{
        uint64_t osize;
        int rc, held = FS_WB_DIRECT;

        pthread_rwlock_wrlock(&in->lock);
        rc = fs_write_mark_durable(fs, in, &off, append, size);
        if (append)
                off = in->size; /* no writeback cache: appends are ours */
        osize = in->size;
        /* D3: the index keeps room to commit; a full disk is ENOSPC here, never later. */
        if (rc == 0)
                rc = fs_space_check(fs, (uint64_t)size + size / 8, 1);
        if (rc == 0 && size > 0)
                fs_write_note_fresh(fs, in, off / fs->bs, (off + size - 1) / fs->bs + 1);
        if (rc == 0 && ack != NULL && size >= fs->bs) {
                /* Whole blocks: sealing them is the costly part; the writer goes on meanwhile,
                 * and every other request on IN waits for this lock (doc/DESIGN.md).  What
                 * can fail but the local disk (a remote block's fetch) is done first. */
                rc = fs_content_write_ready(fs, in, off, size);
                if (rc == 0) {
                        ack(arg);
                        *acked = 1;
                        rc = fs_content_write_prepared(fs, in, off, buf, size); /* held: DIRECT */
                }
        } else if (rc == 0) {
                rc = fs_content_write_small(fs, in, off, buf, size, &held);
        }
        /* Extending: the old last block (local now) stops being final.  Marked only once
         * written: a remote block is never dirty. */
        if (rc == 0 && osize > 0 && off + size > osize &&
            rangeset_contains(&in->blocks, (osize - 1) / fs->bs))
                rc = fs_inode_mark_changed(fs, in, (osize - 1) / fs->bs, (osize - 1) / fs->bs + 1);
        if (rc == 0 && size > 0)
                rc = fs_inode_mark_changed(fs, in, off / fs->bs, (off + size - 1) / fs->bs + 1);
        if (rc == 0) {
                fs_now(&in->mtime);
                in->ctime = in->mtime;
                /* A buffered write saves nothing: the seal saves the record (marks included). */
                if (held == FS_WB_DIRECT)
                        rc = fs_inode_save(fs, in);
                else if (held == FS_WB_FULL) {
                        int src = fs_content_flush(fs, in);

                        /* On error the bytes stay held (the seal is retried later):
                         * writeback's error, for the next fsync, as a page cache's. */
                        if (src != 0)
                                in->wb_err = src;
                }
        }
        if (rc == -ENOSPC || rc == -EIO || rc == -EDQUOT)
                in->wb_err = rc; /* the next fsync reports it too */
        if (*acked && rc != 0) {
                log_err("inode %llu: a write acknowledged early failed: %s (the next fsync and "
                        "close report it)",
                        (unsigned long long)in->ino, strerror(-rc));
                in->wb_err = rc;
                rc = 0;
        }
        pthread_rwlock_unlock(&in->lock);
        return rc;
}

static void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        struct fs_inode *in = fs_fh(fi);
        int rc;

        (void)ino;
        pthread_rwlock_wrlock(&in->lock);
        rc = fs_content_flush(fs_of(req), in); /* close(2) sees a failed seal */
        if (rc == 0)
                rc = in->wb_err; /* and a failed write acknowledged early; fsync clears it */
        pthread_rwlock_unlock(&in->lock);
        fuse_reply_err(req, -rc);
}

static void fs_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        struct fs *fs = fs_of(req);

        (void)ino;
        fs_api_release(fs, fs_fh(fi), fi->flags);
        fuse_reply_err(req, 0);
}

void fs_api_release(struct fs *fs, struct fs_inode *in, int flags)
{
        int writer = fs_flags_write(flags);
        uint32_t left = 1;

        /* busy keeps IN alive across the close after the open reference is gone. */
        pthread_mutex_lock(&fs->table_lock);
        in->busy++;
        pthread_mutex_unlock(&fs->table_lock);
        if (writer)
                left = fs_inode_writers(fs, in, -1);
        fs_inode_ref(fs, in, 0, -1);
        pthread_rwlock_wrlock(&in->lock);
        if (writer && left == 0 && fs_inode_writers(fs, in, 0) == 0) {
                uint64_t ino = in->ino;

                fs_inode_blind_drop(in); /* U7: no handle is left that predates it */
                /* a deletion that waited for it is taken at the next pull round */
                (void)atomic_compare_exchange_strong(&fs->open_wait_ino, &ino, 0);
        }
        fs_content_unbuffer(fs, in); /* sealed at every release, freed */
        fs_inode_idle_locked(fs, in);
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(fs, in);
}

static void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
        struct fs *fs = fs_of(req);

        (void)ino;
        (void)datasync;
        fuse_reply_err(req, -fs_api_fsync(fs, fs_fh(fi)));
}

int fs_api_fsync(struct fs *fs, struct fs_inode *in)
{
        int rc;

        pthread_rwlock_wrlock(&in->lock);
        rc = fs_content_sync(fs, in);
        if (rc == 0 && in->wb_err != 0)
                rc = in->wb_err; /* D3: a write since the last fsync failed: say how */
        in->wb_err = 0;
        pthread_rwlock_unlock(&in->lock);
        if (rc == 0)
                rc = fs_index_commit(fs);
        return rc;
}

static void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        struct fs *fs = fs_of(req);
        struct fs_inode *in;
        int rc = fs_get_dir(fs, ino, &in);

        if (rc != 0) {
                fuse_reply_err(req, -rc);
                return;
        }
        fs_inode_put(fs, in);
        fi->fh = 0;
        fuse_reply_open(req, fi);
}

struct fs_dirent {
        int64_t pos;
        uint64_t ino;
        uint8_t type;
        char name[INDEX_NAME_MAX + 1];
};

struct fs_dirbatch {
        struct fs_dirent *e;
        size_t n;
};

static int fs_collect(void *arg, int64_t pos, uint64_t ino, uint8_t type, const char *name,
                      size_t len)
{
        struct fs_dirbatch *b = arg;

        b->e[b->n].pos = pos;
        b->e[b->n].ino = ino;
        b->e[b->n].type = type;
        memcpy(b->e[b->n].name, name, len);
        b->e[b->n].name[len] = '\0';
        b->n++;
        return b->n == FS_READDIR_BATCH ? 1 : 0;
}

/* Adds one child entry; returns bytes used, 0 if it did not fit, or -errno. */
static long fs_add_child(fuse_req_t req, struct fs *fs, char *p, size_t room,
                         const struct fs_dirent *d, int plus)
{
        struct fuse_entry_param e;
        struct fs_inode *in;
        size_t need;
        int rc;

        if (!plus) {
                struct stat st;

                memset(&st, 0, sizeof(st));
                st.st_ino = d->ino;
                st.st_mode = fs_kind_type(d->type);
                need = fuse_add_direntry(req, p, room, d->name, &st, d->pos + 2);
                return need > room ? 0 : (long)need;
        }
        rc = fs_inode_get(fs, d->ino, &in);
        if (rc != 0)
                return rc == -EBADMSG ? -EIO : rc;
        pthread_rwlock_rdlock(&in->lock);
        fs_fill_entry(fs, in, &e);
        pthread_rwlock_unlock(&in->lock);
        need = fuse_add_direntry_plus(req, p, room, d->name, &e, d->pos + 2);
        if (need <= room)
                fs_inode_ref(fs, in, 1, 0);
        fs_inode_put(fs, in);
        return need > room ? 0 : (long)need;
}

static size_t fs_add_dots(fuse_req_t req, char *p, size_t room, off_t off, uint64_t ino, int plus)
{
        static const char *const names[2] = {".", ".."};
        size_t used = 0;
        off_t i;

        for (i = off; i < 2; i++) {
                size_t need;

                if (plus) {
                        struct fuse_entry_param e;

                        memset(&e, 0, sizeof(e));
                        /* ino 0 in a readdirplus entry: no lookup reference is taken. */
                        e.attr.st_ino = i == 0 ? ino : INDEX_ROOT_INO;
                        e.attr.st_mode = S_IFDIR;
                        need =
                            fuse_add_direntry_plus(req, p + used, room - used, names[i], &e, i + 1);
                } else {
                        struct stat st;

                        memset(&st, 0, sizeof(st));
                        st.st_ino = i == 0 ? ino : INDEX_ROOT_INO;
                        st.st_mode = S_IFDIR;
                        need = fuse_add_direntry(req, p + used, room - used, names[i], &st, i + 1);
                }
                if (need > room - used)
                        break;
                used += need;
        }
        return used;
}

static void fs_readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
        struct fs *fs = fs_of(req);
        struct fs_dirbatch b = {NULL, 0};
        char *buf = malloc(size ? size : 1);
        size_t used, i;
        int rc = 0;

        b.e = malloc(FS_READDIR_BATCH * sizeof(*b.e));
        if (buf == NULL || b.e == NULL) {
                free(buf);
                free(b.e);
                fuse_reply_err(req, ENOMEM);
                return;
        }
        used = fs_add_dots(req, buf, size, off, ino, plus);
        if (off < 2 && used == 0 && size > 0)
                goto reply;
        rc = index_readdir(fs->ix, ino, off > 2 ? off - 2 : 0, fs_collect, &b);
        for (i = 0; i < b.n && rc == 0; i++) {
                long n = fs_add_child(req, fs, buf + used, size - used, &b.e[i], plus);

                if (n < 0)
                        rc = (int)n;
                if (n <= 0)
                        break;
                used += (size_t)n;
        }
reply:
        if (rc != 0 && used == 0)
                fuse_reply_err(req, -rc);
        else
                fuse_reply_buf(req, buf, used);
        free(buf);
        secmem_wipe(b.e, FS_READDIR_BATCH * sizeof(*b.e));
        free(b.e);
}

static void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                          struct fuse_file_info *fi)
{
        (void)fi;
        fs_readdir_common(req, ino, size, off, 0);
}

static void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                              struct fuse_file_info *fi)
{
        (void)fi;
        fs_readdir_common(req, ino, size, off, 1);
}

static void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
        (void)ino;
        (void)fi;
        fuse_reply_err(req, 0);
}

static void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
        (void)ino;
        (void)datasync;
        (void)fi;
        fuse_reply_err(req, -fs_index_commit(fs_of(req)));
}

static void fs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
        struct fs *fs = fs_of(req);
        struct statvfs sv;

        (void)ino;
        if (fstatvfs(fs->data_dirfd, &sv) != 0) {
                fuse_reply_err(req, errno);
                return;
        }
        sv.f_namemax = INDEX_NAME_MAX;
        fuse_reply_statfs(req, &sv);
}

/* Finds xattr NAME in IN; index or -1. */
static long fs_xattr_find(const struct fs_inode *in, const char *name)
{
        size_t i;

        for (i = 0; i < in->nxattrs; i++)
                if (strcmp(in->xattrs[i].name, name) == 0)
                        return (long)i;
        return -1;
}

static size_t fs_xattr_total(const struct fs_inode *in)
{
        size_t i, t = 0;

        for (i = 0; i < in->nxattrs; i++)
                t += strlen(in->xattrs[i].name) + in->xattrs[i].len;
        return t;
}

static int fs_xattr_set(struct fs_inode *in, const char *name, const char *value, size_t size,
                        int flags)
{
        long i = fs_xattr_find(in, name);
        uint8_t *v;

        if ((flags & XATTR_CREATE) && i >= 0)
                return -EEXIST;
        if ((flags & XATTR_REPLACE) && i < 0)
                return -ENODATA;
        if (fs_xattr_total(in) + strlen(name) + size > FS_XATTR_TOTAL_MAX)
                return -ENOSPC;
        v = malloc(size ? size : 1);
        if (v == NULL)
                return -ENOMEM;
        memcpy(v, value, size);
        if (i < 0) {
                struct fs_xattr *nx = realloc(in->xattrs, (in->nxattrs + 1) * sizeof(*nx));
                char *n = strdup(name);

                if (nx != NULL)
                        in->xattrs = nx;
                if (nx == NULL || n == NULL) {
                        free(n);
                        free(v);
                        return -ENOMEM;
                }
                i = (long)in->nxattrs++;
                in->xattrs[i].name = n;
                in->xattrs[i].value = NULL;
                in->xattrs[i].len = 0;
        }
        if (in->xattrs[i].value != NULL)
                secmem_wipe(in->xattrs[i].value, in->xattrs[i].len);
        free(in->xattrs[i].value);
        in->xattrs[i].value = v;
        in->xattrs[i].len = size;
        return 0;
}

static void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                           size_t size, int flags)
{
        struct fs *fs = fs_of(req);
        struct fs_inode *in;
        int rc;

        if (strncmp(name, "user.", 5) != 0) {
                fuse_reply_err(req, EOPNOTSUPP);
                return;
        }
        if (strlen(name) > FS_XATTR_NAME_MAX || size > FS_XATTR_VALUE_MAX) {
                fuse_reply_err(req, strlen(name) > FS_XATTR_NAME_MAX ? ERANGE : E2BIG);
                return;
        }
        if (fs->read_only) {
                fuse_reply_err(req, EROFS);
                return;
        }
        if (fs_space_check(fs, size + 4096, 1) != 0) {
                fuse_reply_err(req, ENOSPC); /* D3 */
                return;
        }
        if (fs_get_or_reply(req, fs, ino, &in) != 0)
                return;
        pthread_rwlock_wrlock(&in->lock);
        rc = fs_xattr_set(in, name, value, size, flags);
        if (rc == 0)
                rc = fs_inode_mark_changed(fs, in, 0, 0);
        if (rc == 0) {
                fs_now(&in->ctime);
                rc = fs_inode_save(fs, in);
        }
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(fs, in);
        fuse_reply_err(req, -rc);
}

static void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
        struct fs *fs = fs_of(req);
        struct fs_inode *in;
        long i;

        if (strncmp(name, "user.", 5) != 0) {
                fuse_reply_err(req, ENODATA); /* e.g. security.capability on every write */
                return;
        }
        if (fs_get_or_reply(req, fs, ino, &in) != 0)
                return;
        pthread_rwlock_rdlock(&in->lock);
        i = fs_xattr_find(in, name);
        if (i < 0)
                fuse_reply_err(req, ENODATA);
        else if (size == 0)
                fuse_reply_xattr(req, in->xattrs[i].len);
        else if (in->xattrs[i].len > size)
                fuse_reply_err(req, ERANGE);
        else
                fuse_reply_buf(req, (const char *)in->xattrs[i].value, in->xattrs[i].len);
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(fs, in);
}

static void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
        struct fs *fs = fs_of(req);
        struct fs_inode *in;
        size_t total = 0, i, off = 0;
        char *buf;

        if (fs_get_or_reply(req, fs, ino, &in) != 0)
                return;
        pthread_rwlock_rdlock(&in->lock);
        for (i = 0; i < in->nxattrs; i++)
                total += strlen(in->xattrs[i].name) + 1;
        if (size == 0) {
                fuse_reply_xattr(req, total);
        } else if (total > size) {
                fuse_reply_err(req, ERANGE);
        } else if ((buf = malloc(total ? total : 1)) == NULL) {
                fuse_reply_err(req, ENOMEM);
        } else {
                for (i = 0; i < in->nxattrs; i++) {
                        size_t n = strlen(in->xattrs[i].name) + 1;

                        memcpy(buf + off, in->xattrs[i].name, n);
                        off += n;
                }
                fuse_reply_buf(req, buf, total);
                free(buf);
        }
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(fs, in);
}

static void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
        struct fs *fs = fs_of(req);
        struct fs_inode *in;
        long i;
        int rc;

        if (strncmp(name, "user.", 5) != 0) {
                fuse_reply_err(req, ENODATA);
                return;
        }
        if (fs->read_only) {
                fuse_reply_err(req, EROFS);
                return;
        }
        if (fs_get_or_reply(req, fs, ino, &in) != 0)
                return;
        pthread_rwlock_wrlock(&in->lock);
        i = fs_xattr_find(in, name);
        if (i < 0) {
                rc = -ENODATA;
        } else {
                free(in->xattrs[i].name);
                secmem_wipe(in->xattrs[i].value, in->xattrs[i].len);
                free(in->xattrs[i].value);
                in->xattrs[i] = in->xattrs[--in->nxattrs];
                fs_now(&in->ctime);
                rc = fs_inode_mark_changed(fs, in, 0, 0);
                if (rc == 0)
                        rc = fs_inode_save(fs, in);
        }
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(fs, in);
        fuse_reply_err(req, -rc);
}

static const struct fuse_lowlevel_ops fs_ops = {
    .init = fs_op_init,
    .destroy = fs_op_destroy,
    .lookup = fs_op_lookup,
    .forget = fs_op_forget,
    .forget_multi = fs_op_forget_multi,
    .getattr = fs_op_getattr,
    .setattr = fs_op_setattr,
    .readlink = fs_op_readlink,
    .mknod = fs_op_mknod,
    .mkdir = fs_op_mkdir,
    .unlink = fs_op_unlink,
    .rmdir = fs_op_rmdir,
    .symlink = fs_op_symlink,
    .rename = fs_op_rename,
    .link = fs_op_link,
    .open = fs_op_open,
    .read = fs_op_read,
    .write = fs_op_write,
    .flush = fs_op_flush,
    .release = fs_op_release,
    .fsync = fs_op_fsync,
    .opendir = fs_op_opendir,
    .readdir = fs_op_readdir,
    .readdirplus = fs_op_readdirplus,
    .releasedir = fs_op_releasedir,
    .fsyncdir = fs_op_fsyncdir,
    .statfs = fs_op_statfs,
    .setxattr = fs_op_setxattr,
    .getxattr = fs_op_getxattr,
    .listxattr = fs_op_listxattr,
    .removexattr = fs_op_removexattr,
    .create = fs_op_create,
};

const struct fuse_lowlevel_ops *fs_lowlevel_ops(void)
{
        return &fs_ops;
}
