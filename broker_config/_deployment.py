"""A deployment: a state directory with credentials, the rendered config, the JetStream store, and the streams."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections.abc import Iterable
from pathlib import Path

import msgspec
import nats
from nats.errors import Error as NatsError
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import Error as JsError

from samband.observability import get_logger
from samband.schemas.layout import auditor_identity, witness_identity

from ._agencies import Agency, builtin_agencies
from ._audit import audit_streams_exist, ensure_audit_keys, inbox_prefix, provision_audit
from ._creds import AUDIT_ADMIN, STEWARD, Credentials
from ._errors import BrokerConfigError, BrokerUnavailable, OnboardingError
from ._lock import StateLock, _config_lock, check_ports_free
from ._render import render_server_config
from ._server import NatsServer, check_config, free_port, reload_server

__all__ = ["AGENCY_STREAMS", "DEADLETTER_STREAM", "INBOX_STREAM", "ROUTER_STREAMS", "Deployment", "provision_streams"]

log = get_logger("samband.broker")

_DAY = 86_400.0

# Streams in the ROUTER account, but the audit log's (`_audit.py`), which only the audit admin makes.
ROUTER_STREAMS: tuple[StreamConfig, ...] = (
    StreamConfig(
        name="INGEST", subjects=["ingest.>"], storage=StorageType.FILE, max_age=7 * _DAY, duplicate_window=_DAY
    ),
    # Agency registrations (onboarding/offboarding), read by the router to know who exists.
    StreamConfig(name="REGISTRY", subjects=["registry.>"], storage=StorageType.FILE),
    # The councils' signed decisions: their history is kept (an audit entry cites `DECISIONS#<seq>`),
    # and no decision is larger than the router reads (router/_decisions.py: MAX_DECISION_BYTES).
    StreamConfig(
        name="DECISIONS",
        subjects=["decisions.>"],
        storage=StorageType.FILE,
        deny_delete=True,
        deny_purge=True,
        allow_rollup_hdrs=False,
        max_msg_size=64 * 1024,
    ),
    StreamConfig(name="RECEIPTS", subjects=["receipt.>"], storage=StorageType.FILE, max_age=30 * _DAY),
)
INBOX_STREAM = StreamConfig(
    name="INBOX", subjects=["in.>"], storage=StorageType.FILE, max_age=30 * _DAY, duplicate_window=_DAY
)
# An agency's rejected native records, in its own account (see _render.py).
DEADLETTER_STREAM = StreamConfig(
    name="DEADLETTER", subjects=["dlq.>"], storage=StorageType.FILE, max_age=30 * _DAY, duplicate_window=_DAY
)
AGENCY_STREAMS = (INBOX_STREAM, DEADLETTER_STREAM)
# A centre (a Ruc, the national follow-up) makes its year's outcomes report from its inbox in the
# next year's first quarter (docs/outcomes.md): its inbox keeps 400 days, not 30.
CENTRE_INBOX_STREAM = dataclasses.replace(INBOX_STREAM, max_age=400 * _DAY)
CENTRE_STREAMS = (CENTRE_INBOX_STREAM, DEADLETTER_STREAM)


def streams_for(agency: Agency | None) -> tuple[StreamConfig, ...]:
    """The streams in an agency's own account: its INBOX and DEADLETTER (a centre's inbox keeps longer)."""
    return CENTRE_STREAMS if agency is not None and agency.tier == "centre" else AGENCY_STREAMS


class _Meta(msgspec.Struct, frozen=True):
    port: int
    http_port: int
    agencies: tuple[Agency, ...]


class Deployment:
    """Everything one running bus needs on disk, under ``state_dir``.

    ``samband up`` uses a fixed state directory (``.samband/``); the demo and the tests use
    a temporary one and free ports, so several can run side by side.
    """

    def __init__(
        self,
        state_dir: Path,
        *,
        agencies: Iterable[Agency] | None = None,
        port: int | None = None,
        http_port: int | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self.agencies: dict[str, Agency] = {a.slug: a for a in agencies} if agencies is not None else builtin_agencies()
        self.port = port or free_port()
        self.http_port = http_port or free_port()
        self.creds = Credentials(self.state_dir)
        self.server: NatsServer | None = None
        self.lock = StateLock(self.state_dir)

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    @property
    def config_file(self) -> Path:
        return self.state_dir / "nats-server.conf"

    def seed(self, identity: str) -> Path:
        return self.creds.seed_path(identity)

    @property
    def pid_file(self) -> Path:
        """Written by nats-server itself: how another process (``samband onboard``) finds it to reload."""
        return self.state_dir / "nats-server.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "nats-server.log"

    @property
    def meta_file(self) -> Path:
        return self.state_dir / "deployment.json"

    @classmethod
    def load(cls, state_dir: Path) -> Deployment:
        """The deployment ``samband up`` made in ``state_dir`` (its ports and its onboarded agencies)."""
        meta = msgspec.json.decode(Path(state_dir, "deployment.json").read_bytes(), type=_Meta)
        return cls(state_dir, agencies=meta.agencies, port=meta.port, http_port=meta.http_port)

    def render(self) -> Path:
        """Write the server configuration (creating missing credentials and witness keys) and check it
        with ``nats-server -t``."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ensure_audit_keys(self.state_dir, self.agencies.values())
        text = render_server_config(
            agencies=self.agencies.values(),
            creds=self.creds,
            store_dir=self.state_dir / "jetstream",
            port=self.port,
            http_port=self.http_port,
            extra={"pid_file": str(self.pid_file)},
        )
        candidate = self.config_file.with_suffix(".conf.new")
        candidate.write_text(text)
        check_config(candidate)
        candidate.replace(self.config_file)
        self.meta_file.write_bytes(
            msgspec.json.encode(_Meta(port=self.port, http_port=self.http_port, agencies=tuple(self.agencies.values())))
        )
        return self.config_file

    def start(self) -> NatsServer:
        """Start the deployment's nats-server: refused while another live process uses this state
        directory (`DeploymentInUse`) or while its ports are taken (`BrokerStartError`)."""
        server = self._prepare()
        try:
            return server.start()
        except BaseException:
            self.stop()
            raise

    async def start_async(self) -> NatsServer:
        """`start`, giving the event loop back while the server comes up (cancel it to stop)."""
        server = self._prepare()
        try:
            return await server.start_async()
        except BaseException:
            self.stop()
            raise

    def _prepare(self) -> NatsServer:
        self.lock.acquire()
        try:
            check_ports_free({"--port": self.port, "--http-port": self.http_port}, pid_file=self.pid_file)
            self.render()
        except BaseException:
            self.lock.release()
            raise
        self.server = NatsServer(self.config_file, port=self.port, http_port=self.http_port, log_file=self.log_file)
        return self.server

    def reload(self, *, timeout: float = 10.0) -> None:
        """Make the running nats-server re-read its configuration live (no restart).

        Raises `BrokerReloadError` with the server's own words if it refused the new
        configuration; the server then keeps running on its last good one.
        """
        reload_server(self.pid_file, self.log_file, self.http_port, timeout=timeout)

    def ensure_running(self) -> None:
        """Raise `BrokerUnavailable` (one line: what, where, what to do) unless this deployment's server runs."""
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            raise BrokerUnavailable(
                f"Expected this deployment's nats-server running at {self.url}, found none (no live pid in "
                f"{self.pid_file}): is the deployment running? Start it with `samband --state-dir {self.state_dir} up`"
            ) from None

    def stop(self) -> None:
        if self.server:
            self.server.stop()
        self.lock.release()

    def apply(self, agencies: dict[str, Agency]) -> None:
        """Render the configuration for ``agencies`` and reload the running server live.

        All or nothing: if ``nats-server -t`` or the running server refuses the new configuration,
        the previous config file, deployment file and credentials are put back (the server kept
        its last good configuration anyway) and the error says why.
        """
        with _config_lock(self.state_dir):
            self._apply(agencies)

    def change(self, *, add: Agency | None = None, remove: str | None = None) -> None:
        """Add or remove one agency, live, starting from the deployment file as it is *now*.

        Another process (a second ``samband onboard``) may have changed it since this object
        was loaded; under the lock the latest agencies are read again, so neither change is lost.
        """
        with _config_lock(self.state_dir):
            self.ensure_running()
            if self.meta_file.exists():
                self.agencies = dict(Deployment.load(self.state_dir).agencies)
            agencies = dict(self.agencies)
            if add is not None:
                if add.slug in agencies:
                    raise OnboardingError(f"Expected a slug not yet on the bus, got {add.slug!r} (already onboarded)")
                agencies[add.slug] = add
            if remove is not None:
                if remove not in agencies:
                    raise OnboardingError(
                        f"Expected an agency on the bus ({', '.join(sorted(agencies))}), got {remove!r}"
                    )
                del agencies[remove]
            self._apply(agencies)

    def _apply(self, agencies: dict[str, Agency]) -> None:
        previous = self.agencies
        saved = {p: p.read_bytes() for p in (self.config_file, self.meta_file) if p.exists()}
        new_identities = [slug for slug in agencies if not self.creds.seed_path(slug).exists()]
        self.agencies = dict(agencies)
        try:
            self.render()
            self.reload()
            if set(agencies) - set(previous):
                # nats-server 2.15 wires a *new* account's service import of an existing account's
                # export (`ingest.X.>` from ROUTER) only on the next reload: the first one creates
                # the account, a second, identical one links it (docs/broker.md, tested).
                self.reload()
        except BrokerConfigError:
            self.agencies = previous
            for path, data in saved.items():
                path.write_bytes(data)
            for slug in new_identities:
                self.creds.revoke(slug)
            raise
        for slug in set(previous) - set(agencies):
            for identity in (slug, auditor_identity(slug), witness_identity(slug)):
                self.creds.revoke(identity)

    async def connect(self, identity: str, *, first_connect: float = 3.0, **options) -> nats.NATS:
        """Connect as one identity (agency slug, ``router``, ``sso``, ``auditor``, ``auditor-<agency>``,
        ``witness-<agency>``, ``steward``, ``audit-admin``, ``admin``).

        The first connection is tried for ``first_connect`` seconds (a broker that is starting
        answers within them) and then refused with one line that names the URL, the identity
        and what to do; credentials the server refuses are refused at once. Once connected, the
        client reconnects for ever (a broker restart is ridden out).
        """
        seed = self.seed(identity)
        if identity == AUDIT_ADMIN and not seed.is_file():
            raise BrokerUnavailable(
                f"the audit admin's seed is not at {seed}: it is kept apart from the deployment; "
                "point SAMBAND_ADMIN_DIR at the directory that holds it"
            )
        if not seed.is_file():
            raise BrokerUnavailable(
                f"Expected credentials for `{identity}` at {seed}, found none: "
                f"is `{identity}` on this deployment ({self.state_dir})?"
            )
        connected = False
        log_error = _log_error(identity)
        first_error: list[BaseException] = []

        async def error_cb(exc: Exception) -> None:
            if connected:
                await log_error(exc)
            else:  # before the first connection, failures are ours to report, once
                first_error[:] = [exc]

        prefix = inbox_prefix(identity)  # the audit identities listen on inboxes of their own
        settings = {
            "connect_timeout": 2,
            "max_reconnect_attempts": -1,
            "reconnect_time_wait": 0.25,
            "error_cb": error_cb,
            **({"inbox_prefix": prefix} if prefix else {}),
            **options,
        }
        deadline = time.monotonic() + first_connect
        while True:
            nc = nats.NATS()
            try:
                # nats-py retries a first connection for ever unless both are bounded; they are set
                # back once connected (nats-py reads them from `options` on each disconnect)
                first = {**settings, "allow_reconnect": False, "max_reconnect_attempts": 1}
                await nc.connect(self.url, nkeys_seed=str(seed), name=f"samband-{identity}", **first)
            except (NatsError, OSError, TimeoutError) as exc:
                cause: BaseException = exc
                if isinstance(exc, nats.errors.NoServersError) and first_error:
                    cause = first_error[0]  # what went wrong, not that nothing is left to try
                refused_credentials = any(w in str(cause).lower() for w in ("authorization", "authentication"))
                if refused_credentials or time.monotonic() > deadline:
                    raise BrokerUnavailable(self._unreachable(identity, cause, refused_credentials)) from cause
                await asyncio.sleep(0.25)
                continue
            nc.options["allow_reconnect"] = options.get("allow_reconnect", True)
            nc.options["max_reconnect_attempts"] = settings["max_reconnect_attempts"]
            connected = True
            return nc

    def _unreachable(self, identity: str, exc: BaseException, refused_credentials: bool) -> str:
        here = f"--state-dir {self.state_dir}"
        if refused_credentials:
            return (
                f"Expected the nats-server at {self.url} to accept `{identity}`, got an authorization violation: "
                f"another deployment answers on that port; start this one with `samband {here} up`"
            )
        if isinstance(exc, ConnectionRefusedError):
            why = "connection refused"
        elif isinstance(exc, TimeoutError):
            why = "no answer in time"
        else:
            why = str(exc) or type(exc).__name__
        return (
            f"Expected a nats-server at {self.url} for `{identity}`, got {why}: "
            f"is the deployment running? Start it with `samband {here} up`"
        )

    async def provision(self) -> None:
        """Create (or update) the router's streams, the audit log's and every agency's inbox stream. Idempotent.

        The audit streams are made with the audit admin's seed when it is at hand; without it
        (kept apart, as it should be once set up) they are only checked to exist."""
        nc = await self.connect(STEWARD)
        try:
            await provision_streams(nc, ROUTER_STREAMS)
            if not self.creds.has_seed(AUDIT_ADMIN):
                missing = await audit_streams_exist(nc)
                if missing:
                    raise BrokerUnavailable(
                        f"the audit streams {', '.join(missing)} do not exist and only the audit admin may make them: "
                        f"run `samband audit provision` with SAMBAND_ADMIN_DIR pointing at its seed"
                    )
        finally:
            await nc.close()
        if self.creds.has_seed(AUDIT_ADMIN):
            await self.provision_audit()
        for slug in self.agencies:
            await self.provision_inbox(slug)

    async def provision_audit(self) -> None:
        """The audit log's streams and lease bucket, made or updated as the audit admin."""
        nc = await self.connect(AUDIT_ADMIN)
        try:
            await provision_audit(nc)
        finally:
            await nc.close()

    async def provision_inbox(self, slug: str) -> None:
        """The agency's own streams: its INBOX (written by the router) and its DEADLETTER."""
        nc = await self.connect(slug)
        try:
            await provision_streams(nc, streams_for(self.agencies.get(slug)))
        finally:
            await nc.close()


async def provision_streams(nc: nats.NATS, configs: Iterable[StreamConfig], *, replicas: int = 1) -> None:
    """Create or update ``configs`` in the account ``nc`` is connected to (a cluster uses ``replicas=3``)."""
    js = nc.jetstream()
    for cfg in configs:
        await _ensure_stream(js, dataclasses.replace(cfg, num_replicas=replicas) if replicas != 1 else cfg)


def _log_error(identity: str):
    async def error_cb(exc: Exception) -> None:
        log.warning("nats connection error", identity=identity, error=repr(exc))

    return error_cb


async def _ensure_stream(js, cfg: StreamConfig) -> None:
    try:
        try:
            await js.stream_info(cfg.name)
        except nats.js.errors.NotFoundError:
            await js.add_stream(cfg)
        else:
            await js.update_stream(cfg)
    except (JsError, NatsError) as exc:
        raise BrokerUnavailable(f"Expected stream {cfg.name} created or updated, got {exc!r}") from exc
