/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the strict S3 XML reader (sync/s3xml.c) and s3_parse_u64:
 * well-formed replies, and hostile ones (markup hidden in comments or CDATA,
 * nested fake elements, truncation, huge numbers, spoofed IsTruncated).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "sync/s3xml.h"

#define KEY "ListBucketResult/Contents/Key"
#define TRUNC "ListBucketResult/IsTruncated"

static int get(const char *doc, const char *path, char *out, size_t cap)
{
        return s3xml_get(doc, strlen(doc), path, out, cap);
}

static void test_wellformed(void **state)
{
        const char *doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                          "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                          "<Name>b</Name><IsTruncated>false</IsTruncated>"
                          "<Contents><Key>a&amp;b&#x41;&#66;&lt;</Key><Size>12</Size></Contents>"
                          "<!-- a comment --><Prefix/></ListBucketResult>\n";
        char out[64];

        (void)state;
        assert_int_equal(get(doc, KEY, out, sizeof(out)), 0);
        assert_string_equal(out, "a&bAB<");
        assert_int_equal(get(doc, TRUNC, out, sizeof(out)), 0);
        assert_string_equal(out, "false");
        assert_int_equal(get(doc, "ListBucketResult/Prefix", out, sizeof(out)), 0);
        assert_string_equal(out, "");
        assert_int_equal(get(doc, "ListBucketResult/Missing", out, sizeof(out)), -ENOENT);
        /* Not a leaf. */
        assert_int_equal(get(doc, "ListBucketResult/Contents", out, sizeof(out)), -EINVAL);
        /* Does not fit. */
        assert_int_equal(get(doc, KEY, out, 3), -EINVAL);
        /* Leading spaces (S3's CompleteMultipartUpload keep-alive) and a UTF-8 reference. */
        assert_int_equal(
            get("  <Error><Code>&#xe9;</Code></Error>", "Error/Code", out, sizeof(out)), 0);
        assert_string_equal(out, "\xc3\xa9");
}

static void test_hidden_markup(void **state)
{
        char out[64];

        (void)state;
        /* A Key inside a comment is no Key. */
        assert_int_equal(get("<ListBucketResult><!--<Contents><Key>x</Key></Contents>-->"
                             "</ListBucketResult>",
                             KEY, out, sizeof(out)),
                         -ENOENT);
        /* CDATA is refused outright. */
        assert_int_equal(get("<ListBucketResult><Contents><Key><![CDATA[x]]></Key></Contents>"
                             "</ListBucketResult>",
                             KEY, out, sizeof(out)),
                         -EINVAL);
        /* DOCTYPE, processing instructions, unknown entities. */
        assert_int_equal(get("<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>", "a", out, sizeof(out)),
                         -EINVAL);
        assert_int_equal(get("<a><?pi x?></a>", "a", out, sizeof(out)), -EINVAL);
        assert_int_equal(get("<a>&e;</a>", "a", out, sizeof(out)), -EINVAL);
        assert_int_equal(get("<a>&#0;</a>", "a", out, sizeof(out)), -EINVAL);
        assert_int_equal(get("<a>&#xd800;</a>", "a", out, sizeof(out)), -EINVAL);
        assert_int_equal(get("<a>&#x110000;</a>", "a", out, sizeof(out)), -EINVAL);
        /* A comment may not hide "--". */
        assert_int_equal(get("<a><!-- x -- y --></a>", "a", out, sizeof(out)), -EINVAL);
}

static void test_nesting(void **state)
{
        char out[64];

        (void)state;
        /* A fake Contents nested in a Contents is at another path. */
        assert_int_equal(get("<ListBucketResult><Contents><Contents><Key>fake</Key></Contents>"
                             "</Contents></ListBucketResult>",
                             KEY, out, sizeof(out)),
                         -ENOENT);
        /* IsTruncated spoofed inside a Key's sibling or a Contents is not the page's. */
        assert_int_equal(get("<ListBucketResult><Contents><IsTruncated>true</IsTruncated>"
                             "</Contents></ListBucketResult>",
                             TRUNC, out, sizeof(out)),
                         -ENOENT);
        /* Twice at the same path is refused. */
        assert_int_equal(get("<ListBucketResult><IsTruncated>false</IsTruncated>"
                             "<IsTruncated>true</IsTruncated></ListBucketResult>",
                             TRUNC, out, sizeof(out)),
                         -EINVAL);
        /* Mismatched, mixed content, two roots, text outside the root. */
        assert_int_equal(get("<a><b>x</a></b>", "a/b", out, sizeof(out)), -EINVAL);
        assert_int_equal(get("<a>t<b>x</b></a>", "a/b", out, sizeof(out)), -EINVAL);
        assert_int_equal(get("<a>x</a><a>y</a>", "a", out, sizeof(out)), -EINVAL);
        assert_int_equal(get("<a>x</a>junk", "a", out, sizeof(out)), -EINVAL);
}

static void test_bounds(void **state)
{
        char doc[S3XML_TEXT_MAX + 64], out[64];
        size_t i, n = 0;

        (void)state;
        /* Truncated documents. */
        assert_int_equal(get("<ListBucketResult><Contents><Key>x</Key>", KEY, out, sizeof(out)),
                         -EINVAL);
        assert_int_equal(get("<ListBucketResult><Contents><Key>x</Ke", KEY, out, sizeof(out)),
                         -EINVAL);
        assert_int_equal(get("<a>&am", "a", out, sizeof(out)), -EINVAL);
        assert_int_equal(get("", "a", out, sizeof(out)), -EINVAL);
        /* Depth. */
        for (i = 0; i <= S3XML_DEPTH_MAX; i++)
                n += (size_t)snprintf(doc + n, sizeof(doc) - n, "<a>");
        assert_int_equal(get(doc, "a", out, sizeof(out)), -EINVAL);
        /* Text longer than S3XML_TEXT_MAX. */
        n = (size_t)snprintf(doc, sizeof(doc), "<a>");
        memset(doc + n, 'x', S3XML_TEXT_MAX + 1);
        n += S3XML_TEXT_MAX + 1;
        snprintf(doc + n, sizeof(doc) - n, "</a>");
        assert_int_equal(get(doc, "a", out, sizeof(out)), -EINVAL);
        /* A NUL byte inside the document. */
        assert_int_equal(s3xml_get("<a>x\0y</a>", 10, "a", out, sizeof(out)), -EINVAL);
}

static void test_u64(void **state)
{
        uint64_t v = 7;

        (void)state;
        assert_int_equal(s3_parse_u64("18446744073709551615", 20, &v), 0);
        assert_true(v == UINT64_MAX);
        assert_int_equal(s3_parse_u64("18446744073709551616", 20, &v), -1);
        assert_int_equal(s3_parse_u64("99999999999999999999999", 23, &v), -1);
        assert_int_equal(s3_parse_u64("", 0, &v), -1);
        assert_int_equal(s3_parse_u64("-1", 2, &v), -1);
        assert_int_equal(s3_parse_u64("1 ", 2, &v), -1);
        assert_int_equal(s3_parse_u64("42", 2, &v), 0);
        assert_true(v == 42);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_wellformed), cmocka_unit_test(test_hidden_markup),
            cmocka_unit_test(test_nesting),    cmocka_unit_test(test_bounds),
            cmocka_unit_test(test_u64),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
