"""Issue 6's figures: the Docker target watching 20 containers that each log a line a second.

Measures, over a window (default 30 s) after a warm-up, the CPU (% of one
core) and RSS of the process running stagedeck, and the CPU of dockerd,
containerd and the containers' shims (from /proc/<pid>/stat), with stagedeck
watching and, for comparison, without it.

    python bench/bench_docker.py [--containers 20] [--window 30] [--mode headless|cockpit]

``headless`` runs the engine and the Docker target in a child process with
no view (the core's own cost); ``cockpit`` runs ``stagedeck open`` in tmux
(the full cockpit at 160x48).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import docker
from common import ROOT, cpu_seconds, rss_mb

sys.path.insert(0, str(ROOT / "tests"))
from support.dockerkit import Kit, new_prefix, require_engine

LOGGER = (
    "i=0; while true; do i=$((i+1)); "
    'echo "$NAME level=info msg=\\"tick $i\\" rid=r$i"; sleep 1; done'
)


def pids_named(*names: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if comm in names:
            found.append(int(entry.name))
    return found


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            total += cpu_seconds(pid)
        except OSError:
            pass
    return total


class Meter:
    """CPU % of one core over a window for a few groups of processes."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.t0 = time.monotonic()
        self.start = {name: cpu_of(pids) for name, pids in groups.items()}

    def read(self) -> dict[str, float]:
        elapsed = time.monotonic() - self.t0
        return {
            name: (cpu_of(pids) - self.start[name]) / elapsed * 100
            for name, pids in self.groups.items()
        }


def write_recipe(path: Path, project: str, count: int) -> None:
    services = "".join(f"[services.s{i:02d}]\n" for i in range(count))
    path.write_text(
        textwrap.dedent(f"""
            [environment]
            name = "bench"
            target = "docker"
            project = "{project}"
            """)
        + services
    )


def child(recipe_path: str, seconds: float) -> None:
    """Run the engine headless for ``seconds`` and print how many lines it took in."""
    from stagedeck.engine.engine import Engine
    from stagedeck.recipe.model import load_recipe

    async def run() -> None:
        engine = Engine(load_recipe(recipe_path))
        await engine.start()
        await asyncio.sleep(seconds)
        received = engine.logs.received()
        batches = getattr(getattr(engine.target, "_batcher", None), "batches", 0)
        await engine.stop()
        print(f"RECEIVED {received} BATCHES {batches}", flush=True)

    asyncio.run(run())


def measure_headless(
    recipe: Path, warmup: float, window: float, daemons: dict[str, list[int]]
) -> dict[str, float]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", str(recipe), str(warmup + window + 1)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(warmup)
        meter = Meter({"stagedeck": [proc.pid], **daemons})
        time.sleep(window)
        figures = meter.read()
        figures["stagedeck_rss_mb"] = rss_mb(proc.pid)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    for line in out.splitlines():
        if line.startswith("RECEIVED"):
            parts = line.split()
            figures["lines_received"] = float(parts[1])
            figures["batches"] = float(parts[3])
    return figures


def measure_cockpit(
    recipe: Path, warmup: float, window: float, daemons: dict[str, list[int]]
) -> dict[str, float]:
    from common import Terminal

    with tempfile.TemporaryDirectory() as tmp:
        term = Terminal(
            [sys.executable, "-m", "stagedeck", "open", str(recipe)],
            width=160,
            height=48,
            record=Path(tmp) / "terminal.bytes",
            env={"XDG_CONFIG_HOME": tmp},
        )
        try:
            time.sleep(warmup)
            meter = Meter({"stagedeck": [term.pid], **daemons})
            time.sleep(window)
            figures = meter.read()
            figures["stagedeck_rss_mb"] = rss_mb(term.pid)
            term.send("q")
        finally:
            term.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--containers", type=int, default=20)
    parser.add_argument("--window", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--mode", choices=("headless", "cockpit"), default="headless")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], float(args.child[1]))
        return

    require_engine()
    client = docker.from_env(timeout=120)
    kit = Kit(client, new_prefix())
    try:
        for i in range(args.containers):
            kit.container(f"s{i:02d}", project=kit.prefix, script=LOGGER)
        daemons = {
            "dockerd": pids_named("dockerd"),
            "containerd": pids_named("containerd"),
            "shims": pids_named("containerd-shim", "containerd-shim-runc-v2"),
        }
        time.sleep(2)
        baseline = Meter(daemons)
        time.sleep(min(args.window, 15))
        idle = baseline.read()
        with tempfile.TemporaryDirectory() as tmp:
            recipe = Path(tmp) / "bench.toml"
            write_recipe(recipe, kit.prefix, args.containers)
            measure = measure_headless if args.mode == "headless" else measure_cockpit
            figures = measure(recipe, args.warmup, args.window, daemons)
    finally:
        kit.remove_all()
        client.close()

    print(
        f"stagedeck docker target, {args.containers} containers x 1 line/s, "
        f"mode {args.mode}, window {args.window:g}s after {args.warmup:g}s warm-up, "
        f"{os.cpu_count()} cores"
    )
    cpu, rss = figures["stagedeck"], figures["stagedeck_rss_mb"]
    print(f"  stagedeck process       CPU {cpu:6.2f} % of one core   RSS {rss:.1f} MB")
    if "lines_received" in figures:
        lines, batches = figures["lines_received"], figures["batches"]
        print(f"  lines received          {lines:.0f} in {batches:.0f} batches")
    for name in ("dockerd", "containerd", "shims"):
        print(f"  {name:<22}  CPU {figures[name]:6.2f} % watched   {idle[name]:6.2f} % unwatched")


if __name__ == "__main__":
    main()
