/* SPDX-License-Identifier: Apache-2.0 */
/*
 * verify: checks every object of a region on the store and reports the
 * problems, like fsck (sync/verify.h says what is checked).  Read-only:
 * nothing is written to the store or to the device directory.
 *
 * Output (doc/CLI.md): a summary line per category (objects checked,
 * problems), then one line per problem; --json one object.  Exit 0 when
 * clean, 1 with problems (or when the run failed: message on stderr), 2
 * on usage errors.  On a terminal, stderr shows how many objects were
 * checked so far.
 */
#include "cli/cmd.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_region.h"
#include "keyring/identity.h"
#include "keyring/region.h"
#include "sync/store.h"
#include "sync/verify.h"
#include "util/hex.h"
#include "util/log.h"

#define VF_KEEP_MAX 10000         /* problems kept for the output; the rest are counted */
#define VF_PROGRESS_NS 200000000L /* at most 5 progress updates a second */

static const char verify_usage[] =
    "usage: sealsync verify NAME [--json] [--passphrase-file FILE]\n"
    "\n"
    "Check every object of region NAME on its store, like fsck: the membership\n"
    "log and this device's keys of every epoch, every device's journal (hash,\n"
    "signature, chain, gaps, roles, revocation), the packs and manifests the\n"
    "entries name (signatures, epochs, metadata opened in memory, block\n"
    "references), acknowledgements, and junk.  Reads the store only; writes\n"
    "nothing.  Prints a summary line per category, then one line per problem\n"
    "(kind, object, device, what is wrong).  Exit 0 when clean, 1 with\n"
    "problems.  --json prints one object.\n";

struct vf_problem {
        enum verify_cat cat;
        char kind[24];
        char *object;
        char device[33];
        uint64_t seq;
        char *text;
};

struct vf_run {
        const char *name;
        int json;
        int tty; /* progress on stderr */
        struct timespec last;
        int shown; /* a progress line is on the terminal */
        struct vf_problem *v;
        size_t n, cap;
        uint64_t total; /* problems, also those not kept */
};

static int vf_parse(int argc, char **argv, int *json, const char **pass_file, const char **name)
{
        static const struct option opts[] = {
            {"json", no_argument, NULL, 'j'},
            {"passphrase-file", required_argument, NULL, 'p'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        int c, status;

        cli_start_options();
        while ((c = cli_next_option("verify", verify_usage, argc, argv, opts, &status)) > 0) {
                if (c == 'j')
                        *json = 1;
                else
                        *pass_file = optarg;
        }
        if (c == 0)
                return status;
        if (optind + 1 != argc)
                return cli_usage_error("verify", optind == argc ? "missing region NAME"
                                                                : "unexpected argument");
        *name = argv[optind];
        return -1;
}

/* ---- callbacks ---- */

static void vf_progress_clear(struct vf_run *r)
{
        if (r->shown)
                fputs("\r\033[K", stderr);
        r->shown = 0;
}

static void vf_progress(void *arg, uint64_t checked)
{
        struct vf_run *r = arg;
        struct timespec now;

        if (!r->tty || clock_gettime(CLOCK_MONOTONIC, &now) != 0)
                return;
        if ((now.tv_sec - r->last.tv_sec) * 1000000000L + (now.tv_nsec - r->last.tv_nsec) <
            VF_PROGRESS_NS)
                return;
        r->last = now;
        fprintf(stderr, "\rverify %s: %" PRIu64 " objects checked, %" PRIu64 " problems", r->name,
                checked, r->total);
        r->shown = 1;
}

/* A copy of S with every byte that is not printable ASCII as '?' (keys come from the store). */
static char *vf_printable(const char *s)
{
        char *c = strdup(s);
        size_t i;

        for (i = 0; c != NULL && c[i] != '\0'; i++)
                if ((unsigned char)c[i] < 0x20 || (unsigned char)c[i] > 0x7e)
                        c[i] = '?';
        return c;
}

static void vf_problem(void *arg, const struct verify_problem *p)
{
        struct vf_run *r = arg;
        struct vf_problem *q;

        r->total++;
        if (r->n == VF_KEEP_MAX)
                return;
        if (r->n == r->cap) {
                size_t cap = r->cap ? 2 * r->cap : 16;

                q = realloc(r->v, cap * sizeof(*q));
                if (q == NULL)
                        return; /* counted, not kept */
                r->v = q;
                r->cap = cap;
        }
        q = &r->v[r->n];
        memset(q, 0, sizeof(*q));
        q->object = vf_printable(p->object);
        q->text = vf_printable(p->text);
        if (q->object == NULL || q->text == NULL) {
                free(q->object);
                free(q->text);
                return;
        }
        q->cat = p->cat;
        snprintf(q->kind, sizeof(q->kind), "%s", p->kind);
        snprintf(q->device, sizeof(q->device), "%s", p->device);
        q->seq = p->seq;
        r->n++;
}

static void vf_run_release(struct vf_run *r)
{
        size_t i;

        for (i = 0; i < r->n; i++) {
                free(r->v[i].object);
                free(r->v[i].text);
        }
        free(r->v);
}

/* ---- output ---- */

/* The detail shown after a category's counts ("" for most). */
static void vf_detail(const struct verify_counts *c, enum verify_cat cat, char *out, size_t size)
{
        out[0] = '\0';
        if (cat == VERIFY_JOURNALS)
                snprintf(out, size, "  (%" PRIu64 " devices)", c->devices);
        else if (cat == VERIFY_PACKS)
                snprintf(out, size,
                         "  (%" PRIu64 " more not named by any entry, %" PRIu64 " collected by gc)",
                         c->unreferenced_packs, c->collected);
        else if (cat == VERIFY_EPOCHS && c->withheld_epochs > 0)
                snprintf(out, size,
                         "  (%" PRIu64 " from before this device's enrollment, "
                         "withheld by the key-history policy)",
                         c->withheld_epochs);
        else if (cat == VERIFY_MANIFESTS && c->withheld_manifests > 0)
                snprintf(out, size,
                         "  (%" PRIu64 " under withheld epochs: not readable here "
                         "until a rekey)",
                         c->withheld_manifests);
        else if (cat == VERIFY_OTHER)
                snprintf(out, size,
                         "  (invites %" PRIu64 ", join requests %" PRIu64 ", replies %" PRIu64
                         ": listed, not checked)",
                         c->invites, c->joins, c->replies);
}

static void vf_text(const struct vf_run *r, const struct region_info *ri,
                    const struct verify_counts *c)
{
        char rid[65], detail[160];
        const struct vf_problem *p;
        size_t i;

        hex_encode(rid, ri->id, 32);
        printf("region %s (%s), store %s\n", ri->name, rid, ri->store_url);
        for (i = 0; i < VERIFY_NCATS; i++) {
                vf_detail(c, (enum verify_cat)i, detail, sizeof(detail));
                printf("  %-10s checked %-8" PRIu64 " problems %" PRIu64 "%s\n",
                       verify_cat_name((enum verify_cat)i), c->checked[i], c->problems[i], detail);
        }
        for (i = 0; i < r->n; i++) {
                p = &r->v[i];
                printf("%s %s device %s seq %" PRIu64 ": %s\n", p->kind,
                       p->object[0] ? p->object : "-", p->device[0] ? p->device : "-", p->seq,
                       p->text);
        }
        if (r->total > r->n)
                printf("(%" PRIu64 " more problems not shown)\n", r->total - r->n);
        if (r->total == 0)
                printf("verify %s: clean\n", ri->name);
        else
                printf("verify %s: %" PRIu64 " problem%s\n", ri->name, r->total,
                       r->total == 1 ? "" : "s");
}

/* "KEY":"S" or "KEY":null when S is empty. */
static void vf_json_opt(const char *key, const char *s)
{
        printf(",\"%s\":", key);
        if (s[0] != '\0')
                cli_json_str(s);
        else
                fputs("null", stdout);
}

static void vf_json(const struct vf_run *r, const struct region_info *ri,
                    const struct verify_counts *c)
{
        char rid[65];
        const struct vf_problem *p;
        size_t i;

        hex_encode(rid, ri->id, 32);
        cli_json_open();
        fputs("\"region\":", stdout);
        cli_json_str(ri->name);
        printf(",\"region_id\":\"%s\",\"store\":", rid);
        cli_json_str(ri->store_url);
        printf(",\"clean\":%s,\"problem_count\":%" PRIu64 ",\"counts\":{",
               r->total == 0 ? "true" : "false", r->total);
        for (i = 0; i < VERIFY_NCATS; i++)
                printf("%s\"%s\":{\"checked\":%" PRIu64 ",\"problems\":%" PRIu64 "}",
                       i > 0 ? "," : "", verify_cat_name((enum verify_cat)i), c->checked[i],
                       c->problems[i]);
        printf("},\"devices\":%" PRIu64 ",\"unreferenced_packs\":%" PRIu64 ",\"invites\":%" PRIu64
               ",\"joins\":%" PRIu64 ",\"replies\":%" PRIu64 ",\"checkpoints\":%" PRIu64
               ",\"collected_packs\":%" PRIu64 ",\"withheld_epochs\":%" PRIu64
               ",\"withheld_manifests\":%" PRIu64 ",\"problems\":[",
               c->devices, c->unreferenced_packs, c->invites, c->joins, c->replies, c->checkpoints,
               c->collected, c->withheld_epochs, c->withheld_manifests);
        for (i = 0; i < r->n; i++) {
                p = &r->v[i];
                printf("%s{\"kind\":\"%s\",\"category\":\"%s\"", i > 0 ? "," : "", p->kind,
                       verify_cat_name(p->cat));
                vf_json_opt("object", p->object);
                vf_json_opt("device", p->device);
                printf(",\"seq\":%" PRIu64 ",\"text\":", p->seq);
                cli_json_str(p->text);
                putchar('}');
        }
        fputs("]}\n", stdout);
}

/* ---- the command ---- */

/* Opens region NAME's record, store and identity, and runs the checks into R and *C. */
static int vf_run(struct vf_run *r, const char *pass_file, struct region_info *ri,
                  struct verify_counts *c)
{
        static const struct verify_ops ops = {.problem = vf_problem, .progress = vf_progress};
        char home[PATH_MAX];
        struct identity *id = NULL;
        struct store *st = NULL;
        int rc;

        if (cli_setup(home, sizeof(home)) != CLI_EXIT_OK)
                return -EINVAL;
        rc = cli_region_info(home, r->name, ri);
        if (rc == 0)
                rc = cli_open_store(ri->store_url, &st);
        if (rc == 0) {
                rc = store_check_ro(st, ri->id, ri->genesis_hash); /* verify writes nothing */
                if (rc != 0)
                        cli_store_check_error(ri->store_url, rc);
        }
        if (rc == 0)
                rc = cli_load_identity(home, pass_file, &id);
        if (rc == 0) {
                rc = verify_region(st, ri, id, &ops, r, c);
                vf_progress_clear(r);
                if (rc != 0)
                        log_err("verify %s: the check could not finish: %s", ri->name,
                                strerror(-rc));
        }
        identity_free(id);
        store_close(st);
        return rc;
}

int cmd_verify(int argc, char **argv)
{
        struct vf_run r;
        struct region_info ri;
        struct verify_counts c;
        const char *pass_file = NULL;
        int json = 0, status;

        memset(&r, 0, sizeof(r));
        status = vf_parse(argc, argv, &json, &pass_file, &r.name);
        if (status >= 0)
                return status;
        r.json = json;
        r.tty = isatty(STDERR_FILENO);
        if (vf_run(&r, pass_file, &ri, &c) != 0) {
                vf_run_release(&r);
                return CLI_EXIT_FAIL;
        }
        if (json)
                vf_json(&r, &ri, &c);
        else
                vf_text(&r, &ri, &c);
        status = cli_finish_output();
        if (status == CLI_EXIT_OK && r.total > 0)
                status = CLI_EXIT_FAIL;
        vf_run_release(&r);
        return status;
}
