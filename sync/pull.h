/* SPDX-License-Identifier: Apache-2.0 */
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
 * (author == the peer), its epoch must be one this device holds
 * (ops->epoch_key), and its metadata is opened with that epoch's key (key
 * commitment first).  Only then is ops->apply called.
 *
 * A manifest of an epoch this device does not hold (yet) is not an attack
 * at first: a peer may have rotated before our membership fold saw it.  The
 * peer's journal waits at that entry (nothing of it or after it is applied,
 * no alarm, its later rounds are skipped) and pull_wants_keys() asks the
 * caller to refresh the membership; once a refresh that reached the store
 * has been reported (pull_keys_refreshed) the entry is retried, and only
 * if its epoch is still unknown then is it the alarm unknown-epoch.
 *
 * Alarms (logged once with the object key and device, kept for `status`):
 * journal-gap (a seq is missing after the mark for the gap grace period,
 * pull_set_gap_grace), equivocation (two entries
 * at one seq), rollback (the store no longer shows the mark), bad-object
 * (hash, decoding, signature, AEAD), not-a-writer, unknown-epoch.  A device
 * with an alarm is held: its later entries are not applied until the user
 * clears the alarm (pull_alarm_clear); other devices continue.  Every alarm
 * is recorded in the index (doc/SYNC.md invariant A1, index_alarm_add) and
 * pull_new loads those not cleared: a remount or a restart shows them again
 * and holds their devices again.
 *
 * Seen marks (invariants W1, W2): an entry is applied only after every entry
 * of another peer its seen list names (pull_check_seen in pull.c); while one
 * is missing the entry's device waits (no alarm), after the grace period
 * (pull_set_withheld_grace) it is the non-holding alarm withheld about the
 * missing entry's device, and the waiting device is shown held
 * (pull_peer_info.held) until the entry appears.  key-changed (a newer
 * membership fold names another key for a known device, pull_set_peers)
 * does not hold: the pinned key stays, so nothing signed by the other key
 * verifies.  The acknowledgement exchange (sync/confirm.h) raises bad-ack,
 * ack-rollback and ack-fork through pull_ack_alarm; none of them holds.
 *
 * A removed peer whose mark is past its cutoff (entries applied before the
 * removal was known) has those entries undone at the start of a round
 * (ops->undo), its mark put back to the cutoff, and the alarm revoked
 * (doc/SYNC.md "Removal after the fact", invariant C2).
 *
 * The peers come from the verified membership fold at pull_new and are
 * brought up to date while running by pull_set_peers (fs/mount.c refreshes
 * the membership every ~30 s): peers are only added, never removed, and a
 * peer's key never changes.
 */
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "keyring/member.h"
#include "keyring/members.h"
#include "sync/index.h"
#include "sync/journal.h"
#include "sync/manifest.h"
#include "sync/store.h"

/*
 * The most peers a puller holds: every device a membership fold can name
 * (GENESIS's members and one per ADD_DEVICE entry).  The peer array is
 * allocated at this capacity by pull_new and never moves, so pull_peer_get
 * can read it from another thread while pull_set_peers adds to it.
 */
#define PULL_PEERS_MAX (MEMBER_MAX_MEMBERS + MEMBERS_MAX_ENTRIES)

struct pull_peer {
        uint8_t device_id[16];
        uint8_t sign_pk[32];
        uint8_t role; /* enum member_role (keyring/member.h) */
        /* A device removed from the membership: its entries up to CUTOFF_SEQ
         * (the one at CUTOFF_SEQ must hash to CUTOFF_HASH) still count, later
         * ones are refused (alarm "revoked"). */
        uint8_t removed;
        uint64_t cutoff_seq;
        uint8_t cutoff_hash[32];
        /* Invariant R5 (members_standing): a demoted reader's entries up to its
         * demotion cutoff count, later ones are refused (not-a-writer, not
         * holding); entries in a void range (cutoff, resume] of an earlier
         * demotion are checked as a chain and never applied. */
        struct members_standing standing;
};

/* One commit of a refused entry that had been applied: what ops->undo reverts. */
struct pull_undo {
        uint8_t file_id[16];
        uint8_t manifest_hash[32];
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
        /*
         * The key of epoch EPOCH_ID (32 bytes that stay valid while the
         * puller lives), or NULL if this device does not hold it.  Called
         * from the round's thread; must be thread-safe against key updates.
         */
        const uint8_t *(*epoch_key)(void *arg, const uint8_t epoch_id[static 32]);
        /*
         * 1 if HASH (a journal entry's member_head) is an entry of this
         * device's verified membership fold; NULL: not checked.  An unknown
         * head waits for a membership refresh like an unknown epoch, then is
         * the alarm membership-withheld.  Any thread; no store I/O.
         */
        int (*member_known)(void *arg, const uint8_t hash[static 32]);
        /*
         * 1 if EPOCH_ID is an epoch of the verified fold (GENESIS's, or a
         * rotation's): asked about a manifest's epoch this device holds no
         * key of.  Still without a key after a membership refresh, it is
         * withheld by the key-history policy and its manifests are skipped
         * (counted in pull_stats.skipped), not an alarm; NULL: never.  Any
         * thread; no store I/O.
         */
        int (*epoch_known)(void *arg, const uint8_t epoch_id[static 32]);
        /*
         * Invariant C2 (doc/SYNC.md): device DEVICE_ID was removed and this
         * device had applied its entries past the cutoff; U (N, in journal
         * order) are their commits (file id, manifest hash).  Undoes their
         * effects locally, the same way on every device (fs/apply.c
         * fs_apply_undo).  Returns 0 (done; the puller lowers that peer's mark
         * to the cutoff and raises `revoked`), or a negative errno (tried
         * again at the next round, the mark unchanged).  Called from the
         * round's thread, no lock of the puller held; it may call
         * pull_manifest_get.  NULL: entries past a cutoff are not undone.
         */
        int (*undo)(void *arg, const uint8_t device_id[static 16], const struct pull_undo *u,
                    size_t n);
};

struct pull;

/*
 * A puller for REGION_ID on STORE, with the local INDEX (marks, pack index),
 * this device SELF_ID (its own journal is skipped), the epoch keys through
 * OPS->epoch_key, and the verified PEERS (copied; this device and repeated
 * device ids are skipped, the first one counts).  Returns 0, -E2BIG (more
 * than PULL_PEERS_MAX peers) or -ENOMEM.
 */
int pull_new(struct pull **out, struct store *store, struct index *ix,
             const uint8_t region_id[static 32], const uint8_t self_id[static 16],
             const struct pull_peer *peers, size_t npeers, const struct pull_ops *ops, void *arg)
    __attribute__((warn_unused_result));

/*
 * 1 if a peer's journal waits for an epoch key this device does not hold:
 * the caller should refresh the membership (and install its keys), then
 * call pull_keys_refreshed.  Clears the request.  Any thread.
 */
int pull_wants_keys(struct pull *p);

/*
 * A membership refresh that reached the store has finished and its keys are
 * installed (whether or not they changed).  Entries waiting for an epoch
 * are retried at the next round; one whose epoch is still unknown then
 * raises unknown-epoch.  Any thread.
 */
void pull_keys_refreshed(struct pull *p);

/*
 * Brings the peers up to date with a newer verified membership fold
 * (PEERS, N; this device is skipped): a device not known yet is added with
 * its key (pinned from now on) and pulled from the next round; a known
 * device gets its new role (a device held by an alarm stays held).  A known
 * device whose signing key differs in PEERS is refused: alarm key-changed
 * (logged as an error, listed by pull_alarm_get, the device not held), the
 * pinned key is kept.  A known device that PEERS marks removed gets its
 * cutoff (a lower cutoff of a later removal replaces it); devices missing
 * from PEERS are kept.  Every entry of PEERS is looked at even
 * after a refusal.  Returns 0, -EKEYREJECTED (one or more keys differed;
 * the rest was applied) or -ENOSPC (PULL_PEERS_MAX reached; logged; the
 * peers that fitted were added).  To be called from one thread at a time
 * (the mount's puller thread); pull_round, pull_peer_count and
 * pull_peer_get may run concurrently in other threads.
 */
int pull_set_peers(struct pull *p, const struct pull_peer *peers, size_t n)
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

/*
 * On-demand fetches (doc/SYNC.md "On-demand content").  W[i].HASH is a
 * block reference of a verified manifest; W[i].OUT has room for CAP bytes.
 * Records are located through the pack index, taken from the packs of the
 * entry being applied when there, else fetched by ranged GETs: records of
 * one pack within 64 KiB of each other share one GET of at most 8 MiB.
 * Every record is checked against its hash; one that does not match is
 * fetched again alone, and if it still does not, W[i].RC is -EBADMSG and
 * the alarm bad-block names the pack (it does not hold anyone).  W[i].RC:
 * 0 (W[i].LEN set), -ENOENT (not in the pack index), -ERANGE (larger than
 * CAP), -EBADMSG, or the store's error (-EAGAIN after its retries, ...);
 * OUT is wiped on failure.  Returns 0 if every block came, else the first
 * failure's errno.  Thread-safe (also during a round).
 */
struct pull_want {
        uint8_t hash[32];
        uint8_t *out;
        size_t len;
        int rc;
};

int pull_fetch_blocks(struct pull *p, struct pull_want *w, size_t n, size_t cap)
    __attribute__((warn_unused_result));

/*
 * As pull_fetch_blocks for manifest records (W[i].HASH a manifest hash the
 * pack index knows; W[i].OUT has room for CAPS[i] bytes): for the
 * checkpoint writer (sync/ckpt.c), which copies current manifests into
 * bundles.  A record that does not match its hash also raises bad-block.
 */
int pull_fetch_manifests(struct pull *p, struct pull_want *w, size_t n, const size_t *caps)
    __attribute__((warn_unused_result));

/*
 * As pull_fetch_block, but only from the packs of the entry being applied
 * (no network): -ENOENT if they do not hold it.  For fs/apply.c in lazy mode.
 */
int pull_block_here(struct pull *p, const uint8_t hash[static 32], uint8_t *out, size_t cap,
                    size_t *len) __attribute__((warn_unused_result));

/*
 * Lazy mode (default off): packs larger than 1 MiB are not fetched whole;
 * their trailers go to the pack index and only the ranges around their
 * manifests are fetched (unless those are half of the pack or more).
 * Blocks not fetched are left to pull_fetch_blocks.  Set before rounds run.
 */
void pull_set_lazy(struct pull *p, int on);
/*
 * The whole packs of one entry are fetched (GET, size, hash, structure) by
 * up to N helper threads at once (1..4; 1, the default: one at a time in
 * the round's thread), at most 32 MiB ahead of the one being taken; they
 * are taken, checked against the entry and alarmed about in pack order, in
 * the round's thread, exactly as one at a time.  Set before rounds run.
 */
void pull_set_fetch_par(struct pull *p, int n);

/* Number of alarms raised so far; the last one's text into BUF (may be NULL). */
unsigned pull_alarms(struct pull *p, char *buf, size_t size);

/*
 * Counters and the outcome of the last round, for `sealsync status` and
 * `sealsync sync` (fs/ctl.c).  Rounds are numbered: ROUNDS_STARTED counts
 * the rounds begun (a pull_round refused because another is running is
 * not one), ROUNDS_DONE is the number of the last round finished, so a
 * caller that saw ROUNDS_STARTED == N knows a round begun after that moment
 * has finished once ROUNDS_DONE > N.  Alarms are not errors: a round that
 * raised only alarms has LAST_ROUND_RC 0.
 */
struct pull_stats {
        time_t last_ok;          /* end of the last round without error, 0 if none */
        int last_err;            /* 0 (the last round succeeded) or its negative errno */
        time_t last_err_time;    /* when LAST_ERR was set */
        char last_err_text[256]; /* one line: why, "" if LAST_ERR is 0 */
        uint64_t rounds_started, rounds_done;
        int last_round_rc;
        int in_round;
        uint64_t applied; /* manifests applied since start */
        uint64_t skipped; /* manifests skipped since start: their epoch's key is withheld from
                             this device by the region's key-history policy */
        uint64_t entries_listed, entries_done; /* journal entries, since start */
        uint64_t bytes_fetched;                /* journal entries and packs GET, since start */
        unsigned nalarms;                      /* as pull_alarms() */
};

void pull_get_stats(struct pull *p, struct pull_stats *st);

#define PULL_OBJECT_MAX 513 /* a store key (<= 512) and its NUL */

/* One alarm as `status` shows it. */
struct pull_alarm_info {
        int64_t id; /* the index's alarm id (sealsync alarms --clear ID); 0: not recorded */
        time_t time;
        char kind[24];                /* journal-gap, equivocation, journal-rollback, bad-object,
                                         not-a-writer, unknown-epoch, store-junk, missing-pack,
                                         key-changed, bad-ack, ack-rollback, ack-fork,
                                         revoked, bad-block, bad-checkpoint,
                                         checkpoint-fork, cloned-device, withheld */
        int holds;                    /* 1: the device's updates are held until cleared */
        char device[33];              /* the device's id, hex */
        uint64_t seq;                 /* the journal seq concerned, 0 if none */
        char object[PULL_OBJECT_MAX]; /* the store object's key ("" if none) */
        char text[512];               /* what was wrong, one line */
};

/*
 * The alarms kept so far, not cleared, those from the index first (distinct
 * (kind, device, seq), oldest first, at most 256; pull_alarms() counts them
 * all).  pull_alarm_get copies alarm I
 * into *OUT; returns 0 or -ENOENT (I out of range, *OUT untouched).  Safe to
 * call from any thread, also during a round.
 */
size_t pull_alarm_count(struct pull *p);
int pull_alarm_get(struct pull *p, size_t i, struct pull_alarm_info *out)
    __attribute__((warn_unused_result));

/*
 * Clears alarm ID (0: every alarm) in the index (the open transaction: the
 * caller commits) and here: it is no longer listed, may be raised again,
 * and a device no uncleared holding alarm names any more is released (its
 * journal is checked again from its mark at the next round).  *N gets the
 * number cleared.  Returns 0, -ENOENT (no uncleared alarm ID) or -EIO.  Any
 * thread.
 */
int pull_alarm_clear(struct pull *p, int64_t id, unsigned *n) __attribute__((warn_unused_result));

/* The grace period (seconds, default 300) before a missing seen entry is the alarm withheld. */
void pull_set_withheld_grace(struct pull *p, long seconds);
/*
 * The grace period (seconds, default 120) before a listing that shows a
 * peer's seq N+1 but not N (an eventually consistent store lists new keys
 * late) is the alarm journal-gap; until then each round applies the entries
 * before the gap and stops there.
 */
void pull_set_gap_grace(struct pull *p, long seconds);

/*
 * Invariant W1, for the committer: *OUT (malloc'd, sorted by device id, *N
 * of them; NULL if none) gets the mark of every peer whose mark moved since
 * the marks last passed to pull_seen_note.  Returns 0, -ENOMEM or the
 * index's error.
 */
int pull_seen_fill(struct pull *p, struct journal_seen **out, size_t *n)
    __attribute__((warn_unused_result));
/* The marks SEEN (N) were published: remembered in the index's open transaction. */
int pull_seen_note(struct pull *p, const struct journal_seen *seen, size_t n)
    __attribute__((warn_unused_result));

/* A peer's position: the seq of the last entry applied from it (its mark). */
struct pull_peer_info {
        char device[33]; /* hex */
        uint8_t device_id[16];
        uint8_t sign_pk[32]; /* pinned from the verified membership */
        int have;            /* 0: nothing applied from it yet (SEQ 0) */
        uint64_t seq;
        uint8_t hash[32]; /* the hash of its entry at SEQ (zeros if !HAVE) */
        int held;         /* an alarm holds its updates, or it waits past the grace period
                             for an entry its seen names (withheld) */
};

/*
 * The peers (as given to pull_new, minus this device and duplicates, then
 * those added by pull_set_peers), and peer I's mark read from the index.
 * Safe to call from any thread, also during pull_set_peers (a peer being
 * added is counted once it is complete).  pull_peer_get returns 0, -ENOENT (I
 * out of range) or the index's error; *OUT is untouched on failure.
 */
size_t pull_peer_count(struct pull *p);
int pull_peer_get(struct pull *p, size_t i, struct pull_peer_info *out)
    __attribute__((warn_unused_result));

/*
 * Alarms raised by the acknowledgement exchange (sync/confirm.c) about a
 * peer; none of them holds the peer's journal.  bad-ack: its ack does not
 * verify (hash, decoding, region, device, signature); ack-rollback: its
 * ack's counter is lower than one accepted before (a replay); ack-fork: it
 * confirms an entry of this device's journal that this device did not
 * write (the store showed it a forked journal).
 */
enum pull_ack_alarm {
        PULL_ALARM_BAD_ACK,
        PULL_ALARM_ACK_ROLLBACK,
        PULL_ALARM_ACK_FORK,
        /* Raised by the checkpoint bootstrap (sync/ckpt.c) about a checkpoint's author;
         * none holds: the device falls back to the journals. */
        PULL_ALARM_BAD_CHECKPOINT,  /* hash, decoding, signature, role, member head,
                                       stale (below local marks), bundles, manifests */
        PULL_ALARM_CHECKPOINT_FORK, /* its vector names an entry the journal does not have */
        /* Raised by the mount about THIS device (DEVICE_ID = the puller's own id; the
         * pusher found its journal written by a restored or cloned home, doc/SYNC.md K1).
         * Does not hold anyone: the pusher has stopped. */
        PULL_ALARM_CLONED_DEVICE,
};

/*
 * Raises alarm KIND about peer DEVICE_ID at SEQ (0: none), for store
 * OBJECT (may be NULL), with one line TEXT: logged once per (kind, device,
 * seq), listed by pull_alarm_get like the puller's own.  Safe from any
 * thread.  Returns 0, or -ENOENT if DEVICE_ID is not a peer (nothing done;
 * for PULL_ALARM_CLONED_DEVICE: not this device).
 */
int pull_ack_alarm(struct pull *p, const uint8_t device_id[static 16], enum pull_ack_alarm kind,
                   uint64_t seq, const char *object, const char *text);

/*
 * Packs of an entry beyond what is kept in memory are spooled to unlinked
 * files (O_TMPFILE) in directory DIRFD (owned by the caller, kept open while
 * P lives) instead of being read back record by record with range GETs.
 */
void pull_set_spool(struct pull *p, int dirfd);

/*
 * Peer DEVICE_ID as the puller knows it (pinned key, current role, cutoff)
 * into *OUT: 0 or -ENOENT (not a peer, or this device).  Any thread.
 */
/*
 * 1 if peer DEVICE_ID has entries applied here that its removal or demotion
 * refuses (invariants C2, R5: the undo of pull_peer_cut is still to run),
 * else 0 (also for an unknown device or an unreadable mark).  Any thread.
 */
int pull_peer_undo_pending(struct pull *p, const uint8_t device_id[static 16]);

int pull_peer_lookup(struct pull *p, const uint8_t device_id[static 16], struct pull_peer *out)
    __attribute__((warn_unused_result));

/*
 * Moves peer DEVICE_ID's mark to (SEQ, HASH) if it has none or a lower one
 * (a mark never goes back; an equal seq must have HASH).  For the
 * checkpoint bootstrap, inside a round (the hook below).  Written in the
 * index's open transaction.  Returns 0, -ENOENT (not a peer), -ESTALE (the
 * mark is higher, or equal with another hash: nothing done) or the index's
 * error.
 */
int pull_mark_advance(struct pull *p, const uint8_t device_id[static 16], uint64_t seq,
                      const uint8_t hash[static 32]) __attribute__((warn_unused_result));

/*
 * Invariants C3 and C9, for the checkpoint bootstrap: the hash of the entry
 * at SEQ of the chain that peer DEVICE_ID's anchor names (the entry at its
 * removal's or demotion's cutoff, the lowest of them), into OUT.  The chain
 * is fetched by name back from the anchor down to SEQ as for a fork below a
 * cutoff, every entry checked (hash, signature under the pinned key, region,
 * device, seq), and kept for the puller's life.  Returns 1 (OUT set), 0
 * (SEQ is 0 or above the anchor, or DEVICE_ID has none: no cutoff decides
 * that entry; OUT untouched), -ENOENT (not a peer), -EAGAIN (the store does
 * not show the chain, or an entry of it does not verify), -E2BIG (SEQ is
 * 65,536 (PULL_CHAIN_MAX) or more below the anchor: undecided), -ENOMEM, or the
 * store's error.  The round's thread only (the hook below runs there).
 */
int pull_named_chain_at(struct pull *p, const uint8_t device_id[static 16], uint64_t seq,
                        uint8_t out[static 32]) __attribute__((warn_unused_result));

/*
 * A hook run at the start of rounds, before any journal is pulled, until it
 * returns 0 (then never again): the checkpoint bootstrap (fs/mount.c sets
 * it for a device with no marks).  *APPLIED counts manifests it applied.
 * Set before rounds run.
 */
void pull_set_bootstrap(struct pull *p, int (*fn)(void *arg, unsigned *applied), void *arg);
/* 1 while the bootstrap set by pull_set_bootstrap has not succeeded yet.  Any thread. */
int pull_booting(struct pull *p);

/*
 * For the checkpoint bootstrap: the block records HASHES (N; their
 * locations in the pack index) are fetched by ranged GETs, records of one
 * pack within 128 KiB of each other sharing one GET of at most 8 MiB, at
 * most 64 MiB in all, and held as "the packs of the entry being applied"
 * (pull_block_here finds them) until pull_prefetch_end.  Records not
 * fetched (unknown, over the budget, a failed GET) stay remote.  Inside a
 * round only.  Returns 0 or -ENOMEM.
 */
int pull_prefetch(struct pull *p, const uint8_t (*hashes)[32], size_t n)
    __attribute__((warn_unused_result));
void pull_prefetch_end(struct pull *p);

/*
 * This device's signing key (SIGN_PK): pull_manifest_get verifies this
 * device's own manifests with it.  Set before rounds run.
 */
void pull_set_self_key(struct pull *p, const uint8_t sign_pk[static 32]);

/*
 * The manifest HASH of file FILE_ID, located through the pack index and
 * fetched (pull_fetch_manifests), into *M and its opened metadata *META:
 * the record's hash, strict decoding, region and file id, a signature by
 * its author under the author's pinned key (this device's, or any peer's,
 * a removed one included: the caller judges the author), and an epoch
 * this device holds.  For ops->undo (an older version to go back to).
 * Returns 0 (manifest_release, manifest_meta_release), -ENOENT (not in the
 * pack index, or by an author this device does not know), -EBADMSG (does
 * not verify), -ENOKEY (an epoch not held), or the store's error.  Any
 * thread.
 */
int pull_manifest_get(struct pull *p, const uint8_t hash[static 32],
                      const uint8_t file_id[static 16], struct manifest *m,
                      struct manifest_meta *meta) __attribute__((warn_unused_result));

void pull_free(struct pull *p); /* NULL is a no-op */

#endif
