#!/usr/bin/env python3
"""fwdproxy.py - a forward HTTP proxy (what http_proxy and https_proxy name),
for tests.

    fwdproxy.py [--port N] [--port-file F] [--log F] [--user USER:PASSWORD]
                [--deny-connect]

Listens on 127.0.0.1 (port 0, the default: the kernel picks; the port is
printed on stdout and written to --port-file atomically) and serves, on each
client connection, requests one after the other:

  - an absolute-form request ("PUT http://127.0.0.1:PORT/path HTTP/1.1"): the
    request goes to that origin on a fresh connection, in origin form, its
    headers as sent (Host included) but for Proxy-Authorization and
    Proxy-Connection; the body streams up as it comes (Content-Length or
    chunked, relayed as framed) while the reply streams back (1xx heads
    too); an origin that answers before the body is all sent ends the
    exchange with its answer, then both connections are closed.  The client
    connection stays open for the next request when both sides keep alive.
  - CONNECT HOST:PORT: "200 Connection established", then a blind byte
    tunnel both ways until one side closes.  --deny-connect answers 403.

Only loopback origins are reached (a request for another is answered 403).
With --user, a request without "Proxy-Authorization: Basic" of exactly those
credentials is answered 407 with Proxy-Authenticate.  --log appends one JSON
line per request to F, when its answer is known: {"method", "target",
"auth" (the credentials were right), "status" (the status sent back: the
origin's, or the proxy's own 407/403/502), "conn" (the client connection's
number, from 1: requests on a kept-alive connection share it)}.  Python standard library only.
"""
import argparse
import base64
import json
import os
import socket
import sys
import threading
import urllib.parse

LOG_LOCK = threading.Lock()
ARGS = None
CONN = threading.local()


def log(method, target, auth, status):
    if not ARGS.log:
        return
    line = json.dumps({"method": method, "target": target, "auth": auth, "status": status,
                       "conn": CONN.n})
    with LOG_LOCK, open(ARGS.log, "a") as f:
        f.write(line + "\n")


def read_head(f):
    """The head's lines (without line ends) up to the empty line, or None at EOF."""
    lines = []
    while True:
        line = f.readline(65537)
        if not line:
            return None if not lines else lines
        line = line.rstrip(b"\r\n")
        if not line:
            if lines:
                return lines
            continue  # stray empty lines before a request
        lines.append(line)


def headers_of(lines):
    out = []
    for line in lines:
        name, _, value = line.partition(b":")
        out.append((name.strip().decode("latin-1"), value.strip().decode("latin-1")))
    return out


def get(headers, name):
    for n, v in headers:
        if n.lower() == name.lower():
            return v
    return None


def relay_body(src, dst, headers, to_close=False):
    """Copies a message body framed by headers from file src to socket dst,
    as framed (chunk lines too).  Returns False if src ended too soon."""
    te = (get(headers, "Transfer-Encoding") or "").lower()
    if "chunked" in te:
        while True:
            line = src.readline(4096)
            if not line:
                return False
            dst.sendall(line)
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while True:  # trailers
                    t = src.readline(65537)
                    if not t:
                        return False
                    dst.sendall(t)
                    if t in (b"\r\n", b"\n"):
                        return True
            if not copy_n(src, dst, size + 2):
                return False
    length = get(headers, "Content-Length")
    if length is not None:
        return copy_n(src, dst, int(length))
    if to_close:
        while True:
            b = src.read1(65536)
            if not b:
                return True
            dst.sendall(b)
    return True


def copy_n(src, dst, n):
    while n > 0:
        b = src.read1(min(n, 65536))
        if not b:
            return False
        dst.sendall(b)
        n -= len(b)
    return True


def answer(sock, status, reason, extra=b"", close=False):
    body = ("%d %s\n" % (status, reason)).encode()
    sock.sendall(b"HTTP/1.1 %d %s\r\nContent-Length: %d\r\n%s%s\r\n" %
                 (status, reason.encode(), len(body), extra,
                  b"Connection: close\r\n" if close else b"") + body)


def authorized(headers):
    if not ARGS.user:
        return True
    want = "Basic " + base64.b64encode(ARGS.user.encode()).decode()
    return get(headers, "Proxy-Authorization") == want


def loopback(host):
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


def tunnel(client, cfile, target, auth):
    host, _, port = target.rpartition(":")
    host = host.strip("[]")
    if ARGS.deny_connect or not loopback(host):
        log("CONNECT", target, auth, 403)
        answer(client, 403, "Forbidden", close=True)
        return
    try:
        up = socket.create_connection((host, int(port)), timeout=10)
    except OSError:
        log("CONNECT", target, auth, 502)
        answer(client, 502, "Bad Gateway", close=True)
        return
    up.settimeout(None)
    log("CONNECT", target, auth, 200)
    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")

    def pump(a, b, reader=None):
        try:
            while True:
                d = reader.read1(65536) if reader else a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        try:
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    # from the client through cfile: it may hold bytes sent before our answer
    t = threading.Thread(target=pump, args=(client, up, cfile), daemon=True)
    t.start()
    pump(up, client)
    t.join()
    up.close()


def forward(client, cfile, method, target, version, headers, auth):
    """One absolute-form request; True when the client connection may serve
    another one."""
    u = urllib.parse.urlsplit(target)
    if u.scheme != "http" or not u.hostname or not loopback(u.hostname):
        log(method, target, auth, 403)
        answer(client, 403, "Forbidden", close=True)
        return False
    try:
        up = socket.create_connection((u.hostname, u.port or 80), timeout=30)
    except OSError:
        log(method, target, auth, 502)
        answer(client, 502, "Bad Gateway", close=True)
        return False
    path = (u.path or "/") + ("?" + u.query if u.query else "")
    head = ["%s %s %s" % (method, path, version)]
    for n, v in headers:
        if n.lower() not in ("proxy-authorization", "proxy-connection"):
            head.append("%s: %s" % (n, v))
    up.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
    body_done = threading.Event()
    body_ok = [False]

    def send_body():
        try:
            body_ok[0] = relay_body(cfile, up, headers)
        except OSError:
            pass
        body_done.set()

    sender = threading.Thread(target=send_body, daemon=True)
    sender.start()
    ufile = up.makefile("rb")
    status = 0
    keep = False
    logged = False
    try:
        while True:
            lines = read_head(ufile)
            if not lines:
                break
            status = int(lines[0].split()[1])
            rh = headers_of(lines[1:])
            if not 100 <= status < 200:
                # Logged before the client sees the answer, so that a
                # client reading the log after its reply finds the line.
                log(method, target, auth, status)
                logged = True
            client.sendall(b"\r\n".join(lines) + b"\r\n\r\n")
            if 100 <= status < 200:
                continue
            framed = get(rh, "Content-Length") is not None or "chunked" in (
                get(rh, "Transfer-Encoding") or "").lower()
            no_body = method == "HEAD" or status in (204, 304)
            if not no_body:
                relay_body(ufile, client, rh, to_close=not framed)
            conn = ((get(rh, "Connection") or "") + "," +
                    (get(headers, "Connection") or "")).lower()
            keep = (framed or no_body) and "close" not in conn and \
                lines[0].startswith(b"HTTP/1.1")
            break
    except OSError:
        keep = False
    if not logged:
        log(method, target, auth, status)
    body_done.wait(1 if keep else 0.2)
    keep = keep and body_done.is_set() and body_ok[0]
    try:
        up.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    up.close()
    return keep


def serve(client, n):
    CONN.n = n
    cfile = client.makefile("rb")
    try:
        while True:
            lines = read_head(cfile)
            if not lines:
                return
            parts = lines[0].decode("latin-1").split(" ")
            if len(parts) != 3:
                answer(client, 400, "Bad Request", close=True)
                return
            method, target, version = parts
            headers = headers_of(lines[1:])
            auth = bool(ARGS.user) and authorized(headers)
            if not authorized(headers):
                log(method, target, False, 407)
                if method != "CONNECT":  # the body is not wanted: drop it
                    try:
                        relay_body(cfile, _Null(), headers)
                    except (OSError, ValueError):
                        return
                answer(client, 407, "Proxy Authentication Required",
                       b'Proxy-Authenticate: Basic realm="fwdproxy"\r\n')
                continue
            if method == "CONNECT":
                tunnel(client, cfile, target, auth)
                return
            if not forward(client, cfile, method, target, version, headers, auth):
                return
    except (OSError, ValueError):
        pass
    finally:
        try:
            client.close()
        except OSError:
            pass


class _Null:
    def sendall(self, b):
        pass


def main():
    global ARGS
    ap = argparse.ArgumentParser(description="forward HTTP proxy for tests (127.0.0.1 only)")
    ap.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one)")
    ap.add_argument("--port-file", help="write the port to this file once listening")
    ap.add_argument("--log", help="append one JSON line per request to this file")
    ap.add_argument("--user", metavar="USER:PASSWORD", help="require these credentials (407)")
    ap.add_argument("--deny-connect", action="store_true", help="answer CONNECT with 403")
    ARGS = ap.parse_args()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", ARGS.port))
    srv.listen(64)
    port = srv.getsockname()[1]
    if ARGS.port_file:
        tmp = ARGS.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.rename(tmp, ARGS.port_file)
    print(port, flush=True)
    n = 0
    while True:
        c, _ = srv.accept()
        n += 1
        threading.Thread(target=serve, args=(c, n), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
