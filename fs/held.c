/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Held directories (doc/SYNC.md invariant U6).
 *
 * A directory whose deletion T won (U1) but that still holds entries T did
 * not delete stays, with T's version as its state and T remembered
 * ("gone"), until it is empty: then it goes, on every device, whether T
 * arrived before or after its entries left.  A newer version of the
 * directory itself (its current manifest is no longer T) ends the hold and
 * the deletion is forgotten.  fs_held_settle runs with rule 5's settling
 * (fs/names.c), after every applied entry, commit round, undo and at mount.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs/fsint.h"
#include "util/hex.h"
#include "util/log.h"

int fs_held_put(struct fs *fs, const uint8_t file_id[static 16], const uint8_t hash[static 32])
{
        return index_held_put(fs->ix, file_id, hash);
}

int fs_held_is(struct fs *fs, const struct fs_inode *in)
{
        uint8_t hash[32];
        int rc;

        if (in->kind != FS_KIND_DIR)
                return 0;
        rc = index_held_get(fs->ix, in->file_id, hash);
        if (rc == -ENOENT)
                return 0;
        return rc == 0 ? 1 : rc;
}

/* The hold of IN is over (a newer version of its own): the deletion is forgotten. */
static int held_release(struct fs *fs, const struct index_held *h)
{
        int rc = index_held_remove(fs->ix, h->file_id);

        return rc == 0 ? index_gone_remove(fs->ix, h->file_id) : rc;
}

/* Held directory IN (write-locked) is empty: it goes as its deletion said. */
static int held_drop(struct fs *fs, struct fs_inode *in, const struct index_held *h)
{
        char name[INDEX_NAME_MAX + 1], fid[33];
        uint64_t parent;
        size_t len = 0;
        uint8_t type;
        int rc = index_name_of(fs->ix, in->ino, &parent, name, &len, &type);

        if (rc == 0)
                rc = index_unlink(fs->ix, parent, name, len);
        if (rc == 0) {
                name[len] = '\0';
                fs_inval_queue(fs, parent, 0, name);
                in->nlink = 0;
                fs_now(&in->ctime);
                rc = fs_inode_save(fs, in);
        }
        if (rc == 0)
                rc = index_held_remove(fs->ix, h->file_id);
        if (rc == 0) {
                hex_encode(fid, h->file_id, 16);
                log_info("directory %s: empty again, its deletion from another device applies",
                         fid);
        }
        return rc;
}

/* One held row: 1 if it changed the tree, 0 if not, or a negative errno. */
static int held_one(struct fs *fs, const struct index_held *h)
{
        struct fs_inode *in;
        uint64_t ino;
        int rc = index_ino_by_file_id(fs->ix, h->file_id, &ino), changed = 0;

        if (rc == -ENOENT)
                return index_held_remove(fs->ix, h->file_id);
        if (rc == 0)
                rc = fs_inode_get(fs, ino, &in);
        if (rc != 0)
                return rc;
        pthread_rwlock_wrlock(&in->lock);
        if (in->nlink == 0 || in->kind != FS_KIND_DIR) {
                rc = index_held_remove(fs->ix, h->file_id); /* gone already (rmdir here) */
        } else if (in->has_manifest && memcmp(in->manifest_hash, h->hash, 32) != 0) {
                rc = held_release(fs, h);
        } else if ((rc = fs_alias_takeover(fs, in, &changed)) != 0 || changed) {
                /* U5: another id of the directory lives (merged in since): it is that one's;
                 * the deleted id routes the entries that name it here (F32) */
                if (rc == 0)
                        rc = index_held_remove(fs->ix, h->file_id);
                if (rc == 0)
                        rc = fs_alias_keep_dead(fs, h->file_id, in->ino);
                changed = 0;
        } else if (!in->sync_dirty && !in->committing && index_dir_empty(fs->ix, in->ino) == 1) {
                rc = held_drop(fs, in, h);
                changed = rc == 0;
        }
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(fs, in);
        return rc == 0 ? changed : rc;
}

int fs_held_settle_locked(struct fs *fs)
{
        struct index_held *rows = NULL;
        size_t n = 0, i, pass;
        int rc = 0, changed = 1;

        /* a held directory inside another: the inner one goes first, the outer next pass */
        for (pass = 0; pass < 8 && changed && rc == 0; pass++) {
                changed = 0;
                rc = index_held_list(fs->ix, &rows, &n);
                for (i = 0; i < n && rc >= 0; i++) {
                        rc = held_one(fs, &rows[i]);
                        if (rc > 0)
                                changed = 1;
                }
                if (rc > 0)
                        rc = 0;
                free(rows);
                rows = NULL;
        }
        return rc;
}
