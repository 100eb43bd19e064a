"""Auditors' lookups reach the log through the one writer, with the identity the broker vouches for."""

from __future__ import annotations

import msgspec
import pytest
from nats.js.errors import APIError

from samband.broker_config import Deployment
from samband.observability.audit import (
    ENTRY_DECODER,
    MAX_LOOKUP_BYTES,
    AuditUnavailable,
    Lookup,
    read_log,
    record_lookup,
)
from samband.schemas.layout import lookup_subject

from .._support import wait_for


async def _lookups(dep: Deployment) -> list[Lookup]:
    nc = await dep.connect("auditor")
    try:
        log = await read_log(nc, witnesses=False)
    finally:
        await nc.close()
    return [e for e in (ENTRY_DECODER.decode(d) for d in log.entries) if isinstance(e, Lookup)]


async def test_a_lookup_is_appended_with_the_identity_of_the_credentials_not_of_the_payload(trail):
    dep = Deployment.load(trail.state)
    nc = await dep.connect("auditor-skatteverket")
    try:
        seq = await record_lookup(nc, "auditor-skatteverket", "person-search", {"person": "p:" + "ab" * 16}, 3)
        # another identity's subject: the broker refuses the publish (no ack ever comes)
        with pytest.raises(AuditUnavailable):
            await record_lookup(nc, "auditor", "export-csv", {}, 1, timeout=2.0)
        # a payload that claims another identity, one that is not a request, one with a personnummer in it
        js = nc.jetstream()
        subject = lookup_subject("auditor-skatteverket")
        await js.publish(subject, b'{"action":"export-csv","identity":"auditor","filters":{}}')
        await js.publish(subject, b"not json")
        pnr = trail.personnummer
        await js.publish(subject, msgspec.json.encode({"action": "person-search", "filters": {"note": pnr}}))
        with pytest.raises(APIError, match="message size exceeds maximum allowed"):  # larger than a lookup can be
            await js.publish(subject, b"{" + b" " * MAX_LOOKUP_BYTES + b"}", timeout=2.0)
    finally:
        await nc.close()

    async def appended() -> bool:
        return len([x for x in await _lookups(dep) if x.identity == "auditor-skatteverket"]) >= 4

    await wait_for(appended, timeout=30, what="the lookups in the log")
    mine = [x for x in await _lookups(dep) if x.identity == "auditor-skatteverket"]
    assert mine[0].lookup_seq == seq and mine[0].action == "person-search" and mine[0].results == 3
    assert mine[0].filters == ("person=p:" + "ab" * 16,)
    assert [x.action for x in mine[1:4]] == ["malformed", "malformed", "person-search"]
    assert "unknown field `identity`" in (mine[1].detail or "") and "sha256" in (mine[1].detail or "")
    assert pnr not in str(mine) and pnr.replace("-", "") not in str(mine)
    assert not any(x.identity == "auditor" and x.action == "export-csv" for x in await _lookups(dep))


async def test_a_burst_of_lookups_is_appended_each_once(trail):
    dep = Deployment.load(trail.state)
    nc = await dep.connect("auditor-migrationsverket")
    try:
        for _ in range(20):
            await record_lookup(nc, "auditor-migrationsverket", "export-csv", {"region": "syd"}, 1)
    finally:
        await nc.close()

    async def all_in() -> bool:
        return len([x for x in await _lookups(dep) if x.identity == "auditor-migrationsverket"]) >= 20

    await wait_for(all_in, timeout=30, what="twenty lookups")
    seqs = [x.lookup_seq for x in await _lookups(dep) if x.identity == "auditor-migrationsverket"]
    assert len(seqs) == len(set(seqs)) == 20
