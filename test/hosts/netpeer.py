#!/usr/bin/python3
"""netpeer.py: the other servers and clients of the network tests (issue 4).

	netpeer.py udp-server CHECK-FILE ADDRESS PORT
	netpeer.py udp-client CHECK-FILE ADDRESS PORT INTERVAL-S
	netpeer.py stream-server GO-FILE ADDRESS PORT
	netpeer.py stream-client GO-FILE ADDRESS PORT

udp-server: a bound UDP socket that answers each datagram "seq=S" with
"count=N seq=S host=H" (N counts the datagrams it received, H its host name,
as in webserver.py). udp-client: a connected UDP socket sending "seq=S" every
INTERVAL-S, printing "reply seq=S count=N host=H" per answer; datagrams may be
lost (UDP), but a count that does not grow means the server lost its state
(FAIL). Both end at CHECK-FILE with "PASS udp-server" / "DONE ... hosts=a,b"
and "PASS udp-client".

stream-*: data in flight. One TCP connection (buffers set to 256 KiB); each
side writes a stream of 8-byte big-endian offsets (byte i of the stream is
byte i % 8 of the number i - i % 8), so a lost, repeated or misplaced byte
shows where it happened. Until GO-FILE exists each side writes what the
socket takes and reads nothing, so both send queues and both receive queues
fill up; then it prints "FULL sent=X". At GO-FILE each side writes 1 MiB more
while reading, half-closes (shutdown SHUT_WR), reads to the end of file and
checks every byte: "DONE sent=X got=Y" then "PASS stream-ROLE" or "FAIL
stream-ROLE: ...". The server accepts one connection and closes its listener.
"""
import os
import select
import socket
import struct
import sys
import time

BUF = 256 * 1024
EXTRA = 1024 * 1024
WAIT_S = 60


def family_of(address):
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def pattern(offset, length):
    """Bytes [offset, offset + length) of the stream."""
    start = offset - offset % 8
    words = (length + offset - start + 7) // 8
    data = b"".join(struct.pack(">Q", start + 8 * i) for i in range(words))
    return data[offset - start:offset - start + length]


def udp_server(check, address, port):
    sock = socket.socket(family_of(address), socket.SOCK_DGRAM)
    sock.bind((address, port))
    sock.settimeout(0.05)
    count = 0
    print("READY %d" % os.getpid(), flush=True)
    while not os.path.exists(check):
        try:
            data, peer = sock.recvfrom(2048)
        except socket.timeout:
            continue
        count += 1
        msg = "count=%d %s host=%s" % (count, data.decode(), socket.gethostname())
        sock.sendto(msg.encode(), peer)
    print("PASS udp-server", flush=True)
    return 0


def udp_client(check, address, port, interval):
    sock = socket.socket(family_of(address), socket.SOCK_DGRAM)
    sock.connect((address, port))
    sock.setblocking(False)
    seq = replies = last = 0
    hosts = []
    print("READY %d" % os.getpid(), flush=True)
    while not os.path.exists(check):
        seq += 1
        try:
            sock.send(b"seq=%d" % seq)
        except OSError:
            pass  # (an ICMP error of an earlier datagram: UDP may lose them)
        time.sleep(interval)
        while True:
            try:
                data = sock.recv(2048)
            except OSError:
                break
            fields = dict(f.split("=", 1) for f in data.decode().split())
            count = int(fields["count"])
            if count <= last:
                print("FAIL udp-client: count %d after %d: the server lost its state" %
                      (count, last), flush=True)
                return 1
            last, replies = count, replies + 1
            if not hosts or hosts[-1] != fields["host"]:
                hosts.append(fields["host"])
            print("reply seq=%s count=%d host=%s" % (fields["seq"], count, fields["host"]),
                  flush=True)
    print("DONE sent=%d replies=%d hosts=%s" % (seq, replies, ",".join(hosts)), flush=True)
    print("PASS udp-client", flush=True)
    return 0


def stream_socket(address):
    sock = socket.socket(family_of(address), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, BUF)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, BUF)
    return sock


def fill(sock):
    """Writes until the socket takes nothing more (the peer reads nothing)."""
    sent = idle = 0
    sock.setblocking(False)
    while idle < 5:
        try:
            n = sock.send(pattern(sent, 65536))
            sent, idle = sent + n, 0
        except BlockingIOError:
            idle += 1
            time.sleep(0.1)
    return sent


class Reader:
    def __init__(self):
        self.got = 0
        self.eof = False

    def read(self, sock):
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            return
        if not data:
            self.eof = True
            return
        if data != pattern(self.got, len(data)):
            raise ValueError("bytes %d..%d differ from what was sent" %
                             (self.got, self.got + len(data)))
        self.got += len(data)


def drain(sock, sent):
    """Writes EXTRA more while reading, half-closes, reads to the end.

    The peer may half-close first (it had less to write): its end of file
    only ends the reading, and we write on until our goal.
    """
    goal, reader, deadline = sent + EXTRA, Reader(), time.monotonic() + WAIT_S
    poll = select.poll()
    poll.register(sock, select.POLLIN | select.POLLOUT)
    while not reader.eof or sent < goal:
        if time.monotonic() > deadline:
            raise TimeoutError("stalled: sent %d of %d, got %d" % (sent, goal, reader.got))
        for _, ev in poll.poll(100):
            if ev & select.POLLOUT and sent < goal:
                try:
                    sent += sock.send(pattern(sent, min(65536, goal - sent)))
                except BlockingIOError:
                    pass
                if sent == goal:
                    sock.shutdown(socket.SHUT_WR)
            if not reader.eof and ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                reader.read(sock)
            events = (0 if reader.eof else select.POLLIN) | (select.POLLOUT if sent < goal else 0)
            if events:
                poll.modify(sock, events)
    return sent, reader.got


def stream(role, go, address, port):
    if role == "server":
        lsock = stream_socket(address)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((address, port))
        lsock.listen(1)
        print("READY %d" % os.getpid(), flush=True)
        sock, _ = lsock.accept()
        lsock.close()
    else:
        sock = stream_socket(address)
        print("READY %d" % os.getpid(), flush=True)
        sock.connect((address, port))
    sent = fill(sock)
    print("FULL sent=%d" % sent, flush=True)
    while not os.path.exists(go):
        time.sleep(0.05)
    try:
        sent, got = drain(sock, sent)
    except (OSError, ValueError) as e:
        print("FAIL stream-%s: %s" % (role, e), flush=True)
        return 1
    print("DONE sent=%d got=%d" % (sent, got), flush=True)
    print("PASS stream-%s" % role, flush=True)
    return 0


def main():
    args = sys.argv[1:]
    if len(args) == 4 and args[0] == "udp-server":
        return udp_server(args[1], args[2], int(args[3]))
    if len(args) == 5 and args[0] == "udp-client":
        return udp_client(args[1], args[2], int(args[3]), float(args[4]))
    if len(args) == 4 and args[0] in ("stream-server", "stream-client"):
        return stream(args[0][len("stream-"):], args[1], args[2], int(args[3]))
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
