"""The demo on Docker: the same six services, each in a container, compose-style.

``stagedeck demo --target docker`` runs:

1. :func:`build_base_image` — without a registry there is no ``python`` image
   to pull, so by default one is made from *this* machine's Python: the
   interpreter, its standard library and the shared libraries they load
   (found with ``ldd``), imported as a ``FROM scratch``-style image. It is
   tagged by content and built once per machine. ``--base-image IMG`` uses
   any local image that has ``python3`` instead.
2. :func:`build_demo_image` — the base plus the ``stagedeck`` package source
   (the demo services use only the standard library).
3. :func:`run_demo_stack` — one network, one container per service with the
   compose labels (project, service, ``depends_on``), a Docker HEALTHCHECK,
   and the service port published on 127.0.0.1 so the cockpit on the host
   can probe it. Returns a docker :class:`Recipe` for the stack.
4. :func:`cleanup_demo_stack` — removes the containers and the network.
   Stacks whose owner process died are removed on the next run.

All of these block: call them before the event loop starts or in a thread.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
import socket
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import docker

import stagedeck
from stagedeck.recipe.model import Recipe, Seed, Service, Suite, Traces, Verify, load_recipe
from stagedeck.targets.docker.ops import connect, describe_error
from stagedeck.targets.docker.state import (
    DEPENDS_LABEL,
    NUMBER_LABEL,
    ONEOFF_LABEL,
    PROJECT_LABEL,
    SERVICE_LABEL,
)
from stagedeck.traces.env import otel_env

DEMO_LABEL = "stagedeck.demo"
"""On every container and network of a demo stack; the value is the project name."""
OWNER_LABEL = "stagedeck.demo.owner"
"""``host:pid`` of the process that made the stack, to clean up after a crash."""
BASE_REPOSITORY = "stagedeck-python"
DEMO_REPOSITORY = "stagedeck-demo"
APP_DIR = "/opt/stagedeck"

_SKIP_DIRS = frozenset(
    {
        "site-packages",
        "dist-packages",
        "test",
        "tests",
        "idlelib",
        "tkinter",
        "turtledemo",
        "ensurepip",
        "lib2to3",
        "__phello__",
    }
)


class DemoImageError(Exception):
    """The demo image could not be built; the message says why and what to do."""


# --------------------------------------------------------------------------- base image


def _ldd(path: Path) -> set[str]:
    try:
        out = subprocess.run(
            ["ldd", str(path)], capture_output=True, text=True, check=False, timeout=30
        ).stdout
    except FileNotFoundError:
        raise DemoImageError(
            "ldd is needed to build a Python image from this machine's Python; "
            "install it (libc-bin) or pass --base-image with a local image that has python3"
        ) from None
    libs: set[str] = set()
    for line in out.splitlines():
        for word in line.split():
            if word.startswith("/"):
                libs.add(word)
    return libs


def _python_files() -> Iterator[tuple[str, Path]]:
    """(path in the image, path here) for the interpreter, its stdlib and shared libraries."""
    exe = Path(os.path.realpath(sys.executable))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    yield str(exe), exe
    needs = _ldd(exe)
    tag = sys.implementation.cache_tag
    for root, dirs, files in os.walk(stdlib):
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in _SKIP_DIRS and not d.startswith("config-") and not d.startswith("test")
        )
        for name in sorted(files):
            path = Path(root) / name
            if name.endswith(".pyc") and not name.endswith(f".{tag}.pyc"):
                continue  # optimised variants are never used by a plain `python3`
            if name.startswith("_tkinter") or name.endswith((".a", ".exe")):
                continue
            if name.endswith(".so"):
                needs |= _ldd(path)
            yield str(path), path
    for lib in sorted(needs):
        yield lib, Path(lib)


def _base_tag() -> str:
    exe = os.path.realpath(sys.executable)
    facts = f"{sys.version}|{exe}|{sysconfig.get_paths()['stdlib']}|{os.uname().machine}|v2"
    return (
        f"{BASE_REPOSITORY}:{sys.version_info.major}.{sys.version_info.minor}-"
        + hashlib.sha256(facts.encode()).hexdigest()[:12]
    )


def _image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def build_base_image(*, docker_host: str | None = None, force: bool = False) -> str:
    """A Python image made from this machine's interpreter (no registry needed); its tag."""
    tag = _base_tag()
    client = _client(docker_host)
    try:
        if not force and _image_exists(client, tag):
            return tag
        exe = os.path.realpath(sys.executable)
        files = list(_python_files())
        lib_dirs = sorted({str(Path(p).parent) for p, _ in files if ".so" in p})
        with tempfile.TemporaryDirectory(prefix="stagedeck-rootfs-") as tmp:
            rootfs = Path(tmp) / "rootfs.tar"
            with tarfile.open(rootfs, "w", dereference=True) as tar:
                seen: set[str] = set()
                for inside, here in files:
                    if inside in seen or not here.exists():
                        continue
                    seen.add(inside)
                    tar.add(here, arcname=inside.lstrip("/"), recursive=False)
                for link in ("usr/local/bin/python3", "usr/local/bin/python"):
                    info = tarfile.TarInfo(link)
                    info.type = tarfile.SYMTYPE
                    info.linkname = exe
                    tar.addfile(info)
                for folder in ("tmp", "etc"):
                    info = tarfile.TarInfo(folder)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o1777 if folder == "tmp" else 0o755
                    tar.addfile(info)
                passwd = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
                info = tarfile.TarInfo("etc/passwd")
                info.size = len(passwd)
                tar.addfile(info, io.BytesIO(passwd))
            repository, _, version = tag.partition(":")
            changes = [
                "ENV PATH=/usr/local/bin:/usr/bin:/bin",
                "ENV LD_LIBRARY_PATH=" + ":".join(lib_dirs),
                "ENV PYTHONDONTWRITEBYTECODE=1",
                'CMD ["python3"]',
            ]
            try:
                client.api.import_image_from_file(
                    str(rootfs), repository=repository, tag=version, changes=changes
                )
            except docker.errors.DockerException as exc:
                raise DemoImageError(
                    f"cannot import the Python image: {describe_error(exc)}"
                ) from None
        if not _image_exists(client, tag):
            raise DemoImageError(f"the engine did not keep the imported image {tag}")
        return tag
    finally:
        client.close()


# --------------------------------------------------------------------------- demo image

DOCKERFILE = """\
FROM {base}
COPY stagedeck {app}/stagedeck
ENV PYTHONPATH={app} PYTHONUNBUFFERED=1
WORKDIR {app}
CMD ["python3", "-m", "stagedeck.demo.serve", "gateway", "--host", "0.0.0.0"]
"""


def _package_files() -> list[tuple[str, bytes]]:
    root = Path(stagedeck.__file__).resolve().parent
    files: list[tuple[str, bytes]] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
            continue
        files.append(("stagedeck/" + path.relative_to(root).as_posix(), path.read_bytes()))
    return files


def build_demo_image(base_image: str | None = None, *, docker_host: str | None = None) -> str:
    """The demo services' image (built once per package content and base); its tag.

    ``base_image`` is any local image with ``python3`` on its PATH; by default
    one is built from this machine's Python (:func:`build_base_image`).
    """
    base = base_image or build_base_image(docker_host=docker_host)
    client = _client(docker_host)
    try:
        try:
            base_id = client.images.get(base).id
        except docker.errors.ImageNotFound:
            raise DemoImageError(
                f"base image {base} is not on this engine (no registry to pull from); "
                "build or load it first, or leave out --base-image to make one from this Python"
            ) from None
        files = _package_files()
        dockerfile = DOCKERFILE.format(base=base, app=APP_DIR).encode()
        digest = hashlib.sha256(base_id.encode() + dockerfile)
        for name, data in files:
            digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
        tag = f"{DEMO_REPOSITORY}:{digest.hexdigest()[:12]}"
        if _image_exists(client, tag):
            return tag
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            for name, data in [("Dockerfile", dockerfile), *files]:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
        context.seek(0)
        try:
            client.images.build(
                fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True, pull=False
            )
        except docker.errors.BuildError as exc:
            tail = " ".join(str(c.get("stream", c.get("error", ""))).strip() for c in exc.build_log)
            raise DemoImageError(f"building the demo image failed: {tail[-400:]}") from None
        except docker.errors.DockerException as exc:
            raise DemoImageError(f"building the demo image failed: {describe_error(exc)}") from None
        _prune_old(client, DEMO_REPOSITORY, keep=tag)
        return tag
    finally:
        client.close()


def _prune_old(client: docker.DockerClient, repository: str, keep: str) -> None:
    """Remove older builds of ``repository`` (one per source change) that nothing uses."""
    for image in client.images.list(name=repository):
        if keep in image.tags:
            continue
        for tag in image.tags:
            try:
                client.api.remove_image(tag)
            except docker.errors.APIError:
                pass  # a container still uses it: keep it


# --------------------------------------------------------------------------- the stack


@dataclass(frozen=True)
class DemoStack:
    """A running demo on Docker: what to watch (``recipe``) and what to remove."""

    project: str
    network: str
    image: str
    containers: Mapping[str, str]
    """Service name -> container name."""
    ports: Mapping[str, int]
    """Service name -> port published on 127.0.0.1."""
    recipe: Recipe
    docker_host: str | None = None


def _client(docker_host: str | None) -> docker.DockerClient:
    try:
        return connect(docker_host, timeout=300)
    except docker.errors.DockerException as exc:
        where = docker_host or "DOCKER_HOST or the default socket"
        raise DemoImageError(
            f"cannot reach the Docker engine ({where}): {describe_error(exc)}"
        ) from None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _url_rewriter(mapping: Mapping[str, str]) -> Callable[[str], str]:
    """Replaces each local URL (``http://127.0.0.1:47101``) by its counterpart, port-exact."""
    if not mapping:
        return lambda text: text
    pattern = re.compile(
        "|".join(re.escape(u) + r"(?!\d)" for u in sorted(mapping, key=len, reverse=True))
    )

    def rewrite(text: str) -> str:
        return pattern.sub(lambda m: mapping[m.group(0)], text)

    return rewrite


def _container_command(svc: Service) -> list[str]:
    argv = list(svc.command)
    if argv and (argv[0] == sys.executable or Path(argv[0]).name.startswith("python")):
        argv[0] = "python3"
    if "stagedeck.demo.serve" in argv and "--host" not in argv:
        argv += ["--host", "0.0.0.0"]
    return argv


HEALTH_PROBE = """\
import socket, sys
s = socket.create_connection(("127.0.0.1", {port}), timeout=2)
s.sendall(b"GET {path} HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n")
sys.exit(0 if s.recv(16).split(b" ")[1:2] == [b"200"] else 1)
"""
"""A Docker HEALTHCHECK that needs nothing but ``python3``: a raw HTTP/1.0 GET.

Only ``socket`` is imported and ``-S`` skips site: each check costs a few
milliseconds of CPU instead of the tens that ``urllib.request`` would.
"""


def _healthcheck(svc: Service, interval: float) -> dict[str, Any] | None:
    if svc.health is None or svc.health.kind != "http" or not svc.port:
        return None
    path = urlsplit(svc.health.url).path or "/"
    probe = HEALTH_PROBE.format(port=svc.port, path=path)
    return {
        "test": ["CMD", "python3", "-S", "-c", probe],
        "interval": int(interval * 1e9),
        "timeout": 2_000_000_000,
        "retries": 3,
        "start_period": 0,
    }


def cleanup_stale_demo_stacks(*, docker_host: str | None = None) -> list[str]:
    """Remove demo stacks made on this host by processes that no longer exist; their names."""
    client = _client(docker_host)
    try:
        host = socket.gethostname()
        stale: set[str] = set()
        for c in client.api.containers(all=True, filters={"label": [OWNER_LABEL]}):
            labels = c.get("Labels") or {}
            owner_host, _, pid = str(labels.get(OWNER_LABEL, "")).rpartition(":")
            if owner_host == host and pid.isdigit() and not _alive(int(pid)):
                stale.add(str(labels.get(DEMO_LABEL, "")))
    finally:
        client.close()
    for project in sorted(stale - {""}):
        cleanup_demo_stack(project, docker_host=docker_host)
    return sorted(stale - {""})


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_demo_stack(
    image: str,
    *,
    project: str | None = None,
    recipe_path: Path | None = None,
    docker_host: str | None = None,
    health_interval: float = 5.0,
) -> DemoStack:
    """Start the demo services as containers of one compose-style project; a recipe for them.

    Containers start in dependency order without waiting for health (the
    cockpit shows them coming up). On any failure everything made so far is
    removed again.
    """
    from stagedeck.demo import recipe_path as default_recipe_path

    cleanup_stale_demo_stacks(docker_host=docker_host)
    demo = load_recipe(recipe_path or default_recipe_path())
    project = project or f"stagedeck-demo-{uuid.uuid4().hex[:6]}"
    network = f"{project}_default"
    owner = f"{socket.gethostname()}:{os.getpid()}"
    common = {DEMO_LABEL: project, OWNER_LABEL: owner, PROJECT_LABEL: project}
    ports = {name: _free_port() for name, svc in demo.services.items() if svc.port}
    inside = _url_rewriter(
        {s.url: f"http://{n}:{s.port}" for n, s in demo.services.items() if s.url and s.port}
    )
    containers: dict[str, str] = {}
    client = _client(docker_host)
    try:
        created_network = client.networks.create(
            network, labels={**common, "com.docker.compose.network": "default"}
        )
        demo = dataclasses.replace(demo, traces=_traces_on(demo, created_network))
        for name in demo.graph.order():
            svc = demo.services[name]
            labels = {
                **common,
                SERVICE_LABEL: name,
                ONEOFF_LABEL: "False",
                NUMBER_LABEL: "1",
                DEPENDS_LABEL: ",".join(f"{d}:service_healthy:false" for d in svc.depends_on),
            }
            env = {**otel_env(demo, name, in_container=True)}
            env.update({k: inside(v) for k, v in svc.env.items()})
            if svc.port:
                env["PORT"] = str(svc.port)
            container_name = f"{project}-{name}-1"
            host_config = client.api.create_host_config(
                port_bindings={svc.port: ("127.0.0.1", ports[name])} if svc.port else None,
            )
            networking = client.api.create_networking_config(
                {network: client.api.create_endpoint_config(aliases=[name])}
            )
            created = client.api.create_container(
                image,
                _container_command(svc),
                name=container_name,
                environment=env,
                labels=labels,
                ports=[svc.port] if svc.port else None,
                host_config=host_config,
                networking_config=networking,
                healthcheck=_healthcheck(svc, health_interval),
                working_dir=APP_DIR,
            )
            containers[name] = container_name
            client.api.start(created["Id"])
    except docker.errors.DockerException as exc:
        client.close()
        cleanup_demo_stack(project, docker_host=docker_host)
        raise DemoImageError(f"starting the demo stack failed: {describe_error(exc)}") from None
    client.close()
    recipe = docker_recipe(demo, project, ports)
    return DemoStack(project, network, image, containers, ports, recipe, docker_host)


def _traces_on(demo: Recipe, network: Any) -> Traces | None:
    """The receiver on the demo network's gateway address, which the containers can reach.

    Listening there rather than on every address keeps the port off other
    networks; the suites, on this machine, reach the same address.
    """
    if demo.traces is None:
        return None
    try:
        network.reload()
        gateway = str(network.attrs["IPAM"]["Config"][0]["Gateway"])
    except (KeyError, IndexError, TypeError, docker.errors.DockerException):
        return None  # no gateway known: the demo runs without traces rather than not at all
    port = _free_port()
    return dataclasses.replace(
        demo.traces, host=gateway, port=port, container_endpoint=f"http://{gateway}:{port}"
    )


def docker_recipe(demo: Recipe, project: str, ports: Mapping[str, int]) -> Recipe:
    """The local demo recipe turned into one for its containers: same graph, probes and
    suites, each service URL now the port published on 127.0.0.1."""
    outside = _url_rewriter(
        {
            s.url: f"http://127.0.0.1:{ports[n]}"
            for n, s in demo.services.items()
            if s.url and n in ports
        }
    )

    def argv(values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(outside(v) for v in values)

    def env(values: Mapping[str, str]) -> dict[str, str]:
        return {k: outside(v) for k, v in values.items()}

    services: dict[str, Service] = {}
    for name, svc in demo.services.items():
        port = ports.get(name)
        health = svc.health
        if health is not None:
            health = dataclasses.replace(health, url=outside(health.url))
            if health.kind == "tcp" and port and health.port == svc.port:
                health = dataclasses.replace(health, host="127.0.0.1", port=port)
        services[name] = dataclasses.replace(
            svc,
            command=(),
            cwd=None,
            host="127.0.0.1",
            port=port,
            url=outside(svc.url),
            env=env(svc.env),
            health=health,
            latency=argv(svc.latency),
        )
    seeds: dict[str, Seed] = {}
    for name, seed in demo.seeds.items():
        verify = seed.verify
        if verify is not None:
            verify = Verify(argv(verify.command), outside(verify.url), verify.status, verify.body)
        seeds[name] = dataclasses.replace(
            seed, command=argv(seed.command), env=env(seed.env), verify=verify
        )
    suites: dict[str, Suite] = {
        name: dataclasses.replace(suite, command=argv(suite.command), env=env(suite.env))
        for name, suite in demo.suites.items()
    }
    environment = dataclasses.replace(
        demo.environment, name=f"{demo.environment.name}-docker", target="docker", project=project
    )
    changes: dict[str, Any] = {
        "environment": environment,
        "services": services,
        "seeds": seeds,
        "suites": suites,
    }
    if "sources" in {f.name for f in dataclasses.fields(Recipe)}:
        changes["sources"] = ()  # nothing to hot-reload: the containers are fixed
    return dataclasses.replace(demo, **changes)


def start_demo_on_docker(
    base_image: str | None = None,
    *,
    docker_host: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> DemoStack:
    """Build what is missing and run the demo stack: the one call ``stagedeck demo
    --target docker`` needs before it opens the cockpit on ``stack.recipe``."""
    say = progress or (lambda _message: None)
    say("building the demo image (once per machine and version)…")
    image = build_demo_image(base_image, docker_host=docker_host)
    say(f"starting the demo containers from {image}…")
    return run_demo_stack(image, docker_host=docker_host)


def cleanup_demo_stack(stack: DemoStack | str, *, docker_host: str | None = None) -> None:
    """Remove a demo stack's containers and network (also after a partial start)."""
    project = stack.project if isinstance(stack, DemoStack) else stack
    if isinstance(stack, DemoStack) and docker_host is None:
        docker_host = stack.docker_host
    client = _client(docker_host)
    try:
        selector = {"label": [f"{DEMO_LABEL}={project}"]}
        for c in client.api.containers(all=True, filters=selector):
            try:
                client.api.remove_container(c["Id"], force=True, v=True)
            except docker.errors.NotFound:
                pass
        for n in client.api.networks(filters=selector):
            try:
                client.api.remove_network(n["Id"])
            except docker.errors.NotFound:
                pass
    finally:
        client.close()
