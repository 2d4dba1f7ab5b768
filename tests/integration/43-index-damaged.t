#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 43-index-damaged.t: issue #11 case 7, doc/SYNC.md D4.  A region whose
# index.db was created once and is now empty (0 bytes), missing, or damaged
# is refused at mount with a clear error -- never mounted as an empty region
# -- and nothing is changed by the refusal: putting the old index back
# mounts the region with its files.  A new region (no index yet) still mounts.
TEST_TIMEOUT=240
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd sqlite3

setup_device
create_region r
mp=$work/mnt
mkdir -p "$mp"
mount_region r "$mp" || bail "first mount of a new region failed"
pass "a new region (no index yet) mounts"
ok "$([ -e "$REGION_DIR/index.db.created" ]; echo $?)" "the first mount leaves index.db.created"
mkdir "$mp/d" && echo hello >"$mp/d/f" && echo world >"$mp/g"
run_ok "sync publishes the files" S sync r
umount_region "$mp" || bail "umount failed"
cp "$REGION_DIR/index.db" "$work/index.good"
[ -e "$REGION_DIR/index.db-wal" ] && cp "$REGION_DIR/index.db-wal" "$work/index.good-wal"

# refused CASE: mount fails with the D4 message, nothing is mounted.
refused()
{
	if mount_region r "$mp" 2>/dev/null; then
		fail "$1: mount refused" "it mounted; ls: $(ls -A "$mp" | tr '\n' ' ')"
		umount_region "$mp"
		return
	fi
	pass "$1: mount refused"
	like "$MOUNT_OUT" "missing, empty or damaged: refusing to mount" "  ... with a clear error"
	ok "$(in_mountinfo "$mp"; [ $? -ne 0 ]; echo $?)" "  ... nothing mounted"
}

restore()
{
	rm -f "$REGION_DIR/index.db" "$REGION_DIR/index.db-wal" "$REGION_DIR/index.db-shm"
	cp "$work/index.good" "$REGION_DIR/index.db"
	[ -e "$work/index.good-wal" ] && cp "$work/index.good-wal" "$REGION_DIR/index.db-wal"
	return 0
}

# 1. the issue's case: a 0-byte index.db.
rm -f "$REGION_DIR/index.db-wal" "$REGION_DIR/index.db-shm"
: >"$REGION_DIR/index.db"
refused "0-byte index.db"
is "$(stat -c %s "$REGION_DIR/index.db")" 0 "  ... the refusal wrote nothing into index.db"

# 2. missing index.db.
rm -f "$REGION_DIR/index.db"
refused "missing index.db"
ok "$([ ! -e "$REGION_DIR/index.db" ]; echo $?)" "  ... and no new index.db was created"

# 3. garbage over the header.
restore
sqlite3 "$REGION_DIR/index.db" 'PRAGMA wal_checkpoint(TRUNCATE);' >/dev/null
rm -f "$REGION_DIR/index.db-wal" "$REGION_DIR/index.db-shm"
cp "$REGION_DIR/index.db" "$work/index.good"
rm -f "$work/index.good-wal"
dd if=/dev/urandom of="$REGION_DIR/index.db" bs=100 count=1 conv=notrunc status=none
refused "index.db with a garbage header"

# 4. a valid SQLite file whose meta rows are gone.
restore
sqlite3 "$REGION_DIR/index.db" "DELETE FROM meta WHERE k = 'schema';"
refused "index.db without its schema row"

# 5. a damaged b-tree page (past the header).
restore
pages=$(sqlite3 "$REGION_DIR/index.db" 'PRAGMA page_count;')
psz=$(sqlite3 "$REGION_DIR/index.db" 'PRAGMA page_size;')
if [ "${pages:-0}" -ge 3 ]; then
	dd if=/dev/urandom of="$REGION_DIR/index.db" bs="$psz" seek=$((pages - 1)) count=1 \
		conv=notrunc status=none
	refused "index.db with a damaged page"
else
	skip "index.db has fewer than 3 pages ($pages)"
fi

# The good index back: the region and its files are there again.
restore
mount_region r "$mp" || bail "mount with the good index failed"
is "$(cat "$mp/d/f" 2>&1)" hello "the good index mounts with its files (d/f)"
is "$(cat "$mp/g" 2>&1)" world "  ... and g"
umount_region "$mp"
done_testing
