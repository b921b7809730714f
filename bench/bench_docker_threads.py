"""Issue 14: where an idle `stagedeck docker` spends its CPU, thread by thread.

Twenty compose-labelled containers each log a line a second (as in
``bench_vs_lazydocker.py``); the cockpit runs in tmux at 160x48; after a warm-up
the CPU time of each of its threads (``/proc/PID/task/*/stat``) is read at the
start and end of an idle window and printed grouped by thread name, so a change
to one part (the log readers, the main thread's frames, the stats round) can be
measured on its own.

    python bench/bench_docker_threads.py [--seconds 30] [--containers 20] [--runs 1]
        [--spy out.txt]   # also record a py-spy profile of the window (raw stacks; .svg: a
                          # flame graph); py-spy from PATH or next to this Python

Put another tree's ``src`` first on ``PYTHONPATH`` to measure it instead.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import docker
from bench_docker import LOGGER
from bench_vs_lazydocker import descendants
from common import ROOT, Terminal

sys.path.insert(0, str(ROOT / "tests"))
from support.dockerkit import Kit, new_prefix, require_engine

TICK = os.sysconf("SC_CLK_TCK")


def threads_of(pid: int) -> dict[int, tuple[str, float]]:
    """{tid: (name, CPU seconds)} for every thread of ``pid``."""
    found: dict[int, tuple[str, float]] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        found[int(task.name)] = (name, (int(fields[11]) + int(fields[12])) / TICK)
    return found


def group(name: str) -> str:
    """Fold numbered threads ("docker-logs:s01", "docker-stats_3", "asyncio_0") into one."""
    return re.sub(r"[:_-]?\d+$", "", name.split(":")[0]) or name


def py_spy() -> str:
    """py-spy on PATH or next to this Python ("" when neither)."""
    here = Path(sys.executable).parent / "py-spy"
    return shutil.which("py-spy") or (str(here) if here.exists() else "")


def python_names(pid: int) -> dict[int, str]:
    """{OS thread id: Python thread name}, from two seconds of ``py-spy record`` (if on PATH).

    Python 3.11 does not name its threads for the OS (all say "python"); py-spy knows both.
    """
    spy = py_spy()
    if not spy:
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "stacks.txt"
        subprocess.run(
            [spy, "record", "--idle", "--threads", "--nonblocking", "-r", "20", "-d", "2"]
            + ["-f", "raw", "-o", str(out), "-p", str(pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        text = out.read_text() if out.exists() else ""
    names: dict[int, str] = {}
    for m in re.finditer(r"^thread \((0x[0-9a-fA-F]+|\d+)\): ([^;]*);", text, re.M):
        names[int(m.group(1), 0)] = m.group(2)
    return names


def python_pid(root: int) -> int:
    for pid in descendants(root):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"stagedeck" in cmd and b"python" in cmd:
            return pid
    return root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--containers", type=int, default=20)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--spy", default="", help="py-spy profile of the window (.svg: flame graph)"
    )
    args = parser.parse_args()

    require_engine()
    client = docker.from_env(timeout=120)
    kit = Kit(client, new_prefix())
    try:
        for i in range(args.containers):
            kit.container(f"s{i:02d}", project=kit.prefix, script=LOGGER)
        time.sleep(3)
        for run in range(args.runs):
            with tempfile.TemporaryDirectory() as tmp:
                term = Terminal(
                    [sys.executable, "-m", "stagedeck", "docker", "--project", kit.prefix],
                    width=160,
                    height=48,
                    env={"XDG_CONFIG_HOME": tmp},
                    cwd=Path(tmp),
                )
                try:
                    term.wait_for(lambda s: 'msg="tick' in s, timeout=30)
                    time.sleep(args.warmup)
                    pid = python_pid(term.pid)
                    names = python_names(pid)
                    spy = None
                    if args.spy and py_spy():
                        spy = subprocess.Popen(
                            [py_spy(), "record", "--nonblocking", "-r", "100", "-p", str(pid)]
                            + ["-d", str(int(args.seconds)), "-o", args.spy, "--threads"]
                            + (["-f", "raw"] if not args.spy.endswith(".svg") else []),
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                        )
                    before, t0 = threads_of(pid), time.monotonic()
                    time.sleep(args.seconds)
                    after, elapsed = threads_of(pid), time.monotonic() - t0
                    if spy is not None:
                        spy.wait(timeout=60)
                finally:
                    term.close()
            totals: dict[str, float] = defaultdict(float)
            counts: dict[str, int] = defaultdict(int)
            for tid, (name, cpu) in after.items():
                start = before.get(tid, (name, 0.0))[1]
                key = "main" if tid == pid else group(names.get(tid, name))
                totals[key] += cpu - start
                counts[key] += 1
            total = sum(totals.values())
            print(
                f"run {run + 1}: {args.containers} containers x 1 line/s, {elapsed:.0f}s window, "
                f"load {os.getloadavg()[0]:.1f}: {total / elapsed * 100:.2f} % of a core"
            )
            for key, cpu in sorted(totals.items(), key=lambda kv: -kv[1]):
                print(f"  {key:<20} x{counts[key]:<3} {cpu / elapsed * 100:6.2f} %")
    finally:
        kit.remove_all()
        client.close()


if __name__ == "__main__":
    main()
