"""Issue 3's log-flood figures: the cockpit in tmux at 160x48 showing the interleaved log.

One service writes as fast as it can (then, second scenario, a steady 2,000
lines/s) and twenty write one line a second. Reports lines/s ingested, the
newest line's age on screen, key-press-to-frame latency during the flood, the
cockpit's CPU, peak RSS and bytes per second written to the terminal.

    python bench/bench_logflood.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, ControlClient, Terminal, Window, peak_rss_mb

FLOOD = ROOT / "bench" / "flood_service.py"
STAMP = re.compile(r"t=(\d+\.\d+) INFO  flood ")


def recipe(folder: Path, rate: float) -> Path:
    lines = ['[environment]\nname = "flood"\nprobe_interval = 2.0\n']

    def service(name: str, rate: float, counter: str) -> str:
        argv = f'["{{python}}", "{FLOOD}", "{name}", "{rate}", "{folder}/{counter}"]'
        return f"[services.{name}]\ncommand = {argv}\n"

    lines.append(service("flood", rate, "flood.count"))
    lines.extend(service(f"quiet{i:02d}", 1, f"q{i}.count") for i in range(20))
    path = folder / "flood.toml"
    path.write_text("\n".join(lines))
    return path


def count(folder: Path) -> int:
    try:
        return int((folder / "flood.count").read_text())
    except (OSError, ValueError):
        return 0


def newest_age(screen: str, now: float) -> float | None:
    stamps = [float(m.group(1)) for m in STAMP.finditer(screen)]
    return now - max(stamps) if stamps else None


def key_latency(term: Terminal, control: ControlClient) -> float:
    """Press ``?`` and time until the help overlay's bytes reach the terminal; then close it.

    Timed through a tmux control client: from writing the key to the arrival of the
    output that draws the overlay (the binding ids are only on the help screen)."""
    start = control.send("?")
    took = control.wait_output("app.quit", since=start) - start
    term.wait_for("app.quit", timeout=10, interval=0.01)
    term.send("Escape")
    term.wait_for(lambda s: "app.quit" not in s, timeout=10, interval=0.01)
    time.sleep(0.2)
    return took


def scenario(rate: float, seconds: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        folder = Path(tmp)
        path = recipe(folder, rate)
        record = folder / "terminal.bytes"
        term = Terminal(
            [sys.executable, "-m", "stagedeck", "open", str(path), "--db", str(folder / "db")],
            width=160,
            height=48,
            record=record,
            env={"XDG_CONFIG_HOME": tmp},
        )
        try:
            # Up: the status bar counts services without a health check apart ("0/21
            # healthy · 21 without a check"), as these are; older builds said "21/21 healthy".
            term.wait_for(lambda s: "21/21 healthy" in s or "21 without a check" in s, timeout=60)
            time.sleep(3)
            # Passive window first: what the flood itself costs (CPU, bytes, freshness).
            window = Window(term.pid, record)
            lines0, t0 = count(folder), time.monotonic()
            ages: list[float] = []
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                age = newest_age(term.screen(), time.time())
                if age is not None:
                    ages.append(age)
                time.sleep(0.25)
            _, cpu, rate_bytes = window.read()
            lines = (count(folder) - lines0) / (time.monotonic() - t0)
            # Then key presses during the same flood (the overlay's own bytes not counted).
            control = term.control()
            try:
                latencies = [key_latency(term, control) for _ in range(10)]
            finally:
                control.close()
            rss = peak_rss_mb(term.pid)
            term.send("q")
            term.wait_for(lambda s: term.dead(), timeout=30)  # services stopped, then exit
        finally:
            term.close()
    return {
        "lines_per_s": lines,
        "newest_age_p50_s": statistics.median(ages) if ages else float("nan"),
        "newest_age_max_s": max(ages) if ages else float("nan"),
        "key_to_frame_p50_ms": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "key_to_frame_max_ms": max(latencies) * 1000 if latencies else float("nan"),
        "cpu_pct": cpu,
        "peak_rss_mb": rss,
        "terminal_bytes_per_s": rate_bytes,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    for label, rate, bars in (
        ("unbounded flood", 0.0, "RSS ≤ 300 MB, newest ≤ 1 s old, key ≤ 100 ms"),
        ("steady 2,000 lines/s", 2000.0, "≤ 12 % CPU, ≤ 150 MB, ≤ 30 KB/s, never behind"),
    ):
        result = scenario(rate, args.seconds)
        print(f"{label} (+20 services at 1 line/s), tmux 160x48, {args.seconds:g}s   bars: {bars}")
        for key, value in result.items():
            print(f"  {key:<22} {value:12.1f}")


if __name__ == "__main__":
    main()
