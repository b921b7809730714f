"""The instrumented demo: real service processes send spans to a real receiver.

One order through the gateway is one trace across orders, inventory,
payments and ledger; a suite test's requests are found from the test; with
payments slowed, the critical path and the blame name payments.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from stagedeck.demo import suites_dir
from stagedeck.demo.launch import Demo
from stagedeck.traces import query
from stagedeck.traces.store import Trace, TraceStore
from support.procs import new_marker, wait_until_gone
from support.traces import ThreadedReceiver, receiver

PATH = {"gateway", "orders", "inventory", "payments", "ledger"}


@pytest.fixture(scope="module")
def rx() -> Iterator[ThreadedReceiver]:
    with receiver() as running:
        yield running


@pytest.fixture(scope="module")
def demo(rx: ThreadedReceiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    marker = new_marker()
    env = {
        "STAGEDECK_TEST_MARKER": marker,
        "OTEL_EXPORTER_OTLP_ENDPOINT": rx.endpoint,
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=demo",
    }
    with Demo(env=env, log_dir=tmp_path_factory.mktemp("demo-logs")) as running:
        seed = [sys.executable, "-m", "stagedeck.demo.seed", "--gateway", running.url("gateway")]
        subprocess.run(seed, check=True, capture_output=True, timeout=60)
        yield running
    assert wait_until_gone(marker, timeout=3) == []


def post(url: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.request(
        "PUT" if "/inventory/" in url else "POST", url, json=body, headers=headers, timeout=10
    )


def order(demo: Demo, sku: str, traceparent: str = "") -> httpx.Response:
    post(
        f"{demo.url('gateway')}/api/inventory/{sku}",
        {"name": sku, "price_cents": 500, "on_hand": 100},
    )
    headers = {"traceparent": traceparent} if traceparent else {}
    return post(
        f"{demo.url('gateway')}/api/orders", {"customer": "t", "sku": sku, "qty": 1}, headers
    )


def whole(rx: ThreadedReceiver, trace_id: str, services: set[str] = PATH) -> Trace:
    def done(store: TraceStore) -> Trace | None:
        trace = store.get(trace_id)
        return trace if trace and services <= set(trace.services()) else None

    found: Trace = rx.wait(done)
    return found


def test_an_order_through_the_gateway_is_one_trace_across_every_service(
    demo: Demo, rx: ThreadedReceiver
) -> None:
    tid, parent = secrets.token_hex(16), secrets.token_hex(8)
    response = order(demo, "TRACE-1", f"00-{tid}-{parent}-01")
    assert response.status_code == 201, response.text
    trace = whole(rx, tid)
    rows = rx.call(lambda: query.waterfall(trace))
    gateway = next(r for r in rows if r.span.service == "gateway" and r.span.kind == "server")
    assert gateway.span.parent_id == parent  # continued the caller's trace
    assert gateway.span.name == "POST /api/orders"
    assert gateway.span.attribute("http.response.status_code") == "201"
    assert gateway.span.attribute("deployment.environment.name") == ""  # resource, not span
    # every server span sits under the client span that called it
    by_id = {r.span.span_id: r.span for r in rows}
    for r in rows:
        if r.span.kind == "server" and r.span.service != "gateway":
            caller = by_id[r.span.parent_id]
            assert caller.kind == "client" and caller.attribute("peer.service") == r.span.service
    assert not rx.call(lambda: trace.error)


def test_probes_and_health_checks_make_no_traces(demo: Demo, rx: ThreadedReceiver) -> None:
    def probed() -> list[str]:
        names = ("GET /health", "GET /api/inventory", "GET /skus")
        return rx.call(lambda: [s.name for t in rx.store for s in t.spans if s.name in names])

    before = probed()
    for _ in range(3):
        httpx.get(f"{demo.url('gateway')}/health")
        httpx.get(f"{demo.url('gateway')}/api/inventory?probe=1")
    tid = secrets.token_hex(16)
    order(demo, "TRACE-2", f"00-{tid}-{secrets.token_hex(8)}-01")
    whole(rx, tid)  # sent after the probes: had they been traced, they would be here by now
    assert probed() == before


def test_with_payments_slowed_the_critical_path_names_payments(
    demo: Demo, rx: ThreadedReceiver
) -> None:
    chaos = f"{demo.url('payments')}/admin/chaos"
    assert post(chaos, {"latency_ms": 300}).status_code == 200
    try:
        tid = secrets.token_hex(16)
        assert order(demo, "TRACE-3", f"00-{tid}-{secrets.token_hex(8)}-01").status_code == 201
    finally:
        post(chaos, {"latency_ms": 0})
    trace = whole(rx, tid)
    verdict = rx.call(lambda: query.blame(trace))
    assert verdict.slow_service == "payments", verdict
    assert verdict.slow_self_time >= 0.29
    assert "payments" in verdict.critical_services


def test_a_failed_suite_test_finds_its_trace_with_every_service_on_the_path(
    demo: Demo, rx: ThreadedReceiver, tmp_path: Any
) -> None:
    chaos = f"{demo.url('payments')}/admin/chaos"
    assert post(chaos, {"error_rate": 1.0}).status_code == 200
    env = {
        **os.environ,
        "GATEWAY_URL": demo.url("gateway"),
        "OTEL_EXPORTER_OTLP_ENDPOINT": rx.endpoint,
        "OTEL_SERVICE_NAME": "suite:flows",
        "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
    }
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "test_flows.py::test_an_order_reserves_stock_and_debits_the_customer",
            ],
            cwd=suites_dir(),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        post(chaos, {"error_rate": 0})
    assert run.returncode == 1, run.stdout  # payments fails every call: the test fails
    assert "traceparent: 00-" in run.stdout  # the failure output names the trace

    test_id = "test_flows::test_an_order_reserves_stock_and_debits_the_customer"
    traces = rx.wait(lambda s: query.traces_for_test(s, test_id))
    # payments refuses, so the order never reaches the ledger: that is the path
    on_path = {"suite:flows", "gateway", "orders", "inventory", "payments"}
    trace = whole(rx, traces[0].trace_id, on_path)
    assert set(rx.call(trace.services)) == on_path
    summary = rx.call(lambda: query.summarize(trace))
    assert summary.error and summary.test.endswith(
        "test_an_order_reserves_stock_and_debits_the_customer"
    )
    assert summary.root_service == "suite:flows"
    assert rx.call(lambda: query.blame(trace)).error_service == "payments"
