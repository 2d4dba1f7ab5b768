/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sealsync pin: keep a subtree of a mounted region fully local (on-demand
 * content, doc/DESIGN.md).  The mount daemon does the work (fs/ctl.c PIN,
 * UNPIN, PINS); this is its client.  Returns 0, 1 (a message on stderr) or
 * 2 (usage error).
 */
#include "cli/cmd.h"
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli_ctl.h"
#include "keyring/region.h"
#include "util/log.h"

#define PIN_SILENCE_S 120 /* no line from the daemon for this long: it is stuck */

static const char pin_usage[] =
    "usage: sealsync pin NAME PATH [--unpin]\n"
    "       sealsync pin NAME --list [--json]\n"
    "\n"
    "Keep PATH (a directory or file of the mounted region NAME: a path on its\n"
    "mount, or relative to the region's root) fully local for offline use: the\n"
    "mount daemon fetches every block under it now (with progress on a terminal)\n"
    "and fetches new versions of files under it as soon as they are pulled. The\n"
    "contents of other files are fetched on their first read. Pins are kept\n"
    "across remounts.\n"
    "\n"
    "      --unpin  stop keeping PATH local (what is already local stays)\n"
    "      --list   list the pinned paths (relative to the region's root)\n"
    "      --json   with --list: print {\"version\", \"region\", \"pins\": [PATH...]}\n"
    "  -h, --help   show this help\n";

enum { PIN_DO = 0, PIN_UNPIN, PIN_LIST };

static int pin_parse(int argc, char **argv, int *mode, int *json, const char **name,
                     const char **path, int *done)
{
        static const struct option opts[] = {
            {"unpin", no_argument, NULL, 'u'},
            {"list", no_argument, NULL, 'l'},
            {"json", no_argument, NULL, 'j'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int c, status;

        *done = 1;
        cli_start_options();
        while ((c = cli_next_option("pin", pin_usage, argc, argv, opts, &status)) > 0) {
                if (c == 'j') {
                        *json = 1;
                        continue;
                }
                if (*mode != PIN_DO)
                        return cli_usage_error("pin", "--unpin and --list exclude each other");
                *mode = c == 'u' ? PIN_UNPIN : PIN_LIST;
        }
        if (c == 0)
                return status;
        if (*json && *mode != PIN_LIST)
                return cli_usage_error("pin", "--json goes with --list");
        if (argc - optind != (*mode == PIN_LIST ? 1 : 2))
                return cli_usage_error("pin", *mode == PIN_LIST
                                                  ? "expected one region NAME"
                                                  : "expected a region NAME and a PATH");
        *name = argv[optind];
        *path = *mode == PIN_LIST ? NULL : argv[optind + 1];
        *done = 0;
        return CLI_EXIT_OK;
}

/* The request for PATH: an existing path made absolute (the daemon strips its mountpoint). */
static int pin_request(int mode, const char *path, char *req, size_t size)
{
        char abs[PATH_MAX];
        const char *p = path;
        int n;

        if (mode == PIN_LIST)
                return snprintf(req, size, "PINS\n") < (int)size ? 0 : -ENAMETOOLONG;
        if (strchr(path, '\n') != NULL)
                return -EINVAL;
        if (realpath(path, abs) != NULL)
                p = abs;
        n = snprintf(req, size, "%s %s\n", mode == PIN_UNPIN ? "UNPIN" : "PIN", p);
        return n > 0 && (size_t)n < size ? 0 : -ENAMETOOLONG;
}

static void pin_show_progress(const char *rest)
{
        uint64_t done = 0, total = 0;

        if (sscanf(rest, "%" SCNu64 " %" SCNu64, &done, &total) != 2)
                return;
        fprintf(stderr, "\rfetching: %" PRIu64 " of %" PRIu64 " KiB", done / 1024, total / 1024);
        fflush(stderr);
}

/*
 * Reads the daemon's reply to the end, printing the pins (one a line, or with
 * JSON into the "pins" array of one object).  CLI_EXIT_*.
 */
static int pin_read(struct cli_ctl_reader *rd, const char *name, int tty, int json)
{
        char line[CTL_LINE_MAX];
        int ret = CLI_EXIT_FAIL, progressed = 0, rc;
        size_t npins = 0;

        if (json) {
                cli_json_open();
                fputs("\"region\":", stdout);
                cli_json_str(name);
                fputs(",\"pins\":[", stdout);
        }
        while ((rc = cli_ctl_line(rd, line)) == 0 && strcmp(line, "end") != 0) {
                char *sp = strchr(line, ' ');
                const char *rest = sp != NULL ? sp + 1 : "";

                if (sp != NULL)
                        *sp = '\0';
                if (strcmp(line, "progress") == 0 && tty) {
                        pin_show_progress(rest);
                        progressed = 1;
                } else if (strcmp(line, "pin") == 0 && json) {
                        if (npins++ > 0)
                                putchar(',');
                        cli_json_str(rest);
                } else if (strcmp(line, "pin") == 0) {
                        printf("%s\n", rest);
                } else if (strcmp(line, "ok") == 0) {
                        ret = CLI_EXIT_OK;
                } else if (strcmp(line, "error") == 0) {
                        if (progressed)
                                fputc('\n', stderr);
                        progressed = 0;
                        log_err("pin %s: %s", name, rest);
                }
        }
        if (progressed)
                fputc('\n', stderr);
        if (json)
                fputs("]}\n", stdout);
        if (rc != 0) {
                log_err("the mount daemon of region '%s' stopped answering: %s", name,
                        strerror(-rc));
                return CLI_EXIT_FAIL;
        }
        return ret;
}

int cmd_pin(int argc, char **argv)
{
        char req[CTL_LINE_MAX];
        struct cli_ctl_reader rd;
        struct region_info ri;
        const char *name = NULL, *path = NULL;
        int mode = PIN_DO, json = 0, done, ret, rc;

        ret = pin_parse(argc, argv, &mode, &json, &name, &path, &done);
        if (done)
                return ret;
        ret = cli_ctl_region(name, &ri);
        if (ret != CLI_EXIT_OK)
                return ret;
        if (pin_request(mode, path, req, sizeof(req)) != 0)
                return cli_usage_error("pin", "PATH is too long or holds a newline");
        ret = cli_ctl_start(&ri, req, PIN_SILENCE_S, &rd);
        if (ret != CLI_EXIT_OK)
                return ret;
        ret = pin_read(&rd, ri.name, mode != PIN_LIST && isatty(2), json);
        close(rd.fd);
        rc = cli_finish_output();
        return rc != CLI_EXIT_OK ? rc : ret;
}
