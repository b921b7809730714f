"""Test support for the Docker target: images built offline, labelled containers, a cuttable proxy.

No registry is reachable where the tests run, so the images are made here:
a ``FROM scratch`` image holding a static busybox (for containers that log,
sleep, serve HTTP and answer health checks). Every container and network a
test makes carries the label ``stagedeck.test=<prefix>`` and is removed by
the fixture that made the prefix, also when the test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import os
import shutil
import socket
import tarfile
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
import pytest

from support.wait import wait_until

TEST_LABEL = "stagedeck.test"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
DEPENDS_LABEL = "com.docker.compose.depends_on"


def engine_unavailable() -> str | None:
    """Why the Docker tests cannot run here, or None when they can."""
    try:
        client = docker.from_env(timeout=10)
        client.ping()
        client.close()
    except Exception as exc:  # any failure means: no engine for these tests
        return f"no Docker engine reachable (DOCKER_HOST={os.environ.get('DOCKER_HOST', 'unset')}): {exc}"
    return None


def require_engine() -> None:
    reason = engine_unavailable()
    if reason:
        pytest.skip(reason + " — start one with: nohup dockerd >/tmp/dockerd.log 2>&1 &")


def real_socket_path() -> str:
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        return host[len("unix://") :]
    return "/var/run/docker.sock"


# --------------------------------------------------------------------------- images


def _tar_context(
    files: Mapping[str, bytes | Path], modes: Mapping[str, int] | None = None
) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, content in files.items():
            data = content.read_bytes() if isinstance(content, Path) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = (modes or {}).get(name, 0o644)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


BUSYBOX_DOCKERFILE = b"""\
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN mkdir -p /tmp /www /etc && chmod 1777 /tmp && echo 'root:x:0:0:root:/:/bin/sh' > /etc/passwd
CMD ["sh"]
"""


def busybox_image(client: docker.DockerClient) -> str:
    """A tiny image with a static busybox, tagged by content so it is built once per machine."""
    path = shutil.which("busybox")
    if path is None:
        pytest.skip("busybox is not installed (apt-get install busybox-static)")
    binary = Path(path).read_bytes()
    digest = hashlib.sha256(binary + BUSYBOX_DOCKERFILE).hexdigest()[:12]
    tag = f"stagedeck-test-busybox:{digest}"
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    context = _tar_context(
        {"Dockerfile": BUSYBOX_DOCKERFILE, "busybox": binary}, {"busybox": 0o755}
    )
    client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True)
    return tag


# --------------------------------------------------------------------------- containers

LOGGER = (
    'trap "echo bye; exit 0" TERM; i=0; '
    'while true; do i=$((i+1)); echo "$NAME out $i"; echo "$NAME err $i" >&2; sleep {period} & wait $!; done'
)
"""A container that logs a numbered line to stdout and stderr every ``period`` and stops on TERM."""

HEALTHY_FILE = "touch /tmp/healthy; "
WEB = "mkdir -p /www && echo ok > /www/health && httpd -p 8080 -h /www && "


class Kit:
    """Makes labelled containers and networks for one test, and removes them all."""

    def __init__(self, client: docker.DockerClient, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self.image = busybox_image(client)

    def labels(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {TEST_LABEL: self.prefix, **(extra or {})}

    def network(self, name: str) -> str:
        full = f"{self.prefix}-{name}"
        self.client.networks.create(full, labels=self.labels())
        return full

    def container(
        self,
        name: str,
        *,
        script: str = "",
        period: float = 0.5,
        project: str | None = None,
        service: str | None = None,
        depends_on: str = "",
        healthcheck: bool = False,
        web: bool = False,
        network: str | None = None,
        env: Mapping[str, str] | None = None,
        start: bool = True,
        restart: str = "",
        oneoff: bool = False,
        tty: bool = False,
    ) -> Any:
        """A busybox container named ``<prefix>-<name>`` that logs (or runs ``script``)."""
        labels = self.labels()
        if project is not None:
            labels[PROJECT_LABEL] = project
            labels[SERVICE_LABEL] = service or name
            labels["com.docker.compose.oneoff"] = "True" if oneoff else "False"
            labels["com.docker.compose.container-number"] = "1"
            if depends_on:
                labels[DEPENDS_LABEL] = depends_on
        body = script or LOGGER.format(period=period)
        prefix = (HEALTHY_FILE if healthcheck else "") + (WEB if web else "")
        kwargs: dict[str, Any] = {}
        if healthcheck:
            kwargs["healthcheck"] = {
                "test": ["CMD", "test", "-f", "/tmp/healthy"],
                "interval": 300_000_000,
                "timeout": 1_000_000_000,
                "retries": 1,
                "start_period": 0,
            }
        if web:
            kwargs["ports"] = {"8080/tcp": ("127.0.0.1", None)}
        if restart:
            kwargs["restart_policy"] = {"Name": restart}
        if tty:
            kwargs["tty"] = True
        full = f"{self.prefix}-{name}"
        container = self.client.containers.create(
            self.image,
            ["sh", "-c", prefix + body],
            name=full,
            labels=labels,
            environment={"NAME": name, **(env or {})},
            network=network,
            **kwargs,
        )
        if start:
            container.start()
        return container

    def remove_all(self) -> None:
        for c in self.client.containers.list(
            all=True, filters={"label": f"{TEST_LABEL}={self.prefix}"}
        ):
            with contextlib.suppress(docker.errors.APIError):
                c.remove(force=True, v=True)
        # Containers renamed aside by a recreate keep the label; the prefix catches leftovers too.
        for c in self.client.containers.list(all=True, filters={"name": self.prefix}):
            with contextlib.suppress(docker.errors.APIError):
                c.remove(force=True, v=True)
        for n in self.client.networks.list(filters={"label": f"{TEST_LABEL}={self.prefix}"}):
            with contextlib.suppress(docker.errors.APIError):
                n.remove()


def new_prefix() -> str:
    return f"sdt{uuid.uuid4().hex[:8]}"


@contextlib.contextmanager
def kit() -> Iterator[Kit]:
    require_engine()
    client = docker.from_env(timeout=60)
    made = Kit(client, new_prefix())
    try:
        yield made
    finally:
        made.remove_all()
        client.close()


# --------------------------------------------------------------------------- waiting


async def wait_for(
    predicate: Callable[[], bool], timeout: float, what: str = "condition", interval: float = 0.05
) -> None:
    """``support.wait.wait_until`` with the timeout said at every call (Docker is slow)."""
    await wait_until(predicate, timeout, what, interval=interval)


async def in_thread(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Blocking SDK calls from a test go to a thread, like the target's own."""
    return await asyncio.to_thread(func, *args, **kwargs)


# --------------------------------------------------------------------------- proxy


class SocketProxy:
    """A unix-socket proxy in front of the Docker engine that a test can cut and restore.

    ``cut()`` closes every connection and removes the socket file, which is
    what a client sees when the engine goes away (stream ends, then
    "connection refused"/"no such file"); ``restore()`` listens again.
    """

    def __init__(self, path: str, upstream: str | None = None) -> None:
        self.path = path
        self.upstream = upstream or real_socket_path()
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.accepted = 0

    @property
    def docker_host(self) -> str:
        return f"unix://{self.path}"

    def start(self) -> SocketProxy:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        listener.listen(128)
        with self._lock:
            self._listener = listener
        thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    restore = start

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
                self.accepted += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    close = cut


def short_socket_path(tmp: Path, name: str = "docker.sock") -> str:
    """Unix socket paths are limited to ~100 bytes; pytest's tmp paths can be longer."""
    path = tmp / name
    if len(str(path)) < 100:
        return str(path)
    return f"/tmp/{new_prefix()}-{name}"
