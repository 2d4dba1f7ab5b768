#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Tampering with local ciphertext is detected: reads of damaged blocks fail
# with EIO, never return wrong or partial plaintext, other blocks and other
# files keep working, and mount.log names the file and block.
#
# Ciphertext files: $SEALSYNC_HOME/regions/<id>/data/<xx>/<file id hex>.
# The layout (a header, then one fixed-size slot per block) is inferred from
# files of 1, 2 and 3 full blocks and cross-checked with doc/DESIGN.md's
# "Ciphertext files" (header 64 bytes, slot = 8 + 24 + block size + 16).
TEST_TIMEOUT=300
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
need_cmd xxd

BS=65536
setup_device
create_region r
mp=$work/mnt
ref=$work/ref
mkdir -p "$mp" "$ref"
data=$REGION_DIR/data
log=$REGION_DIR/mount.log

data_files() { find "$data" -type f 2>/dev/null | sort; }

# add_files NAME...: mounts, copies $ref/NAME into the mount, umounts; prints
# the data files that appeared.
add_files()
{
	local before after n
	before=$(data_files)
	mount_region r "$mp" || bail "mount failed"
	for n in "$@"; do
		cp "$ref/$n" "$mp/$n" || bail "cp $n into the mount failed"
	done
	umount_region "$mp" || bail "umount failed"
	after=$(data_files)
	comm -13 <(printf '%s\n' "$before") <(printf '%s\n' "$after") | sed '/^$/d'
}

rand_file "$ref/A" $((300 * 1024))   # blocks 0..3 full, block 4 partial (45056 bytes)
rand_file "$ref/B" $((100 * 1024))
rand_file "$ref/c1" $BS
rand_file "$ref/c2" $((2 * BS))
rand_file "$ref/c3" $((3 * BS))

adata=$(add_files A)
is "$(printf '%s\n' "$adata" | grep -c .)" 1 "writing A created exactly one data file" ||
	bail "cannot identify A's data file" "$adata"
bdata=$(add_files B)
is "$(printf '%s\n' "$bdata" | grep -c .)" 1 "writing B created exactly one data file" ||
	bail "cannot identify B's data file" "$bdata"
cdata=$(add_files c1 c2 c3)
fid=$(basename "$adata")
like "$fid" '^[0-9a-f]{32}$' "A's data file is named by a 32-hex file id"
is "$(basename "$(dirname "$adata")")" "${fid:0:2}" "  ... under data/<first two hex digits>/"
note "A = $adata"

# --------------------------------------------------------------- layout
sizes=$(for f in $cdata; do stat -c %s "$f"; done | sort -n | tr '\n' ' ')
read -r s1 s2 s3 <<<"$sizes"
slot=$((s2 - s1))
hdr=$((s1 - slot))
if [ -n "$s3" ] && [ $((s3 - s2)) -eq "$slot" ] && [ "$hdr" -ge 0 ] && [ "$slot" -gt $BS ]; then
	pass "layout: header $hdr bytes, slot $slot bytes (from files of 1/2/3 blocks: $sizes)"
	layout=1
else
	fail "layout: files of 1, 2, 3 blocks are $sizes bytes: not header + fixed slots"
	layout=0
	hdr=64
	slot=$((8 + 24 + BS + 16))
fi
asize=$(stat -c %s "$adata")
[ "$asize" -le $((hdr + 5 * slot)) ] && [ "$asize" -gt $((hdr + 4 * slot)) ]
ok $? "A's ciphertext ($asize bytes) holds 5 slots"
is "$hdr" 64 "header is 64 bytes as documented"
is "$slot" $((8 + 24 + BS + 16)) "slot is 8 + 24 (nonce) + 65536 + 16 bytes as documented in doc/DESIGN.md"

cp "$adata" "$work/A.pristine"

# --------------------------------------------------------------- helpers
# flip FILE OFFSET [MASK]: xor the byte at OFFSET with MASK (default 0x04).
flip()
{
	local b
	b=$(xxd -s "$2" -l 1 -p "$1")
	printf "\\x$(printf %02x $((0x$b ^ ${3:-0x04})))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
restore() { cp "$work/A.pristine" "$adata"; }

# read_block N: dd one 64 KiB block of A; output in $work/blk, status returned,
# stderr in $work/blk.err.
read_block()
{
	dd if="$mp/A" of="$work/blk" bs=$BS skip="$1" count=1 status=none 2>"$work/blk.err"
}
ref_block() { dd if="$ref/A" bs=$BS skip="$1" count=1 status=none; }
block_ok()
{
	if read_block "$1" && cmp -s "$work/blk" <(ref_block "$1"); then
		pass "$2"
	else
		fail "$2" "$(cat "$work/blk.err")" "read $(stat -c %s "$work/blk" 2>/dev/null) bytes"
	fi
}
block_eio()
{
	read_block "$1"
	local st=$?
	if [ $st -ne 0 ] && grep -q 'Input/output error' "$work/blk.err" && [ ! -s "$work/blk" ]; then
		pass "$2"
	else
		fail "$2" "dd exit $st: $(cat "$work/blk.err")" "returned $(stat -c %s "$work/blk") bytes"
	fi
}
# whole_read MAXLEN DESC: cat of A fails with EIO and what came out is a
# prefix of the true content no longer than MAXLEN bytes.
whole_read()
{
	local max=$1 desc=$2 st n
	dd if="$mp/A" of="$work/whole" bs=$BS status=none 2>"$work/whole.err"
	st=$?
	n=$(stat -c %s "$work/whole")
	if [ $st -ne 0 ] && grep -q 'Input/output error' "$work/whole.err"; then
		pass "$desc: reading A fails with EIO"
	else
		fail "$desc: reading A fails with EIO" "dd exit $st: $(cat "$work/whole.err")"
	fi
	if [ "$n" -le "$max" ] && cmp -s "$work/whole" <(head -c "$n" "$ref/A"); then
		pass "$desc: only intact bytes before the damage came out ($n <= $max)"
	else
		fail "$desc: only intact bytes before the damage came out" \
			"got $n bytes (max $max); prefix of the true content: $(cmp -s "$work/whole" <(head -c "$n" "$ref/A") && echo yes || echo NO)"
	fi
}
b_ok()
{
	cmp -s "$ref/B" "$mp/B"
	ok $? "$1: B reads fine"
}
tmount() { mount_region r "$mp" || bail "mount after tampering failed (a damaged file must not stop the mount)"; }

# --------------------------------------------------------------- sanity
tmount
cmp -s "$ref/A" "$mp/A"
ok $? "untouched: A reads back"
umount_region "$mp"

# --------------------------------------------------------------- block flip
restore
flip "$adata" $((hdr + 2 * slot + slot / 2))
loglines=$(wc -l <"$log" 2>/dev/null || echo 0)
tmount
whole_read $((2 * BS)) "bit flip in block 2"
block_eio 2 "bit flip in block 2: reading block 2 fails with EIO, no bytes"
block_eio 2 "bit flip in block 2: ... again (no cached zeros or garbage)"
block_ok 0 "bit flip in block 2: block 0 still reads"
block_ok 3 "bit flip in block 2: block 3 still reads"
block_ok 4 "bit flip in block 2: block 4 (last, partial) still reads"
b_ok "bit flip in block 2"
log_names_block2()
{
	tail -n +$((loglines + 1)) "$log" 2>/dev/null | grep -F "$fid" | grep -Eiq 'block[^0-9]{0,12}2([^0-9]|$)'
}
wait_for "mount.log to name file id $fid and block 2" 20 log_names_block2
newlog=$(tail -n +$((loglines + 1)) "$log" 2>/dev/null)
printf '%s\n' "$newlog" | grep -F "$fid" | grep -Eiq 'block[^0-9]{0,12}2([^0-9]|$)'
ok $? "mount.log has a line naming file id $fid and block 2" "new log lines:" "$newlog"
umount_region "$mp"

# A flip in the ciphertext's first and last bytes and in the slot header.
# (slot header: u32le sealed length, u8 flags (bit 0 final), u8 epoch, u16 0)
for where in "nonce:$((hdr + 1 * slot + 8)):0x04" "tag:$((hdr + 2 * slot - 1)):0x04" \
	"slot-length:$((hdr + 1 * slot + 1)):0x04" "final-flag:$((hdr + 1 * slot + 4)):0x01" \
	"reserved-flag-bit:$((hdr + 1 * slot + 4)):0x80" "epoch-byte:$((hdr + 1 * slot + 5)):0x01" \
	"reserved-u16:$((hdr + 1 * slot + 7)):0x01"; do
	IFS=: read -r what off mask <<<"$where"
	restore
	flip "$adata" "$off" "$mask"
	tmount
	block_eio 1 "bit flip in block 1's $what: block 1 fails with EIO"
	block_ok 4 "bit flip in block 1's $what: block 4 still reads"
	umount_region "$mp"
done
# The last block's final flag cleared: the file would look longer/truncated.
restore
flip "$adata" $((hdr + 4 * slot + 4)) 0x01
tmount
block_eio 4 "final flag of the last block flipped: block 4 fails with EIO"
umount_region "$mp"

# --------------------------------------------------------------- header flips
for off in 0 7 8 9 12 16 31 32 63; do
	restore
	flip "$adata" "$off"
	tmount
	cat "$mp/A" >"$work/whole" 2>"$work/whole.err"
	st=$?
	[ $st -ne 0 ] && grep -q 'Input/output error' "$work/whole.err" && [ ! -s "$work/whole" ]
	ok $? "bit flip in header byte $off: reading A fails with EIO, no bytes" \
		"cat exit $st: $(cat "$work/whole.err"); $(stat -c %s "$work/whole") bytes"
	umount_region "$mp"
done
restore
tmount
b_ok "after header flips"
umount_region "$mp"

# --------------------------------------------------------------- slot swaps
if [ "$layout" = 1 ]; then
	restore
	dd if="$work/A.pristine" bs=1 skip=$((hdr + 3 * slot)) count=$slot iflag=skip_bytes,count_bytes status=none >"$work/slot3"
	dd if="$work/A.pristine" bs=1 skip=$((hdr + 1 * slot)) count=$slot iflag=skip_bytes,count_bytes status=none >"$work/slot1"
	dd if="$work/slot3" of="$adata" bs=$slot seek=$((hdr + 1 * slot)) oflag=seek_bytes conv=notrunc status=none
	dd if="$work/slot1" of="$adata" bs=$slot seek=$((hdr + 3 * slot)) oflag=seek_bytes conv=notrunc status=none
	cmp -s "$adata" "$work/A.pristine"
	ok $((!$?)) "slots 1 and 3 swapped in A's ciphertext"
	tmount
	whole_read $((1 * BS)) "slots 1 and 3 swapped"
	block_eio 1 "slots 1 and 3 swapped: block 1 fails with EIO"
	block_eio 3 "slots 1 and 3 swapped: block 3 fails with EIO"
	block_ok 4 "slots 1 and 3 swapped: block 4 still reads"
	b_ok "slots swapped"
	umount_region "$mp"

	restore
	dd if="$work/slot1" of="$adata" bs=$slot seek=$((hdr + 2 * slot)) oflag=seek_bytes conv=notrunc status=none
	tmount
	block_eio 2 "slot 1 replayed into slot 2: block 2 fails with EIO"
	whole_read $((2 * BS)) "slot 1 replayed into slot 2"
	umount_region "$mp"

	# The last slot moved one position down (as if block 3 were the end).
	restore
	dd if="$work/A.pristine" bs=1 skip=$((hdr + 4 * slot)) iflag=skip_bytes status=none >"$work/slot4"
	dd if="$work/slot4" of="$adata" bs=$slot seek=$((hdr + 3 * slot)) oflag=seek_bytes conv=notrunc status=none
	truncate -s $((hdr + 3 * slot + $(stat -c %s "$work/slot4"))) "$adata"
	tmount
	whole_read $((3 * BS)) "last slot moved over slot 3"
	umount_region "$mp"
else
	skip "slot swaps: ciphertext layout not inferred (see the layout test above)"
fi

# --------------------------------------------------------------- truncation
for cut in "last-slot-dropped:$((hdr + 4 * slot)):$((4 * BS))" \
	"mid-last-slot:$((asize - 100)):$((4 * BS))" \
	"mid-block-2:$((hdr + 2 * slot + 100)):$((2 * BS))" \
	"header-only:$hdr:0" "half-header:32:0" "empty:0:0"; do
	IFS=: read -r what len max <<<"$cut"
	restore
	truncate -s "$len" "$adata"
	tmount
	whole_read "$max" "ciphertext truncated ($what, $len bytes)"
	is "$(stat -c %s "$mp/A" 2>&1)" $((300 * 1024)) "ciphertext truncated ($what): A's size is unchanged"
	b_ok "ciphertext truncated ($what)"
	umount_region "$mp"
done

# --------------------------------------------------------------- substitution
restore
cp "$bdata" "$adata"
tmount
whole_read 0 "A's ciphertext replaced by B's"
b_ok "A's ciphertext replaced by B's"
umount_region "$mp"

restore
rm -f "$adata"
tmount
cat "$mp/A" >"$work/whole" 2>"$work/whole.err"
st=$?
[ $st -ne 0 ] && [ ! -s "$work/whole" ]
ok $? "A's ciphertext deleted: reading A fails, no bytes" "cat exit $st: $(cat "$work/whole.err")"
grep -q 'Input/output error' "$work/whole.err"
ok $? "  ... with EIO" "$(cat "$work/whole.err")"
b_ok "A's ciphertext deleted"
umount_region "$mp"

# --------------------------------------------------------------- the index
# doc/DESIGN.md "Local index": inode.attr is sealed with AD = ino || file_id,
# dentry.ename with AD = hname || ino.  Moving sealed records between rows,
# or flipping a bit in one, must be detected: the names involved fail with
# EIO (or the mount refuses to start), never another file's data or size.
restore
idx=$REGION_DIR/index.db
mkdir -p "$work/idx.pristine"
cp -a "$idx"* "$work/idx.pristine/"
idx_restore()
{
	rm -f "$idx" "$idx-wal" "$idx-shm"
	cp -a "$work/idx.pristine/." "$REGION_DIR/"
}
Q() { sqlite3 "$idx" "$@"; }
ino_of() { Q "SELECT ino FROM inode WHERE hex(file_id) = upper('$1')"; }
ia=$(ino_of "$fid")
ib=$(ino_of "$(basename "$bdata")")
like "$ia $ib" '^[0-9]+ [0-9]+$' "index: found the inode rows of A ($ia) and B ($ib) by file id"
is "$(Q "SELECT count(*) FROM dentry WHERE ino IN ('$ia', '$ib')")" 2 "index: one dentry row each"

# read_fails NAME DESC: reading NAME fails with EIO and returns no bytes.
read_fails()
{
	local st
	cat "$mp/$1" >"$work/rf.out" 2>"$work/rf.err"
	st=$?
	[ $st -ne 0 ] && [ ! -s "$work/rf.out" ] && grep -q 'Input/output error' "$work/rf.err"
	ok $? "$2" "cat exit $st, $(stat -c %s "$work/rf.out") bytes: $(cat "$work/rf.err")"
}
# flip_blob TABLE COLUMN WHERE: flips one bit in the middle of a blob.
flip_blob()
{
	local h pos c
	h=$(Q "SELECT hex($2) FROM $1 WHERE $3")
	pos=$((${#h} / 2))
	c=$(printf '%X' $((0x${h:pos:1} ^ 1)))
	Q "UPDATE $1 SET $2 = X'${h:0:pos}$c${h:pos+1}' WHERE $3"
}
idx_case()
{
	local desc=$1 names=$2 n
	shift 2
	idx_restore
	"$@" || { fail "$desc: tampering the index failed (sqlite3)"; return; }
	if ! mount_region r "$mp"; then
		pass "$desc: detected (the mount refused to start)"
		diag "$desc: mount said: $MOUNT_OUT"
		return
	fi
	for n in $names; do
		read_fails "$n" "$desc: reading $n fails with EIO, no bytes"
	done
	cmp -s "$ref/c1" "$mp/c1"
	ok $? "$desc: an untouched file (c1) still reads"
	umount_region "$mp"
}
# swap_col TABLE COLUMN: exchanges COLUMN between the rows of A and B (values
# read first: an UPDATE's subqueries would see rows it already changed).
swap_col()
{
	local va vb
	va=$(Q "SELECT hex($2) FROM $1 WHERE ino = $ia")
	vb=$(Q "SELECT hex($2) FROM $1 WHERE ino = $ib")
	[ -n "$va" ] && [ -n "$vb" ] && [ "$va" != "$vb" ] &&
		Q "UPDATE $1 SET $2 = X'$vb' WHERE ino = $ia; UPDATE $1 SET $2 = X'$va' WHERE ino = $ib"
}
swap_attr() { swap_col inode attr; }
swap_fid() { Q "UPDATE inode SET file_id = X'00' WHERE ino = $ia; UPDATE inode SET file_id = X'$fid' WHERE ino = $ib; UPDATE inode SET file_id = X'$(basename "$bdata")' WHERE ino = $ia"; }
swap_dentry() { Q "UPDATE dentry SET ino = CASE ino WHEN $ia THEN $ib ELSE $ia END WHERE ino IN ($ia, $ib)"; }
swap_ename() { swap_col dentry ename; }
if [ -n "$ia" ] && [ -n "$ib" ]; then
	idx_case "index: attr records of A and B swapped" "A B" swap_attr
	idx_case "index: file ids of A and B swapped" "A B" swap_fid
	idx_case "index: dentries A and B point at each other's inode" "A B" swap_dentry
	idx_case "index: encrypted names of A and B swapped" "A B" swap_ename
	idx_case "index: one bit of A's attr record flipped" "A" flip_blob inode attr "ino = $ia"
	idx_case "index: one bit of A's encrypted name flipped" "A" flip_blob dentry ename "ino = $ia"
fi
idx_restore

# --------------------------------------------------------------- restored
restore
tmount
cmp -s "$ref/A" "$mp/A"
ok $? "pristine ciphertext restored: A reads back (the failures came from the damage)"
b_ok "at the end"
for f in c1 c2 c3; do
	cmp -s "$ref/$f" "$mp/$f" || diag "$f differs"
done
umount_region "$mp"
ok $? "final umount"
done_testing
