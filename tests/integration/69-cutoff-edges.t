#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 69-cutoff-edges.t: the edges of a removal after the fact (issue #9; doc/SYNC.md
# invariants C1, C2, C3) on a file:// store, beside 30-cutoff.t.  Admin A,
# writers B and C (bob).  A revokes C; the store hides the REMOVE_DEVICE entry
# from B and C, so C writes on past its cutoff and B applies it all:
#  - a deletion of A's file (B's inode of it is gone: B was remounted since);
#  - a mkdir (with a file and a directory with a file in it: the commits of an
#    entry are in file-id order, so the undo meets a directory before its files)
#    and an rmdir of A's empty directory;
#  - a rename of A's file;
#  - an overwrite of a file that B then edits on top (an honest write that saw it).
# Then the removal appears: B undoes them all (the deleted file back byte for
# byte, the directory back, C's directory gone, the renamed file at its old
# name, B's edit kept); A never showed them; E, replaying the journals, holds
# the same tree; a remount of B neither redoes nor doubles the undo.
TEST_TIMEOUT=480
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # unused default home
homes A B C E

file_region docs
enroll_device devB B docs
enroll_device devC C docs --owner bob
idC=$(C id --json | jq -r .device_id)
ma=$work/mA mb=$work/mB mc=$work/mC
mkdir "$ma" "$mb" "$mc"
SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "A cannot mount"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot mount"
SEALSYNC_HOME=$HC mount_region docs "$mc" || bail "C cannot mount"

same_file() { [ -f "$1" ] && cmp -s "$1" "$2"; }
absent() { [ ! -e "$1" ]; }

# ------------------------------------------------------------ honest state
rand_file "$work/del" 180000
cp "$work/del" "$ma/del.bin"
echo "A's file, renamed by C" >"$ma/ren.txt"
mkdir "$ma/adir"
echo "A's edited file" >"$ma/ed.txt"
echo "A's notes" >"$ma/notes.txt"
sync_all A
converge "A's outbox is empty" 60 outbox_empty "$HA/regions/$RID"
sync_all C
echo "C before its removal" >"$mc/c-early.txt"
sync_all C
converge "C's outbox is empty" 60 outbox_empty "$HC/regions/$RID"
sync_all A
sync_all B C
converge "B has A's tree" 60 same_tree "$ma" "$mb"
converge "C has A's tree" 60 same_tree "$ma" "$mc"
tree_listing "$ma" >"$work/tree-honest"

# ------------------------------------------------------------ revoke C; the store hides it
umount_region "$mb"
umount_region "$mc"
run_ok "A: revoke C" A revoke docs "${idC:0:8}"
cutoff=$(sed -n 's/.*entries after seq \([0-9]*\) are refused.*/\1/p' <<<"$T_OUT")
[ -n "$cutoff" ] && [ "$cutoff" -ge 1 ]; ok $? "the cutoff is C's last entry (seq $cutoff)"
rm_obj=$(ls "$SD/members/" | LC_ALL=C sort | tail -n1)
mv "$SD/members/$rm_obj" "$work/hidden-remove"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot remount"
SEALSYNC_HOME=$HC mount_region docs "$mc" || bail "C cannot remount"

# C, unaware, writes past its cutoff.
rm "$mc/del.bin"
mkdir "$mc/cdir"
echo "C's file in C's directory" >"$mc/cdir/in.txt"
mkdir "$mc/cdir/sub"
echo "C's file deeper" >"$mc/cdir/sub/deep.txt"
rmdir "$mc/adir"
mv "$mc/ren.txt" "$mc/ren-by-c.txt"
echo "C's overwrite" >"$mc/ed.txt"
sync_all C
converge "C publishes its entries past the cutoff" 60 outbox_empty "$HC/regions/$RID"
cseq=$(C status docs --json | jq -r .journal_seq)
ok $([ "$cseq" -gt "$cutoff" ] && echo 0 || echo 1) "C's journal is past the cutoff (seq $cseq > $cutoff)"
sync_all B
converge "B applied C's deletion" 60 absent "$mb/del.bin"
converge "B applied C's rmdir" 60 absent "$mb/adir"
converge "B applied C's rename" 60 content_is "$mb/ren-by-c.txt" "A's file, renamed by C"
converge "B applied C's mkdir" 60 content_is "$mb/cdir/in.txt" "C's file in C's directory"
converge "B applied C's overwrite" 60 content_is "$mb/ed.txt" "C's overwrite"
# B edits on top of C's overwrite: an honest write that saw it.
echo "B's edit on top of C's" >"$mb/ed.txt"
sync_all B
converge "B publishes its edit" 60 outbox_empty "$HB/regions/$RID"
# B's inode of the deleted file is gone: a remount forgets every unlinked inode.
umount_region "$mb"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot remount"
absent "$mb/del.bin"; ok $? "B (remounted) still shows C's deletion"
sync_all A
converge "A applies B's edit on top of C's version" 60 content_is "$ma/ed.txt" "B's edit on top of C's"
converge "A names the revoked alarm for C" 30 alarm_named "$HA" revoked "$idC"
same_file "$ma/del.bin" "$work/del"; ok $? "A never lost the file C deleted"
[ -d "$ma/adir" ] && [ ! -e "$ma/cdir" ]; ok $? "A never shows C's rmdir nor C's mkdir"
content_is "$ma/ren.txt" "A's file, renamed by C" && absent "$ma/ren-by-c.txt"
ok $? "A never shows C's rename"

# ------------------------------------------------------------ the removal appears
mv "$work/hidden-remove" "$SD/members/$rm_obj"
sync_all B
converge "B names the revoked alarm for C (entries undone)" 30 alarm_named "$HB" revoked "$idC" "undone"
converge "B: the file C deleted is back, byte for byte" 30 same_file "$mb/del.bin" "$work/del"
converge "B: the directory C removed is back" 30 test -d "$mb/adir"
converge "B: C's directory is gone" 30 absent "$mb/cdir"
converge "B: the file C renamed is at its old name" 30 content_is "$mb/ren.txt" "A's file, renamed by C"
absent "$mb/ren-by-c.txt"; ok $? "B: C's name for it is gone"
content_is "$mb/ed.txt" "B's edit on top of C's"; ok $? "B: its own edit on top of C's version stays"
is "$(cat "$mb/notes.txt")" "A's notes" "B: other files untouched"
sync_all A B A
converge "A and B hold the same tree" 60 same_tree "$ma" "$mb"
tree_listing "$mb" >"$work/tree-b-undone"

# ------------------------------------------------------------ repeat passes: a remount neither redoes nor doubles
umount_region "$mb"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot remount"
sync_all B
sync_all B
converge "B names the revoked alarm again after a remount" 30 alarm_named "$HB" revoked "$idC"
is "$(tree_listing "$mb")" "$(cat "$work/tree-b-undone")" "B's tree after a remount and two rounds: unchanged (no copy, nothing redone)"
n_undo=$(B status docs --json | jq '[.alarms[] | select(.kind == "revoked")] | length')
is "$n_undo" 1 "B keeps one revoked alarm for C"

# ------------------------------------------------------------ a device replaying the journals
enroll_device devE E docs
me=$work/mE
mkdir "$me"
SEALSYNC_HOME=$HE SEALSYNC_NO_CHECKPOINT=1 mount_region docs "$me" || bail "E cannot mount"
sync_all E
converge "E (replaying the journals) holds A's tree" 60 same_tree "$ma" "$me"
converge "E names the revoked alarm for C" 30 alarm_named "$HE" revoked "$idC"

for m in "$ma" "$mb" "$mc" "$me"; do umount_region "$m"; done
done_testing
