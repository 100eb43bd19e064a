"""Synthetic audit trails for tests and `samband bench`: sealed with the real chain, signed with a real key."""

from __future__ import annotations

import datetime as _dt
import random

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from samband.observability import Pseudonymiser
from samband.observability.audit import AuditChain, AuditRecord, Trail, public_key_pem, sign_checkpoint
from samband.schemas import synthetic_personnummer
from samband.schemas.layout import LUS

__all__ = ["SYNTHETIC_T0", "synthetic_trail"]

SYNTHETIC_T0 = _dt.datetime(2017, 3, 1, 8, 0, tzinfo=_dt.UTC)
_AGENCIES = ("polisen", "skatteverket", "tullverket", "kronofogden", "forsakringskassan", "migrationsverket")


def synthetic_trail(
    n: int,
    *,
    every: int = 1000,
    seed: int = 1,
    people: list[str] | None = None,
    n_people: int = 50,
    key: Ed25519PrivateKey | None = None,
    pseudonym: Pseudonymiser | None = None,
) -> tuple[Trail, Ed25519PrivateKey, list[str]]:
    """``n`` decisions (80 % allow, one person each, one a second), checkpointed every ``every``.

    Returns the trail, the signing key and the personnummer used (synthetic, checksum-valid).
    """
    rng = random.Random(seed)
    key = key or Ed25519PrivateKey.generate()
    pseudonym = pseudonym or Pseudonymiser(b"k" * 32)
    people = people or [synthetic_personnummer(rng) for _ in range(n_people)]
    subjects = [pseudonym(p) for p in people]
    chain = AuditChain()
    records, checkpoints = [], []
    pairs = [(a, b) for a in _AGENCIES for b in _AGENCIES if a != b]
    for i in range(n):
        origin, recipient = pairs[rng.randrange(len(pairs))]
        allow = rng.random() < 0.8
        at = SYNTHETIC_T0 + _dt.timedelta(seconds=i)
        data = chain.seal(
            AuditRecord(
                at=at,
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
        records.append(data)
        if chain.seq % every == 0:
            checkpoints.append(msgspec.json.encode(sign_checkpoint(key, chain.seq, chain.head, at)))
    return Trail(records, checkpoints, public_key_pem(key.public_key())), key, people
