"""Reseed: load test data in dependency order, each seed gated on its service's health.

A seed runs after the seeds it depends on, and only once the service it fills
is healthy. It runs locally (with the service's URLs in its command) or, with
``in_service = true``, through the target's exec inside the service. An
optional ``verify`` step (a command, or an HTTP check) decides whether the
data really arrived; a seed whose verify fails is failed, whatever its exit
code said.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stagedeck.deadline import within
from stagedeck.engine.events import ActionProgress, Notice
from stagedeck.engine.graph import DependencyGraph
from stagedeck.engine.probes import probe_http
from stagedeck.recipe.model import Seed
from stagedeck.targets.local import guard

if TYPE_CHECKING:
    from stagedeck.engine.engine import Engine

OUTPUT_TAIL = 40


@dataclass(frozen=True)
class SeedOutcome:
    seed: str
    service: str
    ok: bool
    started: float
    finished: float
    detail: str = ""
    output: tuple[str, ...] = ()
    verified: bool | None = None
    """None when the seed has no verify step."""

    @property
    def seconds(self) -> float:
        return self.finished - self.started


@dataclass
class ReseedOutcome:
    steps: list[SeedOutcome] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    finished: float = 0.0

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps) and not self.skipped

    def describe(self) -> str:
        failed = [s for s in self.steps if not s.ok]
        took = f"{self.finished - self.started:.1f}s"
        if not failed:
            return f"reseed: {', '.join(s.seed for s in self.steps) or 'nothing'} done in {took}"
        first = failed[0]
        text = f"reseed failed at {first.seed} ({first.service}): {first.detail}"
        if first.output:
            text += "\n  last lines:\n" + "\n".join(f"    {ln}" for ln in first.output[-5:])
        if self.skipped:
            text += f"\n  not run: {', '.join(self.skipped)}"
        return text


def seed_order(seeds: dict[str, Seed], wanted: Iterable[str] | None = None) -> list[list[str]]:
    """Layers of seeds; ``wanted`` pulls in the seeds it depends on."""
    graph = DependencyGraph({n: s.depends_on for n, s in seeds.items()})
    names = set(seeds) if wanted is None else set(wanted)
    for name in list(names):
        names.update(graph.ancestors(name))
    return [[n for n in layer if n in names] for layer in graph.layers() if set(layer) & names]


async def run_local(
    argv: tuple[str, ...], env: dict[str, str], cwd: str | None, timeout: float
) -> tuple[int, list[str]]:
    """Run a command in its own process group; (exit code, output). Timeout kills the group."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env={**os.environ, **env},
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return 127, [f"cannot run {argv[0]}: {exc.strerror or exc}"]
    guard.watch(proc.pid)  # a seed dies with us, even on SIGKILL
    try:
        out, _ = await within(proc.communicate(), timeout)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        out = b""
        await proc.wait()
        return -9, [f"killed after {timeout:g}s timeout"]
    finally:
        guard.forget(proc.pid)
    return proc.returncode or 0, out.decode(errors="replace").splitlines()


async def reseed(
    engine: Engine, names: Iterable[str] | None = None, *, health_timeout: float | None = None
) -> ReseedOutcome:
    """Run the recipe's seeds (or ``names`` and what they need) in dependency order."""
    seeds = dict(engine.recipe.seeds)
    outcome = ReseedOutcome(started=engine.clock())
    layers = seed_order(seeds, names)
    for index, layer in enumerate(layers):
        results = await asyncio.gather(
            *(_one(engine, seeds[name], health_timeout) for name in layer)
        )
        outcome.steps.extend(results)
        if not all(r.ok for r in results):
            outcome.skipped = [n for later in layers[index + 1 :] for n in later]
            break
    outcome.finished = engine.clock()
    engine.bus.publish(
        Notice(outcome.describe().splitlines()[0], "information" if outcome.ok else "error")
    )
    return outcome


async def _one(engine: Engine, seed: Seed, health_timeout: float | None) -> SeedOutcome:
    started = engine.clock()
    engine.bus.publish(ActionProgress("reseed", seed.name, "running"))
    service = engine.service(seed.service)
    timeout = service.ready_timeout if health_timeout is None else health_timeout
    ok, why = await engine.wait_healthy(seed.service, timeout, give_up_when_down=True)
    if not ok:
        return _done(engine, seed, started, False, f"{seed.service} is not healthy: {why}", [])
    if seed.in_service:
        result = await engine.target.exec(service, seed.command, seed.env, seed.timeout)
        code, output = result.exit_code, result.output.splitlines()
    else:
        code, output = await run_local(
            seed.command, dict(seed.env), str(seed.cwd) if seed.cwd else None, seed.timeout
        )
        # Seed output is part of the service's story: show it in that service's log.
        engine.log_many(seed.service, [f"[seed {seed.name}] {ln}" for ln in output], "seed")
    output = [engine.recipe.mask(line) for line in output]
    if code != 0:
        return _done(engine, seed, started, False, f"exited with code {code}", output)
    verified: bool | None = None
    if seed.verify is not None:
        verified, detail = await _verify(seed)
        detail = engine.recipe.mask(detail)
        if not verified:
            return _done(engine, seed, started, False, f"verify failed: {detail}", output, False)
    return _done(engine, seed, started, True, "", output, verified)


async def verify_seed(seed: Seed) -> tuple[bool, str]:
    """Run ``seed``'s verify step alone: (ok, detail). A gate checks the data is still there."""
    return await _verify(seed)


async def _verify(seed: Seed) -> tuple[bool, str]:
    verify = seed.verify
    assert verify is not None
    if verify.command:
        code, output = await run_local(
            verify.command, dict(seed.env), str(seed.cwd) if seed.cwd else None, seed.timeout
        )
        last = output[-1] if output else ""
        return code == 0, f"{verify.command[0]} exited {code}: {last}" if code else last
    import httpx

    async with httpx.AsyncClient() as client:
        result = await probe_http(client, verify.url, 10.0, verify.status, verify.body)
    return result.ok, result.detail


def _done(
    engine: Engine,
    seed: Seed,
    started: float,
    ok: bool,
    detail: str,
    output: list[str],
    verified: bool | None = None,
) -> SeedOutcome:
    finished = engine.clock()
    engine.bus.publish(
        ActionProgress(
            "reseed", seed.name, "ok" if ok else "failed", detail or f"{finished - started:.1f}s"
        )
    )
    return SeedOutcome(
        seed.name,
        seed.service,
        ok,
        started,
        finished,
        detail,
        tuple(output[-OUTPUT_TAIL:]),
        verified,
    )
