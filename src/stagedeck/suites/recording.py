"""Run suites against the environment and record everything into the store.

For each failed test we keep what the environment looked like while it ran:
every service's health when the test started, the transitions during its
window, and the warning and error lines each service wrote in it (bounded).
That is the raw material a person needs at 3 a.m. to see that a checkout
test failed because ``payments`` went down, not because the test is wrong.

Store calls block, so they run in threads; nothing here imports Textual.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stagedeck.store import ContextItem, Store, StoreError, TestResult
from stagedeck.store.signature import failure_signature
from stagedeck.suites.junit import Case
from stagedeck.suites.runner import SuiteProgress, SuiteRunner, SuiteState
from stagedeck.traces.evidence import trace_service, traces_of_test
from stagedeck.triage.live import monitor_for
from stagedeck.triage.model import FailedTest, Ranking

if TYPE_CHECKING:
    from stagedeck.engine.engine import Engine

CONTEXT_MARGIN = 2.0
"""Seconds before and after a test's window that still count: causes precede effects."""
LOG_LINES_PER_SERVICE = 50
SPAN_GRACE = 1.0
"""Seconds a finished suite's failures wait for their last spans (see OTEL_BSP_SCHEDULE_DELAY)."""


def collect_context(engine: Engine, start: float, end: float) -> list[ContextItem]:
    """Health at ``start``, transitions and warning/error lines in [start, end] (with margin)."""
    lo, hi = start - CONTEXT_MARGIN, end + CONTEXT_MARGIN
    items: list[ContextItem] = []
    for name in engine.recipe.services:
        before = [t for t in engine.transitions if t.service == name and t.at <= start]
        if before:
            t = before[-1]
            state, health, reason, at = t.state.value, t.health.value, t.reason, t.at
        else:
            s = engine.statuses[name]
            state, health, reason, at = s.state.value, s.health.value, s.reason, s.since
        items.append(
            ContextItem(
                name,
                "health",
                start,
                {"state": state, "health": health, "reason": reason, "since": at, "at_start": True},
            )
        )
    for t in engine.transitions:
        if lo <= t.at <= hi:
            items.append(
                ContextItem(
                    t.service,
                    "health",
                    t.at,
                    {"state": t.state.value, "health": t.health.value, "reason": t.reason},
                )
            )
    for name, lines in engine.logs.window(lo, hi, limit_per_service=LOG_LINES_PER_SERVICE).items():
        items.extend(ContextItem(name, "log", ln.ts, ln.text) for ln in lines)
    return items


REFUSED_TEST = "(suite refused)"
"""The test id, after ``SUITE::``, of the failure recorded for a suite that could not run."""


def _results_of(progress: SuiteProgress) -> list[TestResult]:
    """The rows a finished suite leaves: its cases, or the one row saying it was refused."""
    results = [to_result(c, progress.windows.get(c.test_id)) for c in progress.cases]
    if not results and progress.state is SuiteState.ERROR:
        results.append(refused_result(progress))
    return results


def _within(summary: dict[str, Any], window: tuple[float, float]) -> bool:
    start = summary.get("start")
    if not isinstance(start, int | float):
        return True
    return window[0] - CONTEXT_MARGIN <= float(start) <= window[1] + CONTEXT_MARGIN


def refused_result(progress: SuiteProgress) -> TestResult:
    """A suite refused (a dependency unhealthy) or broken before any test ran is a failure
    too: without this row ``failures`` said ``[]`` for a run where nothing was tested."""
    test_id = f"{progress.suite}::{REFUSED_TEST}"
    message = progress.detail or progress.state.value
    at = progress.finished or progress.started or None
    return TestResult(
        test_id=test_id,
        outcome="error",
        name=REFUSED_TEST,
        message=message,
        started=progress.started or at,
        ended=at,
        signature=failure_signature(test_id, message),
    )


def to_result(case: Case, window: tuple[float, float] | None) -> TestResult:
    signature = (
        failure_signature(case.test_id, case.message, case.traceback)
        if case.outcome in ("failed", "error")
        else None
    )
    return TestResult(
        test_id=case.test_id,
        outcome=case.outcome,
        name=case.name,
        duration=case.duration,
        message=case.message,
        traceback=case.traceback,
        started=window[0] if window else None,
        ended=window[1] if window else None,
        signature=signature,
    )


@dataclass
class RunRecord:
    run_id: int | None
    suites: list[SuiteProgress] = field(default_factory=list)
    suite_run_ids: dict[str, int] = field(default_factory=dict)
    store_problem: str = ""
    """Why the run is not (fully) in the store; empty when it is."""
    spooled: Path | None = None
    """Where the run was kept instead, to be saved when the store is writable again."""
    rankings: dict[tuple[str, str], Ranking] = field(default_factory=dict)
    """(suite, test id) → why it failed, as ranked when it failed."""

    @property
    def ok(self) -> bool:
        return all(p.state is SuiteState.PASSED for p in self.suites)

    @property
    def saved(self) -> bool:
        return self.run_id is not None and not self.store_problem

    def storage_note(self) -> str:
        """One line on where the results are, for the CLI and the cockpit to say."""
        if self.saved:
            return f"run {self.run_id} saved"
        if not self.store_problem:
            return "results not saved: no database"
        if self.spooled is not None:
            return (
                f"results not saved: {self.store_problem}; kept in {self.spooled}"
                " and saved when the database is writable again"
            )
        return f"results LOST: {self.store_problem}; the spool could not be written either"

    def describe(self) -> str:
        """One line for the audit log: each suite and how it ended."""
        run = f"run {self.run_id}: " if self.run_id is not None else ""
        return run + ", ".join(f"{p.suite} {p.state.value}" for p in self.suites)


class RunRecorder:
    """One run (one or more suites) against one engine, written to the store as it goes."""

    def __init__(
        self,
        engine: Engine,
        store: Store | None,
        user: str,
        *,
        db_path: Path | None = None,
        verify_seeds: bool = True,
    ) -> None:
        self.engine = engine
        self.store = store
        self.db_path = db_path
        self.user = user
        self.record = RunRecord(None)
        self.verify_seeds = verify_seeds
        """Run the seeds' verify steps first when the gate asks (not under a fault)."""
        self._seeds: list[dict[str, Any]] | None = None
        """Their outcomes, stored with the run window (None: not verified in this run)."""

    async def _store(self, fn: Callable[[], object]) -> object:
        if self.store is None:
            return None
        if not self.store.writable:
            # Saying nothing here once meant a run on a read-only file vanished silently.
            self.record.store_problem = self.record.store_problem or str(
                self.store.problem or "the database is closed"
            )
            return None
        if self.record.store_problem:
            return None  # one failure: the whole run goes to the spool, not half of it
        try:
            return await asyncio.to_thread(fn)
        except StoreError as exc:  # results still show on screen; the banner says why not saved
            self.record.store_problem = str(exc)
            return None

    async def begin(self) -> int | None:
        monitor_for(self.engine)  # watching from now: reseeds and changes are evidence
        gate = self.engine.recipe.gate
        if gate is not None and gate.seeds_verified and self.verify_seeds:
            # Before the suites: they change the data (orders take stock), so "verified in
            # this run" means the data the suites started from was what the seeds promise.
            from stagedeck.gate.window import verify_seeds

            self._seeds = await verify_seeds(self.engine)
        store = self.store
        recipe = self.engine.recipe
        if store is not None and store.writable:
            from stagedeck.store.spool import replay

            await asyncio.to_thread(replay, store)  # earlier runs kept while it was not writable
        if store is not None:
            run_id = await self._store(
                lambda: store.start_run(
                    recipe.name,
                    self.user,
                    recipe_path=str(recipe.path),
                    target=recipe.environment.target,
                )
            )
            self.record.run_id = run_id if isinstance(run_id, int) else None
        return self.record.run_id

    async def suite_started(self, name: str) -> None:
        store, run_id = self.store, self.record.run_id
        if store is None or run_id is None:
            return
        sid = await self._store(lambda: store.start_suite_run(run_id, name, "running"))
        if isinstance(sid, int):
            self.record.suite_run_ids[name] = sid

    async def suite_finished(self, progress: SuiteProgress) -> None:
        self.record.suites.append(progress)
        store = self.store
        sid = self.record.suite_run_ids.get(progress.suite)
        if store is not None and sid is not None:
            await self._update_suite_run(store, sid, progress)
        await self._record_results(store, sid, progress)

    async def _update_suite_run(self, store: Store, sid: int, progress: SuiteProgress) -> None:
        await self._store(
            lambda: store.update_suite_run(
                sid,
                state=progress.state.value,
                started=progress.started or None,
                ended=progress.finished or None,
                passed=progress.passed,
                failed=progress.failed,
                errors=progress.errors,
                skipped=progress.skipped,
                total=progress.total,
                output_path=str(progress.output_path) if progress.output_path else None,
                junit_path=str(progress.junit_path) if progress.junit_path else None,
                detail=progress.detail,
            )
        )

    async def _record_results(
        self, store: Store | None, sid: int | None, progress: SuiteProgress
    ) -> None:
        results = _results_of(progress)
        failed = [r for r in results if r.outcome in ("failed", "error")]
        if self.engine.recipe.traces is not None and failed:
            # Services send spans in batches (0.5 s with the OTEL_* variables we give them):
            # let the last requests' spans arrive before the failures' traces are read.
            await asyncio.sleep(SPAN_GRACE)
        traced: dict[str, list[dict[str, Any]]] = {}
        rankings: dict[str, Ranking] = {}
        for result in failed:
            window = self._window(result, progress)
            # The test's failing and slowest traces first: the store keeps a bounded number.
            found = await traces_of_test(self.engine, result.test_id, window)
            # Traces tagged with this test id include earlier runs' of the same test: keep
            # this run's (an earlier run's failing span is not why this one failed).
            traced[result.test_id] = [t for t in found if _within(t, window)]
            rankings[result.test_id] = await self.explain(progress, result, traced[result.test_id])
        if store is None or sid is None:
            return
        ids = await self._store(lambda: store.add_test_results(sid, results))
        if not isinstance(ids, list):
            return
        for result_id, result in zip(ids, results, strict=True):
            if result.outcome not in ("failed", "error"):
                continue
            start, end = self._window(result, progress)
            items = collect_context(self.engine, start, end)
            items = [
                ContextItem(trace_service(t), "trace", float(t.get("start") or start), t)
                for t in traced.get(result.test_id, [])
            ] + items
            await self._store(partial(store.add_failure_context, result_id, items))
            ranking = rankings.get(result.test_id)
            if ranking is not None:
                rows = [s.to_dict() for s in ranking.suspects]
                await self._store(partial(store.add_failure_suspects, result_id, rows))

    def _window(self, result: TestResult, progress: SuiteProgress) -> tuple[float, float]:
        end = result.ended or progress.finished or self.engine.clock()
        return (result.started or progress.started or end, end)

    async def explain(
        self,
        progress: SuiteProgress,
        result: TestResult,
        traced: Sequence[dict[str, Any]] = (),
    ) -> Ranking:
        """Rank suspects for one failed test from what the engine saw while it ran
        (and its traces' summaries, when the recipe has ``[traces]``)."""
        from stagedeck.triage.snapshot import trace_evidence

        recipe = self.engine.recipe
        suite = recipe.suites.get(progress.suite)
        flips, samples = 0.0, 0
        store = self.store
        if store is not None and result.name != REFUSED_TEST:
            flakiness = await self._store(partial(store.flakiness, recipe.name, result.test_id))
            if flakiness is not None:
                flips, samples = flakiness.rate, flakiness.samples  # type: ignore[attr-defined]
        start, end = self._window(result, progress)
        refused = result.message if result.name == REFUSED_TEST else ""
        ranking = monitor_for(self.engine).explain(
            FailedTest(
                result.test_id,
                start,
                end,
                result.message,
                result.traceback,
                suite=progress.suite,
                outcome=result.outcome,
                depends_on=tuple(suite.depends_on) if suite is not None else (),
                flip_rate=flips,
                samples=samples,
                refused=refused,
                traces=trace_evidence(traced, {n: s.slo_ms for n, s in recipe.services.items()}),
            )
        )
        self.record.rankings[(progress.suite, result.test_id)] = ranking
        return ranking

    async def finish(self) -> RunRecord:
        store, run_id = self.store, self.record.run_id
        outcome = "passed" if self.record.ok else "failed"
        if store is not None and run_id is not None:
            await self._keep_window(store, run_id)
            await self._store(lambda: store.finish_run(run_id, outcome))
        path = store.path if store is not None else self.db_path
        if store is None and path is not None:
            self.record.store_problem = f"the database {path} could not be opened"
        if path is not None and self.record.store_problem:
            self.record.spooled = await asyncio.to_thread(self._spool, path, outcome)
        return self.record

    async def _keep_window(self, store: Store, run_id: int) -> None:
        """What the environment did during the run, for a gate judging it later."""
        from stagedeck.gate.window import run_window

        started = min((p.started for p in self.record.suites if p.started), default=0.0)
        run = await self._store(lambda: store.run(run_id))
        start = getattr(run, "started", None) or started or self.engine.clock()
        window = run_window(self.engine, start, self.engine.clock())
        window["seeds"] = self._seeds
        await self._store(lambda: store.set_run_window(run_id, window))

    def _spool(self, db_path: Path, outcome: str) -> Path | None:
        from stagedeck.store.spool import result_dict, spool_run

        recipe = self.engine.recipe
        suites = [
            {
                "suite": p.suite,
                "state": p.state.value,
                "started": p.started or None,
                "ended": p.finished or None,
                "passed": p.passed,
                "failed": p.failed,
                "errors": p.errors,
                "skipped": p.skipped,
                "total": p.total,
                "output_path": str(p.output_path) if p.output_path else None,
                "junit_path": str(p.junit_path) if p.junit_path else None,
                "detail": p.detail,
                "results": [result_dict(r) for r in _results_of(p)],
            }
            for p in self.record.suites
        ]
        return spool_run(
            db_path,
            environment=recipe.name,
            user=self.user,
            recipe_path=str(recipe.path),
            target=recipe.environment.target,
            outcome=outcome,
            suites=suites,
            partial_run_id=self.record.run_id,
        )


async def wait_for_dependencies(engine: Engine, depends_on: Iterable[str]) -> str:
    """'' when every service the suite needs is healthy; otherwise why not."""
    starting = getattr(engine, "starting", None)
    if starting is not None and not starting.done():
        # Right after start the test data may still be loading (seed_on_start): a suite
        # pressed now would fail against an empty environment.
        await asyncio.wait({starting}, timeout=120)
    for name in depends_on:
        if name in engine.api_answers:
            continue  # only its health endpoint complains; its API answers: run the suite
        svc = engine.service(name)
        ok, why = await engine.wait_healthy(name, svc.ready_timeout, give_up_when_down=True)
        if not ok:
            return f"{name} is not healthy: {why}"
    return ""


async def run_and_record(
    engine: Engine,
    runner: SuiteRunner,
    names: list[str],
    store: Store | None,
    user: str,
    *,
    db_path: Path | None = None,
    verify_seeds: bool = True,
) -> RunRecord:
    """Run ``names`` (concurrently, lock-aware), each after its services are healthy.

    ``db_path``: the database ``store`` should have been (when it could not be
    opened), so the run is spooled for it rather than lost. ``verify_seeds``: False
    under a scenario's fault (the gate's seed check is for ordinary runs)."""
    recorder = RunRecorder(engine, store, user, db_path=db_path, verify_seeds=verify_seeds)
    run_id = await recorder.begin()

    async def one(name: str) -> None:
        await recorder.suite_started(name)
        suite = engine.recipe.suites[name]
        progress = SuiteProgress(name)
        problem = await wait_for_dependencies(engine, suite.depends_on)
        if problem:
            progress.state = SuiteState.ERROR
            progress.detail = problem
            runner.progress[name] = progress
        else:
            progress = await runner.start(name, run_id or 0)
        await recorder.suite_finished(progress)

    await asyncio.gather(*(one(n) for n in names))
    return await recorder.finish()
