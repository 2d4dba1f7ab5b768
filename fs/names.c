/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Rule 5 on the current state (doc/SYNC.md "Conflicts" rule 5, invariant U4).
 *
 * Every live file wants the name its current version carries.  Of the files
 * that want one name, the best by (Lamport, author, file id) -- a local file
 * never committed first -- holds it; the others are shown under their
 * conflict names (fs_conflict_name).  fs/apply.c decides that when a version
 * arrives and records every file it displaces here (index table "want").
 * What it cannot see then is a name freed later, or a holder that loses its
 * standing (an undo): fs_names_settle re-evaluates every row on the current
 * state.  So which file holds a name is a function of the versions, not of
 * the order they arrived in or of which device saw the collision
 * (tests/sim/FOUND.md B3).
 *
 * A row is valid while its file is live, still has the version that was
 * displaced (the same manifest hash) and is still shown under the name it
 * was displaced to.  A commit of the file (a new version, which carries the
 * shown name: the rename is published), a new remote version, a local
 * rename or a deletion each make it stale, and it is dropped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/enc.h"
#include "crypto/secmem.h"
#include "fs/fsint.h"
#include "util/log.h"

#define NAMES_MAX_ROWS                                                                             \
        65536 /* rows looked at per settle (the table holds displaced files only)                  \
               */

int fs_want_decode(const uint8_t *buf, size_t len, struct fs_want *w)
{
        const uint8_t *name, *shown;
        struct dec d;
        int rc;

        memset(w, 0, sizeof(*w));
        dec_init(&d, buf, len);
        w->parent = dec_u64(&d);
        dec_fixed(&d, w->hash, 32);
        dec_var(&d, &name, &w->name_len, 255);
        dec_var(&d, &shown, &w->shown_len, 255);
        rc = dec_finish(&d);
        if (rc == 0 &&
            (w->name_len == 0 || w->shown_len == 0 || memchr(name, '\0', w->name_len) != NULL ||
             memchr(shown, '\0', w->shown_len) != NULL))
                rc = -EBADMSG;
        if (rc != 0) {
                memset(w, 0, sizeof(*w));
                return rc;
        }
        memcpy(w->name, name, w->name_len);
        w->name[w->name_len] = '\0';
        memcpy(w->shown, shown, w->shown_len);
        w->shown[w->shown_len] = '\0';
        return 0;
}

int fs_names_displaced(struct fs *fs, const uint8_t file_id[static 16],
                       const uint8_t hash[static 32], uint64_t parent, const char *name,
                       const char *shown)
{
        struct enc e;
        int rc;

        enc_init(&e);
        enc_u64(&e, parent);
        enc_fixed(&e, hash, 32);
        enc_var(&e, name, strlen(name));
        enc_var(&e, shown, strlen(shown));
        rc = enc_error(&e);
        if (rc == 0)
                rc = index_want_put(fs->ix, file_id, e.buf, e.len);
        secmem_wipe(e.buf, e.len);
        enc_release(&e);
        return rc;
}

int fs_names_placed(struct fs *fs, const uint8_t file_id[static 16])
{
        int rc = index_want_remove(fs->ix, file_id);

        return rc == -ENOENT ? 0 : rc;
}

int fs_names_wanted(struct fs *fs, const uint8_t file_id[static 16], uint64_t parent,
                    const char *shown, char out[static 256])
{
        struct fs_want w;
        uint8_t *state = NULL;
        size_t len = 0;
        int rc = index_want_get(fs->ix, file_id, &state, &len);

        snprintf(out, 256, "%s", shown);
        if (rc == -ENOENT)
                return 0;
        if (rc != 0)
                return rc;
        if (fs_want_decode(state, len, &w) == 0 && w.parent == parent &&
            strcmp(w.shown, shown) == 0)
                snprintf(out, 256, "%s", w.name);
        secmem_wipe(state, len);
        free(state);
        secmem_wipe(&w, sizeof(w));
        return 0;
}

int fs_names_squatter(struct fs *fs, const uint8_t file_id[static 16],
                      const uint8_t hash[static 32], uint64_t parent, const char *name)
{
        struct fs_want w;
        uint8_t *state = NULL;
        size_t len = 0;
        int rc = index_want_get(fs->ix, file_id, &state, &len), squat = 0;

        if (rc == -ENOENT)
                return 0; /* not displaced: it wants the name it has */
        if (rc != 0)
                return rc;
        if (fs_want_decode(state, len, &w) == 0)
                squat = w.parent == parent && strcmp(w.shown, name) == 0 &&
                        strcmp(w.name, name) != 0 && memcmp(w.hash, hash, 32) == 0;
        secmem_wipe(state, len);
        free(state);
        secmem_wipe(&w, sizeof(w));
        return squat;
}

/* The file id of inode INO into FID. */
static int names_file_id(struct fs *fs, uint64_t ino, uint8_t fid[16])
{
        struct fs_inode *in;
        int rc = fs_inode_get(fs, ino, &in);

        if (rc != 0)
                return rc;
        pthread_rwlock_rdlock(&in->lock);
        memcpy(fid, in->file_id, 16);
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(fs, in);
        return 0;
}

int fs_names_moved(struct fs *fs, uint64_t ino, uint64_t from, const char *shown, uint64_t into,
                   const char *now)
{
        struct fs_want w;
        uint8_t fid[16], *state = NULL;
        size_t len = 0;
        int rc = names_file_id(fs, ino, fid);

        if (rc == 0)
                rc = index_want_get(fs->ix, fid, &state, &len);
        if (rc == -ENOENT)
                return 0; /* not displaced: nothing follows it */
        if (rc != 0)
                return rc;
        if (fs_want_decode(state, len, &w) == 0 && w.parent == from && strcmp(w.shown, shown) == 0)
                rc = fs_names_displaced(fs, fid, w.hash, into, w.name, now);
        secmem_wipe(state, len);
        free(state);
        secmem_wipe(&w, sizeof(w));
        return rc;
}

/* ---- which file holds a name ---- */

void fs_rank_of(const struct fs *fs, const struct fs_inode *in, struct fs_rank *r)
{
        r->lamport = in->has_manifest ? in->lamport : UINT64_MAX;
        memcpy(r->author, in->has_manifest ? in->author : fs->device_id, 16);
        memcpy(r->file_id, in->file_id, 16);
        r->kind = in->kind;
}

void fs_rank_of_holder(const struct fs *fs, const struct fs_inode *in, struct fs_rank *r)
{
        fs_rank_of(fs, in, r);
        if (in->sync_dirty || in->committing) { /* its next version: later than all seen */
                r->lamport = UINT64_MAX;
                memcpy(r->author, fs->device_id, 16);
        }
}

int fs_rank_beats(const struct fs_rank *a, const struct fs_rank *b)
{
        int c;

        if (a->lamport != b->lamport)
                return a->lamport > b->lamport;
        c = memcmp(a->author, b->author, 16);
        if (c != 0)
                return c > 0;
        return memcmp(a->file_id, b->file_id, 16) > 0;
}

/* ---- settling ---- */

struct names_row {
        uint8_t file_id[16];
        struct fs_want w;
        uint64_t ino;
        struct fs_rank rank;
        int valid;
        int busy; /* being committed: left where it is this time (names_row_check) */
};

struct names_rows {
        struct names_row *v;
        size_t n, cap;
        int malformed;
};

static int names_collect(void *arg, const uint8_t *file_id, const uint8_t *state, size_t len)
{
        struct names_rows *r = arg;
        struct names_row *row;

        if (r->n == NAMES_MAX_ROWS)
                return 0;
        if (r->n == r->cap) {
                size_t cap = r->cap ? 2 * r->cap : 16;
                struct names_row *v = realloc(r->v, cap * sizeof(*v));

                if (v == NULL)
                        return -ENOMEM;
                r->v = v;
                r->cap = cap;
        }
        row = &r->v[r->n];
        memset(row, 0, sizeof(*row));
        memcpy(row->file_id, file_id, 16);
        if (fs_want_decode(state, len, &row->w) != 0) {
                r->malformed = 1; /* dropped below: a row is only ever ours */
                row->valid = 0;
        } else {
                row->valid = 1;
        }
        r->n++;
        return 0;
}

/* 1 if ROW is valid: its file is live, has the version it names and is shown where it says. */
static int names_row_check(struct fs *fs, struct names_row *row)
{
        char cur[INDEX_NAME_MAX + 1];
        uint64_t p = 0;
        size_t len = 0;
        uint8_t type;
        struct fs_inode *in;
        int rc = index_ino_by_file_id(fs->ix, row->file_id, &row->ino), ok;

        if (rc == -ENOENT)
                return 0;
        if (rc != 0)
                return rc;
        rc = index_name_of(fs->ix, row->ino, &p, cur, &len, &type);
        if (rc == -ENOENT)
                return 0;
        if (rc != 0)
                return rc;
        if (p != row->w.parent || len != row->w.shown_len || memcmp(cur, row->w.shown, len) != 0)
                return 0; /* renamed here since (a local rename, a new version) */
        rc = fs_inode_get(fs, row->ino, &in);
        if (rc != 0)
                return rc;
        pthread_rwlock_rdlock(&in->lock);
        ok = in->has_manifest && memcmp(in->manifest_hash, row->w.hash, 32) == 0;
        /* Its journal entry is sealed with the place it is shown at (F28): moved now, the
         * version everyone else applies would name another place than this device shows. */
        row->busy = in->committing;
        fs_rank_of(fs, in, &row->rank);
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(fs, in);
        return ok;
}

/* fs_entry_move_idle, with 1 for "being committed: nothing moved" (F28). */
static int names_move_idle(struct fs *fs, uint64_t from, const char *name, uint64_t into,
                           const char *newname, uint64_t ino, uint8_t type)
{
        int rc = fs_entry_move_idle(fs, from, name, into, newname, ino, type);

        return rc == -EAGAIN ? 1 : rc;
}

/*
 * HOLDER has the name ROW wants and ROW's file beats it, or HOLDER is only
 * shown there as a displaced file (it wants another name): HOLDER goes to
 * its own conflict name (a row of its own, if it has a version) and frees it.
 */
static int names_displace_holder(struct fs *fs, const struct names_row *row, uint64_t holder)
{
        struct fs_inode *h;
        struct fs_rank hr;
        char alt[256], wanted[256];
        uint8_t fid[16], hash[32], author[16];
        uint64_t mtime;
        int rc = fs_inode_get(fs, holder, &h), kind, has, squat;

        if (rc != 0)
                return rc;
        pthread_rwlock_rdlock(&h->lock);
        fs_rank_of_holder(fs, h, &hr);
        memcpy(fid, h->file_id, 16);
        memcpy(hash, h->manifest_hash, 32);
        memcpy(author, hr.author, 16);
        mtime = (uint64_t)h->mtime.tv_sec;
        kind = h->kind;
        has = h->has_manifest;
        pthread_rwlock_unlock(&h->lock);
        fs_inode_put(fs, h);
        squat = has && hr.lamport != UINT64_MAX
                    ? fs_names_squatter(fs, fid, hash, row->w.parent, row->w.name)
                    : 0;
        if (squat < 0)
                return squat;
        if (!squat && !fs_rank_beats(&row->rank, &hr))
                return 1; /* the holder stays: it wants the name too, and ranks better */
        if (kind == FS_KIND_DIR && row->rank.kind == FS_KIND_DIR)
                return 1; /* two directories merge (fs/apply.c), never displace */
        /* a holder shown under a conflict name already wants its own name (F20) */
        rc = fs_names_wanted(fs, fid, row->w.parent, row->w.name, wanted);
        if (rc == 0)
                rc = fs_conflict_name(fs, row->w.parent, wanted, author, mtime, fid, 0, alt);
        if (rc == 0)
                rc = names_move_idle(fs, row->w.parent, row->w.name, row->w.parent, alt, holder,
                                     (uint8_t)kind);
        if (rc == 0 && has)
                rc = fs_names_displaced(fs, fid, hash, row->w.parent, wanted, alt);
        return rc;
}

/* qsort: valid rows first, grouped by the name they want, the best of each group first. */
static int names_order(const void *pa, const void *pb)
{
        const struct names_row *a = pa, *b = pb;
        int c;

        if (a->valid != b->valid)
                return a->valid ? -1 : 1;
        if (a->w.parent != b->w.parent)
                return a->w.parent < b->w.parent ? -1 : 1;
        c = strcmp(a->w.name, b->w.name);
        if (c != 0)
                return c;
        if (fs_rank_beats(&a->rank, &b->rank))
                return -1;
        return fs_rank_beats(&b->rank, &a->rank) ? 1 : 0;
}

/* 1 if row I wants the same name as row I-1. */
static int names_same_want(const struct names_rows *r, size_t i)
{
        return i > 0 && r->v[i].w.parent == r->v[i - 1].w.parent &&
               strcmp(r->v[i].w.name, r->v[i - 1].w.name) == 0;
}

/* Gives ROW's file the name it wants, if free or held by a file it beats; *MOVED if it did. */
static int names_settle_one(struct fs *fs, struct names_row *row, int *moved)
{
        uint64_t holder;
        int rc = index_lookup(fs->ix, row->w.parent, row->w.name, row->w.name_len, &holder);

        *moved = 0;
        if (rc == 0 && holder == row->ino)
                return fs_names_placed(fs, row->file_id);
        if (rc == 0) {
                rc = names_displace_holder(fs, row, holder);
                if (rc == 1)
                        return 0;
        } else if (rc == -ENOENT) {
                rc = 0;
        }
        if (rc == 0)
                rc = names_move_idle(fs, row->w.parent, row->w.shown, row->w.parent, row->w.name,
                                     row->ino, (uint8_t)row->rank.kind);
        if (rc == 1)
                return 0; /* being committed since the row was checked: settled after */
        if (rc == 0)
                rc = fs_names_placed(fs, row->file_id);
        if (rc == 0)
                *moved = 1;
        return rc;
}

/* One pass over the rows; *MOVED counts the files that took their name back. */
static int names_pass(struct fs *fs, size_t *moved)
{
        struct names_rows r = {NULL, 0, 0, 0};
        size_t i;
        int rc = index_for_each_want(fs->ix, names_collect, &r);

        for (i = 0; i < r.n && rc == 0; i++) {
                int ok = r.v[i].valid ? names_row_check(fs, &r.v[i]) : 0;

                if (ok < 0) {
                        rc = ok;
                        break;
                }
                r.v[i].valid = ok;
                if (!ok)
                        rc = fs_names_placed(fs, r.v[i].file_id); /* stale: dropped */
        }
        if (rc == 0 && r.n > 1) /* r.v is NULL when the table is empty */
                qsort(r.v, r.n, sizeof(*r.v), names_order);
        for (i = 0; i < r.n && rc == 0 && r.v[i].valid; i++) {
                int m = 0;

                if (names_same_want(&r, i))
                        continue; /* the name goes to the group's first (best) row or stays */
                if (r.v[i].busy)
                        continue; /* its commit makes the row stale, or it is settled after */
                rc = names_settle_one(fs, &r.v[i], &m);
                *moved += (size_t)m;
        }
        if (r.malformed)
                log_err("index: a displaced-name record is malformed (dropped)");
        free(r.v);
        return rc;
}

/*
 * Moves ROW's file (settled, still displaced) to the shortest form of its
 * conflict name that no other file holds, if it shows another one: a form
 * taken when a longer one was needed goes back once it is free (U4).  A file
 * with a local change not committed yet stays: its next version carries the
 * name it shows.
 */
static int names_shorten_one(struct fs *fs, const struct names_row *row, size_t *moved)
{
        struct fs_inode *in;
        struct fs_rank r;
        char alt[256];
        uint64_t mtime;
        int rc = fs_inode_get(fs, row->ino, &in);

        if (rc != 0)
                return rc;
        pthread_rwlock_rdlock(&in->lock);
        fs_rank_of_holder(fs, in, &r);
        mtime = (uint64_t)in->mtime.tv_sec;
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(fs, in);
        if (r.lamport == UINT64_MAX)
                return 0;
        rc = fs_conflict_name(fs, row->w.parent, row->w.name, r.author, mtime, row->file_id,
                              row->ino, alt);
        if (rc != 0 || strcmp(alt, row->w.shown) == 0)
                return rc;
        rc = names_move_idle(fs, row->w.parent, row->w.shown, row->w.parent, alt, row->ino,
                             (uint8_t)r.kind);
        if (rc == 1)
                return 0; /* being committed: its version names the form it shows */
        if (rc == 0)
                rc = fs_names_displaced(fs, row->file_id, row->w.hash, row->w.parent, row->w.name,
                                        alt);
        if (rc == 0)
                (*moved)++;
        return rc;
}

/* Every displaced file to its shortest free form (names_shorten_one), once rule 5 settled. */
static int names_shorten(struct fs *fs, size_t *moved)
{
        struct names_rows r = {NULL, 0, 0, 0};
        size_t i;
        int rc = index_for_each_want(fs->ix, names_collect, &r);

        for (i = 0; i < r.n && rc == 0; i++) {
                int ok = r.v[i].valid ? names_row_check(fs, &r.v[i]) : 0;

                if (ok < 0)
                        rc = ok;
                else if (ok)
                        rc = names_shorten_one(fs, &r.v[i], moved);
        }
        free(r.v);
        return rc;
}

int fs_names_settle(struct fs *fs)
{
        size_t moved = 0, shorter = 0, pass;
        int rc = 0;

        pthread_mutex_lock(&fs->ns_lock);
        rc = fs_held_settle_locked(fs); /* U6: an emptied held directory frees its name */
        if (rc != 0)
                log_err("cannot drop the held directories that are empty: %s", strerror(-rc));
        for (pass = 0; pass < 4 && rc == 0; pass++) {
                size_t before = moved;

                rc = names_pass(fs, &moved);
                if (moved == before)
                        break;
        }
        if (rc == 0)
                rc = names_shorten(fs, &shorter);
        pthread_mutex_unlock(&fs->ns_lock);
        if (rc != 0)
                log_err("rule 5: cannot give displaced files their names back: %s", strerror(-rc));
        else if (moved > 0)
                log_info("rule 5: %zu file(s) took back the name their version wants", moved);
        if (rc == 0 && shorter > 0)
                log_info("rule 5: %zu displaced file(s) now shown under a shorter conflict name",
                         shorter);
        return rc;
}
