/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: the remembered-deletion ("gone") state decoder (bytes from the local index). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fsint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct fs_gone g;

        if (fs_gone_decode(data, size, &g) == 0) {
                if (g.name_len > 255 || g.name[g.name_len] != '\0')
                        abort();
                free(g.vv);
        }
        return 0;
}
