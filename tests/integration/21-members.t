#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 21-members.t: `sealsync members` and `sealsync log` (issue #4).  A creates
# a region, B and C join (approved by A).  Then:
#  - members --json on each device lists the three devices with their ids,
#    names, owner, roles, fingerprints, who added them at which height, and
#    this_device set only for the device asking; the text output shows the
#    fingerprints and marks this device;
#  - log --json: GENESIS by A, then ADD_DEVICE of B and ADD_DEVICE of C, both
#    by A, checked entry by entry (height, parents, subject, role, epoch);
#  - with the store unreachable, both say they used the local cache;
#  - a byte flipped in a cached membership entry on B is reported (exit 1,
#    the alarm named), with the store's copy still shown; with the store
#    unreachable as well, the fold stops (unknown-parent) and says so.
# Needs no FUSE mount, but lib.sh's preconditions apply.
TEST_TIMEOUT=240
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # A
HA=$SEALSYNC_HOME
HB=$work/homeB
HC=$work/homeC
# Reached through a symlink, so the store can be taken away (see 17-conflict.t).
mkdir "$work/store.real"
ln -s store.real "$work/store"
STORE=file://$work/store
create_region docs --store "$STORE"
RID=$REGION_ID
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }
C() { SEALSYNC_HOME=$HC "$SEALSYNC_BIN" "$@"; }

enroll_device devB B docs
enroll_device devC C docs

idA=$(A id --json | jq -r .device_id)
idB=$(B id --json | jq -r .device_id)
idC=$(C id --json | jq -r .device_id)
fprA=$(A id --json | jq -r .fingerprint)
fprB=$(B id --json | jq -r .fingerprint)
fprC=$(C id --json | jq -r .fingerprint)

# ------------------------------------------------------------ members --json
# check_members FN ME: FN's `members --json` lists A, B, C; ME is this device.
check_members()
{
	local fn=$1 me=$2 j
	run_ok "$fn: members docs --json" "$fn" members docs --json || return
	j=$T_OUT
	is "$(jq -r .source <<<"$j")" store "$fn: members: verified with the store"
	is "$(jq -r '.devices | length' <<<"$j")" 3 "$fn: members: three devices"
	is "$(jq -r '[.devices[].device_id] | join(" ")' <<<"$j")" "$idA $idB $idC" \
		"$fn: members: the ids, in order of addition"
	is "$(jq -r '[.devices[].name] | join(" ")' <<<"$j")" "devA devB devC" "$fn: members: names"
	is "$(jq -r '[.devices[].role] | join(" ")' <<<"$j")" "admin writer writer" "$fn: members: roles"
	is "$(jq -r '[.devices[].owner] | unique | join(" ")' <<<"$j")" devA \
		"$fn: members: one owner (A's; invites are for one's own devices)"
	is "$(jq -r '[.devices[].fingerprint] | join(" ")' <<<"$j")" "$fprA $fprB $fprC" \
		"$fn: members: fingerprints match each device's own 'id'"
	is "$(jq -r '[.devices[] | select(.this_device) | .device_id] | join(" ")' <<<"$j")" "$me" \
		"$fn: members: this_device only on $fn's own entry"
	is "$(jq -r '[.devices[] | "\(.added_by_name)@\(.added_height)"] | join(" ")' <<<"$j")" \
		"devA@0 devA@1 devA@2" "$fn: members: added by A at heights 0, 1, 2"
	is "$(jq -r '[.devices[].added_by] | unique | join(" ")' <<<"$j")" "$idA" \
		"$fn: members: added_by is A's device id"
	is "$(jq -r '"\(.alarm) \(.cache_alarm) \(.unverified | length) \(.height)"' <<<"$j")" \
		"null null 0 2" "$fn: members: no alarm, nothing unverified, height 2"
}
check_members A "$idA"
check_members B "$idB"
check_members C "$idC"

run_ok "B: members docs (text)" B members docs
txt=$T_OUT
for f in "$fprA" "$fprB" "$fprC"; do
	printf '%s\n' "$txt" | grep -qF -- "$f"
	ok $? "B: members text shows fingerprint $f"
done
printf '%s\n' "$txt" | grep -E "^\* $idB +devB +\(this device\)" >/dev/null
ok $? "B: members text marks devB as this device" "$txt"
like "$txt" "owner devA, role writer" "B: members text shows owner and role"

# ------------------------------------------------------------------ log
run_ok "A: log docs --json" A log docs --json
j=$T_OUT
is "$(jq -r '.entries | length' <<<"$j")" 3 "log: three entries"
is "$(jq -r '[.entries[].kind] | join(" ")' <<<"$j")" "GENESIS ADD_DEVICE ADD_DEVICE" \
	"log: GENESIS, ADD_DEVICE, ADD_DEVICE (oldest first)"
is "$(jq -r '[.entries[].height] | join(" ")' <<<"$j")" "0 1 2" "log: heights 0 1 2"
is "$(jq -r '[.entries[].author] | unique | join(" ")' <<<"$j")" "$idA" "log: every entry by A"
is "$(jq -r '[.entries[].author_name] | unique | join(" ")' <<<"$j")" devA "log: author name devA"
g=$(jq -r '.entries[0].hash' <<<"$j")
like "$g" '^[0-9a-f]{64}$' "log: entry 0 has a 64-hex hash"
is "$(jq -r '.entries[0] | "\(.parents | length) \(.new_epoch) \(.epoch)"' <<<"$j")" "0 true $g" \
	"log: GENESIS has no parent and opens epoch = its hash"
is "$(jq -r '.entries[0].subjects | map("\(.device_id):\(.role)") | join(" ")' <<<"$j")" \
	"$idA:admin" "log: GENESIS's member is A, admin"
is "$(jq -r '.entries[1] | "\(.parents | join(",")) \(.new_epoch) \(.epoch)"' <<<"$j")" \
	"$g false $g" "log: entry 1's parent is GENESIS; wraps epoch GENESIS"
is "$(jq -r '.entries[1].subjects | map("\(.device_id):\(.name):\(.role)") | join(" ")' <<<"$j")" \
	"$idB:devB:writer" "log: entry 1 adds devB as writer"
h1=$(jq -r '.entries[1].hash' <<<"$j")
is "$(jq -r '.entries[2] | "\(.parents | join(",")) \(.epoch)"' <<<"$j")" "$h1 $g" \
	"log: entry 2's parent is entry 1; same epoch"
is "$(jq -r '.entries[2].subjects | map("\(.device_id):\(.name):\(.role)") | join(" ")' <<<"$j")" \
	"$idC:devC:writer" "log: entry 2 adds devC as writer"
now=$(date +%s)
is "$(jq -r --argjson now "$now" '[.entries[] | .time | fromdateiso8601 | select(. > $now - 600 and . <= $now)] | length' <<<"$j")" \
	3 "log: every entry has a recent time"
run_ok "C: log docs --json (same history)" C log docs --json
is "$(jq -c '[.entries[].hash]' <<<"$T_OUT")" "$(jq -c '[.entries[].hash]' <<<"$j")" \
	"log: C sees the same entries"

run_ok "A: log docs (text)" A log docs
txt=$T_OUT
is "$(printf '%s\n' "$txt" | grep -cE '^[0-9]+  [0-9a-f]{12}  (GENESIS|ADD_DEVICE) ')" 3 \
	"log text: one header line per entry"
printf '%s\n' "$txt" | grep -E "^1  ${h1:0:12}  ADD_DEVICE +by devA \($idA\)" >/dev/null
ok $? "log text: entry 1 by devA" "$txt"
printf '%s\n' "$txt" | grep -F "adds devC ($idC), owner devA, role writer, fingerprint $fprC" >/dev/null
ok $? "log text: entry 2 adds devC with its fingerprint" "$txt"

# ---------------------------------------------------- store unreachable
mv "$work/store" "$work/store.link"
: >"$work/store"
run_ok "B: members with the store unreachable" B members docs --json
is "$(jq -r '"\(.source) \(.devices | length)"' <<<"$T_OUT")" "cache 3" \
	"  ... from the local cache, three devices"
like "$T_ERR" 'local membership cache' "  ... and says so on stderr"
run_ok "B: log with the store unreachable" B log docs
like "$T_OUT" 'local cache only' "  ... the text says so"
rm -f "$work/store"
mv "$work/store.link" "$work/store"

# ------------------------------------------------- tampered cache entry
cache=$HB/regions/$RID/members
f=$(find "$cache" -type f -name '0000000000000001-*' | head -n1)
[ -n "$f" ]
ok $? "B caches the height-1 entry"
off=120
byte=$(od -An -tu1 -j$off -N1 "$f" | tr -d ' ')
# shellcheck disable=SC2059 # the format is the octal escape of the flipped byte
printf "$(printf '\\%03o' $((byte ^ 1)))" | dd of="$f" bs=1 seek=$off conv=notrunc status=none
run_fails "B: members with a tampered cache entry fails" B members docs --json
is "$T_RC" 1 "  ... exit 1"
like "$T_ERR" 'bad-cache-entry' "  ... the alarm is named"
is "$(jq -r '"\(.cache_alarm) \(.devices | length) \(.source)"' <<<"$T_OUT")" \
	"bad-cache-entry 3 store" "  ... JSON: cache_alarm, the store's copy still shows three devices"
is "$(jq -r '.unverified[0] | "\(.where) \(.name)"' <<<"$T_OUT")" "cache $(basename "$f")" \
	"  ... JSON: the bad file is named"
run_fails "B: log with a tampered cache entry fails" B log docs
is "$T_RC" 1 "  ... exit 1"
like "$T_OUT" "NOT VERIFIED:" "  ... reported at the end of the history"
like "$T_OUT" "cache $(basename "$f"): ALARM bad-cache-entry" "  ... naming the file and the alarm"
like "$T_ERR" 'bad-cache-entry' "  ... and on stderr"

mv "$work/store" "$work/store.link"
: >"$work/store"
run_fails "B: members, tampered cache and no store: fails" B members docs --json
is "$T_RC" 1 "  ... exit 1"
is "$(jq -r '"\(.source) \(.alarm) \(.cache_alarm) \(.devices | length)"' <<<"$T_OUT")" \
	"cache unknown-parent bad-cache-entry 1" \
	"  ... the fold stops at C's entry (unknown-parent): only A is verified"
like "$T_ERR" 'ALARM unknown-parent' "  ... the alarm is named on stderr"
run_fails "B: log, tampered cache and no store: fails" B log docs --json
is "$(jq -r '"\(.entries | length) \(.alarm) \(.alarm_entry | length)"' <<<"$T_OUT")" \
	"1 unknown-parent 64" "  ... only GENESIS verified; the stopping entry named"
rm -f "$work/store"
mv "$work/store.link" "$work/store"

# ----------------------------------------------------------------- usage
run_fails "members without NAME: usage error" A members
is "$T_RC" 2 "  ... exit 2"
run_fails "log of an unknown region fails" A log nosuch
is "$T_RC" 1 "  ... exit 1"
like "$T_ERR" "unknown region" "  ... says so"

done_testing
