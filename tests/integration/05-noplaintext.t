#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# No plaintext at rest: a random marker string in file names, directory
# names, symlink targets, xattr names and values, small and large contents,
# renamed and deleted names.  Not a byte of it (nor its hex or base64
# encoding, nor the passphrase) may appear anywhere under SEALSYNC_HOME
# (index, its WAL, ciphertext, logs, default store) nor in any file the
# daemon holds open, while mounted and after umount.  Positive controls show
# the marker is visible through the mount and on a plain copy, so the check
# can fail.
TEST_TIMEOUT=240
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd setfattr getfattr base64 xxd
tool FSOPS fsops

marker=SEALSYNCMARKER$(head -c 6 /dev/urandom | xxd -p)
pass_phrase=pp-$(head -c 9 /dev/urandom | xxd -p)
export SEALSYNC_PASSPHRASE=$pass_phrase
setup_device
create_region r
mp=$work/mnt
mkdir -p "$mp"
mount_region r "$mp" || bail "cannot mount region r"
m=$mp
note "marker: $marker"

# ------------------------------------------------------------ the patterns
patterns=("$marker" "$(printf '%s' "$marker" | xxd -p | tr -d '\n')"
	"$(printf '%s' "$marker" | xxd -p -u | tr -d '\n')" "$pass_phrase")
for pre in "" a aa; do
	b=$(printf '%s%s' "$pre" "$marker" | base64 -w0)
	patterns+=("${b:4:${#b}-8}")
done
# Also the marker's tail alone (a name split across a record boundary).
patterns+=("${marker:8}")

# scan DIR...: prints "pattern: file" for every hit; returns 0 if none.
scan()
{
	local p hits=0 st
	for p in "${patterns[@]}"; do
		grep -r -a -l -F -D skip -- "$p" "$@" >"$work/hits" 2>"$work/grep.err"
		st=$?
		if [ $st -eq 0 ]; then
			sed "s|^|found '$p' in |" "$work/hits"
			hits=1
		elif [ $st -ne 1 ]; then
			echo "grep error (exit $st): $(cat "$work/grep.err")"
			hits=1
		fi
	done
	# Names of files under the directories too.
	if find "$@" 2>/dev/null | grep -F -- "$marker"; then
		hits=1
	fi
	return $hits
}

# ------------------------------------------------------------ the content
mkdir -p "$m/${marker}_dir/${marker}_sub"
printf 'hello %s\n' "$marker" >"$m/${marker}_dir/${marker}_small.txt"
printf '%s' "$marker" >"$m/${marker}_dir/${marker}_sub/exact"
yes "a line of text with $marker in it" | head -c $((3 * 1048576 + 17)) >"$m/large-${marker}.txt"
# The marker straddling a block boundary (64 KiB) and at the very end.
{
	head -c $((65536 - 7)) /dev/zero
	printf '%s' "$marker"
	head -c 100000 /dev/zero
	printf '%s' "$marker"
} >"$m/boundary"
ln -s "${marker}_target/some/${marker}" "$m/${marker}_link"
ln -s "${marker}_dir/${marker}_small.txt" "$m/link2"
echo x >"$m/xattrs"
setfattr -n "user.${marker}_name" -v "${marker}_value" "$m/xattrs" 2>"$work/e" ||
	diag "setfattr failed: $(cat "$work/e")"
setfattr -n user.plainname -v "value-$marker" "$m/${marker}_dir"
echo "renamed $marker" >"$m/${marker}_old"
mv "$m/${marker}_old" "$m/${marker}_new"
echo "deleted $marker" >"$m/${marker}_deleted"
rm "$m/${marker}_deleted"
mkdir "$m/${marker}_rmdir" && rmdir "$m/${marker}_rmdir"
printf 'overwritten %s\n' "$marker" >"$m/over"
printf 'something else entirely, of the same length...\n' >"$m/over"
yes "$marker" | head -c 300000 >"$m/truncated"
truncate -s 10 "$m/truncated"
# Same content in many small files (dedup or compression would show).
mkdir "$m/many"
for i in $(seq 50); do printf '%s %d\n' "$marker" "$i" >"$m/many/${marker}-$i"; done
sync -f "$m" 2>/dev/null
"$FSOPS" fsync "$m/large-${marker}.txt" 2>/dev/null

# ------------------------------------------------------- positive controls
n=$(grep -r -a -l -F -- "$marker" "$m" 2>/dev/null | wc -l)
[ "$n" -ge 50 ]
ok $? "control: the marker is visible through the mount ($n files)"
is "$(find "$m" -name "*$marker*" | wc -l)" 56 "control: names with the marker are listed in the mount"
is "$(getfattr --absolute-names -n "user.${marker}_name" --only-values "$m/xattrs" 2>&1)" "${marker}_value" \
	"control: the xattr is readable"
is "$(readlink "$m/${marker}_link")" "${marker}_target/some/${marker}" "control: the symlink target"
mkdir "$work/plaincopy"
cp -a "$m/." "$work/plaincopy/" 2>"$work/e"
ok $? "control: cp -a of the mount to plain disk" "$(head "$work/e")"
scan "$work/plaincopy" >"$work/scan.out"
ok $((!$?)) "control: the scan finds the marker in the plain copy" "$(head -5 "$work/scan.out")"
mkdir "$work/plain2"
echo "$pass_phrase" >"$work/plain2/p"
printf '%s' "${marker}" | base64 >"$work/plain2/b"
scan "$work/plain2" >"$work/scan.out"
[ "$(grep -c "^found" "$work/scan.out")" -ge 2 ]
ok $? "control: the scan finds the passphrase and the base64 form"

# ------------------------------------------------------- the real checks
scan "$SEALSYNC_HOME" >"$work/scan.out"
ok $? "mounted: no marker, hex/base64 of it, or passphrase under SEALSYNC_HOME" \
	"$(head -20 "$work/scan.out")"

# Files the daemon holds open (temp files, unlinked ones included).
if [ -n "$MOUNT_PID" ] && [ -d "/proc/$MOUNT_PID/fd" ]; then
	bad=0
	outside=()
	for fd in /proc/"$MOUNT_PID"/fd/*; do
		tgt=$(readlink "$fd" 2>/dev/null) || continue
		[ -f "$fd" ] || continue
		case $tgt in "$SEALSYNC_HOME"/*) ;; *) outside+=("$tgt") ;; esac
		for p in "${patterns[@]}"; do
			if grep -a -q -F -- "$p" "$fd" 2>/dev/null; then
				diag "daemon fd $fd ($tgt) contains '$p'"
				bad=1
			fi
		done
	done
	ok $bad "mounted: no marker in any regular file the daemon holds open"
	is "${outside[*]}" "" "the daemon's open regular files are all under SEALSYNC_HOME"
else
	fail "cannot find the daemon's pid to inspect its open files"
fi

umount_region "$mp"
ok $? "umount"
scan "$SEALSYNC_HOME" >"$work/scan.out"
ok $? "after umount: nothing under SEALSYNC_HOME" "$(head -20 "$work/scan.out")"

# Plaintext must not appear after reading everything back either (a read
# cache written to disk would show here).
mount_region r "$mp" || bail "remount failed"
diff -r --no-dereference "$work/plaincopy" "$m" >"$work/diff" 2>&1
ok $? "after remount: the mount matches the plain copy" "$(head "$work/diff")"
cat "$m/large-${marker}.txt" "$m/boundary" >/dev/null
umount_region "$mp"
scan "$SEALSYNC_HOME" >"$work/scan.out"
ok $? "after reading everything and umount: nothing under SEALSYNC_HOME" "$(head -20 "$work/scan.out")"
# The work dir outside the plain copies (the mount point's underlying
# directory included) is clean too.
scan "$mp" "$SEALSYNC_HOME" >"$work/scan.out"
ok $? "the unmounted mount point directory holds nothing" "$(head "$work/scan.out")"

done_testing
