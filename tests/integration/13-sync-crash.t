#!/usr/bin/env bash
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
sleep 3 # one commit round: small files and "doomed" are published
rm "$ma/doomed"
sync "$ma" # fsync of the directory: the deletion is durable (fsyncdir)
cp "$work/big.ref" "$ma/big" &
cpid=$!
sleep 1.5
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
for _ in $(seq 60); do
	[ -z "$(ls "$outbox" | grep '^j-')" ] && break
	sleep 1
done
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
for _ in $(seq 100); do
	[ -n "$(find "$work/store/$RID/join" -type f 2>/dev/null)" ] && break
	sleep 0.2
done
run_ok "A: approve B" env SEALSYNC_HOME="$HA" "$SEALSYNC_BIN" approve r "$DEV_B"
wait "$jpid"
ok $? "B: join completes" "$(cat "$work/join.out")"
export SEALSYNC_HOME=$HB
mount_region r "$mb" || bail "mount B failed"
export SEALSYNC_HOME=$HA
for _ in $(seq 60); do
	cmp -s "$mb/big" "$work/big.ref" && break
	sleep 1
done
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
