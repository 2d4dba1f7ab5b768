#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 12-sync.t: two devices (separate SEALSYNC_HOMEs) mounted at once on one
# file:// store converge (issue #3, first slice): create, edit, append,
# truncate, rename, delete, mkdir, symlink, chmod, mtime and an editor-style
# save on one device appear on the other; the store holds no plaintext; a
# remount keeps the state; the journal chain on the store is one entry per
# commit round.
TEST_TIMEOUT=300
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # A
HA=$SEALSYNC_HOME
HB=$work/homeB
STORE=file://$work/store
create_region docs --store "$STORE"
RID=$REGION_ID
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }

# --- enroll B ---------------------------------------------------------------
run_ok "B: init" B init --kdf interactive --name devB
DEV_B=$(B id --json | jq -r .device_id)
run_ok "A: invite" A invite docs --json
CODE=$(jq -r .code <<<"$T_OUT")
B join docs "$STORE" "$RID" --code "$CODE" --timeout 90 >"$work/join.out" 2>&1 </dev/null &
jpid=$!
for _ in $(seq 100); do
	[ -n "$(find "$work/store/$RID/join" -type f 2>/dev/null)" ] && break
	sleep 0.2
done
run_ok "A: approve B" A approve docs "$DEV_B"
wait "$jpid"
ok $? "B: join completes" "$(cat "$work/join.out")"

# --- both mounted -----------------------------------------------------------
ma=$work/a
mb=$work/b
mkdir -p "$ma" "$mb"
export SEALSYNC_HOME=$HA
mount_region docs "$ma" || bail "mount on A failed"
export SEALSYNC_HOME=$HB
mount_region docs "$mb" || bail "mount on B failed"
export SEALSYNC_HOME=$HA

same() { cmp -s "$1" "$2"; }
absent() { [ ! -e "$1" ] && [ ! -L "$1" ]; }
# Predicates re-evaluated on every try (converge runs them again and again).
link_is() { [ "$(readlink "$1" 2>/dev/null)" = "$2" ]; }
mode_is() { [ "$(stat -c %a "$1" 2>/dev/null)" = "$2" ]; }
mtime_is() { [ "$(stat -c %Y "$1" 2>/dev/null)" = "$2" ]; }
xattr_is() { [ "$(getfattr --only-values -n "$2" "$1" 2>/dev/null)" = "$3" ]; }

MARK=SEALSYNCSYNCMARK$RANDOM$RANDOM
rand_file "$work/f1.ref" 200000
printf '%s in a file\n' "$MARK" >"$work/small.ref"
cp "$work/f1.ref" "$ma/f1"
cp "$work/small.ref" "$ma/note-$MARK.txt"
converge "A -> B: a new 200 KB file" 30 same "$mb/f1" "$work/f1.ref"
converge "A -> B: a file whose name carries the marker" 30 same "$mb/note-$MARK.txt" "$work/small.ref"

mkdir -p "$ma/dir/sub"
cp "$work/small.ref" "$ma/dir/sub/deep"
converge "A -> B: nested directories and a file in them" 30 same "$mb/dir/sub/deep" "$work/small.ref"

printf 'appended by B\n' >>"$mb/f1"
cp "$work/f1.ref" "$work/f1b.ref"
printf 'appended by B\n' >>"$work/f1b.ref"
converge "B -> A: an append" 30 same "$ma/f1" "$work/f1b.ref"

truncate -s 70000 "$ma/f1"
head -c 70000 "$work/f1b.ref" >"$work/f1c.ref"
converge "A -> B: a truncate" 30 same "$mb/f1" "$work/f1c.ref"

# Review item 1: a committed 200 KB file shrunk to a block boundary (64 KiB blocks):
# block 1 becomes the final block and must be re-sealed and re-published as such.
rand_file "$work/f2.ref" 204800
cp "$work/f2.ref" "$ma/f2"
converge "A -> B: a 200 KiB file" 30 same "$mb/f2" "$work/f2.ref"
truncate -s 128K "$ma/f2"
head -c 131072 "$work/f2.ref" >"$work/f2b.ref"
converge "A -> B: a truncate to a block boundary (128 KiB)" 30 same "$mb/f2" "$work/f2b.ref"
printf 'after the aligned truncate\n' >"$ma/f2-after"
converge "A -> B: the journal still applies after it" 30 content_is "$mb/f2-after" \
	"after the aligned truncate"

printf 'Z' | dd of="$ma/f1" bs=1 seek=66000 conv=notrunc status=none
cp "$work/f1c.ref" "$work/f1d.ref"
printf 'Z' | dd of="$work/f1d.ref" bs=1 seek=66000 conv=notrunc status=none
converge "A -> B: a 1-byte edit in the middle" 30 same "$mb/f1" "$work/f1d.ref"

mv "$ma/f1" "$ma/dir/f1-renamed"
converge "A -> B: a rename into a directory" 30 same "$mb/dir/f1-renamed" "$work/f1d.ref"
converge "  ... the old name is gone on B" 30 absent "$mb/f1"

rm "$ma/dir/sub/deep"
converge "A -> B: a deletion" 30 absent "$mb/dir/sub/deep"
rmdir "$ma/dir/sub"
converge "A -> B: rmdir" 30 absent "$mb/dir/sub"

ln -s "dir/f1-renamed" "$ma/link"
converge "A -> B: a symlink" 30 link_is "$mb/link" "dir/f1-renamed"

chmod 640 "$ma/dir/f1-renamed"
converge "A -> B: chmod" 30 mode_is "$mb/dir/f1-renamed" 640

touch -d '2001-02-03 04:05:06.789' "$ma/note-$MARK.txt"
want=$(stat -c %Y "$ma/note-$MARK.txt")
converge "A -> B: mtime" 30 mtime_is "$mb/note-$MARK.txt" "$want"

setfattr -n user.color -v blue "$ma/dir/f1-renamed"
converge "A -> B: a user xattr" 30 xattr_is "$mb/dir/f1-renamed" user.color blue

# Editor-style save on B: write a temp file, rename it over the original.
printf 'version 2 from B\n' >"$mb/.note.swp"
mv "$mb/.note.swp" "$mb/note-$MARK.txt"
printf 'version 2 from B\n' >"$work/note2.ref"
converge "B -> A: an editor-style save (temp + rename)" 30 same "$ma/note-$MARK.txt" "$work/note2.ref"
# rm -r of a tree (doc/SYNC.md C7): its files' and directories' deletions come in one entry
# in file-id order; a directory's deletion must not meet it "not empty" because its
# children's deletions sort after it.
for d in 1 2 3 4 5 6; do
	mkdir -p "$ma/tree/d$d/e$d"
	echo "$d" >"$ma/tree/d$d/f"
	echo "$d" >"$ma/tree/d$d/e$d/g"
done
converge "A -> B: a tree of 13 directories" 30 content_is "$mb/tree/d6/e6/g" 6
run_ok "A: sync (the tree is published)" A sync docs
rm -r "$ma/tree"
run_ok "A: sync (rm -r published)" A sync docs
converge "A -> B: rm -r of the tree leaves nothing behind" 30 absent "$mb/tree"
conflicts=$(find "$ma" "$mb" -name '*conflict*' | wc -l)
is "$conflicts" 0 "no conflict copies for sequential edits"

# --- the store --------------------------------------------------------------
grep -r -a -l "$MARK" "$work/store" "$HA" "$HB" >"$work/leaks" 2>/dev/null
is "$(wc -l <"$work/leaks")" 0 "no plaintext marker anywhere in the store or either device's home" \
	"$(cat "$work/leaks")"
na=$(find "$work/store/$RID/journal" -type f | wc -l)
[ "$na" -ge 2 ]
ok $? "journal entries on the store ($na)"
npacks=$(find "$work/store/$RID/p" -type f | wc -l)
[ "$npacks" -ge 2 ]
ok $? "packs on the store ($npacks)"

# --- remount B: the applied state is durable ---------------------------------
export SEALSYNC_HOME=$HB
umount_region "$mb"
ok $? "B: umount"
mount_region docs "$mb"
ok $? "B: mount again"
export SEALSYNC_HOME=$HA
cmp -s "$mb/dir/f1-renamed" "$work/f1d.ref"
ok $? "after B's remount the file is intact"
is "$(readlink "$mb/link")" "dir/f1-renamed" "after B's remount the symlink is intact"

printf 'after remount\n' >"$ma/late"
converge "A -> B after B's remount: a new file" 30 content_is "$mb/late" "after remount"

export SEALSYNC_HOME=$HB
umount_region "$mb"
export SEALSYNC_HOME=$HA
umount_region "$ma"
ok $? "final umount"
done_testing
