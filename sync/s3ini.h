/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_SYNC_S3INI_H
#define SEALSYNC_SYNC_S3INI_H
/*
 * The strict INI reader for the AWS shared files (~/.aws/credentials,
 * ~/.aws/config) and a region's saved S3 settings (internal to sync/ and
 * cli/).  Accepted lines: blank, comments (# or ;), [section] and
 * "key = value" (key matched without regard to case, spaces around both
 * trimmed, CR LF accepted).  Indented lines (the AWS tools' nested
 * "s3 =" blocks) are skipped if NESTED_OK, else refused.  Anything else,
 * a NUL byte, or a wanted key twice in the section is an error naming the
 * line, never its content (it may hold a secret).
 */
#include <stddef.h>

struct s3ini_key {
        const char *name; /* in: the key */
        const char *v;    /* out: its value (points into the document), N bytes */
        size_t n;
        int set;
};

/*
 * Fills KEYS[0..NKEYS) from section SECTION of DOC (N bytes; PATH names it
 * in messages).  Returns 0; -ENOENT if there is no such section; -EINVAL
 * (logged) on a malformed document, which then leaves every key unset.
 */
int s3ini_parse(const char *path, const char *doc, size_t n, const char *section, int nested_ok,
                struct s3ini_key *keys, size_t nkeys) __attribute__((warn_unused_result));

#endif
