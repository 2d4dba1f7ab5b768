#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 20-ack.t: acknowledgements between two devices on one file:// store
# (doc/SYNC.md "Acknowledgements").  A writes, both sync, and A's `status`
# shows B confirming A's current journal head (read by A's puller within
# ~45 s, and at once by `sealsync sync`); a bit flip in B's ack on the store
# is rejected (alarm bad-ack, named by status) without changing the
# confirmation; B's older ack put back after a newer one is a replay (alarm
# ack-rollback), also without effect; with B unmounted and A writing more,
# B's confirmation is shown as not current.
TEST_TIMEOUT=300
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # A
HA=$SEALSYNC_HOME
HB=$work/homeB
STORE=file://$work/store
create_region docs --store "$STORE"
RID=$REGION_ID
SD=$work/store/$RID
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }

# --- enroll B (as 12-sync.t) -------------------------------------------------
enroll_device devB B docs
DEV_A=$(A id --json | jq -r .device_id)
DEV_B=$(B id --json | jq -r .device_id)

ma=$work/a
mb=$work/b
mkdir -p "$ma" "$mb"
SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "mount on A failed"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "mount on B failed"

run_ok "A: status before any ack" A status docs --json
is "$(jq -c '.confirmed' <<<"$T_OUT")" "[]" "  ... confirmed is an empty array while mounted"

# b_conf: B's entry in A's "confirmed" (compact JSON, "null" if none).
b_conf()
{
	A status docs --json 2>/dev/null |
		jq -c --arg b "$DEV_B" '(.confirmed // []) | map(select(.device_id == $b)) | .[0]'
}
a_seq() { A status docs --json 2>/dev/null | jq -r .journal_seq; }
ack_file=$SD/ack/$DEV_B

# --- A writes; both sync; A's puller reads B's ack by itself -------------------
printf 'first\n' >"$ma/one"
run_ok "A: sync" A sync docs
run_ok "B: sync (applies A's entry, publishes its ack)" B sync docs
cmp -s "$mb/one" <(printf 'first\n')
ok $? "  ... B has A's file"
[ -f "$ack_file" ]
ok $? "  ... B's ack is on the store as ack/<device hex>"
SEQ1=$(a_seq)
t0=$(date +%s)
c=null
for _ in $(seq 60); do
	c=$(b_conf)
	[ "$(jq -r '.current' <<<"$c" 2>/dev/null)" = true ] && break
	sleep 1
done
note "A's puller took B's ack after $(($(date +%s) - t0)) s"
is "$(jq -r '"\(.seq) \(.current)"' <<<"$c")" "$SEQ1 true" "A's status: B confirms A's current seq $SEQ1 within ~45 s"
[ $(($(date +%s) - t0)) -le 50 ]
ok $? "  ... in time"
like "$(jq -r .confirmed_at <<<"$c")" '^20[0-9][0-9]-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z$' \
	"  ... confirmed_at is ISO-8601 UTC"
run_ok "A: status (text)" A status docs
like "$T_OUT" "confirmed: +$DEV_B has all of this device's changes \\(seq $SEQ1\\) as of 20" \
	"  ... one line: B has all of A's changes"
CONF1=$c

# --- a bit flip in B's ack: rejected, confirmation unchanged -------------------
cp "$ack_file" "$work/ack.good"
size=$(stat -c %s "$ack_file")
off=$((size / 2))
b=$(od -An -tu1 -j "$off" -N1 "$ack_file" | tr -d ' ')
printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$ack_file" bs=1 seek="$off" conv=notrunc status=none
run A sync docs
run A status docs --json
S=$T_OUT
jq -e --arg b "$DEV_B" '.alarms | map(select(.kind == "bad-ack" and .device_id == $b and
	(.object | endswith("/ack/" + $b)))) | length == 1' <<<"$S" >/dev/null
ok $? "  ... A's status names the alarm bad-ack, device B, the ack's key" "$S"
is "$(b_conf)" "$CONF1" "  ... B's confirmation is unchanged"
grep -q "bad-ack: device $DEV_B" "$HA/regions/$RID/mount.log"
ok $? "  ... and A's log names it"
cp "$work/ack.good" "$ack_file"

# --- a newer ack, then the old one replayed -----------------------------------
printf 'second\n' >"$ma/two"
run A sync docs # exit 1: the alarm above is kept until remount
# Committed by this sync or, on a slow machine, by the 2 s timer just before it.
is "$(a_seq)" $((SEQ1 + 1)) "A: sync commits the second write (journal seq $((SEQ1 + 1)))"
run_ok "B: sync" B sync docs
run A sync docs
SEQ2=$(a_seq)
c=$(b_conf)
is "$(jq -r '"\(.seq) \(.current)"' <<<"$c")" "$SEQ2 true" "after sync on both: B confirms A's seq $SEQ2 at once"
[ "$SEQ2" -gt "$SEQ1" ]
ok $? "  ... a later seq than before"
CONF2=$c
cp "$ack_file" "$work/ack.new"
cp "$work/ack.good" "$ack_file"
run A sync docs
run A status docs --json
jq -e --arg b "$DEV_B" '.alarms | map(select(.kind == "ack-rollback" and .device_id == $b)) | length == 1' \
	<<<"$T_OUT" >/dev/null
ok $? "  ... alarm ack-rollback for B" "$T_OUT"
is "$(b_conf)" "$CONF2" "  ... B's confirmation is unchanged"
cp "$work/ack.new" "$ack_file"

# --- B unmounted, A writes more: B's confirmation is not current ------------------
SEALSYNC_HOME=$HB umount_region "$mb"
ok $? "B: unmounted"
printf 'third\n' >"$ma/three"
run A sync docs
SEQ3=$(a_seq)
[ "$SEQ3" -gt "$SEQ2" ]
ok $? "A's journal moved on to $SEQ3"
is "$(jq -r '"\(.seq) \(.current)"' <<<"$(b_conf)")" "$SEQ2 false" "  ... B's confirmation (seq $SEQ2) is not current"
run A status docs
like "$T_OUT" "confirmed: +$DEV_B has this device's changes up to seq $SEQ2 of $SEQ3 as of 20" \
	"  ... the text says up to seq $SEQ2 of $SEQ3"

SEALSYNC_HOME=$HA umount_region "$ma"
ok $? "A: unmounted"
done_testing
