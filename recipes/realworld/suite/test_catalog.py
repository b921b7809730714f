"""The realworld suite: the catalogue agrees across PostgreSQL, Redis and the proxied API.

Run by stagedeck with PGHOST/PGPORT/PGUSER/PGPASSWORD, REDIS_PORT and
CATALOG_URL set by the recipe; it talks to each system with its own client.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request

import pytest


def psql(query: str) -> list[list[str]]:
    out = subprocess.run(
        ["psql", "-X", "-A", "-t", "-F", ",", "-v", "ON_ERROR_STOP=1", "-c", query],
        capture_output=True,
        text=True,
        check=True,
        timeout=20,
    ).stdout
    return [line.split(",") for line in out.splitlines() if line]


def redis(*args: str) -> str:
    return subprocess.run(
        ["redis-cli", "-h", "127.0.0.1", "-p", os.environ["REDIS_PORT"], *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=20,
    ).stdout.strip()


def get(path: str) -> object:
    with urllib.request.urlopen(os.environ["CATALOG_URL"].rstrip("/") + path, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def products() -> dict[str, dict[str, int]]:
    rows = psql("SELECT sku, price_cents, on_hand FROM catalog.products ORDER BY sku")
    return {sku: {"price_cents": int(p), "on_hand": int(n)} for sku, p, n in rows}


def test_postgres_has_the_catalogue(products: dict[str, dict[str, int]]) -> None:
    assert len(products) == 5
    assert all(p["price_cents"] > 0 for p in products.values())


def test_every_product_is_stocked_in_redis(products: dict[str, dict[str, int]]) -> None:
    assert set(redis("SMEMBERS", "stock:index").split()) == set(products)
    for sku, product in products.items():
        assert int(redis("GET", f"stock:{sku}")) == product["on_hand"], sku


def test_the_api_behind_nginx_agrees(products: dict[str, dict[str, int]]) -> None:
    skus = get("/skus")
    assert isinstance(skus, list)
    served = {item["sku"]: item for item in skus}
    assert set(served) == set(products)
    for sku, product in products.items():
        assert served[sku]["on_hand"] == product["on_hand"], sku
        assert served[sku]["price_cents"] == product["price_cents"], sku
