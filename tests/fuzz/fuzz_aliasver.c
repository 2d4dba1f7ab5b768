/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: a merged directory's version ("aliasver") state decoder (bytes from the local index).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fsint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct fs_aliasver a;

        if (fs_aliasver_decode(data, size, &a) == 0) {
                if (a.nvv > FS_MAX_VV || (a.nvv > 0 && a.vv == NULL))
                        abort();
                for (size_t i = 1; i < a.nvv; i++)
                        if (memcmp(a.vv[i - 1].device_id, a.vv[i].device_id, 16) >= 0)
                                abort();
                free(a.vv);
        }
        return 0;
}
