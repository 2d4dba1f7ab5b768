#!/usr/bin/env bash
# Random operations (tests/tools/exerciser.c) on a file in the mount and a
# reference file on plain disk, compared after every read: two seeds running
# concurrently (the second with one handle O_DIRECT, so reads and writes
# reach the daemon instead of the page cache), >= 20000 ops in all, then
# umount + mount, full cmp, and a third run resuming on the remounted file.
TEST_TIMEOUT=360
. "$(dirname "$0")/lib.sh"
EXERCISER=$(tool exerciser)
OPS=${EXERCISER_OPS:-15000}
SEED1=${EXERCISER_SEED1:-$((RANDOM * 32768 + RANDOM))}
SEED2=${EXERCISER_SEED2:-$((RANDOM * 32768 + RANDOM + 1))}

setup_device
ref=$work/ref
mp=$work/mnt
mkdir -p "$ref" "$mp"

# The checker can fail: a corrupted byte behind its back is reported.
EXERCISER_SELFTEST_CORRUPT=50 "$EXERCISER" "$ref/self-a" "$ref/self-b" 500 1 >/dev/null 2>"$work/self.err"
st=$?
[ $st -eq 1 ] && grep -q 'data mismatch' "$work/self.err"
ok $? "self-test: the exerciser detects a corrupted byte (plain disk, exit $st)" "$(head -3 "$work/self.err")"
"$EXERCISER" "$ref/self-c" "$ref/self-d" 2000 7 >"$work/self.out" 2>&1
ok $? "self-test: two plain files agree over 2000 ops" "$(tail -5 "$work/self.out")"

create_region r
mount_region r "$mp" || bail "cannot mount region r"

mkdir -p "$mp/sub" || bail "mkdir in the mount failed"
note "seeds: $SEED1 $SEED2 (rerun with EXERCISER_SEED1=... EXERCISER_SEED2=...)"
t0=$(date +%s)
"$EXERCISER" "$mp/e1" "$ref/e1" "$OPS" "$SEED1" >"$work/e1.out" 2>&1 &
p1=$!
EXERCISER_DIRECT=1 "$EXERCISER" "$mp/sub/e2" "$ref/e2" "$OPS" "$SEED2" >"$work/e2.out" 2>&1 &
p2=$!
wait $p1
st1=$?
wait $p2
st2=$?
note "two concurrent runs of $OPS ops took $(($(date +%s) - t0)) s"
ok $st1 "exerciser seed $SEED1: $OPS ops agree" "$(tail -50 "$work/e1.out")"
ok $st2 "exerciser seed $SEED2: $OPS ops agree (in a subdirectory, concurrently, one handle O_DIRECT)" "$(tail -50 "$work/e2.out")"

cmp "$ref/e1" "$mp/e1" >"$work/cmp" 2>&1
ok $? "cmp e1 before umount" "$(cat "$work/cmp")"
cmp "$ref/e2" "$mp/sub/e2" >"$work/cmp" 2>&1
ok $? "cmp e2 before umount" "$(cat "$work/cmp")"

remount r "$mp"
ok $? "umount + mount" || bail "remount failed"
cmp "$ref/e1" "$mp/e1" >"$work/cmp" 2>&1
ok $? "cmp e1 after remount" "$(cat "$work/cmp")"
cmp "$ref/e2" "$mp/sub/e2" >"$work/cmp" 2>&1
ok $? "cmp e2 after remount" "$(cat "$work/cmp")"
is "$(stat -c %s "$mp/e1")" "$(stat -c %s "$ref/e1")" "e1 size after remount"

"$EXERCISER" "$mp/e1" "$ref/e1" 4000 $((SEED1 + 1)) >"$work/e3.out" 2>&1
ok $? "exerciser resumes on the remounted file: 4000 more ops agree" "$(tail -50 "$work/e3.out")"
remount r "$mp"
ok $? "umount + mount again" || bail "remount failed"
cmp "$ref/e1" "$mp/e1" >"$work/cmp" 2>&1
ok $? "cmp e1 after the second remount" "$(cat "$work/cmp")"

umount_region "$mp"
ok $? "final umount"
done_testing
