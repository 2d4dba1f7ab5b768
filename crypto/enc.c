/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Canonical binary encoding (see enc.h and doc/FORMAT.md "Canonical
 * encoding").  Encoders append to a growable buffer; decoders read from a
 * caller's buffer.  Both keep the first error and ignore later calls.
 */
#include "crypto/enc.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define ENC_MIN_CAP 64

void enc_init(struct enc *e)
{
        e->buf = NULL;
        e->len = 0;
        e->cap = 0;
        e->err = 0;
}

void enc_release(struct enc *e)
{
        if (e->buf != NULL) {
                sodium_memzero(e->buf, e->cap);
                free(e->buf);
        }
        enc_init(e);
}

/*
 * Reserves N more bytes; returns a pointer to them or NULL (error set).
 * Grows by copying and wiping rather than realloc, so encodings of key
 * material leave no stale copies in freed memory.
 */
static uint8_t *enc_reserve(struct enc *e, size_t n)
{
        size_t need, cap;
        uint8_t *nb;

        if (e->err != 0)
                return NULL;
        if (n > SIZE_MAX - e->len) {
                e->err = -EOVERFLOW;
                return NULL;
        }
        need = e->len + n;
        if (need > e->cap) {
                cap = e->cap ? e->cap : ENC_MIN_CAP;
                while (cap < need) {
                        if (cap > SIZE_MAX / 2) {
                                cap = need;
                                break;
                        }
                        cap *= 2;
                }
                nb = malloc(cap);
                if (nb == NULL) {
                        e->err = -ENOMEM;
                        return NULL;
                }
                if (e->buf != NULL) {
                        memcpy(nb, e->buf, e->len);
                        sodium_memzero(e->buf, e->cap);
                        free(e->buf);
                }
                e->buf = nb;
                e->cap = cap;
        }
        e->len = need;
        return e->buf + need - n;
}

static void enc_be(struct enc *e, uint64_t v, size_t n)
{
        uint8_t *p = enc_reserve(e, n);
        size_t i;

        if (p == NULL)
                return;
        for (i = 0; i < n; i++)
                p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

void enc_u8(struct enc *e, uint8_t v)
{
        enc_be(e, v, 1);
}

void enc_u16(struct enc *e, uint16_t v)
{
        enc_be(e, v, 2);
}

void enc_u32(struct enc *e, uint32_t v)
{
        enc_be(e, v, 4);
}

void enc_u64(struct enc *e, uint64_t v)
{
        enc_be(e, v, 8);
}

void enc_fixed(struct enc *e, const void *p, size_t n)
{
        uint8_t *dst;

        assert(p != NULL || n == 0);
        dst = enc_reserve(e, n);
        if (dst != NULL && n > 0)
                memcpy(dst, p, n);
}

void enc_var(struct enc *e, const void *p, size_t n)
{
        if (e->err != 0)
                return;
        if (n > UINT32_MAX) {
                e->err = -EOVERFLOW;
                return;
        }
        enc_u32(e, (uint32_t)n);
        enc_fixed(e, p, n);
}

void dec_init(struct dec *d, const void *p, size_t len)
{
        d->p = p;
        d->len = p != NULL ? len : 0;
        d->off = 0;
        d->err = 0;
}

/* Consumes N bytes; returns a pointer to them or NULL (error set). */
static const uint8_t *dec_take(struct dec *d, size_t n)
{
        const uint8_t *r;

        if (d->err != 0)
                return NULL;
        if (n > d->len - d->off) {
                d->err = -EBADMSG;
                return NULL;
        }
        r = d->p + d->off;
        d->off += n;
        return r;
}

static uint64_t dec_be(struct dec *d, size_t n)
{
        const uint8_t *p = dec_take(d, n);
        uint64_t v = 0;
        size_t i;

        if (p == NULL)
                return 0;
        for (i = 0; i < n; i++)
                v = (v << 8) | p[i];
        return v;
}

uint8_t dec_u8(struct dec *d)
{
        return (uint8_t)dec_be(d, 1);
}

uint16_t dec_u16(struct dec *d)
{
        return (uint16_t)dec_be(d, 2);
}

uint32_t dec_u32(struct dec *d)
{
        return (uint32_t)dec_be(d, 4);
}

uint64_t dec_u64(struct dec *d)
{
        return dec_be(d, 8);
}

void dec_fixed(struct dec *d, void *out, size_t n)
{
        const uint8_t *p = dec_take(d, n);

        if (n == 0)
                return;
        if (p == NULL)
                memset(out, 0, n);
        else
                memcpy(out, p, n);
}

void dec_var(struct dec *d, const uint8_t **p, size_t *n, size_t max)
{
        const uint8_t *r = NULL;
        uint32_t len;

        *p = NULL;
        *n = 0;
        len = dec_u32(d);
        if (d->err != 0)
                return;
        if (len > max) {
                d->err = -EBADMSG;
                return;
        }
        r = dec_take(d, len);
        if (r == NULL)
                return;
        *p = r;
        *n = len;
}

int dec_finish(const struct dec *d)
{
        if (d->err != 0 || d->off != d->len)
                return -EBADMSG;
        return 0;
}
