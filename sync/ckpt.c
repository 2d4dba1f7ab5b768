/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The checkpoint engine: see ckpt.h and doc/SYNC.md "Checkpoints".
 *
 * Invariants:
 *   1. Bootstrap applies nothing unless the checkpoint, its vector against
 *      the journals, every bundle and every manifest passed their checks;
 *      marks move only after every manifest was applied (and entry_done).
 *   2. A mark never goes back (pull_mark_advance), and a checkpoint below
 *      any local mark or this device's own head is refused before that.
 *   3. Allocations from store bytes are bounded: the listing by
 *      PULL_PEERS_MAX authors, checkpoints by CHECKPOINT_MAX_SIZE, bundles by
 *      their signed sizes and CKPT_BUNDLES_MAX in all.
 *   4. The pack index may learn locations from a checkpoint that is then
 *      refused: harmless hints, every record is checked by hash when read.
 */
#include "sync/ckpt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/hash.h"
#include "keyring/member.h"
#include "sync/check.h"
#include "sync/pack.h"
#include "util/hex.h"
#include "util/log.h"

#define CKPT_LIST_STOP 1
#define CKPT_PACK_KEY_SIZE (64 + 3 + 64 + 1)
#define CKPT_AUTHOR_OFF 50         /* a manifest's author (doc/FORMAT-sync.md "Manifest") */
#define CKPT_SMALL_FILE (1u << 20) /* files up to this size are fetched at bootstrap */

static void ckpt_pack_key(const struct ckpt_ctx *x, const uint8_t hash[static 32],
                          char key[static CKPT_PACK_KEY_SIZE])
{
        char hex[65];

        hex_encode(hex, hash, 32);
        snprintf(key, CKPT_PACK_KEY_SIZE, "%s/p/%s", x->region_hex, hex);
}

static int ckpt_file_cmp(const void *a, const void *b)
{
        return memcmp(((const struct ckpt_file *)a)->file_id,
                      ((const struct ckpt_file *)b)->file_id, 16);
}

static int ckpt_pack_cmp(const void *a, const void *b)
{
        return memcmp(((const struct journal_pack *)a)->hash,
                      ((const struct journal_pack *)b)->hash, 32);
}

static int ckpt_mark_cmp(const void *a, const void *b)
{
        return memcmp(((const struct journal_seen *)a)->device_id,
                      ((const struct journal_seen *)b)->device_id, 16);
}

/* ==== writing ==== */

/* One current manifest being copied into a bundle. */
struct ckpt_man {
        uint8_t *bytes;
        uint32_t len;
        struct manifest m;
        int decoded;
};

/* Bundles under construction. */
struct ckpt_bundler {
        const struct ckpt_ctx *x;
        struct pack_builder pb;
        struct checkpoint_loc *locs;
        size_t nlocs, caplocs;
        struct journal_commit *files; /* the checkpoint's, in file-id order */
        size_t first;                 /* files[first..] are in the bundle being built */
        struct journal_pack *packs;
        size_t npacks, cappacks;
};

static void ckpt_mans_free(struct ckpt_man *mans, size_t n)
{
        size_t i;

        for (i = 0; mans != NULL && i < n; i++) {
                if (mans[i].decoded)
                        manifest_release(&mans[i].m);
                free(mans[i].bytes);
        }
        free(mans);
}

static int ckpt_choose(const struct ckpt_ctx *x, int self, struct checkpoint *best,
                       char best_key[static CHECKPOINT_KEY_SIZE]);

/*
 * The pack index learns where the newest verified checkpoint (any author,
 * ours included) holds its manifests, replacing older locations: gc keeps
 * that checkpoint's bundles, while the packs a manifest was first published
 * in may be gone (a rename's or a directory's pack holds no current block).
 * No checkpoint yet: nothing to do.
 */
static int ckpt_relocate(const struct ckpt_ctx *x)
{
        char key[CHECKPOINT_KEY_SIZE];
        struct checkpoint c;
        size_t i;
        int rc = ckpt_choose(x, 1, &c, key);

        if (rc != 0)
                return rc == -ENOENT ? 0 : rc;
        for (i = 0; i < c.nfiles && rc == 0; i++)
                rc = index_packidx_set(x->ix, c.files[i].manifest_hash, c.files[i].pack_hash,
                                       c.files[i].off, c.files[i].len);
        checkpoint_release(&c);
        return rc;
}

/* Fetches and decodes the manifests of FILES (N) into *OUT. */
static int ckpt_fetch(const struct ckpt_ctx *x, const struct ckpt_file *files, size_t n,
                      struct ckpt_man **out)
{
        struct ckpt_man *mans = calloc(n ? n : 1, sizeof(*mans));
        struct pull_want *w = calloc(n ? n : 1, sizeof(*w));
        size_t *caps = calloc(n ? n : 1, sizeof(*caps));
        uint64_t total = 0, off;
        uint8_t pack[32];
        size_t i;
        int rc = mans && w && caps ? 0 : -ENOMEM;

        for (i = 0; i < n && rc == 0; i++) {
                rc = index_packidx_get(x->ix, files[i].manifest_hash, pack, &off, &mans[i].len);
                if (rc == -ENOENT)
                        log_warn("checkpoint: a current manifest's location is unknown here "
                                 "(published before this device indexed its own packs)");
                total += mans[i].len;
                if (rc == 0 && total > CKPT_BUNDLES_MAX)
                        rc = -EFBIG;
                if (rc == 0 && (mans[i].bytes = malloc(mans[i].len)) == NULL)
                        rc = -ENOMEM;
                if (rc == 0) {
                        memcpy(w[i].hash, files[i].manifest_hash, 32);
                        w[i].out = mans[i].bytes;
                        caps[i] = mans[i].len;
                }
        }
        if (rc == 0)
                rc = pull_fetch_manifests(x->pull, w, n, caps);
        for (i = 0; i < n && rc == 0; i++) {
                rc = manifest_decode(mans[i].bytes, mans[i].len, &mans[i].m);
                mans[i].decoded = rc == 0;
        }
        free(w);
        free(caps);
        if (rc != 0) {
                ckpt_mans_free(mans, n);
                return rc;
        }
        *out = mans;
        return 0;
}

/* Adds the locations of M's blocks (from the pack index) to the bundle's list. */
static int ckpt_add_locs(struct ckpt_bundler *b, const struct manifest *m)
{
        size_t i;
        int rc = 0;

        if (b->nlocs + m->nrefs > b->caplocs) {
                size_t cap = b->caplocs ? b->caplocs : 256;
                struct checkpoint_loc *l;

                while (cap < b->nlocs + m->nrefs)
                        cap *= 2;
                l = realloc(b->locs, cap * sizeof(*l));
                if (l == NULL)
                        return -ENOMEM;
                b->locs = l;
                b->caplocs = cap;
        }
        for (i = 0; i < m->nrefs && rc == 0; i++) {
                struct checkpoint_loc *l = &b->locs[b->nlocs];

                memcpy(l->hash, m->refs[i].hash, 32);
                rc = index_packidx_get(b->x->ix, l->hash, l->pack, &l->off, &l->len);
                if (rc == 0)
                        b->nlocs++;
                else if (rc == -ENOENT)
                        log_warn("checkpoint: a current block's location is unknown here");
        }
        return rc;
}

/* Sorts the bundle's locations, drops repeats, and adds them as location records. */
static int ckpt_flush_locs(struct ckpt_bundler *b)
{
        size_t i, k = 0, at;
        int rc = 0;

        qsort(b->locs, b->nlocs, sizeof(*b->locs), checkpoint_loc_cmp);
        for (i = 0; i < b->nlocs; i++)
                if (k == 0 || checkpoint_loc_cmp(&b->locs[k - 1], &b->locs[i]) != 0)
                        b->locs[k++] = b->locs[i];
        for (at = 0; at < k && rc == 0; at += CHECKPOINT_LOCS_MAX) {
                size_t cnt = k - at < CHECKPOINT_LOCS_MAX ? k - at : CHECKPOINT_LOCS_MAX;
                uint8_t *rec = NULL;
                size_t len = 0;

                rc = checkpoint_locs_encode(b->locs + at, cnt, &rec, &len);
                if (rc == 0)
                        rc = pack_builder_add(&b->pb, PACK_KIND_LOCS, rec, len, NULL);
                free(rec);
        }
        b->nlocs = 0;
        return rc;
}

/* Finishes the bundle being built, PUTs it, and names it in its files. */
static int ckpt_flush(struct ckpt_bundler *b, size_t end)
{
        char key[CKPT_PACK_KEY_SIZE];
        uint8_t *bytes = NULL, hash[32];
        size_t len = 0, i;
        int rc;

        if (pack_builder_count(&b->pb) == 0)
                return 0;
        if (b->npacks == b->cappacks) {
                size_t cap = b->cappacks ? 2 * b->cappacks : 8;
                struct journal_pack *np = realloc(b->packs, cap * sizeof(*np));

                if (np == NULL)
                        return -ENOMEM;
                b->packs = np;
                b->cappacks = cap;
        }
        rc = ckpt_flush_locs(b);
        if (rc == 0)
                rc = pack_builder_finish(&b->pb, &bytes, &len, hash);
        if (rc != 0)
                return rc;
        ckpt_pack_key(b->x, hash, key);
        rc = store_put_once(b->x->store, key, bytes, len);
        free(bytes);
        if (rc != 0) {
                log_err("checkpoint: cannot upload a bundle: %s", strerror(-rc));
                return rc;
        }
        memcpy(b->packs[b->npacks].hash, hash, 32);
        b->packs[b->npacks++].size = len;
        for (i = b->first; i < end; i++)
                memcpy(b->files[i].pack_hash, hash, 32);
        b->first = end;
        pack_builder_release(&b->pb);
        pack_builder_init(&b->pb);
        return 0;
}

/* Copies manifest I (MAN) of file F into the bundle, closing bundles as they fill. */
static int ckpt_bundle_add(struct ckpt_bundler *b, size_t i, const struct ckpt_file *f,
                           const struct ckpt_man *man)
{
        struct journal_commit *c = &b->files[i];
        struct pack_entry pe;
        int rc;

        if (pack_builder_size(&b->pb) + b->nlocs * 44u >= CKPT_BUNDLE_TARGET) {
                rc = ckpt_flush(b, i);
                if (rc != 0)
                        return rc;
        }
        rc = pack_builder_add(&b->pb, PACK_KIND_MANIFEST, man->bytes, man->len, &pe);
        if (rc != 0)
                return rc;
        memcpy(c->file_id, f->file_id, 16);
        memcpy(c->manifest_hash, pe.hash, 32);
        c->off = pe.off;
        c->len = pe.len;
        return ckpt_add_locs(b, &man->m);
}

int ckpt_vector(const struct ckpt_ctx *x, struct journal_seen **out, size_t *n)
{
        size_t i, k = 0, np = pull_peer_count(x->pull);
        struct journal_seen *v = calloc(np + 1, sizeof(*v));
        struct pull_peer_info pi;
        struct pull_peer peer;
        int rc = 0;

        if (v == NULL)
                return -ENOMEM;
        for (i = 0; i < np && rc == 0; i++) {
                rc = pull_peer_get(x->pull, i, &pi);
                if (rc == 0 && pi.have && pull_peer_lookup(x->pull, pi.device_id, &peer) == 0 &&
                    ((peer.removed && pi.seq > peer.cutoff_seq) ||
                     (peer.standing.cut && pi.seq > peer.standing.cut_seq) ||
                     pull_peer_undo_pending(x->pull, pi.device_id)))
                        rc = -EBUSY; /* invariants C3, R5: entries past a cutoff wait */
                if (rc == 0 && pi.have) {
                        memcpy(v[k].device_id, pi.device_id, 16);
                        v[k].seq = pi.seq;
                        memcpy(v[k++].hash, pi.hash, 32);
                }
        }
        if (x->own_seq > 0) {
                memcpy(v[k].device_id, x->self_id, 16);
                v[k].seq = x->own_seq;
                memcpy(v[k++].hash, x->own_head, 32);
        }
        if (rc != 0) {
                free(v);
                return rc;
        }
        qsort(v, k, sizeof(*v), ckpt_mark_cmp);
        *out = v;
        *n = k;
        return 0;
}

/* Signs checkpoint C and PUTs it. */
static int ckpt_publish(const struct ckpt_ctx *x, const uint8_t sign_sk[static 64],
                        const struct checkpoint *c, char *key_out)
{
        char key[CHECKPOINT_KEY_SIZE];
        uint8_t *bytes = NULL, hash[32];
        size_t len = 0;
        int rc = checkpoint_encode_sign(c, sign_sk, &bytes, &len, hash);

        if (rc == 0)
                rc = checkpoint_object_key(x->region_hex, x->self_id, c->seq, hash, key);
        if (rc == 0)
                rc = store_put_once(x->store, key, bytes, len);
        free(bytes);
        if (rc != 0) {
                log_err("checkpoint: cannot publish checkpoint %" PRIu64 ": %s", c->seq,
                        strerror(-rc));
                return rc;
        }
        log_info("checkpoint %" PRIu64 " published: %zu file(s), %zu bundle(s), %zu mark(s)",
                 c->seq, c->nfiles, c->npacks, c->nmarks);
        if (key_out != NULL)
                memcpy(key_out, key, sizeof(key));
        return 0;
}

int ckpt_write(const struct ckpt_ctx *x, const uint8_t sign_sk[static 64],
               const uint8_t member_head[static 32], const struct journal_seen *marks,
               size_t nmarks, struct ckpt_file *files, size_t n, uint64_t seq, char *key)
{
        struct ckpt_bundler b;
        struct ckpt_man *mans = NULL;
        struct checkpoint c;
        struct timespec now;
        size_t i;
        int rc;

        memset(&b, 0, sizeof(b));
        memset(&c, 0, sizeof(c));
        b.x = x;
        pack_builder_init(&b.pb);
        qsort(files, n, sizeof(*files), ckpt_file_cmp);
        b.files = calloc(n ? n : 1, sizeof(*b.files));
        rc = b.files != NULL ? ckpt_relocate(x) : -ENOMEM;
        if (rc == 0)
                rc = ckpt_fetch(x, files, n, &mans);
        for (i = 0; i < n && rc == 0; i++)
                rc = ckpt_bundle_add(&b, i, &files[i], &mans[i]);
        if (rc == 0)
                rc = ckpt_flush(&b, n);
        if (rc == 0) {
                qsort(b.packs, b.npacks, sizeof(*b.packs), ckpt_pack_cmp);
                clock_gettime(CLOCK_REALTIME, &now);
                c.version = CHECKPOINT_VERSION;
                memcpy(c.region_id, x->region_id, 32);
                memcpy(c.device_id, x->self_id, 16);
                c.seq = seq;
                memcpy(c.member_head, member_head, 32);
                c.time_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
                c.marks = (struct journal_seen *)marks; /* not written to */
                c.nmarks = nmarks;
                c.files = b.files;
                c.nfiles = n;
                c.packs = b.packs;
                c.npacks = b.npacks;
                rc = ckpt_publish(x, sign_sk, &c, key);
        }
        ckpt_mans_free(mans, n);
        pack_builder_release(&b.pb);
        free(b.locs);
        free(b.files);
        free(b.packs);
        return rc;
}

/* ==== bootstrap ==== */

/* A checkpoint on the store: its author's newest. */
struct ckpt_cand {
        uint8_t device_id[16];
        uint64_t seq;
        uint8_t hash[32];
};

struct ckpt_listing {
        const struct ckpt_ctx *x;
        struct ckpt_cand *c;
        size_t n;
        int self; /* this device's own checkpoints count too (the writer's relocation) */
};

static int ckpt_list_cb(void *arg, const char *key, uint64_t size)
{
        struct ckpt_listing *l = arg;
        struct ckpt_cand k;
        uint8_t rid[32];
        size_t i;

        (void)size;
        if (checkpoint_parse_key(key, rid, k.device_id, &k.seq, k.hash) != 0 ||
            memcmp(rid, l->x->region_id, 32) != 0 ||
            (!l->self && memcmp(k.device_id, l->x->self_id, 16) == 0))
                return 0; /* junk, or ours: skipped */
        for (i = 0; i < l->n; i++)
                if (memcmp(l->c[i].device_id, k.device_id, 16) == 0)
                        break;
        if (i == l->n) {
                if (l->n == PULL_PEERS_MAX)
                        return 0; /* more authors than peers: junk */
                l->n++;
        } else if (l->c[i].seq >= k.seq) {
                return 0;
        }
        l->c[i] = k;
        return 0;
}

/* Raises alarm KIND about AUTHOR's checkpoint KEY; -EBADMSG (the checkpoint is refused). */
static int ckpt_alarm(const struct ckpt_ctx *x, const uint8_t author[static 16],
                      enum pull_ack_alarm kind, uint64_t seq, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static int ckpt_alarm(const struct ckpt_ctx *x, const uint8_t author[static 16],
                      enum pull_ack_alarm kind, uint64_t seq, const char *key, const char *fmt, ...)
{
        char text[400];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
        if (pull_ack_alarm(x->pull, author, kind, seq, key, text) != 0)
                log_warn("checkpoint %s refused: %s", key, text);
        return -EBADMSG;
}

/* GETs and opens candidate K (author a writer or admin, member head known) into *C. */
static int ckpt_load(const struct ckpt_ctx *x, const struct ckpt_cand *k, struct checkpoint *c,
                     char key[static CHECKPOINT_KEY_SIZE])
{
        struct pull_peer peer;
        const char *why = NULL;
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc = checkpoint_object_key(x->region_hex, k->device_id, k->seq, k->hash, key);

        if (rc != 0)
                return rc;
        if (memcmp(k->device_id, x->self_id, 16) == 0) {
                memset(&peer, 0, sizeof(peer)); /* our own: we write only when we may */
                peer.role = MEMBER_ROLE_WRITER;
                memcpy(peer.sign_pk, x->self_pk, 32);
        } else if (pull_peer_lookup(x->pull, k->device_id, &peer) != 0) {
                log_warn("checkpoint %s: its author is not a member known here; skipped", key);
                return -EBADMSG;
        }
        if (peer.role != MEMBER_ROLE_WRITER && peer.role != MEMBER_ROLE_ADMIN)
                return ckpt_alarm(x, k->device_id, PULL_ALARM_BAD_CHECKPOINT, k->seq, key,
                                  "signed by a device that is not a writer or admin (role %u)",
                                  peer.role);
        if (peer.removed)
                return ckpt_alarm(x, k->device_id, PULL_ALARM_BAD_CHECKPOINT, k->seq, key,
                                  "signed by a removed device");
        rc = x->store->ops->get(x->store, key, CHECKPOINT_MAX_SIZE, &buf, &len);
        if (rc == -ENOENT || rc == -EFBIG)
                return ckpt_alarm(x, k->device_id, PULL_ALARM_BAD_CHECKPOINT, k->seq, key,
                                  "listed but not readable (%s)", strerror(-rc));
        if (rc != 0)
                return rc;
        rc = checkpoint_open(buf, len, k->hash, x->region_id, k->device_id, k->seq, peer.sign_pk, c,
                             &why);
        free(buf);
        if (rc == -EBADMSG)
                return ckpt_alarm(x, k->device_id, PULL_ALARM_BAD_CHECKPOINT, k->seq, key, "%s",
                                  why);
        if (rc == 0 && x->ops->member_known != NULL &&
            !x->ops->member_known(x->arg, c->member_head)) {
                checkpoint_release(c);
                return ckpt_alarm(x, k->device_id, PULL_ALARM_BAD_CHECKPOINT, k->seq, key,
                                  "it names a membership entry this device cannot see");
        }
        return rc;
}

/* C's mark for DEV against a local (SEQ, HASH): 0, or the alarm's -EBADMSG. */
static int ckpt_judge_one(const struct ckpt_ctx *x, const struct checkpoint *c, const char *key,
                          const uint8_t dev[static 16], uint64_t seq, const uint8_t hash[32],
                          int own)
{
        const struct journal_seen *m = checkpoint_mark(c, dev);
        char hex[33];

        hex_encode(hex, dev, 16);
        if (seq == 0 && (m == NULL || !own))
                return 0;
        if (m == NULL || m->seq < seq)
                return ckpt_alarm(x, c->device_id, PULL_ALARM_BAD_CHECKPOINT, c->seq, key,
                                  "stale: below this device's mark of device %s (seq %" PRIu64
                                  " < %" PRIu64 ")",
                                  hex, m != NULL ? m->seq : 0, seq);
        if (own && m->seq > seq)
                return ckpt_alarm(x, c->device_id, PULL_ALARM_CHECKPOINT_FORK, c->seq, key,
                                  "it names entries of this device's journal it never wrote");
        if (m->seq == seq && memcmp(m->hash, hash, 32) != 0)
                return ckpt_alarm(x, c->device_id, PULL_ALARM_CHECKPOINT_FORK, c->seq, key,
                                  "it names another entry at seq %" PRIu64 " of device %s", seq,
                                  hex);
        return 0;
}

/*
 * Invariants C3 and R5 (doc/SYNC.md): 1 if mark M of PEER names an entry
 * past its removal's or open demotion's cutoff (or another entry at the
 * cutoff's seq).
 */
static int ckpt_past_cutoff(const struct journal_seen *m, const struct pull_peer *peer)
{
        const struct members_standing *st = &peer->standing;

        if (st->cut && (m->seq > st->cut_seq ||
                        (m->seq == st->cut_seq && memcmp(m->hash, st->cut_hash, 32) != 0)))
                return 1; /* invariant R5: past an open demotion cutoff */
        if (!peer->removed)
                return 0;
        return m->seq > peer->cutoff_seq ||
               (m->seq == peer->cutoff_seq && memcmp(m->hash, peer->cutoff_hash, 32) != 0);
}

/*
 * Invariants C3 and C9: mark M of C against the chain its device's cutoff
 * names (pull_named_chain_at, fetched and checked as for a fork).  At or
 * below the cutoff's seq M must name the entry of that chain: another entry
 * is the other branch of a forked journal, and a chain the store does not
 * show (or deeper than the puller keeps) decides nothing, so C is refused
 * (fail closed).  Returns 0 (on the chain, or no cutoff decides M), the
 * alarm's -EBADMSG, or a transient error (-ENOMEM, the store's).
 */
static int ckpt_judge_chain(const struct ckpt_ctx *x, const struct checkpoint *c, const char *key,
                            const struct journal_seen *m)
{
        uint8_t named[32];
        char hex[33];
        int rc = pull_named_chain_at(x->pull, m->device_id, m->seq, named);

        hex_encode(hex, m->device_id, 16);
        if (rc == 1 && memcmp(named, m->hash, 32) != 0)
                return ckpt_alarm(x, c->device_id, PULL_ALARM_BAD_CHECKPOINT, c->seq, key,
                                  "past-cutoff: its vector names entry %" PRIu64 " of device %s, "
                                  "which is off the chain its cutoff names (a forked journal)",
                                  m->seq, hex);
        if (rc == -EAGAIN || rc == -E2BIG || rc == -ENOENT)
                return ckpt_alarm(x, c->device_id, PULL_ALARM_BAD_CHECKPOINT, c->seq, key,
                                  "past-cutoff: the chain the cutoff of device %s names cannot "
                                  "be followed down to its mark (seq %" PRIu64 "): %s",
                                  hex, m->seq, strerror(-rc));
        return rc < 0 ? rc : 0;
}

/* Invariants C3, C9, R5: mark M of C against its device's standing here. */
static int ckpt_judge_mark(const struct ckpt_ctx *x, const struct checkpoint *c, const char *key,
                           const struct journal_seen *m)
{
        struct pull_peer peer;

        if (pull_peer_lookup(x->pull, m->device_id, &peer) != 0)
                return ckpt_alarm(x, c->device_id, PULL_ALARM_BAD_CHECKPOINT, c->seq, key,
                                  "its vector names a device this device does not know");
        if (ckpt_past_cutoff(m, &peer))
                return ckpt_alarm(x, c->device_id, PULL_ALARM_BAD_CHECKPOINT, c->seq, key,
                                  "past-cutoff: its vector carries entries of removed "
                                  "device %02x%02x%02x%02x past the removal's cutoff "
                                  "(seq %" PRIu64 " > %" PRIu64 ")",
                                  peer.device_id[0], peer.device_id[1], peer.device_id[2],
                                  peer.device_id[3], m->seq, peer.cutoff_seq);
        return ckpt_judge_chain(x, c, key, m);
}

/* Invariant 2: C against every local mark, our own head, and the peers it names. */
static int ckpt_judge(const struct ckpt_ctx *x, const struct checkpoint *c, const char *key)
{
        struct pull_peer_info pi;
        size_t i, n = pull_peer_count(x->pull);
        int rc = ckpt_judge_one(x, c, key, x->self_id, x->own_seq, x->own_head, 1);

        for (i = 0; i < n && rc == 0; i++) {
                rc = pull_peer_get(x->pull, i, &pi);
                if (rc == 0 && pi.have)
                        rc = ckpt_judge_one(x, c, key, pi.device_id, pi.seq, pi.hash, 0);
        }
        for (i = 0; i < c->nmarks && rc == 0; i++)
                if (memcmp(c->marks[i].device_id, x->self_id, 16) != 0)
                        rc = ckpt_judge_mark(x, c, key, &c->marks[i]);
        return rc;
}

static uint64_t ckpt_entries(const struct checkpoint *c)
{
        uint64_t s = 0;
        size_t i;

        for (i = 0; i < c->nmarks; i++)
                s += c->marks[i].seq;
        return s;
}

/*
 * Steps 1-2: the acceptable checkpoint with the most entries into *BEST
 * (-ENOENT: none).  With SELF, this device's own count too, and none is
 * judged against the local marks (the writer's use: any verified one).
 */
static int ckpt_choose(const struct ckpt_ctx *x, int self, struct checkpoint *best,
                       char best_key[static CHECKPOINT_KEY_SIZE])
{
        struct ckpt_listing l = {x, NULL, 0, self};
        char prefix[64 + 4 + 1], key[CHECKPOINT_KEY_SIZE];
        struct checkpoint c;
        uint64_t best_n = 0;
        size_t i;
        int rc, have = 0;

        l.c = calloc(PULL_PEERS_MAX, sizeof(*l.c));
        if (l.c == NULL)
                return -ENOMEM;
        snprintf(prefix, sizeof(prefix), "%s/c/", x->region_hex);
        rc = x->store->ops->list(x->store, prefix, NULL, ckpt_list_cb, &l);
        for (i = 0; i < l.n && rc == 0; i++) {
                rc = ckpt_load(x, &l.c[i], &c, key);
                if (rc != 0) {
                        rc = rc == -EBADMSG ? 0 : rc; /* refused (an alarm), or transient */
                        continue;
                }
                rc = self ? 0 : ckpt_judge(x, &c, key);
                if (rc != 0) {
                        checkpoint_release(&c);
                        rc = rc == -EBADMSG ? 0 : rc;
                        continue;
                }
                if (!have || ckpt_entries(&c) > best_n) {
                        if (have)
                                checkpoint_release(best);
                        *best = c;
                        best_n = ckpt_entries(&c);
                        memcpy(best_key, key, sizeof(key));
                        have = 1;
                } else {
                        checkpoint_release(&c);
                }
        }
        free(l.c);
        if (rc != 0 && have)
                checkpoint_release(best);
        return rc != 0 ? rc : have ? 0 : -ENOENT;
}

/* Step 3 for one mark: the keys listed at its seq (the listing stops after them). */
struct ckpt_agree {
        const struct ckpt_ctx *x;
        const struct journal_seen *m;
        int found; /* the mark's entry is listed */
        int other; /* another entry at its seq is listed too (a forked journal) */
};

static int ckpt_agree_cb(void *arg, const char *key, uint64_t size)
{
        struct ckpt_agree *a = arg;
        uint8_t rid[32], dev[16], hash[32];
        uint64_t seq = 0;

        (void)size;
        if (journal_parse_key(key, rid, dev, &seq, hash) != 0 ||
            memcmp(dev, a->m->device_id, 16) != 0)
                return 0; /* junk: pull.c names it */
        if (seq < a->m->seq)
                return 0;
        if (seq > a->m->seq)
                return CKPT_LIST_STOP;
        if (memcmp(hash, a->m->hash, 32) == 0)
                a->found = 1;
        else
                a->other = 1;
        return 0;
}

/*
 * Invariant C9: 1 if the chain a cutoff of M's device names has M's entry
 * at M's seq (the fork there is decided: M is on the named branch), else 0;
 * or -ENOMEM.  ckpt_judge_chain fetched that chain already.
 */
static int ckpt_agree_named(const struct ckpt_ctx *x, const struct journal_seen *m)
{
        uint8_t named[32];
        int rc = pull_named_chain_at(x->pull, m->device_id, m->seq, named);

        if (rc == -ENOMEM)
                return rc;
        return rc == 1 && memcmp(named, m->hash, 32) == 0;
}

/*
 * Step 3 for mark M of C: its entry is on the store; another entry at its
 * seq is a fork (checkpoint-fork) unless a cutoff's named chain decides it
 * for M (C9).  0, the alarm's -EBADMSG, or the store's error.
 */
static int ckpt_agree_one(const struct ckpt_ctx *x, const struct checkpoint *c, const char *key,
                          const struct journal_seen *m)
{
        char prefix[64 + 9 + 32 + 2], after[sizeof(prefix) + 16], dev[33];
        struct ckpt_agree a = {x, m, 0, 0};
        int rc;

        hex_encode(dev, m->device_id, 16);
        snprintf(prefix, sizeof(prefix), "%s/journal/%s/", x->region_hex, dev);
        snprintf(after, sizeof(after), "%s%016" PRIx64, prefix, m->seq);
        rc = x->store->ops->list(x->store, prefix, after, ckpt_agree_cb, &a);
        if (rc == CKPT_LIST_STOP)
                rc = 0;
        if (rc == 0 && a.found && a.other)
                rc = ckpt_agree_named(x, m);
        if (rc < 0)
                return rc;
        if (a.other && rc != 1)
                return ckpt_alarm(x, c->device_id, PULL_ALARM_CHECKPOINT_FORK, c->seq, key,
                                  "its vector names entry %" PRIu64 " of device %s, and the "
                                  "journal has another entry at that seq",
                                  m->seq, dev);
        if (!a.found)
                return ckpt_alarm(x, c->device_id, PULL_ALARM_BAD_CHECKPOINT, c->seq, key,
                                  "its vector names entry %" PRIu64 " of device %s, which "
                                  "the store does not show",
                                  m->seq, dev);
        return 0;
}

static int ckpt_agree(const struct ckpt_ctx *x, const struct checkpoint *c, const char *key)
{
        size_t i;
        int rc = 0;

        for (i = 0; i < c->nmarks && rc == 0; i++)
                if (memcmp(c->marks[i].device_id, x->self_id, 16) != 0) /* ours: its head */
                        rc = ckpt_agree_one(x, c, key, &c->marks[i]);
        return rc;
}

/* The bundles of a checkpoint, in memory. */
struct ckpt_bundles {
        uint8_t **bytes; /* per pack of the checkpoint */
        size_t n;
};

static void ckpt_bundles_free(struct ckpt_bundles *b)
{
        size_t i;

        for (i = 0; b->bytes != NULL && i < b->n; i++)
                free(b->bytes[i]);
        free(b->bytes);
        memset(b, 0, sizeof(*b));
}

/* The pack index learns bundle PACK's records and its location records (invariant 4). */
static int ckpt_index_bundle(const struct ckpt_ctx *x, const uint8_t pack[static 32],
                             const uint8_t *buf, const struct pack_entry *ents, size_t n)
{
        struct checkpoint_loc *l = NULL;
        size_t i, j, nl = 0;
        int rc = 0;

        for (i = 0; i < n && rc == 0; i++) {
                if (ents[i].kind == PACK_KIND_MANIFEST) {
                        rc = index_packidx_put(x->ix, ents[i].hash, pack, ents[i].off, ents[i].len);
                        continue;
                }
                if (ents[i].kind != PACK_KIND_LOCS)
                        continue;
                rc = checkpoint_locs_decode(buf + ents[i].off, ents[i].len, &l, &nl);
                for (j = 0; j < nl && rc == 0; j++)
                        rc = index_packidx_put(x->ix, l[j].hash, l[j].pack, l[j].off, l[j].len);
                free(l);
                l = NULL;
        }
        return rc;
}

/* Step 4: GETs, checks and indexes every bundle of C; every file names a manifest record. */
static int ckpt_bundles_get(const struct ckpt_ctx *x, const struct checkpoint *c, const char *ckey,
                            struct ckpt_bundles *b)
{
        struct journal_entry view;
        const struct journal_commit **by_pack = NULL;
        char key[CKPT_PACK_KEY_SIZE];
        uint64_t total = 0;
        size_t i, cur = 0;
        int rc = 0;

        memset(&view, 0, sizeof(view));
        view.commits = c->files; /* the checks of an entry's commits apply as they are */
        view.ncommits = c->nfiles;
        view.packs = c->packs;
        view.npacks = c->npacks;
        for (i = 0; i < c->npacks; i++)
                total += c->packs[i].size;
        if (total > CKPT_BUNDLES_MAX)
                return ckpt_alarm(x, c->device_id, PULL_ALARM_BAD_CHECKPOINT, c->seq, ckey,
                                  "its bundles are larger than a bootstrap holds");
        b->bytes = calloc(c->npacks ? c->npacks : 1, sizeof(*b->bytes));
        b->n = c->npacks;
        if (b->bytes == NULL || check_commits_by_pack(&view, &by_pack) != 0)
                rc = -ENOMEM;
        for (i = 0; i < c->npacks && rc == 0; i++) {
                struct pack_entry *ents = NULL;
                const char *why = NULL;
                size_t len = 0, ne = 0;

                ckpt_pack_key(x, c->packs[i].hash, key);
                rc = x->store->ops->get(x->store, key, c->packs[i].size, &b->bytes[i], &len);
                if (rc == -ENOENT || rc == -EFBIG)
                        rc = ckpt_alarm(x, c->device_id, PULL_ALARM_BAD_CHECKPOINT, c->seq, ckey,
                                        "a bundle is missing or too large (%s)", key);
                if (rc == 0)
                        rc = check_pack(b->bytes[i], len, &c->packs[i], &ents, &ne, &why);
                if (rc == 0)
                        rc = check_pack_commits(&view, by_pack, &cur, c->packs[i].hash, ents, ne,
                                                &why);
                if (rc == 0)
                        rc = ckpt_index_bundle(x, c->packs[i].hash, b->bytes[i], ents, ne);
                if (rc == -EBADMSG && why != NULL)
                        rc = ckpt_alarm(x, c->device_id, PULL_ALARM_BAD_CHECKPOINT, c->seq, ckey,
                                        "bundle %s: %s", key, why);
                free(ents);
        }
        free(by_pack);
        return rc;
}

/* A verified manifest of the checkpoint, ready to apply. */
struct ckpt_item {
        struct manifest m;
        struct manifest_meta meta;
        int ok, applied;
};

static void ckpt_items_free(struct ckpt_item *it, size_t n)
{
        size_t i;

        for (i = 0; it != NULL && i < n; i++) {
                if (!it[i].ok)
                        continue;
                manifest_meta_release(&it[i].meta);
                manifest_release(&it[i].m);
        }
        free(it);
}

/* The signing key of AUTHOR of a manifest in a checkpoint: ourselves or a peer that may write. */
static int ckpt_author_key(const struct ckpt_ctx *x, const uint8_t author[static 16],
                           uint8_t pk[static 32])
{
        struct pull_peer peer;

        if (memcmp(author, x->self_id, 16) == 0) {
                memcpy(pk, x->self_pk, 32);
                return 0;
        }
        if (pull_peer_lookup(x->pull, author, &peer) != 0)
                return -ENOENT;
        /* A removed writer's last versions stay current until rewritten (doc/SYNC.md). */
        if (!peer.removed && peer.role != MEMBER_ROLE_WRITER && peer.role != MEMBER_ROLE_ADMIN)
                return -EPERM;
        memcpy(pk, peer.sign_pk, 32);
        return 0;
}

/* Step 5 for file entry F (its bytes in BUNDLE): into *IT. */
static int ckpt_verify_one(const struct ckpt_ctx *x, const struct checkpoint *c, const char *ckey,
                           const struct journal_commit *f, const uint8_t *bundle,
                           struct ckpt_item *it)
{
        const uint8_t *bytes = bundle + f->off, *author = bytes + CKPT_AUTHOR_OFF, *key;
        const char *why = NULL;
        uint8_t pk[32];
        int rc = ckpt_author_key(x, author, pk);

        if (rc != 0)
                return ckpt_alarm(x, c->device_id, PULL_ALARM_BAD_CHECKPOINT, c->seq, ckey,
                                  "a manifest's author is not a writer known here");
        rc = check_manifest(bytes, f, x->region_id, author, pk, &it->m, &why);
        if (rc == -EBADMSG)
                return ckpt_alarm(x, c->device_id, PULL_ALARM_BAD_CHECKPOINT, c->seq, ckey, "%s",
                                  why);
        if (rc != 0)
                return rc;
        key = x->ops->epoch_key(x->arg, it->m.epoch_id);
        rc = key != NULL ? manifest_open_meta(&it->m, key, &it->meta) : -ENOKEY;
        if (rc != 0) {
                manifest_release(&it->m);
                return rc == -ENOMEM
                           ? rc
                           : ckpt_alarm(x, c->device_id, PULL_ALARM_BAD_CHECKPOINT, c->seq, ckey,
                                        key == NULL ? "a manifest of an epoch this "
                                                      "device does not hold"
                                                    : "a manifest's metadata does "
                                                      "not open");
        }
        it->ok = 1;
        return 0;
}

static int ckpt_verify(const struct ckpt_ctx *x, const struct checkpoint *c, const char *ckey,
                       const struct ckpt_bundles *b, struct ckpt_item **out)
{
        struct ckpt_item *it = calloc(c->nfiles ? c->nfiles : 1, sizeof(*it));
        size_t i, j;
        int rc = it != NULL ? 0 : -ENOMEM;

        for (i = 0; i < c->nfiles && rc == 0; i++) {
                for (j = 0; j < c->npacks; j++)
                        if (memcmp(c->packs[j].hash, c->files[i].pack_hash, 32) == 0)
                                break;
                rc = j < c->npacks ? ckpt_verify_one(x, c, ckey, &c->files[i], b->bytes[j], &it[i])
                                   : -EIO; /* cannot happen: checkpoint_decode */
        }
        if (rc != 0) {
                ckpt_items_free(it, c->nfiles);
                return rc;
        }
        *out = it;
        return 0;
}

/* The item of file FILE_ID, or NULL. */
static struct ckpt_item *ckpt_item_of(const struct checkpoint *c, struct ckpt_item *it,
                                      const uint8_t file_id[static 16])
{
        const struct journal_commit *f = checkpoint_file(c, file_id);

        return f != NULL ? &it[f - c->files] : NULL;
}

static int ckpt_apply_one(const struct ckpt_ctx *x, struct ckpt_item *it, unsigned *applied)
{
        int rc = x->ops->apply(x->arg, &it->m, &it->meta);

        it->applied = 1;
        if (rc == 0)
                (*applied)++;
        return rc;
}

/* Directories whose parent is the root, not in C, or applied; 1 if any was. */
static int ckpt_apply_dirs(const struct ckpt_ctx *x, const struct checkpoint *c,
                           struct ckpt_item *it, unsigned *applied, int *rc)
{
        static const uint8_t root[16];
        size_t i;
        int progress = 0;

        for (i = 0; i < c->nfiles && *rc == 0; i++) {
                const struct ckpt_item *parent;

                if (it[i].applied || it[i].m.kind != MANIFEST_DIR)
                        continue;
                parent = memcmp(it[i].meta.parent_id, root, 16) == 0
                             ? NULL
                             : ckpt_item_of(c, it, it[i].meta.parent_id);
                if (parent != NULL && !parent->applied && parent->m.kind == MANIFEST_DIR)
                        continue;
                *rc = ckpt_apply_one(x, &it[i], applied);
                progress = 1;
        }
        return progress;
}

/*
 * The blocks of C's small files (at most CKPT_SMALL_FILE bytes) are fetched
 * before the apply (pull_prefetch), so that, as with the journals (packs
 * up to 1 MiB are fetched whole), small files are local at once and large
 * ones remote.
 */
static int ckpt_prefetch(const struct ckpt_ctx *x, const struct checkpoint *c,
                         const struct ckpt_item *it)
{
        uint8_t(*h)[32] = NULL;
        size_t i, j, n = 0, k = 0;
        int rc;

        for (i = 0; i < c->nfiles; i++)
                if (it[i].m.kind == MANIFEST_FILE && it[i].m.size <= CKPT_SMALL_FILE)
                        n += it[i].m.nrefs;
        h = calloc(n ? n : 1, sizeof(*h));
        if (h == NULL)
                return -ENOMEM;
        for (i = 0; i < c->nfiles; i++)
                if (it[i].m.kind == MANIFEST_FILE && it[i].m.size <= CKPT_SMALL_FILE)
                        for (j = 0; j < it[i].m.nrefs; j++)
                                memcpy(h[k++], it[i].m.refs[j].hash, 32);
        rc = pull_prefetch(x->pull, (const uint8_t(*)[32])h, k);
        free(h);
        return rc;
}

/* Step 6: tombstones, directories parents first, then the rest; then the marks. */
static int ckpt_apply(const struct ckpt_ctx *x, const struct checkpoint *c, struct ckpt_item *it,
                      unsigned *applied)
{
        size_t i;
        int rc = ckpt_prefetch(x, c, it), pass;

        for (i = 0; i < c->nfiles && rc == 0; i++)
                if (it[i].m.kind == MANIFEST_TOMBSTONE)
                        rc = ckpt_apply_one(x, &it[i], applied);
        while (rc == 0 && ckpt_apply_dirs(x, c, it, applied, &rc))
                ;
        for (pass = 0; pass < 2 && rc == 0; pass++) /* a directory cycle: as the journals would */
                for (i = 0; i < c->nfiles && rc == 0; i++)
                        if (!it[i].applied && (pass == 1 || it[i].m.kind == MANIFEST_DIR))
                                rc = ckpt_apply_one(x, &it[i], applied);
        pull_prefetch_end(x->pull);
        if (rc == 0 && x->ops->entry_done != NULL)
                rc = x->ops->entry_done(x->arg);
        for (i = 0; i < c->nmarks && rc == 0; i++)
                if (memcmp(c->marks[i].device_id, x->self_id, 16) != 0)
                        rc = pull_mark_advance(x->pull, c->marks[i].device_id, c->marks[i].seq,
                                               c->marks[i].hash);
        return rc;
}

int ckpt_bootstrap(const struct ckpt_ctx *x, unsigned *applied)
{
        char key[CHECKPOINT_KEY_SIZE];
        struct ckpt_bundles b = {NULL, 0};
        struct ckpt_item *items = NULL;
        struct checkpoint c;
        int rc;

        *applied = 0;
        memset(&c, 0, sizeof(c));
        rc = ckpt_choose(x, 0, &c, key);
        if (rc == -ENOENT) {
                log_info("bootstrap: no usable checkpoint; replaying the journals");
                return 0;
        }
        if (rc != 0)
                return rc;
        rc = ckpt_agree(x, &c, key);
        if (rc == 0)
                rc = ckpt_bundles_get(x, &c, key, &b);
        if (rc == 0)
                rc = ckpt_verify(x, &c, key, &b, &items);
        if (rc == 0)
                rc = ckpt_apply(x, &c, items, applied);
        if (rc == 0)
                log_info("bootstrap: from checkpoint %s: %u version(s) applied, %zu mark(s) set",
                         key, *applied, c.nmarks);
        else if (rc == -EBADMSG)
                log_warn("bootstrap: checkpoint %s refused; replaying the journals", key);
        ckpt_items_free(items, c.nfiles);
        ckpt_bundles_free(&b);
        checkpoint_release(&c);
        return rc == -EBADMSG ? 0 : rc;
}
