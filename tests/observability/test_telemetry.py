"""One trace per record across agencies; logs that carry trace ids and never a personnummer."""

from __future__ import annotations

import io
import random
from typing import Any

import msgspec
from opentelemetry.trace import SpanKind

from samband._platform import Platform
from samband.adapters import publish_records, read_jsonl
from samband.adapters.agencies import polisen
from samband.observability import configure_logging, get_logger, get_tracer
from samband.schemas import synthetic_personnummer
from samband.testing import skeleton_policy

from .._support import wait_for


async def test_one_trace_runs_from_the_senders_publish_to_the_recipients_sink_write(bus, spans, tmp_path):
    export = tmp_path / "polisen.jsonl"
    export.write_bytes(msgspec.json.encode(polisen.sample(random.Random(8801), 1, operation="bacchus-2017")[0]) + b"\n")
    platform = Platform(bus, skeleton_policy(), tmp_path / "received")
    await platform.start_router()
    await platform.start_sink("skatteverket")
    nc = await bus.connect("polisen")
    try:
        assert (await publish_records(nc, polisen, read_jsonl(export))).published == 1
        publish = next(s for s in spans.get_finished_spans() if s.name == "send out.police.vehicle_control")
        trace_id = publish.context.trace_id
        # wait for this record's own copy (the shared INGEST may hold earlier tests' records too)
        await wait_for(
            lambda: any(
                s.name == "process in.police.vehicle_control" and s.context.trace_id == trace_id
                for s in spans.get_finished_spans()
            )
        )
    finally:
        await nc.close()
        await platform.stop()

    in_trace = {s.name: s for s in spans.get_finished_spans() if s.context.trace_id == trace_id}
    process = in_trace["process ingest.polisen.police.vehicle_control"]
    decide = in_trace["decide"]
    assert "send audit.log" not in in_trace  # the append is the batch's: a span of its own, linked to the record
    append = _linked_append(spans, decide)
    deliver = in_trace["send inbox.skatteverket.police.vehicle_control"]
    receive = in_trace["process in.police.vehicle_control"]

    def parent(span):
        return span.parent.span_id if span.parent else None

    assert publish.kind is SpanKind.PRODUCER and parent(publish) is None
    assert process.kind is SpanKind.CONSUMER and parent(process) == publish.context.span_id
    assert parent(decide) == process.context.span_id
    # one PRODUCER span per append (OTel messaging conventions for a batch), linked to each record's decide span
    assert append.kind is SpanKind.PRODUCER and parent(append) is None
    assert deliver.kind is SpanKind.PRODUCER and parent(deliver) == decide.context.span_id
    assert receive.kind is SpanKind.CONSUMER and parent(receive) == deliver.context.span_id
    for span in (publish, process, append, deliver, receive):
        assert span.attributes["messaging.system"] == "nats"
        assert span.attributes["messaging.destination.name"] == span.name.split(" ", 1)[1]
        # the conventions' operation type: what the span's name begins with (send, process)
        assert span.attributes["messaging.operation.type"] == span.name.split(" ", 1)[0]
    assert deliver.attributes["messaging.message.id"].endswith(":skatteverket")
    assert append.attributes["samband.audit.entries"] >= 1 and append.attributes["messaging.batch.message_count"] >= 1
    assert append.attributes["messaging.nats.stream.sequence"] >= 1
    # the audit append is acknowledged before the delivery starts
    assert append.end_time <= deliver.start_time


def _linked_append(spans, to) -> Any:
    """The audit append span linked to the span ``to`` (exactly one)."""
    ctx = to.context
    linked = [
        s
        for s in spans.get_finished_spans()
        if s.name == "send audit.log"
        and any(k.context.trace_id == ctx.trace_id and k.context.span_id == ctx.span_id for k in s.links)
    ]
    assert len(linked) == 1, linked
    return linked[0]


def _log_lines(buf: io.StringIO) -> list[dict]:
    return [msgspec.json.decode(line) for line in buf.getvalue().splitlines()]


def test_logs_are_json_lines_with_the_trace_and_span_ids_when_not_on_a_terminal(spans):
    buf = io.StringIO()
    configure_logging(level="info", stream=buf)  # a StringIO is not a terminal: JSON
    try:
        with get_tracer().start_as_current_span("work") as span:
            get_logger("samband.test").info("routed", recipient="skatteverket")
            get_logger("samband.test").warning("slow ack", seconds=2.5)
        ctx = span.get_span_context()
        lines = _log_lines(buf)
    finally:
        configure_logging(level="warning", json=True)
    assert [(line["event"], line["trace_id"], line["span_id"]) for line in lines] == [
        ("routed", format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")),
        ("slow ack", format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")),
    ]
    assert lines[0]["level"] == "info" and lines[0]["recipient"] == "skatteverket"


def test_a_personnummer_that_slips_into_a_log_line_is_masked_as_a_last_line_of_defence():
    rng = random.Random(4)
    pnr = synthetic_personnummer(rng)
    samordning = synthetic_personnummer(rng, samordning=True)
    short = f"{pnr[2:8]}-{pnr[8:]}"
    buf = io.StringIO()
    configure_logging(level="info", json=True, stream=buf)
    try:
        log = get_logger("samband.test")
        log.info(f"looked up {pnr}", nested={"ids": [short, samordning]}, note=(f"x{samordning}",))
        try:
            raise ValueError(f"no such person {short}")
        except ValueError:
            log.exception("lookup failed")
    finally:
        configure_logging(level="warning", json=True)
    text = buf.getvalue()
    for clear in (pnr, samordning, short, pnr[2:]):
        assert clear not in text
    first, second = _log_lines(buf)
    assert first["event"] == f"looked up {pnr[:6]}**-****"
    assert first["nested"] == {"ids": [f"{pnr[2:6]}**-****", f"{samordning[:6]}**-****"]}
    assert f"no such person {pnr[2:6]}**-****" in second["exception"]


def test_trace_and_span_ids_with_ten_digits_in_a_row_are_not_mistaken_for_a_personnummer():
    from samband.observability import scrub_identifiers

    ids = {"trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "e5194644918e2925"}
    event = scrub_identifiers(None, "info", {"event": "routed", **ids, "note": "e5194644918e2925"})
    assert {k: event[k] for k in ids} == ids
    assert event["note"] == "e" + "5194644918"[:4] + "**-****" + "e2925"  # elsewhere the scrubber stays strict


async def test_a_refused_record_s_audit_append_joins_the_senders_trace(bus, spans, tmp_path):
    from samband.observability import inject_headers, producer_span

    platform = Platform(bus, skeleton_policy(), tmp_path / "received")
    await platform.start_router()
    nc = await bus.connect("polisen")
    try:
        with producer_span("out.police.vehicle_control", message_id="broken-8802") as sent:
            headers = inject_headers({"Nats-Msg-Id": f"polisen:broken-{random.getrandbits(64):x}"})
            await nc.jetstream().publish("out.police.vehicle_control", b'{"not": "an envelope"}', headers=headers)
        router = platform.router
        await wait_for(lambda: router.stats.refused >= 1)
    finally:
        await nc.close()
        await platform.stop()
    trace_id = sent.get_span_context().trace_id
    in_trace = {s.name: s for s in spans.get_finished_spans() if s.context.trace_id == trace_id}
    process = in_trace["process ingest.polisen.police.vehicle_control"]
    assert process.attributes["samband.refused"] == "deny.invalid-envelope"
    # no delivery to carry the context: the batch's audit append is linked to the process span itself
    append = _linked_append(spans, process)
    assert append.kind is SpanKind.PRODUCER and append.attributes["samband.audit.entries"] >= 1
