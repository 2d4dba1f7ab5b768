/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_KEYRING_RECOVERY_H
#define SEALSYNC_KEYRING_RECOVERY_H
/*
 * The recovery key of a region (doc/FORMAT-keyring.md "Recovery key"): a
 * 256-bit secret S, written down once as 24 words, from which the keys of
 * the region's RECOVERY device derive.
 *
 *   words    = words(S(32) || u8 check, 24 words, ' ')        264 bits
 *   check    = BLAKE2b-256("sealsync/v1/recovery-words"\0 || S)[0]
 *   K_rec    = BLAKE2b-256(key = S, "sealsync/v1/recovery"\0 || region_id(32)
 *                                   || genesis_hash(32))
 *   sign_seed= kdf_derive(32, K_rec, "recovery-sign", empty)   (Ed25519 seed)
 *   box_seed = kdf_derive(32, K_rec, "recovery-box",  empty)   (X25519 seed)
 *   device   = identity_device_id(sign_pk, box_pk), device name "recovery"
 *
 * The derivation binds the region's GENESIS: the same words give another
 * device for any other GENESIS, so a store that shows a fake GENESIS with
 * the same region id cannot contain the recovery device (making it needs
 * S).  Every secret here lives in secure memory or on the stack and is
 * wiped after use.
 */
#include <stddef.h>
#include <stdint.h>

#include "keyring/identity.h"

#define RECOVERY_SECRET_LEN 32
#define RECOVERY_WORDS 24
#define RECOVERY_WORDS_MAX (RECOVERY_WORDS * 9) /* 8 letters and a space each, the NUL */
#define RECOVERY_DEVICE_NAME "recovery"

/*
 * The words of SECRET into OUT (OUTLEN >= RECOVERY_WORDS_MAX bytes, the
 * caller's secure memory: the words are the secret), separated by single
 * spaces.  Returns 0, -EINVAL or -ENOSPC.
 */
int recovery_words_encode(char *out, size_t outlen,
                          const uint8_t secret[static RECOVERY_SECRET_LEN])
    __attribute__((warn_unused_result));

/*
 * Parses TEXT (24 words of the list, separated by spaces, tabs, '-' or
 * line ends, any case) into SECRET.  Returns 0, -EINVAL (not 24 words of
 * the list) or -EBADMSG (the checksum does not match: a wrong word).
 * SECRET untouched on error.
 */
int recovery_words_decode(uint8_t secret[static RECOVERY_SECRET_LEN], const char *text)
    __attribute__((warn_unused_result));

/*
 * The RECOVERY device of the region REGION_ID whose GENESIS hashes to
 * GENESIS_HASH, derived from SECRET (as above), into a new *OUT (with
 * secrets; identity_free).  Returns 0, -ENOMEM or -EIO; *OUT untouched on
 * error.
 */
int recovery_identity(const uint8_t secret[static RECOVERY_SECRET_LEN],
                      const uint8_t region_id[static 32], const uint8_t genesis_hash[static 32],
                      struct identity **out) __attribute__((warn_unused_result));

#endif
