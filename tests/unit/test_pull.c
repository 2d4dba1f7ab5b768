/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for sync/pull.c: a file:// store in a temporary directory holds
 * the journals and packs of several devices, built with the real codecs;
 * an index in the same directory holds the marks and the pack index.  Every
 * attack must raise an alarm and apply nothing of its device while an honest
 * device still applies.  Run from the repo root.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "crypto/hash.h"
#include "crypto/secmem.h"
#include "crypto/sig.h"
#include "keyring/member.h"
#include "sync/checkpoint.h"
#include "sync/ckpt.h"
#include "sync/index.h"
#include "sync/journal.h"
#include "sync/manifest.h"
#include "sync/pack.h"
#include "sync/pull.h"
#include "sync/store.h"
#include "util/hex.h"
#include "util/log.h"

#define BLOCK_LEN 100 /* sealed-looking record bytes; pull does not open blocks */
#define BLOCKS_PER_FILE 2
#define MAX_APPLIED 64

struct dev {
        uint8_t id[16], pk[32], sk[64];
        uint64_t seq; /* last published */
        uint8_t head[32];
        uint64_t lamport;
        char hex[33];
};

struct applied {
        uint8_t author[16], file_id[16], hash[32];
        uint64_t lamport;
        char name[MANIFEST_NAME_MAX + 1];
};

struct rec {
        struct pull *p;
        int n;
        struct applied got[MAX_APPLIED];
        int entries;
        int fail_next; /* apply returns -EAGAIN this many times */
        int block_errors;
        /* The epoch keys this device holds (pull_ops.epoch_key). */
        uint8_t epoch_ids[4][32], epoch_keys[4][32];
        int nepochs;
        /* Epochs of the fold this device holds no key of (pull_ops.epoch_known). */
        uint8_t fold_epochs[4][32];
        int nfold;
};

struct fx {
        char dir[64];
        char ixpath[128];
        struct store *st;
        struct index *ix;
        uint8_t region[32], epoch_id[32], epoch_key[32];
        char region_hex[65];
        struct dev a, b, c, r, x; /* self, honest writer, victim writer, reader, non-member */
        struct rec rec;
        struct pull *p;
};

/* ---- building objects ---- */

static void block_bytes(const uint8_t file_id[16], uint64_t idx, uint8_t out[BLOCK_LEN])
{
        size_t i;

        for (i = 0; i < BLOCK_LEN; i++)
                out[i] = (uint8_t)(file_id[0] * 7 + file_id[1] * 13 + idx * 31 + i);
}

struct pub {
        int nfiles;               /* default 1 */
        uint8_t file_base;        /* first byte of the first file id; default 0x10 */
        const struct dev *author; /* manifest author; default the publisher */
        const uint8_t *entry_sk;  /* default the publisher's */
        const uint8_t *epoch_id;  /* default the fixture's */
        const uint8_t *epoch_key; /* default the fixture's */
        int flip_entry, flip_pack, wrong_prev, keep_chain;
        int flip_manifest; /* last manifest changed before packing: its signature fails */
        int flip_record;   /* last manifest changed in the pack only: the commit's hash fails */
        int bad_off;       /* last commit names the first (block) record, signed */
        int empty;         /* no commits, no packs: an acknowledgement */
        uint64_t name_seq; /* seq in the object key; default the entry's */
        const struct journal_seen *seen; /* the entry's seen marks (NSEEN), default none */
        size_t nseen;
        char key[JOURNAL_KEY_SIZE]; /* out: the entry's object key */
        uint8_t hash[32];           /* out: the entry's hash */
        char pack_key[200];         /* out */
        uint8_t block_hash[32];     /* out: the first block's hash */
};

static void fill_manifest(struct fx *f, const struct dev *author, const struct pub *o,
                          const uint8_t file_id[16], uint64_t lamport, struct manifest *m,
                          struct manifest_vv *vv, struct manifest_ref *refs,
                          struct pack_builder *pb)
{
        uint8_t blk[BLOCK_LEN];
        struct pack_entry pe;
        uint64_t i;

        memset(m, 0, sizeof(*m));
        m->version = MANIFEST_VERSION;
        memcpy(m->region_id, f->region, 32);
        memcpy(m->file_id, file_id, 16);
        m->kind = MANIFEST_FILE;
        memcpy(m->author, author->id, 16);
        m->lamport = lamport;
        memcpy(vv->device_id, author->id, 16);
        vv->counter = lamport;
        m->vv = vv;
        m->nvv = 1;
        memcpy(m->epoch_id, o->epoch_id ? o->epoch_id : f->epoch_id, 32);
        memset(m->salt, 0x61, 32);
        assert_int_equal(manifest_key_commit(m->key_commit,
                                             o->epoch_key ? o->epoch_key : f->epoch_key, m->file_id,
                                             m->salt),
                         0);
        m->block_size = 4096;
        m->size = BLOCKS_PER_FILE * 4096;
        for (i = 0; i < BLOCKS_PER_FILE; i++) {
                block_bytes(file_id, i, blk);
                assert_int_equal(pack_builder_add(pb, PACK_KIND_BLOCK, blk, BLOCK_LEN, &pe), 0);
                refs[i].index = i;
                memcpy(refs[i].hash, pe.hash, 32);
                refs[i].final = i == BLOCKS_PER_FILE - 1;
        }
        m->refs = refs;
        m->nrefs = BLOCKS_PER_FILE;
}

/* Publishes one journal entry of D (with O's twists) and its pack on the store. */
static void publish(struct fx *f, struct dev *d, struct pub *o)
{
        struct pack_builder pb;
        struct journal_entry e;
        struct journal_commit commits[8];
        struct journal_pack jp;
        const struct dev *author = o->author ? o->author : d;
        uint8_t *pbytes = NULL, *ebytes = NULL, *mb = NULL, phash[32];
        size_t plen = 0, elen = 0, mlen = 0;
        int nfiles = o->nfiles ? o->nfiles : 1, k;
        char hex[65];

        assert_true(nfiles <= 8);
        pack_builder_init(&pb);
        memset(commits, 0, sizeof(commits));
        for (k = 0; k < nfiles; k++) {
                struct manifest m;
                struct manifest_vv vv;
                struct manifest_ref refs[BLOCKS_PER_FILE];
                struct manifest_meta meta;
                struct pack_entry pe;
                uint8_t file_id[16] = {0};

                file_id[0] = (uint8_t)((o->file_base ? o->file_base : 0x10) + k);
                file_id[1] = d->id[0];
                fill_manifest(f, author, o, file_id, ++d->lamport, &m, &vv, refs, &pb);
                if (k == 0)
                        memcpy(o->block_hash, refs[0].hash, 32);
                memset(&meta, 0, sizeof(meta));
                meta.name_len = (size_t)snprintf(meta.name, sizeof(meta.name), "f-%02x-%02x",
                                                 file_id[0], file_id[1]);
                meta.mode = 0644;
                meta.mtime_s = 1700000000;
                assert_int_equal(manifest_encode_sign(&m, &meta,
                                                      o->epoch_key ? o->epoch_key : f->epoch_key,
                                                      author->sk, &mb, &mlen),
                                 0);
                /* Byte 100 is in the version vector's counter: still decodes. */
                if (o->flip_manifest && k == nfiles - 1)
                        mb[100] ^= 1;
                hash_blake2b(commits[k].manifest_hash, mb, mlen);
                if (o->flip_record && k == nfiles - 1)
                        mb[100] ^= 1;
                assert_int_equal(pack_builder_add(&pb, PACK_KIND_MANIFEST, mb, mlen, &pe), 0);
                free(mb);
                memcpy(commits[k].file_id, file_id, 16);
                commits[k].off = pe.off;
                commits[k].len = pe.len;
        }
        assert_int_equal(pack_builder_finish(&pb, &pbytes, &plen, phash), 0);
        pack_builder_release(&pb);
        if (o->flip_pack)
                pbytes[20] ^= 0x80; /* inside the first block record */
        hex_encode(hex, phash, 32);
        snprintf(o->pack_key, sizeof(o->pack_key), "%s/p/%s", f->region_hex, hex);
        assert_int_equal(f->st->ops->put(f->st, o->pack_key, pbytes, plen, 0), 0);
        free(pbytes);

        for (k = 0; k < nfiles; k++)
                memcpy(commits[k].pack_hash, phash, 32);
        if (o->bad_off)
                commits[nfiles - 1].off = PACK_MIN_RECORD_OFF;
        memcpy(jp.hash, phash, 32);
        jp.size = plen;
        memset(&e, 0, sizeof(e));
        e.version = JOURNAL_VERSION;
        memcpy(e.region_id, f->region, 32);
        memcpy(e.device_id, d->id, 16);
        e.seq = d->seq + 1;
        if (e.seq > 1)
                memcpy(e.prev, d->head, 32);
        if (o->wrong_prev)
                e.prev[0] ^= 1;
        memset(e.member_head, 0x77, 32);
        e.time_ms = 1700000000000ull + e.seq;
        e.ncommits = o->empty ? 0 : (size_t)nfiles;
        e.commits = commits;
        e.npacks = o->empty ? 0 : 1;
        e.packs = &jp;
        e.seen = (struct journal_seen *)o->seen;
        e.nseen = o->nseen;
        assert_int_equal(
            journal_encode_sign(&e, o->entry_sk ? o->entry_sk : d->sk, &ebytes, &elen, o->hash), 0);
        if (o->flip_entry)
                ebytes[150] ^= 1;
        assert_int_equal(journal_object_key(f->region_hex, d->id, o->name_seq ? o->name_seq : e.seq,
                                            o->hash, o->key),
                         0);
        assert_int_equal(f->st->ops->put(f->st, o->key, ebytes, elen, 0), 0);
        free(ebytes);
        if (!o->keep_chain) {
                d->seq = e.seq;
                memcpy(d->head, o->hash, 32);
        }
}

static void publish_plain(struct fx *f, struct dev *d, int nfiles)
{
        struct pub o;

        memset(&o, 0, sizeof(o));
        o.nfiles = nfiles;
        o.file_base = (uint8_t)(0x10 + 8 * d->seq);
        publish(f, d, &o);
}

/* ---- the puller's callbacks ---- */

static int rec_apply(void *arg, const struct manifest *m, const struct manifest_meta *meta)
{
        struct rec *r = arg;
        uint8_t want[BLOCK_LEN], got[PACK_BLOCK_MAX_LEN];
        size_t i, len = 0;

        if (r->fail_next > 0) {
                r->fail_next--;
                return -EAGAIN;
        }
        if (r->n < MAX_APPLIED) {
                memcpy(r->got[r->n].author, m->author, 16);
                memcpy(r->got[r->n].file_id, m->file_id, 16);
                memcpy(r->got[r->n].hash, m->hash, 32);
                r->got[r->n].lamport = m->lamport;
                snprintf(r->got[r->n].name, sizeof(r->got[0].name), "%s", meta->name);
        }
        r->n++; /* counts beyond what it records */
        /* Blocks come from the entry's packs while it is applied. */
        for (i = 0; i < m->nrefs; i++) {
                block_bytes(m->file_id, m->refs[i].index, want);
                if (pull_fetch_block(r->p, m->refs[i].hash, got, sizeof(got), &len) != 0 ||
                    len != BLOCK_LEN || memcmp(got, want, BLOCK_LEN) != 0)
                        r->block_errors++;
        }
        return 0;
}

static int rec_entry_done(void *arg)
{
        ((struct rec *)arg)->entries++;
        return 0;
}

static const uint8_t *rec_epoch_key(void *arg, const uint8_t epoch_id[static 32])
{
        struct rec *r = arg;
        int i;

        for (i = 0; i < r->nepochs; i++)
                if (memcmp(r->epoch_ids[i], epoch_id, 32) == 0)
                        return r->epoch_keys[i];
        return NULL;
}

/* This device now holds epoch (ID, KEY) too. */
static void rec_add_epoch(struct rec *r, const uint8_t id[32], const uint8_t key[32])
{
        assert_true(r->nepochs < 4);
        memcpy(r->epoch_ids[r->nepochs], id, 32);
        memcpy(r->epoch_keys[r->nepochs], key, 32);
        r->nepochs++;
}

/* The fold: the member head every entry names (0x77...) and R's fold_epochs. */
static int rec_member_known(void *arg, const uint8_t hash[static 32])
{
        static const uint8_t head[32] = {0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77,
                                         0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77,
                                         0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77,
                                         0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77};
        const struct rec *r = arg;
        int i;

        if (memcmp(hash, head, 32) == 0)
                return 1;
        for (i = 0; i < r->nfold; i++)
                if (memcmp(r->fold_epochs[i], hash, 32) == 0)
                        return 1;
        return 0;
}

/* The fold's epochs: R's fold_epochs only (the member head is no epoch). */
static int rec_epoch_known(void *arg, const uint8_t epoch_id[static 32])
{
        const struct rec *r = arg;
        int i;

        for (i = 0; i < r->nfold; i++)
                if (memcmp(r->fold_epochs[i], epoch_id, 32) == 0)
                        return 1;
        return 0;
}

static const struct pull_ops rec_ops = {.apply = rec_apply,
                                        .entry_done = rec_entry_done,
                                        .epoch_key = rec_epoch_key,
                                        .member_known = rec_member_known,
                                        .epoch_known = rec_epoch_known};

static int count_from(const struct rec *r, const struct dev *d)
{
        int i, n = 0;

        for (i = 0; i < r->n && i < MAX_APPLIED; i++)
                n += memcmp(r->got[i].author, d->id, 16) == 0;
        return n;
}

/* ---- fixture ---- */

static void dev_init(struct dev *d, uint8_t tag)
{
        memset(d, 0, sizeof(*d));
        memset(d->id, tag, 16);
        assert_int_equal(sig_keypair(d->pk, d->sk), 0);
        hex_encode(d->hex, d->id, 16);
}

static struct index *open_index(struct fx *f)
{
        static const uint8_t root_id[16];
        static const uint8_t root_attr[] = "root";
        uint8_t key[32];
        struct index *ix = NULL;

        memset(key, 0x33, sizeof(key));
        assert_int_equal(
            index_open(&ix, f->ixpath, key, f->region, root_id, root_attr, sizeof(root_attr)), 0);
        return ix;
}

static struct pull *new_pull(struct fx *f, struct rec *r)
{
        struct pull_peer peers[4];
        const struct dev *devs[4] = {&f->a, &f->b, &f->c, &f->r};
        struct pull *p = NULL;
        int i;

        memset(peers, 0, sizeof(peers)); /* removed, cutoff: none */
        for (i = 0; i < 4; i++) {
                memcpy(peers[i].device_id, devs[i]->id, 16);
                memcpy(peers[i].sign_pk, devs[i]->pk, 32);
                peers[i].role = i == 3 ? MEMBER_ROLE_READER : MEMBER_ROLE_WRITER;
        }
        if (r->nepochs == 0)
                rec_add_epoch(r, f->epoch_id, f->epoch_key);
        assert_int_equal(pull_new(&p, f->st, f->ix, f->region, f->a.id, peers, 4, &rec_ops, r), 0);
        r->p = p;
        return p;
}

static int setup(void **state)
{
        struct fx *f = calloc(1, sizeof(*f));
        char url[128];

        assert_non_null(f);
        assert_int_equal(secmem_init(), 0);
        snprintf(f->dir, sizeof(f->dir), "%s", "/tmp/test_pull.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(url, sizeof(url), "file://%s/store", f->dir);
        snprintf(f->ixpath, sizeof(f->ixpath), "%s/index.db", f->dir);
        assert_int_equal(store_open(url, &f->st), 0);
        assert_int_equal(store_create(f->st), 0); /* only create makes a file:// root */
        memset(f->region, 0x11, 32);
        hex_encode(f->region_hex, f->region, 32);
        memset(f->epoch_id, 0x60, 32);
        memset(f->epoch_key, 0x42, 32);
        dev_init(&f->a, 0xa0);
        dev_init(&f->b, 0xb0);
        dev_init(&f->c, 0xc0);
        dev_init(&f->r, 0xd0);
        dev_init(&f->x, 0xe0);
        f->ix = open_index(f);
        f->p = new_pull(f, &f->rec);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fx *f = *state;
        char cmd[128];

        pull_free(f->p);
        assert_int_equal(index_close(f->ix), 0);
        store_close(f->st);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f);
        return 0;
}

static unsigned round_ok(struct fx *f)
{
        unsigned n = 12345;

        assert_int_equal(pull_round(f->p, &n), 0);
        return n;
}

static void expect_alarm(struct fx *f, const char *kind, const struct dev *d)
{
        struct pull_alarm_info a;
        struct pull_peer_info pi;
        char text[512];
        size_t n, i;
        int held = 0;

        assert_true(pull_alarms(f->p, text, sizeof(text)) >= 1);
        assert_non_null(strstr(text, kind));
        assert_non_null(strstr(text, d->hex));
        /* The same alarm, as `status` lists it: kind, device, object, text. */
        n = pull_alarm_count(f->p);
        assert_int_equal(n, pull_alarms(f->p, NULL, 0));
        assert_int_equal(pull_alarm_get(f->p, n - 1, &a), 0);
        assert_string_equal(a.kind, kind);
        assert_string_equal(a.device, d->hex);
        assert_true(a.holds);
        assert_non_null(strstr(a.object, "/"));
        assert_true(a.text[0] != '\0');
        assert_int_equal(pull_alarm_get(f->p, n, &a), -ENOENT);
        for (i = 0; i < pull_peer_count(f->p); i++) {
                assert_int_equal(pull_peer_get(f->p, i, &pi), 0);
                if (strcmp(pi.device, d->hex) == 0)
                        held = pi.held;
        }
        assert_true(held);
}

/* The honest device B publishes two entries (3 manifests). */
static void honest_b(struct fx *f)
{
        publish_plain(f, &f->b, 2);
        publish_plain(f, &f->b, 1);
}

/* After an attack on C: B's three manifests applied, nothing of C, one alarm of KIND. */
static void expect_held(struct fx *f, const char *kind)
{
        unsigned before;

        assert_int_equal(count_from(&f->rec, &f->b), 3);
        assert_int_equal(count_from(&f->rec, &f->c), 0);
        assert_int_equal(f->rec.block_errors, 0);
        expect_alarm(f, kind, &f->c);
        /* Held: later honest entries of C are not applied, the alarm is not repeated. */
        before = pull_alarms(f->p, NULL, 0);
        publish_plain(f, &f->c, 1);
        publish_plain(f, &f->b, 1);
        round_ok(f);
        assert_int_equal(count_from(&f->rec, &f->c), 0);
        assert_int_equal(count_from(&f->rec, &f->b), 4);
        assert_int_equal(pull_alarms(f->p, NULL, 0), before);
}

/* ---- tests ---- */

static void test_pull_honest(void **state)
{
        struct fx *f = *state;
        struct rec r2;
        struct pull *p2;
        struct pub o;
        uint8_t mark[64], buf[PACK_BLOCK_MAX_LEN], want[BLOCK_LEN], unknown[32];
        size_t len = 0;
        unsigned n = 0;
        char name[64];

        honest_b(f);
        publish_plain(f, &f->c, 1);
        publish_plain(f, &f->a, 1); /* our own journal: skipped */
        assert_int_equal(round_ok(f), 4);
        assert_int_equal(f->rec.n, 4);
        assert_int_equal(f->rec.entries, 3);
        assert_int_equal(f->rec.block_errors, 0);
        assert_int_equal(pull_alarms(f->p, NULL, 0), 0);
        assert_int_equal(count_from(&f->rec, &f->a), 0);
        /* B's manifests in journal order, with their metadata opened. */
        assert_int_equal(count_from(&f->rec, &f->b), 3);
        {
                int i, k = 0;
                uint64_t last = 0;

                for (i = 0; i < f->rec.n; i++) {
                        if (memcmp(f->rec.got[i].author, f->b.id, 16) != 0)
                                continue;
                        assert_true(f->rec.got[i].lamport > last);
                        last = f->rec.got[i].lamport;
                        assert_int_equal(f->rec.got[i].file_id[1], f->b.id[0]);
                        k++;
                }
                assert_int_equal(k, 3);
                assert_string_equal(f->rec.got[0].name, "f-10-b0");
        }
        /* The mark: u64be seq || hash of B's last entry. */
        snprintf(name, sizeof(name), "peer:%s", f->b.hex);
        assert_int_equal(index_meta_get(f->ix, name, mark, sizeof(mark), &len), 0);
        assert_int_equal(len, 40);
        assert_int_equal(mark[7], 2);
        assert_memory_equal(mark + 8, f->b.head, 32);

        /* Nothing new: nothing applied, by this puller or a new one. */
        assert_int_equal(round_ok(f), 0);
        memset(&r2, 0, sizeof(r2));
        p2 = new_pull(f, &r2);
        assert_int_equal(pull_round(p2, &n), 0);
        assert_int_equal(n, 0);
        /* A new entry: only it. */
        memset(&o, 0, sizeof(o));
        o.file_base = 0x70;
        publish(f, &f->b, &o);
        assert_int_equal(pull_round(p2, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(r2.n, 1);
        assert_int_equal(r2.got[0].file_id[0], 0x70);
        assert_int_equal(r2.block_errors, 0);

        /* Blocks after the round: through the pack index and a range read. */
        memset(want, 0, sizeof(want));
        {
                uint8_t fid[16] = {0x70, 0xb0};

                block_bytes(fid, 0, want);
        }
        assert_int_equal(pull_fetch_block(p2, o.block_hash, buf, sizeof(buf), &len), 0);
        assert_int_equal(len, BLOCK_LEN);
        assert_memory_equal(buf, want, BLOCK_LEN);
        assert_int_equal(pull_fetch_block(p2, o.block_hash, buf, 10, &len), -ERANGE);
        memset(unknown, 0x99, 32);
        assert_int_equal(pull_fetch_block(p2, unknown, buf, sizeof(buf), &len), -ENOENT);
        pull_free(p2);

        /* Marks persist across a close of the index. */
        assert_int_equal(index_commit(f->ix), 0);
        pull_free(f->p);
        assert_int_equal(index_close(f->ix), 0);
        f->ix = open_index(f);
        memset(&f->rec, 0, sizeof(f->rec));
        f->p = new_pull(f, &f->rec);
        assert_int_equal(round_ok(f), 0);
        publish_plain(f, &f->c, 2);
        assert_int_equal(round_ok(f), 2);
        assert_int_equal(count_from(&f->rec, &f->c), 2);

        /* The store serves other bytes for a known block: -EBADMSG. */
        {
                uint8_t *pk = NULL;
                size_t plen = 0;

                assert_int_equal(f->st->ops->get(f->st, o.pack_key, 1 << 20, &pk, &plen), 0);
                pk[PACK_MIN_RECORD_OFF + 3] ^= 1; /* first block record's bytes */
                assert_int_equal(f->st->ops->put(f->st, o.pack_key, pk, plen, 0), 0);
                free(pk);
        }
        assert_int_equal(pull_fetch_block(f->p, o.block_hash, buf, sizeof(buf), &len), -EBADMSG);
}

static void test_pull_many_entries(void **state)
{
        struct fx *f = *state;
        int i;

        /* More than one listing window (256 entries) of one device. */
        for (i = 0; i < 300; i++) {
                struct pub o;

                memset(&o, 0, sizeof(o));
                o.file_base = (uint8_t)(0x10 + (i % 200));
                publish(f, &f->c, &o);
        }
        f->rec.n = 0;
        {
                unsigned total = 0, n;
                int rounds = 0;

                do {
                        n = 0;
                        assert_int_equal(pull_round(f->p, &n), 0);
                        total += n;
                        f->rec.n = 0; /* the recorder holds MAX_APPLIED */
                        rounds++;
                } while (n > 0 && rounds < 5);
                assert_int_equal(total, 300);
                assert_int_equal(rounds, 3);
        }
        assert_int_equal(f->rec.entries, 300);
        assert_int_equal(pull_alarms(f->p, NULL, 0), 0);
}

static void test_pull_apply_retry(void **state)
{
        struct fx *f = *state;
        unsigned n = 0;

        publish_plain(f, &f->c, 2);
        f->rec.fail_next = 2; /* first commit fails in round 1 and 2 */
        assert_int_equal(pull_round(f->p, &n), -EAGAIN);
        assert_int_equal(n, 0);
        assert_int_equal(f->rec.entries, 0);
        assert_int_equal(pull_round(f->p, &n), -EAGAIN);
        assert_int_equal(pull_round(f->p, &n), 0);
        assert_int_equal(n, 2);
        assert_int_equal(f->rec.entries, 1);
        assert_int_equal(pull_alarms(f->p, NULL, 0), 0);
}

static void attack_flip(struct fx *f, int what)
{
        struct pub o;

        honest_b(f);
        memset(&o, 0, sizeof(o));
        o.nfiles = 2; /* the twist is in the second commit: the first is not applied either */
        o.flip_entry = what == 0;
        o.flip_pack = what == 1;
        o.flip_manifest = what == 2;
        o.flip_record = what == 3;
        publish(f, &f->c, &o);
        round_ok(f);
        expect_held(f, "bad-object");
}

static void test_attack_flip_entry(void **state)
{
        attack_flip(*state, 0);
}

static void test_attack_flip_pack(void **state)
{
        attack_flip(*state, 1);
}

static void test_attack_flip_manifest(void **state)
{
        attack_flip(*state, 2);
}

static void test_attack_flip_record(void **state)
{
        attack_flip(*state, 3);
}

static void test_attack_commit_not_a_manifest(void **state)
{
        struct fx *f = *state;
        struct pub o;

        honest_b(f);
        memset(&o, 0, sizeof(o));
        o.nfiles = 2;
        o.bad_off = 1;
        publish(f, &f->c, &o);
        round_ok(f);
        expect_held(f, "bad-object");
}

static void test_empty_entry(void **state)
{
        struct fx *f = *state;
        struct pub o;

        memset(&o, 0, sizeof(o));
        o.empty = 1;
        publish(f, &f->c, &o);
        publish_plain(f, &f->c, 1);
        assert_int_equal(round_ok(f), 1);
        assert_int_equal(f->rec.entries, 2);
        assert_int_equal(pull_alarms(f->p, NULL, 0), 0);
}

static void test_attack_flip_pack_trailer(void **state)
{
        struct fx *f = *state;
        struct pub o;
        uint8_t *pb = NULL;
        size_t plen = 0;

        honest_b(f);
        memset(&o, 0, sizeof(o));
        o.nfiles = 2;
        publish(f, &f->c, &o);
        assert_int_equal(f->st->ops->get(f->st, o.pack_key, 1 << 20, &pb, &plen), 0);
        pb[plen - 60] ^= 1; /* inside the trailer: the pack no longer matches its name */
        assert_int_equal(f->st->ops->put(f->st, o.pack_key, pb, plen, 0), 0);
        free(pb);
        round_ok(f);
        expect_held(f, "bad-object");
}

static void test_attack_gap(void **state)
{
        struct fx *f = *state;
        struct pub o2;

        honest_b(f);
        publish_plain(f, &f->c, 1);
        memset(&o2, 0, sizeof(o2));
        o2.file_base = 0x40;
        publish(f, &f->c, &o2);
        publish_plain(f, &f->c, 1);
        assert_int_equal(f->st->ops->del(f->st, o2.key), 0);
        pull_set_gap_grace(f->p, 0); /* a lasting gap: no grace left */
        round_ok(f);
        expect_held(f, "journal-gap");
}

/*
 * FOUND.md B5: a listing that shows seq 3 but not 2 yet (an eventually
 * consistent store) is no alarm within the grace period: the entry before
 * the gap is applied, the device is not held, and once 2 is listed the rest
 * follows.
 */
static void test_gap_lagging_listing(void **state)
{
        struct fx *f = *state;
        struct pub o2;
        struct pull_peer_info pi;
        uint8_t *bytes = NULL;
        size_t len = 0, i;

        honest_b(f);
        publish_plain(f, &f->c, 1);
        memset(&o2, 0, sizeof(o2));
        o2.file_base = 0x40;
        publish(f, &f->c, &o2);
        publish_plain(f, &f->c, 1);
        assert_int_equal(f->st->ops->get(f->st, o2.key, 1 << 20, &bytes, &len), 0);
        assert_int_equal(f->st->ops->del(f->st, o2.key), 0);
        round_ok(f);
        assert_int_equal(count_from(&f->rec, &f->c), 1);
        assert_int_equal(pull_alarms(f->p, NULL, 0), 0);
        for (i = 0; i < pull_peer_count(f->p); i++) {
                assert_int_equal(pull_peer_get(f->p, i, &pi), 0);
                assert_false(pi.held);
        }
        round_ok(f); /* still lagging: still no alarm */
        assert_int_equal(pull_alarms(f->p, NULL, 0), 0);
        assert_int_equal(f->st->ops->put(f->st, o2.key, bytes, len, 0), 0);
        free(bytes);
        round_ok(f);
        assert_int_equal(count_from(&f->rec, &f->c), 3);
        assert_int_equal(pull_alarms(f->p, NULL, 0), 0);
}

static void test_attack_gap_at_start(void **state)
{
        struct fx *f = *state;
        struct pub o1;

        honest_b(f);
        memset(&o1, 0, sizeof(o1));
        publish(f, &f->c, &o1);
        publish_plain(f, &f->c, 1);
        assert_int_equal(f->st->ops->del(f->st, o1.key), 0);
        pull_set_gap_grace(f->p, 0);
        round_ok(f);
        expect_held(f, "journal-gap");
}

static void test_attack_equivocation(void **state)
{
        struct fx *f = *state;
        struct pub o;

        honest_b(f);
        publish_plain(f, &f->c, 1);
        /* A second, different entry at seq 1. */
        f->c.seq = 0;
        memset(f->c.head, 0, 32);
        memset(&o, 0, sizeof(o));
        o.file_base = 0x50;
        publish(f, &f->c, &o);
        round_ok(f);
        expect_held(f, "equivocation");
}

static void test_attack_equivocation_after_mark(void **state)
{
        struct fx *f = *state;
        struct pub o;
        uint8_t head[32];

        publish_plain(f, &f->c, 1);
        assert_int_equal(round_ok(f), 1);
        memcpy(head, f->c.head, 32);
        /* Later a second seq-1 entry appears (either side of the mark's key). */
        f->c.seq = 0;
        memset(&o, 0, sizeof(o));
        o.file_base = 0x50;
        o.keep_chain = 1;
        publish(f, &f->c, &o);
        f->c.seq = 1;
        memcpy(f->c.head, head, 32);
        publish_plain(f, &f->c, 1);
        honest_b(f);
        f->rec.n = 0;
        round_ok(f);
        expect_held(f, "equivocation");
}

static void test_attack_fork(void **state)
{
        struct fx *f = *state;
        struct pub o;

        publish_plain(f, &f->c, 1);
        assert_int_equal(round_ok(f), 1);
        f->rec.n = 0;
        honest_b(f);
        memset(&o, 0, sizeof(o));
        o.wrong_prev = 1; /* validly signed, but not after the entry we applied */
        publish(f, &f->c, &o);
        round_ok(f);
        expect_held(f, "equivocation");
}

static void test_attack_rollback(void **state)
{
        struct fx *f = *state;
        struct pub o;
        struct rec r2;
        struct pull *p2;
        unsigned n = 0;

        publish_plain(f, &f->c, 1);
        memset(&o, 0, sizeof(o));
        o.file_base = 0x40;
        publish(f, &f->c, &o);
        assert_int_equal(round_ok(f), 2);
        /* The store forgets the applied head (and everything after it). */
        assert_int_equal(f->st->ops->del(f->st, o.key), 0);
        f->rec.n = 0;
        honest_b(f);
        round_ok(f);
        expect_alarm(f, "journal-rollback", &f->c);
        assert_int_equal(count_from(&f->rec, &f->b), 3);
        /* A new puller (restart) checks on its first round too. */
        memset(&r2, 0, sizeof(r2));
        p2 = new_pull(f, &r2);
        assert_int_equal(pull_round(p2, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(pull_alarms(p2, NULL, 0), 1);
        pull_free(p2);
}

static void test_attack_non_member_signer(void **state)
{
        struct fx *f = *state;
        struct pub o;

        honest_b(f);
        memset(&o, 0, sizeof(o));
        o.entry_sk = f->x.sk;
        publish(f, &f->c, &o);
        round_ok(f);
        expect_held(f, "bad-object");
}

static void test_non_member_device_ignored(void **state)
{
        struct fx *f = *state;

        honest_b(f);
        publish_plain(f, &f->x, 1); /* valid, self-signed, but not a member */
        assert_int_equal(round_ok(f), 3);
        assert_int_equal(count_from(&f->rec, &f->x), 0);
        assert_int_equal(pull_alarms(f->p, NULL, 0), 0);
}

/*
 * R (a reader, or what the caller made it) publishes: refused, B's entries
 * applied.  R's journal first waits for a membership refresh (R may have
 * been promoted since our fold), then is the alarm.
 */
static void expect_not_writer(struct fx *f)
{
        honest_b(f);
        publish_plain(f, &f->r, 1);
        round_ok(f);
        assert_int_equal(pull_alarms(f->p, NULL, 0), 0);
        assert_int_equal(pull_wants_keys(f->p), 1);
        pull_keys_refreshed(f->p);
        round_ok(f);
        assert_int_equal(count_from(&f->rec, &f->b), 3);
        assert_int_equal(count_from(&f->rec, &f->r), 0);
        expect_alarm(f, "not-a-writer", &f->r);
}

static void test_attack_reader(void **state)
{
        expect_not_writer(*state);
}

static void test_attack_foreign_author(void **state)
{
        struct fx *f = *state;
        struct pub o;

        honest_b(f);
        memset(&o, 0, sizeof(o));
        o.author = &f->b; /* B's genuine manifest inside C's entry */
        publish(f, &f->c, &o);
        round_ok(f);
        expect_held(f, "bad-object");
}

static void test_attack_wrong_epoch(void **state)
{
        struct fx *f = *state;
        struct pub o;
        uint8_t eid[32], ekey[32];

        honest_b(f);
        memset(eid, 0x61, 32);
        memset(ekey, 0x43, 32);
        memset(&o, 0, sizeof(o));
        o.epoch_id = eid;
        o.epoch_key = ekey;
        publish(f, &f->c, &o);
        /* First a wait for a membership refresh: no alarm, nothing of C, asked for keys. */
        round_ok(f);
        assert_int_equal(count_from(&f->rec, &f->c), 0);
        assert_int_equal(pull_alarms(f->p, NULL, 0), 0);
        assert_int_equal(pull_wants_keys(f->p), 1);
        assert_int_equal(pull_wants_keys(f->p), 0);
        round_ok(f); /* no refresh yet: still waiting, still no alarm */
        assert_int_equal(pull_alarms(f->p, NULL, 0), 0);
        assert_int_equal(pull_wants_keys(f->p), 1);
        /* A refresh that did not bring the epoch: now it is an attack. */
        pull_keys_refreshed(f->p);
        round_ok(f);
        expect_held(f, "unknown-epoch");
}

/* Manifests under two epochs this device holds both apply, each with its own key. */
static void test_pull_two_epochs(void **state)
{
        struct fx *f = *state;
        struct pub o;
        uint8_t eid[32], ekey[32];

        memset(eid, 0x62, 32);
        memset(ekey, 0x44, 32);
        rec_add_epoch(&f->rec, eid, ekey);
        publish_plain(f, &f->b, 1); /* the first epoch */
        memset(&o, 0, sizeof(o));
        o.epoch_id = eid;
        o.epoch_key = ekey;
        o.file_base = 0x40;
        publish(f, &f->b, &o); /* the second */
        memset(&o, 0, sizeof(o));
        o.epoch_id = eid;
        o.epoch_key = f->epoch_key; /* the second epoch's id with the first's key */
        o.file_base = 0x50;
        publish(f, &f->c, &o);
        assert_int_equal(round_ok(f), 2);
        assert_int_equal(count_from(&f->rec, &f->b), 2);
        assert_int_equal(f->rec.block_errors, 0);
        expect_alarm(f, "bad-object", &f->c); /* the key commitment is checked per epoch */
}

/*
 * A peer rotated before this device's membership saw it: its journal waits
 * at that entry (its later entries too, order kept) and applies once the
 * refresh brings the key.
 */
static void test_unknown_epoch_then_learned(void **state)
{
        struct fx *f = *state;
        struct pub o;
        uint8_t eid[32], ekey[32];

        memset(eid, 0x63, 32);
        memset(ekey, 0x45, 32);
        memset(&o, 0, sizeof(o));
        o.epoch_id = eid;
        o.epoch_key = ekey;
        o.file_base = 0x20;
        publish(f, &f->c, &o);
        publish_plain(f, &f->c, 1); /* a later entry under the known epoch */
        publish_plain(f, &f->b, 1);
        round_ok(f);
        assert_int_equal(count_from(&f->rec, &f->c), 0);
        assert_int_equal(count_from(&f->rec, &f->b), 1);
        assert_int_equal(pull_alarms(f->p, NULL, 0), 0);
        assert_int_equal(pull_wants_keys(f->p), 1);
        rec_add_epoch(&f->rec, eid, ekey);
        pull_keys_refreshed(f->p);
        round_ok(f);
        assert_int_equal(count_from(&f->rec, &f->c), 2);
        assert_int_equal(f->rec.got[1].file_id[0], 0x20); /* in journal order */
        assert_int_equal(pull_alarms(f->p, NULL, 0), 0);
        assert_int_equal(f->rec.block_errors, 0);
}

/*
 * An epoch of the fold whose key this device does not get (the key-history
 * policy): after one membership refresh its versions are skipped, counted,
 * no alarm; the peer's later entries apply, and later versions under the
 * same epoch skip without another wait.
 */
static void test_withheld_epoch_skipped(void **state)
{
        struct fx *f = *state;
        struct pull_stats st;
        struct pub o;
        uint8_t eid[32], ekey[32];

        memset(eid, 0x64, 32);
        memset(ekey, 0x46, 32);
        memcpy(f->rec.fold_epochs[f->rec.nfold++], eid, 32);
        memset(&o, 0, sizeof(o));
        o.epoch_id = eid;
        o.epoch_key = ekey;
        o.nfiles = 2;
        o.file_base = 0x20;
        publish(f, &f->c, &o);
        publish_plain(f, &f->c, 1); /* a later entry under the epoch this device holds */
        round_ok(f);
        assert_int_equal(count_from(&f->rec, &f->c), 0); /* waits for one refresh first */
        assert_int_equal(pull_wants_keys(f->p), 1);
        pull_keys_refreshed(f->p);
        round_ok(f);
        assert_int_equal(count_from(&f->rec, &f->c), 1); /* the later entry only */
        assert_int_equal(pull_alarms(f->p, NULL, 0), 0);
        pull_get_stats(f->p, &st);
        assert_int_equal(st.skipped, 2);
        /* The same epoch again: skipped at once, the journal goes on. */
        memset(&o, 0, sizeof(o));
        o.epoch_id = eid;
        o.epoch_key = ekey;
        o.file_base = 0x30;
        publish(f, &f->c, &o);
        publish_plain(f, &f->c, 1);
        round_ok(f);
        assert_int_equal(count_from(&f->rec, &f->c), 2);
        assert_int_equal(pull_wants_keys(f->p), 0);
        assert_int_equal(pull_alarms(f->p, NULL, 0), 0);
        pull_get_stats(f->p, &st);
        assert_int_equal(st.skipped, 3);
}

static void test_attack_epoch_id_wrong_key(void **state)
{
        struct fx *f = *state;
        struct pub o;
        uint8_t ekey[32];

        /* The current epoch's id with another key: the key commitment fails. */
        honest_b(f);
        memset(ekey, 0x43, 32);
        memset(&o, 0, sizeof(o));
        o.epoch_key = ekey;
        publish(f, &f->c, &o);
        round_ok(f);
        expect_held(f, "bad-object");
}

static void replay(struct fx *f, int rename_hash)
{
        struct pub o;
        uint8_t *buf = NULL, h[32];
        size_t len = 0;
        char key[JOURNAL_KEY_SIZE];

        memset(&o, 0, sizeof(o));
        publish(f, &f->c, &o);
        assert_int_equal(round_ok(f), 1);
        f->rec.n = 0;
        honest_b(f);
        /* The old entry's bytes again, as seq 2. */
        assert_int_equal(f->st->ops->get(f->st, o.key, JOURNAL_MAX_SIZE, &buf, &len), 0);
        memcpy(h, o.hash, 32);
        if (rename_hash)
                h[0] ^= 0x55;
        assert_int_equal(journal_object_key(f->region_hex, f->c.id, 2, h, key), 0);
        assert_int_equal(f->st->ops->put(f->st, key, buf, len, 0), 0);
        free(buf);
        round_ok(f);
        expect_held(f, "bad-object");
}

static void test_attack_replay_same_hash(void **state)
{
        replay(*state, 0);
}

static void test_attack_replay_other_hash(void **state)
{
        replay(*state, 1);
}

static void test_junk_key_skipped(void **state)
{
        struct fx *f = *state;
        char key[256];
        char text[512];

        snprintf(key, sizeof(key), "%s/journal/%s/zz-not-a-key", f->region_hex, f->c.hex);
        assert_int_equal(f->st->ops->put(f->st, key, "x", 1, 0), 0);
        publish_plain(f, &f->c, 1);
        assert_int_equal(round_ok(f), 1);
        assert_int_equal(pull_alarms(f->p, text, sizeof(text)), 1);
        assert_non_null(strstr(text, "store-junk"));
        /* Not held, logged once. */
        publish_plain(f, &f->c, 1);
        assert_int_equal(round_ok(f), 1);
        assert_int_equal(pull_alarms(f->p, NULL, 0), 1);
}

static void test_missing_pack_retried(void **state)
{
        struct fx *f = *state;
        struct pub o;
        uint8_t *pb = NULL;
        size_t plen = 0;
        unsigned n = 0;

        memset(&o, 0, sizeof(o));
        publish(f, &f->c, &o);
        assert_int_equal(f->st->ops->get(f->st, o.pack_key, 1 << 20, &pb, &plen), 0);
        assert_int_equal(f->st->ops->del(f->st, o.pack_key), 0);
        assert_int_equal(pull_round(f->p, &n), -EAGAIN);
        assert_int_equal(n, 0);
        assert_int_equal(f->st->ops->put(f->st, o.pack_key, pb, plen, 0), 0);
        free(pb);
        assert_int_equal(round_ok(f), 1);
}

/* ---- pull_set_peers: the membership grows while mounted ---- */

static struct pull_peer peer_of(const struct dev *d, const uint8_t *pk, uint8_t role)
{
        struct pull_peer pp;

        memset(&pp, 0, sizeof(pp));
        memcpy(pp.device_id, d->id, 16);
        memcpy(pp.sign_pk, pk, 32);
        pp.role = role;
        return pp;
}

static int peer_known(struct fx *f, const struct dev *d)
{
        struct pull_peer_info pi;
        size_t i;

        for (i = 0; i < pull_peer_count(f->p); i++) {
                assert_int_equal(pull_peer_get(f->p, i, &pi), 0);
                if (strcmp(pi.device, d->hex) == 0)
                        return 1;
        }
        return 0;
}

/* A device enrolled after pull_new (X) is pulled once pull_set_peers names it. */
static void test_set_peers_adds(void **state)
{
        struct fx *f = *state;
        struct pull_peer peers[3];
        size_t before = pull_peer_count(f->p);

        publish_plain(f, &f->x, 2);
        honest_b(f);
        assert_int_equal(round_ok(f), 3);
        assert_int_equal(count_from(&f->rec, &f->x), 0);
        assert_false(peer_known(f, &f->x));
        /* The new fold: ourselves, B (unchanged) and X. */
        peers[0] = peer_of(&f->a, f->a.pk, MEMBER_ROLE_ADMIN);
        peers[1] = peer_of(&f->b, f->b.pk, MEMBER_ROLE_WRITER);
        peers[2] = peer_of(&f->x, f->x.pk, MEMBER_ROLE_WRITER);
        assert_int_equal(pull_set_peers(f->p, peers, 3), 0);
        assert_int_equal(pull_peer_count(f->p), before + 1);
        assert_true(peer_known(f, &f->x));
        assert_int_equal(round_ok(f), 2);
        assert_int_equal(count_from(&f->rec, &f->x), 2);
        assert_int_equal(f->rec.block_errors, 0);
        /* Again: nothing new, nothing added twice. */
        assert_int_equal(pull_set_peers(f->p, peers, 3), 0);
        assert_int_equal(pull_peer_count(f->p), before + 1);
        publish_plain(f, &f->x, 1);
        assert_int_equal(round_ok(f), 1);
        assert_int_equal(count_from(&f->rec, &f->x), 3);
        assert_int_equal(pull_alarms(f->p, NULL, 0), 0);
}

/* A known device with another key in the fold: refused, alarm, the pinned key stays. */
static void test_set_peers_key_changed(void **state)
{
        struct fx *f = *state;
        struct pull_peer peers[2];
        struct pull_alarm_info a;
        struct pub o;
        char text[512];

        peers[0] = peer_of(&f->b, f->x.pk, MEMBER_ROLE_WRITER); /* B with X's key */
        peers[1] = peer_of(&f->x, f->x.pk, MEMBER_ROLE_WRITER); /* still added */
        assert_int_equal(pull_set_peers(f->p, peers, 2), -EKEYREJECTED);
        assert_int_equal(pull_alarms(f->p, text, sizeof(text)), 1);
        assert_non_null(strstr(text, "key-changed"));
        assert_int_equal(pull_alarm_get(f->p, 0, &a), 0);
        assert_string_equal(a.kind, "key-changed");
        assert_string_equal(a.device, f->b.hex);
        assert_false(a.holds);
        assert_true(peer_known(f, &f->x));
        /* Refused again: the alarm is not repeated. */
        assert_int_equal(pull_set_peers(f->p, peers, 1), -EKEYREJECTED);
        assert_int_equal(pull_alarms(f->p, NULL, 0), 1);
        /* B's entries under the pinned key still apply; one signed with the new key does not. */
        honest_b(f);
        assert_int_equal(round_ok(f), 3);
        memset(&o, 0, sizeof(o));
        o.entry_sk = f->x.sk;
        publish(f, &f->b, &o);
        round_ok(f);
        assert_int_equal(count_from(&f->rec, &f->b), 3);
        assert_int_equal(pull_alarm_get(f->p, 1, &a), 0);
        assert_string_equal(a.kind, "bad-object");
}

/* The RECOVERY device never authors files: its signed entries are refused like a reader's. */
static void test_attack_recovery(void **state)
{
        struct fx *f = *state;
        struct pull_peer peer = peer_of(&f->r, f->r.pk, MEMBER_ROLE_RECOVERY);

        assert_int_equal(pull_set_peers(f->p, &peer, 1), 0);
        expect_not_writer(f);
}

/* A known device's role follows the fold: the reader R, made a writer, is pulled. */
static void test_set_peers_role(void **state)
{
        struct fx *f = *state;
        struct pull_peer peer = peer_of(&f->r, f->r.pk, MEMBER_ROLE_WRITER);

        assert_int_equal(pull_set_peers(f->p, &peer, 1), 0);
        publish_plain(f, &f->r, 1);
        assert_int_equal(round_ok(f), 1);
        assert_int_equal(count_from(&f->rec, &f->r), 1);
        assert_int_equal(pull_alarms(f->p, NULL, 0), 0);
}

/* ---- lasting alarms (A1) and seen marks (W1, W2) ---- */

/* The held flag of device D as pull_peer_get reports it. */
static int held_of(struct pull *p, const struct dev *d)
{
        struct pull_peer_info pi;
        size_t i;

        for (i = 0; i < pull_peer_count(p); i++) {
                assert_int_equal(pull_peer_get(p, i, &pi), 0);
                if (strcmp(pi.device, d->hex) == 0)
                        return pi.held;
        }
        fail();
        return 0;
}

static void test_alarm_lasts_across_restart(void **state)
{
        struct fx *f = *state;
        struct pull_alarm_info a, a2;
        struct pub o1, o2;
        struct rec r2;
        unsigned n = 0;

        memset(&o1, 0, sizeof(o1));
        publish(f, &f->c, &o1);
        f->c.seq = 0;
        memset(f->c.head, 0, 32);
        memset(&o2, 0, sizeof(o2));
        o2.file_base = 0x50;
        publish(f, &f->c, &o2); /* a second entry at seq 1 */
        round_ok(f);
        assert_int_equal(count_from(&f->rec, &f->c), 0);
        assert_int_equal(pull_alarm_count(f->p), 1);
        assert_int_equal(pull_alarm_get(f->p, 0, &a), 0);
        assert_string_equal(a.kind, "equivocation");
        assert_true(a.id > 0);
        /* Restart (a new puller on the same index); the store drops one of the two. */
        pull_free(f->p);
        assert_int_equal(index_commit(f->ix), 0);
        assert_int_equal(f->st->ops->del(f->st, o2.key), 0);
        memset(&r2, 0, sizeof(r2));
        f->p = new_pull(f, &r2);
        assert_int_equal(pull_alarm_count(f->p), 1);
        assert_int_equal(pull_alarms(f->p, NULL, 0), 1);
        assert_int_equal(pull_alarm_get(f->p, 0, &a2), 0);
        assert_int_equal(a2.id, a.id);
        assert_string_equal(a2.kind, "equivocation");
        assert_string_equal(a2.object, a.object);
        assert_true(a2.holds);
        assert_true(held_of(f->p, &f->c));
        assert_int_equal(pull_round(f->p, &n), 0);
        assert_int_equal(count_from(&r2, &f->c), 0); /* the remaining one is not applied */
        /* Cleared: released, looked at again, the remaining entry verifies and is applied. */
        assert_int_equal(pull_alarm_clear(f->p, a.id + 100, &n), -ENOENT);
        assert_int_equal(pull_alarm_clear(f->p, a.id, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(pull_alarm_count(f->p), 0);
        assert_int_equal(pull_alarms(f->p, NULL, 0), 0);
        assert_false(held_of(f->p, &f->c));
        assert_int_equal(pull_round(f->p, &n), 0);
        assert_int_equal(count_from(&r2, &f->c), 1);
        /* Cleared stays cleared after another restart. */
        pull_free(f->p);
        f->p = new_pull(f, &r2);
        assert_int_equal(pull_alarm_count(f->p), 0);
}

static void test_alarm_raised_again_after_clear(void **state)
{
        struct fx *f = *state;
        struct pull_alarm_info a;
        struct pub o;
        unsigned n = 0;

        publish_plain(f, &f->c, 1);
        f->c.seq = 0;
        memset(f->c.head, 0, 32);
        memset(&o, 0, sizeof(o));
        o.file_base = 0x50;
        publish(f, &f->c, &o);
        round_ok(f);
        assert_int_equal(pull_alarm_count(f->p), 1);
        assert_int_equal(pull_alarm_clear(f->p, 0, &n), 0);
        assert_int_equal(n, 1);
        round_ok(f); /* both entries still there: the same evidence, a new alarm */
        assert_int_equal(pull_alarm_count(f->p), 1);
        assert_int_equal(pull_alarm_get(f->p, 0, &a), 0);
        assert_string_equal(a.kind, "equivocation");
        assert_true(held_of(f->p, &f->c));
        assert_int_equal(count_from(&f->rec, &f->c), 0);
}

/* B's entry names C's entry at seq 1 (O), which the store hides, then shows. */
static void test_seen_withheld(void **state)
{
        struct fx *f = *state;
        struct journal_seen m;
        struct pull_alarm_info a;
        struct pub oc, ob;
        char aside[JOURNAL_KEY_SIZE + 8];
        uint8_t *bytes = NULL;
        size_t len = 0;

        memset(&oc, 0, sizeof(oc));
        oc.file_base = 0x30;
        publish(f, &f->c, &oc);
        memcpy(m.device_id, f->c.id, 16);
        m.seq = 1;
        memcpy(m.hash, oc.hash, 32);
        memset(&ob, 0, sizeof(ob));
        ob.seen = &m;
        ob.nseen = 1;
        publish(f, &f->b, &ob);
        publish_plain(f, &f->b, 1);
        /* Hidden: moved aside under a key that is no journal key of C. */
        assert_int_equal(f->st->ops->get(f->st, oc.key, 1 << 20, &bytes, &len), 0);
        snprintf(aside, sizeof(aside), "%s/aside", f->region_hex);
        assert_int_equal(f->st->ops->put(f->st, aside, bytes, len, 0), 0);
        assert_int_equal(f->st->ops->del(f->st, oc.key), 0);
        round_ok(f);
        assert_int_equal(count_from(&f->rec, &f->b), 0); /* B waits, within the grace: no alarm */
        assert_int_equal(pull_alarm_count(f->p), 0);
        assert_false(held_of(f->p, &f->b));
        pull_set_withheld_grace(f->p, 0);
        round_ok(f);
        assert_int_equal(count_from(&f->rec, &f->b), 0);
        assert_int_equal(pull_alarm_count(f->p), 1);
        assert_int_equal(pull_alarm_get(f->p, 0, &a), 0);
        assert_string_equal(a.kind, "withheld");
        assert_string_equal(a.device, f->c.hex);
        assert_int_equal(a.seq, 1);
        assert_string_equal(a.object, ob.key);
        assert_false(a.holds);
        assert_true(held_of(f->p, &f->b));
        /* It reappears: C's entry, then B's two, in one round. */
        assert_int_equal(f->st->ops->put(f->st, oc.key, bytes, len, 0), 0);
        free(bytes);
        round_ok(f);
        assert_int_equal(count_from(&f->rec, &f->c), 1);
        assert_int_equal(count_from(&f->rec, &f->b), 2);
        assert_false(held_of(f->p, &f->b));
        assert_int_equal(pull_alarm_count(f->p), 1); /* kept until cleared */
}

/* A seen mark at our mark's seq with another hash: C's journal forked. */
static void test_seen_fork(void **state)
{
        struct fx *f = *state;
        struct journal_seen m;
        struct pub ob;

        publish_plain(f, &f->c, 1);
        assert_int_equal(round_ok(f), 1);
        memcpy(m.device_id, f->c.id, 16);
        m.seq = 1;
        memset(m.hash, 0x5a, 32);
        memset(&ob, 0, sizeof(ob));
        ob.seen = &m;
        ob.nseen = 1;
        publish(f, &f->b, &ob);
        round_ok(f);
        assert_int_equal(count_from(&f->rec, &f->b), 0);
        expect_alarm(f, "equivocation", &f->c);
}

/* W1: pull_seen_fill names each peer once per move of its mark. */
static void test_seen_fill(void **state)
{
        struct fx *f = *state;
        struct journal_seen *v = NULL;
        size_t n = 0;

        assert_int_equal(pull_seen_fill(f->p, &v, &n), 0);
        assert_int_equal(n, 0);
        publish_plain(f, &f->c, 1);
        publish_plain(f, &f->b, 1);
        round_ok(f);
        assert_int_equal(pull_seen_fill(f->p, &v, &n), 0);
        assert_int_equal(n, 2);
        assert_true(memcmp(v[0].device_id, v[1].device_id, 16) < 0);
        assert_int_equal(v[0].seq, 1);
        assert_int_equal(pull_seen_note(f->p, v, n), 0);
        free(v);
        assert_int_equal(pull_seen_fill(f->p, &v, &n), 0);
        assert_int_equal(n, 0);
        publish_plain(f, &f->c, 1);
        round_ok(f);
        assert_int_equal(pull_seen_fill(f->p, &v, &n), 0);
        assert_int_equal(n, 1);
        assert_memory_equal(v[0].device_id, f->c.id, 16);
        assert_int_equal(v[0].seq, 2);
        free(v);
}

/* The undo callback (invariant C2): records what it was asked to undo. */
struct undo_rec {
        int calls;
        size_t n;
        struct pull_undo u[8];
        uint8_t device_id[16];
};

static struct undo_rec undo_seen;

static int rec_undo(void *arg, const uint8_t device_id[static 16], const struct pull_undo *u,
                    size_t n)
{
        (void)arg;
        undo_seen.calls++;
        memcpy(undo_seen.device_id, device_id, 16);
        undo_seen.n = n < 8 ? n : 8;
        memcpy(undo_seen.u, u, undo_seen.n * sizeof(*u));
        return 0;
}

static const struct pull_ops undo_ops = {.apply = rec_apply,
                                         .entry_done = rec_entry_done,
                                         .epoch_key = rec_epoch_key,
                                         .member_known = rec_member_known,
                                         .epoch_known = rec_epoch_known,
                                         .undo = rec_undo};

/*
 * C publishes three entries (1 + 2 + 1 manifests), all applied; then the
 * fold says C was removed with its cutoff at seq 1: the next round hands the
 * commits of seq 2..3 to ops->undo in journal order, the mark goes back to
 * seq 1, the alarm revoked names C, and nothing is undone twice.
 */
static void test_cut_after_apply(void **state)
{
        struct fx *f = *state;
        struct pull_peer peer = peer_of(&f->c, f->c.pk, MEMBER_ROLE_WRITER);
        struct pull_peer_info pi;
        uint8_t cut_hash[32];
        struct pull *p = NULL;
        size_t i;

        pull_free(f->p);
        memset(&undo_seen, 0, sizeof(undo_seen));
        assert_int_equal(
            pull_new(&p, f->st, f->ix, f->region, f->a.id, &peer, 1, &undo_ops, &f->rec), 0);
        f->p = p;
        f->rec.p = p;
        publish_plain(f, &f->c, 1);
        memcpy(cut_hash, f->c.head, 32);
        publish_plain(f, &f->c, 2);
        publish_plain(f, &f->c, 1);
        assert_int_equal(round_ok(f), 4);
        assert_int_equal(undo_seen.calls, 0);
        peer.removed = 1;
        peer.cutoff_seq = 1;
        memcpy(peer.cutoff_hash, cut_hash, 32);
        assert_int_equal(pull_set_peers(f->p, &peer, 1), 0);
        round_ok(f);
        assert_int_equal(undo_seen.calls, 1);
        assert_memory_equal(undo_seen.device_id, f->c.id, 16);
        assert_int_equal(undo_seen.n, 3);
        for (i = 0; i < 3; i++) /* the last three applied, in order */
                assert_memory_equal(undo_seen.u[i].manifest_hash, f->rec.got[1 + i].hash, 32);
        expect_alarm(f, "revoked", &f->c);
        assert_int_equal(pull_peer_get(f->p, 0, &pi), 0);
        assert_int_equal(pi.seq, 1);
        assert_memory_equal(pi.hash, cut_hash, 32);
        round_ok(f);
        assert_int_equal(undo_seen.calls, 1);
}

/* The same with the cutoff at 0 (removed before it published): every entry undone, no mark. */
static void test_cut_to_nothing(void **state)
{
        struct fx *f = *state;
        struct pull_peer peer = peer_of(&f->c, f->c.pk, MEMBER_ROLE_WRITER);
        struct pull_peer_info pi;
        struct pull *p = NULL;

        pull_free(f->p);
        memset(&undo_seen, 0, sizeof(undo_seen));
        assert_int_equal(
            pull_new(&p, f->st, f->ix, f->region, f->a.id, &peer, 1, &undo_ops, &f->rec), 0);
        f->p = p;
        f->rec.p = p;
        publish_plain(f, &f->c, 2);
        assert_int_equal(round_ok(f), 2);
        peer.removed = 1;
        assert_int_equal(pull_set_peers(f->p, &peer, 1), 0);
        round_ok(f);
        assert_int_equal(undo_seen.calls, 1);
        assert_int_equal(undo_seen.n, 2);
        expect_alarm(f, "revoked", &f->c);
        assert_int_equal(pull_peer_get(f->p, 0, &pi), 0);
        assert_int_equal(pi.have, 0);
}

/* Peer 0's mark and whether it is held. */
static void expect_mark(struct fx *f, uint64_t seq, const uint8_t hash[32], int held)
{
        struct pull_peer_info pi;

        assert_int_equal(pull_peer_get(f->p, 0, &pi), 0);
        assert_int_equal(pi.seq, seq);
        assert_memory_equal(pi.hash, hash, 32);
        assert_int_equal(pi.held, held);
}

/* How many alarms of KIND the puller keeps; *HOLDING: how many of them hold. */
static size_t alarms_of(struct fx *f, const char *kind, size_t *holding)
{
        struct pull_alarm_info a;
        size_t i, n = 0;

        *holding = 0;
        for (i = 0; pull_alarm_get(f->p, i, &a) == 0; i++)
                if (strcmp(a.kind, kind) == 0) {
                        n++;
                        *holding += a.holds != 0;
                }
        return n;
}

/* A puller of peer C alone with the undo callback; C publishes seq 1, returns its hash. */
static void twin_setup(struct fx *f, struct pull_peer *peer, uint8_t e1[32])
{
        struct pull *p = NULL;

        *peer = peer_of(&f->c, f->c.pk, MEMBER_ROLE_WRITER);
        pull_free(f->p);
        memset(&undo_seen, 0, sizeof(undo_seen));
        assert_int_equal(
            pull_new(&p, f->st, f->ix, f->region, f->a.id, peer, 1, &undo_ops, &f->rec), 0);
        f->p = p;
        f->rec.p = p;
        publish_plain(f, &f->c, 1);
        memcpy(e1, f->c.head, 32);
}

/* C publishes another entry at seq 2 after E1 (file 0x50, NFILES manifests): its hash. */
static void twin_publish(struct fx *f, const uint8_t e1[32], int nfiles, uint8_t out[32])
{
        struct pub o;

        f->c.seq = 1;
        memcpy(f->c.head, e1, 32);
        memset(&o, 0, sizeof(o));
        o.file_base = 0x50;
        o.nfiles = nfiles;
        publish(f, &f->c, &o);
        memcpy(out, o.hash, 32);
}

/*
 * Invariant C2, the twin: C forks its journal at seq 2 (entries T and N);
 * this device took T; C is removed with its cutoff naming N.  The next
 * round undoes T (back to seq 1, ops->undo given T's commits), takes N and
 * keeps C's alarms (equivocation, revoked) without holding it; the entry
 * after N is refused (revoked, holding) and nothing is undone twice.
 */
static void test_cut_twin(void **state)
{
        struct fx *f = *state;
        struct pull_peer peer;
        uint8_t e1[32], t2[32], n2[32];
        size_t holding;

        twin_setup(f, &peer, e1);
        publish_plain(f, &f->c, 2);
        memcpy(t2, f->c.head, 32);
        assert_int_equal(round_ok(f), 3);
        twin_publish(f, e1, 1, n2); /* the twin the removal names */
        f->rec.n = 0;
        round_ok(f); /* the listing shows two entries at the applied seq */
        expect_mark(f, 2, t2, 1);
        assert_int_equal(alarms_of(f, "equivocation", &holding), 1);
        assert_int_equal(holding, 1);
        peer.removed = 1;
        peer.cutoff_seq = 2;
        memcpy(peer.cutoff_hash, n2, 32);
        assert_int_equal(pull_set_peers(f->p, &peer, 1), 0);
        expect_mark(f, 2, t2, 0); /* the removal decides seq 2: not held */
        assert_int_equal(alarms_of(f, "equivocation", &holding), 1);
        assert_int_equal(holding, 0);
        assert_int_equal(round_ok(f), 1);
        assert_int_equal(undo_seen.calls, 1);
        assert_int_equal(undo_seen.n, 2); /* T's two manifests */
        assert_memory_equal(f->rec.got[0].author, f->c.id, 16);
        assert_int_equal(f->rec.got[0].file_id[0], 0x50); /* N's file */
        expect_mark(f, 2, n2, 0);
        assert_int_equal(alarms_of(f, "revoked", &holding), 1);
        assert_int_equal(holding, 0);
        assert_int_equal(alarms_of(f, "equivocation", &holding), 1);
        /* C goes on after N: refused, held now; nothing undone again. */
        publish_plain(f, &f->c, 1);
        round_ok(f);
        expect_mark(f, 2, n2, 1);
        assert_int_equal(f->rec.n, 1);
        assert_int_equal(undo_seen.calls, 1);
        assert_int_equal(alarms_of(f, "revoked", &holding), 2);
        assert_int_equal(holding, 1);
}

/*
 * The twin the removal does not name had been applied with an entry after
 * it (seq 3 on T): both are undone (in journal order), N is taken.
 */
static void test_cut_twin_past(void **state)
{
        struct fx *f = *state;
        struct pull_peer peer;
        uint8_t e1[32], n2[32], t3[32];

        twin_setup(f, &peer, e1);
        publish_plain(f, &f->c, 1);
        publish_plain(f, &f->c, 2);
        memcpy(t3, f->c.head, 32);
        assert_int_equal(round_ok(f), 4);
        twin_publish(f, e1, 2, n2);
        peer.removed = 1;
        peer.cutoff_seq = 2;
        memcpy(peer.cutoff_hash, n2, 32);
        assert_int_equal(pull_set_peers(f->p, &peer, 1), 0);
        expect_mark(f, 3, t3, 0);
        f->rec.n = 0;
        assert_int_equal(round_ok(f), 2);
        assert_int_equal(undo_seen.calls, 1);
        assert_int_equal(undo_seen.n, 3);
        assert_memory_equal(f->rec.got[0].author, f->c.id, 16);
        assert_int_equal(f->rec.got[0].file_id[0], 0x50);
        expect_mark(f, 2, n2, 1); /* then seq 3 on T: not on N's chain, held */
}

/* The fork at seq 1 (the cutoff names C's first entry N): T undone to no mark, N taken. */
static void test_cut_twin_first(void **state)
{
        struct fx *f = *state;
        struct pull_peer peer;
        struct pull_peer_info pi;
        uint8_t t1[32], n1[32];
        struct pub o;

        twin_setup(f, &peer, t1);
        assert_int_equal(round_ok(f), 1);
        f->c.seq = 0;
        memset(f->c.head, 0, 32);
        memset(&o, 0, sizeof(o));
        o.file_base = 0x50;
        publish(f, &f->c, &o);
        memcpy(n1, o.hash, 32);
        peer.removed = 1;
        peer.cutoff_seq = 1;
        memcpy(peer.cutoff_hash, n1, 32);
        assert_int_equal(pull_set_peers(f->p, &peer, 1), 0);
        f->rec.n = 0;
        assert_int_equal(round_ok(f), 1);
        assert_int_equal(undo_seen.calls, 1);
        assert_int_equal(undo_seen.n, 1);
        assert_int_equal(f->rec.got[0].file_id[0], 0x50);
        assert_int_equal(pull_peer_get(f->p, 0, &pi), 0);
        assert_int_equal(pi.seq, 1);
        assert_memory_equal(pi.hash, n1, 32);
        assert_false(pi.held);
}

/*
 * The removal is known before the fork is listed: of the two entries at the
 * cutoff's seq the named one is taken, the other refused (equivocation, not
 * holding), nothing undone; a seen mark naming the refused twin waits for
 * nothing (another device took it before it knew the removal).
 */
static void test_cut_twin_listed(void **state)
{
        struct fx *f = *state;
        struct pull_peer peers[2];
        struct pull *p = NULL;
        struct journal_seen seen;
        struct pub o;
        uint8_t e1[32], t2[32], n2[32];
        size_t holding;

        twin_setup(f, &peers[0], e1);
        publish_plain(f, &f->c, 1);
        memcpy(t2, f->c.head, 32);
        twin_publish(f, e1, 1, n2);
        peers[0].removed = 1;
        peers[0].cutoff_seq = 2;
        memcpy(peers[0].cutoff_hash, n2, 32);
        peers[1] = peer_of(&f->b, f->b.pk, MEMBER_ROLE_WRITER);
        pull_free(f->p);
        assert_int_equal(
            pull_new(&p, f->st, f->ix, f->region, f->a.id, peers, 2, &undo_ops, &f->rec), 0);
        f->p = p;
        f->rec.p = p;
        /* B took T before it knew the removal, and wrote on top. */
        memset(&seen, 0, sizeof(seen));
        memcpy(seen.device_id, f->c.id, 16);
        seen.seq = 2;
        memcpy(seen.hash, t2, 32);
        memset(&o, 0, sizeof(o));
        o.file_base = 0x70;
        o.seen = &seen;
        o.nseen = 1;
        publish(f, &f->b, &o);
        f->rec.n = 0;
        assert_int_equal(round_ok(f), 3);
        assert_int_equal(undo_seen.calls, 0);
        assert_int_equal(count_from(&f->rec, &f->b), 1);
        expect_mark(f, 2, n2, 0);
        assert_int_equal(alarms_of(f, "equivocation", &holding), 1);
        assert_int_equal(holding, 0);
        round_ok(f);
        assert_int_equal(alarms_of(f, "equivocation", &holding), 1);
}

/*
 * Invariant C9 fixture: C publishes E1 (seq 1), then branch T (seq 2, 3:
 * T2, T3) and, from E1 again, branch N (seq 2, 3, 4: N2 with file 0x50, N3,
 * N4).  Returns E1, T3 and N2..N4 (N[0] = N2).
 */
static void fork_below_publish(struct fx *f, uint8_t e1[32], uint8_t t3[32], uint8_t n[3][32])
{
        publish_plain(f, &f->c, 1);
        memcpy(e1, f->c.head, 32);
        publish_plain(f, &f->c, 1);
        publish_plain(f, &f->c, 1);
        memcpy(t3, f->c.head, 32);
        twin_publish(f, e1, 1, n[0]);
        publish_plain(f, &f->c, 1);
        memcpy(n[1], f->c.head, 32);
        publish_plain(f, &f->c, 1);
        memcpy(n[2], f->c.head, 32);
}

/* A new puller of PEER alone with the undo callback. */
static void fork_puller(struct fx *f, const struct pull_peer *peer)
{
        pull_free(f->p);
        f->p = NULL;
        memset(&undo_seen, 0, sizeof(undo_seen));
        assert_int_equal(
            pull_new(&f->p, f->st, f->ix, f->region, f->a.id, peer, 1, &undo_ops, &f->rec), 0);
        f->rec.p = f->p;
        f->rec.n = 0;
}

/*
 * Invariant C9: C's journal forks at seq 2, *below* the cutoff.  This device
 * took branch T up to seq 3 before N was shown; C is then removed (or
 * demoted, DEMOTE) with its cutoff naming N4.  The fork is named
 * (equivocation, not holding: at seq 2 by the listing below the mark, at 3
 * beside the mark); the next round undoes T3 and T2 (the named
 * chain meets the applied one at E1), takes N2..N4, and C's later entry is
 * refused (removal: held; demotion: not held, waiting for a promotion).
 */
static void fork_below_cut(struct fx *f, int demote)
{
        struct pull_peer peer;
        uint8_t e1[32], t3[32], n[3][32];
        size_t holding;

        twin_setup(f, &peer, e1);
        publish_plain(f, &f->c, 1);
        publish_plain(f, &f->c, 1);
        memcpy(t3, f->c.head, 32);
        assert_int_equal(round_ok(f), 3);
        expect_mark(f, 3, t3, 0);
        twin_publish(f, e1, 1, n[0]);
        publish_plain(f, &f->c, 1);
        memcpy(n[1], f->c.head, 32);
        publish_plain(f, &f->c, 1);
        memcpy(n[2], f->c.head, 32);
        if (demote) {
                peer.role = MEMBER_ROLE_READER;
                peer.standing.cut = 1;
                peer.standing.cut_seq = 4;
                memcpy(peer.standing.cut_hash, n[2], 32);
        } else {
                peer.removed = 1;
                peer.cutoff_seq = 4;
                memcpy(peer.cutoff_hash, n[2], 32);
        }
        assert_int_equal(pull_set_peers(f->p, &peer, 1), 0);
        assert_int_equal(pull_peer_undo_pending(f->p, f->c.id), 0); /* chain not known yet */
        f->rec.n = 0;
        round_ok(f); /* the listing shows N3 beside the mark T3: the chain is fetched */
        assert_int_equal(alarms_of(f, "equivocation", &holding), 2); /* seq 2 (audit) and 3 */
        assert_int_equal(holding, 0);
        assert_int_equal(pull_peer_undo_pending(f->p, f->c.id), 1);
        round_ok(f);
        round_ok(f);
        assert_int_equal(undo_seen.calls, 1);
        assert_int_equal(undo_seen.n, 2); /* T3's and T2's manifests, in journal order */
        assert_int_equal(undo_seen.u[0].file_id[0], 0x18);
        assert_int_equal(undo_seen.u[1].file_id[0], 0x20);
        assert_int_equal(f->rec.n, 3); /* N2..N4 */
        assert_int_equal(f->rec.got[0].file_id[0], 0x50);
        expect_mark(f, 4, n[2], 0);
        assert_int_equal(alarms_of(f, demote ? "not-a-writer" : "revoked", &holding), 1);
        assert_int_equal(holding, 0);
        assert_int_equal(pull_peer_undo_pending(f->p, f->c.id), 0);
        /* C goes on after N4: refused; nothing undone again. */
        publish_plain(f, &f->c, 1);
        round_ok(f);
        round_ok(f);
        expect_mark(f, 4, n[2], !demote);
        assert_int_equal(f->rec.n, 3);
        assert_int_equal(undo_seen.calls, 1);
}

static void test_fork_below_cut(void **state)
{
        fork_below_cut(*state, 0);
}

static void test_fork_demotion_cut(void **state)
{
        fork_below_cut(*state, 1);
}

/*
 * Invariant C9, the removal known before the fork is listed: a new puller
 * takes E1 and the named N2..N4, refuses T2 and T3 (equivocation, not
 * holding), undoes nothing.
 */
static void test_fork_below_listed(void **state)
{
        struct fx *f = *state;
        struct pull_peer peer;
        uint8_t e1[32], t3[32], n[3][32];
        size_t holding;

        peer = peer_of(&f->c, f->c.pk, MEMBER_ROLE_WRITER);
        fork_below_publish(f, e1, t3, n);
        peer.removed = 1;
        peer.cutoff_seq = 4;
        memcpy(peer.cutoff_hash, n[2], 32);
        fork_puller(f, &peer);
        round_ok(f);
        round_ok(f);
        assert_int_equal(undo_seen.calls, 0);
        assert_int_equal(f->rec.n, 4); /* E1, N2..N4 */
        expect_mark(f, 4, n[2], 0);
        assert_int_equal(alarms_of(f, "equivocation", &holding), 2); /* at seq 2 and 3 */
        assert_int_equal(holding, 0);
}

/*
 * Invariant C9: this device went past seq 2 and 3 on the named branch N
 * before the other branch T was shown, so its listing (after its mark)
 * never shows them; once the removal naming N4 is folded, one listing of C's
 * journal below the mark names both forks (equivocation, not holding),
 * nothing is undone, and a later round does not name them again.
 */
static void test_fork_below_passed(void **state)
{
        struct fx *f = *state;
        struct pull_peer peer;
        uint8_t e1[32], n[3][32];
        size_t holding;

        peer = peer_of(&f->c, f->c.pk, MEMBER_ROLE_WRITER);
        publish_plain(f, &f->c, 1);
        memcpy(e1, f->c.head, 32);
        twin_publish(f, e1, 1, n[0]);
        publish_plain(f, &f->c, 1);
        memcpy(n[1], f->c.head, 32);
        publish_plain(f, &f->c, 1);
        memcpy(n[2], f->c.head, 32);
        fork_puller(f, &peer);
        assert_int_equal(round_ok(f), 4);
        f->c.seq = 1; /* branch T from E1: seq 2 and 3 */
        memcpy(f->c.head, e1, 32);
        publish_plain(f, &f->c, 1);
        publish_plain(f, &f->c, 1);
        round_ok(f);
        assert_int_equal(alarms_of(f, "equivocation", &holding), 0); /* below the mark */
        peer.removed = 1;
        peer.cutoff_seq = 4;
        memcpy(peer.cutoff_hash, n[2], 32);
        assert_int_equal(pull_set_peers(f->p, &peer, 1), 0);
        round_ok(f);
        assert_int_equal(alarms_of(f, "equivocation", &holding), 2); /* seq 2 and 3 */
        assert_int_equal(holding, 0);
        assert_int_equal(undo_seen.calls, 0);
        expect_mark(f, 4, n[2], 0);
        round_ok(f);
        assert_int_equal(alarms_of(f, "equivocation", &holding), 2);
}

/*
 * Invariant C9: without a cutoff nothing decides the fork -- equivocation
 * holds C at seq 2; the removal naming N4 releases it, and the named chain
 * is taken.
 */
static void test_fork_below_then_removed(void **state)
{
        struct fx *f = *state;
        struct pull_peer_info pi;
        struct pull_peer peer;
        uint8_t e1[32], t3[32], n[3][32];
        size_t holding;

        peer = peer_of(&f->c, f->c.pk, MEMBER_ROLE_WRITER);
        fork_below_publish(f, e1, t3, n);
        fork_puller(f, &peer);
        round_ok(f);
        assert_int_equal(f->rec.n, 0); /* two entries at seq 2: the listing stops, held */
        assert_int_equal(alarms_of(f, "equivocation", &holding), 1);
        assert_int_equal(holding, 1);
        assert_int_equal(pull_peer_get(f->p, 0, &pi), 0);
        assert_true(pi.held);
        peer.removed = 1;
        peer.cutoff_seq = 4;
        memcpy(peer.cutoff_hash, n[2], 32);
        assert_int_equal(pull_set_peers(f->p, &peer, 1), 0);
        assert_int_equal(pull_peer_get(f->p, 0, &pi), 0);
        assert_false(pi.held); /* the removal decides seq 2 */
        round_ok(f);
        round_ok(f);
        assert_int_equal(f->rec.n, 4);
        expect_mark(f, 4, n[2], 0);
        assert_int_equal(undo_seen.calls, 0);
}

/* ---- invariants C3 and C9: a checkpoint's vector against the named chain ---- */

/* B's checkpoint (seq 1, no files) on the store, its vector naming C at (SEQ, HASH). */
static void ckpt_put_b(struct fx *f, uint64_t seq, const uint8_t hash[32])
{
        struct journal_seen mark;
        struct checkpoint c;
        char key[CHECKPOINT_KEY_SIZE];
        uint8_t *buf = NULL, h[32];
        size_t len = 0;

        memset(&mark, 0, sizeof(mark));
        memcpy(mark.device_id, f->c.id, 16);
        mark.seq = seq;
        memcpy(mark.hash, hash, 32);
        memset(&c, 0, sizeof(c));
        c.version = CHECKPOINT_VERSION;
        memcpy(c.region_id, f->region, 32);
        memcpy(c.device_id, f->b.id, 16);
        c.seq = 1;
        memset(c.member_head, 0x77, 32);
        c.time_ms = 1700000000000ull;
        c.nmarks = 1;
        c.marks = &mark;
        assert_int_equal(checkpoint_encode_sign(&c, f->b.sk, &buf, &len, h), 0);
        assert_int_equal(checkpoint_object_key(f->region_hex, f->b.id, 1, h, key), 0);
        assert_int_equal(f->st->ops->put(f->st, key, buf, len, 0), 0);
        free(buf);
}

static int ckpt_boot(void *arg, unsigned *applied)
{
        return ckpt_bootstrap(arg, applied);
}

/*
 * C's journal forks below its cutoff (fork_below_publish: E1, T2, T3 and
 * the named N2..N4; C removed with its cutoff naming N4); B (a writer)
 * wrote a checkpoint naming C at (3, MARK).  A new device of peers B and C
 * bootstraps (X: its context, kept while the puller lives) and pulls two
 * rounds.  N: the named chain's entries.
 */
static void ckpt_fork_boot(struct fx *f, struct ckpt_ctx *x, const uint8_t mark[32])
{
        struct pull_peer peers[2];

        peers[0] = peer_of(&f->b, f->b.pk, MEMBER_ROLE_WRITER);
        peers[1] = peer_of(&f->c, f->c.pk, MEMBER_ROLE_WRITER);
        peers[1].removed = 1;
        peers[1].cutoff_seq = 4;
        memcpy(peers[1].cutoff_hash, f->c.head, 32); /* N4: the last published */
        ckpt_put_b(f, 3, mark);
        pull_free(f->p);
        f->p = NULL;
        memset(&undo_seen, 0, sizeof(undo_seen));
        assert_int_equal(
            pull_new(&f->p, f->st, f->ix, f->region, f->a.id, peers, 2, &undo_ops, &f->rec), 0);
        f->rec.p = f->p;
        f->rec.n = 0;
        memset(x, 0, sizeof(*x));
        x->store = f->st;
        x->ix = f->ix;
        x->pull = f->p;
        x->ops = &undo_ops;
        x->arg = &f->rec;
        memcpy(x->region_id, f->region, 32);
        memcpy(x->region_hex, f->region_hex, sizeof(x->region_hex));
        memcpy(x->self_id, f->a.id, 16);
        memcpy(x->self_pk, f->a.pk, 32);
        pull_set_bootstrap(f->p, ckpt_boot, x);
        round_ok(f);
        round_ok(f);
}

/* Peer C's mark (peer 1 of ckpt_fork_boot's puller). */
static void expect_c_mark(struct fx *f, uint64_t seq, const uint8_t hash[32])
{
        struct pull_peer_info pi;

        assert_int_equal(pull_peer_get(f->p, 1, &pi), 0);
        assert_memory_equal(pi.device_id, f->c.id, 16);
        assert_int_equal(pi.seq, seq);
        assert_memory_equal(pi.hash, hash, 32);
}

/* How many bad-checkpoint alarms about B (none holding) have WHAT in their text. */
static size_t ckpt_refusals(struct fx *f, const char *what)
{
        struct pull_alarm_info a;
        size_t i, n = 0;

        for (i = 0; pull_alarm_get(f->p, i, &a) == 0; i++)
                if (strcmp(a.kind, "bad-checkpoint") == 0) {
                        assert_string_equal(a.device, f->b.hex);
                        assert_false(a.holds);
                        n += strstr(a.text, what) != NULL;
                }
        return n;
}

/*
 * Invariants C3 and C9: B's checkpoint names T3, the other branch's entry
 * at seq 3, below C's cutoff (4): refused (bad-checkpoint past-cutoff, not
 * holding) and the journals replayed -- E1 and the named N2..N4 taken,
 * T2 and T3 refused, nothing undone (the device never started on T).
 */
static void test_ckpt_off_chain(void **state)
{
        struct fx *f = *state;
        struct ckpt_ctx x;
        uint8_t e1[32], t3[32], n[3][32];

        fork_below_publish(f, e1, t3, n);
        ckpt_fork_boot(f, &x, t3);
        assert_int_equal(ckpt_refusals(f, "off the chain its cutoff names"), 1);
        assert_int_equal(f->rec.n, 4); /* E1, N2..N4 from the journals */
        assert_int_equal(f->rec.got[1].file_id[0], 0x50);
        expect_c_mark(f, 4, n[2]);
        assert_int_equal(undo_seen.calls, 0);
}

/*
 * The same checkpoint naming N3, the named chain's entry at seq 3: taken
 * (its vector is C's mark; the chain N4 -> N3 fetched by name), then only
 * N4 is pulled; no refusal, nothing undone.
 */
static void test_ckpt_on_chain(void **state)
{
        struct fx *f = *state;
        struct ckpt_ctx x;
        uint8_t e1[32], t3[32], n[3][32];

        fork_below_publish(f, e1, t3, n);
        ckpt_fork_boot(f, &x, n[1]);
        assert_int_equal(ckpt_refusals(f, ""), 0);
        assert_int_equal(f->rec.n, 1); /* N4: the checkpoint has no files */
        expect_c_mark(f, 4, n[2]);
        assert_int_equal(undo_seen.calls, 0);
}

/*
 * Fail closed: the checkpoint names N3 (on the named chain), but the store
 * does not show the cutoff's entry N4 (deleted, or REPLACED by other bytes
 * under its name: its hash fails), so the chain cannot be followed down to
 * seq 3: refused all the same; the journals are replayed, and stop at the
 * fork below the cutoff until the store shows the named chain (C9).
 */
static void ckpt_chain_hidden(struct fx *f, int replaced)
{
        static const uint8_t junk[] = "not the entry it is named after";
        struct pull_peer_info pi;
        char key[JOURNAL_KEY_SIZE];
        struct ckpt_ctx x;
        uint8_t e1[32], t3[32], n[3][32];

        fork_below_publish(f, e1, t3, n);
        assert_int_equal(journal_object_key(f->region_hex, f->c.id, 4, n[2], key), 0);
        if (replaced)
                assert_int_equal(f->st->ops->put(f->st, key, junk, sizeof(junk), 0), 0);
        else
                assert_int_equal(f->st->ops->del(f->st, key), 0);
        ckpt_fork_boot(f, &x, n[1]);
        assert_int_equal(ckpt_refusals(f, "cannot be followed down to its mark (seq 3)"), 1);
        assert_int_equal(pull_peer_get(f->p, 1, &pi), 0);
        assert_false(pi.have); /* not the checkpoint's mark: the fork at seq 2 waits */
        assert_int_equal(f->rec.n, 0);
        assert_int_equal(undo_seen.calls, 0);
}

static void test_ckpt_chain_hidden(void **state)
{
        ckpt_chain_hidden(*state, 0);
}

static void test_ckpt_chain_replaced(void **state)
{
        ckpt_chain_hidden(*state, 1);
}

/* The last alarm: KIND about D, not holding. */
static void expect_soft_alarm(struct fx *f, const char *kind, const struct dev *d)
{
        struct pull_alarm_info a;
        size_t n = pull_alarm_count(f->p);

        assert_true(n >= 1);
        assert_int_equal(pull_alarm_get(f->p, n - 1, &a), 0);
        assert_string_equal(a.kind, kind);
        assert_string_equal(a.device, d->hex);
        assert_false(a.holds);
}

/* A store that counts the GETs of keys containing WATCH, passing everything to INNER. */
struct counting_store {
        struct store st; /* first: the ops get it */
        struct store *inner;
        char watch[128];
        unsigned watched;
};

static struct store *counted(struct store *s)
{
        return ((struct counting_store *)s)->inner;
}

static int cnt_put(struct store *s, const char *key, const void *buf, size_t len, int if_absent)
{
        return counted(s)->ops->put(counted(s), key, buf, len, if_absent);
}

static int cnt_get(struct store *s, const char *key, size_t max, uint8_t **buf, size_t *len)
{
        struct counting_store *c = (struct counting_store *)s;

        if (c->watch[0] != '\0' && strstr(key, c->watch) != NULL)
                c->watched++;
        return c->inner->ops->get(c->inner, key, max, buf, len);
}

static int cnt_get_range(struct store *s, const char *key, uint64_t off, size_t len, uint8_t *buf)
{
        return counted(s)->ops->get_range(counted(s), key, off, len, buf);
}

static int cnt_list(struct store *s, const char *prefix, const char *start_after,
                    int (*cb)(void *arg, const char *key, uint64_t size), void *arg)
{
        return counted(s)->ops->list(counted(s), prefix, start_after, cb, arg);
}

static int cnt_del(struct store *s, const char *key)
{
        return counted(s)->ops->del(counted(s), key);
}

static const struct store_ops counting_ops = {
    .put = cnt_put, .get = cnt_get, .get_range = cnt_get_range, .list = cnt_list, .del = cnt_del};

/*
 * Invariant R5.  C publishes three entries, all applied; then the fold says C
 * was demoted to reader with its cutoff at seq 1: seq 2..3 are undone, the
 * mark goes back to 1, the non-holding alarm not-a-writer names them, and C's
 * later entry (4) is refused too.  The journal waits at entry 2, the first
 * past the cutoff, fetched once after the undo: the next rounds remember it
 * as refused (no GET of it in three more rounds), until the membership changes.
 * Then C is promoted again with resume 4: 2..4 are walked as void (never
 * applied, never undone; entry 2 is fetched again, to be walked), its entry
 * 5 applies.
 */
static void test_demotion_cut_and_resume(void **state)
{
        struct fx *f = *state;
        struct pull_peer peer = peer_of(&f->c, f->c.pk, MEMBER_ROLE_WRITER);
        struct pull_peer_info pi;
        struct counting_store cs;
        uint8_t cut_hash[32];
        struct pull *p = NULL;
        unsigned n;

        memset(&cs, 0, sizeof(cs));
        cs.st.ops = &counting_ops;
        cs.inner = f->st;
        snprintf(cs.watch, sizeof(cs.watch), "/journal/%s/%016x-", f->c.hex, 2u);
        pull_free(f->p);
        memset(&undo_seen, 0, sizeof(undo_seen));
        assert_int_equal(
            pull_new(&p, &cs.st, f->ix, f->region, f->a.id, &peer, 1, &undo_ops, &f->rec), 0);
        f->p = p;
        f->rec.p = p;
        publish_plain(f, &f->c, 1);
        memcpy(cut_hash, f->c.head, 32);
        publish_plain(f, &f->c, 2);
        publish_plain(f, &f->c, 1);
        assert_int_equal(round_ok(f), 4);
        peer.role = MEMBER_ROLE_READER;
        peer.standing.cut = 1;
        peer.standing.cut_seq = 1;
        memcpy(peer.standing.cut_hash, cut_hash, 32);
        assert_int_equal(pull_set_peers(f->p, &peer, 1), 0);
        assert_int_equal(pull_peer_undo_pending(f->p, f->c.id), 1);
        cs.watched = 0;
        assert_int_equal(round_ok(f), 0);
        assert_int_equal(undo_seen.calls, 1);
        assert_int_equal(undo_seen.n, 3);
        assert_int_equal(cs.watched, 2); /* entry 2: read back by the undo, then judged */
        assert_int_equal(pull_peer_undo_pending(f->p, f->c.id), 0);
        expect_soft_alarm(f, "not-a-writer", &f->c);
        assert_int_equal(pull_peer_get(f->p, 0, &pi), 0);
        assert_int_equal(pi.seq, 1);
        assert_false(pi.held);
        /* Written after the demotion, before C learned: refused, nothing applied. */
        publish_plain(f, &f->c, 1);
        assert_int_equal(round_ok(f), 0);
        assert_int_equal(pull_peer_get(f->p, 0, &pi), 0);
        assert_int_equal(pi.seq, 1);
        expect_soft_alarm(f, "not-a-writer", &f->c);
        assert_int_equal(round_ok(f), 0);
        assert_int_equal(round_ok(f), 0);
        assert_int_equal(cs.watched, 2); /* remembered as refused: not fetched again */
        /* Promoted with resume 4: 2..4 void, 5 counts; nothing undone again. */
        peer.role = MEMBER_ROLE_WRITER;
        memset(&peer.standing, 0, sizeof(peer.standing));
        peer.standing.nvoid = 1;
        peer.standing.voids[0].lo_seq = 1;
        memcpy(peer.standing.voids[0].lo_hash, cut_hash, 32);
        peer.standing.voids[0].hi_seq = 4;
        memcpy(peer.standing.voids[0].hi_hash, f->c.head, 32);
        assert_int_equal(pull_set_peers(f->p, &peer, 1), 0);
        publish_plain(f, &f->c, 1);
        n = round_ok(f);
        assert_int_equal(n, 1);
        assert_int_equal(pull_peer_get(f->p, 0, &pi), 0);
        assert_int_equal(pi.seq, 5);
        assert_int_equal(cs.watched, 3); /* the membership changed: judged afresh */
        assert_int_equal(round_ok(f), 0);
        assert_int_equal(undo_seen.calls, 1);
        assert_int_equal(pull_peer_undo_pending(f->p, f->c.id), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
            T(test_pull_honest),
            T(test_demotion_cut_and_resume),
            T(test_pull_many_entries),
            T(test_pull_apply_retry),
            T(test_attack_flip_entry),
            T(test_attack_flip_pack),
            T(test_attack_flip_manifest),
            T(test_attack_flip_record),
            T(test_attack_flip_pack_trailer),
            T(test_attack_commit_not_a_manifest),
            T(test_empty_entry),
            T(test_attack_gap),
            T(test_attack_gap_at_start),
            T(test_gap_lagging_listing),
            T(test_attack_equivocation),
            T(test_alarm_lasts_across_restart),
            T(test_alarm_raised_again_after_clear),
            T(test_seen_withheld),
            T(test_seen_fork),
            T(test_seen_fill),
            T(test_attack_equivocation_after_mark),
            T(test_attack_fork),
            T(test_attack_rollback),
            T(test_attack_non_member_signer),
            T(test_non_member_device_ignored),
            T(test_attack_reader),
            T(test_attack_recovery),
            T(test_attack_foreign_author),
            T(test_attack_wrong_epoch),
            T(test_pull_two_epochs),
            T(test_unknown_epoch_then_learned),
            T(test_withheld_epoch_skipped),
            T(test_attack_epoch_id_wrong_key),
            T(test_attack_replay_same_hash),
            T(test_attack_replay_other_hash),
            T(test_junk_key_skipped),
            T(test_missing_pack_retried),
            T(test_set_peers_adds),
            T(test_set_peers_key_changed),
            T(test_set_peers_role),
            T(test_cut_after_apply),
            T(test_cut_to_nothing),
            T(test_cut_twin),
            T(test_cut_twin_past),
            T(test_cut_twin_first),
            T(test_cut_twin_listed),
            T(test_fork_below_cut),
            T(test_fork_demotion_cut),
            T(test_fork_below_listed),
            T(test_fork_below_then_removed),
            T(test_fork_below_passed),
            T(test_ckpt_off_chain),
            T(test_ckpt_on_chain),
            T(test_ckpt_chain_hidden),
            T(test_ckpt_chain_replaced),
#undef T
        };

        log_init("test_pull", LOG_LEVEL_ERR);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
