"""The environment process's flusher: asleep while nothing arrives, evidence at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from stagedeck.engine.probes import ProbeResult
from stagedeck.envproc.mirror import wait_until
from stagedeck.recipe.model import load_recipe
from support.envproc import mirror_of, serve
from test_envproc import isolated, make_recipe  # noqa: F401  (the fixture, by name)


@pytest.mark.usefixtures("isolated")
async def test_fine_samples_wait_for_company_a_failed_one_wakes_the_flusher(
    tmp_path: Path,
) -> None:
    recipe = make_recipe(tmp_path)  # probed every 0.2 s
    async with serve(recipe, tmp_path) as (engine, server):
        viewer = await mirror_of(load_recipe(recipe.path), "bob")
        try:
            # Fine samples still reach the viewer, batched (about one message a second).
            assert await wait_until(lambda: len(viewer.latency.get("api") or ()) >= 5, 10)
            seen = viewer.probe_seq
            assert await wait_until(lambda: viewer.probe_seq > seen, 5)
            # No await between these calls: the flusher cannot run in between.
            server._due.clear()
            server._on_probe("api", ProbeResult(True, 3.0))
            assert not server._due.is_set(), "a fine sample does not wake the flusher"
            assert server._latency_timer is not None, "...it waits at most a batch period"
            server._on_probe("api", ProbeResult(False, 1000.0, "timed out", "timeout"))
            assert server._due.is_set(), "a failed one goes out at once"
            server._due.clear()
            server._on_probe("api", ProbeResult(True, 3.0))
            assert not server._due.is_set()
        finally:
            await viewer.stop()
    assert server._on_probe not in engine.probe_listeners, "closing unhooks the engine"
