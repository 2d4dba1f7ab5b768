#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# 09-manpage.t: man/sealsync.1 renders without warnings and documents exactly
# the long options that `sealsync [COMMAND] --help` shows, command by command,
# both ways.  Commands are the `.SS` subsections of COMMANDS in the man page;
# global options are those of SYNOPSIS and OPTIONS.  `--help` itself is
# documented once, globally, so it is left out of the per-command comparison.
# Then the page per command, sealsync-CMD(1), as scripts/gen-man.sh makes it
# from the binary under test: it renders with `man -l` without warnings, its
# NAME line is the command's summary in `sealsync --help`, its SYNOPSIS and
# DESCRIPTION hold exactly the words of `sealsync CMD --help`, in order; and
# sealsync(1)'s SEE ALSO names every such page.  Last, man/sealsync-format.5
# renders without warnings and names every kind of object sync/verify.c sorts
# a region's keys into, and the store marker.
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
# Every command with a handler in cli/main.c gets a page of its own.
mapfile -t page_cmds < <(sed -n 's/^ *{"\([a-z-]*\)", cmd_[a-z_]*,.*/\1/p' cli/main.c)
if [ ${#page_cmds[@]} -eq 0 ]; then
	echo "Bail out! no commands found in cli/main.c"
	exit 1
fi
# groff check, top-level help, command list, one per command; SEE ALSO, one
# per generated page.
echo "1..$((6 + ${#commands[@]} + ${#page_cmds[@]}))"

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

# The words of a rendered page's SYNOPSIS and DESCRIPTION (man -l on $1), one
# a line; the NAME line into $tmp/name.
page_words()
{
	LC_ALL=C.UTF-8 MANWIDTH=100 man --warnings -l "$1" 2>"$tmp/man.err" | col -b >"$tmp/man.txt"
	awk '/^NAME$/ { getline; sub(/^ +/, ""); print; exit }' "$tmp/man.txt" >"$tmp/name"
	awk '/^SYNOPSIS$/ { on = 1; next } /^SEE ALSO$/ { on = 0 } /^DESCRIPTION$/ { next } on' \
		"$tmp/man.txt" | tr -s ' \t' '\n\n' | grep -v '^$'
}

# The SEE ALSO of sealsync(1) names every page.
absent=
for c in "${page_cmds[@]}"; do
	sed -n '/^\.SH "*SEE ALSO/,/^\.SH/p' "$MAN" | sed 's/\\-/-/g' | grep -q "^\.BR sealsync-$c (1)" || absent="$absent sealsync-$c"
done
if [ -z "$absent" ]; then
	ok "sealsync(1) SEE ALSO names every command's page (${#page_cmds[@]})"
else
	not_ok "sealsync(1) SEE ALSO names every command's page"
	echo "#   missing:$absent"
fi

# One page per command, generated from the binary under test.
"$BIN" --help >"$tmp/top.txt" 2>&1
for c in "${page_cmds[@]}"; do
	page=$tmp/sealsync-$c.1
	if ! ./scripts/gen-man.sh "$BIN" "$c" >"$page" 2>"$tmp/gen.err"; then
		not_ok "sealsync-$c(1): scripts/gen-man.sh makes it"
		sed 's/^/#   /' "$tmp/gen.err"
		continue
	fi
	page_words "$page" >"$tmp/page.words"
	"$BIN" "$c" --help 2>&1 | sed '1s/^usage: //' | tr -s ' \t' '\n\n' | grep -v '^$' >"$tmp/help.words"
	summary=$(awk -v c="$c" '$1 == c { $1 = ""; sub(/^ +/, ""); print; exit }' "$tmp/top.txt")
	why=
	[ -s "$tmp/man.err" ] && why="$why; man warns: $(tr '\n' ' ' <"$tmp/man.err")"
	[ "$(cat "$tmp/name")" = "sealsync-$c - $summary" ] ||
		why="$why; NAME is '$(cat "$tmp/name")', not 'sealsync-$c - $summary'"
	if ! cmp -s "$tmp/help.words" "$tmp/page.words"; then
		why="$why; words differ from --help (< help, > page): $(diff "$tmp/help.words" "$tmp/page.words" | grep '^[<>]' | head -6 | tr '\n' ' ')"
	fi
	if [ -z "$why" ]; then
		ok "sealsync-$c(1) renders without warnings and says what 'sealsync $c --help' says ($(wc -l <"$tmp/help.words") words)"
	else
		not_ok "sealsync-$c(1) renders without warnings and says what 'sealsync $c --help' says"
		echo "#  ${why#; }"
	fi
done

# sealsync-format(5).
FMT=man/sealsync-format.5
if LC_ALL=C.UTF-8 man --warnings -l "$FMT" 2>"$tmp/fmt.err" >"$tmp/fmt.txt" && [ ! -s "$tmp/fmt.err" ]; then
	ok "$FMT renders without warnings"
else
	not_ok "$FMT renders without warnings"
	sed 's/^/#   /' "$tmp/fmt.err"
fi
# The prefixes verify_rest() and verify_rest_info() know, as "R/PREFIX/" on the page.
mapfile -t prefixes < <(sed -n '/^static int verify_rest_info/,/^}/p; /^static int verify_rest(/,/^}/p' sync/verify.c |
	grep -o '"[a-z]*/"' | tr -d '"' | LC_ALL=C sort -u)
col -b <"$tmp/fmt.txt" >"$tmp/fmt.plain"
absent=
for p in "${prefixes[@]}" sealsync-store; do
	case $p in
	*/) grep -q "R/$p" "$tmp/fmt.plain" || absent="$absent $p" ;;
	*) grep -q "^ *$p\$" "$tmp/fmt.plain" || absent="$absent $p" ;;
	esac
done
if [ ${#prefixes[@]} -ge 8 ] && [ -z "$absent" ]; then
	ok "$FMT describes every object kind of a region (${prefixes[*]}) and the store marker"
else
	not_ok "$FMT describes every object kind of a region and the store marker"
	echo "#   found in sync/verify.c: ${prefixes[*]}; missing on the page:$absent"
fi

[ $fails -eq 0 ]
