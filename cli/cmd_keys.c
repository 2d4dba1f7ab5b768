/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Key-management subcommands: init, id, passwd, create, list (doc/CLI.md).
 *
 * Each returns 0, 1 (one message already on stderr, nothing changed) or 2
 * (usage error).  Messages go through log_err, so they carry the program
 * name; secrets never reach a message.
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
#include <unistd.h>

#include "crypto/block.h"
#include "crypto/suite.h"
#include "fs/ctl.h"
#include "keyring/home.h"
#include "keyring/identity.h"
#include "keyring/member.h"
#include "keyring/passphrase.h"
#include "keyring/region.h"
#include "sync/push.h"
#include "sync/store.h"
#include "util/hex.h"
#include "util/log.h"

static const char init_usage[] =
    "usage: sealsync init [--name NAME] [--owner OWNER] [--passphrase-file FILE]\n"
    "                     [--no-passphrase] [--kdf interactive|moderate|sensitive]\n"
    "\n"
    "Create this device's identity (Ed25519 + X25519 + local key) in\n"
    "SEALSYNC_HOME/device.key.  --name: the device's name (default: the host\n"
    "name).  --owner: the user it belongs to, for the regions it creates (1-64\n"
    "printable ASCII characters; default: the device's name; kept in\n"
    "SEALSYNC_HOME/owner).  The passphrase comes from FILE (first line),\n"
    "SEALSYNC_PASSPHRASE, or the terminal (asked twice).  --no-passphrase stores\n"
    "the keys unprotected.  Default KDF: moderate (~1.5 s).\n";

static const char id_usage[] = "usage: sealsync id [--json]\n"
                               "\n"
                               "Print this device's id, name, owner and fingerprint.\n";

static const char passwd_usage[] =
    "usage: sealsync passwd [--passphrase-file FILE] [--new-passphrase-file FILE]\n"
    "                       [--no-passphrase] [--kdf interactive|moderate|sensitive]\n"
    "\n"
    "Change the passphrase of SEALSYNC_HOME/device.key (the keys stay the same; no\n"
    "region is touched).  The current passphrase comes from FILE,\n"
    "SEALSYNC_PASSPHRASE or the terminal; the new one from --new-passphrase-file,\n"
    "SEALSYNC_NEW_PASSPHRASE or the terminal (asked twice).  --no-passphrase\n"
    "stores the keys unprotected from now on.  Default KDF: moderate.\n";

static const char create_usage[] =
    "usage: sealsync create NAME [--store URL] [--cipher aes256gcm|xchacha20poly1305]\n"
    "                       [--block-size BYTES] [--max-key-age DURATION]\n"
    "                       [--owner OWNER] [--passphrase-file FILE]\n"
    "\n"
    "Create region NAME: a signed GENESIS is put to the store and the epoch-0 key\n"
    "wrapped to this device.  Default store: file://$SEALSYNC_HOME/store; default\n"
    "cipher: aes256gcm with AES-NI, else xchacha20poly1305; block size 65536\n"
    "(a power of two, 4096..1048576).  --max-key-age: the key-age policy (digits\n"
    "and s, m, h, d or w; see 'sealsync policy'; default none).  Prints the region\n"
    "id.  For an s3:// store, the endpoint, region, addressing style, profile and\n"
    "CA bundle in the environment (AWS_ENDPOINT_URL, AWS_REGION, ...) are saved\n"
    "with the region (never a secret), so later commands need not export them.\n"
    "--owner: the user this device belongs to in the region (default: the owner\n"
    "'sealsync init --owner' set, else the device's name).  A store shared by\n"
    "several users is one URL they all reach (--store), each region a folder\n"
    "they share.\n";

static const char list_usage[] =
    "usage: sealsync list [--json]\n"
    "\n"
    "List this device's regions: name, id, store, cipher, block size.\n";

/* ---- shared helpers ---- */

/*
 * Prints ID (of the device directory HOME): id, name, owner (HOME/owner, else
 * the device's name) and fingerprint, as text or JSON.
 */
static int keys_print_identity(const struct identity *id, const char *home, int json)
{
        char hex[2 * IDENTITY_ID_LEN + 1], owner[HOME_OWNER_MAX + 1];
        char fpr[128];
        int rc;

        hex_encode(hex, id->device_id, IDENTITY_ID_LEN);
        if (identity_fingerprint(id->sign_pk, id->box_pk, fpr, sizeof(fpr)) != 0) {
                log_err("cannot compute the fingerprint");
                return CLI_EXIT_FAIL;
        }
        rc = home_owner_load(home, owner);
        if (rc == -ENOENT)
                snprintf(owner, sizeof(owner), "%s", id->name);
        else if (rc != 0)
                log_warn("%s/owner cannot be used (%s): regions this device creates need "
                         "'sealsync create --owner'",
                         home, rc == -EBADMSG ? "not one owner name" : strerror(-rc));
        if (json) {
                cli_json_open();
                printf("\"device_id\":\"%s\",\"name\":", hex);
                cli_json_str(id->name);
                fputs(",\"owner\":", stdout);
                if (rc == 0 || rc == -ENOENT)
                        cli_json_str(owner);
                else
                        fputs("null", stdout);
                printf(",\"fingerprint\":\"%s\"}\n", fpr);
        } else {
                printf("device id:   %s\nname:        %s\nowner:       %s\nfingerprint: %s\n", hex,
                       id->name, rc == 0 || rc == -ENOENT ? owner : "?", fpr);
        }
        return cli_finish_output();
}

/* ---- init ---- */

static int keys_parse_kdf(const char *s, enum kdf_level *out)
{
        if (strcmp(s, "interactive") == 0)
                *out = KDF_INTERACTIVE;
        else if (strcmp(s, "moderate") == 0)
                *out = KDF_MODERATE;
        else if (strcmp(s, "sensitive") == 0)
                *out = KDF_SENSITIVE;
        else
                return -EINVAL;
        return 0;
}

int cmd_init(int argc, char **argv)
{
        static const struct option opts[] = {
            {"name", required_argument, NULL, 'n'},
            {"owner", required_argument, NULL, 'o'},
            {"passphrase-file", required_argument, NULL, 'p'},
            {"no-passphrase", no_argument, NULL, 'N'},
            {"kdf", required_argument, NULL, 'k'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        const char *name = NULL, *owner = NULL, *pass_file = NULL;
        enum kdf_level level = KDF_MODERATE;
        char home[PATH_MAX], keyfile[PATH_MAX + 16];
        struct identity *id = NULL;
        char *pass = NULL;
        int no_pass = 0, c, rc, ret;

        cli_start_options();
        while ((c = cli_next_option("init", init_usage, argc, argv, opts, &ret)) > 0) {
                switch (c) {
                case 'n':
                        name = optarg;
                        break;
                case 'o':
                        owner = optarg;
                        break;
                case 'p':
                        pass_file = optarg;
                        break;
                case 'N':
                        no_pass = 1;
                        break;
                case 'k':
                        if (keys_parse_kdf(optarg, &level) != 0)
                                return cli_usage_error("init", "--kdf takes interactive, moderate "
                                                               "or sensitive");
                        break;
                }
        }
        if (c == 0)
                return ret;
        if (optind != argc)
                return cli_usage_error("init", "unexpected argument");
        if (no_pass && pass_file != NULL)
                return cli_usage_error("init",
                                       "--no-passphrase and --passphrase-file exclude each other");
        if (name != NULL && !member_name_valid(name))
                return cli_usage_error("init", "invalid --name: use 1-64 printable ASCII "
                                               "characters, no leading or trailing space");
        if (owner != NULL && !member_name_valid(owner))
                return cli_usage_error("init", "invalid --owner: use 1-64 printable ASCII "
                                               "characters, no leading or trailing space");
        ret = cli_setup(home, sizeof(home));
        if (ret != CLI_EXIT_OK)
                return ret;

        /* Any file there, valid or not, is an identity we must not replace. */
        if (snprintf(keyfile, sizeof(keyfile), "%s/device.key", home) >= (int)sizeof(keyfile)) {
                log_err("the device directory path is too long");
                return CLI_EXIT_FAIL;
        }
        if (access(keyfile, F_OK) == 0 || errno != ENOENT) {
                log_err("an identity already exists in %s", keyfile);
                return CLI_EXIT_FAIL;
        }
        if (!no_pass) {
                rc = passphrase_get(&pass, pass_file, "New passphrase: ", 1);
                if (rc == -ENOTTY) {
                        log_err("no passphrase given and no terminal to ask on: use "
                                "--passphrase-file FILE, set SEALSYNC_PASSPHRASE, or use "
                                "--no-passphrase");
                        return CLI_EXIT_FAIL;
                }
                if (rc != 0)
                        return CLI_EXIT_FAIL; /* logged by passphrase_get */
        }
        rc = identity_create(home, name, pass, level);
        passphrase_free(pass);
        if (rc == -EEXIST) {
                log_err("an identity already exists in %s/device.key", home);
                return CLI_EXIT_FAIL;
        }
        if (rc != 0) {
                log_err("cannot create the device identity in %s: %s", home, strerror(-rc));
                return CLI_EXIT_FAIL;
        }
        if (owner != NULL && (rc = home_owner_save(home, owner)) != 0) {
                log_err("the identity is made, but the owner name could not be saved in "
                        "%s/owner: %s; use 'sealsync create --owner'",
                        home, strerror(-rc));
                return CLI_EXIT_FAIL;
        }
        if (no_pass)
                log_warn("device keys stored WITHOUT a passphrase: anyone who can read "
                         "%s/device.key can use them",
                         home);
        id = NULL;
        rc = identity_load_public(home, &id);
        if (rc != 0) {
                cli_identity_error(rc, home);
                return CLI_EXIT_FAIL;
        }
        ret = keys_print_identity(id, home, 0);
        identity_free(id);
        return ret;
}

/* ---- id ---- */

static int keys_parse_json_only(const char *cmd, const char *usage, int argc, char **argv,
                                int *json, int *done)
{
        static const struct option opts[] = {
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int c, status;

        *done = 0;
        cli_start_options();
        while ((c = cli_next_option(cmd, usage, argc, argv, opts, &status)) > 0)
                *json = 1; /* 'j', the only other option */
        if (c == 0) {
                *done = 1;
                return status;
        }
        if (optind != argc) {
                *done = 1;
                return cli_usage_error(cmd, "unexpected argument");
        }
        return CLI_EXIT_OK;
}

int cmd_id(int argc, char **argv)
{
        char home[PATH_MAX];
        struct identity *id = NULL;
        int json = 0, done, ret, rc;

        ret = keys_parse_json_only("id", id_usage, argc, argv, &json, &done);
        if (done)
                return ret;
        ret = cli_setup(home, sizeof(home));
        if (ret != CLI_EXIT_OK)
                return ret;
        rc = identity_load_public(home, &id);
        if (rc != 0) {
                cli_identity_error(rc, home);
                return CLI_EXIT_FAIL;
        }
        ret = keys_print_identity(id, home, json);
        identity_free(id);
        return ret;
}

/* ---- passwd ---- */

struct keys_passwd_args {
        const char *pass_file;
        const char *new_pass_file;
        int no_pass;
        enum kdf_level level;
};

/* Parses passwd's arguments into A; returns -1 to go on, else an exit status. */
static int keys_passwd_parse(int argc, char **argv, struct keys_passwd_args *a)
{
        static const struct option opts[] = {
            {"passphrase-file", required_argument, NULL, 'p'},
            {"new-passphrase-file", required_argument, NULL, 'P'},
            {"no-passphrase", no_argument, NULL, 'N'},
            {"kdf", required_argument, NULL, 'k'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int c, status;

        memset(a, 0, sizeof(*a));
        a->level = KDF_MODERATE;
        cli_start_options();
        while ((c = cli_next_option("passwd", passwd_usage, argc, argv, opts, &status)) > 0) {
                switch (c) {
                case 'p':
                        a->pass_file = optarg;
                        break;
                case 'P':
                        a->new_pass_file = optarg;
                        break;
                case 'N':
                        a->no_pass = 1;
                        break;
                case 'k':
                        if (keys_parse_kdf(optarg, &a->level) != 0)
                                return cli_usage_error("passwd", "--kdf takes interactive, "
                                                                 "moderate or sensitive");
                        break;
                }
        }
        if (c == 0)
                return status;
        if (optind != argc)
                return cli_usage_error("passwd", "unexpected argument");
        if (a->no_pass && a->new_pass_file != NULL)
                return cli_usage_error("passwd", "--no-passphrase and --new-passphrase-file "
                                                 "exclude each other");
        return -1;
}

/*
 * The current passphrase into *OLD (NULL if the key is unprotected), checked
 * by loading the key with it, so that a wrong one fails before the new one
 * is asked for.  Returns 0 or a negative errno (logged).
 */
static int keys_passwd_old(const char *home, const char *pass_file, char **old)
{
        struct identity *id = NULL;
        char *pass = NULL;
        int rc;

        rc = identity_has_passphrase(home);
        if (rc < 0) {
                cli_identity_error(rc, home);
                return rc;
        }
        if (rc == 1) {
                rc = passphrase_get(&pass, pass_file, "Current passphrase: ", 0);
                if (rc == -ENOTTY)
                        log_err("the device key is passphrase-protected and there is no terminal "
                                "to ask on: use --passphrase-file FILE or set SEALSYNC_PASSPHRASE");
                if (rc != 0)
                        return rc;
        }
        rc = identity_load(home, pass, &id);
        identity_free(id);
        if (rc != 0) {
                cli_identity_error(rc, home);
                passphrase_free(pass);
                return rc;
        }
        *old = pass;
        return 0;
}

/* The new passphrase into *NEW_PASS (NULL with --no-passphrase).  0 or a negative errno (logged).
 */
static int keys_passwd_new(const struct keys_passwd_args *a, char **new_pass)
{
        int rc;

        *new_pass = NULL;
        if (a->no_pass)
                return 0;
        rc = passphrase_get_env(new_pass, a->new_pass_file, "SEALSYNC_NEW_PASSPHRASE",
                                "New passphrase: ", 1);
        if (rc == -ENOTTY)
                log_err("no new passphrase given and no terminal to ask on: use "
                        "--new-passphrase-file FILE, set SEALSYNC_NEW_PASSPHRASE, or use "
                        "--no-passphrase");
        return rc;
}

int cmd_passwd(int argc, char **argv)
{
        struct keys_passwd_args a;
        char home[PATH_MAX];
        char *old = NULL, *new_pass = NULL;
        int ret, rc;

        ret = keys_passwd_parse(argc, argv, &a);
        if (ret >= 0)
                return ret;
        ret = cli_setup(home, sizeof(home));
        if (ret != CLI_EXIT_OK)
                return ret;
        if (keys_passwd_old(home, a.pass_file, &old) != 0)
                return CLI_EXIT_FAIL;
        ret = CLI_EXIT_FAIL;
        if (keys_passwd_new(&a, &new_pass) != 0)
                goto out;
        /* Loads the key again with OLD: the file may have changed meanwhile. */
        rc = identity_change_passphrase(home, old, new_pass, a.level);
        if (rc != 0) {
                if (rc == -EKEYREJECTED || rc == -EBADMSG || rc == -ENOENT || rc == -EPERM)
                        cli_identity_error(rc, home);
                else
                        log_err("cannot rewrite %s/device.key: %s (it is unchanged)", home,
                                strerror(-rc));
                goto out;
        }
        if (new_pass == NULL) {
                log_warn("device keys stored WITHOUT a passphrase: anyone who can read "
                         "%s/device.key can use them",
                         home);
                printf("%s/device.key: passphrase removed\n", home);
        } else {
                printf("%s/device.key: passphrase changed\n", home);
        }
        ret = cli_finish_output();
out:
        passphrase_free(new_pass);
        passphrase_free(old);
        return ret;
}

/* ---- create ---- */

/* Strict decimal: digits only, at most 7 of them. */
static int keys_parse_block_size(const char *s, uint32_t *out)
{
        uint32_t v = 0;
        size_t i;

        if (s[0] == '\0' || strlen(s) > 7)
                return -EINVAL;
        for (i = 0; s[i] != '\0'; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (uint32_t)(s[i] - '0');
        }
        if (v < BLOCK_MIN_SIZE || v > BLOCK_MAX_SIZE || (v & (v - 1)) != 0)
                return -EINVAL;
        *out = v;
        return 0;
}

struct keys_create_args {
        const char *name;
        const char *store_url;
        const char *pass_file;
        const char *owner; /* NULL: the home's owner, else the device's name */
        int suite;
        uint32_t block_size;
        uint64_t max_key_age; /* seconds, 0 = no policy */
};

#define KEYS_MAX_KEY_AGE (10ull * 366 * 86400) /* as `sealsync policy` */

/* Parses create's arguments into A; returns -1 to go on, else an exit status. */
static int keys_create_parse(int argc, char **argv, struct keys_create_args *a)
{
        static const struct option opts[] = {
            {"store", required_argument, NULL, 's'},
            {"cipher", required_argument, NULL, 'c'},
            {"block-size", required_argument, NULL, 'b'},
            {"max-key-age", required_argument, NULL, 'k'},
            {"owner", required_argument, NULL, 'o'},
            {"passphrase-file", required_argument, NULL, 'p'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int c, status;

        memset(a, 0, sizeof(*a));
        a->suite = 0;
        a->block_size = 65536;
        cli_start_options();
        while ((c = cli_next_option("create", create_usage, argc, argv, opts, &status)) > 0) {
                switch (c) {
                case 's':
                        a->store_url = optarg;
                        break;
                case 'c':
                        if (suite_parse(optarg, &a->suite) != 0)
                                return cli_usage_error("create", "--cipher takes aes256gcm or "
                                                                 "xchacha20poly1305");
                        break;
                case 'b':
                        if (keys_parse_block_size(optarg, &a->block_size) != 0)
                                return cli_usage_error("create", "--block-size must be a power of "
                                                                 "two from 4096 to 1048576");
                        break;
                case 'k':
                        if (cli_parse_duration(optarg, KEYS_MAX_KEY_AGE, &a->max_key_age) != 0)
                                return cli_usage_error("create", "--max-key-age takes a duration "
                                                                 "(e.g. 90d)");
                        break;
                case 'o':
                        if (!member_name_valid(optarg))
                                return cli_usage_error("create",
                                                       "invalid --owner: use 1-64 printable ASCII "
                                                       "characters, no leading or trailing space");
                        a->owner = optarg;
                        break;
                case 'p':
                        a->pass_file = optarg;
                        break;
                }
        }
        if (c == 0)
                return status;
        if (optind + 1 != argc)
                return cli_usage_error("create", optind == argc ? "missing region NAME"
                                                                : "unexpected argument");
        a->name = argv[optind];
        if (!region_name_valid(a->name))
                return cli_usage_error("create", "invalid region NAME: use 1-64 characters of "
                                                 "A-Z, a-z, 0-9, '.', '_' and '-'");
        return -1;
}

/* The default store URL: file://<absolute HOME>/store. */
static int keys_default_store(const char *home, char *out, size_t outlen)
{
        char abs[PATH_MAX];
        int n;

        if (realpath(home, abs) == NULL) {
                log_err("cannot resolve %s: %s", home, strerror(errno));
                return -1;
        }
        n = snprintf(out, outlen, "file://%s/store", strcmp(abs, "/") == 0 ? "" : abs);
        if (n < 0 || (size_t)n >= outlen) {
                log_err("the default store path is too long");
                return -1;
        }
        return 0;
}

/* Builds, publishes and records the region described by A. */
static int keys_create_region(const char *home, const struct keys_create_args *a,
                              const struct identity *id)
{
        struct region_info ri;
        struct store *st = NULL;
        uint8_t *entry = NULL;
        size_t entry_len = 0;
        char key[256], hex[2 * REGION_ID_LEN + 1];
        int rc, ret = CLI_EXIT_FAIL;

        rc = region_build_policy(id, home, a->name, a->store_url, a->suite, a->block_size,
                                 a->max_key_age, a->owner, &ri, &entry, &entry_len);
        if (rc == -ENOTSUP) {
                log_err("cipher %s is not available on this CPU (no AES-NI): use --cipher "
                        "xchacha20poly1305",
                        suite_name(a->suite));
                return CLI_EXIT_FAIL;
        }
        if (rc != 0) {
                log_err("cannot build region %s: %s", a->name, strerror(-rc));
                return CLI_EXIT_FAIL;
        }
        rc = region_genesis_key(&ri, key, sizeof(key));
        if (rc != 0) {
                log_err("cannot name the GENESIS object: %s", strerror(-rc));
                goto out;
        }
        rc = store_open(a->store_url, &st);
        if (rc != 0)
                goto out; /* logged by store_open */
        /* The only place a store is made (doc/SYNC.md S1): its root and marker. */
        rc = store_create(st);
        if (rc != 0) {
                if (rc != -ENOMEDIUM) /* -ENOMEDIUM: logged by store_create */
                        log_err("cannot create the store %s: %s", a->store_url, strerror(-rc));
                goto out;
        }
        rc = st->ops->put(st, key, entry, entry_len, 1);
        if (rc != 0) {
                log_err("cannot write the region's GENESIS to the store: %s", strerror(-rc));
                goto out;
        }
        rc = region_save(home, &ri, entry, entry_len);
        if (rc != 0) {
                if (rc == -EEXIST)
                        log_err("region %s already exists", a->name);
                else
                        log_err("cannot record region %s under %s: %s", a->name, home,
                                strerror(-rc));
                /* Nothing refers to the new GENESIS: take it back from the store. */
                if (st->ops->del(st, key) != 0)
                        log_warn("an unused GENESIS object remains in the store: %s", key);
                goto out;
        }
        if (cli_s3_settings_save(home, a->name) != 0)
                log_warn("region %s is recorded, but its S3 settings were not saved: give them "
                         "in the environment",
                         a->name);
        hex_encode(hex, ri.id, REGION_ID_LEN);
        printf("%s\n", hex);
        ret = cli_finish_output();
out:
        store_close(st);
        free(entry);
        return ret;
}

int cmd_create(int argc, char **argv)
{
        struct keys_create_args a;
        struct region_info existing;
        struct identity *id = NULL;
        struct store *st = NULL;
        char home[PATH_MAX], url[REGION_URL_MAX + 1], owner[HOME_OWNER_MAX + 1];
        int ret, rc;

        ret = keys_create_parse(argc, argv, &a);
        if (ret >= 0)
                return ret;
        ret = cli_setup(home, sizeof(home));
        if (ret != CLI_EXIT_OK)
                return ret;
        rc = identity_load_public(home, &id);
        identity_free(id);
        id = NULL;
        if (rc != 0) {
                cli_identity_error(rc, home);
                return CLI_EXIT_FAIL;
        }
        rc = region_load(home, a.name, &existing);
        if (rc != -ENOENT) {
                if (rc == 0 || rc == -EBADMSG)
                        log_err("region %s already exists", a.name);
                else
                        log_err("cannot read the regions under %s: %s", home, strerror(-rc));
                return CLI_EXIT_FAIL;
        }
        if (a.store_url == NULL) {
                if (keys_default_store(home, url, sizeof(url)) != 0)
                        return CLI_EXIT_FAIL;
                a.store_url = url;
        }
        if (strlen(a.store_url) > REGION_URL_MAX)
                return cli_usage_error("create", "--store URL is too long");
        /* Check the URL before asking for a passphrase. */
        rc = store_open(a.store_url, &st);
        store_close(st);
        if (rc == -EINVAL)
                return CLI_EXIT_USAGE; /* logged by store_open */
        if (rc != 0)
                return CLI_EXIT_FAIL;
        if (a.suite == 0)
                a.suite = suite_default();
        if (a.owner == NULL) {
                rc = home_owner_load(home, owner);
                if (rc == 0) {
                        a.owner = owner;
                } else if (rc != -ENOENT) {
                        log_err("%s/owner: %s", home,
                                rc == -EBADMSG ? "not one owner name (1-64 printable ASCII "
                                                 "characters and a newline)"
                                               : strerror(-rc));
                        return CLI_EXIT_FAIL;
                }
        }

        if (cli_load_identity(home, a.pass_file, &id) != 0)
                return CLI_EXIT_FAIL;
        ret = keys_create_region(home, &a, id);
        identity_free(id);
        return ret;
}

/* ---- list ---- */

/* The sync fields of `list --json`: whether a daemon answers, and the outbox. */
static void keys_print_sync(const struct region_info *ri)
{
        char outbox[sizeof(ri->dir) + 16];
        uint64_t bytes = 0;
        unsigned entries = 0;
        int fd = -1, mounted = ctl_connect(ri->dir, &fd) == 0;

        if (fd >= 0)
                close(fd);
        printf(",\"mounted\":%s,\"queue\":", mounted ? "true" : "false");
        if (snprintf(outbox, sizeof(outbox), "%s/outbox", ri->dir) < (int)sizeof(outbox) &&
            push_outbox_queue(outbox, &entries, &bytes) == 0)
                printf("{\"entries\":%u,\"bytes\":%llu}", entries, (unsigned long long)bytes);
        else
                fputs("null", stdout);
}

int cmd_list(int argc, char **argv)
{
        char home[PATH_MAX], hex[2 * REGION_ID_LEN + 1];
        struct region_info *v = NULL;
        size_t n = 0, i;
        int json = 0, done, ret, rc;

        ret = keys_parse_json_only("list", list_usage, argc, argv, &json, &done);
        if (done)
                return ret;
        ret = cli_setup(home, sizeof(home));
        if (ret != CLI_EXIT_OK)
                return ret;
        rc = region_list(home, &v, &n);
        if (rc != 0) {
                log_err("cannot list the regions under %s: %s", home, strerror(-rc));
                return CLI_EXIT_FAIL;
        }
        if (json)
                putchar('[');
        else if (n > 0)
                printf("%-20s %-64s %-17s %10s  %s\n", "NAME", "REGION ID", "CIPHER", "BLOCK",
                       "STORE");
        for (i = 0; i < n; i++) {
                hex_encode(hex, v[i].id, REGION_ID_LEN);
                if (!json) {
                        printf("%-20s %s %-17s %10lu  %s\n", v[i].name, hex, suite_name(v[i].suite),
                               (unsigned long)v[i].block_size, v[i].store_url);
                        continue;
                }
                if (i > 0)
                        putchar(',');
                cli_json_open();
                printf("\"name\":");
                cli_json_str(v[i].name);
                printf(",\"region_id\":\"%s\",\"store\":", hex);
                cli_json_str(v[i].store_url);
                printf(",\"cipher\":\"%s\",\"block_size\":%lu", suite_name(v[i].suite),
                       (unsigned long)v[i].block_size);
                keys_print_sync(&v[i]);
                putchar('}');
        }
        if (json)
                puts("]");
        free(v);
        return cli_finish_output();
}
