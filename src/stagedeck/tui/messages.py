"""Requests from the views to the app: data goes down to a screen, requests come up.

A screen that wants something beyond itself (run a suite, write a note, show a
trace) posts one of these; it bubbles to the app, which handles it with ``@on``
and owns the rules (through the controller) and the switching between views. So
no screen imports the app or calls through ``self.app``.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from stagedeck.store import Annotation
from stagedeck.store.shared import FailureView


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
