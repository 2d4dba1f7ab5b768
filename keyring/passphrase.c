/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Passphrases: from a file, the environment, or the terminal.  Every copy
 * lives in secure memory and is wiped on every path.
 */
#include "keyring/passphrase.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto/secmem.h"
#include "util/log.h"

/* Longest passphrase accepted, bytes (excluding the NUL). */
#define PASSPHRASE_MAX 1023

void passphrase_free(char *pass)
{
        secmem_free(pass); /* sodium_free wipes */
}

/*
 * Reads bytes from FD into BUF (secure, PASSPHRASE_MAX + 1 bytes) up to the
 * first newline or end of file; the newline is dropped, and one '\r' before
 * it too (files written on Windows).  Returns the length, or -EINVAL (empty,
 * too long) or a negative errno.
 */
static volatile sig_atomic_t passphrase_signal; /* set while a prompt is interrupted */

static int passphrase_read_line(int fd, char *buf)
{
        size_t n = 0;
        char c;

        for (;;) {
                ssize_t r = read(fd, &c, 1);

                if (r < 0) {
                        if (errno == EINTR && passphrase_signal == 0)
                                continue;
                        return -errno;
                }
                if (r == 0 || c == '\n')
                        break;
                if (n == PASSPHRASE_MAX)
                        return -EINVAL;
                buf[n++] = c;
        }
        c = 0;
        if (n > 0 && buf[n - 1] == '\r')
                n--;
        buf[n] = '\0';
        if (n == 0 || strlen(buf) != n)
                return -EINVAL; /* empty, or a NUL byte inside */
        return (int)n;
}

static int passphrase_from_file(char *buf, const char *file)
{
        int fd, rc;

        fd = open(file, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                rc = -errno;
                log_err("cannot open passphrase file %s: %s", file, strerror(-rc));
                return rc;
        }
        rc = passphrase_read_line(fd, buf);
        close(fd);
        if (rc == -EINVAL)
                log_err("passphrase file %s: the first line is empty, longer than %d bytes, "
                        "or holds a NUL byte",
                        file, PASSPHRASE_MAX);
        else if (rc < 0)
                log_err("cannot read passphrase file %s: %s", file, strerror(-rc));
        return rc < 0 ? rc : 0;
}

static int passphrase_from_env(char *buf, const char *name, const char *v)
{
        size_t n = strlen(v);

        if (n == 0 || n > PASSPHRASE_MAX) {
                log_err("%s is empty or longer than %d bytes", name, PASSPHRASE_MAX);
                return -EINVAL;
        }
        memcpy(buf, v, n + 1);
        return 0;
}

static void passphrase_on_signal(int sig)
{
        passphrase_signal = sig;
}

/*
 * Asks PROMPT on the terminal FD with echo off.  The echo is restored on
 * every path: a ^C (or TERM, QUIT, ^Z) interrupts the read, restores the
 * terminal and the previous handlers, and is then re-raised.
 */
static int passphrase_ask(int fd, const char *prompt, char *buf)
{
        static const int sigs[] = {SIGINT, SIGTERM, SIGQUIT, SIGTSTP};
        struct sigaction sa, old_sa[sizeof(sigs) / sizeof(sigs[0])];
        struct termios old, noecho;
        size_t i;
        int rc, caught;

        if (tcgetattr(fd, &old) != 0)
                return -ENOTTY;
        noecho = old;
        noecho.c_lflag &= ~(tcflag_t)ECHO;
        noecho.c_lflag |= ECHONL;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = passphrase_on_signal; /* no SA_RESTART: read() returns EINTR */
        sigemptyset(&sa.sa_mask);
        passphrase_signal = 0;
        for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
                if (sigaction(sigs[i], &sa, &old_sa[i]) != 0)
                        abort(); /* only fails for invalid signal numbers */
        if (tcsetattr(fd, TCSAFLUSH, &noecho) != 0) {
                rc = -errno;
                goto out_restore;
        }
        if (write(fd, prompt, strlen(prompt)) < 0)
                rc = -errno;
        else
                rc = passphrase_read_line(fd, buf);
        if (tcsetattr(fd, TCSAFLUSH, &old) != 0 && rc >= 0)
                rc = -errno;
out_restore:
        for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
                sigaction(sigs[i], &old_sa[i], NULL);
        caught = passphrase_signal;
        if (caught != 0) {
                if (write(fd, "\n", 1) < 0) {
                        /* nothing more to do: the terminal state is already restored */
                }
                secmem_wipe(buf, PASSPHRASE_MAX + 1);
                raise(caught);
                rc = -EINTR; /* the signal was handled or ignored: report it */
        }
        return rc < 0 ? rc : 0;
}

static int passphrase_from_tty(char *buf, const char *prompt, int confirm)
{
        char *again = NULL;
        int fd, rc;

        fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -ENOTTY;
        rc = passphrase_ask(fd, prompt, buf);
        if (rc == -EINVAL)
                log_err("empty passphrase, or longer than %d bytes", PASSPHRASE_MAX);
        if (rc != 0 || !confirm)
                goto out_close;
        again = secmem_alloc(PASSPHRASE_MAX + 1);
        if (again == NULL) {
                rc = -ENOMEM;
                goto out_close;
        }
        rc = passphrase_ask(fd, "Repeat passphrase: ", again);
        if (rc == -EINVAL || (rc == 0 && strcmp(buf, again) != 0)) {
                log_err("the passphrases do not match");
                rc = -EINVAL;
        }
        secmem_free(again);
out_close:
        close(fd);
        return rc;
}

int passphrase_get(char **out, const char *file, const char *prompt, int confirm)
{
        return passphrase_get_env(out, file, "SEALSYNC_PASSPHRASE", prompt, confirm);
}

int passphrase_get_env(char **out, const char *file, const char *env_name, const char *prompt,
                       int confirm)
{
        const char *env = env_name != NULL ? getenv(env_name) : NULL;
        char *buf;
        int rc;

        buf = secmem_alloc(PASSPHRASE_MAX + 1);
        if (buf == NULL)
                return -ENOMEM;
        if (file != NULL)
                rc = passphrase_from_file(buf, file);
        else if (env != NULL)
                rc = passphrase_from_env(buf, env_name, env);
        else
                rc = passphrase_from_tty(buf, prompt, confirm);
        if (rc != 0) {
                secmem_free(buf);
                return rc;
        }
        *out = buf;
        return 0;
}

/* Reads FD to its end, wiping what it read (the rest of a command's output). */
static void passphrase_drain(int fd)
{
        char junk[256];
        ssize_t n;

        do
                n = read(fd, junk, sizeof(junk));
        while (n > 0 || (n < 0 && errno == EINTR));
        secmem_wipe(junk, sizeof(junk));
}

/* Waits for PID; 0 if it exited with status 0, else -ECHILD (logged) or a negative errno. */
static int passphrase_wait(pid_t pid, const char *cmd)
{
        int status;

        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;
        if (WIFEXITED(status))
                log_err("passphrase command '%s' exited with status %d", cmd, WEXITSTATUS(status));
        else
                log_err("passphrase command '%s' was killed by signal %d", cmd,
                        WIFSIGNALED(status) ? WTERMSIG(status) : 0);
        return -ECHILD;
}

int passphrase_from_command(char **out, const char *cmd)
{
        int p[2], rc, wrc;
        char *buf;
        pid_t pid;

        buf = secmem_alloc(PASSPHRASE_MAX + 1);
        if (buf == NULL)
                return -ENOMEM;
        if (pipe2(p, O_CLOEXEC) != 0) {
                rc = -errno;
                secmem_free(buf);
                return rc;
        }
        pid = fork();
        if (pid < 0) {
                rc = -errno;
                close(p[0]);
                close(p[1]);
                secmem_free(buf);
                log_err("cannot run passphrase command '%s': %s", cmd, strerror(-rc));
                return rc;
        }
        if (pid == 0) {
                if (dup2(p[1], 1) < 0)
                        _exit(127);
                execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
                _exit(127);
        }
        close(p[1]);
        rc = passphrase_read_line(p[0], buf);
        passphrase_drain(p[0]);
        close(p[0]);
        wrc = passphrase_wait(pid, cmd);
        if (wrc != 0)
                rc = wrc;
        else if (rc < 0)
                log_err("passphrase command '%s': %s", cmd,
                        rc == -EINVAL ? "empty first line, or longer than 1023 bytes"
                                      : strerror(-rc));
        if (rc < 0) {
                secmem_free(buf);
                return rc;
        }
        *out = buf;
        return 0;
}
