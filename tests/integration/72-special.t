#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 72-special.t: special files (doc/SYNC.md C6).  A FIFO, a UNIX socket and,
# as root, a character and a block device are created in a mount, keep their
# type, mode and device number locally, after a remount and on a second device
# synced through a file:// store (metadata only); rename and delete of each
# reach the other device; the mount is nodev (a device node does not open);
# tar of a tree holding them round-trips into the mount; a special file and a
# regular file created under one name on two devices are a create/create
# conflict (both survive, one renamed the same way on both).  Hostile special
# manifests are refused by the decoder: tests/unit/test_sync_codec.c.
TEST_TIMEOUT=300
. "$(dirname "$0")/lib.sh"
need_cmd jq
need_cmd python3
need_cmd tar

[ "$(id -u)" = 0 ] && ROOT=1 || ROOT=0

setup_device # A
HA=$SEALSYNC_HOME
HB=$work/homeB
# The store through a symlink, so it can be taken away from both devices (conflict case).
mkdir "$work/store.real"
ln -s store.real "$work/store"
STORE=file://$work/store
create_region docs --store "$STORE"
RID=$REGION_ID
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }
enroll_device devB B docs

ma=$work/a
mb=$work/b
mkdir -p "$ma" "$mb"
export SEALSYNC_HOME=$HB
mount_region docs "$mb" || bail "mount on B failed"
export SEALSYNC_HOME=$HA
mount_region docs "$ma" || bail "mount on A failed"

# sig PATH: type, permission bits and device number (major:minor, hex) of PATH.
sig() { stat -c '%F %a %t:%T' "$1" 2>/dev/null; }
sig_is() { [ "$(sig "$1")" = "$2" ]; }
absent() { [ ! -e "$1" ] && [ ! -L "$1" ]; }
# mksock PATH: a UNIX socket bound at PATH (the process exits, the node stays).
mksock() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$1"; }

# --- creation on A ---------------------------------------------------------------
mkfifo -m 0640 "$ma/fifo"
ok $? "mkfifo in the mount"
mksock "$ma/sock"
ok $? "a UNIX socket bound on a path in the mount"
chmod 0751 "$ma/sock"
WANT_FIFO="fifo 640 0:0"
WANT_SOCK="socket 751 0:0"
WANT_CHR="character special file 600 1:3"
WANT_BLK="block special file 660 7:2a"
is "$(sig "$ma/fifo")" "$WANT_FIFO" "A: the FIFO's type, mode, rdev"
is "$(sig "$ma/sock")" "$WANT_SOCK" "A: the socket's type, mode, rdev"
names="fifo sock"
if [ $ROOT = 1 ]; then
	mknod -m 0600 "$ma/chr" c 1 3
	ok $? "mknod c 1 3 (root)"
	mknod -m 0660 "$ma/blk" b 7 42
	ok $? "mknod b 7 42 (root)"
	is "$(sig "$ma/chr")" "$WANT_CHR" "A: the character device's type, mode, rdev"
	is "$(sig "$ma/blk")" "$WANT_BLK" "A: the block device's type, mode, rdev"
	names="$names chr blk"
	# nodev (libfuse's default): the node is shown, never opened as a device.
	like "$(findmnt -no OPTIONS "$ma")" 'nodev' "the mount is nodev"
	out=$(head -c1 "$ma/chr" 2>&1)
	rc=$?
	[ $rc -ne 0 ] && [[ $out == *"ermission denied"* ]]
	ok $? "opening the device node fails with EACCES (nodev)" "rc=$rc out=$out"
else
	skip "mknod c (needs root)"
	skip "mknod b (needs root)"
	skip "character device stat (needs root)"
	skip "block device stat (needs root)"
	skip "nodev mount (needs root for a device node)"
	skip "device open refused (needs root)"
fi
# The FIFO works as a pipe through the kernel, locally.
(echo "through the fifo" >"$ma/fifo") &
wpid=$!
got=$(timeout 20 cat "$ma/fifo")
wait "$wpid"
is "$got" "through the fifo" "the FIFO carries data between two local processes"

want_of() {
	case $1 in
	fifo*) echo "$WANT_FIFO" ;; sock*) echo "$WANT_SOCK" ;;
	chr*) echo "$WANT_CHR" ;; blk*) echo "$WANT_BLK" ;;
	esac
}

# --- on B, through the store ----------------------------------------------------
for n in $names; do
	converge "B shows $n as A made it" 30 sig_is "$mb/$n" "$(want_of "$n")"
done
nblocks=$(find "$work/store.real/$RID/p" -type f | wc -l)
note "packs on the store: $nblocks"

# --- remount A and B ---------------------------------------------------------------
remount docs "$ma"
ok $? "A: remount"
export SEALSYNC_HOME=$HB
remount docs "$mb"
ok $? "B: remount"
export SEALSYNC_HOME=$HA
for n in $names; do
	is "$(sig "$ma/$n")" "$(want_of "$n")" "A after remount: $n"
	is "$(sig "$mb/$n")" "$(want_of "$n")" "B after remount: $n"
done

# --- rename and delete -------------------------------------------------------------
mkdir "$ma/d"
for n in $names; do
	mv "$ma/$n" "$ma/d/$n-moved"
	ok $? "A: rename $n"
done
for n in $names; do
	converge "B: $n renamed" 30 sig_is "$mb/d/$n-moved" "$(want_of "$n")"
	ok "$(absent "$mb/$n" && echo 0 || echo 1)" "B: the old name of $n is gone"
done
# B renames back one of them, then deletes them all.
mv "$mb/d/fifo-moved" "$mb/fifo-back"
converge "A: B's rename of the FIFO" 30 sig_is "$ma/fifo-back" "$WANT_FIFO"
rm "$mb/fifo-back"
for n in $names; do
	[ "$n" = fifo ] || rm "$mb/d/$n-moved"
done
converge "A: B's delete of the FIFO" 30 absent "$ma/fifo-back"
for n in $names; do
	[ "$n" = fifo ] || converge "A: B's delete of $n" 30 absent "$ma/d/$n-moved"
done

# --- tar round trip into the mount ---------------------------------------------------
# tar skips sockets ("socket ignored"), so the tree holds the others and a file.
t=$work/tree
mkdir -p "$t/sub"
mkfifo -m 0604 "$t/sub/pipe"
echo "regular" >"$t/sub/file"
if [ $ROOT = 1 ]; then
	mknod -m 0640 "$t/null" c 1 3
	mknod -m 0600 "$t/loop" b 7 9
fi
listing() { (cd "$1" && find . -mindepth 1 -printf '%y %m %P\n' | sort && find . -mindepth 1 \( -type c -o -type b \) -exec stat -c '%n %t:%T' {} + | sort); }
tar -C "$t" -cf "$work/tree.tar" .
ok $? "tar of a tree with special files"
mkdir "$ma/untar"
tar -C "$ma/untar" -xpf "$work/tree.tar"
ok $? "untar into the mount"
is "$(listing "$ma/untar")" "$(listing "$t")" "the untarred tree matches the original (types, modes, rdev)"
tar -C "$ma/untar" -cf "$work/tree2.tar" .
ok $? "tar of the tree in the mount"
mkdir "$work/back"
tar -C "$work/back" -xpf "$work/tree2.tar"
is "$(listing "$work/back")" "$(listing "$t")" "tar out of the mount round-trips"
same_tree() { [ "$(listing "$mb/untar" 2>/dev/null)" = "$(listing "$t")" ]; }
converge "B has the untarred tree" 30 same_tree || diag "$(diff <(listing "$t") <(listing "$mb/untar"))"

# --- create/create conflict: a FIFO on A, a file on B, one name ------------------------
partition
mkfifo -m 0600 "$ma/clash"
echo "B's file" >"$mb/clash"
commit_offline A B
heal
clash_sig() { (cd "$1" && find . -maxdepth 1 -name 'clash*' -printf '%y %P\n' | sort); }
both_two() { [ "$(clash_sig "$ma" | wc -l)" = 2 ] && [ "$(clash_sig "$ma")" = "$(clash_sig "$mb")" ]; }
converge "the FIFO and the file under one name: both survive, the same on A and B" 60 both_two ||
	diag "A: $(clash_sig "$ma")" "B: $(clash_sig "$mb")"
note "$(clash_sig "$ma")"
nf=$(clash_sig "$ma" | grep -c '^p ')
nr=$(clash_sig "$ma" | grep -c '^f ')
is "$nf:$nr" "1:1" "one FIFO and one regular file"
ncopy=$(clash_sig "$ma" | grep -c 'clash (conflict from dev[AB] [0-9-]\{10\} [0-9a-f]\{6\})$')
is "$ncopy" 1 "one of them renamed 'clash (conflict from DEV DATE HASH)' (SYNC.md U3)"

# --- the store holds no content for them ------------------------------------------------
ok "$(grep -rqa 'through the fifo' "$work/store.real" && echo 1 || echo 0)" \
	"nothing that went through the FIFO reached the store"

export SEALSYNC_HOME=$HB
umount_region "$mb"
ok $? "B: umount"
export SEALSYNC_HOME=$HA
umount_region "$ma"
ok $? "A: umount"
done_testing
