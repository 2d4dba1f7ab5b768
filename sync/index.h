/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_SYNC_INDEX_H
#define SEALSYNC_SYNC_INDEX_H
/*
 * The local index: one SQLite database (WAL) per region on this device.
 * The only module that includes sqlite3.h.
 *
 * Tables (doc/DESIGN.md "Local index"):
 *   inode(ino PK, file_id UNIQUE, nlink, attr)  attr = AEAD(K_attr, AD = "inode" || ino || file_id)
 *   dentry(parent, hname, ino, ename)            hname = BLAKE2b-128(K_name, u64be parent || name)
 *                                                ename = AEAD(K_ename, AD = hname, u8 type || name)
 *   meta(k PK, v)                                schema version, next file sequence
 * K_attr, K_name, K_ename derive from the device-local key and the region id,
 * so the disk holds no plaintext name or attribute, and rows cannot be moved
 * between inodes or directories without failing authentication.
 *
 * Invariants:
 *  1. Every dentry's ino has an inode row.  Directory inodes have exactly one
 *     dentry (except the root, ino 1, which has none).
 *  2. inode.nlink counts the dentries naming it (0: unlinked, kept while open;
 *     purged at the next mount by the caller via index_for_each_orphan).
 *  3. All changes happen inside one open transaction; index_commit() makes
 *     them durable (group commit).  A crash rolls back to the last commit,
 *     which is always a consistent state.
 *
 * All functions are thread-safe (one connection behind a mutex).  Attribute
 * blobs are opaque here: fs/ encodes them.
 */
#include <stddef.h>
#include <stdint.h>

#define INDEX_ROOT_INO 1
#define INDEX_FILE_ID_LEN 16
#define INDEX_NAME_MAX 255

struct index;

/*
 * Opens (creating if needed) the index at PATH with keys derived from
 * LOCAL_KEY and REGION_ID.  A new index gets the root directory (ino 1) with
 * ROOT_ATTR.  Returns 0, -EBADMSG (not an index of ours / keys do not match),
 * -EUCLEAN (doc/SYNC.md D4: PATH was created before -- PATH.created exists --
 * and is now missing or empty, or it is unreadable, fails SQLite's
 * quick_check or lacks its schema row; nothing is created or changed then),
 * or a negative errno.  A successful open leaves PATH.created in place.
 */
int index_open(struct index **out, const char *path, const uint8_t local_key[static 32],
               const uint8_t region_id[static 32], const uint8_t root_file_id[static 16],
               const uint8_t *root_attr, size_t root_attr_len) __attribute__((warn_unused_result));

/* Commits and closes; NULL is a no-op.  Returns 0 or a negative errno. */
int index_close(struct index *ix);
/*
 * Closes without committing: the open transaction is rolled back, as if
 * the process had been killed (tests/sim's power cut).  NULL is a no-op.
 */
void index_abandon(struct index *ix);

/*
 * Commits the open transaction (durably: WAL fsync) and opens the next.
 * While another thread holds a savepoint (index_savepoint) it waits until
 * that savepoint is released or rolled back: a COMMIT inside it would end
 * the savepoint under its owner.  So a caller must not hold a lock the
 * savepoint's owner takes before releasing it (fs/: ns_lock, commit_lock or
 * an inode lock, unless the caller holds ns_lock, under which no savepoint
 * is ever open).  -EDEADLK (logged) if the calling thread holds the
 * savepoint itself.
 */
int index_commit(struct index *ix) __attribute__((warn_unused_result));

/*
 * The open transaction's generation: 1 at open, +1 per successful commit.
 * A change made while the generation was G is durable once it exceeds G
 * (doc/SYNC.md D2: ciphertext removed after the commit that dropped its
 * row, dirty marks durable before an in-place write).
 */
uint64_t index_commit_gen(struct index *ix);

/* 1 if changes are pending since the last commit. */
int index_dirty(struct index *ix);
/*
 * 1 once a failed COMMIT (index_commit: -ENOSPC for a full disk, else -EIO)
 * was rolled back by SQLite: the changes since the previous commit are gone
 * from the index though the caller's memory still has them.  A COMMIT that
 * failed without a rollback leaves the transaction open for the next one.
 */
int index_lost(struct index *ix);

/* Reads inode INO: *FILE_ID, *NLINK and a malloc'd decrypted *ATTR.  -ENOENT, -EBADMSG. */
int index_inode_get(struct index *ix, uint64_t ino, uint8_t file_id[static 16], uint32_t *nlink,
                    uint8_t **attr, size_t *attr_len) __attribute__((warn_unused_result));

/* Inserts a new inode (ino allocated) and returns it in *INO. */
int index_inode_add(struct index *ix, const uint8_t file_id[static 16], uint32_t nlink,
                    const uint8_t *attr, size_t attr_len, uint64_t *ino)
    __attribute__((warn_unused_result));

/* Replaces inode INO's nlink and attributes.  -ENOENT if absent. */
int index_inode_update(struct index *ix, uint64_t ino, const uint8_t file_id[static 16],
                       uint32_t nlink, const uint8_t *attr, size_t attr_len)
    __attribute__((warn_unused_result));

int index_inode_delete(struct index *ix, uint64_t ino) __attribute__((warn_unused_result));

/* Finds NAME in directory PARENT.  Returns 0 with *INO, or -ENOENT. */
int index_lookup(struct index *ix, uint64_t parent, const char *name, size_t len, uint64_t *ino)
    __attribute__((warn_unused_result));

/* Adds entry NAME -> INO (of TYPE, opaque here) in PARENT.  -EEXIST if taken, -ENAMETOOLONG. */
int index_link(struct index *ix, uint64_t parent, const char *name, size_t len, uint64_t ino,
               uint8_t type) __attribute__((warn_unused_result));

/* Removes entry NAME from PARENT.  -ENOENT if absent. */
int index_unlink(struct index *ix, uint64_t parent, const char *name, size_t len)
    __attribute__((warn_unused_result));

/* 1 if directory DIR has no entries, 0 if it has, or a negative errno. */
int index_dir_empty(struct index *ix, uint64_t dir) __attribute__((warn_unused_result));

/*
 * Calls CB for the entries of DIR with a position > AFTER in position order
 * (positions are stable; 0 starts).  CB returns 0 to continue, 1 to stop;
 * anything else is returned.  Names are decrypted and verified.
 */
typedef int (*index_dir_cb)(void *arg, int64_t pos, uint64_t ino, uint8_t type, const char *name,
                            size_t len);
int index_readdir(struct index *ix, uint64_t dir, int64_t after, index_dir_cb cb, void *arg)
    __attribute__((warn_unused_result));

/* Calls CB(arg, ino, file_id) for each inode with nlink == 0 (not the root). */
int index_for_each_orphan(struct index *ix,
                          int (*cb)(void *arg, uint64_t ino, const uint8_t *file_id), void *arg)
    __attribute__((warn_unused_result));

/* 1 if FILE_ID belongs to an inode, 0 if not, or a negative errno. */
int index_has_file_id(struct index *ix, const uint8_t file_id[static 16])
    __attribute__((warn_unused_result));

/*
 * --- Sync state (doc/SYNC.md "Local tables") ---
 *
 * The single entry naming INO: *PARENT, NAME (NUL-terminated), *LEN and the
 * entry *TYPE.  -ENOENT (the root, or unlinked), -EIO (fails authentication
 * or more than one entry names it).
 */
int index_name_of(struct index *ix, uint64_t ino, uint64_t *parent,
                  char name[static INDEX_NAME_MAX + 1], size_t *len, uint8_t *type)
    __attribute__((warn_unused_result));

/*
 * The clear "changed since the last commit" flag of INO, and the inodes
 * that have it, in ino order (CB may change the index).  It discloses to a
 * disk thief which files changed since the last sync, nothing more.
 */
int index_set_dirty(struct index *ix, uint64_t ino, int dirty) __attribute__((warn_unused_result));
int index_for_each_dirty(struct index *ix, int (*cb)(void *arg, uint64_t ino), void *arg)
    __attribute__((warn_unused_result));
/*
 * index_for_each_dirty for a bounded batch (issue #10): CB gets at most MAX
 * (>= 1) of the inodes with the flag whose ino is above AFTER, in ino order.
 * On success *LAST gets the last ino given to CB (AFTER if none: the next
 * batch's AFTER) and *MORE 1 if MAX were found (there may be more), 0 if
 * that was the last batch.  Returns 0, CB's non-zero return (outputs then
 * untouched), -EINVAL (MAX 0) or -EIO.  Memory: MAX inos.
 */
int index_for_each_dirty_after(struct index *ix, uint64_t after, size_t max,
                               int (*cb)(void *arg, uint64_t ino), void *arg, uint64_t *last,
                               int *more) __attribute__((warn_unused_result));

/* Calls CB for every linked inode but the root, in ino order (CB may change the index). */
int index_for_each_live(struct index *ix, int (*cb)(void *arg, uint64_t ino), void *arg)
    __attribute__((warn_unused_result));

/*
 * Hash of the committed sealed block IDX of INO (block references).  -ENOENT
 * if none.  For a remote block (doc/DESIGN.md "On-demand content") this is
 * the reference it is fetched by; the pack index says where it is.
 */
int index_blockref_get(struct index *ix, uint64_t ino, uint64_t idx, uint8_t hash[static 32])
    __attribute__((warn_unused_result));
int index_blockref_put(struct index *ix, uint64_t ino, uint64_t idx, const uint8_t hash[static 32])
    __attribute__((warn_unused_result));
/* Drops INO's references to blocks >= FROM (0: all). */
int index_blockref_truncate(struct index *ix, uint64_t ino, uint64_t from)
    __attribute__((warn_unused_result));

/*
 * Deleted files whose tombstone is not committed yet: FILE_ID with an opaque
 * STATE (sealed in the index like attributes: it holds the name).  CB of
 * index_for_each_tomb must not modify the index.
 */
int index_tomb_add(struct index *ix, const uint8_t file_id[static 16], const uint8_t *state,
                   size_t len) __attribute__((warn_unused_result));
int index_for_each_tomb(struct index *ix,
                        int (*cb)(void *arg, const uint8_t *file_id, const uint8_t *state,
                                  size_t len),
                        void *arg) __attribute__((warn_unused_result));
int index_tomb_remove(struct index *ix, const uint8_t file_id[static 16])
    __attribute__((warn_unused_result));
/* FILE_ID's pending deletion state, opened, into malloc'd *STATE.  -ENOENT if none. */
int index_tomb_get(struct index *ix, const uint8_t file_id[static 16], uint8_t **state, size_t *len)
    __attribute__((warn_unused_result));

/*
 * Deleted files, remembered after their deletion was committed or applied:
 * FILE_ID with an opaque STATE (the deleting version: fs/apply.c), so a
 * version older than the deletion, arriving late from another device, is not
 * resurrected (sealed like attributes: it holds the name).
 */
int index_gone_put(struct index *ix, const uint8_t file_id[static 16], const uint8_t *state,
                   size_t len) __attribute__((warn_unused_result));
/* Opened into malloc'd *STATE; -ENOENT if none. */
int index_gone_get(struct index *ix, const uint8_t file_id[static 16], uint8_t **state, size_t *len)
    __attribute__((warn_unused_result));
int index_gone_remove(struct index *ix, const uint8_t file_id[static 16])
    __attribute__((warn_unused_result));
/* CB for every remembered deletion, in file-id order (CB must not modify the index). */
int index_for_each_gone(struct index *ix,
                        int (*cb)(void *arg, const uint8_t *file_id, const uint8_t *state,
                                  size_t len),
                        void *arg) __attribute__((warn_unused_result));

/*
 * Files displaced by rule 5 (fs/names.c, doc/SYNC.md U4): FILE_ID's version
 * wants a name another file holds, so it is shown under a conflict name; the
 * opaque STATE (sealed like attributes: it holds names) says which.  Rows
 * are few (one per displaced file).
 */
int index_want_put(struct index *ix, const uint8_t file_id[static 16], const uint8_t *state,
                   size_t len) __attribute__((warn_unused_result));
/* FILE_ID's "want" row, opened into *STATE (caller frees); -ENOENT if none. */
int index_want_get(struct index *ix, const uint8_t file_id[static 16], uint8_t **state, size_t *len)
    __attribute__((warn_unused_result));
int index_want_remove(struct index *ix, const uint8_t file_id[static 16])
    __attribute__((warn_unused_result));
/* CB for every row, in file-id order (CB must not modify the index). */
int index_for_each_want(struct index *ix,
                        int (*cb)(void *arg, const uint8_t *file_id, const uint8_t *state,
                                  size_t len),
                        void *arg) __attribute__((warn_unused_result));

/*
 * Merged directories (fs/apply.c, doc/SYNC.md "Conflicts" rule 5): the
 * directory FILE_ID, created on another device under the same name as one
 * here, is shown as the local directory INO.  -ENOENT if FILE_ID has none.
 */
int index_alias_put(struct index *ix, const uint8_t file_id[static 16], uint64_t ino)
    __attribute__((warn_unused_result));
int index_alias_get(struct index *ix, const uint8_t file_id[static 16], uint64_t *ino)
    __attribute__((warn_unused_result));
/* Every alias of directory FROM now names TO (FROM merged into TO: no chains). */
int index_alias_move(struct index *ix, uint64_t from, uint64_t to)
    __attribute__((warn_unused_result));
/* FILE_ID is no alias any more (its row and its version, doc/SYNC.md U5). */
int index_alias_remove(struct index *ix, const uint8_t file_id[static 16])
    __attribute__((warn_unused_result));
/*
 * An alias's own version (U5; the encoding is fs/apply.c's), sealed like
 * the attributes under AD "aver" || FILE_ID.  get: -ENOENT if none; the
 * caller frees *STATE.
 */
int index_aliasver_put(struct index *ix, const uint8_t file_id[static 16], const uint8_t *state,
                       size_t len) __attribute__((warn_unused_result));
int index_aliasver_get(struct index *ix, const uint8_t file_id[static 16], uint8_t **state,
                       size_t *len) __attribute__((warn_unused_result));
/*
 * Held directories (doc/SYNC.md U6): directory FILE_ID lost to its deletion
 * HASH but still holds entries the deletion did not see; it goes when
 * empty.  get: -ENOENT if not held.  list: every row into *ROWS (caller
 * frees; NULL if none).
 */
struct index_held {
        uint8_t file_id[16];
        uint8_t hash[32];
};
int index_held_put(struct index *ix, const uint8_t file_id[static 16],
                   const uint8_t hash[static 32]) __attribute__((warn_unused_result));
int index_held_get(struct index *ix, const uint8_t file_id[static 16], uint8_t hash[static 32])
    __attribute__((warn_unused_result));
int index_held_remove(struct index *ix, const uint8_t file_id[static 16])
    __attribute__((warn_unused_result));
int index_held_list(struct index *ix, struct index_held **rows, size_t *n)
    __attribute__((warn_unused_result));
/* CB for every alias's version, by file id (CB must not modify the index). */
int index_for_each_aliasver(struct index *ix,
                            int (*cb)(void *arg, const uint8_t *file_id, const uint8_t *state,
                                      size_t len),
                            void *arg) __attribute__((warn_unused_result));
/* Every file id that is an alias of INO, in order, into *IDS (caller frees; NULL if none). */
int index_aliases_of(struct index *ix, uint64_t ino, uint8_t (**ids)[16], size_t *n)
    __attribute__((warn_unused_result));
/*
 * Inode INO (now file id FROM) takes file id TO (U5: the directory's stayed
 * id was deleted, an alias takes its place).  The attribute record must be
 * saved again under TO at once (its AD names the file id).  -ENOENT if INO
 * does not have FROM.
 */
int index_inode_rekey(struct index *ix, uint64_t ino, const uint8_t from[static 16],
                      const uint8_t to[static 16]) __attribute__((warn_unused_result));

/*
 * Small named values of the sync layer (journal sequence and head, Lamport
 * clock).  Not secret, stored in clear.  get: -ENOENT if unset, -EFBIG if
 * larger than CAP.
 */
int index_meta_get(struct index *ix, const char *key, uint8_t *buf, size_t cap, size_t *len)
    __attribute__((warn_unused_result));
int index_meta_put(struct index *ix, const char *key, const uint8_t *buf, size_t len)
    __attribute__((warn_unused_result));
/* Removes KEY (no-op if unset): 0 or -EIO. */
int index_meta_del(struct index *ix, const char *key) __attribute__((warn_unused_result));

/*
 * A savepoint inside the open transaction: OP 0 sets it, 1 keeps what was
 * done since (release), 2 undoes it (rollback).  Not nested: -EINVAL for
 * a second set, or a release/rollback with none open.  After release or
 * rollback (even a failed one) index_commit callers waiting are woken.
 */
int index_savepoint(struct index *ix, int op) __attribute__((warn_unused_result));

/* The inode holding FILE_ID.  -ENOENT if none. */
int index_ino_by_file_id(struct index *ix, const uint8_t file_id[static 16], uint64_t *ino)
    __attribute__((warn_unused_result));

/*
 * The rebuildable pack index: record HASH lives in PACK at [OFF, OFF+LEN).
 * put keeps the first location known for a hash.  get: -ENOENT if unknown.
 */
int index_packidx_put(struct index *ix, const uint8_t hash[static 32],
                      const uint8_t pack[static 32], uint64_t off, uint32_t len)
    __attribute__((warn_unused_result));
int index_packidx_get(struct index *ix, const uint8_t hash[static 32], uint8_t pack[static 32],
                      uint64_t *off, uint32_t *len) __attribute__((warn_unused_result));
/* As put, but replaces a known location (a checkpoint's bundle, which gc keeps). */
int index_packidx_set(struct index *ix, const uint8_t hash[static 32],
                      const uint8_t pack[static 32], uint64_t off, uint32_t len)
    __attribute__((warn_unused_result));

/*
 * Lasting alarms (doc/SYNC.md invariant A1): table alarm(id, time, kind,
 * device, seq, object, detail, holds, cleared), in clear (it names store
 * keys, device ids and hashes, nothing secret).
 */
struct index_alarm {
        int64_t id;       /* assigned by index_alarm_add, > 0 */
        int64_t time;     /* unix seconds when first raised */
        char kind[24];    /* "equivocation", ... */
        char device[33];  /* hex, "-" for none */
        uint64_t seq;     /* 0 if none */
        char object[513]; /* store key, "" if none */
        char detail[256]; /* one line of evidence (hashes) */
        int holds;        /* 1: the device's updates are held while it is not cleared */
};

typedef int (*index_alarm_cb)(void *arg, const struct index_alarm *a);

/*
 * Records alarm A (its id ignored) in the open transaction; if an uncleared
 * alarm with the same kind, device, seq and object exists, nothing is added.
 * *ID gets the row's id.  Returns 0 or -EIO (logged).
 */
int index_alarm_add(struct index *ix, const struct index_alarm *a, int64_t *id)
    __attribute__((warn_unused_result));

/* Calls CB for each uncleared alarm, oldest first; a non-zero return stops and is returned. */
int index_alarm_list(struct index *ix, index_alarm_cb cb, void *arg)
    __attribute__((warn_unused_result));

/*
 * Marks alarm ID (0: every uncleared one) cleared in the open transaction;
 * *N gets how many.  Returns 0, -ENOENT (ID is not an uncleared alarm) or -EIO.
 */
int index_alarm_clear(struct index *ix, int64_t id, unsigned *n)
    __attribute__((warn_unused_result));

/*
 * As index_alarm_list and index_alarm_clear on the index file PATH of a
 * region that is not mounted, without its keys (the table is in clear).
 * list: no file or no table is no alarm (0).  clear: committed at once;
 * -EBUSY if a mount holds the index.
 */
int index_alarm_list_at(const char *path, index_alarm_cb cb, void *arg)
    __attribute__((warn_unused_result));
int index_alarm_clear_at(const char *path, int64_t id, unsigned *n)
    __attribute__((warn_unused_result));

/*
 * Calls CB(ARG, key, value, length) for every meta record of the index file
 * PATH whose key starts with PREFIX ("" for all), in key order, opening it
 * read-only without its keys (meta values are in clear: counters, heads and
 * the pull marks "peer:<device hex>" = u64be seq || entry hash).  For a
 * region that is not mounted (status).  No file is no record (0).  A non-zero
 * CB return stops the listing and is returned; else 0 or -EIO.
 */
typedef int (*index_meta_cb)(void *arg, const char *key, const uint8_t *v, size_t len);
int index_meta_list_at(const char *path, const char *prefix, index_meta_cb cb, void *arg)
    __attribute__((warn_unused_result));

#endif
