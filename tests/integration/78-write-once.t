#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 78-write-once.t: issue #10 "Write once" (doc/DESIGN.md "Write once", doc/SYNC.md D5).
# The outbox holds pack recipes, not pack bytes: while a 200 MiB file waits for
# upload (the pusher held with SEALSYNC_PUSH_HOLD) the outbox stays small and no
# second copy exists.  Files changed between commit and upload -- overwritten in
# place, deleted, truncated to zero and rewritten -- keep the committed blocks
# readable (keep/), across a kill -9 while held and a kill -9 during the upload;
# afterwards everything is published, keep/ is empty, and a second device reads
# the same bytes.
TEST_TIMEOUT=420
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # unused default home
homes A B
file_region r
export SEALSYNC_HOME=$HA
export SEALSYNC_PUSH_HOLD=$work/hold
ma=$work/a
mb=$work/b
mkdir -p "$ma" "$mb"
RD=$HA/regions/$RID
outbox=$RD/outbox
touch "$work/hold"

mount_region r "$ma" || bail "mount A failed"
rand_file "$ma/big" $((200 * 1048576))
for f in over gone trunc; do rand_file "$ma/$f" $((8 * 1048576)); done
sync
# every change committed: the outbox holds entries and recipes, the store nothing yet
committed() { A status r --json 2>/dev/null | jq -e '(.queue.bytes // 0) >= 224 * 1048576' >/dev/null; }
wait_for "A to commit the 224 MiB" 120 committed
A status r --json | jq -e '(.queue.bytes // 0) >= 224 * 1048576' >/dev/null
ok $? "status counts the 224 MiB waiting to upload"
ob=$(du -sb "$outbox" | cut -f1)
[ "$ob" -lt $((2 * 1048576)) ]
ok $? "the outbox holds recipes, not packs: $ob bytes for 224 MiB waiting"
[ -z "$(find "$outbox" -name 'p-*' | head -n1)" ]
ok $? "no pack bytes in the outbox"
db=$(du -sb "$RD/data" | cut -f1)
[ "$db" -lt $((240 * 1048576)) ]
ok $? "one local copy: data/ is $db bytes"
[ -z "$(find "$work/store/$RID/p" -type f 2>/dev/null | head -n1)" ]
ok $? "the store holds no pack while the uploads are held"

# Changes before the upload: the committed blocks must stay readable.
cp "$ma/over" "$work/over.v1"
dd if=/dev/urandom of="$ma/over" bs=1M seek=2 count=3 conv=notrunc status=none
rm "$ma/gone"
rand_file "$work/trunc.v2" $((3 * 1048576))
cp "$work/trunc.v2" "$ma/trunc"
sync
# the overwrite (3 MiB) and the rewritten file (3 MiB) committed on top of the 224 MiB
committed2() { A status r --json 2>/dev/null | jq -e '(.queue.bytes // 0) >= 230 * 1048576' >/dev/null; }
wait_for "A to commit the changes" 60 committed2
kept() { [ -n "$(find "$RD/keep" -type f | head -n1)" ]; }
wait_for "A to keep the blocks it overwrote, deleted or truncated" 30 kept
ok $? "keep/ holds the changed blocks: $(find "$RD/keep" -type f | wc -l) files"

# kill -9 while held: the pins come back from the recipes at the next mount.
kill -KILL "$MOUNT_PID"
fusermount3 -u -z "$ma" 2>/dev/null
unmounted() { ! in_mountinfo "$ma"; }
wait_for "$ma to be detached after the kill" 20 unmounted
mount_region r "$ma"
ok $? "A: mount after the kill while held"
dd if=/dev/urandom of="$ma/over" bs=1M seek=6 count=1 conv=notrunc status=none
sync

# kill -9 during the upload
rm -f "$work/hold"
A sync r >/dev/null 2>&1 </dev/null &
spid=$!
some_up() { [ -n "$(find "$work/store/$RID/p" -type f 2>/dev/null | head -n1)" ]; }
wait_for "the first pack on the store" 60 some_up
kill -KILL "$MOUNT_PID"
wait "$spid" 2>/dev/null
fusermount3 -u -z "$ma" 2>/dev/null
ok 0 "daemon killed during the upload ($(find "$work/store/$RID/p" -type f | wc -l) packs up)"
mount_region r "$ma"
ok $? "A: mount after the kill during the upload"
run_ok "A: sync publishes everything" A sync r
wait_for "A's outbox to publish every journal entry" 120 outbox_empty "$RD"
is "$(find "$outbox" -name 'r-*' | wc -l)" 0 "no recipe left"
is "$(find "$RD/keep" -type f | wc -l)" 0 "keep/ is empty once everything is up"
if grep -q "found nowhere\|does not hash to its name" "$RD/mount.log" 2>/dev/null; then
	ok 1 "every pack was assembled" "$(grep "found nowhere\|hash to its name" "$RD/mount.log" | head -3)"
else
	ok 0 "every pack was assembled"
fi
run_ok "A: status exits 0" A status r

enroll_device devB B r
export SEALSYNC_HOME=$HB
mount_region r "$mb" || bail "mount B failed"
export SEALSYNC_HOME=$HA
for f in big over trunc; do
	wait_for "B to read $f as A has it" 120 cmp -s "$mb/$f" "$ma/$f"
	cmp -s "$mb/$f" "$ma/$f"
	ok $? "B: $f identical to A's"
done
cmp -s "$ma/trunc" "$work/trunc.v2"
ok $? "A: trunc is its second version"
[ ! -e "$mb/gone" ]
ok $? "B: the deleted file is gone"
# Every version published on the way is a readable pack: B verified each pack it
# fetched against its name; the history of 'over' includes the version from
# before the overwrite, whose blocks came from keep/.
export SEALSYNC_HOME=$HB
umount_region "$mb"
export SEALSYNC_HOME=$HA
umount_region "$ma"
ok $? "umount"
done_testing
