/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Enrollment subcommands: invite, join, requests, approve (doc/CLI.md,
 * protocol in keyring/enroll.h, bytes in doc/FORMAT-keyring.md
 * "Enrollment").
 *
 * The store I/O of enrollment lives above keyring/ (layering: keyring is
 * below sync): the membership log is listed, fetched and folded by
 * sync/membership.c; this file lists and fetches the join/reply objects and
 * hands the bytes to keyring/ to verify.  Every store byte is untrusted.
 *
 * Each command returns 0, 1 (one message already on stderr) or 2 (usage).
 */
#include "cli/cli_s3.h"
#include "cli/cmd.h"
#include "cli/cli.h"
#include "cli/cli_region.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "crypto/hash.h"
#include "crypto/secmem.h"
#include "crypto/suite.h"
#include "keyring/enroll.h"
#include "keyring/identity.h"
#include "keyring/member.h"
#include "keyring/members.h"
#include "keyring/region.h"
#include "sync/membership.h"
#include "sync/store.h"
#include "util/fileio.h"
#include "util/hex.h"
#include "util/log.h"

#define EN_MAX_REQUESTS 1024 /* join objects looked at per region */
#define EN_POLL_SECONDS 2
#define EN_DEFAULT_TIMEOUT 600 /* join --timeout */
#define EN_MAX_TIMEOUT (7 * 86400)
#define EN_DEFAULT_LIFETIME (24 * 3600)

static const char invite_usage[] =
    "usage: sealsync invite NAME [--role reader|writer|admin] [--owner OWNER]\n"
    "                       [--expires DURATION] [--json] [--passphrase-file FILE]\n"
    "\n"
    "Invite a new device into region NAME: a device of yours, or (--owner) of\n"
    "another user.  Prints a one-time code (13 words) and the region id to type on\n"
    "the new device ('sealsync join').  The code is single use and expires after\n"
    "DURATION (a number with s, m, h, d or w; default 24h, at most 30d).  --role: the\n"
    "new device's role (default writer).  --owner: the user it belongs to (1-64\n"
    "printable ASCII characters; default this device's owner).  Admins invite\n"
    "anyone; a writer or reader invites only its own owner's devices, with a role\n"
    "no higher than its own.  --json prints {region, region_id, store, code,\n"
    "expires, role, owner}.\n";

static const char join_usage[] =
    "usage: sealsync join NAME STORE_URL REGION_ID --code CODE [--timeout DURATION]\n"
    "                     [--passphrase-file FILE]\n"
    "\n"
    "Join region REGION_ID of the store at STORE_URL under the local name NAME,\n"
    "with the code 'sealsync invite' printed on an enrolled device.  Posts a join\n"
    "request, prints the owner and role the invitation gives and the pairing words\n"
    "(compare them with what 'sealsync requests' shows there), then waits up to\n"
    "DURATION for the approval: N seconds, or Ns, Nm, Nh, Nd, Nw (default 10m, at\n"
    "most 7d); 0 does not wait: the request is posted and join exits 0.  Run the\n"
    "same command again to keep waiting (or to finish once it was approved).\n"
    "\n"
    "      --code CODE             the 13 words 'sealsync invite' printed (one argument)\n"
    "      --timeout DURATION      how long to wait for the approval (0: do not wait)\n"
    "      --passphrase-file FILE  read the passphrase of this device's key from FILE\n"
    "  -h, --help                  show this help\n";

static const char requests_usage[] =
    "usage: sealsync requests NAME [--json] [--passphrase-file FILE]\n"
    "\n"
    "List the join requests of region NAME: device id, name, fingerprint,\n"
    "status (valid, approved, bad-mac, bad-signature, malformed, wrong-genesis,\n"
    "unknown-invite, expired, used, void), role and owner, then the pairing words\n"
    "of each valid request (the joining device shows the same words).  A request\n"
    "failing its MAC voids its invite.  --json prints an array of objects.\n";

static const char approve_usage[] =
    "usage: sealsync approve NAME DEVICE_ID [--passphrase-file FILE]\n"
    "\n"
    "Approve the valid join request of DEVICE_ID (32 hex digits, from 'sealsync\n"
    "requests'): appends an ADD_DEVICE entry with the region key wrapped to it,\n"
    "with the owner and role of the invite, answers the request and uses up the\n"
    "invite.\n";

/* ---- shared helpers ---- */

static int en_load_region(const char *home, const char *name, struct region_info *ri)
{
        int rc = cli_region_load(home, name, ri);

        if (rc == -ENOENT)
                log_err("unknown region '%s' (see 'sealsync list')", name);
        else if (rc == -EBADMSG)
                ; /* logged by region_load */
        else if (rc != 0)
                log_err("cannot read region '%s': %s", name, strerror(-rc));
        return rc;
}

static uint64_t en_now(void)
{
        time_t t = time(NULL);

        return t < 0 ? 0 : (uint64_t)t;
}

/* ---- the store (membership I/O: sync/membership.h) ---- */

static const char *en_basename(const char *key)
{
        const char *slash = strrchr(key, '/');

        return slash != NULL ? slash + 1 : key;
}

/* ---- invite ---- */

/* DURATION: digits and one unit of s, m, h, d, w (seconds without); 1 s .. 30 d. */
static int en_parse_duration(const char *s, uint64_t *out)
{
        return cli_parse_duration(s, ENROLL_MAX_LIFETIME, out);
}

struct en_invite_args {
        const char *name;
        const char *pass_file;
        const char *owner; /* NULL: this device's owner */
        uint8_t role;
        uint64_t lifetime;
        int json;
};

static int en_invite_parse(int argc, char **argv, struct en_invite_args *a)
{
        static const struct option opts[] = {
            {"role", required_argument, NULL, 'r'},
            {"owner", required_argument, NULL, 'o'},
            {"expires", required_argument, NULL, 'e'},
            {"json", no_argument, NULL, 'j'},
            {"passphrase-file", required_argument, NULL, 'p'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int c, status;

        memset(a, 0, sizeof(*a));
        a->role = MEMBER_ROLE_WRITER;
        a->lifetime = EN_DEFAULT_LIFETIME;
        cli_start_options();
        while ((c = cli_next_option("invite", invite_usage, argc, argv, opts, &status)) > 0) {
                switch (c) {
                case 'r':
                        if (strcmp(optarg, "reader") == 0)
                                a->role = MEMBER_ROLE_READER;
                        else if (strcmp(optarg, "writer") == 0)
                                a->role = MEMBER_ROLE_WRITER;
                        else if (strcmp(optarg, "admin") == 0)
                                a->role = MEMBER_ROLE_ADMIN;
                        else
                                return cli_usage_error("invite",
                                                       "--role takes reader, writer or admin");
                        break;
                case 'o':
                        if (!member_name_valid(optarg))
                                return cli_usage_error("invite", "--owner takes 1-64 printable "
                                                                 "ASCII characters, no leading or "
                                                                 "trailing space");
                        a->owner = optarg;
                        break;
                case 'e':
                        if (en_parse_duration(optarg, &a->lifetime) != 0)
                                return cli_usage_error("invite", "--expires takes a duration such "
                                                                 "as 30m, 24h or 7d (at most 30d)");
                        break;
                case 'j':
                        a->json = 1;
                        break;
                case 'p':
                        a->pass_file = optarg;
                        break;
                }
        }
        if (c == 0)
                return status;
        if (optind + 1 != argc)
                return cli_usage_error("invite", optind == argc ? "missing region NAME"
                                                                : "unexpected argument");
        a->name = argv[optind];
        return -1;
}

/*
 * Checks that ME (NULL: not a member) may enroll a device of OWNER with ROLE
 * into RI (the authority rule, members_may_add); logs why not.
 */
static int en_may_add(const struct member_device *me, const struct region_info *ri,
                      const char *owner, uint8_t role)
{
        if (me == NULL) {
                log_err("this device is not a member of region %s", ri->name);
                return -EPERM;
        }
        if (members_may_add(me, owner, role))
                return 0;
        if (me->role == MEMBER_ROLE_ADMIN || me->role == MEMBER_ROLE_RECOVERY)
                log_err("a device cannot be enrolled as %s in region %s", cli_role_name(role),
                        ri->name);
        else if (strcmp(owner, me->owner) != 0)
                log_err("this device is a %s of region %s: it may enroll only devices of its own "
                        "owner '%s', not of '%s' (ask an admin)",
                        cli_role_name(me->role), ri->name, me->owner, owner);
        else
                log_err("this device is a %s of region %s: it may not enroll a device as %s "
                        "(at most %s; ask an admin)",
                        cli_role_name(me->role), ri->name, cli_role_name(role),
                        cli_role_name(me->role));
        return -EPERM;
}

/*
 * Signs and posts the offer of invite INVITE_ID (FORMAT-keyring.md "Offer")
 * so that the new device can show the pairing words before approval.
 */
static int en_post_offer(const struct region_info *ri, const struct identity *id,
                         const uint8_t invite_id[static ENROLL_ID_LEN], uint64_t expires,
                         const char *owner, uint8_t role)
{
        struct enroll_offer f, o;
        struct store *store = NULL;
        char key[256];
        int rc;

        memset(&f, 0, sizeof(f));
        memcpy(f.region_id, ri->id, 32);
        memcpy(f.invite_id, invite_id, ENROLL_ID_LEN);
        f.expires = expires;
        memcpy(f.approver, id->device_id, IDENTITY_ID_LEN);
        f.role = role;
        snprintf(f.owner, sizeof(f.owner), "%s", owner);
        rc = enroll_offer_build(id, &f, &o);
        if (rc == 0)
                rc = enroll_offer_key(ri->id, invite_id, key, sizeof(key));
        if (rc != 0) {
                log_err("cannot build the invitation's offer: %s", strerror(-rc));
                return rc;
        }
        rc = cli_open_region_store(ri->store_url, ri->id, ri->genesis_hash, &store);
        if (rc == 0) {
                rc = store->ops->put(store, key, o.raw, o.raw_len, 1);
                if (rc != 0)
                        log_err("cannot post the invitation to the store %s (%s); the invite is "
                                "unusable (its code was not shown)",
                                ri->store_url, strerror(-rc));
        }
        store_close(store);
        return rc;
}

static void en_print_invite(const struct region_info *ri, const struct en_invite_args *a,
                            const char *owner, const char *code, uint64_t expires)
{
        char hex[65], when[64];

        hex_encode(hex, ri->id, 32);
        if (a->json) {
                cli_json_open();
                printf("\"region\":");
                cli_json_str(ri->name);
                printf(",\"region_id\":\"%s\",\"store\":", hex);
                cli_json_str(ri->store_url);
                printf(",\"code\":\"%s\",\"expires\":", code);
                cli_json_time(expires);
                printf(",\"role\":\"%s\",\"owner\":", cli_role_name(a->role));
                cli_json_str(owner);
                printf("}\n");
                return;
        }
        cli_format_time(expires, when, sizeof(when));
        printf("Invitation into region %s for a device of %s as %s (single use, expires %s).\n"
               "On the new device, after 'sealsync init', run:\n\n"
               "  sealsync join %s %s %s --code '%s'\n\n"
               "region id: %s\n"
               "code:      %s\n\n"
               "Then check its request here with 'sealsync requests %s': the pairing words\n"
               "shown there and on the new device must be the same (compare them by phone\n"
               "or in person), then run 'sealsync approve %s DEVICE_ID'.\n",
               ri->name, owner, cli_role_name(a->role), when, ri->name, ri->store_url, hex, code,
               hex, code, ri->name, ri->name);
}

int cmd_invite(int argc, char **argv)
{
        struct en_invite_args a;
        struct region_info ri;
        struct identity *id = NULL;
        struct members_state *st = NULL;
        const struct member_device *me;
        char home[PATH_MAX], code[ENROLL_CODE_MAX];
        uint8_t invite_id[ENROLL_ID_LEN];
        const char *owner;
        uint64_t now = en_now();
        int ret, rc;

        ret = en_invite_parse(argc, argv, &a);
        if (ret >= 0)
                return ret;
        ret = cli_setup(home, sizeof(home));
        if (ret != CLI_EXIT_OK)
                return ret;
        if (en_load_region(home, a.name, &ri) != 0)
                return CLI_EXIT_FAIL;
        ret = CLI_EXIT_FAIL;
        rc = region_load_members(&ri, &st);
        if (rc != 0) {
                if (rc != -EBADMSG)
                        log_err("cannot read region %s's membership: %s", ri.name, strerror(-rc));
                return CLI_EXIT_FAIL;
        }
        if (cli_load_identity(home, a.pass_file, &id) != 0)
                goto out;
        me = members_find(st, id->device_id);
        owner = a.owner != NULL ? a.owner : me != NULL ? me->owner : "";
        if (en_may_add(me, &ri, owner, a.role) != 0)
                goto out;
        rc = enroll_invite_create(ri.dir, id->local_key, ri.id, ri.genesis_hash, now,
                                  now + a.lifetime, a.role, owner, code, sizeof(code), invite_id);
        if (rc != 0) {
                log_err("cannot create the invite under %s: %s", ri.dir, strerror(-rc));
                goto out;
        }
        if (en_post_offer(&ri, id, invite_id, now + a.lifetime, owner, a.role) != 0) {
                secmem_wipe(code, sizeof(code));
                goto out;
        }
        en_print_invite(&ri, &a, owner, code, now + a.lifetime);
        secmem_wipe(code, sizeof(code));
        ret = cli_finish_output();
out:
        identity_free(id);
        members_state_free(st);
        return ret;
}

/* ---- requests (shared with approve) ---- */

/* Statuses beyond enroll_status_name's. */
#define EN_ST_MALFORMED 1
#define EN_ST_WRONG_GENESIS 2

struct en_request {
        char key[160];
        int decoded;
        struct enroll_request req;
        int status;                   /* 0 valid, EN_ST_*, or an enroll_request_check errno */
        int member;                   /* the device is an active member already */
        struct enroll_invite *invite; /* set when status is 0 */
        /* The role and owner it is to have (valid) or has (member); 0 and "" if unknown. */
        uint8_t role;
        char owner[MEMBER_NAME_MAX + 1];
        char pairing[ENROLL_PAIRING_MAX]; /* valid requests: the words to compare */
};

static const char *en_status_name(int status)
{
        switch (status) {
        case EN_ST_MALFORMED:
                return "malformed";
        case EN_ST_WRONG_GENESIS:
                return "wrong-genesis";
        default:
                return enroll_status_name(status);
        }
}

/* 1 if NAME is 32 lowercase hex digits (a nonce). */
static int en_nonce_name(const char *name, uint8_t nonce[static ENROLL_NONCE_LEN])
{
        char canon[2 * ENROLL_NONCE_LEN + 1];

        if (hex_decode(nonce, ENROLL_NONCE_LEN, name) != 0)
                return 0;
        hex_encode(canon, nonce, ENROLL_NONCE_LEN);
        return strcmp(canon, name) == 0;
}

/* The pairing words of valid request R with this device ME as approver ("?" on failure). */
static void en_request_pairing(struct en_request *r, const struct member_device *me)
{
        if (me == NULL ||
            enroll_pairing_words(r->pairing, sizeof(r->pairing), r->req.region_id, r->req.invite_id,
                                 me, &r->req.device, r->owner, r->role) != 0)
                snprintf(r->pairing, sizeof(r->pairing), "?");
}

/*
 * Fetches and judges the join object KEY of RI (ST: the folded log).
 * Returns 0 with R filled (see struct en_request), or a fatal errno.
 */
static int en_judge_request(struct store *store, const struct region_info *ri,
                            const struct members_state *st, const struct identity *id,
                            const char *key, struct en_request *r)
{
        const struct member_device *m;
        uint8_t nonce[ENROLL_NONCE_LEN];
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc;

        memset(r, 0, sizeof(*r));
        snprintf(r->key, sizeof(r->key), "%s", key);
        r->status = EN_ST_MALFORMED;
        if (!en_nonce_name(en_basename(key), nonce))
                return 0;
        rc = store->ops->get(store, key, ENROLL_REQUEST_MAX, &buf, &len);
        if (rc == -EFBIG || rc == -ENOENT)
                return 0;
        if (rc != 0) {
                log_err("cannot read %s from the store: %s", key, strerror(-rc));
                return rc;
        }
        rc = enroll_request_decode(buf, len, &r->req);
        free(buf);
        if (rc != 0 || memcmp(r->req.nonce, nonce, ENROLL_NONCE_LEN) != 0 ||
            memcmp(r->req.region_id, ri->id, 32) != 0)
                return 0;
        r->decoded = 1;
        if (enroll_request_verify(&r->req) != 0) {
                r->status = -EBADMSG;
                return 0;
        }
        if (memcmp(r->req.genesis_hash, ri->genesis_hash, MEMBER_HASH_LEN) != 0) {
                r->status = EN_ST_WRONG_GENESIS;
                return 0;
        }
        rc = enroll_request_check(ri->dir, id->local_key, &r->req, en_now(), &r->invite);
        switch (rc) {
        case 0:
        case -ENOENT:
        case -ETIME:
        case -EALREADY:
        case -ECANCELED:
        case -EKEYREJECTED:
                r->status = rc;
                break;
        case -ENOMEM:
                return rc;
        default:
                r->status = -ENOENT; /* our record is unreadable (logged): no usable invite */
        }
        /* A member already (same keys): the request has done its job. */
        m = members_find(st, r->req.device.device_id);
        r->member = m != NULL && memcmp(m->sign_pk, r->req.device.sign_pk, 32) == 0;
        if (r->status == 0) {
                r->role = r->invite->role;
                snprintf(r->owner, sizeof(r->owner), "%s", r->invite->owner);
                en_request_pairing(r, members_find(st, id->device_id));
        } else if (r->member) {
                r->role = m->role;
                snprintf(r->owner, sizeof(r->owner), "%s", m->owner);
        }
        return 0;
}

static void en_requests_release(struct en_request *v, size_t n)
{
        size_t i;

        for (i = 0; i < n; i++)
                enroll_invite_free(v[i].invite);
        free(v);
}

/* Lists and judges every join request of RI (only DEVICE's, if not NULL). */
static int en_collect_requests(struct store *store, const struct region_info *ri,
                               const struct members_state *st, const struct identity *id,
                               const uint8_t *device, struct en_request **out, size_t *n)
{
        struct membership_keys keys;
        struct en_request *v;
        size_t i, count = 0;
        int rc;

        rc = membership_list(store, ri->id, "join", EN_MAX_REQUESTS, &keys);
        if (rc != 0)
                return rc;
        if (keys.truncated)
                log_warn("more than %d join requests in the store; showing the first",
                         EN_MAX_REQUESTS);
        v = calloc(keys.n + 1, sizeof(*v));
        if (v == NULL) {
                membership_keys_release(&keys);
                return -ENOMEM;
        }
        for (i = 0; i < keys.n; i++) {
                rc = en_judge_request(store, ri, st, id, keys.v[i], &v[count]);
                if (rc != 0)
                        break;
                if (device != NULL && (!v[count].decoded || memcmp(v[count].req.device.device_id,
                                                                   device, IDENTITY_ID_LEN) != 0)) {
                        enroll_invite_free(v[count].invite);
                        continue;
                }
                count++;
        }
        membership_keys_release(&keys);
        if (rc != 0) {
                en_requests_release(v, count);
                return rc;
        }
        *out = v;
        *n = count;
        return 0;
}

struct en_ctx {
        char home[PATH_MAX];
        struct region_info ri;
        struct identity *id;
        struct store *store;
        struct members_state *st;
};

static void en_ctx_release(struct en_ctx *c)
{
        members_state_free(c->st);
        store_close(c->store);
        identity_free(c->id);
}

/* Region NAME, identity with secrets, its store and its folded log. */
static int en_ctx_open(struct en_ctx *c, const char *name, const char *pass_file)
{
        int rc;

        memset(c, 0, sizeof(*c));
        if (cli_setup(c->home, sizeof(c->home)) != CLI_EXIT_OK)
                return -1;
        if (en_load_region(c->home, name, &c->ri) != 0)
                return -1;
        rc = cli_open_region_store(c->ri.store_url, c->ri.id, c->ri.genesis_hash, &c->store);
        if (rc == 0)
                rc = cli_load_identity(c->home, pass_file, &c->id);
        if (rc == 0)
                rc = membership_refresh(c->store, &c->ri, &c->st);
        if (rc == 0 && c->st->alarm != MEMBERS_OK)
                log_warn("region %s: a signed membership entry does not verify (%s) and is "
                         "left out with its descendants; using the verified rest (see 'sealsync "
                         "log %s')",
                         c->ri.name, members_alarm_name(c->st->alarm), c->ri.name);
        if (rc == 0 && members_find(c->st, c->id->device_id) == NULL) {
                log_err("this device is not an active member of region %s", c->ri.name);
                rc = -EPERM;
        }
        if (rc != 0)
                en_ctx_release(c);
        return rc;
}

/* Below the table: the pairing words of each valid request, to compare with the new device. */
static void en_print_pairings(const struct en_request *v, size_t n)
{
        char dev[2 * IDENTITY_ID_LEN + 1];
        size_t i;

        for (i = 0; i < n; i++) {
                if (v[i].member || v[i].status != 0)
                        continue;
                hex_encode(dev, v[i].req.device.device_id, IDENTITY_ID_LEN);
                printf("\npairing words of %s (%s, %s of %s):\n  %s\n", dev, v[i].req.device.name,
                       cli_role_name(v[i].role), v[i].owner, v[i].pairing);
        }
}

static void en_print_requests(const struct en_request *v, size_t n, int json)
{
        char dev[2 * IDENTITY_ID_LEN + 1], nonce[2 * ENROLL_NONCE_LEN + 1], fpr[128];
        size_t i;

        if (json)
                putchar('[');
        else if (n > 0)
                printf("%-32s  %-20s  %-44s  %-14s  %-6s  %s\n", "DEVICE ID", "NAME", "FINGERPRINT",
                       "STATUS", "ROLE", "OWNER");
        for (i = 0; i < n; i++) {
                const struct en_request *r = &v[i];

                if (r->decoded) {
                        hex_encode(dev, r->req.device.device_id, IDENTITY_ID_LEN);
                        hex_encode(nonce, r->req.nonce, ENROLL_NONCE_LEN);
                        cli_fingerprint(&r->req.device, fpr, sizeof(fpr));
                } else {
                        snprintf(dev, sizeof(dev), "%s", "-");
                        snprintf(nonce, sizeof(nonce), "%.32s", en_basename(r->key));
                        snprintf(fpr, sizeof(fpr), "%s", "-");
                }
                if (!json) {
                        printf("%-32s  %-20s  %-44s  %-14s  %-6s  %s\n", dev,
                               r->decoded ? r->req.device.name : "-", fpr,
                               r->member ? "approved" : en_status_name(r->status),
                               r->role != 0 ? cli_role_name(r->role) : "-",
                               r->owner[0] != '\0' ? r->owner : "-");
                        continue;
                }
                if (i > 0)
                        putchar(',');
                cli_json_open();
                printf("\"device_id\":\"%s\",\"name\":", dev);
                cli_json_str(r->decoded ? r->req.device.name : "");
                printf(",\"fingerprint\":\"%s\",\"status\":\"%s\",\"nonce\":", fpr,
                       r->member ? "approved" : en_status_name(r->status));
                cli_json_str(nonce);
                fputs(",\"time\":", stdout);
                cli_json_time(r->decoded ? r->req.time : 0);
                printf(",\"role\":\"%s\",\"owner\":", r->role != 0 ? cli_role_name(r->role) : "");
                cli_json_str(r->owner);
                printf(",\"pairing\":\"%s\"}", r->pairing);
        }
        if (json)
                puts("]");
        else if (n == 0)
                printf("no join requests\n");
        else
                en_print_pairings(v, n);
}

int cmd_requests(int argc, char **argv)
{
        static const struct option opts[] = {
            {"json", no_argument, NULL, 'j'},
            {"passphrase-file", required_argument, NULL, 'p'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        const char *pass_file = NULL;
        struct en_request *v = NULL;
        struct en_ctx c;
        size_t n = 0;
        int json = 0, ret, ch;

        cli_start_options();
        while ((ch = cli_next_option("requests", requests_usage, argc, argv, opts, &ret)) > 0) {
                switch (ch) {
                case 'j':
                        json = 1;
                        break;
                case 'p':
                        pass_file = optarg;
                        break;
                }
        }
        if (ch == 0)
                return ret;
        if (optind + 1 != argc)
                return cli_usage_error("requests", optind == argc ? "missing region NAME"
                                                                  : "unexpected argument");
        if (en_ctx_open(&c, argv[optind], pass_file) != 0)
                return CLI_EXIT_FAIL;
        ret = CLI_EXIT_FAIL;
        if (en_collect_requests(c.store, &c.ri, c.st, c.id, NULL, &v, &n) == 0) {
                en_print_requests(v, n, json);
                ret = cli_finish_output();
                en_requests_release(v, n);
        }
        en_ctx_release(&c);
        return ret;
}

/* ---- approve ---- */

/* Puts OBJ at KEY; with IF_ABSENT an identical existing object is success. */
static int en_put(struct store *st, const char *key, const uint8_t *obj, size_t len, int if_absent)
{
        int rc = if_absent ? store_put_once(st, key, obj, len) : st->ops->put(st, key, obj, len, 0);

        if (rc != 0)
                log_err("cannot write %s to the store: %s", key, strerror(-rc));
        return rc;
}

/* C's current epoch key into KEY (secure memory): 0 or a negative errno (logged). */
static int en_unlock(const struct en_ctx *c, uint8_t key[static 32])
{
        int rc = members_unlock(c->st, c->id, key);

        if (rc != 0)
                log_err("region %s: cannot unlock the current epoch key (%s)", c->ri.name,
                        strerror(-rc));
        return rc;
}

/*
 * The key-history policy (FORMAT-keyring.md "Rotations"): with history=owner,
 * a device of a user who has no active device in the region yet is enrolled
 * under a fresh epoch whose ROTATE_KEY has no history link, so it gets no key
 * from before now.  Appends that rotation, refolds C->st and puts the new
 * current key into KEY (which holds the current one on entry).  Returns 1
 * (rotated), 0 (not needed) or a negative errno (logged).
 */
static int en_cut_history(struct en_ctx *c, const char *owner, uint8_t key[static 32])
{
        struct members_state *st = NULL;
        uint8_t *obj = NULL, hash[HASH_LEN];
        size_t len = 0;
        int rc;

        if (c->st->history != MEMBER_HISTORY_OWNER || members_owner_active(c->st, owner))
                return 0;
        rc = members_build_rotate(c->st, c->id, key, 0, en_now(), &obj, &len, NULL);
        if (rc != 0) {
                log_err("cannot build the ROTATE_KEY without history (region policy "
                        "history=owner): %s",
                        rc == -EPERM ? "this device may not rotate" : strerror(-rc));
                return rc;
        }
        hash_blake2b(hash, obj, len);
        rc = membership_append(c->store, c->ri.id, obj, len);
        free(obj);
        if (rc == 0)
                rc = membership_refresh(c->store, &c->ri, &st);
        if (rc != 0) {
                log_err("region %s: cannot put or re-read the ROTATE_KEY without history: %s",
                        c->ri.name, strerror(-rc));
                return rc;
        }
        members_state_free(c->st);
        c->st = st;
        /* A concurrent rotation that sorts after ours would link the old keys: refuse.
         * (Ours refused by the fold: not current either.  An older rejected entry elsewhere
         * does not matter.) */
        if (memcmp(c->st->epoch_id, hash, HASH_LEN) != 0) {
                log_err("region %s: the key changed concurrently; run 'approve' again", c->ri.name);
                return -EAGAIN;
        }
        rc = en_unlock(c, key);
        return rc == 0 ? 1 : rc;
}

/*
 * Builds the ADD_DEVICE of DEV (with R's reverse signature) on top of C->st,
 * wrapping KEY (the current epoch's) and, for a further device of an owner
 * who has one, the older keys this device holds that the owner's devices
 * reach (history wraps).  0 or a negative errno (logged).
 */
static int en_build_add(const struct en_ctx *c, const struct en_request *r,
                        const struct member_device *dev, const uint8_t key[static 32],
                        uint8_t **obj, size_t *len, struct member_entry **e)
{
        struct region_keys *keys = NULL;
        int rc = region_keys_from_state(c->id, &c->ri, c->st, &keys);

        if (rc != 0) {
                log_err("region %s: cannot unlock this device's epoch keys (%s)", c->ri.name,
                        strerror(-rc));
                return rc;
        }
        rc = members_build_add(c->st, c->id, dev, r->req.self_sig, key, keys->epochs, keys->nepochs,
                               en_now(), obj, len, e);
        region_keys_free(keys);
        if (rc != 0)
                log_err("cannot build the ADD_DEVICE entry: %s",
                        rc == -EPERM     ? "this device may not add it"
                        : rc == -EEXIST  ? "its device id or keys are already a member's"
                        : rc == -EBADMSG ? "its reverse signature does not verify"
                                         : strerror(-rc));
        return rc;
}

/*
 * Appends the ADD_DEVICE for R (a valid request) and returns its hash and
 * height; *CUT is set when the policy made a rotation without history first.
 */
static int en_append_add(struct en_ctx *c, const struct en_request *r, uint8_t add_hash[static 32],
                         uint64_t *height, int *cut)
{
        const struct member_device *me = members_find(c->st, c->id->device_id);
        struct member_entry *e = NULL;
        struct member_device dev = r->req.device;
        char key[256], hex[65], name[MEMBERS_NAME_LEN + 1];
        uint8_t *key_buf = NULL, *obj = NULL;
        size_t len = 0;
        int rc;

        /* A rejected entry (c->st->alarm, warned at the fold) is left out with its
         * descendants; the ADD is built on the verified rest, like every other change
         * (cli_region_fold): a refused entry must not stop enrollment for good. */
        snprintf(dev.owner, sizeof(dev.owner), "%s", r->invite->owner);
        dev.role = r->invite->role;
        if (en_may_add(me, &c->ri, dev.owner, dev.role) != 0)
                return -EPERM; /* this device's role changed since the invite */
        key_buf = secmem_alloc(32);
        if (key_buf == NULL)
                return -ENOMEM;
        rc = en_unlock(c, key_buf);
        if (rc != 0)
                goto out;
        rc = en_cut_history(c, dev.owner, key_buf);
        if (rc < 0)
                goto out;
        *cut = rc;
        rc = en_build_add(c, r, &dev, key_buf, &obj, &len, &e);
        if (rc != 0)
                goto out;
        hex_encode(hex, c->ri.id, 32);
        members_entry_name(e, name);
        snprintf(key, sizeof(key), "%s/members/%s", hex, name);
        rc = en_put(c->store, key, obj, len, 1);
        if (rc != 0)
                goto out;
        memcpy(add_hash, e->hash, 32);
        *height = e->height;
out:
        member_entry_free(e);
        free(obj);
        secmem_free(key_buf);
        return rc;
}

/* Picks the request to act on: a valid one, else reports why there is none (DEV_HEX NULL:
 * silently). */
static struct en_request *en_pick_request(struct en_request *v, size_t n, const char *dev_hex,
                                          const struct region_info *ri)
{
        size_t i;

        for (i = 0; i < n; i++)
                if (v[i].status == 0)
                        return &v[i];
        if (dev_hex == NULL)
                return NULL; /* just looking */
        if (n == 0) {
                log_err("no join request from device %s in region %s (see 'sealsync requests %s')",
                        dev_hex, ri->name, ri->name);
                return NULL;
        }
        switch (v[0].status) {
        case -EKEYREJECTED:
                log_err("the join request of device %s fails its MAC (not made with the invite's "
                        "code): refused, and the invite is now void; make a new invite",
                        dev_hex);
                break;
        case -ECANCELED:
                log_err("the invite of device %s's request was voided after a failed MAC: make a "
                        "new invite",
                        dev_hex);
                break;
        case -ETIME:
                log_err("the invite of device %s's request has expired: make a new invite",
                        dev_hex);
                break;
        case -EALREADY:
                log_err("the invite of device %s's request has already been used", dev_hex);
                break;
        default:
                log_err("the join request of device %s is not valid (%s)", dev_hex,
                        en_status_name(v[0].status));
        }
        return NULL;
}

static int en_approve(struct en_ctx *c, const uint8_t dev[static IDENTITY_ID_LEN],
                      const char *dev_hex)
{
        struct en_request *v = NULL, *r;
        const struct member_entry *added;
        uint8_t add_hash[32], reply[ENROLL_REPLY_LEN];
        char key[256], fpr[128];
        uint64_t height = 0;
        size_t n = 0;
        int rc, ret = CLI_EXIT_FAIL, cut = 0;

        if (en_collect_requests(c->store, &c->ri, c->st, c->id, dev, &v, &n) != 0)
                return CLI_EXIT_FAIL;
        if (members_find(c->st, dev) != NULL && (n == 0 || v[0].member) &&
            (r = en_pick_request(v, n, NULL, &c->ri)) == NULL) {
                printf("device %s is already a member of region %s\n", dev_hex, c->ri.name);
                ret = cli_finish_output();
                goto out;
        }
        r = en_pick_request(v, n, dev_hex, &c->ri);
        if (r == NULL)
                goto out;
        added = members_added_by(c->st, dev);
        if (added != NULL && added->type == MEMBER_ADD_DEVICE) {
                /* An earlier approve stopped before its reply: answer with that entry. */
                memcpy(add_hash, added->hash, 32);
                height = added->height;
        } else if (en_append_add(c, r, add_hash, &height, &cut) != 0) {
                goto out;
        }
        rc = enroll_reply_build(reply, &r->req, r->invite->secret, add_hash, height);
        if (rc == 0)
                rc = enroll_reply_key(c->ri.id, r->req.nonce, key, sizeof(key));
        if (rc != 0) {
                log_err("cannot build the reply: %s", strerror(-rc));
                goto out;
        }
        /* Ours is the only valid reply: replace whatever junk sits there. */
        if (en_put(c->store, key, reply, sizeof(reply), 0) != 0)
                goto out;
        if (enroll_invite_burn(c->ri.dir, r->invite, ENROLL_INVITE_USED) != 0)
                log_warn("cannot mark the invite used; it stays single-use: the device is a "
                         "member now");
        members_state_free(c->st);
        c->st = NULL;
        if (membership_refresh(c->store, &c->ri, &c->st) != 0)
                log_warn("cannot re-read the membership log after approving");
        cli_fingerprint(&r->req.device, fpr, sizeof(fpr));
        printf("approved device %s (%s) into region %s as %s, owner %s\nfingerprint: %s\n"
               "pairing words: %s\n",
               dev_hex, r->req.device.name, c->ri.name, cli_role_name(r->role), r->owner, fpr,
               r->pairing);
        if (cut)
                printf("%s's devices cannot read what was written before now (region policy "
                       "history=owner); run 'sealsync rekey %s' on a mounted device to "
                       "re-encrypt the current files so they can\n",
                       r->owner, c->ri.name);
        ret = cli_finish_output();
out:
        en_requests_release(v, n);
        return ret;
}

int cmd_approve(int argc, char **argv)
{
        static const struct option opts[] = {
            {"passphrase-file", required_argument, NULL, 'p'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        const char *pass_file = NULL;
        uint8_t dev[IDENTITY_ID_LEN];
        char canon[2 * IDENTITY_ID_LEN + 1];
        struct en_ctx c;
        int ret, ch;

        cli_start_options();
        while ((ch = cli_next_option("approve", approve_usage, argc, argv, opts, &ret)) > 0) {
                switch (ch) {
                case 'p':
                        pass_file = optarg;
                        break;
                }
        }
        if (ch == 0)
                return ret;
        if (optind + 2 != argc)
                return cli_usage_error("approve", optind + 2 > argc ? "missing NAME or DEVICE_ID"
                                                                    : "unexpected argument");
        if (hex_decode(dev, sizeof(dev), argv[optind + 1]) != 0)
                return cli_usage_error("approve", "DEVICE_ID must be 32 hexadecimal digits");
        hex_encode(canon, dev, sizeof(dev));
        if (en_ctx_open(&c, argv[optind], pass_file) != 0)
                return CLI_EXIT_FAIL;
        ret = en_approve(&c, dev, canon);
        en_ctx_release(&c);
        return ret;
}

/* ---- join ---- */

struct en_join {
        const char *name;
        const char *url;
        const char *code;
        const char *pass_file;
        uint8_t region_id[32];
        uint64_t timeout; /* seconds to wait for the approval; 0: do not wait */
        char home[PATH_MAX];
        struct store *store;
        struct identity *id;
        uint8_t *secret; /* secmem */
        uint16_t check;
        uint8_t *genesis; /* the pinned GENESIS's bytes */
        size_t genesis_len;
        struct member_entry *g; /* decoded */
        struct enroll_request req;
        char pending[PATH_MAX];
        struct enroll_offer offer;        /* verified: what the invite enrolls */
        struct member_device approver;    /* the offer's signer, from the verified log */
        char pairing[ENROLL_PAIRING_MAX]; /* the words to compare with the approver's */
};

static void en_join_release(struct en_join *j)
{
        member_entry_free(j->g);
        free(j->genesis);
        secmem_free(j->secret);
        identity_free(j->id);
        store_close(j->store);
}

static int en_join_parse(int argc, char **argv, struct en_join *j)
{
        static const struct option opts[] = {
            {"code", required_argument, NULL, 'c'},
            {"timeout", required_argument, NULL, 't'},
            {"passphrase-file", required_argument, NULL, 'p'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int ch, status;

        memset(j, 0, sizeof(*j));
        j->timeout = EN_DEFAULT_TIMEOUT;
        cli_start_options();
        while ((ch = cli_next_option("join", join_usage, argc, argv, opts, &status)) > 0) {
                switch (ch) {
                case 'c':
                        j->code = optarg;
                        break;
                case 't':
                        if (cli_parse_duration0(optarg, EN_MAX_TIMEOUT, &j->timeout) != 0)
                                return cli_usage_error("join", "--timeout takes a duration (e.g. "
                                                               "10m) of at most 7d, or 0");
                        break;
                case 'p':
                        j->pass_file = optarg;
                        break;
                }
        }
        if (ch == 0)
                return status;
        if (optind + 3 != argc)
                return cli_usage_error("join", optind + 3 > argc
                                                   ? "missing NAME, STORE_URL or REGION_ID"
                                                   : "unexpected argument");
        j->name = argv[optind];
        j->url = argv[optind + 1];
        if (!region_name_valid(j->name))
                return cli_usage_error("join", "invalid region NAME: use 1-64 characters of "
                                               "A-Z, a-z, 0-9, '.', '_' and '-'");
        if (strlen(j->url) > REGION_URL_MAX)
                return cli_usage_error("join", "STORE_URL is too long");
        if (hex_decode(j->region_id, 32, argv[optind + 2]) != 0)
                return cli_usage_error("join", "REGION_ID must be 64 hexadecimal digits");
        if (j->code == NULL)
                return cli_usage_error("join", "--code CODE is required (from 'sealsync invite')");
        return -1;
}

/* cli_genesis_fn: the GENESIS the code's check bits name. */
static int en_join_match(void *ctx, const struct member_entry *g, const struct membership_objs *m)
{
        const struct en_join *j = ctx;

        (void)m;
        return enroll_code_matches(j->secret, j->check, j->region_id, g->hash);
}

/*
 * Finds, among the store's valid GENESIS objects of the region, the one
 * the code's check bits name; keeps its bytes in J.
 */
static int en_join_pin(struct en_join *j)
{
        struct cli_pin pin;
        char hex[65];
        int rc;

        rc = cli_region_pin(j->store, j->region_id, en_join_match, j, &pin);
        if (rc != 0)
                return rc;
        hex_encode(hex, j->region_id, 32);
        if (pin.valid == 0) {
                log_err("region %s does not exist in the store %s (no valid GENESIS): check the "
                        "region id and the store URL",
                        hex, j->url);
                rc = -ENOENT;
        } else if (pin.g == NULL) {
                log_err("the code does not match region %s: a mistyped word, or a code for "
                        "another region; nothing was posted",
                        hex);
                rc = -EKEYREJECTED;
        } else {
                j->genesis = malloc(pin.g->raw_len);
                if (j->genesis == NULL)
                        rc = -ENOMEM;
        }
        if (rc == 0) {
                memcpy(j->genesis, pin.g->raw, pin.g->raw_len);
                j->genesis_len = pin.g->raw_len;
                j->g = pin.g;
                pin.g = NULL;
        }
        cli_pin_release(&pin);
        return rc;
}

/* Local checks before anything is posted: identity, no such region here yet. */
static int en_join_local(struct en_join *j, int *done)
{
        int rc = cli_region_check_new(j->home, j->name, j->region_id, done);

        if (rc == 0 && *done)
                printf("region %s is already joined on this device\n", j->name);
        return rc;
}

/* This device's public record (keys and name), as the pairing words take it. */
static void en_join_self(const struct en_join *j, struct member_device *d)
{
        memset(d, 0, sizeof(*d));
        memcpy(d->device_id, j->id->device_id, IDENTITY_ID_LEN);
        memcpy(d->sign_pk, j->id->sign_pk, 32);
        memcpy(d->box_pk, j->id->box_pk, 32);
        snprintf(d->name, sizeof(d->name), "%s", j->id->name);
}

/*
 * Checks the offer DECODED names the approver's device in the verified log
 * (folded from the pinned GENESIS) and carries its signature; keeps the
 * approver in J.
 */
static int en_join_check_offer(struct en_join *j)
{
        const struct member_device *m;
        struct members_state *s = NULL;
        struct membership_objs objs;
        int rc;

        rc = membership_fetch(j->store, j->region_id, NULL, &objs);
        if (rc != 0)
                return rc;
        rc = members_fold(j->genesis, j->genesis_len, j->g->hash, objs.objs, objs.n, &s);
        membership_objs_release(&objs);
        if (rc != 0)
                return rc;
        m = members_find(s, j->offer.approver);
        if (m == NULL || enroll_offer_verify(&j->offer, m) != 0)
                rc = -EBADMSG;
        else
                j->approver = *m;
        members_state_free(s);
        return rc;
}

/*
 * Fetches and verifies the invitation's offer (who invites, for which owner
 * and role) and computes the pairing words.  Nothing is posted before this.
 */
static int en_join_offer(struct en_join *j)
{
        uint8_t invite_id[ENROLL_ID_LEN], *buf = NULL;
        struct member_device self;
        size_t len = 0;
        char key[256];
        int rc;

        rc = enroll_invite_id(invite_id, j->secret, j->region_id);
        if (rc == 0)
                rc = enroll_offer_key(j->region_id, invite_id, key, sizeof(key));
        if (rc != 0)
                return rc;
        rc = j->store->ops->get(j->store, key, ENROLL_OFFER_MAX, &buf, &len);
        if (rc == -ENOENT) {
                log_err("the store holds no invitation for this code (withdrawn, or the store "
                        "is not the one the inviting device uses); nothing was posted");
                return rc;
        }
        if (rc != 0 && rc != -EFBIG) {
                log_err("cannot read %s from the store: %s", key, strerror(-rc));
                return rc;
        }
        rc = rc != 0 ? -EBADMSG : enroll_offer_decode(buf, len, &j->offer);
        free(buf);
        if (rc == 0 && (memcmp(j->offer.region_id, j->region_id, 32) != 0 ||
                        memcmp(j->offer.invite_id, invite_id, ENROLL_ID_LEN) != 0))
                rc = -EBADMSG;
        if (rc == 0)
                rc = en_join_check_offer(j);
        if (rc != 0) {
                log_err("the invitation in the store is not signed by a member of the region: "
                        "refused; nothing was posted");
                return rc;
        }
        en_join_self(j, &self);
        rc = enroll_pairing_words(j->pairing, sizeof(j->pairing), j->region_id, invite_id,
                                  &j->approver, &self, j->offer.owner, j->offer.role);
        if (rc != 0)
                log_err("cannot compute the pairing words: %s", strerror(-rc));
        return rc;
}

/* Reads the pending join of this region (nonce and invite id), if any. */
static int en_pending_load(const struct en_join *j, uint8_t nonce[static ENROLL_NONCE_LEN],
                           uint8_t invite_id[static ENROLL_ID_LEN])
{
        char text[256], n_hex[2 * ENROLL_NONCE_LEN + 1], i_hex[2 * ENROLL_ID_LEN + 1];
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc;

        rc = fileio_read_all(j->pending, sizeof(text) - 1, &buf, &len);
        if (rc != 0)
                return rc;
        memcpy(text, buf, len);
        text[len] = '\0';
        free(buf);
        if (sscanf(text, "version=1\nnonce=%32s\ninvite=%64s\n", n_hex, i_hex) != 2 ||
            hex_decode(nonce, ENROLL_NONCE_LEN, n_hex) != 0 ||
            hex_decode(invite_id, ENROLL_ID_LEN, i_hex) != 0)
                return -EBADMSG;
        return 0;
}

static int en_pending_save(const struct en_join *j)
{
        char text[256], n_hex[2 * ENROLL_NONCE_LEN + 1], i_hex[2 * ENROLL_ID_LEN + 1];
        char dir[PATH_MAX];
        int n, rc;

        hex_encode(n_hex, j->req.nonce, ENROLL_NONCE_LEN);
        hex_encode(i_hex, j->req.invite_id, ENROLL_ID_LEN);
        n = snprintf(text, sizeof(text), "version=1\nnonce=%s\ninvite=%s\n", n_hex, i_hex);
        if (snprintf(dir, sizeof(dir), "%s/joins", j->home) >= (int)sizeof(dir))
                return -ENAMETOOLONG;
        rc = fileio_mkdirs(dir, 0700);
        if (rc == 0)
                rc = fileio_write_atomic(j->pending, text, (size_t)n, 0600, 0);
        return rc;
}

/* Builds (or rebuilds, with the nonce of a pending join for the same invite) and posts the request.
 */
static int en_join_post(struct en_join *j)
{
        uint8_t nonce[ENROLL_NONCE_LEN], pend_invite[ENROLL_ID_LEN], invite_id[ENROLL_ID_LEN];
        char key[256], hex[65];
        int rc;

        hex_encode(hex, j->region_id, 32);
        if (snprintf(j->pending, sizeof(j->pending), "%s/joins/%s", j->home, hex) >=
            (int)sizeof(j->pending))
                return -ENAMETOOLONG;
        rc = enroll_invite_id(invite_id, j->secret, j->region_id);
        if (rc != 0)
                return rc;
        if (en_pending_load(j, nonce, pend_invite) != 0 ||
            memcmp(pend_invite, invite_id, ENROLL_ID_LEN) != 0)
                secmem_random(nonce, sizeof(nonce)); /* a new invite: a new request */
        rc = enroll_request_build(j->id, j->region_id, j->g->hash, j->secret, nonce, en_now(),
                                  &j->req);
        if (rc == 0)
                rc = enroll_request_key(j->region_id, nonce, key, sizeof(key));
        if (rc != 0) {
                log_err("cannot build the join request: %s", strerror(-rc));
                return rc;
        }
        rc = en_pending_save(j);
        if (rc != 0) {
                log_err("cannot record the pending join in %s: %s", j->pending, strerror(-rc));
                return rc;
        }
        /* A re-run finds its earlier request there: keep that one. */
        rc = j->store->ops->put(j->store, key, j->req.raw, j->req.raw_len, 1);
        if (rc == -EEXIST)
                rc = 0;
        if (rc != 0)
                log_err("cannot post the join request to the store: %s", strerror(-rc));
        return rc;
}

/*
 * One look for the approval.  Returns 0 with *ST (the folded log holding
 * this device's ADD_DEVICE), -EAGAIN (not yet), or a fatal errno (logged).
 */
static int en_join_poll(struct en_join *j, struct members_state **st)
{
        uint8_t add_hash[32];
        const struct member_entry *added;
        struct members_state *s = NULL;
        struct membership_objs m;
        uint64_t height = 0;
        uint8_t *buf = NULL;
        size_t len = 0;
        char key[256];
        int rc;

        rc = enroll_reply_key(j->region_id, j->req.nonce, key, sizeof(key));
        if (rc != 0)
                return rc;
        rc = j->store->ops->get(j->store, key, ENROLL_REPLY_LEN, &buf, &len);
        if (rc == -ENOENT || rc == -EAGAIN)
                return -EAGAIN;
        if (rc != 0 && rc != -EFBIG) {
                log_err("cannot read %s from the store: %s", key, strerror(-rc));
                return rc;
        }
        rc = rc == -EFBIG ? -EBADMSG
                          : enroll_reply_open(buf, len, &j->req, j->secret, add_hash, &height);
        free(buf);
        if (rc == -EKEYREJECTED) {
                log_err(
                    "the approval reply does not authenticate with this code: it was not "
                    "written by the inviting device; enrollment aborted (ask for a new invite)");
                return rc;
        }
        if (rc != 0) {
                log_err("the approval reply in the store is malformed; enrollment aborted");
                return -EBADMSG;
        }
        rc = membership_fetch(j->store, j->region_id, NULL, &m);
        if (rc != 0)
                return rc;
        rc = members_fold(j->genesis, j->genesis_len, j->g->hash, m.objs, m.n, &s);
        membership_objs_release(&m);
        if (rc != 0)
                return rc;
        added = members_added_by(s, j->id->device_id);
        if (added == NULL || memcmp(added->hash, add_hash, 32) != 0 || added->height != height) {
                members_state_free(s);
                return -EAGAIN; /* the entry may not be listed yet */
        }
        *st = s;
        return 0;
}

/* Saves the joined region (ST: the folded log with this device in it). */
static int en_join_finish(struct en_join *j, const struct members_state *st)
{
        const struct member_device *me = members_find(st, j->id->device_id);
        const struct member_entry *added = members_added_by(st, j->id->device_id);
        const struct member_device *by = members_find(st, added->author);
        struct region_info ri;
        uint8_t *key;
        char fpr[128], byfpr[128], hex[65];
        int rc;

        /* The approval must be what the offer (and the pairing words) said. */
        if (memcmp(added->author, j->offer.approver, IDENTITY_ID_LEN) != 0 ||
            me->role != j->offer.role || strcmp(me->owner, j->offer.owner) != 0) {
                log_err("the approval does not match the invitation (it enrolls this device as %s "
                        "of '%s' by another device, not as %s of '%s' by %s): refused; tell the "
                        "inviting user",
                        cli_role_name(me->role), me->owner, cli_role_name(j->offer.role),
                        j->offer.owner, j->approver.name);
                return -EPERM;
        }
        key = secmem_alloc(32);
        if (key == NULL)
                return -ENOMEM;
        rc = members_unlock(st, j->id, key);
        secmem_free(key);
        if (rc != 0) {
                log_err("the region key wrapped to this device does not open: enrollment failed");
                return rc;
        }
        memset(&ri, 0, sizeof(ri));
        snprintf(ri.name, sizeof(ri.name), "%s", j->name);
        snprintf(ri.store_url, sizeof(ri.store_url), "%s", j->url);
        memcpy(ri.id, j->region_id, 32);
        ri.suite = st->suite;
        ri.block_size = st->block_size;
        memcpy(ri.genesis_hash, st->genesis_hash, 32);
        rc = region_save_joined(j->home, &ri, j->genesis, j->genesis_len, st);
        if (rc != 0) {
                log_err(rc == -EEXIST ? "region %s already exists on this device"
                                      : "cannot record region %s",
                        j->name);
                return rc;
        }
        if (cli_s3_settings_save(j->home, j->name) != 0)
                log_warn("region %s is recorded, but its S3 settings were not saved: give them "
                         "in the environment",
                         j->name);
        unlink(j->pending);
        cli_fingerprint(me, fpr, sizeof(fpr));
        cli_fingerprint(by, byfpr, sizeof(byfpr));
        hex_encode(hex, j->region_id, 32);
        printf("\njoined region %s (%s) as %s, owner %s\nfingerprint: %s\n"
               "approved by %s (fingerprint %s)\npairing words: %s\n",
               j->name, hex, cli_role_name(me->role), me->owner, fpr, by->name, byfpr, j->pairing);
        return 0;
}

/*
 * Polls (every EN_POLL_SECONDS, up to J->timeout) for the approval and
 * finishes the join.  0 joined; 1 not approved yet with J->timeout 0 (one
 * look, no wait: the request stays posted); -ETIMEDOUT or another negative
 * errno (logged).
 */
static int en_join_wait(struct en_join *j)
{
        struct members_state *st = NULL;
        uint64_t deadline = en_now() + j->timeout;
        int tty = isatty(STDERR_FILENO), dots = 0, rc;

        for (;;) {
                rc = en_join_poll(j, &st);
                if (rc != -EAGAIN)
                        break;
                if (j->timeout == 0) {
                        printf("not waiting for the approval (--timeout 0); the request stays "
                               "posted: run the same command again to finish the join once it "
                               "is approved\n");
                        return 1;
                }
                if (en_now() >= deadline) {
                        if (dots)
                                fputc('\n', stderr);
                        log_err("not approved within %" PRIu64 " s; the request stays posted: run "
                                "the same command again to keep waiting",
                                j->timeout);
                        return -ETIMEDOUT;
                }
                if (tty) {
                        fputc('.', stderr);
                        fflush(stderr);
                        dots = 1;
                }
                sleep(EN_POLL_SECONDS);
        }
        if (dots)
                fputc('\n', stderr);
        if (rc == -EKEYREJECTED || rc == -EBADMSG)
                unlink(j->pending); /* the first MAC failure ends this attempt */
        if (rc != 0)
                return rc;
        rc = en_join_finish(j, st);
        members_state_free(st);
        return rc;
}

int cmd_join(int argc, char **argv)
{
        struct en_join j;
        char fpr[128], dev[2 * IDENTITY_ID_LEN + 1];
        int ret, rc, done = 0;

        ret = en_join_parse(argc, argv, &j);
        if (ret >= 0)
                return ret;
        ret = cli_setup(j.home, sizeof(j.home));
        if (ret != CLI_EXIT_OK)
                return ret;
        ret = CLI_EXIT_FAIL;
        rc = en_join_local(&j, &done);
        if (rc != 0 || done)
                return rc == 0 ? cli_finish_output() : CLI_EXIT_FAIL;
        j.secret = secmem_alloc(ENROLL_SECRET_LEN);
        if (j.secret == NULL) {
                log_err("out of secure memory");
                return CLI_EXIT_FAIL;
        }
        if (enroll_code_decode(j.secret, &j.check, j.code) != 0) {
                log_err("the code is not 13 words of the word list: check it against the one "
                        "'sealsync invite' printed");
                goto out;
        }
        rc = cli_open_region_store(j.url, j.region_id, NULL, &j.store);
        if (rc == -EINVAL) {
                ret = CLI_EXIT_USAGE;
                goto out;
        }
        if (rc != 0 || en_join_pin(&j) != 0)
                goto out;
        if (!suite_available(j.g->genesis.suite)) {
                log_err("this CPU cannot run the region's cipher %s: it cannot join",
                        suite_name(j.g->genesis.suite));
                goto out;
        }
        if (cli_load_identity(j.home, j.pass_file, &j.id) != 0 || en_join_offer(&j) != 0 ||
            en_join_post(&j) != 0)
                goto out;
        hex_encode(dev, j.id->device_id, IDENTITY_ID_LEN);
        if (identity_fingerprint(j.id->sign_pk, j.id->box_pk, fpr, sizeof(fpr)) != 0)
                snprintf(fpr, sizeof(fpr), "?");
        printf("join request posted for region %s\ndevice id:   %s\nname:        %s\n"
               "fingerprint: %s\n"
               "invited by %s as %s, owner %s\npairing words: %s\n"
               "Compare these pairing words with the ones 'sealsync requests' shows on the\n"
               "inviting device (by phone or in person); only if they are the same, approve\n"
               "it there.%s\n",
               j.name, dev, j.id->name, fpr, j.approver.name, cli_role_name(j.offer.role),
               j.offer.owner, j.pairing, j.timeout > 0 ? "  Waiting for the approval..." : "");
        fflush(stdout);
        if (en_join_wait(&j) < 0)
                goto out;
        ret = cli_finish_output();
out:
        en_join_release(&j);
        return ret;
}
