"""The lean plain-HTTP probe path: keep-alive, strict parsing, timeouts, reconnects.

Real sockets throughout: each test runs a small asyncio server that answers with
exactly the bytes it is given (well-formed or not), and counts connections.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from stagedeck.engine.http_probe import KeepAliveClient, ProbeError, handles
from stagedeck.engine.probes import probe_http, probe_http_lean

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"status":"ok"}'
Answer = Callable[[bytes], bytes | None]
"""Given the request head, the bytes to send back (None: send nothing, keep the line open)."""


class Server:
    """Answers each request on a connection with ``answer(head)``; closes after ``close_after``."""

    def __init__(self, answer: Answer, close_after: int = 0) -> None:
        self.answer = answer
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self, port: int = 0) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self._writers:
            writer.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health?probe=1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head)
                reply = self.answer(head)
                if reply is None:
                    await asyncio.sleep(3600)
                    return
                writer.write(reply)
                await writer.drain()
                served += 1
                if self.close_after and served >= self.close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def serving(answer: Answer | bytes, **options: Any) -> Server:
    reply = answer
    fn: Answer = (lambda _head: reply) if isinstance(reply, bytes) else reply  # type: ignore[assignment,return-value]
    return await Server(fn, **options).start()


async def test_requests_share_one_kept_alive_connection() -> None:
    server = await serving(OK)
    client = KeepAliveClient({"User-Agent": "stagedeck", "X-Request-Id": "stagedeck-probe"})
    try:
        for _ in range(5):
            response = await client.get(server.url, 2.0)
            assert response.status == 200
            assert response.text == '{"status":"ok"}'
        assert server.connections == 1
        assert client.connections_made == 1
        head = server.requests[0].decode()
        assert head.startswith("GET /health?probe=1 HTTP/1.1\r\n")
        assert f"Host: 127.0.0.1:{server.port}\r\n" in head
        assert "X-Request-Id: stagedeck-probe\r\n" in head
    finally:
        await client.aclose()
        await server.stop()


async def test_chunked_and_read_to_close_bodies() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nready\r\n7\r\n for it\r\n0\r\nX-Trailer: yes\r\n\r\n"
    )
    server = await serving(chunked)
    client = KeepAliveClient()
    try:
        first = await client.get(server.url, 2.0)
        second = await client.get(server.url, 2.0)
        assert first.text == second.text == "ready for it"
        assert client.connections_made == 1  # the trailer was consumed: still in step
    finally:
        await client.aclose()
        await server.stop()
    old = await serving(
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall good", close_after=1
    )
    try:
        response = await client.get(old.url, 2.0)
        assert (response.status, response.text) == (200, "all good")
        await client.get(old.url, 2.0)
        assert client.connections_made == 3  # no length: read to the close, never reused
    finally:
        await client.aclose()
        await old.stop()


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        (b"HTTP/1.1 2OO OK\r\nContent-Length: 0\r\n\r\n", "bad response: status line"),
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "bad response: status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "bad response: header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n", "bad response: Content-Length"),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "bad response: chunk size",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nshort", "closed in the middle"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "bad response: headers cut short"),
        (b"", "connection closed before a response"),
    ],
)
async def test_garbage_is_a_failed_check_saying_why(reply: bytes, says: str) -> None:
    server = await serving(reply, close_after=1)
    client = KeepAliveClient()
    try:
        result = await probe_http_lean(client, server.url, 2.0)
        assert not result.ok
        assert says in result.detail
        assert result.detail.startswith(f"GET {server.url}: ")
    finally:
        await client.aclose()
        await server.stop()


async def test_a_silent_server_times_out_on_time() -> None:
    server = await serving(lambda _head: None)
    client = KeepAliveClient()
    try:
        start = time.monotonic()
        result = await probe_http_lean(client, server.url, 0.3)
        took = time.monotonic() - start
        assert not result.ok
        assert result.detail == f"GET {server.url}: timed out after 0.3s"
        assert 0.25 < took < 1.5
    finally:
        await client.aclose()
        await server.stop()


async def test_reconnects_after_the_server_restarts() -> None:
    server = await serving(OK)
    client = KeepAliveClient()
    try:
        assert (await client.get(server.url, 2.0)).status == 200
        port = server.port
        await server.stop()  # the kept-alive connection is closed under the client
        refused = await probe_http_lean(client, server.url, 2.0)
        assert refused.detail == f"GET {server.url}: cannot connect (connection refused)"
        server = await Server(lambda _head: OK).start(port)
        assert (await client.get(server.url, 2.0)).status == 200
        # A connection the server dropped while idle is noticed on reuse and retried once.
        assert (await client.get(server.url, 2.0)).status == 200
        before = client.connections_made
        for writer in server._writers:
            writer.close()
        await asyncio.sleep(0.05)
        assert (await client.get(server.url, 2.0)).status == 200
        assert client.connections_made == before + 1
    finally:
        await client.aclose()
        await server.stop()


async def test_same_verdicts_and_words_as_the_httpx_path() -> None:
    replies = {
        "/ok": OK,
        "/broken": b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\ndown",
        "/redirect": b"HTTP/1.1 302 Found\r\nLocation: /ok\r\nContent-Length: 0\r\n\r\n",
        "/empty": b"HTTP/1.1 204 No Content\r\n\r\n",
        "/latin": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=latin-1\r\n"
        b"Content-Length: 6\r\n\r\ncaf\xe9 ok",
    }

    def answer(head: bytes) -> bytes:
        path = head.split(b" ")[1].decode().split("?")[0]
        return replies[path]

    server = await serving(answer)
    lean = KeepAliveClient()
    base = f"http://127.0.0.1:{server.port}"
    cases = [
        ("/ok", (200, 399), ""),
        ("/ok", (200, 399), '"ok"'),
        ("/ok", (200, 399), "nope"),
        ("/broken", (200, 399), ""),
        ("/broken", (200, 599), "down"),
        ("/redirect", (200, 299), ""),
        ("/redirect", (200, 399), ""),
        ("/empty", (200, 299), ""),
        ("/latin", (200, 299), "café"),
    ]
    try:
        async with httpx.AsyncClient() as client:
            for path, status, body in cases:
                ours = await probe_http_lean(lean, base + path, 2.0, status, body)
                theirs = await probe_http(client, base + path, 2.0, status, body)
                assert (ours.ok, ours.detail, ours.kind) == (
                    theirs.ok,
                    theirs.detail,
                    theirs.kind,
                ), path
    finally:
        await lean.aclose()
        await server.stop()


def test_only_plain_http_without_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert handles("http://127.0.0.1:8080/health")
    assert handles("http://orders.internal/health?deep=1")
    assert not handles("https://orders.internal/health")
    assert not handles("http://user:secret@orders.internal/health")
    assert not handles("http://orders.internal:notaport/health")
    monkeypatch.setenv("http_proxy", "http://proxy.corp:3128")
    assert not handles("http://orders.internal/health")
    monkeypatch.setenv("no_proxy", "orders.internal,localhost")
    assert handles("http://orders.internal/health")


async def test_an_oversized_body_fails_instead_of_filling_memory() -> None:
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n"
    server = await serving(big)
    client = KeepAliveClient()
    try:
        with pytest.raises(ProbeError, match="over 1 MB"):
            await client.get(server.url, 2.0)
    finally:
        await client.aclose()
        await server.stop()
