"""The log's writer changing hands in the middle of an append: one log, whatever reaches the broker first."""

from __future__ import annotations

import pytest

from samband.observability.audit import (
    ENTRY_DECODER,
    AuditRecord,
    Incident,
    build_batch,
    chain,
    load_or_create_signing_key,
    scan,
)
from samband.observability.bus import AckPipeline, PublishRefused

from .._support import verify_deployment_log
from .test_audit_writer import draft, stream, writer


@pytest.mark.parametrize("first", ["the paused leader's rest", "the new writer's append"])
async def test_an_append_half_sent_when_the_lease_changed_hands_ends_in_one_log_whichever_is_stored_first(
    log_dep, first
):
    """A leader paused mid-append (SIGSTOP, a VM descheduled) has sent the first messages of its chain;
    the rest wait in its send buffer. Its lease lapses and another writer takes over, reading the half
    as an append cut short. When the leader wakes its rest goes out at once, before any check of its
    lease. Stored before the new writer's first append, it makes the chain whole: the new writer builds
    upon it (it used to go past it and fork the log: CI, 2026-11-27). Stored after it, it is refused:
    the half stays cut short, noted in a signed incident entry."""
    dep = log_dep
    key = load_or_create_signing_key(dep.state_dir / "keys")
    old, nc1 = await writer(dep)
    pipeline = AckPipeline(nc1)
    new = nc2 = None
    try:
        await old.start()
        await old.append([draft(1)])
        assert old.state is not None
        after, frontier, term = old.state.last_seq, old.state.frontier, old.lease.term
        await old.close()  # its lease gone, as a paused leader's lapses
        built = build_batch(
            [draft(2).record], size=1, frontier=frontier, after=after, term=term, ingest_high=0, key=key
        )
        items = chain(built.messages, "paused", after)
        await pipeline.publish(items[:2], 5)  # its bundle and leaf hashes reached the broker before the pause
        new, nc2 = await writer(dep)
        await new.start()  # reads them as an append cut short
        if first == "the paused leader's rest":
            rest = await pipeline.publish(items[2:], 5)
            assert [r.seq for r in rest] == list(range(after + 3, after + len(items) + 1)), "the chain is whole"
            assert await new.append([draft(2), draft(3)]) == 1, "draft 2 is in the log: the leader's append"
            assert new.incidents == 0 and new.state is not None and new.state.size == 3
        else:
            assert await new.append([draft(3)]) == 1
            rest = await pipeline.publish(items[2:], 5)
            assert [r.error.err_code for r in rest if isinstance(r, PublishRefused)] == [10070] * len(rest)
            assert new.incidents == 1
    finally:
        await pipeline.close()
        await old.close()
        if new is not None:
            await new.close()
        for nc in (nc1, nc2):
            if nc is not None:
                await nc.close()
    batches, _ = scan(await stream(dep))
    entries = [ENTRY_DECODER.decode(e) for b in batches for e in b.entries]
    said = [e.envelope_id if isinstance(e, AuditRecord) else type(e).__name__ for e in entries]
    if first == "the paused leader's rest":
        assert said == ["env-0001", "env-0002", "env-0003"]
    else:
        assert said == ["env-0001", "Incident", "env-0003"]
        assert isinstance(entries[1], Incident) and entries[1].what == "unfinished-append"
    result = await verify_deployment_log(dep)
    assert result.ok and result.entries == 3, str(result)
