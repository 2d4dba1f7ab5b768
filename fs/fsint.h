/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_FS_FSINT_H
#define SEALSYNC_FS_FSINT_H
/*
 * Internal state shared by the fs/ modules (not part of any public API).
 *
 * Lifetimes (libfuse passthrough_hp style):
 *   - An inode is in the table while the kernel holds lookups on it
 *     (nlookup > 0), while it is open (nopen > 0), or while a request uses
 *     it (busy > 0).  When all three reach zero it is evicted; if it also has
 *     no names left (nlink == 0) its index row and ciphertext file are deleted.
 *   - Memory bound (issue #10): the kernel keeps lookups on every inode it
 *     has seen for as long as it likes (a 100k-file untar: 100k of them).
 *     Once the table holds more than FS_INODE_CACHE inodes, the least
 *     recently used inodes that only the kernel's lookups keep (nopen == 0,
 *     busy == 0, linked, no state that lives only in memory: fs/inode.c
 *     fs_inode_ghostable) are dropped from the table, and only their
 *     lookup count (and unsynced flag) stays, as a 16-byte "ghost"; the
 *     next fs_inode_get loads it from the index again (every change is
 *     written through, below) and takes the count back.  So the table holds
 *     at most about FS_INODE_CACHE inodes plus those open or in use, and
 *     each further inode the kernel remembers costs 16 to 32 bytes.
 *   - Every change to an inode's attributes is written through to the index
 *     (inside the open group-commit transaction) before the reply.
 *
 * Locking order: fs.ns_lock (namespace changes) -> inode.lock -> table lock
 * -> index's own mutex.  The table lock is only held for hash operations.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "crypto/block.h"
#include "sync/index.h"

struct push;
struct pull;
struct confirm;
struct region_info;
struct store;
struct fuse_session;
struct manifest;
struct manifest_meta;
struct enc;
struct dec;
struct region_keys;
struct identity;

/* What `status` says about the region key (fs/mount.c fs_maybe_rotate). */
enum fs_key_warn {
        FS_KEY_OK = 0,
        FS_KEY_STALE,         /* older than max_key_age, and this device may not rotate */
        FS_KEY_NEEDS_ROTATE,  /* a member holds no key of the current epoch; may not rotate */
        FS_KEY_REMOVED,       /* this device was removed from the region */
        FS_KEY_ROTATE_FAILED, /* this device should rotate and could not (logged) */
        FS_KEY_HELD           /* no clean key: a removed device can reach every epoch; the
                                 changes wait for a rotation by an admin */
};

/* "ok", "stale", "needs-rotation", "removed", "rotation-failed", "held". */
const char *fs_key_warn_name(int warn);

/*
 * Folds the membership again (fs/mount.c): installs new epoch keys, rotates
 * when the fold asks for it and this device may, updates the puller's peers
 * (new devices, roles, removals).  Sync mounts only (FS->store set).
 */
struct fs;
void fs_refresh_peers(struct fs *fs);

/*
 * The cheap membership check of doc/SYNC.md R3: one LIST of the store's
 * members/.  Returns 1 if it differs from the listing the last refresh
 * followed (refresh before sealing), 0 if not (or the mount does not sync),
 * or the store's negative errno (the caller goes on with what it knows).
 */
int fs_members_changed(struct fs *fs) __attribute__((warn_unused_result));

/*
 * R2: refolds the membership (the store's, and when that does not yield
 * ENTRY, the local cache a membership command has just written) and
 * switches the mount to it.  Returns 0 once the mount's fold holds entry
 * ENTRY (32-byte hash): from then on every commit round seals under that
 * fold's epoch; -ENOENT if no fold yields it; another negative errno.
 */
int fs_members_switch_to(struct fs *fs, const uint8_t entry[static 32])
    __attribute__((warn_unused_result));

/*
 * `sealsync rekey`: marks every linked file, directory and symlink whose
 * content or record is under an older epoch as changed, so the next commit
 * re-encrypts it under the current epoch (fs_content_to_current) and
 * publishes it.  *MARKED gets their number.  Returns 0 or a negative errno.
 */
int fs_rekey_mark(struct fs *fs, uint64_t *marked) __attribute__((warn_unused_result));
struct fs_content_old;
struct fs_wbuf;

/* A device's name from the verified membership (for conflict names). */
struct fs_label {
        uint8_t device_id[16];
        char name[65]; /* printable ASCII, '/' replaced */
};

/* A kernel cache invalidation to send once locks are released. */
struct fs_inval {
        uint64_t parent; /* 0: inode INO's data and attributes */
        uint64_t ino;
        char name[256];
};
#include "util/rangeset.h"

#define FS_SLOT_HDR_LEN 8
#define FS_FILE_HDR_LEN 64
#define FS_XATTR_NAME_MAX 255
#define FS_XATTR_VALUE_MAX 65536
#define FS_XATTR_TOTAL_MAX (256 * 1024)
#define FS_SYMLINK_MAX 4095
#define FS_PINS_MAX 1024

/* SPECIAL: a FIFO, socket or device node (type in mode's S_IFMT, doc/SYNC.md C6). */
enum fs_kind { FS_KIND_REG = 1, FS_KIND_DIR = 2, FS_KIND_LNK = 3, FS_KIND_SPECIAL = 4 };

/* 1 if MODE's type is one a FS_KIND_SPECIAL inode may have, else 0. */
static inline int fs_special_type_ok(uint32_t mode)
{
        uint32_t t = mode & S_IFMT;

        return t == S_IFIFO || t == S_IFSOCK || t == S_IFCHR || t == S_IFBLK;
}

struct fs_xattr {
        char *name;
        uint8_t *value;
        size_t len;
};

struct fs_vv {
        uint8_t device_id[16];
        uint64_t counter;
};

#define FS_MAX_VV 4096

#define FS_INODE_CACHE 4096 /* inodes kept whole beyond those open or in use (above) */

/* An inode dropped from the table while the kernel holds lookups (fs/inode.c). */
struct fs_ghost {
        uint64_t ino;  /* 0: a free slot */
        uint64_t refs; /* nlookup, and FS_GHOST_UNSYNCED */
};
#define FS_GHOST_UNSYNCED (1ull << 63)

struct fs_inode {
        uint64_t ino;
        uint8_t file_id[16];
        uint32_t nlink;
        /* Reference counts, protected by the table lock. */
        uint64_t nlookup;
        uint32_t nopen;
        uint32_t nwrite; /* of NOPEN, the handles open for writing (U7) */
        uint32_t busy;
        struct fs_inode *hnext;
        /* Table lock: the idle list (fs/inode.c), least recently used first. */
        struct fs_inode *lru_prev, *lru_next;
        int in_lru;

        pthread_rwlock_t lock; /* everything below */
        int kind;
        uint32_t mode; /* full st_mode */
        uint32_t uid, gid;
        uint64_t size;
        struct timespec atime, mtime, ctime;
        uint8_t salt[32];
        struct rangeset blocks; /* present blocks; the rest below size are holes */
        /*
         * Present blocks not fetched yet (on-demand content, doc/DESIGN.md):
         * a subset of BLOCKS whose block reference (index blockref row) is
         * known and whose slot is not written.  Record v5.
         */
        struct rangeset remote;
        uint64_t ra_next; /* memory only: the block after the last read (read-ahead) */
        uint32_t ra_win;  /* memory only: read-ahead window in blocks, 0: none yet */
        char *target;     /* symlink target */
        uint64_t rdev;    /* FS_KIND_SPECIAL S_IFCHR/S_IFBLK: device number; else 0 (v6) */
        struct fs_xattr *xattrs;
        size_t nxattrs;
        /* Content state (lazily opened). */
        int fd;
        struct block_ctx *bctx;
        int unsynced;
        uint64_t wb_from; /* memory only: slot bytes below this were handed to writeback */
        /* Sync state (doc/SYNC.md), persisted in the record. */
        int sync_dirty;        /* changed since the last commit */
        int dirty_flagged;     /* memory only: index dirty column already set */
        struct rangeset dirty; /* blocks written since the last commit */
        /* memory only (doc/SYNC.md D2): index_commit_gen when DIRTY last grew,
         * and the blocks first written (not present before) while the generation
         * was FRESH_GEN: an in-place write needs neither a durable mark. */
        uint64_t dirty_gen;
        struct rangeset fresh;
        uint64_t fresh_gen;
        uint64_t lamport; /* of the last committed/applied manifest */
        int has_manifest;
        uint8_t manifest_hash[32];
        struct fs_vv *vv; /* version vector, sorted by device id */
        size_t nvv;
        uint8_t author[16]; /* of that manifest (zeros: unknown, record v2) */
        /*
         * The parent id that manifest names (record v7, doc/SYNC.md U5): set by
         * apply for a remote version and by commit for a local one.  When the
         * directory that holds IN splits (a rename of one of its merged ids),
         * IN goes with the id its version names.  VPARENT_KNOWN 0: no version
         * yet, or a record older than v7 (IN stays where it is).
         */
        int vparent_known;
        uint8_t vparent[16];
        int committing; /* memory only: a commit round took this inode's changes */
        int commit_err; /* memory only: the errno its last failed commit logged */
        /*
         * The epoch the local blocks (and this salt) are sealed under (record
         * v4; older records: the region's GENESIS epoch).  A file is always
         * under one epoch: fs_content_rekey moves all of it at once.
         */
        uint8_t epoch_id[32];
        struct fs_content_old *reset; /* memory only: fs_content_reset not finished */
        /*
         * Memory only (doc/SYNC.md D2): a shrinking truncation left slots
         * the last durable record may still name; fs_content_settle drops
         * them once the record is durable, if CONTENT_GEN (bumped by every
         * change that removes blocks) is still the truncation's.
         */
        int settle_due;
        uint64_t content_gen;
        int wb_err; /* memory only: a write failed with this errno; the next fsync says it (D3) */
        /*
         * Memory only: the partial-block buffer of small writes (fs/content.c,
         * doc/DESIGN.md "Small writes"), NULL when none; WB_SINCE is the
         * CLOCK_MONOTONIC millisecond its block became live (0: no live block),
         * read by fs_content_expire without the lock.
         */
        struct fs_wbuf *wb;
        _Atomic long long wb_since;
        /*
         * Memory only (doc/SYNC.md U7): a remote version was applied while
         * handles opened before it could still write (NWRITE > 0).  BLIND_VV
         * is the vector from before the first such apply; the next local
         * change takes it as its own, so what those handles write is
         * concurrent with the version they never read, not its successor.
         * Dropped when the last writable handle closes.
         */
        int blind;
        struct fs_vv *blind_vv;
        size_t nblind_vv;
        /*
         * Memory only (U7): a remote deletion (or an undo) unlinked it.  The
         * kernel may still hold a dentry for the old name until the entry's
         * invalidations are sent (after the journal entry is applied); an
         * open through it gets ESTALE, so the kernel looks the name up again
         * (LOOKUP_REVAL) instead of writing into a file no name reaches.
         */
        int unlinked_remote;
};

/*
 * A key table installed while mounted (fs/keys.c).  Tables are append-only
 * for the mount's life: a newer one is linked in front and older ones are
 * kept, so a reader holding a key pointer from any table never sees freed
 * memory.  All are wiped and freed by fs_keys_release at unmount.
 */
struct fs_keytab {
        const struct region_keys *k;
        struct region_keys *owned; /* K if this table owns it (NULL: the caller's) */
        struct fs_keytab *older;
};

/* A file the committer could not commit (fs/commit.c), named by `status`. */
struct fs_stuck {
        uint64_t ino;
        uint8_t file_id[16];
        int err; /* negative errno */
};

struct fs_unlinked {
        uint8_t file_id[16];
        uint64_t gen; /* index_commit_gen when the row was deleted */
};

struct fs {
        struct index *ix;
        struct par *par; /* seals a write's whole blocks in parallel (NULL: inline) */
        int data_dirfd;  /* REGION/data */
        uint8_t region_id[32];
        uint8_t genesis_epoch[32];        /* the epoch of records older than v4 */
        struct fs_keytab *_Atomic keytab; /* newest first (fs/keys.c) */
        pthread_mutex_t keys_lock;        /* serialises installs */
        _Atomic int keys_lost;            /* no key of the current epoch: read-only */
        const struct identity *id;        /* unlocks refreshed keys (sync mounts only) */
        int rk_seen; /* the mount found re-encryption leftovers (fs_purge_orphans) */
        int suite;
        uint32_t bs;
        size_t slot_len; /* FS_SLOT_HDR_LEN + nonce + bs + tag */
        uid_t uid;
        gid_t gid;
        _Atomic int read_only; /* also set while mounted when the keys are lost, and
                                  while this device is a reader (fs/mount.c) */
        int user_read_only;    /* mounted read-only on request: never writable */
        unsigned max_read;     /* -o max_read=N (0: libfuse's default); init() must agree */
        int forge_role;        /* a test tool's forgery: the role does not make it read-only */
        double timeout;

        pthread_mutex_t ns_lock;
        pthread_mutex_t table_lock;
        struct fs_inode **table;
        size_t table_size;
        size_t table_count;
        uint64_t table_gen; /* under table_lock: bumped by every removal from the table */
        size_t inode_cache; /* FS_INODE_CACHE; tests: SEALSYNC_INODE_CACHE (0: drop at once) */
        struct fs_inode *lru_head, *lru_tail; /* under table_lock: idle inodes kept by lookups */
        /* Under table_lock: lookups of inodes dropped from the table (fs/inode.c "ghosts"). */
        struct fs_ghost *ghosts;
        size_t ghost_cap, ghost_count;
        /* Under table_lock: ciphertext files of evicted unlinked inodes, removed
         * once the index commit that dropped their rows is durable (fs_unlinked_drain;
         * doc/SYNC.md D2); those left at exit go at the next mount's purge. */
        struct fs_unlinked *unlinked;
        size_t nunlinked, capunlinked;

        /* Sync (fs/commit.c): set by mount when the region syncs. */
        const uint8_t *sign_sk; /* 64 bytes, the identity's secure memory */
        uint8_t device_id[16];
        uint8_t member_head[32]; /* under head_lock: the membership entry our commits name */
        pthread_mutex_t head_lock;
        size_t nmember_seen; /* under head_lock: every membership entry of the last fold */
        uint8_t (*member_seen)[32];
        size_t nepoch_seen; /* under head_lock: the epoch ids of the last fold */
        uint8_t (*epoch_seen)[32];
        char region_hex[65];
        int outbox_dirfd;
        struct fs_pins *bpins;  /* blocks the outbox's recipes name (fs/pin.h); NULL: none kept */
        uint64_t lamport_clock; /* under commit_lock */
        _Atomic uint64_t lamport_seen; /* highest Lamport time applied (fs/apply.c) */
        uint64_t lamport_kept; /* lamport_seen as last saved (index meta lamport_seen; C8) */
        _Atomic unsigned long nconflicts; /* conflict copies made or remote versions that
                                             lost (fs/apply.c) */
        /* U7: the inode whose writers a remote deletion waits for (0: none); `status` */
        _Atomic uint64_t open_wait_ino;
        uint64_t journal_seq; /* last entry built (in the open transaction) */
        uint8_t journal_head[32];
        uint64_t committed_seq; /* last entry whose index state is durable */
        int commit_broken;      /* the index failed mid-commit: publish nothing more */
        pthread_mutex_t commit_lock;
        _Atomic long long
            round_start; /* D7: CLOCK_REALTIME s the round under commit_lock began, 0 */
        /* The simulation's hook (fsmount_set_mid_commit): run inside a commit round. */
        void (*mid_commit)(void *arg);
        void *mid_commit_arg;
        int in_mid_commit; /* the hook runs: a pull must not take commit_lock */
        struct push *push;
        struct pull *pull;
        struct confirm *confirm; /* acknowledgements (sync/confirm.h), with PULL */
        /* The membership refresh of the puller thread (fs/mount.c). */
        const struct region_info *region; /* the caller's, lives as long as the mount */
        struct store *store;
        int members_alarm;              /* enum members_alarm last reported */
        _Atomic int key_warn;           /* enum fs_key_warn, from the last membership refresh */
        _Atomic int key_hold;           /* no clean current key (cur_tainted): commits wait */
        _Atomic unsigned commit_failed; /* files that could not be committed (not -EAGAIN) since
                                           the last `sync` began */
        /* Files whose last commit attempt failed (not -EAGAIN): `status` names them (D2). */
        int commit_space_low; /* committer only: the disk-full warning was logged */
        pthread_mutex_t stuck_lock;
        struct fs_stuck *stuck;
        size_t nstuck;
        pthread_mutex_t members_lock;          /* serialises membership refreshes */
        _Atomic int keys_behind;               /* the last fold's keys could not be installed:
                                                  commits wait (doc/SYNC.md R1) */
        uint8_t members_listing[32];           /* under head_lock: the members/ listing the last
                                                  refresh followed (membership_digest) */
        int members_listing_ok;                /* under head_lock: MEMBERS_LISTING is set */
        _Atomic long long members_unreachable; /* CLOCK_MONOTONIC s of the committer's last
                                                  failed check (0: none): offline, the next
                                                  rounds do not wait for the store again */
        struct fuse_session *se;               /* for kernel cache invalidation */
        struct fs_inval *inval;                /* pending invalidations (apply) */
        size_t ninval, capinval;
        uint64_t orphans_ino;    /* .sealsync-orphans, 0 until needed */
        time_t ckpt_retry_after; /* fs/checkpoint.c: no checkpoint attempt before (puller thread) */
        _Atomic uint64_t ckpt_asked;      /* fs_ckpt_request: requests made (CHECKPOINT) */
        _Atomic uint64_t ckpt_answered;   /* requests the puller has answered */
        _Atomic int ckpt_answer_rc;       /* the last answer: 0 written, or a negative errno */
        _Atomic uint64_t ckpt_answer_seq; /* the last answer's checkpoint seq */

        pthread_t flusher;
        pthread_mutex_t flush_lock;
        pthread_cond_t flush_cond;
        /* Publishing waits for a burst of local changes to end (doc/SYNC.md
         * "When a round starts"): fs_now_ms of the last local change, and of
         * the first since the flusher's last round (0: none). */
        _Atomic long long change_last_ms;
        _Atomic long long change_first_ms;
        int flusher_running;
        /* fs/mount.c fs_sync_state_save (flusher thread, then close): what was saved last. */
        char sync_state[1200];
        time_t sync_state_at;
        int stopping;

        /* On-demand content (fs/fetch.c): pinned directories and files (index meta
         * "pins"), and the pinned files whose new versions the puller fetches
         * at the end of an entry (the puller's thread only). */
        pthread_mutex_t pins_lock;
        uint64_t pins[FS_PINS_MAX];
        uint8_t pin_ids[FS_PINS_MAX][16]; /* the file ids of PINS (what is stored) */
        size_t npins;
        uint64_t *pinq;
        size_t npinq, cappinq;

        pthread_mutex_t labels_lock; /* labels, nlabels (fs/mount.c sets, fs/apply.c reads) */
        struct fs_label *labels;
        size_t nlabels;
};

/* fs/keys.c: the epoch keys of the mount (doc/DESIGN.md "Key epochs"). */
/* Starts with K (borrowed: the caller keeps it alive until fs_keys_release). */
int fs_keys_init(struct fs *fs, const struct region_keys *k) __attribute__((warn_unused_result));
/*
 * Installs K (ownership moves to FS in every case) if its epoch set differs
 * from the current table's; thread-safe against every reader.  Returns 1
 * (installed: new content goes to K's current epoch from now on), 0 (the
 * same epochs: K freed) or -EINVAL (another region, suite or block size: K
 * freed, logged).
 */
int fs_keys_install(struct fs *fs, struct region_keys *k) __attribute__((warn_unused_result));
/*
 * This device lost the key of the region's current epoch (a refreshed
 * membership has no wrap for it: removed).  Keeps every key it has, logs
 * once, and makes the mount read-only (EROFS) and stops publishing.
 */
void fs_keys_lost(struct fs *fs);
/* The key of EPOCH_ID from any installed table (32 bytes, stays valid while mounted), or NULL. */
const uint8_t *fs_keys_find(struct fs *fs, const uint8_t epoch_id[static 32]);
/* The current epoch: its id into ID, its key returned (valid while mounted). */
const uint8_t *fs_keys_current(struct fs *fs, uint8_t id[static 32]);
/* 1 if EPOCH_ID is the current epoch. */
int fs_keys_is_current(struct fs *fs, const uint8_t epoch_id[static 32]);
/* The pull_ops.epoch_key callback (ARG is the struct fs). */
const uint8_t *fs_keys_lookup(void *arg, const uint8_t epoch_id[static 32]);
void fs_keys_release(struct fs *fs); /* wipes and frees every table FS owns */

/* fs/inode.c */
int fs_table_init(struct fs *fs) __attribute__((warn_unused_result));
void fs_table_release(struct fs *fs);
/*
 * Removes the ciphertext files of evicted unlinked inodes whose index rows'
 * deletion is durable now (index_commit_gen past the deletion's), unless
 * the file id has an inode again.  Call after an index commit, with no
 * lock held (it takes ns_lock).
 */
void fs_unlinked_drain(struct fs *fs);
/* Finds or loads INO; busy++ on success.  -ENOENT, -EBADMSG, -ENOMEM. */
int fs_inode_get(struct fs *fs, uint64_t ino, struct fs_inode **out)
    __attribute__((warn_unused_result));
/* busy-- (and evict if unreferenced). */
void fs_inode_put(struct fs *fs, struct fs_inode *in);
/* Adjusts nlookup/nopen under the table lock (deltas may be negative); evicts if unused. */
void fs_inode_ref(struct fs *fs, struct fs_inode *in, int64_t dlookup, int32_t dopen);
/* NWRITE += D under the table lock (D 0: just read it); returns the new count. */
uint32_t fs_inode_writers(struct fs *fs, struct fs_inode *in, int32_t d);
/* 1 if FLAGS (an open's O_ACCMODE) may write. */
int fs_flags_write(int flags);
/*
 * U7, IN's lock held: a remote version is about to replace IN's state; if
 * a handle open for writing predates it, remember the vector from before
 * (once).  -ENOMEM.
 */
int fs_inode_blind_mark(struct fs *fs, struct fs_inode *in) __attribute__((warn_unused_result));
/* U7, IN's lock held: forgets BLIND_VV (the last writable handle closed). */
void fs_inode_blind_drop(struct fs_inode *in);
/* FORGET: nlookup -= N for INO if present. */
void fs_inode_forget(struct fs *fs, uint64_t ino, uint64_t n);
/* Creates a new inode (busy = 1, nlink = 0 until linked) and its index row. */
int fs_inode_create(struct fs *fs, int kind, uint32_t mode, uint32_t uid, uint32_t gid,
                    const char *target, struct fs_inode **out) __attribute__((warn_unused_result));
/*
 * The same with a given FILE_ID, SALT and EPOCH_ID (16, 32, 32 bytes; NULL:
 * random id and salt, the current epoch).
 */
int fs_inode_create_id(struct fs *fs, int kind, uint32_t mode, uint32_t uid, uint32_t gid,
                       const char *target, const uint8_t *file_id, const uint8_t *salt,
                       const uint8_t *epoch_id, struct fs_inode **out)
    __attribute__((warn_unused_result));
/* Writes IN's attributes through to the index.  Caller holds IN->lock (any mode). */
int fs_inode_save(struct fs *fs, struct fs_inode *in) __attribute__((warn_unused_result));
/* Attribute blob codec (exposed for tests/fuzzing). */
int fs_attr_encode(const struct fs_inode *in, uint8_t **out, size_t *len)
    __attribute__((warn_unused_result));
/* A record older than v4 gets GENESIS_EPOCH (32 bytes) as its epoch. */
int fs_attr_decode(struct fs_inode *in, const uint8_t *buf, size_t len,
                   const uint8_t genesis_epoch[static 32]) __attribute__((warn_unused_result));
void fs_inode_clear(struct fs_inode *in); /* frees decoded members */
/*
 * Drops IN's content state (fd, block_ctx in guarded memory) unless the file
 * is open: the committer and apply touch files nobody has open, and keeping
 * their state would exhaust fds and mappings.  Caller holds IN->lock (write).
 */
void fs_inode_idle_locked(struct fs *fs, struct fs_inode *in);
/*
 * Records that IN changed in a way that syncs (content, name, mode, mtime,
 * xattrs); blocks [FIRST, END) of content were written (FIRST == END: none).
 * Caller holds IN->lock for writing and saves IN afterwards.
 */
int fs_inode_mark_changed(struct fs *fs, struct fs_inode *in, uint64_t first, uint64_t end)
    __attribute__((warn_unused_result));
/* Notes the time of a local change (a mark or a deletion) for the flusher's round timing. */
void fs_note_change(struct fs *fs);
/* CLOCK_MONOTONIC in milliseconds, never 0. */
long long fs_now_ms(void);
/* A version to delete: what a pending tombstone (index "tomb" row) is made from. */
struct fs_tomb_of {
        uint64_t lamport;
        const uint8_t *hash; /* 32 bytes: the version deleted (the tombstone's parent) */
        const struct fs_vv *vv;
        size_t nvv;
        int kind;
        uint32_t mode;
        struct timespec mtime;
};
/* Queues a tombstone of FILE_ID at version V, last at PARENT_ID/NAME (inside the transaction). */
int fs_tomb_put(struct fs *fs, const uint8_t file_id[static 16], const struct fs_tomb_of *v,
                const uint8_t parent_id[static 16], const char *name, size_t len)
    __attribute__((warn_unused_result));
/*
 * IN lost its last name NAME in the directory PARENT_ID: if it was ever
 * committed, queue a tombstone for its file id (state: u64 lamport, last
 * manifest hash, version vector, kind, mode, mtime, parent id, name).
 */
int fs_inode_tombstone(struct fs *fs, struct fs_inode *in, const uint8_t parent_id[static 16],
                       const char *name, size_t len) __attribute__((warn_unused_result));
/* The id a manifest uses for directory DIR: zeros for the region root. */
void fs_sync_parent_id(const struct fs_inode *dir, uint8_t out[static 16]);
void fs_now(struct timespec *ts);
/* Deletes inodes left with nlink 0 and ciphertext files without an inode. */
int fs_purge_orphans(struct fs *fs) __attribute__((warn_unused_result));

/* fs/commit.c */
/*
 * Loads the journal position and Lamport clock from the index and discards
 * outbox entries beyond the durable position (built, never committed).
 */
int fs_commit_init(struct fs *fs) __attribute__((warn_unused_result));
/*
 * Commits every changed inode and pending deletion: one or more rounds, each
 * one or more packs and one signed journal entry, written durably to the
 * outbox, then the index (group commit).  *NCOMMITS gets the number of files
 * committed (0: nothing to do), by the rounds that succeeded also on error.
 * On error nothing is lost: the changes of the failed round stay marked.
 *
 * Memory (issue #10): a round takes at most FS_COMMIT_MAX_FILES changed
 * inodes (in ino order; fs_commit does rounds until none is left), so what
 * it holds per file (a busy inode, its version vector and new block
 * references) is bounded whatever the number of changed files; the first
 * round also takes every pending deletion (not bounded: a directory's
 * deletion must not be published before those of its files, doc/SYNC.md
 * C7, and a deletion not after the version that took its name).  One round
 * names at most JOURNAL_MAX_COMMITS files, so this is also what lets more
 * changed files than that be published at all.
 * A round holds one pack in memory at a time, of at
 * most FS_COMMIT_PACK_TARGET bytes (a single record larger than that, a
 * manifest of a very large file, gets a pack of its own, <= PACK_MAX_SIZE);
 * each pack is written to the outbox as soon as it is full.  The pusher
 * streams packs into their PUTs (doc/SYNC.md D9), but falls back to a
 * whole pack in memory when a block moved (D5), and the mount benchmark
 * hits that fallback: 8 MiB (issue #10, doc/DESIGN.md "Pack version 2, 8
 * MiB packs", "Streamed PUTs"); 16 MiB took the daemon's peak RSS to 70 MiB
 * (bar 64) until the fallback streams too.
 */
#define FS_COMMIT_PACK_TARGET (8u << 20)
#define FS_COMMIT_MAX_FILES 4096
int fs_commit(struct fs *fs, size_t *ncommits) __attribute__((warn_unused_result));
/*
 * The files whose last commit attempt failed (not -EAGAIN), still changed:
 * a malloc'd copy into *OUT (*N entries; NULL when none).  0 or -ENOMEM.
 */
int fs_commit_stuck(struct fs *fs, struct fs_stuck **out, size_t *n)
    __attribute__((warn_unused_result));
/* Frees the list (at unmount). */
void fs_commit_fini(struct fs *fs);

/*
 * fs/checkpoint.c (doc/SYNC.md "Checkpoints").  fs_ckpt_setup: after the
 * puller exists, a device with no marks bootstraps from a checkpoint at its
 * first round (SEALSYNC_NO_CHECKPOINT=1 in the mount's environment: never).
 * fs_ckpt_maybe: after each pull round (the puller thread), writes a
 * checkpoint when enough entries were applied or published since the last.
 */
struct pull_ops;
extern const struct pull_ops fs_pull_ops; /* fs/mount.c: apply, entry_done, keys, members */
void fs_ckpt_setup(struct fs *fs);
void fs_ckpt_maybe(struct fs *fs);

/*
 * A forced checkpoint (control socket CHECKPOINT, `sealsync checkpoint`):
 * fs_ckpt_request asks the puller to write one at the end of its next round
 * whatever the interval (once the outbox is empty) and returns the request's
 * number; fs_ckpt_answer is 1 once request N was answered, with *RC (0, or
 * -EROFS: this mount cannot write checkpoints; -EBUSY: an undo is pending,
 * invariant C3; or the write's error) and *SEQ (the checkpoint's seq), else 0.
 */
uint64_t fs_ckpt_request(struct fs *fs);
int fs_ckpt_answer(struct fs *fs, uint64_t n, int *rc, uint64_t *seq);

/*
 * fs/mount.c: 1 while this device may publish nothing but journal entries
 * through the pusher (no ack, no checkpoint): until the pusher's first
 * checks have passed (the home may be a clone; the store may be missing),
 * and for good once it has stopped as a cloned device (doc/SYNC.md K1, S1).
 */
int fs_publish_held(struct fs *fs);

/* fs/apply.c: the pull_ops of sync/pull.h (ARG is the struct fs). */
int fs_apply(void *arg, const struct manifest *m, const struct manifest_meta *meta)
    __attribute__((warn_unused_result));
int fs_apply_entry_done(void *arg) __attribute__((warn_unused_result));
/*
 * At mount: ".sealsync-orphans" left by an earlier run (a crash, or the last
 * placeholder moved out before a restart) is known again, and removed if
 * empty (FOUND.md B6).  Caller holds no lock.
 */
void fs_apply_mount_tidy(struct fs *fs);
/* Invariant C2 (doc/SYNC.md): pull_ops.undo, the versions U (N) of removed DEVICE_ID undone. */
struct pull_undo;
int fs_apply_undo(void *arg, const uint8_t device_id[static 16], const struct pull_undo *u,
                  size_t n) __attribute__((warn_unused_result));
/* DEVICE_ID's name from the membership, or its first 8 hex digits, into OUT. */
void fs_device_label(struct fs *fs, const uint8_t device_id[static 16], char out[static 65]);

/*
 * fs/conflicts.c: the conflict copies of the region (`sealsync conflicts`).
 *
 * 1 if NAME (LEN bytes) is a conflict copy's name as fs/apply.c makes them,
 * "base (conflict from DEVICE DATE HASH).ext": then *BASE_LEN is the length
 * of "base" and *EXT_OFF the offset of ".ext" (LEN if none), so the
 * original's name is base + ext.  0 if not (outputs untouched).
 */
int fs_conflict_split(const char *name, size_t len, size_t *base_len, size_t *ext_off);

#define FS_CONFLICT_PATH_MAX 1900 /* longest path reported (a control-socket line) */

/* One version of a conflict: exists 0 = no such entry (the rest is zero). */
struct fs_conflict_side {
        int exists;
        int author_known; /* 0: an old record without its author */
        uint8_t author[16];
        char label[65]; /* fs_device_label of author */
        int64_t mtime_s;
};

struct fs_conflict {
        const char *path;      /* the copy's path from the region's root */
        const char *orig_path; /* the original's: same directory, name without the suffix */
        struct fs_conflict_side copy, orig;
};

struct fs_conflict_counts {
        uint64_t scanned; /* entries looked at */
        uint64_t skipped; /* paths longer than FS_CONFLICT_PATH_MAX: not reported */
};

/* A copy found (C valid during the call only); 0 continues, anything else stops the walk. */
typedef int (*fs_conflict_cb)(void *arg, const struct fs_conflict *c);
/* After each batch of entries (SCANNED so far); 0 continues, anything else stops. */
typedef int (*fs_conflict_tick)(void *arg, uint64_t scanned);

/*
 * Walks the whole tree from the index and calls CB for each conflict copy
 * as it is found (memory bounded by the tree's depth, never its size);
 * TICK may be NULL.  *COUNTS is set either way.  Returns 0, the first
 * non-zero value of CB or TICK, or a negative errno of the index (-EIO,
 * -ENOMEM).
 */
int fs_conflicts_walk(struct fs *fs, fs_conflict_cb cb, fs_conflict_tick tick, void *arg,
                      struct fs_conflict_counts *counts) __attribute__((warn_unused_result));
/*
 * fs/names.c: rule 5 on the current state (doc/SYNC.md "Conflicts" rule 5, U4).
 *
 * A file's rank for a name: (Lamport, author, file id) of its version, a
 * local file never committed first.  fs_rank_beats: 1 if A holds a name
 * both want rather than B (a total order: no two files tie).
 */
struct fs_rank {
        uint64_t lamport;
        uint8_t author[16];
        uint8_t file_id[16];
        int kind;
};
void fs_rank_of(const struct fs *fs, const struct fs_inode *in, struct fs_rank *r);
/*
 * The rank of IN as the holder of a name another file wants: as fs_rank_of,
 * but a local change not committed yet (dirty or committing) counts as
 * newest, as a file never committed does.  Its version, once committed, is
 * later than every version seen here, so it would win anyway; deciding with
 * the old version's author named the displaced file after the previous
 * author here only (the real-mount fault run: "f4 (conflict from devC ...)"
 * on one device, "(conflict from devB ...)" on the others; FOUND.md F17).
 * The settling after the commit round compares the committed version.
 */
void fs_rank_of_holder(const struct fs *fs, const struct fs_inode *in, struct fs_rank *r);
int fs_rank_beats(const struct fs_rank *a, const struct fs_rank *b);

/* A displaced file's record (index "want" row): it wants PARENT/NAME, shown at PARENT/SHOWN. */
struct fs_want {
        uint64_t parent;
        uint8_t hash[32]; /* the version (manifest) that wants the name */
        char name[256];
        size_t name_len;
        char shown[256];
        size_t shown_len;
};
/* Strict decoder of a "want" state (exposed for fuzzing): 0 or -EBADMSG. */
int fs_want_decode(const uint8_t *buf, size_t len, struct fs_want *w)
    __attribute__((warn_unused_result));
/*
 * FILE_ID, at its version HASH, wants PARENT/NAME but is shown at
 * PARENT/SHOWN (rule 5 gave the name to a better file): remembered, so it
 * takes NAME back when NAME is free again (fs_names_settle).  Caller holds
 * ns_lock; inside the open transaction.
 */
int fs_names_displaced(struct fs *fs, const uint8_t file_id[static 16],
                       const uint8_t hash[static 32], uint64_t parent, const char *name,
                       const char *shown) __attribute__((warn_unused_result));
/*
 * The name FILE_ID wants, shown at PARENT/SHOWN, into OUT: the name its
 * record says when it is displaced there, else SHOWN.  A file displaced
 * again is named from the name it wants, not from the conflict name it
 * shows (tests/sim/FOUND.md F20).  Caller holds ns_lock.
 */
int fs_names_wanted(struct fs *fs, const uint8_t file_id[static 16], uint64_t parent,
                    const char *shown, char out[static 256]) __attribute__((warn_unused_result));
/*
 * A directory merge moved inode INO from FROM/SHOWN to INTO/NOW: if it is
 * displaced at FROM/SHOWN, its record follows it (it still wants its name,
 * now in INTO, shown at NOW); else nothing.  Without it the record went
 * stale at the next settling and the file kept its conflict name on this
 * device only (U4, tests/sim/FOUND.md F23).  Caller holds ns_lock.
 */
int fs_names_moved(struct fs *fs, uint64_t ino, uint64_t from, const char *shown, uint64_t into,
                   const char *now) __attribute__((warn_unused_result));
/*
 * 1 if FILE_ID, at its version HASH, is shown at PARENT/NAME only as a
 * displaced file (its record says it wants another name), else 0 (-errno on
 * failure).  Such a holder yields NAME to any file that wants it, whatever
 * their ranks (U4).  The caller decides a file with a local change not
 * committed yet is no squatter (its next version carries NAME).  Caller
 * holds ns_lock.
 */
int fs_names_squatter(struct fs *fs, const uint8_t file_id[static 16],
                      const uint8_t hash[static 32], uint64_t parent, const char *name)
    __attribute__((warn_unused_result));
/* FILE_ID is shown under the name it wants: its record, if any, goes.  Caller holds ns_lock. */
int fs_names_placed(struct fs *fs, const uint8_t file_id[static 16])
    __attribute__((warn_unused_result));
/*
 * Re-evaluates rule 5 for every displaced file on the current state: stale
 * records go; the best file wanting a name takes it when it is free, or held
 * by a file it beats (which is displaced in turn; two directories never
 * are).  Takes ns_lock (caller must not hold it); kernel invalidations are
 * queued (fs_inval_flush sends them).  Run after every applied journal
 * entry, commit round and at mount.  0 or a negative errno (logged).
 */
int fs_names_settle(struct fs *fs) __attribute__((warn_unused_result));

/*
 * fs/apply.c: the conflict name of U3, "NAME (conflict from DEV DATE
 * HASH).ext" in PARENT for a version by AUTHOR with mtime MTIME_S,
 * identified by ID (a free name; one held by inode SELF counts as free).
 */
int fs_conflict_name(struct fs *fs, uint64_t parent, const char *name,
                     const uint8_t author[static 16], uint64_t mtime_s, const uint8_t id[static 16],
                     uint64_t self, char out[static 256]) __attribute__((warn_unused_result));
/*
 * Kernel cache invalidations: queued under ns_lock (an entry PARENT/NAME, or
 * inode INO's attributes when PARENT is 0), sent by fs_inval_flush with no
 * lock held, never from a FUSE request handler.
 */
void fs_inval_queue(struct fs *fs, uint64_t parent, uint64_t ino, const char *name);
/* Moves entry NAME (INO, TYPE) of directory FROM to INTO as NEWNAME (index and kernel caches;
 * caller holds ns_lock; nothing is published). */
int fs_entry_move(struct fs *fs, uint64_t from, const char *name, uint64_t into,
                  const char *newname, uint64_t ino, uint8_t type)
    __attribute__((warn_unused_result));
/*
 * fs_entry_move, unless INO is being committed (its journal entry names its
 * place): then -EAGAIN and nothing moves.  The check and the move are under
 * INO's lock, which the committer takes to mark it (U4, FOUND.md F28).
 */
int fs_entry_move_idle(struct fs *fs, uint64_t from, const char *name, uint64_t into,
                       const char *newname, uint64_t ino, uint8_t type)
    __attribute__((warn_unused_result));
void fs_inval_flush(struct fs *fs);

/*
 * The one encoding of a version vector in local records (attributes, gone,
 * tomb, aliasver): u32 n, n x (device_id[16], u64 counter).  get: strict
 * (at most FS_MAX_VV, sorted by device id, no duplicates, fits in what is
 * left); *VV is NULL when n is 0, else malloc'd.  0, -EBADMSG or -ENOMEM.
 */
void fs_vv_put(struct enc *e, const struct fs_vv *vv, size_t n);
int fs_vv_get(struct dec *d, struct fs_vv **vv, size_t *n) __attribute__((warn_unused_result));
/* *OUT (malloc'd) = the element-wise maximum of vectors A and B (both sorted by device id). */
int fs_vv_merge(const struct fs_vv *a, size_t na, const struct fs_vv *b, size_t nb,
                struct fs_vv **out, size_t *nout) __attribute__((warn_unused_result));

/*
 * fs/alias.c: a merged directory is the union of its ids (doc/SYNC.md rule 5,
 * U5).  An alias's own version (index "aliasver" row): Lamport, author,
 * manifest hash, vector.
 */
struct fs_aliasver {
        uint64_t lamport;
        uint8_t author[16];
        uint8_t hash[32];
        struct fs_vv *vv; /* malloc'd */
        size_t nvv;
};
/* Strict decoder of an "aliasver" state (exposed for fuzzing); free(a->vv) after 0. */
int fs_aliasver_decode(const uint8_t *buf, size_t len, struct fs_aliasver *a)
    __attribute__((warn_unused_result));
/*
 * Directory FILE_ID, at version A (its vector may be empty: a placeholder
 * or a version not known here), is merged into inode INTO.  Caller holds
 * ns_lock; inside the open transaction.
 */
int fs_alias_record(struct fs *fs, const uint8_t file_id[static 16], uint64_t into,
                    const struct fs_aliasver *a) __attribute__((warn_unused_result));
/*
 * A version M of an id that is an alias here: that id's own version moves
 * on (rule 3 on the alias's version); a deletion that wins removes the
 * alias (the directory stays: the inode's own id lives).  *WHAT says what
 * the caller looks at next (fs/apply.c): FS_ALIAS_TAKEN, M is now the id's
 * recorded version (newly taken, or already: rule 1) and the id lives, so
 * the place M names (U5: an id that wants another place splits off);
 * FS_ALIAS_DELETED, M is a deletion that won (remembered, the alias row
 * gone), or one of an id deleted already (the later of the two is
 * remembered), so the entries whose versions name the id (U6: they hold
 * it where the remembered deletion names); else FS_ALIAS_KEPT.  Caller
 * holds ns_lock.
 */
enum { FS_ALIAS_KEPT = 0, FS_ALIAS_TAKEN = 1, FS_ALIAS_DELETED = 2 };
int fs_alias_version(struct fs *fs, const struct manifest *m, const struct manifest_meta *meta,
                     int *what) __attribute__((warn_unused_result));
/* Alias FILE_ID's recorded version into *A (free(a->vv)); all zero if it has none. */
int fs_aliasver_get(struct fs *fs, const uint8_t file_id[static 16], struct fs_aliasver *a)
    __attribute__((warn_unused_result));
/*
 * The live aliases of directory INO (not the deleted ids merged in for their
 * entries only, U6) and their versions: *IDS and *VERS, *N of each (the
 * caller frees each vers[i].vv, then both arrays; NULL and 0 when none).
 * 0 or a negative errno (then nothing is returned).
 */
int fs_alias_live_list(struct fs *fs, uint64_t ino, uint8_t (**ids)[16], struct fs_aliasver **vers,
                       size_t *n) __attribute__((warn_unused_result));
/*
 * The committer published version A of alias FILE_ID of directory INO (a
 * local version of a merged directory is one of each of its ids, U5): it
 * becomes the alias's version, if FILE_ID is still an alias of INO.
 * Inside the open transaction.
 */
int fs_alias_committed(struct fs *fs, const uint8_t file_id[static 16], uint64_t ino,
                       const struct fs_aliasver *a) __attribute__((warn_unused_result));
/*
 * Directory IN (write-locked) lost its own id to deletion M: if aliases of
 * it remain, it takes the best one's id and version, the deletion is
 * remembered, the deleted id stays an alias row (fs_alias_keep_dead), and
 * *KEPT is 1; else *KEPT is 0 and nothing changed.
 */
int fs_alias_rekey(struct fs *fs, struct fs_inode *in, const struct manifest *m,
                   const struct manifest_meta *meta, int *kept) __attribute__((warn_unused_result));
/*
 * As fs_alias_rekey, for a directory whose own id's deletion is remembered
 * already (held), and for the split (fs/apply.c apply_split_stayed: the id
 * moves away).  IN's old id is then no id of IN.
 */
int fs_alias_takeover(struct fs *fs, struct fs_inode *in, int *kept)
    __attribute__((warn_unused_result));
/*
 * Deleted id ID (its deletion remembered), whose inode INO took another id
 * over (fs_alias_rekey, fs/held.c), stays an alias row of INO as a deleted
 * id (alias_dead): entries that name it land in INO, and a version of it
 * later than its deletion lives again there and splits off with them (U5;
 * tests/sim/FOUND.md F32).  fs/apply.c apply_split_held drops the row when
 * the deletion names another place.  Inside the open transaction.
 */
int fs_alias_keep_dead(struct fs *fs, const uint8_t id[static 16], uint64_t ino)
    __attribute__((warn_unused_result));
/*
 * Deleted id ID came back (a version that beat its deletion) and merged at
 * once into a directory of its name as an alias (rule 5): it is a live id,
 * so its deletion and any hold are forgotten and its alias version absorbs
 * the deletion's vector (FOUND.md F38: the deletion stayed remembered, and
 * the id was taken for a deleted one).  Inside the open transaction.
 */
int fs_alias_revived(struct fs *fs, const uint8_t id[static 16])
    __attribute__((warn_unused_result));
/*
 * Directory INO was renamed here (a local change the user made to what they
 * see): the deleted ids whose rows routed entries into it (held by them at
 * the place of their deletion, which INO leaves) lose their rows, and the
 * entries whose versions name one of them are marked changed, so that their
 * next versions name INO's own id and they move with it on every device
 * (doc/SYNC.md U5, F39).  Caller holds ns_lock, no inode lock.
 */
int fs_alias_moved(struct fs *fs, uint64_t ino) __attribute__((warn_unused_result));
/*
 * The first deleted id merged into directory INO (an alias row kept to
 * route entries, alias_dead) for which HOLDS(ARG, id) returns 1 (entries
 * name it), into OUT: 1 if found, 0 if none, or a negative errno (also
 * HOLDS's).  Caller holds ns_lock.
 */
int fs_alias_dead_held(struct fs *fs, uint64_t ino, int (*holds)(void *arg, const uint8_t id[16]),
                       void *arg, uint8_t out[16]) __attribute__((warn_unused_result));
/*
 * U5 with U6: directory IN (write-locked), whose own id moves away (fs/apply.c
 * apply_split_stayed), becomes deleted id ID's, held by the entries that
 * name it: IN takes ID (its alias row goes) and ID's deletion as its state,
 * and is held (fs/held.c: it goes when empty).  0 or a negative errno.
 */
int fs_alias_hold(struct fs *fs, struct fs_inode *in, const uint8_t id[static 16])
    __attribute__((warn_unused_result));
/*
 * A local rmdir of directory IN (write-locked, now nameless, last at
 * PARENT_ID/NAME): a tombstone of every alias of it, each from that id's own
 * version; the aliases go.  Caller holds ns_lock.
 */
int fs_alias_tombstones(struct fs *fs, struct fs_inode *in, const uint8_t parent_id[static 16],
                        const char *name, size_t len) __attribute__((warn_unused_result));

/*
 * fs/held.c: a directory whose deletion won but that still holds entries
 * stays until it is empty (doc/SYNC.md U6).  put: directory FILE_ID is held
 * at its deletion HASH.  is: 1 if directory IN is held (0 for any other
 * inode), or a negative errno.  settle: drops the held directories that are
 * empty, releases those with a newer version of their own; caller holds
 * ns_lock (fs_names_settle calls it).
 */
int fs_held_put(struct fs *fs, const uint8_t file_id[static 16], const uint8_t hash[static 32])
    __attribute__((warn_unused_result));
int fs_held_is(struct fs *fs, const struct fs_inode *in) __attribute__((warn_unused_result));
int fs_held_settle_locked(struct fs *fs) __attribute__((warn_unused_result));

/* A remembered deletion (index "gone" row, doc/DESIGN.md). */
struct fs_gone {
        uint64_t lamport;
        uint8_t hash[32];
        struct fs_vv *vv; /* malloc'd */
        size_t nvv;
        uint32_t mode; /* permission bits it had */
        uint8_t parent_id[16];
        char name[256];
        size_t name_len;
};
/* FILE_ID's remembered deletion into *G (release with free(g->vv)); -ENOENT if none. */
int fs_gone_get(struct fs *fs, const uint8_t file_id[static 16], struct fs_gone *g)
    __attribute__((warn_unused_result));
/* Strict decoder of a "gone" state (exposed for fuzzing); free(g->vv) after 0. */
int fs_gone_decode(const uint8_t *buf, size_t len, struct fs_gone *g)
    __attribute__((warn_unused_result));
/*
 * Remembers that FILE_ID was deleted by the version (LAMPORT, HASH, VV) whose
 * last place was PARENT_ID/NAME with permission bits MODE, so older versions arriving late are not
 * resurrected.  A second deletion of one file merges its vector in; the
 * later of the two (Lamport, then hash) gives the Lamport time, hash and place
 * kept, whatever the order of arrival (U1 compares an edit with it).  Inside
 * the open transaction.
 */
int fs_gone_record(struct fs *fs, const uint8_t file_id[static 16], uint64_t lamport,
                   const uint8_t hash[static 32], const struct fs_vv *vv, size_t nvv, uint32_t mode,
                   const uint8_t parent_id[static 16], const char *name, size_t name_len)
    __attribute__((warn_unused_result));

/*
 * fs/fetch.c: on-demand content (doc/DESIGN.md "On-demand content").
 * fs_fetch_for_read: before a read of [OFF, OFF+LEN), with no lock held,
 * fetches its remote blocks and a read-ahead window (1 MiB, doubled while
 * reads are sequential, up to 8 MiB).  fs_fetch_locked: the remote blocks
 * of [FIRST, END), caller holding IN->lock for writing.  Both return 0,
 * -EIO (the store could not give a block, or gave a wrong one: logged) or
 * a local errno.
 */
int fs_fetch_for_read(struct fs *fs, struct fs_inode *in, uint64_t off, size_t len)
    __attribute__((warn_unused_result));
int fs_fetch_locked(struct fs *fs, struct fs_inode *in, uint64_t first, uint64_t end)
    __attribute__((warn_unused_result));
/* Pins (stored by file id; the inode numbers in memory): loaded at mount (the pins of
 * files gone are dropped); set/unset (durable at return: -ENOENT unpinning what is not
 * pinned or pinning an inode without a row, -ENOSPC beyond FS_PINS_MAX; on error the
 * list is as before); listed (at most CAP inode numbers into OUT). */
int fs_pins_load(struct fs *fs) __attribute__((warn_unused_result));
int fs_pin_set(struct fs *fs, uint64_t ino, int on) __attribute__((warn_unused_result));
size_t fs_pin_get(struct fs *fs, uint64_t *out, size_t cap);
/* Inode INO is deleted (its row purged): its pin, if any, goes too (saved, not committed). */
void fs_pin_forget(struct fs *fs, uint64_t ino);
/* 1 if INO or a directory above it is pinned. */
int fs_pinned(struct fs *fs, uint64_t ino);
/* The puller: fetch INO whole once the entry is applied (fs_pin_drain, no lock held). */
void fs_pin_queue(struct fs *fs, uint64_t ino);
void fs_pin_drain(struct fs *fs);
/*
 * Fetches every remote block of the files under (or being) INO, no lock
 * held, calling PROGRESS (may be NULL; non-zero stops) after each file.
 * Returns 0, the first file's failure (the others are still tried), or
 * PROGRESS's value.
 */
int fs_fetch_tree(struct fs *fs, uint64_t ino,
                  int (*progress)(void *arg, uint64_t done, uint64_t total), void *arg)
    __attribute__((warn_unused_result));
/* Bytes of remote and of local blocks of every named file (from the index). */
int fs_content_counts(struct fs *fs, uint64_t *remote, uint64_t *local)
    __attribute__((warn_unused_result));

/*
 * D3 (doc/SYNC.md): the free space kept for the index.  The reserve is 1/32
 * of the device home's filesystem, at least 256 KiB and at most 16 MiB.
 * USER 1 (a change that grows local state: write, create, mkdir, symlink,
 * xattr): -ENOSPC unless NEED bytes leave twice the reserve free.  USER 0
 * (the committer's packs): -ENOSPC unless the reserve is free.  Deletions
 * never ask.  0 if there is room (or statvfs fails: then the write itself
 * tells).
 */
int fs_space_check(struct fs *fs, uint64_t need, int user) __attribute__((warn_unused_result));
/*
 * index_commit for fs/: if SQLite rolled the open transaction back (a full
 * disk beyond the reserve), memory is ahead of the index: the mount turns
 * read-only and stops publishing (logged once), so nothing more is lost and
 * nothing wrong is published; a remount starts from the index.
 */
int fs_index_commit(struct fs *fs) __attribute__((warn_unused_result));
/*
 * fs/ops.c: the operations beneath the FUSE requests, callable without a
 * kernel (tests/sim drives a region with them; ops.c's handlers call the
 * same functions).  Each returns 0 or a negative errno as the request would
 * have replied.  make_node: a new REG, DIR or LNK (TARGET) NAME in PARENT,
 * busy reference in *OUT (fs_inode_put it).  open: an open reference in
 * *OUT (FLAGS: O_ACCMODE, O_TRUNC), released by fs_api_release with the
 * same FLAGS (a handle that may write counts in NWRITE: U7).  write:
 * APPEND writes at the end (O_APPEND).  read: *GOT bytes.  fsync: the
 * content and the index made durable.
 */
int fs_api_make_node(struct fs *fs, uint64_t parent, const char *name, int kind, uint32_t mode,
                     uint32_t uid, uint32_t gid, const char *target, struct fs_inode **out)
    __attribute__((warn_unused_result));
int fs_api_remove(struct fs *fs, uint64_t parent, const char *name, int want_dir)
    __attribute__((warn_unused_result));
int fs_api_rename(struct fs *fs, uint64_t p1, const char *n1, uint64_t p2, const char *n2,
                  unsigned flags) __attribute__((warn_unused_result));
int fs_api_open(struct fs *fs, uint64_t ino, int flags, struct fs_inode **out)
    __attribute__((warn_unused_result));
int fs_api_write(struct fs *fs, struct fs_inode *in, uint64_t off, const void *buf, size_t size,
                 int append) __attribute__((warn_unused_result));
/*
 * fs_api_write, but a write of at least one whole block is acknowledged
 * early: once every check that can refuse it has passed (dirty marks
 * durable, space, preparation), ACK(ARG) is called, with IN's lock still
 * held, and *ACKED set; the blocks are then sealed and written while the
 * writer already prepares its next request (doc/DESIGN.md "Write path").
 * A failure after the acknowledgement cannot be returned: it is kept in
 * IN->wb_err for the next fsync and close, as a page cache's writeback
 * error, and fs_api_write_ack returns 0.  BUF must stay valid until it
 * returns.
 */
int fs_api_write_ack(struct fs *fs, struct fs_inode *in, uint64_t off, const void *buf, size_t size,
                     int append, void (*ack)(void *arg), void *arg, int *acked)
    __attribute__((warn_unused_result));
int fs_api_read(struct fs *fs, struct fs_inode *in, uint64_t off, size_t size, uint8_t *buf,
                size_t *got) __attribute__((warn_unused_result));
int fs_api_fsync(struct fs *fs, struct fs_inode *in) __attribute__((warn_unused_result));
void fs_api_release(struct fs *fs, struct fs_inode *in, int flags);

/*
 * The inode numbers of inodes in the table whose buffered block became live
 * at or before BEFORE_MS (CLOCK_MONOTONIC ms; 0: any live block), at most
 * CAP of them into OUT; returns how many.  Takes the table lock.
 */
size_t fs_inodes_buffered(struct fs *fs, long long before_ms, uint64_t *out, size_t cap);

/* fs/content.c — callers hold IN->lock (read for read, write otherwise). */
int fs_content_read(struct fs *fs, struct fs_inode *in, uint64_t off, size_t len, uint8_t *out,
                    size_t *got) __attribute__((warn_unused_result));
/*
 * Everything a write of [OFF, OFF+LEN) needs before its bytes are sealed,
 * done now: the buffered block sealed, the remote blocks it only partly
 * covers fetched, the file moved to the current epoch, the last block
 * trimmed, the ciphertext file open; -EFBIG past the largest file.  For a
 * write acknowledged early (fs_api_write_ack): what can fail for reasons
 * other than the local disk fails here, before the acknowledgement.  Caller
 * holds IN->lock for writing.  0 or a negative errno.
 */
int fs_content_write_ready(struct fs *fs, struct fs_inode *in, uint64_t off, size_t len)
    __attribute__((warn_unused_result));
/*
 * The rest of fs_content_write: seals and writes [OFF, OFF+LEN) from BUF.
 * Only right after fs_content_write_ready(OFF, LEN) returned 0, IN->lock
 * held for writing throughout (fs_content_write is the two in a row).
 */
int fs_content_write_prepared(struct fs *fs, struct fs_inode *in, uint64_t off, const uint8_t *buf,
                              size_t len) __attribute__((warn_unused_result));
int fs_content_write(struct fs *fs, struct fs_inode *in, uint64_t off, const uint8_t *buf,
                     size_t len) __attribute__((warn_unused_result));
/*
 * The partial-block buffer (doc/DESIGN.md "Small writes").  Every other
 * fs_content_* function that changes the content seals the live block
 * first; fs_content_read reads it from memory.
 *
 * fs_content_write_small: like fs_content_write, but a write inside one
 * block that is not a whole block goes into IN's buffer.  *HELD gets
 * FS_WB_DIRECT (written and sealed as by fs_content_write: the caller
 * saves the record), FS_WB_HELD (in memory: the record is saved when the
 * block is sealed) or FS_WB_FULL (in memory and the block is complete: the
 * caller seals it with fs_content_flush once it has marked the write).
 * On error nothing was written and *HELD is untouched.
 */
enum { FS_WB_DIRECT = 0, FS_WB_HELD = 1, FS_WB_FULL = 2 };
/*
 * FS_WBUF_MAX bounds the buffers of the process (secure memory is mlock'd,
 * and RLIMIT_MEMLOCK is per process); FS_WBUF_DELAY_MS is how long a block
 * may stay live before the group-commit thread seals it.
 */
#define FS_WBUF_MAX 32
#define FS_WBUF_DELAY_MS 1000
int fs_content_write_small(struct fs *fs, struct fs_inode *in, uint64_t off, const uint8_t *buf,
                           size_t len, int *held) __attribute__((warn_unused_result));
/*
 * Seals IN's live block, if any, into its slot and saves IN's record.  On
 * error the block stays live (nothing is lost yet).  Caller holds IN->lock
 * for writing.  0 or a negative errno.
 */
int fs_content_flush(struct fs *fs, struct fs_inode *in) __attribute__((warn_unused_result));
/*
 * fs_content_flush, then the buffer's memory is wiped and freed.  A failed
 * seal is logged and kept in IN->wb_err (the next fsync reports it); the
 * block's unsealed bytes are then lost, as a page cache loses a page whose
 * writeback failed.  Caller holds IN->lock for writing.
 */
void fs_content_unbuffer(struct fs *fs, struct fs_inode *in);
/*
 * Seals and frees the buffers whose block has been live for DELAY_MS or
 * more (0: all of them).  Takes each inode's lock; call with none held.
 */
void fs_content_expire(struct fs *fs, long long delay_ms);
/*
 * The size IN's record keeps: IN->size, or while a block is live the size
 * the file had when it became live (doc/DESIGN.md "Small writes",
 * invariant 2).  Caller holds IN->lock.
 */
uint64_t fs_content_record_size(const struct fs_inode *in);
/*
 * Sets IN's size.  Growing writes nothing (a hole).  Shrinking changes the
 * record only (doc/SYNC.md D2): the ciphertext file keeps every slot until
 * the caller has made the record durable and called fs_content_settle, so
 * a crash in between reads the old version whole.  Bytes of the new last
 * block beyond SIZE stay sealed until then; every reader is bounded by the
 * size and every path that makes them visible (growth, a write past the
 * size, the committer) re-seals the block first (fs_content_trim_last).
 */
int fs_content_truncate(struct fs *fs, struct fs_inode *in, uint64_t size)
    __attribute__((warn_unused_result));
/*
 * After the record of a shrinking truncation (GEN: IN->content_gen read
 * with it) is durable: re-seals the last block to the size and shortens the
 * file.  Does nothing if nothing is due or blocks were removed since.
 * Caller holds IN->lock for writing.
 */
int fs_content_settle(struct fs *fs, struct fs_inode *in, uint64_t gen)
    __attribute__((warn_unused_result));
/*
 * The last block of IN (local) re-sealed with exactly the bytes below the
 * size if it holds more (a truncation not settled).  1 if re-sealed, 0 if
 * not needed, or a negative errno.  Caller holds IN->lock for writing.
 */
int fs_content_trim_last(struct fs *fs, struct fs_inode *in) __attribute__((warn_unused_result));
int fs_content_sync(struct fs *fs, struct fs_inode *in) __attribute__((warn_unused_result));
/*
 * Stores received sealed block SEALED (LEN bytes) as block INDEX with final
 * flag FINAL, after checking that it opens under IN's keys (file id, salt,
 * epoch, index, flag).  -EBADMSG if it does not.  Caller holds IN->lock.
 */
int fs_content_put_sealed(struct fs *fs, struct fs_inode *in, uint64_t index, int final,
                          const uint8_t *sealed, size_t len) __attribute__((warn_unused_result));
/*
 * Committer helpers.  fix_final re-seals block INDEX in place only if its
 * recorded final flag is not FINAL (caller holds IN->lock for writing):
 * returns 1 if it did, 0 if the flag was right, or a negative errno.
 * sealed_ro gives the authenticated sealed bytes of present block INDEX
 * (crypto/block.h format) into OUT (slot_len bytes), or -EAGAIN if the flag is not
 * FINAL (the block changed; caller holds IN->lock for reading).
 */
int fs_content_fix_final(struct fs *fs, struct fs_inode *in, uint64_t index, int final)
    __attribute__((warn_unused_result));
int fs_content_sealed_ro(struct fs *fs, struct fs_inode *in, uint64_t index, int final,
                         uint8_t *out, size_t *out_len) __attribute__((warn_unused_result));
/*
 * Lazy re-encryption at file granularity (doc/DESIGN.md "Key epochs"): if
 * IN is not under the current epoch, every present block is re-sealed under
 * it with a fresh salt, into a new ciphertext file that replaces the old
 * one only once the index record naming the new salt and epoch is durable
 * (a crash in between is rolled forward by fs_content_open).  All present
 * blocks are marked changed (the next commit uploads them).  Streams block
 * by block; needs room for a second copy of the file meanwhile.  Caller
 * holds IN->lock for writing, and fs->ns_lock or fs->commit_lock (it
 * commits the index, which must not happen inside the committer's
 * savepoint).  Returns 0 (also when nothing was to do),
 * -EIO (a block does not open, an old epoch's key is missing) or an I/O
 * errno; on error IN and its files are as before.
 */
int fs_content_to_current(struct fs *fs, struct fs_inode *in) __attribute__((warn_unused_result));
/*
 * A remote version of IN is sealed under SALT and EPOCH_ID, not IN's: IN's
 * local content is replaced by a new, empty ciphertext file under them (the
 * old one stays until fs_content_reset_finish).  Blocks are then stored with
 * fs_content_put_sealed as usual.  *PENDING gets 1 if a file swap is
 * pending.  Caller holds IN->lock for writing until finish/abort, and
 * fs->ns_lock (finish commits the index; fs/apply.c holds it).
 */
int fs_content_reset(struct fs *fs, struct fs_inode *in, const uint8_t salt[static 32],
                     const uint8_t epoch_id[static 32], int *pending)
    __attribute__((warn_unused_result));
/* After IN's record was saved: makes it durable, then swaps the files in. */
int fs_content_reset_finish(struct fs *fs, struct fs_inode *in) __attribute__((warn_unused_result));
/* Undoes fs_content_reset (the old content, salt and epoch come back). */
void fs_content_reset_abort(struct fs *fs, struct fs_inode *in);
/*
 * Block INDEX of IN became remote: its old slot is made unreadable (header
 * zeroed: it no longer opens), so an old version can never be read as the
 * new one.  Caller holds IN->lock for writing.  0 or a negative errno.
 */
int fs_content_drop_slot(struct fs *fs, struct fs_inode *in, uint64_t index)
    __attribute__((warn_unused_result));
/* Shortens IN's ciphertext file to NBLOCKS slots (after blocks were dropped). */
void fs_content_trim(struct fs *fs, struct fs_inode *in, uint64_t nblocks);
void fs_content_close(struct fs_inode *in);
/* Removes IN's ciphertext file (if any). */
void fs_content_remove(struct fs *fs, const uint8_t file_id[static 16]);
/* data/<xx>/<file id hex> relative path into OUT (size >= 40). */
void fs_content_path(const uint8_t file_id[static 16], char *out);

#endif
