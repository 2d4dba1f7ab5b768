/* A region for the membership-changing subcommands; see cli_region.h. */
#include "cli/cli_region.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "crypto/secmem.h"
#include "sync/membership.h"
#include "util/hex.h"
#include "util/log.h"

uint64_t cli_now(void)
{
        time_t t = time(NULL);

        return t < 0 ? 0 : (uint64_t)t;
}

void cli_region_release(struct cli_region *c)
{
        members_state_free(c->st);
        store_close(c->store);
        identity_free(c->id);
        memset(c, 0, sizeof(*c));
}

int cli_region_info(const char *home, const char *name, struct region_info *ri)
{
        int rc = region_load(home, name, ri);

        if (rc == -ENOENT)
                log_err("unknown region '%s' (see 'sealsync list')", name);
        else if (rc != 0 && rc != -EBADMSG) /* -EBADMSG: logged by region_load */
                log_err("cannot read region '%s': %s", name, strerror(-rc));
        return rc;
}

int cli_region_open(struct cli_region *c, const char *name, const char *pass_file)
{
        int rc;

        memset(c, 0, sizeof(*c));
        if (cli_setup(c->home, sizeof(c->home)) != CLI_EXIT_OK)
                return -EINVAL;
        rc = cli_region_info(c->home, name, &c->ri);
        if (rc == 0) {
                rc = store_open(c->ri.store_url, &c->store);
                if (rc != 0)
                        log_err("cannot open the store %s: %s", c->ri.store_url, strerror(-rc));
        }
        if (rc == 0)
                rc = cli_load_identity(c->home, pass_file, &c->id);
        if (rc == 0) {
                rc = membership_refresh(c->store, &c->ri, &c->st);
                if (rc != 0)
                        log_err("region %s: cannot read the membership log from the store: %s",
                                c->ri.name, strerror(-rc));
        }
        if (rc == 0 && c->st->alarm != MEMBERS_OK) {
                log_err("region %s: the membership log stops at a signed entry that does not "
                        "verify (%s); not changing it (see 'sealsync log %s')",
                        c->ri.name, members_alarm_name(c->st->alarm), c->ri.name);
                rc = -EPERM;
        }
        if (rc == 0 && members_find(c->st, c->id->device_id) == NULL) {
                log_err("this device is not an active member of region %s", c->ri.name);
                rc = -EPERM;
        }
        if (rc != 0)
                cli_region_release(c);
        return rc;
}

int cli_region_key(struct cli_region *c, uint8_t key[static 32])
{
        int rc = members_unlock(c->st, c->id, key);

        if (rc != 0)
                log_err("region %s: cannot unlock the current epoch key: %s", c->ri.name,
                        rc == -EACCES ? "no wrap for this device (it waits for a rotation)"
                                      : strerror(-rc));
        return rc;
}

int cli_region_append(struct cli_region *c, const uint8_t *obj, size_t len)
{
        struct members_state *st = NULL;
        int rc = membership_append(c->store, c->ri.id, obj, len);

        if (rc != 0)
                return rc;
        rc = membership_refresh(c->store, &c->ri, &st);
        if (rc != 0) {
                log_err("region %s: the entry is on the store, but the log cannot be re-read: %s",
                        c->ri.name, strerror(-rc));
                return rc;
        }
        members_state_free(c->st);
        c->st = st;
        return 0;
}

int cli_region_device(const struct cli_region *c, const char *arg, const struct member_device **out)
{
        size_t n = strlen(arg), i, found = 0;
        char hex[33];

        if (n < 4 || n > 32 || strspn(arg, "0123456789abcdef") != n) {
                log_err("'%s' is not a device id (4 to 32 lowercase hex digits, see "
                        "'sealsync members %s')",
                        arg, c->ri.name);
                return -EINVAL;
        }
        for (i = 0; i < c->st->nmembers; i++) {
                hex_encode(hex, c->st->members[i].device_id, 16);
                if (strncmp(hex, arg, n) == 0) {
                        *out = &c->st->members[i];
                        found++;
                }
        }
        if (found == 1)
                return 0;
        if (found == 0) {
                log_err("no active member of region %s has a device id starting with %s",
                        c->ri.name, arg);
                return -ENOENT;
        }
        log_err("more than one member of region %s has a device id starting with %s", c->ri.name,
                arg);
        return -EINVAL;
}
