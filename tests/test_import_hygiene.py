"""The core must never import Textual: the CLI and other views reuse it headless."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "stagedeck.recipe",
    "stagedeck.graph",
    "stagedeck.engine",
    "stagedeck.events",
    "stagedeck.probes",
    "stagedeck.logs",
    "stagedeck.latency",
    "stagedeck.actions",
    "stagedeck.headless",
    "stagedeck.cli",
    "stagedeck.targets.local",
    "stagedeck.targets.attached",
    "stagedeck.targets.docker",
    "stagedeck.targets.docker_discovery",
    "stagedeck.demo.docker",
    "stagedeck.store",
    "stagedeck.shared",
    "stagedeck.suites",
    "stagedeck.recording",
    "stagedeck.report",
    "stagedeck.seeding",
    "stagedeck.reload",
    "stagedeck.secrets",
    "stagedeck.graph_layout",
    "stagedeck.sparkline",
    "stagedeck.logquery",
    "stagedeck.targets.kubernetes",
    "stagedeck.targets.k8s_discovery",
]


def test_core_does_not_import_textual() -> None:
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in CORE)
        + "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        + "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core imported: {out.stdout}"
