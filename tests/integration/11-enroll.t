#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 11-enroll.t: enrolling a second device (issue #3).  Two SEALSYNC_HOMEs on
# one machine share a file:// store: A creates a region and invites, B joins
# (in the background), A lists the request and approves it, B's join
# completes, lists and mounts the region.  Then the refusals: a used code, a
# mistyped code (refused before anything is posted), and a tampered join
# request (marked bad, not approvable).  join --timeout 0 posts and exits 0
# without waiting; --timeout takes a duration (1s, 10m, ...).
TEST_TIMEOUT=240
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # A: $SEALSYNC_HOME, device devA
HA=$SEALSYNC_HOME
HB=$work/homeB
HC=$work/homeC
STORE=file://$work/store
create_region docs --store "$STORE"
RID=$REGION_ID

A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }
C() { SEALSYNC_HOME=$HC "$SEALSYNC_BIN" "$@"; }
# request_status DEVICE_ID: its status in `A requests --json` (first match).
request_status()
{
	A requests docs --json 2>/dev/null | jq -r --arg d "$1" '[.[] | select(.device_id == $d)][0].status // empty'
}
join_count() { find "$work/store/$RID/join" -type f 2>/dev/null | wc -l; }

run_ok "B: init" B init --kdf interactive --name devB
run_ok "C: init" C init --kdf interactive --name devC
DEV_B=$(B id --json | jq -r .device_id)
FPR_B=$(B id --json | jq -r .fingerprint)
DEV_C=$(C id --json | jq -r .device_id)

# --- invite -----------------------------------------------------------------
run_ok "A: invite --json" A invite docs --json
is "$(jq -r .region_id <<<"$T_OUT")" "$RID" "invite --json gives the region id"
CODE=$(jq -r .code <<<"$T_OUT")
like "$CODE" '^([a-z]+ ){12}[a-z]+$' "invite --json gives a 13-word code"
is "$(find "$HA/regions/$RID/invites" -type f | wc -l)" 1 "the invite is recorded on A (hashed name)"
is "$(stat -c %a "$(find "$HA/regions/$RID/invites" -type f)")" 600 "the invite record is mode 0600"
if grep -rqF "$(cut -d' ' -f1-3 <<<"$CODE")" "$HA" "$work/store" 2>/dev/null; then
	fail "the code is stored nowhere in plain text"
else
	pass "the code is stored nowhere in plain text"
fi
run_ok "A: invite (text) names the join command" A invite docs --expires 1h
like "$T_OUT" "sealsync join docs $STORE $RID --code" "the text invite shows the join command"

# --- join, requests, approve --------------------------------------------------
B join docs "$STORE" "$RID" --code "$CODE" --timeout 90 >"$work/join.out" 2>"$work/join.err" </dev/null &
JOIN_PID=$!
echo "$JOIN_PID" >>"$work/.pids"
for _ in $(seq 100); do
	[ "$(join_count)" -ge 1 ] && break
	sleep 0.2
done
is "$(join_count)" 1 "B's join request is in the store"
is "$(request_status "$DEV_B")" valid "A: requests shows B's request as valid"
run_ok "A: requests (table)" A requests docs
like "$T_OUT" "$DEV_B +devB +$FPR_B +valid" "the table shows B's id, name, fingerprint and status"
is "$(A requests docs --json | jq -r --arg d "$DEV_B" '.[] | select(.device_id == $d) | .fingerprint')" \
	"$FPR_B" "A sees the fingerprint B shows ('sealsync id' on B)"
run_ok "A: approve B" A approve docs "$DEV_B"
like "$T_OUT" "$FPR_B" "approve prints B's fingerprint"

wait "$JOIN_PID"
ok $? "B: join completes (exit 0)" "stdout: $(cat "$work/join.out")" "stderr: $(cat "$work/join.err")"
like "$(cat "$work/join.out")" "fingerprint: $FPR_B" "join printed B's fingerprint"
like "$(cat "$work/join.out")" "joined region docs" "join reports success"
is "$(B list --json | jq -r '.[] | select(.name == "docs") | .region_id')" "$RID" "B: list shows the region"
is "$(find "$work/store/$RID/members" -type f | wc -l)" 2 "the store holds GENESIS and one ADD_DEVICE"
is "$(request_status "$DEV_B")" approved "A: requests shows B as approved"
run_ok "A: approving again is a no-op" A approve docs "$DEV_B"
like "$T_OUT" "already a member" "approve says B is already a member"
[ ! -e "$HB/joins/$RID" ]
ok $? "B's pending join state is gone"

# --- B mounts the region ------------------------------------------------------
mkdir -p "$work/mntB"
export SEALSYNC_HOME=$HB
if mount_region docs "$work/mntB"; then
	pass "B: mount unlocks the epoch key from the membership log"
	echo hello >"$work/mntB/f.txt"
	is "$(cat "$work/mntB/f.txt")" hello "B: the mount reads back what it wrote"
	umount_region "$work/mntB"
	ok $? "B: umount"
else
	fail "B: mount unlocks the epoch key from the membership log" "$MOUNT_OUT"
fi
export SEALSYNC_HOME=$HA

# --- a used code --------------------------------------------------------------
run_ok "C: join --timeout 0 with the used code posts and exits 0 (does not wait)" \
	C join docs "$STORE" "$RID" --code "$CODE" --timeout 0
like "$T_OUT" "not waiting for the approval" "  ... says it does not wait"
is "$(request_status "$DEV_C")" used "A: C's request with the used code shows as used"
run_fails "A: approving C (used code) is refused" A approve docs "$DEV_C"
like "$T_ERR" "already been used" "approve says the invite was used"

# --- a mistyped code ----------------------------------------------------------
run_ok "A: a second invite" A invite docs --json
CODE2=$(jq -r .code <<<"$T_OUT")
last=${CODE2##* }
[ "$last" = zoo ] && wrong=abandon || wrong=zoo
before=$(join_count)
run_fails "C: join with a mistyped code is refused" C join docs "$STORE" "$RID" --code "${CODE2% *} $wrong" --timeout 5
like "$T_ERR" "code does not match region" "the refusal names the code"
is "$(join_count)" "$before" "nothing was posted for the mistyped code"
run_fails "C: join with a non-word is refused" C join docs "$STORE" "$RID" --code "not a code" --timeout 5
like "$T_ERR" "not 13 words" "the refusal says the code is not words"
[ ! -e "$HC/regions" ] || [ -z "$(ls -A "$HC/regions")" ]
ok $? "C has no region after the refusals"

# --- a tampered join request --------------------------------------------------
run_ok "C: join --timeout 0 with the right code posts and exits 0" \
	C join docs "$STORE" "$RID" --code "$CODE2" --timeout 0
req=$(grep -lr devC "$work/store/$RID/join" | xargs ls -t | head -n1)
[ -n "$req" ] || bail "C's join request is not in the store"
python3 - "$req" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
b[-80] ^= 0x01  # inside the MAC, which the self-signature covers
open(p, 'wb').write(b)
EOF
nonce=$(basename "$req")
is "$(A requests docs --json | jq -r --arg n "$nonce" '.[] | select(.nonce == $n) | .status')" \
	bad-signature "A: requests marks the tampered request bad"
run_fails "A: approving the tampered request is refused" A approve docs "$DEV_C"
like "$T_ERR" "not valid|already been used" "approve says the request is not valid"
is "$(find "$work/store/$RID/members" -type f | wc -l)" 2 "no ADD_DEVICE was written for C"

# --- usage --------------------------------------------------------------------
run_fails "join without --code is a usage error" B join x "$STORE" "$RID"
is "$T_RC" 2 "exit status 2"
run_fails "approve with a bad device id is a usage error" A approve docs 12zz
is "$T_RC" 2 "exit status 2"
run_fails "join --timeout 8d (more than 7d) is a usage error" B join x "$STORE" "$RID" --code x --timeout 8d
is "$T_RC" 2 "exit status 2"
run_fails "join --timeout 5x is a usage error" B join x "$STORE" "$RID" --code x --timeout 5x
is "$T_RC" 2 "exit status 2"

# --- a wait that ends: --timeout takes a duration -----------------------------
HD=$work/homeD
run_ok "D: init" env SEALSYNC_HOME="$HD" "$SEALSYNC_BIN" init --kdf interactive --name devD
run_ok "A: an invite for D" A invite docs --json
CODE3=$(jq -r .code <<<"$T_OUT")
run_fails "D: join --timeout 1s waits one second and fails" \
	env SEALSYNC_HOME="$HD" "$SEALSYNC_BIN" join docs "$STORE" "$RID" --code "$CODE3" --timeout 1s
like "$T_ERR" "not approved within 1 s" "  ... says it was not approved in time"

done_testing
