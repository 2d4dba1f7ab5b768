/* SPDX-License-Identifier: Apache-2.0 */
/*
 * forgemount: mounts a region the way `sealsync mount` does, but WITHOUT
 * the reader check: a device whose role is reader gets a writable mount
 * whose commits it signs and publishes like a writer's.  It plays a reader
 * that forges writes (a modified client), so that tests can check that
 * every receiver refuses the reader's validly signed versions (alarm
 * not-a-writer, doc/SYNC.md).  Test-only: built into build/tools, never
 * installed; the shipped binary always mounts a reader read-only.
 *
 *   SEALSYNC_HOME=... SEALSYNC_PASSPHRASE=... forgemount REGION MOUNTPOINT
 *
 * Daemonizes like `sealsync mount` and returns once the mount is live;
 * `sealsync umount MOUNTPOINT` ends it.  Exits 0, or 1 with a message.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/secmem.h"
#include "fs/mount.h"
#include "keyring/home.h"
#include "keyring/identity.h"
#include "keyring/passphrase.h"
#include "keyring/region.h"
#include "util/log.h"

/* Loads the device identity of HOME (passphrase from SEALSYNC_PASSPHRASE, if it has one). */
static int forge_identity(const char *home, struct identity **id)
{
        char *pass = NULL;
        int has, rc;

        has = identity_has_passphrase(home);
        if (has < 0)
                return has;
        if (has) {
                rc = passphrase_get(&pass, NULL, "Passphrase for this device: ", 0);
                if (rc != 0)
                        return rc;
        }
        rc = identity_load(home, pass, id);
        passphrase_free(pass);
        return rc;
}

int main(int argc, char **argv)
{
        struct fsmount_opts mo;
        struct region_info ri;
        struct identity *id = NULL;
        struct region_keys *keys = NULL;
        char home[PATH_MAX], mp[PATH_MAX];
        int rc;

        log_init("forgemount", LOG_LEVEL_WARN);
        if (argc != 3) {
                fprintf(stderr, "usage: forgemount REGION MOUNTPOINT\n");
                return 2;
        }
        if (secmem_init() != 0 || home_dir(home, sizeof(home)) != 0) {
                fprintf(stderr, "forgemount: cannot initialise (set SEALSYNC_HOME)\n");
                return 1;
        }
        if (realpath(argv[2], mp) == NULL) {
                fprintf(stderr, "forgemount: %s: %s\n", argv[2], strerror(errno));
                return 1;
        }
        rc = region_load(home, argv[1], &ri);
        if (rc == 0)
                rc = forge_identity(home, &id);
        if (rc == 0)
                rc = region_unlock(id, &ri, &keys);
        if (rc != 0) {
                fprintf(stderr, "forgemount: cannot open region %s: %s\n", argv[1], strerror(-rc));
                identity_free(id);
                return 1;
        }
        memset(&mo, 0, sizeof(mo));
        mo.region = &ri;
        mo.keys = keys;
        mo.local_key = id->local_key;
        mo.id = id;
        mo.mountpoint = mp;
        mo.reader = 0; /* the forgery: whatever the membership says */
        mo.forge_role = 1;
        rc = fsmount_run(&mo);
        region_keys_free(keys);
        identity_free(id);
        if (rc != 0)
                fprintf(stderr, "forgemount: mount failed: %s\n", strerror(-rc));
        return rc == 0 ? 0 : 1;
}
