#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 84-early-packs.t: doc/SYNC.md D7 (issue #10, sync speed).  A commit round's
# packs go up while the round runs, before its journal entry, and the entry's
# pass does not put them again.  A 512 MiB file on a file:// store whose
# requests are traced (SEALSYNC_STORE_TRACE), with the pusher's stale age at
# 1 s (SEALSYNC_PUSH_STALE_S), so the round outlasts it many times:
#  - every pack of the entry is PUT exactly once, all before the entry, and
#    the first one before the round ended (uploads overlapped the commit);
#  - no recipe of the round was removed as stale (the log says none), the
#    outbox is empty afterwards, every pack the entry names is on the store;
#  - a second device reads the file back identical; `verify` finds nothing;
#  - a third, fetching the entry's packs 3 at a time (SEALSYNC_EAGER=1: all
#    whole), names a pack the store altered (bad-object) and applies nothing.
TEST_TIMEOUT=300
. "$(dirname "$0")/lib.sh"
need_cmd jq bc

setup_device # unused default home
homes A B
file_region r
export SEALSYNC_HOME=$HA
export SEALSYNC_PUSH_STALE_S=1
trace=$work/trace
export SEALSYNC_STORE_TRACE=$trace
ma=$work/a
mb=$work/b
mkdir -p "$ma" "$mb"
RD=$HA/regions/$RID

mount_region r "$ma" || bail "mount A failed"
: >"$trace"
MIB=512
rand_file "$work/big" $((MIB * 1048576))
cp "$work/big" "$ma/big"
ok $? "wrote a $MIB MiB file through the mount"
run_ok "A: sync publishes it" A sync r --timeout 240
wait_for "A's outbox to publish every journal entry" 60 outbox_empty "$RD"
is "$(find "$RD/outbox" -name 'r-*' | wc -l)" 0 "no recipe left in the outbox"

# The entry that carries the file: the last journal PUT of the trace.
jline=$(grep -n "^PUT $RID/journal/" "$trace" | tail -n 1 | cut -d: -f1)
[ -n "$jline" ]
ok $? "the trace has the journal entry's PUT"
npacks=$(grep -c "^PUT $RID/p/" "$trace")
nuniq=$(grep "^PUT $RID/p/" "$trace" | sort -u | wc -l)
[ "$npacks" -ge $((MIB / 8 - 2)) ]
ok $? "about one 8 MiB pack per 8 MiB of the file: $npacks pack PUTs"
is "$nuniq" "$npacks" "every pack PUT exactly once (the entry's pass skipped those up already)"
after=$(tail -n +"$jline" "$trace" | grep -c "^PUT $RID/p/")
is "$after" 0 "every pack went up before the entry"
# Overlap: the first pack reached the store before the round ended (its
# "committed journal entry" line, which the round logs as it finishes): the
# store's file times against the log's (both this machine's clock, in ms).
t_commit=$(grep "committed journal entry" "$RD/mount.log" | tail -n 1 | cut -d' ' -f1)
t_commit=$(date -d "$t_commit" +%s.%3N 2>/dev/null)
t_first=$(find "$SD/p" -type f -exec stat -c '%.3Y' {} + 2>/dev/null | sort -n | head -n 1)
[ -n "$t_commit" ] && [ -n "$t_first" ] && [ "$(echo "$t_first < $t_commit" | bc)" = 1 ]
ok $? "packs went up while the round was committing (first pack at $t_first, round ended at $t_commit)"
if grep -q "left by an interrupted round" "$RD/mount.log"; then
	ok 1 "no recipe was removed as stale" "$(grep "interrupted round" "$RD/mount.log" | head -3)"
else
	ok 0 "no recipe was removed as stale (the round outlasted the 1 s stale age)"
fi
if grep -q "found nowhere\|does not hash to its name" "$RD/mount.log"; then
	ok 1 "every pack was assembled" "$(grep "found nowhere\|hash to its name" "$RD/mount.log" | head -3)"
else
	ok 0 "every pack was assembled"
fi
unset SEALSYNC_STORE_TRACE

enroll_device devB B r
export SEALSYNC_HOME=$HB
mount_region r "$mb" || bail "mount B failed"
wait_for "B to read the file as A wrote it" 180 cmp -s "$mb/big" "$work/big"
cmp -s "$mb/big" "$work/big"
ok $? "B: the $MIB MiB file is identical"
run_ok "B: verify finds nothing wrong" B verify r
umount_region "$mb"
export SEALSYNC_HOME=$HA
umount_region "$ma"
ok $? "umount"

# The same entry through the puller's fetch-ahead (SEALSYNC_EAGER=1: every
# pack whole, so its 60+ packs go 3 at a time): a store that altered one
# pack is named, as one at a time would (bad-object), and nothing of the
# entry is applied.
victim=$(find "$SD/p" -type f -size +1M | sort | sed -n 7p)
[ -n "$victim" ]
ok $? "a pack of the entry to alter: ${victim##*/}"
printf 'X' | dd of="$victim" bs=1 seek=100000 conv=notrunc status=none
homes C
enroll_device devC C r
export SEALSYNC_HOME=$HC SEALSYNC_EAGER=1
mc=$work/c
mkdir -p "$mc"
mount_region r "$mc" || bail "mount C failed"
C sync r --timeout 60 >/dev/null 2>&1 </dev/null
ALARM_REGION=r
wait_for "C to name the altered pack" 60 alarm_named "$HC" bad-object "" "does not match its name"
ok $? "C: bad-object for the altered pack" "$(C status r 2>&1 | head -n 5)"
[ ! -e "$mc/big" ]
ok $? "C: nothing of the entry applied"
umount_region "$mc"
unset SEALSYNC_EAGER
done_testing
