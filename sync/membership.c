/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store side of the membership log: see membership.h.
 *
 * Every store byte is untrusted: keys are listed with a bound
 * (MEMBERS_MAX_ENTRIES + 1, one more than the fold takes, so the fold sees
 * "too many"), objects fetched with a bound (MEMBER_MAX_ENTRY) and handed to
 * members_fold, which verifies them.
 */
#include "sync/membership.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hash.h"
#include "keyring/member.h"
#include "util/hex.h"
#include "util/log.h"

int membership_transient(int rc)
{
        switch (rc) {
        case -EAGAIN:
        case -ENOMEDIUM: /* store-missing: it may come back (doc/SYNC.md S1) */
        case -ETIMEDOUT:
        case -ECONNREFUSED:
        case -ECONNRESET:
        case -EHOSTUNREACH:
        case -ENETUNREACH:
        case -ENETDOWN:
        case -EHOSTDOWN:
        case -ENOTCONN:
                return 1;
        default:
                return 0;
        }
}

/* Logs store error RC about KEY once: a warning if transient (the caller falls back), else an
 * error. */
static void membership_log_store_error(const char *what, const char *key, int rc)
{
        if (membership_transient(rc))
                log_warn("cannot %s %s in the store: %s", what, key, strerror(-rc));
        else
                log_err("cannot %s %s in the store: %s", what, key, strerror(-rc));
}

static int membership_list_cb(void *arg, const char *key, uint64_t size)
{
        struct membership_keys *k = arg;
        char *copy;

        (void)size;
        if (k->n == k->max) {
                k->truncated = 1;
                return 1; /* stop */
        }
        copy = strdup(key);
        if (copy == NULL)
                return -ENOMEM;
        k->v[k->n++] = copy;
        return 0;
}

void membership_keys_release(struct membership_keys *k)
{
        size_t i;

        for (i = 0; i < k->n; i++)
                free(k->v[i]);
        free(k->v);
        memset(k, 0, sizeof(*k));
}

int membership_list(struct store *st, const uint8_t region_id[static 32], const char *dir,
                    size_t max, struct membership_keys *k)
{
        char prefix[128], hex[65];
        int rc;

        memset(k, 0, sizeof(*k));
        hex_encode(hex, region_id, 32);
        if (snprintf(prefix, sizeof(prefix), "%s/%s%s", hex, dir ? dir : "", dir ? "/" : "") >=
            (int)sizeof(prefix))
                return -ENAMETOOLONG;
        k->max = max;
        k->v = calloc(max ? max : 1, sizeof(*k->v));
        if (k->v == NULL)
                return -ENOMEM;
        rc = st->ops->list(st, prefix, NULL, membership_list_cb, k);
        if (rc == 1)
                rc = 0;
        if (rc != 0) {
                membership_log_store_error("list", prefix, rc);
                membership_keys_release(k);
        }
        return rc;
}

static const char *membership_basename(const char *key)
{
        const char *slash = strrchr(key, '/');

        return slash != NULL ? slash + 1 : key;
}

void membership_objs_release(struct membership_objs *m)
{
        size_t i;

        for (i = 0; i < m->n; i++)
                free(m->bufs[i]);
        free(m->bufs);
        free(m->objs);
        membership_keys_release(&m->keys);
        memset(m, 0, sizeof(*m));
}

/* The object names of KNOWN's applied entries, sorted (for membership_is_known). */
struct membership_names {
        char (*v)[MEMBERS_NAME_LEN + 1];
        size_t n;
};

static int membership_name_cmp(const void *a, const void *b)
{
        return strcmp(a, b);
}

static int membership_names_init(struct membership_names *names, const struct members_state *known)
{
        size_t i;

        memset(names, 0, sizeof(*names));
        if (known == NULL)
                return 0;
        names->v = calloc(known->nentries + 1, sizeof(*names->v));
        if (names->v == NULL)
                return -ENOMEM;
        for (i = 0; i < known->nentries; i++)
                members_entry_name(known->entries[i], names->v[i]);
        names->n = known->nentries;
        qsort(names->v, names->n, sizeof(*names->v), membership_name_cmp);
        return 0;
}

static int membership_is_known(const struct membership_names *names, const char *name)
{
        return names->n > 0 &&
               bsearch(name, names->v, names->n, sizeof(*names->v), membership_name_cmp) != NULL;
}

int membership_fetch(struct store *st, const uint8_t region_id[static 32],
                     const struct members_state *known, struct membership_objs *m)
{
        struct membership_names names;
        size_t i, len;
        int rc;

        memset(m, 0, sizeof(*m));
        rc = membership_names_init(&names, known);
        if (rc != 0)
                return rc;
        rc = membership_list(st, region_id, "members", MEMBERS_MAX_ENTRIES + 1, &m->keys);
        if (rc != 0)
                goto out;
        m->objs = calloc(m->keys.n + 1, sizeof(*m->objs));
        m->bufs = calloc(m->keys.n + 1, sizeof(*m->bufs));
        if (m->objs == NULL || m->bufs == NULL) {
                rc = -ENOMEM;
                goto fail;
        }
        for (i = 0; i < m->keys.n; i++) {
                /* The name is the object's hash: a known one adds nothing. */
                if (membership_is_known(&names, membership_basename(m->keys.v[i])))
                        continue;
                rc = st->ops->get(st, m->keys.v[i], MEMBER_MAX_ENTRY, &m->bufs[m->n], &len);
                if (rc == -EFBIG || rc == -ENOENT) {
                        log_warn("membership object %s: %s; skipped", m->keys.v[i],
                                 rc == -EFBIG ? "too large" : "vanished");
                        continue;
                }
                if (rc != 0) {
                        membership_log_store_error("read", m->keys.v[i], rc);
                        goto fail;
                }
                m->objs[m->n].name = membership_basename(m->keys.v[i]);
                m->objs[m->n].buf = m->bufs[m->n];
                m->objs[m->n].len = len;
                m->n++;
        }
        rc = 0;
        goto out;
fail:
        membership_objs_release(m);
out:
        free(names.v);
        return rc;
}

/*
 * The objects to fold: the store's (M) and the applied entries of LOCAL but
 * its GENESIS (the store may withhold what this device verified before).
 * *OBJS is malloc'd, *N objects; they point into M and LOCAL.
 */
static int membership_merge(const struct membership_objs *m, const struct members_state *local,
                            struct members_obj **objs, size_t *n)
{
        struct members_obj *v;
        size_t i, count = m->n + local->nentries - 1;

        v = calloc(count + 1, sizeof(*v));
        if (v == NULL)
                return -ENOMEM;
        if (m->n > 0)
                memcpy(v, m->objs, m->n * sizeof(*v));
        for (i = 1; i < local->nentries; i++) {
                v[m->n + i - 1].buf = local->entries[i]->raw;
                v[m->n + i - 1].len = local->entries[i]->raw_len;
        }
        *objs = v;
        *n = count;
        return 0;
}

int membership_refresh(struct store *st, const struct region_info *ri, struct members_state **out)
{
        struct members_state *local = NULL;
        struct members_obj *objs = NULL;
        struct membership_objs m;
        size_t n = 0;
        int rc;

        rc = region_load_members(ri, &local);
        if (rc != 0) {
                if (rc != -EBADMSG)
                        log_err("cannot read region %s's membership: %s", ri->name, strerror(-rc));
                return rc;
        }
        rc = membership_fetch(st, ri->id, local, &m);
        if (rc != 0)
                goto out;
        rc = membership_merge(&m, local, &objs, &n);
        if (rc != 0)
                goto out_members;
        rc = members_fold(local->entries[0]->raw, local->entries[0]->raw_len, ri->genesis_hash,
                          objs, n, out);
        if (rc != 0) {
                log_err("cannot fold region %s's membership log: %s", ri->name, strerror(-rc));
                goto out_objs;
        }
        if (region_cache_members(ri, *out) != 0)
                log_warn("cannot update the membership cache of region %s", ri->name);
out_objs:
        free(objs);
out_members:
        membership_objs_release(&m);
out:
        members_state_free(local);
        return rc;
}

int membership_append(struct store *st, const uint8_t region_id[static 32], const uint8_t *obj,
                      size_t len)
{
        struct member_entry *e = NULL;
        char key[256], hex[65], name[MEMBERS_NAME_LEN + 1];
        int rc;

        rc = member_decode(obj, len, &e);
        if (rc != 0)
                return rc;
        hex_encode(hex, region_id, 32);
        members_entry_name(e, name);
        member_entry_free(e);
        snprintf(key, sizeof(key), "%s/members/%s", hex, name);
        rc = store_put_once(st, key, obj, len);
        if (rc != 0)
                log_err("cannot write %s to the store: %s", key, strerror(-rc));
        return rc;
}

/* The running digest of a listing (membership_digest). */
struct membership_chain {
        uint8_t d[HASH_LEN];
        size_t n;
};

static int membership_chain_cb(void *arg, const char *key, uint64_t size)
{
        struct membership_chain *ch = arg;
        uint8_t buf[HASH_LEN + 512];
        size_t len = strlen(key);

        (void)size;
        if (ch->n++ > MEMBERS_MAX_ENTRIES)
                return 1; /* the fold refuses more anyway */
        if (len > sizeof(buf) - HASH_LEN)
                len = sizeof(buf) - HASH_LEN; /* a longer key is junk; its prefix still counts */
        memcpy(buf, ch->d, HASH_LEN);
        memcpy(buf + HASH_LEN, key, len);
        hash_blake2b(ch->d, buf, HASH_LEN + len);
        return 0;
}

int membership_digest(struct store *st, const uint8_t region_id[static 32], uint8_t out[static 32])
{
        struct membership_chain ch;
        char prefix[128], hex[65];
        int rc;

        memset(&ch, 0, sizeof(ch));
        hex_encode(hex, region_id, 32);
        snprintf(prefix, sizeof(prefix), "%s/members/", hex);
        rc = st->ops->list(st, prefix, NULL, membership_chain_cb, &ch);
        if (rc == 1)
                rc = 0;
        if (rc != 0) {
                log_debug("cannot list %s in the store: %s", prefix, strerror(-rc));
                return rc;
        }
        memcpy(out, ch.d, 32);
        return 0;
}
