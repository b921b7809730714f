"""Break the demo on purpose and run its suites through ``stagedeck run``, twice if asked.

Shared by the signature tests and ``bench/bench_signatures.py``: both need the
same fault reproduced in two runs recorded in one SQLite file, the way a team
sees a failure come back. Each run gets a FRESH demo on new free ports (so
ports, request ids, order ids and timestamps all change, as they do between two
real runs), seeded, then broken, then tested with the real CLI.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stagedeck.demo.launch import Demo
from stagedeck.store import Store

DEMO_DIR = Path(__import__("stagedeck.demo", fromlist=["x"]).__file__).parent
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

FAULTS = ("errors", "errors50", "crash", "hang", "latency", "unhealthy", "data", "unseeded")
"""What can be injected: every request fails (500), half of them do, the process is
killed, stopped (SIGSTOP), slowed past the callers' 3 s timeouts, its health endpoint
says unhealthy (the API still works), the seeded data is changed, or never loaded."""


@dataclass(frozen=True)
class Failure:
    test_id: str
    message: str
    signature: str
    annotations: list[dict[str, Any]]
    seen: int
    traceback: str = ""


def write_recipe(demo: Demo, directory: Path) -> Path:
    """The demo's recipe with this demo's ports; its suites are linked beside it."""
    lines, service = [], ""
    for line in (DEMO_DIR / "demo.toml").read_text().splitlines():
        header = re.fullmatch(r"\[services\.(\w+)\]", line.strip())
        if header:
            service = header.group(1)
        elif line.startswith("["):
            service = ""
        if service in demo.ports and re.fullmatch(r"port = \d+", line.strip()):
            line = f"port = {demo.ports[service]}"
        lines.append(line)
    text = "\n".join(lines) + "\n"
    directory.mkdir(parents=True, exist_ok=True)
    suites = directory / "suites"
    if not suites.exists():
        suites.symlink_to(DEMO_DIR / "suites")
    path = directory / "demo.toml"
    path.write_text(text)
    return path


def _send(method: str, url: str, body: Any) -> Any:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method=method,
        headers={"Content-Type": "application/json"},
    )
    with _OPENER.open(request, timeout=5) as response:
        return json.loads(response.read() or b"null")


CHAOS = {
    "errors": {"error_rate": 1.0},
    "errors50": {"error_rate": 0.5},
    "unhealthy": {"unhealthy": True},
    "latency": {"latency_ms": 3500},
}
"""Faults set through the service's own ``/admin/chaos`` endpoint."""


def seed(demo: Demo) -> None:
    subprocess.run(
        [sys.executable, "-m", "stagedeck.demo.seed", "--gateway", demo.url("gateway")],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def inject(demo: Demo, fault: str, service: str) -> None:
    """Break ``service`` (ignored for ``data``, which breaks the seeded fixtures)."""
    if fault in CHAOS:
        _send("POST", demo.url(service) + "/admin/chaos", CHAOS[fault])
    elif fault == "crash":
        os.killpg(demo[service].proc.pid, signal.SIGKILL)
        demo[service].proc.wait()
    elif fault == "hang":
        os.killpg(demo[service].proc.pid, signal.SIGSTOP)
    elif fault == "unseeded":
        pass  # broken_demo skipped the seed
    elif fault == "data":
        # A reseed gone wrong: a fixture's price and stock are not what the suites expect.
        _send(
            "PUT",
            demo.url("inventory") + "/skus/SKU-1",
            {"name": "Espresso beans 1kg", "price_cents": 2600, "on_hand": 3},
        )
    else:
        raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")


def stagedeck(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stagedeck", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1"},
    )


def failures(recipe: Path, db: Path) -> list[Failure]:
    """``stagedeck failures --json`` of the latest run, with each failure's stored traceback."""
    done = stagedeck("failures", str(recipe), "--db", str(db), "--json")
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)
    tracebacks: dict[tuple[str, str], str] = {}
    if items:
        with Store.open(db, read_only=True) as store:
            for f in store.failures("demo", items[0]["run_id"]):
                tracebacks[(f.result.test_id, f.result.message)] = f.result.traceback
    return [
        Failure(
            f["test_id"],
            f["message"],
            f["signature"],
            f["annotations"],
            f["seen"],
            tracebacks.get((f["test_id"], f["message"]), ""),
        )
        for f in items
    ]


def failing_frame(traceback: str) -> str:
    """What a corpus keeps of a traceback: the last frame from a few lines above its
    ``>`` line, without pytest's ``E`` lines (they repeat the message)."""
    lines = traceback.splitlines()
    marks = [i for i, line in enumerate(lines) if line.startswith(">")]
    if not marks:
        return traceback[-1500:]
    start = marks[-1]
    while start > 0 and lines[start - 1].strip() and start > marks[-1] - 4:
        start -= 1
    return "\n".join(line for line in lines[start:] if not line.startswith("E "))


@contextmanager
def broken_demo(workdir: Path, fault: str, service: str) -> Iterator[tuple[Demo, Path]]:
    """A fresh, seeded demo with ``fault`` injected; its recipe path. Stopped on exit."""
    demo = Demo(log_dir=workdir / "logs")
    demo.start()
    try:
        if fault != "unseeded":
            seed(demo)
        recipe = write_recipe(demo, workdir / "recipe")
        inject(demo, fault, service)
        yield demo, recipe
    finally:
        for running in demo.running.values():
            try:
                os.killpg(running.proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        demo.stop()


def run_once(
    workdir: Path, db: Path, fault: str, service: str, suites: tuple[str, ...] = ()
) -> list[Failure]:
    """One fresh demo, one fault, one ``stagedeck run``; the run's recorded failures."""
    with broken_demo(workdir, fault, service) as (_, recipe):
        done = stagedeck("run", str(recipe), *suites, "--db", str(db), "--json")
        if done.returncode not in (0, 1):
            raise RuntimeError(f"stagedeck run failed ({done.returncode}): {done.stderr[-2000:]}")
        return failures(recipe, db)


SERVICES = ("payments", "inventory", "ledger", "orders", "gateway", "worker")
_STATUS = re.compile(r"(?<![\w.])[1-5]\d\d(?![\w.])")
_EXCEPTION = re.compile(r"\b[A-Z]\w*(?:Error|Exception|Timeout)\b")
_CAUSES = ("timed out", "refused", "injected failure", "unhealthy", "declined", "not found")
_FIRST_DIFF = re.compile(r"diff: (\S+) != (\S+)")


def evidence(failure: dict[str, Any]) -> tuple[object, ...]:
    """What a person reading a failure can tell its cause by, read without any masking:
    the services it names, its status codes, exception types, words for the cause,
    pytest's first differing item and the failing line. Two failures of one test with
    different evidence are different failures; with the same evidence, the test saw
    the same thing (ids, times and counts aside)."""
    from stagedeck.store.signature import failing_line

    text = failure["message"]
    return (
        frozenset(s for s in SERVICES if s in text),
        frozenset(_STATUS.findall(text)),
        frozenset(_EXCEPTION.findall(text)),
        frozenset(c for c in _CAUSES if c in text),
        tuple(m for m in _FIRST_DIFF.findall(text) if all(x.isdigit() for x in m)),
        failing_line(failure["traceback"]),
    )
