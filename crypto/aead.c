/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Metadata AEAD: XChaCha20-Poly1305-IETF, random 24-byte nonce per call
 * (safe to pick at random for any practical number of messages).
 *   sealed = nonce(24) || ciphertext || tag(16)
 */
#include "crypto/aead.h"

#include <errno.h>

#include <sodium.h>

int aead_seal(uint8_t *out, const uint8_t key[static AEAD_KEY_LEN], const void *ad, size_t adlen,
              const void *plain, size_t len)
{
        unsigned long long clen = 0;

        if (out == NULL || (len > 0 && plain == NULL) || (adlen > 0 && ad == NULL))
                return -EINVAL;
        if (len > crypto_aead_xchacha20poly1305_ietf_MESSAGEBYTES_MAX - AEAD_OVERHEAD)
                return -EINVAL;
        randombytes_buf(out, AEAD_NONCE_LEN);
        /* Combined mode writes ciphertext || tag right after the nonce. */
        if (crypto_aead_xchacha20poly1305_ietf_encrypt(out + AEAD_NONCE_LEN, &clen, plain, len, ad,
                                                       adlen, NULL, out, key) != 0)
                return -EINVAL;
        return 0;
}

int aead_open(uint8_t *plain, const uint8_t key[static AEAD_KEY_LEN], const void *ad, size_t adlen,
              const uint8_t *in, size_t inlen)
{
        unsigned long long mlen = 0;

        if (in == NULL || inlen < AEAD_OVERHEAD || (adlen > 0 && ad == NULL))
                return -EBADMSG;
        if (plain == NULL && inlen > AEAD_OVERHEAD)
                return -EBADMSG;
        if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &mlen, NULL, in + AEAD_NONCE_LEN,
                                                       inlen - AEAD_NONCE_LEN, ad, adlen, in,
                                                       key) != 0) {
                if (inlen > AEAD_OVERHEAD)
                        sodium_memzero(plain, inlen - AEAD_OVERHEAD);
                return -EBADMSG;
        }
        return 0;
}
