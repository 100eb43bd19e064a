"""Errors raised by `samband.console`.

The tree::

    ConsoleError                the console cannot do what a page asked (shown as a page, never a traceback)
    ├── BrokerGone              the broker does not answer now: pages that need it say so, the rest show the index
    ├── Refused                 the broker refused this identity what the page asked (another agency's entries)
    └── NotRecorded             a person search or an export could not be recorded in the audit log: nothing shown
"""

from __future__ import annotations

__all__ = ["BrokerGone", "ConsoleError", "NotRecorded", "Refused"]


class ConsoleError(Exception):
    """Base class for every error raised by `samband.console`."""


class BrokerGone(ConsoleError):
    """The broker does not answer now."""


class Refused(ConsoleError):
    """The broker refused the identity what was asked."""


class NotRecorded(ConsoleError):
    """A lookup could not be recorded, so its answer is not shown (fail closed)."""
