/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for checkpoints, their object keys and the location
 * records of their bundles (sync/checkpoint.c).  The first input byte
 * selects (mod 3):
 *   0: the rest is a checkpoint.  A decoded one re-encoded (re-signed with
 *      a fixed key) must reproduce every signed byte; checkpoint_open under
 *      that key must reject the input (no forgery) and accept the re-signed
 *      bytes.
 *   1: the rest is an object key.  A parsed key must re-format to exactly
 *      the input.
 *   2: the rest is a location record.  A decoded one must re-encode to
 *      exactly the input (one encoding per value).
 * Decoding must never crash, leak, or read out of bounds.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hash.h"
#include "crypto/secmem.h"
#include "crypto/sig.h"
#include "tests/fuzz/fuzz_signer.h"
#include "sync/checkpoint.h"
#include "util/hex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_ckpt(const uint8_t *data, size_t size, const uint8_t *pk, const uint8_t *sk)
{
        struct checkpoint c, d;
        uint8_t *out = NULL, hash[32], h[32];
        const char *why = NULL;
        size_t out_len = 0, i;

        if (checkpoint_decode(data, size, &c) != 0)
                return;
        hash_blake2b(h, data, size);
        if (checkpoint_open(data, size, h, c.region_id, c.device_id, c.seq, pk, &d, &why) == 0)
                abort(); /* a forgery */
        for (i = 0; i < c.nmarks; i++)
                if (checkpoint_mark(&c, c.marks[i].device_id) != &c.marks[i])
                        abort();
        if (checkpoint_encode_sign(&c, sk, &out, &out_len, hash) != 0)
                abort();
        if (out_len != size || memcmp(out, data, size - CHECKPOINT_SIG_LEN) != 0)
                abort();
        if (checkpoint_open(out, out_len, hash, c.region_id, c.device_id, c.seq, pk, &d, &why) != 0)
                abort();
        if (d.nfiles != c.nfiles || d.npacks != c.npacks || d.nmarks != c.nmarks)
                abort();
        checkpoint_release(&d);
        free(out);
        checkpoint_release(&c);
}

static void fuzz_key(const uint8_t *data, size_t size)
{
        char *key, again[CHECKPOINT_KEY_SIZE], region_hex[65];
        uint8_t region[32], dev[16], hash[32];
        uint64_t seq = 0;

        key = malloc(size + 1);
        if (key == NULL)
                return;
        memcpy(key, data, size);
        key[size] = '\0';
        if (checkpoint_parse_key(key, region, dev, &seq, hash) == 0) {
                hex_encode(region_hex, region, sizeof(region));
                if (checkpoint_object_key(region_hex, dev, seq, hash, again) != 0)
                        abort();
                if (strcmp(again, key) != 0)
                        abort();
        }
        free(key);
}

static void fuzz_locs(const uint8_t *data, size_t size)
{
        struct checkpoint_loc *l = NULL;
        uint8_t *out = NULL;
        size_t n = 0, len = 0;

        if (checkpoint_locs_decode(data, size, &l, &n) != 0)
                return;
        if (checkpoint_locs_encode(l, n, &out, &len) != 0)
                abort();
        if (len != size || memcmp(out, data, size) != 0)
                abort();
        free(out);
        free(l);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *pk, *sk;

        fuzz_signer(4, &pk, &sk);
        if (size < 1)
                return 0;
        switch (data[0] % 3) {
        case 0:
                fuzz_ckpt(data + 1, size - 1, pk, sk);
                break;
        case 1:
                fuzz_key(data + 1, size - 1);
                break;
        default:
                fuzz_locs(data + 1, size - 1);
        }
        return 0;
}
