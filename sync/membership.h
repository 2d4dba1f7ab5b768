/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_SYNC_MEMBERSHIP_H
#define SEALSYNC_SYNC_MEMBERSHIP_H
/*
 * The store side of a region's membership log (doc/SYNC.md "Membership",
 * bytes in doc/FORMAT-keyring.md): listing and fetching the objects of
 * <region hex>/members/ and folding them, with the pinned GENESIS and the
 * local cache, into the verified state (keyring/members.h).  keyring/ does
 * no store I/O (layering); this module is where the store's untrusted bytes
 * meet the fold.  Used by enrollment (cli/cmd_enroll.c) and by the mount
 * (fs/mount.c: at mount and every ~30 s while mounted).
 *
 * The store may withhold or add objects: what this device verified before
 * (the local cache) always counts, junk is skipped by the fold, and a
 * validly signed entry that does not apply stops the fold with an alarm
 * inside the state (not an error here).
 */
#include <stddef.h>
#include <stdint.h>

#include "keyring/members.h"
#include "keyring/region.h"
#include "sync/store.h"

/* Keys listed from the store (membership_list). */
struct membership_keys {
        char **v; /* malloc'd keys, N of them */
        size_t n;
        size_t max;
        int truncated; /* more than MAX keys were there */
};

/*
 * Lists up to MAX keys under "<REGION_ID hex>/<DIR>/" of ST (DIR NULL: every
 * key of the region, "<REGION_ID hex>/") into *K (in the store's order,
 * byte order if it is honest; K->truncated if there were more).  Returns 0, -ENOMEM or the
 * store's error (logged: a warning for transient ones, see
 * membership_transient, else an error); *K is empty on failure.
 * Release with membership_keys_release.
 */
int membership_list(struct store *st, const uint8_t region_id[static 32], const char *dir,
                    size_t max, struct membership_keys *k) __attribute__((warn_unused_result));

void membership_keys_release(struct membership_keys *k);

/* The membership objects of a region as fetched from the store (untrusted). */
struct membership_objs {
        struct membership_keys keys;
        struct members_obj *objs; /* objs[i].name points into keys.v */
        uint8_t **bufs;
        size_t n;
};

/*
 * LISTs and GETs <REGION_ID hex>/members/ of ST (at most
 * MEMBERS_MAX_ENTRIES + 1 keys, each object at most MEMBER_MAX_ENTRY bytes;
 * larger or vanished ones are skipped with a warning) into *M.  Objects
 * named like an applied entry of KNOWN (may be NULL) are not fetched: an
 * object's name is its hash, so the caller already has those bytes (a
 * refresh of an unchanged log is one LIST).  Returns 0, -ENOMEM or the
 * store's error (logged as membership_list does); *M is empty on failure.
 * Release with membership_objs_release.
 */
int membership_fetch(struct store *st, const uint8_t region_id[static 32],
                     const struct members_state *known, struct membership_objs *m)
    __attribute__((warn_unused_result));

void membership_objs_release(struct membership_objs *m);

/*
 * Folds RI's membership log: the pinned GENESIS, the local cache
 * (RI->dir/members/) and the store's <region>/members/ objects, into a new
 * *OUT (members_state_free); caches the entries that verified
 * (region_cache_members; a failure to cache is a warning).  An alarm inside
 * *OUT is not an error: the state is the last verified one, callers decide.
 * Returns 0, -EBADMSG (the local GENESIS does not match the pin; logged),
 * -ENOMEM, the local cache's error (logged) or the store's error (logged as
 * membership_list does).  *OUT untouched on failure.
 */
int membership_refresh(struct store *st, const struct region_info *ri, struct members_state **out)
    __attribute__((warn_unused_result));

/*
 * Puts membership entry OBJ (LEN bytes, built and checked by a
 * members_build_* function) under "<REGION_ID hex>/members/<height>-<hash>"
 * if absent; the same bytes there already count as written.  Returns 0,
 * -EBADMSG (OBJ does not decode), or the store's error (logged).
 */
int membership_append(struct store *st, const uint8_t region_id[static 32], const uint8_t *obj,
                      size_t len) __attribute__((warn_unused_result));

/*
 * The names the store lists under "<REGION_ID hex>/members/" (at most
 * MEMBERS_MAX_ENTRIES + 1), chained into one 32-byte digest OUT: equal
 * digests mean the same listing.  One LIST, no GET: the cheap check a
 * mount makes before it seals (doc/SYNC.md R3) to know whether the log
 * changed since the listing its last refresh followed.  Returns 0, or the
 * store's error (logged at debug level only: the caller decides); OUT
 * untouched on failure.
 */
int membership_digest(struct store *st, const uint8_t region_id[static 32], uint8_t out[static 32])
    __attribute__((warn_unused_result));

/*
 * 1 if RC is a store error that says "not reachable now" (-EAGAIN,
 * -ETIMEDOUT, -ECONNREFUSED, -ECONNRESET, -EHOSTUNREACH, -ENETUNREACH,
 * -ENETDOWN, -EHOSTDOWN, -ENOTCONN), where the local state is the one to
 * use; else 0.
 */
int membership_transient(int rc);

#endif
