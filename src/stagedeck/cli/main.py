"""The ``stagedeck`` command line.

Every command is a thin view over the core: it loads a recipe, builds an
engine, and prints or draws. Textual is imported only by the commands that
open the cockpit, so ``stagedeck status`` stays quick and headless.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from stagedeck import __version__
from stagedeck.policy import ReadOnly
from stagedeck.recipe.errors import ConfigError
from stagedeck.recipe.model import Recipe, load_recipe
from stagedeck.store import StoreError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def print_problems(error: ConfigError, what: str = "recipe") -> None:
    """All problems in one red panel on stderr, before any UI starts."""
    from rich.console import Console
    from rich.panel import Panel
    from rich.text import Text

    body = Text()
    for i, p in enumerate(error.problems):
        if i:
            body.append("\n")
        where = f"{p.file}:{p.line}" if p.line else str(p.file)
        body.append(where, style="bold")
        body.append(": ")
        if p.key:
            body.append(p.key, style="cyan")
            body.append(": ")
        body.append(p.message)
        if p.hint:
            body.append(f"\n    → {p.hint}", style="yellow")
    count = len(error.problems)
    title = f"{count} problem{'s' if count != 1 else ''} in the {what}"
    Console(stderr=True).print(Panel(body, title=title, border_style="red", expand=False))


def _load(path: str, args: argparse.Namespace) -> Recipe:
    return load_recipe(path, auto_ports=getattr(args, "free_ports", False))


def _demo_recipe_path() -> Path:
    from stagedeck.demo import recipe_path

    return recipe_path()


# --------------------------------------------------------------------------- commands


def cmd_check(args: argparse.Namespace) -> int:
    from stagedeck.recipe.secrets import describe_value, masked_env

    recipe = _load(args.recipe, args)
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
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from stagedeck.cli.headless import print_status, probe_all

    recipe = _load(args.recipe, args)
    results = asyncio.run(probe_all(recipe))
    return print_status(recipe, results, args.json, sys.stdout)


def _run_cockpit_or_headless(recipe: Recipe, args: argparse.Namespace) -> int:
    from stagedeck.engine.engine import Engine

    if args.headless:
        from stagedeck.cli.headless import run_foreground

        asyncio.run(run_foreground(Engine(recipe)))
        return EXIT_OK
    from stagedeck.config.userconfig import load_user_config
    from stagedeck.tui.app import run_cockpit

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
    return run_cockpit(
        recipe,
        theme=args.theme,
        config=config,
        read_only=read_only,
        user=getattr(args, "user", None),
        db=getattr(args, "db", None),
        watch_recipe=getattr(args, "watch_recipe", True),
    )


def _confirm(question: str, args: argparse.Namespace) -> bool:
    """Disruptive actions say exactly what they touch; ``--yes`` answers for scripts."""
    if getattr(args, "yes", False):
        return True
    if not sys.stdin.isatty():
        print(
            f"{question}\nnot confirmed: pass --yes to do this without a terminal", file=sys.stderr
        )
        return False
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def _read_only(args: argparse.Namespace, recipe: Recipe) -> ReadOnly:
    from stagedeck.config.userconfig import load_user_config

    try:
        config_ro = load_user_config().read_only
    except ConfigError:
        config_ro = False
    return ReadOnly.from_sources(
        flag=getattr(args, "read_only", False),
        recipe=recipe.environment.read_only,
        config=config_ro,
    )


def _print_progress(event: object) -> None:
    from stagedeck.engine.events import ActionProgress

    if isinstance(event, ActionProgress):
        detail = f"  {event.detail}" if event.detail else ""
        print(f"{event.action}: {event.step:<12} {event.state}{detail}", flush=True)


async def _with_engine(recipe: Recipe, attach: bool, body: Callable[..., object]) -> int:
    from stagedeck.engine.engine import Engine

    engine = Engine(recipe, attach=attach)
    engine.subscribe(_print_progress)
    await engine.start(bring_up=False)
    try:
        result = await body(engine)  # type: ignore[misc]
        return int(result)
    finally:
        await engine.stop()


def cmd_up(args: argparse.Namespace) -> int:
    recipe = _load(args.recipe, args)
    ro = _read_only(args, recipe)
    if ro:
        print(ro.refusal("bring-up"), file=sys.stderr)
        return EXIT_FAILED
    if not args.headless:
        return _run_cockpit_or_headless(recipe, args)
    from stagedeck.engine.actions import bring_up, redeploy_all

    local = recipe.environment.target == "local"
    order = " → ".join(", ".join(layer) for layer in recipe.graph.layers())
    if not local and not _confirm(f"Restart every service, layer by layer: {order}?", args):
        return EXIT_FAILED

    async def body(engine: object) -> int:
        plan = bring_up if local else redeploy_all
        outcome = await plan(engine)  # type: ignore[arg-type]
        print(outcome.describe())
        if local:
            print("(local services stop when this command exits; `stagedeck open` keeps them)")
        return EXIT_OK if outcome.ok else EXIT_FAILED

    return asyncio.run(_with_engine(recipe, False, body))


def cmd_redeploy(args: argparse.Namespace) -> int:
    recipe = _load(args.recipe, args)
    if args.service not in recipe.services:
        print(f"no service '{args.service}' in {recipe.path}", file=sys.stderr)
        return EXIT_BAD_INPUT
    ro = _read_only(args, recipe)
    if ro:
        print(ro.refusal("redeploy"), file=sys.stderr)
        return EXIT_FAILED
    if recipe.environment.target == "local":
        print(
            f"{args.service} is a local process owned by the cockpit that started it: "
            "press r on it in that cockpit",
            file=sys.stderr,
        )
        return EXIT_FAILED
    also = recipe.graph.dependents(args.service) if args.with_dependents else []
    what = f"Restart {args.service}" + (f", then its dependents {', '.join(also)}" if also else "")
    if not _confirm(f"{what}?", args):
        return EXIT_FAILED
    from stagedeck.engine.actions import redeploy

    async def body(engine: object) -> int:
        outcome = await redeploy(engine, args.service, with_dependents=args.with_dependents)  # type: ignore[arg-type]
        print(outcome.describe())
        return EXIT_OK if outcome.ok else EXIT_FAILED

    return asyncio.run(_with_engine(recipe, False, body))


def cmd_reseed(args: argparse.Namespace) -> int:
    recipe = _load(args.recipe, args)
    from stagedeck.engine.seeding import reseed, seed_order

    unknown = [s for s in args.seed or [] if s not in recipe.seeds]
    if unknown or not recipe.seeds:
        known = ", ".join(recipe.seeds) or "none"
        print(
            f"no seed {', '.join(unknown) or ''} in {recipe.path} (seeds: {known})", file=sys.stderr
        )
        return EXIT_BAD_INPUT
    ro = _read_only(args, recipe)
    if ro:
        print(ro.refusal("reseed"), file=sys.stderr)
        return EXIT_FAILED
    layers = seed_order(dict(recipe.seeds), args.seed or None)
    names = [n for layer in layers for n in layer]
    targets = ", ".join(f"{n} ({recipe.seeds[n].service})" for n in names)
    if not _confirm(f"Overwrite test data with seeds: {targets}?", args):
        return EXIT_FAILED

    async def body(engine: object) -> int:
        outcome = await reseed(engine, args.seed or None)  # type: ignore[arg-type]
        print(outcome.describe())
        return EXIT_OK if outcome.ok else EXIT_FAILED

    return asyncio.run(_with_engine(recipe, recipe.environment.target == "local", body))


def cmd_k8s(args: argparse.Namespace) -> int:
    """Zero-config: a Kubernetes namespace, with no recipe."""
    from stagedeck.targets.base import TargetError
    from stagedeck.targets.kubernetes.discovery import (
        current_context,
        discover_namespace,
        list_contexts,
    )

    if args.list_contexts:
        current = current_context()
        names = list_contexts()
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
    return _run_cockpit_or_headless(found.recipe, args)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.target == "docker":
        return _demo_on_docker(args)
    recipe = load_recipe(_demo_recipe_path(), auto_ports=args.free_ports)
    return _run_cockpit_or_headless(recipe, args)


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
        return _run_cockpit_or_headless(stack.recipe, args)
    finally:
        cleanup_demo_stack(stack)


def cmd_docker(args: argparse.Namespace) -> int:
    """Zero-config: a running compose project, with no recipe (an overlay may add to it)."""
    from stagedeck.targets.docker.discovery import (
        DiscoveryError,
        choose_project,
        list_compose_projects,
        recipe_for_project,
    )

    try:
        if args.list_only:
            projects = asyncio.run(list_compose_projects())
            for info in projects:
                print(
                    f"{info.name}: {info.running}/{info.containers} running · "
                    f"{', '.join(info.services)}"
                )
            if not projects:
                print("no docker compose projects are running", file=sys.stderr)
            return EXIT_OK if projects else EXIT_FAILED
        project = choose_project(args.project)
        overlay = _load(args.recipe, args) if args.recipe else None
        recipe = recipe_for_project(project, overlay)
    except DiscoveryError as exc:
        print(f"stagedeck docker: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    args.watch_recipe = False
    return _run_cockpit_or_headless(recipe, args)


def cmd_open(args: argparse.Namespace) -> int:
    return _run_cockpit_or_headless(_load(args.recipe, args), args)


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stagedeck",
        description="A terminal cockpit for shared integration and staging environments.",
    )
    parser.add_argument("--version", action="version", version=f"stagedeck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    def cockpit_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--headless", action="store_true", help="no UI: print state changes")
        p.add_argument("--theme", default=None, help="theme name (see themes/)")
        p.add_argument("--read-only", action="store_true", help="refuse every mutating action")
        p.add_argument(
            "--db", help="the shared SQLite file (default: $STAGEDECK_DB or XDG data dir)"
        )
        p.add_argument("--user", help="who you are to the people you share with (default: $USER)")
        p.add_argument(
            "--free-ports",
            action="store_true",
            help="give local services free ports instead of the recipe's (run beside another copy)",
        )

    p = add("demo", cmd_demo, "bring up the embedded demo environment and open the cockpit")
    cockpit_options(p)
    p.add_argument("--target", choices=["local", "docker"], default="local")
    p.add_argument("--base-image", help="docker: the Python base image for the demo image")

    p = add("k8s", cmd_k8s, "open the cockpit on a Kubernetes namespace (no recipe needed)")
    p.add_argument("--namespace", "-n", help="default: the context's namespace")
    p.add_argument("--context", help="kubeconfig context (default: the current one)")
    p.add_argument(
        "--contexts", dest="list_contexts", action="store_true", help="list kubeconfig contexts"
    )
    cockpit_options(p)

    p = add("docker", cmd_docker, "open the cockpit on a running docker compose project")
    p.add_argument("--project", help="compose project (default: the only one running)")
    p.add_argument("--recipe", help="a recipe that adds probes, suites and seeds")
    p.add_argument("--list", dest="list_only", action="store_true", help="list the projects")
    cockpit_options(p)

    p = add("open", cmd_open, "open the cockpit on a recipe (local services are started)")
    p.add_argument("recipe")
    cockpit_options(p)

    def action_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
        p.add_argument("--read-only", action="store_true", help="refuse every mutating action")

    p = add("up", cmd_up, "bring every service up (or redeploy it) in dependency order")
    p.add_argument("recipe")
    cockpit_options(p)
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")

    p = add("redeploy", cmd_redeploy, "restart one service and wait until it is healthy")
    p.add_argument("recipe")
    p.add_argument("service")
    p.add_argument("--with-dependents", action="store_true", help="then restart its dependents")
    action_options(p)

    p = add("reseed", cmd_reseed, "load the recipe's test data (seeds) in dependency order")
    p.add_argument("recipe")
    p.add_argument("--seed", action="append", help="only this seed (and what it needs)")
    action_options(p)

    from stagedeck.cli.records import register

    register(add)

    p = add("check", cmd_check, "validate a recipe and summarise it")
    p.add_argument("recipe")
    p.add_argument("--verbose", "-v", action="store_true", help="commands and env (secrets as •••)")

    p = add("status", cmd_status, "probe every service once; exit 0 when all are healthy")
    p.add_argument("recipe")
    p.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        code = int(args.func(args))
        if "stagedeck.tui.app" in sys.modules:
            from stagedeck.tui.app import exit_if_input_thread_lingers

            exit_if_input_thread_lingers(code)
        return code
    except ConfigError as exc:
        print_problems(exc)
        return EXIT_BAD_INPUT
    except StoreError as exc:
        print(f"stagedeck: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os._exit(EXIT_OK)


if __name__ == "__main__":
    raise SystemExit(main())
