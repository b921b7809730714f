"""A small shared environment for the operations tests: local services, seeds, suites, a lease.

The services answer a command health check, so a headless command that
attaches (reseed) finds them healthy without owning them. Realistic enough to exercise every rule: two services where one depends on
the other, a seed that works, one that fails with a real-looking error, one
slow enough to cancel, an ordinary and an exclusive suite; and a colleague
(bob) whose lease names a reason with odd characters.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

from stagedeck.store import AuditEntry, Store

ENV = "ops-env"
BOB_REASON = "load test: 500 rps on /api/orders (ticket #4711 — don't touch)"

FAILING_SEED = (
    "import sys; print('POST /admin/seed -> 409 "
    '{"error":"conflict","request_id":"req-7f3a9c","at":"2026-12-01T18:04:11Z"}\'); '
    "sys.exit(3)"
)

PASSING_SUITE = (
    "import sys; open(sys.argv[1], 'w').write("
    '\'<testsuite name="t" tests="1"><testcase classname="t" name="test_ok"/></testsuite>\')'
)
"""A suite that writes its JUnit report at once, so suites cost no pytest start-up."""


def write_recipe(tmp_path: Path, *, seed: str = "ok", read_only: bool = False) -> Path:
    """``seed``: 'ok', 'fail' (exit 3 with a JSON error body) or 'slow' (sleeps 60 s)."""
    argv = {
        "ok": ["true"],
        "fail": [sys.executable, "-c", FAILING_SEED],
        "slow": ["sleep", "60"],
    }[seed]
    command = "[" + ", ".join(_toml_str(a) for a in argv) + "]"
    suite = (
        "[" + ", ".join(_toml_str(a) for a in ("{python}", "-c", PASSING_SUITE, "{junit}")) + "]"
    )
    path = tmp_path / "recipe.toml"
    path.write_text(
        textwrap.dedent(f"""
        [environment]
        name = "{ENV}"
        read_only = {"true" if read_only else "false"}
        probe_interval = 0.2
        ready_timeout = 10

        [services.api]
        command = ["sleep", "600"]
        health = {{ command = ["true"] }}

        [services.worker]
        command = ["sleep", "600"]
        depends_on = ["api"]

        [seeds.data]
        service = "api"
        command = {command}

        [suites.smoke]
        command = {suite}

        [suites.load]
        command = {suite}
        exclusive = true
        """)
    )
    return path


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def bob_leases(db: Path, ttl: float = 1500) -> None:
    Store.open(db).acquire_lease(ENV, "bob", BOB_REASON, ttl)


def audit(db: Path) -> list[AuditEntry]:
    """Oldest first."""
    return list(reversed(Store.open(db).recent_audit(ENV)))
