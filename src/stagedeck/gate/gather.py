"""Reading what a verdict needs from the store, and keeping the verdict with the run.

The one place the gate touches the store: :func:`judge` gathers a run's suite
results, failures with their annotations and stored suspects, the baseline's
failure signatures, the run window and the audit entries around it, hands them
to the pure :func:`~stagedeck.gate.evaluate.evaluate`, and stores the verdict.
Blocking: front ends call it in a thread.
"""

from __future__ import annotations

from stagedeck.gate.evaluate import evaluate
from stagedeck.gate.model import GateInputs, RunFailure, Verdict
from stagedeck.recipe.gate import LAST_GO, Gate
from stagedeck.recipe.model import Recipe
from stagedeck.store import Store

AUDIT_SCAN = 500
"""Audit entries read to find the actions around a run (restarts they explain)."""


class GateError(LookupError):
    """No run to judge (none recorded, or the id names another environment's)."""


def latest_run(store: Store, env: str) -> int:
    runs = store.runs(env, limit=1)
    if not runs:
        raise GateError(f"no runs of {env} recorded yet: run the suites first (stagedeck run)")
    return runs[0].id


def gather(store: Store, recipe: Recipe, gate: Gate, run_id: int) -> GateInputs:
    run = store.run(run_id)
    if run is None or run.environment != recipe.name:
        raise GateError(f"no run {run_id} of {recipe.name} in {store.path}")
    failures = []
    for f in store.failures(recipe.name, run_id):
        sig = f.result.signature
        notes = store.annotations_for(sig) if sig else []
        suspects = store.failure_suspects(f.result.id) if f.result.id is not None else []
        failures.append(
            RunFailure(
                f.suite,
                f.result,
                tuple((a.tag, a.author, a.note) for a in notes if not a.deleted),
                tuple(suspects),
            )
        )
    baseline: int | None
    problem = ""
    if gate.baseline == LAST_GO:
        baseline = store.last_go_run(recipe.name, run_id)
        if baseline is None:
            problem = f"no GO run of {recipe.name} before run {run_id}"
    else:
        baseline = int(gate.baseline)
        other = store.run(baseline)
        if other is None or other.environment != recipe.name:
            problem = f"baseline run {baseline} is not a run of {recipe.name}"
            baseline = None
    signatures = frozenset(
        f.result.signature
        for f in (store.failures(recipe.name, baseline) if baseline is not None else [])
        if f.result.signature
    )
    end = run.ended if run.ended is not None else float("inf")
    audit = [
        e
        for e in store.recent_audit(recipe.name, limit=AUDIT_SCAN)
        if e.started <= end and (e.ended is None or e.ended >= run.started - 60.0)
    ]
    return GateInputs(
        run=run,
        suite_runs=store.suite_runs(run_id),
        failures=failures,
        window=store.run_window(run_id),
        baseline=baseline,
        baseline_signatures=signatures,
        baseline_problem=problem,
        audit=audit,
        slo_ms={n: s.slo_ms for n, s in recipe.services.items()},
        depends_on={n: s.depends_on for n, s in recipe.services.items()},
    )


def judge(
    store: Store, recipe: Recipe, run_id: int | None = None, *, user: str = "", keep: bool = True
) -> Verdict:
    """Evaluate the recipe's gate on ``run_id`` (default: the latest run) and store the verdict."""
    gate = recipe.gate or Gate()
    rid = latest_run(store, recipe.name) if run_id is None else run_id
    inputs = gather(store, recipe, gate, rid)
    verdict = evaluate(gate, inputs, gate.required(recipe.suites))
    if keep and store.writable:
        store.add_gate_verdict(
            rid, verdict.verdict, len(verdict.failing), verdict.to_dict(), user=user
        )
    return verdict
