#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# 15-delta.t: what the sync engine sends to the store, counted at
# tests/tools/s3proxy.py in front of a real S3 service (OpenStack Swift +
# s3api, scripts/s3-server.sh):
#  (a) delta: a 1-byte change in the middle of a published 256 MiB file
#      (DELTA_MIB=1024 for 1 GiB as before) uploads
#      one sealed block plus metadata (the file's new manifest and a journal
#      entry), not the file: bytes_up and the PUTs are bounded below;
#  (b) packing: 3,000 small files (DELTA_FILES) are published in far fewer requests than
#      files (packs of many records, one journal entry per commit round).
# The measured numbers are printed with `note`.
#
# Skipped (only) when python3-swift or memcached is not installed.
TEST_TIMEOUT=600
. "$(dirname "$0")/lib.sh"
need_cmd jq
need_s3

t_start=$(date +%s)
setup_device
start_s3 || bail "scripts/s3-server.sh does not start"
start_proxy "$work/proxy.log" || bail "tests/tools/s3proxy.py does not start"
note "Swift at $S3_UPSTREAM, proxy at $PROXY_URL, bucket $S3_BUCKET"
create_region delta --store "s3://$S3_BUCKET/delta"
RID=$REGION_ID
ma=$work/a
mkdir -p "$ma"
mount_region delta "$ma" || bail "mount failed" "$MOUNT_OUT"

# outbox_clear: nothing at all in the outbox (no entry, pack or temp file).
outbox_clear() { [ -z "$(ls -A "$REGION_DIR/outbox" 2>/dev/null)" ]; }
# wait_published LIMIT: everything written so far is on the store: `sealsync
# sync` commits what is dirty, uploads the outbox and waits for it (<= LIMIT
# s; it adds one ack PUT and a pull round's GETs), then the outbox is clear.
# Sets WAITED (seconds).  A fixed quiet period (as before) is outrun by a
# loaded machine, whose commit timer may fire later than any such period.
WAITED=0
wait_published()
{
	local t0=$SECONDS
	run S sync delta --timeout "$1" || diag "sealsync sync delta --timeout $1 failed:" "$T_OUT" "$T_ERR"
	wait_for "the outbox to be clear after the sync" 30 outbox_clear
	local rc=$?
	WAITED=$((SECONDS - t0))
	return $rc
}
# change_published: the timer's commit of a change made since mark_log is on the
# store: a journal entry was PUT since the mark and the outbox is clear.
change_published() { [ "$(store_puts journal)" -ge 1 ] && outbox_clear; }
# store_puts KIND: PUTs logged by the proxy since the log mark, to keys of
# KIND (p = packs, journal = journal entries).
log_mark=0
mark_log() { log_mark=$(wc -l <"$work/proxy.log"); }
store_puts() { tail -n +$((log_mark + 1)) "$work/proxy.log" | grep -Ec "^[0-9.]+ PUT /$S3_BUCKET/delta/$RID/$1/"; }
store_heads() { tail -n +$((log_mark + 1)) "$work/proxy.log" | grep -Ec "^[0-9.]+ HEAD /$S3_BUCKET/delta/$RID/$1/"; }

# --- (a) a 1-byte change in a large file --------------------------------------
MIB=${DELTA_MIB:-256}
SIZE=$((MIB * 1048576))
BS=65536
t0=$(date +%s.%N)
# 1 MiB writes: `head -c` writes 4 KiB at a time, and on a loaded machine each
# FUSE request waits for the daemon's turn on a CPU: 1 GiB took over 7 minutes.
dd if=/dev/urandom of="$ma/big" bs=1M count=$MIB iflag=fullblock status=none
ok $? "wrote a $MIB MiB file of random bytes through the mount"
t1=$(date +%s.%N)
wait_published 300
ok $? "the $MIB MiB file is published (sync done, outbox empty)"
t2=$(date +%s.%N)
st=$(proxy_stats)
note "$MIB MiB: write $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s, then published" \
	"$(printf '%.1f' "$(echo "$t2 - $t1" | bc)") s later;" \
	"$(jq -c '{requests, by_method, bytes_up}' <<<"$st")"
up=$(jq .bytes_up <<<"$st")
[ "$up" -ge "$SIZE" ]
ok $? "the first publication uploaded at least the file's size ($up bytes)"
# doc/SYNC.md D6: packs are named by their bytes; this Swift has no
# conditional PUT, and a pack goes up as one PUT, without a HEAD first.
is "$(store_heads p)" 0 "no HEAD before the packs' PUTs ($(store_puts p) pack PUTs)"
# A journal entry's key ends in its hash: named by its bytes as well.
is "$(store_heads journal)" 0 "no HEAD before the journal entries' PUTs ($(store_puts journal) PUTs)"

# 1 byte in the middle, not on a block boundary.
OFF=$((SIZE / 2 + 12345))
blk=$((OFF / BS))
dd if="$ma/big" of="$work/blk.before" bs=$BS skip=$blk count=1 status=none
cp "$work/blk.before" "$work/blk.want"
printf 'x' | dd of="$work/blk.want" bs=1 seek=$((OFF % BS)) conv=notrunc status=none
if cmp -s "$work/blk.before" "$work/blk.want"; then
	printf 'y' | dd of="$work/blk.want" bs=1 seek=$((OFF % BS)) conv=notrunc status=none
	ch=y
else
	ch=x
fi
proxy_reset
mark_log
t0=$(date +%s.%N)
printf '%s' "$ch" | dd of="$ma/big" bs=1 seek=$OFF conv=notrunc status=none
ok $? "changed 1 byte at offset $OFF (block $blk)"
# By the commit timer, not a sync: nothing else is sent meanwhile.
wait_for "the 1-byte change to be committed and uploaded (a journal PUT, outbox clear)" 120 change_published
ok $? "the change is published"
WAITED=$WAIT_S
st=$(proxy_stats)
up=$(jq .bytes_up <<<"$st")
puts=$(jq '.by_method.PUT // 0' <<<"$st")
posts=$(jq '.by_method.POST // 0' <<<"$st")
ppacks=$(store_puts p)
pjournal=$(store_puts journal)
note "1-byte change: published in ~$WAITED s; $(jq -c '{requests, by_method, bytes_up, bytes_down}' <<<"$st");" \
	"PUTs of packs: $ppacks, of journal entries: $pjournal"
# The bound, from doc/FORMAT-sync.md: one sealed block (nonce 24 + 65536 +
# tag 16), the file's new manifest, which lists every present block
# (41 bytes each: u64 index, hash[32], u8 final; 16384 blocks here) plus its
# fixed fields, padded metadata and signature (< 4 KiB), and the journal
# entry with the pack's framing (< 8 KiB).  The manifest's block list is
# O(file size): ~164 KiB for 256 MiB, ~656 KiB for 1 GiB, so no bound near one
# block is possible.
nblocks=$(((SIZE + BS - 1) / BS))
bound=$((BS + 40 + 41 * nblocks + 4096 + 8192))
[ "$up" -ge $((BS + 40)) ] && [ "$up" -le "$bound" ]
ok $? "bytes up for a 1-byte change: $up, within [one sealed block $((BS + 40)), $bound] (block + manifest of $nblocks refs + entry)" \
	"$st"
[ "$puts" -le 4 ] && [ "$posts" = 0 ] && [ "$ppacks" -ge 1 ] && [ "$pjournal" -ge 1 ] &&
	[ "$ppacks" -le 2 ] && [ "$pjournal" -le 2 ]
ok $? "a few single PUTs ($puts: $ppacks pack(s), $pjournal journal entr(y/ies)), no multipart upload ($posts POST)" \
	"$st"
dd if="$ma/big" of="$work/blk.after" bs=$BS skip=$blk count=1 status=none
cmp -s "$work/blk.after" "$work/blk.want"
ok $? "the changed block reads back with exactly that byte changed"
t_a=$(($(date +%s) - t_start))

# --- (b) many small files -----------------------------------------------------
NF=${DELTA_FILES:-3000} # 10000 as before: 6-7 minutes of cp -r on a loaded machine
ND=20
/usr/bin/python3 - "$work/small.ref" $NF $ND <<'EOF' || bail "cannot generate the small files"
import os, random, sys
root, nf, nd = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(15)
for d in range(nd):
    os.makedirs("%s/dir%02d" % (root, d))
for i in range(nf):
    with open("%s/dir%02d/file%05d" % (root, i % nd, i), "wb") as f:
        f.write(os.urandom(rng.randint(100, 2000)))
EOF
total=$(find "$work/small.ref" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }')
proxy_reset
mark_log
t0=$(date +%s.%N)
cp -r "$work/small.ref" "$ma/small"
ok $? "copied $NF files ($total bytes) in $ND directories into the mount"
t1=$(date +%s.%N)
wait_published 180
ok $? "the small files are published"
st=$(proxy_stats)
puts=$(jq '.by_method.PUT // 0' <<<"$st")
reqs=$(jq .requests <<<"$st")
up=$(jq .bytes_up <<<"$st")
ppacks=$(store_puts p)
pjournal=$(store_puts journal)
note "$NF small files: copy $(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s, published ~$WAITED s after;" \
	"$(jq -c '{requests, by_method, bytes_up, bytes_down}' <<<"$st");" \
	"PUTs of packs: $ppacks, of journal entries: $pjournal;" \
	"bytes up / file bytes = $(printf '%.2f' "$(echo "$up / $total" | bc -l)")"
# Packing: a few packs per commit round (one journal entry each), however many
# rounds the copy spans (on an idle machine < 100 PUTs; on a loaded one the
# copy takes minutes and spans more rounds of the 2 s commit timer).
[ "$puts" -lt $((NF / 10)) ] && [ "$puts" -ge 2 ] && [ "$ppacks" -le $((2 * pjournal + 2)) ]
ok $? "$NF files published with $puts PUTs (< $((NF / 10))): $ppacks pack(s) for $pjournal commit round(s)" "$st"
[ "$reqs" -lt $((NF / 3)) ]
ok $? "$reqs requests in all at the store (< $NF / 3)" "$st"
[ "$up" -ge "$total" ]
ok $? "bytes up ($up) cover the files' bytes ($total)"
diff -r "$work/small.ref" "$ma/small" >/dev/null 2>&1
ok $? "the small files read back identical"

umount_region "$ma"
ok $? "umount"
note "times: part (a) $t_a s, part (b) $(($(date +%s) - t_start - t_a)) s, total $(($(date +%s) - t_start)) s"
done_testing
