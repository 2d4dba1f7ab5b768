/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The epoch keys of a mount (doc/DESIGN.md "Key epochs").
 *
 * Invariants:
 *  1. fs->keytab points to the newest table; tables are linked newest first
 *     and never unlinked or freed while mounted, so a key pointer taken
 *     from any table stays valid until fs_keys_release (unmount, after
 *     every thread has stopped).  Readers take no lock: one atomic load.
 *  2. A table is installed only if its epoch set differs from the newest
 *     one's (installs are serialised by fs->keys_lock).  Rotations are rare
 *     and each table is a few hundred bytes of secure memory per epoch.
 *  3. Lookups search every table, newest first: a key once held is never
 *     forgotten by the mount, even if a later fold no longer yields it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/secmem.h"
#include "fs/fsint.h"
#include "keyring/region.h"
#include "util/log.h"

static struct fs_keytab *fs_keys_newest(struct fs *fs)
{
        return atomic_load_explicit(&fs->keytab, memory_order_acquire);
}

int fs_keys_init(struct fs *fs, const struct region_keys *k)
{
        struct fs_keytab *t = calloc(1, sizeof(*t));

        if (t == NULL)
                return -ENOMEM;
        t->k = k;
        pthread_mutex_init(&fs->keys_lock, NULL);
        atomic_store_explicit(&fs->keytab, t, memory_order_release);
        return 0;
}

/* 1 if A and B hold the same epochs with the same current one. */
static int fs_keys_same(const struct region_keys *a, const struct region_keys *b)
{
        size_t i;

        if (a->nepochs != b->nepochs || memcmp(a->epoch_id, b->epoch_id, 32) != 0)
                return 0;
        for (i = 0; i < a->nepochs; i++)
                if (memcmp(a->epochs[i].id, b->epochs[i].id, 32) != 0)
                        return 0;
        return 1;
}

int fs_keys_install(struct fs *fs, struct region_keys *k)
{
        struct fs_keytab *cur, *t;
        int rc = 1;

        pthread_mutex_lock(&fs->keys_lock);
        cur = fs_keys_newest(fs);
        if (memcmp(k->region_id, fs->region_id, 32) != 0 || k->suite != fs->suite ||
            k->block_size != fs->bs) {
                log_err("refreshed keys are for another region, suite or block size; ignored");
                rc = -EINVAL;
        } else if (fs_keys_same(cur->k, k)) {
                rc = 0;
        } else if ((t = calloc(1, sizeof(*t))) == NULL) {
                rc = -ENOMEM;
        } else {
                t->k = t->owned = k;
                t->older = cur;
                k = NULL;
                atomic_store_explicit(&fs->keytab, t, memory_order_release);
                log_info("key table updated: %zu epoch(s); new content goes to the newest",
                         t->k->nepochs);
        }
        pthread_mutex_unlock(&fs->keys_lock);
        region_keys_free(k);
        return rc;
}

void fs_keys_lost(struct fs *fs)
{
        if (atomic_exchange(&fs->keys_lost, 1) != 0)
                return;
        atomic_store(&fs->read_only, 1);
        log_err("this device holds no key of the region's current epoch (removed?): the mount "
                "is read-only from now on and publishes nothing; unpublished changes stay in "
                "the local index");
}

const uint8_t *fs_keys_find(struct fs *fs, const uint8_t epoch_id[static 32])
{
        const struct fs_keytab *t;

        for (t = fs_keys_newest(fs); t != NULL; t = t->older) {
                const uint8_t *key = region_keys_find(t->k, epoch_id);

                if (key != NULL)
                        return key;
        }
        return NULL;
}

const uint8_t *fs_keys_current(struct fs *fs, uint8_t id[static 32])
{
        const struct fs_keytab *t = fs_keys_newest(fs);

        memcpy(id, t->k->epoch_id, 32);
        return t->k->epoch_key;
}

int fs_keys_is_current(struct fs *fs, const uint8_t epoch_id[static 32])
{
        return memcmp(fs_keys_newest(fs)->k->epoch_id, epoch_id, 32) == 0;
}

const uint8_t *fs_keys_lookup(void *arg, const uint8_t epoch_id[static 32])
{
        return fs_keys_find(arg, epoch_id);
}

void fs_keys_release(struct fs *fs)
{
        struct fs_keytab *t = atomic_exchange(&fs->keytab, NULL);

        while (t != NULL) {
                struct fs_keytab *older = t->older;

                region_keys_free(t->owned);
                free(t);
                t = older;
        }
}
