"""The disclosures filter, read from a request's query: checked, bounded, never echoing a personnummer.

A value that is too long, names no agency, region or decision the deployment knows, or is not a
time is refused with a message in msgspec's shape (what was expected, what came, where), the
value cut short and anything shaped like a personnummer in it masked. A person travels in URLs
only as its keyed pseudonym (``subject=p:<32 hex>``); a personnummer given in a URL is turned
into one and the browser sent on (`pseudonymised_url`), so it never reaches a page, a log line or
the browser's history beyond that one request.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from samband.schemas import PNR_SHAPE, REGIONS, mask_personnummer

__all__ = ["FILTER_NAMES", "MAX_VALUE", "FilterError", "Filters", "safe"]

MAX_VALUE = 100
FILTER_NAMES = ("subject", "origin", "recipient", "operation", "region", "record_type", "rule", "decision")
_SUBJECT = re.compile(r"p:[0-9a-f]{32}")
_TOKEN = re.compile(r"[A-Za-z0-9_.:/-]+")
_CURSOR = re.compile(r"-?[0-9]{1,19}")


class FilterError(ValueError):
    """A filter value the console refuses; ``field`` is the form field."""

    def __init__(self, message: str, name: str) -> None:
        super().__init__(message)
        self.name = name


def safe(value: str, limit: int = 40) -> str:
    """A user's value fit to show back: personnummer-shaped digits masked, cut to ``limit``."""
    text = PNR_SHAPE.sub(lambda m: mask_personnummer(m.group(0)), value)
    return text if len(text) <= limit else text[:limit] + "…"


def _time(value: str, name: str) -> _dt.datetime:
    try:
        t = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise FilterError(
            f"Expected an ISO 8601 time like 2017-03-01 or 2017-03-01T12:00Z, got `{safe(value)}` - at `{name}`",
            name,
        ) from None
    return t if t.tzinfo else t.replace(tzinfo=_dt.UTC)


@dataclass
class Filters:
    values: dict[str, str] = field(default_factory=dict)
    since: _dt.datetime | None = None
    until: _dt.datetime | None = None
    before: int | None = None
    after: int | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str], agencies: set[str]) -> Filters:
        out = cls()
        for name, value in query.items():
            if len(value) > MAX_VALUE:
                raise FilterError(
                    f"Expected at most {MAX_VALUE} characters, got {len(value)} - at `{safe(name, 20)}`", name
                )
        for name in FILTER_NAMES:
            value = (query.get(name) or "").strip()
            if not value:
                continue
            # a personnummer typed into the wrong field is not kept, nor shown; a pseudonym's 32 hex digits
            # may hold a run of ten or twelve decimal ones (about one key in 25), and it is no personnummer
            if PNR_SHAPE.search(value) and not (name == "subject" and _SUBJECT.fullmatch(value)):
                raise FilterError(
                    f"Expected a person in the person search only, got `{safe(value)}` - at `{name}`", name
                )
            if name == "subject" and not _SUBJECT.fullmatch(value):
                raise FilterError(f"Expected a pseudonym p:<32 hex>, got `{safe(value)}` - at `subject`", name)
            if name in ("origin", "recipient") and value not in agencies:
                raise FilterError(f"Expected an agency of this deployment, got `{safe(value)}` - at `{name}`", name)
            if name == "region" and value not in REGIONS:
                raise FilterError(f"Expected one of {', '.join(REGIONS)}, got `{safe(value)}` - at `region`", name)
            if name == "decision" and value not in ("allow", "deny"):
                raise FilterError(f"Expected allow or deny, got `{safe(value)}` - at `decision`", name)
            if not _TOKEN.fullmatch(value):
                raise FilterError(
                    f"Expected an id of letters, digits and ._:/-, got `{safe(value)}` - at `{name}`", name
                )
            out.values[name] = value
        if query.get("since"):
            out.since = _time(query["since"].strip(), "since")
        if query.get("until"):
            out.until = _time(query["until"].strip(), "until")
        if out.since and out.until and out.since > out.until:
            raise FilterError("Expected `since` before `until`, got `since` after `until` - at `since`", "since")
        for name in ("before", "after"):
            value = (query.get(name) or "").strip()
            if value:
                if not _CURSOR.fullmatch(value):
                    raise FilterError(f"Expected a page cursor (a number), got `{safe(value)}` - at `{name}`", name)
                setattr(out, name, int(value))
        return out

    def query(self) -> dict[str, Any]:
        """What `samband.observability.audit.page` and `timeline` take."""
        return {**self.values, "since": self.since, "until": self.until}

    def form(self) -> dict[str, str]:
        """The filter as form values (times in ISO 8601), cursors left out."""
        out = dict(self.values)
        if self.since:
            out["since"] = self.since.isoformat()
        if self.until:
            out["until"] = self.until.isoformat()
        return out

    def url(self, path: str, **extra: Any) -> str:
        params = {**self.form(), **{k: v for k, v in extra.items() if v is not None}}
        return f"{path}?{urlencode(params)}" if params else path

    def key(self) -> tuple:
        return tuple(sorted(self.form().items()))
