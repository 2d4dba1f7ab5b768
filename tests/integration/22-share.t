#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 22-share.t: sharing a region with other users, and the reader role
# (doc/CLI.md "invite", doc/DESIGN.md "Roles").  Three users on a file://
# store: admin alice (devices A, A2), writer bob (B), reader carol (C, and C2
# enrolled by C itself).  Checks: invite/requests/approve/join show owner,
# role and the same pairing words on both sides; `members` lists owners and
# roles; carol cannot enroll a writer, bob cannot invite another owner or an
# admin; a mistyped code is refused with nothing posted; writes by alice and
# bob reach every device; carol's mount refuses every change with EROFS; a
# reader forging a write (tests/tools/forgemount: a client without the reader
# check) is refused by every receiver with alarm not-a-writer, trees
# unchanged.  Then the core (share, propagate, reader refusal) on the local
# S3 server (skipped when python3-swift or memcached is missing).
TEST_TIMEOUT=120
. "$(dirname "$0")/lib.sh"
need_cmd jq
tool FORGE forgemount

setup_device # unused default home; the users get their own
HA=$work/hA HA2=$work/hA2 HB=$work/hB HC=$work/hC HC2=$work/hC2
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
A2() { SEALSYNC_HOME=$HA2 "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }
C() { SEALSYNC_HOME=$HC "$SEALSYNC_BIN" "$@"; }
C2() { SEALSYNC_HOME=$HC2 "$SEALSYNC_BIN" "$@"; }
home_of() { case $1 in A) echo "$HA" ;; A2) echo "$HA2" ;; B) echo "$HB" ;; C) echo "$HC" ;; C2) echo "$HC2" ;; esac; }


# share INVITER NEW NAME REGION STORE ROLE OWNER: the whole flow with its
# checks: INVITER invites (owner, role), NEW joins and shows the pairing
# words, INVITER's `requests` shows the same words, owner and role, INVITER
# approves, and NEW's join reports the owner and role it got.
share()
{
	local inv=$1 new=$2 name=$3 region=$4 store=$5 role=$6 owner=$7 rid code dev jpid words jw
	rid=$(SEALSYNC_HOME=$(home_of "$inv") "$SEALSYNC_BIN" list --json | jq -r --arg n "$region" '.[] | select(.name == $n) | .region_id')
	[ -e "$(home_of "$new")/device.key" ] || run_ok "$new: init" "$new" init --kdf interactive --name "$name"
	dev=$("$new" id --json | jq -r .device_id)
	run_ok "$inv: invite $name as $role of $owner" "$inv" invite "$region" --role "$role" --owner "$owner" --json
	is "$(jq -r '.role + "/" + .owner' <<<"$T_OUT")" "$role/$owner" "invite --json names role and owner"
	code=$(jq -r .code <<<"$T_OUT")
	"$new" join "$region" "$store" "$rid" --code "$code" --timeout 60 >"$work/join.$new" 2>&1 </dev/null &
	jpid=$!
	for _ in $(seq 150); do
		"$inv" requests "$region" --json 2>/dev/null | jq -e --arg d "$dev" '.[] | select(.device_id == $d and .status == "valid")' >/dev/null && break
		sleep 0.2
	done
	run_ok "$inv: requests" "$inv" requests "$region"
	like "$T_OUT" "$dev +$name +[a-z-]+ +valid +$role +$owner" "requests shows the role and owner"
	words=$("$inv" requests "$region" --json | jq -r --arg d "$dev" '.[] | select(.device_id == $d) | .pairing')
	is "$(wc -w <<<"$words")" 12 "the pairing words are 12 words"
	jw=$(sed -n 's/^pairing words: //p' "$work/join.$new" | head -n1)
	is "$jw" "$words" "$new shows the same pairing words before approval"
	like "$(cat "$work/join.$new")" "as $role, owner $owner" "join names the role and owner it is invited as"
	run_ok "$inv: approve $name" "$inv" approve "$region" "$dev"
	like "$T_OUT" "as $role, owner $owner" "approve names role and owner"
	like "$T_OUT" "pairing words: $words" "approve prints the pairing words"
	wait "$jpid"
	ok $? "$new: join completes" "$(cat "$work/join.$new")"
	like "$(cat "$work/join.$new")" "joined region $region .* as $role, owner $owner" "join reports the role and owner it got"
	like "$(cat "$work/join.$new")" "pairing words: $words" "join repeats the pairing words"
}

# eofs WHAT COMMAND...: COMMAND fails with "Read-only file system".
erofs()
{
	local what=$1 out
	shift
	out=$("$@" 2>&1)
	if [ $? -ne 0 ] && [[ $out == *"Read-only file system"* ]]; then
		pass "reader: $what refused with EROFS"
	else
		fail "reader: $what refused with EROFS" "output: $out"
	fi
}

# ============================================================ file:// store
STORE=file://$work/store
mkdir -p "$work/store"
run_ok "alice: init" A init --kdf interactive --name alice
export SEALSYNC_HOME=$HA
create_region docs --store "$STORE"
RID=$REGION_ID

share A A2 alice2 docs "$STORE" admin alice
share A B bob docs "$STORE" writer bob
share A C carol docs "$STORE" reader carol

# --- authority: carol (reader) enrolls only readers of carol; bob no one else ---
run_fails "carol: invite a writer" C invite docs --role writer
like "$T_ERR" "reader of region docs: it may not enroll a device as writer" "carol's refusal says why"
run_fails "bob: invite a device of another owner" B invite docs --owner dave
like "$T_ERR" "may enroll only devices of its own owner 'bob', not of 'dave'" "bob's refusal names the owners"
run_fails "bob: invite an admin" B invite docs --role admin
like "$T_ERR" "may not enroll a device as admin" "bob's admin refusal says why"
share C C2 carol2 docs "$STORE" reader carol

# --- a mistyped code: refused, nothing posted, nothing changes ---------------
run_ok "X: init" env SEALSYNC_HOME="$work/hX" "$SEALSYNC_BIN" init --kdf interactive --name mallory
run_ok "alice: invite for X" A invite docs --json
code=$(jq -r .code <<<"$T_OUT")
bad=$(awk '{ $1 = ($1 == "abandon" ? "ability" : "abandon"); print }' <<<"$code")
njoin=$(find "$work/store/$RID/join" -type f | wc -l)
members_before=$(A members docs --json | jq -c '[.devices[] | .device_id] | sort')
run_fails "X: join with a mistyped code" env SEALSYNC_HOME="$work/hX" "$SEALSYNC_BIN" join docs "$STORE" "$RID" --code "$bad" --timeout 0
like "$T_ERR" "the code does not match region $RID.*nothing was posted" "the refusal is clear"
is "$(find "$work/store/$RID/join" -type f | wc -l)" "$njoin" "no join request was posted"
is "$(A members docs --json | jq -c '[.devices[] | .device_id] | sort')" "$members_before" "the membership is unchanged"
[ ! -e "$work/hX/regions" ] || [ -z "$(ls "$work/hX/regions")" ]
ok $? "X has no region"

# --- members lists owners and roles -------------------------------------------
run_ok "members docs (on bob)" B members docs
for pair in "alice:alice:admin" "alice2:alice:admin" "bob:bob:writer" "carol:carol:reader" "carol2:carol:reader"; do
	IFS=: read -r n o r <<<"$pair"
	is "$(B members docs --json | jq -r --arg n "$n" '.devices[] | select(.name == $n) | .owner + "/" + .role')" "$o/$r" "members: $n is $r of $o"
done
like "$T_OUT" "owner carol, role reader" "members (text) shows owner and role"

# --- everyone mounted; writes by alice and bob reach everyone ---------------------
for d in A A2 B C C2; do
	mkdir -p "$work/m$d.mnt"
	export SEALSYNC_HOME=$(home_of $d)
	mount_region docs "$work/m$d.mnt" || bail "mount on $d failed" "$MOUNT_OUT"
	[ $d != C ] || like "$(SEALSYNC_HOME=$HC "$SEALSYNC_BIN" status docs 2>&1)" "read-only \(this device is a reader\)" "carol's status says it mounted read-only"
done
export SEALSYNC_HOME=$HC
umount_region "$work/mC.mnt"
out=$(timeout 60 "$SEALSYNC_BIN" mount docs "$work/mC.mnt" </dev/null 2>&1)
like "$out" "mounted read-only: this device is a reader in docs" "mount tells carol why it is read-only"
echo "$work/mC.mnt" >>"$work/.mounts"
echo "from alice" >"$work/mA.mnt/alice.txt"
echo "from bob" >"$work/mB.mnt/bob.txt"
mkdir "$work/mB.mnt/dir" && echo "nested" >"$work/mB.mnt/dir/n.txt"
for d in A A2 B C C2; do
	converge "$d has alice's and bob's files" 40 \
		sh -c "[ \"\$(cat '$work/m$d.mnt/alice.txt')\" = 'from alice' ] && [ \"\$(cat '$work/m$d.mnt/bob.txt')\" = 'from bob' ] && [ -f '$work/m$d.mnt/dir/n.txt' ]"
done

# --- carol's mount refuses every change ------------------------------------
mc=$work/mC.mnt
erofs "create" sh -c "echo x >'$mc/new.txt'"
erofs "write" sh -c "echo x >>'$mc/alice.txt'"
erofs "rename" mv "$mc/alice.txt" "$mc/renamed.txt"
erofs "unlink" rm "$mc/bob.txt"
erofs "mkdir" mkdir "$mc/newdir"
erofs "rmdir" rmdir "$mc/dir"
erofs "chmod" chmod 600 "$mc/alice.txt"
erofs "truncate" truncate -s 0 "$mc/alice.txt"
erofs "symlink" ln -s alice.txt "$mc/link"
is "$(cat "$mc/alice.txt")" "from alice" "carol still reads alice's file unchanged"

# --- carol forges a write: every receiver refuses it -------------------------
DEV_C=$(C id --json | jq -r .device_id)
umount_region "$mc"
out=$("$FORGE" docs "$mc" 2>&1)
ok $? "forgemount mounts carol's device writable (the forgery)" "$out"
echo "forged by carol" >"$mc/forged.txt"
echo "overwritten by carol" >"$mc/alice.txt"
sync
umount_region "$mc" # uploads the signed journal entry before returning
ls "$work/store/$RID/journal/$DEV_C" >/dev/null 2>&1
ok $? "carol's device published a signed journal entry"
for d in A A2 B C2; do
	converge "$d: status names the not-a-writer alarm for carol's device" 30 \
		sh -c "SEALSYNC_HOME='$(home_of $d)' '$SEALSYNC_BIN' status docs 2>/dev/null | grep -q 'not-a-writer: device $DEV_C'"
	[ ! -e "$work/m$d.mnt/forged.txt" ]
	ok $? "$d: the forged file was not applied"
	is "$(cat "$work/m$d.mnt/alice.txt")" "from alice" "$d: alice's file is unchanged"
done

for d in A A2 B C2; do umount_region "$work/m$d.mnt"; done

# ============================================================ S3 (Swift)
if ! /usr/bin/python3 -c 'import swift' 2>/dev/null || ! command -v memcached >/dev/null 2>&1; then
	skip "S3 part: python3-swift or memcached is not installed (scripts/deps.sh)"
	done_testing
	exit 0
fi
start_s3 || bail "scripts/s3-server.sh does not start"
S3STORE=s3://$S3_BUCKET/share-test
export SEALSYNC_HOME=$HA
create_region s3docs --store "$S3STORE"
share A B bob s3docs "$S3STORE" writer bob
share A C carol s3docs "$S3STORE" reader carol
for d in A B C; do
	mkdir -p "$work/s$d"
	export SEALSYNC_HOME=$(home_of $d)
	mount_region s3docs "$work/s$d" || bail "s3: mount on $d failed" "$MOUNT_OUT"
done
echo "s3 alice" >"$work/sA/a.txt"
echo "s3 bob" >"$work/sB/b.txt"
for d in A B C; do
	converge "s3: $d has alice's and bob's files" 40 \
		sh -c "[ \"\$(cat '$work/s$d/a.txt')\" = 's3 alice' ] && [ \"\$(cat '$work/s$d/b.txt')\" = 's3 bob' ]"
done
erofs "s3: create" sh -c "echo x >'$work/sC/new.txt'"
erofs "s3: write" sh -c "echo x >>'$work/sC/a.txt'"
erofs "s3: unlink" rm "$work/sC/b.txt"
for d in A B C; do umount_region "$work/s$d"; done
done_testing
