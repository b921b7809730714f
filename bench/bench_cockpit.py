"""Issue 2's figures: the demo cockpit in tmux at 160x48.

Measures time from launch to the first frame and to every demo service
reading healthy on screen, then the cockpit's CPU (% of one core) and bytes
written to the terminal per second over an idle window with the demo running.

    python bench/bench_cockpit.py [--idle 30] [--runs 3]

The package's bytecode is compiled first, as ``pip install`` does for a user: an
editable checkout under PYTHONDONTWRITEBYTECODE (set on this project's machines)
would otherwise compile every module on each launch (0.6 s of "first frame").
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, Terminal, Window, rss_mb


def one_run(idle: float, width: int, height: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "terminal.bytes"
        start = time.monotonic()
        term = Terminal(
            [sys.executable, "-m", "stagedeck", "demo", "--free-ports"],
            width=width,
            height=height,
            record=record,
            env={"XDG_CONFIG_HOME": tmp},
        )
        try:
            term.wait_for("SERVICE", timeout=10, interval=0.005)
            first_frame = time.monotonic() - start
            term.wait_for(lambda s: s.count("● healthy") >= 6, timeout=30, interval=0.01)
            all_healthy = time.monotonic() - start
            time.sleep(3)  # let start-up notifications expire
            window = Window(term.pid, record)
            time.sleep(idle)
            _, cpu, rate = window.read()
            rss = rss_mb(term.pid)
            term.send("q")
            term.wait_for(lambda s: term.dead(), timeout=30)
        finally:
            term.close()
    return {
        "first_frame_s": first_frame,
        "all_healthy_s": all_healthy,
        "idle_cpu_pct": cpu,
        "idle_bytes_per_s": rate,
        "rss_mb": rss,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", default="160x48")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    sys.dont_write_bytecode = False
    compileall.compile_dir(str(ROOT / "src" / "stagedeck"), quiet=1)
    results = [one_run(args.idle, width, height) for _ in range(args.runs)]
    print(
        f"stagedeck demo cockpit, tmux {width}x{height}, "
        f"{args.runs} runs, idle window {args.idle:g}s"
    )
    for key, bar in (
        ("first_frame_s", "≤ 0.5 s"),
        ("all_healthy_s", "≤ 3 s"),
        ("idle_cpu_pct", "≤ 1 %"),
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
