/* SPDX-License-Identifier: Apache-2.0 */
#include "sync/index.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/kdf.h"
#include "crypto/secmem.h"
#include "util/log.h"

#define INDEX_SCHEMA_VERSION 1
#define INDEX_HNAME_LEN 16
#define INDEX_ATTR_MAX (16u << 20)

enum index_stmt {
        ST_INODE_GET,
        ST_INODE_ADD,
        ST_INODE_UPDATE,
        ST_INODE_DELETE,
        ST_LOOKUP,
        ST_LINK,
        ST_UNLINK,
        ST_DIR_ANY,
        ST_READDIR,
        ST_ORPHANS,
        ST_HAS_FILE_ID,
        ST_NAME_OF,
        ST_SET_DIRTY,
        ST_DIRTY,
        ST_DIRTY_AFTER,
        ST_LIVE,
        ST_REF_GET,
        ST_REF_PUT,
        ST_REF_TRUNC,
        ST_TOMB_ADD,
        ST_TOMB_LIST,
        ST_TOMB_DEL,
        ST_TOMB_GET,
        ST_GONE_ADD,
        ST_GONE_DEL,
        ST_GONE_GET,
        ST_GONE_LIST,
        ST_WANT_ADD,
        ST_WANT_DEL,
        ST_WANT_LIST,
        ST_WANT_GET,
        ST_ALIAS_PUT,
        ST_ALIAS_GET,
        ST_ALIAS_MOVE,
        ST_ALIAS_DEL,
        ST_ALIAS_OF,
        ST_AVER_PUT,
        ST_AVER_GET,
        ST_AVER_DEL,
        ST_AVER_LIST,
        ST_INODE_REKEY,
        ST_HELD_PUT,
        ST_HELD_GET,
        ST_HELD_DEL,
        ST_HELD_LIST,
        ST_BY_FILE_ID,
        ST_PACKIDX_GET,
        ST_PACKIDX_PUT,
        ST_PACKIDX_SET,
        ST_COUNT
};

static const char *const index_sql[ST_COUNT] = {
    [ST_INODE_GET] = "SELECT file_id, nlink, attr FROM inode WHERE ino = ?1",
    [ST_INODE_ADD] = "INSERT INTO inode(ino, file_id, nlink, attr) VALUES (?1, ?2, ?3, ?4)",
    [ST_INODE_UPDATE] = "UPDATE inode SET nlink = ?3, attr = ?4 WHERE ino = ?1 AND file_id = ?2",
    [ST_INODE_DELETE] = "DELETE FROM inode WHERE ino = ?1",
    [ST_LOOKUP] = "SELECT ino, ename FROM dentry WHERE parent = ?1 AND hname = ?2",
    [ST_LINK] = "INSERT INTO dentry(parent, hname, ino, ename) VALUES (?1, ?2, ?3, ?4)",
    [ST_UNLINK] = "DELETE FROM dentry WHERE parent = ?1 AND hname = ?2",
    [ST_DIR_ANY] = "SELECT 1 FROM dentry WHERE parent = ?1 LIMIT 1",
    [ST_READDIR] = "SELECT rowid, ino, hname, ename FROM dentry WHERE parent = ?1 AND rowid > ?2 "
                   "ORDER BY rowid",
    [ST_ORPHANS] = "SELECT ino, file_id FROM inode WHERE nlink = 0 AND ino <> 1",
    [ST_HAS_FILE_ID] = "SELECT 1 FROM inode WHERE file_id = ?1",
    [ST_NAME_OF] = "SELECT parent, hname, ename FROM dentry WHERE ino = ?1 LIMIT 2",
    [ST_SET_DIRTY] = "UPDATE inode SET dirty = ?2 WHERE ino = ?1",
    [ST_DIRTY] = "SELECT ino FROM inode WHERE dirty <> 0 ORDER BY ino",
    [ST_DIRTY_AFTER] = "SELECT ino FROM inode WHERE dirty <> 0 AND ino > ?1 ORDER BY ino LIMIT ?2",
    [ST_LIVE] = "SELECT ino FROM inode WHERE nlink > 0 AND ino <> 1 ORDER BY ino",
    [ST_REF_GET] = "SELECT hash FROM blockref WHERE ino = ?1 AND idx = ?2",
    [ST_REF_PUT] = "INSERT OR REPLACE INTO blockref(ino, idx, hash) VALUES (?1, ?2, ?3)",
    [ST_REF_TRUNC] = "DELETE FROM blockref WHERE ino = ?1 AND idx >= ?2",
    [ST_TOMB_ADD] = "INSERT OR REPLACE INTO tomb(file_id, state) VALUES (?1, ?2)",
    [ST_TOMB_LIST] = "SELECT file_id, state FROM tomb ORDER BY file_id",
    [ST_TOMB_DEL] = "DELETE FROM tomb WHERE file_id = ?1",
    [ST_TOMB_GET] = "SELECT state FROM tomb WHERE file_id = ?1",
    [ST_GONE_ADD] = "INSERT OR REPLACE INTO gone(file_id, state) VALUES (?1, ?2)",
    [ST_GONE_DEL] = "DELETE FROM gone WHERE file_id = ?1",
    [ST_GONE_GET] = "SELECT state FROM gone WHERE file_id = ?1",
    [ST_GONE_LIST] = "SELECT file_id, state FROM gone ORDER BY file_id",
    [ST_WANT_ADD] = "INSERT OR REPLACE INTO want(file_id, state) VALUES (?1, ?2)",
    [ST_WANT_DEL] = "DELETE FROM want WHERE file_id = ?1",
    [ST_WANT_LIST] = "SELECT file_id, state FROM want ORDER BY file_id",
    [ST_WANT_GET] = "SELECT state FROM want WHERE file_id = ?1",
    [ST_ALIAS_PUT] = "INSERT OR REPLACE INTO alias(file_id, ino) VALUES (?1, ?2)",
    [ST_ALIAS_GET] = "SELECT ino FROM alias WHERE file_id = ?1",
    [ST_ALIAS_MOVE] = "UPDATE alias SET ino = ?2 WHERE ino = ?1",
    [ST_ALIAS_DEL] = "DELETE FROM alias WHERE file_id = ?1",
    [ST_ALIAS_OF] = "SELECT file_id FROM alias WHERE ino = ?1 ORDER BY file_id",
    [ST_AVER_PUT] = "INSERT OR REPLACE INTO aliasver(file_id, state) VALUES (?1, ?2)",
    [ST_AVER_GET] = "SELECT state FROM aliasver WHERE file_id = ?1",
    [ST_AVER_DEL] = "DELETE FROM aliasver WHERE file_id = ?1",
    [ST_AVER_LIST] = "SELECT file_id, state FROM aliasver ORDER BY file_id",
    [ST_HELD_PUT] = "INSERT OR REPLACE INTO held(file_id, hash) VALUES (?1, ?2)",
    [ST_HELD_GET] = "SELECT hash FROM held WHERE file_id = ?1",
    [ST_HELD_DEL] = "DELETE FROM held WHERE file_id = ?1",
    [ST_HELD_LIST] = "SELECT file_id, hash FROM held ORDER BY file_id",
    [ST_INODE_REKEY] = "UPDATE inode SET file_id = ?3 WHERE ino = ?1 AND file_id = ?2",
    [ST_BY_FILE_ID] = "SELECT ino FROM inode WHERE file_id = ?1",
    [ST_PACKIDX_GET] = "SELECT pack, off, len FROM packidx WHERE hash = ?1",
    [ST_PACKIDX_PUT] =
        "INSERT OR IGNORE INTO packidx(hash, pack, off, len) VALUES (?1, ?2, ?3, ?4)",
    [ST_PACKIDX_SET] =
        "INSERT OR REPLACE INTO packidx(hash, pack, off, len) VALUES (?1, ?2, ?3, ?4)",
};

struct index {
        sqlite3 *db;
        sqlite3_stmt *st[ST_COUNT];
        pthread_mutex_t lock;
        uint8_t *keys; /* secmem: K_attr(32) || K_name(32) || K_ename(32) */
        int64_t next_ino;
        int dirty;
        /* An open savepoint (index_savepoint): index_commit waits for it (under LOCK). */
        int sp_open;
        int lost;     /* a failed COMMIT was rolled back: memory is ahead of the index */
        uint64_t gen; /* successful COMMITs since open, plus 1 (index_commit_gen) */
        pthread_t sp_owner;
        pthread_cond_t sp_cond;
};

#define K_ATTR(ix) ((ix)->keys)
#define K_NAME(ix) ((ix)->keys + 32)
#define K_ENAME(ix) ((ix)->keys + 64)

static int index_exec(struct index *ix, const char *sql)
{
        char *msg = NULL;
        int rc = sqlite3_exec(ix->db, sql, NULL, NULL, &msg);

        if (rc != SQLITE_OK) {
                log_err("index: %s: %s", sql, msg ? msg : "?");
                sqlite3_free(msg);
                return (rc & 0xff) == SQLITE_FULL ? -ENOSPC : -EIO; /* D3: a full disk says so */
        }
        return 0;
}

static int index_derive_keys(struct index *ix, const uint8_t local_key[32],
                             const uint8_t region_id[32])
{
        ix->keys = secmem_alloc(96);
        if (ix->keys == NULL)
                return -ENOMEM;
        if (kdf_derive(K_ATTR(ix), 32, local_key, "index-attr", region_id, 32) != 0 ||
            kdf_derive(K_NAME(ix), 32, local_key, "index-name-hash", region_id, 32) != 0 ||
            kdf_derive(K_ENAME(ix), 32, local_key, "index-name", region_id, 32) != 0)
                return -EINVAL;
        return 0;
}

static void index_u64be(uint8_t out[8], uint64_t v)
{
        for (int i = 7; i >= 0; i--) {
                out[i] = (uint8_t)v;
                v >>= 8;
        }
}

static int index_hname(struct index *ix, uint64_t parent, const char *name, size_t len,
                       uint8_t out[INDEX_HNAME_LEN])
{
        uint8_t p[8];
        struct hash_part parts[2] = {{p, 8}, {name, len}};

        index_u64be(p, parent);
        return hash_parts(out, INDEX_HNAME_LEN, K_NAME(ix), 32, parts, 2);
}

/* AD of an entry's sealed name: hname || u64be(ino). */
static void index_entry_ad(const uint8_t h[INDEX_HNAME_LEN], uint64_t ino,
                           uint8_t ad[INDEX_HNAME_LEN + 8])
{
        memcpy(ad, h, INDEX_HNAME_LEN);
        index_u64be(ad + INDEX_HNAME_LEN, ino);
}

static int index_attr_ad(uint64_t ino, const uint8_t file_id[16], uint8_t ad[29])
{
        memcpy(ad, "inode", 5);
        index_u64be(ad + 5, ino);
        memcpy(ad + 13, file_id, 16);
        return 29;
}

static int index_create_tables(struct index *ix)
{
        return index_exec(
            ix, "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
                "CREATE TABLE IF NOT EXISTS inode(ino INTEGER PRIMARY KEY, "
                "  file_id BLOB NOT NULL UNIQUE, nlink INTEGER NOT NULL, "
                "attr BLOB NOT NULL, dirty INTEGER NOT NULL DEFAULT 0);"
                "CREATE TABLE IF NOT EXISTS dentry(parent INTEGER NOT NULL, "
                "  hname BLOB NOT NULL, ino INTEGER NOT NULL, ename BLOB NOT NULL);"
                "CREATE UNIQUE INDEX IF NOT EXISTS dentry_name ON dentry(parent, hname);"
                "CREATE INDEX IF NOT EXISTS dentry_parent ON dentry(parent);"
                "CREATE INDEX IF NOT EXISTS inode_orphan ON inode(nlink) WHERE nlink = 0;"
                "CREATE INDEX IF NOT EXISTS dentry_ino ON dentry(ino);"
                "CREATE INDEX IF NOT EXISTS inode_dirty ON inode(dirty) WHERE dirty <> 0;"
                "CREATE TABLE IF NOT EXISTS blockref(ino INTEGER NOT NULL, "
                "  idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY(ino, idx))"
                "  WITHOUT ROWID;"
                "CREATE TABLE IF NOT EXISTS tomb(file_id BLOB PRIMARY KEY, "
                "  state BLOB NOT NULL) WITHOUT ROWID;"
                "CREATE TABLE IF NOT EXISTS gone(file_id BLOB PRIMARY KEY, "
                "  state BLOB NOT NULL) WITHOUT ROWID;"
                "CREATE TABLE IF NOT EXISTS want(file_id BLOB PRIMARY KEY, "
                "  state BLOB NOT NULL) WITHOUT ROWID;"
                "CREATE TABLE IF NOT EXISTS alias(file_id BLOB PRIMARY KEY, "
                "  ino INTEGER NOT NULL) WITHOUT ROWID;"
                "CREATE INDEX IF NOT EXISTS alias_ino ON alias(ino);"
                "CREATE TABLE IF NOT EXISTS aliasver(file_id BLOB PRIMARY KEY, "
                "  state BLOB NOT NULL) WITHOUT ROWID;"
                "CREATE TABLE IF NOT EXISTS held(file_id BLOB PRIMARY KEY, "
                "  hash BLOB NOT NULL) WITHOUT ROWID;"
                "CREATE TABLE IF NOT EXISTS packidx(hash BLOB PRIMARY KEY, pack BLOB NOT NULL, "
                "  off INTEGER NOT NULL, len INTEGER NOT NULL) WITHOUT ROWID;"
                "CREATE TABLE IF NOT EXISTS alarm(id INTEGER PRIMARY KEY AUTOINCREMENT, "
                "  time INTEGER NOT NULL, kind TEXT NOT NULL, device TEXT NOT NULL, "
                "  seq INTEGER NOT NULL, object TEXT NOT NULL, detail TEXT NOT NULL, "
                "  holds INTEGER NOT NULL, cleared INTEGER NOT NULL DEFAULT 0);"
                "CREATE INDEX IF NOT EXISTS alarm_open ON alarm(kind, device, seq) "
                "  WHERE cleared = 0;");
}

/* Checks the schema version; a new index gets its version and root inode. */
static int index_init_root(struct index *ix, const uint8_t root_file_id[16],
                           const uint8_t *root_attr, size_t root_attr_len, int fresh)
{
        sqlite3_stmt *st = NULL;
        uint64_t ino;
        int version = 0, rc;

        if (sqlite3_prepare_v2(ix->db, "SELECT v FROM meta WHERE k = 'schema'", -1, &st, NULL) !=
            SQLITE_OK)
                return -EIO;
        if (sqlite3_step(st) == SQLITE_ROW)
                version = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
        if (version == INDEX_SCHEMA_VERSION)
                return 0;
        if (version != 0) {
                log_err("index: unsupported schema version %d", version);
                return -EBADMSG;
        }
        if (!fresh) {
                log_err("index: the schema row is missing from an existing index (damaged)");
                return -EUCLEAN;
        }
        rc = index_exec(ix, "INSERT INTO meta(k, v) VALUES ('schema', 1)");
        if (rc != 0)
                return rc;
        /* The root: ino 1, nlink 1 (it has no dentry but must never be purged). */
        ix->next_ino = INDEX_ROOT_INO;
        rc = index_inode_add(ix, root_file_id, 1, root_attr, root_attr_len, &ino);
        if (rc == 0 && ino != INDEX_ROOT_INO)
                rc = -EIO;
        return rc;
}

static int index_load_next_ino(struct index *ix)
{
        sqlite3_stmt *st = NULL;

        if (sqlite3_prepare_v2(ix->db, "SELECT max(ino) FROM inode", -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        ix->next_ino = 1;
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
                ix->next_ino = sqlite3_column_int64(st, 0) + 1;
        sqlite3_finalize(st);
        return 0;
}

/* PATH.created: written once the index exists (doc/SYNC.md D4). */
static int index_marker_path(const char *path, char *out, size_t cap)
{
        return (size_t)snprintf(out, cap, "%s.created", path) >= cap ? -ENAMETOOLONG : 0;
}

/* 1 if PATH's marker exists, 0 if not, or a negative errno. */
static int index_marker_exists(const char *path)
{
        char m[4096];
        struct stat st;
        int rc = index_marker_path(path, m, sizeof(m));

        if (rc != 0)
                return rc;
        if (stat(m, &st) == 0)
                return 1;
        return errno == ENOENT ? 0 : -errno;
}

/* Creates PATH's marker (durably) if it is missing. */
static int index_marker_make(const char *path)
{
        char m[4096];
        int fd, rc = index_marker_path(path, m, sizeof(m));

        if (rc != 0)
                return rc;
        fd = open(m, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        rc = fsync(fd) != 0 ? -errno : 0;
        close(fd);
        return rc;
}

/* Number of schema objects in the database (0: a new, empty file), or -EUCLEAN. */
static int index_count_objects(struct index *ix, int *n)
{
        sqlite3_stmt *st = NULL;
        int rc;

        rc = sqlite3_prepare_v2(ix->db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL);
        if (rc == SQLITE_OK)
                rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
                *n = sqlite3_column_int(st, 0);
        if (rc != SQLITE_ROW)
                log_err("index: cannot read the database: %s", sqlite3_errmsg(ix->db));
        sqlite3_finalize(st);
        return rc == SQLITE_ROW ? 0 : -EUCLEAN;
}

/* 0 if SQLite's quick_check finds the database intact, else -EUCLEAN (logged). */
static int index_quick_check(struct index *ix)
{
        sqlite3_stmt *st = NULL;
        const unsigned char *v;
        int rc, good = 0;

        rc = sqlite3_prepare_v2(ix->db, "PRAGMA quick_check(1)", -1, &st, NULL);
        if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
                v = sqlite3_column_text(st, 0);
                good = v != NULL && strcmp((const char *)v, "ok") == 0;
                if (!good)
                        log_err("index: integrity check failed: %s", v ? (const char *)v : "?");
        } else {
                log_err("index: integrity check cannot run: %s", sqlite3_errmsg(ix->db));
        }
        sqlite3_finalize(st);
        return good ? 0 : -EUCLEAN;
}

/*
 * D4: an index that existed before (its marker is there) and is now empty,
 * or one that is unreadable, fails its integrity check or lacks its schema
 * row, is -EUCLEAN: never silently replaced by an empty region.  *FRESH is
 * set when the file is new (no marker, no tables).
 */
static int index_check_existing(struct index *ix, const char *path, int *fresh)
{
        int n = 0, marker, rc;

        rc = index_count_objects(ix, &n);
        if (rc != 0)
                return rc;
        marker = index_marker_exists(path);
        if (marker < 0)
                return marker;
        *fresh = n == 0;
        if (n == 0 && marker) {
                log_err("index: %s is empty or missing, but this region's index was created "
                        "before (%s.created)",
                        path, path);
                return -EUCLEAN;
        }
        return n == 0 ? 0 : index_quick_check(ix);
}

int index_open(struct index **out, const char *path, const uint8_t local_key[static 32],
               const uint8_t region_id[static 32], const uint8_t root_file_id[static 16],
               const uint8_t *root_attr, size_t root_attr_len)
{
        struct index *ix;
        int rc, i, fresh = 0;

        ix = calloc(1, sizeof(*ix));
        if (ix == NULL)
                return -ENOMEM;
        ix->gen = 1;
        pthread_mutex_init(&ix->lock, NULL);
        pthread_cond_init(&ix->sp_cond, NULL);
        rc = index_derive_keys(ix, local_key, region_id);
        if (rc != 0)
                goto fail;
        rc = index_marker_exists(path);
        if (rc < 0)
                goto fail;
        /* D4: an index that existed is never created anew (missing: refused below). */
        if (sqlite3_open_v2(path, &ix->db,
                            SQLITE_OPEN_READWRITE | (rc ? 0 : SQLITE_OPEN_CREATE) |
                                SQLITE_OPEN_NOMUTEX,
                            NULL) != SQLITE_OK) {
                if (rc == 1) {
                        log_err("index: %s is missing, but this region's index was created "
                                "before (%s.created)",
                                path, path);
                        rc = -EUCLEAN;
                        goto fail;
                }
                log_err("index: cannot open %s: %s", path,
                        ix->db ? sqlite3_errmsg(ix->db) : "out of memory");
                rc = -EIO;
                goto fail;
        }
        sqlite3_extended_result_codes(ix->db, 1);
        rc = index_check_existing(ix, path, &fresh);
        if (rc != 0)
                goto fail;
        rc = index_exec(ix, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                            "PRAGMA secure_delete=ON; PRAGMA foreign_keys=OFF;");
        if (rc != 0)
                goto fail;
        rc = index_exec(ix, "BEGIN IMMEDIATE");
        if (rc == 0)
                rc = index_create_tables(ix);
        for (i = 0; i < ST_COUNT && rc == 0; i++) {
                if (sqlite3_prepare_v3(ix->db, index_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                       &ix->st[i], NULL) != SQLITE_OK) {
                        log_err("index: prepare: %s", sqlite3_errmsg(ix->db));
                        rc = -EIO;
                }
        }
        if (rc == 0)
                rc = index_init_root(ix, root_file_id, root_attr, root_attr_len, fresh);
        if (rc == 0)
                rc = index_load_next_ino(ix);
        if (rc == 0)
                rc = index_exec(ix, "COMMIT; BEGIN IMMEDIATE");
        if (rc == 0)
                rc = index_marker_make(path); /* also for indexes made before the marker */
        if (rc != 0)
                goto fail;
        *out = ix;
        return 0;
fail:
        for (i = 0; i < ST_COUNT; i++)
                sqlite3_finalize(ix->st[i]);
        sqlite3_close(ix->db);
        secmem_free(ix->keys);
        pthread_cond_destroy(&ix->sp_cond);
        pthread_mutex_destroy(&ix->lock);
        free(ix);
        return rc;
}

int index_close(struct index *ix)
{
        int rc = 0, i;

        if (ix == NULL)
                return 0;
        pthread_mutex_lock(&ix->lock);
        if (index_exec(ix, "COMMIT") != 0)
                rc = -EIO;
        pthread_mutex_unlock(&ix->lock);
        for (i = 0; i < ST_COUNT; i++)
                sqlite3_finalize(ix->st[i]);
        if (sqlite3_close(ix->db) != SQLITE_OK)
                rc = -EIO;
        secmem_free(ix->keys);
        pthread_cond_destroy(&ix->sp_cond);
        pthread_mutex_destroy(&ix->lock);
        free(ix);
        return rc;
}

void index_abandon(struct index *ix)
{
        int i;

        if (ix == NULL)
                return;
        pthread_mutex_lock(&ix->lock);
        if (index_exec(ix, "ROLLBACK") != 0)
                log_warn("index: rollback at abandon failed");
        pthread_mutex_unlock(&ix->lock);
        for (i = 0; i < ST_COUNT; i++)
                sqlite3_finalize(ix->st[i]);
        if (sqlite3_close(ix->db) != SQLITE_OK)
                log_warn("index: close at abandon failed");
        secmem_free(ix->keys);
        pthread_cond_destroy(&ix->sp_cond);
        pthread_mutex_destroy(&ix->lock);
        free(ix);
}

int index_commit(struct index *ix)
{
        int rc;

        pthread_mutex_lock(&ix->lock);
        if (ix->sp_open && pthread_equal(ix->sp_owner, pthread_self())) {
                pthread_mutex_unlock(&ix->lock);
                log_err("index: commit requested inside this thread's own savepoint");
                return -EDEADLK;
        }
        /* A COMMIT now would end the savepoint under its owner (RELEASE would then fail). */
        while (ix->sp_open)
                pthread_cond_wait(&ix->sp_cond, &ix->lock);
        rc = index_exec(ix, "COMMIT");
        if (rc == 0) {
                ix->dirty = 0;
                ix->gen++;
        }
        if (rc != 0 && !sqlite3_get_autocommit(ix->db)) {
                /* The transaction is still open: a later commit retries it (D3). */
                pthread_mutex_unlock(&ix->lock);
                return rc;
        }
        if (rc != 0) {
                log_err("index: SQLite rolled back the open transaction after a failed commit: "
                        "changes since the last commit are lost from the index");
                ix->lost = 1;
        }
        if (index_exec(ix, "BEGIN IMMEDIATE") != 0 && rc == 0)
                rc = -EIO;
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_lost(struct index *ix)
{
        int l;

        pthread_mutex_lock(&ix->lock);
        l = ix->lost;
        pthread_mutex_unlock(&ix->lock);
        return l;
}

uint64_t index_commit_gen(struct index *ix)
{
        uint64_t g;

        pthread_mutex_lock(&ix->lock);
        g = ix->gen;
        pthread_mutex_unlock(&ix->lock);
        return g;
}

int index_dirty(struct index *ix)
{
        int d;

        pthread_mutex_lock(&ix->lock);
        d = ix->dirty;
        pthread_mutex_unlock(&ix->lock);
        return d;
}

/* Runs a prepared statement that returns no rows; resets it.  Caller holds the lock. */
static int index_step_done(struct index *ix, sqlite3_stmt *st)
{
        int rc = sqlite3_step(st);

        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (rc == SQLITE_DONE) {
                ix->dirty = 1;
                return 0;
        }
        if ((rc & 0xff) == SQLITE_CONSTRAINT)
                return -EEXIST;
        if ((rc & 0xff) == SQLITE_FULL)
                return -ENOSPC;
        log_err("index: %s", sqlite3_errmsg(ix->db));
        return -EIO;
}

static int index_seal_attr(struct index *ix, uint64_t ino, const uint8_t file_id[16],
                           const uint8_t *attr, size_t len, uint8_t **out)
{
        uint8_t ad[29];
        uint8_t *sealed;
        int rc;

        if (len > INDEX_ATTR_MAX)
                return -EFBIG;
        sealed = malloc(len + AEAD_OVERHEAD);
        if (sealed == NULL)
                return -ENOMEM;
        index_attr_ad(ino, file_id, ad);
        rc = aead_seal(sealed, K_ATTR(ix), ad, sizeof(ad), attr, len);
        if (rc != 0) {
                free(sealed);
                return rc;
        }
        *out = sealed;
        return 0;
}

int index_inode_get(struct index *ix, uint64_t ino, uint8_t file_id[static 16], uint32_t *nlink,
                    uint8_t **attr, size_t *attr_len)
{
        sqlite3_stmt *st = ix->st[ST_INODE_GET];
        uint8_t fid[16], ad[29];
        const uint8_t *blob;
        uint8_t *plain = NULL;
        size_t blen, plen = 0;
        uint32_t nl = 0;
        int rc;

        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
                rc = rc == SQLITE_DONE ? -ENOENT : -EIO;
                goto out;
        }
        blob = sqlite3_column_blob(st, 0);
        if (blob == NULL || sqlite3_column_bytes(st, 0) != 16) {
                rc = -EBADMSG;
                goto out;
        }
        memcpy(fid, blob, 16);
        nl = (uint32_t)sqlite3_column_int64(st, 1);
        blob = sqlite3_column_blob(st, 2);
        blen = (size_t)sqlite3_column_bytes(st, 2);
        if (blob == NULL || blen < AEAD_OVERHEAD || blen > INDEX_ATTR_MAX + AEAD_OVERHEAD) {
                rc = -EBADMSG;
                goto out;
        }
        plen = blen - AEAD_OVERHEAD;
        plain = malloc(plen ? plen : 1);
        if (plain == NULL) {
                rc = -ENOMEM;
                goto out;
        }
        index_attr_ad(ino, fid, ad);
        rc = aead_open(plain, K_ATTR(ix), ad, sizeof(ad), blob, blen);
        if (rc != 0) {
                log_err("index: inode %llu: attributes fail authentication",
                        (unsigned long long)ino);
                free(plain);
                plain = NULL;
                rc = -EBADMSG;
        }
out:
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        pthread_mutex_unlock(&ix->lock);
        if (rc == 0) {
                memcpy(file_id, fid, 16);
                *nlink = nl;
                *attr = plain;
                *attr_len = plen;
        }
        return rc;
}

static int index_inode_write(struct index *ix, enum index_stmt which, uint64_t ino,
                             const uint8_t file_id[16], uint32_t nlink, const uint8_t *attr,
                             size_t len)
{
        sqlite3_stmt *st = ix->st[which];
        uint8_t *sealed = NULL;
        int rc;

        rc = index_seal_attr(ix, ino, file_id, attr, len, &sealed);
        if (rc != 0)
                return rc;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
        sqlite3_bind_blob(st, 2, file_id, 16, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, nlink);
        sqlite3_bind_blob(st, 4, sealed, (int)(len + AEAD_OVERHEAD), SQLITE_STATIC);
        rc = index_step_done(ix, st);
        if (rc == 0 && which == ST_INODE_UPDATE && sqlite3_changes(ix->db) != 1)
                rc = -ENOENT;
        free(sealed);
        return rc;
}

int index_inode_add(struct index *ix, const uint8_t file_id[static 16], uint32_t nlink,
                    const uint8_t *attr, size_t attr_len, uint64_t *ino)
{
        uint64_t n;
        int rc;

        pthread_mutex_lock(&ix->lock);
        n = (uint64_t)ix->next_ino;
        rc = index_inode_write(ix, ST_INODE_ADD, n, file_id, nlink, attr, attr_len);
        if (rc == 0) {
                ix->next_ino++;
                *ino = n;
        }
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_inode_update(struct index *ix, uint64_t ino, const uint8_t file_id[static 16],
                       uint32_t nlink, const uint8_t *attr, size_t attr_len)
{
        int rc;

        pthread_mutex_lock(&ix->lock);
        rc = index_inode_write(ix, ST_INODE_UPDATE, ino, file_id, nlink, attr, attr_len);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_inode_delete(struct index *ix, uint64_t ino)
{
        sqlite3_stmt *st = ix->st[ST_INODE_DELETE];
        sqlite3_stmt *refs = ix->st[ST_REF_TRUNC];
        int rc;

        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
        rc = index_step_done(ix, st);
        if (rc == 0) {
                sqlite3_bind_int64(refs, 1, (sqlite3_int64)ino);
                sqlite3_bind_int64(refs, 2, 0);
                rc = index_step_done(ix, refs);
        }
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_lookup(struct index *ix, uint64_t parent, const char *name, size_t len, uint64_t *ino)
{
        sqlite3_stmt *st = ix->st[ST_LOOKUP];
        uint8_t h[INDEX_HNAME_LEN];
        int rc;

        if (len > INDEX_NAME_MAX)
                return -ENAMETOOLONG;
        pthread_mutex_lock(&ix->lock);
        rc = index_hname(ix, parent, name, len, h);
        if (rc != 0)
                goto out;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)parent);
        sqlite3_bind_blob(st, 2, h, sizeof(h), SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                uint64_t found = (uint64_t)sqlite3_column_int64(st, 0);
                const uint8_t *e = sqlite3_column_blob(st, 1);
                size_t elen = (size_t)sqlite3_column_bytes(st, 1);
                uint8_t plain[1 + INDEX_NAME_MAX], ad[INDEX_HNAME_LEN + 8];

                index_entry_ad(h, found, ad);
                rc = -EIO;
                if (e != NULL && elen == len + 1 + AEAD_OVERHEAD &&
                    aead_open(plain, K_ENAME(ix), ad, sizeof(ad), e, elen) == 0 &&
                    memcmp(plain + 1, name, len) == 0) {
                        *ino = found;
                        rc = 0;
                } else {
                        log_err("index: directory %llu: an entry fails authentication",
                                (unsigned long long)parent);
                }
                secmem_wipe(plain, sizeof(plain));
        } else {
                rc = rc == SQLITE_DONE ? -ENOENT : -EIO;
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
out:
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_link(struct index *ix, uint64_t parent, const char *name, size_t len, uint64_t ino,
               uint8_t type)
{
        sqlite3_stmt *st = ix->st[ST_LINK];
        uint8_t h[INDEX_HNAME_LEN];
        uint8_t plain[1 + INDEX_NAME_MAX];
        uint8_t ename[1 + INDEX_NAME_MAX + AEAD_OVERHEAD];
        int rc;

        if (len == 0 || len > INDEX_NAME_MAX)
                return -ENAMETOOLONG;
        plain[0] = type;
        memcpy(plain + 1, name, len);
        pthread_mutex_lock(&ix->lock);
        rc = index_hname(ix, parent, name, len, h);
        if (rc == 0) {
                uint8_t ad[INDEX_HNAME_LEN + 8];

                index_entry_ad(h, ino, ad);
                rc = aead_seal(ename, K_ENAME(ix), ad, sizeof(ad), plain, len + 1);
        }
        secmem_wipe(plain, sizeof(plain));
        if (rc != 0)
                goto out;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)parent);
        sqlite3_bind_blob(st, 2, h, sizeof(h), SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)ino);
        sqlite3_bind_blob(st, 4, ename, (int)(len + 1 + AEAD_OVERHEAD), SQLITE_STATIC);
        rc = index_step_done(ix, st);
out:
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_unlink(struct index *ix, uint64_t parent, const char *name, size_t len)
{
        sqlite3_stmt *st = ix->st[ST_UNLINK];
        uint8_t h[INDEX_HNAME_LEN];
        int rc;

        if (len > INDEX_NAME_MAX)
                return -ENAMETOOLONG;
        pthread_mutex_lock(&ix->lock);
        rc = index_hname(ix, parent, name, len, h);
        if (rc == 0) {
                sqlite3_bind_int64(st, 1, (sqlite3_int64)parent);
                sqlite3_bind_blob(st, 2, h, sizeof(h), SQLITE_STATIC);
                rc = index_step_done(ix, st);
                if (rc == 0 && sqlite3_changes(ix->db) != 1)
                        rc = -ENOENT;
        }
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_dir_empty(struct index *ix, uint64_t dir)
{
        sqlite3_stmt *st = ix->st[ST_DIR_ANY];
        int rc;

        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)dir);
        rc = sqlite3_step(st);
        rc = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? 1 : -EIO;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_readdir(struct index *ix, uint64_t dir, int64_t after, index_dir_cb cb, void *arg)
{
        sqlite3_stmt *st = ix->st[ST_READDIR];
        char name[1 + INDEX_NAME_MAX + 1];
        int rc = 0;

        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)dir);
        sqlite3_bind_int64(st, 2, after);
        for (;;) {
                const uint8_t *h, *e;
                size_t elen;
                int step = sqlite3_step(st);

                if (step == SQLITE_DONE)
                        break;
                if (step != SQLITE_ROW) {
                        rc = -EIO;
                        break;
                }
                uint64_t child = (uint64_t)sqlite3_column_int64(st, 1);
                uint8_t ad[INDEX_HNAME_LEN + 8], hcheck[INDEX_HNAME_LEN];

                h = sqlite3_column_blob(st, 2);
                e = sqlite3_column_blob(st, 3);
                elen = (size_t)sqlite3_column_bytes(st, 3);
                if (h != NULL && sqlite3_column_bytes(st, 2) == INDEX_HNAME_LEN)
                        index_entry_ad(h, child, ad);
                if (h == NULL || sqlite3_column_bytes(st, 2) != INDEX_HNAME_LEN || e == NULL ||
                    elen <= AEAD_OVERHEAD + 1 || elen > 1 + INDEX_NAME_MAX + AEAD_OVERHEAD ||
                    aead_open((uint8_t *)name, K_ENAME(ix), ad, sizeof(ad), e, elen) != 0 ||
                    index_hname(ix, dir, name + 1, elen - AEAD_OVERHEAD - 1, hcheck) != 0 ||
                    memcmp(hcheck, h, INDEX_HNAME_LEN) != 0) {
                        log_err("index: directory %llu: an entry fails authentication",
                                (unsigned long long)dir);
                        rc = -EIO;
                        break;
                }
                name[elen - AEAD_OVERHEAD] = '\0';
                rc = cb(arg, sqlite3_column_int64(st, 0), child, (uint8_t)name[0], name + 1,
                        elen - AEAD_OVERHEAD - 1);
                if (rc != 0) {
                        if (rc == 1)
                                rc = 0;
                        break;
                }
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        pthread_mutex_unlock(&ix->lock);
        secmem_wipe(name, sizeof(name));
        return rc;
}

int index_for_each_orphan(struct index *ix,
                          int (*cb)(void *arg, uint64_t ino, const uint8_t *file_id), void *arg)
{
        sqlite3_stmt *st = ix->st[ST_ORPHANS];
        uint64_t *inos = NULL;
        uint8_t *fids = NULL;
        size_t n = 0, cap = 0, i;
        int rc = 0;

        /* Collect first: CB may modify the table. */
        pthread_mutex_lock(&ix->lock);
        while (sqlite3_step(st) == SQLITE_ROW) {
                if (sqlite3_column_bytes(st, 1) != 16)
                        continue;
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        uint64_t *ni = realloc(inos, ncap * sizeof(*ni));
                        uint8_t *nf;

                        if (ni == NULL) {
                                rc = -ENOMEM;
                                break;
                        }
                        inos = ni;
                        nf = realloc(fids, ncap * 16);
                        if (nf == NULL) {
                                rc = -ENOMEM;
                                break;
                        }
                        fids = nf;
                        cap = ncap;
                }
                inos[n] = (uint64_t)sqlite3_column_int64(st, 0);
                memcpy(fids + 16 * n, sqlite3_column_blob(st, 1), 16);
                n++;
        }
        sqlite3_reset(st);
        pthread_mutex_unlock(&ix->lock);
        for (i = 0; i < n && rc == 0; i++)
                rc = cb(arg, inos[i], fids + 16 * i);
        free(inos);
        free(fids);
        return rc;
}

int index_has_file_id(struct index *ix, const uint8_t file_id[static 16])
{
        sqlite3_stmt *st = ix->st[ST_HAS_FILE_ID];
        int rc;

        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_blob(st, 1, file_id, 16, SQLITE_STATIC);
        rc = sqlite3_step(st);
        rc = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -EIO;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_name_of(struct index *ix, uint64_t ino, uint64_t *parent,
                  char name[static INDEX_NAME_MAX + 1], size_t *len, uint8_t *type)
{
        sqlite3_stmt *st = ix->st[ST_NAME_OF];
        uint8_t plain[1 + INDEX_NAME_MAX], ad[INDEX_HNAME_LEN + 8], hcheck[INDEX_HNAME_LEN];
        const uint8_t *h, *e;
        size_t elen, nlen;
        uint64_t p;
        int rc;

        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
                rc = rc == SQLITE_DONE ? -ENOENT : -EIO;
                goto out;
        }
        p = (uint64_t)sqlite3_column_int64(st, 0);
        h = sqlite3_column_blob(st, 1);
        e = sqlite3_column_blob(st, 2);
        elen = (size_t)sqlite3_column_bytes(st, 2);
        rc = -EIO;
        if (h == NULL || sqlite3_column_bytes(st, 1) != INDEX_HNAME_LEN || e == NULL ||
            elen <= AEAD_OVERHEAD + 1 || elen > 1 + INDEX_NAME_MAX + AEAD_OVERHEAD)
                goto bad;
        index_entry_ad(h, ino, ad);
        if (aead_open(plain, K_ENAME(ix), ad, sizeof(ad), e, elen) != 0)
                goto bad;
        nlen = elen - AEAD_OVERHEAD - 1;
        if (index_hname(ix, p, (const char *)plain + 1, nlen, hcheck) != 0 ||
            memcmp(hcheck, h, INDEX_HNAME_LEN) != 0)
                goto bad;
        /* Invariant 1: a file or directory has exactly one name. */
        if (sqlite3_step(st) == SQLITE_ROW)
                goto bad;
        memcpy(name, plain + 1, nlen);
        name[nlen] = '\0';
        *len = nlen;
        *parent = p;
        *type = plain[0];
        rc = 0;
        goto out;
bad:
        log_err("index: inode %llu: its directory entry fails authentication",
                (unsigned long long)ino);
out:
        secmem_wipe(plain, sizeof(plain));
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_set_dirty(struct index *ix, uint64_t ino, int dirty)
{
        sqlite3_stmt *st = ix->st[ST_SET_DIRTY];
        int rc;

        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
        sqlite3_bind_int(st, 2, dirty ? 1 : 0);
        rc = index_step_done(ix, st);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

/*
 * Calls CB for each ino statement ST yields, collected first: CB may change
 * the table.  A statement with two parameters gets AFTER and LIMIT; *NOUT
 * (if not NULL) the number of inos found, *LAST (if not NULL) the last.
 */
static int index_for_each_ino(struct index *ix, sqlite3_stmt *st, uint64_t after, size_t limit,
                              int (*cb)(void *arg, uint64_t ino), void *arg, size_t *nout,
                              uint64_t *last)
{
        uint64_t *inos = NULL;
        size_t n = 0, cap = 0, i;
        int rc = 0, step;

        pthread_mutex_lock(&ix->lock);
        if (sqlite3_bind_parameter_count(st) == 2) {
                sqlite3_bind_int64(st, 1, (sqlite3_int64)after);
                sqlite3_bind_int64(st, 2, (sqlite3_int64)limit);
        }
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                if (n == cap) {
                        size_t ncap = cap ? cap * 2 : 64;
                        uint64_t *ni = realloc(inos, ncap * sizeof(*ni));

                        if (ni == NULL) {
                                rc = -ENOMEM;
                                break;
                        }
                        inos = ni;
                        cap = ncap;
                }
                inos[n++] = (uint64_t)sqlite3_column_int64(st, 0);
        }
        if (rc == 0 && step != SQLITE_ROW && step != SQLITE_DONE)
                rc = -EIO;
        sqlite3_reset(st);
        pthread_mutex_unlock(&ix->lock);
        if (rc == 0 && nout != NULL)
                *nout = n;
        if (rc == 0 && last != NULL)
                *last = n > 0 ? inos[n - 1] : after;
        for (i = 0; i < n && rc == 0; i++)
                rc = cb(arg, inos[i]);
        free(inos);
        return rc;
}

int index_for_each_dirty(struct index *ix, int (*cb)(void *arg, uint64_t ino), void *arg)
{
        return index_for_each_ino(ix, ix->st[ST_DIRTY], 0, 0, cb, arg, NULL, NULL);
}

int index_for_each_dirty_after(struct index *ix, uint64_t after, size_t max,
                               int (*cb)(void *arg, uint64_t ino), void *arg, uint64_t *last,
                               int *more)
{
        size_t n = 0;
        uint64_t l = after;
        int rc;

        if (max == 0 || max > INT64_MAX || after > INT64_MAX)
                return -EINVAL;
        rc = index_for_each_ino(ix, ix->st[ST_DIRTY_AFTER], after, max, cb, arg, &n, &l);
        if (rc == 0) {
                *last = l;
                *more = n == max;
        }
        return rc;
}

int index_for_each_live(struct index *ix, int (*cb)(void *arg, uint64_t ino), void *arg)
{
        return index_for_each_ino(ix, ix->st[ST_LIVE], 0, 0, cb, arg, NULL, NULL);
}

/* Steps ST (bound, ix->lock held) for one row of one 32-byte column into OUT: 0, -ENOENT or
 * -EIO; ST is reset and its bindings cleared. */
static int index_row_hash32(sqlite3_stmt *st, uint8_t out[32])
{
        int rc = sqlite3_step(st);

        if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32) {
                memcpy(out, sqlite3_column_blob(st, 0), 32);
                rc = 0;
        } else {
                rc = rc == SQLITE_DONE ? -ENOENT : -EIO;
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return rc;
}

int index_blockref_get(struct index *ix, uint64_t ino, uint64_t idx, uint8_t hash[static 32])
{
        sqlite3_stmt *st = ix->st[ST_REF_GET];
        int rc;

        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)idx);
        rc = index_row_hash32(st, hash);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_blockref_put(struct index *ix, uint64_t ino, uint64_t idx, const uint8_t hash[static 32])
{
        sqlite3_stmt *st = ix->st[ST_REF_PUT];
        int rc;

        if (idx > (uint64_t)INT64_MAX)
                return -EFBIG;
        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)idx);
        sqlite3_bind_blob(st, 3, hash, 32, SQLITE_STATIC);
        rc = index_step_done(ix, st);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_blockref_truncate(struct index *ix, uint64_t ino, uint64_t from)
{
        sqlite3_stmt *st = ix->st[ST_REF_TRUNC];
        int rc;

        if (from > (uint64_t)INT64_MAX)
                return 0;
        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)from);
        rc = index_step_done(ix, st);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

/* Seals STATE for FILE_ID (AD = TAG[4] || file_id) into the table of statement WHICH. */
static int index_sealed_put(struct index *ix, enum index_stmt which, const char *tag,
                            const uint8_t file_id[16], const uint8_t *state, size_t len)
{
        sqlite3_stmt *st = ix->st[which];
        uint8_t ad[20], *sealed;
        int rc;

        if (len > INDEX_ATTR_MAX)
                return -EFBIG;
        sealed = malloc(len + AEAD_OVERHEAD);
        if (sealed == NULL)
                return -ENOMEM;
        memcpy(ad, tag, 4);
        memcpy(ad + 4, file_id, 16);
        rc = aead_seal(sealed, K_ATTR(ix), ad, sizeof(ad), state, len);
        if (rc == 0) {
                pthread_mutex_lock(&ix->lock);
                sqlite3_bind_blob(st, 1, file_id, 16, SQLITE_STATIC);
                sqlite3_bind_blob(st, 2, sealed, (int)(len + AEAD_OVERHEAD), SQLITE_STATIC);
                rc = index_step_done(ix, st);
                pthread_mutex_unlock(&ix->lock);
        }
        free(sealed);
        return rc;
}

/* Runs statement WHICH (a DELETE ... WHERE file_id = ?1) for FILE_ID. */
static int index_by_id_del(struct index *ix, enum index_stmt which, const uint8_t file_id[16])
{
        sqlite3_stmt *st = ix->st[which];
        int rc;

        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_blob(st, 1, file_id, 16, SQLITE_STATIC);
        rc = index_step_done(ix, st);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_tomb_add(struct index *ix, const uint8_t file_id[static 16], const uint8_t *state,
                   size_t len)
{
        return index_sealed_put(ix, ST_TOMB_ADD, "tomb", file_id, state, len);
}

/* CB for every row of the sealed table listed by statement ST (AD label LABEL, 4 bytes). */
static int index_sealed_list(struct index *ix, int stmt, const char *label,
                             int (*cb)(void *arg, const uint8_t *file_id, const uint8_t *state,
                                       size_t len),
                             void *arg)
{
        sqlite3_stmt *st = ix->st[stmt];
        int rc = 0, step;

        /* CB must not modify the index (the statement is live). */
        pthread_mutex_lock(&ix->lock);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                const uint8_t *fid = sqlite3_column_blob(st, 0);
                const uint8_t *blob = sqlite3_column_blob(st, 1);
                size_t blen = (size_t)sqlite3_column_bytes(st, 1);
                uint8_t ad[20], *plain;

                if (sqlite3_column_bytes(st, 0) != 16 || blob == NULL || blen < AEAD_OVERHEAD ||
                    blen > INDEX_ATTR_MAX + AEAD_OVERHEAD) {
                        rc = -EIO;
                        break;
                }
                plain = malloc(blen - AEAD_OVERHEAD + 1);
                if (plain == NULL) {
                        rc = -ENOMEM;
                        break;
                }
                memcpy(ad, label, 4);
                memcpy(ad + 4, fid, 16);
                rc = aead_open(plain, K_ATTR(ix), ad, sizeof(ad), blob, blen);
                if (rc == 0)
                        rc = cb(arg, fid, plain, blen - AEAD_OVERHEAD);
                else
                        log_err("index: a deletion record (%s) fails authentication", label);
                secmem_wipe(plain, blen - AEAD_OVERHEAD);
                free(plain);
                if (rc != 0)
                        break;
        }
        if (rc == 0 && step != SQLITE_DONE)
                rc = -EIO;
        sqlite3_reset(st);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_for_each_tomb(struct index *ix,
                        int (*cb)(void *arg, const uint8_t *file_id, const uint8_t *state,
                                  size_t len),
                        void *arg)
{
        return index_sealed_list(ix, ST_TOMB_LIST, "tomb", cb, arg);
}

int index_for_each_gone(struct index *ix,
                        int (*cb)(void *arg, const uint8_t *file_id, const uint8_t *state,
                                  size_t len),
                        void *arg)
{
        return index_sealed_list(ix, ST_GONE_LIST, "gone", cb, arg);
}

int index_tomb_remove(struct index *ix, const uint8_t file_id[static 16])
{
        return index_by_id_del(ix, ST_TOMB_DEL, file_id);
}

int index_meta_get(struct index *ix, const char *key, uint8_t *buf, size_t cap, size_t *len)
{
        sqlite3_stmt *st = NULL;
        int rc;

        pthread_mutex_lock(&ix->lock);
        if (sqlite3_prepare_v2(ix->db, "SELECT v FROM meta WHERE k = ?1", -1, &st, NULL) !=
            SQLITE_OK) {
                rc = -EIO;
                goto out;
        }
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                size_t n = (size_t)sqlite3_column_bytes(st, 0);

                rc = n > cap ? -EFBIG : 0;
                if (rc == 0) {
                        if (n > 0)
                                memcpy(buf, sqlite3_column_blob(st, 0), n);
                        *len = n;
                }
        } else {
                rc = rc == SQLITE_DONE ? -ENOENT : -EIO;
        }
out:
        sqlite3_finalize(st);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_meta_put(struct index *ix, const char *key, const uint8_t *buf, size_t len)
{
        sqlite3_stmt *st = NULL;
        int rc;

        pthread_mutex_lock(&ix->lock);
        if (sqlite3_prepare_v2(ix->db, "INSERT OR REPLACE INTO meta(k, v) VALUES (?1, ?2)", -1, &st,
                               NULL) != SQLITE_OK) {
                rc = -EIO;
        } else {
                sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
                sqlite3_bind_blob(st, 2, len ? (const void *)buf : "", (int)len, SQLITE_STATIC);
                rc = index_step_done(ix, st);
        }
        sqlite3_finalize(st);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_meta_del(struct index *ix, const char *key)
{
        sqlite3_stmt *st = NULL;
        int rc;

        pthread_mutex_lock(&ix->lock);
        if (sqlite3_prepare_v2(ix->db, "DELETE FROM meta WHERE k = ?1", -1, &st, NULL) !=
            SQLITE_OK) {
                rc = -EIO;
        } else {
                sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
                rc = index_step_done(ix, st);
        }
        sqlite3_finalize(st);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_ino_by_file_id(struct index *ix, const uint8_t file_id[static 16], uint64_t *ino)
{
        sqlite3_stmt *st = ix->st[ST_BY_FILE_ID];
        int rc;

        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_blob(st, 1, file_id, 16, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                *ino = (uint64_t)sqlite3_column_int64(st, 0);
                rc = 0;
        } else {
                rc = rc == SQLITE_DONE ? -ENOENT : -EIO;
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

/* Statement STMT (put or set) for record HASH in PACK at [OFF, OFF+LEN). */
static int index_packidx_write(struct index *ix, int stmt, const uint8_t hash[static 32],
                               const uint8_t pack[static 32], uint64_t off, uint32_t len)
{
        sqlite3_stmt *st = ix->st[stmt];
        int rc;

        if (off > (uint64_t)INT64_MAX)
                return -EINVAL;
        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, pack, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)off);
        sqlite3_bind_int64(st, 4, len);
        rc = index_step_done(ix, st);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_packidx_put(struct index *ix, const uint8_t hash[static 32],
                      const uint8_t pack[static 32], uint64_t off, uint32_t len)
{
        return index_packidx_write(ix, ST_PACKIDX_PUT, hash, pack, off, len);
}

int index_packidx_set(struct index *ix, const uint8_t hash[static 32],
                      const uint8_t pack[static 32], uint64_t off, uint32_t len)
{
        return index_packidx_write(ix, ST_PACKIDX_SET, hash, pack, off, len);
}

int index_packidx_get(struct index *ix, const uint8_t hash[static 32], uint8_t pack[static 32],
                      uint64_t *off, uint32_t *len)
{
        sqlite3_stmt *st = ix->st[ST_PACKIDX_GET];
        int rc;

        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_blob(st, 1, hash, 32, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 32 &&
            sqlite3_column_int64(st, 1) >= 0 && sqlite3_column_int64(st, 2) >= 0 &&
            sqlite3_column_int64(st, 2) <= UINT32_MAX) {
                memcpy(pack, sqlite3_column_blob(st, 0), 32);
                *off = (uint64_t)sqlite3_column_int64(st, 1);
                *len = (uint32_t)sqlite3_column_int64(st, 2);
                rc = 0;
        } else {
                rc = rc == SQLITE_DONE ? -ENOENT : -EIO;
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

/* The sealed state of FILE_ID by statement WHICH (AD tag TAG[4]), opened into *STATE. */
static int index_sealed_get(struct index *ix, enum index_stmt which, const char *tag,
                            const uint8_t file_id[16], uint8_t **state, size_t *len)
{
        sqlite3_stmt *st = ix->st[which];
        uint8_t ad[20], *plain = NULL;
        const uint8_t *blob;
        size_t blen;
        int rc;

        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_blob(st, 1, file_id, 16, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc != SQLITE_ROW) {
                rc = rc == SQLITE_DONE ? -ENOENT : -EIO;
                goto out;
        }
        blob = sqlite3_column_blob(st, 0);
        blen = (size_t)sqlite3_column_bytes(st, 0);
        rc = -EIO;
        if (blob == NULL || blen < AEAD_OVERHEAD || blen > INDEX_ATTR_MAX + AEAD_OVERHEAD)
                goto out;
        plain = malloc(blen - AEAD_OVERHEAD + 1);
        if (plain == NULL) {
                rc = -ENOMEM;
                goto out;
        }
        memcpy(ad, tag, 4);
        memcpy(ad + 4, file_id, 16);
        rc = aead_open(plain, K_ATTR(ix), ad, sizeof(ad), blob, blen);
        if (rc == 0) {
                *state = plain;
                *len = blen - AEAD_OVERHEAD;
                plain = NULL;
        }
out:
        free(plain);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_tomb_get(struct index *ix, const uint8_t file_id[static 16], uint8_t **state, size_t *len)
{
        return index_sealed_get(ix, ST_TOMB_GET, "tomb", file_id, state, len);
}

int index_gone_get(struct index *ix, const uint8_t file_id[static 16], uint8_t **state, size_t *len)
{
        return index_sealed_get(ix, ST_GONE_GET, "gone", file_id, state, len);
}

int index_gone_put(struct index *ix, const uint8_t file_id[static 16], const uint8_t *state,
                   size_t len)
{
        return index_sealed_put(ix, ST_GONE_ADD, "gone", file_id, state, len);
}

int index_gone_remove(struct index *ix, const uint8_t file_id[static 16])
{
        return index_by_id_del(ix, ST_GONE_DEL, file_id);
}

int index_want_put(struct index *ix, const uint8_t file_id[static 16], const uint8_t *state,
                   size_t len)
{
        return index_sealed_put(ix, ST_WANT_ADD, "want", file_id, state, len);
}

int index_want_get(struct index *ix, const uint8_t file_id[static 16], uint8_t **state, size_t *len)
{
        return index_sealed_get(ix, ST_WANT_GET, "want", file_id, state, len);
}

int index_want_remove(struct index *ix, const uint8_t file_id[static 16])
{
        return index_by_id_del(ix, ST_WANT_DEL, file_id);
}

int index_for_each_want(struct index *ix,
                        int (*cb)(void *arg, const uint8_t *file_id, const uint8_t *state,
                                  size_t len),
                        void *arg)
{
        return index_sealed_list(ix, ST_WANT_LIST, "want", cb, arg);
}

int index_alias_put(struct index *ix, const uint8_t file_id[static 16], uint64_t ino)
{
        sqlite3_stmt *st = ix->st[ST_ALIAS_PUT];
        int rc;

        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_blob(st, 1, file_id, 16, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)ino);
        rc = index_step_done(ix, st);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_alias_move(struct index *ix, uint64_t from, uint64_t to)
{
        sqlite3_stmt *st = ix->st[ST_ALIAS_MOVE];
        int rc;

        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)from);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)to);
        rc = index_step_done(ix, st);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_alias_remove(struct index *ix, const uint8_t file_id[static 16])
{
        int rc = index_by_id_del(ix, ST_ALIAS_DEL, file_id);

        return rc == 0 ? index_by_id_del(ix, ST_AVER_DEL, file_id) : rc;
}

int index_aliasver_put(struct index *ix, const uint8_t file_id[static 16], const uint8_t *state,
                       size_t len)
{
        return index_sealed_put(ix, ST_AVER_PUT, "aver", file_id, state, len);
}

int index_aliasver_get(struct index *ix, const uint8_t file_id[static 16], uint8_t **state,
                       size_t *len)
{
        return index_sealed_get(ix, ST_AVER_GET, "aver", file_id, state, len);
}

int index_held_put(struct index *ix, const uint8_t file_id[static 16],
                   const uint8_t hash[static 32])
{
        sqlite3_stmt *st = ix->st[ST_HELD_PUT];
        int rc;

        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_blob(st, 1, file_id, 16, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, hash, 32, SQLITE_STATIC);
        rc = index_step_done(ix, st);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_held_get(struct index *ix, const uint8_t file_id[static 16], uint8_t hash[static 32])
{
        sqlite3_stmt *st = ix->st[ST_HELD_GET];
        int rc;

        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_blob(st, 1, file_id, 16, SQLITE_STATIC);
        rc = index_row_hash32(st, hash);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_held_remove(struct index *ix, const uint8_t file_id[static 16])
{
        return index_by_id_del(ix, ST_HELD_DEL, file_id);
}

int index_held_list(struct index *ix, struct index_held **rows, size_t *n)
{
        sqlite3_stmt *st = ix->st[ST_HELD_LIST];
        struct index_held *v = NULL;
        size_t cap = 0;
        int rc = 0, step;

        *rows = NULL;
        *n = 0;
        pthread_mutex_lock(&ix->lock);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                if (sqlite3_column_bytes(st, 0) != 16 || sqlite3_column_bytes(st, 1) != 32) {
                        rc = -EIO;
                        break;
                }
                if (*n == cap) {
                        size_t c = cap ? 2 * cap : 8;
                        struct index_held *nv = realloc(v, c * sizeof(*v));

                        if (nv == NULL) {
                                rc = -ENOMEM;
                                break;
                        }
                        v = nv;
                        cap = c;
                }
                memcpy(v[*n].file_id, sqlite3_column_blob(st, 0), 16);
                memcpy(v[*n].hash, sqlite3_column_blob(st, 1), 32);
                (*n)++;
        }
        if (rc == 0 && step != SQLITE_DONE)
                rc = -EIO;
        sqlite3_reset(st);
        pthread_mutex_unlock(&ix->lock);
        if (rc != 0) {
                free(v);
                *n = 0;
                return rc;
        }
        *rows = v;
        return 0;
}

int index_for_each_aliasver(struct index *ix,
                            int (*cb)(void *arg, const uint8_t *file_id, const uint8_t *state,
                                      size_t len),
                            void *arg)
{
        return index_sealed_list(ix, ST_AVER_LIST, "aver", cb, arg);
}

int index_aliases_of(struct index *ix, uint64_t ino, uint8_t (**ids)[16], size_t *n)
{
        sqlite3_stmt *st = ix->st[ST_ALIAS_OF];
        uint8_t(*v)[16] = NULL;
        size_t cap = 0;
        int rc = 0, step;

        *ids = NULL;
        *n = 0;
        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
        while ((step = sqlite3_step(st)) == SQLITE_ROW) {
                const void *fid = sqlite3_column_blob(st, 0);

                if (fid == NULL || sqlite3_column_bytes(st, 0) != 16) {
                        rc = -EIO;
                        break;
                }
                if (*n == cap) {
                        size_t c = cap ? 2 * cap : 4;
                        uint8_t(*nv)[16] = realloc(v, c * sizeof(*v));

                        if (nv == NULL) {
                                rc = -ENOMEM;
                                break;
                        }
                        v = nv;
                        cap = c;
                }
                memcpy(v[(*n)++], fid, 16);
        }
        if (rc == 0 && step != SQLITE_DONE)
                rc = -EIO;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        pthread_mutex_unlock(&ix->lock);
        if (rc != 0) {
                free(v);
                *n = 0;
                return rc;
        }
        *ids = v;
        return 0;
}

int index_inode_rekey(struct index *ix, uint64_t ino, const uint8_t from[static 16],
                      const uint8_t to[static 16])
{
        sqlite3_stmt *st = ix->st[ST_INODE_REKEY];
        int rc;

        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_int64(st, 1, (sqlite3_int64)ino);
        sqlite3_bind_blob(st, 2, from, 16, SQLITE_STATIC);
        sqlite3_bind_blob(st, 3, to, 16, SQLITE_STATIC);
        rc = index_step_done(ix, st);
        if (rc == 0 && sqlite3_changes(ix->db) != 1)
                rc = -ENOENT;
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_alias_get(struct index *ix, const uint8_t file_id[static 16], uint64_t *ino)
{
        sqlite3_stmt *st = ix->st[ST_ALIAS_GET];
        int rc;

        pthread_mutex_lock(&ix->lock);
        sqlite3_bind_blob(st, 1, file_id, 16, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
                *ino = (uint64_t)sqlite3_column_int64(st, 0);
                rc = 0;
        } else {
                rc = rc == SQLITE_DONE ? -ENOENT : -EIO;
        }
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_savepoint(struct index *ix, int op)
{
        static const char *const sql[3] = {"SAVEPOINT sealsync_sp", "RELEASE sealsync_sp",
                                           "ROLLBACK TO sealsync_sp; RELEASE sealsync_sp"};
        int rc;

        if (op < 0 || op > 2)
                return -EINVAL;
        pthread_mutex_lock(&ix->lock);
        if ((op == 0) == (ix->sp_open != 0)) {
                pthread_mutex_unlock(&ix->lock);
                return -EINVAL; /* not nested; release/rollback only of an open one */
        }
        rc = index_exec(ix, sql[op]);
        if (op == 0 && rc == 0) {
                ix->sp_open = 1;
                ix->sp_owner = pthread_self();
        } else if (op != 0) {
                /* Even if it failed: the caller stops publishing, and commits must go on. */
                ix->sp_open = 0;
                pthread_cond_broadcast(&ix->sp_cond);
        }
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

/* ---- lasting alarms (doc/SYNC.md invariant A1) ---- */

/* Copies column I (text) of ST into OUT (SIZE bytes, NUL-terminated, cut if longer). */
static void index_col_text(sqlite3_stmt *st, int i, char *out, size_t size)
{
        const unsigned char *t = sqlite3_column_text(st, i);

        snprintf(out, size, "%s", t != NULL ? (const char *)t : "");
}

static int index_alarm_add_db(sqlite3 *db, const struct index_alarm *a, int64_t *id)
{
        static const char find[] = "SELECT id FROM alarm WHERE cleared = 0 AND kind = ?1 AND "
                                   "device = ?2 AND seq = ?3 AND object = ?4";
        static const char add[] = "INSERT INTO alarm(time, kind, device, seq, object, detail, "
                                  "holds) VALUES (?5, ?1, ?2, ?3, ?4, ?6, ?7)";
        sqlite3_stmt *st = NULL;
        int rc = -EIO, pass;

        for (pass = 0; pass < 2; pass++) {
                if (sqlite3_prepare_v2(db, pass == 0 ? find : add, -1, &st, NULL) != SQLITE_OK)
                        return -EIO;
                sqlite3_bind_text(st, 1, a->kind, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, a->device, -1, SQLITE_STATIC);
                sqlite3_bind_int64(st, 3, (sqlite3_int64)a->seq);
                sqlite3_bind_text(st, 4, a->object, -1, SQLITE_STATIC);
                if (pass == 1) {
                        sqlite3_bind_int64(st, 5, a->time);
                        sqlite3_bind_text(st, 6, a->detail, -1, SQLITE_STATIC);
                        sqlite3_bind_int(st, 7, a->holds != 0);
                }
                rc = sqlite3_step(st);
                if (pass == 0 && rc == SQLITE_ROW) {
                        *id = sqlite3_column_int64(st, 0);
                        sqlite3_finalize(st);
                        return 0; /* raised before and not cleared: the same alarm */
                }
                sqlite3_finalize(st);
                if (rc != SQLITE_DONE)
                        return -EIO;
        }
        *id = sqlite3_last_insert_rowid(db);
        return 0;
}

static int index_alarm_list_db(sqlite3 *db, index_alarm_cb cb, void *arg)
{
        sqlite3_stmt *st = NULL;
        struct index_alarm a;
        int rc;

        if (sqlite3_prepare_v2(db,
                               "SELECT id, time, kind, device, seq, object, detail, holds "
                               "FROM alarm WHERE cleared = 0 ORDER BY id",
                               -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                memset(&a, 0, sizeof(a));
                a.id = sqlite3_column_int64(st, 0);
                a.time = sqlite3_column_int64(st, 1);
                index_col_text(st, 2, a.kind, sizeof(a.kind));
                index_col_text(st, 3, a.device, sizeof(a.device));
                a.seq = (uint64_t)sqlite3_column_int64(st, 4);
                index_col_text(st, 5, a.object, sizeof(a.object));
                index_col_text(st, 6, a.detail, sizeof(a.detail));
                a.holds = sqlite3_column_int(st, 7) != 0;
                rc = cb(arg, &a);
                if (rc != 0)
                        break;
        }
        sqlite3_finalize(st);
        if (rc == SQLITE_DONE)
                return 0;
        return rc < 0 ? rc : -EIO;
}

static int index_alarm_clear_db(sqlite3 *db, int64_t id, unsigned *n)
{
        sqlite3_stmt *st = NULL;
        int rc;

        if (sqlite3_prepare_v2(db,
                               id == 0
                                   ? "UPDATE alarm SET cleared = 1 WHERE cleared = 0"
                                   : "UPDATE alarm SET cleared = 1 WHERE cleared = 0 AND id = ?1",
                               -1, &st, NULL) != SQLITE_OK)
                return -EIO;
        if (id != 0)
                sqlite3_bind_int64(st, 1, id);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
                return -EIO;
        *n = (unsigned)sqlite3_changes(db);
        return *n == 0 && id != 0 ? -ENOENT : 0;
}

int index_alarm_add(struct index *ix, const struct index_alarm *a, int64_t *id)
{
        int rc;

        pthread_mutex_lock(&ix->lock);
        rc = index_alarm_add_db(ix->db, a, id);
        if (rc == 0)
                ix->dirty = 1;
        pthread_mutex_unlock(&ix->lock);
        if (rc != 0)
                log_err("index: cannot record alarm %s: %s", a->kind, sqlite3_errmsg(ix->db));
        return rc;
}

int index_alarm_list(struct index *ix, index_alarm_cb cb, void *arg)
{
        int rc;

        pthread_mutex_lock(&ix->lock);
        rc = index_alarm_list_db(ix->db, cb, arg);
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

int index_alarm_clear(struct index *ix, int64_t id, unsigned *n)
{
        int rc;

        pthread_mutex_lock(&ix->lock);
        rc = index_alarm_clear_db(ix->db, id, n);
        if (rc == 0)
                ix->dirty = 1;
        pthread_mutex_unlock(&ix->lock);
        return rc;
}

/*
 * Opens the index at PATH without its keys (the alarm table is in clear);
 * -ENOENT if there is none, -EBUSY if a mount holds it for writing.
 */
static int index_open_plain(const char *path, int write, sqlite3 **db)
{
        int flags = write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY;

        *db = NULL;
        if (access(path, F_OK) != 0)
                return -ENOENT;
        if (sqlite3_open_v2(path, db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
                log_err("index: cannot open %s: %s", path, *db ? sqlite3_errmsg(*db) : "no memory");
                sqlite3_close(*db);
                *db = NULL;
                return -EIO;
        }
        sqlite3_busy_timeout(*db, 2000);
        return 0;
}

/* An index made before the alarm table existed has no alarm: not an error. */
static int index_has_alarm_table(sqlite3 *db)
{
        sqlite3_stmt *st = NULL;
        int has = 0;

        if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE name = 'alarm'", -1, &st,
                               NULL) == SQLITE_OK)
                has = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        return has;
}

int index_alarm_list_at(const char *path, index_alarm_cb cb, void *arg)
{
        sqlite3 *db = NULL;
        int rc = index_open_plain(path, 0, &db);

        if (rc == -ENOENT)
                return 0;
        if (rc == 0 && index_has_alarm_table(db))
                rc = index_alarm_list_db(db, cb, arg);
        sqlite3_close(db);
        return rc;
}

int index_alarm_clear_at(const char *path, int64_t id, unsigned *n)
{
        sqlite3 *db = NULL;
        int rc = index_open_plain(path, 1, &db);

        *n = 0;
        if (rc == 0 && !index_has_alarm_table(db))
                rc = id == 0 ? 0 : -ENOENT;
        else if (rc == 0)
                rc = index_alarm_clear_db(db, id, n);
        if (rc == -EIO && db != NULL && sqlite3_errcode(db) == SQLITE_BUSY)
                rc = -EBUSY;
        sqlite3_close(db);
        return rc;
}

int index_meta_list_at(const char *path, const char *prefix, index_meta_cb cb, void *arg)
{
        sqlite3_stmt *st = NULL;
        sqlite3 *db = NULL;
        size_t plen = strlen(prefix);
        int rc = index_open_plain(path, 0, &db);

        if (rc == -ENOENT)
                return 0;
        if (rc != 0)
                return rc;
        /* substr, not LIKE: a prefix holds no pattern characters then. */
        if (sqlite3_prepare_v2(db, "SELECT k, v FROM meta WHERE substr(k, 1, ?1) = ?2 ORDER BY k",
                               -1, &st, NULL) != SQLITE_OK) {
                rc = -EIO;
                goto out;
        }
        sqlite3_bind_int64(st, 1, (sqlite3_int64)plen);
        sqlite3_bind_text(st, 2, prefix, (int)plen, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
                const char *k = (const char *)sqlite3_column_text(st, 0);
                const uint8_t *v = sqlite3_column_blob(st, 1);
                size_t n = (size_t)sqlite3_column_bytes(st, 1);

                if (k == NULL)
                        continue;
                rc = cb(arg, k, v, n);
                if (rc != 0)
                        goto out;
        }
        rc = rc == SQLITE_DONE ? 0 : -EIO;
out:
        sqlite3_finalize(st);
        sqlite3_close(db);
        return rc;
}
