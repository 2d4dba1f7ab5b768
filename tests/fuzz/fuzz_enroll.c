/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the enrollment parsers (keyring/enroll.c,
 * keyring/member.c): join requests, replies, invitation offers and ADD_DEVICE bodies, all
 * bytes from the untrusted store, and the membership fold over them.
 * Nothing may crash, leak or read out of bounds; a decoded request keeps
 * its exact bytes; a decoded ADD_DEVICE body (history wraps included)
 * re-encodes to exactly its bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/secmem.h"
#include "keyring/enroll.h"
#include "keyring/member.h"
#include "keyring/members.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static int ready;
        static const uint8_t s[ENROLL_SECRET_LEN] = {7};
        struct enroll_request r;
        struct member_add add;
        struct enroll_offer o;
        uint8_t hash[32];
        uint64_t height = 0;

        if (!ready) {
                if (secmem_init() != 0)
                        abort();
                ready = 1;
        }
        if (enroll_request_decode(data, size, &r) == 0) {
                if (r.raw_len != size || memcmp(r.raw, data, size) != 0 || r.mac_off > size)
                        abort();
                (void)enroll_request_verify(&r);
                (void)enroll_request_verify_mac(&r, s);
                (void)enroll_reply_open(data, size, &r, s, hash, &height);
        }
        if (enroll_offer_decode(data, size, &o) == 0 &&
            (o.raw_len != size || memcmp(o.raw, data, size) != 0 ||
             strlen(o.owner) > MEMBER_NAME_MAX))
                abort();
        if (member_decode_add(data, size, &add) == 0) {
                uint8_t *out = NULL;
                size_t len = 0;

                /* One encoding per value: a decoded body re-encodes to the input. */
                if (add.nhist > MEMBER_MAX_HIST || member_body_add(&add, &out, &len) != 0 ||
                    len != size || memcmp(out, data, size) != 0)
                        abort();
                free(out);
                member_add_release(&add);
        }
        return 0;
}
