"""A recipe: one TOML file that describes one environment.

The loader is strict on purpose. A cockpit that silently ignores
``depend_on = [...]`` shows a graph that is wrong at exactly the moment
someone trusts it, so unknown keys are errors with a suggestion, and every
problem in the file is reported at once with its line.

A recipe may ``include = ["base.toml"]`` other files (relative to the file
that includes them). Tables merge key by key and the including file wins;
the loader remembers which file each key came from, so an error in a key
that ``base.toml`` wrote names ``base.toml`` and its line.

Values can come from the environment (``{env.NAME}``), from files
(``{file:PATH}``) and from the ``[secrets]`` table (``{secret.NAME}``).
Relative paths (``cwd``, ``{file:PATH}``) and ``{recipe_dir}`` refer to the
directory of the file the value is written in. ``{state_dir}`` is the
environment's data directory (see :attr:`Environment.state_dir`). Secret values are collected on the
recipe (:attr:`Recipe.secrets`) so that everything stagedeck writes can mask
them with :meth:`Recipe.mask`.
"""

from __future__ import annotations

import difflib
import math
import os
import random
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from stagedeck.engine.graph import DependencyGraph
from stagedeck.inputfile import MAX_VALUE_FILE_BYTES, UnreadableFile, parse_toml, read_text
from stagedeck.recipe.errors import Problem, RecipeError
from stagedeck.recipe.gate import Gate, Scenario, load_gate, load_scenarios
from stagedeck.recipe.placeholders import UnknownPlaceholder, resolve
from stagedeck.recipe.secrets import MIN_SECRET_LENGTH, is_secret_name, mask_secrets
from stagedeck.recipe.tomlpos import Positions
from stagedeck.text import clean, first_unsafe

TargetKind = Literal["local", "docker", "kubernetes"]
CheckKind = Literal["http", "tcp", "command"]

MAX_INCLUDE_DEPTH = 16
"""Includes of includes deeper than this are refused rather than followed."""

#: Names filled in only when a step runs, not when the recipe loads.
RUNTIME_PLACEHOLDERS = frozenset({"junit", "run_id", "tmp"})


@dataclass(frozen=True)
class HealthCheck:
    """How stagedeck decides a service is up (compose-style timing semantics)."""

    kind: CheckKind
    url: str = ""
    status: tuple[int, int] = (200, 399)
    body: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    command: tuple[str, ...] = ()
    interval: float = 2.0
    timeout: float = 2.0
    retries: int = 3
    """Consecutive failures before the service counts as down (fewer: degraded)."""
    start_period: float = 0.0
    """Failures during this many seconds after a start do not count."""
    in_service: bool = False
    """Command checks only: run the command inside the service's container or pod
    (``probes.probe_in_service``: the target's exec, its output kept out of the
    service's log). Refused on the local target, which has no inside to run in."""

    def describe(self) -> str:
        if self.kind == "http":
            return f"GET {self.url}"
        if self.kind == "tcp":
            return f"tcp {self.host}:{self.port}"
        where = "in service: " if self.in_service else ""
        return clean(where + " ".join(self.command))  # a command may hold any character


@dataclass(frozen=True)
class Service:
    """One service of the environment, as the recipe describes it."""

    name: str
    command: tuple[str, ...] = ()
    cwd: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int | None = None
    url: str = ""
    health: HealthCheck | None = None
    depends_on: tuple[str, ...] = ()
    latency: tuple[str, ...] = ()
    ready_timeout: float = 30.0
    slo_ms: float | None = None
    container: str = ""
    """Docker: the container's name (default: found by labels)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Docker: labels that pick the container."""
    deployment: str = ""
    """Kubernetes: Deployment or StatefulSet name (default: the service name)."""
    selector: Mapping[str, str] = field(default_factory=dict)
    """Kubernetes: label selector that picks the workload."""
    recreate: bool = False
    """Docker: redeploy recreates the container instead of restarting it."""
    secrets: tuple[str, ...] = ()
    """Env keys whose values are secret (masked wherever stagedeck writes them)."""
    chaos: str = ""
    """Path of the service's own chaos endpoint (POST {"latency_ms": .., "error_rate": ..}),
    through which latency and error faults are injected; '' when it has none."""
    proxy: bool = False
    """Local: stagedeck listens on ``port`` and forwards to the service, which listens on
    ``$PORT`` (a port stagedeck picks), so latency and dropped connections can be injected."""

    def process_spec(self) -> tuple[object, ...]:
        """What a running local process was started from: a change needs a restart."""
        return (self.command, self.cwd, dict(self.env), self.host, self.port)


@dataclass(frozen=True)
class Verify:
    """A check run after a seed: a command that must exit 0, or an HTTP request."""

    command: tuple[str, ...] = ()
    url: str = ""
    status: tuple[int, int] = (200, 299)
    body: str = ""


@dataclass(frozen=True)
class Seed:
    """A step that loads test data, bound to the service it fills."""

    name: str
    service: str
    command: tuple[str, ...]
    cwd: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    timeout: float = 120.0
    shell: bool = False
    in_service: bool = False
    """Run through the target's exec inside the service instead of locally."""
    verify: Verify | None = None
    secrets: tuple[str, ...] = ()
    """Env keys whose values are secret."""


@dataclass(frozen=True)
class Suite:
    """A test suite the cockpit can run against the environment."""

    name: str
    command: tuple[str, ...]
    cwd: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    depends_on: tuple[str, ...] = ()
    """Services that must be healthy before the suite starts."""
    locks: tuple[str, ...] = ()
    timeout: float = 600.0
    shell: bool = False
    exclusive: bool = False
    junit: str = "{junit}"
    """Where the suite writes its JUnit XML (default: a path stagedeck chooses)."""
    secrets: tuple[str, ...] = ()
    """Env keys whose values are secret."""


@dataclass(frozen=True)
class Environment:
    name: str
    target: TargetKind = "local"
    probe_interval: float = 2.0
    probe_timeout: float = 2.0
    failures_before_down: int = 3
    ready_timeout: float = 30.0
    read_only: bool = False
    seed_on_start: bool = False
    """Run the seeds once, after the first bring-up (the demo: a first suite run passes)."""
    log_buffer: int = 20_000
    """Lines kept per service; older lines are dropped and counted."""
    context: str = ""
    namespace: str = ""
    project: str = ""
    share_group: str = ""
    """A Unix group whose members may attach to this environment's process (none: private)."""
    share_mode: str = "read-only"
    """What ``share_group`` members may do: 'read-only' (watch) or 'read-write' (act too)."""
    state_dir: Path | None = None
    """Where local services keep their data: ``{state_dir}`` in the recipe.

    ``$STAGEDECK_STATE_DIR`` if set, else ``state_dir`` in [environment], else
    ``${XDG_STATE_HOME:-~/.local/state}/stagedeck/<name>``. Created (mode 700)
    when the recipe refers to it.
    """


@dataclass(frozen=True)
class Traces:
    """The ``[traces]`` section: where stagedeck receives OTLP spans, and how many it keeps."""

    port: int = 4318
    host: str = "127.0.0.1"
    """Address to listen on; ``0.0.0.0`` lets containers reach it (see ``container_endpoint``)."""
    max_traces: int = 2_000
    max_spans: int = 50_000
    """Spans kept in all; past either cap the oldest traces are dropped (and counted)."""
    max_body: int = 4_000_000
    """Largest export request accepted, in bytes (after gunzip); larger ones get 413."""
    container_endpoint: str = ""
    """The OTLP endpoint as a container sees it (default ``http://host.docker.internal:PORT``)."""

    @property
    def endpoint(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"

    @property
    def endpoint_for_containers(self) -> str:
        return self.container_endpoint or f"http://host.docker.internal:{self.port}"


@dataclass(frozen=True)
class Recipe:
    path: Path
    environment: Environment
    services: Mapping[str, Service]
    seeds: Mapping[str, Seed] = field(default_factory=dict)
    suites: Mapping[str, Suite] = field(default_factory=dict)
    sources: tuple[Path, ...] = ()
    """Every file this recipe was read from: ``path`` first, then its includes."""
    secrets: frozenset[str] = field(default=frozenset(), repr=False)
    """Secret values (never shown: pass text through :meth:`mask`)."""
    auto_ports: bool = False
    """Loaded with free ports instead of the written ones (a reload loads the same way)."""
    compose_services: frozenset[str] | None = None
    """Discovered from a running compose project: the services it had then. Not None: the
    cockpit follows the project (services joining or leaving it appear and disappear)."""
    traces: Traces | None = None
    """Where spans are received; None when the recipe has no ``[traces]`` section."""
    gate: Gate | None = None
    """What a run needs to be GO; None when the recipe has no ``[gate]`` section."""
    scenarios: Mapping[str, Scenario] = field(default_factory=dict)
    """Failure scenarios (``[scenarios.NAME]``): a fault, suites under it, expectations."""

    @property
    def name(self) -> str:
        return self.environment.name

    def secret_values(self) -> tuple[str, ...]:
        """The secret values, longest first (for code that masks in its own way)."""
        return tuple(sorted(self.secrets, key=lambda s: (-len(s), s)))

    def mask(self, text: str) -> str:
        """``text`` with this recipe's secret values replaced by ``•••``."""
        return mask_secrets(text, self.secrets) if self.secrets else text

    @property
    def graph(self) -> DependencyGraph:
        return DependencyGraph({n: s.depends_on for n, s in self.services.items()})


# --------------------------------------------------------------------------- schema

Check = Callable[[Any], str | None]
"""Returns an error message, or None when the value is acceptable."""


def _is_str(v: Any) -> str | None:
    return None if isinstance(v, str) else "must be a string"


def _is_bool(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _is_positive_int(v: Any) -> str | None:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        return "must be a whole number of at least 1"
    return None


def _seconds(low: float, high: float, *, above: bool = False) -> Check:
    """A finite number of seconds in range: ``inf`` or a year would pass a plain number
    check and then spin a loop (``0``) or overflow a timer (``inf``) at run time."""

    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return "must be a number"
        if not math.isfinite(v) or v > high or (v <= low if above else v < low):
            lower = f"more than {_num(low)}" if above else f"at least {_num(low)}"
            return f"must be {lower} and at most {_num(high)}"
        return None

    return check


def _whole(low: int, high: int) -> Check:
    def check(v: Any) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            return f"must be a whole number from {low:,} to {high:,}"
        return None

    return check


DAY = 86400.0


def _num(x: float) -> str:
    return f"{x:,.0f}" if x == int(x) else f"{x:g}"


def _is_str_list(v: Any) -> str | None:
    if isinstance(v, list) and all(isinstance(x, str) for x in v):
        return None
    return "must be a list of strings"


def _is_argv(v: Any) -> str | None:
    if isinstance(v, str):
        return None  # a single string is split only when shell = true; checked later
    if isinstance(v, list) and v and all(isinstance(x, str) for x in v):
        return None
    return 'must be a non-empty list of strings, like ["python", "-m", "app"]'


def _is_str_table(v: Any) -> str | None:
    if isinstance(v, dict) and all(isinstance(x, str | int | float | bool) for x in v.values()):
        return None
    return 'must be a table of strings, like { NAME = "value" }'


def _is_port(v: Any) -> str | None:
    if v == "auto":
        return None
    if isinstance(v, int) and not isinstance(v, bool) and 0 < v < 65536:
        return None
    return 'must be a port number (1-65535) or "auto"'


def _is_status(v: Any) -> str | None:
    if isinstance(v, int) and not isinstance(v, bool) and 100 <= v <= 599:
        return None
    if (
        isinstance(v, list)
        and len(v) == 2
        and all(isinstance(x, int) and 100 <= x <= 599 for x in v)
        and v[0] <= v[1]
    ):
        return None
    return "must be an HTTP status (200) or an inclusive range ([200, 299])"


def _is_target(v: Any) -> str | None:
    if v in ("local", "docker", "kubernetes"):
        return None
    return 'must be one of "local", "docker", "kubernetes"'


def _is_share_mode(v: Any) -> str | None:
    if v in ("read-only", "read-write"):
        return None
    return 'must be "read-only" or "read-write"'


def _is_str_or_table(v: Any) -> str | None:
    return None if isinstance(v, str | dict) else "must be a URL string or a table"


ENVIRONMENT_KEYS: dict[str, Check] = {
    "name": _is_str,
    "target": _is_target,
    "probe_interval": _seconds(0.1, 3600, above=False),
    "probe_timeout": _seconds(0, 3600, above=True),
    "failures_before_down": _whole(1, 1000),
    "ready_timeout": _seconds(0, 7 * DAY),
    "read_only": _is_bool,
    "seed_on_start": _is_bool,
    "log_buffer": _whole(100, 1_000_000),
    "context": _is_str,
    "namespace": _is_str,
    "project": _is_str,
    "state_dir": _is_str,
    "share_group": _is_str,
    "share_mode": _is_share_mode,
}
HEALTH_KEYS: dict[str, Check] = {
    "url": _is_str,
    "status": _is_status,
    "body": _is_str,
    "tcp": _is_str,
    "command": _is_argv,
    "interval": _seconds(0.1, 3600),
    "timeout": _seconds(0, 3600, above=True),
    "retries": _whole(1, 1000),
    "start_period": _seconds(0, 7 * DAY),
    "in_service": _is_bool,
}
SERVICE_KEYS: dict[str, Check] = {
    "command": _is_argv,
    "cwd": _is_str,
    "env": _is_str_table,
    "host": _is_str,
    "port": _is_port,
    "url": _is_str,
    "health": _is_str_or_table,
    "depends_on": _is_str_list,
    "latency": _is_str_list,
    "ready_timeout": _seconds(0, 7 * DAY),
    "slo_ms": _seconds(0, 3_600_000, above=True),
    "container": _is_str,
    "labels": _is_str_table,
    "deployment": _is_str,
    "selector": _is_str_table,
    "recreate": _is_bool,
    "chaos": _is_str,
    "proxy": _is_bool,
    "secrets": _is_str_list,
}
VERIFY_KEYS: dict[str, Check] = {
    "command": _is_argv,
    "url": _is_str,
    "status": _is_status,
    "body": _is_str,
}
SEED_KEYS: dict[str, Check] = {
    "service": _is_str,
    "command": _is_argv,
    "cwd": _is_str,
    "env": _is_str_table,
    "depends_on": _is_str_list,
    "timeout": _seconds(0, 7 * DAY, above=True),
    "shell": _is_bool,
    "in_service": _is_bool,
    "verify": _is_str_or_table,
    "secrets": _is_str_list,
}
SUITE_KEYS: dict[str, Check] = {
    "command": _is_argv,
    "cwd": _is_str,
    "env": _is_str_table,
    "depends_on": _is_str_list,
    "locks": _is_str_list,
    "timeout": _seconds(0, 7 * DAY, above=True),
    "shell": _is_bool,
    "exclusive": _is_bool,
    "junit": _is_str,
    "secrets": _is_str_list,
}
TRACES_KEYS: dict[str, Check] = {
    "port": _is_port,
    "host": _is_str,
    "max_traces": _whole(1, 1_000_000),
    "max_spans": _whole(1, 10_000_000),
    "max_body": _whole(1024, 256 * 1024 * 1024),
    "container_endpoint": _is_str,
}
TOP_KEYS = (
    "include",
    "environment",
    "secrets",
    "services",
    "seeds",
    "suites",
    "traces",
    "gate",
    "scenarios",
)
REQUIRED: dict[str, tuple[str, ...]] = {"seeds": ("service", "command"), "suites": ("command",)}


_PROCESS_ONLY = frozenset({"command", "env", "body", "secrets"})
"""Values that go to processes or are matched, never shown: any character is theirs."""


def hostile_text(data: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """(key path, what) for every key or shown value with a control or invisible character.

    Names and values from a recipe end up on screens (and in colleagues' shared
    database); one with an escape sequence could set a title or the clipboard.
    Rather than silently change a name people select by, the loader refuses it.
    """
    found: list[tuple[tuple[str, ...], str]] = []
    todo: list[tuple[tuple[str, ...], Any]] = [((), data)]
    while todo:
        kp, value = todo.pop()
        if isinstance(value, Mapping):
            for key, item in value.items():
                where = first_unsafe(key)
                if where is not None:
                    found.append(((*kp, key), f"name contains the control character {where[1]}"))
                if key not in _PROCESS_ONLY:
                    todo.append(((*kp, key), item))
        elif isinstance(value, list):
            todo.extend((kp, item) for item in value)
        elif isinstance(value, str) and (where := first_unsafe(value)) is not None:
            shown = value if len(value) <= 80 else value[:80] + "…"
            found.append((kp, f"'{shown}' contains the control character {where[1]}"))
    return found


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be probed (as ``httpx`` would find at run time), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError for a bad or out-of-range port
    except ValueError as exc:
        return f"not a valid URL: {exc}"
    if parts.scheme not in ("http", "https"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "has no host"
    if any(c.isspace() for c in url) or first_unsafe(url) is not None:
        return "must not contain spaces or control characters"
    return None


def suggest(word: str, choices: Any, noun: str = "valid keys") -> str:
    """A "did you mean" hint, or the list of what is valid when nothing is close."""
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    return f"{noun}: " + ", ".join(sorted(choices))


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class _Source:
    """One file read for the recipe (the recipe itself or an include)."""

    path: Path
    positions: Positions


class _PlaceholderFailed(Exception):
    """A placeholder that has a name we know but no value (unreadable file, ...)."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


_EXCLUSIVE_KEYS: dict[tuple[str, str], tuple[str, ...]] = {
    ("services", "health"): ("url", "tcp", "command"),
    ("seeds", "verify"): ("url", "command"),
}
"""Keys of which a table holds one: an include that sets one drops the others it inherited."""

Layer = tuple[int, dict[str, Any]]
"""(index into the loader's sources, that file's own data without ``include``)."""


class _Loader:
    """Collects every problem while building the typed recipe."""

    def __init__(
        self,
        path: Path,
        environ: Mapping[str, str],
        auto_ports: bool,
        previous: Recipe | None = None,
    ):
        self.path = path
        self.environ = environ
        self.auto_ports = auto_ports
        self.previous = previous
        self.problems: list[Problem] = []
        self.sources: list[_Source] = []
        self.owners: dict[tuple[str, ...], list[int]] = {}
        """Key path -> the sources that wrote it, in merge order (the last one won)."""
        self.secrets: set[str] = set()
        self.secret_table: dict[str, str] = {}
        self.state_dir: Path | None = None
        self._state_dir_ready = False
        self._context: tuple[str, ...] = ()
        """The key path whose value is being substituted (for relative ``{file:...}``)."""

    # -- where things are

    def locate(self, keypath: tuple[str, ...]) -> tuple[int, int | None]:
        """(source index, line) of ``keypath``: the file that wrote it last, at its line."""
        for n in range(len(keypath), 0, -1):
            owners = self.owners.get(keypath[:n])
            if not owners:
                continue
            for index in reversed(owners):
                line = self.sources[index].positions.line(keypath)
                if line is not None:
                    return index, line
            return owners[-1], None
        return 0, None

    def file_of(self, index: int) -> Path:
        return self.sources[index].path if self.sources else self.path

    def base_of(self, keypath: tuple[str, ...]) -> Path:
        """The directory relative paths in ``keypath``'s value are relative to."""
        index, _ = self.locate(keypath)
        return self.file_of(index).parent.resolve()

    def problem(self, keypath: tuple[str, ...], message: str, hint: str = "") -> None:
        index, line = self.locate(keypath)
        self.problems.append(Problem(self.file_of(index), line, ".".join(keypath), message, hint))

    def problem_in(
        self, index: int, keypath: tuple[str, ...], message: str, hint: str = ""
    ) -> None:
        """A problem in one particular file (before the files are merged)."""
        source = self.sources[index]
        line = source.positions.line(keypath)
        self.problems.append(Problem(source.path, line, ".".join(keypath), message, hint))

    # -- reading files

    def read(self, path: Path, chain: tuple[Path, ...] = ()) -> list[Layer]:
        """The layers of ``path``: its includes' layers (recursively) first, then its own."""
        text = read_text(path)  # bounded and typed; the caller reports OSError where it belongs
        index = len(self.sources)
        self.sources.append(_Source(path, Positions(text)))
        parsed, problem = parse_toml(path, text)
        if parsed is None:
            assert problem is not None
            self.problems.append(problem)
            return []
        data = parsed
        if len(chain) >= MAX_INCLUDE_DEPTH:
            self.problem_in(
                index,
                ("include",) if "include" in data else (),
                f"includes nested more than {MAX_INCLUDE_DEPTH} deep",
                "include the files from one recipe instead of from each other",
            )
            return []
        layers: list[Layer] = []
        includes = data.pop("include", [])
        if isinstance(includes, str):
            includes = [includes]
        if not (isinstance(includes, list) and all(isinstance(i, str) for i in includes)):
            self.problem_in(index, ("include",), 'must be a list of file names, like ["base.toml"]')
            includes = []
        for name in includes:
            if "\x00" in name:  # no file has one; expanduser would raise ValueError
                self.problem_in(index, ("include",), "a file name contains a NUL character")
                continue
            child = Path(os.path.normpath(path.parent / os.path.expanduser(name)))
            if child in (*chain, path):
                cycle = " → ".join(p.name for p in (*chain, path, child))
                self.problem_in(
                    index, ("include",), f"include cycle: {cycle}", "remove one of these includes"
                )
                continue
            try:
                layers.extend(self.read(child, (*chain, path)))
            except OSError as exc:
                self.problem_in(
                    index,
                    ("include",),
                    f"cannot read included file {child}: {exc.strerror or exc}",
                    "paths are relative to the file that includes them",
                )
        layers.append((index, data))
        return layers

    def merge(self, layers: list[Layer]) -> dict[str, Any]:
        """Deep-merge the layers in order (later wins key by key), recording who wrote what."""
        merged: dict[str, Any] = {}
        for index, data in layers:
            self._merge_into(merged, data, index, ())
        return merged

    def _merge_into(
        self, into: dict[str, Any], data: dict[str, Any], index: int, prefix: tuple[str, ...]
    ) -> None:
        for key, value in data.items():
            kp = (*prefix, key)
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                self.owners.setdefault(kp, []).append(index)
                # A check of another kind replaces the kind: tcp over command is not both.
                group = _EXCLUSIVE_KEYS.get((kp[0], kp[-1]) if len(kp) == 3 else ("", ""), ())
                if any(k in value for k in group):
                    for other in group:
                        if other not in value and other in into[key]:
                            del into[key][other]
                            self._disown((*kp, other))
                self._merge_into(into[key], value, index, kp)
                continue
            self._disown(kp)
            into[key] = self._own(value, index, kp)

    def _disown(self, kp: tuple[str, ...]) -> None:
        for stale in [p for p in self.owners if p[: len(kp)] == kp]:
            del self.owners[stale]

    def _own(self, value: Any, index: int, kp: tuple[str, ...]) -> Any:
        """A copy of ``value`` owned by ``index`` (later merges must not change a file's data)."""
        self.owners[kp] = [index]
        if isinstance(value, dict):
            return {k: self._own(v, index, (*kp, k)) for k, v in value.items()}
        return value

    # -- schema

    def check_table(
        self, keypath: tuple[str, ...], table: Any, schema: Mapping[str, Check]
    ) -> dict[str, Any]:
        """Validate keys and value types; return only the valid entries."""
        if not isinstance(table, dict):
            self.problem(keypath, "must be a table", f"write it as [{'.'.join(keypath)}]")
            return {}
        good: dict[str, Any] = {}
        for key, value in table.items():
            if key not in schema:
                self.problem(keypath + (key,), f"unknown key '{key}'", suggest(key, schema))
                continue
            error = schema[key](value)
            if error:
                self.problem(keypath + (key,), error)
                continue
            good[key] = value
        return good

    # -- placeholders

    def lookup_factory(self, services: Mapping[str, dict[str, Any]], me: str | None) -> Any:
        environ = self.environ

        def lookup(name: str) -> str | None:
            if name == "python":
                return sys.executable
            if name == "recipe_dir":
                # The directory of the file the value is written in, so that a recipe
                # with scripts next to it still finds them when another one includes it.
                return str(self.base_of(self._context))
            if name == "state_dir":
                return self.ensure_state_dir()
            if name.startswith("env."):
                value = environ.get(name[4:])
                if value is not None and is_secret_name(name[4:]):
                    self.note_secret(value)
                return value
            if name.startswith("file:"):
                return self.read_value_file(name[5:].strip())
            if name.startswith("secret."):
                return self.secret(name[7:])
            parts = name.split(".")
            if parts[0] == "self" and me is not None:
                parts = ["service", me, *parts[1:]]
            if parts[0] == "service" and len(parts) == 3 and parts[1] in services:
                value = services[parts[1]].get(parts[2])
                return None if value is None else str(value)
            return None

        return lookup

    def note_secret(self, value: str) -> None:
        """A value found to be secret by its name: masked when long enough to mask safely."""
        if len(value) >= MIN_SECRET_LENGTH:
            self.secrets.add(value)

    def secret(self, name: str) -> str:
        if name in self.secret_table:
            return self.secret_table[name]
        known = sorted(self.secret_table)
        raise _PlaceholderFailed(
            f"unknown secret '{name}'",
            suggest(name, known, "known secrets")
            if known
            else f'add it to the [secrets] table: {name} = "{{env.VARIABLE}}"',
        )

    def read_value_file(self, name: str) -> str:
        if "\x00" in name:
            raise _PlaceholderFailed("the file name contains a NUL character", "remove it")
        path = Path(os.path.expanduser(name))
        if not path.is_absolute():
            path = self.base_of(self._context) / path
        try:
            return read_text(path, limit=MAX_VALUE_FILE_BYTES).rstrip("\r\n")
        except OSError as exc:
            why = exc.strerror
            raise _PlaceholderFailed(
                f"cannot read {path}: {why or exc}",
                "{file:PATH} is relative to the file the value is written in",
            ) from None

    def ensure_state_dir(self) -> str:
        assert self.state_dir is not None, "state_dir is set before any service is read"
        if not self._state_dir_ready:
            try:
                self.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            except OSError as exc:
                raise _PlaceholderFailed(
                    f"cannot create the state directory {self.state_dir}: {exc.strerror or exc}",
                    "set STAGEDECK_STATE_DIR (or state_dir in [environment]) to a writable path",
                ) from None
            self._state_dir_ready = True
        return str(self.state_dir)

    def sub(self, keypath: tuple[str, ...], value: str, lookup: Any) -> str:
        self._context = keypath
        try:
            return resolve(value, lookup, deferred=RUNTIME_PLACEHOLDERS)
        except _PlaceholderFailed as exc:
            self.problem(keypath, exc.message, exc.hint)
            return value
        except UnknownPlaceholder as exc:
            hint = (
                "use {service.NAME.url|port|host}, {self.url}, {env.NAME}, {secret.NAME},"
                " {file:PATH}, {python}, {recipe_dir} or {state_dir}"
            )
            if exc.name.startswith("env."):
                hint = f"set the environment variable {exc.name[4:]} or remove the placeholder"
            elif exc.name.startswith("service."):
                hint = "the service must exist and the field be url, port, host or name"
            self.problem(keypath, f"unknown placeholder {{{exc.name}}}", hint)
            return value

    def sub_all(self, keypath: tuple[str, ...], value: Any, lookup: Any) -> Any:
        if isinstance(value, str):
            return self.sub(keypath, value, lookup)
        if isinstance(value, list):
            return [self.sub_all(keypath, v, lookup) for v in value]
        if isinstance(value, dict):
            return {k: self.sub_all(keypath + (k,), v, lookup) for k, v in value.items()}
        return value

    def path_of(self, keypath: tuple[str, ...], value: str | None) -> Path | None:
        if not value:
            return None
        p = Path(os.path.expanduser(value))
        return p if p.is_absolute() else self.base_of(keypath) / p

    def argv(self, keypath: tuple[str, ...], value: Any, shell: bool) -> tuple[str, ...]:
        if isinstance(value, str):
            if not shell:
                self.problem(
                    keypath,
                    "a single string runs only through a shell",
                    'write an argv list like ["pytest", "-q"], or add shell = true',
                )
                return ()
            return ("/bin/sh", "-c", value)
        if shell:
            return ("/bin/sh", "-c", " ".join(value))
        return tuple(value)

    def env_secrets(
        self, kp: tuple[str, ...], env: Mapping[str, str], marked: list[str]
    ) -> tuple[str, ...]:
        """Note the secret values of an env table: named in ``secrets`` or by their key."""
        for key in marked:
            if key not in env:
                self.problem(
                    kp + ("secrets",),
                    f"names '{key}', which is not a key of env",
                    suggest(key, env, "env keys") if env else "add it to env first",
                )
            elif len(env[key]) < MIN_SECRET_LENGTH:
                self.problem(
                    kp + ("env", key),
                    f"secret is shorter than {MIN_SECRET_LENGTH} characters",
                    "too short to mask in output without hiding ordinary text; use a longer value",
                )
            else:
                self.secrets.add(env[key])
        for key, value in env.items():
            if is_secret_name(key):
                self.note_secret(value)
        return tuple(marked)

    # -- sections

    def resolve_state_dir(self, env_raw: dict[str, Any], name: str) -> Path:
        override = self.environ.get("STAGEDECK_STATE_DIR")
        if override:
            return Path(os.path.expanduser(override)).absolute()
        if "state_dir" in env_raw:
            kp = ("environment", "state_dir")
            value = self.sub(kp, env_raw["state_dir"], self.lookup_factory({}, None))
            path = self.path_of(kp, value)
            if path is not None:
                return path
        state_home = self.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "recipe"
        return Path(state_home) / "stagedeck" / safe

    def load_secrets(self, data: dict[str, Any]) -> None:
        """Resolve the [secrets] table first: every other value may refer to it."""
        lookup = self.lookup_factory({}, None)
        for name, value in _table(data, "secrets", self).items():
            kp = ("secrets", name)
            if not isinstance(value, str):
                self.problem(kp, "must be a string", 'e.g. db_password = "{env.DB_PASSWORD}"')
                continue
            before = len(self.problems)
            resolved = self.sub(kp, value, lookup)
            if len(self.problems) > before:
                continue
            if len(resolved) < MIN_SECRET_LENGTH:
                too_short = f"is shorter than {MIN_SECRET_LENGTH} characters"
                self.problem(
                    kp,
                    too_short if resolved else "is empty",
                    "too short to mask in output without hiding ordinary text; use a longer value",
                )
                continue
            self.secret_table[name] = resolved
            self.secrets.add(resolved)

    def load(self) -> Recipe:
        try:
            layers = self.read(self.path)
        except OSError as exc:
            raise RecipeError(
                [
                    Problem(
                        self.path,
                        None,
                        "",
                        f"cannot read recipe: {exc.strerror or exc}",
                        "a recipe is a UTF-8 TOML file"
                        if isinstance(exc, UnreadableFile)
                        else "check the path",
                    )
                ]
            ) from None
        if self.problems:  # broken syntax or a missing include: the rest would only mislead
            raise RecipeError(self.problems)
        data = self.merge(layers)
        for kp, what in hostile_text(data):
            self.problem(kp, what, "remove it: names and shown values must be plain text")
        if self.problems:
            raise RecipeError(self.problems)

        for key in data:
            if key not in TOP_KEYS:
                self.problem((key,), f"unknown table '{key}'", suggest(key, TOP_KEYS))

        env_raw = self.check_table(("environment",), data.get("environment", {}), ENVIRONMENT_KEYS)
        if "environment" not in data:
            self.problem((), "missing [environment] table", 'add [environment] with name = "..."')
        name = env_raw.get("name", self.path.stem)
        if not name.strip():
            self.problem(
                ("environment", "name"),
                "must not be empty",
                "the name is what colleagues see and what leases and runs are filed under",
            )
            name = self.path.stem
        self.state_dir = self.resolve_state_dir(env_raw, name)
        environment = Environment(
            name=name,
            target=env_raw.get("target", "local"),
            probe_interval=float(env_raw.get("probe_interval", 2.0)),
            probe_timeout=float(env_raw.get("probe_timeout", 2.0)),
            failures_before_down=int(env_raw.get("failures_before_down", 3)),
            ready_timeout=float(env_raw.get("ready_timeout", 30.0)),
            read_only=bool(env_raw.get("read_only", False)),
            seed_on_start=bool(env_raw.get("seed_on_start", False)),
            log_buffer=int(env_raw.get("log_buffer", 20_000)),
            context=env_raw.get("context", ""),
            namespace=env_raw.get("namespace", ""),
            project=env_raw.get("project", ""),
            share_group=env_raw.get("share_group", ""),
            share_mode=env_raw.get("share_mode", "read-only"),
            state_dir=self.state_dir,
        )
        self.load_secrets(data)

        services_raw = data.get("services", {})
        if not isinstance(services_raw, dict):
            self.problem(("services",), "must be a table of services")
            services_raw = {}
        checked = {
            name: self.check_table(("services", name), table, SERVICE_KEYS)
            for name, table in services_raw.items()
        }
        # Ports and URLs first: other services' placeholders refer to them.
        facts: dict[str, dict[str, Any]] = {}
        taken: set[int] = set()
        for name, raw in checked.items():
            host = raw.get("host", "127.0.0.1")
            port = raw.get("port")
            if port == "auto" or (self.auto_ports and isinstance(port, int)):
                port = self.previous_port(name, host) or _free_port(host, taken)
            if isinstance(port, int):
                taken.add(port)
            facts[name] = {"name": name, "host": host, "port": port}
        for name, raw in checked.items():
            url = raw.get("url")
            if url is None and facts[name]["port"]:
                url = f"http://{facts[name]['host']}:{facts[name]['port']}"
            if url is not None:
                url = self.sub(
                    ("services", name, "url"), url, self.lookup_factory(facts, name)
                ).rstrip("/")
            if url and (why := url_problem(url)):
                self.problem(("services", name, "url"), why, 'e.g. url = "http://127.0.0.1:8080"')
                url = None
            facts[name]["url"] = url
        self.duplicate_ports(checked, facts, environment)

        services = {
            name: self.service(name, raw, facts, environment) for name, raw in checked.items()
        }
        for name, svc in services.items():
            for dep in svc.depends_on:
                if dep not in services:
                    self.problem(
                        ("services", name, "depends_on"),
                        f"depends on unknown service '{dep}'",
                        suggest(dep, services, "known services")
                        if services
                        else "no services are defined",
                    )
        if not any(p.key.endswith("depends_on") for p in self.problems):
            graph = DependencyGraph({n: s.depends_on for n, s in services.items()})
            cycle = graph.find_cycle()
            if cycle:
                self.problem(
                    ("services", cycle[0], "depends_on"),
                    "dependency cycle: " + " → ".join(cycle),
                    "remove one of these depends_on entries",
                )

        seeds = {
            name: seed
            for name, table in _table(data, "seeds", self).items()
            if (seed := self.seed(name, table, services, facts)) is not None
        }
        for name, seed in seeds.items():
            for dep in seed.depends_on:
                if dep not in seeds:
                    self.problem(
                        ("seeds", name, "depends_on"),
                        f"depends on unknown seed '{dep}'",
                        suggest(dep, seeds, "known seeds") if seeds else "no seeds are defined",
                    )
        if seeds and not any(p.key.startswith("seeds.") for p in self.problems):
            cycle = DependencyGraph({n: s.depends_on for n, s in seeds.items()}).find_cycle()
            if cycle:
                self.problem(
                    ("seeds", cycle[0], "depends_on"),
                    "seed dependency cycle: " + " → ".join(cycle),
                    "remove one of these depends_on entries",
                )
        suites = {
            name: suite
            for name, table in _table(data, "suites", self).items()
            if (suite := self.suite(name, table, services, facts)) is not None
        }

        traces = self.traces(data, taken) if "traces" in data else None
        gate = load_gate(self, data["gate"], suites, suggest) if "gate" in data else None
        scenarios = (
            load_scenarios(self, data["scenarios"], services, suites, facts, suggest)
            if "scenarios" in data
            else {}
        )

        if self.problems:
            order = {source.path: i for i, source in reversed(list(enumerate(self.sources)))}
            self.problems.sort(key=lambda p: (order.get(p.file, 0), p.line or 0))
            raise RecipeError(self.problems)
        return Recipe(
            self.path,
            environment,
            services,
            seeds,
            suites,
            sources=tuple(dict.fromkeys(source.path for source in self.sources)),
            secrets=frozenset(self.secrets),
            auto_ports=self.auto_ports,
            traces=traces,
            gate=gate,
            scenarios=scenarios,
        )

    def traces(self, data: dict[str, Any], taken: set[int]) -> Traces:
        raw = self.check_table(("traces",), data["traces"], TRACES_KEYS)
        host = raw.get("host", "127.0.0.1")
        port = raw.get("port", 4318)
        if port == "auto" or self.auto_ports:
            before = self.previous.traces if self.previous else None
            port = before.port if before and before.host == host else _free_port(host, taken)
        if port in taken:
            self.problem(
                ("traces", "port"),
                f"port {port} is also a service's port",
                "give the traces receiver a port of its own (4318 is OTLP/HTTP's)",
            )
        endpoint = raw.get("container_endpoint", "")
        if endpoint and (not endpoint.startswith(("http://", "https://")) or url_problem(endpoint)):
            self.problem(
                ("traces", "container_endpoint"),
                "must be an http:// URL",
                'like "http://host.docker.internal:4318"',
            )
        return Traces(
            port=int(port),
            host=host,
            max_traces=int(raw.get("max_traces", 2_000)),
            max_spans=int(raw.get("max_spans", 50_000)),
            max_body=int(raw.get("max_body", 4_000_000)),
            container_endpoint=endpoint.rstrip("/"),
        )

    def duplicate_ports(
        self, checked: Mapping[str, Any], facts: dict[str, dict[str, Any]], env: Environment
    ) -> None:
        """Two local services written with one host and port: the second could never bind."""
        if env.target != "local":
            return  # elsewhere the port is where the platform publishes it; not ours to bind
        seen: dict[tuple[str, int], str] = {}
        for name, raw in checked.items():
            port = facts[name]["port"]
            if not isinstance(port, int) or raw.get("port") == "auto":
                continue
            key = (facts[name]["host"], port)
            if key in seen:
                self.problem(
                    ("services", name, "port"),
                    f"port {port} is also the port of service '{seen[key]}'",
                    'give each service its own port, or port = "auto"',
                )
            else:
                seen[key] = name

    def previous_port(self, name: str, host: str) -> int | None:
        """On reload, a service keeps the free port it was given (else it would restart)."""
        if self.previous is None:
            return None
        before = self.previous.services.get(name)
        if before is None or before.host != host or not before.port:
            return None
        return before.port

    def service(
        self, name: str, raw: dict[str, Any], facts: dict[str, dict[str, Any]], env: Environment
    ) -> Service:
        kp = ("services", name)
        lookup = self.lookup_factory(facts, name)
        self.check_faults(kp, raw, facts[name], env)  # before placeholders: sees {self.port}
        raw = {k: self.sub_all(kp + (k,), v, lookup) for k, v in raw.items() if k != "url"}
        command: tuple[str, ...] = ()
        if "command" in raw:
            command = self.argv(kp + ("command",), raw["command"], shell=False)
        elif env.target == "local":
            self.problem(kp, "a local service needs a command", 'add command = ["..."]')
        health = self.health(kp + ("health",), raw.get("health"), env, facts[name])
        for url in raw.get("latency", ()):
            if "://" in url and (why := url_problem(url)):  # a bare path: its base comes later
                self.problem(kp + ("latency",), f"{url}: {why}", "write full http:// URLs")
        environ = {k: str(v) for k, v in raw.get("env", {}).items()}
        return Service(
            name=name,
            command=command,
            cwd=self.path_of(kp + ("cwd",), raw.get("cwd")),
            env=environ,
            host=facts[name]["host"],
            port=facts[name]["port"],
            url=facts[name]["url"] or "",
            health=health,
            depends_on=tuple(raw.get("depends_on", ())),
            latency=tuple(raw.get("latency", ())),
            ready_timeout=float(raw.get("ready_timeout", env.ready_timeout)),
            slo_ms=float(raw["slo_ms"]) if "slo_ms" in raw else None,
            container=raw.get("container", ""),
            labels={k: str(v) for k, v in raw.get("labels", {}).items()},
            deployment=raw.get("deployment", ""),
            selector={k: str(v) for k, v in raw.get("selector", {}).items()},
            recreate=bool(raw.get("recreate", False)),
            secrets=self.env_secrets(kp, environ, raw.get("secrets", [])),
            chaos=str(raw.get("chaos", "")),
            proxy=bool(raw.get("proxy", False)),
        )

    def check_faults(
        self, kp: tuple[str, ...], raw: dict[str, Any], facts: dict[str, Any], env: Environment
    ) -> None:
        """``chaos`` is a path on the service; ``proxy`` needs a local service on a port."""
        chaos = raw.get("chaos")
        if isinstance(chaos, str) and chaos and not chaos.startswith("/"):
            self.problem(kp + ("chaos",), "chaos is a path on the service", 'e.g. "/admin/chaos"')
        if raw.get("proxy") is not True:
            return
        if env.target != "local":
            self.problem(
                kp + ("proxy",),
                f"proxy = true works on the local target only (this is {env.target})",
                'remove it; for containers, use the service\'s chaos endpoint (chaos = "/...")',
            )
        elif not facts.get("port"):
            self.problem(kp + ("proxy",), "proxy = true needs the service's port", "add port = N")
        elif isinstance(raw.get("health"), dict) and "tcp" in raw["health"]:
            self.problem(
                kp + ("proxy",),
                "with proxy = true a tcp health check only reaches the proxy, never the service",
                'check through it instead: health = "/health" or a command',
            )
        elif any(p in str(raw.get("command", "")) for p in ("{self.port}", "{port}")):
            self.problem(
                kp + ("proxy",),
                "with proxy = true the proxy listens on the port: the service must listen on $PORT",
                "remove the port from the command (stagedeck sets $PORT for the service)",
            )

    def health(
        self, kp: tuple[str, ...], raw: Any, env: Environment, facts: dict[str, Any]
    ) -> HealthCheck | None:
        if raw is None:
            return None
        timing = {
            "interval": env.probe_interval,
            "timeout": env.probe_timeout,
            "retries": env.failures_before_down,
        }
        if isinstance(raw, str):
            url = raw if "://" in raw else (facts.get("url") or "") + "/" + raw.lstrip("/")
            if "://" in url and (why := url_problem(url)):  # a bare path: its base comes later
                self.problem(kp, f"{url}: {why}", 'a path ("/health") or a full http:// URL')
                return None
            return HealthCheck(kind="http", url=url, **timing)  # type: ignore[arg-type]
        table = self.check_table(kp, raw, HEALTH_KEYS)
        kinds = [k for k in ("url", "tcp", "command") if k in table]
        if len(kinds) != 1:
            self.problem(
                kp, "needs exactly one of url, tcp or command", 'e.g. tcp = "127.0.0.1:5432"'
            )
            return None
        for key in ("interval", "timeout", "retries"):
            if key in table:
                timing[key] = table[key]
        status = table.get("status", [200, 399])
        common: dict[str, Any] = {
            **timing,
            "start_period": float(table.get("start_period", 0.0)),
        }
        if table.get("in_service") and kinds[0] != "command":
            self.problem(
                kp + ("in_service",),
                "applies only to command checks",
                "remove it, or check with command = [...] run inside the service",
            )
        elif table.get("in_service") and env.target == "local":
            self.problem(
                kp + ("in_service",),
                "a local service has no container to run the check in",
                "remove in_service: on the local target the command runs on this machine",
            )
        if kinds[0] == "url":
            url = table["url"]
            if "://" not in url:
                url = (facts.get("url") or "") + "/" + url.lstrip("/")
            if "://" in url and (why := url_problem(url)):  # a bare path: its base comes later
                self.problem(kp + ("url",), f"{url}: {why}", "a path or a full http:// URL")
                return None
            return HealthCheck(
                kind="http",
                url=url,
                status=_status_range(status),
                body=table.get("body", ""),
                **common,
            )
        if kinds[0] == "tcp":
            host, _, port = table["tcp"].rpartition(":")
            if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
                self.problem(
                    kp + ("tcp",),
                    "must be HOST:PORT with a port from 1 to 65535",
                    'e.g. tcp = "127.0.0.1:6379"',
                )
                return None
            return HealthCheck(kind="tcp", host=host or "127.0.0.1", port=int(port), **common)
        return HealthCheck(
            kind="command",
            command=self.argv(kp + ("command",), table["command"], False),
            in_service=bool(table.get("in_service", False)),
            **common,
        )

    def _steps_common(
        self, kp: tuple[str, ...], raw: dict[str, Any], facts: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        lookup = self.lookup_factory(facts, None)
        raw = {k: self.sub_all(kp + (k,), v, lookup) for k, v in raw.items()}
        shell = bool(raw.get("shell", False))
        return {
            "raw": raw,
            "command": self.argv(kp + ("command",), raw.get("command", []), shell),
            "cwd": self.path_of(kp + ("cwd",), raw.get("cwd")),
            "env": (env := {k: str(v) for k, v in raw.get("env", {}).items()}),
            "shell": shell,
            "secrets": self.env_secrets(kp, env, raw.get("secrets", [])),
        }

    def seed(
        self,
        name: str,
        table: Any,
        services: Mapping[str, Service],
        facts: dict[str, dict[str, Any]],
    ) -> Seed | None:
        kp = ("seeds", name)
        raw = self.check_table(kp, table, SEED_KEYS)
        if not self._has_required(kp, raw, "seeds"):
            return None
        if raw["service"] not in services:
            self.problem(
                kp + ("service",),
                f"bound to unknown service '{raw['service']}'",
                suggest(raw["service"], services, "known services"),
            )
        c = self._steps_common(kp, raw, facts)
        verify = None
        v = c["raw"].get("verify")
        if isinstance(v, str):
            verify = Verify(url=v)
        elif isinstance(v, dict):
            vt = self.check_table(kp + ("verify",), v, VERIFY_KEYS)
            if ("command" in vt) == ("url" in vt):
                self.problem(kp + ("verify",), "needs exactly one of command or url")
            else:
                verify = Verify(
                    command=self.argv(kp + ("verify", "command"), vt.get("command", []), False)
                    if "command" in vt
                    else (),
                    url=vt.get("url", ""),
                    status=_status_range(vt.get("status", [200, 299])),
                    body=vt.get("body", ""),
                )
        return Seed(
            name=name,
            service=raw["service"],
            command=c["command"],
            cwd=c["cwd"],
            env=c["env"],
            depends_on=tuple(raw.get("depends_on", ())),
            timeout=float(raw.get("timeout", 120.0)),
            shell=c["shell"],
            in_service=bool(raw.get("in_service", False)),
            verify=verify,
            secrets=c["secrets"],
        )

    def suite(
        self,
        name: str,
        table: Any,
        services: Mapping[str, Service],
        facts: dict[str, dict[str, Any]],
    ) -> Suite | None:
        kp = ("suites", name)
        raw = self.check_table(kp, table, SUITE_KEYS)
        if not self._has_required(kp, raw, "suites"):
            return None
        for dep in raw.get("depends_on", ()):
            if dep not in services:
                self.problem(
                    kp + ("depends_on",),
                    f"depends on unknown service '{dep}'",
                    suggest(dep, services, "known services"),
                )
        c = self._steps_common(kp, raw, facts)
        return Suite(
            name=name,
            command=c["command"],
            cwd=c["cwd"],
            env=c["env"],
            depends_on=tuple(raw.get("depends_on", ())),
            locks=tuple(raw.get("locks", ())),
            timeout=float(raw.get("timeout", 600.0)),
            shell=c["shell"],
            exclusive=bool(raw.get("exclusive", False)),
            junit=c["raw"].get("junit", "{junit}"),
            secrets=c["secrets"],
        )

    def _has_required(self, kp: tuple[str, ...], raw: dict[str, Any], section: str) -> bool:
        missing = [k for k in REQUIRED[section] if k not in raw]
        for key in missing:
            self.problem(kp, f"missing required key '{key}'", f"add {key} = ...")
        return not missing


def _table(data: dict[str, Any], key: str, loader: _Loader) -> dict[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        loader.problem((key,), "must be a table")
        return {}
    return value


def _status_range(v: int | list[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def _free_port(host: str, taken: set[int] | frozenset[int] = frozenset()) -> int:
    """A port that is free right now; the service binds it a moment later.

    Chosen below the kernel's ephemeral range: ports from ``bind(0)`` come from
    that range, which outgoing connections (our own probes among them) also
    use, so one could take the port before the service binds it. ``taken``: ports
    already given to other services of the recipe, which nothing has bound yet
    (CI once gave two demo services the same one).
    """
    bind_host = host if host not in ("", "0.0.0.0") else "127.0.0.1"
    low = _ephemeral_low()
    for _ in range(100):
        port = _random.randint(20000, max(20001, low - 1))
        if port in taken:
            continue
        with socket.socket() as s:
            try:
                s.bind((bind_host, port))
            except OSError:
                continue
            return port
    with socket.socket() as s:
        s.bind((bind_host, 0))
        return int(s.getsockname()[1])


def _ephemeral_low() -> int:
    try:
        text = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text()
        return int(text.split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


_random = random.SystemRandom()


def load_recipe(
    path: str | Path,
    *,
    environ: Mapping[str, str] | None = None,
    auto_ports: bool = False,
    previous: Recipe | None = None,
) -> Recipe:
    """Load and validate a recipe; raise :class:`RecipeError` listing every problem.

    ``auto_ports`` gives every local service a free port instead of the one
    written down, so tests and a second demo can run beside a first one.
    ``previous`` is the recipe in force when reloading: services keep the free
    ports they were given, so a reload does not look like a port change.
    """
    loader = _Loader(Path(path), os.environ if environ is None else environ, auto_ports, previous)
    return loader.load()


def recipe_files(path: str | Path) -> tuple[Path, ...]:
    """The recipe and every file it includes (those that exist), even if the recipe is broken.

    A watcher uses this after a failed load, so that fixing a broken include is
    noticed too.
    """
    loader = _Loader(Path(path), {}, False)
    try:
        loader.read(Path(path))
    except OSError:
        pass
    return tuple(dict.fromkeys(source.path for source in loader.sources))
