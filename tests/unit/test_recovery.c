/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the recovery key (keyring/recovery.c): the 24-word
 * encoding with its checksum (round trip, unknown words, wrong checksum,
 * single-word changes) and the derivation of the RECOVERY device (fixed
 * vector, deterministic, bound to region and GENESIS, domain-separated).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/kdf.h"
#include "crypto/secmem.h"
#include "crypto/sig.h"
#include "crypto/words.h"
#include "keyring/identity.h"
#include "keyring/recovery.h"
#include "util/hex.h"

/* Known answers (doc/FORMAT-keyring.md "Recovery key"): S = 00 01 .. 1f,
 * region id = 32 x 0x11, GENESIS hash = 32 x 0x22. */
static const char kat_words[] =
    "abandon amount liar amount expire adjust cage candy arch gather drum "
    "bullet absurd math era live bid rhythm alien crouch range attend "
    "journey track";
static const char kat_device[] = "3d785d35d8716dace1f7b5e65a9871e6";

static void seq_secret(uint8_t s[32])
{
        size_t i;

        for (i = 0; i < 32; i++)
                s[i] = (uint8_t)i;
}

static void test_words_known_answer(void **state)
{
        uint8_t s[32], back[32];
        char w[RECOVERY_WORDS_MAX];

        (void)state;
        seq_secret(s);
        assert_int_equal(recovery_words_encode(w, sizeof(w), s), 0);
        assert_string_equal(w, kat_words);
        assert_int_equal(recovery_words_decode(back, w), 0);
        assert_memory_equal(back, s, 32);
}

static void test_words_round_trip(void **state)
{
        uint8_t s[32], back[32];
        char w[RECOVERY_WORDS_MAX], upper[RECOVERY_WORDS_MAX];
        size_t i, j, n;

        (void)state;
        for (i = 0; i < 64; i++) {
                secmem_random(s, sizeof(s));
                if (i == 0)
                        memset(s, 0, sizeof(s));
                if (i == 1)
                        memset(s, 0xff, sizeof(s));
                assert_int_equal(recovery_words_encode(w, sizeof(w), s), 0);
                for (j = 0, n = 1; w[j] != '\0'; j++)
                        n += w[j] == ' ';
                assert_int_equal(n, RECOVERY_WORDS);
                memset(back, 0xaa, sizeof(back));
                assert_int_equal(recovery_words_decode(back, w), 0);
                assert_memory_equal(back, s, 32);
                /* Case and separators do not matter (one word a line, dashes). */
                for (j = 0; w[j] != '\0'; j++)
                        upper[j] = w[j] == ' ' ? (j % 2 ? '\n' : '-') : (char)(w[j] - 'a' + 'A');
                upper[j] = '\0';
                assert_int_equal(recovery_words_decode(back, upper), 0);
                assert_memory_equal(back, s, 32);
        }
        /* Too small a buffer. */
        assert_int_equal(recovery_words_encode(w, 20, s), -ENOSPC);
}

static void test_words_refused(void **state)
{
        uint8_t s[32], back[32], keep[32];
        char w[RECOVERY_WORDS_MAX], bad[RECOVERY_WORDS_MAX + 32];

        (void)state;
        seq_secret(s);
        assert_int_equal(recovery_words_encode(w, sizeof(w), s), 0);
        memset(back, 0x5c, sizeof(back));
        memcpy(keep, back, sizeof(keep));
        /* A word that is not in the list. */
        snprintf(bad, sizeof(bad), "sealsync %s", strchr(w, ' ') + 1);
        assert_int_equal(recovery_words_decode(back, bad), -EINVAL);
        /* 23 and 25 words. */
        assert_int_equal(recovery_words_decode(back, strchr(w, ' ') + 1), -EINVAL);
        snprintf(bad, sizeof(bad), "%s abandon", w);
        assert_int_equal(recovery_words_decode(back, bad), -EINVAL);
        assert_int_equal(recovery_words_decode(back, ""), -EINVAL);
        /* A wrong checksum: the last word carries 3 bits of S and the 8 check bits;
         * the list's neighbour of the last word keeps those 3 bits. */
        snprintf(bad, sizeof(bad), "%s", w);
        {
                char *last = strrchr(bad, ' ') + 1;
                unsigned i;

                for (i = 0; i < 2048; i++)
                        if (strcmp(words_at(i), last) == 0)
                                break;
                assert_true(i < 2048);
                snprintf(last, RECOVERY_WORDS_MAX - (size_t)(last - bad), "%s", words_at(i ^ 1));
        }
        assert_int_equal(recovery_words_decode(back, bad), -EBADMSG);
        assert_memory_equal(back, keep, 32); /* untouched on every error */
}

/*
 * Changes of one word into another word of the list, at each of the 24
 * positions.  24 words of 11 bits hold 256 bits of secret and only 8 check
 * bits, so no checksum can catch every such change (a code that does needs
 * a whole check word: Singleton bound); this one catches each with
 * probability 255/256, and a change it misses gives another secret (other
 * keys: `recover` then finds no recovery device and refuses).  Checked, for
 * SPREAD alternatives at each position and every change of the last word
 * that keeps its 3 secret bits (a decode costs ~3 ms: constant-time lookup):
 * each change fails (-EBADMSG) or decodes to a different secret, each
 * check-bits-only change fails, and the misses stay near 1 in 256.
 */
#define SPREAD 40

/* Decodes W (24 words in TOK) with word POS replaced by word I: the result. */
static int decode_changed(char *tok[RECOVERY_WORDS], unsigned pos, unsigned i, uint8_t back[32])
{
        char text[RECOVERY_WORDS_MAX + 16];
        size_t k, off = 0;

        for (k = 0; k < RECOVERY_WORDS; k++)
                off += (size_t)snprintf(text + off, sizeof(text) - off, "%s%s", k ? " " : "",
                                        k == pos ? words_at(i) : tok[k]);
        return recovery_words_decode(back, text);
}

static unsigned word_index(const char *w)
{
        unsigned i;

        for (i = 0; i < 2048 && strcmp(words_at(i), w) != 0; i++)
                ;
        assert_true(i < 2048);
        return i;
}

/* Splits W (words separated by single spaces) in place into TOK[0..N). */
static void split_words(char *w, char **tok, size_t n)
{
        size_t k;

        for (k = 0; k < n; k++) {
                tok[k] = w;
                w = strchr(w, ' ');
                if (w == NULL) {
                        assert_int_equal(k, n - 1);
                        return;
                }
                *w++ = '\0';
        }
        fail_msg("more than %zu words", n);
}

static void test_single_word_changes(void **state)
{
        uint8_t s[32], back[32];
        char w[RECOVERY_WORDS_MAX], *tok[RECOVERY_WORDS];
        unsigned pos, j, i, orig, misses = 0, total = 0;
        int rc;

        (void)state;
        secmem_random(s, sizeof(s));
        assert_int_equal(recovery_words_encode(w, sizeof(w), s), 0);
        split_words(w, tok, RECOVERY_WORDS);
        for (pos = 0; pos < RECOVERY_WORDS; pos++) {
                orig = word_index(tok[pos]);
                for (j = 1; j <= SPREAD; j++) {
                        i = (orig + j * 51) % 2048; /* 51 is odd: SPREAD distinct words */
                        rc = decode_changed(tok, pos, i, back);
                        total++;
                        if (rc == 0) {
                                misses++;
                                assert_memory_not_equal(back, s, 32);
                        } else {
                                assert_int_equal(rc, -EBADMSG);
                        }
                }
        }
        /* The last word's check bits alone: always caught. */
        orig = word_index(tok[RECOVERY_WORDS - 1]);
        for (i = orig & ~0xffu; i < (orig & ~0xffu) + 256; i++)
                if (i != orig)
                        assert_int_equal(decode_changed(tok, RECOVERY_WORDS - 1, i, back),
                                         -EBADMSG);
        assert_int_equal(total, RECOVERY_WORDS * SPREAD);
        /* Expected 960 / 256 < 4; far more would mean a broken checksum. */
        assert_true(misses < 24);
}

static void test_derivation(void **state)
{
        struct identity *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL;
        uint8_t s[32], s2[32], region[32], genesis[32], other[32], pk[32], sk[64];
        char hex[2 * IDENTITY_ID_LEN + 1];

        (void)state;
        seq_secret(s);
        memset(region, 0x11, 32);
        memset(genesis, 0x22, 32);
        memset(other, 0x23, 32);
        assert_int_equal(recovery_identity(s, region, genesis, &a), 0);
        hex_encode(hex, a->device_id, IDENTITY_ID_LEN);
        assert_string_equal(hex, kat_device);
        assert_string_equal(a->name, RECOVERY_DEVICE_NAME);
        assert_non_null(a->sign_sk);
        assert_non_null(a->box_sk);
        /* Deterministic. */
        assert_int_equal(recovery_identity(s, region, genesis, &b), 0);
        assert_memory_equal(a->device_id, b->device_id, IDENTITY_ID_LEN);
        assert_memory_equal(a->sign_sk, b->sign_sk, 64);
        assert_memory_equal(a->box_sk, b->box_sk, 32);
        /* Bound to the GENESIS, the region and the secret. */
        assert_int_equal(recovery_identity(s, region, other, &c), 0);
        assert_memory_not_equal(a->sign_pk, c->sign_pk, 32);
        assert_memory_not_equal(a->box_pk, c->box_pk, 32);
        assert_int_equal(recovery_identity(s, other, genesis, &d), 0);
        assert_memory_not_equal(a->sign_pk, d->sign_pk, 32);
        memcpy(s2, s, 32);
        s2[31] ^= 1;
        assert_int_equal(recovery_identity(s2, region, genesis, &e), 0);
        assert_memory_not_equal(a->sign_pk, e->sign_pk, 32);
        /* Domain separation: the two seeds differ from each other and from S. */
        assert_memory_not_equal(a->sign_sk, a->box_sk, 32);
        assert_int_equal(sig_keypair_seed(pk, sk, s), 0);
        assert_memory_not_equal(pk, a->sign_pk, 32);
        identity_free(a);
        identity_free(b);
        identity_free(c);
        identity_free(d);
        identity_free(e);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_words_known_answer), cmocka_unit_test(test_words_round_trip),
            cmocka_unit_test(test_words_refused),      cmocka_unit_test(test_single_word_changes),
            cmocka_unit_test(test_derivation),
        };

        if (secmem_init() != 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
