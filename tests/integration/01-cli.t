#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The command-line contract of doc/CLI.md: init, id, create, list, mount,
# umount; their failures (one clear message, exit 1, nothing changed) and
# usage errors (exit 2); --help everywhere.
TEST_TIMEOUT=180
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device
pass "init --kdf interactive --name devA"

# ------------------------------------------------------------------ init
[ -f "$SEALSYNC_HOME/device.key" ]
ok $? "init wrote SEALSYNC_HOME/device.key"
mode=$(stat -c %a "$SEALSYNC_HOME/device.key" 2>/dev/null)
is "$mode" 600 "device.key is mode 0600"

before=$(home_listing)
keysum=$(sha "$SEALSYNC_HOME/device.key")
run_fails "init again fails (identity exists)" S init --kdf interactive --name devB
is "$T_RC" 1 "  ... with exit status 1"
isnt "$T_ERR" "" "  ... with a message on stderr"
is "$(sha "$SEALSYNC_HOME/device.key")" "$keysum" "  ... device.key unchanged"

# ------------------------------------------------------------------ id
run_ok "id" S id
id_text=$T_OUT
like "$id_text" '(^|[^0-9a-f])[0-9a-f]{32}([^0-9a-f]|$)' "id prints a 32-hex device id"
like "$id_text" 'devA' "id prints the device name"
run_ok "id --json" S id --json
id_json=$T_OUT
dev_id=$(printf '%s' "$id_json" | jq -r .device_id 2>/dev/null)
like "$dev_id" '^[0-9a-f]{32}$' "id --json: device_id is 32 hex"
is "$(printf '%s' "$id_json" | jq -r .name 2>/dev/null)" devA "id --json: name"
fpr=$(printf '%s' "$id_json" | jq -r .fingerprint 2>/dev/null)
nwords=$(printf '%s' "$fpr" | tr -s ' -' '\n\n' | grep -c '[a-z]')
is "$nwords" 6 "id --json: fingerprint has 6 words ('$fpr')"
printf '%s' "$id_text" | grep -qF -- "$dev_id"
ok $? "id and id --json agree on the device id"
printf '%s' "$id_text" | grep -qF -- "$fpr"
ok $? "id and id --json agree on the fingerprint"
SEALSYNC_PASSPHRASE=definitely-wrong run_ok "id needs no passphrase" S id --json

# --------------------------------------------------------- wrong passphrase
before=$(home_listing)
SEALSYNC_PASSPHRASE=wrong-pass run_fails "create with a wrong passphrase fails" S create r0
is "$T_RC" 1 "  ... exit status 1"
like "$T_ERR" '[Pp]assphrase' "  ... message mentions the passphrase"
is "$(printf '%s\n' "$T_ERR" | grep -c .)" 1 "  ... one line on stderr"
is "$(home_listing)" "$before" "  ... nothing changed in SEALSYNC_HOME"
run_ok "list after the failed create" S list --json
is "$(printf '%s' "$T_OUT" | jq length 2>/dev/null)" 0 "  ... no region was created"

pf=$work/wrong.pass
echo "not-the-passphrase" >"$pf"
run_fails "create --passphrase-file with a wrong passphrase fails" S create r0 --passphrase-file "$pf"
pf=$work/right.pass
echo "test-pass" >"$pf"

# ------------------------------------------------------- key file mode
chmod 0644 "$SEALSYNC_HOME/device.key"
before=$(home_listing)
run_fails "create with device.key mode 0644 is refused" S create r0
like "$T_ERR" 'device\.key|permission|mode|0644|644' "  ... message names the key file or its mode"
is "$(home_listing)" "$before" "  ... nothing changed"
chmod 0600 "$SEALSYNC_HOME/device.key"

# ------------------------------------------------------------ create, list
run_ok "create r1" S create r1
r1_out=$T_OUT
like "$r1_out" '[0-9a-f]{64}' "create prints the region id"
r1=$(printf '%s' "$r1_out" | grep -Eo '[0-9a-f]{64}' | head -n1)
[ -n "$r1" ] && [ -f "$SEALSYNC_HOME/regions/$r1/region.conf" ]
ok $? "regions/<id>/region.conf exists"
[ -f "$SEALSYNC_HOME/regions/$r1/genesis" ]
ok $? "regions/<id>/genesis exists"
[ -d "$SEALSYNC_HOME/store" ] && [ -n "$(find "$SEALSYNC_HOME/store" -type f | head -n1)" ]
ok $? "default store file://\$SEALSYNC_HOME/store holds an object (GENESIS)"

run_ok "create r2 --cipher xchacha20poly1305 --block-size 4096 --passphrase-file" \
	env -u SEALSYNC_PASSPHRASE "$SEALSYNC_BIN" create r2 --cipher xchacha20poly1305 \
	--block-size 4096 --passphrase-file "$pf"

run_ok "list" S list
like "$T_OUT" 'r1' "list shows r1"
like "$T_OUT" "$r1" "list shows r1's id"
like "$T_OUT" 'r2' "list shows r2"

run_ok "list --json" S list --json
lj=$T_OUT
is "$(printf '%s' "$lj" | jq length)" 2 "list --json: 2 regions"
q() { printf '%s' "$lj" | jq -r --arg n "$1" ".[] | select(.name == \$n) | .$2" 2>/dev/null; }
is "$(q r1 region_id)" "$r1" "list --json: r1 region_id"
is "$(q r1 store)" "file://$SEALSYNC_HOME/store" "list --json: r1 default store"
if grep -qw aes /proc/cpuinfo; then
	is "$(q r1 cipher)" aes256gcm "list --json: r1 default cipher aes256gcm (CPU has AES-NI)"
else
	is "$(q r1 cipher)" xchacha20poly1305 "list --json: r1 default cipher without AES-NI"
fi
is "$(q r1 block_size)" 65536 "list --json: r1 block_size 65536"
is "$(q r2 cipher)" xchacha20poly1305 "list --json: r2 cipher"
is "$(q r2 block_size)" 4096 "list --json: r2 block_size"

before=$(home_listing)
run_fails "create r1 again (name taken) fails" S create r1
is "$T_RC" 1 "  ... exit 1"
isnt "$T_ERR" "" "  ... with a message"
is "$(home_listing)" "$before" "  ... nothing changed"

for bs in 1000 2048 2097152 65537; do
	run_fails "create --block-size $bs is refused" S create "rbs$bs" --block-size "$bs"
done
run_fails "create --cipher rot13 is refused" S create rc --cipher rot13
for bad in 'a/b' '..' '' "$(printf 'x%.0s' $(seq 65))"; do
	run_fails "create with invalid name '${bad:0:12}' is refused" S create "$bad"
done
is "$(S list --json | jq length)" 2 "none of the refused creates left a region"

# ------------------------------------------------------- malformed store URLs
for url in 'foo://x' 'file://relative' 'file:relative' 'nonsense'; do
	before=$(home_listing)
	run_fails "create --store '$url' is refused" S create rurl --store "$url"
	isnt "$T_ERR" "" "  ... with a message"
	is "$(home_listing)" "$before" "  ... nothing changed"
done
is "$(S list --json | jq -r '.[].name' | grep -c rurl)" 0 "no region rurl exists"
mkdir -p "$work/otherstore"
run_ok "create --store file://ABSOLUTE works" S create r3 --store "file://$work/otherstore"
is "$(S list --json | jq -r '.[] | select(.name == "r3") | .store')" "file://$work/otherstore" \
	"list shows r3's store"
[ -n "$(find "$work/otherstore" -type f | head -n1)" ]
ok $? "the GENESIS went to the given store"

# ------------------------------------------------------------------ mount
mp=$work/mnt
before=$(home_listing)
run_fails "mount on a missing mount point fails" timeout 30 "$SEALSYNC_BIN" mount r1 "$mp"
is "$T_RC" 1 "  ... exit 1"
isnt "$T_ERR" "" "  ... with a message"
in_mountinfo "$mp"
ok $((!$?)) "  ... nothing mounted"
[ ! -e "$mp" ]
ok $? "  ... mount point not created behind our back"
is "$(home_listing)" "$before" "  ... nothing changed in SEALSYNC_HOME"

mkdir -p "$mp" "$work/mnt2" "$work/mnt3"
run_fails "mount of an unknown region fails" timeout 30 "$SEALSYNC_BIN" mount nosuch "$mp"
is "$T_RC" 1 "  ... exit 1"
like "$T_ERR" 'nosuch' "  ... message names the region"
in_mountinfo "$mp"
ok $((!$?)) "  ... nothing mounted"

SEALSYNC_PASSPHRASE=wrong-pass run_fails "mount with a wrong passphrase fails" \
	timeout 30 "$SEALSYNC_BIN" mount r1 "$mp"
like "$T_ERR" '[Pp]assphrase' "  ... message mentions the passphrase"
in_mountinfo "$mp"
ok $((!$?)) "  ... nothing mounted"

run_fails "mount with no passphrase source (no env, no terminal) fails, no hang" \
	setsid -w env -u SEALSYNC_PASSPHRASE timeout 30 "$SEALSYNC_BIN" mount r1 "$mp"
[ "$T_RC" -ne 124 ]
ok $? "  ... did not hang"
in_mountinfo "$mp"
ok $((!$?)) "  ... nothing mounted"

# A real mount, with the passphrase from a file.
unset SEALSYNC_PASSPHRASE
if mount_region r1 "$mp" --passphrase-file "$pf"; then
	pass "mount r1 --passphrase-file works"
else
	fail "mount r1 --passphrase-file works"
	SEALSYNC_PASSPHRASE=test-pass mount_region r1 "$mp" || bail "cannot mount r1 at all"
fi
export SEALSYNC_PASSPHRASE=test-pass
[ -n "$MOUNT_PID" ]
ok $? "mount daemonized (a sealsync process serves $mp after mount returned)"
[ -f "$SEALSYNC_HOME/regions/$r1/mount.log" ]
ok $? "mount.log exists at regions/<id>/mount.log"
echo hello >"$mp/hello.txt"
is "$(cat "$mp/hello.txt" 2>&1)" hello "the mount serves files"
like "$(awk -v mp="$mp" '$5 == mp { for (i = 6; i <= NF; i++) if ($i == "-") { print $(i + 1); exit } }' /proc/self/mountinfo)" \
	'^fuse' "$mp is a FUSE mount"
r1pid=$MOUNT_PID

# hello.txt's commit and upload (to the default store, inside SEALSYNC_HOME) done first.
S sync r1 >/dev/null 2>&1 || diag "sealsync sync r1 failed"
before=$(home_listing)
run_fails "mount r1 again on the busy mount point fails" timeout 30 "$SEALSYNC_BIN" mount r1 "$mp"
is "$T_RC" 1 "  ... exit 1"
isnt "$T_ERR" "" "  ... with a message"
is "$(printf '%s\n' "$T_ERR" | grep -c .)" 1 "  ... one line ('$T_ERR')"
run_fails "mount r2 on the busy mount point fails" timeout 30 "$SEALSYNC_BIN" mount r2 "$mp"
is "$T_RC" 1 "  ... exit 1"
run_fails "mount r1 a second time elsewhere (region in use) fails" \
	timeout 30 "$SEALSYNC_BIN" mount r1 "$work/mnt2"
isnt "$T_ERR" "" "  ... with a message"
in_mountinfo "$work/mnt2"
ok $((!$?)) "  ... nothing mounted at mnt2"
echo "$work/mnt2" >>"$work/.mounts"
is "$(home_listing)" "$before" "  ... SEALSYNC_HOME unchanged by the three refused mounts"
is "$(grep -c "^$mp " <(awk '{print $5" "}' /proc/self/mountinfo))" 1 "$mp is mounted exactly once"
is "$(cat "$mp/hello.txt" 2>&1)" hello "the first mount still serves files"

# A second region mounts at the same time elsewhere.
if mount_region r2 "$work/mnt3"; then
	pass "mount r2 while r1 is mounted"
	echo two >"$work/mnt3/two"
	is "$(cat "$work/mnt3/two")" two "r2 serves files"
	[ ! -e "$mp/two" ] && [ ! -e "$work/mnt3/hello.txt" ]
	ok $? "r1 and r2 are separate trees"
	umount_region "$work/mnt3"
	ok $? "umount r2"
else
	fail "mount r2 while r1 is mounted"
fi

# ------------------------------------------------------------------ umount
# Busy: a descriptor open in the mount.
exec 4<"$mp/hello.txt"
before=$(home_listing)
run_fails "umount of a busy mount (open file) fails" timeout 60 "$SEALSYNC_BIN" umount "$mp"
is "$T_RC" 1 "  ... exit 1"
like "$T_ERR" '[Bb]usy' "  ... message says busy"
in_mountinfo "$mp"
ok $? "  ... still mounted"
is "$(cat <&4)" hello "  ... the open descriptor still reads"
is "$(cat "$mp/hello.txt" 2>&1)" hello "  ... the mount still serves files"
pid_alive "$r1pid"
ok $? "  ... the daemon is still running"
exec 4<&-

run_ok "umount" timeout 60 "$SEALSYNC_BIN" umount "$mp"
[ -n "$r1pid" ] && ! pid_alive "$r1pid"
ok $? "  ... returns only after the daemon has exited (doc/CLI.md)"
in_mountinfo "$mp"
ok $((!$?)) "  ... $mp is no longer a mount point"
[ ! -e "$mp/hello.txt" ]
ok $? "  ... the plain mount point directory is empty"
run_fails "umount of a directory that is not mounted fails" timeout 30 "$SEALSYNC_BIN" umount "$mp"
isnt "$T_ERR" "" "  ... with a message"
run_fails "umount of a missing path fails" timeout 30 "$SEALSYNC_BIN" umount "$work/nope"
if mount_region r1 "$mp"; then
	is "$(cat "$mp/hello.txt" 2>&1)" hello "after umount + mount the file is still there"
	umount_region "$mp"
	ok $? "umount again"
else
	fail "mount r1 again after umount"
fi

# -------------------------------------------------------------- foreground
"$SEALSYNC_BIN" mount r1 "$mp" -f </dev/null >"$work/fg.out" 2>&1 &
fgpid=$!
echo "$mp" >>"$work/.mounts"
for _ in $(seq 100); do in_mountinfo "$mp" && break; sleep 0.1; done
in_mountinfo "$mp"
ok $? "mount -f: mounted while running in the foreground" "$(cat "$work/fg.out")"
kill -0 "$fgpid" 2>/dev/null
ok $? "  ... the foreground process is the daemon (still running)"
is "$(cat "$mp/hello.txt" 2>&1)" hello "  ... serves files"
run_ok "  ... umount" timeout 60 "$SEALSYNC_BIN" umount "$mp"
fgrc=none
for _ in $(seq 100); do
	if ! kill -0 "$fgpid" 2>/dev/null; then
		wait "$fgpid"
		fgrc=$?
		break
	fi
	sleep 0.1
done
is "$fgrc" 0 "  ... the foreground process exits 0 after umount"

# -------------------------------------------------------------- read-only
if mount_region r1 "$mp" --read-only; then
	pass "mount --read-only"
	is "$(cat "$mp/hello.txt" 2>&1)" hello "  ... reads work"
	(echo x >"$mp/new") 2>"$work/e"
	grep -q 'Read-only file system' "$work/e"
	ok $? "  ... creating a file fails with EROFS" "$(cat "$work/e")"
	(echo x >>"$mp/hello.txt") 2>"$work/e"
	grep -q 'Read-only file system' "$work/e"
	ok $? "  ... appending fails with EROFS" "$(cat "$work/e")"
	for c in "mkdir $mp/d" "rm -f $mp/hello.txt" "mv $mp/hello.txt $mp/h2" "chmod 600 $mp/hello.txt" \
		"truncate -s 0 $mp/hello.txt" "touch $mp/hello.txt" "ln -s x $mp/l" \
		"setfattr -n user.a -v b $mp/hello.txt"; do
		$c 2>"$work/e"
		grep -q 'Read-only file system' "$work/e"
		ok $? "  ... '${c%% *}' fails with EROFS" "$(cat "$work/e")"
	done
	is "$(cat "$mp/hello.txt" 2>&1)" hello "  ... nothing changed"
	umount_region "$mp"
	ok $? "  ... umount"
else
	fail "mount --read-only"
fi

# ------------------------------------------------------------- help, usage
run_ok "--help" S --help
isnt "$T_OUT" "" "  ... prints usage on stdout"
run_ok "-h" S -h
run_ok "--version" S --version
like "$T_OUT" '[0-9]' "  ... prints a version"
for c in init id create list mount umount; do
	run_ok "$c --help exits 0" S "$c" --help
	like "$T_OUT$T_ERR" "$c" "  ... and describes $c"
done
run_fails "no command is a usage error" S
is "$T_RC" 2 "  ... exit 2"
run_fails "unknown command is a usage error" S frobnicate
is "$T_RC" 2 "  ... exit 2"
run_fails "unknown option is a usage error" S list --bogus
is "$T_RC" 2 "  ... exit 2"
run_fails "mount without arguments is a usage error" S mount
is "$T_RC" 2 "  ... exit 2"
run_fails "create without a name is a usage error" S create
is "$T_RC" 2 "  ... exit 2"

# ------------------------------------------------------- no passphrase mode
(
	export SEALSYNC_HOME=$work/home-nopass
	unset SEALSYNC_PASSPHRASE
	run S init --no-passphrase --kdf interactive --name nop
	echo "rc=$T_RC"
	echo "err=$T_ERR"
) >"$work/nopass.out" 2>&1
grep -q '^rc=0$' "$work/nopass.out"
ok $? "init --no-passphrase works" "$(cat "$work/nopass.out")"
grep -q '^err=..*' "$work/nopass.out"
ok $? "  ... with a warning on stderr"

done_testing
