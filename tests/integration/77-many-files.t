#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 77-many-files.t: more changed files than one commit round takes (issue #10:
# FS_COMMIT_MAX_FILES, 4096) are published in several journal entries, all of
# them, and a second device gets every file; their deletion (one round, C7)
# leaves nothing behind on it.  The files are made on a `--no-sync` mount so
# that they are all pending when the publishing mount starts, as after a
# long time offline.
TEST_TIMEOUT=600
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # unused default home
homes A B
file_region docs
enroll_device devB B docs
ma=$work/mA mb=$work/mB
mkdir "$ma" "$mb"

N=9000 # > 2 x 4096: three rounds
SEALSYNC_HOME=$HA mount_region docs "$ma" --no-sync || bail "A cannot mount (--no-sync)"
for d in d0 d1 d2; do
	mkdir "$ma/$d" && (cd "$ma/$d" && seq -f "f%.0f" 1 $((N / 3)) | xargs touch)
done
echo "a file with content" >"$ma/d2/f7"
n=$(find "$ma" -type f | wc -l)
is "$n" "$N" "A: $N files made without publishing"
SEALSYNC_HOME=$HA umount_region "$ma"
ok $? "A: unmounted"

SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "A cannot mount"
run_ok "A: sync publishes them" A sync docs
entries=$(find "$SD/journal" -type f | wc -l)
ok "$([ "$entries" -ge 3 ] && echo 0 || echo 1)" "several journal entries on the store ($entries)"
outbox_empty "$HA/regions/$RID"
ok $? "A: nothing left in the outbox"

SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot mount"
run_ok "B: sync" B sync docs
count_is() { [ "$(find "$1" -type f ! -path '*/.sealsync*' | wc -l)" = "$2" ]; }
wait_for "B to hold all $N files" 120 count_is "$mb" "$N"
ok $? "B holds all $N files"
is "$(cat "$mb/d2/f7" 2>/dev/null)" "a file with content" "B: the file with content reads back"

rm -rf "$ma/d0" "$ma/d1" "$ma/d2"
run_ok "A: sync the deletion" A sync docs
run_ok "B: sync" B sync docs
gone() { [ -z "$(find "$1" -mindepth 1 ! -path '*/.sealsync*' -print -quit)" ]; }
wait_for "B's tree to be empty" 120 gone "$mb"
ok $? "B: nothing left behind after rm -rf"

SEALSYNC_HOME=$HB umount_region "$mb"
SEALSYNC_HOME=$HA umount_region "$ma"
done_testing
