"""The one-thread log reader (LogMux) against a real engine: what the SDK path reads,
a restart resumed with nothing twice, a removal mid-stream, a container that never was.

The wire-level cases (chunks and frames cut anywhere) are in test_docker_logwire.py;
these check the reader's life cycle on the engine's own unix socket.
"""

from __future__ import annotations

import asyncio
from typing import Any

import docker
import pytest

from stagedeck.targets.docker.logmux import LogMux, MuxFollower, unix_socket_of
from stagedeck.targets.docker.streams import LogBatcher, LogFollower, LogRecord
from support.dockerkit import Kit, in_thread, kit, wait_for

pytestmark = pytest.mark.docker

CHATTY = (
    "i=0; while true; do i=$((i+1)); "
    'echo "$NAME out $i rid=7f3a-$i"; echo "$NAME err $i" >&2; '
    "printf 'caf\\303\\251 \\342\\230\\203 %s\\r\\n' $i; sleep 0.05; done"
)
"""Numbered lines on stdout and stderr, and a line with multibyte characters and a \\r."""


def numbers(records: list[LogRecord], marker: str) -> list[int]:
    return [int(t.split()[2]) for _, _, _, t in records if f" {marker} " in t]


def runs(values: list[int]) -> list[list[int]]:
    """Split where the count starts again (a restart): each run must count up by one."""
    out: list[list[int]] = [[]]
    for v in values:
        if out[-1] and v <= out[-1][-1]:
            out.append([])
        out[-1].append(v)
    return out


async def collect() -> tuple[LogBatcher, list[LogRecord]]:
    got: list[LogRecord] = []
    return LogBatcher(asyncio.get_running_loop(), got.extend, 0.05), got


def tty_container(k: Kit, name: str, script: str) -> Any:
    container = k.client.containers.create(
        k.image, ["sh", "-c", script], name=f"{k.prefix}-{name}", labels=k.labels(), tty=True
    )
    container.start()
    return container


async def test_mux_follows_resumes_after_a_restart_and_ends_on_removal() -> None:
    with kit() as k:
        container = k.container("a", script=CHATTY)
        api = k.client.api
        assert unix_socket_of(api) is not None, "the tests' engine is on a unix socket"
        batcher, got = await collect()
        mux = LogMux(batcher, gather=0.1)
        mux.start()
        try:
            follower = mux.follow(api, container.id, "a", tty=False, tail=3)
            assert isinstance(follower, MuxFollower)
            await wait_for(lambda: len(numbers(got, "out")) > 20, 10, "lines")
            cafe = [t for _, s, _, t in got if t.startswith("café")]
            assert cafe and all(t == f"café ☃ {t.split()[2]}\r" for t in cafe)
            assert {s for _, s, _, t in got if " err " in t} == {"err"}

            # A restart: the stream ends; the loop's handshake (as the target does it).
            await in_thread(container.restart, timeout=0)
            if not follower.again():
                follower = mux.follow(api, container.id, "a", tty=False, resume=follower.last)
            before = len(got)
            await wait_for(lambda: len(got) > before + 30, 10, "lines after the restart")
            outs = runs(numbers(got, "out"))
            assert len(outs) == 2 and outs[1][0] == 1, outs
            for run in outs + runs(numbers(got, "err")):
                assert run == list(range(run[0], run[0] + len(run))), "a line lost or twice"
            assert mux.streams() == 1

            # Removed mid-stream: the follower ends and says so.
            await in_thread(container.remove, force=True)
            await wait_for(lambda: follower.finished, 10, "the follower to finish")
            assert not follower.again()
            assert mux.streams() == 0
            settled = len(got)
            await asyncio.sleep(0.3)
            assert len(got) == settled

            # A container that does not exist: "no such container" ends it, no retries.
            ghost = mux.follow(api, "0" * 64, "ghost", tty=False)
            assert ghost is not None
            await wait_for(lambda: ghost.finished, 5, "the ghost to finish")
            assert ghost.connects == 1
        finally:
            mux.close()
            await in_thread(mux.join, 5)
        assert not mux.is_alive()


async def test_stop_ends_one_stream_and_close_ends_the_thread() -> None:
    with kit() as k:
        a = k.container("a", script=CHATTY)
        b = k.container("b", script=CHATTY)
        batcher, got = await collect()
        mux = LogMux(batcher, gather=0.1)
        mux.start()
        try:
            fa = mux.follow(k.client.api, a.id, "a", tty=False, tail=1)
            fb = mux.follow(k.client.api, b.id, "b", tty=False, tail=1)
            assert fa is not None and fb is not None
            await wait_for(lambda: {r[0] for r in got} == {"a", "b"}, 10, "both")
            fa.stop()
            await wait_for(lambda: fa.finished, 5, "a to stop")
            assert not fa.again() and mux.streams() == 1
            await asyncio.sleep(0.3)
            batcher.flush()
            cut = len(got)
            await wait_for(lambda: len(got) > cut + 10, 10, "b goes on")
            assert {r[0] for r in got[cut:]} == {"b"}
        finally:
            mux.close()
            await in_thread(mux.join, 5)
        assert not mux.is_alive() and fb.finished


async def read_all(k: Kit, container: Any, *, tty: bool, mux: bool) -> list[tuple[str, str]]:
    """Every line of a finished container's log, through the mux or the SDK's thread."""
    batcher, got = await collect()
    reader = LogMux(batcher, gather=0.05)
    follower: LogFollower | MuxFollower | None
    if mux:
        reader.start()
        follower = reader.follow(k.client.api, container.id, "x", tty=tty, tail=1000)
    else:
        follower = LogFollower(k.client.api, container.id, "x", batcher, tty=tty, tail=1000)
        follower.start()
    assert follower is not None
    try:
        await wait_for(lambda: follower.finished, 10, "the stream to end")
    finally:
        if mux:
            reader.close()
            await in_thread(reader.join, 5)
    batcher.flush()
    return [(s, t) for _, s, _, t in got]


@pytest.mark.parametrize("tty", [False, True], ids=["framed", "tty"])
async def test_mux_reads_what_the_sdk_path_reads(tty: bool) -> None:
    script = (
        "echo first; printf 'caf\\303\\251 \\342\\230\\203\\r\\n'; echo oops >&2; "
        # 40,000 characters: the log driver cuts it into 16 KiB messages, we join and cut.
        "head -c 40000 /dev/zero | tr '\\0' x; echo; "
        'i=0; while [ $i -lt 200 ]; do i=$((i+1)); echo "line $i"; done; '
        "printf 'no newline at the end'"
    )
    with kit() as k:
        container = (
            tty_container(k, "t", script) if tty else k.container("f", script=script + "; sleep 0")
        )
        await in_thread(container.wait, timeout=20)
        via_mux = await read_all(k, container, tty=tty, mux=True)
        via_sdk = await read_all(k, container, tty=tty, mux=False)
    assert via_mux == via_sdk
    # stderr is not in order with stdout; a TTY ends its lines with \r\n
    texts = [t.removesuffix("\r") for _, t in via_mux if t.strip() != "oops"]
    assert texts[0] == "first" and texts[-1] == "no newline at the end"
    assert any(t.startswith("café ☃") for t in texts)
    assert any(t.startswith("xxxx") and t.endswith(" …") for t in texts)
    assert [t for t in texts if t.startswith("line ")] == [f"line {i}" for i in range(1, 201)]
    streams = {s for s, t in via_mux if t.strip() == "oops"}
    assert streams == ({"out"} if tty else {"err"})


def test_an_engine_over_tcp_is_left_to_the_sdk_path() -> None:
    api = docker.APIClient(base_url="tcp://127.0.0.1:1", version="1.41")
    try:
        assert unix_socket_of(api) is None
    finally:
        api.close()
