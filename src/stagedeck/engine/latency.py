"""Latency samples with bounded history and percentiles over a time window."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (p in 0..100).

    Nearest-rank is what people expect from "p95 = 120 ms": a latency that was
    actually observed, not an interpolation between two samples.
    """
    if not sorted_values:
        raise ValueError("no samples")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be in 0..100, not {p}")
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    errors: int
    p50: float | None
    p95: float | None
    p99: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0


@dataclass(frozen=True, slots=True)
class Bucket:
    start: float
    summary: Summary


class LatencyWindow:
    """Samples of one service: (time, milliseconds, succeeded), oldest dropped first."""

    def __init__(self, capacity: int = 4096, window: float = 60.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, float, bool]] = deque(maxlen=capacity)
        self.version = 0
        """Bumped on every sample, so views redraw only when something changed."""

    def add(self, ms: float, ok: bool = True, at: float | None = None) -> None:
        self._samples.append((time.time() if at is None else at, ms, ok))
        self.version += 1

    def __len__(self) -> int:
        return len(self._samples)

    def tail(self, n: int) -> list[tuple[float, float, bool]]:
        """The newest ``n`` samples, oldest first (an environment process forwards these)."""
        if n <= 0:
            return []
        return list(self._samples)[-n:]

    def summary(self, window: float | None = None, now: float | None = None) -> Summary:
        """Percentiles of successful samples and the error count over the last ``window`` s."""
        now = time.time() if now is None else now
        cutoff = now - (self.window if window is None else window)
        return _summarise([s for s in self._samples if s[0] >= cutoff])

    def between(self, start: float, end: float) -> list[tuple[float, float, bool]]:
        """The samples taken in [start, end]: (time, ms, ok), oldest first (a run's window)."""
        return [s for s in self._samples if start <= s[0] <= end]

    def series(self, bucket: float, span: float, now: float | None = None) -> list[Bucket]:
        """Per-bucket summaries over the last ``span`` seconds, oldest first (for charts)."""
        now = time.time() if now is None else now
        first = now - span
        n = max(1, math.ceil(span / bucket))
        groups: list[list[tuple[float, float, bool]]] = [[] for _ in range(n)]
        for sample in self._samples:
            if sample[0] < first:
                continue
            index = min(n - 1, int((sample[0] - first) // bucket))
            groups[index].append(sample)
        return [Bucket(first + i * bucket, _summarise(g)) for i, g in enumerate(groups)]


def _summarise(samples: list[tuple[float, float, bool]]) -> Summary:
    good = sorted(ms for _, ms, ok in samples if ok)
    errors = sum(1 for _, _, ok in samples if not ok)
    if not good:
        return Summary(len(samples), errors, None, None, None)
    return Summary(
        len(samples),
        errors,
        percentile(good, 50),
        percentile(good, 95),
        percentile(good, 99),
    )
