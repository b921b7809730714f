"""Bad files of every kind and bad values: a clear error with file and line, never a traceback.

Each case is what a new user (or a broken disk) really produces: a FIFO or a
device where a recipe should be, Latin-1 text, nesting a parser recurses on,
a 2,000-service chain, ports and URLs that only fail when probed, ``inf``,
a theme with 50,000 keys, a config that is a directory, key remaps that would
take quit or help away, and command-line values that overflow.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from stagedeck.config.themes import ThemeError, load_theme
from stagedeck.config.userconfig import key_conflicts, key_problem, load_user_config
from stagedeck.inputfile import UnreadableFile, read_text
from stagedeck.recipe.errors import ConfigError, RecipeError
from stagedeck.recipe.model import load_recipe
from support.cli import run_cli

HEAD = '[environment]\nname = "x"\n'


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(tmp_path, *args, timeout=60)


def problems_of(path: Path) -> str:
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    return str(info.value)


# --------------------------------------------------------------------------- files


def test_a_fifo_device_or_directory_is_refused_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.toml"
    os.mkfifo(fifo)
    (tmp_path / "dir.toml").mkdir()
    started = time.monotonic()
    assert "FIFO" in problems_of(fifo)
    assert time.monotonic() - started < 2  # no hang waiting for a writer
    assert "a device" in problems_of(Path("/dev/zero"))
    assert "a directory" in problems_of(tmp_path / "dir.toml")
    include = tmp_path / "inc.toml"
    include.write_text(f'include = ["fifo.toml"]\n{HEAD}')
    text = problems_of(include)
    assert "inc.toml:1" in text and "FIFO" in text


def test_file_placeholders_are_bounded(tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    big = tmp_path / "big"
    big.write_bytes(b"x" * (2 * 1024 * 1024))
    recipe.write_text(f'{HEAD}[secrets]\nz = "{{file:/dev/zero}}"\nb = "{{file:{big}}}"\n')
    text = problems_of(recipe)
    assert "r.toml:4: secrets.z: cannot read /dev/zero: it is a device" in text
    assert "r.toml:5: secrets.b" in text and "the limit is 1.0 MiB" in text


def test_not_utf8_names_the_byte_offset_and_line(tmp_path: Path) -> None:
    recipe = tmp_path / "latin.toml"
    recipe.write_bytes(b'[environment]\nname = "caf\xe9"\n')
    text = problems_of(recipe)
    assert "not UTF-8 text: byte 0xe9 at offset 25 (line 2)" in text
    theme = tmp_path / "t.toml"
    theme.write_bytes(b'primary = "\xff"\n')
    with pytest.raises(ThemeError, match="byte 0xff at offset 11"):
        load_theme(theme)
    with pytest.raises(UnreadableFile):
        read_text(recipe)


@pytest.mark.parametrize("value", ["[" * 3000 + "]" * 3000, "{a=" * 3000 + "1" + "}" * 3000])
def test_deep_nesting_is_an_error_not_a_recursion(tmp_path: Path, value: str) -> None:
    recipe = tmp_path / "deep.toml"
    recipe.write_text(f"{HEAD}x = {value}\n")
    assert "nested more than 32 deep" in problems_of(recipe)


def test_a_two_thousand_service_chain_loads_and_orders(tmp_path: Path) -> None:
    lines = [HEAD]
    for i in range(2000):
        lines.append(f'[services.s{i}]\ncommand = ["true"]\nport = "auto"\n')
        if i:
            lines.append(f'depends_on = ["s{i - 1}"]\n')
    recipe = tmp_path / "chain.toml"
    recipe.write_text("".join(lines))
    loaded = load_recipe(recipe)
    assert loaded.graph.order()[:3] == ["s0", "s1", "s2"]
    assert len(loaded.graph.layers()) == 2000
    lines.append("[services.s0.depends_on]\n")  # not valid: s0 depends_on as a table
    cycle = tmp_path / "cycle.toml"
    cycle.write_text(
        "".join(lines[:-1]).replace('port = "auto"\n', 'port = "auto"\ndepends_on = ["s1999"]\n', 1)
    )
    assert "dependency cycle: s0 → s1999" in problems_of(cycle)


def test_includes_nested_too_deep(tmp_path: Path) -> None:
    for i in range(20):
        (tmp_path / f"i{i}.toml").write_text(f'include = ["i{i + 1}.toml"]\n')
    (tmp_path / "i20.toml").write_text(HEAD)
    assert "includes nested more than 16 deep" in problems_of(tmp_path / "i0.toml")


# --------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('[services.a]\ncommand=["true"]\nhealth="http://h:99999/x"', "Port out of range"),
        ('[services.a]\ncommand=["true"]\nurl="http://h:x/"', "not a valid URL"),
        ('[services.a]\ncommand=["true"]\nurl="ftp://h/"', "must start with http://"),
        ('[services.a]\ncommand=["true"]\nhealth={tcp="h:70000"}', "port from 1 to 65535"),
        ('[services.a]\ncommand=["true"]\nhealth={tcp="h:٣"}', "port from 1 to 65535"),
        ('[services.a]\ncommand=["true"]\nslo_ms=inf', "slo_ms: must be more than 0"),
        ('[services.a]\ncommand=["true"]\nslo_ms=nan', "slo_ms: must be more than 0"),
        ('[services.a]\ncommand=["true"]\nlatency=["http://h:0x/"]', "not a valid URL"),
        ("[environment.x]", ""),
        (
            '[services.a]\ncommand=["true"]\nport=8080\n[services.b]\ncommand=["true"]\nport=8080',
            "port 8080 is also the port of service 'a'",
        ),
        (
            '[services.a]\ncommand=["true"]\nhealth={url="/", interval=0}',
            "interval: must be at least 0.1",
        ),
        ('[suites.s]\ncommand=["true"]\ntimeout=1e300', "timeout: must be more than 0 and at most"),
    ],
)
def test_values_are_checked_as_the_runtime_uses_them(
    tmp_path: Path, body: str, expected: str
) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text(f"{HEAD}{body}\n")
    text = problems_of(recipe)
    assert "r.toml:" in text
    assert expected in text


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("probe_interval = 0", "probe_interval: must be at least 0.1"),
        ("probe_interval = inf", "probe_interval: must be at least 0.1"),
        ("log_buffer = 100000000000", "log_buffer: must be a whole number from 100 to 1,000,000"),
        ("ready_timeout = -1", "ready_timeout: must be at least 0"),
        ('name = "  "', "name: must not be empty"),
    ],
)
def test_environment_settings_have_ranges(tmp_path: Path, setting: str, expected: str) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text(f"[environment]\n{setting}\n")
    text = problems_of(recipe)
    assert "r.toml:2:" in text and expected in text


def test_check_and_status_agree_nothing_check_accepts_crashes_status(tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text(f'{HEAD}[services.a]\ncommand=["true"]\nhealth={{tcp="127.0.0.1:65535"}}\n')
    assert cli(tmp_path, "check", str(recipe)).returncode == 0
    status = cli(tmp_path, "status", str(recipe))
    assert status.returncode == 1 and "Traceback" not in status.stderr + status.stdout


# --------------------------------------------------------------------------- config and themes


def test_config_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "config" / "stagedeck" / "config.toml").mkdir(parents=True)
    done = cli(tmp_path, "demo", "--free-ports")
    assert done.returncode == 2
    assert "config.toml: cannot read config: it is a directory" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ctrl+nonsense+", "ends in '+'"),
        ("ctrl+nonsense+x", "unknown modifier 'nonsense'"),
        ("nonsense", "no key is called 'nonsense'"),
        ("a,", "empty key"),
    ],
)
def test_bad_key_remaps_are_errors_with_their_line(
    tmp_path: Path, value: str, expected: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'theme = "x"\n[keys]\n"app.help" = "{value}"\n')
    with pytest.raises(ConfigError) as info:
        load_user_config(config)
    assert f"{config}:3: keys.app.help" in str(info.value) and expected in str(info.value)


def test_good_key_names() -> None:
    for key in ("p", "ctrl+r", "f5", "question_mark", "shift+tab", "ctrl+x,ctrl+y", "escape"):
        assert key_problem(key) is None, key


def test_a_remap_never_takes_quit_or_help_away() -> None:
    defaults = {"app.quit": "q", "app.help": "question_mark", "svc.redeploy": "r"}
    assert key_conflicts({"svc.redeploy": "q"}, defaults) == {
        "svc.redeploy": "'q' is the key of app.quit"
    }
    assert key_conflicts({"app.help": "r"}, defaults) == {
        "app.help": "'r' is already the key of svc.redeploy"
    }
    assert key_conflicts({"app.quit": "x", "svc.redeploy": "q"}, defaults) == {}


def test_a_theme_with_fifty_thousand_keys_is_refused_at_once(tmp_path: Path) -> None:
    theme = tmp_path / "huge.toml"
    body = "\n".join(f'v{i} = "#ffffff"' for i in range(50_000))
    theme.write_text(f'primary = "#000000"\n[variables]\n{body}\n')
    started = time.monotonic()
    with pytest.raises(ThemeError, match="the limit is 64 KiB"):
        load_theme(theme)
    small = tmp_path / "many.toml"
    body = "\n".join(f"v{i} = 1" for i in range(1_000))
    small.write_text(f'primary = "#000000"\n[variables]\n{body}\n')
    with pytest.raises(ThemeError, match="1,002 keys; a theme has at most"):
        load_theme(small)
    assert time.monotonic() - started < 3


# --------------------------------------------------------------------------- the command line


@pytest.mark.parametrize("ttl", ["0", "0s", "100000000d", "9" * 400 + "s", "nan", "-5m", "1e999s"])
def test_lease_ttl_out_of_range_is_a_usage_error(tmp_path: Path, ttl: str) -> None:
    done = cli(tmp_path, "lease", "acquire", "--env", "e", "--ttl", ttl)
    assert done.returncode == 2 and "--ttl" in done.stderr
    assert "Traceback" not in done.stderr


def test_report_output_problems_and_unknown_runs(tmp_path: Path) -> None:
    from stagedeck.store import Store

    with Store.open(tmp_path / "shared.db") as store:
        run = store.start_run("e", "alice")
        store.finish_run(run, "passed")
    missing = cli(tmp_path, "report", "--env", "e", "-o", str(tmp_path / "no" / "such" / "r.md"))
    assert missing.returncode == 2 and "cannot write the report" in missing.stderr
    onto_dir = cli(tmp_path, "report", "--env", "e", "-o", str(tmp_path))
    assert onto_dir.returncode == 2 and "cannot write the report" in onto_dir.stderr
    unknown = cli(tmp_path, "failures", "--env", "e", "--run", "999999")
    assert unknown.returncode == 2 and "no run 999999 recorded" in unknown.stderr
    other_env = cli(tmp_path, "failures", "--env", "f", "--run", str(run))
    assert other_env.returncode == 2 and "of e, not f" in other_env.stderr
    empty_db = cli(tmp_path, "lease", "show", "--env", "e", "--db", "")
    assert empty_db.returncode == 2 and "--db ''" in empty_db.stderr


async def test_the_cockpit_keeps_quit_and_help_whatever_the_config_says(tmp_path: Path) -> None:
    from stagedeck.tui.app import StagedeckApp
    from support.apps import offline_engine

    config_file = tmp_path / "config.toml"
    config_file.write_text('[keys]\n"logs.pause" = "q"\n"app.help" = "j"\n')
    app = StagedeckApp(
        offline_engine(tmp_path),
        start_engine=False,
        watch_themes=False,
        config=load_user_config(config_file),
    )
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        refused = [n.message for n in app._notifications if "not applied" in n.message]
        assert len(refused) == 1
        assert "logs.pause: 'q' is the key of app.quit" in refused[0]
        assert "app.help: 'j' is already the key of " in refused[0]
        await pilot.press("question_mark")
        await pilot.pause()
        assert type(app.screen).__name__ == "HelpScreen"
        await pilot.press("escape")
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code is not None or not app.is_running
