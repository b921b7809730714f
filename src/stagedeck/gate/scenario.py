"""Failure scenarios: inject a fault, run suites under it, and check what the plan expects.

A scenario is carried out with the operations layer's fault action (the same
refusals, confirmation, audit and automatic lifting as the fault key), and the
suites are recorded like any run, so its result is a run in the store with a
scenario document beside it. What is measured:

- *detect*: seconds from injecting until the engine (and so the cockpit) shows
  the service not healthy, or one latency sample over its SLO for a slow-down;
- *fail fast*: a dependent asked while the fault is in force must answer with an
  error within a bound (the gateway's 502 in 1 s, not a 10 s hang);
- *recover*: seconds from lifting until every service is healthy again;
- *tests affected*: the suites' failed tests, and whether the must-pass suites passed.

Nothing here imports Textual; the CLI and the cockpit both call :func:`run_scenario`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stagedeck.engine.events import Event, Health, StatusChanged
from stagedeck.recipe.gate import Scenario

if TYPE_CHECKING:
    from stagedeck.engine.engine import Engine
    from stagedeck.operations import Decision, Operations, Request
    from stagedeck.store import Store
    from stagedeck.suites.recording import RunRecord
    from stagedeck.suites.runner import SuiteRunner

PROBE_CAP_S = 15.0
"""A fail-fast request is abandoned after this long (reported as a hang)."""
FAIL_FAST_DELAY_S = 0.3
"""The fail-fast request goes out this long after the fault is in force."""
RECOVERY_CAP_S = 60.0


@dataclass
class Expectation:
    key: str
    title: str
    ok: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ScenarioResult:
    scenario: str
    fault_label: str
    run_id: int | None = None
    injected: float = 0.0
    lifted: float | None = None
    detect_s: float | None = None
    recover_s: float | None = None
    fail_fast: dict[str, Any] | None = None
    suites: dict[str, str] = field(default_factory=dict)
    tests_affected: list[str] = field(default_factory=list)
    expectations: list[Expectation] = field(default_factory=list)
    suspects: list[dict[str, Any]] = field(default_factory=list)
    problem: str = ""
    """Why the scenario could not be carried out ('' when it was)."""

    @property
    def ok(self) -> bool:
        return not self.problem and all(e.ok for e in self.expectations)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["ok"] = self.ok
        data["expectations"] = [e.to_dict() for e in self.expectations]
        return data


def scenario_request(ops: Operations, scenario: Scenario) -> Request:
    """The fault action of ``scenario``, worded as the scenario (what the user confirms)."""
    from stagedeck.operations import requests

    request = requests.fault(
        ops, scenario.service, scenario.fault, scenario.duration, dict(scenario.params)
    )
    suites = ", ".join(scenario.suites) or "no suites"
    return dataclasses.replace(
        request,
        title=f"Run scenario {scenario.name}: {scenario.fault} {scenario.service} "
        f"for {scenario.duration:g}s?",
        touches=f"{request.touches}\nWhile it lasts: {suites}; lifted automatically.",
        details={**request.details, "scenario": scenario.name},
    )


class _Watch:
    """The first moment the faulted service shows trouble, from the engine's own events."""

    def __init__(self, engine: Engine, service: str, slo_ms: float | None) -> None:
        self.engine = engine
        self.service = service
        self.slo_ms = slo_ms
        self.seen_at: float | None = None
        self.how = ""
        self._since = 0.0
        self._unsubscribe: Callable[[], None] | None = None

    def start(self, since: float) -> None:
        self._since = since
        self._unsubscribe = self.engine.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if self.seen_at is not None or not isinstance(event, StatusChanged):
            return
        status = event.status
        if status.name == self.service and status.health is not Health.HEALTHY:
            self.seen_at = event.at
            self.how = f"{status.health.value}: {status.reason or status.state.value}"

    def check_latency(self) -> None:
        """A slow-down never changes health: the first sample over the SLO shows it."""
        if self.seen_at is not None or self.slo_ms is None:
            return
        window = self.engine.latency.get(self.service)
        if window is None:
            return
        for at, ms, ok in window.between(self._since, time.time()):
            if ok and ms > self.slo_ms:
                self.seen_at = at
                self.how = f"latency {ms:.0f} ms over its {self.slo_ms:g} ms SLO"
                return

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None


async def _fail_fast(scenario: Scenario) -> dict[str, Any]:
    import httpx

    ff = scenario.fail_fast
    assert ff is not None
    cap = max(PROBE_CAP_S, ff.within * 3)
    started = time.monotonic()
    out: dict[str, Any] = {"url": ff.url, "method": ff.method, "within": ff.within}
    try:
        async with httpx.AsyncClient(timeout=cap, trust_env=False) as client:
            response = await client.request(
                ff.method,
                ff.url,
                content=ff.body.encode() if ff.body else None,
                headers={
                    "Content-Type": "application/json",
                    "X-Request-Id": "scenario-" + scenario.name,
                },
            )
        out["status"] = response.status_code
    except httpx.TimeoutException:
        out["status"] = None
        out["error"] = f"no answer within {cap:g}s"
    except httpx.HTTPError as exc:
        out["status"] = None
        out["error"] = f"{type(exc).__name__}: {exc}"[:300]
    out["seconds"] = round(time.monotonic() - started, 3)
    lo, hi = ff.status
    status = out.get("status")
    out["ok"] = (status is not None and lo <= status <= hi and out["seconds"] <= ff.within) or (
        status is None and "error" in out and out["seconds"] <= ff.within
    )
    return out


async def _all_healthy(engine: Engine, cap: float) -> float | None:
    """Seconds until every service is healthy (None: not within ``cap``)."""
    started = time.time()
    while True:
        if all(s.health is Health.HEALTHY for s in engine.statuses.values()):
            return time.time() - started
        if time.time() - started > cap:
            return None
        await asyncio.sleep(0.05)


def _owner_of(engine: Engine, url: str) -> str:
    for name, svc in engine.recipe.services.items():
        if svc.url and url.startswith(svc.url):
            return name
    return ""


async def run_scenario(
    ops: Operations,
    scenario: Scenario,
    request: Request,
    decision: Decision,
    runner: SuiteRunner,
    store: Store | None,
    user: str,
    on_step: Callable[[str], None] = lambda _: None,
) -> ScenarioResult:
    """Carry out ``scenario`` (its fault ``request`` already confirmed); store and return it."""
    from stagedeck.operations import Refused, requests
    from stagedeck.suites.recording import RunRecorder, run_and_record
    from stagedeck.targets.base import TargetError

    engine = ops.engine
    result = ScenarioResult(
        scenario.name, f"{scenario.fault} {scenario.service} for {scenario.duration:g}s"
    )
    not_healthy = [n for n, s in engine.statuses.items() if s.health is not Health.HEALTHY]
    if not_healthy:
        result.problem = f"not started: not healthy before the fault: {', '.join(not_healthy)}"
        return result
    svc = engine.service(scenario.service)
    watch = _Watch(engine, scenario.service, svc.slo_ms)
    result.injected = time.time()
    watch.start(result.injected)
    try:
        performed = await ops.perform(request, decision)
    except (Refused, TargetError) as exc:
        watch.stop()
        result.problem = str(exc)
        return result
    handle = performed.value
    on_step(f"{handle.spec.label()}: {handle.applied.detail}")
    try:
        probe = None
        if scenario.fail_fast is not None:
            await asyncio.sleep(FAIL_FAST_DELAY_S)
            probe = asyncio.ensure_future(_fail_fast(scenario))
        record: RunRecord | None = None
        recorder: RunRecorder | None = None
        if scenario.suites:
            on_step(f"running {', '.join(scenario.suites)} under the fault")

            async def run() -> RunRecord:
                return await run_and_record(
                    engine, runner, list(scenario.suites), store, user, verify_seeds=False
                )

            done = await ops.perform(requests.run_suites(ops, list(scenario.suites), run), decision)
            record = done.value
        else:  # no suites: the run is the fault's window (recorded from here to the lifting)
            recorder = RunRecorder(engine, store, user, verify_seeds=False)
            await recorder.begin()
        if probe is not None:
            result.fail_fast = await probe
            on_step(
                f"fail fast: {scenario.fail_fast.method if scenario.fail_fast else ''} "
                f"answered {result.fail_fast.get('status') or result.fail_fast.get('error')} "
                f"after {result.fail_fast['seconds']:.2f}s"
            )
        watch.check_latency()
        if handle.active:
            on_step(f"waiting for the fault to expire ({handle.remaining():.0f}s left)")
            await handle.wait()
    finally:
        if handle.active:
            await handle.lift("the scenario ended early")
        watch.check_latency()
        watch.stop()
    if recorder is not None:
        record = await recorder.finish()
    result.lifted = handle.lifted_at or time.time()
    on_step(f"lifted ({handle.ended_by}); waiting for every service to be healthy")
    recover = await _all_healthy(engine, max(RECOVERY_CAP_S, scenario.recover_within * 2))
    if recover is not None:  # measured from the lifting itself, not from this call
        result.recover_s = round(max(0.0, time.time() - result.lifted), 3)
    if watch.seen_at is not None:
        result.detect_s = round(max(0.0, watch.seen_at - result.injected), 3)
    if record is not None:
        result.run_id = record.run_id
        for p in record.suites:
            result.suites[p.suite] = p.state.value
            result.tests_affected += [
                c.test_id for c in p.cases if c.outcome in ("failed", "error")
            ]
        seen: set[tuple[str, str]] = set()
        for ranking in record.rankings.values():
            top = ranking.top
            if top is not None and top.key not in seen and len(seen) < 3:
                seen.add(top.key)
                result.suspects.append(top.to_dict())
    result.expectations = expectations(scenario, result, engine, watch.how)
    if store is not None and result.run_id is not None and store.writable:
        data = result.to_dict()
        run_id = result.run_id
        await asyncio.to_thread(store.add_scenario_result, run_id, scenario.name, result.ok, data)
    return result


def expectations(
    scenario: Scenario, result: ScenarioResult, engine: Engine, how: str = ""
) -> list[Expectation]:
    out: list[Expectation] = []
    for suite in scenario.must_pass:
        state = result.suites.get(suite, "did not run")
        out.append(
            Expectation(f"passes:{suite}", f"{suite} still passes", state == "passed", state)
        )
    ff = result.fail_fast
    if scenario.fail_fast is not None and ff is not None:
        got = ff.get("status") or ff.get("error", "no answer")
        detail = f"{ff['method']} {ff['url']} answered {got} after {ff['seconds']:.2f}s"
        if not ff["ok"]:
            detail += f" (expected {_status(scenario.fail_fast.status)} within {ff['within']:g}s)"
            owner = _owner_of(engine, ff["url"])
            if owner and ff["seconds"] > ff["within"]:
                result.suspects.insert(
                    0,
                    {
                        "kind": "service",
                        "name": owner,
                        "score": 0.9,
                        "fault": "hung",
                        "verdict": f"hung: waited {ff['seconds']:.1f}s on {scenario.service} "
                        f"({scenario.fault}) before answering: its call has no timeout "
                        f"shorter than that",
                        "impacted": [],
                        "evidence": [],
                    },
                )
        out.append(
            Expectation(
                "fail-fast",
                f"dependents fail within {scenario.fail_fast.within:g}s",
                bool(ff["ok"]),
                detail,
            )
        )
    if scenario.detect_within is not None:
        d = result.detect_s
        out.append(
            Expectation(
                "detect",
                f"seen within {scenario.detect_within:g}s",
                d is not None and d <= scenario.detect_within,
                f"seen after {d:.2f}s ({how})" if d is not None else "never shown as unhealthy",
            )
        )
    r = result.recover_s
    out.append(
        Expectation(
            "recover",
            f"all healthy within {scenario.recover_within:g}s of lifting",
            r is not None and r <= scenario.recover_within,
            f"all healthy {r:.2f}s after lifting"
            if r is not None
            else "not all healthy: "
            + ", ".join(
                f"{n} {s.health.value}"
                for n, s in engine.statuses.items()
                if s.health is not Health.HEALTHY
            ),
        )
    )
    return out


def _status(status: tuple[int, int]) -> str:
    return str(status[0]) if status[0] == status[1] else f"{status[0]}-{status[1]}"
