"""The suspect line: one line naming what is most likely at fault right now.

"◆ likely cause: payments — hung: 2 health checks timed out since 16:02:11;
orders, gateway impacted · w why". It is shown only while the ranking has a
suspect and goes away when the fault clears. It does no work of its own: the
screen hands it each new ranking (see :func:`follow_ranking`), which arrives
only when the engine's triage monitor publishes ``SuspectsChanged``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.screen import Screen
from textual.widgets import Static

from stagedeck.triage.model import Ranking
from stagedeck.tui.palette import style

SUSPECT_MARK = "◆"
"""The top suspect's glyph (graph, failures list, explain view): readable without colour."""
SUSPECT_MARK_ASCII = "S"
SUSPECT_LABEL = "likely cause"


def suspect_text(app: Any, ranking: Ranking, *, hint: str = "") -> Text:
    """ "◆ likely cause: payments — hung: …" (the core's words, ``Ranking.line``), with the
    glyph, the label and the suspect's name in the theme's ``$suspect``."""
    line = ranking.line()
    top = ranking.top
    prefix = f"{SUSPECT_LABEL}: "
    body = line[len(prefix) :] if line.startswith(prefix) else line
    mark = style(app, "suspect", bold=True)
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(f"{SUSPECT_MARK} {prefix}", style=mark)
    if top is not None and body.startswith(top.label):
        text.append(top.label, style=mark + Style(underline=True))
        body = body[len(top.label) :]
    text.append(body)  # built from service text: plain, never markup
    if hint:
        text.append(f"  · {hint}", style="dim")
    return text


class SuspectLine(Static):
    """Hidden while nothing is abnormal; one line otherwise. Redrawn only when it changes."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.ranking: Ranking | None = None
        self._drawn: tuple[str, str] | None = None
        self.display = False

    def show(self, ranking: Ranking) -> None:
        """The screen passes each new environment ranking down."""
        self.ranking = ranking
        top = ranking.top
        key = (ranking.line(), str(getattr(self.app, "theme", "")))
        if key == self._drawn:
            return
        self._drawn = key
        if top is None:
            self.display = False
            self.update("")
            return
        self.update(suspect_text(self.app, ranking, hint="w why"))
        self.display = True

    def on_mount(self) -> None:
        # A theme change recolours the glyph and name (the ranking itself is unchanged).
        self.app.theme_changed_signal.subscribe(self, lambda _: self._redraw())

    def _redraw(self) -> None:
        if self.ranking is not None:
            self._drawn = None
            self.show(self.ranking)


def follow_ranking(screen: Screen[Any], show: Callable[[Ranking], None]) -> None:
    """Hand ``show`` the app's current environment ranking now and each new one after.

    The app publishes on ``suspects_signal`` when the engine's triage monitor says the
    suspects changed; nothing polls.
    """
    app = screen.app
    ranking = getattr(app, "ranking", None)
    if isinstance(ranking, Ranking):
        show(ranking)
    signal = getattr(app, "suspects_signal", None)
    if signal is not None:
        signal.subscribe(screen, show)
