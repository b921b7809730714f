"""The triage fault matrix on the real embedded demo: inject, watch the ranking, undo.

Shared by the CI subset (tests/test_triage_faults.py) and the full matrix
(bench/bench_triage.py). Faults are the ones a person would cause:

* ``hang``: SIGSTOP the service's process (alive, answers nothing);
* ``crash``: SIGKILL it;
* ``slow``: the chaos knob adds 4x its SLO to every request (below the probe timeout);
* ``errors``: every API request answers 500 (its health check still passes);
* ``unhealthy``: its health endpoint answers 503 (its API still works);
* ``data``: its data wiped (``POST /admin/reset``) behind the seed's back.

For each: the time from injection until the engine's live ranking
(``monitor_for(engine)``, what the cockpit shows) names the expected top suspect,
and the top suspect for a test that fails afterwards: a few requests made the
way the demo's suites make them (own ``X-Request-Id``, asserting on status and
seeded values), explained by ``monitor_for(engine).explain``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from stagedeck.demo import recipe_path
from stagedeck.engine.actions import bring_up
from stagedeck.engine.engine import Engine
from stagedeck.engine.events import ProcState
from stagedeck.engine.seeding import reseed
from stagedeck.recipe.model import load_recipe
from stagedeck.triage.live import monitor_for
from stagedeck.triage.model import FailedTest, Fault, Ranking, SubjectKind, SuspectsChanged

SERVICES = ("ledger", "inventory", "payments", "orders", "gateway", "worker")
FAULTS = ("hang", "crash", "slow", "errors", "unhealthy", "data")
EXPECTED: dict[str, tuple[SubjectKind, Fault]] = {
    "hang": (SubjectKind.SERVICE, Fault.HUNG),
    "crash": (SubjectKind.SERVICE, Fault.CRASHED),
    "slow": (SubjectKind.SERVICE, Fault.SLOW),
    "errors": (SubjectKind.SERVICE, Fault.FAILING),
    "unhealthy": (SubjectKind.SERVICE, Fault.UNHEALTHY),
    "data": (SubjectKind.TEST_DATA, Fault.BAD_DATA),
}


@dataclass
class Outcome:
    service: str
    fault: str
    env_correct: bool
    env_seconds: float | None
    """Injection → the correct top suspect in the live ranking (None: never within the limit)."""
    env_top: str
    test_checked: bool = False
    """Whether a test failed at all (a slow or health-only fault breaks no request)."""
    test_correct: bool = False
    test_top: str = ""
    test_message: str = ""


def expected_name(service: str, fault: str) -> str:
    return "" if fault == "data" else service


def is_correct(ranking: Ranking, service: str, fault: str) -> bool:
    top = ranking.top
    if top is None:
        return False
    kind, _ = EXPECTED[fault]
    if kind is SubjectKind.TEST_DATA:
        return top.kind is SubjectKind.TEST_DATA
    return top.kind is kind and top.name == service


def describe(ranking: Ranking) -> str:
    top = ranking.top
    return top.line() if top is not None else "(nothing)"


@contextlib.asynccontextmanager
async def seeded_demo(workdir: Path) -> AsyncIterator[Engine]:
    """The demo on free ports, brought up and seeded, stopped afterwards."""
    engine = Engine(load_recipe(recipe_path(), auto_ports=True))
    monitor_for(engine)  # before the reseed: the last reseed is evidence
    await engine.start(bring_up=False)
    try:
        outcome = await bring_up(engine)
        assert outcome.ok, outcome.describe()
        seeded = await reseed(engine)
        assert seeded.ok, seeded.describe()
        monitor_for(engine).start()
        yield engine
    finally:
        await monitor_for(engine).stop()
        await engine.stop()


async def _chaos(engine: Engine, service: str, body: dict[str, Any]) -> None:
    url = engine.service(service).url
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.post(f"{url}/admin/chaos", json=body)
        response.raise_for_status()


def _slow_ms(engine: Engine, service: str) -> float:
    svc = engine.service(service)
    slo = svc.slo_ms or 50.0
    timeout = svc.health.timeout if svc.health else 1.0
    return min(4 * slo, timeout * 1000 * 0.6)


async def inject(engine: Engine, service: str, fault: str) -> None:
    pid = engine.statuses[service].pid
    if fault == "hang":
        assert pid is not None
        os.killpg(pid, signal.SIGSTOP)
    elif fault == "crash":
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)
    elif fault == "slow":
        await _chaos(engine, service, {"latency_ms": _slow_ms(engine, service)})
    elif fault == "errors":
        await _chaos(engine, service, {"error_rate": 1.0})
    elif fault == "unhealthy":
        await _chaos(engine, service, {"unhealthy": True})
    elif fault == "data":
        url = engine.service(service).url
        async with httpx.AsyncClient(timeout=5) as client:
            (await client.post(f"{url}/admin/reset", json={})).raise_for_status()
    else:
        raise ValueError(fault)


async def undo(engine: Engine, service: str, fault: str, settle: float = 30.0) -> None:
    """Back to a healthy, seeded demo with nothing ranked (or fail loudly)."""
    if fault == "hang":
        pid = engine.statuses[service].pid
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGCONT)
    elif fault == "crash":
        for _ in range(100):  # the exit may not be reported yet: then bring-up sees it healthy
            if engine.statuses[service].state is ProcState.CRASHED:
                break
            await asyncio.sleep(0.05)
        outcome = await bring_up(engine, [service])
        assert outcome.ok, outcome.describe()
    elif fault in ("slow", "errors", "unhealthy"):
        await _chaos(engine, service, {"latency_ms": 0, "error_rate": 0, "unhealthy": False})
    if fault in ("data", "crash") or service in ("inventory", "orders"):
        seeded = await reseed(engine)
        assert seeded.ok, seeded.describe()
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        ranking = monitor_for(engine).recompute()
        if all(s.ok for s in engine.statuses.values()) and not ranking.abnormal:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(
        f"after undoing {fault} on {service}: {describe(monitor_for(engine).ranking)}"
    )


async def time_to_correct(
    engine: Engine, service: str, fault: str, began: float, limit: float
) -> tuple[bool, float | None]:
    """Watch the live ranking (SuspectsChanged, as the cockpit does) until it is right."""
    hit = asyncio.Event()
    seen_at: list[float] = []

    def on_event(event: SuspectsChanged) -> None:
        if is_correct(event.ranking, service, fault):
            if not seen_at:
                seen_at.append(time.monotonic())
            hit.set()

    monitor = monitor_for(engine)
    unsubscribe = monitor.subscribe(on_event)
    try:
        if is_correct(monitor.ranking, service, fault):
            return True, time.monotonic() - began
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, limit - (time.monotonic() - began))):
                await hit.wait()
    finally:
        unsubscribe()
    if seen_at:
        return True, seen_at[0] - began
    return is_correct(monitor.ranking, service, fault), None


async def failing_test(engine: Engine, service: str, fault: str) -> FailedTest | None:
    """What the demo's suites do, in a few requests; a FailedTest if one of them fails."""
    gateway = engine.service("gateway").url
    rid = "t" + uuid.uuid4().hex[:9]
    started = engine.clock()
    headers = {"X-Request-Id": rid}
    message = ""
    async with httpx.AsyncClient(base_url=gateway, timeout=5, headers=headers) as client:
        try:
            response = await client.get("/api/inventory/SKU-1")
            if response.status_code != 200:
                message = f"AssertionError: {response.text}\nassert {response.status_code} == 200"
            elif response.json().get("price_cents") != 2450:
                message = f"AssertionError: assert {response.json().get('price_cents')} == 2450"
            else:
                body = {"customer": "suite", "sku": "SKU-1", "qty": 1, "card": "4242424242424242"}
                response = await client.post("/api/orders", json=body)
                if response.status_code != 201:
                    message = (
                        f"AssertionError: {response.text}\nassert {response.status_code} == 201"
                    )
                elif service == "worker":
                    oid = response.json().get("id")
                    message = await _wait_shipped(client, str(oid))
        except httpx.HTTPError as exc:
            message = f"httpx.{type(exc).__name__}: {exc or 'timed out'}"
    if not message:
        return None
    return FailedTest(
        "suites.test_flows::test_checkout_" + fault,
        started,
        engine.clock(),
        message,
        f"request rid={rid}",
        suite="flows",
        depends_on=("gateway", "worker"),
    )


async def _wait_shipped(client: httpx.AsyncClient, oid: str, timeout: float = 6.0) -> str:
    deadline = time.monotonic() + timeout
    status = "?"
    while time.monotonic() < deadline:
        response = await client.get(f"/api/orders/{oid}")
        if response.status_code == 200:
            status = str(response.json().get("status"))
            if status == "shipped":
                return ""
        await asyncio.sleep(0.2)
    return f"AssertionError: order {oid} not shipped after {timeout:g}s\nassert '{status}' == 'shipped'"


async def run_case(engine: Engine, service: str, fault: str, limit: float = 8.0) -> Outcome:
    began = time.monotonic()
    await inject(engine, service, fault)
    correct, seconds = await time_to_correct(engine, service, fault, began, limit)
    outcome = Outcome(service, fault, correct, seconds, describe(monitor_for(engine).ranking))
    test = await failing_test(engine, service, fault)
    if test is not None:
        ranking = monitor_for(engine).explain(test)
        outcome.test_checked = True
        outcome.test_correct = is_correct(ranking, service, fault)
        outcome.test_top = describe(ranking)
        outcome.test_message = test.message.splitlines()[0][:120]
    return outcome
