"""What the engine records for triage, and the live monitor on top, without processes."""

from __future__ import annotations

from pathlib import Path

from stagedeck.engine.engine import Engine
from stagedeck.engine.events import Health, ProcState
from stagedeck.engine.probes import ProbeKind, ProbeResult
from stagedeck.recipe.model import load_recipe
from stagedeck.triage.live import monitor_for
from stagedeck.triage.model import Fault, SuspectsChanged

RECIPE = """
[environment]
name = "t"
failures_before_down = 2

[services.payments]
command = ["true"]
port = 41001
health = "/health"
latency = ["{self.url}/payments?probe=1"]
slo_ms = 100

[services.orders]
command = ["true"]
port = 41002
health = "/health"
depends_on = ["payments"]
"""


def engine(tmp_path: Path) -> Engine:
    path = tmp_path / "t.toml"
    path.write_text(RECIPE)
    e = Engine(load_recipe(path))
    for name in e.recipe.services:
        e.process_state(name, ProcState.RUNNING, pid=4242)
        e.record_probe(name, ProbeResult(True, 3.0, "HTTP 200"))
    return e


def test_a_crash_reason_does_not_quote_a_successful_request(tmp_path: Path) -> None:
    e = engine(tmp_path)
    e.log("payments", "2026-12-01T16:02:11.120Z ERROR payments rid=t1 card processor said no")
    e.log("payments", "2026-12-01T16:02:11.388Z INFO  payments rid=t2a9 POST /payments 201 4ms")
    e.process_state("payments", ProcState.CRASHED, reason="killed by signal 9", exit_code=-9)
    reason = e.statuses["payments"].reason
    assert reason == "killed by signal 9: ERROR payments rid=t1 card processor said no"
    e.process_state("payments", ProcState.STARTING, pid=4243)
    e.log("payments", "INFO  payments rid=t2b0 POST /payments 201 3ms")
    e.process_state("payments", ProcState.CRASHED, reason="killed by signal 9", exit_code=-9)
    # Only routine lines since: the older error still reads as the cause, never the 201.
    assert "201" not in e.statuses["payments"].reason


def test_a_crash_reason_quotes_the_last_words_on_stderr(tmp_path: Path) -> None:
    e = engine(tmp_path)
    e.log("orders", "listening on :41002")
    e.log("orders", "cannot open /var/lib/orders/db: permission denied", stream="err")
    e.process_state("orders", ProcState.CRASHED, reason="exited with code 1", exit_code=1)
    assert e.statuses["orders"].reason.endswith("permission denied")


def test_probe_outcomes_are_kept_with_their_kind(tmp_path: Path) -> None:
    e = engine(tmp_path)
    e.record_probe(
        "payments", ProbeResult(False, 1000.0, "GET /health: timed out after 1s", "timeout")
    )
    last = e.probe_log["payments"][-1]
    assert (last.ok, last.kind, last.latency) == (False, ProbeKind.TIMEOUT, False)
    assert e.statuses["payments"].health is Health.DEGRADED


def test_a_health_endpoint_alone_failing_is_degraded_not_down(tmp_path: Path) -> None:
    e = engine(tmp_path)
    for _ in range(4):
        e.record_probe(
            "payments",
            ProbeResult(False, 2.0, "GET /health: HTTP 503", "http-5xx"),
            api_answers=True,
        )
    status = e.statuses["payments"]
    assert status.health is Health.DEGRADED and "its API answers" in status.reason
    assert "payments" in e.api_answers and e.down() == set()
    for _ in range(2):  # the API fails too: now it is down
        e.record_probe("payments", ProbeResult(False, 2.0, "GET /health: HTTP 503", "http-5xx"))
    assert e.statuses["payments"].health is Health.DOWN
    assert "payments" not in e.api_answers


def test_the_monitor_tells_its_subscribers_and_clears(tmp_path: Path) -> None:
    e = engine(tmp_path)
    monitor = monitor_for(e)
    assert monitor_for(e) is monitor
    seen: list[SuspectsChanged] = []
    monitor.subscribe(seen.append)
    monitor.recompute()
    assert seen == []  # nothing abnormal, nothing changed
    e.record_probe("payments", ProbeResult(False, 1000.0, "GET /health: timed out", "timeout"))
    ranking = monitor.recompute()
    assert ranking.top is not None and ranking.top.fault is Fault.HUNG
    assert len(seen) == 1 and seen[0].ranking.top == ranking.top
    assert "orders impacted" in seen[0].ranking.line()
    monitor.recompute()
    assert len(seen) == 1  # the same suspects: no news
    e.record_probe("payments", ProbeResult(True, 3.0, "HTTP 200"))
    monitor.recompute()
    assert len(seen) == 2 and seen[-1].ranking.line() == ""


def test_a_late_monitor_sees_what_happened_before_it(tmp_path: Path) -> None:
    e = engine(tmp_path)
    for i in range(5):
        e.log("orders", f'ERROR orders rid=t{i}x9 POST /orders 502 reason="payments unavailable"')
    e.record_probe("payments", ProbeResult(False, 1000.0, "GET /health: timed out", "timeout"))
    ranking = monitor_for(e).recompute()
    assert ranking.top is not None and ranking.top.name == "payments"
    assert any("named in 5 error lines of orders" in ev.text for ev in ranking.top.evidence)
