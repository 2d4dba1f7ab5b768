#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 27-history.t: the key-history policy (issue #4; doc/FORMAT-keyring.md
# "Rotations", doc/DESIGN.md "Issue #4").  Users on one file:// store:
# admin alice (A), writer bob (B, another owner), carol (C, another owner).
#  - region docs: alice writes old.txt, sets `policy --history owner`;
#  - approving bob first appends a ROTATE_KEY without a history link, then
#    bob's ADD_DEVICE under that epoch, and says so (rekey hint); `log` shows
#    the rotation (link false) right before the ADD;
#  - bob mounts: no alarm in `status`, he gets what alice writes after his
#    enrollment, never old.txt (its epoch's key is not his: the versions are
#    skipped and counted, and `verify` calls the epoch withheld, not a
#    problem);
#  - after the cut, alice's second device (owner alice, approved by alice)
#    gets her older keys as history wraps in its ADD_DEVICE and reads
#    old.txt at once; bob's second device (approved by bob) reads what bob
#    reads, never old.txt (bob's devices reach nothing before the cut);
#  - alice runs `rekey`: bob gets old.txt;
#  - back to `--history all`: alice writes mid.txt, rotates (with a link);
#    carol, approved then, gets no extra rotation and reads every file at
#    once, mid.txt through the history link (old.txt thanks to the rekey:
#    the links still stop at the cut, doc/DESIGN.md "Issue #4").
TEST_TIMEOUT=360
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # unused default home
HA=$work/hA HB=$work/hB HC=$work/hC
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }
C() { SEALSYNC_HOME=$HC "$SEALSYNC_BIN" "$@"; }
MARK=h1st-$RANDOM$RANDOM

HA2=$work/hA2 HB2=$work/hB2
A2() { SEALSYNC_HOME=$HA2 "$SEALSYNC_BIN" "$@"; }
B2() { SEALSYNC_HOME=$HB2 "$SEALSYNC_BIN" "$@"; }

# approve_by APPROVER NAME FN OWNER ROLE: as lib.sh's enroll_device, the
# invite and approve by APPROVER (a function), the approve's output in
# APPROVE_OUT.
approve_by()
{
	local by=$1 name=$2 fn=$3 owner=$4 role=$5 dev code jpid
	run_ok "$fn: init" "$fn" init --kdf interactive --name "$name"
	dev=$("$fn" id --json | jq -r .device_id)
	run_ok "$by: invite $name as $role of $owner" "$by" invite docs --json --owner "$owner" --role "$role"
	code=$(jq -r .code <<<"$T_OUT")
	"$fn" join docs "$STORE" "$RID" --code "$code" --timeout 90 >"$work/join.$fn" 2>&1 </dev/null &
	jpid=$!
	for _ in $(seq 150); do
		"$by" requests docs --json 2>/dev/null |
			jq -e --arg d "$dev" '.[] | select(.device_id == $d and .status == "valid")' >/dev/null && break
		sleep 0.2
	done
	run_ok "$by: approve $name" "$by" approve docs "$dev"
	APPROVE_OUT=$T_OUT
	wait "$jpid"
	ok $? "$fn: join completes" "$(cat "$work/join.$fn")"
}

approve_new() { approve_by A "$@"; }

mkdir "$work/store"
STORE=file://$work/store
run_ok "A: init" A init --kdf interactive --name devA
SEALSYNC_HOME=$HA create_region docs --store "$STORE"
RID=$REGION_ID
ma=$work/mA mb=$work/mB mc=$work/mC
mkdir "$ma" "$mb" "$mc"
SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "A cannot mount"
echo "old $MARK" >"$ma/old.txt"
run_ok "A: sync" A sync docs

# ------------------------------------------------------------ the policy
run_ok "A: policy (default)" A policy docs
like "$T_OUT" "history: all" "a new region shares its whole history"
run_ok "A: policy --history owner" A policy docs --history owner
like "$T_OUT" "history: owner" "policy shows history owner"
like "$T_OUT" "max_key_age: off" "the other field keeps its value"
run_ok "A: policy --max-key-age 30d" A policy docs --max-key-age 30d
like "$T_OUT" "history: owner" "setting max_key_age keeps history=owner"
run_fails "A: policy --history bogus" A policy docs --history some
is "$T_RC" 2 "a bad --history value is a usage error"

# ------------------------------------------------------------ bob, a new user
approve_new devB B bob writer
like "$APPROVE_OUT" "bob's devices cannot read what was written before now \(region policy history=owner\); run 'sealsync rekey docs' on a mounted device" \
	"approve says bob cannot read the history, and how to fix it"
run_ok "A: log --json" A log docs --json
j=$T_OUT
is "$(jq -r '[.entries[].kind] | join(" ")' <<<"$j")" "GENESIS POLICY POLICY ROTATE_KEY ADD_DEVICE" \
	"log: the rotation comes right before bob's ADD"
is "$(jq -r '.entries[3] | [(.link|tostring), (.wraps|tostring)] | join(" ")' <<<"$j")" "false 1" \
	"log: the ROTATE_KEY has no history link"
is "$(jq -r '.entries[4].epoch == .entries[3].hash' <<<"$j")" true "bob's ADD wraps the new epoch"
is "$(jq -r '.entries[1].history' <<<"$j")" owner "log --json: the POLICY's history"
run_ok "A: log" A log docs
like "$T_OUT" "NO link to the previous key" "log (text) says the history stops at the rotation"

SEALSYNC_HOME=$HA umount_region "$ma"
SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "A cannot remount"
echo "new $MARK" >"$ma/new.txt"
run_ok "A: sync" A sync docs
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot mount"
converge "B gets the file alice wrote after his enrollment" 60 \
	sh -c "SEALSYNC_HOME=$HB '$SEALSYNC_BIN' sync docs; [ \"\$(cat '$mb/new.txt')\" = 'new $MARK' ]"
[ ! -e "$mb/old.txt" ]
ok $? "B does not get old.txt (written before his enrollment)"
run B status docs --json
is "$T_RC" 0 "B: status exits 0"
is "$(jq -r '.alarms | length' <<<"$T_OUT")" 0 "B: no alarm in status"
! grep -rqa -- "old $MARK" "$HB" "$mb" 2>/dev/null
ok $? "old.txt's bytes are nowhere on B in the clear"
grep -q "not readable by this device" "$HB/regions/$RID/mount.log"
ok $? "B's mount.log says the old epoch is not readable here"
echo "bob $MARK" >"$mb/bob.txt"
run_ok "B: sync" B sync docs
converge "A gets bob's file" 60 \
	sh -c "SEALSYNC_HOME=$HA '$SEALSYNC_BIN' sync docs; [ \"\$(cat '$ma/bob.txt')\" = 'bob $MARK' ]"
run B verify docs --json
is "$T_RC" 0 "B: verify is clean"
is "$(jq -r '.withheld_epochs >= 1 and .withheld_manifests >= 1' <<<"$T_OUT")" true \
	"B: verify counts the withheld epoch and old.txt's version, as information"

# ------------------------------------------------------------ further devices after the cut
approve_by A devA2 A2 devA writer
[[ $APPROVE_OUT != *"cannot read what was written"* ]]
ok $? "alice's second device: no cut, no rekey hint"
run_ok "A: log" A log docs
like "$T_OUT" "and 1 older epoch key of its owner \(key history\)" \
	"log: alice's second device's ADD carries her key from before the cut"
ma2=$work/mA2 mb2=$work/mB2
mkdir "$ma2" "$mb2"
SEALSYNC_HOME=$HA2 mount_region docs "$ma2" || bail "A2 cannot mount"
converge "alice's second device reads old.txt at once (a history wrap)" 60 \
	sh -c "SEALSYNC_HOME=$HA2 '$SEALSYNC_BIN' sync docs; [ \"\$(cat '$ma2/old.txt')\" = 'old $MARK' ] && [ \"\$(cat '$ma2/bob.txt')\" = 'bob $MARK' ]"
run A2 status docs --json
is "$(jq -r '.alarms | length' <<<"$T_OUT")" 0 "A2: no alarm in status"
SEALSYNC_HOME=$HA2 umount_region "$ma2"

approve_by B devB2 B2 bob writer
[[ $APPROVE_OUT != *"cannot read what was written"* ]]
ok $? "bob's second device: no further cut"
SEALSYNC_HOME=$HB2 mount_region docs "$mb2" || bail "B2 cannot mount"
converge "bob's second device reads what bob reads" 60 \
	sh -c "SEALSYNC_HOME=$HB2 '$SEALSYNC_BIN' sync docs; [ \"\$(cat '$mb2/new.txt')\" = 'new $MARK' ] && [ \"\$(cat '$mb2/bob.txt')\" = 'bob $MARK' ]"
[ ! -e "$mb2/old.txt" ]
ok $? "bob's second device does not get old.txt (bob reaches nothing before the cut)"
run B2 status docs --json
is "$(jq -r '.alarms | length' <<<"$T_OUT")" 0 "B2: no alarm in status"
SEALSYNC_HOME=$HB2 umount_region "$mb2"

# ------------------------------------------------------------ rekey
run_ok "A: rekey" A rekey docs --json
is "$(jq -r '.rekeyed >= 1' <<<"$T_OUT")" true "rekey re-encrypts old.txt under the current key"
converge "B gets old.txt after the rekey" 60 \
	sh -c "SEALSYNC_HOME=$HB '$SEALSYNC_BIN' sync docs; [ \"\$(cat '$mb/old.txt')\" = 'old $MARK' ]"

# ------------------------------------------------------------ back to history=all
run_ok "A: policy --history all" A policy docs --history all
like "$T_OUT" "history: all" "policy shows history all"
echo "mid $MARK" >"$ma/mid.txt" # under the epoch of the cut
run_ok "A: sync" A sync docs
run_ok "A: rotate (with its history link)" A rotate docs
nrot=$(A log docs --json | jq '[.entries[] | select(.kind == "ROTATE_KEY")] | length')
approve_new devC C carol reader
[[ $APPROVE_OUT != *"cannot read what was written"* ]]
ok $? "with history=all, approve says nothing about history"
is "$(A log docs --json | jq '[.entries[] | select(.kind == "ROTATE_KEY")] | length')" "$nrot" \
	"no rotation for carol"
SEALSYNC_HOME=$HC mount_region docs "$mc" || bail "C cannot mount"
converge "C reads every file at once, also one from before the last rotation" 60 \
	sh -c "SEALSYNC_HOME=$HC '$SEALSYNC_BIN' sync docs; [ \"\$(cat '$mc/old.txt')\" = 'old $MARK' ] && [ \"\$(cat '$mc/new.txt')\" = 'new $MARK' ] && [ \"\$(cat '$mc/bob.txt')\" = 'bob $MARK' ] && [ \"\$(cat '$mc/mid.txt')\" = 'mid $MARK' ]"
run C status docs --json
is "$(jq -r '.alarms | length' <<<"$T_OUT")" 0 "C: no alarm in status"

for m in "$ma" "$mb" "$mc"; do umount_region "$m"; done
done_testing
