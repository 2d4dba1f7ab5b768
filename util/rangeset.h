/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_UTIL_RANGESET_H
#define SEALSYNC_UTIL_RANGESET_H
/*
 * A set of uint64 values kept as sorted, disjoint, non-adjacent half-open
 * ranges [start, end).  fs/ uses it for the blocks of a file that are
 * present (everything else below the file size is an explicit hole).
 *
 * Invariants: r[i].start < r[i].end; r[i].end < r[i+1].start.
 */
#include <stddef.h>
#include <stdint.h>

struct range {
        uint64_t start;
        uint64_t end;
};

struct rangeset {
        struct range *r;
        size_t n;
        size_t cap;
};

void rangeset_init(struct rangeset *s);
void rangeset_release(struct rangeset *s);

/* 1 if V is in the set. */
int rangeset_contains(const struct rangeset *s, uint64_t v);

/* Adds [START, END).  Returns 0 or -ENOMEM (set unchanged). */
int rangeset_add(struct rangeset *s, uint64_t start, uint64_t end)
    __attribute__((warn_unused_result));

/* Removes every value >= FROM. */
void rangeset_truncate(struct rangeset *s, uint64_t from);

/* Copies SRC into DST (initialised).  Returns 0 or -ENOMEM. */
int rangeset_copy(struct rangeset *dst, const struct rangeset *src)
    __attribute__((warn_unused_result));

/* Removes [START, END).  Returns 0 or -ENOMEM (a range split in two; set unchanged). */
int rangeset_remove(struct rangeset *s, uint64_t start, uint64_t end)
    __attribute__((warn_unused_result));

/* 1 if every value of A is in B. */
int rangeset_within(const struct rangeset *a, const struct rangeset *b);

/* Number of values in the set. */
uint64_t rangeset_count(const struct rangeset *s);

/* The smallest value >= V in the set into *OUT: 1, or 0 if there is none. */
int rangeset_next(const struct rangeset *s, uint64_t v, uint64_t *out);

/* Checks the invariants of N ranges (for decoders of stored bytes): 0 or -EBADMSG. */
int rangeset_validate(const struct range *r, size_t n) __attribute__((warn_unused_result));

#endif
