/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_CRYPTO_WORDS_H
#define SEALSYNC_CRYPTO_WORDS_H
/*
 * Bytes <-> words with the BIP-39 English list (2048 words, 11 bits each,
 * vendored in crypto/wordlist.c; see doc/THIRD-PARTY.md).
 */
#include <stddef.h>
#include <stdint.h>

/*
 * Writes the first NWORDS*11 bits of DATA (LEN bytes, LEN*8 >= NWORDS*11)
 * as NWORDS words separated by SEP into OUT (size OUTLEN, NUL-terminated).
 * Returns 0, -EINVAL or -ENOSPC.
 */
int words_encode(char *out, size_t outlen, const uint8_t *data, size_t len, size_t nwords, char sep)
    __attribute__((warn_unused_result));

/*
 * Parses NWORDS words (separated by spaces, tabs or '-', case-insensitive)
 * from TEXT into OUT (LEN bytes, LEN*8 >= NWORDS*11, trailing bits zero).
 * Returns 0, or -EINVAL naming nothing (the caller quotes the input) if a
 * word is unknown or the count differs.  OUT untouched on error.
 */
int words_decode(uint8_t *out, size_t len, const char *text, size_t nwords)
    __attribute__((warn_unused_result));

/* The word at INDEX (0..2047), or NULL. */
const char *words_at(unsigned index);

#endif
