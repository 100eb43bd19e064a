"""What an agency adapter is: a small mapping from its native record to the shared schema."""

from __future__ import annotations

from typing import Any, Protocol

from samband.schemas import Envelope

__all__ = ["AgencyMapping"]


class AgencyMapping(Protocol):
    """One agency's translation. The runtime does everything else (reading, parsing, publishing)."""

    agency: str
    format: str  # "jsonl", "xml", "csv", "fixed"

    def key(self, native: Any) -> str:
        """The native record's own key: the publish dedupe id, so a re-read creates no second record."""

    def to_envelope(self, native: Any) -> Envelope:
        """Translate (and validate) one native record; raise ValueError/KeyError/TypeError naming the field."""
