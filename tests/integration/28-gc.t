#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 28-gc.t: `sealsync gc` (doc/SYNC.md "Garbage collection") on a file:// store.
# A writes a tree, then rewrites one "hot" file five times (one journal entry
# and one pack each); its mount writes a checkpoint after every entry here.
#  1. A lagging device (C, unmounted before the rewrites) has not
#     acknowledged the checkpoint: gc names it and deletes nothing.
#  2. Once C has synced: with a grace period of an hour nothing is deleted
#     (the candidates wait); --dry-run deletes nothing; with --grace 0 gc
#     deletes exactly the packs of the first four rewrites and the older
#     checkpoints with their bundles -- what remains is the tree's pack, the
#     last rewrite's and the newest checkpoint's bundle.  Every device reads
#     every file right, a new device bootstraps and reads it all, and
#     `sealsync verify` is clean (counting the collected packs).
#  3. rekey + gc: every pack that existed before the rekey is gone, and every
#     device still reads every file.
TEST_TIMEOUT=600
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # A
HA=$SEALSYNC_HOME
STORE=file://$work/store
create_region docs --store "$STORE"
RID=$REGION_ID
SD=$work/store/$RID
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$work/hB "$SEALSYNC_BIN" "$@"; }
C() { SEALSYNC_HOME=$work/hC "$SEALSYNC_BIN" "$@"; }
D() { SEALSYNC_HOME=$work/hD "$SEALSYNC_BIN" "$@"; }
E() { SEALSYNC_HOME=$work/hE "$SEALSYNC_BIN" "$@"; }
DEV_A=$(A id --json | jq -r .device_id)

sums() { (cd "$1" && find . -type f ! -path './.sealsync*' -exec sha256sum {} + | LC_ALL=C sort -k2); }
packs() { ls "$SD/p/" | LC_ALL=C sort; }
# last_pack FILE: the pack hash of the last of the n (1..4) packs an entry or a
# checkpoint lists at its end (u32 n, n x (hash, u64 size), sig).
last_pack()
{
	local f=$1 size n
	size=$(stat -c %s "$f")
	for n in 1 2 3 4; do
		if [ "$((16#$(od -An -tx1 -j $((size - 64 - 40 * n - 4)) -N4 "$f" | tr -d ' \n')))" = "$n" ]; then
			od -An -tx1 -j $((size - 64 - 40)) -N32 "$f" | tr -d ' \n'
			return 0
		fi
	done
	return 1
}
# entry_packs FILE: every pack hash an entry lists (n <= 4).
entry_packs()
{
	local f=$1 size n i
	size=$(stat -c %s "$f")
	for n in 1 2 3 4; do
		if [ "$((16#$(od -An -tx1 -j $((size - 64 - 40 * n - 4)) -N4 "$f" | tr -d ' \n')))" = "$n" ]; then
			for i in $(seq "$n"); do
				od -An -tx1 -j $((size - 64 - 40 * (n - i + 1))) -N32 "$f" | tr -d ' \n'
				echo
			done
			return 0
		fi
	done
}
newest_ck() { ls "$SD/c/$DEV_A/" | LC_ALL=C sort | tail -n1; }
a_seq() { A status docs --json | jq -r .journal_seq; }
covers() { f=$SD/c/$DEV_A/$(newest_ck) && [ "$((16#$(od -An -tx1 -j117 -N8 "$f" | tr -d ' \n')))" = "$(a_seq)" ]; }
# acked FN...: each FN syncs (applies what is new, publishes its ack), then no
# FN blocks gc: a dry run does not name one of them as blocked_by.
acked()
{
	local d blocked
	for d in "$@"; do "$d" sync docs >/dev/null 2>&1 </dev/null; done
	blocked=$(A gc docs --dry-run --grace 0 --json 2>/dev/null | jq -r .blocked_by) || return 1
	for d in "$@"; do
		[ "$blocked" != "$("$d" id --json | jq -r .device_id)" ] || return 1
	done
}
# settle FN...: A's newest checkpoint covers its head, and every FN's ack
# covers it on the store (FN syncs again until then: on a loaded machine one
# round may end before it has applied everything).
settle()
{
	converge "A's newest checkpoint covers its last entry" 60 covers
	wait_for "the acks of $* to cover A's newest checkpoint (gc --dry-run not blocked by them)" 120 acked "$@"
}

# all_read WHEN FN...: every FN's mount has A's files (sha256 of each).
all_read()
{
	local when=$1 d
	shift
	for d in "$@"; do
		sums "$work/$d" >"$work/sums.$d"
		cmp -s "$work/sums.a" "$work/sums.$d"
		ok $? "$d reads every file right $when" "$(diff "$work/sums.a" "$work/sums.$d" | head)"
	done
}
# verified WHEN JQ: A's `verify --json` passes JQ.
verified()
{
	run_ok "A: verify $1" A verify docs --json
	jq -e "$2" <<<"$T_OUT" >/dev/null
	ok $? "  ... $2" "$(jq -c '{problem_count, collected_packs, problems: .problems[:3]}' <<<"$T_OUT")"
}
# new_device FN WHEN: FN enrolls, mounts, syncs, and reads every file as A has it.
new_device()
{
	local fn=$1
	enroll_device "dev$fn" "$fn" docs
	mkdir -p "$work/$fn"
	(export SEALSYNC_HOME=$work/h$fn; mount_region docs "$work/$fn") || bail "mount on $fn failed"
	run_ok "$fn (new): sync" "$fn" sync docs
	sums "$work/$fn" >"$work/sums.$fn"
	cmp -s "$work/sums.a" "$work/sums.$fn"
	ok $? "a new device $2 reads every file right" "$(diff "$work/sums.a" "$work/sums.$fn" | head)"
}

ma=$work/a
mkdir -p "$ma"
SEALSYNC_CHECKPOINT_EVERY=1 mount_region docs "$ma" || bail "mount on A failed"
mkdir -p "$ma/t"
for i in $(seq 20); do head -c 3000 /dev/urandom >"$ma/t/f$i"; done
run_ok "A: sync the tree" A sync docs
TREE_PACKS=$(for f in "$SD/journal/$DEV_A/"*; do entry_packs "$f"; done | LC_ALL=C sort -u)

enroll_device devB B docs
enroll_device devC C docs
for d in B C; do
	mkdir -p "$work/$d"
	(export SEALSYNC_HOME=$work/h$d; mount_region docs "$work/$d") || bail "mount on $d failed"
	run_ok "$d: sync" "$d" sync docs
done
umount_region "$work/C" # C lags from here on

HOT=
for r in 1 2 3 4 5; do
	head -c 5000 /dev/urandom >"$ma/hot"
	run_ok "A: sync rewrite $r" A sync docs
	f=$(ls "$SD/journal/$DEV_A/" | LC_ALL=C sort | tail -n1)
	HOT="$HOT $(last_pack "$SD/journal/$DEV_A/$f")"
done
settle B A
sums "$ma" >"$work/sums.a"

# --- 1. a lagging device holds gc back -----------------------------------------
before=$(packs)
run_ok "A: gc --grace 0 with C lagging" A gc docs --grace 0 --json
is "$(jq -r .blocked_by <<<"$T_OUT")" "$(C id --json | jq -r .device_id)" "  ... gc names C, which has not acknowledged"
is "$(jq -r .deleted <<<"$T_OUT")" 0 "  ... and deletes nothing"
is "$(packs)" "$before" "  ... every pack is still there"

# --- 2. grace, dry run, then exactly the unreferenced packs ----------------------
(export SEALSYNC_HOME=$work/hC; mount_region docs "$work/C") || bail "remount on C failed"
run_ok "C: sync (acknowledges)" C sync docs
settle A
run_ok "A: gc --grace 1h" A gc docs --grace 1h --json
jq -e '.blocked_by == "" and .deleted == 0 and .waiting >= 4' <<<"$T_OUT" >/dev/null
ok $? "  ... nothing deleted: the candidates wait for the grace period" "$T_OUT"
run_ok "A: gc --dry-run --grace 0" A gc docs --dry-run --grace 0 --json
WOULD=$(jq -r .deleted <<<"$T_OUT")
is "$(packs)" "$before" "  ... a dry run deletes nothing ($WOULD deletable)"
run_ok "A: gc --grace 0" A gc docs --grace 0
note "$T_OUT"
ck=$SD/c/$DEV_A/$(newest_ck)
expect=$( (echo "$TREE_PACKS"; echo "${HOT##* }"; last_pack "$ck") | grep . | LC_ALL=C sort -u)
is "$(packs)" "$expect" "gc left exactly the tree's pack, the last rewrite's and the newest checkpoint's bundle"
gone=0
for h in ${HOT% *}; do [ -e "$SD/p/$h" ] || gone=$((gone + 1)); done
is "$gone" 4 "  ... the packs of the first four rewrites are gone"
is "$(ls "$SD/c/$DEV_A/" | wc -l)" 1 "  ... and every older checkpoint"
all_read "after gc" B C
new_device D "after gc"
verified "after gc" '.clean and .collected_packs >= 4'

# --- 2b. a rename's pack (a manifest, no block) is collected; the next checkpoint ---
# still finds that manifest (in the kept checkpoint's bundle)
mv "$ma/t/f1" "$ma/t/renamed"
run_ok "A: sync a rename" A sync docs
RENAME_PACK=$(last_pack "$SD/journal/$DEV_A/$(ls "$SD/journal/$DEV_A/" | LC_ALL=C sort | tail -n1)")
settle B C D A
run_ok "A: gc --grace 0 after the rename" A gc docs --grace 0
[ ! -e "$SD/p/$RENAME_PACK" ]
ok $? "  ... the rename's pack (no current block) is gone"
echo "after the rename" >"$ma/t/new"
run_ok "A: sync a new file" A sync docs
converge "A writes its next checkpoint (the renamed file's manifest from the bundle)" 60 covers
sums "$ma" >"$work/sums.a"

# --- 3. rekey, then gc removes every old-epoch pack -------------------------------
OLD=$(packs)
run_ok "A: rotate" A rotate docs
run_ok "A: rekey" A rekey docs
settle B C D A
run_ok "A: gc --grace 0 after rekey" A gc docs --grace 0 --json
note "$T_OUT"
left=$(LC_ALL=C comm -12 <(echo "$OLD") <(packs) | wc -l)
is "$left" 0 "every pack from before the rekey is gone" ||
	diag "left: $(LC_ALL=C comm -12 <(echo "$OLD") <(packs) | tr '\n' ' ')"
sums "$ma" >"$work/sums.a2"
cmp -s "$work/sums.a" "$work/sums.a2"
ok $? "A's files are unchanged by the rekey"
all_read "after rekey + gc" B C D
new_device E "after rekey + gc"
verified "after rekey + gc" '.clean'

for m in "$ma" "$work/B" "$work/C" "$work/D" "$work/E"; do umount_region "$m"; done
done_testing
