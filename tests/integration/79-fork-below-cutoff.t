#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 79-fork-below-cutoff.t: a fork *below* a removal's cutoff is decided by the
# chain the cutoff names (doc/SYNC.md invariant C9) on a file:// store.
# Admin A, writer B, writer X; X's home is copied (X2) while X is unmounted.
#  - X writes branch one (two entries, seq S and S+1, both editing f.txt); B
#    takes them and writes a checkpoint naming X at S+1 (branch one); then
#    the store hides them (the objects moved aside).
#  - The copy X2, which never saw branch one, writes branch two at the same
#    seqs and one more (S..S+2); A takes it and revokes X: the cutoff is S+2,
#    so the journal forked at S, *below* the cutoff.
#  - The store shows everything: B names the fork (equivocation, not
#    holding), undoes branch one (back to S-1, alarm revoked "forked
#    journal"), takes branch two; A and B hold the same tree, nothing of
#    branch one anywhere, X's entries of branch two and before kept (a
#    then-member's writes), no holding alarm below the cutoff.
#  - A remount of B keeps it; E, a new device, refuses B's checkpoint (its
#    vector names branch one's entry below the cutoff: off the named chain,
#    C3), replays the journals, holds the same tree and names the
#    equivocation.
TEST_TIMEOUT=600
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # unused default home
homes A B X X2 E

file_region docs
enroll_device devB B docs
enroll_device devX X docs --owner bob
idX=$(X id --json | jq -r .device_id)
ma=$work/mA mb=$work/mB mx=$work/mX mx2=$work/mX2 me=$work/mE
mkdir "$ma" "$mb" "$mx" "$mx2" "$me" "$work/hidden"
SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "A cannot mount"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot mount"
SEALSYNC_HOME=$HX mount_region docs "$mx" || bail "X cannot mount"

no_branch_one() { ! grep -rqs "branch one" "$1"; }
# ck_mark_of FILE DEV: "seq-hash" (as in a journal key) of DEV's mark in checkpoint FILE
# (u32 count at offset 97, then per mark device[16], u64 seq, hash[32]; FORMAT-sync.md).
ck_mark_of()
{
	local n i off
	n=$((16#$(od -An -tx1 -j97 -N4 "$1" | tr -d ' \n')))
	for ((i = 0; i < n; i++)); do
		off=$((101 + i * 56))
		[ "$(od -An -tx1 -j$off -N16 "$1" | tr -d ' \n')" = "$2" ] || continue
		echo "$(od -An -tx1 -j$((off + 16)) -N8 "$1" | tr -d ' \n')-$(od -An -tx1 -j$((off + 24)) -N32 "$1" | tr -d ' \n')"
	done
}
# holding_for HOME DEV: how many holding alarms of HOME name DEV.
holding_for()
{
	SEALSYNC_HOME=$1 "$SEALSYNC_BIN" status docs --json 2>/dev/null |
		jq --arg d "$2" '[.alarms[] | select(.holds and .device_id == $d)] | length'
}
# ------------------------------------------------------------ honest state
echo "base" >"$ma/f.txt"
sync_all A
converge "A's outbox is empty" 60 outbox_empty "$HA/regions/$RID"
sync_all X
converge "X has A's file" 60 content_is "$mx/f.txt" "base"
echo "X's honest file" >"$mx/x.txt"
sync_all X
converge "X publishes its honest entry" 60 outbox_empty "$HX/regions/$RID"
sync_all A B
converge "A has X's file" 60 content_is "$ma/x.txt" "X's honest file"
converge "B has the same files" 60 same_tree "$ma" "$mb"

# ------------------------------------------------------------ X's home is copied
umount_region "$mx" || bail "umount X"
cp -a "$HX" "$HX2"
umount_region "$ma" || bail "umount A" # A must not see branch one

# X writes branch one: two entries; B takes them.
SEALSYNC_HOME=$HX mount_region docs "$mx" || bail "X cannot remount"
for i in a b; do
	echo "branch one $i" >"$mx/f.txt"
	sync_all X
	converge "X publishes branch one $i" 60 outbox_empty "$HX/regions/$RID"
done
S1=$(journal_seq "$HX")
S=$((S1 - 1))
one_s=$(entry_of "$idX" "$S") one_s1=$(entry_of "$idX" "$S1")
[ -n "$one_s" ] && [ -n "$one_s1" ] && [ "$S" -ge 2 ]
ok $? "branch one is X's entries at seq $S and $S1 (after its honest entry)"
umount_region "$mx" || bail "umount X"
sync_all B
converge "B takes branch one" 60 content_is "$mb/f.txt" "branch one b"
run_ok "B: a checkpoint while it holds branch one" B checkpoint docs
idB=$(B id --json | jq -r .device_id)
ck_b=$(ls "$SD/c/$idB/" | grep -- - | LC_ALL=C sort | tail -n1)
is "$(ck_mark_of "$SD/c/$idB/$ck_b" "$idX")" "$one_s1" "B's checkpoint names X at seq $S1, branch one"
umount_region "$mb" || bail "umount B" # it would see the hidden entries as a rollback

# ------------------------------------------------------------ the store hides branch one
mv "$SD/journal/$idX/$one_s" "$SD/journal/$idX/$one_s1" "$work/hidden/"
SEALSYNC_HOME=$HX2 mount_region docs "$mx2" || bail "the copy X2 cannot mount"
content_is "$mx2/f.txt" "base"; ok $? "the copy never saw branch one"
for i in a b c; do
	echo "branch two $i" >"$mx2/f.txt"
	sync_all X2
	converge "the copy publishes branch two $i" 60 outbox_empty "$HX2/regions/$RID"
done
is "$(journal_seq "$HX2")" "$((S + 2))" "branch two is at seq $S..$((S + 2))"
umount_region "$mx2" || bail "umount X2"

# A takes branch two and revokes X: the cutoff names branch two's last entry.
SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "A cannot remount"
sync_all A
converge "A takes branch two" 60 content_is "$ma/f.txt" "branch two c"
run_ok "A: revoke X" A revoke docs "${idX:0:8}"
cutoff=$(sed -n 's/.*entries after seq \([0-9]*\) are refused.*/\1/p' <<<"$T_OUT")
is "$cutoff" "$((S + 2))" "the cutoff is seq $((S + 2)): the fork at $S is below it"

# ------------------------------------------------------------ the store shows everything
mv "$work/hidden/$one_s" "$work/hidden/$one_s1" "$SD/journal/$idX/"
[ "$(find "$SD/journal/$idX" -name "$(printf '%016x' "$S")-*" | wc -l)" -eq 2 ]
ok $? "the store shows two entries of X at seq $S and at $S1"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot remount"
sync_all B A B A B
converge "B names the equivocation of X" 60 alarm_named "$HB" equivocation "$idX" "forked journal"
converge "B names the revoked alarm for X (branch one undone)" 60 alarm_named "$HB" revoked "$idX" "forked journal"
converge "B: f.txt is branch two's last" 60 content_is "$mb/f.txt" "branch two c"
converge "A and B hold the same tree" 60 same_tree "$ma" "$mb"
no_branch_one "$ma" && no_branch_one "$mb"; ok $? "nothing of branch one on A or B"
content_is "$mb/x.txt" "X's honest file"; ok $? "B keeps X's entry below the fork"
is "$(holding_for "$HB" "$idX")" 0 "B: no alarm holds X (the cutoff decides the fork)"
is "$(holding_for "$HA" "$idX")" 0 "A: no alarm holds X"
tree_listing "$mb" >"$work/tree-b"

# ------------------------------------------------------------ a remount keeps it
umount_region "$mb" || fail "umount B"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot remount"
sync_all B
sync_all B
is "$(tree_listing "$mb")" "$(cat "$work/tree-b")" "B's tree after a remount and two rounds: unchanged"
is "$(B status docs --json | jq '[.alarms[] | select(.kind == "revoked")] | length')" 1 \
	"B keeps one revoked alarm for X (nothing undone twice)"
is "$(holding_for "$HB" "$idX")" 0 "B: still no alarm holds X after a remount"

# ------------------------------------------------------------ a new device: B's checkpoint refused
enroll_device devE E docs
SEALSYNC_HOME=$HE mount_region docs "$me" || bail "E cannot mount"
sync_all E E
converge "E refuses B's checkpoint: X off the chain its cutoff names (C3)" 30 \
	alarm_named "$HE" bad-checkpoint "$idB" "past-cutoff: .*off the chain its cutoff names"
converge "E (replaying the journals) holds A's tree" 90 same_tree "$ma" "$me"
converge "E names the equivocation of X" 30 alarm_named "$HE" equivocation "$idX" "forked journal"
no_branch_one "$me"; ok $? "nothing of branch one on E"
is "$(holding_for "$HE" "$idX")" 0 "E: no alarm holds X below its cutoff"

for m in "$ma" "$mb" "$me"; do umount_region "$m"; done
done_testing
