"""Repeated problems logged as a count per interval, not a line per message.

A recipient whose inbox refuses every delivery, or an agency sending thousands of malformed
records, would otherwise write one log line per message (tens of thousands a minute) and
drown everything else in the log. A `Tally` logs the first occurrence of each kind at once, then
counts, and writes one line per kind and interval with the count (``repeated`` and ``interval_s``).
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["Tally"]


class Tally:
    """``add(key, **fields)`` for each occurrence; one line for the first, then one per ``interval`` with the count."""

    def __init__(self, logger: Any, event: str, *, interval: float = 10.0, level: str = "warning") -> None:
        self.log = getattr(logger, level)
        self.event = event
        self.interval = interval
        self._counts: dict[Any, int] = {}
        self._fields: dict[Any, dict[str, Any]] = {}
        self._since = time.monotonic()
        self.total = 0

    def add(self, key: Any, n: int = 1, **fields: Any) -> None:
        self.total += n
        if key not in self._fields:
            self._fields[key] = fields
            self._counts[key] = 0
            self.log(self.event, **fields)  # the first of its kind is worth a line at once
            n -= 1
        else:
            self._fields[key] = fields  # the latest details
        self._counts[key] += n
        self.flush()

    def flush(self, *, force: bool = False) -> None:
        """Write the counts gathered over the last interval (all of them with ``force``)."""
        now = time.monotonic()
        if not force and now - self._since < self.interval:
            return
        for key, count in self._counts.items():
            if count:
                self.log(self.event, repeated=count, interval_s=round(now - self._since, 1), **self._fields[key])
        # kinds seen in this interval are forgotten, so their next occurrence is logged at once again
        self._counts = {k: 0 for k, c in self._counts.items() if c}
        self._fields = {k: self._fields[k] for k in self._counts}
        self._since = now
