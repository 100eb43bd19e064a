"""structlog set-up. Only entry points call `configure_logging`; libraries call `get_logger`."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from opentelemetry import trace

from samband.schemas import PNR_SHAPE, mask_personnummer

__all__ = ["configure_logging", "get_logger", "scrub_identifiers"]


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return PNR_SHAPE.sub(lambda m: mask_personnummer(m.group(0)), value)
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub(v) for v in value)
    return value


# Hex ids we write ourselves; 10 digits in a row inside a span id are not a personnummer.
_OWN_IDS = frozenset({"trace_id", "span_id"})


def scrub_identifiers(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    """Last line of defence: anything shaped like a personnummer is masked before it is written."""
    return {k: v if k in _OWN_IDS else _scrub(v) for k, v in event.items()}


def _add_trace_ids(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event["trace_id"] = format(ctx.trace_id, "032x")
        event["span_id"] = format(ctx.span_id, "016x")
    return event


def configure_logging(*, level: str = "info", json: bool | None = None, stream: Any = None) -> None:
    """JSON lines when not on a terminal (production), pretty console output when on one."""
    stream = stream or sys.stderr
    if json is None:
        json = not stream.isatty()
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _add_trace_ids,
            structlog.processors.format_exc_info,
            scrub_identifiers,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None, **initial: Any) -> Any:
    return structlog.get_logger(name, **initial) if name else structlog.get_logger(**initial)
