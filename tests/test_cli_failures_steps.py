"""`failures` as a table, as tab-separated lines and as JSON; `up` and `reseed` steps on stderr.

Real processes, real SQLite files, a real pseudo-terminal for the terminal forms
(the child's stdout isatty, not a flag), a pipe for the rest.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from stagedeck.store import Store
from support.cli import run_in_pty
from support.envproc import isolated_env
from support.procs import new_marker, wait_until_gone
from test_failure_search import record

SERVICE = Path(__file__).parent / "support" / "services.py"
ENV = "shop ü/[prod]"
OSC_NOTE = "payments pod OOM at 03:12, see INC-4411 [red]\x1b]52;c;ZXZpbA==\x07"


def environ(tmp_path: Path, db: Path, **more: str) -> dict[str, str]:
    env = {
        **os.environ,
        **isolated_env(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "STAGEDECK_DB": str(db),
        "STAGEDECK_TEST_MARKER": new_marker(),
        "USER": "alice",
        "COLUMNS": "100",
        "LINES": "40",
        "TERM": "xterm-256color",
        **more,
    }
    env.pop("NO_COLOR", None)
    return env


def piped(
    env: dict[str, str], *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stagedeck", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=90,
        stdin=subprocess.DEVNULL,
        cwd=cwd,
    )


def in_pty(env: dict[str, str], *args: str, cwd: Path | None = None) -> tuple[int, str]:
    """Every stream a terminal (as a person typing it has): what they would see."""
    return run_in_pty([sys.executable, "-m", "stagedeck", *args], cwd, env)


@pytest.fixture
def shop_db(tmp_path: Path) -> Path:
    """Two runs with realistic failures, a note (with an OSC 52 in it) and a stored suspect."""
    path = tmp_path / "shared.db"
    store = Store.open(path)
    _, second = record(store, ENV)
    refund = next(f for f in store.failures(ENV, second) if f.result.test_id.endswith("refund"))
    assert refund.result.signature and refund.result.id is not None
    store.add_annotation(
        refund.result.signature, refund.result.test_id, ENV, "carol", "infra", OSC_NOTE, None
    )
    store.add_failure_suspects(
        refund.result.id,
        [
            {
                "kind": "service",
                "name": "payments",
                "score": 0.91,
                "fault": "hung",
                "verdict": "hung: 2 health checks timed out since 03:11:58",
                "evidence": [],
            }
        ],
    )
    store.close()
    return path


def test_failures_piped_are_tab_separated_lines_under_a_header(
    tmp_path: Path, shop_db: Path
) -> None:
    done = piped(environ(tmp_path, shop_db), "failures", "--env", ENV)
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split("\t") == [
        "RUN", "SUITE", "TEST", "OUTCOME", "SEEN", "SIGNATURE", "SUSPECT", "NOTES", "MESSAGE",
    ]  # fmt: skip
    cells = [row.split("\t") for row in rows]
    assert all(len(c) == 9 for c in cells), rows  # a message's tabs never shift a column
    by_test = {c[2].rpartition("::")[2]: c for c in cells}
    assert set(by_test) == {"test_checkout[eur-€]", "test_refund", "test_reserve"}
    refund = by_test["test_refund"]
    assert refund[6].startswith("payments — hung")
    assert refund[7].startswith("#1 carol [infra]: payments pod OOM") and "[red]" in refund[7]
    assert refund[8].startswith('AssertionError: expected 201, got 503: {"error"')
    assert by_test["test_checkout[eur-€]"][4] == "2"  # seen in both runs
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout


def test_failures_on_a_terminal_are_a_table_with_notes_and_suspects(
    tmp_path: Path, shop_db: Path
) -> None:
    code, screen = in_pty(environ(tmp_path, shop_db), "failures", "--env", ENV)
    assert code == 0, screen
    assert "┃" in screen and "WHAT IS KNOWN" in screen
    assert "\x1b[" in screen  # colour on a terminal
    words = re.sub(r"\x1b\[[0-9;]*m", "", screen)
    assert "likely cause: payments" in words and "#1 carol [infra]" in words
    assert "[red]" in words  # a note that looks like markup prints as written
    assert "\x1b]" not in screen and "\x07" not in screen  # the OSC 52 never arrives


def test_failures_grep_json_and_piped(tmp_path: Path, shop_db: Path) -> None:
    env = environ(tmp_path, shop_db)
    done = piped(env, "failures", "--env", ENV, "--grep", "rid=9f1c2e7a-41b0", "--json")
    assert done.returncode == 0, done.stderr
    (item,) = json.loads(done.stdout)  # stdout holds the JSON and nothing else
    assert item["run_id"] == 1 and item["seen"] == 2 and item["annotations"] == []
    done = piped(env, "failures", "--env", ENV, "--grep", '"payments unavailable"', "--json")
    (item,) = json.loads(done.stdout)
    assert [a["author"] for a in item["annotations"]] == ["carol"]
    assert item["suspects"][0]["name"] == "payments"
    # Across runs, newest first; then one run only; then nothing: the header alone.
    done = piped(env, "failures", "--env", ENV, "--grep", "timed out")
    assert [r.split("\t")[0] for r in done.stdout.splitlines()[1:]] == ["2", "1"]
    done = piped(env, "failures", "--env", ENV, "--grep", "timed out", "--run", "1")
    assert [r.split("\t")[0] for r in done.stdout.splitlines()[1:]] == ["1"]
    done = piped(env, "failures", "--env", ENV, "--grep", "no-such-words")
    assert done.returncode == 0 and done.stdout.splitlines() == [done.stdout.splitlines()[0]]
    assert "no failures in every run, matching 'no-such-words'" in done.stderr
    code, screen = in_pty(env, "failures", "--env", ENV, "--grep", "connection refused")
    assert code == 0 and "RUN" in screen and "test_reserve" in screen, screen
    bad = piped(env, "failures", "--env", ENV, "--grep", "x", "--limit", "0")
    assert bad.returncode == 2 and "--limit 0" in bad.stderr


RECIPE = """
[environment]
name = "steps shop"
probe_interval = 0.3
seed_on_start = true

[services.db]
command = ["{{python}}", "{service}", "{{self.port}}", "--delay", "1"]
port = "auto"
health = "/"

[services."api-v2"]
command = ["{{python}}", "{service}", "{{self.port}}"]
port = "auto"
health = "/"
depends_on = ["db"]

[seeds.orders]
service = "api-v2"
command = ["{{python}}", "-c", "print('orders loaded')"]
"""


@pytest.mark.slow
def test_up_and_reseed_show_their_steps_on_stderr(tmp_path: Path) -> None:
    recipe = tmp_path / "shop.toml"
    recipe.write_text(textwrap.dedent(RECIPE.format(service=SERVICE)))
    env = environ(tmp_path, tmp_path / "shared.db")
    marker = env["STAGEDECK_TEST_MARKER"]
    up = piped(env, "up", str(recipe))
    try:
        assert up.returncode == 0, up.stderr
        steps = [ln for ln in up.stderr.splitlines() if ln.startswith(("bring-up:", "reseed:"))]
        # Plain lines, in the order things happened: db before api-v2, seeds after both.
        assert steps.index("bring-up: db           running") < steps.index(
            next(s for s in steps if s.startswith("bring-up: db           ok"))
        )
        last_up = max(i for i, s in enumerate(steps) if s.startswith("bring-up: api-v2       ok"))
        assert steps.index(next(s for s in steps if s.startswith("reseed: orders"))) > last_up
        assert steps[-1].startswith("reseed: orders       ok")
        assert "bring-up" not in up.stdout and "is up in the background" in up.stdout
        assert "\x1b[" not in up.stderr  # not a terminal: no drawing

        reseed = piped(env, "reseed", str(recipe), "--yes")
        assert reseed.returncode == 0, reseed.stderr
        assert "reseed: orders       running" in reseed.stderr
        assert reseed.stdout.strip() == "reseed: orders done in " + reseed.stdout.split()[-1]

        code, screen = in_pty(env, "reseed", str(recipe), "--yes")
        assert code == 0, screen
        assert "✓" in screen and "orders" in screen and "\x1b[" in screen
        assert "reseed: orders done in" in screen  # the result, after the live list
    finally:
        down = piped(env, "down", str(recipe), "--yes")
        assert down.returncode == 0, down.stderr
    assert wait_until_gone(marker, timeout=15) == []


@pytest.mark.slow
def test_up_says_which_step_failed_and_exits_1(tmp_path: Path) -> None:
    recipe = tmp_path / "bad.toml"
    crash = 'import sys; print("db: cannot open /var/lib/db: permission denied"); sys.exit(3)'
    text = textwrap.dedent(RECIPE.format(service=SERVICE)).replace(
        '"{python}", "' + str(SERVICE) + '", "{self.port}", "--delay", "1"',
        '"{python}", "-c", ' + json.dumps(crash),
    )
    recipe.write_text(text)
    env = environ(tmp_path, tmp_path / "shared.db")
    marker = env["STAGEDECK_TEST_MARKER"]
    up = piped(env, "up", str(recipe))
    try:
        assert up.returncode == 1, up.stdout + up.stderr
        assert "bring-up: db           failed  crashed: exited with code 3" in up.stderr
        assert "bring-up: api-v2       skipped" in up.stderr
        assert "up, but not healthy: api-v2, db" in up.stderr
    finally:
        piped(env, "down", str(recipe), "--yes")
    assert wait_until_gone(marker, timeout=15) == []
