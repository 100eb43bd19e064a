"""Synthetic audit logs for tests and `samband bench`: built by the writer's own batch builder, signed
with a real key, as the exact messages the writer would store in the AUDIT stream."""

from __future__ import annotations

import datetime as _dt
import random
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from samband.observability import Pseudonymiser
from samband.observability.audit import AuditRecord, CompactRange, LogData, LogKey, build_batch, log_from_messages
from samband.schemas import synthetic_personnummer
from samband.schemas.layout import LUS

__all__ = ["SYNTHETIC_T0", "SyntheticLog", "synthetic_log"]

SYNTHETIC_T0 = _dt.datetime(2017, 3, 1, 8, 0, tzinfo=_dt.UTC)
_AGENCIES = ("polisen", "skatteverket", "tullverket", "kronofogden", "forsakringskassan", "migrationsverket")


@dataclass
class SyntheticLog:
    """The stream's messages ``(seq, subject, bytes)`` from seq 1, the key, and the personnummer used."""

    messages: list[tuple[int, str, bytes]]
    key: LogKey
    people: list[str]
    entries: list[bytes] = field(default_factory=list)

    def data(self) -> LogData:
        """The log as a verifier reads it from the stream (views left out, as the oversight reads it)."""
        return log_from_messages([m for m in self.messages if not m[1].startswith("audit.view.")])


def synthetic_log(
    n: int,
    *,
    batch: int = 100,
    seed: int = 1,
    people: list[str] | None = None,
    n_people: int = 50,
    key: Ed25519PrivateKey | None = None,
    pseudonym: Pseudonymiser | None = None,
) -> SyntheticLog:
    """``n`` decisions (80 % allow, one person each) appended in batches of ``batch``, each batch with
    its checkpoint, as the writer appends them; synthetic, checksum-valid personnummer."""
    rng = random.Random(seed)
    log_key = LogKey(key or Ed25519PrivateKey.generate())
    pseudonym = pseudonym or Pseudonymiser(b"k" * 32)
    people = people or [synthetic_personnummer(rng) for _ in range(n_people)]
    subjects = [pseudonym(p) for p in people]
    pairs = [(a, b) for a in _AGENCIES for b in _AGENCIES if a != b]
    messages: list[tuple[int, str, bytes]] = []
    entries: list[bytes] = []
    tree, high = CompactRange(), 0
    for lo in range(0, n, batch):
        records = []
        for i in range(lo, min(n, lo + batch)):
            origin, recipient = pairs[rng.randrange(len(pairs))]
            allow = rng.random() < 0.8
            records.append(
                AuditRecord(
                    ingest_seq=i + 1,
                    at=SYNTHETIC_T0 + _dt.timedelta(seconds=i),
                    trace_id=f"{rng.getrandbits(128):032x}",
                    span_id=f"{rng.getrandbits(64):016x}",
                    envelope_id=f"env-{seed}-{i:08d}",
                    record_type="police.vehicle_control",
                    origin=origin,
                    recipient=recipient,
                    region="syd" if i % 3 else "vast",
                    operation="bacchus-2017",
                    decision="allow" if allow else "deny",
                    rule="bacchus.vehicle-control.tax" if allow else "deny.no-need-to-know",
                    policy_version="pv-synthetic",
                    legal_basis=LUS if allow else None,
                    purpose="tax_control" if allow else None,
                    fields=("vehicle", "driver", "location") if allow else (),
                    delivered_sha256=f"{rng.getrandbits(256):064x}" if allow else None,
                    subjects=(subjects[rng.randrange(len(subjects))],),
                )
            )
        built = build_batch(
            records, size=tree.size, frontier=tree, after=len(messages), term=1, ingest_high=high, key=log_key
        )
        first = len(messages) + 1
        messages.extend((first + k, subject, body) for k, (subject, body) in enumerate(built.messages))
        entries.extend(built.encoded)
        tree, high = built.frontier, built.ingest_high
    return SyntheticLog(messages, log_key, people, entries)
