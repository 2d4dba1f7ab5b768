#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 19-pull-crash.t: kill -9 of a daemon while it downloads and applies other
# devices' versions (issue #3, "kill -9 during upload or download").  Device
# A publishes a 96 MiB file and 300 small files; device B joins and mounts;
# B's daemon is killed with SIGKILL twice while it is pulling (its ciphertext
# store growing).  After each remount B resumes where the durable marks say,
# and in the end B holds exactly A's tree: same bytes, no conflict copies,
# nothing under .sealsync-orphans, an index that passes integrity_check.
TEST_TIMEOUT=360
. "$(dirname "$0")/lib.sh"
need_cmd jq
need_cmd sqlite3

setup_device # A
HA=$SEALSYNC_HOME
HB=$work/homeB
STORE=file://$work/store
create_region r --store "$STORE"
RID=$REGION_ID
ma=$work/a
mb=$work/b
mkdir -p "$ma" "$mb"
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }

mount_region r "$ma" || bail "mount A failed"
rand_file "$work/big.ref" $((96 * 1048576))
mkdir -p "$ma/d1" "$ma/d2/d3"
for i in $(seq 1 150); do rand_file "$ma/d1/s$i" $((RANDOM % 30000 + 1)); done
cp "$work/big.ref" "$ma/big"
for i in $(seq 1 150); do rand_file "$ma/d2/d3/t$i" $((RANDOM % 30000 + 1)); done
run_ok "A: sync publishes everything" A sync r --timeout 120

# --- B joins -----------------------------------------------------------------
enroll_device devB B r

data_b=$HB/regions/$RID/data
data_bytes() { du -sb "$data_b" 2>/dev/null | cut -f1; }

# kill_while_pulling ROUND: mounts B, waits until B's ciphertext store grew
# by at least 8 MiB in this round (B is downloading and applying), kills it.
kill_while_pulling()
{
	local round=$1 start now
	start=$(data_bytes)
	start=${start:-0}
	export SEALSYNC_HOME=$HB
	mount_region r "$mb" || bail "mount B failed (round $round)"
	export SEALSYNC_HOME=$HA
	grown() { now=$(data_bytes) && [ "${now:-0}" -ge $((start + 8 * 1048576)) ]; }
	WAIT_POLL=0.05 wait_for "B's ciphertext to grow by 8 MiB (round $round)" 60 grown
	kill -KILL "$MOUNT_PID"
	fusermount3 -u -z "$mb" 2>/dev/null
	wait_for "B's daemon $MOUNT_PID to die of SIGKILL" 30 not_cmd pid_alive "$MOUNT_PID"
	now=$(data_bytes)
	ok 0 "round $round: B killed with SIGKILL while pulling ($(((${now:-0} - start) / 1048576)) MiB applied this round)"
	is "$(sqlite3 "$HB/regions/$RID/index.db" 'PRAGMA integrity_check' 2>&1)" ok \
		"round $round: B's index passes integrity_check after the kill"
}
kill_while_pulling 1
kill_while_pulling 2

# --- B resumes and converges ---------------------------------------------------
export SEALSYNC_HOME=$HB
mount_region r "$mb" || bail "mount B failed after the kills"
export SEALSYNC_HOME=$HA
run_ok "B: sync completes after the kills" B sync r --timeout 120
cmp -s "$mb/big" "$work/big.ref"
ok $? "B: the 96 MiB file is identical"
diff -r "$ma" "$mb" >"$work/diff.out" 2>&1
ok $? "B: the whole tree is identical to A's" "$(head -20 "$work/diff.out")"
is "$(find "$mb" -name '*conflict from*' | wc -l)" 0 "B: no conflict copies from the restarts"
ok "$([ ! -e "$mb/.sealsync-orphans" ] && echo 0 || echo 1)" "B: nothing left under .sealsync-orphans"
run B status r --json
is "$(jq -r '.alarms | length' <<<"$T_OUT")" 0 "B: no alarms after the restarts"

export SEALSYNC_HOME=$HB
umount_region "$mb"
ok $? "B: umount"
is "$(sqlite3 "$HB/regions/$RID/index.db" 'PRAGMA integrity_check' 2>&1)" ok \
	"B: index integrity_check after a clean unmount"
done_testing
