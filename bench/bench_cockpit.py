"""Issue 2's figures: the demo cockpit in tmux at 160x48.

Measures time from launch to the first frame (the services table on screen:
since issue 14, the early frame drawn before the cockpit is imported), to the
cockpit's own frame (``live_s``: its key line is on screen, keys act), and to
every demo service reading healthy on screen, then the cockpit's CPU (% of one core) and bytes
written to the terminal per second over an idle window with the demo running, and
the CPU of the environment process the cockpit started (``env_idle_cpu_pct``: the
engine, probes and log readers run there). Each run gets its own environment
process (no grace period; the next run starts once it has gone). ``--json`` also
prints every run's figures, for alternating before/after invocations.

    python bench/bench_cockpit.py [--idle 30] [--runs 3]
    python bench/bench_cockpit.py --services 500 [--idle 30] [--runs 3]

With ``--services N`` the cockpit opens a generated recipe instead of the demo:
N local services in five dependency layers, each a shell loop that logs a line
every ten seconds (so N/10 lines a second in all) with no health check. That is
the cockpit at scale (services table, graph and log panes on screen), not the
probes: it measures the first frame, all N up, idle CPU and bytes, and key press
to frame (a cursor move in the services table, and ``?`` for the help overlay),
each key timed through a tmux control client.

The package's bytecode is compiled first, as ``pip install`` does for a user: an
editable checkout under PYTHONDONTWRITEBYTECODE (set on this project's machines)
would otherwise compile every module on each launch (0.6 s of "first frame").
"""

from __future__ import annotations

import argparse
import compileall
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, ControlClient, Terminal, Window, cpu_seconds, rss_mb

LAYERS = 5
LOOP = 'i=0; while :; do i=$((i+1)); echo "$SVC level=info msg=tick-$i"; sleep 10; done'


def big_recipe(folder: Path, count: int) -> Path:
    """``count`` services, s0000.., in LAYERS layers; each depends on two of the layer before."""
    per_layer = max(1, count // LAYERS)
    lines = ['[environment]\nname = "big"\ntarget = "local"\nready_timeout = 60\n']
    for i in range(count):
        layer = min(i // per_layer, LAYERS - 1)
        deps = []
        if layer:
            base = (layer - 1) * per_layer
            deps = [f"s{base + (i % per_layer):04d}", f"s{base + ((i + 1) % per_layer):04d}"]
        lines.append(
            f"[services.s{i:04d}]\n"
            f"command = {json.dumps(['sh', '-c', LOOP])}\n"
            f'env = {{ SVC = "s{i:04d}" }}\n'
            f"depends_on = {json.dumps(deps)}\n"
        )
    path = folder / "big.toml"
    path.write_text("\n".join(lines))
    return path


def environment_pid(cockpit: int) -> int | None:
    """The environment process the cockpit started (``stagedeck up ... --foreground``)."""
    children = Path(f"/proc/{cockpit}/task/{cockpit}/children")
    for pid in children.read_text().split() if children.exists() else []:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"up" in argv and b"--foreground" in argv:
            return int(pid)
    return None


class EnvWindow:
    """The environment process's CPU over the same window: the engine, probes and log
    readers run there since issue 19, so the cockpit's own figure leaves them out."""

    def __init__(self, cockpit: int) -> None:
        self.pid = environment_pid(cockpit)
        self.t0 = time.monotonic()
        self.cpu0 = cpu_seconds(self.pid) if self.pid else 0.0

    def read(self) -> float:
        if not self.pid:
            return float("nan")
        return (cpu_seconds(self.pid) - self.cpu0) / (time.monotonic() - self.t0) * 100


def wait_gone(pid: int | None, timeout: float = 30.0) -> None:
    """The run's environment process has exited (the next run must start its own)."""
    deadline = time.monotonic() + timeout
    while pid and Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat").read_text() if Path(f"/proc/{pid}").exists() else ""
        if ") Z" in stat:
            return
        time.sleep(0.1)


NO_GRACE = {"STAGEDECK_IDLE_GRACE": "0"}
"""The environment process stops with its cockpit: otherwise the next run's cockpit
attaches to the last run's environment (started, healthy, maybe another tree's code)."""


def key_to_frame(control: ControlClient, key: str, expect: str) -> float:
    """Seconds from writing ``key`` to the arrival of output containing ``expect``."""
    start = control.send(key)
    return control.wait_output(expect, since=start) - start


def one_big_run(count: int, idle: float, width: int, height: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = big_recipe(folder, count)
        record = folder / "terminal.bytes"
        start = time.monotonic()
        term = Terminal(
            [sys.executable, "-m", "stagedeck", "open", str(path), "--db", str(folder / "db")],
            width=width,
            height=height,
            record=record,
            env={"XDG_CONFIG_HOME": tmp, **NO_GRACE},
        )
        try:
            term.wait_for("SERVICE", timeout=30, interval=0.005)
            first_frame = time.monotonic() - start
            term.wait_for("q Quit", timeout=30, interval=0.005)
            live = time.monotonic() - start
            # Services without a health check count as up once running, and the status
            # bar says so apart: "0/N healthy · N without a check".
            term.wait_for(
                lambda s: f"{count}/{count} healthy" in s or f"{count} without a check" in s,
                timeout=120,
                interval=0.02,
            )
            all_up = time.monotonic() - start
            time.sleep(5)  # start-up notifications expire, the heap is frozen
            window = Window(term.pid, record)
            env_window = EnvWindow(term.pid)
            time.sleep(idle)
            _, cpu, rate = window.read()
            env_cpu = env_window.read()
            rss = rss_mb(term.pid)
            env_rss = rss_mb(env_window.pid) if env_window.pid else float("nan")
            control = term.control()
            moves, helps = [], []
            try:
                for i in range(1, 11):
                    # The cursor moves down one row: the graph's detail line names the service.
                    moves.append(key_to_frame(control, "Down", f"s{i:04d}  "))
                    time.sleep(0.3)
                for _ in range(5):
                    helps.append(key_to_frame(control, "?", "app.quit"))
                    time.sleep(0.3)
                    term.send("Escape")
                    time.sleep(0.5)
            finally:
                control.close()
            term.send("q")
            term.wait_for(lambda s: term.dead(), timeout=60)
            wait_gone(env_window.pid)
        finally:
            term.close()
    return {
        "first_frame_s": first_frame,
        "live_s": live,
        "all_up_s": all_up,
        "idle_cpu_pct": cpu,
        "env_idle_cpu_pct": env_cpu,
        "idle_bytes_per_s": rate,
        "rss_mb": rss,
        "env_rss_mb": env_rss,
        "key_move_p50_ms": statistics.median(moves) * 1000,
        "key_move_max_ms": max(moves) * 1000,
        "key_help_p50_ms": statistics.median(helps) * 1000,
        "key_help_max_ms": max(helps) * 1000,
    }


def one_run(idle: float, width: int, height: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "terminal.bytes"
        start = time.monotonic()
        term = Terminal(
            [sys.executable, "-m", "stagedeck", "demo", "--free-ports"],
            width=width,
            height=height,
            record=record,
            env={"XDG_CONFIG_HOME": tmp, **NO_GRACE},
        )
        try:
            term.wait_for("SERVICE", timeout=10, interval=0.005)
            first_frame = time.monotonic() - start
            term.wait_for("q Quit", timeout=10, interval=0.005)
            live = time.monotonic() - start
            term.wait_for(lambda s: s.count("● healthy") >= 6, timeout=30, interval=0.01)
            all_healthy = time.monotonic() - start
            time.sleep(3)  # let start-up notifications expire
            window = Window(term.pid, record)
            env_window = EnvWindow(term.pid)
            time.sleep(idle)
            _, cpu, rate = window.read()
            env_cpu = env_window.read()
            rss = rss_mb(term.pid)
            term.send("q")
            term.wait_for(lambda s: term.dead(), timeout=30)
            wait_gone(env_window.pid)
        finally:
            term.close()
    return {
        "first_frame_s": first_frame,
        "live_s": live,
        "all_healthy_s": all_healthy,
        "idle_cpu_pct": cpu,
        "env_idle_cpu_pct": env_cpu,
        "idle_bytes_per_s": rate,
        "rss_mb": rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", default="160x48")
    parser.add_argument("--services", type=int, default=0, help="a generated recipe instead")
    parser.add_argument("--json", action="store_true", help="also print each run's figures")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    sys.dont_write_bytecode = False
    compileall.compile_dir(str(ROOT / "src" / "stagedeck"), quiet=1)
    if args.services:
        big = [one_big_run(args.services, args.idle, width, height) for _ in range(args.runs)]
        if args.json:
            print(json.dumps(big))
        print(
            f"stagedeck cockpit, {args.services} local services, tmux {width}x{height}, "
            f"{args.runs} runs, idle window {args.idle:g}s"
        )
        bars = {"first_frame_s": "≤ 1 s", "idle_cpu_pct": "≤ 2 %", "key_move_p50_ms": "≤ 50 ms"}
        for key in big[0]:
            values = [r[key] for r in big]
            print(
                f"  {key:<18} median {statistics.median(values):8.3f}  "
                f"min {min(values):8.3f}  max {max(values):8.3f}   bar {bars.get(key, '')}"
            )
        return
    results = [one_run(args.idle, width, height) for _ in range(args.runs)]
    if args.json:
        print(json.dumps(results))
    print(
        f"stagedeck demo cockpit, tmux {width}x{height}, "
        f"{args.runs} runs, idle window {args.idle:g}s"
    )
    for key, bar in (
        ("first_frame_s", "≤ 0.5 s"),
        ("live_s", "(keys act)"),
        ("all_healthy_s", "≤ 3 s"),
        ("idle_cpu_pct", "≤ 1 %"),
        ("env_idle_cpu_pct", ""),
        ("idle_bytes_per_s", "≤ 3000 B/s"),
        ("rss_mb", ""),
    ):
        values = [r[key] for r in results]
        print(
            f"  {key:<18} median {statistics.median(values):8.3f}  "
            f"min {min(values):8.3f}  max {max(values):8.3f}   bar {bar}"
        )


if __name__ == "__main__":
    main()
