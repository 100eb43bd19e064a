"""The live policy: files, the councils' decisions and the agency registrations, merged and recompiled.

The state is a pure function of (policy files, the REGISTRY stream, the DECISIONS stream in
order), so a restarted router that replays both streams before it routes anything rebuilds
the same policy with the same version. Every change compiles a whole new `Policy` and swaps
it in one assignment; the routing loop reads ``current`` once per batch, so a change never
drops or duplicates a message (the batch in flight finishes under the version it began with).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import msgspec
from nats.errors import Error as NatsError
from nats.js.api import DeliverPolicy
from nats.js.errors import Error as JsError

from samband.observability import get_logger
from samband.schemas import ENVELOPE, AgencyRegistration, CooptionDecision, DecodeError, OperationDecision

from ._errors import PolicyError
from ._model import AgencyEntry, Grant, Operation, PolicyData, load_policy_dir, validate
from ._policy import Policy

__all__ = ["DECISIONS_SUBJECTS", "REGISTRY_SUBJECTS", "LivePolicy", "grant_from", "operation_from"]

log = get_logger("samband.router.policy")

DECISIONS_SUBJECTS = "decisions.>"
REGISTRY_SUBJECTS = "registry.>"  # the whole stream, so catching up never waits on a message we skip
REGISTRATION_PREFIX = "registry.agencies."
_REGISTRATION = msgspec.json.Decoder(AgencyRegistration)


def operation_from(d: OperationDecision) -> Operation:
    return Operation(
        name=d.name,
        scope=d.scope,
        decided_by=d.decided_by,
        participants=d.participants,
        record_types=d.record_types,
        legal_basis=d.legal_basis,
        purposes=dict(d.purposes),
        valid_from=d.valid_from,
        valid_to=d.valid_to,
        status=d.status,
    )


def grant_from(d: CooptionDecision) -> Grant:
    return Grant(
        agency=d.agency,
        operation=d.operation,
        record_types=d.record_types,
        fields=d.fields,
        valid_from=d.valid_from,
        valid_to=d.valid_to,
        decided_by=d.decided_by,
        reason=d.reason,
        legal_basis=d.legal_basis,
        revoked=d.revoked,
    )


class LivePolicy:
    """The router's policy source. ``current`` is always a complete compiled `Policy`."""

    def __init__(
        self, policy_dir: Path | str | None = None, *, data: PolicyData | None = None, reload_interval: float = 1.0
    ) -> None:
        if (policy_dir is None) == (data is None):
            raise ValueError("Expected exactly one of policy_dir and data")
        self.policy_dir = Path(policy_dir) if policy_dir is not None else None
        self.base: PolicyData = data if data is not None else load_policy_dir(self.policy_dir)  # type: ignore[arg-type]
        self.reload_interval = reload_interval
        self.registrations: dict[str, AgencyRegistration] = {}
        self.operations: dict[str, Operation] = {}
        self.grants: dict[str, Grant] = {}
        self.rejected: list[str] = []
        self.current: Policy = Policy(self.base)
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

    # ---- merging and compiling ---------------------------------------------------------
    def merged(self, *, operations=None, grants=None, registrations=None) -> PolicyData:
        agencies = dict(self.base.agencies)
        for slug, reg in (registrations if registrations is not None else self.registrations).items():
            if reg.active:
                agencies[slug] = AgencyEntry(name=reg.name, tier=reg.tier)
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
        policy = Policy(self.merged())
        if policy.version == self.current.version:
            return
        self.current = policy
        self.versions.append(policy.version)
        for w in policy.warnings:
            log.warning("policy warning", warning=w)
        log.info("policy changed", version=policy.version, cause=cause)
        for listener in self.listeners:
            listener(policy, cause)

    # ---- the councils' decisions and the registrations ---------------------------------
    def apply_decision(self, env_bytes: bytes, *, where: str = "decision") -> bool:
        """Apply one SSO decision message (an Envelope); a bad one is logged and skipped, never half-applied."""
        try:
            env = ENVELOPE.decode(env_bytes)
        except DecodeError as exc:
            return self._reject(f"{where}: {exc}")
        rec = env.record
        if isinstance(rec, OperationDecision):
            ops = {**self.operations, rec.operation: operation_from(rec)}
            errs = validate(self.merged(operations=ops), agencies_known=False)
            if errs:
                return self._reject(f"{where}: {errs[0].split(': ', 1)[1]}")
            self.operations = ops
            self._recompile(f"operation decision {rec.operation} ({rec.status}) by {rec.decided_by}")
            return True
        if isinstance(rec, CooptionDecision):
            grants = {**self.grants, rec.grant_id: grant_from(rec)}
            errs = validate(self.merged(grants=grants), agencies_known=False)
            if errs:
                return self._reject(f"{where}: {errs[0].split(': ', 1)[1]}")
            self.grants = grants
            verb = "revoked" if rec.revoked else "granted"
            self._recompile(f"co-option {rec.grant_id} {verb} to {rec.agency} by {rec.decided_by}")
            return True
        return self._reject(
            f"{where}: Expected a council.operation_decision or council.cooption_decision, got `{env.record_type}`"
        )

    def apply_registration(self, data: bytes, *, where: str = "registration") -> bool:
        try:
            reg = _REGISTRATION.decode(data)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            return self._reject(f"{where}: {exc}")
        self.registrations = {**self.registrations, reg.slug: reg}
        self._recompile(f"agency {reg.slug} {'registered' if reg.active else 'offboarded'}")
        return True

    def _reject(self, message: str) -> bool:
        self.rejected.append(message)
        log.error("policy change refused", reason=message)
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
    async def start(self, nc, stop: asyncio.Event, *, timeout: float = 30.0) -> None:
        """Replay REGISTRY then DECISIONS up to their current end, compile once, then follow both live."""
        js = nc.jetstream()
        self._replaying = True
        try:
            for stream, subjects, apply in (
                ("REGISTRY", REGISTRY_SUBJECTS, self.apply_registration),
                ("DECISIONS", DECISIONS_SUBJECTS, self.apply_decision),
            ):
                await self._follow(js, stream, subjects, apply, timeout)
        finally:
            self._replaying = False
        self._recompile("decisions and registrations replayed")
        log.info(
            "policy ready",
            version=self.current.version,
            operations=len(self.current.data.operations),
            grants=len(self.current.data.grants),
        )
        if self.policy_dir is not None:
            self._tasks.append(asyncio.create_task(self._watch(stop), name="policy-files"))

    async def _follow(self, js, stream: str, subjects: str, apply, timeout: float) -> None:
        try:
            last = (await js.stream_info(stream)).state.last_seq
        except (JsError, NatsError) as exc:
            raise ConnectionError(f"{stream} stream unavailable: {exc!r}") from exc
        caught_up = asyncio.Event()
        if last == 0:
            caught_up.set()

        async def on_msg(msg) -> None:
            seq = msg.metadata.sequence.stream
            if stream != "REGISTRY" or msg.subject.startswith(REGISTRATION_PREFIX):
                apply(msg.data, where=f"{msg.subject} (#{seq})")
            if seq >= last:
                caught_up.set()

        sub = await js.subscribe(
            subjects, stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL, cb=on_msg
        )
        self._subs.append(sub)
        try:
            await asyncio.wait_for(caught_up.wait(), timeout)
        except TimeoutError as exc:
            raise ConnectionError(f"{stream} stream not replayed within {timeout}s") from exc

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for sub in self._subs:
            try:
                await sub.unsubscribe()
            except (NatsError, JsError):
                pass
        self._subs.clear()
