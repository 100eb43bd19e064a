"""What the console holds for its one identity: the broker connection, the query index, pseudonyms, lookups.

The console connects with the identity's own credentials, so the broker decides what it can read:
an agency's auditor gets its agency's entries, the oversight all. The index (`IndexStore`, the
same one `samband audit query --as IDENTITY` uses) is caught up in the background; pages read a
second connection to it, which only ever sees committed state. A person search or an export is
recorded (`record_lookup`) before its answer is shown; a lookup that cannot be recorded shows
nothing (`NotRecorded`).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import time
from dataclasses import dataclass
from pathlib import Path

import nats

from samband.observability import Pseudonymiser, get_logger
from samband.observability.audit import (
    AuditError,
    AuditUnavailable,
    IndexStore,
    TrailProblem,
    catch_up,
    index_dir,
    pinned_verifier,
    record_lookup,
)
from samband.schemas import mask_personnummer, normalise_personnummer
from samband.schemas.layout import OVERSIGHT, identity_agency

from ._errors import BrokerGone, ConsoleError, NotRecorded

__all__ = ["Backend", "IndexState", "is_auditor"]

log = get_logger("samband.console")

REFRESH_EVERY = 2.0  # seconds between two catch-ups a page may start
PAGE_WAITS = 1.0  # how long a page waits for a catch-up under way before it shows what is indexed


def is_auditor(identity: str) -> bool:
    return identity == OVERSIGHT or (identity.startswith("auditor-") and identity_agency(identity) is not None)


@dataclass
class IndexState:
    size: int = 0
    count: int = 0
    refreshed_at: _dt.datetime | None = None
    building: bool = False
    problem: str | None = None  # a TrailProblem: no answer can be vouched for
    error: str | None = None  # the last catch-up could not read the log


class Backend:
    def __init__(self, state_dir: Path, identity: str) -> None:
        self.state_dir = Path(state_dir)
        self.identity = identity
        self.agency = identity_agency(identity) if identity != OVERSIGHT else None
        self.verifier = pinned_verifier(self.state_dir, None)
        self.nc: nats.NATS | None = None
        self.reporting = False
        self.index = IndexState()
        self._writer: IndexStore | None = None
        self.reader: IndexStore | None = None
        self._refresh: asyncio.Task | None = None
        self._last_refresh = 0.0
        self._pseudonymiser: Pseudonymiser | None = None
        self._masked: dict[str, str] = {}  # pseudonym -> the masked personnummer searched, this process only

    # ---- life ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Connect as the identity (refused: the broker's one-line reason) and open the index."""
        from samband.broker_config import Deployment

        deployment = Deployment.load(self.state_dir)
        found = deployment.agencies.get(self.agency) if self.agency else None
        self.reporting = found is not None and "follow_up" in found.purposes  # lends its inbox (outcomes)
        self.nc = await deployment.connect(self.identity, first_connect=3.0)
        self.open_index()

    def open_index(self) -> None:
        """The identity's index, twice: one connection catches up, the pages read the other."""
        path = index_dir(self.state_dir, self.identity)
        self._writer = IndexStore(path)
        self.reader = IndexStore(path)
        self._sync()

    async def close(self) -> None:
        if self._refresh is not None and not self._refresh.done():
            self._refresh.cancel()
            try:
                await self._refresh
            except (asyncio.CancelledError, Exception):
                pass
        if self.nc is not None:
            try:
                await self.nc.close()
            except Exception:
                pass
        for store in (self._writer, self.reader):
            if store is not None:
                store.close()

    @property
    def connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    def require(self) -> nats.NATS:
        """The connection, or `BrokerGone` at once (a request to a broker that is gone would wait)."""
        if self.nc is None or not self.nc.is_connected:
            raise BrokerGone("the broker does not answer now: it may be stopped or restarting")
        return self.nc

    # ---- the index -------------------------------------------------------------------------
    def _sync(self) -> None:
        assert self.reader is not None
        self.reader.reload()
        self.index.size, self.index.count = self.reader.size, self.reader.count

    async def fresh(self, *, force: bool = False) -> IndexState:
        """Start a catch-up if the last is older than `REFRESH_EVERY` (or ``force``), wait for it a moment."""
        due = force or time.monotonic() - self._last_refresh > REFRESH_EVERY
        if due and self.connected and (self._refresh is None or self._refresh.done()):
            self._last_refresh = time.monotonic()
            self._refresh = asyncio.ensure_future(self._catch_up())
        if self._refresh is not None and not self._refresh.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._refresh), PAGE_WAITS)
            except TimeoutError:
                pass
        self.index.building = self._refresh is not None and not self._refresh.done()
        return self.index

    async def _catch_up(self) -> None:
        assert self._writer is not None and self.nc is not None
        try:
            await catch_up(self.nc, self._writer, self.verifier, self.identity)
            self.index.problem = self.index.error = None
            self.index.refreshed_at = _dt.datetime.now(_dt.UTC)
        except TrailProblem as exc:
            self.index.problem = str(exc)
        except AuditError as exc:
            self.index.error = str(exc)
        except Exception as exc:  # a page must never see a traceback; the log keeps what it was
            log.error("console: catching up the index failed", error=repr(exc))
            self.index.error = f"Expected to read the log, got {type(exc).__name__}"
        finally:
            self._sync()

    # ---- people ----------------------------------------------------------------------------
    def pseudonym(self, personnummer: str) -> tuple[str, str]:
        """(the keyed pseudonym, the masked form) of a personnummer; `InvalidIdentifier` (masked) if it is none."""
        canonical = normalise_personnummer(personnummer)
        if self._pseudonymiser is None:
            key_path = self.state_dir / "keys" / "pseudonym.key"
            try:
                self._pseudonymiser = Pseudonymiser(bytes.fromhex(key_path.read_text().strip()))
            except (OSError, ValueError) as exc:
                raise ConsoleError(f"Expected the deployment's pseudonym key at {key_path}, got {exc}") from exc
        subject = self._pseudonymiser(canonical)
        self._masked[subject] = mask_personnummer(canonical)
        return subject, self._masked[subject]

    def masked(self, subject: str) -> str:
        """What the console shows of a person: the masked personnummer searched, else the pseudonym cut short."""
        return self._masked.get(subject) or subject[:12] + "…"

    # ---- lookups ---------------------------------------------------------------------------
    async def record(self, action: str, filters: dict[str, str], results: int) -> None:
        """Record a lookup before its answer is shown (`NotRecorded` if it cannot be)."""
        try:
            nc = self.require()
            await record_lookup(nc, self.identity, action, filters, results)
        except (AuditUnavailable, BrokerGone) as exc:
            raise NotRecorded(str(exc)) from exc
