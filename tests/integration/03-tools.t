#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Real tools inside the mount: tar, cp -a, rsync, git, sqlite3 (rollback
# journal and WAL), editor-style saves.  Everything compared against the
# same operations on plain disk, and again after umount + mount.
TEST_TIMEOUT=420
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd jq tar rsync git sqlite3 diff

setup_device
create_region r
mp=$work/mnt
plain=$work/plain
mkdir -p "$mp" "$plain"
mount_region r "$mp" || bail "cannot mount region r"
m=$mp

# tree_meta DIR: one line per entry: path, type, mode, size (not for
# directories: it differs between file systems), mtime with nanoseconds,
# symlink target.
tree_meta()
{
	(cd "$1" && find . -mindepth 1 \( -type d -printf '%p d %m %T@\n' \) -o -printf '%p %y %m %s %T@ %l\n' | sort)
}

# ------------------------------------------------------------------ tar
tarball=$work/src.tar
tar -C /usr -cf "$tarball" --exclude=include/node --exclude=include/llvm-14 \
	--exclude='include/c++' include 2>/dev/null
nfiles=$(tar -tf "$tarball" | grep -vc '/$')
note "tarball: $nfiles entries, $(($(stat -c %s "$tarball") / 1048576)) MiB"
mkdir "$plain/tar" "$m/tar"
tar -C "$plain/tar" -xf "$tarball" || bail "tar extract to plain disk failed"
t0=$(date +%s.%N)
tar -C "$m/tar" -xf "$tarball" 2>"$work/e"
ok $? "tar -xf of $nfiles entries into the mount" "$(head -20 "$work/e")"
t1=$(date +%s.%N)
note "untar took $(echo "$t1 - $t0" | bc 2>/dev/null || echo "?") s"
diff -r --no-dereference "$plain/tar" "$m/tar" >"$work/diff" 2>&1
ok $? "diff -r of the extracted tree against plain disk" "$(head -20 "$work/diff")"
diff <(tree_meta "$plain/tar") <(tree_meta "$m/tar") >"$work/diff" 2>&1
ok $? "modes, sizes, mtimes (ns) and symlinks match (directories included)" "$(head -20 "$work/diff")"
tar -C "$m/tar" -cf "$work/back.tar" --sort=name include 2>"$work/e"
ok $? "tar -c from the mount" "$(head "$work/e")"
tar -C "$plain/tar" -cf "$work/plain.tar" --sort=name include
cmp "$work/back.tar" "$work/plain.tar" >"$work/cmp" 2>&1
ok $? "tar -c of the mount is byte-identical to tar -c of the plain copy" "$(cat "$work/cmp")"

# ------------------------------------------------------------------ cp -a
cp -a "$plain/tar/include/linux" "$m/cpa" 2>"$work/e"
ok $? "cp -a of a tree into the mount" "$(head "$work/e")"
diff -r "$plain/tar/include/linux" "$m/cpa" >"$work/diff" 2>&1
ok $? "diff -r after cp -a" "$(head -20 "$work/diff")"
diff <(tree_meta "$plain/tar/include/linux") <(tree_meta "$m/cpa") >"$work/diff" 2>&1
ok $? "cp -a preserved modes and times (directories included)" "$(head -20 "$work/diff")"
cp -a "$m/cpa" "$m/cpa2" 2>"$work/e"
ok $? "cp -a within the mount" "$(head "$work/e")"
diff -r "$m/cpa" "$m/cpa2" >"$work/diff" 2>&1
ok $? "  ... identical" "$(head "$work/diff")"

# ------------------------------------------------------------------ rsync
src=$work/rsyncsrc
cp -a "$plain/tar/include" "$src"
rsync -a "$src/" "$m/rs/" 2>"$work/e"
ok $? "rsync -a into the mount" "$(head "$work/e")"
rsync -an --itemize-changes "$src/" "$m/rs/" >"$work/rs" 2>&1
st=$?
[ $st -eq 0 ] && [ ! -s "$work/rs" ]
ok $? "rsync -an --itemize-changes has nothing to do" "exit $st" "$(head -20 "$work/rs")"
rsync -a --checksum -n --itemize-changes "$src/" "$m/rs/" >"$work/rs" 2>&1
[ ! -s "$work/rs" ]
ok $? "rsync --checksum agrees too" "$(head -20 "$work/rs")"
# An incremental rsync: change a few files on the source side.
echo '/* changed */' >>"$src/stdio.h"
touch -d '2020-01-01' "$src/stdio.h"
rsync -a "$src/" "$m/rs/" 2>"$work/e"
cmp "$src/stdio.h" "$m/rs/stdio.h" >/dev/null 2>&1
ok $? "incremental rsync updates a changed file (rsync writes a temp file and renames it)"
rsync -an --itemize-changes "$src/" "$m/rs/" >"$work/rs" 2>&1
[ ! -s "$work/rs" ]
ok $? "  ... then nothing to do" "$(head "$work/rs")"

# ------------------------------------------------------------------ git
repo=$m/repo
mkdir "$repo"
(
	cd "$repo" || exit 1
	git init -q . && cp -a "$plain/tar/include/linux/." . &&
		git add -A && git commit -q -m first &&
		echo change >>README.sealsync && git add README.sealsync &&
		git commit -q -m second && git gc -q && git fsck --full --strict
) >"$work/git.out" 2>&1
ok $? "git init, add, commit x2, gc, fsck --full in the mount" "$(tail -20 "$work/git.out")"
is "$(git -C "$repo" rev-list --count HEAD 2>&1)" 2 "git log has 2 commits"
is "$(git -C "$repo" status --porcelain 2>&1)" "" "git status is clean"
(cd "$repo" && git ls-files | wc -l) >"$work/n" 2>&1
is "$(cat "$work/n")" "$(($(find "$plain/tar/include/linux" -type f -o -type l | wc -l) + 1))" \
	"git tracks every file"

# ------------------------------------------------------------------ sqlite3
for mode in delete wal; do
	db=$m/db-$mode.sqlite
	sed "s/%MODE%/$mode/" >"$work/fill.sql" <<-'EOF'
		PRAGMA journal_mode=%MODE%;
		BEGIN;
		CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, b BLOB);
		WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10000)
		INSERT INTO t SELECT x, printf('row-%06d', x), randomblob(100 + x % 300) FROM c;
		COMMIT;
		CREATE INDEX tv ON t(v);
		UPDATE t SET v = v || '-u' WHERE id % 7 = 0;
		DELETE FROM t WHERE id % 10 = 0;
	EOF
	rm -f "$db"
	sqlite3 "$db" <"$work/fill.sql" >"$work/sql.out" 2>&1
	ok $? "sqlite3 ($mode journal): create, 10k inserts in a transaction, index, update, delete" \
		"$(cat "$work/sql.out")"
	is "$(sqlite3 "$db" 'PRAGMA integrity_check' 2>&1)" ok "sqlite3 ($mode): integrity_check"
	is "$(sqlite3 "$db" 'SELECT count(*), sum(id), count(*) FILTER (WHERE v LIKE "%-u") FROM t' 2>&1)" \
		"9000|45000000|1286" "sqlite3 ($mode): row count and contents"
done

# ------------------------------------------------------------- editor save
# Like vim (writebackup), emacs and gedit: write a temp file, fsync, rename
# over the original.  A descriptor opened on the old version keeps reading it.
ed=$m/doc.txt
printf 'version 0\n' >"$ed"
edok=0
letters=abcdefghijklmnopqrstuvwxyz
tool FSOPS fsops
exec 7<"$ed"
for i in $(seq 1 30); do
	tmp=$m/.doc.txt.swp$i
	{
		printf 'version %d\n' "$i"
		head -c $((i * 3001)) /dev/zero | tr '\0' "${letters:i%26:1}"
	} >"$tmp" || edok=1
	"$FSOPS" fsync "$tmp" || edok=1
	mv -f "$tmp" "$ed" || edok=1
	[ "$(head -n1 "$ed")" = "version $i" ] || { diag "after save $i: $(head -c 40 "$ed")"; edok=1; }
	[ "$(stat -c %s "$ed")" = $((9 + ${#i} + i * 3001)) ] || { diag "size after save $i"; edok=1; }
done
ok $edok "30 editor-style saves (temp + fsync + rename over): content correct after each"
is "$(cat <&7)" "version 0" "a descriptor opened before the saves still reads the old version"
exec 7<&-
is "$(find "$m" -maxdepth 1 -name '.doc.txt.swp*' | wc -l)" 0 "no temp files left"
# The in-place style (vim backupcopy=yes, nano): truncate and rewrite.
for i in 1 2 3; do
	printf 'in place %d\n' "$i" >"$ed"
done
is "$(cat "$ed")" "in place 3" "in-place rewrite with O_TRUNC"

# ------------------------------------------------------------- after remount
if remount r "$mp"; then
	pass "umount + mount"
else
	bail "umount + mount failed"
fi
diff -r --no-dereference "$plain/tar" "$m/tar" >"$work/diff" 2>&1
ok $? "after remount: diff -r of the extracted tree" "$(head -20 "$work/diff")"
diff <(tree_meta "$plain/tar") <(tree_meta "$m/tar") >"$work/diff" 2>&1
ok $? "after remount: metadata of the extracted tree" "$(head -20 "$work/diff")"
rsync -an --itemize-changes "$src/" "$m/rs/" >"$work/rs" 2>&1
[ ! -s "$work/rs" ]
ok $? "after remount: rsync -an has nothing to do" "$(head -20 "$work/rs")"
(cd "$repo" && git fsck --full --strict) >"$work/git.out" 2>&1
ok $? "after remount: git fsck" "$(tail "$work/git.out")"
is "$(git -C "$repo" status --porcelain 2>&1)" "" "after remount: git status clean"
for mode in delete wal; do
	db=$m/db-$mode.sqlite
	is "$(sqlite3 "$db" 'PRAGMA integrity_check' 2>&1)" ok "after remount: sqlite3 ($mode) integrity_check"
	is "$(sqlite3 "$db" 'SELECT count(*), sum(id) FROM t' 2>&1)" "9000|45000000" \
		"after remount: sqlite3 ($mode) rows"
done
is "$(cat "$ed")" "in place 3" "after remount: editor-saved file"

umount_region "$mp"
ok $? "final umount"
done_testing
