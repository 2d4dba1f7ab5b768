/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_SYNC_STORE_H
#define SEALSYNC_SYNC_STORE_H
/*
 * The untrusted object store.  Objects are written once, read, listed and
 * deleted; no locks, no compare-and-swap.  Keys are ASCII paths of
 * [a-z0-9/-] (validated).  Every backend implements struct store_ops; the
 * engine never knows which backend it talks to.
 *
 * URLs: file:///absolute/path  (directory; created only by store_create)
 *       s3://bucket[/prefix]    (sync/store_s3.c; see doc/STORE.md)
 */
#include <stddef.h>
#include <stdint.h>

struct store;

/*
 * The MODE of a put (store_ops.put's IF_ABSENT argument; any non-zero value
 * is at least STORE_PUT_ABSENT for a backend that knows no better):
 *   STORE_PUT_ANY    replace whatever is there;
 *   STORE_PUT_ABSENT fail -EEXIST if an object is there;
 *   STORE_PUT_NAMED  the key names the hash of the bytes (a pack, a journal
 *                    entry): as ABSENT
 *                    where the store checks absence within the PUT itself;
 *                    where it cannot (no conditional PUT), a plain PUT, not
 *                    a HEAD and a PUT.  An object already there is replaced
 *                    by the same bytes, or, if the store had altered it, by
 *                    the right ones; every reader checks such an object
 *                    against its name anyway (doc/SYNC.md P4).
 */
#define STORE_PUT_ANY 0
#define STORE_PUT_ABSENT 1
#define STORE_PUT_NAMED 2

/*
 * Where a streamed put gets its body (doc/SYNC.md D9): N bytes at OFF into
 * BUF.  Called with increasing offsets, and again from 0 when a request is
 * sent anew.  A negative return stops the put, which stores nothing and
 * returns it.
 */
typedef int (*store_source_fn)(void *arg, uint64_t off, uint8_t *buf, size_t n);

struct store_ops {
        /* Put KEY as IF_ABSENT says (STORE_PUT_*); -EEXIST when it refuses. */
        int (*put)(struct store *s, const char *key, const void *buf, size_t len, int if_absent);
        /* Optional (NULL: put): put, where SHA256 is the SHA-256 of BUF, already
         * computed (S3's request signature hashes the body; doc/SYNC.md D8). */
        int (*put_hashed)(struct store *s, const char *key, const void *buf, size_t len,
                          int if_absent, const uint8_t sha256[32]);
        /* Optional (NULL: the body read whole, then put_hashed or put): put LEN bytes
         * read from READ, whose SHA-256 is SHA256; the object exists only if every
         * read succeeded (doc/SYNC.md D9). */
        int (*put_stream)(struct store *s, const char *key, uint64_t len, int if_absent,
                          const uint8_t sha256[32], store_source_fn read, void *arg);
        /* Get KEY (at most MAX bytes, else -EFBIG) into malloc'd *BUF. -ENOENT if absent. */
        int (*get)(struct store *s, const char *key, size_t max, uint8_t **buf, size_t *len);
        /* Get LEN bytes at OFF of KEY into BUF; -EIO if the object is shorter. */
        int (*get_range)(struct store *s, const char *key, uint64_t off, size_t len, uint8_t *buf);
        /* Calls CB for each key under PREFIX greater than START_AFTER (may be NULL), in
         * byte order; a non-zero CB return stops and is returned. */
        int (*list)(struct store *s, const char *prefix, const char *start_after,
                    int (*cb)(void *arg, const char *key, uint64_t size), void *arg);
        int (*del)(struct store *s, const char *key); /* -ENOENT if absent */
        /* Makes the store's root exist (file://: the directory, mode 0700, and its
         * parents); NULL where there is nothing to make (s3://: the bucket must exist).
         * Only store_create calls it: no other operation ever creates a root. */
        int (*init)(struct store *s);
        void (*close)(struct store *s);
};

struct store {
        const struct store_ops *ops;
};

/*
 * Opens the store at URL.  Returns 0, -EINVAL (malformed URL; a message was
 * logged naming the problem), -ENOTSUP (scheme not supported), or a
 * negative errno.
 */
int store_open(const char *url, struct store **out) __attribute__((warn_unused_result));

/* 1 if KEY is a valid object key (1..512 chars of [a-z0-9/-], no "//", no leading '/'). */
int store_key_valid(const char *key);

/*
 * ST's put_stream where it has one; else LEN bytes (<= 64 MiB) read from
 * READ into memory and put with store_put_hashed.  Returns 0, READ's error,
 * -EEXIST, -EFBIG, -ENOMEM or the store's error.
 */
int store_put_stream(struct store *st, const char *key, uint64_t len, int mode,
                     const uint8_t sha256[32], store_source_fn read, void *arg)
    __attribute__((warn_unused_result));

/* store_put_stream's fallback (and a backend's, for what it cannot stream): read whole, put. */
int store_put_buffered(struct store *st, const char *key, uint64_t len, int mode,
                       const uint8_t sha256[32], store_source_fn read, void *arg)
    __attribute__((warn_unused_result));

/* ST's put_hashed where it has one, else its put (SHA256 unused). */
int store_put_hashed(struct store *st, const char *key, const void *buf, size_t len, int mode,
                     const uint8_t sha256[32]) __attribute__((warn_unused_result));

/*
 * Puts OBJ (LEN bytes) at KEY if absent; an object already there with the
 * same bytes counts as written (a retry, or another writer of the same
 * content-named object).  Returns 0, -EEXIST (other bytes there) or the
 * store's error.  Logs nothing.
 */
int store_put_once(struct store *st, const char *key, const uint8_t *obj, size_t len)
    __attribute__((warn_unused_result));

/*
 * Store identity (doc/SYNC.md S1).  The marker object STORE_MARKER_KEY holds
 * exactly STORE_MARKER; it is unauthenticated and proves only "this is the
 * store, not an accidental empty one".  Which regions a store holds is
 * proven by their signed GENESIS objects.
 */
#define STORE_MARKER_KEY "sealsync-store"
#define STORE_MARKER "sealsync store 1\n"

/*
 * For `create`: makes the store's root (ops->init) and writes the marker if
 * absent.  An existing marker with other bytes is -ENOMEDIUM (not a sealsync
 * store of this version; logged).  Returns 0 or the store's error.
 */
int store_create(struct store *st) __attribute__((warn_unused_result));

/*
 * Checks that ST is the store of region REGION_ID: the marker is there and
 * so is the region's GENESIS (GENESIS_HASH pinned; NULL: any GENESIS of the
 * region, for join and recover).  A store without a marker whose GENESIS is
 * there was made before markers: the marker is written (logged).  Returns 0,
 * -ENOMEDIUM (store-missing: no file:// root, no marker and no GENESIS, or a
 * marker but no GENESIS, or a marker with other bytes), or the store's error
 * (-EAGAIN: unreachable).  Logs nothing but the migration: callers say what
 * store-missing means where they report it.
 */
int store_check(struct store *st, const uint8_t region_id[static 32], const uint8_t *genesis_hash)
    __attribute__((warn_unused_result));

/* store_check that writes nothing (`verify`): a store made before markers passes unmarked. */
int store_check_ro(struct store *st, const uint8_t region_id[static 32],
                   const uint8_t *genesis_hash) __attribute__((warn_unused_result));

static inline void store_close(struct store *s)
{
        if (s != NULL)
                s->ops->close(s);
}

#endif
