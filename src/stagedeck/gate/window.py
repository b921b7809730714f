"""What the environment did during a run, as one document stored with the run.

The gate judges a run after the fact (``stagedeck gate --run 12`` tomorrow, in
another process), so whatever it needs from the live engine is written down
when the run ends: per service the latency samples' count, failures and
percentiles over the run's window (from the engine's latency probes, the same
samples the latency chart draws), every time a service went down or restarted,
and, when the gate asks for it, each seed's verify step run before the suites
(they change the data: verified afterwards, the demo's fixtures never would be).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stagedeck.engine.latency import percentile

if TYPE_CHECKING:
    from stagedeck.engine.engine import Engine

RESTART_STATES = ("restarting", "crashed", "failed", "stopped")
"""Transitions that count as a service going away during a run."""
MAX_RESTARTS_KEPT = 200


def latency_stats(samples: list[tuple[float, float, bool]]) -> dict[str, Any]:
    """count, errors, p50/p95/p99/max of the successful samples (None without any)."""
    good = sorted(ms for _, ms, ok in samples if ok)
    errors = sum(1 for _, _, ok in samples if not ok)
    out: dict[str, Any] = {"count": len(samples), "errors": errors}
    for key, p in (("p50", 50), ("p95", 95), ("p99", 99)):
        out[key] = round(percentile(good, p), 2) if good else None
    out["max"] = round(good[-1], 2) if good else None
    return out


def run_window(engine: Engine, start: float, end: float) -> dict[str, Any]:
    """The window document of a run from ``start`` to ``end`` (epoch seconds)."""
    services: dict[str, Any] = {}
    for name, svc in engine.recipe.services.items():
        window = engine.latency.get(name)
        samples = window.between(start, end) if window is not None else []
        stats = latency_stats(samples)
        stats["slo_ms"] = svc.slo_ms
        status = engine.statuses.get(name)
        stats["health_at_end"] = status.health.value if status else "unknown"
        services[name] = stats
    restarts = [
        {"service": t.service, "at": t.at, "state": t.state.value, "reason": t.reason[:300]}
        for t in engine.transitions
        if start <= t.at <= end and t.state.value in RESTART_STATES
    ][:MAX_RESTARTS_KEPT]
    return {
        "started": start,
        "ended": end,
        "seconds": round(end - start, 3),
        "services": services,
        "restarts": restarts,
        "seeds": None,
    }


async def verify_seeds(engine: Engine) -> list[dict[str, Any]]:
    """Each seed's verify step, run now: is the data the suites start from what it should be?"""
    from stagedeck.engine.seeding import verify_seed

    out = []
    for name, seed in engine.recipe.seeds.items():
        if seed.verify is None:
            continue
        ok, detail = await verify_seed(seed)
        out.append(
            {
                "seed": name,
                "service": seed.service,
                "ok": ok,
                "detail": engine.recipe.mask(detail)[:500],
                "at": engine.clock(),
            }
        )
    return out
