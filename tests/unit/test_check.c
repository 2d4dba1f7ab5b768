/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for sync/check.c: one honest entry with one pack holding a
 * block and a manifest, built with the real codecs, passes every check; each
 * altered byte, name or signer fails with -EBADMSG and a reason; standing
 * follows role and cutoff.
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
#include "keyring/member.h"
#include "sync/check.h"
#include "sync/journal.h"
#include "sync/manifest.h"
#include "sync/pack.h"

struct fx {
        uint8_t region[32], dev[16], pk[32], sk[64], other_pk[32], other_sk[64];
        uint8_t epoch_id[32], epoch_key[32];
        uint8_t *pack, *entry;
        size_t pack_len, entry_len;
        uint8_t pack_hash[32], entry_hash[32];
        struct journal_commit commit;
        struct journal_pack jp;
};

/* One manifest of a one-block file, signed by SK, into *OUT. */
static void make_manifest(struct fx *f, const uint8_t *block_hash, uint8_t **out, size_t *len)
{
        struct manifest m;
        struct manifest_vv vv;
        struct manifest_ref ref;
        struct manifest_meta meta;

        memset(&m, 0, sizeof(m));
        m.version = MANIFEST_VERSION;
        memcpy(m.region_id, f->region, 32);
        memset(m.file_id, 0x42, 16);
        m.kind = MANIFEST_FILE;
        memcpy(m.author, f->dev, 16);
        m.lamport = 1;
        memcpy(vv.device_id, f->dev, 16);
        vv.counter = 1;
        m.vv = &vv;
        m.nvv = 1;
        memcpy(m.epoch_id, f->epoch_id, 32);
        memset(m.salt, 0x61, 32);
        assert_int_equal(manifest_key_commit(m.key_commit, f->epoch_key, m.file_id, m.salt), 0);
        m.block_size = 4096;
        m.size = 100;
        ref.index = 0;
        memcpy(ref.hash, block_hash, 32);
        ref.final = 1;
        m.refs = &ref;
        m.nrefs = 1;
        memset(&meta, 0, sizeof(meta));
        meta.name_len = 1;
        meta.name[0] = 'f';
        meta.mode = 0644;
        assert_int_equal(manifest_encode_sign(&m, &meta, f->epoch_key, f->sk, out, len), 0);
}

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));
        struct pack_builder pb;
        struct pack_entry pe;
        struct journal_entry e;
        uint8_t block[100], *mb = NULL;
        size_t mlen = 0;

        assert_non_null(f);
        memset(f->region, 0x11, 32);
        memset(f->dev, 0x22, 16);
        memset(f->epoch_id, 0x33, 32);
        memset(f->epoch_key, 0x44, 32);
        memset(block, 0x55, sizeof(block));
        assert_int_equal(sig_keypair(f->pk, f->sk), 0);
        assert_int_equal(sig_keypair(f->other_pk, f->other_sk), 0);
        pack_builder_init(&pb);
        assert_int_equal(pack_builder_add(&pb, PACK_KIND_BLOCK, block, sizeof(block), &pe), 0);
        make_manifest(f, pe.hash, &mb, &mlen);
        assert_int_equal(pack_builder_add(&pb, PACK_KIND_MANIFEST, mb, mlen, &pe), 0);
        hash_blake2b(f->commit.manifest_hash, mb, mlen);
        free(mb);
        assert_int_equal(pack_builder_finish(&pb, &f->pack, &f->pack_len, f->pack_hash), 0);
        pack_builder_release(&pb);
        memset(f->commit.file_id, 0x42, 16);
        memcpy(f->commit.pack_hash, f->pack_hash, 32);
        f->commit.off = pe.off;
        f->commit.len = pe.len;
        memcpy(f->jp.hash, f->pack_hash, 32);
        f->jp.size = f->pack_len;
        memset(&e, 0, sizeof(e));
        e.version = JOURNAL_VERSION;
        memcpy(e.region_id, f->region, 32);
        memcpy(e.device_id, f->dev, 16);
        e.seq = 1;
        e.commits = &f->commit;
        e.ncommits = 1;
        e.packs = &f->jp;
        e.npacks = 1;
        assert_int_equal(journal_encode_sign(&e, f->sk, &f->entry, &f->entry_len, f->entry_hash),
                         0);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;

        free(f->pack);
        free(f->entry);
        free(f);
        return 0;
}

static void test_honest(void **state)
{
        struct fx *f = *state;
        struct journal_entry e;
        const struct journal_commit **by_pack = NULL;
        struct pack_entry *ents = NULL;
        struct manifest m;
        const char *why = NULL;
        size_t n = 0, cur = 0;

        assert_int_equal(check_entry(f->entry, f->entry_len, f->entry_hash, f->region, f->dev, 1,
                                     f->pk, &e, &why),
                         0);
        assert_int_equal(check_pack(f->pack, f->pack_len, &e.packs[0], &ents, &n, &why), 0);
        assert_int_equal(n, 2);
        assert_int_equal(check_commits_by_pack(&e, &by_pack), 0);
        assert_int_equal(check_pack_commits(&e, by_pack, &cur, f->pack_hash, ents, n, &why), 0);
        assert_int_equal(cur, 1);
        assert_int_equal(check_manifest(f->pack + f->commit.off, &e.commits[0], f->region, f->dev,
                                        f->pk, &m, &why),
                         0);
        assert_memory_equal(m.epoch_id, f->epoch_id, 32);
        manifest_release(&m);
        free(by_pack);
        free(ents);
        journal_release(&e);
}

static void test_entry_bad(void **state)
{
        struct fx *f = *state;
        struct journal_entry e;
        const char *why = NULL;
        uint8_t other[16];

        memset(other, 0x23, 16);
        /* Another name (hash), region, device, seq, key. */
        f->entry_hash[0] ^= 1;
        assert_int_equal(check_entry(f->entry, f->entry_len, f->entry_hash, f->region, f->dev, 1,
                                     f->pk, &e, &why),
                         -EBADMSG);
        assert_string_equal(why, "content does not match its name");
        f->entry_hash[0] ^= 1;
        assert_int_equal(check_entry(f->entry, f->entry_len, f->entry_hash, f->region, other, 1,
                                     f->pk, &e, &why),
                         -EBADMSG);
        assert_non_null(strstr(why, "differ from its name"));
        assert_int_equal(check_entry(f->entry, f->entry_len, f->entry_hash, f->region, f->dev, 2,
                                     f->pk, &e, &why),
                         -EBADMSG);
        assert_int_equal(check_entry(f->entry, f->entry_len, f->entry_hash, f->region, f->dev, 1,
                                     f->other_pk, &e, &why),
                         -EBADMSG);
        assert_string_equal(why, "not signed by the device's key");
        /* Trailing byte: the hash is of the new bytes, still malformed. */
        {
                uint8_t *buf = malloc(f->entry_len + 1), h[32];

                assert_non_null(buf);
                memcpy(buf, f->entry, f->entry_len);
                buf[f->entry_len] = 0;
                hash_blake2b(h, buf, f->entry_len + 1);
                assert_int_equal(
                    check_entry(buf, f->entry_len + 1, h, f->region, f->dev, 1, f->pk, &e, &why),
                    -EBADMSG);
                assert_string_equal(why, "malformed entry");
                free(buf);
        }
}

static void test_pack_bad(void **state)
{
        struct fx *f = *state;
        struct pack_entry *ents = NULL;
        struct journal_pack jp = f->jp;
        const char *why = NULL;
        size_t n = 0;

        size_t t = f->pack_len - 4 - 20; /* a byte of the last entry's hash, in the trailer */

        jp.size++;
        assert_int_equal(check_pack(f->pack, f->pack_len, &jp, &ents, &n, &why), -EBADMSG);
        assert_non_null(strstr(why, "size"));
        jp.size--;
        /* A record's byte altered (D8): its version-2 name still fits, the record does not. */
        f->pack[20] ^= 0x80;
        assert_int_equal(check_pack(f->pack, f->pack_len, &f->jp, &ents, &n, &why), -EBADMSG);
        assert_non_null(strstr(why, "content does not match its name"));
        assert_null(ents);
        f->pack[20] ^= 0x80;
        /* The trailer altered: the name no longer fits. */
        f->pack[t] ^= 0x01;
        assert_int_equal(check_pack(f->pack, f->pack_len, &f->jp, &ents, &n, &why), -EBADMSG);
        assert_string_equal(why, "content does not match its name");
        /* ... and named by the altered trailer: the record's hash fails. */
        pack_name_of_trailer(f->pack + f->pack_len - pack_trailer_len(2), pack_trailer_len(2),
                             jp.hash);
        assert_int_equal(check_pack(f->pack, f->pack_len, &jp, &ents, &n, &why), -EBADMSG);
        assert_non_null(strstr(why, "content does not match its name"));
        f->pack[t] ^= 0x01;
        /* A record header's length altered, the pack named by it: malformed. */
        f->pack[12] ^= 0x01;
        assert_int_equal(check_pack(f->pack, f->pack_len, &f->jp, &ents, &n, &why), -EBADMSG);
        assert_string_equal(why, "malformed pack");
        f->pack[12] ^= 0x01;
        /* The version-1 magic on version-2 bytes: named by all its bytes, so not this name. */
        memcpy(f->pack, PACK_MAGIC_V1, PACK_MAGIC_LEN);
        assert_int_equal(check_pack(f->pack, f->pack_len, &f->jp, &ents, &n, &why), -EBADMSG);
        assert_string_equal(why, "content does not match its name");
        /* A later version than this build reads: "update", not "malformed". */
        memcpy(f->pack, "SEALPAK3", PACK_MAGIC_LEN);
        assert_int_equal(check_pack(f->pack, f->pack_len, &f->jp, &ents, &n, &why), -EBADMSG);
        assert_non_null(strstr(why, "newer format"));
        memcpy(f->pack, PACK_MAGIC_V1, PACK_MAGIC_LEN);
        /* ... which is accepted under its version-1 name (readers take both versions). */
        hash_blake2b(jp.hash, f->pack, f->pack_len);
        assert_int_equal(check_pack(f->pack, f->pack_len, &jp, &ents, &n, &why), 0);
        assert_int_equal(n, 2);
        free(ents);
        memcpy(f->pack, PACK_MAGIC, PACK_MAGIC_LEN);
        ents = NULL;
        assert_int_equal(check_pack(f->pack, f->pack_len, &f->jp, &ents, &n, &why), 0);
        free(ents);
}

static void test_commits_and_manifest_bad(void **state)
{
        struct fx *f = *state;
        struct journal_entry e;
        struct journal_commit c = f->commit;
        const struct journal_commit *by_pack[1] = {&c};
        struct pack_entry *ents = NULL;
        struct manifest m;
        const char *why = NULL;
        size_t n = 0, cur = 0;
        uint8_t other[16];

        memset(&e, 0, sizeof(e));
        e.commits = &c;
        e.ncommits = 1;
        assert_int_equal(check_pack(f->pack, f->pack_len, &f->jp, &ents, &n, &why), 0);
        c.off = ents[0].off; /* the block record */
        assert_int_equal(check_pack_commits(&e, by_pack, &cur, f->pack_hash, ents, n, &why),
                         -EBADMSG);
        free(ents);
        c = f->commit;
        memset(other, 0x23, 16);
        assert_int_equal(check_manifest(f->pack + c.off, &c, f->region, other, f->pk, &m, &why),
                         -EBADMSG);
        assert_non_null(strstr(why, "author"));
        assert_int_equal(
            check_manifest(f->pack + c.off, &c, f->region, f->dev, f->other_pk, &m, &why),
            -EBADMSG);
        assert_string_equal(why, "a manifest is not signed by the device's key");
        c.manifest_hash[5] ^= 1;
        assert_int_equal(check_manifest(f->pack + c.off, &c, f->region, f->dev, f->pk, &m, &why),
                         -EBADMSG);
        assert_string_equal(why, "a manifest record does not match its hash");
}

static void test_standing(void **state)
{
        struct check_signer s;
        uint8_t h[32], other[32];
        const char *why = NULL;

        (void)state;
        memset(h, 1, 32);
        memset(other, 2, 32);
        memset(&s, 0, sizeof(s));
        s.role = MEMBER_ROLE_WRITER;
        assert_int_equal(check_standing(&s, 7, h, &why), CHECK_STANDING_OK);
        s.role = MEMBER_ROLE_ADMIN;
        assert_int_equal(check_standing(&s, 7, h, &why), CHECK_STANDING_OK);
        s.role = MEMBER_ROLE_READER;
        assert_int_equal(check_standing(&s, 7, h, &why), CHECK_STANDING_NOT_WRITER);
        s.role = MEMBER_ROLE_RECOVERY;
        assert_int_equal(check_standing(&s, 7, h, &why), CHECK_STANDING_NOT_WRITER);
        s.role = MEMBER_ROLE_WRITER;
        s.removed = 1;
        s.cutoff_seq = 7;
        memcpy(s.cutoff_hash, h, 32);
        assert_int_equal(check_standing(&s, 6, other, &why), CHECK_STANDING_OK);
        assert_int_equal(check_standing(&s, 7, h, &why), CHECK_STANDING_OK);
        assert_int_equal(check_standing(&s, 7, other, &why), CHECK_STANDING_FORKED);
        assert_int_equal(check_standing(&s, 8, h, &why), CHECK_STANDING_REVOKED);
        /* Revocation is named before the role. */
        s.role = MEMBER_ROLE_READER;
        assert_int_equal(check_standing(&s, 8, h, &why), CHECK_STANDING_REVOKED);
}

/* Invariant R5: a demoted reader's entries count up to its cutoff; void ranges are void. */
static void test_standing_demotion(void **state)
{
        struct check_signer s;
        uint8_t h[32], other[32], r[32];
        const char *why = NULL;

        (void)state;
        memset(h, 1, 32);
        memset(other, 2, 32);
        memset(r, 3, 32);
        memset(&s, 0, sizeof(s));
        s.role = MEMBER_ROLE_READER;
        s.standing.cut = 1;
        s.standing.cut_seq = 5;
        memcpy(s.standing.cut_hash, h, 32);
        assert_int_equal(check_standing(&s, 4, other, &why), CHECK_STANDING_OK);
        assert_int_equal(check_standing(&s, 5, h, &why), CHECK_STANDING_OK);
        assert_int_equal(check_standing(&s, 5, other, &why), CHECK_STANDING_FORKED);
        assert_int_equal(check_standing(&s, 6, h, &why), CHECK_STANDING_DEMOTED);
        /* Cutoff 0: nothing of it counts. */
        s.standing.cut_seq = 0;
        memset(s.standing.cut_hash, 0, 32);
        assert_int_equal(check_standing(&s, 1, h, &why), CHECK_STANDING_DEMOTED);
        /* Promoted again with resume 9: (5, 9] void, 9 must be the named one, 10 counts. */
        memset(&s.standing, 0, sizeof(s.standing));
        s.role = MEMBER_ROLE_WRITER;
        s.standing.nvoid = 1;
        s.standing.voids[0].lo_seq = 5;
        memcpy(s.standing.voids[0].lo_hash, h, 32);
        s.standing.voids[0].hi_seq = 9;
        memcpy(s.standing.voids[0].hi_hash, r, 32);
        assert_int_equal(check_standing(&s, 5, h, &why), CHECK_STANDING_OK);
        assert_int_equal(check_standing(&s, 5, other, &why), CHECK_STANDING_FORKED);
        assert_int_equal(check_standing(&s, 6, other, &why), CHECK_STANDING_VOID);
        assert_int_equal(check_standing(&s, 9, r, &why), CHECK_STANDING_VOID);
        assert_int_equal(check_standing(&s, 9, other, &why), CHECK_STANDING_FORKED);
        assert_int_equal(check_standing(&s, 10, other, &why), CHECK_STANDING_OK);
        /* Demoted again (cutoff 12): the void range stays, past 12 is refused. */
        s.role = MEMBER_ROLE_READER;
        s.standing.cut = 1;
        s.standing.cut_seq = 12;
        memcpy(s.standing.cut_hash, h, 32);
        assert_int_equal(check_standing(&s, 7, other, &why), CHECK_STANDING_VOID);
        assert_int_equal(check_standing(&s, 11, other, &why), CHECK_STANDING_OK);
        assert_int_equal(check_standing(&s, 13, other, &why), CHECK_STANDING_DEMOTED);
        /* A removal is named first. */
        s.removed = 1;
        s.cutoff_seq = 10;
        assert_int_equal(check_standing(&s, 11, other, &why), CHECK_STANDING_REVOKED);
        /* A legacy demotion (no cutoff): judged by the role. */
        memset(&s, 0, sizeof(s));
        s.role = MEMBER_ROLE_READER;
        assert_int_equal(check_standing(&s, 1, h, &why), CHECK_STANDING_NOT_WRITER);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test_setup_teardown(test_honest, setup, teardown),
            cmocka_unit_test(test_standing_demotion),
            cmocka_unit_test_setup_teardown(test_entry_bad, setup, teardown),
            cmocka_unit_test_setup_teardown(test_pack_bad, setup, teardown),
            cmocka_unit_test_setup_teardown(test_commits_and_manifest_bad, setup, teardown),
            cmocka_unit_test(test_standing),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
