/* SPDX-License-Identifier: Apache-2.0 */
/* The recovery key: words and derivation; see recovery.h. */
#include "keyring/recovery.h"

#include <errno.h>
#include <string.h>

#include "crypto/hash.h"
#include "crypto/kdf.h"
#include "crypto/secmem.h"
#include "crypto/words.h"

#define RECOVERY_CODED_LEN (RECOVERY_SECRET_LEN + 1) /* S || check: 264 bits = 24 words */

/* The checksum byte of SECRET. */
static uint8_t recovery_check(const uint8_t secret[static RECOVERY_SECRET_LEN])
{
        static const char domain[] = "sealsync/v1/recovery-words";
        const struct hash_part parts[] = {
            {domain, sizeof(domain)}, /* includes the NUL */
            {secret, RECOVERY_SECRET_LEN},
        };
        uint8_t h[HASH_LEN], c;

        /* Cannot fail: fixed valid lengths. */
        if (hash_parts(h, sizeof(h), NULL, 0, parts, 2) != 0)
                memset(h, 0, sizeof(h));
        c = h[0];
        secmem_wipe(h, sizeof(h));
        return c;
}

int recovery_words_encode(char *out, size_t outlen,
                          const uint8_t secret[static RECOVERY_SECRET_LEN])
{
        uint8_t coded[RECOVERY_CODED_LEN];
        int rc;

        memcpy(coded, secret, RECOVERY_SECRET_LEN);
        coded[RECOVERY_SECRET_LEN] = recovery_check(secret);
        rc = words_encode(out, outlen, coded, sizeof(coded), RECOVERY_WORDS, ' ');
        secmem_wipe(coded, sizeof(coded));
        return rc;
}

int recovery_words_decode(uint8_t secret[static RECOVERY_SECRET_LEN], const char *text)
{
        uint8_t coded[RECOVERY_CODED_LEN];
        int rc;

        rc = words_decode(coded, sizeof(coded), text, RECOVERY_WORDS);
        if (rc == 0 && coded[RECOVERY_SECRET_LEN] != recovery_check(coded))
                rc = -EBADMSG;
        if (rc == 0)
                memcpy(secret, coded, RECOVERY_SECRET_LEN);
        secmem_wipe(coded, sizeof(coded));
        return rc;
}

int recovery_identity(const uint8_t secret[static RECOVERY_SECRET_LEN],
                      const uint8_t region_id[static 32], const uint8_t genesis_hash[static 32],
                      struct identity **out)
{
        static const char domain[] = "sealsync/v1/recovery";
        const struct hash_part parts[] = {
            {domain, sizeof(domain)}, /* includes the NUL */
            {region_id, 32},
            {genesis_hash, 32},
        };
        uint8_t *k = secmem_alloc(3 * 32); /* K_rec || sign_seed || box_seed */
        int rc;

        if (k == NULL)
                return -ENOMEM;
        rc = hash_parts(k, 32, secret, RECOVERY_SECRET_LEN, parts, 3);
        if (rc == 0)
                rc = kdf_derive(k + 32, 32, k, "recovery-sign", NULL, 0);
        if (rc == 0)
                rc = kdf_derive(k + 64, 32, k, "recovery-box", NULL, 0);
        if (rc == 0)
                rc = identity_from_seeds(k + 32, k + 64, RECOVERY_DEVICE_NAME, out);
        secmem_free(k);
        return rc;
}
