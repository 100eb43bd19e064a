"""A deployment: a state directory with credentials, the rendered config, the JetStream store, and the streams."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec
import nats

from samband.observability import get_logger
from samband.schemas.layout import auditor_identity, reviewer_identity, witness_identity

from ._agencies import Agency, builtin_agencies
from ._audit import audit_streams_exist, ensure_audit_keys, provision_audit
from ._certs import ensure_ca, issue
from ._connect import connect_identity
from ._creds import AUDIT_ADMIN, STEWARD, Credentials
from ._errors import BrokerConfigError, BrokerUnavailable, OnboardingError, PortInUse
from ._lock import StateLock, _config_lock, check_ports_free
from ._permissions import agency_steward
from ._render import render_server_config
from ._secrets import private_dir, write_private
from ._server import NatsServer, check_config, free_port, reload_server
from ._streams import (
    AGENCY_STREAMS,
    DEADLETTER_STREAM,
    INBOX_STREAM,
    ROUTER_STREAMS,
    provision_agency,
    provision_streams,
)
from ._tls import client_tls, is_loopback, tls_block

__all__ = [
    "AGENCY_STREAMS",
    "DEADLETTER_STREAM",
    "INBOX_STREAM",
    "ROUTER_STREAMS",
    "Deployment",
    "provision_agency",
    "provision_streams",
]

log = get_logger("samband.broker")

_DAY = 86_400.0
PORT_TRIES = 5  # starts on new ports after a chosen one was taken


class _Meta(msgspec.Struct, frozen=True):
    port: int
    http_port: int
    agencies: tuple[Agency, ...]
    host: str = "127.0.0.1"
    tls: bool = False
    http_host: str = "127.0.0.1"


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
        host: str = "127.0.0.1",
        tls: bool | None = None,
        http_host: str = "127.0.0.1",
    ) -> None:
        self.state_dir = Path(state_dir)
        self.agencies: dict[str, Agency] = {a.slug: a for a in agencies} if agencies is not None else builtin_agencies()
        self.port = port or free_port()
        self.http_port = http_port or free_port()
        # ports chosen here (none given) may be chosen again: another process can take a free port
        # between choosing it and the server binding it (CI met one once)
        self._chosen_ports = port is None and http_port is None
        self.host = host
        self.http_host = http_host  # the monitoring endpoint (no auth): loopback unless told otherwise
        self.tls = bool(tls) or not is_loopback(host)  # off loopback always TLS; on loopback when asked
        self.creds = Credentials(self.state_dir)
        self.server: NatsServer | None = None
        self.lock = StateLock(self.state_dir)

    @property
    def url(self) -> str:
        """Where this machine's clients reach the server (loopback when it listens on every interface)."""
        reach = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") or is_loopback(self.host) else self.host
        return f"{'tls' if self.tls else 'nats'}://{reach}:{self.port}"

    @property
    def tls_dir(self) -> Path:
        return self.state_dir / "tls"

    def client_tls(self) -> dict:
        """nats-py's options to reach this deployment's server (its CA trusted); none without TLS."""
        return client_tls(self.tls_dir / "ca.pem") if self.tls else {}

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
        return cls(
            state_dir,
            agencies=meta.agencies,
            port=meta.port,
            http_port=meta.http_port,
            host=meta.host,
            tls=meta.tls,
            http_host=meta.http_host,
        )

    def render(self) -> Path:
        """Write the server configuration (creating missing credentials and witness keys) and check it
        with ``nats-server -t``."""
        private_dir(self.state_dir)
        private_dir(self.state_dir / "jetstream")
        ensure_audit_keys(self.state_dir, self.agencies.values())
        tls = None
        if self.tls:
            ca = ensure_ca(self.tls_dir)
            tls = tls_block(issue(self.tls_dir, "server", [self.host], ca), ca.cert)
        text = render_server_config(
            agencies=self.agencies.values(),
            creds=self.creds,
            store_dir=self.state_dir / "jetstream",
            port=self.port,
            http_port=self.http_port,
            host=self.host,
            tls=tls,
            http_host=self.http_host,
            extra={"pid_file": str(self.pid_file)},
        )
        candidate = self.config_file.with_suffix(".conf.new")
        write_private(candidate, text)
        check_config(candidate)
        candidate.replace(self.config_file)
        meta = _Meta(
            port=self.port,
            http_port=self.http_port,
            agencies=tuple(self.agencies.values()),
            host=self.host,
            tls=self.tls,
            http_host=self.http_host,
        )
        write_private(self.meta_file, msgspec.json.encode(meta))
        return self.config_file

    def start(self) -> NatsServer:
        """Start the deployment's nats-server: refused while another live process uses this state
        directory (`DeploymentInUse`) or while its ports are taken (`PortInUse`; ports it chose itself
        are chosen again, up to `PORT_TRIES` times)."""
        for attempt, server in self._attempts():
            try:
                return server.start()
            except BaseException as exc:
                self._failed(exc, attempt)
        raise AssertionError("unreachable: the last try raises")

    async def start_async(self) -> NatsServer:
        """`start`, giving the event loop back while the server comes up (cancel it to stop)."""
        for attempt, server in self._attempts():
            try:
                return await server.start_async()
            except BaseException as exc:
                self._failed(exc, attempt)
        raise AssertionError("unreachable: the last try raises")

    def _attempts(self) -> Iterator[tuple[int, NatsServer]]:
        """Each try's prepared server (a try whose chosen ports were found taken before start is skipped)."""
        for attempt in range(PORT_TRIES):
            server = self._prepared(attempt)
            if server is not None:
                yield attempt, server

    def _failed(self, exc: BaseException, attempt: int) -> None:
        """After a try failed: stopped; raised again unless a port it chose was taken and tries are left."""
        self.stop()
        if not isinstance(exc, PortInUse) or not self._choose_again(attempt):
            raise exc

    def _prepared(self, attempt: int) -> NatsServer | None:
        """`_prepare`; None when a port it chose was found taken and new ones were chosen."""
        try:
            return self._prepare()
        except PortInUse:
            if self._choose_again(attempt):
                return None
            raise

    def _choose_again(self, attempt: int) -> bool:
        """New ports after one was taken, if this deployment chose them and tries are left."""
        if not self._chosen_ports or attempt + 1 >= PORT_TRIES:
            return False
        self.port, self.http_port = free_port(), free_port()
        return True

    def _prepare(self) -> NatsServer:
        self.lock.acquire()
        try:
            check_ports_free({"--port": self.port, "--http-port": self.http_port}, pid_file=self.pid_file)
            self.render()
        except BaseException:
            self.lock.release()
            raise
        self.server = NatsServer(
            self.config_file, port=self.port, http_port=self.http_port, log_file=self.log_file, host=self.host
        )
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
        new_identities = [
            identity
            for slug in agencies
            for identity in (slug, agency_steward(slug))
            if not self.creds.seed_path(identity).exists()
        ]
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
            scoped = (auditor_identity(slug), witness_identity(slug), reviewer_identity(slug))
            for identity in (slug, agency_steward(slug), *scoped):
                self.creds.revoke(identity)

    async def connect(self, identity: str, *, first_connect: float = 3.0, **options) -> nats.NATS:
        """Connect as one identity (agency slug, ``<agency>-steward``, ``router``, ``sso``, ``auditor``,
        ``auditor-<agency>``, ``witness-<agency>``, ``reviewer-<agency>``, ``steward``, ``audit-admin``,
        ``admin``), over TLS when the deployment speaks it (`_connect.connect_identity` says how a first
        connection fails)."""
        return await connect_identity(
            self.url,
            self.seed(identity),
            identity,
            state_dir=self.state_dir,
            first_connect=first_connect,
            options={**self.client_tls(), **options},
        )

    async def provision(self) -> None:
        """Create (or update) the router's streams, the audit log's and every agency's streams. Idempotent.

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
        """The agency's streams: INGEST_<slug> in ROUTER, its own INBOX (written by the router) and
        DEADLETTER in its account, each with its file's limits, made by the operators' identities."""
        router = await self.connect(STEWARD)
        try:
            own = await self.connect(agency_steward(slug))
            try:
                await provision_agency(router, own, self.agencies[slug])
            finally:
                await own.close()
        finally:
            await router.close()
