#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Sync benchmark (issue #3): sealsync against rclone (a crypt remote over an
# S3 remote) and restic (Debian's packages), in one run, against the same local
# S3 server (OpenStack Swift + s3api, scripts/s3-server.sh).  Each tool talks
# to it through its own counting proxy (tests/tools/s3proxy.py), reset before
# every step, so requests and bytes are counted per tool and per step.  Not
# part of `make test`; wants root (drop_caches, FUSE) and the peers from
# `scripts/deps.sh --bench`.
#
#   scripts/bench/sync.sh [--small] [--files N] [--size 1G] [--bin build/sealsync]
#                         [--tools sealsync,rclone,restic] [--workdir DIR]
#                         [--results FILE] [--tls] [--keep] [--only STEPS]
#
# --small: a smoke run (--files 500 --size 64M).  --keep: keep the run's
# directory (Swift's objects, the logs, the daemons' mount.log) in WORKDIR/run-sync.
# --tls: every tool over HTTPS (a TLS hop in front of its proxy); without
# it only restic is, because it has to be (see tls_for below).  --only:
# the steps to run, a comma list of a, b, c, d (default all; c needs b, d
# needs a; without a and d the tree is not even prepared).
#
# Data: scripts/bench/mount.sh's inputs, from the same cache (WORKDIR/cache):
# the fixed ~20k-file subset of Debian's linux-source, extracted once per run
# to a local directory, and a file of random bytes (--size).
#
# Steps, for each tool, each timed with `date +%s.%N` deltas, with
# `sync; echo 3 > /proc/sys/vm/drop_caches` before it and the step's local
# source read once afterwards (so every tool reads it from the page cache):
#   (a) tree     initial upload of the tree.  sealsync: `cp -a` into the
#                mounted region, then `sealsync sync` (commit, upload, and
#                wait); rclone: `rclone copy`; restic: `restic backup`.
#   (d) new device, run right after (a) so that every tool's new device
#                fetches the same data (the tree, and only the tree):
#       first    the first file of the tree readable.  sealsync: a second,
#                already enrolled device (own SEALSYNC_HOME, own proxy)
#                mounts; time from `sealsync mount` until that file reads
#                back right; rclone: `rclone cat`; restic: `restic restore
#                --include` that file (a fresh cache: a new device has none).
#       tree     the whole tree there and right (sha256 of every file).
#                sealsync: the same mount, until `sealsync sync` returns
#                (the counts are from the mount on, so include "first");
#                rclone: `rclone copy` to a new directory; restic: `restic
#                restore` (fresh cache again).
#   (b) big      the random file.  sealsync: `cp` into the mount + `sealsync
#                sync`; rclone: `rclone copy` of the file; restic: `restic
#                backup` of the file.
#   (c) 1 byte   one byte in the middle of it changed in place (dd
#                conv=notrunc), then published: sealsync: `sealsync sync`;
#                rclone: `rclone copy` again (it re-uploads the file); restic:
#                `restic backup` again.
# restic reaches its proxy over HTTPS, through a TLS hop (see tls_for): over
# plain HTTP its S3 client sends uploads in a framing this Swift refuses.
# sealsync's steps are done when `sealsync sync` returns; afterwards the run
# also checks that the outbox is empty and no PUT/POST comes for 5 s, and
# says so if one came late.  Counted: every request the tool sent (listings,
# its own polling included), request bodies up, response bodies down.
#
# Results: a Markdown table per step, with the ratios sealsync/rclone and
# sealsync/restic, whether the issue's bar holds, and the raw counters, in
# WORKDIR/sync-<date>.md.  A tool whose binary is missing is skipped; a step
# that fails is marked FAIL (with its first error line) and the run goes on.
# Mounts, proxies and Swift are stopped on exit (trap).
#
# The run_<tool> functions, and what they call, are reached through
# "run_$tool" and the EXIT trap, which shellcheck cannot follow:
# shellcheck disable=SC2317
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

size=1G
files=20000
bin=$repo/build/sealsync
workdir=$repo/build-bench
tools=sealsync,rclone,restic
results=
keep=0
tls=restic
step_timeout=3600
only=a,b,c,d
linux_tar=/usr/src/linux-source-6.1.tar.xz
PY=/usr/bin/python3 # Debian's python3-swift lives in the system Python

usage()
{
	sed -n '10,19p' "$0" | sed 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
	case $1 in
	--small) files=500 size=64M; shift ;;
	--files) files=${2:?}; shift 2 ;;
	--size) size=${2:?}; shift 2 ;;
	--bin) bin=${2:?}; shift 2 ;;
	--tools) tools=${2:?}; shift 2 ;;
	--workdir) workdir=${2:?}; shift 2 ;;
	--results) results=${2:?}; shift 2 ;;
	--keep) keep=1; shift ;;
	--tls) tls=all; shift ;;
	--only) only=${2:?}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) echo "sync.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
	esac
done

# want STEP: STEP (a, b, c or d) was selected with --only.
want() { [[ ",$only," == *",$1,"* ]]; }
IFS=, read -r -a only_list <<<"$only"
for t in "${only_list[@]}"; do
	case $t in a | b | c | d) ;; *) echo "sync.sh: --only: unknown step: $t (a, b, c, d)" >&2; exit 2 ;; esac
done
{ want c && ! want b; } && { echo "sync.sh: --only: step c needs step b" >&2; exit 2; }
{ want d && ! want a; } && { echo "sync.sh: --only: step d needs step a" >&2; exit 2; }
# want_tree: a step that uses the tree (a, d) was selected.
want_tree() { want a || want d; }

size_bytes=$(numfmt --from=iec "$size") || { echo "sync.sh: bad --size: $size" >&2; exit 2; }
size_mib=$((size_bytes / 1048576))
[ "$size_mib" -ge 1 ] || { echo "sync.sh: --size must be at least 1M" >&2; exit 2; }
case $files in '' | *[!0-9]* | 0) echo "sync.sh: bad --files: $files" >&2; exit 2 ;; esac
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
mkdir -p "$workdir"
workdir=$(cd "$workdir" && pwd)
cache=$workdir/cache
run=$workdir/run-sync
[ -n "$results" ] || results=$workdir/sync-$(date +%Y%m%d-%H%M%S).md
IFS=, read -r -a tool_list <<<"$tools"
for t in "${tool_list[@]}"; do
	case $t in sealsync | rclone | restic) ;; *) echo "sync.sh: unknown tool: $t" >&2; exit 2 ;; esac
done

log() { echo "sync.sh: $*" >&2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

for c in jq curl timeout sha256sum; do
	command -v "$c" >/dev/null || { log "missing command: $c (scripts/deps.sh)"; exit 1; }
done
if ! $PY -c 'import swift' 2>/dev/null || ! command -v memcached >/dev/null; then
	log "python3-swift or memcached is not installed (scripts/deps.sh): no S3 server"
	exit 1
fi

# ---------------------------------------------------------------- cleanup
mounted=()	# mount points currently mounted by us
proxy_pids=()	# s3proxy.py instances we started
s3_started=0

in_mountinfo()
{
	awk -v mp="$1" '$5 == mp { f = 1 } END { exit !f }' /proc/self/mountinfo
}

fuse_unmount()
{
	local mp=$1 _
	in_mountinfo "$mp" || return 0
	fusermount3 -u "$mp" 2>/dev/null || fusermount3 -u -z "$mp" 2>/dev/null ||
		umount -l "$mp" 2>/dev/null || true
	for _ in $(seq 50); do
		in_mountinfo "$mp" || return 0
		sleep 0.1
	done
	log "could not unmount $mp"
	return 1
}

cleanup()
{
	local mp p
	trap - EXIT
	# Mounts first, while the store still answers (the daemons finish).
	for mp in "${mounted[@]}"; do
		if in_mountinfo "$mp"; then
			timeout 30 "$bin" umount "$mp" >/dev/null 2>&1 </dev/null || true
			fuse_unmount "$mp" || true
		fi
	done
	mounted=()
	for p in "${proxy_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${proxy_pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	proxy_pids=()
	if [ "$s3_started" = 1 ]; then
		"$repo/scripts/s3-server.sh" stop "$run/s3" >/dev/null 2>&1 || true
		s3_started=0
	fi
	if [ "$keep" = 1 ]; then
		log "--keep: left $run"
	elif grep -qF " $run/" /proc/self/mountinfo; then
		log "something is still mounted under $run; not removing it"
	else
		rm -rf "$run"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

drop_method=drop_caches
drop_caches()
{
	sync
	if [ "$drop_method" = drop_caches ]; then
		echo 3 >/proc/sys/vm/drop_caches 2>/dev/null && return 0
		drop_method=none
		log "cannot write /proc/sys/vm/drop_caches: caches are not dropped between steps"
	fi
	return 0
}

# warm PATH...: reads PATH (files or trees) once, into the page cache.
warm()
{
	find "$@" -type f -print0 | xargs -0 -r cat >/dev/null
}

# ---------------------------------------------------------------- inputs
# The same inputs, cache and names as scripts/bench/mount.sh (keep in step).
prepare_inputs()
{
	mkdir -p "$cache"
	big_src=$cache/random-$size_mib.bin
	if [ ! -f "$big_src" ] || [ "$(stat -c %s "$big_src")" != $((size_mib * 1048576)) ]; then
		log "generating $size_mib MiB of random data in $big_src"
		dd if=/dev/urandom of="$big_src.tmp" bs=1M count="$size_mib" status=none
		mv "$big_src.tmp" "$big_src"
	fi

	subset=$cache/subset-$files.tar
	if ! want_tree || { [ -f "$subset" ] && [ -f "$cache/subset-$files.list" ]; }; then
		return 0
	fi
	if [ ! -f "$linux_tar" ]; then
		log "missing $linux_tar: run scripts/deps.sh --bench (package linux-source)"
		exit 1
	fi
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

# The local source: $src/linux (the tree) and $src/big.bin (a copy of the
# random file, changed in step c, so copied afresh for every tool).
src=
probe=		# the tree's first file, relative to $src
tree_files=0
tree_bytes=0
change_off=0
change_byte=	# the new byte, as a printf %b escape
prepare_source()
{
	src=$run/src
	mkdir -p "$src"
	if want_tree; then
		tar xf "$subset" -C "$src"
		probe=linux/$(sed -n 1p "$cache/subset-$files.list")
		[ -f "$src/$probe" ] || { log "probe file $probe missing from the tree"; exit 1; }
		(cd "$src" && find linux -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) >"$run/tree.sha256"
		tree_files=$(wc -l <"$run/tree.sha256")
		tree_bytes=$(find "$src/linux" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	fi
	# One byte in the middle, off any 4 KiB or 64 KiB boundary; the new
	# value differs from the old.
	change_off=$((size_bytes / 2 + 12345))
	local old
	old=$(od -An -tu1 -j "$change_off" -N1 "$big_src" | tr -d ' ')
	change_byte=$(printf '\\%03o' $(((old + 1) % 256)))
}

fresh_big() { cp "$big_src" "$src/big.bin"; }
# change_byte FILE: the one-byte change, in place.
change_one_byte()
{
	printf '%b' "$change_byte" | dd of="$1" bs=1 seek="$change_off" conv=notrunc status=none
}
# tree_ok DIR: DIR/linux holds exactly the tree, byte for byte.
tree_ok()
{
	local n
	n=$(find "$1/linux" -type f 2>/dev/null | wc -l)
	[ "$n" = "$tree_files" ] || return 1
	(cd "$1" && sha256sum -c --quiet --strict "$run/tree.sha256" >/dev/null 2>&1)
}

# ---------------------------------------------------------------- S3, proxies
s3_upstream=
bucket=bench
start_s3()
{
	if ! S3_BUCKET=$bucket "$repo/scripts/s3-server.sh" start "$run/s3" >"$run/s3.env" 2>"$run/s3.err"; then
		log "scripts/s3-server.sh start failed:"
		sed 's/^/    /' "$run/s3.err" >&2
		exit 1
	fi
	s3_started=1
	local ep
	ep=$(sed -n 's/^AWS_ENDPOINT_URL=//p' "$run/s3.env")
	s3_upstream=${ep#http://}
	! grep -q 'in-memory' "$run/s3.err" || log "note: Swift uses its in-memory object server (no user xattrs)"
	export AWS_ACCESS_KEY_ID=test:tester AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
	# AWS_CA_BUNDLE: rclone's S3 client refuses to start with it set ("unable
	# to load custom CA bundle"); sealsync gets our certificate with --tls.
	unset AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 AWS_PROFILE AWS_SESSION_TOKEN AWS_S3_ADDRESSING_STYLE \
		AWS_DEFAULT_REGION AWS_CA_BUNDLE
}

declare -A proxy_url endpoint
# start_proxy NAME: a counting proxy in front of Swift, for NAME alone; sets
# proxy_url[NAME] (the proxy, for its counters) and endpoint[NAME] (what the
# tool is given: the proxy, or the TLS hop in front of it, see tls_for).
start_proxy()
{
	local name=$1 pf=$run/proxy-$1.port _ pid
	rm -f "$pf"
	# --keep: every request logged, with its time (logs/proxy-NAME.log).
	local logopt=()
	[ "$keep" = 0 ] || logopt=(--log "$run/logs/proxy-$name.log")
	$PY "$repo/tests/tools/s3proxy.py" --listen 0 --upstream "$s3_upstream" --port-file "$pf" \
		"${logopt[@]}" </dev/null >/dev/null 2>"$run/logs/proxy-$name.err" &
	pid=$!
	proxy_pids+=("$pid")
	for _ in $(seq 100); do
		[ -s "$pf" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ ! -s "$pf" ]; then
		log "s3proxy.py did not start:"
		sed 's/^/    /' "$run/logs/proxy-$name.err" >&2
		exit 1
	fi
	proxy_url[$name]=http://127.0.0.1:$(cat "$pf")
	endpoint[$name]=${proxy_url[$name]}
	tls_for "$name" || return 0
	# The TLS hop: https://127.0.0.1:PORT -> the proxy, byte for byte.
	pf=$run/hop-$name.port
	$PY "$run/tlshop.py" "$pf" "$run/tls/cert.pem" "$run/tls/key.pem" "${proxy_url[$name]##*:}" \
		</dev/null >/dev/null 2>"$run/logs/hop-$name.err" &
	pid=$!
	proxy_pids+=("$pid")
	for _ in $(seq 100); do
		[ -s "$pf" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if [ ! -s "$pf" ]; then
		log "the TLS hop did not start:"
		sed 's/^/    /' "$run/logs/hop-$name.err" >&2
		exit 1
	fi
	endpoint[$name]=https://127.0.0.1:$(cat "$pf")
}

# restic's S3 client (minio-go) signs PUTs over plain HTTP as aws-chunked
# (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), which Swift 2.30's s3api refuses
# ("Transfering payloads in multiple chunks using aws-chunked is not
# supported"); over HTTPS it sends plain bodies.  So restic reaches its proxy
# through a TLS hop (self-signed certificate; asyncio, in the system Python),
# and with --tls every tool does.
tls_for() { [ "$tls" = all ] || [ "$1" = restic ]; }
setup_tls()
{
	mkdir -p "$run/tls"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$run/tls/key.pem" -out "$run/tls/cert.pem" -days 7 -subj /CN=127.0.0.1 \
		-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>"$run/logs/openssl.err" || {
		log "openssl cannot make a certificate:"
		sed 's/^/    /' "$run/logs/openssl.err" >&2
		exit 1
	}
	cat >"$run/tlshop.py" <<'PYEOF'
# tlshop.py PORT_FILE CERT KEY UPSTREAM_PORT: TLS on a free port of
# 127.0.0.1 (written to PORT_FILE), forwarded as plain TCP to UPSTREAM_PORT.
import asyncio, os, ssl, sys

async def pipe(r, w):
    try:
        while True:
            d = await r.read(1 << 18)
            if not d:
                break
            w.write(d)
            await w.drain()
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    finally:
        try:
            w.close()
        except Exception:
            pass

async def handle(cr, cw, up):
    try:
        ur, uw = await asyncio.open_connection("127.0.0.1", up)
    except OSError:
        cw.close()
        return
    await asyncio.gather(pipe(cr, uw), pipe(ur, cw))

async def main():
    port_file, cert, key, up = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = await asyncio.start_server(lambda r, w: handle(r, w, up), "127.0.0.1", 0,
                                     ssl=ctx, backlog=256)
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % srv.sockets[0].getsockname()[1])
    os.rename(port_file + ".tmp", port_file)
    async with srv:
        await srv.serve_forever()

asyncio.run(main())
PYEOF
}
pstats() { curl -sf --max-time 10 "${proxy_url[$1]}/__proxy/stats"; }
preset() { curl -sf --max-time 10 -X POST -o /dev/null "${proxy_url[$1]}/__proxy/reset"; }

# ---------------------------------------------------------------- results
# Per tool and step: time (s), stats (the proxy's JSON), note.
declare -A r_time r_stats r_note r_status
steps=(a d1 d2 b c)
declare -A step_title=(
	[a]="(a) initial upload of the tree"
	[b]="(b) upload of the big file"
	[c]="(c) a 1-byte change in the big file"
	[d1]="(d) new device: the first file readable"
	[d2]="(d) new device: the whole tree"
)
cur_tool=
cur_step=
t_begin=

# begin STEP PROXY WARM...: drops caches, reads WARM into the page cache,
# resets the proxy's counters, starts the clock.
begin()
{
	cur_step=$1
	cur_proxy=$2
	shift 2
	log "$cur_tool: step ${step_title[$cur_step]}"
	drop_caches
	[ $# -eq 0 ] || warm "$@"
	preset "$cur_proxy"
	t_begin=$(now)
}
# finish [NOTE]: stops the clock, records the time and the counters.
finish()
{
	local t1
	t1=$(now)
	r_time[$cur_tool,$cur_step]=$(elapsed "$t_begin" "$t1")
	r_stats[$cur_tool,$cur_step]=$(pstats "$cur_proxy")
	r_status[$cur_tool,$cur_step]=ok
	[ -z "${1:-}" ] || add_note "$1"
	log "$cur_tool: ${r_time[$cur_tool,$cur_step]} s, $(jq -c '{requests, bytes_up, bytes_down}' <<<"${r_stats[$cur_tool,$cur_step]}")"
}
add_note()
{
	local k=$cur_tool,$cur_step
	r_note[$k]=${r_note[$k]:+${r_note[$k]}; }$1
}
# failed MSG [ERRFILE]: marks the current step FAIL with MSG and the first
# line of ERRFILE; returns 1.
failed()
{
	local msg=$1 first=
	[ -z "${2:-}" ] || [ ! -s "$2" ] || first=$(grep -m1 -v '^[[:space:]]*$' "$2" | cut -c1-200)
	r_status[$cur_tool,$cur_step]=FAIL
	add_note "FAIL: $msg${first:+: $first}"
	log "$cur_tool: step ${step_title[$cur_step]} FAILED: $msg"
	[ -z "${2:-}" ] || [ ! -s "$2" ] || head -n 5 "$2" | sed 's/^/    /' >&2
	return 1
}
# skipped STEP MSG
skipped()
{
	r_status[$cur_tool,$1]=skip
	r_note[$cur_tool,$1]=$2
}
# tmo CMD...: CMD under the step timeout, stdin from /dev/null.  CMD may be
# one of the wrappers below (SA, SB, R, Rs), which put $TMO in front.
tmo()
{
	if declare -F "$1" >/dev/null; then
		local TMO="timeout -k 30 $step_timeout"
		"$@" </dev/null
	else
		timeout -k 30 "$step_timeout" "$@" </dev/null
	fi
}

# ---------------------------------------------------------------- sealsync
# Device A writes, device B is the new device; each with its own home and
# its own proxy (the endpoint is taken from the environment at mount time).
# shellcheck disable=SC2086 # $TMO: empty or "timeout -k K T"
SA()
{
	${TMO:-} env SEALSYNC_HOME="$run/sealsync/homeA" SEALSYNC_PASSPHRASE=x \
		AWS_ENDPOINT_URL="${endpoint[sealsync]}" ${ss_ca:+AWS_CA_BUNDLE="$ss_ca"} "$bin" "$@"
}
# shellcheck disable=SC2086
SB()
{
	${TMO:-} env SEALSYNC_HOME="$run/sealsync/homeB" SEALSYNC_PASSPHRASE=x \
		AWS_ENDPOINT_URL="${endpoint[sealsync-new]}" ${ss_ca:+AWS_CA_BUNDLE="$ss_ca"} "$bin" "$@"
}

ss_mount()
{
	local who=$1 mp=$2 _
	mkdir -p "$mp"
	mounted+=("$mp")
	"S$who" mount bench "$mp" </dev/null >"$run/logs/sealsync-mount-$who.out" 2>&1 || return 1
	for _ in $(seq 200); do
		in_mountinfo "$mp" && return 0
		sleep 0.1
	done
	return 1
}
ss_umount()
{
	local who=$1 mp=$2 rc=0
	if in_mountinfo "$mp"; then
		TMO="timeout 120" "S$who" umount "$mp" </dev/null >/dev/null 2>&1 || rc=1
	fi
	fuse_unmount "$mp" || rc=1
	return "$rc"
}

# ss_sync WHO LOGNAME: `sealsync sync` with no timeout of its own; JSON kept.
ss_sync()
{
	tmo "S$1" sync bench --timeout 0 --json >"$run/logs/$2.json" 2>"$run/logs/$2.err"
}

# ss_settle: after `sealsync sync` returned, checks that the outbox is empty
# and that no PUT or POST reaches the proxy for 5 s (at most 120 s); notes it
# if uploads came after sync returned (their requests are then counted too).
ss_settle()
{
	local k=$cur_tool,$cur_step n0 n last=-1 stable=0 _ st
	n0=$(jq '(.by_method.PUT // 0) + (.by_method.POST // 0)' <<<"${r_stats[$k]}")
	for _ in $(seq 120); do
		st=$(pstats sealsync)
		n=$(jq '(.by_method.PUT // 0) + (.by_method.POST // 0)' <<<"$st")
		if [ -z "$(ls -A "$ss_rdir/outbox" 2>/dev/null)" ] && [ "$n" = "$last" ]; then
			stable=$((stable + 1))
		else
			stable=0
		fi
		last=$n
		[ "$stable" -lt 5 ] || break
		sleep 1
	done
	if [ "$stable" -lt 5 ]; then
		add_note "outbox not empty or uploads still going 120 s after sync returned"
		log "sealsync: outbox not settled after sync returned: $(find "$ss_rdir/outbox" -mindepth 1 -maxdepth 1 -printf '%f ' 2>/dev/null | cut -c1-300)"
	elif [ "$n" != "$n0" ]; then
		add_note "$((n - n0)) PUT/POST after sync returned (counted)"
		r_stats[$k]=$st
	fi
}

ss_rdir=
ss_ca=
run_sealsync()
{
	local d=$run/sealsync ma mb rid code devb jpid _ e=$run/logs/sealsync-setup.err
	ma=$d/a
	mb=$d/b
	mkdir -p "$d"
	start_proxy sealsync
	start_proxy sealsync-new
	! tls_for sealsync || ss_ca=$run/tls/cert.pem

	# Setup, not timed: device A, the region on S3, device B enrolled.
	cur_step=a
	{
		SA init --kdf interactive --name devA &&
			SA create bench --store "s3://$bucket/sealsync" &&
			SB init --kdf interactive --name devB
	} </dev/null >"$run/logs/sealsync-setup.out" 2>"$e" || { failed "setup (init/create)" "$e"; return 1; }
	rid=$(SA list --json 2>/dev/null | jq -r '.[] | select(.name == "bench") | .region_id')
	[ -n "$rid" ] || { failed "no region id in 'sealsync list --json'"; return 1; }
	ss_rdir=$d/homeA/regions/$rid
	if want d; then
		code=$(SA invite bench --json </dev/null 2>>"$e" | jq -r .code) || { failed "invite" "$e"; return 1; }
		devb=$(SB id --json </dev/null 2>>"$e" | jq -r .device_id) || { failed "id" "$e"; return 1; }
		SB join bench "s3://$bucket/sealsync" "$rid" --code "$code" --timeout 120 \
			</dev/null >"$run/logs/sealsync-join.out" 2>&1 &
		jpid=$!
		for _ in $(seq 200); do
			SA requests bench 2>/dev/null </dev/null | grep -q "$devb" && break
			sleep 0.3
		done
		SA approve bench "$devb" </dev/null >>"$run/logs/sealsync-setup.out" 2>>"$e" || { failed "approve" "$e"; return 1; }
		wait "$jpid" || { failed "join" "$run/logs/sealsync-join.out"; return 1; }
	fi
	ss_mount A "$ma" || { failed "mount on device A" "$run/logs/sealsync-mount-A.out"; return 1; }

	# (a) the tree
	local ok_a=0
	if want a; then
		begin a sealsync "$src/linux"
		if ! tmo cp -a "$src/linux" "$ma/" 2>"$run/logs/sealsync-a.err"; then
			failed "cp -a into the mount" "$run/logs/sealsync-a.err"
		elif ! ss_sync A sealsync-a; then
			failed "sealsync sync" "$run/logs/sealsync-a.err"
		else
			finish
			ss_settle
			ok_a=1
		fi
	fi

	# (d) the new device B: mount, the first file, then the whole tree.
	if ! want d; then
		:
	elif [ "$ok_a" = 1 ]; then
		run_sealsync_new "$mb"
	else
		skipped d1 "not run: (a) failed"
		skipped d2 "not run: (a) failed"
	fi

	# (b) the big file
	local ok_b=0
	if want b; then
		fresh_big
		begin b sealsync "$src/big.bin"
		if ! tmo cp "$src/big.bin" "$ma/big.bin" 2>"$run/logs/sealsync-b.err"; then
			failed "cp into the mount" "$run/logs/sealsync-b.err"
		elif ! ss_sync A sealsync-b; then
			failed "sealsync sync" "$run/logs/sealsync-b.err"
		else
			finish
			ss_settle
			ok_b=1
		fi
	fi

	# (c) one byte
	if ! want c; then
		:
	elif [ "$ok_b" = 1 ]; then
		begin c sealsync
		if ! change_one_byte "$ma/big.bin" 2>"$run/logs/sealsync-c.err"; then
			failed "dd into the mount" "$run/logs/sealsync-c.err"
		elif ! ss_sync A sealsync-c; then
			failed "sealsync sync" "$run/logs/sealsync-c.err"
		else
			finish
			ss_settle
			change_one_byte "$src/big.bin"
			cmp -s "$src/big.bin" "$ma/big.bin" || add_note "the file reads back WRONG on device A"
		fi
	else
		skipped c "not run: (b) failed"
	fi
	cur_step=c
	ss_umount A "$ma" || add_note "umount on device A failed"
}

# run_sealsync_new MP: (d) on device B.  A prober records when the first file
# reads back right (and the counters then) while `sealsync sync` pulls.
run_sealsync_new()
{
	local mb=$1 ppid t_first k1 k2 ok=1
	k1=sealsync,d1
	k2=sealsync,d2
	cur_step=d1
	begin d1 sealsync-new
	cur_step=d2
	if ! ss_mount B "$mb"; then
		failed "mount on device B" "$run/logs/sealsync-mount-B.out"
		cur_step=d1
		failed "mount on device B"
		return 0
	fi
	(
		end=$(($(date +%s) + step_timeout))
		until cmp -s "$mb/$probe" "$src/$probe" 2>/dev/null; do
			[ "$(date +%s)" -lt "$end" ] || exit 1
			sleep 0.05
		done
		now >"$run/first.time"
		pstats sealsync-new >"$run/first.stats"
	) &
	ppid=$!
	if ! ss_sync B sealsync-d; then
		failed "sealsync sync on device B" "$run/logs/sealsync-d.err"
		ok=0
	fi
	local t_sync
	t_sync=$(now)
	r_stats[$k2]=$(pstats sealsync-new)
	# The whole tree should be there when sync returns; if not, wait (<= 600 s).
	if [ "$ok" = 1 ]; then
		if tree_ok "$mb"; then
			r_time[$k2]=$(elapsed "$t_begin" "$t_sync")
			r_status[$k2]=ok
		else
			local end=$(($(date +%s) + 600))
			while ! tree_ok "$mb" && [ "$(date +%s)" -lt "$end" ]; do
				sleep 2
			done
			if tree_ok "$mb"; then
				r_time[$k2]=$(elapsed "$t_begin" "$(now)")
				r_stats[$k2]=$(pstats sealsync-new)
				r_status[$k2]=ok
				add_note "the tree was not complete when sync returned ($(elapsed "$t_begin" "$t_sync") s); time until it was (checked every ~2 s)"
			else
				failed "the tree is not complete or not right 600 s after sync returned"
			fi
		fi
		[ "${r_status[$k2]}" != ok ] || log "sealsync: whole tree on B after ${r_time[$k2]} s"
	fi
	cur_step=d1
	# The prober is done by now, unless the file never came.
	local _
	for _ in $(seq 50); do
		kill -0 "$ppid" 2>/dev/null || break
		sleep 0.1
	done
	kill "$ppid" 2>/dev/null || true
	if wait "$ppid" && [ -s "$run/first.time" ]; then
		t_first=$(cat "$run/first.time")
		r_time[$k1]=$(elapsed "$t_begin" "$t_first")
		r_stats[$k1]=$(cat "$run/first.stats")
		r_status[$k1]=ok
		add_note "from \`sealsync mount\` until $probe reads back right"
		log "sealsync: first file on B after ${r_time[$k1]} s"
	else
		failed "$probe never read back right"
	fi
	cur_step=d2
	add_note "from \`sealsync mount\` until \`sealsync sync\` returned, the tree checked (counts include the first file)"
	ss_umount B "$mb" || add_note "umount on device B failed"
}

# ---------------------------------------------------------------- rclone
# shellcheck disable=SC2086
R() { ${TMO:-} rclone --config "$run/rclone/rclone.conf" ${rc_ca:+--ca-cert "$rc_ca"} "$@"; }
rc_ca=
run_rclone()
{
	local d=$run/rclone e
	mkdir -p "$d"
	start_proxy rclone
	! tls_for rclone || rc_ca=$run/tls/cert.pem
	cur_step=a
	{
		cat <<EOF
[s3]
type = s3
provider = Other
env_auth = false
access_key_id = $AWS_ACCESS_KEY_ID
secret_access_key = $AWS_SECRET_ACCESS_KEY
region = $AWS_REGION
endpoint = ${endpoint[rclone]}
force_path_style = true
no_check_bucket = true

[crypt]
type = crypt
remote = s3:$bucket/rclone
filename_encryption = standard
directory_name_encryption = true
password = $(rclone obscure bench-password-1)
password2 = $(rclone obscure bench-password-2)
EOF
	} >"$d/rclone.conf" || { failed "cannot write rclone.conf"; return 1; }

	local ok_a=0
	if want a; then
		e=$run/logs/rclone-a.err
		begin a rclone "$src/linux"
		if tmo R copy "$src/linux" crypt:tree/linux 2>"$e"; then
			finish
			ok_a=1
		else
			failed "rclone copy" "$e"
		fi
	fi

	if ! want d; then
		:
	elif [ "$ok_a" = 1 ]; then
		e=$run/logs/rclone-d1.err
		begin d1 rclone
		if tmo R cat "crypt:tree/$probe" >"$d/first" 2>"$e"; then
			finish "\`rclone cat\` of $probe"
			cmp -s "$d/first" "$src/$probe" || add_note "WRONG content"
		else
			failed "rclone cat" "$e"
		fi
		e=$run/logs/rclone-d2.err
		begin d2 rclone
		if tmo R copy crypt:tree "$d/new" 2>"$e"; then
			finish "\`rclone copy\` to an empty directory"
			tree_ok "$d/new" || add_note "the tree is NOT right"
		else
			failed "rclone copy" "$e"
		fi
		rm -rf "$d/new"
	else
		skipped d1 "not run: (a) failed"
		skipped d2 "not run: (a) failed"
	fi

	local ok_b=0
	if want b; then
		fresh_big
		e=$run/logs/rclone-b.err
		begin b rclone "$src/big.bin"
		if tmo R copy "$src/big.bin" crypt:big 2>"$e"; then
			finish
			ok_b=1
		else
			failed "rclone copy" "$e"
		fi
	fi

	if ! want c; then
		:
	elif [ "$ok_b" = 1 ]; then
		change_one_byte "$src/big.bin"
		e=$run/logs/rclone-c.err
		begin c rclone "$src/big.bin"
		if tmo R copy "$src/big.bin" crypt:big 2>"$e"; then
			finish "re-uploads the whole file"
		else
			failed "rclone copy" "$e"
		fi
	else
		skipped c "not run: (b) failed"
	fi
}

# ---------------------------------------------------------------- restic
# RESTIC_CACHE_DIR: the writing device's cache; a new device starts with none.
Rs()
{
	# shellcheck disable=SC2086
	${TMO:-} env RESTIC_REPOSITORY="s3:${endpoint[restic]}/$bucket/restic" RESTIC_PASSWORD=bench-password \
		RESTIC_CACHE_DIR="${restic_cache:?}" restic -o s3.region="$AWS_REGION" \
		--cacert "$run/tls/cert.pem" "$@"
}
restic_cache=
run_restic()
{
	local d=$run/restic e snap
	mkdir -p "$d"
	start_proxy restic
	restic_cache=$d/cache
	cur_step=a
	e=$run/logs/restic-init.err
	Rs init </dev/null >/dev/null 2>"$e" || { failed "restic init" "$e"; return 1; }

	local ok_a=0
	if want a; then
		e=$run/logs/restic-a.err
		begin a restic "$src/linux"
		if (cd "$src" && tmo Rs backup --json linux >"$d/backup-a.json" 2>"$e"); then
			finish
			snap=$(jq -r 'select(.message_type == "summary") | .snapshot_id' "$d/backup-a.json")
			if [ -n "$snap" ]; then
				ok_a=1
			else
				failed "no snapshot id in restic's summary"
			fi
		else
			failed "restic backup" "$e"
		fi
	fi

	if ! want d; then
		:
	elif [ "$ok_a" = 1 ]; then
		e=$run/logs/restic-d1.err
		restic_cache=$d/cache-new1
		begin d1 restic
		if tmo Rs restore "$snap" --target "$d/new1" --include "/$probe" >/dev/null 2>"$e"; then
			finish "\`restic restore --include\` $probe, no cache"
			cmp -s "$d/new1/$probe" "$src/$probe" || add_note "WRONG content"
		else
			failed "restic restore --include" "$e"
		fi
		e=$run/logs/restic-d2.err
		restic_cache=$d/cache-new2
		begin d2 restic
		if tmo Rs restore "$snap" --target "$d/new2" >/dev/null 2>"$e"; then
			finish "\`restic restore\` of the snapshot, no cache"
			tree_ok "$d/new2" || add_note "the tree is NOT right"
		else
			failed "restic restore" "$e"
		fi
		rm -rf "$d/new1" "$d/new2"
		restic_cache=$d/cache
	else
		skipped d1 "not run: (a) failed"
		skipped d2 "not run: (a) failed"
	fi

	local ok_b=0
	if want b; then
		fresh_big
		e=$run/logs/restic-b.err
		begin b restic "$src/big.bin"
		if (cd "$src" && tmo Rs backup big.bin >/dev/null 2>"$e"); then
			finish
			ok_b=1
		else
			failed "restic backup" "$e"
		fi
	fi

	if ! want c; then
		:
	elif [ "$ok_b" = 1 ]; then
		change_one_byte "$src/big.bin"
		e=$run/logs/restic-c.err
		begin c restic "$src/big.bin"
		if (cd "$src" && tmo Rs backup big.bin >/dev/null 2>"$e"); then
			finish "rereads the file, uploads the changed chunk"
		else
			failed "restic backup" "$e"
		fi
	else
		skipped c "not run: (b) failed"
	fi
}

# ---------------------------------------------------------------- main
tool_available()
{
	case $1 in
	sealsync) [ -x "$bin" ] && [ -c /dev/fuse ] && command -v fusermount3 >/dev/null ;;
	*) command -v "$1" >/dev/null ;;
	esac
}
tool_version()
{
	case $1 in
	sealsync) "$bin" --version 2>&1 | head -n1 ;;
	rclone) echo "$(rclone version 2>&1 | head -n1), crypt over s3 (provider Other), default --transfers 4 --checkers 8" ;;
	restic) restic version 2>&1 | head -n1 ;;
	esac
}

[ "$(id -u)" = 0 ] || log "not root: drop_caches will fail and FUSE mounts may too"
prepare_inputs
if grep -qF " $run/" /proc/self/mountinfo; then
	log "something is mounted under $run (another run?); stopping"
	trap - EXIT
	exit 1
fi
rm -rf "$run"
mkdir -p "$run/logs"
prepare_source
log "tree: $tree_files files, $tree_bytes bytes; big file: $size_mib MiB; probe file: $probe"
setup_tls
start_s3
log "Swift at $s3_upstream, bucket $bucket"

declare -A t_state t_why
t_run0=$(now)
for tool in "${tool_list[@]}"; do
	cur_tool=$tool
	if ! tool_available "$tool"; then
		case $tool in
		sealsync) t_why[$tool]="skipped: $bin not built (make), or no FUSE" ;;
		*) t_why[$tool]="skipped: $tool not installed (scripts/deps.sh --bench)" ;;
		esac
		t_state[$tool]=skip
		log "${t_why[$tool]}"
		continue
	fi
	log "== $tool ($(tool_version "$tool"))"
	t_state[$tool]=ran
	"run_$tool" || true
	# Each tool's objects stay in the bucket (under their own prefix) and
	# its local files are gone: the next tool starts from the same state.
	rm -f "$src/big.bin"
	# --keep: the daemons' logs stay (logs/<tool>-<home>-mount.log).
	if [ "$keep" = 1 ] && [ -d "$run/$tool" ]; then
		find "$run/$tool" -name mount.log -path '*/home*' 2>/dev/null | while read -r f; do
			h=${f#"$run/$tool/"}
			cp "$f" "$run/logs/$tool-${h%%/*}-mount.log" || true
		done
	fi
	rm -rf "${run:?}/$tool"
done
t_run=$(elapsed "$t_run0" "$(now)")

# ---------------------------------------------------------------- report
human()
{
	numfmt --to=iec-i --suffix=B --format='%.1f' "$1" 2>/dev/null | sed 's/\.0B$/B/' || echo "$1"
}
# val TOOL STEP FIELD: time, requests, bytes_up or bytes_down; empty if none.
val()
{
	local k=$1,$2
	[ "${r_status[$k]:-}" = ok ] || return 0
	case $3 in
	time) echo "${r_time[$k]}" ;;
	*) jq -r ".$3" <<<"${r_stats[$k]}" ;;
	esac
}
cell()
{
	local v k=$1,$2
	v=$(val "$1" "$2" "$3")
	if [ -n "$v" ]; then
		case $3 in
		bytes_*) human "$v" ;;
		*) echo "$v" ;;
		esac
	elif [ "${t_state[$1]:-}" = skip ]; then
		echo "skip"
	else
		case ${r_status[$k]:-} in
		FAIL) echo "FAIL" ;;
		skip) echo "not run" ;;
		*) echo "-" ;;
		esac
	fi
}
ratio()
{
	local a b
	a=$(val sealsync "$2" "$3")
	b=$(val "$1" "$2" "$3")
	if [ -n "$a" ] && [ -n "$b" ]; then
		awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) { r = a / b; printf (r >= 0.1 ? "%.2f" : "%.2g"), r } else print "-" }'
	else
		echo "-"
	fi
}

{
	echo "# sealsync sync benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo
	echo "- host: $(uname -srm), $(nproc) CPU ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(free -g | awk '/Mem:/ { print $2 }') GiB RAM"
	echo "- store: OpenStack Swift $($PY -c 'import swift; print(swift.__version__)' 2>/dev/null) with s3api (scripts/s3-server.sh) on 127.0.0.1, objects under $run/s3 ($(findmnt -n -o FSTYPE -T "$workdir")); each tool through its own tests/tools/s3proxy.py"
	echo "- steps: $only"
	want_tree && echo "- tree: $tree_files files, $(human "$tree_bytes") ($tree_bytes bytes), from $(dpkg-query -W -f='${Package} ${Version}' linux-source-6.1 2>/dev/null || echo "$linux_tar") (scripts/bench/mount.sh's subset); first file: $probe"
	echo "- big file: $size_mib MiB of random bytes; the 1-byte change at offset $change_off"
	if [ "$drop_method" = drop_caches ]; then
		echo "- caches: sync + drop_caches before every step, then the step's local source read once"
	else
		echo "- caches: drop_caches not permitted; NOT dropped between steps"
	fi
	for tool in "${tool_list[@]}"; do
		if [ "${t_state[$tool]:-}" = ran ]; then
			echo "- $tool: $(tool_version "$tool")"
		else
			echo "- $tool: ${t_why[$tool]:-not run}"
		fi
	done
	if [ "$tls" = all ]; then
		echo "- transport: every tool over HTTPS (--tls: a TLS hop, Python asyncio, in front of its proxy)"
	else
		echo "- transport: plain HTTP; restic over HTTPS through a TLS hop (Python asyncio) in front of its proxy, because its S3 client signs PUTs over HTTP as aws-chunked, which this Swift refuses (--tls puts every tool behind such a hop)"
	fi
	echo "- requests: all HTTP requests the tool sent (listings and polling included); bytes up: request bodies; bytes down: response bodies"
	! want d || echo "- (d) runs right after (a): every new device fetches the tree and only the tree"
	echo "- whole run: $t_run s"
	for step in a b c d1 d2; do
		want "${step:0:1}" || continue
		echo
		echo "## ${step_title[$step]}"
		echo
		echo "| tool | time (s) | requests | bytes up | bytes down | notes |"
		echo "|---|--:|--:|--:|--:|---|"
		for tool in sealsync rclone restic; do
			[[ ",$tools," == *",$tool,"* ]] || continue
			echo "| $tool | $(cell $tool $step time) | $(cell $tool $step requests) | $(cell $tool $step bytes_up) | $(cell $tool $step bytes_down) | ${r_note[$tool,$step]:-} |"
		done
		for peer in rclone restic; do
			if [[ ",$tools," != *",$peer,"* ]] || [[ ",$tools," != *",sealsync,"* ]]; then
				continue
			fi
			echo "| sealsync/$peer | $(ratio $peer $step time) | $(ratio $peer $step requests) | $(ratio $peer $step bytes_up) | $(ratio $peer $step bytes_down) | |"
		done
	done
	echo
	echo "## The bar"
	echo
	bar()
	{
		local what=$1 r=$2 op=$3 lim=$4
		if [ "$r" = - ]; then
			echo "- $what: cannot tell (a number is missing)"
		elif awk -v r="$r" -v l="$lim" -v op="$op" 'BEGIN { exit !(op == "<=" ? r <= l : r < l) }'; then
			echo "- $what: **holds** (sealsync/rclone = $r, needs $op $lim)"
		else
			echo "- $what: **does not hold** (sealsync/rclone = $r, needs $op $lim)"
		fi
	}
	if want a; then
		bar "(a) initial upload at least 2× faster than rclone crypt" "$(ratio rclone a time)" "<=" 0.5
		bar "(a) with at least 10× fewer requests" "$(ratio rclone a requests)" "<=" 0.1
	fi
	! want c || bar "(c) the 1-byte change under 1% of rclone's bytes (sent)" "$(ratio rclone c bytes_up)" "<" 0.01
	echo
	echo "## Raw counters"
	echo
	echo '```'
	for step in "${steps[@]}"; do
		for tool in "${tool_list[@]}"; do
			[ -n "${r_stats[$tool,$step]:-}" ] || continue
			echo "$tool $step ${r_time[$tool,$step]:--} $(jq -c '{requests, by_method, bytes_up, bytes_down}' <<<"${r_stats[$tool,$step]}")"
		done
	done
	echo '```'
} | tee "$results"
echo
echo "results written to $results"

rc=0
for tool in "${tool_list[@]}"; do
	for step in "${steps[@]}"; do
		[ "${r_status[$tool,$step]:-}" != FAIL ] || rc=1
	done
done
exit $rc
