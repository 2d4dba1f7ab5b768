/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_CRYPTO_BLOCK_H
#define SEALSYNC_CRYPTO_BLOCK_H
/*
 * Content blocks.  A file's blocks are sealed independently so reads and
 * writes touch only the blocks they need.
 *
 *   K_file  = kdf_derive(32, epoch_key, "file", file_id || salt)
 *   sealed  = nonce (24 bytes, fresh random each seal) || ciphertext || tag(16);
 *             AES-GCM uses nonce[12..24) as its 96-bit nonce (the XAES-256-GCM idea:
 *             a (key, nonce) repeat needs a 192-bit collision, so no seal counter)
 *   K_block = kdf_derive(32, K_file, "block", u64be(index) || nonce)
 *             (a per-seal subkey from all 24 nonce bytes; see doc/FORMAT.md
 *             "Per-seal subkeys and the nonce limit")
 *   AAD     = "sealsync/v1/block\0" || region_id(32) || epoch_id(32) || u8 suite
 *             || file_id(16) || salt(32) || u64be index || u8 final
 *   key_commit = kdf_derive(32, K_file, "commit", NULL)
 *
 * A block_ctx is immutable after block_ctx_new and safe to share between
 * threads.  Exact bytes in doc/FORMAT.md; vectors in tests/vectors/.
 */
#include <stddef.h>
#include <stdint.h>

#define BLOCK_ID_LEN 32 /* region id, epoch id */
#define BLOCK_FILE_ID_LEN 16
#define BLOCK_SALT_LEN 32
#define BLOCK_TAG_LEN 16
#define BLOCK_MAX_NONCE 24
#define BLOCK_MIN_SIZE 4096
#define BLOCK_MAX_SIZE (1u << 20)

struct block_file_info {
        uint8_t region_id[BLOCK_ID_LEN];
        uint8_t epoch_id[BLOCK_ID_LEN];
        int suite;
        uint8_t file_id[BLOCK_FILE_ID_LEN];
        uint8_t salt[BLOCK_SALT_LEN];
};

struct block_ctx;

/*
 * Derives K_file from EPOCH_KEY (32 bytes) for INFO.  Returns 0, -EINVAL
 * (unknown suite), -ENOTSUP (suite unavailable on this CPU) or -ENOMEM.
 */
int block_ctx_new(struct block_ctx **out, const uint8_t epoch_key[static 32],
                  const struct block_file_info *info) __attribute__((warn_unused_result));
void block_ctx_free(struct block_ctx *ctx); /* wipes; NULL is a no-op */

/* The per-file key commitment (32 bytes), checked before any decryption. */
void block_key_commit(const struct block_ctx *ctx, uint8_t out[static 32]);

/* Sealed length of a LEN-byte plaintext block: nonce_len + LEN + 16. */
size_t block_sealed_len(const struct block_ctx *ctx, size_t len);

/*
 * Seals PLAIN (LEN <= BLOCK_MAX_SIZE bytes) as block INDEX (FINAL 0/1) into
 * OUT (block_sealed_len bytes) with a fresh random nonce.  Returns 0 or -EINVAL.
 */
int block_seal(const struct block_ctx *ctx, uint64_t index, int final, const uint8_t *plain,
               size_t len, uint8_t *out) __attribute__((warn_unused_result));

/*
 * Opens SEALED (SEALED_LEN bytes) as block INDEX/FINAL into PLAIN (room for
 * SEALED_LEN - overhead bytes), setting *PLAIN_LEN.  Returns 0 or -EBADMSG
 * (too short, too long, or authentication failed: PLAIN is wiped).
 */
int block_open(const struct block_ctx *ctx, uint64_t index, int final, const uint8_t *sealed,
               size_t sealed_len, uint8_t *plain, size_t *plain_len)
    __attribute__((warn_unused_result));

/* Deterministic-nonce seal for known-answer tests ONLY (tests/vectors). */
int block_seal_with_nonce(const struct block_ctx *ctx, uint64_t index, int final,
                          const uint8_t *plain, size_t len, const uint8_t *nonce, uint8_t *out)
    __attribute__((warn_unused_result));

#endif
