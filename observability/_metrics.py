"""Metrics: OpenTelemetry instruments read by a Prometheus endpoint (``--metrics-port``).

The counts live where the work is done, as the plain integers that were already kept there (the
router's `RouterStats`, an adapter's `PublishSummary` and inbox sink), and observable
instruments read them when Prometheus scrapes: the hot path pays nothing but the integer
increments it already made. The one synchronous instrument, the audit append latency histogram,
records once per append, that is once per batch. Telemetry never raises on the hot path: a
callback that fails is skipped for that scrape (the SDK logs it), a histogram record that fails
is dropped.

The endpoint binds to 127.0.0.1 only (what it shows is for the host's own collector) and has a
registry of its own, so that two endpoints in one process (the tests) never mix their figures.
The names, types, units and attributes are listed in docs/operating.md, "Metrics".
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import CallbackOptions, Histogram, Meter, NoOpMeterProvider, Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CollectorRegistry, start_http_server

from ._errors import ObservabilityError
from ._logging import get_logger

__all__ = ["MetricsEndpoint", "MetricsError", "Reading", "metrics_port_option", "observe", "serve_metrics", "timed"]

log = get_logger("samband.metrics")

# (value, attributes) pairs an observable instrument reports at one scrape
Reading = Iterable[tuple[float, dict[str, str]]]


class MetricsError(ObservabilityError):
    """The metrics endpoint cannot be served (its port is taken, or refused)."""


class MetricsEndpoint:
    """A Prometheus endpoint on 127.0.0.1:``port`` and the meters whose figures it shows."""

    def __init__(self, port: int, service: str, *, host: str = "127.0.0.1") -> None:
        self.port, self.host, self.service = port, host, service
        self._registry = CollectorRegistry()
        self._reader: PrometheusMetricReader | None = None
        self._provider: MeterProvider | None = None
        self._server: Any = None

    def start(self) -> MetricsEndpoint:
        try:
            self._server, _ = start_http_server(self.port, addr=self.host, registry=self._registry)
        except OSError as exc:
            why = "in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
            raise MetricsError(
                f"Expected {self.host}:{self.port} free for the metrics endpoint (--metrics-port), got it {why}: "
                "give another port, or leave --metrics-port out"
            ) from exc
        self._reader = PrometheusMetricReader(registry=self._registry)
        self._provider = MeterProvider(
            resource=Resource.create({"service.name": self.service}), metric_readers=[self._reader]
        )
        log.info("metrics endpoint serving", url=self.url)
        return self

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def meter(self, name: str) -> Meter:
        return (self._provider or NoOpMeterProvider()).get_meter(name)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._provider is not None:
            self._provider.shutdown()
            self._provider = None


def serve_metrics(port: int | None, service: str) -> MetricsEndpoint | None:
    """The endpoint on 127.0.0.1:``port`` started (None without a port: no metrics at all)."""
    return MetricsEndpoint(port, service).start() if port else None


def observe(meter: Meter, name: str, kind: str, unit: str, description: str, read: Callable[[], Reading]) -> None:
    """An observable instrument (``kind``: ``counter`` or ``gauge``) reporting what ``read`` returns at
    each scrape. ``read`` runs on the endpoint's thread: it copies what it reads (``dict(d)``)."""

    def callback(_options: CallbackOptions) -> Iterator[Observation]:
        for value, attributes in _safely(read):
            yield Observation(value, attributes)

    make = meter.create_observable_counter if kind == "counter" else meter.create_observable_gauge
    make(name, callbacks=[callback], unit=unit, description=description)


def _safely(read: Callable[[], Reading]) -> list[tuple[float, dict[str, str]]]:
    # a dict resized by the event loop while this thread copies it: read again (it settles at once)
    for _ in range(3):
        try:
            return list(read())
        except RuntimeError:
            continue
    return []


@contextmanager
def timed(histogram: Histogram | None, attributes: dict[str, str] | None = None) -> Iterator[None]:
    """Record the seconds the block took in ``histogram`` (when it completes); never raises."""
    start = time.perf_counter()
    yield
    if histogram is not None:
        try:
            histogram.record(time.perf_counter() - start, attributes)
        except Exception:  # telemetry never raises on the hot path
            pass


def metrics_port_option(fn: Callable) -> Callable:
    """``--metrics-port PORT``, the same on `samband up`, `router run` and `adapter run`."""
    return click.option(
        "--metrics-port",
        type=click.IntRange(1, 65535),
        default=None,
        metavar="PORT",
        help="Serve Prometheus metrics on http://127.0.0.1:PORT/metrics (docs/operating.md, Metrics).",
    )(fn)
