#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 74-cli.t: issue #12's CLI items.
# - `forget NAME`: refused while mounted; asks unless --yes (no answer: nothing
#   removed); removes the region's directory (data, index, keys, outbox) and
#   says what it removed; the store is untouched; the name is free again.
# - `status` with two device homes on one machine (the same region joined by
#   both): a mount of home B is not shown as home A's own.
# - `--json` everywhere: every object a command prints (each element when it
#   prints an array) has "version": 1, and every time is RFC 3339 UTC or null;
#   `policy --json` and `pin --list --json`.
# - owner names: `init --owner` (kept in SEALSYNC_HOME/owner, shown by `id`),
#   `create --owner`, and the owner a shared store's second user sees.
# - one style of option error in every command: "sealsync CMD: unknown option
#   '--x'" / "missing value for --x", "Try 'sealsync help CMD'.", exit 2.
TEST_TIMEOUT=300
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # A
HA=$SEALSYNC_HOME
HB=$work/homeB
STORE=file://$work/store
create_region docs --store "$STORE"
RID=$REGION_ID
RDIR=$REGION_DIR
# shellcheck disable=SC2317 # A and B are run through run_ok and run_fails
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
# shellcheck disable=SC2317
B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }
ma=$work/a
mb=$work/b
mkdir -p "$ma" "$mb"

# --- status: another home's mount is not this home's ---------------------------
enroll_device devB B docs
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "mount on B failed"
run_ok "A: status of docs while only B has it mounted exits 0" A status docs --json
is "$(jq -r '[.mounted, .mountpoint] | map(tostring) | join(" ")' <<<"$T_OUT")" "false null" \
	"  ... A's status says not mounted (B's mount is not A's)"
is "$(jq -r .other_home_mountpoint <<<"$T_OUT")" "$mb" "  ... other_home_mountpoint names B's mount"
run_ok "A: status text" A status docs
like "$T_OUT" "mounted: +no" "  ... text: mounted: no"
like "$T_OUT" "another device home" "  ... and names the other home's mount"
run_ok "B: status shows its own mount" B status docs --json
is "$(jq -r '.mounted' <<<"$T_OUT")" true "  ... B: mounted true"
SEALSYNC_HOME=$HB umount_region "$mb" || fail "umount on B failed"

# --- forget --------------------------------------------------------------------
echo hello >"$work/f"
SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "mount on A failed"
cp "$work/f" "$ma/f"
run_ok "sync" A sync docs
run_fails "forget refuses while mounted" A forget docs --yes
like "$T_ERR" "is mounted on $ma" "  ... and says where it is mounted"
test -f "$RDIR/region.conf"; ok $? "  ... the region directory is still there"
SEALSYNC_HOME=$HA umount_region "$ma" || fail "umount on A failed"

run_fails "forget without --yes and no answer does nothing" A forget docs
like "$T_ERR" "not confirmed" "  ... says it was not confirmed"
test -f "$RDIR/region.conf"; ok $? "  ... the region directory is still there"
echo no >"$work/no"
echo yes >"$work/yes"
RUN_STDIN=$work/no run_fails "forget with answer 'no' does nothing" A forget docs
test -d "$RDIR/members"; ok $? "  ... still there"

store_before=$(cd "$work/store" && find . -type f -exec sha256sum {} + | sort)
RUN_STDIN=$work/yes run_ok "forget with answer 'yes'" A forget docs
like "$T_OUT" "forgot region 'docs' \\($RID\\)" "  ... says which region it forgot"
like "$T_OUT" "removed index.db" "  ... lists the index"
like "$T_OUT" "removed genesis +1 file, [0-9]+ bytes \\(1 overwritten first\\)" \
	"  ... the genesis (wrapped key) overwritten first"
! test -e "$RDIR"; ok $? "  ... the region directory is gone"
test -z "$(ls -A "$HA/regions")"; ok $? "  ... nothing left under regions/"
run_ok "list" A list --json
is "$(jq length <<<"$T_OUT")" 0 "  ... list shows no region"
is "$(cd "$work/store" && find . -type f -exec sha256sum {} + | sort)" "$store_before" \
	"  ... the store is byte-for-byte untouched"
run_fails "forget of an unknown region fails" A forget docs --yes
like "$T_ERR" "unknown region 'docs'" "  ... unknown region"
run_fails "forget with no name is a usage error" A forget
is "$T_RC" 2 "  ... exit 2"
run_ok "B's copy still works: status" B status docs --json
run_ok "create a region of the same name again" A create docs --store "file://$work/store2"

# --- gc on a small region: the checkpoint it needs is written -------------------
run_fails "checkpoint of an unmounted region fails" A checkpoint docs
like "$T_ERR" "not mounted" "  ... says it is not mounted"
ms=$work/s
mkdir -p "$ms"
SEALSYNC_HOME=$HA mount_region docs "$ms" || bail "mount of the new docs failed"
SD2=$work/store2/$(SEALSYNC_HOME=$HA region_id docs)
head -c 100000000 /dev/urandom >"$ms/big" || bail "cannot write 100 MB"
run_ok "sync after writing 100 MB" A sync docs --timeout 10m
before=$(du -sb "$SD2" | cut -f1)
note "store: $before bytes with the 100 MB file"
[ "$before" -gt 100000000 ]; ok $? "  ... the store holds the 100 MB"
rm "$ms/big"
run_ok "sync after deleting it" A sync docs
run_ok "gc --dry-run on a region with no checkpoint" A gc docs --dry-run --grace 0
like "$T_OUT" "no checkpoint yet" "  ... says there is no checkpoint yet (a dry run writes none)"
run_ok "gc --grace 0 writes the checkpoint it needs, then collects" A gc docs --grace 0
like "$T_OUT" "no checkpoint yet; the mount wrote checkpoint [0-9]+" "  ... says it had one written"
like "$T_OUT" "deleted [1-9][0-9]* object" "  ... and deleted objects"
after=$(du -sb "$SD2" | cut -f1)
note "store: $after bytes after gc"
[ "$after" -lt 10000000 ]; ok $? "  ... the store is below 10 MB again ($after bytes)"
run_ok "checkpoint NAME" A checkpoint docs
like "$T_OUT" "wrote checkpoint [0-9]+" "  ... prints the checkpoint's number"
run_ok "verify is clean after gc" A verify docs

# --- JSON: one schema version, one time format ----------------------------------
# json_ok LABEL: T_OUT (from run_ok) is JSON whose top-level object, or every
# element of its top-level array, has "version": 1, and whose every time
# (keys time, *_time, expires, *_at, last_success) is RFC 3339 UTC or null.
json_ok()
{
	jq -e '(if type == "array" then all(.[]; .version == 1) else .version == 1 end) and
		([.. | objects | to_entries[] |
		  select(.key | test("(^|_)time$|^expires$|_at$|^last_success$")) | .value] |
		 all(. == null or (type == "string" and
			test("^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]Z$"))))' \
		<<<"$T_OUT" >/dev/null
	ok $? "  ... $1: \"version\": 1 and RFC 3339 UTC times"
}
mkdir -p "$ms/keep"
echo x >"$ms/keep/x"
for args in "id --json" "list --json" "status --json" "status docs --json" "members docs --json" \
	"log docs --json" "policy docs --json" "verify docs --json" "gc docs --dry-run --json" \
	"requests docs --json" "alarms docs --json" "sync docs --json" \
	"invite docs --json --expires 1h"; do
	# shellcheck disable=SC2086 # ARGS is a word list
	run_ok "A $args" A $args
	json_ok "$args"
done
is "$(jq -r '.entries[0].time | fromdateiso8601 > 1700000000' <<<"$(A log docs --json)")" true \
	"log --json: the GENESIS time is a date"
run_ok "policy docs --max-key-age 30d --json" A policy docs --max-key-age 30d --json
is "$(jq -r '"\(.max_key_age) \(.history) \(.key_stale)"' <<<"$T_OUT")" "2592000 all false" \
	"  ... max_key_age in seconds, history, key_stale"
json_ok "policy --json after a change"
run_ok "policy docs --max-key-age off --json" A policy docs --max-key-age off --json
is "$(jq -r .max_key_age <<<"$T_OUT")" null "  ... off is null"
run_ok "pin docs keep" A pin docs "$ms/keep"
run_ok "pin docs --list --json" A pin docs --list --json
is "$(jq -c '[.region, .pins]' <<<"$T_OUT")" '["docs",["keep"]]' "  ... {region, pins}"
json_ok "pin --list --json"
run_fails "pin --json without --list is a usage error" A pin docs "$ms/keep" --json
is "$T_RC" 2 "  ... exit 2"
SEALSYNC_HOME=$HA umount_region "$ms" || fail "umount failed"

# --- owner names at init and create -----------------------------------------------
HO=$work/homeO
# shellcheck disable=SC2317 # run through run_ok and run_fails
O() { SEALSYNC_HOME=$HO "$SEALSYNC_BIN" "$@"; }
run_fails "init --owner with a leading space is a usage error" O init --owner ' alice' --no-passphrase
is "$T_RC" 2 "  ... exit 2"
! test -e "$HO/device.key"; ok $? "  ... and no identity was made"
run_ok "init --name alice-desktop --owner alice" O init --name alice-desktop --owner alice --no-passphrase --kdf interactive
like "$T_OUT" "owner: +alice" "  ... prints the owner"
is "$(cat "$HO/owner")" alice "  ... kept in SEALSYNC_HOME/owner"
run_ok "id --json" O id --json
is "$(jq -r '"\(.version) \(.name) \(.owner)"' <<<"$T_OUT")" "1 alice-desktop alice" "  ... id --json has the owner"
SHARED=file://$work/shared
run_ok "create photos --store (shared) takes the init owner" O create photos --store "$SHARED"
run_ok "members photos --json" O members photos --json
is "$(jq -r '.devices[0] | "\(.name) \(.owner) \(.role)"' <<<"$T_OUT")" "alice-desktop alice admin" \
	"  ... alice-desktop, owner alice, admin"
run_ok "create notes --owner 'Alice Liddell' overrides it" O create notes --store "$SHARED" --owner 'Alice Liddell'
run_ok "members notes --json" O members notes --json
is "$(jq -r '.devices[0].owner' <<<"$T_OUT")" "Alice Liddell" "  ... owner 'Alice Liddell'"
run_fails "create --owner '' is a usage error" O create other --owner ''
is "$T_RC" 2 "  ... exit 2"
printf 'two\nlines\n' >"$HO/owner"
run_fails "a malformed SEALSYNC_HOME/owner fails create" O create other --store "$SHARED"
like "$T_ERR" "$HO/owner: not one owner name" "  ... naming the file"
rm "$HO/owner"
run_ok "without an owner file, create uses the device name" O create plain --store "$SHARED"
is "$(O members plain --json | jq -r '.devices[0].owner')" alice-desktop "  ... owner alice-desktop"
# bob joins photos on the shared store: he sees alice as its owner.
HBOB=$work/homeBob
SEALSYNC_HOME=$HBOB "$SEALSYNC_BIN" init --name bob-laptop --owner bob --no-passphrase --kdf interactive >/dev/null 2>&1
code=$(O invite photos --owner bob --json | jq -r .code)
prid=$(O list --json | jq -r '.[] | select(.name == "photos") | .region_id')
SEALSYNC_HOME=$HBOB "$SEALSYNC_BIN" join photos "$SHARED" "$prid" --code "$code" --timeout 0 >/dev/null 2>&1
bobid=$(SEALSYNC_HOME=$HBOB "$SEALSYNC_BIN" id --json | jq -r .device_id)
run_ok "alice approves bob's device" O approve photos "$bobid"
run_ok "bob's join finishes" env SEALSYNC_HOME="$HBOB" "$SEALSYNC_BIN" join photos "$SHARED" "$prid" --code "$code" --timeout 30s
run_ok "bob: members photos --json" env SEALSYNC_HOME="$HBOB" "$SEALSYNC_BIN" members photos --json
is "$(jq -r '[.devices[] | "\(.name):\(.owner)"] | join(" ")' <<<"$T_OUT")" "alice-desktop:alice bob-laptop:bob" \
	"  ... bob sees alice-desktop (alice) and bob-laptop (bob)"

# --- one style of option error ------------------------------------------------------
root=$(cd "$(dirname "$0")/../.." && pwd)
mapfile -t cmds < <(sed -n 's/^ *{"\([a-z-]*\)", cmd_[a-z_]*,.*/\1/p' "$root/cli/main.c")
bad=
for c in "${cmds[@]}"; do
	out=$(A "$c" --no-such-option 2>&1)
	rc=$?
	[ $rc -eq 2 ] && [ "$out" = "sealsync $c: unknown option '--no-such-option'
Try 'sealsync help $c'." ] || bad="$bad $c(exit $rc: $(head -1 <<<"$out"))"
done
is "$bad" "" "every command (${#cmds[@]}): \"sealsync CMD: unknown option '--no-such-option'\", the hint, exit 2"
bad=
for p in "gc --grace" "sync --timeout" "mount -o" "create --store" "invite --role" "join --code" \
	"recover --words-file" "policy --history" "alarms --clear" "init --name" "revoke --cutoff"; do
	read -r c o <<<"$p"
	out=$(A "$c" "$o" 2>&1)
	rc=$?
	[ $rc -eq 2 ] && [ "$out" = "sealsync $c: missing value for $o
Try 'sealsync help $c'." ] || bad="$bad [$p](exit $rc: $(head -1 <<<"$out"))"
done
is "$bad" "" "an option without its value: \"sealsync CMD: missing value for --x\", the hint, exit 2"
run_fails "an option of another command (revoke --max-key-age) is unknown" A revoke docs abc --max-key-age 3
is "$T_ERR" "sealsync revoke: unknown option '--max-key-age'
Try 'sealsync help revoke'." "  ... named, in the same style"
run_fails "umount with no mountpoint" A umount
is "$T_ERR" "sealsync umount: expected a MOUNTPOINT
Try 'sealsync help umount'." "  ... in the same style"

done_testing
