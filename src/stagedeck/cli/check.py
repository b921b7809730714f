"""Commands that look without touching: check a recipe, probe every service once."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from stagedeck.cli.common import EXIT_OK, load_recipe_arg

if TYPE_CHECKING:
    from stagedeck.recipe.model import Recipe


def cmd_check(args: argparse.Namespace) -> int:
    from stagedeck.recipe.secrets import describe_value, masked_env

    recipe = load_recipe_arg(args.recipe, args)
    if getattr(args, "resolved", False):
        print(json.dumps(resolved_recipe(recipe), indent=2, ensure_ascii=False))
        return EXIT_OK
    if getattr(args, "json", False):
        print(json.dumps(check_json(recipe), indent=2))
        return EXIT_OK
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


def check_json(recipe: Recipe) -> dict[str, Any]:
    """The shape of ``check --json`` (documented in the README): secrets masked."""
    from stagedeck.recipe.secrets import describe_value, masked_env

    env = recipe.environment
    t = recipe.traces
    return {
        "path": str(recipe.path),
        "environment": env.name,
        "target": env.target,
        "read_only": bool(env.read_only),
        "layers": [list(layer) for layer in recipe.graph.layers()],
        "services": {
            name: {
                "health": describe_value(recipe, svc.health.describe()) if svc.health else None,
                "depends_on": list(svc.depends_on),
                "command": describe_value(recipe, list(svc.command)),
                "env": masked_env(recipe, dict(svc.env)),
            }
            for name, svc in recipe.services.items()
        },
        "seeds": list(recipe.seeds),
        "suites": list(recipe.suites),
        "traces": None
        if t is None
        else {"endpoint": t.endpoint, "max_traces": t.max_traces, "max_spans": t.max_spans},
    }


def resolved_recipe(recipe: Recipe) -> Any:
    """The recipe as stagedeck will use it: includes merged, placeholders filled, ports
    chosen, secrets masked. Built from the loaded objects, so it shows what was understood."""
    import dataclasses
    import enum
    from collections.abc import Mapping
    from pathlib import PurePath

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {
                f.name: plain(getattr(value, f.name))
                for f in dataclasses.fields(value)
                if f.name != "secrets" or not isinstance(getattr(value, f.name), frozenset)
            }
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, frozenset | set):
            return sorted(plain(v) for v in value)
        if isinstance(value, enum.Enum):
            return plain(value.value)
        if isinstance(value, PurePath):
            return recipe.mask(str(value))
        if isinstance(value, str):
            return recipe.mask(value)
        if value is None or isinstance(value, bool | int | float):
            return value
        return recipe.mask(str(value))

    return plain(recipe)


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
