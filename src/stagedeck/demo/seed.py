"""Load the demo's fixtures through the public API, then check they took.

``python -m stagedeck.demo.seed [--gateway URL]`` resets every service (a
cascading ``POST /admin/reset`` through the gateway), creates the SKUs,
places a few orders (one of them declined on purpose), waits until the
worker has shipped the paid ones, and verifies. Because it starts from a
reset and ids restart at 1, running it twice gives identical data.

``--verify`` only checks: exactly the fixture SKUs with the expected
availability, exactly the fixture orders, and the matching ledger debits.
It exits 1 with a list of differences, 2 when the gateway cannot be reached.

Everything goes through the API, like a real seed against a shared
environment: no reaching into a service's memory or files.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

DECLINED_CARD = "4000000000000002"


@dataclass(frozen=True)
class Sku:
    sku: str
    name: str
    price_cents: int
    on_hand: int


@dataclass(frozen=True)
class Order:
    customer: str
    sku: str
    qty: int
    card: str = "4242424242424242"

    @property
    def declined(self) -> bool:
        return self.card == DECLINED_CARD


SKUS = (
    Sku("SKU-1", "Espresso beans 1kg", 2450, 120),
    Sku("SKU-2", "Pour-over kettle", 4900, 40),
    Sku("SKU-3", "Ceramic dripper", 1850, 60),
    Sku("SKU-4", "Paper filters x100", 450, 500),
    Sku("SKU-5", "Burr grinder", 12900, 15),
    Sku("SKU-6", "Milk jug", 1500, 80),
    Sku("SKU-7", "Tasting cups x6", 2200, 30),
    Sku("SKU-8", "Barista apron", 3200, 25),
)
ORDERS = (
    Order("alice", "SKU-1", 2),
    Order("bob", "SKU-5", 1),
    Order("carol", "SKU-4", 3, card=DECLINED_CARD),
    Order("dave", "SKU-2", 1),
)
SHIPPED_STATES = ("paid", "fulfilling", "fulfilled")
"""A paid fixture order is in one of these; the worker moves it along on its own."""


class SeedError(Exception):
    """The environment is not as the seed expects; the message says how."""


class Unreachable(SeedError):
    pass


class Api:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._rid = "seed-" + uuid.uuid4().hex[:6]

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.base_url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Content-Type": "application/json", "X-Request-Id": self._rid},
        )
        try:
            with _OPENER.open(request, timeout=self.timeout) as response:
                return int(response.status), json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            with exc:
                raw = exc.read()
            try:
                return int(exc.code), json.loads(raw or b"null")
            except json.JSONDecodeError:
                return int(exc.code), {"error": raw[:200].decode(errors="replace")}
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise Unreachable(f"cannot reach {self.base_url}{path}: {reason}") from None

    def expect(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)) -> Any:
        status, answer = self.call(method, path, body)
        if status not in ok:
            detail = answer.get("error") if isinstance(answer, dict) else answer
            raise SeedError(f"{method} {path} answered HTTP {status}: {detail}")
        return answer


def say(message: str) -> None:
    print(f"seed: {message}", flush=True)


def seed(api: Api, settle_timeout: float = 15.0) -> None:
    done = api.expect("POST", "/admin/reset", {"cascade": True})
    say(f"reset {', '.join(done.get('reset', []))}")
    for item in SKUS:
        api.expect(
            "PUT",
            f"/api/inventory/{item.sku}",
            {"name": item.name, "price_cents": item.price_cents, "on_hand": item.on_hand},
            ok=(200, 201),
        )
        say(f"sku {item.sku} {item.name!r} on_hand={item.on_hand}")
    for order in ORDERS:
        body = {"customer": order.customer, "sku": order.sku, "qty": order.qty, "card": order.card}
        want = 402 if order.declined else 201
        answer = api.expect("POST", "/api/orders", body, ok=(want,))
        say(f"order {answer['id']} {order.customer} {order.qty} x {order.sku}: {answer['status']}")
    settle(api, settle_timeout)
    verify(api)


def settle(api: Api, timeout: float) -> None:
    """Wait until the worker has shipped every paid order, so the data is final."""
    deadline = time.monotonic() + timeout
    while True:
        pending = [
            o["id"]
            for o in api.expect("GET", "/api/orders")
            if o["status"] in ("paid", "fulfilling")
        ]
        if not pending:
            say("worker has fulfilled every paid order")
            return
        if time.monotonic() > deadline:
            raise SeedError(
                f"the worker did not fulfil {', '.join(pending)} within {timeout:g}s "
                "(is the worker running and healthy?)"
            )
        time.sleep(0.1)


def expected_available() -> dict[str, int]:
    available = {item.sku: item.on_hand for item in SKUS}
    for order in ORDERS:
        if not order.declined:
            available[order.sku] -= order.qty
    return available


def differences(api: Api) -> list[str]:
    """Every way the environment differs from the seeded state (empty: all good)."""
    problems: list[str] = []
    skus = {item["sku"]: item for item in api.expect("GET", "/api/inventory")}
    fixture = {item.sku: item for item in SKUS}
    for missing in sorted(set(fixture) - set(skus)):
        problems.append(f"SKU {missing} is missing")
    for extra in sorted(set(skus) - set(fixture)):
        problems.append(f"SKU {extra} is not a fixture")
    for sku, available in expected_available().items():
        got = skus.get(sku)
        if got is None:
            continue
        if got["name"] != fixture[sku].name or got["price_cents"] != fixture[sku].price_cents:
            problems.append(f"SKU {sku} is {got['name']!r} at {got['price_cents']} cents")
        if got["available"] != available:
            problems.append(f"SKU {sku} has {got['available']} available, expected {available}")

    orders = api.expect("GET", "/api/orders")
    if len(orders) != len(ORDERS):
        problems.append(f"{len(orders)} orders, expected {len(ORDERS)}")
    for n, (want, got) in enumerate(zip(ORDERS, orders, strict=False), start=1):
        oid = f"o-{n:05d}"
        states = ("declined",) if want.declined else SHIPPED_STATES
        if (got["id"], got["customer"], got["sku"], got["qty"]) != (
            oid,
            want.customer,
            want.sku,
            want.qty,
        ):
            problems.append(f"order {got['id']} is not the fixture {oid} ({want.customer})")
            continue
        if got["status"] not in states:
            problems.append(f"order {oid} is {got['status']}, expected {' or '.join(states)}")
        debits = [e for e in api.expect("GET", f"/api/orders/{oid}/ledger") if e["kind"] == "debit"]
        want_debits = [] if want.declined else [got["total_cents"]]
        if [e["amount_cents"] for e in debits] != want_debits:
            problems.append(f"order {oid} has ledger debits {debits}, expected {want_debits}")
    return problems


def verify(api: Api) -> None:
    problems = differences(api)
    if problems:
        raise SeedError("not in the seeded state:\n  - " + "\n  - ".join(problems))
    declined = sum(o.declined for o in ORDERS)
    say(
        f"verified {len(SKUS)} SKUs, {len(ORDERS)} orders "
        f"({len(ORDERS) - declined} paid, {declined} declined), ledger debits match"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stagedeck.demo.seed",
        description="Load (or with --verify, only check) the demo's fixture data.",
    )
    parser.add_argument(
        "--gateway",
        default=os.environ.get("GATEWAY_URL", "http://127.0.0.1:47105"),
        help="the gateway's base URL (default: $GATEWAY_URL or the demo port)",
    )
    parser.add_argument("--verify", action="store_true", help="only check, change nothing")
    parser.add_argument(
        "--timeout", type=float, default=15.0, help="seconds to wait for the worker"
    )
    args = parser.parse_args(argv)
    api = Api(args.gateway)
    try:
        if args.verify:
            verify(api)
        else:
            say(f"seeding through {api.base_url}")
            seed(api, args.timeout)
    except Unreachable as exc:
        print(
            f"seed: error: {exc}\n  → is the gateway up? (stagedeck demo starts it)",
            file=sys.stderr,
        )
        return 2
    except SeedError as exc:
        print(f"seed: error: {exc}\n  → run the seed again to reset the data", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
