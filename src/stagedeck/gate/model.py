"""The vocabulary of a gate verdict: criteria with the numbers behind them, waivers, GO/NO-GO.

Plain frozen values that round-trip through JSON, because the verdict is stored
with the run and a report or a cockpit reads it back later. Suspects are the
triage core's :class:`Suspect` dicts, so every front end renders them (and jumps
to their evidence) the way it renders a failed test's suspects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from stagedeck.store import AuditEntry, Run, SuiteRun, TestResult

GO = "GO"
NO_GO = "NO-GO"
PENDING = "pending"


class Jump(StrEnum):
    """Where the cockpit takes you from a criterion (what holds its evidence)."""

    TESTS = "tests"
    CHART = "chart"
    SUSPECT = "suspect"
    SERVICE = "service"
    NONE = ""


@dataclass(frozen=True)
class Waiver:
    """A failure let through because an annotation the gate accepts says what it is."""

    suite: str
    test_id: str
    signature: str
    tag: str
    author: str
    note: str

    def line(self) -> str:
        return f"{self.test_id} [{self.signature}] waived: {self.tag} by {self.author}: {self.note}"


@dataclass(frozen=True)
class Criterion:
    """One line of the gate: passed or not, the numbers, and where to look when not."""

    key: str
    """suites, new-failures, slo, errors, restarts, seeds."""
    title: str
    ok: bool
    summary: str
    """The numbers in one line: "api 12/12, flows 7/8 (87.5 % < 100 %)"."""
    details: tuple[str, ...] = ()
    suspects: tuple[Mapping[str, Any], ...] = ()
    """Top suspects (triage ``Suspect.to_dict()``) for a failed criterion."""
    jump: Jump = Jump.NONE
    service: str = ""
    """The service a jump to the chart or a suspect is about."""
    tests: tuple[str, ...] = ()
    """Test ids behind the criterion (failing, new), for the jump to tests."""

    @property
    def mark(self) -> str:
        return "✓" if self.ok else "✗"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "title": self.title,
            "ok": self.ok,
            "summary": self.summary,
            "details": list(self.details),
            "suspects": [dict(s) for s in self.suspects],
            "jump": self.jump.value,
            "service": self.service,
            "tests": list(self.tests),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Criterion:
        try:
            jump = Jump(str(raw.get("jump", "")))
        except ValueError:
            jump = Jump.NONE
        suspects = raw.get("suspects")
        return cls(
            str(raw.get("key", "")),
            str(raw.get("title", "")),
            raw.get("ok") is True,
            str(raw.get("summary", "")),
            tuple(str(d) for d in raw.get("details", []) or []),
            tuple(s for s in suspects if isinstance(s, Mapping))
            if isinstance(suspects, list)
            else (),
            jump,
            str(raw.get("service", "")),
            tuple(str(t) for t in raw.get("tests", []) or []),
        )


@dataclass(frozen=True)
class Verdict:
    run_id: int
    criteria: tuple[Criterion, ...]
    waivers: tuple[Waiver, ...] = ()
    baseline: int | None = None
    scenario: str = ""

    @property
    def go(self) -> bool:
        return all(c.ok for c in self.criteria)

    @property
    def verdict(self) -> str:
        return GO if self.go else NO_GO

    @property
    def failing(self) -> tuple[Criterion, ...]:
        return tuple(c for c in self.criteria if not c.ok)

    def line(self) -> str:
        """The CI line: "gate: NO-GO for run 12 (2 of 5 criteria failed: slo, restarts)"."""
        failing = self.failing
        if not failing:
            return f"gate: GO for run {self.run_id} ({len(self.criteria)} criteria held)"
        keys = ", ".join(c.key for c in failing)
        return (
            f"gate: NO-GO for run {self.run_id} "
            f"({len(failing)} of {len(self.criteria)} criteria failed: {keys})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "verdict": self.verdict,
            "failing": len(self.failing),
            "baseline": self.baseline,
            "criteria": [c.to_dict() for c in self.criteria],
            "waivers": [w.__dict__ for w in self.waivers],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Verdict:
        waivers = []
        for w in raw.get("waivers", []) or []:
            if isinstance(w, Mapping):
                waivers.append(Waiver(*(str(w.get(k, "")) for k in Waiver.__dataclass_fields__)))
        baseline = raw.get("baseline")
        return cls(
            int(raw.get("run_id", 0) or 0),
            tuple(
                Criterion.from_dict(c) for c in raw.get("criteria", []) if isinstance(c, Mapping)
            ),
            tuple(waivers),
            int(baseline) if isinstance(baseline, int) else None,
        )


@dataclass(frozen=True)
class RunFailure:
    """A failed test of the judged run, with what is known about its signature."""

    suite: str
    result: TestResult
    tags: tuple[tuple[str, str, str], ...] = ()
    """(tag, author, note) of the live annotations on its signature."""
    suspects: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class GateInputs:
    """Everything the evaluation reads, gathered from the store (see ``gather.py``)."""

    run: Run
    suite_runs: Sequence[SuiteRun]
    failures: Sequence[RunFailure]
    window: Mapping[str, Any] | None
    """The run window document (``window.py``); None when the run recorded none."""
    baseline: int | None = None
    baseline_signatures: frozenset[str] = frozenset()
    baseline_problem: str = ""
    """Why there is no baseline ("no GO run before run 12"); '' when there is one."""
    audit: Sequence[AuditEntry] = ()
    """Actions on the environment around the run: restarts they caused are expected."""
    slo_ms: Mapping[str, float | None] = field(default_factory=dict)
    depends_on: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
