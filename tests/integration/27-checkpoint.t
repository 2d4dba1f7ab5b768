#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 27-checkpoint.t: signed checkpoints (doc/SYNC.md "Checkpoints") on a file://
# store whose requests are counted (SEALSYNC_STORE_TRACE).
#  1. A writes a tree of a few hundred files, then 60 more journal entries
#     (rewrites of a few files, edits, renames, deletions); its mount writes
#     checkpoints (every 20 entries here), and `sealsync verify` checks them.
#  2. A new device B bootstraps from the newest checkpoint; a new device C
#     (SEALSYNC_NO_CHECKPOINT=1) replays the journals.  B needs far fewer
#     requests (its cost follows the current state, the journals' the
#     history); both end with A's tree (sha256 of every file).
#  3. Refusals, each named in `status`, the device falling back to the
#     journals and ending with the same tree: a bit flip in the checkpoint,
#     a checkpoint signed by a reader (forgemount), a checkpoint whose
#     vector contradicts a journal, a stale checkpoint below the device's
#     own journal head.
TEST_TIMEOUT=900
. "$(dirname "$0")/lib.sh"
need_cmd jq
tool FORGE forgemount

setup_device # A
HA=$SEALSYNC_HOME
mkdir -p "$work/store.real"
ln -s store.real "$work/store" # removed and put back to take the store away (as 25-ondemand.t)
STORE=file://$work/store
create_region docs --store "$STORE"
RID=$REGION_ID
SD=$work/store.real/$RID
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$work/hB "$SEALSYNC_BIN" "$@"; }
C() { SEALSYNC_HOME=$work/hC "$SEALSYNC_BIN" "$@"; }
D() { SEALSYNC_HOME=$work/hD "$SEALSYNC_BIN" "$@"; }
R() { SEALSYNC_HOME=$work/hR "$SEALSYNC_BIN" "$@"; }
E() { SEALSYNC_HOME=$work/hE "$SEALSYNC_BIN" "$@"; }
F() { SEALSYNC_HOME=$work/hF "$SEALSYNC_BIN" "$@"; }
G() { SEALSYNC_HOME=$work/hG "$SEALSYNC_BIN" "$@"; }

ma=$work/a
mkdir -p "$ma"
SEALSYNC_CHECKPOINT_EVERY=20 mount_region docs "$ma" || bail "mount on A failed"

# --- 1. A writes the tree in many entries ---------------------------------------
for d in d1 d2 d3; do
	mkdir -p "$ma/$d/sub"
	for i in $(seq 50); do
		head -c $((500 + RANDOM % 4000)) /dev/urandom >"$ma/$d/f$i"
		head -c $((200 + RANDOM % 2000)) /dev/urandom >"$ma/$d/sub/g$i"
	done
done
run_ok "A: sync the tree" A sync docs --timeout 120
# History: 60 more entries, each rewriting one of three "hot" files, with
# renames, deletions, new directories and edits of the tree in between; most
# of the history's packs hold no current content any more.
mkdir -p "$ma/hot"
for r in $(seq 60); do
	d=d$((r % 3 + 1))
	head -c $((1000 + RANDOM % 3000)) /dev/urandom >"$ma/hot/h$((r % 3))"
	case $((r % 6)) in
	0) mv "$ma/$d/sub/g$r" "$ma/$d/moved$r" 2>/dev/null ;;
	1) rm -f "$ma/$d/sub/g$((r + 1))" ;;
	2) mkdir -p "$ma/$d/new$r" ;;
	3) printf 'round %s\n' "$r" >>"$ma/$d/f$r" ;;
	esac
	A sync docs >/dev/null 2>&1 || diag "A: sync round $r failed"
done
run_ok "A: last sync" A sync docs
# A's mount writes checkpoints every 20 entries; a remount with 1 makes the
# newest one cover every entry (for the measurement below).
umount_region "$ma"
SEALSYNC_CHECKPOINT_EVERY=1 mount_region docs "$ma" || bail "remount on A failed"
NENT=$(ls "$SD/journal/"*/ | grep -c -- '-')
ok $([ "$NENT" -ge 50 ] && echo 0 || echo 1) "A published $NENT journal entries"
ASEQ=$(A status docs --json | jq -r .journal_seq)
# ck_mark FILE: the seq of the first mark of checkpoint FILE (u32 count at offset 97, then
# device(16), u64 seq, hash(32)): A's, the only device that wrote.
ck_mark() { echo $((16#$(od -An -tx1 -j117 -N8 "$1" | tr -d ' \n'))); }
newest_covers() { f=$(ls "$SD/c/"*/* | LC_ALL=C sort -t/ -k1 | tail -n1) && [ "$(ck_mark "$f")" = "$ASEQ" ]; }
converge "A: its newest checkpoint covers its last entry ($ASEQ)" 60 newest_covers
NCK=$(ls "$SD/c/"*/ | grep -c -- '-')
note "checkpoints written by A: $NCK"
run_ok "A: verify checks the checkpoints" A verify docs --json
is "$(jq -r '.counts.checkpoints.checked' <<<"$T_OUT")" "$NCK" "  ... every checkpoint checked"
is "$(jq -r '.problem_count' <<<"$T_OUT")" 0 "  ... and no problem found" "$T_OUT"

listing() { (cd "$1" && find . -printf '%y %P %s\n' | grep -v ' \.sealsync' | LC_ALL=C sort); }
sums() { (cd "$1" && find . -type f ! -path './.sealsync*' -exec sha256sum {} + | LC_ALL=C sort -k2); }
sums "$ma" >"$work/sums.a"
listing "$ma" >"$work/tree.a"
NFILES=$(wc -l <"$work/sums.a")

# --- 2. B bootstraps from the checkpoint, C replays the journals -----------------
# bootstrap FN MP TRACE [VAR=VALUE|alarm]: mount FN's device with the trace (and
# VAR), sync (with "alarm": the sync reports an alarm, exit 1); sets REQ and SECS (requests and seconds until the tree is there) and
# REQ_ALL (requests after reading every file).
bootstrap()
{
	local fn=$1 mp=$2 trace=$3 extra=$4 t0 t1
	mkdir -p "$mp"
	: >"$trace"
	t0=$(date +%s.%N)
	(
		export SEALSYNC_HOME="$work/h$fn" SEALSYNC_STORE_TRACE="$trace"
		case $extra in *=*) export "${extra?}" ;; esac
		mount_region docs "$mp"
	) || bail "mount on $fn failed"
	if [ "$extra" = alarm ]; then
		run "$fn" sync docs --timeout 300
		is "$T_RC" 1 "$fn: sync reports an alarm"
	else
		run_ok "$fn: sync" "$fn" sync docs --timeout 300
	fi
	t1=$(date +%s.%N)
	SECS=$(printf '%.1f' "$(echo "$t1 - $t0" | bc)")
	REQ=$(wc -l <"$trace")
	sums "$mp" >"$work/sums.$fn"
	REQ_ALL=$(wc -l <"$trace")
}

enroll_device devB B docs
bootstrap B "$work/b" "$work/trace.b"
REQ_B=$REQ SECS_B=$SECS ALL_B=$REQ_ALL
enroll_device devC C docs
bootstrap C "$work/c" "$work/trace.c" SEALSYNC_NO_CHECKPOINT=1
REQ_C=$REQ SECS_C=$SECS ALL_C=$REQ_ALL
note "tree of $NFILES files, $NENT journal entries:" \
	"B (checkpoint): $REQ_B requests, ${SECS_B} s to the tree; $ALL_B after reading every file" \
	"C (journals):   $REQ_C requests, ${SECS_C} s to the tree; $ALL_C after reading every file" \
	"B by kind: $(awk '{print $1}' "$work/trace.b" | sort | uniq -c | tr -s ' \n' ' ')" \
	"C by kind: $(awk '{print $1}' "$work/trace.c" | sort | uniq -c | tr -s ' \n' ' ')"
cmp -s "$work/sums.a" "$work/sums.B"
ok $? "B (from the checkpoint) has A's tree, sha256 of every file" "$(diff "$work/sums.a" "$work/sums.B" | head)"
cmp -s "$work/sums.a" "$work/sums.C"
ok $? "C (from the journals) has A's tree, sha256 of every file" "$(diff "$work/sums.a" "$work/sums.C" | head)"
listing "$work/b" >"$work/tree.b"
cmp -s "$work/tree.a" "$work/tree.b"
ok $? "B: names, types and sizes as on A" "$(diff "$work/tree.a" "$work/tree.b" | head)"
grep -q "bootstrap: from checkpoint" "$work/hB/regions/$RID/mount.log"
ok $? "B's log says it bootstrapped from a checkpoint"
[ "$REQ_B" -lt $((REQ_C / 2)) ]
ok $? "B needed far fewer requests than C ($REQ_B vs $REQ_C)"
B status docs --json >"$work/st.b"
is "$(jq '[.alarms[]? | select(.kind | test("checkpoint"))] | length' "$work/st.b")" 0 "B: no checkpoint alarm"

# --- 3. refusals ---------------------------------------------------------------
DEV_A=$(A id --json | jq -r .device_id)
CK=$(ls "$SD/c/$DEV_A/" | LC_ALL=C sort | tail -n1)
CKF=$SD/c/$DEV_A/$CK
cp "$CKF" "$work/ck.good"
# alarm_named FN KIND TEXT: FN's status names alarm KIND whose text matches TEXT.
alarm_named()
{
	"$1" status docs --json 2>/dev/null |
		jq -e --arg k "$2" --arg t "$3" '.alarms[]? | select(.kind == $k and (.text | test($t)))' >/dev/null
}
# fallback FN WHAT: FN did not bootstrap from a checkpoint and has A's tree.
fallback()
{
	! grep -q "bootstrap: from checkpoint" "$work/h$1/regions/$RID/mount.log"
	ok $? "$1: did not use the checkpoint ($2)"
	cmp -s "$work/sums.a" "$work/sums.$1"
	ok $? "$1: has A's tree from the journals ($2)" "$(diff "$work/sums.a" "$work/sums.$1" | head)"
}

# (a) a bit flip in the newest checkpoint
flip "$CKF"
enroll_device devD D docs
bootstrap D "$work/d" "$work/trace.d" alarm
converge "D: status names bad-checkpoint (a bit flip)" 20 alarm_named D bad-checkpoint "hash in its name"
fallback D "bit flip"
cp "$work/ck.good" "$CKF"

# (b) a checkpoint signed by a reader (a forged client)
enroll_device devR R docs --role reader
DEV_R=$(R id --json | jq -r .device_id)
mkdir -p "$work/r"
out=$(SEALSYNC_HOME=$work/hR SEALSYNC_CHECKPOINT_EVERY=1 "$FORGE" docs "$work/r" 2>&1)
ok $? "forgemount mounts the reader writable" "$out"
echo "$work/r" >>"$work/.mounts"
run R sync docs
converge "the reader's mount wrote a checkpoint" 60 sh -c "ls '$SD/c/$DEV_R/' 2>/dev/null | grep -q -- -"
umount_region "$work/r"
mv "$SD/c/$DEV_A" "$work/ck.a" # the reader's is the only one
enroll_device devE E docs
bootstrap E "$work/e" "$work/trace.e" alarm
converge "E: status names bad-checkpoint (signed by a reader)" 20 alarm_named E bad-checkpoint "not a writer"
fallback E "reader"
mv "$work/ck.a" "$SD/c/$DEV_A"
rm -rf "${SD:?}/c/$DEV_R"

# (c) a checkpoint contradicting a journal: the entry its vector names for A
# (its only mark: u32 count at offset 97, then device, u64 seq, hash) is
# replaced on the store by another one at that seq, as a fork would show it
JA=$SD/journal/$DEV_A
vseq=$(ck_mark "$CKF")
vhash=$(od -An -tx1 -j125 -N32 "$CKF" | tr -d ' \n')
ent=$(printf '%016x' "$vseq")-$vhash
[ -f "$JA/$ent" ]
ok $? "the checkpoint's vector names A's entry $vseq, which is on the store"
enroll_device devF F docs
fake=${ent%%-*}-$(printf '%064x' 7)
mv "$JA/$ent" "$work/ent.good"
cp "$work/ent.good" "$JA/$fake"
bootstrap F "$work/f" "$work/trace.f" alarm
converge "F: status names checkpoint-fork" 20 alarm_named F checkpoint-fork "another entry at that seq"
! grep -q "bootstrap: from checkpoint" "$work/hF/regions/$RID/mount.log"
ok $? "F: did not use the checkpoint (contradicts a journal)"
umount_region "$work/f"
rm -f "$JA/$fake"
mv "$work/ent.good" "$JA/$ent"

# (d) stale: G joins, writes while the store is away, then meets A's
# checkpoint, which has none of G's entries (below G's own journal head)
enroll_device devG G docs
mkdir -p "$work/g"
rm "$work/store" && touch "$work/store"
(export SEALSYNC_HOME=$work/hG; mount_region docs "$work/g") || bail "mount on G failed"
echo "written offline" >"$work/g/offline.txt"
converge "G: the offline change is committed" 20 sh -c "ls '$work/hG/regions/$RID/outbox/' | grep -q '^j-'"
rm "$work/store" && ln -s store.real "$work/store"
run G sync docs --timeout 120
is "$T_RC" 1 "G: sync reports an alarm"
converge "G: status names bad-checkpoint (stale)" 30 alarm_named G bad-checkpoint "stale"
sums "$work/g" | grep -v ' \./offline.txt$' >"$work/sums.G"
fallback G "stale"
converge "A: gets G's offline file" 90 content_is "$ma/offline.txt" "written offline"

for m in a b c d e g; do umount_region "$work/$m"; done
done_testing
