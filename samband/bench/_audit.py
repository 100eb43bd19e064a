"""`samband bench audit`: verify against a bare sha256 loop, and a person query the way the CLI runs it.

Everything is measured in one run on one machine, against a baseline over the same records:

* verify (`verify_bytes`) against a bare ``sha256(record).digest()`` loop over the same stored
  bytes, interleaved, best of five each;
* index build: the persisted index (`IndexStore.add`) fed from memory, records/s;
* broker read: the trail read back from a real AUDIT stream as the auditor, with the pull
  reader `samband audit` uses (its wire path; its nats-py fallback), against the ordered
  push consumer it replaced (the slower two over at most 100,000 records);
* person query: ``samband audit query --person`` as the CLI runs it (connect as the auditor,
  catch the persisted index up and check the join point, look up, check each hit's hash,
  decode), index warm: showing the index's copies (the default) and ``--from-stream`` (each
  hit fetched from AUDIT by sequence); and the whole command as a process, Python start-up
  included.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import hashlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import msgspec

__all__ = ["audit_bench"]

VERIFY_TARGET = 500_000  # records/s
QUERY_TARGET_MS = 100.0
PUSH_CAP = 100_000  # the old reader is slow: it reads at most this many


def _seal(n: int, pseudonym_key: bytes, signing_key) -> tuple[list[bytes], list[bytes], list[str]]:
    """``n`` decisions sealed with the real chain, a checkpoint every 1000; one subject each, drawn
    from ``n / 20`` persons (50,000 in a million: about 20 decisions about each)."""
    from samband.observability import Pseudonymiser
    from samband.observability.audit import AuditChain, AuditRecord, sign_checkpoint
    from samband.schemas import synthetic_personnummer

    rng = random.Random(11)
    pseudonym = Pseudonymiser(pseudonym_key)
    pnrs = [synthetic_personnummer(rng) for _ in range(max(1, n // 20))]
    subjects = [pseudonym(p) for p in pnrs]
    recipients = (
        "tullverket",
        "skatteverket",
        "forsakringskassan",
        "arbetsformedlingen",
        "kronofogden",
        "migrationsverket",
    )
    chain = AuditChain()
    t0 = _dt.datetime(2017, 3, 3, 20, 0, tzinfo=_dt.UTC)
    records, checkpoints = [], []
    template = AuditRecord(
        at=t0,
        envelope_id="",
        record_type="police.vehicle_control",
        origin="polisen",
        recipient="",
        region="syd",
        operation="bacchus-2017",
        decision="allow",
        rule="bacchus.vehicle-control.tax",
        policy_version="bench",
        legal_basis="LUS 2016:774",
        purpose="tax_control",
        fields=("control_id", "vehicle", "driver"),
        delivered_sha256="0" * 64,
    )
    replace = msgspec.structs.replace
    for i in range(n):
        rec = replace(
            template,
            at=t0 + _dt.timedelta(milliseconds=i),
            envelope_id=f"{rng.getrandbits(128):032x}",
            trace_id=f"{rng.getrandbits(128):032x}",
            span_id=f"{rng.getrandbits(64):016x}",
            delivered_sha256=f"{rng.getrandbits(256):064x}",
            recipient=recipients[i % 6],
            subjects=(subjects[rng.randrange(len(subjects))],),
        )
        records.append(chain.seal(rec))
        if chain.seq % 1000 == 0 or chain.seq == n:
            checkpoints.append(msgspec.json.encode(sign_checkpoint(signing_key, chain.seq, chain.head, rec.at)))
    return records, checkpoints, pnrs


def _verify_vs_bare(records: list[bytes], checkpoints: list[bytes], public) -> dict:
    from samband.observability.audit import verify_bytes

    sha = hashlib.sha256

    def bare() -> None:
        for data in records:
            sha(data).digest()

    ok = True

    def verify() -> None:
        nonlocal ok
        ok = ok and verify_bytes(records, checkpoints, public).ok

    best = {"bare": float("inf"), "verify": float("inf")}
    for _ in range(5):  # interleaved, so both see the same machine; best of five each
        for name, fn in (("bare", bare), ("verify", verify)):
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    n = len(records)
    return {
        "verified_ok": ok,
        "verify_per_s": n / best["verify"],
        "bare_sha256_per_s": n / best["bare"],
        "verify_vs_bare": best["bare"] / best["verify"],
        "verify_seconds": best["verify"],
        "verify_met": n / best["verify"] >= VERIFY_TARGET,
    }


def _index_build(records: list[bytes], tmp: Path) -> float:
    from samband.observability.audit import IndexStore

    t = time.perf_counter()
    with IndexStore(tmp / "build-only.sqlite3") as store:
        for i in range(0, len(records), 50_000):
            store.add(i + 1, records[i : i + 50_000])
    return len(records) / (time.perf_counter() - t)


async def _fill(dep, records: list[bytes], checkpoints: list[bytes]) -> float:
    """Append the sealed trail to AUDIT (and its checkpoints) as the router; records/s."""
    from samband.broker_config import ROUTER

    nc = await dep.connect(ROUTER)
    try:
        t = time.perf_counter()
        for i, data in enumerate(records):
            # two headers of the router's sizes, so reading parses what it parses on a real trail
            # (not the server-side ones: their dedupe checks would make filling 4x slower)
            await nc.publish(
                "audit.records", data, headers={"Bench-Msg-Id": f"{i:032x}:tullverket", "Bench-Expected-Seq": str(i)}
            )
            if i % 5000 == 4999:
                await nc.flush()
        for data in checkpoints:
            await nc.publish("audit.checkpoints", data)
        await nc.flush()
        js = nc.jetstream()
        while (await js.stream_info("AUDIT")).state.messages < len(records):
            await asyncio.sleep(0.05)
        return len(records) / (time.perf_counter() - t)
    finally:
        await nc.close()


async def _read_ordered_push(nc, last: int) -> int:
    """The reader `samband audit` had before: an ordered push consumer, one callback per message."""
    from nats.js.api import ConsumerConfig, DeliverPolicy

    n, done = 0, asyncio.Event()

    async def on_msg(msg) -> None:
        nonlocal n
        n += 1
        if msg.metadata.sequence.stream >= last:
            done.set()

    sub = await nc.jetstream().subscribe(
        "audit.records",
        stream="AUDIT",
        cb=on_msg,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
        config=ConsumerConfig(opt_start_seq=1),
    )
    await asyncio.wait_for(done.wait(), 600)
    await sub.unsubscribe()
    return n


async def _broker(
    dep, records: list[bytes], checkpoints: list[bytes], pnrs: list[str], pseudonym_key: bytes, queries: int
) -> dict:
    from samband.cli import Context
    from samband.observability import Pseudonymiser
    from samband.observability.audit import AUDIT_DECODER
    from samband.observability.bus import read_range
    from samband.observability.bus._reader import _nats_pull, _with_consumer  # the fallback path, measured on its own
    from samband.observability.cli import query_broker

    n = len(records)
    out: dict = {"fill_per_s": await _fill(dep, records, checkpoints)}
    nc = await dep.connect("auditor")
    try:
        t = time.perf_counter()
        got = await read_range(nc, "AUDIT", 1, n)
        out["read_per_s"] = n / (time.perf_counter() - t)
        out["read_exact"] = got == records
        del got
        cap = min(n, PUSH_CAP)
        t = time.perf_counter()
        await _with_consumer(
            nc, "AUDIT", 1, lambda nxt: _nats_pull(nc, nxt, "AUDIT", 1, cap, with_subjects=False, strict=True)
        )
        out["read_nats_pull_per_s"] = cap / (time.perf_counter() - t)
        t = time.perf_counter()
        await _read_ordered_push(nc, cap)
        out["read_before_per_s"] = cap / (time.perf_counter() - t)
    finally:
        await nc.close()
    obj = Context(dep.state_dir)
    pseudonym = Pseudonymiser(pseudonym_key)
    t = time.perf_counter()
    await query_broker(obj, "auditor", {"subject": pseudonym(pnrs[0])})
    out["cold_build_seconds"] = time.perf_counter() - t
    rng = random.Random(3)
    lat: list[float] = []
    lat_stream: list[float] = []
    hits = 0
    for _ in range(queries):
        person = rng.choice(pnrs)
        for from_stream, into in ((False, lat), (True, lat_stream)):
            t = time.perf_counter()
            subject = pseudonym(person)  # as the CLI: pseudonymise, connect, catch up, find, (fetch,) check, decode
            stored, _ = await query_broker(obj, "auditor", {"subject": subject}, from_stream=from_stream)
            [AUDIT_DECODER.decode(d) for d in stored]
            into.append((time.perf_counter() - t) * 1000)
        hits += len(stored)
    lat.sort()
    lat_stream.sort()
    p95 = int(0.95 * (len(lat) - 1))
    out.update(
        query_p50_ms=statistics.median(lat),
        query_p95_ms=lat[p95],
        query_max_ms=lat[-1],
        query_from_stream_p50_ms=statistics.median(lat_stream),
        query_from_stream_p95_ms=lat_stream[p95],
        hits_per_query=hits / queries,
        queries=queries,
    )
    out["query_met"] = out["query_p95_ms"] <= QUERY_TARGET_MS
    # the whole command as a person types it, Python start-up included
    procs = []
    for person in pnrs[1:4]:
        t = time.perf_counter()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "samband",
                "--state-dir",
                str(dep.state_dir),
                "audit",
                "query",
                "--person",
                person,
                "--json",
            ],
            capture_output=True,
            timeout=120,
            env=os.environ | {"PYTHONWARNINGS": "ignore"},
        )
        procs.append((time.perf_counter() - t) * 1000)
        if proc.returncode != 0:
            out["process_error"] = proc.stderr.decode()[-500:]
    out["process_ms"] = min(procs)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import samband.cli"], capture_output=True, timeout=120)
    out["python_import_ms"] = (time.perf_counter() - t) * 1000
    return out


def audit_bench(n: int = 1_000_000, queries: int = 50, broker: bool = True) -> dict:
    """Verify vs a bare loop, index build, broker read, and the person query over an ``n``-record trail."""
    from samband.bench._env import bench_deployment
    from samband.observability import load_or_create_key
    from samband.observability.audit import load_or_create_signing_key

    with bench_deployment() as dep:
        keys = dep.state_dir / "keys"
        pseudonym_key = load_or_create_key(keys / "pseudonym.key")
        signing = load_or_create_signing_key(keys)
        t = time.perf_counter()
        records, checkpoints, pnrs = _seal(n, pseudonym_key, signing)
        r: dict = {
            "records": n,
            "checkpoints": len(checkpoints),
            "record_bytes": sum(map(len, records)) // n,
            "seal_per_s": n / (time.perf_counter() - t),
        }
        r.update(_verify_vs_bare(records, checkpoints, signing.public_key()))
        with tempfile.TemporaryDirectory(prefix="samband-bench-index-") as tmp:
            r["index_build_per_s"] = _index_build(records, Path(tmp))
        if broker:

            async def run() -> dict:
                await dep.provision()
                return await _broker(dep, records, checkpoints, pnrs, pseudonym_key, queries)

            r.update(asyncio.run(run()))
    return r
