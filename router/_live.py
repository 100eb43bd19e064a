"""The live policy: files, the councils' decisions and the agency registrations, merged and recompiled.

The state is a pure function of (policy files, the councils' trusted public keys, the REGISTRY
stream, the DECISIONS stream in order), so a restarted router that replays both streams before
it routes anything rebuilds the same policy with the same version. A decision is applied only
when `DecisionLedger` admits it (signed by the council whose scope covers it, new, in order,
valid); a refused one is logged, kept in ``rejected`` and ``history`` (the newest of them: a
flood stays bounded), and handed to the ``refusal_listeners`` (where the audit trail records
it), and never stops the router.

Every change compiles a whole new `Policy` and swaps it in one assignment; the routing loop
reads ``current`` once per batch, so a change never drops or duplicates a message (the batch in
flight finishes under the version it began with).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from collections import deque
from collections.abc import Callable
from pathlib import Path

import msgspec
from nats.errors import Error as NatsError
from nats.js.errors import Error as JsError

from samband.observability import Tally, get_logger
from samband.schemas import AgencyRegistration
from samband.schemas.layout import (
    DECISIONS_STREAM,
    DECISIONS_SUBJECTS,
    REGISTRATION_PREFIX,
    REGISTRY_STREAM,
    REGISTRY_SUBJECTS,
)

from ._authority import Citations, cite_decision, files_version
from ._councils import CouncilKeys
from ._decisions import DecisionEntry, DecisionLedger, Proposal
from ._errors import DecisionRefused, PolicyError
from ._follow import replay_then_follow
from ._model import AgencyEntry, Grant, Operation, PolicyData, load_policy_dir
from ._policy import Policy

__all__ = ["LivePolicy"]

log = get_logger("samband.router.policy")

_REGISTRATION = msgspec.json.Decoder(AgencyRegistration)
KEEP_REJECTED = 1000  # the newest refusal reasons kept for a reader (each is logged as it comes)


class LivePolicy:
    """The router's policy source. ``current`` is always a complete compiled `Policy`.

    ``councils``: the public keys of the councils the router trusts (`CouncilKeys.of_state`);
    without them every decision is refused.
    """

    def __init__(
        self,
        policy_dir: Path | str | None = None,
        *,
        data: PolicyData | None = None,
        councils: CouncilKeys | None = None,
        reload_interval: float = 1.0,
    ) -> None:
        if (policy_dir is None) == (data is None):
            raise ValueError("Expected exactly one of policy_dir and data")
        self.policy_dir = Path(policy_dir) if policy_dir is not None else None
        self.base: PolicyData = data if data is not None else load_policy_dir(self.policy_dir)  # type: ignore[arg-type]
        self.reload_interval = reload_interval
        self.registrations: dict[str, AgencyRegistration] = {}
        self.operations: dict[str, Operation] = {}
        self.grants: dict[str, Grant] = {}
        self.rejected: deque[str] = deque(maxlen=KEEP_REJECTED)  # the newest reasons; a flood stays bounded
        self.ledger = DecisionLedger(councils or CouncilKeys())
        # Called with each refused decision (and whether it was met while replaying): the one seam
        # through which the audit trail will record refusals (issue #16, part 2).
        self.refusal_listeners: list[Callable[[DecisionEntry, bool], None]] = []
        self.refusals = Tally(log, "policy change refused", level="error")
        self.next_seq = 1  # the DECISIONS sequence the next message will most likely get
        self.current: Policy = Policy(self.base, citations=self.citations())
        self.versions: list[str] = [self.current.version]
        self.listeners: list[Callable[[Policy, str], None]] = []
        self._signature = self._files_signature()
        self._replaying = False
        self._subs: list = []
        self._tasks: list[asyncio.Task] = []
        self._caught_up: dict[str, asyncio.Event] = {}

    @property
    def version(self) -> str:
        return self.current.version

    @property
    def history(self) -> list[DecisionEntry]:
        """Every decision message met so far, admitted or refused, in stream order."""
        return self.ledger.history

    def authority(self, kind: str, target: str) -> DecisionEntry | None:
        """The decision that put an operation or a grant in its present state (None: the policy files)."""
        return self.ledger.in_force.get((kind, target))

    def citations(self) -> Citations:
        """What each operation and grant rests on: its decision in force, else its policy file."""
        return Citations(
            {key: cite_decision(e) for key, e in self.ledger.in_force.items()},
            policy_dir=self.policy_dir,
            version=files_version(self.base),
        )

    # ---- merging and compiling ---------------------------------------------------------
    def merged(self, *, operations=None, grants=None, registrations=None) -> PolicyData:
        agencies = dict(self.base.agencies)
        for slug, reg in (registrations if registrations is not None else self.registrations).items():
            if reg.active:
                agencies[slug] = AgencyEntry(name=reg.name, tier=reg.tier, regions=reg.regions or None)
            else:
                agencies.pop(slug, None)  # offboarded: its grants and participations lapse at compile
        return msgspec.structs.replace(
            self.base,
            agencies=agencies,
            operations={**self.base.operations, **(operations if operations is not None else self.operations)},
            grants={**self.base.grants, **(grants if grants is not None else self.grants)},
        )

    def _recompile(self, cause: str) -> None:
        if self._replaying:
            return
        citations = self.citations()
        policy = Policy(self.merged(), citations=citations)
        if policy.version == self.current.version:
            if citations.key() != self.current.citations.key():
                # the same tables by a newer decision (re-issued unchanged): entries cite the newer one
                self.current = policy
            return
        self.current = policy
        self.versions.append(policy.version)
        for w in policy.warnings:
            log.warning("policy warning", warning=w)
        log.info("policy changed", version=policy.version, cause=cause)
        for listener in self.listeners:
            listener(policy, cause)

    # ---- the councils' decisions and the registrations ---------------------------------
    def examine(
        self,
        body: bytes,
        headers: dict[str, str] | None = None,
        *,
        seq: int = 0,
        stored_at: _dt.datetime | None = None,
        agencies_known: bool = False,
    ) -> Proposal | DecisionEntry:
        """What a decision message would do (a `Proposal`) or why it is refused; changes nothing."""
        return self.ledger.examine(
            body,
            headers,
            current=self.merged(),  # not `current`: while replaying, that is compiled only at the end
            operations=self.operations,
            grants=self.grants,
            merge=lambda ops, grants: self.merged(operations=ops, grants=grants),
            seq=seq,
            stored_at=stored_at,
            agencies_known=agencies_known,
        )

    def preview(self, body: bytes, headers: dict[str, str], *, agencies_known: bool = True) -> Proposal:
        """The decision as the router would admit it next, or `DecisionRefused` with the router's reason."""
        seen = self.examine(body, headers, seq=self.next_seq, agencies_known=agencies_known)
        if isinstance(seen, DecisionEntry):
            raise DecisionRefused(seen.reason)
        return seen

    def apply_decision(
        self,
        body: bytes,
        *,
        headers: dict[str, str] | None = None,
        seq: int = 0,
        stored_at: _dt.datetime | None = None,
        where: str = "decision",
    ) -> bool:
        """Apply one council's decision message; a refused one is logged and kept, never half-applied."""
        seen = self.examine(body, headers, seq=seq, stored_at=stored_at)
        self.next_seq = max(self.next_seq, seq + 1)
        if isinstance(seen, DecisionEntry):
            self.ledger.refuse(seen)
            for listener in self.refusal_listeners:
                listener(seen, self._replaying)
            self.rejected.append(f"{where}: {seen.reason}")
            # a flood of forged messages is one line per council and reason, then a count every 10 s
            self.refusals.add((seen.council, seen.reason), reason=f"{where}: {seen.reason}", council=seen.council)
            return False
        self.ledger.admit(seen)
        self.operations, self.grants = seen.operations, seen.grants
        e = seen.entry
        self._recompile(f"{e.ref}: {e.reason} ({e.council})")
        return True

    def apply_registration(self, data: bytes, *, where: str = "registration") -> bool:
        try:
            reg = _REGISTRATION.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return self._reject(f"{where}: {exc}")
        self.registrations = {**self.registrations, reg.slug: reg}
        self._recompile(f"agency {reg.slug} {'registered' if reg.active else 'offboarded'}")
        return True

    def _reject(self, message: str, **context: str | None) -> bool:
        self.rejected.append(message)
        log.error("policy change refused", reason=message, **{k: v for k, v in context.items() if v})
        return False

    # ---- files -------------------------------------------------------------------------
    def _files_signature(self) -> tuple:
        if self.policy_dir is None:
            return ()
        try:
            return tuple(
                sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in self.policy_dir.glob("*.toml"))
            )
        except OSError:
            return ()

    def reload(self) -> bool:
        """Re-read the policy files (on change or SIGHUP). A bad file keeps the last good policy."""
        if self.policy_dir is None:
            return False
        self._signature = self._files_signature()
        try:
            base = load_policy_dir(self.policy_dir)
        except PolicyError as exc:
            log.error(
                "policy files refused; keeping the last good policy", error=str(exc), version=self.current.version
            )
            self.rejected.append(str(exc))
            return False
        self.base = base
        self._recompile("policy files reloaded")
        return True

    async def _watch(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.reload_interval)
            except TimeoutError:
                pass
            if not stop.is_set() and self._files_signature() != self._signature:
                self.reload()

    # ---- the streams -------------------------------------------------------------------
    async def start(self, nc, stop: asyncio.Event, *, timeout: float = 30.0, watch: bool = True) -> None:
        """Replay REGISTRY then DECISIONS up to their current end, compile once, then follow both live
        (``watch``: and re-read the policy files when they change)."""
        js = nc.jetstream()
        self._replaying = True
        try:
            # REGISTRY whole (`registry.>`), so catching up never waits on a message it skips
            for stream, subjects in ((REGISTRY_STREAM, REGISTRY_SUBJECTS), (DECISIONS_STREAM, DECISIONS_SUBJECTS)):
                await self._follow(js, stream, subjects, timeout)
        finally:
            self._replaying = False
        self._recompile("decisions and registrations replayed")
        log.info(
            "policy ready",
            version=self.current.version,
            operations=len(self.current.data.operations),
            grants=len(self.current.data.grants),
        )
        if self.policy_dir is not None and watch:
            self._tasks.append(asyncio.create_task(self._watch(stop), name="policy-files"))

    def _on_message(self, stream: str, msg) -> None:
        seq = msg.metadata.sequence.stream
        where = f"{msg.subject} (#{seq})"
        try:
            if stream == DECISIONS_STREAM:
                self.apply_decision(
                    msg.data, headers=msg.headers, seq=seq, stored_at=msg.metadata.timestamp, where=where
                )
            elif msg.subject.startswith(REGISTRATION_PREFIX):
                self.apply_registration(msg.data, where=where)
        except Exception as exc:  # a message that trips a bug must never stop the policy following its stream
            log.exception("policy message not applied", where=where)
            self._reject(f"{where}: not applied: {exc!r}")

    async def _follow(self, js, stream: str, subjects: str, timeout: float) -> None:
        self._subs.append(
            await replay_then_follow(js, stream, subjects, lambda msg: self._on_message(stream, msg), timeout)
        )

    async def close(self) -> None:
        self.refusals.flush(force=True)
        for t in self._tasks:
            t.cancel()
        for sub in self._subs:
            try:
                await sub.unsubscribe()
            except (NatsError, JsError):
                pass
        self._subs.clear()
