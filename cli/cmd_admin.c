/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Membership-changing subcommands: revoke, rotate, role, policy
 * (doc/CLI.md, the rules in doc/FORMAT-keyring.md "The fold").
 *
 * Each folds the region's log with the store's first and refuses early,
 * with the rule named, what the fold would refuse; the entry is then built
 * and checked the way every device will check it (keyring/members.c),
 * written to the store if absent, and the log re-read; this device's own
 * mount switches to it before the command returns (cli_region_append,
 * doc/SYNC.md R2).  Other mounted devices pick the change up within a pull
 * round (~3 s), and always before they publish (R3).
 */
#include "cli/cli.h"
#include "cli/cli_region.h"
#include "cli/cmd.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/secmem.h"
#include "keyring/member.h"
#include "keyring/members.h"
#include "keyring/region.h"
#include "util/hex.h"
#include "sync/membership.h"
#include "util/log.h"

#define ADM_MAX_KEY_AGE (10ull * 366 * 86400) /* a policy of at most ten years */

static const char revoke_usage[] =
    "usage: sealsync revoke NAME DEVICE_ID [--cutoff SEQ] [--passphrase-file FILE]\n"
    "\n"
    "Remove device DEVICE_ID (a unique prefix of its id, see 'sealsync members')\n"
    "from region NAME and rotate the region key to the remaining devices, in one\n"
    "signed entry.  The removed device gets no key of the new epoch, so it cannot\n"
    "read anything written from now on; files written before stay readable with\n"
    "the keys it had until they change (they are re-encrypted when they do).\n"
    "Every device refuses the removed device's journal entries after the cutoff:\n"
    "by default the last entry it has on the store now; --cutoff SEQ sets an\n"
    "earlier one (0: none of its entries count that were not applied already).\n"
    "Only an admin may revoke, and only devices below it: RECOVERY first, then\n"
    "admins by seniority, then everybody else.\n";

static const char rotate_usage[] =
    "usage: sealsync rotate NAME [--passphrase-file FILE]\n"
    "\n"
    "Make a new key for region NAME, wrapped to every active device, with the\n"
    "previous key sealed under it (the key history).  New content is written\n"
    "under the new key.  Admins may rotate at any time; writers only when the\n"
    "region's max_key_age policy says the key is stale.\n";

static const char role_usage[] =
    "usage: sealsync role NAME DEVICE_ID reader|writer|admin [--cutoff SEQ]\n"
    "                     [--passphrase-file FILE]\n"
    "\n"
    "Change the role of device DEVICE_ID in region NAME.  Only an admin may, and\n"
    "only for devices below it in the removal order.  A reader's mount is\n"
    "read-only, and every device refuses the versions a reader signs.\n"
    "A writer or admin demoted to reader keeps its journal entries up to the\n"
    "cutoff: by default the last entry it has on the store now; --cutoff SEQ\n"
    "sets an earlier one.  Promoted again, the entries it signed in between stay\n"
    "void on every device; its entries from then on count.\n";

static const char policy_usage[] =
    "usage: sealsync policy NAME [--max-key-age DURATION|off] [--history all|owner]\n"
    "                       [--json] [--passphrase-file FILE]\n"
    "\n"
    "Show region NAME's policy, or (an admin) change it; an option not given keeps\n"
    "its value.  --max-key-age: a key older than DURATION (digits and s, m, h, d\n"
    "or w) is stale: a mounted device allowed to rotates it, otherwise\n"
    "'sealsync status' warns.  off: no limit.  --history: who reads the files\n"
    "written before they joined.  all (the default): every member.  owner: the\n"
    "devices of a user who has no device in the region yet do not get the older\n"
    "keys ('approve' rotates the key without a history link first); they read\n"
    "the old files once a device runs 'sealsync rekey NAME'.  --json prints the\n"
    "policy (after the change) as one object.\n";

struct adm_args {
        const char *name;
        const char *pass_file;
        const char *operand[2];
        size_t noperands;
        const char *cutoff;  /* revoke, role */
        const char *key_age; /* policy */
        const char *history; /* policy */
        int json;            /* policy */
};

/* Parses CMD's options (OPTS beyond --help and --passphrase-file) and WANT operands. */
static int adm_parse(const char *cmd, const char *usage, int argc, char **argv, size_t want,
                     struct adm_args *a)
{
        static const struct option opts[] = {
            {"help", no_argument, NULL, 'h'},
            {"passphrase-file", required_argument, NULL, 'p'},
            {"cutoff", required_argument, NULL, 'c'},
            {"max-key-age", required_argument, NULL, 'a'},
            {"history", required_argument, NULL, 'H'},
            {"json", no_argument, NULL, 'j'},
            {NULL, 0, NULL, 0},
        };
        int c, status;

        memset(a, 0, sizeof(*a));
        cli_start_options();
        while ((c = cli_next_option(cmd, usage, argc, argv, opts, &status)) > 0) {
                if (c == 'p')
                        a->pass_file = optarg;
                else if (c == 'c' && (strcmp(cmd, "revoke") == 0 || strcmp(cmd, "role") == 0))
                        a->cutoff = optarg;
                else if (c == 'a' && strcmp(cmd, "policy") == 0)
                        a->key_age = optarg;
                else if (c == 'H' && strcmp(cmd, "policy") == 0)
                        a->history = optarg;
                else if (c == 'j' && strcmp(cmd, "policy") == 0)
                        a->json = 1;
                else
                        return cli_unknown_option(cmd, c == 'c'   ? "cutoff"
                                                       : c == 'a' ? "max-key-age"
                                                       : c == 'H' ? "history"
                                                                  : "json");
        }
        if (c == 0)
                return status;
        if (optind == argc)
                return cli_usage_error(cmd, "missing region NAME");
        a->name = argv[optind++];
        while (optind < argc && a->noperands < 2)
                a->operand[a->noperands++] = argv[optind++];
        if (optind < argc || a->noperands != want)
                return cli_usage_error(cmd, a->noperands < want ? "missing argument"
                                                                : "unexpected argument");
        return -1;
}

int cmd_revoke(int argc, char **argv)
{
        struct cli_region c;
        struct adm_args a;
        int rc;

        rc = adm_parse("revoke", revoke_usage, argc, argv, 1, &a);
        if (rc >= 0)
                return rc;
        if (cli_region_open(&c, a.name, a.pass_file) != 0)
                return CLI_EXIT_FAIL;
        rc = cli_region_revoke(&c, a.operand[0], a.cutoff);
        cli_region_release(&c);
        return rc == 0 ? cli_finish_output() : CLI_EXIT_FAIL;
}

int cmd_rotate(int argc, char **argv)
{
        const struct member_device *me;
        struct cli_region c;
        struct adm_args a;
        uint8_t *key = NULL, *obj = NULL;
        size_t len = 0;
        int rc;

        rc = adm_parse("rotate", rotate_usage, argc, argv, 0, &a);
        if (rc >= 0)
                return rc;
        if (cli_region_open(&c, a.name, a.pass_file) != 0)
                return CLI_EXIT_FAIL;
        me = members_find(c.st, c.id->device_id);
        rc = 0;
        if (!members_may_rotate(c.st, me, cli_now())) {
                log_err("rotate: this device is a %s: only admins rotate, and writers when the key "
                        "is older than the region's max_key_age policy",
                        cli_role_name(me->role));
                rc = -EPERM;
        }
        if (rc == 0 && (key = secmem_alloc(32)) == NULL)
                rc = -ENOMEM;
        if (rc == 0)
                rc = cli_region_key(&c, key);
        if (rc == 0) {
                rc = members_build_rotate(c.st, c.id, key, 1, cli_now(), &obj, &len, NULL);
                rc = cli_region_append_built(&c, rc, obj, len, "ROTATE_KEY");
        }
        if (rc == 0)
                cli_region_print_epoch(&c);
        secmem_free(key);
        cli_region_release(&c);
        return rc == 0 ? cli_finish_output() : CLI_EXIT_FAIL;
}

int cmd_role(int argc, char **argv)
{
        const struct member_device *dev, *me;
        struct member_set_role sr;
        struct cli_region c;
        struct adm_args a;
        uint8_t role = 0, *obj = NULL, old;
        char name[MEMBER_NAME_MAX + 1];
        size_t len = 0;
        int rc;

        rc = adm_parse("role", role_usage, argc, argv, 2, &a);
        if (rc >= 0)
                return rc;
        if (cli_role_parse(a.operand[1], &role) != 0)
                return cli_usage_error("role", "the role is reader, writer or admin");
        if (cli_region_open(&c, a.name, a.pass_file) != 0)
                return CLI_EXIT_FAIL;
        rc = cli_region_device(&c, a.operand[0], &dev);
        me = members_find(c.st, c.id->device_id);
        if (rc == 0 && (!members_may_remove(c.st, me, dev) || dev->role == MEMBER_ROLE_RECOVERY)) {
                log_err("role: this device (%s) may not change the role of %s (%s): only an admin "
                        "does, for devices below it",
                        cli_role_name(me->role), dev->name, cli_role_name(dev->role));
                rc = -EPERM;
        }
        if (rc == 0 && dev->role == role) {
                printf("%s is a %s already; nothing changed\n", dev->name, cli_role_name(role));
                cli_region_release(&c);
                return cli_finish_output();
        }
        if (rc == 0) {
                old = dev->role;
                snprintf(name, sizeof(name), "%s", dev->name); /* DEV moves with the refold */
                rc = cli_region_role_body(&c, dev, role, a.cutoff, &sr);
                if (rc == 0)
                        rc = members_build_set_role_body(c.st, c.id, &sr, cli_now(), &obj, &len);
                rc = cli_region_append_built(&c, rc, obj, len, "SET_ROLE");
                if (rc == 0)
                        printf("%s: %s -> %s in %s\n", name, cli_role_name(old),
                               cli_role_name(role), c.ri.name);
                if (rc == 0 && sr.has_journal && role == MEMBER_ROLE_READER)
                        printf("its journal entries after seq %" PRIu64 " are refused everywhere\n",
                               sr.journal_seq);
                else if (rc == 0 && sr.has_journal)
                        printf("its journal entries after seq %" PRIu64 " count again\n",
                               sr.journal_seq);
        }
        cli_region_release(&c);
        return rc == 0 ? cli_finish_output() : CLI_EXIT_FAIL;
}

static void adm_print_policy_json(const struct cli_region *c)
{
        const struct members_epoch *ep = &c->st->epochs[c->st->cur];
        char hex[2 * REGION_ID_LEN + 1];

        hex_encode(hex, c->ri.id, REGION_ID_LEN);
        cli_json_open();
        fputs("\"region\":", stdout);
        cli_json_str(c->ri.name);
        printf(",\"region_id\":\"%s\",\"max_key_age\":", hex);
        if (c->st->max_key_age == 0)
                fputs("null", stdout);
        else
                printf("%" PRIu64, c->st->max_key_age);
        printf(",\"history\":\"%s\",\"epoch\":%zu,\"key_time\":", cli_history_name(c->st->history),
               c->st->cur);
        cli_json_time(ep->time);
        printf(",\"key_stale\":%s}\n", members_key_stale(c->st, cli_now()) ? "true" : "false");
}

static void adm_print_policy(const struct cli_region *c, int json)
{
        const struct members_epoch *ep = &c->st->epochs[c->st->cur];
        char when[64];

        if (json) {
                adm_print_policy_json(c);
                return;
        }
        cli_format_time(ep->time, when, sizeof(when));
        if (c->st->max_key_age == 0)
                printf("max_key_age: off\n");
        else
                printf("max_key_age: %" PRIu64 " s (%.1f days)\n", c->st->max_key_age,
                       (double)c->st->max_key_age / 86400.0);
        printf("history: %s\n", cli_history_name(c->st->history));
        if (c->st->history == MEMBER_HISTORY_OWNER)
                printf("  (a new user's devices cannot read what was written before they joined, "
                       "until 'sealsync rekey %s')\n",
                       c->ri.name);
        printf("current key: epoch %zu, made %s%s\n", c->st->cur, when,
               members_key_stale(c->st, cli_now()) ? " (stale)" : "");
}

/* Parses --history's ARG into *OUT: 0, or -1. */
static int adm_history_parse(const char *arg, uint8_t *out)
{
        if (strcmp(arg, "all") == 0)
                *out = MEMBER_HISTORY_ALL;
        else if (strcmp(arg, "owner") == 0)
                *out = MEMBER_HISTORY_OWNER;
        else
                return -1;
        return 0;
}

int cmd_policy(int argc, char **argv)
{
        const struct member_device *me;
        struct cli_region c;
        struct adm_args a;
        uint64_t age = 0;
        uint8_t *obj = NULL, history = MEMBER_HISTORY_ALL;
        size_t len = 0;
        int rc;

        rc = adm_parse("policy", policy_usage, argc, argv, 0, &a);
        if (rc >= 0)
                return rc;
        if (a.key_age != NULL && strcmp(a.key_age, "off") != 0 &&
            cli_parse_duration(a.key_age, ADM_MAX_KEY_AGE, &age) != 0)
                return cli_usage_error("policy",
                                       "--max-key-age takes a duration (e.g. 90d) or off");
        if (a.history != NULL && adm_history_parse(a.history, &history) != 0)
                return cli_usage_error("policy", "--history takes all or owner");
        if (cli_region_open(&c, a.name, a.pass_file) != 0)
                return CLI_EXIT_FAIL;
        c.notes_to_stderr = a.json;
        rc = 0;
        if (a.key_age != NULL || a.history != NULL) {
                /* A POLICY entry carries both: the one not given keeps its value. */
                if (a.key_age == NULL)
                        age = c.st->max_key_age;
                if (a.history == NULL)
                        history = c.st->history;
                me = members_find(c.st, c.id->device_id);
                rc = members_build_policy(c.st, c.id, age, history, cli_now(), &obj, &len);
                if (rc == -EPERM)
                        log_err("policy: this device is a %s: only admins set the policy",
                                cli_role_name(me->role));
                else
                        rc = cli_region_append_built(&c, rc, obj, len, "POLICY");
        }
        if (rc == 0)
                adm_print_policy(&c, a.json);
        cli_region_release(&c);
        return rc == 0 ? cli_finish_output() : CLI_EXIT_FAIL;
}
