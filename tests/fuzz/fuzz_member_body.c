/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the body decoders of ROTATE_KEY, REMOVE_DEVICE,
 * SET_ROLE and POLICY (keyring/member.c), which the fold runs on bytes from
 * the untrusted store.  The first byte picks the decoder.  Decoding must
 * never crash, leak or read out of bounds, and one value has one encoding:
 * a decoded body re-encodes to exactly the input.  Rotations: u8 flags with
 * bit 0 (has_link) the only one known; without it no link bytes follow and
 * the decoded link stays zero.  SET_ROLE: the legacy 17-byte body, or the
 * 57-byte one with a journal reference (cutoff or resume) whose seq is 0
 * exactly when its hash is all zeros.  POLICY: max_key_age and the history
 * byte.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyring/member.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Aborts unless R's link is all zero when it has none. */
static void link_absent_zero(const struct member_rotation *r)
{
        static const uint8_t zero[MEMBER_LINK_LEN];

        if ((r->has_link != 0 && r->has_link != 1) ||
            (!r->has_link && memcmp(r->link, zero, MEMBER_LINK_LEN) != 0))
                abort();
}

/* Aborts unless the encoding (RC, then *OUT of *LEN bytes, freed here) equals WANT (N bytes). */
static void same(int rc, uint8_t **out, const size_t *len, const uint8_t *want, size_t n)
{
        if (rc != 0 || *len != n || memcmp(*out, want, n) != 0)
                abort();
        free(*out);
        *out = NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct member_rotation rot;
        struct member_remove rm;
        struct member_set_role sr;
        struct member_policy po;
        const uint8_t *p = data + 1;
        uint8_t *out = NULL;
        size_t n = size - 1, len = 0;

        if (size < 1)
                return 0;
        switch (data[0] % 4) {
        case 0:
                if (member_decode_rotation(p, n, &rot) == 0) {
                        link_absent_zero(&rot);
                        same(member_body_rotation(&rot, &out, &len), &out, &len, p, n);
                        member_rotation_release(&rot);
                }
                break;
        case 1:
                if (member_decode_remove(p, n, &rm) == 0) {
                        link_absent_zero(&rm.rot);
                        same(member_body_remove(&rm, &out, &len), &out, &len, p, n);
                        member_rotation_release(&rm.rot);
                }
                break;
        case 2:
                if (member_decode_set_role(p, n, &sr) == 0) {
                        if (sr.has_journal != (n == MEMBER_SET_ROLE_LEN))
                                abort();
                        same(member_body_set_role(&sr, &out, &len), &out, &len, p, n);
                }
                break;
        default:
                if (member_decode_policy(p, n, &po) == 0) {
                        if (po.history > MEMBER_HISTORY_OWNER)
                                abort();
                        same(member_body_policy(&po, &out, &len), &out, &len, p, n);
                }
                break;
        }
        return 0;
}
