"""Rankings as plain text lines: for ``why``, ``failures``, ``run`` and reports.

Plain text only (no markup): evidence carries log lines and messages from
outside, and every front end decides how to escape them for its medium.
"""

from __future__ import annotations

import time

from stagedeck.triage.model import Evidence, Ranking, Suspect


def _clock(ts: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) if ts is not None else "        "


def evidence_line(e: Evidence) -> str:
    return f"{_clock(e.at)}  {e.kind.value:<8} {e.text}"


def suspect_lines(suspect: Suspect, *, rank: int | None = None, evidence: int = 4) -> list[str]:
    """ "1. payments (0.97) — hung: ..." then up to ``evidence`` indented evidence lines."""
    head = f"{rank}. " if rank is not None else ""
    lines = [f"{head}{suspect.label} ({suspect.score:.2f}) — {suspect.verdict}"]
    shown = [e for e in suspect.evidence if e.text][:evidence]
    lines.extend(f"     {evidence_line(e)}" for e in shown)
    return lines


def ranking_lines(ranking: Ranking, *, suspects: int = 5, evidence: int = 4) -> list[str]:
    if not ranking.suspects:
        return ["nothing abnormal"]
    out: list[str] = []
    for i, s in enumerate(ranking.suspects[:suspects], 1):
        out.extend(suspect_lines(s, rank=i, evidence=evidence))
    more = len(ranking.suspects) - suspects
    if more > 0:
        out.append(f"   … {more} more")
    return out


def top_line(ranking: Ranking) -> str:
    """ "likely cause: payments — hung: ..." or ''."""
    return ranking.line()
