/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_CLI_CLI_REGION_H
#define SEALSYNC_CLI_CLI_REGION_H
/*
 * A region as the membership-changing subcommands need it (cli/cmd_admin.c):
 * the device directory, the region record, this device's identity with its
 * secrets, the store, and the membership log folded with the store's.
 * Every function logs its failures once (CLI contract, cli/cli.h).
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "keyring/identity.h"
#include "keyring/members.h"
#include "keyring/region.h"
#include "sync/store.h"

struct cli_region {
        char home[PATH_MAX];
        struct region_info ri;
        struct identity *id;
        struct store *store;
        struct members_state *st;
        int notes_to_stderr; /* progress notes on stderr: stdout carries --json */
};

/*
 * Opens region NAME: identity (the passphrase from PASS_FILE, the
 * environment or the terminal), the store, and the fold with the store's
 * log, which must verify (no alarm) and list this device as active.
 * Returns 0 or a negative errno (logged); C is released on failure.
 */
int cli_region_open(struct cli_region *c, const char *name, const char *pass_file)
    __attribute__((warn_unused_result));

/*
 * As cli_region_open, with ID (owned by C from now on, also on failure) as
 * the member acting instead of this device's identity: the recovery key.
 */
int cli_region_open_as(struct cli_region *c, const char *name, struct identity *id)
    __attribute__((warn_unused_result));

void cli_region_release(struct cli_region *c);

/* Region NAME's record under HOME into *RI: 0 or a negative errno (logged). */
int cli_region_info(const char *home, const char *name, struct region_info *ri)
    __attribute__((warn_unused_result));

/* This device's current epoch key into KEY (32 bytes, secure memory).  0 or -errno (logged). */
int cli_region_key(struct cli_region *c, uint8_t key[static 32])
    __attribute__((warn_unused_result));

/*
 * Puts membership entry OBJ (LEN bytes) on the store (if absent; an equal
 * object there already counts as written), then refolds C->st with it and
 * caches the verified entries, then has this device's mount of the region,
 * if any, switch to a membership holding OBJ (control socket MEMBERS;
 * doc/SYNC.md R2).  Returns 0 or a negative errno (logged; -EIO: the entry
 * is on the store but the mount did not switch).
 */
int cli_region_append(struct cli_region *c, const uint8_t *obj, size_t len)
    __attribute__((warn_unused_result));

/*
 * The active member whose hex device id starts with ARG (at least 4 hex
 * digits, unique) into *OUT.  Returns 0, -ENOENT or -EINVAL (logged).
 */
int cli_region_device(const struct cli_region *c, const char *arg, const struct member_device **out)
    __attribute__((warn_unused_result));

/*
 * Appends the entry a members_build_* call made (its result RC, OBJ of LEN
 * bytes, freed here) with cli_region_append; logs a build failure naming
 * WHAT.  Returns 0 or a negative errno (logged).
 */
int cli_region_append_built(struct cli_region *c, int rc, uint8_t *obj, size_t len,
                            const char *what) __attribute__((warn_unused_result));

/* Prints the current epoch after a rotation: id, index, recipients. */
void cli_region_print_epoch(const struct cli_region *c);

/*
 * `sealsync revoke`'s work: removes the active member DEV_ARG (a device id
 * prefix) with C->id as the author, the cutoff being CUTOFF (a journal seq,
 * "0" for none) or, NULL, the device's last journal entry on the store.
 * Checks the removal order first.  Returns 0 or a negative errno (logged).
 */
int cli_region_revoke(struct cli_region *c, const char *dev_arg, const char *cutoff)
    __attribute__((warn_unused_result));

/*
 * `sealsync role`'s SET_ROLE body for DEV (an active member) to ROLE into
 * *SR (invariant R5, doc/FORMAT-keyring.md "SET_ROLE body"): a lowering of a
 * writer or admin to reader names its cutoff (CUTOFF, a journal seq, "0" for
 * none, or NULL: the device's last journal entry on the store); a raise of a
 * reader demoted with a cutoff names its resume (its last entry on the store);
 * any other change is the legacy body.  Returns 0, -EINVAL (CUTOFF without a
 * demotion, or not a number), -ENOENT (no such entry) or a store error
 * (logged).
 */
int cli_region_role_body(struct cli_region *c, const struct member_device *dev, uint8_t role,
                         const char *cutoff, struct member_set_role *sr)
    __attribute__((warn_unused_result));

/* store_open with the CLI's messages (-EINVAL: logged by the store). */
int cli_open_store(const char *url, struct store **st) __attribute__((warn_unused_result));

/*
 * cli_open_store, then store_check (doc/SYNC.md S1) for region REGION_ID
 * with GENESIS_HASH (NULL: any GENESIS, for join and recover).  Returns 0,
 * -ENOMEDIUM (store-missing: logged with what to do) or the store's error
 * (logged); *ST is NULL on failure.
 */
int cli_open_region_store(const char *url, const uint8_t region_id[static 32],
                          const uint8_t *genesis_hash, struct store **st)
    __attribute__((warn_unused_result));

/* Logs what store_check's failure RC on the store at URL means. */
void cli_store_check_error(const char *url, int rc);

/*
 * Before recording region REGION_ID as NAME on this device (join, recover):
 * HOME has an identity and no other region of that name or id.  *DONE = 1
 * if NAME is this region already.  Returns 0 or a negative errno (logged).
 */
int cli_region_check_new(const char *home, const char *name, const uint8_t region_id[static 32],
                         int *done) __attribute__((warn_unused_result));

/* The GENESIS a device pins when it joins by something other than the local record. */
struct cli_pin {
        struct member_entry *g; /* the picked GENESIS (g->raw: its bytes), or NULL */
        size_t valid;           /* valid GENESIS objects of the region in the store */
};

/*
 * Called by cli_region_pin for each valid GENESIS G of the region, with
 * the region's membership objects M as the store lists them: 1 picks G,
 * 0 not, a negative errno stops.
 */
struct membership_objs;
typedef int (*cli_genesis_fn)(void *ctx, const struct member_entry *g,
                              const struct membership_objs *m);

/*
 * Among the store's height-0 objects of REGION_ID that are valid GENESIS
 * entries of it (decode, member_verify_genesis, right region id), the
 * first FN picks, into OUT (cli_pin_release).  A store may show several
 * claiming one region id: FN decides by a secret the real one commits to
 * (the invite code's check bits, the recovery key's derived device).
 * Returns 0 (OUT->g NULL: none picked) or a negative errno (the store's,
 * logged; or FN's).
 */
int cli_region_pin(struct store *st, const uint8_t region_id[static 32], cli_genesis_fn fn,
                   void *ctx, struct cli_pin *out) __attribute__((warn_unused_result));
void cli_pin_release(struct cli_pin *p);

/* Current Unix time (0 if the clock fails). */
uint64_t cli_now(void);

#endif
