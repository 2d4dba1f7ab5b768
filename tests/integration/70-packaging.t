#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Packaging (issue #12): a packager's build (CFLAGS="-D_FORTIFY_SOURCE=3 -O2", no
# -Werror) of a copy of the source tree, `make install DESTDIR=...` and the
# installed binary, man pages (one per command, generated), completions, fstab
# helper and systemd user unit, `make uninstall` leaving no file,
# the --version format, `help CMD` = `CMD --help` for every command, and the
# bash completion of a command, a region name and a device id.
TEST_TIMEOUT=900
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd make
need_cmd jq

root=$(cd "$(dirname "$0")/../.." && pwd)
setup_device

# ---------------------------------------------------------- packager's build
# A copy of the tracked files (their working-tree contents), so the main build
# directory is not touched; a copy without .git, as a release tarball is.
src=$work/src
mkdir -p "$src"
if [ -e "$root/.git" ]; then
	(cd "$root" && git ls-files -z | tar --null -T - -cf -) | tar -C "$src" -xf -
else
	tar -C "$root" --exclude='./build' --exclude='./build-*' -cf - . | tar -C "$src" -xf -
fi
ok $? "copied the source tree to $src"
run_ok "make build/sealsync with CFLAGS='-D_FORTIFY_SOURCE=3 -O2' (no WERROR)" \
	make -C "$src" -j2 V=1 CFLAGS="-D_FORTIFY_SOURCE=3 -O2" build/sealsync
printf '%s\n' "$T_OUT" | grep -E '(^| )cc .*-c cli/main\.c' | grep -q -- '-D_FORTIFY_SOURCE=3 -O2'
ok $? "  ... the compiler got the packager's CFLAGS last"
printf '%s\n' "$T_OUT" | grep -qE -- '-D_FORTIFY_SOURCE=2|-Werror'
ok $((!$?)) "  ... and neither our _FORTIFY_SOURCE=2 nor -Werror"
run_ok "a second make is a no-op" make -C "$src" -j2 CFLAGS="-D_FORTIFY_SOURCE=3 -O2" build/sealsync
printf '%s\n' "$T_OUT" | grep -qE '^  (CC|LD|AR) '
ok $((!$?)) "  ... nothing recompiled or relinked"
version=$(sed -n 1p "$src/VERSION")
run_ok "the copy's --version" "$src/build/sealsync" --version
is "$T_OUT" "sealsync $version" "  ... outside a git checkout: 'sealsync VERSION' only"

# In a git checkout the version names the commit; a new commit recompiles only
# the generated version file and relinks; a rebuild at the same commit is a no-op.
(cd "$src" && git init -q && git add -A && git commit -qm packaging-test) >/dev/null 2>&1
ok $? "made the copy a git checkout"
commit=$(git -C "$src" describe --always --dirty)
run_ok "make after a commit" make -C "$src" -j2 CFLAGS="-D_FORTIFY_SOURCE=3 -O2" build/sealsync
is "$(printf '%s\n' "$T_OUT" | grep -E '^  (CC|AR) ' | tr -s ' ' | tr '\n' ';')" " CC build/gen/version.c;" \
	"  ... compiles only build/gen/version.c"
printf '%s\n' "$T_OUT" | grep -qE '^  LD +build/sealsync'
ok $? "  ... and relinks build/sealsync"
run_ok "the copy's --version" "$src/build/sealsync" --version
is "$T_OUT" "sealsync $version ($commit)" "  ... 'sealsync VERSION (COMMIT)' in a git checkout"
run_ok "make again at the same commit" make -C "$src" -j2 CFLAGS="-D_FORTIFY_SOURCE=3 -O2" build/sealsync
printf '%s\n' "$T_OUT" | grep -qE '^  (CC|LD|AR) '
ok $((!$?)) "  ... nothing recompiled or relinked"

# spdx-check, in a small git repository of its own: lists exactly the tracked
# source files without the line in their first 3 lines, and passes without them.
sp=$work/spdx
mkdir -p "$sp/scripts" "$sp/sub"
cp "$root/scripts/spdx-check.sh" "$sp/scripts/"
printf '/* SPDX-License-Identifier: Apache-2.0 */\nint x;\n' >"$sp/a.c"
printf '#!/bin/sh\n# SPDX-License-Identifier: Apache-2.0\n' >"$sp/b.sh"
printf '#ifndef C_H\n#define C_H\n#endif\n/* SPDX-License-Identifier: Apache-2.0 */\n' >"$sp/c.h"
printf 'all:\n' >"$sp/sub/Makefile"
printf 'not source\n' >"$sp/notes.txt"
printf '/* SPDX-License-Identifier: MIT */\n' >"$sp/d.py"
(cd "$sp" && git init -q && git add -A) >/dev/null 2>&1
ok $? "made a small repository for spdx-check"
run_fails "spdx-check fails on files lacking the line" "$sp/scripts/spdx-check.sh"
is "$(printf '%s\n' "$T_OUT" | tr '\n' ' ')" "c.h d.py sub/Makefile " \
	"  ... and lists exactly them (line after line 3, another licence, none)"
for f in c.h d.py scripts/spdx-check.sh sub/Makefile; do
	sed -i '1i # SPDX-License-Identifier: Apache-2.0' "$sp/$f"
done
run_ok "spdx-check passes once every source file has it" "$sp/scripts/spdx-check.sh"

# ------------------------------------------------------- install, uninstall
dest=$work/dest
run_ok "make install DESTDIR PREFIX=/usr" make -C "$src" DESTDIR="$dest" PREFIX=/usr install
for f in usr/bin/sealsync usr/share/man/man1/sealsync.1 usr/share/man/man5/sealsync-format.5 \
	usr/share/bash-completion/completions/sealsync usr/share/zsh/vendor-completions/_sealsync \
	usr/sbin/mount.sealsync usr/lib/systemd/user/sealsync@.service; do
	[ -f "$dest/$f" ]
	ok $? "  ... installed /$f"
done
[ -x "$dest/usr/bin/sealsync" ]
ok $? "  ... the binary is executable"
[ -x "$dest/usr/sbin/mount.sealsync" ] && [ "$(readlink "$dest/usr/sbin/mount.fuse.sealsync")" = mount.sealsync ]
ok $? "  ... the fstab helper is executable, mount.fuse.sealsync a link to it"
grep -q '^ExecStart=/usr/bin/sealsync mount ' "$dest/usr/lib/systemd/user/sealsync@.service" &&
	grep -q 'bin=/usr/bin/sealsync$' "$dest/usr/sbin/mount.sealsync" &&
	! grep -q @BINDIR@ "$dest/usr/sbin/mount.sealsync" "$dest/usr/lib/systemd/user/sealsync@.service"
ok $? "  ... the helper and the unit name the installed /usr/bin/sealsync"
run_ok "the installed helper runs (fake mount, -f -v)" env SEALSYNC_BIN=/bin/true \
	"$dest/usr/sbin/mount.fuse.sealsync" r /mnt -f -v -o noauto,user,home=/h,passfile=/p,noatime -t fuse.sealsync
like "$T_ERR" "SEALSYNC_HOME=/h /bin/true mount r /mnt --passphrase-file /p -o noatime\$" \
	"  ... translating mount(8)'s arguments"
run_ok "the installed binary runs" "$dest/usr/bin/sealsync" version
is "$T_OUT" "sealsync $version ($commit)" "  ... and prints its version (the copy's commit)"
run_ok "the installed man page renders" man --warnings -l "$dest/usr/share/man/man1/sealsync.1"
is "$T_ERR" "" "  ... without a warning"
run_ok "the installed sealsync-format(5) renders" man --warnings -l "$dest/usr/share/man/man5/sealsync-format.5"
is "$T_ERR" "" "  ... without a warning"
# A page per command (generated from its --help; 09-manpage.t compares them word
# by word): each installed, rendering without a warning, with the installed
# binary's help text in it.
mapfile -t page_cmds < <(sed -n 's/^ *{"\([a-z-]*\)", cmd_[a-z_]*,.*/\1/p' "$src/cli/main.c")
[ "${#page_cmds[@]}" -ge 20 ]
ok $? "cli/main.c names the commands (${#page_cmds[@]})"
bad=
for c in "${page_cmds[@]}"; do
	p=$dest/usr/share/man/man1/sealsync-$c.1
	out=$(LC_ALL=C.UTF-8 MANWIDTH=200 man --warnings -l "$p" 2>"$work/man.err" | col -b | tr -s ' \t\n' '   ')
	help=$("$dest/usr/bin/sealsync" "$c" --help | sed -n '3p' | tr -s ' \t\n' '   ')
	if [ ! -f "$p" ] || [ -s "$work/man.err" ] || [ -z "$help" ] ||
		[[ $out != *"sealsync-$c - "* ]] || [[ $out != *"${help% }"* ]]; then
		bad="$bad $c"
	fi
done
is "$bad" "" "  ... each installed as sealsync-CMD.1, rendering without a warning, with its --help text"
run_ok "make uninstall" make -C "$src" DESTDIR="$dest" PREFIX=/usr uninstall
left=$(find "$dest" ! -type d)
is "$left" "" "  ... leaves no file behind"

dest2=$work/dest2
run_ok "make install DESTDIR with the default PREFIX" make -C "$src" DESTDIR="$dest2" install
is "$(cd "$dest2" && find . ! -type d | sort | tr '\n' ' ')" \
	"$(printf '%s\n' ./usr/local/bin/sealsync ./usr/local/lib/systemd/user/sealsync@.service \
		./usr/local/sbin/mount.fuse.sealsync ./usr/local/sbin/mount.sealsync \
		./usr/local/share/bash-completion/completions/sealsync ./usr/local/share/man/man1/sealsync.1 \
		./usr/local/share/man/man5/sealsync-format.5 \
		"${page_cmds[@]/#/./usr/local/share/man/man1/sealsync-}" \
		./usr/local/share/zsh/site-functions/_sealsync | sed 's/sealsync-[a-z-]*$/&.1/' | sort | tr '\n' ' ')" \
	"  ... under /usr/local (zsh: site-functions, in zsh's default fpath)"
grep -q '^ExecStart=/usr/local/bin/sealsync mount ' "$dest2/usr/local/lib/systemd/user/sealsync@.service"
ok $? "  ... the unit names /usr/local/bin/sealsync (BINDIR of that install, not the earlier one)"
run_ok "make uninstall with the default PREFIX" make -C "$src" DESTDIR="$dest2" uninstall
is "$(find "$dest2" ! -type d)" "" "  ... leaves no file behind"

# ------------------------------------------------------------ version, help
run_ok "--version" S --version
like "$T_OUT" "^sealsync $version( \([0-9A-Za-z.+~_-]+\))?\$" "  ... 'sealsync VERSION[ (COMMIT)]'"
v1=$T_OUT
run_ok "version" S version
is "$T_OUT" "$v1" "  ... version = --version"
run_fails "version with an argument is a usage error" S version extra
is "$T_RC" 2 "  ... exit 2"

run_ok "help" S help
mapfile -t cmds < <(printf '%s\n' "$T_OUT" | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }')
[ "${#cmds[@]}" -ge 20 ]
ok $? "help lists the commands (${#cmds[*]}: ${cmds[*]})"
for c in "${cmds[@]}"; do
	a=$(S help "$c" 2>&1)
	ra=$?
	b=$(S "$c" --help 2>&1)
	rb=$?
	[ "$ra" -eq "$rb" ] && [ "$a" = "$b" ] && [ -n "$a" ]
	ok $? "help $c = $c --help (exit $ra/$rb)"
done
run_fails "help of an unknown command is a usage error" S help frobnicate
is "$T_RC" 2 "  ... exit 2"

# ---------------------------------------------------------- bash completion
create_region photos
create_region projects
dev_id=$(S id --json | jq -r .device_id)
# complete WORDS...: the completions of the last word, one a line, from the
# function `complete -p sealsync` names, with the binary under test as sealsync.
complete_words()
{
	PATH=$work/bin:$PATH bash -c '
		. "$1"; shift
		fn=$(complete -p sealsync | sed -nE "s/.*-F ([^ ]+) .*/\1/p")
		[ -n "$fn" ] || exit 3
		COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		"$fn" sealsync "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}"' complete "$root/completion/sealsync.bash" "$@"
}
mkdir -p "$work/bin"
ln -s "$SEALSYNC_BIN" "$work/bin/sealsync"
is "$(complete_words sealsync mou)" "mount" "bash: 'sealsync mou' completes to mount"
is "$(complete_words sealsync re | sort | tr '\n' ' ')" "recover recovery-key rekey requests revoke " \
	"bash: 'sealsync re' lists the re* commands"
is "$(complete_words sealsync mount pho)" "photos" "bash: 'sealsync mount pho' completes the region"
is "$(complete_words sealsync status p | sort | tr '\n' ' ')" "photos projects " \
	"bash: 'sealsync status p' lists both regions"
is "$(complete_words sealsync list --j)" "--json" "bash: 'sealsync list --j' completes the option"
is "$(complete_words sealsync help mo)" "mount" "bash: 'sealsync help mo' completes the command"
is "$(complete_words sealsync revoke photos "${dev_id:0:6}")" "$dev_id" \
	"bash: 'sealsync revoke photos PREFIX' completes the device id"
is "$(complete_words sealsync mount --ext)" "--extpass" "bash: 'sealsync mount --ext' completes --extpass"
is "$(complete_words sealsync umount --la)" "--lazy" "bash: 'sealsync umount --la' completes --lazy"
is "$(complete_words sealsync mount -o ro pho)" "photos" "bash: the value of -o is not taken for the region"
is "$(complete_words sealsync mount photos /tmp -o noatime,no | sort | tr '\n' ' ')" \
	"noatime,noatime noatime,nodev noatime,noexec noatime,nonempty noatime,nosuid " \
	"bash: 'mount -o noatime,no' completes the option after the comma (no dev, suid)"
is "$(complete_words sealsync mount photos /tmp -o d | sort | tr '\n' ' ')" "default_permissions dirsync " \
	"bash: 'mount -o d' does not offer dev"
is "$(complete_words sealsync fo)" "forget" "bash: 'sealsync fo' completes to forget"
is "$(complete_words sealsync forget pho)" "photos" "bash: 'sealsync forget pho' completes the region"
is "$(complete_words sealsync checkpoint pro)" "projects" \
	"bash: 'sealsync checkpoint pro' completes the region"

# zsh: the completion function run with the completion system's builtins
# replaced by printers (filtering by PREFIX as they do).
cat >"$work/zcomp.zsh" <<'ZEOF'
_describe() { local -a m; m=(${(M)${(P)4}:#${PREFIX}*}); print -l -- ${m%%:*} }
compadd() { [[ $1 == -- ]] && shift; local -a m; m=(${(M)@:#${PREFIX}*}); print -l -- $m }
_call_program() { shift; eval "$@" }
compset() { [[ $1 == -P && $PREFIX == *,* ]] && PREFIX=${PREFIX##*,}; return 0 }
_files() { print FILES }
_directories() { print DIRS }
f=$1; shift
words=("$@"); CURRENT=$#; PREFIX=$words[CURRENT]
source "$f"
ZEOF
zcomplete() { PATH=$work/bin:$PATH zsh -f "$work/zcomp.zsh" "$root/completion/_sealsync" "$@"; }
run_ok "zsh completion parses" zsh -n "$root/completion/_sealsync"
is "$(zcomplete sealsync mou)" "mount" "zsh: 'sealsync mou' completes to mount"
is "$(zcomplete sealsync mount pho)" "photos" "zsh: 'sealsync mount pho' completes the region"
is "$(zcomplete sealsync gc --d)" "--dry-run" "zsh: 'sealsync gc --d' completes the option"
is "$(zcomplete sealsync forget pho)" "photos" "zsh: 'sealsync forget pho' completes the region"
is "$(zcomplete sealsync checkpoint pro)" "projects" "zsh: 'sealsync checkpoint pro' completes the region"
is "$(zcomplete sealsync role photos "${dev_id:0:6}")" "$dev_id" \
	"zsh: 'sealsync role photos PREFIX' completes the device id"
is "$(zcomplete sealsync mount -o ro pho)" "photos" "zsh: the value of -o is not taken for the region"
is "$(zcomplete sealsync mount photos /tmp -o noatime,s | sort | tr '\n' ' ')" "sync " \
	"zsh: 'mount -o noatime,s' completes the option after the comma (no suid)"

done_testing
