/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_CLI_CMD_H
#define SEALSYNC_CLI_CMD_H
/*
 * Subcommands.  Each takes argv with argv[0] = the subcommand name and
 * returns the process exit status: 0 success, 1 failure (one clear message
 * already printed on stderr), 2 usage error.
 */

int cmd_init(int argc, char **argv);
int cmd_id(int argc, char **argv);
int cmd_passwd(int argc, char **argv);
int cmd_create(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_umount(int argc, char **argv);
int cmd_invite(int argc, char **argv);
int cmd_join(int argc, char **argv);
int cmd_requests(int argc, char **argv);
int cmd_approve(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_alarms(int argc, char **argv);
int cmd_sync(int argc, char **argv);
int cmd_conflicts(int argc, char **argv);
int cmd_pin(int argc, char **argv);
int cmd_members(int argc, char **argv);
int cmd_log(int argc, char **argv);
int cmd_revoke(int argc, char **argv);
int cmd_rotate(int argc, char **argv);
int cmd_role(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_rekey(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_checkpoint(int argc, char **argv);
int cmd_recovery_key(int argc, char **argv);
int cmd_recover(int argc, char **argv);
int cmd_forget(int argc, char **argv);

#endif
