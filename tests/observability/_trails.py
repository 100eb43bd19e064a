"""Build audit trails fast for tests: seal records directly with AuditChain, checkpoint every N."""

from __future__ import annotations

import datetime as _dt
import random

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from samband.observability import AuditChain, AuditRecord, Pseudonymiser, Trail, public_key_pem, sign_checkpoint
from samband.schemas import synthetic_personnummer

AGENCIES = ("polisen", "skatteverket", "tullverket", "kronofogden", "forsakringskassan")
T0 = _dt.datetime(2017, 3, 1, 8, 0, tzinfo=_dt.timezone.utc)


def make_trail(n: int, *, every: int = 500, seed: int = 1, people: list[str] | None = None,
               key: Ed25519PrivateKey | None = None, pseudonym: Pseudonymiser | None = None) -> tuple[Trail, Ed25519PrivateKey]:
    rng = random.Random(seed)
    key = key or Ed25519PrivateKey.generate()
    pseudonym = pseudonym or Pseudonymiser(b"k" * 32)
    people = people or [synthetic_personnummer(rng) for _ in range(50)]
    chain = AuditChain()
    records, checkpoints = [], []
    for i in range(n):
        origin, recipient = rng.sample(AGENCIES, 2)
        allow = rng.random() < 0.8
        rec = AuditRecord(
            at=T0 + _dt.timedelta(seconds=i), envelope_id=f"env-{seed}-{i:07d}", record_type="police.vehicle_control",
            origin=origin, recipient=recipient, region=rng.choice(("syd", "vast")), operation="bacchus-2017",
            decision="allow" if allow else "deny", rule="r.allow" if allow else "deny.default",
            policy_version="pv1", legal_basis="LUS 2016:774" if allow else None,
            purpose="tax_control" if allow else None, fields=("vehicle", "driver") if allow else (),
            delivered_sha256=f"{i:064x}" if allow else None, subjects=(pseudonym(rng.choice(people)),),
        )
        data = chain.seal(rec)
        records.append(data)
        if chain.seq % every == 0:
            checkpoints.append(msgspec.json.encode(sign_checkpoint(key, chain.seq, chain.head, rec.at)))
    return Trail(records, checkpoints, public_key_pem(key.public_key())), key
