/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for packs (sync/pack.c): whole packs and trailers from
 * the untrusted store.  An accepted pack must be rebuilt byte for byte by
 * the builder from its records; the trailer parser must agree with the full
 * parser; every record must pass pack_record_check.  Never crash, leak, or
 * read out of bounds.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/secmem.h"
#include "sync/pack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static int ready;
        struct pack_entry *ents = NULL, *tents = NULL;
        struct pack_builder b;
        uint8_t *out = NULL, hash[PACK_HASH_LEN];
        size_t n = 0, tn = 0, i, out_len = 0, need = 0;
        int trc;

        if (!ready) {
                if (secmem_init() != 0)
                        abort();
                ready = 1;
        }
        trc = size >= 4 ? pack_parse_trailer(data, size, size, &tents, &tn, &need) : -EBADMSG;
        /* The whole pack as the tail: the trailer can never be longer. */
        if (trc == -EAGAIN)
                abort();
        if (pack_parse(data, size, &ents, &n) != 0) {
                free(tents);
                return 0;
        }
        /* A whole valid pack has a valid trailer describing the same records. */
        if (trc != 0 || tn != n)
                abort();
        for (i = 0; i < n; i++)
                if (tents[i].kind != ents[i].kind || tents[i].off != ents[i].off ||
                    tents[i].len != ents[i].len ||
                    memcmp(tents[i].hash, ents[i].hash, PACK_HASH_LEN) != 0)
                        abort();
        pack_builder_init(&b);
        for (i = 0; i < n; i++) {
                struct pack_entry e;

                if (pack_record_check(ents[i].kind, data + ents[i].off, ents[i].len,
                                      ents[i].hash) != 0)
                        abort();
                if (pack_builder_add(&b, ents[i].kind, data + ents[i].off, ents[i].len, &e) != 0)
                        abort();
                if (e.kind != ents[i].kind || e.off != ents[i].off || e.len != ents[i].len ||
                    memcmp(e.hash, ents[i].hash, PACK_HASH_LEN) != 0)
                        abort();
        }
        if (pack_builder_finish(&b, &out, &out_len, hash) != 0)
                abort();
        /* The builder writes version 2: the same bytes after the magic, and the name
         * pack_name gives them (of a version-1 input, its own name is all its bytes'). */
        if (out_len != size ||
            memcmp(out + PACK_MAGIC_LEN, data + PACK_MAGIC_LEN, size - PACK_MAGIC_LEN) != 0)
                abort();
        {
                uint8_t name[PACK_HASH_LEN], want[PACK_HASH_LEN];

                if (pack_name(out, out_len, name) != 0 || memcmp(name, hash, PACK_HASH_LEN) != 0)
                        abort();
                if (pack_name(data, size, name) != 0)
                        abort();
                if (memcmp(data, PACK_MAGIC, PACK_MAGIC_LEN) == 0) {
                        if (memcmp(name, hash, PACK_HASH_LEN) != 0)
                                abort();
                } else {
                        hash_blake2b(want, data, size);
                        if (memcmp(name, want, PACK_HASH_LEN) != 0)
                                abort();
                }
        }
        free(out);
        pack_builder_release(&b);
        free(tents);
        free(ents);
        return 0;
}
