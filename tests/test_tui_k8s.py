"""Pilot: the cockpit on an emulated Kubernetes namespace (real HTTP, official client)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stagedeck.engine.engine import Engine
from stagedeck.targets.kubernetes.target import KubernetesTarget
from stagedeck.tui.app import StagedeckApp
from support.k8skit import FAST, cluster, recipe_for, stop_engine  # noqa: F401  (cluster is a fixture)
from support.wait import wait_until


async def test_cockpit_shows_readiness_and_crash_loops(cluster: Any, tmp_path: Path) -> None:  # noqa: F811
    await cluster.deployment("ledger", 1)
    pods = await cluster.deployment("orders", 3, state=["ready", "ready", "starting"])
    recipe = recipe_for(
        cluster, tmp_path, '[services.ledger]\n[services.orders]\ndepends_on = ["ledger"]\n'
    )
    engine = Engine(recipe, target_factory=lambda r, e: KubernetesTarget(r, e, timing=FAST))
    app = StagedeckApp(engine, watch_themes=False, watch_recipe=False)
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            table = app.screen.query_one("ServicesTable")

            def row(name: str) -> list[str]:
                return [str(c) for c in table.get_row(name)] if name in table.rows else []

            def orders_row() -> str:
                return f"orders row: {row('orders')}"

            # The platform column shows readiness; the status bar says what target we are on.
            await wait_until(
                lambda: "ready 2/3" in " ".join(row("orders")), what=orders_row, pilot=pilot
            )
            assert "kubernetes" in str(app.screen.query_one("StatusBar").render())
            for pod in pods:
                await cluster.set_pod(pod, "crashloop")
            await wait_until(lambda: "crashed" in row("orders"), what=orders_row, pilot=pilot)
            assert "✖ down" in row("orders")[2]
            # The graph view marks orders as the failure (the top suspect, ◆, in place of its
            # root-failure ✖); ledger, its dependency, stays healthy.
            await pilot.press("3")

            def graph() -> str:
                views = app.screen.query("#graph-view")
                if not views:
                    return ""
                view = views.first()
                return "\n".join(
                    "".join(seg.text for seg in view.render_line(y))
                    for y in range(view.size.height)
                )

            await wait_until(lambda: "◆ orders" in graph(), what=graph, pilot=pilot)
            assert "● ledger" in graph(), graph()
    finally:
        await stop_engine(engine)
