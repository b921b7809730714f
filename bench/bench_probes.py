"""Issue 14: the CPU one health check costs the cockpit, through httpx and through the lean path.

A plain HTTP/1.1 server runs in a child process (its CPU is not counted); this
process makes the same GETs sequentially, first with ``httpx.AsyncClient`` (as
the engine did), then with :class:`stagedeck.engine.http_probe.KeepAliveClient`,
both keeping the connection alive, and reports the CPU time (user + system of
this process) per request. Interleaved rounds, median of them.

    python bench/bench_probes.py [--requests 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

from stagedeck.engine.http_probe import KeepAliveClient
from stagedeck.engine.probes import ProbeResult, probe_http, probe_http_lean

SERVER = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b'{"status":"ok","checks":{"db":"ok","queue":"ok"}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


async def cpu_per_request(probe: Callable[[], Awaitable[ProbeResult]], count: int) -> float:
    """CPU seconds of this process per call of ``probe`` (after one to warm up)."""
    await probe()
    start = time.process_time()
    for _ in range(count):
        result = await probe()
        assert result.ok, result.detail
    return (time.process_time() - start) / count


async def with_httpx(url: str, count: int) -> float:
    import httpx

    async with httpx.AsyncClient(headers={"User-Agent": "stagedeck"}) as client:
        return await cpu_per_request(lambda: probe_http(client, url, 2.0, (200, 399), "ok"), count)


async def with_lean(url: str, count: int) -> float:
    client = KeepAliveClient({"User-Agent": "stagedeck"})
    try:
        return await cpu_per_request(
            lambda: probe_http_lean(client, url, 2.0, (200, 399), "ok"), count
        )
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = f"http://127.0.0.1:{server.stdout.readline().strip()}/health"
        heavy, lean = [], []
        for _ in range(args.rounds):
            heavy.append(asyncio.run(with_httpx(url, args.requests)))
            lean.append(asyncio.run(with_lean(url, args.requests)))
    finally:
        server.kill()
    h, l_ = statistics.median(heavy) * 1e6, statistics.median(lean) * 1e6
    print(
        f"health check CPU per request (this process only), {args.requests} GETs x "
        f"{args.rounds} rounds, kept-alive, JSON body checked"
    )
    print(
        f"  httpx.AsyncClient     {h:7.0f} µs   (rounds: {', '.join(f'{v * 1e6:.0f}' for v in heavy)})"
    )
    print(
        f"  KeepAliveClient       {l_:7.0f} µs   (rounds: {', '.join(f'{v * 1e6:.0f}' for v in lean)})"
    )
    print(f"  ratio                 {h / l_:7.1f}×")


if __name__ == "__main__":
    main()
