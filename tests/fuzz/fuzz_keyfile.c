/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the device key file parser (keyring/identity.c).
 * Parses as identity_load_public and as identity_load without a passphrase
 * (a protected file then stops before Argon2id, keeping runs fast; an
 * unprotected one is opened, covering the AEAD and key checks).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "crypto/secmem.h"
#include "keyring/identity.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static int ready;
        struct identity *id = NULL;

        if (!ready) {
                if (secmem_init() != 0)
                        abort();
                ready = 1;
        }
        if (identity_parse_keyfile(data, size, 0, NULL, &id) == 0) {
                if (id->sign_sk != NULL)
                        abort();
                identity_free(id);
                id = NULL;
        }
        if (identity_parse_keyfile(data, size, 1, NULL, &id) == 0) {
                if (id->sign_sk == NULL || id->box_sk == NULL || id->local_key == NULL)
                        abort();
                identity_free(id);
        }
        return 0;
}
