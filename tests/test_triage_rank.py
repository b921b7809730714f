"""The ranking on recorded histories: no processes, no clock, real-looking messages."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from stagedeck.triage import (
    ChangeRecord,
    EvidenceKind,
    FailedTest,
    Fault,
    SeedRecord,
    SubjectKind,
    Suspect,
    View,
    explain_failure,
    rank_environment,
    ranking_from_rows,
)
from stagedeck.triage.model import REPORT_THRESHOLD
from triage_histories import T0, Recorder, healthy_minutes


@pytest.fixture
def rec() -> Recorder:
    r = Recorder()
    healthy_minutes(r, 2.0, traffic=1)
    return r


def top(rec: Recorder) -> Suspect:
    ranking = rank_environment(rec.history())
    assert ranking.top is not None, "expected a suspect"
    return ranking.top


def test_a_healthy_environment_has_no_suspects(rec: Recorder) -> None:
    ranking = rank_environment(rec.history())
    assert ranking.suspects == ()
    assert ranking.line() == ""
    assert not ranking.abnormal


def test_the_first_timed_out_probe_already_makes_a_hung_suspect(rec: Recorder) -> None:
    rec.tick(faults={"payments": "hang"})
    assert rec.services["payments"].health == "degraded"  # not down yet
    suspect = top(rec)
    assert (suspect.name, suspect.fault) == ("payments", Fault.HUNG)
    assert "timed out" in suspect.verdict
    assert suspect.score >= 0.75


def test_a_hang_outranks_everything_it_impacts(rec: Recorder) -> None:
    for _ in range(3):
        rec.tick(faults={"payments": "hang"}, traffic=3)
    ranking = rank_environment(rec.history())
    first, *rest = ranking.suspects
    assert first.name == "payments" and first.fault is Fault.HUNG
    assert {"orders", "gateway", "worker"} <= set(first.impacted)
    assert "orders, gateway, worker impacted" in first.verdict
    assert "hang, not a crash" in " ".join(e.text for e in first.evidence)
    for other in rest:
        assert other.score < first.score
        assert other.verdict.startswith("impacted by payments")
    kinds = {e.kind for e in first.evidence}
    assert EvidenceKind.PROBE in kinds and EvidenceKind.LOG in kinds
    assert ranking.line().startswith("likely cause: payments — hung: 3 health checks timed out")


def test_a_crash_is_told_apart_from_a_hang(rec: Recorder) -> None:
    rec.tick(traffic=1)
    rec.crash("inventory")
    rec.tick(traffic=2)
    suspect = top(rec)
    assert (suspect.name, suspect.fault) == ("inventory", Fault.CRASHED)
    assert "exited" in suspect.verdict
    assert set(suspect.impacted) == {"orders", "gateway", "worker"}


def test_failing_requests_behind_a_green_health_check_are_found(rec: Recorder) -> None:
    """The issue's invisible case: every request 500s, /health says ok."""
    for _ in range(3):
        rec.tick(faults={"payments": "errors"}, traffic=3)
    assert rec.services["payments"].health == "healthy"
    ranking = rank_environment(rec.history())
    first = ranking.suspects[0]
    assert (first.name, first.fault) == ("payments", Fault.FAILING)
    assert "100% of requests failing" in first.verdict
    assert all(s.score < first.score for s in ranking.suspects[1:])
    orders = next(s for s in ranking.suspects if s.name == "orders")
    assert orders.verdict.startswith("impacted by payments")


def test_an_unhealthy_endpoint_with_a_working_api_is_not_an_outage(rec: Recorder) -> None:
    rec.tick(faults={"ledger": "unhealthy"})
    rec.tick(faults={"ledger": "unhealthy"})
    suspect = top(rec)
    assert (suspect.name, suspect.fault) == ("ledger", Fault.UNHEALTHY)
    assert "API still answers" in suspect.verdict
    assert suspect.impacted == ()  # nothing depends on a health endpoint


def test_latency_above_the_slo_counts_while_health_is_green(rec: Recorder) -> None:
    for _ in range(3):
        rec.tick(faults={"payments": "slow"})
    suspect = top(rec)
    assert (suspect.name, suspect.fault) == ("payments", Fault.SLOW)
    assert "SLO of 100 ms" in suspect.verdict
    latency = next(e for e in suspect.evidence if e.kind is EvidenceKind.LATENCY)
    assert latency.where.view is View.CHART and latency.where.service == "payments"
    assert "baseline" in latency.text


def test_ties_are_ordered_deterministically(rec: Recorder) -> None:
    rec.tick()
    rec.crash("ledger")
    rec.crash("inventory")
    rec.tick()
    ranking = rank_environment(rec.history())
    a, b = ranking.suspects[:2]
    assert a.score == b.score
    assert [a.name, b.name] == ["inventory", "ledger"]
    assert rank_environment(rec.history()).same_as(ranking)


def test_two_simultaneous_faults_both_outrank_what_they_impact(rec: Recorder) -> None:
    for _ in range(3):
        rec.tick(faults={"payments": "hang", "ledger": "errors"}, traffic=3)
    ranking = rank_environment(rec.history())
    names = [s.name for s in ranking.suspects]
    assert set(names[:2]) == {"payments", "ledger"}
    floor = min(s.score for s in ranking.suspects[:2])
    assert all(s.score < floor for s in ranking.suspects[2:])
    assert all(s.verdict.startswith("impacted by") for s in ranking.suspects[2:])


def test_a_fault_that_clears_leaves_no_suspect(rec: Recorder) -> None:
    for _ in range(3):
        rec.tick(faults={"payments": "hang"}, traffic=2)
    assert top(rec).name == "payments"
    rec.tick()  # probes answer again: healthy
    assert rec.services["payments"].health == "healthy"
    healthy_minutes(rec, 0.5, traffic=1)
    assert rank_environment(rec.history()).suspects == ()


def test_a_crashed_service_that_came_back_is_cleared_too(rec: Recorder) -> None:
    rec.crash("orders")
    rec.tick()
    assert top(rec).name == "orders"
    rec.restart("orders")
    healthy_minutes(rec, 0.5, traffic=1)
    assert rank_environment(rec.history()).suspects == ()


def test_a_service_that_always_logs_errors_is_not_a_suspect() -> None:
    rec = Recorder()
    healthy_minutes(rec, 3.0, faults={"worker": "noisy"}, traffic=1)
    assert rank_environment(rec.history()).suspects == ()


def test_a_chronic_error_logger_does_not_outrank_the_real_fault() -> None:
    rec = Recorder()
    healthy_minutes(rec, 3.0, faults={"worker": "noisy"}, traffic=1)
    for _ in range(2):
        rec.tick(faults={"worker": "noisy", "payments": "slow"})
    ranking = rank_environment(rec.history())
    assert ranking.top is not None and ranking.top.name == "payments"
    assert all(s.name != "worker" for s in ranking.suspects)


def test_an_unrelated_redeploy_a_minute_earlier_is_a_red_herring(rec: Recorder) -> None:
    rec.changes.append(ChangeRecord(rec.now, "redeploy worker", ("worker",), "alice", "ok", "", 41))
    rec.restart("worker")
    healthy_minutes(rec, 1.0, traffic=1)
    rec.tick(faults={"inventory": "hang"}, traffic=2)
    ranking = rank_environment(rec.history())
    assert ranking.top is not None and ranking.top.name == "inventory"
    assert all(e.kind is not EvidenceKind.CHANGE for s in ranking.suspects for e in s.evidence)


def test_a_redeploy_of_the_faulty_service_shortly_before_is_evidence(rec: Recorder) -> None:
    rec.changes.append(
        ChangeRecord(rec.now, "redeploy payments", ("payments",), "bob", "ok", "", 7)
    )
    rec.restart("payments")
    rec.tick()
    rec.tick(faults={"payments": "errors"}, traffic=2)
    suspect = top(rec)
    change = next(e for e in suspect.evidence if e.kind is EvidenceKind.CHANGE)
    assert "redeploy payments by bob" in change.text
    assert change.where.view is View.AUDIT and change.where.audit_id == 7


def test_restarts_make_a_crash_loop(rec: Recorder) -> None:
    for _ in range(3):
        rec.crash("worker", 1)
        rec.tick()
        rec.set("worker", state="restarting", health="down", reason="restarting")
        rec.restart("worker")
    rec.crash("worker", 1)
    rec.tick()
    suspect = top(rec)
    assert suspect.name == "worker"
    assert suspect.fault in (Fault.CRASH_LOOP, Fault.CRASHED)
    assert any(e.kind is EvidenceKind.RESTART and "4 restarts" in e.text for e in suspect.evidence)


def test_kubernetes_crash_loop_and_oom_are_evidence(rec: Recorder) -> None:
    """The Kubernetes target's verdict arrives as the status reason (see k8s_model)."""
    rec.tick(faults={"payments": "hang"})
    rec.set(
        "payments",
        state="running",
        health="down",
        reason="payments-7d9f-x2x: CrashLoopBackOff (last exit: OOMKilled, code 137; 4 restarts)",
    )
    suspect = top(rec)
    assert suspect.name == "payments" and suspect.fault is Fault.CRASH_LOOP
    texts = " ".join(e.text for e in suspect.evidence)
    assert "OOMKilled" in texts and "CrashLoopBackOff" in texts


def test_a_lost_platform_is_the_top_suspect(rec: Recorder) -> None:
    history = replace(
        rec.history(), connected=False, connection_detail="docker: connection refused"
    )
    ranking = rank_environment(history)
    assert ranking.top is not None and ranking.top.kind is SubjectKind.PLATFORM


def test_suspects_survive_a_round_trip_through_json(rec: Recorder) -> None:
    for _ in range(2):
        rec.tick(faults={"payments": "hang"}, traffic=2)
    ranking = rank_environment(rec.history())
    rows = json.loads(json.dumps([s.to_dict() for s in ranking.suspects]))
    back = ranking_from_rows(rows)
    assert [s.name for s in back.suspects] == [s.name for s in ranking.suspects]
    assert back.suspects[0].evidence[0].where == ranking.suspects[0].evidence[0].where
    assert back.suspects[0].fault is Fault.HUNG


def test_unknown_stored_values_degrade_softly() -> None:
    s = Suspect.from_dict({"kind": "alien", "fault": "cosmic rays", "score": "x", "evidence": [1]})
    assert s.kind is SubjectKind.SERVICE and s.evidence == ()


# ------------------------------------------------------------------ a failed test


def failed(rec: Recorder, message: str, output: str = "", **kw: object) -> FailedTest:
    return FailedTest(
        "test_flows.py::test_checkout_reserves_and_charges",
        rec.now - 3.5,
        rec.now - 0.2,
        message,
        output,
        suite="flows",
        depends_on=("gateway", "worker"),
        **kw,  # type: ignore[arg-type]
    )


def test_a_failed_checkout_follows_its_request_id_to_payments(rec: Recorder) -> None:
    rec.tick(faults={"payments": "hang"}, traffic=2)
    request = rec.checkout({"payments": "hang"})
    message = (
        'AssertionError: {"error": "orders unavailable: HTTP 502: payments unavailable: '
        'timed out after 3s"}\nassert 502 == 201'
    )
    ranking = explain_failure(rec.history(), failed(rec, message, f"request rid={request}"))
    first = ranking.top
    assert first is not None and first.name == "payments"
    req = next(e for e in first.evidence if e.kind is EvidenceKind.REQUEST)
    assert request in req.text and req.where.request_id == request
    assert req.where.view is View.LOGS
    assert all(s.kind is not SubjectKind.TEST_DATA for s in ranking.suspects[:1])


def test_broken_test_data_is_blamed_on_the_data(rec: Recorder) -> None:
    rec.seeds.append(SeedRecord(T0 + 10, "fixtures", "gateway", True, True))
    rec.tick()
    request = "t5c0ffee11"
    rec.log("inventory", "warn", "POST /admin/reset 200 1ms reset: data wiped", "t0000reset")
    rec.tick()
    rec.log("inventory", "warn", 'GET /skus/SKU-1 404 1ms reason="unknown sku SKU-1"', request)
    rec.log(
        "gateway", "warn", 'GET /api/inventory/SKU-1 404 2ms reason="unknown sku SKU-1"', request
    )
    message = 'AssertionError: {"error": "unknown sku SKU-1"}\nassert 404 == 200'
    test = FailedTest("test_api.py::test_sku", rec.now - 1, rec.now, message, f"rid={request}")
    ranking = explain_failure(rec.history(), test)
    first = ranking.top
    assert first is not None and first.kind is SubjectKind.TEST_DATA
    assert first.fault is Fault.BAD_DATA
    texts = [e.text for e in first.evidence]
    assert any("last reseed: fixtures" in t and "verified" in t for t in texts)
    assert any("data wiped" in t for t in texts)
    assert any("404" in t for t in texts)


def test_a_failed_verify_makes_the_data_a_suspect_even_now(rec: Recorder) -> None:
    rec.seeds.append(
        SeedRecord(
            rec.now, "fixtures", "gateway", False, False, "verify failed: SKU-3 on_hand 0 != 40"
        )
    )
    ranking = rank_environment(rec.history())
    assert ranking.top is not None and ranking.top.kind is SubjectKind.TEST_DATA


def test_a_flaky_test_is_named_when_nothing_else_is_wrong(rec: Recorder) -> None:
    test = failed(
        rec, "AssertionError: worker shipped 0 of 1 orders in 5s", flip_rate=0.6, samples=12
    )
    ranking = explain_failure(rec.history(), test)
    assert ranking.top is not None
    assert (ranking.top.kind, ranking.top.fault) == (SubjectKind.TEST, Fault.FLAKY)


def test_a_real_fault_outranks_a_flaky_history(rec: Recorder) -> None:
    rec.tick(faults={"orders": "hang"}, traffic=2)
    rec.tick(faults={"orders": "hang"}, traffic=2)
    test = failed(rec, "httpx.ReadTimeout: timed out", flip_rate=0.3, samples=10)
    ranking = explain_failure(rec.history(), test)
    assert ranking.top is not None and ranking.top.name == "orders"


def test_a_refused_suite_names_the_unhealthy_dependency(rec: Recorder) -> None:
    rec.tick(faults={"orders": "unhealthy"})
    rec.tick(faults={"orders": "unhealthy"})
    refused = f"orders is not healthy: down: GET {rec.url('orders')}: HTTP 503"
    test = failed(rec, refused, refused=refused)
    ranking = explain_failure(rec.history(), test)
    assert ranking.top is not None and ranking.top.name == "orders"
    assert any("suite refused" in e.text for e in ranking.top.evidence)


def test_with_nothing_abnormal_the_answer_says_so(rec: Recorder) -> None:
    ranking = explain_failure(rec.history(), failed(rec, "assert 'shipped' == 'paid'"))
    assert ranking.top is not None
    assert ranking.top.kind in (SubjectKind.TEST, SubjectKind.TEST_DATA)


def test_every_reported_suspect_clears_the_threshold(rec: Recorder) -> None:
    for _ in range(3):
        rec.tick(faults={"payments": "hang", "worker": "noisy"}, traffic=3)
    for s in rank_environment(rec.history()).suspects:
        assert s.score >= REPORT_THRESHOLD * 0.45 - 1e-9
        assert s.evidence and all(e.text for e in s.evidence)


def test_one_crash_looping_replica_of_a_serving_service_is_a_weaker_suspect(rec: Recorder) -> None:
    rec.set("orders", reason="ready 2/3; orders-5f-q: CrashLoopBackOff (last exit: Error, code 1)")
    suspect = top(rec)
    assert suspect.name == "orders" and suspect.fault is Fault.CRASH_LOOP
    assert 0.5 <= suspect.score < 0.8


def test_one_slow_round_is_enough_when_the_health_check_is_slow_too(rec: Recorder) -> None:
    rec.tick(faults={"ledger": "slow"})
    suspect = top(rec)
    assert (suspect.name, suspect.fault) == ("ledger", Fault.SLOW)


def test_a_single_latency_spike_is_not_a_suspect(rec: Recorder) -> None:
    from stagedeck.triage import ProbeKind

    rec.tick()
    rec.probe("ledger", True, 180.0, ProbeKind.OK, "HTTP 200", True)  # health check was fast
    assert rank_environment(rec.history()).suspects == ()


def test_two_services_naming_each_other_do_not_hide_both(rec: Recorder) -> None:
    for _ in range(3):
        rec.tick()
        rec.log(
            "ledger", "error", 'POST /entries 502 4ms reason="payments unavailable: HTTP 500"', "t1"
        )
        rec.log(
            "payments",
            "error",
            'POST /payments 500 4ms reason="ledger unavailable: HTTP 500"',
            "t2",
        )
    ranking = rank_environment(rec.history())
    assert ranking.top is not None
    assert not ranking.top.verdict.startswith("impacted by")


def test_a_failed_tests_trace_points_at_the_span_that_failed_first(rec: Recorder) -> None:
    """Traces (traces.evidence.suspects_from_traces) name the service even with no log line."""
    from stagedeck.traces.evidence import suspects_from_traces

    summary = {
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
        "error": True,
        "duration_ms": 31.0,
        "root_service": "gateway",
        "blame": {"error_service": "ledger", "error_span": "POST /entries"},
    }
    test = failed(rec, 'AssertionError: {"error": "internal error"}\nassert 502 == 201')
    test = replace(test, traces=tuple(suspects_from_traces([summary])))
    ranking = explain_failure(rec.history(), test)
    assert ranking.top is not None and ranking.top.name == "ledger"
    trace = next(e for e in ranking.top.evidence if e.kind is EvidenceKind.TRACE)
    assert "failed first in trace 4bf92f35" in trace.text
    assert trace.where.view is View.TRACES and trace.where.test_id == test.test_id


def test_a_span_latency_shift_is_evidence_while_health_stays_green(rec: Recorder) -> None:
    shift = ("inventory", 0.4, "spans 4.2x slower than before (3 → 13ms median)")
    ranking = rank_environment(replace(rec.history(), traces=(shift,)))
    assert ranking.top is not None and ranking.top.name == "inventory"
    assert ranking.top.fault is Fault.SLOW


def test_the_span_that_took_the_time_counts_only_when_it_is_slow() -> None:
    from stagedeck.triage.snapshot import trace_evidence

    fast = {"trace_id": "7cf20158aa", "blame": {"slow_service": "inventory", "slow_self_ms": 2.0}}
    slow = {"trace_id": "9d1e0000bb", "blame": {"slow_service": "payments", "slow_self_ms": 640}}
    failed_first = {
        "trace_id": "4bf92f3577",
        "error": True,
        "blame": {"error_service": "ledger", "error_span": "POST /entries"},
    }
    triples = trace_evidence([fast, slow, failed_first], {"inventory": 50.0, "payments": 100.0})
    assert [t[0] for t in triples] == ["ledger", "payments"]


def test_everything_down_at_once_asks_whether_the_environment_runs() -> None:
    """Nothing listening anywhere: the line says so, and names the deepest service first."""
    from stagedeck.triage.model import Question, Ranking

    def down(name: str) -> Suspect:
        return Suspect(SubjectKind.SERVICE, name, 0.9, Fault.CRASHED, "crashed: connection refused")

    ranking = Ranking(Question.ENVIRONMENT, 0.0, (down("ledger"), down("orders"), down("gateway")))
    assert ranking.line().startswith("likely cause: 3 services down at once (is the environment")
    assert "deepest: ledger — crashed" in ranking.line()
    two = Ranking(Question.ENVIRONMENT, 0.0, (down("ledger"), down("orders")))
    assert two.line() == "likely cause: ledger — crashed: connection refused"
