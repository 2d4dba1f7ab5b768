#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 80-open-writer.t: a file open for writing while a remote version arrives
# (doc/SYNC.md U7; tests/sim/FOUND.md F22).  Two devices on one file:// store.
#  - A program on A opens f.txt read-write and reads it; B appends a line and
#    publishes; A takes B's version (a second reader on A sees B's line); then
#    the program truncates the file and writes back what it had read plus a
#    line of its own.  It never read B's line: that line must survive, as a
#    conflict copy, on both devices (before U7 it was gone everywhere: the
#    lost rewrite of the fault run, 68-fault-run.t).
#  - B deletes g.txt while a program on A holds it open for writing: A keeps
#    the file until the program closes it (`status` names it meanwhile); what
#    the program wrote then is a later edit than the deletion and wins on both
#    devices (U1).
TEST_TIMEOUT=420
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd jq python3

two_devices docs

ma=$work/a
mb=$work/b
mkdir -p "$ma" "$mb"
SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "mount on A failed"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "mount on B failed"

# holder FILE CTL READY LINE: opens FILE read-write, reads it, touches READY,
# then waits for a command on the fifo CTL: "rewrite" truncates FILE and
# writes back what it read plus LINE, "append" writes LINE at the end; then
# fsync and close.  Exits 0 once the file is closed.
holder()
{
	python3 - "$@" <<'EOF'
import os, sys
path, ctl, ready, line = sys.argv[1:5]
fd = os.open(path, os.O_RDWR)
old = b""
while True:
    b = os.read(fd, 65536)
    if not b:
        break
    old += b
open(ready, "w").close()
with open(ctl) as f:
    cmd = f.read().strip()
if cmd == "rewrite":
    os.ftruncate(fd, 0)
    os.pwrite(fd, old + line.encode() + b"\n", 0)
elif cmd == "append":
    os.pwrite(fd, line.encode() + b"\n", os.fstat(fd).st_size)
os.fsync(fd)
os.close(fd)
EOF
}

has_line() { grep -qx "$2" "$1" 2>/dev/null; }
# lines_of MOUNT BASE: every line of BASE and of its conflict copies, sorted.
lines_of() { cat "$1/$2".txt "$1/$2 (conflict from "*")".txt 2>/dev/null | LC_ALL=C sort; }
# (the conditions below poll only: the daemons commit, publish and pull by themselves)

# --- a rewrite from a read made before a remote version -----------------------
printf 'a1\n' >"$ma/f.txt"
run_ok "A: sync f.txt" A sync docs
converge "B sees f.txt" 60 has_line "$mb/f.txt" a1
mkfifo "$work/ctl1"
holder "$ma/f.txt" "$work/ctl1" "$work/ready1" a2 &
h1=$!
wait_for "the program on A to read f.txt" 30 test -e "$work/ready1" || bail "the holder did not start"
printf 'b1\n' >>"$mb/f.txt"
run_ok "B: sync its appended line" B sync docs
converge "A takes B's version while f.txt is open for writing there" 60 has_line "$ma/f.txt" b1
echo rewrite >"$work/ctl1"
wait "$h1"
ok $? "the program on A rewrote f.txt from what it had read"
is "$(cat "$ma/f.txt")" "$(printf 'a1\na2')" "A: f.txt holds what the program wrote"
both_lines()
{
	[ "$(lines_of "$ma" f)" = "$(printf 'a1\na1\na2\nb1')" ] &&
		[ "$(lines_of "$mb" f)" = "$(printf 'a1\na1\na2\nb1')" ]
}
converge "B's line survives in a conflict copy, A's in f.txt, on both devices" 90 both_lines
copy_pat='^f [(]conflict from devB '
is "$(ls "$ma" | grep -c "$copy_pat")" 1 "  ... one copy, attributed to devB"
is "$(cat "$mb/f.txt")" "$(printf 'a1\na2')" "B: f.txt is A's rewrite (the later version)"

# --- a remote deletion of a file open for writing waits -----------------------
printf 'g1\n' >"$ma/g.txt"
run_ok "A: sync g.txt" A sync docs
converge "B sees g.txt" 60 has_line "$mb/g.txt" g1
mkfifo "$work/ctl2"
holder "$ma/g.txt" "$work/ctl2" "$work/ready2" a-late &
h2=$!
wait_for "the program on A to open g.txt" 30 test -e "$work/ready2" || bail "the holder did not start"
rm "$mb/g.txt"
run_ok "B: sync the deletion" B sync docs
waits() { grep -q "open for writing here" "$HA/regions/$RID/mount.log" 2>/dev/null; }
converge "A: the deletion waits while g.txt is open for writing" 60 waits
ok "$([ -f "$ma/g.txt" ] && echo 0 || echo 1)" "A: g.txt is still there"
is "$(A status docs --json | jq -r .open_wait)" /g.txt "A: status names the file the deletion waits for"
like "$(A status docs)" "waiting: .*deleted /g.txt; it is open for writing here" "  ... in its text too"
echo append >"$work/ctl2"
wait "$h2"
ok $? "the program on A wrote to g.txt and closed it"
g_back() { has_line "$ma/g.txt" a-late && has_line "$mb/g.txt" a-late; }
converge "the edit made after the deletion arrived wins on both devices" 90 g_back
no_wait() { [ "$(A status docs --json | jq -r .open_wait)" = null ]; }
converge "A: status no longer names a waiting file once it was closed" 30 no_wait
is "$(cat "$mb/g.txt")" "$(printf 'g1\na-late')" "B: g.txt is A's edit"

SEALSYNC_HOME=$HB umount_region "$mb"
ok $? "B: umount"
umount_region "$ma"
ok $? "A: umount"
done_testing
