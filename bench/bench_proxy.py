"""The fault proxy's figure: latency it adds per request with no fault set (bar: ≤ 1 ms median).

A small HTTP backend (a thread, blocking sockets) answers a fixed response.
The client sends requests over blocking sockets from the main thread, first
straight to the backend, then through :class:`FaultProxy` running on its own
event loop in another thread, as it does in a cockpit. Two shapes:

* ``new connection``: one request per connection (connect, send, read, close),
  the worst case for a proxy, which must also connect upstream;
* ``keep-alive``: many requests on one connection (only the copying costs).

Direct and proxied requests alternate so load on the box affects both alike.

    python bench/bench_proxy.py [--requests 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from stagedeck.targets.local.proxy import FaultProxy  # noqa: E402

REQUEST = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
BODY = b'{"status":"ok"}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


def backend(listener: socket.socket) -> None:
    def serve(conn: socket.socket) -> None:
        with conn:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buf = b""
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    _, buf = buf.split(b"\r\n\r\n", 1)
                    conn.sendall(RESPONSE)

    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def read_response(sock: socket.socket) -> None:
    data = b""
    while not data.endswith(BODY):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed early")
        data += chunk


def one_new_connection(port: int) -> float:
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(REQUEST)
        read_response(sock)
    return time.perf_counter() - started


def keep_alive(sock: socket.socket) -> float:
    started = time.perf_counter()
    sock.sendall(REQUEST)
    read_response(sock)
    return time.perf_counter() - started


def start_proxy(backend_port: int) -> tuple[FaultProxy, asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    proxy = FaultProxy("127.0.0.1", 0, "127.0.0.1", backend_port)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(proxy.start())
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    ready.wait(5)
    return proxy, loop


def measure(n: int, direct_port: int, proxy_port: int) -> dict[str, tuple[float, float]]:
    figures: dict[str, tuple[float, float]] = {}
    direct, proxied = [], []
    for _ in range(n):
        direct.append(one_new_connection(direct_port))
        proxied.append(one_new_connection(proxy_port))
    figures["new connection"] = (statistics.median(direct), statistics.median(proxied))
    direct, proxied = [], []
    with (
        socket.create_connection(("127.0.0.1", direct_port)) as d,
        socket.create_connection(("127.0.0.1", proxy_port)) as p,
    ):
        for s in (d, p):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(n):
            direct.append(keep_alive(d))
            proxied.append(keep_alive(p))
    figures["keep-alive"] = (statistics.median(direct), statistics.median(proxied))
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(256)
    port = listener.getsockname()[1]
    threading.Thread(target=backend, args=(listener,), daemon=True).start()
    proxy, _ = start_proxy(port)
    measure(200, port, proxy.listen_port)  # warm up
    added: dict[str, list[float]] = {}
    for run in range(1, args.runs + 1):
        for shape, (direct, proxied) in measure(args.requests, port, proxy.listen_port).items():
            added.setdefault(shape, []).append(proxied - direct)
            print(
                f"run {run} {shape:<15} direct {direct * 1e3:.3f} ms  "
                f"proxied {proxied * 1e3:.3f} ms  added {(proxied - direct) * 1e3:.3f} ms"
            )
    print()
    ok = True
    for shape, values in added.items():
        median = statistics.median(values) * 1e3
        ok = ok and median <= 1.0
        print(
            f"added per request, {shape}: median of {args.runs} runs {median:.3f} ms (bar ≤ 1 ms)"
        )
    print(f"proxy connections handled: {proxy.connections}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
