#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""workload.py: a seeded multi-device editing workload and its checker.

    workload.py run --dir MOUNT --dev NAME --seconds T --seed S --log FILE [--files N]
    workload.py check --log FILE... --tree MOUNT...

run: edits a shared set of files (f0 .. f{N-1} at the top of MOUNT and
d/f0 .. in a directory d, which the caller creates) for T seconds, each op
one of:

    append   open(O_APPEND), write one line, fsync, close
    rewrite  open(O_RDWR), read it all, ftruncate(0), write back with one
             more line, fsync, close (truncate-and-rewrite in place)
    replace  read, write a temp file with one more line, fsync, re-read the
             file and start again if it changed meanwhile, rename over it
             (an editor's save)
    rename   rename to a fresh unique name (r-DEV-N)
    delete   rename to a unique trash name, open it, unlink it, read through
             the open descriptor what was deleted

Every line written is unique ("DEV:N"), and a write carries over every line
the file held: so a line disappears legitimately only when a delete saw it.
Each op that returned success (close/fsync included) is logged as one JSON
line: {"op": ..., "path": ..., "line": ..., "ino": ...} or {"op": "delete",
"seen": [...], "ino": ...} ("ino": the inode number written or deleted, to
follow a line in a mount's log run with SEALSYNC_DEBUG=1); an op that failed logs "err" (not acknowledged; it may or may not
survive).

check: reads every regular file under each MOUNT (an unreadable file is a
failure), compares the trees (relative path, type, size, sha256; the
placeholders' directory .sealsync-orphans is ignored), and checks that every
acknowledged line is in some file of the first tree unless a delete saw it.
Prints one "ok"/"FAIL" line per check and exits 1 if any failed.

Python 3 standard library only.
"""

import argparse
import hashlib
import json
import os
import random
import sys
import time

IGNORED = {".sealsync-orphans"}


def read_all(fd):
    chunks = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def write_all(fd, data, off=None):
    done = 0
    while done < len(data):
        if off is None:
            n = os.write(fd, data[done:])
        else:
            n = os.pwrite(fd, data[done:], off + done)
        if n <= 0:
            raise OSError("short write")
        done += n


def read_path(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        return read_all(fd)
    finally:
        os.close(fd)


def line_bytes(line):
    return (line + "\n").encode()


class Worker:
    def __init__(self, args):
        self.dir = args.dir
        self.dev = args.dev
        self.rng = random.Random(args.seed)
        self.n = 0
        self.names = ["f%d" % i for i in range(args.files)] + [
            "d/f%d" % i for i in range(max(1, args.files // 2))
        ]
        self.log = open(args.log, "a", buffering=1)

    def next_line(self):
        self.n += 1
        return "%s:%d" % (self.dev, self.n)

    def record(self, **kw):
        kw["t"] = round(time.time(), 3)
        kw["dev"] = self.dev
        self.log.write(json.dumps(kw) + "\n")

    def p(self, name):
        return os.path.join(self.dir, name)

    def op_append(self, name):
        line = self.next_line()
        fd = os.open(self.p(name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            write_all(fd, line_bytes(line))
            os.fsync(fd)
            ino = os.fstat(fd).st_ino
        finally:
            os.close(fd)
        self.record(op="append", path=name, line=line, ino=ino)

    def op_rewrite(self, name):
        line = self.next_line()
        fd = os.open(self.p(name), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            old = read_all(fd)
            os.ftruncate(fd, 0)
            write_all(fd, old + line_bytes(line), 0)
            os.fsync(fd)
            ino = os.fstat(fd).st_ino
        finally:
            os.close(fd)
        self.record(op="rewrite", path=name, line=line, ino=ino)

    def op_replace(self, name):
        line = self.next_line()
        tmp = self.p(".tmp-%s-%d" % (self.dev, self.n))
        for _ in range(20):
            try:
                old = read_path(self.p(name))
            except FileNotFoundError:
                old = b""
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                write_all(fd, old + line_bytes(line))
                os.fsync(fd)
                ino = os.fstat(fd).st_ino
            finally:
                os.close(fd)
            try:
                now = read_path(self.p(name))
            except FileNotFoundError:
                now = b""
            if now == old:
                break
        os.rename(tmp, self.p(name))
        self.record(op="replace", path=name, line=line, ino=ino)

    def op_rename(self, name):
        new = "r-%s-%d" % (self.dev, self.n + 1)
        self.n += 1
        os.rename(self.p(name), self.p(new))
        self.names.append(new)
        self.record(op="rename", path=name, to=new)

    def op_delete(self, name):
        self.n += 1
        trash = self.p(".del-%s-%d" % (self.dev, self.n))
        os.rename(self.p(name), trash)
        fd = os.open(trash, os.O_RDONLY)
        try:
            os.unlink(trash)
            seen = read_all(fd)
            ino = os.fstat(fd).st_ino
        finally:
            os.close(fd)
        lines = [l for l in seen.decode(errors="replace").split("\n") if l]
        self.record(op="delete", path=name, seen=lines, ino=ino)

    def step(self):
        name = self.rng.choice(self.names)
        r = self.rng.random()
        if r < 0.35:
            op = self.op_append
        elif r < 0.6:
            op = self.op_rewrite
        elif r < 0.85:
            op = self.op_replace
        elif r < 0.92:
            op = self.op_rename
        else:
            op = self.op_delete
        try:
            op(name)
        except FileNotFoundError:
            pass  # renamed or deleted meanwhile (here or by another device)
        except OSError as e:
            self.record(op="err", what=op.__name__, path=name, errno=e.errno, msg=str(e))

    def run(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.step()
            time.sleep(self.rng.uniform(0.02, 0.25))
        self.log.close()


def walk(root):
    """{relpath: (type, size, sha256)}; unreadable files are left out (see check)."""
    tree = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED)
        rel = os.path.relpath(dirpath, root)
        if rel != ".":
            tree[rel] = ("dir", 0, "")
        for f in sorted(filenames):
            p = os.path.join(dirpath, f)
            r = os.path.relpath(p, root)
            if os.path.islink(p):
                tree[r] = ("link", 0, os.readlink(p))
                continue
            try:
                data = read_path(p)
            except OSError:
                continue
            tree[r] = ("file", len(data), hashlib.sha256(data).hexdigest())
    return tree


def check(args):
    fails = 0

    def report(good, what, detail=()):
        nonlocal fails
        print("%s %s" % ("ok" if good else "FAIL", what))
        for d in list(detail)[:20]:
            print("    " + d)
        if not good:
            fails += 1

    trees = [walk(t) for t in args.tree]
    # Readability: walk again and keep the errors.
    for t in args.tree:
        unreadable = []
        for dirpath, dirnames, filenames in os.walk(t):
            dirnames[:] = [d for d in dirnames if d not in IGNORED]
            for f in filenames:
                p = os.path.join(dirpath, f)
                if os.path.islink(p):
                    continue
                try:
                    read_path(p)
                except OSError as e:
                    unreadable.append("%s: %s" % (os.path.relpath(p, t), e))
        report(not unreadable, "every file under %s is readable" % t, unreadable)
    for i in range(1, len(trees)):
        a, b = trees[0], trees[i]
        diff = []
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                diff.append("%s: %s vs %s" % (k, a.get(k), b.get(k)))
        report(not diff, "%s and %s hold the same tree (%d entries)" % (args.tree[0], args.tree[i], len(a)), diff)

    acked, seen, errs = {}, set(), 0
    for lf in args.log:
        with open(lf) as fh:
            for raw in fh:
                e = json.loads(raw)
                if e["op"] in ("append", "rewrite", "replace"):
                    acked[e["line"]] = e
                elif e["op"] == "delete":
                    seen.update(e["seen"])
                elif e["op"] == "err":
                    errs += 1
    present = set()
    for dirpath, dirnames, filenames in os.walk(args.tree[0]):
        dirnames[:] = [d for d in dirnames if d not in IGNORED]
        for f in filenames:
            p = os.path.join(dirpath, f)
            if os.path.islink(p):
                continue
            try:
                present.update(l for l in read_path(p).decode(errors="replace").split("\n") if l)
            except OSError:
                pass
    lost = [l for l in acked if l not in present and l not in seen]
    lost.sort(key=lambda l: acked[l]["t"])
    print("# %d acknowledged writes, %d lines seen by deletes, %d failed ops, %d lines present"
          % (len(acked), len(seen), errs, len(present)))
    report(not lost, "every acknowledged write survives in some file (%d lost)" % len(lost),
           ["%s %s %s at %s" % (l, acked[l]["op"], acked[l]["path"], acked[l]["t"]) for l in lost])
    return 1 if fails else 0


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--dir", required=True)
    r.add_argument("--dev", required=True)
    r.add_argument("--seconds", type=float, required=True)
    r.add_argument("--seed", type=int, required=True)
    r.add_argument("--log", required=True)
    r.add_argument("--files", type=int, default=6)
    c = sub.add_parser("check")
    c.add_argument("--log", nargs="+", required=True)
    c.add_argument("--tree", nargs="+", required=True)
    args = ap.parse_args()
    if args.cmd == "run":
        Worker(args).run(args.seconds)
        return 0
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
