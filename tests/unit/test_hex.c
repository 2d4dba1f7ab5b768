/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for util/hex.c (libsodium's constant-time codec, strict checks here). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util/hex.h"

static void test_hex(void **state)
{
        const uint8_t bin[4] = {0x00, 0xab, 0x9f, 0xff};
        uint8_t out[4] = {0};
        char h[9];

        (void)state;
        hex_encode(h, bin, 4);
        assert_string_equal(h, "00ab9fff");
        assert_int_equal(hex_decode(out, 4, "00AB9fff"), 0);
        assert_memory_equal(out, bin, 4);
        memset(out, 0x55, 4);
        assert_int_equal(hex_decode(out, 4, "00ab9ff"), -EINVAL);   /* short */
        assert_int_equal(hex_decode(out, 4, "00ab9fff0"), -EINVAL); /* long */
        assert_int_equal(hex_decode(out, 4, "00ab9fgf"), -EINVAL);  /* not hex */
        assert_int_equal(hex_decode(out, 4, "00ab 9ff"), -EINVAL);
        assert_int_equal(out[0], 0x55);                               /* untouched on error */
        assert_int_equal(hex_decode_lower(out, 4, "00ab9fffXYZ"), 0); /* a prefix */
        assert_memory_equal(out, bin, 4);
        assert_int_equal(hex_decode_lower(NULL, 4, "00ab9fff"), 0);
        assert_int_equal(hex_decode_lower(NULL, 4, "00AB9fff"), -EINVAL); /* uppercase */
        assert_int_equal(hex_decode_lower(NULL, 4, "00ab9f"), -EINVAL);
        assert_int_equal(hex_decode_lower(NULL, 4, "00ab9f:f"), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {cmocka_unit_test(test_hex)};

        return cmocka_run_group_tests(tests, NULL, NULL);
}
