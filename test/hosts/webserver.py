#!/usr/bin/python3
"""webserver.py: the web server the network tests migrate (issue 4).

	webserver.py CHECK-FILE ADDRESS PORT

An HTTP/1.1 server with keep-alive, one thread, poll(2) (a poll object holds
no file descriptor, so the process holds only its sockets and its output),
which counts the requests it serves and keeps the list of them:

	GET /req?id=K   counts it (N: the count after it), notes K; answers
	                "count=N id=K host=H\n", H being the host it runs on
	                (gethostname(): each test host has a UTS namespace of its
	                own, named after the host, and a migrated process lives in
	                the destination's, so H says where the answer was made)
	GET /served     "count=N host=H\nK1 K2 ...\n": every id served, in order
	anything else   404, not counted

Connections are kept open unless the request says "Connection: close".

It prints "READY PID" once it listens, "count N id K host H" per counted
request, and when CHECK-FILE appears it checks that its list has one id per
count, prints "PASS webserver" or "FAIL webserver ..." and exits (the zoo
protocol of test/integration/lib.sh). ADDRESS may be IPv4 or IPv6.
"""
import os
import select
import socket
import sys

POLL_MS = 50


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.inbuf = b""
        self.outbuf = b""
        self.close_after = False


class Server:
    def __init__(self, address, port):
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.lsock = socket.socket(family, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind((address, port))
        self.lsock.listen(16)
        self.lsock.setblocking(False)
        self.poll = select.poll()
        self.poll.register(self.lsock, select.POLLIN)
        self.conns = {}
        self.count = 0
        self.served = []

    def accept(self):
        try:
            sock, _ = self.lsock.accept()
        except BlockingIOError:
            return
        sock.setblocking(False)
        self.conns[sock.fileno()] = Conn(sock)
        self.poll.register(sock, select.POLLIN)

    def drop(self, conn):
        self.poll.unregister(conn.sock)
        del self.conns[conn.sock.fileno()]
        conn.sock.close()

    def answer(self, status, body, close):
        head = "HTTP/1.1 %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n" % (
            status, len(body))
        head += "Connection: close\r\n" if close else "Connection: keep-alive\r\n"
        return (head + "\r\n").encode() + body

    def handle(self, request):
        """The response to one request (its head, without the blank line)."""
        lines = request.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        close = any(l.lower().replace(" ", "") == "connection:close" for l in lines[1:])
        host = socket.gethostname()
        path = parts[1] if len(parts) == 3 and parts[0] == "GET" else ""
        if path.startswith("/req?id="):
            self.count += 1
            rid = path[len("/req?id="):]
            self.served.append(rid)
            print("count %d id %s host %s" % (self.count, rid, host), flush=True)
            body = "count=%d id=%s host=%s\n" % (self.count, rid, host)
            return self.answer("200 OK", body.encode(), close), close
        if path == "/served":
            body = "count=%d host=%s\n%s\n" % (self.count, host, " ".join(self.served))
            return self.answer("200 OK", body.encode(), close), close
        return self.answer("404 Not Found", b"no such thing\n", close), close

    def readable(self, conn):
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            print("connection error: %s" % e, flush=True)
            self.drop(conn)
            return
        if not data:
            self.drop(conn)
            return
        conn.inbuf += data
        while b"\r\n\r\n" in conn.inbuf:
            request, conn.inbuf = conn.inbuf.split(b"\r\n\r\n", 1)
            response, close = self.handle(request)
            conn.outbuf += response
            conn.close_after = conn.close_after or close
        self.flush(conn)

    def flush(self, conn):
        try:
            while conn.outbuf:
                n = conn.sock.send(conn.outbuf)
                conn.outbuf = conn.outbuf[n:]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as e:
            print("connection error: %s" % e, flush=True)
            self.drop(conn)
            return
        if conn.outbuf:
            self.poll.modify(conn.sock, select.POLLIN | select.POLLOUT)
        elif conn.close_after:
            self.drop(conn)
        else:
            self.poll.modify(conn.sock, select.POLLIN)

    def step(self):
        try:
            events = self.poll.poll(POLL_MS)
        except InterruptedError:
            return
        for fd, ev in events:
            if fd == self.lsock.fileno():
                self.accept()
                continue
            conn = self.conns.get(fd)
            if conn is None:
                continue
            if ev & select.POLLOUT:
                self.flush(conn)
            if fd in self.conns and ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
                self.readable(conn)

    def verdict(self):
        if len(self.served) != self.count:
            return "FAIL webserver: %d requests counted, %d in the list" % (
                self.count, len(self.served))
        return "PASS webserver"


def main():
    if len(sys.argv) != 4:
        sys.stderr.write("usage: webserver.py CHECK-FILE ADDRESS PORT\n")
        return 2
    check, address, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    server = Server(address, port)
    print("READY %d" % os.getpid(), flush=True)
    while not os.path.exists(check):
        server.step()
    result = server.verdict()
    print(result, flush=True)
    return 0 if result.startswith("PASS") else 1


if __name__ == "__main__":
    sys.exit(main())
