#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Mount benchmark (issue #2): sealsync against gocryptfs, bindfs (a bare FUSE
# passthrough, i.e. the cost of FUSE itself) and the plain directory, in one
# run, on the same disk.  Not part of `make test`; needs root (drop_caches,
# mounting) and the peers from `scripts/deps.sh --bench`.
#
#   scripts/bench/mount.sh [--size 1G] [--files 20000] [--bin build/sealsync]
#                          [--workdir DIR] [--systems plain,bindfs,gocryptfs,sealsync]
#                          [--results FILE] [--prepare-only]
#
# --prepare-only: build the inputs in WORKDIR/cache (the subset's tar, the
# random file) and exit; scripts/bench/memory.sh uses it.
# Steps, each timed with `date +%s.%N` deltas, each on a freshly mounted file
# system per system:
#   write    dd bs=1M of a pre-generated random file (page-cached, so the
#            source costs nothing) into the mount, then `sync`
#   read     dd bs=1M of that file to /dev/null, page cache dropped first
#   untar    tar xf of a fixed ~20k-file subset of Debian's linux-source, + sync
#   ls-lR    ls -lR of the tree, caches dropped first
#   readall  cat of every file, caches dropped first
#   rm-rf    rm -rf of the tree, + sync
# Before every step: sync + `echo 3 > /proc/sys/vm/drop_caches`.  If that is
# not permitted, FUSE systems are unmounted and mounted again before the read
# steps instead, and the results say so (plain then reads warm).
#
# A system whose binary is missing is skipped with a note; a step that fails
# marks that system FAIL and the run goes on with the others.  Everything
# mounted is unmounted on exit (trap).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

size=1G
files=20000
bin=$repo/build/sealsync
workdir=$repo/build-bench
systems=plain,bindfs,gocryptfs,sealsync-local,sealsync
results=
prepare_only=0
step_timeout=3600
linux_tar=/usr/src/linux-source-6.1.tar.xz

usage()
{
	sed -n '7,9p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
	case $1 in
	--size) size=${2:?}; shift 2 ;;
	--files) files=${2:?}; shift 2 ;;
	--bin) bin=${2:?}; shift 2 ;;
	--workdir) workdir=${2:?}; shift 2 ;;
	--systems) systems=${2:?}; shift 2 ;;
	--results) results=${2:?}; shift 2 ;;
	--prepare-only) prepare_only=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "mount.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
	esac
done

size_bytes=$(numfmt --from=iec "$size") || { echo "mount.sh: bad --size: $size" >&2; exit 2; }
size_mib=$((size_bytes / 1048576))
[ "$size_mib" -ge 1 ] || { echo "mount.sh: --size must be at least 1M" >&2; exit 2; }
case $files in '' | *[!0-9]*) echo "mount.sh: bad --files: $files" >&2; exit 2 ;; esac
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd)
cache=$workdir/cache
run=$workdir/run
[ -n "$results" ] || results=$workdir/results-$(date +%Y%m%d-%H%M%S).txt
IFS=, read -r -a sys_list <<<"$systems"

log() { echo "mount.sh: $*" >&2; }

# ---------------------------------------------------------------- cleanup
mounted=()	# mount points currently mounted by us

fuse_unmount()
{
	local mp=$1
	mountpoint -q "$mp" || return 0
	fusermount3 -u "$mp" 2>/dev/null || fusermount -u "$mp" 2>/dev/null ||
		umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
	# The daemons exit asynchronously; wait a little for the mount to go.
	local _
	for _ in $(seq 50); do
		mountpoint -q "$mp" || return 0
		sleep 0.1
	done
	log "could not unmount $mp"
	return 1
}

# shellcheck disable=SC2317 # invoked through the trap
cleanup()
{
	local mp
	for mp in "${mounted[@]}"; do
		fuse_unmount "$mp" || true
	done
	mounted=()
	rm -rf "$run" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# BENCH_NO_DROP_CACHES=1 forces the remount fallback (to test it).
drop_method=drop_caches
[ -z "${BENCH_NO_DROP_CACHES:-}" ] || drop_method=remount
drop_caches()
{
	sync
	if [ "$drop_method" = drop_caches ]; then
		echo 3 >/proc/sys/vm/drop_caches 2>/dev/null && return 0
		drop_method=remount
		log "cannot write /proc/sys/vm/drop_caches: remounting FUSE systems instead"
	fi
	return 1
}

# ---------------------------------------------------------------- inputs
prepare_inputs()
{
	mkdir -p "$cache"
	src=$cache/random-$size_mib.bin
	if [ ! -f "$src" ] || [ "$(stat -c %s "$src")" != $((size_mib * 1048576)) ]; then
		log "generating $size_mib MiB of random data in $src"
		dd if=/dev/urandom of="$src.tmp" bs=1M count="$size_mib" status=none
		mv "$src.tmp" "$src"
	fi

	subset=$cache/subset-$files.tar
	if [ -f "$subset" ]; then
		return 0
	fi
	if [ ! -f "$linux_tar" ]; then
		log "missing $linux_tar: run scripts/deps.sh --bench (package linux-source)"
		exit 1
	fi
	# A fixed subset: whole subtrees in this order, files sorted (C locale)
	# within each, cut at --files.  Same package version -> same subset.
	local trees="fs kernel mm net include arch/x86 drivers/net lib Documentation
		drivers/gpu sound tools"
	local top=linux-source-6.1 t
	if [ ! -f "$cache/linux/.extracted" ]; then
		log "extracting the chosen subtrees of $linux_tar (once)"
		rm -rf "$cache/linux"
		mkdir -p "$cache/linux"
		local members=()
		for t in $trees; do
			members+=("$top/$t")
		done
		tar xJf "$linux_tar" -C "$cache/linux" "${members[@]}"
		touch "$cache/linux/.extracted"
	fi
	(
		cd "$cache/linux/$top"
		for t in $trees; do
			find "$t" -type f | LC_ALL=C sort
		done | awk '!seen[$0]++' >"$cache/all.list"
	)
	# Not `| head`: under pipefail its SIGPIPE would fail the pipeline.
	sed -n "1,${files}p" "$cache/all.list" >"$cache/subset-$files.list"
	local n
	n=$(wc -l <"$cache/subset-$files.list")
	[ "$n" -eq "$files" ] || log "only $n files available (asked for $files)"
	log "writing $subset ($n files)"
	tar cf "$subset.tmp" -C "$cache/linux/$top" --no-recursion --sort=name \
		--owner=0 --group=0 --numeric-owner --mtime=@0 \
		-T "$cache/subset-$files.list" --transform 's,^,linux/,'
	mv "$subset.tmp" "$subset"
}

# ---------------------------------------------------------------- systems
# sys_setup SYS DIR: prepares SYS under DIR (once); sys_mount mounts it at
# DIR/mnt; sys_umount unmounts it.  All return non-zero on failure.
sys_available()
{
	case $1 in
	plain) return 0 ;;
	bindfs) command -v bindfs >/dev/null ;;
	gocryptfs) command -v gocryptfs >/dev/null ;;
	sealsync | sealsync-local) [ -x "$bin" ] ;;
	*) return 1 ;;
	esac
}

sys_version()
{
	case $1 in
	plain) echo "$(findmnt -n -o FSTYPE -T "$workdir") on $(findmnt -n -o SOURCE -T "$workdir")" ;;
	bindfs) bindfs --version 2>&1 | head -n1 ;;
	gocryptfs) gocryptfs -version 2>&1 | head -n1 ;;
	sealsync) echo "$("$bin" --version 2>&1 | head -n1), publishing to a file:// store on the same disk" ;;
	sealsync-local) echo "$("$bin" --version 2>&1 | head -n1), mount --no-sync (the encrypted mount alone)" ;;
	esac
}

sealsync_env()
{
	env SEALSYNC_HOME="$1/home" SEALSYNC_PASSPHRASE=x "$bin" "${@:2}"
}

sys_setup()
{
	local sys=$1 d=$2
	rm -rf "$d"
	mkdir -p "$d/mnt"
	# Called in an `if`, so set -e is off here: chain with &&.
	case $sys in
	plain | bindfs) mkdir -p "$d/back" ;;
	gocryptfs)
		# -scryptn 10: cheap KDF for a benchmark; irrelevant to throughput.
		mkdir -p "$d/cipher" && echo x >"$d/pass" &&
			gocryptfs -init -q -scryptn 10 -passfile "$d/pass" "$d/cipher" >/dev/null
		;;
	sealsync | sealsync-local)
		sealsync_env "$d" init --kdf interactive >/dev/null &&
			sealsync_env "$d" create bench >/dev/null
		;;
	esac
}

sys_mount()
{
	local sys=$1 d=$2
	case $sys in
	plain)
		rmdir "$d/mnt" 2>/dev/null || true
		ln -sfn back "$d/mnt"
		return 0
		;;
	# bindfs is built on libfuse 2: without big_writes it writes 4 KiB at a time.
	bindfs) bindfs -o big_writes "$d/back" "$d/mnt" ;;
	# -nosyslog + a log file: the daemon's messages stay out of the table.
	gocryptfs) gocryptfs -q -nosyslog -passfile "$d/pass" "$d/cipher" "$d/mnt" \
		>>"$d/gocryptfs.log" 2>&1 ;;
	sealsync) sealsync_env "$d" mount bench "$d/mnt" ;;
	sealsync-local) sealsync_env "$d" mount bench "$d/mnt" --no-sync ;;
	esac
	mountpoint -q "$d/mnt" || return 1
	mounted+=("$d/mnt")
}

sys_umount()
{
	local sys=$1 d=$2 rc=0
	[ "$sys" = plain ] && return 0
	if [[ $sys == sealsync* ]] && mountpoint -q "$d/mnt"; then
		sealsync_env "$d" umount "$d/mnt" >/dev/null 2>&1 || rc=$?
	fi
	fuse_unmount "$d/mnt" || rc=1
	local keep=() mp
	for mp in "${mounted[@]}"; do
		[ "$mp" = "$d/mnt" ] || keep+=("$mp")
	done
	mounted=("${keep[@]}")
	return $rc
}

# Before a read step: cold caches.  Without drop_caches, remount instead.
make_cold()
{
	local sys=$1 d=$2
	drop_caches && return 0
	[ "$sys" = plain ] && return 0
	sys_umount "$sys" "$d" && sys_mount "$sys" "$d"
}

# ---------------------------------------------------------------- steps
steps=(write read untar ls-lR readall rm-rf)
declare -A result

# timed STEP CMD...: runs CMD (under bash -c with a timeout), records seconds.
timed()
{
	local step=$1 t0 t1
	shift
	t0=$(now)
	if ! timeout "$step_timeout" bash -c "$1" 2>"$run/stderr"; then
		log "$cur_sys: step $step failed; first lines of its $(wc -l <"$run/stderr") on stderr:"
		head -n 5 "$run/stderr" | sed 's/^/    /' >&2
		return 1
	fi
	[ ! -s "$run/stderr" ] || sed 's/^/    /' "$run/stderr" >&2
	t1=$(now)
	result[$cur_sys,$step]=$(elapsed "$t0" "$t1")
	log "$cur_sys: $step ${result[$cur_sys,$step]} s"
}

run_system()
{
	local sys=$1 d=$run/$1 m
	cur_sys=$sys
	sys_setup "$sys" "$d" || return 1
	sys_mount "$sys" "$d" || return 1
	m=$d/mnt

	drop_caches || true
	cat "$src" >/dev/null
	timed write "dd if='$src' of='$m/big' bs=1M status=none && sync" || return 1

	make_cold "$sys" "$d" || return 1
	timed read "dd if='$m/big' of=/dev/null bs=1M status=none" || return 1
	cmp -s "$src" "$m/big" || { log "$sys: read back differs from what was written"; return 1; }
	rm -f "$m/big"
	sync

	drop_caches || true
	cat "$subset" >/dev/null
	timed untar "tar xf '$subset' -C '$m' && sync" || return 1

	make_cold "$sys" "$d" || return 1
	timed ls-lR "ls -lR '$m/linux' >/dev/null" || return 1

	make_cold "$sys" "$d" || return 1
	timed readall "find '$m/linux' -type f -exec cat {} + >/dev/null" || return 1

	drop_caches || true
	timed rm-rf "rm -rf '$m/linux' && sync" || return 1
	[ -z "$(ls -A "$m")" ] || log "$sys: mount not empty after rm -rf"

	sys_umount "$sys" "$d" || return 1
	rm -rf "$d"
}

# On failure, keep the system's own logs (they live in $run, which goes).
save_logs()
{
	local sys=$1 d=$run/$1 dest=$workdir/logs-$1 f
	note[$sys]="FAILED (see messages above)"
	rm -rf "$dest"
	for f in "$d/gocryptfs.log" "$d"/home/regions/*/mount.log; do
		[ -s "$f" ] || continue
		mkdir -p "$dest"
		cp "$f" "$dest/"
	done
	if [ -d "$dest" ]; then
		note[$sys]="FAILED (see messages above; logs in $dest)"
		log "$sys: logs saved in $dest"
	fi
}

# ---------------------------------------------------------------- main
[ "$(id -u)" = 0 ] || log "not root: drop_caches will fail and FUSE mounts may too"
prepare_inputs
if [ "$prepare_only" = 1 ]; then
	trap - EXIT
	echo "$subset"
	exit 0
fi
rm -rf "$run"
mkdir -p "$run"

declare -A status note
for sys in "${sys_list[@]}"; do
	if ! sys_available "$sys"; then
		case $sys in
		sealsync | sealsync-local) note[$sys]="skipped: $bin not built (make)" ;;
		plain | bindfs | gocryptfs) note[$sys]="skipped: $sys not installed (scripts/deps.sh --bench)" ;;
		*) note[$sys]="skipped: unknown system" ;;
		esac
		status[$sys]=skip
		log "${note[$sys]}"
		continue
	fi
	log "== $sys ($(sys_version "$sys"))"
	if run_system "$sys"; then
		status[$sys]=ok
	else
		status[$sys]=FAIL
		sys_umount "$sys" "$run/$sys" || true
		save_logs "$sys"
	fi
done

# ---------------------------------------------------------------- report
cell()
{
	local v=${result[$1,$2]:-}
	if [ -n "$v" ]; then
		echo "$v"
	elif [ "${status[$1]:-}" = skip ]; then
		echo "skip"
	elif [ "${status[$1]:-}" = FAIL ]; then
		echo "FAIL"
	else
		echo "-"
	fi
}

ratio()
{
	local a=${result[${2:-sealsync},$1]:-} b=${result[gocryptfs,$1]:-}
	if [ -n "$a" ] && [ -n "$b" ]; then
		awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'
	else
		echo "-"
	fi
}

mbps()
{
	local v=${result[$1,$2]:-}
	if [ -n "$v" ]; then
		awk -v s="$v" -v m="$size_mib" 'BEGIN { if (s > 0) printf "%.0f", m * 1.048576 / s; else print "-" }'
	else
		cell "$1" "$2"
	fi
}

nfiles=$(tar tf "$subset" | grep -vc '/$')
{
	echo "# sealsync mount benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "# host: $(uname -srm), $(nproc) CPU ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(free -g | awk '/Mem:/ { print $2 }') GiB RAM"
	echo "# workdir: $workdir ($(sys_version plain))"
	echo "# data: write/read $size_mib MiB; tree $nfiles files from $(dpkg-query -W -f='${Package} ${Version}' linux-source-6.1 2>/dev/null || echo "$linux_tar")"
	if [ "$drop_method" = drop_caches ]; then
		echo "# caches: sync + drop_caches before every step"
	else
		echo "# caches: drop_caches not permitted; FUSE systems remounted before read steps, plain read warm"
	fi
	for sys in "${sys_list[@]}"; do
		if [ "${status[$sys]:-}" = ok ]; then
			echo "# $sys: $(sys_version "$sys")"
		else
			echo "# $sys: ${note[$sys]:-not run}"
		fi
	done
	echo "# times in seconds (lower is better); local = mount --no-sync; ratios to gocryptfs"
	echo
	fmt="%-16s | %9s | %9s | %9s | %9s | %9s | %11s | %11s\n"
	# shellcheck disable=SC2059
	printf "$fmt" step plain bindfs gocryptfs local sealsync local/gocfs sealsync/gocfs
	# shellcheck disable=SC2059
	printf "$fmt" "----------------" --------- --------- --------- --------- --------- ----------- -----------
	for step in "${steps[@]}"; do
		label=$step
		case $step in
		write) label="write $size_mib MiB" ;;
		read) label="read $size_mib MiB" ;;
		untar) label="untar $nfiles" ;;
		esac
		# shellcheck disable=SC2059
		printf "$fmt" "$label" "$(cell plain "$step")" "$(cell bindfs "$step")" \
			"$(cell gocryptfs "$step")" "$(cell sealsync-local "$step")" \
			"$(cell sealsync "$step")" "$(ratio "$step" sealsync-local)" "$(ratio "$step")"
	done
	for step in write read; do
		# shellcheck disable=SC2059
		printf "$fmt" "$step MB/s" "$(mbps plain $step)" "$(mbps bindfs $step)" \
			"$(mbps gocryptfs $step)" "$(mbps sealsync-local $step)" "$(mbps sealsync $step)" "" ""
	done
} | tee "$results"
echo
echo "results written to $results"

rc=0
for sys in "${sys_list[@]}"; do
	[ "${status[$sys]:-}" != FAIL ] || rc=1
done
exit $rc
