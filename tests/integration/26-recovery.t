#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 26-recovery.t: the recovery key (issue #4; doc/DESIGN.md "The recovery key",
# doc/FORMAT-keyring.md "Recovery key").
#  - admin A creates a region and writes files; writer B (another user) may
#    not make a recovery key; A's `recovery-key` refuses a non-terminal stdout
#    without --yes-print, then prints 24 words; a second one is refused;
#  - A's device is lost (its home deleted);
#  - on a fresh SEALSYNC_HOME, `init` + `recover` with a wrong word, with a
#    bad checksum, with another region's words: refused, nothing recorded or
#    appended; with the right words (from the environment, then a file for
#    an idempotent re-run) and `--revoke A`: the new device is enrolled by
#    the RECOVERY device, A is removed, and the new device mounts and reads
#    A's files; `members` and `log` show RECOVERY, the new device, A removed;
#  - no marker in the store, no words in any home;
#  - the same recovery on the Swift S3 server.
TEST_TIMEOUT=300
. "$(dirname "$0")/lib.sh"
need_cmd jq

setup_device # unused default home
HA=$work/hA HB=$work/hB HN=$work/hN
A() { SEALSYNC_HOME=$HA "$SEALSYNC_BIN" "$@"; }
B() { SEALSYNC_HOME=$HB "$SEALSYNC_BIN" "$@"; }
N() { SEALSYNC_HOME=$HN "$SEALSYNC_BIN" "$@"; }
MARK=m4rk3r-$RANDOM$RANDOM

mkdir "$work/store"
STORE=file://$work/store
run_ok "A: init" A init --kdf interactive --name devA
SEALSYNC_HOME=$HA create_region docs --store "$STORE"
RID=$REGION_ID
SEALSYNC_HOME=$HA create_region other --store "$STORE"
RID2=$REGION_ID
enroll_device devB B docs --owner bob
idA=$(A id --json | jq -r .device_id)
idB=$(B id --json | jq -r .device_id)

ma=$work/mA
mkdir "$ma"
SEALSYNC_HOME=$HA mount_region docs "$ma" || bail "A cannot mount"
echo "one $MARK" >"$ma/one.txt"
mkdir "$ma/dir"
echo "two $MARK" >"$ma/dir/two.txt"
A sync docs >/dev/null 2>&1
converge "A's outbox is empty" 30 outbox_empty "$HA/regions/$RID"
umount_region "$ma"

# ------------------------------------------------------------ recovery-key
run_fails "B (writer) may not make the recovery key" B recovery-key docs --yes-print
like "$T_ERR" "only an admin" "the refusal names the rule"
run_fails "A: recovery-key refuses a non-terminal stdout" A recovery-key docs
like "$T_ERR" "not a terminal" "it says why (and --yes-print)"
is "$(A log docs --json | jq '.entries | length')" 2 "nothing was appended"

run_ok "A: recovery-key --yes-print" A recovery-key docs --yes-print
WORDS=$(grep -Eo '[0-9]+\. [a-z]+' <<<"$T_OUT" | awk '{ print $2 }' | tr '\n' ' ' | sed 's/ $//')
is "$(wc -w <<<"$WORDS")" 24 "24 words"
like "$T_OUT" "only this once" "it says the words are shown once"
run_ok "A: recovery-key for the other region" A recovery-key other --yes-print
WORDS2=$(grep -Eo '[0-9]+\. [a-z]+' <<<"$T_OUT" | awk '{ print $2 }' | tr '\n' ' ' | sed 's/ $//')
run_fails "A: a second recovery key is refused" A recovery-key docs --yes-print
like "$T_ERR" "has a recovery key already" "the refusal says why"
run_ok "A: members" A members docs --json
is "$(jq -r '[.devices[] | select(.role == "recovery") | .name + "/" + .owner] | join(" ")' <<<"$T_OUT")" \
	"recovery/devA" "the RECOVERY device is a member (owner: A's owner)"
idR=$(jq -r '.devices[] | select(.role == "recovery") | .device_id' <<<"$T_OUT")
first=${WORDS%% *}
! grep -rqs -- "$WORDS" "$HA" "$HB" "$work/store"; ok $? "the words are nowhere on disk"

# ------------------------------------------------------------ A is lost
rm -rf "$HA"
run_ok "N: init" N init --kdf interactive --name devN
idN=$(N id --json | jq -r .device_id)
snapshot() { find "$work/store" "$HN" -type f | LC_ALL=C sort | xargs sha256sum; }
before=$(snapshot)

# A wrong word (one not in the list), a wrong word of the list, 23 words.
bad_word="sealsync ${WORDS#* }"
SEALSYNC_RECOVERY_WORDS=$bad_word run_fails "recover: a word not in the list" N recover docs "$STORE" "$RID"
like "$T_ERR" "not 24 words of the word list" "the message names the problem"
# The last word holds 3 bits of the secret and the 8 checksum bits: a
# neighbour in the list keeps the secret bits, so only the checksum breaks.
last=${WORDS##* }
alt=$(awk -v w="$last" 'BEGIN { FS = "\"" } /^        "[a-z]+",$/ { n++; if ($2 == w) i = n - 1; l[n - 1] = $2 }
	END { j = (i % 2 == 0) ? i + 1 : i - 1; print l[j] }' "$(dirname "$0")/../../crypto/wordlist.c")
bad_sum="${WORDS% *} $alt"
SEALSYNC_RECOVERY_WORDS=$bad_sum run_fails "recover: a bad checksum" N recover docs "$STORE" "$RID"
like "$T_ERR" "checksum" "the message says checksum"
SEALSYNC_RECOVERY_WORDS=${WORDS#* } run_fails "recover: 23 words" N recover docs "$STORE" "$RID"
SEALSYNC_RECOVERY_WORDS=$WORDS2 run_fails "recover: another region's words" N recover docs "$STORE" "$RID"
like "$T_ERR" "not the recovery key of region" "the message says so"
is "$(snapshot)" "$before" "nothing written: not in the store, not in N's home"
N list 2>/dev/null | grep -q docs
ok $((!$?)) "N has no region docs"

# ------------------------------------------------------------ recover
SEALSYNC_RECOVERY_WORDS=$WORDS run_ok "N: recover --revoke A" N recover docs "$STORE" "$RID" --revoke "${idA:0:8}"
like "$T_OUT" "recovered region docs .*as admin, owner devA" "N is an admin of A's owner"
like "$T_OUT" "revoking devA \\(owner devA, admin" "A is revoked"
like "$T_OUT" "wrapped to 3 devices" "the new key goes to B, N and the recovery device"

printf '%s\n' "$WORDS" >"$work/words"
chmod 600 "$work/words"
run_ok "N: recover again (idempotent)" N recover docs "$STORE" "$RID" --words-file "$work/words"

run_ok "N: members --json" N members docs --json
m=$T_OUT
is "$(jq -r '.devices[] | select(.device_id == "'"$idN"'") | .role + "/" + .owner' <<<"$m")" "admin/devA" \
	"members: N, admin of devA"
is "$(jq -r '.devices[] | select(.device_id == "'"$idR"'") | .role' <<<"$m")" recovery "members: RECOVERY"
is "$(jq -r '[.removed[].device_id] | join(" ")' <<<"$m")" "$idA" "members: A removed"
run_ok "N: log --json" N log docs --json
j=$T_OUT
is "$(jq -r '[.entries[].kind] | join(" ")' <<<"$j")" "GENESIS ADD_DEVICE ADD_DEVICE ADD_DEVICE REMOVE_DEVICE" \
	"log: GENESIS, B, RECOVERY, N, removal of A"
is "$(jq -r '[.entries[3].author, .entries[4].author] | join(" ")' <<<"$j")" "$idR $idR" \
	"log: N's ADD and A's removal are by the RECOVERY device"
N log docs >/dev/null
ok $? "log verifies (exit 0)"

mn=$work/mN
mkdir "$mn"
SEALSYNC_HOME=$HN mount_region docs "$mn" || bail "N cannot mount"
N sync docs >/dev/null 2>&1
converge "N reads A's file" 60 content_is "$mn/one.txt" "one $MARK"
converge "N reads A's file in a directory" 30 content_is "$mn/dir/two.txt" "two $MARK"
echo "after $MARK" >"$mn/after.txt"
N sync docs >/dev/null 2>&1
converge "N's outbox is empty" 30 outbox_empty "$HN/regions/$RID"
umount_region "$mn"

# B still works, sees the new membership and N's file.
mb=$work/mB
mkdir "$mb"
SEALSYNC_HOME=$HB mount_region docs "$mb" || bail "B cannot mount"
B sync docs >/dev/null 2>&1
converge "B reads N's file" 60 content_is "$mb/after.txt" "after $MARK"
umount_region "$mb"

! grep -rqs -- "$MARK" "$work/store"; ok $? "no marker in the store"
! grep -rqs -- "$first $(cut -d' ' -f2 <<<"$WORDS")" "$HN" "$HB" "$work/store"; ok $? "no words in any home or the store"

# ============================================================ S3 (Swift)
# The same recovery on the signature-checking S3 server: A2 creates a region
# there, writes a file, makes the recovery key and is lost; a fresh home
# recovers with the words, revokes A2 and reads the file.
if ! /usr/bin/python3 -c 'import swift' 2>/dev/null || ! command -v memcached >/dev/null 2>&1; then
	skip "S3 part: python3-swift or memcached is not installed (scripts/deps.sh)"
	done_testing
	exit 0
fi
start_s3 || bail "scripts/s3-server.sh does not start"
HA2=$work/hA2 HN2=$work/hN2
A2() { SEALSYNC_HOME=$HA2 "$SEALSYNC_BIN" "$@"; }
N2() { SEALSYNC_HOME=$HN2 "$SEALSYNC_BIN" "$@"; }
S3STORE=s3://$S3_BUCKET/recovery-test
run_ok "s3: A2: init" A2 init --kdf interactive --name devA2
SEALSYNC_HOME=$HA2 create_region s3docs --store "$S3STORE"
RID3=$REGION_ID
idA2=$(A2 id --json | jq -r .device_id)
sa=$work/sA2
mkdir "$sa"
SEALSYNC_HOME=$HA2 mount_region s3docs "$sa" || bail "A2 cannot mount (s3)"
echo "s3 $MARK" >"$sa/s3.txt"
A2 sync s3docs >/dev/null 2>&1
converge "s3: A2's outbox is empty" 40 outbox_empty "$HA2/regions/$RID3"
umount_region "$sa"
run_ok "s3: A2: recovery-key" A2 recovery-key s3docs --yes-print
WORDS3=$(grep -Eo '[0-9]+\. [a-z]+' <<<"$T_OUT" | awk '{ print $2 }' | tr '\n' ' ' | sed 's/ $//')
is "$(wc -w <<<"$WORDS3")" 24 "s3: 24 words"
rm -rf "$HA2" # the device is lost
run_ok "s3: N2: init" N2 init --kdf interactive --name devN2
SEALSYNC_RECOVERY_WORDS=$WORDS3 run_ok "s3: N2: recover --revoke A2" N2 recover s3docs "$S3STORE" "$RID3" --revoke "${idA2:0:8}"
run_ok "s3: N2: members --json" N2 members s3docs --json
is "$(jq -r '[.removed[].device_id] | join(" ")' <<<"$T_OUT")" "$idA2" "s3: A2 is removed"
sn=$work/sN2
mkdir "$sn"
SEALSYNC_HOME=$HN2 mount_region s3docs "$sn" || bail "N2 cannot mount (s3)"
N2 sync s3docs >/dev/null 2>&1
converge "s3: N2 reads A2's file" 40 content_is "$sn/s3.txt" "s3 $MARK"
umount_region "$sn"
if grep -rqa -- "$MARK" "$S3_DIR"; then
	fail "s3: no marker in Swift's files" "$(grep -rla -- "$MARK" "$S3_DIR" | head)"
else
	pass "s3: no marker in Swift's files"
fi

done_testing
