/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_KEYRING_HOME_H
#define SEALSYNC_KEYRING_HOME_H
#include <stddef.h>

/*
 * The device directory: $SEALSYNC_HOME, else $XDG_DATA_HOME/sealsync, else
 * $HOME/.local/share/sealsync.  Returns 0, -ENOENT (none of the variables
 * set) or -ENAMETOOLONG.
 */
int home_dir(char *out, size_t outlen) __attribute__((warn_unused_result));

/* Largest owner name (member_name_valid: 1..64 printable ASCII). */
#define HOME_OWNER_MAX 64

/*
 * The owner name of this device directory, HOME/owner (`sealsync init
 * --owner`): the user the regions this device creates belong to.  One line,
 * a member_name_valid name and a newline; not secret (members see it).
 * home_owner_load writes it to OUT (HOME_OWNER_MAX + 1 bytes).  Returns 0,
 * -ENOENT (no such file: the owner is the device's name), -EBADMSG (not one
 * valid name), or another negative errno; OUT is untouched on failure.
 */
int home_owner_load(const char *home, char out[static HOME_OWNER_MAX + 1])
    __attribute__((warn_unused_result));

/* Writes OWNER to HOME/owner atomically (0600).  0, -EINVAL (invalid name) or -errno. */
int home_owner_save(const char *home, const char *owner) __attribute__((warn_unused_result));

#endif
