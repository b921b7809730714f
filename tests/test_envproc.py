"""The environment process's core against real processes and a real Unix socket.

The server and the viewers run in this test's event loop; the services are real
local processes (one of them floods its output), the socket is real.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from stagedeck.deadline import within
from stagedeck.engine.events import ProcState
from stagedeck.envproc import wire
from stagedeck.envproc.client import connect
from stagedeck.envproc.daemon import clear_leftovers
from stagedeck.envproc.mirror import MirrorEngine, wait_until
from stagedeck.envproc.paths import env_key, pids_file, socket_path
from stagedeck.envproc.requests import Caller
from stagedeck.envproc.server import LOG_BACKLOG
from stagedeck.operations import ReadOnly
from stagedeck.recipe.model import Recipe, load_recipe
from stagedeck.store import Store
from support.envproc import isolated_env, mirror_of, serve

SERVICE = Path(__file__).parent / "support" / "services.py"

# A service that says hello with realistic lines, then floods (when asked) and serves.
TALKER = textwrap.dedent("""
    import http.server, json, sys, threading, time
    port, flood = int(sys.argv[1]), sys.argv[2] == "flood"
    for i in range(40):
        print(f"2026-12-01T18:00:{i % 60:02d}Z INFO boot step {i} rid=req-{i:04d} "
              + json.dumps({"step": i, "path": "/api/orders?id=" + str(i)}), flush=True)
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
        def log_message(self, *a): pass
    def spew():
        n = 0
        while True:
            for _ in range(200):
                n += 1
                sys.stdout.write(f"WARN order {n} slow rid=r{n:08d} upstream=payments ms=1234\\n")
            sys.stdout.flush()
            time.sleep(0.01)
    if flood:
        threading.Thread(target=spew, daemon=True).start()
    http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
""")


def make_recipe(tmp_path: Path, *, flood: bool = False, seeds: bool = False) -> Recipe:
    (tmp_path / "talker.py").write_text(TALKER)
    text = textwrap.dedent(f"""
        [environment]
        name = "envproc-test"
        probe_interval = 0.2

        [services.api]
        command = ["{{python}}", "{tmp_path / "talker.py"}", "{{self.port}}",
                   "{"flood" if flood else "quiet"}"]
        port = "auto"
        health = "/"
        """)
    if seeds:
        text += textwrap.dedent("""
            [seeds.fixtures]
            service = "api"
            command = ["{python}", "-c", "print('seeded')"]
            """)
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return load_recipe(path)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in isolated_env(tmp_path).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("STAGEDECK_DB", str(tmp_path / "shared.db"))


@pytest.mark.usefixtures("isolated")
async def test_lines_written_before_attaching_are_in_the_snapshot(tmp_path: Path) -> None:
    recipe = make_recipe(tmp_path)
    async with serve(recipe, tmp_path) as (engine, server):
        assert await wait_until(lambda: engine.statuses["api"].ok, 15)
        assert await wait_until(lambda: engine.logs.received("api") >= 40, 5)
        mirror = await mirror_of(recipe, "bob")
        try:
            texts = [ln.text for ln in mirror.logs.last("api", 100)]
            # As the environment ingested them: timestamp lifted, level found, text intact.
            assert any(t.startswith("INFO boot step 39 rid=req-0039") for t in texts), texts
            line = next(ln for ln in mirror.logs.last("api", 100) if "step 7 " in ln.text)
            assert line.level == "info" and line.rid == "req-0007"
            assert mirror.statuses["api"].ok and mirror.statuses["api"].pid is not None
            assert [t.service for t in mirror.transitions] == [
                t.service for t in engine.transitions
            ]
            # The viewer probes nothing and owns nothing.
            assert not mirror._probe_tasks and mirror.target.manages_processes is False
            assert [v["user"] for v in server.snapshot(server.viewers[0])["viewers"]] == ["bob"]
        finally:
            await mirror.stop()
        # Detaching stops nothing.
        await asyncio.sleep(0.3)
        assert engine.statuses["api"].state is ProcState.RUNNING


@pytest.mark.usefixtures("isolated")
async def test_a_slow_viewer_misses_lines_and_is_told_never_blocks_the_others(
    tmp_path: Path,
) -> None:
    recipe = make_recipe(tmp_path, flood=True)
    async with serve(recipe, tmp_path) as (engine, server):
        assert await wait_until(lambda: engine.statuses["api"].ok, 15)
        fast = await mirror_of(recipe, "fast")
        # The slow viewer attaches and then does not read (a plain socket: nothing
        # reads on its behalf in the background).
        slow_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        slow_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        slow_sock.connect(str(socket_path(recipe)))
        slow_sock.sendall(wire.dumps({"t": "attach", "user": "slow", "role": "cockpit"}))
        lags: list[float] = []
        start = time.monotonic()
        while time.monotonic() - start < 3.0:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            lags.append(time.monotonic() - before - 0.01)
        slow = next(v for v in server.viewers if v.user == "slow")
        try:
            # The flood went on; the fast viewer kept up with the environment.
            assert engine.logs.received("api") > 10_000
            assert fast.logs.received("api") >= engine.logs.received("api") - 5_000
            # The slow one was skipped, counted, and its backlog stayed bounded.
            assert slow.lost_lines > 0
            assert slow.backlog() < LOG_BACKLOG + 2 * 1024 * 1024
            # And the environment's loop never waited on it.
            assert max(lags) < 0.5, max(lags)
            # When it reads again, it is told how much it missed.
            reader, writer = await asyncio.open_unix_connection(sock=slow_sock, limit=wire.MAX_LINE)
            seen_lost = False
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not seen_lost:
                line = await within(reader.readline(), 5)
                seen_lost = wire.loads(line).get("t") == "lost"
            assert seen_lost
            writer.close()
        finally:
            slow_sock.close()
            await fast.stop()


@pytest.mark.usefixtures("isolated")
async def test_actions_go_through_the_environment_rules_and_audit_once(tmp_path: Path) -> None:
    recipe = make_recipe(tmp_path, seeds=True)
    async with serve(recipe, tmp_path) as (engine, server):
        assert await wait_until(lambda: engine.statuses["api"].ok and not engine.claims, 15)
        alice, bob = await mirror_of(recipe, "alice"), await mirror_of(recipe, "bob")
        try:
            done = await bob.request("redeploy", {"service": "api"})
            assert done.ok, done.detail
            assert done.detail.startswith("redeploy api: api healthy")
            # Both saw it; the audit has it once, in bob's name.
            assert await wait_until(lambda: alice.statuses["api"].restarts == 1, 5)
            assert bob.statuses["api"].restarts == 1
            store = Store.open(tmp_path / "shared.db")
            entries = store.recent_audit("envproc-test")
            assert [(e.action, e.user, e.outcome) for e in entries] == [("redeploy", "bob", "ok")]
            assert entries[0].details.get("via") == "environment process"
            unknown = await bob.request("redeploy", {"service": "nope"})
            assert not unknown.ok and "no service 'nope'" in unknown.detail
            seeded = await alice.request("reseed", {})
            assert seeded.ok, seeded.detail
            # Someone else's lease refuses, unless forced (and forcing is recorded).
            store.acquire_lease("envproc-test", "carol", "migrating", 600)
            refused = await bob.request("redeploy", {"service": "api"})
            assert refused.outcome == "refused" and "carol" in refused.detail
            forced = await bob.request("redeploy", {"service": "api"}, forced=True)
            assert forced.ok
            assert store.recent_audit("envproc-test")[0].forced
        finally:
            await alice.stop()
            await bob.stop()
        # A read-only environment, and a read-only member, are refused by the process itself.
        actions = server.actions
        actions.read_only = ReadOnly("read-only (read_only = true in the recipe)")
        reply = await actions.perform("redeploy", {"service": "api"}, Caller("x", "x"))
        assert reply.outcome == "refused" and "read_only = true" in reply.detail
        actions.read_only = ReadOnly()
        reply = await actions.perform(
            "redeploy", {"service": "api"}, Caller("dana", "dana", "read-only")
        )
        assert reply.outcome == "refused" and "read-only access" in reply.detail


@pytest.mark.usefixtures("isolated")
async def test_a_viewer_sees_the_environment_go_within_two_seconds(tmp_path: Path) -> None:
    recipe = make_recipe(tmp_path)
    context = serve(recipe, tmp_path)
    engine, server = await context.__aenter__()
    assert await wait_until(lambda: engine.statuses["api"].ok, 15)
    mirror = await mirror_of(recipe, "bob")
    told: list[str] = []
    mirror.on_gone = told.append
    started = time.monotonic()
    server.request_stop("stopped by alice")
    await context.__aexit__(None, None, None)
    assert await wait_until(lambda: mirror.gone, 2.0)
    assert time.monotonic() - started < 2.0 + 6  # services take up to their stop grace
    assert told and "stopped by alice" in told[0]
    assert not mirror.connected
    assert all(s.health.value == "unknown" for s in mirror.statuses.values())
    reply = await mirror.request("redeploy", {"service": "api"})
    assert not reply.ok and "gone" in reply.detail
    await mirror.stop()
    # Nothing is left to attach to: the next command works on its own.
    assert await connect(recipe, user="bob") is None


@pytest.mark.usefixtures("isolated")
def test_leftover_services_are_stopped_and_named(tmp_path: Path) -> None:
    recipe = make_recipe(tmp_path)
    key = env_key(recipe)
    leftover = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        env={**os.environ, "STAGEDECK_SERVICE": "api"},
        start_new_session=True,
    )
    stranger = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    try:
        pids_file(key).parent.mkdir(parents=True, exist_ok=True)
        # The stranger's pid is recorded too (pids get reused): it is not ours, so it stays.
        pids_file(key).write_text(json.dumps({"api": leftover.pid, "web": stranger.pid}))
        time.sleep(0.3)
        notes = clear_leftovers(key, recipe)
        assert leftover.wait(timeout=5) == -signal.SIGTERM
        assert stranger.poll() is None
        assert len(notes) == 1 and "could not re-adopt api" in notes[0]
        assert str(leftover.pid) in notes[0]
        assert not pids_file(key).exists()
    finally:
        for proc in (leftover, stranger):
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.usefixtures("isolated")
def test_commands_say_whether_they_attached(tmp_path: Path) -> None:
    recipe = make_recipe(tmp_path)
    status = subprocess.run(
        [sys.executable, "-m", "stagedeck", "status", str(recipe.path), "--json"],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=60,
    )
    assert "no environment process for 'envproc-test'" in status.stderr
    assert json.loads(status.stdout)["environment"] == "envproc-test"
    down = subprocess.run(
        [sys.executable, "-m", "stagedeck", "down", str(recipe.path)],
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=60,
    )
    assert down.returncode == 1 and "no environment process runs" in down.stderr


@pytest.mark.usefixtures("isolated")
async def test_a_saved_recipe_reaches_every_viewer(tmp_path: Path) -> None:
    from stagedeck.engine.reload import watch_engine

    recipe = make_recipe(tmp_path)
    async with serve(recipe, tmp_path) as (engine, _server):
        watcher = asyncio.create_task(watch_engine(engine).run())
        try:
            assert await wait_until(lambda: engine.statuses["api"].ok, 15)
            viewer = await mirror_of(recipe, "bob")
            try:
                text = recipe.path.read_text() + textwrap.dedent(f"""
                    [services.extra]
                    command = ["{{python}}", "{SERVICE}", "{{self.port}}"]
                    port = "auto"
                    health = "/"
                    """)
                recipe.path.write_text(text)
                assert await wait_until(lambda: "extra" in viewer.recipe.services, 15)
                assert await wait_until(lambda: viewer.statuses["extra"].ok, 15)
                # The viewer's copy keeps the environment's ports.
                assert viewer.recipe.services["api"].port == engine.recipe.services["api"].port
                assert viewer.recipe.services["extra"].port == engine.recipe.services["extra"].port
            finally:
                await viewer.stop()
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)


def test_text_from_the_socket_cannot_control_the_terminal() -> None:
    """Another user's environment process is outside input: its text passes the gate."""
    from stagedeck.engine.logs import LogHub

    evil = "\x1b]0;EVILTITLE\x07boom \x1b[2J\x1b]52;c;ZXZpbA==\x07 after"
    status = wire.status_from_wire(
        {"name": "api\x1b[31m", "state": "crashed", "health": "down", "reason": evil}
    )
    assert "\x1b" not in status.name + status.reason and "after" in status.reason
    notice = wire.event_from_wire(
        {"t": "notice", "message": evil, "severity": "[bold]x", "at": 1.0}
    )
    assert notice is not None and "\x1b" not in notice.message  # type: ignore[union-attr]
    assert notice.severity == "information"  # type: ignore[union-attr]
    hub = LogHub()
    hub.adopt([(1.0, "api", "out", evil, "error"), (1.0, "api", "out", "plain", "")])
    texts = [ln.text for ln in hub.since(0)]
    assert texts[1] == "plain" and "\x1b" not in texts[0] and "\x07" not in texts[0]


@pytest.mark.usefixtures("isolated")
async def test_an_environment_process_that_cannot_start_is_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stagedeck.envproc.client import ensure

    monkeypatch.setenv("STAGEDECK_SHARE_GROUP", "no-such-group-here")
    recipe = make_recipe(tmp_path)
    mirror = MirrorEngine(recipe, lambda: ensure(recipe, user="alice"))
    told: list[str] = []
    mirror.on_gone = told.append
    await mirror.start()
    assert mirror.gone and not mirror.connected
    assert told and "not a Unix group on this host" in told[0], told
    assert "no-such-group-here" in mirror.connection_detail


@pytest.mark.usefixtures("isolated")
def test_an_announcement_is_believed_only_from_its_own_account(tmp_path: Path) -> None:
    from stagedeck.envproc.paths import Announcement, announce, read_announcement

    recipe = make_recipe(tmp_path)
    key = env_key(recipe)
    sock = tmp_path / "their.sock"
    sock.write_text("")
    mine = Announcement(key, "x", str(recipe.path), os.getpid(), os.getuid(), "me", str(sock))
    announce(mine)
    assert read_announcement(key) == mine
    # A file naming another account (written by us) is not believed.
    announce(
        Announcement(key, "x", str(recipe.path), os.getpid(), os.getuid() + 4242, "eve", str(sock))
    )
    assert read_announcement(key) is None


@pytest.mark.usefixtures("isolated")
async def test_spans_reach_every_viewer_held_and_new(tmp_path: Path) -> None:
    import secrets

    import httpx

    from support.traces import export_json, span_json

    recipe = make_recipe(tmp_path)
    recipe.path.write_text(recipe.path.read_text() + '\n[traces]\nport = "auto"\n')
    recipe = load_recipe(recipe.path)
    async with serve(recipe, tmp_path) as (engine, _server):
        assert engine.otlp is not None and engine.traces is not None
        endpoint = engine.otlp.endpoint

        async def send(trace_id: str, name: str) -> None:
            async with httpx.AsyncClient() as client:
                answer = await client.post(
                    endpoint + "/v1/traces",
                    content=export_json({"api": [span_json(name, trace_id=trace_id)]}),
                    headers={"Content-Type": "application/json"},
                )
            assert answer.status_code == 200

        before, after = secrets.token_hex(16), secrets.token_hex(16)
        await send(before, "GET /before \x1b[31mred")
        # Bob loads the recipe himself: its "auto" port is not the environment's.
        bobs = load_recipe(recipe.path)
        assert bobs.traces is not None and engine.recipe.traces is not None
        assert bobs.traces.port != engine.recipe.traces.port
        viewer = await mirror_of(bobs, "bob")
        try:
            assert viewer.traces is not None and viewer.otlp is None  # it receives nothing
            held = viewer.traces.get(before)
            assert held is not None and held.services() == ["api"]
            assert "\x1b" not in held.spans[0].name
            await send(after, "GET /after")
            assert await wait_until(lambda: viewer.traces.get(after) is not None, 5)  # type: ignore[union-attr]
            # The suites a viewer runs send their spans where the environment listens.
            assert viewer.recipe.traces == engine.recipe.traces
        finally:
            await viewer.stop()


@pytest.mark.usefixtures("isolated")
async def test_a_viewer_s_fault_is_applied_and_lifted_by_the_environment_process(
    tmp_path: Path,
) -> None:
    from stagedeck.envproc.remote import RemoteOperations
    from stagedeck.operations import Decision, requests

    recipe = make_recipe(tmp_path)
    async with serve(recipe, tmp_path) as (engine, _server):
        assert await wait_until(lambda: engine.statuses["api"].ok and not engine.claims, 15)
        viewer = await mirror_of(recipe, "bob")
        try:
            store = Store.open(tmp_path / "shared.db")
            ops = RemoteOperations(viewer, user="bob", store=store)
            # The viewer offers what the environment's target can do, and says how.
            request = requests.fault(ops, "api", "pause", 1.0)
            assert "SIGSTOP" in request.touches
            result = await ops.perform(request, Decision(confirmed=True))
            assert result.ok, result.detail
            assert result.value is not None and "api" in result.value.spec.label()
            entry = store.recent_audit("envproc-test")[0]
            assert (entry.action, entry.user) == ("fault pause", "bob")
            # Lifted by the environment process when due; its audit entry then finishes.
            assert await wait_until(
                lambda: store.recent_audit("envproc-test")[0].ended is not None, 10
            )
            redeploy = requests.redeploy(ops, "api")
            assert "stopped (SIGTERM, then SIGKILL) and started again" in redeploy.touches
        finally:
            await viewer.stop()


@pytest.mark.usefixtures("isolated")
async def test_a_viewer_s_fault_handle_follows_the_environment_and_lifts_there(
    tmp_path: Path,
) -> None:
    """A scenario run from a viewer holds a handle it can wait on and lift; another
    viewer sees whose fault it is and can lift it; a read-only member cannot."""
    from stagedeck.envproc.remote import RemoteOperations, remote_args
    from stagedeck.gate.scenario import scenario_request
    from stagedeck.operations import Decision
    from stagedeck.recipe.gate import Scenario

    recipe = make_recipe(tmp_path)
    async with serve(recipe, tmp_path) as (engine, server):
        assert await wait_until(lambda: engine.statuses["api"].ok and not engine.claims, 15)
        bob, carol = await mirror_of(recipe, "bob"), await mirror_of(recipe, "carol")
        try:
            store = Store.open(tmp_path / "shared.db")
            ops = RemoteOperations(bob, user="bob", store=store)
            scenario = Scenario("api frozen [rc-1]", "api", "pause", 30.0)
            request = scenario_request(ops, scenario)
            # The scenario's name travels as a label, not as a fault parameter.
            assert remote_args(request, Decision(confirmed=True))["scenario"] == "api frozen [rc-1]"
            result = await ops.perform(request, Decision(confirmed=True))
            assert result.ok, result.detail
            handle = result.value
            assert handle.active and handle.spec.label() == "pause api for 30s"
            assert 25 < handle.remaining() <= 30
            assert await wait_until(lambda: engine.statuses["api"].health.value != "healthy", 10)
            entry = store.recent_audit("envproc-test")[0]
            assert entry.details.get("scenario") == "api frozen [rc-1]"
            # Carol sees it, and whose it is.
            listed = RemoteOperations(carol, user="carol").remote_faults.active
            assert [f.describe().split(" (")[0] for f in listed.values()] == [
                "pause api for 30s by bob"
            ]
            # A read-only member may not lift it.
            refused = await server.actions.perform(
                "fault lift", {"ids": list(listed)}, Caller("dana", "dana", "read-only")
            )
            assert refused.outcome == "refused" and handle.active
            # Bob's scenario ends early: lifted in the environment process, at once.
            began = time.monotonic()
            await handle.lift("the scenario ended early")
            assert time.monotonic() - began < 5
            assert not handle.active and handle.ended_by == "the scenario ended early by bob"
            assert handle.lifted_at is not None
            assert await wait_until(lambda: engine.statuses["api"].ok, 10)
            assert await wait_until(
                lambda: store.recent_audit("envproc-test")[0].ended is not None, 10
            )
            # Nothing left to lift; a bad parameter is refused with its name.
            assert not RemoteOperations(carol, user="carol").remote_faults.active
            bad = await server.actions.perform(
                "fault latency",
                {"service": "api", "kind": "latency", "duration": 5, "params": {"ms": "x;rm"}},
                Caller("bob", "bob"),
            )
            assert bad.outcome == "refused" and "'ms' must be a number" in bad.detail
        finally:
            await bob.stop()
            await carol.stop()


SLOW_SEED = textwrap.dedent("""
    import time
    print("WARN reset: data wiped (all tables)", flush=True)
    time.sleep(1.5)
    print("loaded 8 SKUs and 4 orders", flush=True)
""")


@pytest.mark.usefixtures("isolated")
async def test_viewers_wait_for_start_up_seeding_and_know_it_happened(tmp_path: Path) -> None:
    """A cockpit attached while the environment loads its seeds: a suite waits for them,
    and triage knows the data was reloaded after the wipe (no false 'not reseeded')."""
    from stagedeck.suites.recording import wait_for_dependencies
    from stagedeck.triage.live import monitor_for
    from stagedeck.triage.model import SubjectKind

    (tmp_path / "seed.py").write_text(SLOW_SEED)
    recipe = make_recipe(tmp_path)
    text = recipe.path.read_text().replace(
        "probe_interval = 0.2", "probe_interval = 0.2\nseed_on_start = true"
    )
    text += textwrap.dedent(f"""
        [seeds.fixtures]
        service = "api"
        command = ["{{python}}", "{tmp_path / "seed.py"}"]
        """)
    recipe.path.write_text(text)
    recipe = load_recipe(recipe.path)
    async with serve(recipe, tmp_path) as (engine, _server):
        early = await mirror_of(recipe, "alice")
        late = None
        try:
            monitor = monitor_for(early)
            assert early.starting is not None and not early.starting.done()
            assert await wait_for_dependencies(early, ["api"]) == ""
            # The suite went on only once the seed had loaded, as on the engine itself.
            assert engine.starting is not None and engine.starting.done()
            assert any((a.action, a.state) == ("reseed", "ok") for a in engine.recent_actions)
            assert await wait_until(lambda: bool(monitor.history().seeds), 5)
            # One who attaches later learns of the reseed from the snapshot.
            late = await mirror_of(recipe, "bob")
            assert late.starting is None or late.starting.done()
            history = monitor_for(late).history()
            assert [s.seed for s in history.seeds] == ["fixtures"] and history.seeds[0].ok
            assert any("data wiped" in ln.text for ln in late.logs.last("api", 200))
            for viewer in (early, late):
                ranking = monitor_for(viewer).recompute()
                assert not [s for s in ranking.suspects if s.kind is SubjectKind.TEST_DATA]
        finally:
            await early.stop()
            if late is not None:
                await late.stop()


def test_an_environment_log_past_its_size_is_rotated_at_start(tmp_path: Path) -> None:
    from stagedeck.envproc import client

    log = tmp_path / "shop-1.log"
    log.write_bytes(b"x" * (client.LOG_ROTATE_BYTES + 1))
    assert client._rotated(log) == log and not log.exists()
    assert (tmp_path / "shop-1.log.1").stat().st_size == client.LOG_ROTATE_BYTES + 1
    log.write_bytes(b"small")
    client._rotated(log)
    assert log.read_bytes() == b"small"
