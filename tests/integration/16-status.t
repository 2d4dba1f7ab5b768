#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 16-status.t: `sealsync status` and `sealsync sync` (the daemon's control
# socket) with two devices on one file:// store: the JSON fields, the queue
# draining after `sync`, `sync` on an unmounted region and on a broken store
# failing clearly, and tampering on the store detected and NAMED by B's
# `status` (kind, device, object key), each case with B still showing the
# last good content: a bit flip in a pack, a bit flip in a journal entry, a
# deleted journal entry (gap), an old entry replayed under a new seq, two
# entries at one seq (equivocation), and two entries' packs swapped.
# Each case: B unmounted, A commits, the store is tampered with, B mounts
# and syncs; then the store is restored and B (remounted: an alarm holds a
# device until restart) catches up.  SHOW_STATUS=1 prints what status and
# sync said in each case.  Last, `status` of the unmounted regions shows the
# last known state from the index: this device's journal seq, the peers'
# applied seqs as the mount last showed them, and the last push and pull the
# daemon saved ("source": "index").
TEST_TIMEOUT=420
. "$(dirname "$0")/lib.sh"
export SEALSYNC_GAP_GRACE_S=0 # the deleted entry below is a lasting gap at once (FOUND.md B5)
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
mount_a() { SEALSYNC_HOME=$HA mount_region docs "$ma"; }
mount_b() { SEALSYNC_HOME=$HB mount_region docs "$mb"; }
umount_b() { SEALSYNC_HOME=$HB umount_region "$mb"; }

# --- not mounted -------------------------------------------------------------
run_fails "sync on an unmounted region fails" A sync docs
like "$T_ERR" "not mounted" "  ... and says it is not mounted"
run_ok "status of an unmounted region exits 0" A status docs --json
is "$(jq -r '.mounted, .mountpoint, .queue.entries, .confirmed' <<<"$T_OUT" | tr '\n' ' ')" \
	"false null 0 null " "  ... mounted false, no mount point, empty queue, confirmed null"

mount_a || bail "mount on A failed"
mount_b || bail "mount on B failed"

# --- status fields -----------------------------------------------------------
run_ok "A: status --json exits 0 on a clean mount" A status docs --json
S_A=$T_OUT
is "$(jq -r '[.mounted, .mountpoint, .sync, .device_id, (.confirmed | type), .ok] | map(tostring) | join(" ")' <<<"$S_A")" \
	"true $ma true $DEV_A array true" "  ... mounted, mount point, sync, device id, confirmed an array, ok"
jq -e '(.pid | type) == "number" and (.queue.entries | type) == "number" and
	(.queue.bytes | type) == "number" and (.alarms == []) and (.conflicts == 0) and
	(.push | has("last_success") and has("age_s") and has("error") and has("seq")) and
	(.pull | has("last_success") and has("age_s") and has("error")) and
	(.peers | type) == "array" and (.store | startswith("file://")) and
	(.region_id | length) == 64 and .name == "docs"' <<<"$S_A" >/dev/null
ok $? "  ... every field present with its type" "$S_A"
is "$(jq -r '.peers[].device_id' <<<"$S_A")" "$DEV_B" "  ... B is A's one peer"
is "$(stat -c %a "$HA/regions/$RID/ctl.sock")" 600 "  ... the control socket is mode 0600"
run_ok "status (text) exits 0" A status
like "$T_OUT" "confirmed: +(by no other device yet|$DEV_B has )" "  ... says what other devices confirmed"
like "$T_OUT" "mounted: +on $ma" "  ... names the mount point"
run_ok "list --json" A list --json
is "$(jq -r '.[0] | "\(.mounted) \(.queue | type)"' <<<"$T_OUT")" "true object" "  ... gives mounted and the queue"
run_ok "status of all regions as JSON is an array" A status --json
is "$(jq -r 'type, length' <<<"$T_OUT" | tr '\n' ' ')" "array 1 " "  ... of one region"

# --- sync drains the queue ---------------------------------------------------
rand_file "$work/big.ref" 3000000
printf 'v1 of x\n' >"$work/x1.ref"
printf 'v1 of y\n' >"$work/y1.ref"
cp "$work/big.ref" "$ma/big"
cp "$work/x1.ref" "$ma/x"
cp "$work/y1.ref" "$ma/y"
t0=$(date +%s%N)
run_ok "A: sync (3 MB new) exits 0" A sync docs
t1=$(date +%s%N)
note "sync of 3 MB took $(((t1 - t0) / 1000000)) ms"
# (The background committer may have taken the files before `sync` ran: 0 committed is fine.)
like "$T_OUT" "^sync docs: ok in [0-9.]+ s: committed [0-9]+ file\\(s\\); uploaded [0-9]+ object" \
	"  ... one summary line (not a terminal)"
is "$(printf '%s\n' "$T_OUT" | wc -l)" 1 "  ... and only that line"
run_ok "A: status after sync" A status docs --json
is "$(jq -r '"\(.queue.entries) \(.queue.bytes)"' <<<"$T_OUT")" "0 0" "  ... the queue is empty"
jq -e '.push.last_success != null and .push.age_s <= 60 and .push.error == null and .push.seq >= 1 and
	.journal_seq == .push.seq' <<<"$T_OUT" >/dev/null
ok $? "  ... a recent successful push, no error, pushed up to the journal head" "$T_OUT"
run_ok "B: sync --json exits 0" B sync docs --json
is "$(jq -r '.status' <<<"$T_OUT")" ok "  ... status ok"
jq -e '.pulled.files >= 1 or true' <<<"$T_OUT" >/dev/null # applied by B's puller or by the sync
cmp -s "$mb/big" "$work/big.ref"
ok $? "  ... B has the 3 MB file right after"
run_ok "B: status" B status docs --json
S_B=$T_OUT
jq -e --arg a "$DEV_A" '.peers | map(select(.device_id == $a and .seq >= 1 and .held == false)) | length == 1' <<<"$S_B" >/dev/null
ok $? "  ... A's journal head among B's peers" "$S_B"
jq -e '.pull.last_success != null and .pull.error == null' <<<"$S_B" >/dev/null
ok $? "  ... a successful pull" "$S_B"

# --- a broken store: sync fails clearly, then recovers -----------------------
mv "$SD/p" "$SD/p.away"
: >"$SD/p" # a file where the pack directory was: every pack PUT fails
printf 'queued while the store is broken\n' >"$ma/q"
run_fails "A: sync with a broken store fails" A sync docs --timeout 30
like "$T_ERR" "sync docs: .+" "  ... with a message"
[ -z "${SHOW_STATUS:-}" ] || note "$T_ERR" # SHOW_STATUS=1: print what the commands said
run_fails "A: status then shows the error (exit 1)" A status docs --json
jq -e '.push.error.message | length > 0' <<<"$T_OUT" >/dev/null
ok $? "  ... push.error.message set" "$T_OUT"
jq -e '.queue.entries >= 1' <<<"$T_OUT" >/dev/null
ok $? "  ... the entry stays queued" "$T_OUT"
rm -f "$SD/p"
mv "$SD/p.away" "$SD/p"
run_ok "A: sync once the store is back" A sync docs
run_ok "A: status is clean again" A status docs --json
is "$(jq -r '"\(.queue.entries) \(.push.error)"' <<<"$T_OUT")" "0 null" "  ... queue empty, no error"
run_ok "B: sync" B sync docs

# --- tampering ---------------------------------------------------------------
journal_list() { find "$SD/journal/$DEV_A" -type f -printf '%f\n' | sort; }
pack_list() { find "$SD/p" -type f -printf '%f\n' | sort; }
seqname() { printf '%016x' "$1"; }

# a_commit FILE CONTENT: A writes CONTENT to FILE and syncs; sets NEW_J and NEW_P
# (the journal entries and the packs uploaded meanwhile: usually one entry,
# more if A's own 2 s commit tick came in between).
a_commit()
{
	local j0 p0
	j0=$(journal_list)
	p0=$(pack_list)
	# Renamed into place: a commit tick never sees a half-written file.
	printf '%s\n' "$2" >"$ma/.$1.tmp" && mv "$ma/.$1.tmp" "$ma/$1"
	A sync docs >/dev/null 2>&1 || diag "A: sync failed"
	NEW_J=$(comm -13 <(printf '%s\n' "$j0") <(journal_list))
	NEW_P=$(comm -13 <(printf '%s\n' "$p0") <(pack_list))
}

# check_alarm CASE KIND OBJECT_RE: B (just mounted on the tampered store)
# syncs and reports alarm KIND about device A naming an object matching
# OBJECT_RE; x and y still hold their last good content.
check_alarm()
{
	local name=$1 kind=$2 obj=$3
	SEALSYNC_HOME=$HB run B sync docs
	if [ "$T_RC" -eq 1 ] && grep -q "$kind" <<<"$T_ERR"; then
		pass "$name: B's sync exits 1 and names the alarm"
	else
		fail "$name: B's sync exits 1 and names the alarm" "exit $T_RC" "$T_ERR"
	fi
	run B status docs --json
	is "$T_RC" 1 "$name: B's status exits 1"
	jq -e --arg k "$kind" --arg d "$DEV_A" --arg o "$obj" \
		'.ok == false and (.alarms | map(select(.kind == $k and .device_id == $d and
		(.object | test($o)) and (.text | length > 0))) | length >= 1)' <<<"$T_OUT" >/dev/null
	ok $? "$name: B's status lists a $kind alarm on device A naming the object" "$T_OUT"
	jq -e --arg d "$DEV_A" '.peers | map(select(.device_id == $d and .held)) | length == 1' \
		<<<"$T_OUT" >/dev/null
	ok $? "$name: A's updates are held on B" "$T_OUT"
	run B status docs
	like "$T_OUT" "$kind: device $DEV_A" "$name: the text status names it too"
	[ -z "${SHOW_STATUS:-}" ] || note "$T_OUT"
	cmp -s "$mb/x" "$work/x.good" && cmp -s "$mb/y" "$work/y.good"
	ok $? "$name: B still shows the last good content" "x: $(od -c "$mb/x" | head -3)" "y: $(od -c "$mb/y" | head -3)"
}

# recover: restores the store, clears B's alarms, remounts B and
# checks that B catches up with A.
recover()
{
	local name=$1
	umount_b
	B alarms docs --clear-all >/dev/null 2>&1 # alarms last until cleared (invariant A1)
	rm -rf "$SD"
	cp -a "$work/store.good" "$SD"
	mount_b || bail "$name: B's mount after the restore failed"
	SEALSYNC_HOME=$HB run B sync docs
	is "$T_RC" 0 "$name: after the restore B's sync succeeds" || diag "$T_ERR"
	cmp -s "$mb/x" "$ma/x" && cmp -s "$mb/y" "$ma/y"
	ok $? "$name: ... and B has A's content"
	cp "$ma/x" "$work/x.good"
	cp "$ma/y" "$work/y.good"
	SEALSYNC_HOME=$HB run B status docs --json
	is "$T_RC" 0 "$name: ... and B's status is clean again" || diag "$T_OUT"
}

# begin: B goes down with x, y as A has them.
begin()
{
	cmp -s "$mb/x" "$ma/x" && cmp -s "$mb/y" "$ma/y" || bail "B is not in step with A"
	cp "$mb/x" "$work/x.good"
	cp "$mb/y" "$work/y.good"
	umount_b
}
# snapshot: the store as it is (A's honest state), for recover.
snapshot() { rm -rf "$work/store.good"; cp -a "$SD" "$work/store.good"; }

T0=$(date +%s)

# (1) a bit flip in a pack.
begin
a_commit x "x changed (case 1)"
snapshot
P=$(head -n1 <<<"$NEW_P")
[ -n "$P" ] || bail "case 1: no new pack"
flip "$SD/p/$P"
mount_b || bail "mount B"
check_alarm "pack bit flip" bad-object "/p/$P\$"
recover "pack bit flip"

# (2) a bit flip in a journal entry.
begin
a_commit y "y changed (case 2)"
snapshot
J=$(tail -n1 <<<"$NEW_J")
flip "$SD/journal/$DEV_A/$J"
mount_b || bail "mount B"
check_alarm "journal bit flip" bad-object "/journal/$DEV_A/$J\$"
recover "journal bit flip"

# (3) a deleted journal entry: a gap.
begin
a_commit x "x changed (case 3a)"
J1=$(head -n1 <<<"$NEW_J")
a_commit y "y changed (case 3b)"
J2=$(journal_list | grep -A1 -x -- "$J1" | tail -n1)
snapshot
rm "$SD/journal/$DEV_A/$J1"
mount_b || bail "mount B"
check_alarm "deleted entry" journal-gap "/journal/$DEV_A/$J2\$"
SEALSYNC_HOME=$HB run B status docs --json
is "$(jq -r '.alarms[0].seq' <<<"$T_OUT")" "$((10#${J1%%-*}))" "deleted entry: the alarm gives the missing seq"
recover "deleted entry"

# (4a) an old entry replayed under the next seq name.
begin
snapshot
HEAD=$(journal_list | tail -n1)
OLD=$(journal_list | head -n1)
NEXT=$(seqname $((16#${HEAD%%-*} + 1)))-${OLD#*-}
cp "$SD/journal/$DEV_A/$OLD" "$SD/journal/$DEV_A/$NEXT"
mount_b || bail "mount B"
check_alarm "replayed entry" bad-object "/journal/$DEV_A/$NEXT\$"
recover "replayed entry"

# (4b) two entries at one seq: equivocation.
begin
a_commit x "x changed (case 4b)"
snapshot
OLD=$(journal_list | head -n1)
J=$(head -n1 <<<"$NEW_J")
TWIN=${J%%-*}-${OLD#*-}
cp "$SD/journal/$DEV_A/$OLD" "$SD/journal/$DEV_A/$TWIN"
mount_b || bail "mount B"
check_alarm "two entries at one seq" equivocation "/journal/$DEV_A/${J%%-*}-"
recover "two entries at one seq"

# (5) the packs of two entries (two files) swapped.
begin
a_commit x "x changed (case 5), a little longer than the other one"
P1=$(head -n1 <<<"$NEW_P")
a_commit y "y changed (case 5)"
P2=$(head -n1 <<<"$NEW_P")
snapshot
[ -n "$P1" ] && [ -n "$P2" ] || bail "case 5: no new packs"
mv "$SD/p/$P1" "$work/swap"
mv "$SD/p/$P2" "$SD/p/$P1"
mv "$work/swap" "$SD/p/$P2"
mount_b || bail "mount B"
check_alarm "swapped packs" bad-object "/p/$P1\$"
recover "swapped packs"

note "tamper cases took $(($(date +%s) - T0)) s"

last_a=$(A status docs --json)
last_b=$(B status docs --json)
umount_b
ok $? "B: final umount"
SEALSYNC_HOME=$HA umount_region "$ma"
ok $? "A: final umount"
# --- not mounted: the last known state ------------------------------------------
for d in A B; do
	if [ $d = A ]; then last=$last_a; else last=$last_b; fi
	run_ok "$d: status of the unmounted region" $d status docs --json
	is "$(jq -r '"\(.mounted) \(.source) \(.journal_seq)"' <<<"$T_OUT")" \
		"false index $(jq -r .journal_seq <<<"$last")" "  ... $d: not mounted, from the index, the last journal seq"
	# The index keeps a mark per peer of which something was applied (seq >= 1).
	is "$(jq -c '[.peers[] | [.device_id, .seq]]' <<<"$T_OUT")" \
		"$(jq -c '[.peers[] | select(.seq > 0) | [.device_id, .seq]]' <<<"$last")" \
		"  ... $d: the peers' applied seqs as the mount last showed them"
	# The push and pull state the daemon saved (at the latest at unmount): the times of the
	# last successes, no later than now and no earlier than what the mount showed, no error.
	is "$(jq -r --argjson l "$last" '[(.push.last_success >= $l.push.last_success),
		(.pull.last_success >= $l.pull.last_success), .push.seq == $l.push.seq,
		.push.error == null, .pull.error == null] | map(tostring) | join(" ")' <<<"$T_OUT")" \
		"true true true true true" "  ... $d: the last push and pull as saved by the daemon" \
		"$(jq -c '{push, pull}' <<<"$T_OUT") mounted: $(jq -c '{push, pull}' <<<"$last")"
	run_ok "$d: status (text) of the unmounted region" $d status docs
	like "$T_OUT" "mounted: +no \(last known state, saved in the region's index while it was mounted" \
		"  ... says where it comes from"
	if [ "$(jq -r .push.last_success <<<"$last")" = null ]; then
		like "$T_OUT" "last push: +never" "  ... the last push: never (nothing to push on $d)"
	else
		like "$T_OUT" "last push: +[0-9]{4}-" "  ... the last push's time"
	fi
	like "$T_OUT" "last pull: +[0-9]{4}-" "  ... the last pull's time"
	like "$T_OUT" "journal: +this device's last entry is seq $(jq -r .journal_seq <<<"$last")" "  ... the journal seq"
done
[ ! -e "$HA/regions/$RID/ctl.sock" ] && [ ! -e "$HB/regions/$RID/ctl.sock" ]
ok $? "the control sockets are removed at unmount"
done_testing
