"""Runs the store could not take, kept in a spool file until it can.

A read-only (or immutable) database, a full disk, a file locked for too long:
the suites ran, people saw the results, and yet nothing was saved. Silently
dropping that is the worst outcome, so a run that could not be written in
full is written as one JSON file next to the database
(``<db>.spool/run-*.json``; if that directory cannot be written either, under
``$XDG_STATE_HOME/stagedeck/spool``), and saved as a new run the next time a
writable store is opened for that file. If even the spool cannot be written,
the caller says so in as many words, listing what was lost.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from stagedeck.store import Store, StoreError, TestResult

FORMAT = 1


def spool_dirs(db_path: Path) -> list[Path]:
    """Where runs for ``db_path`` are spooled, first choice first."""
    digest = hashlib.sha256(str(db_path.absolute()).encode()).hexdigest()[:12]
    state_home = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return [
        db_path.parent / f"{db_path.name}.spool",
        Path(state_home) / "stagedeck" / "spool" / f"{db_path.stem}-{digest}",
    ]


def spool_run(
    db_path: Path,
    *,
    environment: str,
    user: str,
    recipe_path: str,
    target: str,
    outcome: str,
    suites: Iterable[dict[str, Any]],
    partial_run_id: int | None = None,
) -> Path | None:
    """Write one run to the spool; its path, or None when no spool directory is writable.

    ``suites``: dicts with the suite run's fields and ``results`` (TestResult
    fields). ``partial_run_id``: a run the store did take the start of, to be
    closed as ``interrupted`` when the spooled copy is saved.
    """
    payload = {
        "format": FORMAT,
        "db": str(db_path.absolute()),
        "spooled": time.time(),
        "environment": environment,
        "user": user,
        "recipe_path": recipe_path,
        "target": target,
        "outcome": outcome,
        "partial_run_id": partial_run_id,
        "suites": list(suites),
    }
    data = json.dumps(payload, default=str).encode()
    name = f"run-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    for folder in spool_dirs(db_path):
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = folder / f".{name}.tmp"
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            final = folder / f"{name}.json"
            os.replace(tmp, final)
            return final
        except OSError:
            try:
                (folder / f".{name}.tmp").unlink(missing_ok=True)
            except OSError:
                pass
            continue
    return None


def pending(db_path: Path) -> list[Path]:
    """Spooled runs waiting for ``db_path``, oldest first."""
    found: list[Path] = []
    for folder in spool_dirs(db_path):
        try:
            found.extend(p for p in folder.glob("run-*.json") if p.is_file())
        except OSError:
            continue
    return sorted(found, key=lambda p: p.name)


def replay(store: Store) -> tuple[list[int], list[str]]:
    """Save every spooled run for this store; (new run ids, problems). Blocking.

    A file is deleted only after its run is saved; one that is not a spooled run
    (unreadable, another format) is left alone and named in the problems.
    """
    saved: list[int] = []
    problems: list[str] = []
    if not store.writable:
        return saved, problems
    for path in pending(store.path):
        try:
            payload = json.loads(path.read_bytes()[: 64 * 1024 * 1024])
            if payload.get("format") != FORMAT:
                raise ValueError(f"unknown spool format {payload.get('format')!r}")
            run_id = _save(store, payload)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"{path}: {exc}")
            continue
        except StoreError as exc:
            problems.append(f"{path}: not saved yet: {exc}")
            break  # the store is not writable after all; keep the rest for later
        saved.append(run_id)
        try:
            path.unlink()
        except OSError as exc:
            problems.append(f"{path}: saved as run {run_id} but not removed: {exc.strerror}")
    return saved, problems


def _save(store: Store, payload: dict[str, Any]) -> int:
    run_id = store.start_run(
        str(payload["environment"]),
        str(payload["user"]),
        recipe_path=payload.get("recipe_path") or None,
        target=payload.get("target") or None,
    )
    for suite in payload["suites"]:
        sid = store.start_suite_run(run_id, str(suite["suite"]), str(suite["state"]))
        fields = {k: suite.get(k) for k in _SUITE_FIELDS}
        store.update_suite_run(sid, **fields)
        results = [
            TestResult(**{k: v for k, v in r.items() if k in _RESULT_FIELDS})
            for r in suite.get("results", [])
        ]
        if results:
            store.add_test_results(sid, results)
    partial = payload.get("partial_run_id")
    if isinstance(partial, int):
        existing = store.run(partial)
        if existing is not None and existing.outcome is None:
            store.finish_run(partial, "interrupted")
    store.finish_run(run_id, str(payload["outcome"]))
    return run_id


_SUITE_FIELDS = (
    "started",
    "ended",
    "passed",
    "failed",
    "errors",
    "skipped",
    "total",
    "output_path",
    "junit_path",
    "detail",
)
_RESULT_FIELDS = frozenset(
    {"test_id", "outcome", "name", "duration", "message", "traceback", "started", "ended"}
)


def result_dict(result: TestResult) -> dict[str, Any]:
    return {k: v for k, v in asdict(result).items() if k in _RESULT_FIELDS}
