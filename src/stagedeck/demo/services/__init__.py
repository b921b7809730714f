"""The demo's service graph, and a lazy loader for each service's module.

The graph is written once, here: the base class derives each service's
dependency clients from it, the launcher starts services in its order, and a
test checks that ``demo.toml`` says the same thing. Modules are imported only
when asked for, so starting one service does not import the other five.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stagedeck.demo.base import DemoService

GRAPH: dict[str, tuple[str, ...]] = {
    "ledger": (),
    "inventory": (),
    "payments": (),
    "orders": ("inventory", "payments", "ledger"),
    "gateway": ("orders", "inventory"),
    "worker": ("orders", "ledger"),
}
"""Service -> the services it calls (and must start after)."""

DEFAULT_PORTS: dict[str, int] = {
    "ledger": 47101,
    "inventory": 47102,
    "payments": 47103,
    "orders": 47104,
    "gateway": 47105,
    "worker": 47106,
}
"""The ports ``demo.toml`` uses; a service run by hand finds its dependencies there."""

NAMES = tuple(GRAPH)


def url_variable(name: str) -> str:
    """The environment variable that holds a dependency's URL (``ORDERS_URL``)."""
    return f"{name.upper()}_URL"


def default_url(name: str) -> str:
    return f"http://127.0.0.1:{DEFAULT_PORTS[name]}"


def layers(names: tuple[str, ...] | list[str] = NAMES) -> list[list[str]]:
    """``names`` in start order: each layer depends only on earlier layers."""
    wanted = set(names)
    placed: set[str] = set()
    result: list[list[str]] = []
    while len(placed) < len(wanted):
        layer = [
            n
            for n in NAMES
            if n in wanted
            and n not in placed
            and all(d in placed or d not in wanted for d in GRAPH[n])
        ]
        result.append(layer)
        placed.update(layer)
    return result


def service_class(name: str) -> type[DemoService]:
    """Import ``stagedeck.demo.services.<name>`` and return its ``Service`` class."""
    if name not in GRAPH:
        raise KeyError(name)
    module = importlib.import_module(f"stagedeck.demo.services.{name}")
    cls: type[DemoService] = module.Service
    return cls
