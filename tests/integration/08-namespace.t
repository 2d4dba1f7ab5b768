#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Random namespace operations (tests/tools/treeops.c): create, O_EXCL,
# O_TRUNC, O_APPEND, unlink, mkdir, rmdir, rename (plain, NOREPLACE,
# EXCHANGE), symlink, truncate, chmod, utimensat, xattrs on a tiny namespace
# where names collide, applied to the mount and to plain disk: every call
# must return the same result and errno, and the trees must match every 250
# ops, after umount + mount, and after more ops on the remounted tree.
TEST_TIMEOUT=240
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
tool TREEOPS treeops
OPS=${TREEOPS_OPS:-8000}
SEED1=${TREEOPS_SEED1:-$((RANDOM * 32768 + RANDOM))}
SEED2=${TREEOPS_SEED2:-$((RANDOM * 32768 + RANDOM + 1))}

setup_device
ref=$work/ref
mp=$work/mnt
mkdir -p "$ref/t1" "$ref/t2" "$mp"

# The checker can fail: a stray file in one tree is reported.
mkdir -p "$work/c1" "$work/c2"
echo x >"$work/c1/stray"
"$TREEOPS" "$work/c1" "$work/c2" 10 1 >/dev/null 2>"$work/self.err"
st=$?
[ $st -eq 1 ] && grep -q 'stray' "$work/self.err"
ok $? "self-test: treeops reports a difference between two plain trees (exit $st)" \
	"$(head -3 "$work/self.err")"

create_region r
mount_region r "$mp" || bail "cannot mount region r"
mkdir "$mp/t1" "$mp/t2" || bail "mkdir in the mount failed"

note "seeds: $SEED1 $SEED2 (rerun with TREEOPS_SEED1=... TREEOPS_SEED2=...)"
"$TREEOPS" "$mp/t1" "$ref/t1" "$OPS" "$SEED1" >"$work/t1.out" 2>&1 &
p1=$!
"$TREEOPS" "$mp/t2" "$ref/t2" "$OPS" "$SEED2" >"$work/t2.out" 2>&1 &
p2=$!
wait $p1
st1=$?
wait $p2
st2=$?
ok $st1 "treeops seed $SEED1: $OPS ops agree" "$(tail -40 "$work/t1.out")"
ok $st2 "treeops seed $SEED2: $OPS ops agree (concurrently, in a sibling tree)" "$(tail -40 "$work/t2.out")"

remount r "$mp"
ok $? "umount + mount" || bail "remount failed"
"$TREEOPS" "$mp/t1" "$ref/t1" 0 0 >"$work/c.out" 2>&1
ok $? "after remount: tree t1 matches" "$(tail -5 "$work/c.out")"
"$TREEOPS" "$mp/t2" "$ref/t2" 0 0 >"$work/c.out" 2>&1
ok $? "after remount: tree t2 matches" "$(tail -5 "$work/c.out")"
diff -r --no-dereference "$ref" "$mp" >"$work/diff" 2>&1
ok $? "after remount: diff -r agrees" "$(head "$work/diff")"

"$TREEOPS" "$mp/t1" "$ref/t1" 2000 $((SEED1 + 1)) >"$work/t3.out" 2>&1
ok $? "2000 more ops on the remounted tree agree" "$(tail -40 "$work/t3.out")"
remount r "$mp"
ok $? "umount + mount again" || bail "remount failed"
"$TREEOPS" "$mp/t1" "$ref/t1" 0 0 >"$work/c.out" 2>&1
ok $? "after the second remount: tree t1 matches" "$(tail -5 "$work/c.out")"

umount_region "$mp"
ok $? "final umount"
done_testing
