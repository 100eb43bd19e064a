"""Errors raised by `samband.observability`.

The tree::

    ObservabilityError          base of everything this package raises
    ├── AuditUnavailable        the audit stream could not be written (the router fails closed), or read
    │   └── StreamGap           (_reader.py) a read found a sequence missing from a stream
    ├── AuditKeyError           a deployment key (pseudonym HMAC key, checkpoint signing key) is missing or unreadable
    ├── ExportError             (_trail.py) a file that cannot be read as an audit export
    ├── TrailProblem            (_store.py) the trail no longer holds what was indexed: a query gives no answer
    └── PublishError            (_acks.py) a JetStream publish answered with something other than an ack;
        │                       also a ConnectionError: retry it, in order (nats-py's errors translated here)
        ├── PublishRefused      the stream refused it (e.g. a wrong expected last sequence)
        ├── NoStream            no stream listens on the subject (the server's 503, "no responders")
        ├── NoAnswer            no answer within the timeout (also a TimeoutError)
        ├── NotConnected        not sent: the client is reconnecting
        ├── ConnectionClosed    not sent: the client's connection is closed for good
        └── NotSendable         never sent: too large for the server, or a subject with whitespace
"""

from __future__ import annotations

__all__ = ["AuditKeyError", "AuditUnavailable", "ObservabilityError"]


class ObservabilityError(Exception):
    """Base class for every error raised by `samband.observability`."""


class AuditUnavailable(ObservabilityError):
    """The audit append was not acknowledged; nothing may be delivered until it is."""


class AuditKeyError(ObservabilityError):
    """A deployment key is missing, unreadable, or has unsafe permissions."""
