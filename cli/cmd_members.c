/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Membership subcommands: members, log (doc/CLI.md).
 *
 * Both show the verified membership log of a region: the pinned GENESIS
 * folded with the local cache and, when the store answers, the store's
 * objects (sync/membership.c); with the store unreachable, the local cache
 * alone, and the output says so.  Neither needs the passphrase: the log is
 * signed public data.
 *
 * Anything that did not verify makes the exit status 1, after the output:
 * a fold stopped by an alarm (members_alarm_name), a junk object on the
 * store, or an entry of the local cache (members/) whose bytes no longer
 * verify ("bad-cache-entry": this device wrote only entries it verified, so
 * a cache entry that fails was altered on this machine).
 */
#include "cli/cli_s3.h"
#include "cli/cmd.h"
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyring/identity.h"
#include "keyring/member.h"
#include "keyring/members.h"
#include "keyring/region.h"
#include "sync/membership.h"
#include "sync/store.h"
#include "util/hex.h"
#include "util/log.h"

#define MB_HASH_PREFIX 12 /* hex digits of an entry hash shown in text */
#define MB_CACHE_ALARM "bad-cache-entry"

static const char members_usage[] =
    "usage: sealsync members NAME [--json]\n"
    "\n"
    "List the verified members of region NAME: device id, name, owner, role,\n"
    "fingerprint, and who added it at which height; '*' marks this device.  The\n"
    "log is folded with the store's when it answers, else from the local cache\n"
    "(the output says which).  Exit 1 if anything did not verify (the alarm is\n"
    "named).  No passphrase needed.  --json prints one object.\n";

static const char log_usage[] =
    "usage: sealsync log NAME [--json]\n"
    "\n"
    "Print the verified membership and key history of region NAME, oldest first:\n"
    "height, hash, kind, author, time, the device added and its role, epoch\n"
    "changes.  Objects that did not verify are listed at the end with the alarm,\n"
    "and the exit status is then 1.  No passphrase needed.  --json prints one\n"
    "object.\n";

/* What both commands show. */
struct mb_view {
        char home[PATH_MAX];
        struct region_info ri;
        struct identity *id;         /* public part only */
        struct members_state *local; /* the pinned GENESIS + the local cache */
        struct members_state *st;    /* what is shown: refreshed, else LOCAL */
        int from_store;              /* ST was folded with the store's objects */
        char store_error[128];       /* why not, when !FROM_STORE */
};

static void mb_view_release(struct mb_view *v)
{
        if (v->st != v->local)
                members_state_free(v->st);
        members_state_free(v->local);
        identity_free(v->id);
}

static int mb_parse(const char *cmd, const char *usage, int argc, char **argv, int *json,
                    const char **name)
{
        static const struct option opts[] = {
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int c, status;

        cli_start_options();
        while ((c = cli_next_option(cmd, usage, argc, argv, opts, &status)) > 0)
                *json = 1; /* 'j', the only other option */
        if (c == 0)
                return status;
        if (optind + 1 != argc)
                return cli_usage_error(cmd, optind == argc ? "missing region NAME"
                                                           : "unexpected argument");
        *name = argv[optind];
        return -1;
}

/* Folds with the store into V->st; on a store failure leaves V->st NULL and says why. */
static int mb_refresh(struct mb_view *v)
{
        struct store *store = NULL;
        int rc;

        rc = store_open(v->ri.store_url, &store);
        if (rc == 0)
                rc = store_check(store, v->ri.id, v->ri.genesis_hash);
        if (rc == 0)
                rc = membership_refresh(store, &v->ri, &v->st);
        store_close(store);
        if (rc == -ENOMEM || rc == -EBADMSG)
                return rc; /* not the store's fault: fatal (logged) */
        if (rc != 0) {
                snprintf(v->store_error, sizeof(v->store_error), "%s",
                         rc == -ENOMEDIUM ? "store-missing" : strerror(-rc));
                log_warn("region %s: the store does not answer (%s); showing the local "
                         "membership cache",
                         v->ri.name, v->store_error);
                v->st = v->local;
                return 0;
        }
        v->from_store = 1;
        return 0;
}

/* Region NAME's identity, local fold and refreshed fold.  0, or -1 (logged). */
static int mb_view_open(struct mb_view *v, const char *name)
{
        int rc;

        memset(v, 0, sizeof(*v));
        if (cli_setup(v->home, sizeof(v->home)) != CLI_EXIT_OK)
                return -1;
        rc = identity_load_public(v->home, &v->id);
        if (rc != 0) {
                cli_identity_error(rc, v->home);
                return -1;
        }
        rc = cli_region_load(v->home, name, &v->ri);
        if (rc == -ENOENT)
                log_err("unknown region '%s' (see 'sealsync list')", name);
        else if (rc != 0 && rc != -EBADMSG) /* -EBADMSG: logged by region_load */
                log_err("cannot read region '%s': %s", name, strerror(-rc));
        if (rc == 0)
                rc = region_load_members(&v->ri, &v->local);
        if (rc == 0)
                rc = mb_refresh(v);
        if (rc != 0) {
                mb_view_release(v);
                return -1;
        }
        return 0;
}

/* 1 if the local cache holds bytes that do not verify (its own alarm). */
static int mb_cache_bad(const struct mb_view *v)
{
        return v->local->nskipped > 0 ||
               (v->st != v->local && v->local->alarm != MEMBERS_OK && v->st->alarm == MEMBERS_OK);
}

/* 1 if anything did not verify. */
static int mb_problem(const struct mb_view *v)
{
        return v->st->alarm != MEMBERS_OK || v->st->nskipped > 0 || mb_cache_bad(v);
}

/* One message per problem, on stderr, after the output. */
static void mb_report(const struct mb_view *v)
{
        char hex[2 * MEMBER_HASH_LEN + 1];

        if (v->st->alarm != MEMBERS_OK) {
                hex_encode(hex, v->st->alarm_hash, MEMBER_HASH_LEN);
                log_err("region %s: ALARM %s: the membership log stops at entry %s, which is "
                        "validly signed but does not verify; shown is the state before it",
                        v->ri.name, members_alarm_name(v->st->alarm), hex);
        }
        if (mb_cache_bad(v))
                log_err(
                    "region %s: ALARM %s: %zu entr%s of the local membership cache (%s/members/) "
                    "do%s not verify: altered on this machine",
                    v->ri.name, MB_CACHE_ALARM, v->local->nskipped,
                    v->local->nskipped == 1 ? "y" : "ies", v->ri.dir,
                    v->local->nskipped == 1 ? "es" : "");
        if (v->st != v->local && v->st->nskipped > 0)
                log_err("region %s: ALARM junk: %zu object%s of the store's membership log do%s "
                        "not verify (skipped)",
                        v->ri.name, v->st->nskipped, v->st->nskipped == 1 ? "" : "s",
                        v->st->nskipped == 1 ? "es" : "");
}

static const char *mb_source(const struct mb_view *v)
{
        return v->from_store ? "store" : "cache";
}

/* The name of active member DEVICE_ID, or "?" (no longer a member). */
static const char *mb_device_name(const struct mb_view *v,
                                  const uint8_t device_id[static IDENTITY_ID_LEN])
{
        const struct member_device *d = members_find(v->st, device_id);
        const struct members_removed *r = members_find_removed(v->st, device_id);

        return d != NULL ? d->name : r != NULL ? r->device.name : "?";
}

/* ,"alarm":...,"cache_alarm":...,"skipped":[...] of both JSON outputs. */
static void mb_json_problems(const struct mb_view *v)
{
        char hex[2 * MEMBER_HASH_LEN + 1];
        size_t i;

        fputs(",\"alarm\":", stdout);
        if (v->st->alarm != MEMBERS_OK) {
                hex_encode(hex, v->st->alarm_hash, MEMBER_HASH_LEN);
                printf("\"%s\",\"alarm_entry\":\"%s\"", members_alarm_name(v->st->alarm), hex);
        } else {
                fputs("null,\"alarm_entry\":null", stdout);
        }
        printf(",\"cache_alarm\":%s", mb_cache_bad(v) ? "\"" MB_CACHE_ALARM "\"" : "null");
        fputs(",\"unverified\":[", stdout);
        for (i = 0; i < v->local->nskips; i++) {
                printf("%s{\"where\":\"cache\",\"name\":", i > 0 ? "," : "");
                cli_json_str(v->local->skips[i].name);
                fputs(",\"why\":", stdout);
                cli_json_str(v->local->skips[i].why);
                putchar('}');
        }
        for (i = 0; v->st != v->local && i < v->st->nskips; i++) {
                printf("%s{\"where\":\"store\",\"name\":",
                       i > 0 || v->local->nskips > 0 ? "," : "");
                cli_json_str(v->st->skips[i].name);
                fputs(",\"why\":", stdout);
                cli_json_str(v->st->skips[i].why);
                putchar('}');
        }
        putchar(']');
}

/* ,"region":..,"region_id":..,"source":..,"store_error":..,"height":.. */
static void mb_json_head(const struct mb_view *v)
{
        char rid[2 * REGION_ID_LEN + 1];

        hex_encode(rid, v->ri.id, REGION_ID_LEN);
        cli_json_open();
        fputs("\"region\":", stdout);
        cli_json_str(v->ri.name);
        printf(",\"region_id\":\"%s\",\"source\":\"%s\",\"store_error\":", rid, mb_source(v));
        if (v->from_store)
                fputs("null", stdout);
        else
                cli_json_str(v->store_error);
        printf(",\"height\":%llu", (unsigned long long)v->st->height);
}

/* ---- members ---- */

static void mb_member_json(const struct mb_view *v, size_t i)
{
        const struct member_device *d = &v->st->members[i];
        const struct member_entry *e = v->st->entries[v->st->added_by[i]];
        char dev[2 * IDENTITY_ID_LEN + 1], by[2 * IDENTITY_ID_LEN + 1];
        char hash[2 * MEMBER_HASH_LEN + 1], fpr[128];

        hex_encode(dev, d->device_id, IDENTITY_ID_LEN);
        hex_encode(by, e->author, IDENTITY_ID_LEN);
        hex_encode(hash, e->hash, MEMBER_HASH_LEN);
        cli_fingerprint(d, fpr, sizeof(fpr));
        printf("%s{\"device_id\":\"%s\",\"name\":", i > 0 ? "," : "", dev);
        cli_json_str(d->name);
        fputs(",\"owner\":", stdout);
        cli_json_str(d->owner);
        printf(",\"role\":\"%s\",\"fingerprint\":\"%s\",\"this_device\":%s,\"added_by\":\"%s\","
               "\"added_by_name\":",
               cli_role_name(d->role), fpr,
               memcmp(d->device_id, v->id->device_id, IDENTITY_ID_LEN) == 0 ? "true" : "false", by);
        cli_json_str(mb_device_name(v, e->author));
        printf(",\"added_height\":%llu,\"added_entry\":\"%s\",\"added_time\":",
               (unsigned long long)e->height, hash);
        cli_json_time(e->time);
        putchar('}');
}

static void mb_member_text(const struct mb_view *v, size_t i)
{
        const struct member_device *d = &v->st->members[i];
        const struct member_entry *e = v->st->entries[v->st->added_by[i]];
        char dev[2 * IDENTITY_ID_LEN + 1], by[2 * IDENTITY_ID_LEN + 1], fpr[128];
        int me = memcmp(d->device_id, v->id->device_id, IDENTITY_ID_LEN) == 0;

        hex_encode(dev, d->device_id, IDENTITY_ID_LEN);
        hex_encode(by, e->author, IDENTITY_ID_LEN);
        cli_fingerprint(d, fpr, sizeof(fpr));
        printf("%s %s  %s%s\n", me ? "*" : " ", dev, d->name, me ? "  (this device)" : "");
        printf("    owner %s, role %s\n    fingerprint: %s\n", d->owner, cli_role_name(d->role),
               fpr);
        printf("    added by %s (%s) at height %llu%s\n", mb_device_name(v, e->author), by,
               (unsigned long long)e->height, e->type == MEMBER_GENESIS ? " (GENESIS)" : "");
}

/* A removed device: id, name, owner, by whom, its cutoff. */
static void mb_removed_out(const struct mb_view *v, size_t i, int json)
{
        const struct members_removed *r = &v->st->removed[i];
        const struct member_entry *e = v->st->entries[r->by];
        char dev[2 * IDENTITY_ID_LEN + 1], by[2 * IDENTITY_ID_LEN + 1];
        int me = memcmp(r->device.device_id, v->id->device_id, IDENTITY_ID_LEN) == 0;

        hex_encode(dev, r->device.device_id, IDENTITY_ID_LEN);
        hex_encode(by, e->author, IDENTITY_ID_LEN);
        if (!json) {
                printf("%s %s  %s (owner %s) removed by %s at height %llu; journal cutoff seq "
                       "%llu%s\n",
                       me ? "*" : " ", dev, r->device.name, r->device.owner,
                       mb_device_name(v, e->author), (unsigned long long)e->height,
                       (unsigned long long)r->cutoff_seq, me ? "  (this device)" : "");
                return;
        }
        printf("%s{\"device_id\":\"%s\",\"name\":", i > 0 ? "," : "", dev);
        cli_json_str(r->device.name);
        fputs(",\"owner\":", stdout);
        cli_json_str(r->device.owner);
        printf(",\"this_device\":%s,\"removed_by\":\"%s\",\"removed_height\":%llu,"
               "\"cutoff\":%llu}",
               me ? "true" : "false", by, (unsigned long long)e->height,
               (unsigned long long)r->cutoff_seq);
}

static void mb_members_print(const struct mb_view *v, int json)
{
        size_t i;

        if (json) {
                mb_json_head(v);
                fputs(",\"devices\":[", stdout);
                for (i = 0; i < v->st->nmembers; i++)
                        mb_member_json(v, i);
                fputs("],\"removed\":[", stdout);
                for (i = 0; i < v->st->nremoved; i++)
                        mb_removed_out(v, i, 1);
                printf("],\"needs_rotate\":%s", v->st->needs_rotate ? "true" : "false");
                mb_json_problems(v);
                puts("}");
                return;
        }
        printf("region %s: %zu device%s, membership log height %llu, verified from the %s\n",
               v->ri.name, v->st->nmembers, v->st->nmembers == 1 ? "" : "s",
               (unsigned long long)v->st->height,
               v->from_store ? "store and the local cache"
                             : "local cache only (store unreachable)");
        for (i = 0; i < v->st->nmembers; i++)
                mb_member_text(v, i);
        if (v->st->nremoved > 0)
                printf("removed:\n");
        for (i = 0; i < v->st->nremoved; i++)
                mb_removed_out(v, i, 0);
        if (v->st->needs_rotate)
                printf("note: a device holds no key of the current epoch; the next rotation "
                       "(by an admin: 'sealsync rotate %s') includes it\n",
                       v->ri.name);
}

/* members and log: parse, fold, print with PRINT, report what did not verify. */
static int mb_run(const char *cmd, const char *usage, int argc, char **argv,
                  void (*print)(const struct mb_view *v, int json))
{
        const char *name = NULL;
        struct mb_view v;
        int json = 0, ret;

        ret = mb_parse(cmd, usage, argc, argv, &json, &name);
        if (ret >= 0)
                return ret;
        if (mb_view_open(&v, name) != 0)
                return CLI_EXIT_FAIL;
        print(&v, json);
        ret = cli_finish_output();
        if (mb_problem(&v)) {
                mb_report(&v);
                ret = CLI_EXIT_FAIL;
        }
        mb_view_release(&v);
        return ret;
}

int cmd_members(int argc, char **argv)
{
        return mb_run("members", members_usage, argc, argv, mb_members_print);
}

/* ---- log ---- */

static const char *mb_kind(uint8_t type)
{
        switch (type) {
        case MEMBER_GENESIS:
                return "GENESIS";
        case MEMBER_ADD_DEVICE:
                return "ADD_DEVICE";
        case MEMBER_REMOVE_DEVICE:
                return "REMOVE_DEVICE";
        case MEMBER_ROTATE_KEY:
                return "ROTATE_KEY";
        case MEMBER_SET_ROLE:
                return "SET_ROLE";
        case MEMBER_POLICY:
                return "POLICY";
        }
        return "UNKNOWN";
}

/*
 * The devices entry E brings in (GENESIS: its members; ADD_DEVICE: the new
 * one) into *V (points into E or ADD) and *N, and the epoch E's keys belong to.
 * Applied entries decode (the fold checked them); -EBADMSG otherwise.
 */
static int mb_subjects(const struct member_entry *e, struct member_add *add,
                       const struct member_device **v, size_t *n, uint8_t epoch[static 32])
{
        if (e->type == MEMBER_GENESIS) {
                *v = e->genesis.members;
                *n = e->genesis.nmembers;
                memcpy(epoch, e->hash, MEMBER_HASH_LEN); /* GENESIS's epoch id = its hash */
                return 0;
        }
        if (e->type != MEMBER_ADD_DEVICE || member_decode_add(e->body, e->body_len, add) != 0)
                return -EBADMSG;
        /* Only the count of history wraps is shown. */
        free(add->hist);
        add->hist = NULL;
        *v = &add->device;
        *n = 1;
        memcpy(epoch, add->epoch_id, MEMBER_HASH_LEN);
        return 0;
}

/* What an entry of the other types changes (the fold checked that its body decodes). */
struct mb_change {
        int has_device; /* REMOVE_DEVICE, SET_ROLE */
        uint8_t device[IDENTITY_ID_LEN];
        uint8_t role;         /* SET_ROLE */
        int has_cutoff;       /* REMOVE_DEVICE */
        uint64_t cutoff;      /* its journal cutoff */
        int new_epoch;        /* REMOVE_DEVICE, ROTATE_KEY */
        size_t nwraps;        /* recipients of the new key */
        int has_link;         /* the previous key is linked to the new one */
        int has_policy;       /* POLICY */
        uint64_t max_key_age; /* seconds, 0 = off */
        uint8_t history;      /* enum member_history */
};

static int mb_change_of(const struct member_entry *e, struct mb_change *c)
{
        struct member_rotation rot;
        struct member_remove rm;
        struct member_set_role sr;
        struct member_policy po;

        memset(c, 0, sizeof(*c));
        switch (e->type) {
        case MEMBER_REMOVE_DEVICE:
                if (member_decode_remove(e->body, e->body_len, &rm) != 0)
                        return -EBADMSG;
                memcpy(c->device, rm.device_id, IDENTITY_ID_LEN);
                c->has_device = c->has_cutoff = c->new_epoch = 1;
                c->cutoff = rm.cutoff_seq;
                c->nwraps = rm.rot.nwraps;
                c->has_link = rm.rot.has_link;
                member_rotation_release(&rm.rot);
                return 0;
        case MEMBER_ROTATE_KEY:
                if (member_decode_rotation(e->body, e->body_len, &rot) != 0)
                        return -EBADMSG;
                c->new_epoch = 1;
                c->nwraps = rot.nwraps;
                c->has_link = rot.has_link;
                member_rotation_release(&rot);
                return 0;
        case MEMBER_SET_ROLE:
                if (member_decode_set_role(e->body, e->body_len, &sr) != 0)
                        return -EBADMSG;
                memcpy(c->device, sr.device_id, IDENTITY_ID_LEN);
                c->has_device = 1;
                c->role = sr.role;
                c->has_cutoff = sr.has_journal; /* R5: a demotion's cutoff, a promotion's resume */
                c->cutoff = sr.journal_seq;
                return 0;
        case MEMBER_POLICY:
                if (member_decode_policy(e->body, e->body_len, &po) != 0)
                        return -EBADMSG;
                c->has_policy = 1;
                c->max_key_age = po.max_key_age;
                c->history = po.history;
                return 0;
        }
        return -EBADMSG;
}

/* 1 if SET_ROLE E's journal mark is a promotion's resume (R5), 0 a demotion's cutoff. */
static int mb_is_resume(const struct member_entry *e, const struct mb_change *c)
{
        return e->type == MEMBER_SET_ROLE && c->role != MEMBER_ROLE_READER;
}

/* ,"device":...,"role":...,"cutoff":...,"wraps":...,"link":...,"max_key_age":...,"history":...,
 * "void":... */
static void mb_change_json(const struct mb_view *v, size_t idx)
{
        struct mb_change c;
        char dev[2 * IDENTITY_ID_LEN + 1];

        if (mb_change_of(v->st->entries[idx], &c) == 0) {
                if (c.has_device) {
                        hex_encode(dev, c.device, IDENTITY_ID_LEN);
                        printf(",\"device\":\"%s\",\"device_name\":", dev);
                        cli_json_str(mb_device_name(v, c.device));
                }
                if (v->st->entries[idx]->type == MEMBER_SET_ROLE)
                        printf(",\"role\":\"%s\"", cli_role_name(c.role));
                if (c.has_cutoff)
                        printf(",\"%s\":%llu",
                               mb_is_resume(v->st->entries[idx], &c) ? "resume" : "cutoff",
                               (unsigned long long)c.cutoff);
                if (c.new_epoch)
                        printf(",\"wraps\":%zu,\"link\":%s", c.nwraps,
                               c.has_link ? "true" : "false");
                if (c.has_policy)
                        printf(",\"max_key_age\":%llu,\"history\":\"%s\"",
                               (unsigned long long)c.max_key_age, cli_history_name(c.history));
        }
        printf(",\"void\":%s", v->st->voided[idx] ? "true" : "false");
}

static void mb_change_text(const struct mb_view *v, size_t idx)
{
        const struct member_entry *e = v->st->entries[idx];
        char dev[2 * IDENTITY_ID_LEN + 1], hash[2 * MEMBER_HASH_LEN + 1];
        struct mb_change c;

        if (v->st->voided[idx]) {
                printf("    VOID: its author was removed by an entry it had not seen; no effect\n");
                return;
        }
        if (mb_change_of(e, &c) != 0) {
                printf("    (body not shown)\n");
                return;
        }
        hex_encode(dev, c.device, IDENTITY_ID_LEN);
        hex_encode(hash, e->hash, MEMBER_HASH_LEN);
        if (e->type == MEMBER_REMOVE_DEVICE)
                printf("    removes %s (%s); its journal entries after seq %llu are refused\n",
                       mb_device_name(v, c.device), dev, (unsigned long long)c.cutoff);
        if (e->type == MEMBER_SET_ROLE)
                printf("    sets the role of %s (%s) to %s\n", mb_device_name(v, c.device), dev,
                       cli_role_name(c.role));
        if (e->type == MEMBER_SET_ROLE && c.has_cutoff && !mb_is_resume(e, &c))
                printf("    its journal entries after seq %llu are refused (the demotion's "
                       "cutoff)\n",
                       (unsigned long long)c.cutoff);
        else if (e->type == MEMBER_SET_ROLE && c.has_cutoff)
                printf("    its journal entries up to seq %llu stay void; later ones count "
                       "(resume)\n",
                       (unsigned long long)c.cutoff);
        if (c.new_epoch)
                printf("    new epoch %.*s, its key wrapped to %zu device%s, %s\n", MB_HASH_PREFIX,
                       hash, c.nwraps, c.nwraps == 1 ? "" : "s",
                       c.has_link ? "the previous key linked to it"
                                  : "NO link to the previous key (history stops here)");
        if (c.has_policy && c.max_key_age == 0)
                printf("    policy: max_key_age off, history %s\n", cli_history_name(c.history));
        else if (c.has_policy)
                printf("    policy: max_key_age %llu s, history %s\n",
                       (unsigned long long)c.max_key_age, cli_history_name(c.history));
}

static void mb_entry_json(const struct mb_view *v, size_t idx)
{
        const struct member_entry *e = v->st->entries[idx];
        const struct member_device *subj = NULL;
        struct member_add add;
        char hash[2 * MEMBER_HASH_LEN + 1], author[2 * IDENTITY_ID_LEN + 1];
        char dev[2 * IDENTITY_ID_LEN + 1];
        uint8_t epoch[MEMBER_HASH_LEN];
        size_t n = 0, i;

        hex_encode(hash, e->hash, MEMBER_HASH_LEN);
        hex_encode(author, e->author, IDENTITY_ID_LEN);
        printf("%s{\"height\":%llu,\"hash\":\"%s\",\"kind\":\"%s\",\"author\":\"%s\","
               "\"author_name\":",
               idx > 0 ? "," : "", (unsigned long long)e->height, hash, mb_kind(e->type), author);
        cli_json_str(mb_device_name(v, e->author));
        fputs(",\"time\":", stdout);
        cli_json_time(e->time);
        fputs(",\"parents\":[", stdout);
        for (i = 0; i < e->nparents; i++) {
                hex_encode(hash, e->parents[i], MEMBER_HASH_LEN);
                printf("%s\"%s\"", i > 0 ? "," : "", hash);
        }
        fputs("],\"subjects\":[", stdout);
        if (mb_subjects(e, &add, &subj, &n, epoch) != 0)
                n = 0;
        for (i = 0; i < n; i++) {
                hex_encode(dev, subj[i].device_id, IDENTITY_ID_LEN);
                printf("%s{\"device_id\":\"%s\",\"name\":", i > 0 ? "," : "", dev);
                cli_json_str(subj[i].name);
                fputs(",\"owner\":", stdout);
                cli_json_str(subj[i].owner);
                printf(",\"role\":\"%s\"}", cli_role_name(subj[i].role));
        }
        if (n == 0 && (e->type == MEMBER_ROTATE_KEY || e->type == MEMBER_REMOVE_DEVICE))
                memcpy(epoch, e->hash, MEMBER_HASH_LEN); /* a rotation's epoch id = its hash */
        hex_encode(hash, epoch, MEMBER_HASH_LEN);
        printf("],\"epoch\":\"%s\",\"new_epoch\":%s",
               n > 0 || e->type == MEMBER_ROTATE_KEY || e->type == MEMBER_REMOVE_DEVICE ? hash : "",
               e->type == MEMBER_GENESIS || e->type == MEMBER_ROTATE_KEY ||
                       e->type == MEMBER_REMOVE_DEVICE
                   ? "true"
                   : "false");
        mb_change_json(v, idx);
        putchar('}');
}

static void mb_entry_text(const struct mb_view *v, size_t idx)
{
        const struct member_entry *e = v->st->entries[idx];
        const struct member_device *subj = NULL;
        struct member_add add;
        char hash[2 * MEMBER_HASH_LEN + 1], author[2 * IDENTITY_ID_LEN + 1];
        char dev[2 * IDENTITY_ID_LEN + 1], when[64], fpr[128];
        uint8_t epoch[MEMBER_HASH_LEN];
        size_t n = 0, i;

        hex_encode(hash, e->hash, MEMBER_HASH_LEN);
        hex_encode(author, e->author, IDENTITY_ID_LEN);
        if (e->time != 0)
                cli_format_time(e->time, when, sizeof(when));
        else
                snprintf(when, sizeof(when), "no time");
        printf("%llu  %.*s  %-10s by %s (%s), %s\n", (unsigned long long)e->height, MB_HASH_PREFIX,
               hash, mb_kind(e->type), mb_device_name(v, e->author), author, when);
        if (v->st->voided[idx] || mb_subjects(e, &add, &subj, &n, epoch) != 0) {
                mb_change_text(v, idx);
                return;
        }
        for (i = 0; i < n; i++) {
                hex_encode(dev, subj[i].device_id, IDENTITY_ID_LEN);
                cli_fingerprint(&subj[i], fpr, sizeof(fpr));
                printf("    %s %s (%s), owner %s, role %s, fingerprint %s\n",
                       e->type == MEMBER_GENESIS ? "member" : "adds", subj[i].name, dev,
                       subj[i].owner, cli_role_name(subj[i].role), fpr);
        }
        hex_encode(hash, epoch, MEMBER_HASH_LEN);
        if (e->type == MEMBER_GENESIS)
                printf("    new epoch %.*s, its key wrapped to %s\n", MB_HASH_PREFIX, hash,
                       n == 1 ? "that device" : "those devices");
        else
                printf("    epoch %.*s key wrapped to it\n", MB_HASH_PREFIX, hash);
        if (e->type == MEMBER_ADD_DEVICE && add.nhist > 0)
                printf("    and %zu older epoch key%s of its owner (key history)\n", add.nhist,
                       add.nhist == 1 ? "" : "s");
}

/* The text lines of what did not verify, after the history. */
static void mb_unverified_text(const struct mb_view *v)
{
        char hex[2 * MEMBER_HASH_LEN + 1];
        size_t i;

        if (!mb_problem(v))
                return;
        printf("NOT VERIFIED:\n");
        if (v->st->alarm != MEMBERS_OK) {
                hex_encode(hex, v->st->alarm_hash, MEMBER_HASH_LEN);
                printf("  entry %s: ALARM %s (the log stops here)\n", hex,
                       members_alarm_name(v->st->alarm));
        }
        for (i = 0; i < v->local->nskips; i++)
                printf("  cache %s: ALARM %s (%s)\n", v->local->skips[i].name, MB_CACHE_ALARM,
                       v->local->skips[i].why);
        for (i = 0; v->st != v->local && i < v->st->nskips; i++)
                printf("  store %s: junk (%s)\n", v->st->skips[i].name, v->st->skips[i].why);
        if (v->local->nskipped > v->local->nskips ||
            (v->st != v->local && v->st->nskipped > v->st->nskips))
                printf("  (more not listed)\n");
}

static void mb_log_print(const struct mb_view *v, int json)
{
        size_t i;

        if (json) {
                mb_json_head(v);
                fputs(",\"entries\":[", stdout);
                for (i = 0; i < v->st->nentries; i++)
                        mb_entry_json(v, i);
                putchar(']');
                mb_json_problems(v);
                puts("}");
                return;
        }
        printf("region %s: %zu verified entr%s, oldest first, from the %s\n", v->ri.name,
               v->st->nentries, v->st->nentries == 1 ? "y" : "ies",
               v->from_store ? "store and the local cache"
                             : "local cache only (store unreachable)");
        for (i = 0; i < v->st->nentries; i++)
                mb_entry_text(v, i);
        mb_unverified_text(v);
}

int cmd_log(int argc, char **argv)
{
        return mb_run("log", log_usage, argc, argv, mb_log_print);
}
