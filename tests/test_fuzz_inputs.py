"""Fuzzing what users hand us: recipes, themes, config and command-line arguments.

Hypothesis with a fixed seed (``derandomize``) and a bounded number of
examples, so CI is fast and a failure reproduces. The properties are the
issue's: no traceback, bad input is a :class:`ConfigError` (exit code 2 from
the command line) naming the file, every message is inert text, and a
cockpit opened on whatever loaded still answers a key.
"""

from __future__ import annotations

import contextlib
import io
import os
import tomllib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stagedeck.config.themes import ThemeError, load_theme
from stagedeck.config.userconfig import load_user_config
from stagedeck.recipe.errors import ConfigError, RecipeError
from stagedeck.recipe.model import (
    ENVIRONMENT_KEYS,
    HEALTH_KEYS,
    SEED_KEYS,
    SERVICE_KEYS,
    SUITE_KEYS,
    load_recipe,
)
from stagedeck.text import UNSAFE
from support.evil import HOSTILE

FUZZ = settings(
    derandomize=True,
    max_examples=int(os.environ.get("STAGEDECK_FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# ----------------------------------------------------------------- strategies

nasty_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(list(HOSTILE.values())),
    st.sampled_from(
        ["", " ", "auto", "http://h:99999/", "http://h:x/", "h:70000", "{file:/dev/zero}",
         "{env.NOPE}", "{service.a.url}", "{self.port}", "{secret.x}", "{python}", "/health",
         "127.0.0.1:0", "ctrl+nonsense+", "q", "#ff00ff", "ansi_red", "[bold]x[/]"]
    ),
)  # fmt: skip
numbers = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 65535, 65536, 10**12, 0.05]),
)
scalars = st.one_of(nasty_text, numbers, st.booleans())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(nasty_text, inner, max_size=4)
    ),
    max_leaves=12,
)


def table(keys: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.one_of(st.sampled_from(sorted(keys)), nasty_text), values, max_size=6)


names = st.one_of(st.sampled_from(["a", "b", "db", "web"]), nasty_text)
recipes = st.fixed_dictionaries(
    {},
    optional={
        "environment": table(ENVIRONMENT_KEYS),
        "services": st.dictionaries(
            names,
            st.one_of(
                table(SERVICE_KEYS),
                table(SERVICE_KEYS).map(lambda t: {**t, "health": {}}),
                st.builds(lambda t, h: {**t, "health": h}, table(SERVICE_KEYS), table(HEALTH_KEYS)),
            ),
            max_size=4,
        ),
        "seeds": st.dictionaries(names, table(SEED_KEYS), max_size=2),
        "suites": st.dictionaries(names, table(SUITE_KEYS), max_size=2),
        "include": st.lists(nasty_text, max_size=2),
        "secrets": st.dictionaries(nasty_text, nasty_text, max_size=2),
    },
)


def toml_text(data: dict[str, Any]) -> str:
    """A TOML rendering of ``data`` (keys quoted, values as inline TOML)."""
    lines: list[str] = []
    for key, value in data.items():
        lines.append(f"{_key(key)} = {_value(value)}")
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return _string(key)


def _string(s: str) -> str:
    out = []
    for c in s:
        if c in '"\\' or ord(c) < 0x20 or ord(c) == 0x7F or 0xD800 <= ord(c) <= 0xDFFF:
            out.append(f"\\u{ord(c):04x}" if not 0xD800 <= ord(c) <= 0xDFFF else "?")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v in (float("inf"), float("-inf")):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"


def _count(kind: str, outcome: str) -> None:
    """With STAGEDECK_FUZZ_COUNT=FILE, tally outcomes (the issue's cases/errors/crashes count)."""
    target = os.environ.get("STAGEDECK_FUZZ_COUNT")
    if target:
        with open(target, "a") as fh:
            fh.write(f"{kind} {outcome}\n")


def _assert_inert(text: str) -> None:
    assert UNSAFE.search(text.replace("\n", " ")) is None, repr(text)


# --------------------------------------------------------------------- recipes


@FUZZ
@given(data=recipes, junk=st.one_of(st.none(), st.binary(max_size=40)))
def test_fuzzed_recipes_load_or_say_why(
    tmp_path_factory: pytest.TempPathFactory, data: dict[str, Any], junk: bytes | None
) -> None:
    folder = tmp_path_factory.mktemp("r")
    path = folder / "recipe.toml"
    text = toml_text(data).encode()
    if junk is not None:
        text = text + junk  # a broken tail: bad TOML or bad UTF-8
    path.write_bytes(text)
    try:
        recipe = load_recipe(path, environ={"STAGEDECK_STATE_DIR": str(folder / "state")})
    except RecipeError as exc:
        _count("recipe", "clear-error")
        assert exc.problems
        for problem in exc.problems:
            assert problem.file in (path, *folder.iterdir(), *folder.parent.iterdir()) or str(
                problem.file
            ).startswith(str(folder.parent))
            _assert_inert(str(problem))
        return
    _count("recipe", "loaded")
    # What loaded is usable: names inert, numbers finite, the graph ordered.
    for name in (recipe.name, *recipe.services, *recipe.seeds, *recipe.suites):
        _assert_inert(name)
    recipe.graph.order()
    env = recipe.environment
    assert 0.1 <= env.probe_interval <= 3600 and 100 <= env.log_buffer <= 1_000_000


# --------------------------------------------------------------------- themes and config

themes = st.fixed_dictionaries(
    {},
    optional={
        "name": nasty_text,
        "dark": scalars,
        "primary": nasty_text,
        "background": nasty_text,
        "variables": st.dictionaries(
            st.one_of(st.sampled_from(["healthy", "down", "log-time"]), nasty_text),
            values,
            max_size=5,
        ),
        "extra": values,
    },
)


@FUZZ
@given(data=themes)
def test_fuzzed_themes(tmp_path_factory: pytest.TempPathFactory, data: dict[str, Any]) -> None:
    path = tmp_path_factory.mktemp("t") / "theme.toml"
    path.write_text(toml_text(data))
    try:
        spec = load_theme(path)
    except ThemeError as exc:
        _count("theme", "clear-error")
        assert exc.problems and all(p.file == path for p in exc.problems)
        for problem in exc.problems:
            _assert_inert(str(problem))
        return
    _count("theme", "loaded")
    assert spec.colours.get("primary")


configs = st.fixed_dictionaries(
    {},
    optional={
        "theme": scalars,
        "read_only": scalars,
        "user": nasty_text,
        "ascii_graph": scalars,
        "keys": st.dictionaries(
            st.one_of(st.sampled_from(["app.help", "app.quit", "logs.pause"]), nasty_text),
            st.one_of(nasty_text, st.sampled_from(["p", "ctrl+r", "question_mark", "f5"])),
            max_size=4,
        ),
        "junk": values,
    },
)


@FUZZ
@given(data=configs)
def test_fuzzed_configs(tmp_path_factory: pytest.TempPathFactory, data: dict[str, Any]) -> None:
    path = tmp_path_factory.mktemp("c") / "config.toml"
    path.write_text(toml_text(data))
    tomllib.loads(path.read_text())  # the renderer itself writes valid TOML
    try:
        load_user_config(path)
        _count("config", "loaded")
    except ConfigError as exc:
        _count("config", "clear-error")
        assert exc.problems and all(p.file == path for p in exc.problems)
        for problem in exc.problems:
            _assert_inert(str(problem))


# --------------------------------------------------------------------- the command line

arguments = st.lists(
    st.one_of(
        nasty_text,
        st.sampled_from(
            ["--ttl", "0", "1e999s", "--run", "-1", "999999999999999999999", "--db", "",
             "--env", "-o", "/", "--format", "md", "--json", "--force", "--reason", "--user"]
        ),
    ),
    max_size=6,
)  # fmt: skip


@settings(FUZZ, max_examples=min(FUZZ.max_examples, 60))
@given(
    command=st.sampled_from(["lease", "failures", "report", "annotate", "check"]), args=arguments
)
def test_fuzzed_command_lines_exit_cleanly(
    tmp_path_factory: pytest.TempPathFactory, command: str, args: list[str]
) -> None:
    from stagedeck.cli.main import main

    folder = tmp_path_factory.mktemp("cli")
    argv = [command, *args]
    if command == "lease":
        argv = ["lease", "show", *args]
    if "--db" not in args:
        argv += ["--db", str(folder / "shared.db")] if command != "check" else []
    out, err = io.StringIO(), io.StringIO()
    old_cwd = os.getcwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse's usage errors, and "name the environment"
                code = exc.code if isinstance(exc.code, int) else 2
    finally:
        os.chdir(old_cwd)
    _count("cli", {0: "ok", 1: "failed", 2: "clear-error"}.get(code, f"exit-{code}"))
    assert code in (0, 1, 2), (argv, code, err.getvalue())
    assert "Traceback" not in err.getvalue()
    _assert_inert(out.getvalue())
    _assert_inert(err.getvalue())


# --------------------------------------------------------------------- the cockpit answers


odd_names = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")),
    min_size=1,
    max_size=14,
).filter(lambda n: n.strip() == n and n != "")


@st.composite
def plausible_recipes(draw: st.DrawFn) -> dict[str, Any]:
    """Recipes a person might write, names with odd characters (the realistic case)."""
    names = draw(st.lists(odd_names, min_size=2, max_size=6, unique=True))
    services: dict[str, Any] = {}
    for i, name in enumerate(names):
        svc: dict[str, Any] = {"command": ["true"]}
        if i and draw(st.booleans()):
            svc["depends_on"] = draw(st.lists(st.sampled_from(names[:i]), max_size=2, unique=True))
        if draw(st.booleans()):
            svc["health"] = {"tcp": f"127.0.0.1:{draw(st.integers(1, 65535))}"}
        if draw(st.booleans()):
            svc["slo_ms"] = draw(st.floats(0.5, 10_000))
        services[name] = svc
    env = {"name": draw(odd_names), "probe_interval": draw(st.floats(0.1, 60))}
    return {"environment": env, "services": services}


@settings(FUZZ, max_examples=min(FUZZ.max_examples, 6))
@given(data=plausible_recipes())
def test_a_cockpit_on_fuzzed_recipes_still_answers_a_key(
    tmp_path_factory: pytest.TempPathFactory, data: dict[str, Any]
) -> None:
    """Odd names and values that load: the cockpit draws them and ``?`` still opens help."""
    import asyncio

    from stagedeck.engine.engine import Engine
    from stagedeck.tui.app import StagedeckApp

    folder = tmp_path_factory.mktemp("cockpit")
    path = folder / "r.toml"
    lines = [f"[environment]\n{toml_text(data['environment'])}"]
    for name, svc in data["services"].items():
        lines.append(f"[services.{_key(name)}]\n{toml_text(svc)}")
    path.write_text("\n".join(lines))
    recipe = load_recipe(path, environ={"STAGEDECK_STATE_DIR": str(folder / "s")})

    async def drive() -> None:
        app = StagedeckApp(Engine(recipe), start_engine=False, watch_themes=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("question_mark")
            await pilot.pause()
            assert type(app.screen).__name__ == "HelpScreen"
            await pilot.press("escape", "3", "j", "2", "1")
            await pilot.pause()

    asyncio.run(drive())
    _count("cockpit", "answered")
