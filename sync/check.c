/* SPDX-License-Identifier: Apache-2.0 */
/* The receiver's checks on store objects: see check.h. */
#include "sync/check.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hash.h"
#include "keyring/member.h"

/* Sets *WHY and returns -EBADMSG, or passes RC (0, -ENOMEM) through. */
static int check_fail(int rc, const char **why, const char *reason)
{
        if (rc == -EBADMSG)
                *why = reason;
        return rc;
}

int check_entry(const uint8_t *buf, size_t len, const uint8_t name_hash[static 32],
                const uint8_t region_id[static 32], const uint8_t device_id[static 16],
                uint64_t seq, const uint8_t sign_pk[static 32], struct journal_entry *out,
                const char **why)
{
        struct journal_entry e;
        uint8_t h[32];
        int rc;

        hash_blake2b(h, buf, len);
        if (memcmp(h, name_hash, 32) != 0)
                return check_fail(-EBADMSG, why, "content does not match its name");
        rc = journal_decode(buf, len, &e);
        if (rc != 0)
                return check_fail(rc, why, "malformed entry");
        if (memcmp(e.region_id, region_id, 32) != 0 || memcmp(e.device_id, device_id, 16) != 0 ||
            e.seq != seq)
                rc = check_fail(-EBADMSG, why, "region, device or seq differ from its name");
        if (rc == 0)
                rc = check_fail(journal_verify_sig(buf, len, sign_pk), why,
                                "not signed by the device's key");
        if (rc != 0) {
                journal_release(&e);
                return rc;
        }
        *out = e;
        return 0;
}

/* Invariant R5: the standing of SEQ/HASH by the demotions and promotions of ST, or -1. */
static int check_standing_r5(const struct members_standing *st, uint64_t seq,
                             const uint8_t hash[static 32], const char **why)
{
        size_t i;

        for (i = 0; i < st->nvoid; i++) {
                const struct members_void *v = &st->voids[i];

                if ((seq == v->lo_seq && memcmp(hash, v->lo_hash, 32) != 0) ||
                    (seq == v->hi_seq && memcmp(hash, v->hi_hash, 32) != 0)) {
                        *why = "not the entry its demotion or promotion names (forked journal)";
                        return CHECK_STANDING_FORKED;
                }
                if (seq > v->lo_seq && seq <= v->hi_seq) {
                        *why = "signed between its demotion and its promotion (void)";
                        return CHECK_STANDING_VOID;
                }
        }
        if (!st->cut)
                return -1;
        if (seq > st->cut_seq) {
                *why = "signed by a demoted device after its demotion cutoff";
                return CHECK_STANDING_DEMOTED;
        }
        if (seq == st->cut_seq && memcmp(hash, st->cut_hash, 32) != 0) {
                *why = "not the entry its demotion names (forked journal)";
                return CHECK_STANDING_FORKED;
        }
        return CHECK_STANDING_OK; /* written as a writer, before the cutoff */
}

int check_standing(const struct check_signer *s, uint64_t seq, const uint8_t hash[static 32],
                   const char **why)
{
        int st;

        if (s->removed && seq > s->cutoff_seq) {
                *why = "signed by a removed device after its cutoff";
                return CHECK_STANDING_REVOKED;
        }
        if (s->removed && seq == s->cutoff_seq && memcmp(hash, s->cutoff_hash, 32) != 0) {
                *why = "not the entry its removal names (forked journal)";
                return CHECK_STANDING_FORKED;
        }
        st = check_standing_r5(&s->standing, seq, hash, why);
        if (st >= 0)
                return st;
        if (s->role != MEMBER_ROLE_WRITER && s->role != MEMBER_ROLE_ADMIN) {
                *why = "a signed entry from a device that may not write";
                return CHECK_STANDING_NOT_WRITER;
        }
        return CHECK_STANDING_OK;
}

int check_pack(const uint8_t *buf, size_t len, const struct journal_pack *jp,
               struct pack_entry **ents, size_t *n, const char **why)
{
        uint8_t h[32];
        int rc;

        if (len != jp->size)
                return check_fail(-EBADMSG, why, "size differs from the one its entry gives");
        if (pack_newer(buf, len))
                return check_fail(-EBADMSG, why,
                                  "a pack of a newer format than this build reads (update "
                                  "sealsync on this device)");
        if (pack_name(buf, len, h) != 0)
                return check_fail(-EBADMSG, why, "malformed pack");
        if (memcmp(h, jp->hash, 32) != 0)
                return check_fail(-EBADMSG, why, "content does not match its name");
        /* D8: a version-2 name binds the records through their hashes, checked here. */
        rc = pack_parse(buf, len, ents, n);
        if (rc == -EILSEQ)
                return check_fail(-EBADMSG, why,
                                  "content does not match its name (a record differs from its "
                                  "hash)");
        return check_fail(rc, why, "malformed pack");
}

/* By pack, then by offset in it (the on-demand path reads a pack's records in order). */
static int check_commit_by_pack(const void *a, const void *b)
{
        const struct journal_commit *const *x = a, *const *y = b;
        int c = memcmp((*x)->pack_hash, (*y)->pack_hash, 32);

        if (c != 0)
                return c;
        return (*x)->off < (*y)->off ? -1 : (*x)->off > (*y)->off;
}

int check_commits_by_pack(const struct journal_entry *e, const struct journal_commit ***out)
{
        const struct journal_commit **v = calloc(e->ncommits ? e->ncommits : 1, sizeof(*v));
        size_t i;

        if (v == NULL)
                return -ENOMEM;
        for (i = 0; i < e->ncommits; i++)
                v[i] = &e->commits[i];
        qsort(v, e->ncommits, sizeof(*v), check_commit_by_pack);
        *out = v;
        return 0;
}

/* The trailer entry whose record starts at OFF in ENTS (N, ascending by offset), or NULL. */
static const struct pack_entry *check_entry_at(const struct pack_entry *ents, size_t n,
                                               uint64_t off)
{
        size_t lo = 0, hi = n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (ents[mid].off == off)
                        return &ents[mid];
                if (ents[mid].off < off)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

int check_pack_commits(const struct journal_entry *e, const struct journal_commit **by_pack,
                       size_t *cur, const uint8_t pack_hash[static 32],
                       const struct pack_entry *ents, size_t n, const char **why)
{
        for (; *cur < e->ncommits && memcmp(by_pack[*cur]->pack_hash, pack_hash, 32) == 0;
             (*cur)++) {
                const struct journal_commit *c = by_pack[*cur];
                const struct pack_entry *pe = check_entry_at(ents, n, c->off);

                if (pe == NULL || pe->kind != PACK_KIND_MANIFEST || pe->len != c->len ||
                    memcmp(pe->hash, c->manifest_hash, 32) != 0)
                        return check_fail(-EBADMSG, why,
                                          "a commit does not name a manifest record of its pack");
        }
        return 0;
}

int check_manifest(const uint8_t *bytes, const struct journal_commit *c,
                   const uint8_t region_id[static 32], const uint8_t author[static 16],
                   const uint8_t sign_pk[static 32], struct manifest *out, const char **why)
{
        struct manifest m;
        int rc;

        if (pack_record_check(PACK_KIND_MANIFEST, bytes, c->len, c->manifest_hash) != 0)
                return check_fail(-EBADMSG, why, "a manifest record does not match its hash");
        rc = manifest_decode(bytes, c->len, &m);
        if (rc != 0)
                return check_fail(rc, why, "a manifest is malformed");
        if (memcmp(m.region_id, region_id, 32) != 0 || memcmp(m.file_id, c->file_id, 16) != 0 ||
            memcmp(m.author, author, 16) != 0)
                rc = check_fail(-EBADMSG, why,
                                "a manifest's region, file or author differs from its commit");
        if (rc == 0)
                rc = check_fail(manifest_verify_sig(bytes, c->len, &m, sign_pk), why,
                                "a manifest is not signed by the device's key");
        if (rc != 0) {
                manifest_release(&m);
                return rc;
        }
        *out = m;
        return 0;
}
