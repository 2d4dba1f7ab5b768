/* sealsync: command dispatch. */
#include <stdio.h>
#include <string.h>

#include "cli/cmd.h"
#include "util/log.h"

#define SEALSYNC_VERSION "0.1.0"

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
    {"gc", cmd_gc, "delete store objects nothing current needs (after a grace period)"},
    {"recovery-key", cmd_recovery_key, "make a region's recovery key (24 words, shown once)"},
    {"recover", cmd_recover, "enroll this device with a region's recovery key"},
};

static void usage(FILE *f)
{
        size_t i;

        fprintf(f, "usage: sealsync [-h|--help] [--version] COMMAND [ARGS...]\n\n"
                   "End-to-end encrypted sync filesystem.\n\ncommands:\n");
        for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
        fprintf(f, "\n'sealsync COMMAND --help' describes a command.\n"
                   "environment: SEALSYNC_HOME (device directory), SEALSYNC_PASSPHRASE\n");
}

int main(int argc, char **argv)
{
        size_t i;

        log_init("sealsync", LOG_LEVEL_INFO);
        if (argc < 2) {
                usage(stderr);
                return 2;
        }
        if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
            strcmp(argv[1], "help") == 0) {
                usage(stdout);
                return 0;
        }
        if (strcmp(argv[1], "--version") == 0) {
                printf("sealsync %s\n", SEALSYNC_VERSION);
                return 0;
        }
        for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
                if (strcmp(argv[1], commands[i].name) == 0)
                        return commands[i].fn(argc - 1, argv + 1);
        fprintf(stderr, "sealsync: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return 2;
}
