"""The fault matrix, CI subset: real demo processes, real faults, the live ranking.

The full matrix (every service x every fault) is bench/bench_triage.py; here a
slice that covers each fault kind once, on services at different depths.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from stagedeck.cli.main import main
from stagedeck.engine.engine import Engine
from stagedeck.engine.events import Health
from stagedeck.store import Store
from stagedeck.suites.recording import run_and_record, wait_for_dependencies
from stagedeck.suites.runner import SuiteRunner
from support.faultmatrix import inject, run_case, seeded_demo, undo

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

CASES = [
    ("payments", "hang"),
    ("inventory", "crash"),
    ("payments", "errors"),
    ("ledger", "unhealthy"),
    ("payments", "slow"),
    ("inventory", "data"),
    ("orders", "hang"),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Engine]:
    async with seeded_demo(tmp_path_factory.mktemp("triage")) as engine:
        yield engine


@pytest.mark.parametrize(("service", "fault"), CASES, ids=[f"{s}-{f}" for s, f in CASES])
async def test_the_faulty_cause_is_ranked_first(demo: Engine, service: str, fault: str) -> None:
    try:
        outcome = await run_case(demo, service, fault, limit=8.0)
    finally:
        await undo(demo, service, fault)
    assert outcome.env_correct, f"environment: {outcome.env_top}"
    assert outcome.env_seconds is not None and outcome.env_seconds < 8.0
    if outcome.test_checked:
        assert outcome.test_correct, f"{outcome.test_message} -> {outcome.test_top}"


async def test_a_suite_refused_for_a_crashed_dependency_is_a_failure_with_a_suspect(
    demo: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = tmp_path / "db.sqlite"
    store = Store.open(db)
    try:
        await inject(demo, "gateway", "crash")
        for _ in range(100):
            if "gateway" in demo.down():
                break
            await asyncio.sleep(0.05)
        runner = SuiteRunner(demo.recipe, workdir=tmp_path / "work")
        record = await run_and_record(demo, runner, ["api"], store, "alice")
    finally:
        await undo(demo, "gateway", "crash")
    assert record.run_id is not None
    (failure,) = store.failures("demo", record.run_id)
    assert failure.result.test_id == "api::(suite refused)"
    assert "gateway is not healthy" in failure.result.message
    assert failure.result.id is not None
    rows = store.failure_suspects(failure.result.id)
    assert rows and rows[0]["name"] == "gateway" and rows[0]["fault"] == "crashed"
    assert any("suite refused" in e["text"] for e in rows[0]["evidence"])

    # The same ranking, as the records commands show it.
    monkeypatch.setenv("STAGEDECK_DB", str(db))
    recipe = str(demo.recipe.path)
    assert main(["failures", "--env", "demo", "--json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert items[0]["suspects"][0]["name"] == "gateway"
    assert main(["why", recipe, "--run", str(record.run_id), "--json"]) == 1
    (why,) = json.loads(capsys.readouterr().out)
    assert why["ranking"]["suspects"][0]["name"] == "gateway"
    assert main(["report", "--env", "demo", "--format", "junit"]) == 0
    junit = capsys.readouterr().out
    assert '<property name="stagedeck.suspect" value="gateway"' in junit
    assert main(["report", "--env", "demo", "--format", "md"]) == 0
    assert "**Likely cause:** gateway — crashed" in capsys.readouterr().out


async def test_real_suite_failures_are_blamed_on_failing_payments(
    demo: Engine, tmp_path: Path
) -> None:
    """The issue's path: payments 500s behind a green health check, a real pytest suite."""
    store = Store.open(tmp_path / "db.sqlite")
    try:
        await inject(demo, "payments", "errors")
        await asyncio.sleep(2.5)  # one probe round
        runner = SuiteRunner(demo.recipe, workdir=tmp_path / "work")
        record = await run_and_record(demo, runner, ["flows"], store, "alice")
    finally:
        await undo(demo, "payments", "errors")
    failures = store.failures("demo", record.run_id)
    assert len(failures) >= 3
    tops = []
    for f in failures:
        assert f.result.id is not None
        rows = store.failure_suspects(f.result.id)
        tops.append(rows[0]["name"] if rows else "(none)")
    right = tops.count("payments")
    assert right >= 0.9 * len(tops), tops


def _recipe_on_these_ports(demo: Engine, tmp_path: Path) -> Path:
    """The demo's recipe file with the ports this demo got (``why`` loads a file)."""
    lines, section = [], ""
    for line in demo.recipe.path.read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]").removeprefix("services.")
        if section in demo.recipe.services and re.match(r"port\s*=", line):
            line = f"port = {demo.recipe.services[section].port}"
        lines.append(line)
    text = "\n".join(lines) + "\n"
    path = tmp_path / "demo.toml"
    path.write_text(text)
    (tmp_path / "suites").symlink_to(demo.recipe.path.parent / "suites")
    return path


async def test_why_observes_by_itself_and_says_so(
    demo: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("STAGEDECK_DB", str(tmp_path / "db.sqlite"))
    recipe = str(_recipe_on_these_ports(demo, tmp_path))
    code = await asyncio.to_thread(main, ["why", recipe, "--observe", "2.5"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "observed it for 2.5s itself" in out and "nothing abnormal in demo" in out
    try:
        await inject(demo, "payments", "hang")
        code = await asyncio.to_thread(main, ["why", recipe, "--json", "--observe", "3"])
    finally:
        await undo(demo, "payments", "hang")
    captured = capsys.readouterr()
    assert code == 1
    data = json.loads(captured.out)  # stdout is JSON and nothing else
    assert data["suspects"][0]["name"] == "payments"
    assert data["suspects"][0]["fault"] == "hung"
    assert "observed it for 3.0s itself" in captured.err


async def test_a_health_endpoint_alone_failing_is_not_an_outage(demo: Engine) -> None:
    """Its API answers: degraded (not down), and suites that need it are not refused."""
    try:
        await inject(demo, "gateway", "unhealthy")
        for _ in range(100):
            if "gateway" in demo.api_answers:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(4.5)  # past failures_before_down rounds
        status = demo.statuses["gateway"]
        assert status.health is Health.DEGRADED, status
        assert "its API answers" in status.reason
        assert "gateway" not in demo.down()
        assert await wait_for_dependencies(demo, ["gateway"]) == ""
    finally:
        await undo(demo, "gateway", "unhealthy")
