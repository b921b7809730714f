"""Verdicts as plain text lines: for ``stagedeck gate``, ``run --gate`` and reports."""

from __future__ import annotations

from stagedeck.gate.model import Verdict
from stagedeck.triage.model import Suspect


def verdict_lines(verdict: Verdict, *, details: int = 6) -> list[str]:
    """The CI line, each criterion with ✓/✗ and its numbers, suspects of failed ones, waivers."""
    out = [verdict.line()]
    for c in verdict.criteria:
        out.append(f"  {c.mark} {c.title}: {c.summary}")
        if c.ok:
            continue
        out.extend(f"      {d}" for d in c.details[:details])
        if len(c.details) > details:
            out.append(f"      … {len(c.details) - details} more")
        for i, raw in enumerate(c.suspects, 1):
            out.append(f"      suspect {i}. {Suspect.from_dict(raw).line()}")
    if verdict.waivers:
        out.append(f"  waivers ({len(verdict.waivers)}):")
        out.extend(f"    {w.line()}" for w in verdict.waivers)
    return out
