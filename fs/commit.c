/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The committer (doc/SYNC.md "State machine", step 1): changed inodes and
 * pending deletions become packs plus one signed journal entry, written
 * durably to the outbox; then the index records the new state in the same
 * group commit.
 *
 * Invariants:
 *  1. The outbox holds an entry only once its packs are there (packs are
 *     written first, each atomically).
 *  2. The pusher uploads an entry only when its seq <= fs->committed_seq,
 *     i.e. once the index state that follows from it is durable.  An entry
 *     beyond that after a crash was never uploaded and is discarded at the
 *     next mount (fs_commit_init), so no two different entries ever carry
 *     one seq.
 *  3. A failed commit loses nothing: every dirty mark taken is put back.
 *  4. Locks are held briefly: an inode's write lock only to take its dirty
 *     marks and fix final flags, its read lock while its blocks are read and
 *     packed (readers go on; a block changed in between is -EAGAIN and the
 *     file waits for the next round), and the namespace lock only while the
 *     index takes the result.  A file unlinked while it was being committed
 *     gets its pending tombstone rewritten with the version just committed,
 *     so the deletion still follows that version.
 */
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/enc.h"
#include "crypto/hash.h"
#include "crypto/secmem.h"
#include "fs/fsint.h"
#include "sync/confirm.h"
#include "sync/journal.h"
#include "sync/manifest.h"
#include "sync/pack.h"
#include "sync/push.h"
#include "sync/recipe.h"
#include "fs/pin.h"
#include "util/fileio.h"
#include "util/hex.h"
#include "util/log.h"

struct commit_ref {
        uint64_t idx;
        uint8_t hash[32];
};

struct commit_file {
        struct fs_inode *in; /* busy reference; NULL for a tombstone */
        uint8_t file_id[16];
        struct rangeset taken; /* dirty blocks taken from the inode */
        int was_dirty;
        uint8_t hash[32];
        uint64_t lamport;
        struct fs_vv *vv;
        size_t nvv;
        struct commit_ref *refs; /* new block references */
        size_t nrefs, capr;
        uint64_t nblocks;
        int skipped;    /* changed while being read: left for the next round */
        uint32_t mode;  /* permission bits (for the remembered deletion) */
        char name[256]; /* name and parent as committed (for a late tombstone) */
        size_t name_len;
        uint8_t parent_id[16];
        uint64_t alias_of; /* IN NULL: 0 for a tombstone, else a version of an alias of this
                              directory (U5: a local version of a merged directory) */
};

/* Where a record of this round's packs is: the pack index learns it with the commit. */
struct commit_rec {
        uint8_t hash[32];
        size_t pack; /* ordinal in COMMIT.packs */
        uint64_t off;
        uint32_t len;
};

struct commit {
        struct fs *fs;
        struct commit_rec *recs;
        size_t nrecs, caprecs;
        struct pack_builder pb;
        struct recipe_builder rb; /* the outbox gets the pack's recipe, not its bytes (#10) */
        uint32_t *pin_ids;        /* the recipes of this round (fs/pin.h), last one open */
        size_t npin_ids, cappin;
        int any_blocks; /* a recipe names ciphertext bytes: sync them before the entry */
        struct journal_pack *packs;
        size_t npacks, cappacks;
        struct journal_commit *commits;
        size_t *commit_pack; /* ordinal of the pack holding each commit's manifest */
        size_t ncommits, capc, capcp;
        struct commit_file *files;
        size_t nfiles, capf;
        uint8_t *sealed;
        int pack_failed;      /* the round's pack failed: no file can be committed */
        char entry_name[128]; /* outbox file of this round's entry, once written */
};

static void commit_u64be(uint8_t out[8], uint64_t v)
{
        for (int i = 7; i >= 0; i--) {
                out[i] = (uint8_t)v;
                v >>= 8;
        }
}

static uint64_t commit_get_u64(const uint8_t in[8])
{
        uint64_t v = 0;

        for (int i = 0; i < 8; i++)
                v = v << 8 | in[i];
        return v;
}

static int commit_grow(void **p, size_t *cap, size_t need, size_t size)
{
        size_t ncap;
        void *np;

        if (need <= *cap)
                return 0;
        ncap = *cap ? *cap * 2 : 16;
        while (ncap < need)
                ncap *= 2;
        np = realloc(*p, ncap * size);
        if (np == NULL)
                return -ENOMEM;
        *p = np;
        *cap = ncap;
        return 0;
}

/*
 * Closes the current pack: the outbox gets its recipe "r-<hash>" (where its
 * records are: doc/DESIGN.md "Write once"), not its bytes, and a new pack
 * starts.  The pack's bytes are only hashed here, to name it and checksum
 * it for the pusher (a hashed builder keeps no record bytes; D8).
 */
static int commit_flush_pack(struct commit *c)
{
        char name[80], hex[65], path[PATH_MAX];
        uint8_t *bytes = NULL, *rbytes = NULL, hash[32], sha[SHA256_LEN];
        size_t len = 0, rlen = 0, i;
        int rc;

        if (pack_builder_count(&c->pb) == 0)
                return 0;
        rc = commit_grow((void **)&c->packs, &c->cappacks, c->npacks + 1, sizeof(*c->packs));
        if (rc == 0)
                rc = pack_builder_take(&c->pb, &bytes, &len, hash, sha); /* hashed: no BYTES */
        free(bytes);
        /*
         * D3: each pack must fit beside those waiting, as when the outbox held
         * their bytes (a store on this disk needs the room): otherwise the
         * round fails with -ENOSPC and its changes stay queued.
         */
        if (rc == 0)
                rc = fs_space_check(c->fs, fs_pin_queued(c->fs) + len, 0);
        if (rc == 0)
                rc = recipe_builder_take(&c->rb, hash, sha, len, &rbytes, &rlen);
        if (rc != 0)
                return rc;
        hex_encode(hex, hash, 32);
        snprintf(name, sizeof(name), "r-%s", hex);
        if (snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", c->fs->outbox_dirfd, name) >=
            (int)sizeof(path)) {
                free(rbytes);
                return -ENAMETOOLONG;
        }
        rc = fileio_write_atomic(path, rbytes, rlen, 0600, 0);
        free(rbytes);
        if (rc != 0) {
                log_err("commit: cannot write a pack recipe to the outbox: %s", strerror(-rc));
                return rc;
        }
        fs_pin_named(c->fs, c->pin_ids[c->npin_ids - 1], hash, len);
        push_kick(c->fs->push); /* D7: it may go up before the round's entry */
        memcpy(c->packs[c->npacks].hash, hash, 32);
        c->packs[c->npacks].size = len;
        for (i = 0; i < c->ncommits; i++)
                if (c->commit_pack[i] == c->npacks)
                        memcpy(c->commits[i].pack_hash, hash, 32);
        c->npacks++;
        return 0; /* the builder is empty again (pack_builder_take) */
}

static int commit_add_to_pack(struct commit *c, uint8_t kind, const uint8_t *bytes, size_t len,
                              struct pack_entry *pe)
{
        int rc = 0;

        if (pack_builder_count(&c->pb) == 0) {
                /* A new pack: a new recipe whose blocks are pinned (fs/pin.h). */
                rc = commit_grow((void **)&c->pin_ids, &c->cappin, c->npin_ids + 1,
                                 sizeof(*c->pin_ids));
                if (rc != 0)
                        return rc;
                c->pin_ids[c->npin_ids++] = fs_pin_recipe_new(c->fs);
        }
        return pack_builder_add(&c->pb, kind, bytes, len, pe);
}

/*
 * Adds a record, starting a new pack when the current one would pass
 * FS_COMMIT_PACK_TARGET (a record larger than that goes alone into its pack)
 * or is full.  A block record (FID not NULL) is named in the recipe by where
 * its bytes are, OFF in FID's ciphertext file, and pinned there until its
 * pack is uploaded; the caller holds the inode's lock since it read them.
 */
static int commit_add(struct commit *c, uint8_t kind, const uint8_t *bytes, size_t len,
                      const uint8_t *fid, uint64_t off, struct pack_entry *pe)
{
        int rc = commit_grow((void **)&c->recs, &c->caprecs, c->nrecs + 1, sizeof(*c->recs));

        if (rc == 0 && pack_builder_count(&c->pb) > 0 &&
            pack_builder_size(&c->pb) + PACK_RECORD_HDR_LEN + len + PACK_ENTRY_LEN >
                FS_COMMIT_PACK_TARGET)
                rc = commit_flush_pack(c);
        if (rc == 0)
                rc = commit_add_to_pack(c, kind, bytes, len, pe);
        if (rc == -EFBIG) {
                rc = commit_flush_pack(c);
                if (rc == 0)
                        rc = commit_add_to_pack(c, kind, bytes, len, pe);
        }
        if (rc == 0 && fid != NULL) {
                recipe_builder_block(&c->rb, fid, off, (uint32_t)len, pe->hash);
                rc = fs_pin_add(c->fs, c->pin_ids[c->npin_ids - 1], fid, off, (uint32_t)len,
                                pe->hash);
                c->any_blocks = 1;
        } else if (rc == 0) {
                recipe_builder_inline(&c->rb, kind, bytes, (uint32_t)len, pe->hash);
        }
        if (rc != 0)
                c->pack_failed = 1; /* earlier files' records may be lost with it */
        if (rc == 0) {
                struct commit_rec *r = &c->recs[c->nrecs++];

                memcpy(r->hash, pe->hash, 32);
                r->pack = c->npacks;
                r->off = pe->off;
                r->len = pe->len;
        }
        return rc;
}

/* Appends the manifest MBYTES for FILE_ID as a record and a journal commit. */
static int commit_manifest(struct commit *c, const uint8_t file_id[16], const uint8_t *mbytes,
                           size_t mlen, uint8_t hash_out[32])
{
        struct pack_entry pe;
        int rc;

        rc = commit_grow((void **)&c->commits, &c->capc, c->ncommits + 1, sizeof(*c->commits));
        if (rc == 0)
                rc = commit_grow((void **)&c->commit_pack, &c->capcp, c->ncommits + 1,
                                 sizeof(*c->commit_pack));
        if (rc == 0)
                rc = commit_add(c, PACK_KIND_MANIFEST, mbytes, mlen, NULL, 0, &pe);
        if (rc != 0)
                return rc;
        memcpy(c->commits[c->ncommits].file_id, file_id, 16);
        memcpy(c->commits[c->ncommits].manifest_hash, pe.hash, 32);
        memset(c->commits[c->ncommits].pack_hash, 0, 32);
        c->commits[c->ncommits].off = pe.off;
        c->commits[c->ncommits].len = pe.len;
        c->commit_pack[c->ncommits] = c->npacks;
        c->ncommits++;
        memcpy(hash_out, pe.hash, 32);
        return 0;
}

/* New version vector: VV with this device's counter incremented (sorted). */
/* The next Lamport time: above the clock, FILE_LAMPORT and every version applied. */
static uint64_t commit_next_lamport(const struct fs *fs, uint64_t file_lamport)
{
        uint64_t t = fs->lamport_clock;
        uint64_t seen = atomic_load(&fs->lamport_seen);

        if (file_lamport > t)
                t = file_lamport;
        if (seen > t)
                t = seen;
        return t + 1;
}

static int commit_bump_vv(const struct fs *fs, const struct fs_vv *vv, size_t n, struct fs_vv **out,
                          size_t *nout)
{
        struct fs_vv *nv = malloc((n + 1) * sizeof(*nv));
        size_t i, j = 0;
        int done = 0;

        if (nv == NULL)
                return -ENOMEM;
        for (i = 0; i < n; i++) {
                int cmp = memcmp(vv[i].device_id, fs->device_id, 16);

                if (!done && cmp > 0) {
                        memcpy(nv[j].device_id, fs->device_id, 16);
                        nv[j++].counter = 1;
                        done = 1;
                }
                nv[j] = vv[i];
                if (cmp == 0) {
                        nv[j].counter++;
                        done = 1;
                }
                j++;
        }
        if (!done) {
                memcpy(nv[j].device_id, fs->device_id, 16);
                nv[j++].counter = 1;
        }
        *out = nv;
        *nout = j;
        return 0;
}

static int commit_file_new(struct commit *c, struct commit_file **out)
{
        int rc = commit_grow((void **)&c->files, &c->capf, c->nfiles + 1, sizeof(*c->files));

        if (rc != 0)
                return rc;
        *out = &c->files[c->nfiles++];
        memset(*out, 0, sizeof(**out));
        rangeset_init(&(*out)->taken);
        return 0;
}

static int commit_xattr_cmp(const void *a, const void *b)
{
        const struct manifest_xattr *x = a, *y = b;
        size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
        int cmp = memcmp(x->name, y->name, n);

        if (cmp != 0)
                return cmp;
        return x->name_len < y->name_len ? -1 : x->name_len > y->name_len;
}

/* The manifest's sealed type of a special file's MODE (doc/SYNC.md C6). */
static uint8_t commit_special_type(uint32_t mode)
{
        return S_ISFIFO(mode)   ? MANIFEST_SPECIAL_FIFO
               : S_ISSOCK(mode) ? MANIFEST_SPECIAL_SOCK
               : S_ISCHR(mode)  ? MANIFEST_SPECIAL_CHR
                                : MANIFEST_SPECIAL_BLK;
}

/* Fills META's name, parent, mode, mtime, target, special type and xattrs for IN. */
static int commit_meta(struct fs *fs, struct fs_inode *in, struct manifest_meta *meta,
                       struct manifest_xattr **xs)
{
        uint64_t parent;
        uint8_t type;
        size_t i;
        int rc;

        memset(meta, 0, sizeof(*meta));
        rc = index_name_of(fs->ix, in->ino, &parent, meta->name, &meta->name_len, &type);
        if (rc != 0)
                return rc;
        if (parent != INDEX_ROOT_INO) {
                struct fs_inode *p;

                rc = fs_inode_get(fs, parent, &p);
                if (rc != 0)
                        return rc;
                memcpy(meta->parent_id, p->file_id, 16);
                fs_inode_put(fs, p);
        }
        meta->mode = in->mode & 07777;
        meta->mtime_s = (uint64_t)in->mtime.tv_sec;
        meta->mtime_ns = (uint32_t)in->mtime.tv_nsec;
        if (in->kind == FS_KIND_LNK && in->target != NULL) {
                meta->target_len = strlen(in->target);
                memcpy(meta->target, in->target, meta->target_len + 1);
        }
        if (in->kind == FS_KIND_SPECIAL) {
                meta->special_type = commit_special_type(in->mode);
                meta->rdev = in->rdev;
        }
        *xs = NULL;
        if (in->nxattrs > 0) {
                *xs = calloc(in->nxattrs, sizeof(**xs));
                if (*xs == NULL)
                        return -ENOMEM;
                for (i = 0; i < in->nxattrs; i++) {
                        (*xs)[i].name = (const uint8_t *)in->xattrs[i].name;
                        (*xs)[i].name_len = strlen(in->xattrs[i].name);
                        (*xs)[i].value = in->xattrs[i].value;
                        (*xs)[i].value_len = in->xattrs[i].len;
                }
                qsort(*xs, in->nxattrs, sizeof(**xs), commit_xattr_cmp);
                meta->xattrs = *xs;
                meta->nxattrs = in->nxattrs;
        }
        return 0;
}

/*
 * 1 if IN's local block IDX, sealed as the final block, is exactly the
 * record HASH names; 0 if not (its old reference is then not final: a size
 * change whose mark was lost must not publish it as final), or an errno.
 */
static int commit_ref_is_final(struct commit *c, struct fs_inode *in, uint64_t idx,
                               const uint8_t hash[32])
{
        uint8_t h[32];
        size_t slen = 0;
        int rc = fs_content_sealed_ro(c->fs, in, idx, 1, c->sealed, &slen);

        if (rc != 0)
                return rc;
        hash_blake2b(h, c->sealed, slen);
        return memcmp(h, hash, 32) == 0;
}

/* 1 if block IDX of IN keeps its committed reference (into HASH), 0 if it is sealed anew. */
static int commit_ref_reuse(struct commit *c, struct commit_file *cf, struct fs_inode *in,
                            uint64_t idx, int final, uint8_t hash[32])
{
        if (rangeset_contains(&cf->taken, idx) || rangeset_contains(&in->dirty, idx) ||
            index_blockref_get(c->fs->ix, in->ino, idx, hash) != 0)
                return 0;
        /* A remote block's reference is final exactly when it was last in its manifest,
         * and every size change fetches the new last block first: it is local then. */
        if (!final || rangeset_contains(&in->remote, idx))
                return 1;
        return commit_ref_is_final(c, in, idx, hash);
}

/*
 * 1 if the sealed bytes of IN's block IDX just read (c->sealed, SLEN) are
 * exactly its committed reference, which goes into HASH: a block marked
 * dirty ahead of a write that never came (D2', fs/ops.c) is not published
 * again.  0 if not, or an errno.
 */
static int commit_ref_unchanged(struct commit *c, struct fs_inode *in, uint64_t idx, size_t slen,
                                uint8_t hash[32])
{
        uint8_t old[32], h[32];

        if (index_blockref_get(c->fs->ix, in->ino, idx, old) != 0)
                return 0;
        hash_blake2b(h, c->sealed, slen);
        if (memcmp(h, old, 32) != 0)
                return 0;
        memcpy(hash, old, 32);
        return 1;
}

/* Block references of file IN: new blocks go into the pack. */
static int commit_refs(struct commit *c, struct commit_file *cf, struct fs_inode *in,
                       struct manifest_ref **refs, size_t *nrefs)
{
        struct fs *fs = c->fs;
        /* Not a block buffered since the marks were taken (doc/DESIGN.md "Small writes"). */
        uint64_t nblocks = (fs_content_record_size(in) + fs->bs - 1) / fs->bs;
        size_t cap = 0, n = 0, r;
        int rc = 0;

        *refs = NULL;
        cf->nblocks = nblocks;
        for (r = 0; r < in->blocks.n && rc == 0; r++) {
                uint64_t idx, end = in->blocks.r[r].end < nblocks ? in->blocks.r[r].end : nblocks;

                for (idx = in->blocks.r[r].start; idx < end && rc == 0; idx++) {
                        struct manifest_ref *ref;
                        int final = idx == nblocks - 1;

                        rc = commit_grow((void **)refs, &cap, n + 1, sizeof(**refs));
                        if (rc != 0)
                                break;
                        ref = &(*refs)[n++];
                        ref->index = idx;
                        ref->final = (uint8_t) final;
                        rc = commit_ref_reuse(c, cf, in, idx, final, ref->hash);
                        if (rc < 0)
                                break;
                        if (rc == 1) {
                                rc = 0;
                                continue;
                        }
                        {
                                struct pack_entry pe;
                                size_t slen = 0;

                                rc = fs_content_sealed_ro(fs, in, idx, final, c->sealed, &slen);
                                if (rc == 0) {
                                        rc = commit_ref_unchanged(c, in, idx, slen, ref->hash);
                                        if (rc == 1) {
                                                rc = 0;
                                                continue; /* D2': marked, not rewritten */
                                        }
                                }
                                if (rc == 0)
                                        rc = commit_add(
                                            c, PACK_KIND_BLOCK, c->sealed, slen, in->file_id,
                                            FS_FILE_HDR_LEN + idx * (uint64_t)fs->slot_len +
                                                FS_SLOT_HDR_LEN,
                                            &pe);
                                if (rc == 0)
                                        rc = commit_grow((void **)&cf->refs, &cf->capr,
                                                         cf->nrefs + 1, sizeof(*cf->refs));
                                if (rc != 0)
                                        break;
                                memcpy(ref->hash, pe.hash, 32);
                                cf->refs[cf->nrefs].idx = idx;
                                memcpy(cf->refs[cf->nrefs].hash, pe.hash, 32);
                                cf->nrefs++;
                        }
                }
        }
        if (rc != 0) {
                free(*refs);
                *refs = NULL;
                return rc;
        }
        *nrefs = n;
        return 0;
}

static uint8_t commit_kind(int kind)
{
        return kind == FS_KIND_DIR       ? MANIFEST_DIR
               : kind == FS_KIND_LNK     ? MANIFEST_SYMLINK
               : kind == FS_KIND_SPECIAL ? MANIFEST_SPECIAL
                                         : MANIFEST_FILE;
}

/* Builds and signs the manifest of IN (caller holds IN->lock for writing). */
static int commit_build(struct commit *c, struct commit_file *cf, struct fs_inode *in)
{
        struct fs *fs = c->fs;
        struct manifest m;
        struct manifest_meta meta;
        struct manifest_xattr *xs = NULL;
        struct manifest_ref *refs = NULL;
        const uint8_t *key;
        uint8_t *bytes = NULL;
        size_t nrefs = 0, len = 0;
        int rc;

        memset(&m, 0, sizeof(m));
        m.version = MANIFEST_VERSION;
        memcpy(m.region_id, fs->region_id, 32);
        memcpy(m.file_id, in->file_id, 16);
        m.kind = commit_kind(in->kind);
        memcpy(m.author, fs->device_id, 16);
        fs->lamport_clock = commit_next_lamport(fs, in->lamport);
        m.lamport = cf->lamport = fs->lamport_clock;
        rc = commit_bump_vv(fs, in->vv, in->nvv, &cf->vv, &cf->nvv);
        if (rc != 0)
                return rc;
        m.vv = (struct manifest_vv *)cf->vv; /* same layout: id[16], u64 */
        m.nvv = cf->nvv;
        if (in->has_manifest) {
                m.parents = &in->manifest_hash;
                m.nparents = 1;
        }
        /* fs_content_to_current moved IN to the current epoch when its marks were taken. */
        key = fs_keys_find(fs, in->epoch_id);
        if (key == NULL)
                return -EIO;
        memcpy(m.epoch_id, in->epoch_id, 32);
        memcpy(m.salt, in->salt, 32);
        rc = manifest_key_commit(m.key_commit, key, in->file_id, in->salt);
        m.block_size = fs->bs;
        if (rc == 0 && in->kind == FS_KIND_REG) {
                m.size = fs_content_record_size(in);
                rc = commit_refs(c, cf, in, &refs, &nrefs);
                m.refs = refs;
                m.nrefs = nrefs;
        }
        if (rc == 0)
                rc = commit_meta(fs, in, &meta, &xs);
        if (rc == 0) {
                memcpy(cf->name, meta.name, meta.name_len + 1);
                cf->name_len = meta.name_len;
                memcpy(cf->parent_id, meta.parent_id, 16);
        }
        if (rc == 0) {
                rc = manifest_encode_sign(&m, &meta, key, fs->sign_sk, &bytes, &len);
                secmem_wipe(&meta, sizeof(meta));
        }
        if (rc == 0)
                rc = commit_manifest(c, in->file_id, bytes, len, cf->hash);
        free(bytes);
        free(xs);
        free(refs);
        return rc;
}

_Static_assert(sizeof(struct fs_vv) == sizeof(struct manifest_vv), "vv layouts agree");

/* The version of alias ID (at A) of directory IN that IN's new version makes (U5). */
static int commit_alias_one(struct commit *c, struct fs_inode *in, const uint8_t id[16],
                            const struct fs_aliasver *a)
{
        static const uint8_t zero[32];
        struct fs *fs = c->fs;
        struct commit_file *cf;
        struct manifest m;
        struct manifest_meta meta;
        struct manifest_xattr *xs = NULL;
        uint8_t parent_hash[32], *bytes = NULL;
        const uint8_t *key = fs_keys_find(fs, in->epoch_id);
        size_t len = 0;
        int rc = key != NULL ? commit_file_new(c, &cf) : -EIO;

        if (rc != 0)
                return rc;
        memcpy(cf->file_id, id, 16);
        cf->alias_of = in->ino;
        rc = commit_bump_vv(fs, a->vv, a->nvv, &cf->vv, &cf->nvv);
        if (rc != 0)
                return rc;
        memset(&m, 0, sizeof(m));
        m.version = MANIFEST_VERSION;
        memcpy(m.region_id, fs->region_id, 32);
        memcpy(m.file_id, id, 16);
        m.kind = MANIFEST_DIR;
        memcpy(m.author, fs->device_id, 16);
        fs->lamport_clock = commit_next_lamport(fs, a->lamport);
        m.lamport = cf->lamport = fs->lamport_clock;
        m.vv = (struct manifest_vv *)cf->vv;
        m.nvv = cf->nvv;
        if (a->lamport != 0 || memcmp(a->hash, zero, 32) != 0) { /* an alias from before U5 has
                                                                    no version */
                memcpy(parent_hash, a->hash, 32);
                m.parents = &parent_hash;
                m.nparents = 1;
        }
        memcpy(m.epoch_id, in->epoch_id, 32);
        memcpy(m.salt, in->salt, 32); /* a directory has no content: any salt */
        m.block_size = fs->bs;
        rc = manifest_key_commit(m.key_commit, key, id, in->salt);
        if (rc == 0)
                rc = commit_meta(fs, in, &meta, &xs);
        if (rc == 0) {
                memcpy(cf->name, meta.name, meta.name_len + 1);
                cf->name_len = meta.name_len;
                memcpy(cf->parent_id, meta.parent_id, 16);
                cf->mode = meta.mode;
                rc = manifest_encode_sign(&m, &meta, key, fs->sign_sk, &bytes, &len);
                secmem_wipe(&meta, sizeof(meta));
        }
        if (rc == 0)
                rc = commit_manifest(c, id, bytes, len, cf->hash);
        free(bytes);
        free(xs);
        return rc;
}

/*
 * U5: a local version of a merged directory IN (a rename here, a mode, an
 * xattr) is a version of each of its ids, so that what the user sees moves
 * on every device, also where the ids never met: one manifest per live
 * alias, naming IN's place and attributes, each from that id's own
 * version.  Caller holds IN->lock; IN is committing, so fs/apply.c leaves
 * the versions of its aliases waiting meanwhile.
 */
static int commit_aliases(struct commit *c, struct fs_inode *in)
{
        struct fs_aliasver *vers = NULL;
        uint8_t(*ids)[16] = NULL;
        size_t n = 0, i;
        int rc = fs_alias_live_list(c->fs, in->ino, &ids, &vers, &n);

        for (i = 0; i < n && rc == 0; i++)
                rc = commit_alias_one(c, in, ids[i], &vers[i]);
        for (i = 0; i < n; i++)
                free(vers[i].vv);
        free(vers);
        free(ids);
        return rc;
}

/*
 * Taken block IDX of IN must be local before it is sealed into the pack: a
 * remote block is fetched (caller holds the write lock and commit_lock).
 * A failure is -EAGAIN: the inode is skipped this round, its marks kept.
 */
static int commit_need_local(struct fs *fs, struct fs_inode *in, uint64_t idx)
{
        if (!rangeset_contains(&in->remote, idx))
                return 0;
        return fs_fetch_locked(fs, in, idx, idx + 1) == 0 ? 0 : -EAGAIN;
}

/*
 * The last block keeps its old reference unless taken: if its recorded flag
 * is not final (a size change whose mark was lost), that reference must
 * not be published as final, so it is re-sealed and taken (backstop).
 */
static int commit_fix_last(struct fs *fs, struct commit_file *cf, struct fs_inode *in,
                           uint64_t last)
{
        int rc;

        if (rangeset_contains(&cf->taken, last) || !rangeset_contains(&in->blocks, last) ||
            rangeset_contains(&in->remote, last))
                return 0; /* remote: its reference is final in the manifest it came from */
        rc = fs_content_fix_final(fs, in, last, 1);
        if (rc > 0)
                rc = rangeset_add(&cf->taken, last, last + 1);
        return rc;
}

/* Fixes the recorded final flag of the taken blocks (caller holds the write lock). */
static int commit_fix_flags(struct commit *c, struct commit_file *cf, struct fs_inode *in)
{
        struct fs *fs = c->fs;
        uint64_t nblocks = (in->size + fs->bs - 1) / fs->bs;
        size_t r;
        int rc = 0;

        if (in->kind != FS_KIND_REG)
                return 0;
        for (r = 0; r < cf->taken.n && rc == 0; r++) {
                uint64_t idx, end = cf->taken.r[r].end < nblocks ? cf->taken.r[r].end : nblocks;

                for (idx = cf->taken.r[r].start; idx < end && rc == 0; idx++) {
                        if (!rangeset_contains(&in->blocks, idx))
                                continue;
                        rc = commit_need_local(fs, in, idx);
                        if (rc == 0)
                                rc = fs_content_fix_final(fs, in, idx, idx == nblocks - 1);
                        if (rc > 0)
                                rc = 0; /* re-sealed */
                }
        }
        if (rc == 0 && nblocks > 0)
                rc = commit_fix_last(fs, cf, in, nblocks - 1);
        return rc < 0 ? rc : 0;
}

/* Puts CF's dirty marks back into its inode (caller holds the write lock). */
static void commit_restore_one(struct fs *fs, struct commit_file *cf)
{
        struct fs_inode *in = cf->in;
        size_t r;

        if (cf->taken.n > 0)
                in->dirty_gen = index_commit_gen(fs->ix); /* D2: not known durable */
        for (r = 0; r < cf->taken.n; r++)
                if (rangeset_add(&in->dirty, cf->taken.r[r].start, cf->taken.r[r].end) != 0)
                        log_err("commit: out of memory restoring dirty marks of inode %llu; its "
                                "next change re-marks it",
                                (unsigned long long)in->ino);
        rangeset_truncate(&cf->taken, 0);
        if (cf->was_dirty)
                in->sync_dirty = 1;
        in->committing = 0;
}

/*
 * IN could not be committed this round (RC): logged once per inode and
 * errno (-EAGAIN, a change or a fetch racing the round, quietly); its
 * changes stay marked and the other files go on.
 */
/* Records (RC < 0) or forgets (RC == 0) IN as a file that cannot be committed. */
static void commit_stuck_note(struct fs *fs, const struct fs_inode *in, int rc)
{
        size_t i;

        pthread_mutex_lock(&fs->stuck_lock);
        for (i = 0; i < fs->nstuck && fs->stuck[i].ino != in->ino; i++)
                ;
        if (i < fs->nstuck && rc == 0) {
                fs->stuck[i] = fs->stuck[--fs->nstuck];
        } else if (i < fs->nstuck) {
                fs->stuck[i].err = rc;
        } else if (rc != 0) {
                struct fs_stuck *v = realloc(fs->stuck, (fs->nstuck + 1) * sizeof(*v));

                if (v != NULL) {
                        fs->stuck = v;
                        v[fs->nstuck].ino = in->ino;
                        memcpy(v[fs->nstuck].file_id, in->file_id, 16);
                        v[fs->nstuck].err = rc;
                        fs->nstuck++;
                } /* else: still logged, and `sync` still counts it */
        }
        pthread_mutex_unlock(&fs->stuck_lock);
}

int fs_commit_stuck(struct fs *fs, struct fs_stuck **out, size_t *n)
{
        int rc = 0;

        *out = NULL;
        pthread_mutex_lock(&fs->stuck_lock);
        *n = fs->nstuck;
        if (fs->nstuck > 0) {
                *out = malloc(fs->nstuck * sizeof(**out));
                if (*out != NULL)
                        memcpy(*out, fs->stuck, fs->nstuck * sizeof(**out));
                else
                        rc = -ENOMEM;
        }
        pthread_mutex_unlock(&fs->stuck_lock);
        return rc;
}

void fs_commit_fini(struct fs *fs)
{
        free(fs->stuck);
        fs->stuck = NULL;
        fs->nstuck = 0;
}

static void commit_inode_failed(struct fs *fs, struct fs_inode *in, int rc)
{
        char fid[33];

        if (rc == -EAGAIN)
                return;
        commit_stuck_note(fs, in, rc);
        atomic_fetch_add(&fs->commit_failed, 1); /* `sync` reports it */
        if (in->commit_err == rc)
                return;
        in->commit_err = rc;
        hex_encode(fid, in->file_id, 16);
        log_err("commit: file %s (inode %llu) cannot be committed (%s); it stays queued and "
                "the other files are published",
                fid, (unsigned long long)in->ino, strerror(-rc));
}

static int commit_inode(void *arg, uint64_t ino)
{
        struct commit *c = arg;
        struct fs *fs = c->fs;
        struct commit_file *cf;
        struct fs_inode *in;
        int rc;

        rc = fs_inode_get(fs, ino, &in);
        if (rc == -ENOENT)
                return 0; /* deleted since the dirty list was read: its tombstone covers it */
        if (rc != 0)
                return rc;
        pthread_rwlock_wrlock(&in->lock);
        /* A buffered block is sealed before the marks are taken (doc/DESIGN.md "Small writes"). */
        rc = fs_content_flush(fs, in);
        if (rc != 0)
                goto fail;
        if (ino == INDEX_ROOT_INO || in->nlink == 0) {
                /* The root has no manifest; a deleted file is covered by its tombstone. */
                commit_stuck_note(fs, in, 0);
                in->sync_dirty = 0;
                rangeset_truncate(&in->dirty, 0);
                in->dirty_flagged = 0;
                rc = index_set_dirty(fs->ix, ino, 0);
                if (rc == 0)
                        rc = fs_inode_save(fs, in);
                pthread_rwlock_unlock(&in->lock);
                fs_inode_put(fs, in);
                return rc;
        }
        /* Lazy re-encryption (doc/DESIGN.md "Key epochs"): a version is never under an old epoch.
         */
        rc = fs_content_to_current(fs, in);
        if (rc == 0)
                rc = commit_file_new(c, &cf);
        if (rc != 0)
                goto fail;
        cf->in = in;
        memcpy(cf->file_id, in->file_id, 16);
        /* Take the dirty marks; writes from now on mark the inode again (invariant 3). */
        cf->taken = in->dirty;
        rangeset_init(&in->dirty);
        cf->was_dirty = in->sync_dirty;
        in->sync_dirty = 0;
        in->committing = 1; /* fs/apply.c waits for this round */
        rc = commit_fix_flags(c, cf, in);
        pthread_rwlock_unlock(&in->lock);
        if (rc == 0) {
                pthread_rwlock_rdlock(&in->lock);
                rc = commit_build(c, cf, in);
                if (rc == 0 && in->kind == FS_KIND_DIR) {
                        rc = commit_aliases(c, in);
                        if (rc != 0) /* IN's manifest is in the round already: it fails whole */
                                c->pack_failed = 1;
                }
                pthread_rwlock_unlock(&in->lock);
        }
        pthread_rwlock_wrlock(&in->lock);
        if (rc != 0 && !c->pack_failed) {
                /* One file's failure does not hold the others back. */
                commit_inode_failed(fs, in, rc);
                commit_restore_one(fs, cf);
                cf->skipped = 1;
                rc = 0;
        } else if (rc == 0) {
                in->commit_err = 0;
                commit_stuck_note(fs, in, 0);
        }
        fs_inode_idle_locked(fs, in);
        pthread_rwlock_unlock(&in->lock);
        return rc; /* on error the caller restores cf */
fail:
        commit_inode_failed(fs, in, rc);
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(fs, in);
        return 0; /* its marks were not taken: tried again next round */
}

struct commit_tomb {
        uint8_t file_id[16];
        uint8_t *state;
        size_t len;
};

struct commit_tombs {
        struct commit_tomb *t;
        size_t n, cap;
};

static int commit_collect_tomb(void *arg, const uint8_t *file_id, const uint8_t *state, size_t len)
{
        struct commit_tombs *ts = arg;
        int rc = commit_grow((void **)&ts->t, &ts->cap, ts->n + 1, sizeof(*ts->t));

        if (rc != 0)
                return rc;
        ts->t[ts->n].state = malloc(len ? len : 1);
        if (ts->t[ts->n].state == NULL)
                return -ENOMEM;
        memcpy(ts->t[ts->n].file_id, file_id, 16);
        memcpy(ts->t[ts->n].state, state, len);
        ts->t[ts->n].len = len;
        ts->n++;
        return 0;
}

/* Builds the tombstone manifest for one pending deletion. */
static int commit_tomb(struct commit *c, const struct commit_tomb *t)
{
        struct fs *fs = c->fs;
        struct commit_file *cf;
        struct manifest m;
        struct manifest_meta meta;
        struct fs_vv *vv = NULL;
        uint8_t parent_hash[32], *bytes = NULL;
        const uint8_t *name, *key;
        size_t nvv, nlen, len = 0;
        uint64_t lamport;
        struct dec d;
        int rc;

        memset(&m, 0, sizeof(m));
        memset(&meta, 0, sizeof(meta));
        dec_init(&d, t->state, t->len);
        lamport = dec_u64(&d);
        dec_fixed(&d, parent_hash, 32);
        rc = fs_vv_get(&d, &vv, &nvv);
        if (rc != 0)
                return rc;
        (void)dec_u8(&d); /* kind it had */
        meta.mode = dec_u32(&d) & 07777;
        meta.mtime_s = dec_u64(&d);
        meta.mtime_ns = dec_u32(&d);
        dec_fixed(&d, meta.parent_id, 16);
        dec_var(&d, &name, &nlen, MANIFEST_NAME_MAX);
        rc = dec_finish(&d);
        if (rc == 0 && nlen == 0)
                rc = -EBADMSG;
        if (rc != 0)
                goto out;
        memcpy(meta.name, name, nlen);
        meta.name_len = nlen;
        rc = commit_file_new(c, &cf);
        if (rc != 0)
                goto out;
        memcpy(cf->file_id, t->file_id, 16);
        memcpy(cf->name, meta.name, meta.name_len);
        cf->name[meta.name_len] = '\0';
        cf->name_len = meta.name_len;
        cf->mode = meta.mode;
        memcpy(cf->parent_id, meta.parent_id, 16);
        rc = commit_bump_vv(fs, vv, nvv, &cf->vv, &cf->nvv);
        if (rc != 0)
                goto out;
        m.version = MANIFEST_VERSION;
        memcpy(m.region_id, fs->region_id, 32);
        memcpy(m.file_id, t->file_id, 16);
        m.kind = MANIFEST_TOMBSTONE;
        memcpy(m.author, fs->device_id, 16);
        fs->lamport_clock = commit_next_lamport(fs, lamport);
        m.lamport = cf->lamport = fs->lamport_clock;
        m.vv = (struct manifest_vv *)cf->vv;
        m.nvv = cf->nvv;
        m.parents = &parent_hash;
        m.nparents = 1;
        key = fs_keys_current(fs, m.epoch_id);
        m.block_size = fs->bs;
        rc = manifest_key_commit(m.key_commit, key, t->file_id, m.salt);
        if (rc == 0)
                rc = manifest_encode_sign(&m, &meta, key, fs->sign_sk, &bytes, &len);
        if (rc == 0)
                rc = commit_manifest(c, t->file_id, bytes, len, cf->hash);
out:
        secmem_wipe(&meta, sizeof(meta));
        free(bytes);
        free(vv);
        return rc;
}

/*
 * 1 if T's file is committed as a live version in this round already: one
 * entry names a file once (journal_check refuses it: "cannot encode the
 * journal entry", issue #11 case 6), so the deletion waits for a later round
 * (logged) and the round goes on.
 */
static int commit_tomb_clashes(const struct commit *c, const struct commit_tomb *t)
{
        char fid[33];
        size_t i;

        for (i = 0; i < c->nfiles; i++) {
                if (!c->files[i].skipped && memcmp(c->files[i].file_id, t->file_id, 16) == 0) {
                        hex_encode(fid, t->file_id, 16);
                        log_warn("commit: file %s has a live version and a pending deletion in "
                                 "one round; the deletion waits",
                                 fid);
                        return 1;
                }
        }
        return 0;
}

static int commit_cmp_commit(const void *a, const void *b)
{
        return memcmp(((const struct journal_commit *)a)->file_id,
                      ((const struct journal_commit *)b)->file_id, 16);
}

static int commit_cmp_pack(const void *a, const void *b)
{
        return memcmp(((const struct journal_pack *)a)->hash,
                      ((const struct journal_pack *)b)->hash, 32);
}

/* Signs the journal entry and writes it to the outbox (invariant 1). */
#define COMMIT_SYNC_FILES 64 /* more files with new blocks in a round: one syncfs */

/*
 * Makes the ciphertext files whose blocks this round's recipes name durable
 * (doc/SYNC.md D5): each one's fdatasync, or one syncfs of the data
 * directory's file system when more than COMMIT_SYNC_FILES have new blocks
 * (an untar: a sync per file would cost more than the whole disk's).
 */
static int commit_sync_data(struct commit *c)
{
        size_t i, n = 0;

        for (i = 0; i < c->nfiles; i++)
                n += c->files[i].in != NULL && c->files[i].nrefs > 0;
        if (n > COMMIT_SYNC_FILES)
                return syncfs(c->fs->data_dirfd) == 0 ? 0 : -errno;
        for (i = 0; i < c->nfiles; i++) {
                char path[40];
                int fd, rc = 0;

                /* A file skipped after some of its blocks were packed: those count too. */
                if (c->files[i].in == NULL || c->files[i].nrefs == 0)
                        continue;
                fs_content_path(c->files[i].file_id, path);
                fd = openat(c->fs->data_dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0 && errno == ENOENT) /* removed meanwhile: its inode is in keep/ */
                        return syncfs(c->fs->data_dirfd) == 0 ? 0 : -errno;
                if (fd < 0 || fdatasync(fd) != 0)
                        rc = -errno;
                if (fd >= 0)
                        close(fd);
                if (rc != 0)
                        return rc;
        }
        return 0;
}

static int commit_entry(struct commit *c, uint8_t hash[32])
{
        struct fs *fs = c->fs;
        struct journal_entry e;
        struct journal_seen *seen = NULL;
        struct timespec now;
        char name[128], hex[65], path[PATH_MAX];
        uint8_t *bytes = NULL;
        size_t len = 0, nseen = 0;
        int rc;

        /* W1 (doc/SYNC.md): the peers' entries applied here, those moved since the last entry. */
        if (fs->pull != NULL) {
                rc = pull_seen_fill(fs->pull, &seen, &nseen);
                if (rc != 0) {
                        log_err("commit: cannot read the peers' marks: %s", strerror(-rc));
                        return rc;
                }
        }
        memset(&e, 0, sizeof(e));
        e.version = JOURNAL_VERSION;
        memcpy(e.region_id, fs->region_id, 32);
        memcpy(e.device_id, fs->device_id, 16);
        e.seq = fs->journal_seq + 1;
        if (e.seq > 1)
                memcpy(e.prev, fs->journal_head, 32);
        pthread_mutex_lock(&fs->head_lock); /* fs_set_member_head */
        memcpy(e.member_head, fs->member_head, 32);
        pthread_mutex_unlock(&fs->head_lock);
        clock_gettime(CLOCK_REALTIME, &now);
        e.time_ms = (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
        qsort(c->commits, c->ncommits, sizeof(*c->commits), commit_cmp_commit);
        qsort(c->packs, c->npacks, sizeof(*c->packs), commit_cmp_pack);
        e.commits = c->commits;
        e.ncommits = c->ncommits;
        e.packs = c->packs;
        e.npacks = c->npacks;
        e.seen = seen;
        e.nseen = nseen;
        rc = journal_encode_sign(&e, fs->sign_sk, &bytes, &len, hash);
        if (rc == 0 && nseen > 0)
                rc = pull_seen_note(fs->pull, seen, nseen); /* in this commit's transaction */
        free(seen);
        if (rc != 0) {
                free(bytes);
                log_err("commit: cannot encode the journal entry: %s", strerror(-rc));
                return rc;
        }
        /*
         * D5: the recipes name bytes in ciphertext files the writers may not
         * have synced; they are durable before an entry names their packs.
         */
        rc = c->any_blocks ? commit_sync_data(c) : 0;
        if (rc != 0) {
                free(bytes);
                log_err("commit: cannot sync the ciphertext files: %s", strerror(-rc));
                return rc;
        }
        hex_encode(hex, hash, 32);
        snprintf(name, sizeof(name), "j-%016llx-%s", (unsigned long long)e.seq, hex);
        memcpy(c->entry_name, name, sizeof(c->entry_name));
        snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", fs->outbox_dirfd, name);
        rc = fileio_write_atomic(path, bytes, len, 0600, 1);
        free(bytes);
        if (rc != 0)
                log_err("commit: cannot write the journal entry to the outbox: %s", strerror(-rc));
        return rc;
}

static int commit_retomb_as(struct fs *fs, const uint8_t file_id[16], uint64_t lamport,
                            const uint8_t hash[32], const struct fs_vv *vv, size_t nvv);

/*
 * IN was unlinked while this round committed it (invariant 4): its pending
 * tombstone was made from the previous version; rewrite its version part.
 */
static int commit_retomb(struct fs *fs, struct fs_inode *in, const struct commit_file *cf)
{
        int rc = commit_retomb_as(fs, in->file_id, in->lamport, in->manifest_hash, in->vv, in->nvv);

        if (rc == -ENOENT) /* it had no version before this one: delete what we publish */
                return fs_inode_tombstone(fs, in, cf->parent_id, cf->name, cf->name_len);
        return rc;
}

/*
 * The pending tombstone of FILE_ID deletes version (LAMPORT, HASH, VV) from
 * now on (its version part rewritten); -ENOENT if none is pending.
 */
static int commit_retomb_as(struct fs *fs, const uint8_t file_id[16], uint64_t lamport,
                            const uint8_t hash[32], const struct fs_vv *vv, size_t nvv)
{
        uint8_t *old = NULL;
        size_t len = 0, head;
        struct enc e;
        struct dec d;
        uint32_t n;
        int rc = index_tomb_get(fs->ix, file_id, &old, &len);

        if (rc != 0)
                return rc;
        dec_init(&d, old, len);
        (void)dec_u64(&d);
        dec_fixed(&d, (uint8_t[32]){0}, 32);
        n = dec_u32(&d);
        head = 8 + 32 + 4 + (size_t)n * 24;
        if (d.err != 0 || n > FS_MAX_VV || head > len) {
                free(old);
                return -EBADMSG;
        }
        enc_init(&e);
        enc_u64(&e, lamport);
        enc_fixed(&e, hash, 32);
        fs_vv_put(&e, vv, nvv);
        enc_fixed(&e, old + head, len - head);
        rc = enc_error(&e);
        if (rc == 0)
                rc = index_tomb_add(fs->ix, file_id, e.buf, e.len);
        enc_release(&e);
        secmem_wipe(old, len);
        free(old);
        return rc;
}

/* SEALSYNC_DEBUG: one line per committed version (file id, inode, Lamport; no name). */
static void commit_trace(const struct commit_file *cf)
{
        char fid[33], pid[33];

        if (!log_enabled(LOG_LEVEL_DEBUG))
                return;
        hex_encode(fid, cf->file_id, 16);
        hex_encode(pid, cf->parent_id, 16);
        pid[8] = '\0';
        log_debug("commit: file %s (inode %llu, in %s) %s at Lamport %llu", fid,
                  cf->in != NULL ? (unsigned long long)cf->in->ino
                                 : (unsigned long long)cf->alias_of,
                  pid,
                  cf->in == NULL && cf->alias_of != 0 ? "version of a merged id"
                  : cf->in == NULL                    ? "deleted"
                  : cf->skipped                       ? "skipped"
                                                      : "version",
                  (unsigned long long)cf->lamport);
}

/*
 * The index side of a published alias version CF (U5): the alias's version;
 * or, if the directory was removed here meanwhile (rmdir: a tombstone of
 * each id is pending, made from the version before), that tombstone
 * deletes this version, as commit_retomb does for an inode.
 */
static int commit_alias_apply(struct fs *fs, const struct commit_file *cf)
{
        struct fs_aliasver a = {cf->lamport, {0}, {0}, cf->vv, cf->nvv};
        uint64_t at;
        int rc = index_alias_get(fs->ix, cf->file_id, &at);

        memcpy(a.author, fs->device_id, 16);
        memcpy(a.hash, cf->hash, 32);
        if (rc == 0 && at == cf->alias_of)
                return fs_alias_committed(fs, cf->file_id, cf->alias_of, &a);
        if (rc != 0 && rc != -ENOENT)
                return rc;
        rc = commit_retomb_as(fs, cf->file_id, cf->lamport, cf->hash, cf->vv, cf->nvv);
        return rc == -ENOENT ? 0 : rc;
}

/* The index side of a successful commit (inside the open transaction). */
static int commit_apply(struct commit *c, const uint8_t entry_hash[32])
{
        struct fs *fs = c->fs;
        uint8_t v[8];
        size_t i, j;
        int rc = 0;

        for (i = 0; i < c->nfiles && rc == 0; i++) {
                struct commit_file *cf = &c->files[i];
                struct fs_inode *in = cf->in;

                commit_trace(cf);
                if (in == NULL && cf->alias_of != 0) {
                        rc = commit_alias_apply(fs, cf);
                        continue;
                }
                if (in == NULL) {
                        rc = index_tomb_remove(fs->ix, cf->file_id);
                        if (rc == 0)
                                rc = fs_gone_record(fs, cf->file_id, cf->lamport, cf->hash, cf->vv,
                                                    cf->nvv, cf->mode, cf->parent_id, cf->name,
                                                    cf->name_len);
                        continue;
                }
                if (cf->skipped)
                        continue;
                pthread_rwlock_wrlock(&in->lock);
                for (j = 0; j < cf->nrefs && rc == 0; j++)
                        rc = index_blockref_put(fs->ix, in->ino, cf->refs[j].idx, cf->refs[j].hash);
                if (rc == 0)
                        rc = index_blockref_truncate(fs->ix, in->ino, cf->nblocks);
                in->committing = 0;
                if (rc == 0) {
                        free(in->vv);
                        in->vv = cf->vv;
                        in->nvv = cf->nvv;
                        cf->vv = NULL;
                        in->lamport = cf->lamport;
                        in->has_manifest = 1;
                        memcpy(in->manifest_hash, cf->hash, 32);
                        memcpy(in->author, fs->device_id, 16);
                        in->vparent_known = 1; /* U5: where this version puts it */
                        memcpy(in->vparent, cf->parent_id, 16);
                        if (!in->sync_dirty) {
                                rc = index_set_dirty(fs->ix, in->ino, 0);
                                in->dirty_flagged = 0;
                        }
                }
                if (rc == 0)
                        rc = fs_inode_save(fs, in);
                if (rc == 0 && in->nlink == 0)
                        rc = commit_retomb(fs, in, cf);
                pthread_rwlock_unlock(&in->lock);
        }
        /* Our own records are located like everyone else's (checkpoints copy them). */
        for (i = 0; i < c->nrecs && rc == 0; i++)
                rc = index_packidx_put(fs->ix, c->recs[i].hash, c->packs[c->recs[i].pack].hash,
                                       c->recs[i].off, c->recs[i].len);
        commit_u64be(v, fs->journal_seq + 1);
        if (rc == 0)
                rc = index_meta_put(fs->ix, "journal_seq", v, 8);
        if (rc == 0)
                rc = index_meta_put(fs->ix, "journal_head", entry_hash, 32);
        commit_u64be(v, fs->lamport_clock);
        if (rc == 0)
                rc = index_meta_put(fs->ix, "lamport", v, 8);
        if (rc == 0) {
                fs->journal_seq++;
                memcpy(fs->journal_head, entry_hash, 32);
        }
        return rc;
}

/* Undoes the memory side of an unfinished commit (invariant 3). */
static void commit_restore(struct commit *c)
{
        size_t i;

        for (i = 0; i < c->nfiles; i++) {
                struct commit_file *cf = &c->files[i];
                struct fs_inode *in = cf->in;

                if (in == NULL || cf->skipped)
                        continue;
                pthread_rwlock_wrlock(&in->lock);
                commit_restore_one(c->fs, cf);
                pthread_rwlock_unlock(&in->lock);
        }
}

static void commit_release(struct commit *c, int failed)
{
        size_t i;

        if (failed)
                commit_restore(c);
        if (failed && c->entry_name[0] != '\0')
                unlinkat(c->fs->outbox_dirfd, c->entry_name, 0); /* never two entries at a seq */
        if (failed || c->ncommits == 0) {
                /* Packs written for this round are referenced by no entry. */
                for (i = 0; i < c->npacks; i++) {
                        char name[80], hex[65];

                        hex_encode(hex, c->packs[i].hash, 32);
                        snprintf(name, sizeof(name), "r-%s", hex);
                        unlinkat(c->fs->outbox_dirfd, name, 0);
                }
                for (i = 0; i < c->npin_ids; i++)
                        fs_pin_drop_id(c->fs, c->pin_ids[i]);
        }
        free(c->pin_ids);
        recipe_builder_release(&c->rb);
        for (i = 0; i < c->nfiles; i++) {
                rangeset_release(&c->files[i].taken);
                free(c->files[i].vv);
                free(c->files[i].refs);
                if (c->files[i].in != NULL)
                        fs_inode_put(c->fs, c->files[i].in);
        }
        free(c->files);
        free(c->recs);
        free(c->commits);
        free(c->commit_pack);
        free(c->packs);
        free(c->sealed);
        pack_builder_release(&c->pb);
}

#define COMMIT_OFFLINE_RECHECK_S 10 /* after a failed membership check, rounds go on without */

/*
 * R3 (doc/SYNC.md): after the round has taken its marks and sealed, and
 * before its entry exists, the store's membership log is checked once more;
 * a change undoes the round (-ESTALE), which is done again after a refresh.
 * A store that does not answer leaves the round as it is (offline: the
 * bound R3 documents).
 */
static int commit_check_members(struct fs *fs)
{
        struct timespec now;
        long long last = atomic_load(&fs->members_unreachable);
        int rc;

        clock_gettime(CLOCK_MONOTONIC, &now);
        if (last != 0 && now.tv_sec - last < COMMIT_OFFLINE_RECHECK_S)
                return 0; /* offline a moment ago: no round waits for the store's retries */
        rc = fs_members_changed(fs);
        atomic_store(&fs->members_unreachable, rc < 0 ? (long long)now.tv_sec : 0);
        if (rc == 1) {
                log_info("the membership log changed: refolding before this round is published");
                return -ESTALE;
        }
        if (rc < 0)
                log_info("cannot check the membership log (%s); committing with the one known",
                         strerror(-rc));
        return 0;
}

/*
 * One round: the changed inodes above *CURSOR, at most FS_COMMIT_MAX_FILES
 * of them, and (in the first round of fs_commit, *CURSOR 0) every pending
 * deletion, become one journal entry.  On success *CURSOR moves past the
 * batch and *MORE says whether another batch may follow; on error both are
 * untouched (-ESTALE: the same batch is done again).
 */
static int commit_round(struct fs *fs, uint64_t *cursor, int *more, size_t *ncommits)
{
        struct commit c;
        struct commit_tombs ts = {NULL, 0, 0};
        uint8_t entry_hash[32];
        uint64_t last = *cursor;
        int batch_more = 0;
        size_t i;
        int rc;

        *ncommits = 0;
        /* key_hold: every epoch is reachable by a removed device; the changes stay
         * local (marked) until a rotation gives a clean key (fs/mount.c). */
        if (fs->sign_sk == NULL || fs->read_only || fs->commit_broken ||
            atomic_load(&fs->key_hold) || atomic_load(&fs->keys_behind)) {
                *more = 0;
                return 0;
        }
        /*
         * D3: keep the index's reserve, and room for the packs waiting for
         * upload (D5: they are recipes now, their bytes not in the outbox, but
         * a store on this disk needs that space for them): changes beyond
         * that stay queued, so deleting them still frees their space.
         */
        rc = fs_space_check(fs, fs_pin_queued(fs), 0);
        if (rc != 0) {
                if (!fs->commit_space_low)
                        log_warn("commit: the disk is (nearly) full; changes stay queued until "
                                 "space is freed");
                fs->commit_space_low = 1;
                return rc;
        }
        fs->commit_space_low = 0;
        memset(&c, 0, sizeof(c));
        c.fs = fs;
        pack_builder_init_hashed(&c.pb);      /* named, not kept: the pusher builds the bytes */
        pack_builder_set_par(&c.pb, fs->par); /* a block's hash and the pack's at once */
        recipe_builder_init(&c.rb);
        c.sealed = malloc(fs->slot_len);
        if (c.sealed == NULL)
                return -ENOMEM;
        pthread_mutex_lock(&fs->commit_lock);
        atomic_store(&fs->round_start, (long long)time(NULL)); /* D7: until commit_release */
        /* A membership switch (fs_members_switch, under this lock) may have made this
         * device a reader, or held its keys, since the check above; it also recorded the
         * new members/ listing, so commit_check_members would see no change.  Decided
         * again under the lock: no round publishes past its device's role (doc/SYNC.md
         * R1, R4; the race of 32-revoke-window.t check 49). */
        if (atomic_load(&fs->read_only) || fs->commit_broken || atomic_load(&fs->key_hold) ||
            atomic_load(&fs->keys_behind)) {
                pthread_mutex_unlock(&fs->commit_lock);
                commit_release(&c, 0);
                atomic_store(&fs->round_start, 0);
                *more = 0;
                return 0;
        }
        rc = index_for_each_dirty_after(fs->ix, *cursor, FS_COMMIT_MAX_FILES, commit_inode, &c,
                                        &last, &batch_more);
        /* Deletions in the first round: never after the version that replaced a name. */
        if (rc == 0 && *cursor == 0)
                rc = index_for_each_tomb(fs->ix, commit_collect_tomb, &ts);
        for (i = 0; i < ts.n && rc == 0; i++)
                if (!commit_tomb_clashes(&c, &ts.t[i]))
                        rc = commit_tomb(&c, &ts.t[i]);
        if (rc == 0 && c.ncommits == 0) {
                /* Only the root, deleted or busy files were marked: nothing to publish. */
                pthread_mutex_unlock(&fs->commit_lock);
                commit_release(&c, 0);
                *cursor = last;
                *more = batch_more;
                goto out_tombs;
        }
        if (rc == 0)
                rc = commit_flush_pack(&c);
        if (rc == 0)
                rc = commit_check_members(fs);
        if (rc == 0)
                rc = commit_entry(&c, entry_hash);
        if (rc == 0 && fs->mid_commit != NULL) {
                /* The simulation: the puller's thread applies here, as it may in a daemon. */
                fs->in_mid_commit = 1;
                fs->mid_commit(fs->mid_commit_arg);
                fs->in_mid_commit = 0;
        }
        if (rc == 0) {
                pthread_mutex_lock(&fs->ns_lock);
                rc = index_savepoint(fs->ix, 0);
                if (rc == 0) {
                        rc = commit_apply(&c, entry_hash);
                        if (index_savepoint(fs->ix, rc == 0 ? 1 : 2) != 0 || rc != 0) {
                                /* Memory may now disagree with the index: stop publishing. */
                                fs->commit_broken = 1;
                                log_err("the index could not take a commit; publishing is "
                                        "stopped until the region is mounted again");
                                if (rc == 0)
                                        rc = -EIO;
                        }
                }
                pthread_mutex_unlock(&fs->ns_lock);
        }
        if (rc == 0)
                rc = index_commit(fs->ix);
        if (rc == 0) {
                /* Before the pusher may send it: a peer's ack of it is then known ours. */
                if (fs->confirm != NULL)
                        confirm_note_own(fs->confirm, fs->journal_seq, fs->journal_head);
                fs->committed_seq = fs->journal_seq;
                *ncommits = c.ncommits;
                *cursor = last;
                *more = batch_more;
                log_info("committed journal entry %llu: %zu file(s), %zu pack(s)",
                         (unsigned long long)fs->journal_seq, c.ncommits, c.npacks);
        } else if (rc != -ESTALE) {
                log_err("commit failed (%s); changes stay queued", strerror(-rc));
        }
        pthread_mutex_unlock(&fs->commit_lock);
        commit_release(&c, rc != 0);
out_tombs:
        atomic_store(&fs->round_start, 0);
        for (i = 0; i < ts.n; i++)
                free(ts.t[i].state);
        free(ts.t);
        return rc;
}

#define COMMIT_MEMBER_TRIES 3 /* rounds undone by a changed membership log, then wait */

/* One batch (commit_round), done again while the membership log changes under it (R3). */
static int commit_batch(struct fs *fs, uint64_t *cursor, int *more, size_t *ncommits)
{
        int tries, rc = -ESTALE;

        for (tries = 0; tries < COMMIT_MEMBER_TRIES && rc == -ESTALE; tries++) {
                rc = commit_round(fs, cursor, more, ncommits);
                if (rc == -ESTALE)
                        fs_refresh_peers(fs); /* outside commit_lock: the switch takes it */
        }
        /* A published deletion or rename may free a name a displaced file wants (rule 5). */
        if (rc == 0 && *ncommits > 0 && fs_names_settle(fs) != 0) {
                /* logged; tried again after the next entry or round */
        }
        if (rc == -ESTALE) {
                log_warn("the membership log keeps changing (or cannot be refolded); the "
                         "changes stay queued for the next round");
                rc = -EAGAIN;
        }
        return rc;
}

int fs_commit(struct fs *fs, size_t *ncommits)
{
        uint64_t cursor = 0;
        size_t n, total = 0;
        int more = 1, rc = 0;

        while (rc == 0 && more) {
                n = 0;
                rc = commit_batch(fs, &cursor, &more, &n);
                total += n;
                /* A writer faster than the rounds keeps this loop going: the small
                 * writes' timer (doc/DESIGN.md "Small writes") must not wait for it. */
                if (rc == 0 && more)
                        fs_content_expire(fs, FS_WBUF_DELAY_MS);
        }
        *ncommits = total;
        return rc;
}

/* Outbox entry name "j-<seq:016x>-<hash:64>": returns the seq or 0. */
static uint64_t commit_entry_seq(const char *name)
{
        uint8_t seqb[8];
        char hex[17];

        if (strncmp(name, "j-", 2) != 0 || strlen(name) != 2 + 16 + 1 + 64 || name[18] != '-')
                return 0;
        memcpy(hex, name + 2, 16);
        hex[16] = '\0';
        if (hex_decode(seqb, 8, hex) != 0)
                return 0;
        return commit_get_u64(seqb);
}

/* 1 if pack HASH is listed by one of the outbox's journal entries. */
static int commit_pack_referenced(struct fs *fs, const uint8_t hash[32])
{
        struct dirent *de;
        int fd = openat(fs->outbox_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), found = 0;
        DIR *d;

        if (fd < 0 || (d = fdopendir(fd)) == NULL) {
                if (fd >= 0)
                        close(fd);
                return 1; /* when in doubt, keep it */
        }
        while (!found && (de = readdir(d)) != NULL) {
                char path[PATH_MAX];
                struct journal_entry e;
                uint8_t *buf = NULL;
                size_t len = 0, i;

                if (commit_entry_seq(de->d_name) == 0)
                        continue;
                snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", fs->outbox_dirfd, de->d_name);
                if (fileio_read_all(path, 64u << 20, &buf, &len) != 0) {
                        found = 1;
                        break;
                }
                if (journal_decode(buf, len, &e) != 0) {
                        found = 1; /* unreadable entry: keep everything for inspection */
                } else {
                        for (i = 0; i < e.npacks && !found; i++)
                                found = memcmp(e.packs[i].hash, hash, 32) == 0;
                        journal_release(&e);
                }
                free(buf);
        }
        closedir(d);
        return found;
}

/*
 * Packs written for an entry that was never built (a crash between the two)
 * are referenced by nothing: remove them (their blocks are committed again).
 */
static int commit_drop_orphan_packs(struct fs *fs)
{
        struct dirent *de;
        int fd = openat(fs->outbox_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d;

        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (d == NULL) {
                close(fd);
                return -errno;
        }
        while ((de = readdir(d)) != NULL) {
                uint8_t hash[32];

                if ((strncmp(de->d_name, "p-", 2) != 0 && strncmp(de->d_name, "r-", 2) != 0) ||
                    strlen(de->d_name) != 66 || hex_decode(hash, 32, de->d_name + 2) != 0)
                        continue;
                if (!commit_pack_referenced(fs, hash)) {
                        log_warn("outbox: removing a pack left by a crash before its entry");
                        unlinkat(fs->outbox_dirfd, de->d_name, 0);
                        fs_pin_drop_pack(fs, hash);
                }
        }
        closedir(d);
        return 0;
}

int fs_commit_init(struct fs *fs)
{
        uint8_t buf[32];
        size_t len = 0;
        struct dirent *de;
        DIR *d;
        int fd, rc;

        pthread_mutex_init(&fs->commit_lock, NULL);
        pthread_mutex_init(&fs->stuck_lock, NULL);
        rc = index_meta_get(fs->ix, "journal_seq", buf, sizeof(buf), &len);
        if (rc == 0 && len == 8)
                fs->journal_seq = commit_get_u64(buf);
        else if (rc != -ENOENT && rc != 0)
                return rc;
        rc = index_meta_get(fs->ix, "journal_head", buf, sizeof(buf), &len);
        if (rc == 0 && len == 32)
                memcpy(fs->journal_head, buf, 32);
        rc = index_meta_get(fs->ix, "lamport", buf, sizeof(buf), &len);
        if (rc == 0 && len == 8)
                fs->lamport_clock = commit_get_u64(buf);
        rc = index_meta_get(fs->ix, "lamport_seen", buf, sizeof(buf), &len);
        if (rc == 0 && len == 8) { /* C8: fs_apply_entry_done keeps it */
                fs->lamport_kept = commit_get_u64(buf);
                atomic_store(&fs->lamport_seen, fs->lamport_kept);
        }
        fs->committed_seq = fs->journal_seq;
        /* Invariant 2: entries past the durable position were never uploaded. */
        fd = openat(fs->outbox_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        d = fdopendir(fd);
        if (d == NULL) {
                close(fd);
                return -errno;
        }
        while ((de = readdir(d)) != NULL) {
                uint64_t seq = commit_entry_seq(de->d_name);

                if (seq > fs->committed_seq) {
                        log_warn("outbox: discarding journal entry %llu built before a crash "
                                 "(its changes are committed again)",
                                 (unsigned long long)seq);
                        unlinkat(fs->outbox_dirfd, de->d_name, 0);
                }
        }
        closedir(d);
        return commit_drop_orphan_packs(fs);
}

struct commit_rekey {
        struct fs *fs;
        uint64_t marked;
};

static int commit_rekey_one(void *arg, uint64_t ino)
{
        struct commit_rekey *r = arg;
        struct fs_inode *in;
        int rc = fs_inode_get(r->fs, ino, &in);

        if (rc != 0)
                return rc == -ENOENT ? 0 : rc; /* unlinked meanwhile */
        pthread_rwlock_wrlock(&in->lock);
        if (in->nlink > 0 && !fs_keys_is_current(r->fs, in->epoch_id)) {
                rc = fs_inode_mark_changed(r->fs, in, 0, 0);
                if (rc == 0)
                        r->marked++;
        }
        pthread_rwlock_unlock(&in->lock);
        fs_inode_put(r->fs, in);
        return rc;
}

int fs_rekey_mark(struct fs *fs, uint64_t *marked)
{
        struct commit_rekey r = {.fs = fs};
        int rc;

        if (fs->read_only)
                return -EROFS;
        rc = index_for_each_live(fs->ix, commit_rekey_one, &r);
        *marked = r.marked;
        return rc;
}
