"""Reading service pipes: every line arrives, in order, in few wake-ups."""

from __future__ import annotations

import asyncio
import os
import sys

from stagedeck.deadline import within
from stagedeck.targets.local.pipes import COALESCE_SECONDS, open_pipe, read_pipe

WRITER = """
import sys, time
for i in range(600):
    sys.stdout.write(f"line {i}\\n")
    sys.stdout.flush()
    time.sleep(0.001)
sys.stdout.write("no newline at the end")
"""


async def test_line_by_line_writes_arrive_whole_in_order_and_batched() -> None:
    read_end, write_end = open_pipe()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", WRITER, stdout=write_end)
    os.close(write_end)
    batches: list[list[str]] = []
    started = asyncio.get_running_loop().time()
    await within(read_pipe(read_end, lambda lines, _: batches.append(lines), "out"), 20)
    took = asyncio.get_running_loop().time() - started
    await proc.wait()
    lines = [line for batch in batches for line in batch]
    assert lines == [f"line {i}" for i in range(600)] + ["no newline at the end"]
    # 600 separate writes over `took` seconds, read at most once per pause (+ EOF).
    assert len(batches) <= took / COALESCE_SECONDS + 3, (len(batches), took)


async def test_admit_keeps_the_newest_lines_before_decoding() -> None:
    read_end, write_end = open_pipe()
    os.write(write_end, b"".join(b"n%d\n" % i for i in range(100)))
    os.close(write_end)
    got: list[str] = []
    await read_pipe(read_end, lambda lines, _: got.extend(lines), "out", admit=lambda n: 10)
    assert got == [f"n{i}" for i in range(90, 100)]
