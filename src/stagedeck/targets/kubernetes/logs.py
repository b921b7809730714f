"""Follow one container's log across breaks, without losing or repeating lines.

A follow stream ends when the container stops, when the pod goes, or when
the connection breaks. The follower then waits (for a nudge from the pod
watch, or a retry timer) and reopens the log with ``sinceSeconds`` covering
the gap, measured in our own monotonic time so that clock skew between this
machine and the cluster cannot open a hole. Lines are asked for with
timestamps; on a resume, lines at or before the last one we delivered are
dropped, and the timestamps are cut off before the lines reach the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable

from stagedeck.targets.kubernetes.client import KubeClient, KubeError, Unreachable
from stagedeck.targets.kubernetes.model import timestamp_key

log = logging.getLogger("stagedeck.k8s.logs")

MAX_LINE = 16 * 1024
RESUME_MARGIN = 2
"""Extra seconds asked for on a resume; the timestamps drop what we already have."""

Deliver = Callable[[list[str]], None]


class LogFollower:
    """Streams one container of one pod into ``deliver``, prefixing each line with ``label``."""

    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        pod: str,
        container: str | None,
        label: str,
        deliver: Deliver,
        *,
        since_seconds: int,
        tail_lines: int,
        retry: float,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.pod = pod
        self.container = container
        self.prefix = f"{label} | "
        self.deliver = deliver
        self.since_seconds = since_seconds
        self.tail_lines = tail_lines
        self.retry = retry
        self.lines = 0
        self.opened = 0
        """How many times a stream was opened (1 + resumes)."""
        self._last_key = ""
        self._received_at: float | None = None
        self._skip_until = ""
        self._pending = b""
        self._kick = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"k8s-logs:{self.pod}")

    def kick(self) -> None:
        """The pod changed (a container restarted, say): try again now if we are waiting."""
        self._kick.set()

    async def stop(self, grace: float = 0.0) -> None:
        """Stop following; with ``grace``, first let a stream that is ending drain."""
        task = self._task
        if task is None:
            return
        self._task = None
        if grace > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(grace):
                    await self._drained()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _drained(self) -> None:
        while self._streaming:
            await asyncio.sleep(0.05)

    _streaming = False

    async def _run(self) -> None:
        while True:
            if self._received_at is None:
                since, tail = self.since_seconds, self.tail_lines
            else:
                since = math.ceil(time.monotonic() - self._received_at) + RESUME_MARGIN
                tail = None
                self._skip_until = self._last_key
            self._kick.clear()
            try:
                stream = await self.client.logs(
                    self.namespace,
                    self.pod,
                    container=self.container,
                    follow=True,
                    since_seconds=since,
                    tail_lines=tail,
                    timestamps=True,
                )
                self.opened += 1
                if self._received_at is None:
                    self._received_at = time.monotonic()
                self._streaming = True
                try:
                    async with contextlib.aclosing(stream):
                        async for chunk in stream:
                            self._feed(chunk)
                finally:
                    self._streaming = False
                    self._flush()
            except Unreachable as exc:
                log.debug("log of %s: %s", self.pod, exc)
            except KubeError as exc:
                # 400 "container is waiting to start", 404 pod gone: the pod watch will nudge us.
                log.debug("log of %s: %s", self.pod, exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.retry):
                    await self._kick.wait()

    def _feed(self, chunk: bytes) -> None:
        self._received_at = time.monotonic()
        data = self._pending + chunk
        if b"\n" not in data:
            if len(data) > MAX_LINE:
                self._emit([data[:MAX_LINE] + " …".encode()])
                data = b""
            self._pending = data
            return
        *complete, self._pending = data.split(b"\n")
        self._emit(complete)

    def _flush(self) -> None:
        if self._pending:
            self._emit([self._pending])
            self._pending = b""

    def _emit(self, raw_lines: list[bytes]) -> None:
        out: list[str] = []
        prefix = self.prefix
        for raw in raw_lines:
            if len(raw) > MAX_LINE:
                raw = raw[:MAX_LINE] + " …".encode()
            text = raw.decode(errors="replace").rstrip("\r")
            stamp, sep, rest = text.partition(" ")
            key = timestamp_key(stamp) if sep or stamp else ""
            if key:
                if self._skip_until:
                    if key <= self._skip_until:
                        continue
                    self._skip_until = ""
                self._last_key = key
                text = rest
            out.append(prefix + text)
        if out:
            self.lines += len(out)
            self.deliver(out)
