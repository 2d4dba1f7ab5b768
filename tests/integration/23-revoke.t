#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 23-revoke.t: revocation, rotation, role changes and the key-age policy
# (issue #4; doc/DESIGN.md "Issue #4", doc/FORMAT-keyring.md "Rotations").
# Users on one file:// store: admin alice (A), writer alice (B), writer bob
# (C, reaching the store through its own symlink so it can be cut off alone).
#  - C's writes before its revocation count everywhere;
#  - A revokes C while C is offline: REMOVE_DEVICE with C's last entry on the
#    store as the cutoff; C keeps writing offline; once back, every other
#    device refuses C's entries after the cutoff (alarm "revoked" naming C in
#    `status`), and C's late file appears nowhere;
#  - what A writes afterwards (a new file, a new version of an old one) is
#    under the new epoch: B reads it, C never gets it (it holds no key of
#    the epoch: `status` says removed, its mount refuses writes with EROFS);
#  - `rekey` re-encrypts the one file left under the old key (then none);
#  - `log --json` shows the history entry by entry;
#  - `rotate` by A: a new epoch B writes under, A reads; writer B may not
#    rotate, change roles or revoke;
#  - `role`: B demoted to reader gets a read-only mount (EROFS) after a
#    remount, and is writable again after its promotion without a remount;
#  - `policy --max-key-age 1s`: A's mount rotates a stale key by itself;
#  - a ROTATE_KEY withheld from B by the store: B holds A's later entries
#    (alarm membership-withheld) until the entry is back;
#  - two admins rotating at once: one order everywhere, files flow both ways;
#  - D, enrolled after all that, reads files of every epoch (history links);
#  - a forged and a replayed membership object are junk: reported, not applied;
#  - no marker in the store;
#  - on the S3 server (Swift), C cut off by a proxy while A revokes it: the
#    same refusal of its later entry, the same unreadable new epoch; rekey
#    and a role change there too.
TEST_TIMEOUT=420
. "$(dirname "$0")/lib.sh"
need_cmd jq
need_cmd curl

setup_device # unused default home
HA=$work/hA HB=$work/hB HC=$work/hC HD=$work/hD
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }
C() { SEALSYNC_HOME=$HC "$SEALSYNC_BIN" "$@"; }
D() { SEALSYNC_HOME=$HD "$SEALSYNC_BIN" "$@"; }
MARK=m4rk3r-$RANDOM$RANDOM

mkdir "$work/store.real"
ln -s store.real "$work/store"
ln -s store.real "$work/storeC"
STORE=file://$work/store
run_ok "A: init" A init --kdf interactive --name devA
SEALSYNC_HOME=$HA create_region docs --store "$STORE"
RID=$REGION_ID
enroll_device devB B docs
STORE=file://$work/storeC enroll_device devC C docs --owner bob
idA=$(A id --json | jq -r .device_id)
idB=$(B id --json | jq -r .device_id)
idC=$(C id --json | jq -r .device_id)

ma=$work/mA mb=$work/mB mc=$work/mC
mkdir "$ma" "$mb" "$mc"
SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "A cannot mount"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot mount"
SEALSYNC_HOME=$HC mount_region docs "$mc" || bail "C cannot mount"

# alarm_named HOME REGION KIND DEVICE: HOME's status for REGION lists a KIND alarm on DEVICE.
alarm_named()
{
	SEALSYNC_HOME=$1 "$SEALSYNC_BIN" status "$2" --json 2>/dev/null |
		jq -e --arg k "$3" --arg d "$4" '.alarms | map(select(.kind == $k and .device_id == $d)) | length >= 1'
}

# sync_all: a forced round on each mounted device (membership refreshed first).
sync_all()
{
	local f
	for f in "$@"; do "$f" sync docs >/dev/null 2>&1; done
}

# ------------------------------------------------------------ before revocation
echo "old $MARK" >"$ma/old.txt"
echo "from C $MARK" >"$mc/c-early.txt"
sync_all A C
sync_all A B C
converge "B gets A's file" 30 content_is "$mb/old.txt" "old $MARK"
converge "C gets A's file" 30 content_is "$mc/old.txt" "old $MARK"
converge "A gets C's early file" 30 content_is "$ma/c-early.txt" "from C $MARK"
converge "C's outbox is empty" 30 outbox_empty "$HC/regions/$RID"
sync_all A B

# ------------------------------------------------------------ revoke C while it is offline
rm "$work/storeC" # C alone loses the store (a file where its root was: nothing recreates it)
: >"$work/cut"
ln -s cut "$work/storeC"
run_ok "A: revoke C" A revoke docs "${idC:0:8}"
like "$T_OUT" "revoking devC \\(owner bob, writer" "revoke names the device, owner and role"
cutoff=$(sed -n 's/.*entries after seq \([0-9]*\) are refused.*/\1/p' <<<"$T_OUT")
[ -n "$cutoff" ] && [ "$cutoff" -ge 1 ]; ok $? "the cutoff is C's last entry on the store (seq $cutoff)"
like "$T_OUT" "wrapped to 2 devices" "the new key goes to the two remaining devices"
run_fails "A: revoking C again is refused" A revoke docs "${idC:0:8}"
run_fails "B (writer) may not revoke A" B revoke docs "${idA:0:8}"
like "$T_ERR" "may not remove" "the refusal names the rule"

echo "late $MARK" >"$mc/c-late.txt" # signed by C after its cutoff
# (C commits it only while it cannot check the membership log: doc/SYNC.md R3)
converge "C commits its late file offline" 30 sh -c "ls '$HC/regions/$RID/outbox' | grep -q '^j-'"
rm "$work/storeC"
ln -s store.real "$work/storeC" # C is back
converge "C publishes its late entry" 60 outbox_empty "$HC/regions/$RID"
sync_all A B
for f in A B; do
	converge "$f: status names the revoked alarm for C" 30 \
		alarm_named "$(eval echo \$H$f)" docs revoked "$idC"
done
[ ! -e "$ma/c-late.txt" ] && [ ! -e "$mb/c-late.txt" ]; ok $? "C's late file appears on neither A nor B"
is "$(cat "$ma/c-early.txt")" "from C $MARK" "C's file from before the cutoff stays"

# ------------------------------------------------------------ the new epoch
echo "new $MARK" >"$ma/new.txt"
echo "old, changed $MARK" >"$ma/old.txt"
sync_all A B
converge "B reads A's new file (new epoch)" 30 content_is "$mb/new.txt" "new $MARK"
converge "B reads A's new version of the old file" 30 content_is "$mb/old.txt" "old, changed $MARK"
sync_all C
converge "C: status says it was removed" 30 \
	sh -c "SEALSYNC_HOME=$HC '$SEALSYNC_BIN' status docs --json 2>/dev/null | jq -e '.key_state == \"removed\"'"
sync_all C
[ ! -e "$mc/new.txt" ]; ok $? "C never gets the file written under the new epoch"
is "$(cat "$mc/old.txt")" "old $MARK" "C keeps the old version of the changed file"
err=$( { echo x >"$mc/w.txt"; } 2>&1)
like "$err" "Read-only file system" "C's mount refuses writes (EROFS)"
run_ok "C: members" C members docs
like "$T_OUT" "devC \\(owner bob\\) removed by devA .*this device" "C's members lists it as removed"

# ------------------------------------------------------------ rekey
# (the round reports status "alarm": C's refused entry stays an alarm until A remounts)
run A rekey docs --json
is "$(jq -r '[.rekeyed, .committed, .queue.entries] | join(" ")' <<<"$T_OUT")" "1 1 0" \
	"rekey: C's early file (the one file still under the old key) is re-encrypted and published"
run A rekey docs --json
is "$(jq -r '[.rekeyed, .committed] | join(" ")' <<<"$T_OUT")" "0 0" "rekey again: nothing left under an old key"
sync_all B
is "$(cat "$mb/c-early.txt")" "from C $MARK" "B reads the re-encrypted file unchanged"
sync_all C
is "$(cat "$mc/c-early.txt")" "from C $MARK" "C keeps only the copy it had"

# ------------------------------------------------------------ log, entry by entry
run_ok "A: log --json" A log docs --json
j=$T_OUT
is "$(jq -r '[.entries[].kind] | join(" ")' <<<"$j")" "GENESIS ADD_DEVICE ADD_DEVICE REMOVE_DEVICE" "log: the four entries in order"
is "$(jq -r '.entries[3] | [.author, .device, (.cutoff|tostring), (.wraps|tostring), (.new_epoch|tostring), (.void|tostring)] | join(" ")' <<<"$j")" \
	"$idA $idC $cutoff 2 true false" "log: REMOVE_DEVICE by A, of C, its cutoff, 2 wraps, a new epoch"
is "$(jq -r '.entries[2].subjects[0] | .owner + "/" + .role' <<<"$j")" "bob/writer" "log: C was added as bob's writer"
is "$(jq -r '.entries[3].epoch == .entries[3].hash' <<<"$j")" true "log: the new epoch's id is the entry's hash"

# ------------------------------------------------------------ rotate, roles
run_fails "B (writer) may not rotate" B rotate docs
like "$T_ERR" "only admins rotate" "the refusal names the rule"
run_fails "B (writer) may not change roles" B role docs "${idA:0:8}" reader
run_ok "A: rotate" A rotate docs
like "$T_OUT" "new key epoch [0-9a-f]{12} \\(epoch 2 of the region\\), wrapped to 2 devices" "rotate names the new epoch"
sync_all A B
echo "rotated $MARK" >"$mb/rot.txt"
sync_all B A
converge "A reads B's file written under the rotated key" 30 content_is "$ma/rot.txt" "rotated $MARK"

run_ok "A: role B reader" A role docs "${idB:0:8}" reader
like "$T_OUT" "devB: writer -> reader" "role reports the change"
SEALSYNC_HOME=$HB remount docs "$mb" || bail "B cannot remount"
err=$( { echo x >"$mb/w.txt"; } 2>&1)
like "$err" "Read-only file system" "B, now a reader, mounts read-only"
is "$(cat "$mb/rot.txt")" "rotated $MARK" "B still reads"
run_ok "A: role B writer" A role docs "${idB:0:8}" writer
sync_all B # no remount: the membership refresh makes the mount writable again
echo "writer again $MARK" >"$mb/again.txt"
sync_all B A
converge "B writes again after its promotion" 30 content_is "$ma/again.txt" "writer again $MARK"

# ------------------------------------------------------------ key-age policy
run_ok "A: policy --max-key-age 1s" A policy docs --max-key-age 1s
like "$T_OUT" "max_key_age: 1 s" "policy shows the new limit"
sleep 2
sync_all A
run_ok "A: log --json" A log docs --json
# (>= 2: `policy` returns once A's mount has refolded, which rotates the stale key at once)
n=$(jq -r '[.entries[] | select(.kind == "ROTATE_KEY" and .author == "'"$idA"'")] | length' <<<"$T_OUT")
[ "$n" -ge 2 ]; ok $? "A's mount rotated the stale key by itself ($n rotations by A)"
rid_docs=$RID
SEALSYNC_HOME=$HA create_region aged --store "$STORE" --max-key-age 30d
RID=$rid_docs
run_ok "A: policy of a region created with --max-key-age" A policy aged
like "$T_OUT" "max_key_age: 2592000 s" "create --max-key-age puts the policy in the GENESIS"
run_ok "A: policy off" A policy docs --max-key-age off
like "$T_OUT" "max_key_age: off" "policy off"
echo "after auto-rotation $MARK" >"$ma/auto.txt"
sync_all A B
converge "B reads a file under the auto-rotated key" 30 content_is "$mb/auto.txt" "after auto-rotation $MARK"

# ------------------------------------------------------------ a withheld rotation
# B is offline while A rotates; the store then hides the ROTATE_KEY from B.
# A's next entry names it as its membership head: B holds A's updates and
# says so, instead of applying them (or writing on under the old key).
umount_region "$mb"
run_ok "A: rotate (to be withheld)" A rotate docs
rot=$(A log docs --json | jq -r '.entries[-1] | "\(.height|tostring)-\(.hash)"')
rotobj=$(printf '%s/%s/members/%016x-%s' "$work/store.real" "$RID" "${rot%%-*}" "${rot#*-}")
[ -f "$rotobj" ]; ok $? "the ROTATE_KEY object is on the store"
mv "$rotobj" "$work/withheld"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot mount"
sync_all A # A's mount takes up the rotation it made
echo "behind a withheld rotation $MARK" >"$ma/withheld.txt"
sync_all A B
converge "B: status names membership-withheld for A" 30 alarm_named "$HB" docs membership-withheld "$idA"
[ ! -e "$mb/withheld.txt" ]; ok $? "B applies nothing of A's past the withheld entry"
mv "$work/withheld" "$rotobj"
B alarms docs --clear-all >/dev/null 2>&1 # alarms last until cleared (invariant A1)
SEALSYNC_HOME=$HB remount docs "$mb" || bail "B cannot remount"
sync_all B
converge "with the entry back, B gets A's file after a remount" 30 content_is "$mb/withheld.txt" "behind a withheld rotation $MARK"

# ------------------------------------------------------------ two admins at once
# B becomes an admin; A and B each rotate without seeing the other's entry
# (A's is hidden while B builds on the same heads).  Every device folds the
# two concurrent entries in one order and ends on the same current epoch.
run_ok "A: role B admin" A role docs "${idB:0:8}" admin
umount_region "$mb"
run_ok "A: rotate (concurrently)" A rotate docs
x=$(A log docs --json | jq -r '.entries[-1] | "\(.height|tostring) \(.hash)"')
xobj=$(printf '%s/%s/members/%016x-%s' "$work/store.real" "$RID" "${x%% *}" "${x#* }")
mv "$xobj" "$work/hidden-x"
run_ok "B: rotate (concurrently)" B rotate docs
mv "$work/hidden-x" "$xobj"
run_ok "A: log --json" A log docs --json
la=$(jq -r '[.entries[].hash] | join(" ")' <<<"$T_OUT")
is "$(jq -r '[.entries[-2:][].height] | unique | length' <<<"$T_OUT")" 1 "the two rotations are concurrent (one height)"
run_ok "B: log --json" B log docs --json
is "$(jq -r '[.entries[].hash] | join(" ")' <<<"$T_OUT")" "$la" "A and B fold the same entries in the same order"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot mount"
sync_all A B
echo "after two rotations, from A $MARK" >"$ma/two-a.txt"
echo "after two rotations, from B $MARK" >"$mb/two-b.txt"
sync_all A B A B
converge "B reads A's file after the concurrent rotations" 30 content_is "$mb/two-a.txt" "after two rotations, from A $MARK"
converge "A reads B's file after the concurrent rotations" 30 content_is "$ma/two-b.txt" "after two rotations, from B $MARK"

# ------------------------------------------------------------ a device enrolled afterwards
enroll_device devD D docs
md=$work/mD
mkdir "$md"
SEALSYNC_HOME=$HD mount_region docs "$md" || bail "D cannot mount"
sync_all A B D
converge "D reads C's early file (GENESIS epoch, via the history links)" 60 content_is "$md/c-early.txt" "from C $MARK"
converge "D reads the file of the revocation's epoch" 30 content_is "$md/new.txt" "new $MARK"
converge "D reads the file of the rotated epoch" 30 content_is "$md/rot.txt" "rotated $MARK"
converge "D reads the file of the auto-rotated epoch" 30 content_is "$md/auto.txt" "after auto-rotation $MARK"
[ ! -e "$md/c-late.txt" ]; ok $? "D does not get C's late file either"
run_ok "D: log --json" D log docs --json
is "$(jq -r '[.entries[].hash] | join(" ")' <<<"$T_OUT" | cut -d' ' -f1-$(wc -w <<<"$la"))" "$la" "D folds the same history in the same order"
run_ok "D: members --json" D members docs --json
is "$(jq -r '[.removed[].device_id] | join(" ")' <<<"$T_OUT")" "$idC" "D's members lists C as removed"

# ------------------------------------------------------------ a hostile store's membership objects
# A forged entry (D's ADD with one body byte changed, named after its new
# hash: its signature fails) and an old entry replayed under another name are
# store junk: reported, never applied.
members_dir=$work/store.real/$RID/members
ndev=$(A members docs --json | jq '.devices | length')
/usr/bin/python3 - "$members_dir" <<'PY'
import hashlib, os, sys
d = sys.argv[1]
names = sorted(n for n in os.listdir(d) if n.endswith(tuple("0123456789abcdef")))
src = names[-1]                      # the newest entry
b = bytearray(open(os.path.join(d, src), "rb").read())
b[len(b) // 2] ^= 0x01               # inside the signed part: the signature no longer verifies
h = hashlib.blake2b(bytes(b), digest_size=32).hexdigest()
open(os.path.join(d, "%s-%s" % (src.split("-")[0], h)), "wb").write(bytes(b))
old = names[1]                       # an old entry, replayed at another height
open(os.path.join(d, "%016x-%s" % (int(old.split("-")[0], 16) + 40, old.split("-")[1])), "wb").write(
    open(os.path.join(d, old), "rb").read())
PY
run A members docs --json
is "$T_RC" 1 "a store with forged or replayed membership objects: members exits 1"
is "$(jq '[.unverified[] | select(.where == "store")] | length' <<<"$T_OUT")" 2 "members lists the two junk objects"
like "$(jq -r '[.unverified[].why] | join("; ")' <<<"$T_OUT")" "bad signature.*name does not match|name does not match.*bad signature" \
	"the forged one fails its signature, the replayed one its name"
is "$(jq '.devices | length' <<<"$T_OUT")" "$ndev" "no device was added or removed by them"

for m in "$ma" "$mb" "$mc" "$md"; do umount_region "$m"; done
if grep -rqa -- "$MARK" "$work/store.real"; then
	fail "no marker in the store" "$(grep -rla -- "$MARK" "$work/store.real" | head)"
else
	pass "no marker in the store"
fi

# ============================================================ S3 (Swift)
# The core on the signature-checking S3 server: C reaches it through a
# proxy that can cut it off; A revokes C meanwhile; C's later entry is
# refused by A and B, and C never gets what A writes afterwards.
if ! /usr/bin/python3 -c 'import swift' 2>/dev/null || ! command -v memcached >/dev/null 2>&1; then
	skip "S3 part: python3-swift or memcached is not installed (scripts/deps.sh)"
	done_testing
	exit 0
fi
start_s3 || bail "scripts/s3-server.sh does not start"
S3_DIRECT=$AWS_ENDPOINT_URL
start_proxy || bail "the proxy does not start"
AWS_ENDPOINT_URL=$S3_DIRECT
STORE=s3://$S3_BUCKET/revoke-test
SEALSYNC_HOME=$HA create_region s3docs --store "$STORE"
RID=$REGION_ID
run_ok "A: invite B (s3)" A invite s3docs --json
code=$(jq -r .code <<<"$T_OUT")
B join s3docs "$STORE" "$RID" --code "$code" --timeout 60 >"$work/join.s3B" 2>&1 </dev/null &
jpid=$!
for _ in $(seq 150); do
	A requests s3docs --json 2>/dev/null | jq -e --arg d "$idB" '.[] | select(.device_id == $d and .status == "valid")' >/dev/null && break
	sleep 0.2
done
run_ok "A: approve B (s3)" A approve s3docs "$idB"
wait "$jpid"
ok $? "B joins on S3" "$(cat "$work/join.s3B")"
HC=$work/hC3 # a fresh device for C on S3, through the proxy
export AWS_ENDPOINT_URL=$PROXY_URL
enroll_device devC3 C s3docs --owner bob
idC3=$(C id --json | jq -r .device_id)
sa=$work/sA sb=$work/sB sc=$work/sC
mkdir "$sa" "$sb" "$sc"
SEALSYNC_HOME=$HC mount_region s3docs "$sc" || bail "C cannot mount (s3)"
export AWS_ENDPOINT_URL=$S3_DIRECT
SEALSYNC_HOME=$HA mount_region s3docs "$sa" || bail "A cannot mount (s3)"
SEALSYNC_HOME=$HB mount_region s3docs "$sb" || bail "B cannot mount (s3)"
s3sync() { local f; for f in "$@"; do "$f" sync s3docs >/dev/null 2>&1; done; }
echo "s3 early $MARK" >"$sc/early.txt"
s3sync C A B
converge "s3: A gets C's early file" 40 content_is "$sa/early.txt" "s3 early $MARK"
converge "s3: C's outbox is empty" 40 outbox_empty "$HC/regions/$RID"
proxy_faults "error_rate=1"
run_ok "s3: A revokes C" A revoke s3docs "${idC3:0:8}"
echo "s3 late $MARK" >"$sc/late.txt"
converge "s3: C commits its late file while cut off" 60 sh -c "ls '$HC/regions/$RID/outbox' | grep -q '^j-'"
proxy_faults
converge "s3: C publishes its late entry" 60 outbox_empty "$HC/regions/$RID"
s3sync A B
for f in A B; do
	converge "s3: $f names the revoked alarm for C" 30 \
		alarm_named "$(eval echo \$H$f)" s3docs revoked "$idC3"
done
[ ! -e "$sa/late.txt" ] && [ ! -e "$sb/late.txt" ]; ok $? "s3: C's late file appears on neither A nor B"
echo "s3 new $MARK" >"$sa/new.txt"
s3sync A B C
converge "s3: B reads A's new file" 40 content_is "$sb/new.txt" "s3 new $MARK"
s3sync C
[ ! -e "$sc/new.txt" ]; ok $? "s3: C never gets the file written under the new epoch"
run A rekey s3docs --json
is "$(jq -r '[.rekeyed, .queue.entries] | join(" ")' <<<"$T_OUT")" "1 0" "s3: rekey re-encrypts C's early file and publishes it"
run_ok "s3: A: role B reader" A role s3docs "${idB:0:8}" reader
s3sync B
err=$( { echo x >"$sb/w.txt"; } 2>&1)
like "$err" "Read-only file system" "s3: B, now a reader, refuses writes after a refresh"
run_ok "s3: A: role B writer" A role s3docs "${idB:0:8}" writer
s3sync B
echo "s3 writer again $MARK" >"$sb/again.txt"
s3sync B A
converge "s3: B writes again after its promotion" 40 content_is "$sa/again.txt" "s3 writer again $MARK"
for m in "$sa" "$sb" "$sc"; do umount_region "$m"; done
if grep -rqa -- "$MARK" "$S3_DIR"; then
	fail "s3: no marker in Swift's files" "$(grep -rla -- "$MARK" "$S3_DIR" | head)"
else
	pass "s3: no marker in Swift's files"
fi
done_testing
