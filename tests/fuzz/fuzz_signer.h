/* SPDX-License-Identifier: Apache-2.0 */
#ifndef SEALSYNC_TESTS_FUZZ_SIGNER_H
#define SEALSYNC_TESTS_FUZZ_SIGNER_H
/*
 * For the harnesses of signed objects, which re-sign what they decode: a
 * fixed Ed25519 key pair from a one-byte seed, made on the first call (the
 * secure-memory setup too).  *PK and *SK point at the pair.
 */
#include <stdint.h>
#include <stdlib.h>

#include "crypto/secmem.h"
#include "crypto/sig.h"

static void fuzz_signer(uint8_t seed0, const uint8_t **pk, const uint8_t **sk)
{
        static int ready;
        static uint8_t p[SIG_PK_LEN], s[SIG_SK_LEN];
        const uint8_t seed[SIG_SEED_LEN] = {seed0};

        if (!ready) {
                if (secmem_init() != 0 || sig_keypair_seed(p, s, seed) != 0)
                        abort();
                ready = 1;
        }
        *pk = p;
        *sk = s;
}

#endif
