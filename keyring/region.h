/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_KEYRING_REGION_H
#define SEALSYNC_KEYRING_REGION_H
/*
 * Regions known to this device.  HOME/regions/<region_id hex>/ holds
 * region.conf (name, store URL, id, suite, block size, pinned GENESIS hash)
 * and genesis (the signed GENESIS entry's bytes).  The fs/ and sync/ layers
 * keep their own files in the same directory (index.db, data/, mount.log).
 */
#include <stddef.h>
#include <stdint.h>

#include "keyring/identity.h"
#include "keyring/members.h"

#define REGION_ID_LEN 32
#define REGION_NAME_MAX 64
#define REGION_URL_MAX 1024

struct region_info {
        char name[REGION_NAME_MAX + 1];
        char store_url[REGION_URL_MAX + 1];
        uint8_t id[REGION_ID_LEN];
        int suite;
        uint32_t block_size;
        uint8_t genesis_hash[32];
        char dir[4096]; /* HOME/regions/<id hex>, filled by load/list/create */
};

#define REGION_MAX_EPOCHS 4096 /* epochs a device holds keys for */

/*
 * The unlocked keys of a region: the current epoch (new content is written
 * under it) and every epoch key this device holds (oldest first; the last
 * one is the current epoch, with its own copy of the key), so content
 * written under an older epoch stays readable after a rotation.
 */
struct region_keys {
        uint8_t region_id[REGION_ID_LEN];
        int suite;
        uint32_t block_size;
        uint8_t epoch_id[32];
        uint8_t *epoch_key;         /* 32 bytes, secmem: the current epoch's */
        size_t nepochs;             /* >= 1 */
        struct members_key *epochs; /* keys in secmem */
};

/* The key of epoch EPOCH_ID in K (32 bytes, K's secure memory), or NULL. */
const uint8_t *region_keys_find(const struct region_keys *k, const uint8_t epoch_id[static 32]);

/* 1 if NAME is a valid region name: [A-Za-z0-9._-], 1..64 chars, not "." or "..". */
int region_name_valid(const char *name);

/*
 * Builds a new region: random id and epoch-0 key, a GENESIS entry signed by
 * ID (admin, owner = ID's name) with the key wrapped to ID's X25519 key.
 * *ENTRY (malloc'd, *ENTRY_LEN bytes) is the object to put in the store at
 * the key region_genesis_key() names; OUT is filled (dir included) but
 * nothing is written locally until region_save().  Returns 0, -EINVAL
 * (bad name/suite/block size), -ENOTSUP (suite not runnable here), -ENOMEM.
 */
int region_build(const struct identity *id, const char *home, const char *name,
                 const char *store_url, int suite, uint32_t block_size, struct region_info *out,
                 uint8_t **entry, size_t *entry_len) __attribute__((warn_unused_result));

/*
 * region_build with the GENESIS's max_key_age policy (seconds, 0 = none) and
 * the founding device's OWNER (member_name_valid; NULL: ID's name).  -EINVAL
 * also for an invalid OWNER.
 */
int region_build_policy(const struct identity *id, const char *home, const char *name,
                        const char *store_url, int suite, uint32_t block_size, uint64_t max_key_age,
                        const char *owner, struct region_info *out, uint8_t **entry,
                        size_t *entry_len) __attribute__((warn_unused_result));

/* Store key of a region's GENESIS: "<region hex>/members/0000000000000000-<hash hex>". */
int region_genesis_key(const struct region_info *ri, char *out, size_t outlen)
    __attribute__((warn_unused_result));

/* Writes RI and its GENESIS ENTRY under HOME.  -EEXIST if the name is taken. */
int region_save(const char *home, const struct region_info *ri, const uint8_t *entry,
                size_t entry_len) __attribute__((warn_unused_result));

/* Finds region NAME under HOME.  Returns 0, -ENOENT, -EBADMSG (corrupt conf). */
int region_load(const char *home, const char *name, struct region_info *out)
    __attribute__((warn_unused_result));

/* All regions under HOME, sorted by name; *OUT malloc'd (free()).  0 regions is success. */
int region_list(const char *home, struct region_info **out, size_t *n)
    __attribute__((warn_unused_result));

/*
 * Like region_save, for a region this device joined (issue #3): also writes
 * the verified membership entries of ST (members/ cache) before region.conf,
 * so the region is never visible without the entries that let it unlock.
 * ST must have been folded from ENTRY (the pinned GENESIS).  Same errors.
 */
int region_save_joined(const char *home, const struct region_info *ri, const uint8_t *entry,
                       size_t entry_len, const struct members_state *st)
    __attribute__((warn_unused_result));

/*
 * The local membership cache: RI->dir/members/<height:016x>-<hash hex>, the
 * exact bytes of entries this device has verified (mode 0600, written
 * atomically, never replaced).  region_cache_members adds ST's applied
 * entries (GENESIS excluded: it is the "genesis" file).  Returns 0 or a
 * negative errno; entries written before an error stay (each is valid).
 */
int region_cache_members(const struct region_info *ri, const struct members_state *st)
    __attribute__((warn_unused_result));

/*
 * Folds RI's pinned GENESIS (checked against the pin and RI's suite and
 * block size) with its members/ cache into *OUT (members_state_free).  The
 * cache is re-verified like any store bytes.  Returns 0 (check (*OUT)->alarm),
 * -EBADMSG (GENESIS tampered or corrupt), -ENOMEM or an I/O errno.
 */
int region_load_members(const struct region_info *ri, struct members_state **out)
    __attribute__((warn_unused_result));

/*
 * Unlocks RI's current epoch for ID: region_load_members, then the epoch key
 * wrapped to ID in the folded state (GENESIS for its members, the
 * ADD_DEVICE that enrolled a joined device), checked against the epoch's
 * key_check.  A fold that stopped with an alarm serves the last verified
 * epoch, with a warning.  Returns 0, -EBADMSG (tampered/corrupt), -EACCES
 * (no wrap for this device), -ENOTSUP (suite unavailable on this CPU).
 */
int region_unlock(const struct identity *id, const struct region_info *ri, struct region_keys **out)
    __attribute__((warn_unused_result));

/*
 * The keys of an already folded state ST of RI for ID: the current epoch's
 * wrap to ID, checked against its key_check, and every older epoch key ID
 * can reach (its own wraps, and the history links of later epochs).
 * Returns 0, -EACCES (no wrap of the current epoch for this device),
 * -EBADMSG (a wrap does not open or fails its key check), -ENOTSUP (suite
 * unavailable on this CPU), -EINVAL, -ENOMEM.  *OUT untouched on error.
 */
int region_keys_from_state(const struct identity *id, const struct region_info *ri,
                           const struct members_state *st, struct region_keys **out)
    __attribute__((warn_unused_result));

void region_keys_free(struct region_keys *k); /* wipes; NULL is a no-op */

#endif
