"""``stagedeck why``: the ranked suspects, headless.

* ``why RECIPE``: the environment now. With nothing to read a watcher's history
  from, it watches the environment itself for a few seconds (probes, latency,
  and the logs of anything it can read) and says so; on stderr with ``--json``.
* ``why RECIPE --test ID`` / ``--run N``: the ranking stored with a recorded
  failure (the one made when it failed), for one test or every failure of a run.

Exit codes: 0 nothing abnormal, 1 at least one suspect, 2 bad input (recipe,
unknown run or test).

Where the live history comes from is one function, :func:`live_ranking`:
attaching to a running watcher (issue 19) plugs in there, before the
fallback that observes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from stagedeck.triage.model import Ranking, ranking_from_rows
from stagedeck.triage.render import ranking_lines

if TYPE_CHECKING:
    from stagedeck.recipe.model import Recipe
    from stagedeck.store import Store
    from stagedeck.triage.model import ChangeRecord

EXIT_OK, EXIT_SUSPECT, EXIT_BAD_INPUT = 0, 1, 2
MIN_OBSERVE_S, MAX_OBSERVE_S = 3.0, 20.0


def observe_seconds(recipe: Recipe) -> float:
    """Long enough for two probe rounds of the slowest check (and its timeout)."""
    longest = recipe.environment.probe_interval
    for svc in recipe.services.values():
        if svc.health is not None:
            longest = max(longest, svc.health.interval + svc.health.timeout / 2)
    return min(MAX_OBSERVE_S, max(MIN_OBSERVE_S, 2 * longest + 0.5))


async def observe(recipe: Recipe, seconds: float, changes: Sequence[ChangeRecord] = ()) -> Ranking:
    """Watch the environment for ``seconds`` with an engine of our own, then rank."""
    from stagedeck.engine.engine import Engine
    from stagedeck.triage.live import monitor_for

    engine = Engine(recipe, attach=recipe.environment.target == "local")
    monitor = monitor_for(engine)
    monitor.add_changes(changes)
    await engine.start(bring_up=False)
    monitor.start()
    try:
        await asyncio.sleep(seconds)
        return monitor.recompute()
    finally:
        await monitor.stop()
        await engine.stop()


async def live_ranking(
    recipe: Recipe, seconds: float, changes: Sequence[ChangeRecord] = ()
) -> tuple[Ranking, str]:
    """The environment's ranking and a note on where it came from.

    An environment process, when one runs, has the history (transitions, logs,
    latency): rank from a mirror of it at once. Otherwise observe.
    """
    from stagedeck.envproc.client import NoAccess, connect
    from stagedeck.envproc.mirror import MirrorEngine
    from stagedeck.store.identity import current_user

    try:
        conn = await connect(recipe, user=current_user(None), role="cli")
    except NoAccess as exc:
        ranking = await observe(recipe, seconds, changes)
        return ranking, f"observed for {seconds:.1f}s itself: {exc}"
    if conn is not None:
        from stagedeck.triage.live import monitor_for

        async def already() -> Any:
            return conn

        mirror = MirrorEngine(recipe, already)
        await mirror.start()
        try:
            monitor = monitor_for(mirror)
            monitor.add_changes(changes)
            return monitor.recompute(), (
                f"ranked from the history of the {mirror.describe_source} "
                f"({len(mirror.transitions)} transitions, {mirror.logs.seq} log lines held)"
            )
        finally:
            await mirror.stop()
    ranking = await observe(recipe, seconds, changes)
    note = (
        f"nothing this command can read from is watching {recipe.name}: observed it for "
        f"{seconds:.1f}s itself (health checks, latency, and the logs it can see)"
    )
    return ranking, note


def _changes(store: Store | None, env: str) -> list[ChangeRecord]:
    if store is None:
        return []
    from stagedeck.store import StoreError
    from stagedeck.triage.snapshot import changes_from_audit

    try:
        return changes_from_audit(store.recent_audit(env, limit=50))
    except StoreError:
        return []


def cmd_why(args: argparse.Namespace) -> int:
    from stagedeck.cli.common import load_recipe_arg
    from stagedeck.cli.operate import open_store

    recipe = load_recipe_arg(args.recipe, args)
    if args.test or args.run is not None:
        store = open_store(args)
        assert store is not None
        return _stored(store, recipe.name, args)
    store = open_store(args, required=False)
    seconds = args.observe if args.observe is not None else observe_seconds(recipe)
    ranking, note = asyncio.run(live_ranking(recipe, seconds, _changes(store, recipe.name)))
    watchers = []
    if store is not None:
        from stagedeck.store import StoreError

        try:
            watchers = store.watchers(recipe.name)
        except StoreError:
            watchers = []
    if watchers and not note.startswith("ranked from"):
        who = ", ".join(sorted({w.user for w in watchers}))
        note += f" ({who} also watching; reading another process's history is not possible yet)"
    if args.json:
        print(note, file=sys.stderr)
        out = {"environment": recipe.name, "source": "observed", **ranking.to_dict()}
        print(json.dumps(out, indent=2, default=str))
    else:
        print(note)
        if ranking.abnormal:
            print(ranking.line())
            print("\n".join(ranking_lines(ranking)))
        else:
            print(f"nothing abnormal in {recipe.name}")
    return EXIT_SUSPECT if ranking.abnormal else EXIT_OK


def _stored(store: Store, env: str, args: argparse.Namespace) -> int:
    """Rankings stored with recorded failures (made when they failed)."""
    runs = [args.run] if args.run is not None else [r.id for r in store.runs(env, limit=50)]
    if args.run is not None and store.run(args.run) is None:
        print(f"no run {args.run} in {store.path}", file=sys.stderr)
        return EXIT_BAD_INPUT
    found: list[dict[str, Any]] = []
    for run_id in runs:
        for failure in store.failures(env, run_id):
            result = failure.result
            if args.test and not _matches(result.test_id, args.test):
                continue
            if result.id is None:
                continue
            ranking = ranking_from_rows(
                store.failure_suspects(result.id),
                at=result.ended or result.started or 0.0,
                subject=result.test_id,
            )
            found.append(
                {
                    "run_id": run_id,
                    "suite": failure.suite,
                    "test_id": result.test_id,
                    "outcome": result.outcome,
                    "message": result.message,
                    "ranking": ranking,
                }
            )
        if args.test and found and args.run is None:
            break  # the latest run that has it
    if not found:
        what = f"test {args.test}" if args.test else "failures"
        where = f"run {args.run}" if args.run is not None else f"the recorded runs of {env}"
        print(f"no {what} in {where}", file=sys.stderr)
        return EXIT_BAD_INPUT if args.test else EXIT_OK
    if args.json:
        items = [{**f, "ranking": f["ranking"].to_dict()} for f in found]
        print(json.dumps(items, indent=2, default=str))
    else:
        for f in found:
            print(f"run {f['run_id']} · {f['suite']} {f['test_id']}: {f['outcome']}")
            first = f["message"].splitlines()[0] if f["message"] else ""
            if first:
                print(f"   {first[:160]}")
            ranking = f["ranking"]
            if ranking.suspects:
                for line in ranking_lines(ranking, suspects=3, evidence=3):
                    print(f"   {line}")
            else:
                print("   no ranking was stored with this failure (recorded before triage)")
            print()
    abnormal = any(f["ranking"].abnormal for f in found)
    return EXIT_SUSPECT if abnormal else EXIT_OK


def _matches(test_id: str, wanted: str) -> bool:
    return test_id == wanted or test_id.endswith(f"::{wanted}") or test_id.endswith(wanted)


def register(add: Any) -> None:
    p = add("why", cmd_why, "rank what is most likely at fault now, or why a test failed")
    p.add_argument("recipe")
    p.add_argument("--test", help="a recorded failure: its ranking as made when it failed")
    p.add_argument("--run", type=int, help="every failure of this run with its ranking")
    p.add_argument("--json", action="store_true", help="JSON on stdout (notes go to stderr)")
    p.add_argument(
        "--observe",
        type=float,
        metavar="SECONDS",
        help="with nothing watching: how long to watch (default: two probe rounds)",
    )
    p.add_argument("--db", help="the shared SQLite file (default: $STAGEDECK_DB or XDG data dir)")
