"""Data flowing across services, and what must hold when a step fails.

An order touches four services: inventory (reserve), payments (authorise),
ledger (debit), and later the worker (fulfil, book revenue). These tests
follow the money and the stock through all of them, including the unhappy
paths where a compensation must undo the earlier steps.

Suite-owned SKUs are named ``T-...`` and restocked by each test, so the
tests do not depend on how much fixture stock earlier runs used up.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from conftest import DECLINED_CARD, Shop

Eventually = Callable[..., Any]


def test_an_order_reserves_stock_and_debits_the_customer(shop: Shop) -> None:
    before = shop.available("SKU-6")
    order = shop.place("SKU-6", qty=2, customer="suite-flows")
    assert shop.available("SKU-6") == before - 2
    debits = [e for e in shop.ledger(order["id"]) if e["kind"] == "debit"]
    assert [(e["account"], e["amount_cents"]) for e in debits] == [
        ("customer:suite-flows", order["total_cents"])
    ]


def test_the_worker_ships_a_paid_order_and_books_revenue(
    shop: Shop, eventually: Eventually
) -> None:
    on_hand = shop.sku("SKU-7")["on_hand"]
    order = shop.place("SKU-7", qty=1)
    eventually(
        lambda: shop.get_order(order["id"])["status"] == "fulfilled",
        what=f"the worker to fulfil {order['id']}",
    )
    item = shop.sku("SKU-7")
    assert item["on_hand"] == on_hand - 1  # the reservation was committed
    entries = eventually(
        lambda: [e for e in shop.ledger(order["id"]) if e["account"] == "revenue"],
        what="the revenue credit",
    )
    assert [e["amount_cents"] for e in entries] == [order["total_cents"]]
    debit = sum(e["amount_cents"] for e in shop.ledger(order["id"]) if e["kind"] == "debit")
    assert debit == order["total_cents"]


def test_a_declined_card_releases_the_stock_and_books_nothing(shop: Shop) -> None:
    before = shop.available("SKU-3")
    order = shop.place("SKU-3", qty=2, status=402, card=DECLINED_CARD)
    assert order["status"] == "declined"
    assert shop.available("SKU-3") == before
    assert shop.ledger(order["id"]) == []


def test_an_amount_over_the_limit_is_declined(shop: Shop) -> None:
    shop.put_sku("T-PRICEY", on_hand=10, price_cents=600_000)
    response = shop.order("T-PRICEY", qty=2)  # 12,000.00 > the 10,000.00 limit
    assert response.status_code == 402, response.text
    assert "limit" in response.json()["reason"]
    assert shop.available("T-PRICEY") == 10
    assert shop.ledger(response.json()["id"]) == []


def test_the_last_item_is_sold_once(shop: Shop) -> None:
    shop.put_sku("T-LAST-ONE", on_hand=1)
    assert shop.order("T-LAST-ONE", qty=2).status_code == 409
    assert shop.order("T-LAST-ONE", qty=1).status_code == 201
    sold_out = shop.order("T-LAST-ONE", qty=1)
    assert sold_out.status_code == 409
    assert "insufficient stock" in sold_out.json()["error"]
    assert shop.available("T-LAST-ONE") == 0


def test_concurrent_orders_never_oversell(shop: Shop) -> None:
    shop.put_sku("T-RACE", on_hand=5)
    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = sorted(pool.map(lambda _: shop.order("T-RACE").status_code, range(10)))
    assert codes == [201] * 5 + [409] * 5
    assert shop.available("T-RACE") == 0


@pytest.mark.parametrize("card", [None, DECLINED_CARD], ids=["fulfilled", "declined"])
def test_a_finished_order_cannot_be_cancelled(
    shop: Shop, eventually: Eventually, card: str | None
) -> None:
    final = "declined" if card else "fulfilled"
    extra = {"card": card} if card else {}
    order = shop.place("SKU-4", status=402 if card else 201, **extra)
    eventually(lambda: shop.get_order(order["id"])["status"] == final, what=f"a {final} order")
    response = shop.client.post(f"/api/orders/{order['id']}/cancel")
    assert response.status_code == 409, response.text
    assert shop.get_order(order["id"])["status"] == final


def test_the_request_id_travels_with_the_order(shop: Shop) -> None:
    order = shop.place("SKU-4")
    assert order["rid"] == shop.rid  # gateway -> orders
    debit = next(e for e in shop.ledger(order["id"]) if e["kind"] == "debit")
    assert debit["rid"] == shop.rid  # orders -> ledger
