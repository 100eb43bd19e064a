"""Refused decision messages, audited: one `deny.decision-refused` entry per refusal, bounded.

`LivePolicy` hands every decision message it refuses (bad signature, out of the council's scope,
stale, replayed, invalid, ...) to its ``refusal_listeners``; `RefusalAudit.refused` is the
router's listener. It turns the refusal into an audit draft (the reason, the message's stream and
sequence, the claimed council, never the payload) and keeps it until the routing loop appends it
through the appender like every entry (`RefusalAudit.take`, `give_back` when the trail is down).

A flood of forged decisions must neither stop routing nor flood the trail: per claimed council
(``unknown`` when none is named) at most `PER_WINDOW` refusals a window (`WINDOW` seconds) get an
entry each; the rest are counted and written as one summary entry per council and window, which
names the first and last sequence and the count. While the router replays DECISIONS at start the
whole replay is one window, so a restart rebuilds the same entries under the same keys and the
appender (which skips keys audited before) writes none of them twice.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable
from dataclasses import dataclass

from samband.observability.audit import AuditDraft, AuditRecord
from samband.schemas import PNR_SHAPE, mask_personnummer

from ._councils import COUNCILS
from ._decisions import DecisionEntry
from ._intake import OPERATION_ID
from ._policy import NOBODY

__all__ = ["PER_WINDOW", "RULE", "WINDOW", "RefusalAudit"]

RULE = "deny.decision-refused"
PER_WINDOW = 100  # refusals audited one by one per claimed council and window; the rest are counted
WINDOW = 60.0  # seconds
MAX_PENDING = 10_000  # drafts kept while the trail cannot be written; beyond, refusals are only counted
MAX_REASON = 500  # characters of a refusal's reason kept in the entry


@dataclass
class _Window:
    started: float
    audited: int = 0
    counted: int = 0
    first: int = 0
    last: int = 0


def _masked(reason: str) -> str:
    return PNR_SHAPE.sub(lambda m: mask_personnummer(m.group(0)), reason[:MAX_REASON])


class RefusalAudit:
    """The refused decisions waiting to be appended (the router's refusal listener)."""

    def __init__(
        self,
        version: Callable[[], str],
        *,
        per_window: int = PER_WINDOW,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.version = version  # the policy version in force when a refusal is met
        self.per_window, self.window, self.clock = per_window, window, clock
        self.pending: list[AuditDraft] = []
        self.refusals = 0  # every refusal met, audited one by one or counted
        self._windows: dict[str, _Window] = {}
        self._replay = False  # the open windows are the replay's

    def refused(self, entry: DecisionEntry, replaying: bool) -> None:
        """`LivePolicy.refusal_listeners` calls this with each refused decision message."""
        self.refusals += 1
        if self._replay and not replaying:
            self.close_windows()
        self._replay = replaying
        council = entry.council if entry.council in COUNCILS else "unknown"
        now = self.clock()
        w = self._windows.get(council)
        if w is not None and not replaying and now - w.started >= self.window:
            self._summarise(council, w)
            w = None
        if w is None:
            w = self._windows[council] = _Window(now)
        if w.audited < self.per_window and len(self.pending) < MAX_PENDING:
            w.audited += 1
            self.pending.append(self._draft(entry, council))
            return
        w.counted += 1
        w.first = w.first or entry.seq
        w.last = entry.seq

    def take(self) -> list[AuditDraft]:
        """The drafts to append now (windows that have ended are summarised first)."""
        now = self.clock()
        if self._replay:
            return list(self.pending)  # the replay's window closes with the first live refusal or `close_windows`
        for council, w in list(self._windows.items()):
            if now - w.started >= self.window:
                self._summarise(council, w)
                del self._windows[council]
        return list(self.pending)

    def appended(self, drafts: list[AuditDraft]) -> None:
        """``drafts`` (from `take`) are in the trail."""
        done = {d.key for d in drafts}
        self.pending = [d for d in self.pending if d.key not in done]

    def close_windows(self) -> None:
        """Summarise every open window now (the replay ended, or the router stops)."""
        for council, w in self._windows.items():
            self._summarise(council, w)
        self._windows.clear()
        self._replay = False

    def _summarise(self, council: str, w: _Window) -> None:
        if not w.counted:
            return
        refs = f"DECISIONS#{w.first}..{w.last}"
        reason = (
            f"{w.counted} more decision messages claiming {council} were refused from DECISIONS#{w.first} to "
            f"#{w.last}; counted, not audited one by one (at most {self.per_window} a council every "
            f"{self.window:g} s)"
        )
        self.pending.append(self._record(refs, council, reason, record_type="council.decision"))
        w.counted = 0

    def _draft(self, entry: DecisionEntry, council: str) -> AuditDraft:
        record_type = f"council.{entry.kind}_decision" if entry.kind is not None else "council.decision"
        operation = entry.target if entry.kind == "operation" and entry.target else NOBODY
        if not OPERATION_ID.fullmatch(operation):
            operation = NOBODY
        return self._record(entry.ref, council, _masked(entry.reason), record_type=record_type, operation=operation)

    def _record(self, ref: str, council: str, reason: str, *, record_type: str, operation: str = NOBODY) -> AuditDraft:
        record = AuditRecord(
            at=_dt.datetime.now(_dt.UTC),
            envelope_id=ref,
            record_type=record_type,
            origin=council,  # the council the message claims (its signature may be what failed)
            recipient=NOBODY,
            region=COUNCILS.get(council, NOBODY),
            operation=operation,
            decision="deny",
            rule=RULE,
            policy_version=self.version(),
            reason=reason,
        )
        return AuditDraft(f"{ref}:{NOBODY}", record)
