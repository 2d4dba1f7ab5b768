#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 17-conflict.t: three devices (separate SEALSYNC_HOMEs) mounted at once on
# one file:// store.  The store goes away (a partition: every device is
# offline at once), the devices change the same things, the store comes
# back.  Then (doc/SYNC.md "Conflicts"):
#  - two edits of one file: exactly one winner and one conflict copy
#    "name (conflict from DEV DATE HASH).ext", the same bytes on every device;
#  - of an edit and a concurrent deletion the later (Lamport) wins; an edit
#    that loses is kept as a conflict copy (by its author); also for a file
#    inside a deleted directory (doc/SYNC.md U1);
#  - one name created on two devices: both files survive, one renamed the
#    same way everywhere; when the one holding the name is deleted, the other
#    takes the name back on every device (U4);
#  - afterwards nothing changes any more (no copies of copies), a remount
#    keeps it, and the store holds no plaintext.
TEST_TIMEOUT=420
. "$(dirname "$0")/lib.sh"
need_cmd jq

three_mounts docs

# tree_sig DIR: every path with its type and, for files, a content hash.
tree_sig()
{
	(cd "$1" && find . -mindepth 1 -printf '%y %P\n' | sort | while read -r t p; do
		if [ "$t" = f ]; then
			printf '%s %s %s\n' "$t" "$p" "$(sha256sum <"$p" | cut -c1-16)"
		else
			printf '%s %s\n' "$t" "$p"
		fi
	done)
}
all_same() { [ "$(tree_sig "$ma")" = "$(tree_sig "$mb")" ] && [ "$(tree_sig "$ma")" = "$(tree_sig "$mc")" ]; }
# show_diff: how B and C differ from A (after a failed all_same).
show_diff()
{
	diag "B vs A:" "$(diff <(tree_sig "$ma") <(tree_sig "$mb"))" \
		"C vs A:" "$(diff <(tree_sig "$ma") <(tree_sig "$mc"))"
}

# --- a common starting point --------------------------------------------------
MARK=SEALSYNCCONFLICTMARK$RANDOM$RANDOM
echo "base $MARK" >"$ma/doc.txt"
echo "will be deleted on A" >"$ma/gone.txt"
mkdir -p "$ma/proj/sub"
echo "inside" >"$ma/proj/sub/f"
echo "sibling" >"$ma/proj/keep"
LONG=$(printf 'L%.0s' $(seq 245)).txt # 249 bytes: a conflict name must shorten it
echo "long base" >"$ma/$LONG"
converge "B and C have A's files" 30 content_is "$mc/proj/sub/f" inside
converge "all three trees agree before the partition" 30 all_same || show_diff

# --- the partition: every device offline, each changes things ----------------
partition
echo "A's version $MARK" >"$ma/doc.txt"
echo "B's version $MARK" >"$mb/doc.txt"
echo "long on A" >"$ma/$LONG"
echo "long on B" >"$mb/$LONG"
# The same directory made on two devices, with a same-named file and subdirectory inside.
mkdir -p "$ma/photos/2026" "$mb/photos/2026"
echo "a" >"$ma/photos/a.jpg"
echo "b" >"$mb/photos/b.jpg"
echo "x" >"$ma/photos/2026/x"
echo "y" >"$mb/photos/2026/y"
echo "A same" >"$ma/photos/same.txt"
echo "B same" >"$mb/photos/same.txt"
commit_offline A B # a commit round: the directories' next versions come in later entries
echo "late" >"$ma/photos/late.jpg"
rm "$ma/gone.txt"
echo "C edited it" >"$mc/gone.txt"
echo "B made new.txt" >"$mb/new-$MARK.txt" # names reach no log: the marker is searched in the homes
echo "C made new.txt" >"$mc/new-$MARK.txt"
rm -r "$ma/proj"
echo "B edited inside" >"$mb/proj/sub/f"
# Each device commits its changes locally (the outbox) while offline.
commit_offline A B C
ok "$([ -f "$work/store" ] && echo 0 || echo 1)" "the store stayed away while the devices worked"
heal

# --- healed ---------------------------------------------------------------
converge "the three trees converge after the partition" 120 all_same || show_diff
sig=$(tree_sig "$ma")
note "$sig"

ndoc=$(cd "$ma" && ls -1 | grep -c '^doc (conflict from dev[AB] [0-9-]\{10\} [0-9a-f]\{6\})\.txt$')
is "$ndoc" 1 "exactly one conflict copy of doc.txt"
copy=$(cd "$ma" && ls -1 | grep '^doc (conflict from' | head -1)
pair="$(cat "$ma/doc.txt")|$(cat "$ma/$copy" 2>/dev/null)"
case "$pair" in
"A's version $MARK|B's version $MARK" | "B's version $MARK|A's version $MARK")
	pass "winner and copy hold the two versions ($(cat "$ma/doc.txt" | cut -c1-12)won)"
	;;
*) fail "winner and copy hold the two versions" "got: $pair" ;;
esac
# Edit vs delete (SYNC.md U1): of an edit and a concurrent deletion the later (Lamport) wins;
# an edit that loses is kept as a conflict copy (by its author).  Which is later depends on
# the devices' clocks before the partition, so either outcome passes; either way the edit
# survives exactly once, the same everywhere (all_same above).
# $1: directory, $2: base, $3: extension, $4: author, $5: content.
edit_survives()
{
	local d=$1 base=$2 ext=$3 dev=$4 want=$5 n
	if [ "$(cat "$d/$base$ext" 2>/dev/null)" = "$want" ]; then
		n=$(cd "$d" && ls -1 | grep -c "^$base (conflict from")
		[ "$n" = 0 ] && echo "the edit won: $base$ext is back"
		return
	fi
	n=$(cd "$d" 2>/dev/null && ls -1 | grep -c "^$base (conflict from $dev [0-9-]\{10\} [0-9a-f]\{6\})$ext\$")
	[ "$n" = 1 ] && [ ! -e "$d/$base$ext" ] && [ "$(cat "$d/$base (conflict from $dev"*"$ext")" = "$want" ] &&
		echo "the deletion won: the edit is $dev's conflict copy"
}
how=$(edit_survives "$ma" gone .txt devC "C edited it")
ok "$([ -n "$how" ] && echo 0 || echo 1)" "edit vs delete: C's edit of gone.txt survives once ($how)" \
	"$(cd "$ma" && ls -1 | grep gone)"
how=$(edit_survives "$ma/proj/sub" f "" devB "B edited inside")
ok "$([ -n "$how" ] && echo 0 || echo 1)" \
	"edit vs delete inside a deleted directory: B's edit of proj/sub/f survives once ($how)" \
	"$(ls -1 "$ma/proj/sub" 2>&1)"
ok "$([ -d "$ma/proj/sub" ] && echo 0 || echo 1)" "the directories above it are there"
nlong=$(cd "$ma" && ls -1 | grep -c '^LLLL.* (conflict from dev[AB] [0-9-]\{10\} [0-9a-f]\{6\})\.txt$')
is "$nlong" 1 "a 249-byte name in conflict: one copy, its base shortened to fit 255 bytes"
is "$(cd "$ma" && ls -1d photos* | tr '\n' ' ')" "photos " \
	"one directory made on two devices under one name: merged, not renamed"
is "$(cd "$ma/photos" && ls -1 | grep -v '^same' | tr '\n' ' ')" "2026 a.jpg b.jpg late.jpg " \
	"the merged directory holds both devices' entries"
is "$(cd "$ma/photos/2026" && ls -1 | tr '\n' ' ')" "x y " "same-named subdirectories merge too"
is "$(cd "$ma/photos" && cat same*.txt | sort | tr '\n' '|')" "A same|B same|" \
	"a same-named file inside: both kept"
nnew=$(cd "$ma" && ls -1 | grep -c '^new')
is "$nnew" 2 "one name made on two devices: both files survive"
got=$(cd "$ma" && cat new*.txt | sort | tr '\n' '|')
is "$got" "B made new.txt|C made new.txt|" "the two new.txt files hold both contents"
ok "$([ ! -e "$ma/.sealsync-orphans" ] && echo 0 || echo 1)" "nothing ended up under .sealsync-orphans"

# doc, the long name, the renamed new.txt, same.txt, and the edits that lost to a deletion
ncopies=$(find "$ma" -name '*conflict from*' | wc -l)
note "$ncopies conflict copies"

# --- sealsync conflicts (issue 12): exactly the copies find sees, with their authors ----
want=$(cd "$ma" && find . -mindepth 1 -name '*(conflict from *' -printf '%P\n' | LC_ALL=C sort)
run_ok "A: conflicts docs --json" A conflicts docs --json
json=$T_OUT
is "$(printf '%s\n' "$json" | jq -r '.conflicts[].path' | LC_ALL=C sort)" "$want" \
	"conflicts --json lists exactly the copies find sees ($ncopies)"
is "$(printf '%s\n' "$json" | jq -r '[.version == 1, .region == "docs"] | all')" true \
	"  ... version 1 and the region's name"
is "$(printf '%s\n' "$json" | jq -r '[.conflicts[] |
	(.path | capture("\\(conflict from (?<d>[^ ]+) [0-9-]{10} [0-9a-f]{6}\\)").d) == .copy.author and
	(.copy.author_id | test("^[0-9a-f]{32}$")) and
	(.copy.mtime | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"))] | all')" true \
	"  ... each copy's author is the device its name names, with its id and an RFC 3339 mtime" \
	"$json"
is "$(printf '%s\n' "$json" | jq -r '.conflicts[] | select(.path | startswith("doc (")) |
	[.original.path == "doc.txt", .original.exists, (.original.author | test("^dev[AB]$")),
	 .original.author != .copy.author, (.original.mtime | type) == "string"] | all')" true \
	"  ... doc.txt's copy: the original exists, by the other of devA and devB"
is "$(printf '%s\n' "$json" | jq -r --arg long "$LONG" '[.conflicts[] | select(.path | startswith("LLLL")) |
	.original.path == $long and .original.exists and (.original.author | test("^dev[AB]$"))] |
	(length == 1 and all)')" true \
	"  ... the shortened long name: its original is found (the one long name that is no copy)" \
	"$(printf '%s\n' "$json" | jq -c '.conflicts[] | select(.path | startswith("LLLL"))')"
ids=$(printf '%s\n' "$json" | jq -r '[.conflicts[].copy | "\(.author) \(.author_id)"] | unique[]')
for dv in A:$HA B:$HB C:$HC; do
	IFS=: read -r n h <<<"$dv"
	id=$(SEALSYNC_HOME=$h "$SEALSYNC_BIN" id --json | jq -r .device_id)
	if printf '%s\n' "$ids" | grep -q "^dev$n "; then
		ok "$(printf '%s\n' "$ids" | grep -qx "dev$n $id" && echo 0 || echo 1)" \
			"  ... dev$n's copies carry dev$n's device id" "$ids"
	fi
done
run_ok "A: conflicts docs (text)" A conflicts docs
note "$T_OUT"
is "$(printf '%s\n' "$T_OUT" | grep -v '^  ' | LC_ALL=C sort)" "$want" \
	"conflicts text: one block per copy, headed by its path"
is "$(printf '%s\n' "$T_OUT" | grep -cE '^  copy:     by dev[ABC] \([0-9a-f]{8}\), modified [0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$')" \
	"$ncopies" "  ... each with its author (name and id prefix) and mtime"
is "$(printf '%s\n' "$T_OUT" | grep -cE '^  original: ')" "$ncopies" "  ... and its original"
printf '%s\n' "$T_OUT" | grep -qE '^  original: doc\.txt, by dev[AB] \([0-9a-f]{8}\), modified '
ok $? "  ... doc.txt's original with its current author" "$T_OUT"
run_ok "B: conflicts docs --json" B conflicts docs --json
is "$(printf '%s\n' "$T_OUT" | jq -r '.conflicts[].path' | LC_ALL=C sort)" "$want" \
	"B lists the same copies"
run_ok "A: status docs --json" A status docs --json
if [ "$(printf '%s\n' "$T_OUT" | jq -r .conflicts)" != 0 ]; then
	run_ok "A: status docs" A status docs
	like "$T_OUT" "conflicts: .*sealsync conflicts docs" "status text points to 'sealsync conflicts docs'"
else
	skip "A counted no conflict: status has nothing to point to"
fi

# --- stable: no copies of copies, no flapping ---------------------------------
# Two full rounds (commit, upload, pull) on every device, one after the other.
for _ in 1 2; do for d in A B C; do "$d" sync docs >/dev/null 2>&1 </dev/null; done; done
is "$(tree_sig "$ma")" "$sig" "A: nothing changes any more"
ok "$(all_same && echo 0 || echo 1)" "the three trees still agree" || show_diff

# --- a later edit of the winner and of the copy propagate normally ------------
echo "after the conflict" >"$mc/doc.txt"
echo "into the merged dir" >"$mc/photos/2026/z"
echo "copy edited" >"$mb/$copy"
converge "an edit of the winner reaches A" 30 content_is "$ma/doc.txt" "after the conflict"
converge "an edit of the copy reaches A" 30 content_is "$ma/$copy" "copy edited"
converge "a new file in the merged directory reaches A" 30 content_is "$ma/photos/2026/z" \
	"into the merged dir"
converge "all three trees agree again" 30 all_same || show_diff
n=$(find "$ma" -name '*conflict from*' | wc -l)
is "$n" "$ncopies" "no new conflict copies from ordinary edits"
n=$(cd "$ma/photos" && ls -1 | grep -c 'conflict from')
is "$n" 1 "one inside the merged directory (same.txt)"

# --- rule 5 on the current state (doc/SYNC.md U4): a freed name goes back -------
# The new.txt that lost the name is shown under its conflict name; once the one that
# holds the name is deleted (here on C), it takes the name back on every device.
held=$(cat "$ma/new-$MARK.txt")
case "$held" in "B made new.txt") other="C made new.txt" ;; *) other="B made new.txt" ;; esac
rm "$mc/new-$MARK.txt"
only_new() { [ "$(cd "$1" && ls -1 | grep -c '^new')" = 1 ] && [ "$(cat "$1/new-$MARK.txt" 2>/dev/null)" = "$other" ]; }
for d in "$ma" "$mb" "$mc"; do
	converge "$(basename "$d"): the displaced new.txt has its name back" 30 only_new "$d" ||
		diag "$(cd "$d" && ls -1 | grep '^new')"
done
converge "all three trees agree after the name came back" 30 all_same || show_diff

# --- durable and ciphertext only ----------------------------------------------
sig=$(tree_sig "$mb")
export SEALSYNC_HOME=$HB # umount waits for the daemon of this home's region lock
umount_region "$mb"
ok $? "B: umount"
mount_region docs "$mb" || bail "remount on B failed"
export SEALSYNC_HOME=$HA
is "$(tree_sig "$mb")" "$sig" "B: the resolved tree survives a remount"
# --- a fourth device bootstraps from all three journals, in its own order ----
# Deletions, conflict copies, renamed collisions and the merged directories
# must come out the same (rule 4: a version older than a deletion that
# arrives later does not bring the file back).
HD=$work/homeD
D() { SEALSYNC_HOME=$HD "$SEALSYNC_BIN" "$@"; }
enroll_device devD D docs
md=$work/d
mkdir -p "$md"
export SEALSYNC_HOME=$HD
mount_region docs "$md" || bail "mount on D failed"
export SEALSYNC_HOME=$HA
run_ok "D: sync" D sync docs --timeout 120
converge "D, bootstrapped from the journals, has A's tree" 60 \
	eval '[ "$(tree_sig "$md")" = "$(tree_sig "$ma")" ]' || diag "$(diff <(tree_sig "$ma") <(tree_sig "$md"))"
# --- conflicts: none, and not mounted -------------------------------------------
create_region clean --store "file://$work/store2"
mkdir -p "$work/clean"
mount_region clean "$work/clean" || bail "mount of clean failed"
echo "just a file" >"$work/clean/f.txt"
run_ok "conflicts of a region without any" A conflicts clean
is "$T_OUT" "no conflict copies in region clean" "  ... says so (exit 0)"
run_ok "conflicts clean --json" A conflicts clean --json
is "$(printf '%s\n' "$T_OUT" | jq -c '.conflicts')" "[]" "  ... an empty array in JSON"
umount_region "$work/clean"
run_fails "conflicts of a region not mounted" A conflicts clean
is "$T_RC" 1 "  ... exits 1"
like "$T_ERR" "not mounted" "  ... saying it is not mounted"
run_fails "conflicts with no NAME" A conflicts
is "$T_RC" 2 "  ... a usage error (exit 2)"
grep -r -a -l "$MARK" "$work/store.real" "$HA" "$HB" "$HC" "$HD" >"$work/leaks" 2>/dev/null
is "$(wc -l <"$work/leaks")" 0 "no plaintext marker in the store or any home" "$(head "$work/leaks")"

done_testing
