"""Every record an adapter publishes has its own PRODUCER span and carries its trace context."""

from __future__ import annotations

import random

import msgspec
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from samband.adapters import publish_records, read_jsonl
from samband.adapters.agencies import polisen
from samband.observability import ProducerSpans
from samband.schemas import ENVELOPE

from .._support import ingest_last_seq, ingest_since


def _parsed(traceparent: str) -> tuple[int, int, int]:
    version, trace_id, span_id, flags = traceparent.split("-")
    assert version == "00" and len(trace_id) == 32 and len(span_id) == 16
    return int(trace_id, 16), int(span_id, 16), int(flags, 16)


async def test_every_published_record_has_its_own_producer_span_whose_context_travels_in_headers_and_envelope(
    bus, spans, tmp_path
):
    records = polisen.sample(random.Random(8811), 5, operation="adapter-tests")
    export = tmp_path / "polisen.jsonl"
    export.write_bytes(b"".join(msgspec.json.encode(r) + b"\n" for r in records))
    before = await ingest_last_seq(bus, "polisen")
    nc = await bus.connect("polisen")
    try:
        assert (await publish_records(nc, polisen, read_jsonl(export))).published == 5
    finally:
        await nc.close()
    msgs = await ingest_since(bus, "polisen", before, 5)

    ids = [f"polisen:{polisen.key(r)}" for r in records]
    sent = {
        s.attributes["messaging.message.id"]: s
        for s in spans.get_finished_spans()
        if s.name == "send out.police.vehicle_control" and s.attributes.get("messaging.message.id") in ids
    }
    assert sorted(sent) == sorted(ids), "one PRODUCER span per record"
    for msg in msgs:
        span = sent[msg.headers["Nats-Msg-Id"]]
        trace_id, span_id, flags = _parsed(msg.headers["traceparent"])
        assert (trace_id, span_id) == (span.context.trace_id, span.context.span_id)
        assert flags & 1 and span.context.trace_flags.sampled
        assert ENVELOPE.decode(msg.data).traceparent == msg.headers["traceparent"]
        assert span.kind is SpanKind.PRODUCER and span.parent is None
        assert dict(span.attributes) == {
            "messaging.system": "nats",
            "messaging.operation.name": "send",
            "messaging.operation.type": "send",
            "messaging.destination.name": "out.police.vehicle_control",
            "messaging.message.id": msg.headers["Nats-Msg-Id"],
            "samband.agency": "polisen",
            "messaging.nats.stream.sequence": msg.seq,
        }
        assert span.instrumentation_scope.name == "samband"
        assert span.resource.attributes["service.name"] == "samband-tests"
        assert 0 < span.start_time <= span.end_time
    assert len({s.context.trace_id for s in sent.values()}) == 5, "each record starts its own trace"


def _provider(sampler) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_a_message_span_is_what_the_sdk_and_its_propagator_would_make():
    provider, exporter = _provider(ALWAYS_ON)
    spans = ProducerSpans({"samband.agency": "polisen"}, provider=provider)
    span = spans.start("out.police.vehicle_control", "polisen:PM-1")
    spans.end(span, {"messaging.nats.stream.sequence": 7})
    [done] = exporter.get_finished_spans()
    headers = span.headers({})
    # the propagator reads our header back into the very span context
    ctx = trace.get_current_span(TraceContextTextMapPropagator().extract(headers)).get_span_context()
    assert (ctx.trace_id, ctx.span_id, ctx.trace_flags) == (
        done.context.trace_id,
        done.context.span_id,
        done.context.trace_flags,
    )
    assert done.name == "send out.police.vehicle_control" and done.status.status_code is StatusCode.UNSET
    assert done.attributes["messaging.nats.stream.sequence"] == 7


def test_a_message_span_made_inside_a_span_is_its_child():
    provider, exporter = _provider(ALWAYS_ON)
    with provider.get_tracer("test").start_as_current_span("load export") as outer:
        spans = ProducerSpans(provider=provider)
    span = spans.start("out.x", "a:1")
    spans.end(span)
    done = next(s for s in exporter.get_finished_spans() if s.name == "send out.x")
    assert done.parent.span_id == outer.get_span_context().span_id
    assert done.context.trace_id == outer.get_span_context().trace_id


def test_an_unsampled_record_still_carries_its_trace_context_and_exports_no_span():
    provider, exporter = _provider(ALWAYS_OFF)
    spans = ProducerSpans(provider=provider)
    span = spans.start("out.x", "a:1")
    spans.end(span)
    assert exporter.get_finished_spans() == ()
    trace_id, span_id, flags = _parsed(span.traceparent)
    assert trace_id and span_id and not flags & 1  # downstream, parent-based samplers drop the rest of the trace too


def test_a_publish_that_fails_ends_its_span_with_an_error_status():
    provider, exporter = _provider(ALWAYS_ON)
    spans = ProducerSpans(provider=provider)
    spans.end(spans.start("out.x", "a:1"), error=TimeoutError("no ack"))
    [done] = exporter.get_finished_spans()
    assert done.status.status_code is StatusCode.ERROR and done.status.description == "TimeoutError"


def test_without_a_tracer_provider_a_message_carries_no_trace_context():
    spans = ProducerSpans(provider=trace.NoOpTracerProvider())
    span = spans.start("out.x", "a:1")
    spans.end(span)
    assert span.traceparent is None and span.headers({"Nats-Msg-Id": "a:1"}) == {"Nats-Msg-Id": "a:1"}


def test_a_ratio_sampled_message_span_gets_the_decision_the_sdk_sampler_gives_its_trace_id():
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider, exporter = _provider(ParentBased(TraceIdRatioBased(0.5)))
    spans = ProducerSpans(provider=provider)
    made = [spans.start("out.x", f"a:{i}") for i in range(200)]
    for span in made:
        spans.end(span)
    sampled = {_parsed(s.traceparent)[0] for s in made if _parsed(s.traceparent)[2] & 1}
    expected = {
        _parsed(s.traceparent)[0]
        for s in made
        if TraceIdRatioBased(0.5).should_sample(None, _parsed(s.traceparent)[0], "send out.x").decision.is_sampled()
    }
    assert sampled == expected and 0 < len(sampled) < 200
    assert {s.context.trace_id for s in exporter.get_finished_spans()} == sampled


async def test_every_record_the_demo_publishes_is_traced_from_its_producer(spans):
    from samband._demo import run_demo

    result = await run_demo(20)
    assert result.overload_reports > 0 and result.published > 0
    finished = spans.get_finished_spans()
    producers = {s.context.span_id: s for s in finished if s.kind is SpanKind.PRODUCER}
    consumed = [s for s in finished if s.kind is SpanKind.CONSUMER and s.name.startswith("process ingest.polisen.")]
    kinds = {s.name for s in consumed}
    assert {"process ingest.polisen.police.vehicle_control", "process ingest.polisen.police.overload_report"} <= kinds
    assert len(consumed) >= result.published + result.overload_reports
    for span in consumed:  # the router's span continues the trace its producer started
        assert span.parent is not None and span.parent.span_id in producers, span.name
        assert producers[span.parent.span_id].name == "send out." + span.name.removeprefix("process ingest.polisen.")
    sso = [s for s in producers.values() if s.name.startswith("send decisions.cooption.")]
    assert len(sso) == 1
