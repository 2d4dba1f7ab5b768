/* SPDX-License-Identifier: Apache-2.0 */
#include "sync/s3xml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct s3xml {
        const char *p, *end;
        char path[S3XML_PATH_MAX + 1];
        size_t plen[S3XML_DEPTH_MAX + 1]; /* path length at each depth (plen[0] = 0) */
        int depth;
        int had_child[S3XML_DEPTH_MAX + 1];
        char text[S3XML_TEXT_MAX + 1];
        size_t tlen;
        int has_text; /* non-space text seen in the current element */
        s3xml_cb cb;
        void *arg;
};

int s3_parse_u64(const char *s, size_t n, uint64_t *out)
{
        uint64_t v = 0;
        size_t i;

        if (n == 0 || n > 20)
                return -1;
        for (i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9' || v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
                        return -1;
                v = v * 10 + (uint64_t)(s[i] - '0');
        }
        *out = v;
        return 0;
}

static int x_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int x_name_start(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static int x_name_char(char c)
{
        return x_name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static int x_starts(const struct s3xml *x, const char *s)
{
        size_t n = strlen(s);

        return (size_t)(x->end - x->p) >= n && memcmp(x->p, s, n) == 0;
}

static void x_skip_space(struct s3xml *x)
{
        while (x->p < x->end && x_space(*x->p))
                x->p++;
}

/* A name at x->p: its length (1..S3XML_NAME_MAX), or 0 if there is none or it is too long. */
static size_t x_name(struct s3xml *x)
{
        const char *a = x->p;

        if (a >= x->end || !x_name_start(*a))
                return 0;
        while (x->p < x->end && x_name_char(*x->p))
                x->p++;
        if ((size_t)(x->p - a) > S3XML_NAME_MAX)
                return 0;
        return (size_t)(x->p - a);
}

/* <!-- ... --> at x->p ("--" is not allowed inside). */
static int x_comment(struct s3xml *x)
{
        const char *z;

        x->p += 4;
        for (z = x->p; z + 1 < x->end; z++)
                if (z[0] == '-' && z[1] == '-')
                        break;
        if (z + 2 >= x->end || z[2] != '>')
                return -1;
        x->p = z + 3;
        return 0;
}

/* Appends code point CP as UTF-8 to the text; -1 if it is not a valid XML character. */
static int x_put_cp(struct s3xml *x, uint32_t cp)
{
        char u[4];
        size_t n;

        if (cp == 0 || (cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
            (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe || cp == 0xffff || cp > 0x10ffff)
                return -1;
        if (cp < 0x80) {
                u[0] = (char)cp;
                n = 1;
        } else if (cp < 0x800) {
                u[0] = (char)(0xc0 | cp >> 6);
                u[1] = (char)(0x80 | (cp & 0x3f));
                n = 2;
        } else if (cp < 0x10000) {
                u[0] = (char)(0xe0 | cp >> 12);
                u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
                u[2] = (char)(0x80 | (cp & 0x3f));
                n = 3;
        } else {
                u[0] = (char)(0xf0 | cp >> 18);
                u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
                u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
                u[3] = (char)(0x80 | (cp & 0x3f));
                n = 4;
        }
        if (x->tlen + n > S3XML_TEXT_MAX)
                return -1;
        memcpy(x->text + x->tlen, u, n);
        x->tlen += n;
        return 0;
}

/* &...; at x->p: one of the five entities or a character reference. */
static int x_ref(struct s3xml *x)
{
        static const struct {
                const char *name;
                char c;
        } ents[] = {
            {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
        size_t k, digits = 0;
        uint32_t cp = 0;
        int base = 10;

        for (k = 0; k < sizeof(ents) / sizeof(ents[0]); k++)
                if (x_starts(x, ents[k].name)) {
                        x->p += strlen(ents[k].name);
                        return x_put_cp(x, (unsigned char)ents[k].c);
                }
        if (!x_starts(x, "&#"))
                return -1;
        x->p += 2;
        if (x->p < x->end && *x->p == 'x') {
                base = 16;
                x->p++;
        }
        for (; x->p < x->end && *x->p != ';'; x->p++, digits++) {
                char c = *x->p;
                int v = c >= '0' && c <= '9'                 ? c - '0'
                        : base == 16 && c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : base == 16 && c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                             : -1;

                if (v < 0 || digits >= 8)
                        return -1;
                cp = cp * (uint32_t)base + (uint32_t)v;
        }
        if (digits == 0 || x->p >= x->end)
                return -1;
        x->p++;
        return x_put_cp(x, cp);
}

/* Character data up to the next '<'. */
static int x_text(struct s3xml *x)
{
        while (x->p < x->end && *x->p != '<') {
                char c = *x->p;

                if (c == '&') {
                        if (x_ref(x) != 0)
                                return -1;
                        x->has_text = 1;
                        continue;
                }
                if (c == '>' || c == '\0' || ((unsigned char)c < 0x20 && !x_space(c)))
                        return -1;
                if (!x_space(c))
                        x->has_text = 1;
                if (x->tlen + 1 > S3XML_TEXT_MAX)
                        return -1;
                x->text[x->tlen++] = c;
                x->p++;
        }
        return 0;
}

/* Attributes up to '>' or '/>'; values are checked but not kept. */
static int x_attrs(struct s3xml *x)
{
        for (;;) {
                const char *q;
                char quote;

                x_skip_space(x);
                if (x->p >= x->end)
                        return -1;
                if (*x->p == '>' || *x->p == '/')
                        return 0;
                if (x->p[-1] != ' ' && x->p[-1] != '\t' && x->p[-1] != '\n' && x->p[-1] != '\r')
                        return -1;
                if (x_name(x) == 0)
                        return -1;
                x_skip_space(x);
                if (x->p >= x->end || *x->p != '=')
                        return -1;
                x->p++;
                x_skip_space(x);
                if (x->p >= x->end || (*x->p != '"' && *x->p != '\''))
                        return -1;
                quote = *x->p++;
                q = memchr(x->p, quote, (size_t)(x->end - x->p));
                if (q == NULL || memchr(x->p, '<', (size_t)(q - x->p)) != NULL ||
                    memchr(x->p, '\0', (size_t)(q - x->p)) != NULL)
                        return -1;
                x->p = q + 1;
        }
}

static int x_open(struct s3xml *x)
{
        const char *name;
        size_t nl, at;
        int rc, empty;

        x->p++;
        name = x->p;
        nl = x_name(x);
        if (nl == 0 || x->depth >= S3XML_DEPTH_MAX || x->has_text)
                return -1;
        if (x_attrs(x) != 0)
                return -1;
        empty = *x->p == '/';
        if (empty && (x->p + 1 >= x->end || x->p[1] != '>'))
                return -1;
        x->p += empty ? 2 : 1;
        if (x->depth > 0)
                x->had_child[x->depth] = 1;
        at = x->plen[x->depth];
        if (x->depth > 0)
                x->path[at++] = '/';
        x->depth++;
        memcpy(x->path + at, name, nl);
        x->path[at + nl] = '\0';
        x->plen[x->depth] = at + nl;
        x->had_child[x->depth] = 0;
        x->tlen = 0;
        x->has_text = 0;
        rc = x->cb(x->arg, S3XML_OPEN, x->path, 0, "", 0);
        if (rc != 0 || !empty)
                return rc;
        x->text[0] = '\0';
        rc = x->cb(x->arg, S3XML_CLOSE, x->path, 1, x->text, 0);
        x->depth--;
        x->path[x->plen[x->depth]] = '\0';
        return rc;
}

static int x_close(struct s3xml *x)
{
        const char *name, *own;
        size_t nl, ol;
        int leaf, rc;

        x->p += 2;
        name = x->p;
        nl = x_name(x);
        if (nl == 0 || x->depth == 0)
                return -1;
        ol = x->plen[x->depth] - (x->depth > 1 ? x->plen[x->depth - 1] + 1 : 0);
        own = x->path + x->plen[x->depth] - ol;
        if (nl != ol || memcmp(name, own, nl) != 0)
                return -1;
        x_skip_space(x);
        if (x->p >= x->end || *x->p != '>')
                return -1;
        x->p++;
        leaf = !x->had_child[x->depth];
        if (!leaf && x->has_text)
                return -1; /* mixed content */
        if (!leaf)
                x->tlen = 0;
        x->text[x->tlen] = '\0';
        rc = x->cb(x->arg, S3XML_CLOSE, x->path, leaf, x->text, x->tlen);
        x->depth--;
        x->path[x->plen[x->depth]] = '\0';
        x->tlen = 0;
        x->has_text = 0;
        return rc;
}

/* The optional <?xml ...?> declaration at the very start. */
static int x_decl(struct s3xml *x)
{
        const char *z;

        if (!x_starts(x, "<?xml") || x->end - x->p < 6 || !x_space(x->p[5]))
                return 0;
        z = memmem(x->p, (size_t)(x->end - x->p), "?>", 2);
        if (z == NULL || memchr(x->p + 1, '<', (size_t)(z - x->p - 1)) != NULL ||
            memchr(x->p, '\0', (size_t)(z - x->p)) != NULL)
                return -1;
        x->p = z + 2;
        return 0;
}

int s3xml_parse(const char *doc, size_t n, s3xml_cb cb, void *arg)
{
        struct s3xml *x;
        int rc = 0, roots = 0;

        if (doc == NULL)
                return -1;
        x = calloc(1, sizeof(*x));
        if (x == NULL)
                return -1;
        x->p = doc;
        x->end = doc + n;
        x->cb = cb;
        x->arg = arg;
        if (n >= 3 && memcmp(doc, "\xef\xbb\xbf", 3) == 0)
                x->p += 3;
        x_skip_space(x); /* S3 pads CompleteMultipartUpload replies with leading spaces */
        if (x_decl(x) != 0)
                rc = -1;
        while (rc == 0 && x->p < x->end) {
                if (x->depth == 0) {
                        x_skip_space(x);
                        if (x->p >= x->end)
                                break;
                }
                if (*x->p != '<') {
                        rc = x->depth == 0 ? -1 : x_text(x);
                } else if (x_starts(x, "<!--")) {
                        rc = x_comment(x);
                } else if (x_starts(x, "</")) {
                        rc = x_close(x);
                } else if (x->p + 1 < x->end && x_name_start(x->p[1])) {
                        if (x->depth == 0 && roots++ > 0)
                                rc = -1;
                        else
                                rc = x_open(x);
                } else {
                        rc = -1; /* DOCTYPE, CDATA, processing instruction, stray '<' */
                }
        }
        if (rc == 0 && (x->depth != 0 || roots != 1))
                rc = -1;
        free(x);
        return rc;
}

struct s3xml_find {
        const char *path;
        char *out;
        size_t cap;
        int found, bad;
};

static int s3xml_find_cb(void *arg, enum s3xml_event ev, const char *path, int leaf,
                         const char *text, size_t n)
{
        struct s3xml_find *f = arg;

        if (ev != S3XML_CLOSE || strcmp(path, f->path) != 0)
                return 0;
        if (f->found++ > 0 || !leaf || n + 1 > f->cap) {
                f->bad = 1;
                return 0;
        }
        memcpy(f->out, text, n + 1);
        return 0;
}

int s3xml_get(const char *doc, size_t n, const char *path, char *out, size_t cap)
{
        struct s3xml_find f = {path, out, cap, 0, 0};

        if (cap == 0)
                return -EINVAL;
        out[0] = '\0';
        if (s3xml_parse(doc, n, s3xml_find_cb, &f) != 0 || f.bad) {
                out[0] = '\0';
                return -EINVAL;
        }
        return f.found ? 0 : -ENOENT;
}
