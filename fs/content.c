/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File contents: one ciphertext file per inode, data/<xx>/<file id hex>.
 *
 *   header (64 bytes): "SEALSCT\x01" u8 suite u8 log2(block size) 6 x 0x00
 *                      file_id[16] salt[32]
 *   slot i at 64 + i * slot_len, slot_len = 8 + 24 + block_size + 16:
 *                      u32le sealed_len, u8 flags (bit 0: final), u8 epoch (0),
 *                      u16 0, sealed block (crypto/block.h) of sealed_len bytes
 *
 * Invariants (doc/DESIGN.md "Local content"):
 *  1. Only blocks in inode.blocks are read; every other block below the size
 *     is a hole and reads as zeros.  Holes are explicit: an all-zero or
 *     missing slot is never taken for a hole.
 *  2. A present block's plaintext never extends beyond the file size
 *     (shrinking re-seals the new last block); bytes of a block beyond its
 *     sealed plaintext read as zeros (they are an implicit hole after a
 *     later extension).
 *  3. A slot authenticates against its index, its final flag (as recorded
 *     in the slot; bound by the AAD), the file id, salt, epoch and region.
 *     Any failure is EIO for the whole request: no partial plaintext.
 *  4. Remote blocks (inode.remote, fs/fetch.c) have no slot yet: a read
 *     touching one is -ENODATA (the caller fetches and retries); writes,
 *     truncation and re-encryption fetch the blocks they keep first.
 *  5. At most one block per inode is live in the partial-block buffer
 *     (doc/DESIGN.md "Small writes"): its bytes are in memory only, reads
 *     take them from there, and every other function here that changes the
 *     content seals it first (fs_content_flush).  While it is live the
 *     record keeps the size from before (fs_content_record_size), so the
 *     slots and the record agree without it.
 */
#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "crypto/secmem.h"
#include "fs/fsint.h"
#include "fs/pin.h"
#include "util/fileio.h"
#include "util/hex.h"
#include "util/log.h"
#include "util/par.h"
#include "util/scratch.h"

#define FS_CHUNK_BLOCKS 16
#define FS_RESERVE_MIN ((uint64_t)256 << 10)
#define FS_RESERVE_MAX ((uint64_t)16 << 20)
#define FS_MAX_FILE_SIZE ((uint64_t)INT64_MAX)
static const uint8_t fs_magic[8] = {'S', 'E', 'A', 'L', 'S', 'C', 'T', 1};
static pthread_mutex_t fs_open_lock = PTHREAD_MUTEX_INITIALIZER;

/* The partial-block buffer (doc/DESIGN.md "Small writes"); limits in fs/fsint.h. */
struct fs_wbuf {
        uint8_t *plain;    /* bs bytes (secmem_cache_alloc); zeros past the block's length */
        size_t len;        /* bs: what secmem_cache_free is given back */
        uint64_t index;    /* the block held, while LIVE */
        uint64_t rec_size; /* the record's size while LIVE (invariant 2) */
        size_t cap;        /* bytes at PLAIN (the block size) */
        int live;
};
static _Atomic size_t fs_wbuf_count;

void fs_content_path(const uint8_t file_id[static 16], char *out)
{
        char hex[33];

        hex_encode(hex, file_id, 16);
        snprintf(out, 40, "%.2s/%s", hex, hex);
}

static void fs_fid_hex(const struct fs_inode *in, char out[33])
{
        hex_encode(out, in->file_id, 16);
}

static unsigned fs_log2(uint32_t v)
{
        unsigned n = 0;

        while ((1u << n) < v)
                n++;
        return n;
}

static void fs_header(const struct fs *fs, const struct fs_inode *in, const uint8_t salt[32],
                      uint8_t hdr[FS_FILE_HDR_LEN])
{
        memset(hdr, 0, FS_FILE_HDR_LEN);
        memcpy(hdr, fs_magic, 8);
        hdr[8] = (uint8_t)fs->suite;
        hdr[9] = (uint8_t)fs_log2(fs->bs);
        memcpy(hdr + 16, in->file_id, 16);
        memcpy(hdr + 32, salt, 32);
}

/* A block_ctx for IN's file id with SALT under epoch EPOCH_ID (its key from the key table). */
static int fs_ctx_for(struct fs *fs, const struct fs_inode *in, const uint8_t salt[32],
                      const uint8_t epoch_id[32], struct block_ctx **out)
{
        struct block_file_info info;
        const uint8_t *key = fs_keys_find(fs, epoch_id);
        char fid[33];
        int rc;

        if (key == NULL) {
                fs_fid_hex(in, fid);
                log_err("file %s (inode %llu): sealed under an epoch this device holds no key "
                        "for; returning EIO",
                        fid, (unsigned long long)in->ino);
                return -EIO;
        }
        memcpy(info.region_id, fs->region_id, 32);
        memcpy(info.epoch_id, epoch_id, 32);
        info.suite = fs->suite;
        memcpy(info.file_id, in->file_id, 16);
        memcpy(info.salt, salt, 32);
        rc = block_ctx_new(out, key, &info);
        secmem_wipe(&info, sizeof(info));
        return rc;
}

static int fs_make_ctx(struct fs *fs, struct fs_inode *in)
{
        return fs_ctx_for(fs, in, in->salt, in->epoch_id, &in->bctx);
}

/* data/<xx>/<file id hex>.rk: a re-encrypted file waiting to replace PATH. */
static void fs_rk_path(const struct fs_inode *in, char out[44])
{
        char path[40];

        fs_content_path(in->file_id, path);
        snprintf(out, 44, "%s.rk", path);
}

/* Creates ciphertext file PATH for IN with SALT in its header (FLAGS: O_EXCL or O_TRUNC). */
static int fs_new_file(struct fs *fs, const struct fs_inode *in, const char *path,
                       const uint8_t salt[32], int flags, int *fd_out)
{
        uint8_t hdr[FS_FILE_HDR_LEN];
        char sub[3];
        int fd, rc;

        memcpy(sub, path, 2);
        sub[2] = '\0';
        if (mkdirat(fs->data_dirfd, sub, 0700) != 0 && errno != EEXIST)
                return -errno;
        fd = openat(fs->data_dirfd, path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | flags, 0600);
        if (fd < 0)
                return -errno;
        fs_header(fs, in, salt, hdr);
        rc = fileio_pwrite_full(fd, hdr, sizeof(hdr), 0);
        if (rc != 0) {
                close(fd);
                unlinkat(fs->data_dirfd, path, 0);
                return rc;
        }
        *fd_out = fd;
        return 0;
}

static int fs_create_file(struct fs *fs, struct fs_inode *in, const char *path)
{
        return fs_new_file(fs, in, path, in->salt, O_EXCL, &in->fd);
}

/* 1 if FD's header is the one IN's authenticated record describes. */
static int fs_header_ok(struct fs *fs, const struct fs_inode *in, int fd)
{
        uint8_t want[FS_FILE_HDR_LEN], got[FS_FILE_HDR_LEN];

        fs_header(fs, in, in->salt, want);
        return fileio_pread_full(fd, got, sizeof(got), 0) == 0 &&
               memcmp(want, got, sizeof(want)) == 0;
}

/*
 * IN's durable record names the salt of its .rk file (a re-encryption or a
 * reset interrupted after its record commit): renames it over PATH and
 * returns its fd, else -ENOENT.
 */
static int fs_roll_forward(struct fs *fs, const struct fs_inode *in, const char *path);

/*
 * PATH's header does not match IN's record.  A re-encryption interrupted
 * after its record became durable left the new file as PATH.rk: finish it
 * (roll forward).  A file of a file with no present block holds nothing we
 * read (a re-encryption of an empty file rolled back): it is replaced.
 * Returns the fd, -ENOENT (replaced, absent now) or -EIO (logged).
 */
static int fs_roll_forward(struct fs *fs, const struct fs_inode *in, const char *path)
{
        char rk[44], fid[33];
        int fd;

        fs_rk_path(in, rk);
        fd = openat(fs->data_dirfd, rk, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        /* The replaced file's blocks that wait for upload stay readable (fs/pin.h). */
        if (fd >= 0 && fs_header_ok(fs, in, fd) && fs_pin_keep(fs, in->file_id) == 0 &&
            renameat(fs->data_dirfd, rk, fs->data_dirfd, path) == 0) {
                fs_fid_hex(in, fid);
                log_warn("file %s: finished a re-encryption interrupted by a crash", fid);
                return fd;
        }
        if (fd >= 0)
                close(fd);
        return -ENOENT;
}

static int fs_recover(struct fs *fs, struct fs_inode *in, const char *path)
{
        char fid[33];
        int fd = fs_roll_forward(fs, in, path);

        if (fd >= 0)
                return fd;
        if (in->blocks.n == 0 && fs_pin_keep(fs, in->file_id) == 0 &&
            unlinkat(fs->data_dirfd, path, 0) == 0)
                return -ENOENT;
        fs_fid_hex(in, fid);
        log_err("file %s (inode %llu): ciphertext file header is corrupt or short", fid,
                (unsigned long long)in->ino);
        return -EIO;
}

enum { FS_OPEN_MUST = 0, FS_OPEN_CREATE = 1, FS_OPEN_IF_EXISTS = 2 };

/*
 * Ensures IN->fd and IN->bctx.  MODE: FS_OPEN_MUST (absent file is -EIO,
 * logged), FS_OPEN_CREATE (make it), FS_OPEN_IF_EXISTS (-ENOENT, quietly).
 */
static int fs_content_open(struct fs *fs, struct fs_inode *in, int create)
{
        char path[40], fid[33];
        int fd, rc = 0;

        pthread_mutex_lock(&fs_open_lock);
        if (in->bctx == NULL) {
                rc = fs_make_ctx(fs, in);
                if (rc != 0)
                        goto out;
        }
        if (in->fd >= 0)
                goto out;
        fs_content_path(in->file_id, path);
        fd = openat(fs->data_dirfd, path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 && errno == ENOENT) {
                /* A reset of a file never fetched here had no old file (all remote). */
                fd = fs_roll_forward(fs, in, path);
                if (fd < 0)
                        errno = ENOENT;
        } else if (fd >= 0 && !fs_header_ok(fs, in, fd)) {
                close(fd);
                fd = fs_recover(fs, in, path);
                if (fd < 0 && fd != -ENOENT) {
                        rc = fd;
                        goto out;
                }
                if (fd < 0)
                        errno = ENOENT;
        } else if (fd >= 0 && fs->rk_seen) {
                char rk[44];

                fs_rk_path(in, rk);
                (void)unlinkat(fs->data_dirfd, rk, 0); /* a rolled-back re-encryption's */
        }
        if (fd < 0) {
                if (errno == ENOENT && create == FS_OPEN_CREATE) {
                        rc = fs_create_file(fs, in, path);
                } else if (errno == ENOENT && create == FS_OPEN_IF_EXISTS) {
                        rc = -ENOENT;
                } else {
                        rc = errno == ENOENT ? -EIO : -errno;
                        fs_fid_hex(in, fid);
                        log_err("file %s (inode %llu): ciphertext file missing or unreadable: %s",
                                fid, (unsigned long long)in->ino, strerror(errno));
                }
                goto out;
        }
        /* Files are mostly read front to back: a larger readahead window. */
        (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
        in->fd = fd;
out:
        pthread_mutex_unlock(&fs_open_lock);
        return rc;
}

struct fs_oldref {
        uint64_t idx;
        uint8_t hash[32];
};

/* What fs_content_reset replaced, kept until finish or abort. */
struct fs_content_old {
        int fd;
        struct block_ctx *bctx;
        uint8_t salt[32];
        uint8_t epoch_id[32];
        struct rangeset blocks;
        struct rangeset remote;
        uint64_t size;
        struct fs_oldref *refs; /* the block references of the old blocks (reset) */
        size_t nrefs;
};

static void fs_old_free(struct fs_content_old *old)
{
        if (old == NULL)
                return;
        if (old->fd >= 0)
                close(old->fd);
        block_ctx_free(old->bctx);
        rangeset_release(&old->blocks);
        rangeset_release(&old->remote);
        free(old->refs);
        free(old);
}

static void fs_wbuf_free(struct fs_inode *in);

void fs_content_close(struct fs_inode *in)
{
        if (in->wb != NULL) {
                /* Callers seal first (fs_content_unbuffer); only a failed seal gets here. */
                if (in->wb->live)
                        log_warn("inode %llu: %s", (unsigned long long)in->ino,
                                 "closing with a buffered block not sealed; its bytes are lost");
                fs_wbuf_free(in);
        }
        /* unsynced survives: a later fsync reopens the file and syncs its pages. */
        if (in->fd >= 0)
                close(in->fd);
        in->fd = -1;
        block_ctx_free(in->bctx);
        in->bctx = NULL;
        fs_old_free(in->reset); /* an unfinished reset: its .rk file is left over */
        in->reset = NULL;
}

void fs_content_remove(struct fs *fs, const uint8_t file_id[static 16])
{
        char path[40];

        fs_content_path(file_id, path);
        if (fs_pin_keep(fs, file_id) != 0) {
                log_warn("ciphertext file data/%s stays: its blocks wait for upload", path);
                return;
        }
        if (unlinkat(fs->data_dirfd, path, 0) != 0 && errno != ENOENT)
                log_warn("cannot remove ciphertext file data/%s: %s", path, strerror(errno));
}

static off_t fs_slot_off(const struct fs *fs, uint64_t index)
{
        return (off_t)(FS_FILE_HDR_LEN + index * (uint64_t)fs->slot_len);
}

/*
 * Before slots [FIRST, END) of IN change in place or are cut (END
 * UINT64_MAX: to the end): blocks a pack recipe names are kept first
 * (doc/SYNC.md D5, fs/pin.h).
 */
static int fs_slot_spill(struct fs *fs, struct fs_inode *in, uint64_t first, uint64_t end)
{
        uint64_t hi = end == UINT64_MAX ? UINT64_MAX : (uint64_t)fs_slot_off(fs, end);

        return fs_pin_spill(fs, in->file_id, in->fd, (uint64_t)fs_slot_off(fs, first), hi);
}

/*
 * Cuts IN's ciphertext file (open) after NBLOCKS slots.  A file cut to no
 * slot whose blocks wait for upload is kept whole (fs_pin_keep) and replaced
 * by a new empty one, so an O_TRUNC over a file not yet published copies
 * nothing; otherwise the cut blocks that wait are copied first.
 */
static int fs_cut(struct fs *fs, struct fs_inode *in, uint64_t nblocks)
{
        char path[40], tmp[48];
        int nfd, rc;

        if (nblocks == 0 && fs_pin_has(fs, in->file_id)) {
                fs_content_path(in->file_id, path);
                snprintf(tmp, sizeof(tmp), "%s.tr", path);
                rc = fs_pin_keep(fs, in->file_id);
                if (rc == 0)
                        rc = fs_new_file(fs, in, tmp, in->salt, O_TRUNC, &nfd);
                if (rc != 0)
                        return rc;
                if (renameat(fs->data_dirfd, tmp, fs->data_dirfd, path) != 0) {
                        rc = -errno;
                        close(nfd);
                        (void)unlinkat(fs->data_dirfd, tmp, 0);
                        return rc;
                }
                close(in->fd);
                in->fd = nfd;
                return 0;
        }
        rc = fs_slot_spill(fs, in, nblocks, UINT64_MAX);
        if (rc == 0 && ftruncate(in->fd, fs_slot_off(fs, nblocks)) != 0)
                rc = -errno;
        return rc;
}

static void fs_u32le(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)v;
        p[1] = (uint8_t)(v >> 8);
        p[2] = (uint8_t)(v >> 16);
        p[3] = (uint8_t)(v >> 24);
}

/*
 * Opens the slot at SLOT (AVAIL bytes readable there) as block INDEX into
 * PLAIN (bs bytes); *PLEN gets its plaintext length.  -EIO on any failure,
 * logged with the file id and block index.
 */
static int fs_open_slot(struct fs *fs, struct fs_inode *in, uint64_t index, const uint8_t *slot,
                        size_t avail, uint8_t *plain, size_t *plen)
{
        char fid[33];
        uint32_t slen;
        const char *why = "fails authentication";

        if (avail < FS_SLOT_HDR_LEN) {
                why = "is missing";
                goto bad;
        }
        slen = (uint32_t)slot[0] | (uint32_t)slot[1] << 8 | (uint32_t)slot[2] << 16 |
               (uint32_t)slot[3] << 24;
        if ((slot[4] & ~1u) != 0 || slot[5] != 0 || slot[6] != 0 || slot[7] != 0 ||
            slen > fs->slot_len - FS_SLOT_HDR_LEN || slen > avail - FS_SLOT_HDR_LEN) {
                why = "has a corrupt slot header";
                goto bad;
        }
        if (block_open(in->bctx, index, slot[4] & 1, slot + FS_SLOT_HDR_LEN, slen, plain, plen) !=
            0)
                goto bad;
        if (*plen > fs->bs) {
                why = "is oversized";
                goto bad;
        }
        return 0;
bad:
        fs_fid_hex(in, fid);
        log_err("file %s (inode %llu): block %llu %s; returning EIO", fid,
                (unsigned long long)in->ino, (unsigned long long)index, why);
        return -EIO;
}

/* Reads the slots of blocks [FIRST, FIRST+N) into BUF; *AVAIL gets bytes read. */
static int fs_read_slots(struct fs *fs, struct fs_inode *in, uint64_t first, size_t n, uint8_t *buf,
                         size_t *avail)
{
        size_t want = n * fs->slot_len, done = 0;
        off_t off = fs_slot_off(fs, first);

        while (done < want) {
                ssize_t r = pread(in->fd, buf + done, want - done, off + (off_t)done);

                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (r == 0)
                        break;
                done += (size_t)r;
        }
        *avail = done;
        return 0;
}

/* Reads block INDEX (present) into PLAIN (bs bytes, zero-padded to bs). */
static int fs_read_block(struct fs *fs, struct fs_inode *in, uint64_t index, uint8_t *slotbuf,
                         uint8_t *plain)
{
        size_t avail = 0, plen = 0;
        int rc;

        rc = fs_read_slots(fs, in, index, 1, slotbuf, &avail);
        if (rc == 0)
                rc = fs_open_slot(fs, in, index, slotbuf, avail, plain, &plen);
        if (rc == 0 && plen < fs->bs)
                memset(plain + plen, 0, fs->bs - plen);
        return rc;
}

/*
 * The blocks of one run that the read wants whole, opened (fs_open_whole)
 * straight into the caller's buffer (no copy through a plaintext buffer):
 * block FIRST + K goes to OUT + AT[K].  Partial blocks are opened by the
 * caller (WHOLE[K] = 0).
 */
struct fs_open_job {
        struct fs *fs;
        struct fs_inode *in;
        uint64_t first;
        const uint8_t *slots;
        size_t avail;
        uint8_t *out;
        size_t at[FS_CHUNK_BLOCKS];
        uint8_t whole[FS_CHUNK_BLOCKS];
};

static int fs_open_whole(void *arg, size_t k)
{
        const struct fs_open_job *j = arg;
        size_t soff = k * j->fs->slot_len, plen = 0;
        int rc;

        if (!j->whole[k])
                return 0;
        rc = fs_open_slot(j->fs, j->in, j->first + k, j->slots + soff,
                          j->avail > soff ? j->avail - soff : 0, j->out + j->at[k], &plen);
        if (rc == 0 && plen < j->fs->bs)
                memset(j->out + j->at[k] + plen, 0, j->fs->bs - plen);
        return rc;
}

/*
 * Opens the RUN slots read for blocks [FIRST, FIRST+RUN) (AVAIL bytes at
 * SLOTS) into the part of [OFF, OFF+LEN) they hold, at OUT + *DONE, which
 * advances.  Whole blocks straight into OUT, the partial ones (at most the
 * read's first and last) through PLAIN.
 */
static int fs_open_run(struct fs *fs, struct fs_inode *in, uint64_t first, size_t run,
                       const uint8_t *slots, size_t avail, uint64_t off, size_t len, uint8_t *out,
                       size_t *done, uint8_t *plain)
{
        struct fs_open_job job = {fs, in, first, slots, avail, out, {0}, {0}};
        size_t k, at = *done;
        int rc = 0;

        for (k = 0; k < run; k++) {
                uint64_t bstart = (first + k) * fs->bs;
                uint64_t from = off > bstart ? off - bstart : 0;
                uint64_t to = off + len < bstart + fs->bs ? off + len - bstart : fs->bs;

                job.at[k] = at;
                job.whole[k] = from == 0 && to == fs->bs;
                at += (size_t)(to - from);
        }
        /* Not fs->par: the kernel's read-ahead already sends reads on several threads, and
         * measured, helpers only added wake-ups (doc/DESIGN.md "Write path"). */
        rc = par_for(NULL, run, fs_open_whole, &job);
        for (k = 0; k < run && rc == 0; k++) {
                uint64_t bstart = (first + k) * fs->bs;
                uint64_t from = off > bstart ? off - bstart : 0;
                uint64_t to = off + len < bstart + fs->bs ? off + len - bstart : fs->bs;
                size_t soff = k * fs->slot_len, plen = 0;

                if (job.whole[k])
                        continue;
                rc = fs_open_slot(fs, in, first + k, slots + soff, avail > soff ? avail - soff : 0,
                                  plain, &plen);
                if (rc != 0)
                        break;
                if (plen < to)
                        memset(plain + plen, 0, (size_t)(to - plen));
                memcpy(out + job.at[k], plain + from, (size_t)(to - from));
        }
        if (rc == 0)
                *done = at;
        return rc;
}

int fs_content_read(struct fs *fs, struct fs_inode *in, uint64_t off, size_t len, uint8_t *out,
                    size_t *got)
{
        uint8_t *slots = NULL, *plain = NULL;
        uint64_t i, first, last;
        size_t done = 0;
        int rc = 0;

        if (off >= in->size || len == 0) {
                *got = 0;
                return 0;
        }
        if (len > in->size - off)
                len = (size_t)(in->size - off);
        first = off / fs->bs;
        last = (off + len - 1) / fs->bs;
        if (rangeset_next(&in->remote, first, &i) && i <= last)
                return -ENODATA; /* invariant 4: fetch first (fs_fetch_for_read) */
        if (in->blocks.n > 0) {
                rc = fs_content_open(fs, in, FS_OPEN_MUST);
                if (rc != 0)
                        return rc;
                slots = scratch_take(FS_CHUNK_BLOCKS * fs->slot_len);
                plain = malloc(fs->bs);
                if (slots == NULL || plain == NULL) {
                        rc = -ENOMEM;
                        goto out;
                }
        }
        for (i = first; i <= last && rc == 0;) {
                uint64_t run = 0;
                size_t avail = 0;

                while (i + run <= last && run < FS_CHUNK_BLOCKS &&
                       rangeset_contains(&in->blocks, i + run) &&
                       !(in->wb != NULL && in->wb->live && in->wb->index == i + run))
                        run++; /* the live block is read from memory below */
                if (run == 0) {
                        uint64_t bstart = i * fs->bs;
                        uint64_t from = off > bstart ? off - bstart : 0;
                        uint64_t to = off + len < bstart + fs->bs ? off + len - bstart : fs->bs;

                        memset(out + done, 0, (size_t)(to - from));
                        done += (size_t)(to - from);
                        i++;
                        continue;
                }
                rc = fs_read_slots(fs, in, i, (size_t)run, slots, &avail);
                if (rc == 0)
                        rc = fs_open_run(fs, in, i, (size_t)run, slots, avail, off, len, out, &done,
                                         plain);
                i += run;
        }
        if (rc == 0 && in->wb != NULL && in->wb->live && in->wb->index >= first &&
            in->wb->index <= last) {
                uint64_t bstart = in->wb->index * fs->bs;
                uint64_t from = off > bstart ? off - bstart : 0;
                uint64_t to = off + len < bstart + fs->bs ? off + len - bstart : fs->bs;

                memcpy(out + (bstart + from - off), in->wb->plain + from, (size_t)(to - from));
        }
out:
        if (plain != NULL) {
                secmem_wipe(plain, fs->bs);
                free(plain);
        }
        scratch_give(slots);
        if (rc != 0) {
                secmem_wipe(out, len);
                return rc;
        }
        *got = done;
        return 0;
}

/* Seals PLAIN (LEN) as block INDEX into the slot at SLOT; returns the bytes used. */
static int fs_seal_slot(const struct block_ctx *ctx, uint64_t index, int final,
                        const uint8_t *plain, size_t len, uint8_t *slot, size_t *used)
{
        size_t slen = block_sealed_len(ctx, len);
        int rc;

        fs_u32le(slot, (uint32_t)slen);
        slot[4] = (uint8_t)(final ? 1 : 0);
        slot[5] = slot[6] = slot[7] = 0; /* slot[5]: the epoch byte, always 0 (doc/DESIGN.md) */
        rc = block_seal(ctx, index, final, plain, len, slot + FS_SLOT_HDR_LEN);
        if (rc == 0)
                *used = FS_SLOT_HDR_LEN + slen;
        return rc;
}

/*
 * A large sequential writer's data starts to reach the disk while it is
 * still writing: once FS_WRITEBACK_KICK bytes have been written past the
 * last kick, they are handed to writeback (sync_file_range WRITE: starts
 * the I/O, waits for nothing, promises nothing).  Without it the kernel
 * starts only at its dirty threshold, and an fsync at the end waited for
 * the whole file at once.  Durability is unchanged: fsync still syncs.
 */
#define FS_WRITEBACK_KICK (8u << 20)

static void fs_writeback_kick(struct fs_inode *in, uint64_t end)
{
        if (end < in->wb_from)
                in->wb_from = 0; /* rewound: a new sequential run */
        if (end - in->wb_from < FS_WRITEBACK_KICK)
                return;
        (void)sync_file_range(in->fd, (off_t)in->wb_from, (off_t)(end - in->wb_from),
                              SYNC_FILE_RANGE_WRITE); /* a hint: failure changes nothing */
        in->wb_from = end;
}

/*
 * The whole blocks of one chunk, sealed by par_for: block FIRST + I of the
 * write's source goes to slot I of SLOTS.  Each call touches only its own
 * slot; the block context is immutable (crypto/block.h).
 */
struct fs_seal_job {
        const struct block_ctx *ctx;
        const struct fs *fs;
        uint64_t first, lastb, newsize, off;
        const uint8_t *buf;
        uint8_t *slots;
        size_t *used;        /* per slot */
        const uint8_t *skip; /* per slot: 1 for a partial block, sealed already */
};

static int fs_seal_whole(void *arg, size_t k)
{
        const struct fs_seal_job *j = arg;
        uint64_t i = j->first + k, bstart = i * j->fs->bs;
        size_t blen = (size_t)(j->newsize - bstart < j->fs->bs ? j->newsize - bstart : j->fs->bs);

        if (j->skip[k])
                return 0;
        return fs_seal_slot(j->ctx, i, i == j->lastb, j->buf + (bstart - j->off), blen,
                            j->slots + k * j->fs->slot_len, &j->used[k]);
}

/*
 * Writes blocks [FIRST, LAST] of the range [OFF, OFF+LEN) given the new size.
 * The blocks the write only partly covers (at most the first and the last)
 * are merged with their old bytes and sealed here; the whole ones are sealed
 * by the pool (fs->par), in parallel when it has idle helpers.
 */
static int fs_write_chunk(struct fs *fs, struct fs_inode *in, uint64_t first, uint64_t last,
                          uint64_t off, const uint8_t *buf, size_t len, uint64_t newsize,
                          uint8_t *slots, uint8_t *plain, uint8_t *tmpslot)
{
        size_t used[FS_CHUNK_BLOCKS] = {0};
        uint8_t skip[FS_CHUNK_BLOCKS] = {0};
        struct fs_seal_job job = {in->bctx, fs,   first, (newsize - 1) / fs->bs, newsize, off, buf,
                                  slots,    used, skip};
        uint64_t i;
        size_t total;
        int rc = 0;

        assert(last - first < FS_CHUNK_BLOCKS);
        for (i = first; i <= last && rc == 0; i++) {
                uint64_t bstart = i * fs->bs;
                size_t blen = (size_t)(newsize - bstart < fs->bs ? newsize - bstart : fs->bs);
                size_t from = (size_t)(off > bstart ? off - bstart : 0);
                size_t to = (size_t)(off + len < bstart + blen ? off + len - bstart : blen);

                if (from == 0 && to == blen)
                        continue; /* a whole block: sealed below */
                if (rangeset_contains(&in->blocks, i))
                        rc = fs_read_block(fs, in, i, tmpslot, plain);
                else
                        memset(plain, 0, fs->bs);
                if (rc != 0)
                        break;
                memcpy(plain + from, buf + (bstart + from - off), to - from);
                rc = fs_seal_slot(in->bctx, i, i == job.lastb, plain, blen,
                                  slots + (i - first) * fs->slot_len, &used[i - first]);
                skip[i - first] = 1;
        }
        if (rc == 0)
                rc = par_for(fs->par, (size_t)(last - first + 1), fs_seal_whole, &job);
        if (rc != 0)
                return rc;
        total = (size_t)(last - first) * fs->slot_len + used[last - first];
        rc = fs_slot_spill(fs, in, first, last + 1);
        if (rc == 0)
                rc = fileio_pwrite_full(in->fd, slots, total, fs_slot_off(fs, first));
        if (rc == 0)
                fs_writeback_kick(in, fs_slot_off(fs, first) + total);
        if (rc == 0)
                rc = rangeset_add(&in->blocks, first, last + 1);
        if (rc == 0)
                rc = rangeset_remove(&in->remote, first, last + 1); /* local now */
        return rc;
}

/*
 * Before a write seals new blocks: moves IN to the current epoch if the
 * index may be committed now.  fs_content_to_current commits the index, and
 * a COMMIT inside the committer's savepoint (held with fs->ns_lock, which
 * ranks above IN->lock) would break it, so this only tries ns_lock; when it
 * is busy the write stays under IN's epoch locally, and the committer
 * re-encrypts the file before publishing it (no version is ever published
 * under an old epoch).
 */
static int fs_to_current_try(struct fs *fs, struct fs_inode *in)
{
        int rc;

        if (fs_keys_is_current(fs, in->epoch_id) || pthread_mutex_trylock(&fs->ns_lock) != 0)
                return 0;
        rc = fs_content_to_current(fs, in);
        pthread_mutex_unlock(&fs->ns_lock);
        return rc;
}

/* Fetches block INDEX of IN if it is remote (caller holds IN->lock for writing). */
static int fs_need_local(struct fs *fs, struct fs_inode *in, uint64_t index)
{
        if (!rangeset_contains(&in->remote, index))
                return 0;
        return fs_fetch_locked(fs, in, index, index + 1);
}

/*
 * Before writing [OFF, OFF+LEN): the blocks it keeps part of (its first and
 * last), and the old last block when the file grows (its final flag
 * changes), must be local.
 */
static int fs_write_needs(struct fs *fs, struct fs_inode *in, uint64_t off, size_t len)
{
        uint64_t end = off + len, first = off / fs->bs, last = (end - 1) / fs->bs;
        int rc = 0;

        if (in->remote.n == 0)
                return 0;
        if (off % fs->bs != 0 || (end < (first + 1) * fs->bs && end < in->size))
                rc = fs_need_local(fs, in, first);
        if (rc == 0 && end % fs->bs != 0 && end < in->size)
                rc = fs_need_local(fs, in, last);
        if (rc == 0 && in->size > 0 && end > in->size)
                rc = fs_need_local(fs, in, (in->size - 1) / fs->bs);
        return rc;
}

/*
 * What every write of [OFF, OFF+LEN) needs before its bytes go anywhere
 * (the data file or the block buffer): the remote blocks it only partly
 * covers fetched, the file on the current epoch, bytes past the size
 * zeroed, the data file open.  0 or a negative errno.
 */
static int fs_write_prepare(struct fs *fs, struct fs_inode *in, uint64_t off, size_t len)
{
        int rc = fs_write_needs(fs, in, off, len);

        if (rc == 0)
                rc = fs_to_current_try(fs, in); /* new content: the current epoch */
        if (rc == 0 && off + len > in->size)
                rc = fs_content_trim_last(fs, in); /* bytes past the size stay zeros */
        if (rc > 0)
                rc = 0;
        if (rc == 0)
                rc = fs_content_open(fs, in, FS_OPEN_CREATE);
        return rc;
}

int fs_content_write_ready(struct fs *fs, struct fs_inode *in, uint64_t off, size_t len)
{
        int rc;

        if (len == 0 || off > FS_MAX_FILE_SIZE || len > FS_MAX_FILE_SIZE - off)
                return len == 0 ? 0 : -EFBIG;
        rc = fs_content_flush(fs, in);
        return rc == 0 ? fs_write_prepare(fs, in, off, len) : rc;
}

int fs_content_write(struct fs *fs, struct fs_inode *in, uint64_t off, const uint8_t *buf,
                     size_t len)
{
        int rc = fs_content_write_ready(fs, in, off, len);

        return rc == 0 ? fs_content_write_prepared(fs, in, off, buf, len) : rc;
}

int fs_content_write_prepared(struct fs *fs, struct fs_inode *in, uint64_t off, const uint8_t *buf,
                              size_t len)
{
        uint8_t *slots = NULL, *plain = NULL, *tmpslot = NULL;
        uint64_t newsize, first, last, i;
        int rc = 0;

        if (len == 0)
                return 0;
        newsize = off + len > in->size ? off + len : in->size;
        slots = scratch_take(FS_CHUNK_BLOCKS * fs->slot_len);
        plain = malloc(fs->bs);
        tmpslot = malloc(fs->slot_len);
        if (slots == NULL || plain == NULL || tmpslot == NULL) {
                rc = -ENOMEM;
                goto out;
        }
        first = off / fs->bs;
        last = (off + len - 1) / fs->bs;
        for (i = first; i <= last && rc == 0; i += FS_CHUNK_BLOCKS) {
                uint64_t end = i + FS_CHUNK_BLOCKS - 1 < last ? i + FS_CHUNK_BLOCKS - 1 : last;

                rc = fs_write_chunk(fs, in, i, end, off, buf, len, newsize, slots, plain, tmpslot);
        }
        if (rc == 0) {
                in->size = newsize;
                in->unsynced = 1;
        }
out:
        if (plain != NULL) {
                secmem_wipe(plain, fs->bs);
                free(plain);
        }
        scratch_give(slots);
        free(tmpslot);
        return rc;
}

int fs_space_check(struct fs *fs, uint64_t need, int user)
{
        struct statvfs sv;
        uint64_t total, avail, reserve;

        if (fstatvfs(fs->data_dirfd, &sv) != 0)
                return 0;
        total = (uint64_t)sv.f_blocks * sv.f_frsize;
        avail = (uint64_t)sv.f_bavail * sv.f_frsize;
        reserve = total / 32;
        if (reserve < FS_RESERVE_MIN)
                reserve = FS_RESERVE_MIN;
        if (reserve > FS_RESERVE_MAX)
                reserve = FS_RESERVE_MAX;
        if (user)
                reserve *= 2;
        return avail >= reserve && avail - reserve >= need ? 0 : -ENOSPC;
}

/* Bytes of block INDEX below IN's size (bs for a block wholly inside). */
static size_t fs_block_len(const struct fs *fs, const struct fs_inode *in, uint64_t index)
{
        uint64_t start = index * fs->bs;

        if (in->size <= start)
                return 0;
        return in->size - start < fs->bs ? (size_t)(in->size - start) : fs->bs;
}

int fs_content_trim_last(struct fs *fs, struct fs_inode *in)
{
        uint8_t hdr[FS_SLOT_HDR_LEN], *slot = NULL, *plain = NULL;
        uint64_t last;
        size_t want, used = 0;
        uint32_t slen;
        int rc = fs_content_flush(fs, in);

        if (rc != 0)
                return rc;
        if (in->size == 0)
                return 0;
        last = (in->size - 1) / fs->bs;
        if (!rangeset_contains(&in->blocks, last) || rangeset_contains(&in->remote, last))
                return 0;
        want = fs_block_len(fs, in, last);
        rc = fs_content_open(fs, in, FS_OPEN_MUST);
        if (rc == 0)
                rc = fileio_pread_full(in->fd, hdr, sizeof(hdr), fs_slot_off(fs, last));
        if (rc != 0)
                return rc;
        slen = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 |
               (uint32_t)hdr[3] << 24;
        if (slen <= block_sealed_len(in->bctx, want))
                return 0;
        slot = malloc(fs->slot_len);
        plain = malloc(fs->bs);
        if (slot == NULL || plain == NULL) {
                rc = -ENOMEM;
                goto out;
        }
        rc = fs_read_block(fs, in, last, slot, plain);
        if (rc == 0)
                rc = fs_seal_slot(in->bctx, last, hdr[4] & 1, plain, want, slot, &used);
        if (rc == 0)
                rc = fs_slot_spill(fs, in, last, last + 1);
        if (rc == 0)
                rc = fileio_pwrite_full(in->fd, slot, used, fs_slot_off(fs, last));
        if (rc == 0)
                in->unsynced = 1;
out:
        if (plain != NULL) {
                secmem_wipe(plain, fs->bs);
                free(plain);
        }
        free(slot);
        return rc == 0 ? 1 : rc;
}

int fs_content_truncate(struct fs *fs, struct fs_inode *in, uint64_t size)
{
        uint64_t nblocks, i;
        int rc = 0;

        if (size > FS_MAX_FILE_SIZE)
                return -EFBIG;
        rc = fs_content_flush(fs, in);
        if (rc != 0)
                return rc;
        if (in->size > 0 && size > in->size)
                rc = fs_need_local(fs, in, (in->size - 1) / fs->bs); /* no longer final */
        else if (size > 0 && size < in->size)
                rc = fs_need_local(fs, in, (size - 1) / fs->bs); /* re-sealed when settled */
        if (rc == 0 && size > in->size)
                rc = fs_content_trim_last(fs, in); /* its bytes past the old size: gone */
        if (rc < 0)
                return rc;
        if (size >= in->size) {
                in->size = size; /* growth is a hole: nothing to write */
                return 0;
        }
        /*
         * D2: only the record changes now.  The slots stay until the record
         * is durable (fs_content_settle): a crash before reads the old version.
         */
        nblocks = (size + fs->bs - 1) / fs->bs;
        if (rangeset_next(&in->blocks, nblocks, &i) ||
            (size % fs->bs != 0 && rangeset_contains(&in->blocks, nblocks - 1))) {
                in->settle_due = 1;
                in->content_gen++;
        }
        rangeset_truncate(&in->blocks, nblocks);
        rangeset_truncate(&in->remote, nblocks);
        in->size = size;
        in->unsynced = 1;
        return 0;
}

int fs_content_settle(struct fs *fs, struct fs_inode *in, uint64_t gen)
{
        int rc;

        if (!in->settle_due || in->content_gen != gen)
                return 0;
        rc = fs_content_trim_last(fs, in); /* seals a live block first */
        if (rc < 0)
                return rc;
        /* Give back the space of dropped slots (the file may not exist yet). */
        rc = fs_content_open(fs, in, FS_OPEN_IF_EXISTS);
        if (rc == 0)
                rc = fs_cut(fs, in, (in->size + fs->bs - 1) / fs->bs);
        if (rc != 0 && rc != -ENOENT)
                return rc;
        in->settle_due = 0;
        return 0;
}

int fs_content_sync(struct fs *fs, struct fs_inode *in)
{
        int rc = fs_content_flush(fs, in);

        if (rc != 0)
                return rc;
        if (!in->unsynced)
                return 0;
        /* The fd may have been closed since the write (the page cache is per file). */
        rc = fs_content_open(fs, in, FS_OPEN_IF_EXISTS);
        if (rc == -ENOENT) {
                in->unsynced = 0;
                return 0;
        }
        if (rc != 0)
                return rc;
        if (fdatasync(in->fd) != 0)
                return -errno;
        in->unsynced = 0;
        return 0;
}

/* ---- the partial-block buffer (doc/DESIGN.md "Small writes") ---- */

long long fs_now_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1; /* never 0 */
}

static void fs_wbuf_free(struct fs_inode *in)
{
        struct fs_wbuf *wb = in->wb;

        if (wb == NULL)
                return;
        atomic_store(&in->wb_since, 0);
        secmem_cache_free(wb->plain, wb->len); /* wipes */
        free(wb);
        in->wb = NULL;
        atomic_fetch_sub(&fs_wbuf_count, 1);
}

/* IN's buffer, allocated if needed: 0, or -ENOBUFS when the process has FS_WBUF_MAX. */
static int fs_wbuf_get(struct fs *fs, struct fs_inode *in)
{
        struct fs_wbuf *wb;

        if (in->wb != NULL)
                return 0;
        if (atomic_fetch_add(&fs_wbuf_count, 1) >= FS_WBUF_MAX) {
                atomic_fetch_sub(&fs_wbuf_count, 1);
                return -ENOBUFS;
        }
        wb = calloc(1, sizeof(*wb));
        if (wb != NULL) {
                wb->plain = secmem_cache_alloc(fs->bs);
                wb->len = fs->bs;
        }
        if (wb == NULL || wb->plain == NULL) {
                free(wb);
                atomic_fetch_sub(&fs_wbuf_count, 1);
                return -ENOBUFS;
        }
        wb->cap = fs->bs;
        in->wb = wb;
        return 0;
}

/*
 * Makes block INDEX live in IN's buffer for a write of [OFF, OFF+LEN)
 * inside it: the preparations of a direct write, then its plaintext (zeros
 * for a hole or a new block; bytes past the size zeroed).  -ENOBUFS: no
 * buffer to be had (write directly).
 */
static int fs_wbuf_start(struct fs *fs, struct fs_inode *in, uint64_t index, uint64_t off,
                         size_t len)
{
        struct fs_wbuf *wb;
        uint8_t *slot = NULL;
        size_t blen;
        int rc;

        rc = fs_write_prepare(fs, in, off, len);
        if (rc == 0)
                rc = fs_wbuf_get(fs, in);
        if (rc != 0)
                return rc;
        wb = in->wb;
        blen = fs_block_len(fs, in, index);
        if (blen > 0 && rangeset_contains(&in->blocks, index)) {
                slot = malloc(fs->slot_len);
                rc = slot != NULL ? fs_read_block(fs, in, index, slot, wb->plain) : -ENOMEM;
                free(slot);
                if (rc != 0) {
                        secmem_wipe(wb->plain, wb->cap);
                        return rc;
                }
                memset(wb->plain + blen, 0, wb->cap - blen); /* an unsettled truncation's */
        } else {
                memset(wb->plain, 0, wb->cap);
        }
        wb->index = index;
        wb->rec_size = in->size;
        wb->live = 1;
        atomic_store(&in->wb_since, fs_now_ms());
        return 0;
}

int fs_content_write_small(struct fs *fs, struct fs_inode *in, uint64_t off, const uint8_t *buf,
                           size_t len, int *held)
{
        uint64_t index = off / fs->bs;
        int rc;

        if (len == 0 || len >= fs->bs || off > FS_MAX_FILE_SIZE || len > FS_MAX_FILE_SIZE - off ||
            (off + len - 1) / fs->bs != index)
                goto direct; /* whole blocks, several blocks: sealed at once */
        if (in->wb != NULL && in->wb->live && in->wb->index != index) {
                rc = fs_content_flush(fs, in);
                if (rc != 0)
                        return rc;
        }
        if (in->wb == NULL || !in->wb->live) {
                rc = fs_wbuf_start(fs, in, index, off, len);
                if (rc == -ENOBUFS)
                        goto direct;
                if (rc != 0)
                        return rc;
        }
        memcpy(in->wb->plain + (off - index * fs->bs), buf, len);
        if (off + len > in->size)
                in->size = off + len;
        *held = (off + len) % fs->bs == 0 ? FS_WB_FULL : FS_WB_HELD;
        return 0;
direct:
        rc = fs_content_write(fs, in, off, buf, len);
        if (rc == 0)
                *held = FS_WB_DIRECT;
        return rc;
}

int fs_content_flush(struct fs *fs, struct fs_inode *in)
{
        struct fs_wbuf *wb = in->wb;
        uint8_t *slot = NULL;
        size_t blen, used = 0;
        int rc;

        if (wb == NULL || !wb->live)
                return 0;
        blen = fs_block_len(fs, in, wb->index);
        assert(blen > 0); /* a write into the block made the size reach it */
        rc = fs_content_open(fs, in, FS_OPEN_CREATE);
        if (rc == 0) {
                slot = malloc(fs->slot_len);
                rc = slot != NULL ? 0 : -ENOMEM;
        }
        if (rc == 0)
                rc = fs_seal_slot(in->bctx, wb->index, wb->index == (in->size - 1) / fs->bs,
                                  wb->plain, blen, slot, &used);
        if (rc == 0)
                rc = fs_slot_spill(fs, in, wb->index, wb->index + 1);
        if (rc == 0)
                rc = fileio_pwrite_full(in->fd, slot, used, fs_slot_off(fs, wb->index));
        free(slot);
        if (rc == 0)
                rc = rangeset_add(&in->blocks, wb->index, wb->index + 1);
        if (rc == 0)
                rc = rangeset_remove(&in->remote, wb->index, wb->index + 1);
        if (rc != 0)
                return rc; /* still live: a later flush tries again */
        in->unsynced = 1;
        wb->live = 0;
        atomic_store(&in->wb_since, 0);
        return fs_inode_save(fs, in);
}

void fs_content_unbuffer(struct fs *fs, struct fs_inode *in)
{
        int rc = fs_content_flush(fs, in);

        if (rc != 0) {
                log_err("inode %llu: cannot seal a buffered block (%s); its unsynced bytes are "
                        "lost",
                        (unsigned long long)in->ino, strerror(-rc));
                in->wb_err = rc;
        }
        fs_wbuf_free(in);
}

void fs_content_expire(struct fs *fs, long long delay_ms)
{
        uint64_t inos[64];
        long long before = delay_ms > 0 ? fs_now_ms() - delay_ms : 0;
        size_t n, i, rounds = 0;

        do {
                n = fs_inodes_buffered(fs, before, inos, sizeof(inos) / sizeof(inos[0]));
                for (i = 0; i < n; i++) {
                        struct fs_inode *in;
                        long long since;

                        if (fs_inode_get(fs, inos[i], &in) != 0)
                                continue;
                        pthread_rwlock_wrlock(&in->lock);
                        since = atomic_load(&in->wb_since);
                        if (since != 0 && (before == 0 || since <= before))
                                fs_content_unbuffer(fs, in);
                        pthread_rwlock_unlock(&in->lock);
                        fs_inode_put(fs, in);
                }
        } while (n == sizeof(inos) / sizeof(inos[0]) && delay_ms == 0 &&
                 ++rounds < 2 * FS_WBUF_MAX); /* FS_WBUF_MAX buffers at most: bounded */
}

uint64_t fs_content_record_size(const struct fs_inode *in)
{
        return in->wb != NULL && in->wb->live ? in->wb->rec_size : in->size;
}

/*
 * The authenticated sealed bytes of present block INDEX into OUT (may be
 * NULL), *OUT_LEN.  If its recorded final flag is not FINAL: with RESEAL the
 * block is re-sealed in place (caller holds the write lock), else -EAGAIN.
 */
static int fs_sealed_block(struct fs *fs, struct fs_inode *in, uint64_t index, int final,
                           int reseal, uint8_t *out, size_t *out_len)
{
        uint8_t *slot = NULL, *plain = NULL;
        size_t avail = 0, plen = 0, used = 0;
        int rc;

        rc = fs_content_open(fs, in, FS_OPEN_MUST);
        if (rc != 0)
                return rc;
        slot = malloc(fs->slot_len);
        plain = malloc(fs->bs);
        if (slot == NULL || plain == NULL) {
                rc = -ENOMEM;
                goto out;
        }
        rc = fs_read_slots(fs, in, index, 1, slot, &avail);
        /* Authenticate before anything leaves the device: never spread local corruption. */
        if (rc == 0)
                rc = fs_open_slot(fs, in, index, slot, avail, plain, &plen);
        if (rc != 0)
                goto out;
        if ((slot[4] & 1) != (final ? 1 : 0)) {
                if (!reseal) {
                        rc = -EAGAIN; /* changed since its flag was fixed */
                        goto out;
                }
                rc = fs_seal_slot(in->bctx, index, final, plain, plen, slot, &used);
                if (rc == 0)
                        rc = fs_slot_spill(fs, in, index, index + 1);
                if (rc == 0)
                        rc = fileio_pwrite_full(in->fd, slot, used, fs_slot_off(fs, index));
                if (rc != 0)
                        goto out;
                in->unsynced = 1;
        }
        if (out != NULL) {
                *out_len = block_sealed_len(in->bctx, plen);
                memcpy(out, slot + FS_SLOT_HDR_LEN, *out_len);
        }
out:
        if (plain != NULL) {
                secmem_wipe(plain, fs->bs);
                free(plain);
        }
        free(slot);
        return rc;
}

int fs_content_put_sealed(struct fs *fs, struct fs_inode *in, uint64_t index, int final,
                          const uint8_t *sealed, size_t len)
{
        uint8_t *slot = NULL, *plain = NULL;
        size_t plen = 0;
        int rc;

        if (len + FS_SLOT_HDR_LEN > fs->slot_len)
                return -EBADMSG;
        rc = fs_content_flush(fs, in);
        if (rc == 0)
                rc = fs_content_open(fs, in, FS_OPEN_CREATE);
        if (rc != 0)
                return rc;
        slot = malloc(fs->slot_len);
        plain = malloc(fs->bs);
        if (slot == NULL || plain == NULL) {
                rc = -ENOMEM;
                goto out;
        }
        /* Authenticity was shown by the signed hash; this also proves the binding. */
        if (block_open(in->bctx, index, final, sealed, len, plain, &plen) != 0 || plen > fs->bs) {
                char fid[33];

                fs_fid_hex(in, fid);
                log_err("file %s: received block %llu does not open under this file's keys", fid,
                        (unsigned long long)index);
                rc = -EBADMSG;
                goto out;
        }
        fs_u32le(slot, (uint32_t)len);
        slot[4] = (uint8_t)(final ? 1 : 0);
        slot[5] = slot[6] = slot[7] = 0;
        memcpy(slot + FS_SLOT_HDR_LEN, sealed, len);
        rc = fs_slot_spill(fs, in, index, index + 1);
        if (rc == 0)
                rc =
                    fileio_pwrite_full(in->fd, slot, FS_SLOT_HDR_LEN + len, fs_slot_off(fs, index));
        if (rc == 0)
                in->unsynced = 1;
out:
        if (plain != NULL) {
                secmem_wipe(plain, fs->bs);
                free(plain);
        }
        free(slot);
        return rc;
}

int fs_content_drop_slot(struct fs *fs, struct fs_inode *in, uint64_t index)
{
        static const uint8_t zero[FS_SLOT_HDR_LEN];
        int rc = fs_content_flush(fs, in);

        if (rc != 0)
                return rc;
        rc = fs_content_open(fs, in, FS_OPEN_IF_EXISTS);
        in->content_gen++; /* a pending settle must not cut what the new version needs */
        if (rc == -ENOENT)
                return 0; /* no file: no old slot */
        if (rc == 0)
                rc = fs_slot_spill(fs, in, index, index + 1);
        if (rc == 0)
                rc = fileio_pwrite_full(in->fd, zero, sizeof(zero), fs_slot_off(fs, index));
        if (rc == 0)
                in->unsynced = 1;
        return rc;
}

void fs_content_trim(struct fs *fs, struct fs_inode *in, uint64_t nblocks)
{
        if (fs_content_flush(fs, in) != 0)
                log_warn("inode %llu: a buffered block is not sealed before a trim",
                         (unsigned long long)in->ino);
        in->content_gen++; /* a pending settle must not cut what this leaves */
        if (fs_content_open(fs, in, FS_OPEN_IF_EXISTS) == 0) {
                int rc = fs_cut(fs, in, nblocks);

                if (rc != 0)
                        log_warn("cannot shorten a ciphertext file: %s", strerror(-rc));
        }
}

int fs_content_fix_final(struct fs *fs, struct fs_inode *in, uint64_t index, int final)
{
        uint8_t hdr[FS_SLOT_HDR_LEN];
        int rc = fs_content_flush(fs, in), trimmed = 0;

        if (rc != 0)
                return rc;
        if (in->size > 0 && index == (in->size - 1) / fs->bs) {
                /* D2: a truncation not settled must not publish bytes past the size. */
                trimmed = fs_content_trim_last(fs, in);
                if (trimmed < 0)
                        return trimmed;
        }
        rc = fs_content_open(fs, in, FS_OPEN_MUST);
        if (rc == 0)
                rc = fileio_pread_full(in->fd, hdr, sizeof(hdr), fs_slot_off(fs, index));
        if (rc != 0)
                return rc;
        if ((hdr[4] & 1) == (final ? 1 : 0))
                return trimmed;
        rc = fs_sealed_block(fs, in, index, final, 1, NULL, NULL);
        return rc == 0 ? 1 : rc;
}

int fs_content_sealed_ro(struct fs *fs, struct fs_inode *in, uint64_t index, int final,
                         uint8_t *out, size_t *out_len)
{
        return fs_sealed_block(fs, in, index, final, 0, out, out_len);
}

/* ---- key epochs: re-encryption and replacement (doc/DESIGN.md "Key epochs") ---- */

/* Moves IN's content state into a new *OLD and installs NFD/NCTX/SALT/EPOCH_ID. */
static int fs_swap_in(struct fs_inode *in, int nfd, struct block_ctx *nctx, const uint8_t salt[32],
                      const uint8_t epoch_id[32], struct fs_content_old **old)
{
        struct fs_content_old *o = calloc(1, sizeof(*o));

        if (o == NULL)
                return -ENOMEM;
        o->fd = in->fd;
        o->bctx = in->bctx;
        memcpy(o->salt, in->salt, 32);
        memcpy(o->epoch_id, in->epoch_id, 32);
        rangeset_init(&o->blocks);
        if (rangeset_copy(&o->blocks, &in->blocks) != 0) {
                free(o);
                return -ENOMEM;
        }
        o->remote = in->remote; /* the new content has its own (fs/apply.c sets it) */
        rangeset_init(&in->remote);
        o->size = in->size;
        in->fd = nfd;
        in->bctx = nctx;
        memcpy(in->salt, salt, 32);
        memcpy(in->epoch_id, epoch_id, 32);
        *old = o;
        return 0;
}

/* Puts OLD's content state back into IN (the new fd and ctx are closed); OLD's refs stay. */
static void fs_swap_back(struct fs_inode *in, struct fs_content_old *old)
{
        if (in->fd >= 0)
                close(in->fd);
        block_ctx_free(in->bctx);
        in->fd = old->fd;
        in->bctx = old->bctx;
        memcpy(in->salt, old->salt, 32);
        memcpy(in->epoch_id, old->epoch_id, 32);
        rangeset_release(&in->blocks);
        in->blocks = old->blocks;
        rangeset_release(&in->remote);
        in->remote = old->remote;
        in->size = old->size;
        old->fd = -1;
        old->bctx = NULL;
        rangeset_init(&old->blocks);
        rangeset_init(&old->remote);
}

/* fsyncs the data/<xx> directory of PATH (data/-relative). */
static int fs_sync_subdir(struct fs *fs, const char *path)
{
        char sub[3];

        memcpy(sub, path, 2);
        sub[2] = '\0';
        return fileio_fsync_dirat(fs->data_dirfd, sub);
}

/*
 * Makes IN's record (new salt and epoch) durable, then puts its .rk file in
 * place of its file.  Fails only before the record is durable.
 */
static int fs_rk_commit(struct fs *fs, struct fs_inode *in)
{
        char path[40], rk[44];
        int rc;

        fs_content_path(in->file_id, path);
        if (fdatasync(in->fd) != 0)
                return -errno;
        /* The .rk entry itself must survive power loss before the record names its salt. */
        rc = fs_sync_subdir(fs, path);
        if (rc == 0)
                rc = fs_inode_save(fs, in);
        if (rc == 0)
                rc = index_commit(fs->ix); /* from here on a crash rolls forward (fs_recover) */
        if (rc != 0)
                return rc;
        fs_rk_path(in, rk);
        /* The old file's blocks that wait for upload stay readable (fs/pin.h). */
        if (fs_pin_keep(fs, in->file_id) != 0 ||
            renameat(fs->data_dirfd, rk, fs->data_dirfd, path) != 0) {
                /* The durable record names the new file: fs_recover finishes it. */
                log_warn("cannot put a re-encrypted ciphertext file in place yet: %s",
                         strerror(errno));
                return 0;
        }
        (void)fs_sync_subdir(fs, path); /* best effort: fs_recover covers a lost rename */
        return 0;
}

/* Re-seals blocks [FIRST, FIRST+N) of IN (old ctx, fd) under NCTX into NFD. */
static int fs_reseal_run(struct fs *fs, struct fs_inode *in, struct block_ctx *nctx, int nfd,
                         uint64_t first, size_t n, uint8_t *slots, uint8_t *plain)
{
        size_t avail = 0, j, plen = 0, used = 0;
        int rc = fs_read_slots(fs, in, first, n, slots, &avail);

        for (j = 0; j < n && rc == 0; j++) {
                size_t soff = j * fs->slot_len;
                uint8_t *slot = slots + soff;

                rc = fs_open_slot(fs, in, first + j, slot, avail > soff ? avail - soff : 0, plain,
                                  &plen);
                /* The recorded final flag is kept: the committer canonicalises it. */
                if (rc == 0)
                        rc = fs_seal_slot(nctx, first + j, slot[4] & 1, plain, plen, slot, &used);
                if (rc == 0 && used < fs->slot_len)
                        memset(slot + used, 0, fs->slot_len - used);
        }
        secmem_wipe(plain, fs->bs);
        if (rc == 0)
                rc = fileio_pwrite_full(nfd, slots, n * fs->slot_len, fs_slot_off(fs, first));
        return rc;
}

/* Re-seals every present block of IN under NCTX into NFD, FS_CHUNK_BLOCKS at a time. */
static int fs_reseal_all(struct fs *fs, struct fs_inode *in, struct block_ctx *nctx, int nfd)
{
        uint8_t *slots = malloc(FS_CHUNK_BLOCKS * fs->slot_len), *plain = malloc(fs->bs);
        size_t r;
        int rc = slots != NULL && plain != NULL ? 0 : -ENOMEM;

        for (r = 0; r < in->blocks.n && rc == 0; r++) {
                uint64_t i = in->blocks.r[r].start, end = in->blocks.r[r].end;

                while (i < end && rc == 0) {
                        size_t n = end - i < FS_CHUNK_BLOCKS ? (size_t)(end - i) : FS_CHUNK_BLOCKS;

                        rc = fs_reseal_run(fs, in, nctx, nfd, i, n, slots, plain);
                        i += n;
                }
        }
        if (plain != NULL) {
                secmem_wipe(plain, fs->bs);
                free(plain);
        }
        free(slots);
        return rc;
}

/* A file without present blocks: nothing to re-seal, its (stale) file goes. */
static void fs_rekey_empty(struct fs *fs, struct fs_inode *in, const uint8_t salt[32],
                           const uint8_t epoch_id[32])
{
        fs_content_close(in);
        fs_content_remove(fs, in->file_id);
        if (salt != in->salt) /* directories and symlinks keep theirs: no overlapping copy */
                memcpy(in->salt, salt, 32);
        memcpy(in->epoch_id, epoch_id, 32);
}

/*
 * Opens IN's current content and creates its .rk file under SALT/EPOCH_ID
 * with its ctx (*NFD, *NCTX).  ALL_REMOTE: IN has no local block, so a
 * missing file is fine (a device that never read the file has none).
 */
static int fs_rk_start(struct fs *fs, struct fs_inode *in, const uint8_t salt[32],
                       const uint8_t epoch_id[32], int all_remote, int *nfd,
                       struct block_ctx **nctx)
{
        char rk[44];
        int rc = fs_content_open(fs, in, all_remote ? FS_OPEN_IF_EXISTS : FS_OPEN_MUST);

        if (rc == -ENOENT && all_remote)
                rc = 0; /* in->fd stays -1: the old content is all remote */

        if (rc == 0)
                rc = fs_ctx_for(fs, in, salt, epoch_id, nctx);
        if (rc != 0)
                return rc;
        fs_rk_path(in, rk);
        rc = fs_new_file(fs, in, rk, salt, O_TRUNC, nfd);
        if (rc != 0) {
                block_ctx_free(*nctx);
                *nctx = NULL;
        }
        return rc;
}

static void fs_rk_drop(struct fs *fs, struct fs_inode *in)
{
        char rk[44];

        fs_rk_path(in, rk);
        (void)unlinkat(fs->data_dirfd, rk, 0);
}

/* Undoes fs_rk_start after a failure: closes NFD, frees NCTX, removes the .rk file. */
static void fs_rk_abort(struct fs *fs, struct fs_inode *in, int nfd, struct block_ctx *nctx)
{
        if (nfd >= 0)
                close(nfd);
        block_ctx_free(nctx);
        fs_rk_drop(fs, in);
}

/* Marks every present block of IN changed: the next commit uploads them all. */
static int fs_mark_all(struct fs *fs, struct fs_inode *in)
{
        size_t r;
        int rc = index_blockref_truncate(fs->ix, in->ino, 0);

        for (r = 0; r < in->blocks.n && rc == 0; r++)
                rc = fs_inode_mark_changed(fs, in, in->blocks.r[r].start, in->blocks.r[r].end);
        return rc;
}

int fs_content_to_current(struct fs *fs, struct fs_inode *in)
{
        struct fs_content_old *old = NULL;
        struct block_ctx *nctx = NULL;
        uint8_t cur[32], salt[32];
        char fid[33];
        int nfd = -1, rc;

        (void)fs_keys_current(fs, cur);
        if (memcmp(in->epoch_id, cur, 32) == 0)
                return 0;
        rc = fs_content_flush(fs, in); /* the live block is re-sealed with the others */
        /* Re-encryption needs the plaintext of every block: fetch the remote ones. */
        if (rc == 0)
                rc = fs_fetch_locked(fs, in, 0, UINT64_MAX);
        if (rc != 0)
                return rc;
        if (in->kind != FS_KIND_REG || in->blocks.n == 0) {
                secmem_random(salt, 32);
                fs_rekey_empty(fs, in, in->kind == FS_KIND_REG ? salt : in->salt, cur);
                return 0;
        }
        secmem_random(salt, 32);
        rc = fs_rk_start(fs, in, salt, cur, 0, &nfd, &nctx);
        if (rc == 0)
                rc = fs_reseal_all(fs, in, nctx, nfd);
        if (rc == 0)
                rc = fs_swap_in(in, nfd, nctx, salt, cur, &old);
        if (rc != 0) {
                fs_rk_abort(fs, in, nfd, nctx);
                return rc;
        }
        rc = fs_mark_all(fs, in);
        if (rc == 0)
                rc = fs_rk_commit(fs, in);
        if (rc != 0) {
                fs_swap_back(in, old);
                fs_old_free(old);
                fs_rk_drop(fs, in);
                if (fs_inode_save(fs, in) != 0)
                        log_err("inode %llu: cannot restore its record",
                                (unsigned long long)in->ino);
                return rc;
        }
        fs_old_free(old);
        fs_fid_hex(in, fid);
        log_info("file %s: re-encrypted under the current epoch", fid);
        return 0;
}

/* Snapshots the block references of OLD's blocks (IN's inode) into OLD. */
static int fs_old_refs_save(struct fs *fs, const struct fs_inode *in, struct fs_content_old *old)
{
        size_t r, cap = 0;
        uint64_t i;
        int rc = 0;

        for (r = 0; r < old->blocks.n && rc == 0; r++) {
                for (i = old->blocks.r[r].start; i < old->blocks.r[r].end && rc == 0; i++) {
                        uint8_t h[32];

                        rc = index_blockref_get(fs->ix, in->ino, i, h);
                        if (rc == -ENOENT) {
                                rc = 0; /* never committed */
                                continue;
                        }
                        if (rc == 0 && old->nrefs == cap) {
                                struct fs_oldref *n;

                                cap = cap ? 2 * cap : 64;
                                n = realloc(old->refs, cap * sizeof(*n));
                                if (n == NULL)
                                        return -ENOMEM;
                                old->refs = n;
                        }
                        if (rc == 0) {
                                old->refs[old->nrefs].idx = i;
                                memcpy(old->refs[old->nrefs++].hash, h, 32);
                        }
                }
        }
        return rc;
}

/* Puts OLD's block references back as IN's (and only them). */
static int fs_old_refs_restore(struct fs *fs, const struct fs_inode *in,
                               const struct fs_content_old *old)
{
        size_t i;
        int rc = index_blockref_truncate(fs->ix, in->ino, 0);

        for (i = 0; i < old->nrefs && rc == 0; i++)
                rc = index_blockref_put(fs->ix, in->ino, old->refs[i].idx, old->refs[i].hash);
        return rc;
}

int fs_content_reset(struct fs *fs, struct fs_inode *in, const uint8_t salt[static 32],
                     const uint8_t epoch_id[static 32], int *pending)
{
        struct block_ctx *nctx = NULL;
        int nfd = -1, rc;

        *pending = 0;
        rc = fs_content_flush(fs, in);
        if (rc != 0)
                return rc;
        if (memcmp(in->salt, salt, 32) == 0 && memcmp(in->epoch_id, epoch_id, 32) == 0)
                return 0;
        in->content_gen++; /* a pending settle is for the old file */
        if (fs_keys_find(fs, epoch_id) == NULL)
                return -EIO; /* the puller holds such versions back */
        if (in->blocks.n == 0) {
                fs_rekey_empty(fs, in, salt, epoch_id);
                return 0;
        }
        rc = fs_rk_start(fs, in, salt, epoch_id, rangeset_within(&in->blocks, &in->remote), &nfd,
                         &nctx);
        if (rc == 0)
                rc = fs_swap_in(in, nfd, nctx, salt, epoch_id, &in->reset);
        if (rc == 0)
                rc = fs_old_refs_save(fs, in, in->reset);
        if (rc != 0 && in->reset != NULL) {
                struct fs_content_old *old = in->reset;

                in->reset = NULL;
                fs_swap_back(in, old); /* closes NFD, frees NCTX */
                fs_old_free(old);
                fs_rk_drop(fs, in);
                return rc;
        }
        if (rc != 0) {
                fs_rk_abort(fs, in, nfd, nctx);
                return rc;
        }
        *pending = 1;
        return 0;
}

int fs_content_reset_finish(struct fs *fs, struct fs_inode *in)
{
        int rc;

        if (in->reset == NULL)
                return 0;
        rc = fs_rk_commit(fs, in);
        if (rc == 0) {
                fs_old_free(in->reset);
                in->reset = NULL;
        }
        return rc;
}

void fs_content_reset_abort(struct fs *fs, struct fs_inode *in)
{
        struct fs_content_old *old = in->reset;

        if (old == NULL)
                return;
        in->reset = NULL;
        fs_swap_back(in, old);
        fs_rk_drop(fs, in);
        /*
         * Blocks written meanwhile have refs of the other version: the old
         * blocks get their old references back (remote ones need them to be
         * fetched), the others none (re-uploaded from here).
         */
        if (fs_old_refs_restore(fs, in, old) != 0 || fs_inode_save(fs, in) != 0)
                log_err("inode %llu: cannot restore its record", (unsigned long long)in->ino);
        fs_old_free(old);
}
