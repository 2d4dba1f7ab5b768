#include "util/hex.h"

#include <errno.h>
#include <string.h>

void hex_encode(char *out, const uint8_t *in, size_t len)
{
        static const char digits[] = "0123456789abcdef";
        size_t i;

        for (i = 0; i < len; i++) {
                out[2 * i] = digits[in[i] >> 4];
                out[2 * i + 1] = digits[in[i] & 15];
        }
        out[2 * len] = '\0';
}

static int hex_nibble(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

int hex_decode(uint8_t *out, size_t len, const char *in)
{
        uint8_t tmp[256];
        size_t i;

        if (len > sizeof(tmp) || strlen(in) != 2 * len)
                return -EINVAL;
        for (i = 0; i < len; i++) {
                int hi = hex_nibble(in[2 * i]);
                int lo = hex_nibble(in[2 * i + 1]);

                if (hi < 0 || lo < 0)
                        return -EINVAL;
                tmp[i] = (uint8_t)(hi << 4 | lo);
        }
        memcpy(out, tmp, len);
        return 0;
}

int hex_decode_lower(uint8_t *out, size_t len, const char *in)
{
        size_t i;

        for (i = 0; i < 2 * len; i++) {
                char c = in[i];
                int v;

                if (c >= '0' && c <= '9')
                        v = c - '0';
                else if (c >= 'a' && c <= 'f')
                        v = c - 'a' + 10;
                else
                        return -EINVAL; /* also the terminator of a string too short */
                if (out != NULL) {
                        if (i % 2 == 0)
                                out[i / 2] = (uint8_t)(v << 4);
                        else
                                out[i / 2] |= (uint8_t)v;
                }
        }
        return 0;
}
