#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The object store backends against store.h's contract (tests/tools/storetest):
# file:// in a temp dir, and s3:// against a real, signature-checking S3
# server (OpenStack Swift + s3api + tempauth, scripts/s3-server.sh), plus the
# S3 error mapping: wrong secret -> -EACCES at once (no retries), missing
# bucket -> -ENOENT, unreachable endpoint -> -EAGAIN after bounded retries.
#
# Needs no FUSE, so it does not use lib.sh (which skips without /dev/fuse).
# The S3 part is skipped, loudly, only if python3-swift or memcached is not
# installed (scripts/deps.sh installs both).
#
# Environment: SEALSYNC_TOOLS (directory of the tests/tools binaries; default
# build/tools), KEEP_WORK=1 keeps the temp dir.

TEST_TIMEOUT=120
# As lib.sh: times SEALSYNC_TEST_SCALE, at least SEALSYNC_TEST_MIN_TIMEOUT.
TEST_TIMEOUT=$((TEST_TIMEOUT * ${SEALSYNC_TEST_SCALE:-1}))
[ "$TEST_TIMEOUT" -ge "${SEALSYNC_TEST_MIN_TIMEOUT:-0}" ] || TEST_TIMEOUT=$SEALSYNC_TEST_MIN_TIMEOUT
if [ -z "${SEALSYNC_T_WRAPPED:-}" ]; then
	export SEALSYNC_T_WRAPPED=1
	exec timeout -k 10 "$TEST_TIMEOUT" bash "$0" "$@"
fi
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
tools=${SEALSYNC_TOOLS:-$root/build/tools}
storetest=$tools/storetest
server=$root/scripts/s3-server.sh

n=0
failed=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail()
{
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	shift
	local l
	printf '%s\n' "$@" | while IFS= read -r l; do echo "# $l" >&2; done
}
skip() { n=$((n + 1)); echo "ok $n # SKIP $1"; }
note() { echo "# $*"; }
elapsed() { printf '%.2f' "$(echo "$(date +%s.%N) - $1" | bc)"; }
lt() { [ "$(echo "$1 < $2" | bc)" = 1 ]; }

work=$(mktemp -d "${TMPDIR:-/tmp}/sealsync-10-store.XXXXXX") || {
	echo "1..0 # SKIP cannot create a temp dir"
	exit 1
}
s3dir=$work/s3
started=
# shellcheck disable=SC2317 # called from the EXIT trap
cleanup()
{
	[ -z "$started" ] || "$server" stop "$s3dir" >/dev/null 2>&1
	if [ -n "${KEEP_WORK:-}" ]; then
		echo "# KEEP_WORK: left $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'echo "not ok $((n + 1)) - killed (timeout ${TEST_TIMEOUT} s?)"; echo "1..$((n + 1))"; exit 1' TERM INT

if [ ! -x "$storetest" ]; then
	fail "storetest is built ($storetest; make builds tests/tools/storetest.c)"
	echo "1..$n"
	exit 1
fi

# run_storetest DESC URL [ARGS...]: one test point for a whole storetest run.
run_storetest()
{
	local desc=$1 t0
	shift
	t0=$(date +%s.%N)
	"$storetest" "$@" >"$work/st.out" 2>"$work/st.err"
	local rc=$? total notok
	total=$(grep -Ec '^(not )?ok ' "$work/st.out")
	notok=$(grep -c '^not ok ' "$work/st.out")
	if [ $rc -eq 0 ] && [ "$notok" = 0 ] && [ "$total" -ge 40 ]; then
		pass "$desc: $total checks in $(elapsed "$t0") s"
	else
		fail "$desc (exit $rc, $notok of $total failed)" "$(grep -v '^ok ' "$work/st.out" | head -40)" \
			"stderr: $(head -c 2000 "$work/st.err")"
	fi
	grep '^# [0-9]' "$work/st.out" | sed "s|^# |# $desc: |"
}

# ------------------------------------------------------------------ file://
# Only `create` makes a file:// root and its marker; puts need both (doc/SYNC.md S1).
mkdir -p "$work/filestore" && printf 'sealsync store 1\n' >"$work/filestore/sealsync-store"
run_storetest "storetest file://" -n 1100 "file://$work/filestore"

# --------------------------------------------------------------------- s3://
if ! /usr/bin/python3 -c 'import swift' 2>/dev/null || ! command -v memcached >/dev/null; then
	echo "######## 10-store: SKIPPING the S3 tests: python3-swift or memcached is not" \
		"installed (run scripts/deps.sh) ########" >&2
	for d in "storetest s3:// (Swift)" "wrong secret" "missing bucket" "unreachable endpoint"; do
		skip "$d: python3-swift or memcached not installed"
	done
	echo "1..$n"
	exit $((failed > 0))
fi

t0=$(date +%s.%N)
started=1
if ! "$server" start "$s3dir" >"$work/s3.env" 2>"$work/s3.err"; then
	fail "scripts/s3-server.sh starts Swift" "$(cat "$work/s3.err")"
	echo "1..$n"
	exit 1
fi
pass "scripts/s3-server.sh starts Swift in $(elapsed "$t0") s"
set -a
# shellcheck disable=SC1091
. "$work/s3.env"
set +a
unset AWS_ENDPOINT_URL_S3 AWS_PROFILE AWS_SESSION_TOKEN AWS_S3_ADDRESSING_STYLE AWS_DEFAULT_REGION
note "endpoint $AWS_ENDPOINT_URL, bucket $S3_BUCKET"

# 1010 keys: one continuation (S3 pages hold 1000) at the least cost.
run_storetest "storetest s3:// (Swift, prefix)" -n 1010 "s3://$S3_BUCKET/st/Pre_fix.v1"

if "$storetest" --probe "s3://$S3_BUCKET" >"$work/p.out" 2>"$work/p.err" && grep -q '^put: 0 ' "$work/p.out" && grep -q '^list: 0 ' "$work/p.out"; then
	pass "probe of s3://$S3_BUCKET (no prefix): get, put, list succeed"
else
	fail "probe of s3://$S3_BUCKET (no prefix)" "$(cat "$work/p.out" "$work/p.err")"
fi

port=${AWS_ENDPOINT_URL##*:}
if AWS_ENDPOINT_URL=http://localhost:$port AWS_S3_ADDRESSING_STYLE=virtual \
	"$storetest" --probe "s3://$S3_BUCKET/virtual" >"$work/p.out" 2>"$work/p.err" &&
	grep -q '^put: 0 ' "$work/p.out" && grep -q '^list: 0 ' "$work/p.out"; then
	pass "virtual-host addressing (http://$S3_BUCKET.localhost:$port): get, put, list succeed"
else
	fail "virtual-host addressing" "$(cat "$work/p.out" "$work/p.err")"
fi

# probe NAME EXPECT_ERRNO STDERR_ERE MAX_SECONDS [ENV...] -- URL
probe()
{
	local desc=$1 want=$2 ere=$3 max=$4 t0 dt lines
	shift 4
	local envs=()
	while [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	t0=$(date +%s.%N)
	env "${envs[@]}" "$storetest" --probe "$1" >"$work/p.out" 2>"$work/p.err"
	dt=$(elapsed "$t0")
	lines=$(wc -l <"$work/p.err")
	if [ "$(grep -c ": $want " "$work/p.out")" = 3 ] && grep -Eq "$ere" "$work/p.err" &&
		lt "$dt" "$max"; then
		pass "$desc: get, put, list -> $want in $dt s (< $max s), $lines log line(s)"
	else
		fail "$desc: expected $want from get, put and list within $max s (took $dt s)" \
			"$(cat "$work/p.out")" "stderr: $(head -c 2000 "$work/p.err")"
	fi
}

probe "wrong secret" -EACCES "SignatureDoesNotMatch.*|bucket '$S3_BUCKET'" 3 \
	AWS_SECRET_ACCESS_KEY=not-the-secret -- "s3://$S3_BUCKET/x"
# One log line per operation: denials are not retried.
lines=$(grep -c "access denied (SignatureDoesNotMatch" "$work/p.err")
if [ "$lines" = 3 ] && grep -q "bucket '$S3_BUCKET'" "$work/p.err"; then
	pass "wrong secret: exactly one log line per operation, naming the S3 code and the bucket"
else
	fail "wrong secret: one log line per operation naming SignatureDoesNotMatch and the bucket" \
		"$(cat "$work/p.err")"
fi
probe "missing bucket" -ENOENT "bucket 'no-such-bucket-here' does not exist \(NoSuchBucket" 3 \
	-- "s3://no-such-bucket-here"
probe "unreachable endpoint" -EAGAIN "giving up after [0-9]+ attempts" 20 \
	AWS_ENDPOINT_URL=http://127.0.0.1:1 -- "s3://$S3_BUCKET"

"$server" stop "$s3dir" >/dev/null 2>&1
started=
if ! pgrep -f "$s3dir/etc" >/dev/null 2>&1; then
	pass "scripts/s3-server.sh stop stops every server"
else
	fail "scripts/s3-server.sh stop stops every server" "$(pgrep -af "$s3dir/etc")"
fi

echo "1..$n"
exit $((failed > 0))
