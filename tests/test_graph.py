from __future__ import annotations

from stagedeck.engine.graph import DependencyGraph

DEMO = {
    "ledger": [],
    "inventory": [],
    "payments": [],
    "orders": ["inventory", "payments", "ledger"],
    "gateway": ["orders", "inventory"],
    "worker": ["orders", "ledger"],
}


def test_layers_follow_dependencies() -> None:
    g = DependencyGraph(DEMO)
    assert g.layers() == [["ledger", "inventory", "payments"], ["orders"], ["gateway", "worker"]]
    order = g.order()
    for name, deps in DEMO.items():
        assert all(order.index(d) < order.index(name) for d in deps)


def test_cycle_path_is_closed() -> None:
    g = DependencyGraph({"a": ["b"], "b": ["c"], "c": ["a"], "d": []})
    cycle = g.find_cycle()
    assert cycle is not None and cycle[0] == cycle[-1] and set(cycle) == {"a", "b", "c"}
    assert DependencyGraph(DEMO).find_cycle() is None


def test_self_cycle() -> None:
    assert DependencyGraph({"a": ["a"]}).find_cycle() == ["a", "a"]


def test_dependents_and_ancestors() -> None:
    g = DependencyGraph(DEMO)
    assert g.dependents("inventory") == ["orders", "gateway", "worker"]
    assert g.dependents("gateway") == []
    assert g.ancestors("gateway") == ["ledger", "inventory", "payments", "orders"]


def test_impacted_and_root_failures() -> None:
    g = DependencyGraph(DEMO)
    assert g.impacted({"payments"}) == {"orders", "gateway", "worker"}
    # orders is down too, but only because payments is: payments is the root.
    assert g.root_failures({"payments", "orders"}) == {"payments"}
    assert g.root_failures({"payments", "ledger"}) == {"payments", "ledger"}
