"""Validation of JSON request bodies, shared by every service.

Each helper either returns a clean value or raises :class:`HTTPError` 400 with
a message naming the field, so handlers read top to bottom without ``if``
ladders and every service rejects bad input the same way.
"""

from __future__ import annotations

import re
from typing import Any

from stagedeck.demo.web import HTTPError

SKU_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
CARD_PATTERN = re.compile(r"^\d{12,19}$")


def body_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise HTTPError(400, "expected a JSON object in the request body")
    return body


def text(body: dict[str, Any], key: str, *, max_len: int = 200) -> str:
    value = body.get(key)
    if value is None:
        raise HTTPError(400, f"'{key}' is required")
    if not isinstance(value, str) or not value.strip():
        raise HTTPError(400, f"'{key}' must be a non-empty string")
    if len(value) > max_len:
        raise HTTPError(400, f"'{key}' is longer than {max_len} characters")
    return value.strip()


def optional_text(body: dict[str, Any], key: str, *, max_len: int = 200) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise HTTPError(400, f"'{key}' must be a string")
    if len(value) > max_len:
        raise HTTPError(400, f"'{key}' is longer than {max_len} characters")
    return value.strip()


def integer(
    body: dict[str, Any], key: str, *, low: int, high: int, default: int | None = None
) -> int:
    value = body.get(key, default)
    if value is None:
        raise HTTPError(400, f"'{key}' is required")
    if isinstance(value, bool) or not isinstance(value, int):
        raise HTTPError(400, f"'{key}' must be a whole number")
    if not low <= value <= high:
        raise HTTPError(400, f"'{key}' must be between {low} and {high}")
    return value


def choice(body: dict[str, Any], key: str, options: tuple[str, ...]) -> str:
    value = body.get(key)
    if value not in options:
        raise HTTPError(400, f"'{key}' must be one of {', '.join(options)}")
    return str(value)


def sku(value: str) -> str:
    if not SKU_PATTERN.match(value):
        raise HTTPError(400, "a SKU is 1-40 letters, digits, '.', '_' or '-'")
    return value


def card(value: str) -> str:
    if not CARD_PATTERN.match(value):
        raise HTTPError(400, "'card' must be 12 to 19 digits")
    return value


def money(cents: int) -> str:
    """Cents as a decimal amount for log lines (``1250`` -> ``12.50``)."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"
