/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the strict S3 XML reader (sync/s3xml.c).  The input
 * is a reply body.  The parse must never crash, leak or read out of bounds;
 * every event's path must be within S3XML_PATH_MAX, its text NUL terminated
 * at N with no NUL inside, and OPEN/CLOSE events must nest.  s3xml_get on a
 * listing path must agree with the parse (a document refused by one is
 * refused by the other).  Also runs s3_parse_u64 on the raw input.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync/s3xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct state {
        int depth;
};

static int check_ev(void *arg, enum s3xml_event ev, const char *path, int leaf, const char *text,
                    size_t n)
{
        struct state *st = arg;

        if (strlen(path) > S3XML_PATH_MAX || strlen(text) != n || n > S3XML_TEXT_MAX)
                abort();
        if (ev == S3XML_OPEN) {
                if (++st->depth > S3XML_DEPTH_MAX || n != 0)
                        abort();
        } else {
                if (st->depth-- <= 0 || (!leaf && n != 0))
                        abort();
        }
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct state st = {0};
        char out[64];
        uint64_t v;
        int rc, g;

        rc = s3xml_parse((const char *)data, size, check_ev, &st);
        if (rc == 0 && st.depth != 0)
                abort();
        g = s3xml_get((const char *)data, size, "ListBucketResult/Contents/Key", out, sizeof(out));
        if (rc != 0 && g != -EINVAL)
                abort();
        if (g == 0 && strlen(out) >= sizeof(out))
                abort();
        (void)s3_parse_u64((const char *)data, size, &v);
        return 0;
}
