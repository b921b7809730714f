"""Commands that look without touching: check a recipe, probe every service once."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from stagedeck.cli.common import EXIT_OK, load_recipe_arg


def cmd_check(args: argparse.Namespace) -> int:
    from stagedeck.recipe.secrets import describe_value, masked_env

    recipe = load_recipe_arg(args.recipe, args)
    env = recipe.environment
    print(f"{recipe.path}: environment '{env.name}' on {env.target}")
    print(f"  services ({len(recipe.services)}):")
    for i, layer in enumerate(recipe.graph.layers()):
        print(f"    layer {i}: {', '.join(layer)}")
    for name, svc in recipe.services.items():
        check = describe_value(recipe, svc.health.describe()) if svc.health else "no health check"
        deps = f" ← {', '.join(svc.depends_on)}" if svc.depends_on else ""
        print(f"    {name}: {check}{deps}")
        if args.verbose:
            print(f"      command: {describe_value(recipe, list(svc.command))}")
            for key, value in masked_env(recipe, dict(svc.env)).items():
                print(f"      env {key} = {value}")
    if recipe.seeds:
        print(f"  seeds: {', '.join(recipe.seeds)}")
    if recipe.suites:
        print(f"  suites: {', '.join(recipe.suites)}")
    if recipe.traces is not None:
        t = recipe.traces
        print(
            f"  traces: OTLP/HTTP at {t.endpoint}/v1/traces (containers: "
            f"{t.endpoint_for_containers}), keeps {t.max_traces} traces / {t.max_spans} spans"
        )
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from stagedeck.cli.envproc import run_attached
    from stagedeck.cli.headless import print_status, probe_all, status_of_engine

    recipe = load_recipe_arg(args.recipe, args)

    async def attached(engine: Any) -> int:
        return print_status(recipe, status_of_engine(engine), args.json, sys.stdout)

    def alone() -> int:
        results = asyncio.run(probe_all(recipe))
        return print_status(recipe, results, args.json, sys.stdout)

    return run_attached(recipe, args, attached, alone)
