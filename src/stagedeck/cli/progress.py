"""Live progress for ``stagedeck run`` on a terminal: one bar per suite, tests counted live.

Into a pipe (or with ``--json``) nothing here runs: the command prints its plain,
stable lines as before. Rich is imported only when a terminal is there to draw on.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stagedeck.suites.runner import SuiteProgress


class SuiteBars:
    """A Rich Progress with a task per suite, fed the runner's SuiteProgress updates."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.fields[suite]}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[state]}", markup=False),
            TimeElapsedColumn(),
            console=Console(highlight=False),
        )
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> SuiteBars:
        self._progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def update(self, p: SuiteProgress) -> None:
        task = self._tasks.get(p.suite)
        from stagedeck.suites.runner import SuiteState

        # running: the test now running (the bar has the count); otherwise the state in words
        state = p.current[-60:] if p.state is SuiteState.RUNNING else p.describe().split(" · ")[0]
        total = p.total or None
        if task is None:
            task = self._progress.add_task("", total=total, suite=p.suite, state=state)
            self._tasks[p.suite] = task
        self._progress.update(task, total=total, completed=p.done, state=state)
        if p.state.finished and p.total == 0:  # no count known: show it done, not empty
            self._progress.update(task, total=max(p.done, 1), completed=max(p.done, 1))
