"""The operations and grants of a live policy and where each stands (`samband decision list`, `samband status`)."""

from __future__ import annotations

import datetime as _dt

from ._legal_time import day_end, day_start, swedish_text
from ._live import LivePolicy

__all__ = ["in_force"]


def in_force(live: LivePolicy, now: _dt.datetime) -> list[dict]:
    """Each operation and co-option grant of the live policy with its state at ``now`` ("in force",
    "closed", "ended", "expired", "revoked", "not yet ...") and the decision or file that set it."""
    data = live.current.data
    rows = []
    for op_id, o in sorted(data.operations.items()):
        start, end = day_start(o.valid_from), day_end(o.valid_to)
        state = (
            "closed"
            if o.status == "closed"
            else "not yet in force"
            if now < start
            else "ended"
            if now >= end
            else "in force"
        )
        who = live.authority("operation", op_id)
        rows.append(
            {
                "kind": "operation",
                "id": op_id,
                "state": state,
                "summary": f"{o.scope}, {o.valid_from} to {o.valid_to or 'further notice'}, by {o.decided_by}, "
                f"{len(o.participants)} participants",
                "authority": who.ref if who else "operations.toml",
            }
        )
    for grant_id, g in sorted(data.grants.items()):
        state = (
            "revoked"
            if g.revoked
            else "not yet started"
            if now < g.valid_from
            else "expired"
            if now >= g.valid_to
            else "in force"
        )
        who = live.authority("cooption", grant_id)
        rows.append(
            {
                "kind": "grant",
                "id": grant_id,
                "state": state,
                "summary": f"{g.agency} in {g.operation}, {swedish_text(g.valid_from)} to {swedish_text(g.valid_to)}, "
                f"by {g.decided_by}",
                "authority": who.ref if who else "cooptions.toml",
            }
        )
    return rows
