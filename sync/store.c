/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Store URLs and object keys; see store.h.  Backends live in store_*.c.
 */
#include "sync/store.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sync/store_file.h"
#include "sync/store_s3.h"
#include "util/hex.h"
#include "util/log.h"

#define STORE_KEY_MAX 512
#define STORE_URL_HELP "expected file:///absolute/path or s3://bucket[/prefix]"

static int store_key_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '/';
}

int store_key_valid(const char *key)
{
        size_t n = strnlen(key, STORE_KEY_MAX + 1);
        size_t i;

        if (n == 0 || n > STORE_KEY_MAX || key[0] == '/' || key[n - 1] == '/')
                return 0;
        for (i = 0; i < n; i++) {
                if (!store_key_char(key[i]))
                        return 0;
                if (key[i] == '/' && key[i + 1] == '/')
                        return 0;
        }
        return 1;
}

/*
 * S3 bucket names (AWS rules): 3..63 of [a-z0-9.-], starting and ending
 * with a letter or digit, no "..", not shaped like an IPv4 address.
 */
static int store_s3_bucket_valid(const char *b, size_t n)
{
        size_t i, dots = 0;
        int digits_only = 1;

        if (n < 3 || n > 63)
                return 0;
        for (i = 0; i < n; i++) {
                char c = b[i];

                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
                        return 0;
                if (c == '.') {
                        dots++;
                        if (i > 0 && b[i - 1] == '.')
                                return 0;
                } else if (!(c >= '0' && c <= '9')) {
                        digits_only = 0;
                }
        }
        if (b[0] == '.' || b[0] == '-' || b[n - 1] == '.' || b[n - 1] == '-')
                return 0;
        return !(digits_only && dots == 3);
}

/* Prefix: '/'-separated segments of [A-Za-z0-9._-], none empty, ".", or "..". */
static int store_s3_prefix_valid(const char *p)
{
        size_t n = strlen(p), i, seg = 0;

        if (n > STORE_KEY_MAX)
                return 0;
        for (i = 0; i <= n; i++) {
                char c = p[i];

                if (c == '/' || c == '\0') {
                        if (seg == 0 && c == '/')
                                return 0; /* empty segment */
                        if ((seg == 1 && p[i - 1] == '.') ||
                            (seg == 2 && p[i - 1] == '.' && p[i - 2] == '.'))
                                return 0;
                        seg = 0;
                        continue;
                }
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-'))
                        return 0;
                seg++;
        }
        return 1;
}

static int store_open_s3(const char *url, struct store **out)
{
        const char *rest = url + 5;
        const char *slash = strchr(rest, '/');
        size_t blen = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
        char prefix[STORE_KEY_MAX + 2];
        size_t plen;

        if (!store_s3_bucket_valid(rest, blen)) {
                log_err("invalid S3 bucket name in store URL: 3-63 characters of a-z, 0-9, '.' "
                        "and '-', starting and ending with a letter or digit");
                return -EINVAL;
        }
        if (slash != NULL) {
                plen = strlen(slash + 1);
                if (plen > STORE_KEY_MAX) {
                        log_err("S3 prefix in store URL is longer than %d bytes", STORE_KEY_MAX);
                        return -EINVAL;
                }
                memcpy(prefix, slash + 1, plen + 1);
                if (plen > 0 && prefix[plen - 1] == '/')
                        prefix[plen - 1] = '\0'; /* one trailing '/' is allowed */
                if (!store_s3_prefix_valid(prefix)) {
                        log_err("invalid S3 prefix in store URL: use '/'-separated segments of "
                                "A-Z, a-z, 0-9, '.', '_' and '-' (no empty, '.' or '..' segments)");
                        return -EINVAL;
                }
        }
        return store_s3_open(url, out);
}

static int store_open_file(const char *path, struct store **out)
{
        if (path[0] != '/') {
                log_err("file store URL needs an absolute path and no host: "
                        "file:///absolute/path");
                return -EINVAL;
        }
        return store_file_open(path, out);
}

int store_put_hashed(struct store *st, const char *key, const void *buf, size_t len, int mode,
                     const uint8_t sha256[32])
{
        if (st->ops->put_hashed != NULL && sha256 != NULL)
                return st->ops->put_hashed(st, key, buf, len, mode, sha256);
        return st->ops->put(st, key, buf, len, mode);
}

int store_put_stream(struct store *st, const char *key, uint64_t len, int mode,
                     const uint8_t sha256[32], store_source_fn read, void *arg)
{
        if (st->ops->put_stream != NULL)
                return st->ops->put_stream(st, key, len, mode, sha256, read, arg);
        return store_put_buffered(st, key, len, mode, sha256, read, arg);
}

int store_put_buffered(struct store *st, const char *key, uint64_t len, int mode,
                       const uint8_t sha256[32], store_source_fn read, void *arg)
{
        uint8_t *buf;
        int rc;

        if (len > (64u << 20))
                return -EFBIG;
        buf = malloc(len > 0 ? (size_t)len : 1);
        if (buf == NULL)
                return -ENOMEM;
        rc = read(arg, 0, buf, (size_t)len);
        if (rc == 0)
                rc = store_put_hashed(st, key, buf, (size_t)len, mode, sha256);
        free(buf);
        return rc;
}

int store_put_once(struct store *st, const char *key, const uint8_t *obj, size_t len)
{
        uint8_t *have = NULL;
        size_t hlen = 0;
        int rc = st->ops->put(st, key, obj, len, 1);

        if (rc == -EEXIST && st->ops->get(st, key, len + 1, &have, &hlen) == 0 && hlen == len &&
            memcmp(have, obj, len) == 0)
                rc = 0;
        free(have);
        return rc;
}

/* 0 if the marker is there with the right bytes, -ENOENT if absent, -ENOMEDIUM if other bytes. */
static int store_marker_get(struct store *st)
{
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc = st->ops->get(st, STORE_MARKER_KEY, 64, &buf, &len);

        if (rc == -EFBIG ||
            (rc == 0 && (len != strlen(STORE_MARKER) || memcmp(buf, STORE_MARKER, len) != 0)))
                rc = -ENOMEDIUM;
        free(buf);
        return rc;
}

int store_create(struct store *st)
{
        int rc = st->ops->init != NULL ? st->ops->init(st) : 0;

        if (rc == 0)
                rc = store_marker_get(st);
        if (rc == -ENOENT)
                rc = store_put_once(st, STORE_MARKER_KEY, (const uint8_t *)STORE_MARKER,
                                    strlen(STORE_MARKER));
        if (rc == -ENOMEDIUM || rc == -EEXIST) {
                log_err("the store holds a '" STORE_MARKER_KEY "' object that is not a marker "
                        "of this version: not creating a region there");
                rc = -ENOMEDIUM;
        }
        return rc;
}

static int store_probe_cb(void *arg, const char *key, uint64_t size)
{
        (void)key;
        (void)size;
        *(int *)arg = 1;
        return 1; /* one is enough */
}

/* 0 if region REGION_ID's GENESIS (GENESIS_HASH, or any if NULL) is on ST, -ENOENT if not. */
static int store_genesis_probe(struct store *st, const uint8_t region_id[static 32],
                               const uint8_t *genesis_hash)
{
        char key[2 * 32 + 64 + 2 * 32 + 1], rhex[65], ghex[65];
        uint8_t b;
        int found = 0, rc;

        hex_encode(rhex, region_id, 32);
        if (genesis_hash != NULL) {
                hex_encode(ghex, genesis_hash, 32);
                snprintf(key, sizeof(key), "%s/members/%016x-%s", rhex, 0u, ghex);
                return st->ops->get_range(st, key, 0, 1, &b);
        }
        snprintf(key, sizeof(key), "%s/members/%016x-", rhex, 0u);
        rc = st->ops->list(st, key, NULL, store_probe_cb, &found);
        if (rc == 1)
                rc = 0;
        return rc == 0 && !found ? -ENOENT : rc;
}

/* store_check, writing the marker of a store made before markers only if MARK. */
static int store_check_mark(struct store *st, const uint8_t region_id[static 32],
                            const uint8_t *genesis_hash, int mark)
{
        int rc = store_marker_get(st), marked = rc == 0;

        if (rc != 0 && rc != -ENOENT)
                return rc;
        rc = store_genesis_probe(st, region_id, genesis_hash);
        if (rc == -ENOENT || rc == -EIO) /* -EIO: an empty object, no GENESIS */
                return -ENOMEDIUM;
        if (rc != 0 || marked || !mark)
                return rc;
        /* A store made before markers: its region's GENESIS identifies it. */
        rc = store_put_once(st, STORE_MARKER_KEY, (const uint8_t *)STORE_MARKER,
                            strlen(STORE_MARKER));
        if (rc == -EEXIST)
                return -ENOMEDIUM; /* appeared meanwhile with other bytes */
        if (rc == 0)
                log_info("the store had no '" STORE_MARKER_KEY "' marker (made before markers); "
                         "marked it (doc/SYNC.md S1)");
        return rc;
}

int store_check(struct store *st, const uint8_t region_id[static 32], const uint8_t *genesis_hash)
{
        return store_check_mark(st, region_id, genesis_hash, 1);
}

int store_check_ro(struct store *st, const uint8_t region_id[static 32],
                   const uint8_t *genesis_hash)
{
        return store_check_mark(st, region_id, genesis_hash, 0);
}

int store_open(const char *url, struct store **out)
{
        const char *sep;
        size_t i, slen;

        if (strncasecmp(url, "file://", 7) == 0)
                return store_open_file(url + 7, out);
        if (strncasecmp(url, "s3://", 5) == 0)
                return store_open_s3(url, out);
        sep = strstr(url, "://");
        slen = sep != NULL ? (size_t)(sep - url) : 0;
        for (i = 0; i < slen; i++)
                if (!((url[i] >= 'a' && url[i] <= 'z') || (url[i] >= 'A' && url[i] <= 'Z') ||
                      (url[i] >= '0' && url[i] <= '9') || url[i] == '+' || url[i] == '-' ||
                      url[i] == '.'))
                        break;
        if (slen > 0 && slen <= 16 && i == slen)
                log_err("unsupported store URL scheme '%.*s': " STORE_URL_HELP, (int)slen, url);
        else
                log_err("invalid store URL (no scheme): " STORE_URL_HELP);
        return -EINVAL;
}
