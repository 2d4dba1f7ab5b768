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

#endif
