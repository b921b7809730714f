"""SuiteRunner: run the recipe's test suites with live progress, locks and cancel.

A suite is any command that writes JUnit XML. For pytest we also inject a
tiny plugin (through ``PYTEST_ADDOPTS``, so it works through shells and
wrappers) that reports each test as it runs over a pipe. For other runners,
progress is read from common output formats (TAP, ``go test``) and the
report at the end is the truth.

Every suite runs in its own process group so cancel and timeout reach the
whole tree, not just the shell that started it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import os
import re
import shutil
import signal
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from stagedeck.deadline import within
from stagedeck.engine.clock import wall
from stagedeck.recipe.model import Recipe, Suite
from stagedeck.recipe.placeholders import fill
from stagedeck.suites.junit import Case, JUnitError, parse_junit
from stagedeck.targets.local import guard
from stagedeck.traces.env import otel_env

KILL_GRACE_SECONDS = 2.0
OUTPUT_LINES = 5000
_PLUGIN_MODULE = "stagedeck_pytest_live"


class SuiteState(enum.StrEnum):
    QUEUED = "queued"
    WAITING = "waiting"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (self.PASSED, self.FAILED, self.ERROR, self.CANCELLED)


@dataclass
class SuiteProgress:
    """What a view shows about one suite run; the runner updates it in place."""

    suite: str
    state: SuiteState = SuiteState.QUEUED
    total: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    current: str = ""
    waiting_for: str = ""
    detail: str = ""
    """Why it ended in error (timeout, bad report); empty otherwise."""
    started: float = 0.0
    finished: float = 0.0
    exit_code: int | None = None
    output: deque[str] = field(default_factory=lambda: deque(maxlen=OUTPUT_LINES))
    output_path: Path | None = None
    junit_path: Path | None = None
    cases: list[Case] = field(default_factory=list)
    windows: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Per test id, when it started and ended (from live events), for failure context."""
    version: int = 0

    @property
    def done(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped

    def describe(self) -> str:
        if self.state is SuiteState.WAITING:
            return f"waiting for {self.waiting_for}"
        if self.state is SuiteState.RUNNING:
            total = f"/{self.total}" if self.total else ""
            return f"running {self.done}{total}" + (f" · {self.current}" if self.current else "")
        if self.state.finished and self.state is not SuiteState.CANCELLED:
            counts = f"{self.passed} passed, {self.failed + self.errors} failed"
            if self.skipped:
                counts += f", {self.skipped} skipped"
            took = f" in {self.finished - self.started:.1f}s" if self.started else ""
            text = f"{self.state.value}: {counts}{took}"
            return f"{text} ({self.detail})" if self.detail else text
        return self.state.value


def is_pytest(argv: Iterable[str]) -> bool:
    return any(Path(a).name in ("pytest", "py.test") or a == "pytest" for a in argv)


def nodeid_to_test_id(nodeid: str) -> str:
    """``suites/test_api.py::TestX::test_y[1]`` → ``suites.test_api.TestX::test_y[1]`` (JUnit's)."""
    parts = nodeid.split("::")
    module = parts[0].removesuffix(".py").replace("/", ".")
    classname = ".".join([module, *parts[1:-1]])
    return f"{classname}::{parts[-1]}" if len(parts) > 1 else module


_TAP = re.compile(r"^(not ok|ok)\s+\d+\s*-?\s*(.*)$")
_GO = re.compile(r"^\s*--- (PASS|FAIL|SKIP): (\S+)")


class SuiteRunner:
    """Runs suites of one recipe; several at once, lock-aware."""

    def __init__(
        self,
        recipe: Recipe,
        *,
        workdir: Path | None = None,
        on_change: Callable[[SuiteProgress], None] | None = None,
        clock: Callable[[], float] = wall,
    ) -> None:
        self.recipe = recipe
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="stagedeck-suites-"))
        self.on_change = on_change
        self.clock = clock
        self.progress: dict[str, SuiteProgress] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._holders: dict[str, str] = {}
        self._procs: dict[str, asyncio.subprocess.Process] = {}
        self._cancelled: set[str] = set()
        self._tasks: dict[str, asyncio.Task[SuiteProgress]] = {}
        self._plugin_dir = self.workdir / "plugin"

    def mask(self, text: str) -> str:
        """Secrets the recipe knows never reach output files, the screen or the store."""
        return self.recipe.mask(text)

    # ---------------------------------------------------------------- public

    def start(self, name: str, run_id: int | str = 0) -> asyncio.Task[SuiteProgress]:
        """Start a suite in the background (a second start while it runs returns the same task)."""
        task = self._tasks.get(name)
        if task is not None and not task.done():
            return task
        task = asyncio.create_task(self.run(name, run_id), name=f"suite:{name}")
        self._tasks[name] = task
        return task

    async def run_many(self, names: Iterable[str], run_id: int | str = 0) -> list[SuiteProgress]:
        return list(await asyncio.gather(*(self.start(n, run_id) for n in names)))

    def cancel(self, name: str) -> bool:
        """Cancel a queued, waiting or running suite; False if it was not active."""
        progress = self.progress.get(name)
        if progress is None or progress.state.finished:
            return False
        self._cancelled.add(name)
        proc = self._procs.get(name)
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        task = self._tasks.get(name)
        if task is not None and progress.state is SuiteState.WAITING:
            task.cancel()
        return True

    async def run(self, name: str, run_id: int | str = 0) -> SuiteProgress:
        suite = self.recipe.suites[name]
        progress = SuiteProgress(name)
        self.progress[name] = progress
        self._cancelled.discard(name)
        self._changed(progress)
        try:
            async with self._holding(suite, progress):
                if name in self._cancelled:
                    progress.state = SuiteState.CANCELLED
                    return progress
                await self._execute(suite, progress, run_id)
        except asyncio.CancelledError:
            progress.state = SuiteState.CANCELLED
            progress.finished = self.clock()
            self._changed(progress)
            if name not in self._cancelled:
                raise
        return progress

    # ---------------------------------------------------------------- locks

    @contextlib.asynccontextmanager
    async def _holding(self, suite: Suite, progress: SuiteProgress):  # type: ignore[no-untyped-def]
        """Take the suite's locks in sorted order (a fixed order cannot deadlock)."""
        taken: list[str] = []
        try:
            for lock_name in sorted(suite.locks):
                lock = self._locks.setdefault(lock_name, asyncio.Lock())
                if lock.locked():
                    holder = self._holders.get(lock_name, "another suite")
                    progress.state = SuiteState.WAITING
                    progress.waiting_for = f"lock '{lock_name}' (held by {holder})"
                    self._changed(progress)
                await lock.acquire()
                self._holders[lock_name] = suite.name
                taken.append(lock_name)
            progress.waiting_for = ""
            yield
        finally:
            for lock_name in reversed(taken):
                self._holders.pop(lock_name, None)
                self._locks[lock_name].release()

    # ---------------------------------------------------------------- running

    def _plugin_path(self) -> Path:
        target = self._plugin_dir / f"{_PLUGIN_MODULE}.py"
        if not target.exists():
            self._plugin_dir.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(__file__).with_name("pytest_live.py"), target)
        return self._plugin_dir

    async def _execute(self, suite: Suite, progress: SuiteProgress, run_id: int | str) -> None:
        run_dir = self.workdir / f"run-{run_id}" / suite.name
        run_dir.mkdir(parents=True, exist_ok=True)
        junit_path = run_dir / "junit.xml"
        junit_path.unlink(missing_ok=True)
        values = {"junit": str(junit_path), "run_id": str(run_id), "tmp": str(run_dir)}
        argv = [fill(a, values) for a in suite.command]
        env = {
            **os.environ,
            # The suite's own spans (a test as the parent of its requests) go to the cockpit too.
            **otel_env(self.recipe, f"suite:{suite.name}"),
            **{k: fill(v, values) for k, v in suite.env.items()},
        }
        env["STAGEDECK_SUITE"] = suite.name
        env["STAGEDECK_JUNIT"] = str(junit_path)
        cwd = Path(fill(str(suite.cwd), values)) if suite.cwd else None
        report = Path(fill(suite.junit, values))
        progress.junit_path = report
        progress.output_path = run_dir / "output.log"

        read_fd, write_fd = os.pipe()
        pass_fds: tuple[int, ...] = ()
        if is_pytest(argv) or suite.shell:
            env["STAGEDECK_LIVE_FD"] = str(write_fd)
            env["PYTEST_ADDOPTS"] = f"{env.get('PYTEST_ADDOPTS', '')} -p {_PLUGIN_MODULE}".strip()
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(self._plugin_path()), env.get("PYTHONPATH", "")) if p
            )
            pass_fds = (write_fd,)

        progress.state = SuiteState.RUNNING
        progress.started = self.clock()
        self._changed(progress)
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=cwd,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                pass_fds=pass_fds,
            )
        except OSError as exc:
            os.close(read_fd)
            os.close(write_fd)
            self._finish(
                progress, SuiteState.ERROR, f"cannot start {argv[0]}: {exc.strerror or exc}"
            )
            return
        os.close(write_fd)
        self._procs[suite.name] = proc
        guard.watch(proc.pid)  # dies with us, even on SIGKILL (targets/local/guard.py)
        live = asyncio.create_task(self._read_live(read_fd, progress))
        output = asyncio.create_task(self._read_output(proc, progress))
        timed_out = False
        try:
            await within(proc.wait(), suite.timeout)
        except TimeoutError:
            timed_out = True
            await self._kill(proc)
        except asyncio.CancelledError:
            await self._kill(proc)
            raise
        finally:
            with contextlib.suppress(TimeoutError):
                await within(asyncio.gather(live, output), 2.0)
            live.cancel()
            self._procs.pop(suite.name, None)
            guard.forget(proc.pid)
        progress.exit_code = proc.returncode

        if suite.name in self._cancelled:
            self._finish(progress, SuiteState.CANCELLED, "cancelled")
            return
        if timed_out:
            self._finish(
                progress,
                SuiteState.ERROR,
                f"timed out after {suite.timeout:g}s; process group killed",
            )
            self._read_report(progress, report, keep_state=True)
            return
        self._read_report(progress, report)

    def _read_report(self, progress: SuiteProgress, report: Path, keep_state: bool = False) -> None:
        try:
            cases = parse_junit(report)
        except JUnitError as exc:
            if not keep_state:
                code = f"exit code {progress.exit_code}; " if progress.exit_code else ""
                self._finish(progress, SuiteState.ERROR, f"{code}{exc}")
            return
        progress.cases = [
            replace(c, message=self.mask(c.message), traceback=self.mask(c.traceback))
            for c in cases
        ]
        cases = progress.cases
        progress.total = len(cases)
        progress.passed = sum(c.outcome == "passed" for c in cases)
        progress.failed = sum(c.outcome == "failed" for c in cases)
        progress.errors = sum(c.outcome == "error" for c in cases)
        progress.skipped = sum(c.outcome == "skipped" for c in cases)
        progress.current = ""
        if keep_state:
            self._changed(progress)
            return
        bad = progress.failed + progress.errors
        if bad:
            self._finish(progress, SuiteState.FAILED, "")
        elif progress.exit_code not in (0, None) and not cases:
            self._finish(progress, SuiteState.ERROR, f"exit code {progress.exit_code}")
        else:
            self._finish(progress, SuiteState.PASSED, "")

    def _finish(self, progress: SuiteProgress, state: SuiteState, detail: str) -> None:
        progress.state = state
        progress.detail = detail
        progress.finished = self.clock()
        progress.current = ""
        self._changed(progress)

    async def _kill(self, proc: asyncio.subprocess.Process) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await within(proc.wait(), KILL_GRACE_SECONDS)
        except TimeoutError:
            pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()

    async def _read_output(self, proc: asyncio.subprocess.Process, progress: SuiteProgress) -> None:
        assert proc.stdout is not None and progress.output_path is not None
        live_plugin = False
        with progress.output_path.open("wb") as sink:
            while True:
                raw = await proc.stdout.readline()
                if not raw:
                    break
                line = self.mask(raw.decode(errors="replace").rstrip("\n"))
                sink.write(line.encode() + b"\n")
                progress.output.append(line)
                live_plugin = live_plugin or bool(progress.total)
                if not live_plugin:
                    self._progress_from_output(line, progress)
                progress.version += 1

    def _progress_from_output(self, line: str, progress: SuiteProgress) -> None:
        """Progress for runners without a plugin: TAP and ``go test -v`` lines."""
        tap = _TAP.match(line)
        if tap:
            if tap.group(1) == "ok":
                progress.passed += 1
            else:
                progress.failed += 1
            progress.current = tap.group(2)
            self._changed(progress)
            return
        go = _GO.match(line)
        if go:
            kind = go.group(1)
            if kind == "PASS":
                progress.passed += 1
            elif kind == "FAIL":
                progress.failed += 1
            else:
                progress.skipped += 1
            progress.current = go.group(2)
            self._changed(progress)

    async def _read_live(self, fd: int, progress: SuiteProgress) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
        )
        try:
            while line := await reader.readline():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                self._apply_live(event, progress)
        finally:
            transport.close()

    def _apply_live(self, event: Mapping[str, object], progress: SuiteProgress) -> None:
        kind = event.get("event")
        now = self.clock()
        if kind == "collected":
            progress.total = int(str(event.get("total", 0)))
        elif kind == "start":
            test = str(event.get("test", ""))
            progress.current = test.rsplit("::", 1)[-1]
            progress.windows[nodeid_to_test_id(test)] = (now, now)
        elif kind == "result":
            test_id = nodeid_to_test_id(str(event.get("test", "")))
            start = progress.windows.get(test_id, (now, now))[0]
            progress.windows[test_id] = (start, now)
            outcome = event.get("outcome")
            if outcome == "passed":
                progress.passed += 1
            elif outcome == "failed":
                progress.failed += 1
            elif outcome == "skipped":
                progress.skipped += 1
            else:
                progress.errors += 1
        self._changed(progress)

    def _changed(self, progress: SuiteProgress) -> None:
        progress.version += 1
        if self.on_change is not None:
            self.on_change(progress)
