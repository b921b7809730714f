"""Living recipes: watch the recipe and its includes, and apply valid changes live.

Two parts, each usable on its own (what a new recipe changes is
:func:`stagedeck.engine.recipe_diff.diff_recipes`, pure and easy to test):

* :class:`RecipeWatcher` watches the files and calls back with a new
  :class:`Recipe` or the :class:`RecipeError` of a broken save. Loading runs in
  a thread; the loop is never blocked.
* :func:`apply_change` hands a change to the engine: a recipe goes to
  :meth:`Engine.apply_recipe`, an error is published as
  ``RecipeReloaded(problems=...)`` while the engine keeps the last good recipe.

Why directories, not files: editors save by writing a temporary file and
renaming it over the original, which replaces the inode a file watch was on.
Watching each file's directory (not recursively) and filtering by name sees
every kind of save. A cheap stat of the few watched files whenever the watcher
is idle catches anything the notifications missed (network file systems).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from stagedeck.engine.events import RecipeReloaded
from stagedeck.engine.recipe_diff import ReloadOutcome
from stagedeck.recipe.errors import RecipeError
from stagedeck.recipe.model import Recipe, load_recipe, recipe_files

if TYPE_CHECKING:
    from stagedeck.engine.engine import Engine

log = logging.getLogger("stagedeck.reload")

_IDLE_CHECK_MS = 2000
"""How long the watcher waits for a notification before it checks the files itself (a
save before the watch began, a file system without inotify). Each check is a hand-over
from watchfiles' thread to the loop: at 0.5 s they were two of the environment process's
eleven wake-ups a second at rest."""
_STEP_MS = 500
"""How often watchfiles' thread wakes to look at its notifications (and takes the GIL to
ask whether to stop). At the 150 ms it had, that was 6.7 wake-ups a second of an idle
environment process; a save is now seen within half a second and applied after one more
quiet half second, which a person editing a recipe does not notice."""


# --------------------------------------------------------------------------- watching

Change = Recipe | RecipeError
Callback = Callable[[Change], Awaitable[object] | object]


def _stamp(paths: frozenset[Path]) -> dict[Path, tuple[int, int] | None]:
    stamps: dict[Path, tuple[int, int] | None] = {}
    for path in paths:
        try:
            st = path.stat()
        except OSError:
            stamps[path] = None
        else:
            stamps[path] = (st.st_mtime_ns, st.st_size)
    return stamps


def _only(files: frozenset[Path]) -> Callable[[object, str], bool]:
    def keep(_change: object, name: str) -> bool:
        return Path(name) in files

    return keep


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


class RecipeWatcher:
    """Watches a recipe file and its includes; calls back once per settled change.

    ``callback`` receives the new :class:`Recipe`, or the :class:`RecipeError`
    of a save that does not load (the previous recipe stays the last good one).
    It may be a coroutine function; it runs on the event loop.
    """

    def __init__(
        self,
        path: str | Path,
        callback: Callback,
        *,
        current: Recipe | None = None,
        environ: Mapping[str, str] | None = None,
        auto_ports: bool | None = None,
        debounce_ms: int = 150,
        force_polling: bool | None = None,
    ) -> None:
        self.path = _absolute(Path(path))
        self.callback = callback
        self.current = current
        """The last recipe that loaded (services keep their free ports across reloads)."""
        self.environ = environ
        self.auto_ports = (
            (current is not None and current.auto_ports) if auto_ports is None else auto_ports
        )
        """Free ports for local services (``--free-ports``); default: as ``current`` was loaded."""
        self.debounce_ms = debounce_ms
        self.force_polling = force_polling
        self.ready = asyncio.Event()
        """Set once the files are being watched (tests wait for it)."""
        self.reloads = 0
        """How many times the watcher loaded the recipe (good or bad)."""
        self._stop = asyncio.Event()
        self._files: frozenset[Path] = frozenset()
        self._stamps: dict[Path, tuple[int, int] | None] = {}

    @property
    def files(self) -> frozenset[Path]:
        """The files watched right now."""
        return self._files

    def stop(self) -> None:
        self._stop.set()

    async def reload(self) -> Change:
        """Load the recipe now (in a thread) and hand the result to the callback."""
        files, result = await asyncio.to_thread(self._load)
        self._files = files
        self.reloads += 1
        if isinstance(result, Recipe):
            self.current = result
        try:
            returned = self.callback(result)
            if inspect.isawaitable(returned):
                await returned
        except Exception:  # a failing view must not stop the watching
            log.exception("recipe reload callback failed")
        return result

    def _load(self) -> tuple[frozenset[Path], Change]:
        """Blocking part of a reload: stamp the files, then load (so no save slips between)."""
        files = self._watch_set()
        self._stamps = _stamp(files)
        try:
            result: Change = load_recipe(
                self.path, environ=self.environ, auto_ports=self.auto_ports, previous=self.current
            )
        except RecipeError as exc:
            result = exc
        return files, result

    def _watch_set(self) -> frozenset[Path]:
        found = {_absolute(p) for p in recipe_files(self.path)}
        if self.current is not None:
            found |= {_absolute(p) for p in self.current.sources}
        return frozenset({self.path, *found})

    async def run(self) -> None:
        """Watch until :meth:`stop` or cancellation; reload on every settled change."""
        # Imported in a thread: it takes a noticeable moment, and the loop has work.
        awatch = (await asyncio.to_thread(importlib.import_module, "watchfiles")).awatch

        if not self._files:
            self._files = await asyncio.to_thread(self._watch_set)
            self._stamps = await asyncio.to_thread(_stamp, self._files)
        while not self._stop.is_set():
            files = self._files
            dirs = sorted({str(p.parent) for p in files if p.parent.is_dir()})
            if not dirs:
                await asyncio.sleep(_IDLE_CHECK_MS / 1000)
                continue
            restart = False
            async for changes in awatch(
                *dirs,
                watch_filter=_only(files),
                debounce=max(self.debounce_ms * 4, 1000),
                step=_STEP_MS,
                stop_event=self._stop,
                rust_timeout=_IDLE_CHECK_MS,
                yield_on_timeout=True,
                recursive=False,
                force_polling=self.force_polling,
            ):
                if not changes:
                    # Idle: watching is in place. Catch what notifications did not see
                    # (a save before the watch began, a file system without inotify).
                    self.ready.set()
                    if _stamp(files) == self._stamps:
                        continue
                await self.reload()
                if self._files != files:
                    restart = True  # includes changed: watch the new set of files
                    break
            if not restart:
                return


async def apply_change(engine: Engine, change: Change) -> ReloadOutcome | None:
    """Put a watcher's result into the engine.

    A valid recipe is applied (:meth:`Engine.apply_recipe` publishes
    ``RecipeReloaded()``, clearing a banner); a broken one is published as
    ``RecipeReloaded(problems=...)`` and the engine keeps running on the last
    good recipe. Returns the outcome, or None for a broken recipe.
    """
    if isinstance(change, RecipeError):
        problems = tuple(engine.recipe.mask(str(p)) for p in change.problems)
        engine.bus.publish(RecipeReloaded(problems=problems, at=engine.clock()))
        return None
    return await engine.apply_recipe(change)


def watch_engine(
    engine: Engine,
    path: str | Path | None = None,
    *,
    on_outcome: Callable[[ReloadOutcome], object] | None = None,
    auto_ports: bool | None = None,
    environ: Mapping[str, str] | None = None,
    force_polling: bool | None = None,
) -> RecipeWatcher:
    """A watcher that applies every valid save of ``engine``'s recipe to it.

    Start it with ``asyncio.create_task(watcher.run())`` (or a Textual worker);
    ``on_outcome`` receives each :class:`ReloadOutcome`, which is where the UI
    asks about ``needs_restart``.
    """

    async def apply(change: Change) -> None:
        outcome = await apply_change(engine, change)
        if outcome is not None and on_outcome is not None:
            returned = on_outcome(outcome)
            if inspect.isawaitable(returned):
                await returned

    return RecipeWatcher(
        path if path is not None else engine.recipe.path,
        apply,
        current=engine.recipe,
        environ=environ,
        auto_ports=auto_ports,
        force_polling=force_polling,
    )
