"""Errors raised by `samband.adapters`.

The tree::

    AdapterError                base of everything this package raises
    ├── RejectedRecord          one native record could not be parsed, mapped or validated (goes to dead letters)
    └── PublishFailed           the broker did not acknowledge a publish in time (wraps the nats-py error)
"""

from __future__ import annotations

__all__ = ["AdapterError", "RejectedRecord", "PublishFailed"]


class AdapterError(Exception):
    """Base class for every error raised by `samband.adapters`."""


class RejectedRecord(AdapterError):
    """A native record was rejected. ``position`` names where it was (``file:line``), ``reason`` why."""

    def __init__(self, reason: str, *, position: str, raw: bytes = b"") -> None:
        super().__init__(f"{reason} - at {position}")
        self.reason = reason
        self.position = position
        self.raw = raw


class PublishFailed(AdapterError):
    """A publish was not acknowledged by the agency's outbound stream."""
