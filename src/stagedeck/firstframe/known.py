"""What the early frame can show at once: the recipe's services, or the engine's containers.

Standard library only (and :mod:`stagedeck.dockerwire`, the engine's wire format
the cockpit reads too), and every string from outside through the text gate (a
recipe, a container label, a log line are all hostile). The Docker engine is
asked over its Unix socket with plain HTTP/1.0 (one connection per request, all
in flight together, a hard deadline): importing the Docker SDK alone takes
longer than the whole early frame is allowed. A remote engine (tcp://, ssh://)
gets no early frame; the cockpit talks to it as always.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import quote

from stagedeck.firstframe.argv import CockpitRequest
from stagedeck.text import clean

if TYPE_CHECKING:
    from stagedeck.dockerwire.logframes import Line

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
"""The compose labels, as ``targets/docker/state.py`` names them (that module imports the
recipe model: 30 ms this frame cannot wait for)."""

DOCKER_DEADLINE_S = 0.25
"""The longest the early frame waits for the engine; slower, and there is no early frame."""

LOG_LINES_WANTED = 60
"""Log lines asked for across all containers (more than any terminal's log pane shows)."""


class Row(NamedTuple):
    """One service as far as is known: ``health`` is healthy, down, starting, unknown or none."""

    name: str
    state: str
    health: str


class LogLine(NamedTuple):
    at: float
    """Seconds since the epoch (UTC), for order and the local time shown."""
    service: str
    text: str


class Known(NamedTuple):
    name: str
    target: str
    rows: list[Row]
    logs: list[LogLine]
    socket: str | None = None
    """The Docker engine's socket, to follow ``streams`` on while the frame is up."""
    streams: tuple[tuple[str, str, float], ...] = ()
    """(container id, service, time of its last line shown) per running container."""


def what_is_known(request: CockpitRequest) -> Known | None:
    """The frame's content for ``request``, or None when too little is known to be useful."""
    if request.command == "docker":
        return docker_known(request.project)
    if request.command == "demo":
        from stagedeck import __file__ as package

        return recipe_known(Path(package).parent / "demo" / "demo.toml")
    assert request.recipe is not None
    return recipe_known(request.recipe)


# --------------------------------------------------------------------------- recipes


def recipe_known(path: Path) -> Known | None:
    """The services a recipe file names, in its order, their state not known yet.

    A recipe that includes others is left to the cockpit: its services are spread
    over files this reader does not merge.
    """
    import tomllib

    with open(path, "rb") as file:
        data = tomllib.load(file)
    environment = data.get("environment") or {}
    services = data.get("services")
    if "include" in data or not isinstance(environment, dict) or not isinstance(services, dict):
        return None
    if not services:
        return None
    name = clean(environment.get("name") or path.stem)
    target = clean(environment.get("target") or "local")
    # "–", not "pending": an environment process may already be running them (attach).
    return Known(name, target, [Row(clean(s), "–", "unknown") for s in services], [])


# --------------------------------------------------------------------------- docker


def docker_socket() -> str | None:
    """The engine's Unix socket as the Docker SDK would find it (DOCKER_HOST or the default)."""
    host = os.environ.get("DOCKER_HOST", "")
    if not host:
        return "/var/run/docker.sock"
    if host.startswith("unix://"):
        return host[len("unix://") :]
    return None


def docker_known(project: str | None) -> Known | None:
    """The project's containers and their last log lines, if the engine answers in time."""
    path = docker_socket()
    if path is None or not os.path.exists(path):
        return None
    deadline = time.monotonic() + DOCKER_DEADLINE_S
    filters = quote(json.dumps({"label": [PROJECT_LABEL]}))
    (listing,) = http_get(path, [f"/containers/json?all=1&filters={filters}"], deadline)
    if listing is None:
        return None
    chosen = choose(json.loads(listing), project)
    if chosen is None:
        return None
    name, containers = chosen
    rows = [container_row(c) for c in containers]
    running = [c for c in containers if is_running(c)]
    tail = max(3, LOG_LINES_WANTED // max(1, len(running)))
    bodies = http_get(
        path,
        [
            f"/containers/{quote(str(c.get('Id')))}/logs?stdout=1&stderr=1&timestamps=1&tail={tail}"
            for c in running
        ],
        deadline,
    )
    logs: list[LogLine] = []
    streams: list[tuple[str, str, float]] = []
    now = time.time()
    for container, body in zip(running, bodies, strict=True):
        service = service_of(container)
        lines = log_lines(service, body) if body is not None else []
        logs.extend(lines)
        streams.append((str(container.get("Id")), service, max((x.at for x in lines), default=now)))
    logs.sort()
    return Known(clean(name), "docker", rows, logs[-LOG_LINES_WANTED:], path, tuple(streams))


def choose(listing: Any, wanted: str | None) -> tuple[str, list[dict[str, Any]]] | None:
    """The project the cockpit will open (as ``choose_project`` decides) and its containers."""
    projects: dict[str, list[dict[str, Any]]] = {}
    for container in listing if isinstance(listing, list) else ():
        labels = container.get("Labels") or {}
        if labels.get(ONEOFF_LABEL, "False") == "True" or PROJECT_LABEL not in labels:
            continue
        projects.setdefault(str(labels[PROJECT_LABEL]), []).append(container)
    if wanted is None and len(projects) == 1:
        wanted = next(iter(projects))
    if wanted not in projects:
        return None  # the cockpit's own discovery explains it
    by_service: dict[str, dict[str, Any]] = {}
    for container in projects[wanted]:
        service = service_of(container)
        # One row per service, as the cockpit shows it: a running replica first.
        current = by_service.get(service)
        if current is None or (is_running(container) and not is_running(current)):
            by_service[service] = container
    return wanted, [by_service[s] for s in sorted(by_service)]


def is_running(container: dict[str, Any]) -> bool:
    return container.get("State") == "running"


def service_of(container: dict[str, Any]) -> str:
    labels = container.get("Labels") or {}
    names = container.get("Names") or ["?"]
    return clean(labels.get(SERVICE_LABEL) or str(names[0]).lstrip("/"))


def container_row(container: dict[str, Any]) -> Row:
    status = str(container.get("Status") or "")
    if "(healthy)" in status:
        health = "healthy"
    elif "(unhealthy)" in status:
        health = "down"
    elif "(health: starting)" in status:
        health = "starting"
    else:
        health = "none"
    return Row(service_of(container), clean(container.get("State") or "unknown"), health)


def log_lines(service: str, body: bytes) -> list[LogLine]:
    """Lines of a ``timestamps=1`` log body (multiplexed frames, or raw for a TTY container),
    read by the cockpit's own decoder: a line the log driver cut into partial messages is
    one line here too."""
    from stagedeck.dockerwire.logframes import LogDecoder  # a recipe's early frame needs none

    decoder = LogDecoder(tty=None)
    return gated_lines(service, decoder.feed(body) + decoder.flush())


def gated_lines(service: str, lines: Iterable[Line]) -> list[LogLine]:
    """Decoded lines as the frame shows them: seconds since the epoch, text through the gate."""
    return [LogLine(ns / 1e9, service, clean(text.rstrip("\r"))) for ns, _, text in lines]


def send_get(path: str, target: str, timeout: float) -> socket.socket | None:
    """A connection to the engine's socket at ``path`` that has sent ``GET target`` (HTTP/1.0:
    the engine closes it after its answer), left non-blocking for a selector; None if
    the engine could not be reached within ``timeout``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(f"GET {target} HTTP/1.0\r\nHost: docker\r\n\r\n".encode("ascii"))
        sock.setblocking(False)
    except OSError:
        sock.close()
        return None
    return sock


def http_get(path: str, targets: Sequence[str], deadline: float) -> list[bytes | None]:
    """GET each target from the Unix socket at ``path``, all at once: bodies of 2xx answers.

    HTTP/1.0, so the engine closes each connection after its answer (no chunking,
    no keep-alive to manage). Anything not complete by ``deadline`` is None.
    """
    from stagedeck.dockerwire.response import response_body  # a recipe's early frame needs none

    results: list[bytes | None] = [None] * len(targets)
    buffers: dict[int, bytearray] = {}
    selector = selectors.DefaultSelector()
    try:
        for index, target in enumerate(targets):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            opened = send_get(path, target, remaining)
            if opened is None:
                continue
            buffers[index] = bytearray()
            selector.register(opened, selectors.EVENT_READ, index)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            for key, _ in selector.select(remaining):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    chunk = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                    buffers.pop(key.data, None)
                if chunk:
                    buffers[key.data].extend(chunk)
                    continue
                selector.unregister(sock)
                sock.close()
                if key.data in buffers:
                    results[key.data] = response_body(bytes(buffers[key.data]))
    finally:
        for key in list(selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        selector.close()
    return results
