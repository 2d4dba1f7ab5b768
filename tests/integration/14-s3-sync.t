#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 14-s3-sync.t: the two-device suite of 12-sync.t on a real, signature-checking
# S3 service (OpenStack Swift + s3api, scripts/s3-server.sh), reached through
# tests/tools/s3proxy.py: create, join, and two devices (separate
# SEALSYNC_HOMEs) mounted at once converge on create, edit, append, truncate,
# rename, delete, mkdir/rmdir, symlink, chmod and mtime.  Then, with faults
# injected at the proxy (errors, dropped connections, delays) on both devices'
# traffic, A writes a tree of a few hundred files and a 20 MiB file; once the
# faults stop, B converges to identical bytes.  Swift's object files and both
# homes hold no plaintext marker (names or contents).
#
# Skipped (only) when python3-swift or memcached is not installed.
TEST_TIMEOUT=240
. "$(dirname "$0")/lib.sh"
need_cmd jq
need_s3

t_start=$(date +%s)
setup_device # A
HA=$SEALSYNC_HOME
HB=$work/homeB
start_s3 || bail "scripts/s3-server.sh does not start"
start_proxy "$work/proxy.log" || bail "tests/tools/s3proxy.py does not start"
note "Swift at $S3_UPSTREAM, proxy at $PROXY_URL, bucket $S3_BUCKET"
STORE=s3://$S3_BUCKET/sync-test
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }

create_region docs --store "$STORE"
RID=$REGION_ID
pass "A: create a region on $STORE (through the proxy)"
ngen=$(proxy_stats '.by_method.PUT // 0')
[ "$ngen" -ge 1 ]
ok $? "create put the genesis through the proxy ($ngen PUT(s))"

# --- enroll B ---------------------------------------------------------------
run_ok "B: init" B init --kdf interactive --name devB
DEV_B=$(B id --json | jq -r .device_id)
run_ok "A: invite" A invite docs --json
CODE=$(jq -r .code <<<"$T_OUT")
B join docs "$STORE" "$RID" --code "$CODE" --timeout 90 >"$work/join.out" 2>&1 </dev/null &
jpid=$!
# The join request is an object under <region>/join/ on the store: wait until
# A's `requests` sees it.
for _ in $(seq 100); do
	A requests docs 2>/dev/null | grep -q "$DEV_B" && break
	sleep 0.3
done
run_ok "A: approve B" A approve docs "$DEV_B"
wait "$jpid"
ok $? "B: join over s3:// completes" "$(cat "$work/join.out")"

# --- both mounted -----------------------------------------------------------
ma=$work/a
mb=$work/b
mkdir -p "$ma" "$mb"
export SEALSYNC_HOME=$HA
mount_region docs "$ma" || bail "mount on A failed" "$MOUNT_OUT"
export SEALSYNC_HOME=$HB
mount_region docs "$mb" || bail "mount on B failed" "$MOUNT_OUT"
export SEALSYNC_HOME=$HA

# Predicates re-evaluated on every try (converge calls them by name).
# shellcheck disable=SC2317
same() { cmp -s "$1" "$2"; }
# shellcheck disable=SC2317
absent() { [ ! -e "$1" ] && [ ! -L "$1" ]; }
# shellcheck disable=SC2317
link_is() { [ "$(readlink "$1" 2>/dev/null)" = "$2" ]; }
# shellcheck disable=SC2317
mode_is() { [ "$(stat -c %a "$1" 2>/dev/null)" = "$2" ]; }
# shellcheck disable=SC2317
mtime_is() { [ "$(stat -c %Y "$1" 2>/dev/null)" = "$2" ]; }
# shellcheck disable=SC2317
# .sealsync-orphans: where apply puts placeholders for parents not yet known
# (fs/apply.c rule 3); it stays, empty, until the next mount.  Checked apart.
trees_equal() { diff -r --no-dereference -x .sealsync-orphans "$1" "$2"; }
orphans_empty() { [ ! -e "$1/.sealsync-orphans" ] || [ -z "$(ls -A "$1/.sealsync-orphans")" ]; }

MARK=SEALSYNCS3MARK$RANDOM$RANDOM
rand_file "$work/f1.ref" 200000
printf '%s in a file\n' "$MARK" >"$work/small.ref"
cp "$work/f1.ref" "$ma/f1"
cp "$work/small.ref" "$ma/note-$MARK.txt"
converge "A -> B: a new 200 KB file" 30 same "$mb/f1" "$work/f1.ref"
converge "A -> B: a file whose name carries the marker" 30 same "$mb/note-$MARK.txt" "$work/small.ref"

printf 'first\n' >"$ma/edit.txt"
converge "A -> B: a small file" 30 content_is "$mb/edit.txt" "first"
printf 'second version\n' >"$ma/edit.txt"
converge "A -> B: an edit (rewrite)" 30 content_is "$mb/edit.txt" "second version"

mkdir -p "$ma/dir/sub"
cp "$work/small.ref" "$ma/dir/sub/deep"
converge "A -> B: mkdir -p and a file in the new directories" 30 same "$mb/dir/sub/deep" "$work/small.ref"

printf 'appended by B\n' >>"$mb/f1"
cp "$work/f1.ref" "$work/f1b.ref"
printf 'appended by B\n' >>"$work/f1b.ref"
converge "B -> A: an append" 30 same "$ma/f1" "$work/f1b.ref"

truncate -s 70000 "$ma/f1"
head -c 70000 "$work/f1b.ref" >"$work/f1c.ref"
converge "A -> B: a truncate" 30 same "$mb/f1" "$work/f1c.ref"

printf 'Z' | dd of="$ma/f1" bs=1 seek=66000 conv=notrunc status=none
cp "$work/f1c.ref" "$work/f1d.ref"
printf 'Z' | dd of="$work/f1d.ref" bs=1 seek=66000 conv=notrunc status=none
converge "A -> B: a 1-byte edit in the middle" 30 same "$mb/f1" "$work/f1d.ref"

mv "$ma/f1" "$ma/dir/f1-renamed"
converge "A -> B: a rename into a directory" 30 same "$mb/dir/f1-renamed" "$work/f1d.ref"
converge "  ... the old name is gone on B" 30 absent "$mb/f1"

rm "$ma/dir/sub/deep"
converge "A -> B: a deletion" 30 absent "$mb/dir/sub/deep"
rmdir "$ma/dir/sub"
converge "A -> B: rmdir" 30 absent "$mb/dir/sub"

ln -s "dir/f1-renamed" "$ma/link"
converge "A -> B: a symlink" 30 link_is "$mb/link" "dir/f1-renamed"

chmod 640 "$ma/dir/f1-renamed"
converge "A -> B: chmod" 30 mode_is "$mb/dir/f1-renamed" 640

touch -d '2001-02-03 04:05:06.789' "$ma/note-$MARK.txt"
want=$(stat -c %Y "$ma/note-$MARK.txt")
converge "A -> B: mtime" 30 mtime_is "$mb/note-$MARK.txt" "$want"

mkdir "$mb/from-b"
printf 'B was here\n' >"$mb/from-b/x"
converge "B -> A: a new directory with a file" 30 content_is "$ma/from-b/x" "B was here"
trees_equal "$ma" "$mb" >"$work/diff.out" 2>&1
ok $? "A and B hold identical trees after the basic operations" "$(head -20 "$work/diff.out")"
t_basic=$(date +%s)

# --- faults: errors, dropped connections and delays on both devices' traffic --
proxy_reset
proxy_faults 'error_rate=0.2&drop_rate=0.1&delay_ms=100&seed=1' || bail "cannot set proxy faults"
ok $? "proxy faults on: 20% errors (503/500), 10% dropped connections, 100 ms delay"
t_faults=$(date +%s)
# A tree of 300 files in 10 directories, 0..6000 bytes each, names and
# contents carrying the marker, plus a 20 MiB incompressible file.
mkdir -p "$work/tree.ref"
for d in $(seq 0 9); do
	mkdir -p "$work/tree.ref/d$d-$MARK"
	for f in $(seq 0 29); do
		{
			printf '%s file %d/%d\n' "$MARK" "$d" "$f"
			head -c $(((d * 30 + f) * 20)) /dev/urandom
		} >"$work/tree.ref/d$d-$MARK/f$f-$MARK.txt"
	done
done
rand_file "$work/big.ref" $((20 * 1048576))
# In ten batches about a commit round apart: many uploads and pulls under faults.
mkdir "$ma/tree"
for d in $(seq 0 9); do
	cp -r "$work/tree.ref/d$d-$MARK" "$ma/tree/" || break
	sleep 1
done
ok $? "A: wrote 300 files in 10 batches under faults"
cp "$work/big.ref" "$ma/big"
ok $? "A: wrote a 20 MiB file under faults"
printf 'B under faults\n' >"$mb/from-b/y"
ok $? "B: wrote a file under faults"
# Let commits, uploads and pulls run under faults for a while; B may well
# converge already (noted, not required: backoff may delay it).
under=no
for _ in $(seq 60); do
	if same "$mb/big" "$work/big.ref" && trees_equal "$work/tree.ref" "$mb/tree" >/dev/null 2>&1; then
		under=yes
		break
	fi
	sleep 0.5
done
st=$(proxy_stats)
note "under faults for $(($(date +%s) - t_faults)) s (B converged under faults: $under):" \
	"$(jq -c '{requests, by_method, faults}' <<<"$st")"
nerr=$(jq .faults.errors <<<"$st")
ndrop=$(jq .faults.drops <<<"$st")
[ "$nerr" -ge 5 ] && [ "$ndrop" -ge 3 ]
ok $? "faults were injected into the sync traffic ($nerr errors, $ndrop drops)" "$st"
# Which requests were hit (one line per request in the proxy's log).
hit=$(grep -E 'fault=(error|drop)' "$work/proxy.log" | awk '{ print $2 }' | sort | uniq -c | tr -s ' \n' ' ')
note "faulted requests by method: $hit"
grep -Eq '^[0-9.]+ PUT .* fault=(error|drop)' "$work/proxy.log"
ok $? "uploads (PUT) were among the faulted requests"
grep -Eq '^[0-9.]+ GET .* fault=(error|drop)' "$work/proxy.log"
ok $? "downloads/listings (GET) were among the faulted requests"
proxy_faults || bail "cannot turn the proxy faults off"
pass "proxy faults off"
t_off=$(date +%s)

converge "B converges on the 20 MiB file after the faults (sha256)" 120 same "$mb/big" "$work/big.ref"
converge "B converges on the 300-file tree (diff -r)" 60 trees_equal "$work/tree.ref" "$mb/tree"
converge "A gets B's file written under faults" 30 content_is "$ma/from-b/y" "B under faults"
note "convergence after the faults stopped: $(($(date +%s) - t_off)) s"
trees_equal "$ma" "$mb" >"$work/diff.out" 2>&1
ok $? "A and B hold identical trees" "$(head -20 "$work/diff.out")"
is "$(sha "$mb/big")" "$(sha "$work/big.ref")" "B's 20 MiB file has the right sha256"
orphans_empty "$ma" && orphans_empty "$mb"
ok $? "no file is left under .sealsync-orphans on either device" \
	"$(find "$ma/.sealsync-orphans" "$mb/.sealsync-orphans" 2>&1 | head -20)"
conflicts=$(find "$ma" "$mb" -name '*conflict*' | wc -l)
is "$conflicts" 0 "no conflict copies (no concurrent edits were made)"

# --- no plaintext on the store ------------------------------------------------
# Let everything settle (both outboxes empty), then look at Swift's files.
converge "A's outbox is empty" 30 outbox_empty "$HA/regions/$RID"
converge "B's outbox is empty" 30 outbox_empty "$HB/regions/$RID"
ndata=$(find "$S3_DIR/srv" -name '*.data' | wc -l)
sdata=$(find "$S3_DIR/srv" -name '*.data' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
[ "$ndata" -ge 10 ] && [ "$sdata" -ge $((20 * 1048576)) ]
ok $? "Swift stores the objects on disk ($ndata .data files, $sdata bytes)"
grep -r -a -l "$MARK" "$S3_DIR/srv" "$HA" "$HB" >"$work/leaks" 2>/dev/null
is "$(wc -l <"$work/leaks")" 0 "no plaintext marker (names or contents) in Swift's storage or either home" \
	"$(head -20 "$work/leaks")"
grep -r -a -l "SEALSYNCS3MARK" "$work/proxy.log" >/dev/null 2>&1
ok $((!$?)) "no plaintext marker in the URLs the proxy saw"

# --- remount B over S3 -------------------------------------------------------
export SEALSYNC_HOME=$HB
umount_region "$mb"
ok $? "B: umount"
mount_region docs "$mb"
ok $? "B: mount again"
export SEALSYNC_HOME=$HA
cmp -s "$mb/big" "$work/big.ref"
ok $? "after B's remount the 20 MiB file is intact"
printf 'after remount\n' >"$ma/late"
converge "A -> B after B's remount: a new file" 30 content_is "$mb/late" "after remount"

export SEALSYNC_HOME=$HB
umount_region "$mb"
export SEALSYNC_HOME=$HA
umount_region "$ma"
ok $? "final umount"
st=$(proxy_stats)
note "proxy since the faults: $(jq -c '{requests, by_method, bytes_up, bytes_down}' <<<"$st")"
note "times: setup+basic $((t_basic - t_start)) s, faults $((t_off - t_faults)) s," \
	"total $(($(date +%s) - t_start)) s"
done_testing
