/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the content-block and metadata AEAD openers, which
 * see bytes from the store.  Fixed keys; the first input byte picks the
 * suite, the final flag and the index; the rest is the sealed block.
 *
 * Checked: no crash or out-of-bounds access for any input; a failed open
 * returns -EBADMSG with PLAIN wiped and *PLAIN_LEN untouched; and, as a
 * round-trip oracle, sealing the input as plaintext and reopening it gives
 * it back, while flipping a byte chosen by the input makes it fail.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/aead.h"
#include "crypto/block.h"
#include "crypto/secmem.h"
#include "crypto/suite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct block_ctx *ctxs[3];
static uint8_t plain[BLOCK_MAX_SIZE + 64];
static uint8_t sealed[BLOCK_MAX_SIZE + 64];

static void init_once(void)
{
        static int done;
        struct block_file_info info;
        uint8_t ek[32];
        int s;

        if (done)
                return;
        done = 1;
        if (secmem_init() != 0)
                abort();
        memset(ek, 0x42, sizeof ek);
        memset(&info, 0x17, sizeof info);
        for (s = SUITE_AES256GCM; s <= SUITE_XCHACHA20POLY1305; s++) {
                info.suite = s;
                if (!suite_available(s))
                        continue;
                if (block_ctx_new(&ctxs[s], ek, &info) != 0)
                        abort();
        }
}

static int all_zero(const uint8_t *p, size_t n)
{
        size_t i;

        for (i = 0; i < n; i++)
                if (p[i] != 0)
                        return 0;
        return 1;
}

static void check_open_fails(const struct block_ctx *ctx, uint64_t index, int final,
                             const uint8_t *in, size_t len)
{
        size_t plen = 777, overhead = block_sealed_len(ctx, 0);
        int rc;

        memset(plain, 0xaa, sizeof plain);
        rc = block_open(ctx, index, final, in, len, plain, &plen);
        if (rc != -EBADMSG || plen != 777)
                abort();
        if (len >= overhead && len - overhead <= BLOCK_MAX_SIZE && !all_zero(plain, len - overhead))
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const struct block_ctx *ctx;
        uint64_t index;
        int final, suite;
        size_t plen = 0;
        uint8_t key[AEAD_KEY_LEN];

        init_once();
        if (size < 1 || size > BLOCK_MAX_SIZE)
                return 0;
        suite = (data[0] & 1) ? SUITE_XCHACHA20POLY1305 : SUITE_AES256GCM;
        ctx = ctxs[suite] ? ctxs[suite] : ctxs[SUITE_XCHACHA20POLY1305];
        final = (data[0] >> 1) & 1;
        index = data[0] >> 2;
        data++;
        size--;

        /* 1. Arbitrary bytes as a sealed block: must be rejected cleanly. */
        check_open_fails(ctx, index, final, data, size);

        /* 2. Arbitrary bytes as a metadata AEAD blob. */
        memset(key, 0x33, sizeof key);
        if (aead_open(plain, key, "ad", 2, data, size) != -EBADMSG)
                abort();

        /* 3. Round trip: the input as plaintext. */
        if (block_seal(ctx, index, final, data, size, sealed) != 0)
                abort();
        if (block_open(ctx, index, final, sealed, block_sealed_len(ctx, size), plain, &plen) != 0 ||
            plen != size || (size > 0 && memcmp(plain, data, size) != 0))
                abort();
        /* 4. One flipped byte (position chosen by the input), wrong index or flag. */
        {
                size_t sl = block_sealed_len(ctx, size);
                size_t pos = size > 0 ? (data[0] * 131u + size) % sl : 0;

                sealed[pos] ^= 0x01;
                check_open_fails(ctx, index, final, sealed, sl);
                sealed[pos] ^= 0x01;
                check_open_fails(ctx, index + 1, final, sealed, sl);
                check_open_fails(ctx, index, !final, sealed, sl);
                check_open_fails(ctx, index, final, sealed, sl - 1);
        }
        return 0;
}
