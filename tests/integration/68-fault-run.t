#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 68-fault-run.t: issue #11's acceptance run with real mounts.  Three devices
# (A, B, C: separate SEALSYNC_HOMEs) mount one region on a signature-checking
# S3 service (Swift) behind tests/tools/s3proxy.py and edit one shared set of
# files at once for FAULT_RUN_S seconds (default 40; the issue's run is 150)
# with tests/tools/workload.py (appends, truncate-and-rewrite in place,
# editors' temp-then-rename, renames, deletes; every line written is unique
# and every write carries the lines the file held), while the proxy fails
# about a fifth of the requests (errors, dropped connections, delays).  Then
# the faults stop; once every device's queue is empty and the trees agree,
# all three remount and sync again.  The checks: (a) the three trees are the
# same, conflict copies included (path, type, size, sha256); (b) every write
# a device acknowledged (close/fsync returned) survives in some file unless a
# delete saw it; (c) `verify` is clean on every device; (d) every file is
# readable; and no device shows an alarm.
#
# FAULT_RUN_S=150 FAULT_RUN_SEED=N bash tests/integration/68-fault-run.t: the
# long run; the seed picks the workload and the proxy's fault schedule (the
# interleaving of three real daemons is not reproducible: a failure prints
# the logs to look at, kept with KEEP_WORK=1).
#
# Skipped (only) when python3-swift or memcached is not installed.
RUN_S=${FAULT_RUN_S:-40}
SEED=${FAULT_RUN_SEED:-1}
TEST_TIMEOUT=$((RUN_S + 900))
. "$(dirname "$0")/lib.sh"
need_cmd jq
need_s3
# Not part of `make test` for its length (a 40 s run takes about 4 minutes, the 150 s run
# about 8, with Swift and three mounts; the suite is at its 15-minute budget).  The lost
# writes of the earlier 150 s runs were U7's (doc/SYNC.md; tests/sim/FOUND.md F22, F24);
# since U7 the 150 s runs pass (seeds 7-9 on 2026-12-07; the note of issue #11 has the table).
[ "${FAULT_RUN:-0}" = 1 ] || skip_all "long (4-8 min with Swift): run with FAULT_RUN=1 [FAULT_RUN_S=150 FAULT_RUN_SEED=N]"

WL=$(cd "$(dirname "$0")/../tools" && pwd)/workload.py
# The mounts' logs trace every commit and every remote version decided (file ids and inode
# numbers; the workload logs the inode of each write): a lost line can be followed.
export SEALSYNC_DEBUG=1
setup_device # A
HA=$SEALSYNC_HOME
HB=$work/homeB
HC=$work/homeC
start_s3 || bail "scripts/s3-server.sh does not start"
start_proxy || bail "tests/tools/s3proxy.py does not start"
STORE=s3://$S3_BUCKET/fault-run
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }
C() { SEALSYNC_HOME=$HC "$SEALSYNC_BIN" "$@"; }
note "run of $RUN_S s, seed $SEED"

create_region docs --store "$STORE"
RID=$REGION_ID
enroll_device devB B docs --role writer
enroll_device devC C docs --role writer

ma=$work/a
mb=$work/b
mc=$work/c
mkdir -p "$ma" "$mb" "$mc"
SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "A cannot mount" "$MOUNT_OUT"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot mount" "$MOUNT_OUT"
SEALSYNC_HOME=$HC mount_region docs "$mc" || bail "C cannot mount" "$MOUNT_OUT"
mkdir "$ma/d"
is_dir() { [ -d "$1" ]; }
converge "B sees A's directory d" 60 is_dir "$mb/d"
converge "C sees A's directory d" 60 is_dir "$mc/d"

# --- the run under faults ----------------------------------------------------
proxy_faults "error_rate=0.12&drop_rate=0.06&delay_ms=60&seed=$SEED" || bail "cannot set proxy faults"
t0=$(date +%s)
pids=
for d in A B C; do
	m=$work/$(tr ABC abc <<<"$d")
	/usr/bin/python3 "$WL" run --dir "$m" --dev "$d" --seconds "$RUN_S" \
		--seed $((SEED * 10 + $(printf '%d' "'$d"))) --log "$work/wl-$d.log" \
		2>"$work/wl-$d.err" &
	pids="$pids $!"
done
wrc=0
for p in $pids; do wait "$p" || wrc=1; done
ok $((wrc)) "three workers edited for $((($(date +%s) - t0))) s under faults" \
	"$(cat "$work"/wl-?.err)"
st=$(proxy_stats)
note "proxy: $(jq -c '{requests, by_method, faults}' <<<"$st")"
nf=$(jq '.faults.errors + .faults.drops' <<<"$st")
[ "$nf" -ge 10 ]
ok $? "faults were injected ($nf errors and drops)"
proxy_faults || bail "cannot turn the proxy faults off"
note "ops acknowledged: $(cat "$work"/wl-?.log | jq -r .op | sort | uniq -c | tr -s ' \n' ' ')"

# --- quiescence: queues empty, trees equal -----------------------------------
R() { SEALSYNC_HOME=$1 "$SEALSYNC_BIN" "${@:2}"; }
idle()
{
	local h
	for h in "$HA" "$HB" "$HC"; do
		R "$h" sync docs >/dev/null 2>&1 || return 1
		R "$h" status docs --json 2>/dev/null | jq -e '.queue.entries == 0' >/dev/null || return 1
	done
}
same_trees()
{
	/usr/bin/python3 "$WL" check --log "$work"/wl-?.log --tree "$ma" "$mb" "$mc" >"$work/check.out" 2>&1 ||
		return 1
}
# agree LIMIT: the checker passes within LIMIT s (its own loop: one check can take seconds,
# and wait_for's minimum number of tries would stretch the wait far past LIMIT); on failure
# its findings are printed at once, FAIL lines first.
agree()
{
	local t0=$SECONDS
	while :; do
		same_trees && return 0
		[ $((SECONDS - t0)) -lt "$(($1 * _t_scale))" ] || break
		sleep 2
	done
	diag "the checker (trees, acknowledged writes, readability) did not pass within $((SECONDS - t0)) s; it says:" \
		"$(grep '^FAIL' "$work/check.out" | head -40)" "$(grep -v '^FAIL\|^ok' "$work/check.out" | head -40)"
	return 1
}
converge "every device's queue drains after the faults stop" 240 idle
agree 120
note "before the remount: $(grep -c '^ok' "$work/check.out") checks ok, $(grep -c '^FAIL' "$work/check.out") failed"

# --- remount all three, sync, check ------------------------------------------
SEALSYNC_HOME=$HA remount docs "$ma" || bail "A cannot remount" "$MOUNT_OUT"
SEALSYNC_HOME=$HB remount docs "$mb" || bail "B cannot remount" "$MOUNT_OUT"
SEALSYNC_HOME=$HC remount docs "$mc" || bail "C cannot remount" "$MOUNT_OUT"
converge "every device's queue is empty after the remount" 120 idle
agree 120
/usr/bin/python3 "$WL" check --log "$work"/wl-?.log --tree "$ma" "$mb" "$mc" >"$work/check.out" 2>&1
while IFS= read -r l; do
	case $l in
	ok\ *) pass "${l#ok }" ;;
	FAIL\ *) fail "${l#FAIL }" ;;
	\#*) note "${l#\# }" ;;
	*) diag "$l" ;;
	esac
done <"$work/check.out"

for d in A B C; do
	run R "$(eval echo "\$H$d")" verify docs
	is "$T_RC" 0 "$d: verify is clean" "$T_OUT $T_ERR"
	run R "$(eval echo "\$H$d")" status docs --json
	jq -e '.alarms == []' <<<"$T_OUT" >/dev/null
	ok $? "$d: no alarm" "$(jq -c .alarms <<<"$T_OUT" 2>/dev/null)"
done
done_testing
