"""Log bodies as the Docker engine's logs API sends them, for the wire-format tests.

A line longer than the log driver's buffer (16 KB) is stored as several partial
messages, and ``timestamps=1`` gives each its own stamp: non-TTY containers get
one 8-byte-headed frame per message, a TTY container's messages run together
with the stamps inside the line (checked against dockerd 20.10: a 40 KB line
comes back as three messages of 16,384, 16,384 and 7,233 bytes of text).
"""

from __future__ import annotations

import time

DRIVER_MESSAGE = 16 * 1024
"""The log driver's buffer: longer lines are cut into messages of this size."""


def frame(kind: int, payload: bytes) -> bytes:
    """One multiplexed frame: stream id (1 stdout, 2 stderr), three zero bytes, the size."""
    return bytes([kind, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


def rfc3339(ns: int) -> bytes:
    """The engine's stamp (RFC 3339, nine fraction digits, UTC) with the space after it."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000))
    return f"{whole}.{ns % 1_000_000_000:09d}Z ".encode()


def failure_line(size: int) -> bytes:
    """A failure as services write them, ``size`` bytes or more: a request id, odd
    characters, a terminal title and colour escape, then a JSON body that goes on."""
    head = (
        'ERROR rid=7f3a9c2e-0b1d-4c55 POST /api/payments 502 user="zo\u00eb \u202eevil" '
        "\x1b]0;pwned\x07\x1b[31mcard declined\x1b[0m body="
    ).encode()
    items: list[bytes] = []
    total = len(head)
    while total < size:
        item = f'{{"sku":"A-{len(items):05d}","qty":1,"note":"caf\u00e9 \\u00e9"}}'.encode()
        items.append(item)
        total += len(item) + 1
    return head + b'{"error":"card_declined","items":[' + b",".join(items) + b"]} END-OF-LINE"


def driver_messages(line: bytes, first_ns: int) -> list[bytes]:
    """``line`` as the logs API returns it: partial messages, each stamped a little later."""
    parts = [line[i : i + DRIVER_MESSAGE] for i in range(0, len(line), DRIVER_MESSAGE)]
    return [
        rfc3339(first_ns + k * 41_000) + part + (b"\n" if k == len(parts) - 1 else b"")
        for k, part in enumerate(parts)
    ]
