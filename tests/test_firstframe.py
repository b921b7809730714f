"""The early frame (stagedeck/firstframe): which commands get one, what it shows, how it reads.

The terminal side (keys kept, terminal restored, messages shown after) is in
``test_firstframe_terminal.py``; here the parts are tested on their own, the
Docker part against the real engine.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from stagedeck.dockerwire.response import response_body
from stagedeck.dockerwire.stamps import parse_iso_ns
from stagedeck.firstframe.argv import cockpit_request
from stagedeck.firstframe.known import (
    Known,
    LogLine,
    Row,
    docker_known,
    http_get,
    log_lines,
    recipe_known,
)
from stagedeck.firstframe.layout import render, text_cells
from stagedeck.text import clean
from support.dockerlogs import driver_messages, failure_line, frame, rfc3339

SGR = re.compile(r"\x1b\[[0-9;]*m")


def plain(line: str) -> str:
    return SGR.sub("", line)


# --------------------------------------------------------------------------- argv


def test_the_commands_that_open_the_cockpit_get_an_early_frame(tmp_path: Path) -> None:
    recipe = tmp_path / "stack.toml"
    recipe.write_text("[services.a]\ncommand = ['true']\n")
    assert cockpit_request(["demo"]) == ("demo", None, None)
    assert cockpit_request(["--debug", "demo", "--free-ports", "--theme", "nord"]) is not None
    assert cockpit_request(["demo", "--target", "local", "--no-seed"]) is not None
    assert cockpit_request(["docker", "--project", "shop"]).project == "shop"  # type: ignore[union-attr]
    assert cockpit_request(["docker", "--project=shop", "--read-only"]).project == "shop"  # type: ignore[union-attr]
    assert cockpit_request(["docker"]).project is None  # type: ignore[union-attr]
    assert cockpit_request(["open", str(recipe), "--db", "x.db"]).recipe == recipe  # type: ignore[union-attr]


def test_plain_stagedeck_and_bundled_examples_get_one_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stagedeck.recipe.discovery import examples

    monkeypatch.delenv("STAGEDECK_RECIPE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert cockpit_request([]) is None  # no recipe here: the CLI explains
    (tmp_path / "stagedeck.toml").write_text("[services.a]\ncommand = ['true']\n")
    assert cockpit_request(["--debug"]) == ("open", tmp_path / "stagedeck.toml", None)
    first = examples()[0]
    assert cockpit_request(["open", first.name]) == ("open", first.path, None)


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["demo", "--headless"],
        ["demo", "--help"],
        ["demo", "-h"],
        ["demo", "--target", "docker"],  # builds an image first, printing progress
        ["demo", "--theme"],  # argparse's error, not a frame
        ["demo", "--theme", "--free-ports"],
        ["demo", "--theme="],
        ["demo", "extra"],
        ["docker", "--list"],
        ["docker", "--list", "--json"],
        ["docker", "--recipe", "overlay.toml"],
        ["k8s"],
        ["open"],
        ["open", "missing.toml"],
        ["open", "no-such-example"],
        ["--version"],
    ],
)
def test_anything_else_runs_as_if_there_were_no_early_frame(argv: list[str]) -> None:
    assert cockpit_request(argv) is None


# --------------------------------------------------------------------------- recipes


def test_the_demo_lists_its_services_in_the_recipes_order() -> None:
    from stagedeck.demo import recipe_path

    known = recipe_known(recipe_path())
    assert known is not None
    assert known.name == "demo" and known.target == "local"
    assert [r.name for r in known.rows] == [
        "ledger", "inventory", "payments", "orders", "gateway", "worker",
    ]  # fmt: skip
    # Nothing is invented: the services may be starting, or running already (attach).
    assert {(r.state, r.health) for r in known.rows} == {("–", "unknown")}


def test_a_recipe_with_includes_is_left_to_the_cockpit(tmp_path: Path) -> None:
    (tmp_path / "base.toml").write_text("[services.a]\ncommand = ['true']\n")
    top = tmp_path / "top.toml"
    top.write_text('include = ["base.toml"]\n[services.b]\ncommand = ["true"]\n')
    assert recipe_known(top) is None


def test_hostile_names_in_a_recipe_pass_the_gate(tmp_path: Path) -> None:
    recipe = tmp_path / "evil.toml"
    recipe.write_text(
        '[environment]\nname = "prod\\u001b]0;owned\\u0007"\n'
        '[services."pay\\u001b[2Jments\\u202e"]\ncommand = ["true"]\n'
    )
    known = recipe_known(recipe)
    assert known is not None
    assert known.name == "prod" and known.rows[0].name == "payments"


# --------------------------------------------------------------------------- layout


WIDE = Known(
    "支付环境",
    "docker",
    [Row("支付-服务", "running", "healthy"), Row("a" * 40, "exited", "down"), Row("x", "?", "??")],
    [
        LogLine(1_796_000_000.5, "支付-服务", "订单 o-1 已支付 " * 20),
        LogLine(1_796_000_001, "b", ""),
    ],
)


@pytest.mark.parametrize("width", [30, 31, 47, 80, 120, 161])
@pytest.mark.parametrize("height", [8, 9, 24, 48])
def test_every_line_fills_the_terminal_exactly(width: int, height: int) -> None:
    lines = render(WIDE, width, height)
    assert len(lines) == height
    for line in lines:
        assert text_cells(plain(line)) == width, repr(plain(line))


def test_too_small_a_terminal_gets_no_early_frame() -> None:
    assert render(WIDE, 29, 24) == []
    assert render(WIDE, 80, 7) == []


def test_the_frame_reads_like_the_overview() -> None:
    known = Known(
        "shop",
        "docker",
        [Row("api", "running", "healthy"), Row("db", "running", "none")],
        [LogLine(1_796_000_000.0, "api", 'level=info msg="GET /orders 200" rid=7f3a')],
    )
    screen = "\n".join(plain(line) for line in render(known, 80, 24))
    assert "╭─ services" in screen and "╭─ logs" in screen
    assert re.search(r"SERVICE\s+STATE\s+HEALTH", screen)
    assert re.search(r"api\s+running\s+● healthy", screen)
    assert re.search(r"db\s+running\s+◌ no check", screen)
    stamp = time.strftime("%H:%M:%S", time.localtime(1_796_000_000.0))
    assert f'{stamp}   api level=info msg="GET /orders 200" rid=7f3a' in screen
    assert "shop  docker  2 services" in screen
    assert "loading the cockpit" in screen


# --------------------------------------------------------------------------- docker bytes


def test_multiplexed_log_frames_become_lines_in_time_order() -> None:
    out = (
        b"2026-12-01T23:41:32.1Z GET /api/orders 200 rid=9f2c\n"
        b'2026-12-01T23:41:32.123456789Z {"level":"info","msg":"paid"}\n'
    )
    err = "2026-12-01T23:41:32.12Z \x1b[31mERROR\x1b[0m caf\u00e9 d\u00e9clin\u00e9\n".encode()
    # A line split over two frames, and stdout/stderr interleaved.
    body = frame(1, out[:30]) + frame(2, err) + frame(1, out[30:])
    lines = sorted(log_lines("orders", body))
    assert [line.text for line in lines] == [
        "GET /api/orders 200 rid=9f2c",
        "ERROR café décliné",
        '{"level":"info","msg":"paid"}',
    ]
    assert {line.service for line in lines} == {"orders"}


def test_a_tty_containers_log_is_not_framed() -> None:
    body = b"2026-12-01T23:41:32Z ready\r\n2026-12-01T23:41:33Z \xff broken utf-8\r\n"
    assert [line.text for line in log_lines("web", body)] == ["ready", "\ufffd broken utf-8"]


def test_http_bodies_plain_chunked_and_refused() -> None:
    assert response_body(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n[]") == b"[]"
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    )
    assert response_body(chunked) == b"abcde"
    assert response_body(b'HTTP/1.0 404 Not Found\r\n\r\n{"message":"no such"}') is None
    assert response_body(b"HTTP/1.0 200 OK") is None  # cut off in the headers


def test_a_silent_engine_costs_the_deadline_and_no_more(tmp_path: Path) -> None:
    path = str(tmp_path / "mute.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.05)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        start = time.monotonic()
        assert http_get(path, ["/a", "/b"], start + 0.2) == [None, None]
        assert time.monotonic() - start < 1.0
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        server.close()


def test_no_engine_or_a_remote_one_means_no_early_frame(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    assert docker_known(None) is None
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.1:2376")
    assert docker_known(None) is None


# --------------------------------------------------------------------------- the real engine


def test_a_compose_project_on_the_real_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    from support.dockerkit import kit, real_socket_path

    monkeypatch.setenv("DOCKER_HOST", f"unix://{real_socket_path()}")
    with kit() as k:
        project = k.prefix
        hostile = (
            "echo 'orders rid=7c1e \x1b]0;pwned\x07{\"status\":502}'; echo 'second line'; sleep 600"
        )
        k.container("orders", project=project, script=hostile)
        k.container("ledger", project=project, script="echo 'ledger up'; sleep 600")
        k.container("stopped", project=project, start=False)
        k.container("migrate", project=project, oneoff=True, script="sleep 600")
        deadline = time.monotonic() + 20
        known = docker_known(project)
        while (known is None or len(known.logs) < 3) and time.monotonic() < deadline:
            time.sleep(0.2)
            known = docker_known(project)
        assert known is not None
        assert known.name == project
        assert [(r.name, r.state) for r in known.rows] == [
            ("ledger", "running"), ("orders", "running"), ("stopped", "created"),
        ]  # fmt: skip
        texts = [(line.service, line.text) for line in known.logs]
        assert ("orders", 'orders rid=7c1e {"status":502}') in texts
        assert ("orders", "second line") in texts and ("ledger", "ledger up") in texts
        assert docker_known(project + "-nope") is None
        listing = json.dumps([r._asdict() for r in known.rows])
        assert "\x1b" not in listing and "\x07" not in listing


# --------------------------------------------------------------------------- following


def test_a_follow_answer_parsed_byte_by_byte_gives_each_new_line_once() -> None:
    from stagedeck.firstframe.follow import _Stream

    shown_until = parse_iso_ns("2026-12-01T23:41:32Z") / 1e9
    body = (
        frame(1, b"2026-12-01T23:41:31.9Z already shown\n2026-12-01T23:41:32Z also shown\n")
        + frame(1, '2026-12-01T23:41:33.5Z caf\u00e9 rid=ab12 {"ok":'.encode())
        + frame(2, b"2026-12-01T23:41:33.6Z \x1b[2Jwarn: slow\n")
        + frame(1, b"true}\n")
    )
    answer = b"HTTP/1.0 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\n\r\n"
    stream = _Stream("orders", shown_until)
    lines: list[LogLine] = []
    for byte in answer + body:  # the worst split there is: every byte on its own
        got = stream.feed(bytes([byte]))
        assert got is not None
        lines += got
    assert [x.text for x in lines] == ["warn: slow", 'café rid=ab12 {"ok":true}']
    assert _Stream("x", 0).feed(b"HTTP/1.0 404 Not Found\r\n\r\nno such container") is None


# --------------------------------------------------------------------------- long lines

AT_NS = 1_796_000_000_123_456_789
"""When the long line was written; the lines around it are a little before and after."""
STAMP_INSIDE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")


def long_line_body(size: int, *, tty: bool) -> bytes:
    """A log around one ``size``-byte failure the log driver cut into stamped partial messages."""
    before = (
        rfc3339(AT_NS - 5_000_000)
        + b'INFO rid=7f3a9c2e-0b1d-4c55 POST /api/payments {"amount":1299}'
    )
    after = rfc3339(AT_NS + 9_000_000) + b"INFO rid=8e4b0d3f-1c2e-5d66 GET /healthz 200"
    if tty:  # one byte stream; the terminal ends each line with \r\n
        long = driver_messages(failure_line(size) + b"\r", AT_NS)
        return before + b"\r\n" + b"".join(long) + after + b"\r\n"
    long = driver_messages(failure_line(size), AT_NS)
    # stderr has its own stream of messages: one can land between the pieces of a stdout line.
    retry = rfc3339(AT_NS + 20_000) + b"WARN rid=7f3a9c2e-0b1d-4c55 retry 1/3 after ECONNRESET\n"
    return (
        frame(1, before + b"\n")
        + frame(1, long[0])
        + frame(2, retry)
        + b"".join(frame(1, m) for m in long[1:])
        + frame(1, after + b"\n")
    )


def assert_one_long_line(lines: list[LogLine], size: int, *, count: int) -> None:
    """The long failure is one line of ``count``, at its first piece's time, cut, gated."""
    (long,) = [x for x in lines if x.text.startswith("ERROR")]
    assert long.at == pytest.approx(AT_NS / 1e9, abs=1e-6)
    assert long.text.startswith(
        'ERROR rid=7f3a9c2e-0b1d-4c55 POST /api/payments 502 user="zo\u00eb '
    )
    assert 'card declined body={"error":"card_declined","items":[{"sku":"A-00000"' in long.text
    assert STAMP_INSIDE.search(long.text) is None  # no partial message's stamp inside it
    assert not {"\x1b", "\x07", "\u202e", "\r"} & set(long.text) and "pwned" not in long.text
    # Cut where the cockpit cuts (16 KB), the rest of the line dropped, not shown as lines.
    assert long.text == clean(failure_line(size)[: 16 * 1024].decode()) + " …"
    assert not any("END-OF-LINE" in x.text or '"qty":1' in x.text for x in lines if x is not long)
    assert lines[-1].text == "INFO rid=8e4b0d3f-1c2e-5d66 GET /healthz 200"
    assert len(lines) == count


@pytest.mark.parametrize("size", [20_000, 40_000])
@pytest.mark.parametrize("tty", [False, True], ids=["framed", "tty"])
def test_a_long_line_in_partial_messages_is_one_line_in_the_tail(size: int, tty: bool) -> None:
    lines = sorted(log_lines("payments", long_line_body(size, tty=tty)))
    assert_one_long_line(lines, size, count=3 if tty else 4)  # stderr's retry line: framed
    assert lines[0].text == 'INFO rid=7f3a9c2e-0b1d-4c55 POST /api/payments {"amount":1299}'
    assert {x.service for x in lines} == {"payments"}


@pytest.mark.parametrize("size", [20_000, 40_000])
@pytest.mark.parametrize("tty", [False, True], ids=["framed", "tty"])
@pytest.mark.parametrize("piece", [7, 997, 4096, 65536])
def test_a_long_line_in_partial_messages_is_one_line_when_followed(
    size: int, tty: bool, piece: int
) -> None:
    from stagedeck.firstframe.follow import _Stream

    answer = b"HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\nServer: Docker/20.10.24 (linux)\r\n\r\n"
    wire = answer + long_line_body(size, tty=tty)
    # The tail showed the line before; the follow starts there (``since`` is inclusive).
    stream = _Stream("payments", (AT_NS - 5_000_000) / 1e9)
    lines: list[LogLine] = []
    for start in range(0, len(wire), piece):
        got = stream.feed(wire[start : start + piece])
        assert got is not None
        lines += got
    lines += stream.end()
    assert_one_long_line(sorted(lines), size, count=2 if tty else 3)
    assert not any("amount" in x.text for x in lines)  # shown by the tail already


def test_the_follower_reports_new_lines_from_the_real_engine() -> None:
    from stagedeck.firstframe.follow import EarlyFollower
    from support.dockerkit import kit, real_socket_path

    with kit() as k:
        script = 'i=0; while true; do i=$((i+1)); echo "tick $i rid=r$i"; sleep 0.1; done'
        container = k.container("ticker", project=k.prefix, script=script)
        got: list[LogLine] = []
        follower = EarlyFollower(
            real_socket_path(), [(container.id, "ticker", time.time())], got.extend
        )
        follower.start()
        deadline = time.monotonic() + 15
        while len(got) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        follower.stop()
        follower.join(timeout=2)
        assert not follower.is_alive()
        ticks = [int(x.text.split()[1]) for x in got]
        assert len(ticks) >= 5 and ticks == sorted(set(ticks))  # in order, none twice
        assert all(x.service == "ticker" and "rid=r" in x.text for x in got)


LONG_LINE_SCRIPT = (
    "sleep 2; s=''; i=0; "
    'while [ $i -lt 1700 ]; do s="$s{\\"sku\\":\\"A-$i\\",\\"qty\\":1},"; i=$((i+1)); done; '
    'printf \'ERROR rid=7f3a9c2e \\033[31mdeclined\\033[0m body={"items":[%s]} END-OF-LINE\\n\' "$s"; '
    "echo 'INFO rid=8e4b0d3f after'; sleep 600"
)
"""Waits for the follower, then writes a 41 KB line (three partial messages) and a short one."""


@pytest.mark.parametrize("tty", [False, True], ids=["framed", "tty"])
def test_a_long_line_from_the_real_engine_is_one_line_followed_and_tailed(
    monkeypatch: pytest.MonkeyPatch, tty: bool
) -> None:
    from stagedeck.firstframe.follow import EarlyFollower
    from support.dockerkit import kit, real_socket_path

    monkeypatch.setenv("DOCKER_HOST", f"unix://{real_socket_path()}")
    with kit() as k:
        container = k.container("pay", project=k.prefix, script=LONG_LINE_SCRIPT, tty=tty)
        got: list[LogLine] = []
        follower = EarlyFollower(
            real_socket_path(), [(container.id, "pay", time.time())], got.extend
        )
        follower.start()
        deadline = time.monotonic() + 20
        while not any("after" in x.text for x in got) and time.monotonic() < deadline:
            time.sleep(0.05)
        follower.stop()
        follower.join(timeout=2)
        known = docker_known(k.prefix)
        assert known is not None
        for lines in (got, known.logs):
            texts = [x.text for x in lines]
            assert texts == [texts[0], "INFO rid=8e4b0d3f after"], [t[:80] for t in texts]
            assert texts[0].startswith('ERROR rid=7f3a9c2e declined body={"items":[{"sku":"A-0",')
            # Cut at 16 KB of what the container wrote, less the colour codes the gate took.
            assert texts[0].endswith(" …") and len(texts[0]) == 16 * 1024 - 9 + 2
            assert STAMP_INSIDE.search(texts[0]) is None and "\x1b" not in texts[0]
        assert got[0].at == known.logs[0].at


def test_no_color_leaves_bold_and_dim_only(monkeypatch: pytest.MonkeyPatch) -> None:
    coloured = "".join(render(WIDE, 80, 24))
    assert "\x1b[32m" in coloured and "\x1b[36m" in coloured
    monkeypatch.setenv("NO_COLOR", "1")
    lines = render(WIDE, 80, 24)
    codes = set(re.findall(r"\x1b\[([0-9;]*)m", "".join(lines)))
    assert codes <= {"0", "1", "2"}, codes
    assert "● healthy" in plain("".join(lines)) and "✖ down" in plain("".join(lines))
