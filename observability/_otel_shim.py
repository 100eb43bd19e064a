"""The one place samband reaches into the OpenTelemetry SDK's internals, with the gain that pays for it.

`Spans` (observability/_message_spans.py) starts and ends a message's span without the SDK's
`start_span`: ids from the tracer's id generator, the sampler asked (or its decision read, for
the default parent-based ratio sampler), and a `ReadableSpan` handed to the tracer's span
processor at the end. Measured with cProfile under `samband bench`: the SDK's path was 38% of the
adapter's time per record and about 40% of the router's; this path 9.5% and 10%.

What it reads of the SDK `Tracer` and its samplers is probed here, against the installed SDK
(pinned below its next minor in pyproject); `tests/observability/test_shims.py` fails loudly when
a name changes shape, and `Spans` falls back to the SDK's `start_span` when `fast_tracer` says no.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, TraceIdRatioBased

__all__ = ["FastTracer", "fast_tracer", "follows_parent", "root_ratio"]


class FastTracer:
    """What the fast path needs of an SDK tracer, read once."""

    __slots__ = ("new_span_id", "new_trace_id", "random_root", "resource", "sampler", "scope", "span_processor")

    def __init__(self, tracer: Any) -> None:
        ids = tracer.id_generator
        self.new_trace_id = ids.generate_trace_id
        self.new_span_id = ids.generate_span_id
        self.random_root: bool = ids.is_trace_id_random()
        self.sampler: Any = tracer.sampler
        self.span_processor: Any = tracer.span_processor
        self.resource: Any = tracer.resource
        self.scope: Any = tracer._instrumentation_scope


def fast_tracer(provider: Any, name: str) -> FastTracer | None:
    """The SDK tracer ``name`` of ``provider`` for the fast path, or None (not the SDK's, disabled,
    or an SDK whose tracer lacks what the fast path reads)."""
    if not isinstance(provider, TracerProvider):
        return None
    try:
        tracer = provider.get_tracer(name)
        if not getattr(tracer, "_is_enabled", lambda: True)():
            return None
        return FastTracer(tracer)
    except Exception:
        return None


def root_ratio(sampler: Any) -> tuple[int, int] | None:
    """(limit, bound) when ``sampler`` is exactly the SDK's parent-based ratio sampler (samband's default).

    For a span without a parent its decision is ``trace_id & limit < bound``, with the
    attributes kept and no trace state; any other sampler is asked on every span.
    """
    root = getattr(sampler, "_root", None) if type(sampler) is ParentBased else None
    if type(root) is not TraceIdRatioBased:
        return None
    return root.TRACE_ID_LIMIT, root.bound


def follows_parent(sampler: Any) -> bool:
    """True when ``sampler`` is the SDK's parent-based sampler with its default delegates for a parent."""
    if type(sampler) is not ParentBased:
        return False
    return (
        getattr(sampler, "_remote_parent_sampled", None) is ALWAYS_ON
        and getattr(sampler, "_local_parent_sampled", None) is ALWAYS_ON
        and getattr(sampler, "_remote_parent_not_sampled", None) is ALWAYS_OFF
        and getattr(sampler, "_local_parent_not_sampled", None) is ALWAYS_OFF
    )
