#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# 09-manpage.t: man/sealsync.1 renders without warnings and documents exactly
# the long options that `sealsync [COMMAND] --help` shows, command by command,
# both ways.  Commands are the `.SS` subsections of COMMANDS in the man page;
# global options are those of SYNOPSIS and OPTIONS.  `--help` itself is
# documented once, globally, so it is left out of the per-command comparison.
# Needs no FUSE.  TAP output, for prove.
set -u

cd "$(dirname "$0")/../.." || exit 1
BIN=${SEALSYNC_BIN:-$PWD/build/sealsync}
MAN=man/sealsync.1
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

if [ ! -f "$MAN" ]; then
	echo "Bail out! $MAN is missing"
	exit 1
fi
if [ ! -x "$BIN" ]; then
	echo "Bail out! sealsync binary not found at $BIN (run make, or set SEALSYNC_BIN)"
	exit 1
fi

# Long options in roff source on stdin: `\-` -> `-`, comments dropped.
roff_opts()
{
	sed -e '/^\.\\"/d' -e 's/\\-/-/g' | grep -o -- '--[a-z][a-z0-9-]*' | LC_ALL=C sort -u
}

# Long options in plain text on stdin.
text_opts()
{
	grep -o -- '--[a-z][a-z0-9-]*' | LC_ALL=C sort -u
}

# Lines of the man page's `.SS NAME` subsection (up to the next .SS or .SH).
man_subsection()
{
	awk -v name="$1" '
		/^\.S[HS] / { on = ($1 == ".SS" && ($2 == name || $2 == "\"" name "\"")) ; next }
		on { print }' "$MAN"
}

# Lines of the man page's `.SH NAME` section.
man_section()
{
	awk -v name="$1" '
		/^\.SH / { on = ($2 == name || $2 == "\"" name "\""); next }
		on { print }' "$MAN"
}

# compare LABEL FILE_FROM_HELP FILE_FROM_MAN: one TAP line.
n=0
fails=0
compare()
{
	local label=$1 help=$2 man=$3 missing extra
	n=$((n + 1))
	missing=$(LC_ALL=C comm -23 "$help" "$man" | tr '\n' ' ')
	extra=$(LC_ALL=C comm -13 "$help" "$man" | tr '\n' ' ')
	if [ -z "$missing" ] && [ -z "$extra" ]; then
		echo "ok $n - $label: --help and man page agree ($(tr '\n' ' ' <"$help"))"
	else
		echo "not ok $n - $label: --help and man page disagree"
		[ -z "$missing" ] || echo "#   in --help, not in $MAN: $missing"
		[ -z "$extra" ] || echo "#   in $MAN, not in --help: $extra"
		fails=$((fails + 1))
	fi
}

ok()
{
	n=$((n + 1))
	echo "ok $n - $1"
}

not_ok()
{
	n=$((n + 1))
	echo "not ok $n - $1"
	fails=$((fails + 1))
}

mapfile -t commands < <(man_section COMMANDS | awk '/^\.SS / { gsub(/"/, "", $2); print $2 }')
if [ ${#commands[@]} -eq 0 ]; then
	echo "Bail out! no .SS command subsections under .SH COMMANDS in $MAN"
	exit 1
fi
# groff check, top-level help, command list, one per command.
echo "1..$((3 + ${#commands[@]}))"

# 1: renders with no warnings.
if command -v groff >/dev/null 2>&1; then
	if groff -man -Tutf8 -ww -z "$MAN" >"$tmp/groff" 2>&1 && [ ! -s "$tmp/groff" ]; then
		ok "groff renders $MAN without warnings"
	else
		not_ok "groff renders $MAN without warnings"
		sed 's/^/#   /' "$tmp/groff"
	fi
else
	n=$((n + 1))
	echo "ok $n # SKIP groff not installed (scripts/deps.sh installs it)"
fi

# 2: global options.  The top-level help may also show commands' options in
# its summary, so those are allowed there; every global option of the man
# page must appear in it.
"$BIN" --help >"$tmp/top.txt" 2>&1
rc=$?
text_opts <"$tmp/top.txt" >"$tmp/top.help"
{ man_section SYNOPSIS; man_section OPTIONS; } | roff_opts >"$tmp/top.man"
roff_opts <"$MAN" >"$tmp/all.man"
n=$((n + 1))
missing=$(LC_ALL=C comm -23 "$tmp/top.help" "$tmp/all.man" | tr '\n' ' ')
extra=$(LC_ALL=C comm -13 "$tmp/top.help" "$tmp/top.man" | tr '\n' ' ')
if [ $rc -eq 0 ] && [ -z "$missing" ] && [ -z "$extra" ]; then
	echo "ok $n - sealsync --help: global options agree with the man page"
else
	echo "not ok $n - sealsync --help: global options agree with the man page"
	[ $rc -eq 0 ] || echo "#   sealsync --help exited $rc (expected 0)"
	[ -z "$missing" ] || echo "#   in --help, not in $MAN: $missing"
	[ -z "$extra" ] || echo "#   in $MAN SYNOPSIS/OPTIONS, not in --help: $extra"
	fails=$((fails + 1))
fi

# 3: every command of the man page is in the top-level help.
absent=
for c in "${commands[@]}"; do
	grep -qw -- "$c" "$tmp/top.txt" || absent="$absent $c"
done
if [ -z "$absent" ]; then
	ok "every man page command appears in sealsync --help (${commands[*]})"
else
	not_ok "every man page command appears in sealsync --help"
	echo "#   missing:$absent"
fi

# 4..: each command's options, both ways.
for c in "${commands[@]}"; do
	"$BIN" "$c" --help >"$tmp/$c.txt" 2>&1
	rc=$?
	text_opts <"$tmp/$c.txt" | grep -vx -- --help >"$tmp/$c.help"
	man_subsection "$c" | roff_opts | grep -vx -- --help >"$tmp/$c.man"
	if [ $rc -ne 0 ]; then
		not_ok "sealsync $c --help exits 0 (exited $rc)"
		sed 's/^/#   /' "$tmp/$c.txt"
		continue
	fi
	compare "sealsync $c" "$tmp/$c.help" "$tmp/$c.man"
done

[ $fails -eq 0 ]
