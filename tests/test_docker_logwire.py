"""The logs API's HTTP response parsed from raw bytes, cut at every awkward place.

The bytes are what the engine sends for ``GET /containers/ID/logs?follow=1&
timestamps=1``: a chunked HTTP/1.1 response whose body is 8-byte-headed frames
(stdout 1, stderr 2) of RFC 3339-stamped lines, or the raw bytes of a TTY
container. Every test feeds the same response in pieces cut at every position
(and byte by byte) and must get the same lines as the SDK path, which decodes
the whole body at once with :class:`LogDecoder`.
"""

from __future__ import annotations

import itertools
import json

import pytest

from stagedeck.dockerwire.logframes import LogDecoder
from stagedeck.dockerwire.response import (
    ChunkedDecoder,
    LogResponse,
    ProtocolError,
    TruncatedBody,
    request,
)
from stagedeck.dockerwire.stamps import parse_iso_ns
from support.dockerlogs import driver_messages, failure_line, frame, rfc3339

HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"Api-Version: 1.47\r\n"
    b"Content-Type: application/vnd.docker.multiplexed-stream\r\n"
    b"Date: Tue, 01 Dec 2026 23:40:01 GMT\r\n"
    b"Docker-Experimental: false\r\n"
    b"Ostype: linux\r\n"
    b"Server: Docker/27.3.1 (linux)\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"\r\n"
)
TTY_HEAD = HEAD.replace(b"multiplexed-stream", b"raw-stream")


def chunked(body: bytes, cuts: list[int], *, extension: bool = False) -> bytes:
    """``body`` as chunks cut at ``cuts`` (not at frame edges), then the last chunk."""
    out = bytearray()
    edges = [0, *sorted(c for c in cuts if 0 < c < len(body)), len(body)]
    for i, (a, b) in enumerate(itertools.pairwise(edges)):
        ext = b";note=x" if extension and i % 2 else b""
        out += f"{b - a:X}".encode() + ext + b"\r\n" + body[a:b] + b"\r\n"
    out += b"0\r\nX-Trailer: done\r\n\r\n"
    return bytes(out)


def stamp(second: int, nanos: int = 123456789) -> bytes:
    return f"2026-12-01T23:40:{second:02d}.{nanos:09d}Z ".encode()


LINES = [
    (1, stamp(1) + b'GET /api/orders/42 200 rid=7f3a9c2e-0b1d {"user":"zo\xc3\xab"}\n'),
    (2, stamp(1, 223456789) + b"WARN retry 1/3 after ECONNRESET (upstream=payments:8443)\n"),
    # A Windows-style line: the \r stays in the text (the gate deals with it later).
    (1, stamp(2) + b"line with a carriage return\r\n"),
    # Multibyte UTF-8 that a chunk edge will cut: a snowman and a rocket.
    (1, stamp(3) + "na\u00efve \u2603 \U0001f680 done".encode() + b"\n"),
    (2, stamp(4) + b"Traceback (most recent call last):\n"),
    # Two lines in one message, then a line cut by the log driver into partial messages.
    (1, stamp(5) + b"first\n" + stamp(5, 1) + b"second\n"),
    (1, stamp(6) + b"a long line, part one; "),
    (1, stamp(6, 5) + b"part two\n"),
]
BODY = b"".join(frame(kind, payload) for kind, payload in LINES)


def expected(body: bytes, tty: bool = False) -> list[tuple[int, str, str]]:
    decoder = LogDecoder(tty)
    return decoder.feed(body) + decoder.flush()


def feed_in_pieces(wire: bytes, cuts: list[int], tty: bool = False) -> list[tuple[int, str, str]]:
    response = LogResponse(tty)
    lines: list[tuple[int, str, str]] = []
    edges = [0, *cuts, len(wire)]
    for a, b in itertools.pairwise(edges):
        lines += response.feed(wire[a:b])
    assert response.done and response.ok
    lines += response.eof()
    return lines


def test_the_reference_lines_are_what_the_sdk_path_reads() -> None:
    lines = expected(BODY)
    assert [(s, t) for _, s, t in lines] == [
        ("out", 'GET /api/orders/42 200 rid=7f3a9c2e-0b1d {"user":"zoë"}'),
        ("err", "WARN retry 1/3 after ECONNRESET (upstream=payments:8443)"),
        ("out", "line with a carriage return\r"),
        ("out", "naïve ☃ 🚀 done"),
        ("err", "Traceback (most recent call last):"),
        ("out", "first"),
        ("out", "second"),
        ("out", "a long line, part one; part two"),
    ]
    assert lines[0][0] == parse_iso_ns("2026-12-01T23:40:01.123456789Z")


@pytest.mark.parametrize("chunking", ["frames-split", "tiny", "one"])
def test_a_response_cut_at_every_byte_gives_the_same_lines(chunking: str) -> None:
    # Chunk edges inside frame headers, inside a UTF-8 character, between \r and \n.
    snowman = BODY.index("\u2603".encode()) + 1
    cr = BODY.index(b"\r\n")
    cuts = {
        "frames-split": [3, 8 + 5, snowman, cr + 1, len(BODY) - 4],
        "tiny": list(range(0, len(BODY), 7)),
        "one": [],
    }[chunking]
    wire = HEAD + chunked(BODY, cuts, extension=True)
    want = expected(BODY)
    for cut in range(1, len(wire)):
        assert feed_in_pieces(wire, [cut]) == want, cut
    assert feed_in_pieces(wire, list(range(1, len(wire)))) == want  # byte by byte


def test_a_tty_container_is_read_unframed() -> None:
    raw = stamp(1) + "caf\u00e9 \u2603\r\n".encode() + stamp(2) + b"prompt> "
    wire = TTY_HEAD + chunked(raw, [len(stamp(1)) + 4, len(raw) - 3])
    want = expected(raw, tty=True)
    assert [t for _, _, t in want] == ["café ☃\r", "prompt> "]
    for cut in range(1, len(wire)):
        assert feed_in_pieces(wire, [cut], tty=True) == want, cut


@pytest.mark.parametrize("tty", [False, True], ids=["framed", "tty"])
def test_a_line_the_log_driver_cut_in_three_is_one_line_cut_at_16_kb(tty: bool) -> None:
    """40 KB in three stamped partial messages: one line, the first time, no stamp inside,
    the rest of the line dropped (not given out as more lines stamped with the arrival time)."""
    at = parse_iso_ns("2026-12-01T23:40:05.5Z")
    line = failure_line(40_000) + (b"\r" if tty else b"")
    messages = driver_messages(line, at) + [rfc3339(at + 10**9) + b"next\n"]
    body = b"".join(messages) if tty else b"".join(frame(1, m) for m in messages)
    wire = (TTY_HEAD if tty else HEAD) + chunked(body, list(range(0, len(body), 4093)))
    for cuts in ([], list(range(997, len(wire), 997))):
        lines = feed_in_pieces(wire, cuts, tty=tty)
        assert [(ts, s) for ts, s, _ in lines] == [(at, "out"), (at + 10**9, "out")]
        assert lines[0][2] == line[: 16 * 1024].decode() + " …"
        assert lines[1][2] == "next"


def test_chunk_size_line_split_and_extensions() -> None:
    decoder = ChunkedDecoder()
    wire = b"1A;name=value\r\n" + b"x" * 26 + b"\r\n0\r\n\r\n"
    out = b"".join(decoder.feed(wire[i : i + 1]) for i in range(len(wire)))
    assert out == b"x" * 26 and decoder.done


@pytest.mark.parametrize(
    "wire",
    [b"zz\r\nabc\r\n", b"-3\r\nabc\r\n", b"3\r\nabcXY\r\n", b"9" * 2000],
    ids=["not-hex", "negative", "no-crlf-after-data", "endless-size-line"],
)
def test_broken_chunking_is_a_protocol_error(wire: bytes) -> None:
    with pytest.raises(ProtocolError):
        ChunkedDecoder().feed(wire)


def test_a_connection_cut_inside_the_body_keeps_complete_lines_and_says_so() -> None:
    wire = HEAD + chunked(BODY, [40])
    cut = wire.index(b"first")
    response = LogResponse(tty=False)
    lines = response.feed(wire[:cut])
    with pytest.raises(TruncatedBody) as raised:
        response.eof()
    got = lines + raised.value.lines
    assert [t for _, _, t in got][:5] == [t for _, _, t in expected(BODY)][:5]


def test_the_engines_refusal_is_read_from_its_json_body() -> None:
    body = json.dumps({"message": "No such container: 3f2a9c"}).encode() + b"\n"
    wire = (
        b"HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    response = LogResponse(tty=False)
    assert response.feed(wire[:30]) == [] and response.feed(wire[30:]) == []
    assert response.done and not response.ok and response.status == 404
    assert response.error() == "404: No such container: 3f2a9c"


def test_a_body_until_close_ends_at_eof() -> None:
    wire = HEAD.replace(b"Transfer-Encoding: chunked\r\n", b"") + BODY
    response = LogResponse(tty=False)
    lines = response.feed(wire)
    assert not response.done
    assert lines + response.eof() == expected(BODY)


@pytest.mark.parametrize(
    "wire",
    [b"SSH-2.0-OpenSSH_9.6\r\n\r\n", b"HTTP/1.1 abc\r\n\r\n", b"HTTP/1.1 200 OK\r\nbroken\r\n\r\n"],
)
def test_not_an_http_response_is_a_protocol_error(wire: bytes) -> None:
    with pytest.raises(ProtocolError):
        LogResponse(tty=False).feed(wire)


def test_eof_before_the_head_is_a_protocol_error() -> None:
    response = LogResponse(tty=False)
    response.feed(b"HTTP/1.1 200 OK\r\nContent-Ty")
    with pytest.raises(ProtocolError):
        response.eof()


def test_the_request_resumes_or_tails() -> None:
    wire = request("/v1.47/containers/abc/logs", {"follow": 1, "since": "1764632401.123456789"})
    assert wire.startswith(b"GET /v1.47/containers/abc/logs?follow=1&since=1764632401.123456789 ")
    assert wire.endswith(b"Connection: close\r\n\r\n")
