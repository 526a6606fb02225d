#!/usr/bin/env python3
"""faultproxy.py - an HTTP/1.1 reverse proxy that injects faults into S3
traffic, for tests.

    faultproxy.py --upstream http://127.0.0.1:PORT [--port N] [--port-file F]
                  [--fault RULE]... [--rules-file F] [--verbose]

Listens on 127.0.0.1 (port 0, the default: the kernel picks; the port is
printed on stdout and written to --port-file atomically) and forwards every
request to the upstream (default: $PLUMB_TEST_S3_ENDPOINT; only a loopback
address is accepted).  Python standard library only.

Forwarding is byte-faithful: the request line and header block go upstream
exactly as the client sent them (Host included: a SigV4 client signs for the
proxy's host:port and radosgw checks the signature against the Host it
receives), then the body (Content-Length or chunked framing, relayed as is).
`Expect: 100-continue` is kept (it may be signed) and honoured: the proxy
relays the upstream's 100 Continue before relaying the body, or the
upstream's early final answer (then the body is not relayed and both
connections are closed).  The
response comes back the same way.  A client connection keeps one upstream
connection while both sides keep alive.

Requests are classified as S3 operations (kind): CreateMultipartUpload,
UploadPart, CompleteMultipartUpload, AbortMultipartUpload, ListParts,
ListMultipartUploads, PutObject, GetObject, HeadObject, DeleteObject,
CreateBucket, DeleteBucket, HeadBucket, ListObjects, ListBuckets, Other.

A fault rule is a JSON object (or, on the command line, key=value pairs
separated by commas):
    kind      the kind it applies to (default UploadPart; "*": every kind)
    nth       the first matching request it hits, counting from 1 (default 1)
    times     how many matching requests in a row it hits (default 1;
              0 = every one from nth on: a permanent failure)
    action    error | drop | stall
      error:  answer `status` (default 500) with an S3 XML error body,
              <Code> `code` (default InternalError; SlowDown for 503), without
              forwarding the request.  The request body is read first, unless
              "early": true (answer at once and close the connection).
      drop:   forward the request and `after` bytes of its body (default: half
              the Content-Length, or 64 KiB of a chunked body), then close both
              connections without an answer ("rst": true: with a TCP reset)
      stall:  forward normally but pause `seconds` (default 10): after `after`
              bytes of the body (default half; "where": "body"), before
              forwarding anything ("where": "request"), or before relaying the
              response ("where": "response")
Examples:
    --fault kind=UploadPart,nth=2,action=error
    --fault 'kind=UploadPart,nth=1,times=0,action=error,status=503'
    --fault '{"kind": "UploadPart", "nth": 3, "action": "drop"}'

Rules are checked in order; the first rule that hits a request wins, and each
rule counts the requests of its kind from when it was installed.

Control endpoints (paths starting /__ are never forwarded):
    GET    /__stats    {"kinds": {KIND: {"seen", "forwarded", "faulted",
                        "status": {code: n}, "bytes_up"}}, "requests", "faults":
                        [the faults injected, in order]}
    DELETE /__stats    reset the counters
    GET    /__fault    the rules, each with "matched" and "hits" counters
    POST   /__fault    replace the rules with the JSON body (an object or a
                       list); PUT does the same
    DELETE /__fault    remove all rules
--rules-file F: a JSON rule or list of rules, read at start (after the
--fault rules) and re-read whenever its mtime changes: then its rules
replace all the rules, counters starting from zero.
"""

import argparse
import json
import os
import select
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.parse
import xml.sax.saxutils

BLOCK = 1 << 20
UP_TIMEOUT = 600     # seconds without a byte from the upstream
EXPECT_WAIT = 5      # seconds to wait for the upstream's 100 Continue
MAX_HEAD = 256 * 1024
KINDS = ["CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
         "AbortMultipartUpload", "ListParts", "ListMultipartUploads", "PutObject",
         "GetObject", "HeadObject", "DeleteObject", "CreateBucket", "DeleteBucket",
         "HeadBucket", "ListObjects", "ListBuckets", "Other"]


class Gone(Exception):
    """A peer closed its connection."""


class Bad(Exception):
    """Unparseable HTTP from the client."""


def classify(method, target):
    """The S3 operation of a path-style request."""
    u = urllib.parse.urlsplit(target)
    q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
    parts = [p for p in u.path.split("/") if p]
    has_key = len(parts) >= 2
    if not parts:
        return "ListBuckets" if method == "GET" else "Other"
    if has_key:
        if method == "POST" and "uploads" in q:
            return "CreateMultipartUpload"
        if method == "PUT" and "partNumber" in q and "uploadId" in q:
            return "UploadPart"
        if method == "POST" and "uploadId" in q:
            return "CompleteMultipartUpload"
        if method == "DELETE" and "uploadId" in q:
            return "AbortMultipartUpload"
        if method == "GET" and "uploadId" in q:
            return "ListParts"
        return {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject",
                "DELETE": "DeleteObject"}.get(method, "Other")
    if method == "GET" and "uploads" in q:
        return "ListMultipartUploads"
    return {"PUT": "CreateBucket", "DELETE": "DeleteBucket", "HEAD": "HeadBucket",
            "GET": "ListObjects"}.get(method, "Other")


# ---------------------------------------------------------------- rules

def parse_rule(text):
    text = text.strip()
    if text.startswith("{") or text.startswith("["):
        return json.loads(text)
    rule = {}
    for item in text.split(","):
        if not item.strip():
            continue
        k, sep, v = item.partition("=")
        if not sep:
            raise ValueError(f"not key=value: {item!r}")
        k, v = k.strip(), v.strip()
        if v.lower() in ("true", "false"):
            v = v.lower() == "true"
        else:
            try:
                v = int(v)
            except ValueError:
                try:
                    v = float(v)
                except ValueError:
                    pass
        rule[k] = v
    return rule


def check_rule(r):
    if not isinstance(r, dict):
        raise ValueError("a rule is a JSON object")
    r = dict(r)
    r.setdefault("kind", "UploadPart")
    r.setdefault("nth", 1)
    r.setdefault("times", 1)
    r.setdefault("action", "error")
    if r["kind"] != "*" and r["kind"] not in KINDS:
        raise ValueError(f"unknown kind {r['kind']!r} (one of {', '.join(KINDS)}, *)")
    if r["action"] not in ("error", "drop", "stall"):
        raise ValueError(f"unknown action {r['action']!r} (error, drop, stall)")
    if not isinstance(r["nth"], int) or r["nth"] < 1:
        raise ValueError("nth counts from 1")
    if not isinstance(r["times"], int) or r["times"] < 0:
        raise ValueError("times is 0 (always) or more")
    if r["action"] == "error":
        r.setdefault("status", 500)
        r.setdefault("code", "SlowDown" if r["status"] == 503 else "InternalError")
    if r["action"] == "stall":
        r.setdefault("seconds", 10)
        r.setdefault("where", "body")
        if r["where"] not in ("body", "request", "response"):
            raise ValueError("where is body, request or response")
    r["matched"] = 0
    r["hits"] = 0
    return r


class State:
    def __init__(self, rules, rules_file, verbose):
        self.lock = threading.Lock()
        self.rules = [check_rule(r) for r in rules]
        self.rules_file = rules_file
        self.rules_mtime = None
        self.verbose = verbose
        self.reset_stats()
        if rules_file:
            # At start the file's rules come after the --fault ones; when
            # the file changes later, its rules replace all the rules.
            cli = self.rules
            self.reload()
            self.rules = cli + self.rules

    def reset_stats(self):
        self.kinds = {}
        self.faults = []
        self.requests = 0

    def say(self, msg):
        if self.verbose:
            sys.stderr.write(f"faultproxy: {msg}\n")

    def set_rules(self, rules):
        if isinstance(rules, dict):
            rules = [rules]
        checked = [check_rule(r) for r in rules]
        with self.lock:
            self.rules = checked

    def reload(self):
        if not self.rules_file:
            return
        try:
            m = os.stat(self.rules_file).st_mtime_ns
        except OSError:
            return
        if m == self.rules_mtime:
            return
        try:
            with open(self.rules_file) as f:
                text = f.read()
            rules = json.loads(text) if text.strip() else []
            self.set_rules(rules)
            self.rules_mtime = m
            self.say(f"rules from {self.rules_file}: {rules}")
        except (OSError, ValueError) as e:
            sys.stderr.write(f"faultproxy: ignoring {self.rules_file}: {e}\n")

    def kind_stats(self, kind):
        return self.kinds.setdefault(kind, {"seen": 0, "forwarded": 0, "faulted": 0,
                                            "status": {}, "bytes_up": 0})

    def match(self, kind, method, target):
        """Count the request; return the rule that hits it (a copy) or None."""
        self.reload()
        with self.lock:
            self.requests += 1
            self.kind_stats(kind)["seen"] += 1
            hit = None
            for r in self.rules:
                if r["kind"] not in ("*", kind):
                    continue
                r["matched"] += 1
                n = r["matched"]
                if hit is None and n >= r["nth"] and (r["times"] == 0 or n < r["nth"] + r["times"]):
                    r["hits"] += 1
                    hit = dict(r)
                    self.kind_stats(kind)["faulted"] += 1
                    self.faults.append({"kind": kind, "method": method, "target": target,
                                        "action": r["action"], "nth": n, "time": time.time()})
            return hit

    def forwarded(self, kind):
        with self.lock:
            self.kind_stats(kind)["forwarded"] += 1

    def bytes_up(self, kind, nbytes):
        with self.lock:
            self.kind_stats(kind)["bytes_up"] += nbytes

    def status(self, kind, code):
        with self.lock:
            st = self.kind_stats(kind)["status"]
            st[str(code)] = st.get(str(code), 0) + 1

    def stats(self):
        with self.lock:
            return {"requests": self.requests, "kinds": json.loads(json.dumps(self.kinds)),
                    "faults": list(self.faults)}

    def rules_info(self):
        with self.lock:
            return [dict(r) for r in self.rules]


# ---------------------------------------------------------------- HTTP bits

class Conn:
    """A socket with a read buffer."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def fill(self):
        b = self.sock.recv(BLOCK)
        if not b:
            raise Gone("closed")
        self.buf += b

    def read_head(self):
        """The bytes of a header block up to and including CRLF CRLF."""
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head = bytes(self.buf[:i + 4])
                del self.buf[:i + 4]
                return head
            if len(self.buf) > MAX_HEAD:
                raise Bad("header block over 256 KiB")
            try:
                self.fill()
            except Gone:
                if self.buf:
                    raise Gone("closed in the middle of a header block")
                raise

    def read_line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i + 2])
                del self.buf[:i + 2]
                return line
            if len(self.buf) > MAX_HEAD:
                raise Bad("line over 256 KiB")
            self.fill()

    def read_some(self, limit):
        """Up to limit bytes (at least 1)."""
        if not self.buf:
            self.fill()
        n = min(limit, len(self.buf))
        b = bytes(self.buf[:n])
        del self.buf[:n]
        return b


def parse_head(head):
    """(first line, {lower-case name: [values]}) of a header block."""
    lines = head[:-4].split(b"\r\n")
    hdrs = {}
    for ln in lines[1:]:
        k, sep, v = ln.partition(b":")
        if not sep:
            raise Bad(f"bad header line {ln[:60]!r}")
        hdrs.setdefault(k.strip().decode("latin-1").lower(), []).append(v.strip().decode("latin-1"))
    return lines[0].decode("latin-1"), hdrs


def body_framing(hdrs):
    """('chunked', None) | ('length', n) | ('none', 0)."""
    te = ",".join(hdrs.get("transfer-encoding", [])).lower()
    if te:
        if te.split(",")[-1].strip() != "chunked":
            raise Bad(f"unsupported Transfer-Encoding {te!r}")
        return "chunked", None
    if "content-length" in hdrs:
        vals = set(v.strip() for v in hdrs["content-length"])
        if len(vals) != 1 or not next(iter(vals)).isdigit():
            raise Bad(f"bad Content-Length {hdrs['content-length']!r}")
        return "length", int(vals.pop())
    return "none", 0


def relay_body(src, dst_send, framing, length, limit=None, pause=None):
    """Copy a body from Conn src to dst_send(bytes) as it is framed.
    limit: stop after that many body bytes (returns False).  pause: (bytes,
    seconds): sleep once after that many bytes.  Returns (done, bytes)."""
    n = 0
    paused = pause is None

    def room(want):
        w = want
        if limit is not None:
            w = min(w, limit - n)
        if not paused:
            w = min(w, max(pause[0] - n, 0) or w)
        return w

    def maybe_pause():
        nonlocal paused
        if not paused and n >= pause[0]:
            paused = True
            time.sleep(pause[1])

    def copy(count):
        nonlocal n
        while count > 0:
            maybe_pause()
            w = room(min(count, BLOCK))
            if w <= 0:
                return False
            b = src.read_some(w)
            dst_send(b)
            n += len(b)
            count -= len(b)
        maybe_pause()
        return True

    if framing == "length":
        return copy(length), n
    if framing == "chunked":
        while True:
            line = src.read_line()
            dst_send(line)
            size_text = line[:-2].split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise Bad(f"bad chunk size {size_text[:40]!r}")
            if size == 0:
                while True:  # trailers up to the empty line
                    t = src.read_line()
                    dst_send(t)
                    if t == b"\r\n":
                        return True, n
            if not copy(size):
                return False, n
            crlf = src.read_line()
            if crlf != b"\r\n":
                raise Bad("chunk data not followed by CRLF")
            dst_send(crlf)
    return True, 0


def s3_error(status, code, message, resource):
    esc = xml.sax.saxutils.escape
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{esc(str(code))}</Code><Message>{esc(message)}</Message>"
            f"<Resource>{esc(resource)}</Resource><RequestId>faultproxy</RequestId></Error>\n").encode()
    reason = {500: "Internal Server Error", 503: "Service Unavailable", 400: "Bad Request",
              403: "Forbidden", 404: "Not Found", 408: "Request Timeout"}.get(status, "Error")
    return body, reason


# ---------------------------------------------------------------- handler

class Handler(socketserver.BaseRequestHandler):
    state = None
    upstream = None  # (host, port)

    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client = Conn(self.request)
        self.up = None

    def finish(self):
        self.close_up()

    def close_up(self, rst=False):
        if self.up:
            try:
                if rst:
                    self.up.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.up.sock.close()
            except OSError:
                pass
            self.up = None

    def upstream_interim(self):
        """After sending a request with Expect: 100-continue upstream: None
        once the upstream said 100 Continue (or said nothing for
        EXPECT_WAIT seconds); else its final answer (head, first line,
        headers, status)."""
        self.up.sock.settimeout(EXPECT_WAIT)
        try:
            while True:
                try:
                    rhead = self.up.read_head()
                except socket.timeout:
                    return None
                rfirst, rhdrs = parse_head(rhead)
                try:
                    code = int(rfirst.split(" ", 2)[1])
                except (IndexError, ValueError):
                    raise Bad(f"bad status line from upstream {rfirst[:80]!r}")
                if code == 100:
                    return None
                if 100 < code < 200:
                    continue
                return rhead, rfirst, rhdrs, code
        finally:
            self.up.sock.settimeout(UP_TIMEOUT)

    def up_usable(self):
        """False if the upstream closed the kept connection (or sent
        something unasked)."""
        if self.up.buf:
            return False
        # Readable while idle: closed (EOF) or garbage, useless either way.
        r, _, _ = select.select([self.up.sock], [], [], 0)
        return not r

    def send_client(self, data):
        self.request.sendall(data)

    def handle(self):
        try:
            while self.one():
                pass
        except (Gone, ConnectionError, socket.timeout, OSError) as e:
            self.state.say(f"connection ends: {e}")
        except Bad as e:
            self.state.say(f"bad request: {e}")
            try:
                self.send_client(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass

    def answer(self, status, reason, body, ctype, close=False):
        head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\n" + ("Connection: close\r\n" if close else "") + "\r\n")
        self.send_client(head.encode() + body)

    def one(self):
        """Handle one request; False to close the connection."""
        try:
            head = self.client.read_head()
        except Gone:
            return False
        first, hdrs = parse_head(head)
        try:
            method, target, version = first.split(" ")
        except ValueError:
            raise Bad(f"bad request line {first[:80]!r}")
        framing, length = body_framing(hdrs)
        expect = any(v.lower() == "100-continue" for v in hdrs.get("expect", []))
        close = any("close" in v.lower() for v in hdrs.get("connection", [])) or version == "HTTP/1.0"

        if target.startswith("/__"):
            return self.control(method, target, framing, length, expect) and not close

        kind = classify(method, target)
        rule = self.state.match(kind, method, target)
        if rule:
            self.state.say(f"{kind} {method} {target}: fault {rule['action']} (match {rule['matched']})")

        if rule and rule["action"] == "error":
            if rule.get("early"):
                body, reason = s3_error(rule["status"], rule["code"], "injected by faultproxy", target)
                self.answer(rule["status"], reason, body, "application/xml", close=True)
                return False
            if expect:
                self.send_client(b"HTTP/1.1 100 Continue\r\n\r\n")
            relay_body(self.client, lambda b: None, framing, length)
            body, reason = s3_error(rule["status"], rule["code"], "injected by faultproxy", target)
            self.answer(rule["status"], reason, body, "application/xml", close=close)
            self.state.status(kind, rule["status"])
            return not close

        if rule and rule["action"] == "stall" and rule["where"] == "request":
            time.sleep(rule["seconds"])

        # Forward the header block as it came, on a new upstream connection
        # if the kept one was closed by the upstream meanwhile.
        if self.up is not None and not self.up_usable():
            self.close_up()
        if self.up is None:
            try:
                s = socket.create_connection(self.upstream, timeout=UP_TIMEOUT)
            except OSError as e:
                self.state.say(f"upstream {self.upstream}: {e}")
                self.state.status(kind, 502)
                self.answer(502, "Bad Gateway", f"faultproxy: upstream: {e}\n".encode(),
                            "text/plain", close=True)
                return False
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.up = Conn(s)
        self.up.sock.sendall(head)
        self.state.forwarded(kind)
        if expect:
            # Let the upstream decide, as the client asked: relay its
            # 100 Continue, or its early final answer (then the body is not
            # sent, and both connections are closed, since the client may
            # send the body anyway).
            early = self.upstream_interim()
            if early is not None:
                rhead, rfirst, rhdrs, code = early
                self.state.status(kind, code)
                self.send_client(rhead)
                if method != "HEAD" and code not in (204, 304):
                    rframing, rlength = body_framing(rhdrs)
                    if rframing != "none":
                        relay_body(self.up, self.send_client, rframing, rlength)
                self.close_up()
                return False
            self.send_client(b"HTTP/1.1 100 Continue\r\n\r\n")

        limit = pause = None
        default_after = (length // 2) if framing == "length" else 65536
        if rule and rule["action"] == "drop":
            limit = int(rule.get("after", default_after))
        if rule and rule["action"] == "stall" and rule["where"] == "body":
            pause = (int(rule.get("after", default_after)), rule["seconds"])
        done, nbytes = relay_body(self.client, self.up.sock.sendall, framing, length, limit, pause)
        self.state.bytes_up(kind, nbytes)
        if not done:
            # drop: close both sides without an answer.
            self.state.say(f"{kind}: dropped after {nbytes} body bytes")
            self.close_up(rst=bool(rule.get("rst")))
            if rule.get("rst"):
                self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False

        # The response: skip 1xx, relay the rest as framed.
        while True:
            rhead = self.up.read_head()
            rfirst, rhdrs = parse_head(rhead)
            try:
                code = int(rfirst.split(" ", 2)[1])
            except (IndexError, ValueError):
                raise Bad(f"bad status line from upstream {rfirst[:80]!r}")
            if 100 <= code < 200 and code != 101:
                continue
            break
        self.state.status(kind, code)
        if rule and rule["action"] == "stall" and rule["where"] == "response":
            time.sleep(rule["seconds"])
        self.send_client(rhead)
        up_close = any("close" in v.lower() for v in rhdrs.get("connection", [])) or \
            rfirst.startswith("HTTP/1.0")
        if method == "HEAD" or code in (204, 304):
            pass
        else:
            rframing, rlength = body_framing(rhdrs)
            if rframing == "none":
                # Delimited by the end of the connection.
                try:
                    while True:
                        self.send_client(self.up.read_some(BLOCK))
                except Gone:
                    pass
                up_close = True
            else:
                relay_body(self.up, self.send_client, rframing, rlength)
        if up_close:
            self.close_up()
            return False
        return not close

    def control(self, method, target, framing, length, expect):
        if expect:
            self.send_client(b"HTTP/1.1 100 Continue\r\n\r\n")
        chunks = []
        relay_body(self.client, chunks.append, framing, length)
        raw = b"".join(chunks)
        if framing == "chunked":  # de-chunk for the JSON parser
            raw = dechunk(raw)
        path = urllib.parse.urlsplit(target).path
        try:
            if path == "/__stats" and method == "GET":
                obj = self.state.stats()
            elif path == "/__stats" and method == "DELETE":
                with self.state.lock:
                    self.state.reset_stats()
                obj = {"ok": True}
            elif path == "/__fault" and method == "GET":
                obj = self.state.rules_info()
            elif path == "/__fault" and method in ("POST", "PUT"):
                self.state.set_rules(json.loads(raw.decode() or "[]"))
                obj = self.state.rules_info()
            elif path == "/__fault" and method == "DELETE":
                self.state.set_rules([])
                obj = []
            else:
                self.answer(404, "Not Found", b"faultproxy: no such control endpoint\n", "text/plain")
                return True
        except ValueError as e:
            self.answer(400, "Bad Request", f"faultproxy: {e}\n".encode(), "text/plain")
            return True
        self.answer(200, "OK", (json.dumps(obj, sort_keys=True) + "\n").encode(), "application/json")
        return True


def dechunk(raw):
    out = bytearray()
    i = 0
    while True:
        j = raw.index(b"\r\n", i)
        size = int(raw[i:j].split(b";")[0], 16)
        if size == 0:
            return bytes(out)
        out += raw[j + 2:j + 2 + size]
        i = j + 2 + size + 2


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    ap = argparse.ArgumentParser(description="fault-injecting HTTP/1.1 proxy for S3 tests (127.0.0.1 only)")
    ap.add_argument("--upstream", default=os.environ.get("PLUMB_TEST_S3_ENDPOINT"),
                    help="http://127.0.0.1:PORT of the S3 server (default: $PLUMB_TEST_S3_ENDPOINT)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--fault", action="append", default=[], metavar="RULE",
                    help="a rule: JSON or key=value,... (repeatable)")
    ap.add_argument("--rules-file", help="JSON rules, re-read when the file changes")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()
    if not a.upstream:
        ap.error("--upstream is needed (or PLUMB_TEST_S3_ENDPOINT)")
    u = urllib.parse.urlsplit(a.upstream)
    if u.scheme != "http" or u.hostname not in ("127.0.0.1", "localhost", "::1") or not u.port:
        ap.error("--upstream must be http://127.0.0.1:PORT")
    try:
        rules = []
        for f in a.fault:
            r = parse_rule(f)
            rules.extend(r if isinstance(r, list) else [r])
        Handler.state = State(rules, a.rules_file, a.verbose)
    except ValueError as e:
        ap.error(f"bad --fault: {e}")
    Handler.upstream = (u.hostname, u.port)
    srv = Server(("127.0.0.1", a.port), Handler)
    port = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.rename(tmp, a.port_file)
    print(port, flush=True)
    Handler.state.say(f"listening on 127.0.0.1:{port}, forwarding to {a.upstream}")
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
