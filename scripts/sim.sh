#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# scripts/sim.sh: the deterministic simulation of the sync engine (tests/sim/sim.c,
# doc/SYNC.md "Invariants over time").  Builds (once, cached in build/sim-template-N)
# a region shared by N devices with the real CLI, then runs build/tests-sim/sim on seeds
# [FROM, FROM+SEEDS).  Every failure prints its seed; `--seeds 1 --from S -v` replays one.
#
#   scripts/sim.sh --seeds N [--from S] [--devices 3] [--faults 0|1] [--steps K] [-v]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${SEALSYNC_BIN:-$here/build/sealsync}
sim=${SEALSYNC_SIM:-$here/build/sim}
detrand=$(dirname "$sim")/sim-detrand.so
devices=3
args=()
while [ $# -gt 0 ]; do
	case $1 in
	--devices) devices=$2; args+=("$1" "$2"); shift 2 ;;
	--help | -h) sed -n '2,7p' "$0"; exit 0 ;;
	*) args+=("$1"); shift ;;
	esac
done
[ -x "$bin" ] && [ -x "$sim" ] && [ -f "$detrand" ] || { echo "sim.sh: build first (make)" >&2; exit 2; }
tpl=${SEALSYNC_SIM_TEMPLATE:-$here/build/sim-template-$devices}
export SEALSYNC_PASSPHRASE=sim-passphrase
# A template made before the last build of the shim (its clock or randomness) is stale.
if [ ! -f "$tpl/ready" ] || [ "$detrand" -nt "$tpl/ready" ]; then
	rm -rf "$tpl"
	mkdir -p "$tpl/store"
	names=(devA devB devC devD devE devF devG devH)
	# Every command draws its randomness from its own fixed stream (tests/sim/detrand.c):
	# the same device keys, so the same device ids, on every machine.
	nrand=0
	H()
	{
		local i=$1
		shift
		nrand=$((nrand + 1))
		# (an ASan build would refuse a preloaded library listed before its runtime)
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
			SEALSYNC_SIM_RAND=$((nrand * 7919)) SEALSYNC_SIM_TIME=$((1599900000 + nrand)) LD_PRELOAD=$detrand SEALSYNC_HOME=$tpl/home$i "$bin" "$@"
	}
	H 0 init --kdf interactive --name "${names[0]}" >/dev/null
	H 0 create sim --store "file://$tpl/store" >/dev/null
	rid=$(H 0 list --json | jq -r '.[] | select(.name == "sim") | .region_id')
	for ((i = 1; i < devices; i++)); do
		H "$i" init --kdf interactive --name "${names[$i]}" >/dev/null
		dev=$(H "$i" id --json | jq -r .device_id)
		code=$(H 0 invite sim --json | jq -r .code)
		H "$i" join sim "file://$tpl/store" "$rid" --code "$code" --timeout 60 >"$tpl/join.$i" 2>&1 </dev/null &
		nrand=$((nrand + 1)) # H ran in a subshell
		jpid=$!
		for _ in $(seq 300); do
			kill -0 "$jpid" 2>/dev/null || break
			H 0 requests sim --json 2>/dev/null |
				jq -e --arg d "$dev" '.[] | select(.device_id == $d and .status == "valid")' >/dev/null && break
			sleep 0.1
		done
		H 0 approve sim "$dev" >/dev/null
		wait "$jpid" || { cat "$tpl/join.$i" >&2; exit 1; }
	done
	touch "$tpl/ready"
fi
# --equivocate runs the CLI (the admin's revoke, status) the same deterministic way.
export SEALSYNC_BIN=$bin SEALSYNC_SIM_DETRAND=$detrand
exec "$sim" --template "$tpl" "${args[@]}"
