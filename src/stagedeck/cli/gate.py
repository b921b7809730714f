"""``stagedeck gate``: may this run's build move on? Exit 0 for GO, 1 for NO-GO, 2 bad recipe.

With ``--json`` standard output holds the verdict as JSON and nothing else.
``stagedeck run ... --gate`` calls :func:`print_verdict` after the suites, so
one CI line runs the suites and gives the verdict.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from stagedeck.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, load_recipe_arg
from stagedeck.cli.operate import open_store, user_of
from stagedeck.recipe.model import Recipe
from stagedeck.store import Store


def print_verdict(
    store: Store,
    recipe: Recipe,
    run_id: int | None,
    args: Any,
    run_json: dict[str, Any] | None = None,
) -> int:
    """Judge ``run_id`` (default: the latest), store the verdict, print it; the exit code.

    ``run_json``: with ``--json``, print ``{"run": run_json, "gate": verdict}`` (run --gate).
    """
    from stagedeck.gate.gather import GateError, judge
    from stagedeck.gate.render import verdict_lines

    try:
        verdict = judge(store, recipe, run_id, user=user_of(args))
    except GateError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    if getattr(args, "json", False):
        data = (
            verdict.to_dict() if run_json is None else {"run": run_json, "gate": verdict.to_dict()}
        )
        print(json.dumps(data, indent=2, default=str))
    else:
        print("\n".join(verdict_lines(verdict)), flush=True)
    return EXIT_OK if verdict.go else EXIT_FAILED


def cmd_gate(args: argparse.Namespace) -> int:
    recipe = load_recipe_arg(args.recipe, args)
    if recipe.gate is None:
        print(
            f"{recipe.path} has no [gate] section: the default gate applies "
            "(every suite passes, no new failures, SLOs, no restarts)",
            file=sys.stderr,
        )
    store = open_store(args)
    assert store is not None
    return print_verdict(store, recipe, args.run, args)


def register(add: Any) -> None:
    p = add("gate", cmd_gate, "GO / NO-GO for a run: exit 0 GO, 1 NO-GO, 2 bad recipe or run")
    p.add_argument("recipe")
    p.add_argument("--run", type=int, help="the run to judge (default: the latest)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--db", help="the shared SQLite file (default: $STAGEDECK_DB or XDG data dir)")
    p.add_argument("--user", help="who you are (default: $USER)")
