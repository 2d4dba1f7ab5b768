/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_KEYRING_PASSPHRASE_H
#define SEALSYNC_KEYRING_PASSPHRASE_H

/*
 * Obtains a passphrase, in this order: the first line of FILE (if FILE is
 * not NULL), $SEALSYNC_PASSPHRASE, else PROMPT on /dev/tty without echo
 * (asked twice when CONFIRM, which must match).  *OUT is secure memory,
 * freed with passphrase_free.  Returns 0, -ENOTTY (no source available),
 * -EINVAL (empty, or confirmation mismatch), or a negative errno reading FILE.
 * Every error but -ENOTTY has been logged (the caller knows what to advise).
 */
int passphrase_get(char **out, const char *file, const char *prompt, int confirm)
    __attribute__((warn_unused_result));

/*
 * passphrase_get with another environment variable: ENV names the variable
 * read instead of SEALSYNC_PASSPHRASE (NULL: none, straight to the
 * terminal).  Same results.
 */
int passphrase_get_env(char **out, const char *file, const char *env, const char *prompt,
                       int confirm) __attribute__((warn_unused_result));

/*
 * Runs CMD with /bin/sh -c (stdin and stderr inherited) and takes the first
 * line of its standard output as the passphrase (the rest is read and
 * discarded; every buffer is wiped).  *OUT is secure memory, freed with
 * passphrase_free.  Returns 0; -EINVAL (empty or too long first line),
 * -ECHILD (CMD exited non-zero or was killed), or a negative errno; every
 * error has been logged, naming CMD.
 */
int passphrase_from_command(char **out, const char *cmd) __attribute__((warn_unused_result));

void passphrase_free(char *pass); /* wipes; NULL is a no-op */

#endif
