#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Runs every cmocka unit test binary in BUILD/tests; fails if any fails.
set -u
build=${1:-build}
rc=0
for t in "$build"/tests/test_*; do
	[ -x "$t" ] || continue
	echo "# unit: $t"
	if ! (cd "$(dirname "$0")/.." && "$t"); then
		rc=1
	fi
done
exit $rc
