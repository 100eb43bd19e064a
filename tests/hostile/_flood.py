"""A flooding agency in a process of its own (as it would be: on its own machines), so that its CPU is
not the honest agencies' in the test process: ``python -m tests.hostile._flood STATE AGENCY SECONDS BYTES``.

Publishes valid records of about BYTES each, 64 in flight, as fast as the broker answers, for SECONDS;
prints one JSON line: how many were stored, and each distinct refusal with its count."""

from __future__ import annotations

import asyncio
import datetime as _dt
import random
import sys
import time
from collections import Counter
from pathlib import Path

import msgspec

from samband.broker_config import Deployment
from samband.observability.bus import AckPipeline, PublishRefused
from samband.schemas import Envelope, MaritimeControl, PersonRef, encode, new_envelope_id, synthetic_personnummer

AT = _dt.datetime(2017, 3, 3, 20, 0, tzinfo=_dt.UTC)


async def flood(state: Path, agency: str, seconds: float, size: int) -> dict:
    dep = Deployment.load(state)
    nc = await dep.connect(agency)
    pipe = AckPipeline(nc)
    rng = random.Random(4)
    master = PersonRef(pnr=synthetic_personnummer(rng))
    refused: Counter[str] = Counter()
    stored = 0
    deadline = time.time() + seconds
    try:
        while time.time() < deadline:
            items = []
            for _ in range(64):
                rec = MaritimeControl(
                    control_id=f"KBV-{rng.getrandbits(32):08x}",
                    controlled_at=AT,
                    position="55.3N 13.0E",
                    vessel="M/S Ofelia",
                    master=master,
                    finding="x" * size,
                )
                env = Envelope(
                    id=new_envelope_id(),
                    record=rec,
                    region="syd",
                    operation="kbv-egen",
                    produced_at=AT,
                    subjects=(master,),
                )
                items.append(("out.coastguard.maritime_control", encode(env), None))
            for r in await pipe.publish(items, 10):
                if isinstance(r, PublishRefused):
                    refused[r.error.description] += 1
                elif isinstance(r, BaseException):
                    refused[repr(r)] += 1
                else:
                    stored += 1
    finally:
        await pipe.close()
        await nc.close()
    return {"stored": stored, "refused": dict(refused)}


if __name__ == "__main__":
    state, agency, seconds, size = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    sys.stdout.write(msgspec.json.encode(asyncio.run(flood(Path(state), agency, seconds, size))).decode() + "\n")
