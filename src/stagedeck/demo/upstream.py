"""Calls from one demo service to another: JSON over HTTP with urllib.

Every call has a timeout (a hung dependency must turn into a 502 quickly, not
a pile of stuck threads) and carries the caller's ``X-Request-Id`` so one
request can be followed through every service's log. Proxies from the
environment are ignored on purpose: the services talk to each other directly.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from stagedeck.demo import tracing

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

DEFAULT_TIMEOUT = 3.0


class UpstreamError(Exception):
    """A dependency could not be reached, timed out, or failed (5xx)."""

    def __init__(self, service: str, reason: str, status: int = 0) -> None:
        super().__init__(f"{service} unavailable: {reason}")
        self.service = service
        self.reason = reason
        self.status = status


def segment(value: str) -> str:
    """Quote one path segment taken from a client (``/skus/{sku}``)."""
    return quote(value, safe="")


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"error": raw[:200].decode(errors="replace")}


def error_text(body: Any) -> str:
    """The ``error`` message of a JSON error body, or a short rendering of it."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return json.dumps(body)[:200]


@dataclass(frozen=True)
class Upstream:
    """One dependency, addressed by its base URL (no trailing slash)."""

    name: str
    base_url: str
    timeout: float = DEFAULT_TIMEOUT

    def call(
        self,
        method: str,
        path: str,
        rid: str,
        body: Any = None,
        *,
        timeout: float | None = None,
    ) -> tuple[int, Any]:
        """Any HTTP answer as ``(status, json)``; raise :class:`UpstreamError` if none came."""
        span = tracing.start_client(
            f"{method} {self.name}{path.split('?', 1)[0]}",
            **{"peer.service": self.name, "http.request.method": method},
        )
        status = 0
        try:
            status, answer = self._call(method, path, rid, body, timeout, span)
            return status, answer
        except UpstreamError as exc:
            if span is not None:
                span.finish(error=True, message=str(exc))
                span = None
            raise
        finally:
            if span is not None:
                span.attributes["http.response.status_code"] = status
                span.finish(error=status >= 500, message=f"HTTP {status}" if status >= 500 else "")

    def _call(
        self,
        method: str,
        path: str,
        rid: str,
        body: Any,
        timeout: float | None,
        span: tracing.ActiveSpan | None,
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Request-Id": rid or "-",
        }
        if span is not None:
            headers["traceparent"] = span.traceparent
        request = urllib.request.Request(
            self.base_url + path, data=data, method=method, headers=headers
        )
        try:
            with _OPENER.open(request, timeout=timeout or self.timeout) as response:
                return int(response.status), _decode(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return int(exc.code), _decode(exc.read())
        except TimeoutError:
            raise UpstreamError(
                self.name, f"timed out after {timeout or self.timeout:g}s"
            ) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            text = getattr(reason, "strerror", None) or str(reason)
            if isinstance(reason, TimeoutError | socket.timeout):
                text = f"timed out after {timeout or self.timeout:g}s"
            raise UpstreamError(self.name, text) from None
        except (OSError, http.client.HTTPException) as exc:
            raise UpstreamError(self.name, f"{type(exc).__name__}: {exc}") from None

    def expect(
        self,
        method: str,
        path: str,
        rid: str,
        body: Any = None,
        *,
        ok: tuple[int, ...] = (200, 201),
        timeout: float | None = None,
    ) -> tuple[int, Any]:
        """Like :meth:`call`, but a 5xx is an :class:`UpstreamError` too.

        4xx answers are returned: they are the dependency's verdict on our
        request (out of stock, declined) and the caller decides what they mean.
        """
        status, answer = self.call(method, path, rid, body, timeout=timeout)
        if status >= 500:
            raise UpstreamError(self.name, f"HTTP {status}: {error_text(answer)}", status)
        if status not in ok and status < 400:
            raise UpstreamError(self.name, f"unexpected HTTP {status}", status)
        return status, answer
