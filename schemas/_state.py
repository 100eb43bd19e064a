"""Process-wide state, in one place (structlog's "global state department").

Everything here lives as long as the process and is shared by every decoder and adapter in it:

- today's date, looked up at most once a second (``date.today()`` per record is measurable at
  10k records/s), and its ``YYYYMMDD`` text for the decoders' fast path;
- the canonical identifiers already validated (every decode validates every reference, and the
  same persons, companies and vehicles come back record after record: a set lookup replaces a
  date and check-digit computation; only values that passed are kept, and a valid one stays valid);
- the caches of the layers above, registered with `track` (an adapter's references by native
  text), so that one `reset` forgets them too, and those whose entries depend on the date
  (``daily=True``: the century of a 10-digit personnummer) are emptied when the date changes.

`reset` is for tests: it forgets all of it, as if the process had just started.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable

__all__ = ["SEEN_ORGNR", "SEEN_PLATE", "SEEN_PNR", "Seen", "current_date", "reset", "today_text", "track"]


class Seen:
    """Canonical identifiers already validated in this process (a bounded set)."""

    __slots__ = ("limit", "values")

    def __init__(self, limit: int = 1 << 16) -> None:
        self.values: set[str] = set()
        self.limit = limit

    def add(self, value: str) -> None:
        if len(self.values) >= self.limit:
            self.values.clear()
        self.values.add(value)


class _Today:
    __slots__ = ("checked", "date", "text")

    def __init__(self) -> None:
        self.checked = float("-inf")  # monotonic time of the last look at the clock
        self.date = _dt.date.min
        self.text = ""


SEEN_PNR, SEEN_ORGNR, SEEN_PLATE = Seen(), Seen(), Seen()
_today = _Today()
_tracked: list[Callable[[], None]] = []  # the `clear` of every registered cache
_daily: list[Callable[[], None]] = []  # ... of those whose entries depend on the date


def current_date() -> _dt.date:
    """Today's date, looked up at most once a second; a new date empties the daily caches first."""
    today = _today
    now = time.monotonic()
    if now - today.checked > 1.0:
        today.checked = now
        date = _dt.date.today()
        if date != today.date:
            for clear in _daily:
                clear()
            today.date, today.text = date, date.strftime("%Y%m%d")
    return today.date


def today_text() -> str:
    """Today as ``YYYYMMDD`` (compared as text with a canonical personnummer's birth date)."""
    current_date()
    return _today.text


def track(clear: Callable[[], None], *, daily: bool = False) -> None:
    """Register a process-wide cache by its ``clear``: `reset` calls it; with ``daily``, so does a new date."""
    _tracked.append(clear)
    if daily:
        _daily.append(clear)


def reset() -> None:
    """Forget today's date, the identifiers seen and every tracked cache (for tests)."""
    _today.__init__()  # type: ignore[misc]
    for seen in (SEEN_PNR, SEEN_ORGNR, SEEN_PLATE):
        seen.values.clear()
    for clear in _tracked:
        clear()
