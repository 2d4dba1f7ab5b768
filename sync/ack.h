/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_SYNC_ACK_H
#define SEALSYNC_SYNC_ACK_H
/*
 * Acknowledgements (<region hex>/ack/<device hex>): one per device,
 * overwritten, a signed "I have applied" record naming, per device, the
 * last journal entry this device has applied (its pull marks) and its own
 * committed journal head.  Byte-exact format: doc/FORMAT-sync.md
 * "Acknowledgement".
 *
 *   object = signed || sig(64)
 *   signed = u8 version(1) || region_id(32) || device_id(16) || u64 counter
 *            || u64 time_s
 *            || u32 n || n x mark (device_id(16) || u64 seq || entry hash(32))
 *   sig    = Ed25519(device sign_sk, "sealsync/v1/ack\0" || signed)
 *
 * Structural invariants (ack_decode rejects, the encoder refuses):
 *   1. version 1; counter >= 1.
 *   2. marks: at most ACK_MAX_MARKS, strictly ascending by device id (no
 *      duplicates), every seq >= 1 (a device of which nothing was applied
 *      is left out: one encoding).  The author's own device may appear (its
 *      committed head).
 *   3. no trailing bytes; the whole object in [ACK_FIXED_LEN, ACK_MAX_SIZE].
 * ack_open adds: region and device as expected, the signature under the
 * device's pinned key.  Not checked here (the engine's, sync/confirm.c):
 * the counter against the last one accepted from that device (replay), the
 * marks against this device's own journal (a fork).  Pure: no I/O, no
 * globals.
 */
#include <stddef.h>
#include <stdint.h>

#define ACK_VERSION 1
#define ACK_ID_LEN 32        /* region id */
#define ACK_DEVICE_ID_LEN 16 /* device id */
#define ACK_HASH_LEN 32
#define ACK_SIG_LEN 64
/* Every device a membership fold can name (sync/pull.h PULL_PEERS_MAX) and this one. */
#define ACK_MAX_MARKS 8192
#define ACK_MARK_LEN 56 /* device_id || u64 seq || hash */
#define ACK_FIXED_LEN (1u + 32u + 16u + 8u + 8u + 4u + ACK_SIG_LEN)
#define ACK_MAX_SIZE (ACK_FIXED_LEN + ACK_MAX_MARKS * ACK_MARK_LEN)
/* "<region:64>/ack/<device:32>" and its NUL. */
#define ACK_KEY_LEN (64 + 5 + 32)
#define ACK_KEY_SIZE (ACK_KEY_LEN + 1)
/* "<region:64>/ack/": the prefix to list. */
#define ACK_PREFIX_LEN (64 + 5)
#define ACK_PREFIX_SIZE (ACK_PREFIX_LEN + 1)

struct ack_mark {
        uint8_t device_id[ACK_DEVICE_ID_LEN];
        uint64_t seq;               /* the last entry of that device applied (>= 1) */
        uint8_t hash[ACK_HASH_LEN]; /* that entry's hash */
};

/*
 * One acknowledgement.  Filled by ack_decode (MARKS malloc'd; ack_release),
 * or by the caller for encoding (MARKS the caller's).
 */
struct ack {
        uint8_t version; /* ACK_VERSION */
        uint8_t region_id[ACK_ID_LEN];
        uint8_t device_id[ACK_DEVICE_ID_LEN]; /* the author */
        uint64_t counter;                     /* strictly increasing per author */
        uint64_t time_s;                      /* author's clock, informational */
        size_t nmarks;
        struct ack_mark *marks;
        /* Set by ack_decode only: */
        uint8_t sig[ACK_SIG_LEN];
        uint8_t hash[ACK_HASH_LEN];
};

/*
 * Encodes A, signs it with SIGN_SK (the author's, 64 bytes); *OUT receives
 * the malloc'd object (*OUT_LEN bytes).  Deterministic.  Returns 0, -EINVAL
 * (A violates invariants 1-3) or -ENOMEM; outputs untouched on error.
 */
int ack_encode_sign(const struct ack *a, const uint8_t sign_sk[static 64], uint8_t **out,
                    size_t *out_len) __attribute__((warn_unused_result));

/*
 * Parses BUF (LEN bytes, untrusted) into *OUT: structure only (invariants
 * 1-3), signature not checked; sets OUT->sig and hash.  Returns 0, -EBADMSG
 * or -ENOMEM.  *OUT untouched on error; ack_release on success.
 */
int ack_decode(const uint8_t *buf, size_t len, struct ack *out) __attribute__((warn_unused_result));

/*
 * Verifies the signature (type "ack") of the object BUF (LEN bytes) under
 * SIGN_PK.  Returns 0, -EBADMSG, or -ENOMEM (retryable).
 */
int ack_verify_sig(const uint8_t *buf, size_t len, const uint8_t sign_pk[static 32])
    __attribute__((warn_unused_result));

/*
 * Everything a receiver checks on the bytes alone: ack_decode, then the
 * region is REGION_ID, the author is DEVICE_ID (the object key's), and the
 * signature verifies under SIGN_PK (that device's pinned key).  Returns 0,
 * -EBADMSG or -ENOMEM; *OUT untouched on error, ack_release on success.
 */
int ack_open(const uint8_t *buf, size_t len, const uint8_t region_id[static ACK_ID_LEN],
             const uint8_t device_id[static ACK_DEVICE_ID_LEN], const uint8_t sign_pk[static 32],
             struct ack *out) __attribute__((warn_unused_result));

/* The mark for DEVICE_ID in A (binary search), or NULL. */
const struct ack_mark *ack_find(const struct ack *a,
                                const uint8_t device_id[static ACK_DEVICE_ID_LEN]);

/* Frees what ack_decode allocated and zeroes *A.  NULL is a no-op. */
void ack_release(struct ack *a);

/*
 * Writes "<REGION_HEX>/ack/<device hex>" into OUT (ACK_KEY_SIZE bytes), or,
 * with DEVICE_ID NULL, the prefix "<REGION_HEX>/ack/" (fits the same
 * buffer).  REGION_HEX must be 64 lowercase hex digits.  Returns 0 or
 * -EINVAL.
 */
int ack_object_key(const char *region_hex, const uint8_t *device_id, char out[static ACK_KEY_SIZE])
    __attribute__((warn_unused_result));

/*
 * Parses an object key of that form, strictly: exact widths, lowercase hex
 * only, nothing else.  REGION_ID may be NULL.  Returns 0 or -EINVAL;
 * outputs untouched on error.
 */
int ack_parse_key(const char *key, uint8_t *region_id, uint8_t device_id[static ACK_DEVICE_ID_LEN])
    __attribute__((warn_unused_result));

#endif
