"""The demo's seed and its pytest suites, run the way the cockpit runs them.

A seeded demo must pass both suites; with payments failing every request,
some tests must fail (and some still pass): that is what makes the demo
useful for showing failure correlation in the cockpit.
"""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stagedeck.demo import recipe_path
from stagedeck.demo.launch import Demo, free_port
from stagedeck.recipe.model import load_recipe
from stagedeck.recipe.placeholders import fill
from support.procs import new_marker, wait_until_gone


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    marker = new_marker()
    logs = tmp_path_factory.mktemp("demo-logs")
    with Demo(env={"STAGEDECK_TEST_MARKER": marker}, log_dir=logs) as running:
        yield running
    assert wait_until_gone(marker, timeout=3) == []


@functools.cache
def client() -> httpx.Client:
    return httpx.Client(timeout=10)


def seed(demo: Demo, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stagedeck.demo.seed", "--gateway", demo.url("gateway"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def snapshot(demo: Demo) -> dict[str, Any]:
    """Everything the seed wrote, minus what differs by nature (times, journal order)."""
    base = demo.url("gateway")
    per_run = ("created_at", "updated_at", "rid")  # the seed makes up a new request id
    per_entry = ("at", "id", "rid")  # the worker books revenue whenever it gets there
    orders = client().get(f"{base}/api/orders").json()
    ledger = {
        o["id"]: sorted(
            tuple(sorted((k, v) for k, v in e.items() if k not in per_entry))
            for e in client().get(f"{base}/api/orders/{o['id']}/ledger").json()
        )
        for o in orders
    }
    return {
        "inventory": client().get(f"{base}/api/inventory").json(),
        "orders": [{k: v for k, v in o.items() if k not in per_run} for o in orders],
        "ledger": ledger,
    }


def run_suite(demo: Demo, name: str, tmp_path: Path) -> tuple[int, dict[str, int], str]:
    """Run a suite with the recipe's own command; return exit code, JUnit counts, output."""
    suite = load_recipe(recipe_path()).suites[name]
    junit = tmp_path / f"{name}.xml"
    command = [fill(arg, {"junit": str(junit)}) for arg in suite.command]
    env = {**os.environ, **suite.env, "GATEWAY_URL": demo.url("gateway")}
    proc = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    root = ET.parse(junit).getroot()
    suites = [root] if root.tag == "testsuite" else list(root)
    counts = {
        key: sum(int(s.get(key, 0)) for s in suites) for key in ("tests", "failures", "errors")
    }
    return proc.returncode, counts, proc.stdout + proc.stderr


def test_seeding_twice_gives_identical_data(demo: Demo) -> None:
    first = seed(demo)
    assert first.returncode == 0, first.stderr
    assert "seed: verified 8 SKUs, 4 orders" in first.stdout
    before = snapshot(demo)
    client().post(
        f"{demo.url('gateway')}/api/orders", json={"customer": "x", "sku": "SKU-1", "qty": 1}
    )
    second = seed(demo)
    assert second.returncode == 0, second.stderr
    assert snapshot(demo) == before
    assert len(before["inventory"]) == 8
    assert [o["status"] for o in before["orders"]] == [
        "fulfilled",
        "fulfilled",
        "declined",
        "fulfilled",
    ]
    assert seed(demo, "--verify").returncode == 0


def test_verify_reports_drift_and_reseeding_fixes_it(demo: Demo) -> None:
    assert seed(demo).returncode == 0
    gateway = demo.url("gateway")
    client().put(
        f"{gateway}/api/inventory/EXTRA", json={"name": "x", "price_cents": 1, "on_hand": 1}
    )
    client().post(f"{gateway}/api/orders", json={"customer": "x", "sku": "SKU-1", "qty": 1})
    drifted = seed(demo, "--verify")
    assert drifted.returncode == 1
    assert "SKU EXTRA is not a fixture" in drifted.stderr
    assert "5 orders, expected 4" in drifted.stderr
    assert seed(demo).returncode == 0
    assert seed(demo, "--verify").returncode == 0


def test_seed_says_when_the_gateway_is_unreachable() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "stagedeck.demo.seed", "--verify"],
        env={**os.environ, "GATEWAY_URL": f"http://127.0.0.1:{free_port()}"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "cannot reach" in proc.stderr and "is the gateway up?" in proc.stderr


def test_both_suites_pass_against_a_seeded_demo(demo: Demo, tmp_path: Path) -> None:
    assert seed(demo).returncode == 0
    for name in ("api", "flows"):
        code, counts, output = run_suite(demo, name, tmp_path)
        assert code == 0, output
        assert counts["tests"] >= 8 and counts["failures"] == counts["errors"] == 0, output


def test_suites_fail_when_payments_fail(demo: Demo, tmp_path: Path) -> None:
    assert seed(demo).returncode == 0
    payments = f"{demo.url('payments')}/admin/chaos"
    assert client().post(payments, json={"error_rate": 1.0}).status_code == 200
    try:
        results = {name: run_suite(demo, name, tmp_path) for name in ("api", "flows")}
    finally:
        client().post(payments, json={"error_rate": 0})
    for code, _, output in results.values():
        assert code == 1, output
    # Some fail, not all: validation and health do not involve payments.
    failures = sum(counts["failures"] for _, counts, _ in results.values())
    tests = sum(counts["tests"] for _, counts, _ in results.values())
    assert 0 < failures < tests
