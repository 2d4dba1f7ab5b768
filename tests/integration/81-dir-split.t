#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 81-dir-split.t: three devices (separate SEALSYNC_HOMEs) mounted at once on one
# file:// store; a rename of one id of a merged directory (doc/SYNC.md U5, the
# split; tests/sim/FOUND.md F29).
#  - During a partition A makes d/a.txt and commits, then renames d to e and
#    commits; B makes its own d/b.txt.  When the store is back, B meets A's d
#    (it merges with its own: rule 5) and then A's rename of it: that id splits
#    off to e with a.txt, B's id keeps d with b.txt.  Every device ends with
#    e/a.txt and d/b.txt (before the split: d held both on B, or e did, and the
#    devices differed).
#  - A directory made on two devices (merged everywhere) renamed on one of them
#    moves whole on every device: the rename is published for each of its ids.
#  - A remount keeps the trees.
TEST_TIMEOUT=420
. "$(dirname "$0")/lib.sh"
need_cmd jq

three_mounts docs


echo "base" >"$ma/base.txt"
converge "B and C have A's file" 30 content_is "$mc/base.txt" base

# --- a rename of one id of a merged directory, made before the ids met ----------
partition
mkdir "$ma/d"
echo "A's" >"$ma/d/a.txt"
commit_offline A # d and d/a.txt: one entry
mv "$ma/d" "$ma/e"
commit_offline A # the rename: a later entry
mkdir "$mb/d"
echo "B's" >"$mb/d/b.txt"
commit_offline B
ok "$([ -f "$work/store" ] && echo 0 || echo 1)" "the store stayed away while the devices worked"
heal
converge "the three trees converge after the partition" 120 all_same || show_diff
is "$(names "$ma")" "base.txt d e " "the renamed id is at e, the other one at d"
is "$(names "$ma/e")" "a.txt " "e holds the entry made in the id that was renamed"
is "$(names "$ma/d")" "b.txt " "d holds the entry made in the other id"
for m in "$mb" "$mc"; do
	is "$(cat "$m/e/a.txt" 2>/dev/null)|$(cat "$m/d/b.txt" 2>/dev/null)" "A's|B's" \
		"  ... on $(basename "$m"): e/a.txt and d/b.txt"
done

# --- a rename of a directory merged everywhere: every id moves -------------------
partition
mkdir "$ma/m"
echo "A in m" >"$ma/m/a.txt"
mkdir "$mb/m"
echo "B in m" >"$mb/m/b.txt"
commit_offline A B
heal
converge "the directory made on two devices is merged on all three" 120 \
	eval 'all_same && [ "$(names "$mc/m")" = "a.txt b.txt " ]' || show_diff
mv "$mb/m" "$mb/n"
converge "B's rename of the merged directory reaches A and C" 120 \
	eval 'all_same && [ ! -e "$ma/m" ] && [ "$(names "$ma/n")" = "a.txt b.txt " ]' || show_diff
echo "A after" >"$ma/n/after.txt"
converge "a file made in it later lands in it on every device" 60 \
	eval 'all_same && content_is "$mc/n/after.txt" "A after"' || show_diff
ok "$([ ! -e "$ma/.sealsync-orphans" ] && [ ! -e "$mb/.sealsync-orphans" ] && echo 0 || echo 1)" \
	"nothing ended up under .sealsync-orphans"

# --- at rest ------------------------------------------------------------------------
remount_unchanged B "$mb" "$HB"

done_testing
