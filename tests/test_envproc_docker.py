"""An environment process on the Docker target: viewers attach; a new process re-adopts.

Docker outlives the environment process, so a restarted one finds the same
containers running (nothing restarted), which is what re-adoption means there.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from stagedeck.engine.events import Health
from stagedeck.recipe.model import load_recipe
from support.dockerkit import in_thread, kit, require_engine, wait_for
from support.envproc import isolated_env, mirror_of, serve

pytestmark = pytest.mark.docker


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in isolated_env(tmp_path).items():
        monkeypatch.setenv(key, value)


async def test_viewers_attach_to_a_docker_environment_and_a_new_process_readopts(
    tmp_path: Path,
) -> None:
    require_engine()
    with kit() as k:
        net = k.network("default")
        web = k.container("web", project=k.prefix, healthcheck=True, network=net, web=True)
        path = tmp_path / "recipe.toml"
        path.write_text(
            textwrap.dedent(f"""
                [environment]
                name = "dock"
                target = "docker"
                project = "{k.prefix}"
                probe_interval = 0.3
                probe_timeout = 0.5
                failures_before_down = 1
                ready_timeout = 15

                [services.web]
                """)
        )
        recipe = load_recipe(path)
        async with serve(recipe, tmp_path) as (engine, _server):
            await wait_for(lambda: engine.statuses["web"].ok, 20, "healthy")
            viewer = await mirror_of(recipe, "bob")
            try:
                assert viewer.statuses["web"].health is Health.HEALTHY
                assert viewer.hello["target"] == engine.target.kind
                before = await in_thread(k.client.api.inspect_container, web.id)
                done = await viewer.request("redeploy", {"service": "web"})
                assert done.ok, done.detail
                after = await in_thread(k.client.api.inspect_container, web.id)
                assert after["State"]["StartedAt"] != before["State"]["StartedAt"]
                await wait_for(lambda: viewer.statuses["web"].restarts == 1, 5, "seen")
                # The container's output reached the viewer through the environment process.
                await wait_for(lambda: viewer.logs.received("web") > 0, 10, "log lines")
            finally:
                await viewer.stop()
        # The environment process is gone; the container is not.
        started_at = after["State"]["StartedAt"]
        async with serve(recipe, tmp_path) as (engine, _server):
            await wait_for(lambda: engine.statuses["web"].ok, 20, "re-adopted, healthy")
            viewer = await mirror_of(recipe, "carol")
            try:
                assert viewer.statuses["web"].ok
            finally:
                await viewer.stop()
        again = await in_thread(k.client.api.inspect_container, web.id)
        assert again["State"]["StartedAt"] == started_at  # adopted, not restarted
