#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 75-demote-cutoff.t: a demotion has a cutoff (doc/SYNC.md invariant R5) on a
# file:// store.  Admin A, writer B (demoted), writer C, and D (a writer that
# mounts only at the end and replays the journals).
#  - B writes b1 while C is not mounted; A applies it, then demotes B: the
#    cutoff is B's last entry on the store (b1's).
#  - The store hides the SET_ROLE from B and C; B, unaware, writes b-late (an
#    entry past the cutoff) and C applies b1 and b-late.
#  - A, which knew the demotion, refuses b-late (not-a-writer, not holding).
#  - The SET_ROLE appears: C undoes b-late (the non-holding alarm names it),
#    keeps b1; A and C hold the same files, no holding alarm anywhere.
#  - D folds the demotion before it pulls B's journal: it takes b1 (at the
#    cutoff) and refuses b-late: the same files again.
#  - A promotes B again (resume = B's head): b-late stays void everywhere,
#    B's next write reaches A and C.
TEST_TIMEOUT=480
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # unused default home
homes A B C D

file_region docs
enroll_device devB B docs
enroll_device devC C docs
enroll_device devD D docs
idB=$(B id --json | jq -r .device_id)
ma=$work/mA mb=$work/mB mc=$work/mC md=$work/mD
mkdir "$ma" "$mb" "$mc" "$md"
SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "A cannot mount"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot mount"

# no_holding HOME: HOME's status lists no holding alarm.
no_holding()
{
	SEALSYNC_HOME=$1 "$SEALSYNC_BIN" status docs --json 2>/dev/null |
		jq -e '.alarms | map(select(.holds)) | length == 0' >/dev/null
}
# tree DIR: every regular file's path and hash, sorted.
tree() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum); }
same_tree() { [ "$(tree "$1")" = "$(tree "$2")" ]; }

# ------------------------------------------------------------ B writes b1; C is away
echo "A's notes" >"$ma/notes.txt"
echo "b1 by B as a writer" >"$mb/b1.txt"
sync_all B A
converge "B publishes b1" 60 outbox_empty "$HB/regions/$RID"
sync_all A
converge "A applied b1" 60 content_is "$ma/b1.txt" "b1 by B as a writer"
converge "A's outbox is empty" 60 outbox_empty "$HA/regions/$RID"

# ------------------------------------------------------------ demote B; the store hides it
umount_region "$mb"
run_ok "A: role B reader" A role docs "${idB:0:8}" reader
cutoff=$(sed -n 's/.*entries after seq \([0-9]*\) are refused.*/\1/p' <<<"$T_OUT")
[ -n "$cutoff" ] && [ "$cutoff" -ge 1 ]; ok $? "the demotion names a cutoff: B's last entry (seq $cutoff)"
sr_obj=$(ls "$SD/members/" | LC_ALL=C sort | tail -n1)
mv "$SD/members/$sr_obj" "$work/hidden-set-role"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot remount"
echo "b-late by B after its demotion" >"$mb/b-late.txt"
sync_all B
converge "B, unaware, publishes b-late" 60 outbox_empty "$HB/regions/$RID"
bseq=$(B status docs --json | jq -r .journal_seq)
ok $([ "$bseq" -gt "$cutoff" ] && echo 0 || echo 1) "B's journal is past the cutoff (seq $bseq > $cutoff)"
SEALSYNC_HOME=$HC mount_region docs "$mc" || bail "C cannot mount"
sync_all C
converge "C (the demotion hidden) applied b1" 60 content_is "$mc/b1.txt" "b1 by B as a writer"
converge "C (the demotion hidden) applied b-late" 60 content_is "$mc/b-late.txt" "b-late by B after its demotion"
sync_all A
converge "A (which knew the demotion) names not-a-writer for b-late" 30 alarm_named "$HA" not-a-writer "$idB" "demotion cutoff"
[ ! -e "$ma/b-late.txt" ]; ok $? "A never shows b-late"
content_is "$ma/b1.txt" "b1 by B as a writer"; ok $? "A keeps b1 (at the cutoff)"

# ------------------------------------------------------------ the demotion appears
mv "$work/hidden-set-role" "$SD/members/$sr_obj"
sync_all C
converge "C undoes b-late and names not-a-writer" 60 alarm_named "$HC" not-a-writer "$idB" "undone"
converge "C: b-late is gone" 30 sh -c "[ ! -e '$mc/b-late.txt' ]"
content_is "$mc/b1.txt" "b1 by B as a writer"; ok $? "C keeps b1 (at the cutoff)"
sync_all A C
converge "A and C hold the same files" 60 same_tree "$ma" "$mc"
no_holding "$HA"; ok $? "A has no holding alarm"
no_holding "$HC"; ok $? "C has no holding alarm"

# ------------------------------------------------------------ D folds the demotion first
SEALSYNC_HOME=$HD SEALSYNC_NO_CHECKPOINT=1 mount_region docs "$md" || bail "D cannot mount"
sync_all D
converge "D (replaying) takes b1" 60 content_is "$md/b1.txt" "b1 by B as a writer"
converge "D and A hold the same files" 60 same_tree "$ma" "$md"
[ ! -e "$md/b-late.txt" ]; ok $? "D never shows b-late"
no_holding "$HD"; ok $? "D has no holding alarm (B is not accused of b1)"

# ------------------------------------------------------------ promoted again
converge "B's mount turns read-only" 30 sh -c "! { echo x >'$mb/w.txt'; } 2>/dev/null"
run_ok "A: role B writer" A role docs "${idB:0:8}" writer
like "$T_OUT" "count again" "the promotion names B's resume"
converge "B may write again" 60 sh -c "{ echo 'b2 by B promoted' >'$mb/b2.txt'; } 2>/dev/null"
sync_all B
converge "B publishes b2" 60 outbox_empty "$HB/regions/$RID"
sync_all A C D
converge "A gets b2" 60 content_is "$ma/b2.txt" "b2 by B promoted"
converge "C gets b2" 60 content_is "$mc/b2.txt" "b2 by B promoted"
converge "D gets b2" 60 content_is "$md/b2.txt" "b2 by B promoted"
[ ! -e "$ma/b-late.txt" ] && [ ! -e "$mc/b-late.txt" ] && [ ! -e "$md/b-late.txt" ]
ok $? "b-late stays void on A, C and D"
converge "A and C hold the same files after the promotion" 60 same_tree "$ma" "$mc"
same_tree "$ma" "$md"; ok $? "A and D hold the same files"
for h in "$HA" "$HC" "$HD"; do no_holding "$h"; ok $? "no holding alarm on $(basename "$h")"; done

# ------------------------------------------------------------ the log names both marks
run_ok "A: log docs --json" A log docs --json
is "$(jq -r --arg b "$idB" '[.entries[] | select(.kind == "SET_ROLE" and .device == $b) |
	"\(.role) \(.cutoff // "-") \(.resume // "-")"] | join(",")' <<<"$T_OUT")" \
	"reader $cutoff -,writer - $bseq" "log --json: the demotion's cutoff and the promotion's resume" \
	"$(jq -c '[.entries[] | select(.kind == "SET_ROLE")]' <<<"$T_OUT")"
run_ok "A: log docs" A log docs
like "$T_OUT" "entries after seq $cutoff are refused \\(the demotion's cutoff\\)" "log text: the cutoff"
like "$T_OUT" "up to seq $bseq stay void; later ones count \\(resume\\)" "log text: the resume"

for m in "$ma" "$mb" "$mc" "$md"; do umount_region "$m"; done
done_testing
