/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for the sync object codecs (sync/pack.c, sync/manifest.c,
 * sync/journal.c, sync/ack.c): known-answer vectors from tests/vectors/sync.txt
 * (generated independently by tests/vectors/gen-sync-vectors.py), round
 * trips, and every strictness rule of doc/FORMAT-sync.md.  Run from the repo
 * root.
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

#include "crypto/aead.h"
#include "crypto/enc.h"
#include "crypto/hash.h"
#include "crypto/sha256.h"
#include "crypto/kdf.h"
#include "crypto/secmem.h"
#include "crypto/sig.h"
#include "sync/ack.h"
#include "sync/journal.h"
#include "sync/manifest.h"
#include "sync/pack.h"
#include "util/par.h"

/* ---- vector files (same format as tests/unit/test_crypto.c) ------------- */

#define VREC_MAX_FIELDS 40

struct vrec {
        size_t n;
        char *name[VREC_MAX_FIELDS];
        char *val[VREC_MAX_FIELDS];
};

struct vfile {
        struct vrec *rec;
        size_t n;
};

static char *xstrdup(const char *s)
{
        char *d = strdup(s);

        assert_non_null(d);
        return d;
}

static void vfile_load(struct vfile *vf, const char *path)
{
        FILE *f = fopen(path, "r");
        char *line = NULL;
        size_t cap = 0;
        ssize_t got;
        int open_rec = 0;

        if (f == NULL)
                fail_msg("cannot open %s (run the tests from the repo root)", path);
        vf->rec = NULL;
        vf->n = 0;
        while ((got = getline(&line, &cap, f)) >= 0) {
                char *eq;
                struct vrec *r;

                while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
                        line[--got] = '\0';
                if (line[0] == '#')
                        continue;
                if (got == 0) {
                        open_rec = 0;
                        continue;
                }
                eq = strstr(line, " = ");
                if (eq == NULL)
                        fail_msg("%s: bad line '%s'", path, line);
                *eq = '\0';
                if (!open_rec) {
                        struct vrec *nr = realloc(vf->rec, (vf->n + 1) * sizeof *nr);

                        assert_non_null(nr);
                        vf->rec = nr;
                        memset(&vf->rec[vf->n], 0, sizeof *nr);
                        vf->n++;
                        open_rec = 1;
                }
                r = &vf->rec[vf->n - 1];
                assert_true(r->n < VREC_MAX_FIELDS);
                r->name[r->n] = xstrdup(line);
                r->val[r->n] = xstrdup(eq + 3);
                r->n++;
        }
        free(line);
        fclose(f);
        assert_true(vf->n > 0);
}

static void vfile_free(struct vfile *vf)
{
        size_t i, j;

        for (i = 0; i < vf->n; i++) {
                for (j = 0; j < vf->rec[i].n; j++) {
                        free(vf->rec[i].name[j]);
                        free(vf->rec[i].val[j]);
                }
        }
        free(vf->rec);
}

static const char *vstr(const struct vrec *r, const char *name)
{
        size_t i;

        for (i = 0; i < r->n; i++)
                if (strcmp(r->name[i], name) == 0)
                        return r->val[i];
        fail_msg("vector record lacks '%s'", name);
        return NULL;
}

static int nib(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        fail_msg("bad hex digit '%c'", c);
        return -1;
}

/* Malloc'd bytes of the first N hex digits of S ("-" is empty); *LEN set. */
static uint8_t *hexndup(const char *s, size_t n, size_t *len)
{
        uint8_t *b;
        size_t i;

        if (n == 1 && s[0] == '-')
                n = 0;
        assert_int_equal(n % 2, 0);
        b = malloc(n / 2 + 1);
        assert_non_null(b);
        for (i = 0; i < n / 2; i++)
                b[i] = (uint8_t)(nib(s[2 * i]) << 4 | nib(s[2 * i + 1]));
        *len = n / 2;
        return b;
}

static uint8_t *vhex(const struct vrec *r, const char *name, size_t *len)
{
        const char *s = vstr(r, name);

        return hexndup(s, strlen(s), len);
}

static void hexfixed(const char *s, size_t n, void *out, size_t want)
{
        size_t len;
        uint8_t *b = hexndup(s, n, &len);

        assert_int_equal(len, want);
        memcpy(out, b, want);
        free(b);
}

static void vfixed(const struct vrec *r, const char *name, void *out, size_t n)
{
        const char *s = vstr(r, name);

        hexfixed(s, strlen(s), out, n);
}

static unsigned long long vnum(const struct vrec *r, const char *name)
{
        return strtoull(vstr(r, name), NULL, 10);
}

/*
 * Splits list field NAME ("a:b,c:d" or "-") into items of NPARTS parts;
 * *ITEMS receives a malloc'd array of NPARTS * count strings (free each
 * and the array with list_free).
 */
static size_t vlist(const struct vrec *r, const char *name, size_t nparts, char ***items)
{
        char *s = xstrdup(vstr(r, name)), *save = NULL, *tok;
        char **out = NULL;
        size_t n = 0, k;

        if (strcmp(s, "-") != 0) {
                for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                        char *p = tok;

                        char **grown = realloc(out, (n + 1) * nparts * sizeof(*out));

                        assert_non_null(grown);
                        out = grown;
                        for (k = 0; k < nparts; k++) {
                                char *c = strchr(p, ':');

                                if (k + 1 < nparts) {
                                        assert_non_null(c);
                                        *c = '\0';
                                } else {
                                        assert_null(c);
                                }
                                out[n * nparts + k] = xstrdup(p);
                                p = c ? c + 1 : p;
                        }
                        n++;
                }
        }
        free(s);
        *items = out;
        return n;
}

static void list_free(char **items, size_t n)
{
        size_t i;

        for (i = 0; i < n; i++)
                free(items[i]);
        free(items);
}

static int setup_sodium(void **state)
{
        (void)state;
        return secmem_init() == 0 ? 0 : -1;
}

static void keypair_from_seed(const struct vrec *r, uint8_t pk[32], uint8_t sk[64])
{
        uint8_t seed[32], want[32];

        vfixed(r, "seed", seed, 32);
        assert_int_equal(sig_keypair_seed(pk, sk, seed), 0);
        vfixed(r, "pk", want, 32);
        assert_memory_equal(pk, want, 32);
}

/* ---- manifest vectors -------------------------------------------------- */

static void check_manifest_vector(const struct vrec *r)
{
        uint8_t pk[32], sk[64], ek[32], buf32[32], buf16[16];
        uint8_t *obj, *plain, *meta_sealed, *re = NULL, *re_plain = NULL;
        size_t obj_len, plain_len, meta_len, re_len = 0, re_plain_len = 0, n, i;
        struct manifest m;
        struct manifest_meta meta;
        char **items;

        keypair_from_seed(r, pk, sk);
        vfixed(r, "epoch_key", ek, 32);
        obj = vhex(r, "object", &obj_len);
        plain = vhex(r, "meta_plain", &plain_len);
        meta_sealed = vhex(r, "meta", &meta_len);

        assert_int_equal(manifest_decode(obj, obj_len, &m), 0);
        assert_int_equal(m.version, 1);
        vfixed(r, "region_id", buf32, 32);
        assert_memory_equal(m.region_id, buf32, 32);
        vfixed(r, "file_id", buf16, 16);
        assert_memory_equal(m.file_id, buf16, 16);
        assert_int_equal(m.kind, vnum(r, "kind"));
        vfixed(r, "author", buf16, 16);
        assert_memory_equal(m.author, buf16, 16);
        assert_int_equal(m.lamport, vnum(r, "lamport"));
        n = vlist(r, "vv", 2, &items);
        assert_int_equal(m.nvv, n);
        for (i = 0; i < n; i++) {
                hexfixed(items[2 * i], strlen(items[2 * i]), buf16, 16);
                assert_memory_equal(m.vv[i].device_id, buf16, 16);
                assert_int_equal(m.vv[i].counter, strtoull(items[2 * i + 1], NULL, 10));
        }
        list_free(items, 2 * n);
        n = vlist(r, "parents", 1, &items);
        assert_int_equal(m.nparents, n);
        for (i = 0; i < n; i++) {
                hexfixed(items[i], strlen(items[i]), buf32, 32);
                assert_memory_equal(m.parents[i], buf32, 32);
        }
        list_free(items, n);
        vfixed(r, "epoch_id", buf32, 32);
        assert_memory_equal(m.epoch_id, buf32, 32);
        vfixed(r, "salt", buf32, 32);
        assert_memory_equal(m.salt, buf32, 32);
        vfixed(r, "key_commit", buf32, 32);
        assert_memory_equal(m.key_commit, buf32, 32);
        assert_int_equal(m.block_size, vnum(r, "block_size"));
        assert_int_equal(m.size, vnum(r, "size"));
        n = vlist(r, "refs", 3, &items);
        assert_int_equal(m.nrefs, n);
        for (i = 0; i < n; i++) {
                assert_int_equal(m.refs[i].index, strtoull(items[3 * i], NULL, 10));
                hexfixed(items[3 * i + 1], strlen(items[3 * i + 1]), buf32, 32);
                assert_memory_equal(m.refs[i].hash, buf32, 32);
                assert_int_equal(m.refs[i].final, strtoull(items[3 * i + 2], NULL, 10));
        }
        list_free(items, 3 * n);
        assert_int_equal(m.meta_len, meta_len);
        assert_memory_equal(m.meta, meta_sealed, meta_len);
        vfixed(r, "hash", buf32, 32);
        assert_memory_equal(m.hash, buf32, 32);

        /* Signature, key commitment, metadata. */
        assert_int_equal(manifest_verify_sig(obj, obj_len, &m, pk), 0);
        vfixed(r, "epoch_key", ek, 32);
        assert_int_equal(manifest_key_commit(buf32, ek, m.file_id, m.salt), 0);
        assert_memory_equal(buf32, m.key_commit, 32);
        memset(&meta, 0, sizeof(meta));
        assert_int_equal(manifest_open_meta(&m, ek, &meta), 0);
        {
                size_t nl;
                uint8_t *name = vhex(r, "name", &nl), *target;
                size_t tl;

                assert_int_equal(meta.name_len, nl);
                assert_memory_equal(meta.name, name, nl);
                assert_int_equal(meta.name[nl], '\0');
                free(name);
                target = vhex(r, "target", &tl);
                assert_int_equal(meta.target_len, tl);
                if (tl > 0)
                        assert_memory_equal(meta.target, target, tl);
                free(target);
        }
        vfixed(r, "parent_id", buf16, 16);
        assert_memory_equal(meta.parent_id, buf16, 16);
        assert_int_equal(meta.mode, vnum(r, "mode"));
        assert_int_equal(meta.mtime_s, vnum(r, "mtime_s"));
        assert_int_equal(meta.mtime_ns, vnum(r, "mtime_ns"));
        n = vlist(r, "xattrs", 2, &items);
        assert_int_equal(meta.nxattrs, n);
        for (i = 0; i < n; i++) {
                size_t l;
                uint8_t *b = hexndup(items[2 * i], strlen(items[2 * i]), &l);

                assert_int_equal(meta.xattrs[i].name_len, l);
                assert_memory_equal(meta.xattrs[i].name, b, l);
                free(b);
                b = hexndup(items[2 * i + 1], strlen(items[2 * i + 1]), &l);
                assert_int_equal(meta.xattrs[i].value_len, l);
                if (l > 0)
                        assert_memory_equal(meta.xattrs[i].value, b, l);
                free(b);
        }
        list_free(items, 2 * n);
        assert_int_equal(meta.plain_len, plain_len);
        assert_memory_equal(meta.plain, plain, plain_len);

        /* Canonical: the metadata and the object re-encode to the same bytes. */
        assert_int_equal(manifest_meta_encode(&meta, m.kind, &re_plain, &re_plain_len), 0);
        assert_int_equal(re_plain_len, plain_len);
        assert_memory_equal(re_plain, plain, plain_len);
        assert_int_equal(manifest_encode_sealed(&m, sk, &re, &re_len), 0);
        assert_int_equal(re_len, obj_len);
        assert_memory_equal(re, obj, obj_len);
        /* The fresh-nonce path opens to the same metadata. */
        free(re);
        re = NULL;
        assert_int_equal(manifest_encode_sign(&m, &meta, ek, sk, &re, &re_len), 0);
        {
                struct manifest m2;
                struct manifest_meta meta2;

                assert_int_equal(manifest_decode(re, re_len, &m2), 0);
                assert_int_equal(manifest_open_meta(&m2, ek, &meta2), 0);
                assert_int_equal(meta2.plain_len, plain_len);
                assert_memory_equal(meta2.plain, plain, plain_len);
                manifest_meta_release(&meta2);
                manifest_release(&m2);
        }
        free(re);
        free(re_plain);
        manifest_meta_release(&meta);
        manifest_release(&m);
        free(meta_sealed);
        free(plain);
        free(obj);
}

/* The metadata AEAD checked against the vector's intermediate values. */
static void check_meta_intermediates(const struct vrec *r)
{
        uint8_t ek[32], fid[16], kmeta[32], want[32];
        uint8_t *ad, *sealed, *plain, *out;
        size_t ad_len, sealed_len, plain_len;

        vfixed(r, "epoch_key", ek, 32);
        vfixed(r, "file_id", fid, 16);
        vfixed(r, "k_meta", want, 32);
        assert_int_equal(kdf_derive(kmeta, 32, ek, "meta", fid, 16), 0);
        assert_memory_equal(kmeta, want, 32);
        ad = vhex(r, "meta_ad", &ad_len);
        sealed = vhex(r, "meta", &sealed_len);
        plain = vhex(r, "meta_plain", &plain_len);
        assert_int_equal(ad_len, 26 + 32 + 16 + 8);
        out = malloc(plain_len);
        assert_non_null(out);
        assert_int_equal(aead_open(out, kmeta, ad, ad_len, sealed, sealed_len), 0);
        assert_memory_equal(out, plain, plain_len);
        free(out);
        free(plain);
        free(sealed);
        free(ad);
}

static void test_manifest_vectors(void **state)
{
        struct vfile vf;
        size_t i, seen = 0;

        (void)state;
        vfile_load(&vf, "tests/vectors/sync.txt");
        for (i = 0; i < vf.n; i++) {
                if (strcmp(vstr(&vf.rec[i], "type"), "manifest") != 0)
                        continue;
                check_meta_intermediates(&vf.rec[i]);
                check_manifest_vector(&vf.rec[i]);
                seen++;
        }
        assert_int_equal(seen, 5);
        vfile_free(&vf);
}

/* ---- pack vectors ------------------------------------------------------ */

static void test_pack_vectors(void **state)
{
        struct vfile vf;
        size_t i, j, seen = 0, v2 = 0;

        (void)state;
        vfile_load(&vf, "tests/vectors/sync.txt");
        for (i = 0; i < vf.n; i++) {
                const struct vrec *r = &vf.rec[i];
                struct pack_builder b;
                struct pack_entry *ents = NULL, *tents = NULL, ent;
                char **recs, **ei;
                size_t nrec, nent, n = 0, tn = 0, obj_len, out_len = 0;
                uint8_t *obj, *out = NULL, hash[32], want[32];

                if (strcmp(vstr(r, "type"), "pack") != 0)
                        continue;
                obj = vhex(r, "object", &obj_len);
                nrec = vlist(r, "records", 2, &recs);
                nent = vlist(r, "entries", 4, &ei);
                assert_int_equal(nrec, nent);
                vfixed(r, "hash", want, 32);
                assert_int_equal(pack_name(obj, obj_len, hash), 0); /* either version */
                assert_memory_equal(hash, want, 32);
                pack_builder_init(&b);
                for (j = 0; j < nrec; j++) {
                        size_t len;
                        uint8_t *data = hexndup(recs[2 * j + 1], strlen(recs[2 * j + 1]), &len);
                        uint8_t h[32];

                        assert_int_equal(pack_builder_add(&b,
                                                          (uint8_t)strtol(recs[2 * j], NULL, 10),
                                                          data, len, &ent),
                                         0);
                        assert_int_equal(ent.kind, (int)strtol(ei[4 * j], NULL, 10));
                        assert_int_equal(ent.off, strtoull(ei[4 * j + 1], NULL, 10));
                        assert_int_equal(ent.len, strtoull(ei[4 * j + 2], NULL, 10));
                        hexfixed(ei[4 * j + 3], 64, h, 32);
                        assert_memory_equal(ent.hash, h, 32);
                        assert_int_equal(pack_record_check(ent.kind, obj + ent.off, ent.len, h), 0);
                        free(data);
                }
                assert_int_equal(pack_builder_count(&b), nrec);
                assert_int_equal(pack_builder_size(&b), obj_len);
                if (strcmp(vstr(r, "version"), "2") == 0) { /* the builder makes version 2 */
                        assert_int_equal(pack_builder_finish(&b, &out, &out_len, hash), 0);
                        assert_int_equal(out_len, obj_len);
                        assert_memory_equal(out, obj, obj_len);
                        assert_memory_equal(hash, want, 32);
                        v2++;
                } else {
                        assert_string_equal(vstr(r, "version"), "1");
                }
                pack_builder_release(&b);

                assert_int_equal(pack_parse(obj, obj_len, &ents, &n), 0);
                assert_int_equal(n, nent);
                /* The trailer alone gives the same table. */
                assert_int_equal(pack_parse_trailer(obj + obj_len - pack_trailer_len(n),
                                                    pack_trailer_len(n), obj_len, &tents, &tn,
                                                    NULL),
                                 0);
                assert_int_equal(tn, n);
                for (j = 0; j < n; j++) {
                        assert_int_equal(ents[j].off, strtoull(ei[4 * j + 1], NULL, 10));
                        assert_memory_equal(&tents[j], &ents[j], sizeof(ents[j]));
                }
                free(tents);
                free(ents);
                free(out);
                free(obj);
                list_free(recs, 2 * nrec);
                list_free(ei, 4 * nent);
                seen++;
        }
        assert_int_equal(seen, 4);
        assert_int_equal(v2, 3);
        vfile_free(&vf);
}

/* ---- journal vectors --------------------------------------------------- */

static void test_journal_vectors(void **state)
{
        struct vfile vf;
        size_t i, j, seen = 0;

        (void)state;
        vfile_load(&vf, "tests/vectors/sync.txt");
        for (i = 0; i < vf.n; i++) {
                const struct vrec *r = &vf.rec[i];
                struct journal_entry e;
                uint8_t pk[32], sk[64], b16[16], b32[32], hash[32];
                uint8_t *obj, *re = NULL;
                size_t obj_len, re_len = 0, n;
                char **items, key[JOURNAL_KEY_SIZE], region_hex[65];
                uint64_t seq = 0;

                if (strcmp(vstr(r, "type"), "journal") != 0)
                        continue;
                keypair_from_seed(r, pk, sk);
                obj = vhex(r, "object", &obj_len);
                assert_int_equal(journal_decode(obj, obj_len, &e), 0);
                vfixed(r, "region_id", b32, 32);
                assert_memory_equal(e.region_id, b32, 32);
                vfixed(r, "device_id", b16, 16);
                assert_memory_equal(e.device_id, b16, 16);
                assert_int_equal(e.seq, vnum(r, "seq"));
                vfixed(r, "prev", b32, 32);
                assert_memory_equal(e.prev, b32, 32);
                vfixed(r, "member_head", b32, 32);
                assert_memory_equal(e.member_head, b32, 32);
                assert_int_equal(e.time_ms, vnum(r, "time_ms"));
                n = vlist(r, "seen", 3, &items);
                assert_int_equal(e.nseen, n);
                for (j = 0; j < n; j++) {
                        hexfixed(items[3 * j], 32, b16, 16);
                        assert_memory_equal(e.seen[j].device_id, b16, 16);
                        assert_int_equal(e.seen[j].seq, strtoull(items[3 * j + 1], NULL, 10));
                        hexfixed(items[3 * j + 2], 64, b32, 32);
                        assert_memory_equal(e.seen[j].hash, b32, 32);
                }
                list_free(items, 3 * n);
                n = vlist(r, "commits", 5, &items);
                assert_int_equal(e.ncommits, n);
                for (j = 0; j < n; j++) {
                        hexfixed(items[5 * j], 32, b16, 16);
                        assert_memory_equal(e.commits[j].file_id, b16, 16);
                        hexfixed(items[5 * j + 1], 64, b32, 32);
                        assert_memory_equal(e.commits[j].manifest_hash, b32, 32);
                        hexfixed(items[5 * j + 2], 64, b32, 32);
                        assert_memory_equal(e.commits[j].pack_hash, b32, 32);
                        assert_int_equal(e.commits[j].off, strtoull(items[5 * j + 3], NULL, 10));
                        assert_int_equal(e.commits[j].len, strtoull(items[5 * j + 4], NULL, 10));
                }
                list_free(items, 5 * n);
                n = vlist(r, "packs", 2, &items);
                assert_int_equal(e.npacks, n);
                for (j = 0; j < n; j++) {
                        hexfixed(items[2 * j], 64, b32, 32);
                        assert_memory_equal(e.packs[j].hash, b32, 32);
                        assert_int_equal(e.packs[j].size, strtoull(items[2 * j + 1], NULL, 10));
                }
                list_free(items, 2 * n);
                vfixed(r, "hash", b32, 32);
                assert_memory_equal(e.hash, b32, 32);
                assert_int_equal(journal_verify_sig(obj, obj_len, pk), 0);

                assert_int_equal(journal_encode_sign(&e, sk, &re, &re_len, hash), 0);
                assert_int_equal(re_len, obj_len);
                assert_memory_equal(re, obj, obj_len);
                assert_memory_equal(hash, e.hash, 32);

                memcpy(region_hex, vstr(r, "key"), 64);
                region_hex[64] = '\0';
                assert_int_equal(journal_object_key(region_hex, e.device_id, e.seq, e.hash, key),
                                 0);
                assert_string_equal(key, vstr(r, "key"));
                memset(b16, 0, 16);
                assert_int_equal(journal_parse_key(key, b32, b16, &seq, hash), 0);
                assert_memory_equal(b32, e.region_id, 32);
                assert_memory_equal(b16, e.device_id, 16);
                assert_int_equal(seq, e.seq);
                assert_memory_equal(hash, e.hash, 32);
                free(re);
                free(obj);
                journal_release(&e);
                seen++;
        }
        assert_int_equal(seen, 3);
        vfile_free(&vf);
}

/* ---- manifest fixture -------------------------------------------------- */

struct mfix {
        uint8_t epoch_key[32], pk[32], sk[64];
        struct manifest m;
        struct manifest_vv vv[3];
        uint8_t parents[2][32];
        struct manifest_ref refs[3];
        struct manifest_meta meta;
        struct manifest_xattr xattrs[2];
};

/* A valid 3-block file (hole at 1) by the last of three devices. */
static void mfix_init(struct mfix *f)
{
        static const uint8_t seed[32] = {7};
        size_t i;

        memset(f, 0, sizeof(*f));
        assert_int_equal(sig_keypair_seed(f->pk, f->sk, seed), 0);
        memset(f->epoch_key, 0x42, 32);
        f->m.version = MANIFEST_VERSION;
        memset(f->m.region_id, 0x11, 32);
        memset(f->m.file_id, 0x22, 16);
        f->m.kind = MANIFEST_FILE;
        for (i = 0; i < 3; i++) {
                memset(f->vv[i].device_id, 0x30 + (int)i, 16);
                f->vv[i].counter = 10 + i;
        }
        memcpy(f->m.author, f->vv[2].device_id, 16);
        f->m.lamport = 99;
        f->m.vv = f->vv;
        f->m.nvv = 3;
        memset(f->parents[0], 0x50, 32);
        memset(f->parents[1], 0x51, 32);
        f->m.parents = f->parents;
        f->m.nparents = 2;
        memset(f->m.epoch_id, 0x60, 32);
        memset(f->m.salt, 0x61, 32);
        assert_int_equal(
            manifest_key_commit(f->m.key_commit, f->epoch_key, f->m.file_id, f->m.salt), 0);
        f->m.block_size = 4096;
        f->m.size = 2 * 4096 + 1; /* 3 blocks */
        for (i = 0; i < 3; i++)
                memset(f->refs[i].hash, 0x70 + (int)i, 32);
        f->refs[0].index = 0;
        f->refs[1].index = 1;
        f->refs[2].index = 2;
        f->refs[2].final = 1;
        f->m.refs = f->refs;
        f->m.nrefs = 3;
        snprintf(f->meta.name, sizeof(f->meta.name), "%s", "notes.txt");
        f->meta.name_len = strlen(f->meta.name);
        memset(f->meta.parent_id, 0x80, 16);
        f->meta.mode = 0640;
        f->meta.mtime_s = 1700000000;
        f->meta.mtime_ns = 5;
        f->xattrs[0].name = (const uint8_t *)"user.a";
        f->xattrs[0].name_len = 6;
        f->xattrs[0].value = (const uint8_t *)"xyz";
        f->xattrs[0].value_len = 3;
        f->xattrs[1].name = (const uint8_t *)"user.ab";
        f->xattrs[1].name_len = 7;
        f->meta.xattrs = f->xattrs;
        f->meta.nxattrs = 2;
}

/* Encodes and signs F (fresh meta seal); malloc'd *OUT. */
static void mfix_encode(const struct mfix *f, uint8_t **out, size_t *len)
{
        assert_int_equal(manifest_encode_sign(&f->m, &f->meta, f->epoch_key, f->sk, out, len), 0);
}

/* Offsets into the fixture's encoding. */
#define OFF_NVV 74
#define OFF_VV 78
static size_t off_params(const struct manifest *m)
{
        return OFF_VV + 24 * m->nvv + 4 + 32 * m->nparents;
}
static size_t off_refs(const struct manifest *m)
{
        return off_params(m) + 32 * 3 + 4 + 8 + 4;
}

static void expect_decode_fails(const uint8_t *buf, size_t len)
{
        struct manifest m;

        memset(&m, 0xa5, sizeof(m));
        assert_int_equal(manifest_decode(buf, len, &m), -EBADMSG);
        /* Untouched on error. */
        assert_int_equal(m.version, 0xa5);
}

static void test_manifest_roundtrip(void **state)
{
        struct mfix f;
        struct manifest m;
        struct manifest_meta meta;
        uint8_t *buf = NULL, *buf2 = NULL;
        size_t len = 0, len2 = 0;

        (void)state;
        mfix_init(&f);
        mfix_encode(&f, &buf, &len);
        assert_int_equal(manifest_decode(buf, len, &m), 0);
        assert_int_equal(m.signed_len + 64, len);
        assert_int_equal(manifest_verify_sig(buf, len, &m, f.pk), 0);
        assert_int_equal(m.nvv, 3);
        assert_int_equal(m.nrefs, 3);
        assert_int_equal(m.meta_len, 40 + 256);
        assert_int_equal(manifest_open_meta(&m, f.epoch_key, &meta), 0);
        assert_string_equal(meta.name, "notes.txt");
        assert_int_equal(meta.mode, 0640);
        assert_int_equal(meta.nxattrs, 2);
        assert_int_equal(meta.xattrs[1].value_len, 0);
        /* Canonical: re-encoding the decoded struct reproduces the bytes. */
        assert_int_equal(manifest_encode_sealed(&m, f.sk, &buf2, &len2), 0);
        assert_int_equal(len2, len);
        assert_memory_equal(buf2, buf, len);
        /* Two seals of the same metadata differ (fresh nonces), both open. */
        free(buf2);
        mfix_encode(&f, &buf2, &len2);
        assert_int_equal(len2, len);
        assert_memory_not_equal(buf2, buf, len);
        manifest_meta_release(&meta);
        manifest_meta_release(&meta); /* idempotent on a released struct */
        manifest_release(&m);
        manifest_release(NULL);
        manifest_meta_release(NULL);
        free(buf2);
        free(buf);
}

static void test_manifest_truncated_and_trailing(void **state)
{
        struct mfix f;
        uint8_t *buf = NULL, *big;
        size_t len = 0, i;

        (void)state;
        mfix_init(&f);
        mfix_encode(&f, &buf, &len);
        for (i = 0; i < len; i++)
                expect_decode_fails(buf, i);
        big = malloc(len + 1);
        assert_non_null(big);
        memcpy(big, buf, len);
        big[len] = 0;
        expect_decode_fails(big, len + 1);
        expect_decode_fails(NULL, 0);
        free(big);
        free(buf);
}

/* Re-encoding with a field changed must be refused by the encoder; the same
 * change made in the bytes must be refused by the decoder. */
static void test_manifest_encoder_refuses(void **state)
{
        struct mfix f;
        uint8_t *out = NULL;
        size_t len = 0;

        (void)state;
#define REFUSE(stmt)                                                                               \
        do {                                                                                       \
                mfix_init(&f);                                                                     \
                stmt;                                                                              \
                assert_int_equal(                                                                  \
                    manifest_encode_sign(&f.m, &f.meta, f.epoch_key, f.sk, &out, &len), -EINVAL);  \
                assert_null(out);                                                                  \
        } while (0)
        REFUSE(f.m.version = 2);
        REFUSE(f.m.kind = 0);
        REFUSE(f.m.kind = 6);
        REFUSE(memset(f.m.file_id, 0, 16));
        REFUSE(f.m.lamport = 0);
        REFUSE(f.vv[1].counter = 0);
        REFUSE(memcpy(f.vv[1].device_id, f.vv[0].device_id, 16)); /* duplicate */
        REFUSE(memset(f.vv[0].device_id, 0xff, 16));              /* unsorted */
        REFUSE(f.m.nvv = 0);
        REFUSE(f.m.nvv = 2); /* author (vv[2]) missing */
        REFUSE(f.m.nvv = MANIFEST_MAX_VV + 1);
        REFUSE(memset(f.parents[1], 0x50, 32)); /* duplicate parent */
        REFUSE(memset(f.parents[0], 0x52, 32)); /* unsorted parents */
        REFUSE(f.m.nparents = MANIFEST_MAX_PARENTS + 1);
        REFUSE(f.m.block_size = 4095);
        REFUSE(f.m.block_size = 6000);
        REFUSE(f.m.block_size = 2048);
        REFUSE(f.m.block_size = 1u << 21);
        REFUSE(f.m.size = (uint64_t)INT64_MAX + 1);
        REFUSE(f.refs[2].final = 0);                                  /* non-final last */
        REFUSE(f.refs[1].final = 1);                                  /* final in the middle */
        REFUSE(f.refs[2].final = 2);                                  /* not a boolean */
        REFUSE(f.refs[2].index = 3);                                  /* beyond size */
        REFUSE(f.m.size = 2 * 4096);                                  /* now ref 2 is beyond */
        REFUSE(f.refs[1].index = 0);                                  /* duplicate index */
        REFUSE(f.refs[0].index = 1; f.refs[1].index = 0);             /* unsorted */
        REFUSE(f.m.kind = MANIFEST_DIR);                              /* dir with content */
        REFUSE(f.m.kind = MANIFEST_DIR; f.m.nrefs = 0);               /* dir with a size */
        REFUSE(f.m.kind = MANIFEST_SPECIAL; f.meta.special_type = 1); /* special with content */
        REFUSE(f.m.kind = MANIFEST_SPECIAL; f.m.nrefs = 0;            /* special with a size */
               f.meta.special_type = 1);
        REFUSE(f.m.kind = MANIFEST_SPECIAL; f.m.nrefs = 0; f.m.size = 0); /* no type */
        REFUSE(f.m.kind = MANIFEST_SPECIAL; f.m.nrefs = 0; f.m.size = 0;
               f.meta.special_type = 5); /* unknown type */
        REFUSE(f.m.kind = MANIFEST_SPECIAL; f.m.nrefs = 0; f.m.size = 0;
               f.meta.special_type = MANIFEST_SPECIAL_FIFO; f.meta.rdev = 1); /* rdev on a FIFO */
        REFUSE(f.meta.special_type = MANIFEST_SPECIAL_FIFO);                  /* type on a file */
        REFUSE(f.meta.rdev = 1);                                              /* rdev on a file */
        REFUSE(memset(f.m.key_commit, 0, 32)); /* not this epoch key's */
        /* Metadata rules. */
        REFUSE(snprintf(f.meta.name, sizeof(f.meta.name), "%s", ".."); f.meta.name_len = 2);
        REFUSE(snprintf(f.meta.name, sizeof(f.meta.name), "%s", "."); f.meta.name_len = 1);
        REFUSE(snprintf(f.meta.name, sizeof(f.meta.name), "%s", "a/b"); f.meta.name_len = 3);
        REFUSE(f.meta.name_len = 0);
        REFUSE(f.meta.name[3] = '\0');
        REFUSE(f.meta.name_len = 256);
        REFUSE(f.meta.mode = 0100644);
        REFUSE(f.meta.mtime_ns = 1000000000);
        REFUSE(snprintf(f.meta.target, sizeof(f.meta.target), "%s", "x");
               f.meta.target_len = 1);                                    /* target on a file */
        REFUSE(f.m.kind = MANIFEST_SYMLINK; f.m.nrefs = 0; f.m.size = 0); /* no target */
        REFUSE(f.xattrs[0].name = (const uint8_t *)"trusted.a");
        REFUSE(f.xattrs[0].name = (const uint8_t *)"user.";
               f.xattrs[0].name_len = 5); /* empty after prefix */
        REFUSE(f.xattrs[1].name = (const uint8_t *)"user.a";
               f.xattrs[1].name_len = 6);                       /* duplicate */
        REFUSE(f.xattrs[1].name = (const uint8_t *)"user.\0b"); /* NUL inside */
        REFUSE(f.xattrs[0].name = (const uint8_t *)"user.b";
               f.xattrs[0].name_len = 6); /* unsorted */
        REFUSE(f.xattrs[0].value_len = MANIFEST_XATTR_VALUE_MAX + 1);
        REFUSE(f.meta.nxattrs = MANIFEST_MAX_XATTRS + 1);
#undef REFUSE
        /* Accepted edge cases. */
        mfix_init(&f);
        f.m.nrefs = 2; /* the last block is a hole: no ref is final */
        f.refs[1].index = 1;
        f.refs[1].final = 0;
        assert_int_equal(manifest_encode_sign(&f.m, &f.meta, f.epoch_key, f.sk, &out, &len), 0);
        free(out);
        out = NULL;
        mfix_init(&f);
        f.m.kind = MANIFEST_SYMLINK;
        f.m.nrefs = 0;
        f.m.size = 0;
        memset(f.meta.target, 'x', MANIFEST_TARGET_MAX);
        f.meta.target_len = MANIFEST_TARGET_MAX;
        memset(f.meta.name, 'n', 255);
        f.meta.name_len = 255;
        f.meta.name[255] = '\0';
        f.m.nparents = 0;
        assert_int_equal(manifest_encode_sign(&f.m, &f.meta, f.epoch_key, f.sk, &out, &len), 0);
        free(out);
}

static void test_manifest_decoder_rejects(void **state)
{
        struct mfix f;
        uint8_t *buf = NULL, *t;
        size_t len = 0, refs, params;

        (void)state;
        mfix_init(&f);
        mfix_encode(&f, &buf, &len);
        t = malloc(len);
        assert_non_null(t);
        refs = off_refs(&f.m);
        params = off_params(&f.m);
#define MUTATE(stmt)                                                                               \
        do {                                                                                       \
                memcpy(t, buf, len);                                                               \
                stmt;                                                                              \
                expect_decode_fails(t, len);                                                       \
        } while (0)
        MUTATE(t[0] = 2);                                            /* version */
        MUTATE(t[49] = 5);                                           /* kind */
        MUTATE(memset(t + 33, 0, 16));                               /* file id zero */
        MUTATE(memset(t + 66, 0, 8));                                /* lamport 0 */
        MUTATE(memcpy(t + OFF_VV, buf + OFF_VV + 24, 16));           /* vv duplicate */
        MUTATE(memcpy(t + OFF_VV, buf + OFF_VV + 48, 16));           /* vv unsorted */
        MUTATE(memset(t + OFF_VV + 16, 0, 8));                       /* vv counter 0 */
        MUTATE(t[OFF_NVV + 3] = 0xff);                               /* vv count */
        MUTATE(memset(t + OFF_NVV, 0xff, 4));                        /* vv count huge */
        MUTATE(t[OFF_VV + 48] = 0x3f);                               /* author missing */
        MUTATE(memcpy(t + OFF_VV + 76, buf + OFF_VV + 76 + 32, 32)); /* parents duplicate */
        MUTATE(memcpy(t + OFF_VV + 76 + 32, buf + OFF_VV + 76, 32)); /* parents unsorted */
        MUTATE(t[params + 96 + 2] = 0x11);                           /* block size */
        MUTATE(t[refs + 41 * 2 + 40] = 0);                           /* non-final last ref */
        MUTATE(t[refs + 41 * 1 + 40] = 1);                           /* final middle ref */
        MUTATE(t[refs + 41 * 2 + 7] = 3);                            /* ref beyond size */
        MUTATE(t[refs + 41 * 1 + 7] = 0);                            /* duplicate index */
        MUTATE(t[params + 96 + 4 + 7] = 0);                          /* size 8192 (ref 2 beyond) */
        MUTATE(t[params + 96 + 4] = 0x80);                           /* size > INT64_MAX */
        MUTATE(t[refs - 1] = 4);                                     /* ref count + 1 */
        MUTATE(t[refs + 41 * 3 + 2] = 2);                            /* meta length 552 */
        MUTATE(t[refs + 41 * 3 + 3] = (uint8_t)(t[refs + 41 * 3 + 3] - 1)); /* meta 295 */
#undef MUTATE
        /* A directory with content: kind 2 in the bytes. */
        memcpy(t, buf, len);
        t[49] = MANIFEST_DIR;
        expect_decode_fails(t, len);
        free(t);
        free(buf);
}

/* Every single-bit flip is caught: by the decoder, the signature or the hash. */
static void test_manifest_bitflips(void **state)
{
        struct mfix f;
        struct manifest m, m0;
        uint8_t *buf = NULL;
        size_t len = 0, i;

        (void)state;
        mfix_init(&f);
        mfix_encode(&f, &buf, &len);
        assert_int_equal(manifest_decode(buf, len, &m0), 0);
        for (i = 0; i < len * 8; i++) {
                buf[i / 8] ^= (uint8_t)(1u << (i % 8));
                if (manifest_decode(buf, len, &m) == 0) {
                        assert_int_equal(manifest_verify_sig(buf, len, &m, f.pk), -EBADMSG);
                        manifest_release(&m);
                }
                /* The object the caller decoded earlier no longer matches. */
                assert_int_equal(manifest_verify_sig(buf, len, &m0, f.pk), -EBADMSG);
                buf[i / 8] ^= (uint8_t)(1u << (i % 8));
        }
        assert_int_equal(manifest_verify_sig(buf, len, &m0, f.pk), 0);
        manifest_release(&m0);
        free(buf);
}

static void test_manifest_wrong_sig_type(void **state)
{
        struct mfix f;
        struct manifest m;
        uint8_t *buf = NULL, pk2[32], sk2[64];
        static const uint8_t seed2[32] = {8};
        size_t len = 0;

        (void)state;
        mfix_init(&f);
        mfix_encode(&f, &buf, &len);
        /* Re-sign the same body as a journal entry: must not verify as a manifest. */
        assert_int_equal(sig_sign(buf + len - 64, f.sk, "journal", buf, len - 64), 0);
        assert_int_equal(manifest_decode(buf, len, &m), 0);
        assert_int_equal(manifest_verify_sig(buf, len, &m, f.pk), -EBADMSG);
        manifest_release(&m);
        /* Correct type, other key. */
        assert_int_equal(sig_sign(buf + len - 64, f.sk, "manifest", buf, len - 64), 0);
        assert_int_equal(manifest_decode(buf, len, &m), 0);
        assert_int_equal(manifest_verify_sig(buf, len, &m, f.pk), 0);
        assert_int_equal(sig_keypair_seed(pk2, sk2, seed2), 0);
        assert_int_equal(manifest_verify_sig(buf, len, &m, pk2), -EBADMSG);
        /* A length that does not match the decoded object. */
        assert_int_equal(manifest_verify_sig(buf, len - 1, &m, f.pk), -EBADMSG);
        manifest_release(&m);
        free(buf);
}

/* Seals PLAIN as F's metadata by hand (independent AD), for hostile records. */
static void seal_by_hand(struct mfix *f, const uint8_t *plain, size_t plen, uint8_t **out,
                         size_t *out_len)
{
        uint8_t k[32], ad[26 + 32 + 16 + 8];
        size_t i;

        assert_int_equal(kdf_derive(k, 32, f->epoch_key, "meta", f->m.file_id, 16), 0);
        memcpy(ad, "sealsync/v1/manifest-meta", 26); /* with its NUL */
        memcpy(ad + 26, f->m.region_id, 32);
        memcpy(ad + 58, f->m.file_id, 16);
        for (i = 0; i < 8; i++)
                ad[74 + i] = (uint8_t)(f->m.lamport >> (56 - 8 * i));
        *out = malloc(plen + AEAD_OVERHEAD);
        assert_non_null(*out);
        assert_int_equal(aead_seal(*out, k, ad, sizeof(ad), plain, plen), 0);
        *out_len = plen + AEAD_OVERHEAD;
}

/* Encodes F with PLAIN sealed by hand, decodes, returns manifest_open_meta's result. */
static int open_hostile(struct mfix *f, const uint8_t *plain, size_t plen)
{
        struct manifest m;
        struct manifest_meta meta;
        uint8_t *sealed, *buf = NULL;
        size_t slen, len = 0;
        int rc;

        seal_by_hand(f, plain, plen, &sealed, &slen);
        f->m.meta = sealed;
        f->m.meta_len = slen;
        assert_int_equal(manifest_encode_sealed(&f->m, f->sk, &buf, &len), 0);
        assert_int_equal(manifest_decode(buf, len, &m), 0);
        memset(&meta, 0, sizeof(meta));
        rc = manifest_open_meta(&m, f->epoch_key, &meta);
        if (rc == 0)
                manifest_meta_release(&meta);
        else
                assert_null(meta.plain);
        /* The plaintext decoder agrees with the full path. */
        if (plen % 256 == 0 && plen > 0) {
                int rc2 = manifest_meta_decode(plain, plen, f->m.kind, &meta);

                assert_int_equal(rc2, rc);
                if (rc2 == 0)
                        manifest_meta_release(&meta);
        }
        manifest_release(&m);
        free(buf);
        free(sealed);
        f->m.meta = NULL;
        return rc;
}

/* A metadata record written field by field (no checks), padded to PAD_TO. */
static uint8_t *raw_meta(const char *name, size_t name_len, uint32_t mode, const char *target,
                         size_t pad_to, size_t *len)
{
        struct enc e;
        uint8_t *out;

        enc_init(&e);
        enc_var(&e, name, name_len);
        enc_fixed(&e, "0123456789abcdef", 16);
        enc_u32(&e, mode);
        enc_u64(&e, 1);
        enc_u32(&e, 2);
        enc_var(&e, target, strlen(target));
        enc_u32(&e, 0);
        assert_int_equal(enc_error(&e), 0);
        assert_true(e.len <= pad_to);
        out = calloc(1, pad_to);
        assert_non_null(out);
        memcpy(out, e.buf, e.len);
        enc_release(&e);
        *len = pad_to;
        return out;
}

static void test_manifest_hostile_meta(void **state)
{
        struct mfix f;
        uint8_t *p;
        size_t len;

        (void)state;
        mfix_init(&f);
        /* Sanity: a good record sealed by hand opens. */
        p = raw_meta("ok", 2, 0644, "", 256, &len);
        assert_int_equal(open_hostile(&f, p, len), 0);
        /* Bad padding: a non-zero byte in it; a whole extra unit of zeros. */
        p[255] = 1;
        assert_int_equal(open_hostile(&f, p, len), -EBADMSG);
        free(p);
        p = raw_meta("ok", 2, 0644, "", 512, &len);
        assert_int_equal(open_hostile(&f, p, len), -EBADMSG);
        free(p);
        /* Names and fields the rules forbid. */
        p = raw_meta("..", 2, 0644, "", 256, &len);
        assert_int_equal(open_hostile(&f, p, len), -EBADMSG);
        free(p);
        p = raw_meta(".", 1, 0644, "", 256, &len);
        assert_int_equal(open_hostile(&f, p, len), -EBADMSG);
        free(p);
        p = raw_meta("a/b", 3, 0644, "", 256, &len);
        assert_int_equal(open_hostile(&f, p, len), -EBADMSG);
        free(p);
        p = raw_meta("a\0b", 3, 0644, "", 256, &len);
        assert_int_equal(open_hostile(&f, p, len), -EBADMSG);
        free(p);
        p = raw_meta("", 0, 0644, "", 256, &len);
        assert_int_equal(open_hostile(&f, p, len), -EBADMSG);
        free(p);
        {
                char longname[257];

                memset(longname, 'a', sizeof(longname));
                p = raw_meta(longname, 256, 0644, "", 512, &len);
                assert_int_equal(open_hostile(&f, p, len), -EBADMSG);
                free(p);
                p = raw_meta(longname, 255, 0644, "", 512, &len);
                assert_int_equal(open_hostile(&f, p, len), 0);
                free(p);
        }
        p = raw_meta("ok", 2, 0100644, "", 256, &len);
        assert_int_equal(open_hostile(&f, p, len), -EBADMSG);
        free(p);
        p = raw_meta("ok", 2, 0644, "t", 256, &len); /* target on a file */
        assert_int_equal(open_hostile(&f, p, len), -EBADMSG);
        free(p);
        /* Truncated record (cut inside the fields, zero "padding" after). */
        p = raw_meta("ok", 2, 0644, "", 256, &len);
        p[4 + 2 + 16 + 4 + 8 + 4 + 3] = 1; /* target length 1 -> 'target' is a zero byte */
        assert_int_equal(open_hostile(&f, p, len), -EBADMSG);
        free(p);
}

static void test_manifest_meta_binding(void **state)
{
        struct mfix f, g;
        struct manifest m;
        struct manifest_meta meta;
        uint8_t *buf = NULL, *buf2 = NULL, *sealed = NULL, other_key[32];
        size_t len = 0, len2 = 0, slen = 0;

        (void)state;
        mfix_init(&f);
        mfix_encode(&f, &buf, &len);
        assert_int_equal(manifest_decode(buf, len, &m), 0);
        /* Wrong epoch key: the key commitment refuses before any decryption. */
        memset(other_key, 0x43, 32);
        memset(&meta, 0, sizeof(meta));
        assert_int_equal(manifest_open_meta(&m, other_key, &meta), -EBADMSG);
        assert_null(meta.plain);
        /* Wrong lamport: same sealed metadata in a manifest with another lamport. */
        f.m.meta = m.meta;
        f.m.meta_len = m.meta_len;
        f.m.lamport = 100;
        assert_int_equal(manifest_encode_sealed(&f.m, f.sk, &buf2, &len2), 0);
        manifest_release(&m);
        assert_int_equal(manifest_decode(buf2, len2, &m), 0);
        assert_int_equal(manifest_open_meta(&m, f.epoch_key, &meta), -EBADMSG);
        free(buf2);
        buf2 = NULL;
        /* Wrong region. */
        manifest_release(&m);
        assert_int_equal(manifest_decode(buf, len, &m), 0);
        f.m.lamport = 99;
        f.m.meta = m.meta;
        memset(f.m.region_id, 0x12, 32);
        assert_int_equal(manifest_encode_sealed(&f.m, f.sk, &buf2, &len2), 0);
        {
                struct manifest m2;

                assert_int_equal(manifest_decode(buf2, len2, &m2), 0);
                assert_int_equal(manifest_open_meta(&m2, f.epoch_key, &meta), -EBADMSG);
                manifest_release(&m2);
        }
        free(buf2);
        buf2 = NULL;
        /* Wrong file id: metadata sealed for file G inside F's manifest, with F's
         * (correct) key commitment, so only the AEAD can notice. */
        mfix_init(&f);
        mfix_init(&g);
        memset(g.m.file_id, 0x23, 16);
        assert_int_equal(manifest_meta_seal(&g.m, &g.meta, g.epoch_key, &sealed, &slen), 0);
        f.m.meta = sealed;
        f.m.meta_len = slen;
        assert_int_equal(manifest_encode_sealed(&f.m, f.sk, &buf2, &len2), 0);
        {
                struct manifest m2;

                assert_int_equal(manifest_decode(buf2, len2, &m2), 0);
                assert_int_equal(manifest_open_meta(&m2, f.epoch_key, &meta), -EBADMSG);
                manifest_release(&m2);
        }
        /* Wrong kind for the record: a file's metadata read as a symlink's. */
        manifest_release(&m);
        assert_int_equal(manifest_decode(buf, len, &m), 0);
        m.kind = MANIFEST_SYMLINK;
        assert_int_equal(manifest_open_meta(&m, f.epoch_key, &meta), -EBADMSG);
        manifest_release(&m);
        free(sealed);
        free(buf2);
        free(buf);
}

/* Makes F a special file (doc/SYNC.md C6) of TYPE and RDEV: no blocks, size 0. */
static void mfix_special(struct mfix *f, uint8_t type, uint64_t rdev)
{
        mfix_init(f);
        f->m.kind = MANIFEST_SPECIAL;
        f->m.nrefs = 0;
        f->m.size = 0;
        f->meta.special_type = type;
        f->meta.rdev = rdev;
}

/* Special files round-trip with their type and rdev; a hostile special
 * (blocks, a size, an unknown type, an rdev on a FIFO) is refused by the
 * decoder (structure) or when its metadata is opened (C6). */
static void test_manifest_special(void **state)
{
        static const uint8_t types[] = {MANIFEST_SPECIAL_FIFO, MANIFEST_SPECIAL_SOCK,
                                        MANIFEST_SPECIAL_CHR, MANIFEST_SPECIAL_BLK};
        struct mfix f;
        struct manifest m;
        struct manifest_meta meta;
        uint8_t *buf = NULL, *plain = NULL;
        size_t len = 0, plen = 0, i;

        (void)state;
        for (i = 0; i < sizeof(types); i++) {
                uint64_t rdev = types[i] >= MANIFEST_SPECIAL_CHR ? 0x0000010300000005ull : 0;

                mfix_special(&f, types[i], rdev);
                mfix_encode(&f, &buf, &len);
                assert_int_equal(manifest_decode(buf, len, &m), 0);
                assert_int_equal(m.kind, MANIFEST_SPECIAL);
                assert_int_equal(m.nrefs, 0);
                assert_int_equal(manifest_open_meta(&m, f.epoch_key, &meta), 0);
                assert_int_equal(meta.special_type, types[i]);
                assert_true(meta.rdev == rdev);
                assert_int_equal(meta.mode, 0640);
                manifest_meta_release(&meta);
                /* The same metadata read as a file's: the type and rdev are extra bytes. */
                m.kind = MANIFEST_FILE;
                assert_int_equal(manifest_open_meta(&m, f.epoch_key, &meta), -EBADMSG);
                manifest_release(&m);
                free(buf);
                buf = NULL;
        }
        /* Hostile: a special manifest with blocks (kind 5 in a file's bytes). */
        mfix_init(&f);
        mfix_encode(&f, &buf, &len);
        buf[49] = MANIFEST_SPECIAL;
        expect_decode_fails(buf, len);
        free(buf);
        /* Hostile metadata records (a writer can seal anything): unknown type,
         * rdev on a socket, type 0, missing type/rdev (a file's record). */
        mfix_special(&f, MANIFEST_SPECIAL_CHR, 7);
        assert_int_equal(manifest_meta_encode(&f.meta, MANIFEST_SPECIAL, &plain, &plen), 0);
        {
                size_t at = plen;

                /* Find the type byte: the last nonzero bytes are rdev (7) then the type (3). */
                while (at > 0 && plain[at - 1] == 0)
                        at--;
                assert_int_equal(plain[at - 1], 7);
                assert_int_equal(plain[at - 9], MANIFEST_SPECIAL_CHR);
                assert_int_equal(manifest_meta_decode(plain, plen, MANIFEST_SPECIAL, &meta), 0);
                manifest_meta_release(&meta);
                plain[at - 9] = 5; /* unknown type */
                assert_int_equal(manifest_meta_decode(plain, plen, MANIFEST_SPECIAL, &meta),
                                 -EBADMSG);
                plain[at - 9] = 0; /* no type */
                assert_int_equal(manifest_meta_decode(plain, plen, MANIFEST_SPECIAL, &meta),
                                 -EBADMSG);
                plain[at - 9] = MANIFEST_SPECIAL_SOCK; /* a socket with a device number */
                assert_int_equal(manifest_meta_decode(plain, plen, MANIFEST_SPECIAL, &meta),
                                 -EBADMSG);
                plain[at - 1] = 0; /* a socket, rdev 0: fine */
                assert_int_equal(manifest_meta_decode(plain, plen, MANIFEST_SPECIAL, &meta), 0);
                manifest_meta_release(&meta);
        }
        free(plain);
        plain = NULL;
        /* A file's record read as a special's: type and rdev missing (zero padding
         * reads as type 0, refused). */
        mfix_init(&f);
        assert_int_equal(manifest_meta_encode(&f.meta, MANIFEST_FILE, &plain, &plen), 0);
        assert_int_equal(manifest_meta_decode(plain, plen, MANIFEST_SPECIAL, &meta), -EBADMSG);
        free(plain);
}

static void test_manifest_bounds(void **state)
{
        uint8_t *buf;
        struct manifest m;
        size_t len = MANIFEST_MIN_SIZE + 64;

        (void)state;
        /* Counts above the maximum or above the input are refused before
         * anything is allocated (ASan would flag a huge calloc). */
        buf = calloc(1, len);
        assert_non_null(buf);
        buf[0] = 1;
        memset(buf + 33, 1, 16);
        buf[73] = 1;
        buf[OFF_NVV] = 0x00;
        buf[OFF_NVV + 1] = 0x00;
        buf[OFF_NVV + 2] = 0x10;
        buf[OFF_NVV + 3] = 0x01; /* 4097 */
        assert_int_equal(manifest_decode(buf, len, &m), -EBADMSG);
        buf[OFF_NVV + 2] = 0x00;
        buf[OFF_NVV + 3] = 0x40; /* 64 entries: more than the input holds */
        assert_int_equal(manifest_decode(buf, len, &m), -EBADMSG);
        assert_int_equal(manifest_decode(buf, MANIFEST_MAX_SIZE + 1, &m), -EBADMSG);
        free(buf);
        assert_true(MANIFEST_MAX_SIZE <= PACK_MAX_SIZE);
}

static void test_vv_compare(void **state)
{
        struct manifest_vv a[3], b[3];

        (void)state;
        memset(a, 0, sizeof(a));
        memset(b, 0, sizeof(b));
        memset(a[0].device_id, 1, 16);
        memset(a[1].device_id, 2, 16);
        memset(a[2].device_id, 3, 16);
        memcpy(b, a, sizeof(a));
        a[0].counter = b[0].counter = 1;
        a[1].counter = b[1].counter = 5;
        a[2].counter = b[2].counter = 2;
        assert_int_equal(manifest_vv_compare(a, 3, b, 3), MANIFEST_VV_EQUAL);
        assert_int_equal(manifest_vv_compare(NULL, 0, NULL, 0), MANIFEST_VV_EQUAL);
        a[1].counter = 6;
        assert_int_equal(manifest_vv_compare(a, 3, b, 3), MANIFEST_VV_DOMINATES);
        assert_int_equal(manifest_vv_compare(b, 3, a, 3), MANIFEST_VV_DOMINATED);
        b[2].counter = 3;
        assert_int_equal(manifest_vv_compare(a, 3, b, 3), MANIFEST_VV_CONCURRENT);
        assert_int_equal(manifest_vv_compare(b, 3, a, 3), MANIFEST_VV_CONCURRENT);
        /* Missing entries count zero. */
        assert_int_equal(manifest_vv_compare(a, 3, a, 2), MANIFEST_VV_DOMINATES);
        assert_int_equal(manifest_vv_compare(a + 1, 2, a, 3), MANIFEST_VV_DOMINATED);
        assert_int_equal(manifest_vv_compare(a, 1, a + 2, 1), MANIFEST_VV_CONCURRENT);
        assert_int_equal(manifest_vv_compare(a, 1, NULL, 0), MANIFEST_VV_DOMINATES);
}

/*
 * Invariant C8, the model's finding 2: device X (ids 3) writes x2 (Lamport
 * 2, vector X:2) and, equivocating, x2' (Lamport 3, the same vector); device
 * B (ids 1) took x2 and wrote b1 on top (Lamport 3, vector B:1 X:2).  By the
 * vectors b1 has seen x2', which it never did; by C8 they are concurrent
 * (x2' is the later: same Lamport, higher author), so a device holding b1
 * keeps both as one that holding x2' does.  An honest descendant still wins.
 */
static void test_vv_order_fork(void **state)
{
        struct manifest_vv vb1[2], vx[1];
        struct manifest b1, x2, x2t;

        (void)state;
        memset(vb1, 0, sizeof(vb1));
        memset(vx, 0, sizeof(vx));
        memset(vb1[0].device_id, 1, 16);
        memset(vb1[1].device_id, 3, 16);
        memcpy(vx[0].device_id, vb1[1].device_id, 16);
        vb1[0].counter = 1;
        vb1[1].counter = vx[0].counter = 2;
        memset(&b1, 0, sizeof(b1));
        memset(&x2, 0, sizeof(x2));
        memset(b1.author, 1, 16);
        memset(b1.hash, 0xb1, 32);
        b1.lamport = 3;
        b1.vv = vb1;
        b1.nvv = 2;
        memset(x2.author, 3, 16);
        memset(x2.hash, 0x22, 32);
        x2.lamport = 2;
        x2.vv = vx;
        x2.nvv = 1;
        x2t = x2;
        memset(x2t.hash, 0x2f, 32);
        x2t.lamport = 3;
        /* The finding: the vectors alone say b1 has seen x2'. */
        assert_int_equal(manifest_vv_compare(x2t.vv, x2t.nvv, b1.vv, b1.nvv),
                         MANIFEST_VV_DOMINATED);
        assert_int_equal(manifest_order(&x2t, &b1), MANIFEST_VV_CONCURRENT);
        assert_int_equal(manifest_order(&b1, &x2t), MANIFEST_VV_CONCURRENT);
        assert_true(manifest_later(&x2t, &b1));
        assert_false(manifest_later(&b1, &x2t));
        /* The honest case is unchanged: b1 was written on top of x2. */
        assert_int_equal(manifest_order(&x2, &b1), MANIFEST_VV_DOMINATED);
        assert_int_equal(manifest_order(&b1, &x2), MANIFEST_VV_DOMINATES);
        /* The twins: one vector, two versions; the same version is equal. */
        assert_int_equal(manifest_order(&x2, &x2t), MANIFEST_VV_CONCURRENT);
        assert_int_equal(manifest_order(&x2, &x2), MANIFEST_VV_EQUAL);
        /* Twins with the same Lamport clock too: the hash decides, both ways alike. */
        x2t.lamport = 2;
        assert_true(manifest_later(&x2t, &x2));
        assert_false(manifest_later(&x2, &x2t));
}

static void test_name_rules(void **state)
{
        (void)state;
        assert_int_equal(manifest_name_valid("a", 1), 1);
        assert_int_equal(manifest_name_valid("...", 3), 1);
        assert_int_equal(manifest_name_valid(".a", 2), 1);
        assert_int_equal(manifest_name_valid(".", 1), 0);
        assert_int_equal(manifest_name_valid("..", 2), 0);
        assert_int_equal(manifest_name_valid("a/", 2), 0);
        assert_int_equal(manifest_name_valid("a\0", 2), 0);
        assert_int_equal(manifest_name_valid("", 0), 0);
        assert_int_equal(manifest_name_valid(NULL, 0), 0);
        {
                char n[256];

                memset(n, 'x', sizeof(n));
                assert_int_equal(manifest_name_valid(n, 255), 1);
                assert_int_equal(manifest_name_valid(n, 256), 0);
        }
}

/* ---- packs ------------------------------------------------------------- */

static void build_small_pack(uint8_t **out, size_t *len, uint8_t hash[32])
{
        struct pack_builder b;
        uint8_t blk[64];
        struct mfix f;
        uint8_t *man = NULL;
        size_t man_len = 0;

        mfix_init(&f);
        mfix_encode(&f, &man, &man_len);
        memset(blk, 0x5c, sizeof(blk));
        pack_builder_init(&b);
        assert_int_equal(pack_builder_add(&b, PACK_KIND_BLOCK, blk, 40, NULL), 0);
        assert_int_equal(pack_builder_add(&b, PACK_KIND_MANIFEST, man, man_len, NULL), 0);
        assert_int_equal(pack_builder_add(&b, PACK_KIND_BLOCK, blk, 64, NULL), 0);
        assert_int_equal(pack_builder_finish(&b, out, len, hash), 0);
        pack_builder_release(&b);
        free(man);
}

static void test_pack_roundtrip_and_tamper(void **state)
{
        struct pack_entry *ents = NULL, *t = NULL;
        uint8_t *buf = NULL, *big, hash[32], h2[32];
        size_t len = 0, n = 0, tn = 0, i, need = 0;

        (void)state;
        build_small_pack(&buf, &len, hash);
        /* Version 2: named by its magic and trailer (doc/FORMAT-sync.md "Pack"). */
        assert_memory_equal(buf, "SEALPAK2", 8);
        {
                struct hash_stream hs;
                size_t tl = pack_trailer_len(3);

                hash_stream_init(&hs);
                hash_stream_update(&hs, buf, 8);
                hash_stream_update(&hs, buf + len - tl, tl);
                hash_stream_final(&hs, h2);
                assert_memory_equal(h2, hash, 32);
        }
        assert_int_equal(pack_name(buf, len, h2), 0);
        assert_memory_equal(h2, hash, 32);
        /* The same bytes under the version-1 magic parse, but are named by all their bytes:
         * no version-2 name fits them (D8). */
        memcpy(buf, "SEALPAK1", 8);
        assert_int_equal(pack_parse(buf, len, &ents, &n), 0);
        free(ents);
        ents = NULL;
        assert_int_equal(pack_name(buf, len, h2), 0);
        assert_memory_not_equal(h2, hash, 32);
        hash_blake2b(hash, buf, len);
        assert_memory_equal(h2, hash, 32);
        memcpy(buf, "SEALPAK3", 8);
        assert_int_equal(pack_name(buf, len, h2), -EBADMSG);
        assert_int_equal(pack_parse(buf, len, &ents, &n), -EBADMSG);
        memcpy(buf, "SEALPAK2", 8);
        assert_int_equal(pack_name(buf, len, hash), 0);
        assert_int_equal(pack_parse(buf, len, &ents, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(ents[0].off, 13);
        assert_int_equal(ents[1].off, 13 + 40 + 5);
        assert_int_equal(ents[1].kind, PACK_KIND_MANIFEST);
        for (i = 0; i < n; i++) {
                assert_int_equal(
                    pack_record_check(ents[i].kind, buf + ents[i].off, ents[i].len, ents[i].hash),
                    0);
                /* A flipped bit in a range-fetched record. */
                buf[ents[i].off + ents[i].len / 2] ^= 0x10;
                assert_int_equal(
                    pack_record_check(ents[i].kind, buf + ents[i].off, ents[i].len, ents[i].hash),
                    -EBADMSG);
                buf[ents[i].off + ents[i].len / 2] ^= 0x10;
        }
        assert_int_equal(pack_record_check(3, buf + ents[0].off, ents[0].len, ents[0].hash),
                         -EBADMSG);
        assert_int_equal(
            pack_record_check(PACK_KIND_MANIFEST, buf + ents[0].off, ents[0].len, ents[0].hash),
            -EBADMSG); /* too short for a manifest */

        /* Every single-bit flip anywhere in the pack is rejected: malformed, or a
         * record that no longer hashes to its entry (-EILSEQ, only where the layout
         * still holds: a record's bytes or an entry's hash). */
        for (i = 0; i < len * 8; i++) {
                struct pack_entry *x = NULL;
                size_t xn = 0, byte = i / 8;
                int rc, in_hash = 0, j;

                for (j = 0; j < 3; j++)
                        in_hash |= byte >= ents[j].off && byte < ents[j].off + ents[j].len;
                for (j = 0; j < 3; j++) {
                        size_t e = len - pack_trailer_len(3) + (size_t)j * PACK_ENTRY_LEN;

                        in_hash |= byte >= e + 13 && byte < e + PACK_ENTRY_LEN;
                }
                buf[byte] ^= (uint8_t)(1u << (i % 8));
                rc = pack_parse(buf, len, &x, &xn);
                assert_int_equal(rc, in_hash ? -EILSEQ : -EBADMSG);
                assert_null(x);
                buf[byte] ^= (uint8_t)(1u << (i % 8));
        }
        /* Truncated at every length; one trailing byte. */
        for (i = 0; i < len; i++) {
                struct pack_entry *x = NULL;
                size_t xn = 0;

                assert_int_equal(pack_parse(buf, i, &x, &xn), -EBADMSG);
        }
        big = malloc(len + 1);
        assert_non_null(big);
        memcpy(big, buf, len);
        big[len] = 0;
        assert_int_equal(pack_parse(big, len + 1, &t, &tn), -EBADMSG);
        free(big);

        /* Trailer-only parsing: too short a tail asks for more. */
        assert_int_equal(pack_parse_trailer(buf + len - 4, 4, len, &t, &tn, &need), -EAGAIN);
        assert_int_equal(need, pack_trailer_len(3));
        assert_int_equal(pack_parse_trailer(buf + len - need, need, len, &t, &tn, NULL), 0);
        assert_int_equal(tn, 3);
        assert_memory_equal(t, ents, 3 * sizeof(*t));
        free(t);
        t = NULL;
        /* A wrong pack size makes the offsets inconsistent. */
        assert_int_equal(pack_parse_trailer(buf + len - need, need, len + 1, &t, &tn, NULL),
                         -EBADMSG);
        assert_int_equal(pack_parse_trailer(buf + len - need, need, len - 1, &t, &tn, NULL),
                         -EBADMSG);
        assert_null(t);
        free(ents);
        free(buf);
}

static void test_pack_builder_limits(void **state)
{
        struct pack_builder b;
        uint8_t *blk, *out = NULL, hash[32];
        size_t i, len = 0;
        int rc = 0;

        (void)state;
        pack_builder_init(&b);
        assert_int_equal(pack_builder_finish(&b, &out, &len, hash), -EINVAL); /* empty */
        blk = calloc(1, PACK_BLOCK_MAX_LEN + 1);
        assert_non_null(blk);
        assert_int_equal(pack_builder_add(&b, PACK_KIND_BLOCK, blk, 39, NULL), -EINVAL);
        assert_int_equal(pack_builder_add(&b, PACK_KIND_BLOCK, blk, PACK_BLOCK_MAX_LEN + 1, NULL),
                         -EINVAL);
        assert_int_equal(pack_builder_add(&b, 0, blk, 40, NULL), -EINVAL);
        assert_int_equal(pack_builder_add(&b, PACK_KIND_MANIFEST, blk, 100, NULL), -EINVAL);
        /* Fill with maximal blocks until the size limit says stop. */
        for (i = 0; i < 100 && rc == 0; i++)
                rc = pack_builder_add(&b, PACK_KIND_BLOCK, blk, PACK_BLOCK_MAX_LEN, NULL);
        assert_int_equal(rc, -EFBIG);
        assert_true(pack_builder_size(&b) <= PACK_MAX_SIZE);
        /* Still usable: a small record fits, and the pack parses. */
        assert_int_equal(pack_builder_add(&b, PACK_KIND_BLOCK, blk, 40, NULL), 0);
        assert_int_equal(pack_builder_finish(&b, &out, &len, hash), 0);
        assert_int_equal(len, pack_builder_size(&b));
        {
                struct pack_entry *e = NULL;
                size_t n = 0;

                assert_int_equal(pack_parse(out, len, &e, &n), 0);
                assert_int_equal(n, pack_builder_count(&b));
                free(e);
        }
        free(out);
        pack_builder_release(&b);
        /* The record-count limit. */
        pack_builder_init(&b);
        for (i = 0; i < PACK_MAX_RECORDS; i++)
                assert_int_equal(pack_builder_add(&b, PACK_KIND_BLOCK, blk, 40, NULL), 0);
        assert_int_equal(pack_builder_add(&b, PACK_KIND_BLOCK, blk, 40, NULL), -EFBIG);
        pack_builder_release(&b);
        free(blk);
}

/* pack_builder_take gives the bytes and name pack_builder_finish gives, and empties the builder. */
static void test_pack_builder_take(void **state)
{
        struct pack_builder b;
        uint8_t blk[300], *a = NULL, *t = NULL, ha[32], ht[32], sha[32], want[32];
        size_t i, alen = 0, tlen = 0;

        (void)state;
        for (i = 0; i < sizeof(blk); i++)
                blk[i] = (uint8_t)(i * 7);
        pack_builder_init(&b);
        assert_int_equal(pack_builder_take(&b, &t, &tlen, ht, NULL), -EINVAL); /* empty */
        for (i = 0; i < 5; i++)
                assert_int_equal(pack_builder_add(&b, PACK_KIND_BLOCK, blk, 40 + 50 * i, NULL), 0);
        assert_int_equal(pack_builder_finish(&b, &a, &alen, ha), 0);
        assert_int_equal(pack_builder_take(&b, &t, &tlen, ht, sha), 0);
        assert_int_equal(tlen, alen);
        assert_memory_equal(t, a, alen);
        assert_memory_equal(ht, ha, 32);
        sha256_hash(want, t, tlen); /* SHA, when asked for, is the bytes' SHA-256 */
        assert_memory_equal(sha, want, 32);
        assert_int_equal(pack_builder_count(&b), 0);
        /* Ready for the next pack. */
        free(t);
        t = NULL;
        assert_int_equal(pack_builder_add(&b, PACK_KIND_BLOCK, blk, 40, NULL), 0);
        assert_int_equal(pack_builder_take(&b, &t, &tlen, ht, NULL), 0);
        {
                struct pack_entry *e = NULL;
                size_t n = 0;

                assert_int_equal(pack_parse(t, tlen, &e, &n), 0);
                assert_int_equal(n, 1);
                free(e);
        }
        free(t);
        free(a);
        pack_builder_release(&b);
}

/* A hashed builder (issue #10) names the same pack, same entries, without its bytes, and
 * gives their SHA-256 (D8). */
static void test_pack_builder_hashed(void **state)
{
        struct pack_builder a, h;
        struct pack_entry ea, eh;
        static uint8_t blk[65536];
        uint8_t *bytes = NULL, *none = (uint8_t *)1, ha[32], hh[32], sa[32], sh[32];
        size_t i, round, alen = 0, hlen = 0;
        /* Records of 16 KiB and more hash on two threads (pack_builder_set_par). */
        struct par *pool = par_new(1);

        (void)state;
        for (i = 0; i < sizeof(blk); i++)
                blk[i] = (uint8_t)(i * 13 + 1);
        pack_builder_init(&a);
        pack_builder_init_hashed(&h);
        pack_builder_set_par(&h, pool);
        for (round = 0; round < 3; round++) { /* later packs: the builder was reset */
                if (round == 2)
                        pack_builder_set_par(&h, NULL); /* the same pack inline */
                for (i = 0; i < 7; i++) {
                        size_t len = i < 4 ? 40 + 411 * i + round : 16384 + 7000 * i - round;

                        assert_int_equal(pack_builder_add(&a, PACK_KIND_BLOCK, blk, len, &ea), 0);
                        assert_int_equal(pack_builder_add(&h, PACK_KIND_BLOCK, blk, len, &eh), 0);
                        assert_memory_equal(&ea, &eh, sizeof(ea));
                        assert_int_equal(pack_builder_size(&a), pack_builder_size(&h));
                }
                assert_int_equal(pack_builder_finish(&h, &bytes, &hlen, hh), -EINVAL);
                assert_int_equal(pack_builder_take(&a, &bytes, &alen, ha, sa), 0);
                assert_int_equal(pack_builder_take(&h, &none, &hlen, hh, sh), 0);
                assert_null(none);
                assert_int_equal(hlen, alen);
                assert_memory_equal(hh, ha, 32);
                assert_int_equal(pack_name(bytes, alen, ha), 0); /* the name of those bytes */
                assert_memory_equal(hh, ha, 32);
                sha256_hash(sa, bytes, alen); /* the running SHA-256 is the bytes' */
                assert_memory_equal(sh, sa, 32);
                free(bytes);
                bytes = NULL;
                none = (uint8_t *)1;
                assert_int_equal(pack_builder_count(&h), 0);
        }
        pack_builder_release(&a);
        pack_builder_release(&h);
        par_free(pool);
}

static void test_pack_hostile_trailer(void **state)
{
        uint8_t buf[8 + 5 + 40 + 45 + 4];
        struct pack_entry *e = NULL;
        size_t n = 0;

        (void)state;
        /* A huge count with a tiny pack is refused before any allocation. */
        memset(buf, 0, sizeof(buf));
        memcpy(buf, PACK_MAGIC, 8);
        memset(buf + sizeof(buf) - 4, 0xff, 4);
        assert_int_equal(pack_parse(buf, sizeof(buf), &e, &n), -EBADMSG);
        assert_int_equal(pack_parse_trailer(buf, sizeof(buf), sizeof(buf), &e, &n, NULL), -EBADMSG);
        memset(buf + sizeof(buf) - 4, 0, 4); /* zero records */
        assert_int_equal(pack_parse(buf, sizeof(buf), &e, &n), -EBADMSG);
        assert_int_equal(pack_parse(buf, 12, &e, &n), -EBADMSG);
        assert_int_equal(
            pack_parse_trailer(buf, sizeof(buf), (uint64_t)PACK_MAX_SIZE + 1, &e, &n, NULL),
            -EBADMSG);
        assert_null(e);
}

/* ---- journal ----------------------------------------------------------- */

struct jfix {
        uint8_t pk[32], sk[64];
        struct journal_entry e;
        struct journal_seen seen[2];
        struct journal_commit commits[2];
        struct journal_pack packs[2];
};

static void jfix_init(struct jfix *f)
{
        static const uint8_t seed[32] = {9};
        size_t i;

        memset(f, 0, sizeof(*f));
        assert_int_equal(sig_keypair_seed(f->pk, f->sk, seed), 0);
        f->e.version = JOURNAL_VERSION;
        memset(f->e.region_id, 0x11, 32);
        memset(f->e.device_id, 0x40, 16);
        f->e.seq = 7;
        memset(f->e.prev, 0x12, 32);
        memset(f->e.member_head, 0x13, 32);
        f->e.time_ms = 1700000000000ull;
        for (i = 0; i < 2; i++) {
                memset(f->seen[i].device_id, 0x30 + 0x20 * (int)i, 16); /* 0x30, 0x50 */
                f->seen[i].seq = 3 + i;
                memset(f->seen[i].hash, 0x60 + (int)i, 32);
                memset(f->commits[i].file_id, 0x70 + (int)i, 16);
                memset(f->commits[i].manifest_hash, 0x80 + (int)i, 32);
                memset(f->commits[i].pack_hash, 0x90, 32);
                f->commits[i].off = 13 + 1000 * i;
                f->commits[i].len = 700;
                memset(f->packs[i].hash, 0x90 + (int)i, 32);
                f->packs[i].size = 4000;
        }
        f->e.seen = f->seen;
        f->e.nseen = 2;
        f->e.commits = f->commits;
        f->e.ncommits = 2;
        f->e.packs = f->packs;
        f->e.npacks = 2;
}

static void jfix_encode(const struct jfix *f, uint8_t **out, size_t *len)
{
        uint8_t h[32], h2[32];

        assert_int_equal(journal_encode_sign(&f->e, f->sk, out, len, h), 0);
        hash_blake2b(h2, *out, *len);
        assert_memory_equal(h, h2, 32);
}

static void expect_journal_fails(const uint8_t *buf, size_t len)
{
        struct journal_entry e;

        memset(&e, 0xa5, sizeof(e));
        assert_int_equal(journal_decode(buf, len, &e), -EBADMSG);
        assert_int_equal(e.version, 0xa5);
}

static void test_journal_roundtrip(void **state)
{
        struct jfix f;
        struct journal_entry e;
        uint8_t *buf = NULL, *buf2 = NULL, *big, h[32];
        size_t len = 0, len2 = 0, i;

        (void)state;
        jfix_init(&f);
        jfix_encode(&f, &buf, &len);
        assert_int_equal(len, JOURNAL_FIXED_LEN + 2 * 56 + 2 * 92 + 2 * 40);
        assert_int_equal(journal_decode(buf, len, &e), 0);
        assert_int_equal(journal_verify_sig(buf, len, f.pk), 0);
        assert_int_equal(e.seq, 7);
        assert_int_equal(e.ncommits, 2);
        assert_int_equal(journal_encode_sign(&e, f.sk, &buf2, &len2, h), 0);
        assert_int_equal(len2, len);
        assert_memory_equal(buf2, buf, len);
        assert_memory_equal(h, e.hash, 32);
        journal_release(&e);
        journal_release(NULL);
        free(buf2);
        for (i = 0; i < len; i++)
                expect_journal_fails(buf, i);
        big = malloc(len + 1);
        assert_non_null(big);
        memcpy(big, buf, len);
        big[len] = 0;
        expect_journal_fails(big, len + 1);
        free(big);
        /* Every bit flip: the decoder or the signature catches it. */
        for (i = 0; i < len * 8; i++) {
                buf[i / 8] ^= (uint8_t)(1u << (i % 8));
                if (journal_decode(buf, len, &e) == 0) {
                        assert_int_equal(journal_verify_sig(buf, len, f.pk), -EBADMSG);
                        journal_release(&e);
                }
                buf[i / 8] ^= (uint8_t)(1u << (i % 8));
        }
        /* Signed as another type. */
        assert_int_equal(sig_sign(buf + len - 64, f.sk, "manifest", buf, len - 64), 0);
        assert_int_equal(journal_verify_sig(buf, len, f.pk), -EBADMSG);
        assert_int_equal(sig_sign(buf + len - 64, f.sk, "journal", buf, len - 64), 0);
        assert_int_equal(journal_verify_sig(buf, len, f.pk), 0);
        free(buf);
}

static void test_journal_rules(void **state)
{
        struct jfix f;
        uint8_t *out = NULL, *buf = NULL, *t, h[32];
        size_t len = 0, blen = 0;
        /* Offsets: header 129, seen at 133, commits count at 133+112=245. */
        const size_t seen_off = 133, commits_off = 249, packs_off = 249 + 2 * 92 + 4;

        (void)state;
#define JREFUSE(stmt)                                                                              \
        do {                                                                                       \
                jfix_init(&f);                                                                     \
                stmt;                                                                              \
                assert_int_equal(journal_encode_sign(&f.e, f.sk, &out, &len, h), -EINVAL);         \
                assert_null(out);                                                                  \
        } while (0)
        JREFUSE(f.e.version = 2);
        JREFUSE(f.e.seq = 0);
        JREFUSE(f.e.seq = 1);                           /* prev not zero */
        JREFUSE(memset(f.e.prev, 0, 32));               /* seq 7, zero prev */
        JREFUSE(memset(f.seen[1].device_id, 0x30, 16)); /* duplicate */
        JREFUSE(memset(f.seen[0].device_id, 0x60, 16)); /* unsorted */
        JREFUSE(memset(f.seen[0].device_id, 0x40, 16)); /* own device */
        JREFUSE(f.seen[0].seq = 0);
        JREFUSE(memset(f.commits[1].file_id, 0x70, 16)); /* one commit per file */
        JREFUSE(memset(f.commits[0].file_id, 0x72, 16)); /* unsorted */
        JREFUSE(memset(f.commits[0].file_id, 0, 16));
        JREFUSE(memset(f.commits[0].pack_hash, 0x99, 32)); /* pack not listed */
        JREFUSE(f.commits[0].off = 12);
        JREFUSE(f.commits[1].off = 4000 - 49 - 700 + 1); /* past the trailer */
        JREFUSE(f.commits[1].off = UINT64_MAX);
        JREFUSE(f.commits[0].len = MANIFEST_MIN_SIZE - 1);
        JREFUSE(memset(f.packs[1].hash, 0x90, 32)); /* duplicate pack */
        JREFUSE(memset(f.packs[0].hash, 0x92, 32)); /* unsorted (and commits' pack gone) */
        JREFUSE(f.packs[0].size = PACK_MIN_SIZE - 1);
        JREFUSE(f.packs[1].size = (uint64_t)PACK_MAX_SIZE + 1);
        JREFUSE(f.e.nseen = JOURNAL_MAX_SEEN + 1);
        JREFUSE(f.e.ncommits = JOURNAL_MAX_COMMITS + 1);
        JREFUSE(f.e.npacks = JOURNAL_MAX_PACKS + 1);
#undef JREFUSE
        /* Edge cases accepted: seq 1 with zero prev; an entry with no commits. */
        jfix_init(&f);
        f.e.seq = 1;
        memset(f.e.prev, 0, 32);
        f.e.ncommits = 0;
        f.e.npacks = 0;
        f.e.nseen = 0;
        assert_int_equal(journal_encode_sign(&f.e, f.sk, &out, &len, h), 0);
        assert_int_equal(len, JOURNAL_FIXED_LEN);
        free(out);
        out = NULL;
        jfix_init(&f);
        f.commits[1].off = 4000 - 49 - 700; /* exactly up to the trailer */
        assert_int_equal(journal_encode_sign(&f.e, f.sk, &out, &len, h), 0);
        free(out);
        out = NULL;

        /* The decoder, on bytes changed the same ways. */
        jfix_init(&f);
        jfix_encode(&f, &buf, &blen);
        t = malloc(blen);
        assert_non_null(t);
#define JMUTATE(stmt)                                                                              \
        do {                                                                                       \
                memcpy(t, buf, blen);                                                              \
                stmt;                                                                              \
                expect_journal_fails(t, blen);                                                     \
        } while (0)
        JMUTATE(t[0] = 0);
        JMUTATE(memset(t + 49, 0, 8));                        /* seq 0 */
        JMUTATE(memset(t + 57, 0, 32));                       /* zero prev */
        JMUTATE(memset(t + seen_off + 56, 0x30, 16));         /* seen dup */
        JMUTATE(memset(t + seen_off, 0x40, 16));              /* seen self */
        JMUTATE(memset(t + commits_off + 92, 0x70, 16));      /* commit dup */
        JMUTATE(memset(t + commits_off + 16 + 32, 0x99, 32)); /* pack unlisted */
        JMUTATE(memset(t + packs_off + 40, 0x90, 32));        /* pack dup */
        JMUTATE(memset(t + seen_off - 4, 0xff, 4));           /* seen count */
        JMUTATE(memset(t + commits_off - 4, 0xff, 4));        /* commit count */
        JMUTATE(t[packs_off - 1] = 3);                        /* pack count */
#undef JMUTATE
        free(t);
        free(buf);
}

static void test_journal_keys(void **state)
{
        static const char region[] =
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        uint8_t dev[16], hash[32], d2[16], h2[32], rid[32];
        char key[JOURNAL_KEY_SIZE], bad[JOURNAL_KEY_SIZE + 2];
        uint64_t seq = 0;
        size_t i;

        (void)state;
        memset(dev, 0xab, 16);
        memset(hash, 0xcd, 32);
        assert_int_equal(journal_object_key(region, dev, 0x1234, hash, key), 0);
        assert_int_equal(strlen(key), JOURNAL_KEY_LEN);
        assert_string_equal(key + 64,
                            "/journal/abababababababababababababababab/"
                            "0000000000001234-"
                            "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd");
        assert_int_equal(journal_parse_key(key, rid, d2, &seq, h2), 0);
        assert_int_equal(seq, 0x1234);
        assert_memory_equal(d2, dev, 16);
        assert_memory_equal(h2, hash, 32);
        assert_int_equal(rid[0], 0x00);
        assert_int_equal(rid[31], 0xff);
        assert_int_equal(journal_parse_key(key, NULL, d2, &seq, h2), 0);
        assert_int_equal(journal_object_key(region, dev, 0, hash, key), -EINVAL);
        assert_int_equal(journal_object_key("00", dev, 1, hash, key), -EINVAL);
        assert_int_equal(
            journal_object_key("00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff",
                               dev, 1, hash, key),
            -EINVAL);
        assert_int_equal(journal_object_key(region, dev, UINT64_MAX, hash, key), 0);
        assert_int_equal(journal_parse_key(key, NULL, d2, &seq, h2), 0);
        assert_int_equal(seq, UINT64_MAX);

        /* Every single-character change that leaves the alphabet or the layout. */
        for (i = 0; i < JOURNAL_KEY_LEN; i++) {
                const char subs[] = {'A', 'F', 'g', '/', '-', 'x', ' ', '.'};
                size_t k;

                for (k = 0; k < sizeof(subs); k++) {
                        snprintf(bad, sizeof(bad), "%s", key);
                        if (bad[i] == subs[k])
                                continue;
                        bad[i] = subs[k];
                        seq = 42;
                        assert_int_equal(journal_parse_key(bad, NULL, d2, &seq, h2), -EINVAL);
                        assert_int_equal(seq, 42); /* untouched */
                }
        }
        snprintf(bad, sizeof(bad), "%s0", key);
        assert_int_equal(journal_parse_key(bad, NULL, d2, &seq, h2), -EINVAL);
        snprintf(bad, sizeof(bad), "%s", key);
        bad[JOURNAL_KEY_LEN - 1] = '\0';
        assert_int_equal(journal_parse_key(bad, NULL, d2, &seq, h2), -EINVAL);
        /* seq 0 */
        assert_int_equal(journal_object_key(region, dev, 1, hash, key), 0);
        key[64 + 9 + 32 + 1 + 15] = '0';
        assert_int_equal(journal_parse_key(key, NULL, d2, &seq, h2), -EINVAL);
        assert_int_equal(journal_parse_key("", NULL, d2, &seq, h2), -EINVAL);
        assert_int_equal(journal_parse_key(NULL, NULL, d2, &seq, h2), -EINVAL);
}

/* ---- acknowledgements --------------------------------------------------- */

struct afix {
        uint8_t pk[32], sk[64];
        struct ack a;
        struct ack_mark marks[3];
};

static void afix_init(struct afix *f)
{
        static const uint8_t seed[32] = {11};
        size_t i;

        memset(f, 0, sizeof(*f));
        assert_int_equal(sig_keypair_seed(f->pk, f->sk, seed), 0);
        f->a.version = ACK_VERSION;
        memset(f->a.region_id, 0x11, 32);
        memset(f->a.device_id, 0x40, 16);
        f->a.counter = 5;
        f->a.time_s = 1795464062; /* 2026-11-23T20:01:02Z */
        for (i = 0; i < 3; i++) {
                /* 0x30, 0x40 (the author's own head), 0x50 */
                memset(f->marks[i].device_id, 0x30 + 0x10 * (int)i, 16);
                f->marks[i].seq = 10 + i;
                memset(f->marks[i].hash, 0x60 + (int)i, 32);
        }
        f->a.marks = f->marks;
        f->a.nmarks = 3;
}

static void afix_encode(const struct afix *f, uint8_t **out, size_t *len)
{
        assert_int_equal(ack_encode_sign(&f->a, f->sk, out, len), 0);
}

static void expect_ack_fails(const uint8_t *buf, size_t len)
{
        struct ack a;

        memset(&a, 0xa5, sizeof(a));
        assert_int_equal(ack_decode(buf, len, &a), -EBADMSG);
        assert_int_equal(a.version, 0xa5);
}

/* ack_open of BUF under F's region, author and key must fail and leave *OUT alone. */
static void expect_ack_open_fails(const struct afix *f, const uint8_t *buf, size_t len,
                                  const uint8_t *pk)
{
        struct ack a;

        memset(&a, 0xa5, sizeof(a));
        assert_int_equal(ack_open(buf, len, f->a.region_id, f->a.device_id, pk, &a), -EBADMSG);
        assert_int_equal(a.version, 0xa5);
}

static void test_ack_roundtrip(void **state)
{
        struct afix f;
        struct ack a;
        uint8_t *buf = NULL, *buf2 = NULL, *big, h[32], other_pk[32], other_sk[64], dev[16];
        static const uint8_t other_seed[32] = {12};
        size_t len = 0, len2 = 0, i;

        (void)state;
        afix_init(&f);
        afix_encode(&f, &buf, &len);
        assert_int_equal(len, ACK_FIXED_LEN + 3 * ACK_MARK_LEN);
        assert_int_equal(buf[0], 1);
        assert_int_equal(ack_open(buf, len, f.a.region_id, f.a.device_id, f.pk, &a), 0);
        assert_int_equal(a.counter, 5);
        assert_int_equal(a.time_s, 1795464062);
        assert_int_equal(a.nmarks, 3);
        assert_int_equal(a.marks[2].seq, 12);
        hash_blake2b(h, buf, len);
        assert_memory_equal(a.hash, h, 32);
        assert_memory_equal(a.sig, buf + len - 64, 64);
        assert_ptr_equal(ack_find(&a, f.marks[1].device_id), &a.marks[1]);
        memset(dev, 0x41, 16);
        assert_null(ack_find(&a, dev));
        assert_int_equal(ack_encode_sign(&a, f.sk, &buf2, &len2), 0);
        assert_int_equal(len2, len);
        assert_memory_equal(buf2, buf, len); /* deterministic, canonical */
        ack_release(&a);
        ack_release(NULL);
        free(buf2);

        /* Truncated and trailing bytes. */
        for (i = 0; i < len; i++)
                expect_ack_fails(buf, i);
        big = malloc(len + 1);
        assert_non_null(big);
        memcpy(big, buf, len);
        big[len] = 0;
        expect_ack_fails(big, len + 1);
        expect_ack_open_fails(&f, big, len + 1, f.pk);
        free(big);

        /* Every bit flip, in every field: ack_open rejects. */
        for (i = 0; i < len * 8; i++) {
                buf[i / 8] ^= (uint8_t)(1u << (i % 8));
                expect_ack_open_fails(&f, buf, len, f.pk);
                buf[i / 8] ^= (uint8_t)(1u << (i % 8));
        }

        /* Wrong signer: another device's key, or the right key over another region/author. */
        assert_int_equal(sig_keypair_seed(other_pk, other_sk, other_seed), 0);
        expect_ack_open_fails(&f, buf, len, other_pk);
        assert_int_equal(ack_verify_sig(buf, len, other_pk), -EBADMSG);
        memset(dev, 0x41, 16);
        assert_int_equal(ack_open(buf, len, f.a.region_id, dev, f.pk, &a), -EBADMSG);
        memset(h, 0x12, 32);
        assert_int_equal(ack_open(buf, len, h, f.a.device_id, f.pk, &a), -EBADMSG);
        /* Re-signed by the other key: decodes, but not under the author's pinned key. */
        assert_int_equal(ack_encode_sign(&f.a, other_sk, &buf2, &len2), 0);
        expect_ack_open_fails(&f, buf2, len2, f.pk);
        free(buf2);

        /* Signed as another type (domain separation). */
        assert_int_equal(sig_sign(buf + len - 64, f.sk, "journal", buf, len - 64), 0);
        assert_int_equal(ack_verify_sig(buf, len, f.pk), -EBADMSG);
        assert_int_equal(sig_sign(buf + len - 64, f.sk, "ack", buf, len - 64), 0);
        assert_int_equal(ack_verify_sig(buf, len, f.pk), 0);
        free(buf);
}

static void test_ack_rules(void **state)
{
        struct afix f;
        uint8_t *out = NULL, *buf = NULL, *t;
        size_t len = 0, blen = 0;
        /* Offsets: version 0, region 1, device 33, counter 49, time 57, count 65, marks 69. */
        const size_t marks_off = 69;

        (void)state;
#define AREFUSE(stmt)                                                                              \
        do {                                                                                       \
                afix_init(&f);                                                                     \
                stmt;                                                                              \
                assert_int_equal(ack_encode_sign(&f.a, f.sk, &out, &len), -EINVAL);                \
                assert_null(out);                                                                  \
        } while (0)
        AREFUSE(f.a.version = 2);
        AREFUSE(f.a.counter = 0);
        AREFUSE(memset(f.marks[1].device_id, 0x30, 16)); /* duplicate */
        AREFUSE(memset(f.marks[0].device_id, 0x45, 16)); /* unsorted */
        AREFUSE(f.marks[2].seq = 0);
        AREFUSE(f.a.nmarks = ACK_MAX_MARKS + 1);
        AREFUSE(f.a.marks = NULL);
#undef AREFUSE
        /* Edge cases accepted: no marks; time 0; the largest counter. */
        afix_init(&f);
        f.a.nmarks = 0;
        f.a.time_s = 0;
        f.a.counter = UINT64_MAX;
        assert_int_equal(ack_encode_sign(&f.a, f.sk, &out, &len), 0);
        assert_int_equal(len, ACK_FIXED_LEN);
        free(out);
        out = NULL;

        /* The decoder, on bytes changed the same ways (re-signed, so only structure fails). */
        afix_init(&f);
        afix_encode(&f, &buf, &blen);
        t = malloc(blen);
        assert_non_null(t);
#define AMUTATE(stmt)                                                                              \
        do {                                                                                       \
                memcpy(t, buf, blen);                                                              \
                stmt;                                                                              \
                assert_int_equal(sig_sign(t + blen - 64, f.sk, "ack", t, blen - 64), 0);           \
                expect_ack_fails(t, blen);                                                         \
                expect_ack_open_fails(&f, t, blen, f.pk);                                          \
        } while (0)
        AMUTATE(t[0] = 0);
        AMUTATE(t[0] = 2);
        AMUTATE(memset(t + 49, 0, 8));                      /* counter 0 */
        AMUTATE(memset(t + marks_off + 56, 0x30, 16));      /* duplicate */
        AMUTATE(memset(t + marks_off, 0x60, 16));           /* unsorted */
        AMUTATE(memset(t + marks_off + 2 * 56 + 16, 0, 8)); /* seq 0 */
        AMUTATE(memset(t + marks_off - 4, 0xff, 4));        /* count: huge */
        AMUTATE(t[marks_off - 1] = 2);                      /* count: too small */
        AMUTATE(t[marks_off - 1] = 4);                      /* count: too large */
#undef AMUTATE
        free(t);
        free(buf);
}

static void test_ack_keys(void **state)
{
        static const char region[] =
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        uint8_t dev[16], d2[16], rid[32];
        char key[ACK_KEY_SIZE], bad[ACK_KEY_SIZE + 2];
        size_t i;

        (void)state;
        memset(dev, 0xab, 16);
        assert_int_equal(ack_object_key(region, dev, key), 0);
        assert_int_equal(strlen(key), ACK_KEY_LEN);
        assert_string_equal(key + 64, "/ack/abababababababababababababababab");
        assert_int_equal(ack_parse_key(key, rid, d2), 0);
        assert_memory_equal(d2, dev, 16);
        assert_int_equal(rid[0], 0x00);
        assert_int_equal(rid[31], 0xff);
        assert_int_equal(ack_parse_key(key, NULL, d2), 0);
        assert_int_equal(ack_object_key(region, NULL, key), 0);
        assert_int_equal(strlen(key), ACK_PREFIX_LEN);
        assert_string_equal(key + 64, "/ack/");
        assert_int_equal(ack_object_key("00", dev, key), -EINVAL);
        assert_int_equal(
            ack_object_key("00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff", dev,
                           key),
            -EINVAL);
        assert_int_equal(ack_object_key(NULL, dev, key), -EINVAL);

        assert_int_equal(ack_object_key(region, dev, key), 0);
        for (i = 0; i < ACK_KEY_LEN; i++) {
                const char subs[] = {'A', 'F', 'g', '/', '-', 'x', ' ', '.'};
                size_t k;

                for (k = 0; k < sizeof(subs); k++) {
                        snprintf(bad, sizeof(bad), "%s", key);
                        if (bad[i] == subs[k])
                                continue;
                        bad[i] = subs[k];
                        memset(d2, 0x42, 16);
                        assert_int_equal(ack_parse_key(bad, NULL, d2), -EINVAL);
                        assert_int_equal(d2[0], 0x42); /* untouched */
                }
        }
        snprintf(bad, sizeof(bad), "%s0", key);
        assert_int_equal(ack_parse_key(bad, NULL, d2), -EINVAL);
        snprintf(bad, sizeof(bad), "%s", key);
        bad[ACK_KEY_LEN - 1] = '\0';
        assert_int_equal(ack_parse_key(bad, NULL, d2), -EINVAL);
        assert_int_equal(ack_parse_key("", NULL, d2), -EINVAL);
        assert_int_equal(ack_parse_key(NULL, NULL, d2), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_manifest_vectors),
            cmocka_unit_test(test_pack_vectors),
            cmocka_unit_test(test_journal_vectors),
            cmocka_unit_test(test_manifest_roundtrip),
            cmocka_unit_test(test_manifest_truncated_and_trailing),
            cmocka_unit_test(test_manifest_encoder_refuses),
            cmocka_unit_test(test_manifest_decoder_rejects),
            cmocka_unit_test(test_manifest_bitflips),
            cmocka_unit_test(test_manifest_wrong_sig_type),
            cmocka_unit_test(test_manifest_hostile_meta),
            cmocka_unit_test(test_manifest_meta_binding),
            cmocka_unit_test(test_manifest_special),
            cmocka_unit_test(test_manifest_bounds),
            cmocka_unit_test(test_vv_compare),
            cmocka_unit_test(test_vv_order_fork),
            cmocka_unit_test(test_name_rules),
            cmocka_unit_test(test_pack_roundtrip_and_tamper),
            cmocka_unit_test(test_pack_builder_limits),
            cmocka_unit_test(test_pack_builder_take),
            cmocka_unit_test(test_pack_builder_hashed),
            cmocka_unit_test(test_pack_hostile_trailer),
            cmocka_unit_test(test_journal_roundtrip),
            cmocka_unit_test(test_journal_rules),
            cmocka_unit_test(test_journal_keys),
            cmocka_unit_test(test_ack_roundtrip),
            cmocka_unit_test(test_ack_rules),
            cmocka_unit_test(test_ack_keys),
        };

        return cmocka_run_group_tests(tests, setup_sodium, NULL);
}
