"""Library internals: proven against the installed versions in the two shim modules, and used nowhere else.

samband reads a few private names of nats-py (`observability/bus/_shim.py`) and of the OpenTelemetry
SDK (`observability/_otel_shim.py`) for speed. Each name a shim reads is probed here against the
installed library (a real connection to the session's nats-server for nats-py), and the probes fail
with the library, its version and the name, so an upgrade that changes one is caught here, not by a
silent fallback in production. Then every source and test module is scanned for a library's name
starting with `_` outside the two shims: there must be none.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.metadata
import inspect

import nats
import nkeys
import pytest
from nats.aio.msg import Msg
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, TraceIdRatioBased
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanKind

from samband.broker_config import ROUTER
from samband.observability import Spans
from samband.observability import _otel_shim as otel_shim
from samband.observability.bus import AckPipeline
from samband.observability.bus import _framing as framing
from samband.observability.bus import _shim as nats_shim

from .._internals import ROOT, library_internals, scan_sources, shim_reads
from .._support import fresh_subject, scratch_stream

NATS_SHIM, OTEL_SHIM = "observability/bus/_shim.py", "observability/_otel_shim.py"
PROBES = "tests/observability/test_shims.py"  # this module: it probes what the shims read
NATS_PY = f"nats-py {importlib.metadata.version('nats-py')}"
OTEL_SDK = f"opentelemetry-sdk {importlib.metadata.version('opentelemetry-sdk')}"


def _changed(library: str, owner: str, name: str, shim: str, what: str) -> str:
    return (
        f"{library}: `{owner}.{name}` {what}; {shim} reads it. The installed version changed shape: "
        f"adapt the shim (or drop its fast path), measure again and move the pin in pyproject.toml"
    )


# ---- nats-py ----------------------------------------------------------------------------------
def _nats_probes(nc: nats.NATS, seed: bytes, sub: object) -> dict[str, str | None]:
    """Each name `_shim` reads of a client connected with the nkey ``seed`` -> what is wrong with it
    (None: as the shim expects)."""
    cls = type(nc)
    out: dict[str, str | None] = {}

    def coroutine(name: str, *args: object) -> str | None:
        fn = getattr(cls, name, None)
        if not inspect.iscoroutinefunction(fn):
            return "is gone or no longer a coroutine function"
        try:
            inspect.signature(fn).bind(nc, *args)
        except TypeError as exc:
            return f"no longer takes {len(args)} argument(s): {exc}"
        return None

    out["_send_command"] = coroutine("_send_command", b"PING\r\n")
    # the parser's hand-over of one message: (sid, subject, reply, payload, header block)
    out["_process_msg"] = coroutine("_process_msg", 1, b"s", b"", b"", None)
    try:  # the router's pulled records are nats-py's own `Msg`s, built as its parser would
        built = nc._build_message(7, b"ingest.a.b", b"$JS.ACK.x", b"data", {"k": "v"})
        out["_build_message"] = (
            None
            if isinstance(built, Msg)
            and (built.subject, built.reply, built.data, built.headers)
            == ("ingest.a.b", "$JS.ACK.x", b"data", {"k": "v"})
            else f"builds {built!r}, not a Msg of the parser's parts"
        )
    except Exception as exc:
        out["_build_message"] = f"does not build a Msg of (sid, subject, reply, data, headers): {exc!r}"
    sid = getattr(sub, "_id", None)
    out["_id"] = (
        None
        if isinstance(sid, int) and getattr(nc, "_subs", {}).get(sid) is sub
        else f"is {sid!r}, not the subscription's id in the client's table"
    )
    out["_flush_pending"] = coroutine("_flush_pending")
    queue = getattr(nc, "_flush_queue", "missing")
    out["_flush_queue"] = None if isinstance(queue, asyncio.Queue) else f"is {queue!r}, not an asyncio.Queue"
    out["empty"] = None if callable(getattr(queue, "empty", None)) else "is not callable on the flush queue"
    stats = getattr(nc, "stats", None)
    out["stats"] = (
        None
        if isinstance(stats, dict)
        and all(isinstance(stats.get(k), int) for k in ("out_msgs", "out_bytes", "in_msgs", "in_bytes"))
        else f"is {stats!r}, not a dict with int out_msgs, out_bytes, in_msgs and in_bytes"
    )
    key = nkeys.from_seed(bytearray(seed))
    public = getattr(nc, "_public_nkey", None)
    out["_public_nkey"] = None if public == key.public_key.decode() else f"is {public!r}, not the seed's public key"
    sign = getattr(nc, "_signature_cb", None)
    try:  # the audit reader's second connection presents this signature of the server's nonce
        key.verify(b"a-nonce", base64.b64decode(sign("a-nonce")))  # type: ignore[misc]
        out["_signature_cb"] = None
    except Exception as exc:
        out["_signature_cb"] = f"does not give the seed's base64 signature of a nonce ({exc!r})"
    return out


async def test_every_name_the_nats_py_shim_reads_is_there_in_the_installed_nats_py(bus):
    nc = await bus.connect(ROUTER)
    try:
        sub = await nc.subscribe(fresh_subject("probe"))
        probes = _nats_probes(nc, bus.creds.seed_path(ROUTER).read_bytes().strip(), sub)
    finally:
        await nc.close()
    assert set(probes) == shim_reads(ROOT / NATS_SHIM), "a name the shim reads has no probe here (or one is stale)"
    wrong = [_changed(NATS_PY, "NATS", name, NATS_SHIM, what) for name, what in sorted(probes.items()) if what]
    assert not wrong, "\n".join(wrong)


async def test_the_publish_pipeline_writes_through_the_shim_and_the_broker_stores_every_message(bus, monkeypatch):
    nc, _ = await scratch_stream(bus, "SHIMS", "shims")
    writes: list[int] = []
    write = nats_shim.write

    async def counted(nc_: object, data: bytes, msgs: int, size: int) -> None:
        writes.append(msgs)
        await write(nc_, data, msgs, size)

    monkeypatch.setattr(nats_shim, "write", counted)
    try:
        pipeline = AckPipeline(nc)
        assert nats_shim.can_write(nc), f"{NATS_PY}: the shim's fast path is off for a plain nkey connection"
        before = dict(nc.stats)
        subject = fresh_subject("shims")
        acks = await pipeline.publish([(f"{subject}.{i}", b"x" * i, {"k": "v"}) for i in range(50)], timeout=10)
        assert [type(a).__name__ for a in acks] == ["PubAck"] * 50, acks
        assert [a.seq for a in acks] == list(range(acks[0].seq, acks[0].seq + 50))
        assert sum(writes) == 50, "the batch did not go through `_shim.write`"
        assert (nc.stats["out_msgs"] - before["out_msgs"], nc.stats["out_bytes"] - before["out_bytes"]) == (
            50,
            sum(range(50)),
        )
        await pipeline.close()
    finally:
        await nc.close()


async def test_the_publish_pipeline_takes_its_answers_from_the_parser_and_the_same_without_the_shim(bus):
    nc, _ = await scratch_stream(bus, "SHIMR", "shimr")
    try:
        subject = fresh_subject("shimr")
        for shim in (True, False):
            pipeline = AckPipeline(nc, routed=shim)
            await pipeline.start()
            routed: list[bytes] = []
            if shim:
                assert nats_shim.can_route(nc), f"{NATS_PY}: the shim's routing is off for a plain nkey connection"
                handler = pipeline._on_raw

                def counted(
                    subject_: bytes, reply: bytes, data: bytes, headers: bytes | None, seen=routed, on=handler
                ) -> None:
                    seen.append(subject_)
                    on(subject_, reply, data, headers)

                nats_shim.route(nc, pipeline._sub, counted)
            before = nc.stats["in_msgs"]
            acks = await pipeline.publish([(f"{subject}.{i}", b"x", None) for i in range(20)], timeout=10)
            assert [type(a).__name__ for a in acks] == ["PubAck"] * 20, acks
            assert [a.seq for a in acks] == list(range(acks[0].seq, acks[0].seq + 20))
            assert len(routed) == (20 if shim else 0), "the answers did not come through `_shim.route`"
            assert nc.stats["in_msgs"] - before == 20  # counted as nats-py counts them either way
            # a publish the stream cannot take: the server's no-responders status, either way
            [missing] = await pipeline.publish([(fresh_subject("nostream"), b"x", None)], timeout=10)
            assert type(missing).__name__ == "NoStream", missing
            await pipeline.close()
        # unrouted: the subscription's own path has the client's messages again
        sub = await nc.subscribe(fresh_subject("after"))
        await nc.publish(sub.subject, b"back")
        assert (await sub.next_msg(timeout=5)).data == b"back"
    finally:
        await nc.close()


HEADER_BLOCKS = [
    b"NATS/1.0\r\nNats-Msg-Id: polisen:1\r\ntraceparent: 00-" + b"a" * 32 + b"-" + b"b" * 16 + b"-01\r\n\r\n",
    b"NATS/1.0 404 No Messages\r\n\r\n",
    b"NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 1\r\nNats-Pending-Bytes: 0\r\n\r\n",
    b"NATS/1.0 409 Message Size Exceeds MaxBytes\r\n\r\n",
    b"NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 3\r\nNats-Last-Stream: 9\r\n\r\n",
    b"NATS/1.0 503\r\n\r\n",
    b"NATS/1.0\r\n\r\n",
    # what a hostile sender may put in its own headers: no colon, whitespace or non-ASCII in a name,
    # bad UTF-8 in a value, a colon in a value, no space after the colon, a repeated name
    b"NATS/1.0\r\nno colon here\r\nbad name: x\r\nn\xc3\xa4me: y\r\nk: \xff\xfe\r\nu: a:b:c\r\nt:tight\r\nk: 2\r\n\r\n",
    b"NATS/1.0\r\n\x1cfs: x\r\n\tTab: y\r\nSp : z\r\n: empty name\r\n\r\n",
    b"NATS/1.0 4x4 Odd\r\nA: 1\r\n\r\n",
]


@pytest.mark.parametrize("block", HEADER_BLOCKS, ids=range(len(HEADER_BLOCKS)))
async def test_headers_read_from_the_parser_are_what_nats_py_reads(bus, block):
    nc = await bus.connect(ROUTER)
    try:
        assert framing.parse_headers(block) == await nc._process_headers(block), (
            f"{NATS_PY}: `NATS._process_headers` reads {block!r} differently from `_framing.parse_headers`, which "
            "the shim's `route_msgs` uses in its place: align it"
        )
    finally:
        await nc.close()


async def test_a_pulled_record_comes_from_the_parser_as_a_msg_that_can_be_acked(bus):
    from samband.observability.bus import Puller

    nc, js = await scratch_stream(bus, "SHIMP", "shimp")
    stream, subject = "SHIMP", fresh_subject("shimp")
    durable = subject.replace(".", "-")
    try:
        await js.add_consumer(stream, durable_name=durable, ack_policy="explicit", filter_subject=subject)
        await js.publish(subject, b"one", headers={"Nats-Msg-Id": durable, "traceparent": "x"})
        puller = Puller(nc, stream, durable, batch=10)
        await puller.start()
        [msg] = await puller.next_batch()
        assert isinstance(msg, Msg) and (msg.subject, msg.data) == (subject, b"one")
        assert msg.headers == {"Nats-Msg-Id": durable, "traceparent": "x"}
        await msg.ack_sync(timeout=5)  # a real Msg of this client: its ack reaches the consumer
        info = await js.consumer_info(stream, durable)
        assert info.ack_floor.stream_seq >= 1 and info.num_ack_pending == 0
        await puller.close()
    finally:
        await nc.close()


async def test_headers_the_caller_framed_are_stored_the_same_with_and_without_the_framed_write(bus):
    nc, js = await scratch_stream(bus, "SHIMH", "shimh")
    try:
        subject = fresh_subject("shimh")
        for framed in (True, False):
            headers = {"Nats-Msg-Id": f"{subject}-{framed}", "Samband-Origin": "polisen"}
            pipeline = AckPipeline(nc, framed=framed)
            [ack] = await pipeline.publish([(f"{subject}.{framed}", b"x", framing.header_block(headers))], timeout=10)
            assert not ack.duplicate  # type: ignore[union-attr]
            stored = await js.get_msg("SHIMH", ack.seq)  # type: ignore[union-attr]
            assert stored.headers == headers, (framed, stored.headers)
            await pipeline.close()
    finally:
        await nc.close()


# ---- the OpenTelemetry SDK --------------------------------------------------------------------
def _otel_probes(ratio: float = 0.25) -> dict[str, str | None]:
    """Each name `_otel_shim` reads of an SDK provider, tracer and samband's sampler -> what is wrong."""
    root_sampler = TraceIdRatioBased(ratio)
    provider = TracerProvider(resource=Resource.create({"service.name": "probe"}), sampler=ParentBased(root_sampler))
    out: dict[str, str | None] = {}
    getter = getattr(provider, "get_tracer", None)
    out["get_tracer"] = None if callable(getter) else "is not callable"
    tracer = provider.get_tracer("samband")
    ids = getattr(tracer, "id_generator", None)
    out["id_generator"] = None if ids is not None else "is gone"
    for name in ("generate_trace_id", "generate_span_id"):
        value = getattr(ids, name, lambda: None)()
        out[name] = None if isinstance(value, int) and value > 0 else f"gives {value!r}, not a positive int"
    random_ids = getattr(ids, "is_trace_id_random", lambda: None)()
    out["is_trace_id_random"] = None if isinstance(random_ids, bool) else f"gives {random_ids!r}, not a bool"
    out["sampler"] = None if getattr(tracer, "sampler", None) is provider.sampler else "is not the provider's sampler"
    processor = getattr(tracer, "span_processor", None)
    out["span_processor"] = None if callable(getattr(processor, "on_end", None)) else "has no on_end"
    out["resource"] = None if getattr(tracer, "resource", None) is provider.resource else "is not the provider's"
    scope = getattr(tracer, "_instrumentation_scope", None)
    out["_instrumentation_scope"] = (
        None
        if isinstance(scope, InstrumentationScope) and scope.name == "samband"
        else f"is {scope!r}, not the tracer's InstrumentationScope"
    )
    enabled = getattr(tracer, "_is_enabled", None)
    out["_is_enabled"] = (
        None if callable(enabled) and enabled() is True else f"is {enabled!r}, not a method giving True"
    )
    sampler = provider.sampler
    out["_root"] = None if getattr(sampler, "_root", None) is root_sampler else "is not the root sampler passed in"
    limit, bound = getattr(root_sampler, "TRACE_ID_LIMIT", None), getattr(root_sampler, "bound", None)
    out["TRACE_ID_LIMIT"] = None if limit == (1 << 64) - 1 else f"is {limit!r}, not 2**64 - 1"
    if isinstance(limit, int) and isinstance(bound, int):
        # the shim decides a root span as `trace_id & limit < bound`: it must be the sampler's own decision
        differ = [
            tid
            for tid in (ids.generate_trace_id() for _ in range(2000))  # type: ignore[union-attr]
            if root_sampler.should_sample(None, tid, "x").decision.is_sampled() != (tid & limit < bound)
        ]
        out["bound"] = None if not differ else f"no longer decides as `trace_id & TRACE_ID_LIMIT < bound` ({differ[0]})"
    else:
        out["bound"] = f"is {bound!r}, not an int"
    for name, default in (
        ("_remote_parent_sampled", ALWAYS_ON),
        ("_local_parent_sampled", ALWAYS_ON),
        ("_remote_parent_not_sampled", ALWAYS_OFF),
        ("_local_parent_not_sampled", ALWAYS_OFF),
    ):
        out[name] = None if getattr(sampler, name, None) is default else f"is not the default {default}"
    return out


def test_every_name_the_otel_shim_reads_is_there_in_the_installed_sdk():
    probes = _otel_probes()
    assert set(probes) == shim_reads(ROOT / OTEL_SHIM), "a name the shim reads has no probe here (or one is stale)"
    wrong = [_changed(OTEL_SDK, "Tracer/ParentBased", n, OTEL_SHIM, what) for n, what in sorted(probes.items()) if what]
    assert not wrong, "\n".join(wrong)


def test_spans_take_the_fast_path_with_samband_s_sampler_and_reach_the_span_processor():
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(1.0)))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    spans = Spans(provider)
    assert spans.fast, f"{OTEL_SDK}: `_otel_shim.fast_tracer` refused the SDK's own tracer"
    assert otel_shim.root_ratio(provider.sampler) is not None and otel_shim.follows_parent(provider.sampler)
    parent = spans.start("process ingest.polisen", SpanKind.CONSUMER, None, {"a": 1})
    child = spans.start("decide", SpanKind.INTERNAL, parent.context, {})
    spans.end(child)
    spans.end(parent, {"b": 2})
    assert spans.fast, "a span failed on the fast path and `Spans` fell back to the SDK"
    assert parent.sdk_span is None and child.sdk_span is None  # made by the fast path, not `start_span`
    done: list[ReadableSpan] = list(exporter.get_finished_spans())
    assert [(s.name, s.parent.span_id if s.parent else None) for s in done] == [
        ("decide", parent.span_id),
        ("process ingest.polisen", None),
    ]
    assert dict(done[1].attributes or {}) == {"a": 1, "b": 2}
    assert done[1].instrumentation_scope is not None and done[1].instrumentation_scope.name == "samband"


# ---- no library internals outside the shims ---------------------------------------------------
def test_no_module_outside_the_two_shims_uses_a_library_s_name_starting_with_an_underscore():
    sources = scan_sources()
    uses = library_internals(sources, exempt={NATS_SHIM, OTEL_SHIM, PROBES})
    assert not uses, "library internals outside the shims:\n" + "\n".join(map(str, uses))


def test_the_scan_finds_the_shims_own_internals_when_they_are_not_exempt():
    uses = library_internals(scan_sources(), exempt=set())
    assert {u.path for u in uses} == {NATS_SHIM, OTEL_SHIM, PROBES}
    found = {u.name for u in uses}
    assert {"_send_command", "_flush_pending", "_signature_cb", "_instrumentation_scope", "_root"} <= found


PLANTED = """\
import logging
import sys
import nats
from nats.aio import _client
from opentelemetry.sdk.trace import _Span
from samband.observability.bus import _shim
from samband.observability.bus._reader import _nats_pull
from samband.router import Policy


class _Mine:
    __slots__ = ("_own",)

    def __init__(self) -> None:
        self._own = 1

    def read(self, other: _Mine) -> int:
        return self._own + other._own + self._pending_data_size


async def planted(nc: nats.NATS, sampler, policy: Policy, mine, monkeypatch) -> None:
    await nc._send_command(b"PING\\r\\n")
    getattr(sampler, "_root", None)
    setattr(nc, "_signature_cb", None)
    monkeypatch.setattr("nats.aio.client._CRLF_", b"")
    mine._own
    _shim.write(nc, b"", 0, 0)
    policy._ops.get("x")
    sys._getframe(0)
    await _nats_pull(nc, "x", "S", 1, 1, with_subjects=False, strict=True)
    handler = logging.StreamHandler()
    handler._planted_marker = True
    getattr(handler, "_planted_marker", False)
    handler._name
"""


def test_the_scan_flags_a_planted_use_of_library_internals_and_not_our_own_private_names():
    sources = {**scan_sources(), "samband/_planted.py": PLANTED}
    uses = [u for u in library_internals(sources, exempt=set()) if u.path == "samband/_planted.py"]
    assert [(u.line, u.name) for u in uses] == [
        (4, "_client"),  # an underscore module of nats-py
        (5, "_Span"),  # a library's private name imported
        (18, "_pending_data_size"),  # on `self`, but no class of ours defines it: a base class's internal
        (22, "_send_command"),  # on a receiver typed with a library's class
        (23, "_root"),  # a name both samband (schemas/_compat.py) and the OTel SDK define: cannot tell whose
        (24, "_signature_cb"),
        (25, "_CRLF_"),
        (34, "_name"),  # logging.Handler's own; `_planted_marker` (set by us, defined by no library) is ours
    ], [str(u) for u in uses]


@pytest.mark.parametrize("path", [NATS_SHIM, OTEL_SHIM])
def test_each_shim_says_what_it_gains_and_is_pinned_below_the_next_minor(path):
    text = (ROOT / path).read_text()
    assert "Measured" in text or "measured" in text, f"{path} does not say what its internals gain"
    pins = (ROOT / "pyproject.toml").read_text()
    lib = "nats-py" if path == NATS_SHIM else "opentelemetry-sdk"
    line = next(ln for ln in pins.splitlines() if ln.strip().startswith(f'"{lib}>='))
    assert ",<" in line and path.rsplit("/", 1)[1] in line, f"{lib} has no upper bound naming {path}: {line}"
    installed = importlib.metadata.version(lib).split(".")
    upper = line.split(",<", 1)[1].split('"', 1)[0].split(".")
    assert (int(installed[0]), int(installed[1])) < (int(upper[0]), int(upper[1])), line
