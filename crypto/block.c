/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Content blocks: the FUSE hot path.  See block.h and doc/FORMAT.md
 * "Content blocks".
 *
 * Invariants:
 *  1. A block_ctx lives in one sodium_malloc region (recycled, wiped, through
 *     secmem_cache_alloc/free), filled once by
 *     block_ctx_new and then made read-only: no function mutates it, so it
 *     may be shared between threads without locks.
 *  2. K_block exists only on the stack of one seal/open call and is wiped
 *     before that call returns, on every path.  It is derived from the index
 *     and the nonce stored in the sealed block, so each seal uses its own key.
 *  3. Seal and open never allocate: everything is on the stack or in the
 *     caller's buffers.
 *  4. block_open never leaves unauthenticated plaintext in PLAIN.
 */
#include "crypto/block.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "crypto/kdf.h"
#include "crypto/secmem.h"
#include "crypto/suite.h"

#define BLOCK_DOMAIN "sealsync/v1/block"       /* followed by its NUL in the AAD */
#define BLOCK_DOMAIN_LEN (sizeof BLOCK_DOMAIN) /* includes the NUL */
#define BLOCK_AAD_PREFIX_LEN                                                                       \
        (BLOCK_DOMAIN_LEN + BLOCK_ID_LEN + BLOCK_ID_LEN + 1 + BLOCK_FILE_ID_LEN + BLOCK_SALT_LEN)
#define BLOCK_AAD_LEN (BLOCK_AAD_PREFIX_LEN + 8 + 1)
#define BLOCK_KEY_LEN 32

_Static_assert(BLOCK_AAD_LEN == 140, "AAD layout changed: update doc/FORMAT.md");
_Static_assert(crypto_aead_aes256gcm_KEYBYTES == BLOCK_KEY_LEN, "AES key length");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == BLOCK_KEY_LEN, "XChaCha key length");
_Static_assert(crypto_aead_aes256gcm_ABYTES == BLOCK_TAG_LEN, "AES tag length");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == BLOCK_TAG_LEN, "XChaCha tag length");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == BLOCK_MAX_NONCE, "nonce length");
/*
 * AES-256-GCM blocks store a 24-byte random nonce N (XAES-256-GCM's idea):
 * the per-seal key derives from all of N and GCM uses N[12..24) as its
 * 96-bit nonce, so a (key, nonce) repeat needs a 192-bit collision and no
 * per-key seal counter is needed, however often a block is rewritten.
 */
#define BLOCK_AES_GCM_NONCE_OFF (BLOCK_MAX_NONCE - crypto_aead_aes256gcm_NPUBBYTES)

struct block_ctx {
        uint8_t k_file[BLOCK_KEY_LEN];
        uint8_t commit[32];
        uint8_t aad_prefix[BLOCK_AAD_PREFIX_LEN];
        int suite;
        size_t nonce_len;
};

int block_ctx_new(struct block_ctx **out, const uint8_t epoch_key[static 32],
                  const struct block_file_info *info)
{
        uint8_t fm[BLOCK_FILE_ID_LEN + BLOCK_SALT_LEN];
        struct block_ctx *c;
        size_t nlen, off = 0;
        int rc;

        if (out == NULL || info == NULL)
                return -EINVAL;
        nlen = suite_nonce_len(info->suite);
        if (nlen == 0)
                return -EINVAL;
        if (!suite_available(info->suite))
                return -ENOTSUP;
        c = secmem_cache_alloc(sizeof *c);
        if (c == NULL)
                return -ENOMEM;
        memset(c, 0, sizeof *c);
        c->suite = info->suite;
        c->nonce_len = nlen;

        memcpy(fm, info->file_id, BLOCK_FILE_ID_LEN);
        memcpy(fm + BLOCK_FILE_ID_LEN, info->salt, BLOCK_SALT_LEN);
        rc = kdf_derive(c->k_file, BLOCK_KEY_LEN, epoch_key, "file", fm, sizeof fm);
        if (rc != 0)
                goto fail_ctx;
        rc = kdf_derive(c->commit, sizeof c->commit, c->k_file, "commit", NULL, 0);
        if (rc != 0)
                goto fail_ctx;

        memcpy(c->aad_prefix + off, BLOCK_DOMAIN, BLOCK_DOMAIN_LEN);
        off += BLOCK_DOMAIN_LEN;
        memcpy(c->aad_prefix + off, info->region_id, BLOCK_ID_LEN);
        off += BLOCK_ID_LEN;
        memcpy(c->aad_prefix + off, info->epoch_id, BLOCK_ID_LEN);
        off += BLOCK_ID_LEN;
        c->aad_prefix[off++] = (uint8_t)info->suite;
        memcpy(c->aad_prefix + off, info->file_id, BLOCK_FILE_ID_LEN);
        off += BLOCK_FILE_ID_LEN;
        memcpy(c->aad_prefix + off, info->salt, BLOCK_SALT_LEN);

        /* Invariant 1: immutable from here on; a stray write faults. */
        if (sodium_mprotect_readonly(c) != 0) {
                rc = -ENOMEM;
                goto fail_ctx;
        }
        *out = c;
        return 0;

fail_ctx:
        block_ctx_free(c);
        return rc;
}

void block_ctx_free(struct block_ctx *ctx)
{
        if (ctx == NULL)
                return;
        /* Writable again (a recycled region is read-write), then wiped and kept or freed. */
        if (sodium_mprotect_readwrite(ctx) != 0) {
                sodium_free(ctx); /* wipes whatever the protection */
                return;
        }
        secmem_cache_free(ctx, sizeof *ctx);
}

void block_key_commit(const struct block_ctx *ctx, uint8_t out[static 32])
{
        memcpy(out, ctx->commit, sizeof ctx->commit);
}

size_t block_sealed_len(const struct block_ctx *ctx, size_t len)
{
        return ctx->nonce_len + len + BLOCK_TAG_LEN;
}

/*
 * K_block for (INDEX, NONCE) and the full AAD for (INDEX, FINAL).  NONCE is
 * ctx->nonce_len bytes: the nonce stored at the front of the sealed block.
 */
static int block_setup(const struct block_ctx *ctx, uint64_t index, int final, const uint8_t *nonce,
                       uint8_t kblock[static BLOCK_KEY_LEN], uint8_t aad[static BLOCK_AAD_LEN])
{
        uint8_t m[8 + BLOCK_MAX_NONCE]; /* u64be(index) || nonce; not secret */
        int i;

        assert(ctx->nonce_len <= BLOCK_MAX_NONCE);
        for (i = 0; i < 8; i++)
                m[i] = (uint8_t)(index >> (56 - 8 * i));
        memcpy(m + 8, nonce, ctx->nonce_len);
        memcpy(aad, ctx->aad_prefix, BLOCK_AAD_PREFIX_LEN);
        memcpy(aad + BLOCK_AAD_PREFIX_LEN, m, 8);
        aad[BLOCK_AAD_PREFIX_LEN + 8] = (uint8_t) final;
        return kdf_derive(kblock, BLOCK_KEY_LEN, ctx->k_file, "block", m, 8 + ctx->nonce_len);
}

/* Seals with NONCE (which may alias OUT's first nonce_len bytes). */
static int block_seal_nonce(const struct block_ctx *ctx, uint64_t index, int final,
                            const uint8_t *plain, size_t len, const uint8_t *nonce, uint8_t *out)
{
        uint8_t kblock[BLOCK_KEY_LEN];
        uint8_t aad[BLOCK_AAD_LEN];
        uint8_t *ct = out + ctx->nonce_len, *tag = ct + len;
        int rc;

        /* Store the nonce first: the key is derived from the stored bytes. */
        if (nonce != out)
                memmove(out, nonce, ctx->nonce_len);
        rc = block_setup(ctx, index, final, out, kblock, aad);
        if (rc != 0)
                goto cleanup_key;
        rc = -EINVAL;
        if (ctx->suite == SUITE_AES256GCM) {
                crypto_aead_aes256gcm_state st;

                if (crypto_aead_aes256gcm_beforenm(&st, kblock) == 0 &&
                    crypto_aead_aes256gcm_encrypt_detached_afternm(
                        ct, tag, NULL, plain, len, aad, sizeof aad, NULL,
                        out + BLOCK_AES_GCM_NONCE_OFF, &st) == 0)
                        rc = 0;
                sodium_memzero(&st, sizeof st);
        } else {
                if (crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
                        ct, tag, NULL, plain, len, aad, sizeof aad, NULL, out, kblock) == 0)
                        rc = 0;
        }
cleanup_key:
        sodium_memzero(kblock, sizeof kblock);
        return rc;
}

static int seal_args_valid(const struct block_ctx *ctx, int final, const uint8_t *plain, size_t len,
                           const uint8_t *out)
{
        return ctx != NULL && (final == 0 || final == 1) && len <= BLOCK_MAX_SIZE &&
               (plain != NULL || len == 0) && out != NULL;
}

int block_seal(const struct block_ctx *ctx, uint64_t index, int final, const uint8_t *plain,
               size_t len, uint8_t *out)
{
        if (!seal_args_valid(ctx, final, plain, len, out))
                return -EINVAL;
        /* A fresh random nonce on every seal, rewrites included; never a counter. */
        randombytes_buf(out, ctx->nonce_len);
        return block_seal_nonce(ctx, index, final, plain, len, out, out);
}

int block_seal_with_nonce(const struct block_ctx *ctx, uint64_t index, int final,
                          const uint8_t *plain, size_t len, const uint8_t *nonce, uint8_t *out)
{
        if (!seal_args_valid(ctx, final, plain, len, out) || nonce == NULL)
                return -EINVAL;
        return block_seal_nonce(ctx, index, final, plain, len, nonce, out);
}

int block_open(const struct block_ctx *ctx, uint64_t index, int final, const uint8_t *sealed,
               size_t sealed_len, uint8_t *plain, size_t *plain_len)
{
        uint8_t kblock[BLOCK_KEY_LEN];
        uint8_t aad[BLOCK_AAD_LEN];
        const uint8_t *nonce, *ct, *tag;
        size_t mlen;
        int rc = -EBADMSG;

        if (ctx == NULL || sealed == NULL || plain_len == NULL)
                return -EBADMSG;
        if (sealed_len < ctx->nonce_len + BLOCK_TAG_LEN)
                return -EBADMSG;
        mlen = sealed_len - ctx->nonce_len - BLOCK_TAG_LEN;
        if (mlen > BLOCK_MAX_SIZE || (plain == NULL && mlen > 0))
                return -EBADMSG;
        nonce = sealed;
        ct = sealed + ctx->nonce_len;
        tag = ct + mlen;

        if (final != 0 && final != 1)
                goto cleanup_key;
        if (block_setup(ctx, index, final, nonce, kblock, aad) != 0)
                goto cleanup_key;
        if (ctx->suite == SUITE_AES256GCM) {
                crypto_aead_aes256gcm_state st;

                if (crypto_aead_aes256gcm_beforenm(&st, kblock) == 0 &&
                    crypto_aead_aes256gcm_decrypt_detached_afternm(
                        plain, NULL, ct, mlen, tag, aad, sizeof aad,
                        nonce + BLOCK_AES_GCM_NONCE_OFF, &st) == 0)
                        rc = 0;
                sodium_memzero(&st, sizeof st);
        } else {
                if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(
                        plain, NULL, ct, mlen, tag, aad, sizeof aad, nonce, kblock) == 0)
                        rc = 0;
        }
cleanup_key:
        sodium_memzero(kblock, sizeof kblock);
        if (rc != 0) {
                /* Invariant 4: release nothing on failure. */
                if (mlen > 0)
                        sodium_memzero(plain, mlen);
                return rc;
        }
        *plain_len = mlen;
        return 0;
}
