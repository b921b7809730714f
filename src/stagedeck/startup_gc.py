"""Garbage collection paused while the program starts, resumed once it is up.

Start-up allocates a few hundred thousand objects that all live for the whole run
(modules, classes, Textual's widgets, styles and rules). CPython's collector
counts the allocations and walked them 194 times before the demo cockpit's first
frame (once as a full collection): 0.10-0.22 s of a 0.65-0.75 s start. The entry
points (``python -m stagedeck``, the ``stagedeck`` script) pause the collector
before importing anything; every command but the cockpit resumes it as soon as
its arguments are parsed, the cockpit right after its first frame (and whatever
happens, when it ends). Only a pause made here is undone here: a collector
someone else disabled stays disabled.
"""

from __future__ import annotations

import gc

_paused = False


def pause_gc() -> None:
    """Stop automatic collection until ``resume_gc`` (if it is running now)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume_gc() -> None:
    """Undo ``pause_gc``; does nothing if it paused nothing (safe to call twice)."""
    global _paused
    if _paused:
        _paused = False
        gc.enable()
