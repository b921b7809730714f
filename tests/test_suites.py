"""SuiteRunner against real processes: pytest with live progress, other JUnit producers,
locks, cancel and timeout (leaving no process behind), broken reports."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest

from stagedeck.recipe.model import load_recipe
from stagedeck.suites.runner import SuiteProgress, SuiteRunner, SuiteState, nodeid_to_test_id
from support.procs import marked_pids, new_marker, wait_until_gone

PYTEST_SUITE = """
import time

def test_ok():
    assert 1 + 1 == 2

def test_fails():
    assert {"status": "declined"} == {"status": "ok"}, "payment declined for order 42"

def test_slowish():
    time.sleep(0.3)

import pytest

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass
"""

TAP_RUNNER = r"""#!/bin/sh
echo "ok 1 - creates order"
echo "not ok 2 - refunds order"
cat > "$1" <<XML
<testsuites><testsuite name="tap" tests="2">
<testcase classname="shop" name="creates order" time="0.01"/>
<testcase classname="shop" name="refunds order" time="0.02"><failure message="refund was 0">expected 10
got 0</failure></testcase>
</testsuite></testsuites>
XML
"""


def make_recipe(tmp_path: Path, marker: str) -> Path:
    (tmp_path / "test_shop.py").write_text(PYTEST_SUITE)
    runner = tmp_path / "tap.sh"
    runner.write_text(TAP_RUNNER)
    runner.chmod(0o755)
    sleeper = '["{python}", "-c", "import subprocess,sys,time; subprocess.Popen([sys.executable, \'-c\', \'import time; time.sleep(600)\']); time.sleep(600)"]'
    text = textwrap.dedent(f"""
        [environment]
        name = "suites"

        [suites.shop]
        command = ["{{python}}", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_shop.py", "--junitxml={{junit}}"]
        cwd = "{tmp_path}"

        [suites.tap]
        command = ["{runner}", "{{junit}}"]

        [suites.nojunit]
        command = ["{{python}}", "-c", "print('I forgot the report')"]

        [suites.badxml]
        command = ["/bin/sh", "-c", "echo '<testsuite><testcase' > $STAGEDECK_JUNIT"]

        [suites.hang]
        command = {sleeper}
        timeout = 1
        env = {{ STAGEDECK_TEST_MARKER = "{marker}" }}

        [suites.cancel_me]
        command = {sleeper}
        env = {{ STAGEDECK_TEST_MARKER = "{marker}" }}
        """)
    for name, locks in (("l1", ["db"]), ("l2", ["db", "queue"]), ("l3", ["queue"])):
        text += textwrap.dedent(f"""
            [suites.{name}]
            command = ["{{python}}", "-c", "import time; time.sleep(0.4)"]
            locks = {locks!r}
            junit = "{tmp_path}/none.xml"
            """).replace("'", '"')
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return path


@pytest.fixture
def marker() -> str:
    return new_marker()


@pytest.fixture
def runner(tmp_path: Path, marker: str) -> SuiteRunner:
    recipe = load_recipe(make_recipe(tmp_path, marker))
    return SuiteRunner(recipe, workdir=tmp_path / "work")


async def test_pytest_suite_with_live_progress(runner: SuiteRunner) -> None:
    seen: list[tuple[str, int, int, str]] = []

    def on_change(p: SuiteProgress) -> None:
        seen.append((p.state.value, p.done, p.total, p.current))

    runner.on_change = on_change
    progress = await runner.run("shop")
    assert progress.state is SuiteState.FAILED
    assert (progress.passed, progress.failed, progress.skipped, progress.total) == (2, 1, 1, 4)
    # The plugin reported while the suite ran: the total, then tests one by one.
    running = [s for s in seen if s[0] == "running"]
    assert any(total == 4 and done == 0 for _, done, total, _ in running)
    assert any(current == "test_slowish" for *_, current in running)
    failed = next(c for c in progress.cases if c.outcome == "failed")
    assert failed.test_id == "test_shop::test_fails"
    assert "payment declined for order 42" in failed.message
    assert "assert" in failed.traceback
    start, end = progress.windows[failed.test_id]
    assert start <= end
    assert progress.output_path is not None and "1 failed" in progress.output_path.read_text()
    assert "failed: 2 passed, 1 failed, 1 skipped" in progress.describe()


async def test_non_pytest_junit_producer(runner: SuiteRunner) -> None:
    progress = await runner.run("tap")
    assert progress.state is SuiteState.FAILED
    assert [(c.test_id, c.outcome) for c in progress.cases] == [
        ("shop::creates order", "passed"),
        ("shop::refunds order", "failed"),
    ]
    assert progress.cases[1].message == "refund was 0"


async def test_missing_and_broken_reports_are_errors(runner: SuiteRunner) -> None:
    missing = await runner.run("nojunit")
    assert missing.state is SuiteState.ERROR
    assert "no JUnit report was written" in missing.detail and "junit.xml" in missing.detail
    assert "I forgot the report" in "\n".join(missing.output)  # output is kept
    broken = await runner.run("badxml")
    assert broken.state is SuiteState.ERROR and "not valid JUnit XML" in broken.detail


async def test_timeout_kills_the_whole_group(runner: SuiteRunner, marker: str) -> None:
    progress = await runner.run("hang")
    assert progress.state is SuiteState.ERROR
    assert "timed out after 1s" in progress.detail
    assert wait_until_gone(marker, timeout=5) == []


async def test_cancel_kills_the_whole_group(runner: SuiteRunner, marker: str) -> None:
    task = runner.start("cancel_me")
    for _ in range(100):
        if len(marked_pids(marker)) >= 2:
            break
        await asyncio.sleep(0.05)
    assert len(marked_pids(marker)) >= 2
    assert runner.cancel("cancel_me")
    progress = await task
    assert progress.state is SuiteState.CANCELLED
    assert wait_until_gone(marker, timeout=5) == []


async def test_locks_keep_sharing_suites_apart(runner: SuiteRunner) -> None:
    waiting: dict[str, str] = {}

    def on_change(p: SuiteProgress) -> None:
        if p.state is SuiteState.WAITING:
            waiting[p.suite] = p.waiting_for

    runner.on_change = on_change
    results = await runner.run_many(["l1", "l2", "l3"])
    spans = {p.suite: (p.started, p.finished) for p in results}

    def overlap(a: str, b: str) -> bool:
        return spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]

    assert not overlap("l1", "l2")  # share db
    assert not overlap("l2", "l3")  # share queue
    assert overlap("l1", "l3")  # share nothing: run together
    assert "l2" in waiting and "held by" in waiting["l2"]


def test_nodeid_mapping_matches_junit() -> None:
    assert nodeid_to_test_id("suites/test_api.py::TestX::test_y[1]") == (
        "suites.test_api.TestX::test_y[1]"
    )
    assert nodeid_to_test_id("test_shop.py::test_fails") == "test_shop::test_fails"
