#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs every Debian 12 package that sealsync's build and tests need.
#
#   scripts/deps.sh           build + test dependencies
#   scripts/deps.sh --bench   also the benchmark peers (scripts/bench/mount.sh)
#
# Idempotent: packages already installed are not touched, and apt-get runs only
# when something is missing.  Exits non-zero on any failure.  Runs apt-get
# through sudo only when not root.  Also makes sure /dev/fuse is usable.
set -eu

usage()
{
	echo "usage: $0 [--bench]" >&2
	exit 2
}

bench=0
for arg in "$@"; do
	case $arg in
	--bench) bench=1 ;;
	-h | --help)
		echo "usage: $0 [--bench]"
		exit 0
		;;
	*) usage ;;
	esac
done

# Build, unit tests (cmocka), integration tests (prove, FUSE tools, attr,
# inotify), fuzzing (clang), analysis, formatting, man page rendering.
# python3-swift and memcached are for issue #3's store tests; spin checks the
# protocol model (doc/model/, scripts/model.sh).  systemd (systemd-analyze)
# and passwd (useradd) are for 71-mount-options.t; zsh and bash-completion for
# the completion checks of 70-packaging.t.
PKGS="build-essential pkg-config libfuse3-dev fuse3 libsodium-dev
libcurl4-openssl-dev libssl-dev libsqlite3-dev sqlite3 libcmocka-dev clang clang-format
cppcheck perl rsync git tar attr inotify-tools xxd python3 procps psmisc
util-linux man-db groff-base kmod jq curl bc python3-swift memcached spin
systemd passwd zsh bash-completion"

# Benchmark peers: gocryptfs, securefs and bindfs (scripts/bench/mount.sh),
# rclone and restic (sync.sh), cryfs for later comparisons; fio for
# mount.sh's 4 KiB random I/O; linux-source for the untar workload.
BENCH_PKGS="gocryptfs bindfs linux-source cryfs securefs rclone restic xz-utils fio"

if [ "$bench" = 1 ]; then
	PKGS="$PKGS $BENCH_PKGS"
fi

SUDO=
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO=sudo
	else
		echo "deps.sh: not root and sudo is missing" >&2
		exit 1
	fi
fi

export DEBIAN_FRONTEND=noninteractive

missing=
for p in $PKGS; do
	# "install ok installed" only; half-installed or removed packages count
	# as missing so apt-get repairs them.
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case $st in
	*"ok installed") ;;
	*) missing="$missing $p" ;;
	esac
done

if [ -n "$missing" ]; then
	echo "deps.sh: installing:$missing"
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086 # word splitting of the package list is wanted
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends -o Dpkg::Use-Pty=0 $missing >/dev/null
	echo "deps.sh: installed:$missing"
else
	echo "deps.sh: all $(echo "$PKGS" | wc -w) packages already installed"
fi

# FUSE: the module (often built in, or loaded by the host) and the device node.
if [ ! -e /dev/fuse ]; then
	$SUDO modprobe fuse 2>/dev/null || true
	if [ -e /dev/fuse ]; then
		echo "deps.sh: loaded the fuse module"
	fi
fi
if [ ! -e /dev/fuse ]; then
	# The module may be loaded inside a container without the node.
	if $SUDO mknod -m 0666 /dev/fuse c 10 229 2>/dev/null; then
		echo "deps.sh: created /dev/fuse"
	fi
fi
if [ -c /dev/fuse ]; then
	if [ -r /dev/fuse ] && [ -w /dev/fuse ]; then
		echo "deps.sh: /dev/fuse is usable"
	else
		echo "deps.sh: WARNING: /dev/fuse is not readable and writable by $(id -un);" \
			"FUSE mounts will fail (try: sudo chmod 0666 /dev/fuse)" >&2
	fi
else
	echo "deps.sh: WARNING: /dev/fuse is missing; FUSE integration tests will skip" >&2
fi

# fusermount3 must be setuid root for non-root users to mount.
fm=$(command -v fusermount3 || true)
if [ -n "$fm" ] && [ "$(id -u)" != 0 ] && [ ! -u "$fm" ]; then
	echo "deps.sh: WARNING: $fm is not setuid root; non-root mounts will fail" >&2
fi

exit 0
