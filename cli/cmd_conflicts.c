/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sealsync conflicts: list the conflict copies of a mounted region.  Names
 * are plaintext only inside the mount daemon, so it walks the tree (fs/ctl.c
 * CONFLICTS, fs/conflicts.c) and streams the copies; this prints each as it
 * arrives.  Returns 0 (also when there are none), 1 (not mounted, or a
 * failure: a message on stderr) or 2 (usage error).
 */
#include "cli/cmd.h"
#include "cli/cli.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli_ctl.h"
#include "keyring/region.h"
#include "util/log.h"

#define CONFLICTS_SILENCE_S 60 /* the daemon reports progress every second while walking */

static const char conflicts_usage[] =
    "usage: sealsync conflicts NAME [--json]\n"
    "\n"
    "List the conflict copies in the mounted region NAME: the files named\n"
    "'name (conflict from DEVICE DATE HASH).ext' that sync made when two\n"
    "devices changed one file at once, or made two files under one name (see\n"
    "the conflicts section of sealsync(1)).  For each copy: its path, the device\n"
    "that wrote that version and its modification time, and the original (the\n"
    "same name without the suffix, in the same directory): its current author\n"
    "and modification time, or that it no longer exists.  Times are UTC.  The\n"
    "mount daemon walks the whole tree; a copy is printed as soon as it is found.\n"
    "Keep the version you want under the original name and delete the copy.\n"
    "Exit status: 0 (also when there are none), 1 if NAME is not mounted here or\n"
    "on a failure, 2 usage.\n"
    "\n"
    "      --json   print one JSON object {\"version\", \"region\", \"conflicts\": [...]}\n"
    "  -h, --help   show this help\n";

/* One version of a conflict, as the daemon reported it. */
struct cf_side {
        int exists, author_known;
        char id[33];
        long long mtime;
        char label[80];
};

struct cf_state {
        int json;
        unsigned long n;
        char path[CTL_LINE_MAX];
        struct cf_side copy, orig;
};

/* "EXISTS [AUTHOR_ID|- MTIME LABEL]" into S.  0 or -1 (bad line). */
static int cf_side_parse(const char *rest, struct cf_side *s)
{
        char id[40];
        int off = 0;

        memset(s, 0, sizeof(*s));
        if (strcmp(rest, "0") == 0)
                return 0;
        if (sscanf(rest, "1 %39s %lld %n", id, &s->mtime, &off) < 2 || off == 0)
                return -1;
        s->exists = 1;
        s->author_known = strcmp(id, "-") != 0;
        if (s->author_known) {
                if (strlen(id) != 32 || strspn(id, "0123456789abcdef") != 32)
                        return -1;
                memcpy(s->id, id, 33);
                snprintf(s->label, sizeof(s->label), "%s", rest + off);
        }
        return 0;
}

static void cf_time(long long t, char *out, size_t size)
{
        time_t tt = (time_t)t;
        struct tm tm;

        if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
            strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                snprintf(out, size, "unknown time");
}

/* "by LABEL (ID8), modified TIME" of S. */
static void cf_text_side(const struct cf_side *s)
{
        char t[32];

        cf_time(s->mtime, t, sizeof(t));
        if (s->author_known)
                printf("by %s (%.8s), modified %s\n", s->label, s->id, t);
        else
                printf("by an unknown device, modified %s\n", t);
}

static void cf_json_side(const struct cf_side *s, int with_exists)
{
        if (with_exists)
                printf("\"exists\":%s,", s->exists ? "true" : "false");
        fputs("\"author\":", stdout);
        if (s->exists && s->author_known)
                cli_json_str(s->label);
        else
                fputs("null", stdout);
        fputs(",\"author_id\":", stdout);
        if (s->exists && s->author_known)
                printf("\"%s\"", s->id);
        else
                fputs("null", stdout);
        fputs(",\"mtime\":", stdout);
        if (s->exists)
                cli_json_time(s->mtime > 0 ? (uint64_t)s->mtime : 0);
        else
                fputs("null", stdout);
}

/* Prints the copy in S (complete once its "original_path" came, ORIG). */
static void cf_print(struct cf_state *st, const char *orig)
{
        if (st->json) {
                fputs(st->n++ ? ",{\"path\":" : "{\"path\":", stdout);
                cli_json_str(st->path);
                fputs(",\"copy\":{", stdout);
                cf_json_side(&st->copy, 0);
                fputs("},\"original\":{\"path\":", stdout);
                cli_json_str(orig);
                putchar(',');
                cf_json_side(&st->orig, 1);
                fputs("}}", stdout);
                return;
        }
        st->n++;
        printf("%s\n  copy:     ", st->path);
        cf_text_side(&st->copy);
        printf("  original: %s", orig);
        if (st->orig.exists) {
                fputs(", ", stdout);
                cf_text_side(&st->orig);
        } else {
                fputs(" (no longer exists)\n", stdout);
        }
}

/* Reads the reply to the end, printing each copy.  CLI_EXIT_*. */
static int cf_read(struct cli_ctl_reader *rd, const char *name, struct cf_state *st)
{
        char line[CTL_LINE_MAX];
        int ret = CLI_EXIT_FAIL, rc, bad = 0;
        uint64_t scanned = 0, skipped = 0;

        while ((rc = cli_ctl_line(rd, line)) == 0 && strcmp(line, "end") != 0) {
                char *sp = strchr(line, ' ');
                const char *rest = sp != NULL ? sp + 1 : "";

                if (sp != NULL)
                        *sp = '\0';
                if (strcmp(line, "copy_path") == 0)
                        snprintf(st->path, sizeof(st->path), "%s", rest);
                else if (strcmp(line, "copy") == 0)
                        bad |= cf_side_parse(rest, &st->copy) != 0;
                else if (strcmp(line, "original") == 0)
                        bad |= cf_side_parse(rest, &st->orig) != 0;
                else if (strcmp(line, "original_path") == 0 && !bad)
                        cf_print(st, rest);
                else if (strcmp(line, "ok") == 0 &&
                         sscanf(rest, "%" SCNu64 " %" SCNu64, &scanned, &skipped) == 2)
                        ret = CLI_EXIT_OK;
                else if (strcmp(line, "ok") == 0)
                        bad = 1; /* an "ok" without its counts */
                else if (strcmp(line, "error") == 0)
                        log_err("conflicts %s: %s", name, rest);
        }
        if (rc != 0) {
                log_err("the mount daemon of region '%s' stopped answering: %s", name,
                        strerror(-rc));
                return CLI_EXIT_FAIL;
        }
        if (bad) {
                log_err("region '%s': the mount daemon's reply is malformed", name);
                return CLI_EXIT_FAIL;
        }
        if (skipped > 0)
                log_warn("region '%s': %" PRIu64 " entr%s with a path too long to report left out",
                         name, skipped, skipped == 1 ? "y" : "ies");
        return ret;
}

static int conflicts_parse(int argc, char **argv, int *json, const char **name, int *done)
{
        static const struct option opts[] = {
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int c, status;

        *done = 1;
        cli_start_options();
        while ((c = cli_next_option("conflicts", conflicts_usage, argc, argv, opts, &status)) > 0)
                *json = 1; /* 'j', the only other option */
        if (c == 0)
                return status;
        if (argc - optind != 1)
                return cli_usage_error("conflicts", "expected one region NAME");
        *name = argv[optind];
        *done = 0;
        return CLI_EXIT_OK;
}

int cmd_conflicts(int argc, char **argv)
{
        struct cli_ctl_reader rd;
        struct region_info ri;
        struct cf_state *st;
        const char *name = NULL;
        int json = 0, done, ret, rc;

        ret = conflicts_parse(argc, argv, &json, &name, &done);
        if (done)
                return ret;
        ret = cli_ctl_region(name, &ri);
        if (ret != CLI_EXIT_OK)
                return ret;
        ret = cli_ctl_start(&ri, "CONFLICTS\n", CONFLICTS_SILENCE_S, &rd);
        if (ret != CLI_EXIT_OK)
                return ret;
        st = calloc(1, sizeof(*st));
        if (st == NULL) {
                close(rd.fd);
                log_err("out of memory");
                return CLI_EXIT_FAIL;
        }
        st->json = json;
        if (json) {
                cli_json_open();
                fputs("\"region\":", stdout);
                cli_json_str(ri.name);
                fputs(",\"conflicts\":[", stdout);
        }
        ret = cf_read(&rd, ri.name, st);
        close(rd.fd);
        if (json)
                fputs("]}\n", stdout);
        else if (ret == CLI_EXIT_OK && st->n == 0)
                printf("no conflict copies in region %s\n", ri.name);
        free(st);
        rc = cli_finish_output();
        return rc != CLI_EXIT_OK ? rc : ret;
}
