"""The platform in one process tree: the embedded broker, the router, and agency inbox sinks.

Used by ``samband demo``, ``samband up`` and the tests; production runs the same parts as
separate processes (``samband up`` for broker and router, ``samband adapter run`` per agency).
"""

from __future__ import annotations

import asyncio
import importlib.resources
from dataclasses import dataclass, field
from pathlib import Path

from samband.adapters import InboxSink, consume_inbox
from samband.broker_config import ROUTER, Deployment
from samband.observability import Pseudonymiser, get_logger, load_or_create_key
from samband.observability.audit import Appender, AuditAppender, Checkpointer, load_or_create_signing_key
from samband.router import LivePolicy, Policy, Router

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
    checkpointer: Checkpointer | None = None
    sinks: dict[str, InboxSink] = field(default_factory=dict)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _checkpointer_stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task] = field(default_factory=list)
    _conns: list = field(default_factory=list)

    def pseudonymiser(self) -> Pseudonymiser:
        return Pseudonymiser(load_or_create_key(self.deployment.state_dir / "keys" / "pseudonym.key"))

    async def start_router(self, *, appender: AuditAppender | None = None) -> Router:
        """The router with its appender, and beside it the checkpointer the appender feeds (see
        `Checkpointer`). ``appender``: another writer of the trail (`samband bench` measures with one)."""
        checkpointer = await self.start_checkpointer(fed=True)
        nc = await self.deployment.connect(ROUTER)
        self._conns.append(nc)
        if appender is None:
            appender = Appender(nc, checkpointer=checkpointer)
        self.router = Router(nc, self.policy, self.pseudonymiser(), appender=appender)
        task = asyncio.create_task(self.router.run(self._stop), name="router")
        self._tasks.append(task)
        # Return a router that routes: its chain resumed from the trail and its input subscribed
        # (a router started on a long trail reads its recent tail first), or its start-up error.
        ready = asyncio.create_task(self.router.ready.wait())
        await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            task.result()
        return self.router

    async def start_checkpointer(self, *, every: int = 1000, interval: float = 10.0, fed: bool = False) -> Checkpointer:
        """Sign the audit chain's head every ``every`` records or ``interval`` seconds (key in <state>/keys/, 0600);
        ``fed``: the router started next tells it each append instead of it reading the trail."""
        nc = await self.deployment.connect(ROUTER)
        self._conns.append(nc)
        self.checkpointer = Checkpointer(
            nc, load_or_create_signing_key(self.deployment.state_dir / "keys"), every=every, interval=interval
        )
        task = asyncio.create_task(self.checkpointer.run(self._checkpointer_stop, fed=fed), name="checkpointer")
        self._tasks.append(task)
        if fed:  # it must know where it stands before the router's first append reaches it
            resumed = asyncio.create_task(self.checkpointer.resumed.wait())
            await asyncio.wait({task, resumed}, return_when=asyncio.FIRST_COMPLETED)
            if not resumed.done():
                resumed.cancel()
                task.result()
        return self.checkpointer

    async def start_sink(self, agency: str) -> InboxSink:
        nc = await self.deployment.connect(agency)
        self._conns.append(nc)
        sink = InboxSink(self.sink_dir / f"{agency}.jsonl")
        self.sinks[agency] = sink
        self._tasks.append(asyncio.create_task(consume_inbox(nc, agency, sink, self._stop), name=f"sink-{agency}"))
        return sink

    async def stop(self) -> None:
        # The checkpointer stops last, so its last checkpoint covers the router's last batch.
        self._stop.set()
        for t in sorted(self._tasks, key=lambda t: t.get_name() == "checkpointer"):
            if t.get_name() == "checkpointer":
                self._checkpointer_stop.set()
            try:
                await asyncio.wait_for(t, 10)
            except TimeoutError:
                t.cancel()
        for nc in self._conns:
            await nc.close()
        for s in self.sinks.values():
            s.close()
