"""Where start-up time goes: run a stagedeck command with timestamps at each phase.

    python bench/startup_profile.py OUT.json -- demo --free-ports
    python bench/startup_profile.py OUT.json -- docker --project NAME

Runs ``stagedeck.cli.main`` in this process with a few hooks (no change to the
program): the moment the CLI module is imported, the app mounted, the first
bytes written to the terminal (the first frame), the first service status, the
first log line, and every service known. At the first frame it also records
which modules are loaded, in the order they were, so ``-X importtime`` can be
run on exactly that list afterwards (Textual owns stderr while it runs, so
``-X importtime`` cannot be used on the running cockpit itself). The launch
moment is ``STAGEDECK_LAUNCH_T`` (a ``time.time()`` the caller set just before
starting the process) when given, else this script's first line.

Start it in a terminal (tmux); it writes OUT.json when the program exits.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

LAUNCH = float(os.environ.get("STAGEDECK_LAUNCH_T") or time.time())
marks: dict[str, float] = {"python up": time.time() - LAUNCH}
modules_at_first_frame: list[str] = []
writes: list[tuple[float, int]] = []


OUT = sys.argv[1] if len(sys.argv) > 1 else "startup.json"


def mark(name: str) -> None:
    if name not in marks:
        marks[name] = time.time() - LAUNCH
        dump()


def dump() -> None:
    """Written at every mark: a cockpit killed with its terminal never reaches a finally."""
    with open(OUT, "w") as f:
        json.dump(
            {
                "marks": dict(sorted(marks.items(), key=lambda kv: kv[1])),
                "writes": writes[:60],
                "modules": modules_at_first_frame,
            },
            f,
            indent=1,
        )


def install_hooks() -> None:
    from textual.drivers import linux_driver

    original_write = linux_driver.LinuxDriver.write

    def write(self: object, data: str) -> None:
        now = time.time() - LAUNCH
        if len(writes) < 400:
            writes.append((round(now, 4), len(data)))
        if "first write" not in marks and len(data) > 2000:
            modules_at_first_frame.extend(sys.modules)
            mark("first write")
        original_write(self, data)  # type: ignore[arg-type]

    linux_driver.LinuxDriver.write = write  # type: ignore[method-assign]

    import stagedeck.tui.app as app_module

    original_mount = app_module.StagedeckApp.on_mount

    def on_mount(self: app_module.StagedeckApp) -> None:
        mark("app mounted")
        engine = self.engine
        expected = len(engine.recipe.services)

        def on_event(event: object) -> None:
            from stagedeck.engine.events import StatusChanged

            if isinstance(event, StatusChanged):
                mark("first status")
                states = [s.state.value for s in engine.statuses.values()]
                if all(s != "pending" for s in states) and len(states) >= expected:
                    mark("every service has a state")
                healthy = [s for s in engine.statuses.values() if s.ok]
                if len(healthy) >= expected:
                    mark("all healthy")

        engine.subscribe(on_event)

        def poll_logs() -> None:
            while "first log line" not in marks:
                if engine.logs.received():
                    mark("first log line")
                time.sleep(0.005)

        threading.Thread(target=poll_logs, daemon=True).start()
        original_mount(self)
        mark("on_mount done")

    app_module.StagedeckApp.on_mount = on_mount  # type: ignore[method-assign]
    wrap_calls()


WATCHED = {
    "stagedeck.engine.engine": [("Engine", "start")],
    "stagedeck.targets.base": [],
    "stagedeck.targets.docker.target": [("DockerTarget", "open"), ("DockerTarget", "_on_sync")],
    "stagedeck.targets.local.target": [("LocalTarget", "open")],
    "stagedeck.targets.docker.streams": [("LogFollower", "run")],
}
"""Methods whose first call (and, for coroutines, first completion) is marked."""


def wrap_calls() -> None:
    import functools
    import importlib
    import inspect

    for module_name, methods in WATCHED.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for cls_name, meth in methods:
            cls = getattr(module, cls_name, None)
            original = getattr(cls, meth, None)
            if original is None:
                continue
            label = f"{cls_name}.{meth}"
            if inspect.iscoroutinefunction(original):

                def make(original=original, label=label):  # type: ignore[no-untyped-def]
                    @functools.wraps(original)
                    async def wrapper(*a, **k):  # type: ignore[no-untyped-def]
                        mark(label + " called")
                        try:
                            return await original(*a, **k)
                        finally:
                            mark(label + " done")

                    return wrapper
            else:

                def make(original=original, label=label):  # type: ignore[no-untyped-def]
                    @functools.wraps(original)
                    def wrapper(*a, **k):  # type: ignore[no-untyped-def]
                        mark(label + " called")
                        return original(*a, **k)

                    return wrapper

            setattr(cls, meth, make())


def main() -> int:
    argv = sys.argv[sys.argv.index("--") + 1 :]
    import stagedeck.cli.main as cli

    mark("cli imported")
    install_hooks()
    mark("textual + app imported")
    return cli.main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
