"""The gate and the scenarios on the real demo: real processes, real faults, real suites."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stagedeck.cli.main import main
from stagedeck.demo import recipe_path
from stagedeck.gate.gather import judge
from stagedeck.operations import Decision, Operations, requests
from stagedeck.store import Store
from stagedeck.suites.recording import run_and_record
from stagedeck.suites.runner import SuiteRunner
from support.faultmatrix import seeded_demo

pytestmark = [pytest.mark.slow]


@pytest.mark.asyncio
async def test_payments_slowed_above_its_slo_is_no_go_with_payments_the_suspect(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STAGEDECK_STATE_DIR", str(tmp_path / "state"))
    store = Store.open(tmp_path / "db.sqlite")
    async with seeded_demo(tmp_path) as engine:
        ops = Operations(engine, user="ci", store=store)
        fault = requests.fault(ops, "payments", "latency", 120, {"delay_ms": 400})
        handle = (await ops.perform(fault, Decision(confirmed=True))).value
        try:
            runner = SuiteRunner(engine.recipe, workdir=tmp_path / "work")
            record = await run_and_record(engine, runner, ["api", "flows"], store, "ci")
        finally:
            await handle.lift()
            await ops.close()
    assert record.run_id is not None
    verdict = judge(store, engine.recipe, record.run_id, user="ci")
    assert not verdict.go
    slo = next(c for c in verdict.criteria if c.key == "slo")
    assert not slo.ok, slo.summary
    assert slo.suspects[0]["name"] == "payments", slo.suspects
    assert slo.suspects[0]["fault"] == "slow"
    assert slo.jump.value == "chart" and slo.service == "payments"
    others = [s for s in slo.summary.split(", ") if not s.startswith(("payments", "p95/SLO"))]
    assert all("/" in s for s in others)
    stored = store.gate_verdict(record.run_id)
    assert stored is not None and stored["verdict"] == "NO-GO"


def scenario(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:  # type: ignore[type-arg]
    db = str(tmp_path / "db.sqlite")
    code = main(
        [
            "scenario",
            str(recipe_path()),
            name,
            "--up",
            "--reseed",
            "--free-ports",
            "--yes",
            "--json",
            "--db",
            db,
            "--user",
            "ci",
        ]
    )
    out = capsys.readouterr().out
    return code, json.loads(out)


def test_the_three_demo_scenarios_run_headless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STAGEDECK_STATE_DIR", str(tmp_path / "state"))
    code, down = scenario("payments-down", tmp_path, capsys)
    assert code == 0 and down["ok"], down
    assert down["detect_s"] is not None and down["detect_s"] < 5
    assert down["recover_s"] is not None and down["recover_s"] < 10
    ff = down["fail_fast"]
    assert ff["status"] == 502 and ff["seconds"] < 1

    code, frozen = scenario("inventory-frozen", tmp_path, capsys)
    assert code == 1 and not frozen["ok"]
    (slow,) = [e for e in frozen["expectations"] if e["key"] == "fail-fast"]
    assert not slow["ok"] and frozen["fail_fast"]["seconds"] > 5  # the gateway's 10 s timeout
    assert frozen["suspects"][0]["name"] == "gateway"
    assert [e["ok"] for e in frozen["expectations"] if e["key"] != "fail-fast"] == [True, True]

    code, ledger = scenario("ledger-slow", tmp_path, capsys)
    assert code == 0 and ledger["ok"], ledger
    assert ledger["suites"] == {"flows": "passed"}

    # Stored like runs, and in the report of each.
    store = Store.open(tmp_path / "db.sqlite")
    for result in (down, frozen, ledger):
        assert store.scenario_result(result["run_id"])["scenario"] == result["scenario"]
    assert (
        main(["report", "--db", str(tmp_path / "db.sqlite"), "--run", str(frozen["run_id"])]) == 0
    )
    report = capsys.readouterr().out
    assert "## Scenario inventory-frozen" in report and "✗ dependents fail within 1s" in report
    # The fault went through the operations layer: audited, finished when lifted.
    faults = [e for e in store.recent_audit("demo", 50) if e.action.startswith("fault ")]
    assert len(faults) == 3 and all(e.outcome == "ok" and e.user == "ci" for e in faults)
