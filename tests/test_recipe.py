"""Recipe loading: every kind of error names its file and line, all at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from stagedeck.recipe.errors import RecipeError
from stagedeck.recipe.model import load_recipe

GOOD = """
[environment]
name = "shop"
probe_interval = 0.5

[services.db]
command = ["{python}", "-m", "http.server", "{self.port}"]
port = 45001
health = "/"

[services.api]
command = ["{python}", "-m", "http.server", "{self.port}"]
port = 45002
env = { DB_URL = "{service.db.url}", HOME_DIR = "{env.HOME}" }
depends_on = ["db"]
health = { url = "/health", status = [200, 204], retries = 5 }
latency = ["{self.url}/items"]
slo_ms = 120

[seeds.base]
service = "api"
command = ["{python}", "seed.py", "{service.api.url}"]
verify = { url = "{service.api.url}/count", status = 200 }

[suites.smoke]
command = ["pytest", "--junitxml={junit}"]
depends_on = ["api"]
locks = ["db"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path, text), environ={"HOME": "/home/x"})
    return [str(p) for p in info.value.problems]


def test_good_recipe_resolves_placeholders(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, GOOD), environ={"HOME": "/home/x"})
    api = recipe.services["api"]
    assert api.env["DB_URL"] == "http://127.0.0.1:45001"
    assert api.env["HOME_DIR"] == "/home/x"
    assert api.health is not None and api.health.url == "http://127.0.0.1:45002/health"
    assert api.health.status == (200, 204) and api.health.retries == 5
    assert api.latency == ("http://127.0.0.1:45002/items",)
    assert recipe.graph.layers() == [["db"], ["api"]]
    assert recipe.seeds["base"].verify is not None
    assert recipe.seeds["base"].verify.url == "http://127.0.0.1:45002/count"
    # {junit} only has a value when the suite runs: it stays for the runner.
    assert recipe.suites["smoke"].command == ("pytest", "--junitxml={junit}")
    assert recipe.suites["smoke"].locks == ("db",)


def test_unknown_key_suggests_nearest_with_line(tmp_path: Path) -> None:
    text = GOOD.replace('depends_on = ["db"]', 'depend_on = ["db"]')
    found = problems(tmp_path, text)
    line = textwrap.dedent(text).splitlines().index('depend_on = ["db"]') + 1
    assert found == [
        f"{tmp_path / 'recipe.toml'}:{line}: services.api.depend_on: unknown key 'depend_on'"
        " (did you mean 'depends_on'?)"
    ]


def test_unknown_dependency_and_placeholder_all_reported(tmp_path: Path) -> None:
    text = GOOD.replace('depends_on = ["db"]', 'depends_on = ["dbb"]').replace(
        "{service.db.url}", "{service.nope.url}"
    )
    found = problems(tmp_path, text)
    assert len(found) == 2
    assert "unknown placeholder {service.nope.url}" in found[0]
    assert "depends on unknown service 'dbb'" in found[1] and "did you mean 'db'?" in found[1]
    lines = textwrap.dedent(text).splitlines()
    line = lines.index('depends_on = ["dbb"]') + 1
    assert f"recipe.toml:{line}:" in found[1]


def test_cycle_is_named_with_its_path(tmp_path: Path) -> None:
    text = GOOD.replace(
        'port = 45001\nhealth = "/"', 'port = 45001\nhealth = "/"\ndepends_on = ["api"]'
    )
    (message,) = problems(tmp_path, text)
    assert "dependency cycle: db → api → db" in message or "api → db → api" in message


def test_bad_types_and_missing_env_var(tmp_path: Path) -> None:
    text = GOOD.replace("probe_interval = 0.5", 'probe_interval = "fast"').replace(
        "{env.HOME}", "{env.STAGEDECK_NOT_SET}"
    )
    found = problems(tmp_path, text)
    assert any("environment.probe_interval: must be a number" in f for f in found)
    assert any("set the environment variable STAGEDECK_NOT_SET" in f for f in found)
    # Each error names the line where the key is.
    assert any(":4: environment.probe_interval" in f for f in found)


def test_toml_syntax_error_has_line(tmp_path: Path) -> None:
    (message,) = problems(tmp_path, "[environment]\nname = 'x'\nbroken = \n")
    assert "recipe.toml:3" in message and "not valid TOML" in message


def test_string_command_needs_shell(tmp_path: Path) -> None:
    text = GOOD.replace('command = ["pytest", "--junitxml={junit}"]', 'command = "pytest -q"')
    (message,) = problems(tmp_path, text)
    assert "suites.smoke.command" in message and "shell = true" in message


def test_missing_file_is_a_recipe_error(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="cannot read recipe"):
        load_recipe(tmp_path / "nope.toml")


def test_auto_ports_are_free_and_distinct(tmp_path: Path) -> None:
    recipe = load_recipe(write(tmp_path, GOOD), environ={"HOME": "/h"}, auto_ports=True)
    ports = {s.port for s in recipe.services.values()}
    assert len(ports) == 2 and 45001 not in ports
    api = recipe.services["api"]
    assert api.env["DB_URL"] == recipe.services["db"].url


def test_auto_ports_stay_distinct_when_the_random_pick_repeats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing binds a chosen port until its service starts, so a repeated pick must be
    caught by the recipe itself (CI once gave two demo services the same port)."""
    import stagedeck.recipe.model as recipe_module

    class Repeating:
        def __init__(self) -> None:
            self.picks = iter([24567, 24567, 24567, 24568])

        def randint(self, low: int, high: int) -> int:
            return next(self.picks)

    monkeypatch.setattr(recipe_module, "_random", Repeating())
    recipe = load_recipe(write(tmp_path, GOOD), environ={"HOME": "/h"}, auto_ports=True)
    assert sorted(s.port for s in recipe.services.values()) == [24567, 24568]


def test_check_command_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stagedeck.cli.main import main

    good = write(tmp_path, GOOD)
    assert main(["check", str(good)]) == 0
    assert "layer 1: api" in capsys.readouterr().out
    good.write_text(GOOD.replace("depends_on", "depend_on"))
    assert main(["check", str(good)]) == 2
    assert "did you mean 'depends_on'" in capsys.readouterr().err
