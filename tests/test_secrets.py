"""Secrets: which values are secret, and that they never come out of stagedeck unmasked."""

from __future__ import annotations

import asyncio
import logging
import textwrap
from pathlib import Path

import pytest

from stagedeck.engine.engine import Engine
from stagedeck.recipe.errors import RecipeError
from stagedeck.recipe.model import load_recipe
from stagedeck.recipe.secrets import (
    MASK,
    MaskingFilter,
    SecretMasker,
    describe_value,
    install_masker,
    is_secret_name,
    mask_secrets,
    masked_env,
)
from support.procs import new_marker, wait_until_gone

# --------------------------------------------------------------------------- mask function


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("password=hunter22 ok", ["hunter22"], "password=••• ok"),
        ("no secret here", ["hunter22"], "no secret here"),
        ("twice: s3cr3t and s3cr3t", ["s3cr3t"], "twice: ••• and •••"),
        # The longer secret wins when one contains the other.
        ("key=abcdef123", ["abcdef", "abcdef123"], "key=•••"),
        # Regex characters in a secret are literal.
        ("pw=a.b*c(d)", ["a.b*c(d)"], "pw=•••"),
        ("pw=aXbYc(d)", ["a.b*c(d)"], "pw=aXbYc(d)"),
        # Inside a URL, as is and URL-encoded.
        ("postgres://u:p@ss/w0rd@db/x", ["p@ss/w0rd"], "postgres://u:•••@db/x"),
        ("GET /x?token=p%40ss%2Fw0rd", ["p@ss/w0rd"], "GET /x?token=•••"),
        # Values too short to mask safely are left alone, rather than hiding every "on".
        ("turn it on", ["on"], "turn it on"),
        ("", ["hunter22"], ""),
        ("anything", [], "anything"),
    ],
)
def test_mask_secrets(text: str, secrets: list[str], expected: str) -> None:
    assert mask_secrets(text, secrets) == expected
    assert SecretMasker(secrets)(text) == expected


def test_multiline_secret_is_masked_line_by_line() -> None:
    pem = (
        "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSjAgEAAoIB\n-----END KEY-----"
    )
    assert mask_secrets("loaded MIIEvQIBADANBgkqhkiG9w0B from disk", [pem]) == (
        f"loaded {MASK} from disk"
    )


def test_masker_updates_in_place() -> None:
    masker = SecretMasker(["first-secret"])
    masker.update(["second-secret"])
    assert masker("first-secret second-secret") == f"first-secret {MASK}"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("DB_PASSWORD", True),
        ("GITHUB_TOKEN", True),
        ("client_secret", True),
        ("API_KEY", True),
        ("HOME", False),
        ("DB_URL", False),
    ],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


# --------------------------------------------------------------------------- recipes

RECIPE = """
[environment]
name = "sec"

[secrets]
db_password = "{env.TEST_DB_PASS}"
signing = "{file:signing.key}"

[services.api]
command = ["{python}", "-m", "http.server", "{self.port}"]
port = 45301
env = { DB_URL = "postgres://app:{secret.db_password}@127.0.0.1/app", GITHUB_TOKEN = "{env.GH_TOKEN}", SESSION_PEPPER = "pepper-value-1", PLAIN = "{env.PLAIN_VALUE}", MY_KEY_ID = "ok" }
secrets = ["SESSION_PEPPER"]

[seeds.load]
service = "api"
command = ["{python}", "seed.py", "--sign", "{secret.signing}"]
"""

ENVIRON = {
    "TEST_DB_PASS": "db-pass-from-env",
    "GH_TOKEN": "ghp_tokenvalue123",
    "PLAIN_VALUE": "not-a-secret",
}


def write(tmp_path: Path, text: str, name: str = "recipe.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_recipe_collects_its_secret_values(tmp_path: Path) -> None:
    (tmp_path / "signing.key").write_text("signing-key-value\n")
    recipe = load_recipe(write(tmp_path, RECIPE), environ=ENVIRON)
    assert recipe.secrets == {
        "db-pass-from-env",  # [secrets], from the environment
        "signing-key-value",  # [secrets], from a file, trailing newline stripped
        "ghp_tokenvalue123",  # {env.GH_TOKEN}: the variable's name says TOKEN
        "pepper-value-1",  # named in the service's secrets list
    }
    api = recipe.services["api"]
    assert api.env["DB_URL"] == "postgres://app:db-pass-from-env@127.0.0.1/app"
    assert api.env["PLAIN"] == "not-a-secret"
    assert api.env["MY_KEY_ID"] == "ok"  # a KEY name, but too short to mask
    assert api.secrets == ("SESSION_PEPPER",)
    assert recipe.seeds["load"].command[-1] == "signing-key-value"
    lengths = [len(v) for v in recipe.secret_values()]
    assert lengths == sorted(lengths, reverse=True)  # longest first

    # What views print: stagedeck check, reports, the audit log.
    assert describe_value(recipe, api.env["DB_URL"]) == f"postgres://app:{MASK}@127.0.0.1/app"
    assert describe_value(recipe, recipe.seeds["load"].command).endswith(f"--sign {MASK}")
    assert masked_env(recipe, api.env) == {
        "DB_URL": f"postgres://app:{MASK}@127.0.0.1/app",
        "GITHUB_TOKEN": MASK,
        "SESSION_PEPPER": MASK,
        "PLAIN": "not-a-secret",
        "MY_KEY_ID": "ok",
    }
    assert recipe.mask("connect db-pass-from-env") == f"connect {MASK}"


def test_secret_errors_name_file_line_and_fix(tmp_path: Path) -> None:
    text = """
        [environment]
        name = "sec"

        [secrets]
        short = "abc"
        missing_file = "{file:nope.txt}"

        [services.api]
        command = ["run", "{secret.db_pasword}"]
        env = { A = "x" }
        secrets = ["B"]
        """
    path = write(tmp_path, text)
    with pytest.raises(RecipeError) as info:
        load_recipe(path, environ={})
    found = [str(p) for p in info.value.problems]
    assert found == [
        f"{path}:6: secrets.short: is shorter than 4 characters (too short to mask in output"
        " without hiding ordinary text; use a longer value)",
        f"{path}:7: secrets.missing_file: cannot read {tmp_path / 'nope.txt'}: No such file or"
        " directory ({file:PATH} is relative to the file the value is written in)",
        f"{path}:10: services.api.command: unknown secret 'db_pasword' (add it to the [secrets]"
        ' table: db_pasword = "{env.VARIABLE}")',
        f"{path}:12: services.api.secrets: names 'B', which is not a key of env (env keys: A)",
    ]


def test_unknown_secret_suggests_a_known_one(tmp_path: Path) -> None:
    text = RECIPE.replace("{secret.db_password}", "{secret.db_pasword}")
    (tmp_path / "signing.key").write_text("signing-key-value")
    with pytest.raises(RecipeError) as info:
        load_recipe(write(tmp_path, text), environ=ENVIRON)
    (problem,) = info.value.problems
    assert problem.message == "unknown secret 'db_pasword'"
    assert problem.hint == "did you mean 'db_password'?"
    assert "db-pass-from-env" not in str(info.value)


def test_logging_filter_masks_stagedeck_own_log(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("stagedeck.test-secrets")
    handler_filter = MaskingFilter(SecretMasker(["hunter22-secret"]))
    logger.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger=logger.name):
            logger.info("connecting with %s", "hunter22-secret")
            try:
                raise ValueError("bad password hunter22-secret")
            except ValueError:
                logger.exception("failed")
    finally:
        logger.removeFilter(handler_filter)
    assert "hunter22-secret" not in caplog.text
    assert f"connecting with {MASK}" in caplog.text
    assert f"bad password {MASK}" in caplog.text


# --------------------------------------------------------------------------- real process


async def test_service_printing_its_password_is_masked_in_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = new_marker()
    monkeypatch.setenv("STAGEDECK_TEST_MARKER", marker)
    monkeypatch.setenv("SHOP_DB_PASSWORD", "pw-from-env-77")
    (tmp_path / "api.token").write_text("tok-from-file-88\n")
    script = tmp_path / "leaky.py"
    script.write_text(
        textwrap.dedent("""
            import os, sys, time
            print("db password is", os.environ["DB_PASSWORD"], flush=True)
            print("url", os.environ["DB_URL"], file=sys.stderr, flush=True)
            print("token", os.environ["API_TOKEN"], "and pepper", os.environ["PEPPER"], flush=True)
            print("ready", flush=True)
            time.sleep(60)
            """)
    )
    path = write(
        tmp_path,
        f"""
        [environment]
        name = "leaky"

        [secrets]
        api_token = "{{file:api.token}}"

        [services.leaky]
        command = ["{{python}}", "{script}"]
        env = {{ DB_PASSWORD = "{{env.SHOP_DB_PASSWORD}}", DB_URL = "pg://u:{{env.SHOP_DB_PASSWORD}}@h/db", API_TOKEN = "{{secret.api_token}}", PEPPER = "pepper-99-value" }}
        secrets = ["PEPPER"]
        """,
    )
    recipe = load_recipe(path)
    engine = Engine(recipe)
    install_masker(engine.logs, recipe)  # what the cockpit does when it builds the engine
    await engine.start()
    try:
        for _ in range(200):
            if any(line.text == "ready" for line in engine.logs.last("leaky", 10)):
                break
            await asyncio.sleep(0.05)
        lines = [line.text for line in engine.logs.last("leaky", 10)]
    finally:
        await engine.stop()
    assert wait_until_gone(marker) == []
    assert f"db password is {MASK}" in lines
    assert f"url pg://u:{MASK}@h/db" in lines
    assert f"token {MASK} and pepper {MASK}" in lines
    text = "\n".join(lines)
    for value in ("pw-from-env-77", "tok-from-file-88", "pepper-99-value"):
        assert value not in text


async def test_reload_updates_the_installed_masker(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [environment]
        name = "m"

        [secrets]
        one = "first-secret-1"

        [services.a]
        command = ["true"]
        """,
    )
    recipe = load_recipe(path)
    engine = Engine(recipe)
    masker = install_masker(engine.logs, recipe)
    path.write_text(path.read_text().replace("first-secret-1", "second-secret-2"))
    await engine.apply_recipe(load_recipe(path))
    assert [m for m in engine.logs.masks if isinstance(m, SecretMasker)] == [masker]
    engine.log("a", "first-secret-1 second-secret-2")
    assert engine.logs.last("a", 1)[0].text == f"first-secret-1 {MASK}"
