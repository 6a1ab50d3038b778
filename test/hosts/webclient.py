#!/usr/bin/python3
"""webclient.py: the client of webserver.py in the network tests and bench/bench_gap.sh.

	webclient.py CHECK-FILE ADDRESS PORT INTERVAL-S [keepalive|fresh]

keepalive (the default): ONE HTTP/1.1 keep-alive connection; a request
"GET /req?id=K" (K = 1, 2, ...), its response, INTERVAL-S seconds of sleep,
the next request, until CHECK-FILE appears. fresh: the same, but each request
on a new connection ("Connection: close"), to reach a listener.

Per response it prints "resp K count=N host=H gap_ms=G" (G: time since the
previous response; the first has none). It checks as it goes, and fails at
once (FAIL webclient ..., exit 1) on: a reset, an end of file or a 60 s wait
(the connection did not survive), a response for another id, a count that is
not the previous one + 1 (a gap or a repeat at the server: it serves only this
client). At the check file: "DONE requests=K first=N1 last=N2 max_gap_ms=G
max_gap_after=K2 hosts=a,b" (K2: the id after which the longest gap came,
hosts in the order seen), then "PASS webclient", exit 0.
"""
import os
import socket
import sys
import time

WAIT_S = 60


class Fail(Exception):
    pass


def connect(address, port):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(WAIT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.connect((address, port))
    return sock


def read_response(sock, buf):
    """(body, rest of buf): one response with a Content-Length."""
    while b"\r\n\r\n" not in buf:
        buf += recv_some(sock)
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 200"):
        raise Fail("status '%s'" % lines[0])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    if length is None:
        raise Fail("a response without Content-Length")
    while len(buf) < length:
        buf += recv_some(sock)
    return buf[:length].decode(), buf[length:]


def recv_some(sock):
    try:
        data = sock.recv(65536)
    except socket.timeout:
        raise Fail("no answer within %d s" % WAIT_S)
    except ConnectionResetError:
        raise Fail("connection reset by the server")
    if not data:
        raise Fail("connection closed by the server (end of file)")
    return data


class Client:
    def __init__(self, address, port, fresh):
        self.address, self.port, self.fresh = address, port, fresh
        self.sock = None
        self.buf = b""
        self.rid = 0
        self.first = self.last = None
        self.last_t = None
        self.max_gap = 0.0
        self.max_gap_after = 0
        self.hosts = []

    def request(self):
        self.rid += 1
        if self.sock is None or self.fresh:
            self.sock = connect(self.address, self.port)
            self.buf = b""
        close = "Connection: close\r\n" if self.fresh else ""
        req = "GET /req?id=%d HTTP/1.1\r\nHost: web\r\n%s\r\n" % (self.rid, close)
        try:
            self.sock.sendall(req.encode())
        except (BrokenPipeError, ConnectionResetError) as e:
            raise Fail("cannot send request %d: %s" % (self.rid, e))
        body, self.buf = read_response(self.sock, self.buf)
        if self.fresh:
            self.sock.close()
        self.note(body)

    def note(self, body):
        now = time.monotonic()
        fields = dict(f.split("=", 1) for f in body.split())
        count, host = int(fields["count"]), fields["host"]
        if fields["id"] != str(self.rid):
            raise Fail("request %d answered with id %s" % (self.rid, fields["id"]))
        if self.last is not None and count != self.last + 1:
            raise Fail("count %d followed by %d (request %d)" % (self.last, count, self.rid))
        gap = ""
        if self.last_t is not None:
            g = (now - self.last_t) * 1000
            gap = " gap_ms=%.3f" % g
            if g > self.max_gap:
                self.max_gap, self.max_gap_after = g, self.rid - 1
        if self.first is None:
            self.first = count
        if not self.hosts or self.hosts[-1] != host:
            self.hosts.append(host)
        self.last, self.last_t = count, now
        print("resp %d count=%d host=%s%s" % (self.rid, count, host, gap), flush=True)

    def summary(self):
        return "DONE requests=%d first=%s last=%s max_gap_ms=%.3f max_gap_after=%d hosts=%s" % (
            self.rid, self.first, self.last, self.max_gap, self.max_gap_after,
            ",".join(self.hosts))


def main():
    if len(sys.argv) not in (5, 6) or sys.argv[5:] not in ([], ["keepalive"], ["fresh"]):
        sys.stderr.write("usage: webclient.py CHECK-FILE ADDRESS PORT INTERVAL-S "
                         "[keepalive|fresh]\n")
        return 2
    check, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    interval = float(sys.argv[4])
    client = Client(address, port, sys.argv[5:] == ["fresh"])
    print("READY %d" % os.getpid(), flush=True)
    try:
        while not os.path.exists(check):
            client.request()
            time.sleep(interval)
    except (Fail, OSError) as e:
        print(client.summary(), flush=True)
        print("FAIL webclient: request %d: %s" % (client.rid, e), flush=True)
        return 1
    print(client.summary(), flush=True)
    print("PASS webclient", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
