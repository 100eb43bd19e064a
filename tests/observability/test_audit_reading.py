"""An agency's security chief reads exactly the entries its agency is origin or recipient of, and the
broker, not the client, is what keeps it from reading more."""

from __future__ import annotations

import json

import pytest

from samband.observability.audit import ENTRY_DECODER, read_view

from .._support import audit_entries, wait_for
from .test_audit_writer import draft, writer


@pytest.fixture
async def log_dep(fresh_deployment):
    dep = fresh_deployment
    await dep.provision()
    ap, nc = await writer(dep)
    try:
        await ap.start()
        await ap.append([draft(1), draft(2, "skatteverket"), draft(3, "skatteverket", origin="tullverket")])
        await ap.append([draft(4, "kronofogden")])
    finally:
        await ap.close()
        await nc.close()
    return dep


async def test_each_agency_reads_its_own_entries_and_the_oversight_reads_all(log_dep):
    everyone = await audit_entries(log_dep)
    assert len(everyone) == 4
    for agency in ("polisen", "tullverket", "skatteverket", "kronofogden", "migrationsverket"):
        identity = f"auditor-{agency}"
        nc = await log_dep.connect(identity)
        try:
            view = await read_view(nc, agency, identity)
        finally:
            await nc.close()
        got = [ENTRY_DECODER.decode(e) for e in view.entries]
        assert [(r.index, r.envelope_id) for r in got] == [
            (r.index, r.envelope_id) for r in everyone if agency in (r.origin, r.recipient)
        ], agency
        assert len(view.leaves) == 4 and len(view.checkpoints) == 2 and not view.problems


async def requests(dep, identity: str, asks: list[tuple[str, bytes]]) -> tuple[list[str], list[bytes]]:
    """Send each (subject, body) as ``identity`` with a reply: the permission errors, and the replies."""
    errors: list[str] = []

    async def cb(exc):
        errors.append(str(exc))

    nc = await dep.connect(identity, error_cb=cb)
    replies: list[bytes] = []

    async def on_reply(msg) -> None:
        replies.append(msg.data)

    try:
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox + ".>", cb=on_reply)
        for i, (subject, body) in enumerate(asks):
            await nc.publish(subject, body, reply=f"{inbox}.{i}")
        await nc.flush()
        await wait_for(lambda: len(errors) + len(replies) >= len(asks), timeout=5)
        await sub.unsubscribe()
        return sorted(errors), replies
    finally:
        await nc.close()


def create(name: str, subject_filter: str, body_filter: dict) -> tuple[str, bytes]:
    config = {"name": name, "ack_policy": "none", "deliver_policy": "all", "mem_storage": True, **body_filter}
    return f"$JS.API.CONSUMER.CREATE.AUDIT.{name}.{subject_filter}", json.dumps(
        {"stream_name": "AUDIT", "config": config}
    ).encode()


async def test_an_agencys_auditor_cannot_reach_other_entries_by_any_api(log_dep):
    name = "auditor-tullverket-0"
    refused = [
        create(name, "audit.view.skatteverket", {"filter_subject": "audit.view.skatteverket"}),  # another's view
        create(name, "audit.log", {"filter_subject": "audit.log"}),  # the bundles of everyone
        ("$JS.API.CONSUMER.CREATE.AUDIT", b"{}"),  # a consumer without a filter in its subject
        (f"$JS.API.CONSUMER.CREATE.AUDIT.{name}", b"{}"),
        ("$JS.API.CONSUMER.DURABLE.CREATE.AUDIT.d", b"{}"),
        ("$JS.API.DIRECT.GET.AUDIT", b'{"seq": 1}'),  # any message by sequence
        ("$JS.API.DIRECT.GET.AUDIT.audit.log", b""),  # the last bundle
        ("$JS.API.STREAM.MSG.GET.AUDIT", b'{"seq": 1}'),
        ("$JS.API.STREAM.INFO.AUDIT", b""),  # counts per subject would tell who was audited how often
        ("$JS.API.CONSUMER.MSG.NEXT.AUDIT.auditor-skatteverket-0", b"{}"),  # another agency's consumer
        ("$JS.API.CONSUMER.LIST.AUDIT", b"{}"),
    ]
    errors, _ = await requests(log_dep, "auditor-tullverket", refused)
    assert errors == sorted(f'nats: permissions violation for publish to "{s.lower()}"' for s, _ in refused)
    # under its own name and filter subject, the server still refuses a body that asks for more
    sneaky = [
        create(name, "audit.view.tullverket", {"filter_subject": "audit.log"}),
        create(name, "audit.view.tullverket", {"filter_subjects": ["audit.view.tullverket", "audit.log"]}),
        create(name, "audit.view.tullverket", {"filter_subject": "audit.view.>"}),
    ]
    errors, replies = await requests(log_dep, "auditor-tullverket", sneaky)
    assert errors == []
    codes = sorted(json.loads(r)["error"]["err_code"] for r in replies)
    assert codes == [10131, 10131, 10137]  # filter not the one in the subject; several filters


async def test_an_agencys_auditor_cannot_listen_to_anyone_elses_replies(log_dep):
    errors: list[str] = []

    async def cb(exc):
        errors.append(str(exc))

    nc = await log_dep.connect("auditor-tullverket", error_cb=cb)
    try:
        for subject in ("_INBOX.>", "_INBOX_auditor.>", "_INBOX_auditor-skatteverket.>", "audit.>"):
            await nc.subscribe(subject)
        await nc.flush()
        await wait_for(lambda: len(errors) >= 4, timeout=5)
    finally:
        await nc.close()
    assert sorted(errors) == sorted(
        f'nats: permissions violation for subscription to "{s.lower()}"'
        for s in ("_INBOX.>", "_INBOX_auditor.>", "_INBOX_auditor-skatteverket.>", "audit.>")
    )
