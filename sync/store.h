#ifndef SEALSYNC_SYNC_STORE_H
#define SEALSYNC_SYNC_STORE_H
/*
 * The untrusted object store.  Objects are written once, read, listed and
 * deleted; no locks, no compare-and-swap.  Keys are ASCII paths of
 * [a-z0-9/-] (validated).  Every backend implements struct store_ops; the
 * engine never knows which backend it talks to.
 *
 * URLs: file:///absolute/path  (directory; created on first put)
 *       s3://bucket[/prefix]    (sync/store_s3.c; see doc/STORE.md)
 */
#include <stddef.h>
#include <stdint.h>

struct store;

struct store_ops {
        /* Put KEY; with IF_ABSENT fail -EEXIST if it exists. */
        int (*put)(struct store *s, const char *key, const void *buf, size_t len, int if_absent);
        /* Get KEY (at most MAX bytes, else -EFBIG) into malloc'd *BUF. -ENOENT if absent. */
        int (*get)(struct store *s, const char *key, size_t max, uint8_t **buf, size_t *len);
        /* Get LEN bytes at OFF of KEY into BUF; -EIO if the object is shorter. */
        int (*get_range)(struct store *s, const char *key, uint64_t off, size_t len, uint8_t *buf);
        /* Calls CB for each key under PREFIX greater than START_AFTER (may be NULL), in
         * byte order; a non-zero CB return stops and is returned. */
        int (*list)(struct store *s, const char *prefix, const char *start_after,
                    int (*cb)(void *arg, const char *key, uint64_t size), void *arg);
        int (*del)(struct store *s, const char *key); /* -ENOENT if absent */
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
 * Puts OBJ (LEN bytes) at KEY if absent; an object already there with the
 * same bytes counts as written (a retry, or another writer of the same
 * content-named object).  Returns 0, -EEXIST (other bytes there) or the
 * store's error.  Logs nothing.
 */
int store_put_once(struct store *st, const char *key, const uint8_t *obj, size_t len)
    __attribute__((warn_unused_result));

static inline void store_close(struct store *s)
{
        if (s != NULL)
                s->ops->close(s);
}

#endif
