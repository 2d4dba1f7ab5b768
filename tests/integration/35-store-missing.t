#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 35-store-missing.t: a store is identified, never recreated (doc/SYNC.md S1).
# `create` makes a file:// store and its marker; the store directory moved
# away while mounted, and before a mount, is `store-missing` in `status`,
# `sync` fails, CLI commands fail, and nothing is created in its place; an
# empty directory in its place is no store either; once it is back everything
# resumes and `verify` is clean.  A store made before markers (GENESIS, no
# marker) is marked at its first open; `create` of a second region on a
# marked store keeps the marker.  On the Swift S3 server: a region whose URL
# names a prefix without its store (a wrong or wiped prefix) is store-missing
# for the CLI and the mount, and the mount sends no PUT at all.
TEST_TIMEOUT=600
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # A
HA=$SEALSYNC_HOME
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
SP=$work/store
STORE=file://$SP
create_region docs --store "$STORE"
RID=$REGION_ID
ma=$work/a
mkdir -p "$ma"

is "$(cat "$SP/sealsync-store" 2>/dev/null)" "sealsync store 1" "create writes the store marker"

# push_err / pull_err: the status's upload / download error message ("null" if none).
push_err() { A status docs --json 2>/dev/null | jq -r '.push.error.message'; }
pull_err() { A status docs --json 2>/dev/null | jq -r '.pull.error.message'; }
missing_named()
{
	local s
	s=$(A status docs --json 2>/dev/null) || true
	jq -e '[.push.error.message, .pull.error.message] | map(select(. != null and startswith("store-missing"))) | length > 0' \
		<<<"$s" >/dev/null
}
nothing_there() { [ ! -e "$SP" ]; }

SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "mount failed"
printf 'one\n' >"$ma/one"
run_ok "A: sync with the store there" A sync docs

# --- the store moved away while mounted ----------------------------------------
mv "$SP" "$SP.away"
printf 'two\n' >"$ma/two"
run_fails "A: sync with the store moved away exits non-zero" A sync docs
like "$T_OUT$T_ERR" "store-missing" "  ... and says store-missing"
converge "  ... status names store-missing" 30 missing_named
run_fails "  ... status exits non-zero" A status docs
like "$T_OUT" "store-missing" "  ... its text names store-missing"
# Two more forced rounds (an upload pass and a pull round each, instead of waiting on the
# timers): the store is tried again, and still nothing may appear in its place.
for _ in 1 2; do A sync docs >/dev/null 2>&1; done
nothing_there
ok $? "  ... no store directory was created in its place"
run_fails "A: verify fails" A verify docs
like "$T_ERR" "store-missing" "  ... naming store-missing"
run_fails "A: rotate fails" A rotate docs
nothing_there
ok $? "  ... and still nothing was created"

# --- an empty directory in its place is no store either ------------------------
mkdir "$SP"
run_fails "A: sync into an empty directory in its place exits non-zero" A sync docs
like "$T_OUT$T_ERR" "store-missing" "  ... and says store-missing"
is "$(find "$SP" -mindepth 1 | wc -l)" 0 "  ... nothing was written into it"
rmdir "$SP"

# --- mounting while the store is away ------------------------------------------
umount_region "$ma" || fail "umount"
SEALSYNC_HOME=$HA mount_region docs "$ma"
ok $? "A: mounts offline with the store away"
content_is "$ma/two" two
ok $? "  ... local files readable"
printf 'three\n' >"$ma/three"
converge "  ... status names store-missing" 30 missing_named
run_fails "  ... sync exits non-zero" A sync docs
like "$T_OUT$T_ERR" "store-missing" "  ... and says store-missing"
nothing_there
ok $? "  ... nothing created"
like "$(cat "$HA/regions/$RID/mount.log")" "store-missing" "  ... the mount log says store-missing"

# --- the store comes back: everything resumes ------------------------------------
mv "$SP.away" "$SP"
run_ok "A: sync once the store is back" A sync docs
converge "  ... status shows no error" 30 sh -c '[ "$(SEALSYNC_HOME='"$HA"' "$SEALSYNC_BIN" status docs --json | jq -r "[.push.error, .pull.error] | map(select(. != null)) | length")" = 0 ]'
outbox_empty "$HA/regions/$RID"
ok $? "  ... the outbox is empty"
umount_region "$ma" || fail "umount"
run_ok "A: verify is clean" A verify docs

# --- a store made before markers is marked at its first open -------------------
rm "$SP/sealsync-store"
run_ok "A: verify on a store without a marker (made before markers) is clean" A verify docs
[ ! -e "$SP/sealsync-store" ]
ok $? "  ... and writes nothing (no marker either)"
run_ok "A: members on that store" A members docs
is "$(cat "$SP/sealsync-store" 2>/dev/null)" "sealsync store 1" "  ... the open wrote the marker"
rm "$SP/sealsync-store"
SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "mount failed"
printf 'four\n' >"$ma/four"
run_ok "A: a mount on such a store syncs" A sync docs
is "$(cat "$SP/sealsync-store" 2>/dev/null)" "sealsync store 1" "  ... and marked it"
umount_region "$ma" || fail "umount"

# --- create on an existing store keeps its marker; the marker is no region -------
cp "$SP/sealsync-store" "$work/marker.before"
ino=$(stat -c %i "$SP/sealsync-store")
create_region photos --store "$STORE"
is "$(stat -c %i "$SP/sealsync-store")" "$ino" "create of a second region keeps the store's marker"
run_ok "  ... verify of the first region still clean" A verify docs
rm -rf "${SP:?}/$RID"
run_fails "a marked store that lost the region's GENESIS: verify fails" A verify docs
like "$T_ERR" "store-missing" "  ... naming store-missing"

# --- s3://: the marker and the region's GENESIS are checked at every open -------
if /usr/bin/python3 -c 'import swift' 2>/dev/null && command -v memcached >/dev/null 2>&1; then
	start_s3 || bail "scripts/s3-server.sh does not start"
	start_proxy "$work/proxy.log" || bail "tests/tools/s3proxy.py does not start"
	create_region s3docs --store "s3://$S3_BUCKET/sm"
	RID3=$REGION_ID
	conf=$HA/regions/$RID3/region.conf
	m3=$work/m3
	mkdir -p "$m3"
	run_ok "s3: verify of a new region is clean" A verify s3docs
	sed -i "s|^store=.*|store=s3://$S3_BUCKET/elsewhere|" "$conf"
	run_fails "s3: verify with the URL on an empty prefix fails" A verify s3docs
	like "$T_ERR" "store-missing" "  ... naming store-missing"
	proxy_reset
	SEALSYNC_HOME=$HA mount_region s3docs "$m3"
	ok $? "s3: mounts offline on the empty prefix"
	printf 'offline\n' >"$m3/f"
	converge "  ... status names store-missing" 30 sh -c 'SEALSYNC_HOME='"$HA"' "$SEALSYNC_BIN" status s3docs --json | jq -e ".push.error.message | startswith(\"store-missing\")"'
	run_fails "  ... sync exits non-zero" A sync s3docs
	like "$T_OUT$T_ERR" "store-missing" "  ... and says store-missing"
	[ "$(proxy_stats '.by_method.PUT // 0')" = 0 ]
	ok $? "  ... and no PUT reached the store" "$(grep -E 'PUT|POST' "$work/proxy.log" | tail -n 5)"
	umount_region "$m3" || fail "s3: umount"
	sed -i "s|^store=.*|store=s3://$S3_BUCKET/sm|" "$conf"
	SEALSYNC_HOME=$HA mount_region s3docs "$m3" || bail "s3: remount failed"
	run_ok "s3: with the right URL again, sync works" A sync s3docs
	outbox_empty "$HA/regions/$RID3"
	ok $? "  ... the file went up"
	umount_region "$m3" || fail "s3: umount"
	run_ok "  ... verify is clean" A verify s3docs
else
	skip "python3-swift or memcached is not installed (run scripts/deps.sh): no S3 server"
fi

done_testing
