from __future__ import annotations

import sys
from pathlib import Path

import pytest_textual_snapshot

# tests/support is importable as `support` from every test module.
sys.path.insert(0, str(Path(__file__).parent))

SNAPSHOTS = Path(__file__).resolve().parent.parent / "snapshots"


class _TopLevelSnapshots(pytest_textual_snapshot.SVGImageExtension):
    """Keep SVG snapshots in the repository's top-level snapshots/ folder."""

    @classmethod
    def dirname(cls, *, test_location) -> str:  # type: ignore[no-untyped-def,override]
        return str(SNAPSHOTS / test_location.basename)


pytest_textual_snapshot.SVGImageExtension = _TopLevelSnapshots  # type: ignore[misc]

# stagedeck's own log (cli/logfile.py) goes to a throw-away file during tests, not to the
# log of whoever runs them (tests that check the log set their own place).
import os  # noqa: E402
import tempfile  # noqa: E402

os.environ.setdefault(
    "STAGEDECK_LOG", str(Path(tempfile.gettempdir()) / f"stagedeck-tests-{os.getuid()}.log")
)
