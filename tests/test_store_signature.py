"""Failure signatures: volatile parts of a message are masked, the rest identifies the failure."""

from __future__ import annotations

import hashlib

import pytest

from stagedeck.store.signature import SIGNATURE_LENGTH, failure_signature, normalise_message


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("assert 3 == 4", "assert <n> == <n>"),
        ("timed out after 3012 ms (3.5s)", "timed out after <n> ms (<n>s)"),
        ("took 3012ms", "took <n>ms"),
        ("connection refused to 10.0.4.17:5432", "connection refused to <addr>"),
        ("GET http://192.168.1.20/health failed", "GET http://<addr>/health failed"),
        ("[::1]:9000 refused, [fe80::1] down", "<addr> refused, <addr> down"),
        ("db:5432 refused", "db:<n> refused"),
        ("request 123e4567-e89b-12d3-A456-426614174000 failed", "request <id> failed"),
        ("<Order object at 0x7f3a9c2e1b70>", "<Order object at <id>>"),
        ("container 8f3a9c2e1b77 exited", "container <id> exited"),
        ("pod api-5b7cd9fd8c-qwz8k crashed", "pod api-<id> crashed"),
        ("at 2025-11-22T03:41:12.123Z retrying", "at <ts> retrying"),
        ("at 2025-11-22 03:41:12,555+01:00 retrying", "at <ts> retrying"),
        ("on 2025-11-22 at 03:41:12", "on <ts> at <ts>"),
        (
            "cannot open /tmp/pytest-of-bob/pytest-12/test_x0/db.sqlite: locked",
            "cannot open <tmp>: locked",
        ),
        ("wrote '/var/tmp/abc/out.json'", "wrote '<tmp>'"),
        ("HTTP 503 Service Unavailable", "HTTP 503 Service Unavailable"),
        ("expected status_code=200, got status 404", "expected status_code=200, got status 404"),
        ("HTTP/1.1 502 after 30 s", "HTTP/1.1 502 after <n> s"),
        (
            "utf8 codec, test_v2, x86_64, http2, v1.2.3",
            "utf8 codec, test_v2, x86_64, http2, v1.2.3",
        ),
        ("  many\n\n   spaces\tand lines ", "many spaces and lines"),
        ("deadbeef is a word here", "deadbeef is a word here"),
    ],
)
def test_normalise_message(message: str, expected: str) -> None:
    assert normalise_message(message) == expected


def test_same_failure_same_signature_across_runs() -> None:
    a = failure_signature(
        "suites.api::test_orders",
        "connection refused to 10.0.4.17:5432 after 3012 ms at 2025-11-22T03:41:12Z",
    )
    b = failure_signature(
        "suites.api::test_orders",
        "connection refused to 10.0.9.2:5432 after 2990 ms at 2025-11-23T11:02:50Z",
    )
    assert a == b
    assert len(a) == SIGNATURE_LENGTH and int(a, 16) >= 0


def test_different_test_or_failure_different_signature() -> None:
    base = failure_signature("suites.api::test_orders", "HTTP 503 from api")
    assert failure_signature("suites.api::test_refunds", "HTTP 503 from api") != base
    assert failure_signature("suites.api::test_orders", "HTTP 404 from api") != base
    assert failure_signature("suites.api::test_orders", "HTTP 503 from db") != base


def test_signature_is_stable_across_processes_and_versions() -> None:
    # A fixed value: signatures are stored, so the algorithm must not drift silently.
    assert failure_signature("t::a", "x 1") == failure_signature("t::a", "x 2")
    expected = hashlib.sha256(b"t::a\nx <n>").hexdigest()[:16]
    assert failure_signature("t::a", "x 1") == expected == "2454f5cccbeec923"


def test_the_failing_line_is_hashed_after_the_message() -> None:
    # Pinned like the value above: changing it orphans stored annotations unless
    # SIGNATURE_VERSION is bumped and a store migration calls resign_all.
    traceback = "    def test_a():\n>       assert x ==   1\nE       assert 2 == 1\n"
    expected = hashlib.sha256(b"t::a\nassert <n> == <n>\nat assert x == 1").hexdigest()[:16]
    assert failure_signature("t::a", "assert 2 == 1", traceback) == expected
