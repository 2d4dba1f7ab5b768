/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bytes <-> BIP-39 English words, 11 bits per word, most significant bit
 * first.  Words may carry secrets (recovery keys, invite codes), so the
 * index <-> word mapping scans the whole list with branch-free selects
 * instead of indexing or binary search: timing depends only on public
 * lengths, never on which word it is.  See doc/FORMAT.md "Words".
 */
#include "crypto/words.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "crypto/wordlist.h"

#define WORD_BITS 11

/* 0xffffffff if A == B else 0, without branches. */
static uint32_t ct_eq_u32(uint32_t a, uint32_t b)
{
        uint32_t x = a ^ b;

        return (uint32_t)0 - (uint32_t)(1 & ((x - 1) >> 31) & ~(x >> 31));
}

/* Copies word INDEX, NUL-padded, into OUT in constant time. */
static void word_select(char out[static WORDLIST_MAX_WORD + 1], uint32_t index)
{
        unsigned i, j;

        memset(out, 0, WORDLIST_MAX_WORD + 1);
        for (i = 0; i < WORDLIST_LEN; i++) {
                const char *w = wordlist_english[i];
                uint8_t m = (uint8_t)ct_eq_u32(i, index);
                size_t wl = strlen(w);

                for (j = 0; j < wl; j++)
                        out[j] = (char)((uint8_t)out[j] | ((uint8_t)w[j] & m));
        }
}

/* Index of the NUL-padded lowercase TOKEN, or -1; constant time in the list. */
static int word_lookup(const char tok[static WORDLIST_MAX_WORD + 1])
{
        uint32_t found = 0, idx = 0;
        unsigned i, j;

        for (i = 0; i < WORDLIST_LEN; i++) {
                const char *w = wordlist_english[i];
                size_t wl = strlen(w);
                uint32_t diff = 0;

                for (j = 0; j <= WORDLIST_MAX_WORD; j++) {
                        uint8_t c = j < wl ? (uint8_t)w[j] : 0;

                        diff |= (uint32_t)(c ^ (uint8_t)tok[j]);
                }
                uint32_t m = ct_eq_u32(diff, 0);
                found |= m;
                idx |= i & m;
        }
        return found ? (int)idx : -1;
}

static uint32_t get_bits(const uint8_t *data, size_t bitoff)
{
        uint32_t v = 0;
        size_t b;

        for (b = 0; b < WORD_BITS; b++) {
                size_t bit = bitoff + b;

                v = (v << 1) | ((data[bit / 8] >> (7 - bit % 8)) & 1u);
        }
        return v;
}

static void put_bits(uint8_t *data, size_t bitoff, uint32_t v)
{
        size_t b;

        for (b = 0; b < WORD_BITS; b++) {
                size_t bit = bitoff + b;
                uint8_t one = (uint8_t)((v >> (WORD_BITS - 1 - b)) & 1u);

                data[bit / 8] |= (uint8_t)(one << (7 - bit % 8));
        }
}

int words_encode(char *out, size_t outlen, const uint8_t *data, size_t len, size_t nwords, char sep)
{
        char w[WORDLIST_MAX_WORD + 1];
        size_t i, pos = 0, need = 0, wl;
        int rc = -ENOSPC;

        if (out == NULL || data == NULL || nwords == 0 || sep == '\0')
                return -EINVAL;
        if (len > SIZE_MAX / 8 || nwords > len * 8 / WORD_BITS)
                return -EINVAL;
        /* Pass 1: the exact length, so nothing is written if it does not fit. */
        for (i = 0; i < nwords; i++) {
                word_select(w, get_bits(data, i * WORD_BITS));
                need += strlen(w) + 1; /* the separator, or the final NUL */
        }
        if (need > outlen)
                goto cleanup_word;
        for (i = 0; i < nwords; i++) {
                word_select(w, get_bits(data, i * WORD_BITS));
                wl = strlen(w);
                memcpy(out + pos, w, wl);
                pos += wl;
                out[pos++] = i + 1 < nwords ? sep : '\0';
        }
        rc = 0;
cleanup_word:
        sodium_memzero(w, sizeof w);
        return rc;
}

static int is_sep(char c)
{
        return c == ' ' || c == '\t' || c == '-' || c == '\r' || c == '\n';
}

/*
 * Reads the next token at *S into TOK (lowercased, NUL-padded).  Returns 1
 * with a token, 0 at the end, -1 for a token that cannot be a word.
 */
static int next_token(const char **s, char tok[static WORDLIST_MAX_WORD + 1])
{
        const char *p = *s;
        size_t n = 0;
        int rc = 1;

        while (*p != '\0' && is_sep(*p))
                p++;
        if (*p == '\0') {
                *s = p;
                return 0;
        }
        memset(tok, 0, WORDLIST_MAX_WORD + 1);
        for (; *p != '\0' && !is_sep(*p); p++, n++) {
                char c = *p;

                if (c >= 'A' && c <= 'Z')
                        c = (char)(c - 'A' + 'a');
                if (n >= WORDLIST_MAX_WORD || c < 'a' || c > 'z')
                        rc = -1;
                else
                        tok[n] = c;
        }
        *s = p;
        return rc;
}

int words_decode(uint8_t *out, size_t len, const char *text, size_t nwords)
{
        char tok[WORDLIST_MAX_WORD + 1];
        const char *s;
        size_t count = 0;
        int t, idx, rc = -EINVAL;

        if (out == NULL || text == NULL || nwords == 0)
                return -EINVAL;
        if (len > SIZE_MAX / 8 || nwords > len * 8 / WORD_BITS)
                return -EINVAL;
        /* Pass 1: validate every word and the count, so OUT is untouched on error. */
        for (s = text; (t = next_token(&s, tok)) != 0; count++)
                if (t < 0 || word_lookup(tok) < 0)
                        goto cleanup_tok;
        if (count != nwords)
                goto cleanup_tok;
        memset(out, 0, len);
        for (s = text, count = 0; next_token(&s, tok) == 1; count++) {
                idx = word_lookup(tok);
                put_bits(out, count * WORD_BITS, (uint32_t)idx);
        }
        rc = 0;
cleanup_tok:
        sodium_memzero(tok, sizeof tok);
        return rc;
}

const char *words_at(unsigned index)
{
        if (index >= WORDLIST_LEN)
                return NULL;
        return wordlist_english[index];
}
