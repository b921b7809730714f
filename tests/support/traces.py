"""Helpers for the traces tests: a receiver on its own loop, and OTLP payloads by hand."""

from __future__ import annotations

import asyncio
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from stagedeck.traces.receiver import OtlpReceiver
from stagedeck.traces.store import TraceStore

T = TypeVar("T")


class ThreadedReceiver:
    """An :class:`OtlpReceiver` on a loop in a thread, for tests that send from this one."""

    def __init__(self, store: TraceStore, **kwargs: Any) -> None:
        self.store = store
        self.loop = asyncio.new_event_loop()
        self.receiver = OtlpReceiver(store, "127.0.0.1", 0, **kwargs)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ThreadedReceiver:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.receiver.start(), self.loop).result(5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.receiver.close(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    @property
    def endpoint(self) -> str:
        return self.receiver.endpoint

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the receiver's loop (the store belongs to it) and return its result."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(5)

    def wait(self, check: Callable[[TraceStore], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = self.call(lambda: check(self.store))
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; store: {self.call(self.store.stats)}")
            time.sleep(0.02)


@contextmanager
def receiver(store: TraceStore | None = None, **kwargs: Any) -> Iterator[ThreadedReceiver]:
    with ThreadedReceiver(store if store is not None else TraceStore(), **kwargs) as running:
        yield running


def span_json(
    name: str,
    *,
    trace_id: str,
    span_id: str | None = None,
    parent: str = "",
    start_ms: float = 0.0,
    ms: float = 1.0,
    error: bool = False,
    kind: int = 2,
    attributes: dict[str, str] | None = None,
    base: float | None = None,
) -> dict[str, Any]:
    t0 = int(((base if base is not None else time.time()) + start_ms / 1000) * 1e9)
    span: dict[str, Any] = {
        "traceId": trace_id,
        "spanId": span_id or secrets.token_hex(8),
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(t0),
        "endTimeUnixNano": str(t0 + int(ms * 1e6)),
        "attributes": [
            {"key": k, "value": {"stringValue": v}} for k, v in (attributes or {}).items()
        ],
        "status": {"code": 2, "message": "failed"} if error else {},
    }
    if parent:
        span["parentSpanId"] = parent
    return span


def export_json(by_service: dict[str, list[dict[str, Any]]]) -> bytes:
    return json.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": svc}}]
                    },
                    "scopeSpans": [{"scope": {"name": "t"}, "spans": spans}],
                }
                for svc, spans in by_service.items()
            ]
        }
    ).encode()


def checkout(
    store: TraceStore,
    *,
    base: float,
    payments_ms: float = 30.0,
    fail: bool = False,
    rid: str = "req-0001",
    test: str = "",
    trace_id: str | None = None,
) -> str:
    """One checkout as the demo makes it, ingested through the JSON decoder; its trace id.

    suite? -> gateway -> orders -> inventory, payments, ledger (ledger skipped when payments
    fails). Names and attributes carry what real ones do: ids, a JSON body, hostile text.
    """
    from stagedeck.traces.otlp_json import decode_json

    # Ids derived from the request id: snapshots show them, so they must not change.
    tid = trace_id or hashlib.sha256(f"trace {rid}".encode()).hexdigest()[:32]
    keys = ("test", "gw", "or", "c_inv", "inv", "c_pay", "pay", "c_led", "led")
    ids = {k: hashlib.sha256(f"{rid} {k}".encode()).hexdigest()[:16] for k in keys}
    common = {"request.id": rid}
    t_pay_end = 6 + payments_ms
    total = t_pay_end + (2 if fail else 8)
    by: dict[str, list[dict[str, Any]]] = {}

    def add(
        svc: str,
        name: str,
        key: str,
        parent: str,
        start: float,
        ms: float,
        err: bool = False,
        kind: int = 2,
        **attrs: str,
    ) -> None:
        by.setdefault(svc, []).append(
            span_json(
                name,
                trace_id=tid,
                span_id=ids[key],
                parent=ids[parent] if parent else "",
                start_ms=start,
                ms=ms,
                error=err,
                kind=kind,
                base=base,
                attributes={**common, **attrs},
            )
        )

    gw_parent = ""
    if test:
        add(
            "suite:flows",
            f"test {test.rpartition('::')[2]}",
            "test",
            "",
            -3,
            total + 8,
            fail,
            kind=1,
            **{"test.id": test},
        )
        gw_parent = "test"
    add(
        "gateway",
        "POST /api/orders",
        "gw",
        gw_parent,
        0,
        total + 2,
        fail,
        **{"http.response.status_code": "502" if fail else "201"},
    )
    add(
        "orders",
        "POST /orders",
        "or",
        "gw",
        1,
        total,
        fail,
        **{"order.body": '{"customer": "tess", "sku": "SKU-1", "qty": 2}'},
    )
    add("orders", "POST inventory/reservations", "c_inv", "or", 1.5, 3, kind=3)
    add("inventory", "POST /reservations", "inv", "c_inv", 2, 2, **{"sku": "SKU-1"})
    add("orders", "POST payments/payments", "c_pay", "or", 5, payments_ms + 1, fail, kind=3)
    add(
        "payments",
        "POST /payments [card=4000…0002] \x1b[31mdeclined\x1b[0m" if fail else "POST /payments",
        "pay",
        "c_pay",
        5.5,
        payments_ms,
        fail,
    )
    if not fail:
        add("orders", "POST ledger/entries", "c_led", "or", t_pay_end + 1, 4, kind=3)
        add("ledger", "POST /entries", "led", "c_led", t_pay_end + 1.5, 3)
    store.add(decode_json(export_json(by), 1000), now=base)
    return tid
