#ifndef SEALSYNC_SYNC_PULL_H
#define SEALSYNC_SYNC_PULL_H
/*
 * The puller (doc/SYNC.md "State machine", step 3): lists the other devices'
 * journals on the store, verifies every object before anything is applied,
 * and hands verified manifests to the fs layer (upward, through
 * struct pull_ops) in journal order.
 *
 * For each peer device, entries are taken strictly in seq order after the
 * peer's high-water mark (index meta "peer:<device hex>" = u64be seq ||
 * hash[32], never decreasing).  An entry is accepted only if: its object
 * name's hash is the BLAKE2b-256 of its bytes; it decodes strictly; its
 * signature verifies under the peer's key from the verified membership; its
 * region, device and seq match the name; prev links to the mark; the peer's
 * role may write (writer/admin; readers' journals are rejected).  Then its
 * packs are fetched, hash-checked and parsed (records go to the pack index),
 * and each commit's manifest is hash-checked, decoded, signature-checked
 * (author == the peer), its epoch must be the current one, and its metadata
 * is opened (key commitment first).  Only then is ops->apply called.
 *
 * Alarms (logged once with the object key and device, kept for `status`):
 * journal-gap (a seq is missing after the mark), equivocation (two entries
 * at one seq), rollback (the store no longer shows the mark), bad-object
 * (hash, decoding, signature, AEAD), not-a-writer, unknown-epoch.  A device
 * with an alarm is held: its later entries are not applied until the alarm
 * is cleared by a restart; other devices continue.
 */
#include <stddef.h>
#include <stdint.h>

#include "sync/index.h"
#include "sync/manifest.h"
#include "sync/store.h"

struct pull_peer {
        uint8_t device_id[16];
        uint8_t sign_pk[32];
        uint8_t role; /* enum member_role (keyring/member.h) */
};

struct pull_ops {
        /*
         * Applies verified manifest M (its object bytes' hash is M->hash) with
         * opened metadata META (NULL for nothing? never NULL).  Returns 0 (applied
         * or deliberately not, e.g. older than the local version), -EAGAIN
         * (try this entry again in a later round; the mark does not advance),
         * or another negative errno (the same).  Called with no lock of the
         * puller held; blocks are fetched with pull_fetch_block from inside.
         */
        int (*apply)(void *arg, const struct manifest *m, const struct manifest_meta *meta);
        /* After all commits of one entry were applied and before the mark advances. */
        int (*entry_done)(void *arg);
};

struct pull;

/*
 * A puller for REGION_ID on STORE, with the local INDEX (marks, pack index),
 * this device SELF_ID (its own journal is skipped), the current epoch
 * (EPOCH_ID, EPOCH_KEY: 32 bytes each, copied into secure memory) and the
 * verified PEERS (copied).  Returns 0 or -ENOMEM.
 */
int pull_new(struct pull **out, struct store *store, struct index *ix,
             const uint8_t region_id[static 32], const uint8_t self_id[static 16],
             const uint8_t epoch_id[static 32], const uint8_t epoch_key[static 32],
             const struct pull_peer *peers, size_t npeers, const struct pull_ops *ops, void *arg)
    __attribute__((warn_unused_result));

/*
 * One round over every peer.  *APPLIED gets the number of manifests applied.
 * Returns 0, or the last transient error (-EAGAIN, -EACCES from the store).
 * Verification failures are alarms, not errors.
 */
int pull_round(struct pull *p, unsigned *applied) __attribute__((warn_unused_result));

/*
 * The sealed block with BLAKE2b-256 HASH (a block reference of a verified
 * manifest) into OUT (CAP bytes), *LEN: from the packs of the entry being
 * applied if there, else by range GET through the pack index; its hash is
 * checked.  Returns 0, -ENOENT (unknown to the pack index), -EBADMSG (the
 * store returned other bytes), -EAGAIN.
 */
int pull_fetch_block(struct pull *p, const uint8_t hash[static 32], uint8_t *out, size_t cap,
                     size_t *len) __attribute__((warn_unused_result));

/* Number of alarms raised so far; the last one's text into BUF (may be NULL). */
unsigned pull_alarms(struct pull *p, char *buf, size_t size);

void pull_free(struct pull *p); /* NULL is a no-op */

#endif
