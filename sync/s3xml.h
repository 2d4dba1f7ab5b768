/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_SYNC_S3XML_H
#define SEALSYNC_SYNC_S3XML_H
/*
 * A strict, small XML reader for S3 replies (internal to sync/; used by
 * store_s3.c).  Every reply is hostile: the reader accepts only a
 * well-formed document of elements with one root, attributes in start tags
 * (name="v" or name='v'), comments between markup, text with the entities
 * &amp; &lt; &gt; &quot; &apos; and numeric character references (decoded to
 * UTF-8; NUL and surrogates refused), and an optional <?xml ...?>
 * declaration at the very start.  It refuses DOCTYPE, other processing
 * instructions, CDATA sections, mixed content (text beside child elements),
 * mismatched or unclosed tags, depth above S3XML_DEPTH_MAX, names longer
 * than S3XML_NAME_MAX, and element text longer than S3XML_TEXT_MAX bytes.
 * Elements are named by their exact path from the root, e.g.
 * "ListBucketResult/Contents/Key".
 */
#include <stddef.h>
#include <stdint.h>

#define S3XML_DEPTH_MAX 16
#define S3XML_NAME_MAX 64
#define S3XML_TEXT_MAX 4096
#define S3XML_PATH_MAX (S3XML_DEPTH_MAX * (S3XML_NAME_MAX + 1))

enum s3xml_event {
        S3XML_OPEN,  /* an element starts (PATH ends with its name; TEXT is "") */
        S3XML_CLOSE, /* it ends: TEXT is its decoded text (N bytes, NUL terminated) if LEAF,
                        else "" (it had child elements) */
};

/*
 * Called for each event; a non-zero return stops the parse and is returned
 * by s3xml_parse (use values other than -1).  TEXT never holds a NUL byte.
 */
typedef int (*s3xml_cb)(void *arg, enum s3xml_event ev, const char *path, int leaf,
                        const char *text, size_t n);

/* Parses DOC (N bytes).  Returns 0, -1 if it is not accepted, or the callback's value. */
int s3xml_parse(const char *doc, size_t n, s3xml_cb cb, void *arg)
    __attribute__((warn_unused_result));

/*
 * Decoded text of the leaf element at exactly PATH in DOC into OUT (CAP
 * bytes, NUL terminated).  Returns 0; -ENOENT if there is no such element;
 * -EINVAL if DOC is not accepted, the element occurs twice or has children,
 * or its text does not fit.
 */
int s3xml_get(const char *doc, size_t n, const char *path, char *out, size_t cap)
    __attribute__((warn_unused_result));

/* Parses a decimal uint64 of exactly N bytes (digits only, no sign, no overflow); 0 or -1. */
int s3_parse_u64(const char *s, size_t n, uint64_t *out) __attribute__((warn_unused_result));

#endif
