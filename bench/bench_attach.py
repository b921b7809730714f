"""Issue 19's figures: what each extra attached cockpit costs, and how fresh it is.

An environment process runs the demo (``stagedeck up --free-ports``); real
cockpits (``stagedeck open``, tmux at 120x40) attach one by one. At each step
the environment process's CPU and every cockpit's CPU (% of one core) are read
from /proc over an idle window, and the cockpits' TCP sockets are counted (a
cockpit that probed would hold connections to the services). Then the time
from an event in the environment (a demo service writes a log line while
answering a request) to its bytes reaching a cockpit's terminal, through a tmux
control client, on the first and on the last cockpit attached.

    python bench/bench_attach.py [--window 15] [--viewers 1,2,5,10] [--trials 15]
    python bench/bench_attach.py --flood 2000 --viewers 1,3     # (0: unbounded flood)
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from common import ROOT, Terminal, cpu_seconds, rss_mb

RECIPE = ROOT / "src" / "stagedeck" / "demo" / "demo.toml"


def cpu_over(pids: list[int], window: float) -> list[float]:
    before = [cpu_seconds(p) for p in pids]
    t0 = time.monotonic()
    time.sleep(window)
    elapsed = time.monotonic() - t0
    return [(cpu_seconds(p) - b) / elapsed * 100 for p, b in zip(pids, before, strict=True)]


def tcp_sockets(pid: int) -> int:
    """TCP sockets a process holds (from its fds and /proc/net/tcp{,6})."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            if line.split()[9] in inodes:
                count += 1
    return count


GAP_S = 0.3
"""Seconds between one line on screen and the next request (``--gap``). At 0.3 s the
lines are a trickle, which the log view paces (a scrolling frame at most every 0.75 s,
to save terminal bytes: issue 14); 1 s or more measures an event after a quiet spell."""


def event_to_display(term: Terminal, port: int, trials: int) -> list[float]:
    """Milliseconds from a request that makes the ledger log a line to the line's bytes
    reaching the cockpit's terminal (through a tmux control client)."""
    control = term.control()
    time.sleep(1.0)  # the control client attaches first: output before that is not seen
    took = []
    try:
        for _ in range(trials):
            token = f"tk{uuid.uuid4().hex[:12]}"
            t0 = time.monotonic()
            url = f"http://127.0.0.1:{port}/balance?seen={token}"
            urllib.request.urlopen(url, timeout=5).read()
            try:
                arrived = control.wait_output(token, since=t0, timeout=5)
            except AssertionError:
                print(f"  (line {token} not seen in 5 s: counted as 5000 ms)", flush=True)
                arrived = t0 + 5
            took.append((arrived - t0) * 1000)
            time.sleep(GAP_S)
    finally:
        control.close()
    return took


def report(label: str, took: list[float]) -> None:
    ordered = sorted(took)
    print(
        f"event -> display, {label}: median {statistics.median(took):.0f} ms, "
        f"p90 {ordered[int(len(ordered) * 0.9) - 1]:.0f} ms, max {max(took):.0f} ms "
        f"({len(took)} log lines)",
        flush=True,
    )


def standalone_baseline(env: dict[str, str], tmp: str, trials: int) -> None:
    """The same measure on a cockpit that runs the demo itself (no environment process)."""
    term = cockpit(env, tmp, "solo", RECIPE, "--standalone", "--free-ports")
    try:
        term.wait_for(healthy, timeout=60)
        port = None
        for proc in Path("/proc").iterdir():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
                stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if b"ledger" in argv and b"--port" in argv and int(stat[1]) == term.pid:
                port = int(argv[argv.index(b"--port") + 1])
        assert port is not None, "the standalone cockpit's ledger was not found"
        time.sleep(2)
        (cpu,) = cpu_over([term.pid], 10)
        print(f"standalone cockpit (probes and services its own): {cpu:.2f} % of a core")
        report("standalone cockpit", event_to_display(term, port, trials))
    finally:
        term.send("q")
        term.wait_for(lambda s: term.dead(), timeout=30)
        term.close()


def cockpit(
    env: dict[str, str],
    tmp: str,
    user: str,
    recipe: Path,
    *options: str,
    size: tuple[int, int] = (120, 40),
) -> Terminal:
    """``stagedeck open RECIPE`` in its own tmux server, as ``user``."""
    return Terminal(
        [sys.executable, "-m", "stagedeck", "open", str(recipe), *options],
        width=size[0],
        height=size[1],
        env={k: v for k, v in env.items() if k.startswith(("XDG", "STAGEDECK"))} | {"USER": user},
        cwd=Path(tmp),
    )


def tear_down(terms: list[Terminal], env: dict[str, str], recipe: Path) -> None:
    """Every cockpit quits (detaches), then the environment is stopped."""
    for term in terms:
        term.send("q")
    time.sleep(1)
    for term in terms:
        term.close()
    subprocess.run(
        [sys.executable, "-m", "stagedeck", "down", str(recipe), "--yes"],
        env=env,
        capture_output=True,
        timeout=60,
    )


def healthy(screen: str) -> bool:
    return screen.count("● healthy") >= 6 and "6/6 healthy" in screen


def isolated(tmp: str) -> dict[str, str]:
    run = Path(tmp) / "run"
    run.mkdir(mode=0o700, exist_ok=True)
    return {
        **os.environ,
        "XDG_RUNTIME_DIR": str(run),
        "XDG_STATE_HOME": f"{tmp}/state",
        "XDG_CONFIG_HOME": f"{tmp}/config",
        "STAGEDECK_REGISTRY": f"{tmp}/registry",
        "STAGEDECK_DB": f"{tmp}/shared.db",
    }


def flood(rate: float, viewers: list[int], window: float) -> None:
    """The environment process under a log flood, with 1..N cockpits attached."""
    from bench_logflood import count, newest_age, recipe

    with tempfile.TemporaryDirectory(prefix="sdflood") as tmp:
        env = isolated(tmp)
        path = recipe(Path(tmp), rate)
        up = subprocess.run(
            [sys.executable, "-m", "stagedeck", "up", str(path)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert up.returncode == 0, up.stderr
        env_pid = int(json.loads(next(Path(f"{tmp}/registry").glob("*.json")).read_text())["pid"])
        terms: list[Terminal] = []
        label = "unbounded" if not rate else f"{rate:,.0f} lines/s"
        try:
            for target in viewers:
                while len(terms) < target:
                    term = cockpit(env, tmp, f"viewer{len(terms) + 1}", path, size=(160, 48))
                    term.wait_for(lambda s: "21/21 healthy" in s, timeout=60)
                    terms.append(term)
                time.sleep(3)
                lines0, t0 = count(Path(tmp)), time.monotonic()
                pids = [env_pid, *(t.pid for t in terms)]
                before = [cpu_seconds(p) for p in pids]
                ages: list[float] = []
                deadline = time.monotonic() + window
                while time.monotonic() < deadline:
                    age = newest_age(terms[-1].screen(), time.time())
                    if age is not None:
                        ages.append(age)
                    time.sleep(0.25)
                elapsed = time.monotonic() - t0
                cpus = [
                    (cpu_seconds(p) - b) / elapsed * 100 for p, b in zip(pids, before, strict=True)
                ]
                lines = (count(Path(tmp)) - lines0) / elapsed
                print(
                    f"flood {label}, {target} cockpit(s): {lines:,.0f} lines/s written; "
                    f"environment process {cpus[0]:.1f} % of a core, each cockpit "
                    f"{statistics.mean(cpus[1:]):.1f} %; newest line on the last cockpit's "
                    f"screen p50 {statistics.median(ages):.2f} s old, max {max(ages):.2f} s",
                    flush=True,
                )
        finally:
            tear_down(terms, env, path)


def main() -> int:
    global GAP_S
    parser = argparse.ArgumentParser()
    parser.add_argument("--window", type=float, default=15.0)
    parser.add_argument("--viewers", default="1,2,5,10")
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--gap", type=float, default=GAP_S, help="seconds between lines")
    parser.add_argument(
        "--flood", type=float, default=None, help="lines/s (0: unbounded): the flood scenario"
    )
    args = parser.parse_args()
    steps = sorted({int(n) for n in args.viewers.split(",")})
    GAP_S = args.gap
    if args.flood is not None:
        flood(args.flood, steps, args.window)
        return 0
    compileall.compile_dir(str(ROOT / "src"), quiet=1)
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} (2 cores, shared)")
    with tempfile.TemporaryDirectory(prefix="sdbench") as tmp:
        env = isolated(tmp)
        standalone_baseline(env, tmp, args.trials)
        up = subprocess.run(
            [sys.executable, "-m", "stagedeck", "up", str(RECIPE), "--free-ports"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert up.returncode == 0, up.stderr
        found = json.loads(next(Path(f"{tmp}/registry").glob("*.json")).read_text())
        env_pid = int(found["pid"])
        terms: list[Terminal] = []
        try:
            time.sleep(5)  # bring-up, first probes
            (base,) = cpu_over([env_pid], args.window)
            print(f"0 viewers: environment process {base:.2f} % of a core")
            rows = [(0, base, 0.0, 0)]
            for target in steps:
                while len(terms) < target:
                    term = cockpit(env, tmp, f"viewer{len(terms) + 1}", RECIPE)
                    term.wait_for(healthy, timeout=60)
                    terms.append(term)
                time.sleep(3)
                pids = [env_pid, *(t.pid for t in terms)]
                cpus = cpu_over(pids, args.window)
                sockets = sum(tcp_sockets(t.pid) for t in terms)
                viewers = statistics.mean(cpus[1:])
                rows.append((target, cpus[0], viewers, sockets))
                print(
                    f"{target} viewers: environment process {cpus[0]:.2f} %, "
                    f"each cockpit {viewers:.2f} % (min {min(cpus[1:]):.2f}, "
                    f"max {max(cpus[1:]):.2f}), cockpits' TCP sockets: {sockets}, "
                    f"env RSS {rss_mb(env_pid):.0f} MB",
                    flush=True,
                )
            hello = json.loads(
                subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        "import asyncio, json, sys\n"
                        "from stagedeck.envproc.client import connect\n"
                        "from stagedeck.recipe.model import load_recipe\n"
                        "async def go():\n"
                        "    c = await connect(load_recipe(sys.argv[1]), user='bench')\n"
                        "    print(json.dumps(c.hello['ports'])); await c.close()\n"
                        "asyncio.run(go())\n",
                        str(RECIPE),
                    ],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            for label, term in (("first", terms[0]), ("last", terms[-1])):
                took = event_to_display(term, hello["ledger"], args.trials)
                report(f"attached, {label} of {len(terms)} cockpits", took)
            if len(rows) > 2:
                last, before = rows[-1], rows[-2]
                per = (last[1] - before[1]) / max(1, last[0] - before[0])
                print(
                    f"environment process CPU per extra viewer ({before[0]}->{last[0]}): "
                    f"{per:+.2f} % of a core"
                )
        finally:
            tear_down(terms, env, RECIPE)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
