"""The recipe JSON Schema: generated from the loader's key tables, shipped as a file,
accepting every recipe in the repository and rejecting the broken ones the recipe tests use."""

from __future__ import annotations

import ast
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest

from stagedeck.cli.main import main
from stagedeck.recipe import model
from stagedeck.recipe.errors import ConfigError
from stagedeck.recipe.schema import SCHEMA_FILE, recipe_schema, schema_text
from test_recipe import GOOD

jsonschema = pytest.importorskip("jsonschema")
ROOT = Path(__file__).resolve().parent.parent


def validator() -> Any:
    schema = recipe_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(data: dict[str, Any]) -> list[str]:
    return [e.message for e in validator().iter_errors(data)]


def test_shipped_file_is_what_the_key_tables_generate(capsys: pytest.CaptureFixture[str]) -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "regenerate: python -c 'from stagedeck.recipe.schema import *; "
        "SCHEMA_FILE.write_text(schema_text())'"
    )
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == recipe_schema()


def test_every_key_the_loader_knows_is_in_the_schema() -> None:
    props = recipe_schema()["properties"]
    assert list(props) == list(model.TOP_KEYS)
    service = props["services"]["additionalProperties"]["properties"]
    assert set(service) == set(model.SERVICE_KEYS)
    health = service["health"]["anyOf"][1]["properties"]
    assert set(health) == set(model.HEALTH_KEYS)
    assert set(props["suites"]["additionalProperties"]["properties"]) == set(model.SUITE_KEYS)
    assert props["suites"]["additionalProperties"]["required"] == ["command"]


@pytest.mark.parametrize(
    "path",
    sorted(
        str(p.relative_to(ROOT))
        for p in [*ROOT.glob("recipes/**/*.toml"), ROOT / "src/stagedeck/demo/demo.toml"]
    ),
)
def test_accepts_the_recipes_in_the_repository(path: str) -> None:
    data = tomllib.loads((ROOT / path).read_text(encoding="utf-8"))
    assert errors(data) == []


def _toml_fixtures() -> list[tuple[str, str]]:
    """Every string constant in the tests that parses as a recipe-like TOML document."""
    found = []
    for test_file in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(test_file.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            text = node.value
            if "[environment]" not in text and "[services." not in text:
                continue
            try:
                data = tomllib.loads(text)
            except tomllib.TOMLDecodeError:
                continue
            if set(data) <= set(model.TOP_KEYS) | {"unknown"} and data:
                found.append((f"{test_file.name}:{node.lineno}", text))
    return found


def test_never_rejects_a_fixture_the_loader_accepts(tmp_path: Path) -> None:
    """Over the test suite's own recipes: schema rejects ⇒ the loader reports a problem too."""
    checked = accepted = 0
    for where, text in _toml_fixtures():
        data = tomllib.loads(text)
        path = tmp_path / "recipe.toml"
        path.write_text(text, encoding="utf-8")
        try:
            model.load_recipe(path, environ={"HOME": str(tmp_path), "PATH": "/usr/bin"})
        except ConfigError:
            continue  # broken on purpose, or needs files or env this test does not make
        checked += 1
        assert errors(data) == [], f"{where}: the loader accepts it, the schema does not"
        accepted += 1
    assert checked >= 10, f"only {checked} fixtures loaded: the check proves little"


def test_rejects_the_broken_recipes_of_the_recipe_tests() -> None:
    good = tomllib.loads(GOOD)
    assert errors(good) == []
    unknown_key = tomllib.loads(GOOD.replace('depends_on = ["db"]', 'depend_on = ["db"]'))
    assert any("depend_on" in e for e in errors(unknown_key))
    bad_type = tomllib.loads(GOOD.replace("probe_interval = 0.5", 'probe_interval = "fast"'))
    assert any("'fast'" in e for e in errors(bad_type))
    for broken in (
        {**good, "servics": {}},  # an unknown table
        {"services": {"api": {"port": 70000}}},
        {"services": {"api": {"health": {"url": "/", "status": 999}}}},
        {"services": {"api": {"health": {"ur": "/"}}}},
        {"suites": {"smoke": {"cwd": "."}}},  # a suite needs a command
        {"environment": {"target": "nomad"}},
        {"environment": {"probe_interval": -1}},
        {"services": {"api": {"command": []}}},
        {"gate": {"pass_rate": 1.5}},  # a share is 0..1
        {"gate": {"baseline": "yesterday"}},
        {"scenarios": {"slow": {"service": "api", "fault": "latency", "fail_fast": {"uri": "/"}}}},
        {"environment": {"probe_timeout": float("inf")}},
    ):
        assert errors(broken), broken


def test_check_resolved_merges_includes_fills_placeholders_masks_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "base.toml").write_text(
        '[environment]\nname = "base"\n\n'
        '[services.db]\ncommand = ["{python}", "-m", "http.server", "{self.port}"]\n'
        'port = 45031\nhealth = "/"\n',
        encoding="utf-8",
    )
    overlay = tmp_path / "stagedeck.toml"
    overlay.write_text(
        'include = ["base.toml"]\n[environment]\nname = "staging-eu"\n\n'
        '[secrets]\ndb_password = "{env.DB_PASSWORD}"\n\n'
        '[services.api]\ncommand = ["{python}", "-m", "http.server", "{self.port}"]\n'
        'port = 45032\nhealth = "/"\ndepends_on = ["db"]\n'
        'env = { DATABASE_URL = "postgres://app:{secret.db_password}@{service.db.host}:5432/app" }\n',
        encoding="utf-8",
    )
    password = "pw-Zq8!x7-not-for-eyes"
    monkeypatch.setenv("DB_PASSWORD", password)
    assert main(["check", str(overlay), "--resolved"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert password not in out
    assert data["environment"]["name"] == "staging-eu"
    assert set(data["services"]) == {"db", "api"}  # the include merged in
    assert data["services"]["api"]["env"]["DATABASE_URL"] == "postgres://app:•••@127.0.0.1:5432/app"
    assert data["services"]["db"]["port"] == 45031
    assert str(tmp_path / "base.toml") in data["sources"]
