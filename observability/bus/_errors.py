"""Errors raised by `samband.observability.bus`: JetStream publishing and reading.

The tree::

    BusError                    base of everything this package raises (an ObservabilityError)
    ├── PublishError            a publish answered with something other than an ack; also a
    │   │                       ConnectionError: publish it again, in order (nats-py's errors translated here)
    │   ├── PublishRefused      the stream refused it (e.g. a wrong expected last sequence)
    │   ├── NoStream            no stream listens on the subject (the server's 503, "no responders")
    │   ├── NoAnswer            no answer within the timeout (also a TimeoutError)
    │   ├── NotConnected        not sent: the client is reconnecting
    │   ├── ConnectionClosed    not sent: the client's connection is closed for good
    │   └── NotSendable         never sent: too large for the server, or a subject with whitespace
    └── ReadError               a stream could not be read
        └── StreamGap           a read found a sequence missing from a stream that must have it
"""

from __future__ import annotations

import msgspec

from .._errors import ObservabilityError

__all__ = [
    "ApiError",
    "BusError",
    "ConnectionClosed",
    "NoAnswer",
    "NoStream",
    "NotConnected",
    "NotSendable",
    "PublishError",
    "PublishRefused",
    "ReadError",
    "StreamGap",
]


class ApiError(msgspec.Struct, forbid_unknown_fields=False):
    """The ``error`` of a JetStream API answer (unknown fields skipped on purpose)."""

    code: int = 0
    err_code: int = 0
    description: str = ""


class BusError(ObservabilityError):
    """Base class for every error raised by `samband.observability.bus`."""


class PublishError(BusError, ConnectionError):
    """A publish the pipeline answers with instead of an ack; publish it again, in order."""


class PublishRefused(PublishError):
    """The stream answered a publish with an error (e.g. a wrong expected last sequence)."""

    def __init__(self, error: ApiError) -> None:
        self.error = error
        super().__init__(f"{error.description} (code {error.code}, err_code {error.err_code})")


class NoStream(PublishError):
    """No stream listens on the subject: the server answered 503 (no responders)."""

    def __init__(self, subject: str) -> None:
        super().__init__(f"Expected a stream on `{subject}`, got no responders")


class NoAnswer(PublishError, TimeoutError):
    """Neither an ack nor an error came back within the timeout."""

    def __init__(self, timeout: float) -> None:
        super().__init__(f"Expected an answer from the stream within {timeout:g} s, got none")


class NotConnected(PublishError):
    """Not sent: the client is reconnecting. Publish it again, in order, once it is connected."""

    def __init__(self) -> None:
        super().__init__("Expected a connected client, got one that is reconnecting to the broker")


class ConnectionClosed(PublishError):
    """Not sent: the connection is closed for good."""

    def __init__(self) -> None:
        super().__init__("Expected an open connection to the broker, got a closed one")


class NotSendable(PublishError):
    """Never sent, because the server would refuse it and close the connection."""


class ReadError(BusError):
    """A stream could not be read (the broker is gone, the stream is missing, the read stalled)."""


class StreamGap(ReadError):
    """The stream does not hold a message the read expected (a hole, or the stream ended early)."""

    def __init__(self, message: str, seq: int) -> None:
        super().__init__(message)
        self.seq = seq
