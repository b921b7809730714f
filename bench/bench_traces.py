"""Issue 17's figures: spans ingested per second and the CPU it costs, memory at the
cap, and the time from a span being sent to it being on screen.

1. A receiver (OtlpReceiver + TraceStore with the recipe defaults: 2,000 traces,
   50,000 spans) runs in its own process. This process sends OTLP/protobuf
   exports of 512 spans (the SDK's default batch) at a fixed 5,000 spans/s for
   ``--seconds``, then as fast as one client can, then JSON at 5,000 spans/s.
   The receiver's CPU comes from /proc. Spans are realistic: a checkout's six
   spans per trace, five attributes each (method, route, status, request id, a
   JSON-ish body), unique ids.
2. Memory at the cap: the receiver's RSS after 200,000 spans (4x the cap) went
   through it, minus its RSS before any arrived.
3. Send -> screen: ``stagedeck open`` in tmux at 80x24 on the traces view (7);
   a span with a unique name is POSTed and the time until that name is drawn
   in the terminal is taken, ten times.

    python bench/bench_traces.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path

from common import ROOT, Terminal, cpu_seconds, rss_mb

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

RECEIVER = textwrap.dedent(
    """
    import asyncio, sys
    from stagedeck.traces.receiver import OtlpReceiver
    from stagedeck.traces.store import TraceStore

    async def main():
        store = TraceStore(int(sys.argv[1]), int(sys.argv[2]))
        rx = OtlpReceiver(store, "127.0.0.1", 0, max_body=8_000_000)
        await rx.start()
        print(rx.port, flush=True)
        while True:
            await asyncio.sleep(0.5)
            print(store.received_spans, store.span_count, len(store), flush=True)

    asyncio.run(main())
    """
)


# --------------------------------------------------------------------------- protobuf


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _ld(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | 2) + _varint(len(payload)) + payload


def _fixed64(field: int, value: int) -> bytes:
    return _varint(field << 3 | 1) + value.to_bytes(8, "little")


def _kv(key: str, value: str) -> bytes:
    return _ld(1, key.encode()) + _ld(2, _ld(1, value.encode()))


CHECKOUT = [
    ("gateway", "POST /api/orders", None, 0, 40),
    ("orders", "POST /orders", 0, 1, 38),
    ("inventory", "POST /reservations", 1, 2, 3),
    ("payments", "POST /payments", 1, 6, 25),
    ("ledger", "POST /entries", 1, 32, 4),
    ("orders", "UPDATE orders SET status = $1 WHERE id = $2", 1, 37, 1),
]


def export(traces: int, as_json: bool = False, group: int = 1) -> bytes:
    """One export request of ``traces`` checkouts (6 spans each), grouped by service.

    ``group`` checkouts share a trace id (a test making several requests)."""
    now = time.time_ns()
    by_service: dict[str, list[tuple[bytes, dict[str, object]]]] = {}
    tid = b""
    for k in range(traces):
        if k % group == 0:
            tid = secrets.token_bytes(16)
        ids = [secrets.token_bytes(8) for _ in CHECKOUT]
        rid = secrets.token_hex(5)
        for n, (service, name, parent, start_ms, ms) in enumerate(CHECKOUT):
            t0 = now + start_ms * 1_000_000
            attrs = {
                "http.request.method": name.split()[0],
                "url.path": name.split()[-1],
                "http.response.status_code": "201",
                "request.id": rid,
                "order.body": '{"customer": "tess", "sku": "SKU-1", "qty": 2}',
            }
            proto = (
                _ld(1, tid)
                + _ld(2, ids[n])
                + (_ld(4, ids[parent]) if parent is not None else b"")
                + _ld(5, name.encode())
                + _varint(6 << 3)
                + _varint(2)
                + _fixed64(7, t0)
                + _fixed64(8, t0 + ms * 1_000_000)
                + b"".join(_ld(9, _kv(k, v)) for k, v in attrs.items())
            )
            span_json = {
                "traceId": tid.hex(),
                "spanId": ids[n].hex(),
                "parentSpanId": ids[parent].hex() if parent is not None else "",
                "name": name,
                "kind": 2,
                "startTimeUnixNano": str(t0),
                "endTimeUnixNano": str(t0 + ms * 1_000_000),
                "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
            }
            by_service.setdefault(service, []).append((proto, span_json))
    if as_json:
        return json.dumps(
            {
                "resourceSpans": [
                    {
                        "resource": {
                            "attributes": [{"key": "service.name", "value": {"stringValue": svc}}]
                        },
                        "scopeSpans": [{"spans": [j for _, j in spans]}],
                    }
                    for svc, spans in by_service.items()
                ]
            }
        ).encode()
    body = b""
    for svc, spans in by_service.items():
        resource = _ld(1, _ld(1, _kv("service.name", svc)))
        scope = _ld(2, b"".join(_ld(2, p) for p, _ in spans))
        body += _ld(1, resource + scope)
    return body


def post(url: str, body: bytes, ctype: str) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": ctype})
    with OPENER.open(request, timeout=30) as response:
        response.read()
        return int(response.status)


# --------------------------------------------------------------------------- 1 and 2


def receiver(max_traces: int = 2000, max_spans: int = 50_000) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RECEIVER, str(max_traces), str(max_spans)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def memory_at_span_cap() -> dict[str, float]:
    """RSS with the span cap binding: 50,000 spans held in traces of 30 (a test's requests)."""
    proc = receiver()
    assert proc.stdout is not None
    try:
        url = f"http://127.0.0.1:{int(proc.stdout.readline())}/v1/traces"
        time.sleep(0.5)
        rss0 = rss_mb(proc.pid)
        sent = 0
        while sent < 200_000:
            post(url, export(85, group=5), "application/x-protobuf")
            sent += 510
        line = ""
        while True:
            line = proc.stdout.readline().strip()
            if line and int(line.split()[0]) >= sent:
                break
        return {
            "span_cap_rss_before_mb": rss0,
            "span_cap_rss_at_cap_mb": rss_mb(proc.pid),
            "span_cap_held_spans": float(line.split()[1]),
            "span_cap_held_traces": float(line.split()[2]),
        }
    finally:
        proc.terminate()
        proc.wait(5)


def ingest(seconds: float) -> dict[str, float]:
    proc = receiver()
    assert proc.stdout is not None
    try:
        port = int(proc.stdout.readline())
        url = f"http://127.0.0.1:{port}/v1/traces"
        time.sleep(0.5)
        rss0 = rss_mb(proc.pid)
        per = 512 // 6  # traces per export: 85 checkouts = 510 spans, the SDK's batch size
        spans_per_export = per * 6
        results: dict[str, float] = {}
        sent = [0]

        def paced(rate: float, as_json: bool, label: str) -> None:
            count = int(rate * seconds / spans_per_export)
            bodies = [export(per, as_json) for _ in range(count)]  # built before timing
            ctype = "application/json" if as_json else "application/x-protobuf"
            cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
            for n, body in enumerate(bodies):
                delay = t0 + n * spans_per_export / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                assert post(url, body, ctype) == 200
            sent[0] += len(bodies) * spans_per_export
            elapsed = time.monotonic() - t0
            time.sleep(0.3)  # the last request's decode finishes
            cpu = (cpu_seconds(proc.pid) - cpu0) / (elapsed + 0.3) * 100
            results[f"{label}_spans_per_s"] = count * spans_per_export / elapsed
            results[f"{label}_cpu_pct"] = cpu
            results[f"{label}_cpu_us_per_span"] = (
                (cpu_seconds(proc.pid) - cpu0) / (count * spans_per_export) * 1e6
            )

        paced(5000, False, "proto_5000")
        paced(5000, True, "json_5000")
        # As fast as one client sends: the receiver's ceiling (its CPU near one core).
        bodies = [export(per) for _ in range(int(20_000 * seconds / spans_per_export))]
        cpu0, t0 = cpu_seconds(proc.pid), time.monotonic()
        for body in bodies:
            post(url, body, "application/x-protobuf")
        elapsed = time.monotonic() - t0
        sent[0] += len(bodies) * spans_per_export
        results["max_spans_per_s"] = len(bodies) * spans_per_export / elapsed
        results["max_cpu_pct"] = (cpu_seconds(proc.pid) - cpu0) / elapsed * 100
        # Memory at the cap: by now well past 50,000 spans; push 200,000 through to be sure.
        for _ in range(200_000 // spans_per_export):
            post(url, export(per), "application/x-protobuf")
            sent[0] += spans_per_export
        time.sleep(1.0)
        results["rss_before_mb"] = rss0
        results["rss_at_cap_mb"] = rss_mb(proc.pid)
        line = ""
        while True:  # the receiver prints received, held spans, held traces twice a second
            line = proc.stdout.readline().strip()
            if line and int(line.split()[0]) >= sent[0]:
                break
        results["held_spans"] = float(line.split()[1])
        results["held_traces"] = float(line.split()[2])
        return results
    finally:
        proc.terminate()
        proc.wait(5)


# --------------------------------------------------------------------------- 3


def send_to_screen(samples: int = 10) -> list[float]:
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        folder = Path(tmp)
        with __import__("socket").socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        recipe = folder / "traced.toml"
        recipe.write_text(
            '[environment]\nname = "traced"\n\n'
            '[services.app]\ncommand = ["{python}", "-c", "import time; time.sleep(3600)"]\n\n'
            f"[traces]\nport = {port}\n"
        )
        term = Terminal(
            [sys.executable, "-m", "stagedeck", "open", str(recipe), "--db", str(folder / "db")],
            width=80,
            height=24,
            env={"XDG_CONFIG_HOME": tmp},
        )
        took: list[float] = []
        try:
            term.wait_for(lambda s: "traced" in s, timeout=60)
            time.sleep(2)
            term.send("7")
            term.wait_for(lambda s: "traces" in s and "filter" in s, timeout=20)
            url = f"http://127.0.0.1:{port}/v1/traces"
            for n in range(samples):
                name = f"GET /probe-{n}-{secrets.token_hex(3)}"
                now = time.time_ns()
                body = json.dumps(
                    {
                        "resourceSpans": [
                            {
                                "resource": {
                                    "attributes": [
                                        {"key": "service.name", "value": {"stringValue": "app"}}
                                    ]
                                },
                                "scopeSpans": [
                                    {
                                        "spans": [
                                            {
                                                "traceId": secrets.token_hex(16),
                                                "spanId": secrets.token_hex(8),
                                                "name": name,
                                                "kind": 2,
                                                "startTimeUnixNano": str(now),
                                                "endTimeUnixNano": str(now + 2_000_000),
                                            }
                                        ]
                                    }
                                ],
                            }
                        ]
                    }
                ).encode()
                t0 = time.monotonic()
                post(url, body, "application/json")
                term.wait_for(lambda s, name=name: name in s, timeout=10, interval=0.01)
                took.append(time.monotonic() - t0)
                time.sleep(0.37)  # not in step with the view's refresh timer
            term.send("q")
            term.wait_for(lambda s: term.dead(), timeout=30)
        finally:
            term.close()
        return took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    os.environ.setdefault("PYTHONPATH", str(ROOT / "src"))
    load = os.getloadavg()[0]
    print(f"load average at start: {load:.2f} (the machine is shared: figures are noisy)")
    figures = ingest(args.seconds)
    figures.update(memory_at_span_cap())
    for key, value in figures.items():
        print(f"{key:>28}: {value:,.1f}")
    took = send_to_screen()
    print(
        f"{'send_to_screen_p50_ms':>28}: {statistics.median(took) * 1000:,.0f}"
        f"  (max {max(took) * 1000:,.0f}, {len(took)} samples)"
    )


if __name__ == "__main__":
    main()
