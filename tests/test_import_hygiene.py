"""The layers hold: the core never imports Textual, and nothing below the front ends imports them.

The contract covers every module of the package automatically: a new module is
checked the day it is added, with no list to keep by hand. Two checks, because
each misses what the other sees:

* a static walk of every ``import`` statement, including the lazy ones inside
  functions, which an import at runtime never executes;
* a real import of every core module in a fresh interpreter, which catches an
  import that some dependency makes on our behalf.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import stagedeck

PACKAGE = Path(stagedeck.__file__).resolve().parent
FRONT_ENDS = ("stagedeck.tui", "stagedeck.cli")
ENTRY_POINTS = {"stagedeck.__main__"}
"""Modules whose whole job is to start a front end."""
TEXTUAL_ALLOWED = {
    # Theme colours are Textual colours, so Textual's own parser validates them; it is
    # imported only when a theme file is checked, never on the headless commands' paths.
    "stagedeck.config.themes",
}


COCKPIT_LAUNCHERS = {"stagedeck.cli.cockpit"}
"""CLI modules that open the cockpit (lazily, in the command that does)."""
PROCESS_LIFECYCLE = "stagedeck.tui.lifecycle"
"""How a cockpit process starts and ends. Any CLI module may use it (``cli.main``
ends a run whose terminal is gone with it): it loads no Textual until a cockpit runs."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _in(name: str, packages: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def _imports(path: Path, module: str) -> set[str]:
    """Every module an import statement in ``path`` names, resolved to absolute names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                drop = node.level - 1 if is_package else node.level
                base = base[: len(base) - drop] if drop else base
                prefix = ".".join(base)
                target = f"{prefix}.{node.module}" if node.module else prefix
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return found


def core_modules() -> list[str]:
    return [m for m in _modules() if not _in(m, FRONT_ENDS) and m not in ENTRY_POINTS]


def test_the_walk_sees_the_whole_package() -> None:
    """Guard the guard: a broken walk would make every check below pass vacuously."""
    core = core_modules()
    assert "stagedeck.engine.engine" in core
    assert "stagedeck.store.connection" in core
    assert "stagedeck.targets.local.target" in core
    assert not any(m.startswith("stagedeck.tui") for m in core)
    assert len(core) > 60


def test_no_core_module_imports_textual_even_lazily() -> None:
    offenders = {
        module: sorted(i for i in _imports(path, module) if _in(i, ("textual",)))
        for module, path in _modules().items()
        if module in core_modules() and module not in TEXTUAL_ALLOWED
    }
    offenders = {m: names for m, names in offenders.items() if names}
    assert offenders == {}, f"core modules import Textual: {offenders}"


def test_nothing_below_the_front_ends_imports_them() -> None:
    offenders = {
        module: sorted(i for i in _imports(path, module) if _in(i, FRONT_ENDS))
        for module, path in _modules().items()
        if module in core_modules()
    }
    offenders = {m: names for m, names in offenders.items() if names}
    assert offenders == {}, f"core modules import a front end: {offenders}"


def test_the_cli_leaves_textual_to_the_cockpit_commands() -> None:
    """Only the module that opens the cockpit may reach for the TUI (lazily); the
    others may use the process lifecycle, which is no UI."""

    def ui(name: str) -> bool:
        return _in(name, ("textual", "stagedeck.tui")) and not _in(name, (PROCESS_LIFECYCLE,))

    offenders = {
        module: sorted(i for i in _imports(path, module) if ui(i))
        for module, path in _modules().items()
        if _in(module, ("stagedeck.cli",)) and module not in COCKPIT_LAUNCHERS
    }
    offenders = {m: names for m, names in offenders.items() if names}
    assert offenders == {}, f"CLI modules import the TUI: {offenders}"


def test_importing_every_core_module_loads_no_textual() -> None:
    # The demo's suites are test files that pytest imports from their own folder
    # (``from conftest import ...``); the static walk above still covers them.
    modules = [
        m
        for m in core_modules()
        if m not in TEXTUAL_ALLOWED and not _in(m, ("stagedeck.demo.suites",))
    ]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"core imported: {out.stdout}"


def test_the_process_lifecycle_loads_no_textual_until_a_cockpit_runs() -> None:
    """What lets the CLI import it: ending a process must not cost the TUI's import."""
    code = (
        f"import sys, {PROCESS_LIFECYCLE}\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] == 'textual')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{PROCESS_LIFECYCLE} imported: {out.stdout}"
