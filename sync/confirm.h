/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_SYNC_CONFIRM_H
#define SEALSYNC_SYNC_CONFIRM_H
/*
 * The acknowledgement exchange (doc/SYNC.md "Acknowledgements"): publishes
 * this device's ack (sync/ack.h) -- the puller's marks plus this device's
 * committed journal head -- and reads the peers' acks, so that `status` can
 * say which of this device's changes every other device has confirmed.
 *
 * Publishing (confirm_round): the marks are gathered every call; they are
 * PUT as <region>/ack/<device> only if they differ from the last PUT
 * (always on the first call after start) and, unless forced, at most every
 * CONFIRM_PUBLISH_EVERY_S.  Each PUT takes a fresh counter (index meta
 * "ack_counter", committed before the PUT), so no two different acks of
 * this device ever carry one counter.  A failing PUT is logged once (until
 * one succeeds) and retried by a later call.
 *
 * Reading (confirm_round with READ): LIST <region>/ack/, GET the acks of
 * the puller's peers (other keys are skipped), and accept one only if:
 * ack_open passes (strict decoding, region, author == the key's device,
 * signature under the peer's pinned key) -- else alarm bad-ack; its counter
 * is higher than the last one accepted from that peer -- a lower one is the
 * alarm ack-rollback, an equal one is the same ack again; what it confirms
 * of this device's journal (its mark for our device id) is an entry this
 * device wrote: not beyond our committed head, and the same hash as our own
 * entry at that seq when we still remember it (the heads noted since the
 * mount, the last CONFIRM_OWN_KEEP) -- else alarm ack-fork (the store
 * showed that peer a forked journal of ours) and the confirmation is not
 * changed.  Alarms go through the puller (pull_ack_alarm).
 *
 * What was accepted is kept in memory only: after a remount nothing is
 * confirmed until the peers' acks are read again (the first reading round,
 * ~30 s, or a `sealsync sync`), and the replay check starts afresh from the
 * acks then on the store.
 *
 * Threads: confirm_round may be called from several threads (the puller's
 * loop, a SYNC request); calls are serialised.  confirm_note_own,
 * confirm_count and confirm_get never wait for the store.
 */
#include <stddef.h>
#include <stdint.h>

#include "sync/index.h"
#include "sync/pull.h"
#include "sync/store.h"

#define CONFIRM_PUBLISH_EVERY_S 15 /* at most one PUT of our ack per this many seconds */
#define CONFIRM_OWN_KEEP 1024      /* own journal heads remembered for the fork check */

struct confirm;

/*
 * An exchange for REGION_ID on STORE as device SELF_ID, signing with
 * SIGN_SK (64 bytes, the caller's secure memory, must outlive it), the
 * counter in INDEX's meta, the marks, peers and alarms of PULL.  Returns 0
 * or -ENOMEM.
 */
int confirm_new(struct confirm **out, struct store *store, struct index *ix, struct pull *pull,
                const uint8_t region_id[static 32], const uint8_t self_id[static 16],
                const uint8_t *sign_sk) __attribute__((warn_unused_result));

/*
 * Records that this device's journal entry SEQ (>= 1) with HASH is
 * committed (durable): the next ack carries it as our head, and peers'
 * acks are checked against it.  Heads are noted in increasing seq order.
 */
void confirm_note_own(struct confirm *c, uint64_t seq, const uint8_t hash[static 32]);

/*
 * One step: publishes our ack if it changed (FORCE: even within
 * CONFIRM_PUBLISH_EVERY_S of the last attempt), then, if READ, reads the
 * peers' acks.  Returns 0, or a transient store error (-EAGAIN, -EACCES...;
 * logged once while it lasts).  Alarms are not errors.
 */
int confirm_round(struct confirm *c, int read, int force) __attribute__((warn_unused_result));

/* A peer's last accepted acknowledgement, as `status` shows it. */
struct confirm_info {
        char device[33]; /* hex */
        uint64_t seq;    /* the last entry of this device's journal it confirms (0: none) */
        uint64_t time_s; /* the ack's time (the peer's clock) */
        uint64_t counter;
};

/*
 * The peers with an accepted ack (in the order first accepted), and peer
 * I's.  confirm_get returns 0 or -ENOENT (I out of range; *OUT untouched).
 */
size_t confirm_count(struct confirm *c);
int confirm_get(struct confirm *c, size_t i, struct confirm_info *out)
    __attribute__((warn_unused_result));

void confirm_free(struct confirm *c); /* NULL is a no-op */

#endif
