"""The standard OpenTelemetry environment variables, as the OTel spec says they work, against a
collector that is a real HTTP server (OTLP/HTTP protobuf, as the installed exporter sends it).

Each case is its own process: a tracer provider is installed once per process.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

# what a samband process does: configure tracing as an entry point does, make one span, end
_PROGRAM = """
from samband.observability import configure_tracing, get_tracer
provider = configure_tracing("samband-router")
with get_tracer().start_as_current_span("send out.police.vehicle_control"):
    pass
provider.force_flush()
"""


class _Collector(http.server.ThreadingHTTPServer):
    def __init__(self) -> None:
        self.received: list[tuple[str, ExportTraceServiceRequest]] = []
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                collector.received.append((self.path, request))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def spans(self) -> list[tuple[str, str, str]]:
        """(path, service.name, span name) of every span received."""
        out = []
        for path, request in self.received:
            for rs in request.resource_spans:
                service = next(a.value.string_value for a in rs.resource.attributes if a.key == "service.name")
                out.extend((path, service, span.name) for ss in rs.scope_spans for span in ss.spans)
        return out


@pytest.fixture
def collector():
    server = _Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _run(env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "SAMBAND_TRACE"))}
    proc = subprocess.run([sys.executable, "-c", _PROGRAM], env=clean | env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc


SPAN = "send out.police.vehicle_control"


def test_the_general_endpoint_gets_v1_traces_added(collector):
    _run({"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url})
    assert collector.spans() == [("/v1/traces", "samband-router", SPAN)]


def test_the_traces_endpoint_alone_is_used_as_it_is(collector):
    _run({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{collector.url}/custom/traces"})
    assert collector.spans() == [("/custom/traces", "samband-router", SPAN)]


def test_otel_service_name_names_the_service(collector):
    _run({"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_SERVICE_NAME": "router-syd-1"})
    assert collector.spans() == [("/v1/traces", "router-syd-1", SPAN)]


@pytest.mark.parametrize(
    "env",
    [
        {"OTEL_SDK_DISABLED": "true"},
        {"OTEL_TRACES_SAMPLER": "always_off"},
        {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0"},
        {"OTEL_TRACES_EXPORTER": "none"},
    ],
    ids=["sdk disabled", "sampler always_off", "ratio 0", "exporter none"],
)
def test_nothing_is_exported_when_the_environment_says_so(collector, env):
    _run({"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, **env})
    assert collector.received == []


def test_the_sampler_arg_is_read(collector):
    _run(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_TRACES_SAMPLER": "traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "1.0",
        }
    )
    assert [s[2] for s in collector.spans()] == [SPAN]


def test_an_otlp_protocol_that_is_not_installed_is_said_in_one_log_line(collector):
    proc = _run({"OTEL_EXPORTER_OTLP_ENDPOINT": collector.url, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert collector.received == []
    assert "OTLP protocol 'grpc' is not installed" in proc.stderr
