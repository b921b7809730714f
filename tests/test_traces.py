"""Traces: OTLP in over real HTTP (the official SDK's exporter, JSON, protobuf), bounded
storage, hostile payloads refused without harm, and the questions asked of a trace."""

from __future__ import annotations

import asyncio
import gzip
import json
import secrets
import socket
import time
from pathlib import Path

import httpx
import pytest

from stagedeck.engine.engine import Engine
from stagedeck.recipe.errors import RecipeError
from stagedeck.recipe.model import load_recipe
from stagedeck.traces import query
from stagedeck.traces.env import otel_env
from stagedeck.traces.model import PayloadError
from stagedeck.traces.otlp_json import decode_json
from stagedeck.traces.otlp_proto import decode_proto
from stagedeck.traces.store import TraceStore
from support.evil import LINES as EVIL
from support.traces import checkout, export_json, receiver, span_json

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.exporter.otlp.proto.common.trace_encoder import (
    encode_spans,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import Status, StatusCode


def sdk_spans(service: str = "checkout") -> list:  # type: ignore[type-arg]
    """A small real trace recorded by the official SDK: root, a failing child, hostile text."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("interop")
    with (
        tracer.start_as_current_span(
            "POST /api/orders", attributes={"http.status_code": 502, "order.total": 12.5}
        ),
        tracer.start_as_current_span(EVIL[0], attributes={"evil": EVIL[4]}) as child,
    ):
        child.set_status(Status(StatusCode.ERROR, EVIL[1]))
        time.sleep(0.002)
    return list(memory.get_finished_spans())


# --------------------------------------------------------------------------- interop


def test_the_official_sdk_exporter_sends_spans_that_arrive_sanitised() -> None:
    with receiver() as rx:
        provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
        provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=rx.endpoint + "/v1/traces"))
        )
        tracer = provider.get_tracer("interop")
        with (
            tracer.start_as_current_span("POST /api/orders"),
            tracer.start_as_current_span(EVIL[2]) as child,
        ):
            child.set_attribute("title", EVIL[3])
            child.set_status(Status(StatusCode.ERROR, "card declined"))
        provider.shutdown()
        traces = rx.wait(lambda s: [t for t in s if len(t.spans) == 2])
        trace = traces[0]
        summary = rx.call(lambda: query.summarize(trace))
        assert summary.root_name == "POST /api/orders"
        assert summary.services == ("checkout",)
        assert summary.error
        origin = rx.call(lambda: query.error_origin(trace))
        assert origin is not None
        assert origin.name == "cursorMOVED"  # the escape sequences are gone, the text stays
        assert origin.attribute("title") == "title after-title"
        assert origin.status_message == "card declined"
        assert rx.store.refused_payloads == 0


def test_json_and_protobuf_of_the_same_spans_decode_alike() -> None:
    spans = sdk_spans()
    proto = encode_spans(spans).SerializeToString()
    from google.protobuf.json_format import MessageToJson

    as_json = MessageToJson(encode_spans(spans)).encode()  # base64 ids: also accepted
    a = decode_proto(proto, 100)
    b = decode_json(as_json, 100)
    assert [(s.trace_id, s.span_id, s.parent_id, s.name) for s in a] == [
        (s.trace_id, s.span_id, s.parent_id, s.name) for s in b
    ]
    child = next(s for s in a if s.parent_id)
    # Markup stays literal text (views render it as text); escape sequences are stripped.
    assert child.name == "[bold red]MARKUP-NOT-BOLD[/] [link=http://evil]click[/link]"
    assert child.attribute("evil") == "clip after-clip"
    assert child.status_message == "RED-TEXT plain after"
    assert child.error and child.service == "checkout"
    root = next(s for s in a if not s.parent_id)
    assert root.attribute("http.status_code") == "502"
    assert root.attribute("order.total") == "12.5"
    assert [s.attributes for s in a] == [s.attributes for s in b]


def test_protobuf_and_gzip_over_http_both_answer_200() -> None:
    proto = encode_spans(sdk_spans()).SerializeToString()
    with receiver() as rx:
        url = rx.endpoint + "/v1/traces"
        r1 = httpx.post(url, content=proto, headers={"Content-Type": "application/x-protobuf"})
        assert r1.status_code == 200 and r1.headers["content-type"] == "application/x-protobuf"
        tid = secrets.token_hex(16)
        body = gzip.compress(export_json({"orders": [span_json("GET /orders", trace_id=tid)]}))
        r2 = httpx.post(
            url,
            content=body,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        assert r2.status_code == 200 and r2.json() == {}
        rx.wait(lambda s: s.get(tid))
        assert rx.call(lambda: len(rx.store)) == 2


# --------------------------------------------------------------------------- refusals


def _hostile_payloads() -> dict[str, tuple[str, bytes]]:
    tid = secrets.token_hex(16)
    deep: dict[str, object] = {"stringValue": "x"}
    for _ in range(50):
        deep = {"arrayValue": {"values": [deep]}}
    good = span_json("ok", trace_id=tid)
    return {
        "not json": ("application/json", b"{not json"),
        "json array": ("application/json", b"[1, 2]"),
        "wrong shape": ("application/json", b'{"resourceSpans": {"a": 1}}'),
        "short trace id": (
            "application/json",
            export_json({"a": [span_json("x", trace_id="abcd")]}),
        ),
        "zero trace id": (
            "application/json",
            export_json({"a": [span_json("x", trace_id="0" * 32)]}),
        ),
        "0x trace id": (
            "application/json",
            export_json({"a": [span_json("x", trace_id="0x" + "1" * 30)]}),
        ),
        "nested too deep": (
            "application/json",
            export_json({"a": [{**good, "attributes": [{"key": "k", "value": deep}]}]}),
        ),
        "bad kind": ("application/json", export_json({"a": [{**good, "kind": 99}]})),
        "huge time": (
            "application/json",
            export_json({"a": [{**good, "startTimeUnixNano": "9" * 30}]}),
        ),
        # a valid span first, then a broken one: the good one must not be stored either
        "half good": (
            "application/json",
            export_json({"a": [good, {**good, "spanId": "zz"}]}),
        ),
        "resourceSpans of numbers": ("application/json", b'{"resourceSpans": [5]}'),
        "kvlist of numbers": (
            "application/json",
            export_json(
                {
                    "a": [
                        {
                            **good,
                            "attributes": [{"key": "k", "value": {"kvlistValue": {"values": [1]}}}],
                        }
                    ]
                }
            ),
        ),
        "garbage proto": ("application/x-protobuf", secrets.token_bytes(300)),
        "truncated proto": (
            "application/x-protobuf",
            encode_spans(sdk_spans()).SerializeToString()[:-7],
        ),
        "runaway varint": ("application/x-protobuf", b"\x0a" + b"\xff" * 20),
    }


@pytest.mark.parametrize("case", list(_hostile_payloads()))
def test_malformed_and_hostile_payloads_get_400_and_change_nothing(case: str) -> None:
    ctype, body = _hostile_payloads()[case]
    with receiver() as rx:
        response = httpx.post(
            rx.endpoint + "/v1/traces", content=body, headers={"Content-Type": ctype}
        )
        assert response.status_code == 400, response.text
        assert rx.call(rx.store.stats)["traces"] == 0
        assert rx.store.refused_payloads == 1
        # the receiver is still serving
        tid = secrets.token_hex(16)
        ok = httpx.post(
            rx.endpoint + "/v1/traces",
            content=export_json({"a": [span_json("after", trace_id=tid)]}),
            headers={"Content-Type": "application/json"},
        )
        assert ok.status_code == 200


def test_oversized_bodies_and_gzip_bombs_are_refused_unread() -> None:
    with receiver(max_body=10_000) as rx:
        url = rx.endpoint + "/v1/traces"
        big = httpx.post(url, content=b"x" * 20_000, headers={"Content-Type": "application/json"})
        assert big.status_code == 413
        bomb = gzip.compress(b" " * 5_000_000)  # 5 KB on the wire, 5 MB inflated
        assert len(bomb) < 10_000
        r = httpx.post(
            url,
            content=bomb,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        assert r.status_code == 413
        assert httpx.get(url).status_code == 405
        assert (
            httpx.post(
                rx.endpoint + "/v1/metrics",
                content=b"{}",
                headers={"Content-Type": "application/json"},
            ).status_code
            == 404
        )
        r = httpx.post(url, content=b"{}", headers={"Content-Type": "text/plain"})
        assert r.status_code == 415
        assert rx.call(rx.store.stats)["traces"] == 0
        assert rx.store.refused_payloads == 5


def test_too_many_spans_in_one_request_is_refused() -> None:
    tid = secrets.token_hex(16)
    body = export_json({"a": [span_json("s", trace_id=tid) for _ in range(30)]})
    with pytest.raises(PayloadError, match="more than 20 spans"):
        decode_json(body, 20)


# --------------------------------------------------------------------------- the store


def test_the_store_is_bounded_drops_oldest_whole_traces_and_counts_them() -> None:
    store = TraceStore(max_traces=10, max_spans=25)
    ids = [secrets.token_hex(16) for _ in range(20)]
    for n, tid in enumerate(ids):
        spans = decode_json(
            export_json({"svc": [span_json(f"op{n}", trace_id=tid) for _ in range(3)]}), 100
        )
        store.add(spans)
        assert store.span_count <= 25 and len(store) <= 10
    held = [t.trace_id for t in store]
    assert held == ids[-8:]  # 8 traces x 3 spans fit under 25 spans; the oldest went first
    stats = store.stats()
    assert stats["dropped_traces"] == 12 and stats["dropped_spans"] == 36
    assert stats["received_spans"] == 60


def test_a_retried_export_does_not_duplicate_spans() -> None:
    store = TraceStore()
    body = export_json({"svc": [span_json("op", trace_id=secrets.token_hex(16))]})
    store.add(decode_json(body, 10))
    result = store.add(decode_json(body, 10))
    assert result.duplicates == 1 and store.span_count == 1


# --------------------------------------------------------------------------- queries


def _checkout(payments_ms: float, *, fail: bool = False, test: str = "") -> tuple[TraceStore, str]:
    """gateway -> orders -> (inventory, payments, ledger) in sequence, as the demo does."""
    store = TraceStore()
    return store, checkout(store, base=time.time(), payments_ms=payments_ms, fail=fail, test=test)


def test_the_critical_path_and_blame_name_the_slow_service() -> None:
    store, tid = _checkout(payments_ms=400)
    trace = store.get(tid)
    assert trace is not None
    path = [s.service for s in query.critical_path(trace)]
    # calls in sequence: every one of them held the order up
    assert path == [
        "gateway",
        "orders",
        "orders",
        "ledger",
        "orders",
        "payments",
        "orders",
        "inventory",
    ]
    verdict = query.blame(trace)
    assert verdict.slow_service == "payments" and verdict.error_service == ""
    assert verdict.slow_self_time == pytest.approx(0.4, abs=0.001)
    rows = query.waterfall(trace)
    assert [(r.span.service, r.depth) for r in rows] == [
        ("gateway", 0),
        ("orders", 1),
        ("orders", 2),
        ("inventory", 3),
        ("orders", 2),
        ("payments", 3),
        ("orders", 2),
        ("ledger", 3),
    ]


def test_the_deepest_errored_span_is_the_origin_and_never_the_test_itself() -> None:
    store, tid = _checkout(payments_ms=5, fail=True, test="test_flows.py::test_pay")
    trace = store.get(tid)
    assert trace is not None
    assert query.blame(trace).error_service == "payments"
    assert [r.span.service for r in query.waterfall(trace) if r.error_origin] == ["payments"]
    # A test that failed on an answer (no span of a service failed) blames no service.
    tid2 = secrets.token_hex(16)
    store.add(
        decode_json(
            export_json(
                {
                    "suite:flows": [
                        span_json(
                            "test t",
                            trace_id=tid2,
                            error=True,
                            ms=50,
                            attributes={"test.id": "test_flows.py::test_t"},
                        )
                    ]
                }
            ),
            10,
        )
    )
    only_test = store.get(tid2)
    assert only_test is not None
    assert query.blame(only_test).error_service == "" and query.blame(only_test).slow_service == ""


def test_filters_and_finding_a_trace_by_request_id() -> None:
    store, tid = _checkout(payments_ms=300)
    other = secrets.token_hex(16)
    store.add(
        decode_json(
            export_json(
                {
                    "inventory": [
                        span_json(
                            "GET /skus",
                            trace_id=other,
                            ms=2,
                            attributes={
                                "request.id": "t1234abcd",
                                "test.id": "suites/test_api.py::test_x",
                            },
                        )
                    ]
                }
            ),
            10,
        )
    )
    assert next(s.trace_id for s in query.list_traces(store)) == other
    slow = query.list_traces(
        store, query.parse_filter("min:200ms service:pay", ["orders", "payments"])
    )
    assert [s.trace_id for s in slow] == [tid]
    assert query.parse_filter("errors").errors_only
    with pytest.raises(query.FilterError):
        query.parse_filter("service:nope", ["orders", "payments"])
    assert query.find_trace(store, "t1234abcd").trace_id == other  # type: ignore[union-attr]
    assert query.find_trace(store, f"ERROR orders trace_id={tid} boom").trace_id == tid  # type: ignore[union-attr]
    assert [t.trace_id for t in query.traces_for_test(store, "suites.test_api::test_x")] == [other]


def test_latency_shift_finds_a_service_that_got_slower_while_green() -> None:
    store = TraceStore()
    now = time.time()
    for n in range(10):
        slow = n >= 5
        tid = secrets.token_hex(16)
        store.add(
            decode_json(
                export_json(
                    {
                        "payments": [
                            span_json(
                                "POST /payments",
                                trace_id=tid,
                                ms=200 if slow else 20,
                                base=now - 100 + n * 10,
                            )
                        ],
                        "ledger": [
                            span_json("POST /entries", trace_id=tid, ms=5, base=now - 100 + n * 10)
                        ],
                    }
                ),
                10,
            )
        )
    shifts = query.latency_shift(store, (now - 50, now), (now - 101, now - 51))
    assert [s.service for s in shifts] == ["payments"]
    assert shifts[0].ratio == pytest.approx(10, rel=0.1)


def test_a_parent_cycle_in_hostile_ids_does_not_hang() -> None:
    tid, a, b = secrets.token_hex(16), secrets.token_hex(8), secrets.token_hex(8)
    store = TraceStore()
    store.add(
        decode_json(
            export_json(
                {
                    "x": [
                        span_json("a", trace_id=tid, span_id=a, parent=b),
                        span_json("b", trace_id=tid, span_id=b, parent=a),
                    ]
                }
            ),
            10,
        )
    )
    trace = store.get(tid)
    assert trace is not None
    assert len(query.waterfall(trace)) == 2
    assert query.critical_path(trace) == []
    assert json.dumps(query.summarize(trace).to_json())


# --------------------------------------------------------------------------- recipe and engine


def test_the_traces_section_is_validated_like_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(
        '[environment]\nname = "x"\n\n[services.a]\ncommand = ["true"]\nport = 4318\n\n'
        '[traces]\nprot = 4318\nmax_spans = 0\ncontainer_endpoint = "host:1"\n'
    )
    with pytest.raises(RecipeError) as caught:
        load_recipe(path)
    text = str(caught.value)
    assert f"{path}:8: traces.port: port 4318 is also a service's port" in text
    assert f"{path}:9: traces.prot: unknown key 'prot' (did you mean 'port'?)" in text
    assert f"{path}:10: traces.max_spans: must be a whole number from 1 to 10,000,000" in text
    assert f"{path}:11: traces.container_endpoint: must be an http:// URL" in text
    path.write_text('[environment]\nname = "x y"\n[services.a]\ncommand = ["true"]\n[traces]\n')
    recipe = load_recipe(path)
    assert recipe.traces is not None and recipe.traces.endpoint == "http://127.0.0.1:4318"
    assert otel_env(recipe, "a") == {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_SERVICE_NAME": "a",
        "OTEL_BSP_SCHEDULE_DELAY": "500",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=x%20y",
    }
    assert otel_env(recipe, "a", in_container=True)["OTEL_EXPORTER_OTLP_ENDPOINT"] == (
        "http://host.docker.internal:4318"
    )


async def test_the_engine_receives_spans_and_its_services_get_the_variables(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r.toml"
    show = "import os, time; print('otel', os.environ['OTEL_SERVICE_NAME'], os.environ['OTEL_EXPORTER_OTLP_ENDPOINT'], os.environ['OTEL_BSP_SCHEDULE_DELAY'], flush=True); time.sleep(60)"
    path.write_text(
        '[environment]\nname = "x"\n\n'
        f'[services.app]\ncommand = ["{{python}}", "-c", "{show}"]\n'
        'env = { OTEL_BSP_SCHEDULE_DELAY = "100" }\n\n'
        '[traces]\nport = "auto"\n'
    )
    recipe = load_recipe(path)
    engine = Engine(recipe)
    await engine.start()
    try:
        assert engine.otlp is not None and engine.traces is not None
        endpoint = engine.otlp.endpoint
        assert recipe.traces is not None and endpoint == recipe.traces.endpoint
        deadline = time.monotonic() + 10
        while not [ln for ln in engine.logs.since(0) if ln.text.startswith("otel ")]:
            assert time.monotonic() < deadline, "the service never printed its environment"
            await asyncio.sleep(0.05)
        line = next(ln.text for ln in engine.logs.since(0) if ln.text.startswith("otel "))
        assert line == f"otel app {endpoint} 100"  # the recipe's own env wins
        tid = secrets.token_hex(16)
        async with httpx.AsyncClient() as client:
            r = await client.post(
                endpoint + "/v1/traces",
                content=export_json({"app": [span_json("GET /x", trace_id=tid)]}),
                headers={"Content-Type": "application/json"},
            )
        assert r.status_code == 200
        trace = engine.traces.get(tid)
        assert trace is not None and trace.services() == ["app"]
    finally:
        await engine.stop()
    assert engine.otlp is None


async def test_a_reload_that_moves_the_receiver_keeps_the_traces(tmp_path: Path) -> None:
    def free() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    path = tmp_path / "r.toml"
    base = '[environment]\nname = "x"\n[services.a]\ncommand = ["true"]\n'
    first, second = free(), free()
    path.write_text(base + f"[traces]\nport = {first}\n")
    engine = Engine(load_recipe(path))
    await engine.start(bring_up=False)
    try:
        store = engine.traces
        assert store is not None and engine.otlp is not None and engine.otlp.port == first
        store.add(decode_json(export_json({"a": [span_json("GET /", trace_id="1" * 32)]}), 10))
        path.write_text(base + f"[traces]\nport = {second}\nmax_traces = 10\n")
        await engine.apply_recipe(load_recipe(path))
        assert engine.otlp is not None and engine.otlp.port == second
        assert engine.traces is store and store.max_traces == 10 and store.get("1" * 32)
        path.write_text(base)
        await engine.apply_recipe(load_recipe(path))
        assert engine.otlp is None and engine.traces is None
    finally:
        await engine.stop()


def test_evidence_for_triage_names_the_failing_then_the_slow_service() -> None:
    from stagedeck.traces.evidence import pick, suspects_from_traces
    from stagedeck.traces.remote import summary_json

    store = TraceStore()
    now = time.time()
    failed = checkout(store, base=now - 9, fail=True, rid="r-f", test="t.py::test_a")
    slow = checkout(store, base=now - 5, payments_ms=300, rid="r-s")
    checkout(store, base=now - 2, rid="r-q")
    summaries = [summary_json(t) for t in store]
    assert [s["trace_id"] for s in pick(summaries, 2)] == [failed, slow]
    shift = query.LatencyShift("ledger", 5.0, 40.0, 12)
    ranked = suspects_from_traces(pick(summaries), [shift])
    assert [(svc, w) for svc, w, _ in ranked] == [("payments", 0.9), ("ledger", 0.5)]
    assert "failed first in trace" in ranked[0][2] and "8.0x slower" in ranked[1][2]


def test_mutated_payloads_are_accepted_or_refused_never_crash_the_decoders() -> None:
    """Flip, cut and splice valid payloads: every result is spans or a PayloadError."""
    import random

    from stagedeck.traces.receiver import decode

    rng = random.Random(17)
    proto = encode_spans(sdk_spans()).SerializeToString()
    tid = secrets.token_hex(16)
    as_json = export_json({"a": [span_json("x", trace_id=tid, attributes={"k": "v"})]})
    outcomes = {"ok": 0, "refused": 0}
    for body, ctype in ((proto, "application/x-protobuf"), (as_json, "application/json")):
        for _ in range(1500):
            mutated = bytearray(body)
            for _ in range(rng.randint(1, 4)):
                what = rng.random()
                i = rng.randrange(len(mutated))
                if what < 0.5:
                    mutated[i] = rng.randrange(256)
                elif what < 0.75:
                    del mutated[i : i + rng.randint(1, 8)]
                else:
                    mutated[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            try:
                decode(bytes(mutated), ctype, 1000)
                outcomes["ok"] += 1
            except PayloadError:
                outcomes["refused"] += 1
    assert outcomes["refused"] > 1000 and outcomes["ok"] > 0, outcomes


@pytest.mark.filterwarnings("ignore:`LoggingHandler`:DeprecationWarning")
async def test_otlp_log_records_join_the_service_log_with_their_trace_id(tmp_path: Path) -> None:
    import logging as pylogging

    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor

    path = tmp_path / "r.toml"
    path.write_text(
        '[environment]\nname = "x"\n[services.app]\ncommand = ["true"]\n[traces]\nport = "auto"\n'
    )
    engine = Engine(load_recipe(path))
    await engine.start(bring_up=False)
    try:
        assert engine.otlp is not None
        endpoint = engine.otlp.endpoint

        def send() -> str:
            logs = LoggerProvider(resource=Resource.create({"service.name": "app"}))
            logs.add_log_record_processor(
                SimpleLogRecordProcessor(OTLPLogExporter(endpoint=endpoint + "/v1/logs"))
            )
            stranger = LoggerProvider(resource=Resource.create({"service.name": "stranger"}))
            stranger.add_log_record_processor(
                SimpleLogRecordProcessor(OTLPLogExporter(endpoint=endpoint + "/v1/logs"))
            )
            logger = pylogging.getLogger("interop-logs")
            logger.propagate = False
            logger.setLevel(pylogging.INFO)
            tracer = TracerProvider().get_tracer("t")
            with tracer.start_as_current_span("checkout") as span:
                logger.addHandler(LoggingHandler(logger_provider=logs))
                logger.error("card declined \x1b[31mred\x1b[0m [bold]x[/]")
                logger.handlers.clear()
                logger.addHandler(LoggingHandler(logger_provider=stranger))
                logger.error("from a service the recipe does not have")
                logger.handlers.clear()
                trace_id = format(span.get_span_context().trace_id, "032x")
            logs.shutdown()
            stranger.shutdown()
            return trace_id

        trace_id = await asyncio.to_thread(send)
        lines = [ln for ln in engine.logs.since(0) if "card declined" in ln.text]
        assert len(lines) == 1
        line = lines[0]
        assert line.service == "app" and line.level == "error"
        assert line.text == f"ERROR card declined red [bold]x[/] trace_id={trace_id}"
        assert line.rid == trace_id  # so `v` on the line finds the trace
        assert not [ln for ln in engine.logs.since(0) if "does not have" in ln.text]
        # JSON too, and a broken one changes nothing
        body = {
            "resourceLogs": [
                {
                    "resource": {
                        "attributes": [{"key": "service.name", "value": {"stringValue": "app"}}]
                    },
                    "scopeLogs": [
                        {
                            "logRecords": [
                                {
                                    "timeUnixNano": str(time.time_ns()),
                                    "severityNumber": 13,
                                    "body": {"stringValue": "retrying bank call"},
                                }
                            ]
                        }
                    ],
                }
            ]
        }
        async with httpx.AsyncClient() as client:
            ok = await client.post(endpoint + "/v1/logs", json=body)
            bad = await client.post(
                endpoint + "/v1/logs",
                content=b'{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "x"}]}]}]}',
                headers={"Content-Type": "application/json"},
            )
        assert ok.status_code == 200 and bad.status_code == 400
        assert [ln.text for ln in engine.logs.since(0) if "bank" in ln.text] == [
            "WARN retrying bank call"
        ]
    finally:
        await engine.stop()


async def test_a_run_beside_a_cockpit_asks_the_cockpit_for_a_test_s_traces(tmp_path: Path) -> None:
    """``stagedeck run`` while a cockpit holds the port: its engine has no receiver of its own."""
    from stagedeck.traces.evidence import traces_of_test

    store = TraceStore()
    now = time.time()
    with receiver(store) as rx:
        failed = rx.call(
            lambda: checkout(store, base=now - 2, fail=True, rid="r-9", test="t.py::test_pay")
        )
        path = tmp_path / "r.toml"
        path.write_text(
            '[environment]\nname = "x"\n[services.a]\ncommand = ["true"]\n'
            f"[traces]\nport = {rx.receiver.port}\n"
        )
        engine = Engine(load_recipe(path))
        assert engine.otlp is None  # not started: the cockpit has the port
        found = await traces_of_test(engine, "t::test_pay", (now - 10, now))
    assert [t["trace_id"] for t in found] == [failed]
    assert found[0]["blame"]["error_service"] == "payments"
    # and with nothing listening there at all: no evidence, no error
    assert await traces_of_test(engine, "t::test_pay", (now - 10, now)) == []


def test_a_client_that_waits_for_100_continue_is_not_kept_waiting(tmp_path: Path) -> None:
    import shutil
    import subprocess

    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed")
    body = tmp_path / "body.json"
    body.write_bytes(export_json({"a": [span_json("x" * 2000, trace_id=secrets.token_hex(16))]}))
    with receiver() as rx:
        started = time.monotonic()
        run = subprocess.run(
            [
                curl,
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-H",
                "Expect: 100-continue",
                "-H",
                "Content-Type: application/json",
                "--data-binary",
                f"@{body}",
                rx.endpoint + "/v1/traces",
            ],
            capture_output=True,
            text=True,
            timeout=10,
        )
        took = time.monotonic() - started
    assert run.stdout == "200"
    assert took < 0.9  # curl gives up waiting for "100 Continue" after 1 s
