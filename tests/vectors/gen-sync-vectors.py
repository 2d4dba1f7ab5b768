#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Generates tests/vectors/sync.txt (doc/FORMAT-sync.md) from INDEPENDENT code.

Like gen-vectors.py (whose BLAKE2b/KDF/XChaCha20-Poly1305 helpers it reuses:
hashlib, python3-cryptography and HChaCha20 written out from its spec), it never
calls libsodium or sealsync.  tests/unit/test_sync_codec.c decodes every object
here, checks each field, opens the metadata, and re-encodes/re-signs to the
same bytes (Ed25519 is deterministic; the metadata nonce is fixed here, so the
C side checks the sealed metadata by opening it and re-encodes it as is).

Usage (from the repo root): python3 tests/vectors/gen-sync-vectors.py
List fields are text: items separated by ',', parts by ':', '-' for an empty
list; numbers decimal; everything else hex.
"""
import hashlib
import importlib.util
import os
import struct
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

_here = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("genvec", os.path.join(_here, "gen-vectors.py"))
gv = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gv)
det, kdf, xchacha_seal = gv.det, gv.kdf, gv.xchacha_seal

RAW = serialization.Encoding.Raw
RAWPUB = serialization.PublicFormat.Raw
OUT = "tests/vectors/sync.txt"


def u8(v):
    return struct.pack(">B", v)


def u32(v):
    return struct.pack(">I", v)


def u64(v):
    return struct.pack(">Q", v)


def var(b):
    return u32(len(b)) + b


def b2(b):
    return hashlib.blake2b(b, digest_size=32).digest()


def sign(seed, typ, body):
    k = Ed25519PrivateKey.from_private_bytes(seed)
    return k.sign(b"sealsync/v1/" + typ.encode() + b"\0" + body)


def pubkey(seed):
    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(RAW, RAWPUB)


def lst(items):
    return ",".join(items) if items else "-"


# ---- manifest -------------------------------------------------------------

def meta_plain(name, parent, mode, mtime_s, mtime_ns, target, xattrs):
    rec = var(name) + parent + u32(mode) + u64(mtime_s) + u32(mtime_ns) + var(target)
    rec += u32(len(xattrs))
    for xn, xv in xattrs:
        rec += var(xn) + var(xv)
    pad = (-len(rec)) % 256
    return rec + bytes(pad)


def manifest(lab, kind, lamport, nvv, nparents, block_size, size, present, name, target,
             xattrs, mode, mtime):
    seed = det(lab + "seed", 32)
    ek = det(lab + "epoch-key", 32)
    rid = det(lab + "region", 32)
    fid = det(lab + "file", 16)
    eid = det(lab + "epoch", 32)
    salt = det(lab + "salt", 32)
    parent = det(lab + "parent", 16)
    devs = sorted(det(lab + f"dev{i}", 16) for i in range(nvv))
    author = devs[-1]
    vv = [(d, 3 * i + 1) for i, d in enumerate(devs)]
    parents = sorted(det(lab + f"par{i}", 32) for i in range(nparents))
    nblocks = (size + block_size - 1) // block_size
    refs = [(i, det(lab + f"blk{i}", 32), 1 if i == nblocks - 1 else 0) for i in present]
    kfile = kdf(32, ek, "file", fid + salt)
    kc = kdf(32, kfile, "commit")
    kmeta = kdf(32, ek, "meta", fid)
    ad = b"sealsync/v1/manifest-meta\0" + rid + fid + u64(lamport)
    plain = meta_plain(name, parent, mode, mtime[0], mtime[1], target, xattrs)
    nonce = det(lab + "meta-nonce", 24)
    sealed = nonce + xchacha_seal(kmeta, nonce, plain, ad)

    body = u8(1) + rid + fid + u8(kind) + author + u64(lamport)
    body += u32(len(vv)) + b"".join(d + u64(c) for d, c in vv)
    body += u32(len(parents)) + b"".join(parents)
    body += eid + salt + kc + u32(block_size) + u64(size)
    body += u32(len(refs)) + b"".join(u64(i) + h + u8(f) for i, h, f in refs)
    body += var(sealed)
    obj = body + sign(seed, "manifest", body)
    rec = [("type", "manifest"), ("seed", seed), ("pk", pubkey(seed)), ("epoch_key", ek),
           ("region_id", rid), ("file_id", fid), ("kind", str(kind)), ("author", author),
           ("lamport", str(lamport)),
           ("vv", lst([f"{d.hex()}:{c}" for d, c in vv])),
           ("parents", lst([p.hex() for p in parents])),
           ("epoch_id", eid), ("salt", salt), ("block_size", str(block_size)),
           ("size", str(size)),
           ("refs", lst([f"{i}:{h.hex()}:{f}" for i, h, f in refs])),
           ("name", name), ("parent_id", parent), ("mode", str(mode)),
           ("mtime_s", str(mtime[0])), ("mtime_ns", str(mtime[1])), ("target", target),
           ("xattrs", lst([f"{n.hex()}:{v.hex() if v else ''}" for n, v in xattrs])),
           ("key_commit", kc), ("k_meta", kmeta), ("meta_ad", ad), ("meta_plain", plain),
           ("meta", sealed), ("object", obj), ("hash", b2(obj))]
    return rec, obj


# ---- pack -----------------------------------------------------------------

def pack(records, version=2):
    magic = b"SEALPAK2" if version == 2 else b"SEALPAK1"
    out = magic
    ents = []
    for kind, data in records:
        out += u8(kind) + u32(len(data))
        ents.append((kind, len(out), len(data), b2(data)))
        out += data
    trailer = b""
    for kind, off, ln, h in ents:
        trailer += u8(kind) + u64(off) + u32(ln) + h
    trailer += u32(len(ents))
    out += trailer
    return out, ents


def pack_name(p):
    """Version 2: the hash of the magic and the trailer; version 1: of every byte."""
    if p[:8] == b"SEALPAK1":
        return b2(p)
    n = struct.unpack(">I", p[-4:])[0]
    return b2(p[:8] + p[len(p) - (45 * n + 4):])


# ---- journal --------------------------------------------------------------

def journal(lab, seq, nseen, commits, packs):
    seed = det(lab + "seed", 32)
    rid = det(lab + "region", 32)
    dev = det(lab + "device", 16)
    prev = bytes(32) if seq == 1 else det(lab + "prev", 32)
    head = det(lab + "member-head", 32)
    time_ms = 1700000000123 + seq
    seen = sorted((det(lab + f"seen{i}", 16), 7 * i + 2, det(lab + f"seenh{i}", 32))
                  for i in range(nseen))
    commits = sorted(commits)
    packs = sorted(packs)
    body = u8(1) + rid + dev + u64(seq) + prev + head + u64(time_ms)
    body += u32(len(seen)) + b"".join(d + u64(s) + h for d, s, h in seen)
    body += u32(len(commits)) + b"".join(f + m + p + u64(o) + u32(n)
                                         for f, m, p, o, n in commits)
    body += u32(len(packs)) + b"".join(h + u64(s) for h, s in packs)
    obj = body + sign(seed, "journal", body)
    h = b2(obj)
    key = f"{rid.hex()}/journal/{dev.hex()}/{seq:016x}-{h.hex()}"
    return [("type", "journal"), ("seed", seed), ("pk", pubkey(seed)), ("region_id", rid),
            ("device_id", dev), ("seq", str(seq)), ("prev", prev), ("member_head", head),
            ("time_ms", str(time_ms)),
            ("seen", lst([f"{d.hex()}:{s}:{x.hex()}" for d, s, x in seen])),
            ("commits", lst([f"{f.hex()}:{m.hex()}:{p.hex()}:{o}:{n}"
                             for f, m, p, o, n in commits])),
            ("packs", lst([f"{x.hex()}:{s}" for x, s in packs])),
            ("object", obj), ("hash", h), ("key", key)]


def main():
    f = open(OUT, "w")
    f.write("# GENERATED by tests/vectors/gen-sync-vectors.py -- do not edit.\n")
    for line in __doc__.strip().splitlines()[:1] + [
            "Records by 'type': manifest (doc/FORMAT-sync.md \"Manifest\"), pack, journal.",
            "Lists: items ',' separated, parts ':' separated, '-' = empty; numbers decimal;",
            "all else hex.  seed is the Ed25519 seed of the signer (pk its public key).",
            "manifest: key_commit, k_meta, meta_ad, meta_plain are intermediate values;",
            "meta = nonce(24) || XChaCha20-Poly1305(k_meta, nonce, meta_ad, meta_plain).",
            "pack: version (2 built, 1 read only); records = kind:bytes items;",
            "entries = kind:off:len:hash (the trailer); hash = the pack's name.",
            "journal: key is the object key with the region id in hex."]:
        f.write("# " + line + "\n")

    def rec(items):
        f.write("\n")
        for k, v in items:
            if isinstance(v, (bytes, bytearray)):
                v = v.hex() if v else "-"
            f.write(f"{k} = {v}\n")

    # 1. A file of 4 blocks (last one partial) with a hole at index 1; two xattrs.
    m1, o1 = manifest("sync-m1-", 1, 9, 3, 1, 4096, 3 * 4096 + 100, [0, 2, 3], b"report.txt",
                      b"", [(b"user.a", b"1"), (b"user.mime_type", b"text/plain")], 0o644,
                      (1700000000, 123456789))
    # 2. A file whose last block is a hole (no ref is final); no parents; one device.
    m2, o2 = manifest("sync-m2-", 1, 1, 1, 0, 65536, 200000, [0], b"sparse.bin", b"", [],
                      0o600, (1, 0))
    # 3. A symlink with a name long enough to need two padding units; two parents.
    m3, o3 = manifest("sync-m3-", 3, 42, 2, 2, 65536, 0, [], b"l" * 250, b"../target/file",
                      [], 0o777, (0, 999999999))
    # 4. A directory, and 5. a tombstone (the name it had; an empty xattr value).
    m4, o4 = manifest("sync-m4-", 2, 5, 2, 1, 1 << 20, 0, [], b"photos", b"", [], 0o755,
                      (1600000000, 5))
    m5, o5 = manifest("sync-m5-", 4, 77, 4, 2, 4096, 0, [], b"gone.doc", b"",
                      [(b"user.empty", b"")], 0, (1600000001, 0))
    for m in (m1, m2, m3, m4, m5):
        rec(m)

    blocks = [det("sync-pack-block0", 40), det("sync-pack-block1", 4096 + 40)]
    p1, e1 = pack([(1, blocks[0]), (2, o1), (1, blocks[1])])
    p2, e2 = pack([(2, o2), (2, o3)])
    p3, e3 = pack([(1, det("sync-pack-block2", 100))])
    p1v1, e1v1 = pack([(1, blocks[0]), (2, o1), (1, blocks[1])], version=1)
    for v, p, e, recs in ((2, p1, e1, [(1, blocks[0]), (2, o1), (1, blocks[1])]),
                          (2, p2, e2, [(2, o2), (2, o3)]),
                          (2, p3, e3, [(1, det("sync-pack-block2", 100))]),
                          (1, p1v1, e1v1, [(1, blocks[0]), (2, o1), (1, blocks[1])])):
        rec([("type", "pack"), ("version", str(v)),
             ("records", lst([f"{k}:{d.hex()}" for k, d in recs])),
             ("entries", lst([f"{k}:{o}:{n}:{h.hex()}" for k, o, n, h in e])),
             ("object", p), ("hash", pack_name(p))])

    fid = lambda lab: det(lab + "file", 16)
    # Journal 1: seq 1, nothing seen, one commit in one pack.
    rec(journal("sync-j1-", 1, 0,
                [(fid("sync-m1-"), b2(o1), pack_name(p1), e1[1][1], e1[1][2])],
                [(pack_name(p1), len(p1))]))
    # Journal 2: seq 5, three devices seen, two commits in pack 2, packs 2 and 3.
    rec(journal("sync-j2-", 5, 3,
                [(fid("sync-m2-"), b2(o2), pack_name(p2), e2[0][1], e2[0][2]),
                 (fid("sync-m3-"), b2(o3), pack_name(p2), e2[1][1], e2[1][2])],
                [(pack_name(p2), len(p2)), (pack_name(p3), len(p3))]))
    # Journal 3: a seen-only entry (acknowledgement), no commits or packs.
    rec(journal("sync-j3-", 2, 1, [], []))
    f.close()
    print("ok", file=sys.stderr)


if __name__ == "__main__":
    main()
