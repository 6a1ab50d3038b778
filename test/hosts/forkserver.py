#!/usr/bin/python3
"""forkserver.py: a process tree that shares one TCP connection (tree_net_migrate.sh).

	forkserver.py ADDRESS PORT

Listens on ADDRESS:PORT, prints "READY PID", accepts ONE connection and forks: the child
serves it as webserver.py does (HTTP/1.1 keep-alive, "GET /req?id=K" answered with
"count=N id=K host=H\n", N counting from 1, H the host name: where the answer was made), the
parent keeps its own copies of the listener and of the connection (the same sockets) and
sleeps. So the connection is one socket held by two processes, the listener too. It prints
"child PID" after the fork. The child fails (prints "FAIL forkserver ...", exits 1) on a
request it cannot parse or an id that is not the previous one + 1; at the client's end of file
it prints "PASS forkserver COUNT" and exits 0.
"""
import os
import socket
import sys
import time


def serve(conn):
    buf, count = b"", 0
    while True:
        data = conn.recv(65536)
        if not data:
            print("PASS forkserver %d" % count, flush=True)
            return 0
        buf += data
        while b"\r\n\r\n" in buf:
            head, buf = buf.split(b"\r\n\r\n", 1)
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            if not line.startswith("GET /req?id="):
                print("FAIL forkserver request '%s'" % line, flush=True)
                return 1
            rid = int(line.split("=", 1)[1].split(" ", 1)[0])
            if rid != count + 1:
                print("FAIL forkserver id %d after %d" % (rid, count), flush=True)
                return 1
            count += 1
            # Asked each time: after a migration the process lives in another host's UTS
            # namespace.
            body = ("count=%d id=%d host=%s\n" % (count, rid, socket.gethostname())).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)


def main():
    address, port = sys.argv[1], int(sys.argv[2])
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, port))
    listener.listen(4)
    print("READY %d" % os.getpid(), flush=True)
    conn, _ = listener.accept()
    pid = os.fork()
    if pid == 0:
        os._exit(serve(conn))
    print("child %d" % pid, flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
