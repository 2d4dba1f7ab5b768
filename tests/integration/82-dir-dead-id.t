#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 82-dir-dead-id.t: three devices (separate SEALSYNC_HOMEs) on one file:// store; a
# deleted id of a merged directory that entries still name (doc/SYNC.md U5 with U6;
# tests/sim/FOUND.md F31, F39).
#  - A makes d (id X) and B gets it while C, offline and unmounted, makes its own d (id Y).
#  - During a partition A deletes d (X only: it never saw Y) and B makes d/f in X.
#  - Healed, A and B hold X at d for f (U6); then C comes back: on C, X and Y merge at d,
#    X's deletion leaves f in the merged directory (X's id routes entries there: F31),
#    and Y reaches A and B, where it merges into the held X.  Every device shows d/f.
#  - C renames d to e: f moves with it on every device, and no d is left anywhere (F39:
#    before, C showed e/f while A and B kept f at d, held by the deleted X).
TEST_TIMEOUT=420
. "$(dirname "$0")/lib.sh"
need_cmd jq

three_mounts docs

onC() { SEALSYNC_HOME=$HC "$@"; }

echo "base" >"$ma/base.txt"
converge "B and C have A's file" 30 content_is "$mc/base.txt" base

# --- C makes its own d offline, and stays away ------------------------------------
partition
mkdir "$mc/d"
commit_offline C
onC umount_region "$mc" || bail "umount of C failed"
heal
mkdir "$ma/d"
converge "B has A's d" 60 test -d "$mb/d"

# --- A deletes its d while B makes a file in it ----------------------------------
partition
rmdir "$ma/d"
commit_offline A
echo "B's f" >"$mb/d/f"
commit_offline B
heal
converge "A and B agree: A's deleted d is held by B's f" 60 \
	eval 'same_tree "$ma" "$mb" && content_is "$ma/d/f" "B'"'"'s f"' ||
	diag "B vs A:" "$(diff <(tree_listing "$ma") <(tree_listing "$mb"))"

# --- C comes back: its d meets A's deleted one -------------------------------------
onC mount_region docs "$mc" || bail "mount of C failed"
converge "the three trees converge with d/f" 120 \
	eval 'all_same && [ "$(names "$mc/d")" = "f " ]' || show_diff
is "$(names "$ma")" "base.txt d " "A shows base.txt and d"

# --- C renames d: what it showed in d moves with it everywhere ---------------------
mv "$mc/d" "$mc/e"
at_e() { local m; for m in "$ma" "$mb" "$mc"; do [ "$(names "$m")|$(names "$m/e")" = "base.txt e |f " ] || return 1; done; }
converge "C's rename reaches A and B with f" 120 eval 'all_same && at_e' || show_diff
for m in "$ma" "$mb" "$mc"; do
	is "$(names "$m")" "base.txt e " "  ... on $(basename "$m"): base.txt and e, no d"
	is "$(names "$m/e")" "f " "  ... on $(basename "$m"): e holds f"
done
ok "$([ ! -e "$ma/.sealsync-orphans" ] && [ ! -e "$mc/.sealsync-orphans" ] && echo 0 || echo 1)" \
	"nothing ended up under .sealsync-orphans"

# --- at rest ------------------------------------------------------------------------
remount_unchanged C "$mc" "$HC"

done_testing
