/* SPDX-License-Identifier: Apache-2.0 */
/* The device directory; see home.h. */
#include "keyring/home.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keyring/member.h"
#include "util/fileio.h"

/* An unset or empty variable counts as unset (as the XDG spec says). */
static const char *home_env(const char *name)
{
        const char *v = getenv(name);

        return v != NULL && v[0] != '\0' ? v : NULL;
}

int home_dir(char *out, size_t outlen)
{
        const char *v;
        int n;

        if ((v = home_env("SEALSYNC_HOME")) != NULL)
                n = snprintf(out, outlen, "%s", v);
        else if ((v = home_env("XDG_DATA_HOME")) != NULL)
                n = snprintf(out, outlen, "%s/sealsync", v);
        else if ((v = home_env("HOME")) != NULL)
                n = snprintf(out, outlen, "%s/.local/share/sealsync", v);
        else
                return -ENOENT;
        if (n < 0 || (size_t)n >= outlen)
                return -ENAMETOOLONG;
        return 0;
}

/* HOME/owner into PATH (PATHLEN bytes): 0 or -ENAMETOOLONG. */
static int home_owner_path(const char *home, char *path, size_t pathlen)
{
        int n = snprintf(path, pathlen, "%s/owner", home);

        return n < 0 || (size_t)n >= pathlen ? -ENAMETOOLONG : 0;
}

int home_owner_load(const char *home, char out[static HOME_OWNER_MAX + 1])
{
        char path[4096], name[HOME_OWNER_MAX + 2];
        uint8_t *buf = NULL;
        size_t len = 0;
        int rc;

        rc = home_owner_path(home, path, sizeof(path));
        if (rc == 0)
                rc = fileio_read_all(path, HOME_OWNER_MAX + 1, &buf, &len);
        if (rc == -EFBIG)
                return -EBADMSG;
        if (rc != 0)
                return rc;
        /* Exactly NAME "\n": no NUL, no second line. */
        rc = len >= 2 && buf[len - 1] == '\n' && memchr(buf, '\0', len) == NULL ? 0 : -EBADMSG;
        if (rc == 0) {
                memcpy(name, buf, len - 1);
                name[len - 1] = '\0';
                if (!member_name_valid(name))
                        rc = -EBADMSG;
        }
        free(buf);
        if (rc == 0)
                memcpy(out, name, len);
        return rc;
}

int home_owner_save(const char *home, const char *owner)
{
        char path[4096], line[HOME_OWNER_MAX + 2];
        int rc, n;

        if (!member_name_valid(owner))
                return -EINVAL;
        rc = home_owner_path(home, path, sizeof(path));
        if (rc != 0)
                return rc;
        n = snprintf(line, sizeof(line), "%s\n", owner);
        if (n < 0 || (size_t)n >= sizeof(line))
                return -EINVAL;
        return fileio_write_atomic(path, line, (size_t)n, 0600, 0);
}
