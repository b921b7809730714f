"""Fault figures: injected → the cockpit shows it; lifted → all healthy again.

Runs the embedded demo's recipe (its own probe settings: every 2 s, down after
2 failures, 1 s timeout) on free ports, with a real engine, and for each fault
kind on ``payments`` measures

* **shown**: from the fault being applied to the engine reporting payments as
  not healthy (what the services table then draws: it redraws on every status
  change);
* **healthy**: from the fault being lifted to every service healthy again.

    python bench/bench_faults.py [--runs 3] [--kinds pause,kill,stop,latency]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from stagedeck.cli.cockpit import demo_recipe_path  # noqa: E402
from stagedeck.engine import actions  # noqa: E402
from stagedeck.engine.engine import Engine  # noqa: E402
from stagedeck.engine.events import Health  # noqa: E402
from stagedeck.operations import Decision, Operations, requests  # noqa: E402
from stagedeck.recipe.model import load_recipe  # noqa: E402
from stagedeck.store import Store  # noqa: E402

SERVICE = "payments"


async def until(check: object, timeout: float = 60.0) -> float:
    started = time.perf_counter()
    while not check():  # type: ignore[operator]
        if time.perf_counter() - started > timeout:
            raise TimeoutError("not within the timeout")
        await asyncio.sleep(0.01)
    return time.perf_counter() - started


async def one(engine: Engine, ops: Operations, kind: str) -> tuple[float, float]:
    params = {"delay_ms": 1500.0} if kind == "latency" else {}
    result = await ops.perform(
        requests.fault(ops, SERVICE, kind, 30, params), Decision(confirmed=True)
    )
    shown = await until(lambda: engine.statuses[SERVICE].health is not Health.HEALTHY)
    await result.value.lift()
    healthy = await until(lambda: all(s.health is Health.HEALTHY for s in engine.statuses.values()))
    return shown, healthy


async def main_async(runs: int, kinds: list[str]) -> None:
    recipe = load_recipe(demo_recipe_path(), auto_ports=True)
    engine = Engine(recipe)
    await engine.start(bring_up=False)
    with tempfile.TemporaryDirectory() as tmp:
        ops = Operations(engine, user="bench", store=Store.open(Path(tmp) / "bench.db"))
        try:
            assert (await actions.bring_up(engine)).ok
            for kind in kinds:
                shown, healthy = [], []
                for _ in range(runs):
                    await until(
                        lambda: all(s.health is Health.HEALTHY for s in engine.statuses.values())
                    )
                    s, h = await one(engine, ops, kind)
                    shown.append(s)
                    healthy.append(h)
                print(
                    f"{kind:<8} injected → shown: median {statistics.median(shown):.2f} s "
                    f"(min {min(shown):.2f}, max {max(shown):.2f});  "
                    f"lifted → all healthy: median {statistics.median(healthy):.2f} s "
                    f"(min {min(healthy):.2f}, max {max(healthy):.2f})"
                )
        finally:
            await ops.close()
            await engine.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kinds", default="pause,kill,stop,latency")
    args = parser.parse_args()
    asyncio.run(main_async(args.runs, args.kinds.split(",")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
