"""A security chief's person query answers from a persisted index that follows the log up to its newest
signed checkpoint, and refuses to answer when the log no longer holds what was indexed."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import random
import shutil
import stat

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.js.api import DiscardPolicy

from samband.broker_config import AUDIT_ADMIN, ROUTER
from samband.observability import Pseudonymiser, load_or_create_key
from samband.observability.audit import (
    ENTRY_DECODER,
    Appender,
    AuditDraft,
    AuditRecord,
    IndexStore,
    LogKey,
    catch_up,
    index_dir,
    load_or_create_signing_key,
)
from samband.schemas import synthetic_personnummer

from .._support import audit_entries
from .test_audit_cli import audit_cli

T0 = dt.datetime(2017, 3, 2, 9, 0, tzinfo=dt.UTC)


class Log:
    """Decisions about a few people appended by the log's writer, in batches, as the router does."""

    def __init__(self, dep, seed: int, people: int = 4) -> None:
        self.dep, self.rng, self.n = dep, random.Random(seed), 0
        self.people = [synthetic_personnummer(self.rng) for _ in range(people)]
        self.pseudonym = Pseudonymiser(load_or_create_key(dep.state_dir / "keys" / "pseudonym.key"))

    async def append(self, n: int, batch: int = 7) -> None:
        nc = await self.dep.connect(ROUTER)
        ap = Appender(nc, key=load_or_create_signing_key(self.dep.state_dir / "keys"))
        try:
            await ap.start()
            for lo in range(0, n, batch):
                drafts = []
                for _ in range(min(batch, n - lo)):
                    self.n += 1
                    recipient = self.rng.choice(["tullverket", "skatteverket"])
                    rec = AuditRecord(
                        at=T0 + dt.timedelta(seconds=self.n), envelope_id=f"env-{self.n:05d}",
                        record_type="police.vehicle_control", origin="polisen", recipient=recipient, region="syd",
                        operation="bacchus-2017", decision="allow", rule="bacchus.vehicle-control.tax",
                        policy_version="pv-test", subjects=(self.pseudonym(self.rng.choice(self.people)),),
                    )  # fmt: skip
                    drafts.append(AuditDraft(f"env-{self.n:05d}:{recipient}", rec, None, self.n))
                await ap.append(drafts)
        finally:
            await ap.close()
            await nc.close()

    async def expected(self, person: str) -> list[bytes]:
        p = self.pseudonym(person)
        return [msgspec.json.encode(r) for r in await audit_entries(self.dep) if p in r.subjects]


async def query_json(dep, *args) -> tuple[int, bytes]:
    out = await audit_cli(dep, "query", "--json", *args)
    return out.exit_code, out.stdout_bytes


async def appended(dep, seed: int, n: int) -> Log:
    await dep.provision()
    log = Log(dep, seed)
    await log.append(n)
    return log


async def indexed(dep, seed: int, n: int) -> Log:
    log = await appended(dep, seed, n)
    assert (await query_json(dep, "--person", log.people[0]))[0] == 0
    return log


async def test_a_person_query_picks_up_entries_appended_since_the_index_was_built(fresh_deployment):
    dep = fresh_deployment
    log = await appended(dep, seed=81, n=40)
    person = log.people[0]
    code, out = await query_json(dep, "--person", person)
    first = await log.expected(person)
    assert code == 0 and first and msgspec.json.decode(out) == [msgspec.json.decode(d) for d in first]
    path = index_dir(dep.state_dir, "auditor")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o700  # pseudonyms are personal data
    assert IndexStore(path).size == 40

    await log.append(25)
    code, out = await query_json(dep, "--person", person)
    later = await log.expected(person)
    assert code == 0 and len(later) > len(first)
    assert msgspec.json.decode(out) == [msgspec.json.decode(d) for d in later]

    await log.append(5)  # catching up reads only what was appended since
    nc = await dep.connect("auditor")
    try:
        with IndexStore(path) as store:
            key = load_or_create_signing_key(dep.state_dir / "keys")
            assert await catch_up(nc, store, key.verifier, "auditor") == 5
            assert await catch_up(nc, store, key.verifier, "auditor") == 0
            assert store.size == 70
    finally:
        await nc.close()


async def test_what_a_query_shows_is_the_stored_bytes_of_each_entry(fresh_deployment):
    dep = fresh_deployment
    log = await appended(dep, seed=82, n=30)
    person = log.people[1]
    code, out = await query_json(dep, "--person", person, "--to", "skatteverket")
    stored = [d for d in await log.expected(person) if ENTRY_DECODER.decode(d).recipient == "skatteverket"]
    assert code == 0 and stored
    entries = msgspec.json.decode(out)
    assert [msgspec.json.encode(e) for e in entries] == stored
    assert out.startswith(b'[{"kind":"decision","index":')  # the stored bytes, not re-encoded
    assert await query_json(dep, "--person", person, "--to", "skatteverket", "--from-stream") == (0, out)
    table = await audit_cli(dep, "query", "--person", person)
    assert f"{len(await log.expected(person))} of 30 audit entries" in table.output
    assert person not in table.output


async def test_entries_cut_from_the_front_of_the_log_make_the_query_refuse_to_answer(fresh_deployment):
    dep = fresh_deployment
    log = await indexed(dep, seed=84, n=30)
    nc = await dep.connect(AUDIT_ADMIN)
    try:
        # only the audit admin may change the stream's limits (no runtime identity may): old batches go
        js = nc.jetstream()
        info = await js.stream_info("AUDIT")
        await js.update_stream(dataclasses.replace(info.config, max_msgs=10, discard=DiscardPolicy.OLD))
        await js.update_stream(dataclasses.replace(info.config, max_msgs=-1, discard=DiscardPolicy.NEW))
        first = (await js.stream_info("AUDIT")).state.first_seq
    finally:
        await nc.close()
    out = await audit_cli(dep, "query", "--person", log.people[0])
    assert out.exit_code == 1
    assert out.stdout.startswith(
        f"FAILED at stream seq 1: truncated-front: the AUDIT stream starts at seq {first}: seq 1..{first - 1} are gone"
    )
    out = await audit_cli(dep, "query", "--reindex", "--person", log.people[0])
    assert out.exit_code == 1 and "truncated-front" in out.stdout


async def test_a_log_replaced_since_it_was_indexed_is_refused_until_reindexed(fresh_deployment):
    dep = fresh_deployment
    log = await indexed(dep, seed=85, n=30)
    dep.stop()
    shutil.rmtree(next(p for p in (dep.state_dir / "jetstream").rglob("AUDIT") if p.parent.name == "streams"))
    dep.start()
    await dep.provision()
    await log.append(12)  # a shorter log, well formed, signed with the same key
    out = await audit_cli(dep, "query", "--person", log.people[0])
    assert out.exit_code == 1
    assert out.stdout.startswith("FAILED at stream seq ")
    assert (
        "truncated-tail: the newest checkpoint vouches for 12 entries" in out.stdout and "30 were indexed" in out.stdout
    )
    code, got = await query_json(dep, "--reindex", "--person", log.people[0])
    assert code == 0 and msgspec.json.decode(got) == [msgspec.json.decode(d) for d in await log.expected(log.people[0])]


@pytest.mark.parametrize("where", ["index's copy", "AUDIT stream"])
async def test_a_hit_whose_bytes_differ_from_what_was_indexed_is_refused(fresh_deployment, where):
    dep = fresh_deployment
    log = await indexed(dep, seed=86, n=25)
    person = log.people[2]
    hit = ENTRY_DECODER.decode((await log.expected(person))[0]).index
    path = index_dir(dep.state_dir, "auditor")
    if where == "AUDIT stream":  # the index remembers another leaf hash for this entry than the stream's bytes have
        with open(path / "leaves.dat", "r+b") as f:
            f.seek(32 * hit)
            f.write(b"\0" * 32)
        args = ["--from-stream"]
    else:  # someone edited the copy in the index's files
        data = (path / "entries.dat").read_bytes()
        (path / "entries.dat").write_bytes(data.replace(f'"index":{hit},'.encode(), f'"index":{hit} ,'.encode(), 1))
        args = []
    out = await audit_cli(dep, "query", "--person", person, *args)
    assert out.exit_code == 1
    assert out.stdout.startswith(
        f"FAILED at entry {hit}: altered: its stored bytes in the {where} are not the leaf indexed"
    )


async def test_a_checkpoint_not_signed_by_the_pinned_key_makes_the_query_refuse_to_answer(fresh_deployment):
    dep = fresh_deployment
    log = await indexed(dep, seed=87, n=15)
    forger = LogKey(Ed25519PrivateKey.generate())
    nc = await dep.connect(AUDIT_ADMIN)
    try:
        ack = await nc.jetstream().publish("audit.checkpoint", forger.sign(16, b"\1" * 32))
    finally:
        await nc.close()
    out = await audit_cli(dep, "query", "--person", log.people[0])
    assert out.exit_code == 1
    assert out.stdout.startswith(f"FAILED at stream seq {ack.seq}: bad-checkpoint: the newest checkpoint: ")


async def test_an_index_read_in_many_small_ranges_is_the_index_read_at_once(fresh_deployment, monkeypatch, tmp_path):
    """A cold build reads the stream in ranges of about `CHUNK` entries and indexes each up to its
    last checkpoint; an append a range cuts in two waits for the next range and is indexed whole. A
    foreign checkpoint between appends is skipped wherever the ranges fall."""
    from samband.observability.audit import _indexed

    dep = fresh_deployment
    log = await appended(dep, seed=88, n=50)  # appends of 7 entries: most ranges end inside one
    nc = await dep.connect(AUDIT_ADMIN)
    try:
        await nc.jetstream().publish("audit.checkpoint", b"not a checkpoint\n")
    finally:
        await nc.close()
    await log.append(45)
    key = load_or_create_signing_key(dep.state_dir / "keys")
    nc = await dep.connect("auditor")
    try:
        with IndexStore(tmp_path / "whole") as whole, IndexStore(tmp_path / "ranges") as ranged:
            await catch_up(nc, whole, key.verifier, "auditor")
            monkeypatch.setattr(_indexed, "CHUNK", 10)
            steps: list[int] = []
            added = await catch_up(nc, ranged, key.verifier, "auditor", lambda size, _: steps.append(size))
            assert (added, ranged.size, ranged.root) == (whole.size, whole.size, whole.root)
            assert ranged.leaves() == whole.leaves()
            assert len(steps) >= 5 and steps == sorted(set(steps))  # many ranges, each indexed once
            for person in log.people:
                p = log.pseudonym(person)
                assert ranged.read(ranged.find(subject=p)) == whole.read(whole.find(subject=p)) != []
    finally:
        await nc.close()
    # an agency reads its view the same way
    out = await audit_cli(dep, "query", "--as", "auditor-skatteverket", "--json")
    assert out.exit_code == 0, out.output
    mine = [r for r in await audit_entries(dep) if r.recipient == "skatteverket"]
    assert [e["envelope_id"] for e in msgspec.json.decode(out.stdout_bytes)] == [r.envelope_id for r in mine] != []


async def test_a_copy_that_cannot_be_written_leaves_the_index_as_last_committed(fresh_deployment, tmp_path):
    """The entries' copy is written by a thread of its own beside the rows; if it fails, the
    transaction is rolled back and the next build starts from the last commit."""
    dep = fresh_deployment
    log = await appended(dep, seed=89, n=20)
    key = load_or_create_signing_key(dep.state_dir / "keys")
    nc = await dep.connect("auditor")
    try:
        with IndexStore(tmp_path / "index") as store:
            await catch_up(nc, store, key.verifier, "auditor")
            await log.append(10)
            (tmp_path / "index" / "entries.dat").rename(tmp_path / "entries.dat")
            (tmp_path / "index" / "entries.dat").mkdir()  # the copy's open fails
            with pytest.raises(IsADirectoryError):
                await catch_up(nc, store, key.verifier, "auditor")
            assert (store.size, store.count) == (20, 20)
            (tmp_path / "index" / "entries.dat").rmdir()
            (tmp_path / "entries.dat").rename(tmp_path / "index" / "entries.dat")
            assert await catch_up(nc, store, key.verifier, "auditor") == 10
            person = log.pseudonym(log.people[0])
            assert store.read(store.find(subject=person)) == await log.expected(log.people[0]) != []
    finally:
        await nc.close()
