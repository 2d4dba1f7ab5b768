/* SPDX-License-Identifier: Apache-2.0 */
/* The device directory; see home.h. */
#include "keyring/home.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

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
