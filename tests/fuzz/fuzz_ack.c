/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for acknowledgements and their object keys
 * (sync/ack.c).  The first input byte selects:
 *   bit 0 clear: the rest is an acknowledgement.  A decoded one re-encoded
 *                (re-signed with a fixed key) must reproduce every signed
 *                byte; ack_open under that key must reject the input (no
 *                forgery) and accept the re-signed bytes.
 *   bit 0 set:   the rest is an object key.  A parsed key must re-format to
 *                exactly the input.
 * Decoding must never crash, leak, or read out of bounds.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/secmem.h"
#include "crypto/sig.h"
#include "tests/fuzz/fuzz_signer.h"
#include "sync/ack.h"
#include "util/hex.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_ack(const uint8_t *data, size_t size, const uint8_t *pk, const uint8_t *sk)
{
        struct ack a, b;
        uint8_t *out = NULL;
        size_t out_len = 0, i;

        if (ack_decode(data, size, &a) != 0)
                return;
        if (ack_verify_sig(data, size, pk) == 0)
                abort(); /* a forgery */
        if (ack_open(data, size, a.region_id, a.device_id, pk, &b) == 0)
                abort();
        for (i = 0; i < a.nmarks; i++)
                if (ack_find(&a, a.marks[i].device_id) != &a.marks[i])
                        abort();
        if (ack_encode_sign(&a, sk, &out, &out_len) != 0)
                abort();
        if (out_len != size || memcmp(out, data, size - ACK_SIG_LEN) != 0)
                abort();
        if (ack_open(out, out_len, a.region_id, a.device_id, pk, &b) != 0)
                abort();
        if (b.counter != a.counter || b.nmarks != a.nmarks)
                abort();
        ack_release(&b);
        free(out);
        ack_release(&a);
}

static void fuzz_key(const uint8_t *data, size_t size)
{
        char *key, again[ACK_KEY_SIZE], region_hex[65];
        uint8_t region[32], dev[16];

        key = malloc(size + 1);
        if (key == NULL)
                return;
        memcpy(key, data, size);
        key[size] = '\0';
        if (ack_parse_key(key, region, dev) == 0) {
                hex_encode(region_hex, region, sizeof(region));
                if (ack_object_key(region_hex, dev, again) != 0)
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

        fuzz_signer(3, &pk, &sk);
        if (size < 1)
                return 0;
        if ((data[0] & 1) == 0)
                fuzz_ack(data + 1, size - 1, pk, sk);
        else
                fuzz_key(data + 1, size - 1);
        return 0;
}
