"""Benchmark: the Kubernetes target against 500 pods in 50 deployments.

The API emulator (tests/support/k8skit.py, over kmock) runs in a child process, so
the figures are the cockpit's own: its CPU, its memory, its latency. The
cockpit side is a headless Engine with the Kubernetes target, exactly what
``stagedeck up`` runs under the TUI.

Measured:

* time to the first complete status table: ``Engine.start()`` until all 50
  services have a state (with and without the one-off SDK import);
* per engine update while pods change state at a steady rate (default 50 a
  second, each with the Deployment status change a real controller makes):
  the cockpit's time to handle one watch event (fold it into the
  service's verdict, update the engine), and the latency from the write at
  the API server to the engine's new state;
* peak RSS of the cockpit process, with a log follower per pod.

With ``--launch`` it times ``stagedeck k8s`` itself instead, in tmux at 160x48:
launch -> the deployments listed, and -> live (the cockpit's key line on screen).

Run: ``python bench/bench_k8s.py`` (``--help`` for sizes and rates).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from stagedeck.deadline import within

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
SENT = "bench.stagedeck.dev/sent"


# --------------------------------------------------------------------------- the API server side


async def serve(deployments: int, pods: int, namespace: str) -> None:
    from support import k8skit

    async with k8skit.Emulator() as emu:
        cluster = k8skit.EmulatedCluster(emu, namespace, Path(os.devnull))
        await cluster.start_server()
        started = time.perf_counter()
        names = [f"svc-{i:02d}" for i in range(deployments)]
        all_pods: list[tuple[str, str]] = []
        for name in names:
            for pod in await cluster.deployment(name, pods):
                all_pods.append((name, pod))
        print(
            json.dumps(
                {
                    "port": cluster.port,
                    "pods": len(all_pods),
                    "setup": time.perf_counter() - started,
                }
            ),
            flush=True,
        )
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := (await reader.readline()).decode().split():
            if line[0] == "churn":
                rate, seconds = float(line[1]), float(line[2])
                done = await churn(cluster, all_pods, rate, seconds)
                print(json.dumps({"changes": done}), flush=True)
            elif line[0] == "quit":
                break
        await cluster.close()


async def churn(cluster: Any, pods: list[tuple[str, str]], rate: float, seconds: float) -> int:
    """Flip pods between ready and not ready at ``rate`` a second, round robin."""
    from support import k8skit

    ready: dict[str, bool] = {}
    start = time.monotonic()
    count = 0
    while (now := time.monotonic()) - start < seconds:
        due = start + count / rate
        if due > now:
            await asyncio.sleep(due - now)
        workload, pod = pods[count % len(pods)]
        ready[pod] = not ready.get(pod, True)
        body = {
            "metadata": {"annotations": {SENT: repr(time.time())}},
            "status": k8skit.pod_status("ready" if ready[pod] else "starting"),
        }
        await cluster.patch("pods", pod, body)
        await cluster.sync_status(workload)
        count += 1
    return count


# --------------------------------------------------------------------------- the cockpit side


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    values = sorted(values)

    def at(p: float) -> float:
        return values[min(len(values) - 1, int(p * len(values)))]

    return (
        f"p50 {at(0.50) * 1000:.2f} ms, p95 {at(0.95) * 1000:.2f} ms, "
        f"p99 {at(0.99) * 1000:.2f} ms, max {values[-1] * 1000:.2f} ms"
    )


async def cockpit(args: argparse.Namespace) -> None:
    namespace = "bench"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "--serve",
        "--deployments",
        str(args.deployments),
        "--pods",
        str(args.pods),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    assert child.stdout is not None and child.stdin is not None
    hello = json.loads(await child.stdout.readline())
    print(
        f"emulator: {hello['pods']} pods in {args.deployments} deployments "
        f"(set up in {hello['setup']:.1f}s)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KUBECONFIG"] = str(write_kubeconfig(Path(tmp), hello["port"], namespace))
        try:
            if args.launch:
                await launch(args, namespace, Path(tmp))
            else:
                await measure(args, child, namespace, Path(tmp))
        finally:
            child.stdin.write(b"quit\n")
            with contextlib.suppress(TimeoutError):
                await within(child.wait(), 10)
            if child.returncode is None:
                child.kill()


def write_kubeconfig(folder: Path, port: int, namespace: str) -> Path:
    """A kubeconfig for the emulator (not k8skit's writer: importing the test kit, kmock
    and pytest, would inflate our RSS)."""
    kubeconfig = folder / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "kmock",
                        "cluster": {"server": f"http://127.0.0.1:{port}"},
                    }
                ],
                "users": [{"name": "bench", "user": {"token": "not-checked"}}],
                "contexts": [
                    {
                        "name": "kmock",
                        "context": {
                            "cluster": "kmock",
                            "user": "bench",
                            "namespace": namespace,
                        },
                    }
                ],
                "current-context": "kmock",
            }
        )
    )
    return kubeconfig


async def launch(args: argparse.Namespace, namespace: str, tmp: Path) -> None:
    """``stagedeck k8s`` in tmux at 160x48: launch -> every deployment listed, and -> live."""
    import compileall

    from common import Terminal

    # As pip does for a user: an editable checkout under PYTHONDONTWRITEBYTECODE would
    # otherwise compile the modules changed since the last run on every launch.
    sys.dont_write_bytecode = False
    compileall.compile_dir(str(ROOT / "src" / "stagedeck"), quiet=1)

    listed = re.compile(r"│ (svc-\d\d)\s")
    wanted = min(args.deployments, 15)  # as many rows as the services box holds at 48 lines
    firsts, lives = [], []
    for _ in range(args.runs):
        start = time.monotonic()
        term = Terminal(
            [sys.executable, "-m", "stagedeck", "k8s", "-n", namespace, "--standalone"],
            width=160,
            height=48,
            env={"KUBECONFIG": os.environ["KUBECONFIG"], "XDG_CONFIG_HOME": str(tmp)},
        )
        try:
            await asyncio.to_thread(
                term.wait_for,
                lambda s: len(set(listed.findall(s))) >= wanted,
                timeout=30,
                interval=0.005,
            )
            firsts.append(time.monotonic() - start)
            await asyncio.to_thread(term.wait_for, "q Quit", timeout=30, interval=0.005)
            lives.append(time.monotonic() - start)
            term.send("q")
            await asyncio.to_thread(term.wait_for, lambda s, t=term: t.dead(), timeout=20)
        finally:
            term.close()
        print(f"run: listed {firsts[-1]:.3f} s, live {lives[-1]:.3f} s", flush=True)
    print(
        f"stagedeck k8s, {args.deployments} deployments x {args.pods} pods, tmux 160x48, "
        f"{args.runs} runs, load {os.getloadavg()[0]:.1f}: launch -> {wanted} listed "
        f"median {statistics.median(firsts):.3f} s, -> live median {statistics.median(lives):.3f} s"
    )


async def measure(
    args: argparse.Namespace, child: asyncio.subprocess.Process, namespace: str, tmp: Path
) -> None:
    from stagedeck.engine.engine import Engine
    from stagedeck.engine.events import ProcState
    from stagedeck.recipe.model import load_recipe
    from stagedeck.targets.kubernetes.target import KubernetesTarget
    from stagedeck.targets.kubernetes.watch import Timing

    assert child.stdin is not None and child.stdout is not None
    services = "".join(f"[services.svc-{i:02d}]\n" for i in range(args.deployments))
    recipe_path = tmp / "recipe.toml"
    recipe_path.write_text(
        f'[environment]\nname = "bench"\ntarget = "kubernetes"\ncontext = "kmock"\n'
        f'namespace = "{namespace}"\n{services}'
    )
    recipe = load_recipe(recipe_path)

    if not args.cold:
        t0 = time.perf_counter()
        await asyncio.to_thread(_import_sdk)
        print(f"SDK import (once per process, off the loop): {time.perf_counter() - t0:.2f}s")

    rss_base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    processing: list[float] = []
    latency: list[float] = []
    timing = Timing(log_tail=50)

    class Measured(KubernetesTarget):
        def changed(self, kind: Any, event_type: str, obj: dict[str, Any]) -> None:
            started = time.perf_counter()
            super().changed(kind, event_type, obj)
            processing.append(time.perf_counter() - started)
            sent = ((obj.get("metadata") or {}).get("annotations") or {}).get(SENT)
            if sent and kind == "pods":
                latency.append(time.time() - float(sent))

    engine = Engine(recipe, target_factory=lambda r, e: Measured(r, e, timing=timing))
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    await engine.start()
    while any(s.state is ProcState.PENDING for s in engine.statuses.values()):
        await asyncio.sleep(0.001)
    first_table = time.perf_counter() - t0
    first_cpu = time.process_time() - cpu0
    target = engine.target
    assert isinstance(target, Measured)
    running = sum(s.state is ProcState.RUNNING for s in engine.statuses.values())
    print(
        f"first complete status table: {first_table:.3f}s wall, {first_cpu:.3f}s CPU "
        f"({running}/{len(engine.statuses)} running)"
    )
    deadline = time.monotonic() + 60
    while len([f for f in target.followers.values() if f.opened]) < args.deployments * args.pods:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    opened = sum(1 for f in target.followers.values() if f.opened)
    after = time.perf_counter() - t0
    print(f"log followers streaming: {opened} (one per pod), {after:.2f}s after start")

    processing.clear()
    latency.clear()
    version0 = engine.version
    reports0 = target.reports
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    child.stdin.write(f"churn {args.rate} {args.seconds}\n".encode())
    await child.stdin.drain()
    done = json.loads(await child.stdout.readline())
    await asyncio.sleep(0.5)  # the last events in flight
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    updates = engine.version - version0
    print(
        f"churn: {done['changes']} pod changes in {args.seconds:g}s "
        f"({done['changes'] / args.seconds:.0f}/s, plus a Deployment status change each)"
    )
    print(
        f"  watch events handled: {len(processing)}; engine updates: {updates}; "
        f"sink calls: {target.reports - reports0}"
    )
    print(f"  time per watch event in the target (verdict + engine): {percentiles(processing)}")
    if processing:
        print(f"  mean per event: {statistics.fmean(processing) * 1e6:.0f} µs")
    print(f"  API write -> engine state latency: {percentiles(latency)}")
    print(f"  cockpit CPU while churning: {cpu / wall * 100:.1f}% of one core")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak RSS (cockpit process): {rss:.0f} MiB "
        f"(after imports, before start: {rss_base:.0f} MiB; the kubernetes SDK is most of it)"
    )
    await engine.stop()


def _import_sdk() -> None:
    from stagedeck.targets.kubernetes import client as k8s_client

    k8s_client._import_sdk()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deployments", type=int, default=50)
    parser.add_argument("--pods", type=int, default=10, help="pods per deployment")
    parser.add_argument("--rate", type=float, default=50.0, help="pod changes per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to churn")
    parser.add_argument(
        "--cold", action="store_true", help="count the SDK import in the first table"
    )
    parser.add_argument(
        "--launch",
        action="store_true",
        help="time `stagedeck k8s` in tmux to every deployment listed, instead",
    )
    parser.add_argument("--runs", type=int, default=3, help="with --launch")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.deployments, args.pods, "bench"))
    else:
        asyncio.run(cockpit(args))


if __name__ == "__main__":
    main()
