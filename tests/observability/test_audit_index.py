"""A security chief's person query answers from a persisted index that follows the trail, and
refuses to answer when the trail no longer holds what was indexed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import random
import shutil
import sqlite3
import stat

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.js.api import DiscardPolicy

from samband.broker_config import ROUTER, STEWARD
from samband.observability import Pseudonymiser, load_or_create_key
from samband.observability.audit import (
    AUDIT_DECODER,
    INDEX_FILE,
    AuditChain,
    AuditRecord,
    IndexStore,
    catch_up,
    load_or_create_signing_key,
    read_trail,
    sign_checkpoint,
)
from samband.schemas import synthetic_personnummer

from .test_audit_cli import audit_cli

T0 = dt.datetime(2017, 3, 2, 9, 0, tzinfo=dt.UTC)


class Trail:
    """Decisions sealed with the real chain and appended to the deployment's AUDIT stream, as the router does."""

    def __init__(self, dep, seed: int, people: int = 4) -> None:
        self.dep, self.rng = dep, random.Random(seed)
        self.people = [synthetic_personnummer(self.rng) for _ in range(people)]
        self.pseudonym = Pseudonymiser(load_or_create_key(dep.state_dir / "keys" / "pseudonym.key"))
        self.chain = AuditChain()

    async def append(self, n: int, chain: AuditChain | None = None) -> None:
        chain = chain or self.chain
        nc = await self.dep.connect(ROUTER)
        try:
            js = nc.jetstream()
            for _ in range(n):
                data = chain.seal(
                    AuditRecord(
                        at=T0 + dt.timedelta(seconds=chain.seq),
                        envelope_id=f"env-{chain.seq:05d}",
                        record_type="police.vehicle_control",
                        origin="polisen",
                        recipient=self.rng.choice(["tullverket", "skatteverket"]),
                        region="syd",
                        operation="bacchus-2017",
                        decision="allow",
                        rule="bacchus.vehicle-control.tax",
                        policy_version="pv-test",
                        subjects=(self.pseudonym(self.rng.choice(self.people)),),
                    )
                )
                await js.publish("audit.records", data, headers={"Nats-Expected-Last-Sequence": str(chain.seq - 1)})
        finally:
            await nc.close()

    async def stored(self) -> list[bytes]:
        nc = await self.dep.connect(ROUTER)
        try:
            return (await read_trail(nc)).records
        finally:
            await nc.close()

    async def expected(self, person: str) -> list[bytes]:
        p = self.pseudonym(person)
        return [d for d in await self.stored() if p in AUDIT_DECODER.decode(d).subjects]


async def query_json(dep, *args) -> tuple[int, bytes]:
    out = await audit_cli(dep, "query", "--json", *args)
    return out.exit_code, out.stdout_bytes


async def appended(dep, seed: int, records: int) -> Trail:
    """The deployment provisioned and ``records`` decisions in its trail."""
    await dep.provision()
    trail = Trail(dep, seed=seed)
    await trail.append(records)
    return trail


async def indexed(dep, seed: int, records: int) -> Trail:
    """As `appended`, and indexed by a first person query that answered."""
    trail = await appended(dep, seed, records)
    assert (await query_json(dep, "--person", trail.people[0]))[0] == 0
    return trail


async def test_a_person_query_picks_up_records_appended_since_the_index_was_built(fresh_deployment):
    dep = fresh_deployment
    trail = await appended(dep, seed=81, records=40)
    person = trail.people[0]
    code, out = await query_json(dep, "--person", person)
    assert code == 0
    first = await trail.expected(person)
    assert first and msgspec.json.decode(out) == [msgspec.json.decode(d) for d in first]
    index = dep.state_dir / INDEX_FILE
    assert stat.S_IMODE(os.stat(index).st_mode) == 0o600  # pseudonyms are personal data
    assert IndexStore(index).last_seq == 40

    await trail.append(25)
    code, out = await query_json(dep, "--person", person)
    later = await trail.expected(person)
    assert code == 0 and len(later) > len(first)
    assert msgspec.json.decode(out) == [msgspec.json.decode(d) for d in later]

    # catching up reads only what was appended since
    await trail.append(5)
    nc = await dep.connect("auditor")
    try:
        with IndexStore(index) as store:
            assert await catch_up(nc, store) == 5
            assert await catch_up(nc, store) == 0
            assert store.last_seq == 70
    finally:
        await nc.close()


async def test_what_a_query_shows_is_the_stored_bytes_of_each_record(fresh_deployment):
    dep = fresh_deployment
    trail = await appended(dep, seed=82, records=30)
    person = trail.people[1]
    code, out = await query_json(dep, "--person", person, "--to", "skatteverket")
    stored = [d for d in await trail.expected(person) if AUDIT_DECODER.decode(d).recipient == "skatteverket"]
    assert code == 0 and stored
    assert out == b"[" + b",".join(stored) + b"]\n"  # byte for byte, not re-encoded
    assert await query_json(dep, "--person", person, "--to", "skatteverket", "--from-stream") == (0, out)
    table = await audit_cli(dep, "query", "--person", person)
    assert f"{len(await trail.expected(person))} of 30 audit records" in table.output
    assert person not in table.output


async def test_a_record_that_does_not_chain_makes_the_query_refuse_to_answer(fresh_deployment):
    dep = fresh_deployment
    trail = await indexed(dep, seed=83, records=20)
    # someone with the router's credentials appends a record of a chain of their own
    await trail.append(1, chain=AuditChain(seq=20, head="f" * 64))
    for _ in range(2):  # and it stays so: the index did not move past the break
        out = await audit_cli(dep, "query", "--person", trail.people[0])
        assert out.exit_code == 1
        assert out.stdout.startswith(
            "FAILED at seq 21: altered: seq 21 was altered: its prev is not the hash of seq 20"
        )
        assert "No answer" in out.output
    assert IndexStore(dep.state_dir / INDEX_FILE).last_seq == 20


async def test_records_cut_from_the_front_of_the_trail_make_the_query_refuse_to_answer(fresh_deployment):
    dep = fresh_deployment
    trail = await indexed(dep, seed=84, records=30)
    nc = await dep.connect(STEWARD)
    try:
        # the operators' credentials may change the stream's limits (the router's may not): old records go
        js = nc.jetstream()
        info = await js.stream_info("AUDIT")
        await js.update_stream(dataclasses.replace(info.config, max_msgs=10, discard=DiscardPolicy.OLD))
        await js.update_stream(dataclasses.replace(info.config, max_msgs=-1, discard=DiscardPolicy.NEW))
    finally:
        await nc.close()
    out = await audit_cli(dep, "query", "--person", trail.people[0])
    assert out.exit_code == 1
    assert out.stdout.startswith("FAILED at seq 1: removed: the AUDIT stream starts at seq 21: seq 1..20 are gone")
    # building the index again does not help: the trail must start at seq 1
    out = await audit_cli(dep, "query", "--reindex", "--person", trail.people[0])
    assert out.exit_code == 1 and out.stdout.startswith("FAILED at seq 1: removed:")


async def test_a_trail_replaced_since_it_was_indexed_is_refused_until_reindexed(fresh_deployment):
    dep = fresh_deployment
    trail = await indexed(dep, seed=85, records=30)
    dep.stop()
    shutil.rmtree(next(p for p in (dep.state_dir / "jetstream").rglob("AUDIT") if p.parent.name == "streams"))
    dep.start()
    await dep.provision()
    trail.chain = AuditChain()
    await trail.append(12)  # a shorter trail, well chained from genesis
    out = await audit_cli(dep, "query", "--person", trail.people[0])
    assert out.exit_code == 1
    assert out.stdout.startswith("FAILED at seq 1: removed: the AUDIT stream was created anew")
    code, got = await query_json(dep, "--reindex", "--person", trail.people[0])
    assert code == 0 and msgspec.json.decode(got) == [
        msgspec.json.decode(d) for d in await trail.expected(trail.people[0])
    ]


@pytest.mark.parametrize("where", ["index's copy", "AUDIT stream"])
async def test_a_hit_whose_bytes_differ_from_what_was_indexed_is_refused(fresh_deployment, where):
    dep = fresh_deployment
    trail = await indexed(dep, seed=86, records=25)
    person = trail.people[2]
    hit = AUDIT_DECODER.decode((await trail.expected(person))[0]).seq
    db = sqlite3.connect(dep.state_dir / INDEX_FILE)
    if where == "AUDIT stream":  # the index remembers other bytes for this record than the stream now holds
        db.execute("UPDATE records SET sha256 = zeroblob(32) WHERE seq = ?", (hit,))
        args = ["--from-stream"]
    else:  # someone edited the copy in the index file
        (data,) = db.execute("SELECT data FROM stored WHERE seq = ?", (hit,)).fetchone()
        db.execute("UPDATE stored SET data = ? WHERE seq = ?", (data.replace(b'"allow"', b'"deny"'), hit))
        args = []
    db.commit()
    db.close()
    out = await audit_cli(dep, "query", "--person", person, *args)
    assert out.exit_code == 1
    assert out.stdout.startswith(
        f"FAILED at seq {hit}: altered: the stored bytes of seq {hit} in the {where} no longer hash to what was indexed"
    )


async def test_a_forged_checkpoint_makes_the_query_refuse_to_answer(fresh_deployment):
    dep = fresh_deployment
    await dep.provision()
    load_or_create_signing_key(dep.state_dir / "keys")  # the deployment's key: its public half is trusted
    trail = Trail(dep, seed=87)
    await trail.append(15)
    forged = sign_checkpoint(Ed25519PrivateKey.generate(), 15, trail.chain.head, T0)
    nc = await dep.connect(ROUTER)
    try:
        await nc.jetstream().publish("audit.checkpoints", msgspec.json.encode(forged))
    finally:
        await nc.close()
    out = await audit_cli(dep, "query", "--person", trail.people[0])
    assert out.exit_code == 1
    assert out.stdout.startswith("FAILED at seq 15: bad-checkpoint: checkpoint at seq 15")
