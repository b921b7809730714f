"""The fault matrix, CI subset: real demo processes, real faults, the live ranking.

The full matrix (every service x every fault) is bench/bench_triage.py; here a
slice that covers each fault kind once, on services at different depths.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from stagedeck.engine.engine import Engine
from support.faultmatrix import run_case, seeded_demo, undo

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

CASES = [
    ("payments", "hang"),
    ("inventory", "crash"),
    ("payments", "errors"),
    ("ledger", "unhealthy"),
    ("payments", "slow"),
    ("inventory", "data"),
    ("orders", "hang"),
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Engine]:
    async with seeded_demo(tmp_path_factory.mktemp("triage")) as engine:
        yield engine


@pytest.mark.parametrize(("service", "fault"), CASES, ids=[f"{s}-{f}" for s, f in CASES])
async def test_the_faulty_cause_is_ranked_first(demo: Engine, service: str, fault: str) -> None:
    try:
        outcome = await run_case(demo, service, fault, limit=8.0)
    finally:
        await undo(demo, service, fault)
    assert outcome.env_correct, f"environment: {outcome.env_top}"
    assert outcome.env_seconds is not None and outcome.env_seconds < 8.0
    if outcome.test_checked:
        assert outcome.test_correct, f"{outcome.test_message} -> {outcome.test_top}"
