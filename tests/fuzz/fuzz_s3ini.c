/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the strict INI reader (sync/s3ini.c) that reads
 * ~/.aws/config, ~/.aws/credentials and a region's saved S3 settings.  The
 * input is the file.  The parse must never crash, leak or read out of
 * bounds; every value it returns lies inside the document, holds no line
 * break or NUL, and has no blank at either end; a refused document sets no
 * key.  Both the strict and the nested-tolerant modes run, on a fixed
 * section and on "default".
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sync/s3ini.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_value(const char *doc, size_t n, const struct s3ini_key *k)
{
        if (!k->set)
                return;
        if (k->v < doc || k->n > n || k->v + k->n > doc + n)
                abort();
        if (memchr(k->v, '\n', k->n) != NULL || memchr(k->v, '\0', k->n) != NULL)
                abort();
        if (k->n > 0 && (k->v[0] == ' ' || k->v[0] == '\t' || k->v[k->n - 1] == ' ' ||
                         k->v[k->n - 1] == '\t' || k->v[k->n - 1] == '\r'))
                abort();
}

static void run(const char *doc, size_t n, const char *section, int nested_ok)
{
        struct s3ini_key keys[] = {{"region", NULL, 0, 0},
                                   {"endpoint_url", NULL, 0, 0},
                                   {"AWS_ACCESS_KEY_ID", NULL, 0, 0}};
        size_t i, nk = sizeof(keys) / sizeof(keys[0]);
        int rc = s3ini_parse("fuzz", doc, n, section, nested_ok, keys, nk);

        if (rc != 0 && rc != -ENOENT && rc != -EINVAL)
                abort();
        for (i = 0; i < nk; i++) {
                if (rc != 0 && rc != -ENOENT && keys[i].set)
                        abort(); /* the caller must not use what a refused file said */
                if (rc == 0)
                        check_value(doc, n, &keys[i]);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *doc;

        doc = malloc(size + 1); /* exactly SIZE bytes are readable by the parser */
        if (doc == NULL)
                return 0;
        memcpy(doc, data, size);
        run(doc, size, "default", 0);
        run(doc, size, "profile s3", 1);
        free(doc);
        return 0;
}
