"""The envelope every record travels in."""

from __future__ import annotations

import os
import time
from typing import Annotated, ClassVar

import msgspec

from ._base import REGIONS, Instant, Region, Schema, SubjectRef
from ._records import AnyRecord

__all__ = ["ENVELOPE_SCHEMA", "Envelope", "Handling", "new_envelope_id"]

ENVELOPE_SCHEMA = "samband.envelope/1"


def new_envelope_id() -> str:
    """A UUIDv7 (time-ordered, RFC 9562) as text; Python 3.11 has no uuid.uuid7 yet.

    Formatted from hex text directly: going through `uuid.UUID` was half the cost, and an
    adapter makes one per record.
    """
    ms = "%012x" % (time.time_ns() // 1_000_000 & 0xFFFFFFFFFFFF)
    r = next(_random, None) or _refill()  # 19 random hex digits: 12 bits in rand_a, 2 + 62 in rand_b
    return f"{ms[:8]}-{ms[8:]}-7{r[:3]}-{_VARIANT[r[3]]}{r[4:7]}-{r[7:19]}"


def _refill() -> str:
    # os.urandom once per 256 ids, not per id; handing them out through an iterator is safe
    # across threads (each `next` gives a value to one caller only)
    global _random
    h = os.urandom(10 * 256).hex()
    _random = iter([h[i : i + 20] for i in range(20, len(h), 20)])
    return h[:20]


_random = iter(())
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}  # the RFC variant bits 10, then two random bits


class Handling(Schema, frozen=True, kw_only=True):
    """Originator restrictions. The router enforces them and never relaxes them.

    ``named_recipients``: only these agencies may receive the record; ``no_onward_sharing``:
    recipients may not pass it on; ``foreign_origin``: the material comes from a foreign
    partner; ``review_required``: held until an officer of the originating agency releases
    or withholds it per recipient (the LUS 2 § balancing test).
    """

    named_recipients: tuple[str, ...] | None = None
    no_onward_sharing: bool = False
    foreign_origin: bool = False
    review_required: bool = False


class Envelope(Schema, frozen=True, kw_only=True):
    """One record on the bus with everything routing and audit need.

    ``origin`` is set by the router from the publishing account; a sender that fills it
    with anything but its own agency is refused (and the refusal audited). ``schema``
    names the envelope's major version; ``VERSION`` is its (major, minor).
    ``legal_basis`` is what the sender claims (e.g. ``LUS 2016:774``); the router decides
    which basis a disclosure rests on. ``traceparent`` is the W3C trace context.
    """

    VERSION: ClassVar[tuple[int, int]] = (1, 1)

    id: str
    schema: Annotated[str, msgspec.Meta(extra_json_schema={"const": ENVELOPE_SCHEMA})] = ENVELOPE_SCHEMA
    record: AnyRecord
    origin: str | None = None
    region: Region
    operation: str
    produced_at: Instant
    subjects: tuple[SubjectRef, ...] = ()
    handling: Handling = Handling()
    legal_basis: str | None = None
    traceparent: str | None = None

    def __post_init__(self) -> None:
        if self.schema != ENVELOPE_SCHEMA:
            raise ValueError(f"Expected schema `{ENVELOPE_SCHEMA}`, got `{self.schema}`")
        if self.region not in REGIONS:  # Literal already checks on decode; this guards direct construction
            raise ValueError(f"Expected region one of {REGIONS}, got {self.region!r}")
        if self.record_type == "security.intelligence_note" and not self.handling.named_recipients:
            raise ValueError(
                "Expected handling.named_recipients on a security.intelligence_note "
                "(always handling-restricted), got none"
            )

    @property
    def record_type(self) -> str:
        return self.record.__struct_config__.tag  # type: ignore[return-value]
