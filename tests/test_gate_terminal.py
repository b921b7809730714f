"""A failure scenario from the real cockpit in a real terminal (tmux), and its figures.

The demo comes up, ``X`` picks a scenario, the confirmation names the fault,
and the cockpit shows the service in trouble, the scenario's verdict, and all
healthy again; the audit log (Activity) holds the fault. Printed: how long
from confirming the fault to the screen showing it, and from its lifting to
6/6 healthy on screen (recorded in bench/RESULTS.md).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from stagedeck.store import Store
from support.procs import new_marker, wait_until_gone
from support.tmux import Terminal, have_tmux

pytestmark = [
    pytest.mark.slow,
    pytest.mark.tmux,
    pytest.mark.skipif(not have_tmux(), reason="tmux is not installed (Debian package: tmux)"),
]


def test_a_scenario_from_the_cockpit(tmp_path: Path) -> None:
    marker = new_marker()
    with Terminal(
        [sys.executable, "-m", "stagedeck", "demo", "--free-ports"],
        width=120,
        height=40,
        env={
            "STAGEDECK_TEST_MARKER": marker,
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "STAGEDECK_DB": str(tmp_path / "shared.db"),
            "STAGEDECK_STATE_DIR": str(tmp_path / "state"),
            "USER": "alice",
        },
        cwd=tmp_path,
    ) as term:
        term.wait_for(lambda s: "6/6 healthy" in s, timeout=30)
        term.send("X")
        term.wait_for("Rehearse a failure scenario", timeout=5)
        term.send("Down", "Enter")  # inventory-frozen
        term.wait_for("Run scenario inventory-frozen: pause inventory for 15s?", timeout=5)
        term.send("y")
        confirmed = time.monotonic()
        term.wait_for(
            lambda s: any(
                "inventory" in ln and ("degraded" in ln or "down" in ln) for ln in s.splitlines()
            ),
            timeout=10,
            interval=0.02,
        )
        shown = time.monotonic() - confirmed
        term.wait_for("fault lifted", timeout=30, interval=0.02)
        lifted = time.monotonic()
        term.wait_for(lambda s: "6/6 healthy" in s, timeout=15, interval=0.02)
        healthy = time.monotonic() - lifted
        screen = term.wait_for("expectations NOT met", timeout=30)
        assert "gateway" in screen
        print(f"\nfault confirmed -> shown in the cockpit: {shown:.2f} s")
        print(f"fault lifted (notice on screen) -> 6/6 healthy on screen: {healthy:.2f} s")
        term.send("8")
        screen = term.wait_for("dependents fail within 1s", timeout=5)
        assert "scenario inventory-frozen: expectations NOT met" in screen
        term.send("q")
    assert wait_until_gone(marker) == []
    store = Store.open(tmp_path / "shared.db")
    (fault,) = [e for e in store.recent_audit("demo", 50) if e.action == "fault pause"]
    assert fault.user == "alice" and fault.outcome == "ok" and fault.services == ("inventory",)
    runs = store.runs("demo", limit=5)
    result = store.scenario_result(runs[0].id)
    assert result is not None and result["scenario"] == "inventory-frozen" and not result["ok"]
