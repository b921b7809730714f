"""The cockpit as a process: run it, and make sure it ends and cleans up.

Signals, a terminal that goes away (SSH drop, closed tmux), Textual's threads
that outlive the app: what is needed so that the services a cockpit started
are always stopped. Kept apart from the app, which is about what is on screen;
the CLI imports this module, and it imports the app only when a cockpit runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.handlers
import os
import signal
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from stagedeck import firstframe
from stagedeck.config.userconfig import UserConfig
from stagedeck.engine.engine import Engine
from stagedeck.engine.events import Event
from stagedeck.operations.policy import ReadOnly
from stagedeck.recipe.model import Recipe
from stagedeck.startup_gc import resume_gc
from stagedeck.store import default_db_path
from stagedeck.store.identity import current_user
from stagedeck.store.shared import SharedState

LOG_BYTES = 1_000_000
"""The log file is rotated at this size (one older file kept): it holds tracebacks, not history."""

_log_file: Path | None = None


def default_log_path() -> Path:
    """``$XDG_STATE_HOME/stagedeck/cockpit.log`` (``~/.local/state/...``): per person,
    unlike the shared database, whose folder others may not let us write to."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state).expanduser() / "stagedeck" / "cockpit.log"


def log_file() -> Path | None:
    """Where this cockpit's log goes, once :func:`open_log_file` succeeded (None in tests)."""
    return _log_file


def open_log_file(path: Path | None = None) -> Callable[[], None]:
    """Send the ``stagedeck`` loggers to a file while the cockpit runs; returns the
    function that closes it.

    Without a handler, Python's last-resort handler writes warnings to stderr, under
    the cockpit's screen, where nobody can read them. A file that cannot be opened
    leaves logging as it was: the cockpit runs without it."""
    global _log_file
    path = path or default_log_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=LOG_BYTES, backupCount=1, encoding="utf-8"
        )
    except OSError:
        return lambda: None
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("stagedeck")
    level = logger.level
    logger.addHandler(handler)
    if level == logging.NOTSET or level > logging.INFO:
        logger.setLevel(logging.INFO)
    _log_file = path

    def close() -> None:
        global _log_file
        _log_file = None
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()

    return close


async def run_cockpit_async(
    recipe: Recipe,
    *,
    theme: str | None = None,
    config: UserConfig | None = None,
    read_only: ReadOnly | None = None,
    user: str | None = None,
    db: str | None = None,
    watch_recipe: bool = True,
    engine: Engine | None = None,
    starting: asyncio.Future[None] | None = None,
    replay: Iterable[Event] = (),
) -> int:
    """Run the cockpit and, whatever happens, stop the engine (and local services) after.

    ``engine`` and ``starting`` come from :mod:`stagedeck.tui.launch`, which starts the
    engine while Textual is still being imported; ``replay`` is what it published then.
    ``engine`` may be a mirror of an environment process: stopping it only detaches,
    and the environment keeps running for whoever else watches.
    """
    from stagedeck.tui.app import StagedeckApp

    engine = engine or Engine(recipe)
    user = current_user(user or (config.user if config else None))
    # The shared database opens after the first frame (SharedState.connect).
    shared = SharedState(None, recipe.name, user, db_path=default_db_path(db))
    app = StagedeckApp(
        engine,
        theme=theme,
        config=config,
        read_only=read_only,
        shared=shared,
        user=user,
        suites_workdir=default_db_path(db).parent / "runs" / recipe.name,
        watch_recipe=watch_recipe,
        start_engine=starting is None,
        replay=replay,
    )
    from stagedeck.tui.handover import driver_for

    app.driver_class = driver_for(app.driver_class)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, app.exit)
    guard_orphaned_shutdown(os.getppid(), loop, partial(app.exit, 0))
    close_log = open_log_file()
    try:
        result = await app.run_async()
    finally:
        # An early frame the app never took over (it failed before its driver started)
        # goes now, and messages held back while it was up are printed.
        firstframe.release()
        # Textual leaves its SIGCONT/SIGTSTP handlers installed after the app exits. When the
        # terminal goes away (an SSH drop, a closed tmux) the kernel sends SIGHUP *and*
        # SIGCONT; the SIGCONT would "resume" the app and start an input thread on a dead
        # terminal that spins forever. Nothing is left to resume: restore the defaults.
        for sig in (signal.SIGCONT, signal.SIGTSTP):
            signal.signal(sig, signal.SIG_DFL)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        # From here on we only clean up (stop services, remove a demo stack): a terminal
        # that goes away now must not cut that short.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        resume_gc()  # if the app never drew a frame (stagedeck/startup_gc.py)
        await shared.stop()
        if starting is not None and not starting.done():
            starting.cancel()
        await app.triage.stop()
        await engine.stop()
        close_log()
    return result or 0


def _terminal_alive() -> bool:
    """False once the terminal has hung up (its attributes can no longer be read).
    Textual's driver reads keys from stdin and sets the terminal's modes on it."""
    try:
        termios.tcgetattr(sys.__stdin__.fileno() if sys.__stdin__ else 0)
    except (termios.error, OSError, ValueError):
        return False
    return True


def guard_resume_signal(is_running: Callable[[], bool]) -> None:
    """Let Textual's SIGCONT handler resume the app only when there is something to
    resume. When a terminal goes away the kernel sends SIGHUP *and* SIGCONT; the
    handler then started a second output thread on the dead terminal, the first was
    never stopped, and shutdown blocked for good on the second's full queue (caught
    by CI, with the services still running). Only a SIGCONT that follows a SIGTSTP
    (job control) is passed on to Textual. Called by the app once mounted, after
    Textual installed its handlers."""
    resume = signal.getsignal(signal.SIGCONT)
    suspend = signal.getsignal(signal.SIGTSTP)
    if not callable(resume) or not callable(suspend):
        return  # headless (tests): nothing to guard
    suspended = False

    def on_stop(signum: int, frame: Any) -> None:
        nonlocal suspended
        suspended = True
        suspend(signum, frame)

    def on_continue(signum: int, frame: Any) -> None:
        nonlocal suspended
        if suspended and is_running() and _terminal_alive():
            suspended = False
            resume(signum, frame)

    signal.signal(signal.SIGTSTP, on_stop)
    signal.signal(signal.SIGCONT, on_continue)


ORPHAN_GRACE_SECONDS = 15.0
"""How long a cockpit whose terminal is gone may take to stop its services itself."""
STUCK_SECONDS = 3.0
"""An event loop silent this long, with the terminal gone, is not coming back."""


def guard_orphaned_shutdown(
    parent: int,
    loop: asyncio.AbstractEventLoop,
    on_orphaned: Callable[[], object],
    grace: float = ORPHAN_GRACE_SECONDS,
) -> None:
    """Make sure a cockpit whose terminal went away always ends, even if its main thread
    is stuck.

    A vanished terminal (SSH drop, killed tmux) takes our parent with it and the kernel
    reparents us. SIGHUP normally says so first; once we are orphaned this thread asks
    for the graceful path too (``on_orphaned``, run on the loop: the app exits and the
    services are stopped). But a terminal that vanishes mid-shutdown can leave
    Textual's main thread blocked for good on a write to that terminal (seen in CI:
    ``WriterThread.stop`` waiting on a full queue), and a blocked main thread handles no
    signals. So if the event loop then stops beating (or cleanup runs past ``grace``),
    this thread ends the process, and the watchdog process stops the services.
    """
    beat = [time.monotonic()]

    def tick() -> None:
        beat[0] = time.monotonic()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        orphaned = beat[0] = time.monotonic()
        with contextlib.suppress(RuntimeError):  # the loop may be closed already
            loop.call_soon_threadsafe(on_orphaned)
        while True:
            # The loop's heartbeat is asked for only now: a live cockpit's loop is not
            # woken twice a second for it. A loop that is stuck (or closed) never answers.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(tick)
            now = time.monotonic()
            if now - beat[0] > STUCK_SECONDS or now - orphaned > grace:
                break
            time.sleep(0.25)
        with contextlib.suppress(Exception):
            sys.stderr.write("stagedeck: terminal gone and shutdown stuck; exiting\n")
        os._exit(1)

    threading.Thread(target=watch, name="stagedeck-orphan-guard", daemon=True).start()


def exit_if_input_thread_lingers(code: int) -> None:
    """Belt and braces for the SIGCONT race above: a signal that lands while the app is
    still shutting down can restart Textual's input thread, which would keep the process
    alive (and busy) forever. Called last, after every cleanup has run."""
    if any(t.name == "textual-input" and t.is_alive() for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
