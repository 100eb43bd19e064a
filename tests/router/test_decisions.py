"""Governance is signed data: the router admits a council's decision only with a valid signature from the
council whose scope covers it, once, in order; everything else is refused, kept with the reason, and
never stops the router, live or on replay (a real nats-server; the abuse tests beside the stories)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import random

import msgspec
import nats.js.errors
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from samband._platform import Platform
from samband.broker_config import ROUTER, SSO
from samband.router import CouncilKeys, LivePolicy, create_council_keys, load_private_key, sign_decision
from samband.schemas import AgencyRegistration, CooptionDecision, Envelope, OperationDecision, encode, new_envelope_id

from .._support import SHIPPED, overload_report, vehicle_control, wait_for

NOW = _dt.datetime.now(_dt.UTC)
VC_FIELDS = ("control_id", "controlled_at", "location", "vehicle", "vehicle_kind")


def grant(
    grant_id: str = "bacchus-kbv",
    agency: str = "kustbevakningen",
    *,
    operation: str = "bacchus-2017",
    region: str = "syd",
    decided_by: str = "RSR Syd",
    issued: _dt.datetime | None = None,
    revoked: bool = False,
    record_types: tuple[str, ...] = ("police.vehicle_control",),
    fields: tuple[str, ...] = VC_FIELDS,
    regions: tuple[str, ...] = (),
) -> Envelope:
    rec = CooptionDecision(
        grant_id=grant_id,
        agency=agency,
        operation=operation,
        record_types=record_types,
        fields=fields,
        valid_from=NOW - _dt.timedelta(hours=1),
        valid_to=NOW + _dt.timedelta(days=1),
        decided_by=decided_by,
        reason="crews of the liquor buses' ferries",
        legal_basis="OSL 2009:400 10 kap. 27 §",
        revoked=revoked,
        regions=regions,  # type: ignore[arg-type]
    )
    return Envelope(
        id=new_envelope_id(),
        record=rec,
        region=region,
        operation=operation,
        produced_at=issued or NOW,  # type: ignore[arg-type]
    )


def amendment(live: LivePolicy, op_id: str, *, region: str | None = None, **changes) -> Envelope:
    op = live.current.data.operations[op_id]
    fields = {f: getattr(op, f) for f in op.__struct_fields__}
    fields.update(changes)
    rec = OperationDecision(operation=op_id, **fields)
    return Envelope(id=new_envelope_id(), record=rec, region=region or rec.scope, operation=op_id, produced_at=NOW)


def signed(dep, env: Envelope, council: str = "rsr-syd") -> tuple[bytes, dict[str, str]]:
    body = encode(env)
    return body, sign_decision(load_private_key(dep.state_dir / "councils", council), council, body)


async def publish(dep, body: bytes, headers: dict[str, str] | None, subject: str = "decisions.cooption.x") -> int:
    """As SSO, exactly these bytes and headers (an attacker with SSO's credentials controls both)."""
    nc = await dep.connect(SSO)
    try:
        return (await nc.jetstream().publish(subject, body, headers=headers)).seq
    finally:
        await nc.close()


@contextlib.asynccontextmanager
async def following(dep, *, councils: CouncilKeys | None = None):
    """A live policy following the deployment's streams, as the router runs it."""
    live = LivePolicy(SHIPPED, councils=councils if councils is not None else create_council_keys(dep.state_dir))
    nc = await dep.connect(ROUTER)
    try:
        await live.start(nc, asyncio.Event(), watch=False)
        yield live
    finally:
        await live.close()
        await nc.close()


def verdicts(live: LivePolicy) -> list[tuple[str, bool, str]]:
    return [(e.ref, e.accepted, e.reason) for e in live.history]


@pytest.fixture
async def governed(fresh_deployment):
    await fresh_deployment.provision()
    create_council_keys(fresh_deployment.state_dir)
    return fresh_deployment


# ---- the story ----------------------------------------------------------------------------
async def test_a_decision_signed_by_its_council_is_admitted_and_named_by_stream_and_sequence(governed):
    async with following(governed) as live:
        before = live.version
        seq = await publish(governed, *signed(governed, grant()))
        await wait_for(lambda: live.version != before)
        d = live.current.decide(vehicle_control(), "kustbevakningen", NOW)
        assert (d.allow, d.rule) == (True, "cooption.bacchus-kbv")
        [entry] = live.history
        assert (entry.ref, entry.accepted, entry.council, entry.action, entry.target) == (
            f"DECISIONS#{seq}",
            True,
            "rsr-syd",
            "grant",
            "bacchus-kbv",
        )
        assert live.authority("cooption", "bacchus-kbv") == entry


# ---- abuse: scope ---------------------------------------------------------------------------
async def test_rsr_syd_cannot_decide_for_an_operation_in_mitt(governed):
    async with following(governed) as live:
        version = live.version
        in_mitt = amendment(live, "mitt-valfard-2020", valid_to=None, decided_by="RSR Syd")
        await publish(governed, *signed(governed, in_mitt, "rsr-syd"))
        hidden = amendment(live, "mitt-valfard-2020", region="syd", valid_to=None, decided_by="RSR Syd")
        await publish(governed, *signed(governed, hidden, "rsr-syd"))
        moved = amendment(live, "mitt-valfard-2020", region="syd", scope="syd", decided_by="RSR Syd")
        await publish(governed, *signed(governed, moved, "rsr-syd"))
        into_mitt = grant(operation="mitt-valfard-2020", record_types=("tax.reassessment",), fields=("decision_id",))
        await publish(governed, *signed(governed, into_mitt, "rsr-syd"))
        await wait_for(lambda: len(live.history) == 4)
    assert live.version == version
    assert [(accepted, reason) for _, accepted, reason in verdicts(live)] == [
        (False, "Expected a decision within rsr-syd's scope (syd), got one for region `mitt` - at `$.region`"),
        (
            False,
            "Expected a decision within rsr-syd's scope (syd), got an operation in `mitt` (decided by rsr-mitt) "
            "- at `$.record.scope`",
        ),
        (
            False,
            "Expected a decision within rsr-syd's scope (syd), got operation mitt-valfard-2020 of `mitt` "
            "(decided by RSR Mitt) - at `$.record.operation`",
        ),
        (
            False,
            "Expected a decision within rsr-syd's scope (syd), got a grant in operation mitt-valfard-2020 of `mitt` "
            "- at `$.record.operation`",
        ),
    ]
    assert live.rejected[0].startswith("decisions.cooption.x (#1): Expected a decision within rsr-syd's scope")


async def test_operativa_radet_decides_for_national_operations_only(governed):
    async with following(governed) as live:
        national = amendment(live, "np-strategiska-personer", valid_to=_dt.date(2030, 12, 31))
        await publish(governed, *signed(governed, national, "operativa-radet"))
        in_syd = amendment(live, "bacchus-2017", status="closed", decided_by="Operativa rådet")
        await publish(governed, *signed(governed, in_syd, "operativa-radet"))
        await wait_for(lambda: len(live.history) == 2)
    [(_, admitted, _), (_, refused, reason)] = verdicts(live)
    assert admitted and not refused
    assert (
        reason
        == "Expected a decision within operativa-radet's scope (national), got one for region `syd` - at `$.region`"
    )
    assert live.current.operation("np-strategiska-personer").valid_to == _dt.date(2030, 12, 31)
    assert live.current.operation("bacchus-2017").status == "active"


async def test_a_decision_must_name_the_council_that_signed_it(governed):
    async with following(governed) as live:
        await publish(governed, *signed(governed, grant(decided_by="Operativa rådet"), "rsr-syd"))
        await wait_for(lambda: live.history)
    assert verdicts(live)[0][1:] == (
        False,
        "Expected `decided_by` RSR Syd (the council that signed), got `Operativa rådet` - at `$.record.decided_by`",
    )


# ---- abuse: signatures ------------------------------------------------------------------------
async def test_a_decision_altered_after_signing_is_refused(governed):
    async with following(governed) as live:
        body, headers = signed(governed, grant(fields=VC_FIELDS))
        widened = body.replace(b'"vehicle_kind"]', b'"vehicle_kind","driver"]')
        assert widened != body
        await publish(governed, widened, headers)
        await wait_for(lambda: live.history)
    assert verdicts(live)[0][1:] == (
        False,
        "Expected a valid signature of rsr-syd over the decision, got one that does not verify (the message was "
        "altered after signing, or signed with another key)",
    )
    assert "bacchus-kbv" not in live.current.data.grants


async def test_a_decision_signed_with_a_key_that_is_not_a_councils_is_refused(governed):
    async with following(governed) as live:
        body = encode(grant())
        await publish(governed, body, sign_decision(Ed25519PrivateKey.generate(), "rsr-syd", body))
        await publish(governed, body, {**sign_decision(Ed25519PrivateKey.generate(), "sso", body)})
        await publish(governed, body, None)
        await publish(governed, body, {"Samband-Council": "rsr-syd"})
        await publish(governed, body, {"Samband-Council": "rsr-syd", "Samband-Signature": "ed25519:AAAA"})
        await publish(governed, body, {"Samband-Council": "rsr-syd", "Samband-Signature": "rsa:" + "x" * 500})
        await wait_for(lambda: len(live.history) == 6)
    council_list = "rsr-nord, rsr-mitt, rsr-bergslagen, rsr-stockholm, rsr-ost, rsr-vast, rsr-syd, operativa-radet"
    assert [reason for _, _, reason in verdicts(live)] == [
        "Expected a valid signature of rsr-syd over the decision, got one that does not verify (the message was "
        "altered after signing, or signed with another key)",
        f"Expected a council ({council_list}), got `sso` - at `Samband-Council`",
        "Expected a `Samband-Council` header naming the deciding council, got none",
        "Expected a `Samband-Signature` header with rsr-syd's signature, got none",
        "Expected a 64-byte Ed25519 signature, got 3 bytes - at header `Samband-Signature`",
        "Expected `Samband-Signature` as ed25519:<base64>, got `rsa:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx`",
    ]
    assert not any(accepted for _, accepted, _ in verdicts(live))


async def test_without_trusted_council_keys_every_decision_is_refused(governed):
    async with following(governed, councils=CouncilKeys()) as live:
        await publish(governed, *signed(governed, grant()))
        await wait_for(lambda: live.history)
    assert verdicts(live)[0][2] == "Expected a council whose public key the router trusts (none trusted), got `rsr-syd`"


# ---- abuse: replay, order, time ----------------------------------------------------------------
async def test_a_replayed_old_decision_is_refused_and_the_revocation_stands(governed):
    async with following(governed) as live:
        granted = signed(governed, grant(issued=NOW - _dt.timedelta(minutes=2)))
        await publish(governed, *granted)
        await publish(governed, *signed(governed, grant(revoked=True, issued=NOW - _dt.timedelta(minutes=1))))
        # the attacker re-sends the grant's exact signed bytes (a new Nats-Msg-Id gets past the stream's dedupe)
        await publish(governed, granted[0], {**granted[1], "Nats-Msg-Id": "replay-1"})
        await wait_for(lambda: len(live.history) == 3)
    (_, ok1, _), (_, ok2, _), (_, replayed, reason) = verdicts(live)
    assert ok1 and ok2 and not replayed
    env = msgspec.json.decode(granted[0])
    assert (
        reason
        == f"Expected a decision not admitted before, got {env['id']} again (admitted as DECISIONS#1) - at `$.id`"
    )
    assert live.current.data.grants["bacchus-kbv"].revoked
    assert not live.current.decide(vehicle_control(), "kustbevakningen", NOW).allow


async def test_a_decision_issued_before_the_one_in_force_is_refused_when_it_arrives_late(governed):
    async with following(governed) as live:
        earlier = grant(issued=NOW - _dt.timedelta(minutes=10), fields=(*VC_FIELDS, "driver"))
        later = grant(issued=NOW - _dt.timedelta(minutes=5))
        await publish(governed, *signed(governed, later))
        await publish(governed, *signed(governed, earlier))
        await wait_for(lambda: len(live.history) == 2)
    assert verdicts(live)[1][2] == (
        f"Expected a decision issued after the one in force for bacchus-kbv (DECISIONS#1, issued "
        f"{later.produced_at.isoformat()}), got one issued {earlier.produced_at.isoformat()} - at `$.produced_at`"
    )
    assert live.current.data.grants["bacchus-kbv"].fields == VC_FIELDS


async def test_a_decision_issued_in_the_future_is_refused(governed):
    async with following(governed) as live:
        await publish(governed, *signed(governed, grant(issued=NOW + _dt.timedelta(hours=1))))
        await wait_for(lambda: live.history)
    [(_, accepted, reason)] = verdicts(live)
    assert not accepted and reason.startswith("Expected a decision issued before it was stored (")


# ---- abuse: garbage and size ----------------------------------------------------------------------
async def test_garbage_on_decisions_never_stops_the_router(governed, tmp_path):
    live = LivePolicy(SHIPPED, councils=create_council_keys(governed.state_dir))
    platform = Platform(governed, live, tmp_path / "received")
    router = await platform.start_router()
    sink = await platform.start_sink("kustbevakningen")
    rng = random.Random(16)
    try:
        junk = [
            b"",
            bytes(rng.getrandbits(8) for _ in range(3000)),
            b"{}",
            b'{"id": 1}',
            b"[" * 10_000,
            msgspec.json.encode(AgencyRegistration(slug="x", name="x", tier="core")),
            encode(overload_report()),  # a record, not a decision
        ]
        for body in junk:
            await publish(governed, body, {"Samband-Council": "rsr-syd", "Samband-Signature": "ed25519:" + "A" * 88})
            await publish(governed, body, None, subject="decisions.x")
        wrong_type = overload_report()
        await publish(governed, *signed(governed, wrong_type))  # validly signed, but not a decision
        await publish(governed, *signed(governed, grant()))
        await wait_for(lambda: "bacchus-kbv" in live.grants, timeout=20)
        env = vehicle_control(random.Random(5))
        nc = await governed.connect("polisen")
        try:
            await nc.jetstream().publish(
                "out.police.vehicle_control", encode(msgspec.structs.replace(env, origin=None))
            )
        finally:
            await nc.close()
        await wait_for(lambda: len(sink) >= 1, timeout=20)
    finally:
        await platform.stop()
    refused = [e for e in live.history if not e.accepted]
    assert len(refused) == 2 * len(junk) + 1 and router.stats.records >= 1
    assert refused[-1].reason == (
        "Expected a council.operation_decision or council.cooption_decision, got `police.overload_report` "
        "- at `$.record.type`"
    )


async def test_a_huge_decision_is_refused_by_the_stream_and_by_the_router(governed):
    env = grant(fields=VC_FIELDS)
    huge = msgspec.structs.replace(env, record=msgspec.structs.replace(env.record, reason="x" * 100_000))
    body, headers = signed(governed, huge)
    with pytest.raises(nats.js.errors.APIError):
        await publish(governed, body, headers)  # the DECISIONS stream takes no message over 64 KiB
    async with following(governed) as live:
        assert live.apply_decision(body, headers=headers, seq=7) is False  # nor does the router read one
    assert verdicts(live) == [
        ("DECISIONS#7", False, f"Expected a decision of at most 65536 bytes, got {len(body)} bytes")
    ]


# ---- replay safety ----------------------------------------------------------------------------------
async def test_a_restarted_router_rebuilds_the_same_policy_and_skips_the_bad_decisions_already_in_the_stream(governed):
    refusals: list[tuple[str, bool]] = []
    async with following(governed) as live:
        live.refusal_listeners.append(lambda e, replaying: refusals.append((e.ref, replaying)))
        await publish(governed, *signed(governed, grant("g1", issued=NOW - _dt.timedelta(minutes=3))))
        await publish(governed, encode(grant("g2")), None)  # unsigned
        await publish(governed, *signed(governed, grant("g3", operation="mitt-valfard-2020", region="mitt"), "rsr-syd"))
        await publish(governed, b"\xff\xfe garbage", None)
        await publish(governed, *signed(governed, grant("g1", revoked=True, issued=NOW - _dt.timedelta(minutes=2))))
        await publish(governed, *signed(governed, grant("g4", agency="tullverket_lab")))  # an agency not registered yet
        await wait_for(lambda: len(live.history) == 6)
        version, history = live.version, verdicts(live)
    assert [accepted for _, accepted, _ in history] == [True, False, False, False, True, True]
    assert refusals == [("DECISIONS#2", False), ("DECISIONS#3", False), ("DECISIONS#4", False)]

    again_refused: list[tuple[str, bool]] = []
    again = LivePolicy(SHIPPED, councils=CouncilKeys.of_state(governed.state_dir))
    again.refusal_listeners.append(lambda e, replaying: again_refused.append((e.ref, replaying)))
    nc = await governed.connect(ROUTER)
    try:
        await again.start(nc, asyncio.Event(), watch=False)
    finally:
        await again.close()
        await nc.close()
    assert (again.version, verdicts(again)) == (version, history)
    assert again_refused == [("DECISIONS#2", True), ("DECISIONS#3", True), ("DECISIONS#4", True)]


# ---- declared regions, live -----------------------------------------------------------------------
async def test_a_vast_agency_registered_live_gets_nothing_from_syd_until_a_grant_names_syd(governed):
    async with following(governed) as live:
        reg = AgencyRegistration(slug="vastverket", name="Västverket", tier="network", regions=("stockholm", "vast"))
        rc = await governed.connect(ROUTER)
        try:
            await rc.jetstream().publish("registry.agencies.vastverket", msgspec.json.encode(reg))
        finally:
            await rc.close()
        await publish(
            governed, *signed(governed, grant("vv", agency="vastverket", issued=NOW - _dt.timedelta(minutes=1)))
        )
        await wait_for(lambda: "vastverket" in live.current.data.agencies and "vv" in live.grants)
        denied = live.current.decide(vehicle_control(), "vastverket", NOW)
        await publish(governed, *signed(governed, grant("vv", agency="vastverket", regions=("syd",))))
        await wait_for(lambda: live.grants["vv"].regions == ("syd",))
        allowed = live.current.decide(vehicle_control(), "vastverket", NOW)
    assert (denied.allow, denied.rule) == (False, "deny.outside-agency-regions")
    assert (allowed.allow, allowed.rule) == (True, "cooption.vv")


def test_a_policy_file_change_that_breaks_an_older_decision_does_not_block_the_next_ones(tmp_path):
    import shutil

    policy_dir = tmp_path / "policy"
    shutil.copytree(SHIPPED, policy_dir)
    create_council_keys(tmp_path)
    live = LivePolicy(policy_dir, councils=CouncilKeys.of_state(tmp_path))

    class _Dep:
        state_dir = tmp_path

    op = OperationDecision(
        operation="vast-arbetsliv",
        name="Work-life crime in region Väst",
        scope="vast",
        decided_by="RSR Väst",
        participants=("skatteverket", "arbetsmiljoverket"),
        record_types=("tax.audit",),
        legal_basis="LUS 2016:774",
        purposes={"skatteverket": "tax_control", "arbetsmiljoverket": "workplace_inspection"},
        valid_from=_dt.date(2026, 1, 1),
    )
    env = Envelope(id=new_envelope_id(), record=op, region="vast", operation=op.operation, produced_at=NOW)
    body, headers = signed(_Dep, env, "rsr-vast")
    assert live.apply_decision(body, headers=headers, seq=1), live.rejected
    # the matrix loses the purpose that operation gives Arbetsmiljöverket: the older decision is now invalid
    need = policy_dir / "need_to_know.toml"
    text = need.read_text()
    cut = text.index('[need_to_know."tax.audit".workplace_inspection]')
    need.write_text(text[:cut] + text[text.index('[need_to_know."supervision.finding".tax_control]') :])
    text = need.read_text()
    cut = text.index('[need_to_know."supervision.finding".workplace_inspection]')
    need.write_text(text[:cut] + text[text.index("# ---- Persons and intelligence") :])
    ops = policy_dir / "operations.toml"
    ops.write_text(ops.read_text().replace('arbetsmiljoverket = "workplace_inspection"\n', ""))
    assert live.reload(), live.rejected
    body, headers = signed(_Dep, grant("g2"))
    assert live.apply_decision(body, headers=headers, seq=2), live.rejected  # unrelated: admitted
    bad, bad_headers = signed(_Dep, grant("g3", fields=("control_id", "shoe_size")))
    assert not live.apply_decision(bad, headers=bad_headers, seq=3)  # its own fault: refused, for it
    assert live.rejected[-1] == (
        "decision: Expected a field of police.vehicle_control, got `shoe_size` - at `$.record.fields[1]`"
    )


def test_a_flood_of_refused_decisions_keeps_the_routers_memory_bounded_and_the_admitted_history_whole(tmp_path):
    """A council identity (or one who holds its credentials) sends junk to DECISIONS by the
    thousand: each is refused, counted and logged, and the router keeps only the newest reasons."""
    from samband.router._decisions import KEEP_REFUSED
    from samband.router._live import KEEP_REJECTED

    create_council_keys(tmp_path)
    live = LivePolicy(SHIPPED, councils=CouncilKeys.of_state(tmp_path))

    class _Dep:
        state_dir = tmp_path

    body, headers = signed(_Dep, grant("g1"))
    assert live.apply_decision(body, headers=headers, seq=1), live.rejected
    flood = 2 * KEEP_REFUSED + 7
    for seq in range(2, flood + 2):
        assert not live.apply_decision(b'{"junk": %d}' % seq, headers={}, seq=seq)
    assert live.ledger.refused == flood
    refused = [e for e in live.history if not e.accepted]
    assert KEEP_REFUSED <= len(refused) <= 2 * KEEP_REFUSED and refused[-1].seq == flood + 1  # the newest kept
    assert [e.seq for e in live.history if e.accepted] == [1]  # an admitted decision is never dropped
    assert len(live.rejected) == KEEP_REJECTED and live.rejected[-1].startswith("decision: ")
    body, headers = signed(_Dep, grant("g2"))
    assert live.apply_decision(body, headers=headers, seq=flood + 2), live.rejected[-1]  # still deciding
