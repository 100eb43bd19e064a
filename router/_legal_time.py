"""Legal time is Swedish time: a statute or a council's decision dated 2022-05-01 applies from
midnight on that day in Europe/Stockholm (00:00+02:00 in summer, 00:00+01:00 in winter), not
from midnight UTC.

Dates in the policy files and in decisions are Swedish calendar days, inclusive. They are
turned into instants once, at compile time, and kept in UTC, so the hot path compares two
datetimes with the same ``tzinfo`` (a plain field comparison, no offset lookups).
"""

from __future__ import annotations

import datetime as _dt
from zoneinfo import ZoneInfo

__all__ = ["FOREVER", "SWEDISH_TIME", "day_end", "day_start", "swedish_date", "swedish_text"]

SWEDISH_TIME = ZoneInfo("Europe/Stockholm")
_UTC = _dt.UTC
FOREVER = _dt.datetime.max.replace(tzinfo=_UTC)


def day_start(d: _dt.date) -> _dt.datetime:
    """Swedish midnight at the start of ``d``, in UTC."""
    return _dt.datetime(d.year, d.month, d.day, tzinfo=SWEDISH_TIME).astimezone(_UTC)


def day_end(d: _dt.date | None) -> _dt.datetime:
    """The end of an inclusive period ``to d``: Swedish midnight after ``d`` (open when ``d`` is None)."""
    return FOREVER if d is None or d == _dt.date.max else day_start(d + _dt.timedelta(days=1))


def swedish_date(at: _dt.datetime) -> _dt.date:
    """The Swedish calendar day of an instant (what a statute's or a decision's date is compared with)."""
    return at.astimezone(SWEDISH_TIME).date()


def swedish_text(at: _dt.datetime) -> str:
    """An instant as Swedish local time with its offset, for people: ``2017-01-09T00:00:00+01:00``."""
    return "until further notice" if at == FOREVER else at.astimezone(SWEDISH_TIME).isoformat()
