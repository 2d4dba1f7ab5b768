#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""s3proxy.py: a counting, fault-injecting HTTP/1.1 reverse proxy for tests.

    s3proxy.py --listen PORT --upstream HOST:PORT [--port-file F] [--log F]

Listens on 127.0.0.1:PORT (0: a free port, written to --port-file) and
forwards every request to HOST:PORT byte for byte: the request line and the
headers exactly as the client sent them (the Host header included: SigV4
signs it, so it must reach the server as signed), the body streamed as it
arrives (Content-Length or chunked, chunk framing forwarded verbatim).  The
response comes back the same way.  Client and upstream connections are kept
alive; each client connection has its own upstream connection, so requests
on one connection never interleave.  "Expect: 100-continue" is honoured: the
body is sent upstream only after the server's interim 100 (forwarded to the
client) or 1 s of silence, as curl itself does.

Control endpoints, answered by the proxy and never forwarded or faulted:

    GET  /__proxy/stats   {"requests": N, "by_method": {"PUT": n, ...},
                           "bytes_up": request-body bytes forwarded,
                           "bytes_down": response-body bytes forwarded,
                           "faults": {"errors": n, "drops": n, "delays": n,
                                      "denied": n},
                           "inflight_max": most requests in progress at once,
                           "open_connections": n}
    POST /__proxy/reset   zeroes the counters
    POST /__proxy/faults?error_rate=R&drop_rate=R&delay_ms=MS&seed=S&deny=TEXT
                          fault injection for every later request: with
                          probability error_rate answer 503 SlowDown or 500
                          InternalError (S3 XML) without forwarding; with
                          probability drop_rate close the client connection
                          abruptly (RST), before forwarding or in the middle
                          of the response (the request then did reach the
                          server); sleep delay_ms before forwarding;
                          answer 403 AccessDenied, without forwarding, to
                          every request whose target (path?query) contains
                          TEXT (e.g. "partNumber=3&").  No parameters:
                          faults off.

"requests" counts every non-control request received, faulted or not;
by_method likewise.  With --log, one line per request when it arrives
("TIME METHOD TARGET fault=F") and one when its answer starts ("TIME done
METHOD TARGET STATUS"; not for faulted requests).  Python 3 standard
library only.
"""

import argparse
import json
import os
import random
import select
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse

MAX_HEAD = 64 * 1024
BUF = 256 * 1024


class Drop(Exception):
    """Abort the client connection (and the upstream one) at once."""


class Closed(Exception):
    """The peer closed the connection where a new message could start."""


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.rng = random.Random()
        self.error_rate = 0.0
        self.drop_rate = 0.0
        self.delay_ms = 0
        self.deny = ""
        self.open = 0
        self.inflight = 0
        self.reset()

    def reset(self):
        self.requests = 0
        self.by_method = {}
        self.bytes_up = 0
        self.bytes_down = 0
        self.f_errors = 0
        self.f_drops = 0
        self.f_delays = 0
        self.f_denied = 0
        self.inflight_max = self.inflight

    def stats(self):
        with self.lock:
            return {
                "requests": self.requests,
                "by_method": dict(self.by_method),
                "bytes_up": self.bytes_up,
                "bytes_down": self.bytes_down,
                "faults": {"errors": self.f_errors, "drops": self.f_drops, "delays": self.f_delays,
                           "denied": self.f_denied},
                "fault_config": {
                    "error_rate": self.error_rate,
                    "drop_rate": self.drop_rate,
                    "delay_ms": self.delay_ms,
                    "deny": self.deny,
                },
                "inflight_max": self.inflight_max,
                "open_connections": self.open,
            }

    def add(self, name, n):
        with self.lock:
            setattr(self, name, getattr(self, name) + n)

    def begin(self):
        with self.lock:
            self.inflight += 1
            self.inflight_max = max(self.inflight_max, self.inflight)

    def decide(self, target):
        """One draw per request: ('deny'|'error'|'drop-before'|'drop-mid'|None, delay_s)."""
        with self.lock:
            if self.deny and self.deny in target:
                self.f_denied += 1
                return "deny", 0
            fault = None
            r = self.rng.random()
            if r < self.error_rate:
                fault = "error"
                self.f_errors += 1
            elif r < self.error_rate + self.drop_rate:
                fault = "drop-before" if self.rng.random() < 0.5 else "drop-mid"
                self.f_drops += 1
            delay = self.delay_ms / 1000.0
            if delay > 0 and fault != "error":
                self.f_delays += 1
            return fault, delay


STATE = State()
LOG = None


def log(msg):
    if LOG is not None:
        LOG.write("%.3f %s\n" % (time.time(), msg))
        LOG.flush()


def read_head(f, first):
    """Reads a message head (start line + headers) from the buffered file f.

    Returns (start_line, [(name, value)], raw_bytes).  Raises Closed on EOF
    before the first byte when first is true, ValueError on garbage.
    """
    raw = bytearray()
    lines = []
    while True:
        line = f.readline(MAX_HEAD + 1)
        if not line:
            if first and not raw:
                raise Closed()
            raise ValueError("connection closed inside a message head")
        if not raw and first and line in (b"\r\n", b"\n"):
            continue  # tolerated empty line between messages (RFC 9112 2.2)
        raw += line
        if len(raw) > MAX_HEAD:
            raise ValueError("message head too large")
        if line in (b"\r\n", b"\n"):
            break
        lines.append(line.rstrip(b"\r\n"))
    if not lines:
        raise ValueError("empty message head")
    start = lines[0].decode("latin-1")
    headers = []
    for h in lines[1:]:
        if h[:1] in (b" ", b"\t"):
            raise ValueError("obsolete header line folding")
        name, sep, value = h.partition(b":")
        if not sep:
            raise ValueError("header line without a colon")
        headers.append((name.decode("latin-1").strip(), value.decode("latin-1").strip()))
    return start, headers, bytes(raw)


def hget(headers, name):
    name = name.lower()
    vals = [v for n, v in headers if n.lower() == name]
    return ", ".join(vals) if vals else None


def has_token(headers, name, token):
    v = hget(headers, name)
    return v is not None and token in [t.strip().lower() for t in v.split(",")]


def body_framing(headers):
    """('chunked', None) | ('length', n) | ('none', 0) for a request."""
    if has_token(headers, "transfer-encoding", "chunked"):
        return "chunked", None
    cl = hget(headers, "content-length")
    if cl is not None:
        if "," in cl or not cl.strip().isdigit():
            raise ValueError("bad Content-Length")
        return "length", int(cl)
    return "none", 0


def copy_body(src, write, kind, n, counter, cut=None):
    """Copies one body from the file src through write().

    kind is 'chunked' (framing copied verbatim, payload counted), 'length'
    (n bytes) or 'close' (until EOF).  counter names the State field that
    counts payload bytes.  cut: stop (raise Drop) after about that many
    payload bytes have been written.
    """
    done = 0

    def out(b, payload):
        nonlocal done
        if cut is not None and done + payload >= cut and payload > 0:
            k = max(0, cut - done)
            write(b[:k])
            raise Drop()
        write(b)
        done += payload
        if payload and counter:
            STATE.add(counter, payload)

    if kind == "length":
        left = n
        while left > 0:
            b = src.read1(min(BUF, left)) if hasattr(src, "read1") else src.read(min(BUF, left))
            if not b:
                raise ValueError("connection closed inside a body")
            left -= len(b)
            out(b, len(b))
    elif kind == "close":
        while True:
            b = src.read1(BUF)
            if not b:
                break
            out(b, len(b))
    elif kind == "chunked":
        while True:
            line = src.readline(4096)
            if not line.endswith(b"\n"):
                raise ValueError("bad chunk size line")
            size = int(line.split(b";", 1)[0].strip() or b"x", 16)
            out(line, 0)
            if size == 0:
                while True:  # trailers up to the empty line
                    t = src.readline(MAX_HEAD)
                    if not t:
                        raise ValueError("connection closed in the trailers")
                    out(t, 0)
                    if t in (b"\r\n", b"\n"):
                        return
            left = size
            while left > 0:
                b = src.read1(min(BUF, left))
                if not b:
                    raise ValueError("connection closed inside a chunk")
                left -= len(b)
                out(b, len(b))
            crlf = src.readline(4)
            if crlf not in (b"\r\n", b"\n"):
                raise ValueError("missing CRLF after a chunk")
            out(crlf, 0)


def abort(sock):
    """Closes sock with a TCP RST (no orderly FIN)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class Upstream:
    """One kept-alive connection to the server."""

    def __init__(self, addr):
        self.addr = addr
        self.sock = None
        self.f = None

    def ensure(self):
        if self.sock is not None:
            # An idle kept-alive connection the server has closed reads EOF.
            r, _, _ = select.select([self.sock], [], [], 0)
            if r:
                self.close()
        if self.sock is None:
            self.sock = socket.create_connection(self.addr, timeout=120)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.f = self.sock.makefile("rb", buffering=BUF)

    def close(self):
        if self.sock is not None:
            try:
                self.f.close()
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.f = None


def error_response(code):
    if code == 403:
        reason, s3code, msg = "Forbidden", "AccessDenied", "Access Denied (s3proxy deny rule)"
    elif code == 503:
        reason, s3code, msg = "Slow Down", "SlowDown", "Please reduce your request rate."
    else:
        reason, s3code, msg = "Internal Server Error", "InternalError", "We encountered an internal error. Please try again."
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
            "<RequestId>s3proxy-fault</RequestId></Error>" % (s3code, msg)).encode()
    head = ("HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n"
            "x-s3proxy-fault: error\r\n" % (code, reason, len(body)))
    return head, body


class Handler(socketserver.BaseRequestHandler):
    def setup(self):
        self.sock = self.request
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(300)
        self.cf = self.sock.makefile("rb", buffering=BUF)
        self.up = Upstream(self.server.upstream)
        STATE.add("open", 1)

    def finish(self):
        STATE.add("open", -1)
        self.up.close()
        try:
            self.cf.close()
        except OSError:
            pass

    def handle(self):
        try:
            while self.one():
                pass
        except Closed:
            pass
        except Drop:
            self.up.close()
            abort(self.sock)
        except (OSError, ValueError) as e:
            log("connection error: %r" % (e,))
            self.up.close()
            abort(self.sock)

    # -------------------------------------------------------------- control
    def reply(self, code, obj, keep):
        body = (json.dumps(obj, sort_keys=True) + "\n").encode()
        head = "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n" % (
            code, "OK" if code == 200 else "Error", len(body), "" if keep else "Connection: close\r\n")
        self.sock.sendall(head.encode() + body)
        return keep

    def control(self, method, target, headers, keep):
        kind, n = body_framing(headers)
        if kind != "none":
            copy_body(self.cf, lambda b: None, kind, n, None)
        u = urllib.parse.urlsplit(target)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        if u.path == "/__proxy/stats" and method == "GET":
            return self.reply(200, STATE.stats(), keep)
        if u.path == "/__proxy/reset" and method == "POST":
            with STATE.lock:
                STATE.reset()
            return self.reply(200, STATE.stats(), keep)
        if u.path == "/__proxy/faults" and method == "POST":
            try:
                er = float(q.get("error_rate", ["0"])[0])
                dr = float(q.get("drop_rate", ["0"])[0])
                dl = int(q.get("delay_ms", ["0"])[0])
                deny = q.get("deny", [""])[0]
                seed = q.get("seed", [None])[0]
                if not (0 <= er <= 1 and 0 <= dr <= 1 and er + dr <= 1 and 0 <= dl <= 60000):
                    raise ValueError("out of range")
            except ValueError as e:
                return self.reply(400, {"error": "bad fault parameters: %s" % e}, keep)
            with STATE.lock:
                STATE.error_rate, STATE.drop_rate, STATE.delay_ms = er, dr, dl
                STATE.deny = deny
                if seed is not None:
                    STATE.rng.seed(int(seed))
            log("faults: error_rate=%s drop_rate=%s delay_ms=%s seed=%s deny=%r" % (er, dr, dl, seed, deny))
            return self.reply(200, STATE.stats()["fault_config"], keep)
        return self.reply(404, {"error": "unknown control endpoint %s %s" % (method, u.path)}, keep)

    # -------------------------------------------------------------- one request
    def one(self):
        start, headers, raw = read_head(self.cf, True)
        parts = start.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise ValueError("bad request line")
        method, target, version = parts
        keep = not has_token(headers, "connection", "close") and version == "HTTP/1.1"
        if version == "HTTP/1.0":
            keep = has_token(headers, "connection", "keep-alive")
        if target.startswith("/__proxy/"):
            return self.control(method, target, headers, keep)

        with STATE.lock:
            STATE.requests += 1
            STATE.by_method[method] = STATE.by_method.get(method, 0) + 1
        STATE.begin()
        try:
            return self.forward(method, target, headers, raw, keep)
        finally:
            STATE.add("inflight", -1)

    def forward(self, method, target, headers, raw, keep):
        fault, delay = STATE.decide(target)
        kind, n = body_framing(headers)
        expect = has_token(headers, "expect", "100-continue")
        log("%s %s fault=%s" % (method, target, fault))

        if fault == "drop-before":
            raise Drop()
        if fault in ("error", "deny"):
            h, b = error_response(403 if fault == "deny" else 503 if STATE.rng.random() < 0.5 else 500)
            if expect or kind == "none":
                # Answer at once; with Expect the client has not sent the
                # body: close so that it never does on this connection.
                close = expect and kind != "none"
                self.sock.sendall((h + ("Connection: close\r\n" if close or not keep else "") + "\r\n").encode() + b)
                return keep and not close
            copy_body(self.cf, lambda x: None, kind, n, None)
            self.sock.sendall((h + ("" if keep else "Connection: close\r\n") + "\r\n").encode() + b)
            return keep
        if delay > 0:
            time.sleep(delay)

        self.up.ensure()
        us = self.up.sock
        us.sendall(raw)
        interim_done = False
        if expect and kind != "none":
            # Wait (<= 1 s) for the server's verdict before sending the body.
            r, _, _ = select.select([us], [], [], 1.0)
            if r:
                st, rh, rraw = read_head(self.up.f, False)
                code = int(st.split(" ")[1])
                if code == 100:
                    self.sock.sendall(rraw)
                    interim_done = True
                else:
                    # A final answer before the body: pass it on, close both.
                    return self.response(method, target, st, rh, rraw, fault, False, sent_body=False)
        if kind != "none":
            copy_body(self.cf, us.sendall, kind, n, "bytes_up")
        while True:
            st, rh, rraw = read_head(self.up.f, False)
            code = int(st.split(" ")[1])
            if 100 <= code < 200 and code != 101:
                if not (code == 100 and interim_done):
                    self.sock.sendall(rraw)
                continue
            break
        return self.response(method, target, st, rh, rraw, fault, keep, sent_body=True)

    def response(self, method, target, st, rh, rraw, fault, keep, sent_body):
        code = int(st.split(" ")[1])
        log("done %s %s %d" % (method, target, code))
        if method == "HEAD" or code in (204, 304):
            rkind, rn = "length", 0
        elif has_token(rh, "transfer-encoding", "chunked"):
            rkind, rn = "chunked", None
        elif hget(rh, "content-length") is not None:
            rkind, rn = "length", int(hget(rh, "content-length"))
        else:
            rkind, rn = "close", None
        up_keep = not has_token(rh, "connection", "close") and rkind != "close" and st.startswith("HTTP/1.1")
        if fault == "drop-mid":
            # The request reached the server; the client sees its answer cut.
            if rkind == "length" and rn == 0:
                self.sock.sendall(rraw[: len(rraw) // 2])
                raise Drop()
            self.sock.sendall(rraw)
            cut = (rn // 2) if rkind == "length" else 1
            copy_body(self.up.f, self.sock.sendall, rkind, rn, "bytes_down", cut=cut)
            raise Drop()
        self.sock.sendall(rraw)
        copy_body(self.up.f, self.sock.sendall, rkind, rn, "bytes_down")
        if not up_keep or not sent_body:
            self.up.close()
        if not sent_body or rkind == "close":
            return False  # a close-delimited body ends only when we close
        return keep and not has_token(rh, "connection", "close")


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    global LOG
    ap = argparse.ArgumentParser(description="counting, fault-injecting HTTP/1.1 reverse proxy")
    ap.add_argument("--listen", type=int, required=True, help="port on 127.0.0.1 (0: any free port)")
    ap.add_argument("--upstream", required=True, help="HOST:PORT of the server")
    ap.add_argument("--port-file", help="write the listening port here (atomically)")
    ap.add_argument("--log", help="append one line per request to this file")
    a = ap.parse_args()
    host, _, port = a.upstream.rpartition(":")
    if not host or not port.isdigit():
        ap.error("--upstream must be HOST:PORT")
    if a.log:
        LOG = open(a.log, "a")
    srv = Server(("127.0.0.1", a.listen), Handler)
    srv.upstream = (host, int(port))
    p = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % p)
        os.rename(tmp, a.port_file)
    print("s3proxy: listening on 127.0.0.1:%d, upstream %s" % (p, a.upstream), file=sys.stderr)
    try:
        srv.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
