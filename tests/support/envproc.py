"""Keep each test's environment processes to itself: own runtime dir, registry and state."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from stagedeck.engine.engine import Engine
from stagedeck.envproc.client import Connection, connect
from stagedeck.envproc.mirror import MirrorEngine
from stagedeck.envproc.paths import env_key, sharing_of, socket_path
from stagedeck.envproc.requests import Actions
from stagedeck.envproc.server import EnvServer
from stagedeck.operations import ReadOnly
from stagedeck.recipe.model import Recipe
from stagedeck.store import Store


def isolated_env(tmp_path: Path, *, grace: float | None = 1.0) -> dict[str, str]:
    """Variables that give environment processes started under ``tmp_path`` their own
    socket directory, registry and state; ``grace`` is how long an ephemeral one waits
    for its last viewer to come back (None: the default a user gets)."""
    run = tmp_path / "run"
    run.mkdir(mode=0o700, exist_ok=True)
    env = {
        "XDG_RUNTIME_DIR": str(run),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "STAGEDECK_REGISTRY": str(tmp_path / "registry"),
    }
    if grace is not None:
        env["STAGEDECK_IDLE_GRACE"] = str(grace)
    return env


@contextlib.asynccontextmanager
async def serve(
    recipe: Recipe, tmp_path: Path, read_only: ReadOnly | None = None
) -> AsyncIterator[tuple[Engine, EnvServer]]:
    engine = Engine(recipe)

    async def down(user: str) -> None:
        server.request_stop(f"stopped by {user}")

    actions = Actions(
        engine, lambda: Store.open(tmp_path / "shared.db"), read_only or ReadOnly(), down
    )
    server = EnvServer(
        engine,
        actions,
        key=env_key(recipe),
        path=socket_path(recipe),
        sharing=sharing_of(recipe),
    )
    await server.start()
    await engine.start()
    server.watch_start()
    try:
        yield engine, server
    finally:
        await server.close()
        await engine.stop()


async def mirror_of(recipe: Recipe, user: str) -> MirrorEngine:
    async def connector() -> Connection:
        conn = await connect(recipe, user=user)
        assert conn is not None
        return conn

    mirror = MirrorEngine(recipe, connector)
    await mirror.start()
    return mirror
