"""The Docker target's pure parts and state rules, without an engine."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from stagedeck.dockerwire.logframes import LogDecoder
from stagedeck.dockerwire.stamps import parse_iso_ns, split_timestamp
from stagedeck.engine.events import ProcState
from stagedeck.recipe.model import Environment, HealthCheck, Recipe, Service
from stagedeck.targets.docker.discovery import project_recipe, published_url
from stagedeck.targets.docker.state import (
    ContainerView,
    cpu_percent,
    exit_reason,
    memory_bytes,
    parse_depends_on,
    selector_for,
    view_from_inspect,
)
from stagedeck.targets.docker.streams import LogBatcher
from stagedeck.targets.docker.target import DockerTarget, _Event

TS = b"2024-05-01T12:00:00.123456789Z "
NS = 1714564800_123456789


def frame(kind: int, payload: bytes) -> bytes:
    return bytes([kind, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


def test_timestamps_parse_to_nanoseconds() -> None:
    assert split_timestamp(TS + b"hello") == (NS, b"hello")
    assert split_timestamp(b"2024-05-01T12:00:00.5Z x")[0] == 1714564800_500000000
    assert split_timestamp(b"no time here") == (None, b"no time here")
    assert parse_iso_ns("0001-01-01T00:00:00Z") == 0
    assert parse_iso_ns("2024-05-01T12:00:00.123456789Z") == NS


def test_log_decoder_splits_frames_streams_and_joins_partial_messages() -> None:
    decoder = LogDecoder(tty=False)
    data = frame(1, TS + b"one\n") + frame(2, TS + b"oops\n") + frame(1, TS + b"lo")
    # A frame cut in the middle waits for the rest.
    assert decoder.feed(data[:10]) == []
    lines = decoder.feed(data[10:])
    assert [(s, t) for _, s, t in lines] == [("out", "one"), ("err", "oops")]
    assert lines[0][0] == NS
    # The log driver splits long lines into partial messages, each with a time of its own.
    lines = decoder.feed(frame(1, b"2024-05-01T12:00:01Z ng line\n"))
    assert [(ts, t) for ts, _, t in lines] == [(NS, "long line")]
    assert decoder.feed(frame(1, TS + b"tail")) == []
    assert [t for _, _, t in decoder.flush()] == ["tail"]


def test_log_decoder_for_tty_containers_reads_raw_bytes() -> None:
    decoder = LogDecoder(tty=True)
    lines = decoder.feed(TS + b"a\r\n" + TS + b"b")
    assert [(s, t) for _, s, t in lines] == [("out", "a\r")]
    assert [t for _, _, t in decoder.feed(b"c\n")] == ["bc"]


def test_exec_output_has_no_timestamps_to_strip() -> None:
    decoder = LogDecoder(tty=False, timestamps=False)
    lines = decoder.feed(frame(1, TS + b"kept as is\n"))
    assert [t for _, _, t in lines] == [TS.decode() + "kept as is"]


def test_depends_on_label() -> None:
    assert parse_depends_on("db:service_started:false,redis:service_healthy:true") == [
        ("db", "service_started"),
        ("redis", "service_healthy"),
    ]
    assert parse_depends_on("") == []
    assert parse_depends_on("db") == [("db", "service_started")]


def test_cpu_and_memory_as_docker_stats_computes_them() -> None:
    prev = {"cpu_usage": {"total_usage": 1_000}, "system_cpu_usage": 10_000}
    cur = {
        "cpu_stats": {
            "cpu_usage": {"total_usage": 1_500},
            "system_cpu_usage": 12_000,
            "online_cpus": 2,
        },
        "memory_stats": {"usage": 10_000, "stats": {"total_inactive_file": 4_000}},
    }
    assert cpu_percent(cur, prev) == 50.0
    assert cpu_percent(cur, None) is None
    assert memory_bytes(cur) == 6_000
    assert memory_bytes({"memory_stats": {}}) is None


def test_exit_reasons_name_signals() -> None:
    assert exit_reason(1) == "exited with code 1"
    assert exit_reason(137, signal="9") == "killed (SIGKILL), exit code 137"
    assert exit_reason(143) == "exited with code 143 (SIGTERM)"
    assert "out of memory" in exit_reason(137, oom=True)


def test_selectors_default_to_compose_labels_and_skip_one_offs() -> None:
    env = Environment(name="shop", target="docker", project="")
    sel = selector_for(Service("api"), env)
    labels = {"com.docker.compose.project": "shop", "com.docker.compose.service": "api"}
    assert sel.matches("/shop-api-1", labels)
    assert not sel.matches("x", {**labels, "com.docker.compose.oneoff": "True"})
    by_name = selector_for(Service("db", container="pg"), env)
    assert by_name.matches("/pg", {}) and not by_name.matches("/pg2", {})


def inspect_doc(
    cid: str,
    service: str,
    *,
    status: str = "running",
    ports: dict[str, object] | None = None,
    depends: str = "",
) -> dict[str, object]:
    return {
        "Id": cid,
        "Name": f"/p-{service}-1",
        "State": {
            "Status": status,
            "Running": status == "running",
            "Pid": 42,
            "ExitCode": 0,
            "StartedAt": "2024-05-01T12:00:00Z",
            "FinishedAt": "0001-01-01T00:00:00Z",
        },
        "Config": {
            "Labels": {
                "com.docker.compose.project": "p",
                "com.docker.compose.service": service,
                "com.docker.compose.depends_on": depends,
            }
        },
        "NetworkSettings": {"Ports": ports or {}},
    }


def test_project_recipe_from_labels_ports_and_an_overlay() -> None:
    web = inspect_doc(
        "1",
        "web",
        ports={
            "5432/tcp": [{"HostIp": "0.0.0.0", "HostPort": "1111"}],
            "8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "2222"}],
        },
        depends="db:service_healthy:false,ghost:service_started:false",
    )
    db = inspect_doc("2", "db", ports={"5432/tcp": None})
    assert published_url(web) == "http://127.0.0.1:2222"
    assert published_url(db) == ""
    plain = project_recipe("p", [web, db])
    assert plain.environment.target == "docker" and plain.environment.project == "p"
    assert plain.services["web"].depends_on == ("db",)  # unknown services are dropped
    assert plain.services["web"].port == 2222

    overlay = Recipe(
        Path("o.toml"),
        Environment(name="mine", target="docker", probe_interval=0.5),
        {
            "web": Service(
                "web",
                health=HealthCheck(kind="http", url="/healthz"),
                latency=("/api?probe=1",),
            ),
            "extra": Service("extra", container="legacy"),
        },
    )
    r = project_recipe("p", [web, db], overlay)
    assert r.environment.name == "mine" and r.environment.probe_interval == 0.5
    assert r.environment.project == "p"
    svc = r.services["web"]
    assert svc.health is not None and svc.health.url == "http://127.0.0.1:2222/healthz"
    assert svc.latency == ("http://127.0.0.1:2222/api?probe=1",)
    assert svc.depends_on == ("db",)
    assert set(r.services) == {"web", "db", "extra"}


class Recorder:
    """A TargetSink that keeps what it was told."""

    def __init__(self) -> None:
        self.states: list[tuple[str, ProcState, str, int | None]] = []
        self.platform: list[tuple[str, str]] = []
        self.logs: list[tuple[str, tuple[str, ...], str]] = []

    def process_state(
        self,
        service: str,
        state: ProcState,
        *,
        reason: str = "",
        exit_code: int | None = None,
        pid: int | None = None,
    ) -> None:
        self.states.append((service, state, reason, exit_code))

    def platform_health(self, service: str, verdict: str, *, reason: str = "") -> None:
        self.platform.append((service, verdict))

    def log(self, service: str, text: str, stream: str = "out", ts: float | None = None) -> None:
        self.logs.append((service, (text,), stream))

    def log_many(self, service: str, lines: Sequence[str], stream: str = "out") -> None:
        self.logs.append((service, tuple(lines), stream))

    def resources(self, service: str, cpu: float | None, memory: int | None) -> None:
        pass

    def connection(self, connected: bool, detail: str = "") -> None:
        pass


def view(
    status: str,
    started: int,
    *,
    finished: int = 0,
    code: int = 0,
    health: str = "",
    restarts: int = 0,
) -> ContainerView:
    return ContainerView(
        id="c1",
        name="p-api-1",
        status=status,
        exit_code=code if status in ("exited", "restarting") else None,
        pid=7 if status == "running" else None,
        started_ns=started,
        finished_ns=finished,
        health=health,
        restart_count=restarts,
    )


def event(verb: str, at: int, v: ContainerView | None = None, **attrs: str) -> _Event:
    return _Event(("api",), "c1", verb, attrs, at, v)


def target(health: HealthCheck | None = None) -> tuple[DockerTarget, Recorder]:
    recipe = Recipe(
        Path("r.toml"),
        Environment(name="p", target="docker"),
        {"api": Service("api", health=health)},
    )
    sink = Recorder()
    return DockerTarget(recipe, sink), sink


def test_stop_kill_and_stale_events_map_to_states() -> None:
    t, sink = target(HealthCheck(kind="http", url="http://x/health"))
    t._on_sync({"api": view("running", 100)}, "")
    assert sink.states[-1][:2] == ("api", ProcState.RUNNING)

    # docker stop: kill(SIGTERM), die, stop -> STOPPED
    t._on_event(event("kill", 200, signal="15"))
    t._on_event(event("die", 201, view("exited", 100, finished=201, code=143), exitCode="143"))
    t._on_event(event("stop", 202, view("exited", 100, finished=201, code=143)))
    assert [s[1] for s in sink.states] == [ProcState.RUNNING, ProcState.STOPPED]

    # started again, then docker kill: CRASHED with the exit code
    t._on_event(event("start", 300, view("running", 300)))
    assert sink.states[-1][1] is ProcState.STARTING
    t._on_event(event("kill", 400, signal="9"))
    t._on_event(event("die", 401, view("exited", 300, finished=401, code=137), exitCode="137"))
    _service, state, reason, code = sink.states[-1]
    assert (state, code) == (ProcState.CRASHED, 137) and "SIGKILL" in reason

    # A die from the run before the latest start is stale and changes nothing.
    t._on_event(event("start", 500, view("running", 500)))
    count = len(sink.states)
    t._on_event(event("die", 450, view("running", 500), exitCode="1"))
    assert len(sink.states) == count


def test_a_restart_policy_crash_shows_the_crash_and_counts_the_restart() -> None:
    t, sink = target()
    t._on_sync({"api": view("running", 100)}, "")
    t._on_event(event("die", 150, view("restarting", 100, finished=150, code=1), exitCode="1"))
    assert [s[1] for s in sink.states[1:]] == [ProcState.CRASHED, ProcState.RESTARTING]
    assert sink.states[1][3] == 1
    t._on_event(event("start", 200, view("running", 200, restarts=1)))
    assert sink.states[-1][1] is ProcState.STARTING
    assert len(sink.states) == 4  # the restart was already counted
    # A crash missed between two looks still counts as a restart.
    t._on_event(event("start", 300, view("running", 300, restarts=2)))
    assert [s[1] for s in sink.states[4:]] == [ProcState.RESTARTING, ProcState.STARTING]


def test_docker_health_decides_when_the_recipe_has_no_probe() -> None:
    t, sink = target(None)
    t._on_sync({"api": view("running", 100, health="starting")}, "")
    assert sink.states[-1][1] is ProcState.STARTING
    assert sink.platform[-1] == ("api", "starting")
    t._on_event(event("health_status", 150, view("running", 100, health="healthy")))
    assert sink.platform[-1] == ("api", "healthy")
    assert len(sink.states) == 1  # the same run: no new process state
    t._on_event(event("health_status", 160, view("running", 100, health="unhealthy")))
    assert sink.platform[-1] == ("api", "unhealthy")


def test_missing_container_is_reported_once() -> None:
    t, sink = target()
    t._on_sync({"api": None}, "")
    t._on_sync({"api": None}, "")
    assert len(sink.states) == 1
    assert sink.states[0][1] is ProcState.STOPPED
    assert "no container with labels" in sink.states[0][2]


async def test_batcher_delivers_once_per_interval() -> None:
    loop = asyncio.get_running_loop()
    got: list[list[tuple[str, str, int, str]]] = []
    batcher = LogBatcher(loop, got.append, interval=0.05)
    for i in range(100):
        await asyncio.to_thread(batcher.add, [("s", "out", i, f"line {i}")])
    await asyncio.sleep(0.15)
    assert sum(len(b) for b in got) == 100
    assert len(got) < 20


def test_view_from_inspect_reads_health_output() -> None:
    doc = inspect_doc("1", "api")
    doc["State"] = {
        **doc["State"],  # type: ignore[dict-item]
        "Health": {
            "Status": "unhealthy",
            "Log": [{"ExitCode": 1, "Output": "curl: (7)\n refused"}],
        },
    }
    v = view_from_inspect(doc)
    assert v.health == "unhealthy" and v.health_output == "curl: (7) refused"
    assert v.running and v.pid == 42
