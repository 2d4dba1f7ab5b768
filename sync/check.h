/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_SYNC_CHECK_H
#define SEALSYNC_SYNC_CHECK_H
/*
 * The checks a receiver makes on journal entries, packs and manifests from
 * the store, shared by the puller (sync/pull.c) and `sealsync verify`
 * (sync/verify.c), so both judge the same bytes the same way.  Pure: no
 * I/O, no globals, no logging; the caller fetches the bytes, raises its own
 * alarms or problems, and keeps any state (marks, high-water seqs).
 *
 * Every check returns 0, -EBADMSG with *WHY set to a static one-line reason
 * (for an alarm's text; it never holds a name or a key), or -ENOMEM
 * (retryable, not evidence of anything).  Outputs are untouched on error.
 */
#include <stddef.h>
#include <stdint.h>

#include "keyring/members.h"
#include "sync/journal.h"
#include "sync/manifest.h"
#include "sync/pack.h"

/*
 * Journal entry BUF (LEN bytes) listed as "<REGION_ID>/journal/<DEVICE_ID>/
 * <SEQ>-<NAME_HASH>": its BLAKE2b-256 is NAME_HASH, it decodes strictly,
 * names REGION_ID, DEVICE_ID and SEQ, and its signature verifies under
 * SIGN_PK (the device's pinned key).  On success *OUT is the decoded entry
 * (journal_release).  Neither the chain nor the signer's standing is
 * checked here (check_standing; the caller's prev).
 */
int check_entry(const uint8_t *buf, size_t len, const uint8_t name_hash[static 32],
                const uint8_t region_id[static 32], const uint8_t device_id[static 16],
                uint64_t seq, const uint8_t sign_pk[static 32], struct journal_entry *out,
                const char **why) __attribute__((warn_unused_result));

/* Why a signed entry does not count, whatever its bytes. */
enum check_standing {
        CHECK_STANDING_OK = 0,
        CHECK_STANDING_NOT_WRITER, /* the device's role is not writer or admin */
        CHECK_STANDING_REVOKED,    /* a removed device's entry after its cutoff */
        CHECK_STANDING_FORKED,     /* at a cutoff or resume, but not the entry named there */
        CHECK_STANDING_DEMOTED,    /* a demoted device's entry after its demotion cutoff (R5) */
        CHECK_STANDING_VOID,       /* in a void range (cutoff, resume]: checked as a chain,
                                      never applied (R5) */
};

/* The device behind a journal: its role, if it was removed its cutoff, and
 * its demotion cutoff and void ranges (invariant R5, members_standing). */
struct check_signer {
        uint8_t role; /* enum member_role */
        int removed;
        uint64_t cutoff_seq;
        uint8_t cutoff_hash[32];
        struct members_standing standing;
};

/*
 * The standing of entry SEQ with hash HASH of device S: revoked and forked
 * (a removed device's entries count up to its cutoff, and the one at the
 * cutoff must be the removal's), then invariant R5: void (in a range
 * (cutoff, resume] of a demotion a promotion closed; the entries at both ends
 * must be the named ones, else forked), demoted (past the open demotion
 * cutoff; at it, the named entry or forked) -- an entry at or below an open
 * demotion cutoff counts whatever the device's role now -- and last
 * not-a-writer (readers and RECOVERY never write).  Returns an enum
 * check_standing; *WHY its reason (static).
 */
int check_standing(const struct check_signer *s, uint64_t seq, const uint8_t hash[static 32],
                   const char **why);

/*
 * Pack BUF (LEN bytes, fetched with at most JP->size bytes) named by an
 * entry as JP: its length is JP->size, its name (pack_name: version 2 by
 * its trailer, version 1 by all its bytes) is JP->hash, and it parses
 * (pack_parse, every record's hash; doc/SYNC.md D8).  On success *ENTS
 * (free()) and *N are its trailer.  Returns 0, -EBADMSG (*WHY: "malformed
 * pack", or "content does not match its name" for a wrong name or a record
 * whose bytes differ from its hash) or -ENOMEM.
 */
int check_pack(const uint8_t *buf, size_t len, const struct journal_pack *jp,
               struct pack_entry **ents, size_t *n, const char **why)
    __attribute__((warn_unused_result));

/*
 * E's commits sorted by pack hash, for check_pack_commits: *OUT malloc'd
 * (E->ncommits pointers into E; free()).  0 or -ENOMEM.
 */
int check_commits_by_pack(const struct journal_entry *e, const struct journal_commit ***out)
    __attribute__((warn_unused_result));

/*
 * The commits of BY_PACK[*CUR..] (E->ncommits of them, from
 * check_commits_by_pack) that name pack PACK_HASH each start a manifest
 * record of their length and hash in the pack's trailer ENTS (N, ascending
 * by offset, as pack_parse returns it); *CUR moves past them.  Call once
 * per pack of E in E's order (ascending by hash); afterwards *CUR ==
 * E->ncommits, or a commit names a pack E does not list (journal_decode
 * rules that out).  Returns 0 or -EBADMSG (*WHY).
 */
int check_pack_commits(const struct journal_entry *e, const struct journal_commit **by_pack,
                       size_t *cur, const uint8_t pack_hash[static 32],
                       const struct pack_entry *ents, size_t n, const char **why)
    __attribute__((warn_unused_result));

/*
 * Manifest record BYTES (C->len bytes, as read from C's pack) of commit C
 * of an entry by AUTHOR (signing key SIGN_PK) in REGION_ID: its hash is
 * C->manifest_hash, it decodes strictly, names REGION_ID, C's file and
 * AUTHOR, and its signature verifies under SIGN_PK.  On success *OUT is
 * the decoded manifest (manifest_release); its metadata is not opened
 * (manifest_open_meta: the epoch key is the caller's).
 */
int check_manifest(const uint8_t *bytes, const struct journal_commit *c,
                   const uint8_t region_id[static 32], const uint8_t author[static 16],
                   const uint8_t sign_pk[static 32], struct manifest *out, const char **why)
    __attribute__((warn_unused_result));

#endif
