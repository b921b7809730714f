"""``stagedeck scenario RECIPE NAME``: rehearse one failure scenario; exit 0 when it held.

The fault goes through the operations layer (read-only, lease, confirmation,
audit; lifted automatically, by the keeper if this command dies). The suites
are recorded as a run; the scenario's result is stored beside it and appears
in ``stagedeck report``. With ``--json`` standard output holds only the JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from stagedeck.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    load_recipe_arg,
    recipe_argument,
)
from stagedeck.cli.operate import decide, open_store, user_of
from stagedeck.recipe.gate import Scenario
from stagedeck.recipe.model import Recipe, suggest
from stagedeck.store import default_db_path


def cmd_scenario(args: argparse.Namespace) -> int:
    recipe = load_recipe_arg(args.recipe, args)
    if args.name not in recipe.scenarios:
        known = recipe.scenarios
        hint = suggest(args.name, known, "scenarios") if known else "it has no [scenarios.NAME]"
        print(f"no scenario '{args.name}' in {recipe.path}: {hint}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return asyncio.run(_run(recipe, recipe.scenarios[args.name], args))


async def _run(recipe: Recipe, scenario: Scenario, args: argparse.Namespace) -> int:
    from stagedeck.cli.envproc import attached_or_own
    from stagedeck.gate.report import scenario_lines
    from stagedeck.gate.scenario import run_scenario, scenario_request
    from stagedeck.operations import requests
    from stagedeck.suites.runner import SuiteRunner

    out = sys.stderr if args.json else sys.stdout

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    store = open_store(args, required=False)
    # Attached, the environment process applies the fault (any kind its target allows)
    # and audits it; the suites run here, against its services (on its ports).
    found = await attached_or_own(recipe, args, store, own=args.up)
    if isinstance(found, int):
        return found
    engine, ops, attached = found
    recipe = engine.recipe
    try:
        request = scenario_request(ops, scenario)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        if attached:
            await engine.stop()
        return EXIT_BAD_INPUT
    decision = await decide(ops, request, args, say=say)
    if decision is None:
        if attached:
            await engine.stop()
        return EXIT_FAILED
    workdir = default_db_path(getattr(args, "db", None)).parent / "runs" / recipe.name
    runner = SuiteRunner(recipe, workdir=workdir)
    await engine.start(bring_up=False)
    try:
        steps = [requests.bring_up(ops)] if args.up else []
        if args.reseed:
            steps.append(requests.reseed(ops))
        for step in steps:
            done = await ops.perform(step, decision)
            if not done.ok:
                print(done.detail, file=sys.stderr)
                return EXIT_FAILED
            say(done.detail.splitlines()[0] if done.detail else step.action)
        ok, why = await _settle(engine)
        if not ok:
            print(f"scenario {scenario.name} not started: {why}", file=sys.stderr)
            return EXIT_FAILED
        result = await run_scenario(
            ops, scenario, request, decision, runner, store, user_of(args), on_step=say
        )
    finally:
        await ops.close("the command ended")
        await engine.stop()
    if result.problem:
        print(f"scenario {scenario.name}: {result.problem}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, default=str))
    else:
        print("\n".join(scenario_lines(result.to_dict())))
        if result.run_id is not None:
            print(f"run {result.run_id} saved")
    return EXIT_OK if result.ok else EXIT_FAILED


async def _settle(engine: Any, timeout: float = 30.0) -> tuple[bool, str]:
    """Every service healthy before the fault: a scenario on a broken environment says nothing."""
    for name in engine.recipe.services:
        ok, why = await engine.wait_healthy(name, timeout)
        if not ok:
            return False, f"{name} is not healthy: {why}"
    return True, ""


def register(add: Any) -> None:
    p = add("scenario", cmd_scenario, "rehearse a failure scenario: a fault, suites, expectations")
    recipe_argument(p)
    p.add_argument("name", help="the scenario, as named in the recipe's [scenarios]")
    p.add_argument("--json", action="store_true", help="the outcome as JSON on stdout")
    p.add_argument("--up", action="store_true", help="start the (local) environment first")
    p.add_argument("--reseed", action="store_true", help="load the seeds before the fault")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument("--force", action="store_true", help="despite someone else's lease (audited)")
    p.add_argument("--read-only", action="store_true", help="refuse the fault, --up, --reseed")
    p.add_argument("--free-ports", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--db", help="the shared SQLite file (default: $STAGEDECK_DB or XDG data dir)")
    p.add_argument("--user", help="who you are (default: $USER)")
