#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# POSIX behaviour of the mount, checked against reference copies on plain
# disk and again after umount + mount: data round trips at block-boundary
# sizes, sparse files over 4 GiB, truncate, append, directories, renames
# (incl. RENAME_NOREPLACE / RENAME_EXCHANGE), symlinks, modes, times, statfs,
# unlink of an open file, O_EXCL, xattrs, hard links, a 100k-entry directory,
# fsync.
TEST_TIMEOUT=420
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd jq setfattr getfattr
tool RENAMEAT2 renameat2
tool FSOPS fsops

setup_device
create_region r
ref=$work/ref
mp=$work/mnt
mkdir -p "$ref" "$mp"
mount_region r "$mp" || bail "cannot mount region r"
m=$mp

# ----------------------------------------------------------- sparse, > 4 GiB
sp=$m/sparse
du0=$(du -sk "$SEALSYNC_HOME" | cut -f1)
if truncate -s 5G "$sp" 2>"$work/tr.err"; then
	pass "truncate -s 5G (sparse)"
else
	fail "truncate -s 5G (sparse)" "$(cat "$work/tr.err")"
fi
off45=$((4608 * 1048576))
printf 'SPARSEDATA' | dd of="$sp" bs=1 seek="$off45" conv=notrunc status=none 2>"$work/dd.err"
ok $? "write 10 bytes at 4.5 GiB" "$(cat "$work/dd.err")"
printf 'EDGE' | dd of="$sp" bs=1 seek=$((4294967296 - 2)) conv=notrunc status=none 2>"$work/dd.err"
ok $? "write 4 bytes across the 4 GiB boundary" "$(cat "$work/dd.err")"
is "$(stat -c %s "$sp")" $((5 * 1073741824)) "size stays 5 GiB"
is "$(dd if="$sp" bs=1 skip="$off45" count=10 status=none 2>&1)" SPARSEDATA "read back at 4.5 GiB"
is "$(dd if="$sp" bs=1 skip=$((4294967296 - 2)) count=4 status=none 2>&1)" EDGE \
	"read back across 4 GiB (no 32-bit offset truncation)"
is "$(dd if="$sp" bs=1 skip=$((off45 - 3)) count=16 status=none | xxd -p)" \
	"00000053504152534544415441000000" "zeros right around the data"
zero_ok=0
for o in 0 1 2147483648 $((4294967296 + 4096)) $((off45 - 1048576)) $((5 * 1073741824 - 1048576)); do
	cnt=$(dd if="$sp" bs=1M skip="$o" iflag=skip_bytes count=1 status=none | tr -d '\0' | wc -c)
	[ "$cnt" = 0 ] || { diag "non-zero bytes in the MiB at $o: $cnt"; zero_ok=1; }
done
[ "$(dd if="$sp" bs=65534 skip=$((4294967296 + 2)) iflag=skip_bytes count=1 status=none |
	tr -d '\0' | wc -c)" = 0 ] || zero_ok=1
ok $zero_ok "sampled holes of the 5 GiB file read as zeros"
is "$(tail -c 5 "$sp" | xxd -p)" 0000000000 "the last bytes (at 5 GiB) are zeros"
umount_region "$mp" && mount_region r "$mp"
ok $? "umount + mount after writing the sparse file"
du1=$(du -sk "$SEALSYNC_HOME" | cut -f1)
[ $((du1 - du0)) -lt 10240 ]
ok $? "a 5 GiB sparse file costs < 10 MiB under SEALSYNC_HOME (grew $((du1 - du0)) KiB)"
# Truncate to 1 PiB costs nothing either, and reads zeros (DESIGN-NOTES: holes).
if truncate -s 1P "$m/huge" 2>"$work/tr.err"; then
	is "$(stat -c %s "$m/huge")" 1125899906842624 "truncate -s 1P: size"
	is "$(dd if="$m/huge" bs=4096 skip=$((1125899906842624 / 4096 - 1)) count=1 status=none |
		tr -d '\0' | wc -c)" 0 "truncate -s 1P: the last block reads zeros"
else
	fail "truncate -s 1P" "$(cat "$work/tr.err")"
fi
sync -f "$m"
du2=$(du -sk "$SEALSYNC_HOME" | cut -f1)
[ $((du2 - du1)) -lt 10240 ]
ok $? "the 1 PiB sparse file costs nothing (grew $((du2 - du1)) KiB)"
rm -f "$m/huge"

# ----------------------------------------------------------- data round trip
sizes="0 1 4095 4096 65535 65536 65537 $((1048576 + 3)) $((100 * 1048576))"
for s in $sizes; do
	rand_file "$ref/data-$s" "$s"
done
for s in $sizes; do
	if ! cp "$ref/data-$s" "$m/data-$s" 2>"$work/cp.err"; then
		fail "cp of a $s-byte file into the mount" "$(cat "$work/cp.err")"
		continue
	fi
	is "$(stat -c %s "$m/data-$s")" "$s" "size of the $s-byte file"
	cmp "$ref/data-$s" "$m/data-$s" >"$work/cmp.out" 2>&1
	ok $? "content of the $s-byte file" "$(cat "$work/cmp.out")"
done

# Overwrites in the middle of existing blocks and across boundaries.
cp "$ref/data-$((1048576 + 3))" "$ref/patched"
cp "$ref/patched" "$m/patched"
for off in 0 1 65535 65536 131071 500000 1048575 1048576 1048578; do
	head -c 3000 /dev/urandom >"$work/patch"
	dd if="$work/patch" of="$ref/patched" bs=1 seek="$off" conv=notrunc status=none
	dd if="$work/patch" of="$m/patched" bs=1 seek="$off" conv=notrunc status=none 2>"$work/dd.err" ||
		diag "dd at $off: $(cat "$work/dd.err")"
done
cmp "$ref/patched" "$m/patched" >"$work/cmp.out" 2>&1
ok $? "3000-byte overwrites at block boundaries (incl. extending past EOF)" "$(cat "$work/cmp.out")"

# ----------------------------------------------------------- truncate
rand_file "$ref/trunc" 200000
cp "$ref/trunc" "$m/trunc"
for sz in 70000 65536 65535 1 0 131073 300000 100 400000; do
	truncate -s "$sz" "$ref/trunc"
	if truncate -s "$sz" "$m/trunc" 2>"$work/tr.err"; then
		cmp "$ref/trunc" "$m/trunc" >"$work/cmp.out" 2>&1
		ok $? "truncate -s $sz (down/up: extensions read as zeros, never old bytes)" \
			"$(cat "$work/cmp.out")"
	else
		fail "truncate -s $sz" "$(cat "$work/tr.err")"
	fi
done
# Rewrite in place with O_TRUNC (shell >, editors, nano): the old tail must
# be gone, now and after remount.
for f in otrunc otrunc2; do
	rand_file "$ref/$f" 150000
	cp "$ref/$f" "$m/$f"
done
printf 'short\n' >"$ref/otrunc"
printf 'short\n' >"$m/otrunc"
cmp "$ref/otrunc" "$m/otrunc" >"$work/cmp.out" 2>&1
ok $? "O_TRUNC rewrite of a 150000-byte file with 6 bytes" "$(cat "$work/cmp.out")"
head -c 70000 /dev/urandom >"$work/chunk"
cp "$work/chunk" "$ref/otrunc2"
cp "$work/chunk" "$m/otrunc2"
cmp "$ref/otrunc2" "$m/otrunc2" >"$work/cmp.out" 2>&1
ok $? "cp over a longer existing file (O_TRUNC)" "$(cat "$work/cmp.out")"
# Shrink into the middle of a block, write past the end, read the gap.
rand_file "$ref/gap" 150000
cp "$ref/gap" "$m/gap"
truncate -s 70000 "$ref/gap" "$m/gap"
printf 'tail' | dd of="$ref/gap" bs=1 seek=140000 conv=notrunc status=none
printf 'tail' | dd of="$m/gap" bs=1 seek=140000 conv=notrunc status=none
cmp "$ref/gap" "$m/gap" >"$work/cmp.out" 2>&1
ok $? "shrink then write past EOF: the gap reads as zeros" "$(cat "$work/cmp.out")"
# ftruncate on an open descriptor (truncate(1) uses open+ftruncate).
exec 5<>"$m/gap"
truncate -s 10 "$m/gap"
[ "$(stat -c %s "$m/gap")" = 10 ]
ok $? "ftruncate while another descriptor is open"
exec 5>&-

# ----------------------------------------------------------- append
: >"$ref/app"
: >"$m/app"
for i in $(seq 50); do
	head -c $((i * 977)) /dev/urandom >"$work/chunk"
	cat "$work/chunk" >>"$ref/app"
	cat "$work/chunk" >>"$m/app"
done
cmp "$ref/app" "$m/app" >"$work/cmp.out" 2>&1
ok $? "50 appends with O_APPEND (>>)" "$(cat "$work/cmp.out")"
# Two processes appending at once: O_APPEND writes never overwrite each other.
: >"$m/app3"
for w in 1 2; do
	(
		exec 3>>"$m/app3"
		for i in $(seq 500); do
			printf 'writer %d line %04d %s\n' "$w" "$i" "$(printf 'x%.0s' $(seq $((i % 50))))" >&3
		done
	) &
done
wait
is "$(wc -l <"$m/app3")" 1000 "two concurrent O_APPEND writers: 1000 lines"
is "$(grep -cE '^writer [12] line [0-9]{4} x*$' "$m/app3")" 1000 "  ... none of them torn"
is "$(sort -u "$m/app3" | wc -l)" 1000 "  ... all distinct"
# O_APPEND ignores the offset: append through a descriptor opened earlier.
printf 'abc' >"$m/app2"
exec 6>>"$m/app2"
printf 'def' >>"$m/app2"
printf 'ghi' >&6
exec 6>&-
is "$(cat "$m/app2")" abcdefghi "O_APPEND descriptors always write at the current end"

# ----------------------------------------------------------- directories
mkdir "$m/d1" 2>"$work/e"
ok $? "mkdir" "$(cat "$work/e")"
mkdir -p "$m/d1/a/b/c" 2>"$work/e"
ok $? "mkdir -p nested" "$(cat "$work/e")"
echo x >"$m/d1/a/b/c/f"
is "$(cat "$m/d1/a/b/c/f")" x "file in a nested directory"
mkdir "$m/d1" 2>"$work/e"
st=$?
[ $st -ne 0 ] && grep -q 'File exists' "$work/e"
ok $? "mkdir of an existing name fails with EEXIST" "$(cat "$work/e")"
rmdir "$m/d1/a" 2>"$work/e"
st=$?
[ $st -ne 0 ] && grep -q 'Directory not empty' "$work/e"
ok $? "rmdir of a non-empty directory fails with ENOTEMPTY" "$(cat "$work/e")"
[ -f "$m/d1/a/b/c/f" ]
ok $? "  ... and leaves it intact"
mkdir "$m/d1/empty"
rmdir "$m/d1/empty" 2>"$work/e"
ok $? "rmdir of an empty directory" "$(cat "$work/e")"
[ ! -e "$m/d1/empty" ]
ok $? "  ... it is gone"
nl=$(stat -c %h "$m/d1/a")
[ "$nl" = 3 ] || [ "$nl" = 1 ]
ok $? "st_nlink of a directory with one subdirectory is 3 (or 1, 'unknown'): $nl"
rm -f "$m/d1/a/b/c/f" && rmdir "$m/d1/a/b/c" 2>"$work/e"
ok $? "rmdir after emptying" "$(cat "$work/e")"
is "$(ls -A "$m/d1/a/b")" "" "readdir of an empty directory"
rm "$m/d1" 2>/dev/null
[ $? -ne 0 ] && [ -d "$m/d1" ]
ok $? "unlink of a directory fails"
rmdir "$m/data-0" 2>"$work/e"
grep -q 'Not a directory' "$work/e"
ok $? "rmdir of a file fails with ENOTDIR" "$(cat "$work/e")"

n255=$(printf 'n%.0s' $(seq 255))
if echo long 2>"$work/e" >"$m/$n255"; then
	pass "a 255-byte name works"
else
	fail "a 255-byte name works" "$(cat "$work/e")"
fi
is "$(cat "$m/$n255" 2>&1)" long "  ... and reads back"
(echo toolong >"$m/${n255}x") 2>"$work/e"
grep -q 'File name too long' "$work/e"
ok $? "a 256-byte name fails with ENAMETOOLONG" "$(cat "$work/e")"
echo "name with spaces, ünïcödé and \$pecial 'chars'" >"$m/a b ünï \$x 'q'"
is "$(cat "$m/a b ünï \$x 'q'" 2>&1)" "name with spaces, ünïcödé and \$pecial 'chars'" \
	"names with spaces, UTF-8 and shell metacharacters"

# ----------------------------------------------------------- rename
echo old >"$m/ra"
echo new >"$m/rb"
mv "$m/rb" "$m/ra" 2>"$work/e"
ok $? "rename over an existing file" "$(cat "$work/e")"
is "$(cat "$m/ra")" new "  ... target has the source's content"
[ ! -e "$m/rb" ]
ok $? "  ... source name is gone"
mkdir -p "$m/rd1/sub" "$m/rd2"
echo inner >"$m/rd1/sub/f"
mv -T "$m/rd1" "$m/rd2" 2>"$work/e"
ok $? "mv -T directory over an empty directory" "$(cat "$work/e")"
is "$(cat "$m/rd2/sub/f" 2>&1)" inner "  ... contents follow"
[ ! -e "$m/rd1" ]
ok $? "  ... old name gone"
mkdir -p "$m/rd3"
echo z >"$m/rd3/z"
mv -T "$m/rd2" "$m/rd3" 2>"$work/e"
st=$?
[ $st -ne 0 ] && grep -qE 'not empty|exists' "$work/e"
ok $? "mv -T directory over a non-empty directory fails (ENOTEMPTY)" "$(cat "$work/e")"
mv "$m/rd2" "$m/d1/moved" 2>"$work/e"
ok $? "rename a directory into another directory" "$(cat "$work/e")"
is "$(cat "$m/d1/moved/sub/f" 2>&1)" inner "  ... contents follow"
"$RENAMEAT2" none "$m/d1" "$m/d1/moved/inside" 2>"$work/e"
st=$?
[ $st -ne 0 ] && grep -q 'Invalid argument' "$work/e"
ok $? "rename a directory into its own subdirectory fails (EINVAL)" "$(cat "$work/e")"
echo f >"$m/file-over-dir"
mkdir "$m/dir-target"
"$RENAMEAT2" none "$m/file-over-dir" "$m/dir-target" 2>"$work/e"
[ $? -ne 0 ] && [ -d "$m/dir-target" ] && grep -q 'Is a directory' "$work/e"
ok $? "rename a file over a directory fails (EISDIR)" "$(cat "$work/e")"
mkdir "$m/dir-src"
"$RENAMEAT2" none "$m/dir-src" "$m/file-over-dir" 2>"$work/e"
[ $? -ne 0 ] && [ -f "$m/file-over-dir" ] && grep -q 'Not a directory' "$work/e"
ok $? "rename a directory over a file fails (ENOTDIR)" "$(cat "$work/e")"
rmdir "$m/dir-src"
rm -f "$m/file-over-dir"
rmdir "$m/dir-target"

echo A >"$m/nra"
echo B >"$m/nrb"
"$RENAMEAT2" noreplace "$m/nra" "$m/nrb" 2>"$work/e"
st=$?
[ $st -ne 0 ] && grep -q 'File exists' "$work/e"
ok $? "RENAME_NOREPLACE onto an existing name fails with EEXIST" "$(cat "$work/e")"
is "$(cat "$m/nra")$(cat "$m/nrb")" AB "  ... both files unchanged"
"$RENAMEAT2" noreplace "$m/nra" "$m/nrc" 2>"$work/e"
ok $? "RENAME_NOREPLACE onto a free name works" "$(cat "$work/e")"
is "$(cat "$m/nrc" 2>&1)" A "  ... content follows"
"$RENAMEAT2" exchange "$m/nrc" "$m/nrb" 2>"$work/e"
ok $? "RENAME_EXCHANGE of two files" "$(cat "$work/e")"
is "$(cat "$m/nrc" 2>&1)$(cat "$m/nrb" 2>&1)" BA "  ... contents swapped"
mkdir -p "$m/xd"
echo indir >"$m/xd/x"
"$RENAMEAT2" exchange "$m/nrc" "$m/xd" 2>"$work/e"
ok $? "RENAME_EXCHANGE of a file and a directory" "$(cat "$work/e")"
[ -d "$m/nrc" ] && [ -f "$m/xd" ] && [ "$(cat "$m/nrc/x" 2>&1)" = indir ]
ok $? "  ... swapped"
"$RENAMEAT2" exchange "$m/nrb" "$m/nope" 2>"$work/e"
st=$?
[ $st -ne 0 ] && grep -q 'No such file' "$work/e"
ok $? "RENAME_EXCHANGE with a missing target fails with ENOENT" "$(cat "$work/e")"

# ----------------------------------------------------------- symlinks
ln -s data-1 "$m/link1" 2>"$work/e"
ok $? "symlink" "$(cat "$work/e")"
is "$(readlink "$m/link1")" data-1 "readlink"
is "$(stat -c %F "$m/link1")" "symbolic link" "lstat says symbolic link"
cmp "$m/link1" "$ref/data-1" >/dev/null 2>&1
ok $? "reading through the symlink"
longt=$(printf 'segment%03d/' $(seq 300))
longt=${longt:0:3000}
ln -s "$longt" "$m/longlink" 2>"$work/e"
ok $? "symlink with a 3000-byte target" "$(cat "$work/e")"
is "$(readlink "$m/longlink")" "$longt" "  ... readlink returns it intact"
ln -s "/nonexistent/dangling" "$m/dangling"
is "$(readlink "$m/dangling")" /nonexistent/dangling "dangling symlink"
ln -s d1/moved "$m/dirlink"
is "$(cat "$m/dirlink/sub/f" 2>&1)" inner "path lookup through a symlink to a directory"

# ----------------------------------------------------------- modes, times
echo m >"$m/modes"
chmod 0640 "$m/modes"
is "$(stat -c %a "$m/modes")" 640 "chmod 0640"
chmod 0755 "$m/modes"
is "$(stat -c %a "$m/modes")" 755 "chmod 0755"
mkdir "$m/mdir" && chmod 0711 "$m/mdir"
is "$(stat -c %a "$m/mdir")" 711 "chmod of a directory"
chmod 04755 "$m/modes" 2>/dev/null
chmod 0600 "$m/modes"
is "$(stat -c %a "$m/modes")" 600 "chmod back to 0600"
touch -m -d '2001-02-03 04:05:06.123456789 UTC' "$m/modes" 2>"$work/e"
ok $? "touch -m -d (utimensat)" "$(cat "$work/e")"
is "$(stat -c %Y "$m/modes")" 981173106 "  ... mtime seconds"
is "$(stat -c %y "$m/modes" | sed 's/.*\.\([0-9]*\).*/\1/')" 123456789 "  ... mtime nanoseconds"
touch -a -d '1999-12-31 23:59:59 UTC' "$m/modes"
is "$(stat -c %X "$m/modes")" 946684799 "touch -a -d: atime"
touch -d '2030-01-01 00:00:00 UTC' "$m/mdir"
is "$(stat -c %Y "$m/mdir")" 1893456000 "touch -d on a directory"
before_m=$(stat -c %Y "$m/data-1")
clock_past() { [ "$(date +%s)" -gt "$1" ]; }
wait_for "the clock's second to pass the file's mtime $before_m" 10 clock_past "$before_m"
echo more >>"$m/data-1"
cat "$ref/data-1" >"$work/d1" && echo more >>"$work/d1" && cp "$work/d1" "$ref/data-1"
after_m=$(stat -c %Y "$m/data-1")
[ "$after_m" -gt "$before_m" ]
ok $? "writing updates mtime ($before_m -> $after_m)"
t0=$(stat -c %Y "$m/mdir")
touch "$m/mdir/newfile"
[ "$(stat -c %Y "$m/mdir")" -ne "$t0" ]
ok $? "creating an entry updates the directory's mtime"

chown 1234:5678 "$m/modes" 2>"$work/e"
ok $? "chown (as root; doc/DESIGN.md lists chown as supported)" "$(cat "$work/e")"
is "$(stat -c %u:%g "$m/modes")" 1234:5678 "  ... owner and group"

# ----------------------------------------------------- documented refusals
# doc/DESIGN.md "POSIX coverage": special files are created (metadata only,
# doc/SYNC.md C6; synced in 72-special.t), fallocate -> EOPNOTSUPP
# (posix_fallocate falls back to writing), non-user xattrs -> EOPNOTSUPP.
mkfifo "$m/fifo" 2>"$work/e"
st=$?
[ $st -eq 0 ] && [ -p "$m/fifo" ]
ok $? "mkfifo makes a FIFO" "exit $st: $(cat "$work/e")"
mknod "$m/cdev" c 1 3 2>"$work/e"
st=$?
if [ "$(id -u)" = 0 ]; then
	[ $st -eq 0 ] && [ "$(stat -c '%F %t:%T' "$m/cdev")" = "character special file 1:3" ]
	ok $? "mknod of a device (root) makes it, rdev 1:3" "exit $st: $(cat "$work/e")"
else
	[ $st -ne 0 ] && grep -q 'Operation not permitted' "$work/e" && [ ! -e "$m/cdev" ]
	ok $? "mknod of a device without CAP_MKNOD fails with EPERM" "exit $st: $(cat "$work/e")"
fi
echo f >"$m/falloc"
fallocate -l 1M "$m/falloc" 2>"$work/e"
st=$?
[ $st -ne 0 ] && grep -q 'not supported' "$work/e" && [ "$(cat "$m/falloc")" = f ]
ok $? "fallocate fails with EOPNOTSUPP, file untouched" "exit $st: $(cat "$work/e")"
fallocate -x -l 300000 "$m/falloc" 2>"$work/e"
ok $? "posix_fallocate (fallocate -x) works through glibc's fallback" "$(cat "$work/e")"
is "$(stat -c %s "$m/falloc")" 300000 "  ... size 300000"
is "$(head -c 2 "$m/falloc" | xxd -p)$(tail -c +3 "$m/falloc" | tr -d '\0' | wc -c)" 660a0 \
	"  ... old bytes kept, the rest zeros"
setfattr -n trusted.sealsync -v x "$m/falloc" 2>"$work/e"
st=$?
[ $st -ne 0 ] && grep -q 'not supported' "$work/e"
ok $? "trusted.* xattr fails with EOPNOTSUPP" "exit $st: $(cat "$work/e")"

# ----------------------------------------------------- mmap, copy_file_range
rand_file "$ref/mm" 200000
cp "$ref/mm" "$m/mm"
for o in 0 4095 65530 131072 199990; do
	"$FSOPS" mmapwrite "$m/mm" "$o" "MMAP$o" 2>"$work/e" || diag "mmapwrite at $o: $(cat "$work/e")"
	printf 'MMAP%s' "$o" | dd of="$ref/mm" bs=1 seek="$o" conv=notrunc status=none
done
cmp "$ref/mm" "$m/mm" >"$work/cmp.out" 2>&1
ok $? "writes through MAP_SHARED mappings (no msync) read back" "$(cat "$work/cmp.out")"
cp "$ref/data-$((1048576 + 3))" "$m/cfr-src" 2>/dev/null || rand_file "$m/cfr-src" 3000000
cp "$m/cfr-src" "$m/cfr-dst" 2>"$work/e"
ok $? "cp within the mount (copy_file_range)" "$(cat "$work/e")"
cmp "$m/cfr-src" "$m/cfr-dst" >"$work/cmp.out" 2>&1
ok $? "  ... identical" "$(cat "$work/cmp.out")"

# ----------------------------------------------------------- statfs
df -P "$m" >"$work/df" 2>&1
ok $? "df on the mount point" "$(cat "$work/df")"
blocks=$(awk 'NR == 2 { print $2 }' "$work/df")
[ -n "$blocks" ] && [ "$blocks" -gt 0 ] 2>/dev/null
ok $? "  ... reports a non-zero size ($blocks KiB blocks)"
stat -f "$m" >/dev/null 2>&1
ok $? "stat -f (statfs)"
is "$(stat -f -c %l "$m")" 255 "statfs: max name length 255"

# ----------------------------------------------------------- unlink open file
rand_file "$ref/openfile" 200000
cp "$ref/openfile" "$m/openfile"
(
	exec 3<"$m/openfile"
	rm "$m/openfile" || exit 11
	[ ! -e "$m/openfile" ] || exit 12
	cmp - "$ref/openfile" <&3 || exit 13
	exit 0
) 2>"$work/e"
st=$?
ok $st "unlink of an open file: the name goes, the descriptor still reads it all" \
	"exit $st (11 rm failed, 12 name still there, 13 content differs)" "$(cat "$work/e")"
find "$m" -maxdepth 1 -name openfile | grep -q .
ok $((!$?)) "  ... not listed any more"
echo content >"$m/unl"
"$FSOPS" unlinked "$m/unl" 2>"$work/e"
ok $? "write + read + fstat (nlink 0) through a descriptor of an unlinked file" "$(cat "$work/e")"
echo reuse >"$m/unl"
is "$(cat "$m/unl")" reuse "the name can be reused"

# ----------------------------------------------------------- O_EXCL
echo exists >"$m/excl"
"$FSOPS" excl "$m/excl" 2>"$work/e"
st=$?
[ $st -ne 0 ] && grep -q 'File exists' "$work/e"
ok $? "O_CREAT|O_EXCL on an existing file fails with EEXIST" "$(cat "$work/e")"
is "$(cat "$m/excl")" exists "  ... file untouched"
"$FSOPS" excl "$m/excl-new" 2>"$work/e"
ok $? "O_CREAT|O_EXCL on a new name works" "$(cat "$work/e")"
(set -C; echo x >"$m/excl") 2>/dev/null
[ $? -ne 0 ] && [ "$(cat "$m/excl")" = exists ]
ok $? "noclobber (set -C) refuses to overwrite"
(set -C; echo y >"$m/excl-new2") 2>"$work/e"
ok $? "noclobber creates a new file" "$(cat "$work/e")"

# ----------------------------------------------------------- xattrs
echo x >"$m/xa"
setfattr -n user.color -v blue "$m/xa" 2>"$work/e"
ok $? "setfattr user.color" "$(cat "$work/e")"
is "$(getfattr --absolute-names -n user.color --only-values "$m/xa" 2>&1)" blue "getfattr user.color"
head -c 3000 /dev/urandom | xxd -p | tr -d '\n' >"$work/bigval"
setfattr -n user.big -v "$(cat "$work/bigval")" "$m/xa" 2>"$work/e"
ok $? "setfattr with a 6000-byte value" "$(cat "$work/e")"
is "$(getfattr --absolute-names -n user.big --only-values "$m/xa" 2>&1)" "$(cat "$work/bigval")" "  ... read back"
setfattr -n user.bin -v 0x00ff00fe "$m/xa" 2>"$work/e"
is "$(getfattr --absolute-names -n user.bin -e hex --only-values "$m/xa" 2>/dev/null | xxd -p)" 00ff00fe \
	"binary xattr value (with NUL bytes)"
setfattr -n user.color -v red "$m/xa"
is "$(getfattr --absolute-names -n user.color --only-values "$m/xa" 2>&1)" red "xattr replace"
is "$(getfattr --absolute-names -d -m '^user\.' "$m/xa" 2>/dev/null | grep -c '^user\.')" 3 "listxattr shows 3 user xattrs"
setfattr -x user.big "$m/xa" 2>"$work/e"
ok $? "removexattr" "$(cat "$work/e")"
getfattr --absolute-names -n user.big "$m/xa" >/dev/null 2>"$work/e"
st=$?
[ $st -ne 0 ] && grep -q 'No such attribute' "$work/e"
ok $? "  ... gone (ENODATA)" "$(cat "$work/e")"
mkdir -p "$m/xdir"
setfattr -n user.dir -v yes "$m/xdir"
is "$(getfattr --absolute-names -n user.dir --only-values "$m/xdir" 2>&1)" yes "xattr on a directory"

# ----------------------------------------------------------- hard links
echo h >"$m/hl"
ln "$m/hl" "$m/hl2" 2>"$work/e"
st=$?
[ $st -ne 0 ] && grep -q 'Operation not permitted' "$work/e"
ok $? "hard link fails with EPERM ('Operation not permitted')" "exit $st" "$(cat "$work/e")"
[ ! -e "$m/hl2" ]
ok $? "  ... no second name appears"

# ----------------------------------------------------------- fsync
dd if=/dev/urandom of="$ref/fs1" bs=64k count=5 status=none
dd if="$ref/fs1" of="$m/fs1" bs=64k conv=fsync status=none 2>"$work/e"
ok $? "dd conv=fsync" "$(cat "$work/e")"
dd if="$ref/fs1" of="$m/fs2" bs=64k conv=fdatasync status=none 2>"$work/e"
ok $? "dd conv=fdatasync" "$(cat "$work/e")"
"$FSOPS" fsync "$m/fs1" 2>"$work/e"
ok $? "fsync(2) of a file" "$(cat "$work/e")"
"$FSOPS" fdatasync "$m/fs2" 2>"$work/e"
ok $? "fdatasync(2) of a file" "$(cat "$work/e")"
sync "$m/d1" 2>"$work/e"
ok $? "fsync(2) of a directory (sync DIR)" "$(cat "$work/e")"
sync -f "$m" 2>"$work/e"
ok $? "syncfs (sync -f)" "$(cat "$work/e")"
cmp "$ref/fs1" "$m/fs1" >/dev/null 2>&1 && cmp "$ref/fs1" "$m/fs2" >/dev/null 2>&1
ok $? "fsynced files read back"

# ----------------------------------------------------------- 100k entries
mkdir "$m/big"
t0=$(date +%s)
"$FSOPS" mkfiles "$m/big" 100000 2>"$work/e"
ok $? "create 100000 files in one directory" "$(cat "$work/e")"
t1=$(date +%s)
note "100000 creates took $((t1 - t0)) s"
is "$(ls "$m/big" | wc -l)" 100000 "ls | wc -l = 100000"
is "$(find "$m/big" -type f | wc -l)" 100000 "find sees 100000 files"
[ -f "$m/big/f0054321" ] && [ ! -e "$m/big/f0154321" ]
ok $? "lookup of one name (and of a missing one)"
echo needle >"$m/big/f0077777"
is "$(cat "$m/big/f0077777")" needle "write and read one of them"
t2=$(date +%s)
note "listing and lookups took $((t2 - t1)) s"

# ----------------------------------------------------------- rm -rf
# Deleting while reading the directory (readdir offsets must survive unlinks).
mkdir "$m/rmrf"
"$FSOPS" mkfiles "$m/rmrf" 5000 2>"$work/e"
mkdir -p "$m/rmrf/sub/deeper" && echo x >"$m/rmrf/sub/deeper/f"
rm -rf "$m/rmrf" 2>"$work/e"
ok $? "rm -rf of a directory with 5000 files and a subtree" "$(head -5 "$work/e")"
[ ! -e "$m/rmrf" ]
ok $? "  ... it is gone"

# ----------------------------------------------------------- after remount
if remount r "$mp"; then
	pass "umount + mount"
else
	bail "umount + mount failed"
fi
bad=0
for s in $sizes; do
	cmp "$ref/data-$s" "$m/data-$s" >"$work/cmp.out" 2>&1 || { diag "$(cat "$work/cmp.out")"; bad=1; }
done
ok $bad "after remount: all data files match their reference copies"
for f in patched trunc gap app openfile fs1 otrunc otrunc2 mm; do
	[ -e "$ref/$f" ] || continue
	[ "$f" = openfile ] && continue
	[ "$f" = gap ] && truncate -s 10 "$ref/gap"
	cmp "$ref/$f" "$m/$f" >"$work/cmp.out" 2>&1
	ok $? "after remount: $f matches" "$(cat "$work/cmp.out")"
done
is "$(cat "$m/app2")" abcdefghi "after remount: append file"
is "$(grep -cE '^writer [12] line [0-9]{4} x*$' "$m/app3")" 1000 "after remount: concurrent appends"
is "$(stat -c %s "$sp")" $((5 * 1073741824)) "after remount: sparse file size"
is "$(dd if="$sp" bs=1 skip="$off45" count=10 status=none 2>&1)" SPARSEDATA "after remount: data at 4.5 GiB"
is "$(dd if="$sp" bs=1 skip=$((4294967296 - 2)) count=4 status=none 2>&1)" EDGE "after remount: data at 4 GiB"
is "$(dd if="$sp" bs=1M skip=3 count=1 status=none | tr -d '\0' | wc -c)" 0 "after remount: holes read zeros"
is "$(readlink "$m/link1")" data-1 "after remount: symlink"
is "$(readlink "$m/longlink")" "$longt" "after remount: long symlink"
is "$(cat "$m/dirlink/sub/f" 2>&1)" inner "after remount: renamed directories"
is "$(cat "$m/nrb" 2>&1)" A "after remount: RENAME_EXCHANGE result"
is "$(cat "$m/nrc/x" 2>&1)" indir "after remount: exchanged directory"
is "$(cat "$m/ra" 2>&1)" new "after remount: rename over"
[ ! -e "$m/rb" ] && [ ! -e "$m/rd1" ] && [ ! -e "$m/hl2" ] && [ ! -e "$m/openfile" ] && [ ! -e "$m/rmrf" ]
ok $? "after remount: removed names stay removed"
is "$(stat -c %a "$m/modes")" 600 "after remount: mode"
is "$(stat -c %a "$m/mdir")" 711 "after remount: directory mode"
is "$(stat -c %u:%g "$m/modes")" 1234:5678 "after remount: owner"
is "$(stat -c %Y "$m/modes")" 981173106 "after remount: mtime"
is "$(stat -c %y "$m/modes" | sed 's/.*\.\([0-9]*\).*/\1/')" 123456789 "after remount: mtime ns"
is "$(getfattr --absolute-names -n user.color --only-values "$m/xa" 2>&1)" red "after remount: xattr"
is "$(getfattr --absolute-names -n user.bin -e hex --only-values "$m/xa" 2>/dev/null | xxd -p)" 00ff00fe \
	"after remount: binary xattr"
getfattr --absolute-names -n user.big "$m/xa" >/dev/null 2>&1
ok $((!$?)) "after remount: removed xattr stays removed"
is "$(getfattr --absolute-names -n user.dir --only-values "$m/xdir" 2>&1)" yes "after remount: directory xattr"
is "$(ls "$m/big" | wc -l)" 100000 "after remount: 100000 entries"
is "$(cat "$m/big/f0077777" 2>&1)" needle "after remount: one of them"
is "$(ls -A "$m/d1/a/b")" "" "after remount: empty directory"
is "$(cat "$m/$n255" 2>&1)" long "after remount: 255-byte name"
is "$(cat "$m/a b ünï \$x 'q'" 2>&1)" "name with spaces, ünïcödé and \$pecial 'chars'" \
	"after remount: odd name"

umount_region "$mp"
ok $? "final umount"
done_testing
