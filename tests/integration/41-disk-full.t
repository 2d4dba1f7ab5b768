#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 41-disk-full.t: issue #11 case 5, doc/SYNC.md D3.  The device home (with
# the default file:// store inside it) on an 8 MiB tmpfs:
#  - writing until the disk is full gets ENOSPC, and the following fsync
#    returns ENOSPC (not EIO);
#  - a mkdir while the disk is (nearly) full either fails with ENOSPC or
#    survives a clean remount -- a completed mkdir is never lost;
#  - deleting files frees space locally, after which creating a file works;
#  - after a clean remount every completed change is there.
TEST_TIMEOUT=300
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd python3
[ "$(id -u)" -eq 0 ] || skip_all "needs root to mount a tmpfs"

setup_device
small=$work/small
mkdir -p "$small"
mount -t tmpfs -o size=8m tmpfs "$small" || skip_all "cannot mount a tmpfs"
cp -a "$SEALSYNC_HOME/." "$small/" || bail "cannot copy the device home"
export SEALSYNC_HOME=$small
create_region r
mp=$work/mnt
mkdir -p "$mp"
mount_region r "$mp" || bail "mount failed"
free_kb() { df -k --output=avail "$small" | tail -n1 | tr -d ' '; }

mkdir "$mp/before" && echo kept >"$mp/before/f"
ok $? "mkdir and a small file before the disk fills"
sync "$mp/before/f"

# fill FILE: writes 64 KiB chunks until a write fails, then fsyncs; prints
# "write=<errno name> fsync=<errno name or ok> bytes=<n>" ("open=<errno name>"
# if FILE cannot be created).
fill()
{
	python3 - "$1" <<'PY'
import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
except OSError as e:
    print("open=%s" % errno.errorcode.get(e.errno, str(e.errno)))
    sys.exit(0)
buf = os.urandom(65536)
n = 0
werr = "none"
while n < 64 << 20:
    try:
        n += os.write(fd, buf)
    except OSError as e:
        werr = errno.errorcode.get(e.errno, str(e.errno))
        break
try:
    os.fsync(fd)
    ferr = "ok"
except OSError as e:
    ferr = errno.errorcode.get(e.errno, str(e.errno))
os.close(fd)
print("write=%s fsync=%s bytes=%d" % (werr, ferr, n))
PY
}
out=$(fill "$mp/big")
note "filling: $out; $(free_kb) KiB free"
like "$out" "^write=ENOSPC " "writing until the disk is full gets ENOSPC"
like "$out" " fsync=ENOSPC " "  ... and the following fsync returns ENOSPC (not EIO)"

# A second file while full: its creation or its first write fails.
out=$(fill "$mp/big2")
like "$out" "^(open|write)=ENOSPC" "creating and writing a second file while full gets ENOSPC"

# mkdir while full: ENOSPC, or it must survive.
if mkdir "$mp/during" 2>"$work/mkdir.err"; then
	mkdir_ok=1
	note "mkdir while full succeeded"
else
	mkdir_ok=0
	like "$(cat "$work/mkdir.err")" "No space left" "mkdir while full fails with ENOSPC"
fi
sync "$mp" 2>/dev/null

# Deleting frees space locally.
before=$(free_kb)
rm -f "$mp/big" "$mp/big2"
ok $? "rm of the big files succeeds while the disk is full"
after=$before
for _ in $(seq 100); do
	after=$(free_kb)
	[ "$after" -gt $((before + 1024)) ] && break
	sleep 0.1
done
ok "$([ "$after" -gt $((before + 1024)) ]; echo $?)" \
	"deleting frees space locally ($before KiB -> $after KiB free)"
created=0
for _ in $(seq 100); do
	if echo "new file" >"$mp/after-delete" 2>"$work/create.err"; then
		created=1
		break
	fi
	sleep 0.1
done
is "$created" 1 "creating a file after the deletions works ($(cat "$work/create.err"))"
mkdir "$mp/after-dir"
ok $? "mkdir after the deletions works"

umount_region "$mp" || fail "clean umount"
mount_region r "$mp" || bail "remount failed"
is "$(cat "$mp/before/f" 2>&1)" kept "after a clean remount: the file from before"
if [ "$mkdir_ok" -eq 1 ]; then
	ok "$([ -d "$mp/during" ]; echo $?)" "  ... the mkdir that succeeded while full is there"
fi
is "$(cat "$mp/after-delete" 2>&1)" "new file" "  ... the file created after the deletions"
ok "$([ -d "$mp/after-dir" ]; echo $?)" "  ... the directory made after the deletions"
ok "$([ ! -e "$mp/big" ]; echo $?)" "  ... the deleted file is gone"
umount_region "$mp"
umount "$small" || umount -l "$small"
done_testing
