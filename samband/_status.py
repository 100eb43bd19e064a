"""What is running, read from the broker: `samband status` gathers it, `_status_view` shows it.

Two read-only identities that every deployment already has, each for what only it may see:

* ``admin``, the system account's user, asks the server itself (``$SYS.REQ.SERVER.PING.*``):
  version, uptime and cluster peers (VARZ), who is connected in which account (CONNZ) and every
  account's streams and consumers (JSZ): ingest lag, inbox lag, dead letters, the log's last
  append and the lease bucket. The requests go over the client port, so they work wherever a
  client can connect (TLS, a remote host); the monitoring port answers anyone and is loopback only.
* ``auditor``, the oversight, reads in the router's account what the server does not summarise:
  the lease's holder, the newest checkpoint (verified with the pinned log key), the per-agency
  counts of QUARANTINE and PARKED, and the councils' decisions (to rebuild the policy version the
  way `samband decision list` does).

Nothing here writes. A broker that does not answer is one line (`StatusUnavailable`).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from pathlib import Path
from typing import Any

import msgspec
import nats
from nats.errors import Error as NatsError
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError

from samband.broker_config import ADMIN, AUDITOR, ROUTER_ACCOUNT, Deployment
from samband.observability.audit import LeaseHolder, open_checkpoint, pinned_verifier
from samband.observability.bus import direct_get
from samband.router import CouncilKeys, LivePolicy, in_force
from samband.schemas.layout import (
    AUDIT_CHECKPOINT_SUBJECT,
    AUDIT_LEASE_BUCKET,
    AUDIT_LEASE_KEY,
    AUDIT_STREAM,
    DEADLETTER_STREAM,
    INBOX_STREAM,
    INGEST_PREFIX,
    PARKED_STREAM,
    QUARANTINE_STREAM,
    ROUTER_DURABLE,
)

__all__ = ["AgencyStatus", "Status", "StatusSession", "StatusUnavailable"]

_REQUEST_TIMEOUT = 2.0  # a server that does not answer a $SYS request within this is not there
_PEERS_WAIT = 1.0  # how long the other servers of a cluster are given to answer a PING
_ROUTER_NAME = "samband-router"  # the connection name of every router (broker_config/_connect.py)
_LEASE_STREAM = f"KV_{AUDIT_LEASE_BUCKET}"


class StatusUnavailable(Exception):
    """The broker went away or refused a read: one line for the user."""


class Broker(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    server: str
    version: str
    started: _dt.datetime
    uptime_seconds: float
    cluster: str | None  # the cluster's name, None for a standalone server
    peers: list[str]  # the other servers that answered, by name
    connections: int


class Writer(msgspec.Struct, frozen=True, kw_only=True):
    holder: str | None  # the lease's value: host:pid:nonce of the router that writes the log
    since: _dt.datetime | None
    routers: int  # router connections: the writer and any standby
    standby: int


class AuditStatus(msgspec.Struct, frozen=True, kw_only=True):
    entries: int  # the tree size in the newest checkpoint
    checkpoint_at: _dt.datetime | None
    checkpoint_age_seconds: float | None
    verified: str  # "OK" or why the newest checkpoint does not open with the pinned key


class PolicyStatus(msgspec.Struct, frozen=True, kw_only=True):
    version: str
    directory: str
    in_force: list[str]  # "operation bacchus", "grant g-1" ...
    decisions: int  # messages on DECISIONS (admitted and refused)


class AgencyStatus(msgspec.Struct, frozen=True, kw_only=True):
    agency: str
    connections: int
    ingest_lag: int  # its records the router has not yet routed and acked
    ingest_oldest_seconds: float | None  # the age of the oldest of them
    inbox_lag: int | None  # what its slowest inbox reader has not yet acked; None: no reader
    dead_letters: int
    quarantined: int  # its records held back by the router (QUARANTINE, quarantine.<agency>.>)
    parked: int  # deliveries to it its inbox refused, waiting (PARKED, parked.<agency>)


class Status(msgspec.Struct, frozen=True, kw_only=True):
    at: _dt.datetime
    broker: Broker
    writer: Writer
    audit: AuditStatus
    policy: PolicyStatus
    agencies: list[AgencyStatus]


class StatusSession:
    """Both connections, opened once (`--watch` reads again on them)."""

    def __init__(self, dep: Deployment, policy_dir: Path) -> None:
        self.dep = dep
        self.policy_dir = policy_dir
        self._admin: nats.NATS | None = None
        self._auditor: nats.NATS | None = None
        self._asking = ADMIN  # the identity whose read is under way, named when it fails

    async def __aenter__(self) -> StatusSession:
        # no reconnecting: a broker that goes away ends `status`, it is not waited for
        self._admin = await self.dep.connect(ADMIN, allow_reconnect=False)
        self._auditor = await self.dep.connect(AUDITOR, allow_reconnect=False)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for nc in (self._admin, self._auditor):
            if nc is not None and not nc.is_closed:
                try:
                    await nc.close()
                except (OSError, NatsError):
                    pass

    async def read(self) -> Status:
        assert self._admin is not None and self._auditor is not None
        self._asking = ADMIN
        try:
            return await self._read(self._admin, self._auditor)
        except (TimeoutError, NatsError, JsError, OSError) as exc:
            gone = self._admin.is_closed or self._auditor.is_closed or not self._admin.is_connected
            what = (
                "is the deployment running? Start it with"
                if gone
                else "was its config made before this samband? Restart it with"
            )
            raise StatusUnavailable(
                f"Expected the nats-server at {self.dep.url} to answer `{self._asking}`, got {_why(exc)}: "
                f"{what} `samband --state-dir {self.dep.state_dir} up`"
            ) from exc

    async def _read(self, admin: nats.NATS, auditor: nats.NATS) -> Status:
        varz = await _sys(admin, "VARZ")
        peers = await _peers(admin, varz)
        connz = await _sys(admin, "CONNZ", {"auth": True, "limit": 100_000})
        jsz = await _sys(admin, "JSZ", {"accounts": True, "streams": True, "consumer": True})
        now = _parse_time(varz["now"])
        accounts = {a["name"]: {s["name"]: s for s in a.get("stream_detail") or []} for a in jsz["account_details"]}
        conns = connz.get("connections") or []
        broker = Broker(
            url=self.dep.url,
            server=varz["server_name"],
            version=varz["version"],
            started=_parse_time(varz["start"]),
            uptime_seconds=(now - _parse_time(varz["start"])).total_seconds(),
            cluster=(varz.get("cluster") or {}).get("name"),
            peers=peers,
            connections=len(conns),
        )
        routers = sum(1 for c in conns if c.get("account") == ROUTER_ACCOUNT and c.get("name") == _ROUTER_NAME)
        self._asking = AUDITOR
        holder = await _lease_holder(auditor)
        writer = Writer(
            holder=holder.holder if holder else None,
            since=holder.since if holder else None,
            routers=routers,
            standby=max(0, routers - 1) if holder else routers,
        )
        audit = await self._audit(auditor, now)
        policy = await self._policy(auditor, now, accounts.get(ROUTER_ACCOUNT, {}))
        held = await _per_agency(auditor, QUARANTINE_STREAM, "quarantine.>", 1)
        parked = await _per_agency(auditor, PARKED_STREAM, "parked.>", 1)
        rows = [
            _agency_row(slug, accounts, conns, now, held.get(slug, 0), parked.get(slug, 0))
            for slug in sorted(self.dep.agencies)
        ]
        return Status(at=now, broker=broker, writer=writer, audit=audit, policy=policy, agencies=rows)

    async def _audit(self, auditor: nats.NATS, now: _dt.datetime) -> AuditStatus:
        msg = await direct_get(auditor, AUDIT_STREAM, last_by_subj=AUDIT_CHECKPOINT_SUBJECT, timeout=_REQUEST_TIMEOUT)
        if msg is None:
            return AuditStatus(entries=0, checkpoint_at=None, checkpoint_age_seconds=None, verified="no checkpoint yet")
        try:
            cp, _ = open_checkpoint(msg.data, pinned_verifier(self.dep.state_dir, None))
        except Exception as exc:  # the audit package's NoteError or key error: shown, not raised
            return AuditStatus(entries=0, checkpoint_at=msg.time, checkpoint_age_seconds=None, verified=str(exc))
        age = (now - msg.time).total_seconds() if msg.time else None
        return AuditStatus(entries=cp.size, checkpoint_at=msg.time, checkpoint_age_seconds=age, verified="OK")

    async def _policy(self, auditor: nats.NATS, now: _dt.datetime, router_streams: dict) -> PolicyStatus:
        live = LivePolicy(self.policy_dir, councils=CouncilKeys.of_state(self.dep.state_dir))
        try:
            await live.start(auditor, asyncio.Event(), timeout=_REQUEST_TIMEOUT * 5, watch=False)
        finally:
            await live.close()
        rows = [f"{r['kind']} {r['id']}" for r in in_force(live, now) if r["state"] == "in force"]
        decisions = (router_streams.get("DECISIONS") or {}).get("state", {}).get("messages", 0)
        return PolicyStatus(version=live.version, directory=str(self.policy_dir), in_force=rows, decisions=decisions)


def _agency_row(
    slug: str, accounts: dict[str, dict], conns: list[dict], now: _dt.datetime, held: int, parked: int
) -> AgencyStatus:
    ingest = accounts.get(ROUTER_ACCOUNT, {}).get(f"{INGEST_PREFIX}{slug}", {})
    state = ingest.get("state") or {}
    waiting = int(state.get("messages", 0))
    oldest = (now - _parse_time(state["first_ts"])).total_seconds() if waiting and state.get("first_ts") else None
    own = accounts.get(slug, {})
    inbox = own.get(INBOX_STREAM, {})
    readers = [c for c in inbox.get("consumer_detail") or [] if c.get("name") != ROUTER_DURABLE]
    lag = max((int(c.get("num_pending", 0)) + int(c.get("num_ack_pending", 0)) for c in readers), default=None)
    dead = int((own.get(DEADLETTER_STREAM, {}).get("state") or {}).get("messages", 0))
    return AgencyStatus(
        agency=slug,
        connections=sum(1 for c in conns if c.get("account") == slug),
        ingest_lag=waiting,
        ingest_oldest_seconds=oldest,
        inbox_lag=lag,
        dead_letters=dead,
        quarantined=held,
        parked=parked,
    )


async def _sys(nc: nats.NATS, what: str, options: dict[str, Any] | None = None) -> dict:
    """The first server's answer to ``$SYS.REQ.SERVER.PING.<what>`` (its ``data``)."""
    reply = await nc.request(
        f"$SYS.REQ.SERVER.PING.{what}", msgspec.json.encode(options or {}), timeout=_REQUEST_TIMEOUT
    )
    body = msgspec.json.decode(reply.data)
    if "error" in body:
        raise StatusUnavailable(f"Expected the server's {what}, got {body['error']}")
    return body["data"]


async def _peers(nc: nats.NATS, varz: dict) -> list[str]:
    """The other servers of the cluster that answer a PING, by name ([] standalone)."""
    expected = len((varz.get("cluster") or {}).get("urls") or [])
    if not expected:
        return []
    names: list[str] = []
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    try:
        await nc.publish("$SYS.REQ.SERVER.PING", b"", reply=inbox)
        deadline = asyncio.get_running_loop().time() + _PEERS_WAIT
        while len(names) < expected + 1:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                msg = await sub.next_msg(timeout=left)
            except TimeoutError:
                break
            names.append(msgspec.json.decode(msg.data)["server"]["name"])
    finally:
        await sub.unsubscribe()
    return sorted(n for n in names if n != varz["server_name"])


async def _lease_holder(nc: nats.NATS) -> LeaseHolder | None:
    """Who holds the writer's lease now (None: nobody; a lapsed value has aged out of the bucket)."""
    try:
        msg = await nc.jetstream().get_last_msg(_LEASE_STREAM, f"$KV.{AUDIT_LEASE_BUCKET}.{AUDIT_LEASE_KEY}")
    except NotFoundError:
        return None
    if not msg.data or (msg.headers or {}).get("KV-Operation") in ("DEL", "PURGE"):
        return None  # the leader stopped cleanly and deleted its key
    try:
        return msgspec.json.decode(msg.data, type=LeaseHolder)
    except msgspec.DecodeError:
        return None


async def _per_agency(nc: nats.NATS, stream: str, subjects: str, position: int) -> dict[str, int]:
    """Messages of ``stream`` per agency, the agency being token ``position`` of the subject."""
    try:
        info = await nc.jetstream().stream_info(stream, subjects_filter=subjects)
    except NotFoundError:
        return {}
    out: dict[str, int] = {}
    for subject, count in (info.state.subjects or {}).items():
        parts = subject.split(".")
        if len(parts) > position:
            out[parts[position]] = out.get(parts[position], 0) + count
    return out


def _parse_time(text: str) -> _dt.datetime:
    # Go's RFC 3339 with nanoseconds; msgspec takes them (to microseconds), fromisoformat does not
    return msgspec.json.decode(msgspec.json.encode(text), type=_dt.datetime)


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | nats.errors.TimeoutError):
        return "no answer in time"
    if isinstance(exc, nats.errors.ConnectionClosedError):
        return "the connection closed"
    if isinstance(exc, nats.errors.NoRespondersError):
        return "no responders"
    return str(exc) or type(exc).__name__
