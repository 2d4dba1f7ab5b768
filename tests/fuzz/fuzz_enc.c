/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target for the canonical decoder (crypto/enc.c) and the word
 * parser (crypto/words.c), the two parsers of untrusted bytes in crypto/
 * besides the AEADs.
 *
 * Input: byte 0 selects the target.  For the decoder, the next bytes up to
 * a 0xff byte are a "program" of field types; the rest is the encoding.  If
 * the decoder accepts, re-encoding the decoded fields must reproduce the
 * input exactly (one value, one encoding).  For words, the rest is text;
 * if it decodes, encoding the result must decode to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/enc.h"
#include "crypto/words.h"

#define MAX_OPS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_dec(const uint8_t *data, size_t size)
{
        uint8_t ops[MAX_OPS], fixed[64];
        size_t nops = 0, i;
        struct dec d;
        struct enc e;

        while (size > 0 && data[0] != 0xff && nops < MAX_OPS) {
                ops[nops++] = data[0];
                data++;
                size--;
        }
        if (size > 0) {
                data++;
                size--;
        }
        dec_init(&d, data, size);
        enc_init(&e);
        for (i = 0; i < nops; i++) {
                uint8_t op = ops[i];

                switch (op % 6) {
                case 0:
                        enc_u8(&e, dec_u8(&d));
                        break;
                case 1:
                        enc_u16(&e, dec_u16(&d));
                        break;
                case 2:
                        enc_u32(&e, dec_u32(&d));
                        break;
                case 3:
                        enc_u64(&e, dec_u64(&d));
                        break;
                case 4: {
                        size_t n = (size_t)(op >> 3) * 2 % (sizeof fixed + 1);

                        dec_fixed(&d, fixed, n);
                        enc_fixed(&e, fixed, n);
                        break;
                }
                case 5: {
                        const uint8_t *p = NULL;
                        size_t n = 0, max = (size_t)op * 4;

                        dec_var(&d, &p, &n, max);
                        if (d.err == 0 && (n > max || (n > 0 && p == NULL)))
                                abort();
                        if (n > 0) {
                                volatile uint8_t sink = p[0] ^ p[n - 1]; /* in bounds (ASan) */
                                (void)sink;
                        }
                        enc_var(&e, p, n);
                        break;
                }
                }
        }
        if (dec_finish(&d) == 0) {
                if (enc_error(&e) != 0 || e.len != size || (size > 0 && memcmp(e.buf, data, size)))
                        abort();
        } else if (d.err == 0 && d.off == d.len) {
                abort(); /* dec_finish must agree with the state */
        }
        enc_release(&e);
}

static void fuzz_words(const uint8_t *data, size_t size)
{
        char *text, out[16 * 9 + 1];
        uint8_t buf[24], again[24];
        size_t nwords;

        if (size < 1)
                return;
        nwords = 1 + data[0] % 16;
        text = malloc(size);
        if (text == NULL)
                return;
        memcpy(text, data + 1, size - 1);
        text[size - 1] = '\0';
        memset(buf, 0x5a, sizeof buf);
        if (words_decode(buf, sizeof buf, text, nwords) == 0) {
                if (words_encode(out, sizeof out, buf, sizeof buf, nwords, ' ') != 0)
                        abort();
                if (words_decode(again, sizeof again, out, nwords) != 0 ||
                    memcmp(again, buf, sizeof buf) != 0)
                        abort();
        } else {
                for (size_t i = 0; i < sizeof buf; i++)
                        if (buf[i] != 0x5a)
                                abort(); /* untouched on error */
        }
        free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        if (size == 0)
                return 0;
        if (data[0] & 1)
                fuzz_words(data + 1, size - 1);
        else
                fuzz_dec(data + 1, size - 1);
        return 0;
}
