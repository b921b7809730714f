"""Zero-config compose: find compose projects on an engine and describe one as a Recipe.

Compose labels every container it makes (project, service, the project's
``depends_on``), so a running project already says what a recipe would:
services, their dependency graph, their published ports. Docker health
checks give the health; a small user recipe (the *overlay*) can add what
Docker cannot know: HTTP probe paths, latency probes, seeds and suites.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker

from stagedeck.recipe.model import Environment, Recipe, Service
from stagedeck.targets.docker.ops import connect, describe_error
from stagedeck.targets.docker.state import (
    CONFIG_FILES_LABEL,
    DEPENDS_LABEL,
    NUMBER_LABEL,
    ONEOFF_LABEL,
    PROJECT_LABEL,
    SERVICE_LABEL,
    WORKDIR_LABEL,
    parse_depends_on,
)
from stagedeck.text import clean

HTTP_PORTS = (80, 8080, 8000, 3000, 5000, 8081, 8888, 9000, 443, 8443)
"""Container ports that most likely speak HTTP, best first, when a service publishes several."""


@dataclass(frozen=True)
class ProjectInfo:
    """One compose project as the engine's containers describe it."""

    name: str
    services: tuple[str, ...]
    containers: int
    running: int
    working_dir: str = ""
    config_files: str = ""


class DiscoveryError(Exception):
    """No such project, or the engine could not be asked: the message says which."""


def compose_projects(api: docker.APIClient) -> list[ProjectInfo]:
    """Every compose project with at least one container (blocking)."""
    summaries = api.containers(all=True, filters={"label": [PROJECT_LABEL]})
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for c in summaries:
        labels = c.get("Labels") or {}
        if labels.get(ONEOFF_LABEL, "False") == "True":
            continue
        grouped.setdefault(labels[PROJECT_LABEL], []).append(c)
    projects = []
    for name, containers in sorted(grouped.items()):
        labels = [c.get("Labels") or {} for c in containers]
        services = sorted({lab.get(SERVICE_LABEL, "") for lab in labels} - {""})
        projects.append(
            ProjectInfo(
                name=name,
                services=tuple(services),
                containers=len(containers),
                running=sum(1 for c in containers if c.get("State") == "running"),
                working_dir=_first_label(labels, WORKDIR_LABEL),
                config_files=_first_label(labels, CONFIG_FILES_LABEL),
            )
        )
    return projects


def _first_label(labels: Sequence[Mapping[str, str]], key: str) -> str:
    return next((lab[key] for lab in labels if key in lab), "")


async def list_compose_projects(docker_host: str | None = None) -> list[ProjectInfo]:
    """The compose projects on the engine (``docker_host`` or the standard environment)."""

    def work() -> list[ProjectInfo]:
        client = _connect(docker_host)
        try:
            return compose_projects(client.api)
        finally:
            client.close()

    return await asyncio.to_thread(work)


def choose_project(wanted: str | None = None, *, docker_host: str | None = None) -> str:
    """The project to open: ``wanted`` if it exists, else the only one (blocking).

    Raises :class:`DiscoveryError` naming the projects there are when it cannot
    choose (none, several, or not the one asked for).
    """
    client = _connect(docker_host)
    try:
        return _choose(client.api, wanted)
    finally:
        client.close()


def open_project(
    wanted: str | None, overlay: Recipe | None = None, *, docker_host: str | None = None
) -> Recipe:
    """:func:`choose_project` then :func:`recipe_for_project` on one connection (blocking):
    the cockpit's start waits on both, and a client's first request (the API version
    negotiation) costs as much as the listing."""
    client = _connect(docker_host)
    try:
        return _project_recipe(client.api, _choose(client.api, wanted), overlay)
    finally:
        client.close()


def _choose(api: docker.APIClient, wanted: str | None) -> str:
    projects = compose_projects(api)
    names = [p.name for p in projects]
    if wanted is not None and wanted in names:
        return wanted
    listing = "\n".join(
        f"  {p.name}: {p.running}/{p.containers} running ({', '.join(p.services)})"
        for p in projects
    )
    if wanted is not None:
        raise DiscoveryError(
            f"no compose project '{wanted}' on the engine"
            + (f"; there are:\n{listing}" if projects else "")
        )
    if len(projects) == 1:
        return projects[0].name
    if not projects:
        raise DiscoveryError(
            "no compose projects on the engine (no container has a "
            f"{PROJECT_LABEL} label); start one with docker compose up"
        )
    raise DiscoveryError(f"several compose projects; choose one with --project:\n{listing}")


def recipe_for_project(
    project: str, overlay: Recipe | None = None, *, docker_host: str | None = None
) -> Recipe:
    """Ask the engine about ``project`` and build its recipe (blocking; call before the loop
    starts or through ``asyncio.to_thread``). Raises :class:`DiscoveryError`."""
    client = _connect(docker_host)
    try:
        return _project_recipe(client.api, project, overlay)
    finally:
        client.close()


INSPECT_PARALLEL = 8
"""Inspections in flight at once: each waits ~2 ms on the engine, twenty in a row took 50 ms."""


def _project_recipe(api: docker.APIClient, project: str, overlay: Recipe | None) -> Recipe:
    summaries = api.containers(all=True, filters={"label": [f"{PROJECT_LABEL}={project}"]})
    if not summaries:
        known = ", ".join(p.name for p in compose_projects(api)) or "none"
        raise DiscoveryError(
            f"no containers of compose project '{project}' on {api.base_url}; "
            f"projects there: {known}"
        )
    ids = [c["Id"] for c in summaries]
    if len(ids) > 2:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(min(INSPECT_PARALLEL, len(ids))) as pool:
            inspected = list(pool.map(api.inspect_container, ids))
    else:
        inspected = [api.inspect_container(i) for i in ids]
    return project_recipe(project, inspected, overlay, engine_host=_engine_host(api.base_url))


async def discover_project_recipe(
    project: str, overlay: Recipe | None = None, *, docker_host: str | None = None
) -> Recipe:
    """:func:`recipe_for_project` without blocking the event loop."""
    return await asyncio.to_thread(recipe_for_project, project, overlay, docker_host=docker_host)


def _connect(docker_host: str | None) -> docker.DockerClient:
    try:
        return connect(docker_host)
    except docker.errors.DockerException as exc:
        where = docker_host or "DOCKER_HOST or the default socket"
        raise DiscoveryError(
            f"cannot reach the Docker engine ({where}): {describe_error(exc)}"
        ) from None


def _engine_host(base_url: str) -> str:
    """Where published ports are reachable: the engine's host for tcp://, else this machine."""
    parts = urlsplit(base_url.replace("tcp://", "http://"))
    if parts.scheme in ("http", "https") and parts.hostname not in (None, "localhost"):
        return parts.hostname or "127.0.0.1"
    return "127.0.0.1"


# --------------------------------------------------------------------------- pure part


def _pick(containers: Sequence[Mapping[str, Any]]) -> Mapping[str, Any]:
    def key(c: Mapping[str, Any]) -> tuple[int, int, str]:
        labels = (c.get("Config") or {}).get("Labels") or {}
        number = str(labels.get(NUMBER_LABEL, ""))
        running = (c.get("State") or {}).get("Running")
        return (0 if running else 1, int(number) if number.isdigit() else 1_000_000, "")

    return min(containers, key=key)


def published_url(inspected: Mapping[str, Any], engine_host: str = "127.0.0.1") -> str:
    """``http://HOST:PORT`` for the container's most HTTP-looking published TCP port, or ''."""
    ports = ((inspected.get("NetworkSettings") or {}).get("Ports")) or {}
    published: dict[int, tuple[str, str]] = {}
    for spec, bindings in ports.items():
        number, _, proto = spec.partition("/")
        if proto != "tcp" or not bindings or not number.isdigit():
            continue
        binding = bindings[0]
        host_ip = str(binding.get("HostIp") or "")
        if host_ip in ("", "0.0.0.0", "::"):
            host_ip = engine_host
        elif ":" in host_ip:
            host_ip = f"[{host_ip}]"
        published[int(number)] = (host_ip, str(binding.get("HostPort", "")))
    if not published:
        return ""
    best = next((p for p in HTTP_PORTS if p in published), min(published))
    host, port = published[best]
    return f"http://{host}:{port}"


def _absolute(url: str, base: str) -> str:
    """An overlay's ``/health`` (written without a port, so without a URL) under ``base``."""
    if "://" in url or not base:
        return url
    return base.rstrip("/") + "/" + url.lstrip("/")


def project_recipe(
    project: str,
    inspected: Sequence[Mapping[str, Any]],
    overlay: Recipe | None = None,
    *,
    engine_host: str = "127.0.0.1",
) -> Recipe:
    """The recipe for ``project`` from its containers' inspect documents, with ``overlay`` on top.

    From the labels: services and ``depends_on``. From published ports: each
    service's URL. From the overlay (a recipe with the same service names):
    probes, latency checks, SLOs, timeouts, ``recreate``, seeds and suites; a
    probe path there (``health = "/healthz"``) is taken relative to the URL
    found here.
    """
    by_service: dict[str, list[Mapping[str, Any]]] = {}
    for c in inspected:
        labels = (c.get("Config") or {}).get("Labels") or {}
        if labels.get(PROJECT_LABEL) != project or labels.get(ONEOFF_LABEL, "False") == "True":
            continue
        name = labels.get(SERVICE_LABEL)
        if name:
            by_service.setdefault(str(name), []).append(c)
    over = dict(overlay.services) if overlay is not None else {}
    services: dict[str, Service] = {}
    shown = {raw: clean(raw) for raw in by_service}  # labels are anyone's text: see text.py
    for raw in sorted(by_service):
        name = shown[raw]
        chosen = _pick(by_service[raw])
        labels = (chosen.get("Config") or {}).get("Labels") or {}
        deps = tuple(
            shown[d]
            for d, _ in parse_depends_on(str(labels.get(DEPENDS_LABEL, "")))
            if d in by_service and d != raw
        )
        url = published_url(chosen, engine_host)
        try:
            parts = urlsplit(url) if url else None
            port = parts.port if parts else None
        except ValueError:
            parts, port = None, None
        svc = Service(
            name=name,
            host=parts.hostname or "127.0.0.1" if parts else "127.0.0.1",
            port=port,
            url=url if parts else "",
            depends_on=deps,
            # A name the gate changed no longer matches the label: select by the raw one.
            labels={PROJECT_LABEL: project, SERVICE_LABEL: raw} if name != raw else {},
        )
        if name in over:
            svc = _overlay_service(svc, over.pop(name))
        services[name] = svc
    found = frozenset(services)
    services.update(over)  # overlay services Docker did not show (plain containers by name)
    _break_cycles(services)
    if overlay is not None:
        environment = dataclasses.replace(overlay.environment, target="docker", project=project)
        return dataclasses.replace(
            overlay, environment=environment, services=services, compose_services=found
        )
    return Recipe(
        path=Path(f"docker-compose:{project}"),
        environment=Environment(name=clean(project), target="docker", project=project),
        services=services,
        compose_services=found,
    )


def _break_cycles(services: dict[str, Service]) -> None:
    """Drop the edge that closes each ``depends_on`` cycle the labels describe.

    A recipe with a cycle is refused with a message; a running project is what it
    is, and the cockpit must still open on it. The dropped edge is the last of the
    cycle, so bring-up order follows the rest of what compose was told.
    """
    from stagedeck.engine.graph import DependencyGraph

    for _ in range(len(services) + 1):
        cycle = DependencyGraph({n: s.depends_on for n, s in services.items()}).find_cycle()
        if not cycle:
            return
        user, dep = cycle[-2], cycle[-1]
        svc = services[user]
        services[user] = dataclasses.replace(
            svc, depends_on=tuple(d for d in svc.depends_on if d != dep)
        )


def _overlay_service(found: Service, mine: Service) -> Service:
    url = mine.url if "://" in mine.url else found.url
    health = mine.health
    if health is not None and health.kind == "http":
        health = dataclasses.replace(health, url=_absolute(health.url, url))
    elif health is not None and health.kind == "tcp" and not health.port and found.port:
        health = dataclasses.replace(health, port=found.port)
    port = mine.port if mine.port else found.port
    return dataclasses.replace(
        mine,
        url=url,
        host=mine.host if mine.port else found.host,
        port=port,
        health=health,
        latency=tuple(_absolute(u, url) for u in mine.latency),
        depends_on=mine.depends_on or found.depends_on,
    )
