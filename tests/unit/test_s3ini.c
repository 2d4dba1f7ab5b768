/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for sync/s3ini.c: the strict INI reader of the AWS files and saved settings. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "sync/s3ini.h"

enum { K_REGION, K_ENDPOINT, K_N };

/* Parses DOC's SECTION into K (region, endpoint_url); returns s3ini_parse's result. */
static int parse(const char *doc, const char *section, int nested_ok, struct s3ini_key k[K_N])
{
        k[K_REGION] = (struct s3ini_key){"region", NULL, 0, 0};
        k[K_ENDPOINT] = (struct s3ini_key){"endpoint_url", NULL, 0, 0};
        return s3ini_parse("test", doc, strlen(doc), section, nested_ok, k, K_N);
}

static void assert_value(const struct s3ini_key *k, const char *want)
{
        assert_true(k->set);
        assert_int_equal(k->n, strlen(want));
        assert_memory_equal(k->v, want, k->n);
}

static void test_sections_and_values(void **state)
{
        struct s3ini_key k[K_N];
        const char *doc = "# comment\r\n; another\n\n[default]\nregion = eu-west-1\n"
                          "[profile s3]\r\nRegion\t=  us-east-2 \r\nENDPOINT_URL=http://h:9000\n"
                          "output = json\n";
        const char *nested = "[profile s3]\ns3 =\n  region = nested\nendpoint_url = e\n";

        (void)state;
        assert_int_equal(parse(doc, "default", 0, k), 0);
        assert_value(&k[K_REGION], "eu-west-1");
        assert_false(k[K_ENDPOINT].set);
        assert_int_equal(parse(doc, "profile s3", 0, k), 0); /* keys without regard to case */
        assert_value(&k[K_REGION], "us-east-2");
        assert_value(&k[K_ENDPOINT], "http://h:9000");
        /* An indented line (a nested block's): refused in strict mode, skipped otherwise. */
        assert_int_equal(parse(nested, "profile s3", 0, k), -EINVAL);
        assert_false(k[K_ENDPOINT].set);
        assert_int_equal(parse(nested, "profile s3", 1, k), 0);
        assert_false(k[K_REGION].set);
        assert_value(&k[K_ENDPOINT], "e");
        assert_int_equal(parse(doc, "missing", 0, k), -ENOENT);
        assert_int_equal(parse("[ default ]\nregion=x", "default", 0, k), 0); /* no final LF */
        assert_value(&k[K_REGION], "x");
        assert_int_equal(parse("[default]\nregion =\n", "default", 0, k), 0);
        assert_value(&k[K_REGION], "");
}

static void test_refusals(void **state)
{
        static const char *const bad[] = {
            "[default]\nregion = a\nregion = b\n", /* a wanted key twice */
            "[default]\nregion\n",                 /* no '=' */
            "[default]\n= value\n",                /* no key */
            "[]\nregion = a\n",                    /* empty section name */
            "[default\nregion = a\n",              /* unclosed section */
            "[default]\nregion = a\n  nested = 1\n",
        };
        static const char nul_doc[] = "[default]\nregion = a\0b\n";
        struct s3ini_key k[K_N];
        size_t i;

        (void)state;
        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                assert_int_equal(parse(bad[i], "default", 0, k), -EINVAL);
                assert_false(k[K_REGION].set); /* nothing of a refused file is used */
        }
        k[K_REGION] = (struct s3ini_key){"region", NULL, 0, 0};
        k[K_ENDPOINT] = (struct s3ini_key){"endpoint_url", NULL, 0, 0};
        assert_int_equal(s3ini_parse("test", nul_doc, sizeof(nul_doc) - 1, "default", 0, k, K_N),
                         -EINVAL);
        assert_false(k[K_REGION].set);
        /* A duplicate key outside the wanted section, or an unwanted key twice, is not ours. */
        assert_int_equal(
            parse("[a]\nregion=1\nregion=2\n[default]\nregion=3\nout=1\nout=2\n", "default", 0, k),
            0);
        assert_value(&k[K_REGION], "3");
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_sections_and_values),
            cmocka_unit_test(test_refusals),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
