#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Random operations (tests/tools/exerciser.c) on a file in the mount and a
# reference file on plain disk, compared after every read: three runs at
# once (one with a handle opened O_DIRECT, so its reads and writes reach the
# daemon instead of the page cache; one on a small file where every op hits
# the same few blocks), >= 20000 ops in all, then umount + mount, full cmp,
# a run resuming on the remounted file, and shorter runs on regions with
# other ciphers and block sizes (4 KiB XChaCha20, 1 MiB AES-GCM).
TEST_TIMEOUT=360
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
tool EXERCISER exerciser
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
# A small file (<= 300 KB, five blocks) where every op hits the same blocks.
EXERCISER_MAX_SIZE=300000 "$EXERCISER" "$mp/small" "$ref/small" "$OPS" "$((SEED1 + 7))" \
	>"$work/e4.out" 2>&1 &
p3=$!
wait $p1
st1=$?
wait $p2
st2=$?
wait $p3
st3=$?
note "three concurrent runs of $OPS ops took $(($(date +%s) - t0)) s"
ok $st1 "exerciser seed $SEED1: $OPS ops agree" "$(tail -50 "$work/e1.out")"
ok $st2 "exerciser seed $SEED2: $OPS ops agree (in a subdirectory, concurrently, one handle O_DIRECT)" "$(tail -50 "$work/e2.out")"
ok $st3 "exerciser seed $((SEED1 + 7)): $OPS ops on a file of at most 300000 bytes agree" \
	"$(tail -50 "$work/e4.out")"

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
cmp "$ref/small" "$mp/small" >"$work/cmp" 2>&1
ok $? "cmp small after remount" "$(cat "$work/cmp")"

"$EXERCISER" "$mp/e1" "$ref/e1" 4000 $((SEED1 + 1)) >"$work/e3.out" 2>&1
ok $? "exerciser resumes on the remounted file: 4000 more ops agree" "$(tail -50 "$work/e3.out")"
remount r "$mp"
ok $? "umount + mount again" || bail "remount failed"
cmp "$ref/e1" "$mp/e1" >"$work/cmp" 2>&1
ok $? "cmp e1 after the second remount" "$(cat "$work/cmp")"

# Unordered stress: four writers (pwrite-like dd at random offsets, and
# truncates) and two readers (cached and O_DIRECT) on one file for 6 s.  No
# call may fail, and what is read before umount is what is read after.
head -c 3000000 /dev/urandom >"$work/src"
cp "$work/src" "$mp/shared"
end=$((SECONDS + 6))
for w in 1 2 3 4; do
	(
		while [ $SECONDS -lt $end ]; do
			dd if="$work/src" of="$mp/shared" bs=65536 skip=$((RANDOM * 7)) \
				seek=$(((RANDOM * 32768 + RANDOM) % 3000000)) count=$((RANDOM % 70000)) \
				iflag=skip_bytes,count_bytes oflag=seek_bytes conv=notrunc status=none ||
				echo "writer $w: dd failed"
			if [ $((RANDOM % 10)) = 0 ]; then
				truncate -s $(((RANDOM * 32768 + RANDOM) % 3500000)) "$mp/shared" ||
					echo "writer $w: truncate failed"
			fi
		done
	) >>"$work/stress.err" 2>&1 &
done
for r in 1 2; do
	(
		while [ $SECONDS -lt $end ]; do
			cat "$mp/shared" >/dev/null || echo "reader $r: cat failed"
			dd if="$mp/shared" of=/dev/null bs=100000 iflag=direct status=none ||
				echo "reader $r: O_DIRECT read failed"
		done
	) >>"$work/stress.err" 2>&1 &
done
wait
[ ! -s "$work/stress.err" ]
ok $? "6 s of 4 concurrent writers + 2 readers on one file: no call failed" "$(sort "$work/stress.err" | uniq -c | head)"
before=$(sha "$mp/shared")
remount r "$mp"
ok $? "umount + mount after the stress"
is "$(sha "$mp/shared")" "$before" "  ... the file reads the same as before umount"
umount_region "$mp"
ok $? "umount"

# Other suites and block sizes: the same exerciser, remount, cmp.
for conf in "xchacha20poly1305:4096" "aes256gcm:1048576"; do
	cipher=${conf%%:*}
	bs=${conf#*:}
	name=r-$cipher-$bs
	create_region "$name" --cipher "$cipher" --block-size "$bs"
	mount_region "$name" "$mp" || { fail "mount $name"; continue; }
	EXERCISER_DIRECT=1 "$EXERCISER" "$mp/e" "$ref/e-$name" 6000 $((SEED2 + bs)) >"$work/e5.out" 2>&1
	ok $? "$cipher, block size $bs: 6000 ops agree" "$(tail -50 "$work/e5.out")"
	remount "$name" "$mp"
	ok $? "$cipher, block size $bs: umount + mount"
	cmp "$ref/e-$name" "$mp/e" >"$work/cmp" 2>&1
	ok $? "$cipher, block size $bs: cmp after remount" "$(cat "$work/cmp")"
	umount_region "$mp"
	ok $? "$cipher, block size $bs: umount"
done
done_testing
