/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for sync/recipe.c (issue #10, "Write once"): a recipe built
 * beside a pack_builder assembles to the very same pack, byte for byte; a
 * block found only in a second place is taken from there; a block found
 * nowhere, or a recipe that does not decode, never yields a pack.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/hash.h"
#include "crypto/secmem.h"
#include "sync/manifest.h"
#include "sync/pack.h"
#include "sync/recipe.h"

#define T_FILE_LEN 4096
#define T_NBLOCKS 3

/* A fake ciphertext file, a "spilled" copy of it, and which place is right. */
struct t_src {
        uint8_t file[T_FILE_LEN];
        uint8_t copy[T_FILE_LEN];
        unsigned places; /* how many places the callback offers */
        unsigned calls;
};

static const uint64_t t_off[T_NBLOCKS] = {64, 1000, 3000};
static const uint32_t t_len[T_NBLOCKS] = {40, 900, 1000};
static const uint8_t t_fid[16] = {1, 2, 3};

static int t_read(void *arg, const struct recipe_item *it, unsigned attempt, uint8_t *out)
{
        struct t_src *s = arg;

        s->calls++;
        assert_memory_equal(it->file_id, t_fid, 16);
        if (attempt >= s->places)
                return -ENOENT;
        memcpy(out, (attempt == 0 ? s->file : s->copy) + it->off, it->len);
        return 0;
}

/* Builds the same pack both ways: *PACK (pack_builder) and *REC (recipe). */
static void t_build(const struct t_src *s, const uint8_t *man, size_t mlen, uint8_t **pack,
                    size_t *plen, uint8_t phash[32], uint8_t **rec, size_t *rlen)
{
        uint8_t sha[32], want[32];
        struct pack_builder pb;
        struct recipe_builder rb;
        struct pack_entry pe;
        size_t i;

        pack_builder_init(&pb);
        recipe_builder_init(&rb);
        for (i = 0; i < T_NBLOCKS; i++) {
                assert_int_equal(
                    pack_builder_add(&pb, PACK_KIND_BLOCK, s->file + t_off[i], t_len[i], &pe), 0);
                recipe_builder_block(&rb, t_fid, t_off[i], t_len[i], pe.hash);
        }
        assert_int_equal(pack_builder_add(&pb, PACK_KIND_MANIFEST, man, mlen, &pe), 0);
        recipe_builder_inline(&rb, PACK_KIND_MANIFEST, man, (uint32_t)mlen, pe.hash);
        assert_int_equal(recipe_builder_count(&rb), T_NBLOCKS + 1);
        assert_int_equal(pack_builder_take(&pb, pack, plen, phash, sha), 0);
        sha256_hash(want, *pack, *plen);
        assert_memory_equal(sha, want, 32);
        /* The wrong size is refused, the builder kept. */
        assert_int_equal(recipe_builder_take(&rb, phash, sha, *plen + 1, rec, rlen), -EINVAL);
        assert_int_equal(recipe_builder_take(&rb, phash, sha, *plen, rec, rlen), 0);
        assert_int_equal(recipe_builder_count(&rb), 0);
        recipe_builder_release(&rb);
        pack_builder_release(&pb);
}

static void test_roundtrip(void **state)
{
        static struct t_src s;
        uint8_t man[MANIFEST_MIN_SIZE], *pack = NULL, *rec = NULL, *out = NULL, phash[32];
        uint8_t sha[32], want[32];
        size_t plen = 0, rlen = 0, i;
        struct recipe r;
        uint64_t size = 0;

        (void)state;
        for (i = 0; i < T_FILE_LEN; i++)
                s.file[i] = (uint8_t)(i * 7 + 3);
        memcpy(s.copy, s.file, sizeof(s.copy));
        memset(man, 0x5a, sizeof(man));
        t_build(&s, man, sizeof(man), &pack, &plen, phash, &rec, &rlen);
        assert_int_equal(recipe_peek_size(rec, rlen, &size), 0);
        assert_int_equal(size, plen);
        assert_int_equal(recipe_decode(rec, rlen, &r), 0);
        assert_int_equal(r.n, T_NBLOCKS + 1);
        assert_int_equal(r.version, 2);
        assert_int_equal(r.pack_size, plen);
        assert_memory_equal(r.pack_hash, phash, 32);
        sha256_hash(want, pack, plen);
        assert_memory_equal(r.sha256, want, 32);

        /* Every block in the ciphertext file: the very pack, and its SHA-256. */
        s.places = 1;
        s.calls = 0;
        assert_int_equal(recipe_assemble(&r, t_read, &s, &out, sha), 0);
        assert_memory_equal(out, pack, plen);
        assert_memory_equal(sha, want, 32);
        assert_int_equal(s.calls, T_NBLOCKS); /* one pass: each block read once */
        free(out);
        out = NULL;

        /* Block 1 rewritten in the file, its old bytes in the second place. */
        s.file[t_off[1] + 5] ^= 1;
        s.places = 2;
        s.calls = 0;
        assert_int_equal(recipe_assemble(&r, t_read, &s, &out, NULL), 0);
        assert_memory_equal(out, pack, plen);
        /* The first pass does not hash right; the checked pass tries block 1 twice. */
        assert_int_equal(s.calls, T_NBLOCKS + T_NBLOCKS + 1);
        free(out);
        out = NULL;

        /* ... and nowhere: no pack, the output untouched. */
        s.copy[t_off[1] + 5] ^= 1;
        assert_int_equal(recipe_assemble(&r, t_read, &s, &out, sha), -EIO);
        assert_null(out);
        s.places = 1;
        assert_int_equal(recipe_assemble(&r, t_read, &s, &out, sha), -EIO);
        assert_null(out);
        s.file[t_off[1] + 5] ^= 1; /* the blocks right again */
        s.copy[t_off[1] + 5] ^= 1;
        recipe_release(&r);

        /* A recipe whose SHA-256 is not the pack's: every block right, still no pack (D8). */
        rec[RECIPE_MAGIC_LEN + 8 + 32 + 3] ^= 1;
        assert_int_equal(recipe_decode(rec, rlen, &r), 0);
        s.places = 2;
        assert_int_equal(recipe_assemble(&r, t_read, &s, &out, sha), -EIO);
        assert_null(out);
        recipe_release(&r);
        rec[RECIPE_MAGIC_LEN + 8 + 32 + 3] ^= 1;
        free(pack);
        free(rec);
}

static void test_decode_rejects(void **state)
{
        static struct t_src s;
        uint8_t man[MANIFEST_MIN_SIZE], *pack = NULL, *rec = NULL, *bad, phash[32];
        size_t plen = 0, rlen = 0, i;
        struct recipe r;

        (void)state;
        memset(man, 0x11, sizeof(man));
        t_build(&s, man, sizeof(man), &pack, &plen, phash, &rec, &rlen);
        bad = malloc(rlen + 1);
        assert_non_null(bad);
        /* Every truncation, and one byte more. */
        for (i = 0; i < rlen; i++)
                assert_int_equal(recipe_decode(rec, i, &r), -EBADMSG);
        memcpy(bad, rec, rlen);
        bad[rlen] = 0;
        assert_int_equal(recipe_decode(bad, rlen + 1, &r), -EBADMSG);
        /* The magic, the size, the pack's name (invariant 4), the count, an inline record's
         * bytes (its hash no longer holds). */
        {
                const size_t at[] = {0, RECIPE_MAGIC_LEN + 7, RECIPE_MAGIC_LEN + 8 + 5,
                                     RECIPE_HDR_LEN - 1, rlen - 1};

                for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
                        memcpy(bad, rec, rlen);
                        bad[at[i]] ^= 1;
                        assert_int_equal(recipe_decode(bad, rlen, &r), -EBADMSG);
                }
        }
        /* A block's kind made unknown. */
        memcpy(bad, rec, rlen);
        bad[RECIPE_HDR_LEN] = 9;
        assert_int_equal(recipe_decode(bad, rlen, &r), -EBADMSG);
        /* A block length below the kind's bound. */
        memcpy(bad, rec, rlen);
        bad[RECIPE_HDR_LEN + 4] = 1;
        assert_int_equal(recipe_decode(bad, rlen, &r), -EBADMSG);
        free(bad);
        free(pack);
        free(rec);
}

/*
 * A version-1 recipe (an outbox written by an older build): decoded, and
 * assembled into the version-1 pack it names, checked by that name.
 */
static void test_version1(void **state)
{
        static struct t_src s;
        uint8_t man[MANIFEST_MIN_SIZE], *pack = NULL, *rec = NULL, *v1 = NULL, *out = NULL;
        uint8_t phash[32], v1hash[32], name[32], sha[32], want[32];
        size_t plen = 0, rlen = 0, v1len, n = 0, i;
        struct pack_entry *ents = NULL;
        struct recipe r;
        uint64_t size = 0;

        (void)state;
        for (i = 0; i < T_FILE_LEN; i++)
                s.file[i] = (uint8_t)(i * 5 + 1);
        memset(man, 0x33, sizeof(man));
        t_build(&s, man, sizeof(man), &pack, &plen, phash, &rec, &rlen);
        /* The same records as a version-1 pack: its magic, named by all its bytes. */
        memcpy(pack, PACK_MAGIC_V1, PACK_MAGIC_LEN);
        hash_blake2b(v1hash, pack, plen);
        /* Its recipe: version 2's without the SHA-256. */
        v1len = rlen - 32;
        v1 = malloc(v1len);
        assert_non_null(v1);
        memcpy(v1, RECIPE_MAGIC_V1, RECIPE_MAGIC_LEN);
        memcpy(v1 + RECIPE_MAGIC_LEN, rec + RECIPE_MAGIC_LEN, 8);
        memcpy(v1 + RECIPE_MAGIC_LEN + 8, v1hash, 32);
        memcpy(v1 + RECIPE_MAGIC_LEN + 40, rec + RECIPE_HDR_LEN - 4, rlen - (RECIPE_HDR_LEN - 4));
        assert_int_equal(recipe_peek_size(v1, v1len, &size), 0);
        assert_int_equal(size, plen);
        assert_int_equal(recipe_decode(v1, v1len, &r), 0);
        assert_int_equal(r.version, 1);
        s.places = 1;
        assert_int_equal(recipe_assemble(&r, t_read, &s, &out, sha), 0);
        assert_memory_equal(out, pack, plen);
        sha256_hash(want, pack, plen);
        assert_memory_equal(sha, want, 32);
        assert_int_equal(pack_name(out, plen, name), 0);
        assert_memory_equal(name, v1hash, 32);
        assert_int_equal(pack_parse(out, plen, &ents, &n), 0);
        assert_int_equal(n, T_NBLOCKS + 1);
        free(ents);
        free(out);
        out = NULL;
        /* A block changed for good: the version-1 name no longer holds, no pack. */
        s.file[t_off[0]] ^= 1;
        assert_int_equal(recipe_assemble(&r, t_read, &s, &out, sha), -EIO);
        assert_null(out);
        recipe_release(&r);
        free(v1);
        free(pack);
        free(rec);
}

/*
 * D9: the stream hands out exactly the assembled pack, in any pieces and
 * after a restart; with a block moved it fails the piece that reaches the
 * end (-EILSEQ), having handed out everything before it.
 */
static void test_stream(void **state)
{
        static struct t_src s;
        uint8_t man[MANIFEST_MIN_SIZE], *pack = NULL, *rec = NULL, *got, phash[32];
        size_t plen = 0, rlen = 0, i, off, step;
        struct recipe r;
        struct recipe_src src;

        (void)state;
        for (i = 0; i < T_FILE_LEN; i++)
                s.file[i] = (uint8_t)(i * 11 + 5);
        memcpy(s.copy, s.file, sizeof(s.copy));
        memset(man, 0x77, sizeof(man));
        t_build(&s, man, sizeof(man), &pack, &plen, phash, &rec, &rlen);
        assert_int_equal(recipe_decode(rec, rlen, &r), 0);
        got = malloc(plen);
        assert_non_null(got);
        s.places = 1;
        assert_int_equal(recipe_src_init(&src, &r, t_read, &s), 0);
        for (step = 1; step < plen; step = step * 7 + 3) { /* pieces of 1, 10, 73, ... bytes */
                memset(got, 0, plen);
                for (off = 0; off < plen; off += step) {
                        size_t k = plen - off < step ? plen - off : step;

                        assert_int_equal(recipe_src_read(&src, off, got + off, k), 0);
                }
                assert_memory_equal(got, pack, plen); /* each round restarts at 0 */
        }
        /* A skip ahead, then the rest. */
        memset(got, 0, plen);
        assert_int_equal(recipe_src_read(&src, 100, got + 100, 50), 0);
        assert_int_equal(recipe_src_read(&src, 150, got + 150, plen - 150), 0);
        assert_memory_equal(got + 100, pack + 100, plen - 100);
        assert_int_equal(recipe_src_read(&src, plen, got, 0), 0);
        assert_int_equal(recipe_src_read(&src, plen - 1, got, 2), -EINVAL);
        recipe_src_release(&src);

        /* Block 1 changed where it was committed: the last piece fails, nothing of it out. */
        s.file[t_off[1] + 9] ^= 1;
        assert_int_equal(recipe_src_init(&src, &r, t_read, &s), 0);
        assert_int_equal(recipe_src_read(&src, 0, got, plen - 10), 0);
        memset(got + plen - 10, 0x5a, 10);
        assert_int_equal(recipe_src_read(&src, plen - 10, got + plen - 10, 10), -EILSEQ);
        for (i = plen - 10; i < plen; i++)
                assert_int_equal(got[i], 0);
        recipe_src_release(&src);
        s.file[t_off[1] + 9] ^= 1;
        recipe_release(&r);

        /* A version-1 recipe is not streamed. */
        memset(&r, 0, sizeof(r));
        r.version = 1;
        r.n = 1;
        assert_int_equal(recipe_src_init(&src, &r, t_read, &s), -EINVAL);
        recipe_src_release(&src);
        free(got);
        free(pack);
        free(rec);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_roundtrip),
            cmocka_unit_test(test_decode_rejects),
            cmocka_unit_test(test_version1),
            cmocka_unit_test(test_stream),
        };

        if (secmem_init() != 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}
