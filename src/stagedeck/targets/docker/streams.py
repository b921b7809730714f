"""The Docker target's threads: log followers, the stats sampler, and the batcher.

The Docker SDK blocks, so on its path every stream has a thread of its own (an
engine on a unix socket has its logs read by one thread instead: see
:mod:`~stagedeck.targets.docker.logmux`). None of them
touches the engine: they hand results to the event loop with
``loop.call_soon_threadsafe``, and log lines go through :class:`LogBatcher`,
which wakes the loop at most once per interval however many containers are
talking, so the cost of a chatty environment is one callback per batch, not
one per line.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
import requests
import urllib3
from docker.types.daemon import CancellableStream

from stagedeck.dockerwire.logframes import LogDecoder
from stagedeck.dockerwire.stamps import ns_to_since
from stagedeck.targets.docker.state import cpu_percent, memory_bytes

log = logging.getLogger("stagedeck.docker")

LogRecord = tuple[str, str, int, str]
"""(service, stream, nanoseconds since the epoch, text)."""

STREAM_ERRORS: tuple[type[BaseException], ...] = (
    docker.errors.DockerException,
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    OSError,
    ValueError,  # urllib3 raises it for reads on a connection closed under it
)


def post(loop: asyncio.AbstractEventLoop, callback: Callable[..., object], *args: Any) -> bool:
    """Run ``callback(*args)`` on the loop's thread; False when the loop is gone."""
    try:
        loop.call_soon_threadsafe(callback, *args)
    except RuntimeError:  # loop closed while a thread was finishing
        return False
    return True


class LogBatcher:
    """Collects log lines from many threads and delivers them to the loop in timed batches."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[list[LogRecord]], None],
        interval: float = 0.1,
        max_pending: int = 200_000,
    ) -> None:
        self._loop = loop
        self._deliver = deliver
        self.interval = interval
        self.max_pending = max_pending
        self._lock = threading.Lock()
        self._pending: list[LogRecord] = []
        self._armed = False
        self._timer: asyncio.TimerHandle | None = None
        self.dropped = 0
        """Lines thrown away because the loop fell behind by more than ``max_pending``."""
        self.batches = 0

    def add(self, records: list[LogRecord], *, at_once: bool = False) -> None:
        """Called from any thread. ``at_once``: the caller batched already (the log mux
        gathers a quarter second's lines), so the loop is woken to deliver them now rather
        than a second time when the batch interval ends."""
        if not records:
            return
        with self._lock:
            room = self.max_pending - len(self._pending)
            if room < len(records):
                self.dropped += len(records) - max(room, 0)
                records = records[: max(room, 0)]
            self._pending.extend(records)
            if self._armed:
                return
            self._armed = True
        post(self._loop, self.flush if at_once else self._arm)

    def _arm(self) -> None:
        self._timer = self._loop.call_later(self.interval, self.flush)

    def flush(self) -> None:
        """Deliver everything pending now (on the loop thread)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        with self._lock:
            pending, self._pending = self._pending, []
            self._armed = False
        if pending:
            self.batches += 1
            self._deliver(pending)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class FollowState:
    """What a log follower keeps across reconnects, and the reconnect handshake.

    Shared by the SDK's :class:`LogFollower` (a thread each) and the one-thread
    :class:`~stagedeck.targets.docker.logmux.MuxFollower`, so both resume alike.
    """

    service: str
    last: dict[str, int]
    """Time of the last line delivered, per stream (stdout and stderr are each in order,
    but not with each other: Docker stamps them in two goroutines)."""
    tail: int
    finished: bool
    _guard: threading.Lock
    _wanted: bool
    _cancelled: bool

    def _init_follow(self, service: str, resume: dict[str, int] | None, tail: int) -> None:
        self.service = service
        self.last = dict(resume or {})
        self.tail = tail
        self.finished = False
        self._guard = threading.Lock()
        self._wanted = False
        self._cancelled = False

    def again(self) -> bool:
        """Ask for a reconnect once the current stream ends; False if this follower is done."""
        with self._guard:
            if self.finished:
                return False
            self._wanted = True
            return True

    def _params(self) -> dict[str, Any]:
        """The logs request: from the last line seen (a resume), else the last ``tail``."""
        params: dict[str, Any] = {"follow": 1, "stdout": 1, "stderr": 1, "timestamps": 1}
        seen = [ns for ns in self.last.values() if ns]
        if seen:
            params["since"] = ns_to_since(min(seen))
        else:
            params["tail"] = self.tail
        return params

    def _fresh(self, lines: list[tuple[int, str, str]]) -> list[LogRecord]:
        """The lines not delivered before (a resume asks from a time: some come again)."""
        last = self.last
        service = self.service
        records: list[LogRecord] = []
        for ts, stream, text in lines:
            if ts <= last.get(stream, 0):
                continue  # already delivered before a reconnect
            last[stream] = ts
            records.append((service, stream, ts, text))
        return records


class LogFollower(FollowState, threading.Thread):
    """Follows one container's logs (``follow=1, timestamps=1``) and feeds the batcher.

    A follow stream ends when the container stops. The loop calls
    :meth:`again` when the container starts again; if this thread is still
    around it reconnects itself (from the last line it saw, so nothing is
    repeated), otherwise :meth:`again` returns False and the caller starts a
    new follower. The handshake under one lock means a restart is never missed.
    """

    def __init__(
        self,
        api: docker.APIClient,
        container_id: str,
        service: str,
        batcher: LogBatcher,
        *,
        tty: bool,
        resume: dict[str, int] | None = None,
        tail: int = 500,
    ) -> None:
        super().__init__(name=f"docker-logs:{service}", daemon=True)
        self._init_follow(service, resume, tail)
        self.api = api
        self.container_id = container_id
        self.batcher = batcher
        self.tty = tty
        self._stream: CancellableStream | None = None

    def stop(self) -> None:
        with self._guard:
            self._cancelled = True
            stream = self._stream
        if stream is not None:
            try:
                stream.close()
            except Exception:  # the socket may already be gone
                pass

    def run(self) -> None:
        errors = 0
        while True:
            try:
                self._follow()
                errors = 0
            except docker.errors.NotFound:
                break
            except STREAM_ERRORS as exc:
                errors += 1
                log.debug("log stream of %s broke: %s", self.service, exc)
            with self._guard:
                if self._cancelled or not self._wanted or errors > 3:
                    self.finished = True
                    self._stream = None
                    break
                self._wanted = False
                self._stream = None
            if errors:
                time.sleep(0.2 * errors)

    def _follow(self) -> None:
        url = self.api._url("/containers/{0}/logs", self.container_id)
        response = self.api._get(url, params=self._params(), stream=True, timeout=None)
        self.api._raise_for_status(response)
        stream = CancellableStream(iter(()), response)
        with self._guard:
            if self._cancelled:
                stream.close()
                return
            self._stream = stream
        decoder = LogDecoder(self.tty)
        try:
            for chunk in response.raw.stream(65536, decode_content=False):
                self._deliver(decoder.feed(chunk))
        except STREAM_ERRORS:
            with self._guard:
                if self._cancelled:
                    return
            raise
        finally:
            self._deliver(decoder.flush())
            response.close()

    def _deliver(self, lines: list[tuple[int, str, str]]) -> None:
        if lines:
            self.batcher.add(self._fresh(lines))


Stats = tuple[str, float | None, int | None]
"""(service, CPU percent of one core, memory bytes)."""


class StatsSampler(threading.Thread):
    """Samples every running container's CPU and memory every ``interval`` seconds.

    With API 1.41+ it asks for a one-shot sample and computes CPU from its own
    previous sample. A one-shot request still waits for the engine's next
    collection tick (about a second), so the requests of one round go out in
    parallel: a round takes about a second however many containers there are.
    """

    def __init__(
        self,
        api_factory: Callable[[], docker.APIClient | None],
        targets: Callable[[], dict[str, str]],
        deliver: Callable[[list[Stats]], None],
        interval: float = 5.0,
        parallel: int = 16,
    ) -> None:
        super().__init__(name="docker-stats", daemon=True)
        self.api_factory = api_factory
        self.targets = targets
        self.deliver = deliver
        self.interval = interval
        self.parallel = parallel
        self._halt = threading.Event()
        self._previous: dict[str, dict[str, Any]] = {}

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        with ThreadPoolExecutor(self.parallel, thread_name_prefix="docker-stats") as pool:
            delay = min(1.0, self.interval)  # memory early; CPU needs a second sample
            while not self._halt.wait(delay):
                delay = self.interval
                api = self.api_factory()
                if api is None:
                    continue
                try:
                    results = self.sample(api, self.targets(), pool)
                except Exception:  # never let the sampler die: stats are a nicety
                    log.exception("docker stats sampling failed")
                    continue
                if results and not self._halt.is_set():
                    self.deliver(results)

    def sample(
        self, api: docker.APIClient, targets: dict[str, str], pool: ThreadPoolExecutor
    ) -> list[Stats]:
        one_shot = docker.utils.version_gte(api.api_version, "1.41")

        def one(container_id: str) -> dict[str, Any] | None:
            if self._halt.is_set():
                return None
            try:
                if one_shot:
                    sample: dict[str, Any] = api.stats(container_id, stream=False, one_shot=True)
                else:
                    sample = api.stats(container_id, stream=False)
            except STREAM_ERRORS:
                return None
            return sample

        samples = list(pool.map(one, targets.values()))
        results: list[Stats] = []
        for (service, container_id), sample in zip(targets.items(), samples, strict=True):
            if sample is None:
                continue
            pre = sample.get("precpu_stats") or {}
            previous = pre if pre.get("system_cpu_usage") else self._previous.get(container_id)
            self._previous[container_id] = sample.get("cpu_stats") or {}
            results.append((service, cpu_percent(sample, previous), memory_bytes(sample)))
        for gone in set(self._previous) - set(targets.values()):
            del self._previous[gone]
        return results
