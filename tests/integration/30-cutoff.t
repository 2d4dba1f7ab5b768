#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 30-cutoff.t: a hidden removal (issue #9, case 2; doc/SYNC.md invariants C1,
# C2, C3) on a file:// store.  Admin A, writers B and C (bob).  A revokes C;
# the store hides the REMOVE_DEVICE entry from B and C (the object moved
# aside), so C writes on — a new file and an overwrite of A's file — and B
# applies both and writes a checkpoint carrying them.  Then the removal
# appears:
#  - B undoes C's versions past the cutoff (the new file gone, the overwritten
#    file back to A's version byte for byte) and names the alarm `revoked`;
#  - A, which knew the removal, never shows them;
#  - D, bootstrapping afterwards, refuses B's checkpoint (bad-checkpoint,
#    past-cutoff) and replays the journals to the same tree;
#  - E, replaying the journals, holds the same tree and names `revoked`;
#  - B's later checkpoints carry no entry of C past the cutoff, and F
#    bootstraps from one to the same tree.
TEST_TIMEOUT=480
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # unused default home
HA=$work/hA HB=$work/hB HC=$work/hC HD=$work/hD HE=$work/hE HF=$work/hF
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }
C() { SEALSYNC_HOME=$HC "$SEALSYNC_BIN" "$@"; }
D() { SEALSYNC_HOME=$HD "$SEALSYNC_BIN" "$@"; }
E() { SEALSYNC_HOME=$HE "$SEALSYNC_BIN" "$@"; }
F() { SEALSYNC_HOME=$HF "$SEALSYNC_BIN" "$@"; }

mkdir "$work/store"
STORE=file://$work/store
run_ok "A: init" A init --kdf interactive --name devA
SEALSYNC_HOME=$HA create_region docs --store "$STORE"
RID=$REGION_ID
SD=$work/store/$RID
enroll_device devB B docs
enroll_device devC C docs --owner bob
idB=$(B id --json | jq -r .device_id)
idC=$(C id --json | jq -r .device_id)
ma=$work/mA mb=$work/mB mc=$work/mC
mkdir "$ma" "$mb" "$mc"
SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "A cannot mount"
SEALSYNC_HOME=$HB SEALSYNC_CHECKPOINT_EVERY=1 mount_region docs "$mb" || bail "B cannot mount"
SEALSYNC_HOME=$HC mount_region docs "$mc" || bail "C cannot mount"

same_file() { [ -f "$1" ] && cmp -s "$1" "$2"; }
# ck_marks FILE: "device seq" per mark of checkpoint FILE (u32 count at offset 97,
# then per mark device[16], u64 seq, hash[32]; doc/SYNC.md "Checkpoint").
ck_marks()
{
	local n i off
	n=$((16#$(od -An -tx1 -j97 -N4 "$1" | tr -d ' \n')))
	for ((i = 0; i < n; i++)); do
		off=$((101 + i * 56))
		echo "$(od -An -tx1 -j$off -N16 "$1" | tr -d ' \n') $((16#$(od -An -tx1 -j$((off + 16)) -N8 "$1" | tr -d ' \n')))"
	done
}
# ck_seq_of FILE DEVICE: DEVICE's mark in checkpoint FILE (0: none).
ck_seq_of() { ck_marks "$1" | awk -v d="$2" '$1 == d { print $2; f = 1 } END { if (!f) print 0 }'; }
ckpts_of() { ls "$SD/c/$1/" 2>/dev/null | grep -- - | LC_ALL=C sort; }

# ------------------------------------------------------------ honest state
rand_file "$work/honest" 200000
cp "$work/honest" "$ma/f.bin"
echo "A's notes" >"$ma/notes.txt"
echo "C before its removal" >"$mc/c-early.txt"
sync_all A C
sync_all A B C
converge "A has C's early file" 60 content_is "$ma/c-early.txt" "C before its removal"
converge "C's outbox is empty" 60 outbox_empty "$HC/regions/$RID"
converge "B has A's file" 60 same_file "$mb/f.bin" "$work/honest"
converge "C has A's file" 60 same_file "$mc/f.bin" "$work/honest"

# ------------------------------------------------------------ revoke C; the store hides it
umount_region "$mb"
umount_region "$mc"
run_ok "A: revoke C" A revoke docs "${idC:0:8}"
cutoff=$(sed -n 's/.*entries after seq \([0-9]*\) are refused.*/\1/p' <<<"$T_OUT")
[ -n "$cutoff" ] && [ "$cutoff" -ge 1 ]; ok $? "the cutoff is C's last entry (seq $cutoff)"
rm_obj=$(ls "$SD/members/" | LC_ALL=C sort | tail -n1)
mv "$SD/members/$rm_obj" "$work/hidden-remove"
SEALSYNC_HOME=$HB SEALSYNC_CHECKPOINT_EVERY=1 mount_region docs "$mb" || bail "B cannot remount"
SEALSYNC_HOME=$HC mount_region docs "$mc" || bail "C cannot remount"

# C, unaware, writes past its cutoff: a new file and an overwrite.
# Two versions in a row (a chain) of the overwritten file, in two entries.
rand_file "$work/forged1" 120000
rand_file "$work/forged" 150000
echo "forged by C" >"$mc/forged.txt"
cp "$work/forged1" "$mc/f.bin"
sync_all C
converge "C publishes its first entry past the cutoff" 60 outbox_empty "$HC/regions/$RID"
cp "$work/forged" "$mc/f.bin"
sync_all C
converge "C publishes its entries past the cutoff" 60 outbox_empty "$HC/regions/$RID"
cseq=$(C status docs --json | jq -r .journal_seq)
ok $([ "$cseq" -ge $((cutoff + 2)) ] && echo 0 || echo 1) "C's journal is two entries or more past the cutoff (seq $cseq > $cutoff)"
sync_all B
converge "B applied C's new file (the removal is hidden from it)" 60 content_is "$mb/forged.txt" "forged by C"
converge "B applied C's overwrite" 60 same_file "$mb/f.bin" "$work/forged"
b_covers_c() { f=$(ckpts_of "$idB" | tail -n1) && [ -n "$f" ] && [ "$(ck_seq_of "$SD/c/$idB/$f" "$idC")" = "$cseq" ]; }
converge "B writes a checkpoint carrying C's entries past the cutoff" 60 b_covers_c
bad_ck=$(ckpts_of "$idB" | tail -n1)
ckpts_of "$idB" >"$work/b-ckpts-before"
sync_all A
converge "A (which knew the removal) names the revoked alarm for C" 30 alarm_named "$HA" revoked "$idC"
[ ! -e "$ma/forged.txt" ]; ok $? "A never shows C's new file"
same_file "$ma/f.bin" "$work/honest"; ok $? "A keeps its own version of the overwritten file"

# ------------------------------------------------------------ the removal appears
mv "$work/hidden-remove" "$SD/members/$rm_obj"
sync_all B
converge "B names the revoked alarm for C (entries undone)" 30 alarm_named "$HB" revoked "$idC" "undone"
converge "B: C's new file is gone" 30 sh -c "[ ! -e '$mb/forged.txt' ]"
converge "B: the overwritten file is A's version again, byte for byte" 30 same_file "$mb/f.bin" "$work/honest"
is "$(cat "$mb/notes.txt")" "A's notes" "B: other files untouched"
is "$(cat "$mb/c-early.txt")" "C before its removal" "B: C's file from before the cutoff stays"
sync_all B A
[ ! -e "$ma/forged.txt" ] && same_file "$ma/f.bin" "$work/honest"; ok $? "A still holds the honest tree"
ckpts_of "$idB" | grep -vxF -f "$work/b-ckpts-before" >"$work/b-new" || true
bad=0
while read -r f; do
	s=$(ck_seq_of "$SD/c/$idB/$f" "$idC")
	[ "$s" -le "$cutoff" ] || bad=1
done <"$work/b-new"
is "$bad" 0 "no checkpoint B wrote since carries C past its cutoff ($(wc -l <"$work/b-new") new)"
umount_region "$mb" # B writes no checkpoint meanwhile: its newest carries C past the cutoff
is "$(ckpts_of "$idB" | tail -n1)" "$bad_ck" "B's newest checkpoint is the one carrying C past the cutoff"

# ------------------------------------------------------------ a device bootstrapping now
enroll_device devD D docs
md=$work/mD
mkdir "$md"
SEALSYNC_HOME=$HD mount_region docs "$md" || bail "D cannot mount"
sync_all D
converge "D refuses B's checkpoint (bad-checkpoint, past-cutoff)" 60 alarm_named "$HD" bad-checkpoint "" "past-cutoff"
converge "D holds A's version of the overwritten file, byte for byte" 60 same_file "$md/f.bin" "$work/honest"
[ ! -e "$md/forged.txt" ]; ok $? "D never shows C's new file"
is "$(cat "$md/notes.txt")" "A's notes" "D has the other files"
is "$(cat "$md/c-early.txt")" "C before its removal" "D has C's file from before the cutoff"

# ------------------------------------------------------------ a device replaying the journals
enroll_device devE E docs
me=$work/mE
mkdir "$me"
SEALSYNC_HOME=$HE SEALSYNC_NO_CHECKPOINT=1 mount_region docs "$me" || bail "E cannot mount"
sync_all E
converge "E (replaying the journals) holds A's version, byte for byte" 60 same_file "$me/f.bin" "$work/honest"
[ ! -e "$me/forged.txt" ]; ok $? "E never shows C's new file"
converge "E names the revoked alarm for C" 30 alarm_named "$HE" revoked "$idC"

# ------------------------------------------------------------ B's next checkpoint, and a device from it
SEALSYNC_HOME=$HB SEALSYNC_CHECKPOINT_EVERY=1 mount_region docs "$mb" || bail "B cannot remount"
for i in 1 2 3 4 5; do
	echo "after $i" >"$ma/after$i.txt"
	sync_all A
done
sync_all B
b_new_good() { f=$(ckpts_of "$idB" | tail -n1) && [ "$f" != "$bad_ck" ] && [ "$(ck_seq_of "$SD/c/$idB/$f" "$idC")" -le "$cutoff" ]; }
converge "B writes a new checkpoint, C's mark at most the cutoff" 90 b_new_good
good_ck=$(ckpts_of "$idB" | tail -n1)
enroll_device devF F docs
mf=$work/mF
mkdir "$mf"
SEALSYNC_HOME=$HF mount_region docs "$mf" || bail "F cannot mount"
sync_all F
converge "F bootstraps to A's version, byte for byte" 60 same_file "$mf/f.bin" "$work/honest"
[ ! -e "$mf/forged.txt" ]; ok $? "F never shows C's new file"
converge "F has A's later files" 30 content_is "$mf/after5.txt" "after 5"
alarm_named "$HF" bad-checkpoint "" .
ok $((!$?)) "F refused no checkpoint (B's new one is acceptable)"

for m in "$ma" "$mb" "$mc" "$md" "$me" "$mf"; do umount_region "$m"; done
done_testing
