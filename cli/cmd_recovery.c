/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The recovery key (doc/DESIGN.md "Issue #4", bytes in doc/FORMAT-keyring.md
 * "Recovery key"): `recovery-key` (an admin) adds the region's RECOVERY
 * device, whose keys derive from 24 words shown once; `recover`, on a new
 * device, derives it again from the words and uses it to enroll this device
 * and to revoke lost ones.  The words, the secret and the derived private
 * keys live in secure memory only and are never written anywhere.
 */
#include "cli/cli_s3.h"
#include "cli/cli.h"
#include "cli/cli_region.h"
#include "cli/cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/secmem.h"
#include "crypto/suite.h"
#include "keyring/member.h"
#include "keyring/members.h"
#include "keyring/passphrase.h"
#include "keyring/recovery.h"
#include "keyring/region.h"
#include "sync/membership.h"
#include "util/hex.h"
#include "util/log.h"

#define RC_MAX_REVOKE 16

static const char recovery_key_usage[] =
    "usage: sealsync recovery-key NAME [--yes-print] [--passphrase-file FILE]\n"
    "\n"
    "Make the recovery key of region NAME (an admin only, once per region): 24\n"
    "words, shown only this once, from which the keys of the region's RECOVERY\n"
    "device derive.  Write them down and keep them offline: with them, 'sealsync\n"
    "recover' on any machine enrolls a new device and removes lost ones, even\n"
    "when every device of the region is gone.  Whoever holds the words controls\n"
    "the region.  Nothing of them is stored on this device.  The words are only\n"
    "printed to a terminal; --yes-print prints them to anything else (a file,\n"
    "a pipe, a log) as well.\n";

static const char recover_usage[] =
    "usage: sealsync recover NAME STORE_URL REGION_ID [--words-file FILE]\n"
    "                        [--owner OWNER] [--role reader|writer|admin]\n"
    "                        [--revoke DEVICE_ID]... [--passphrase-file FILE]\n"
    "\n"
    "With the 24 words of region REGION_ID's recovery key (asked on the terminal;\n"
    "or the first line of --words-file FILE; or $SEALSYNC_RECOVERY_WORDS), enroll\n"
    "this device into the region as NAME, signed by the recovery key: owner\n"
    "OWNER (default: the recovery key's owner), role --role (default admin).\n"
    "The region is recorded like 'sealsync join' does; mount it right away.\n"
    "--revoke DEVICE_ID (repeatable; a unique prefix of a device id) removes a\n"
    "lost device with the recovery key, as 'sealsync revoke' does.  A wrong\n"
    "word or checksum is refused before anything is written.\n";

/* ---- recovery-key ---- */

struct rk_args {
        const char *name;
        const char *pass_file;
        int yes_print;
};

static int rk_parse(int argc, char **argv, struct rk_args *a)
{
        static const struct option opts[] = {
            {"help", no_argument, NULL, 'h'},
            {"passphrase-file", required_argument, NULL, 'p'},
            {"yes-print", no_argument, NULL, 'y'},
            {NULL, 0, NULL, 0},
        };
        int c, status;

        memset(a, 0, sizeof(*a));
        cli_start_options();
        while ((c = cli_next_option("recovery-key", recovery_key_usage, argc, argv, opts,
                                    &status)) > 0) {
                if (c == 'p')
                        a->pass_file = optarg;
                else if (c == 'y')
                        a->yes_print = 1;
        }
        if (c == 0)
                return status;
        if (optind + 1 != argc)
                return cli_usage_error("recovery-key", optind == argc ? "missing region NAME"
                                                                      : "unexpected argument");
        a->name = argv[optind];
        return -1;
}

/* ME may add the recovery device to C's region (logs why not). */
static int rk_allowed(const struct cli_region *c, const struct member_device *me)
{
        const struct member_device *r = members_recovery(c->st);
        char hex[2 * IDENTITY_ID_LEN + 1];

        if (!members_may_add(me, me->owner, MEMBER_ROLE_RECOVERY)) {
                log_err("recovery-key: this device is a %s: only an admin sets up the recovery key",
                        cli_role_name(me->role));
                return -EPERM;
        }
        if (r != NULL) {
                hex_encode(hex, r->device_id, IDENTITY_ID_LEN);
                log_err("region %s has a recovery key already (device %s, owner %s); it cannot "
                        "be replaced (doc/DESIGN.md \"The recovery key\")",
                        c->ri.name, hex, r->owner);
                return -EEXIST;
        }
        return 0;
}

/*
 * Builds the ADD_DEVICE of NEWID as D (its record) by AUTHOR on top of ST
 * (KEY: ST's current epoch key) into *OBJ and *LEN.  0 or -errno (logged).
 */
static int rc_build_add(const struct members_state *st, const struct identity *author,
                        const struct identity *newid, const struct member_device *d,
                        const uint8_t key[static 32], uint8_t **obj, size_t *len)
{
        uint8_t ss[MEMBER_SIG_LEN];
        int rc = member_self_sign(ss, newid->sign_sk, st->region_id, d);

        if (rc == 0)
                rc = members_build_add(st, author, d, ss, key, NULL, 0, cli_now(), obj, len, NULL);
        if (rc != 0)
                log_err("cannot build the ADD_DEVICE entry of %s: %s", d->name,
                        rc == -EPERM ? "not allowed" : strerror(-rc));
        return rc;
}

static void rk_print(const struct cli_region *c, const struct identity *rid, const char *words)
{
        char hex[2 * IDENTITY_ID_LEN + 1], rhex[65];
        const char *p = words;
        size_t i, n;

        hex_encode(hex, rid->device_id, IDENTITY_ID_LEN);
        hex_encode(rhex, c->ri.id, 32);
        printf("recovery key of region %s (%s)\nrecovery device: %s\n\n"
               "Write these words down, in order, and keep them offline.  They are shown\n"
               "only this once; whoever has them controls the region.\n\n",
               c->ri.name, rhex, hex);
        for (i = 0; i < RECOVERY_WORDS; i++) {
                n = strcspn(p, " ");
                printf("%3zu. %-9.*s%s", i + 1, (int)n, p, i % 4 == 3 ? "\n" : " ");
                p += n + (p[n] == ' ');
        }
        printf("\nTo recover: sealsync init; sealsync recover NAME %s %s\n", c->ri.store_url, rhex);
}

int cmd_recovery_key(int argc, char **argv)
{
        const struct member_device *me;
        struct member_device d;
        struct identity *rid = NULL;
        struct cli_region c;
        struct rk_args a;
        uint8_t *secret = NULL, *key = NULL, *obj = NULL;
        char *words = NULL;
        size_t len = 0;
        int rc;

        rc = rk_parse(argc, argv, &a);
        if (rc >= 0)
                return rc;
        if (!a.yes_print && !isatty(STDOUT_FILENO)) {
                log_err("recovery-key: standard output is not a terminal: not printing the "
                        "recovery words where they may be stored (a file, a log); run it in a "
                        "terminal, or add --yes-print");
                return CLI_EXIT_FAIL;
        }
        if (cli_region_open(&c, a.name, a.pass_file) != 0)
                return CLI_EXIT_FAIL;
        me = members_find(c.st, c.id->device_id);
        rc = rk_allowed(&c, me);
        secret = secmem_alloc(RECOVERY_SECRET_LEN);
        key = secmem_alloc(32);
        words = secmem_alloc(RECOVERY_WORDS_MAX);
        if (rc == 0 && (secret == NULL || key == NULL || words == NULL))
                rc = -ENOMEM;
        if (rc == 0) {
                secmem_random(secret, RECOVERY_SECRET_LEN);
                rc = recovery_words_encode(words, RECOVERY_WORDS_MAX, secret);
        }
        if (rc == 0)
                rc = recovery_identity(secret, c.ri.id, c.st->genesis_hash, &rid);
        if (rc == 0)
                rc = cli_region_key(&c, key);
        if (rc == 0) {
                member_device_of(&d, rid, me->owner, MEMBER_ROLE_RECOVERY);
                rc = rc_build_add(c.st, c.id, rid, &d, key, &obj, &len);
        }
        /* The words are shown only once the entry is on the store. */
        if (rc == 0)
                rc = membership_append(c.store, c.ri.id, obj, len);
        if (rc == 0)
                rk_print(&c, rid, words);
        free(obj);
        identity_free(rid);
        secmem_free(words);
        secmem_free(key);
        secmem_free(secret);
        cli_region_release(&c);
        return rc == 0 ? cli_finish_output() : CLI_EXIT_FAIL;
}

/* ---- recover ---- */

struct rc_ctx {
        const char *name;
        const char *url;
        const char *words_file;
        const char *pass_file;
        const char *owner;
        uint8_t role;
        const char *revoke[RC_MAX_REVOKE];
        size_t nrevoke;
        uint8_t region_id[32];
        char home[PATH_MAX];
        uint8_t *secret; /* secmem */
        struct store *store;
        struct identity *rid;     /* the recovery device, derived */
        struct members_state *st; /* the fold from the picked GENESIS */
        struct cli_pin pin;
        struct identity *id; /* this device */
};

static void rc_release(struct rc_ctx *r)
{
        identity_free(r->id);
        cli_pin_release(&r->pin);
        members_state_free(r->st);
        identity_free(r->rid);
        store_close(r->store);
        secmem_free(r->secret);
}

static int rc_parse_opt(struct rc_ctx *r, int c)
{
        switch (c) {
        case 'w':
                r->words_file = optarg;
                return 0;
        case 'p':
                r->pass_file = optarg;
                return 0;
        case 'o':
                r->owner = optarg;
                if (strlen(optarg) > MEMBER_NAME_MAX || !member_name_valid(optarg))
                        return cli_usage_error("recover", "--owner takes 1-64 printable ASCII "
                                                          "characters");
                return 0;
        case 'r':
                if (cli_role_parse(optarg, &r->role) != 0)
                        return cli_usage_error("recover", "--role is reader, writer or admin");
                return 0;
        case 'R':
                if (r->nrevoke == RC_MAX_REVOKE)
                        return cli_usage_error("recover", "too many --revoke (at most 16)");
                r->revoke[r->nrevoke++] = optarg;
                return 0;
        }
        return CLI_EXIT_USAGE;
}

static int rc_parse(int argc, char **argv, struct rc_ctx *r)
{
        static const struct option opts[] = {
            {"help", no_argument, NULL, 'h'},
            {"words-file", required_argument, NULL, 'w'},
            {"passphrase-file", required_argument, NULL, 'p'},
            {"owner", required_argument, NULL, 'o'},
            {"role", required_argument, NULL, 'r'},
            {"revoke", required_argument, NULL, 'R'},
            {NULL, 0, NULL, 0},
        };
        int c, status;

        memset(r, 0, sizeof(*r));
        r->role = MEMBER_ROLE_ADMIN;
        cli_start_options();
        while ((c = cli_next_option("recover", recover_usage, argc, argv, opts, &status)) > 0)
                if (rc_parse_opt(r, c) != 0)
                        return CLI_EXIT_USAGE;
        if (c == 0)
                return status;
        if (optind + 3 != argc)
                return cli_usage_error("recover", optind + 3 > argc
                                                      ? "missing NAME, STORE_URL or REGION_ID"
                                                      : "unexpected argument");
        r->name = argv[optind];
        r->url = argv[optind + 1];
        if (!region_name_valid(r->name))
                return cli_usage_error("recover", "invalid region NAME: use 1-64 characters of "
                                                  "A-Z, a-z, 0-9, '.', '_' and '-'");
        if (strlen(r->url) > REGION_URL_MAX)
                return cli_usage_error("recover", "STORE_URL is too long");
        if (hex_decode(r->region_id, 32, argv[optind + 2]) != 0)
                return cli_usage_error("recover", "REGION_ID must be 64 hexadecimal digits");
        return -1;
}

/* Reads and checks the words into R->secret.  0 or -errno (logged). */
static int rc_read_words(struct rc_ctx *r)
{
        char *words = NULL;
        int rc;

        rc = passphrase_get_env(&words, r->words_file, "SEALSYNC_RECOVERY_WORDS",
                                "Recovery words (24, then Enter): ", 0);
        if (rc == -ENOTTY)
                log_err("no terminal to ask for the recovery words on: use --words-file FILE");
        if (rc != 0)
                return rc;
        r->secret = secmem_alloc(RECOVERY_SECRET_LEN);
        rc = r->secret == NULL ? -ENOMEM : recovery_words_decode(r->secret, words);
        passphrase_free(words);
        if (rc == -EINVAL)
                log_err("the recovery words are not 24 words of the word list (a misspelt or "
                        "missing word): check them against what 'sealsync recovery-key' "
                        "printed; nothing was changed");
        else if (rc == -EBADMSG)
                log_err("the recovery words do not check out (their checksum is wrong): a word "
                        "is wrong or two are swapped; nothing was changed");
        return rc;
}

/*
 * cli_genesis_fn: G is the region's GENESIS if the recovery device the
 * words derive for it is an active RECOVERY member of the log folded from
 * it (a fake GENESIS cannot contain that device: making it needs the words).
 */
static int rc_match(void *ctx, const struct member_entry *g, const struct membership_objs *m)
{
        struct rc_ctx *r = ctx;
        struct members_state *st = NULL;
        struct identity *rid = NULL;
        const struct member_device *d;
        int rc;

        rc = recovery_identity(r->secret, r->region_id, g->hash, &rid);
        if (rc == 0)
                rc = members_fold(g->raw, g->raw_len, g->hash, m->objs, m->n, &st);
        if (rc != 0) {
                identity_free(rid);
                return rc == -EBADMSG ? 0 : rc;
        }
        d = members_find(st, rid->device_id);
        if (d == NULL || d->role != MEMBER_ROLE_RECOVERY) {
                members_state_free(st);
                identity_free(rid);
                return 0;
        }
        r->rid = rid;
        r->st = st;
        return 1;
}

/* Finds the region's GENESIS whose recovery device the words give.  0 or -errno (logged). */
static int rc_pin(struct rc_ctx *r)
{
        char hex[65];
        int rc;

        rc = cli_region_pin(r->store, r->region_id, rc_match, r, &r->pin);
        if (rc != 0)
                return rc;
        hex_encode(hex, r->region_id, 32);
        if (r->pin.valid == 0) {
                log_err("region %s does not exist in the store %s (no valid GENESIS): check the "
                        "region id and the store URL",
                        hex, r->url);
                return -ENOENT;
        }
        if (r->pin.g == NULL) {
                log_err("these words are not the recovery key of region %s in this store (no "
                        "active recovery device derives from them); nothing was changed",
                        hex);
                return -EKEYREJECTED;
        }
        if (r->st->alarm != MEMBERS_OK) {
                log_err("region %s: the membership log stops at a signed entry that does not "
                        "verify (%s); not changing it",
                        hex, members_alarm_name(r->st->alarm));
                return -EPERM;
        }
        if (!suite_available(r->st->suite)) {
                log_err("this CPU cannot run the region's cipher %s", suite_name(r->st->suite));
                return -ENOTSUP;
        }
        return 0;
}

/* Refolds R->st with the store's log after an append.  0 or -errno (logged). */
static int rc_refold(struct rc_ctx *r)
{
        struct members_state *st = NULL;
        struct membership_objs m;
        int rc;

        rc = membership_fetch(r->store, r->region_id, NULL, &m);
        if (rc != 0)
                return rc;
        rc = members_fold(r->pin.g->raw, r->pin.g->raw_len, r->pin.g->hash, m.objs, m.n, &st);
        membership_objs_release(&m);
        if (rc != 0) {
                log_err("cannot fold the membership log again: %s", strerror(-rc));
                return rc;
        }
        members_state_free(r->st);
        r->st = st;
        return 0;
}

/* Enrolls this device with the recovery key (unless it is a member already). */
static int rc_enroll(struct rc_ctx *r)
{
        const struct member_device *rec = members_find(r->st, r->rid->device_id);
        struct member_device d;
        uint8_t *key, *obj = NULL;
        size_t len = 0;
        int rc;

        if (members_find(r->st, r->id->device_id) != NULL)
                return 0; /* an earlier run added it */
        key = secmem_alloc(32);
        if (key == NULL)
                return -ENOMEM;
        rc = members_unlock(r->st, r->rid, key);
        if (rc != 0)
                log_err("the recovery key holds no copy of the current region key: %s",
                        strerror(-rc));
        if (rc == 0) {
                member_device_of(&d, r->id, r->owner != NULL ? r->owner : rec->owner, r->role);
                rc = rc_build_add(r->st, r->rid, r->id, &d, key, &obj, &len);
        }
        secmem_free(key);
        if (rc == 0)
                rc = membership_append(r->store, r->region_id, obj, len);
        free(obj);
        if (rc == 0)
                rc = rc_refold(r);
        return rc;
}

/* Records the region on this device, as join does (this device must open its key). */
static int rc_record_region(struct rc_ctx *r)
{
        struct region_info ri;
        uint8_t *key = secmem_alloc(32);
        int rc;

        if (key == NULL)
                return -ENOMEM;
        rc = members_unlock(r->st, r->id, key);
        secmem_free(key);
        if (rc != 0) {
                log_err("this device's ADD_DEVICE is not in the verified log, or its key does "
                        "not open: %s",
                        strerror(-rc));
                return rc;
        }
        memset(&ri, 0, sizeof(ri));
        snprintf(ri.name, sizeof(ri.name), "%s", r->name);
        snprintf(ri.store_url, sizeof(ri.store_url), "%s", r->url);
        memcpy(ri.id, r->region_id, 32);
        ri.suite = r->st->suite;
        ri.block_size = r->st->block_size;
        memcpy(ri.genesis_hash, r->st->genesis_hash, 32);
        rc = region_save_joined(r->home, &ri, r->pin.g->raw, r->pin.g->raw_len, r->st);
        if (rc != 0) {
                log_err("cannot record region %s: %s", r->name, strerror(-rc));
                return rc;
        }
        if (cli_s3_settings_save(r->home, r->name) != 0)
                log_warn("region %s is recorded, but its S3 settings were not saved: give them "
                         "in the environment",
                         r->name);
        return 0;
}

/* Removes the --revoke devices, signed by the recovery device (R->rid moves to C). */
static int rc_revoke(struct rc_ctx *r)
{
        struct cli_region c;
        size_t i;
        int rc;

        if (r->nrevoke == 0)
                return 0;
        rc = cli_region_open_as(&c, r->name, r->rid);
        r->rid = NULL;
        if (rc != 0)
                return rc;
        for (i = 0; rc == 0 && i < r->nrevoke; i++)
                rc = cli_region_revoke(&c, r->revoke[i], NULL);
        cli_region_release(&c);
        return rc;
}

static void rc_print(const struct rc_ctx *r)
{
        const struct member_device *me = members_find(r->st, r->id->device_id);
        char fpr[128], hex[65];

        if (me == NULL) {
                printf("region %s is recorded on this device, which is no active member\n",
                       r->name);
                return;
        }
        hex_encode(hex, r->region_id, 32);
        (void)cli_fingerprint(me, fpr, sizeof(fpr));
        printf("recovered region %s (%s): this device (%s) is a member as %s, owner %s, "
               "added with the recovery key\nfingerprint: %s\n",
               r->name, hex, me->name, cli_role_name(me->role), me->owner, fpr);
}

int cmd_recover(int argc, char **argv)
{
        struct rc_ctx r;
        int ret, rc, done = 0;

        ret = rc_parse(argc, argv, &r);
        if (ret >= 0)
                return ret;
        ret = cli_setup(r.home, sizeof(r.home));
        if (ret != CLI_EXIT_OK)
                return ret;
        rc = cli_region_check_new(r.home, r.name, r.region_id, &done);
        if (rc == 0)
                rc = rc_read_words(&r);
        if (rc == 0)
                rc = cli_open_region_store(r.url, r.region_id, NULL, &r.store);
        if (rc == 0)
                rc = rc_pin(&r);
        if (rc == 0)
                rc = cli_load_identity(r.home, r.pass_file, &r.id);
        if (rc == 0 && !done)
                rc = rc_enroll(&r);
        if (rc == 0 && !done)
                rc = rc_record_region(&r);
        if (rc == 0)
                rc_print(&r);
        if (rc == 0)
                rc = rc_revoke(&r);
        rc_release(&r);
        return rc == 0 ? cli_finish_output() : CLI_EXIT_FAIL;
}
