/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the subcommands (contracts in cli/cli.h). */
#include "cli/cli.h"

#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crypto/secmem.h"
#include "keyring/home.h"
#include "keyring/identity.h"
#include "keyring/member.h"
#include "keyring/passphrase.h"
#include "util/log.h"

int cli_usage_error(const char *cmd, const char *msg)
{
        fprintf(stderr, "sealsync %s: %s\nTry 'sealsync help %s'.\n", cmd, msg, cmd);
        return CLI_EXIT_USAGE;
}

int cli_bad_option(const char *cmd, int c, char **argv)
{
        const char *arg = optind > 0 ? argv[optind - 1] : "";
        char msg[160];
        int n = (int)strcspn(arg, "=");

        if (n > 64)
                n = 64;
        if (c == ':' && strncmp(arg, "--", 2) == 0)
                snprintf(msg, sizeof(msg), "missing value for %.*s", n, arg);
        else if (c == ':')
                snprintf(msg, sizeof(msg), "missing value for -%c", optopt);
        else if (optopt != 0)
                snprintf(msg, sizeof(msg), "unknown option '-%c'", optopt);
        else
                snprintf(msg, sizeof(msg), "unknown option '%.*s'", n, arg);
        return cli_usage_error(cmd, msg);
}

int cli_unknown_option(const char *cmd, const char *name)
{
        char msg[160];

        snprintf(msg, sizeof(msg), "unknown option '--%.64s'", name);
        return cli_usage_error(cmd, msg);
}

void cli_start_options(void)
{
        optind = 0; /* 0, not 1: glibc then also forgets the previous parse */
        opterr = 0;
}

int cli_next_option(const char *cmd, const char *usage, int argc, char **argv,
                    const struct option *opts, int *status)
{
        int c = getopt_long(argc, argv, ":h", opts, NULL);

        switch (c) {
        case 'h':
                *status = cli_help(usage);
                return 0;
        case '?':
        case ':':
                *status = cli_bad_option(cmd, c, argv);
                return 0;
        }
        assert(c != 0); /* no option of OPTS has the value 0 */
        return c;
}

int cli_help(const char *usage)
{
        fputs(usage, stdout);
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

int cli_finish_output(void)
{
        if (fflush(stdout) != 0 || ferror(stdout)) {
                log_err("cannot write to standard output");
                return CLI_EXIT_FAIL;
        }
        return CLI_EXIT_OK;
}

int cli_setup(char *home, size_t homelen)
{
        int rc;

        if (secmem_init() != 0) {
                log_err("cannot initialise the crypto library");
                return CLI_EXIT_FAIL;
        }
        rc = home_dir(home, homelen);
        if (rc == -ENOENT) {
                log_err("cannot locate the device directory: set SEALSYNC_HOME or HOME");
                return CLI_EXIT_FAIL;
        }
        if (rc != 0) {
                log_err("the device directory path is too long");
                return CLI_EXIT_FAIL;
        }
        return CLI_EXIT_OK;
}

void cli_identity_error(int rc, const char *home)
{
        switch (rc) {
        case -ENOENT:
                log_err("no device identity in %s: run 'sealsync init' first", home);
                break;
        case -EPERM:
                break; /* logged where detected */
        case -EBADMSG:
                log_err("%s/device.key is corrupt or of an unknown format", home);
                break;
        case -EKEYREJECTED:
                log_err("wrong passphrase for %s/device.key", home);
                break;
        default:
                log_err("cannot load the device identity from %s: %s", home, strerror(-rc));
        }
}

int cli_load_identity(const char *home, const char *pass_file, struct identity **out)
{
        char *pass = NULL;
        int rc;

        rc = identity_has_passphrase(home);
        if (rc < 0) {
                cli_identity_error(rc, home);
                return rc;
        }
        if (rc == 1) {
                rc = passphrase_get(&pass, pass_file, "Passphrase: ", 0);
                if (rc == -ENOTTY)
                        log_err("the device key is passphrase-protected and there is no terminal "
                                "to ask on: use --passphrase-file FILE or set SEALSYNC_PASSPHRASE");
                if (rc != 0)
                        return rc; /* other errors were logged by passphrase_get */
        }
        rc = identity_load(home, pass, out);
        passphrase_free(pass);
        if (rc != 0)
                cli_identity_error(rc, home);
        return rc;
}

void cli_json_str(const char *s)
{
        const unsigned char *p = (const unsigned char *)s;
        size_t n, i;

        putchar('"');
        while (*p != '\0') {
                if (*p == '"' || *p == '\\') {
                        printf("\\%c", *p++);
                        continue;
                }
                if (*p < 0x20 || *p == 0x7f) {
                        printf("\\u%04x", *p++);
                        continue;
                }
                if (*p < 0x80) {
                        putchar(*p++);
                        continue;
                }
                /* Multi-byte UTF-8: accept only well-formed, shortest-form sequences. */
                n = (*p >= 0xc2 && *p <= 0xdf)   ? 2
                    : (*p >= 0xe0 && *p <= 0xef) ? 3
                    : (*p >= 0xf0 && *p <= 0xf4) ? 4
                                                 : 0;
                for (i = 1; i < n; i++)
                        if ((p[i] & 0xc0) != 0x80)
                                n = 0;
                if (n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f)))
                        n = 0;
                if (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f)))
                        n = 0;
                if (n == 0) {
                        fputs("\\ufffd", stdout);
                        p++;
                        continue;
                }
                fwrite(p, 1, n, stdout);
                p += n;
        }
        putchar('"');
}

void cli_json_open(void)
{
        printf("{\"version\":%d,", CLI_JSON_VERSION);
}

void cli_json_time(uint64_t t)
{
        time_t tt = (time_t)t;
        struct tm tm;
        char buf[32];

        if (t == 0 || t > (uint64_t)INT64_MAX / 2 || gmtime_r(&tt, &tm) == NULL ||
            strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
                fputs("null", stdout);
                return;
        }
        printf("\"%s\"", buf);
}

int cli_role_parse(const char *s, uint8_t *role)
{
        static const uint8_t roles[] = {MEMBER_ROLE_READER, MEMBER_ROLE_WRITER, MEMBER_ROLE_ADMIN};
        size_t i;

        for (i = 0; i < sizeof(roles); i++)
                if (strcmp(s, cli_role_name(roles[i])) == 0) {
                        *role = roles[i];
                        return 0;
                }
        return -EINVAL;
}

const char *cli_role_name(uint8_t role)
{
        switch (role) {
        case MEMBER_ROLE_READER:
                return "reader";
        case MEMBER_ROLE_WRITER:
                return "writer";
        case MEMBER_ROLE_ADMIN:
                return "admin";
        case MEMBER_ROLE_RECOVERY:
                return "recovery";
        }
        return "unknown";
}

const char *cli_history_name(uint8_t history)
{
        return history == MEMBER_HISTORY_OWNER ? "owner" : "all";
}

int cli_fingerprint(const struct member_device *d, char *out, size_t outlen)
{
        if (identity_fingerprint(d->sign_pk, d->box_pk, out, outlen) != 0) {
                snprintf(out, outlen, "?");
                return -1;
        }
        return 0;
}

void cli_format_time(uint64_t t, char *out, size_t outlen)
{
        time_t tt = (time_t)t;
        struct tm tm;

        if (gmtime_r(&tt, &tm) == NULL || strftime(out, outlen, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
                snprintf(out, outlen, "%llu", (unsigned long long)t);
}

int cli_parse_duration(const char *s, uint64_t max, uint64_t *out)
{
        static const struct {
                char unit;
                uint64_t mult;
        } units[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 7 * 86400}};
        uint64_t v = 0, mult = 1;
        size_t i, n = strlen(s);

        if (n == 0 || n > 12)
                return -EINVAL;
        for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                if (s[n - 1] == units[i].unit) {
                        mult = units[i].mult;
                        n--;
                        break;
                }
        if (n == 0)
                return -EINVAL;
        for (i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        v *= mult;
        if (v == 0 || v > max)
                return -EINVAL;
        *out = v;
        return 0;
}

int cli_parse_duration0(const char *s, uint64_t max, uint64_t *out)
{
        size_t n = strspn(s, "0");

        if (n > 0 && n <= 12 &&
            (s[n] == '\0' || (s[n + 1] == '\0' && strchr("smhdw", s[n]) != NULL))) {
                *out = 0;
                return 0;
        }
        return cli_parse_duration(s, max, out);
}
