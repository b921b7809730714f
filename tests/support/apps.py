"""Build a cockpit on an engine that is never started: tests feed it state directly."""

from __future__ import annotations

import textwrap
from pathlib import Path

from stagedeck.engine.engine import Engine
from stagedeck.recipe.model import load_recipe

DEMO_LIKE = """
[environment]
name = "shop"

[services.ledger]
command = ["true"]
port = 47201
health = "/health"
slo_ms = 50

[services.inventory]
command = ["true"]
port = 47202
health = "/health"

[services.payments]
command = ["true"]
port = 47203
health = "/health"
slo_ms = 120

[services.orders]
command = ["true"]
port = 47204
health = "/health"
depends_on = ["inventory", "payments", "ledger"]

[services.gateway]
command = ["true"]
port = 47205
health = "/health"
depends_on = ["orders", "inventory"]

[services.worker]
command = ["true"]
depends_on = ["orders", "ledger"]

[suites.api]
command = ["true"]
depends_on = ["gateway"]

[suites.flows]
command = ["true"]
locks = ["db"]
"""


def offline_engine(tmp_path: Path, text: str = DEMO_LIKE) -> Engine:
    path = tmp_path / "recipe.toml"
    path.write_text(textwrap.dedent(text))
    return Engine(load_recipe(path))


def feed_logs(engine: Engine, start: float = 1_700_000_000.0) -> None:
    """A small, fixed conversation between services, with request ids."""
    lines = [
        ("gateway", "INFO  gateway rid=req-0001 POST /api/orders"),
        ("orders", "INFO  orders rid=req-0001 creating order o-1 sku=SKU-1 qty=2"),
        ("inventory", "INFO  inventory rid=req-0001 reserved SKU-1 x2"),
        ("payments", "ERROR payments rid=req-0001 card declined: limit exceeded"),
        ("orders", "WARN  orders rid=req-0001 payment failed, releasing stock"),
        ("inventory", "INFO  inventory rid=req-0001 released SKU-1 x2"),
        ("gateway", "INFO  gateway rid=req-0002 GET /api/orders/o-1"),
        ("orders", "INFO  orders rid=req-0002 order o-1 status=payment_failed"),
        ("ledger", "INFO  ledger rid=- journal compacted"),
        ("worker", "DEBUG worker rid=- no paid orders"),
    ]
    for i, (service, text) in enumerate(lines):
        engine.logs.append(service, text, ts=start + i)
