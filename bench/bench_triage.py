"""Triage figures: the fault matrix on the real demo, and the cost of a recompute.

1. **Fault matrix.** For every demo service and every fault kind (hang by SIGSTOP,
   crash by SIGKILL, latency 4x the SLO, every request failing, health endpoint
   unhealthy, data wiped), inject it into a healthy seeded demo and measure:
   whether the live ranking's top suspect (what the cockpit shows) is the
   faulty cause, the time from injection until it is, and the top suspect for
   a test that fails afterwards (requests made the way the suites make them).
   Then undo it and wait for the ranking to clear.
2. **Recompute cost.** A monitor over an engine of 50 and 500 services (a
   layered graph) with a full, busy history: 120 probes per service, 5,000
   transitions, warning and error lines (a tenth of the services noisy), one
   fault; the median of the live path (snapshot + ranking) over many runs.

    python bench/bench_triage.py [--matrix | --recompute] [--services ledger,...]
        [--faults hang,...] [--limit 8]

Bars (issue 12): correct top suspect in >= 90 % of single-fault cases and >= 95 %
for crash and hang, on screen <= 2 s after the fault (median), recompute <= 5 ms
for 50 services and <= 50 ms for 500.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from stagedeck.engine.engine import Engine  # noqa: E402
from stagedeck.engine.events import ProcState, ServiceStatus  # noqa: E402
from stagedeck.engine.probes import ProbeKind, ProbeRecord  # noqa: E402
from stagedeck.recipe.model import load_recipe  # noqa: E402
from stagedeck.triage.live import monitor_for  # noqa: E402
from stagedeck.triage.model import TransitionRecord  # noqa: E402
from support.faultmatrix import FAULTS, SERVICES, Outcome, run_case, seeded_demo, undo  # noqa: E402

# ------------------------------------------------------------------ the matrix


async def matrix(services: list[str], faults: list[str], limit: float) -> list[Outcome]:
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with seeded_demo(Path(tmp)) as engine:
            await asyncio.sleep(6)  # a baseline for latency and error rates
            for fault in faults:
                for service in services:
                    try:
                        outcome = await run_case(engine, service, fault, limit)
                    finally:
                        await undo(engine, service, fault)
                    outcomes.append(outcome)
                    took = f"{outcome.env_seconds:.2f}s" if outcome.env_seconds is not None else "—"
                    test = (
                        ("ok " if outcome.test_correct else "BAD") + f" {outcome.test_top[:60]}"
                        if outcome.test_checked
                        else "(no test failed)"
                    )
                    print(
                        f"{service:<10} {fault:<10} env {'ok ' if outcome.env_correct else 'BAD'}"
                        f" {took:>6}  {outcome.env_top[:70]}\n{'':<21} test {test}",
                        flush=True,
                    )
                    await asyncio.sleep(2.5)  # a quiet probe round between cases
    return outcomes


def report_matrix(outcomes: list[Outcome]) -> None:
    n = len(outcomes)
    right = sum(o.env_correct for o in outcomes)
    print(f"\nenvironment: correct top suspect in {right}/{n} = {right / n:.0%}")
    by_fault: Counter[str] = Counter()
    totals: Counter[str] = Counter()
    for o in outcomes:
        totals[o.fault] += 1
        by_fault[o.fault] += o.env_correct
    for fault in totals:
        print(f"  {fault:<10} {by_fault[fault]}/{totals[fault]}")
    hard = [o for o in outcomes if o.fault in ("crash", "hang")]
    if hard:
        ok = sum(o.env_correct for o in hard)
        print(f"  crash+hang {ok}/{len(hard)} = {ok / len(hard):.0%}")
    times = [o.env_seconds for o in outcomes if o.env_seconds is not None]
    if times:
        print(
            f"time to correct top suspect: median {statistics.median(times):.2f}s, "
            f"max {max(times):.2f}s (n={len(times)})"
        )
        for fault in totals:
            ft = [o.env_seconds for o in outcomes if o.fault == fault and o.env_seconds is not None]
            if ft:
                print(f"  {fault:<10} median {statistics.median(ft):.2f}s")
    tested = [o for o in outcomes if o.test_checked]
    if tested:
        ok = sum(o.test_correct for o in tested)
        print(f"failed tests: correct top suspect in {ok}/{len(tested)} = {ok / len(tested):.0%}")


# ------------------------------------------------------------------ real suites

SUITE_CASES = [
    ("payments", "errors"),
    ("inventory", "errors"),
    ("ledger", "errors"),
    ("inventory", "data"),
    ("payments", "crash"),
]


async def suites(cases: list[tuple[str, str]]) -> None:
    """The demo's own pytest suites under a fault: each stored failure's top suspect."""
    from stagedeck.store import Store
    from stagedeck.suites.recording import run_and_record
    from stagedeck.suites.runner import SuiteRunner
    from support.faultmatrix import EXPECTED, inject

    total = right = 0
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(Path(tmp) / "db.sqlite")
        async with seeded_demo(Path(tmp)) as engine:
            await asyncio.sleep(6)
            for service, fault in cases:
                try:
                    await inject(engine, service, fault)
                    await asyncio.sleep(2.5)
                    runner = SuiteRunner(engine.recipe, workdir=Path(tmp) / "work")
                    record = await run_and_record(engine, runner, ["api", "flows"], store, "b")
                finally:
                    await undo(engine, service, fault)
                tops: Counter[str] = Counter()
                for f in store.failures("demo", record.run_id):
                    rows = store.failure_suspects(f.result.id or 0)
                    top = rows[0] if rows else {}
                    kind, _ = EXPECTED[fault]
                    want = "test-data" if fault == "data" else service
                    got = top.get("kind") if fault == "data" else top.get("name")
                    tops[str(top.get("name", "(none)"))] += 1
                    total += 1
                    right += got == want or (fault == "data" and got == kind.value)
                print(f"{service:<10} {fault:<8} failures' top suspects: {dict(tops)}", flush=True)
                await asyncio.sleep(2.5)
    if total:
        print(f"real suite failures: correct top suspect in {right}/{total} = {right / total:.0%}")


# ------------------------------------------------------------------ recompute cost


def synthetic_recipe(n: int, tmp: Path) -> Path:
    """``n`` services in layers of about sqrt(n), each using one to three of the layer below."""
    rng = random.Random(n)
    width = max(3, int(n**0.5))
    names = [f"svc-{i:03d}" for i in range(n)]
    lines = ['[environment]\nname = "bench"\ntarget = "local"\nprobe_interval = 2.0\n']
    for i, name in enumerate(names):
        layer = i // width
        below = names[max(0, (layer - 1) * width) : layer * width] if layer else []
        deps = rng.sample(below, min(len(below), rng.randint(1, 3))) if below else []
        lines.append(
            f'[services.{name}]\ncommand = ["true"]\nport = {20000 + i}\n'
            f'health = "/health"\nlatency = ["{{self.url}}/x?probe=1"]\nslo_ms = 50\n'
            f"depends_on = {deps!r}\n".replace("'", '"')
        )
    path = tmp / "bench.toml"
    path.write_text("\n".join(lines))
    return path


def busy_engine(n: int, tmp: Path) -> Engine:
    engine = Engine(load_recipe(synthetic_recipe(n, tmp)))
    rng = random.Random(1)
    now = time.time()
    names = list(engine.recipe.services)
    noisy = set(rng.sample(names, max(1, n // 10)))
    faulty = names[len(names) // 3]
    monitor = monitor_for(engine)
    for name in names:
        engine.statuses[name] = ServiceStatus(
            name, ProcState.RUNNING, engine.statuses[name].health.HEALTHY, since=now - 600
        )
        log = engine.probe_log[name]
        for k in range(log.maxlen or 120):
            at = now - (120 - k) * 2.0
            bad = name == faulty and at > now - 6
            kind = ProbeKind.TIMEOUT if bad else ProbeKind.OK
            log.append(
                ProbeRecord(
                    at,
                    name,
                    not bad,
                    1000 if bad else rng.uniform(1, 8),
                    kind,
                    "timed out after 1s" if bad else "HTTP 200",
                    k % 2 == 1,
                )
            )
        count = 200 if name in noisy else 20
        for k in range(count):  # spread over the last five minutes, as a long run leaves them
            at = now - 300 + k * (300 / count)
            engine.log(
                name,
                f"ERROR {name} rid=t{rng.randrange(16**9):09x} GET /x 500 3ms "
                f'reason="{rng.choice(names)} unavailable: timed out after 3s"',
                ts=at,
            )
            if k % 2:
                engine.log(name, f"WARN  {name} rid=- GET /x?id={k} 404 1ms", ts=at)
    for k in range(5000):
        name = rng.choice(names)
        monitor._transition(
            TransitionRecord(
                now - 300 + k * 0.05, name, "running", rng.choice(["healthy", "degraded"])
            )
        )
    engine.statuses[faulty] = ServiceStatus(
        faulty,
        ProcState.RUNNING,
        engine.statuses[faulty].health.DEGRADED,
        since=now - 6,
        reason="GET http://127.0.0.1/health: timed out after 1s",
    )
    return engine


def recompute_cost(n: int, runs: int) -> tuple[float, float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = busy_engine(n, Path(tmp))
        monitor = monitor_for(engine)
        monitor.recompute()  # the first pull reads the whole log ring once
        times, cpu = [], []
        for _ in range(runs):
            began, began_cpu = time.perf_counter(), time.thread_time()
            ranking = monitor.recompute()
            times.append((time.perf_counter() - began) * 1000)
            cpu.append((time.thread_time() - began_cpu) * 1000)
        top = ranking.top.line()[:80] if ranking.top else "(nothing)"
        return statistics.median(times), statistics.median(cpu), top


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", action="store_true", help="only the fault matrix")
    parser.add_argument("--recompute", action="store_true", help="only the recompute cost")
    parser.add_argument("--suites", action="store_true", help="only real suite runs under faults")
    parser.add_argument("--services", default=",".join(SERVICES))
    parser.add_argument("--faults", default=",".join(FAULTS))
    parser.add_argument("--limit", type=float, default=8.0, help="seconds to wait per case")
    args = parser.parse_args()
    both = not (args.matrix or args.recompute or args.suites)
    if args.recompute or both:
        for n, runs in ((50, 200), (500, 30)):
            median, cpu, top = recompute_cost(n, runs)
            print(
                f"recompute, {n} services, full history: median {median:.2f} ms wall, "
                f"{cpu:.2f} ms CPU (the box is shared: CPU time is the steadier figure)"
            )
            print(f"  top: {top}")
    if args.suites or both:
        asyncio.run(suites(SUITE_CASES))
    if args.matrix or both:
        outcomes = asyncio.run(matrix(args.services.split(","), args.faults.split(","), args.limit))
        report_matrix(outcomes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
