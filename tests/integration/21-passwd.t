#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 21-passwd.t: `sealsync passwd` (issue #4) changes the device key's
# passphrase without touching any region: the old passphrase stops working,
# the new one works, a region made before still mounts and reads back; to
# and from no passphrase; a wrong current passphrase, a usage error or a
# missing new passphrase leave device.key byte-identical.
TEST_TIMEOUT=180
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # passphrase test-pass (lib.sh)
key=$SEALSYNC_HOME/device.key
create_region docs
id_before=$(S id --json)
mp=$work/mnt
mkdir -p "$mp"
mount_region docs "$mp" || bail "first mount failed"
rand_file "$work/data" 300000
cp "$work/data" "$mp/file.bin" && echo hello >"$mp/hello.txt"
ok $? "write two files"
umount_region "$mp" || bail "umount failed"
regions_before=$(cd "$SEALSYNC_HOME" && find regions -type f ! -name mount.log ! -name 'index.db*' \
	! -name lock -exec sha256sum {} + | sort)

echo new-pass >"$work/new.pass"
echo wrong >"$work/wrong.pass"
echo test-pass >"$work/old.pass"

# ------------------------------------------------------- refusals first
sum=$(sha "$key")
SEALSYNC_PASSPHRASE=wrong-pass run_fails "passwd with a wrong current passphrase fails" \
	S passwd --new-passphrase-file "$work/new.pass" --kdf interactive
is "$T_RC" 1 "  ... exit 1"
like "$T_ERR" 'wrong passphrase' "  ... says the passphrase is wrong"
is "$(printf '%s\n' "$T_ERR" | grep -c .)" 1 "  ... one line on stderr"
is "$(sha "$key")" "$sum" "  ... device.key byte-identical"
run_fails "passwd --passphrase-file with a wrong passphrase fails" \
	S passwd --passphrase-file "$work/wrong.pass" --new-passphrase-file "$work/new.pass"
is "$(sha "$key")" "$sum" "  ... device.key byte-identical"
run_fails "passwd with no new passphrase and no terminal fails" S passwd
is "$T_RC" 1 "  ... exit 1"
like "$T_ERR" 'new passphrase' "  ... says what is missing"
is "$(sha "$key")" "$sum" "  ... device.key byte-identical"
run_fails "passwd --no-passphrase --new-passphrase-file: usage error" \
	S passwd --no-passphrase --new-passphrase-file "$work/new.pass"
is "$T_RC" 2 "  ... exit 2"
run_fails "passwd --kdf bogus: usage error" S passwd --kdf bogus
is "$T_RC" 2 "  ... exit 2"
run_fails "passwd with an operand: usage error" S passwd extra
is "$T_RC" 2 "  ... exit 2"
is "$(sha "$key")" "$sum" "  ... device.key still byte-identical"
[ -z "$(find "$SEALSYNC_HOME" -maxdepth 1 -name 'device.key.tmp*')" ]
ok $? "no temporary key file left behind"

# ------------------------------------------------------------- change
run_ok "passwd (current from SEALSYNC_PASSPHRASE, new from a file)" \
	S passwd --new-passphrase-file "$work/new.pass" --kdf interactive
like "$T_OUT" 'passphrase changed' "  ... says so"
isnt "$(sha "$key")" "$sum" "  ... device.key rewritten"
is "$(stat -c %a "$key")" 600 "  ... still mode 0600"
is "$(S id --json)" "$id_before" "  ... same device id, name and fingerprint"
[ -z "$(find "$SEALSYNC_HOME" -maxdepth 1 -name 'device.key.tmp*')" ]
ok $? "  ... no temporary key file left behind"
regions_after=$(cd "$SEALSYNC_HOME" && find regions -type f ! -name mount.log ! -name 'index.db*' \
	! -name lock -exec sha256sum {} + | sort)
is "$regions_after" "$regions_before" "  ... no region file touched"

SEALSYNC_PASSPHRASE=test-pass run_fails "the old passphrase no longer works" S create r2
like "$T_ERR" 'wrong passphrase' "  ... wrong passphrase"
run_fails "the old passphrase no longer works for passwd either" \
	S passwd --passphrase-file "$work/old.pass" --no-passphrase
SEALSYNC_PASSPHRASE=new-pass mount_region docs "$mp"
ok $? "the new passphrase mounts the region"
cmp -s "$work/data" "$mp/file.bin"
ok $? "  ... file.bin reads back"
is "$(cat "$mp/hello.txt" 2>/dev/null)" hello "  ... hello.txt reads back"
umount_region "$mp"

# ------------------------------------------- to and from no passphrase
sum=$(sha "$key")
SEALSYNC_PASSPHRASE=new-pass run_ok "passwd --no-passphrase" S passwd --no-passphrase
like "$T_ERR" 'WITHOUT a passphrase' "  ... warns that the keys are unprotected"
like "$T_OUT" 'passphrase removed' "  ... says so"
is "$(stat -c %a "$key")" 600 "  ... still mode 0600"
(unset SEALSYNC_PASSPHRASE; mount_region docs "$mp")
ok $? "the region mounts with no passphrase at all"
cmp -s "$work/data" "$mp/file.bin"
ok $? "  ... file.bin reads back"
umount_region "$mp"
run_ok "passwd from no passphrase (new from SEALSYNC_NEW_PASSPHRASE)" \
	env -u SEALSYNC_PASSPHRASE SEALSYNC_NEW_PASSPHRASE=third-pass "$SEALSYNC_BIN" passwd --kdf interactive
SEALSYNC_PASSPHRASE=wrong-pass run_fails "now a passphrase is needed again" S create r3
SEALSYNC_PASSPHRASE=third-pass mount_region docs "$mp"
ok $? "the third passphrase mounts the region"
is "$(cat "$mp/hello.txt" 2>/dev/null)" hello "  ... hello.txt reads back"
umount_region "$mp"
is "$(S id --json)" "$id_before" "the identity is the same after three changes"

# --------------------------------------------- key file refused as usual
chmod 0644 "$key"
sum=$(sha "$key")
SEALSYNC_PASSPHRASE=third-pass run_fails "passwd refuses a key file readable by others" \
	S passwd --no-passphrase
is "$(sha "$key")" "$sum" "  ... device.key byte-identical"
chmod 0600 "$key"
run_ok "passwd --help" S passwd --help
like "$T_OUT" '--new-passphrase-file' "  ... shows --new-passphrase-file"

done_testing
