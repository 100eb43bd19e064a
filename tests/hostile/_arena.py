"""The hostile agencies' arena: a policy with two honest flows, and those flows' steady traffic, counted."""

from __future__ import annotations

import asyncio
import datetime as _dt
import random

from samband.broker_config import Deployment
from samband.schemas import Envelope, PersonRef, new_envelope_id, synthetic_personnummer

from .._support import IN_2017, vehicle_control


def arena_policy():
    """Two honest flows in region Syd, and two agencies more to misbehave: Polisen's vehicle controls to
    Skatteverket and Migrationsverket (operation ``arena-a``), Tullverket's seizures to Kronofogden
    (``arena-b``); Kustbevakningen sends into neither."""
    from samband.router import Need
    from samband.router import record_fields as fields_of
    from samband.testing import operation_in_syd, small_policy

    agencies = ("polisen", "skatteverket", "migrationsverket", "tullverket", "kronofogden", "kustbevakningen")
    vc, cs = "police.vehicle_control", "customs.seizure"
    return small_policy(
        {a: a for a in agencies},
        {
            "arena-a": operation_in_syd(
                "Arena A",
                ("polisen", "skatteverket", "migrationsverket"),
                (vc,),
                {"skatteverket": "tax_control", "migrationsverket": "migration_control"},
            ),
            "arena-b": operation_in_syd(
                "Arena B", ("tullverket", "kronofogden"), (cs,), {"kronofogden": "enforcement"}
            ),
        },
        {
            vc: {
                "tax_control": Need(recipients=("skatteverket",), fields=fields_of(vc), id="arena.vc.tax"),
                "migration_control": Need(
                    recipients=("migrationsverket",), fields=fields_of(vc), id="arena.vc.migration"
                ),
            },
            cs: {"enforcement": Need(recipients=("kronofogden",), fields=fields_of(cs), id="arena.cs.enforcement")},
        },
        lus_from=_dt.date(2016, 11, 1),
    )


def customs_seizure(rng: random.Random, *, operation: str = "arena-b") -> Envelope:
    from samband.schemas import CustomsSeizure

    holder = PersonRef(pnr=synthetic_personnummer(rng))
    rec = CustomsSeizure(
        seizure_id=f"TV-{rng.getrandbits(32):08x}",
        seized_at=IN_2017,
        location="Trelleborg",
        goods="sprit",
        quantity=1450.0,
        unit="l",
        holder=holder,
    )
    return Envelope(
        id=new_envelope_id(),
        record=rec,
        region="syd",
        operation=operation,
        produced_at=IN_2017,
        subjects=(holder,),
    )


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else 0.0


class SteadyTraffic:
    """Honest agencies exchanging records at a steady rate: each sender publishes one record every
    ``every`` seconds with its own credentials; each copy is counted by envelope id as it is stored in
    its recipient's INBOX (the server's time), so a lost or doubled copy and every latency are seen."""

    FLOWS = {"polisen": ("skatteverket", "migrationsverket"), "tullverket": ("kronofogden",)}

    def __init__(
        self, dep: Deployment, *, every: float = 0.05, watch: tuple[str, ...] = ("skatteverket", "kronofogden")
    ):
        self.dep, self.every, self.watch = dep, every, watch
        self.sent: dict[str, tuple[str, float]] = {}  # envelope id -> (sender, time published)
        self.stored: dict[tuple[str, str], list[float]] = {}  # (envelope id, recipient) -> stored times
        self.errors: list[str] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._conns: list = []

    async def start(self) -> None:
        from nats.js.api import DeliverPolicy

        from samband.schemas import ENVELOPE_READER

        for recipient in self.watch:
            nc = await self.dep.connect(recipient)
            self._conns.append(nc)

            def on_copy(recipient: str):
                async def cb(msg) -> None:
                    env_id = ENVELOPE_READER.decode(msg.data).id
                    at = msg.metadata.timestamp.timestamp()
                    self.stored.setdefault((env_id, recipient), []).append(at)

                return cb

            await nc.jetstream().subscribe(
                "in.>", stream="INBOX", ordered_consumer=True, deliver_policy=DeliverPolicy.NEW, cb=on_copy(recipient)
            )
        for sender in self.FLOWS:
            nc = await self.dep.connect(sender)
            self._conns.append(nc)
            self._tasks.append(asyncio.create_task(self._send(nc, sender)))

    async def _send(self, nc, sender: str) -> None:
        import time

        from samband.schemas import encode

        js = nc.jetstream()
        rng = random.Random(sender)
        subject = "out.police.vehicle_control" if sender == "polisen" else "out.customs.seizure"
        while not self._stop.is_set():
            env = (
                vehicle_control(rng, origin="polisen", operation="arena-a")
                if sender == "polisen"
                else customs_seizure(rng)
            )
            data = encode(env)
            t = time.time()
            try:
                await js.publish(subject, data, headers={"Nats-Msg-Id": env.id}, timeout=10)
                self.sent[env.id] = (sender, t)
            except Exception as exc:  # an honest publish that fails is the finding itself
                self.errors.append(f"{sender}: {exc!r}")
            try:
                await asyncio.wait_for(self._stop.wait(), self.every)
            except TimeoutError:
                pass

    def expected(self, since: float = 0.0, until: float = float("inf")) -> set[tuple[str, str]]:
        """(envelope id, recipient) of every watched copy of a record published in [since, until)."""
        return {
            (env_id, r)
            for env_id, (sender, t) in self.sent.items()
            if since <= t < until
            for r in self.FLOWS[sender]
            if r in self.watch
        }

    def latencies_ms(self, since: float, until: float) -> list[float]:
        out = []
        for env_id, r in self.expected(since, until):
            times = self.stored.get((env_id, r))
            if times:
                out.append((times[0] - self.sent[env_id][1]) * 1000)
        return out

    def arrived(self, since: float = 0.0, until: float = float("inf")) -> bool:
        return all(k in self.stored for k in self.expected(since, until))

    def doubled(self) -> dict:
        return {k: len(v) for k, v in self.stored.items() if len(v) > 1}

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for nc in self._conns:
            await nc.close()
