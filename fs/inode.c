/* SPDX-License-Identifier: Apache-2.0 */
/*
 * In-memory inode table and the encrypted attribute record.
 *
 * Attribute record (plaintext inside the index's AEAD; all big-endian, see
 * doc/DESIGN.md "Local index"):
 *   u8 version(1) u8 kind u32 mode u32 uid u32 gid u64 size
 *   (u64 sec u32 nsec) x3 atime mtime ctime   salt[32]
 *   u32 nranges { u64 start u64 end }          var target
 *   u32 nxattrs { var name var value }
 *   then the sync state (fs_encode_sync), ending with author[16] (v3+),
 *   epoch_id[32] (v4+: the epoch the local blocks are sealed under) and
 *   u32 nranges { u64 start u64 end } remote blocks (v5+: present blocks
 *   whose slot is not fetched yet, a subset of the present ranges),
 *   u64 rdev (v6+: the device number of a special device node, else 0)
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>

#include "crypto/enc.h"
#include "crypto/secmem.h"
#include "fs/fsint.h"
#include "fs/pin.h"
#include "util/hex.h"
#include "util/log.h"

/*
 * 3 added the author of the last version, 4 the epoch of the local blocks,
 * 5 the remote blocks (on-demand content), 6 rdev (special files), 7 the
 * parent id the current version names (doc/SYNC.md U5); 2 to 6 are read
 * (their epoch: the region's GENESIS epoch for 2 and 3; no remote blocks
 * before 5; rdev 0 before 6; no parent id known before 7).
 */
#define FS_ATTR_VERSION 7
#define FS_MAX_RANGES (1u << 24)

void fs_now(struct timespec *ts)
{
        clock_gettime(CLOCK_REALTIME, ts);
}

int fs_table_init(struct fs *fs)
{
        const char *v;

        fs->table_size = 4096;
        fs->table = calloc(fs->table_size, sizeof(*fs->table));
        if (fs->table == NULL)
                return -ENOMEM;
        fs->table_count = 0;
        fs->ghosts = NULL;
        fs->ghost_cap = fs->ghost_count = 0;
        fs->inode_cache = FS_INODE_CACHE;
        v = getenv("SEALSYNC_INODE_CACHE"); /* tests: drop inodes to ghosts sooner */
        if (v != NULL && *v >= '0' && *v <= '9')
                fs->inode_cache = (size_t)strtoul(v, NULL, 10);
        pthread_mutex_init(&fs->table_lock, NULL);
        return 0;
}

static void fs_inode_free(struct fs_inode *in)
{
        if (in == NULL)
                return;
        fs_content_close(in);
        fs_inode_clear(in);
        pthread_rwlock_destroy(&in->lock);
        free(in);
}

void fs_table_release(struct fs *fs)
{
        size_t i;

        for (i = 0; i < fs->table_size; i++) {
                struct fs_inode *in = fs->table[i];

                while (in != NULL) {
                        struct fs_inode *next = in->hnext;

                        fs_inode_free(in);
                        in = next;
                }
        }
        free(fs->table);
        fs->table = NULL;
        free(fs->ghosts);
        fs->ghosts = NULL;
        fs->ghost_cap = fs->ghost_count = 0;
        free(fs->unlinked); /* the next mount's purge removes their files */
        fs->unlinked = NULL;
        fs->nunlinked = fs->capunlinked = 0;
        pthread_mutex_destroy(&fs->table_lock);
}

static size_t fs_hash(const struct fs *fs, uint64_t ino)
{
        return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 20) & (fs->table_size - 1);
}

static struct fs_inode *fs_table_find(struct fs *fs, uint64_t ino)
{
        struct fs_inode *in = fs->table[fs_hash(fs, ino)];

        while (in != NULL && in->ino != ino)
                in = in->hnext;
        return in;
}

static void fs_table_grow(struct fs *fs)
{
        size_t nsize = fs->table_size * 2, i;
        struct fs_inode **nt = calloc(nsize, sizeof(*nt));
        struct fs_inode **old = fs->table;
        size_t osize = fs->table_size;

        if (nt == NULL)
                return; /* keep the longer chains */
        fs->table = nt;
        fs->table_size = nsize;
        for (i = 0; i < osize; i++) {
                struct fs_inode *in = old[i];

                while (in != NULL) {
                        struct fs_inode *next = in->hnext;
                        size_t h = fs_hash(fs, in->ino);

                        in->hnext = nt[h];
                        nt[h] = in;
                        in = next;
                }
        }
        free(old);
}

/*
 * Ghosts (fsint.h "Memory bound"): the lookup counts of inodes dropped from
 * the table, in an open-addressing table (linear probing, at most half
 * full, ino 0 marks a free slot), all under the table lock.
 */
static size_t fs_ghost_home(const struct fs *fs, uint64_t ino)
{
        return (size_t)((ino * 0x9E3779B97F4A7C15ull) >> 17) & (fs->ghost_cap - 1);
}

/* The slot of INO, or the free slot where it would go (ghost_cap > 0). */
static size_t fs_ghost_slot(const struct fs *fs, uint64_t ino)
{
        size_t i = fs_ghost_home(fs, ino);

        while (fs->ghosts[i].ino != 0 && fs->ghosts[i].ino != ino)
                i = (i + 1) & (fs->ghost_cap - 1);
        return i;
}

/* Room for one more ghost: 0, or -ENOMEM (nothing changed). */
static int fs_ghost_reserve(struct fs *fs)
{
        struct fs_ghost *old = fs->ghosts, *ng;
        size_t ocap = fs->ghost_cap, ncap, i;

        if (2 * (fs->ghost_count + 1) <= fs->ghost_cap)
                return 0;
        ncap = ocap ? 2 * ocap : 1024;
        ng = calloc(ncap, sizeof(*ng));
        if (ng == NULL)
                return -ENOMEM;
        fs->ghosts = ng;
        fs->ghost_cap = ncap;
        for (i = 0; i < ocap; i++)
                if (old[i].ino != 0)
                        fs->ghosts[fs_ghost_slot(fs, old[i].ino)] = old[i];
        free(old);
        return 0;
}

/* Removes INO's ghost into *REFS: 1, or 0 if it has none. */
static int fs_ghost_take(struct fs *fs, uint64_t ino, uint64_t *refs)
{
        size_t i, j, k, mask = fs->ghost_cap - 1;

        if (fs->ghost_count == 0)
                return 0;
        i = fs_ghost_slot(fs, ino);
        if (fs->ghosts[i].ino != ino)
                return 0;
        *refs = fs->ghosts[i].refs;
        /* Backward-shift deletion: no probe chain may cross the freed slot. */
        for (j = i;;) {
                j = (j + 1) & mask;
                if (fs->ghosts[j].ino == 0)
                        break;
                k = fs_ghost_home(fs, fs->ghosts[j].ino);
                if (((j - k) & mask) >= ((j - i) & mask)) {
                        fs->ghosts[i] = fs->ghosts[j];
                        i = j;
                }
        }
        fs->ghosts[i].ino = 0;
        fs->ghosts[i].refs = 0;
        fs->ghost_count--;
        return 1;
}

/*
 * The idle list: inodes in the table kept only by the kernel's lookups
 * (nopen == busy == 0, nlookup > 0), least recently used first; the ones
 * fs_table_trim drops to ghosts.  Under the table lock.
 */
static void fs_lru_del(struct fs *fs, struct fs_inode *in)
{
        if (!in->in_lru)
                return;
        if (in->lru_prev != NULL)
                in->lru_prev->lru_next = in->lru_next;
        else
                fs->lru_head = in->lru_next;
        if (in->lru_next != NULL)
                in->lru_next->lru_prev = in->lru_prev;
        else
                fs->lru_tail = in->lru_prev;
        in->lru_prev = in->lru_next = NULL;
        in->in_lru = 0;
}

static void fs_lru_add(struct fs *fs, struct fs_inode *in)
{
        fs_lru_del(fs, in);
        in->lru_prev = fs->lru_tail;
        in->lru_next = NULL;
        if (fs->lru_tail != NULL)
                fs->lru_tail->lru_next = in;
        else
                fs->lru_head = in;
        fs->lru_tail = in;
        in->in_lru = 1;
}

static void fs_table_insert(struct fs *fs, struct fs_inode *in)
{
        uint64_t refs;
        size_t h;

        /* A dropped inode coming back takes the kernel's lookups back. */
        if (fs_ghost_take(fs, in->ino, &refs)) {
                in->nlookup = refs & ~FS_GHOST_UNSYNCED;
                if (refs & FS_GHOST_UNSYNCED)
                        in->unsynced = 1;
        }
        if (fs->table_count >= fs->table_size)
                fs_table_grow(fs);
        h = fs_hash(fs, in->ino);
        in->hnext = fs->table[h];
        fs->table[h] = in;
        fs->table_count++;
}

static void fs_table_remove(struct fs *fs, struct fs_inode *in)
{
        struct fs_inode **pp = &fs->table[fs_hash(fs, in->ino)];

        while (*pp != NULL && *pp != in)
                pp = &(*pp)->hnext;
        if (*pp == in) {
                *pp = in->hnext;
                fs->table_count--;
                fs->table_gen++;
        }
        fs_lru_del(fs, in);
}

static struct fs_inode *fs_inode_alloc(void)
{
        struct fs_inode *in = calloc(1, sizeof(*in));

        if (in == NULL)
                return NULL;
        pthread_rwlock_init(&in->lock, NULL);
        rangeset_init(&in->blocks);
        rangeset_init(&in->dirty);
        rangeset_init(&in->remote);
        rangeset_init(&in->fresh);
        in->fd = -1;
        return in;
}

void fs_inode_clear(struct fs_inode *in)
{
        size_t i;

        rangeset_release(&in->blocks);
        rangeset_release(&in->dirty);
        rangeset_release(&in->remote);
        rangeset_release(&in->fresh);
        free(in->vv);
        in->vv = NULL;
        in->nvv = 0;
        fs_inode_blind_drop(in);
        free(in->target);
        in->target = NULL;
        for (i = 0; i < in->nxattrs; i++) {
                free(in->xattrs[i].name);
                if (in->xattrs[i].value != NULL)
                        secmem_wipe(in->xattrs[i].value, in->xattrs[i].len);
                free(in->xattrs[i].value);
        }
        free(in->xattrs);
        in->xattrs = NULL;
        in->nxattrs = 0;
}

static void fs_encode_ranges(struct enc *e, const struct rangeset *s)
{
        size_t i;

        enc_u32(e, (uint32_t)s->n);
        for (i = 0; i < s->n; i++) {
                enc_u64(e, s->r[i].start);
                enc_u64(e, s->r[i].end);
        }
}

/*
 * Sync state: u8 dirty, ranges, u64 lamport, u8 has_manifest, hash[32], vv, author, epoch, remote,
 * then (outside the sync state's decoder) rdev and the version's parent id.
 */
static void fs_encode_sync(struct enc *e, const struct fs_inode *in)
{
        enc_u8(e, (uint8_t)(in->sync_dirty ? 1 : 0));
        fs_encode_ranges(e, &in->dirty);
        enc_u64(e, in->lamport);
        enc_u8(e, (uint8_t)(in->has_manifest ? 1 : 0));
        enc_fixed(e, in->manifest_hash, sizeof(in->manifest_hash));
        fs_vv_put(e, in->vv, in->nvv);
        enc_fixed(e, in->author, sizeof(in->author));
        enc_fixed(e, in->epoch_id, sizeof(in->epoch_id));
        fs_encode_ranges(e, &in->remote);
        enc_u64(e, in->rdev);
        enc_u8(e, (uint8_t)(in->vparent_known ? 1 : 0));
        enc_fixed(e, in->vparent_known ? in->vparent : (const uint8_t[16]){0}, sizeof(in->vparent));
}

/* Record v7: u8 known (0 or 1), parent_id[16] (all zero when not known: canonical). */
static int fs_decode_vparent(struct fs_inode *in, struct dec *d)
{
        static const uint8_t zero[16];
        uint8_t known = dec_u8(d);

        dec_fixed(d, in->vparent, sizeof(in->vparent));
        if (d->err != 0 || known > 1 ||
            (known == 0 && memcmp(in->vparent, zero, sizeof(zero)) != 0))
                return -EBADMSG;
        in->vparent_known = known;
        return 0;
}

/* Decodes N canonical ranges into S (initialised, empty). */
static int fs_decode_ranges(struct dec *d, size_t avail, struct rangeset *s)
{
        uint32_t n = dec_u32(d), i;

        if (d->err != 0 || n > FS_MAX_RANGES || n > avail / 16)
                return -EBADMSG;
        for (i = 0; i < n; i++) {
                uint64_t a = dec_u64(d), b = dec_u64(d);

                if (d->err != 0 || a >= b || (s->n > 0 && s->r[s->n - 1].end >= a))
                        return -EBADMSG;
                if (rangeset_add(s, a, b) != 0)
                        return -ENOMEM;
        }
        return 0;
}

static int fs_decode_sync(struct fs_inode *in, struct dec *d, size_t len, int version,
                          const uint8_t genesis_epoch[static 32])
{
        uint8_t flag;
        int rc;

        flag = dec_u8(d);
        if (d->err != 0 || flag > 1)
                return -EBADMSG;
        in->sync_dirty = flag;
        rc = fs_decode_ranges(d, len - d->off, &in->dirty);
        if (rc != 0)
                return rc;
        in->lamport = dec_u64(d);
        flag = dec_u8(d);
        if (d->err != 0 || flag > 1)
                return -EBADMSG;
        in->has_manifest = flag;
        dec_fixed(d, in->manifest_hash, sizeof(in->manifest_hash));
        rc = fs_vv_get(d, &in->vv, &in->nvv);
        if (rc != 0)
                return rc;
        if (version >= 3)
                dec_fixed(d, in->author, sizeof(in->author));
        if (version >= 4)
                dec_fixed(d, in->epoch_id, sizeof(in->epoch_id));
        else
                memcpy(in->epoch_id, genesis_epoch, sizeof(in->epoch_id));
        if (d->err != 0 || version < 5)
                return d->err;
        rc = fs_decode_ranges(d, len - d->off, &in->remote);
        if (rc == 0 && !rangeset_within(&in->remote, &in->blocks))
                rc = -EBADMSG; /* a remote block is a present block */
        return rc;
}

static void fs_enc_time(struct enc *e, const struct timespec *ts)
{
        enc_u64(e, (uint64_t)ts->tv_sec);
        enc_u32(e, (uint32_t)ts->tv_nsec);
}

int fs_attr_encode(const struct fs_inode *in, uint8_t **out, size_t *len)
{
        struct enc e;
        size_t i;

        enc_init(&e);
        enc_u8(&e, FS_ATTR_VERSION);
        enc_u8(&e, (uint8_t)in->kind);
        enc_u32(&e, in->mode);
        enc_u32(&e, in->uid);
        enc_u32(&e, in->gid);
        enc_u64(&e, fs_content_record_size(in)); /* not a buffered block's bytes */
        fs_enc_time(&e, &in->atime);
        fs_enc_time(&e, &in->mtime);
        fs_enc_time(&e, &in->ctime);
        enc_fixed(&e, in->salt, sizeof(in->salt));
        enc_u32(&e, (uint32_t)in->blocks.n);
        for (i = 0; i < in->blocks.n; i++) {
                enc_u64(&e, in->blocks.r[i].start);
                enc_u64(&e, in->blocks.r[i].end);
        }
        enc_var(&e, in->target, in->target ? strlen(in->target) : 0);
        enc_u32(&e, (uint32_t)in->nxattrs);
        for (i = 0; i < in->nxattrs; i++) {
                enc_var(&e, in->xattrs[i].name, strlen(in->xattrs[i].name));
                enc_var(&e, in->xattrs[i].value, in->xattrs[i].len);
        }
        fs_encode_sync(&e, in);
        if (enc_error(&e) != 0) {
                int rc = enc_error(&e);

                enc_release(&e);
                return rc;
        }
        /* Ownership of the buffer moves to the caller (who must free it). */
        *out = e.buf;
        *len = e.len;
        return 0;
}

static void fs_dec_time(struct dec *d, struct timespec *ts)
{
        uint64_t s = dec_u64(d);
        uint32_t ns = dec_u32(d);

        if (ns >= 1000000000u || s > (uint64_t)INT64_MAX)
                d->err = -EBADMSG;
        ts->tv_sec = (time_t)s;
        ts->tv_nsec = (long)ns;
}

static char *fs_dup_bytes(const uint8_t *p, size_t n)
{
        char *s = malloc(n + 1);

        if (s == NULL)
                return NULL;
        memcpy(s, p, n);
        s[n] = '\0';
        return s;
}

static int fs_attr_decode_xattrs(struct fs_inode *in, struct dec *d)
{
        uint32_t n = dec_u32(d), i;
        size_t total = 0;

        if (d->err != 0 || n > FS_XATTR_TOTAL_MAX / 2)
                return -EBADMSG;
        if (n == 0)
                return 0;
        in->xattrs = calloc(n, sizeof(*in->xattrs));
        if (in->xattrs == NULL)
                return -ENOMEM;
        for (i = 0; i < n; i++) {
                const uint8_t *name, *value;
                size_t nlen, vlen;

                dec_var(d, &name, &nlen, FS_XATTR_NAME_MAX);
                dec_var(d, &value, &vlen, FS_XATTR_VALUE_MAX);
                if (d->err != 0 || nlen == 0 || memchr(name, 0, nlen) != NULL)
                        return -EBADMSG;
                total += nlen + vlen;
                if (total > FS_XATTR_TOTAL_MAX)
                        return -EBADMSG;
                in->xattrs[i].name = fs_dup_bytes(name, nlen);
                in->xattrs[i].value = malloc(vlen ? vlen : 1);
                if (in->xattrs[i].name == NULL || in->xattrs[i].value == NULL) {
                        in->nxattrs = i + 1;
                        return -ENOMEM;
                }
                memcpy(in->xattrs[i].value, value, vlen);
                in->xattrs[i].len = vlen;
                in->nxattrs = i + 1;
        }
        return 0;
}

int fs_attr_decode(struct fs_inode *in, const uint8_t *buf, size_t len,
                   const uint8_t genesis_epoch[static 32])
{
        struct dec d;
        const uint8_t *target;
        size_t tlen;
        uint32_t n, i;
        int rc, version;

        dec_init(&d, buf, len);
        version = dec_u8(&d);
        if (version < 2 || version > FS_ATTR_VERSION)
                return -EBADMSG;
        in->kind = dec_u8(&d);
        in->mode = dec_u32(&d);
        in->uid = dec_u32(&d);
        in->gid = dec_u32(&d);
        in->size = dec_u64(&d);
        fs_dec_time(&d, &in->atime);
        fs_dec_time(&d, &in->mtime);
        fs_dec_time(&d, &in->ctime);
        dec_fixed(&d, in->salt, sizeof(in->salt));
        n = dec_u32(&d);
        if (d.err != 0 || n > FS_MAX_RANGES || n > (len - d.off) / 16)
                return -EBADMSG;
        if (in->size > (uint64_t)INT64_MAX)
                return -EBADMSG;
        if (in->kind < FS_KIND_REG || in->kind > FS_KIND_SPECIAL)
                return -EBADMSG;
        if ((in->kind == FS_KIND_SPECIAL) != fs_special_type_ok(in->mode))
                return -EBADMSG;
        if (in->kind == FS_KIND_SPECIAL && (in->size != 0 || n != 0))
                return -EBADMSG; /* C6: no content */
        for (i = 0; i < n; i++) {
                uint64_t s = dec_u64(&d), e = dec_u64(&d);

                if (d.err != 0 || s >= e ||
                    (in->blocks.n > 0 && in->blocks.r[in->blocks.n - 1].end >= s))
                        return -EBADMSG;
                if (rangeset_add(&in->blocks, s, e) != 0)
                        return -ENOMEM;
        }
        dec_var(&d, &target, &tlen, FS_SYMLINK_MAX);
        if (d.err != 0)
                return -EBADMSG;
        if (in->kind == FS_KIND_LNK) {
                if (tlen == 0 || memchr(target, 0, tlen) != NULL)
                        return -EBADMSG;
                in->target = fs_dup_bytes(target, tlen);
                if (in->target == NULL)
                        return -ENOMEM;
        } else if (tlen != 0) {
                return -EBADMSG;
        }
        rc = fs_attr_decode_xattrs(in, &d);
        if (rc != 0)
                return rc;
        rc = fs_decode_sync(in, &d, len, version, genesis_epoch);
        if (rc != 0)
                return rc;
        if (version >= 6)
                in->rdev = dec_u64(&d);
        if (d.err != 0 || (in->rdev != 0 && !S_ISCHR(in->mode) && !S_ISBLK(in->mode)))
                return -EBADMSG;
        if (version >= 7 && fs_decode_vparent(in, &d) != 0)
                return -EBADMSG;
        return dec_finish(&d);
}

static int fs_inode_load(struct fs *fs, uint64_t ino, struct fs_inode **out)
{
        struct fs_inode *in;
        uint8_t *attr = NULL;
        size_t alen = 0;
        int rc;

        in = fs_inode_alloc();
        if (in == NULL)
                return -ENOMEM;
        in->ino = ino;
        rc = index_inode_get(fs->ix, ino, in->file_id, &in->nlink, &attr, &alen);
        if (rc == 0) {
                rc = fs_attr_decode(in, attr, alen, fs->genesis_epoch);
                in->dirty_flagged = in->sync_dirty;
                in->dirty_gen = index_commit_gen(fs->ix); /* its marks may not be durable */
                if (rc == -EBADMSG)
                        log_err("inode %llu: attribute record is malformed",
                                (unsigned long long)ino);
                secmem_wipe(attr, alen);
                free(attr);
        }
        if (rc != 0) {
                fs_inode_free(in);
                return rc;
        }
        *out = in;
        return 0;
}

int fs_inode_get(struct fs *fs, uint64_t ino, struct fs_inode **out)
{
        struct fs_inode *in, *loaded = NULL;
        uint64_t gen;
        int rc;

        pthread_mutex_lock(&fs->table_lock);
        in = fs_table_find(fs, ino);
        if (in != NULL) {
                in->busy++;
                fs_lru_del(fs, in); /* in use */
                pthread_mutex_unlock(&fs->table_lock);
                *out = in;
                return 0;
        }
        gen = fs->table_gen;
        pthread_mutex_unlock(&fs->table_lock);

        rc = fs_inode_load(fs, ino, &loaded);
        if (rc != 0)
                return rc;
        pthread_mutex_lock(&fs->table_lock);
        in = fs_table_find(fs, ino);
        if (in == NULL && fs->table_gen != gen) {
                /*
                 * An inode left the table while we loaded: it may be this one,
                 * changed after our read and then dropped (a ghost) or evicted.
                 * Read again under the table lock (the lock order allows the
                 * index below it), so nothing can change it in between.
                 */
                fs_inode_free(loaded);
                loaded = NULL;
                rc = fs_inode_load(fs, ino, &loaded);
                if (rc != 0) {
                        pthread_mutex_unlock(&fs->table_lock);
                        return rc;
                }
        }
        if (in == NULL) {
                in = loaded;
                loaded = NULL;
                fs_table_insert(fs, in);
        }
        in->busy++;
        fs_lru_del(fs, in); /* in use */
        pthread_mutex_unlock(&fs->table_lock);
        fs_inode_free(loaded); /* lost a race: another thread loaded it */
        *out = in;
        return 0;
}

/*
 * 1 if IN, kept only by the kernel's lookups, may be dropped to a ghost:
 * everything it holds is in its index record (written through), or is a
 * hint (read-ahead, logged errors), or is the unsynced flag the ghost keeps.
 * Not: the root; an unlinked inode (deleted when its lookups end); state that
 * lives only in memory: a buffered block, a write error the next fsync
 * reports, a truncation to settle, an unfinished reset, a commit round's
 * marks.  Called with the table lock held, nopen == busy == 0: no request
 * holds IN, so its fields do not change under us.
 */
static int fs_inode_ghostable(const struct fs_inode *in)
{
        return in->ino != INDEX_ROOT_INO && in->nlink > 0 && in->nopen == 0 && in->busy == 0 &&
               in->wb == NULL && in->wb_err == 0 && !in->settle_due && in->reset == NULL &&
               !in->committing && in->nlookup > 0 && in->nlookup < FS_GHOST_UNSYNCED;
}

/* Records IN's lookups as a ghost (the table lock held): 0, or -ENOMEM (nothing changed). */
static int fs_ghost_add(struct fs *fs, const struct fs_inode *in)
{
        size_t slot;

        if (fs_ghost_reserve(fs) != 0)
                return -ENOMEM;
        slot = fs_ghost_slot(fs, in->ino);
        assert(fs->ghosts[slot].ino == 0); /* at most one of table entry and ghost */
        fs->ghosts[slot].ino = in->ino;
        fs->ghosts[slot].refs = in->nlookup | (in->unsynced ? FS_GHOST_UNSYNCED : 0);
        fs->ghost_count++;
        return 0;
}

/*
 * Called with the table lock held; returns 1 if IN was removed from the
 * table (evict it).  An idle inode the kernel's lookups keep goes to the
 * idle list's end (the most recently used).
 */
static int fs_inode_unused(struct fs *fs, struct fs_inode *in)
{
        if (in->nopen != 0 || in->busy != 0 || in->ino == INDEX_ROOT_INO) {
                fs_lru_del(fs, in);
                return 0;
        }
        if (in->nlookup != 0) {
                fs_lru_add(fs, in);
                return 0;
        }
        fs_table_remove(fs, in);
        return 1;
}

#define FS_TRIM_BATCH 8 /* inodes dropped per call: the table lock is held briefly */

/*
 * While the table holds more than fs->inode_cache inodes, drops the least
 * recently used idle ones to ghosts, at most FS_TRIM_BATCH, into OUT (the
 * caller frees them once the table lock is released).  An idle inode that
 * may not be dropped leaves the list until its next use.  Returns the number.
 */
static size_t fs_table_trim(struct fs *fs, struct fs_inode **out)
{
        size_t n = 0;

        while (n < FS_TRIM_BATCH && fs->table_count > fs->inode_cache && fs->lru_head != NULL) {
                struct fs_inode *v = fs->lru_head;

                fs_lru_del(fs, v);
                if (!fs_inode_ghostable(v) || fs_ghost_add(fs, v) != 0)
                        continue;
                fs_table_remove(fs, v);
                out[n++] = v;
        }
        return n;
}

static void fs_inode_evict(struct fs *fs, struct fs_inode *in);

/* Trims the table, releases its lock, then evicts GONE (if not NULL) and what was trimmed. */
static void fs_table_unlock_trim(struct fs *fs, struct fs_inode *gone)
{
        struct fs_inode *v[FS_TRIM_BATCH];
        size_t n = fs_table_trim(fs, v), i;

        pthread_mutex_unlock(&fs->table_lock);
        if (gone != NULL)
                fs_inode_evict(fs, gone);
        for (i = 0; i < n; i++)
                fs_inode_evict(fs, v[i]);
}

/*
 * D2: FILE_ID's ciphertext goes only once the deletion of its row (in the
 * open transaction, generation index_commit_gen now) is durable: a crash
 * before that commit brings the name back, and it must still read.
 */
static void fs_unlinked_add(struct fs *fs, const uint8_t file_id[static 16])
{
        uint64_t gen = index_commit_gen(fs->ix);

        pthread_mutex_lock(&fs->table_lock);
        if (fs->nunlinked == fs->capunlinked) {
                size_t cap = fs->capunlinked ? 2 * fs->capunlinked : 16;
                struct fs_unlinked *g = realloc(fs->unlinked, cap * sizeof(*g));

                if (g == NULL) {
                        pthread_mutex_unlock(&fs->table_lock);
                        log_warn("out of memory: an unlinked file's ciphertext stays until the "
                                 "next mount");
                        return;
                }
                fs->unlinked = g;
                fs->capunlinked = cap;
        }
        memcpy(fs->unlinked[fs->nunlinked].file_id, file_id, 16);
        fs->unlinked[fs->nunlinked].gen = gen;
        fs->nunlinked++;
        pthread_mutex_unlock(&fs->table_lock);
}

/* Takes one entry of fs->unlinked whose deletion is durable at GEN into FILE_ID: 1, else 0. */
static int fs_unlinked_take(struct fs *fs, uint64_t gen, uint8_t file_id[static 16])
{
        size_t i;
        int found = 0;

        pthread_mutex_lock(&fs->table_lock);
        for (i = 0; i < fs->nunlinked && !found; i++) {
                if (fs->unlinked[i].gen >= gen)
                        continue;
                memcpy(file_id, fs->unlinked[i].file_id, 16);
                fs->unlinked[i] = fs->unlinked[--fs->nunlinked];
                found = 1;
        }
        pthread_mutex_unlock(&fs->table_lock);
        return found;
}

void fs_unlinked_drain(struct fs *fs)
{
        uint64_t gen = index_commit_gen(fs->ix);
        uint8_t fid[16];

        while (fs_unlinked_take(fs, gen, fid)) {
                int has;

                /* Under ns_lock: fs/apply.c cannot bring the file id back in between. */
                pthread_mutex_lock(&fs->ns_lock);
                has = index_has_file_id(fs->ix, fid);
                if (has < 0)
                        log_warn("cannot check an unlinked file's id: its ciphertext stays until "
                                 "the next mount (%s)",
                                 strerror(-has));
                else if (!has)
                        fs_content_remove(fs, fid);
                pthread_mutex_unlock(&fs->ns_lock);
        }
}

static void fs_inode_evict(struct fs *fs, struct fs_inode *in)
{
        if (in->wb != NULL && in->nlink > 0)
                fs_content_unbuffer(fs, in); /* release seals; this is a backstop */
        if (in->nlink == 0) {
                int rc = index_inode_delete(fs->ix, in->ino);

                if (rc != 0)
                        log_err("inode %llu: cannot delete from the index: %s",
                                (unsigned long long)in->ino, strerror(-rc));
                else
                        fs_pin_forget(fs, in->ino);
                fs_content_close(in);
                if (rc == 0)
                        fs_unlinked_add(fs, in->file_id);
        }
        fs_inode_free(in);
}

void fs_inode_put(struct fs *fs, struct fs_inode *in)
{
        int gone;

        pthread_mutex_lock(&fs->table_lock);
        in->busy--;
        gone = fs_inode_unused(fs, in);
        fs_table_unlock_trim(fs, gone ? in : NULL);
}

void fs_inode_ref(struct fs *fs, struct fs_inode *in, int64_t dlookup, int32_t dopen)
{
        int gone;

        pthread_mutex_lock(&fs->table_lock);
        in->nlookup = (uint64_t)((int64_t)in->nlookup + dlookup);
        in->nopen = (uint32_t)((int32_t)in->nopen + dopen);
        gone = fs_inode_unused(fs, in);
        fs_table_unlock_trim(fs, gone ? in : NULL);
}

uint32_t fs_inode_writers(struct fs *fs, struct fs_inode *in, int32_t d)
{
        uint32_t n;

        pthread_mutex_lock(&fs->table_lock);
        in->nwrite = (uint32_t)((int32_t)in->nwrite + d);
        n = in->nwrite;
        pthread_mutex_unlock(&fs->table_lock);
        return n;
}

int fs_flags_write(int flags)
{
        return (flags & O_ACCMODE) != O_RDONLY;
}

int fs_inode_blind_mark(struct fs *fs, struct fs_inode *in)
{
        if (in->blind || in->kind != FS_KIND_REG || fs_inode_writers(fs, in, 0) == 0)
                return 0;
        if (in->nvv > 0) {
                in->blind_vv = malloc(in->nvv * sizeof(*in->blind_vv));
                if (in->blind_vv == NULL)
                        return -ENOMEM;
                memcpy(in->blind_vv, in->vv, in->nvv * sizeof(*in->blind_vv));
        }
        in->nblind_vv = in->nvv;
        in->blind = 1;
        return 0;
}

void fs_inode_blind_drop(struct fs_inode *in)
{
        free(in->blind_vv);
        in->blind_vv = NULL;
        in->nblind_vv = 0;
        in->blind = 0;
}

void fs_inode_forget(struct fs *fs, uint64_t ino, uint64_t n)
{
        struct fs_inode *in;
        int gone = 0;

        pthread_mutex_lock(&fs->table_lock);
        in = fs_table_find(fs, ino);
        if (in != NULL) {
                in->nlookup = in->nlookup > n ? in->nlookup - n : 0;
                gone = fs_inode_unused(fs, in);
        } else if (fs->ghost_count > 0) {
                /* A ghost: linked, so nothing to delete when its lookups end. */
                struct fs_ghost *g = &fs->ghosts[fs_ghost_slot(fs, ino)];
                uint64_t refs;

                if (g->ino == ino && (g->refs & ~FS_GHOST_UNSYNCED) > n)
                        g->refs -= n; /* the flag bit is above the count */
                else if (g->ino == ino)
                        (void)fs_ghost_take(fs, ino, &refs);
        }
        fs_table_unlock_trim(fs, gone ? in : NULL);
}

int fs_inode_save(struct fs *fs, struct fs_inode *in)
{
        uint8_t *attr = NULL;
        size_t len = 0;
        int rc;

        rc = fs_attr_encode(in, &attr, &len);
        if (rc != 0)
                return rc;
        rc = index_inode_update(fs->ix, in->ino, in->file_id, in->nlink, attr, len);
        secmem_wipe(attr, len);
        free(attr);
        if (rc != 0)
                log_err("inode %llu: cannot update the index: %s", (unsigned long long)in->ino,
                        strerror(-rc));
        return rc;
}

int fs_inode_create(struct fs *fs, int kind, uint32_t mode, uint32_t uid, uint32_t gid,
                    const char *target, struct fs_inode **out)
{
        return fs_inode_create_id(fs, kind, mode, uid, gid, target, NULL, NULL, NULL, out);
}

int fs_inode_create_id(struct fs *fs, int kind, uint32_t mode, uint32_t uid, uint32_t gid,
                       const char *target, const uint8_t *file_id, const uint8_t *salt,
                       const uint8_t *epoch_id, struct fs_inode **out)
{
        struct fs_inode *in;
        uint8_t *attr = NULL;
        size_t len = 0;
        int rc;

        in = fs_inode_alloc();
        if (in == NULL)
                return -ENOMEM;
        if (file_id != NULL)
                memcpy(in->file_id, file_id, sizeof(in->file_id));
        else
                secmem_random(in->file_id, sizeof(in->file_id));
        if (salt != NULL)
                memcpy(in->salt, salt, sizeof(in->salt));
        else
                secmem_random(in->salt, sizeof(in->salt));
        if (epoch_id != NULL)
                memcpy(in->epoch_id, epoch_id, sizeof(in->epoch_id));
        else
                (void)fs_keys_current(fs, in->epoch_id);
        in->kind = kind;
        in->mode = mode;
        in->uid = uid;
        in->gid = gid;
        fs_now(&in->mtime);
        in->atime = in->ctime = in->mtime;
        if (target != NULL) {
                in->target = strdup(target);
                if (in->target == NULL) {
                        rc = -ENOMEM;
                        goto fail;
                }
                in->size = strlen(target);
        }
        rc = fs_attr_encode(in, &attr, &len);
        if (rc != 0)
                goto fail;
        rc = index_inode_add(fs->ix, in->file_id, 0, attr, len, &in->ino);
        free(attr);
        if (rc != 0)
                goto fail;
        in->busy = 1;
        pthread_mutex_lock(&fs->table_lock);
        fs_table_insert(fs, in);
        pthread_mutex_unlock(&fs->table_lock);
        *out = in;
        return 0;
fail:
        fs_inode_free(in);
        return rc;
}

static int fs_purge_inode(void *arg, uint64_t ino, const uint8_t *file_id)
{
        struct fs *fs = arg;
        int rc = index_inode_delete(fs->ix, ino);

        if (rc == 0)
                fs_content_remove(fs, file_id);
        return rc;
}

/*
 * NAME in data/XX (DIRFD, XX = HI) is a re-encryption's "<file id>.rk": if
 * its file has no inode it is removed, else it stays for fs_content_open,
 * which finishes or drops it (fs->rk_seen).  Returns 1 if NAME was such a
 * file (*RC: an index error), else 0.
 */
static int fs_purge_rk(struct fs *fs, int dirfd, const char *name, int hi, int *rc)
{
        char hex[33];
        uint8_t fid[16];
        int has;

        if (strlen(name) != 32 + 3 || strcmp(name + 32, ".rk") != 0)
                return 0;
        memcpy(hex, name, 32);
        hex[32] = '\0';
        if (hex_decode(fid, sizeof(fid), hex) != 0 || fid[0] != hi)
                return 0;
        has = index_has_file_id(fs->ix, fid);
        if (has < 0)
                *rc = has;
        else if (has)
                fs->rk_seen = 1;
        else if (unlinkat(dirfd, name, 0) != 0)
                log_warn("cannot remove a stray re-encryption file");
        return 1;
}

/* Removes ciphertext files in data/XX/ whose file id has no inode (crash leftovers). */
static int fs_purge_stray_files(struct fs *fs)
{
        char sub[3];
        int i, rc = 0;

        for (i = 0; i < 256 && rc == 0; i++) {
                struct dirent *de;
                DIR *d;
                int fd;

                snprintf(sub, sizeof(sub), "%02x", i);
                fd = openat(fs->data_dirfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                d = fdopendir(fd);
                if (d == NULL) {
                        close(fd);
                        continue;
                }
                while ((de = readdir(d)) != NULL) {
                        uint8_t fid[16];
                        int has;

                        if (de->d_name[0] == '.')
                                continue;
                        if (fs_purge_rk(fs, dirfd(d), de->d_name, i, &rc)) {
                                if (rc != 0)
                                        break;
                                continue;
                        }
                        if (strlen(de->d_name) == 35 && strcmp(de->d_name + 32, ".tr") == 0) {
                                /* fs/content.c fs_cut's replacement, not renamed before a crash */
                                if (unlinkat(dirfd(d), de->d_name, 0) != 0)
                                        log_warn("cannot remove a stray truncation file");
                                continue;
                        }
                        if (hex_decode(fid, sizeof(fid), de->d_name) != 0 || fid[0] != i) {
                                log_warn("data/%s/%s: not a ciphertext file of ours; left alone",
                                         sub, de->d_name);
                                continue;
                        }
                        has = index_has_file_id(fs->ix, fid);
                        if (has < 0) {
                                rc = has;
                                break;
                        }
                        if (!has && fs_pin_keep(fs, fid) != 0)
                                continue; /* its blocks wait for upload (fs/pin.h) */
                        if (!has && unlinkat(dirfd(d), de->d_name, 0) != 0)
                                log_warn("data/%s/%s: cannot remove stray file", sub, de->d_name);
                }
                closedir(d);
        }
        return rc;
}

int fs_purge_orphans(struct fs *fs)
{
        int rc = index_for_each_orphan(fs->ix, fs_purge_inode, fs);

        if (rc == 0)
                rc = fs_purge_stray_files(fs);
        if (rc == 0)
                rc = index_commit(fs->ix);
        return rc;
}

void fs_note_change(struct fs *fs)
{
        long long now = fs_now_ms(), zero = 0;

        atomic_store(&fs->change_last_ms, now);
        atomic_compare_exchange_strong(&fs->change_first_ms, &zero, now);
}

int fs_inode_mark_changed(struct fs *fs, struct fs_inode *in, uint64_t first, uint64_t end)
{
        int rc;

        fs_note_change(fs);

        if (first < end) {
                uint64_t before = rangeset_count(&in->dirty);

                rc = rangeset_add(&in->dirty, first, end);
                if (rc != 0)
                        return rc;
                /* D2: only growth is news; re-marking a marked block keeps its mark durable
                 * (without this every in-place write committed the index). */
                if (rangeset_count(&in->dirty) != before)
                        in->dirty_gen = index_commit_gen(fs->ix);
        }
        if (in->blind) {
                /* U7: what a handle opened before a remote version writes is
                 * concurrent with that version, not its successor */
                free(in->vv);
                in->vv = in->blind_vv;
                in->nvv = in->nblind_vv;
                in->blind_vv = NULL;
                in->nblind_vv = 0;
                in->blind = 0;
        }
        in->sync_dirty = 1;
        if (in->dirty_flagged)
                return 0;
        rc = index_set_dirty(fs->ix, in->ino, 1);
        if (rc == 0)
                in->dirty_flagged = 1;
        return rc;
}

void fs_vv_put(struct enc *e, const struct fs_vv *vv, size_t n)
{
        size_t i;

        enc_u32(e, (uint32_t)n);
        for (i = 0; i < n; i++) {
                enc_fixed(e, vv[i].device_id, 16);
                enc_u64(e, vv[i].counter);
        }
}

int fs_vv_get(struct dec *d, struct fs_vv **vv, size_t *n)
{
        uint32_t cnt = dec_u32(d), i;
        struct fs_vv *v;

        *vv = NULL;
        *n = 0;
        if (d->err != 0 || cnt > FS_MAX_VV || cnt > (d->len - d->off) / 24)
                return -EBADMSG;
        if (cnt == 0)
                return 0;
        v = calloc(cnt, sizeof(*v));
        if (v == NULL)
                return -ENOMEM;
        for (i = 0; i < cnt; i++) {
                dec_fixed(d, v[i].device_id, 16);
                v[i].counter = dec_u64(d);
                if (d->err != 0 || (i > 0 && memcmp(v[i - 1].device_id, v[i].device_id, 16) >= 0)) {
                        free(v);
                        return -EBADMSG; /* sorted, no duplicates */
                }
        }
        *vv = v;
        *n = cnt;
        return 0;
}

int fs_tomb_put(struct fs *fs, const uint8_t file_id[static 16], const struct fs_tomb_of *v,
                const uint8_t parent_id[static 16], const char *name, size_t len)
{
        struct enc e;
        int rc;

        fs_note_change(fs);
        enc_init(&e);
        enc_u64(&e, v->lamport);
        enc_fixed(&e, v->hash, 32);
        fs_vv_put(&e, v->vv, v->nvv);
        enc_u8(&e, (uint8_t)v->kind);
        enc_u32(&e, v->mode & 07777);
        enc_u64(&e, (uint64_t)v->mtime.tv_sec);
        enc_u32(&e, (uint32_t)v->mtime.tv_nsec);
        enc_fixed(&e, parent_id, 16);
        enc_var(&e, name, len);
        rc = enc_error(&e);
        if (rc == 0)
                rc = index_tomb_add(fs->ix, file_id, e.buf, e.len);
        enc_release(&e);
        return rc;
}

int fs_inode_tombstone(struct fs *fs, struct fs_inode *in, const uint8_t parent_id[static 16],
                       const char *name, size_t len)
{
        struct fs_tomb_of v = {in->lamport, in->manifest_hash, in->vv,   in->nvv,
                               in->kind,    in->mode,          in->mtime};

        if (!in->has_manifest)
                return 0; /* never committed: nothing to delete remotely */
        return fs_tomb_put(fs, in->file_id, &v, parent_id, name, len);
}

void fs_sync_parent_id(const struct fs_inode *dir, uint8_t out[static 16])
{
        if (dir->ino == INDEX_ROOT_INO)
                memset(out, 0, 16);
        else
                memcpy(out, dir->file_id, 16);
}

void fs_inode_idle_locked(struct fs *fs, struct fs_inode *in)
{
        uint32_t nopen;

        pthread_mutex_lock(&fs->table_lock);
        nopen = in->nopen;
        pthread_mutex_unlock(&fs->table_lock);
        if (nopen == 0) {
                fs_content_unbuffer(fs, in);
                fs_content_close(in);
        }
}

size_t fs_inodes_buffered(struct fs *fs, long long before_ms, uint64_t *out, size_t cap)
{
        size_t i, n = 0;

        pthread_mutex_lock(&fs->table_lock);
        for (i = 0; i < fs->table_size && n < cap; i++) {
                const struct fs_inode *in;

                for (in = fs->table[i]; in != NULL && n < cap; in = in->hnext) {
                        long long since = atomic_load(&in->wb_since);

                        if (since != 0 && (before_ms == 0 || since <= before_ms))
                                out[n++] = in->ino;
                }
        }
        pthread_mutex_unlock(&fs->table_lock);
        return n;
}

int fs_index_commit(struct fs *fs)
{
        int rc = index_commit(fs->ix);

        if (rc == 0)
                fs_unlinked_drain(fs);

        if (rc != 0 && index_lost(fs->ix) && !fs->commit_broken) {
                fs->commit_broken = 1;
                fs->read_only = 1;
                log_err("the local index lost its uncommitted changes (%s): the mount is "
                        "read-only and publishes nothing until it is mounted again",
                        strerror(-rc));
        }
        return rc;
}
