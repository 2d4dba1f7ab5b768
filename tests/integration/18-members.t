#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 18-members.t: the membership is refreshed at mount and while mounted
# (doc/SYNC.md "Membership").  A creates the region, B joins and mounts;
# then C joins while B is mounted and writes a file: B pulls it within
# ~45 s without a remount (its puller refreshes the membership about every
# 30 s), and B's status lists C.  B remounted with the store unreachable
# (a regular file where the store's directory was) still mounts from its
# local membership cache, which by then knows C, and serves its files.
TEST_TIMEOUT=300
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

# b_peers: the device ids B's mount pulls from, sorted, one a line.
b_peers() { B status docs --json 2>/dev/null | jq -r '.peers[]?.device_id' | sort; }
b_has_peer() { b_peers | grep -qx "$1"; }

mb=$work/b
mc=$work/c
mkdir -p "$mb" "$mc"
DEV_A=$(A id --json | jq -r .device_id)

# --- B joins and mounts: it knows A only ---------------------------------------
enroll_device devB B docs
export SEALSYNC_HOME=$HB
mount_region docs "$mb" || bail "mount on B failed"
export SEALSYNC_HOME=$HA
is "$(b_peers | tr '\n' ' ')" "$DEV_A " "B's mount pulls from A only"

# --- C joins while B is mounted, and writes ---------------------------------------
enroll_device devC C docs
DEV_C=$(C id --json | jq -r .device_id)
export SEALSYNC_HOME=$HC
mount_region docs "$mc" || bail "mount on C failed"
export SEALSYNC_HOME=$HA
echo "written on C" >"$mc/from-c.txt"
t0=$(date +%s)
converge "B sees C's file without a remount" 45 content_is "$mb/from-c.txt" "written on C"
note "C's file reached B $(($(date +%s) - t0)) s after it was written"
ok "$(b_has_peer "$DEV_C" && echo 0 || echo 1)" "B's status lists C as a peer" "$(b_peers)"
echo "written on B" >"$mb/from-b.txt"
converge "C sees B's file" 45 content_is "$mc/from-b.txt" "written on B"
umount_region "$mc"
ok $? "C: umount"

# --- B remounted with the store unreachable -----------------------------------------
umount_region "$mb"
ok $? "B: umount"
rm "$work/store" && touch "$work/store"
export SEALSYNC_HOME=$HB
mount_region docs "$mb"
ok $? "B: mounts with the store unreachable" "$MOUNT_OUT"
export SEALSYNC_HOME=$HA
like "$MOUNT_OUT" "unreachable" "B: the mount warns that the store is unreachable"
is "$(cat "$mb/from-c.txt" 2>/dev/null)" "written on C" "B (offline) serves C's file"
is "$(cat "$mb/from-b.txt" 2>/dev/null)" "written on B" "B (offline) serves its own file"
ok "$(b_has_peer "$DEV_C" && echo 0 || echo 1)" "B (offline) still pulls from C: its cache learned C" \
	"$(b_peers)"
umount_region "$mb"
ok $? "B: umount (offline)"
rm "$work/store" && ln -s store.real "$work/store"

done_testing
