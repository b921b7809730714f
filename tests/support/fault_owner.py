"""A process that injects one fault and then waits to be killed (the SIGKILL tests).

    python tests/support/fault_owner.py RECIPE DB SERVICE KIND

Starts an engine on RECIPE (bringing local services up), waits until the
target knows SERVICE, injects KIND for five minutes through the operations
layer, prints {"pid": ..., "keeper": ...} and sleeps.
"""

from __future__ import annotations

import asyncio
import json
import sys

from stagedeck.engine import actions
from stagedeck.engine.engine import Engine
from stagedeck.engine.events import ProcState
from stagedeck.operations import Decision, Operations, requests
from stagedeck.recipe.model import load_recipe
from stagedeck.store import Store


async def main(recipe: str, db: str, service: str, kind: str) -> None:
    engine = Engine(load_recipe(recipe))
    await engine.start(bring_up=False)
    if engine.target.manages_processes:
        assert (await actions.bring_up(engine)).ok
    for _ in range(400):
        if engine.statuses[service].state is ProcState.RUNNING:
            break
        await asyncio.sleep(0.05)
    ops = Operations(engine, user="alice", store=Store.open(db))
    await ops.perform(requests.fault(ops, service, kind, 300), Decision(confirmed=True))
    pid = getattr(engine.target, "pid", lambda _: None)(service)
    print(json.dumps({"pid": pid, "keeper": ops.faults.keeper_pid}), flush=True)
    await asyncio.sleep(600)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:5]))
