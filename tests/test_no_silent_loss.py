"""No silent loss, no orphans, no stuck records (issue 18).

Real files, real processes: a database SQLite cannot write (opened read-only,
or made immutable with chattr where we may), a run killed with SIGKILL while
its suite runs, and the spool that keeps what the store could not take.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from stagedeck.store import Store
from stagedeck.store.spool import pending, replay, spool_run
from support.cli import run_cli
from support.procs import marked_pids, new_marker, wait_until_gone

JUNIT = (
    'import sys; open(sys.argv[1], \'w\').write(\'<testsuite name="s" tests="2">'
    '<testcase classname="t" name="ok"/>'
    '<testcase classname="t" name="bad"><failure message="boom rid=req-1">trace</failure></testcase>'
    "</testsuite>')"
)


def recipe(tmp_path: Path, suite: str = "") -> Path:
    path = tmp_path / "r.toml"
    suite = suite or f'command = ["{{python}}", "-c", {json.dumps(JUNIT)}, "{{junit}}"]'
    path.write_text(
        textwrap.dedent(
            """
            [environment]
            name = "loss"
            [services.a]
            command = ["sleep", "600"]
            [suites.s]
            """
        )
        + suite
        + "\n"
    )
    return path


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(tmp_path, *args)


def _chattr(path: Path, flag: str) -> bool:
    if shutil.which("chattr") is None:
        return False
    done = subprocess.run(["chattr", flag, str(path)], capture_output=True, check=False)
    return done.returncode == 0


def test_run_on_an_immutable_database_says_so_keeps_the_run_and_saves_it_later(
    tmp_path: Path,
) -> None:
    db = tmp_path / "shared.db"
    r = recipe(tmp_path)
    first = cli(tmp_path, "run", str(r), "--db", str(db))
    assert first.returncode == 1 and "run 1 saved" in first.stdout
    Store.open(db).close()  # the WAL checkpointed: the file alone is the database
    if not _chattr(db, "+i"):
        pytest.skip("chattr +i is not available here (needs root on ext4/tmpfs)")
    try:
        blocked = cli(tmp_path, "run", str(r), "--db", str(db))
    finally:
        _chattr(db, "-i")
    # One verdict, not "saved" on stdout and "not saved" on stderr; not success.
    assert blocked.returncode == 1
    assert "saved to" not in blocked.stdout
    assert "results not saved" in blocked.stderr and "kept in" in blocked.stderr
    spooled = pending(db)
    assert len(spooled) == 1
    payload = json.loads(spooled[0].read_text())
    assert [r["test_id"] for r in payload["suites"][0]["results"]] == ["t::ok", "t::bad"]
    # Writable again: the next command that opens the store saves the spooled run.
    after = cli(tmp_path, "failures", "--env", "loss", "--db", str(db), "--json")
    assert after.returncode == 0, after.stderr
    assert "saved run 2 kept in the spool" in after.stderr
    assert [f["test_id"] for f in json.loads(after.stdout)] == ["t::bad"]
    assert json.loads(after.stdout)[0]["run_id"] == 2
    assert pending(db) == []


def test_a_read_only_store_is_reported_and_spooled_not_dropped(tmp_path: Path) -> None:
    """The same path without root: the store opened read-only, as a full or immutable file is."""
    import asyncio

    from stagedeck.engine.engine import Engine
    from stagedeck.recipe.model import load_recipe
    from stagedeck.suites.recording import run_and_record
    from stagedeck.suites.runner import SuiteRunner

    os.environ["XDG_STATE_HOME"] = str(tmp_path / "state")
    db = tmp_path / "shared.db"
    Store.open(db).close()
    rec = load_recipe(recipe(tmp_path))

    async def main() -> object:
        engine = Engine(rec, attach=True)
        store = Store.open(db, read_only=True)
        try:
            return await run_and_record(
                engine, SuiteRunner(rec, workdir=tmp_path / "w"), ["s"], store, "alice"
            )
        finally:
            store.close()

    record = asyncio.run(main())
    assert not record.saved  # type: ignore[attr-defined]
    note = record.storage_note()  # type: ignore[attr-defined]
    assert "results not saved" in note and "read-only" in note and "kept in" in note
    with Store.open(db) as store:
        done = replay(store)
        assert done.problems == [] and done.runs == [1]
        assert [f.result.test_id for f in store.failures("loss", 1)] == ["t::bad"]
        assert store.run(1) is not None and store.run(1).outcome == "failed"  # type: ignore[union-attr]


def test_spool_falls_back_to_the_state_dir_and_names_what_it_cannot_read(tmp_path: Path) -> None:
    os.environ["XDG_STATE_HOME"] = str(tmp_path / "state")
    (tmp_path / "ro").mkdir()
    db = tmp_path / "ro" / "shared.db"
    (tmp_path / "ro" / "shared.db.spool").write_text("a file where the spool directory goes")
    path = spool_run(
        db, environment="e", user="u", recipe_path="r", target="local", outcome="passed", suites=[]
    )
    assert path is not None and str(tmp_path / "state") in str(path)
    (path.parent / "run-0-garbage.json").write_text("{not json")
    with Store.open(db) as store:
        done = replay(store)
    assert done.runs == [1]
    assert len(done.problems) == 1 and "run-0-garbage.json" in done.problems[0]


def test_sigkill_mid_suite_kills_the_suite_and_the_run_becomes_interrupted(
    tmp_path: Path,
) -> None:
    marker = new_marker()
    db = tmp_path / "shared.db"
    started = tmp_path / "suite-started"
    r = recipe(
        tmp_path,
        f'command = ["{{python}}", "-c", "import time; open({str(started)!r}, \'w\'); time.sleep(120)"]',
    )
    env = {
        **os.environ,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "STAGEDECK_TEST_MARKER": marker,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "stagedeck", "run", str(r), "--db", str(db)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not started.exists():
            assert time.monotonic() < deadline, "the suite did not start"
            time.sleep(0.05)
        suite_pids = [p for p in marked_pids(marker) if p != proc.pid]
        assert suite_pids
        with Store.open(db) as store:
            assert store.runs("loss")[0].outcome is None  # running, and its process is alive
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # The suite's process group goes with it (the watchdog), like services do.
        assert wait_until_gone(marker, timeout=10) == []
    finally:
        if proc.poll() is None:
            proc.kill()
    # Whoever opens the store next finishes the dead run.
    with Store.open(db) as store:
        run = store.runs("loss")[0]
        assert run.outcome == "interrupted" and run.ended is not None


async def test_an_annotation_the_store_refuses_is_spooled_and_saved_later(tmp_path: Path) -> None:
    """In the cockpit: the database turns read-only between opening and saving a note."""
    from stagedeck.store.shared import SharedState
    from stagedeck.store.spool import pending, spool_annotation

    os.environ["XDG_STATE_HOME"] = str(tmp_path / "state")
    db = tmp_path / "shared.db"
    Store.open(db).close()
    with Store.open(db, read_only=True) as ro:
        from stagedeck.store import StoreError

        with pytest.raises(StoreError):
            ro.add_annotation(
                "sig", "t::x", "env", "alice", "bug", "the note typed at 3 a.m.", None
            )
        kept = spool_annotation(
            db, signature="sig", test_id="t::x", environment="env", author="alice",
            tag="bug", note="the note typed at 3 a.m.", link=None,
        )  # fmt: skip
        assert kept is not None and pending(db) == [kept]
    shared = SharedState(None, "env", "bob", db_path=db)
    await shared.connect()
    try:
        assert shared.store is not None
        notes = shared.store.annotations_for("sig")
        assert [(n.author, n.note) for n in notes] == [("alice", "the note typed at 3 a.m.")]
        assert pending(db) == []
    finally:
        if shared.store is not None:
            shared.store.close()


async def test_the_cockpit_keeps_a_note_the_file_refuses_and_says_where(tmp_path: Path) -> None:
    """The file turns immutable after the cockpit opened it: the typed note is spooled."""
    from stagedeck.store.spool import pending
    from stagedeck.tui.screens.forms import AnnotateScreen
    from stagedeck.tui.screens.suites import SuitesScreen
    from support.wait import wait_until
    from test_tui_shared import make_app  # the shared-cockpit pilot fixture

    os.environ["XDG_STATE_HOME"] = str(tmp_path / "state")
    app = make_app(tmp_path)
    db = app.shared.store.path  # type: ignore[union-attr]
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5")
        screen = app.screen
        assert isinstance(screen, SuitesScreen)
        await pilot.press("t")
        await wait_until(lambda: screen.selected_failure is not None, pilot=pilot)
        # The open connection writes to the -wal file: make all three immutable.
        files = [p for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]
        if not all(_chattr(p, "+i") for p in files):
            for p in files:
                _chattr(p, "-i")
            pytest.skip("chattr +i is not available here (needs root)")
        try:
            await pilot.press("a")
            assert isinstance(app.screen, AnnotateScreen)
            await pilot.press(*"fixtures not loaded", "enter")
            await wait_until(lambda: bool(pending(db)), timeout=15, pilot=pilot)
        finally:
            for p in files:
                _chattr(p, "-i")
        await wait_until(
            lambda: any("annotation not saved" in n.message for n in app._notifications),
            pilot=pilot,
        )
        said = next(n.message for n in app._notifications if "annotation not saved" in n.message)
        assert "kept in" in said and "fixtures not loaded" in said
    payload = json.loads(pending(db)[0].read_text())
    assert payload["kind"] == "annotation" and payload["note"] == "fixtures not loaded"
