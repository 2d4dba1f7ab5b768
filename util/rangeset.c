/* SPDX-License-Identifier: Apache-2.0 */
#include "util/rangeset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void rangeset_init(struct rangeset *s)
{
        s->r = NULL;
        s->n = 0;
        s->cap = 0;
}

void rangeset_release(struct rangeset *s)
{
        free(s->r);
        rangeset_init(s);
}

/* Index of the first range whose end >= V (binary search). */
static size_t rangeset_lower(const struct rangeset *s, uint64_t v)
{
        size_t lo = 0, hi = s->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (s->r[mid].end < v)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return lo;
}

int rangeset_contains(const struct rangeset *s, uint64_t v)
{
        size_t i = rangeset_lower(s, v + 1 == 0 ? v : v + 1);

        if (v == UINT64_MAX)
                return s->n > 0 && s->r[s->n - 1].end == UINT64_MAX;
        /* i: first range with end >= v+1, i.e. end > v. */
        return i < s->n && s->r[i].start <= v;
}

static int rangeset_reserve(struct rangeset *s, size_t need)
{
        struct range *r;
        size_t cap;

        if (need <= s->cap)
                return 0;
        cap = s->cap ? s->cap * 2 : 4;
        while (cap < need)
                cap *= 2;
        r = realloc(s->r, cap * sizeof(*r));
        if (r == NULL)
                return -ENOMEM;
        s->r = r;
        s->cap = cap;
        return 0;
}

int rangeset_add(struct rangeset *s, uint64_t start, uint64_t end)
{
        size_t i, j;

        if (start >= end)
                return 0;
        /* First range that touches or follows [start, end): end >= start. */
        i = rangeset_lower(s, start);
        /* Ranges i..j-1 overlap or are adjacent to [start, end]. */
        j = i;
        while (j < s->n && s->r[j].start <= end)
                j++;
        if (i == j) {
                if (rangeset_reserve(s, s->n + 1) != 0)
                        return -ENOMEM;
                memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof(*s->r));
                s->r[i].start = start;
                s->r[i].end = end;
                s->n++;
                return 0;
        }
        if (s->r[i].start < start)
                start = s->r[i].start;
        if (s->r[j - 1].end > end)
                end = s->r[j - 1].end;
        s->r[i].start = start;
        s->r[i].end = end;
        memmove(&s->r[i + 1], &s->r[j], (s->n - j) * sizeof(*s->r));
        s->n -= j - i - 1;
        return 0;
}

void rangeset_truncate(struct rangeset *s, uint64_t from)
{
        while (s->n > 0 && s->r[s->n - 1].start >= from)
                s->n--;
        if (s->n > 0 && s->r[s->n - 1].end > from)
                s->r[s->n - 1].end = from;
}

int rangeset_remove(struct rangeset *s, uint64_t start, uint64_t end)
{
        size_t i, j;

        if (start >= end)
                return 0;
        /* First range with end > start. */
        i = rangeset_lower(s, start);
        if (i < s->n && s->r[i].end == start)
                i++;
        if (i == s->n || s->r[i].start >= end)
                return 0;
        if (s->r[i].start < start && s->r[i].end > end) {
                /* Split r[i] into [r.start, start) and [end, r.end). */
                if (rangeset_reserve(s, s->n + 1) != 0)
                        return -ENOMEM;
                memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof(*s->r));
                s->r[i].end = start;
                s->r[i + 1].start = end;
                s->n++;
                return 0;
        }
        if (s->r[i].start < start) {
                s->r[i].end = start;
                i++;
        }
        for (j = i; j < s->n && s->r[j].end <= end; j++)
                ;
        if (j < s->n && s->r[j].start < end)
                s->r[j].start = end;
        memmove(&s->r[i], &s->r[j], (s->n - j) * sizeof(*s->r));
        s->n -= j - i;
        return 0;
}

int rangeset_within(const struct rangeset *a, const struct rangeset *b)
{
        size_t i, j = 0;

        for (i = 0; i < a->n; i++) {
                while (j < b->n && b->r[j].end <= a->r[i].start)
                        j++;
                if (j == b->n || b->r[j].start > a->r[i].start || b->r[j].end < a->r[i].end)
                        return 0;
        }
        return 1;
}

uint64_t rangeset_count(const struct rangeset *s)
{
        uint64_t n = 0;
        size_t i;

        for (i = 0; i < s->n; i++)
                n += s->r[i].end - s->r[i].start;
        return n;
}

int rangeset_next(const struct rangeset *s, uint64_t v, uint64_t *out)
{
        size_t i = rangeset_lower(s, v);

        if (i < s->n && s->r[i].end == v)
                i++;
        if (i == s->n)
                return 0;
        *out = s->r[i].start > v ? s->r[i].start : v;
        return 1;
}

int rangeset_copy(struct rangeset *dst, const struct rangeset *src)
{
        rangeset_init(dst);
        if (src->n == 0)
                return 0;
        if (rangeset_reserve(dst, src->n) != 0)
                return -ENOMEM;
        memcpy(dst->r, src->r, src->n * sizeof(*src->r));
        dst->n = src->n;
        return 0;
}

int rangeset_validate(const struct range *r, size_t n)
{
        size_t i;

        for (i = 0; i < n; i++) {
                if (r[i].start >= r[i].end)
                        return -EBADMSG;
                if (i > 0 && r[i - 1].end >= r[i].start)
                        return -EBADMSG;
        }
        return 0;
}
