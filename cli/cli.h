/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_CLI_CLI_H
#define SEALSYNC_CLI_CLI_H
/*
 * Helpers shared by the subcommands (cli/cmd_*.c): usage errors, help and
 * output flushing, device-directory setup, identity loading and JSON strings.
 *
 * Every function returning an exit status returns one of CLI_EXIT_* (the
 * contract of cli/cmd.h).  Messages go through log_err, so they carry the
 * program name; none carries a secret.
 */
#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

struct identity;
struct member_device;

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1 /* one clear message already on stderr */
#define CLI_EXIT_USAGE 2

/*
 * Reports a usage error of subcommand CMD, the one style of every command:
 * "sealsync CMD: MSG" and "Try 'sealsync help CMD'." on stderr.  Returns
 * CLI_EXIT_USAGE.
 */
int cli_usage_error(const char *cmd, const char *msg);

/*
 * Reports getopt_long's '?' (unknown option) or ':' (missing argument),
 * given as C, for subcommand CMD whose arguments are ARGV, as
 * cli_usage_error: "unknown option '--x'" or "missing value for --x" (the
 * option as given, without any "=VALUE").  Reads optind and optopt, so call
 * it right after getopt_long returned C.  Returns CLI_EXIT_USAGE.
 */
int cli_bad_option(const char *cmd, int c, char **argv);

/*
 * Reports option --NAME as unknown to subcommand CMD (a shared option table
 * holds options only some of its commands take), as cli_bad_option does.
 * Returns CLI_EXIT_USAGE.
 */
int cli_unknown_option(const char *cmd, const char *name);

/*
 * Starts parsing a subcommand's arguments: the next cli_next_option() call
 * looks at argv[1] and getopt prints nothing itself.
 */
void cli_start_options(void);

/*
 * Returns the next option of ARGV for subcommand CMD (getopt_long with the
 * long options OPTS, which name "help" as 'h', and the short option -h):
 * - the option's value (> 0, optarg set) for the caller to handle;
 * - -1 after the last option: optind indexes the first operand;
 * - 0 when the command is over, with its exit status in *STATUS: --help
 *   printed USAGE (see cli_help), or an unknown option or a missing argument
 *   was reported (see cli_bad_option).
 * *STATUS is untouched unless 0 is returned.
 */
int cli_next_option(const char *cmd, const char *usage, int argc, char **argv,
                    const struct option *opts, int *status);

/*
 * Prints USAGE on stdout.  Returns CLI_EXIT_OK, or CLI_EXIT_FAIL if stdout
 * cannot be flushed (nothing is logged then).
 */
int cli_help(const char *usage);

/*
 * Flushes stdout at the end of a command's output.  Returns CLI_EXIT_OK, or
 * logs "cannot write to standard output" and returns CLI_EXIT_FAIL if a write
 * failed: a failed write is a failed command.
 */
int cli_finish_output(void);

/*
 * Initialises the crypto library and writes the device directory (see
 * home_dir) to HOME, HOMELEN bytes.  Returns CLI_EXIT_OK, or logs why and
 * returns CLI_EXIT_FAIL (HOME's contents are then unspecified).
 */
int cli_setup(char *home, size_t homelen);

/*
 * Logs one message for RC, a negative errno from identity_load*() or
 * identity_has_passphrase() on the identity in HOME.  -EPERM logs nothing:
 * it was logged where detected.
 */
void cli_identity_error(int rc, const char *home);

/*
 * Loads the identity in HOME with its secrets into *OUT, asking for the
 * passphrase (from PASS_FILE, SEALSYNC_PASSPHRASE or the terminal; see
 * passphrase_get) only if the key is protected.  Returns 0, or logs once and
 * returns a negative errno; *OUT is untouched on failure.  The caller frees
 * *OUT with identity_free().
 */
int cli_load_identity(const char *home, const char *pass_file, struct identity **out)
    __attribute__((warn_unused_result));

/*
 * Writes S to stdout as a JSON string: escapes quotes, backslashes and
 * control characters; replaces each byte of invalid or non-shortest-form
 * UTF-8 with U+FFFD, so the output is always valid JSON.  Write errors are
 * left for cli_finish_output() to report.
 */
void cli_json_str(const char *s);

/*
 * The schema version of every --json output (doc/CLI.md "JSON"): the first key
 * of each object a command prints at the top level, or of each element when it
 * prints an array.  Raised when a key changes meaning or goes away; new keys
 * keep it.
 */
#define CLI_JSON_VERSION 1

/* Writes `{"version":N,` to stdout: the start of a top-level --json object. */
void cli_json_open(void);

/*
 * Writes T (Unix seconds) to stdout as a JSON string in RFC 3339 UTC,
 * "2026-12-06T20:00:00Z", or `null` when T is 0 (unknown) or not a date.
 * Every time in --json output goes through it.
 */
void cli_json_time(uint64_t t);

/* ROLE from "reader", "writer" or "admin" (never recovery).  0 or -EINVAL. */
int cli_role_parse(const char *s, uint8_t *role) __attribute__((warn_unused_result));

/* "reader", "writer", "admin", "recovery", or "unknown" for another ROLE. */
const char *cli_role_name(uint8_t role);

/* The key-history policy HISTORY as `policy` names it: "all" or "owner". */
const char *cli_history_name(uint8_t history);

/*
 * Writes D's fingerprint (identity_fingerprint: 6 words joined by '-') to
 * OUT (OUTLEN bytes, >= 128).  Returns 0, or -1 with "?" in OUT.
 */
int cli_fingerprint(const struct member_device *d, char *out, size_t outlen);

/* T (Unix seconds) as "YYYY-MM-DD HH:MM:SS UTC" into OUT, else as the number. */
void cli_format_time(uint64_t t, char *out, size_t outlen);

/*
 * Parses a duration: digits and at most one unit of s, m, h, d or w
 * (seconds without), from 1 s to MAX seconds, into *OUT.  0 or -EINVAL.
 */
int cli_parse_duration(const char *s, uint64_t max, uint64_t *out)
    __attribute__((warn_unused_result));

/* As cli_parse_duration, also accepting 0 ("0", "0s", "0m", ...): 0 or -EINVAL. */
int cli_parse_duration0(const char *s, uint64_t max, uint64_t *out)
    __attribute__((warn_unused_result));

#endif
