from __future__ import annotations

import pytest

from stagedeck.engine.latency import LatencyWindow, percentile
from stagedeck.engine.logs import LogHub, Ring, detect_level, detect_request_id, sanitize


def test_percentile_nearest_rank() -> None:
    values = sorted(float(v) for v in range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 95) == 95
    assert percentile(values, 99) == 99
    assert percentile(values, 100) == 100
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_window_excludes_old_samples_and_counts_errors() -> None:
    w = LatencyWindow(capacity=100, window=60)
    w.add(1000.0, True, at=0.0)  # outside the window
    for i in range(10):
        w.add(float(i + 1), True, at=100.0 + i)
    w.add(5.0, False, at=105.0)
    s = w.summary(now=110.0)
    assert s.count == 11 and s.errors == 1
    assert s.p50 == 5 and s.p99 == 10
    assert s.error_rate == pytest.approx(1 / 11)


def test_window_is_bounded() -> None:
    w = LatencyWindow(capacity=5)
    for i in range(50):
        w.add(float(i), at=float(i))
    assert len(w) == 5


def test_series_buckets() -> None:
    w = LatencyWindow()
    for i in range(60):
        w.add(float(i), at=1000.0 + i)
    series = w.series(bucket=10, span=60, now=1060.0)
    assert len(series) == 6
    assert series[0].summary.count == 10 and series[-1].summary.p50 == 54


def test_sanitize_strips_control_sequences() -> None:
    evil = (
        "a\x1b[31mred\x1b[0m b\x1b]0;title\x07 c\x1b]52;c;aGVsbG8=\x07"
        " d\x1b[2J\x1b[H e\rf\x00g\x9b1m"
    )
    clean = sanitize(evil)
    assert "\x1b" not in clean and "\x07" not in clean and "\x9b" not in clean
    assert "\r" not in clean and "\x00" not in clean
    assert clean.startswith("ared b c d e")
    assert sanitize("[bold red]x[/]") == "[bold red]x[/]"  # markup stays literal text
    assert sanitize("a\tb") == "a   b"


def test_level_and_request_id_detection() -> None:
    assert detect_level("2026-11-22T03:20:00.123Z ERROR orders rid=ab12cd boom") == "error"
    assert detect_level('{"level": "warning", "msg": "x"}') == "warn"
    assert detect_level("level=debug msg=x") == "debug"
    assert detect_level("nothing here") == ""
    assert detect_request_id("INFO orders rid=7f3a9c2d created") == "7f3a9c2d"
    assert detect_request_id('{"request_id": "req-123-abc"}') == "req-123-abc"
    assert detect_request_id("rid=- background") == ""
    assert detect_level("INFO retrying after Error") == "info"  # the first level word wins
    assert detect_level("Traceback: CRITICAL disk") == "error"
    assert detect_level("terrible errors everywhere") == ""  # whole words only


def test_batches_are_sanitised_like_single_lines() -> None:
    """A batch is scanned once for control characters: one evil line in it must still
    be stripped, and the clean lines beside it kept as they were."""
    hub = LogHub()
    hub.extend(
        "svc",
        [
            "clean\tline rid=abcd1234",
            "\x1b]52;c;ZXZpbA==\x07evil \x1b[2Jclear",
            "2026-11-22T03:20:00Z ok",
        ],
    )
    clean, evil, stamped = hub.last("svc", 3)
    assert clean.text == "clean   line rid=abcd1234" and clean.rid == "abcd1234"
    assert evil.text == "evil clear" and evil.rid == ""
    assert stamped.text == "ok" and stamped.ts == 1795317600.0
    hub.extend("svc", ["plain\r\n", "also plain"])
    assert [ln.text for ln in hub.last("svc", 2)] == ["plain", "also plain"]


def test_ring_drops_oldest_and_indexes_stay_stable() -> None:
    ring: Ring[int] = Ring(3)
    for i in range(5):
        ring.append(i * 10)
    assert ring.start == 2 and ring.end == 5
    assert ring[4] == 40 and ring.slice(0, 10) == [20, 30, 40]
    with pytest.raises(IndexError):
        ring[1]


def test_hub_counts_drops_per_service() -> None:
    hub = LogHub(per_service=10, total=15)
    hub.extend("noisy", [f"line {i}" for i in range(30)])
    hub.append("quiet", "hello")
    assert hub.dropped("noisy") == 20 and hub.dropped("quiet") == 0
    assert [ln.text for ln in hub.last("quiet", 5)] == ["hello"]
    # The interleaved ring is bounded too, but the quiet service keeps its line.
    assert len(hub.since(0)) == 15
    assert hub.received() == 31


def test_hub_window_picks_warnings_in_time() -> None:
    hub = LogHub()
    hub.append("a", "INFO fine", ts=10)
    hub.append("a", "ERROR broke", ts=11)
    hub.append("b", "WARN slow", ts=12)
    hub.append("b", "ERROR later", ts=30)
    window = hub.window(10, 20)
    assert {k: [ln.text for ln in v] for k, v in window.items()} == {
        "a": ["ERROR broke"],
        "b": ["WARN slow"],
    }


def test_ingest_ceiling_keeps_the_newest_and_counts_the_rest() -> None:
    now = [100.0]
    hub = LogHub(per_service=1000, max_rate=50, clock=lambda: now[0])
    hub.extend("flood", [f"line {i}" for i in range(80)])
    # 50 a second: the newest 50 of the batch are kept, 30 counted as dropped.
    assert [ln.text for ln in hub.last("flood", 2)] == ["line 78", "line 79"]
    assert len(hub.ring("flood")) == 50
    assert hub.over_ceiling("flood") == 30 and hub.dropped("flood") == 30
    assert hub.received("flood") == 80
    hub.extend("quiet", ["hello"])  # other services have their own budget
    assert hub.over_ceiling("quiet") == 0
    now[0] += 0.5  # half a second later: 25 more allowed
    hub.extend("flood", [f"more {i}" for i in range(40)])
    assert hub.over_ceiling("flood") == 30 + 15
    assert hub.last("flood", 1)[0].text == "more 39"


def test_a_view_waiting_for_the_next_line_is_told_once() -> None:
    """A quiet log view asks to be told of the next line (so it is drawn at once, not a
    frame later); it is told once per asking, by ingest and by a mirror's adopt alike,
    and a failing callback loses no line."""
    hub = LogHub()
    calls: list[str] = []
    hub.call_on_next_line(lambda: calls.append("a"))
    hub.call_on_next_line(lambda: calls.append("b"))

    def broken() -> None:
        raise RuntimeError("a view's bug")

    hub.call_on_next_line(broken)
    hub.append("payments", '2026-12-01T03:12:09Z ERROR charge failed rid=9f1c {"code": 502}')
    hub.append("payments", "second line, nobody asked")
    assert calls == ["a", "b"] and [ln.text for ln in hub.last("payments", 5)][-1].startswith(
        "second"
    )
    waiter = calls.append
    hub.call_on_next_line(lambda: waiter("c"))
    hub.adopt([(1.0, "orders", "out", "POST /orders 201 rid=t478bdbbc3", "info")])
    assert calls == ["a", "b", "c"]
