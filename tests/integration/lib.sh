# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
# Shared helpers for the sealsync integration tests (TAP under prove).
#
# Usage, at the top of a test script:
#
#	#!/usr/bin/env bash
#	TEST_TIMEOUT=300                 # hard limit for the whole script, seconds
#	. "$(dirname "$0")/lib.sh"
#	setup_device                     # temp dir, SEALSYNC_HOME, init
#	...
#	done_testing
#
# What it gives:
#  - TAP: plan, ok, pass, fail, not_ok, is, isnt, like, run_ok, run_fails,
#    diag, note, skip, skip_all, done_testing, bail.
#  - A hard timeout: the script re-executes itself under timeout(1), which
#    signals the whole process group (hung readers on a wedged mount
#    included) when the time is up; the TERM trap reports it and cleans up.
#  - A cleanup trap: every mount point made with mount_region (recorded in
#    $work/.mounts) is unmounted (`sealsync umount`, then `fusermount3 -u -z`),
#    the daemons we started are killed by pid if still alive, and the temp
#    dir is removed unless something is still mounted beneath it.
#  - SKIP (and only this): no /dev/fuse or no fusermount3.  A missing or
#    broken $SEALSYNC_BIN is a failure, never a skip.
#
#  - Waits: every wait is a bounded poll on its condition, never a fixed
#    sleep (a loaded machine outruns any fixed sleep): wait_for (no test
#    point) and converge (one).  Bounds are wall-clock seconds; when one runs
#    out, or the hard timeout strikes during a wait, the message names what
#    was awaited.
#
# Environment: SEALSYNC_BIN (required, absolute path of build/tests/sealsync, the
# test build, or of build/sealsync),
# SEALSYNC_TOOLS (directory of the tests/tools binaries), TEST_TIMEOUT (set by
# each script), SEALSYNC_TEST_TIMEOUT (overrides it), SEALSYNC_TEST_SCALE (an
# integer >= 1 multiplying the hard timeout and every wait bound, e.g. 3 for
# slow sanitizer builds), SEALSYNC_TEST_MIN_TIMEOUT (a floor for the hard
# timeout, seconds), KEEP_WORK=1 (keep the temp dir for post-mortem).

# ------------------------------------------------------------ hard timeout
_t_scale=${SEALSYNC_TEST_SCALE:-1}
case $_t_scale in '' | *[!0-9]* | 0) _t_scale=1 ;; esac
_t_limit=${SEALSYNC_TEST_TIMEOUT:-$((${TEST_TIMEOUT:-300} * _t_scale))}
# SEALSYNC_TEST_MIN_TIMEOUT: a floor (scripts/run-integration.sh: 600 s).
[ "$_t_limit" -ge "${SEALSYNC_TEST_MIN_TIMEOUT:-0}" ] || _t_limit=$SEALSYNC_TEST_MIN_TIMEOUT
if [ -z "${SEALSYNC_T_WRAPPED:-}" ]; then
	export SEALSYNC_T_WRAPPED=1
	# timeout(1) puts itself in a new process group and, on expiry, signals
	# the child and then the whole group; -k: SIGKILL 20 s later.
	exec timeout -k 20 "$_t_limit" bash "$0" "$@"
fi

export LC_ALL=C
umask 022
# Cheap Argon2id for the keys tests make: honoured only by the test build of
# the binary (build/tests/sealsync, see crypto/kdf.h); build/sealsync ignores it.
export SEALSYNC_TEST_KDF=${SEALSYNC_TEST_KDF-min}

# ------------------------------------------------------------------ TAP
_t_n=0
_t_failed=0
_t_planned=
_t_done=
T_NAME=$(basename "$0" .t)

plan() { _t_planned=$1; echo "1..$1"; }
diag() { local l; printf '%s\n' "$@" | while IFS= read -r l; do echo "# $l" >&2; done; }
note() { local l; printf '%s\n' "$@" | while IFS= read -r l; do echo "# $l"; done; }
_t_last=
pass()
{
	_t_n=$((_t_n + 1))
	_t_last=$1
	echo "ok $_t_n - $1"
}
fail()
{
	_t_n=$((_t_n + 1))
	_t_failed=$((_t_failed + 1))
	echo "not ok $_t_n - $1"
	# Also on stderr (like Test::More): visible under a parallel, non-verbose prove.
	echo "# $T_NAME: failed test $_t_n - $1" >&2
	shift
	[ $# -eq 0 ] || diag "$@"
	return 0
}
# not_ok DESC [DIAG...]: a failing test point (alias of fail).
not_ok() { fail "$@"; }
# ok STATUS DESC [DIAG...]: passes when STATUS is 0 (e.g. `[ -f x ]; ok $? "x exists"`).
ok()
{
	local st=$1
	shift
	if [ "$st" -eq 0 ]; then pass "$1"; else fail "$@"; fi
	return "$st"
}
# is GOT EXPECTED DESC
is()
{
	if [ "$1" == "$2" ]; then
		pass "$3"
	else
		fail "$3" "     got: '${1:0:400}'" "expected: '${2:0:400}'"
		return 1
	fi
}
# isnt GOT UNEXPECTED DESC
isnt()
{
	if [ "$1" != "$2" ]; then
		pass "$3"
	else
		fail "$3" "     got: '$1'" "expected anything else"
		return 1
	fi
}
# like GOT ERE DESC
like()
{
	if printf '%s' "$1" | grep -Eq -- "$2"; then
		pass "$3"
	else
		fail "$3" "     got: '${1:0:400}'" "expected to match /$2/"
		return 1
	fi
}
skip() { _t_n=$((_t_n + 1)); echo "ok $_t_n # SKIP $1"; }

# run CMD...: runs CMD with stdin from /dev/null, output in $T_OUT (stdout)
# and $T_ERR (stderr), status in $T_RC.
T_OUT=
T_ERR=
T_RC=0
run()
{
	local o e
	o=$(mktemp "${work:-/tmp}/.out.XXXXXX")
	e=$(mktemp "${work:-/tmp}/.err.XXXXXX")
	"$@" <"${RUN_STDIN:-/dev/null}" >"$o" 2>"$e"
	T_RC=$?
	T_OUT=$(cat "$o")
	T_ERR=$(cat "$e")
	rm -f "$o" "$e"
	return $T_RC
}
_t_show_run() { diag "command: $*" "exit: $T_RC" "stdout: ${T_OUT:0:2000}" "stderr: ${T_ERR:0:2000}"; }
# run_ok DESC CMD...: passes when CMD exits 0.
run_ok()
{
	local d=$1
	shift
	if run "$@"; then
		pass "$d"
	else
		fail "$d"
		_t_show_run "$@"
		return 1
	fi
}
# run_fails DESC CMD...: passes when CMD exits non-zero (and does not die of a signal).
run_fails()
{
	local d=$1
	shift
	run "$@"
	if [ "$T_RC" -ne 0 ] && [ "$T_RC" -lt 124 ]; then
		pass "$d"
	else
		fail "$d (expected failure)"
		_t_show_run "$@"
		return 1
	fi
}

# ------------------------------------------------------------ waiting
# Wall-clock milliseconds (bash 5's EPOCHREALTIME: no fork).
_t_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
_t_waiting=
WAIT_S=0
# wait_for WHAT SECONDS COMMAND...: polls COMMAND (output discarded) until it
# succeeds: every 0.1 s for the first 2 s, then every 0.25 s (WAIT_POLL=SECONDS:
# always that interval, for a wait that must not overshoot).  It gives up once
# SECONDS of wall time have passed AND it has tried 4 x SECONDS times (both
# times SEALSYNC_TEST_SCALE): on a loaded machine, where each try and each of
# the daemons' timer rounds take longer, the bound grows with the load, as the
# daemons' own pace does; the hard timeout still ends a hang.  0 as soon as it
# succeeds; 1 with a diagnostic naming WHAT when it gives up.  WAIT_S: the
# seconds it took (one decimal).  If the hard timeout strikes meanwhile, its
# message names WHAT.  No test point (see converge).
wait_for()
{
	local what=$1 limit=$(($2 * _t_scale * 1000)) tries=$(($2 * _t_scale * 4)) n=0 t0 el
	shift 2
	_t_waiting="$what (at most $((limit / 1000)) s: $*)"
	t0=$(_t_ms)
	while :; do
		if "$@" >/dev/null 2>&1; then
			el=$(($(_t_ms) - t0))
			WAIT_S=$((el / 1000)).$((el % 1000 / 100))
			_t_waiting=
			return 0
		fi
		el=$(($(_t_ms) - t0))
		n=$((n + 1))
		[ "$el" -lt "$limit" ] || [ "$n" -lt "$tries" ] || break
		if [ -n "${WAIT_POLL:-}" ]; then
			sleep "$WAIT_POLL"
		elif [ "$el" -lt 2000 ]; then
			sleep 0.1
		else
			sleep 0.25
		fi
	done
	WAIT_S=$((el / 1000)).$((el % 1000 / 100))
	diag "timed out after $WAIT_S s ($n tries) waiting for: $what" "  condition: $*"
	_t_waiting=
	return 1
}
# converge WHAT SECONDS COMMAND...: wait_for as one test point, passed with
# the time it took.
converge()
{
	local what=$1
	if wait_for "$@"; then
		pass "$what (after ${WAIT_S} s)"
		return 0
	fi
	fail "$what (not true after $WAIT_S s)"
	return 1
}
# not_cmd COMMAND...: COMMAND fails (for wait_for: wait until something stops).
not_cmd() { ! "$@"; }

# bail MSG: fatal for this script (not the TAP "Bail out!", which stops prove).
bail()
{
	fail "$1"
	shift
	[ $# -eq 0 ] || diag "$@"
	_t_done=1
	[ -n "$_t_planned" ] || echo "1..$_t_n"
	exit 1
}

done_testing()
{
	_t_done=1
	[ -n "$_t_planned" ] || echo "1..$_t_n"
	if [ "$_t_failed" -ne 0 ]; then
		diag "$T_NAME: $_t_failed of $_t_n test(s) failed"
		exit 1
	fi
	exit 0
}

skip_all()
{
	echo "1..0 # SKIP $1"
	echo "######## SKIPPING $T_NAME: $1 ########" >&2
	_t_done=1
	exit 0
}

# ------------------------------------------------------- preconditions
_t_check_env()
{
	[ -c /dev/fuse ] || skip_all "FUSE unavailable: /dev/fuse is missing or not a character device"
	command -v fusermount3 >/dev/null 2>&1 || skip_all "FUSE unavailable: fusermount3 not found in PATH"
	if [ -z "${SEALSYNC_BIN:-}" ]; then
		bail "SEALSYNC_BIN is not set (run through 'make integration')"
	fi
	case $SEALSYNC_BIN in /*) ;; *) bail "SEALSYNC_BIN must be an absolute path: $SEALSYNC_BIN" ;; esac
	[ -x "$SEALSYNC_BIN" ] || bail "SEALSYNC_BIN is not executable: $SEALSYNC_BIN"
	SEALSYNC_TOOLS=${SEALSYNC_TOOLS:-$(dirname "$SEALSYNC_BIN")/tools}
}
_t_check_env

# tool VAR NAME: sets VAR to the path of the tests/tools binary NAME (fatal
# if it is missing).  Not for $(...): bail must run in the test's shell.
tool()
{
	local t=$SEALSYNC_TOOLS/$2
	[ -x "$t" ] || bail "test tool missing: $t (make builds tests/tools/$2.c)"
	printf -v "$1" '%s' "$t"
}
need_cmd()
{
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || bail "required command not installed: $c"
	done
}

# ------------------------------------------------------- work dir, device
work=
S() { "$SEALSYNC_BIN" "$@"; }

setup_device()
{
	work=$(mktemp -d "${TMPDIR:-/tmp}/sealsync-$T_NAME.XXXXXX") || bail "mktemp -d failed"
	: >"$work/.mounts"
	: >"$work/.pids"
	export SEALSYNC_HOME=$work/home
	export SEALSYNC_PASSPHRASE=${SEALSYNC_PASSPHRASE:-test-pass}
	unset XDG_DATA_HOME
	# Keep git (03-tools) away from the user's configuration.
	export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
	export GIT_AUTHOR_NAME=test GIT_AUTHOR_EMAIL=test@example.invalid
	export GIT_COMMITTER_NAME=test GIT_COMMITTER_EMAIL=test@example.invalid
	note "work dir: $work"
	if ! run S init --kdf interactive --name devA; then
		_t_show_run S init --kdf interactive --name devA
		bail "sealsync init failed"
	fi
}

# region_id NAME: the region's id (hex) from `list --json`.
region_id()
{
	S list --json 2>/dev/null | jq -r --arg n "$1" '.[] | select(.name == $n) | .region_id'
}

# create_region NAME [ARGS...]: creates the region; sets REGION_ID and
# REGION_DIR ($SEALSYNC_HOME/regions/<id>).  Fatal on failure.
REGION_ID=
# shellcheck disable=SC2034 # used by the test scripts
REGION_DIR=
create_region()
{
	if ! run S create "$@"; then
		_t_show_run S create "$@"
		bail "sealsync create $1 failed"
	fi
	REGION_ID=$(region_id "$1")
	[ -n "$REGION_ID" ] || REGION_ID=$(printf '%s\n' "$T_OUT" | grep -Eo '[0-9a-f]{64}' | tail -n1)
	[ -n "$REGION_ID" ] || bail "cannot find the id of region $1" "create said: $T_OUT"
	# shellcheck disable=SC2034 # used by the test scripts
	REGION_DIR=$SEALSYNC_HOME/regions/$REGION_ID
}

# homes LETTER...: for each LETTER (A, B, ...) a device home H<LETTER>=$work/h<letter>
# and a function LETTER that runs $SEALSYNC_BIN in it (multi-device tests).
homes()
{
	local l
	for l in "$@"; do
		eval "H$l=\$work/h$l; $l() { SEALSYNC_HOME=\$H$l \"\$SEALSYNC_BIN\" \"\$@\"; }"
	done
}

# file_region NAME: device A (see homes) is initialised as devA and creates region
# NAME on a new file:// store $work/store.  Sets STORE, RID and SD (the region's
# directory in the store).  One check (A's init); fatal if the region cannot be made.
file_region()
{
	mkdir "$work/store" || bail "mkdir $work/store failed"
	STORE=file://$work/store
	run_ok "A: init" A init --kdf interactive --name devA
	SEALSYNC_HOME=$HA create_region "$1" --store "$STORE"
	RID=$REGION_ID
	SD=$work/store/$RID
}

# alarm_named HOME KIND DEVICE [TEXT]: the status of region ${ALARM_REGION:-docs} in device
# home HOME lists a KIND alarm on DEVICE ("" = any device) whose text matches TEXT.
alarm_named()
{
	SEALSYNC_HOME=$1 "$SEALSYNC_BIN" status "${ALARM_REGION:-docs}" --json 2>/dev/null |
		jq -e --arg k "$2" --arg d "$3" --arg t "${4:-.}" \
			'.alarms | map(select(.kind == $k and (.device_id == $d or $d == "") and (.text | test($t)))) | length >= 1'
}

# sync_all FN...: a forced round of region docs on each device, through its command
# function (see homes), one after the other; failures are left to the checks after it.
sync_all() { local f; for f in "$@"; do "$f" sync docs >/dev/null 2>&1; done; }

# in_mountinfo DIR: DIR is a mount point (from /proc/self/mountinfo, so it
# never touches a possibly wedged FUSE mount).
in_mountinfo()
{
	awk -v mp="$1" '$5 == mp { f = 1 } END { exit !f }' /proc/self/mountinfo
}

# pid_alive PID: the process exists and is not a zombie (exited daemons are
# reparented to PID 1, which may be slow to reap them, or never do).
pid_alive()
{
	local st
	[ -n "$1" ] || return 1
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# daemon_pids MP: pids of our sealsync processes whose command line names MP.
daemon_pids()
{
	local p exe bin
	bin=$(readlink -f "$SEALSYNC_BIN")
	for p in $(pgrep -f -- "$1" 2>/dev/null); do
		[ "$p" != $$ ] || continue
		pid_alive "$p" || continue
		exe=$(readlink -f "/proc/$p/exe" 2>/dev/null) || continue
		[ "$exe" = "$bin" ] && echo "$p"
	done
}

# mount_region NAME MP [ARGS...]: mounts and waits (<= 20 s) for MP to be a
# mount point.  Sets MOUNT_PID (the daemon) and MOUNT_OUT (its output).
# Returns non-zero, with diagnostics, on failure.
MOUNT_PID=
MOUNT_OUT=
mount_region()
{
	local name=$1 mp=$2 rc _
	shift 2
	case $mp in /*) ;; *) mp=$PWD/$mp ;; esac
	echo "$mp" >>"$work/.mounts"
	MOUNT_OUT=$(timeout 60 "$SEALSYNC_BIN" mount "$name" "$mp" "$@" </dev/null 2>&1 >/dev/null)
	rc=$?
	if [ $rc -ne 0 ]; then
		diag "sealsync mount $name $mp $* exited $rc" "output: $MOUNT_OUT"
		return 1
	fi
	if ! wait_for "$mp to be a mount point after 'sealsync mount' returned 0" 20 in_mountinfo "$mp"; then
		diag "sealsync mount $name $mp returned 0 but $mp is not a mount point"
		return 1
	fi
	timeout 10 mountpoint -q "$mp" || { diag "mountpoint -q $mp fails"; return 1; }
	MOUNT_PID=$(daemon_pids "$mp" | head -n1)
	[ -z "$MOUNT_PID" ] || echo "$MOUNT_PID" >>"$work/.pids"
	return 0
}

# umount_region MP: `sealsync umount MP` (fallback fusermount3 -u -z), then
# waits (<= 30 s) for the daemon to exit, so that the index and ciphertext
# are at rest afterwards.  Returns non-zero if `sealsync umount` failed.
umount_region()
{
	local mp=$1 rc=0 out pids p _
	case $mp in /*) ;; *) mp=$PWD/$mp ;; esac
	pids=$(daemon_pids "$mp")
	out=$(timeout 60 "$SEALSYNC_BIN" umount "$mp" </dev/null 2>&1)
	rc=$?
	if [ $rc -ne 0 ]; then
		diag "sealsync umount $mp exited $rc: $out"
		fusermount3 -u -z "$mp" 2>/dev/null
	fi
	if ! wait_for "$mp to leave the mount table after umount" 10 not_cmd in_mountinfo "$mp"; then
		diag "$mp still mounted after umount; lazy unmount"
		fusermount3 -u -z "$mp" 2>/dev/null
		rc=1
	fi
	for p in $pids; do
		if ! wait_for "daemon $p of $mp to exit after umount" 30 not_cmd pid_alive "$p"; then
			diag "daemon $p for $mp still running after umount"
			rc=1
		fi
	done
	return $rc
}

# remount NAME MP: umount_region + mount_region.
remount()
{
	umount_region "$2" || return 1
	mount_region "$1" "$2"
}

# --------------------------------------------------------------- cleanup
# _t_cleanup [fast]: unmounts everything we mounted and removes the work
# dir.  Normally `sealsync umount` first (10 s at most); with "fast" (after a
# timeout or signal, when the daemon may be wedged) straight to a lazy
# unmount.  Then our daemons still alive are killed by pid.
_t_cleanup()
{
	local mp p bin
	trap - EXIT
	[ -n "$work" ] || return 0
	bin=$(readlink -f "$SEALSYNC_BIN")
	if [ -s "$work/.mounts" ]; then
		while IFS= read -r mp; do
			in_mountinfo "$mp" || continue
			if [ "${1:-}" != fast ]; then
				timeout 10 "$SEALSYNC_BIN" umount "$mp" >/dev/null 2>&1 </dev/null
			fi
			in_mountinfo "$mp" && fusermount3 -u -z "$mp" 2>/dev/null
		done <"$work/.mounts"
	fi
	# Daemons that outlive their mount (wedged, stopped): ours, by pid.
	if [ -s "$work/.pids" ]; then
		while IFS= read -r p; do
			pid_alive "$p" || continue
			[ "$(readlink -f "/proc/$p/exe" 2>/dev/null)" = "$bin" ] || continue
			[ "${1:-}" = fast ] || wait_for "daemon $p to exit (cleanup)" 2 not_cmd pid_alive "$p" 2>/dev/null
			pid_alive "$p" && kill -KILL "$p" 2>/dev/null
			wait_for "daemon $p to die of SIGKILL (cleanup)" 2 not_cmd pid_alive "$p" 2>/dev/null
		done <"$work/.pids"
	fi
	if [ -n "${KEEP_WORK:-}" ]; then
		echo "# KEEP_WORK: left $work" >&2
	elif grep -qF " $work/" /proc/self/mountinfo; then
		echo "# something is still mounted under $work; not removing it" >&2
	else
		rm -rf "$work"
	fi
}

_t_on_exit()
{
	local rc=$?
	_t_cleanup
	if [ -z "$_t_done" ]; then
		echo "not ok $((_t_n + 1)) - $T_NAME ended early (exit $rc)"
		echo "1..$((_t_n + 1))"
		exit 1
	fi
}

_t_on_signal()
{
	local where
	trap - TERM INT
	if [ -n "$_t_waiting" ]; then
		where="while waiting for: $_t_waiting"
	else
		where="after test $_t_n${_t_last:+ (last passed: $_t_last)}, in no wait_for/converge"
	fi
	echo "not ok $((_t_n + 1)) - $T_NAME killed by SIG$1 (hard timeout $_t_limit s?) $where"
	echo "1..$((_t_n + 1))"
	echo "######## $T_NAME: TIMEOUT / SIG$1 after $((SECONDS)) s, $where ########" >&2
	_t_done=1
	_t_cleanup fast
	exit 1
}

trap _t_on_exit EXIT
trap '_t_on_signal TERM' TERM
trap '_t_on_signal INT' INT

# ---------------------------------------------------------------- misc
# rand_file PATH SIZE: SIZE random bytes, written 1 MiB at a time (head -c
# writes 4 KiB at a time: into a FUSE mount on a loaded machine, where every
# request waits for the daemon to be scheduled, that is 30-70 times slower).
rand_file()
{
	dd if=/dev/urandom of="$1" bs=1M count="$2" iflag=count_bytes,fullblock status=none
}
# flip FILE: inverts one byte in the middle of FILE (tampering on a file:// store).
flip()
{
	local f=$1 size off b
	size=$(stat -c %s "$f")
	off=$((size / 2))
	b=$(od -An -tu1 -j "$off" -N1 "$f" | tr -d ' ')
	printf "$(printf '\\%03o' $((b ^ 255)))" | dd of="$f" bs=1 seek="$off" conv=notrunc status=none
}
# sha FILE
sha() { sha256sum <"$1" | cut -d' ' -f1; }
# home_listing: names, types and modes under SEALSYNC_HOME (not sizes/times).
home_listing()
{
	(cd "$SEALSYNC_HOME" && find . -printf '%p %y %m\n' | sort)
}

# ------------------------------------------------ S3 (Swift) and the proxy
# For the tests that run the sync engine on a real, signature-checking S3
# service (scripts/s3-server.sh: OpenStack Swift + s3api) behind
# tests/tools/s3proxy.py, which counts requests and bytes and injects faults.
#
#	need_s3                  # skip_all (only) if python3-swift/memcached are missing
#	setup_device
#	start_s3 || bail ...     # Swift under $work/s3; exports its AWS_* variables
#	start_proxy || bail ...  # AWS_ENDPOINT_URL now points at the proxy
#	proxy_reset; ...; proxy_stats '.by_method.PUT // 0'
#	proxy_faults 'error_rate=0.2&drop_rate=0.1&delay_ms=100&seed=1'; proxy_faults
#
# At exit (normal, bail or timeout) everything mounted is unmounted first,
# while the store still answers, then the proxy and Swift are stopped by pid.
_s3_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
S3_DIR=
S3_UPSTREAM=
PROXY_PID=
PROXY_URL=

# need_s3: the documented skip: python3-swift (Debian's, for /usr/bin/python3)
# or memcached not installed.  Anything else going wrong later is a failure.
need_s3()
{
	if ! /usr/bin/python3 -c 'import swift' 2>/dev/null || ! command -v memcached >/dev/null 2>&1; then
		skip_all "python3-swift or memcached is not installed (run scripts/deps.sh): no S3 server"
	fi
	command -v curl >/dev/null 2>&1 || bail "required command not installed: curl"
}

# _s3_stop_all: stops the proxy and Swift (idempotent).
_s3_stop_all()
{
	if [ -n "$PROXY_PID" ]; then
		kill -TERM "$PROXY_PID" 2>/dev/null
		wait "$PROXY_PID" 2>/dev/null
		PROXY_PID=
	fi
	if [ -n "$S3_DIR" ] && [ -d "$S3_DIR/run" ]; then
		"$_s3_root/scripts/s3-server.sh" stop "$S3_DIR" >/dev/null 2>&1
	fi
}

# _s3_unmount_all: unmounts what mount_region mounted (like _t_cleanup, but
# leaving the work dir), so that daemons finish their uploads before the
# store goes away.
_s3_unmount_all()
{
	local mp
	[ -n "$work" ] && [ -s "$work/.mounts" ] || return 0
	while IFS= read -r mp; do
		in_mountinfo "$mp" || continue
		timeout 20 "$SEALSYNC_BIN" umount "$mp" >/dev/null 2>&1 </dev/null
		in_mountinfo "$mp" && fusermount3 -u -z "$mp" 2>/dev/null
	done <"$work/.mounts"
}

_s3_install_traps()
{
	# shellcheck disable=SC2154 # _s3_rc is set inside the trap string
	trap '_s3_rc=$?; _s3_unmount_all; _s3_stop_all; (exit $_s3_rc); _t_on_exit' EXIT
	trap 'trap - TERM INT; _s3_stop_all; _t_on_signal TERM' TERM
	trap 'trap - TERM INT; _s3_stop_all; _t_on_signal INT' INT
}

# start_s3: starts Swift's S3 API under $work/s3 and exports AWS_ENDPOINT_URL,
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION and S3_BUCKET; sets
# S3_DIR (Swift's directory; objects under $S3_DIR/srv) and S3_UPSTREAM
# (host:port of Swift itself).  Returns non-zero, with diagnostics, on failure.
start_s3()
{
	[ -n "$work" ] || bail "start_s3 needs setup_device first"
	S3_DIR=$work/s3
	_s3_install_traps
	# Its ports are free when chosen but not held until the servers bind them:
	# under parallel tests another process may take one in between; then once more.
	if ! "$_s3_root/scripts/s3-server.sh" start "$S3_DIR" >"$work/s3.env" 2>"$work/s3.err"; then
		diag "scripts/s3-server.sh start failed (once more, with new ports):" "$(tail -n 20 "$work/s3.err")"
		"$_s3_root/scripts/s3-server.sh" stop "$S3_DIR" >/dev/null 2>&1
		rm -rf "$S3_DIR"
		if ! "$_s3_root/scripts/s3-server.sh" start "$S3_DIR" >"$work/s3.env" 2>"$work/s3.err"; then
			diag "scripts/s3-server.sh start failed:" "$(cat "$work/s3.err")"
			return 1
		fi
	fi
	set -a
	# shellcheck disable=SC1091
	. "$work/s3.env"
	set +a
	unset AWS_ENDPOINT_URL_S3 AWS_PROFILE AWS_SESSION_TOKEN AWS_S3_ADDRESSING_STYLE AWS_DEFAULT_REGION
	S3_UPSTREAM=${AWS_ENDPOINT_URL#http://}
	if grep -q 'in-memory object server' "$work/s3.err"; then
		diag "Swift uses its in-memory object server (no user xattrs under $work)"
	fi
	return 0
}

# start_proxy [LOGFILE]: starts tests/tools/s3proxy.py in front of Swift and
# exports AWS_ENDPOINT_URL=$PROXY_URL (so daemons mounted afterwards talk to
# the store through it).  Sets PROXY_PID.
start_proxy()
{
	local _ pf=$work/proxy.port
	[ -n "$S3_UPSTREAM" ] || bail "start_proxy needs start_s3 first"
	rm -f "$pf"
	/usr/bin/python3 "$_s3_root/tests/tools/s3proxy.py" --listen 0 --upstream "$S3_UPSTREAM" \
		--port-file "$pf" ${1:+--log "$1"} </dev/null >/dev/null 2>"$work/proxy.err" &
	PROXY_PID=$!
	_proxy_up() { [ -s "$pf" ] || ! pid_alive "$PROXY_PID"; }
	wait_for "s3proxy.py to write its port file" 20 _proxy_up
	if [ ! -s "$pf" ]; then
		diag "s3proxy.py did not start:" "$(cat "$work/proxy.err")"
		return 1
	fi
	PROXY_URL=http://127.0.0.1:$(cat "$pf")
	export AWS_ENDPOINT_URL=$PROXY_URL
	return 0
}

# proxy_stats [JQ-FILTER]: the proxy's counters (JSON), or FILTER applied.
proxy_stats()
{
	curl -sf --max-time 10 "$PROXY_URL/__proxy/stats" | jq -c -r "${1:-.}"
}
# proxy_reset: zeroes the counters.
proxy_reset() { curl -sf --max-time 10 -X POST -o /dev/null "$PROXY_URL/__proxy/reset"; }
# proxy_faults [QUERY]: e.g. 'error_rate=0.2&drop_rate=0.1&delay_ms=100&seed=1'; none: off.
proxy_faults() { curl -sf --max-time 10 -X POST -o /dev/null "$PROXY_URL/__proxy/faults${1:+?$1}"; }

# outbox_empty REGION_DIR: no journal entry waits in the region's outbox
# (everything committed so far is on the store).
outbox_empty()
{
	[ -z "$(find "$1/outbox" -maxdepth 1 -name 'j-*' 2>/dev/null | head -n1)" ]
}

# content_is FILE TEXT: FILE holds exactly TEXT (plus nothing but a trailing newline).
content_is() { [ "$(cat "$1" 2>/dev/null)" = "$2" ]; }

# enroll_device NAME FN REGION [INVITE_ARGS...]: the device of FN (a function running
# $SEALSYNC_BIN with the new device's SEALSYNC_HOME) is initialised as NAME
# and joins REGION on the store $STORE (file:// or s3://; region id $RID),
# invited (with INVITE_ARGS) and approved by A (a function for an enrolled
# device).  Four checks: init, invite, approve, join completes.  It waits until
# A's `requests` lists this device's valid request.
enroll_device()
{
	local name=$1 fn=$2 region=$3 dev code jpid
	shift 3
	run_ok "$fn: init" "$fn" init --kdf interactive --name "$name"
	dev=$("$fn" id --json | jq -r .device_id)
	run_ok "A: invite for $fn" A invite "$region" --json "$@"
	code=$(jq -r .code <<<"$T_OUT")
	"$fn" join "$region" "$STORE" "$RID" --code "$code" --timeout 90 >"$work/join.$fn" 2>&1 </dev/null &
	jpid=$!
	_join_seen() {
		A requests "$region" --json 2>/dev/null |
			jq -e --arg d "$dev" '.[] | select(.device_id == $d and .status == "valid")' >/dev/null
	}
	wait_for "A's 'requests' to list $fn's valid join request" 60 _join_seen
	run_ok "A: approve $fn" A approve "$region" "$dev"
	wait "$jpid"
	ok $? "$fn: join completes" "$(cat "$work/join.$fn")"
}

# two_devices [REGION]: device A (set up here, this SEALSYNC_HOME) creates REGION
# (default docs) on the file:// store $work/store and enrolls device B (home
# $work/homeB, name devB).  Sets HA, HB, STORE, RID and the functions A and B
# (the CLI with A's or B's home).  Four checks (enroll_device's).
two_devices()
{
	local region=${1:-docs}
	setup_device
	HA=$SEALSYNC_HOME
	HB=$work/homeB
	STORE=file://$work/store
	create_region "$region" --store "$STORE"
	RID=$REGION_ID
	# shellcheck disable=SC2317 # called indirectly (run_ok, enroll_device)
	A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
	# shellcheck disable=SC2317
	B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }
	enroll_device devB B "$region"
}

# three_mounts [REGION]: device A (set up here, this SEALSYNC_HOME) creates REGION
# (default docs) on a file:// store reached through the symlink $work/store (a test
# can take the store away from every device at once: a regular file in its place),
# enrolls devB and devC (homes $work/homeB, $work/homeC) and mounts the three at
# $ma, $mb, $mc.  Sets HA, HB, HC, STORE, RID, ma, mb, mc and the functions A, B, C;
# SEALSYNC_HOME is A's again at return.  Eight checks (enroll_device's).
three_mounts()
{
	local region=${1:-docs} d n h m
	setup_device
	HA=$SEALSYNC_HOME
	HB=$work/homeB
	HC=$work/homeC
	mkdir "$work/store.real"
	ln -s store.real "$work/store"
	STORE=file://$work/store
	create_region "$region" --store "$STORE"
	RID=$REGION_ID
	# shellcheck disable=SC2317 # called indirectly (run_ok, enroll_device)
	A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
	# shellcheck disable=SC2317
	B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }
	# shellcheck disable=SC2317
	C() { SEALSYNC_HOME=$HC "$SEALSYNC_BIN" "$@"; }
	enroll_device devB B "$region"
	enroll_device devC C "$region"
	ma=$work/a
	mb=$work/b
	mc=$work/c
	mkdir -p "$ma" "$mb" "$mc"
	for d in A:$HA:$ma B:$HB:$mb C:$HC:$mc; do
		IFS=: read -r n h m <<<"$d"
		export SEALSYNC_HOME=$h
		mount_region "$region" "$m" || bail "mount on $n failed"
	done
	export SEALSYNC_HOME=$HA
}

# With three_mounts: commit_offline FN...: each device commits its local changes now (its
# upload then cannot finish while the store is away), so that what follows is a later journal
# entry; partition / heal: the store goes away for every device, and comes back.
commit_offline() { local d; for d in "$@"; do "$d" sync docs --timeout 1 >/dev/null 2>&1 </dev/null; done; }
partition() { rm "$work/store" && touch "$work/store"; }
heal() { rm "$work/store" && ln -s store.real "$work/store"; }
# all_same: the three mounts show the same tree; show_diff: how B and C differ from A.
all_same() { same_tree "$ma" "$mb" && same_tree "$ma" "$mc"; }
show_diff()
{
	diag "B vs A:" "$(diff <(tree_listing "$ma") <(tree_listing "$mb"))" \
		"C vs A:" "$(diff <(tree_listing "$ma") <(tree_listing "$mc"))"
}
# remount_unchanged N MP HOME: after a round on every device, device N's remount (at MP, its
# SEALSYNC_HOME being HOME) and another round leave every tree as it was (one check).
remount_unchanged()
{
	local n=$1 mp=$2 h=$3 sig
	sig=$(tree_listing "$ma")
	sync_all A B C
	SEALSYNC_HOME=$h remount docs "$mp" || bail "remount of $n failed"
	sync_all A B C
	if [ "$(tree_listing "$mp")" = "$sig" ] && all_same; then
		pass "after $n's remount and a round on every device the trees are unchanged"
	else
		fail "after $n's remount and a round on every device the trees are unchanged"
		show_diff
	fi
}
# names DIR: the entries of DIR, one line.
names() { (cd "$1" 2>/dev/null && ls -1 | tr '\n' ' '); }

# tree_listing MOUNT: every path under MOUNT but sealsync's own (type, and a file's sha256),
# sorted; same_tree M1 M2: the two listings are equal (a script may define its own).
tree_listing()
{
	(cd "$1" && find . -mindepth 1 ! -name '.sealsync*' -printf '%y %p\n' | LC_ALL=C sort |
		while read -r t p; do
			if [ "$t" = f ]; then echo "f $p $(sha "$p")"; else echo "$t $p"; fi
		done)
}
same_tree() { [ "$(tree_listing "$1")" = "$(tree_listing "$2")" ]; }
# entry_of DEVICE SEQ: the file name of DEVICE's journal entry at SEQ in the file:// store $SD.
entry_of()
{
	find "$SD/journal/$1" -maxdepth 1 -type f -name "$(printf '%016x' "$2")-*" -printf '%f\n'
}
# journal_seq HOME: the journal seq `status` reports for region docs of HOME.
journal_seq() { SEALSYNC_HOME=$1 "$SEALSYNC_BIN" status docs --json 2>/dev/null | jq -r .journal_seq; }
