"""One writer appends the log, each append one unbroken chain from the exact previous position; a second
waits its turn; anything another identity slips into the stream, and an append cut short, is gone past,
noted and signed."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil

import pytest
from nats.js.kv import KV_OP, KV_PURGE
from structlog.testing import capture_logs

from samband.broker_config import AUDIT_ADMIN, ROUTER
from samband.console._backend import Backend
from samband.console._readers import integrity
from samband.observability.audit import (
    ENTRY_DECODER,
    LEASE_TTL,
    LOOKUP_ACK_WAIT,
    LOOKUP_BIND_EVERY,
    POLL,
    Appender,
    AuditDraft,
    AuditRecord,
    AuditUnavailable,
    CompactRange,
    Incident,
    IndexStore,
    Lease,
    LeaseLost,
    Lookup,
    LookupIntake,
    build_batch,
    catch_up,
    chain,
    consistent,
    load_or_create_signing_key,
    open_checkpoint,
    read_view,
    record_lookup,
    scan,
    verify_online,
)
from samband.observability.bus import AckPipeline, PublishRefused, read_range
from samband.schemas.layout import AUDIT_LOOKUPS_STREAM

from .._support import verify_deployment_log, wait_for
from .test_audit_cli import audit_cli

AT = dt.datetime(2017, 3, 3, 20, 0, tzinfo=dt.UTC)


def draft(i: int, recipient: str = "tullverket", origin: str = "polisen") -> AuditDraft:
    rec = AuditRecord(
        at=AT, envelope_id=f"env-{i:04d}", record_type="police.vehicle_control", origin=origin, recipient=recipient,
        region="syd", operation="bacchus-2017", decision="allow", rule="r", policy_version="pv",
    )  # fmt: skip
    return AuditDraft(f"env-{i:04d}:{recipient}", rec, None, 1000 + i)


async def stream(dep) -> list[tuple[int, str, bytes]]:
    nc = await dep.connect(AUDIT_ADMIN)
    try:
        last = (await nc.jetstream().stream_info("AUDIT")).state.last_seq
        return await read_range(nc, "AUDIT", 1, last, with_seqs=True, strict=False) if last else []
    finally:
        await nc.close()


async def writer(dep, **kw) -> tuple[Appender, object]:
    nc = await dep.connect(ROUTER)
    return Appender(nc, key=load_or_create_signing_key(dep.state_dir / "keys"), **kw), nc


async def one_entry_beside_the_admin(dep) -> tuple[Appender, object, object]:
    """A writer that holds the lease and has appended draft 1, and a connection with the admin's rights
    (who can write to the log behind the writer's back); the caller closes all three."""
    ap, nc = await writer(dep)
    admin = await dep.connect(AUDIT_ADMIN)
    await ap.start()
    await ap.append([draft(1)])
    return ap, nc, admin


async def test_one_append_is_one_chain_of_bundle_leaf_hashes_views_and_signed_checkpoint(log_dep):
    dep = log_dep
    ap, nc = await writer(dep)
    try:
        await ap.start()
        assert await ap.append([draft(1), draft(2, "skatteverket"), draft(3, origin="tullverket")]) == 3
        assert await ap.append([draft(2, "skatteverket"), draft(4)]) == 1  # a pair audited before is skipped
    finally:
        await ap.close()
        await nc.close()
    msgs = await stream(dep)
    assert [(s, subject) for s, subject, _ in msgs] == [
        (1, "audit.log"),
        (2, "audit.tree"),
        (3, "audit.view.polisen"),
        (4, "audit.view.skatteverket"),
        (5, "audit.view.tullverket"),
        (6, "audit.checkpoint"),
        (7, "audit.log"),
        (8, "audit.tree"),
        (9, "audit.view.polisen"),
        (10, "audit.view.tullverket"),
        (11, "audit.checkpoint"),
    ]
    batches, foreign = scan(msgs)
    assert not foreign and [(b.first, len(b.entries), b.first_seq - 1) for b in batches] == [(0, 3, 0), (3, 1, 6)]
    key = load_or_create_signing_key(dep.state_dir / "keys")
    tree = CompactRange()
    for b in batches:
        tree = consistent(tree, b, key.verifier)
        assert tree is not None
    cp, _ = open_checkpoint(msgs[-1][2], key.verifier)
    assert (cp.size, cp.root) == (4, tree.root())
    entries = [ENTRY_DECODER.decode(e) for b in batches for e in b.entries]
    assert [(e.index, e.envelope_id, e.ingest_seq) for e in entries] == [
        (0, "env-0001", 1001),
        (1, "env-0002", 1002),
        (2, "env-0003", 1003),
        (3, "env-0004", 1004),
    ]
    assert batches[0].views["skatteverket"] == [batches[0].entries[1]]  # its own entries, exact bytes


async def test_an_append_that_does_not_follow_the_exact_last_position_is_refused_whole(log_dep):
    """Two writers that both believe they are next: the server stores one chain, refuses the other entirely."""
    dep = log_dep
    key = load_or_create_signing_key(dep.state_dir / "keys")
    nc = await dep.connect(ROUTER)
    pipeline = AckPipeline(nc)
    try:
        results = []
        for who in ("first", "second"):  # both built on the empty log, after stream seq 0
            built = build_batch(
                [draft(1 if who == "first" else 2).record], size=0, frontier=CompactRange(), after=0, term=1,
                ingest_high=0, key=key,
            )  # fmt: skip
            results.append(await pipeline.publish(chain(built.messages, who, 0), 5))
        assert [r.seq for r in results[0]] == list(range(1, len(results[0]) + 1))
        codes = [r.error.err_code for r in results[1] if isinstance(r, PublishRefused)]
        assert codes == [10071] + [10070] * (len(results[1]) - 1)  # wrong last sequence, then wrong last msg id
    finally:
        await pipeline.close()
        await nc.close()
    msgs = await stream(dep)
    assert len(msgs) == len(results[0]), "nothing of the refused chain was stored"
    batches, foreign = scan(msgs)
    assert len(batches) == 1 and not foreign


async def test_a_message_slipped_into_an_append_stops_the_rest_of_it_before_its_checkpoint(log_dep):
    dep = log_dep
    key = load_or_create_signing_key(dep.state_dir / "keys")
    ap, nc, admin = await one_entry_beside_the_admin(dep)
    pipeline = AckPipeline(nc)
    try:
        assert ap.state is not None
        after = ap.state.last_seq
        await ap.close()
        built = build_batch(
            [draft(2).record], size=1, frontier=ap.state.frontier, after=after, term=1, ingest_high=0, key=key
        )
        items = chain(built.messages, "cut", after)
        first = await pipeline.publish(items[:1], 5)
        junk = await admin.jetstream().publish("audit.view.polisen", b'{"format": "samband-audit-view/1"}\nx')
        rest = await pipeline.publish(items[1:], 5)
    finally:
        await pipeline.close()
        await nc.close()
        await admin.close()
    assert first[0].seq == after + 1 and junk.seq == after + 2
    assert [r.error.err_code for r in rest if isinstance(r, PublishRefused)] == [10070] * len(rest)
    msgs = await stream(dep)
    assert [s for s, _, _ in msgs][-2:] == [after + 1, after + 2], "nothing after the slipped-in message"
    batches, foreign = scan(msgs)
    assert len(batches) == 1
    assert [(f.seq, f.unfinished) for f in foreign] == [(after + 1, True), (after + 2, False)]
    assert (
        foreign[0].why
        == f"an append that was not finished: stream seq {after + 1}..{after + 1} of the 5 due, no checkpoint"
    )


async def test_a_foreign_message_in_the_stream_is_gone_past_with_a_signed_incident_entry(log_dep):
    dep = log_dep
    ap, nc, admin = await one_entry_beside_the_admin(dep)
    try:
        # written with the admin's rights, behind the writer's back: a junk message on the log's subject
        ack = await admin.jetstream().publish("audit.log", b'{"junk": true}')
        assert await ap.append([draft(2)]) == 1  # not an outage: refused once, read, noted, appended
        assert ap.incidents == 1
        await admin.jetstream().publish("audit.checkpoint", b"not a checkpoint")
    finally:
        await ap.close()
        await nc.close()
        await admin.close()
    # a writer starting on that stream (a restart) goes past the junk at the tail too
    ap, nc = await writer(dep)
    try:
        await ap.start()
        assert await ap.append([draft(3)]) == 1
    finally:
        await ap.close()
        await nc.close()
    batches, foreign = scan(await stream(dep))
    assert [f.seq for f in foreign] == [ack.seq, foreign[1].seq] and len(foreign) == 2
    entries = [ENTRY_DECODER.decode(e) for b in batches for e in b.entries]
    incidents = [e for e in entries if isinstance(e, Incident)]
    assert [(i.index, i.what, i.stream_seqs, i.count) for i in incidents] == [
        (1, "foreign-messages", (ack.seq,), 1),
        (3, "foreign-messages", (foreign[1].seq,), 1),
    ]
    assert incidents[0].found[0].startswith("audit.log ") and incidents[0].found[0].endswith(" 14")
    assert [e.index for e in entries] == [0, 1, 2, 3, 4]


async def test_a_lookup_taken_by_a_writer_that_went_away_before_storing_it_is_in_the_log_within_seconds(log_dep):
    auditor = await log_dep.connect("auditor")
    try:
        seq = await record_lookup(auditor, "auditor", "export-csv", {"region": "syd"}, 1)
    finally:
        await auditor.close()
    nc = await log_dep.connect(ROUTER)
    gone = LookupIntake(nc)
    assert await gone.start()
    got = await gone.fetch(timeout=5.0)
    assert [e.lookup_seq for _, e in got] == [seq]
    await gone.close()
    await nc.close()  # never acked: that delivery went away with it

    w, wnc = await writer(log_dep)
    await w.start()
    try:
        # the consumer's ack wait bounds it: with the 30 s it once had, this waited half a minute
        await wait_for(lambda: _has(log_dep, seq), timeout=12, what="the lookup in the log")
        await asyncio.sleep(LOOKUP_ACK_WAIT + 1)  # a further redelivery, if any, is recognised: stored once
        assert _lookup_seqs(await stream(log_dep)) == [seq]
    finally:
        await w.close()
        await wnc.close()


async def test_a_writer_started_before_the_lookups_stream_existed_drains_it_once_it_is_provisioned(log_dep):
    # a deployment provisioned before the lookups stream: no identity may delete a stream, so it is
    # taken out of the stopped broker's store
    log_dep.stop()
    shutil.rmtree(log_dep.state_dir / "jetstream" / "jetstream" / "ROUTER" / "streams" / AUDIT_LOOKUPS_STREAM)
    log_dep.start()
    w, wnc = await writer(log_dep)
    try:
        await w.start()
        await asyncio.sleep(LOOKUP_BIND_EVERY + 0.5)  # not a timing assertion: it has looked and found none
        await log_dep.provision_audit()  # `samband audit provision`
        auditor = await log_dep.connect("auditor")
        try:
            seq = await record_lookup(auditor, "auditor", "export-csv", {}, 0)
        finally:
            await auditor.close()
        await wait_for(lambda: _has(log_dep, seq), timeout=15, what="the lookup in the log")
    finally:
        await w.close()
        await wnc.close()


def _lookup_seqs(msgs) -> list[int]:
    """The lookups-stream sequence of each `Lookup` entry in the log's messages, in log order."""
    batches, _ = scan(msgs)
    return [e.lookup_seq for b in batches for e in map(ENTRY_DECODER.decode, b.entries) if isinstance(e, Lookup)]


async def _has(dep, seq: int) -> bool:
    return seq in _lookup_seqs(await stream(dep))


async def test_a_second_writer_stands_by_and_takes_over_where_the_first_stopped(log_dep):
    dep = log_dep
    first, nc1 = await writer(dep)
    told: list[str] = []
    second, nc2 = await writer(dep, on_standby=told.append)
    try:
        await first.start()
        await first.append([draft(1), draft(2)])
        standby = asyncio.create_task(second.start())
        await wait_for(lambda: told, timeout=5)
        assert told == [first.lease.holder] and not standby.done()
        await first.close()  # a clean stop gives the lease up: the standby takes over at once
        await asyncio.wait_for(standby, POLL * 4)
        assert await second.append([draft(2), draft(3)]) == 1  # it knows what the first appended
        assert second.state.size == 3 and second.lease.term > first.lease.term
    finally:
        await second.close()
        await nc1.close()
        await nc2.close()


async def test_a_writer_whose_lease_was_taken_appends_nothing_more_and_says_so(log_dep):
    dep = log_dep
    first, nc1 = await writer(dep)
    second, nc2 = await writer(dep)
    admin = await dep.connect(AUDIT_ADMIN)
    try:
        await first.start()
        await first.append([draft(1)])
        # the lease taken away (as when a paused leader's key lapses): another writer takes it
        await admin.jetstream().publish("$KV.AUDIT_LEASE.writer", b"", headers={KV_OP: KV_PURGE, "Nats-Rollup": "sub"})
        await asyncio.wait_for(second.start(), LEASE_TTL)
        await wait_for(lambda: first.lease.lost is not None, timeout=5)
        with pytest.raises(LeaseLost) as exc:
            await first.append([draft(2)])
        assert str(exc.value) == f"lost the audit lease to {second.lease.holder}: this router stops appending"
        assert await second.append([draft(2)]) == 1
        # nor does it say what was audited: the other writer appends past what it knows
        with pytest.raises(LeaseLost):
            await first.audited_after(0)
        assert sorted(await second.audited_after(0)) == [1001, 1002]
    finally:
        await first.close()
        await second.close()
        for nc in (nc1, nc2, admin):
            await nc.close()


async def test_a_writer_that_lost_its_lease_and_stands_by_again_stops_when_told_while_the_other_holds_it(log_dep):
    """The router's `_stand_by` runs `start()` again and cancels it on SIGTERM. That cancellation came
    while `start()` still waited for its lookups' drainer to end, was taken for the drainer's own, and
    `start()` went on to wait for a lease the other writer held: the router never stopped."""
    dep = log_dep
    first, nc1 = await writer(dep)
    second, nc2 = await writer(dep)
    admin = await dep.connect(AUDIT_ADMIN)
    try:
        await first.start()  # the writer: it drains the auditors' lookups from here on
        await admin.jetstream().publish("$KV.AUDIT_LEASE.writer", b"", headers={KV_OP: KV_PURGE, "Nats-Rollup": "sub"})
        await asyncio.wait_for(second.start(), LEASE_TTL)
        await wait_for(lambda: first.lease.lost is not None, timeout=5)
        again = asyncio.create_task(first.start())  # standing by again, as the router does on LeaseLost
        await asyncio.sleep(0)  # one step: it cancelled its drainer and waits for that to end
        again.cancel()  # SIGTERM meanwhile
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(again, 10)  # a deadline: without the fix it waits for the lease forever
        # a standby holds nothing: the other writer goes on appending
        assert await second.append([draft(2)]) == 1
        assert await second.lease.holder_now() == second.lease.holder
    finally:
        await first.close()
        await second.close()
        for nc in (nc1, nc2, admin):
            await nc.close()


async def test_a_leader_that_stops_renewing_stops_appending_before_a_standby_may_take_over(log_dep):
    dep = log_dep
    nc = await dep.connect(ROUTER)
    lease_nc = await dep.connect(ROUTER)
    ap = Appender(nc, key=load_or_create_signing_key(dep.state_dir / "keys"), lease=Lease(lease_nc))
    try:
        await ap.start()
        await ap.append([draft(1)])
        await lease_nc.close()  # its renewals no longer reach the broker (a paused process, a cut link)
        await wait_for(lambda: not ap.lease.fresh(), timeout=LEASE_TTL)
        with pytest.raises(AuditUnavailable) as exc:
            await ap.append([draft(2)])
        assert str(exc.value).startswith("Expected the audit lease renewed within 3.5 s, its last renewal is")
    finally:
        await ap.close()
        await nc.close()


async def test_the_router_asks_what_was_audited_after_its_ack_floor_and_a_restart_audits_nothing_twice(log_dep):
    dep = log_dep
    ap, nc = await writer(dep)
    try:
        await ap.start()
        for i in range(1, 11, 2):
            await ap.append([draft(i), draft(i + 1, "skatteverket")])
        after = await ap.audited_after(1006)
        assert sorted(after) == [1007, 1008, 1009, 1010]
        assert [r.envelope_id for r in after[1008]] == ["env-0008"]
        assert await ap.audited_after(1010) == {}
    finally:
        await ap.close()
        await nc.close()
    ap, nc = await writer(dep)  # a restarted writer reads the tail's pairs back
    try:
        await ap.start()
        assert await ap.append([draft(9), draft(10, "skatteverket"), draft(11)]) == 1
        assert sorted(await ap.audited_after(1009)) == [1010, 1011]
    finally:
        await ap.close()
        await nc.close()


async def test_an_append_cut_short_before_its_checkpoint_is_gone_past_and_the_log_and_every_view_still_verify(
    log_dep, tmp_path
):
    """The router killed mid-append (or the broker gone): the chain's first messages are stored, its
    checkpoint is not. The next writer notes it, appends the same decisions again, and the oversight,
    the agencies and their indexes all read the log as if it had never been tried."""
    dep = log_dep
    key = load_or_create_signing_key(dep.state_dir / "keys")
    ap, nc = await writer(dep)
    pipeline = AckPipeline(nc)
    try:
        await ap.start()
        await ap.append([draft(1), draft(2, "skatteverket")])
        assert ap.state is not None
        after, frontier = ap.state.last_seq, ap.state.frontier
        await ap.close()
        built = build_batch(
            [draft(3, "skatteverket").record], size=2, frontier=frontier, after=after, term=1, ingest_high=0, key=key
        )
        items = chain(built.messages, "killed", after)
        assert [s for s, _, _ in items] == [
            "audit.log",
            "audit.tree",
            "audit.view.polisen",
            "audit.view.skatteverket",
            "audit.checkpoint",
        ]
        await pipeline.publish(items[:-1], 5)  # all but its checkpoint
    finally:
        await pipeline.close()
        await nc.close()
    ap, nc = await writer(dep)
    try:
        with capture_logs() as logs:
            await ap.start()
            assert await ap.append([draft(3, "skatteverket"), draft(4)]) == 2
        assert ap.incidents == 1
    finally:
        await ap.close()
        await nc.close()
    assert [e["event"] for e in logs if e["log_level"] in ("warning", "error")] == [
        "an audit append cut short before its checkpoint: noted in a signed incident entry and gone past",
        "foreign messages in the audit stream noted in a signed incident entry",
    ]
    cut = f"an append that was not finished: stream seq {after + 1}..{after + 4} of the 5 due, no checkpoint"
    batches, foreign = scan(await stream(dep))
    assert [(f.seq, f.unfinished, f.why) for f in foreign] == [(after + k, True, cut) for k in range(1, 5)]
    entries = [ENTRY_DECODER.decode(e) for b in batches for e in b.entries]
    assert [type(e).__name__ for e in entries] == [
        "AuditRecord",
        "AuditRecord",
        "Incident",
        "AuditRecord",
        "AuditRecord",
    ]
    assert (entries[2].what, entries[2].count, entries[2].stream_seqs) == (
        "unfinished-append",
        4,
        tuple(range(after + 1, after + 5)),
    )
    assert entries[2].detail == (
        f"4 message(s) on the audit subjects of an append cut short before its checkpoint (not in the log) "
        f"(stream seq {after + 1}..{after + 4}); the writer went on after them"
    )

    result = await verify_deployment_log(dep)  # the oversight reads log, tree and checkpoints, not the views
    assert result.ok and result.entries == 5, str(result)
    assert result.notes == [f"{cut}: not in the log (no checkpoint vouches for it)"]
    said = await audit_cli(dep, "verify")  # what a security chief reads: OK, and the note under it
    assert said.exit_code == 0 and said.output.startswith("OK: 5 entries, tree size 5")
    assert f"\n  note: {cut}: not in the log (no checkpoint vouches for it)\n" in said.output
    console = Backend(dep.state_dir, "auditor")  # and on the console's integrity page: green, with the note
    await console.start()
    try:
        page = await integrity(console, dt.timedelta(hours=1))
    finally:
        await console.close()
    assert page.ok and not page.red and page.notes == result.notes

    verifier = key.verifier
    for agency, theirs in (
        ("skatteverket", ["env-0002", "env-0003"]),
        ("polisen", ["env-0001", "env-0002", "env-0003", "env-0004"]),
    ):
        identity = f"auditor-{agency}"
        anc = await dep.connect(identity)
        try:
            view = await read_view(anc, agency, identity)
            assert [ENTRY_DECODER.decode(e).envelope_id for e in view.entries] == theirs, agency
            assert len(view.leaves) == 5 and not view.problems
            assert view.notes == [
                f"an append that was not finished: stream seq {after + 2}..{after + 5} (leaf hashes from 2, 1 "
                f"entries in {agency}'s view): not in the log (no checkpoint vouches for it)"
            ]
            (tmp_path / agency).mkdir()
            checked = await verify_online(anc, identity, tmp_path / agency, verifier)
            assert checked is not None and checked.ok and checked.entries == len(theirs), str(checked)
            with IndexStore(tmp_path / agency / "index") as store:
                assert await catch_up(anc, store, verifier, identity) == len(theirs)
                assert store.size == 5
        finally:
            await anc.close()
    anc = await dep.connect("auditor")
    try:
        with IndexStore(tmp_path / "oversight-index") as store:
            assert await catch_up(anc, store, verifier, "auditor") == 5
    finally:
        await anc.close()


async def test_a_writer_closes_even_when_its_lookups_drainer_lets_a_cancel_go_by(log_dep):
    """Python 3.11's `asyncio.wait_for`, inside nats-py's fetch, loses a cancel that comes as its message
    does; the drainer then fetches on. Closing asks again until it ends, instead of waiting forever."""
    ap, nc = await writer(log_dep)
    let_go = 0

    async def drainer() -> None:
        nonlocal let_go
        while True:
            try:
                await asyncio.sleep(0.05)
            except asyncio.CancelledError:
                if let_go < 2:  # as a fetch answered at the moment it is cancelled: goes on fetching
                    let_go += 1
                    continue
                raise

    try:
        ap._drainer = asyncio.create_task(drainer())
        await asyncio.sleep(0.01)
        await asyncio.wait_for(ap._stop_draining(), 5)
        assert let_go == 2 and ap._drainer is None
    finally:
        await nc.close()


async def test_a_decision_in_a_forged_whole_append_is_still_audited_by_the_writer(log_dep, tmp_path):
    """Someone with the admin's rights appends a whole append of their own (its checkpoint signed by
    another key) holding a pair the router is about to audit: the writer does not take it for audited."""
    dep = log_dep
    ap, nc, admin = await one_entry_beside_the_admin(dep)
    try:
        assert ap.state is not None
        after, frontier = ap.state.last_seq, ap.state.frontier
        await ap.close()
        other = load_or_create_signing_key(tmp_path / "other-keys")
        forged = build_batch(
            [draft(2, "skatteverket").record], size=1, frontier=frontier, after=after, term=1, ingest_high=0, key=other
        )
        for subject, body in forged.messages:
            await admin.jetstream().publish(subject, body)
    finally:
        await nc.close()
        await admin.close()
    ap, nc = await writer(dep)
    try:
        await ap.start()
        assert not ap.audited("env-0002:skatteverket")
        assert await ap.append([draft(2, "skatteverket")]) == 1
        assert ap.incidents == 1
    finally:
        await ap.close()
        await nc.close()
    assert (await verify_deployment_log(dep)).entries == 3  # draft 1, the incident, draft 2
