#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 44-approve-after-alarm.t: a validly signed membership entry that the fold
# refuses (here A's POLICY, whose parent - B's ADD - the store hides and A's
# local copy of the log has lost: alarm unknown-parent) is left out with its descendants; it must not stop
# enrollment for good (issue #9, 23-revoke checks 81-83): `log` reports the
# alarm (exit 1), and yet A approves D on the verified rest and D's join
# completes; once the hidden entry is back, the fold is whole again.
TEST_TIMEOUT=240
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # A
HA=$SEALSYNC_HOME
HB=$work/homeB HD=$work/homeD
STORE=file://$work/store
create_region docs --store "$STORE"
RID=$REGION_ID
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }
D() { SEALSYNC_HOME=$HD "$SEALSYNC_BIN" "$@"; }

enroll_device devB B docs
run_ok "A: policy" A policy docs --max-key-age 30d
addb=$(ls "$work/store/$RID/members" | grep '^0000000000000001-')
[ -n "$addb" ]; ok $? "B's ADD_DEVICE is on the store at height 1"
mv "$work/store/$RID/members/$addb" "$work/hidden"
rm -f "$HA/regions/$RID/members/$addb" # and from A's local copy of the log
run_fails "A: log with the POLICY's parent hidden fails" A log docs --json
like "$T_ERR" "unknown-parent" "  ... naming the alarm"
enroll_device devD D docs # approve and join, with the alarm standing
run D members docs --json # exit 1: the alarm stands
idD=$(D id --json | jq -r .device_id)
is "$(jq -r --arg d "$idD" '"\(.alarm) \([.devices[] | select(.device_id == $d)] | length)"' <<<"$T_OUT")" \
	"unknown-parent 1" "D is a member; its fold names the alarm"
mv "$work/hidden" "$work/store/$RID/members/$addb"
# (exit 1 still: A's local copy of the log lost an entry - the test did that -
# which `log` reports as bad-cache-entry; the fold itself is whole)
run A log docs --json
is "$(jq -r '.alarm' <<<"$T_OUT")" null "A: log with the entry back: no alarm in the fold"
is "$(jq -r '[.entries[].kind] | sort | join(" ")' <<<"$T_OUT")" \
	"ADD_DEVICE ADD_DEVICE GENESIS POLICY" "  ... both ADDs and the POLICY apply"
done_testing
