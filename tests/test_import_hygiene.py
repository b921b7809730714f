"""The core must never import Textual: the CLI and other views reuse it headless."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "stagedeck.recipe.model",
    "stagedeck.engine.graph",
    "stagedeck.engine.engine",
    "stagedeck.engine.events",
    "stagedeck.engine.probes",
    "stagedeck.engine.logs",
    "stagedeck.engine.latency",
    "stagedeck.engine.actions",
    "stagedeck.cli.headless",
    "stagedeck.cli.main",
    "stagedeck.targets.local.target",
    "stagedeck.targets.local.attached",
    "stagedeck.targets.docker.target",
    "stagedeck.targets.docker.discovery",
    "stagedeck.demo.docker",
    "stagedeck.store",
    "stagedeck.store.shared",
    "stagedeck.suites.runner",
    "stagedeck.suites.recording",
    "stagedeck.suites.report",
    "stagedeck.engine.seeding",
    "stagedeck.engine.reload",
    "stagedeck.recipe.secrets",
    "stagedeck.engine.graph_layout",
    "stagedeck.engine.sparkline",
    "stagedeck.engine.logquery",
    "stagedeck.targets.kubernetes.target",
    "stagedeck.targets.kubernetes.discovery",
    "stagedeck.engine.recipe_diff",
    "stagedeck.triage.conditions",
    "stagedeck.triage.model",
    "stagedeck.triage.rank",
    "stagedeck.triage.live",
    "stagedeck.triage.snapshot",
    "stagedeck.triage.render",
    "stagedeck.cli.why",
    "stagedeck.cli.actions",
    "stagedeck.cli.check",
    "stagedeck.cli.cockpit",
    "stagedeck.cli.records",
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


def test_the_engine_does_not_import_triage() -> None:
    """Triage sits above the engine: the engine records probes, triage reads them."""
    code = (
        "import sys\n"
        "import stagedeck.engine.engine, stagedeck.engine.events, stagedeck.engine.probes\n"
        "print(','.join(sorted(m for m in sys.modules if m.startswith('stagedeck.triage'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"engine imported: {out.stdout}"
