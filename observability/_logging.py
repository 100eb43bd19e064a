"""structlog set-up, and the consoles the CLI prints on. Only entry points call `configure_logging`;
libraries call `get_logger`.

One configuration for every process: console lines on a terminal, JSON lines otherwise (a
service manager, a pipe, a file). The standard library's loggers (nats-py, the OTel SDK) are
routed through the same processors, so an operator never sees two formats in one stream.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog
from opentelemetry import trace
from rich.console import Console

from samband.schemas import PNR_SHAPE, mask_personnummer

__all__ = ["LOG_LEVELS", "configure_logging", "get_logger", "output_console", "scrub_identifiers"]

LOG_LEVELS = ("debug", "info", "warning", "error")
# What a piped table may be as wide as: rich cuts to 80 columns when it sees no terminal, and a
# table cut for a terminal that is not there is a table a script cannot read.
_PIPE_WIDTH = 10_000


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


class _Stderr:
    """Whatever ``sys.stderr`` is when a line is written (a test runner swaps it per command)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return _isatty(sys.stderr)


def configure_logging(*, level: str | None = None, json: bool | None = None, stream: Any = None) -> None:
    """JSON lines when not on a terminal (production), console lines when on one.

    ``level`` defaults to env ``SAMBAND_LOG_LEVEL``, else ``info``; ``stream`` to stderr. Calling
    it again replaces the configuration (an entry point may raise the level for a quiet command).
    """
    stream = stream or _Stderr()
    level = (level or os.environ.get("SAMBAND_LOG_LEVEL") or "info").lower()
    if level not in (*LOG_LEVELS, "critical"):  # critical: a command whose printed output is all that matters
        level = "info"
    if json is None:
        json = not _isatty(stream)
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
        structlog.processors.format_exc_info,
        scrub_identifiers,
    ]
    numeric = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    # the standard library's records (nats-py, the OTel SDK) through the same processors
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_samband", False)]:
        root.removeHandler(old)
    handler._samband = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(numeric)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def output_console(*, stderr: bool = False) -> Console:
    """A rich console for a command's output: as wide as the terminal, or not cut at all when piped."""
    return Console(stderr=stderr, width=None if _isatty(sys.stderr if stderr else sys.stdout) else _PIPE_WIDTH)


def get_logger(name: str | None = None, **initial: Any) -> Any:
    return structlog.get_logger(name, **initial) if name else structlog.get_logger(**initial)
