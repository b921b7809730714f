"""Shell completion: the script `stagedeck completion bash` prints, sourced in a real bash,
completes commands and the service and suite names of the recipe found in the directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("argcomplete")

BIN = Path(sys.executable).parent
RECIPE = """
include = ["base.toml"]
[environment]
name = "shop"

[services."orders-api"]
command = ["sleep", "60"]

[services.payments]
command = ["sleep", "60"]

[suites.smoke]
command = ["true"]
"""


def complete(line: str, cwd: Path, shell: str = "bash") -> list[str]:
    """Source the generated script in bash and ask its function for `line`'s completions."""
    script = subprocess.run(
        [str(BIN / "stagedeck"), "completion", shell], capture_output=True, text=True, check=True
    ).stdout
    words = line.split(" ")
    driver = (
        f"{script}\n"
        f"COMP_LINE={line!r}; COMP_POINT=${{#COMP_LINE}}; COMP_TYPE=9\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
        "_python_argcomplete stagedeck\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}"}
    env.pop("STAGEDECK_RECIPE", None)
    out = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", driver],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return sorted(w.strip() for w in out.stdout.splitlines() if w.strip())


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "base.toml").write_text(
        '[services.ledger]\ncommand = ["sleep", "60"]\n', encoding="utf-8"
    )
    (tmp_path / "stagedeck.toml").write_text(RECIPE, encoding="utf-8")
    (tmp_path / "src").mkdir()
    return tmp_path / "src"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_service_names_from_the_discovered_recipe(project: Path) -> None:
    # RECIPE may come first, so bundled example names are offered beside the services
    assert complete("stagedeck redeploy ", project) == [
        "demo",
        "ledger",
        "orders-api",
        "payments",
        "realworld",
    ]
    assert complete("stagedeck redeploy or", project) == ["orders-api"]
    assert complete("stagedeck fault pay", project) == ["payments"]
    assert complete("stagedeck run sm", project) == ["smoke"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_commands_and_options(project: Path) -> None:
    assert "redeploy" in complete("stagedeck re", project)
    assert complete("stagedeck status --js", project) == ["--json"]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_other_shells_get_a_script(shell: str) -> None:
    out = subprocess.run(
        [str(BIN / "stagedeck"), "completion", shell], capture_output=True, text=True, check=True
    ).stdout
    assert "stagedeck" in out and "_ARGCOMPLETE" in out


def test_normal_start_up_does_not_import_argcomplete() -> None:
    code = "import sys; from stagedeck.cli.main import main; main(['examples']); print('argcomplete' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().endswith("False")
