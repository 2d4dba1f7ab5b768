/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: the fs/ attribute record decoder (bytes from the local index). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fsint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const uint8_t genesis[32];
        struct fs_inode in;
        uint8_t *again = NULL;
        size_t len = 0;

        memset(&in, 0, sizeof(in));
        rangeset_init(&in.blocks);
        if (fs_attr_decode(&in, data, size, genesis) == 0 && size > 0 && data[0] == 7) {
                /* Anything accepted re-encodes to the same bytes (canonical; the current
                 * version 7 only: v2..v6 are upgraded when written again; v7's parent id
                 * of the current version is all zero when not known). */
                if (fs_attr_encode(&in, &again, &len) != 0 || len != size ||
                    memcmp(again, data, size) != 0)
                        abort();
                free(again);
        }
        fs_inode_clear(&in);
        return 0;
}
