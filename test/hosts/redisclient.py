#!/usr/bin/python3
"""redisclient.py: a client of redis-server for the real-server tests (redis_*.sh).

	redisclient.py CHECK-FILE ADDRESS PORT INTERVAL-S

Speaks RESP itself over ONE connection: "SET k<N> <N>" (N = 1, 2, ...), waits for
its +OK (the write is then acknowledged), sleeps INTERVAL-S, the next one, until
CHECK-FILE appears. Prints "READY <pid>" once connected, "info process_id=P"
(redis's own INFO server) at the start and at the end, and "ack N gap_ms=G" for
every 10th write and for every write that waited more than 100 ms.

It fails at once (FAIL redisclient ..., exit 1) on a reset, an end of file, an
error reply or a 60 s wait: the connection did not survive. At the check file:
"DONE acked=N max_gap_ms=G max_gap_after=K", then it reads back every
acknowledged key, on the same connection and on a new one, each must hold its
number, and the database must hold nothing else (DBSIZE == N): "VERIFIED
same=N new=N dbsize=N", then "PASS redisclient", exit 0.
"""
import os
import socket
import sys
import time

WAIT_S = 60
BATCH = 500


class Fail(Exception):
    pass


class Conn:
    """One RESP connection: commands out, replies in."""

    def __init__(self, address, port):
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(WAIT_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.connect((address, port))
        self.buf = b""

    def send(self, *cmds):
        out = []
        for cmd in cmds:
            out.append(b"*%d\r\n" % len(cmd))
            for arg in cmd:
                arg = arg if isinstance(arg, bytes) else str(arg).encode()
                out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
        self.sock.sendall(b"".join(out))

    def _more(self):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise Fail("no reply within %d s" % WAIT_S)
        except ConnectionResetError:
            raise Fail("connection reset by the server")
        if not data:
            raise Fail("connection closed by the server (end of file)")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._more()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        """One reply: str for +, int for :, bytes or None for $; Fail for -."""
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"-":
            raise Fail("error reply: %s" % rest.decode(errors="replace"))
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._more()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        raise Fail("unexpected reply %r" % line[:40])

    def call(self, *cmd):
        self.send(cmd)
        return self.reply()

    def process_id(self):
        info = self.call("INFO", "server").decode()
        for line in info.split("\r\n"):
            if line.startswith("process_id:"):
                return int(line.split(":", 1)[1])
        raise Fail("INFO server without process_id")

    def close(self):
        self.sock.close()


def verify(conn, acked):
    """Every key 1..acked holds its number, read in pipelined batches."""
    for start in range(1, acked + 1, BATCH):
        keys = range(start, min(start + BATCH, acked + 1))
        conn.send(*[("GET", "k%d" % k) for k in keys])
        for k in keys:
            value = conn.reply()
            if value != str(k).encode():
                raise Fail("key k%d holds %r, expected %d (an acknowledged write lost)"
                           % (k, value, k))
    return acked


def run(check, address, port, interval):
    conn = Conn(address, port)
    if conn.call("DBSIZE") != 0:
        raise Fail("the database is not empty at the start")
    print("READY %d" % os.getpid(), flush=True)
    print("info process_id=%d" % conn.process_id(), flush=True)
    acked, max_gap, max_gap_after = 0, 0.0, 0
    last = time.monotonic()
    while not os.path.exists(check):
        n = acked + 1
        reply = conn.call("SET", "k%d" % n, n)
        if reply != "OK":
            raise Fail("SET k%d answered %r" % (n, reply))
        acked = n
        now = time.monotonic()
        gap = (now - last) * 1000
        last = now
        if gap > max_gap:
            max_gap, max_gap_after = gap, n - 1
        if n % 10 == 0 or gap > 100:
            print("ack %d gap_ms=%.1f" % (n, gap), flush=True)
        time.sleep(interval)
    print("info process_id=%d" % conn.process_id(), flush=True)
    print("DONE acked=%d max_gap_ms=%.1f max_gap_after=%d" % (acked, max_gap, max_gap_after),
          flush=True)
    same = verify(conn, acked)
    fresh = Conn(address, port)
    new = verify(fresh, acked)
    dbsize = fresh.call("DBSIZE")
    if dbsize != acked:
        raise Fail("DBSIZE is %d, expected %d (writes duplicated or invented)" % (dbsize, acked))
    fresh.close()
    conn.close()
    print("VERIFIED same=%d new=%d dbsize=%d" % (same, new, dbsize), flush=True)


def main():
    if len(sys.argv) != 5:
        print("usage: %s CHECK-FILE ADDRESS PORT INTERVAL-S" % sys.argv[0], file=sys.stderr)
        return 2
    try:
        run(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    except (Fail, OSError) as e:
        print("FAIL redisclient: %s" % e, flush=True)
        return 1
    print("PASS redisclient", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
