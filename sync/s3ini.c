/* SPDX-License-Identifier: Apache-2.0 */
#include "sync/s3ini.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"

static int ini_blank(char c)
{
        return c == ' ' || c == '\t';
}

/* Whether [K, KE) (spaces trimmed) is SECTION. */
static int ini_section_is(const char *k, const char *ke, const char *section)
{
        while (k < ke && ini_blank(*k))
                k++;
        while (ke > k && ini_blank(ke[-1]))
                ke--;
        return (size_t)(ke - k) == strlen(section) && memcmp(k, section, (size_t)(ke - k)) == 0;
}

static struct s3ini_key *ini_key(struct s3ini_key *keys, size_t nkeys, const char *a, size_t n)
{
        size_t i;

        for (i = 0; i < nkeys; i++)
                if (strlen(keys[i].name) == n && strncasecmp(a, keys[i].name, n) == 0)
                        return &keys[i];
        return NULL;
}

int s3ini_parse(const char *path, const char *doc, size_t n, const char *section, int nested_ok,
                struct s3ini_key *keys, size_t nkeys)
{
        const char *p = doc, *end = doc + n, *nl, *a, *z, *eq, *k, *ke;
        int line = 0, in = 0, found = 0;
        struct s3ini_key *dst;
        size_t i;

        for (i = 0; i < nkeys; i++)
                keys[i].set = 0;
        for (; p < end; p = nl + 1) {
                line++;
                nl = memchr(p, '\n', (size_t)(end - p));
                if (nl == NULL)
                        nl = end;
                a = p;
                z = nl;
                while (a < z && ini_blank(*a))
                        a++;
                while (z > a && (ini_blank(z[-1]) || z[-1] == '\r'))
                        z--;
                if (memchr(p, '\0', (size_t)(nl - p)) != NULL)
                        goto bad;
                if (a == z || *a == '#' || *a == ';')
                        continue;
                if (a != p) {
                        if (nested_ok)
                                continue; /* a nested "s3 =" block's line: not ours */
                        goto bad;
                }
                if (*a == '[') {
                        if (z[-1] != ']' || z - a < 3)
                                goto bad;
                        in = ini_section_is(a + 1, z - 1, section);
                        found |= in;
                        continue;
                }
                eq = memchr(a, '=', (size_t)(z - a));
                if (eq == NULL || eq == a)
                        goto bad;
                if (!in)
                        continue;
                ke = eq;
                while (ke > a && ini_blank(ke[-1]))
                        ke--;
                k = eq + 1;
                while (k < z && ini_blank(*k))
                        k++;
                dst = ini_key(keys, nkeys, a, (size_t)(ke - a));
                if (dst == NULL)
                        continue; /* output, ...: not ours */
                if (dst->set) {
                        log_err("%s:%d: duplicate key in [%s]", path, line, section);
                        goto refused;
                }
                dst->v = k;
                dst->n = (size_t)(z - k);
                dst->set = 1;
        }
        return found ? 0 : -ENOENT;
bad:
        log_err("%s:%d: malformed line (expected [section], key = value, or a # comment)", path,
                line);
refused:
        for (i = 0; i < nkeys; i++)
                keys[i].set = 0; /* nothing of a refused document is used */
        return -EINVAL;
}
