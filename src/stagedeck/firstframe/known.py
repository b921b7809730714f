"""What the early frame can show at once: the recipe's services, or the engine's containers.

Standard library only, and every string from outside through the text gate (a
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
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

from stagedeck.firstframe.argv import CockpitRequest
from stagedeck.text import clean

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
    """Lines of a ``timestamps=1`` log body: multiplexed frames, or raw for a TTY container."""
    streams: dict[int, bytearray] = {}
    if len(body) >= 8 and body[0] in (0, 1, 2) and body[1:4] == b"\0\0\0":
        offset = 0
        while offset + 8 <= len(body):
            size = int.from_bytes(body[offset + 4 : offset + 8], "big")
            payload = body[offset + 8 : offset + 8 + size]
            streams.setdefault(body[offset], bytearray()).extend(payload)
            offset += 8 + size
    else:
        streams[1] = bytearray(body)
    lines: list[LogLine] = []
    for data in streams.values():
        lines += stamped_lines(service, bytes(data).split(b"\n"))
    return lines


def stamped_lines(service: str, raw_lines: list[bytes]) -> list[LogLine]:
    """``timestamps=1`` lines (``STAMP TEXT``) through the gate; unstamped ones are dropped."""
    lines: list[LogLine] = []
    for raw in raw_lines:
        stamp, _, text = raw.decode("utf-8", "replace").rstrip("\r").partition(" ")
        at = parse_stamp(stamp)
        if at is not None:
            lines.append(LogLine(at, service, clean(text)))
    return lines


def parse_stamp(stamp: str) -> float | None:
    """Seconds since the epoch of Docker's RFC 3339 UTC stamp (``2026-12-01T23:41:32.12Z``).

    By hand rather than ``calendar.timegm`` (as ``targets/docker/state.py`` does): importing
    ``calendar`` brings ``locale`` and ``datetime``, 5-6 ms of an 80 ms early frame."""
    if len(stamp) < 20 or stamp[10] != "T" or not stamp.endswith("Z"):
        return None
    try:
        year, month, day = int(stamp[0:4]), int(stamp[5:7]), int(stamp[8:10])
        hour, minute, second = int(stamp[11:13]), int(stamp[14:16]), int(stamp[17:19])
        fraction = float("0" + stamp[19:-1]) if stamp[19] == "." else 0.0
    except ValueError:
        return None
    return days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second + fraction


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


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
    """GET each target from the Unix socket at ``path``, all at once: bodies of 200 answers.

    HTTP/1.0, so the engine closes each connection after its answer (no chunking,
    no keep-alive to manage). Anything not complete by ``deadline`` is None.
    """
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


def response_body(response: bytes) -> bytes | None:
    """The body of a complete HTTP/1.x 200 response (de-chunked if need be), else None."""
    head, separator, body = response.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    if not separator or len(lines[0].split()) < 2 or lines[0].split()[1] != b"200":
        return None
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(b":") for h in lines[1:])}
    if headers.get(b"transfer-encoding", b"").lower() != b"chunked":
        return body
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0:
            break
        out.extend(rest[:size])
        body = rest[size + 2 :]
    return bytes(out)
