/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_SYNC_PUSH_H
#define SEALSYNC_SYNC_PUSH_H
/*
 * The pusher (doc/SYNC.md "State machine", step 2): one thread per mounted
 * region uploads the outbox to the store in journal order.  For each entry
 * "j-<seq>-<hash>" with seq <= the durable position: PUT its packs
 * (<region>/p/<hash>, if absent), then the entry itself
 * (<region>/journal/<device>/<seq>-<hash>, if absent), then remove the
 * local files.  Transient failures back off and retry the same bytes.
 *
 * One device, one history (doc/SYNC.md K1): at the first pass the store's
 * identity is checked (store_check) and this device's own journal is listed
 * from its local head; before each entry's PUT it is listed from the
 * entry's prev (one LIST).  A key under our id that we did not write and
 * that verifies under our own key means a restored or cloned home: pushing
 * stops for good (recorded as OUTBOX/cloned-device, so a remount stays
 * stopped) and PUSH_SELF.cloned is called.  Our previous entry missing from
 * the listing re-checks the store (store-missing: -ENOMEDIUM).
 */
#include <stdint.h>
#include <time.h>

#include "sync/recipe.h"
#include "sync/store.h"

struct push;

struct push_status {
        uint64_t pushed_seq; /* last entry confirmed by the store (this run) */
        unsigned queued;     /* entries waiting in the outbox */
        time_t last_ok;      /* last successful upload, 0 if none */
        int last_err;        /* 0 or the negative errno of the last failure */
        int stopped;         /* 1 after a fatal condition (cloned device, K1) */
        int checked;         /* 1 once the first pass's checks (K1 head, S1) passed */
};

/* What the pusher checks about this device and its store (doc/SYNC.md K1, S1). */
struct push_self {
        uint64_t head_seq;        /* the local journal head at start (0: none) */
        uint8_t head_hash[32];    /* its hash */
        uint8_t sign_pk[32];      /* this device's key: a foreign entry must verify under it */
        uint8_t region_id[32];    /* for store_check */
        uint8_t genesis_hash[32]; /* the region's pinned GENESIS, for store_check */
        /*
         * Called from the pusher's thread, once, when it stops as a cloned
         * device (or at start, if the outbox records that it stopped before):
         * SEQ of the foreign entry (0 if not known any more), its store key
         * OBJECT ("" if not known), one line TEXT saying what to do.  May be NULL.
         */
        void (*cloned)(void *arg, uint64_t seq, const char *object, const char *text);
        /*
         * Write once (doc/DESIGN.md "Write once"): a pack the outbox holds as
         * a recipe "r-<hash>" is assembled at upload time, its blocks read
         * through BLOCK_READ(BLOCK_ARG, ...) (sync/recipe.h); once its entry
         * is on the store, PACK_SENT(BLOCK_ARG, hash) lets go of what kept its
         * blocks.  NULL: only packs held whole ("p-<hash>") can be uploaded.
         */
        recipe_read_fn block_read;
        void (*pack_sent)(void *arg, const uint8_t hash[32]);
        /*
         * D7: when the commit round in progress started (CLOCK_REALTIME
         * seconds), 0 when none runs; recipes written since are never
         * removed as stale.  May be NULL (no committer beside the pusher).
         */
        int64_t (*round_start)(void *arg);
        void *block_arg;
};

/*
 * Starts the pusher on OUTBOX_DIR (a directory path) for REGION_HEX (64 hex)
 * and DEVICE_ID.  DURABLE(ARG) returns the highest seq that may be uploaded.
 * SELF (copied) says what K1 and S1 check.  STORE stays owned by the caller
 * and must outlive the pusher.  Returns 0 or a negative errno.
 */
int push_start(struct push **out, struct store *store, const char *outbox_dir,
               const char *region_hex, const uint8_t device_id[static 16],
               uint64_t (*durable)(void *arg), void *arg, const struct push_self *self)
    __attribute__((warn_unused_result));

/*
 * The same without a thread, for the deterministic simulation (tests/sim):
 * nothing is uploaded except by push_step (or push_drain), one pass at a
 * time in the caller's thread, packs one after another.
 */
int push_start_stepped(struct push **out, struct store *store, const char *outbox_dir,
                       const char *region_hex, const uint8_t device_id[static 16],
                       uint64_t (*durable)(void *arg), void *arg, const struct push_self *self)
    __attribute__((warn_unused_result));
/*
 * One upload pass now, in the caller's thread: 0 when nothing uploadable
 * is left, -EBADE once the pusher stopped (a different entry at our seq),
 * else the pass's error (the rest stays queued).
 */
int push_step(struct push *p) __attribute__((warn_unused_result));
/* Wakes the pusher (new entries are queued). */
void push_kick(struct push *p);

/*
 * Uploads everything queued now, in the calling thread's time: returns 0
 * when the outbox is empty, or the last error.  Used by unmount and `sync`.
 */
int push_drain(struct push *p, int timeout_s) __attribute__((warn_unused_result));

void push_get_status(struct push *p, struct push_status *st);

/*
 * Counters and the outcome of the last pass, for `sealsync status` and
 * `sealsync sync` (fs/ctl.c).  Passes (the thread's and push_drain's) run
 * one at a time and are numbered: PASSES_STARTED counts the passes begun,
 * PASSES_DONE is the number of the last one finished; a caller that saw
 * PASSES_STARTED == N and then kicked knows that a pass begun after its kick
 * has finished once PASSES_DONE > N, with outcome LAST_PASS_RC (0: the
 * outbox held nothing uploadable any more).
 */
struct push_stats {
        uint64_t pushed_seq;     /* as push_status */
        time_t last_ok;          /* as push_status */
        int stopped;             /* as push_status */
        int last_err;            /* 0 (the last pass succeeded) or its negative errno */
        time_t last_err_time;    /* when LAST_ERR was set */
        char last_err_text[256]; /* one line: why, "" if LAST_ERR is 0 */
        uint64_t passes_started, passes_done;
        int last_pass_rc;
        uint64_t objects_sent, bytes_sent; /* packs and entries stored, since start */
};

void push_get_stats(struct push *p, struct push_stats *st);

/*
 * What waits in the outbox directory OUTBOX_DIR (the pusher need not run):
 * *ENTRIES journal entries, *BYTES of entries and packs (a pack held as a
 * recipe counts as the pack's size: what is left to upload).  A missing
 * directory is an empty queue.  Returns 0 or a negative errno (outputs
 * untouched).
 */
int push_outbox_queue(const char *outbox_dir, unsigned *entries, uint64_t *bytes)
    __attribute__((warn_unused_result));

/* Stops and joins the thread; NULL is a no-op. */
void push_stop(struct push *p);

#endif
