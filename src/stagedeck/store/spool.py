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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stagedeck.store.errors import StoreError
from stagedeck.store.records import TestResult

if TYPE_CHECKING:
    from stagedeck.store import Store

FORMAT = 1


def spool_dirs(db_path: Path) -> list[Path]:
    """Where runs for ``db_path`` are spooled, first choice first."""
    digest = hashlib.sha256(str(db_path.absolute()).encode()).hexdigest()[:12]
    state_home = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return [
        db_path.parent / f"{db_path.name}.spool",
        Path(state_home) / "stagedeck" / "spool" / f"{db_path.stem}-{digest}",
    ]


def _write(db_path: Path, prefix: str, payload: dict[str, Any]) -> Path | None:
    data = json.dumps(payload, default=str).encode()
    name = f"{prefix}-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    for folder in spool_dirs(db_path):
        tmp = folder / f".{name}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            final = folder / f"{name}.json"
            os.replace(tmp, final)
            return final
        except OSError:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
    return None


def spool_annotation(
    db_path: Path,
    *,
    signature: str,
    test_id: str,
    environment: str,
    author: str,
    tag: str,
    note: str,
    link: str | None,
) -> Path | None:
    """Keep an annotation the store refused (read-only, full, locked); None if nowhere."""
    return _write(
        db_path,
        "note",
        {
            "format": FORMAT,
            "kind": "annotation",
            "db": str(db_path.absolute()),
            "spooled": time.time(),
            "signature": signature,
            "test_id": test_id,
            "environment": environment,
            "author": author,
            "tag": tag,
            "note": note,
            "link": link,
        },
    )


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
        "kind": "run",
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
    return _write(db_path, "run", payload)


def pending(db_path: Path) -> list[Path]:
    """Spooled runs waiting for ``db_path``, oldest first."""
    found: list[Path] = []
    for folder in spool_dirs(db_path):
        try:
            found.extend(
                p
                for pattern in ("run-*.json", "note-*.json")
                for p in folder.glob(pattern)
                if p.is_file()
            )
        except OSError:
            continue
    return sorted(found, key=lambda p: p.name.split("-", 1)[1])


@dataclass
class Replayed:
    """What :func:`replay` saved, and what it could not."""

    runs: list[int] = field(default_factory=list)
    annotations: list[int] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def replay(store: Store) -> Replayed:
    """Save every spooled run and annotation for this store. Blocking.

    A file is deleted only after what it holds is saved; one that is not a spool
    file (unreadable, another format) is left alone and named in the problems.
    """
    done = Replayed()
    saved, problems = done.runs, done.problems
    if not store.writable:
        return done
    for path in pending(store.path):
        try:
            payload = json.loads(path.read_bytes()[: 64 * 1024 * 1024])
            if payload.get("format") != FORMAT:
                raise ValueError(f"unknown spool format {payload.get('format')!r}")
            if payload.get("kind") == "annotation":
                run_id = store.add_annotation(
                    str(payload["signature"]),
                    str(payload["test_id"]),
                    str(payload["environment"]),
                    str(payload["author"]),
                    str(payload["tag"]),
                    str(payload["note"]),
                    payload.get("link"),
                )
                done.annotations.append(run_id)
                path.unlink(missing_ok=True)
                continue
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
    return done


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
