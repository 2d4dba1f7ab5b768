#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 34-clone.t: one device, one history (doc/SYNC.md K1), on a file:// store and
# on the Swift S3 server.  A copy of A's home is taken; A publishes more; the
# copy is mounted: it publishes nothing (no journal entry, no ack), `status`
# names cloned-device with what to do, `sync` exits non-zero, B raises no
# equivocation and never sees the copy's file, the stop survives a remount,
# and the original A goes on publishing.  Then the other order: a copy that
# publishes first makes the original stop, and B again sees one history.
TEST_TIMEOUT=600
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # A
HA=$SEALSYNC_HOME
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }
C() { SEALSYNC_HOME=$HC "$SEALSYNC_BIN" "$@"; }

# alarms_of FN REGION KIND: how many alarms KIND FN's status lists.
alarms_of()
{
	"$1" status "$2" --json 2>/dev/null | jq --arg k "$3" '[.alarms[] | select(.kind == $k)] | length'
}
has_alarm() { [ "$(alarms_of "$@")" -ge 1 ] 2>/dev/null; }
# b_seq_of DEV: B's mark of device DEV.
b_seq_of() { B status "$REGION" --json 2>/dev/null | jq -r --arg d "$1" '.peers[] | select(.device_id == $d) | .seq'; }
# a_journal_count: A's journal entries on a file:// store ("-" elsewhere).
a_journal_count()
{
	case $STORE in
	file://*) find "${STORE#file://}/$RID/journal/$DEV_A" -type f -name '0*' | wc -l ;;
	*) echo - ;;
	esac
}

# scenario TAG STORE: the whole story on STORE.
scenario()
{
	local tag=$1 ma mb mc t
	STORE=$2
	REGION=docs-$tag
	HB=$work/homeB-$tag
	HC=$work/homeC-$tag
	ma=$work/a-$tag mb=$work/b-$tag mc=$work/c-$tag
	mkdir -p "$ma" "$mb" "$mc"
	create_region "$REGION" --store "$STORE"
	RID=$REGION_ID
	enroll_device "devB-$tag" B "$REGION"
	DEV_A=$(A id --json | jq -r .device_id)

	SEALSYNC_HOME=$HA mount_region "$REGION" "$ma" || bail "$tag: mount on A failed"
	SEALSYNC_HOME=$HB mount_region "$REGION" "$mb" || bail "$tag: mount on B failed"
	printf 'one\n' >"$ma/one"
	run_ok "$tag: A syncs entry 1" A sync "$REGION"
	umount_region "$ma" || fail "$tag: umount A"
	# The copy: a backup of A's whole home taken now.
	cp -a "$HA" "$HC"
	SEALSYNC_HOME=$HA mount_region "$REGION" "$ma" || bail "$tag: remount on A failed"
	printf 'two\n' >"$ma/two"
	run_ok "$tag: A syncs entry 2 after the copy" A sync "$REGION"
	SEQ_A=$(A status "$REGION" --json | jq -r .journal_seq)
	run_ok "$tag: B syncs" B sync "$REGION"
	is "$(b_seq_of "$DEV_A")" "$SEQ_A" "$tag: B has A's entries up to $SEQ_A"
	n_before=$(a_journal_count)

	# --- the copy mounts: it finds entry 2 it did not write -----------------
	SEALSYNC_HOME=$HC mount_region "$REGION" "$mc" || bail "$tag: mount of the copy failed"
	converge "$tag: the copy's status names cloned-device" 60 has_alarm C "$REGION" cloned-device
	run C status "$REGION" --json
	t=$(jq -r '[.alarms[] | select(.kind == "cloned-device")][0].text' <<<"$T_OUT")
	like "$t" "re-enroll|Re-enroll" "$tag:   ... the alarm says to re-enroll" "$T_OUT"
	like "$(jq -r '[.alarms[] | select(.kind == "cloned-device")][0].device_id' <<<"$T_OUT")" "^$DEV_A\$" \
		"$tag:   ... about this device's own id"
	like "$(jq -r '.push.error.message' <<<"$T_OUT")" "^cloned-device: " \
		"$tag:   ... and the upload's error is cloned-device"
	run_fails "$tag: the copy's status exits non-zero" C status "$REGION"
	like "$T_OUT$T_ERR" "cloned-device" "$tag:   ... its text names cloned-device"
	printf 'from the copy\n' >"$mc/copy"
	run_fails "$tag: the copy's sync exits non-zero" C sync "$REGION"
	like "$T_OUT$T_ERR" "cloned-device" "$tag:   ... naming cloned-device"
	[ -s "$HC/regions/$RID/outbox/cloned-device" ]
	ok $? "$tag:   ... the stop is recorded in the copy's outbox"
	is "$(a_journal_count)" "$n_before" "$tag:   ... no journal entry of A's id was added"

	# --- B: one history, no equivocation, nothing from the copy -------------
	run_ok "$tag: B syncs again" B sync "$REGION"
	is "$(alarms_of B "$REGION" equivocation)" 0 "$tag:   ... B raises no equivocation"
	is "$(B status "$REGION" --json | jq '.alarm_count')" 0 "$tag:   ... nor any other alarm"
	[ ! -e "$mb/copy" ]
	ok $? "$tag:   ... and has not seen the copy's file"

	# --- the stop survives a remount of the copy ----------------------------
	umount_region "$mc" || fail "$tag: umount the copy"
	SEALSYNC_HOME=$HC mount_region "$REGION" "$mc" || bail "$tag: remount of the copy failed"
	converge "$tag: after a remount the copy still names cloned-device" 30 has_alarm C "$REGION" cloned-device
	run_fails "$tag:   ... and its sync still fails" C sync "$REGION"
	is "$(a_journal_count)" "$n_before" "$tag:   ... still no journal entry added"
	umount_region "$mc" || fail "$tag: umount the copy"

	# --- the original goes on -----------------------------------------------
	printf 'three\n' >"$ma/three"
	run_ok "$tag: A (the original) still syncs" A sync "$REGION"
	run_ok "$tag: B syncs" B sync "$REGION"
	content_is "$mb/three" three
	ok $? "$tag:   ... B has A's new file"
	is "$(B status "$REGION" --json | jq '.alarm_count')" 0 "$tag:   ... B has no alarm"
	is "$(alarms_of A "$REGION" cloned-device)" 0 "$tag:   ... A has no cloned-device"

	# --- the other order: a copy publishes first; the original stops --------
	umount_region "$ma" || fail "$tag: umount A"
	rm -rf "$HC"
	cp -a "$HA" "$HC"
	SEALSYNC_HOME=$HC mount_region "$REGION" "$mc" || bail "$tag: mount of the second copy failed"
	printf 'copy first\n' >"$mc/first"
	run_ok "$tag: a fresh copy that publishes before the original syncs" C sync "$REGION"
	umount_region "$mc" || fail "$tag: umount the second copy"
	SEALSYNC_HOME=$HA mount_region "$REGION" "$ma" || bail "$tag: remount on A failed"
	converge "$tag: the original now names cloned-device" 60 has_alarm A "$REGION" cloned-device
	printf 'late\n' >"$ma/late"
	run_fails "$tag:   ... and its sync fails" A sync "$REGION"
	run_ok "$tag: B syncs" B sync "$REGION"
	content_is "$mb/first" "copy first"
	ok $? "$tag:   ... B has the copy's entry (one history)"
	[ ! -e "$mb/late" ]
	ok $? "$tag:   ... and not the original's later file"
	is "$(alarms_of B "$REGION" equivocation)" 0 "$tag:   ... B raises no equivocation"
	umount_region "$ma" || fail "$tag: umount A"
	umount_region "$mb" || fail "$tag: umount B"
}

scenario file "file://$work/store"

if /usr/bin/python3 -c 'import swift' 2>/dev/null && command -v memcached >/dev/null 2>&1; then
	start_s3 || bail "scripts/s3-server.sh does not start"
	scenario s3 "s3://$S3_BUCKET/clone"
else
	skip "python3-swift or memcached is not installed (run scripts/deps.sh): no S3 server"
fi

done_testing
