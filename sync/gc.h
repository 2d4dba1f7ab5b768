/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_SYNC_GC_H
#define SEALSYNC_SYNC_GC_H
/*
 * Garbage collection of a region's store (`sealsync gc`, doc/SYNC.md
 * "Garbage collection"): deletes the packs nothing current needs and the
 * checkpoints a newer one makes obsolete.
 *
 * Live (never deleted):
 *   1. this device's newest checkpoint (the base: GC trusts no other
 *      writer's claim of completeness) and every other author's newest
 *      checkpoint whose vector the base does not dominate; their bundles and
 *      every pack their location records name (the blocks of the current
 *      manifests);
 *   2. every pack named by a journal entry above the base's vector (of any
 *      device that ever was a member; entries that do not decode keep
 *      nothing and are the journals' problem);
 *   3. everything, if some active device (not removed, not RECOVERY) has
 *      not acknowledged (sync/ack: a valid signed ack) every mark of the
 *      base's vector: it may still need older entries' packs.  GC then
 *      deletes nothing and names that device.
 * Every other pack, and every checkpoint other than those of 1, is a
 * candidate.  A candidate is deleted only once it has been a candidate for
 * GRACE seconds: candidates are remembered with the time they were first
 * seen in a local file (one "KEY TIME" line each), so two runs GRACE apart
 * are needed (GRACE 0: at once).  A pack being uploaded for an entry not
 * published yet is therefore only deleted if the entry stays unpublished
 * for GRACE (and its author's outbox puts it back before publishing).
 */
#include <stddef.h>
#include <stdint.h>

#include "keyring/identity.h"
#include "keyring/members.h"
#include "keyring/region.h"
#include "sync/store.h"

#define GC_GRACE_DEFAULT_S (24u * 3600u)

struct gc_opts {
        int dry_run;       /* report, delete nothing, remember nothing */
        uint64_t grace_s;  /* candidates are deleted after this long */
        const char *state; /* the candidates file (regions/<id>/gc-candidates) */
};

struct gc_report {
        char base[256];         /* the base checkpoint's key ("" if none) */
        char blocked_by[33];    /* hex id of a device whose ack does not cover the base */
        uint64_t packs;         /* packs listed */
        uint64_t live;          /* packs kept as live */
        uint64_t waiting;       /* candidates within the grace period */
        uint64_t deleted;       /* packs and checkpoints deleted (or, dry run, deletable) */
        uint64_t deleted_bytes; /* their sizes as listed */
        uint64_t checkpoints;   /* checkpoints among DELETED */
};

/*
 * Collects region RI on ST as device ID (a writer or admin of it), with MS
 * the membership folded with the store's log, under OPTS into *R.  Returns 0 (also when nothing
 * could be collected: no base checkpoint, or BLOCKED_BY set), or a negative errno (the store, the
 * membership, the state file); deletions done before an error stay done.
 */
int gc_region(struct store *st, const struct region_info *ri, const struct identity *id,
              const struct members_state *ms, const struct gc_opts *opts, struct gc_report *r)
    __attribute__((warn_unused_result));

#endif
