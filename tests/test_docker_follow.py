"""Zero-config Docker follows the compose project, against a real engine (issue 18).

A service that joins the project after the cockpit opened appears (and comes
up healthy); one whose containers are removed disappears. A ``depends_on``
cycle in the labels still opens.
"""

from __future__ import annotations

import asyncio

import pytest

from stagedeck.engine.engine import Engine
from stagedeck.engine.events import Event, Health, Notice
from stagedeck.targets.docker import follow
from stagedeck.targets.docker.discovery import discover_project_recipe
from support.dockerkit import in_thread, kit, require_engine, wait_for

pytestmark = pytest.mark.docker


async def test_services_joining_and_leaving_the_project_follow(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    require_engine()
    monkeypatch.setattr("stagedeck.targets.docker.follow.FOLLOW_INTERVAL_S", 0.3)
    real = follow.project_services
    listings: list[frozenset[str]] = []

    def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        listings.append(real(*args, **kwargs))
        return listings[-1]

    monkeypatch.setattr(follow, "project_services", counted)
    with kit() as k:
        project = k.prefix
        net = k.network("default")
        k.container("db", project=project, healthcheck=True, network=net)
        # A cycle in the labels: the cockpit must still open on the project.
        k.container("a", project=project, network=net, depends_on="b:service_started:false")
        k.container("b", project=project, network=net, depends_on="a:service_started:false")
        recipe = await discover_project_recipe(project)
        assert recipe.compose_services == {"a", "b", "db"} == set(recipe.services)
        engine = Engine(recipe)
        events: list[Event] = []
        engine.subscribe(events.append)
        await engine.start()
        try:
            await wait_for(lambda: engine.statuses["db"].health is Health.HEALTHY, 15, "db")
            # Running without a HEALTHCHECK: unchecked from the first report, never a
            # "healthy" in the history that triage reads (it was, until the verdict came).
            await wait_for(lambda: engine.statuses["a"].health is Health.UNCHECKED, 15, "a up")
            told = [(t.state, t.health) for t in engine.transitions if t.service in ("a", "b")]
            assert told and all(health is not Health.HEALTHY for _, health in told), told
            # Nothing happens to the project: the Docker events say so, no listing is made
            # (polling would have listed it every 0.3 s here).
            quiet = len(listings)
            await asyncio.sleep(1.5)
            assert len(listings) == quiet
            cache = await in_thread(k.container, "cache", project=project, network=net)
            await wait_for(lambda: "cache" in engine.statuses, 15, "cache joined")
            await wait_for(lambda: engine.statuses["cache"].health is Health.UNCHECKED, 15, "up")
            assert any(isinstance(e, Notice) and "joined: cache" in e.message for e in events)
            await in_thread(cache.remove, force=True)
            await wait_for(lambda: "cache" not in engine.statuses, 15, "cache left")
            assert "cache" not in engine.recipe.services
            assert engine.statuses["db"].health is Health.HEALTHY  # the rest kept their state
        finally:
            await engine.stop()
