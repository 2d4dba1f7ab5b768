#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""smallwrites.py: small unaligned writes against a model (doc/DESIGN.md "Small writes").

    smallwrites.py mix PATH SEED STEPS MODEL
    smallwrites.py crash PATH SEED READY MODEL SYNCED
    smallwrites.py after PATH MODEL SYNCED

mix: opens PATH (created, truncated) and runs STEPS seeded operations on it,
checking every read against an in-memory model: sequential writes of 1 B to
9 KiB (most inside one 64 KiB block, some across a boundary), in-place
writes at random offsets, writes past the end (holes), O_APPEND writes
through a second descriptor, reads of random ranges (most over the last
write) through both descriptors, fstat sizes, and now and then a
truncation (shorter or longer) or an fsync.  Writes model to MODEL.  Exit 1
with the first difference.

crash: writes ~300 KiB to PATH in small unaligned pieces, fsyncs, writes
SYNCED (the fsynced length, a decimal) and MODEL (every byte written so
far, fsynced or not), writes more small pieces without fsync (a block left
partly filled), then creates READY and sleeps with PATH open until killed.

after: PATH (after a crash of the daemon) reads without error; its first
SYNCED bytes are MODEL's; every byte past them is MODEL's or zero; it is
not longer than MODEL.  Prints its length.
"""
import os
import random
import sys
import time

BS = 65536


def fail(msg):
    print("smallwrites: " + msg, file=sys.stderr)
    sys.exit(1)


def pread_all(fd, n, off):
    out = b""
    while len(out) < n:
        b = os.pread(fd, n - len(out), off + len(out))
        if not b:
            break
        out += b
    return out


def check_read(fd, model, off, n, what):
    want = bytes(model[off:off + n])
    got = pread_all(fd, n, off)
    if got != want:
        first = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                     min(len(got), len(want)))
        fail("%s: read of %d at %d differs at byte %d (got %d bytes, want %d)" %
             (what, n, off, off + first, len(got), len(want)))


def put(model, off, data):
    if off > len(model):
        model.extend(b"\0" * (off - len(model)))
    model[off:off + len(data)] = data


def mix(path, seed, steps, model_path):
    rnd = random.Random(seed)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    afd = os.open(path, os.O_WRONLY | os.O_APPEND)
    rfd = os.open(path, os.O_RDONLY)
    model = bytearray()
    pos = 0
    for step in range(steps):
        op = rnd.random()
        data = rnd.randbytes(rnd.choice((1, 7, 100, 512, 4096, 4097, 5000, 9000)))
        if op < 0.45:  # sequential
            off = pos
        elif op < 0.65:  # in place
            off = rnd.randrange(0, max(1, len(model)))
        elif op < 0.72:  # past the end: a hole
            off = len(model) + rnd.randrange(1, 3 * BS)
        elif op < 0.80:  # O_APPEND through another descriptor
            off = None
        elif op < 0.85:  # truncate, shorter or longer
            n = rnd.randrange(0, len(model) + BS + 1)
            os.ftruncate(fd, n)
            del model[n:]
            model.extend(b"\0" * (n - len(model)))
            pos = min(pos, n)
            continue
        elif op < 0.88:
            os.fsync(fd if rnd.random() < 0.5 else afd)
            continue
        else:  # a read somewhere
            off = rnd.randrange(0, len(model) + 10)
            check_read(rnd.choice((fd, rfd)), model, off, rnd.randrange(1, 3 * BS),
                       "step %d random" % step)
            continue
        if off is None:
            off = len(model)
            os.write(afd, data)
        else:
            os.pwrite(fd, data, off)
        put(model, off, data)
        pos = off + len(data)
        if rnd.random() < 0.6:  # read over what was just written, and around it
            lo = max(0, off - rnd.randrange(0, BS))
            check_read(rnd.choice((fd, rfd)), model, lo, off + len(data) - lo + rnd.randrange(0, BS),
                       "step %d after write at %d" % (step, off))
        if os.fstat(rfd).st_size != len(model):
            fail("step %d: size %d, want %d" % (step, os.fstat(rfd).st_size, len(model)))
    check_read(rfd, model, 0, len(model) + 1, "final")
    os.fsync(fd)
    for d in (fd, afd, rfd):
        os.close(d)
    with open(model_path, "wb") as f:
        f.write(model)


def crash(path, seed, ready, model_path, synced_path):
    rnd = random.Random(seed)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    model = bytearray()

    def scribble(total):
        while len(model) < total:
            data = rnd.randbytes(rnd.randrange(1, 3000))
            os.write(fd, data)
            model.extend(data)

    scribble(300000)
    os.fsync(fd)
    synced = len(model)
    scribble(synced + BS // 2 + 1234)
    with open(model_path, "wb") as f:
        f.write(model)
    with open(synced_path, "w") as f:
        f.write("%d\n" % synced)
    open(ready, "w").close()
    while True:
        time.sleep(1)


def after(path, model_path, synced_path):
    with open(model_path, "rb") as f:
        model = f.read()
    with open(synced_path) as f:
        synced = int(f.read())
    try:
        with open(path, "rb") as f:
            got = f.read()
    except OSError as e:
        fail("reading %s: %s" % (path, e))
    if len(got) < synced or got[:synced] != model[:synced]:
        fail("the fsynced %d bytes did not survive (length %d)" % (synced, len(got)))
    if len(got) > len(model):
        fail("longer (%d) than what was written (%d)" % (len(got), len(model)))
    for i in range(synced, len(got)):
        if got[i] != model[i] and got[i] != 0:
            fail("byte %d is neither written nor zero" % i)
    print(len(got))


def main():
    a = sys.argv[1:]
    if len(a) == 5 and a[0] == "mix":
        mix(a[1], int(a[2]), int(a[3]), a[4])
    elif len(a) == 6 and a[0] == "crash":
        crash(a[1], int(a[2]), a[3], a[4], a[5])
    elif len(a) == 4 and a[0] == "after":
        after(a[1], a[2], a[3])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
