/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the manifest decoders (sync/manifest.c): bytes from
 * the untrusted store (objects) and from other members (metadata records,
 * which a writer can make say anything).  The first input byte selects:
 *   bit 0 clear: the rest is a manifest object.  A decoded object re-encoded
 *                (re-signed with a fixed key) must reproduce every signed byte;
 *                signature and metadata checks must fail cleanly.
 *   bit 0 set:   the rest is a padded metadata record of kind ((b >> 1) % 5) + 1
 *                (file, dir, symlink, tombstone, special).
 *                A decoded record must re-encode to exactly the input.
 * Decoding must never crash, leak, or read out of bounds.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/secmem.h"
#include "crypto/sig.h"
#include "tests/fuzz/fuzz_signer.h"
#include "sync/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_object(const uint8_t *data, size_t size, const uint8_t *pk, const uint8_t *sk)
{
        static const uint8_t epoch_key[32] = {3};
        struct manifest m;
        struct manifest_meta meta;
        uint8_t *out = NULL;
        size_t out_len = 0;

        if (manifest_decode(data, size, &m) != 0)
                return;
        if (m.signed_len + MANIFEST_SIG_LEN != size)
                abort();
        if (manifest_vv_compare(m.vv, m.nvv, m.vv, m.nvv) != MANIFEST_VV_EQUAL)
                abort();
        if (m.nvv > 1 && manifest_vv_compare(m.vv, m.nvv, m.vv, m.nvv - 1) != MANIFEST_VV_DOMINATES)
                abort();
        /* A random signature verifying under our key would be a forgery. */
        if (manifest_verify_sig(data, size, &m, pk) == 0)
                abort();
        if (manifest_open_meta(&m, epoch_key, &meta) == 0)
                manifest_meta_release(&meta);
        if (manifest_encode_sealed(&m, sk, &out, &out_len) != 0)
                abort();
        if (out_len != size || memcmp(out, data, m.signed_len) != 0)
                abort();
        if (manifest_verify_sig(out, out_len, &m, pk) != -EBADMSG) /* other hash */
                abort();
        free(out);
        manifest_release(&m);
}

static void fuzz_meta(const uint8_t *data, size_t size, uint8_t kind)
{
        struct manifest_meta meta;
        uint8_t *out = NULL;
        size_t out_len = 0;

        if (manifest_meta_decode(data, size, kind, &meta) != 0)
                return;
        if (!manifest_name_valid(meta.name, meta.name_len) || meta.name[meta.name_len] != '\0')
                abort();
        if (manifest_meta_encode(&meta, kind, &out, &out_len) != 0)
                abort();
        if (out_len != size || memcmp(out, data, size) != 0)
                abort();
        free(out);
        manifest_meta_release(&meta);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *pk, *sk;

        fuzz_signer(1, &pk, &sk);
        if (size < 1)
                return 0;
        if ((data[0] & 1) == 0)
                fuzz_object(data + 1, size - 1, pk, sk);
        else
                fuzz_meta(data + 1, size - 1, (uint8_t)(((data[0] >> 1) % 5) + 1));
        return 0;
}
