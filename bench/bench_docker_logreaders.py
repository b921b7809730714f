"""Issue 14: what following twenty quiet containers' logs costs, by way of reading them.

Twenty containers each log a line a second; a process with nothing else to do follows
them through one of the readers and feeds a real :class:`LogBatcher` on an asyncio
loop, and its CPU (all threads, the loop's wake-ups included) is measured over a
window:

* ``threads``: the SDK path, one :class:`LogFollower` thread per container;
* ``mux``: one :class:`LogMux` thread, gathering a quarter second's lines per wake-up;
* ``mux-eager``: the same reader handing each line over as it comes (no gathering).

    python bench/bench_docker_logreaders.py [--seconds 20] [--containers 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

import docker
from bench_docker import LOGGER
from common import ROOT

sys.path.insert(0, str(ROOT / "tests"))
from stagedeck.targets.docker.logmux import LogMux, MuxFollower
from stagedeck.targets.docker.streams import LogBatcher, LogFollower, LogRecord
from support.dockerkit import Kit, new_prefix, require_engine

MODES = ("threads", "mux", "mux-eager")


async def measure(client: docker.DockerClient, ids: list[str], mode: str, seconds: float) -> str:
    got: list[LogRecord] = []
    batcher = LogBatcher(asyncio.get_running_loop(), got.extend, 0.1)
    mux: LogMux | None = None
    followers: list[LogFollower | MuxFollower] = []
    if mode == "threads":
        for i, cid in enumerate(ids):
            thread = LogFollower(client.api, cid, f"s{i:02d}", batcher, tty=False, tail=5)
            thread.start()
            followers.append(thread)
    else:
        mux = LogMux(batcher, gather=0.0 if mode == "mux-eager" else 0.25)
        mux.start()
        for i, cid in enumerate(ids):
            follower = mux.follow(client.api, cid, f"s{i:02d}", tty=False, tail=5)
            assert follower is not None, "the engine is not on a unix socket"
            followers.append(follower)
    try:
        await asyncio.sleep(3)
        lines0, cpu0, t0 = len(got), time.process_time(), time.monotonic()
        await asyncio.sleep(seconds)
        lines, cpu = len(got) - lines0, time.process_time() - cpu0
        elapsed = time.monotonic() - t0
    finally:
        for follower in followers:
            follower.stop()
        if mux is not None:
            mux.close()
            await asyncio.to_thread(mux.join, 5)
    return (
        f"{mode:<10} {lines / elapsed:6.1f} lines/s  CPU {cpu / elapsed * 100:6.3f} % of a core"
        f"  {cpu / max(lines, 1) * 1e6:5.0f} µs a line"
    )


async def run(args: argparse.Namespace) -> None:
    require_engine()
    client = docker.from_env(timeout=120)
    kit = Kit(client, new_prefix())
    try:
        ids = [
            kit.container(f"s{i:02d}", project=kit.prefix, script=LOGGER).id
            for i in range(args.containers)
        ]
        await asyncio.sleep(2)
        print(
            f"{args.containers} containers x 1 line/s, {args.seconds:g}s windows, "
            f"load {os.getloadavg()[0]:.1f}"
        )
        for _ in range(args.rounds):
            for mode in MODES:
                print(await measure(client, ids, mode, args.seconds), flush=True)
    finally:
        kit.remove_all()
        client.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--containers", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
