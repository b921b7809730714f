"""The gate: each criterion passing and failing, waivers, baselines, the verdict stored, exit codes.

Runs are written through the real store API into a real SQLite file, the way
``stagedeck run`` writes them; failure messages look like real ones.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from stagedeck.cli.main import main
from stagedeck.faults.model import FaultKind
from stagedeck.gate.gather import judge
from stagedeck.recipe.errors import RecipeError
from stagedeck.recipe.gate import FAULT_KINDS
from stagedeck.recipe.model import load_recipe
from stagedeck.store import Store, TestResult

RECIPE = """
[environment]
name = "shop"

[services.payments]
command = ["true"]
port = 45103
slo_ms = 100

[services.orders]
command = ["true"]
port = 45104
depends_on = ["payments"]
slo_ms = 50

[seeds.fixtures]
service = "orders"
command = ["true"]

[suites.api]
command = ["true"]

[suites.flows]
command = ["true"]

[gate]
{gate}
"""

BOOM = (
    'AssertionError: POST /api/orders -> 502 {"error": "payment failed: payments unavailable: '
    'timed out after 3s", "rid": "r-7f3a9c"} at 2026-12-01T18:02:11.412Z'
)
DECLINED = 'AssertionError: expected 201, got 402 {"reason": "card declined", "rid": "r-01b2"}'


def recipe_with(tmp_path: Path, gate: str) -> Path:
    path = tmp_path / "shop.toml"
    path.write_text(textwrap.dedent(RECIPE).replace("{gate}", textwrap.dedent(gate)))
    return path


def quiet_window(start: float, **over: Any) -> dict[str, Any]:
    services = {
        "payments": {"count": 20, "errors": 0, "p50": 20.0, "p95": 40.0, "max": 45.0},
        "orders": {"count": 20, "errors": 0, "p50": 10.0, "p95": 20.0, "max": 25.0},
    }
    for name, stats in over.pop("services", {}).items():
        services[name] = {**services[name], **stats}
    return {"started": start, "ended": start + 30, "services": services, "restarts": [], **over}


def record_run(
    store: Store,
    *,
    failures: tuple[tuple[str, str, str], ...] = (),
    window: dict[str, Any] | None = None,
    suspects: list[dict[str, Any]] | None = None,
    suites: tuple[str, ...] = ("api", "flows"),
) -> int:
    """A run of ``suites`` with 5 tests each; ``failures``: (suite, test id, message)."""
    run_id = store.start_run("shop", "ci")
    for suite in suites:
        sid = store.start_suite_run(run_id, suite)
        failed = [(t, m) for s, t, m in failures if s == suite]
        results = [
            TestResult(f"tests/test_{suite}.py::test_ok_{i}", "passed")
            for i in range(5 - len(failed))
        ] + [TestResult(t, "failed", message=m) for t, m in failed]
        ids = store.add_test_results(sid, results)
        for rid, r in zip(ids, results, strict=True):
            if r.outcome == "failed" and suspects:
                store.add_failure_suspects(rid, suspects)
        store.update_suite_run(
            sid,
            state="failed" if failed else "passed",
            passed=5 - len(failed),
            failed=len(failed),
            total=5,
        )
    run = store.run(run_id)
    assert run is not None
    store.set_run_window(run_id, window or quiet_window(run.started))
    store.finish_run(run_id, "failed" if failures else "passed")
    return run_id


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "shared.db")


def test_fault_kinds_in_the_recipe_match_the_fault_layer() -> None:
    assert tuple(k.value for k in FaultKind) == FAULT_KINDS


def test_gate_section_errors_name_line_and_fix(tmp_path: Path) -> None:
    path = recipe_with(
        tmp_path,
        """
        suites = ["api", "flow"]
        pass_rat = 0.9
        waive = ["bug", "known"]
        error_rate = 2
        """,
    )
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    text = [str(p) for p in info.value.problems]
    assert any(
        "gate.suites: names unknown suite 'flow'" in t and "did you mean 'flows'" in t for t in text
    )
    assert any("gate.pass_rat: unknown key" in t and "did you mean 'pass_rate'" in t for t in text)
    assert any("gate.waive: 'bug' cannot waive" in t for t in text)
    assert any("gate.error_rate: must be a number from 0 to 1" in t for t in text)
    assert all(f"{path}:" in t for t in text)


def test_all_criteria_hold_gives_go_and_is_stored(tmp_path: Path, store: Store) -> None:
    recipe = load_recipe(recipe_with(tmp_path, ""))
    run_id = record_run(store)
    verdict = judge(store, recipe, run_id, user="ci")
    assert verdict.go, verdict.to_dict()
    assert [c.key for c in verdict.criteria] == [
        "suites",
        "new-failures",
        "slo",
        "errors",
        "restarts",
    ]
    stored = store.gate_verdict(run_id)
    assert stored is not None and stored["verdict"] == "GO" and stored["evaluated_by"] == "ci"
    assert "api 5/5, flows 5/5" in verdict.criteria[0].summary


def test_failed_suite_is_no_go_with_the_stored_suspect(tmp_path: Path, store: Store) -> None:
    recipe = load_recipe(recipe_with(tmp_path, ""))
    suspect = {
        "kind": "service",
        "name": "payments",
        "score": 0.91,
        "fault": "hung",
        "verdict": "hung: 2 health checks timed out",
        "evidence": [],
    }
    run_id = record_run(
        store, failures=(("flows", "tests/test_flows.py::test_checkout", BOOM),), suspects=[suspect]
    )
    verdict = judge(store, recipe, run_id)
    suites = verdict.criteria[0]
    assert not verdict.go and not suites.ok
    assert "flows 4/5" in suites.summary and "90.0% passed" in suites.summary
    assert suites.tests == ("tests/test_flows.py::test_checkout",)
    assert suites.suspects[0]["name"] == "payments"
    assert suites.jump.value == "tests"


def test_pass_rate_lets_a_share_fail(tmp_path: Path, store: Store) -> None:
    recipe = load_recipe(recipe_with(tmp_path, "pass_rate = 0.85\nnew_failures = true"))
    one = record_run(store, failures=(("flows", "tests/test_flows.py::test_a", BOOM),))
    assert judge(store, recipe, one).go  # 9/10 = 90 % >= 85 %
    two = record_run(
        store,
        failures=(
            ("flows", "tests/test_flows.py::test_a", BOOM),
            ("api", "tests/test_api.py::test_b", DECLINED),
        ),
    )
    verdict = judge(store, recipe, two)
    assert not verdict.go and "80.0% passed; 85% must pass" in verdict.criteria[0].summary


def test_a_required_suite_that_did_not_run_fails(tmp_path: Path, store: Store) -> None:
    recipe = load_recipe(recipe_with(tmp_path, 'suites = ["api", "flows"]'))
    run_id = record_run(store, suites=("api",))
    crit = judge(store, recipe, run_id).criteria[0]
    assert not crit.ok and "flows did not run" in crit.summary


def test_waivers_only_for_tags_the_gate_allows_and_listed_with_author(
    tmp_path: Path, store: Store
) -> None:
    test_id = "tests/test_flows.py::test_refund"
    run_id = record_run(store, failures=(("flows", test_id, DECLINED),))
    sig = store.failures("shop", run_id)[0].result.signature
    assert sig
    store.add_annotation(sig, test_id, "shop", "alice", "bug", "refund rounding, JIRA-12")
    strict = load_recipe(recipe_with(tmp_path, 'waive = ["known"]'))
    assert not judge(store, strict, run_id).go  # tagged bug: not waivable
    store.add_annotation(sig, test_id, "shop", "bob", "known", "sandbox declines 4000…0002")
    verdict = judge(store, strict, run_id)
    assert verdict.go, verdict.to_dict()
    (waiver,) = verdict.waivers
    assert (waiver.author, waiver.tag, waiver.test_id) == ("bob", "known", test_id)
    no_waive = load_recipe(recipe_with(tmp_path, ""))
    assert not judge(store, no_waive, run_id).go  # the gate allows no waiver: still NO-GO


def test_new_failures_against_the_last_go_run_and_a_named_one(tmp_path: Path, store: Store) -> None:
    recipe = load_recipe(recipe_with(tmp_path, "pass_rate = 0.5"))
    old = ("flows", "tests/test_flows.py::test_a", BOOM)
    first = record_run(store, failures=(old,))
    v1 = judge(store, recipe, first)
    new_crit = next(c for c in v1.criteria if c.key == "new-failures")
    assert not new_crit.ok and "no baseline" in new_crit.summary  # nothing to compare with
    clean = record_run(store)
    assert judge(store, recipe, clean).go  # GO: the baseline from now on
    again = record_run(store, failures=(old,))
    crit = next(c for c in judge(store, recipe, again).criteria if c.key == "new-failures")
    assert not crit.ok and f"against run {clean}" in crit.summary
    named = load_recipe(recipe_with(tmp_path, f"pass_rate = 0.5\nbaseline = {first}"))
    crit = next(c for c in judge(store, named, again).criteria if c.key == "new-failures")
    assert crit.ok and f"against run {first}" in crit.summary  # run 1 had the same signature


def test_slo_breach_names_the_root_service_and_points_at_its_chart(
    tmp_path: Path, store: Store
) -> None:
    recipe = load_recipe(recipe_with(tmp_path, ""))
    run_id = record_run(
        store,
        window=quiet_window(
            0.0,
            services={"payments": {"p95": 412.0, "max": 530.0}, "orders": {"p95": 80.0}},
        ),
    )
    crit = next(c for c in judge(store, recipe, run_id).criteria if c.key == "slo")
    assert not crit.ok
    assert "payments 412/100 ms" in crit.summary and "orders 80/50 ms" in crit.summary
    assert [s["name"] for s in crit.suspects] == ["payments", "orders"]  # the root first
    assert "orders" in crit.suspects[0]["impacted"]
    assert crit.jump.value == "chart" and crit.service == "payments"
    assert crit.suspects[0]["evidence"][0]["where"]["view"] == "chart"


def test_slo_with_too_few_samples_is_reported_not_judged(tmp_path: Path, store: Store) -> None:
    recipe = load_recipe(recipe_with(tmp_path, "min_samples = 5"))
    run_id = record_run(
        store, window=quiet_window(0.0, services={"payments": {"count": 2, "p95": 900.0}})
    )
    crit = next(c for c in judge(store, recipe, run_id).criteria if c.key == "slo")
    assert crit.ok and "too few samples: payments (2 samples)" in crit.summary


def test_error_rate_bound(tmp_path: Path, store: Store) -> None:
    recipe = load_recipe(recipe_with(tmp_path, "error_rate = 0.1"))
    ok_run = record_run(store, window=quiet_window(0.0, services={"orders": {"errors": 2}}))
    assert next(c for c in judge(store, recipe, ok_run).criteria if c.key == "errors").ok
    bad = record_run(store, window=quiet_window(0.0, services={"orders": {"errors": 5}}))
    crit = next(c for c in judge(store, recipe, bad).criteria if c.key == "errors")
    assert not crit.ok and "orders 5/20" in crit.summary and crit.suspects[0]["name"] == "orders"


def test_unexpected_restarts_and_crash_loops_but_not_those_an_action_caused(
    tmp_path: Path, store: Store
) -> None:
    recipe = load_recipe(recipe_with(tmp_path, ""))
    run_id = store.start_run("shop", "ci")
    run = store.run(run_id)
    assert run is not None
    t0 = run.started
    crash = {
        "service": "orders",
        "at": t0 + 5,
        "state": "crashed",
        "reason": "exited with code 137: MemoryError in /orders rid=r-99",
    }
    window = quiet_window(t0, restarts=[crash])
    store.set_run_window(run_id, window)  # the run is still going: ended is set at the end
    sid = store.start_suite_run(run_id, "api")
    store.update_suite_run(sid, state="passed", passed=1, total=1)
    sid = store.start_suite_run(run_id, "flows")
    store.update_suite_run(sid, state="passed", passed=1, total=1)
    crit = next(c for c in judge(store, recipe, run_id).criteria if c.key == "restarts")
    assert not crit.ok and crit.suspects[0]["name"] == "orders"
    assert "MemoryError" in crit.details[0]
    # A redeploy of orders around that moment explains it.
    audit = store.audit_start("shop", "alice", "redeploy", ["orders"], {})
    store.audit_finish(audit, "ok", {})
    entry = store.recent_audit("shop", 1)[0]
    store.set_run_window(run_id, quiet_window(t0, restarts=[{**crash, "at": entry.started + 0.5}]))
    crit = next(c for c in judge(store, recipe, run_id).criteria if c.key == "restarts")
    assert crit.ok and "1 by actions" in crit.summary and "redeploy by alice" in crit.details[0]
    loop = [{**crash, "at": t0 + i} for i in range(3)]
    store.set_run_window(run_id, quiet_window(t0, restarts=loop))
    crit = next(c for c in judge(store, recipe, run_id).criteria if c.key == "restarts")
    assert not crit.ok and crit.suspects[0]["fault"] == "crash loop"


def test_seeds_verified_in_this_run(tmp_path: Path, store: Store) -> None:
    recipe = load_recipe(recipe_with(tmp_path, "seeds_verified = true"))
    unverified = record_run(store)
    crit = next(c for c in judge(store, recipe, unverified).criteria if c.key == "seeds")
    assert not crit.ok and "not verified in this run" in crit.summary
    bad = record_run(
        store,
        window=quiet_window(
            0.0,
            seeds=[
                {
                    "seed": "fixtures",
                    "service": "orders",
                    "ok": False,
                    "detail": "GET /api/inventory: expected 12 SKUs, got 0",
                }
            ],
        ),
    )
    crit = next(c for c in judge(store, recipe, bad).criteria if c.key == "seeds")
    assert not crit.ok and crit.suspects[0]["kind"] == "test-data"
    good = record_run(
        store,
        window=quiet_window(0.0, seeds=[{"seed": "fixtures", "service": "orders", "ok": True}]),
    )
    assert next(c for c in judge(store, recipe, good).criteria if c.key == "seeds").ok


def test_cli_exit_codes_and_json(
    tmp_path: Path, store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    path = recipe_with(tmp_path, "")
    db = str(tmp_path / "shared.db")
    good = record_run(store)
    bad = record_run(store, failures=(("api", "tests/test_api.py::test_x", BOOM),))
    assert main(["gate", str(path), "--db", db, "--run", str(good)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"gate: GO for run {good}") and "✓ required suites pass" in out
    assert main(["gate", str(path), "--db", db, "--json"]) == 1  # the latest: bad
    data = json.loads(capsys.readouterr().out)
    assert data["verdict"] == "NO-GO" and data["run_id"] == bad and data["failing"] >= 1
    assert main(["gate", str(path), "--db", db, "--run", "999"]) == 2
    broken = tmp_path / "broken.toml"
    broken.write_text(path.read_text().replace("[gate]", "[gate]\npas_rate = 1"))
    assert main(["gate", str(broken), "--db", db]) == 2
    assert "did you mean 'pass_rate'" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["md", "html", "junit"])
def test_reports_carry_the_verdict(tmp_path: Path, store: Store, fmt: str) -> None:
    from stagedeck.suites.report import build_report, render

    recipe = load_recipe(recipe_with(tmp_path, ""))
    run_id = record_run(store, window=quiet_window(0.0, services={"payments": {"p95": 412.0}}))
    judge(store, recipe, run_id)
    text = render(build_report(store, run_id), fmt)
    if fmt == "junit":
        import xml.etree.ElementTree as ET

        suite = next(s for s in ET.fromstring(text) if s.get("name") == "stagedeck gate")
        failed = [c.get("name") for c in suite if c.find("failure") is not None]
        assert failed == ["slo"]
    else:
        assert "Gate: NO-GO" in text and "payments 412/100 ms" in text
        assert "suspect 1. payments" in text


def test_scenario_section_errors_name_line_and_fix(tmp_path: Path) -> None:
    path = recipe_with(tmp_path, "")
    path.write_text(
        path.read_text()
        + textwrap.dedent(
            """
            [scenarios.pay]
            service = "paymnts"
            fault = "freeze"
            suites = ["api"]
            must_pass = ["flows"]
            fail_fast = { url = "{service.orders.url}/orders", within = 1, metod = "GET" }

            [scenarios.slow]
            service = "payments"
            fault = "latency"
            """
        )
    )
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    text = [str(p) for p in info.value.problems]
    assert any("scenarios.pay.service: names unknown service 'paymnts'" in t for t in text)
    assert any("did you mean 'payments'" in t for t in text)
    assert any("scenarios.pay.fault: unknown fault 'freeze'" in t for t in text)
    assert any("'flows' must pass but is not run" in t for t in text)
    assert any("fail_fast.metod: unknown key" in t and "did you mean 'method'" in t for t in text)
    assert any("scenarios.slow: a latency fault needs delay_ms" in t for t in text)
    assert all(f"{path}:" in t for t in text)


def test_the_demo_recipe_ships_a_gate_and_three_scenarios() -> None:
    from stagedeck.demo import recipe_path

    recipe = load_recipe(recipe_path(), auto_ports=True)
    assert recipe.gate is not None and recipe.gate.waive == ("known", "flaky")
    assert set(recipe.scenarios) == {"payments-down", "inventory-frozen", "ledger-slow"}
    frozen = recipe.scenarios["inventory-frozen"]
    assert frozen.fail_fast is not None
    assert frozen.fail_fast.url == recipe.services["gateway"].url + "/api/inventory"


def test_two_roots_over_their_slo_the_worse_one_is_named_first(
    tmp_path: Path, store: Store
) -> None:
    path = recipe_with(tmp_path, "")
    path.write_text(
        path.read_text().replace(
            "[seeds.fixtures]",
            '[services.ledger]\ncommand = ["true"]\nslo_ms = 50\n\n[seeds.fixtures]',
        )
    )
    recipe = load_recipe(path)
    window = quiet_window(0.0)
    window["services"]["ledger"] = {"count": 20, "errors": 0, "p95": 93.0}  # 1.9x
    window["services"]["payments"]["p95"] = 447.0  # 4.5x
    crit = next(
        c for c in judge(store, recipe, record_run(store, window=window)).criteria if c.key == "slo"
    )
    assert [s["name"] for s in crit.suspects] == ["payments", "ledger"]


JUNIT = (
    'import sys; open(sys.argv[1], \'w\').write(\'<testsuite name="s" tests="2" failures="{n}">'
    '<testcase classname="t" name="ok"/><testcase classname="t" name="boom">{f}'
    "</testcase></testsuite>'); sys.exit({n})"
)


def ci_recipe(tmp_path: Path, failing: bool) -> Path:
    fail = '<failure message="502 rid=r-1">AssertionError</failure>' if failing else ""
    code = JUNIT.replace("{n}", "1" if failing else "0").replace("{f}", fail)
    path = tmp_path / ("red.toml" if failing else "green.toml")
    path.write_text(
        textwrap.dedent(
            f"""
            [environment]
            name = "ci"

            [suites.unit]
            command = ["{{python}}", "-c", {json.dumps(code)}, "{{junit}}"]

            [gate]
            slo = false
            """
        )
    )
    return path


def test_run_then_gate_in_one_ci_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "shared.db")
    green = ci_recipe(tmp_path, failing=False)
    assert main(["run", str(green), "--gate", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "run 1: unit passed" in out and "gate: GO for run 1" in out
    red = ci_recipe(tmp_path, failing=True)
    assert main(["run", str(red), "--gate", "--json", "--db", db]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["run"]["ok"] is False and data["gate"]["verdict"] == "NO-GO"
    failing = [c["key"] for c in data["gate"]["criteria"] if not c["ok"]]
    assert failing == ["suites", "new-failures"]  # run 1 was GO: the failure is new against it
    assert Store.open(Path(db)).gate_verdict(data["run"]["run_id"])["verdict"] == "NO-GO"


def test_scenario_command_refuses_read_only_and_names_unknown_scenarios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = recipe_with(tmp_path, "")
    path.write_text(
        path.read_text()
        + '\n[scenarios.payments-down]\nservice = "payments"\nfault = "stop"\nduration = 5\n'
    )
    db = str(tmp_path / "shared.db")
    assert main(["scenario", str(path), "payments-dwn", "--db", db]) == 2
    assert "did you mean 'payments-down'" in capsys.readouterr().err
    assert (
        main(["scenario", str(path), "payments-down", "--up", "--read-only", "--yes", "--db", db])
        == 1
    )
    err = capsys.readouterr().err
    assert "fault stop refused" in err and "read-only" in err
    assert Store.open(Path(db)).recent_audit("shop") == []  # refused before anything ran
