"""Includes: later files override earlier ones key by key; errors name the right file and line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from stagedeck.recipe.errors import RecipeError
from stagedeck.recipe.model import load_recipe, recipe_files

BASE = """
[environment]
name = "shop"
probe_interval = 0.5

[services.db]
command = ["{python}", "-m", "http.server", "{self.port}"]
port = 45101
env = { MODE = "base", SHARED = "from-base" }
health = { url = "/", retries = 2, interval = 1 }

[services.api]
command = ["{python}", "-m", "http.server", "{self.port}"]
port = 45102
depends_on = ["db"]
health = "/"
"""

MAIN = """
include = ["base/base.toml"]

[environment]
name = "shop-dev"

[services.db]
env = { MODE = "dev" }
health = { retries = 5 }

[services.cache]
command = ["{python}", "-m", "http.server", "{self.port}"]
port = 45103
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if needle in ln)


def test_include_merges_key_by_key_with_the_includer_last(tmp_path: Path) -> None:
    base = write(tmp_path / "base" / "base.toml", BASE)
    main = write(tmp_path / "main.toml", MAIN)
    recipe = load_recipe(main)
    assert recipe.name == "shop-dev"
    assert recipe.environment.probe_interval == 0.5  # only in base: kept
    db = recipe.services["db"]
    assert db.env == {"MODE": "dev", "SHARED": "from-base"}  # tables merge key by key
    assert db.health is not None
    assert (db.health.retries, db.health.interval) == (5, 1.0)
    assert db.health.url == "http://127.0.0.1:45101/"
    assert set(recipe.services) == {"db", "api", "cache"}
    assert recipe.sources == (main, base)
    assert recipe_files(main) == (main, base)


def test_errors_name_the_file_and_line_that_wrote_the_key(tmp_path: Path) -> None:
    base = write(
        tmp_path / "base" / "base.toml",
        BASE.replace('depends_on = ["db"]', 'depends_on = ["dbx"]'),
    )
    main = write(
        tmp_path / "main.toml",
        MAIN.replace("health = { retries = 5 }", 'health = { retries = "five" }').replace(
            "port = 45103", "port = 45103\nlatncy = []"
        ),
    )
    with pytest.raises(RecipeError) as info:
        load_recipe(main)
    found = {(p.file, p.line, p.key) for p in info.value.problems}
    assert found == {
        (main, line_of(main, "retries"), "services.db.health.retries"),
        (main, line_of(main, "latncy"), "services.cache.latncy"),
        (base, line_of(base, "depends_on"), "services.api.depends_on"),
    }
    # Problems are grouped by file: the recipe's first, then its includes'.
    assert [p.file for p in info.value.problems] == [main, main, base]


def test_a_key_overridden_in_the_includer_is_reported_there(tmp_path: Path) -> None:
    write(tmp_path / "base.toml", BASE)
    main = write(
        tmp_path / "main.toml",
        """
        include = ["base.toml"]

        [services.api]
        depends_on = ["nope"]
        """,
    )
    with pytest.raises(RecipeError) as info:
        load_recipe(main)
    (problem,) = info.value.problems
    assert (problem.file, problem.line) == (main, line_of(main, "depends_on"))
    assert "depends on unknown service 'nope'" in problem.message


def test_missing_table_key_is_reported_where_the_table_is_written(tmp_path: Path) -> None:
    base = write(
        tmp_path / "base.toml",
        """
        [environment]
        name = "x"

        [services.api]
        port = 45110
        """,
    )
    main = write(
        tmp_path / "main.toml",
        """
        include = ["base.toml"]

        [services.api.health]
        url = "/"
        """,
    )
    with pytest.raises(RecipeError) as info:
        load_recipe(main)
    (problem,) = info.value.problems
    assert problem.message == "a local service needs a command"
    assert (problem.file, problem.line) == (base, line_of(base, "[services.api]"))


def test_syntax_error_in_an_include_names_the_include(tmp_path: Path) -> None:
    base = write(tmp_path / "base.toml", "[environment]\nname = 'x'\nbroken = = 1\n")
    main = write(tmp_path / "main.toml", 'include = ["base.toml"]\n')
    with pytest.raises(RecipeError) as info:
        load_recipe(main)
    (problem,) = info.value.problems
    assert (problem.file, problem.line) == (base, 3)
    assert problem.message.startswith("not valid TOML")


def test_missing_include_and_cycle(tmp_path: Path) -> None:
    main = write(tmp_path / "main.toml", 'include = ["nope.toml"]\n[environment]\nname = "x"\n')
    with pytest.raises(RecipeError) as info:
        load_recipe(main)
    (problem,) = info.value.problems
    assert (problem.file, problem.line, problem.key) == (main, 1, "include")
    assert problem.message.startswith(f"cannot read included file {tmp_path / 'nope.toml'}")

    a = write(tmp_path / "a.toml", 'include = ["b.toml"]\n')
    write(tmp_path / "b.toml", '# b\ninclude = ["a.toml"]\n')
    with pytest.raises(RecipeError) as info:
        load_recipe(a)
    (problem,) = info.value.problems
    assert (problem.file.name, problem.line) == ("b.toml", 2)
    assert problem.message == "include cycle: a.toml → b.toml → a.toml"


def test_relative_paths_are_relative_to_the_file_that_writes_them(tmp_path: Path) -> None:
    write(tmp_path / "shared" / "token.txt", "tok-value-123\n")
    write(
        tmp_path / "shared" / "base.toml",
        """
        [environment]
        name = "x"

        [secrets]
        token = "{file:token.txt}"

        [services.api]
        command = ["run"]
        cwd = "work"
        """,
    )
    main = write(tmp_path / "main.toml", 'include = ["shared/base.toml"]\n')
    recipe = load_recipe(main)
    assert recipe.services["api"].cwd == tmp_path / "shared" / "work"
    assert recipe.secrets == {"tok-value-123"}


def test_nested_includes_and_list_replacement(tmp_path: Path) -> None:
    write(tmp_path / "a" / "b" / "deep.toml", '[environment]\nname = "deep"\nprobe_timeout = 3\n')
    write(
        tmp_path / "a" / "mid.toml",
        """
        include = ["b/deep.toml"]

        [services.api]
        command = ["run", "--old"]
        depends_on = []
        """,
    )
    main = write(
        tmp_path / "main.toml",
        """
        include = ["a/mid.toml"]

        [services.api]
        command = ["run", "--new"]
        """,
    )
    recipe = load_recipe(main)
    assert recipe.environment.probe_timeout == 3
    assert recipe.services["api"].command == ("run", "--new")  # lists are replaced, not merged
    assert [p.name for p in recipe.sources] == ["main.toml", "mid.toml", "deep.toml"]
