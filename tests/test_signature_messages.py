"""Failure signatures on messages as real systems write them, beyond the demo's.

Each SAME pair is one failure seen in two runs (every volatile part differs: ids of
several shapes, timestamps of several formats, ports, addresses, counters); each
DIFFERENT pair is two failures a person would want told apart (status code,
service, host, exception type, operator, expected constant, error code), usually
with volatile parts differing too, so a pair only passes for the right reason.
"""

from __future__ import annotations

import pytest

from stagedeck.store.signature import failing_line, failure_signature, normalise_message

TEST = "suites/test_checkout.py::test_checkout"

SAME: list[tuple[str, str, str]] = [
    (
        "urllib3 refused, repr address, base62 id in the URL",
        "requests.exceptions.ConnectionError: HTTPConnectionPool(host='10.0.4.17', port=8080): "
        "Max retries exceeded with url: /api/orders/ord_8fK2xQ9zLm (Caused by NewConnectionError("
        "'<urllib3.connection.HTTPConnection object at 0x7f3a9c2e1b70>: Failed to establish a new "
        "connection: [Errno 111] Connection refused'))",
        "requests.exceptions.ConnectionError: HTTPConnectionPool(host='10.0.9.2', port=8080): "
        "Max retries exceeded with url: /api/orders/ord_Q2w9Lk4PzX (Caused by NewConnectionError("
        "'<urllib3.connection.HTTPConnection object at 0x7f11d2a09e80>: Failed to establish a new "
        "connection: [Errno 111] Connection refused'))",
    ),
    (
        "JSON error body: uuid request id, epoch ms, hex trace id; pytest status explanation",
        'AssertionError: {"error":{"code":"PAYMENT_DECLINED","message":"card declined",'
        '"request_id":"8b1d6c9e-2f4a-4c1e-9d3b-7a6e5f4c3b2a","timestamp":1764611797123},'
        '"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"}\nassert 402 == 201\n'
        " +  where 402 = <Response [402 Payment Required]>.status_code",
        'AssertionError: {"trace_id":"0af7651916cd43dd8448eb211c80319c","error":{"message":"card '
        'declined","code":"PAYMENT_DECLINED","timestamp":1764698231006,'
        '"request_id":"f47ac10b-58cc-4372-a567-0e02b2c3d479"}}\nassert 402 == 201\n'
        " +  where 402 = <Response [402 Payment Required]>.status_code",
    ),
    (
        "the demo's order body: rid, order/reservation ids, ISO timestamps, amounts",
        'AssertionError: {"id": "o-00006", "customer": "suite-api", "sku": "SKU-4", "qty": 2, '
        '"total_cents": 900, "status": "failed", "reason": "payment failed: payments unavailable: '
        'HTTP 500: chaos: injected failure (error_rate=1)", "reservation_id": "r-00005", '
        '"payment_id": null, "rid": "td1cbc58e0", "created_at": "2026-12-01T17:56:37.584Z"}\n'
        "assert 502 == 201\n +  where 502 = <Response [502 Bad Gateway]>.status_code",
        'AssertionError: {"id": "o-00025", "customer": "suite-api", "sku": "SKU-4", "qty": 2, '
        '"total_cents": 900, "status": "failed", "reason": "payment failed: payments unavailable: '
        'HTTP 500: chaos: injected failure (error_rate=1)", "reservation_id": "r-00018", '
        '"payment_id": null, "rid": "t478bdbbc3", "created_at": "2026-12-02T09:01:02.001Z"}\n'
        "assert 502 == 201\n +  where 502 = <Response [502 Bad Gateway]>.status_code",
    ),
    (
        "Kubernetes pod hash, restart counter, exit code kept, ISO time",
        "pod payments-7d9f8b6c5-x2x4z in staging-pr-1234 is CrashLoopBackOff (restarts: 7, "
        "last exit code 137 at 2026-12-01T17:56:37Z)",
        "pod payments-5b7cd9fd8c-qwz8k in staging-pr-1234 is CrashLoopBackOff (restarts: 12, "
        "last exit code 137 at 2026-12-03T02:11:09Z)",
    ),
    (
        "DaemonSet pod suffix and log-style line with comma milliseconds",
        "ERROR 2026-12-01 17:56:37,584 [worker-3] fluentd-x7k2p: job 48213 failed after 3 "
        "attempts (rid=t478bdbbc3)",
        "ERROR 2026-12-02 09:01:02,001 [worker-3] fluentd-b9q4z: job 48990 failed after 5 "
        "attempts (rid=tb03c2e9a1)",
    ),
    (
        "HTTP date header and a uuid in a path",
        "GET /v1/carts/123e4567-e89b-12d3-a456-426614174000 answered 503 with Date: Tue, 01 Dec "
        "2026 17:56:37 GMT, Retry-After: 30",
        "GET /v1/carts/9f1c2d3e-4b5a-4c6d-8e7f-0a1b2c3d4e5f answered 503 with Date: Wed, 16 Jan "
        "2027 03:02:01 GMT, Retry-After: 120",
    ),
    (
        "Stripe-style ids with and without digits",
        "InvalidRequestError: No such customer: 'cus_NffrFeUfNV2Hib'; charge ch_3MtwBwLkdIwHu7ix",
        "InvalidRequestError: No such customer: 'cus_OghTkLmPqRsWzA'; charge ch_3Nq8ZpR2vXyTe1Lm",
    ),
    (
        "Postgres duplicate key with a counter id",
        "psycopg.errors.UniqueViolation: duplicate key value violates unique constraint "
        '"orders_pkey"\nDETAIL:  Key (id)=(48213) already exists.',
        "psycopg.errors.UniqueViolation: duplicate key value violates unique constraint "
        '"orders_pkey"\nDETAIL:  Key (id)=(9) already exists.',
    ),
    (
        "set reprs in another hash order",
        "assert {'ledger', 'orders', 'payments'} == {'orders', 'payments'}\n"
        "  Extra items in the left set:\n  'ledger'",
        "assert {'payments', 'ledger', 'orders'} == {'payments', 'orders'}\n"
        "  Extra items in the left set:\n  'ledger'",
    ),
    (
        "pytest's set diff in hash order, truncated (the demo's api suite on unseeded data)",
        "AssertionError: assert {'SKU-1', 'SK... 'SKU-6', ...} <= set()\n  \n  Extra items in "
        "the left set:\n  'SKU-4'\n  'SKU-6'\n  'SKU-5'\n  'SKU-7'\n  'SKU-8'...\n  \n  ...Full "
        "output truncated (3 lines hidden), use '-vv' to show",
        "AssertionError: assert {'SKU-1', 'SK... 'SKU-6', ...} <= set()\n  \n  Extra items in "
        "the left set:\n  'SKU-7'\n  'SKU-1'\n  'SKU-5'\n  'SKU-8'\n  'SKU-2'...\n  \n  ...Full "
        "output truncated (3 lines hidden), use '-vv' to show",
    ),
    (
        "pytest's set diff in hash order, complete",
        "assert {'ledger', 'orders'} == set()\n  Extra items in the left set:\n  'orders'\n"
        "  'ledger'\n  Use -v to get more diff",
        "assert {'ledger', 'orders'} == set()\n  Extra items in the left set:\n  'ledger'\n"
        "  'orders'\n  Use -v to get more diff",
    ),
    (
        "pytest dict diff quoting a per-request id",
        "AssertionError: assert {'id': 'o-00007', 'status': 'failed'} == {'status': 'paid'}\n"
        "  Differing items:\n  {'status': 'failed'} != {'status': 'paid'}\n"
        "  Left contains 1 more item:\n  {'id': 'o-00007'}\n  Use -v to get more diff",
        "AssertionError: assert {'id': 'o-01931', 'status': 'failed'} == {'status': 'paid'}\n"
        "  Differing items:\n  {'status': 'failed'} != {'status': 'paid'}\n"
        "  Left contains 1 more item:\n  {'id': 'o-01931'}\n  Use -v to get more diff",
    ),
    (
        "pytest temp dir and an epoch in a file name",
        "FileNotFoundError: [Errno 2] No such file or directory: "
        "'/tmp/pytest-of-ci/pytest-312/test_export0/out/report-1764611797.json'",
        "FileNotFoundError: [Errno 2] No such file or directory: "
        "'/tmp/pytest-of-ci/pytest-3/test_export0/out/report-1764699999.json'",
    ),
    (
        "Go log prefix and a cluster IP",
        "2026/12/01 17:56:37 dial tcp 10.96.0.12:5432: connect: connection refused",
        "2026/12/03 08:00:00 dial tcp 10.96.14.201:5432: connect: connection refused",
    ),
    (
        "Spring error body with offset timestamp and a numeric id in the path",
        '{"timestamp":"2026-12-01T17:56:37.584+00:00","status":500,"error":"Internal Server '
        'Error","path":"/api/orders/48213"}',
        '{"timestamp":"2026-12-02T04:00:00.000+01:00","status":500,"error":"Internal Server '
        'Error","path":"/api/orders/7"}',
    ),
    (
        "Apache access line",
        '10.0.0.5 - - [01/Dec/2026:17:56:37 +0000] "GET /api/orders/o-00007 HTTP/1.1" 502 157',
        '10.0.3.9 - - [13/Jan/2027:01:02:03 +0000] "GET /api/orders/o-00912 HTTP/1.1" 502 161',
    ),
    (
        "syslog line from an EC2 host name",
        "Dec  1 17:56:37 ip-10-0-4-17 kernel: Out of memory: Killed process 48213 (python)",
        "Jan 12 03:01:02 ip-10-0-9-2 kernel: Out of memory: Killed process 977 (python)",
    ),
    (
        "durations and a counter id",
        "timed out after 30.003s waiting for order o-00007 to be shipped (last status: paid)",
        "timed out after 30.01s waiting for order o-00031 to be shipped (last status: paid)",
    ),
    (
        "ULID, Docker container id, Mongo ObjectId",
        "event 01HF3K9ZQX4M7B2N8P5R6S1T0V for container 8f3a9c2e1b77 (doc 507f1f77bcf86cd799439011)"
        " not delivered",
        "event 01HG7Q2M4N6P8R0T2V4X6Z8B0D for container 3c1e0b9a7d42 (doc 65a1b2c3d4e5f60718293a4b)"
        " not delivered",
    ),
    (
        "ISO 8601 without a zone, ctime, and localhost ports",
        "cache at http://localhost:48329/payments stale since 2026-12-01T17:56:37 "
        "(checked Tue Dec  1 17:56:40 2026)",
        "cache at http://localhost:51022/payments stale since 2026-12-04T10:00:03 "
        "(checked Fri Dec  4 10:00:09 2026)",
    ),
    (
        "pytest's truncation note",
        "AssertionError: assert [1, 2, 3] == [1, 2]\n  Left contains one more item: 3\n"
        "  ...Full output truncated (12 lines hidden), use '-vv' to show",
        "AssertionError: assert [4, 5, 6] == [4, 5]\n  Left contains one more item: 6\n"
        "  ...Full output truncated (14 lines hidden), use '-vv' to show",
    ),
    (
        "a JSON body nested as a string inside an error",
        'UpstreamError: {"error": "{\\"rid\\": \\"t478bdbbc3\\", \\"status\\": 409, '
        '\\"detail\\": \\"reservation r-00012 expired\\"}"}',
        'UpstreamError: {"error": "{\\"rid\\": \\"t9f6e97500\\", \\"status\\": 409, '
        '\\"detail\\": \\"reservation r-00981 expired\\"}"}',
    ),
    (
        "headers printed as key: value",
        "X-Request-Id: t478bdbbc3\nX-Trace-Id: 4bf92f3577b34da6\nsession=Zx81KqLp0aBc status 503",
        "X-Request-Id: suite-9f2c\nX-Trace-Id: 00f067aa0ba902b7\nsession=Pq72MnBv1cXz status 503",
    ),
]

DIFFERENT: list[tuple[str, str, str]] = [
    (
        "status code",
        "assert 502 == 201\n +  where 502 = <Response [502 Bad Gateway]>.status_code",
        "assert 404 == 201\n +  where 404 = <Response [404 Not Found]>.status_code",
    ),
    (
        "expected constant",
        "assert 502 == 201\n +  where 502 = <Response [502 Bad Gateway]>.status_code",
        "assert 502 == 200\n +  where 502 = <Response [502 Bad Gateway]>.status_code",
    ),
    (
        "service by name (volatile ids differ too)",
        '{"rid": "t478bdbbc3", "error": "payment failed: payments unavailable: HTTP 500"}',
        '{"rid": "t9f6e97500", "error": "payment failed: inventory unavailable: HTTP 500"}',
    ),
    (
        "host by name",
        "dial tcp db-primary:5432: connect: connection refused",
        "dial tcp db-replica:5432: connect: connection refused",
    ),
    (
        "broker by ordinal",
        "kafka-0.kafka:9092 unreachable after 3012 ms",
        "kafka-1.kafka:9092 unreachable after 2990 ms",
    ),
    (
        "exception type",
        "httpx.ConnectError: [Errno 111] Connection refused",
        "httpx.ReadTimeout: timed out",
    ),
    ("assertion operator", "assert 5 == 4", "assert 5 <= 4"),
    (
        "status in a JSON body",
        '{"timestamp":"2026-12-01T17:56:37Z","status":500,"error":"Internal Server Error"}',
        '{"timestamp":"2026-12-02T09:00:00Z","status":503,"error":"Internal Server Error"}',
    ),
    (
        "error code in a JSON body",
        '{"request_id":"8b1d6c9e-2f4a-4c1e-9d3b-7a6e5f4c3b2a","code":"PAYMENT_DECLINED"}',
        '{"request_id":"f47ac10b-58cc-4372-a567-0e02b2c3d479","code":"INSUFFICIENT_FUNDS"}',
    ),
    (
        "numeric error code in a JSON body",
        '{"rid":"t478bdbbc3","error_code":40001}',
        '{"rid":"t9f6e97500","error_code":40002}',
    ),
    (
        "a field absent vs present",
        '{"id": "o-00006", "payment_id": null, "status": "failed"}',
        '{"id": "o-00007", "payment_id": "p-00003", "status": "failed"}',
    ),
    ("exit code", "worker exited with code 137", "worker exited with code 1"),
    ("a status a service returned", "payments returned 503", "payments returned 500"),
    (
        "Kubernetes waiting reason",
        "pod api-7d9f8b6c5-x2x4z is CrashLoopBackOff",
        "pod api-5b7cd9fd8c-qwz8k is ImagePullBackOff",
    ),
    ("errno", "[Errno 111] Connection refused", "[Errno 113] Connection refused"),
    (
        "a set missing another item",
        "assert set() == {'ledger'}\n  Extra items in the right set:\n  'ledger'",
        "assert set() == {'orders'}\n  Extra items in the right set:\n  'orders'",
    ),
    (
        "fixture by name",
        "assert 'SKU-1' in ['SKU-2', 'SKU-3']",
        "assert 'SKU-2' in ['SKU-1', 'SKU-3']",
    ),
]


@pytest.mark.parametrize(("why", "first", "second"), SAME, ids=[c[0] for c in SAME])
def test_the_same_failure_in_two_runs_has_one_signature(why: str, first: str, second: str) -> None:
    assert normalise_message(first) == normalise_message(second)
    assert failure_signature(TEST, first) == failure_signature(TEST, second)


@pytest.mark.parametrize(("why", "first", "second"), DIFFERENT, ids=[c[0] for c in DIFFERENT])
def test_different_failures_keep_different_signatures(why: str, first: str, second: str) -> None:
    assert failure_signature(TEST, first) != failure_signature(TEST, second)


TRACEBACK = """\
shop = <conftest.Shop object at 0x7f5b54fe7050>

    def test_an_order_reserves_stock(shop: Shop) -> None:
        before = shop.available("SKU-6")
>       order = shop.place("SKU-6", qty=2, customer="suite-flows")

suites/test_flows.py:27:
_ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _ _

    def place(self, sku: str, qty: int = 1, status: int = 201, **extra: Any) -> dict[str, Any]:
        response = self.order(sku, qty, **extra)
>       assert   response.status_code == status, response.text
E       AssertionError: {"id": "o-00007"}
E       assert 502 == 201

suites/conftest.py:62: AssertionError"""


def test_the_failing_line_is_the_last_marked_one_with_spacing_collapsed() -> None:
    assert failing_line(TRACEBACK) == "assert response.status_code == status, response.text"
    assert failing_line("no pytest marks here\nValueError: x") == ""
    # A quoted reply in the output is not pytest's mark.
    assert failing_line("> GET /orders/o-00007 answered 502\nE   x") == ""


def test_two_assertions_with_alike_messages_stay_apart_through_the_failing_line() -> None:
    message = "assert 3 == 4"
    one = "    def test_x():\n>       assert len(orders) == 4\nE       assert 3 == 4"
    two = "    def test_x():\n>       assert len(refunds) == 4\nE       assert 3 == 4"
    assert failure_signature(TEST, message, one) != failure_signature(TEST, message, two)
    moved = "    def test_x():\n        pass\n>       assert len(orders) ==  4\nE   assert 9 == 4"
    assert failure_signature(TEST, "assert 9 == 4", moved) == failure_signature(TEST, message, one)


def test_counts_in_assertions_are_masked_but_explained_statuses_kept() -> None:
    assert normalise_message("assert 3 == 4\n +  where 3 = len([1, 2, 3])").startswith(
        "assert <n> == <n>"
    )
    kept = normalise_message("assert 502 == 201\n +  where 502 = <Response [502 Bad Gateway]>.x")
    assert kept == "assert 502 == 201 + where 502 = <Response [502 Bad Gateway]>.x"


def test_embedded_json_is_rewritten_canonically() -> None:
    text = normalise_message(
        'AssertionError: {"rid": "t478bdbbc3", "status": 502, "qty": 2, "payment_id": null,'
        ' "created_at": "2026-12-01T17:56:37.584Z", "reason": "payments unavailable"} tail 12'
    )
    assert text == (
        'AssertionError: {"created_at": "<ts>", "payment_id": null, "qty": "<n>", '
        '"reason": "payments unavailable", "rid": "<id>", "status": 502} tail <n>'
    )


def test_a_truncated_json_body_is_still_masked_as_text() -> None:
    cut = '{"id": "o-00006", "rid": "t478bdbbc3", "created_at": "2026-12-01T17:56:37.584Z", "rea'
    assert normalise_message(cut) == '{"id": "<id>", "rid": "<id>", "created_at": "<ts>", "rea'


def test_words_names_and_short_numbered_names_are_not_ids() -> None:
    text = "ConnectionRefusedError XMLHttpRequest getElementById utf8 http2 kafka-1 SKU-4 md5"
    assert normalise_message(text) == text


def test_unbalanced_and_huge_input_stays_fast() -> None:
    import time

    nasty = "{[" * 3000 + '"x' * 2000
    start = time.perf_counter()
    normalise_message(nasty)
    normalise_message("{" + '"a": [' * 500)
    assert time.perf_counter() - start < 2.0
