#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 13-sync-crash.t: kill -9 of a daemon while it commits and uploads (issue #3):
# after a remount the outbox resumes, nothing is published twice under one
# seq (stray packs of the crash are removed by age: not checked here), and a device that joins
# afterwards bootstraps from the journal to the same bytes.  Also: a file
# committed, then deleted durably (directory fsync) before the crash, is
# deleted on the other device too.
TEST_TIMEOUT=300
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # A
HA=$SEALSYNC_HOME
HB=$work/homeB
STORE=file://$work/store
create_region r --store "$STORE"
RID=$REGION_ID
ma=$work/a
mb=$work/b
mkdir -p "$ma" "$mb"
rand_file "$work/big.ref" $((96 * 1048576))

mount_region r "$ma" || bail "mount A failed"
for i in $(seq 1 50); do rand_file "$ma/small$i" $((RANDOM % 20000)); done
printf 'doomed\n' >"$ma/doomed"
# one commit round: small files and "doomed" are published
SEALSYNC_HOME=$HA "$SEALSYNC_BIN" sync r >/dev/null 2>&1 </dev/null ||
	diag "sealsync sync r (publishing the small files) failed"
rm "$ma/doomed"
sync "$ma" # fsync of the directory: the deletion is durable (fsyncdir)
cp "$work/big.ref" "$ma/big" &
cpid=$!
big_started() { [ "$(stat -c %s "$ma/big" 2>/dev/null || echo 0)" -ge $((8 * 1048576)) ]; }
wait_for "8 MiB of the big file written through the mount" 60 big_started
kill -KILL "$MOUNT_PID"
wait "$cpid" 2>/dev/null
fusermount3 -u -z "$ma" 2>/dev/null
ok 0 "daemon killed with SIGKILL while writing and publishing"

mount_region r "$ma"
ok $? "A: mount after the kill"
cp "$work/big.ref" "$ma/big"
ok $? "A: write the big file again"
sync
outbox=$HA/regions/$RID/outbox
wait_for "A's outbox to publish every journal entry" 120 outbox_empty "$HA/regions/$RID"
is "$(ls "$outbox" | grep -c '^j-')" 0 "A's outbox publishes every journal entry after the remount"
seqs=$(find "$work/store/$RID/journal" -type f -printf '%f\n' | cut -d- -f1 | sort)
is "$(sort -u <<<"$seqs" | wc -l)" "$(wc -l <<<"$seqs")" "no two journal entries share a seq"

# B joins only now and must bootstrap everything from the journal.
SEALSYNC_HOME=$HB "$SEALSYNC_BIN" init --kdf interactive --name devB >/dev/null 2>&1
DEV_B=$(SEALSYNC_HOME=$HB "$SEALSYNC_BIN" id --json | jq -r .device_id)
CODE=$(SEALSYNC_HOME=$HA "$SEALSYNC_BIN" invite r --json | jq -r .code)
SEALSYNC_HOME=$HB "$SEALSYNC_BIN" join r "$STORE" "$RID" --code "$CODE" --timeout 60 \
	>"$work/join.out" 2>&1 </dev/null &
jpid=$!
join_there() { [ -n "$(find "$work/store/$RID/join" -type f 2>/dev/null)" ]; }
wait_for "B's join request on the store" 60 join_there
run_ok "A: approve B" env SEALSYNC_HOME="$HA" "$SEALSYNC_BIN" approve r "$DEV_B"
wait "$jpid"
ok $? "B: join completes" "$(cat "$work/join.out")"
export SEALSYNC_HOME=$HB
mount_region r "$mb" || bail "mount B failed"
export SEALSYNC_HOME=$HA
wait_for "B to read the big file identical" 120 cmp -s "$mb/big" "$work/big.ref"
cmp -s "$mb/big" "$work/big.ref"
ok $? "B: the big file arrives identical"
bad=0
for i in $(seq 1 50); do cmp -s "$mb/small$i" "$ma/small$i" || bad=$((bad + 1)); done
is "$bad" 0 "B: all 50 small files identical"
[ ! -e "$mb/doomed" ]
ok $? "B: the file deleted before the crash is not resurrected"

export SEALSYNC_HOME=$HB
umount_region "$mb"
export SEALSYNC_HOME=$HA
umount_region "$ma"
ok $? "umount"
done_testing
