/* SPDX-License-Identifier: Apache-2.0 */
/* sealsync: command dispatch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd.h"
#include "cli/version.h"
#include "util/log.h"

struct command {
        const char *name;
        int (*fn)(int argc, char **argv);
        const char *summary;
};

static const struct command commands[] = {
    {"init", cmd_init, "create this device's identity (keys)"},
    {"id", cmd_id, "show this device's id and fingerprint"},
    {"passwd", cmd_passwd, "change the passphrase of this device's keys"},
    {"create", cmd_create, "create a region (a synced folder)"},
    {"list", cmd_list, "list this device's regions"},
    {"mount", cmd_mount, "mount a region"},
    {"umount", cmd_umount, "unmount a region"},
    {"status", cmd_status, "show the sync state of regions (queue, errors, alarms)"},
    {"alarms", cmd_alarms, "list or clear a region's lasting alarms"},
    {"conflicts", cmd_conflicts, "list the conflict copies of a mounted region"},
    {"sync", cmd_sync, "sync a mounted region now and wait until it is done"},
    {"pin", cmd_pin, "keep a subtree of a mounted region fully local (offline use)"},
    {"invite", cmd_invite, "invite a new device into a region (one-time code)"},
    {"join", cmd_join, "join a region with an invite code (on the new device)"},
    {"requests", cmd_requests, "list the join requests of a region"},
    {"approve", cmd_approve, "approve a device's join request"},
    {"members", cmd_members, "list a region's verified members"},
    {"log", cmd_log, "show a region's verified membership and key history"},
    {"revoke", cmd_revoke, "remove a device from a region and rotate the key"},
    {"rotate", cmd_rotate, "make a new region key (key rotation)"},
    {"role", cmd_role, "change a device's role (reader, writer, admin)"},
    {"rekey", cmd_rekey, "re-encrypt every file under the current key now"},
    {"policy", cmd_policy, "show or set a region's policy (max_key_age)"},
    {"verify", cmd_verify, "check every object of a region on the store (like fsck)"},
    {"checkpoint", cmd_checkpoint, "have the mount write a checkpoint now (gc needs one)"},
    {"gc", cmd_gc, "delete store objects nothing current needs (after a grace period)"},
    {"recovery-key", cmd_recovery_key, "make a region's recovery key (24 words, shown once)"},
    {"recover", cmd_recover, "enroll this device with a region's recovery key"},
    {"forget", cmd_forget, "drop a region from this device (local data and keys; not the store)"},
    {"help", NULL, "describe a command: 'sealsync help COMMAND' = 'sealsync COMMAND --help'"},
    {"version", NULL, "print the version (as --version)"},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
        size_t i;

        fprintf(f, "usage: sealsync [-h|--help] [--version] COMMAND [ARGS...]\n"
                   "       sealsync help [COMMAND]\n\n"
                   "End-to-end encrypted sync filesystem.\n\ncommands:\n");
        for (i = 0; i < N_COMMANDS; i++)
                fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
        fprintf(f, "\n'sealsync COMMAND --help' describes a command.\n"
                   "environment: SEALSYNC_HOME (device directory), SEALSYNC_PASSPHRASE\n");
}

static const char help_usage[] =
    "usage: sealsync help [COMMAND]\n"
    "\n"
    "Without COMMAND, list the commands.  With one, print exactly what\n"
    "'sealsync COMMAND --help' prints.\n";

static const char version_usage[] =
    "usage: sealsync version\n"
    "       sealsync --version\n"
    "\n"
    "Print 'sealsync VERSION', or 'sealsync VERSION (COMMIT)' for a build from a\n"
    "git checkout (COMMIT as 'git describe --always --dirty' named it).\n";

/* Prints TEXT on stdout; 0, or 1 (logged) if stdout cannot be written. */
static int print_text(const char *text)
{
        fputs(text, stdout);
        if (fflush(stdout) != 0 || ferror(stdout)) {
                log_err("cannot write to standard output");
                return 1;
        }
        return 0;
}

static int is_help_option(const char *arg)
{
        return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

/* The entry of command NAME with a handler, or NULL. */
static const struct command *find_command(const char *name)
{
        size_t i;

        for (i = 0; i < N_COMMANDS; i++)
                if (commands[i].fn != NULL && strcmp(name, commands[i].name) == 0)
                        return &commands[i];
        return NULL;
}

/*
 * `sealsync version` / `--version` (ARGC, ARGV from the command on): prints
 * the version line, or its usage for --help.
 */
static int version(int argc, char **argv)
{
        if (argc == 2 && is_help_option(argv[1]))
                return print_text(version_usage);
        if (argc > 1) {
                fprintf(stderr,
                        "sealsync version: takes no arguments\nTry 'sealsync help version'.\n");
                return 2;
        }
        printf("sealsync %s\n", sealsync_version);
        return print_text("");
}

/*
 * `sealsync help [COMMAND]` (ARGC, ARGV from "help" on): without COMMAND the
 * command list; with one, exactly what `sealsync COMMAND --help` prints.
 */
static int help(int argc, char **argv)
{
        const struct command *c;
        char *help_argv[3];

        if (argc < 2) {
                usage(stdout);
                return print_text("");
        }
        if (argc > 2) {
                fprintf(stderr, "sealsync help: takes one command\nTry 'sealsync help help'.\n");
                return 2;
        }
        if (strcmp(argv[1], "help") == 0 || is_help_option(argv[1]))
                return print_text(help_usage);
        if (strcmp(argv[1], "version") == 0)
                return print_text(version_usage);
        c = find_command(argv[1]);
        if (c == NULL) {
                fprintf(stderr, "sealsync: unknown command '%s'\n", argv[1]);
                usage(stderr);
                return 2;
        }
        help_argv[0] = argv[1];
        help_argv[1] = (char *)"--help";
        help_argv[2] = NULL;
        return c->fn(2, help_argv);
}

int main(int argc, char **argv)
{
        const struct command *c;

        /* SEALSYNC_DEBUG=1: debug lines too (a mount's log then traces every commit and
         * every remote version decided, by file id and inode number: never names) */
        log_init("sealsync",
                 getenv("SEALSYNC_DEBUG") != NULL && strcmp(getenv("SEALSYNC_DEBUG"), "1") == 0
                     ? LOG_LEVEL_DEBUG
                     : LOG_LEVEL_INFO);
        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        if (is_help_option(argv[1]))
                return help(1, argv + 1);
        if (strcmp(argv[1], "help") == 0)
                return help(argc - 1, argv + 1);
        if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0)
                return version(argc - 1, argv + 1);
        c = find_command(argv[1]);
        if (c != NULL)
                return c->fn(argc - 1, argv + 1);
        fprintf(stderr, "sealsync: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return 2;
}
