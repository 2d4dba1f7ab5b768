/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the membership-entry decoder (keyring/member.c):
 * bytes from the untrusted store.  Decoding must never crash, leak or read
 * out of bounds.  One value, one encoding: a decoded GENESIS re-encoded
 * (and re-signed with a fixed key) must reproduce the signed bytes exactly.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <string.h>

#include "crypto/secmem.h"
#include "crypto/sig.h"
#include "tests/fuzz/fuzz_signer.h"
#include "keyring/member.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *pk, *sk;
        struct member_entry *e = NULL;
        uint8_t *out = NULL;
        size_t out_len = 0;

        fuzz_signer(1, &pk, &sk);
        if (member_decode(data, size, &e) != 0)
                return 0;
        if (e->raw_len != size || e->signed_len + MEMBER_SIG_LEN != size)
                abort();
        if (e->type == MEMBER_GENESIS) {
                /* Exercises the lookups and the semantic checks on decoded data. */
                (void)member_find(&e->genesis, e->author);
                (void)member_find_wrap(&e->genesis.epoch, e->author);
                if (member_verify_genesis(e) == 0 && e->genesis.nmembers == 0)
                        abort();
                if (member_encode(e, sk, &out, &out_len) != 0)
                        abort();
                if (out_len != size || memcmp(out, data, size - MEMBER_SIG_LEN) != 0)
                        abort();
                free(out);
        }
        member_entry_free(e);
        return 0;
}
