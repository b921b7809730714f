"""Zero-config Docker follows its compose project: services that join or leave show up.

``stagedeck docker --project P`` describes P as it was when the cockpit opened.
A ``docker compose up`` of one more service, a scaled or removed service, used
to stay invisible for the session. The follower lists the project's containers
(one API call, in a thread) when the Docker target's event stream says one of
them was created or destroyed, or it reconnected (:meth:`DockerTarget.watch_project`),
and once every :data:`FALLBACK_S` in case; without that event source, every
:data:`FOLLOW_INTERVAL_S`. When the set of services changes it discovers the
project again and puts the new recipe in force through
:meth:`Engine.apply_recipe`: new services are watched at once, vanished ones are
dropped, the rest keep their state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from stagedeck.deadline import within
from stagedeck.targets.docker.state import ONEOFF_LABEL, PROJECT_LABEL, SERVICE_LABEL
from stagedeck.text import clean

if TYPE_CHECKING:
    import docker

    from stagedeck.engine.engine import Engine
    from stagedeck.recipe.model import Recipe

log = logging.getLogger(__name__)

FOLLOW_INTERVAL_S = 2.0
"""Between listings when the target offers no events (it lists every time)."""
FALLBACK_S = 30.0
"""Between listings when events drive them: a safety net, not the mechanism."""
SETTLE_S = 0.2
"""After an event, wait this long before listing: ``compose up`` creates its
containers in a burst, one listing covers them all."""


def _overlay(recipe: Recipe) -> Recipe | None:
    """The user's overlay recipe the project was discovered with (None: pure zero-config)."""
    if not recipe.sources:
        return None
    from stagedeck.recipe.model import load_recipe

    try:
        return load_recipe(recipe.path)
    except Exception:  # the overlay was valid at start; an edit since is the reloader's business
        return None


def project_services(
    project: str, docker_host: str | None = None, client: docker.DockerClient | None = None
) -> frozenset[str]:
    """The (cleaned) service names with a container in ``project`` (blocking).

    With ``client`` the listing goes through it (and it stays open); without, a client
    is opened and closed around the one call.
    """
    from stagedeck.targets.docker.discovery import _connect

    own = client is None
    api = _connect(docker_host) if client is None else client
    try:
        summaries = api.api.containers(all=True, filters={"label": [f"{PROJECT_LABEL}={project}"]})
    finally:
        if own:
            api.close()
    names = set()
    for c in summaries:
        labels = c.get("Labels") or {}
        if labels.get(ONEOFF_LABEL, "False") == "True" or not labels.get(SERVICE_LABEL):
            continue
        names.add(clean(str(labels[SERVICE_LABEL])))
    return frozenset(names)


async def follow_project(engine: Engine, *, interval: float | None = None) -> None:
    """Keep ``engine``'s recipe in step with its compose project until cancelled."""
    from stagedeck.targets.docker.discovery import _connect

    project = engine.recipe.environment.project
    overlay = await asyncio.to_thread(_overlay, engine.recipe)
    known = engine.recipe.compose_services or frozenset()
    # One client for the whole session: opening one per listing (a connection and a
    # version request) tripled the listing's CPU, every two seconds for the session.
    client: docker.DockerClient | None = None
    nudged = asyncio.Event()
    watched: object = None
    unwatch: Callable[[], None] | None = None
    try:
        while True:
            target = engine.target
            if target is not watched:  # the first time, or the engine has a new target
                if unwatch is not None:
                    unwatch()
                watch = getattr(target, "watch_project", None)
                unwatch = watch(project, nudged.set) if callable(watch) else None
                watched = target
            if interval is not None or unwatch is None:
                await asyncio.sleep(FOLLOW_INTERVAL_S if interval is None else interval)
            else:
                with contextlib.suppress(TimeoutError):
                    await within(nudged.wait(), FALLBACK_S)
                await asyncio.sleep(SETTLE_S)
                nudged.clear()
            try:
                if client is None:
                    client = await asyncio.to_thread(_connect, None)
                now = await asyncio.to_thread(project_services, project, None, client)
            except Exception as exc:  # the target reports the engine's loss; try again later
                log.debug("listing project %s failed: %s", project, exc)
                if client is not None:
                    client.close()
                    client = None
                continue
            known = await _follow_change(engine, project, overlay, known, now)
    finally:
        if unwatch is not None:
            unwatch()
        if client is not None:
            client.close()


async def _follow_change(
    engine: Engine, project: str, overlay: Recipe | None, known: frozenset[str], now: frozenset[str]
) -> frozenset[str]:
    """Put a changed set of services in force; returns the set now known."""
    from stagedeck.engine.events import Notice
    from stagedeck.targets.docker.discovery import DiscoveryError, discover_project_recipe

    if now == known:
        return known
    try:
        recipe = await discover_project_recipe(project, overlay)
    except DiscoveryError as exc:
        if now:  # a project with no container left is simply empty: keep going
            log.debug("rediscovering %s failed: %s", project, exc)
            return known
        recipe = None
    if recipe is None:
        from dataclasses import replace

        keep = {n: s for n, s in engine.recipe.services.items() if n not in known}
        recipe = replace(engine.recipe, services=keep)
    joined, left = sorted(now - known), sorted(known - now)
    await engine.apply_recipe(recipe)
    words = [f"joined: {', '.join(joined)}"] if joined else []
    words += [f"left: {', '.join(left)}"] if left else []
    engine.bus.publish(Notice(f"compose project {project}: " + "; ".join(words)))
    return now
