"""Reconcile what the router delivered (allow entries of the log) with what recipients say they wrote (receipts)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

from samband.schemas import Receipt

from ._entry import ENTRY_DECODER, AuditRecord

__all__ = ["Gap", "Reconciliation", "reconcile"]

_RECEIPT = msgspec.json.Decoder(Receipt)


@dataclass(frozen=True)
class Gap:
    """``kind``: ``no-receipt``, ``hash-mismatch``, ``unknown-delivery``, ``wrong-recipient`` or
    ``unreadable-receipt``."""

    kind: str
    recipient: str
    envelope_id: str
    detail: str


@dataclass
class Reconciliation:
    delivered: int = 0
    receipts: int = 0
    confirmed: int = 0
    gaps: list[Gap] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.gaps


def reconcile(entries: Iterable[bytes], receipts: Iterable[tuple[str, bytes]]) -> Reconciliation:
    """``receipts`` are (subject, payload) from the RECEIPTS stream, subject ``receipt.<agency>.<...>``.

    The recipient is the agency in the subject (set by the server from its account), never the
    payload's word; a payload naming another recipient is itself a gap.
    """
    out = Reconciliation()
    expected: dict[tuple[str, str], str | None] = {}
    for data in entries:
        rec = ENTRY_DECODER.decode(data)
        if isinstance(rec, AuditRecord) and rec.decision == "allow" and rec.recipient != "-":
            expected[(rec.envelope_id, rec.recipient)] = rec.delivered_sha256
    out.delivered = len(expected)
    seen: set[tuple[str, str]] = set()
    for subject, payload in receipts:
        out.receipts += 1
        agency = subject.split(".")[1] if subject.count(".") >= 1 else "?"
        try:
            receipt = _RECEIPT.decode(payload)
        except msgspec.DecodeError as exc:
            out.gaps.append(Gap("unreadable-receipt", agency, "?", f"receipt on {subject} cannot be read: {exc}"))
            continue
        if receipt.recipient != agency:
            out.gaps.append(
                Gap(
                    "wrong-recipient",
                    agency,
                    receipt.envelope_id,
                    f"Expected recipient `{agency}` (the publishing account), got `{receipt.recipient}` in the receipt",
                )
            )
            continue
        key = (receipt.envelope_id, agency)
        if key in seen:
            continue  # a redelivered record acknowledged twice is still one write
        seen.add(key)
        if key not in expected:
            out.gaps.append(
                Gap(
                    "unknown-delivery",
                    agency,
                    receipt.envelope_id,
                    "a receipt for a record the trail holds no allowed delivery of",
                )
            )
            continue
        if expected[key] != receipt.sha256:
            out.gaps.append(
                Gap(
                    "hash-mismatch",
                    agency,
                    receipt.envelope_id,
                    f"Expected sha256 {expected[key]}, got {receipt.sha256} in the receipt",
                )
            )
            continue
        out.confirmed += 1
    for env_id, recipient in expected.keys() - seen:
        out.gaps.append(Gap("no-receipt", recipient, env_id, "delivered by the router, no receipt from the recipient"))
    out.gaps.sort(key=lambda g: (g.recipient, g.envelope_id, g.kind))
    return out
