"""Commands that open the cockpit (or its headless runner): open, demo, k8s, docker."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from stagedeck.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    load_recipe_arg,
    print_problems,
    seeding_as_asked,
)
from stagedeck.operations.policy import ReadOnly
from stagedeck.recipe.errors import ConfigError
from stagedeck.recipe.model import Recipe, load_recipe


def demo_recipe_path() -> Path:
    from stagedeck.demo import recipe_path

    return recipe_path()


def open_cockpit(recipe: Recipe, args: argparse.Namespace) -> int:
    from stagedeck.engine.engine import Engine

    if args.headless:
        from stagedeck.cli.envproc import headless_on_environment
        from stagedeck.cli.headless import run_foreground

        def alone() -> int:
            asyncio.run(run_foreground(Engine(recipe)))
            return EXIT_OK

        if getattr(args, "standalone", False) or not recipe.path.is_file():
            return alone()
        return headless_on_environment(recipe, args, alone)
    from stagedeck.config.userconfig import load_user_config
    from stagedeck.tui.launch import run_cockpit

    try:
        config = load_user_config()
    except ConfigError as exc:
        print_problems(exc, "user config")
        return EXIT_BAD_INPUT
    read_only = ReadOnly.from_sources(
        flag=getattr(args, "read_only", False),
        recipe=recipe.environment.read_only,
        config=config.read_only,
    )
    options = {
        "theme": args.theme,
        "config": config,
        "read_only": read_only,
        "user": getattr(args, "user", None),
        "db": getattr(args, "db", None),
        "watch_recipe": getattr(args, "watch_recipe", True),
    }
    if getattr(args, "standalone", False) or not recipe.path.is_file():
        # A discovered environment (docker/k8s with no recipe file) has nothing an
        # environment process could load again: this cockpit watches it itself.
        if not getattr(args, "standalone", False):
            print(
                f"stagedeck: {recipe.name!r} has no recipe file for an environment process: "
                "this cockpit watches it itself",
                file=sys.stderr,
            )
        return run_cockpit(recipe, **options)
    return cockpit_on_environment(recipe, args, options)


def cmd_open(args: argparse.Namespace) -> int:
    return open_cockpit(load_recipe_arg(args.recipe, args), args)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.target == "docker":
        return _demo_on_docker(args)
    recipe = load_recipe(demo_recipe_path(), auto_ports=args.free_ports)
    return open_cockpit(seeding_as_asked(recipe, args), args)


def _demo_on_docker(args: argparse.Namespace) -> int:
    """Build the demo image, run the stack on its own network, open the cockpit, clean up."""
    from stagedeck.demo.docker import DemoImageError, cleanup_demo_stack, start_demo_on_docker

    try:
        stack = start_demo_on_docker(args.base_image, progress=lambda m: print(m, file=sys.stderr))
    except DemoImageError as exc:
        print(f"stagedeck demo: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        args.watch_recipe = False  # the stack's recipe is generated: nothing to watch
        return open_cockpit(stack.recipe, args)
    finally:
        cleanup_demo_stack(stack)


def cmd_k8s(args: argparse.Namespace) -> int:
    """Zero-config: a Kubernetes namespace, with no recipe."""
    from stagedeck.targets.base import TargetError
    from stagedeck.targets.kubernetes import require_sdk

    try:
        require_sdk()
    except TargetError as exc:
        print(f"stagedeck k8s: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from stagedeck.targets.kubernetes.discovery import (
        current_context,
        discover_namespace,
        list_contexts,
    )

    if args.list_contexts:
        current = current_context()
        names = list_contexts()
        if args.json:
            print(json.dumps({"current": current, "contexts": names}, indent=2))
            return EXIT_OK if names else EXIT_FAILED
        for name in names:
            print(("* " if name == current else "  ") + name)
        return EXIT_OK if names else EXIT_FAILED
    try:
        found = asyncio.run(discover_namespace(args.namespace or "", args.context or ""))
    except TargetError as exc:
        print(f"stagedeck k8s: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for note in found.notes:
        print(f"note: {note}", file=sys.stderr)
    args.watch_recipe = False  # the recipe is discovered ("kubernetes:CTX/NS"), not a file
    return open_cockpit(found.recipe, args)


def cmd_docker(args: argparse.Namespace) -> int:
    """Zero-config: a running compose project, with no recipe (an overlay may add to it)."""
    from stagedeck.targets.docker.discovery import (
        DiscoveryError,
        list_compose_projects,
        open_project,
    )

    try:
        if args.list_only:
            projects = asyncio.run(list_compose_projects())
            if args.json:
                rows = [
                    {
                        "name": i.name,
                        "services": list(i.services),
                        "containers": i.containers,
                        "running": i.running,
                        "working_dir": i.working_dir,
                    }
                    for i in projects
                ]
                print(json.dumps(rows, indent=2))
                return EXIT_OK if projects else EXIT_FAILED
            for info in projects:
                print(
                    f"{info.name}: {info.running}/{info.containers} running · "
                    f"{', '.join(info.services)}"
                )
            if not projects:
                print("no docker compose projects are running", file=sys.stderr)
            return EXIT_OK if projects else EXIT_FAILED
        overlay = load_recipe_arg(args.recipe, args) if args.recipe else None
        recipe = open_project(args.project, overlay)
    except DiscoveryError as exc:
        print(f"stagedeck docker: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    args.watch_recipe = False
    return open_cockpit(recipe, args)


def cockpit_on_environment(
    recipe: Recipe, args: argparse.Namespace, options: dict[str, Any]
) -> int:
    """The cockpit, attached: to the running environment process, or to one started now.

    A local environment always runs in an environment process (started ephemeral:
    it stops a grace period after its last viewer leaves), so a second cockpit on
    the same recipe attaches instead of starting the services twice. Docker and
    Kubernetes environments outlive any viewer anyway: without an environment
    process the cockpit watches them itself, as before.
    """
    from stagedeck.cli.envproc import refused, say, user_of
    from stagedeck.envproc.client import Connection, NoAccess, connect, ensure, spawn
    from stagedeck.envproc.mirror import MirrorEngine
    from stagedeck.tui.lifecycle import run_cockpit_async

    user = user_of(args)
    db = getattr(args, "db", None)

    async def main() -> int:
        try:
            conn = await connect(recipe, user=user, role="cockpit")
        except NoAccess as exc:
            return refused(exc)
        if conn is None and recipe.environment.target != "local":
            say(f"no environment process for {recipe.name!r}: this cockpit watches it itself")
            return await run_cockpit_async(recipe, **options)
        if conn is None:
            proc = spawn(recipe, ephemeral=True, db=db)
            first: Any = proc
        else:
            first = conn

        async def connector() -> Connection:
            nonlocal first
            start, first = first, None
            if start is not None and not hasattr(start, "poll"):
                return start  # type: ignore[no-any-return]
            return await ensure(recipe, user=user, proc=start, db=db)

        engine = MirrorEngine(recipe, connector)
        engine.announce_attach = conn is not None
        return await run_cockpit_async(recipe, **{**options, "watch_recipe": False}, engine=engine)

    try:
        return asyncio.run(main())
    except NoAccess as exc:
        return refused(exc)
