"""Errors raised by `samband.observability` (logs, traces, pseudonyms) and its two sub-packages.

The tree::

    ObservabilityError          base of everything this package raises
    ├── AuditKeyError           a deployment key (pseudonym HMAC key, checkpoint signing key) is missing or unreadable
    ├── AuditError              (audit/_errors.py) the audit trail: unavailable, an export, a moved trail
    └── BusError                (bus/_errors.py) publishing and reading on JetStream
"""

from __future__ import annotations

__all__ = ["AuditKeyError", "ObservabilityError"]


class ObservabilityError(Exception):
    """Base class for every error raised by `samband.observability`."""


class AuditKeyError(ObservabilityError):
    """A deployment key is missing, unreadable, or has unsafe permissions."""
