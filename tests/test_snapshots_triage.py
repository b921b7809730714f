"""SVG snapshots of triage in the cockpit: the explain view, the suspect line, the
graph's suspect mark, a failure's inline suspect. Same determinism as
test_snapshots.py (frozen clock, UTC, engine never started); the ranking is the
cockpit's own, made at mount from an engine that already saw payments hang."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stagedeck.engine.probes import ProbeResult
from stagedeck.tui.app import StagedeckApp
from test_snapshots import frozen_clock, make
from test_tui_triage import stored_failure

__all__ = ["frozen_clock"]  # the autouse fixture applies here too

TIMEOUT = ProbeResult(
    False, 1000.0, "GET http://127.0.0.1:47203/health: timed out after 1s", "timeout"
)


def hung(tmp_path: Path, theme: str = "stagedeck-dark") -> StagedeckApp:
    """The cockpit on an engine whose payments stopped answering two checks ago."""
    app = make(tmp_path, theme=theme)
    for _ in range(2):
        app.engine.record_probe("payments", TIMEOUT)
    return app


async def why(pilot: Any) -> None:
    await pilot.press("w")
    await pilot.pause(0.2)


def test_explain_view_80x24(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(hung(tmp_path), terminal_size=(80, 24), run_before=why)


def test_explain_view_160x48(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(hung(tmp_path), terminal_size=(160, 48), run_before=why)


def test_explain_view_sixteen_colours(snap_compare: Any, tmp_path: Path) -> None:
    app = hung(tmp_path, theme="stagedeck-16")
    assert snap_compare(app, terminal_size=(80, 24), run_before=why)


def test_overview_suspect_line_and_graph_mark_160x48(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(hung(tmp_path), terminal_size=(160, 48))


def test_overview_suspect_line_sixteen_colours(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(hung(tmp_path, theme="stagedeck-16"), terminal_size=(160, 48))


def test_overview_suspect_line_80x24(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(hung(tmp_path), terminal_size=(80, 24))


def test_failures_list_with_inline_suspect(snap_compare: Any, tmp_path: Path) -> None:
    store, shared = stored_failure(tmp_path)

    async def open_suites(pilot: Any) -> None:
        await shared.refresh(force=True)
        await pilot.press("5")
        await pilot.pause(0.3)

    app = make(tmp_path, shared=shared, user="alice")
    assert snap_compare(app, terminal_size=(80, 24), run_before=open_suites)
    store.close()
