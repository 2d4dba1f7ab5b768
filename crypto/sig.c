/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Ed25519 with domain separation: every signed message is
 *   "sealsync/v1/" || TYPE || 0x00 || BODY
 * TYPE is 1..SIG_TYPE_MAX characters of [a-z0-9-], so no type is a prefix of
 * another type's domain (the NUL terminates it).  Plain Ed25519 (not
 * Ed25519ph) over the concatenation: libsodium has no streaming plain
 * Ed25519, so the message is assembled in a stack buffer when small and a
 * heap buffer otherwise.
 */
#include "crypto/sig.h"

#include "crypto/enc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define SIG_PREFIX "sealsync/v1/"
#define SIG_PREFIX_LEN (sizeof SIG_PREFIX - 1)
#define SIG_TYPE_MAX 64
#define SIG_STACK_MSG 2048

static int type_len(const char *type, size_t *len)
{
        size_t n;

        if (type == NULL)
                return -EINVAL;
        for (n = 0; type[n] != '\0'; n++) {
                char c = type[n];

                if (n >= SIG_TYPE_MAX)
                        return -EINVAL;
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                        return -EINVAL;
        }
        if (n == 0)
                return -EINVAL;
        *len = n;
        return 0;
}

/*
 * Builds domain(TYPE) || BODY in STACKBUF (SIG_STACK_MSG bytes) or a heap
 * buffer (*HEAP, to free()).  Returns 0, -EINVAL or -ENOMEM.
 */
static int build_message(uint8_t *stackbuf, uint8_t **heap, const uint8_t **msg, size_t *msglen,
                         const char *type, const void *body, size_t len)
{
        size_t tlen = 0, hdr, total;
        uint8_t *buf = stackbuf;
        int rc;

        *heap = NULL;
        rc = type_len(type, &tlen);
        if (rc != 0)
                return rc;
        if (len > 0 && body == NULL)
                return -EINVAL;
        hdr = SIG_PREFIX_LEN + tlen + 1;
        if (len > SIZE_MAX - hdr)
                return -ENOMEM;
        total = hdr + len;
        if (total > SIG_STACK_MSG) {
                buf = malloc(total);
                if (buf == NULL)
                        return -ENOMEM;
                *heap = buf;
        }
        memcpy(buf, SIG_PREFIX, SIG_PREFIX_LEN);
        memcpy(buf + SIG_PREFIX_LEN, type, tlen);
        buf[SIG_PREFIX_LEN + tlen] = 0;
        if (len > 0)
                memcpy(buf + hdr, body, len);
        *msg = buf;
        *msglen = total;
        return 0;
}

int sig_keypair(uint8_t pk[static SIG_PK_LEN], uint8_t sk[static SIG_SK_LEN])
{
        if (crypto_sign_ed25519_keypair(pk, sk) != 0)
                return -EIO;
        return 0;
}

int sig_keypair_seed(uint8_t pk[static SIG_PK_LEN], uint8_t sk[static SIG_SK_LEN],
                     const uint8_t seed[static SIG_SEED_LEN])
{
        if (crypto_sign_ed25519_seed_keypair(pk, sk, seed) != 0)
                return -EIO;
        return 0;
}

int sig_sign(uint8_t sig[static SIG_LEN], const uint8_t sk[static SIG_SK_LEN], const char *type,
             const void *body, size_t len)
{
        uint8_t stackbuf[SIG_STACK_MSG];
        uint8_t *heap = NULL;
        const uint8_t *msg = NULL;
        size_t msglen = 0;
        int rc;

        rc = build_message(stackbuf, &heap, &msg, &msglen, type, body, len);
        if (rc != 0)
                return rc;
        if (crypto_sign_ed25519_detached(sig, NULL, msg, msglen, sk) != 0)
                rc = -EINVAL;
        /* Signed bodies are public, but wipe anyway: callers may sign before publishing. */
        sodium_memzero(heap ? heap : stackbuf, msglen);
        free(heap);
        return rc;
}

int sig_verify(const uint8_t sig[static SIG_LEN], const uint8_t pk[static SIG_PK_LEN],
               const char *type, const void *body, size_t len)
{
        uint8_t stackbuf[SIG_STACK_MSG];
        uint8_t *heap = NULL;
        const uint8_t *msg = NULL;
        size_t msglen = 0;
        int rc;

        rc = build_message(stackbuf, &heap, &msg, &msglen, type, body, len);
        if (rc != 0)
                return rc;
        if (crypto_sign_ed25519_verify_detached(sig, msg, msglen, pk) != 0)
                rc = -EBADMSG;
        free(heap);
        return rc;
}

int sig_finish_enc(struct enc *e, const uint8_t sk[static SIG_SK_LEN], const char *type, size_t max,
                   uint8_t **out, size_t *out_len)
{
        uint8_t sig[SIG_LEN];
        int rc = enc_error(e) != 0 ? -ENOMEM : 0;

        if (rc == 0)
                rc = sig_sign(sig, sk, type, e->buf, e->len);
        if (rc == 0) {
                enc_fixed(e, sig, sizeof(sig));
                rc = enc_error(e) != 0 ? -ENOMEM : 0;
        }
        if (rc == 0 && e->len > max)
                rc = -EINVAL;
        if (rc == 0) {
                *out = e->buf; /* hand the buffer over */
                *out_len = e->len;
                enc_init(e);
        }
        enc_release(e);
        return rc;
}
