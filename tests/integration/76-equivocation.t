#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 76-equivocation.t: an equivocating device, end to end (issue #9, model finding 2;
# doc/SYNC.md invariants C2 -- the twin a removal names -- and C8) on a file:// store.
# Admin A, writer B, writer X.  X's home is copied (X2) while X is unmounted.  X
# writes f.txt (twin one, seq S); B takes it and edits f.txt on top.  Then the
# two homes publish at one seq, as K1's window allows (two homes that check at
# the same moment and both PUT): the store hides twin one and B's edit (the
# objects moved aside) while X2 -- its clock raised by A's later writes --
# writes f.txt as twin two at the same seq S.  A takes twin two and revokes X:
# the cutoff names twin two.  Then the store shows everything:
#  - B, which took twin one, undoes it (back to seq S-1) and takes twin two;
#    its edit on top of twin one stays an honest write, and as twin two is the
#    later version while B's vector "counts" it (C8), B keeps its edit as a
#    conflict copy and f.txt is twin two -- as on A;
#  - A and B hold the same tree byte for byte, X's honest file kept, nothing of
#    twin one in it;
#  - alarms: equivocation (A and B) and revoked (B) name X; a remount of B keeps
#    them and its tree;
#  - E, a new device replaying the journals, holds the same tree.
TEST_TIMEOUT=600
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # unused default home
homes A B X X2 E

file_region docs
enroll_device devB B docs
enroll_device devX X docs --owner bob
idX=$(X id --json | jq -r .device_id)
idB=$(B id --json | jq -r .device_id)
ma=$work/mA mb=$work/mB mx=$work/mX mx2=$work/mX2 me=$work/mE
mkdir "$ma" "$mb" "$mx" "$mx2" "$me" "$work/hidden"
SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "A cannot mount"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot mount"
SEALSYNC_HOME=$HX mount_region docs "$mx" || bail "X cannot mount"

# copies MOUNT: the conflict copies of f.txt under MOUNT.
copies() { find "$1" -maxdepth 1 -name 'f (conflict from *' -printf '%f\n'; }
one_copy_of() { [ "$(copies "$1" | wc -l)" -eq 1 ] && content_is "$1/$(copies "$1")" "$2"; }
# no_twin_one MOUNT: no file under MOUNT holds twin one's text.
no_twin_one() { ! grep -rqs "twin one" "$1"; }

# ------------------------------------------------------------ honest state
echo "base" >"$ma/f.txt"
echo "A's other file" >"$ma/keep.txt"
sync_all A
converge "A's outbox is empty" 60 outbox_empty "$HA/regions/$RID"
sync_all X
converge "X has A's files" 60 same_tree "$ma" "$mx"
echo "X's honest file" >"$mx/x.txt"
sync_all X
converge "X publishes its honest entry" 60 outbox_empty "$HX/regions/$RID"
sync_all A B
converge "A has X's file" 60 content_is "$ma/x.txt" "X's honest file"
converge "B has the same files" 60 same_tree "$ma" "$mb"

# ------------------------------------------------------------ X's home is copied
umount_region "$mx" || bail "umount X"
cp -a "$HX" "$HX2"
umount_region "$ma" || bail "umount A" # A must not see twin one

# X writes twin one at seq S; B takes it and edits on top.
SEALSYNC_HOME=$HX mount_region docs "$mx" || bail "X cannot remount"
echo "twin one: X's original" >"$mx/f.txt"
sync_all X
converge "X publishes twin one" 60 outbox_empty "$HX/regions/$RID"
S=$(journal_seq "$HX")
tw1=$(entry_of "$idX" "$S")
[ -n "$tw1" ] && [ "$S" -ge 2 ]; ok $? "twin one is X's entry at seq $S (after its honest entry)"
umount_region "$mx" || bail "umount X"
sync_all B
converge "B takes twin one" 60 content_is "$mb/f.txt" "twin one: X's original"
echo "B's edit, made on X's first entry" >"$mb/f.txt"
sync_all B
converge "B publishes its edit" 60 outbox_empty "$HB/regions/$RID"
bseq=$(journal_seq "$HB")
bent=$(entry_of "$idB" "$bseq")
umount_region "$mb" || bail "umount B" # it would see the hidden entry as a rollback

# ------------------------------------------------------------ the store hides twin one and B's edit
mv "$SD/journal/$idX/$tw1" "$work/hidden/x-$tw1"
mv "$SD/journal/$idB/$bent" "$work/hidden/b-$bent"
SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "A cannot remount"
# A's later writes: the copy applies them, so twin two is later than B's edit.
for i in 1 2 3 4; do
	echo "clock $i" >"$ma/clock.txt"
	sync_all A
	converge "A publishes clock $i" 60 outbox_empty "$HA/regions/$RID"
done
SEALSYNC_HOME=$HX2 mount_region docs "$mx2" || bail "the copy X2 cannot mount"
sync_all X2
converge "the copy has A's last write" 60 content_is "$mx2/clock.txt" "clock 4"
content_is "$mx2/f.txt" "base"; ok $? "the copy never saw twin one"
echo "twin two: the copy's" >"$mx2/f.txt"
sync_all X2
converge "the copy publishes twin two" 60 outbox_empty "$HX2/regions/$RID"
is "$(journal_seq "$HX2")" "$S" "twin two is at the same seq $S"
tw2=$(entry_of "$idX" "$S")
isnt "$tw2" "$tw1" "  ... a second entry: X's journal forks at seq $S"
umount_region "$mx2" || bail "umount X2"

# A takes twin two and revokes X: the cutoff names twin two.
sync_all A
converge "A takes twin two" 60 content_is "$ma/f.txt" "twin two: the copy's"
run_ok "A: revoke X" A revoke docs "${idX:0:8}"
cutoff=$(sed -n 's/.*entries after seq \([0-9]*\) are refused.*/\1/p' <<<"$T_OUT")
is "$cutoff" "$S" "the cutoff is seq $S (A's mark: twin two)"

# ------------------------------------------------------------ the store shows everything
mv "$work/hidden/x-$tw1" "$SD/journal/$idX/$tw1"
mv "$work/hidden/b-$bent" "$SD/journal/$idB/$bent"
[ "$(find "$SD/journal/$idX" -name "$(printf '%016x' "$S")-*" | wc -l)" -eq 2 ]
ok $? "the store shows two entries of X at seq $S"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot remount"
sync_all B A B A
converge "B names the revoked alarm for X (twin one undone)" 60 alarm_named "$HB" revoked "$idX" "forked journal"
converge "B: f.txt is twin two" 60 content_is "$mb/f.txt" "twin two: the copy's"
converge "B keeps its edit as one conflict copy" 60 one_copy_of "$mb" "B's edit, made on X's first entry"
sync_all B A
converge "A has B's conflict copy" 60 one_copy_of "$ma" "B's edit, made on X's first entry"
content_is "$ma/f.txt" "twin two: the copy's"; ok $? "A: f.txt is still twin two"
converge "A and B hold the same tree" 60 same_tree "$ma" "$mb"
no_twin_one "$ma" && no_twin_one "$mb"; ok $? "nothing of twin one on A or B"
content_is "$mb/x.txt" "X's honest file"; ok $? "B keeps X's entry below the cutoff"
converge "A names the equivocation of X" 30 alarm_named "$HA" equivocation "$idX"
converge "B names the equivocation of X" 30 alarm_named "$HB" equivocation "$idX"
tree_listing "$mb" >"$work/tree-b"

# ------------------------------------------------------------ a remount keeps it
umount_region "$mb" || fail "umount B"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot remount"
sync_all B
sync_all B
is "$(tree_listing "$mb")" "$(cat "$work/tree-b")" "B's tree after a remount and two rounds: unchanged"
converge "B names the revoked alarm after a remount" 30 alarm_named "$HB" revoked "$idX" "forked journal"
converge "B names the equivocation after a remount" 30 alarm_named "$HB" equivocation "$idX"
is "$(B status docs --json | jq '[.alarms[] | select(.kind == "revoked")] | length')" 1 \
	"B keeps one revoked alarm for X (nothing undone twice)"

# ------------------------------------------------------------ a device replaying the journals
enroll_device devE E docs
SEALSYNC_HOME=$HE SEALSYNC_NO_CHECKPOINT=1 mount_region docs "$me" || bail "E cannot mount"
sync_all E E
converge "E (replaying the journals) holds A's tree" 90 same_tree "$ma" "$me"
converge "E names the equivocation of X" 30 alarm_named "$HE" equivocation "$idX"

for m in "$ma" "$mb" "$me"; do umount_region "$m"; done
done_testing
