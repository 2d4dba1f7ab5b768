/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The puller: see pull.h and doc/SYNC.md "State machine", step 3.
 *
 * One round, per peer that is not held (pull_peer_round):
 *   1. The mark: index meta "peer:<device hex>" = u64be seq || hash[32], or none.
 *   2. LIST <region>/journal/<device>/ with start-after
 *      "<region>/journal/<device>/<mark seq:016x>" -- a proper prefix of every
 *      key at the mark's seq, so the listing begins with the mark's own key
 *      (pull_list_cb).  The mark's key missing is a rollback; a second key at
 *      the mark's seq, or two keys at any one seq, an equivocation; a key
 *      whose seq is not the next one a gap.  Without a mark the first key
 *      must be seq 1.  At most PULL_LIST_MAX entries are taken per round.
 *      Keys that do not parse are store junk: noted, skipped.
 *   3. Each listed entry in seq order (pull_entry); the checks on the bytes
 *      are sync/check.c's, shared with `sealsync verify`:
 *        pull_entry_load   GET (<= JOURNAL_MAX_SIZE), hash == name, decode,
 *                          region/device/seq == name, signature, role, prev;
 *        pull_packs_load   GET each listed pack (<= its signed size), size,
 *                          hash == name, pack_parse, every commit names a
 *                          manifest record; its records go to the pack index;
 *        verify pass       every commit's manifest (pull_manifest_load);
 *        apply pass        each manifest verified again and handed to
 *                          ops->apply; ops->entry_done; the mark.
 *
 * Invariants:
 *   1. ops->apply sees only manifests that passed every check of pull.h, and
 *      only of entries all of whose manifests passed them.
 *   2. A mark only moves forward (except back to a removal's cutoff once the
 *      entries above it were undone, pull_peer_cut: invariant C2 of
 *      doc/SYNC.md), one seq at a time, after ops->entry_done
 *      returned 0; it always names an entry whose commits were all applied,
 *      except those under an epoch withheld from this device by the region's
 *      key-history policy (pull_epoch_missing): skipped, counted, never
 *      retried (a `rekey` re-publishes their files under a later epoch).
 *      It is written in the index's open transaction, so it becomes durable
 *      together with what apply wrote (the caller's index_commit).
 *   3. A holding alarm holds its device until the user clears it
 *      (pull_alarm_clear), across restarts: it is recorded in the index
 *      (index_alarm_add, in the open transaction) and pull_new loads the
 *      alarms not cleared and holds their devices again (doc/SYNC.md A1).
 *      A held device is not listed, so nothing more of it is applied.  Except
 *      (pull_alarm_holds): a fork at a removed device's cutoff seq is decided
 *      by the removal, which names the entry there (C2's twin): its alarms
 *      hold nothing, so the named entry is still taken.
 *   8. An entry is applied only after every entry of another known peer its
 *      seen list names, up to that peer's removal cutoff (pull_check_seen,
 *      doc/SYNC.md W2); a mark at our mark's seq must have our hash.
 *   4. Allocation from untrusted lengths is bounded: listing by PULL_LIST_MAX,
 *      entries by JOURNAL_MAX_SIZE, packs by their signed size (<=
 *      PACK_MAX_SIZE; with pull_set_fetch_par, whole packs fetched ahead by
 *      helpers up to PULL_AHEAD_MAX bytes beyond the one being taken, else
 *      one in flight; each with its trailer; at most PULL_KEEP_MAX of bytes
 *      kept for the apply pass, trailers never kept), manifests by their
 *      commit's length (<= MANIFEST_MAX_SIZE).
 *   6. The pack index may learn records of an entry that is then rejected:
 *      harmless, as every record is named by its hash and checked when read.
 *   5. P->lock guards the packs being applied (read by pull_fetch_block from
 *      any thread), the alarm state and IN_ROUND; it is never held while the
 *      store or ops are called.
 *   7. P->peers is allocated once (PULL_PEERS_MAX) and never moves; a peer
 *      is complete before NPEERS (release store) counts it, its device id,
 *      key and hex never change after, so readers in other threads
 *      (pull_round from fs/ctl.c, pull_peer_get) need no lock for them;
 *      ROLE is read and written atomically.
 */
#include "sync/pull.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "crypto/secmem.h"
#include "keyring/member.h"
#include "sync/check.h"
#include "sync/journal.h"
#include "sync/pack.h"
#include "util/fileio.h"
#include "util/hex.h"
#include "util/log.h"

#define PULL_LIST_MAX 256                   /* entries per peer and round */
#define PULL_KEEP_MAX (64u * 1024u * 1024u) /* pack bytes kept for pull_fetch_block */
/* pull_set_fetch_par: helpers fetching an entry's whole packs ahead, and their byte bound. */
#define PULL_FETCH_PAR_MAX 4
#define PULL_AHEAD_MAX (32u * 1024u * 1024u)
#define PULL_MARK_LEN 40        /* u64be seq || hash */
#define PULL_ALARM_LOG_MAX 4096 /* distinct (kind, device, seq) remembered */
#define PULL_TEXT_MAX 512
#define PULL_ALARM_KEEP 256    /* alarms kept for status; later ones are only counted */
#define PULL_STORE_KEY_MAX 512 /* store_key_valid */
#define PULL_LIST_STOP 1       /* a list callback's "enough", not an error */
#define PULL_WAIT_KEYS 2       /* a manifest's epoch is not held yet: wait for a refresh */
#define PULL_SKIP 3            /* a manifest's epoch is withheld by the key-history policy */
#define PULL_WITHHELD_MAX 64   /* withheld epochs remembered (more: each waits once) */
#define PULL_WAIT_SEEN 4       /* an entry waits for an entry its seen names (W2) */
#define PULL_WAIT_ROLE 5       /* past a demotion cutoff: the journal waits for a promotion */
#define PULL_VOID 6            /* an entry in a void range (R5): a link, never applied */
#define PULL_WAIT_CUT 7        /* C9: the applied entry is off the named chain: undone next */
#define PULL_CHAIN_MAX 65536u  /* C9: seqs of a named chain kept below its cutoff */
#define PULL_SEEN_GRACE_S 300  /* then it is the alarm withheld (pull_set_withheld_grace) */
#define PULL_GAP_GRACE_S 120   /* a listing's gap lasting this long is journal-gap (B5) */
#define PULL_PASSES_MAX 8      /* passes of one round while waiting entries make progress */
/* "<region:64>/p/<hash:64>" */
#define PULL_PACK_KEY_SIZE (64 + 3 + 64 + 1)
/* "<region:64>/journal/<device:32>/" */
#define PULL_DIR_KEY_LEN (64 + 9 + 32 + 1)
/*
 * Lazy mode (pull_set_lazy, doc/SYNC.md "On-demand content").  Packs up to
 * PULL_EAGER_BELOW are fetched whole (one GET either way); of larger ones
 * the trailer (one suffix GET, rarely two) and the ranges around their
 * manifests, merged when closer than PULL_PIECE_GAP and reaching that far
 * back, so the blocks of small files written next to their manifests come
 * along.  When those ranges would be half of the pack or more, the whole
 * pack is fetched instead.
 */
#define PULL_EAGER_BELOW (1u << 20)
#define PULL_TAIL_GUESS (64u * 1024u)
#define PULL_PIECE_GAP (128u * 1024u)
/* On-demand block fetches: records within this gap of each other share one GET. */
#define PULL_RANGE_GAP (64u * 1024u)
#define PULL_RANGE_MAX (8u * 1024u * 1024u)
/* A manifest's author (doc/FORMAT-sync.md "Manifest"), as CKPT_AUTHOR_OFF. */
#define PULL_AUTHOR_OFF 50

enum pull_kind {
        PULL_GAP,
        PULL_EQUIVOCATION,
        PULL_ROLLBACK,
        PULL_BAD_OBJECT,
        PULL_NOT_WRITER,
        PULL_UNKNOWN_EPOCH,
        PULL_JUNK,         /* a key that is no journal key: skipped, the device not held */
        PULL_MISSING,      /* a pack named by an entry is not on the store (yet): retried */
        PULL_KEY_CHANGED,  /* a newer fold names another key for a known device: refused */
        PULL_BAD_ACK,      /* an acknowledgement that does not verify (pull_ack_alarm) */
        PULL_ACK_ROLLBACK, /* an acknowledgement older than one accepted before */
        PULL_ACK_FORK,     /* an acknowledgement of entries of ours we never wrote */
        PULL_REVOKED,      /* an entry of a removed device after its cutoff */
        PULL_WITHHELD,     /* an entry names a membership entry this device cannot see */
        PULL_BAD_BLOCK,    /* a block fetched on demand does not match its reference */
        PULL_BAD_CKPT,     /* a checkpoint refused (sync/ckpt.c); the journals are used */
        PULL_CKPT_FORK,    /* a checkpoint's vector contradicts a journal */
        PULL_CLONED,       /* this device's own journal has entries it did not write (K1) */
        PULL_SEEN_MISSING, /* an entry another device saw is not shown here (invariant W2) */
        PULL_DEMOTED,      /* an entry of a demoted device after its cutoff (R5): refused */
};

static const struct {
        const char *name;
        int holds;
} pull_kinds[] = {
    [PULL_GAP] = {"journal-gap", 1},           [PULL_EQUIVOCATION] = {"equivocation", 1},
    [PULL_ROLLBACK] = {"journal-rollback", 1}, [PULL_BAD_OBJECT] = {"bad-object", 1},
    [PULL_NOT_WRITER] = {"not-a-writer", 1},   [PULL_UNKNOWN_EPOCH] = {"unknown-epoch", 1},
    [PULL_JUNK] = {"store-junk", 0},           [PULL_MISSING] = {"missing-pack", 0},
    [PULL_KEY_CHANGED] = {"key-changed", 0},   [PULL_BAD_ACK] = {"bad-ack", 0},
    [PULL_ACK_ROLLBACK] = {"ack-rollback", 0}, [PULL_ACK_FORK] = {"ack-fork", 0},
    [PULL_REVOKED] = {"revoked", 1},           [PULL_WITHHELD] = {"membership-withheld", 1},
    [PULL_BAD_BLOCK] = {"bad-block", 0},       [PULL_BAD_CKPT] = {"bad-checkpoint", 0},
    [PULL_CKPT_FORK] = {"checkpoint-fork", 0}, [PULL_CLONED] = {"cloned-device", 0},
    [PULL_SEEN_MISSING] = {"withheld", 0},     [PULL_DEMOTED] = {"not-a-writer", 0},
};

#define PULL_NKINDS (sizeof(pull_kinds) / sizeof(pull_kinds[0]))

struct pull_peer_state {
        struct pull_peer peer; /* peer.role atomic (pull_set_peers); the rest never changes */
        char hex[2 * 16 + 1];
        int held; /* a holding alarm not cleared names it: skipped (invariant 3) */
        /* Waiting for an epoch key (pull_wait_epoch); the round's thread only. */
        int waiting;
        uint64_t wait_seq; /* the entry that waits */
        uint64_t wait_gen; /* keys_gen when it began to wait */
        /* Waiting for an entry its seen names (pull_check_seen); the round's thread
         * writes, pull_peer_get reads SEEN_LATE under P->lock. */
        uint64_t seen_wait_seq; /* the entry of this peer that waits, 0 if none */
        time_t seen_wait_since; /* since when */
        int seen_late;          /* past the grace period: shown as held */
        int cut_waits;          /* pull_peer_cut: its undo waits (logged once); round's thread */
        /* A listing that skipped seq GAP_SEQ (0: none) since GAP_SINCE; round's thread. */
        uint64_t gap_seq;
        time_t gap_since;
        /* Invariant C9: the named chain back from the entry (CHAIN_TOP, CHAIN[0]) a
         * cutoff names: CHAIN[i] is the entry at seq CHAIN_TOP - i (pull_chain_at);
         * the round's thread only (pull_peer_undo_pending reads it from there too). */
        uint64_t chain_top;
        uint8_t (*chain)[32];
        size_t nchain, chain_cap;
        /* Invariant R5: the entry (REFUSED_SEQ, REFUSED_HASH) past an open demotion
         * cutoff that was refused under standing REFUSED_ST and role REFUSED_ROLE:
         * not fetched again while those are the peer's (pull_refused_again); the
         * round's thread only. */
        /* Invariant C9: the anchor (AUDIT_TOP, AUDIT_HASH) whose journal was listed
         * below the mark for forks (pull_peer_audit); the round's thread only. */
        int audit_done;
        uint64_t audit_top;
        uint8_t audit_hash[32];
        int refused_have;
        uint64_t refused_seq;
        uint8_t refused_hash[32];
        uint8_t refused_role;
        struct members_standing refused_st;
};

struct pull_logged {
        uint8_t kind;
        uint8_t device_id[16];
        uint64_t seq;
        uint64_t what; /* bad-block: which pack and record (pull_alarm_what), else 0 */
};

/* An alarm kept for `status` (pull_alarm_get); also in the index (ID, invariant A1). */
struct pull_kept {
        int64_t id; /* the index's alarm id, 0 if it could not be recorded */
        time_t time;
        int kind; /* enum pull_kind, or -1: a kind this build does not know (loaded) */
        char name[24];
        int holds;
        uint8_t device_id[16];
        uint64_t seq;
        char object[PULL_OBJECT_MAX];
        char detail[256];
};

/* A byte range of a pack fetched on its own (lazy mode: the manifests' neighbourhood). */
struct pull_piece {
        uint64_t off;
        size_t len;
        uint8_t *bytes;
};

/* One pack of the entry being verified or applied. */
struct pull_pack {
        uint8_t hash[32];
        uint64_t size;
        uint8_t *bytes; /* kept in memory (up to PULL_KEEP_MAX per entry), or NULL */
        int fd;         /* else spooled to an unlinked local file (ciphertext only), or -1 */
        /* Lazy mode (pull_set_lazy): only these ranges were fetched; records are
         * checked by their hashes when read, the pack as a whole never. */
        struct pull_piece *pieces;
        size_t npieces;
};

struct pull {
        struct store *store;
        struct index *ix;
        uint8_t region_id[32];
        char region_hex[65];
        uint8_t self_id[16];
        uint8_t self_pk[32]; /* pull_set_self_key; zeros: own manifests are not verified */
        int have_self_pk;
        _Atomic uint64_t keys_gen;     /* refreshes reported by pull_keys_refreshed */
        _Atomic int want_keys;         /* a journal waits for an epoch key */
        struct pull_peer_state *peers; /* PULL_PEERS_MAX of them, never moved */
        size_t npeers;                 /* atomic: written by pull_set_peers only */
        const struct pull_ops *ops;
        void *arg;

        pthread_mutex_t lock; /* invariant 5 */
        int in_round;
        struct pull_pack *cur; /* the packs of the entry being applied */
        size_t ncur;
        unsigned nalarms;
        char last[PULL_TEXT_MAX];
        struct pull_logged *logged;
        size_t nlogged, logged_cap;
        struct pull_kept *kept; /* at most PULL_ALARM_KEEP, oldest first */
        size_t nkept, kept_cap;
        struct pull_stats st; /* counters and the last round's outcome (pull_get_stats) */
        int spool_dirfd;      /* where packs beyond PULL_KEEP_MAX wait for the apply pass */
        int lazy;             /* pull_set_lazy: fetch packs' manifests, not their blocks */
        int fetch_par;        /* pull_set_fetch_par: packs of an entry fetched at once (1..) */
        /* Epochs of the fold whose key this device does not get (the key-history
         * policy), found by pull_epoch_missing; the round's thread only. */
        uint8_t withheld[PULL_WITHHELD_MAX][32];
        size_t nwithheld;
        int (*boot)(void *arg, unsigned *applied); /* pull_set_bootstrap, until it succeeds */
        long seen_grace_s;                         /* pull_set_withheld_grace */
        long gap_grace_s;                          /* pull_set_gap_grace */
        int seen_waits; /* a peer waited for a seen entry in this pass (round's thread) */
        void *boot_arg;
        struct pull_pack *prefetch; /* pull_prefetch: the pieces fetched for a bootstrap */
        size_t nprefetch;
};

struct pull_mark {
        int have;
        uint64_t seq;
        uint8_t hash[32];
};

struct pull_item {
        uint64_t seq;
        uint8_t hash[32];
};

static struct pull_peer_state *pull_peer_find(struct pull *p, const uint8_t device_id[static 16]);
static size_t pull_npeers(struct pull *p);
static void pull_hold_from_kept(struct pull *p, struct pull_peer_state *ps);
static int pull_load_alarms(struct pull *p);

/* ---- small helpers ---- */

static void pull_put_u64(uint8_t *p, uint64_t v)
{
        int i;

        for (i = 7; i >= 0; i--) {
                p[i] = (uint8_t)v;
                v >>= 8;
        }
}

static uint64_t pull_get_u64(const uint8_t *p)
{
        uint64_t v = 0;
        int i;

        for (i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return v;
}

static int pull_cmp_seen(const void *a, const void *b)
{
        return memcmp(((const struct journal_seen *)a)->device_id,
                      ((const struct journal_seen *)b)->device_id, 16);
}

static void pull_packs_free(struct pull_pack *packs, size_t n)
{
        size_t i;

        for (i = 0; packs != NULL && i < n; i++) {
                size_t j;

                free(packs[i].bytes);
                if (packs[i].fd >= 0)
                        close(packs[i].fd);
                for (j = 0; j < packs[i].npieces; j++)
                        free(packs[i].pieces[j].bytes);
                free(packs[i].pieces);
        }
        free(packs);
}

/* The pack with HASH in PACKS (N, ascending by hash as the entry lists them), or NULL. */
static struct pull_pack *pull_pack_find(struct pull_pack *packs, size_t n, const uint8_t *hash)
{
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = memcmp(packs[mid].hash, hash, 32);

                if (c == 0)
                        return &packs[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

static void pull_pack_key(const struct pull *p, const uint8_t hash[static 32],
                          char key[static PULL_PACK_KEY_SIZE])
{
        char h[65];

        hex_encode(h, hash, 32);
        snprintf(key, PULL_PACK_KEY_SIZE, "%s/p/%s", p->region_hex, h);
}

/* ---- alarms ---- */

/*
 * What tells alarms of KIND apart beyond (device, seq): a bad block has
 * neither (the store is to blame), so its pack and record do (FNV-1a of
 * OBJECT and DETAIL); 0 for the other kinds.
 */
static uint64_t pull_alarm_what(enum pull_kind kind, const char *object, const char *detail)
{
        uint64_t h = 1469598103934665603ull;
        const char *parts[2] = {object ? object : "", detail};
        size_t i;

        if (kind != PULL_BAD_BLOCK)
                return 0;
        for (i = 0; i < 2; i++)
                for (const char *c = parts[i]; *c != '\0'; c++)
                        h = (h ^ (uint8_t)*c) * 1099511628211ull;
        return h;
}

/* 1 if (KIND, DEVICE, SEQ, WHAT) was logged before; else remembers it (while there is room). */
static int pull_logged_before(struct pull *p, enum pull_kind kind, const uint8_t *device,
                              uint64_t seq, uint64_t what)
{
        struct pull_logged *l;
        size_t i;

        for (i = 0; i < p->nlogged; i++)
                if (p->logged[i].kind == kind && p->logged[i].seq == seq &&
                    p->logged[i].what == what && memcmp(p->logged[i].device_id, device, 16) == 0)
                        return 1;
        if (p->nlogged == p->logged_cap) {
                size_t cap = p->logged_cap ? 2 * p->logged_cap : 16;

                if (cap > PULL_ALARM_LOG_MAX)
                        return 0; /* full: log again rather than forget to log */
                l = realloc(p->logged, cap * sizeof(*l));
                if (l == NULL)
                        return 0;
                p->logged = l;
                p->logged_cap = cap;
        }
        l = &p->logged[p->nlogged++];
        l->kind = (uint8_t)kind;
        memcpy(l->device_id, device, 16);
        l->seq = seq;
        l->what = what;
        return 0;
}

/*
 * Keeps an alarm for pull_alarm_get (while there is room) and records it in
 * the index (invariant A1).  Caller holds P->lock (the index's own lock is
 * taken inside it, never the other way round).
 */
static void pull_keep(struct pull *p, enum pull_kind kind, const uint8_t *device, uint64_t seq,
                      const char *object, const char *detail, int holds)
{
        struct index_alarm a;
        struct pull_kept *k;
        int64_t id = 0;

        memset(&a, 0, sizeof(a));
        a.time = (int64_t)time(NULL);
        snprintf(a.kind, sizeof(a.kind), "%s", pull_kinds[kind].name);
        hex_encode(a.device, device, 16);
        a.seq = seq;
        snprintf(a.object, sizeof(a.object), "%s", object ? object : "");
        snprintf(a.detail, sizeof(a.detail), "%s", detail);
        a.holds = holds;
        if (index_alarm_add(p->ix, &a, &id) != 0)
                id = 0; /* logged; still shown until the puller ends */
        if (p->nkept == p->kept_cap) {
                size_t cap = p->kept_cap ? 2 * p->kept_cap : 8;

                if (cap > PULL_ALARM_KEEP)
                        return; /* counted in nalarms, not kept */
                k = realloc(p->kept, cap * sizeof(*k));
                if (k == NULL)
                        return;
                p->kept = k;
                p->kept_cap = cap;
        }
        k = &p->kept[p->nkept++];
        k->id = id;
        k->time = (time_t)a.time;
        k->kind = (int)kind;
        snprintf(k->name, sizeof(k->name), "%s", a.kind);
        k->holds = a.holds;
        memcpy(k->device_id, device, 16);
        k->seq = seq;
        snprintf(k->object, sizeof(k->object), "%s", a.object);
        snprintf(k->detail, sizeof(k->detail), "%s", detail);
}

/*
 * Raises alarm KIND about peer PS at SEQ (0: none) concerning store object
 * OBJECT: logged once per (kind, device, seq; bad-block: per pack record),
 * counted, kept as the last text, and the peer held if the kind holds.  Returns -EBADMSG for
 * holding kinds, else -EAGAIN (so callers can "return pull_alarm(...)").
 */
static int pull_alarm(struct pull *p, struct pull_peer_state *ps, enum pull_kind kind, uint64_t seq,
                      const char *object, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int pull_anchor_locked(const struct pull_peer_state *ps, uint64_t *seq, uint8_t hash[32],
                              int *demotion);

/*
 * Whether an alarm KIND (an enum pull_kind, or -1) that holds by its kind
 * (HOLDS) at SEQ holds PS.  Caller holds P->lock (the cutoff changes under
 * it).  Invariants C2, C9: a removal or demotion names the entry at its
 * cutoff, and so the chain below it, so a fork at or below the cutoff's seq
 * is decided by it -- the entry off the named chain is refused, and one
 * applied here is undone (pull_peer_cut) -- and its alarms (equivocation,
 * revoked) stay but hold nothing: the device goes on along the named chain
 * and is held (removal) or waits (demotion) at the first entry past it.
 */
static int pull_alarm_holds(const struct pull_peer_state *ps, int kind, int holds, uint64_t seq)
{
        uint64_t top;
        uint8_t top_hash[32];
        int dem;

        if (!holds)
                return 0;
        if ((kind == PULL_EQUIVOCATION || kind == PULL_REVOKED) && seq > 0 &&
            pull_anchor_locked(ps, &top, top_hash, &dem) && seq <= top)
                return 0;
        return 1;
}

static int pull_alarm(struct pull *p, struct pull_peer_state *ps, enum pull_kind kind, uint64_t seq,
                      const char *object, const char *fmt, ...)
{
        static const uint8_t nodev[16];
        /* cloned-device is about this device itself (pull_ack_alarm). */
        const uint8_t *dev = ps != NULL            ? ps->peer.device_id
                             : kind == PULL_CLONED ? p->self_id
                                                   : nodev;
        char detail[256], text[PULL_TEXT_MAX], selfhex[33];
        va_list ap;
        int holds;

        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        hex_encode(selfhex, p->self_id, 16);
        snprintf(text, sizeof(text), "%s: device %s seq %" PRIu64 ": %s (object %s)",
                 pull_kinds[kind].name,
                 ps != NULL            ? ps->hex
                 : kind == PULL_CLONED ? selfhex
                                       : "-",
                 seq, detail, object ? object : "-");
        pthread_mutex_lock(&p->lock);
        holds = ps != NULL ? pull_alarm_holds(ps, (int)kind, pull_kinds[kind].holds, seq)
                           : pull_kinds[kind].holds;
        if (holds && ps != NULL)
                ps->held = 1;
        if (!pull_logged_before(p, kind, dev, seq, pull_alarm_what(kind, object, detail))) {
                p->nalarms++;
                memcpy(p->last, text, sizeof(text));
                pull_keep(p, kind, dev, seq, object, detail, holds);
                pthread_mutex_unlock(&p->lock);
                if (holds)
                        log_err("pull: alarm %s; holding this device's updates", text);
                else if (pull_kinds[kind].holds)
                        log_warn("pull: alarm %s; its removal decides this seq (not holding)",
                                 text);
                else if (kind == PULL_KEY_CHANGED || kind == PULL_ACK_FORK ||
                         kind == PULL_BAD_BLOCK || kind == PULL_CKPT_FORK || kind == PULL_CLONED)
                        log_err("pull: alarm %s", text);
                else
                        log_warn("pull: %s", text);
        } else {
                pthread_mutex_unlock(&p->lock);
        }
        return holds ? -EBADMSG : -EAGAIN;
}

/* ---- counters (pull_get_stats) ---- */

static void pull_count_bytes(struct pull *p, size_t len)
{
        pthread_mutex_lock(&p->lock);
        p->st.bytes_fetched += len;
        pthread_mutex_unlock(&p->lock);
}

static void pull_count_applied(struct pull *p)
{
        pthread_mutex_lock(&p->lock);
        p->st.applied++;
        pthread_mutex_unlock(&p->lock);
}

static void pull_count_skipped(struct pull *p, unsigned n)
{
        pthread_mutex_lock(&p->lock);
        p->st.skipped += n;
        pthread_mutex_unlock(&p->lock);
}

static void pull_count_entries(struct pull *p, size_t listed, size_t done)
{
        pthread_mutex_lock(&p->lock);
        p->st.entries_listed += listed;
        p->st.entries_done += done;
        pthread_mutex_unlock(&p->lock);
}

static uint64_t pull_entries_done(struct pull *p)
{
        uint64_t n;

        pthread_mutex_lock(&p->lock);
        n = p->st.entries_done;
        pthread_mutex_unlock(&p->lock);
        return n;
}

/* ---- marks ---- */

static void pull_mark_name(const struct pull_peer_state *ps, char name[static 6 + 33])
{
        snprintf(name, 6 + 33, "peer:%s", ps->hex);
}

static int pull_mark_get(struct pull *p, const struct pull_peer_state *ps, struct pull_mark *mk)
{
        uint8_t v[PULL_MARK_LEN];
        char name[6 + 33];
        size_t len = 0;
        int rc;

        pull_mark_name(ps, name);
        memset(mk, 0, sizeof(*mk));
        rc = index_meta_get(p->ix, name, v, sizeof(v), &len);
        if (rc == -ENOENT)
                return 0;
        if (rc == 0 && (len != PULL_MARK_LEN || pull_get_u64(v) == 0))
                rc = -EIO;
        if (rc != 0) {
                log_err("pull: the local mark of device %s is unreadable: %s", ps->hex,
                        strerror(-rc));
                return rc;
        }
        mk->have = 1;
        mk->seq = pull_get_u64(v);
        memcpy(mk->hash, v + 8, 32);
        return 0;
}

static int pull_mark_put(struct pull *p, const struct pull_peer_state *ps, uint64_t seq,
                         const uint8_t hash[static 32])
{
        uint8_t v[PULL_MARK_LEN];
        char name[6 + 33];
        int rc;

        pull_mark_name(ps, name);
        pull_put_u64(v, seq);
        memcpy(v + 8, hash, 32);
        rc = index_meta_put(p->ix, name, v, sizeof(v));
        if (rc != 0)
                log_err("pull: cannot record the mark of device %s: %s", ps->hex, strerror(-rc));
        return rc;
}

/* Invariant C2: PS's mark goes back to the cutoff CUT (none if CUT has none). */
static int pull_mark_cut(struct pull *p, const struct pull_peer_state *ps,
                         const struct pull_mark *cut)
{
        char name[6 + 33];
        int rc;

        if (cut->have)
                return pull_mark_put(p, ps, cut->seq, cut->hash);
        pull_mark_name(ps, name);
        rc = index_meta_del(p->ix, name);
        if (rc != 0)
                log_err("pull: cannot reset the mark of device %s: %s", ps->hex, strerror(-rc));
        return rc;
}

/* ---- invariant C9: the chain a cutoff names ---- */

static int pull_cut_load(struct pull *p, struct pull_peer_state *ps, uint64_t seq,
                         const uint8_t hash[static 32], struct journal_entry *e);

/*
 * The anchor of PS (invariant C9): the entry (*SEQ, HASH) that a cutoff
 * names and whose prev chain decides PS's forks at or below it -- its
 * removal's cutoff, its open demotion cutoff or the cutoff of its first
 * demotion a promotion closed (R5), the lowest of them (*DEMOTION: which).  Returns 1, or 0 if PS
 * has none (no such cutoff, or cutoff 0: nothing of it counts).  Caller holds P->lock.
 */
static int pull_anchor_locked(const struct pull_peer_state *ps, uint64_t *seq, uint8_t hash[32],
                              int *demotion)
{
        const struct members_standing *st = &ps->peer.standing;
        int found = 0;

        if (__atomic_load_n(&ps->peer.removed, __ATOMIC_ACQUIRE) && ps->peer.cutoff_seq > 0) {
                found = 1;
                *seq = ps->peer.cutoff_seq;
                memcpy(hash, ps->peer.cutoff_hash, 32);
                *demotion = 0;
        }
        if (st->cut && st->cut_seq > 0 && (!found || st->cut_seq < *seq)) {
                found = 1;
                *seq = st->cut_seq;
                memcpy(hash, st->cut_hash, 32);
                *demotion = 1;
        }
        /* A demotion a promotion closed still names its cutoff (ascending: the first). */
        if (st->nvoid > 0 && st->voids[0].lo_seq > 0 && (!found || st->voids[0].lo_seq < *seq)) {
                found = 1;
                *seq = st->voids[0].lo_seq;
                memcpy(hash, st->voids[0].lo_hash, 32);
                *demotion = 1;
        }
        return found;
}

/* pull_anchor_locked, taking P->lock. */
static int pull_anchor(struct pull *p, const struct pull_peer_state *ps, uint64_t *seq,
                       uint8_t hash[32], int *demotion)
{
        int found;

        pthread_mutex_lock(&p->lock);
        found = pull_anchor_locked(ps, seq, hash, demotion);
        pthread_mutex_unlock(&p->lock);
        return found;
}

/*
 * The entry at SEQ (<= TOP) of the chain that entry (TOP, TOP_HASH) of PS
 * names, into OUT, if known without a fetch: SEQ is TOP, or 0 (entry 1
 * names no prev: zeros), or PS's kept chain from that entry reaches it.
 * Returns 1 or 0 (not known).  Any thread (takes P->lock).
 */
static int pull_chain_known(struct pull *p, const struct pull_peer_state *ps, uint64_t top,
                            const uint8_t top_hash[static 32], uint64_t seq, uint8_t out[32])
{
        int known = 0;

        assert(seq <= top);
        if (seq == top) {
                memcpy(out, top_hash, 32);
                return 1;
        }
        if (seq == 0) {
                memset(out, 0, 32);
                return 1;
        }
        pthread_mutex_lock(&p->lock);
        if (ps->nchain > 0 && ps->chain_top == top && memcmp(ps->chain[0], top_hash, 32) == 0 &&
            top - seq < ps->nchain) {
                memcpy(out, ps->chain[top - seq], 32);
                known = 1;
        }
        pthread_mutex_unlock(&p->lock);
        return known;
}

/*
 * Invariant C9: the entry at SEQ (<= TOP) of the chain that entry (TOP,
 * TOP_HASH) of PS names, into OUT -- fetching the chain back from TOP by
 * name (each entry checked: hash, signature under the pinned key, region,
 * device, seq: pull_cut_load) as far as needed and keeping it.  Returns 0,
 * -EAGAIN (the store does not show the chain, yet, or an entry 1 names a
 * prev), -E2BIG (more than PULL_CHAIN_MAX seqs below TOP: undecided, fail
 * closed) or -ENOMEM.  The round's thread only.
 */
static int pull_chain_at(struct pull *p, struct pull_peer_state *ps, uint64_t top,
                         const uint8_t top_hash[static 32], uint64_t seq, uint8_t out[32])
{
        static const uint8_t zero[32];
        struct journal_entry e;
        uint8_t at[32];
        uint64_t s;
        int rc = 0;

        if (pull_chain_known(p, ps, top, top_hash, seq, out))
                return 0;
        if (top - seq >= PULL_CHAIN_MAX)
                return -E2BIG;
        pthread_mutex_lock(&p->lock);
        if (ps->nchain == 0 || ps->chain_top != top || memcmp(ps->chain[0], top_hash, 32) != 0) {
                ps->nchain = 0; /* another cutoff than the kept chain's: start again */
                ps->chain_top = top;
        }
        pthread_mutex_unlock(&p->lock);
        while (rc == 0 && top - seq >= ps->nchain) {
                if (ps->nchain == 0) {
                        memcpy(at, top_hash, 32);
                        s = top + 1; /* CHAIN[0] is the named entry itself */
                } else {
                        s = top - (ps->nchain - 1);
                        memcpy(at, ps->chain[ps->nchain - 1], 32);
                        rc = pull_cut_load(p, ps, s, at, &e);
                        if (rc != 0)
                                break;
                        memcpy(at, e.prev, 32);
                        journal_release(&e);
                        if (s == 1 && memcmp(at, zero, 32) != 0) {
                                rc = -EAGAIN; /* a first entry that names a prev: no chain */
                                break;
                        }
                }
                pthread_mutex_lock(&p->lock);
                if (ps->nchain == ps->chain_cap) {
                        size_t cap = ps->chain_cap ? 2 * ps->chain_cap : 16;
                        uint8_t(*c)[32] = realloc(ps->chain, cap * sizeof(*c));

                        if (c == NULL) {
                                rc = -ENOMEM;
                        } else {
                                ps->chain = c;
                                ps->chain_cap = cap;
                        }
                }
                if (rc == 0)
                        memcpy(ps->chain[ps->nchain++], at, 32);
                pthread_mutex_unlock(&p->lock);
        }
        if (rc == 0)
                memcpy(out, ps->chain[top - seq], 32);
        else if (rc != -ENOMEM)
                log_warn("pull: device %s: the chain its cutoff (seq %" PRIu64 ") names cannot be "
                         "followed down to seq %" PRIu64 " yet: %s; its fork waits",
                         ps->hex, top, seq, strerror(-rc));
        return rc;
}

int pull_named_chain_at(struct pull *p, const uint8_t device_id[static 16], uint64_t seq,
                        uint8_t out[static 32])
{
        struct pull_peer_state *ps = pull_peer_find(p, device_id);
        uint8_t top_hash[32], h[32];
        uint64_t top = 0;
        int dem = 0, rc;

        if (ps == NULL)
                return -ENOENT;
        if (seq == 0 || !pull_anchor(p, ps, &top, top_hash, &dem) || seq > top)
                return 0; /* no cutoff decides that entry */
        rc = pull_chain_at(p, ps, top, top_hash, seq, h);
        if (rc != 0)
                return rc;
        memcpy(out, h, 32);
        return 1;
}

/* ---- listing (step 2) ---- */

struct pull_list {
        struct pull *p;
        struct pull_peer_state *ps;
        const struct pull_mark *mk;
        int mark_seen;
        int alarmed;
        uint64_t next;                     /* the seq the next new key must have */
        char prev[PULL_STORE_KEY_MAX + 1]; /* the previous key: the store lists in order */
        int have_prev;
        int gap; /* the listing skipped NEXT: the round stops before it */
        struct pull_item *items;
        size_t n, cap;
        /* The peer's anchor when the listing began (C9: the entry a cutoff names). */
        int anchored;
        uint64_t cut_seq;
        uint8_t cut_hash[32];
        uint64_t need; /* C9: a fork at this seq, the named chain not known there yet */
};

static int pull_list_add(struct pull_list *l, uint64_t seq, const uint8_t *hash)
{
        if (l->n == l->cap) {
                size_t cap = l->cap ? 2 * l->cap : 16;
                struct pull_item *it = realloc(l->items, cap * sizeof(*it));

                if (it == NULL)
                        return -ENOMEM;
                l->items = it;
                l->cap = cap;
        }
        l->items[l->n].seq = seq;
        memcpy(l->items[l->n].hash, hash, 32);
        l->n++;
        l->next = seq + 1;
        return 0;
}

static int pull_list_alarm(struct pull_list *l, enum pull_kind kind, uint64_t seq, const char *key,
                           const char *what)
{
        (void)pull_alarm(l->p, l->ps, kind, seq, key, "%s", what);
        l->alarmed = 1;
        return PULL_LIST_STOP;
}

/*
 * Invariant C9: whether entry (SEQ, HASH) of the peer is off the chain its
 * anchor names: 1 (off: refused like an entry past the cutoff), 0 (on it, or
 * above the anchor: judged by standing), -1 (at or below the anchor but the
 * chain is not known there yet: no fetch inside a listing).
 */
static int pull_list_off_chain(const struct pull_list *l, uint64_t seq, const uint8_t hash[32])
{
        uint8_t h[32];

        if (!l->anchored || seq > l->cut_seq)
                return 0;
        if (!pull_chain_known(l->p, l->ps, l->cut_seq, l->cut_hash, seq, h))
                return -1;
        return memcmp(hash, h, 32) != 0;
}

/*
 * KEY is such an entry (pull_list_off_chain): the alarm equivocation, which
 * does not hold the device (its cutoff decides the seq, pull_alarm_holds),
 * and the listing goes on, so the named chain is taken.
 */
static int pull_list_refuse(struct pull_list *l, uint64_t seq, const char *key)
{
        (void)pull_alarm(l->p, l->ps, PULL_EQUIVOCATION, seq, key,
                         "%s entry at this seq than the one on the chain its %s's cutoff "
                         "names (forked journal): refused",
                         seq == l->cut_seq ? "another" : "a second",
                         l->ps->peer.removed ? "removal" : "demotion");
        return 0;
}

/* A fork at SEQ whose named chain is not known yet: pull_list fetches it and lists again. */
static int pull_list_need(struct pull_list *l, uint64_t seq)
{
        l->need = seq;
        return PULL_LIST_STOP;
}

/*
 * KEY's seq is past L->next, which the listing does not show (FOUND.md B5):
 * an eventually consistent store lists a new key late, so the round takes
 * the entries before the gap and stops; only a gap that lasts the grace
 * period (pull_set_gap_grace) is the holding alarm journal-gap.
 */
static int pull_list_gap(struct pull_list *l, const char *key)
{
        struct pull_peer_state *ps = l->ps;
        time_t now = time(NULL);

        l->gap = 1;
        if (ps->gap_seq != l->next) {
                ps->gap_seq = l->next;
                ps->gap_since = now;
                log_info("pull: device %s: the listing shows %s but not seq %" PRIu64
                         " yet; waiting for it",
                         ps->hex, key, l->next);
        }
        if (now - ps->gap_since < l->p->gap_grace_s)
                return PULL_LIST_STOP;
        return pull_list_alarm(l, PULL_GAP, l->next, key, "the next entry is missing");
}

static int pull_list_cb(void *arg, const char *key, uint64_t size)
{
        struct pull_list *l = arg;
        uint8_t rid[32], dev[16], hash[32];
        uint64_t seq = 0;
        int off;

        (void)size; /* the GET is bounded; the listed size is only a hint */
        if (l->have_prev && strcmp(key, l->prev) <= 0) {
                log_err("pull: the store listed %s out of order", key);
                return -EIO;
        }
        l->have_prev = snprintf(l->prev, sizeof(l->prev), "%s", key) < (int)sizeof(l->prev);
        if (journal_parse_key(key, rid, dev, &seq, hash) != 0 ||
            memcmp(rid, l->p->region_id, 32) != 0 || memcmp(dev, l->ps->peer.device_id, 16) != 0) {
                (void)pull_alarm(l->p, l->ps, PULL_JUNK, 0, key, "not a journal key; skipped");
                return 0;
        }
        if (l->mk->have && seq < l->mk->seq)
                return 0; /* cannot be listed after start-after; harmless */
        if (l->mk->have && seq == l->mk->seq) {
                if (memcmp(hash, l->mk->hash, 32) == 0) {
                        l->mark_seen = 1;
                        return 0;
                }
                off = pull_list_off_chain(l, seq, l->mk->hash);
                if (off < 0)
                        return pull_list_need(l, seq);
                if (l->anchored && seq <= l->cut_seq && !off)
                        return pull_list_refuse(l, seq, key); /* the mark is on the chain */
                if (off) /* C9: undone by the next pull_peer_cut, which knows the chain now */
                        return pull_list_alarm(l, PULL_EQUIVOCATION, seq, key,
                                               "a second entry at the applied seq; the applied "
                                               "one is off the chain its cutoff names (forked "
                                               "journal): it goes back");
                return pull_list_alarm(l, PULL_EQUIVOCATION, seq, key,
                                       "a second entry at the applied seq");
        }
        if (l->mk->have && !l->mark_seen)
                return pull_list_alarm(l, PULL_ROLLBACK, l->mk->seq, key,
                                       "the store no longer shows the applied entry");
        off = pull_list_off_chain(l, seq, hash);
        if (off > 0)
                return pull_list_refuse(l, seq, key);
        if (l->n > 0 && seq == l->items[l->n - 1].seq) {
                if (off < 0)
                        return pull_list_need(l, seq);
                return pull_list_alarm(l, PULL_EQUIVOCATION, seq, key, "two entries at one seq");
        }
        if (seq != l->next)
                return pull_list_gap(l, key);
        if (l->n == PULL_LIST_MAX)
                return PULL_LIST_STOP; /* the rest next round; KEY checked then */
        return pull_list_add(l, seq, hash);
}

/* Lists PS's new entries after MK into *ITEMS and *N (none after an alarm). */
static int pull_list(struct pull *p, struct pull_peer_state *ps, const struct pull_mark *mk,
                     struct pull_item **items, size_t *n)
{
        char prefix[PULL_DIR_KEY_LEN + 1], after[PULL_DIR_KEY_LEN + 17];
        struct pull_list l;
        uint8_t h[32];
        int rc, dem, pass;

        snprintf(prefix, sizeof(prefix), "%s/journal/%s/", p->region_hex, ps->hex);
        snprintf(after, sizeof(after), "%s%016" PRIx64, prefix, mk->seq);
        for (pass = 0;; pass++) {
                memset(&l, 0, sizeof(l));
                l.p = p;
                l.ps = ps;
                l.mk = mk;
                l.next = mk->have ? mk->seq + 1 : 1;
                l.anchored = pull_anchor(p, ps, &l.cut_seq, l.cut_hash, &dem);
                rc = p->store->ops->list(p->store, prefix, mk->have ? after : NULL, pull_list_cb,
                                         &l);
                if (rc == PULL_LIST_STOP)
                        rc = 0;
                if (rc != 0 || l.alarmed || l.need == 0)
                        break;
                /* C9: a fork at or below the anchor; its chain decides, then list again. */
                free(l.items);
                l.items = NULL;
                l.n = 0;
                rc = pass < 2 ? pull_chain_at(p, ps, l.cut_seq, l.cut_hash, l.need, h) : -EAGAIN;
                if (rc == -ENOMEM)
                        return rc;
                if (rc != 0) {
                        /* Named, and no further than the fork (not holding: C9). */
                        snprintf(after, sizeof(after), "%s%016" PRIx64, prefix, l.need);
                        pull_list_alarm(&l, PULL_EQUIVOCATION, l.need, after,
                                        "two entries at one seq; the chain its cutoff names is "
                                        "not shown yet (tried again every round)");
                        rc = 0;
                        break;
                }
        }
        if (rc == 0 && !l.alarmed && mk->have && !l.mark_seen)
                pull_list_alarm(&l, PULL_ROLLBACK, mk->seq, after,
                                "the store no longer shows the applied entry");
        if (rc == 0 && !l.gap)
                ps->gap_seq = 0; /* no gap (any more) */
        if (rc != 0 || l.alarmed) {
                free(l.items);
                l.items = NULL;
                l.n = 0;
        }
        if (rc == 0) {
                *items = l.items;
                *n = l.n;
        }
        return rc;
}

/* ---- step 3: one entry ---- */

static int pull_wait_membership(struct pull *p, struct pull_peer_state *ps, uint64_t seq,
                                const char *ekey, enum pull_kind kind, const char *what);

/*
 * The standing of entry IT of PS (check_standing): a removed peer's entries
 * count only up to its cutoff, the one at the cutoff must be the one the
 * removal names, and only writers and admins write.  0 or the alarm's result.
 * A refusal of an entry whose membership head MEMBER_HEAD this device has not
 * folded yet is deferred (0): the role or cutoff it is judged by may be what
 * that head changed, so pull_entry waits for a membership refresh first and
 * the entry is checked again from the start (a role granted a moment ago is
 * not a lasting not-a-writer alarm).
 */
static int pull_check_standing(struct pull *p, struct pull_peer_state *ps,
                               const struct pull_item *it, const char *key,
                               const uint8_t member_head[static 32])
{
        static const enum pull_kind kinds[] = {
            [CHECK_STANDING_NOT_WRITER] = PULL_NOT_WRITER,
            [CHECK_STANDING_REVOKED] = PULL_REVOKED,
            [CHECK_STANDING_FORKED] = PULL_EQUIVOCATION,
            [CHECK_STANDING_DEMOTED] = PULL_DEMOTED,
        };
        struct check_signer s;
        const char *why = NULL;
        int st;

        memset(&s, 0, sizeof(s));
        s.role = __atomic_load_n(&ps->peer.role, __ATOMIC_RELAXED); /* pull_set_peers */
        s.removed = __atomic_load_n(&ps->peer.removed, __ATOMIC_ACQUIRE);
        pthread_mutex_lock(&p->lock); /* they change together (pull_peer_update) */
        if (s.removed) {
                s.cutoff_seq = ps->peer.cutoff_seq;
                memcpy(s.cutoff_hash, ps->peer.cutoff_hash, 32);
        }
        s.standing = ps->peer.standing;
        pthread_mutex_unlock(&p->lock);
        st = check_standing(&s, it->seq, it->hash, &why);
        if (st == CHECK_STANDING_OK)
                return 0;
        if (st == CHECK_STANDING_VOID)
                return PULL_VOID;
        if (p->ops->member_known != NULL && !p->ops->member_known(p->arg, member_head))
                return 0; /* judged after the refresh pull_entry waits for */
        /* The role may be newer than our fold (a promotion): judged again after a refresh. */
        if (st == CHECK_STANDING_NOT_WRITER)
                return pull_wait_membership(p, ps, it->seq, key, PULL_NOT_WRITER, why);
        if (st == CHECK_STANDING_DEMOTED) {
                /* Invariant R5: refused on every device; not held (a promotion may follow);
                 * remembered, so the next rounds do not fetch it again (pull_refused_again). */
                ps->refused_have = 1;
                ps->refused_seq = it->seq;
                memcpy(ps->refused_hash, it->hash, 32);
                ps->refused_role = s.role;
                ps->refused_st = s.standing;
                (void)pull_alarm(p, ps, PULL_DEMOTED, it->seq, key,
                                 "%s (cutoff seq %llu): entries from seq %llu on are refused", why,
                                 (unsigned long long)s.standing.cut_seq,
                                 (unsigned long long)it->seq);
                return PULL_WAIT_ROLE;
        }
        return pull_alarm(p, ps, kinds[st], it->seq, key, "%s (role %u, cutoff seq %llu)", why,
                          s.role, (unsigned long long)s.cutoff_seq);
}

/*
 * Entry IT (object KEY) of PS does not follow the applied one (mark MK): the
 * journal forked.  Invariant C9: at or below PS's anchor its named chain
 * decides -- if the applied entry is off it, the alarm equivocation at the
 * mark's seq (not holding) and PULL_WAIT_CUT (pull_peer_cut undoes it next
 * round); if IT is off it (the named entry hidden), equivocation at IT's seq
 * (not holding), IT refused, PULL_WAIT_CUT.  Without an anchor (or when the
 * chain cannot be fetched yet) the holding alarm equivocation at IT's seq.
 */
static int pull_not_following(struct pull *p, struct pull_peer_state *ps,
                              const struct pull_mark *mk, const struct pull_item *it,
                              const char *key)
{
        uint64_t top;
        uint8_t top_hash[32], h[32];
        int dem, rc;

        if (mk->have && pull_anchor(p, ps, &top, top_hash, &dem) && it->seq <= top) {
                rc = pull_chain_at(p, ps, top, top_hash, mk->seq, h);
                if (rc == -ENOMEM)
                        return rc;
                if (rc == 0 && memcmp(h, mk->hash, 32) != 0) {
                        (void)pull_alarm(p, ps, PULL_EQUIVOCATION, mk->seq, key,
                                         "signed entry does not follow the applied one, which is "
                                         "off the chain its %s's cutoff names (forked journal): "
                                         "it goes back",
                                         dem ? "demotion" : "removal");
                        return PULL_WAIT_CUT;
                }
                if (rc == 0)
                        rc = pull_chain_at(p, ps, top, top_hash, it->seq, h);
                if (rc == 0 && memcmp(h, it->hash, 32) != 0) {
                        (void)pull_alarm(p, ps, PULL_EQUIVOCATION, it->seq, key,
                                         "signed entry off the chain its %s's cutoff names "
                                         "(forked journal): refused",
                                         dem ? "demotion" : "removal");
                        return PULL_WAIT_CUT;
                }
        }
        return pull_alarm(p, ps, PULL_EQUIVOCATION, it->seq, key,
                          "signed entry does not follow the applied one (forked journal)");
}

/* GETs and checks entry IT of PS against the mark MK into *E (and its bytes). */
static int pull_entry_load(struct pull *p, struct pull_peer_state *ps, const struct pull_mark *mk,
                           const struct pull_item *it, const char *key, struct journal_entry *e)
{
        static const uint8_t zero[32];
        const uint8_t *prev = mk->have ? mk->hash : zero;
        const char *why = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc;

        rc = p->store->ops->get(p->store, key, JOURNAL_MAX_SIZE, &buf, &len);
        if (rc == -ENOENT)
                return -EAGAIN; /* listed a moment ago; the next listing tells */
        if (rc == -EFBIG)
                return pull_alarm(p, ps, PULL_BAD_OBJECT, it->seq, key,
                                  "larger than any journal entry");
        if (rc != 0)
                return rc;
        pull_count_bytes(p, len);
        rc = check_entry(buf, len, it->hash, p->region_id, ps->peer.device_id, it->seq,
                         ps->peer.sign_pk, e, &why);
        free(buf);
        if (rc == -EBADMSG)
                return pull_alarm(p, ps, PULL_BAD_OBJECT, it->seq, key, "%s", why);
        if (rc != 0)
                return rc;
        rc = pull_check_standing(p, ps, it, key, e->member_head);
        if ((rc == 0 || rc == PULL_VOID) && memcmp(e->prev, prev, 32) != 0)
                rc = pull_not_following(p, ps, mk, it, key);
        if (rc != 0 && rc != PULL_VOID)
                journal_release(e);
        return rc;
}

/*
 * Checks that every commit of E in BY_PACK[*CUR..] naming pack PK starts a
 * manifest record of its length (ENTS, N: the pack's trailer), advancing *CUR
 * (sync/check.c); a failure is the alarm bad-object.
 */
static int pull_check_commits(struct pull *p, struct pull_peer_state *ps, const char *ekey,
                              const struct journal_entry *e, const struct journal_commit **by_pack,
                              size_t *cur, const struct pull_pack *pk,
                              const struct pack_entry *ents, size_t n)
{
        const char *why = NULL;
        int rc = check_pack_commits(e, by_pack, cur, pk->hash, ents, n, &why);

        if (rc == -EBADMSG)
                rc = pull_alarm(p, ps, PULL_BAD_OBJECT, e->seq, ekey, "%s", why);
        return rc;
}

/* Records the trailer ENTS (N) of pack HASH in the pack index. */
static int pull_index_pack(struct pull *p, const uint8_t hash[static 32],
                           const struct pack_entry *ents, size_t n)
{
        size_t i;
        int rc = 0;

        for (i = 0; i < n && rc == 0; i++)
                rc = index_packidx_put(p->ix, ents[i].hash, hash, ents[i].off, ents[i].len);
        return rc;
}

/* GETs and checks pack I of E into PK (its trailer into *ENTS, *N). */
/*
 * What fetching pack JP of entry E (store key KEY) came to: the GET's
 * result GET_RC (LEN bytes), then check_pack's CHECK_RC (WHY); the alarms
 * and counters of that, in the round's thread.  Returns 0 or the result.
 */
static int pull_pack_judge(struct pull *p, struct pull_peer_state *ps, const char *ekey,
                           const struct journal_entry *e, const char *key, int get_rc, size_t len,
                           int check_rc, const char *why)
{
        if (get_rc == -ENOENT)
                return pull_alarm(p, ps, PULL_MISSING, e->seq, key,
                                  "named by entry %s but not on the store", ekey);
        if (get_rc == -EFBIG)
                return pull_alarm(p, ps, PULL_BAD_OBJECT, e->seq, key,
                                  "size differs from the one entry %s gives", ekey);
        if (get_rc != 0)
                return get_rc;
        pull_count_bytes(p, len);
        if (check_rc == -EBADMSG)
                return pull_alarm(p, ps, PULL_BAD_OBJECT, e->seq, key, "%s (entry %s)", why, ekey);
        return check_rc;
}

/* GETs and checks pack I of E into PK (its trailer into *ENTS, *N). */
static int pull_pack_get(struct pull *p, struct pull_peer_state *ps, const char *ekey,
                         const struct journal_entry *e, size_t i, struct pull_pack *pk,
                         uint8_t **buf, size_t *len, struct pack_entry **ents, size_t *n)
{
        char key[PULL_PACK_KEY_SIZE];
        const char *why = NULL;
        int rc, crc = 0;

        memcpy(pk->hash, e->packs[i].hash, 32);
        pk->size = e->packs[i].size;
        pull_pack_key(p, pk->hash, key);
        /* The entry is signed: its size bounds what we take (<= PACK_MAX_SIZE). */
        rc = p->store->ops->get(p->store, key, (size_t)pk->size, buf, len);
        if (rc == 0)
                crc = check_pack(*buf, *len, &e->packs[i], ents, n, &why);
        rc = pull_pack_judge(p, ps, ekey, e, key, rc, *len, crc, why);
        if (rc != 0) {
                free(*buf);
                *buf = NULL;
        }
        return rc;
}

/*
 * Spools verified pack bytes BUF (LEN) to an unlinked file in the spool
 * directory, so the apply pass reads them locally instead of one range GET
 * per record.  Ciphertext and signed records only.  Returns the fd, or -1
 * (no spool directory or an I/O error: the records are then fetched by
 * range GETs, as before).
 */
static int pull_spool(struct pull *p, const uint8_t *buf, size_t len)
{
        int fd;

        if (p->spool_dirfd < 0)
                return -1;
        fd = openat(p->spool_dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (fd < 0)
                return -1;
        if (fileio_pwrite_full(fd, buf, len, 0) != 0) {
                close(fd);
                return -1;
        }
        return fd;
}

/* LEN bytes at OFF of pack PK from memory or the spool into OUT; -ENOENT if neither has it. */
static int pull_pack_read(const struct pull_pack *pk, uint64_t off, size_t len, uint8_t *out)
{
        size_t i;

        if (off > pk->size || len > pk->size - off)
                return -ENOENT;
        for (i = 0; i < pk->npieces; i++) {
                const struct pull_piece *pc = &pk->pieces[i];

                if (pc->bytes != NULL && off >= pc->off && off + len <= pc->off + pc->len) {
                        memcpy(out, pc->bytes + (off - pc->off), len);
                        return 0;
                }
        }
        if (pk->bytes != NULL) {
                memcpy(out, pk->bytes + off, len);
                return 0;
        }
        if (pk->fd >= 0 && fileio_pread_full(pk->fd, out, len, (off_t)off) == 0)
                return 0;
        return -ENOENT;
}

/* ---- lazy mode: a pack's trailer and its manifests' ranges ---- */

/* A ranged GET of pack PK that failed with RC, as an alarm where the store is at fault. */
static int pull_range_error(struct pull *p, struct pull_peer_state *ps, const char *ekey,
                            uint64_t seq, const char *key, int rc)
{
        if (rc == -ENOENT)
                return pull_alarm(p, ps, PULL_MISSING, seq, key,
                                  "named by entry %s but not on the store", ekey);
        if (rc == -EIO || rc == -EBADMSG)
                return pull_alarm(p, ps, PULL_BAD_OBJECT, seq, key,
                                  "shorter than entry %s says, or its trailer is malformed", ekey);
        return rc;
}

/*
 * D8: 0 if TRAILER (TLEN bytes) of pack PK (store key KEY) is the one its
 * name binds (the version-2 name), or PK is a version-1 pack (named by all
 * its bytes: its trailer stays hints, every record being checked by its
 * hash when read, as before version 2); 1 if neither (an altered trailer);
 * or the store's error reading the magic.  Only a trailer that is not the
 * version-2 one costs a GET more (the pack's first 8 bytes).
 */
static int pull_tail_named(struct pull *p, const char *key, const struct pull_pack *pk,
                           const uint8_t *trailer, size_t tlen)
{
        uint8_t name[PACK_HASH_LEN], magic[PACK_MAGIC_LEN];
        int rc;

        pack_name_of_trailer(trailer, tlen, name);
        if (memcmp(name, pk->hash, PACK_HASH_LEN) == 0)
                return 0;
        rc = p->store->ops->get_range(p->store, key, 0, sizeof(magic), magic);
        if (rc != 0)
                return rc;
        pull_count_bytes(p, sizeof(magic));
        return memcmp(magic, PACK_MAGIC_V1, PACK_MAGIC_LEN) == 0 ? 0 : 1;
}

/* The trailer of pack PK by one suffix GET (two if it is longer than guessed), checked (D8). */
static int pull_pack_tail(struct pull *p, struct pull_peer_state *ps, const char *ekey,
                          uint64_t seq, const struct pull_pack *pk, struct pack_entry **ents,
                          size_t *n)
{
        char key[PULL_PACK_KEY_SIZE];
        size_t want = pk->size < PULL_TAIL_GUESS ? (size_t)pk->size : PULL_TAIL_GUESS, need = 0;
        int rc = 0, tries, named = 0;

        pull_pack_key(p, pk->hash, key);
        for (tries = 0; tries < 2; tries++) {
                uint8_t *tail = malloc(want);

                if (tail == NULL)
                        return -ENOMEM;
                rc = p->store->ops->get_range(p->store, key, pk->size - want, want, tail);
                if (rc == 0) {
                        pull_count_bytes(p, want);
                        rc = pack_parse_trailer(tail, want, pk->size, ents, n, &need);
                        if (rc == -EAGAIN)
                                rc = need > want && need <= pk->size ? 1 : -EBADMSG;
                        else if (rc == 0)
                                named =
                                    pull_tail_named(p, key, pk, tail + want - pack_trailer_len(*n),
                                                    pack_trailer_len(*n));
                }
                free(tail);
                if (rc != 1)
                        break;
                want = need;
        }
        if (rc == 0 && named != 0) {
                free(*ents);
                *ents = NULL;
                if (named != 1)
                        return pull_range_error(p, ps, ekey, seq, key, named);
                return pull_alarm(p, ps, PULL_BAD_OBJECT, seq, key,
                                  "named by entry %s, but its trailer does not match its name",
                                  ekey);
        }
        return rc == 1 ? -EBADMSG : pull_range_error(p, ps, ekey, seq, key, rc);
}

static void pull_pieces_drop(struct pull_pack *pk)
{
        size_t i;

        for (i = 0; i < pk->npieces; i++)
                free(pk->pieces[i].bytes);
        free(pk->pieces);
        pk->pieces = NULL;
        pk->npieces = 0;
}

/*
 * Plans PK's pieces around the manifests of its commits C[0..K) (sorted by
 * offset); *TOTAL gets their bytes.  Nothing is fetched.
 */
static int pull_plan_pieces(struct pull_pack *pk, const struct journal_commit **c, size_t k,
                            uint64_t *total)
{
        size_t i;

        *total = 0;
        pk->pieces = calloc(k ? k : 1, sizeof(*pk->pieces));
        if (pk->pieces == NULL)
                return -ENOMEM;
        for (i = 0; i < k; i++) {
                uint64_t start = c[i]->off > PACK_MIN_RECORD_OFF + PULL_PIECE_GAP
                                     ? c[i]->off - PULL_PIECE_GAP
                                     : PACK_MIN_RECORD_OFF;
                uint64_t end = c[i]->off + c[i]->len; /* <= size (journal_decode) */
                struct pull_piece *last = pk->npieces > 0 ? &pk->pieces[pk->npieces - 1] : NULL;

                if (last != NULL && start <= last->off + last->len) {
                        if (end > last->off + last->len)
                                last->len = (size_t)(end - last->off);
                        continue;
                }
                pk->pieces[pk->npieces].off = start;
                pk->pieces[pk->npieces].len = (size_t)(end - start);
                pk->npieces++;
        }
        for (i = 0; i < pk->npieces; i++)
                *total += pk->pieces[i].len;
        return 0;
}

/* GETs the planned pieces of PK. */
static int pull_pieces_get(struct pull *p, struct pull_peer_state *ps, const char *ekey,
                           uint64_t seq, struct pull_pack *pk)
{
        char key[PULL_PACK_KEY_SIZE];
        size_t i;
        int rc = 0;

        pull_pack_key(p, pk->hash, key);
        for (i = 0; i < pk->npieces && rc == 0; i++) {
                struct pull_piece *pc = &pk->pieces[i];

                pc->bytes = malloc(pc->len);
                if (pc->bytes == NULL)
                        return -ENOMEM;
                rc = p->store->ops->get_range(p->store, key, pc->off, pc->len, pc->bytes);
                if (rc == 0)
                        pull_count_bytes(p, pc->len);
                else
                        rc = pull_range_error(p, ps, ekey, seq, key, rc);
        }
        return rc;
}

/*
 * Lazy mode's choice for a pack of SIZE bytes whose manifests' ranges come
 * to TOTAL, with KEPT bytes kept so far: 1 to fetch it whole instead (the
 * ranges would be half of it or more, or over the budget).  One rule for
 * pull_pack_lazy and for pull_ahead_plan, which must agree.
 */
static int pull_lazy_whole(uint64_t total, uint64_t size, size_t kept)
{
        return total >= size / 2 || total > PULL_KEEP_MAX - kept;
}

/*
 * Lazy mode for pack I of E (commits BY_PACK[*CUR..] name it): its trailer,
 * checked against the pack's name (version 2, doc/SYNC.md D8; a version-1
 * trailer is taken as hints, every record being checked by its hash when
 * read), goes to the pack index, and the ranges holding its manifests are
 * fetched.  Returns 0, 1 (fetch it whole instead), an alarm's
 * result or an error.  *KEPT counts the bytes kept in memory.
 */
static int pull_pack_lazy(struct pull *p, struct pull_peer_state *ps, const char *ekey,
                          const struct journal_entry *e, size_t i, struct pull_pack *pk,
                          const struct journal_commit **by_pack, size_t *cur, size_t *kept)
{
        struct pack_entry *ents = NULL;
        size_t n = 0, k = 0;
        uint64_t total = 0;
        int rc;

        memcpy(pk->hash, e->packs[i].hash, 32);
        pk->size = e->packs[i].size;
        while (*cur + k < e->ncommits && memcmp(by_pack[*cur + k]->pack_hash, pk->hash, 32) == 0)
                k++;
        rc = pull_plan_pieces(pk, by_pack + *cur, k, &total);
        if (rc == 0 && pull_lazy_whole(total, pk->size, *kept))
                rc = 1;
        if (rc == 0)
                rc = pull_pack_tail(p, ps, ekey, e->seq, pk, &ents, &n);
        if (rc == 0)
                rc = pull_check_commits(p, ps, ekey, e, by_pack, cur, pk, ents, n);
        if (rc == 0)
                rc = pull_index_pack(p, pk->hash, ents, n);
        free(ents);
        if (rc == 0)
                rc = pull_pieces_get(p, ps, ekey, e->seq, pk);
        if (rc != 0) {
                pull_pieces_drop(pk);
                return rc;
        }
        *kept += total;
        return 0;
}

/*
 * Pack PK's verified bytes BUF (LEN) and trailer ENTS (N), both taken
 * (freed here): the commits BY_PACK[*CUR..] that name it checked, its
 * records in the pack index, the bytes kept in memory while *KEPT allows,
 * else spooled.  Returns 0 or the failure.
 */
static int pull_pack_keep(struct pull *p, struct pull_peer_state *ps, const char *ekey,
                          const struct journal_entry *e, struct pull_pack *pk, uint8_t *buf,
                          size_t len, struct pack_entry *ents, size_t n,
                          const struct journal_commit **by_pack, size_t *cur, size_t *kept)
{
        int rc = pull_check_commits(p, ps, ekey, e, by_pack, cur, pk, ents, n);

        if (rc == 0)
                rc = pull_index_pack(p, pk->hash, ents, n);
        if (rc == 0 && len <= PULL_KEEP_MAX - *kept) {
                pk->bytes = buf;
                buf = NULL;
                *kept += len;
        } else if (rc == 0) {
                pk->fd = pull_spool(p, buf, len);
        }
        free(ents);
        free(buf);
        return rc;
}

/*
 * GETs and checks pack I of E whole into PK (kept in memory while *KEPT
 * allows, else spooled), checking the commits BY_PACK[*CUR..] that name it.
 */
static int pull_pack_whole(struct pull *p, struct pull_peer_state *ps, const char *ekey,
                           const struct journal_entry *e, size_t i, struct pull_pack *pk,
                           const struct journal_commit **by_pack, size_t *cur, size_t *kept)
{
        struct pack_entry *ents = NULL;
        uint8_t *buf = NULL;
        size_t len = 0, n = 0;
        int rc;

        rc = pull_pack_get(p, ps, ekey, e, i, pk, &buf, &len, &ents, &n);
        if (rc != 0)
                return rc;
        return pull_pack_keep(p, ps, ekey, e, pk, buf, len, ents, n, by_pack, cur, kept);
}

/* ---- fetching an entry's whole packs ahead, on helper threads ---- */

/*
 * One pack fetched ahead: GET and check_pack on a helper (nothing else: an
 * alarm, the counters and the pack index are the puller's, in pack order).
 */
struct pull_ahead_slot {
        size_t pack;     /* index into E->packs */
        int state;       /* 0 waiting, 1 being fetched, 2 done */
        int rc;          /* the store's error, else check_pack's (CHECK_RC) */
        int check_rc;    /* check_pack's -EBADMSG (WHY) once the GET succeeded */
        const char *why; /* check_pack's reason */
        uint8_t *buf;
        size_t len;
        struct pack_entry *ents;
        size_t n;
};

struct pull_ahead {
        struct pull *p;
        const struct journal_entry *e;
        struct pull_ahead_slot *slots; /* in pack order */
        size_t nslots;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        size_t next;     /* next slot a helper takes */
        size_t consumed; /* slots the puller has taken */
        uint64_t ahead;  /* bytes fetched or being fetched, not taken yet */
        int stop;
        pthread_t th[PULL_FETCH_PAR_MAX];
        size_t nth;
};

static void *pull_ahead_main(void *arg)
{
        struct pull_ahead *a = arg;

        pthread_mutex_lock(&a->lock);
        for (;;) {
                struct pull_ahead_slot *sl;
                const struct journal_pack *jp;
                char key[PULL_PACK_KEY_SIZE];
                int rc;

                /* Bounded: PULL_AHEAD_MAX bytes ahead, but always the next one the puller needs. */
                while (!a->stop && a->next < a->nslots && a->next > a->consumed &&
                       a->ahead + a->e->packs[a->slots[a->next].pack].size > PULL_AHEAD_MAX)
                        pthread_cond_wait(&a->cond, &a->lock);
                if (a->stop || a->next == a->nslots)
                        break;
                sl = &a->slots[a->next++];
                jp = &a->e->packs[sl->pack];
                a->ahead += jp->size;
                sl->state = 1;
                pthread_mutex_unlock(&a->lock);
                pull_pack_key(a->p, jp->hash, key);
                /* The entry is signed: its size bounds what we take (<= PACK_MAX_SIZE). */
                rc = a->p->store->ops->get(a->p->store, key, (size_t)jp->size, &sl->buf, &sl->len);
                if (rc == 0)
                        sl->check_rc =
                            check_pack(sl->buf, sl->len, jp, &sl->ents, &sl->n, &sl->why);
                pthread_mutex_lock(&a->lock);
                sl->rc = rc;
                sl->state = 2;
                pthread_cond_broadcast(&a->cond);
        }
        pthread_mutex_unlock(&a->lock);
        return NULL;
}

/*
 * Which packs of E pull_packs_load fetches whole, decided as it does (in
 * pack order, with the same KEPT budget), into WHOLE (E->npacks flags).
 * Returns the number of them, or -ENOMEM.
 */
static long pull_ahead_plan(const struct pull *p, const struct journal_entry *e,
                            const struct journal_commit **by_pack, uint8_t *whole)
{
        size_t i, cur = 0, kept = 0;
        long n = 0;

        for (i = 0; i < e->npacks; i++) {
                struct pull_pack pk;
                uint64_t total = 0;
                size_t k = 0;

                memset(&pk, 0, sizeof(pk));
                while (cur + k < e->ncommits &&
                       memcmp(by_pack[cur + k]->pack_hash, e->packs[i].hash, 32) == 0)
                        k++;
                whole[i] = 1;
                if (p->lazy && e->packs[i].size > PULL_EAGER_BELOW) {
                        if (pull_plan_pieces(&pk, by_pack + cur, k, &total) != 0)
                                return -ENOMEM;
                        pull_pieces_drop(&pk);
                        if (!pull_lazy_whole(total, e->packs[i].size, kept)) {
                                whole[i] = 0;
                                kept += total;
                        }
                }
                if (whole[i] && e->packs[i].size <= PULL_KEEP_MAX - kept)
                        kept += e->packs[i].size;
                n += whole[i];
                cur += k;
        }
        return n;
}

/* Stops the helpers of A (if any), frees what was fetched and not taken. */
static void pull_ahead_end(struct pull_ahead *a)
{
        size_t i;

        if (a->slots == NULL)
                return;
        pthread_mutex_lock(&a->lock);
        a->stop = 1;
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->lock);
        for (i = 0; i < a->nth; i++)
                pthread_join(a->th[i], NULL);
        for (i = 0; i < a->nslots; i++) {
                free(a->slots[i].buf);
                free(a->slots[i].ents);
        }
        free(a->slots);
        a->slots = NULL;
        pthread_cond_destroy(&a->cond);
        pthread_mutex_destroy(&a->lock);
}

/*
 * Starts fetching E's whole packs ahead on up to P->fetch_par helpers when
 * there are at least two of them.  A stays empty (A->slots NULL: every pack
 * fetched as before, in the puller's thread) otherwise or on any failure.
 */
static void pull_ahead_start(struct pull *p, const struct journal_entry *e,
                             const struct journal_commit **by_pack, struct pull_ahead *a)
{
        uint8_t *whole;
        long n;
        size_t i, k = 0;

        memset(a, 0, sizeof(*a));
        if (p->fetch_par < 2 || e->npacks < 2)
                return;
        whole = calloc(e->npacks, 1);
        if (whole == NULL)
                return;
        n = pull_ahead_plan(p, e, by_pack, whole);
        if (n >= 2)
                a->slots = calloc((size_t)n, sizeof(*a->slots));
        if (a->slots == NULL) {
                free(whole);
                return;
        }
        for (i = 0; i < e->npacks; i++)
                if (whole[i])
                        a->slots[k++].pack = i;
        free(whole);
        a->p = p;
        a->e = e;
        a->nslots = k;
        pthread_mutex_init(&a->lock, NULL);
        pthread_cond_init(&a->cond, NULL);
        while (a->nth < (size_t)p->fetch_par && a->nth < k &&
               pthread_create(&a->th[a->nth], NULL, pull_ahead_main, a) == 0)
                a->nth++;
        if (a->nth == 0)
                pull_ahead_end(a);
}

/* The slot of pack I if A fetches it ahead, else NULL. */
static struct pull_ahead_slot *pull_ahead_slot_of(struct pull_ahead *a, size_t i)
{
        size_t k;

        for (k = a->consumed; a->slots != NULL && k < a->nslots; k++)
                if (a->slots[k].pack == i)
                        return &a->slots[k];
        return NULL;
}

/*
 * Pack I of E from helper slot SL (waited for), checked and handled as
 * pull_pack_get and pull_pack_whole would: the same alarms, counters,
 * commit checks, pack index and keeping or spooling.
 */
static int pull_pack_ahead(struct pull *p, struct pull_peer_state *ps, const char *ekey,
                           const struct journal_entry *e, size_t i, struct pull_ahead *a,
                           struct pull_ahead_slot *sl, struct pull_pack *pk,
                           const struct journal_commit **by_pack, size_t *cur, size_t *kept)
{
        char key[PULL_PACK_KEY_SIZE];
        struct pack_entry *ents;
        uint8_t *buf;
        int rc;

        pthread_mutex_lock(&a->lock);
        while (sl->state != 2)
                pthread_cond_wait(&a->cond, &a->lock);
        a->consumed = (size_t)(sl - a->slots) + 1;
        a->ahead -= e->packs[i].size;
        pthread_cond_broadcast(&a->cond);
        pthread_mutex_unlock(&a->lock);
        memcpy(pk->hash, e->packs[i].hash, 32);
        pk->size = e->packs[i].size;
        pull_pack_key(p, pk->hash, key);
        buf = sl->buf;
        ents = sl->ents;
        sl->buf = NULL;
        sl->ents = NULL;
        rc = pull_pack_judge(p, ps, ekey, e, key, sl->rc, sl->len, sl->check_rc, sl->why);
        if (rc != 0) {
                free(buf);
                free(ents);
                return rc;
        }
        return pull_pack_keep(p, ps, ekey, e, pk, buf, sl->len, ents, sl->n, by_pack, cur, kept);
}

/*
 * GETs and checks every pack of E into *OUT (E->npacks), in order (whole
 * packs fetched ahead by helpers with pull_set_fetch_par, taken in order):
 * size and hash against the signed entry, structure; every commit must
 * name a manifest record of its pack.  The records go to the pack index at
 * once (they are self-certifying: whoever reads one by hash checks it), so
 * trailers need not be kept; the bytes are kept up to PULL_KEEP_MAX.
 */
static int pull_packs_load(struct pull *p, struct pull_peer_state *ps, const char *ekey,
                           const struct journal_entry *e, struct pull_pack **out)
{
        struct pull_pack *packs = calloc(e->npacks ? e->npacks : 1, sizeof(*packs));
        const struct journal_commit **by_pack = NULL;
        struct pull_ahead ahead;
        size_t i, cur = 0, kept = 0;
        int rc = 0;

        memset(&ahead, 0, sizeof(ahead));

        if (packs == NULL || check_commits_by_pack(e, &by_pack) != 0) {
                rc = -ENOMEM;
                goto out;
        }
        for (i = 0; i < e->npacks; i++)
                packs[i].fd = -1;
        pull_ahead_start(p, e, by_pack, &ahead);
        for (i = 0; i < e->npacks && rc == 0; i++) {
                struct pull_ahead_slot *sl = pull_ahead_slot_of(&ahead, i);

                rc = 1;
                if (sl != NULL)
                        rc = pull_pack_ahead(p, ps, ekey, e, i, &ahead, sl, &packs[i], by_pack,
                                             &cur, &kept);
                else if (p->lazy && e->packs[i].size > PULL_EAGER_BELOW)
                        rc = pull_pack_lazy(p, ps, ekey, e, i, &packs[i], by_pack, &cur, &kept);
                if (rc == 1)
                        rc = pull_pack_whole(p, ps, ekey, e, i, &packs[i], by_pack, &cur, &kept);
        }
        pull_ahead_end(&ahead);
        /* journal_decode: every commit's pack is listed, so all were checked. */
        if (rc == 0 && cur != e->ncommits)
                rc = pull_alarm(p, ps, PULL_BAD_OBJECT, e->seq, ekey,
                                "a commit names a pack the entry does not list");
out:
        free(by_pack);
        if (rc != 0) {
                pull_packs_free(packs, e->npacks);
                return rc;
        }
        *out = packs;
        return 0;
}

/*
 * Entry SEQ of PS needs more of the membership than this device has: a
 * manifest of an epoch it does not hold, or a membership head it has not
 * seen (a peer may have rotated or removed before our fold saw it).  The
 * first time (or after another entry waited): PS waits, the caller is asked
 * for a membership refresh, PULL_WAIT_KEYS.  Still missing after a refresh
 * that reached the store: the alarm KIND (-EBADMSG).
 */
static int pull_wait_membership(struct pull *p, struct pull_peer_state *ps, uint64_t seq,
                                const char *ekey, enum pull_kind kind, const char *what)
{
        uint64_t gen = atomic_load(&p->keys_gen);

        if (ps->waiting && ps->wait_seq == seq && gen != ps->wait_gen) {
                ps->waiting = 0;
                return pull_alarm(p, ps, kind, seq, ekey, "%s, also after a membership refresh",
                                  what);
        }
        if (!ps->waiting || ps->wait_seq != seq) {
                ps->waiting = 1;
                ps->wait_seq = seq;
                ps->wait_gen = gen;
                log_info("pull: device %s seq %" PRIu64 " needs %s; waiting for a membership "
                         "refresh",
                         ps->hex, seq,
                         kind == PULL_UNKNOWN_EPOCH ? "an epoch not known here yet"
                         : kind == PULL_NOT_WRITER  ? "a writer's role (not a writer here)"
                                                    : "a membership entry not seen here yet");
        }
        atomic_store(&p->want_keys, 1);
        return PULL_WAIT_KEYS;
}

static int pull_withheld_has(const struct pull *p, const uint8_t epoch_id[static 32])
{
        size_t i;

        for (i = 0; i < p->nwithheld; i++)
                if (memcmp(p->withheld[i], epoch_id, 32) == 0)
                        return 1;
        return 0;
}

/*
 * A manifest of entry SEQ of PS names EPOCH_ID, whose key this device does
 * not hold.  An epoch of the verified fold whose key is still missing after a
 * membership refresh (which recomputed the keys) is withheld by the region's
 * key-history policy, no attack: PULL_SKIP, remembered, so its later
 * manifests skip at once.  Otherwise as pull_wait_membership (unknown-epoch).
 */
static int pull_epoch_missing(struct pull *p, struct pull_peer_state *ps, uint64_t seq,
                              const char *ekey, const uint8_t epoch_id[static 32])
{
        char hex[65];

        if (pull_withheld_has(p, epoch_id))
                return PULL_SKIP;
        if (ps->waiting && ps->wait_seq == seq && atomic_load(&p->keys_gen) != ps->wait_gen &&
            p->ops->epoch_known != NULL && p->ops->epoch_known(p->arg, epoch_id)) {
                ps->waiting = 0;
                if (p->nwithheld < PULL_WITHHELD_MAX)
                        memcpy(p->withheld[p->nwithheld++], epoch_id, 32);
                hex_encode(hex, epoch_id, 32);
                log_info("pull: epoch %.12s is not readable by this device (the region's key "
                         "history policy); versions written under it are skipped until a rekey",
                         hex);
                return PULL_SKIP;
        }
        return pull_wait_membership(p, ps, seq, ekey, PULL_UNKNOWN_EPOCH,
                                    "a manifest of an epoch this device does not hold");
}

/*
 * Fetches and verifies commit C of entry E (of PS) from PACKS into *M and
 * *META (release both).  Every failure of the manifest is an alarm.  PULL_SKIP
 * (nothing to release): its epoch is withheld from this device.
 */
static int pull_manifest_load(struct pull *p, struct pull_peer_state *ps, const char *ekey,
                              const struct journal_entry *e, const struct journal_commit *c,
                              struct pull_pack *packs, struct manifest *m,
                              struct manifest_meta *meta)
{
        const struct pull_pack *pk = pull_pack_find(packs, e->npacks, c->pack_hash);
        const uint8_t *bytes, *epoch_key;
        const char *why = NULL;
        uint8_t *tmp = NULL;
        char key[PULL_PACK_KEY_SIZE];
        int rc;

        /* pull_packs_load checked that (off, len) is a manifest record of the pack. */
        if (pk == NULL)
                return -EIO; /* cannot happen: journal_decode */
        if (pk->bytes != NULL) {
                bytes = pk->bytes + c->off;
        } else {
                tmp = malloc(c->len); /* <= MANIFEST_MAX_SIZE (journal_decode) */
                if (tmp == NULL)
                        return -ENOMEM;
                rc = pull_pack_read(pk, c->off, c->len, tmp);
                if (rc == -ENOENT) {
                        pull_pack_key(p, pk->hash, key);
                        rc = p->store->ops->get_range(p->store, key, c->off, c->len, tmp);
                }
                if (rc != 0)
                        goto out;
                bytes = tmp;
        }
        rc = check_manifest(bytes, c, p->region_id, ps->peer.device_id, ps->peer.sign_pk, m, &why);
        if (rc != 0) {
                if (rc == -EBADMSG)
                        rc = pull_alarm(p, ps, PULL_BAD_OBJECT, e->seq, ekey, "%s", why);
                goto out;
        }
        epoch_key = p->ops->epoch_key(p->arg, m->epoch_id);
        if (epoch_key == NULL) {
                rc = pull_epoch_missing(p, ps, e->seq, ekey, m->epoch_id);
                goto out_release;
        }
        rc = manifest_open_meta(m, epoch_key, meta);
        if (rc != 0) {
                if (rc == -EBADMSG)
                        rc = pull_alarm(p, ps, PULL_BAD_OBJECT, e->seq, ekey,
                                        "a manifest's metadata does not open");
                goto out_release;
        }
        goto out;
out_release:
        manifest_release(m);
out:
        free(tmp);
        return rc;
}

/* Loads commit I of E and applies it if it is (TOMB) or is not (!TOMB) a deletion. */
static int pull_apply_one(struct pull *p, struct pull_peer_state *ps, const char *ekey,
                          const struct journal_entry *e, size_t i, struct pull_pack *packs,
                          int tomb, unsigned *applied, unsigned *skipped)
{
        struct manifest m;
        struct manifest_meta meta;
        int rc = pull_manifest_load(p, ps, ekey, e, &e->commits[i], packs, &m, &meta);

        if (rc == PULL_SKIP) {
                *skipped += tomb ? 1u : 0u; /* counted once, in the deletions' pass */
                return 0;
        }
        if (rc != 0)
                return rc; /* the store changed under us: an alarm, or transient */
        if ((m.kind == MANIFEST_TOMBSTONE) == tomb) {
                rc = p->ops->apply(p->arg, &m, &meta);
                if (rc == 0) {
                        (*applied)++;
                        pull_count_applied(p);
                }
        }
        manifest_meta_release(&meta);
        manifest_release(&m);
        return rc;
}

/* Index of the commit of E for FILE_ID (ascending file ids), or E->ncommits. */
static size_t pull_commit_find(const struct journal_entry *e, const uint8_t file_id[static 16])
{
        size_t lo = 0, hi = e->ncommits;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = memcmp(e->commits[mid].file_id, file_id, 16);

                if (c == 0)
                        return mid;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return e->ncommits;
}

/*
 * The order of E's deletions (invariant C7): children before their directory,
 * so that `rm -r` of a tree, committed as one entry in file-id order, leaves
 * no directory that is "not empty here" when its own deletion is applied.
 * *ORDER receives the indices of E's tombstones (*N of them); a deletion
 * whose parent is deleted in E too comes before it.  Whatever the store
 * sends (a cycle of parents), every tombstone is listed once.
 */
static int pull_tomb_order(struct pull *p, struct pull_peer_state *ps, const char *ekey,
                           const struct journal_entry *e, struct pull_pack *packs, size_t **order,
                           size_t *n)
{
        size_t *parent = NULL, *kids = NULL, *out = NULL, i, k = 0, nt = 0, before;
        uint8_t *is_tomb = NULL;
        int rc = 0;

        *order = NULL;
        *n = 0;
        if (e->ncommits == 0)
                return 0;
        parent = calloc(e->ncommits, sizeof(*parent));
        kids = calloc(e->ncommits, sizeof(*kids));
        out = calloc(e->ncommits, sizeof(*out));
        is_tomb = calloc(e->ncommits, 1);
        if (parent == NULL || kids == NULL || out == NULL || is_tomb == NULL) {
                rc = -ENOMEM;
                goto out;
        }
        for (i = 0; i < e->ncommits && rc == 0; i++) {
                struct manifest m;
                struct manifest_meta meta;

                parent[i] = e->ncommits;
                rc = pull_manifest_load(p, ps, ekey, e, &e->commits[i], packs, &m, &meta);
                if (rc == PULL_SKIP) {
                        rc = 0;
                        is_tomb[i] = 1; /* applied (skipped) with the deletions, as before */
                        nt++;
                        continue;
                }
                if (rc != 0)
                        break;
                if (m.kind == MANIFEST_TOMBSTONE) {
                        is_tomb[i] = 1;
                        nt++;
                        parent[i] = pull_commit_find(e, meta.parent_id);
                }
                manifest_meta_release(&meta);
                manifest_release(&m);
        }
        for (i = 0; i < e->ncommits && rc == 0; i++)
                if (is_tomb[i] && parent[i] < e->ncommits && parent[i] != i && is_tomb[parent[i]])
                        kids[parent[i]]++;
                else
                        parent[i] = e->ncommits; /* not a deletion of this entry */
        /* Sweeps: a deletion goes once none of its children is left; a cycle ends it. */
        while (rc == 0 && k < nt) {
                before = k;
                for (i = 0; i < e->ncommits; i++) {
                        if (!is_tomb[i] || is_tomb[i] == 2 || kids[i] > 0)
                                continue;
                        out[k++] = i;
                        is_tomb[i] = 2;
                        if (parent[i] < e->ncommits)
                                kids[parent[i]]--;
                }
                if (k == before) /* a cycle of parents (hostile or damaged): in file-id order */
                        for (i = 0; i < e->ncommits; i++)
                                if (is_tomb[i] == 1) {
                                        out[k++] = i;
                                        is_tomb[i] = 2;
                                }
        }
out:
        free(parent);
        free(kids);
        free(is_tomb);
        if (rc != 0) {
                free(out);
                return rc;
        }
        *order = out;
        *n = k;
        return 0;
}

/* Applies the verified entry E with PACKS; *APPLIED counts manifests applied. */
static int pull_apply(struct pull *p, struct pull_peer_state *ps, const char *ekey,
                      const struct journal_entry *e, struct pull_pack *packs, unsigned *applied)
{
        size_t *order = NULL, nt = 0, i;
        unsigned skipped = 0;
        int rc;

        /*
         * Deletions first, children before their directory (C7), then
         * everything else: an editor's save (temp file renamed over the
         * original) commits the old file's tombstone and the new file under
         * the same name in one entry, in file-id order.
         */
        rc = pull_tomb_order(p, ps, ekey, e, packs, &order, &nt);
        for (i = 0; i < nt && rc == 0; i++)
                rc = pull_apply_one(p, ps, ekey, e, order[i], packs, 1, applied, &skipped);
        free(order);
        for (i = 0; i < e->ncommits && rc == 0; i++)
                rc = pull_apply_one(p, ps, ekey, e, i, packs, 0, applied, &skipped);
        if (rc == 0 && p->ops->entry_done != NULL)
                rc = p->ops->entry_done(p->arg);
        if (rc == 0)
                rc = pull_mark_put(p, ps, e->seq, e->hash);
        if (rc == 0 && skipped > 0) {
                pull_count_skipped(p, skipped);
                log_info("pull: device %s seq %" PRIu64 ": %u version%s under an epoch this "
                         "device cannot read skipped (key-history policy)",
                         ps->hex, e->seq, skipped, skipped == 1 ? "" : "s");
        }
        return rc;
}

/* ---- seen marks (doc/SYNC.md invariants W1 and W2) ---- */

/*
 * 1 if entry M of peer D is refused by D's removal (by design, C2, C9): past
 * its cutoff, or at or below the cutoff's seq but off the chain the removal
 * names (the other branch of a forked journal, which the author of the seen
 * list took before it knew the removal, and which no device keeps) as far
 * as that chain is known without a fetch (pull_check_seen fetches it when the
 * mark contradicts this device's).  The same for an open demotion's cutoff
 * (R5: entries past it are refused everywhere).
 */
static int pull_past_cutoff(struct pull *p, const struct pull_peer_state *d,
                            const struct journal_seen *m)
{
        uint64_t top = 0;
        uint8_t top_hash[32], h[32];
        int past = 0, anchored, dem = 0;

        pthread_mutex_lock(&p->lock);
        if (__atomic_load_n(&d->peer.removed, __ATOMIC_ACQUIRE) && m->seq > d->peer.cutoff_seq)
                past = 1;
        if (d->peer.standing.cut && m->seq > d->peer.standing.cut_seq)
                past = 1;
        anchored = pull_anchor_locked(d, &top, top_hash, &dem);
        pthread_mutex_unlock(&p->lock);
        if (!past && anchored && m->seq > 0 && m->seq <= top &&
            pull_chain_known(p, d, top, top_hash, m->seq, h))
                past = memcmp(m->hash, h, 32) != 0;
        return past;
}

/* PS's entry E waits for D's entry M; after the grace period the alarm withheld.  PULL_WAIT_SEEN.
 */
static int pull_seen_wait(struct pull *p, struct pull_peer_state *ps, const struct journal_entry *e,
                          struct pull_peer_state *d, const struct journal_seen *m, const char *key)
{
        time_t now = time(NULL);
        char h[65];

        if (ps->seen_wait_seq != e->seq) {
                ps->seen_wait_seq = e->seq;
                ps->seen_wait_since = now;
                log_info("pull: device %s seq %" PRIu64 " waits for device %s seq %" PRIu64
                         ", which it saw",
                         ps->hex, e->seq, d->hex, m->seq);
        }
        p->seen_waits = 1;
        if (now - ps->seen_wait_since < p->seen_grace_s)
                return PULL_WAIT_SEEN;
        pthread_mutex_lock(&p->lock);
        ps->seen_late = 1;
        pthread_mutex_unlock(&p->lock);
        hex_encode(h, m->hash, 32);
        (void)pull_alarm(
            p, d, PULL_SEEN_MISSING, m->seq, key,
            "entry %s is named by device %s's entry seq %" PRIu64
            " but not shown to this device for %lld s; device %s's updates wait for it",
            h, ps->hex, e->seq, (long long)(now - ps->seen_wait_since), ps->hex);
        return PULL_WAIT_SEEN;
}

/*
 * Invariant C9: the seen mark M names another entry of D than the one
 * applied here at its seq, at or below D's anchor: 1 once the chain the
 * anchor names is known there (fetched now; pull_past_cutoff then tells
 * whether M is off it), 0 if there is no anchor or the chain cannot be
 * fetched yet (the fork is then judged as before).
 */
static int pull_seen_decided(struct pull *p, struct pull_peer_state *d,
                             const struct journal_seen *m)
{
        uint64_t top;
        uint8_t top_hash[32], h[32];
        int dem;

        return m->seq > 0 && pull_anchor(p, d, &top, top_hash, &dem) && m->seq <= top &&
               pull_chain_at(p, d, top, top_hash, m->seq, h) == 0;
}

/*
 * Checks the seen marks of PS's entry E (object KEY) against this device's
 * marks: 0 when every entry E names was applied here (or cannot be checked:
 * this device, an unknown device, past a removal's cutoff, below our mark),
 * PULL_WAIT_SEEN while one is not, or an index error.  A mark at our mark's
 * seq with another hash is the holding alarm equivocation about that device.
 */
static int pull_check_seen(struct pull *p, struct pull_peer_state *ps,
                           const struct journal_entry *e, const char *key)
{
        char a[65], b[65];
        size_t i;

        for (i = 0; i < e->nseen; i++) {
                const struct journal_seen *m = &e->seen[i];
                struct pull_peer_state *d = pull_peer_find(p, m->device_id);
                struct pull_mark mk;
                int rc;

                if (d == NULL || d == ps || pull_past_cutoff(p, d, m))
                        continue; /* this device (not a peer), unknown here yet, or refused */
                rc = pull_mark_get(p, d, &mk);
                if (rc != 0)
                        return rc;
                if (mk.have &&
                    (mk.seq > m->seq || (mk.seq == m->seq && memcmp(mk.hash, m->hash, 32) == 0)))
                        continue;
                if (mk.have && mk.seq == m->seq && pull_seen_decided(p, d, m)) {
                        if (pull_past_cutoff(p, d, m))
                                continue;     /* C9: M is off the named chain */
                        return PULL_WAIT_CUT; /* our mark is: undone next round */
                }
                if (mk.have && mk.seq == m->seq) {
                        hex_encode(a, m->hash, 32);
                        hex_encode(b, mk.hash, 32);
                        (void)pull_alarm(p, d, PULL_EQUIVOCATION, m->seq, key,
                                         "device %s saw entry %s at this seq, this device applied "
                                         "%s (forked journal)",
                                         ps->hex, a, b);
                }
                return pull_seen_wait(p, ps, e, d, m, key);
        }
        if (ps->seen_wait_seq != 0) {
                ps->seen_wait_seq = 0;
                pthread_mutex_lock(&p->lock);
                ps->seen_late = 0;
                pthread_mutex_unlock(&p->lock);
        }
        return 0;
}

int pull_seen_fill(struct pull *p, struct journal_seen **out, size_t *n)
{
        size_t i, np = pull_npeers(p), k = 0;
        struct journal_seen *v;

        *out = NULL;
        *n = 0;
        if (np == 0)
                return 0;
        v = calloc(np, sizeof(*v));
        if (v == NULL)
                return -ENOMEM;
        for (i = 0; i < np && k < JOURNAL_MAX_SEEN; i++) {
                const struct pull_peer_state *ps = &p->peers[i];
                struct pull_mark mk;
                uint8_t last[PULL_MARK_LEN];
                char name[6 + 33];
                size_t len = 0;
                int rc = pull_mark_get(p, ps, &mk);

                if (rc != 0) {
                        free(v);
                        return rc;
                }
                if (!mk.have)
                        continue;
                snprintf(name, sizeof(name), "seen:%s", ps->hex);
                rc = index_meta_get(p->ix, name, last, sizeof(last), &len);
                if (rc == 0 && len == PULL_MARK_LEN && pull_get_u64(last) == mk.seq &&
                    memcmp(last + 8, mk.hash, 32) == 0)
                        continue; /* named by an earlier entry and not moved since */
                memcpy(v[k].device_id, ps->peer.device_id, 16);
                v[k].seq = mk.seq;
                memcpy(v[k].hash, mk.hash, 32);
                k++;
        }
        qsort(v, k, sizeof(*v), pull_cmp_seen);
        if (k == 0) {
                free(v);
                v = NULL;
        }
        *out = v;
        *n = k;
        return 0;
}

int pull_seen_note(struct pull *p, const struct journal_seen *seen, size_t n)
{
        uint8_t v[PULL_MARK_LEN];
        char name[6 + 33], hex[33];
        size_t i;
        int rc = 0;

        for (i = 0; i < n && rc == 0; i++) {
                hex_encode(hex, seen[i].device_id, 16);
                snprintf(name, sizeof(name), "seen:%s", hex);
                pull_put_u64(v, seen[i].seq);
                memcpy(v + 8, seen[i].hash, 32);
                rc = index_meta_put(p->ix, name, v, sizeof(v));
        }
        return rc;
}

/* The void-range walk of PS (invariant R5): the highest resume whose range this device
 * walked as void (never applying it); index meta "void:<device hex>". */
static void pull_walked_name(const struct pull_peer_state *ps, char name[static 6 + 33])
{
        snprintf(name, 6 + 33, "void:%s", ps->hex);
}

static int pull_walked_get(struct pull *p, const struct pull_peer_state *ps, uint64_t *hi)
{
        uint8_t v[8];
        char name[6 + 33];
        size_t len = 0;
        int rc;

        pull_walked_name(ps, name);
        *hi = 0;
        rc = index_meta_get(p->ix, name, v, sizeof(v), &len);
        if (rc == -ENOENT)
                return 0;
        if (rc == 0 && len != sizeof(v))
                rc = -EIO;
        if (rc == 0)
                *hi = pull_get_u64(v);
        return rc;
}

/*
 * Invariant R5: entry E of PS lies in the void range (cutoff, resume] of a
 * demotion that a promotion closed.  It was checked like any entry (hash,
 * signature, prev: the chain), but nothing of it is applied; the mark moves
 * past it, and the walk is recorded (pull_walked_get) before the mark first
 * enters the range, so pull_peer_cut knows the range was not applied.
 */
static int pull_void_entry(struct pull *p, struct pull_peer_state *ps, struct pull_mark *mk,
                           const struct journal_entry *e)
{
        struct members_standing st;
        uint8_t v[8];
        char name[6 + 33];
        uint64_t hi = 0, walked = 0;
        size_t i;
        int rc;

        pthread_mutex_lock(&p->lock);
        st = ps->peer.standing;
        pthread_mutex_unlock(&p->lock);
        for (i = 0; i < st.nvoid; i++)
                if (e->seq > st.voids[i].lo_seq && e->seq <= st.voids[i].hi_seq)
                        hi = st.voids[i].hi_seq;
        rc = pull_walked_get(p, ps, &walked);
        if (rc == 0 && hi > walked) {
                pull_walked_name(ps, name);
                pull_put_u64(v, hi);
                rc = index_meta_put(p->ix, name, v, sizeof(v));
                log_info("pull: device %s entries seq %" PRIu64 "..%" PRIu64 " were signed while "
                         "it was demoted: checked as its chain, not applied (void)",
                         ps->hex, e->seq, hi);
        }
        if (rc == 0)
                rc = pull_mark_put(p, ps, e->seq, e->hash);
        if (rc == 0 && p->ops->entry_done != NULL)
                rc = p->ops->entry_done(p->arg);
        if (rc == 0) {
                mk->have = 1;
                mk->seq = e->seq;
                memcpy(mk->hash, e->hash, 32);
                ps->waiting = 0;
        }
        return rc;
}

/*
 * Invariant R5: 1 if IT is the entry of PS last refused past an open
 * demotion cutoff (pull_check_standing) and PS's role and standing are still
 * those it was refused under: refused again without a GET (its alarm stands).
 * A membership change that touches PS (a promotion, another cutoff) forgets
 * it, and the entry is fetched and judged afresh.
 */
static int pull_refused_again(struct pull *p, struct pull_peer_state *ps,
                              const struct pull_item *it)
{
        int same;

        if (!ps->refused_have || it->seq != ps->refused_seq ||
            memcmp(it->hash, ps->refused_hash, 32) != 0)
                return 0;
        pthread_mutex_lock(&p->lock); /* pull_peer_update changes the standing under it */
        same = __atomic_load_n(&ps->peer.role, __ATOMIC_RELAXED) == ps->refused_role &&
               memcmp(&ps->peer.standing, &ps->refused_st, sizeof(ps->refused_st)) == 0;
        pthread_mutex_unlock(&p->lock);
        if (!same)
                ps->refused_have = 0;
        return same;
}

/* Verifies entry IT of PS and, if all of it passes, applies it and advances the mark. */
static int pull_entry(struct pull *p, struct pull_peer_state *ps, struct pull_mark *mk,
                      const struct pull_item *it, unsigned *applied)
{
        struct journal_entry e;
        struct pull_pack *packs = NULL;
        struct manifest m;
        struct manifest_meta meta;
        char key[JOURNAL_KEY_SIZE];
        size_t i, n;
        int rc;

        rc = journal_object_key(p->region_hex, ps->peer.device_id, it->seq, it->hash, key);
        if (rc != 0)
                return rc;
        if (pull_refused_again(p, ps, it))
                return PULL_WAIT_ROLE; /* R5: refused before, nothing changed since */
        rc = pull_entry_load(p, ps, mk, it, key, &e);
        if (rc == PULL_VOID) {
                rc = pull_void_entry(p, ps, mk, &e);
                journal_release(&e);
                return rc;
        }
        if (rc != 0)
                return rc;
        /* The membership its author saw: withheld from us (or forged) until a refresh shows it. */
        if (p->ops->member_known != NULL && !p->ops->member_known(p->arg, e.member_head)) {
                rc = pull_wait_membership(p, ps, e.seq, key, PULL_WITHHELD,
                                          "it names a membership entry this device cannot see");
                goto out_entry;
        }
        /* Everything its author saw first (W2): a withheld entry holds this one. */
        rc = pull_check_seen(p, ps, &e, key);
        if (rc != 0)
                goto out_entry;
        rc = pull_packs_load(p, ps, key, &e, &packs);
        if (rc != 0)
                goto out_entry;
        /* Verify pass: nothing is applied unless every manifest passes. */
        for (i = 0; i < e.ncommits && rc == 0; i++) {
                rc = pull_manifest_load(p, ps, key, &e, &e.commits[i], packs, &m, &meta);
                if (rc == 0) {
                        manifest_meta_release(&meta);
                        manifest_release(&m);
                }
                if (rc == PULL_SKIP)
                        rc = 0; /* withheld epoch: the apply pass leaves it out (counted) */
        }
        if (rc != 0)
                goto out_packs;
        n = e.npacks;
        pthread_mutex_lock(&p->lock);
        p->cur = packs;
        p->ncur = n;
        pthread_mutex_unlock(&p->lock);
        rc = pull_apply(p, ps, key, &e, packs, applied);
        pthread_mutex_lock(&p->lock);
        p->cur = NULL;
        p->ncur = 0;
        pthread_mutex_unlock(&p->lock);
        if (rc == 0) {
                mk->have = 1;
                mk->seq = e.seq;
                memcpy(mk->hash, e.hash, 32);
                ps->waiting = 0;
        }
out_packs:
        pull_packs_free(packs, e.npacks);
out_entry:
        journal_release(&e);
        return rc;
}

/* ---- invariant C2: entries applied before their author's removal was known ---- */

struct pull_cut {
        struct pull_undo *u;
        size_t n, cap;
};

/* Appends E's commits to C. */
static int pull_cut_add(struct pull_cut *c, const struct journal_entry *e)
{
        size_t i;

        if (c->n + e->ncommits > c->cap) {
                size_t cap = c->cap + e->ncommits + 16;
                struct pull_undo *u = realloc(c->u, cap * sizeof(*u));

                if (u == NULL)
                        return -ENOMEM;
                c->u = u;
                c->cap = cap;
        }
        for (i = 0; i < e->ncommits; i++) {
                memcpy(c->u[c->n].file_id, e->commits[i].file_id, 16);
                memcpy(c->u[c->n++].manifest_hash, e->commits[i].manifest_hash, 32);
        }
        return 0;
}

/*
 * GETs PS's entry (SEQ, HASH) and checks it (hash, signature under the
 * pinned key, region, device, seq) into *E.  -EAGAIN if the store does not
 * show it (yet) or shows bytes that do not verify.
 */
static int pull_cut_load(struct pull *p, struct pull_peer_state *ps, uint64_t seq,
                         const uint8_t hash[static 32], struct journal_entry *e)
{
        char key[JOURNAL_KEY_SIZE];
        const char *why = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc = journal_object_key(p->region_hex, ps->peer.device_id, seq, hash, key);

        if (rc == 0)
                rc = p->store->ops->get(p->store, key, JOURNAL_MAX_SIZE, &buf, &len);
        if (rc == -ENOENT || rc == -EFBIG)
                return -EAGAIN;
        if (rc != 0)
                return rc;
        rc = check_entry(buf, len, hash, p->region_id, ps->peer.device_id, seq, ps->peer.sign_pk, e,
                         &why);
        free(buf);
        if (rc != 0) {
                log_warn("pull: device %s seq %" PRIu64 ": cannot undo from %s: %s", ps->hex, seq,
                         key, why != NULL ? why : strerror(-rc));
                return rc == -ENOMEM ? rc : -EAGAIN;
        }
        return 0;
}

/* Reverses the N commits at U. */
static void pull_undo_reverse(struct pull_undo *u, size_t n)
{
        struct pull_undo t;
        size_t i;

        for (i = 0; i < n / 2; i++) {
                t = u[i];
                u[i] = u[n - 1 - i];
                u[n - 1 - i] = t;
        }
}

/*
 * Loads PS's entry (SEQ, *AT), appends its commits to C and sets *AT to its
 * prev: one step back along the chain that was applied here.
 */
static int pull_cut_back(struct pull *p, struct pull_peer_state *ps, uint64_t seq, uint8_t at[32],
                         struct pull_cut *c)
{
        struct journal_entry e;
        size_t start = c->n;
        int rc = pull_cut_load(p, ps, seq, at, &e);

        if (rc != 0)
                return rc;
        rc = pull_cut_add(c, &e);
        if (rc == 0) {
                pull_undo_reverse(c->u + start, c->n - start); /* whole C reversed at the end */
                memcpy(at, e.prev, 32);
        }
        journal_release(&e);
        return rc;
}

/*
 * The commits of PS's applied entries (*CUT, MK], into C in seq order.  The
 * chain is walked back from the mark, each entry fetched by its name (seq,
 * hash) and checked, its prev naming the one before: exactly the entries
 * applied here (pull_entry_load checked each prev against the mark), from
 * whichever branch of a forked journal they took.  If TWIN is set (*CUT is
 * PS's anchor, invariant C9) and the applied entry at the lower of *CUT's
 * and MK's seq is not on the chain *CUT names, the walk goes on down until
 * it meets that chain (the last entry the two branches share, or none):
 * those entries are undone too, *CUT becomes the shared entry and *TWIN
 * stays 1; else *TWIN becomes 0.  -EAGAIN if the store does not show either
 * chain (yet): tried again next round.  On failure *CUT and *TWIN are
 * untouched; C is the caller's to free either way.
 */
static int pull_cut_collect(struct pull *p, struct pull_peer_state *ps, struct pull_mark *cut,
                            const struct pull_mark *mk, int *twin, struct pull_cut *c)
{
        static const uint8_t zero[32];
        uint8_t at[32], named[32];
        uint64_t seq;
        int rc = 0;

        memcpy(at, mk->hash, 32);
        for (seq = mk->seq; seq > cut->seq && rc == 0; seq--)
                rc = pull_cut_back(p, ps, seq, at, c);
        if (rc != 0)
                return rc;
        /* AT: the applied entry at SEQ, the lower of the cutoff's and the mark's. */
        if (seq == cut->seq && memcmp(at, cut->have ? cut->hash : zero, 32) == 0) {
                *twin = 0;
        } else if (*twin && cut->seq > 0) {
                for (;;) {
                        rc = pull_chain_at(p, ps, cut->seq, cut->hash, seq, named);
                        if (rc != 0 || memcmp(at, named, 32) == 0)
                                break;
                        if (seq == 0) {
                                rc = -EAGAIN; /* a first entry that names a prev: not a chain */
                                break;
                        }
                        rc = pull_cut_back(p, ps, seq, at, c); /* off the named chain */
                        if (rc != 0)
                                break;
                        seq--;
                }
                if (rc == 0) {
                        cut->seq = seq;
                        cut->have = seq > 0;
                        memcpy(cut->hash, at, 32);
                }
        } else {
                rc = -EAGAIN; /* another chain than the one applied */
        }
        if (rc == 0)
                pull_undo_reverse(c->u, c->n);
        return rc;
}

/*
 * Where PS's applied entries must go back to (invariants C2, R5, C9), given
 * its mark MK: the lowest of its removal cutoff, its open demotion cutoff
 * and the cutoff of a void range not walked as void, that MK is past -- or
 * its anchor (the lower of the first two, pull_anchor), when MK is at or
 * below it but off the chain it names as far as that chain is known without
 * a fetch (the other branch of a forked journal; pull_cut_collect then goes
 * back to where the branches meet).  Returns 1 with *CUT (*DEMOTION: 0 for
 * the removal's; *TWIN: 1 if *CUT is the anchor) or 0 (nothing to undo), or
 * a negative errno.
 */
static int pull_cut_point(struct pull *p, struct pull_peer_state *ps, const struct pull_mark *mk,
                          struct pull_mark *cut, int *demotion, int *twin)
{
        struct members_standing st;
        uint64_t walked = 0, rm_seq, a_seq = 0;
        uint8_t rm_hash[32], a_hash[32], h[32];
        int removed = __atomic_load_n(&ps->peer.removed, __ATOMIC_ACQUIRE), found = 0, rc;
        int anchored, a_dem = 0;
        size_t i;

        pthread_mutex_lock(&p->lock); /* they change together (pull_peer_update) */
        rm_seq = ps->peer.cutoff_seq;
        memcpy(rm_hash, ps->peer.cutoff_hash, 32);
        st = ps->peer.standing;
        anchored = pull_anchor_locked(ps, &a_seq, a_hash, &a_dem);
        pthread_mutex_unlock(&p->lock);
        if (!mk->have)
                return 0;
        rc = st.nvoid > 0 ? pull_walked_get(p, ps, &walked) : 0;
        if (rc != 0)
                return rc;
#define PULL_CUT_AT(seq_, hash_, dem_)                                                             \
        do {                                                                                       \
                if (mk->seq > (seq_) && (!found || (seq_) < cut->seq)) {                           \
                        found = 1;                                                                 \
                        cut->seq = (seq_);                                                         \
                        memcpy(cut->hash, (hash_), 32);                                            \
                        *demotion = (dem_);                                                        \
                }                                                                                  \
        } while (0)
        if (anchored && mk->seq <= a_seq && pull_chain_known(p, ps, a_seq, a_hash, mk->seq, h) &&
            memcmp(mk->hash, h, 32) != 0) {
                found = 1; /* C9: the mark is off the named chain; nothing lower counts */
                cut->seq = a_seq;
                memcpy(cut->hash, a_hash, 32);
                *demotion = a_dem;
        }
        if (removed)
                PULL_CUT_AT(rm_seq, rm_hash, 0);
        if (st.cut)
                PULL_CUT_AT(st.cut_seq, st.cut_hash, 1);
        for (i = 0; i < st.nvoid; i++)
                if (walked < st.voids[i].hi_seq)
                        PULL_CUT_AT(st.voids[i].lo_seq, st.voids[i].lo_hash, 1);
#undef PULL_CUT_AT
        if (!found)
                return 0;         /* nothing past a cutoff applied */
        cut->have = cut->seq > 0; /* cutoff 0: before it published anything */
        if (!cut->have)
                memset(cut->hash, 0, 32);
        *twin = anchored && cut->seq == a_seq && memcmp(cut->hash, a_hash, 32) == 0;
        return 1;
}

int pull_peer_undo_pending(struct pull *p, const uint8_t device_id[static 16])
{
        struct pull_mark mk, cut;
        size_t i, n = pull_npeers(p);
        int demotion = 0, twin = 0;

        for (i = 0; i < n; i++) {
                if (memcmp(p->peers[i].peer.device_id, device_id, 16) != 0)
                        continue;
                if (pull_mark_get(p, &p->peers[i], &mk) != 0)
                        return 0;
                return pull_cut_point(p, &p->peers[i], &mk, &cut, &demotion, &twin) == 1;
        }
        return 0;
}

/*
 * Invariants C2 and R5: if PS was removed or demoted with a cutoff below its
 * mark (or has a void range it did not walk as void), the entries past the
 * cutoff that were applied here are undone (ops->undo), the mark goes back to
 * the cutoff (the one place a mark decreases: the entries above it were never
 * accepted) and the alarm `revoked` (removal) or `not-a-writer` (demotion,
 * not holding) names them.  Returns 0 or a transient error (the undo is tried
 * again next round).
 */
static int pull_peer_cut(struct pull *p, struct pull_peer_state *ps)
{
        struct pull_mark mk, cut;
        struct pull_cut c = {0};
        char key[PULL_DIR_KEY_LEN + 17];
        int rc, demotion = 0, twin;

        if (p->ops->undo == NULL)
                return 0;
        pthread_mutex_lock(&p->lock);
        rc = ps->peer.standing.cut || ps->peer.standing.nvoid > 0;
        pthread_mutex_unlock(&p->lock);
        if (!rc && !__atomic_load_n(&ps->peer.removed, __ATOMIC_ACQUIRE))
                return 0; /* the common case: no index read */
        rc = pull_mark_get(p, ps, &mk);
        if (rc == 0)
                rc = pull_cut_point(p, ps, &mk, &cut, &demotion, &twin);
        if (rc <= 0)
                return rc;
        rc = pull_cut_collect(p, ps, &cut, &mk, &twin, &c);
        if (rc == 0)
                rc = p->ops->undo(p->arg, ps->peer.device_id, c.u, c.n);
        if (rc == 0)
                rc = pull_mark_cut(p, ps, &cut);
        if (rc == 0 && p->ops->entry_done != NULL)
                rc = p->ops->entry_done(p->arg);
        if (rc == 0 && twin) {
                snprintf(key, sizeof(key), "%s/journal/%s/%016" PRIx64, p->region_hex, ps->hex,
                         cut.seq + 1);
                /* Not holding (pull_alarm_holds): the named chain is taken next. */
                (void)pull_alarm(p, ps, demotion ? PULL_DEMOTED : PULL_REVOKED, cut.seq + 1, key,
                                 "entries seq %" PRIu64 "..%" PRIu64 " of this %s device, "
                                 "from another branch than the chain its cutoff names (forked "
                                 "journal), had been applied before the %s was known: %zu "
                                 "version%s undone; the named chain is taken instead",
                                 cut.seq + 1, mk.seq, demotion ? "demoted" : "removed",
                                 demotion ? "demotion" : "removal", c.n, c.n == 1 ? "" : "s");
                ps->cut_waits = 0;
        } else if (rc == 0) {
                snprintf(key, sizeof(key), "%s/journal/%s/%016" PRIx64, p->region_hex, ps->hex,
                         cut.seq + 1);
                (void)pull_alarm(p, ps, demotion ? PULL_DEMOTED : PULL_REVOKED, cut.seq + 1, key,
                                 "entries seq %" PRIu64 "..%" PRIu64 " of this %s device "
                                 "(cutoff seq %" PRIu64 ") had been applied before the %s "
                                 "was known: %zu version%s undone",
                                 cut.seq + 1, mk.seq, demotion ? "demoted" : "removed", cut.seq,
                                 demotion ? "demotion" : "removal", c.n, c.n == 1 ? "" : "s");
                ps->cut_waits = 0;
        } else if (rc != -ENOMEM && !ps->cut_waits) {
                ps->cut_waits = 1;
                log_warn("pull: device %s was %s with entries past its cutoff applied "
                         "here; undoing them waits (%s), tried again every round",
                         ps->hex, demotion ? "demoted" : "removed", strerror(-rc));
        }
        free(c.u);
        return rc;
}

/* pull_peer_audit's listing. */
struct pull_audit {
        struct pull *p;
        struct pull_peer_state *ps;
        uint64_t hi;   /* the last seq looked at (this device's mark, at most the anchor) */
        uint64_t last; /* the seq of the previous key */
        unsigned forks;
};

static int pull_audit_cb(void *arg, const char *key, uint64_t size)
{
        struct pull_audit *a = arg;
        uint8_t rid[32], dev[16], hash[32];
        uint64_t seq = 0;

        (void)size;
        if (journal_parse_key(key, rid, dev, &seq, hash) != 0 ||
            memcmp(rid, a->p->region_id, 32) != 0 || memcmp(dev, a->ps->peer.device_id, 16) != 0)
                return 0; /* junk: the ordinary listing names it */
        if (seq > a->hi)
                return PULL_LIST_STOP;
        if (seq == a->last) {
                a->forks++;
                (void)pull_alarm(a->p, a->ps, PULL_EQUIVOCATION, seq, key,
                                 "two entries at one seq below this device's mark, seen when the "
                                 "cutoff that decides them was folded (forked journal)");
        }
        a->last = seq;
        return 0;
}

/*
 * Invariant C9: a device that went past a seq before the other entry at it
 * was shown never lists that seq again, so once per anchor (and per puller
 * life) PS's journal is listed from its start up to this device's mark (at
 * most the anchor): one LIST, no GET.  A seq with two entries is named
 * (equivocation, not holding: the cutoff decides it; this device is on the
 * named chain, else pull_peer_cut had undone it).  0 or the LIST's error
 * (tried again next round).
 */
static int pull_peer_audit(struct pull *p, struct pull_peer_state *ps)
{
        char prefix[PULL_DIR_KEY_LEN + 1];
        struct pull_audit a;
        struct pull_mark mk;
        uint64_t top;
        uint8_t top_hash[32];
        int dem, rc;

        if (!pull_anchor(p, ps, &top, top_hash, &dem))
                return 0;
        if (ps->audit_done && ps->audit_top == top && memcmp(ps->audit_hash, top_hash, 32) == 0)
                return 0;
        rc = pull_mark_get(p, ps, &mk);
        if (rc != 0)
                return rc;
        memset(&a, 0, sizeof(a));
        a.p = p;
        a.ps = ps;
        a.hi = mk.have ? (mk.seq < top ? mk.seq : top) : 0;
        if (a.hi > 1) {
                snprintf(prefix, sizeof(prefix), "%s/journal/%s/", p->region_hex, ps->hex);
                rc = p->store->ops->list(p->store, prefix, NULL, pull_audit_cb, &a);
                if (rc == PULL_LIST_STOP)
                        rc = 0;
                if (rc != 0)
                        return rc;
        }
        ps->audit_done = 1;
        ps->audit_top = top;
        memcpy(ps->audit_hash, top_hash, 32);
        if (a.forks > 0)
                log_info("pull: device %s: %u fork%s below this device's mark, decided by its "
                         "cutoff (seq %" PRIu64 ")",
                         ps->hex, a.forks, a.forks == 1 ? "" : "s", top);
        return 0;
}

/* One round over peer PS.  Returns 0 or a transient error (alarms are not errors). */
static int pull_peer_round(struct pull *p, struct pull_peer_state *ps, unsigned *applied)
{
        struct pull_mark mk;
        struct pull_item *items = NULL;
        size_t n = 0, i;
        int rc;

        if (ps->waiting && atomic_load(&p->keys_gen) == ps->wait_gen) {
                atomic_store(&p->want_keys, 1); /* held at its entry until a refresh */
                return 0;
        }
        rc = pull_mark_get(p, ps, &mk);
        if (rc == 0)
                rc = pull_list(p, ps, &mk, &items, &n);
        if (rc == 0)
                pull_count_entries(p, n, 0);
        for (i = 0; i < n && rc == 0; i++) {
                rc = pull_entry(p, ps, &mk, &items[i], applied);
                if (rc == 0)
                        pull_count_entries(p, 0, 1);
        }
        free(items);
        if ((rc == -EBADMSG && ps->held) || rc == PULL_WAIT_KEYS || rc == PULL_WAIT_SEEN ||
            rc == PULL_WAIT_ROLE || rc == PULL_WAIT_CUT)
                rc = 0; /* an alarm, already raised, or waiting for keys, a seen entry, a role
                           or an undo (C9) */
        return rc;
}

/* ---- the peers (invariant 7) ---- */

static size_t pull_npeers(struct pull *p)
{
        return __atomic_load_n(&p->npeers, __ATOMIC_ACQUIRE);
}

/* The peer DEVICE_ID, or NULL.  Called by the one thread that adds peers. */
static struct pull_peer_state *pull_peer_find(struct pull *p, const uint8_t device_id[static 16])
{
        size_t i, n = pull_npeers(p);

        for (i = 0; i < n; i++)
                if (memcmp(p->peers[i].peer.device_id, device_id, 16) == 0)
                        return &p->peers[i];
        return NULL;
}

/* Appends PEER (there is room), then publishes it. */
static void pull_peer_add(struct pull *p, const struct pull_peer *peer)
{
        size_t n = pull_npeers(p);
        struct pull_peer_state *ps = &p->peers[n];

        assert(n < PULL_PEERS_MAX);
        memset(ps, 0, sizeof(*ps));
        ps->peer = *peer;
        hex_encode(ps->hex, peer->device_id, 16);
        __atomic_store_n(&p->npeers, n + 1, __ATOMIC_RELEASE);
}

static void pull_hold_from_kept(struct pull *p, struct pull_peer_state *ps);

/* Brings known peer PS up to date with PEER; -EKEYREJECTED if the key differs (alarm). */
static int pull_peer_update(struct pull *p, struct pull_peer_state *ps,
                            const struct pull_peer *peer)
{
        char have[65], got[65];
        uint8_t role = __atomic_load_n(&ps->peer.role, __ATOMIC_RELAXED);
        int changed;

        if (memcmp(ps->peer.sign_pk, peer->sign_pk, 32) != 0) {
                hex_encode(have, ps->peer.sign_pk, 32);
                hex_encode(got, peer->sign_pk, 32);
                (void)pull_alarm(p, ps, PULL_KEY_CHANGED, 0, NULL,
                                 "the membership names signing key %.16s... for this device, "
                                 "pinned is %.16s...; keeping the pinned key",
                                 got, have);
                return -EKEYREJECTED;
        }
        if (role != peer->role) {
                log_info("pull: device %s has role %u now (was %u)", ps->hex, peer->role, role);
                __atomic_store_n(&ps->peer.role, peer->role, __ATOMIC_RELAXED);
        }
        if (peer->removed && (!__atomic_load_n(&ps->peer.removed, __ATOMIC_ACQUIRE) ||
                              peer->cutoff_seq < ps->peer.cutoff_seq)) {
                log_info("pull: device %s was removed; its entries after seq %llu are refused",
                         ps->hex, (unsigned long long)peer->cutoff_seq);
                pthread_mutex_lock(&p->lock); /* pull_check_standing reads both under it */
                memcpy(ps->peer.cutoff_hash, peer->cutoff_hash, 32);
                ps->peer.cutoff_seq = peer->cutoff_seq;
                __atomic_store_n(&ps->peer.removed, 1, __ATOMIC_RELEASE);
                /* A fork at or below the cutoff's seq held it: the removal decides it now (C9). */
                if (ps->held)
                        pull_hold_from_kept(p, ps);
                pthread_mutex_unlock(&p->lock);
        }
        pthread_mutex_lock(&p->lock); /* pull_check_standing reads it under it */
        changed = memcmp(&ps->peer.standing, &peer->standing, sizeof(peer->standing)) != 0;
        if (changed)
                ps->peer.standing = peer->standing;
        /* A fork below the cutoff held it: the demotion decides it now (C9). */
        if (changed && peer->standing.cut && ps->held)
                pull_hold_from_kept(p, ps);
        pthread_mutex_unlock(&p->lock);
        if (changed && peer->standing.cut)
                log_info("pull: device %s was demoted; its entries after seq %llu are refused",
                         ps->hex, (unsigned long long)peer->standing.cut_seq);
        else if (changed)
                log_info("pull: device %s: %zu void range%s of its journal (signed while demoted)",
                         ps->hex, peer->standing.nvoid, peer->standing.nvoid == 1 ? "" : "s");
        return 0;
}

int pull_set_peers(struct pull *p, const struct pull_peer *peers, size_t n)
{
        struct pull_peer_state *ps;
        size_t i;
        int rc = 0;

        assert(peers != NULL || n == 0);
        for (i = 0; i < n; i++) {
                if (memcmp(peers[i].device_id, p->self_id, 16) == 0)
                        continue;
                ps = pull_peer_find(p, peers[i].device_id);
                if (ps != NULL) {
                        if (pull_peer_update(p, ps, &peers[i]) != 0)
                                rc = -EKEYREJECTED;
                        continue;
                }
                if (pull_npeers(p) == PULL_PEERS_MAX) {
                        log_err("pull: more than %d peers; not pulling the rest", PULL_PEERS_MAX);
                        return -ENOSPC;
                }
                pull_peer_add(p, &peers[i]);
                ps = &p->peers[pull_npeers(p) - 1];
                pthread_mutex_lock(&p->lock);
                pull_hold_from_kept(p, ps); /* an alarm kept from before names it */
                pthread_mutex_unlock(&p->lock);
                log_info("pull: new peer device %s (role %u)", ps->hex, peers[i].role);
        }
        return rc;
}

/* ---- API ---- */

int pull_new(struct pull **out, struct store *store, struct index *ix,
             const uint8_t region_id[static 32], const uint8_t self_id[static 16],
             const struct pull_peer *peers, size_t npeers, const struct pull_ops *ops, void *arg)
{
        struct pull *p;
        size_t i;

        assert(ops != NULL && ops->apply != NULL && ops->epoch_key != NULL &&
               (peers != NULL || npeers == 0));
        p = calloc(1, sizeof(*p));
        if (p == NULL)
                return -ENOMEM;
        p->peers = calloc(PULL_PEERS_MAX, sizeof(*p->peers));
        if (p->peers == NULL) {
                free(p);
                return -ENOMEM;
        }
        p->store = store;
        p->ix = ix;
        memcpy(p->region_id, region_id, 32);
        hex_encode(p->region_hex, region_id, 32);
        memcpy(p->self_id, self_id, 16);
        for (i = 0; i < npeers; i++) {
                if (memcmp(peers[i].device_id, self_id, 16) == 0 ||
                    pull_peer_find(p, peers[i].device_id) != NULL)
                        continue; /* ourselves, or listed twice: the first one counts */
                if (p->npeers == PULL_PEERS_MAX) {
                        free(p->peers);
                        free(p);
                        return -E2BIG;
                }
                pull_peer_add(p, &peers[i]);
        }
        p->ops = ops;
        p->arg = arg;
        p->spool_dirfd = -1;
        p->seen_grace_s = PULL_SEEN_GRACE_S;
        p->gap_grace_s = PULL_GAP_GRACE_S;
        pthread_mutex_init(&p->lock, NULL);
        if (pull_load_alarms(p) != 0) {
                pull_free(p);
                return -EIO;
        }
        *out = p;
        return 0;
}

/* ---- lasting alarms (invariant A1) ---- */

/* PS is held if a kept holding alarm names it (pull_alarm_holds).  Caller holds P->lock. */
static void pull_hold_from_kept(struct pull *p, struct pull_peer_state *ps)
{
        const struct pull_kept *k;
        size_t i;

        ps->held = 0;
        for (i = 0; i < p->nkept; i++) {
                k = &p->kept[i];
                if (memcmp(k->device_id, ps->peer.device_id, 16) == 0 &&
                    pull_alarm_holds(ps, k->kind, k->holds, k->seq))
                        ps->held = 1;
        }
}

/* The kind named NAME, or -1. */
static int pull_kind_of(const char *name)
{
        size_t i;

        for (i = 0; i < PULL_NKINDS; i++)
                if (pull_kinds[i].name != NULL && strcmp(pull_kinds[i].name, name) == 0)
                        return (int)i;
        return -1;
}

/* index_alarm_list callback of pull_load_alarms: one uncleared alarm into the kept list. */
static int pull_load_one(void *arg, const struct index_alarm *a)
{
        struct pull *p = arg;
        struct pull_kept *k;
        int kind = pull_kind_of(a->kind);
        uint8_t dev[16];

        if (hex_decode(dev, sizeof(dev), a->device) != 0)
                memset(dev, 0, sizeof(dev)); /* "-": about no device */
        p->nalarms++;
        snprintf(p->last, sizeof(p->last), "%s: device %s seq %" PRIu64 ": %.200s (object %.200s)",
                 a->kind, a->device, a->seq, a->detail, a->object[0] ? a->object : "-");
        if (kind >= 0)
                (void)pull_logged_before(
                    p, (enum pull_kind)kind, dev, a->seq,
                    pull_alarm_what((enum pull_kind)kind, a->object, a->detail));
        if (p->nkept == p->kept_cap) {
                size_t cap = p->kept_cap ? 2 * p->kept_cap : 8;

                if (cap > PULL_ALARM_KEEP)
                        return 0;
                k = realloc(p->kept, cap * sizeof(*k));
                if (k == NULL)
                        return -ENOMEM;
                p->kept = k;
                p->kept_cap = cap;
        }
        k = &p->kept[p->nkept++];
        memset(k, 0, sizeof(*k));
        k->id = a->id;
        k->time = (time_t)a->time;
        k->kind = kind;
        snprintf(k->name, sizeof(k->name), "%s", a->kind);
        k->holds = a->holds;
        memcpy(k->device_id, dev, 16);
        k->seq = a->seq;
        snprintf(k->object, sizeof(k->object), "%s", a->object);
        snprintf(k->detail, sizeof(k->detail), "%s", a->detail);
        return 0;
}

/* The alarms not cleared yet, from the index: kept, and their devices held again. */
static int pull_load_alarms(struct pull *p)
{
        size_t i;
        int rc;

        pthread_mutex_lock(&p->lock);
        rc = index_alarm_list(p->ix, pull_load_one, p);
        for (i = 0; i < p->npeers; i++)
                pull_hold_from_kept(p, &p->peers[i]);
        pthread_mutex_unlock(&p->lock);
        if (rc != 0)
                log_err("pull: cannot read the alarms kept in the index: %s", strerror(-rc));
        else if (p->nkept > 0)
                log_warn("pull: %zu alarm(s) raised before and not cleared ('sealsync alarms')",
                         p->nkept);
        return rc;
}

int pull_alarm_clear(struct pull *p, int64_t id, unsigned *n)
{
        size_t i, j = 0, np = pull_npeers(p);
        unsigned gone = 0;
        int rc;

        pthread_mutex_lock(&p->lock);
        rc = index_alarm_clear(p->ix, id, n);
        if (rc != 0) {
                pthread_mutex_unlock(&p->lock);
                return rc;
        }
        for (i = 0; i < p->nkept; i++) {
                struct pull_kept *k = &p->kept[i];

                if (id != 0 && k->id != id) {
                        p->kept[j++] = *k;
                        continue;
                }
                gone++;
                for (size_t l = 0; k->kind >= 0 && l < p->nlogged; l++) {
                        struct pull_logged *g = &p->logged[l];

                        if (g->kind == k->kind && g->seq == k->seq &&
                            memcmp(g->device_id, k->device_id, 16) == 0) {
                                p->logged[l] = p->logged[--p->nlogged]; /* may be raised again */
                                break;
                        }
                }
        }
        p->nkept = j;
        p->nalarms = id == 0 || p->nalarms < gone ? (unsigned)p->nkept : p->nalarms - gone;
        if (p->nalarms == 0)
                p->last[0] = '\0';
        for (i = 0; i < np; i++)
                pull_hold_from_kept(p, &p->peers[i]);
        pthread_mutex_unlock(&p->lock);
        return 0;
}

void pull_set_withheld_grace(struct pull *p, long seconds)
{
        p->seen_grace_s = seconds < 0 ? 0 : seconds;
}

void pull_set_gap_grace(struct pull *p, long seconds)
{
        p->gap_grace_s = seconds < 0 ? 0 : seconds;
}

/* The one-line reason for transient error RC: the line logged where it was detected, if any. */
static void pull_error_text(int rc, char *buf, size_t size)
{
        if (rc != -ENOMEDIUM && log_last_error(buf, size))
                return;
        if (rc == -EACCES)
                snprintf(buf, size, "the store denied access (check its credentials)");
        else if (rc == -EAGAIN)
                snprintf(buf, size, "the store is unreachable or failing (gave up after retries)");
        else if (rc == -ENOMEDIUM)
                snprintf(buf, size,
                         "store-missing: the store's root is gone (an unplugged disk, an "
                         "unmounted share?); nothing is created, pulling resumes when it is back");
        else
                snprintf(buf, size, "pulling from the store failed: %s", strerror(-rc));
}

/* Records the outcome RC of the round that just ended (with its last error text ERR). */
static void pull_round_end(struct pull *p, int rc, const char *err)
{
        pthread_mutex_lock(&p->lock);
        p->in_round = 0;
        p->st.rounds_done = p->st.rounds_started;
        p->st.last_round_rc = rc;
        if (rc == 0) {
                p->st.last_ok = time(NULL);
                p->st.last_err = 0;
                p->st.last_err_text[0] = '\0';
        } else {
                p->st.last_err = rc;
                p->st.last_err_time = time(NULL);
                snprintf(p->st.last_err_text, sizeof(p->st.last_err_text), "%s", err);
        }
        pthread_mutex_unlock(&p->lock);
}

int pull_round(struct pull *p, unsigned *applied)
{
        char err[sizeof(p->st.last_err_text)] = "";
        unsigned count = 0;
        size_t i;
        int rc = 0, r, pass;

        pthread_mutex_lock(&p->lock);
        if (p->in_round) {
                pthread_mutex_unlock(&p->lock);
                return -EAGAIN; /* another thread is pulling (or apply called us) */
        }
        p->in_round = 1;
        p->st.rounds_started++;
        pthread_mutex_unlock(&p->lock);
        if (p->boot != NULL) {
                log_last_error_reset();
                r = p->boot(p->boot_arg, &count);
                if (r == 0) {
                        pthread_mutex_lock(&p->lock);
                        p->boot = NULL;
                        pthread_mutex_unlock(&p->lock);
                } else {
                        rc = r;
                        pull_error_text(r, err, sizeof(err));
                }
        }
        /* Entries waiting for entries of peers later in the order go again (W2). */
        for (pass = 0; pass < PULL_PASSES_MAX && p->boot == NULL; pass++) {
                uint64_t done0 = pull_entries_done(p);

                p->seen_waits = 0;
                for (i = 0; i < pull_npeers(p); i++) {
                        log_last_error_reset();
                        r = pull_peer_cut(p, &p->peers[i]); /* even a held peer's (invariant C2) */
                        if (r == 0 && pass == 0)
                                r = pull_peer_audit(p, &p->peers[i]); /* C9 */
                        if (r == 0 && !p->peers[i].held)
                                r = pull_peer_round(p, &p->peers[i], &count);
                        if (r != 0) {
                                rc = r;
                                pull_error_text(r, err, sizeof(err));
                        }
                }
                if (!p->seen_waits || pull_entries_done(p) == done0)
                        break;
        }
        pull_round_end(p, rc, err);
        *applied = count;
        return rc;
}

/* Copies record [OFF, OFF+LEN) of PACK from the packs being applied; 0 or -ENOENT. */
static int pull_fetch_cur(struct pull *p, const uint8_t pack[static 32], uint64_t off, uint32_t len,
                          uint8_t *out)
{
        const struct pull_pack *pk;
        int rc = -ENOENT;

        pthread_mutex_lock(&p->lock);
        pk = pull_pack_find(p->cur, p->ncur, pack);
        if (pk != NULL)
                rc = pull_pack_read(pk, off, len, out);
        pthread_mutex_unlock(&p->lock);
        return rc;
}

/* Where a wanted block's record is (pull_fetch_blocks). */
struct pull_loc {
        size_t i; /* into the wants */
        uint8_t pack[32];
        uint64_t off;
        uint32_t len;
        uint8_t kind; /* PACK_KIND_BLOCK or PACK_KIND_MANIFEST */
};

static int pull_loc_cmp(const void *a, const void *b)
{
        const struct pull_loc *x = a, *y = b;
        int c = memcmp(x->pack, y->pack, 32);

        if (c != 0)
                return c;
        return x->off < y->off ? -1 : x->off > y->off;
}

/* Checks the record in W->out (L's length and kind) against W->hash; on success W->len is set. */
static int pull_want_check(struct pull_want *w, const struct pull_loc *l)
{
        if (pack_record_check(l->kind, w->out, l->len, w->hash) != 0)
                return -EBADMSG;
        w->len = l->len;
        return 0;
}

/*
 * Locates W (pack index) into L and tries the packs of the entry being
 * applied.  Returns 0 (W is done), 1 (to fetch: L is set) or W's error.
 */
static int pull_want_locate(struct pull *p, struct pull_want *w, size_t cap, struct pull_loc *l)
{
        int rc = index_packidx_get(p->ix, w->hash, l->pack, &l->off, &l->len);

        if (rc != 0)
                return rc;
        if (l->kind == PACK_KIND_BLOCK &&
            (l->len < PACK_BLOCK_MIN_LEN || l->len > PACK_BLOCK_MAX_LEN))
                return -EBADMSG; /* not a block record */
        if (l->len > cap)
                return -ERANGE;
        if (pull_fetch_cur(p, l->pack, l->off, l->len, w->out) == 0 && pull_want_check(w, l) == 0)
                return 0;
        return 1;
}

/* A record of a ranged GET that did not match: fetched again alone, then the alarm bad-block. */
static int pull_refetch(struct pull *p, struct pull_want *w, const struct pull_loc *l,
                        const char *key)
{
        int rc = p->store->ops->get_range(p->store, key, l->off, l->len, w->out);

        if (rc == -EIO)
                rc = -EBADMSG; /* the pack is shorter than it was */
        if (rc == 0) {
                pull_count_bytes(p, l->len);
                rc = pull_want_check(w, l);
        }
        if (rc == -EBADMSG)
                (void)pull_alarm(p, NULL, PULL_BAD_BLOCK, 0, key,
                                 "the block record at %" PRIu64 " does not match its reference "
                                 "(also fetched again); not used",
                                 l->off);
        return rc;
}

/* One ranged GET for the records L[0..N) (one pack, ascending, within PULL_RANGE_MAX). */
static void pull_fetch_run(struct pull *p, struct pull_want *w, const struct pull_loc *l, size_t n)
{
        char key[PULL_PACK_KEY_SIZE];
        uint64_t start = l[0].off, span = l[n - 1].off + l[n - 1].len - start;
        uint8_t *buf = malloc((size_t)span);
        size_t j;
        int rc;

        pull_pack_key(p, l[0].pack, key);
        rc = buf != NULL ? p->store->ops->get_range(p->store, key, start, (size_t)span, buf)
                         : -ENOMEM;
        if (rc == -EIO)
                rc = -EBADMSG;
        if (rc == 0)
                pull_count_bytes(p, (size_t)span);
        for (j = 0; j < n; j++) {
                struct pull_want *wj = &w[l[j].i];

                if (rc != 0 && rc != -EBADMSG) {
                        wj->rc = rc;
                        continue;
                }
                if (rc == 0) {
                        memcpy(wj->out, buf + (l[j].off - start), l[j].len);
                        wj->rc = pull_want_check(wj, &l[j]);
                }
                if (rc != 0 || wj->rc != 0)
                        wj->rc = pull_refetch(p, wj, &l[j], key);
        }
        free(buf);
}

/* pull_fetch_blocks for records of KIND; want I has room for CAPS[I] bytes (CAPS NULL: CAP). */
static int pull_fetch_kind(struct pull *p, uint8_t kind, struct pull_want *w, size_t n, size_t cap,
                           const size_t *caps)
{
        struct pull_loc *l = calloc(n ? n : 1, sizeof(*l));
        size_t i, nl = 0, a, b;
        int rc = 0;

        if (l == NULL)
                return -ENOMEM;
        for (i = 0; i < n; i++) {
                l[nl].kind = kind;
                w[i].rc = pull_want_locate(p, &w[i], caps != NULL ? caps[i] : cap, &l[nl]);
                if (w[i].rc == 1) {
                        w[i].rc = -EAGAIN;
                        l[nl++].i = i;
                }
        }
        qsort(l, nl, sizeof(*l), pull_loc_cmp);
        for (a = 0; a < nl; a = b) {
                for (b = a + 1; b < nl && memcmp(l[b].pack, l[a].pack, 32) == 0 &&
                                l[b].off >= l[b - 1].off + l[b - 1].len &&
                                l[b].off - (l[b - 1].off + l[b - 1].len) <= PULL_RANGE_GAP &&
                                l[b].off + l[b].len - l[a].off <= PULL_RANGE_MAX;
                     b++)
                        ;
                pull_fetch_run(p, w, &l[a], b - a);
        }
        free(l);
        for (i = 0; i < n; i++) {
                if (w[i].rc != 0)
                        secmem_wipe(w[i].out, caps != NULL ? caps[i] : cap);
                if (w[i].rc != 0 && rc == 0)
                        rc = w[i].rc;
        }
        return rc;
}

int pull_fetch_blocks(struct pull *p, struct pull_want *w, size_t n, size_t cap)
{
        return pull_fetch_kind(p, PACK_KIND_BLOCK, w, n, cap, NULL);
}

int pull_fetch_manifests(struct pull *p, struct pull_want *w, size_t n, const size_t *caps)
{
        return pull_fetch_kind(p, PACK_KIND_MANIFEST, w, n, 0, caps);
}

int pull_fetch_block(struct pull *p, const uint8_t hash[static 32], uint8_t *out, size_t cap,
                     size_t *len)
{
        struct pull_want w;
        int rc;

        memcpy(w.hash, hash, 32);
        w.out = out;
        w.len = 0;
        rc = pull_fetch_blocks(p, &w, 1, cap);
        if (rc == 0)
                *len = w.len;
        return rc;
}

int pull_block_here(struct pull *p, const uint8_t hash[static 32], uint8_t *out, size_t cap,
                    size_t *len)
{
        struct pull_want w;
        struct pull_loc l;
        int rc;

        memcpy(w.hash, hash, 32);
        w.out = out;
        l.kind = PACK_KIND_BLOCK;
        rc = pull_want_locate(p, &w, cap, &l);
        if (rc == 1)
                rc = -ENOENT;
        if (rc == 0)
                *len = w.len;
        else
                secmem_wipe(out, cap);
        return rc;
}

void pull_set_lazy(struct pull *p, int on)
{
        p->lazy = on;
}

void pull_set_fetch_par(struct pull *p, int n)
{
        p->fetch_par = n < 1 ? 1 : n > PULL_FETCH_PAR_MAX ? PULL_FETCH_PAR_MAX : n;
}

unsigned pull_alarms(struct pull *p, char *buf, size_t size)
{
        unsigned n;

        pthread_mutex_lock(&p->lock);
        n = p->nalarms;
        if (buf != NULL && size > 0)
                snprintf(buf, size, "%s", p->last);
        pthread_mutex_unlock(&p->lock);
        return n;
}

void pull_get_stats(struct pull *p, struct pull_stats *st)
{
        pthread_mutex_lock(&p->lock);
        *st = p->st;
        st->nalarms = p->nalarms;
        st->in_round = p->in_round;
        pthread_mutex_unlock(&p->lock);
}

size_t pull_alarm_count(struct pull *p)
{
        size_t n;

        pthread_mutex_lock(&p->lock);
        n = p->nkept;
        pthread_mutex_unlock(&p->lock);
        return n;
}

int pull_alarm_get(struct pull *p, size_t i, struct pull_alarm_info *out)
{
        const struct pull_kept *k;
        const struct pull_peer_state *ps;

        pthread_mutex_lock(&p->lock);
        if (i >= p->nkept) {
                pthread_mutex_unlock(&p->lock);
                return -ENOENT;
        }
        k = &p->kept[i];
        out->id = k->id;
        out->time = k->time;
        snprintf(out->kind, sizeof(out->kind), "%s", k->name);
        ps = pull_peer_find(p, k->device_id); /* invariant 7: the ids never change */
        out->holds = ps != NULL ? pull_alarm_holds(ps, k->kind, k->holds, k->seq) : k->holds;
        hex_encode(out->device, k->device_id, 16);
        out->seq = k->seq;
        memcpy(out->object, k->object, sizeof(out->object));
        memcpy(out->text, k->detail, sizeof(k->detail));
        pthread_mutex_unlock(&p->lock);
        return 0;
}

size_t pull_peer_count(struct pull *p)
{
        return pull_npeers(p);
}

int pull_peer_get(struct pull *p, size_t i, struct pull_peer_info *out)
{
        struct pull_mark mk;
        int rc;

        if (i >= pull_npeers(p))
                return -ENOENT;
        rc = pull_mark_get(p, &p->peers[i], &mk);
        if (rc != 0)
                return rc;
        memcpy(out->device, p->peers[i].hex, sizeof(out->device));
        memcpy(out->device_id, p->peers[i].peer.device_id, sizeof(out->device_id));
        memcpy(out->sign_pk, p->peers[i].peer.sign_pk, sizeof(out->sign_pk));
        out->have = mk.have;
        out->seq = mk.have ? mk.seq : 0;
        memcpy(out->hash, mk.hash, sizeof(out->hash)); /* zeros without a mark */
        pthread_mutex_lock(&p->lock);
        out->held = p->peers[i].held || p->peers[i].seen_late;
        pthread_mutex_unlock(&p->lock);
        return 0;
}

int pull_ack_alarm(struct pull *p, const uint8_t device_id[static 16], enum pull_ack_alarm kind,
                   uint64_t seq, const char *object, const char *text)
{
        static const enum pull_kind kinds[] = {
            [PULL_ALARM_BAD_ACK] = PULL_BAD_ACK,
            [PULL_ALARM_ACK_ROLLBACK] = PULL_ACK_ROLLBACK,
            [PULL_ALARM_ACK_FORK] = PULL_ACK_FORK,
            [PULL_ALARM_BAD_CHECKPOINT] = PULL_BAD_CKPT,
            [PULL_ALARM_CHECKPOINT_FORK] = PULL_CKPT_FORK,
            [PULL_ALARM_CLONED_DEVICE] = PULL_CLONED,
        };
        size_t i, n = pull_npeers(p);

        assert((size_t)kind < sizeof(kinds) / sizeof(kinds[0]));
        if (kind == PULL_ALARM_CLONED_DEVICE) {
                if (memcmp(device_id, p->self_id, 16) != 0)
                        return -ENOENT;
                (void)pull_alarm(p, NULL, PULL_CLONED, seq, object, "%s", text);
                return 0;
        }
        for (i = 0; i < n; i++) {
                if (memcmp(p->peers[i].peer.device_id, device_id, 16) != 0)
                        continue;
                (void)pull_alarm(p, &p->peers[i], kinds[kind], seq, object, "%s", text);
                return 0;
        }
        return -ENOENT;
}

int pull_wants_keys(struct pull *p)
{
        return atomic_exchange(&p->want_keys, 0);
}

void pull_keys_refreshed(struct pull *p)
{
        atomic_fetch_add(&p->keys_gen, 1);
}

/* Plans the pieces of the located records L (NL, sorted) into PACKS (one per pack). */
static size_t pull_prefetch_plan(const struct pull_loc *l, size_t nl, struct pull_pack *packs)
{
        uint64_t total = 0;
        size_t i, np = 0;

        for (i = 0; i < nl; i++) {
                struct pull_pack *pk = &packs[np > 0 ? np - 1 : 0];
                struct pull_piece *last;

                if (np == 0 || memcmp(pk->hash, l[i].pack, 32) != 0) {
                        pk = &packs[np++];
                        memcpy(pk->hash, l[i].pack, 32);
                        pk->size = PACK_MAX_SIZE;
                }
                last = pk->npieces > 0 ? &pk->pieces[pk->npieces - 1] : NULL;
                if (last != NULL && l[i].off >= last->off + last->len &&
                    l[i].off - (last->off + last->len) <= PULL_PIECE_GAP &&
                    l[i].off + l[i].len - last->off <= PULL_RANGE_MAX) {
                        total += l[i].off + l[i].len - (last->off + last->len);
                        last->len = (size_t)(l[i].off + l[i].len - last->off);
                } else if (last == NULL || l[i].off >= last->off + last->len) {
                        total += l[i].len;
                        pk->pieces[pk->npieces].off = l[i].off;
                        pk->pieces[pk->npieces++].len = l[i].len;
                }
                if (total > PULL_KEEP_MAX)
                        break; /* the rest stays remote */
        }
        return np;
}

/* PACKS for the distinct packs of L (NL, sorted), each with room for its records' pieces. */
static int pull_prefetch_packs(const struct pull_loc *l, size_t nl, struct pull_pack **out,
                               size_t *np)
{
        struct pull_pack *packs;
        size_t i, j, k = 0;

        for (i = 0; i < nl; i++)
                k += i == 0 || memcmp(l[i - 1].pack, l[i].pack, 32) != 0;
        packs = calloc(k ? k : 1, sizeof(*packs));
        if (packs == NULL)
                return -ENOMEM;
        for (i = 0, k = 0; i < nl; i = j, k++) {
                for (j = i; j < nl && memcmp(l[j].pack, l[i].pack, 32) == 0; j++)
                        ;
                packs[k].fd = -1;
                packs[k].pieces = calloc(j - i, sizeof(*packs[k].pieces));
                if (packs[k].pieces == NULL) {
                        pull_packs_free(packs, k + 1);
                        return -ENOMEM;
                }
        }
        *out = packs;
        *np = k;
        return 0;
}

int pull_prefetch(struct pull *p, const uint8_t (*hashes)[32], size_t n)
{
        struct pull_loc *l = calloc(n ? n : 1, sizeof(*l));
        struct pull_pack *packs = NULL;
        size_t i, nl = 0, np = 0, used;
        int rc;

        if (l == NULL)
                return -ENOMEM;
        for (i = 0; i < n; i++)
                if (index_packidx_get(p->ix, hashes[i], l[nl].pack, &l[nl].off, &l[nl].len) == 0)
                        nl++;
        qsort(l, nl, sizeof(*l), pull_loc_cmp);
        rc = pull_prefetch_packs(l, nl, &packs, &np);
        used = rc == 0 ? pull_prefetch_plan(l, nl, packs) : 0;
        free(l);
        for (i = 0; i < used; i++)
                if (pull_pieces_get(p, NULL, "a checkpoint bootstrap", 0, &packs[i]) != 0)
                        pull_pieces_drop(&packs[i]); /* left remote: fetched when read */
        if (rc != 0)
                return rc;
        pthread_mutex_lock(&p->lock);
        p->cur = packs;
        p->ncur = used;
        pthread_mutex_unlock(&p->lock);
        p->prefetch = packs;
        p->nprefetch = np;
        return 0;
}

void pull_prefetch_end(struct pull *p)
{
        pthread_mutex_lock(&p->lock);
        if (p->cur == p->prefetch) {
                p->cur = NULL;
                p->ncur = 0;
        }
        pthread_mutex_unlock(&p->lock);
        pull_packs_free(p->prefetch, p->nprefetch);
        p->prefetch = NULL;
        p->nprefetch = 0;
}

int pull_peer_lookup(struct pull *p, const uint8_t device_id[static 16], struct pull_peer *out)
{
        size_t i, n = pull_npeers(p);

        for (i = 0; i < n; i++) {
                const struct pull_peer_state *ps = &p->peers[i];

                if (memcmp(ps->peer.device_id, device_id, 16) != 0)
                        continue;
                memcpy(out->device_id, ps->peer.device_id, 16);
                memcpy(out->sign_pk, ps->peer.sign_pk, 32);
                out->role = __atomic_load_n(&ps->peer.role, __ATOMIC_RELAXED);
                out->removed = __atomic_load_n(&ps->peer.removed, __ATOMIC_ACQUIRE);
                pthread_mutex_lock(&p->lock); /* they change together (pull_peer_update) */
                out->cutoff_seq = ps->peer.cutoff_seq;
                memcpy(out->cutoff_hash, ps->peer.cutoff_hash, 32);
                out->standing = ps->peer.standing;
                pthread_mutex_unlock(&p->lock);
                return 0;
        }
        return -ENOENT;
}

int pull_mark_advance(struct pull *p, const uint8_t device_id[static 16], uint64_t seq,
                      const uint8_t hash[static 32])
{
        size_t i, n = pull_npeers(p);
        struct pull_mark mk;
        int rc;

        for (i = 0; i < n; i++)
                if (memcmp(p->peers[i].peer.device_id, device_id, 16) == 0)
                        break;
        if (i == n)
                return -ENOENT;
        rc = pull_mark_get(p, &p->peers[i], &mk);
        if (rc != 0)
                return rc;
        if (mk.have && (mk.seq > seq || (mk.seq == seq && memcmp(mk.hash, hash, 32) != 0)))
                return -ESTALE;
        if (mk.have && mk.seq == seq)
                return 0;
        return pull_mark_put(p, &p->peers[i], seq, hash);
}

void pull_set_bootstrap(struct pull *p, int (*fn)(void *arg, unsigned *applied), void *arg)
{
        pthread_mutex_lock(&p->lock);
        p->boot = fn;
        p->boot_arg = arg;
        pthread_mutex_unlock(&p->lock);
}

int pull_booting(struct pull *p)
{
        int b;

        pthread_mutex_lock(&p->lock);
        b = p->boot != NULL;
        pthread_mutex_unlock(&p->lock);
        return b;
}

void pull_set_spool(struct pull *p, int dirfd)
{
        p->spool_dirfd = dirfd;
}

void pull_set_self_key(struct pull *p, const uint8_t sign_pk[static 32])
{
        memcpy(p->self_pk, sign_pk, 32);
        p->have_self_pk = 1;
}

/* The pinned signing key of manifest author AUTHOR into PK: 0 or -ENOENT. */
static int pull_author_key(struct pull *p, const uint8_t author[static 16], uint8_t pk[static 32])
{
        struct pull_peer peer;

        if (memcmp(author, p->self_id, 16) == 0) {
                if (!p->have_self_pk)
                        return -ENOENT;
                memcpy(pk, p->self_pk, 32);
                return 0;
        }
        if (pull_peer_lookup(p, author, &peer) != 0)
                return -ENOENT;
        memcpy(pk, peer.sign_pk, 32);
        return 0;
}

int pull_manifest_get(struct pull *p, const uint8_t hash[static 32],
                      const uint8_t file_id[static 16], struct manifest *m,
                      struct manifest_meta *meta)
{
        struct journal_commit c;
        struct pull_want w;
        const uint8_t *key;
        const char *why = NULL;
        uint8_t pack[32], pk[32];
        uint64_t off = 0;
        uint32_t len = 0;
        size_t cap;
        int rc = index_packidx_get(p->ix, hash, pack, &off, &len);

        if (rc != 0)
                return rc;
        if (len <= PULL_AUTHOR_OFF + 16 || len > MANIFEST_MAX_SIZE)
                return -EBADMSG;
        memcpy(w.hash, hash, 32);
        w.out = malloc(len);
        w.len = 0;
        if (w.out == NULL)
                return -ENOMEM;
        cap = len;
        rc = pull_fetch_manifests(p, &w, 1, &cap);
        if (rc == 0)
                rc = w.len == len ? 0 : -EBADMSG;
        if (rc == 0)
                rc = pull_author_key(p, w.out + PULL_AUTHOR_OFF, pk);
        if (rc == 0) {
                memset(&c, 0, sizeof(c));
                memcpy(c.file_id, file_id, 16);
                memcpy(c.manifest_hash, hash, 32);
                memcpy(c.pack_hash, pack, 32);
                c.off = off;
                c.len = len;
                rc = check_manifest(w.out, &c, p->region_id, w.out + PULL_AUTHOR_OFF, pk, m, &why);
        }
        free(w.out);
        if (rc != 0)
                return rc;
        key = p->ops->epoch_key(p->arg, m->epoch_id);
        rc = key != NULL ? manifest_open_meta(m, key, meta) : -ENOKEY;
        if (rc != 0)
                manifest_release(m);
        return rc;
}

void pull_free(struct pull *p)
{
        if (p == NULL)
                return;
        pull_packs_free(p->cur, p->ncur);
        for (size_t i = 0; p->peers != NULL && i < pull_npeers(p); i++)
                free(p->peers[i].chain);
        free(p->peers);
        free(p->logged);
        free(p->kept);
        pthread_mutex_destroy(&p->lock);
        free(p);
}
