/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_UTIL_LOG_H
#define SEALSYNC_UTIL_LOG_H
/*
 * Logging.  One line per event, written where the error is detected.
 * Never pass secrets, plaintext names or plaintext bytes to these functions:
 * identify files by inode number and file id (hex) only.
 */

#include <stddef.h>

enum log_level { LOG_LEVEL_ERR = 0, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/* Sets the program name and the threshold; LOG_LEVEL_INFO by default. */
void log_init(const char *prog, enum log_level level);

/*
 * Also append every line to the file at PATH (mode 0600), with a timestamp.
 * Returns 0 or a negative errno; on error logging to stderr continues.
 */
int log_open_file(const char *path) __attribute__((warn_unused_result));

/* Stop writing to stderr (after daemonizing); the log file stays. */
void log_quiet_stderr(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 1 if lines of LEVEL are written (to skip building a costly debug line). */
int log_enabled(enum log_level level);

/*
 * The calling thread's last error line (LOG_LEVEL_ERR), for status reports
 * (sync/push.c, sync/pull.c): a worker clears it before an operation and, if
 * the operation failed, takes the line that explains why (e.g. the store's
 * "access denied" message).  log_last_error copies it into BUF (SIZE bytes,
 * truncated) and returns 1, or returns 0 (BUF untouched) if there is none.
 */
void log_last_error_reset(void);
int log_last_error(char *buf, size_t size);

#define log_err(...) log_msg(LOG_LEVEL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
