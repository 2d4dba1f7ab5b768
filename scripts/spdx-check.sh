#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Checks the licence lines of the tracked source files (`make spdx-check`).
#
# Fails, listing them, if any tracked source file (.c .h .sh .t .py .pml,
# Makefile) lacks an "SPDX-License-Identifier: Apache-2.0" line in its first
# 3 lines (3, so a #! line and an editor line may come first).  Run from
# anywhere inside the git checkout.
set -eu
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
# shellcheck disable=SC2016 # $f belongs to the inner sh
missing=$(git ls-files -z -- '*.c' '*.h' '*.sh' '*.t' '*.py' '*.pml' 'Makefile' '*/Makefile' |
        xargs -0 -r sh -c 'for f; do
                [ -f "$f" ] || continue
                head -n 3 -- "$f" | grep -q "SPDX-License-Identifier: Apache-2.0" || printf "%s\n" "$f"
        done' spdx-check)
if [ -n "$missing" ]; then
        printf '%s\n' "$missing"
        echo "spdx-check: $(printf '%s\n' "$missing" | wc -l) file(s) above lack 'SPDX-License-Identifier: Apache-2.0' in their first 3 lines" >&2
        exit 1
fi
echo "spdx-check: every tracked source file carries the Apache-2.0 SPDX line"
