"""The steps of ``up`` and ``reseed`` as they happen, on standard error.

Standard output keeps the command's result (and only JSON under ``--json``);
the steps are commentary, so they go to standard error. On a terminal they are
a Rich live list (a spinner per running step, a mark per finished one, the time
each took); into a pipe or a log file they are plain lines, one per change, in
the format scripts have always seen (``reseed: orders       ok  0.4s``). Rich is
imported only when a terminal is there to draw on.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from stagedeck.text import clean

if TYPE_CHECKING:
    from stagedeck.engine.events import Event

FINISHED = frozenset({"ok", "failed", "skipped"})
"""The states a step ends in (``ActionProgress.state``)."""

_MARKS = {"ok": ("✓", "green"), "failed": ("✗", "bold red"), "skipped": ("–", "dim")}


def plain_line(action: str, step: str, state: str, detail: str = "") -> str:
    """One change as a plain, stable line (what pipes, logs and old scripts read)."""
    tail = f"  {detail}" if detail else ""
    return f"{action}: {step:<12} {state}{tail}"


def wants_live(stream: IO[str]) -> bool:
    """Draw live only on a real terminal (not a pipe, a file, or TERM=dumb)."""
    if not stream.isatty():
        return False
    import os

    return os.environ.get("TERM", "") != "dumb"


class StepPrinter:
    """Shows ``ActionProgress`` events: live on a terminal, plain lines otherwise.

    Use as a context manager around the action (the live list needs starting
    and stopping) and subscribe the instance to the engine: it is a callable.
    ``only``: show just this action's steps (an environment process also
    reports what other people do meanwhile).
    """

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        live: bool | None = None,
        only: str | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = wants_live(self.stream) if live is None else live
        self.only = only
        self.states: dict[tuple[str, str], str] = {}
        """Every step seen, by (action, step), with its latest state."""
        self._progress: Any = None
        self._tasks: dict[tuple[str, str], Any] = {}

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> StepPrinter:
        if self.live:
            self._progress = _live_progress(self.stream)
            self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    # ------------------------------------------------------------------ events

    def __call__(self, event: Event | object) -> None:
        from stagedeck.engine.events import ActionProgress

        if not isinstance(event, ActionProgress):
            return
        only = self.only
        if only is not None and event.action != only and not event.action.startswith(f"{only} "):
            return  # ("redeploy" covers "redeploy api")
        self.step(event.action, event.step, event.state, event.detail)

    def step(self, action: str, step: str, state: str, detail: str = "") -> None:
        """Show that ``step`` of ``action`` is now ``state`` (a repeat is not shown twice)."""
        action, step, detail = clean(action), clean(step), clean(detail)
        key = (action, step)
        if self.states.get(key) == state and not detail:
            return
        self.states[key] = state
        if self._progress is None:
            print(plain_line(action, step, state, detail), file=self.stream, flush=True)
            return
        task = self._tasks.get(key)
        done = state in FINISHED
        fields = {"action": action, "step": step, "state": state, "detail": detail}
        if task is None:
            task = self._progress.add_task("", total=1, **fields)
            self._tasks[key] = task
        self._progress.update(task, completed=1 if done else 0, **fields)
        if done:
            self._progress.stop_task(task)

    def finished(self, action: str) -> list[str]:
        """The steps of ``action`` that have ended, in the order first seen."""
        return [s for (a, s), state in self.states.items() if a == action and state in FINISHED]

    def failed(self, action: str | None = None) -> list[str]:
        return [
            s
            for (a, s), state in self.states.items()
            if state == "failed" and (action is None or a == action)
        ]


def _live_progress(stream: IO[str]) -> Any:
    """A Rich Progress on ``stream``: every text column a ``Text``, so nothing is markup."""
    from rich.console import Console
    from rich.progress import Progress as RichProgress
    from rich.progress import ProgressColumn, SpinnerColumn, Task
    from rich.text import Text

    class StepColumn(ProgressColumn):
        """Mark (spinner while running), action, step, and what it said."""

        def render(self, task: Task) -> Text:
            state = str(task.fields.get("state", ""))
            mark, style = _MARKS.get(state, ("", ""))
            text = Text()
            if mark:
                text.append(f"{mark} ", style=style)
            text.append(f"{task.fields.get('action', '')}: ", style="dim")
            text.append(f"{task.fields.get('step', ''):<12} ", style="bold")
            if state not in ("ok", "running"):
                text.append(f"{state} ", style=style)
            detail = str(task.fields.get("detail", ""))
            if detail:
                text.append(detail[:120], style="red" if state == "failed" else "dim")
            elif state == "running" and task.elapsed is not None:
                text.append(f"{task.elapsed:.0f}s", style="dim")
            return text

    return RichProgress(
        SpinnerColumn(finished_text=""),
        StepColumn(),
        console=Console(file=stream, highlight=False, force_terminal=True),
        refresh_per_second=8,  # light on SSH: a spinner does not need 10+ frames a second
    )


# --------------------------------------------------------------------------- up


async def follow_bring_up(
    engine: Any,
    printer: StepPrinter,
    *,
    timeout: float,
    seeds: bool,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Show an environment process's bring-up (and seeding) until it ends; say how it went.

    ``engine`` is a mirror of the environment process, just attached: its
    snapshot says which services are already healthy and which the bring-up is
    still working on; the events after it say the rest. Returns ``"ok"``,
    ``"failed"``, ``"gone"`` (the process stopped) or ``"timeout"``.
    """
    from stagedeck.engine.events import ActionProgress, Health, ProcState

    started_states = (ProcState.STARTING, ProcState.RUNNING, ProcState.RESTARTING)

    names = list(engine.recipe.services)
    seed_names = list(engine.recipe.seeds) if seeds else []
    changed = asyncio.Event()
    saw_bring_up = False

    def on_event(event: object) -> None:
        nonlocal saw_bring_up
        if isinstance(event, ActionProgress) and event.action in ("bring-up", "reseed"):
            saw_bring_up = saw_bring_up or event.action == "bring-up"
            printer(event)
        changed.set()

    unsubscribe = engine.subscribe(on_event)
    try:
        for name in names:  # what the snapshot already says
            status = engine.statuses.get(name)
            claimed = engine.claims.get(name) == "bring-up"
            if claimed:  # the plan holds it: started, or waiting for its dependencies
                started = status is not None and status.state in started_states
                printer.step("bring-up", name, "running" if started else "waiting")
            elif status is not None and status.health is Health.HEALTHY:
                printer.step("bring-up", name, "ok", "already healthy")
        deadline = clock() + timeout
        while True:
            if engine.gone:
                return "gone"
            up = set(printer.finished("bring-up"))
            if printer.failed("bring-up"):
                return "failed"
            if up >= set(names):
                if not (seed_names and saw_bring_up):
                    return "ok"  # seeding, if any, happened before we attached
                if printer.failed("reseed"):
                    return "failed"
                if set(printer.finished("reseed")) >= set(seed_names):
                    return "ok"
            left = deadline - clock()
            if left <= 0:
                return "timeout"
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), timeout=min(left, 0.5))
            except TimeoutError:
                pass
    finally:
        unsubscribe()


def bring_up_budget(recipe: Any) -> float:
    """How long following a bring-up may take before we stop watching (it carries on)."""
    services = sum(float(s.ready_timeout) for s in recipe.services.values())
    seeds = sum(float(s.timeout) for s in recipe.seeds.values())
    return min(services + seeds + 30.0, 3600.0)
