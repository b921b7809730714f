"""Fixtures for the demo suites: a client for the gateway, and a way to wait.

The suites know one thing about the environment, the gateway's URL
(``GATEWAY_URL``), and test it from the outside, the way a team's own suites
test their staging environment. Each test sends its own ``X-Request-Id``
and prints it, so a failure shows which log lines to look at in the cockpit.

Each test is also one trace: its requests carry a W3C ``traceparent`` whose
parent is the test's own span, which is sent (OTLP, when stagedeck gives the
suite ``OTEL_EXPORTER_OTLP_ENDPOINT``) when the test ends, named after the
test and tagged ``test.id`` with its outcome. The cockpit finds a failed
test's trace by that tag.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from stagedeck.demo import tracing

DEFAULT_URL = "http://127.0.0.1:47105"
DECLINED_CARD = "4000000000000002"
_OUTCOME = pytest.StashKey[str]()


class Shop:
    """The gateway's API in the words the tests use."""

    def __init__(self, client: httpx.Client, rid: str) -> None:
        self.client = client
        self.rid = rid

    def sku(self, sku: str) -> dict[str, Any]:
        response = self.client.get(f"/api/inventory/{sku}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def available(self, sku: str) -> int:
        return int(self.sku(sku)["available"])

    def put_sku(self, sku: str, on_hand: int, price_cents: int = 1000) -> dict[str, Any]:
        """Create or restock a suite-owned SKU once nothing of it is reserved."""
        poll_until(lambda: self._reserved(sku) == 0, what=f"{sku} to have nothing reserved")
        response = self.client.put(
            f"/api/inventory/{sku}",
            json={"name": f"suite item {sku}", "price_cents": price_cents, "on_hand": on_hand},
        )
        assert response.status_code in (200, 201), response.text
        result: dict[str, Any] = response.json()
        return result

    def _reserved(self, sku: str) -> int:
        response = self.client.get(f"/api/inventory/{sku}")
        return int(response.json()["reserved"]) if response.status_code == 200 else 0

    def order(self, sku: str, qty: int = 1, **extra: Any) -> httpx.Response:
        body = {"customer": extra.pop("customer", "suite"), "sku": sku, "qty": qty, **extra}
        return self.client.post("/api/orders", json=body)

    def place(self, sku: str, qty: int = 1, status: int = 201, **extra: Any) -> dict[str, Any]:
        """Place an order and insist on the answer's status; the order as answered."""
        response = self.order(sku, qty, **extra)
        assert response.status_code == status, response.text
        result: dict[str, Any] = response.json()
        return result

    def get_order(self, oid: str) -> dict[str, Any]:
        response = self.client.get(f"/api/orders/{oid}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def ledger(self, oid: str) -> list[dict[str, Any]]:
        response = self.client.get(f"/api/orders/{oid}/ledger")
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()
        return result


def poll_until(check: Callable[[], Any], timeout: float = 5.0, what: str = "the condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds.

    For the asynchronous part of the demo (the worker): fixed sleeps are
    either slow or flaky, polling is neither.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def eventually() -> Callable[..., Any]:
    """``eventually(check, timeout=5.0, what="...")``: see :func:`poll_until`."""
    return poll_until


@pytest.fixture(scope="session")
def gateway_url() -> str:
    return os.environ.get("GATEWAY_URL", DEFAULT_URL).rstrip("/")


@pytest.fixture
def rid() -> str:
    value = "t" + uuid.uuid4().hex[:9]
    print(f"X-Request-Id: {value}")  # shown with a failure: grep the cockpit's log for it
    return value


CLIENT_TIMEOUT_S = 15.0


@pytest.fixture(scope="session")
def session_client(gateway_url: str) -> Iterator[httpx.Client]:
    """One connection pool for the whole run: a client per test costs ~40 ms to set up."""
    # Longer than the gateway's own 10 s upstream timeout: with a service hung, the
    # gateway answers 502 first, every time (equal timeouts raced: a 502 in one run,
    # a client ReadTimeout in the next, so one failure got two identities).
    with httpx.Client(base_url=gateway_url, timeout=CLIENT_TIMEOUT_S) as client:
        yield client


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember the test's outcome on the item, for its span (sent at teardown)."""
    report = yield
    if report.when == "call":
        item.stash[_OUTCOME] = report.outcome
    elif report.failed:
        item.stash[_OUTCOME] = "error"
    return report


@pytest.fixture
def test_span(request: pytest.FixtureRequest, rid: str) -> Iterator[tracing.ActiveSpan]:
    """This test's span: its requests are children of it, so the test is one trace."""
    name = request.node.name
    span = tracing.ActiveSpan(
        os.environ.get("OTEL_SERVICE_NAME", "suite"),
        f"test {name}",
        "internal",
        tracing.new_trace_id(),
        tracing.new_span_id(),
        attributes={"test.id": request.node.nodeid, "request.id": rid},
    )
    print(f"traceparent: {span.traceparent}")  # with a failure: `stagedeck traces --test`
    yield span
    outcome = request.node.stash.get(_OUTCOME, "passed")
    span.attributes["test.outcome"] = outcome
    span.finish(error=outcome in ("failed", "error"), message=f"test {outcome}")
    tracing.flush()


@pytest.fixture
def gateway(session_client: httpx.Client, rid: str, test_span: tracing.ActiveSpan) -> httpx.Client:
    """An httpx client on the gateway; every request carries this test's request id and trace."""
    session_client.headers["X-Request-Id"] = rid
    session_client.headers["traceparent"] = test_span.traceparent
    return session_client


@pytest.fixture
def shop(gateway: httpx.Client, rid: str) -> Shop:
    return Shop(gateway, rid)
