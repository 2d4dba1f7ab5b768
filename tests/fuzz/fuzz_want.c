/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer: the displaced-name ("want") state decoder (bytes from the local index). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs/fsint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct fs_want w;

        if (fs_want_decode(data, size, &w) == 0) {
                if (w.name_len == 0 || w.name_len > 255 || w.name[w.name_len] != '\0' ||
                    strlen(w.name) != w.name_len || w.shown_len == 0 || w.shown_len > 255 ||
                    strlen(w.shown) != w.shown_len)
                        abort();
        }
        return 0;
}
