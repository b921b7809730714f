"""Where start-up time goes: run a stagedeck command with timestamps at each phase.

    python bench/startup_profile.py OUT.json -- demo --free-ports
    python bench/startup_profile.py OUT.json -- docker --project NAME

Runs ``stagedeck.cli.main`` in this process with a few hooks (no change to the
program): when the CLI, Textual's driver and the cockpit module are imported,
the engine starts, the target opens and first reports, the first log line
arrives, every service has a state, all are healthy, the app is mounted, and the
first frame is written to the terminal (the first large write). At the first
frame it also records which modules are loaded, so ``-X importtime`` can be run
on exactly that list afterwards (Textual owns stderr while it runs, so
``-X importtime`` cannot be used on the running cockpit itself).

Hooks are installed when their module is imported by the program (a meta-path
finder), never by importing it early: that would move the cost and defeat any
overlap the program arranges. The launch moment is ``STAGEDECK_LAUNCH_T`` (a
``time.time()`` the caller set just before starting the process) when given,
else this script's first line. Start it in a terminal (tmux); OUT.json is
rewritten at every mark.
"""

from __future__ import annotations

import functools
import importlib.machinery
import inspect
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

LAUNCH = float(os.environ.get("STAGEDECK_LAUNCH_T") or time.time())
OUT = sys.argv[1] if len(sys.argv) > 1 else "startup.json"
marks: dict[str, float] = {"python up": time.time() - LAUNCH}
cpu_marks: dict[str, float] = {"python up": time.process_time()}
"""CPU seconds of the whole process (every thread) at each mark: far less sensitive to
the machine's other load than the wall-clock marks."""
modules_at_first_frame: list[str] = []
writes: list[tuple[float, int]] = []


def mark(name: str) -> None:
    if name not in marks:
        marks[name] = time.time() - LAUNCH
        cpu_marks[name] = time.process_time()
        dump()


def dump() -> None:
    """Written at every mark: a cockpit killed with its terminal never reaches a finally."""
    with open(OUT, "w") as f:
        json.dump(
            {
                "marks": dict(sorted(marks.items(), key=lambda kv: kv[1])),
                "cpu": dict(sorted(cpu_marks.items(), key=lambda kv: kv[1])),
                "writes": writes[:60],
                "modules": modules_at_first_frame,
            },
            f,
            indent=1,
        )


class AfterImport:
    """A meta-path finder that runs a hook right after a named module is executed."""

    def __init__(self, hooks: dict[str, Callable[[Any], None]]) -> None:
        self.hooks = hooks

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in self.hooks:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None:
            return spec
        loader, hook = spec.loader, self.hooks.pop(name)
        original = loader.exec_module

        def exec_module(module: Any) -> None:
            original(module)
            hook(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def marked(cls: Any, meth: str) -> None:
    """Mark the first call of ``cls.meth`` (and, for a coroutine, its first completion)."""
    original = getattr(cls, meth)
    label = f"{cls.__name__}.{meth}"
    if inspect.iscoroutinefunction(original):

        @functools.wraps(original)
        async def async_wrapper(*a: Any, **k: Any) -> Any:
            mark(label + " called")
            try:
                return await original(*a, **k)
            finally:
                mark(label + " done")

        setattr(cls, meth, async_wrapper)
    else:

        @functools.wraps(original)
        def wrapper(*a: Any, **k: Any) -> Any:
            mark(label + " called")
            return original(*a, **k)

        setattr(cls, meth, wrapper)


def hook_driver(module: Any) -> None:
    mark("textual driver imported")
    original_write = module.LinuxDriver.write

    def write(self: object, data: str) -> None:
        now = time.time() - LAUNCH
        if len(writes) < 400:
            writes.append((round(now, 4), len(data)))
        if "first frame written" not in marks and len(data) > 2000:
            modules_at_first_frame.extend(sys.modules)
            mark("first frame written")
        original_write(self, data)

    module.LinuxDriver.write = write


def hook_app(module: Any) -> None:
    mark("cockpit (tui.app) imported")
    original_mount = module.StagedeckApp.on_mount

    def on_mount(self: Any) -> None:
        mark("app mounted")
        original_mount(self)

    module.StagedeckApp.on_mount = on_mount


def hook_engine(module: Any) -> None:
    marked(module.Engine, "start")
    original_init = module.Engine.__init__

    def init(self: Any, *a: Any, **k: Any) -> None:
        original_init(self, *a, **k)
        mark("engine made")
        engine = self
        expected = len(engine.recipe.services)

        def on_event(event: object) -> None:
            if type(event).__name__ != "StatusChanged":
                return
            mark("first status")
            statuses = list(engine.statuses.values())
            if len(statuses) >= expected and all(s.state.value != "pending" for s in statuses):
                mark("every service has a state")
            if sum(1 for s in statuses if s.ok) >= expected:
                mark("all healthy")

        engine.subscribe(on_event)

        def poll_logs() -> None:
            while "first log line" not in marks:
                if engine.logs.received():
                    mark("first log line")
                time.sleep(0.005)

        threading.Thread(target=poll_logs, daemon=True).start()

    module.Engine.__init__ = init


def hook_docker(module: Any) -> None:
    marked(module.DockerTarget, "open")
    marked(module.DockerTarget, "_on_sync")


def hook_local(module: Any) -> None:
    marked(module.LocalTarget, "open")


def hook_streams(module: Any) -> None:
    marked(module.LogFollower, "run")


def main() -> int:
    argv = sys.argv[sys.argv.index("--") + 1 :]
    sys.meta_path.insert(
        0,
        AfterImport(
            {
                "textual.drivers.linux_driver": hook_driver,
                "stagedeck.tui.app": hook_app,
                "stagedeck.engine.engine": hook_engine,
                "stagedeck.targets.docker.target": hook_docker,
                "stagedeck.targets.local.target": hook_local,
                "stagedeck.targets.docker.streams": hook_streams,
            }
        ),
    )
    try:  # what the entry points do first (python -m stagedeck, the console script)
        from stagedeck.startup_gc import pause_gc
    except ImportError:  # a build from before start-up GC pausing
        pass
    else:
        pause_gc()
    import stagedeck.cli.main as cli

    mark("cli imported")
    return cli.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
