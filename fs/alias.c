/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A merged directory is the union of its ids (doc/SYNC.md "Conflicts" rule 5,
 * invariant U5).
 *
 * Two directories of one name merge: one id's inode stays, every other id
 * becomes an alias of it (index table "alias").  Each id keeps a life of its
 * own: its version (index table "aliasver", sealed like attributes) moves on
 * with the versions that arrive for it, and a deletion of it is decided
 * against that version by rule 3 (U1), as for any file.  The directory
 * exists while one of its ids lives:
 *  - a deletion that wins over an alias removes the alias (fs_alias_version);
 *  - one that wins over the stayed id, aliases remaining, gives the inode the
 *    best alias's id (fs_alias_rekey, called by apply_tombstone);
 *  - a local rmdir deletes every id of the group (fs_alias_tombstones).
 * So whether the directory exists does not depend on which id stayed on a
 * device, nor on the order in which versions arrived (FOUND.md B8).
 * An alias exists only while its ids want one place: an id whose version
 * names another place splits off (fs/apply.c apply_alias, apply_split_*),
 * and a local version of a merged directory (a rename here) is published
 * for every id of it (fs_alias_live_list, fs_alias_committed; fs/commit.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/enc.h"
#include "crypto/secmem.h"
#include "fs/fsint.h"
#include "sync/manifest.h"
#include "util/hex.h"
#include "util/log.h"

static int alias_put(struct fs *fs, const uint8_t file_id[16], const struct fs_aliasver *a)
{
        struct enc e;
        int rc;

        enc_init(&e);
        enc_u64(&e, a->lamport);
        enc_fixed(&e, a->author, 16);
        enc_fixed(&e, a->hash, 32);
        fs_vv_put(&e, a->vv, a->nvv);
        rc = enc_error(&e);
        if (rc == 0)
                rc = index_aliasver_put(fs->ix, file_id, e.buf, e.len);
        secmem_wipe(e.buf, e.len);
        enc_release(&e);
        return rc;
}

int fs_aliasver_decode(const uint8_t *buf, size_t len, struct fs_aliasver *a)
{
        struct dec d;
        int rc;

        memset(a, 0, sizeof(*a));
        dec_init(&d, buf, len);
        a->lamport = dec_u64(&d);
        dec_fixed(&d, a->author, 16);
        dec_fixed(&d, a->hash, 32);
        rc = fs_vv_get(&d, &a->vv, &a->nvv);
        if (rc == 0)
                rc = dec_finish(&d);
        if (rc != 0) {
                free(a->vv);
                a->vv = NULL;
                a->nvv = 0;
        }
        return rc;
}

/* FILE_ID's version into *A (free(a->vv)); an alias recorded before U5 has none: all zero. */
static int alias_get(struct fs *fs, const uint8_t file_id[16], struct fs_aliasver *a)
{
        uint8_t *state = NULL;
        size_t len = 0;
        int rc = index_aliasver_get(fs->ix, file_id, &state, &len);

        memset(a, 0, sizeof(*a));
        if (rc == -ENOENT)
                return 0;
        if (rc != 0)
                return rc;
        rc = fs_aliasver_decode(state, len, a);
        if (rc == -EBADMSG)
                log_err("index: a merged directory's version record is malformed");
        secmem_wipe(state, len);
        free(state);
        return rc;
}

/* 1 if alias FILE_ID is deleted here (a held id, U6: merged in for its entries only). */
static int alias_dead(struct fs *fs, const uint8_t file_id[16])
{
        uint8_t *state = NULL;
        size_t len = 0;
        int rc = index_gone_get(fs->ix, file_id, &state, &len);

        if (rc == 0) {
                secmem_wipe(state, len);
                free(state);
                return 1;
        }
        return rc == -ENOENT ? 0 : rc;
}

int fs_alias_record(struct fs *fs, const uint8_t file_id[static 16], uint64_t into,
                    const struct fs_aliasver *a)
{
        int rc = index_alias_put(fs->ix, file_id, into);

        return rc == 0 ? alias_put(fs, file_id, a) : rc;
}

static void alias_log(const uint8_t file_id[16], const char *what)
{
        char fid[33];

        hex_encode(fid, file_id, 16);
        log_info("merged directory id %s: %s", fid, what);
}

/* A's vector absorbs VV (A has now seen both). */
static int alias_absorb(struct fs_aliasver *a, const struct fs_vv *vv, size_t nvv)
{
        struct fs_vv *m;
        size_t n;
        int rc = fs_vv_merge(a->vv, a->nvv, vv, nvv, &m, &n);

        if (rc != 0)
                return rc;
        free(a->vv);
        a->vv = m;
        a->nvv = n;
        return 0;
}

/* 1 if version M wins over the concurrent alias version A ((Lamport, author, hash), rule 3). */
static int alias_later(const struct manifest *m, const struct fs_aliasver *a)
{
        int c;

        if (m->lamport != a->lamport)
                return m->lamport > a->lamport;
        c = memcmp(m->author, a->author, 16);
        return c != 0 ? c > 0 : memcmp(m->hash, a->hash, 32) > 0;
}

/*
 * Version M of a held alias (deleted here, merged in for its entries): a
 * deletion is remembered too; a version that beats the deletion (U1: it
 * dominates it, or is concurrent and not earlier) makes the id live again,
 * with M as its version; an older one changes nothing.
 */
static int alias_dead_version(struct fs *fs, const struct manifest *m,
                              const struct manifest_meta *meta, int *what)
{
        const struct fs_vv *mvv = (const struct fs_vv *)m->vv;
        struct fs_gone g;
        int rc, order;

        if (m->kind == MANIFEST_TOMBSTONE) { /* the later of the two is remembered (F7) */
                rc = fs_gone_record(fs, m->file_id, m->lamport, m->hash, mvv, m->nvv, meta->mode,
                                    meta->parent_id, meta->name, meta->name_len);
                if (rc == 0)
                        *what = FS_ALIAS_DELETED; /* its entries are held where it names */
                return rc;
        }
        rc = fs_gone_get(fs, m->file_id, &g);
        if (rc != 0)
                return rc;
        order = manifest_vv_compare(m->vv, m->nvv, (const struct manifest_vv *)g.vv, g.nvv);
        free(g.vv);
        if (order == MANIFEST_VV_EQUAL || order == MANIFEST_VV_DOMINATED ||
            (order == MANIFEST_VV_CONCURRENT && m->lamport < g.lamport))
                return 0;
        rc = index_gone_remove(fs->ix, m->file_id);
        if (rc == 0) {
                struct fs_aliasver a = {m->lamport, {0}, {0}, (struct fs_vv *)m->vv, m->nvv};

                memcpy(a.author, m->author, 16);
                memcpy(a.hash, m->hash, 32);
                rc = alias_put(fs, m->file_id, &a);
        }
        if (rc == 0) {
                *what = FS_ALIAS_TAKEN;
                alias_log(m->file_id, "a version later than its deletion: it lives again");
        }
        return rc;
}

int fs_alias_version(struct fs *fs, const struct manifest *m, const struct manifest_meta *meta,
                     int *what)
{
        const struct fs_vv *mvv = (const struct fs_vv *)m->vv;
        struct fs_aliasver a;
        int rc = alias_dead(fs, m->file_id), order;

        *what = FS_ALIAS_KEPT;
        if (rc < 0)
                return rc;
        if (rc > 0) /* a held id (U6): decided against its deletion, as a deleted directory */
                return alias_dead_version(fs, m, meta, what);
        rc = alias_get(fs, m->file_id, &a);
        if (rc != 0)
                return rc;
        order = manifest_vv_compare(m->vv, m->nvv, (const struct manifest_vv *)a.vv, a.nvv);
        if (memcmp(a.hash, m->hash, 32) == 0) {
                if (m->kind != MANIFEST_TOMBSTONE) /* rule 1: M is its version already */
                        *what = FS_ALIAS_TAKEN;
                goto out;
        }
        if (order == MANIFEST_VV_EQUAL || order == MANIFEST_VV_DOMINATED)
                goto out; /* older */
        if (m->kind == MANIFEST_TOMBSTONE &&
            (order == MANIFEST_VV_DOMINATES || m->lamport > a.lamport)) {
                /* U1: the deletion wins over this id; the directory stays with its other ids */
                rc = index_alias_remove(fs->ix, m->file_id);
                if (rc == 0)
                        rc =
                            fs_gone_record(fs, m->file_id, m->lamport, m->hash, mvv, m->nvv,
                                           meta->mode, meta->parent_id, meta->name, meta->name_len);
                if (rc == 0) {
                        *what = FS_ALIAS_DELETED;
                        alias_log(m->file_id, "deleted; the directory stays (another id lives)");
                }
                goto out;
        }
        rc = alias_absorb(&a, mvv, m->nvv);
        if (rc == 0 && m->kind != MANIFEST_TOMBSTONE &&
            (order == MANIFEST_VV_DOMINATES || alias_later(m, &a))) {
                a.lamport = m->lamport; /* a newer version of the alias id (its place: U5) */
                memcpy(a.author, m->author, 16);
                memcpy(a.hash, m->hash, 32);
                *what = FS_ALIAS_TAKEN;
                alias_log(m->file_id, "a later version");
        }
        if (rc == 0)
                rc = alias_put(fs, m->file_id, &a);
out:
        free(a.vv);
        return rc;
}

int fs_aliasver_get(struct fs *fs, const uint8_t file_id[static 16], struct fs_aliasver *a)
{
        return alias_get(fs, file_id, a);
}

int fs_alias_live_list(struct fs *fs, uint64_t ino, uint8_t (**ids)[16], struct fs_aliasver **vers,
                       size_t *n)
{
        uint8_t(*all)[16] = NULL;
        struct fs_aliasver *v = NULL;
        size_t nall = 0, i, k = 0;
        int rc = index_aliases_of(fs->ix, ino, &all, &nall);

        if (rc == 0 && nall > 0) {
                v = calloc(nall, sizeof(*v));
                if (v == NULL)
                        rc = -ENOMEM;
        }
        for (i = 0; i < nall && rc == 0; i++) {
                rc = alias_dead(fs, all[i]);
                if (rc != 0) { /* deleted, there for its entries only: no id of the directory */
                        rc = rc > 0 ? 0 : rc;
                        continue;
                }
                rc = alias_get(fs, all[i], &v[k]);
                if (rc == 0)
                        memmove(all[k++], all[i], 16);
        }
        if (rc != 0 || k == 0) {
                for (i = 0; i < k; i++)
                        free(v[i].vv);
                free(v);
                free(all);
                v = NULL;
                all = NULL;
                k = 0;
        }
        if (rc == 0) {
                *ids = all;
                *vers = v;
                *n = k;
        }
        return rc;
}

int fs_alias_committed(struct fs *fs, const uint8_t file_id[static 16], uint64_t ino,
                       const struct fs_aliasver *a)
{
        uint64_t at;
        int rc = index_alias_get(fs->ix, file_id, &at);

        if (rc == -ENOENT || (rc == 0 && at != ino))
                return 0; /* no longer an id of that directory: its version is published all
                             the same, and decided like any other where it arrives */
        return rc == 0 ? alias_put(fs, file_id, a) : rc;
}

/* The best alias of INO by rank (U4's: Lamport, author, file id) into *BEST; 0 or -ENOENT. */
static int alias_best(struct fs *fs, uint64_t ino, uint8_t best[16], struct fs_aliasver *bv)
{
        uint8_t(*ids)[16] = NULL;
        struct fs_rank br = {0}, r;
        size_t n = 0, i;
        int rc = index_aliases_of(fs->ix, ino, &ids, &n), found = 0;

        memset(bv, 0, sizeof(*bv));
        for (i = 0; i < n && rc == 0; i++) {
                struct fs_aliasver a;

                rc = alias_dead(fs, ids[i]);
                if (rc != 0) {
                        rc = rc > 0 ? 0 : rc;
                        continue; /* deleted, there for its entries only (held): no id of ours */
                }
                rc = alias_get(fs, ids[i], &a);
                if (rc != 0)
                        break;
                r.lamport = a.lamport;
                memcpy(r.author, a.author, 16);
                memcpy(r.file_id, ids[i], 16);
                r.kind = FS_KIND_DIR;
                if (!found || fs_rank_beats(&r, &br)) {
                        free(bv->vv);
                        *bv = a;
                        br = r;
                        memcpy(best, ids[i], 16);
                        found = 1;
                } else {
                        free(a.vv);
                }
        }
        free(ids);
        if (rc == 0 && !found)
                rc = -ENOENT;
        if (rc != 0) {
                free(bv->vv);
                bv->vv = NULL;
        }
        return rc;
}

/*
 * A retired inode (merged away, not evicted yet) may still carry ID in the
 * index: it gives the id up (a fresh random one; it goes when unused).
 */
static int alias_free_id(struct fs *fs, uint64_t keep, const uint8_t id[16])
{
        struct fs_inode *o;
        uint8_t fresh[16];
        uint64_t ino;
        int rc = index_ino_by_file_id(fs->ix, id, &ino);

        if (rc == -ENOENT || (rc == 0 && ino == keep))
                return 0;
        if (rc == 0)
                rc = fs_inode_get(fs, ino, &o);
        if (rc != 0)
                return rc;
        pthread_rwlock_wrlock(&o->lock);
        if (o->nlink > 0) {
                rc = -EEXIST; /* a live inode has it: not an alias after all */
        } else {
                secmem_random(fresh, sizeof(fresh));
                rc = index_inode_rekey(fs->ix, o->ino, o->file_id, fresh);
                if (rc == 0) {
                        memcpy(o->file_id, fresh, 16);
                        rc = fs_inode_save(fs, o);
                }
        }
        pthread_rwlock_unlock(&o->lock);
        fs_inode_put(fs, o);
        return rc;
}

/*
 * Inode IN (write-locked) takes alias ID as its own id, at version LAMPORT,
 * AUTHOR (NULL: unchanged), HASH, with vector *VV (NVV entries; taken over,
 * *VV set to NULL): a retired inode still carrying ID gives it up, the index
 * rekeys IN and the alias row goes.  The caller saves IN.
 */
static int alias_take_id(struct fs *fs, struct fs_inode *in, const uint8_t id[16], uint64_t lamport,
                         const uint8_t *author, const uint8_t hash[32], struct fs_vv **vv,
                         size_t nvv)
{
        int rc = alias_free_id(fs, in->ino, id);

        if (rc == 0)
                rc = index_inode_rekey(fs->ix, in->ino, in->file_id, id);
        if (rc == 0)
                rc = index_alias_remove(fs->ix, id);
        if (rc != 0)
                return rc;
        memcpy(in->file_id, id, 16);
        free(in->vv);
        in->vv = *vv;
        in->nvv = nvv;
        *vv = NULL;
        in->lamport = lamport;
        if (author != NULL)
                memcpy(in->author, author, 16);
        memcpy(in->manifest_hash, hash, 32);
        in->has_manifest = 1;
        return 0;
}

int fs_alias_takeover(struct fs *fs, struct fs_inode *in, int *kept)
{
        struct fs_aliasver bv;
        uint8_t best[16];
        int rc = alias_best(fs, in->ino, best, &bv);

        *kept = 0;
        if (rc == -ENOENT)
                return 0;
        if (rc != 0)
                return rc;
        rc = alias_take_id(fs, in, best, bv.lamport, bv.author, bv.hash, &bv.vv, bv.nvv);
        if (rc == 0)
                rc = fs_inode_save(fs, in);
        free(bv.vv);
        if (rc == 0)
                *kept = 1;
        return rc;
}

int fs_alias_dead_held(struct fs *fs, uint64_t ino, int (*holds)(void *arg, const uint8_t id[16]),
                       void *arg, uint8_t out[16])
{
        uint8_t(*ids)[16] = NULL;
        size_t n = 0, i;
        int rc = index_aliases_of(fs->ix, ino, &ids, &n), found = 0;

        for (i = 0; i < n && rc == 0 && !found; i++) {
                rc = alias_dead(fs, ids[i]);
                if (rc == 1)
                        rc = holds(arg, ids[i]);
                if (rc == 1) {
                        memcpy(out, ids[i], 16);
                        found = 1;
                }
                rc = rc < 0 ? rc : 0;
        }
        free(ids);
        return rc == 0 ? found : rc;
}

int fs_alias_hold(struct fs *fs, struct fs_inode *in, const uint8_t id[static 16])
{
        struct fs_gone g;
        int rc = fs_gone_get(fs, id, &g);

        if (rc != 0)
                return rc;
        /* U6: its state is its deletion's while it is held */
        rc = alias_take_id(fs, in, id, g.lamport, NULL, g.hash, &g.vv, g.nvv);
        if (rc == 0)
                rc = fs_held_put(fs, id, g.hash);
        if (rc == 0)
                rc = fs_inode_save(fs, in);
        if (rc == 0)
                alias_log(id, "deleted, held by the entries that name it (the directory's other "
                              "id moved away)");
        free(g.vv);
        return rc;
}

int fs_alias_keep_dead(struct fs *fs, const uint8_t id[static 16], uint64_t ino)
{
        return index_alias_put(fs->ix, id, ino);
}

int fs_alias_revived(struct fs *fs, const uint8_t id[static 16])
{
        struct fs_aliasver a;
        struct fs_gone g;
        int rc = fs_gone_get(fs, id, &g);

        if (rc != 0)
                return rc == -ENOENT ? 0 : rc;
        rc = alias_get(fs, id, &a);
        if (rc == 0) { /* its next version counts past the deletion, as a resurrected file's */
                rc = alias_absorb(&a, g.vv, g.nvv);
                if (rc == 0)
                        rc = alias_put(fs, id, &a);
                free(a.vv);
        }
        if (rc == 0 || rc == -ENOENT)
                rc = index_gone_remove(fs->ix, id);
        if (rc == 0)
                rc = index_held_remove(fs->ix, id);
        free(g.vv);
        return rc;
}

struct alias_kids {
        uint64_t *v;
        size_t n, cap;
};

static int alias_kid_cb(void *arg, int64_t pos, uint64_t ino, uint8_t type, const char *name,
                        size_t len)
{
        struct alias_kids *k = arg;

        (void)pos;
        (void)type;
        (void)name;
        (void)len;
        if (k->n == k->cap) {
                size_t cap = k->cap ? 2 * k->cap : 32;
                uint64_t *v = realloc(k->v, cap * sizeof(*v));

                if (v == NULL)
                        return -ENOMEM;
                k->v = v;
                k->cap = cap;
        }
        k->v[k->n++] = ino;
        return 0;
}

/* 1 if entry INO's current version names one of the NDEAD ids DEAD as its parent. */
static int alias_names_dead(struct fs *fs, uint64_t ino, uint8_t (*dead)[16], size_t ndead,
                            struct fs_inode **out)
{
        struct fs_inode *c;
        size_t i;
        int hit = 0, rc = fs_inode_get(fs, ino, &c);

        if (rc != 0)
                return rc;
        pthread_rwlock_rdlock(&c->lock);
        for (i = 0; i < ndead && c->vparent_known && !hit; i++)
                hit = memcmp(c->vparent, dead[i], 16) == 0;
        pthread_rwlock_unlock(&c->lock);
        if (hit) {
                *out = c;
                return 1;
        }
        fs_inode_put(fs, c);
        return 0;
}

int fs_alias_moved(struct fs *fs, uint64_t ino)
{
        struct alias_kids k = {NULL, 0, 0};
        uint8_t(*ids)[16] = NULL, (*dead)[16] = NULL;
        size_t n = 0, ndead = 0, i;
        int rc = index_aliases_of(fs->ix, ino, &ids, &n);

        if (rc == 0 && n > 0 && (dead = calloc(n, sizeof(*dead))) == NULL)
                rc = -ENOMEM;
        for (i = 0; i < n && rc == 0; i++) {
                rc = alias_dead(fs, ids[i]);
                if (rc > 0) { /* it routed entries here while here was its place: no more */
                        memcpy(dead[ndead++], ids[i], 16);
                        rc = index_alias_remove(fs->ix, ids[i]);
                }
        }
        free(ids);
        if (rc == 0 && ndead > 0)
                rc = index_readdir(fs->ix, ino, 0, alias_kid_cb, &k);
        for (i = 0; i < k.n && rc == 0; i++) {
                struct fs_inode *c = NULL;

                rc = alias_names_dead(fs, k.v[i], dead, ndead, &c);
                if (rc <= 0)
                        continue;
                pthread_rwlock_wrlock(&c->lock); /* published again, naming the directory */
                rc = fs_inode_mark_changed(fs, c, 0, 0);
                if (rc == 0)
                        rc = fs_inode_save(fs, c);
                pthread_rwlock_unlock(&c->lock);
                fs_inode_put(fs, c);
        }
        free(k.v);
        free(dead);
        return rc;
}

int fs_alias_rekey(struct fs *fs, struct fs_inode *in, const struct manifest *m,
                   const struct manifest_meta *meta, int *kept)
{
        int rc = fs_alias_takeover(fs, in, kept);

        if (rc != 0 || !*kept)
                return rc;
        rc = fs_gone_record(fs, m->file_id, m->lamport, m->hash, (const struct fs_vv *)m->vv,
                            m->nvv, meta->mode, meta->parent_id, meta->name, meta->name_len);
        if (rc == 0) /* deleted: it routes entries here, and lives again here (F32) */
                rc = fs_alias_keep_dead(fs, m->file_id, in->ino);
        if (rc == 0)
                alias_log(m->file_id, "deleted; the directory stays under another of its ids");
        return rc;
}

int fs_alias_tombstones(struct fs *fs, struct fs_inode *in, const uint8_t parent_id[static 16],
                        const char *name, size_t len)
{
        uint8_t(*ids)[16] = NULL;
        size_t n = 0, i;
        int rc = index_aliases_of(fs->ix, in->ino, &ids, &n);

        for (i = 0; i < n && rc == 0; i++) {
                struct fs_aliasver a;
                struct fs_tomb_of v;

                rc = alias_dead(fs, ids[i]);
                if (rc != 0) { /* deleted already: only its row goes */
                        rc = rc > 0 ? index_alias_remove(fs->ix, ids[i]) : rc;
                        continue;
                }
                rc = alias_get(fs, ids[i], &a);
                if (rc != 0)
                        break;
                v.lamport = a.lamport;
                v.hash = a.hash;
                v.vv = a.vv;
                v.nvv = a.nvv;
                v.kind = FS_KIND_DIR;
                v.mode = in->mode;
                v.mtime = in->mtime;
                rc = fs_tomb_put(fs, ids[i], &v, parent_id, name, len);
                if (rc == 0)
                        rc = index_alias_remove(fs->ix, ids[i]);
                free(a.vv);
        }
        free(ids);
        return rc;
}
