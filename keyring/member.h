/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_KEYRING_MEMBER_H
#define SEALSYNC_KEYRING_MEMBER_H
/*
 * Membership-log entries (<region hex>/members/<height:016x>-<hash hex>).
 * Byte-exact format: doc/FORMAT-keyring.md "Membership entries".
 *
 *   object = signed || sig(64)
 *   signed = u8 version(1) || u8 type || region_id(32) || u64 height || u64 time
 *            || u16 nparents || parents[nparents](32 each) || author device_id(16)
 *            || u32 body_len || body
 *   sig    = Ed25519(author sign_sk, "sealsync/v1/member\0" || signed)
 *   hash   = BLAKE2b-256(object)            (the object's name; GENESIS: also its epoch id)
 *
 * Invariants enforced by member_decode (every byte comes from the untrusted
 * store): exact lengths, no trailing bytes, every count and length bounded
 * by the MEMBER_MAX_* constants below, known version/type/suite/role,
 * canonical order (members and wraps strictly ascending by device id, so an
 * entry has exactly one encoding), GENESIS has height 0 and no parents,
 * other types at least one parent.  member_decode decodes GENESIS bodies;
 * other types keep the body as raw bytes, and ADD_DEVICE bodies are decoded
 * (as strictly) by member_decode_add when the fold applies them.
 *
 * member_verify_genesis adds the semantic checks (device ids derived from
 * the listed keys, author an admin member, signature, wraps to exactly the
 * members).  Nothing in an entry is trusted before both succeed.
 */
#include <stddef.h>
#include <stdint.h>

#include "crypto/wrap.h"
#include "keyring/identity.h"

#define MEMBER_VERSION 1
#define MEMBER_HASH_LEN 32
#define MEMBER_SIG_LEN 64
#define MEMBER_MAX_PARENTS 64
#define MEMBER_MAX_MEMBERS 1024
#define MEMBER_NAME_MAX 64                 /* owner and device names, bytes */
#define MEMBER_MAX_ENTRY (1024u * 1024u)   /* whole object, bytes */
#define MEMBER_SIG_TYPE "member"           /* signature type of entries */
#define MEMBER_SELF_SIG_TYPE "member-self" /* the reverse signature of ADD_DEVICE */

enum member_type {
        MEMBER_GENESIS = 1,
        MEMBER_ADD_DEVICE = 2,
        MEMBER_REMOVE_DEVICE = 3, /* removal and its rotation are one entry */
        MEMBER_ROTATE_KEY = 4,
        MEMBER_SET_ROLE = 5,
        MEMBER_POLICY = 6,
};

/* Roles, lowest to highest authority. */
enum member_role {
        MEMBER_ROLE_READER = 1,
        MEMBER_ROLE_WRITER = 2,
        MEMBER_ROLE_ADMIN = 3,
        MEMBER_ROLE_RECOVERY = 4,
};

struct member_device {
        uint8_t device_id[IDENTITY_ID_LEN];
        uint8_t sign_pk[32];
        uint8_t box_pk[32];
        char owner[MEMBER_NAME_MAX + 1]; /* printable ASCII, 1..64 */
        char name[MEMBER_NAME_MAX + 1];  /* printable ASCII, 1..64 */
        uint8_t role;                    /* enum member_role */
};

struct member_wrap {
        uint8_t device_id[IDENTITY_ID_LEN];
        uint8_t wrap[WRAP_LEN];
};

/* An epoch: its key check and the key wrapped to each recipient. */
struct member_epoch {
        uint8_t key_check[32];
        size_t nwraps;
        struct member_wrap *wraps; /* malloc'd, ascending device_id */
};

struct member_genesis {
        uint8_t suite;        /* enum suite */
        uint32_t block_size;  /* power of two, BLOCK_MIN_SIZE..BLOCK_MAX_SIZE */
        uint64_t max_key_age; /* policy: seconds, 0 = none */
        size_t nmembers;
        struct member_device *members; /* malloc'd, ascending device_id */
        struct member_epoch epoch;
};

#define MEMBER_MAX_HIST 1024 /* history wraps per ADD_DEVICE */

/* A history wrap of ADD_DEVICE: an older epoch's key wrapped to the new device. */
struct member_hist {
        uint8_t epoch_id[MEMBER_HASH_LEN];
        uint8_t wrap[WRAP_LEN];
};

/*
 * ADD_DEVICE body (doc/FORMAT-keyring.md "ADD_DEVICE body"): the new
 * device's record, its reverse signature (member_self_sign), the epoch the
 * wrap belongs to, the epoch key wrapped to the new device, and the history
 * wraps (older epochs' keys of the new device's owner, to the new device).
 */
struct member_add {
        struct member_device device;
        uint8_t self_sig[MEMBER_SIG_LEN];
        uint8_t epoch_id[MEMBER_HASH_LEN];
        uint8_t wrap[WRAP_LEN];
        size_t nhist;             /* 0..MEMBER_MAX_HIST */
        struct member_hist *hist; /* malloc'd (NULL when NHIST is 0), strictly ascending
                                     epoch_id: member_add_release */
};

/* The link of a rotation: the previous epoch's key sealed under the new one. */
#define MEMBER_LINK_LEN (24 + 32 + 16) /* aead_seal: nonce || key || tag */
#define MEMBER_ROT_HAS_LINK 0x01       /* rotation flags: bit 0, the link follows */

/*
 * The rotation carried by ROTATE_KEY and REMOVE_DEVICE (FORMAT-keyring.md
 * "Rotations"): the new epoch's key_check, the epoch the author held as
 * current (PREV_EPOCH_ID), with HAS_LINK its key sealed under the new key
 * (LINK: the key history; without it the history stops at this epoch), and
 * the new key wrapped to each recipient.
 */
struct member_rotation {
        uint8_t key_check[32];
        uint8_t prev_epoch_id[MEMBER_HASH_LEN];
        int has_link;                  /* flags bit 0 */
        uint8_t link[MEMBER_LINK_LEN]; /* all zero without HAS_LINK */
        size_t nwraps;
        struct member_wrap *wraps; /* malloc'd, strictly ascending device_id */
};

/* REMOVE_DEVICE: the device, the last of its journal entries that counts, and the rotation. */
struct member_remove {
        uint8_t device_id[IDENTITY_ID_LEN];
        uint64_t cutoff_seq;        /* 0: none of its entries counts */
        uint8_t cutoff_hash[32];    /* its journal entry CUTOFF_SEQ's hash (zeros for 0) */
        struct member_rotation rot; /* to the remaining devices */
};

/*
 * SET_ROLE: the device and its new role.  With HAS_JOURNAL (the 57-byte body,
 * FORMAT-keyring.md "SET_ROLE body") it also names one of the device's
 * journal entries (JOURNAL_SEQ, JOURNAL_HASH; 0 and zeros: none): for a
 * lowering of a writer or admin to reader its demotion cutoff (the last entry
 * that counts), for a raise of a reader demoted with a cutoff its resume (its
 * entries in (cutoff, resume] stay void).  Without it (the legacy 17-byte
 * body) the role alone counts, as before invariant R5.
 */
struct member_set_role {
        uint8_t device_id[IDENTITY_ID_LEN];
        uint8_t role; /* reader, writer or admin */
        int has_journal;
        uint64_t journal_seq;
        uint8_t journal_hash[32];
};

#define MEMBER_SET_ROLE_LEGACY_LEN 17 /* device_id || role */
#define MEMBER_SET_ROLE_LEN 57        /* device_id || role || u64 seq || hash(32) */

/* Key-history policy (POLICY body): who reads the keys from before their enrollment. */
enum member_history {
        MEMBER_HISTORY_ALL = 0,   /* every member (the default, also of GENESIS regions) */
        MEMBER_HISTORY_OWNER = 1, /* a user's first device enrolls without the older keys */
};

struct member_policy {
        uint64_t max_key_age; /* seconds, 0 = no limit */
        uint8_t history;      /* enum member_history */
};

struct member_entry {
        uint8_t version;
        uint8_t type; /* enum member_type */
        uint8_t region_id[32];
        uint64_t height;
        uint64_t time; /* author's clock, Unix seconds; informational */
        size_t nparents;
        uint8_t (*parents)[MEMBER_HASH_LEN]; /* malloc'd */
        uint8_t author[IDENTITY_ID_LEN];
        /* Decoded body (type GENESIS) ... */
        struct member_genesis genesis;
        /* ... input of member_encode for type ADD_DEVICE (the decoder keeps
         * ADD_DEVICE bodies raw: member_decode_add; add.hist is freed with
         * the entry) ... */
        struct member_add add;
        /* ... or, for the other types, the raw body (malloc'd copy). */
        uint8_t *body;
        size_t body_len;
        /* Filled by member_decode / member_encode: */
        uint8_t sig[MEMBER_SIG_LEN];
        uint8_t hash[MEMBER_HASH_LEN];
        uint8_t *raw; /* the whole object (malloc'd copy) */
        size_t raw_len;
        size_t signed_len; /* raw[0..signed_len) is what the signature covers */
};

/*
 * Parses BUF (LEN bytes, untrusted) into a new entry *OUT (member_entry_free).
 * Structure only: the signature is NOT checked here.  Returns 0, -EBADMSG
 * (malformed, out of bounds, non-canonical, unknown version/type/suite/role)
 * or -ENOMEM.  *OUT untouched on error.
 */
int member_decode(const uint8_t *buf, size_t len, struct member_entry **out)
    __attribute__((warn_unused_result));

/*
 * Encodes E (version must be MEMBER_VERSION; GENESIS and ADD_DEVICE from
 * their structs, the other types from E->body/E->body_len, built by the
 * member_body_* encoders and re-checked by the matching decoder),
 * signs it with SIGN_SK (64 bytes, the author's), and sets E's sig, hash,
 * raw, raw_len and signed_len.  *OUT and *OUT_LEN receive a malloc'd copy of the
 * object.  Returns 0, -EINVAL (E violates an invariant member_decode
 * enforces) or -ENOMEM.  Outputs untouched on error.
 */
int member_encode(struct member_entry *e, const uint8_t sign_sk[static 64], uint8_t **out,
                  size_t *out_len) __attribute__((warn_unused_result));

/*
 * Semantic checks of a decoded GENESIS: type, every device id derived from
 * its keys, the author a member with role ADMIN, the signature by the
 * author's key, and one wrap for exactly each member.  Returns 0 or -EBADMSG.
 */
int member_verify_genesis(const struct member_entry *e) __attribute__((warn_unused_result));

/*
 * Strictly decodes an ADD_DEVICE body (BODY, LEN bytes, untrusted) into
 * *OUT: exact length, valid names and role, at most MEMBER_MAX_HIST history
 * wraps strictly ascending by epoch id.  Signatures, the device id and the
 * history epochs are NOT checked here (the fold does).  Returns 0, -EBADMSG
 * or -ENOMEM; *OUT untouched on error, else release it with
 * member_add_release.
 */
int member_decode_add(const uint8_t *body, size_t len, struct member_add *out)
    __attribute__((warn_unused_result));

/* Frees A's history wraps and wipes A; NULL is a no-op. */
void member_add_release(struct member_add *a);

/* A's body into *OUT (malloc'd, *LEN bytes).  Returns 0, -EINVAL or -ENOMEM. */
int member_body_add(const struct member_add *a, uint8_t **out, size_t *len)
    __attribute__((warn_unused_result));

/*
 * The reverse signature of a new device over its own record:
 *   Ed25519(device sign_sk, "sealsync/v1/member-self\0" || region_id(32)
 *           || device_id(16) || sign_pk(32) || box_pk(32) || var(name))
 * D's owner and role are not covered (the approver chooses them).
 * member_self_sign returns 0 or a negative errno; member_verify_self 0 or
 * -EBADMSG (also for an invalid name).
 */
int member_self_sign(uint8_t sig[static MEMBER_SIG_LEN], const uint8_t sign_sk[static 64],
                     const uint8_t region_id[static 32], const struct member_device *d)
    __attribute__((warn_unused_result));
int member_verify_self(const uint8_t sig[static MEMBER_SIG_LEN], const uint8_t region_id[static 32],
                       const struct member_device *d) __attribute__((warn_unused_result));

/*
 * Checks a decoded entry's signature under SIGN_PK (the author's key, which
 * the caller looked up).  Returns 0 or -EBADMSG.
 */
int member_verify_sig(const struct member_entry *e, const uint8_t sign_pk[static 32])
    __attribute__((warn_unused_result));

/* The member with DEVICE_ID in a GENESIS, or NULL. */
const struct member_device *member_find(const struct member_genesis *g,
                                        const uint8_t device_id[static IDENTITY_ID_LEN]);

/* The wrap for DEVICE_ID in EP, or NULL. */
const struct member_wrap *member_find_wrap(const struct member_epoch *ep,
                                           const uint8_t device_id[static IDENTITY_ID_LEN]);

/*
 * key_check = kdf_derive(32, EPOCH_KEY, "key-check", NULL, 0).
 * Returns 0 or a negative errno from kdf_derive.
 */
int member_key_check(uint8_t out[static 32], const uint8_t epoch_key[static 32])
    __attribute__((warn_unused_result));

/*
 * The wrap context of an epoch key for one recipient:
 *   BLAKE2b-512("sealsync/v1/wrap\0" || region_id(32) || device_id(16) || key_check(32))
 * Returns 0 or a negative errno.
 */
int member_wrap_ctx(uint8_t out[static WRAP_CTX_LEN], const uint8_t region_id[static 32],
                    const uint8_t device_id[static IDENTITY_ID_LEN],
                    const uint8_t key_check[static 32]) __attribute__((warn_unused_result));

/*
 * Strict decoders of the other bodies (BODY, LEN bytes, untrusted): exact
 * length, bounded counts, wraps strictly ascending and at least one, a
 * valid role (SET_ROLE: reader..admin; 17 or 57 bytes, and in the 57-byte
 * body seq 0 exactly when the hash is all zeros), no unknown rotation flag,
 * a known history policy.  Return 0, -EBADMSG or -ENOMEM;
 * *OUT untouched on error.  Rotations own malloc'd wraps:
 * member_rotation_release (also for a REMOVE's rot).
 */
int member_decode_rotation(const uint8_t *body, size_t len, struct member_rotation *out)
    __attribute__((warn_unused_result));
int member_decode_remove(const uint8_t *body, size_t len, struct member_remove *out)
    __attribute__((warn_unused_result));
int member_decode_set_role(const uint8_t *body, size_t len, struct member_set_role *out)
    __attribute__((warn_unused_result));
int member_decode_policy(const uint8_t *body, size_t len, struct member_policy *out)
    __attribute__((warn_unused_result));
void member_rotation_release(struct member_rotation *r);

/*
 * Encoders of the same bodies into *OUT (malloc'd, *LEN bytes), the input
 * of member_encode for those types (E->body, E->body_len).  Return 0,
 * -EINVAL (an invariant the decoder enforces) or -ENOMEM.
 */
int member_body_rotation(const struct member_rotation *r, uint8_t **out, size_t *len)
    __attribute__((warn_unused_result));
int member_body_remove(const struct member_remove *r, uint8_t **out, size_t *len)
    __attribute__((warn_unused_result));
int member_body_set_role(const struct member_set_role *r, uint8_t **out, size_t *len)
    __attribute__((warn_unused_result));
int member_body_policy(const struct member_policy *p, uint8_t **out, size_t *len)
    __attribute__((warn_unused_result));

/*
 * The key-history link of a rotation (FORMAT-keyring.md "Rotations"):
 *   K_link = kdf_derive(32, new_key, "link", prev_epoch_id)
 *   AD     = "sealsync/v1/link\0" || region_id || prev_epoch_id || new key_check
 *   link   = aead_seal(K_link, AD, prev_key)
 * member_link_open checks nothing but the AEAD (the caller checks the
 * result against the previous epoch's key_check).  Return 0, -EBADMSG
 * (open), -EINVAL, -ENOMEM.  PREV_KEY untouched on error.
 */
int member_link_seal(uint8_t link[static MEMBER_LINK_LEN], const uint8_t new_key[static 32],
                     const uint8_t region_id[static 32], const uint8_t prev_epoch_id[static 32],
                     const uint8_t new_key_check[static 32], const uint8_t prev_key[static 32])
    __attribute__((warn_unused_result));
int member_link_open(uint8_t prev_key[static 32], const uint8_t link[static MEMBER_LINK_LEN],
                     const uint8_t new_key[static 32], const uint8_t region_id[static 32],
                     const uint8_t prev_epoch_id[static 32], const uint8_t new_key_check[static 32])
    __attribute__((warn_unused_result));

/* D = ID's public record (device id, keys, device name) with OWNER (may be "") and ROLE. */
void member_device_of(struct member_device *d, const struct identity *id, const char *owner,
                      uint8_t role);

/* 1 if S is a valid owner/device name: 1..64 bytes of printable ASCII. */
int member_name_valid(const char *s);

void member_entry_free(struct member_entry *e); /* NULL is a no-op */

#endif
