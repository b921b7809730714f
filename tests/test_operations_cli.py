"""Every mutating command honours the core's rules: read-only, a colleague's lease, audit.

The commands run in-process through ``main()`` (the console script's entry
point), and once as a real subprocess interrupted with SIGINT, to prove an
interrupted action is recorded as cancelled rather than running forever.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stagedeck.cli.main import main
from stagedeck.store import Store
from support.operations import BOB_REASON, ENV, audit, bob_leases, write_recipe

# The local commands: (argv after the recipe, audit action)
LOCAL = {
    "up": (["up", "{recipe}", "--headless", "--yes"], "bring-up"),
    "reseed": (["reseed", "{recipe}", "--yes"], "reseed"),
    "run exclusive": (["run", "{recipe}", "load"], "run load"),
}


def argv(template: list[str], recipe: Path, db: Path, *extra: str) -> list[str]:
    args = [a.format(recipe=recipe) for a in template]
    return [*args, "--db", str(db), "--user", "alice", *extra]


@pytest.mark.parametrize("name", list(LOCAL))
def test_local_command_under_a_lease_is_refused_then_forced_and_audited(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe, db = write_recipe(tmp_path), tmp_path / "shared.db"
    template, action = LOCAL[name]
    bob_leases(db)

    assert main(argv(template, recipe, db)) == 1
    err = capsys.readouterr().err
    assert f"{action} refused: leased by bob for 2" in err and BOB_REASON in err
    assert "--force" in err
    assert audit(db) == []

    assert main(argv(template, recipe, db, "--force")) == 0, capsys.readouterr()
    (entry,) = audit(db)
    assert (entry.action, entry.user, entry.forced, entry.outcome) == (action, "alice", True, "ok")
    assert entry.ended is not None
    assert BOB_REASON in entry.details["overrode_lease"]
    assert Store.open(db).current_lease(ENV).owner == "bob"  # forcing an action keeps bob's lease


@pytest.mark.parametrize("name", list(LOCAL))
def test_local_command_read_only_is_refused(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe, db = write_recipe(tmp_path), tmp_path / "shared.db"
    template, action = LOCAL[name]
    assert main(argv(template, recipe, db, "--force", "--read-only")) == 1
    assert f"{action} refused: this cockpit is read-only (--read-only)" in capsys.readouterr().err
    ro_recipe = write_recipe(tmp_path, read_only=True)
    assert main(argv(template, ro_recipe, db, "--force")) == 1
    assert "read_only = true in the recipe" in capsys.readouterr().err
    assert audit(db) == []


def test_unforced_commands_are_audited_from_start_to_finish(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe, db = write_recipe(tmp_path), tmp_path / "shared.db"
    for template, _ in LOCAL.values():
        assert main(argv(template, recipe, db)) == 0, capsys.readouterr()
    entries = audit(db)
    assert [(e.action, e.outcome, e.forced) for e in entries] == [
        ("bring-up", "ok", False),
        ("reseed", "ok", False),
        ("run load", "ok", False),
    ]
    assert all(e.ended is not None and e.user == "alice" for e in entries)


def test_a_failed_reseed_is_audited_as_failed_with_its_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe, db = write_recipe(tmp_path, seed="fail"), tmp_path / "shared.db"
    assert main(argv(["reseed", "{recipe}"], recipe, db, "--yes")) == 1
    (entry,) = audit(db)
    assert entry.outcome == "failed" and "req-7f3a9c" in entry.details["detail"]


def test_without_yes_and_without_a_terminal_nothing_happens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe, db = write_recipe(tmp_path), tmp_path / "shared.db"
    assert main(argv(["reseed", "{recipe}"], recipe, db)) == 1
    err = capsys.readouterr().err
    assert "Test data in these services is overwritten" in err and "pass --yes" in err
    assert audit(db) == []


def test_run_force_finishes_its_audit_entry_and_json_stays_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The old ``run --force`` left "running" in Activity forever; --reseed broke --json."""
    recipe, db = write_recipe(tmp_path), tmp_path / "shared.db"
    bob_leases(db)
    code = main(argv(["run", "{recipe}", "load"], recipe, db, "--force", "--reseed", "--json"))
    out = capsys.readouterr().out
    assert code == 0
    assert json.loads(out)["ok"] is True
    entries = audit(db)
    assert [(e.action, e.outcome, e.forced) for e in entries] == [
        ("reseed", "ok", True),
        ("run load", "ok", True),
    ]
    assert all(e.ended is not None for e in entries)


def test_ordinary_suites_need_no_lease_and_leave_no_audit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe, db = write_recipe(tmp_path), tmp_path / "shared.db"
    bob_leases(db)
    assert main(argv(["run", "{recipe}", "smoke"], recipe, db)) == 0
    assert audit(db) == []


def test_lease_commands_refuse_someone_elses_lease_until_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe, db = write_recipe(tmp_path), tmp_path / "shared.db"
    bob_leases(db)
    for action in ("acquire", "release"):
        assert main(["lease", action, str(recipe), "--db", str(db), "--user", "alice"]) == 1
        err = capsys.readouterr().err
        assert "lease refused: leased by bob" in err and BOB_REASON in err, err
    assert Store.open(db).current_lease(ENV).owner == "bob"
    assert audit(db) == []

    args = ["--db", str(db), "--user", "alice", "--force"]
    assert main(["lease", "acquire", str(recipe), "--reason", "hotfix", *args]) == 0
    assert "(taken from bob)" in capsys.readouterr().out
    # bob takes it back; alice must force again to release it
    Store.open(db).acquire_lease(ENV, "bob", BOB_REASON, 1500, force=True)
    assert main(["lease", "release", str(recipe), *args]) == 0
    assert Store.open(db).current_lease(ENV) is None
    forced = [(e.action, e.user, e.details["previous_owner"]) for e in audit(db) if e.forced]
    assert forced == [
        ("lease.force", "alice", "bob"),
        ("lease.force", "bob", "alice"),
        ("lease.force_release", "alice", "bob"),
    ]
    assert main(["lease", "acquire", str(recipe), "--read-only", *args]) == 1
    assert "lease refused: this cockpit is read-only" in capsys.readouterr().err


def test_an_interrupted_command_is_audited_as_cancelled(tmp_path: Path) -> None:
    recipe, db = write_recipe(tmp_path, seed="slow"), tmp_path / "shared.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "stagedeck", "reseed", str(recipe), "--yes", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "USER": "alice"},
    )
    try:
        deadline = time.monotonic() + 20
        while not any(e.action == "reseed" for e in audit(db) if db.exists()):
            assert time.monotonic() < deadline, proc.stderr
            time.sleep(0.1)
        time.sleep(0.5)  # the seed is running
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
    (entry,) = audit(db)
    assert entry.outcome == "cancelled" and entry.ended is not None


@pytest.mark.docker
def test_redeploy_on_docker_under_a_lease_read_only_and_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from support.dockerkit import kit

    db = tmp_path / "shared.db"
    with kit() as k:
        container = k.container("api", project=k.prefix)
        recipe = tmp_path / "docker.toml"
        recipe.write_text(
            f'[environment]\nname = "{ENV}"\ntarget = "docker"\nproject = "{k.prefix}"\n'
            "probe_interval = 0.3\nready_timeout = 20\n\n[services.api]\n"
        )
        base = ["redeploy", str(recipe), "api", "--db", str(db), "--user", "alice", "--yes"]
        assert main([*base, "--read-only", "--force"]) == 1
        assert "redeploy refused: this cockpit is read-only" in capsys.readouterr().err
        bob_leases(db)
        assert main(base) == 1
        err = capsys.readouterr().err
        assert "redeploy refused: leased by bob" in err and BOB_REASON in err
        assert audit(db) == []
        started_before = container.attrs["State"]["StartedAt"]

        assert main([*base, "--force"]) == 0, capsys.readouterr()
        container.reload()
        assert container.attrs["State"]["StartedAt"] != started_before  # it really restarted
        (entry,) = audit(db)
        assert (entry.action, entry.services, entry.forced, entry.outcome) == (
            "redeploy",
            ("api",),
            True,
            "ok",
        )
        assert BOB_REASON in entry.details["overrode_lease"]


@pytest.mark.docker
def test_redeploy_with_dependents_on_docker_audits_them_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from support.dockerkit import kit

    db = tmp_path / "shared.db"
    with kit() as k:
        k.container("api", project=k.prefix)
        k.container("web", project=k.prefix)
        recipe = tmp_path / "docker.toml"
        recipe.write_text(
            f'[environment]\nname = "{ENV}"\ntarget = "docker"\nproject = "{k.prefix}"\n'
            "probe_interval = 0.3\nready_timeout = 20\n\n[services.api]\n\n"
            '[services.web]\ndepends_on = ["api"]\n'
        )
        args = ["redeploy", str(recipe), "api", "--with-dependents", "--yes", "--db", str(db)]
        assert main(args) == 0, capsys.readouterr()
    (entry,) = audit(db)
    assert entry.services == ("api", "web") and entry.outcome == "ok"
    assert entry.details["with_dependents"] is True


def test_fault_on_a_process_another_cockpit_owns_says_where_to_do_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe, db = write_recipe(tmp_path), tmp_path / "shared.db"
    assert main(["fault", str(recipe), "api", "pause", "--yes", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "api's process belongs to the cockpit that started it" in err
    assert "(F on api)" in err
    assert audit(db) == []
