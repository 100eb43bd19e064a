"""Errors raised by `samband.observability.audit`.

The tree::

    AuditError                  base of everything this package raises (an ObservabilityError)
    ├── AuditUnavailable        the log could not be written (the router fails closed), or read
    │   └── LeaseLost           this writer no longer holds the one-writer lease: it appends nothing more
    ├── NoteError               a signed note or checkpoint that cannot be read, or is not signed by the key given
    ├── BundleError             a message on an audit subject that is not what its subject says
    ├── ExportError             (_export.py) a file that cannot be read as an audit export
    └── TrailProblem            (_store.py) the log no longer holds what was indexed: a query gives no answer

Reading a stream raises `samband.observability.bus.ReadError` (and its `StreamGap`); the
log's readers turn it into `AuditUnavailable`, keeping the cause. A deployment key that is
missing or unreadable is `samband.observability.AuditKeyError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .._errors import ObservabilityError
from ..bus import ReadError

__all__ = ["AuditError", "AuditUnavailable", "BundleError", "LeaseLost", "NoteError", "reading"]


class AuditError(ObservabilityError):
    """Base class for every error raised by `samband.observability.audit`."""


class AuditUnavailable(AuditError):
    """The audit log could not be written or read; nothing may be delivered until it is written."""


class LeaseLost(AuditUnavailable):
    """Another writer holds the lease now: this one stops appending (fail closed)."""


class NoteError(AuditError):
    """A signed note (a checkpoint, a cosignature, a verifier key) that cannot be read or does not verify."""


class BundleError(AuditError):
    """A message on an audit subject that is not a bundle, leaf hashes or a view as its subject says."""


@contextmanager
def reading() -> Iterator[None]:
    """Translate a failed stream read (the bus's `ReadError`) into `AuditUnavailable`, cause kept."""
    try:
        yield
    except ReadError as exc:
        raise AuditUnavailable(str(exc)) from exc
