/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_SYNC_VERIFY_H
#define SEALSYNC_SYNC_VERIFY_H
/*
 * `sealsync verify`: checks every object of a region on the store, the way
 * fsck checks a filesystem, and reports each problem it finds (doc/CLI.md,
 * man/sealsync.1).  Read-only: it only LISTs and GETs the store, writes
 * nothing anywhere (not even the local membership cache), and opens
 * encrypted metadata in memory only, wiping it at once.
 *
 * What is checked (every store byte is untrusted):
 *   1. members/: the fold of the store's objects from the pinned GENESIS
 *      (keyring/members.h) stops at no alarm; junk objects (name, why);
 *      entries the local membership cache verified before but the store no
 *      longer shows (withheld); this device's own wraps of every epoch open
 *      and pass their key checks, every history link it can reach opens,
 *      and every epoch is reachable by it (region_keys_from_state), except
 *      the epochs before a rotation without history link that this device
 *      holds (the key-history policy: counted, not a problem).
 *   2. journal/<device>/: for every device that was ever a member, each
 *      entry as the puller checks it (sync/check.h: hash = name, decoding,
 *      region/device/seq, signature, standing), the chain (prev), no gaps
 *      (also up to a removed device's cutoff), no two entries at one seq.
 *   3. the packs and manifests of every entry that passed: each pack exists,
 *      has its signed size, hashes to its name and parses; each commit names
 *      a manifest record; each manifest passes check_manifest, its epoch is
 *      one this device holds (or one withheld by the policy: counted), its
 *      metadata opens (key commitment first);
 *      every block reference names a block record of some pack of the
 *      region.  Blocks are not decrypted (that needs every file's key);
 *      their records' hashes are checked by pack_parse.
 *   4. ack/<device>: decodes, names this region and its device, signed by
 *      that device's key.  c/<device>/: each checkpoint as a bootstrap
 *      checks it (sync/ckpt.h: author an active writer or admin, hash =
 *      name, decoding, signature, member head in the log), every mark of its
 *      vector names an entry the store shows (else checkpoint-fork when
 *      another entry is at that seq, bad-checkpoint when none), its bundles
 *      as packs and every manifest in them as in 3, signed by its author.
 *      invite/, join/, reply/ are counted only; any other key is junk.
 *   5. After `sealsync gc`: a pack missing for an entry at or below the
 *      vector of the newest verified checkpoint, and block references of
 *      such entries that no pack holds, are counted as collected, not
 *      problems (gc deleted them; so could a withholding store, which the
 *      checkpoint's author vouches does not matter for the current state).
 * Memory is bounded by VERIFY_MAX_KEYS keys listed, one journal entry and
 * one pack at a time, and VERIFY_MAX_REFS block records and references.
 */
#include <stddef.h>
#include <stdint.h>

#include "keyring/identity.h"
#include "keyring/region.h"
#include "sync/store.h"

#define VERIFY_MAX_KEYS (1u << 21) /* keys of a region listed; more: "incomplete" */
#define VERIFY_MAX_REFS (1u << 24) /* block records, and block references, remembered */

enum verify_cat {
        VERIFY_MEMBERS,     /* objects under members/ */
        VERIFY_EPOCHS,      /* key epochs: this device's wraps, history links */
        VERIFY_JOURNALS,    /* journal entries */
        VERIFY_PACKS,       /* packs named by entries */
        VERIFY_MANIFESTS,   /* manifest records named by commits */
        VERIFY_BLOCKS,      /* block references of manifests */
        VERIFY_ACKS,        /* acknowledgements */
        VERIFY_CHECKPOINTS, /* checkpoints (and their bundles' manifests, under manifests) */
        VERIFY_OTHER,       /* invites, join requests, replies; junk */
        VERIFY_NCATS
};

/* "members", "epochs", ... for output. */
const char *verify_cat_name(enum verify_cat cat);

/* One problem; every string valid during the callback only. */
struct verify_problem {
        enum verify_cat cat;
        const char *kind;   /* bad-object, journal-gap, equivocation, ... (static) */
        const char *object; /* the store key concerned, "" if none */
        const char *device; /* the device's id in hex, "" if none */
        uint64_t seq;       /* the journal seq concerned, 0 if none */
        const char *text;   /* what is wrong, one line, no secret, no name */
};

struct verify_counts {
        uint64_t checked[VERIFY_NCATS];
        uint64_t problems[VERIFY_NCATS];
        uint64_t devices;            /* journals of devices that were members */
        uint64_t unreferenced_packs; /* packs no entry names (informational) */
        /* Informational: epochs this device cannot read because the region's key-history
         * policy cut the history before its enrollment, and manifests under them. */
        uint64_t withheld_epochs, withheld_manifests;
        uint64_t invites, joins, replies, checkpoints;
        uint64_t collected;     /* packs of entries below the newest checkpoint, gone (gc) */
        uint64_t checked_total; /* all objects checked, as progress reports it */
};

struct verify_ops {
        /* Each problem, as found. */
        void (*problem)(void *arg, const struct verify_problem *p);
        /* Objects checked so far (often; the callee throttles).  May be NULL. */
        void (*progress)(void *arg, uint64_t checked);
};

/*
 * Verifies region RI on store ST as this device ID (with its secrets: its
 * wraps are opened), calling OPS for problems and progress, with the
 * counts in *OUT.  Returns 0 once everything was looked at (problems are
 * not errors), or -ENOMEM, -EBADMSG (the local GENESIS does not match the
 * pin), an error of the local membership cache, or the store's error
 * (transient or not): all logged; *OUT then holds what was counted.
 */
int verify_region(struct store *st, const struct region_info *ri, const struct identity *id,
                  const struct verify_ops *ops, void *arg, struct verify_counts *out)
    __attribute__((warn_unused_result));

#endif
