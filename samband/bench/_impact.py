"""`samband bench policy`'s replay rows: audited decisions replayed per second by `samband policy
impact`, against decoding the same entries from their stored bytes (the floor of any pass over the
trail) in the same run."""

from __future__ import annotations

import datetime as _dt
import random
import time

import msgspec

from samband.observability.audit import ENTRY_DECODER, AuditRecord, encode_entry
from samband.router import Grant, Policy, replay

__all__ = ["replay_bench"]

TARGET = 100_000  # audited decisions replayed per second


def _entries(policy: Policy, envs: list, days: int = 30) -> list[AuditRecord]:
    """One entry per decision the router makes on ``envs``, spread over the last ``days`` days."""
    rng = random.Random(16)
    now = _dt.datetime.now(_dt.UTC)
    out = []
    for env in envs:
        at = now - _dt.timedelta(seconds=rng.uniform(0, days * 86_400))
        for recipient, d in policy.route(env, at):
            out.append(
                AuditRecord(
                    at=at,
                    envelope_id=env.id,
                    record_type=env.record_type,
                    origin=env.origin,
                    recipient=recipient,
                    region=env.region,
                    operation=env.operation,
                    handling=env.handling,
                    **d.audit_fields(),
                )
            )
    return out


def _co_opted(policy: Policy) -> Policy:
    """The shipped policy with one more co-option: the proposal replayed."""
    now = _dt.datetime.now(_dt.UTC)
    grant = Grant(
        agency="kustbevakningen",
        operation="bacchus-2017",
        record_types=("police.vehicle_control",),
        fields=("control_id", "controlled_at", "location", "vehicle", "vehicle_kind"),
        valid_from=now - _dt.timedelta(days=60),
        valid_to=now + _dt.timedelta(days=1),
        decided_by="RSR Syd",
        reason="bench",
        legal_basis="LUS 2016:774",
    )
    data = policy.data
    return Policy(msgspec.structs.replace(data, grants={**data.grants, "bench-kbv": grant}))


def replay_bench(policy: Policy, envs: list) -> dict:
    entries = _entries(policy, envs)
    stored = [encode_entry(e, i) for i, e in enumerate(entries)]
    proposed = _co_opted(policy)

    def best(fn) -> float:
        times = []
        for _ in range(3):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    t_decode = best(lambda: [ENTRY_DECODER.decode(b) for b in stored])
    report = replay(entries, policy, proposed)
    t_replay = best(lambda: replay(entries, policy, proposed))
    rate = len(entries) / t_replay
    return {
        "entries": len(entries),
        "records": report.records,
        "added": sum(d.records for d in report.disclosures if d.what == "added"),
        "replayed_per_s": rate,
        "decoded_per_s": len(entries) / t_decode,
        "ratio_to_decode": t_replay / t_decode,
        "target": f">= {TARGET:,}/s",
        "met": rate >= TARGET,
    }
