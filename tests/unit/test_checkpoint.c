/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for sync/checkpoint.c: a checkpoint round-trips byte for byte
 * with its documented layout (offsets, length), signature and open; every
 * structural rule is refused by the encoder and the decoder; a bit flip
 * anywhere fails checkpoint_open; object keys are strict; location records
 * round-trip and their rules hold.
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
#include "crypto/sig.h"
#include "sync/checkpoint.h"
#include "sync/pack.h"

struct fx {
        uint8_t pk[32], sk[64];
        struct journal_seen marks[2];
        struct journal_commit files[3];
        struct journal_pack packs[2];
        struct checkpoint c;
};

static void fx_init(struct fx *f)
{
        size_t i;

        memset(f, 0, sizeof(*f));
        assert_int_equal(sig_keypair(f->pk, f->sk), 0);
        f->c.version = CHECKPOINT_VERSION;
        memset(f->c.region_id, 0x11, 32);
        memset(f->c.device_id, 0x22, 16);
        f->c.seq = 7;
        memset(f->c.member_head, 0x33, 32);
        f->c.time_ms = 1234567;
        for (i = 0; i < 2; i++) {
                memset(f->marks[i].device_id, 0x20 + (int)i * 0x10, 16);
                f->marks[i].seq = 10 + i;
                memset(f->marks[i].hash, 0x70 + (int)i, 32);
                memset(f->packs[i].hash, 0x50 + (int)i, 32);
                f->packs[i].size = 4096;
        }
        for (i = 0; i < 3; i++) {
                memset(f->files[i].file_id, 0x01 + (int)i, 16);
                memset(f->files[i].manifest_hash, 0x90 + (int)i, 32);
                memcpy(f->files[i].pack_hash, f->packs[i % 2].hash, 32);
                f->files[i].off = 13;
                f->files[i].len = 600;
        }
        f->c.marks = f->marks;
        f->c.nmarks = 2;
        f->c.files = f->files;
        f->c.nfiles = 3;
        f->c.packs = f->packs;
        f->c.npacks = 2;
}

static uint64_t get_u64(const uint8_t *p)
{
        uint64_t v = 0;

        for (int i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return v;
}

static void test_roundtrip(void **state)
{
        struct fx f;
        struct checkpoint d;
        uint8_t *buf = NULL, hash[32], h2[32];
        size_t len = 0;
        const char *why = NULL;

        (void)state;
        fx_init(&f);
        assert_int_equal(checkpoint_encode_sign(&f.c, f.sk, &buf, &len, hash), 0);
        /* The layout of doc/FORMAT-sync.md: fixed part, 56 per mark, 92 per file, 40 per pack. */
        assert_int_equal(len, CHECKPOINT_FIXED_LEN + 2 * 56 + 3 * 92 + 2 * 40);
        assert_int_equal(buf[0], 1);
        assert_memory_equal(buf + 1, f.c.region_id, 32);
        assert_memory_equal(buf + 33, f.c.device_id, 16);
        assert_int_equal(get_u64(buf + 49), 7);
        assert_memory_equal(buf + 57, f.c.member_head, 32);
        assert_int_equal(get_u64(buf + 89), 1234567);
        assert_int_equal(get_u64(buf + 97) >> 32, 2); /* u32 count of marks */
        assert_memory_equal(buf + 101, f.marks[0].device_id, 16);
        assert_int_equal(get_u64(buf + 117), 10);
        hash_blake2b(h2, buf, len);
        assert_memory_equal(hash, h2, 32);

        assert_int_equal(
            checkpoint_open(buf, len, hash, f.c.region_id, f.c.device_id, 7, f.pk, &d, &why), 0);
        assert_int_equal(d.nmarks, 2);
        assert_int_equal(d.nfiles, 3);
        assert_int_equal(d.npacks, 2);
        assert_memory_equal(d.files[2].manifest_hash, f.files[2].manifest_hash, 32);
        assert_non_null(checkpoint_mark(&d, f.marks[1].device_id));
        assert_null(checkpoint_mark(&d, f.c.device_id));
        assert_memory_equal(d.hash, hash, 32);
        {
                uint8_t *again = NULL, h3[32];
                size_t alen = 0;

                assert_int_equal(checkpoint_encode_sign(&d, f.sk, &again, &alen, h3), 0);
                assert_int_equal(alen, len);
                assert_memory_equal(again, buf, len); /* canonical, deterministic */
                free(again);
        }
        checkpoint_release(&d);
        checkpoint_release(NULL);
        free(buf);
}

static void test_tamper(void **state)
{
        struct fx f;
        struct checkpoint d;
        uint8_t *buf = NULL, hash[32], other_pk[32], other_sk[64];
        size_t len = 0, i;
        const char *why = NULL;

        (void)state;
        fx_init(&f);
        assert_int_equal(checkpoint_encode_sign(&f.c, f.sk, &buf, &len, hash), 0);
        for (i = 0; i < len; i++) {
                buf[i] ^= 0x01;
                assert_int_equal(checkpoint_open(buf, len, hash, f.c.region_id, f.c.device_id, 7,
                                                 f.pk, &d, &why),
                                 -EBADMSG);
                buf[i] ^= 0x01;
        }
        /* Another signer, region, author or seq than the name says. */
        assert_int_equal(sig_keypair(other_pk, other_sk), 0);
        assert_int_equal(
            checkpoint_open(buf, len, hash, f.c.region_id, f.c.device_id, 7, other_pk, &d, &why),
            -EBADMSG);
        assert_int_equal(
            checkpoint_open(buf, len, hash, f.c.member_head, f.c.device_id, 7, f.pk, &d, &why),
            -EBADMSG);
        assert_int_equal(
            checkpoint_open(buf, len, hash, f.c.region_id, f.c.device_id, 8, f.pk, &d, &why),
            -EBADMSG);
        /* Truncated, extended. */
        assert_int_equal(checkpoint_decode(buf, len - 1, &d), -EBADMSG);
        {
                uint8_t *big = malloc(len + 1);

                assert_non_null(big);
                memcpy(big, buf, len);
                big[len] = 0;
                assert_int_equal(checkpoint_decode(big, len + 1, &d), -EBADMSG);
                free(big);
        }
        /* A different domain: a journal signature does not verify as a checkpoint's. */
        assert_int_equal(checkpoint_verify_sig(buf, len, f.pk), 0);
        assert_int_equal(journal_verify_sig(buf, len, f.pk), -EBADMSG);
        free(buf);
}

/* Each broken rule: the encoder says -EINVAL. */
static void test_rules(void **state)
{
        struct fx f;
        uint8_t *buf = NULL, hash[32];
        size_t len = 0;

        (void)state;
#define REFUSED(mutate)                                                                            \
        do {                                                                                       \
                fx_init(&f);                                                                       \
                mutate;                                                                            \
                assert_int_equal(checkpoint_encode_sign(&f.c, f.sk, &buf, &len, hash), -EINVAL);   \
        } while (0)
        REFUSED(f.c.version = 2);
        REFUSED(f.c.seq = 0);
        REFUSED(f.marks[1].seq = 0);
        REFUSED(memcpy(f.marks[1].device_id, f.marks[0].device_id, 16)); /* duplicate */
        REFUSED(f.c.marks = NULL);
        REFUSED(memset(f.files[0].file_id, 0, 16));                  /* the root */
        REFUSED(memcpy(f.files[2].file_id, f.files[1].file_id, 16)); /* not ascending */
        REFUSED(f.files[0].len = 10);                                /* below a manifest */
        REFUSED(memset(f.files[0].pack_hash, 0xee, 32));             /* pack not listed */
        REFUSED(f.files[0].off = 4000);                              /* beyond its pack */
        REFUSED(f.packs[0].size = 10);                               /* too small a pack */
        REFUSED(memcpy(f.packs[1].hash, f.packs[0].hash, 32));       /* duplicate pack */
#undef REFUSED
        /* An empty checkpoint (a region with nothing yet) is valid. */
        fx_init(&f);
        f.c.nmarks = f.c.nfiles = f.c.npacks = 0;
        assert_int_equal(checkpoint_encode_sign(&f.c, f.sk, &buf, &len, hash), 0);
        assert_int_equal(len, CHECKPOINT_FIXED_LEN);
        free(buf);
}

static void test_keys(void **state)
{
        static const char rhex[] =
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        uint8_t dev[16], hash[32], d2[16], h2[32], rid[32];
        char key[CHECKPOINT_KEY_SIZE], bad[CHECKPOINT_KEY_SIZE + 8];
        uint64_t seq = 0;

        (void)state;
        memset(dev, 0xab, 16);
        memset(hash, 0xcd, 32);
        assert_int_equal(checkpoint_object_key(rhex, dev, 0x1f, hash, key), 0);
        assert_int_equal(strlen(key), CHECKPOINT_KEY_LEN);
        assert_non_null(strstr(key, "/c/abababababababababababababababab/000000000000001f-cdcd"));
        assert_int_equal(checkpoint_parse_key(key, rid, d2, &seq, h2), 0);
        assert_int_equal(seq, 0x1f);
        assert_memory_equal(d2, dev, 16);
        assert_memory_equal(h2, hash, 32);
        assert_int_equal(checkpoint_object_key(rhex, dev, 0, hash, key), -EINVAL);
        /* Strict: uppercase, a journal key, an extra character. */
        memcpy(bad, key, sizeof(key));
        bad[70] = 'A';
        assert_int_equal(checkpoint_parse_key(bad, NULL, d2, &seq, h2), -EINVAL);
        assert_int_equal(journal_parse_key(key, NULL, d2, &seq, h2), -EINVAL);
        memcpy(bad, key, CHECKPOINT_KEY_LEN);
        bad[CHECKPOINT_KEY_LEN] = '0';
        bad[CHECKPOINT_KEY_LEN + 1] = '\0';
        assert_int_equal(checkpoint_parse_key(bad, NULL, d2, &seq, h2), -EINVAL);
}

static void test_locs(void **state)
{
        struct checkpoint_loc l[3], *d = NULL;
        uint8_t *buf = NULL;
        size_t len = 0, n = 0;

        (void)state;
        memset(l, 0, sizeof(l));
        memset(l[0].pack, 0x10, 32);
        memset(l[1].pack, 0x10, 32);
        memset(l[2].pack, 0x20, 32);
        l[0].off = 13;
        l[0].len = 100;
        l[1].off = 118; /* 13 + 100 + 5: the next record */
        l[1].len = 40;
        l[2].off = 13;
        l[2].len = 65576;
        memset(l[0].hash, 1, 32);
        memset(l[1].hash, 2, 32);
        memset(l[2].hash, 3, 32);
        assert_int_equal(checkpoint_locs_encode(l, 3, &buf, &len), 0);
        assert_int_equal(len, 4 + 2 * 36 + 3 * 44); /* two groups */
        assert_int_equal(checkpoint_locs_decode(buf, len, &d, &n), 0);
        assert_int_equal(n, 3);
        assert_memory_equal(d, l, sizeof(l));
        free(d);
        free(buf);
        l[1].off = 117; /* overlaps record 0's header */
        assert_int_equal(checkpoint_locs_encode(l, 3, &buf, &len), -EINVAL);
        l[1].off = 118;
        l[1].len = 39; /* below a sealed block */
        assert_int_equal(checkpoint_locs_encode(l, 3, &buf, &len), -EINVAL);
        l[1].len = 40;
        memset(l[2].pack, 0x01, 32); /* not ascending */
        assert_int_equal(checkpoint_locs_encode(l, 3, &buf, &len), -EINVAL);
        assert_int_equal(checkpoint_locs_encode(l, 0, &buf, &len), -EINVAL);
        {
                /* Two groups for one pack: refused by the decoder. */
                static const uint8_t pack[32] = {0x10};
                uint8_t raw[4 + 2 * (36 + 44)], *p = raw;
                size_t g;

                memset(raw, 0, sizeof(raw));
                p[3] = 2;
                p += 4;
                for (g = 0; g < 2; g++) {
                        memcpy(p, pack, 32);
                        p[35] = 1;
                        memset(p + 36, 0x5 + (int)g, 32);
                        p[36 + 32 + 7] = (uint8_t)(g == 0 ? 13 : 200);
                        p[36 + 32 + 8 + 3] = 40;
                        p += 36 + 44;
                }
                assert_int_equal(checkpoint_locs_decode(raw, sizeof(raw), &d, &n), -EBADMSG);
                raw[4 + 36 + 44 + 31] = 0x11; /* second group: another, higher pack */
                assert_int_equal(checkpoint_locs_decode(raw, sizeof(raw), &d, &n), 0);
                free(d);
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_roundtrip), cmocka_unit_test(test_tamper),
            cmocka_unit_test(test_rules),     cmocka_unit_test(test_keys),
            cmocka_unit_test(test_locs),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
