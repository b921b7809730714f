"""The ``stagedeck`` command line: the parser and the entry point.

Every command is a thin view over the core: it loads a recipe, builds an
engine, and prints or draws. The commands live by family beside this module
(``check``, ``cockpit``, ``actions``, ``records``). Textual is imported only by
the commands that open the cockpit, so ``stagedeck status`` stays quick and headless.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from stagedeck import __version__
from stagedeck.cli.actions import cmd_redeploy, cmd_reseed
from stagedeck.cli.check import cmd_check, cmd_status
from stagedeck.cli.cockpit import cmd_demo, cmd_docker, cmd_k8s, cmd_open
from stagedeck.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    print_problems,
    recipe_argument,
    resolve_recipe_argument,
)
from stagedeck.cli.completion import register as register_completion
from stagedeck.cli.envproc import add_commands as add_envproc_commands
from stagedeck.cli.envproc import cmd_up
from stagedeck.cli.fault import register as register_fault
from stagedeck.cli.gate import register as register_gate
from stagedeck.cli.info import register as register_info
from stagedeck.cli.logfile import setup_logging
from stagedeck.cli.records import register
from stagedeck.cli.scenario import register as register_scenario
from stagedeck.cli.traces import register as register_traces
from stagedeck.cli.why import register as register_why
from stagedeck.recipe.errors import ConfigError
from stagedeck.startup_gc import resume_gc
from stagedeck.store import StoreError

# --------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse echoes what it was given ("unrecognized arguments: ..."): through the gate."""

    def _print_message(self, message: str, file: Any = None) -> None:
        from stagedeck.text import visible

        super()._print_message(visible(message, limit=20_000, newlines=True), file)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="stagedeck",
        description="A terminal cockpit for shared integration and staging environments.",
    )
    parser.add_argument("--version", action="version", version=f"stagedeck {__version__}")
    debug_help = "write debug detail to the log file (see `stagedeck info`)"
    parser.add_argument("--debug", action="store_true", help=debug_help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=debug_help)
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
        standalone_option(p)

    def standalone_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--standalone",
            action="store_true",
            help="do not attach to (or start) an environment process: work on my own",
        )

    p = add("demo", cmd_demo, "bring up the embedded demo environment and open the cockpit")
    cockpit_options(p)
    p.add_argument(
        "--target",
        choices=["local", "docker"],
        default="local",
        help="run the demo as local processes (default) or docker containers",
    )
    p.add_argument("--base-image", help="docker: the Python base image for the demo image")
    p.add_argument(
        "--no-seed", action="store_true", help="start without test data (the first suites fail)"
    )

    p = add("k8s", cmd_k8s, "open the cockpit on a Kubernetes namespace (no recipe needed)")
    p.add_argument("--namespace", "-n", help="default: the context's namespace")
    p.add_argument("--context", help="kubeconfig context (default: the current one)")
    p.add_argument(
        "--contexts", dest="list_contexts", action="store_true", help="list kubeconfig contexts"
    )
    p.add_argument("--json", action="store_true", help="with --contexts: JSON on stdout")
    cockpit_options(p)

    p = add("docker", cmd_docker, "open the cockpit on a running docker compose project")
    p.add_argument("--project", help="compose project (default: the only one running)")
    p.add_argument("--recipe", help="a recipe that adds probes, suites and seeds")
    p.add_argument("--list", dest="list_only", action="store_true", help="list the projects")
    p.add_argument("--json", action="store_true", help="with --list: JSON on stdout")
    cockpit_options(p)

    p = add("open", cmd_open, "open the cockpit on a recipe (local services are started)")
    recipe_argument(p)
    cockpit_options(p)

    def force_option(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--force",
            action="store_true",
            help="act despite someone else's lease (recorded in the audit log)",
        )

    def action_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
        p.add_argument("--read-only", action="store_true", help="refuse every mutating action")
        force_option(p)
        p.add_argument(
            "--db", help="the shared SQLite file (default: $STAGEDECK_DB or XDG data dir)"
        )
        p.add_argument("--user", help="who you are to the people you share with (default: $USER)")
        standalone_option(p)

    p = add(
        "up",
        cmd_up,
        "start the environment process (in the background; --foreground to stay attached)",
    )
    recipe_argument(p)
    cockpit_options(p)
    p.add_argument(
        "--foreground", action="store_true", help="run it here, printing every state change"
    )
    p.add_argument(
        "--no-wait",
        action="store_true",
        help="return once the environment process listens, without following its bring-up",
    )
    # How a cockpit starts one for itself (stopping when nobody watches, on its ports).
    p.add_argument("--ephemeral", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--ports", default="", help=argparse.SUPPRESS)
    p.add_argument(
        "--no-seed", action="store_true", help="do not load test data at start (seed_on_start)"
    )
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    force_option(p)
    add_envproc_commands(add)

    p = add("redeploy", cmd_redeploy, "restart one service and wait until it is healthy")
    recipe_argument(p)
    p.add_argument("service", help="the service to restart")
    p.add_argument("--with-dependents", action="store_true", help="then restart its dependents")
    action_options(p)

    p = add("reseed", cmd_reseed, "load the recipe's test data (seeds) in dependency order")
    recipe_argument(p)
    p.add_argument("--seed", action="append", help="only this seed (and what it needs)")
    action_options(p)

    add("examples", cmd_examples, "list the bundled example recipes (open one by name)")
    add("schema", cmd_schema, "print the JSON Schema of recipes (for editors: Taplo and others)")

    register(add)
    register_traces(add)
    register_why(add)
    register_fault(add)
    register_gate(add)
    register_scenario(add)
    register_info(add)
    register_completion(add)

    p = add("check", cmd_check, "validate a recipe and summarise it")
    recipe_argument(p)
    p.add_argument("--verbose", "-v", action="store_true", help="commands and env (secrets as •••)")
    p.add_argument("--json", action="store_true", help="the summary as JSON on stdout")
    p.add_argument(
        "--resolved",
        action="store_true",
        help="print the recipe after includes and placeholders, as JSON (secrets as •••)",
    )

    p = add("status", cmd_status, "probe every service once; exit 0 when all are healthy")
    recipe_argument(p)
    p.add_argument("--json", action="store_true", help="the states as JSON on stdout")
    standalone_option(p)
    return parser


def cmd_examples(args: argparse.Namespace) -> int:
    from stagedeck.recipe.discovery import examples

    for ex in examples():
        print(f"{ex.name}: {ex.summary}")
        print(f"    stagedeck open {ex.name}    ({ex.path})")
        if ex.note:
            print(f"    note: {ex.note}")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from stagedeck.recipe.schema import schema_text

    sys.stdout.write(schema_text())
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (see cli/completion.py)
        from stagedeck.cli.completion import autocomplete

        autocomplete(parser)
    args = parser.parse_args(argv)
    setup_logging(args.debug)
    if not getattr(args, "func", None):
        # Plain `stagedeck`: the cockpit on the recipe found here, as `docker compose` does.
        from stagedeck.recipe.discovery import find_recipe

        found = find_recipe()
        if found.path is None:
            print(f"stagedeck: {found.explain()}\n", file=sys.stderr)
            parser.print_help(sys.stderr)
            return EXIT_BAD_INPUT
        args = parser.parse_args(["--debug"] * args.debug + ["open", str(found.path)])
    if getattr(args, "db", None) == "":
        print("stagedeck: --db '' names no file: give a path, or leave --db out", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        refused = resolve_recipe_argument(args)
        if refused is not None:
            return refused
        log = logging.getLogger("stagedeck.cli")
        if log.isEnabledFor(logging.DEBUG):
            log.debug("stagedeck %s: recipe %s", args.command, getattr(args, "recipe", None))
        if args.func not in (cmd_demo, cmd_docker, cmd_k8s, cmd_open):
            resume_gc()  # the cockpit resumes it after its first frame (stagedeck/startup_gc.py)
        code = int(args.func(args))
        if "stagedeck.tui.app" in sys.modules:
            from stagedeck.tui.lifecycle import exit_if_input_thread_lingers

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
    except Exception:
        logging.getLogger("stagedeck").exception("stagedeck %s failed", args.command)
        raise
