"""A delivery's headers, framed by the router itself, are byte for byte what the publish pipeline frames
from the same headers, and a sender's tracestate still goes through the pipeline's checks."""

from __future__ import annotations

from opentelemetry.trace import SpanContext, TraceFlags, TraceState

from samband.observability import MessageSpan
from samband.observability.bus._framing import header_block
from samband.router._delivery import _headers
from samband.router._plan import Delivery

DELIVERY = Delivery(
    "inbox.skatteverket.police.vehicle_control",
    b"{}",
    "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b:skatteverket",
    "polisen",
    "skatteverket",
)


def test_a_traced_delivery_s_headers_are_framed_as_the_pipeline_frames_them():
    span = MessageSpan()
    span.trace_id, span.span_id, span.flags = 0xABC, 0xDEF, 1
    framed = _headers(DELIVERY, span)
    assert isinstance(framed, bytes)
    assert framed == header_block(
        {
            "Nats-Msg-Id": DELIVERY.msg_id,
            "Samband-Origin": "polisen",
            "traceparent": f"00-{0xABC:032x}-{0xDEF:016x}-01",
        }
    )


def test_an_untraced_delivery_carries_its_id_and_origin_alone():
    assert _headers(DELIVERY, MessageSpan()) == header_block(
        {"Nats-Msg-Id": DELIVERY.msg_id, "Samband-Origin": "polisen"}
    )


def test_a_sender_s_tracestate_leaves_the_framing_and_its_checks_to_the_pipeline():
    span = MessageSpan()
    span.trace_id, span.span_id, span.flags = 0xABC, 0xDEF, 1
    span.trace_state = SpanContext(0xABC, 0x1, True, TraceFlags(1), TraceState([("vendor", "x")])).trace_state
    headers = _headers(DELIVERY, span)
    assert isinstance(headers, dict) and headers["tracestate"] == "vendor=x"
