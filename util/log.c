/* SPDX-License-Identifier: Apache-2.0 */
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *log_prog = "sealsync";
static enum log_level log_threshold = LOG_LEVEL_INFO;
static int log_fd = -1;
static int log_stderr = 1;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local char log_last[512]; /* this thread's last error line, "" if none */

void log_init(const char *prog, enum log_level level)
{
        log_prog = prog;
        log_threshold = level;
}

int log_enabled(enum log_level level)
{
        return level <= log_threshold;
}

int log_open_file(const char *path)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

        if (fd < 0)
                return -errno;
        pthread_mutex_lock(&log_lock);
        if (log_fd >= 0)
                close(log_fd);
        log_fd = fd;
        pthread_mutex_unlock(&log_lock);
        return 0;
}

void log_quiet_stderr(void)
{
        log_stderr = 0;
}

static const char *log_level_name(enum log_level level)
{
        switch (level) {
        case LOG_LEVEL_ERR:
                return "error";
        case LOG_LEVEL_WARN:
                return "warning";
        case LOG_LEVEL_INFO:
                return "info";
        default:
                return "debug";
        }
}

void log_msg(enum log_level level, const char *fmt, ...)
{
        char line[1024];
        char stamp[64];
        va_list ap;
        struct timespec ts;
        struct tm tm;
        int n;

        if (level > log_threshold)
                return;
        va_start(ap, fmt);
        n = vsnprintf(line, sizeof(line), fmt, ap);
        va_end(ap);
        if (n < 0)
                return;
        if (level == LOG_LEVEL_ERR) {
                size_t len = strnlen(line, sizeof(log_last) - 1);

                memcpy(log_last, line, len); /* truncated: it is a summary */
                log_last[len] = '\0';
        }
        pthread_mutex_lock(&log_lock);
        if (log_stderr)
                fprintf(stderr, "%s: %s%s%s\n", log_prog,
                        level <= LOG_LEVEL_WARN ? log_level_name(level) : "",
                        level <= LOG_LEVEL_WARN ? ": " : "", line);
        if (log_fd >= 0) {
                clock_gettime(CLOCK_REALTIME, &ts);
                gmtime_r(&ts.tv_sec, &tm);
                strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
                dprintf(log_fd, "%s.%03ldZ %s[%d] %s: %s\n", stamp, ts.tv_nsec / 1000000L, log_prog,
                        (int)getpid(), log_level_name(level), line);
        }
        pthread_mutex_unlock(&log_lock);
}

void log_last_error_reset(void)
{
        log_last[0] = '\0';
}

int log_last_error(char *buf, size_t size)
{
        if (log_last[0] == '\0' || size == 0)
                return 0;
        snprintf(buf, size, "%s", log_last);
        return 1;
}
