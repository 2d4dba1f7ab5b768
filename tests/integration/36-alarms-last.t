#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 36-alarms-last.t: alarms last (doc/SYNC.md invariant A1; issue #9 case 5).
# Two devices A and B on one file:// store.  While B is down, A commits and
# the store shows a forged second entry at that seq (equivocation).  B mounts:
# the alarm holds A.  Then the store "cleans up" (the forged twin is removed)
# and B is remounted: `status` (mounted and not mounted) still shows the same
# alarm, A stays held and A's remaining entry is NOT applied silently.
# `sealsync alarms` lists it; `--clear ID` clears it and says what happens
# next; then B applies A's entry and its status is clean, also after another
# remount.
TEST_TIMEOUT=300
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # A
HA=$SEALSYNC_HOME
HB=$work/homeB
STORE=file://$work/store
create_region docs --store "$STORE"
RID=$REGION_ID
SD=$work/store/$RID
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }

enroll_device devB B docs
DEV_A=$(A id --json | jq -r .device_id)

ma=$work/a
mb=$work/b
mkdir -p "$ma" "$mb"
mount_a() { SEALSYNC_HOME=$HA mount_region docs "$ma"; }
mount_b() { SEALSYNC_HOME=$HB mount_region docs "$mb"; }
umount_b() { SEALSYNC_HOME=$HB umount_region "$mb"; }
journal_list() { find "$SD/journal/$DEV_A" -type f -printf '%f\n' | sort; }

mount_a || bail "mount A"
mount_b || bail "mount B"
printf 'x v1\n' >"$ma/.x.tmp" && mv "$ma/.x.tmp" "$ma/x"
run_ok "A: sync x v1" A sync docs
run_ok "B: sync" B sync docs
is "$(cat "$mb/x" 2>&1)" "x v1" "B has x v1"

run_ok "alarms --help" B alarms --help
like "$T_OUT" "usage: sealsync alarms NAME" "  ... shows the usage"
run_ok "B: alarms on a clean region" B alarms docs
like "$T_OUT" "no alarms in region docs" "  ... says there are none"

# --- equivocation while B is down --------------------------------------------
umount_b || bail "umount B"
j0=$(journal_list)
printf 'x v2\n' >"$ma/.x.tmp" && mv "$ma/.x.tmp" "$ma/x"
run_ok "A: sync x v2" A sync docs
J=$(comm -13 <(printf '%s\n' "$j0") <(journal_list) | head -n1)
OLD=$(journal_list | head -n1)
[ -n "$J" ] && [ "$J" != "$OLD" ] || bail "no new journal entry of A" "$(journal_list)"
TWIN=${J%%-*}-${OLD#*-}
cp "$SD/journal/$DEV_A/$OLD" "$SD/journal/$DEV_A/$TWIN" # a second entry at J's seq
# A is done; unmounted, so that B's `status` sees the region (same id on this
# machine) as not mounted when B is down.
SEALSYNC_HOME=$HA umount_region "$ma" || bail "umount A"
mount_b || bail "mount B on the equivocating store"
SEALSYNC_HOME=$HB run B sync docs
converge "B: the alarm equivocation is raised" 30 \
	sh -c "SEALSYNC_HOME='$HB' '$SEALSYNC_BIN' status docs --json | jq -e '.alarms[] | select(.kind == \"equivocation\" and .device_id == \"$DEV_A\")'"
run B status docs --json
ID=$(jq -r --arg a "$DEV_A" '.alarms[] | select(.kind == "equivocation" and .device_id == $a) | .id' <<<"$T_OUT" | head -n1)
ok "$([ "$ID" -gt 0 ] 2>/dev/null; echo $?)" "  ... with an id ($ID)" "$T_OUT"
is "$(cat "$mb/x" 2>&1)" "x v1" "  ... and B still shows x v1"

# --- the store cleans up; B restarts -------------------------------------------
umount_b || bail "umount B"
run_fails "B: status of the unmounted region exits 1" B status docs --json
jq -e --arg a "$DEV_A" --argjson id "$ID" '.mounted == false and ([.alarms[] | select(.id == $id and .kind == "equivocation" and .device_id == $a and .holds == true and (.object | test("/journal/")))] | length == 1)' <<<"$T_OUT" >/dev/null
ok $? "  ... and lists the alarm, read from the index" "$T_OUT"
run_fails "B: status (text) while unmounted" B status docs
like "$T_OUT" "\\[$ID\\] equivocation: device $DEV_A" "  ... names it with its id"
rm -f "$SD/journal/$DEV_A/$TWIN" # only A's real entry is left
mount_b || bail "mount B after the clean-up"
SEALSYNC_HOME=$HB run B sync docs
run_fails "B: status after the remount still exits 1" B status docs --json
S=$T_OUT
jq -e --argjson id "$ID" '[.alarms[] | select(.id == $id and .kind == "equivocation")] | length == 1' <<<"$S" >/dev/null
ok $? "  ... the same alarm is listed" "$S"
jq -e --arg a "$DEV_A" '[.peers[] | select(.device_id == $a and .held == true)] | length == 1' <<<"$S" >/dev/null
ok $? "  ... A is still held" "$S"
sleep_until=$(($(date +%s) + 3))
while [ "$(date +%s)" -lt "$sleep_until" ]; do B sync docs >/dev/null 2>&1; done # a few rounds
is "$(cat "$mb/x" 2>&1)" "x v1" "  ... and A's remaining entry is not applied (B shows x v1)"

run_ok "B: alarms lists it" B alarms docs
like "$T_OUT" "\\[$ID\\] equivocation: device $DEV_A seq [0-9]+ .*holds" "  ... with its id, kind, device and that it holds"
run_ok "B: alarms --json" B alarms docs --json
is "$(jq -r '.[0].id, .[0].kind' <<<"$T_OUT" | tr '\n' ' ')" "$ID equivocation " "  ... the same in JSON"
run_fails "B: --clear of an unknown id fails" B alarms docs --clear $((ID + 1000))
like "$T_ERR" "no alarm" "  ... saying there is no such alarm"
run_fails "B: --clear without an id is a usage error" B alarms docs --clear x
is "$T_RC" 2 "  ... exit 2"

# --- cleared: looked at again -------------------------------------------------
run_ok "B: alarms --clear ID" B alarms docs --clear "$ID"
like "$T_OUT" "cleared alarm $ID: equivocation about device $DEV_A" "  ... says what was cleared"
like "$T_OUT" "checked again from the last entry applied" "  ... and what happens next"
converge "B applies A's entry after the clear" 30 \
	sh -c "SEALSYNC_HOME='$HB' '$SEALSYNC_BIN' sync docs; [ \"\$(cat '$mb/x')\" = 'x v2' ]"
run_ok "B: status is clean again" B status docs --json
jq -e '.alarms == [] and ([.peers[] | select(.held)] | length == 0)' <<<"$T_OUT" >/dev/null
ok $? "  ... no alarm, nothing held" "$T_OUT"
umount_b || bail "umount B"
run_ok "B: status of the unmounted region is clean too" B status docs --json
run_ok "B: --clear-all with nothing to clear" B alarms docs --clear-all
like "$T_OUT" "no alarms to clear" "  ... says so"
mount_b || bail "remount B"
run_ok "B: still clean after another remount" B status docs --json
is "$(cat "$mb/x" 2>&1)" "x v2" "  ... with x v2"

done_testing
