"""``stagedeck traces`` and the run report's traces, through the real command line.

The report test runs the real demo (``stagedeck run --up``) with payments
failing every request: the report of the run names, for a failed checkout
test, the trace in which payments failed first.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stagedeck.demo import recipe_path, suites_dir
from stagedeck.traces.store import TraceStore
from support.procs import new_marker, wait_until_gone
from support.traces import checkout, receiver


def stagedeck(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stagedeck", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def recipe_on(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "shop.toml"
    path.write_text(
        '[environment]\nname = "shop"\n\n[services.orders]\ncommand = ["true"]\n\n'
        f"[traces]\nport = {port}\n"
    )
    return path


def test_with_nothing_receiving_it_says_so_and_where_spans_go(tmp_path: Path) -> None:
    with receiver() as rx:  # take a free port, then let it go: nothing listens there after
        port = rx.receiver.port
    recipe = recipe_on(tmp_path, port)
    run = stagedeck("traces", str(recipe))
    assert run.returncode == 1 and run.stdout == ""
    assert "is receiving traces" in run.stderr
    assert f"http://127.0.0.1:{port}/v1/traces" in run.stderr
    assert f"http://host.docker.internal:{port}/v1/traces" in run.stderr
    as_json = stagedeck("traces", str(recipe), "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["receiving"] is False


def test_lists_a_test_s_traces_with_a_waterfall_and_as_json(tmp_path: Path) -> None:
    store = TraceStore()
    now = time.time()
    with receiver(store) as rx:
        test = "test_flows.py::test_checkout_pays"
        failed = rx.call(lambda: checkout(store, base=now - 5, fail=True, rid="r-1", test=test))
        rx.call(lambda: checkout(store, base=now - 3, payments_ms=400, rid="r-2"))
        recipe = recipe_on(tmp_path, rx.receiver.port)

        listed = stagedeck("traces", str(recipe))
        assert listed.returncode == 0, listed.stderr
        assert "2 held" in listed.stdout
        assert "took the time: payments" in listed.stdout

        one = stagedeck("traces", str(recipe), "--test", "test_flows::test_checkout_pays")
        assert one.returncode == 0, one.stderr
        assert failed in one.stdout
        assert "failed first: payments" in one.stdout
        assert "✖" in one.stdout and "\x1b" not in one.stdout  # the hostile span name, cleaned
        assert "POST /payments [card=4000…0002] declined" in one.stdout

        data = json.loads(stagedeck("traces", str(recipe), "--min", "300ms", "--json").stdout)
        assert [t["blame"]["slow_service"] for t in data["traces"]] == ["payments"]

        missing = stagedeck("traces", str(recipe), "--trace", secrets.token_hex(16))
        assert missing.returncode == 1 and "no such trace" in missing.stderr


@pytest.mark.slow
def test_the_report_of_a_failed_run_names_the_failing_trace(tmp_path: Path) -> None:
    marker = new_marker()
    recipe = tmp_path / "broken-payments.toml"
    # Payments fails every request; a suite-owned SKU, so no seed (it would fail too) is needed.
    recipe.write_text(
        f'include = ["{recipe_path()}"]\n\n'
        "[services.payments]\n"
        "env = { STAGEDECK_CHAOS = '{\"error_rate\": 1.0}' }\n\n"
        "[suites.checkout]\n"
        f'command = ["{{python}}", "-m", "pytest", "-q", '
        f'"{suites_dir()}/test_flows.py::test_the_last_item_is_sold_once", "--junitxml={{junit}}"]\n'
        'env = { GATEWAY_URL = "{service.gateway.url}", PYTEST_DISABLE_PLUGIN_AUTOLOAD = "1" }\n'
        'depends_on = ["gateway"]\n'
    )
    db = tmp_path / "shared.db"
    env = {"STAGEDECK_TEST_MARKER": marker, "STAGEDECK_STATE_DIR": str(tmp_path / "state")}
    try:
        run = stagedeck(
            "run",
            str(recipe),
            "checkout",
            "--up",
            "--free-ports",
            "--db",
            str(db),
            env=env,
            timeout=240,
        )
    finally:
        assert wait_until_gone(marker, timeout=10) == []
    assert run.returncode != 0, run.stdout + run.stderr
    report = stagedeck("report", str(recipe), "--db", str(db))
    assert report.returncode == 0, report.stderr
    text = report.stdout
    section = text[text.index("test_the_last_item_is_sold_once") :]
    section = section[: section.find("\n### ")] if "\n### " in section else section
    assert "failed first: payments" in section, text
