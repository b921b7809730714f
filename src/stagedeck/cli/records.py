"""CLI commands about shared records: suite runs, failures, annotations, reports, leases.

They all talk to the one SQLite file a team shares (``--db`` or
``STAGEDECK_DB``), so what one person does here shows up in every cockpit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from stagedeck.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    load_recipe_arg,
    recipe_argument,
)
from stagedeck.cli.operate import decide, open_store, operations, prepare
from stagedeck.cli.operate import user_of as _user
from stagedeck.operations import Refused, requests
from stagedeck.store import StoreError, default_db_path


def _env_name(args: argparse.Namespace) -> str:
    if getattr(args, "env", None):
        return str(args.env)
    if getattr(args, "recipe", None):
        from stagedeck.recipe.model import load_recipe

        return load_recipe(args.recipe).name
    raise SystemExit("name the environment: a RECIPE or --env NAME")


# --------------------------------------------------------------------------- run


def cmd_run(args: argparse.Namespace) -> int:
    """Run suites; ``--up`` and ``--reseed`` and exclusive suites follow the core's rules.

    With ``--json`` standard output holds the JSON and nothing else: progress
    and the steps before the suites go to standard error.
    """
    from stagedeck.suites.recording import RunRecord, run_and_record
    from stagedeck.suites.runner import SuiteProgress, SuiteRunner
    from stagedeck.triage.live import monitor_for

    recipe = load_recipe_arg(args.recipe, args)
    names = args.suite or list(recipe.suites)
    store = open_store(args, required=False)
    user = _user(args)
    workdir = default_db_path(getattr(args, "db", None)).parent / "runs" / recipe.name
    last: dict[str, str] = {}
    say_out = sys.stderr if args.json else sys.stdout

    def say(text: str) -> None:
        print(text, file=say_out, flush=True)

    bars: Any = None  # live bars on a terminal (set once the questions are answered)

    def show(p: SuiteProgress) -> None:
        if bars is not None:
            bars.update(p)
            return
        text = p.describe()
        if args.json or last.get(p.suite) == text.split(" · ")[0]:
            return
        last[p.suite] = text.split(" · ")[0]
        say(f"{p.suite}: {text}")

    async def main() -> int:
        from stagedeck.cli.envproc import attached_or_own

        # Attached, one more viewer of the running environment: its logs and history are
        # the failure context; --up and --reseed are performed by the environment process.
        found = await attached_or_own(recipe, args, store, bring_up=args.up)
        if isinstance(found, int):
            return found
        engine, ops, _attached = found
        monitor_for(engine)  # from the start: a reseed or redeploy now is evidence later
        runner = SuiteRunner(engine.recipe, workdir=workdir, on_change=show)

        async def run() -> RunRecord:
            return await run_and_record(
                engine,
                runner,
                names,
                store,
                user,
                db_path=default_db_path(getattr(args, "db", None)),
            )

        try:
            steps = [requests.bring_up(ops)] if args.up else []
            if args.reseed:
                steps.append(requests.reseed(ops))
            steps.append(requests.run_suites(ops, names, run))
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return EXIT_BAD_INPUT
        decisions = []
        for step in steps:
            decision = await decide(ops, step, args, say=say, asked=True)
            if decision is None:
                return EXIT_FAILED
            decisions.append(decision)
        nonlocal bars
        await engine.start(bring_up=False)
        if not args.json and sys.stdout.isatty():
            from stagedeck.cli.progress import SuiteBars

            bars = SuiteBars()
        try:
            with bars if bars is not None else contextlib.nullcontext():
                for step, decision in zip(steps, decisions, strict=True):
                    result = await ops.perform(step, decision)
                    if step is not steps[-1]:
                        say(result.detail.splitlines()[0] if result.detail else step.action)
                        if not result.ok:
                            print(result.detail, file=sys.stderr)
                            return EXIT_FAILED
        except Refused as exc:
            print(str(exc), file=sys.stderr)
            return EXIT_FAILED
        finally:
            await engine.stop()
        record = result.value
        junit_ok = _write_junit(args.junitxml, record, store, recipe) if args.junitxml else True
        if args.gate:
            code = _gate_after(record, store, recipe, args)
            return code if junit_ok else max(code, EXIT_FAILED)
        if args.json:
            print(json.dumps(_run_json(record), indent=2, default=str))
        else:
            for p in record.suites:
                for case in p.cases:
                    if case.outcome in ("failed", "error"):
                        first = case.message.splitlines()[0] if case.message else ""
                        print(f"  FAILED {p.suite} {case.test_id}: {first}")
                        ranking = record.rankings.get((p.suite, case.test_id))
                        if ranking is not None and ranking.top is not None:
                            print(f"    {ranking.line()}")
                if not p.cases and p.state.value == "error" and p.detail:
                    print(f"  REFUSED {p.suite}: {p.detail}")
                    ranking = next(
                        (r for (suite, _), r in record.rankings.items() if suite == p.suite), None
                    )
                    if ranking is not None and ranking.top is not None:
                        print(f"    {ranking.line()}")
            if record.saved and store is not None:
                print(f"run {record.run_id} saved to {store.path}")
        if not record.saved:
            # Never "saved" on one stream and "not saved" on the other: one verdict, on
            # stderr (stdout may be --json), and an exit code that is not success.
            print(f"stagedeck: {record.storage_note()}", file=sys.stderr)
            return EXIT_FAILED
        if not junit_ok:
            return EXIT_FAILED
        return EXIT_OK if record.ok else EXIT_FAILED

    return asyncio.run(main())


def _write_junit(path: str, record: Any, store: Any, recipe: Any) -> bool:
    """``run --junitxml``: the report writer's JUnit, from the run as stored, with the host."""
    import socket

    from stagedeck.suites.report import build_report, to_junit

    if store is None or not record.saved:
        print(f"--junitxml: the run was not saved, so {path} was not written", file=sys.stderr)
        return False
    report = build_report(store, record.run_id, mask=recipe.mask)
    text = to_junit(report, hostname=socket.gethostname(), mask=recipe.mask)
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"--junitxml: cannot write {path}: {exc}", file=sys.stderr)
        return False
    print(f"JUnit XML written to {path}", file=sys.stderr)
    return True


def _gate_after(record: Any, store: Any, recipe: Any, args: argparse.Namespace) -> int:
    """``run --gate``: the run's failures in brief, then the verdict; its exit code wins."""
    from stagedeck.cli.gate import print_verdict

    if store is None or record.run_id is None:
        print(
            f"gate: cannot judge: the run was not saved ({record.store_problem})", file=sys.stderr
        )
        return EXIT_FAILED
    if not args.json:
        print(record.describe())
    return print_verdict(store, recipe, record.run_id, args, _run_json(record))


def _suspects(record: Any, suite: str, test_id: str) -> list[dict[str, Any]]:
    ranking = record.rankings.get((suite, test_id))
    return [s.to_dict() for s in ranking.suspects] if ranking is not None else []


def _run_json(record: Any) -> dict[str, Any]:
    return {
        "run_id": record.run_id if record.saved else None,
        "ok": record.ok,
        "saved": record.saved,
        "spooled": str(record.spooled) if record.spooled else None,
        "suites": [
            {
                "suite": p.suite,
                "state": p.state.value,
                "passed": p.passed,
                "failed": p.failed,
                "errors": p.errors,
                "skipped": p.skipped,
                "detail": p.detail,
                "failures": [
                    {
                        "test": c.test_id,
                        "outcome": c.outcome,
                        "message": c.message,
                        "suspects": _suspects(record, p.suite, c.test_id),
                    }
                    for c in p.cases
                    if c.outcome in ("failed", "error")
                ],
            }
            for p in record.suites
        ],
    }


# --------------------------------------------------------------------------- failures


def cmd_failures(args: argparse.Namespace) -> int:
    """The latest run's failures (or ``--run N``'s), or with ``--grep`` every failure of
    the environment whose message, traceback or test id holds the words: newest first."""
    from stagedeck.cli.failurelist import failure_items, print_plain, print_table

    store = open_store(args)
    assert store is not None
    env = _env_name(args)
    run_id = args.run
    if run_id is None and not args.grep:
        runs = store.runs(env, limit=1)
        run_id = runs[0].id if runs else None
    elif run_id is not None and ((run := store.run(run_id)) is None or run.environment != env):
        where = f"of {run.environment}, not {env}" if run is not None else "recorded"
        print(f"no run {run_id} {where} in {store.path}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.limit < 1:
        print(f"--limit {args.limit}: give at least 1", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.grep:
        failures = store.search_failures(env, args.grep, run_id=run_id, limit=args.limit)
    else:
        failures = store.failures(env, run_id) if run_id is not None else []
    items = failure_items(store, failures)
    if args.json:
        print(json.dumps(items, indent=2, default=str))
        return EXIT_OK
    scope = f"run {run_id}" if run_id else ("any run" if not args.grep else "every run")
    if args.grep:
        from stagedeck.text import clean

        scope = f"{scope}, matching {clean(args.grep)!r}"
    tty = sys.stdout.isatty()
    if not items:
        # Piped, standard output stays the table (its header alone): the words go to stderr.
        print(f"no failures in {scope} of {env}", file=sys.stdout if tty else sys.stderr)
        if tty:
            return EXIT_OK
    if tty:
        title = f"{len(items)} failure{'s' * (len(items) != 1)} · {scope} · {env}"
        print_table(items, title, sys.stdout, with_run=bool(args.grep))
    else:
        print_plain(items, sys.stdout)
    return EXIT_OK


# --------------------------------------------------------------------------- annotate


def cmd_annotate(args: argparse.Namespace) -> int:
    store = open_store(args)
    assert store is not None
    user = _user(args)
    try:
        if args.delete is not None:
            store.delete_annotation(args.delete, user)
            print(f"annotation {args.delete} deleted")
            return EXIT_OK
        if args.edit is not None:
            note = store.edit_annotation(
                args.edit, user, tag=args.tag, note=args.note, link=args.link
            )
            print(f"annotation {note.id} updated")
            return EXIT_OK
        if not (args.signature or args.test) or not args.note or not args.tag:
            print(
                "annotate needs --signature (or --test of the latest failure), --tag and --note",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        env = _env_name(args)
        signature, test_id = args.signature, args.test or ""
        if not signature:
            latest = [f for f in store.failures(env) if f.result.test_id == test_id]
            if not latest or not latest[0].result.signature:
                print(f"no recorded failure of {test_id} in {env}", file=sys.stderr)
                return EXIT_BAD_INPUT
            signature = latest[0].result.signature
        new_id = store.add_annotation(signature, test_id, env, user, args.tag, args.note, args.link)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    print(f"annotation {new_id} added to {signature}")
    return EXIT_OK


# --------------------------------------------------------------------------- report


def cmd_report(args: argparse.Namespace) -> int:
    from stagedeck.suites.report import build_report, render

    store = open_store(args)
    assert store is not None
    run_id = args.run
    if run_id is None:
        env = _env_name(args) if (args.env or args.recipe) else None
        runs = store.runs(env, limit=1) if env else []
        if not runs and env is None:
            envs = store.environments()
            runs = [r for e in envs for r in store.runs(e.name, limit=1)]
            runs.sort(key=lambda r: r.started, reverse=True)
        if not runs:
            print("no runs recorded yet", file=sys.stderr)
            return EXIT_FAILED
        run_id = runs[0].id
    try:
        text = render(build_report(store, run_id), args.format)
    except LookupError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(
                f"cannot write the report to {args.output}: {exc.strerror or exc}"
                " (-o names a file in an existing directory)",
                file=sys.stderr,
            )
            return EXIT_BAD_INPUT
        print(f"report of run {run_id} written to {args.output}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


# --------------------------------------------------------------------------- lease


MAX_LEASE_S = 30 * 86400.0
"""A lease longer than a month is a mistake (and a hundred million days overflows a date)."""


def _duration(text: str) -> float:
    from stagedeck.engine.logquery import QueryError, parse_duration

    try:
        seconds = parse_duration(text[:40])
    except (QueryError, ValueError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not 1 <= seconds <= MAX_LEASE_S:  # also false for nan and inf
        raise argparse.ArgumentTypeError(
            f"'{text[:40]}' is not a lease length: from 1s to 30d (e.g. 30m, 2h, 1d)"
        )
    return seconds


def cmd_lease(args: argparse.Namespace) -> int:
    """Leases through the operations layer: refused read-only; someone else's needs --force."""
    store = open_store(args)
    assert store is not None
    env = _env_name(args)
    now = time.time()
    if args.action == "show":
        lease = store.current_lease(env)
        if args.json:
            print(json.dumps(_lease_json(env, lease, now), indent=2))
            return EXIT_OK
        print(lease.describe(now) if lease else f"{env} is free")
        return EXIT_OK

    async def main() -> int:
        recipe = load_recipe_arg(args.recipe, args) if getattr(args, "recipe", None) else None
        read_only = bool(recipe and recipe.environment.read_only)
        ops = operations(_LeaseScope(env, read_only), args, store)
        prepared = await prepare(
            ops,
            lambda o: (
                requests.acquire_lease(o, args.reason or "", args.ttl)
                if args.action == "acquire"
                else requests.release_lease(o)
            ),
            args,
        )
        if isinstance(prepared, int):
            return prepared
        request, decision = prepared
        try:
            result = await ops.perform(request, decision)
        except Refused as exc:
            print(f"{exc} (--force to take it anyway)", file=sys.stderr)
            return EXIT_FAILED
        except StoreError as exc:
            print(f"lease {args.action} failed: {exc}", file=sys.stderr)
            return EXIT_FAILED
        if args.action == "acquire":
            lease = result.value
            taken = f" (taken from {lease.taken_from})" if lease.taken_from else ""
            print(f"{lease.describe(now)}{taken}")
            return EXIT_OK
        released = bool(result.value)
        print("lease released" if released else f"{env} was not leased by {ops.user}")
        return EXIT_OK if released else EXIT_FAILED

    return asyncio.run(main())


def _lease_json(env: str, lease: Any, now: float) -> dict[str, Any]:
    """The shape of ``lease show --json``: ``owner`` and the rest are null when free."""
    return {
        "environment": env,
        "leased": lease is not None,
        "owner": lease.owner if lease else None,
        "reason": lease.reason if lease else None,
        "acquired": lease.acquired if lease else None,
        "expires": lease.expires if lease else None,
        "remaining_s": round(lease.remaining_s(now), 1) if lease else None,
    }


class _LeaseScope:
    """What a lease needs of an engine: the environment's name. ``lease`` works with
    ``--env NAME`` alone, no recipe and so no engine."""

    def __init__(self, env: str, read_only: bool) -> None:
        from types import SimpleNamespace

        self.recipe = SimpleNamespace(name=env, environment=SimpleNamespace(read_only=read_only))
        self.claims: dict[str, str] = {}

    def clock(self) -> float:
        return time.time()


# --------------------------------------------------------------------------- parser


def register(add: Any) -> None:
    """Add these commands to the main parser; ``add(name, func, help)`` returns a subparser."""

    def shared(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--db", help="the shared SQLite file (default: $STAGEDECK_DB or XDG data dir)"
        )
        p.add_argument("--user", help="who you are (default: $USER)")

    p = add("run", cmd_run, "run suites headless, store the results; exit 0 when all pass")
    recipe_argument(p, then=("suite",))
    p.add_argument("suite", nargs="*", help="suites to run (default: all)")
    p.add_argument(
        "--json", action="store_true", help="the results as JSON on stdout (progress to stderr)"
    )
    p.add_argument(
        "--junitxml", metavar="PATH", help="also write the results as JUnit XML (for CI)"
    )
    p.add_argument("--up", action="store_true", help="start the (local) environment first")
    p.add_argument("--reseed", action="store_true", help="load the seeds before the suites")
    p.add_argument(
        "--gate",
        action="store_true",
        help="then judge the run: exit 0 GO, 1 NO-GO (see gate); --json gives {run, gate}",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="run exclusive suites (and --up, --reseed) despite a lease; recorded in the audit log",
    )
    p.add_argument(
        "--read-only", action="store_true", help="refuse --up, --reseed, exclusive suites"
    )
    p.add_argument("--free-ports", action="store_true", help=argparse.SUPPRESS)
    p.add_argument(
        "--standalone", action="store_true", help="do not attach to an environment process"
    )
    shared(p)

    p = add(
        "failures", cmd_failures, "list the latest run's failures with what is known about them"
    )
    recipe_argument(p, required=False)
    p.add_argument("--env", help="the environment by name, instead of a RECIPE")
    p.add_argument("--run", type=int, help="run id (default: the latest run)")
    p.add_argument(
        "--grep",
        metavar="WORDS",
        help="search every run's failures (message, traceback, test id) for all the words; "
        '"quoted phrase", prefix*; newest first',
    )
    p.add_argument(
        "--limit", type=int, default=50, help="with --grep: at most this many (default 50)"
    )
    p.add_argument("--json", action="store_true", help="the failures as JSON on stdout")
    shared(p)

    p = add("annotate", cmd_annotate, "add, edit or delete a note on a failure")
    recipe_argument(p, required=False)
    p.add_argument("--env", help="the environment by name, instead of a RECIPE")
    p.add_argument("--signature", help="the failure signature to annotate (see `failures`)")
    p.add_argument("--test", help="test id: annotate its latest recorded failure")
    p.add_argument(
        "--tag",
        choices=["flaky", "environment", "data", "bug", "infra", "known"],
        help="what kind of cause the note records",
    )
    p.add_argument(
        "--note", help="the note itself (secrets in it are not masked: do not paste any)"
    )
    p.add_argument("--link", help="a URL: ticket, chat thread, dashboard")
    p.add_argument("--edit", type=int, metavar="ID", help="change annotation ID (yours)")
    p.add_argument("--delete", type=int, metavar="ID", help="delete annotation ID (yours)")
    shared(p)

    p = add("report", cmd_report, "write a report of a run (markdown, html or junit)")
    recipe_argument(p, required=False)
    p.add_argument("--env", help="the environment by name, instead of a RECIPE")
    p.add_argument("--run", type=int, help="run id (default: the latest run)")
    p.add_argument("--format", choices=["md", "html", "junit"], default="md", help="default: md")
    p.add_argument("--output", "-o", help="write to this file instead of stdout")
    shared(p)

    p = add("lease", cmd_lease, "take, give back or show the lease on an environment")
    p.add_argument(
        "action", choices=["acquire", "release", "show"], help="what to do with the lease"
    )
    recipe_argument(p, required=False)
    p.add_argument("--env", help="the environment by name, instead of a RECIPE")
    p.add_argument("--reason", default="", help="acquire: why, shown to everyone else")
    p.add_argument("--ttl", type=_duration, default=1800.0, help="how long (30m, 2h); default 30m")
    p.add_argument("--force", action="store_true", help="take someone else's lease (audited)")
    p.add_argument("--read-only", action="store_true", help="refuse acquire and release")
    p.add_argument("--json", action="store_true", help="show: the lease as JSON on stdout")
    shared(p)
