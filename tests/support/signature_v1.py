"""FROZEN: stagedeck's failure signature algorithm v1, exactly as it shipped (do not edit).

Kept only so tests can build stores the way v1 wrote them and check that the v2
migration (``stagedeck.store.resign``) carries their annotations over, and so the
benchmark can show what v1 made of the same captured failures.

The original module docstring follows.

Failure signatures: the same failure gets the same short id in every run.

A test that fails with ``connection refused to 10.0.4.17:5432 after 3012 ms`` on
Monday and ``connection refused to 10.0.9.2:5432 after 2990 ms`` on Tuesday has
failed the same way. Annotations ("flaky: the seed job races the API"), history
and "seen 14 times since March" all hang off that sameness, so the message is
normalised first (volatile parts masked) and then hashed together with the test id.

Masks, applied in one pass, leftmost match first:

=============================  =========  ======================================
what                           becomes    example
=============================  =========  ======================================
HTTP status after HTTP/status  kept       ``HTTP 503``, ``status_code=404``
timestamps, dates, times       ``<ts>``   ``2025-11-22T03:41:12.5Z``, ``03:41:12``
UUIDs                          ``<id>``   ``123e4567-e89b-12d3-a456-426614174000``
Kubernetes pod suffixes        ``<id>``   ``api-7d9f8b6c5-x2x4z`` → ``api-<id>``
IPv4/IPv6 addresses (+port)    ``<addr>`` ``10.0.0.5:8080``, ``[::1]:9000``
temporary paths                ``<tmp>``  ``/tmp/pytest-of-bob/pytest-12/x0/db``
hex ids and pointers           ``<id>``   ``0x7f3a9c``, ``8f3a9c2e1b77``
other numbers                  ``<n>``    ``after 3012 ms``, ``3.5s``
=============================  =========  ======================================

Status codes are kept on purpose: "HTTP 503" and "HTTP 404" are different failures
of an integration test, while "got 3 items" and "got 4 items" usually are not.
Host names are kept too (``db:5432`` → ``db:<n>``): which service refused matters.
"""

from __future__ import annotations

import hashlib
import re
import tempfile

SIGNATURE_LENGTH = 16
"""Hex digits of the hash kept: 64 bits, ample for one team's failures, short to show."""

MESSAGE_LIMIT = 2000
"""Characters of a normalised message that count; a huge dump should not make every run unique."""


def _temp_prefixes() -> list[str]:
    prefixes = ["/tmp", "/var/tmp", "/dev/shm", "/private/var/folders", "/var/folders"]
    local = tempfile.gettempdir().rstrip("/")
    if local and local not in prefixes:
        prefixes.append(local)
    # Longest first so /private/var/folders wins over /var/folders.
    return sorted(prefixes, key=len, reverse=True)


_HEX = "[0-9a-fA-F]"
_K8S = "[bcdfghjklmnpqrstvwxz2-9]"
"""The alphabet of Kubernetes' generated name suffixes: no vowels, so words never match."""
_PATTERNS: list[tuple[str, str | None]] = [
    # (regex, replacement); None keeps the match as it is.
    (r"(?i:\b(?:HTTP(?:/\d(?:\.\d)?)?|status(?:[ _-]?code)?)\s*[:=]?\s*)[1-5]\d\d\b", None),
    (
        r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
        r"(?:Z|[+-]\d{2}:?\d{2}\b)?",
        "<ts>",
    ),
    (r"\b\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?\b", "<ts>"),
    (rf"\b{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}\b", "<id>"),
    (rf"(?<=[a-z0-9])-{_K8S}{{8,10}}-{_K8S}{{5}}\b", "-<id>"),
    (r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?\b", "<addr>"),
    (r"\[[0-9a-fA-F]*:[0-9a-fA-F]*:[0-9a-fA-F:.]*\](?::\d{1,5})?", "<addr>"),
    ("(?:" + "|".join(re.escape(p) for p in _temp_prefixes()) + r")/[^\s'\"`,;:)\]}>]*", "<tmp>"),
    (rf"\b0[xX]{_HEX}+\b", "<id>"),
    (rf"\b(?={_HEX}*\d)(?={_HEX}*[a-fA-F]){_HEX}{{8,}}\b", "<id>"),
    (r"(?<![\w.])\d+(?:\.\d+)*(?:[eE][+-]?\d+)?", "<n>"),
]
_COMBINED = re.compile("|".join(f"({p})" for p, _ in _PATTERNS))
_SPACE = re.compile(r"\s+")


def _replace(match: re.Match[str]) -> str:
    index = match.lastindex
    assert index is not None
    replacement = _PATTERNS[index - 1][1]
    return match.group(0) if replacement is None else replacement


def normalise_message(message: str) -> str:
    """The message with its volatile parts masked and whitespace collapsed.

    Digits glued after a letter, ``_`` or ``.`` (``utf8``, ``test_v2``, ``v1.2``) are
    part of a name and stay; other numbers become ``<n>`` (``3012ms`` → ``<n>ms``).
    """
    text = _SPACE.sub(" ", message).strip()[: MESSAGE_LIMIT * 2]
    return _COMBINED.sub(_replace, text)[:MESSAGE_LIMIT]


def failure_signature(test_id: str, message: str) -> str:
    """A short stable id for "this test failed this way": hash of id + normalised message."""
    digest = hashlib.sha256(f"{test_id}\n{normalise_message(message)}".encode()).hexdigest()
    return digest[:SIGNATURE_LENGTH]
