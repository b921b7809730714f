"""The same hostile strings through every text source: none may style or control a terminal.

Sources: recipe names, a health command's output, the shared database (lease
owner and reason, annotation, user names, audit details, test results),
Docker inspect documents and compose labels, Kubernetes statuses, log lines;
and the command line, which prints records too (``lease``, ``failures``,
``report``, ``check``). The cockpit's raw terminal bytes are checked in
``test_hostile_text_never_reaches_the_terminal`` (tmux).
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from stagedeck.engine.logs import LogHub
from stagedeck.engine.probes import probe_command
from stagedeck.recipe.errors import RecipeError
from stagedeck.recipe.model import load_recipe
from stagedeck.store import Store, TestResult
from stagedeck.targets.docker.discovery import project_recipe
from stagedeck.targets.docker.state import PROJECT_LABEL, SERVICE_LABEL, view_from_inspect
from stagedeck.targets.kubernetes.model import ContainerInfo, PodInfo, Verdict
from stagedeck.text import UNSAFE, Clean, clean, visible
from support.cli import run_cli
from support.evil import FORBIDDEN_BYTES, HOSTILE
from support.procs import new_marker, wait_until_gone
from support.tmux import Terminal, have_tmux

ALL = "".join(HOSTILE.values())
"""Every hostile string in one, as a colleague could type it into a reason."""


def assert_inert(text: str) -> None:
    assert UNSAFE.search(text.replace("\n", " ")) is None, repr(text)
    raw = text.encode()
    for bad in FORBIDDEN_BYTES:
        assert bad not in raw, (bad, text)


# --------------------------------------------------------------------------- the gate


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_the_gate_leaves_only_inert_text(name: str) -> None:
    cleaned = clean(HOSTILE[name])
    assert isinstance(cleaned, Clean)
    assert_inert(cleaned)
    assert clean(cleaned) is cleaned  # cleaning twice is free
    # Error messages name the characters instead of dropping them.
    shown = visible(HOSTILE[name])
    assert "\x1b" not in shown and "\u202e" not in shown
    if "\x1b" in HOSTILE[name]:
        assert "\\x1b" in shown


def test_the_gate_keeps_markup_as_text_and_lines_where_asked() -> None:
    assert clean(HOSTILE["markup"]) == HOSTILE["markup"]
    assert clean("a\r\nb\tc") == "a b c"  # tab to the next stop of 4
    assert clean("a\r\nb\x1b[31m\nc", newlines=True) == "a\nb\nc"
    assert clean("user\u202etxt.exe") == "usertxt.exe"


def test_log_lines_lose_invisible_characters_too() -> None:
    hub = LogHub()
    hub.extend("svc", [HOSTILE[n] for n in sorted(HOSTILE)])
    lines = hub.since(0)
    assert len(lines) == len(HOSTILE)
    for line in lines:
        assert_inert(line.text)


# --------------------------------------------------------------------------- sources


def test_a_colleagues_records_in_the_shared_file_come_back_clean(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    with Store.open(db) as colleague:  # writes whatever it is given, as another version might
        colleague.acquire_lease("env", "bob" + ALL, "reason" + ALL, 600)
        run = colleague.start_run("env", "bob" + ALL)
        sid = colleague.start_suite_run(run, "api" + HOSTILE["bidi"])
        colleague.add_test_results(
            sid,
            [TestResult("t::x" + HOSTILE["zero-width"], "failed", message="boom" + ALL)],
        )
        colleague.audit_start("env", "bob" + ALL, "redeploy", ("a" + ALL,), {"why": ALL})
        colleague.heartbeat("env", "carol" + ALL, "host:1")
    with Store.open(db) as store:
        lease = store.current_lease("env")
        assert lease is not None
        assert lease.owner == "bob" + clean(ALL)
        for text in (lease.owner, lease.reason, lease.describe()):
            assert_inert(text)
        failure = store.failures("env", run)[0]
        assert_inert(failure.suite)
        assert_inert(failure.result.test_id)
        assert_inert(failure.result.message)
        assert failure.result.signature
        store.add_annotation(failure.result.signature, "t", "env", "bob" + ALL, "bug", ALL, ALL)
        note = store.annotations_for(failure.result.signature)[0]
        for text in (note.author, note.note, note.link or ""):
            assert_inert(text)
        entry = store.recent_audit("env")[0]
        assert_inert(entry.user)
        assert_inert(" ".join(entry.services))
        assert_inert(str(entry.details))
        assert all(w.user == "carol" + clean(ALL) for w in store.watchers("env"))


def test_health_command_output_is_a_clean_reason() -> None:
    script = "import sys; sys.stdout.write(" + repr(ALL) + "); sys.exit(3)"
    result = asyncio.run(probe_command((sys.executable, "-c", script), 10.0))
    assert not result.ok and "exited 3" in result.detail
    assert_inert(result.detail)


def test_recipe_names_with_control_characters_are_refused_and_shown_visibly(
    tmp_path: Path,
) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text(
        textwrap.dedent("""
        [environment]
        name = "env\\u001b]0;EVILTITLE\\u0007"
        [services."we\\u202eb"]
        command = ["true"]
        """)
    )
    with pytest.raises(RecipeError) as info:
        load_recipe(recipe)
    text = str(info.value)
    assert_inert(text)
    assert "\\x1b]0;EVILTITLE\\x07" in text and "we\\u202eb" in text


def test_docker_inspect_and_compose_labels_are_clean() -> None:
    view = view_from_inspect(
        {
            "Id": "abc",
            "Name": "/web" + ALL,
            "State": {
                "Status": "running",
                "Error": "err" + ALL,
                "Health": {"Status": "unhealthy", "Log": [{"ExitCode": 1, "Output": ALL}]},
            },
            "Config": {"Labels": {"x": ALL}},
        }
    )
    for text in (view.name, view.error, view.health_output):
        assert_inert(text)
    assert view.labels["x"] == ALL  # labels pick containers; they are not shown

    def container(service: str, depends: str) -> dict[str, object]:
        return {
            "Id": service,
            "Config": {
                "Labels": {
                    PROJECT_LABEL: "p",
                    SERVICE_LABEL: service,
                    "com.docker.compose.depends_on": depends,
                }
            },
            "State": {"Running": True},
        }

    evil = "web" + HOSTILE["title"]
    recipe = project_recipe(
        "p",
        [
            container(evil, "db:service_started:false"),
            container("db", "cache:service_started:false"),
            container("cache", f"{evil}:service_started:false"),  # a cycle
        ],
    )
    names = set(recipe.services)
    assert names == {"webti", "db", "cache"}
    assert recipe.services["webti"].labels[SERVICE_LABEL] == evil  # still finds its container
    assert recipe.graph.find_cycle() is None  # the cycle was broken, the cockpit can open
    assert sum(len(layer) for layer in recipe.graph.layers()) == 3


def test_kubernetes_reasons_are_clean() -> None:
    c = ContainerInfo("app", waiting="CrashLoopBackOff" + ALL, waiting_message=ALL)
    assert_inert(c.waiting) and assert_inert(c.waiting_message)  # type: ignore[func-returns-value]
    pod = PodInfo("p", unschedulable=ALL, pod_reason=ALL, containers=(c,))
    assert_inert(pod.unschedulable)
    assert_inert(pod.pod_reason)
    assert_inert(pod.problem())
    v = Verdict(state=__import__("stagedeck.engine.events").engine.events.ProcState.RUNNING)
    assert v.reason == ""
    assert_inert(Verdict(v.state, reason=ALL, platform=ALL).reason)


# --------------------------------------------------------------------------- the command line


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return run_cli(tmp_path, *args, raw=True, timeout=60)  # type: ignore[return-value]


def test_the_command_line_prints_no_escape_sequences(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    with Store.open(db) as colleague:
        colleague.acquire_lease("env", "bob" + ALL, "reason" + ALL, 600)
        run = colleague.start_run("env", "bob" + ALL)
        sid = colleague.start_suite_run(run, "api")
        colleague.update_suite_run(sid, state="failed", failed=1, total=1, detail=ALL)
        colleague.add_test_results(
            sid, [TestResult("t::x", "failed", message="boom" + ALL, traceback=ALL)]
        )
        colleague.finish_run(run, "failed")
        sig = colleague.failures("env", run)[0].result.signature
        assert sig
        colleague.add_annotation(sig, "t::x", "env", "bob" + ALL, "bug", "note" + ALL, None)
    bad_recipe = tmp_path / "bad.toml"
    bad_recipe.write_text('[environment]\nname = "x\\u001b]52;c;ZXZpbC1jbGlwYm9hcmQ=\\u0007"\n')
    commands = [
        ("lease", "show", "--env", "env", "--db", str(db)),
        ("lease", "acquire", "--env", "env", "--db", str(db)),  # refused: shows bob's lease
        ("failures", "--env", "env", "--db", str(db)),
        ("failures", "--env", "env", "--db", str(db), "--json"),
        ("report", "--env", "env", "--db", str(db), "--format", "md"),
        ("report", "--env", "env", "--db", str(db), "--format", "html"),
        ("check", str(bad_recipe)),
    ]
    seen = b""
    for command in commands:
        done = _cli(tmp_path, *command)
        out = done.stdout + done.stderr
        seen += out
        for bad in FORBIDDEN_BYTES:
            assert bad not in out, (command, bad, out)
        assert b"\x1b]" not in out and b"\x07" not in out, (command, out)
        assert b"Traceback" not in out, (command, out)
    assert b"leased by bob" in seen and b"boom" in seen and b"note" in seen


# --------------------------------------------------------------------------- a real terminal


@pytest.mark.tmux
@pytest.mark.skipif(not have_tmux(), reason="tmux is not installed (Debian package: tmux)")
def test_hostile_text_never_reaches_the_terminal(tmp_path: Path) -> None:
    """Shared-database and probe text, in a real terminal: the raw bytes and the title."""
    db = tmp_path / "shared.db"
    with Store.open(db) as colleague:
        colleague.acquire_lease("evil", "bob" + ALL, "load test" + ALL, 3600)
        colleague.heartbeat("evil", "carol" + ALL, "elsewhere:1")
    script = "import sys; sys.stdout.write(" + repr(ALL) + "); sys.exit(1)"
    recipe = tmp_path / "evil.toml"
    recipe.write_text(
        textwrap.dedent(f"""
        [environment]
        name = "evil"
        probe_interval = 0.5
        [services.evil]
        command = ["sleep", "600"]
        health = {{ command = ["{sys.executable}", "-c", {script!r}] }}
        """)
        .replace("'", '"')
        .replace('"import', "'import")
        .replace('exit(1)"', "exit(1)'")
    )
    load_recipe(recipe)  # the recipe itself is fine: commands may hold any character
    marker = new_marker()
    term = Terminal(
        [sys.executable, "-m", "stagedeck", "open", str(recipe)],
        width=200,
        height=40,
        env={
            "STAGEDECK_TEST_MARKER": marker,
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "STAGEDECK_DB": str(db),
            "USER": "alice",
        },
        record=tmp_path / "terminal.bytes",
        cwd=tmp_path,
    )
    with term:
        term.wait_for(lambda s: "leased by bob" in s, timeout=30)
        term.send("3")  # the graph view shows the selected service's reason
        term.wait_for("select a service", timeout=10)
        term.send("j")
        screen = term.wait_for(lambda s: "exited 1" in s, timeout=30)
        time.sleep(0.5)
        raw = (tmp_path / "terminal.bytes").read_bytes()
        title = term._tmux("display-message", "-p", "-t", term.name, "#{pane_title}")
        term.send("q")
    assert "EVILTITLE" not in title
    for bad in FORBIDDEN_BYTES:
        assert bad not in raw, bad
    # Textual's own OSC 22 (pointer shape) ends in BEL; nothing else may ring.
    own = re.sub(rb"\x1b\]22;[a-z-]*\x07", b"", raw)
    assert b"\x07" not in own
    assert "[bold red]MARKUP[/]" in screen  # markup from the probe shown as the text it is
    assert wait_until_gone(marker) == []


def test_suspects_and_kubernetes_notes_are_clean(tmp_path: Path) -> None:
    from stagedeck.targets.kubernetes.discovery import DEPENDS_ON, build_recipe
    from stagedeck.targets.kubernetes.model import WorkloadInfo

    with Store.open(tmp_path / "shared.db") as colleague:
        run = colleague.start_run("env", "bob")
        sid = colleague.start_suite_run(run, "api")
        (rid,) = colleague.add_test_results(sid, [TestResult("t::x", "failed", message="boom")])
        colleague.add_failure_suspects(
            rid, [{"kind": "service", "name": "db" + ALL, "score": 1.0, "verdict": ALL}]
        )
        (suspect,) = colleague.failure_suspects(rid)
        assert_inert(str(suspect))
    workload = WorkloadInfo.from_json(
        "Deployment",
        {"metadata": {"name": "web", "annotations": {DEPENDS_ON: "db" + ALL}}, "spec": {}},
    )
    recipe, notes = build_recipe([workload], "ctx", "ns")
    assert notes and all(UNSAFE.search(n) is None for n in notes)
    assert list(recipe.services) == ["web"]
