"""The platform in one process tree: the embedded broker, the router, and agency inbox sinks.

Used by ``samband demo``, ``samband up`` and the tests; production runs the same parts as
separate processes (``samband up`` for broker and router, ``samband adapter run`` per agency).
"""

from __future__ import annotations

import asyncio
import importlib.resources
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from samband.adapters import InboxSink, consume_inbox
from samband.broker_config import ROUTER, Deployment
from samband.observability import Pseudonymiser, get_logger, load_or_create_key
from samband.observability.audit import Appender, AuditAppender, load_or_create_signing_key
from samband.router import LivePolicy, Policy, ReviewRule, Router, review_rules

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter

__all__ = ["Platform", "shipped_policy_dir"]

log = get_logger("samband.platform")


def shipped_policy_dir() -> Path:
    """The demo policy shipped as package data of samband.broker_config (the router never imports it)."""
    return Path(str(importlib.resources.files("samband.broker_config") / "policy"))


@dataclass
class Platform:
    deployment: Deployment
    policy: Policy | LivePolicy
    sink_dir: Path
    router: Router | None = None
    sinks: dict[str, InboxSink] = field(default_factory=dict)
    standby: asyncio.Event = field(default_factory=asyncio.Event)  # another router held the lease
    standby_holder: str = ""
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task] = field(default_factory=list)
    _conns: list = field(default_factory=list)

    def pseudonymiser(self) -> Pseudonymiser:
        return Pseudonymiser(load_or_create_key(self.deployment.state_dir / "keys" / "pseudonym.key"))

    async def start_router(
        self,
        *,
        appender: AuditAppender | None = None,
        meter: Meter | None = None,
        review: Mapping[str, ReviewRule] | None = None,
        review_every: float = 30.0,
        review_cap: int | None = None,
    ) -> Router:
        """The router with the log's writer as its appender (``appender``: another, e.g. `samband bench`'s),
        measured on ``meter`` when given (a metrics endpoint's, `--metrics-port`).
        ``review``: what each originator reviews before disclosure (default: its agency file's ``[review]``),
        looked through for lapsed holds every ``review_every`` seconds.

        Returns once it routes (its lease taken, where the log stands read, its input
        subscribed), or once it stands by because another router holds the lease (`standby`
        is then set, and it takes over by itself), or with its start-up error."""
        nc = await self.deployment.connect(ROUTER)
        self._conns.append(nc)
        if appender is None:
            key = load_or_create_signing_key(self.deployment.state_dir / "keys")
            appender = Appender(nc, key=key, on_standby=self._standing_by)
        senders = {slug: a.sends for slug, a in self.deployment.agencies.items()}  # the centres' among them
        if review is None:
            review = review_rules(self.deployment.agencies)
        extra = {"review_cap": review_cap} if review_cap is not None else {}
        self.router = Router(
            nc, self.policy, self.pseudonymiser(), appender=appender, senders=senders, meter=meter, review=review,
            review_every=review_every, **extra,
        )  # fmt: skip
        task = asyncio.create_task(self.router.run(self._stop), name="router")
        self._tasks.append(task)
        waits = {task, asyncio.create_task(self.router.ready.wait()), asyncio.create_task(self.standby.wait())}
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for w in waits - {task}:
            w.cancel()
        if task.done():
            task.result()
        return self.router

    def _standing_by(self, holder: str) -> None:
        self.standby_holder = holder
        self.standby.set()

    async def start_sink(self, agency: str) -> InboxSink:
        nc = await self.deployment.connect(agency)
        self._conns.append(nc)
        sink = InboxSink(self.sink_dir / f"{agency}.jsonl")
        self.sinks[agency] = sink
        self._tasks.append(asyncio.create_task(consume_inbox(nc, agency, sink, self._stop), name=f"sink-{agency}"))
        return sink

    async def stop(self) -> None:
        self._stop.set()
        for t in self._tasks:
            if t.get_name() == "router" and self.router is not None and not self.router.ready.is_set():
                t.cancel()  # a standby: it only waits for the lease
            try:
                await asyncio.wait_for(t, 10)
            except TimeoutError:
                t.cancel()
            except asyncio.CancelledError:
                pass
        for nc in self._conns:
            await nc.close()
        for s in self.sinks.values():
            s.close()
