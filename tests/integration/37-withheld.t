#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 37-withheld.t: `seen` is filled and checked (doc/SYNC.md invariants W1, W2;
# issue #9 case 4).  Three devices A, B, C on one file:// store.  While C is
# down, A publishes an entry, B applies it and publishes an entry of its own,
# whose signed `seen` names A's entry.  The store then hides A's entry (moved
# aside).  C mounts (grace period SEALSYNC_WITHHELD_GRACE_S=8): it holds B's
# entry (B's file does not appear), raises `withheld` naming A's missing entry
# after the grace period, and shows B held.  When the entry reappears C
# converges (A's and B's files), B is no longer held, the alarm stays until
# `sealsync alarms --clear` and the status is clean after it.
TEST_TIMEOUT=420
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # A
HA=$SEALSYNC_HOME
HB=$work/homeB
HC=$work/homeC
STORE=file://$work/store
create_region docs --store "$STORE"
RID=$REGION_ID
SD=$work/store/$RID
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }
C() { SEALSYNC_HOME=$HC "$SEALSYNC_BIN" "$@"; }

enroll_device devB B docs
enroll_device devC C docs
DEV_A=$(A id --json | jq -r .device_id)
DEV_B=$(B id --json | jq -r .device_id)

ma=$work/a
mb=$work/b
mc=$work/c
mkdir -p "$ma" "$mb" "$mc"
GRACE=8
export SEALSYNC_WITHHELD_GRACE_S=$GRACE # read by the mount daemons
mount_a() { SEALSYNC_HOME=$HA mount_region docs "$ma"; }
mount_b() { SEALSYNC_HOME=$HB mount_region docs "$mb"; }
mount_c() { SEALSYNC_HOME=$HC mount_region docs "$mc"; }
jlist() { find "$SD/journal/$1" -type f -printf '%f\n' 2>/dev/null | sort; }
put() { printf '%s\n' "$2" >"$1.tmp" && mv "$1.tmp" "$1"; }

mount_a || bail "mount A"
mount_b || bail "mount B"

# --- A publishes, B applies it and publishes an entry that saw it -----------
put "$ma/a1" "from A"
run_ok "A: sync a1" A sync docs
JA=$(jlist "$DEV_A" | tail -n1)
[ -n "$JA" ] || bail "A published no journal entry"
run_ok "B: sync (applies A's entry)" B sync docs
is "$(cat "$mb/a1" 2>&1)" "from A" "  ... B has a1"
b0=$(jlist "$DEV_B")
put "$mb/b1" "from B"
run_ok "B: sync b1" B sync docs
JB=$(comm -13 <(printf '%s\n' "$b0") <(jlist "$DEV_B") | tail -n1)
[ -n "$JB" ] || bail "B published no journal entry"
# W1: B's signed entry names A's entry (journal format: doc/SYNC.md).  The
# seen list starts at byte 1+32+16+8+32+32+8 = 129: u32 n, then
# (device 16, u64 seq, hash 32).
SEEN=$(od -An -v -tx1 -j 129 -N 60 "$SD/journal/$DEV_B/$JB" | tr -d ' \n')
SEQA=$((16#${JA%%-*}))
is "${SEEN:0:8}" "00000001" "W1: B's entry carries one seen mark"
is "${SEEN:8:32}" "$DEV_A" "  ... naming device A"
is "$((16#${SEEN:40:16}))" "$SEQA" "  ... at A's seq $SEQA"
is "${SEEN:56:64}" "${JA#*-}" "  ... with the hash of A's entry"
SEALSYNC_HOME=$HA umount_region "$ma" || bail "umount A" # done; keeps `status` simple
SEALSYNC_HOME=$HB umount_region "$mb" || bail "umount B"

# --- the store hides A's entry from C ----------------------------------------
mkdir -p "$work/aside"
mv "$SD/journal/$DEV_A/$JA" "$work/aside/"
t0=$(date +%s)
mount_c || bail "mount C"
run C sync docs
ok "$([ "$T_RC" -eq 0 ] || [ $(($(date +%s) - t0)) -ge $GRACE ]; echo $?)" \
	"C: sync while A's entry is hidden succeeds (no alarm within the grace period)" "$T_ERR"
ok "$([ ! -e "$mc/b1" ]; echo $?)" "  ... B's entry is held: b1 is not there"
converge "C: withheld is raised after the grace period" 60 \
	sh -c "SEALSYNC_HOME='$HC' '$SEALSYNC_BIN' sync docs; SEALSYNC_HOME='$HC' '$SEALSYNC_BIN' status docs --json | jq -e '.alarms[] | select(.kind == \"withheld\")'"
t1=$(date +%s)
note "withheld raised $((t1 - t0)) s after C's mount (grace $GRACE s)"
ok "$([ $((t1 - t0)) -ge $GRACE ]; echo $?)" "  ... not before the grace period"
run_fails "C: status exits 1" C status docs --json
S=$T_OUT
jq -e --arg a "$DEV_A" --argjson s "$SEQA" --arg jb "/journal/$DEV_B/$JB" --arg h "${JA#*-}" \
	'[.alarms[] | select(.kind == "withheld" and .device_id == $a and .seq == $s and
	(.object | endswith($jb)) and (.text | contains($h)) and .holds == false)] | length == 1' <<<"$S" >/dev/null
ok $? "  ... withheld names A, A's seq and entry hash, and B's entry as the evidence" "$S"
jq -e --arg b "$DEV_B" '[.peers[] | select(.device_id == $b and .held == true)] | length == 1' <<<"$S" >/dev/null
ok $? "  ... B is shown held" "$S"
ok "$([ ! -e "$mc/b1" ] && [ ! -e "$mc/a1" ]; echo $?)" "  ... C has neither a1 nor b1"
grep -q "withheld: device $DEV_A" "$HC/regions/$RID/mount.log"
ok $? "  ... and C's log names it"

# --- the entry reappears: C converges ------------------------------------------
mv "$work/aside/$JA" "$SD/journal/$DEV_A/"
converge "C applies A's and B's entries once A's is back" 60 \
	sh -c "SEALSYNC_HOME='$HC' '$SEALSYNC_BIN' sync docs; [ \"\$(cat '$mc/b1')\" = 'from B' ] && [ \"\$(cat '$mc/a1')\" = 'from A' ]"
run_fails "C: status still exits 1 (the alarm lasts until cleared)" C status docs --json
S=$T_OUT
jq -e --arg b "$DEV_B" '[.peers[] | select(.held)] | length == 0' <<<"$S" >/dev/null
ok $? "  ... nobody is held any more" "$S"
ID=$(jq -r '.alarms[] | select(.kind == "withheld") | .id' <<<"$S" | head -n1)
run_ok "C: alarms --clear $ID" C alarms docs --clear "$ID"
like "$T_OUT" "cleared alarm $ID: withheld about device $DEV_A" "  ... says what was cleared"
run_ok "C: status is clean" C status docs --json
is "$(jq -r '.alarms | length' <<<"$T_OUT")" 0 "  ... no alarm left"

done_testing
