"""Agencies cannot read or write each other's data except through the router (real nats-server)."""

from __future__ import annotations

import asyncio
import itertools

import nats

from samband.broker_config import AUDIT_ADMIN, AUDITOR, JS_DENY_DESTRUCTIVE, ROUTER, SSO, STEWARD

from .._support import wait_for


async def _stream_counts(dep, slugs) -> tuple[dict[str, int], int]:
    """Messages in every agency's INBOX, and in the router's INGEST."""
    inbox = {}
    for slug in slugs:
        nc = await dep.connect(slug)
        try:
            inbox[slug] = (await nc.jetstream().stream_info("INBOX")).state.messages
        finally:
            await nc.close()
    nc = await dep.connect(ROUTER)
    try:
        ingest = sum([(await nc.jetstream().stream_info(f"INGEST_{slug}")).state.messages for slug in slugs])
    finally:
        await nc.close()
    return inbox, ingest


async def test_no_agency_can_publish_subscribe_or_destroy_across_accounts_for_every_ordered_pair(bus):
    slugs = sorted(bus.agencies)
    assert len(slugs) >= 12
    inbox_before, ingest_before = await _stream_counts(bus, slugs)
    violations: dict[str, list[str]] = {s: [] for s in slugs}
    conns: dict[str, nats.NATS] = {}

    def collector(slug):
        async def cb(exc):
            violations[slug].append(str(exc))

        return cb

    conns = dict(zip(slugs, await asyncio.gather(*(bus.connect(s, error_cb=collector(s)) for s in slugs))))
    expected: dict[str, set[str]] = {s: set() for s in slugs}
    try:
        for a, b in itertools.permutations(slugs, 2):
            nc = conns[a]
            # B's outbound as the router sees it, and B's inbox as the router reaches it.
            for subject in (f"ingest.{b}.police.vehicle_control", f"inbox.{b}.police.vehicle_control"):
                await nc.publish(subject, b'{"forged": true}')
                expected[a].add(f'nats: permissions violation for publish to "{subject}"')
                await nc.subscribe(subject.rsplit(".", 2)[0] + ".>")
                expected[a].add(f'nats: permissions violation for subscription to "{subject.rsplit(".", 2)[0]}.>"')
        for a, nc in conns.items():
            # Its own inbox is written by the router only; its streams and the audit trail cannot be destroyed.
            await nc.publish("in.police.vehicle_control", b"{}")
            await nc.subscribe("in.>")
            expected[a] |= {
                'nats: permissions violation for publish to "in.police.vehicle_control"',
                'nats: permissions violation for subscription to "in.>"',
            }
            for api in JS_DENY_DESTRUCTIVE:
                for stream in ("AUDIT", "INBOX"):
                    subject = api.replace(">", stream)
                    await nc.publish(subject, b'{"seq": 1}', reply=nc.new_inbox())
                    expected[a].add(f'nats: permissions violation for publish to "{subject.lower()}"')
            # The audit trail is not even visible from an agency account (nor any stream but its own two).
            for stream in ("AUDIT", f"INGEST_{a}"):
                await nc.publish(f"$JS.API.STREAM.INFO.{stream}", b"", reply=nc.new_inbox())
                expected[a].add(f'nats: permissions violation for publish to "$js.api.stream.info.{stream.lower()}"')
        await asyncio.gather(*(nc.flush() for nc in conns.values()))

        def all_refused():
            return all(expected[s] <= set(violations[s]) for s in slugs)

        await wait_for(all_refused, timeout=10)
        assert sum(len(v) for v in expected.values()) >= 12 * 11 * 4
        assert all(nc.is_connected for nc in conns.values())
    finally:
        await asyncio.gather(*(nc.close() for nc in conns.values()))
    # Nothing forged reached any inbox or the router's input.
    inbox_after, ingest_after = await _stream_counts(bus, slugs)
    assert {s: inbox_after[s] - inbox_before[s] for s in slugs if inbox_after[s] != inbox_before[s]} == {}
    assert ingest_after == ingest_before


async def _refused(dep, identity: str, subjects: list[str], payload: bytes = b"{}") -> list[str]:
    """Publish to each of ``subjects`` as ``identity``; the server's permission errors, sorted."""
    errors: list[str] = []

    async def cb(exc):
        errors.append(str(exc))

    nc = await dep.connect(identity, error_cb=cb)
    try:
        for subject in subjects:
            await nc.publish(subject, payload, reply=nc.new_inbox())
        await nc.flush()
        await wait_for(lambda: len(errors) >= len(subjects), timeout=5)
        return sorted(errors)
    finally:
        await nc.close()


async def test_the_audit_trail_refuses_delete_and_purge_even_for_the_router_and_the_auditor(bus):
    for identity in (ROUTER, AUDITOR):
        # what delete_stream, purge_stream and delete_msg send
        errors = await _refused(
            bus, identity, [api.replace(">", "AUDIT") for api in JS_DENY_DESTRUCTIVE], b'{"seq": 1}'
        )
        assert errors == sorted(
            f'nats: permissions violation for publish to "$js.api.stream.{op}.audit"'
            for op in ("delete", "purge", "msg.delete")
        )
    nc = await bus.connect(ROUTER)
    try:
        cfg = (await nc.jetstream().stream_info("AUDIT")).config
        assert (cfg.deny_delete, cfg.deny_purge, cfg.allow_rollup_hdrs) == (True, True, False)
    finally:
        await nc.close()


async def test_no_runtime_identity_can_change_the_audit_streams_and_the_audit_admin_can(bus):
    # what update_stream and add_stream send; a lower max_msgs with discard=old would drop the oldest entries
    streams = ("AUDIT", "AUDIT_WITNESS", "KV_AUDIT_LEASE")
    apis = [f"$JS.API.STREAM.{op}.{s}" for s in streams for op in ("UPDATE", "CREATE")]
    for identity in (ROUTER, STEWARD, AUDITOR, "auditor-polisen", "witness-polisen"):
        errors = await _refused(bus, identity, apis)
        assert errors == sorted(f'nats: permissions violation for publish to "{api.lower()}"' for api in apis), identity
    nc = await bus.connect(AUDIT_ADMIN)
    try:
        js = nc.jetstream()
        info = await js.stream_info("AUDIT")
        updated = await js.update_stream(info.config)  # unchanged, but allowed: the provisioning identity
        assert updated.config.name == "AUDIT" and updated.config.deny_delete and not updated.config.allow_atomic
    finally:
        await nc.close()


async def test_only_the_writer_may_publish_on_the_audit_subjects(bus):
    subjects = [
        "audit.log",
        "audit.tree",
        "audit.view.polisen",
        "audit.checkpoint",
        "audit.cosignature.polisen",
        "$KV.AUDIT_LEASE.writer",
    ]
    for identity in (STEWARD, AUDITOR, "auditor-polisen", "witness-tullverket"):
        errors = await _refused(bus, identity, subjects, b'{"forged": true}')
        assert errors == sorted(f'nats: permissions violation for publish to "{s.lower()}"' for s in subjects), identity
    # a witness may write its own cosignatures, and no other agency's; the writer may write none
    errors = await _refused(bus, ROUTER, ["audit.cosignature.polisen"])
    assert errors == ['nats: permissions violation for publish to "audit.cosignature.polisen"']


async def test_only_sso_publishes_council_decisions_and_sso_reaches_no_agency(bus):
    seen: dict[str, list[str]] = {"sso": [], "polisen": []}

    def collector(who):
        async def cb(exc):
            seen[who].append(str(exc))

        return cb

    sso = await bus.connect(SSO, error_cb=collector("sso"))
    polisen = await bus.connect("polisen", error_cb=collector("polisen"))
    try:
        for subject in (
            "inbox.polisen.police.incident",
            "ingest.polisen.police.incident",
            "audit.log",
            "registry.agencies.x",
        ):
            await sso.publish(subject, b"{}")
        await polisen.publish("decisions.cooption.forged", b"{}")
        await sso.flush()
        await polisen.flush()
        await wait_for(lambda: len(seen["sso"]) >= 4 and len(seen["polisen"]) >= 1, timeout=5)
        assert sorted(seen["sso"]) == sorted(
            f'nats: permissions violation for publish to "{s}"'
            for s in (
                "inbox.polisen.police.incident",
                "ingest.polisen.police.incident",
                "audit.log",
                "registry.agencies.x",
            )
        )
        assert seen["polisen"] == ['nats: permissions violation for publish to "decisions.cooption.forged"']
    finally:
        await sso.close()
        await polisen.close()
