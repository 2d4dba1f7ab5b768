#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Crash safety: kill -9 of the daemon during heavy writes.  "fsync means
# locally durable": every file whose `dd conv=fsync` returned must be intact
# after a remount; a big file written without fsync may have lost pages but
# must read without error and hold only what was written or zeros; the index
# must pass PRAGMA integrity_check; the mount must keep working.  Three rounds.
TEST_TIMEOUT=300
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd sqlite3 sha256sum

ROUNDS=${KILL9_ROUNDS:-3}
tool FSOPS fsops
setup_device
create_region r
mp=$work/mnt
src=$work/src
mkdir -p "$mp" "$src"
list=$work/fsynced.list
: >"$list"
head -c $((48 * 1048576)) /dev/urandom >"$src/big"

# writer ROUND: writes files with dd conv=fsync (every fourth one as temp
# file + fsync + rename + fsync of the directory) until a write fails or
# $work/stop exists; appends "name sha256" to $list for every file whose
# writing (and renaming) returned 0.
writer()
{
	local round=$1 i=0 name size s
	while [ ! -e "$work/stop" ]; do
		i=$((i + 1))
		name=r$round-$i
		size=$(((RANDOM * 32768 + RANDOM) % 400000))
		head -c "$size" /dev/urandom >"$src/$name"
		s=$(sha "$src/$name")
		if [ $((i % 3)) -eq 0 ]; then
			mkdir -p "$mp/d$round" 2>/dev/null || break
			name=d$round/$name
		fi
		if [ $((i % 4)) -eq 1 ]; then
			# Atomic replace: temp file, fsync, rename, fsync of the directory.
			dd if="$src/${name##*/}" of="$mp/$name.tmp" bs=64k conv=fsync status=none \
				2>/dev/null || break
			mv "$mp/$name.tmp" "$mp/$name" 2>/dev/null || break
			sync "$(dirname "$mp/$name")" 2>/dev/null || break
		else
			dd if="$src/${name##*/}" of="$mp/$name" bs=64k conv=fsync status=none 2>/dev/null ||
				break
		fi
		echo "$name $s" >>"$list"
		rm -f "$src/${name##*/}"
	done
}
# big_writer ROUND: 1 MiB at a time, no fsync, slowly (~6 s in all, so the
# kill lands in the middle of it).
big_writer()
{
	local c
	for c in $(seq 0 47); do
		[ -e "$work/stop" ] && break
		dd if="$src/big" of="$mp/big$1" bs=1M skip="$c" seek="$c" count=1 conv=notrunc \
			status=none 2>/dev/null || break
		sleep 0.1
	done
}

# check_big FILE: readable without error; each 4 KiB page is either the
# source's page at that offset or all zeros; not longer than the source.
check_big()
{
	if ! cat "$1" >"$work/bigcopy" 2>"$work/big.err"; then
		echo "read failed: $(cat "$work/big.err")"
		return 1
	fi
	"$FSOPS" pagecheck "$work/bigcopy" "$src/big" 2>&1
}

for round in $(seq "$ROUNDS"); do
	rm -f "$work/stop"
	mount_region r "$mp" || bail "round $round: mount failed"
	pid=$MOUNT_PID
	[ -n "$pid" ] || bail "round $round: cannot find the daemon's pid"
	writer "$round" &
	wpid=$!
	big_writer "$round" &
	bpid=$!
	sleep "$((1 + round)).$((RANDOM % 10))"
	before=$(wc -l <"$list")
	kill -KILL "$pid"
	for _ in $(seq 100); do pid_alive "$pid" || break; sleep 0.1; done
	! pid_alive "$pid"
	ok $? "round $round: daemon $pid killed with SIGKILL mid-write"
	touch "$work/stop"
	# The writers see ENOTCONN now; give them a moment, then stop them.
	for _ in $(seq 100); do
		kill -0 $wpid 2>/dev/null || kill -0 $bpid 2>/dev/null || break
		sleep 0.1
	done
	kill $wpid $bpid 2>/dev/null
	wait $wpid $bpid 2>/dev/null
	fusermount3 -u -z "$mp" 2>/dev/null
	in_mountinfo "$mp"
	ok $((!$?)) "round $round: fusermount3 -u -z cleared the dead mount"
	n=$(wc -l <"$list")
	note "round $round: $n fsynced files recorded so far ($((n - before)) after the kill was decided)"
	[ "$n" -gt 0 ] || fail "round $round: the writer recorded no fsynced file at all"

	# A copy of the index exactly as the crash left it.
	mkdir -p "$work/crash$round"
	cp -a "$REGION_DIR"/index.db* "$work/crash$round/" 2>/dev/null
	is "$(sqlite3 "$work/crash$round/index.db" 'PRAGMA integrity_check' 2>&1)" ok \
		"round $round: a copy of the crashed index.db passes integrity_check"

	if mount_region r "$mp"; then
		pass "round $round: mount after kill -9 (no stale lock)"
	else
		bail "round $round: mount after kill -9 failed"
	fi
	bad=0
	while read -r name s; do
		got=$(sha256sum <"$mp/$name" 2>"$work/e" | cut -d' ' -f1)
		if [ "$got" != "$s" ]; then
			diag "fsynced file $name: $(cat "$work/e") sha $got, expected $s"
			bad=$((bad + 1))
		fi
	done <"$list"
	ok $bad "round $round: all $(wc -l <"$list") fsynced files (all rounds) are intact ($bad bad)"
	check_big "$mp/big$round" >"$work/bigcheck" 2>&1
	ok $? "round $round: the unsynced big file reads without error and holds only written data or zeros" \
		"$(head "$work/bigcheck")"
	note "round $round: big file survived with $(stat -c %s "$mp/big$round") bytes: $(tail -n1 "$work/bigcheck")"
	echo "after crash $round" >"$mp/new$round"
	is "$(cat "$mp/new$round" 2>&1)" "after crash $round" "round $round: the mount works (new file)"
	ls -lR "$mp" >/dev/null 2>"$work/e"
	ok $? "round $round: ls -lR of the whole tree" "$(head "$work/e")"
	umount_region "$mp"
	ok $? "round $round: clean umount"
	is "$(sqlite3 "$REGION_DIR/index.db" 'PRAGMA integrity_check' 2>&1)" ok \
		"round $round: index.db integrity_check"
done

mount_region r "$mp" || bail "final mount failed"
bad=0
while read -r name s; do
	[ "$(sha256sum <"$mp/$name" 2>/dev/null | cut -d' ' -f1)" = "$s" ] || bad=$((bad + 1))
done <"$list"
ok $bad "after all rounds and a clean remount: all fsynced files intact"
umount_region "$mp"
ok $? "final umount"
done_testing
