/* SPDX-License-Identifier: Apache-2.0 */
#include "util/hex.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

/*
 * Hex of keys and hashes goes through libsodium's constant-time codec; the
 * strictness (exact length, lowercase where required) is checked here.
 */

void hex_encode(char *out, const uint8_t *in, size_t len)
{
        (void)sodium_bin2hex(out, 2 * len + 1, in, len); /* lowercase; cannot fail at this size */
}

/* Decodes exactly 2*LEN hex digits (either case) at IN into OUT; 0 or -EINVAL. */
static int hex_exact(uint8_t *out, size_t len, const char *in)
{
        const char *end = NULL;
        size_t got = 0;

        if (sodium_hex2bin(out, len, in, 2 * len, NULL, &got, &end) != 0 || got != len ||
            end != in + 2 * len)
                return -EINVAL;
        return 0;
}

int hex_decode(uint8_t *out, size_t len, const char *in)
{
        uint8_t tmp[256];
        int rc;

        if (len > sizeof(tmp) || strlen(in) != 2 * len)
                return -EINVAL;
        rc = hex_exact(tmp, len, in);
        if (rc == 0)
                memcpy(out, tmp, len);
        sodium_memzero(tmp, sizeof(tmp));
        return rc;
}

int hex_decode_lower(uint8_t *out, size_t len, const char *in)
{
        uint8_t tmp[32];
        unsigned upper = 0;
        size_t i, n;

        /* sodium_hex2bin takes either case: refuse A-F without branching on the digits. */
        for (i = 0; i < 2 * len && in[i] != '\0'; i++)
                upper |= (unsigned)((unsigned char)in[i] - 'A') < 6u;
        if (i != 2 * len || upper != 0)
                return -EINVAL; /* also a string too short */
        if (out != NULL)
                return hex_exact(out, len, in);
        for (i = 0; i < len; i += n) { /* check only */
                n = len - i < sizeof(tmp) ? len - i : sizeof(tmp);
                if (hex_exact(tmp, n, in + 2 * i) != 0)
                        return -EINVAL;
        }
        sodium_memzero(tmp, sizeof(tmp));
        return 0;
}
