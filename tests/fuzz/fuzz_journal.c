/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for journal entries and their object keys
 * (sync/journal.c).  The first input byte selects:
 *   bit 0 clear: the rest is a journal entry.  A decoded entry re-encoded
 *                (re-signed with a fixed key) must reproduce every signed byte.
 *   bit 0 set:   the rest is an object key.  A parsed key must re-format to
 *                exactly the input.
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
#include "sync/journal.h"
#include "util/hex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_entry(const uint8_t *data, size_t size, const uint8_t *pk, const uint8_t *sk)
{
        struct journal_entry e;
        uint8_t *out = NULL, h[32];
        size_t out_len = 0;

        if (journal_decode(data, size, &e) != 0)
                return;
        if (journal_verify_sig(data, size, pk) == 0)
                abort(); /* a forgery */
        if (journal_encode_sign(&e, sk, &out, &out_len, h) != 0)
                abort();
        if (out_len != size || memcmp(out, data, size - JOURNAL_SIG_LEN) != 0)
                abort();
        if (journal_verify_sig(out, out_len, pk) != 0)
                abort();
        free(out);
        journal_release(&e);
}

static void fuzz_key(const uint8_t *data, size_t size)
{
        char *key, again[JOURNAL_KEY_SIZE], region_hex[65];
        uint8_t region[32], dev[16], hash[32];
        uint64_t seq;

        key = malloc(size + 1);
        if (key == NULL)
                return;
        memcpy(key, data, size);
        key[size] = '\0';
        if (journal_parse_key(key, region, dev, &seq, hash) == 0) {
                hex_encode(region_hex, region, sizeof(region));
                if (journal_object_key(region_hex, dev, seq, hash, again) != 0)
                        abort();
                /* KEY is a C string: bytes after an embedded NUL are not part of it. */
                if (strcmp(again, key) != 0)
                        abort();
        }
        free(key);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *pk, *sk;

        fuzz_signer(2, &pk, &sk);
        if (size < 1)
                return 0;
        if ((data[0] & 1) == 0)
                fuzz_entry(data + 1, size - 1, pk, sk);
        else
                fuzz_key(data + 1, size - 1);
        return 0;
}
