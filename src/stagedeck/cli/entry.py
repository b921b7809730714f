"""The ``stagedeck`` console script: the command line with start-up GC paused.

Kept apart from ``cli/main.py`` so that importing the command line (tests, other
tools) never pauses the collector; only starting the program does.
"""

from __future__ import annotations

import sys

from stagedeck.firstframe import paint_early
from stagedeck.startup_gc import pause_gc


def main() -> int:
    pause_gc()  # before the imports (see stagedeck/startup_gc.py)
    paint_early(sys.argv[1:])  # before the imports too (see stagedeck/firstframe)
    from stagedeck.cli.main import main as run

    return run()
