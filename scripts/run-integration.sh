#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# scripts/run-integration.sh [TEST.t...]: the integration tests (default:
# tests/integration/*.t) under prove, TEST_JOBS at a time (default 3: most
# of a test's time is spent waiting for the daemons' timers, not on a CPU).
#
# Each test runs in its own temp dir, with its own SEALSYNC_HOMEs, mount
# points, store and (for s3://) its own Swift, memcached and proxy on ports
# the kernel picks, so tests do not collide.  The longest tests start first
# (LONG_FIRST below) so that the run does not end on one of them alone.
# Every test's output (stdout and stderr) is also kept in
# LOG_DIR/NAME.log (default build/test-logs); with TEST_JOBS > 1 prove is not
# verbose, so the full log of every failed test is printed at the end.
#
# Environment: SEALSYNC_BIN, SEALSYNC_TOOLS (as for prove, see
# tests/integration/lib.sh), TEST_JOBS, LOG_DIR, SEALSYNC_TEST_SCALE (default 2),
# SEALSYNC_TEST_MIN_TIMEOUT (default 600).
set -u

if [ "${1:-}" = --one ]; then
	# prove --exec: one test, its output teed into its log.
	t=$2
	log=$LOG_DIR/$(basename "$t" .t).log
	: >"$log"
	bash "$t" 2> >(tee -a "$log" >&2) | tee -a "$log"
	rc=${PIPESTATUS[0]}
	wait # the stderr tee
	exit "$rc"
fi

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
: "${SEALSYNC_BIN:?SEALSYNC_BIN must be set (make integration sets it)}"
export SEALSYNC_BIN SEALSYNC_TOOLS
export LOG_DIR=${LOG_DIR:-$PWD/build/test-logs}
jobs=${TEST_JOBS:-3}
# Generous bounds: the hard timeouts and every wait_for bound doubled (tests
# run side by side, on a machine that may be loaded besides); a hang still
# ends, with a message naming what was awaited.
export SEALSYNC_TEST_SCALE=${SEALSYNC_TEST_SCALE:-2}
# and no hard timeout under 10 minutes: on a 2-core machine shared with other
# work (load 25 measured) a script runs 5-10 times slower than alone.
export SEALSYNC_TEST_MIN_TIMEOUT=${SEALSYNC_TEST_MIN_TIMEOUT:-600}
case $jobs in '' | *[!0-9]* | 0) jobs=1 ;; esac
mkdir -p "$LOG_DIR" || exit 1

# Longest first (measured wall times on a 2-core machine; see doc/DEVELOPING.md).
LONG_FIRST="15-delta 23-revoke 28-gc 14-s3-sync 26-recovery 02-roundtrip 27-checkpoint
21-members 22-share 17-conflict 19-pull-crash 10-store 25-verify 12-sync 16-status"

if [ $# -gt 0 ]; then
	tests=("$@")
else
	tests=()
	for n in $LONG_FIRST; do
		[ -f "tests/integration/$n.t" ] && tests+=("tests/integration/$n.t")
	done
	for t in tests/integration/*.t; do
		case " $(echo $LONG_FIRST) " in *" $(basename "$t" .t) "*) continue ;; esac
		tests+=("$t")
	done
fi

opts=(--timer --exec "bash $PWD/scripts/run-integration.sh --one")
if [ "$jobs" -gt 1 ]; then
	opts+=(-j "$jobs")
else
	opts+=(-v)
fi
start=$SECONDS
prove "${opts[@]}" "${tests[@]}"
rc=$?
echo "# integration: ${#tests[@]} scripts, $jobs at a time, $((SECONDS - start)) s wall time"
if [ $rc -ne 0 ] && [ "$jobs" -gt 1 ]; then
	for t in "${tests[@]}"; do
		log=$LOG_DIR/$(basename "$t" .t).log
		if grep -q '^not ok' "$log" 2>/dev/null || ! grep -Eq '^1\.\.[0-9]+' "$log" 2>/dev/null; then
			echo "######## full output of $t ($log) ########"
			cat "$log"
		fi
	done
fi
exit $rc
