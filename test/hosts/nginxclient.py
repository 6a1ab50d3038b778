#!/usr/bin/python3
"""nginxclient.py: the client of the nginx tests (nginx_local.sh, nginx_migrate.sh).

	nginxclient.py CHECK-FILE ADDRESS PORT PATH EXPECTED-FILE INTERVAL-S [keepalive|reconnect]

Fetches http://ADDRESS:PORT/PATH again and again, INTERVAL-S seconds apart, until CHECK-FILE
appears, and checks every body against EXPECTED-FILE (byte for byte).

keepalive (the default): ONE HTTP/1.1 keep-alive connection for the whole run; a reset, an end
of file or a 30 s wait for an answer fails at once (the connection did not survive).
reconnect: when the server closes the connection between two requests (a graceful worker
shutdown after a reload closes idle keep-alive connections), a new one is opened and the
request is sent on it; a connection lost in the middle of a response still fails.

Per response it prints "resp K worker=W conn=C gap_ms=G" (W: the X-Worker header, the pid of
the nginx worker that served it; C: the connection's number, from 1). At the check file:
"DONE requests=K conns=C max_gap_ms=G workers=W1,W2,..." (workers in the order first seen),
then "PASS nginxclient", exit 0. Failures: "FAIL nginxclient REASON", exit 1.
"""
import os
import socket
import sys
import time

WAIT_S = 30


class Fail(Exception):
    pass


class Closed(Exception):
    """The server closed the connection before the request got any answer."""


def connect(address, port):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(WAIT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.connect((address, port))
    return sock


def recv_some(sock, started):
    try:
        data = sock.recv(65536)
    except socket.timeout:
        raise Fail("no answer within %d s" % WAIT_S)
    except ConnectionResetError:
        if not started:
            raise Closed()
        raise Fail("connection reset in the middle of a response")
    if not data:
        if not started:
            raise Closed()
        raise Fail("end of file in the middle of a response")
    return data


def read_response(sock, buf):
    """(headers, body, rest of buf): one response with a Content-Length."""
    while b"\r\n\r\n" not in buf:
        buf += recv_some(sock, len(buf) > 0)
    head, buf = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    if not lines[0].startswith("HTTP/1.1 200"):
        raise Fail("status '%s'" % lines[0])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" not in headers:
        raise Fail("a response without Content-Length")
    length = int(headers["content-length"])
    while len(buf) < length:
        buf += recv_some(sock, True)
    return headers, buf[:length], buf[length:]


def main():
    if len(sys.argv) not in (7, 8):
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    check, address, port, path, expected_file = sys.argv[1:6]
    interval = float(sys.argv[6])
    mode = sys.argv[7] if len(sys.argv) == 8 else "keepalive"
    with open(expected_file, "rb") as f:
        expected = f.read()
    request = ("GET /%s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, address)).encode()
    sock = connect(address, int(port))
    conns, buf, k, last, max_gap, workers = 1, b"", 0, None, 0.0, []
    print("READY %d" % os.getpid(), flush=True)
    while not os.path.exists(check):
        k += 1
        try:
            sock.sendall(request)
            headers, body, buf = read_response(sock, buf)
        except (Closed, BrokenPipeError):
            if mode != "reconnect":
                raise Fail("request %d: the server closed the keep-alive connection" % k)
            sock.close()
            sock, buf = connect(address, int(port)), b""
            conns += 1
            sock.sendall(request)
            headers, body, buf = read_response(sock, buf)
        if body != expected:
            raise Fail("request %d: a body of %d bytes that is not the file (%d bytes)"
                       % (k, len(body), len(expected)))
        now = time.monotonic()
        gap = (now - last) * 1000 if last is not None else 0.0
        max_gap = max(max_gap, gap)
        last = now
        worker = headers.get("x-worker", "?")
        if worker not in workers:
            workers.append(worker)
        print("resp %d worker=%s conn=%d gap_ms=%.1f" % (k, worker, conns, gap), flush=True)
        time.sleep(interval)
    print("DONE requests=%d conns=%d max_gap_ms=%.1f workers=%s"
          % (k, conns, max_gap, ",".join(workers)), flush=True)
    print("PASS nginxclient", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (Fail, OSError) as e:
        print("FAIL nginxclient %s" % e, flush=True)
        sys.exit(1)
