#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 45-small-writes.t: the partial-block buffer (doc/DESIGN.md "Small writes",
# issue #10).  Behaviour, not speed: small unaligned writes interleaved with
# reads, in-place writes, holes, O_APPEND and truncations read back exactly
# (tests/tools/smallwrites.py checks each read against a model), also after a
# remount; a stdio-buffered writer and a line-at-a-time appender; kill -9 of
# the daemon after an fsync keeps every fsynced byte and leaves the unsynced
# tail written-or-zero, never EIO; and a second device sees the same bytes
# after `sync`.
TEST_TIMEOUT=600
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd jq python3 cmp

SW=$(cd "$(dirname "$0")/../tools" && pwd)/smallwrites.py
two_devices docs

ma=$work/a
mb=$work/b
mkdir -p "$ma" "$mb"
mount_a() { SEALSYNC_HOME=$HA mount_region docs "$ma"; }
same() { cmp -s "$1" "$2"; }
mount_a || bail "mount on A failed"

# --- interleaved small writes and reads ---------------------------------------
for seed in 1 2 3; do
	"$SW" mix "$ma/mix$seed" "$seed" 1500 "$work/mix$seed.model" 2>"$work/e"
	ok $? "seed $seed: 1500 small unaligned writes and reads match the model" "$(cat "$work/e")"
	same "$ma/mix$seed" "$work/mix$seed.model"
	ok $? "  ... and the file reads back whole as the model"
done

# A stdio-buffered writer (4 KiB chunks from python, BufferedWriter) and a
# line-at-a-time appender (open, append, close: every release seals).
python3 -c '
import random, sys
r = random.Random(7)
with open(sys.argv[1], "wb") as f:
    for _ in range(400):
        f.write(r.randbytes(r.randrange(1, 3000)))
' "$work/stdio.ref"
python3 -c '
import sys
src = open(sys.argv[1], "rb").read()
with open(sys.argv[2], "wb", buffering=4096) as f:
    for i in range(0, len(src), 333):
        f.write(src[i:i + 333])
' "$work/stdio.ref" "$ma/stdio"
same "$ma/stdio" "$work/stdio.ref"
ok $? "a buffered writer's 4 KiB writes read back"
: >"$work/lines.ref"
for i in $(seq 300); do
	echo "line $i of the appender" >>"$ma/lines"
	echo "line $i of the appender" >>"$work/lines.ref"
done
same "$ma/lines" "$work/lines.ref"
ok $? "300 appends (open, write, close) read back"
is "$(stat -c %s "$ma/lines")" "$(stat -c %s "$work/lines.ref")" "  ... with the right size"

SEALSYNC_HOME=$HA remount docs "$ma" || bail "remount of A failed"
bad=0
for f in mix1 mix2 mix3; do same "$ma/$f" "$work/$f.model" || bad=$((bad + 1)); done
same "$ma/stdio" "$work/stdio.ref" || bad=$((bad + 1))
same "$ma/lines" "$work/lines.ref" || bad=$((bad + 1))
is "$bad" 0 "after a remount every file reads back"

# --- kill -9 after fsync ------------------------------------------------------
pid=$MOUNT_PID
[ -n "$pid" ] || bail "cannot find A's daemon"
rm -f "$work/ready"
"$SW" crash "$ma/crash" 45 "$work/ready" "$work/crash.model" "$work/crash.synced" \
	2>"$work/crash.err" &
cpid=$!
wait_for "the writer to fsync and write an unsynced tail" 60 test -e "$work/ready" ||
	diag "$(cat "$work/crash.err")"
kill -KILL "$pid"
wait_for "A's daemon $pid to die of SIGKILL" 30 not_cmd pid_alive "$pid"
ok $? "A's daemon killed with a partly filled block buffered"
kill "$cpid" 2>/dev/null
wait "$cpid" 2>/dev/null
fusermount3 -u -z "$ma" 2>/dev/null
mount_a || bail "mount after kill -9 failed"
n=$("$SW" after "$ma/crash" "$work/crash.model" "$work/crash.synced" 2>"$work/e")
ok $? "after kill -9: the fsynced $(cat "$work/crash.synced") bytes are intact, the rest written or zero" \
	"$(cat "$work/e")"
note "the crashed file kept $n of $(stat -c %s "$work/crash.model") bytes"
bad=0
for f in mix1 mix2 mix3; do same "$ma/$f" "$work/$f.model" || bad=$((bad + 1)); done
is "$bad" 0 "the other files are intact after the kill"
# What survived is what the model and the file agree on, byte for byte (zeros
# in an unsynced tail included): sync publishes exactly that.
cp "$ma/crash" "$work/crash.ref"

# --- a second device sees it --------------------------------------------------
# Small writes after the remount too, left in the buffer until sync (three
# opens and closes on purpose, hence no grouped redirect).
# shellcheck disable=SC2129
printf 'tail written in small pieces: ' >>"$ma/lines"
printf 'one, ' >>"$ma/lines"
printf 'two.\n' >>"$ma/lines"
cp "$ma/lines" "$work/lines.ref"
run_ok "A: sync" A sync docs
export SEALSYNC_HOME=$HB
mount_region docs "$mb" || bail "mount on B failed"
export SEALSYNC_HOME=$HA
for f in mix1 mix2 mix3; do
	converge "B sees $f" 60 same "$mb/$f" "$work/$f.model"
done
converge "B sees the buffered writer's file" 60 same "$mb/stdio" "$work/stdio.ref"
converge "B sees the appended lines" 60 same "$mb/lines" "$work/lines.ref"
converge "B sees what survived the kill" 60 same "$mb/crash" "$work/crash.ref"

# B writes small pieces too; A sees them.
"$SW" mix "$mb/fromB" 9 800 "$work/fromB.model" 2>"$work/e"
ok $? "B: 800 small writes and reads match the model" "$(cat "$work/e")"
run_ok "B: sync" B sync docs
converge "A sees B's small writes" 60 same "$ma/fromB" "$work/fromB.model"

SEALSYNC_HOME=$HB umount_region "$mb"
ok $? "B: umount"
umount_region "$ma"
ok $? "A: umount"
done_testing
