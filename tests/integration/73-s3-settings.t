#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 73-s3-settings.t: a region's S3 settings are saved with it (never the
# secrets).  A region created with AWS_ENDPOINT_URL and AWS_REGION mounts and
# syncs with those variables unset (keys from ~/.aws/credentials); a region
# created with AWS_PROFILE reads endpoint_url and region of [profile NAME] in
# ~/.aws/config; the environment overrides the saved settings, and a wrong
# endpoint's error names the host and bucket.
#
# Skipped (only) when python3-swift or memcached is not installed.
TEST_TIMEOUT=240
. "$(dirname "$0")/lib.sh"
need_s3

setup_device
start_s3 || bail "scripts/s3-server.sh does not start"
EP=$AWS_ENDPOINT_URL
REG=$AWS_REGION
KEY_ID=$AWS_ACCESS_KEY_ID
SECRET=$AWS_SECRET_ACCESS_KEY
export HOME=$work/userhome
mkdir -p "$HOME/.aws"
printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n[other]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
	"$KEY_ID" "$SECRET" "$KEY_ID" "$SECRET" >"$HOME/.aws/credentials"
printf '[default]\noutput = json\n\n[profile other]\nregion = %s\nendpoint_url = %s\ns3 =\n  addressing_style = path\n' \
	"$REG" "$EP" >"$HOME/.aws/config"
S=$SEALSYNC_BIN

# --- saved at create from the environment -----------------------------------
create_region docs --store "s3://$S3_BUCKET/settings"
RID=$REGION_ID
f=$(ls -d "$SEALSYNC_HOME"/regions/"$RID"*/s3-settings 2>/dev/null | head -n1)
[ -n "$f" ] && [ -f "$f" ]
ok $? "create saved the region's S3 settings" "$(ls -R "$SEALSYNC_HOME/regions")"
grep -qx "endpoint_url = $EP" "$f" && grep -qx "region = $REG" "$f"
ok $? "they hold the endpoint and region" "$(cat "$f")"
! grep -q -e "$SECRET" -e "$KEY_ID" "$f"
ok $? "and no secret"
is "$(stat -c %a "$f")" 600 "mode 0600"

# --- mount and sync without the variables -------------------------------------
unset AWS_ENDPOINT_URL AWS_REGION AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
m=$work/m
mkdir -p "$m"
mount_region docs "$m" || bail "mount without AWS variables failed" "$MOUNT_OUT"
pass "mount works with no AWS variable set (saved settings, ~/.aws/credentials)"
echo hello >"$m/a.txt"
run_ok "sync works with no AWS variable set" "$S" sync docs
run_ok "verify works with no AWS variable set" "$S" verify docs
umount_region "$m"

# --- the environment overrides; errors name the host -------------------------
run_fails "a wrong endpoint in the environment overrides the saved one" \
	env AWS_ENDPOINT_URL=http://127.0.0.1:9 "$S" verify docs
like "$T_ERR" "cannot reach http://127\.0\.0\.1:9/$S3_BUCKET" "the error names the host and bucket"

# --- ~/.aws/config of a profile -----------------------------------------------
AWS_PROFILE=other create_region cfg --store "s3://$S3_BUCKET/settings-cfg"
pass "create with AWS_PROFILE only: endpoint and region from [profile other] in ~/.aws/config"
f2=$(ls -d "$SEALSYNC_HOME"/regions/"$REGION_ID"*/s3-settings 2>/dev/null | head -n1)
grep -qx "profile = other" "$f2" && ! grep -q endpoint_url "$f2"
ok $? "the profile is saved, the endpoint is not (it comes from ~/.aws/config)" "$(cat "$f2")"
run_ok "verify cfg with no AWS variable set (saved profile -> ~/.aws/config)" "$S" verify cfg
run_fails "without the saved profile, [default] has no endpoint" \
	env AWS_PROFILE=default AWS_ENDPOINT_URL=http://127.0.0.1:9 "$S" verify cfg
done_testing
