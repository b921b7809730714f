"""The live ranking of a running engine: ``monitor_for(engine)``.

One :class:`TriageMonitor` per engine (:func:`monitor_for` creates it on first
use; the engine itself knows nothing of triage, which sits a layer above it).
Created late it still sees what happened before: it starts from the engine's
own bounded history (transitions, the log rings, probe outcomes). It keeps the
parts that would be costly to convert on every recompute (transitions,
warning and error lines, changes, seeds) already converted, incrementally.

Started (:meth:`TriageMonitor.start`, on the engine's loop, after
``engine.start``), it recomputes the ranking:

* at once (next loop iteration, coalesced) on a status change: a first
  timed-out probe makes a service *degraded*, which is a status change, so a
  hang is a suspect one probe after it starts, not ``failures_before_down`` later;
* otherwise every :data:`TICK_S` if a probe finished or an error line arrived.

When the suspects change (:meth:`Ranking.same_as`) it calls its subscribers
with a :class:`~stagedeck.triage.model.SuspectsChanged` (``monitor.subscribe``,
same contract as the engine's bus: called on the loop, must be quick, must not
raise); ``monitor.ranking`` is the current value for a view that starts late.
Not started (a headless ``run``), it still answers :meth:`explain` and
:meth:`recompute` on demand.

For the cockpit::

    monitor = monitor_for(engine)
    monitor.start()                      # after engine.start(), on its loop
    unsubscribe = monitor.subscribe(on_suspects)   # on_suspects(SuspectsChanged)
    ...
    await monitor.stop()                 # before engine.stop()

Where history comes from is a seam (issue 19): :meth:`add_changes` takes audit
entries from the shared store (the cockpit passes them on), and a process that
attaches to another one's environment can feed :meth:`history` from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from stagedeck.engine.logs import detect_request_id
from stagedeck.triage.model import (
    ChangeRecord,
    FailedTest,
    History,
    LogRecord,
    Question,
    Ranking,
    SeedRecord,
    SuspectsChanged,
    TransitionRecord,
)
from stagedeck.triage.rank import explain_failure, rank_environment
from stagedeck.triage.snapshot import build_history, service_aliases

if TYPE_CHECKING:
    from stagedeck.engine.engine import Engine
    from stagedeck.engine.events import Event

TICK_S = 0.25
"""How often new probes and error lines are looked at (a recompute only if any arrived)."""
ERRORS_PER_SERVICE = 200
WARNINGS_PER_SERVICE = 100
TRANSITIONS_PER_SERVICE = 200
CHANGES = 200
SEEDS = 50
SHIFT_MIN_MS = 100.0
"""Without an SLO, a span latency shift counts when it adds at least this much."""
SHIFTS_EVERY_S = 5.0
"""Span latency shifts scan the trace store: not on every recompute."""
_PLAN_ACTIONS = ("redeploy", "bring-up", "restart")


_MONITORS: weakref.WeakKeyDictionary[Engine, TriageMonitor] = weakref.WeakKeyDictionary()


def monitor_for(engine: Engine) -> TriageMonitor:
    """The engine's one monitor, created on first use."""
    monitor = _MONITORS.get(engine)
    if monitor is None:
        monitor = _MONITORS[engine] = TriageMonitor(engine)
    return monitor


class TriageMonitor:
    """Owns the current :class:`Ranking` of one engine and tells subscribers when it changes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._subscribers: list[Callable[[SuspectsChanged], None]] = []
        self.started_at = engine.clock()
        self.ranking = Ranking(Question.ENVIRONMENT, self.started_at)
        """The current ranking of the environment (empty suspects: nothing abnormal)."""
        self.recompute_ms = 0.0
        """What the last recompute cost (for the benchmark and the debug log)."""
        self._transitions: dict[str, deque[TransitionRecord]] = {}
        for t in engine.transitions:
            self._transition(
                TransitionRecord(t.at, t.service, t.state.value, t.health.value, t.reason)
            )
        self._errors: dict[str, deque[LogRecord]] = {}
        self._warnings: dict[str, deque[LogRecord]] = {}
        self._changes: deque[ChangeRecord] = deque(maxlen=CHANGES)
        self._audit_ids: set[int] = set()
        self._seeds: deque[SeedRecord] = deque(maxlen=SEEDS)
        self._action_at = float("-inf")
        """The newest action step taken in: history replayed later skips what came before."""
        self._seq = engine.logs.all.start  # what the rings still hold counts too
        self._lines_seen = 0
        self._shifts: tuple[tuple[str, float, str], ...] = ()
        self._shifts_at = float("-inf")
        self._stamp: tuple[int, int] = (-1, -1)
        self._aliases: dict[str, tuple[str, ...]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: asyncio.Handle | None = None
        self._replay(getattr(engine, "recent_actions", ()))
        self._unsubscribe = engine.subscribe(self._on_event)

    # ------------------------------------------------------------------ lifecycle

    def subscribe(self, subscriber: Callable[[SuspectsChanged], None]) -> Callable[[], None]:
        """Call ``subscriber`` with each :class:`SuspectsChanged`; returns the unsubscribe."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def _publish(self, event: SuspectsChanged) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:  # a broken view must not stop triage
                import logging

                logging.getLogger("stagedeck.triage").exception("suspects subscriber failed")

    def start(self) -> None:
        """Begin watching (needs a running loop); the engine calls this from ``start``."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="triage")

    async def stop(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # On the loop clock's TICK_S grid: in a cockpit the views' clock wakes on the
            # same grid (tui/ticker.py), so both are one wake-up of the loop, not two.
            await asyncio.sleep(TICK_S - loop.time() % TICK_S)
            try:
                self._pull_logs()
                stamp = (self.engine.probe_seq, self._lines_seen)
                if stamp != self._stamp:
                    self._stamp = stamp
                    self.recompute()
            except Exception:  # the cockpit must outlive a bug in the ranking
                import logging

                logging.getLogger("stagedeck.triage").exception("triage recompute failed")

    # ------------------------------------------------------------------ inputs

    def _on_event(self, event: Event | Any) -> None:
        from stagedeck.engine.events import (
            ActionHistory,
            ActionProgress,
            RecipeReloaded,
            StatusChanged,
        )

        if isinstance(event, StatusChanged):
            st, before = event.status, event.before
            if before is None or (st.state, st.health) != (before.state, before.health):
                self._transition(
                    TransitionRecord(st.since, st.name, st.state.value, st.health.value, st.reason)
                )
            self._soon()
        elif isinstance(event, ActionProgress):
            self._action(event)
        elif isinstance(event, ActionHistory):
            self._replay(event.steps)
            self._soon()
        elif isinstance(event, RecipeReloaded) and not event.problems:
            self._aliases = None
            self._changes.append(ChangeRecord(event.at, "recipe reload", outcome="ok"))
            self._soon()

    def _transition(self, record: TransitionRecord) -> None:
        ring = self._transitions.get(record.service)
        if ring is None:
            ring = self._transitions[record.service] = deque(maxlen=TRANSITIONS_PER_SERVICE)
        ring.append(record)

    def _replay(self, steps: Iterable[Any]) -> None:
        """Steps from before this monitor (or this viewer) existed: the seeds loaded at
        start-up, the last redeploys. Without them a wipe logged before a reseed would
        look like data never reloaded."""
        for step in [s for s in steps if s.at > self._action_at]:
            self._action(step)

    def _action(self, event: Any) -> None:
        self._action_at = max(self._action_at, float(event.at))
        action, step, state = str(event.action), str(event.step), str(event.state)
        if action == "reseed" and state in ("ok", "failed"):
            seed = self.engine.recipe.seeds.get(step)
            service = seed.service if seed is not None else ""
            detail = str(event.detail)
            verified: bool | None = None
            if state == "failed" and detail.startswith("verify failed"):
                verified = False
            elif state == "ok" and seed is not None and seed.verify is not None:
                verified = True
            self._seeds.append(SeedRecord(event.at, step, service, state == "ok", verified, detail))
            self._changes.append(
                ChangeRecord(event.at, f"reseed {step}", (service,) if service else (), "", state)
            )
            # A reseed clears "data wiped" at once; nothing else may come to trigger a
            # recompute (an attached viewer's engine records no probes of its own).
            self._soon()
        elif action.startswith(_PLAN_ACTIONS) and state == "running":
            self._changes.append(ChangeRecord(event.at, action, (step,)))
            self._soon()

    def add_changes(self, changes: Iterable[ChangeRecord]) -> None:
        """Changes known from elsewhere (the shared audit log); repeats by audit id are skipped."""
        added = False
        for change in changes:
            if change.audit_id is not None:
                if change.audit_id in self._audit_ids:
                    continue
                self._audit_ids.add(change.audit_id)
            self._changes.append(change)
            added = True
        if added:
            self._soon()

    def _pull_logs(self) -> None:
        """New warning and error lines since the last look (one pass over new lines only)."""
        logs = self.engine.logs
        records = logs.records_since(self._seq)
        self._seq = logs.seq
        for seq, ts, service, _stream, text, level in records:
            if level == "error":
                table, cap = self._errors, ERRORS_PER_SERVICE
            elif level == "warn":
                table, cap = self._warnings, WARNINGS_PER_SERVICE
            else:
                continue
            ring = table.get(service)
            if ring is None:
                ring = table[service] = deque(maxlen=cap)
            ring.append(LogRecord(ts, service, level, text, detect_request_id(text), seq))
            self._lines_seen += 1

    # ------------------------------------------------------------------ outputs

    def history(self, now: float | None = None) -> History:
        """A snapshot of what the engine has seen, for either ranking function."""
        if self._aliases is None:
            self._aliases = service_aliases(self.engine)
        return build_history(
            self.engine,
            now=self.engine.clock() if now is None else now,
            transitions=self._transitions,
            errors=self._errors,
            warnings=self._warnings,
            changes=tuple(self._changes),
            seeds=tuple(self._seeds),
            started=self.started_at,
            aliases=self._aliases,
            traces=self._span_shifts(),
        )

    def _span_shifts(self) -> tuple[tuple[str, float, str], ...]:
        """Services whose spans got slower (recent 30 s against the 5 min before), when
        the engine receives traces; recomputed at most every :data:`SHIFTS_EVERY_S`."""
        store = getattr(self.engine, "traces", None)
        if store is None:
            return ()
        now = self.engine.clock()
        if now - self._shifts_at < SHIFTS_EVERY_S:
            return self._shifts
        from stagedeck.traces.evidence import suspects_from_traces
        from stagedeck.traces.query import latency_shift

        shifts = latency_shift(store, (now - 30.0, now), (now - 300.0, now - 30.0))
        services = self.engine.recipe.services
        # A shift matters when it breaks the SLO, or (with none) adds real time: 12 -> 28 ms
        # is what a suite's heavier requests do to a median, not a fault.
        shifts = [
            sh
            for sh in shifts
            if sh.service in services
            and (
                sh.recent_ms > slo
                if (slo := services[sh.service].slo_ms)
                else sh.recent_ms - sh.baseline_ms >= SHIFT_MIN_MS
            )
        ]
        self._shifts = tuple(suspects_from_traces([], shifts))
        self._shifts_at = now
        return self._shifts

    def _soon(self) -> None:
        """Recompute on the next loop iteration; several events in a burst cost one."""
        if self._pending is not None or self._task is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not started (tests that drive the engine by hand call recompute())
        self._pending = loop.call_soon(self._run_pending)

    def _run_pending(self) -> None:
        self._pending = None
        try:
            self.recompute()
        except Exception:
            import logging

            logging.getLogger("stagedeck.triage").exception("triage recompute failed")

    def recompute(self) -> Ranking:
        """Rank now; publish :class:`SuspectsChanged` if the suspects changed."""
        began = time.perf_counter()
        self._pull_logs()
        ranking = rank_environment(self.history())
        self.recompute_ms = (time.perf_counter() - began) * 1000
        before = self.ranking
        self.ranking = ranking
        if not ranking.same_as(before):
            self._publish(SuspectsChanged(ranking, before, ranking.at))
        return ranking

    def explain(self, failure: FailedTest) -> Ranking:
        """Why ``failure`` failed, from what this engine saw (call soon after the test)."""
        self._pull_logs()
        return explain_failure(self.history(), failure)
