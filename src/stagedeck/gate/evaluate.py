"""The gate's criteria as pure functions: inputs in, a :class:`Verdict` out.

Nothing here reads a clock, a store or an engine, so a verdict on run 12
computed today equals the one computed in CI last night from the same rows,
and every criterion is tested with hand-made inputs, passing and failing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from stagedeck.gate.model import Criterion, GateInputs, Jump, RunFailure, Verdict, Waiver
from stagedeck.recipe.gate import Gate
from stagedeck.triage.model import (
    Evidence,
    EvidenceKind,
    Fault,
    SubjectKind,
    Suspect,
    View,
    Where,
)

TOP_SUSPECTS = 3
EXPECTED_GRACE_S = 30.0
"""A restart up to this long after an action on the service ended is still the action's."""
_RESTART_ACTIONS = ("redeploy", "bring-up", "redeploy all", "fault ", "restart")


def evaluate(gate: Gate, inputs: GateInputs, required: Sequence[str]) -> Verdict:
    """Every criterion the gate asks for, in a fixed order; ``required``: the suites."""
    waived, waivers = _waivers(gate, inputs.failures)
    criteria = [suites_criterion(gate, inputs, required, waived)]
    if not gate.new_failures:
        criteria.append(new_failures_criterion(inputs, waived))
    if gate.slo:
        criteria.append(slo_criterion(gate, inputs))
    if gate.error_rate is not None:
        criteria.append(error_rate_criterion(gate, inputs))
    criteria.append(restarts_criterion(gate, inputs))
    if gate.seeds_verified:
        criteria.append(seeds_criterion(inputs))
    return Verdict(inputs.run.id, tuple(criteria), tuple(waivers), inputs.baseline)


# --------------------------------------------------------------------------- waivers


def _waivers(gate: Gate, failures: Sequence[RunFailure]) -> tuple[set[int], list[Waiver]]:
    """Failures whose signature carries an annotation the gate accepts (by index)."""
    waived: set[int] = set()
    out: list[Waiver] = []
    for i, f in enumerate(failures):
        for tag, author, note in f.tags:
            if tag in gate.waive:
                waived.add(i)
                out.append(
                    Waiver(f.suite, f.result.test_id, f.result.signature or "", tag, author, note)
                )
                break
    return waived, out


# --------------------------------------------------------------------------- suites


def suites_criterion(
    gate: Gate, inputs: GateInputs, required: Sequence[str], waived: set[int]
) -> Criterion:
    by_suite = {s.suite: s for s in inputs.suite_runs}
    missing = [name for name in required if name not in by_suite]
    unwaived = [f for i, f in enumerate(inputs.failures) if i not in waived]
    failing = [f for f in unwaived if f.suite in required]
    passed = total = 0
    parts: list[str] = []
    for name in required:
        s = by_suite.get(name)
        if s is None:
            parts.append(f"{name} did not run")
            continue
        counted = s.total - s.skipped
        excused = sum(1 for i, f in enumerate(inputs.failures) if i in waived and f.suite == name)
        ok_here = s.passed + excused
        if counted == 0 and s.state != "passed":
            counted = max(1, s.failed + s.errors)  # refused: no test ran, one failure recorded
        passed += ok_here
        total += counted
        parts.append(f"{name} {ok_here}/{counted}" + (f" ({excused} waived)" if excused else ""))
    rate = passed / total if total else 0.0
    if gate.pass_rate >= 1.0:
        ok = not missing and not failing and total > 0
        need = "all must pass"
    else:
        ok = not missing and total > 0 and rate >= gate.pass_rate
        need = f"{gate.pass_rate:.0%} must pass"
    summary = f"{', '.join(parts)} — {rate:.1%} passed; {need}"
    details = [f"FAILED {f.suite} {f.result.test_id}: {_first(f.result.message)}" for f in failing]
    return Criterion(
        "suites",
        "required suites pass",
        ok,
        summary,
        tuple(details[:20]),
        () if ok else _failure_suspects(failing),
        Jump.NONE if ok else Jump.TESTS,
        tests=tuple(f.result.test_id for f in failing),
    )


def new_failures_criterion(inputs: GateInputs, waived: set[int]) -> Criterion:
    known = inputs.baseline_signatures
    new = [
        f
        for i, f in enumerate(inputs.failures)
        if i not in waived and f.result.signature and f.result.signature not in known
    ]
    against = (
        f"against run {inputs.baseline}"
        if inputs.baseline is not None
        else f"no baseline ({inputs.baseline_problem or 'none found'})"
    )
    total = sum(1 for i, f in enumerate(inputs.failures) if i not in waived)
    summary = f"{len(new)} new of {total} unwaived failure signature(s), {against}"
    return Criterion(
        "new-failures",
        "no new failure signatures",
        not new,
        summary,
        tuple(f"NEW {f.suite} {f.result.test_id} [{f.result.signature}]" for f in new[:20]),
        _failure_suspects(new) if new else (),
        Jump.TESTS if new else Jump.NONE,
        tests=tuple(f.result.test_id for f in new),
    )


def _failure_suspects(failures: Iterable[RunFailure]) -> tuple[dict[str, Any], ...]:
    """The stored rankings of these failures merged: each suspect once, at its best score."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    count: dict[tuple[str, str], int] = {}
    for f in failures:
        for raw in f.suspects[:TOP_SUSPECTS]:
            key = (str(raw.get("kind", "")), str(raw.get("name", "")))
            count[key] = count.get(key, 0) + 1
            score = float(raw.get("score") or 0.0)
            if key not in best or score > float(best[key].get("score") or 0.0):
                best[key] = dict(raw)
    ranked = sorted(best, key=lambda k: (-count[k], -float(best[k].get("score") or 0.0), k))
    return tuple(best[k] for k in ranked[:TOP_SUSPECTS])


# --------------------------------------------------------------------------- SLOs


def _services(inputs: GateInputs) -> Mapping[str, Mapping[str, Any]]:
    window = inputs.window or {}
    services = window.get("services")
    return services if isinstance(services, Mapping) else {}


def _roots_first(
    names: Iterable[str],
    depends_on: Mapping[str, tuple[str, ...]],
    severity: Mapping[str, float] | None = None,
) -> list[str]:
    """Services none of whose (transitive) dependencies are also listed come first; then
    the most severe (``severity``, larger is worse), then by name."""
    listed = set(names)
    worse = severity or {}
    return sorted(
        listed, key=lambda n: (bool(_deps(n, depends_on) & listed), -worse.get(n, 0.0), n)
    )


def slo_criterion(gate: Gate, inputs: GateInputs) -> Criterion:
    if inputs.window is None:
        return Criterion("slo", "p95 under each SLO", False, "no run window recorded for this run")
    stats = _services(inputs)
    over: dict[str, tuple[float, float]] = {}
    parts: list[str] = []
    thin: list[str] = []
    for name, slo in sorted(inputs.slo_ms.items()):
        if slo is None:
            continue
        s = stats.get(name, {})
        p95, count = s.get("p95"), int(s.get("count") or 0)
        if p95 is None or count < gate.min_samples:
            thin.append(f"{name} ({count} samples)")
            continue
        parts.append(f"{name} {float(p95):.0f}/{slo:g} ms")
        if float(p95) > slo:
            over[name] = (float(p95), slo)
    if not parts and not thin:
        summary = "no service has an slo_ms"
    else:
        # Breaches first: a narrow table cell shows the start of this line.
        parts.sort(key=lambda p: p.split(" ", 1)[0] not in over)
        summary = f"p95/SLO: {', '.join(parts) or 'none judged'}"
        if over:
            summary = f"{len(over)} over — " + summary
        if thin:
            summary += f"; too few samples: {', '.join(thin)}"
    order = _roots_first(over, inputs.depends_on, {n: p / slo for n, (p, slo) in over.items()})
    run = inputs.run
    suspects = []
    for name in order[:TOP_SUSPECTS]:
        p95, slo = over[name]
        s = stats.get(name, {})
        impacted = tuple(n for n in order if n != name and name in _deps(n, inputs.depends_on))
        suspects.append(
            Suspect(
                SubjectKind.SERVICE,
                name,
                min(1.0, 0.5 + 0.5 * (p95 - slo) / max(p95, 1.0)),
                Fault.SLOW,
                f"slow: p95 {p95:.0f} ms over its {slo:g} ms SLO during run {run.id}"
                + (f"; {', '.join(impacted)} impacted" if impacted else ""),
                impacted,
                (
                    Evidence(
                        EvidenceKind.LATENCY,
                        f"p95 {p95:.0f} ms, p50 {float(s.get('p50') or 0):.0f} ms, "
                        f"max {float(s.get('max') or 0):.0f} ms over {int(s.get('count') or 0)} "
                        f"samples (SLO {slo:g} ms)",
                        run.started,
                        name,
                        Where(View.CHART, name, run.started),
                        1.0,
                    ),
                ),
                run.started,
            ).to_dict()
        )
    return Criterion(
        "slo",
        "p95 under each SLO",
        not over,
        summary,
        tuple(f"{n}: p95 {over[n][0]:.0f} ms > {over[n][1]:g} ms" for n in order),
        tuple(suspects),
        Jump.CHART if over else Jump.NONE,
        order[0] if order else "",
    )


def _deps(name: str, depends_on: Mapping[str, tuple[str, ...]]) -> set[str]:
    out: set[str] = set()
    stack = list(depends_on.get(name, ()))
    while stack:
        d = stack.pop()
        if d not in out:
            out.add(d)
            stack.extend(depends_on.get(d, ()))
    return out


def error_rate_criterion(gate: Gate, inputs: GateInputs) -> Criterion:
    bound = gate.error_rate or 0.0
    if inputs.window is None:
        return Criterion("errors", "error rate bounded", False, "no run window recorded")
    stats = _services(inputs)
    over: dict[str, tuple[float, int, int]] = {}
    parts = []
    for name in sorted(stats):
        s = stats[name]
        count, errors = int(s.get("count") or 0), int(s.get("errors") or 0)
        if count < gate.min_samples:
            continue
        rate = errors / count
        if errors:
            parts.append(f"{name} {errors}/{count}")
        if rate > bound:
            over[name] = (rate, errors, count)
    order = _roots_first(over, inputs.depends_on, {n: v[0] for n, v in over.items()})
    summary = f"failed requests: {', '.join(parts) or 'none'} (at most {bound:.0%} each)"
    suspects = tuple(
        Suspect(
            SubjectKind.SERVICE,
            name,
            min(1.0, 0.5 + over[name][0] / 2),
            Fault.FAILING,
            f"failing requests: {over[name][1]} of {over[name][2]} probes failed "
            f"({over[name][0]:.0%}) during run {inputs.run.id}",
            evidence=(
                Evidence(
                    EvidenceKind.PROBE,
                    f"{over[name][1]}/{over[name][2]} probes failed",
                    inputs.run.started,
                    name,
                    Where(View.CHART, name, inputs.run.started),
                    1.0,
                ),
            ),
            since=inputs.run.started,
        ).to_dict()
        for name in order[:TOP_SUSPECTS]
    )
    return Criterion(
        "errors",
        "error rate bounded",
        not over,
        summary,
        tuple(f"{n}: {over[n][0]:.1%} failed" for n in order),
        suspects,
        Jump.CHART if over else Jump.NONE,
        order[0] if order else "",
    )


# --------------------------------------------------------------------------- restarts


def _expected(event: Mapping[str, Any], audit: Sequence[Any]) -> Any:
    """The audit entry whose action explains a restart, or None."""
    at = float(event.get("at") or 0.0)
    service = str(event.get("service", ""))
    for entry in audit:
        if not entry.action.startswith(_RESTART_ACTIONS):
            continue
        if entry.services and service not in entry.services:
            continue
        end = entry.ended if entry.ended is not None else float("inf")
        if entry.started - 1.0 <= at <= end + EXPECTED_GRACE_S:
            return entry
    return None


def restarts_criterion(gate: Gate, inputs: GateInputs) -> Criterion:
    if inputs.window is None:
        return Criterion("restarts", "no unexpected restarts", False, "no run window recorded")
    events = [e for e in inputs.window.get("restarts", []) or [] if isinstance(e, Mapping)]
    unexpected: dict[str, list[Mapping[str, Any]]] = {}
    all_by: dict[str, int] = {}
    explained: list[str] = []
    for e in events:
        service = str(e.get("service", ""))
        all_by[service] = all_by.get(service, 0) + 1
        entry = _expected(e, inputs.audit)
        if entry is None:
            unexpected.setdefault(service, []).append(e)
        else:
            explained.append(f"{service}: {e.get('state')} during {entry.action} by {entry.user}")
    too_many = {s: v for s, v in unexpected.items() if len(v) > gate.restarts}
    loops = {s for s, n in all_by.items() if gate.crash_loop and n >= gate.crash_loop}
    bad = sorted(set(too_many) | loops)
    order = _roots_first(bad, inputs.depends_on, {n: float(all_by.get(n, 0)) for n in bad})
    summary = (
        f"{sum(len(v) for v in unexpected.values())} unexpected, {len(explained)} by actions "
        f"(allowed {gate.restarts} per service; crash loop at {gate.crash_loop})"
    )
    details = (
        [
            f"{s}: {e.get('state')!s} — {str(e.get('reason', ''))[:160]}"
            for s in order
            for e in unexpected.get(s, [])
        ]
        + [f"{s}: crash loop ({all_by[s]} restarts)" for s in sorted(loops)]
        + explained
    )
    suspects = []
    for name in order[:TOP_SUSPECTS]:
        evs = unexpected.get(name, [])
        n = all_by.get(name, 0)
        loop = name in loops
        first = float(evs[0].get("at") or 0.0) if evs else inputs.run.started
        suspects.append(
            Suspect(
                SubjectKind.SERVICE,
                name,
                0.9 if loop else 0.7,
                Fault.CRASH_LOOP if loop else Fault.CRASHED,
                f"{'crash loop' if loop else 'restarted'}: {n} time(s) during run {inputs.run.id}",
                evidence=tuple(
                    Evidence(
                        EvidenceKind.RESTART,
                        f"{e.get('state')}: {str(e.get('reason', ''))[:200]}",
                        float(e.get("at") or 0.0),
                        name,
                        Where(View.SERVICE, name, float(e.get("at") or 0.0)),
                        0.5,
                    )
                    for e in evs[:4]
                ),
                since=first,
            ).to_dict()
        )
    return Criterion(
        "restarts",
        "no unexpected restarts",
        not bad,
        summary,
        tuple(details[:20]),
        tuple(suspects),
        Jump.SUSPECT if bad else Jump.NONE,
        order[0] if order else "",
    )


# --------------------------------------------------------------------------- seeds


def seeds_criterion(inputs: GateInputs) -> Criterion:
    window = inputs.window or {}
    seeds = window.get("seeds")
    if not isinstance(seeds, list):
        return Criterion(
            "seeds", "seed data verified", False, "the seeds were not verified in this run"
        )
    checks = [s for s in seeds if isinstance(s, Mapping)]
    if not checks:
        return Criterion(
            "seeds",
            "seed data verified",
            False,
            "no seed has a verify step",
            ("add verify = {...} to a seed so a run can prove its data is there",),
        )
    bad = [s for s in checks if s.get("ok") is not True]
    summary = f"{len(checks) - len(bad)}/{len(checks)} seed verify step(s) passed before the suites"
    suspects = tuple(
        Suspect(
            SubjectKind.TEST_DATA,
            str(s.get("seed", "")),
            0.8,
            Fault.BAD_DATA,
            f"bad test data: verify failed: {str(s.get('detail', ''))[:200]}",
            evidence=(
                Evidence(
                    EvidenceKind.SEED,
                    f"verify of {s.get('seed')}: {str(s.get('detail', ''))[:200]}",
                    float(s.get("at") or 0.0) or None,
                    str(s.get("service", "")),
                    Where(View.LOGS, str(s.get("service", ""))),
                    1.0,
                ),
            ),
        ).to_dict()
        for s in bad[:TOP_SUSPECTS]
    )
    return Criterion(
        "seeds",
        "seed data verified",
        not bad,
        summary,
        tuple(f"{s.get('seed')}: {str(s.get('detail', ''))[:200]}" for s in bad),
        suspects,
        Jump.SUSPECT if bad else Jump.NONE,
        str(bad[0].get("service", "")) if bad else "",
    )


def _first(text: str) -> str:
    return text.splitlines()[0][:200] if text else ""
