"""stagedeck.dockerwire on its own: stamps as the standard library reads them, and its imports.

The frames and HTTP responses are tested in ``test_docker_logwire.py`` (the
cockpit's reader) and ``test_firstframe.py`` (the early frame's); both use this
package.
"""

from __future__ import annotations

import calendar
import datetime as dt
import subprocess
import sys

import pytest

from stagedeck.dockerwire.stamps import days_from_civil, ns_to_since, parse_iso_ns, split_timestamp


@pytest.mark.parametrize(
    "stamp",
    ["2026-12-01T23:41:32Z", "2026-12-01T23:41:32.5Z", "2024-02-29T00:00:00.000000001Z",
     "1999-12-31T23:59:59.999Z", "2100-03-01T12:00:00Z", "1970-01-01T00:00:00Z",
     "2026-12-02T02:52:13.824118214Z"],
)  # fmt: skip
def test_docker_stamps_read_as_the_standard_library_reads_them(stamp: str) -> None:
    whole = dt.datetime.fromisoformat(stamp[:19] + "+00:00")
    fraction = stamp[20:-1] if stamp[19] == "." else ""
    want = calendar.timegm(whole.timetuple()) * 1_000_000_000 + int(fraction.ljust(9, "0"))
    assert parse_iso_ns(stamp) == want
    assert split_timestamp(stamp.encode() + b" GET /api 200 rid=9f2c") == (
        want,
        b"GET /api 200 rid=9f2c",
    )
    assert ns_to_since(want) == f"{want // 10**9}.{want % 10**9:09d}"


def test_every_day_for_four_centuries_counts_as_calendar_counts_it() -> None:
    day = dt.date(1900, 1, 1)
    while day.year < 2300:
        want = calendar.timegm(day.timetuple()) // 86400
        assert days_from_civil(day.year, day.month, day.day) == want, day
        day += dt.timedelta(days=1)


@pytest.mark.parametrize(
    "line",
    [b"not a stamp at all", b"2026-13-01T00:00:00Z month 13", b"2026-12-01T24:00:00Z hour 24",
     b"2026-12-00T00:00:00Z day 0", b"2026-12-01T23:41:32Z", b"2026-12-01 23:41:32Z text",
     b"2026-12-01T23:41:32+01:00 text", "\u0662026-12-01T23:41:32Z arabic digit".encode(),
     b"2026-12-01T23:41:32.Z no digits", b"2026-12-01T23:41:32.1234567890Z ten digits",
     b"2026-12-01T23:41:32.12a4Z letter", b"2026-12-01T23:41:32.5Zx no space",
     b"2026-12-01T23:41:32Zx no space", b"+026-12-01T23:41:32Z sign", b"2026/12/01T23:41:32Z x"],
)  # fmt: skip
def test_no_stamp_or_an_impossible_one_leaves_the_line_as_it_is(line: bytes) -> None:
    assert split_timestamp(line) == (None, line)


def test_junk_and_the_zero_time_are_no_time() -> None:
    assert parse_iso_ns("0001-01-01T00:00:00Z") == 0
    assert parse_iso_ns("") == 0
    assert parse_iso_ns("yesterday") == 0
    assert parse_iso_ns("2026-02-30T99:00:00Z") == 0


def test_the_wire_package_imports_the_standard_library_and_the_gate_only() -> None:
    """The early frame imports it before anything heavy: no recipe model, no target, no SDK."""
    code = (
        "import sys\n"
        "import stagedeck.dockerwire.response, stagedeck.dockerwire.logframes\n"
        "import stagedeck.dockerwire.stamps\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(('stagedeck', 'docker',"
        " 'requests', 'urllib3', 'calendar', '_strptime', 'datetime', 'locale')))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert loaded == {
        "stagedeck",
        "stagedeck.dockerwire",
        "stagedeck.dockerwire.logframes",
        "stagedeck.dockerwire.response",
        "stagedeck.dockerwire.stamps",
    }, loaded


def test_the_early_frame_reads_docker_without_the_targets_or_the_recipe_model() -> None:
    code = (
        "import sys\n"
        "import stagedeck.firstframe.known, stagedeck.firstframe.follow\n"
        "print(' '.join(sorted(m for m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    assert "stagedeck.dockerwire.response" in loaded and "stagedeck.dockerwire.logframes" in loaded
    heavy = ("stagedeck.recipe", "stagedeck.targets", "docker", "calendar", "_strptime", "datetime")
    assert not [m for m in loaded if m in heavy or m.startswith(tuple(h + "." for h in heavy))]


def test_a_recipes_early_frame_loads_no_docker_wire() -> None:
    code = "import sys, stagedeck.firstframe.known\nprint(' '.join(sorted(sys.modules)))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert not [m for m in out.stdout.split() if m.startswith("stagedeck.dockerwire")]
