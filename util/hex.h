/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_UTIL_HEX_H
#define SEALSYNC_UTIL_HEX_H
#include <stddef.h>
#include <stdint.h>

/* Writes 2*LEN lowercase hex digits and a NUL to OUT (size >= 2*LEN+1). */
void hex_encode(char *out, const uint8_t *in, size_t len);

/*
 * Parses exactly 2*LEN hex digits (either case) from the NUL-terminated IN.
 * Returns 0, or -EINVAL if IN has another length or a non-hex digit; OUT is
 * untouched on error.
 */
int hex_decode(uint8_t *out, size_t len, const char *in) __attribute__((warn_unused_result));

/*
 * Parses exactly 2*LEN lowercase hex digits at IN (a prefix of a longer
 * string: no terminator needed) — the canonical form of store object names.
 * OUT may be NULL (check only).  Returns 0 or -EINVAL.
 */
int hex_decode_lower(uint8_t *out, size_t len, const char *in) __attribute__((warn_unused_result));

#endif
