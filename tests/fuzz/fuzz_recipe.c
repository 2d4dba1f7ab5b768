/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for pack recipes (sync/recipe.c): the outbox's r-<hash>
 * files, local but untrusted disk input.  An accepted recipe must be
 * re-encoded byte for byte by the builder (one encoding); assembling it
 * from a source of zeros must never crash, and a pack it yields must parse
 * and hash to the recipe's name.  Never crash, leak, or read out of bounds.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hash.h"
#include "crypto/sha256.h"
#include "crypto/secmem.h"
#include "sync/pack.h"
#include "sync/recipe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int zeros(void *arg, const struct recipe_item *it, unsigned attempt, uint8_t *out)
{
        (void)arg;
        if (attempt > 0)
                return -ENOENT;
        memset(out, 0, it->len);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static int ready;
        struct recipe r;
        struct recipe_builder b;
        struct pack_entry *ents = NULL;
        uint8_t *out = NULL, *pack = NULL, h[PACK_HASH_LEN], sha[32], s2[32];
        size_t out_len = 0, n = 0, i;
        uint64_t psize = 0;

        if (!ready) {
                if (secmem_init() != 0)
                        abort();
                ready = 1;
        }
        if (recipe_decode(data, size, &r) != 0)
                return 0;
        if (recipe_peek_size(data, size, &psize) != 0 || psize != r.pack_size)
                abort();
        recipe_builder_init(&b);
        for (i = 0; i < r.n; i++) {
                const struct recipe_item *it = &r.items[i];

                if (it->kind == PACK_KIND_BLOCK)
                        recipe_builder_block(&b, it->file_id, it->off, it->len, it->hash);
                else
                        recipe_builder_inline(&b, it->kind, it->bytes, it->len, it->hash);
        }
        if (recipe_builder_take(&b, r.pack_hash, r.sha256, r.pack_size, &out, &out_len) != 0)
                abort();
        /* Version 2 re-encodes byte for byte (version 1 is read only). */
        if (r.version == 2 && (out_len != size || memcmp(out, data, size) != 0))
                abort();
        free(out);
        recipe_builder_release(&b);
        if (r.version == 2) {
                /* D9: the stream hands out what the first pass assembles, or fails at the end. */
                struct recipe_src src;
                uint8_t *got = malloc(r.pack_size), *want = NULL, wsha[32];
                int src_rc = -1, want_rc;

                if (got == NULL || recipe_src_init(&src, &r, zeros, NULL) != 0)
                        abort();
                src_rc = recipe_src_read(&src, 0, got, r.pack_size / 2);
                if (src_rc == 0)
                        src_rc = recipe_src_read(&src, r.pack_size / 2, got + r.pack_size / 2,
                                                 r.pack_size - r.pack_size / 2);
                recipe_src_release(&src);
                want_rc = recipe_assemble(&r, zeros, NULL, &want, wsha);
                if ((src_rc == 0) != (want_rc == 0) || (src_rc != 0 && src_rc != -EILSEQ) ||
                    (src_rc == 0 && memcmp(got, want, r.pack_size) != 0))
                        abort();
                free(want);
                free(got);
        }
        if (recipe_assemble(&r, zeros, NULL, &pack, sha) == 0) {
                int prc;

                /*
                 * What assembles is the pack the recipe names: its name, the recipe's
                 * SHA-256, and a sound layout.  Its records match their hashes only if
                 * the recipe's checksum was the committer's: a recipe is not
                 * authenticated, and the fuzzer learns the checksum it is compared
                 * with, so a hand-made one yields records that receivers refuse
                 * (-EILSEQ, doc/SYNC.md D8), never a malformed pack or a wrong name.
                 */
                sha256_hash(s2, pack, r.pack_size);
                prc = pack_parse(pack, r.pack_size, &ents, &n);
                if (pack_name(pack, r.pack_size, h) != 0 ||
                    memcmp(h, r.pack_hash, PACK_HASH_LEN) != 0 || memcmp(s2, sha, 32) != 0 ||
                    (r.version == 2 && memcmp(sha, r.sha256, 32) != 0) ||
                    (prc != 0 && prc != -EILSEQ) || (prc == 0 && n != r.n))
                        abort();
                free(ents);
                free(pack);
        }
        recipe_release(&r);
        return 0;
}
