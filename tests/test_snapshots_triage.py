"""SVG snapshots of triage in the cockpit: the explain view, the suspect line, the
graph's suspect mark. Same determinism as test_snapshots.py (frozen clock, UTC,
engine never started); the ranking is the engine's own, from fed probes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stagedeck.engine.probes import ProbeResult
from test_snapshots import frozen_clock, make
from test_tui_triage import stored_failure

__all__ = ["frozen_clock"]  # the autouse fixture applies here too

TIMEOUT = ProbeResult(
    False, 1000.0, "GET http://127.0.0.1:47203/health: timed out after 1s", "timeout"
)


async def hang_payments(pilot: Any) -> None:
    for _ in range(2):
        pilot.app.engine.record_probe("payments", TIMEOUT)
    await pilot.pause(0.2)


async def hang_then_why(pilot: Any) -> None:
    await hang_payments(pilot)
    await pilot.press("w")
    await pilot.pause(0.2)


def test_explain_view_80x24(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(make(tmp_path), terminal_size=(80, 24), run_before=hang_then_why)


def test_explain_view_160x48(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(make(tmp_path), terminal_size=(160, 48), run_before=hang_then_why)


def test_explain_view_sixteen_colours(snap_compare: Any, tmp_path: Path) -> None:
    app = make(tmp_path, theme="stagedeck-16")
    assert snap_compare(app, terminal_size=(80, 24), run_before=hang_then_why)


def test_overview_suspect_line_and_graph_mark_160x48(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(make(tmp_path), terminal_size=(160, 48), run_before=hang_payments)


def test_overview_suspect_line_sixteen_colours(snap_compare: Any, tmp_path: Path) -> None:
    app = make(tmp_path, theme="stagedeck-16")
    assert snap_compare(app, terminal_size=(160, 48), run_before=hang_payments)


def test_overview_suspect_line_80x24(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(make(tmp_path), terminal_size=(80, 24), run_before=hang_payments)


def test_failures_list_with_inline_suspect(snap_compare: Any, tmp_path: Path) -> None:
    store, shared = stored_failure(tmp_path)

    async def open_suites(pilot: Any) -> None:
        await shared.refresh(force=True)
        await pilot.press("5")
        await pilot.pause(0.3)

    app = make(tmp_path, shared=shared, user="alice")
    assert snap_compare(app, terminal_size=(80, 24), run_before=open_suites)
    store.close()
