/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Acknowledgements: canonical encoding, strict decoding, signatures, object
 * keys.  See ack.h and doc/FORMAT-sync.md "Acknowledgement".
 */
#include "sync/ack.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/enc.h"
#include "crypto/hash.h"
#include "crypto/sig.h"
#include "util/hex.h"

#define ACK_SIG_TYPE "ack"
#define ACK_KEY_MID "/ack/"
#define ACK_KEY_MID_LEN 5

/* ---- invariants 1-2, shared by encoder and decoder ---- */

static int ack_check(const struct ack *a)
{
        size_t i;

        if (a->version != ACK_VERSION || a->counter == 0)
                return -EBADMSG;
        if (a->nmarks > ACK_MAX_MARKS || (a->nmarks > 0 && a->marks == NULL))
                return -EBADMSG;
        for (i = 0; i < a->nmarks; i++) {
                if (a->marks[i].seq == 0)
                        return -EBADMSG;
                if (i > 0 && memcmp(a->marks[i - 1].device_id, a->marks[i].device_id,
                                    ACK_DEVICE_ID_LEN) >= 0)
                        return -EBADMSG;
        }
        return 0;
}

/* ---- encoding ---- */

static void ack_enc_signed(struct enc *d, const struct ack *a)
{
        size_t i;

        enc_u8(d, a->version);
        enc_fixed(d, a->region_id, ACK_ID_LEN);
        enc_fixed(d, a->device_id, ACK_DEVICE_ID_LEN);
        enc_u64(d, a->counter);
        enc_u64(d, a->time_s);
        enc_u32(d, (uint32_t)a->nmarks);
        for (i = 0; i < a->nmarks; i++) {
                enc_fixed(d, a->marks[i].device_id, ACK_DEVICE_ID_LEN);
                enc_u64(d, a->marks[i].seq);
                enc_fixed(d, a->marks[i].hash, ACK_HASH_LEN);
        }
}

int ack_encode_sign(const struct ack *a, const uint8_t sign_sk[static 64], uint8_t **out,
                    size_t *out_len)
{
        struct enc d;

        if (ack_check(a) != 0)
                return -EINVAL;
        enc_init(&d);
        ack_enc_signed(&d, a);
        return sig_finish_enc(&d, sign_sk, ACK_SIG_TYPE, ACK_MAX_SIZE, out, out_len);
}

/* ---- decoding ---- */

int ack_decode(const uint8_t *buf, size_t len, struct ack *out)
{
        struct ack t;
        struct dec d;
        size_t i;
        int rc = -EBADMSG;

        if (buf == NULL || len < ACK_FIXED_LEN || len > ACK_MAX_SIZE)
                return -EBADMSG;
        memset(&t, 0, sizeof(t));
        dec_init(&d, buf, len - ACK_SIG_LEN);
        t.version = dec_u8(&d);
        if (t.version != ACK_VERSION)
                goto fail;
        dec_fixed(&d, t.region_id, ACK_ID_LEN);
        dec_fixed(&d, t.device_id, ACK_DEVICE_ID_LEN);
        t.counter = dec_u64(&d);
        t.time_s = dec_u64(&d);
        t.nmarks = dec_u32(&d);
        /* The count against its bound and the bytes left, before allocating. */
        if (d.err != 0 || t.nmarks > ACK_MAX_MARKS || t.nmarks != (d.len - d.off) / ACK_MARK_LEN ||
            (d.len - d.off) % ACK_MARK_LEN != 0) {
                t.nmarks = 0;
                goto fail;
        }
        if (t.nmarks > 0 && (t.marks = calloc(t.nmarks, sizeof(*t.marks))) == NULL) {
                t.nmarks = 0;
                rc = -ENOMEM;
                goto fail;
        }
        for (i = 0; i < t.nmarks; i++) {
                dec_fixed(&d, t.marks[i].device_id, ACK_DEVICE_ID_LEN);
                t.marks[i].seq = dec_u64(&d);
                dec_fixed(&d, t.marks[i].hash, ACK_HASH_LEN);
        }
        if (dec_finish(&d) != 0 || ack_check(&t) != 0)
                goto fail;
        memcpy(t.sig, buf + len - ACK_SIG_LEN, ACK_SIG_LEN);
        hash_blake2b(t.hash, buf, len);
        *out = t;
        return 0;

fail:
        ack_release(&t);
        return rc;
}

int ack_verify_sig(const uint8_t *buf, size_t len, const uint8_t sign_pk[static 32])
{
        int rc;

        if (buf == NULL || len < ACK_FIXED_LEN || len > ACK_MAX_SIZE)
                return -EBADMSG;
        rc = sig_verify(buf + len - ACK_SIG_LEN, sign_pk, ACK_SIG_TYPE, buf, len - ACK_SIG_LEN);
        if (rc == -ENOMEM)
                return rc;
        return rc == 0 ? 0 : -EBADMSG;
}

int ack_open(const uint8_t *buf, size_t len, const uint8_t region_id[static ACK_ID_LEN],
             const uint8_t device_id[static ACK_DEVICE_ID_LEN], const uint8_t sign_pk[static 32],
             struct ack *out)
{
        struct ack t;
        int rc;

        rc = ack_decode(buf, len, &t);
        if (rc != 0)
                return rc;
        if (memcmp(t.region_id, region_id, ACK_ID_LEN) != 0 ||
            memcmp(t.device_id, device_id, ACK_DEVICE_ID_LEN) != 0) {
                ack_release(&t);
                return -EBADMSG;
        }
        rc = ack_verify_sig(buf, len, sign_pk);
        if (rc != 0) {
                ack_release(&t);
                return rc;
        }
        *out = t;
        return 0;
}

const struct ack_mark *ack_find(const struct ack *a,
                                const uint8_t device_id[static ACK_DEVICE_ID_LEN])
{
        size_t lo = 0, hi = a->nmarks;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int c = memcmp(a->marks[mid].device_id, device_id, ACK_DEVICE_ID_LEN);

                if (c == 0)
                        return &a->marks[mid];
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

void ack_release(struct ack *a)
{
        if (a == NULL)
                return;
        free(a->marks);
        memset(a, 0, sizeof(*a));
}

/* ---- object keys ---- */

int ack_object_key(const char *region_hex, const uint8_t *device_id, char out[static ACK_KEY_SIZE])
{
        char dev[2 * ACK_DEVICE_ID_LEN + 1] = "";
        int n;

        if (region_hex == NULL || strnlen(region_hex, 2 * ACK_ID_LEN + 1) != 2 * ACK_ID_LEN ||
            hex_decode_lower(NULL, ACK_ID_LEN, region_hex) != 0)
                return -EINVAL;
        if (device_id != NULL)
                hex_encode(dev, device_id, ACK_DEVICE_ID_LEN);
        n = snprintf(out, ACK_KEY_SIZE, "%s" ACK_KEY_MID "%s", region_hex, dev);
        return n == (device_id != NULL ? ACK_KEY_LEN : ACK_PREFIX_LEN) ? 0 : -EINVAL;
}

int ack_parse_key(const char *key, uint8_t *region_id, uint8_t device_id[static ACK_DEVICE_ID_LEN])
{
        uint8_t rid[ACK_ID_LEN], dev[ACK_DEVICE_ID_LEN];
        const char *p = key;

        if (key == NULL || strnlen(key, ACK_KEY_SIZE) != ACK_KEY_LEN)
                return -EINVAL;
        if (hex_decode_lower(rid, sizeof(rid), p) != 0)
                return -EINVAL;
        p += 2 * sizeof(rid);
        if (memcmp(p, ACK_KEY_MID, ACK_KEY_MID_LEN) != 0)
                return -EINVAL;
        p += ACK_KEY_MID_LEN;
        if (hex_decode_lower(dev, sizeof(dev), p) != 0)
                return -EINVAL;
        if (region_id != NULL)
                memcpy(region_id, rid, sizeof(rid));
        memcpy(device_id, dev, sizeof(dev));
        return 0;
}
