"""What an agency adapter is: a small mapping from its native record to the shared schema."""

from __future__ import annotations

import random
from typing import Any, Protocol

from samband.schemas import Envelope

from ._formats import NativeFormat, format_named

__all__ = ["AgencyMapping", "native_format"]


class AgencyMapping(Protocol):
    """One agency's translation. The runtime does everything else (reading, parsing, publishing).

    A module (``samband.adapters.agencies.<slug>``) or a declarative mapping file provides:
    ``agency``, ``format`` (``jsonl``, ``json``, ``xml``, ``csv``, ``fixed``), optionally
    ``native`` (a `NativeFormat` with its options: encoding, columns, record element, layouts),
    ``key``, ``to_envelope`` and ``sample``.
    """

    agency: str
    format: str

    def key(self, native: Any) -> str:
        """The native record's own key: the publish dedupe id, so a re-read creates no second record."""

    def to_envelope(self, native: Any) -> Envelope:
        """Translate (and validate) one native record; raise `FieldError` (or KeyError/ValueError) naming the field."""

    def sample(self, rng: random.Random, n: int, *, operation: str = "bacchus-2017", region: str = "syd") -> list[Any]:
        """``n`` synthetic native records, as the agency's export writes them."""


def native_format(mapping: AgencyMapping) -> NativeFormat:
    """The mapping's `NativeFormat`: its own ``native`` when it has options, else the format's default."""
    fmt = getattr(mapping, "native", None)
    return fmt if fmt is not None else format_named(mapping.format)
