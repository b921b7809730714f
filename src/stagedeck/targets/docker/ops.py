"""Blocking Docker operations the target runs in threads: connect, look, recreate, exec.

Nothing here may be called on the event loop. Each function does one thing
against the engine and returns plain data (or raises), so the target can run
it with ``asyncio.to_thread`` and decide on the loop what it means.
"""

from __future__ import annotations

import os
import socket as pysocket
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import docker
import docker.utils.socket as docker_socket

from stagedeck.dockerwire.logframes import LogDecoder
from stagedeck.targets.docker.state import (
    ContainerView,
    Selector,
    common_label_filter,
    pick_container,
    view_from_inspect,
)

MAX_POOL_SIZE = 128
"""Every log stream holds a connection; a small pool would churn and warn."""

API_TIMEOUT = 30.0
STOP_GRACE_SECONDS = 10


def connect(docker_host: str | None = None, timeout: float = API_TIMEOUT) -> docker.DockerClient:
    """A client from ``docker_host`` or the standard environment (DOCKER_HOST, default socket).

    The API version is negotiated here, so this talks to the engine and raises
    when it cannot be reached.
    """
    if docker_host:
        client = docker.DockerClient(
            base_url=docker_host, timeout=int(timeout), max_pool_size=MAX_POOL_SIZE
        )
    else:
        client = docker.from_env(timeout=int(timeout), max_pool_size=MAX_POOL_SIZE)
    try:
        client.ping()
    except Exception:
        client.close()
        raise
    return client


def describe_error(exc: BaseException) -> str:
    """A short reason from the SDK's nested exceptions: 'connection refused', 'no such file'."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror.lower()
        if isinstance(current, docker.errors.APIError):
            return str(current.explanation or current)
        for nested in (current.__cause__, current.__context__, *current.args):
            if isinstance(nested, BaseException):
                todo.append(nested)
            elif hasattr(nested, "reason") and isinstance(nested.reason, BaseException):
                todo.append(nested.reason)
    text = str(exc)
    if "Connection aborted" in text or "RemoteDisconnected" in text:
        return "connection closed by the engine"
    return text.splitlines()[0][:200] if text else type(exc).__name__


def where(client: docker.DockerClient | None, docker_host: str | None) -> str:
    """The engine's address in words: what DOCKER_HOST says, or the default socket."""
    if client is not None and not str(client.api.base_url).startswith("http+docker://"):
        return str(client.api.base_url)
    return docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


# --------------------------------------------------------------------------- looking


def snapshot(
    api: docker.APIClient, selectors: Mapping[str, Selector]
) -> dict[str, ContainerView | None]:
    """Find and inspect the container of every service (None where there is none)."""
    labels = common_label_filter(selectors)
    filters: dict[str, Any] = {"label": labels} if labels else {}
    summaries = api.containers(all=True, filters=filters)
    out: dict[str, ContainerView | None] = {}
    for service, selector in selectors.items():
        candidates = [
            c
            for c in summaries
            if any(selector.matches(n, c.get("Labels") or {}) for n in c.get("Names") or ())
        ]
        chosen = pick_container(candidates)
        out[service] = None
        if chosen is not None:
            try:
                out[service] = view_from_inspect(api.inspect_container(chosen["Id"]))
            except docker.errors.NotFound:
                pass
    return out


def inspect(api: docker.APIClient, container_id: str) -> ContainerView | None:
    try:
        return view_from_inspect(api.inspect_container(container_id))
    except docker.errors.NotFound:
        return None


# --------------------------------------------------------------------------- recreate


def _create_config(info: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The create request that makes a twin of an inspected container, plus extra networks."""
    short = str(info["Id"])[:12]
    config = dict(info.get("Config") or {})
    if config.get("Hostname") == short:
        del config["Hostname"]  # the engine's default: the new container gets its own
    config["Image"] = config.get("Image") or info.get("Image")
    host = dict(info.get("HostConfig") or {})
    # Keep the data: volumes the image declared got anonymous names; mount them by name.
    mounts = list(host.get("Mounts") or [])
    taken = {m.get("Target") for m in mounts}
    taken |= {b.split(":")[1] for b in host.get("Binds") or [] if ":" in b}
    for mount in info.get("Mounts") or []:
        if mount.get("Type") == "volume" and mount.get("Destination") not in taken:
            mounts.append(
                {
                    "Type": "volume",
                    "Source": mount["Name"],
                    "Target": mount["Destination"],
                    "ReadOnly": not mount.get("RW", True),
                }
            )
    if mounts:
        host["Mounts"] = mounts
    config["HostConfig"] = host
    mode = str(host.get("NetworkMode") or "default")
    networks = (info.get("NetworkSettings") or {}).get("Networks") or {}
    endpoints: dict[str, dict[str, Any]] = {}
    if mode not in ("host", "none") and not mode.startswith("container:"):
        for name, ep in networks.items():
            endpoint: dict[str, Any] = {}
            if name not in ("bridge", "default"):  # aliases are for user networks only
                aliases = [a for a in ep.get("Aliases") or [] if a not in (short, info["Id"])]
                if aliases:
                    endpoint["Aliases"] = aliases
            if ep.get("Links"):
                endpoint["Links"] = ep["Links"]
            if ep.get("IPAMConfig"):
                endpoint["IPAMConfig"] = ep["IPAMConfig"]
            endpoints[name] = endpoint
    first = mode if mode in endpoints else next(iter(endpoints), "")
    if first:
        config["NetworkingConfig"] = {"EndpointsConfig": {first: endpoints.pop(first)}}
    return config, endpoints


def recreate(api: docker.APIClient, container_id: str, grace: int = STOP_GRACE_SECONDS) -> str:
    """Replace a container by a new one with the same configuration and start it.

    The old one is stopped and renamed aside first (it holds the name and the
    published ports); if the new one cannot be created or started, the old one
    gets its name back and is started again, so a failed recreate leaves the
    service as it was.
    """
    info = api.inspect_container(container_id)
    name = str(info["Name"]).lstrip("/")
    config, extra_networks = _create_config(info)
    api.stop(container_id, timeout=grace)
    aside = f"{name}-stagedeck-old-{str(info['Id'])[:12]}"
    api.rename(container_id, aside)
    new_id = ""
    try:
        new_id = str(api.create_container_from_config(config, name=name)["Id"])
        for network, endpoint in extra_networks.items():
            api.connect_container_to_network(
                new_id,
                network,
                aliases=endpoint.get("Aliases"),
                links=endpoint.get("Links"),
            )
        api.start(new_id)
    except Exception:
        if new_id:
            try:
                api.remove_container(new_id, force=True)
            except docker.errors.DockerException:
                pass
        api.rename(container_id, name)
        api.start(container_id)
        raise
    api.remove_container(container_id, v=False, force=True)
    return new_id


# --------------------------------------------------------------------------- exec


class ExecSession:
    """One ``exec`` inside a container, its output streamed as it comes.

    ``run`` blocks (call it in a thread); ``cancel`` may be called from any
    thread and makes ``run`` return at once.
    """

    def __init__(
        self,
        api: docker.APIClient,
        container_id: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None,
        on_lines: Callable[[list[str]], None],
    ) -> None:
        self.api = api
        self.container_id = container_id
        self.argv = list(argv)
        self.env = [f"{k}={v}" for k, v in (env or {}).items()]
        self.on_lines = on_lines
        self._lock = threading.Lock()
        self._socket: Any = None
        self._cancelled = False

    def run(self) -> int:
        """The command's exit code (-1 when cancelled or unknown)."""
        exec_id = self.api.exec_create(
            self.container_id,
            self.argv,
            stdout=True,
            stderr=True,
            environment=self.env or None,
        )["Id"]
        sock = self.api.exec_start(exec_id, socket=True)
        raw = getattr(sock, "_sock", sock)
        if hasattr(raw, "settimeout"):
            raw.settimeout(None)  # a quiet seed may print nothing for minutes
        with self._lock:
            self._socket = raw
            cancelled = self._cancelled
        decoder = LogDecoder(tty=False, timestamps=False)
        try:
            while not cancelled:
                try:
                    data = docker_socket.read(sock, 65536)
                except OSError:
                    break
                if not data:
                    break
                self._emit(decoder.feed(data))
                cancelled = self._cancelled
        finally:
            self._emit(decoder.flush())
            try:
                sock.close()
            except OSError:
                pass
        if self._cancelled:
            return -1
        code = self.api.exec_inspect(exec_id).get("ExitCode")
        return int(code) if code is not None else -1

    def _emit(self, lines: list[tuple[int, str, str]]) -> None:
        if lines:
            self.on_lines([text for _, _, text in lines])

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            raw = self._socket
        if raw is not None:
            try:
                raw.shutdown(pysocket.SHUT_RDWR)
            except OSError:
                pass
