"""One environment, many viewers, as people use it: cockpits in real terminals (tmux).

Two people on one host, each in their own tmux server, watch the same demo.
The first one's `stagedeck demo` starts the environment process; the second's
`stagedeck open` on the same recipe attaches to it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from stagedeck.demo import recipe_path
from stagedeck.store import Store
from support.envproc import isolated_env
from support.procs import marked_pids, new_marker, wait_until_gone
from support.tmux import Terminal, have_tmux

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.slow,
    pytest.mark.skipif(not have_tmux(), reason="tmux is not installed (Debian package: tmux)"),
]


def base_env(tmp_path: Path, marker: str) -> dict[str, str]:
    return {
        "STAGEDECK_TEST_MARKER": marker,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "STAGEDECK_DB": str(tmp_path / "shared.db"),
        **isolated_env(tmp_path, grace=1.0),
    }


def cockpit(tmp_path: Path, env: dict[str, str], user: str, *args: str) -> Terminal:
    return Terminal(
        [sys.executable, "-m", "stagedeck", *args],
        width=140,
        height=40,
        env={**env, "USER": user},
        cwd=tmp_path,
    )


def all_healthy(screen: str) -> bool:
    return screen.count("● healthy") >= 6 and "6/6 healthy" in screen


def announcement(env: dict[str, str]) -> dict[str, object]:
    registry = Path(env["STAGEDECK_REGISTRY"])
    files = list(registry.glob("*.json"))
    assert len(files) == 1, files
    return dict(json.loads(files[0].read_text()))


def ports_of(env: dict[str, str], user: str) -> dict[str, int]:
    """The environment's ports, asked of it the way any attached command asks."""
    saved = dict(os.environ)
    os.environ.update(env)
    os.environ["USER"] = user
    try:
        from stagedeck.envproc.client import connect
        from stagedeck.recipe.model import load_recipe

        async def ask() -> dict[str, int]:
            conn = await connect(load_recipe(recipe_path()), user=user, role="cli")
            assert conn is not None
            await conn.close()
            return {str(k): int(v) for k, v in conn.hello["ports"].items()}

        return asyncio.run(ask())
    finally:
        os.environ.clear()
        os.environ.update(saved)


def first_seen(terms: list[Terminal], text: str, timeout: float) -> list[float]:
    """When ``text`` first showed in each terminal (monotonic), polling them in turn."""
    seen: list[float | None] = [None] * len(terms)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and None in seen:
        for i, term in enumerate(terms):
            if seen[i] is None and text in term.screen():
                seen[i] = time.monotonic()
        time.sleep(0.02)
    assert None not in seen, f"{text!r} not seen in every cockpit: {seen}"
    return [s for s in seen if s is not None]


def test_two_cockpits_one_environment(tmp_path: Path) -> None:
    marker = new_marker()
    env = base_env(tmp_path, marker)
    alice = cockpit(tmp_path, env, "alice", "demo", "--free-ports")
    bob: Terminal | None = None
    try:
        alice.wait_for(all_healthy, timeout=40)
        # Bob opens the same recipe: no flag, he attaches. No false outage on the way.
        bob = cockpit(tmp_path, env, "bob", "open", str(recipe_path()))
        screens: list[str] = []

        def healthy_and_record(screen: str) -> bool:
            screens.append(screen)
            return all_healthy(screen)

        bob.wait_for(healthy_and_record, timeout=20)
        # He is told what he attached to, and who else watches.
        bob.wait_for(lambda s: "attached to the" in s and "(watching: alice)" in s, timeout=5)
        assert not any("● down" in s or "in use by another process" in s for s in screens)
        owner = announcement(env)
        pids_before = set(marked_pids(marker))

        # The same log line reaches both within a second of each other. Notifications
        # (bring-up, seeding, "attached to …") are drawn over the right of the log pane
        # and hide the end of a line from capture-pane: let them time out first, or the
        # test measures how long a toast stays up rather than when the line arrived.
        for term in (alice, bob):
            term.wait_for(lambda s: "▌" not in s, timeout=15)
        ports = ports_of(env, "carol")
        token = f"tok{uuid.uuid4().hex[:10]}"
        started = time.monotonic()
        urllib.request.urlopen(
            f"http://127.0.0.1:{ports['ledger']}/balance?seen={token}", timeout=5
        ).read()
        when = first_seen([alice, bob], token, timeout=10)
        assert abs(when[0] - when[1]) <= 1.0, when
        assert max(when) - started < 3.0

        # A redeploy from bob is seen by both, and audited once.
        bob.send("j", "j")  # payments
        bob.send("r")
        bob.wait_for("Redeploy payments?", timeout=5)
        bob.send("y")
        for term in (alice, bob):
            term.wait_for(
                lambda s: (
                    any(
                        "payments" in ln and "● healthy" in ln and " 1 " in ln
                        for ln in s.splitlines()
                    )
                    and "6/6 healthy" in s
                ),
                timeout=30,
            )
        store = Store.open(tmp_path / "shared.db")
        redeploys = [a for a in store.recent_audit("demo") if a.action == "redeploy"]
        assert len(redeploys) == 1, redeploys
        assert redeploys[0].user == "bob" and redeploys[0].outcome == "ok"

        # A suite run from a third shell records the environment's log lines as context.
        # The demo starts seeded and healthy, so make payments fail every request: the
        # suite then fails with the environment's own log lines behind each failure.
        chaos = urllib.request.Request(
            f"http://127.0.0.1:{ports['payments']}/admin/chaos",
            data=json.dumps({"error_rate": 1.0}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        urllib.request.urlopen(chaos, timeout=5).read()
        run = subprocess.run(
            [sys.executable, "-m", "stagedeck", "run", str(recipe_path()), "api"],
            env={**os.environ, **env, "USER": "carol"},
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
        )
        assert "attached to the environment process" in run.stderr, run.stderr
        failures = store.failures("demo")
        assert failures, run.stdout + run.stderr
        context = [
            item
            for f in failures
            if f.result.id is not None
            for item in store.failure_context(f.result.id)
        ]
        assert any(item.kind == "log" for item in context), context

        # Alice leaves: bob still watches a running environment (well past the grace period).
        alice.send("q")
        alice.wait_for(lambda s: "SERVICE" not in s, timeout=15)
        time.sleep(3.0)
        screen = bob.screen()
        assert all_healthy(screen), screen
        assert os.path.exists(f"/proc/{owner['pid']}")
        services = [p for p in pids_before if p != owner["pid"]]
        assert len([p for p in services if os.path.exists(f"/proc/{p}")]) >= 6

        # The environment process dies hard: no orphans, and bob is told at once.
        killed = time.monotonic()
        os.kill(int(str(owner["pid"])), signal.SIGKILL)
        bob.wait_for(
            # Nobody vouches for the old health any more: no service shows healthy.
            lambda s: "environment process gone" in s and "● healthy" not in s,
            timeout=2.0,
            interval=0.05,
        )
        assert time.monotonic() - killed < 2.0
        service_pids = {
            int(p)
            for p in json.loads(
                next(Path(env["XDG_STATE_HOME"]).rglob("*.pids.json")).read_text()
            ).values()
        }
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(
            os.path.exists(f"/proc/{p}") for p in service_pids
        ):
            time.sleep(0.1)
        assert not [p for p in service_pids if os.path.exists(f"/proc/{p}")]

        # Bob may start it again from his cockpit.
        bob.send("C-r")
        bob.wait_for(lambda s: all_healthy(s) and "process gone" not in s, timeout=40)
        assert announcement(env)["pid"] != owner["pid"]
        # Stopping it is explicit, confirmed, and audited.
        bob.send("C-x")
        bob.wait_for(lambda s: "Stop the environment demo?" in s and "Nobody else" in s, 5)
        bob.send("y")
        bob.wait_for("environment stopped (stopped by bob)", timeout=20)
        downs = [a for a in store.recent_audit("demo") if a.action == "down"]
        assert [(a.user, a.outcome) for a in downs] == [("bob", "ok")]
        bob.send("q")
        bob.wait_for(lambda s: "SERVICE" not in s, timeout=15)
    finally:
        alice.close()
        if bob is not None:
            bob.close()
    assert wait_until_gone(marker, timeout=20) == []
