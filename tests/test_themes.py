"""Themes: the shipped ones are valid, bad files are reported with file:line:key,
switching and hot reload work in the running app, and keys can be remapped."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from stagedeck.config.themes import SEMANTIC_KEYS, ThemeError, builtin_dir, discover, load_theme
from stagedeck.config.userconfig import load_user_config
from stagedeck.recipe.errors import ConfigError
from stagedeck.tui.app import StagedeckApp
from stagedeck.tui.widgets.logview import LogView
from support.apps import offline_engine
from support.wait import wait_until


def test_shipped_themes_are_complete() -> None:
    themes, errors = discover([builtin_dir()])
    assert errors == []
    assert {"stagedeck-dark", "stagedeck-light", "stagedeck-high-contrast", "stagedeck-16"} <= set(
        themes
    )
    for spec in themes.values():
        assert set(spec.variables) == set(SEMANTIC_KEYS), spec.name
    # The 16-colour theme uses only the terminal's ANSI colours.
    ansi = themes["stagedeck-16"]
    assert ansi.ansi and all(
        v.startswith("ansi_") for v in [*ansi.colours.values(), *ansi.variables.values()]
    )


def test_bad_theme_names_file_line_and_key(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        'name = "mine"\nprimary = "#123456"\n[variables]\nhealthy = "#00ff00"\ndwn = "#ff0000"\ndegraded = "not-a-colour"\n'
    )
    with pytest.raises(ThemeError) as info:
        load_theme(path)
    text = [str(p) for p in info.value.problems]
    assert text == [
        f"{path}:5: variables.dwn: unknown variable 'dwn' (did you mean 'down'?)",
        f'{path}:6: variables.degraded: not a colour: \'not-a-colour\' (use "#RRGGBB" or "ansi_green")',
    ]


async def test_switch_theme_changes_semantic_colours(tmp_path: Path) -> None:
    app = StagedeckApp(offline_engine(tmp_path), start_engine=False, watch_themes=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.theme == "stagedeck-dark"
        dark = app.theme_variables["healthy"]
        app.theme = "stagedeck-light"
        await pilot.pause()
        assert app.theme_variables["healthy"] != dark


async def test_hot_reload_applies_and_rejects(tmp_path: Path) -> None:
    folder = tmp_path / "themes"
    folder.mkdir()
    shutil.copy(builtin_dir() / "stagedeck-dark.toml", folder / "team.toml")
    path = folder / "team.toml"
    path.write_text(path.read_text().replace('name = "stagedeck-dark"', 'name = "team"'))
    app = StagedeckApp(
        offline_engine(tmp_path), start_engine=False, theme="team", theme_folders=[folder]
    )
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.theme == "team"
        await asyncio.sleep(0.3)  # let the watcher start
        path.write_text(path.read_text().replace('healthy = "#4EBF71"', 'healthy = "#00FF00"'))
        await wait_until(lambda: app.theme_variables.get("healthy") == "#00FF00", pilot=pilot)
        # A broken save: one notification naming file, line and key; the theme stays.
        good = path.read_text()
        path.write_text(good.replace('down = "#F0524A"', 'down = "#F0524A"\nbogus = "#000000"'))
        await wait_until(lambda: any("bogus" in n.message for n in app._notifications), pilot=pilot)
        messages = [n.message for n in app._notifications if "bogus" in n.message]
        assert len(messages) == 1
        line = good.splitlines().index('down = "#F0524A"') + 2
        assert f"{path}:{line}: variables.bogus: unknown variable 'bogus'" in messages[0]
        assert app.theme == "team" and app.theme_variables["healthy"] == "#00FF00"


async def test_key_remapping_from_user_config(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text('[keys]\n"logs.pause" = "p"\n')
    config = load_user_config(config_file)
    app = StagedeckApp(
        offline_engine(tmp_path), start_engine=False, watch_themes=False, config=config
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        view = app.screen.query_one(LogView)
        assert view.follow
        await pilot.press("p")
        assert not view.follow


def test_user_config_rejects_unknown_binding(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text('theme = "stagedeck-light"\n[keys]\n"logs.paws" = "p"\n')
    with pytest.raises(ConfigError) as info:
        load_user_config(config_file, binding_ids=["logs.pause", "app.quit"])
    assert (
        str(info.value)
        == f"{config_file}:3: keys.logs.paws: unknown binding 'logs.paws' (did you mean 'logs.pause'?)"
    )


async def test_sixteen_colour_theme_renders(tmp_path: Path) -> None:
    app = StagedeckApp(
        offline_engine(tmp_path), start_engine=False, watch_themes=False, theme="stagedeck-16"
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.theme == "stagedeck-16"
        assert app.theme_variables["healthy"] == "ansi_green"
        await pilot.press("2", "1", "question_mark")


async def test_every_action_is_in_the_command_palette(tmp_path: Path) -> None:
    app = StagedeckApp(offline_engine(tmp_path), start_engine=False, watch_themes=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for wanted in (
            "Redeploy the selected service",
            "Bring up / redeploy everything in order",
            "Reload test data (the recipe's seeds)",
            "Take, renew or release the lease",
            "View: logs",
            "View: suites",
        ):
            assert wanted in titles, wanted


async def test_unknown_remapped_binding_is_reported(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text('[keys]\n"logs.paws" = "p"\n"logs.pause" = "p"\n')
    app = StagedeckApp(
        offline_engine(tmp_path),
        start_engine=False,
        watch_themes=False,
        config=load_user_config(config_file),
    )
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.unknown_key_ids() == ["logs.paws"]
        assert any("names no binding logs.paws" in n.message for n in app._notifications)
