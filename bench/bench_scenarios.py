"""Scenario figures: the three demo scenarios, headless, as CI would run them.

Each runs ``stagedeck scenario demo.toml NAME --up --reseed --free-ports --json``
in a fresh state directory and database and prints what the scenario measured:

* **detect**: fault injected → the engine (and so the cockpit) shows the service
  not healthy, or a latency sample over its SLO;
* **fail fast**: the dependent's answer while the fault is in force, and how long it took;
* **recover**: fault lifted → every service healthy again;
* the wall time of the whole scenario (bring-up and reseed included).

    python bench/bench_scenarios.py [--runs 1] [--only payments-down,...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "src" / "stagedeck" / "demo" / "demo.toml"
NAMES = ("payments-down", "inventory-frozen", "ledger-slow")


def one(name: str) -> tuple[dict[str, object], float]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "STAGEDECK_STATE_DIR": f"{tmp}/state", "STAGEDECK_DB": f"{tmp}/db"}
        started = time.perf_counter()
        out = subprocess.run(
            [
                sys.executable,
                "-m",
                "stagedeck",
                "scenario",
                str(RECIPE),
                name,
                "--up",
                "--reseed",
                "--free-ports",
                "--yes",
                "--json",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        took = time.perf_counter() - started
    return json.loads(out.stdout), took


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", default=",".join(NAMES))
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f}")
    print("| scenario | met | detect | fail fast | recover | wall |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name in args.only.split(","):
        results = [one(name) for _ in range(args.runs)]
        detect = [r["detect_s"] for r, _ in results if r["detect_s"] is not None]
        recover = [r["recover_s"] for r, _ in results if r["recover_s"] is not None]
        ff = results[-1][0].get("fail_fast") or {}
        fast = f"{ff.get('status') or ff.get('error')} in {ff['seconds']:.2f} s" if ff else "–"
        met = "/".join("yes" if r["ok"] else "no" for r, _ in results)
        print(
            f"| {name} | {met} | {statistics.median(detect):.2f} s | {fast} | "
            f"{statistics.median(recover):.2f} s | {statistics.median(t for _, t in results):.1f} s |"
            if detect and recover
            else f"| {name} | {met} | {detect} | {fast} | {recover} | – |"
        )


if __name__ == "__main__":
    main()
