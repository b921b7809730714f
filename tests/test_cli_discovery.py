"""Recipe discovery: `./stagedeck.toml` up to the repository root, $STAGEDECK_RECIPE,
bundled examples by name, and a clear account of where it looked when nothing is found."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stagedeck.cli.common import resolve_recipe_argument
from stagedeck.cli.main import build_parser, main
from stagedeck.recipe.discovery import examples, find_recipe

RECIPE = """
[environment]
name = "{name}"

[services.api]
command = ["{{python}}", "-m", "http.server", "{{self.port}}"]
port = 45002
health = "/"

[suites.smoke]
command = ["pytest", "--junitxml={{junit}}"]
"""


def write(folder: Path, name: str, filename: str = "stagedeck.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_text(RECIPE.format(name=name), encoding="utf-8")
    return path


def resolved(argv: list[str]) -> tuple[int | None, object]:
    args = build_parser().parse_args(argv)
    return resolve_recipe_argument(args), args


def test_found_from_a_nested_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    recipe = write(repo, "shop")
    deep = repo / "services" / "api" / "src"
    deep.mkdir(parents=True)
    monkeypatch.delenv("STAGEDECK_RECIPE", raising=False)
    monkeypatch.chdir(deep)
    found = find_recipe()
    assert found.path == recipe.resolve()
    code, args = resolved(["check"])
    assert code is None and Path(args.recipe) == recipe.resolve()  # type: ignore[attr-defined]


def test_nearest_wins_and_the_search_stops_at_the_repository_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "outside")  # above the repository: never used
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    inner = write(repo / "team", "team")
    monkeypatch.delenv("STAGEDECK_RECIPE", raising=False)
    monkeypatch.chdir(repo / "team")
    assert find_recipe().path == inner.resolve()
    monkeypatch.chdir(repo)
    found = find_recipe()
    assert found.path is None
    assert any("stopped at the repository root" in line for line in found.looked)


def test_env_var_names_the_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = write(tmp_path / "elsewhere", "envvar", "custom.toml")
    here = tmp_path / "here"
    write(here, "ignored")  # the variable wins over the working directory
    monkeypatch.chdir(here)
    monkeypatch.setenv("STAGEDECK_RECIPE", str(elsewhere))
    code, args = resolved(["status"])
    assert code is None and args.recipe == str(elsewhere)  # type: ignore[attr-defined]


def test_none_found_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".git").mkdir()
    monkeypatch.delenv("STAGEDECK_RECIPE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert "no recipe given and none found" in err
    assert str(tmp_path / "stagedeck.toml") in err
    assert "$STAGEDECK_RECIPE (not set)" in err
    assert "stagedeck examples" in err
    # plain `stagedeck` says the same, then shows the commands
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "none found" in err and "COMMAND" in err


def test_env_var_pointing_nowhere_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STAGEDECK_RECIPE", str(tmp_path / "gone.toml"))
    assert main(["check"]) == 2
    assert "gone.toml (no such file)" in capsys.readouterr().err


def test_bundled_examples_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    names = {e.name: e.path for e in examples()}
    assert {"demo", "realworld"} <= set(names)
    assert all(p.is_file() for p in names.values())
    assert main(["check", "realworld"]) == 0
    assert "environment 'realworld'" in capsys.readouterr().out
    assert main(["examples"]) == 0
    out = capsys.readouterr().out
    assert "stagedeck open realworld" in out and "demo value" in out


def test_a_word_that_names_no_recipe_is_the_next_positional(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".git").mkdir()
    recipe = write(tmp_path, "shop")
    monkeypatch.delenv("STAGEDECK_RECIPE", raising=False)
    monkeypatch.chdir(tmp_path)
    code, args = resolved(["run", "smoke", "other"])
    assert code is None
    assert args.suite == ["smoke", "other"] and args.recipe == str(recipe.resolve())  # type: ignore[attr-defined]
    code, args = resolved(["fault", "api", "pause"])
    assert code is None and (args.service, args.kind) == ("api", "pause")  # type: ignore[attr-defined]
    code, args = resolved(["redeploy", "api"])
    assert code is None and args.service == "api"  # type: ignore[attr-defined]
    code, args = resolved(["run", "stagedeck.toml", "smoke"])
    assert args.recipe == "stagedeck.toml" and args.suite == ["smoke"]  # type: ignore[attr-defined]


def test_records_commands_with_env_do_not_need_a_recipe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STAGEDECK_RECIPE", raising=False)
    monkeypatch.chdir(tmp_path)
    code, args = resolved(["failures", "--env", "shop"])
    assert code is None and args.recipe is None  # type: ignore[attr-defined]


def test_installed_command_finds_the_recipe(tmp_path: Path) -> None:
    """The real entry point in a real process, from a subdirectory."""
    (tmp_path / ".git").mkdir()
    write(tmp_path, "subproc")
    (tmp_path / "a" / "b").mkdir(parents=True)
    proc = subprocess.run(
        [sys.executable, "-m", "stagedeck", "check"],
        cwd=tmp_path / "a" / "b",
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "environment 'subproc'" in proc.stdout


def test_plain_stagedeck_opens_the_cockpit_on_the_recipe_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import stagedeck.cli.main as cli_main

    (tmp_path / ".git").mkdir()
    recipe = write(tmp_path, "plain")
    monkeypatch.delenv("STAGEDECK_RECIPE", raising=False)
    monkeypatch.chdir(tmp_path)
    opened: list[object] = []
    monkeypatch.setattr(cli_main, "cmd_open", lambda args: opened.append(args) or 0)
    assert cli_main.main([]) == 0
    (args,) = opened
    assert args.command == "open" and args.recipe == str(recipe.resolve())  # type: ignore[attr-defined]
