#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 33-revoke-removed.t: a removed device stops writing (issue #9 case 6;
# doc/SYNC.md R4).  Admin A and writer C (another owner) on one file://
# store, both mounted.  A revokes C; C is left alone (no sync, no remount):
#  - C's mount learns of its removal by itself within a few seconds
#    (measured): `status --json` says "removed": true, the text says
#    "read-only (this device was removed ...)", and status exits 1;
#  - a write C made right after the revocation, before it learned, is
#    published nowhere: C's journal on the store does not grow and A never
#    gets the file;
#  - after it learned, every write fails with EROFS;
#  - `sync` on C does not say ok: it exits 1 and says the device was removed.
TEST_TIMEOUT=240
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # unused default home
HA=$work/hA HC=$work/hC
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
C() { SEALSYNC_HOME=$HC "$SEALSYNC_BIN" "$@"; }
MARK=r3m0v3d-$RANDOM$RANDOM

STORE=file://$work/store
run_ok "A: init" A init --kdf interactive --name devA
SEALSYNC_HOME=$HA create_region docs --store "$STORE"
RID=$REGION_ID
enroll_device devC C docs --owner carol
idC=$(C id --json | jq -r .device_id)
ma=$work/mA mc=$work/mC
mkdir "$ma" "$mc"
SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "A cannot mount"
SEALSYNC_HOME=$HC mount_region docs "$mc" || bail "C cannot mount"

echo "from C before $MARK" >"$mc/before.txt"
run_ok "C: sync" C sync docs
converge "A gets C's file from before" 30 content_is "$ma/before.txt" "from C before $MARK"
run_ok "C: status before" C status docs --json
is "$(jq -r .removed <<<"$T_OUT")" false "status --json: removed false while C is a member"
jdir=$work/store/$RID/journal/$idC
njournal=$(find "$jdir" -type f | wc -l)
[ "$njournal" -ge 1 ]; ok $? "C has journal entries on the store ($njournal)"

# ------------------------------------------------------------ revoke; C left alone
run_ok "A: revoke C" A revoke docs "${idC:0:8}"
t0=$(date +%s.%N)
# At once, before C can have learned: the write is taken locally (or refused).
if { echo "from C after $MARK" >"$mc/after.txt"; } 2>/dev/null; then
	note "C's write right after the revocation was taken locally"
else
	note "C's write right after the revocation was refused already"
fi
# removed_now: C's status --json says removed.
removed_now() { C status docs --json 2>/dev/null | jq -e '.removed == true'; }
for _ in $(seq 150); do
	removed_now >/dev/null && break
	sleep 0.1
done
t1=$(date +%s.%N)
secs=$(printf '%.1f' "$(echo "$t1 - $t0" | bc)")
removed_now >/dev/null
ok $? "C's mount learns of its removal by itself (after ${secs} s; bound: one pull round, ~3 s)"
note "measured: ${secs} s from 'revoke' returning to C's mount being read-only (no sync, no remount)"
run C status docs --json
is "$T_RC" 1 "status exits 1 on the removed device"
is "$(jq -r '[.removed, .key_state] | join(" ")' <<<"$T_OUT")" "true removed" "status --json: removed true, key_state removed"
run C status docs
like "$T_OUT" "read-only \\(this device was removed from the region; nothing is published\\)" "status text says the mount is read-only because the device was removed"

err=$( { echo x >"$mc/w.txt"; } 2>&1)
like "$err" "Read-only file system" "C's mount refuses a new file (EROFS)"
err=$( { echo more >>"$mc/before.txt"; } 2>&1)
like "$err" "Read-only file system" "C's mount refuses appending to an old file (EROFS)"
err=$(rm "$mc/before.txt" 2>&1)
like "$err" "Read-only file system" "C's mount refuses a deletion (EROFS)"

run C sync docs --json
is "$T_RC" 1 "sync on the removed device exits 1"
is "$(jq -r .status <<<"$T_OUT")" error "sync --json: status error, not ok"
like "$(jq -r '.messages | join(" ")' <<<"$T_OUT")" "this device was removed from the region" "sync says the device was removed"
run C sync docs
like "$T_ERR" "removed from the region" "sync (text) says it on stderr"

# Nothing more is published: C's journal on the store does not grow.
is "$(find "$jdir" -type f | wc -l)" "$njournal" "C's journal on the store has no entry after the revocation"
A sync docs >/dev/null 2>&1
A sync docs >/dev/null 2>&1
[ ! -e "$ma/after.txt" ]; ok $? "A never gets what C wrote after its removal"
is "$(cat "$ma/before.txt")" "from C before $MARK" "C's file from before stays on A"
grep -q "holds no key of the region's current epoch" "$HC/regions/$RID/mount.log"
ok $? "C's mount.log says why it is read-only"

for m in "$ma" "$mc"; do umount_region "$m"; done
if grep -rqa -- "$MARK" "$work/store"; then
	fail "no marker in the store" "$(grep -rla -- "$MARK" "$work/store" | head)"
else
	pass "no marker in the store"
fi
done_testing
