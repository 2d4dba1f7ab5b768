#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 40-truncate-crash.t: issue #11 case 4, doc/SYNC.md D2.  kill -9 of the
# daemon while a program truncates a file and writes it again (O_TRUNC open,
# or ftruncate(0), then 64 KiB writes of a new version of ~1 KiB-700 KiB):
# after a remount the file reads without error as a prefix of some version
# (the empty, truncated state included) -- never EIO, never a mix of two
# versions -- and the region syncs again (`sync` and `status` exit 0).
# REWRITE_ROUNDS rounds (default 10), alternating the two ways to truncate.
TEST_TIMEOUT=600
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

ROUNDS=${REWRITE_ROUNDS:-10}
tool RW rewriter
setup_device
create_region r
mp=$work/mnt
mkdir -p "$mp"

# count FILE: the last version number the driver finished (0 if none).
count() { local c; c=$(cat "$1" 2>/dev/null); echo "${c:-0}"; }

bad=0
for round in $(seq "$ROUNDS"); do
	mode=otrunc
	[ $((round % 2)) -eq 0 ] && mode=ftrunc
	mount_region r "$mp" || bail "round $round: mount failed"
	pid=$MOUNT_PID
	[ -n "$pid" ] || bail "round $round: cannot find the daemon's pid"
	cnt=$work/count$round
	"$RW" loop "$mp/f$((round % 3))" "$cnt" "$mode" 2>"$work/rw$round.err" &
	rwpid=$!
	# Kill after a varying number of finished versions (bounded poll).
	target=$((2 + RANDOM % 12))
	for _ in $(seq 600); do
		[ "$(count "$cnt")" -ge "$target" ] && break
		kill -0 $rwpid 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid"
	for _ in $(seq 100); do pid_alive "$pid" || break; sleep 0.1; done
	! pid_alive "$pid"
	ok $? "round $round ($mode): daemon killed after $(count "$cnt") versions (target $target)"
	for _ in $(seq 100); do kill -0 $rwpid 2>/dev/null || break; sleep 0.1; done
	kill $rwpid 2>/dev/null
	wait $rwpid 2>/dev/null
	fusermount3 -u -z "$mp" 2>/dev/null
	mount_region r "$mp" || bail "round $round: mount after kill -9 failed"
	for f in "$mp"/f*; do
		[ -e "$f" ] || continue
		out=$("$RW" check "$f" 2>&1)
		if [ $? -eq 0 ]; then
			pass "round $round: ${f##*/} reads as $out"
		else
			fail "round $round: ${f##*/} reads as one version" "$out" \
				"$(grep -i 'missing\|EIO\|error' "$REGION_DIR/mount.log" | tail -n 3)"
			bad=$((bad + 1))
		fi
	done
	run_ok "round $round: sync after the crash exits 0" S sync r
	run_ok "round $round: status exits 0" S status r
	umount_region "$mp" || fail "round $round: clean umount"
done
is "$bad" 0 "no file was unreadable or mixed in $ROUNDS rounds"

# A file that cannot be committed (its ciphertext damaged on disk) is named
# by `status`, which exits 1; the other files are still published.
touch "$work/before-broken"
mount_region r "$mp" --no-sync || bail "mount --no-sync failed"
mkdir -p "$mp/sub"
head -c 100000 /dev/urandom >"$mp/sub/broken"
echo fine >"$mp/fine"
umount_region "$mp" || bail "umount failed"
victim=$(find "$REGION_DIR/data" -type f -size +90k -newer "$work/before-broken")
[ "$(wc -l <<<"$victim")" = 1 ] || bail "not one ciphertext file for sub/broken: $victim"
[ -n "$victim" ] || bail "cannot find the ciphertext file of sub/broken"
printf '\xff\xff\xff\xff' | dd of="$victim" bs=1 seek=200 conv=notrunc status=none
mount_region r "$mp" || bail "mount failed"
run_fails "sync with a damaged, changed file exits 1" S sync r
run_fails "status exits 1" S status r
like "$T_OUT" "uncommitted: /sub/broken \(file [0-9a-f]{32}\) cannot be committed" \
	"  ... and names the file"
run S status r --json
is "$(jq -r '.uncommitted | map(.path) | join(",")' <<<"$T_OUT")" /sub/broken \
	"  ... also in --json"
is "$(jq -r '.ok' <<<"$T_OUT")" false "  ... ok is false"
grep -q 'cannot be committed' "$REGION_DIR/mount.log"
ok $? "  ... the daemon logged it"
umount_region "$mp"
done_testing
