"""Cockpit-wide requests: posted by screens and widgets, handled by the app with ``@on``.

Data goes down to a screen (what it shows is given to it), requests come up.
Screens do not reach into each other, nor import the app or call through
``self.app``. A view that wants something that lives elsewhere (run a suite,
write a note, the explain view, the log explorer at a moment) says so with one
of these; the app, which owns the rules (through the controller) and the modes,
decides how to get there.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from stagedeck.store import Annotation
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


@dataclass
class RunSuites(Message):
    names: tuple[str, ...]


@dataclass
class CancelSuite(Message):
    name: str


@dataclass
class Annotate(Message):
    """Write a note on a failure, or edit one of the user's own (``edit``)."""

    failure: FailureView
    edit: Annotation | None = None


@dataclass
class DeleteAnnotation(Message):
    note: Annotation


@dataclass
class OpenTrace(Message):
    trace_id: str


@dataclass
class OpenLogs(Message):
    """The log explorer on one service."""

    service: str


@dataclass
class OpenSpanLogs(Message):
    """The log explorer on the lines of a span's request, at the span's time."""

    service: str
    request_id: str
    trace_id: str
    at: float
