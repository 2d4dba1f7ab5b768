/* SPDX-License-Identifier: Apache-2.0 */
/*
 * renameat2 FLAG OLD NEW: rename(2) with flags, for the integration tests
 * (coreutils' mv cannot ask for RENAME_EXCHANGE).  FLAG is one of none,
 * noreplace, exchange.  Exit 0 on success; on failure prints
 * "renameat2: OLD -> NEW: <strerror>" on stderr and exits 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

int main(int argc, char **argv)
{
        unsigned int flags;

        if (argc != 4) {
                fprintf(stderr, "usage: renameat2 none|noreplace|exchange OLD NEW\n");
                return 2;
        }
        if (strcmp(argv[1], "none") == 0)
                flags = 0;
        else if (strcmp(argv[1], "noreplace") == 0)
                flags = RENAME_NOREPLACE;
        else if (strcmp(argv[1], "exchange") == 0)
                flags = RENAME_EXCHANGE;
        else {
                fprintf(stderr, "renameat2: unknown flag '%s'\n", argv[1]);
                return 2;
        }
        if (syscall(SYS_renameat2, AT_FDCWD, argv[2], AT_FDCWD, argv[3], flags) != 0) {
                int e = errno;
                fprintf(stderr, "renameat2: %s -> %s: %s\n", argv[2], argv[3], strerror(e));
                return 1;
        }
        return 0;
}
