#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 24-s3-multipart.t: the s3:// store's parallel multipart upload (doc/STORE.md
# "Operations on S3"), against a real, signature-checking S3 service
# (OpenStack Swift + s3api, scripts/s3-server.sh) through
# tests/tools/s3proxy.py, with `storetest --big` (one put of MIB MiB + 12345
# bytes, if absent, then a get compared byte for byte, then del):
#  (a) no faults: the object comes back whole; several parts were in flight
#      at once (the proxy's inflight_max), one part per 8 MiB, one complete;
#  (b) 20 % errors, 10 % dropped connections, 50 ms delays: the object still
#      comes back whole (each part retried on its own);
#  (c) a permanent 403 on one part: the put fails with -EACCES at once (not
#      retried), the upload is aborted (DELETE ?uploadId answered 2xx) and
#      no object is left;
#  (d) SEALSYNC_S3_CONCURRENCY=1: one part at a time; a bad value is refused;
#  (e) a named put (a pack's, doc/SYNC.md D6: --big-named) on this service,
#      which has no conditional PUT: no HEAD before the upload, and it reads
#      back whole.
#
# Uses no FUSE mount, but lib.sh (start_s3, start_proxy) skips without FUSE.
# Skipped (only) when python3-swift or memcached is not installed.
TEST_TIMEOUT=240
. "$(dirname "$0")/lib.sh"
need_cmd jq bc
need_s3
storetest=
tool storetest storetest

setup_device
start_s3 || bail "scripts/s3-server.sh does not start"
start_proxy "$work/proxy.log" || bail "tests/tools/s3proxy.py does not start"
note "Swift at $S3_UPSTREAM, proxy at $PROXY_URL, bucket $S3_BUCKET"
URL=s3://$S3_BUCKET/mp
MIB=40 # 41 MiB with the extra bytes: 6 parts of 8 MiB, the last one short
NPARTS=6

# big [ENV...]: storetest --big $MIB $URL (under ENV); output in $work/big.out.
big()
{
	env "$@" "$storetest" --big "$MIB" "$URL" >"$work/big.out" 2>"$work/big.err"
}
# since_mark PATTERN: proxy log lines matching PATTERN (ERE) since mark_log.
log_mark=0
mark_log() { log_mark=$(wc -l <"$work/proxy.log"); }
since_mark() { tail -n +$((log_mark + 1)) "$work/proxy.log" | grep -E "$1"; }

# --- (a) no faults -----------------------------------------------------------
proxy_reset
mark_log
big
ok $? "a $MIB MiB put (multipart) reads back whole" "$(cat "$work/big.out" "$work/big.err")"
grep -q '^bytes: same' "$work/big.out"
ok $? "the bytes read back are the bytes put" "$(cat "$work/big.out")"
st=$(proxy_stats)
note "no faults: $(jq -c '{requests, by_method, inflight_max}' <<<"$st")"
is "$(since_mark '^[0-9.]+ PUT .*partNumber=' | wc -l)" "$NPARTS" "$NPARTS part PUTs, one per 8 MiB"
is "$(since_mark '^[0-9.]+ POST .*uploadId=' | wc -l)" 1 "one CompleteMultipartUpload"
is "$(since_mark '^[0-9.]+ DELETE .*uploadId=' | wc -l)" 0 "no abort"
inflight=$(jq .inflight_max <<<"$st")
[ "$inflight" -ge 3 ]
ok $? "parts were sent in parallel (at most $inflight requests in flight at once, want >= 3)"

# --- (b) errors, drops and delays --------------------------------------------
proxy_reset
proxy_faults 'error_rate=0.2&drop_rate=0.1&delay_ms=50&seed=7' || bail "cannot set proxy faults"
mark_log
big
rc=$?
st=$(proxy_stats)
proxy_faults || bail "cannot turn the proxy faults off"
ok $rc "under 20% errors, 10% drops and 50 ms delays the put completes" \
	"$(cat "$work/big.out" "$work/big.err")"
grep -q '^bytes: same' "$work/big.out"
ok $? "... and the bytes read back are the bytes put" "$(cat "$work/big.out")"
note "faults: $(jq -c '{requests, by_method, faults, inflight_max}' <<<"$st")"
nhit=$(since_mark '^[0-9.]+ PUT .*partNumber=.* fault=(error|drop)' | wc -l)
[ "$nhit" -ge 1 ]
ok $? "part uploads were among the faulted requests ($nhit)"

# --- (c) a permanent 403 on part 3 -------------------------------------------
proxy_reset
proxy_faults 'deny=partNumber%3D3%26' || bail "cannot set the deny rule"
mark_log
t0=$(date +%s.%N)
big
rc=$?
t1=$(date +%s.%N)
st=$(proxy_stats)
proxy_faults || bail "cannot turn the proxy faults off"
isnt "$rc" 0 "a 403 on one part fails the put" "$(cat "$work/big.out")"
grep -q '^put: -EACCES' "$work/big.out"
ok $? "... with -EACCES" "$(cat "$work/big.out" "$work/big.err")"
grep -q '^get: -ENOENT' "$work/big.out"
ok $? "... and no object is left under the key" "$(cat "$work/big.out")"
is "$(jq .faults.denied <<<"$st")" 1 "the denied part was not retried"
since_mark '^[0-9.]+ done DELETE .*uploadId=.* 2[0-9][0-9]$' >/dev/null
ok $? "the upload was aborted (AbortMultipartUpload answered 2xx)" \
	"$(since_mark 'uploadId' | tail -n 12)"
is "$(since_mark '^[0-9.]+ POST .*uploadId=' | wc -l)" 0 "no CompleteMultipartUpload after the failure"
secs=$(echo "$t1 - $t0" | bc)
note "the failing put took $secs s; $(jq -c '{requests, by_method}' <<<"$st")"
grep -q "AccessDenied" "$work/big.err"
ok $? "one line names the denial" "$(cat "$work/big.err")"

# --- (d) SEALSYNC_S3_CONCURRENCY ---------------------------------------------
proxy_reset
big SEALSYNC_S3_CONCURRENCY=1
ok $? "SEALSYNC_S3_CONCURRENCY=1: the put reads back whole" "$(cat "$work/big.out" "$work/big.err")"
is "$(proxy_stats .inflight_max)" 1 "... one request at a time"
big SEALSYNC_S3_CONCURRENCY=0
isnt $? 0 "SEALSYNC_S3_CONCURRENCY=0 is refused"
grep -q "SEALSYNC_S3_CONCURRENCY must be" "$work/big.err"
ok $? "... with a message naming it" "$(cat "$work/big.err")"

# --- (e) a named put: no HEAD ------------------------------------------------
proxy_reset
mark_log
env "$storetest" --big-named "$MIB" "$URL" >"$work/big.out" 2>"$work/big.err"
ok $? "a named $MIB MiB put (multipart) reads back whole" "$(cat "$work/big.out" "$work/big.err")"
key=$(sed -n 's/^key: //p' "$work/big.out")
# Before the upload starts (its POST ?uploads): the del at the end HEADs it too.
before=$(since_mark "$key" | sed '/ POST .*uploads/q')
grep -q ' POST .*uploads' <<<"$before"
ok $? "the upload was multipart" "$before"
is "$(grep -cE "^[0-9.]+ HEAD " <<<"$before")" 0 "no HEAD of the object before its named upload" \
	"$before"
is "$(since_mark '^[0-9.]+ PUT .*partNumber=' | wc -l)" "$NPARTS" "... $NPARTS part PUTs"
done_testing
