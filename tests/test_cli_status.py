"""`stagedeck status`: probe once; exit 0 all healthy, 1 otherwise, 2 on a bad recipe."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from stagedeck.demo import recipe_path
from support.procs import new_marker, wait_until_gone

SERVICE = Path(__file__).parent / "support" / "services.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stagedeck", *args], capture_output=True, text=True
    )


def test_status_exit_codes_and_json(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        up = s.getsockname()[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = s.getsockname()[1]
    marker = new_marker()
    server = subprocess.Popen(
        [sys.executable, str(SERVICE), str(up)],
        env={"STAGEDECK_TEST_MARKER": marker, "PATH": "/usr/bin:/bin"},
    )
    try:
        recipe = tmp_path / "r.toml"
        text = textwrap.dedent(f"""
            [environment]
            name = "status"

            [services.up]
            command = ["true"]
            health = "http://127.0.0.1:{up}/"
            """)
        recipe.write_text(text)
        for _ in range(50):
            if run("status", str(recipe)).returncode == 0:
                break
        ok = run("status", str(recipe), "--json")
        assert ok.returncode == 0, ok.stdout + ok.stderr
        data = json.loads(ok.stdout)
        assert data["services"][0]["healthy"] is True and data["services"][0]["latency_ms"] >= 0

        recipe.write_text(
            text + f'\n[services.down]\ncommand = ["true"]\nhealth = "http://127.0.0.1:{down}/"\n'
        )
        bad = run("status", str(recipe))
        assert bad.returncode == 1
        assert "down" in bad.stdout and "connection refused" in bad.stdout

        recipe.write_text(text.replace("health", "helth"))
        broken = run("status", str(recipe))
        assert broken.returncode == 2 and "did you mean 'health'" in broken.stderr
    finally:
        server.kill()
    assert wait_until_gone(marker) == []


def test_check_summarises_the_demo() -> None:
    out = run("check", str(recipe_path()))
    assert out.returncode == 0
    assert "layer 0: ledger, inventory, payments" in out.stdout
    assert "suites: api, flows" in out.stdout
