"""The steps of ``up`` and ``reseed`` as they happen, on standard error.

Standard output keeps the command's result (and only JSON under ``--json``);
the steps are commentary, so they go to standard error. On a terminal they are
a Rich live list (a spinner per running step, a mark per finished one, the time
each took); into a pipe or a log file they are plain lines, one per change, in
the format scripts have always seen (``reseed: orders       ok  0.4s``). Rich is
imported only when a terminal is there to draw on.
"""

from __future__ import annotations

import sys
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
    ``only``: show just these actions' steps (an environment process also
    reports what other people do meanwhile).
    """

    def __init__(
        self,
        stream: IO[str] | None = None,
        *,
        live: bool | None = None,
        only: str | tuple[str, ...] | None = None,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.live = wants_live(self.stream) if live is None else live
        self.only = (only,) if isinstance(only, str) else only
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
        if only is not None and not any(
            event.action == name or event.action.startswith(f"{name} ") for name in only
        ):
            return  # ("redeploy" covers "redeploy api")
        self.step(event.action, event.step, event.state, event.detail)

    def with_history(self, event: Event | object) -> None:
        """As a call, and also the steps an environment process did before we attached
        (its snapshot's ``ActionHistory``): for ``up``, which follows a bring-up that
        may be half done when it gets there."""
        from stagedeck.engine.events import ActionHistory

        if isinstance(event, ActionHistory):
            for step in event.steps:
                self(step)
        else:
            self(event)

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
    from rich.progress import ProgressColumn, Task
    from rich.spinner import Spinner
    from rich.text import Text

    spinner = Spinner("dots")

    class StepColumn(ProgressColumn):
        """Mark (spinner while running), action, step, and what it said: one column, so a
        step keeps its place when its spinner turns into its mark."""

        def render(self, task: Task) -> Text:
            state = str(task.fields.get("state", ""))
            mark, style = _MARKS.get(state, ("", ""))
            text = Text()
            if mark:
                text.append(f"{mark} ", style=style)
            elif state == "running":
                frame = spinner.render(task.get_time())
                text.append_text(frame if isinstance(frame, Text) else Text(str(frame)))
                text.append(" ")
            else:
                text.append("  ")
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
        StepColumn(),
        console=Console(file=stream, highlight=False, force_terminal=True),
        refresh_per_second=8,  # light on SSH: a spinner does not need 10+ frames a second
    )
