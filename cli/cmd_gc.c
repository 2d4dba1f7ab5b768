/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sealsync gc NAME [--dry-run] [--grace DURATION] [--json] [--passphrase-file FILE]:
 * garbage collection of region NAME's store (sync/gc.h, doc/SYNC.md
 * "Garbage collection").  Needs this device's newest checkpoint (its mount
 * writes them) and every active device's acknowledgement of it.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_region.h"
#include "cli/cmd.h"
#include "sync/gc.h"
#include "util/log.h"

#define GC_GRACE_MAX (365u * 24u * 3600u)

static const char gc_usage[] =
    "usage: sealsync gc NAME [--dry-run] [--grace DURATION] [--json]\n"
    "                  [--passphrase-file FILE]\n"
    "\n"
    "Delete from region NAME's store the packs that no current file, no\n"
    "journal entry after this device's newest checkpoint, and no other\n"
    "current checkpoint needs, and checkpoints a newer one replaced -- only\n"
    "once every active device has acknowledged that checkpoint, and only\n"
    "objects that were already garbage DURATION ago (--grace, default 24h;\n"
    "0: at once).  --dry-run deletes nothing.  --json prints one object.\n";

struct gc_args {
        const char *name, *pass_file;
        int dry_run, json;
        uint64_t grace;
};

static int gc_parse(int argc, char **argv, struct gc_args *a)
{
        static const struct option opts[] = {
            {"dry-run", no_argument, NULL, 'n'}, {"grace", required_argument, NULL, 'g'},
            {"json", no_argument, NULL, 'j'},    {"passphrase-file", required_argument, NULL, 'p'},
            {"help", no_argument, NULL, 'h'},    {NULL, 0, NULL, 0},
        };
        int c, status;

        cli_start_options();
        while ((c = cli_next_option("gc", gc_usage, argc, argv, opts, &status)) > 0) {
                if (c == 'n')
                        a->dry_run = 1;
                else if (c == 'j')
                        a->json = 1;
                else if (c == 'p')
                        a->pass_file = optarg;
                else if (strcmp(optarg, "0") == 0)
                        a->grace = 0;
                else if (cli_parse_duration(optarg, GC_GRACE_MAX, &a->grace) != 0)
                        return cli_usage_error("gc", "--grace takes a duration (e.g. 24h) or 0");
        }
        if (c == 0)
                return status;
        if (optind + 1 != argc)
                return cli_usage_error("gc", optind == argc ? "missing region NAME"
                                                            : "unexpected argument");
        a->name = argv[optind];
        return -1;
}

static void gc_print(const struct gc_args *a, const struct gc_report *r)
{
        if (a->json) {
                printf("{\"region\":");
                cli_json_str(a->name);
                printf(",\"dry_run\":%s,\"base\":", a->dry_run ? "true" : "false");
                cli_json_str(r->base);
                printf(",\"blocked_by\":");
                cli_json_str(r->blocked_by);
                printf(",\"packs\":%" PRIu64 ",\"live\":%" PRIu64 ",\"waiting\":%" PRIu64
                       ",\"deleted\":%" PRIu64 ",\"deleted_bytes\":%" PRIu64
                       ",\"checkpoints_deleted\":%" PRIu64 "}\n",
                       r->packs, r->live, r->waiting, r->deleted, r->deleted_bytes, r->checkpoints);
                return;
        }
        if (r->base[0] == '\0')
                printf("gc %s: this device has written no checkpoint yet; nothing collected\n",
                       a->name);
        else if (r->blocked_by[0] != '\0')
                printf("gc %s: device %s has not acknowledged checkpoint %s; nothing collected\n",
                       a->name, r->blocked_by, r->base);
        else
                printf("gc %s: %" PRIu64 " packs, %" PRIu64 " live, %" PRIu64
                       " waiting for the grace period; %s %" PRIu64 " object(s) (%" PRIu64
                       " bytes, %" PRIu64 " checkpoint(s))\n",
                       a->name, r->packs, r->live, r->waiting,
                       a->dry_run ? "would delete" : "deleted", r->deleted, r->deleted_bytes,
                       r->checkpoints);
}

int cmd_gc(int argc, char **argv)
{
        struct gc_args a = {.grace = GC_GRACE_DEFAULT_S};
        struct cli_region c;
        struct gc_report r;
        struct gc_opts o;
        char state[PATH_MAX];
        int status = gc_parse(argc, argv, &a), rc;

        if (status >= 0)
                return status;
        memset(&c, 0, sizeof(c));
        if (cli_region_open(&c, a.name, a.pass_file) != 0)
                return CLI_EXIT_FAIL;
        if (snprintf(state, sizeof(state), "%s/gc-candidates", c.ri.dir) >= (int)sizeof(state)) {
                log_err("gc: the region's directory path is too long");
                cli_region_release(&c);
                return CLI_EXIT_FAIL;
        }
        o.dry_run = a.dry_run;
        o.grace_s = a.grace;
        o.state = state;
        rc = gc_region(c.store, &c.ri, c.id, c.st, &o, &r);
        cli_region_release(&c);
        if (rc != 0) {
                log_err("gc %s: %s; what was deleted before stays deleted", a.name, strerror(-rc));
                return CLI_EXIT_FAIL;
        }
        gc_print(&a, &r);
        status = cli_finish_output();
        return status;
}
