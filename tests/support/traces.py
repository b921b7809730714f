"""Helpers for the traces tests: a receiver on its own loop, and OTLP payloads by hand."""

from __future__ import annotations

import asyncio
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
    with ThreadedReceiver(store or TraceStore(), **kwargs) as running:
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
