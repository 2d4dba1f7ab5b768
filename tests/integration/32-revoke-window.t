#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 32-revoke-window.t: revocation without a window (issue #9 case 1; doc/SYNC.md
# R1, R2, R3).  Three users on one file:// store, every device mounted:
# admin alice (A), writer bob (B), writer carol (C).
#  - R2: when `revoke` returns, A's own mount already seals under the new
#    epoch (`status --json` .epoch is the REMOVE_DEVICE's epoch): A writes a
#    file at once and syncs; C (still mounted, then remounted from the store)
#    never reads it, and the marker is nowhere on C's side;
#  - R3: B, another owner's device that has not refreshed (no remount, no
#    sync before it writes), writes at once after `revoke` returns: C never
#    reads that file either;
#  - R1/R3 repeated with `rotate`: after each rotate, B writes at once; B's
#    `rekey` then finds only the files from before the rotate under an old
#    epoch, never the new one (a file sealed under the old epoch would be
#    counted);
#  - `role`: B demoted to reader: what it writes right after `role` returns
#    is never published (A never gets it; `sync` on B does not say ok) and
#    B's mount refuses writes (EROFS) within a few seconds;
#  - the same revoke core on the S3 server (Swift), when installed.
TEST_TIMEOUT=420
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # unused default home
HA=$work/hA HB=$work/hB HC=$work/hC
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }
C() { SEALSYNC_HOME=$HC "$SEALSYNC_BIN" "$@"; }
MARK=w1nd0w-$RANDOM$RANDOM

# last_epoch FN REGION: the epoch of the newest entry of FN's log.
last_epoch() { "$1" log "$2" --json | jq -r '.entries[-1].epoch'; }
# mount_epoch FN REGION: the epoch FN's mount seals new content under.
mount_epoch() { "$1" status "$2" --json 2>/dev/null | jq -r '.epoch'; }
# nowhere_on HOME MP: no plaintext of the files written after the revocation
# is in any file under HOME nor under mount MP.
nowhere_on() { ! grep -rqa -- "after revoke $MARK" "$1" "$2" 2>/dev/null; }

# revoke_core REGION MA MB MC TIMEOUT: A revokes C; A and B write at once.
revoke_core()
{
	local r=$1 ma=$2 mb=$3 mc=$4 t=$5 idC ep
	idC=$(C id --json | jq -r .device_id)
	echo "early $MARK" >"$ma/early.txt"
	A sync "$r" >/dev/null 2>&1
	B sync "$r" >/dev/null 2>&1
	C sync "$r" >/dev/null 2>&1
	converge "$r: C reads A's early file" "$t" content_is "$mc/early.txt" "early $MARK"
	converge "$r: B reads A's early file" "$t" content_is "$mb/early.txt" "early $MARK"

	run_ok "$r: A revokes C" A revoke "$r" "${idC:0:8}"
	like "$T_OUT" "mount of $r uses the new membership now" "$r: revoke says A's mount switched before returning"
	# At once: no sleep, no sync, no remount before these writes.
	echo "A after revoke $MARK" >"$ma/a-new.txt"
	echo "B after revoke $MARK" >"$mb/b-new.txt"
	ep=$(last_epoch A "$r")
	is "$(mount_epoch A "$r")" "$ep" "$r: A's mount seals under the REMOVE_DEVICE's epoch when revoke returns"
	run_ok "$r: A sync" A sync "$r"
	run_ok "$r: B sync" B sync "$r"
	is "$(mount_epoch B "$r")" "$ep" "$r: B's mount is on the new epoch after its sync"
	converge "$r: B reads A's new file" "$t" content_is "$mb/a-new.txt" "A after revoke $MARK"
	converge "$r: A reads B's new file" "$t" content_is "$ma/b-new.txt" "B after revoke $MARK"
	grep -q "the membership log changed: refolding before this round is published" "$HB/regions/$RID/mount.log" &&
		note "$r: B's commit round found the changed log and refolded before publishing" ||
		note "$r: B's pull round had refolded before its commit round"
	C sync "$r" >/dev/null 2>&1
	C sync "$r" >/dev/null 2>&1
	[ ! -e "$mc/a-new.txt" ] && [ ! -e "$mc/b-new.txt" ]
	ok $? "$r: C (still mounted) shows neither new file" "$(ls -la "$mc")"
	nowhere_on "$HC" "$mc"
	ok $? "$r: the marker is nowhere on C's side" "$(grep -rla -- "$MARK" "$HC" "$mc" 2>/dev/null | head)"
	is "$(cat "$mc/early.txt")" "early $MARK" "$r: C keeps the file from before (the README's promise covers what comes after)"
	umount_region "$mc"
	nowhere_on "$HC" "$mc"
	ok $? "$r: unmounted, no plaintext of the new files anywhere in C's home"
	run_fails "$r: C cannot mount any more (no key of the current epoch)" C mount "$r" "$mc"
	# Straight from the store with every key C has: the entries after the
	# revocation are under an epoch C cannot open.
	run C verify "$r" --json
	note "$r: C's verify: $(jq -c '{problem_count, kinds: ([.problems[].kind] | unique)}' <<<"$T_OUT")"
	is "$(jq -r --arg a "$idA" --arg b "$idB" '[.problems[] | select(.kind == "unknown-epoch") | .device |
		select(. == $a or . == $b)] | unique | length' <<<"$T_OUT")" 2 \
		"$r: C's verify, with every key C holds, cannot open A's nor B's entry after the revocation (unknown-epoch)"
}

# ------------------------------------------------------------ setup
STORE=file://$work/store
run_ok "A: init" A init --kdf interactive --name devA
SEALSYNC_HOME=$HA create_region docs --store "$STORE"
RID=$REGION_ID
enroll_device devB B docs --owner bob
enroll_device devC C docs --owner carol
idA=$(A id --json | jq -r .device_id)
idB=$(B id --json | jq -r .device_id)
ma=$work/mA mb=$work/mB mc=$work/mC
mkdir "$ma" "$mb" "$mc"
SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "A cannot mount"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot mount"
SEALSYNC_HOME=$HC mount_region docs "$mc" || bail "C cannot mount"

# ------------------------------------------------------------ revoke
revoke_core docs "$ma" "$mb" "$mc" 30

# ------------------------------------------------------------ rotate, repeated
# Every file B has is brought to the current epoch first; each rotate then
# makes all of them old.  B writes a new file at once after the rotate
# returns; `rekey` on B must count exactly the files that existed before.
run_ok "B: rekey (everything to the current epoch)" B rekey docs --json
for i in 1 2 3; do
	before=$(find "$mb" -mindepth 1 | wc -l)
	run_ok "rotate $i: A rotates" A rotate docs
	echo "B after rotate $i $MARK" >"$mb/rot-$i.txt"
	ep=$(last_epoch A docs)
	is "$(mount_epoch A docs)" "$ep" "rotate $i: A's mount is on the new epoch when rotate returns"
	run_ok "rotate $i: B sync" B sync docs
	is "$(mount_epoch B docs)" "$ep" "rotate $i: B's mount is on the new epoch"
	run_ok "rotate $i: B rekey" B rekey docs --json
	is "$(jq -r .rekeyed <<<"$T_OUT")" "$before" "rotate $i: rekey re-encrypts the $before older item(s), not B's new file"
	converge "rotate $i: A reads B's file" 30 content_is "$ma/rot-$i.txt" "B after rotate $i $MARK"
done

# ------------------------------------------------------------ role
run_ok "A: role B reader" A role docs "${idB:0:8}" reader
# At once: the write may be refused already, or taken locally before B learns.
if { echo "B as reader $MARK" >"$mb/as-reader.txt"; } 2>/dev/null; then
	note "B's write right after role was taken locally (B had not learned yet)"
	run B sync docs --json
	isnt "$(jq -r .status <<<"$T_OUT")" ok "role: B's sync does not say ok while its change cannot be published" "$T_OUT" ||
		diag "B's sync said: $T_OUT" "B's mount.log (end):" "$(tail -n 25 "$HB/regions/$RID/mount.log")" \
			"A's mount.log (end):" "$(tail -n 10 "$HA/regions/$RID/mount.log")"
else
	pass "role: B's write right after role is refused already"
fi
converge "role: B's mount refuses writes (EROFS) by itself" 10 \
	sh -c "! { echo x >'$mb/w.txt'; } 2>/dev/null"
A sync docs >/dev/null 2>&1
A sync docs >/dev/null 2>&1
[ ! -e "$ma/as-reader.txt" ]; ok $? "role: A never gets what B wrote after its demotion"
run_ok "A: role B writer" A role docs "${idB:0:8}" writer
for m in "$ma" "$mb"; do umount_region "$m"; done
if grep -rqa -- "$MARK" "$work/store"; then
	fail "no marker in the store" "$(grep -rla -- "$MARK" "$work/store" | head)"
else
	pass "no marker in the store"
fi

# ============================================================ S3 (Swift)
if ! /usr/bin/python3 -c 'import swift' 2>/dev/null || ! command -v memcached >/dev/null 2>&1; then
	skip "S3 part: python3-swift or memcached is not installed (scripts/deps.sh)"
	done_testing
	exit 0
fi
start_s3 || bail "scripts/s3-server.sh does not start"
STORE=s3://$S3_BUCKET/window-test
SEALSYNC_HOME=$HA create_region s3docs --store "$STORE"
RID=$REGION_ID
HC=$work/hC3 # a fresh device of carol's for the S3 region
run_ok "A: invite B (s3)" A invite s3docs --owner bob --json
code=$(jq -r .code <<<"$T_OUT")
B join s3docs "$STORE" "$RID" --code "$code" --timeout 90 >"$work/join.s3B" 2>&1 </dev/null &
jpid=$!
for _ in $(seq 150); do
	A requests s3docs --json 2>/dev/null | jq -e --arg d "$idB" '.[] | select(.device_id == $d and .status == "valid")' >/dev/null && break
	sleep 0.2
done
run_ok "A: approve B (s3)" A approve s3docs "$idB"
wait "$jpid"
ok $? "B joins on S3" "$(cat "$work/join.s3B")"
enroll_device devC3 C s3docs --owner carol
sa=$work/sA sb=$work/sB sc=$work/sC
mkdir "$sa" "$sb" "$sc"
SEALSYNC_HOME=$HA mount_region s3docs "$sa" || bail "A cannot mount (s3)"
SEALSYNC_HOME=$HB mount_region s3docs "$sb" || bail "B cannot mount (s3)"
SEALSYNC_HOME=$HC mount_region s3docs "$sc" || bail "C cannot mount (s3)"
revoke_core s3docs "$sa" "$sb" "$sc" 40
for m in "$sa" "$sb"; do umount_region "$m"; done
if grep -rqa -- "$MARK" "$S3_DIR"; then
	fail "s3: no marker in Swift's files" "$(grep -rla -- "$MARK" "$S3_DIR" | head)"
else
	pass "s3: no marker in Swift's files"
fi
done_testing
