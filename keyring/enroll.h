/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_KEYRING_ENROLL_H
#define SEALSYNC_KEYRING_ENROLL_H
/*
 * Enrolling a new device (issue #3): invite codes, join requests, replies,
 * and the approver's invite records.  Byte-exact formats:
 * doc/FORMAT-keyring.md "Enrollment".  No store I/O here (cli/ does it).
 *
 * Protocol, approver A (an active member), new device B:
 *
 *   A invite    S = 16 random bytes; invites/<invite id> OPEN   enroll_invite_create
 *               prints the code (13 words: S + 15 check bits)
 *   B join      code -> S; the GENESIS whose check bits match;   enroll_code_decode/_matches
 *               posts <region>/join/<nonce>                     enroll_request_build
 *   A requests  for each request: structure, signatures,          enroll_request_decode/_verify
 *               invite and MAC; a bad MAC voids the invite       enroll_request_check
 *   A approve   ADD_DEVICE (members.h), <region>/reply/<nonce>,  enroll_reply_build
 *               invite USED                                      enroll_invite_burn
 *   B join      reply MAC, fold, region saved                    enroll_reply_open
 *
 * Invite states: OPEN -> USED (approve) | VOID (first bad MAC); expiry is
 * checked on use.  USED and VOID records keep no secret.
 *
 * Secrets (S and the keys derived from it) live only in secmem memory and
 * are wiped; MACs are compared in constant time.
 */
#include <stddef.h>
#include <stdint.h>

#include "keyring/identity.h"
#include "keyring/member.h"

#define ENROLL_SECRET_LEN 16
#define ENROLL_NONCE_LEN 16
#define ENROLL_ID_LEN 32
#define ENROLL_MAC_LEN 32
#define ENROLL_CODE_WORDS 13 /* 143 bits: S (128) || 15 check bits */
#define ENROLL_CODE_MAX 128  /* 13 words of <= 8 letters, separators, NUL */
#define ENROLL_REQUEST_MAX 512
#define ENROLL_REPLY_LEN (1 + 32 + ENROLL_NONCE_LEN + 8 + MEMBER_HASH_LEN + ENROLL_MAC_LEN)
#define ENROLL_MAX_LIFETIME (30ull * 24 * 3600) /* invites expire within 30 days */

enum enroll_invite_state {
        ENROLL_INVITE_OPEN = 0,
        ENROLL_INVITE_USED = 1,
        ENROLL_INVITE_VOID = 2,
};

/* ---- the code ---- */

/*
 * The code of secret S for REGION_ID whose pinned GENESIS is GENESIS_HASH:
 * 13 words separated by spaces into OUT (ENROLL_CODE_MAX bytes).
 * Returns 0 or a negative errno.
 */
int enroll_code_encode(char *out, size_t outlen, const uint8_t s[static ENROLL_SECRET_LEN],
                       const uint8_t region_id[static 32],
                       const uint8_t genesis_hash[static MEMBER_HASH_LEN])
    __attribute__((warn_unused_result));

/*
 * Parses TEXT (13 words; case, spaces and '-' as words_decode accepts) into
 * S (16 bytes, caller's secure memory) and its 15 check bits *CHECK.
 * Returns 0 or -EINVAL (unknown word, wrong count); outputs untouched on error.
 */
int enroll_code_decode(uint8_t s[static ENROLL_SECRET_LEN], uint16_t *check, const char *text)
    __attribute__((warn_unused_result));

/* 1 if CHECK is right for S, REGION_ID and GENESIS_HASH (a typo or another region: 0). */
int enroll_code_matches(const uint8_t s[static ENROLL_SECRET_LEN], uint16_t check,
                        const uint8_t region_id[static 32],
                        const uint8_t genesis_hash[static MEMBER_HASH_LEN]);

/* The public name of S's invite: kdf_derive(32, K_inv, "invite-id", empty). */
int enroll_invite_id(uint8_t out[static ENROLL_ID_LEN], const uint8_t s[static ENROLL_SECRET_LEN],
                     const uint8_t region_id[static 32]) __attribute__((warn_unused_result));

/* ---- join requests ---- */

struct enroll_request {
        uint8_t region_id[32];
        uint8_t genesis_hash[MEMBER_HASH_LEN]; /* the GENESIS B pinned */
        uint8_t invite_id[ENROLL_ID_LEN];
        uint8_t nonce[ENROLL_NONCE_LEN];
        uint64_t time;                    /* B's clock; informational */
        struct member_device device;      /* id, keys, name; owner "" and role 0 */
        uint8_t self_sig[MEMBER_SIG_LEN]; /* reverse signature: member_self_sign */
        uint8_t mac[ENROLL_MAC_LEN];
        uint8_t sig[MEMBER_SIG_LEN];
        uint8_t raw[ENROLL_REQUEST_MAX]; /* the object */
        size_t raw_len;
        size_t mac_off; /* raw[0..mac_off) is what the MAC covers */
};

/*
 * Builds and signs the join request of ID (with secrets) for REGION_ID and
 * GENESIS_HASH with secret S, NONCE and time NOW into *OUT (raw included).
 * Returns 0, -EINVAL (bad name) or a negative errno.
 */
int enroll_request_build(const struct identity *id, const uint8_t region_id[static 32],
                         const uint8_t genesis_hash[static MEMBER_HASH_LEN],
                         const uint8_t s[static ENROLL_SECRET_LEN],
                         const uint8_t nonce[static ENROLL_NONCE_LEN], uint64_t now,
                         struct enroll_request *out) __attribute__((warn_unused_result));

/*
 * Strictly parses BUF (LEN bytes, untrusted) into *OUT and checks that the
 * device id derives from the keys.  Signatures are NOT checked.  Returns 0
 * or -EBADMSG; *OUT untouched on error.
 */
int enroll_request_decode(const uint8_t *buf, size_t len, struct enroll_request *out)
    __attribute__((warn_unused_result));

/* Checks R's self-signature (type "join") and reverse signature.  0 or -EBADMSG. */
int enroll_request_verify(const struct enroll_request *r) __attribute__((warn_unused_result));

/* Checks R's MAC under secret S (constant time).  0 or -EKEYREJECTED. */
int enroll_request_verify_mac(const struct enroll_request *r,
                              const uint8_t s[static ENROLL_SECRET_LEN])
    __attribute__((warn_unused_result));

/* Store keys "<region hex>/join/<nonce hex>" and "<region hex>/reply/<nonce hex>". */
int enroll_request_key(const uint8_t region_id[static 32],
                       const uint8_t nonce[static ENROLL_NONCE_LEN], char *out, size_t outlen)
    __attribute__((warn_unused_result));
int enroll_reply_key(const uint8_t region_id[static 32],
                     const uint8_t nonce[static ENROLL_NONCE_LEN], char *out, size_t outlen)
    __attribute__((warn_unused_result));

/* ---- replies ---- */

/*
 * The approver's reply to R: the ADD_DEVICE that enrolled it (ADD_HASH at
 * ADD_HEIGHT) and a MAC under S binding it to R's keys and GENESIS.
 * Returns 0 or a negative errno.
 */
int enroll_reply_build(uint8_t out[static ENROLL_REPLY_LEN], const struct enroll_request *r,
                       const uint8_t s[static ENROLL_SECRET_LEN],
                       const uint8_t add_hash[static MEMBER_HASH_LEN], uint64_t add_height)
    __attribute__((warn_unused_result));

/*
 * Parses and authenticates a reply (BUF, LEN untrusted) to R under S.
 * Returns 0 with ADD_HASH and *ADD_HEIGHT set, -EBADMSG (malformed, or for
 * another region or nonce) or -EKEYREJECTED (bad MAC: not from a holder of
 * the code).  Outputs untouched on error.
 */
int enroll_reply_open(const uint8_t *buf, size_t len, const struct enroll_request *r,
                      const uint8_t s[static ENROLL_SECRET_LEN],
                      uint8_t add_hash[static MEMBER_HASH_LEN], uint64_t *add_height)
    __attribute__((warn_unused_result));

/* ---- the approver's invite records (REGIONDIR/invites/<invite id hex>) ---- */

struct enroll_invite {
        uint8_t region_id[32];
        uint8_t invite_id[ENROLL_ID_LEN];
        uint64_t created;
        uint64_t expires;
        uint8_t role;                    /* enum member_role of the device to enroll */
        char owner[MEMBER_NAME_MAX + 1]; /* its owner (member_name_valid) */
        uint8_t state;                   /* enum enroll_invite_state */
        uint8_t *secret; /* S, ENROLL_SECRET_LEN bytes of secmem; NULL unless OPEN */
};

/*
 * Creates an invite for REGION_ID (GENESIS_HASH) valid until EXPIRES
 * (NOW < EXPIRES <= NOW + ENROLL_MAX_LIFETIME) enrolling a device of
 * OWNER (member_name_valid) with ROLE: a fresh secret, its record sealed
 * under a key derived from LOCAL_KEY (the device-local key), its code into
 * CODE and its id into INVITE_ID.  REGIONDIR is HOME/regions/<id hex>.  The
 * caller checks the authority (members_may_add).  Returns 0, -EINVAL or an
 * I/O errno; nothing written and the outputs untouched on error.
 */
int enroll_invite_create(const char *regiondir, const uint8_t local_key[static 32],
                         const uint8_t region_id[static 32],
                         const uint8_t genesis_hash[static MEMBER_HASH_LEN], uint64_t now,
                         uint64_t expires, uint8_t role, const char *owner, char *code,
                         size_t codelen, uint8_t invite_id[static ENROLL_ID_LEN])
    __attribute__((warn_unused_result));

/*
 * Loads invite INVITE_ID of REGIONDIR (opening its secret with LOCAL_KEY
 * when OPEN).  Returns 0, -ENOENT, -EBADMSG (corrupt, or not ours).
 */
int enroll_invite_load(const char *regiondir, const uint8_t local_key[static 32],
                       const uint8_t region_id[static 32],
                       const uint8_t invite_id[static ENROLL_ID_LEN], struct enroll_invite **out)
    __attribute__((warn_unused_result));

/* 0 if INV can enroll a device at NOW, else -ETIME (expired), -EALREADY (used), -ECANCELED (void).
 */
int enroll_invite_usable(const struct enroll_invite *inv, uint64_t now)
    __attribute__((warn_unused_result));

/*
 * Replaces INV's record by a USED or VOID one (STATE) without the secret,
 * and wipes INV's secret.  Returns 0 or an I/O errno.
 */
int enroll_invite_burn(const char *regiondir, struct enroll_invite *inv, uint8_t state)
    __attribute__((warn_unused_result));

void enroll_invite_free(struct enroll_invite *inv); /* wipes; NULL is a no-op */

/*
 * The approver's check of a decoded, signature-verified request R against
 * the invites of REGIONDIR at NOW.  Returns 0 with the OPEN invite in *OUT
 * (enroll_invite_free), -ENOENT (no such invite), -ETIME, -EALREADY,
 * -ECANCELED (see enroll_invite_usable) or -EKEYREJECTED (bad MAC: the
 * invite has now been voided, as the first MAC failure must).
 */
int enroll_request_check(const char *regiondir, const uint8_t local_key[static 32],
                         const struct enroll_request *r, uint64_t now, struct enroll_invite **out)
    __attribute__((warn_unused_result));

/* ---- offers (<region hex>/invite/<invite id hex>) and pairing words ---- */

/*
 * The approver's signed statement of what an invite enrolls (owner, role,
 * approver), posted with the invite so that the new device can show the
 * pairing words before approval.  FORMAT-keyring.md "Offer".
 */
#define ENROLL_OFFER_MAX                                                                           \
        (1 + 32 + ENROLL_ID_LEN + 8 + IDENTITY_ID_LEN + 1 + 4 + MEMBER_NAME_MAX + 64)
#define ENROLL_PAIRING_WORDS 12
#define ENROLL_PAIRING_MAX (ENROLL_PAIRING_WORDS * 9 + 1) /* words of <= 8 letters, spaces, NUL */

struct enroll_offer {
        uint8_t region_id[32];
        uint8_t invite_id[ENROLL_ID_LEN];
        uint64_t expires;
        uint8_t approver[IDENTITY_ID_LEN]; /* the inviting device */
        uint8_t role;                      /* enum member_role, reader..admin */
        char owner[MEMBER_NAME_MAX + 1];
        uint8_t sig[MEMBER_SIG_LEN];
        uint8_t raw[ENROLL_OFFER_MAX]; /* the object */
        size_t raw_len;
};

/* Store key "<region hex>/invite/<invite id hex>". */
int enroll_offer_key(const uint8_t region_id[static 32],
                     const uint8_t invite_id[static ENROLL_ID_LEN], char *out, size_t outlen)
    __attribute__((warn_unused_result));

/*
 * Signs FIELDS (region_id, invite_id, expires, approver = ID's device id,
 * role, owner) with ID's key into *OUT (sig and raw set).  Returns 0,
 * -EINVAL (bad field, no secret key) or -ENOMEM; *OUT untouched on error.
 */
int enroll_offer_build(const struct identity *id, const struct enroll_offer *fields,
                       struct enroll_offer *out) __attribute__((warn_unused_result));

/* Strictly parses BUF (LEN untrusted bytes); signature NOT checked.  0 or -EBADMSG. */
int enroll_offer_decode(const uint8_t *buf, size_t len, struct enroll_offer *out)
    __attribute__((warn_unused_result));

/* Checks O names APPROVER (a verified member) and carries its signature.  0 or -EBADMSG. */
int enroll_offer_verify(const struct enroll_offer *o, const struct member_device *approver)
    __attribute__((warn_unused_result));

/*
 * The 12 pairing words both users compare before approval: a hash of the
 * region, the invite, the approver's and the new device's keys, and the
 * owner and role given to the new device (FORMAT-keyring.md "Pairing words").
 * Into OUT (ENROLL_PAIRING_MAX bytes).  Returns 0 or -EINVAL/-ENOSPC.
 */
int enroll_pairing_words(char *out, size_t outlen, const uint8_t region_id[static 32],
                         const uint8_t invite_id[static ENROLL_ID_LEN],
                         const struct member_device *approver, const struct member_device *newdev,
                         const char *owner, uint8_t role) __attribute__((warn_unused_result));

/* A short status word for a result of enroll_request_check ("valid", "bad-mac", ...). */
const char *enroll_status_name(int rc);

#endif
