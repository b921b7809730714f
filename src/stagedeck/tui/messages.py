"""Cockpit-wide requests: posted by screens and widgets, handled by the app with ``@on``.

Screens do not reach into each other. A view that wants something that lives
elsewhere (the explain view, the log explorer at a moment) says so with one of
these; the app, which owns the modes, decides how to get there.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from stagedeck.store.shared import FailureView
from stagedeck.triage.model import Where


@dataclass
class ExplainRequested(Message):
    """``w``: open the explain view (why is it broken?).

    With ``failure``: why that recorded test failed (its stored ranking). Otherwise the
    environment now, with ``service`` (the one selected where ``w`` was pressed) first
    in focus when it is a suspect.
    """

    service: str | None = None
    failure: FailureView | None = None


@dataclass
class JumpTo(Message):
    """Go where a piece of evidence lives: the log explorer, graph, chart, audit or test."""

    where: Where
