#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 71-mount-options.t: mount options people expect from other FUSE file
# systems: a non-empty mount point refused (naming it) unless --nonempty or
# -o nonempty; -o passthrough (ro and noatime reach the kernel, an unknown
# option, fsname=, dev and suid are refused; nodev,nosuid always on); allow_other read by a second user (as
# root, with useradd; else skipped); `umount --lazy` of a busy mount (a
# process's cwd inside) while plain umount refuses; --extpass success and
# failure; SEALSYNC_PASSPHRASE absent from the daemon's /proc/PID/environ;
# the mount.sealsync helper called with mount(8)'s fstab-style arguments;
# `make install-contrib` (and uninstall-contrib) into a DESTDIR, the installed sealsync@.service
# checked by `systemd-analyze verify` and its ExecStart/ExecStop lines run
# by hand (no user manager in the test), as systemd would expand them.
TEST_TIMEOUT=300
PASS71=env-secret-71-$$
export SEALSYNC_PASSPHRASE=$PASS71
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd jq systemd-analyze
HELPER=$(cd "$(dirname "$0")/../.." && pwd)/contrib/mount.sealsync
[ -x "$HELPER" ] || bail "missing $HELPER"

setup_device
create_region r
mp=$work/mnt
mkdir -p "$mp"
# check DESC CMD...: passes when CMD succeeds.
check()
{
	local d=$1
	shift
	if "$@" >/dev/null 2>&1; then pass "$d"; else fail "$d" "command: $*"; fi
}
# mount_opts MP: the per-mount options field of MP's line in mountinfo.
mount_opts() { awk -v mp="$1" '$5 == mp { print $6 }' /proc/self/mountinfo; }

# --- non-empty mount point -----------------------------------------------------
echo hidden >"$mp/underneath"
run_fails "mount on a non-empty directory is refused" S mount r "$mp"
like "$T_ERR" "mount point $mp is not empty.*--nonempty" "the refusal names the directory and --nonempty"
check "nothing was mounted" not_cmd in_mountinfo "$mp"
mount_region r "$mp" --nonempty || bail "mount --nonempty failed: $MOUNT_OUT"
pass "mount --nonempty mounts over the entry"
check "the entry underneath is hidden while mounted" test ! -e "$mp/underneath"
echo data >"$mp/file" || fail "write into the mount"
umount_region "$mp" || fail "umount after --nonempty"
is "$(cat "$mp/underneath")" hidden "the entry underneath is back after umount"

# --- -o passthrough ---------------------------------------------------------------
mount_region r "$mp" -o nonempty,ro -o noatime,default_permissions || bail "mount -o nonempty,ro,noatime failed: $MOUNT_OUT"
pass "-o nonempty,ro -o noatime,default_permissions mounts"
like "$(mount_opts "$mp")" '(^|,)ro(,|$)' "ro reaches the kernel's mount flags"
like "$(mount_opts "$mp")" '(^|,)noatime(,|$)' "noatime reaches the kernel's mount flags"
is "$(cat "$mp/file")" data "the read-only mount reads"
if (echo x >"$mp/new") 2>"$work/ro.err"; then
	fail "a write on the -o ro mount is refused"
else
	like "$(cat "$work/ro.err")" "Read-only file system" "a write on the -o ro mount is refused (EROFS)"
fi
umount_region "$mp" || fail "umount the ro mount"
rm -f "$mp/underneath"
all_opts=max_read=131072,auto_unmount,nosuid,nodev,exec,noexec,sync,async,dirsync,rw
mount_region r "$mp" -o "$all_opts" || fail "mount -o (every other accepted option) failed: $MOUNT_OUT"
check "libfuse takes every other accepted option ($all_opts)" in_mountinfo "$mp"
like "$(mount_opts "$mp")" '(^|,)nosuid,nodev,noexec(,|$)|nosuid.*nodev.*noexec' "nosuid,nodev,noexec reach the kernel"
is "$(cat "$mp/file")" data "that mount reads"
umount_region "$mp" || fail "umount"
mount_region r "$mp" -o exec || fail "mount -o exec failed: $MOUNT_OUT"
like "$(mount_opts "$mp")" '(^|,)nosuid,nodev(,|$)|nosuid.*nodev' "without -o nodev,nosuid the mount is still nosuid,nodev"
umount_region "$mp" || fail "umount"
# dev and suid stay refused: a device number or set-id mode synced from
# another member is never honoured (doc/SYNC.md C6).
for o in dev suid nodev,dev exec,suid; do
	run_fails "-o $o is refused" S mount r "$mp" -o "$o"
	like "$T_ERR" "-o (dev|suid) is refused: a sealsync mount is always nodev,nosuid" "  ... saying why"
	is "$T_RC" 2 "  ... exit 2"
done
# The completions offer exactly options that mount accepts: each, on a mount
# point that does not exist, gets past the option check (exit 1, not 2).
top=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=/dev/null disable=SC2154 # only the list variable is used
comp_opts=$(. "$top/completion/sealsync.bash" && printf '%s\n' "$_sealsync_mount_opts" | xargs)
bad=
for o in $comp_opts; do
	[ "$o" = max_read= ] && o=max_read=131072
	S mount r "$work/nonexistent" -o "$o" >/dev/null 2>&1
	[ $? -eq 1 ] || bad="$bad $o"
done
is "$bad" "" "every -o option the completions offer is accepted ($(echo "$comp_opts" | wc -w) of them)"
# shellcheck disable=SC1003 # tr deletes the backslashes of the continued line
zcomp=$(sed -n '/compadd -- allow_other/,/dirsync/p' "$top/completion/_sealsync" | tr -d '\\' | xargs -n1 | grep -v -e compadd -e -- | xargs)
is "$zcomp" "$comp_opts" "the zsh completion offers the same -o options as the bash one"
run_fails "-o relatime (libfuse does not know it) is refused by sealsync" S mount r "$mp" -o relatime
like "$T_ERR" "unknown mount option 'relatime'" "relatime is named"
run_fails "an unknown -o option is refused" S mount r "$mp" -o noatime,bogus_opt
like "$T_ERR" "unknown mount option 'bogus_opt'" "the error names the unknown option"
is "$T_RC" 2 "an unknown option is a usage error (exit 2)"
run_fails "-o fsname= is refused" S mount r "$mp" -o fsname=other
like "$T_ERR" "fsname=other is not supported" "the fsname refusal says why"
run_fails "-o max_read=abc is refused" S mount r "$mp" -o max_read=abc
run_fails "-o rw with --read-only is refused" S mount r "$mp" --read-only -o rw
like "$T_ERR" "exclude each other" "the rw/ro conflict is named"
check "nothing was mounted by the refused options" not_cmd in_mountinfo "$mp"

# --- allow_other --------------------------------------------------------------------
U71=sealsync71
if [ "$(id -u)" -ne 0 ] || ! command -v useradd >/dev/null || ! command -v runuser >/dev/null; then
	skip "allow_other with a second user: needs root, useradd and runuser"
	skip "allow_other with a second user"
	skip "allow_other refused for a non-root user without user_allow_other"
else
	id "$U71" >/dev/null 2>&1 || useradd -M -s /bin/sh "$U71" || bail "useradd $U71 failed"
	chmod o+x "$work" # let the second user reach $work/mnt (nothing else in $work)
	mount_region r "$mp" || bail "mount failed: $MOUNT_OUT"
	check "without allow_other, another user cannot read the mount" \
		not_cmd runuser -u "$U71" -- cat "$mp/file"
	umount_region "$mp" || fail "umount"
	mount_region r "$mp" -o allow_other || bail "mount -o allow_other failed: $MOUNT_OUT"
	is "$(runuser -u "$U71" -- cat "$mp/file" 2>&1)" data "with -o allow_other, another user reads the mount"
	umount_region "$mp" || fail "umount the allow_other mount"
	if grep -Eq '^[[:space:]]*user_allow_other' /etc/fuse.conf 2>/dev/null; then
		skip "allow_other refused for a non-root user: /etc/fuse.conf has user_allow_other"
	else
		out=$(runuser -u "$U71" -- "$SEALSYNC_BIN" mount r /tmp -o allow_other 2>&1 </dev/null)
		like "$out" "user_allow_other.*/etc/fuse.conf|/etc/fuse.conf.*user_allow_other" \
			"a non-root allow_other is refused with the user_allow_other note"
	fi
	chmod o-x "$work"
	userdel "$U71" 2>/dev/null || diag "userdel $U71 failed"
fi

# --- umount --lazy of a busy mount ------------------------------------------------
mount_region r "$mp" || bail "mount failed: $MOUNT_OUT"
dpid=$MOUNT_PID
(cd "$mp" && exec sleep 300) &
busy=$!
wait_for "the busy process to have its cwd in the mount" 10 test "$(readlink "/proc/$busy/cwd")" = "$mp"
run_fails "plain umount of a busy mount fails" S umount "$mp"
like "$T_ERR" "--lazy" "the failure points to --lazy"
check "the busy mount is still mounted" in_mountinfo "$mp"
run_ok "umount --lazy of the busy mount" S umount --lazy "$mp"
check "the mount left the mount table at once" not_cmd in_mountinfo "$mp"
check "the daemon keeps serving the busy process" pid_alive "$dpid"
kill "$busy" 2>/dev/null
wait "$busy" 2>/dev/null
converge "the daemon exits once the busy process is gone" 30 not_cmd pid_alive "$dpid"

# --- --extpass ---------------------------------------------------------------------------
run env -u SEALSYNC_PASSPHRASE "$SEALSYNC_BIN" mount r "$mp" --extpass "printf '%s\\nsecond line\\n' '$PASS71'"
is "$T_RC" 0 "--extpass with a command printing the passphrase mounts"
[ "$T_RC" -ne 0 ] && _t_show_run
echo "$mp" >>"$work/.mounts"
check "the --extpass mount is live" in_mountinfo "$mp"
umount_region "$mp" || fail "umount the --extpass mount"
run_fails "--extpass with a failing command" env -u SEALSYNC_PASSPHRASE "$SEALSYNC_BIN" mount r "$mp" --extpass "echo nope; exit 3"
like "$T_ERR" "passphrase command 'echo nope; exit 3' exited with status 3" "the error names the command and its status"
run_fails "--extpass printing a wrong passphrase" env -u SEALSYNC_PASSPHRASE "$SEALSYNC_BIN" mount r "$mp" --extpass "echo wrong"
like "$T_ERR" "wrong passphrase" "a wrong passphrase from --extpass is reported"
run_fails "--extpass and --passphrase-file together are refused" S mount r "$mp" --extpass true --passphrase-file /dev/null
check "nothing was mounted by the failed --extpass runs" not_cmd in_mountinfo "$mp"

# --- SEALSYNC_PASSPHRASE not in the daemon's environment ------------------------------
MARK71=visible-71 mount_region r "$mp" || bail "mount failed: $MOUNT_OUT"
envf=$work/environ
tr '\0' '\n' <"/proc/$MOUNT_PID/environ" >"$envf" || fail "read /proc/$MOUNT_PID/environ"
check "the daemon's environ is the one we started it with (MARK71 there)" grep -qx MARK71=visible-71 "$envf"
check "the passphrase value is not in the daemon's /proc/PID/environ" not_cmd grep -qF "$PASS71" "$envf"
check "no SEALSYNC_PASSPHRASE entry in the daemon's /proc/PID/environ" not_cmd grep -q SEALSYNC_PASSPHRASE "$envf"
umount_region "$mp" || fail "umount"

# --- mount.sealsync with mount(8)'s arguments (fstab line) --------------------------------
printf '%s\n' "$PASS71" >"$work/pass"
chmod 600 "$work/pass"
# fstab: r $mp fuse.sealsync noauto,user,home=...,passfile=...,noatime,x-systemd.automount 0 0
# mount(8) drops noauto and x-*; "user" is handed on and dropped by the helper.
hopts="rw,user,home=$SEALSYNC_HOME,passfile=$work/pass,noatime,_netdev"
run env -u SEALSYNC_PASSPHRASE -u SEALSYNC_HOME SEALSYNC_BIN="$SEALSYNC_BIN" \
	"$HELPER" r "$mp" -f -v -o "$hopts" -t fuse.sealsync
is "$T_RC" 0 "mount.sealsync -f (fake) succeeds"
like "$T_ERR" "mount r $mp --passphrase-file $work/pass -o rw,noatime" "-v shows the translated sealsync mount command"
check "-f mounted nothing" not_cmd in_mountinfo "$mp"
echo "$mp" >>"$work/.mounts"
run env -u SEALSYNC_PASSPHRASE -u SEALSYNC_HOME SEALSYNC_BIN="$SEALSYNC_BIN" \
	"$HELPER" r "$mp" -o "$hopts" -t fuse.sealsync
is "$T_RC" 0 "mount.sealsync REGION DIR -o OPTS -t fuse.sealsync mounts"
[ "$T_RC" -ne 0 ] && _t_show_run
check "the helper's mount is live" in_mountinfo "$mp"
like "$(mount_opts "$mp")" '(^|,)noatime(,|$)' "the helper passed noatime on"
is "$(cat "$mp/file" 2>&1)" data "the helper's mount reads the region"
umount_region "$mp" || fail "umount the helper's mount"
run_fails "mount.sealsync with an unknown option fails" env -u SEALSYNC_PASSPHRASE SEALSYNC_BIN="$SEALSYNC_BIN" \
	"$HELPER" r "$mp" -o "passfile=$work/pass,bogus_opt"
like "$T_ERR" "unknown mount option 'bogus_opt'" "the helper's unknown option is named"
check "nothing mounted by the refused helper call" not_cmd in_mountinfo "$mp"

# --- make install-contrib; sealsync@.service ----------------------------------------------------
dest=$work/dest
bindir=$(dirname "$(readlink -f "$SEALSYNC_BIN")")
# BUILD: the generated helper and unit go to $work, not to the tree under test.
run_ok "make install-contrib into a DESTDIR" make -s -C "$top" install-contrib DESTDIR="$dest" PREFIX=/usr \
	BINDIR="$bindir" BUILD="$work/build"
unit=$dest/usr/lib/systemd/user/sealsync@.service
check "the helper is installed as mount.sealsync and mount.fuse.sealsync" \
	test -x "$dest/usr/sbin/mount.sealsync" -a -L "$dest/usr/sbin/mount.fuse.sealsync"
check "the installed helper names the installed sealsync" grep -qF "$bindir/sealsync" "$dest/usr/sbin/mount.sealsync"
check "the unit is installed with @BINDIR@ replaced" not_cmd grep -q @BINDIR@ "$unit"
run_ok "make uninstall-contrib" make -s -C "$top" uninstall-contrib DESTDIR="$dest" PREFIX=/usr \
	BINDIR="$bindir" BUILD="$work/build"
check "uninstall-contrib leaves no file behind" test -z "$(find "$dest" ! -type d)"
run_ok "make install-contrib again" make -s -C "$top" install-contrib DESTDIR="$dest" PREFIX=/usr \
	BINDIR="$bindir" BUILD="$work/build"
mkdir -p "$work/run" && chmod 700 "$work/run"
cp "$unit" "$work/sealsync@r.service"
run env XDG_RUNTIME_DIR="$work/run" systemd-analyze --user --man=no verify "$work/sealsync@r.service"
is "$T_RC:$T_ERR" "0:" "systemd-analyze --user verify sealsync@r.service is clean"
check "the unit restarts on failure" grep -q '^Restart=on-failure$' "$unit"
# Run ExecStart and ExecStop as the user manager would for instance r: %i=r,
# %h=HOME, %E=XDG_CONFIG_HOME, ${SEALSYNC_MOUNTPOINT} from REGION.env.
fakehome=$work/uhome
mkdir -p "$fakehome/.config/sealsync" "$fakehome/mp"
printf '%s\n' "$PASS71" >"$fakehome/.config/sealsync/r.pass"
chmod 600 "$fakehome/.config/sealsync/r.pass"
printf 'SEALSYNC_MOUNTPOINT=%s\n' "$fakehome/mp" >"$fakehome/.config/sealsync/r.env"
expand() { sed -n "s/^$1=//p" "$unit" | sed "s|%i|r|g; s|%h|$fakehome|g; s|%E|$fakehome/.config|g; s|\${SEALSYNC_MOUNTPOINT}|$fakehome/mp|g"; }
start=$(expand ExecStart)
stop=$(expand ExecStop)
like "$start" "^$bindir/sealsync mount --foreground --passphrase-file $fakehome/.config/sealsync/r.pass r $fakehome/mp\$" "ExecStart is a foreground mount of the instance"
echo "$fakehome/mp" >>"$work/.mounts"
# shellcheck disable=SC2086 # the unit's command line, split as systemd does (no quotes in it)
env -u SEALSYNC_PASSPHRASE $start </dev/null >"$work/unit.out" 2>&1 &
upid=$!
echo "$upid" >>"$work/.pids"
converge "the unit's ExecStart mounts the region" 30 in_mountinfo "$fakehome/mp"
is "$(cat "$fakehome/mp/file" 2>&1)" data "the unit's mount reads the region"
# shellcheck disable=SC2086
run_ok "the unit's ExecStop unmounts" $stop
wait "$upid"
is "$?" 0 "ExecStart exits 0 after ExecStop (no restart: on-failure only)"
check "nothing left mounted by the unit" not_cmd in_mountinfo "$fakehome/mp"

done_testing
