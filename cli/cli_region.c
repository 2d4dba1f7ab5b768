/* SPDX-License-Identifier: Apache-2.0 */
/* A region for the membership-changing subcommands; see cli_region.h. */
#include "cli/cli_s3.h"
#include "cli/cli_region.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_ctl.h"
#include "crypto/secmem.h"
#include "keyring/member.h"
#include "sync/journal.h"
#include "sync/membership.h"
#include "util/hex.h"
#include "util/log.h"

#define CLI_REGION_MAX_JOURNAL (1u << 22) /* journal keys listed for a cutoff */

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
        int rc = cli_region_load(home, name, ri);

        if (rc == -ENOENT)
                log_err("unknown region '%s' (see 'sealsync list')", name);
        else if (rc != 0 && rc != -EBADMSG) /* -EBADMSG: logged by region_load */
                log_err("cannot read region '%s': %s", name, strerror(-rc));
        return rc;
}

int cli_open_store(const char *url, struct store **st)
{
        int rc = store_open(url, st);

        if (rc == -ENOTSUP)
                log_err("store %s: unsupported URL scheme", url);
        else if (rc != 0 && rc != -EINVAL)
                log_err("cannot open the store %s: %s", url, strerror(-rc));
        return rc;
}

void cli_store_check_error(const char *url, int rc)
{
        if (rc == -ENOMEDIUM)
                log_err("store-missing: the store %s has no sealsync store marker or does not "
                        "hold this region (an unplugged disk, an unmounted share, a wrong URL?); "
                        "nothing was written to it. Bring the store back and try again",
                        url);
        else
                log_err("cannot check the store %s: %s", url, strerror(-rc));
}

int cli_open_region_store(const char *url, const uint8_t region_id[static 32],
                          const uint8_t *genesis_hash, struct store **st)
{
        struct store *s = NULL;
        int rc = cli_open_store(url, &s);

        if (rc == 0)
                rc = store_check(s, region_id, genesis_hash);
        if (rc != 0 && s != NULL) {
                cli_store_check_error(url, rc);
                store_close(s);
                s = NULL;
        }
        *st = s;
        return rc;
}

/* The part of cli_region_open after the identity: store and fold, checked. */
static int cli_region_fold(struct cli_region *c)
{
        int rc = membership_refresh(c->store, &c->ri, &c->st);

        if (rc != 0)
                log_err("region %s: cannot read the membership log from the store: %s", c->ri.name,
                        strerror(-rc));
        /* A rejected entry is left out of the fold with its descendants; the change is
         * built on the verified rest (an admin must be able to remove its author). */
        if (rc == 0 && c->st->alarm != MEMBERS_OK)
                log_warn("region %s: a signed membership entry does not verify (%s) and is left "
                         "out (see 'sealsync log %s')",
                         c->ri.name, members_alarm_name(c->st->alarm), c->ri.name);
        if (rc == 0 && members_find(c->st, c->id->device_id) == NULL) {
                log_err("this device is not an active member of region %s", c->ri.name);
                rc = -EPERM;
        }
        return rc;
}

/* Home, region record and store of NAME into C. */
static int cli_region_start(struct cli_region *c, const char *name)
{
        int rc;

        memset(c, 0, sizeof(*c));
        if (cli_setup(c->home, sizeof(c->home)) != CLI_EXIT_OK)
                return -EINVAL;
        rc = cli_region_info(c->home, name, &c->ri);
        if (rc == 0)
                rc =
                    cli_open_region_store(c->ri.store_url, c->ri.id, c->ri.genesis_hash, &c->store);
        return rc;
}

int cli_region_open(struct cli_region *c, const char *name, const char *pass_file)
{
        int rc = cli_region_start(c, name);

        if (rc == 0)
                rc = cli_load_identity(c->home, pass_file, &c->id);
        if (rc == 0)
                rc = cli_region_fold(c);
        if (rc != 0)
                cli_region_release(c);
        return rc;
}

int cli_region_open_as(struct cli_region *c, const char *name, struct identity *id)
{
        int rc = cli_region_start(c, name);

        c->id = id;
        if (rc == 0)
                rc = cli_region_fold(c);
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

#define CLI_REGION_SWITCH_S 120 /* the daemon may first finish a commit round */

/* Reads the daemon's reply to MEMBERS: 0 on "ok", else -EIO with its error logged. */
static int cli_region_switch_reply(struct cli_region *c, struct cli_ctl_reader *r)
{
        char line[CTL_LINE_MAX];
        int rc, ok = 0, removed = 0;

        while ((rc = cli_ctl_line(r, line)) == 0 && strcmp(line, "end") != 0) {
                if (strcmp(line, "ok") == 0)
                        ok = 1;
                else if (strcmp(line, "removed 1") == 0)
                        removed = 1;
                else if (strncmp(line, "error ", 6) == 0)
                        log_err("region %s: the entry is on the store, but this device's mount "
                                "has not switched to it: %s",
                                c->ri.name, line + 6);
        }
        if (rc != 0)
                log_err("region %s: the entry is on the store, but this device's mount did not "
                        "confirm the switch: %s",
                        c->ri.name, strerror(-rc));
        else if (ok)
                fprintf(c->notes_to_stderr ? stderr : stdout,
                        "this device's mount of %s uses the new membership now%s\n", c->ri.name,
                        removed ? " (this device is removed: read-only)" : "");
        return rc == 0 && ok ? 0 : -EIO;
}

/*
 * doc/SYNC.md R2: the mount of this region by this device home, if any,
 * switches to a fold holding entry OBJ before the command returns (control
 * socket MEMBERS).  Returns 0 (switched, or not mounted) or -EIO (logged).
 */
static int cli_region_switch_mounts(struct cli_region *c, const uint8_t *obj, size_t len)
{
        struct member_entry *e = NULL;
        struct cli_ctl_reader r;
        char req[8 + 2 * MEMBER_HASH_LEN + 2], hex[2 * MEMBER_HASH_LEN + 1];
        int rc = member_decode(obj, len, &e);

        if (rc != 0)
                return rc; /* cannot happen: membership_append decoded it */
        hex_encode(hex, e->hash, MEMBER_HASH_LEN);
        member_entry_free(e);
        snprintf(req, sizeof(req), "MEMBERS %s\n", hex);
        rc = cli_ctl_open(&c->ri, req, CLI_REGION_SWITCH_S, &r);
        if (rc == -ENOTCONN)
                return 0; /* not mounted here */
        if (rc != 0) {
                log_err("region %s: the entry is on the store, but this device's mount cannot be "
                        "reached to switch to it: %s; unmount it and mount it again",
                        c->ri.name, strerror(-rc));
                return -EIO;
        }
        rc = cli_region_switch_reply(c, &r);
        close(r.fd);
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
        return cli_region_switch_mounts(c, obj, len);
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

int cli_region_append_built(struct cli_region *c, int rc, uint8_t *obj, size_t len,
                            const char *what)
{
        if (rc == 0)
                rc = cli_region_append(c, obj, len);
        else
                log_err("cannot build the %s entry: %s", what,
                        rc == -EPERM ? "this device may not make this change" : strerror(-rc));
        free(obj);
        return rc;
}

void cli_region_print_epoch(const struct cli_region *c)
{
        char hex[2 * MEMBER_HASH_LEN + 1];
        const struct members_epoch *ep = &c->st->epochs[c->st->cur];

        hex_encode(hex, ep->id, MEMBER_HASH_LEN);
        printf("new key epoch %.12s (epoch %zu of the region), wrapped to %zu device%s\n", hex,
               c->st->cur, ep->nwraps, ep->nwraps == 1 ? "" : "s");
}

/* Parses a --cutoff ARG (a journal seq) into *WANT.  0 or -EINVAL (logged). */
static int cli_region_cutoff_arg(const char *arg, uint64_t *want)
{
        char *end = NULL;

        errno = 0;
        *want = strtoull(arg, &end, 10);
        if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-') {
                log_err("--cutoff takes a journal sequence number");
                return -EINVAL;
        }
        return 0;
}

/*
 * The cutoff of DEV: the last journal entry it has on the store, or entry
 * ARG (a seq; "0" for none).  Returns 0 or -errno (logged).
 */
static int cli_region_cutoff(struct cli_region *c, const struct member_device *dev, const char *arg,
                             uint64_t *seq, uint8_t hash[static 32])
{
        struct membership_keys k;
        char dir[8 + 33], hex[33];
        uint64_t want = 0, s;
        uint8_t h[32], d[16];
        size_t i;
        int rc, found = 0;

        if (arg != NULL && cli_region_cutoff_arg(arg, &want) != 0)
                return -EINVAL;
        *seq = 0;
        memset(hash, 0, 32);
        if (arg != NULL && want == 0)
                return 0;
        hex_encode(hex, dev->device_id, 16);
        snprintf(dir, sizeof(dir), "journal/%s", hex);
        rc = membership_list(c->store, c->ri.id, dir, CLI_REGION_MAX_JOURNAL, &k);
        if (rc != 0)
                return rc;
        for (i = 0; i < k.n; i++) {
                if (journal_parse_key(k.v[i], NULL, d, &s, h) != 0 ||
                    memcmp(d, dev->device_id, 16) != 0)
                        continue; /* junk under the prefix: not a cutoff */
                if (arg == NULL ? s > *seq : s == want) {
                        *seq = s;
                        memcpy(hash, h, 32);
                        found = 1;
                }
        }
        membership_keys_release(&k);
        if (arg != NULL && !found) {
                log_err("the device has no journal entry %" PRIu64 " on the store", want);
                return -ENOENT;
        }
        return 0;
}

int cli_region_role_body(struct cli_region *c, const struct member_device *dev, uint8_t role,
                         const char *cutoff, struct member_set_role *sr)
{
        struct members_standing st;
        int demote = role == MEMBER_ROLE_READER && dev->role != MEMBER_ROLE_READER;
        int resume = 0, rc = 0;

        memset(sr, 0, sizeof(*sr));
        memcpy(sr->device_id, dev->device_id, 16);
        sr->role = role;
        if (!demote && role != MEMBER_ROLE_READER && dev->role == MEMBER_ROLE_READER) {
                members_standing(c->st, dev->device_id, &st);
                resume = st.cut;
        }
        if (cutoff != NULL && !demote) {
                log_err("role: --cutoff is for a demotion of a writer or admin to reader");
                return -EINVAL;
        }
        if (demote || resume) {
                /* Invariant R5: the demoted device's last entry on the store (or --cutoff);
                 * a promotion's resume, its journal head on the store now. */
                rc = cli_region_cutoff(c, dev, demote ? cutoff : NULL, &sr->journal_seq,
                                       sr->journal_hash);
                sr->has_journal = rc == 0;
        }
        return rc;
}

/* Lists the active members that device ID enrolled: a revocation does not cascade. */
static void cli_region_enrolled_by(const struct cli_region *c, const uint8_t id[static 16])
{
        char hex[33];
        size_t i;
        int first = 1;

        for (i = 0; i < c->st->nmembers; i++) {
                const struct member_entry *e = c->st->entries[c->st->added_by[i]];

                if (memcmp(e->author, id, 16) != 0)
                        continue;
                if (first)
                        printf("note: the removed device enrolled these devices, which stay "
                               "members (revoke them too if they are not trusted):\n");
                first = 0;
                hex_encode(hex, c->st->members[i].device_id, 16);
                printf("  %s  %s (owner %s, %s)\n", hex, c->st->members[i].name,
                       c->st->members[i].owner, cli_role_name(c->st->members[i].role));
        }
}

int cli_region_revoke(struct cli_region *c, const char *dev_arg, const char *cutoff)
{
        uint8_t removed_id[16];
        const struct member_device *dev, *me;
        uint8_t *key = NULL, *obj = NULL, hash[32];
        char fpr[128];
        uint64_t seq = 0;
        size_t len = 0;
        int rc;

        rc = cli_region_device(c, dev_arg, &dev);
        me = members_find(c->st, c->id->device_id);
        if (rc == 0 && !members_may_remove(c->st, me, dev)) {
                log_err("revoke: this device (%s) may not remove %s (%s): only an admin removes, "
                        "and only devices below it (recovery, then admins by seniority, then the "
                        "rest)",
                        cli_role_name(me->role), dev->name, cli_role_name(dev->role));
                rc = -EPERM;
        }
        if (rc == 0)
                rc = cli_region_cutoff(c, dev, cutoff, &seq, hash);
        if (rc == 0 && (key = secmem_alloc(32)) == NULL)
                rc = -ENOMEM;
        if (rc == 0)
                rc = cli_region_key(c, key);
        if (rc == 0) {
                (void)cli_fingerprint(dev, fpr, sizeof(fpr));
                printf("revoking %s (owner %s, %s, fingerprint %s) from %s\n", dev->name,
                       dev->owner, cli_role_name(dev->role), fpr, c->ri.name);
                memcpy(removed_id, dev->device_id, 16); /* DEV moves with the refold */
                rc = members_build_remove(c->st, c->id, dev->device_id, seq, hash, key, cli_now(),
                                          &obj, &len, NULL);
                rc = cli_region_append_built(c, rc, obj, len, "REMOVE_DEVICE");
        }
        if (rc == 0) {
                printf("removed; its journal entries after seq %" PRIu64
                       " are refused everywhere\n",
                       seq);
                cli_region_print_epoch(c);
                cli_region_enrolled_by(c, removed_id);
        }
        secmem_free(key);
        return rc;
}

int cli_region_check_new(const char *home, const char *name, const uint8_t region_id[static 32],
                         int *done)
{
        struct region_info ri, *v = NULL;
        struct identity *pub = NULL;
        size_t n = 0, i;
        int rc;

        *done = 0;
        rc = identity_load_public(home, &pub);
        identity_free(pub);
        if (rc != 0) {
                cli_identity_error(rc, home);
                return rc;
        }
        rc = region_load(home, name, &ri);
        if (rc == 0 && memcmp(ri.id, region_id, 32) == 0) {
                *done = 1;
                return 0;
        }
        if (rc == 0 || rc == -EBADMSG) {
                log_err("a region named %s already exists on this device: choose another NAME",
                        name);
                return -EEXIST;
        }
        rc = region_list(home, &v, &n);
        for (i = 0; rc == 0 && i < n; i++)
                if (memcmp(v[i].id, region_id, 32) == 0) {
                        log_err("this device already has this region, as %s", v[i].name);
                        rc = -EEXIST;
                }
        free(v);
        return rc;
}

void cli_pin_release(struct cli_pin *p)
{
        member_entry_free(p->g);
        memset(p, 0, sizeof(*p));
}

int cli_region_pin(struct store *st, const uint8_t region_id[static 32], cli_genesis_fn fn,
                   void *ctx, struct cli_pin *out)
{
        struct membership_objs m;
        struct member_entry *e;
        size_t i;
        int rc, pick;

        memset(out, 0, sizeof(*out));
        rc = membership_fetch(st, region_id, NULL, &m);
        if (rc != 0)
                return rc;
        for (i = 0; rc == 0 && i < m.n; i++) {
                e = NULL;
                if (strncmp(m.objs[i].name, "0000000000000000-", 17) != 0 ||
                    member_decode(m.objs[i].buf, m.objs[i].len, &e) != 0 ||
                    member_verify_genesis(e) != 0 || memcmp(e->region_id, region_id, 32) != 0) {
                        member_entry_free(e);
                        continue;
                }
                out->valid++;
                pick = out->g == NULL ? fn(ctx, e, &m) : 0;
                if (pick == 1)
                        out->g = e;
                else
                        member_entry_free(e);
                if (pick < 0)
                        rc = pick;
        }
        membership_objs_release(&m);
        if (rc != 0)
                cli_pin_release(out);
        return rc;
}
