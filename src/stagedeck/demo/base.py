"""What every demo service has in common: health, chaos, reset, request logging.

A service subclasses :class:`DemoService`, registers its routes in
:meth:`~DemoService.setup` and implements :meth:`~DemoService.reset`. The base
class runs each request through the same pipeline, so the six services behave
alike where the cockpit looks at them:

1. ``/admin/...`` is never slowed or failed by chaos (you must be able to
   turn chaos off again);
2. injected latency, then ``/health`` (503 while ``unhealthy``);
3. injected failures for API requests (``error_rate``), then a little random
   "work" so latency charts have a shape;
4. the route; exceptions become JSON errors (``UpstreamError`` -> 502);
5. one access line per request: INFO, WARN for 4xx, ERROR (with the reason)
   for 5xx.

Health checks and latency probes (any request with ``probe`` in its query)
are not logged unless they fail: the cockpit sends them every second and an
idle environment should have a quiet log.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from stagedeck.demo.chaos import Chaos, ChaosError
from stagedeck.demo.logfmt import Log, quoted
from stagedeck.demo.services import GRAPH, default_url, url_variable
from stagedeck.demo.tracing import Tracer
from stagedeck.demo.upstream import Upstream, UpstreamError
from stagedeck.demo.web import Handler, HTTPError, Reply, Request, Router, is_invalid_json

CRASH_EXIT_CODE = 3
CRASH_DELAY = 0.1
"""Seconds between answering a crash request and exiting, so the answer gets out."""


class DemoService:
    """Base class of the six demo services."""

    name: ClassVar[str]
    work_ms: ClassVar[tuple[float, float]] = (1.0, 6.0)
    """Simulated work per API request, uniformly distributed (milliseconds)."""
    upstream_timeout: ClassVar[float] = 3.0
    """Seconds to wait for a dependency; a caller of a caller must wait longer."""

    def __init__(self, env: Mapping[str, str] | None = None, log: Log | None = None) -> None:
        self.env: dict[str, str] = dict(os.environ if env is None else env)
        self.log = log or Log(self.name)
        self.chaos = Chaos.from_env(self.env.get("STAGEDECK_CHAOS"))
        self.rng = random.Random()
        self.tracer = Tracer(self.name, self.env)
        self.router = Router()
        self.upstreams = {
            dep: Upstream(
                dep,
                (self.env.get(url_variable(dep)) or default_url(dep)).rstrip("/"),
                self.upstream_timeout,
            )
            for dep in GRAPH[self.name]
        }
        self.route("GET", "/admin/chaos", self._get_chaos)
        self.route("POST", "/admin/chaos", self._set_chaos)
        self.route("POST", "/admin/reset", self._reset)
        self.setup()

    # ------------------------------------------------------------------ for subclasses

    def setup(self) -> None:
        """Create the service's state and register its routes."""
        raise NotImplementedError

    def reset(self) -> None:
        """Wipe the service's data (``POST /admin/reset``); ids start again from 1."""
        raise NotImplementedError

    def start(self) -> None:
        """Start background work once the server is listening (default: none)."""

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.router.add(method, pattern, handler)

    def upstream(self, name: str) -> Upstream:
        return self.upstreams[name]

    # ------------------------------------------------------------------ the pipeline

    def handle(self, request: Request) -> Reply:
        """Serve ``request`` inside its server span (see :mod:`stagedeck.demo.tracing`)."""
        probe = request.path == "/health" or "probe" in request.query
        span = self.tracer.start_server(
            f"{request.method} {request.path}",
            request.headers,
            always=not probe and request.rid != "-",
            **{"http.request.method": request.method, "url.path": request.path},
            **{"request.id": request.rid},
        )
        reply = Reply(500, {"error": "internal error"}, "unfinished")
        try:
            reply = self._serve(request)
        finally:
            if span is not None:
                span.attributes["http.response.status_code"] = reply.status
                self.tracer.end_server(span, error=reply.status >= 500, message=reply.reason)
        return reply

    def _serve(self, request: Request) -> Reply:
        started = time.perf_counter()
        try:
            reply = self._dispatch(request)
        except HTTPError as exc:
            reply = Reply(exc.status, {"error": exc.message}, exc.message)
        except UpstreamError as exc:
            reply = Reply(502, {"error": str(exc)}, str(exc))
        except Exception as exc:  # a bug: answer 500 and say what it was
            reason = f"{type(exc).__name__}: {exc}"
            reply = Reply(500, {"error": "internal error"}, reason)
        self._access_log(request, reply, (time.perf_counter() - started) * 1000)
        return reply

    def _dispatch(self, request: Request) -> Reply:
        admin = request.path.startswith("/admin/")
        if not admin:
            self.chaos.delay()
        if request.path == "/health" and request.method == "GET":
            if self.chaos.unhealthy:
                return Reply(
                    503,
                    {"status": "unhealthy", "service": self.name},
                    "chaos: unhealthy",
                )
            return Reply(200, {"status": "ok", "service": self.name})
        handler, params = self.router.match(request.method, request.path)
        if is_invalid_json(request.body):
            raise HTTPError(400, "request body is not valid JSON")
        if not admin:
            if self.chaos.roll():
                raise HTTPError(
                    500, f"chaos: injected failure (error_rate={self.chaos.error_rate:g})"
                )
            time.sleep(self.rng.uniform(*self.work_ms) / 1000)
        request.params = params
        return handler(request)

    def _access_log(self, request: Request, reply: Reply, ms: float) -> None:
        probe = request.path == "/health" or "probe" in request.query
        if probe and reply.status < 500:
            return
        message = f"{request.method} {request.target} {reply.status} {ms:.0f}ms"
        if reply.status >= 400 and reply.reason:
            message += f" reason={quoted(reply.reason)}"
        if reply.status >= 500:
            self.log.error(request.rid, message)
        elif reply.status >= 400:
            self.log.warn(request.rid, message)
        else:
            self.log.info(request.rid, message)

    # ------------------------------------------------------------------ admin

    def _get_chaos(self, request: Request) -> Reply:
        return Reply(200, self.chaos.snapshot())

    def _set_chaos(self, request: Request) -> Reply:
        try:
            crash = self.chaos.update(request.body if request.body is not None else {})
        except ChaosError as exc:
            raise HTTPError(400, str(exc)) from None
        if crash:
            self.log.error(
                request.rid, f"chaos: crash requested, exiting with code {CRASH_EXIT_CODE}"
            )
            timer = threading.Timer(CRASH_DELAY, os._exit, args=(CRASH_EXIT_CODE,))
            timer.daemon = True
            timer.start()
            return Reply(202, {**self.chaos.snapshot(), "crash": True})
        self.log.warn(request.rid, f"chaos set: {self.chaos.describe()}")
        return Reply(200, self.chaos.snapshot())

    def _reset(self, request: Request) -> Reply:
        """Wipe this service's data; with ``{"cascade": true}``, its dependencies' too.

        Cascading lets the seed reset the whole environment through the one
        URL it knows (the gateway) instead of needing every service's address.
        """
        body: Any = request.body if isinstance(request.body, dict) else {}
        cascade = body.get("cascade") is True or request.query.get("cascade") in ("1", "true")
        self.reset()
        self.log.warn(request.rid, "reset: data wiped")
        done = [self.name]
        if cascade:
            for dep in self.upstreams.values():
                _, answer = dep.expect("POST", "/admin/reset", request.rid, {"cascade": True})
                for name in answer.get("reset", []) if isinstance(answer, dict) else []:
                    if name not in done:
                        done.append(name)
        return Reply(200, {"reset": done})
