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
};

/*
 * Opens region NAME: identity (the passphrase from PASS_FILE, the
 * environment or the terminal), the store, and the fold with the store's
 * log, which must verify (no alarm) and list this device as active.
 * Returns 0 or a negative errno (logged); C is released on failure.
 */
int cli_region_open(struct cli_region *c, const char *name, const char *pass_file)
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
 * caches the verified entries.  Returns 0 or a negative errno (logged).
 */
int cli_region_append(struct cli_region *c, const uint8_t *obj, size_t len)
    __attribute__((warn_unused_result));

/*
 * The active member whose hex device id starts with ARG (at least 4 hex
 * digits, unique) into *OUT.  Returns 0, -ENOENT or -EINVAL (logged).
 */
int cli_region_device(const struct cli_region *c, const char *arg, const struct member_device **out)
    __attribute__((warn_unused_result));

/* Current Unix time (0 if the clock fails). */
uint64_t cli_now(void);

#endif
