"""The gateway's API contract: shapes, status codes, validation, request ids.

These talk to one endpoint at a time. What happens *across* services when an
order is placed is in ``test_flows.py``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from conftest import CLIENT_TIMEOUT_S, Shop

FIXTURE_SKUS = [f"SKU-{n}" for n in range(1, 9)]


def test_gateway_is_healthy(gateway: httpx.Client) -> None:
    response = gateway.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "service": "gateway"}


def test_inventory_lists_the_fixture_skus(gateway: httpx.Client) -> None:
    response = gateway.get("/api/inventory")
    assert response.status_code == 200
    items = {item["sku"]: item for item in response.json()}
    assert set(FIXTURE_SKUS) <= set(items)
    assert items["SKU-1"]["name"] == "Espresso beans 1kg"
    assert items["SKU-1"]["price_cents"] == 2450
    for item in items.values():
        assert item["available"] == item["on_hand"] - item["reserved"]
        assert item["available"] >= 0


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/inventory/NO-SUCH-SKU", 404),
        ("GET", "/api/orders/o-99999", 404),
        ("DELETE", "/api/orders", 405),
    ],
)
def test_unknown_things_are_json_errors(
    gateway: httpx.Client, method: str, path: str, status: int
) -> None:
    response = gateway.request(method, path)
    assert response.status_code == status
    assert response.json()["error"]


@pytest.mark.parametrize(
    "body",
    [
        {"price_cents": 100, "on_hand": 1},
        {"name": "x", "price_cents": 100, "on_hand": -1},
    ],
    ids=["no-name", "negative-stock"],
)
def test_sku_input_is_validated(gateway: httpx.Client, body: dict[str, Any]) -> None:
    response = gateway.put("/api/inventory/T-NEVER-CREATED", json=body)
    assert response.status_code == 400, response.text
    assert gateway.get("/api/inventory/T-NEVER-CREATED").status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"sku": "SKU-4", "qty": 1},
        {"customer": "suite", "sku": "SKU-4", "qty": 0},
        {"customer": "suite", "sku": "SKU-4", "qty": "2"},
        {"customer": "suite", "sku": "SKU-4", "qty": 1, "card": "not-a-card"},
    ],
    ids=["no-customer", "zero-qty", "qty-as-text", "bad-card"],
)
def test_order_input_is_validated(gateway: httpx.Client, body: dict[str, Any]) -> None:
    response = gateway.post("/api/orders", json=body)
    assert response.status_code == 400, response.text
    assert "error" in response.json()


def test_invalid_json_is_400(gateway: httpx.Client) -> None:
    response = gateway.post(
        "/api/orders", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "JSON" in response.json()["error"]


def test_order_for_an_unknown_sku_is_404(shop: Shop) -> None:
    response = shop.order("NO-SUCH-SKU")
    assert response.status_code == 404, response.text


def test_create_and_read_an_order(shop: Shop) -> None:
    response = shop.order("SKU-4", qty=2, customer="suite-api")
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["id"].startswith("o-")
    assert order["status"] == "paid"
    assert order["total_cents"] == 2 * shop.sku("SKU-4")["price_cents"]
    again = shop.get_order(order["id"])
    assert (again["customer"], again["sku"], again["qty"]) == ("suite-api", "SKU-4", 2)


def test_orders_can_be_filtered_by_status(gateway: httpx.Client) -> None:
    response = gateway.get("/api/orders", params={"status": "declined"})
    assert response.status_code == 200
    orders = response.json()
    assert orders, "the fixtures include a declined order"
    assert {o["status"] for o in orders} == {"declined"}


def test_request_ids_are_echoed_or_made_up(gateway_url: str) -> None:
    with httpx.Client(base_url=gateway_url, timeout=CLIENT_TIMEOUT_S) as client:
        mine = client.get("/api/inventory", headers={"X-Request-Id": "suite-abc123"})
        made_up = client.get("/api/inventory")
    assert mine.headers["X-Request-Id"] == "suite-abc123"
    assert made_up.headers["X-Request-Id"]
    assert made_up.headers["X-Request-Id"] != "suite-abc123"
