#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 42-create-during-merge.t: issue #11 case 6.  Two devices create the same
# directory at once and then churn files in it, each from a shell whose
# working directory is that directory.  When the two directories merge
# (doc/SYNC.md "Conflicts", rule 5) one device's directory inode is retired
# under its running shell: creates there must keep working (they land in
# the merged directory) -- no ENOENT in an existing directory -- and the
# committer must not fail whole rounds under the churn.  In the end both
# devices show one directory holding every file either side created.
TEST_TIMEOUT=420
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd jq

two_devices docs
ma=$work/a
mb=$work/b
mkdir -p "$ma" "$mb"
SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "mount A failed"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "mount B failed"
RDIR_B=$HB/regions/$RID

# churn DIR PREFIX: from inside DIR, creates PREFIX1, PREFIX2, ... until
# $work/stop exists (at most 3000); names that were created go to
# $work/PREFIX.ok, failures (with the error) to $work/PREFIX.failed.
churn()
{
	local i=0
	cd "$1" || { echo "cd $1 failed" >>"$work/$2.failed"; return; }
	while [ ! -e "$work/stop" ] && [ $i -lt 3000 ]; do
		i=$((i + 1))
		if echo "$2 $i" >"$2$i" 2>>"$work/$2.err"; then
			echo "$2$i" >>"$work/$2.ok"
		else
			echo "$2$i $(tail -n1 "$work/$2.err")" >>"$work/$2.failed"
		fi
	done
}

mkdir "$ma/shared" & mkdir "$mb/shared"
wait
: >"$work/a.ok"; : >"$work/b.ok"; : >"$work/a.failed"; : >"$work/b.failed"
churn "$ma/shared" a &
ca=$!
churn "$mb/shared" b &
cb=$!
# Until both devices see the other's files in one directory (the merge), then
# a little longer so the creates run against the retired inode.
merged=0
for _ in $(seq 600); do
	if ls "$ma/shared" 2>/dev/null | grep -q '^b' && ls "$mb/shared" 2>/dev/null | grep -q '^a'; then
		merged=1
		break
	fi
	sleep 0.1
done
ok "$((!merged))" "the two directories merged while both devices created files in them"
n0=$(($(wc -l <"$work/a.ok") + $(wc -l <"$work/b.ok")))
for _ in $(seq 300); do
	[ $(($(wc -l <"$work/a.ok") + $(wc -l <"$work/b.ok"))) -ge $((n0 + 200)) ] && break
	sleep 0.1
done
touch "$work/stop"
wait $ca $cb
note "created: A $(wc -l <"$work/a.ok"), B $(wc -l <"$work/b.ok")"
is "$(cat "$work/a.failed" "$work/b.failed" | head -n 5)" "" "no create failed (no ENOENT in an existing directory)"

run_ok "A: sync" A sync docs
run_ok "B: sync" B sync docs
run_ok "A: sync again" A sync docs
is "$(find "$ma" -mindepth 1 -maxdepth 1 -name 'shared*' | wc -l)" 1 "A: one directory 'shared'"
is "$(find "$mb" -mindepth 1 -maxdepth 1 -name 'shared*' | wc -l)" 1 "B: one directory 'shared'"
missing=0
for f in $(cat "$work/a.ok" "$work/b.ok"); do
	[ -f "$ma/shared/$f" ] && [ -f "$mb/shared/$f" ] || missing=$((missing + 1))
done
is "$missing" 0 "every created file is in 'shared' on both devices"
for h in "$HA/regions/$RID" "$RDIR_B"; do
	n=$(grep -c 'commit failed' "$h/mount.log")
	is "$n" 0 "${h##*/home}: no commit round failed under the churn" \
		"$(grep 'commit failed\|cannot encode' "$h/mount.log" | tail -n 3)"
done
umount_region "$ma"
umount_region "$mb"
done_testing
