#!/usr/bin/env python3
"""httpsink.py - an HTTP/1.1 server that swallows request bodies, for tests.

    httpsink.py [--port N] [--port-file F] [--save DIR] [--verbose]
                [--tls-cert PEM --tls-key PEM]

Listens on 127.0.0.1 (port 0, the default, lets the kernel pick one); prints
the port on stdout (one line) and, with --port-file, writes it to F (made
atomically: a reader sees the whole port or no file).  Runs until killed
(SIGTERM or SIGINT).  Python standard library only.

--tls-cert/--tls-key: speak HTTPS with that certificate (chain) and key
instead of plain HTTP (tests/services/tlscerts.sh makes a throwaway CA and
a certificate for 127.0.0.1).  The TLS handshake happens in the connection's
own thread; one that fails (the client does not trust the certificate, say)
is counted as "tls_failures" in the GET answer, with its reason in
"tls_last_failure", and no request is recorded.

POST and PUT: the body, sent with Content-Length or Transfer-Encoding:
chunked (chunk extensions and trailers are parsed and checked), is read in
large blocks and hashed as it arrives, never held in memory.  The answer is
200 with a JSON object:
    {"method", "path", "query", "bytes", "sha256", "chunked", "content_type",
     "headers": {lower-case name: value}, "trailers": {...}, "seq"}
`Expect: 100-continue` is answered with 100 Continue (except by /status with
early=1, below).  --save DIR keeps each body as DIR/SEQ.body and the JSON as
DIR/SEQ.json (SEQ counts requests from 1).

Knobs, chosen by the path (any method, query parameters optional):
  /status/NNN[?early=1][&retry_after=S]
        answer status NNN with a text body whose first line is
        "sink: forced status NNN"; the body is read first, unless early=1:
        then the answer goes out before the body is read (no 100 Continue)
        and the connection is closed.  retry_after adds Retry-After: S.
  /discard        read and count the body without hashing it; answer 200 with
                  {"bytes": N}
  /slow?ms=N[&rate=BYTES_PER_S][&reply_ms=M]
        wait N ms before reading the body, read at most rate bytes a second,
        wait M ms before answering; then as a plain POST/PUT
  /drop[?after=N][&rst=1]
        read N bytes of the body (default 65536; 0 = none) then close the
        connection without an answer (rst=1: with a TCP reset)
GET (any other path) answers JSON about the sink: {"requests": count,
"bytes": total body bytes, "tls_failures": N, "tls_last_failure": "...",
"last": [the last 100 summaries, newest last]};
an incomplete body (the client went away) shows as "complete": false.
"""

import argparse
import hashlib
import json
import os
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BLOCK = 1 << 20          # read size for bodies
MAX_LINE = 64 * 1024     # chunk-size and trailer lines
MAX_TRAILERS = 100


class BadBody(Exception):
    """The body breaks HTTP/1.1 framing: answer 400 and close."""


class ClientGone(Exception):
    """The client closed the connection before the end of the body."""


class Sink:
    def __init__(self, save_dir, verbose):
        self.save_dir = save_dir
        self.verbose = verbose
        self.lock = threading.Lock()
        self.seq = 0
        self.total = 0
        self.last = []
        self.tls_failures = 0
        self.tls_last_failure = ""

    def next_seq(self):
        with self.lock:
            self.seq += 1
            return self.seq

    def record(self, summary):
        with self.lock:
            self.total += summary.get("bytes", 0)
            self.last.append(summary)
            del self.last[:-100]

    def tls_failed(self, why):
        with self.lock:
            self.tls_failures += 1
            self.tls_last_failure = why

    def info(self):
        with self.lock:
            return {"server": "httpsink", "requests": self.seq, "bytes": self.total,
                    "tls_failures": self.tls_failures,
                    "tls_last_failure": self.tls_last_failure, "last": list(self.last)}


class TLSServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer that wraps each accepted connection in TLS in the
    connection's own thread, so that a client stuck in (or failing) its
    handshake never holds up the others."""
    tls = None  # an ssl.SSLContext, set in main()
    sink = None

    def finish_request(self, request, client_address):
        try:
            request.settimeout(30)
            conn = self.tls.wrap_socket(request, server_side=True)
            conn.settimeout(None)
        except (ssl.SSLError, OSError) as e:
            self.sink.tls_failed(f"{type(e).__name__}: {e}")
            return
        try:
            super().finish_request(conn, client_address)
        finally:
            try:
                conn.close()
            except OSError:
                pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "httpsink/1"
    rbufsize = BLOCK
    sink = None  # set in main()

    def version_string(self):
        return self.server_version

    # ------------------------------------------------------------ logging
    def log_message(self, fmt, *args):
        if self.sink.verbose:
            sys.stderr.write("httpsink: %s %s\n" % (self.address_string(), fmt % args))

    def say(self, msg):
        if self.sink.verbose:
            sys.stderr.write(f"httpsink: {msg}\n")

    # ------------------------------------------------------------ routing
    def split_path(self):
        u = urllib.parse.urlsplit(self.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        return u.path, q

    def knob(self):
        path, q = self.split_path()
        parts = path.strip("/").split("/")
        return parts[0] if parts else "", parts, q

    def handle_expect_100(self):
        kind, parts, q = self.knob()
        if kind == "status" and q.get("early") == "1":
            # Refuse before the body is sent: no 100 Continue.
            self.forced_status(parts, q, read_body=False)
            return False
        return super().handle_expect_100()

    def do_GET(self):
        self.send_json(200, self.sink.info())

    def do_HEAD(self):
        self.send_json(200, self.sink.info(), head=True)

    def do_POST(self):
        self.body_request()

    def do_PUT(self):
        self.body_request()

    do_PATCH = do_POST
    do_DELETE = do_POST

    # ------------------------------------------------------------ answers
    def send_json(self, status, obj, head=False, close=False):
        data = (json.dumps(obj, sort_keys=True) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if not head:
            self.wfile.write(data)

    def send_text(self, status, text, extra=(), close=False):
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def forced_status(self, parts, q, read_body=True):
        try:
            status = int(parts[1])
            if not 200 <= status <= 599:
                raise ValueError
        except (IndexError, ValueError):
            self.send_text(400, "sink: /status/NNN needs a status from 200 to 599\n", close=True)
            return
        summary = {"seq": self.sink.next_seq(), "method": self.command, "path": self.path,
                   "forced_status": status, "bytes": 0, "complete": False}
        if read_body:
            try:
                summary.update(self.read_body(hash_it=False))
                summary["complete"] = True
            except BadBody as e:
                self.sink.record(summary)
                self.send_text(400, f"sink: bad body: {e}\n", close=True)
                return
            except ClientGone:
                self.sink.record(summary)
                self.close_connection = True
                return
        self.sink.record(summary)
        extra = []
        if "retry_after" in q:
            extra.append(("Retry-After", q["retry_after"]))
        text = (f"sink: forced status {status}\n"
                f"{self.command} {self.path} answered {status} because the path asked for it\n")
        self.send_text(status, text, extra, close=not read_body)

    # ------------------------------------------------------------ bodies
    def body_request(self):
        kind, parts, q = self.knob()
        if kind == "status":
            self.forced_status(parts, q)
            return
        if kind == "drop":
            self.drop(q)
            return
        slow = kind == "slow"
        if slow:
            time.sleep(int(q.get("ms", "0")) / 1000.0)
        seq = self.sink.next_seq()
        path, query = self.split_path()
        summary = {"seq": seq, "method": self.command, "path": path, "query": query,
                   "content_type": self.headers.get("Content-Type"),
                   "headers": self.header_dict(), "complete": False, "bytes": 0}
        save = None
        if self.sink.save_dir and kind != "discard":
            save = open(os.path.join(self.sink.save_dir, f"{seq}.body"), "wb")
        try:
            try:
                rate = int(q["rate"]) if slow and "rate" in q else 0
                summary.update(self.read_body(hash_it=kind != "discard", save=save, rate=rate))
                summary["complete"] = True
            finally:
                if save:
                    save.close()
        except BadBody as e:
            self.say(f"request {seq}: bad body: {e}")
            summary["error"] = str(e)
            summary["bytes"] = self.progress["n"]
            self.sink.record(summary)
            self.send_text(400, f"sink: bad body: {e}\n", close=True)
            return
        except ClientGone as e:
            self.say(f"request {seq}: client went away: {e}")
            summary["error"] = str(e)
            summary["bytes"] = self.progress["n"]
            self.sink.record(summary)
            self.close_connection = True
            return
        self.sink.record(summary)
        if self.sink.save_dir:
            with open(os.path.join(self.sink.save_dir, f"{seq}.json"), "w") as f:
                json.dump(summary, f, sort_keys=True)
        if slow:
            time.sleep(int(q.get("reply_ms", "0")) / 1000.0)
        self.say(f"request {seq}: {self.command} {self.path}: {summary['bytes']} bytes"
                 f"{' chunked' if summary['chunked'] else ''}")
        if kind == "discard":
            self.send_json(200, {"bytes": summary["bytes"]})
        else:
            self.send_json(200, summary)

    def drop(self, q):
        after = int(q.get("after", "65536"))
        seq = self.sink.next_seq()
        summary = {"seq": seq, "method": self.command, "path": self.path, "dropped": True,
                   "complete": False, "bytes": 0}
        try:
            summary.update(self.read_body(hash_it=False, limit=after))
        except (BadBody, ClientGone):
            summary["bytes"] = self.progress["n"]
        summary["complete"] = False
        self.sink.record(summary)
        self.say(f"request {seq}: dropping the connection after {summary['bytes']} bytes")
        if q.get("rst") == "1":
            # SO_LINGER with a zero timeout: close() sends a reset.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.connection.close()

    def header_dict(self):
        d = {}
        for k, v in self.headers.items():
            k = k.lower()
            d[k] = d[k] + ", " + v if k in d else v
        return d

    def read_body(self, hash_it=True, save=None, rate=0, limit=None):
        """Read the request body; return {"bytes", "sha256", "chunked",
        "trailers"}.  limit: stop after that many bytes (for /drop)."""
        te = [t.strip().lower() for t in self.headers.get("Transfer-Encoding", "").split(",") if t.strip()]
        cl = self.headers.get_all("Content-Length") or []
        h = hashlib.sha256() if hash_it else None
        state = self.progress = {"n": 0, "t0": time.monotonic()}
        buf = bytearray(BLOCK)
        view = memoryview(buf)

        def take(count):
            """Read exactly count bytes of body data."""
            while count > 0:
                want = min(count, BLOCK)
                if limit is not None:
                    want = min(want, limit - state["n"])
                    if want <= 0:
                        return False
                got = self.rfile.readinto1(view[:want]) if hasattr(self.rfile, "readinto1") \
                    else self.rfile.readinto(view[:want])
                if not got:
                    raise ClientGone(f"connection closed after {state['n']} body bytes")
                chunk = view[:got]
                if h:
                    h.update(chunk)
                if save:
                    save.write(chunk)
                state["n"] += got
                count -= got
                if rate:
                    ahead = state["n"] / rate - (time.monotonic() - state["t0"])
                    if ahead > 0:
                        time.sleep(ahead)
            return True

        def line():
            s = self.rfile.readline(MAX_LINE + 1)
            if not s:
                raise ClientGone(f"connection closed after {state['n']} body bytes")
            if len(s) > MAX_LINE or not s.endswith(b"\r\n"):
                raise BadBody("a chunk line without CRLF or longer than 64 KiB")
            return s[:-2]

        trailers = {}
        chunked = False
        try:
            if te:
                if te[-1] != "chunked" or len(te) > 1:
                    raise BadBody(f"unsupported Transfer-Encoding {self.headers.get('Transfer-Encoding')!r}")
                if cl:
                    raise BadBody("both Content-Length and Transfer-Encoding")
                chunked = True
                stopped = False
                while True:
                    size_text = line().split(b";", 1)[0].strip()  # drop chunk extensions
                    try:
                        if not size_text or size_text.startswith((b"+", b"-", b"0x", b"0X")):
                            raise ValueError
                        size = int(size_text, 16)
                    except ValueError:
                        raise BadBody(f"bad chunk size {size_text[:40]!r}")
                    if size == 0:
                        break
                    if not take(size):
                        stopped = True  # /drop: enough read
                        break
                    if line() != b"":
                        raise BadBody("chunk data not followed by CRLF")
                if not stopped:
                    while True:  # trailer section, ends with an empty line
                        t = line()
                        if t == b"":
                            break
                        if len(trailers) >= MAX_TRAILERS or b":" not in t:
                            raise BadBody(f"bad trailer line {t[:40]!r}")
                        k, v = t.split(b":", 1)
                        trailers[k.strip().decode("latin-1").lower()] = v.strip().decode("latin-1")
            elif cl:
                if len(set(v.strip() for v in cl)) != 1 or not cl[0].strip().isdigit():
                    raise BadBody(f"bad Content-Length {cl!r}")
                take(int(cl[0]))
            # Neither: no body (RFC 9112 6.3 for requests).
        except OSError as e:
            raise ClientGone(str(e))
        res = {"bytes": state["n"], "chunked": chunked, "trailers": trailers}
        if h:
            res["sha256"] = h.hexdigest()
        return res


def main():
    ap = argparse.ArgumentParser(description="HTTP/1.1 body sink for tests (127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one)")
    ap.add_argument("--port-file", help="write the port to this file once listening")
    ap.add_argument("--save", metavar="DIR", help="keep every body and its summary in DIR")
    ap.add_argument("--verbose", action="store_true", help="log every request to stderr")
    ap.add_argument("--tls-cert", metavar="PEM", help="serve HTTPS with this certificate chain")
    ap.add_argument("--tls-key", metavar="PEM", help="the private key of --tls-cert")
    a = ap.parse_args()
    if bool(a.tls_cert) != bool(a.tls_key):
        ap.error("--tls-cert and --tls-key go together")
    if a.save:
        os.makedirs(a.save, exist_ok=True)
    Handler.sink = Sink(a.save, a.verbose)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        TLSServer.tls = ctx
        TLSServer.sink = Handler.sink
        server = TLSServer
    srv = server(("127.0.0.1", a.port), Handler)
    port = srv.server_address[1]
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.rename(tmp, a.port_file)
    print(port, flush=True)
    if a.verbose:
        scheme = "https" if a.tls_cert else "http"
        sys.stderr.write(f"httpsink: listening on {scheme}://127.0.0.1:{port}\n")
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
