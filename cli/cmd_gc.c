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
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_ctl.h"
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
    "0: at once).  When this device has written no checkpoint yet and NAME is\n"
    "mounted here, gc first has the mount write one (as 'sealsync checkpoint').\n"
    "--dry-run deletes nothing.  --json prints one object.\n"
    "\n"
    "      --dry-run               report what would be deleted, delete nothing\n"
    "      --grace DURATION        N (seconds), Ns, Nm, Nh, Nd or Nw; default 24h; 0: at once\n"
    "      --json                  print one JSON object\n"
    "      --passphrase-file FILE  read the passphrase of this device's key from FILE\n"
    "  -h, --help                  show this help\n";

static const char checkpoint_usage[] =
    "usage: sealsync checkpoint NAME\n"
    "\n"
    "Have this device's mount of region NAME write a checkpoint now, at the end of\n"
    "its next pull round, once its changes are uploaded (a mount writes them by\n"
    "itself every few hundred journal entries).  'sealsync gc' needs one; a new\n"
    "device starts from the newest.  NAME must be mounted here, read-write, by a\n"
    "writer or admin.  Prints the checkpoint's number.  Waits up to 2 minutes.\n"
    "\n"
    "  -h, --help   show this help\n";

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
                else if (cli_parse_duration0(optarg, GC_GRACE_MAX, &a->grace) != 0)
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
                cli_json_open();
                printf("\"region\":");
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
                printf("gc %s: this device has written no checkpoint yet; nothing collected "
                       "(mount the region and run 'sealsync checkpoint %s')\n",
                       a->name, a->name);
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

/*
 * Asks the mount daemon of RI for a checkpoint (CHECKPOINT).  0 with *SEQ,
 * -ENOTCONN (not mounted here; nothing logged), or -EIO after logging the
 * daemon's reason.
 */
static int gc_checkpoint(const struct region_info *ri, uint64_t *seq)
{
        char line[CTL_LINE_MAX];
        struct cli_ctl_reader r;
        int rc = cli_ctl_open(ri, "CHECKPOINT\n", 150, &r), got = 0;
        unsigned long long v;

        if (rc == -ENOTCONN)
                return rc;
        if (rc != 0) {
                log_err("cannot reach the mount daemon of region '%s': %s", ri->name,
                        strerror(-rc));
                return -EIO;
        }
        while ((rc = cli_ctl_line(&r, line)) == 0 && strcmp(line, "end") != 0) {
                if (sscanf(line, "ok %llu", &v) == 1) {
                        *seq = v;
                        got = 1;
                } else if (strncmp(line, "error ", 6) == 0) {
                        log_err("checkpoint %s: %s", ri->name, line + 6);
                }
        }
        close(r.fd);
        if (rc != 0) {
                log_err("checkpoint %s: the daemon's reply was cut short: %s", ri->name,
                        strerror(-rc));
                return -EIO;
        }
        return got ? 0 : -EIO;
}

int cmd_checkpoint(int argc, char **argv)
{
        static const struct option opts[] = {
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        struct region_info ri;
        uint64_t seq = 0;
        int c, status, rc;

        cli_start_options();
        c = cli_next_option("checkpoint", checkpoint_usage, argc, argv, opts, &status);
        if (c == 0)
                return status;
        if (argc - optind != 1)
                return cli_usage_error("checkpoint", "expected one region NAME");
        status = cli_ctl_region(argv[optind], &ri);
        if (status != CLI_EXIT_OK)
                return status;
        rc = gc_checkpoint(&ri, &seq);
        if (rc == -ENOTCONN)
                log_err("region '%s' is not mounted (mount it with 'sealsync mount %s DIR')",
                        ri.name, ri.name);
        if (rc != 0)
                return CLI_EXIT_FAIL;
        printf("checkpoint %s: wrote checkpoint %" PRIu64 "\n", ri.name, seq);
        return cli_finish_output();
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
        if (rc == 0 && r.base[0] == '\0' && !a.dry_run) {
                uint64_t seq;
                int crc = gc_checkpoint(&c.ri, &seq);

                if (crc == 0) {
                        if (!a.json)
                                printf(
                                    "gc %s: no checkpoint yet; the mount wrote checkpoint %" PRIu64
                                    "\n",
                                    a.name, seq);
                        rc = gc_region(c.store, &c.ri, c.id, c.st, &o, &r);
                }
        }
        cli_region_release(&c);
        if (rc != 0) {
                log_err("gc %s: %s; what was deleted before stays deleted", a.name, strerror(-rc));
                return CLI_EXIT_FAIL;
        }
        gc_print(&a, &r);
        status = cli_finish_output();
        return status;
}
