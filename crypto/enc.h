/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_CRYPTO_ENC_H
#define SEALSYNC_CRYPTO_ENC_H
/*
 * Canonical binary encoding for every signed or stored structure:
 * big-endian fixed-width integers, fixed-length byte strings, and
 * variable-length byte strings as u32be length || bytes.  One value has
 * exactly one encoding; decoders reject trailing bytes and lengths above the
 * caller's bound.  Errors are sticky: check once with enc_error/dec_finish.
 */
#include <stddef.h>
#include <stdint.h>

struct enc {
        uint8_t *buf;
        size_t len;
        size_t cap;
        int err; /* 0 or -ENOMEM / -EOVERFLOW, sticky */
};

void enc_init(struct enc *e);
void enc_release(struct enc *e); /* wipes and frees the buffer */
void enc_u8(struct enc *e, uint8_t v);
void enc_u16(struct enc *e, uint16_t v);
void enc_u32(struct enc *e, uint32_t v);
void enc_u64(struct enc *e, uint64_t v);
void enc_fixed(struct enc *e, const void *p, size_t n);
void enc_var(struct enc *e, const void *p, size_t n); /* n <= UINT32_MAX */
static inline int enc_error(const struct enc *e)
{
        return e->err;
}

struct dec {
        const uint8_t *p;
        size_t len;
        size_t off;
        int err; /* 0 or -EBADMSG, sticky */
};

void dec_init(struct dec *d, const void *p, size_t len);
uint8_t dec_u8(struct dec *d);
uint16_t dec_u16(struct dec *d);
uint32_t dec_u32(struct dec *d);
uint64_t dec_u64(struct dec *d);
void dec_fixed(struct dec *d, void *out, size_t n); /* zero-fills OUT on error */
/* Points *P into the input (no copy); fails if the length exceeds MAX. */
void dec_var(struct dec *d, const uint8_t **p, size_t *n, size_t max);
/* 0 if no error occurred and every byte was consumed, else -EBADMSG. */
int dec_finish(const struct dec *d) __attribute__((warn_unused_result));

#endif
