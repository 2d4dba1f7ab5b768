/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_KEYRING_MEMBERS_H
#define SEALSYNC_KEYRING_MEMBERS_H
/*
 * The membership fold: from a pinned GENESIS and a bag of untrusted
 * membership objects (from the store or the local cache) to the verified
 * state of a region: its active devices, the current epoch and each active
 * device's wrap of it.  Byte-exact rules: doc/FORMAT-keyring.md "The fold".
 *
 * Invariants of a folded state:
 *  1. entries[0] is the pinned GENESIS; every other applied entry is an
 *     ADD_DEVICE whose parents were all applied before it, whose height is
 *     1 + the largest parent height, whose author is an active device added
 *     by an ancestor of the entry (or by GENESIS), whose signature verifies
 *     under that author's key, and which passes the authority rule.
 *  2. Every device id, sign_pk and box_pk appears at most once among the
 *     members (a key is never re-used).
 *  3. members[i] and wraps[i] describe the same device; wraps[i] is the
 *     current epoch key wrapped to it (checked by nobody but the recipient:
 *     members_unlock).
 *  4. heads are the applied entries no applied entry names as a parent,
 *     ascending by hash.
 *
 * Objects that do not decode, name another region, have a name that does
 * not match their bytes, are another GENESIS, or whose signature does not
 * verify under a known active author's key are store junk: logged and
 * skipped.  A validly signed entry that cannot be applied is rejected with
 * its descendants (ALARM names the first such entry and why) and the fold
 * goes on with the rest: a member cannot hide later entries (a removal, a
 * rotation) behind an invalid one sorted before them.
 *
 * This module does no I/O: the caller (cli/ for the store, region.c for the
 * local cache) hands it the bytes.
 */
#include <stddef.h>
#include <stdint.h>

#include "keyring/identity.h"
#include "keyring/member.h"

#define MEMBERS_MAX_ENTRIES 4096 /* objects per fold; the DAG checks are quadratic */
#define MEMBERS_NAME_LEN (16 + 1 + 2 * MEMBER_HASH_LEN) /* "<height:016x>-<hash hex>" */

enum members_alarm {
        MEMBERS_OK = 0,
        MEMBERS_UNKNOWN_PARENT,  /* a parent is not (yet) known: withheld or junk */
        MEMBERS_BAD_HEIGHT,      /* height != 1 + max(parent heights), or parents repeat */
        MEMBERS_UNAUTHORISED,    /* author may not make this change */
        MEMBERS_BAD_REVERSE_SIG, /* ADD_DEVICE without a valid signature by the new device */
        MEMBERS_REUSED_DEVICE,   /* a device id or key that was seen before */
        MEMBERS_WRONG_EPOCH,     /* ADD_DEVICE wraps an epoch that is not the current one */
        MEMBERS_BAD_ENTRY,       /* signed, but its body is malformed */
        MEMBERS_UNSUPPORTED,     /* a type this version cannot apply yet */
        MEMBERS_TOO_MANY,        /* more than MEMBERS_MAX_ENTRIES objects */
        MEMBERS_BAD_RECIPIENTS,  /* a rotation wrapped to a non-member, or not to its author */
        MEMBERS_NO_CONVERGENCE,  /* removals void each other without end (a hostile log) */
        MEMBERS_BAD_HISTORY,     /* ADD_DEVICE history wraps its owner's devices cannot reach */
};

/* One epoch key a device holds (secure memory), e.g. for ADD_DEVICE's history wraps. */
struct members_key {
        uint8_t id[MEMBER_HASH_LEN];
        uint8_t *key; /* 32 bytes */
};

/* A key epoch of the region: GENESIS's, or one made by a ROTATE_KEY or REMOVE_DEVICE. */
struct members_epoch {
        uint8_t id[MEMBER_HASH_LEN]; /* the entry's hash */
        uint8_t key_check[32];
        uint64_t time; /* the entry's (author's clock) */
        size_t entry;  /* index in entries[] */
        int has_link;  /* 0 for GENESIS */
        uint8_t prev_id[MEMBER_HASH_LEN];
        uint8_t link[MEMBER_LINK_LEN];
        size_t nwraps;
        struct member_wrap *wraps; /* malloc'd: the entry's wraps, then ADD_DEVICE wraps of it */
        int tainted;               /* a removed device holds it: wrapped to one, or reachable
                                      through the history link of an epoch that is */
};

/* A removed device and the last of its journal entries that still counts. */
struct members_removed {
        struct member_device device;
        size_t by; /* index in entries[] of the REMOVE_DEVICE */
        uint64_t cutoff_seq;
        uint8_t cutoff_hash[32];
};

/*
 * An applied SET_ROLE of an active device (invariant R5, doc/SYNC.md): the
 * roles before and after, and the journal entry its 57-byte body names (a
 * demotion's cutoff, a promotion's resume).  members_standing reads them.
 */
struct members_role_change {
        uint8_t device_id[IDENTITY_ID_LEN];
        size_t by; /* index in entries[] of the SET_ROLE */
        uint8_t from, to;
        int has_journal;
        uint64_t journal_seq;
        uint8_t journal_hash[32];
};

#define MEMBERS_VOID_MAX 16 /* void ranges (demoted, then promoted again) per device */

/* Entries (LO, HI] of a device's journal: signed while it was demoted; they never count. */
struct members_void {
        uint64_t lo_seq; /* the demotion's cutoff */
        uint8_t lo_hash[32];
        uint64_t hi_seq; /* the promotion's resume (> LO_SEQ) */
        uint8_t hi_hash[32];
};

/*
 * What the membership says of a device's journal (invariant R5): CUT when
 * its latest lowering to reader named a cutoff and no promotion followed
 * (its entries up to CUT_SEQ count, the one at CUT_SEQ must hash to
 * CUT_HASH, later ones never count); the void ranges of its earlier
 * demotions that a promotion closed.  A device demoted by a legacy SET_ROLE
 * (no cutoff) has CUT 0 and is judged by its role alone.
 */
struct members_standing {
        int cut;
        uint64_t cut_seq;
        uint8_t cut_hash[32];
        int overflow; /* more than MEMBERS_VOID_MAX ranges: CUT stays at the last cutoff */
        size_t nvoid;
        struct members_void voids[MEMBERS_VOID_MAX]; /* ascending */
};

#define MEMBERS_MAX_SKIPS 64 /* junk objects remembered by name per fold */

/* A junk object the fold skipped: its name (non-printable bytes as '?',
 * at most MEMBERS_NAME_LEN of them; "(unnamed)" without one) and why. */
struct members_skip {
        char name[MEMBERS_NAME_LEN + 1];
        const char *why; /* static string */
};

/* One untrusted object.  NAME (the store key's last component, or NULL to
 * skip the check) must be "<height:016x>-<hash hex>" of the bytes. */
struct members_obj {
        const char *name;
        const uint8_t *buf;
        size_t len;
};

struct members_state {
        uint8_t region_id[32];
        uint8_t genesis_hash[MEMBER_HASH_LEN];
        uint8_t suite;
        uint32_t block_size;
        /* Active devices, in order of addition (GENESIS's first). */
        size_t nmembers;
        struct member_device *members;
        size_t *added_by; /* index in entries[] of the entry that added members[i] */
        uint64_t *since;  /* members[i]'s seniority as an admin: when it became one (fold
                             order: entry index << 16 | position in GENESIS); smaller = senior */
        size_t ndemoted;  /* applied demotions (SET_ROLE lowering a role), in fold order */
        struct members_demoted {
                uint8_t device_id[IDENTITY_ID_LEN];
                size_t by; /* index in entries[] of the SET_ROLE */
        } * demoted;
        size_t nroles; /* applied SET_ROLEs of active devices, in fold order (invariant R5) */
        struct members_role_change *roles;
        size_t nremoved;
        struct members_removed *removed;
        /* Epochs in fold order; the current one is the last that no removed device holds. */
        size_t nepochs;
        struct members_epoch *epochs;
        size_t cur;                        /* index of the current epoch */
        uint8_t epoch_id[MEMBER_HASH_LEN]; /* = epochs[cur].id */
        uint8_t key_check[32];             /* = epochs[cur].key_check */
        uint64_t max_key_age;              /* policy, seconds, 0 = none */
        uint8_t history;                   /* policy: enum member_history (GENESIS: all) */
        int needs_rotate; /* an active member holds no wrap of the current epoch, or a removed
                             device can reach the current key: the next rotation fixes it */
        int cur_tainted;  /* every epoch is reachable by a removed device (cur is the newest):
                             nothing new may be written under it until a rotation */
        /* Applied entries, in fold order; entries[0] is GENESIS. */
        size_t nentries;
        struct member_entry **entries;
        size_t **parents_idx; /* parents_idx[i][j] = index of entries[i]->parents[j] */
        uint8_t *voided;      /* voided[i]: entries[i] is by a removed or demoted device, made
                                 without seeing that, and void */
        size_t nheads;
        uint8_t (*heads)[MEMBER_HASH_LEN]; /* ascending */
        uint64_t height;                   /* largest applied height */
        enum members_alarm alarm;
        uint8_t alarm_hash[MEMBER_HASH_LEN]; /* the entry that stopped the fold */
        size_t nskipped;                     /* junk objects skipped */
        size_t nskips;                       /* the first MEMBERS_MAX_SKIPS of them: */
        struct members_skip *skips;          /* malloc'd */
};

/*
 * Folds OBJS (N objects, untrusted) from the GENESIS GENESIS (GENESIS_LEN
 * bytes), which must hash to PIN and verify (member_verify_genesis).
 * Copies of the pinned GENESIS among OBJS are ignored.  Returns 0 with a
 * new *OUT (members_state_free) -- check (*OUT)->alarm -- or -EBADMSG (the
 * GENESIS does not match the pin or does not verify), -E2BIG (more than
 * MEMBERS_MAX_ENTRIES objects: no state, never a truncated one) or -ENOMEM.
 */
int members_fold(const uint8_t *genesis, size_t genesis_len,
                 const uint8_t pin[static MEMBER_HASH_LEN], const struct members_obj *objs,
                 size_t n, struct members_state **out) __attribute__((warn_unused_result));

void members_state_free(struct members_state *s); /* NULL is a no-op */

/* Active member DEVICE_ID, or NULL. */
const struct member_device *members_find(const struct members_state *s,
                                         const uint8_t device_id[static IDENTITY_ID_LEN]);

/* The entry that added active member DEVICE_ID (GENESIS for its members), or NULL. */
const struct member_entry *members_added_by(const struct members_state *s,
                                            const uint8_t device_id[static IDENTITY_ID_LEN]);

/* The removal record of DEVICE_ID, or NULL if it was never removed. */
const struct members_removed *members_find_removed(const struct members_state *s,
                                                   const uint8_t device_id[static IDENTITY_ID_LEN]);

/*
 * The journal standing of DEVICE_ID (active or removed) by S's SET_ROLEs,
 * in fold order (doc/FORMAT-keyring.md fold rule 3, "SET_ROLE"): a lowering
 * of a writer or admin to reader with a cutoff opens CUT; a second lowering
 * to reader (a concurrent demotion) keeps the lower cutoff; a raise to
 * writer or admin closes it, and with a resume above the cutoff adds the
 * void range (cutoff, resume].  A legacy (17-byte) lowering clears CUT, a
 * legacy raise closes it without a void range.  Never fails.
 */
void members_standing(const struct members_state *s,
                      const uint8_t device_id[static IDENTITY_ID_LEN],
                      struct members_standing *out);

/* 1 if HASH is an applied entry of S (void ones included), else 0. */
int members_has_entry(const struct members_state *s, const uint8_t hash[static MEMBER_HASH_LEN]);

/* The epoch with id EPOCH_ID, or NULL. */
const struct members_epoch *members_find_epoch(const struct members_state *s,
                                               const uint8_t epoch_id[static MEMBER_HASH_LEN]);

/* 1 if S's current epoch is older than its max_key_age policy at NOW. */
int members_key_stale(const struct members_state *s, uint64_t now);

/* A short, stable name for ALARM ("unknown-parent", ...), for messages. */
const char *members_alarm_name(enum members_alarm alarm);

/* "<height:016x>-<hash hex>" of E into OUT (>= MEMBERS_NAME_LEN + 1 bytes). */
void members_entry_name(const struct member_entry *e, char out[static MEMBERS_NAME_LEN + 1]);

/*
 * Unwraps the current epoch key for ID (needs ID's box_sk) into KEY (32
 * bytes, caller's secure memory) and checks the epoch's key_check.  Returns
 * 0, -EACCES (no wrap for ID: not an active member), -EBADMSG (the wrap does
 * not open or fails the key check), -EINVAL (no secrets).  KEY untouched on
 * error.
 */
int members_unlock(const struct members_state *s, const struct identity *id, uint8_t key[static 32])
    __attribute__((warn_unused_result));

/*
 * Opens epoch EP's wrap to ID into KEY and checks the key_check.  Returns 0,
 * -EACCES (no wrap for ID in EP), -EBADMSG, -EINVAL, -ENOMEM.
 */
int members_open_epoch(const struct members_state *s, const struct members_epoch *ep,
                       const struct identity *id, uint8_t key[static 32])
    __attribute__((warn_unused_result));

/*
 * Opens EP's history link with EP's key KEY into PREV (the key of epoch
 * EP->prev_id), checked against that epoch's key_check.  Returns 0,
 * -ENOENT (no link), -EBADMSG, -ENOMEM.
 */
int members_open_link(const struct members_state *s, const struct members_epoch *ep,
                      const uint8_t key[static 32], uint8_t prev[static 32])
    __attribute__((warn_unused_result));

/*
 * Builders of the other entry types, on top of S's heads, signed by AUTHOR
 * (with secrets), checked the way the fold would check them (a state with
 * an alarm refuses).  A rotation (ROTATE_KEY; REMOVE_DEVICE's) makes a
 * fresh key, wraps it to every active device (minus the removed one) and
 * links CUR_KEY (the current epoch's key, checked) into the history; a
 * ROTATE_KEY with LINK 0 has no link: whoever holds only the new key (and
 * later ones linked to it) cannot read anything before it (the key-history
 * policy, cli approve).  REMOVE_DEVICE always links.  POLICY sets both
 * MAX_KEY_AGE and HISTORY (enum member_history).
 * REMOVE_DEVICE names CUTOFF_SEQ/CUTOFF_HASH, the last journal entry of
 * the removed device that counts.  Each returns 0, -EPERM (not allowed),
 * -ENOENT (no such active device), -EINVAL, -ENOMEM; *OUT and *OUT_LEN the
 * malloc'd object and, if NEW_KEY is not NULL, the new epoch's key.
 */
int members_build_rotate(const struct members_state *s, const struct identity *author,
                         const uint8_t cur_key[static 32], int link, uint64_t now, uint8_t **out,
                         size_t *out_len, uint8_t *new_key) __attribute__((warn_unused_result));
int members_build_remove(const struct members_state *s, const struct identity *author,
                         const uint8_t device_id[static IDENTITY_ID_LEN], uint64_t cutoff_seq,
                         const uint8_t cutoff_hash[static 32], const uint8_t cur_key[static 32],
                         uint64_t now, uint8_t **out, size_t *out_len, uint8_t *new_key)
    __attribute__((warn_unused_result));
int members_build_set_role(const struct members_state *s, const struct identity *author,
                           const uint8_t device_id[static IDENTITY_ID_LEN], uint8_t role,
                           uint64_t now, uint8_t **out, size_t *out_len)
    __attribute__((warn_unused_result));
/*
 * As members_build_set_role, with SR's body (its device and role, and with
 * SR->has_journal the 57-byte body naming a cutoff or resume).
 */
int members_build_set_role_body(const struct members_state *s, const struct identity *author,
                                const struct member_set_role *sr, uint64_t now, uint8_t **out,
                                size_t *out_len) __attribute__((warn_unused_result));
int members_build_policy(const struct members_state *s, const struct identity *author,
                         uint64_t max_key_age, uint8_t history, uint64_t now, uint8_t **out,
                         size_t *out_len) __attribute__((warn_unused_result));

/* The authority rules of the fold, for the CLI's early refusals: 1 or 0. */
int members_may_remove(const struct members_state *s, const struct member_device *author,
                       const struct member_device *target);
int members_may_rotate(const struct members_state *s, const struct member_device *author,
                       uint64_t now);

/*
 * Builds and signs an ADD_DEVICE on top of S's heads by AUTHOR (with
 * secrets) adding NEWDEV (device id, keys, owner, name, role) with its
 * reverse signature SELF_SIG, wrapping EPOCH_KEY (the current epoch's, 32
 * bytes) to NEWDEV.  HIST (NHIST keys the author holds, e.g. region_keys'
 * epochs; may be NULL when NHIST is 0): when NEWDEV's owner already has an
 * active device, each of them but the current epoch's that one of the
 * owner's active devices can reach (its wraps and the history links from
 * them) is wrapped to NEWDEV too (history wraps; the newest MEMBER_MAX_HIST
 * in fold order), each key checked against its epoch's key_check first.
 * Checks the result the way the fold would (a state with an alarm refuses).
 * *OUT and *OUT_LEN: the malloc'd object; *ENTRY (if not NULL) the encoded
 * entry (member_entry_free).  Returns 0, -EPERM (AUTHOR may not add NEWDEV,
 * or S has an alarm), -EEXIST (device id or key already a member), -EBADMSG
 * (bad reverse signature), -EINVAL (also: a key of HIST fails its check),
 * -ENOMEM.
 */
int members_build_add(const struct members_state *s, const struct identity *author,
                      const struct member_device *newdev, const uint8_t self_sig[static 64],
                      const uint8_t epoch_key[static 32], const struct members_key *hist,
                      size_t nhist, uint64_t now, uint8_t **out, size_t *out_len,
                      struct member_entry **entry) __attribute__((warn_unused_result));

/*
 * The authority rule for ADD_DEVICE (FORMAT-keyring.md "The fold"): AUTHOR
 * (an active member) may add a device of OWNER with ROLE.  1 or 0.  A
 * RECOVERY device is added by an admin only, and only while the region has
 * no active RECOVERY device (members_recovery), which the fold and
 * members_build_add check besides.
 */
int members_may_add(const struct member_device *author, const char *owner, uint8_t role);

/* 1 if OWNER has an active device in S, else 0. */
int members_owner_active(const struct members_state *s, const char *owner);

/* The region's active RECOVERY device (at most one), or NULL. */
const struct member_device *members_recovery(const struct members_state *s);

#endif
