#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 83-burst.t: a commit round waits for a burst of local writes to end
# (doc/SYNC.md "When a round starts", issue #10).  Behaviour, not speed:
#  - a change made once and left alone is published by the timer;
#  - a writer appending every 0.2 s for 16 s is published in a few journal
#    entries (at most one forced round per 10 s of writing, then one after
#    it), where a round every 2 s made about seven;
#  - the timer publishes it once it stops (an entry reaches the store after
#    the burst, without a `sync`).
TEST_TIMEOUT=300
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device
create_region docs --store "file://$work/store"
RID=$REGION_ID
ma=$work/a
mkdir -p "$ma"
mount_region docs "$ma" || bail "mount failed" "$MOUNT_OUT"

entries() { find "$work/store/$RID/journal" -type f 2>/dev/null | wc -l; }
more_entries_than() { [ "$(entries)" -gt "$1" ]; }
# an entry reached the store after the marker file was touched
entry_after() { [ -n "$(find "$work/store/$RID/journal" -type f -newer "$1" 2>/dev/null)" ]; }

e0=$(entries)
echo quiet >"$ma/quiet"
wait_for "a change left alone to be published by the timer" 60 more_entries_than "$e0"
ok $? "a change left alone is published by the timer ($(entries) entries)"

e1=$(entries)
end=$((SECONDS + 16))
n=0
while [ $SECONDS -lt $end ]; do
	head -c 4096 /dev/urandom >>"$ma/burst" || break
	n=$((n + 1))
	sleep 0.2 # the workload's pace, not a wait for a condition
done
touch "$work/burst-end"
e2=$(entries)
note "burst: $n appends in 16 s; journal entries during it: $((e2 - e1))"
wait_for "an entry after the burst, by the timer" 60 entry_after "$work/burst-end"
ok $? "the timer publishes once the burst stops"
run S sync docs --timeout 60
ok $? "sync after the burst" "$T_OUT$T_ERR"
e3=$(entries)
note "journal entries for the burst, during and after (with the sync): $((e3 - e1))"
# One forced round per 10 s of writing (FS_COMMIT_MAX_DELAY_MS), one after it,
# and the sync's if it found anything left: at most 3; 5 leaves room for a
# loaded machine that stalls the writer past the 1 s quiet time.  A round
# every 2 s made 8 (the build before, 16 s).
[ $((e3 - e1)) -le 5 ]
ok $? "the burst took $((e3 - e1)) journal entries (at most 5; a round every 2 s: ~8)"
is "$(stat -c %s "$ma/burst")" "$((n * 4096))" "the file has every append"

umount_region "$ma"
done_testing
