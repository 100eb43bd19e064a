"""Errors raised by `samband.observability.audit`.

The tree::

    AuditError                  base of everything this package raises (an ObservabilityError)
    ├── AuditUnavailable        the trail could not be written (the router fails closed), or read
    ├── ExportError             (_trail.py) a file that cannot be read as an audit export
    └── TrailProblem            (_store.py) the trail no longer holds what was indexed: a query gives no answer

Reading a stream raises `samband.observability.bus.ReadError` (and its `StreamGap`); the
trail's readers turn it into `AuditUnavailable`, keeping the cause. A deployment key that is
missing or unreadable is `samband.observability.AuditKeyError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .._errors import ObservabilityError
from ..bus import ReadError

__all__ = ["AuditError", "AuditUnavailable", "reading"]


class AuditError(ObservabilityError):
    """Base class for every error raised by `samband.observability.audit`."""


class AuditUnavailable(AuditError):
    """The audit trail could not be written or read; nothing may be delivered until it is written."""


@contextmanager
def reading() -> Iterator[None]:
    """Translate a failed stream read (the bus's `ReadError`) into `AuditUnavailable`, cause kept."""
    try:
        yield
    except ReadError as exc:
        raise AuditUnavailable(str(exc)) from exc
