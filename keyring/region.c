/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Regions known to this device: creation (GENESIS), local records
 * (HOME/regions/<id hex>/{region.conf,genesis}) and unlocking.
 *
 * region.conf is text, one "key=value" per line, each key exactly once, in
 * any order; lines starting with '#' are comments (doc/FORMAT-keyring.md):
 *
 *   version=1  name=NAME  id=<64 hex>  store=URL  suite=aes256gcm
 *   block_size=65536  genesis=<64 hex>
 *
 * Nothing in region.conf is trusted for security: region_unlock checks the
 * genesis file against the pinned hash and the signed entry against every
 * field the conf repeats.
 */
#include "keyring/region.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/block.h"
#include "crypto/hash.h"
#include "crypto/secmem.h"
#include "crypto/suite.h"
#include "keyring/member.h"
#include "util/fileio.h"
#include "util/hex.h"
#include "util/log.h"

#define REGION_CONF "region.conf"
#define REGION_GENESIS "genesis"
#define REGION_CONF_VERSION 1
#define REGION_CONF_MAX 8192
#define REGION_HEX_LEN (2 * REGION_ID_LEN)

int region_name_valid(const char *name)
{
        size_t n = strnlen(name, REGION_NAME_MAX + 1);
        size_t i;

        if (n == 0 || n > REGION_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
                return 0;
        for (i = 0; i < n; i++) {
                char c = name[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '.' || c == '_' || c == '-'))
                        return 0;
        }
        return 1;
}

static int region_block_size_valid(uint32_t bs)
{
        return bs >= BLOCK_MIN_SIZE && bs <= BLOCK_MAX_SIZE && (bs & (bs - 1)) == 0;
}

/* 1..REGION_URL_MAX bytes without control characters (region.conf is line-based). */
static int region_url_valid(const char *url)
{
        size_t n = strnlen(url, REGION_URL_MAX + 1);
        size_t i;

        if (n == 0 || n > REGION_URL_MAX)
                return 0;
        for (i = 0; i < n; i++)
                if ((unsigned char)url[i] < 0x20 || url[i] == 0x7f)
                        return 0;
        return 1;
}

static int region_dir_path(const char *home, const uint8_t id[static REGION_ID_LEN], char *out,
                           size_t outlen)
{
        char hex[REGION_HEX_LEN + 1];
        int n;

        hex_encode(hex, id, REGION_ID_LEN);
        n = snprintf(out, outlen, "%s/regions/%s", home, hex);
        return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

static int region_file_path(const struct region_info *ri, const char *file, char *out,
                            size_t outlen)
{
        int n = snprintf(out, outlen, "%s/%s", ri->dir, file);

        return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : 0;
}

int region_genesis_key(const struct region_info *ri, char *out, size_t outlen)
{
        char id[REGION_HEX_LEN + 1], hash[2 * MEMBER_HASH_LEN + 1];
        int n;

        hex_encode(id, ri->id, REGION_ID_LEN);
        hex_encode(hash, ri->genesis_hash, MEMBER_HASH_LEN);
        n = snprintf(out, outlen, "%s/members/%016llx-%s", id, 0ULL, hash);
        return n < 0 || (size_t)n >= outlen ? -ENOSPC : 0;
}

/* ---- building ---- */

/* Fills E as the GENESIS of a new region created by ID, wrapping EPOCH_KEY to ID. */
static int region_fill_genesis(struct member_entry *e, const struct identity *id,
                               const uint8_t region_id[static REGION_ID_LEN], int suite,
                               uint32_t block_size, uint64_t max_key_age, const char *owner,
                               const uint8_t epoch_key[static 32])
{
        struct member_genesis *g = &e->genesis;
        uint8_t ctx[WRAP_CTX_LEN];
        int rc;

        e->version = MEMBER_VERSION;
        e->type = MEMBER_GENESIS;
        memcpy(e->region_id, region_id, REGION_ID_LEN);
        e->height = 0;
        e->time = (uint64_t)time(NULL);
        memcpy(e->author, id->device_id, IDENTITY_ID_LEN);
        g->suite = (uint8_t)suite;
        g->block_size = block_size;
        g->max_key_age = max_key_age;
        g->members = calloc(1, sizeof(*g->members));
        g->epoch.wraps = calloc(1, sizeof(*g->epoch.wraps));
        if (g->members == NULL || g->epoch.wraps == NULL)
                return -ENOMEM;
        g->nmembers = 1;
        memcpy(g->members[0].device_id, id->device_id, IDENTITY_ID_LEN);
        memcpy(g->members[0].sign_pk, id->sign_pk, 32);
        memcpy(g->members[0].box_pk, id->box_pk, 32);
        snprintf(g->members[0].owner, sizeof(g->members[0].owner), "%s", owner);
        snprintf(g->members[0].name, sizeof(g->members[0].name), "%s", id->name);
        g->members[0].role = MEMBER_ROLE_ADMIN;

        rc = member_key_check(g->epoch.key_check, epoch_key);
        if (rc != 0)
                return rc;
        g->epoch.nwraps = 1;
        memcpy(g->epoch.wraps[0].device_id, id->device_id, IDENTITY_ID_LEN);
        rc = member_wrap_ctx(ctx, region_id, id->device_id, g->epoch.key_check);
        if (rc != 0)
                return rc;
        return wrap_seal(g->epoch.wraps[0].wrap, epoch_key, ctx, id->box_pk);
}

int region_build(const struct identity *id, const char *home, const char *name,
                 const char *store_url, int suite, uint32_t block_size, struct region_info *out,
                 uint8_t **entry, size_t *entry_len)
{
        return region_build_policy(id, home, name, store_url, suite, block_size, 0, NULL, out,
                                   entry, entry_len);
}

int region_build_policy(const struct identity *id, const char *home, const char *name,
                        const char *store_url, int suite, uint32_t block_size, uint64_t max_key_age,
                        const char *owner, struct region_info *out, uint8_t **entry,
                        size_t *entry_len)
{
        struct member_entry *e = NULL;
        struct region_info ri;
        uint8_t *epoch_key = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc;

        if (id->sign_sk == NULL || !region_name_valid(name) || !region_url_valid(store_url) ||
            suite_nonce_len(suite) == 0 || !region_block_size_valid(block_size) ||
            !member_name_valid(id->name) || (owner != NULL && !member_name_valid(owner)))
                return -EINVAL;
        if (owner == NULL)
                owner = id->name;
        if (!suite_available(suite))
                return -ENOTSUP;
        memset(&ri, 0, sizeof(ri));
        snprintf(ri.name, sizeof(ri.name), "%s", name);
        snprintf(ri.store_url, sizeof(ri.store_url), "%s", store_url);
        secmem_random(ri.id, sizeof(ri.id));
        ri.suite = suite;
        ri.block_size = block_size;
        rc = region_dir_path(home, ri.id, ri.dir, sizeof(ri.dir));
        if (rc != 0)
                return rc;

        e = calloc(1, sizeof(*e));
        epoch_key = secmem_alloc(32);
        if (e == NULL || epoch_key == NULL) {
                rc = -ENOMEM;
                goto out;
        }
        secmem_random(epoch_key, 32);
        rc = region_fill_genesis(e, id, ri.id, suite, block_size, max_key_age, owner, epoch_key);
        if (rc != 0)
                goto out;
        rc = member_encode(e, id->sign_sk, &buf, &len);
        if (rc != 0)
                goto out;
        memcpy(ri.genesis_hash, e->hash, sizeof(ri.genesis_hash));
        *out = ri;
        *entry = buf;
        *entry_len = len;
out:
        secmem_free(epoch_key);
        member_entry_free(e);
        return rc;
}

/* ---- region.conf ---- */

static int region_conf_format(const struct region_info *ri, char *out, size_t outlen)
{
        char id[REGION_HEX_LEN + 1], hash[2 * MEMBER_HASH_LEN + 1];
        int n;

        hex_encode(id, ri->id, REGION_ID_LEN);
        hex_encode(hash, ri->genesis_hash, MEMBER_HASH_LEN);
        n = snprintf(out, outlen,
                     "# sealsync region; written by sealsync, not meant to be edited\n"
                     "version=%d\nname=%s\nid=%s\nstore=%s\nsuite=%s\nblock_size=%lu\n"
                     "genesis=%s\n",
                     REGION_CONF_VERSION, ri->name, id, ri->store_url, suite_name(ri->suite),
                     (unsigned long)ri->block_size, hash);
        return n < 0 || (size_t)n >= outlen ? -ENAMETOOLONG : n;
}

/* Strict decimal u32: digits only, no sign, no leading zero. */
static int region_parse_u32(const char *s, uint32_t *out)
{
        uint64_t v = 0;
        size_t i;

        if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0') || strlen(s) > 10)
                return -EINVAL;
        for (i = 0; s[i] != '\0'; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        if (v > UINT32_MAX)
                return -EINVAL;
        *out = (uint32_t)v;
        return 0;
}

enum {
        CONF_VERSION = 1 << 0,
        CONF_NAME = 1 << 1,
        CONF_ID = 1 << 2,
        CONF_STORE = 1 << 3,
        CONF_SUITE = 1 << 4,
        CONF_BLOCK = 1 << 5,
        CONF_GENESIS = 1 << 6,
        CONF_ALL = (1 << 7) - 1,
};

/* Applies one "key=value" line to RI; returns the CONF_ bit it set, or -EBADMSG. */
static int region_conf_line(char *line, struct region_info *ri)
{
        char *val = strchr(line, '=');
        uint32_t u;

        if (val == NULL)
                return -EBADMSG;
        *val++ = '\0';
        if (strcmp(line, "version") == 0)
                return strcmp(val, "1") == 0 ? CONF_VERSION : -EBADMSG;
        if (strcmp(line, "name") == 0) {
                if (!region_name_valid(val))
                        return -EBADMSG;
                snprintf(ri->name, sizeof(ri->name), "%s", val);
                return CONF_NAME;
        }
        if (strcmp(line, "id") == 0)
                return hex_decode(ri->id, REGION_ID_LEN, val) == 0 ? CONF_ID : -EBADMSG;
        if (strcmp(line, "store") == 0) {
                if (!region_url_valid(val))
                        return -EBADMSG;
                snprintf(ri->store_url, sizeof(ri->store_url), "%s", val);
                return CONF_STORE;
        }
        if (strcmp(line, "suite") == 0)
                return suite_parse(val, &ri->suite) == 0 ? CONF_SUITE : -EBADMSG;
        if (strcmp(line, "block_size") == 0) {
                if (region_parse_u32(val, &u) != 0 || !region_block_size_valid(u))
                        return -EBADMSG;
                ri->block_size = u;
                return CONF_BLOCK;
        }
        if (strcmp(line, "genesis") == 0)
                return hex_decode(ri->genesis_hash, MEMBER_HASH_LEN, val) == 0 ? CONF_GENESIS
                                                                               : -EBADMSG;
        return -EBADMSG;
}

/*
 * Parses TEXT (LEN bytes, NUL-terminated by the caller) into RI.  Sets
 * *NAME_SEEN when a valid name line was read, even if a later line fails,
 * so region_load can tell "corrupt" from "another region".
 */
static int region_conf_parse(char *text, size_t len, struct region_info *ri, int *name_seen)
{
        char *line = text, *nl;
        int seen = 0, bit, bad;

        /* A NUL byte or a missing final newline is damage, but read on for the name. */
        bad = strlen(text) != len || len == 0 || text[len - 1] != '\n';
        for (; *line != '\0'; line = nl + 1) {
                nl = strchr(line, '\n');
                if (nl == NULL)
                        nl = line + strlen(line) - 1; /* last line, unterminated */
                else
                        *nl = '\0';
                if (line[0] == '#')
                        continue;
                bit = region_conf_line(line, ri);
                if (bit < 0 || (seen & bit) != 0)
                        return -EBADMSG;
                seen |= bit;
                if (bit == CONF_NAME)
                        *name_seen = 1;
        }
        return seen == CONF_ALL && !bad ? 0 : -EBADMSG;
}

/*
 * Loads the region in HOME/regions/DIRNAME into *OUT (partly filled on
 * -EBADMSG: see region_conf_parse).  -ENOENT if DIRNAME is no region
 * directory or has no region.conf.
 */
static int region_conf_load(const char *home, const char *dirname, struct region_info *out,
                            int *name_seen)
{
        struct region_info *ri = out;
        uint8_t dir_id[REGION_ID_LEN];
        char canon[REGION_HEX_LEN + 1];
        char path[PATH_MAX];
        uint8_t *buf = NULL;
        char *text;
        size_t len = 0;
        int n, rc;

        memset(ri, 0, sizeof(*ri));
        if (hex_decode(dir_id, sizeof(dir_id), dirname) != 0)
                return -ENOENT; /* not a region directory */
        hex_encode(canon, dir_id, sizeof(dir_id));
        if (strcmp(canon, dirname) != 0)
                return -ENOENT; /* upper-case hex: not a name we write */
        n = snprintf(path, sizeof(path), "%s/regions/%s/%s", home, dirname, REGION_CONF);
        if (n < 0 || (size_t)n >= sizeof(path))
                return -ENAMETOOLONG;
        rc = fileio_read_all(path, REGION_CONF_MAX, &buf, &len);
        if (rc == -EFBIG || rc == -EINVAL)
                rc = -EBADMSG;
        if (rc != 0)
                return rc;
        text = malloc(len + 1);
        if (text == NULL) {
                free(buf);
                return -ENOMEM;
        }
        memcpy(text, buf, len);
        text[len] = '\0';
        free(buf);
        rc = region_conf_parse(text, len, ri, name_seen);
        free(text);
        if (rc == 0 && memcmp(ri->id, dir_id, REGION_ID_LEN) != 0)
                rc = -EBADMSG;
        if (rc == 0)
                rc = region_dir_path(home, ri->id, ri->dir, sizeof(ri->dir));
        return rc;
}

static int region_cmp(const void *a, const void *b)
{
        const struct region_info *x = a, *y = b;
        int c = strcmp(x->name, y->name);

        return c != 0 ? c : memcmp(x->id, y->id, REGION_ID_LEN);
}

/*
 * Scans HOME/regions.  With WANT, collects only the region named WANT and
 * returns -EBADMSG if a corrupt region.conf names it; without, collects all
 * and skips corrupt ones with a warning.
 */
static int region_scan(const char *home, const char *want, struct region_info **out, size_t *n)
{
        struct region_info *v = NULL, ri, *nv;
        size_t count = 0, cap = 0;
        char path[PATH_MAX];
        struct dirent *de;
        DIR *dir;
        int rc = 0, name_seen;

        if (snprintf(path, sizeof(path), "%s/regions", home) >= (int)sizeof(path))
                return -ENAMETOOLONG;
        dir = opendir(path);
        if (dir == NULL) {
                if (errno != ENOENT)
                        return -errno;
                goto done;
        }
        while ((errno = 0, de = readdir(dir)) != NULL) {
                name_seen = 0;
                memset(&ri, 0, sizeof(ri));
                rc = region_conf_load(home, de->d_name, &ri, &name_seen);
                if (rc == -ENOENT) {
                        rc = 0;
                        continue;
                }
                if (rc == -EBADMSG && want != NULL && name_seen && strcmp(ri.name, want) == 0) {
                        log_err("%s/%s/%s is corrupt", path, de->d_name, REGION_CONF);
                        goto out_free;
                }
                if (rc == -EBADMSG) {
                        if (want == NULL)
                                log_warn("skipping %s/%s: corrupt %s", path, de->d_name,
                                         REGION_CONF);
                        rc = 0;
                        continue;
                }
                if (rc != 0)
                        goto out_free;
                if (want != NULL && strcmp(ri.name, want) != 0)
                        continue;
                if (count == cap) {
                        cap = cap ? 2 * cap : 8;
                        nv = realloc(v, cap * sizeof(*v));
                        if (nv == NULL) {
                                rc = -ENOMEM;
                                goto out_free;
                        }
                        v = nv;
                }
                v[count++] = ri;
        }
        if (errno != 0) {
                rc = -errno;
                goto out_free;
        }
        closedir(dir);
        if (count > 1)
                qsort(v, count, sizeof(*v), region_cmp);
done:
        *out = v;
        *n = count;
        return 0;

out_free:
        closedir(dir);
        free(v);
        return rc;
}

int region_list(const char *home, struct region_info **out, size_t *n)
{
        return region_scan(home, NULL, out, n);
}

int region_load(const char *home, const char *name, struct region_info *out)
{
        struct region_info *v = NULL;
        size_t n = 0;
        int rc;

        if (!region_name_valid(name))
                return -ENOENT;
        rc = region_scan(home, name, &v, &n);
        if (rc != 0)
                return rc;
        if (n == 0) {
                free(v);
                return -ENOENT;
        }
        /* Two regions of one name only arise from a race between creates; the
         * sort makes the choice stable. */
        *out = v[0];
        free(v);
        return 0;
}

/* ---- the membership cache ---- */

#define REGION_MEMBERS "members"

static int region_members_dir(const struct region_info *ri, char *out, size_t outlen)
{
        return region_file_path(ri, REGION_MEMBERS, out, outlen);
}

/* 1 if NAME has the shape of a cached entry's name ("<16 hex>-<64 hex>"). */
static int region_member_name_ok(const char *name)
{
        size_t i;

        if (strlen(name) != MEMBERS_NAME_LEN || name[16] != '-')
                return 0;
        for (i = 0; i < MEMBERS_NAME_LEN; i++)
                if (i != 16 && strchr("0123456789abcdef", name[i]) == NULL)
                        return 0;
        return 1;
}

int region_cache_members(const struct region_info *ri, const struct members_state *st)
{
        char dir[PATH_MAX], path[PATH_MAX], name[MEMBERS_NAME_LEN + 1];
        size_t i;
        int rc;

        rc = region_members_dir(ri, dir, sizeof(dir));
        if (rc != 0)
                return rc;
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
                return -errno;
        for (i = 1; i < st->nentries; i++) {
                members_entry_name(st->entries[i], name);
                if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
                        return -ENAMETOOLONG;
                rc = fileio_write_atomic(path, st->entries[i]->raw, st->entries[i]->raw_len, 0600,
                                         1);
                if (rc != 0 && rc != -EEXIST)
                        return rc;
        }
        return 0;
}

/* Removes RI's members/ cache (an interrupted region_save_joined). */
static void region_uncache(const struct region_info *ri)
{
        char dir[PATH_MAX], path[PATH_MAX];
        struct dirent *de;
        DIR *d;

        if (region_members_dir(ri, dir, sizeof(dir)) != 0 || (d = opendir(dir)) == NULL)
                return;
        while ((de = readdir(d)) != NULL)
                if (region_member_name_ok(de->d_name) &&
                    snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) < (int)sizeof(path))
                        unlink(path);
        closedir(d);
        rmdir(dir);
}

struct region_objs {
        struct members_obj *v;
        char (*names)[MEMBERS_NAME_LEN + 1];
        uint8_t **bufs;
        size_t n;
};

static void region_objs_release(struct region_objs *o)
{
        size_t i;

        for (i = 0; i < o->n; i++)
                free(o->bufs[i]);
        free(o->bufs);
        free(o->names);
        free(o->v);
        memset(o, 0, sizeof(*o));
}

/* Reads RI's members/ cache (missing: none).  Names not shaped like entries are skipped. */
static int region_read_cache(const struct region_info *ri, struct region_objs *o)
{
        const size_t cap = MEMBERS_MAX_ENTRIES + 1; /* one more lets the fold see "too many" */
        char dir[PATH_MAX], path[PATH_MAX];
        struct dirent *de;
        size_t len;
        DIR *d;
        int rc = 0;

        memset(o, 0, sizeof(*o));
        rc = region_members_dir(ri, dir, sizeof(dir));
        if (rc != 0)
                return rc;
        d = opendir(dir);
        if (d == NULL)
                return errno == ENOENT ? 0 : -errno;
        o->v = calloc(cap, sizeof(*o->v));
        o->names = calloc(cap, sizeof(*o->names));
        o->bufs = calloc(cap, sizeof(*o->bufs));
        if (o->v == NULL || o->names == NULL || o->bufs == NULL) {
                rc = -ENOMEM;
                goto out;
        }
        while (o->n < cap && (errno = 0, de = readdir(d)) != NULL) {
                if (!region_member_name_ok(de->d_name))
                        continue;
                if (snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= (int)sizeof(path)) {
                        rc = -ENAMETOOLONG;
                        goto out;
                }
                rc = fileio_read_all(path, MEMBER_MAX_ENTRY, &o->bufs[o->n], &len);
                if (rc == -EFBIG || rc == -EINVAL) {
                        log_warn("%s: not a membership entry; ignored", path);
                        rc = 0;
                        continue;
                }
                if (rc != 0)
                        goto out;
                /* region_member_name_ok: exactly MEMBERS_NAME_LEN characters. */
                memcpy(o->names[o->n], de->d_name, MEMBERS_NAME_LEN + 1);
                o->v[o->n].name = o->names[o->n];
                o->v[o->n].buf = o->bufs[o->n];
                o->v[o->n].len = len;
                o->n++;
        }
out:
        closedir(d);
        if (rc != 0)
                region_objs_release(o);
        return rc;
}

/* region_save and region_save_joined: ST (may be NULL) is cached before region.conf. */
static int region_write(const char *home, const struct region_info *ri, const uint8_t *entry,
                        size_t entry_len, const struct members_state *st)
{
        struct region_info existing, check;
        char dir[PATH_MAX], conf_path[PATH_MAX], gen_path[PATH_MAX], regions[PATH_MAX];
        char conf[REGION_CONF_MAX];
        uint8_t hash[MEMBER_HASH_LEN];
        int rc, len;

        if (!region_name_valid(ri->name) || !region_url_valid(ri->store_url) ||
            suite_nonce_len(ri->suite) == 0 || !region_block_size_valid(ri->block_size))
                return -EINVAL;
        hash_blake2b(hash, entry, entry_len);
        if (memcmp(hash, ri->genesis_hash, sizeof(hash)) != 0)
                return -EINVAL;
        rc = region_load(home, ri->name, &existing);
        if (rc == 0 || rc == -EBADMSG)
                return -EEXIST;
        if (rc != -ENOENT)
                return rc;

        /* Paths from HOME, not RI->dir: the caller's record is not trusted for where to write. */
        check = *ri;
        rc = region_dir_path(home, ri->id, check.dir, sizeof(check.dir));
        if (rc == 0 &&
            snprintf(regions, sizeof(regions), "%s/regions", home) >= (int)sizeof(regions))
                rc = -ENAMETOOLONG;
        if (rc == 0)
                rc = region_file_path(&check, REGION_CONF, conf_path, sizeof(conf_path));
        if (rc == 0)
                rc = region_file_path(&check, REGION_GENESIS, gen_path, sizeof(gen_path));
        if (rc != 0)
                return rc;
        len = region_conf_format(ri, conf, sizeof(conf));
        if (len < 0)
                return len;
        snprintf(dir, sizeof(dir), "%s", check.dir);

        rc = fileio_mkdirs(regions, 0700);
        if (rc != 0)
                return rc;
        if (mkdir(dir, 0700) != 0)
                return -errno;
        rc = fileio_write_atomic(gen_path, entry, entry_len, 0600, 1);
        if (rc != 0)
                goto out_rmdir;
        if (st != NULL) {
                rc = region_cache_members(&check, st);
                if (rc != 0)
                        goto out_cache;
        }
        /* region.conf last: a directory without one is ignored by region_scan. */
        rc = fileio_write_atomic(conf_path, conf, (size_t)len, 0600, 1);
        if (rc != 0)
                goto out_unlink;
        return 0;

out_unlink:
        if (st == NULL)
                goto out_gen;
out_cache:
        region_uncache(&check);
out_gen:
        unlink(gen_path);
out_rmdir:
        rmdir(dir);
        return rc;
}

int region_save(const char *home, const struct region_info *ri, const uint8_t *entry,
                size_t entry_len)
{
        return region_write(home, ri, entry, entry_len, NULL);
}

int region_save_joined(const char *home, const struct region_info *ri, const uint8_t *entry,
                       size_t entry_len, const struct members_state *st)
{
        if (memcmp(st->genesis_hash, ri->genesis_hash, MEMBER_HASH_LEN) != 0 ||
            memcmp(st->region_id, ri->id, REGION_ID_LEN) != 0)
                return -EINVAL;
        return region_write(home, ri, entry, entry_len, st);
}

/* ---- unlocking ---- */

/* Reads, pins and verifies RI's GENESIS into *OUT. */
static int region_read_genesis(const struct region_info *ri, struct member_entry **out)
{
        char path[PATH_MAX];
        uint8_t hash[MEMBER_HASH_LEN];
        struct member_entry *e = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc;

        rc = region_file_path(ri, REGION_GENESIS, path, sizeof(path));
        if (rc != 0)
                return rc;
        rc = fileio_read_all(path, MEMBER_MAX_ENTRY, &buf, &len);
        if (rc == -EFBIG || rc == -EINVAL)
                rc = -EBADMSG;
        if (rc != 0) {
                log_err("cannot read %s: %s", path, strerror(-rc));
                return rc;
        }
        hash_blake2b(hash, buf, len);
        if (memcmp(hash, ri->genesis_hash, sizeof(hash)) != 0) {
                log_err("%s does not match the pinned GENESIS hash", path);
                rc = -EBADMSG;
                goto out;
        }
        rc = member_decode(buf, len, &e);
        if (rc == 0)
                rc = member_verify_genesis(e);
        if (rc == 0 && (memcmp(e->region_id, ri->id, REGION_ID_LEN) != 0 ||
                        e->genesis.suite != ri->suite || e->genesis.block_size != ri->block_size))
                rc = -EBADMSG;
        if (rc != 0) {
                if (rc == -EBADMSG)
                        log_err("%s: invalid GENESIS entry", path);
                goto out;
        }
        *out = e;
        e = NULL;
out:
        member_entry_free(e);
        free(buf);
        return rc;
}

int region_load_members(const struct region_info *ri, struct members_state **out)
{
        struct member_entry *g = NULL;
        struct region_objs o;
        int rc;

        rc = region_read_genesis(ri, &g);
        if (rc != 0)
                return rc;
        rc = region_read_cache(ri, &o);
        if (rc != 0) {
                log_err("cannot read the membership cache of region %s: %s", ri->name,
                        strerror(-rc));
                goto out;
        }
        rc = members_fold(g->raw, g->raw_len, ri->genesis_hash, o.v, o.n, out);
        region_objs_release(&o);
out:
        member_entry_free(g);
        return rc;
}

/*
 * Every epoch key ID can reach in ST into K->epochs (oldest first): its own
 * wraps, then, newest to oldest, the history link of each epoch it holds.
 * An epoch whose link or wrap fails is skipped with an error logged (the
 * others stay usable).
 */
static int region_collect_keys(const struct identity *id, const struct region_info *ri,
                               const struct members_state *st, struct region_keys *k)
{
        uint8_t **keys = calloc(st->nepochs, sizeof(*keys));
        size_t i;
        ssize_t p;
        int rc = 0;

        if (keys == NULL)
                return -ENOMEM;
        for (i = 0; i < st->nepochs && rc == 0; i++) {
                if ((keys[i] = secmem_alloc(32)) == NULL) {
                        rc = -ENOMEM;
                        break;
                }
                rc = members_open_epoch(st, &st->epochs[i], id, keys[i]);
                if (rc == -EBADMSG)
                        log_err("region %s: epoch %zu's key wrapped to this device does not open "
                                "or fails its key check",
                                ri->name, i);
                if (rc != 0 && rc != -ENOMEM) {
                        secmem_free(keys[i]);
                        keys[i] = NULL;
                        rc = 0;
                }
        }
        for (i = st->nepochs; rc == 0 && i-- > 0;) {
                const struct members_epoch *ep = &st->epochs[i];

                if (keys[i] == NULL || !ep->has_link)
                        continue;
                for (p = 0; p < (ssize_t)i; p++)
                        if (memcmp(st->epochs[p].id, ep->prev_id, 32) == 0)
                                break;
                if (p == (ssize_t)i || keys[p] != NULL)
                        continue;
                if ((keys[p] = secmem_alloc(32)) == NULL) {
                        rc = -ENOMEM;
                        break;
                }
                rc = members_open_link(st, ep, keys[i], keys[p]);
                if (rc != 0 && rc != -ENOMEM) {
                        log_err("region %s: the key history link of epoch %zu does not open",
                                ri->name, i);
                        secmem_free(keys[p]);
                        keys[p] = NULL;
                        rc = 0;
                }
        }
        for (i = 0; i < st->nepochs; i++) {
                if (rc == 0 && keys[i] != NULL) {
                        memcpy(k->epochs[k->nepochs].id, st->epochs[i].id, 32);
                        k->epochs[k->nepochs++].key = keys[i];
                } else {
                        secmem_free(keys[i]);
                }
        }
        free(keys);
        return rc;
}

int region_keys_from_state(const struct identity *id, const struct region_info *ri,
                           const struct members_state *st, struct region_keys **out)
{
        struct region_keys *k = NULL;
        const uint8_t *cur;
        int rc;

        if (id->box_sk == NULL)
                return -EINVAL;
        if (!suite_available(st->suite))
                return -ENOTSUP;
        if (members_find(st, id->device_id) == NULL)
                return -EACCES;
        k = calloc(1, sizeof(*k));
        if (k == NULL)
                return -ENOMEM;
        k->epochs = calloc(st->nepochs, sizeof(*k->epochs));
        if (k->epochs == NULL || (k->epoch_key = secmem_alloc(32)) == NULL) {
                rc = -ENOMEM;
                goto out;
        }
        rc = region_collect_keys(id, ri, st, k);
        if (rc != 0)
                goto out;
        cur = region_keys_find(k, st->epoch_id);
        if (cur == NULL) {
                /* -EACCES: no wrap of the current epoch for this device (a rotation
                 * concurrent with its enrollment; the next rotation includes it);
                 * -EBADMSG: the wrap is there and does not open (logged above). */
                rc = members_open_epoch(st, &st->epochs[st->cur], id, k->epoch_key);
                rc = rc == -EACCES || rc == -ENOMEM ? rc : -EBADMSG;
                log_err("region %s: this device holds no key of the current epoch", ri->name);
                goto out;
        }
        memcpy(k->epoch_key, cur, 32);
        memcpy(k->region_id, st->region_id, REGION_ID_LEN);
        k->suite = st->suite;
        k->block_size = st->block_size;
        memcpy(k->epoch_id, st->epoch_id, sizeof(k->epoch_id));
        *out = k;
        k = NULL;
out:
        region_keys_free(k);
        return rc;
}

int region_unlock(const struct identity *id, const struct region_info *ri, struct region_keys **out)
{
        struct members_state *st = NULL;
        int rc;

        if (id->box_sk == NULL)
                return -EINVAL;
        rc = region_load_members(ri, &st);
        if (rc != 0)
                return rc;
        if (st->alarm != MEMBERS_OK)
                log_warn("region %s: the membership log stops at a signed entry that does not "
                         "verify (%s); using the last verified state",
                         ri->name, members_alarm_name(st->alarm));
        rc = region_keys_from_state(id, ri, st, out);
        members_state_free(st);
        return rc;
}

const uint8_t *region_keys_find(const struct region_keys *k, const uint8_t epoch_id[static 32])
{
        size_t i;

        for (i = k->nepochs; i-- > 0;)
                if (memcmp(k->epochs[i].id, epoch_id, 32) == 0)
                        return k->epochs[i].key;
        return NULL;
}

void region_keys_free(struct region_keys *k)
{
        size_t i;

        if (k == NULL)
                return;
        for (i = 0; k->epochs != NULL && i < k->nepochs; i++)
                secmem_free(k->epochs[i].key);
        free(k->epochs);
        secmem_free(k->epoch_key);
        free(k);
}
