#!/usr/bin/env python3
"""Rewrite old flat ``stagedeck.*`` module paths to the layered packages.

The tree was restructured (issue 15); branches written against the flat layout
can run this on their files after rebasing:

    python3 docs/rewrite-imports.py $(git ls-files '*.py')

It rewrites dotted paths in imports, strings (``"stagedeck.recipe"``,
``-p stagedeck.pytest_live``) and patch targets. A path is only rewritten when
it is an old module name, alone or before an attribute (``stagedeck.engine``,
``"stagedeck.secrets.mask"``), never a new path (``stagedeck.engine.events``), so
running it twice changes nothing.
``from stagedeck import recipe``-style imports are reported, not rewritten.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# old module -> new module (docs/architecture.md has the same table)
MOVES: dict[str, str] = {
    "stagedeck.actions": "stagedeck.engine.actions",
    "stagedeck.clock": "stagedeck.engine.clock",
    "stagedeck.engine": "stagedeck.engine.engine",
    "stagedeck.events": "stagedeck.engine.events",
    "stagedeck.graph": "stagedeck.engine.graph",
    "stagedeck.graph_layout": "stagedeck.engine.graph_layout",
    "stagedeck.latency": "stagedeck.engine.latency",
    "stagedeck.logquery": "stagedeck.engine.logquery",
    "stagedeck.logs": "stagedeck.engine.logs",
    "stagedeck.probes": "stagedeck.engine.probes",
    "stagedeck.reload": "stagedeck.engine.reload",
    "stagedeck.seeding": "stagedeck.engine.seeding",
    "stagedeck.sparkline": "stagedeck.engine.sparkline",
    "stagedeck.recipe": "stagedeck.recipe.model",
    "stagedeck.errors": "stagedeck.recipe.errors",
    "stagedeck.placeholders": "stagedeck.recipe.placeholders",
    "stagedeck.secrets": "stagedeck.recipe.secrets",
    "stagedeck.tomlpos": "stagedeck.recipe.tomlpos",
    "stagedeck.userconfig": "stagedeck.config.userconfig",
    "stagedeck.themes": "stagedeck.config.themes",
    "stagedeck.identity": "stagedeck.store.identity",
    "stagedeck.shared": "stagedeck.store.shared",
    "stagedeck.signature": "stagedeck.store.signature",
    "stagedeck.suites": "stagedeck.suites.runner",
    "stagedeck.recording": "stagedeck.suites.recording",
    "stagedeck.junit": "stagedeck.suites.junit",
    "stagedeck.report": "stagedeck.suites.report",
    "stagedeck.pytest_live": "stagedeck.suites.pytest_live",
    "stagedeck.cli": "stagedeck.cli.main",
    "stagedeck.cli_records": "stagedeck.cli.records",
    "stagedeck.headless": "stagedeck.cli.headless",
    "stagedeck.targets.local": "stagedeck.targets.local.target",
    "stagedeck.targets.attached": "stagedeck.targets.local.attached",
    "stagedeck.targets.pipes": "stagedeck.targets.local.pipes",
    "stagedeck.targets.watchdog": "stagedeck.targets.local.watchdog",
    "stagedeck.targets.docker": "stagedeck.targets.docker.target",
    "stagedeck.targets.docker_discovery": "stagedeck.targets.docker.discovery",
    "stagedeck.targets.docker_ops": "stagedeck.targets.docker.ops",
    "stagedeck.targets.docker_state": "stagedeck.targets.docker.state",
    "stagedeck.targets.docker_streams": "stagedeck.targets.docker.streams",
    "stagedeck.targets.kubernetes": "stagedeck.targets.kubernetes.target",
    "stagedeck.targets.k8s_client": "stagedeck.targets.kubernetes.client",
    "stagedeck.targets.k8s_discovery": "stagedeck.targets.kubernetes.discovery",
    "stagedeck.targets.k8s_logs": "stagedeck.targets.kubernetes.logs",
    "stagedeck.targets.k8s_model": "stagedeck.targets.kubernetes.model",
    "stagedeck.targets.k8s_watch": "stagedeck.targets.kubernetes.watch",
    "stagedeck.policy": "stagedeck.operations.policy",
}
# Unchanged: stagedeck.store (a package now; it re-exports every public name),
# stagedeck.targets, stagedeck.targets.base, stagedeck.tui.*, stagedeck.demo.*.

# Logger names ("getLogger(\"stagedeck.engine\")") are names, not paths: left alone.
# Longest first, so ``stagedeck.targets.docker_ops`` is never read as ``stagedeck.targets.docker``.
_OLD = sorted(MOVES, key=len, reverse=True)
_PATTERN = re.compile(
    r"(?<![\w.])(?<!getLogger\(\")(" + "|".join(re.escape(o) for o in _OLD) + r")(\.\w+)?(?!\w)"
)
# Every module path of the new tree, so ``stagedeck.engine.events`` (already new) is
# told apart from ``stagedeck.secrets.mask`` (an old module's attribute, as in a patch
# target): an old name that is now a package is rewritten only before a name that is
# not one of the package's modules.
_NEW = {".".join(v.split(".")[:i]) for v in MOVES.values() for i in range(2, v.count(".") + 2)}
_NEW |= {"stagedeck.engine.recipe_diff", "stagedeck.triage.conditions"}
_NEW |= {f"stagedeck.cli.{m}" for m in ("actions", "check", "cockpit", "common")}
_NEW |= {f"stagedeck.store.{m}" for m in ("annotations", "audit", "connection", "errors")}
_NEW |= {f"stagedeck.store.{m}" for m in ("leases", "migrations", "presence", "records", "runs")}


def _replace(m: re.Match[str]) -> str:
    old, attribute = m.group(1), m.group(2) or ""
    if attribute and old + attribute in _NEW:
        return m.group(0)
    return MOVES[old] + attribute


_FILE_PATHS = {  # file paths some scripts copy by name
    "src/stagedeck/pytest_live.py": "src/stagedeck/suites/pytest_live.py",
    '"src" / "stagedeck" / "pytest_live.py"': '"src" / "stagedeck" / "suites" / "pytest_live.py"',
}
_FROM_PACKAGE = re.compile(r"^\s*from stagedeck(\.targets)? import (.+)$", re.M)


def rewrite(text: str) -> str:
    text = _PATTERN.sub(_replace, text)
    for old, new in _FILE_PATHS.items():
        text = text.replace(old, new)
    return text


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    for name in argv:
        path = Path(name)
        old = path.read_text(encoding="utf-8")
        new = rewrite(old)
        if new != old:
            path.write_text(new, encoding="utf-8")
            print(f"rewrote {path}")
        for m in _FROM_PACKAGE.finditer(new):
            moved = [
                n.strip()
                for n in m.group(2).split(",")
                if f"stagedeck{m.group(1) or ''}.{n.split(' as ')[0].strip()}" in MOVES
            ]
            if moved:
                print(f"{path}: check by hand: {m.group(0).strip()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
