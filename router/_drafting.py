"""Drafting a council's decision from what a secretariat types: checked option by option, in Swedish time.

The functions here are pure: they take the live policy's data and the options, and return the
decision record (or raise `DraftError` naming the option and the value). Signing, checking as
the router will, and publishing are the command's (`_decision_cli`).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable

import msgspec

from samband.schemas import RECORD_TYPES, CooptionDecision, Envelope, OperationDecision, new_envelope_id

from ._councils import COUNCILS
from ._errors import PolicyError
from ._legal_time import SWEDISH_TIME
from ._model import PolicyData
from ._validate import purposes, record_fields

__all__ = ["ID_PATTERN", "DraftError", "envelope_for", "grant", "operation", "parse_day", "parse_instant", "revoke"]

ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"  # a subject token people can read: decisions.operation.<id>
_DECIDABLE = tuple(t for t in RECORD_TYPES if not t.startswith(("council.", "platform.")))


class DraftError(PolicyError):
    """An option's value cannot go into a decision; ``option`` names it (a usage error)."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


def _expect(option: str, expected: str, got: object) -> DraftError:
    return DraftError(option, f"Expected {expected}, got `{got}`")


def parse_day(value: str, option: str) -> _dt.date:
    """A Swedish calendar day, YYYY-MM-DD."""
    try:
        return _dt.date.fromisoformat(value)
    except ValueError:
        raise _expect(option, "a date YYYY-MM-DD (a Swedish calendar day)", value) from None


def parse_instant(value: str, option: str, *, end_of_day: bool = False) -> _dt.datetime:
    """A day (its Swedish midnight; with ``end_of_day`` the midnight after it) or a time, Swedish when
    it carries no offset."""
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        d = parse_day(value, option) + _dt.timedelta(days=1 if end_of_day else 0)
        return _dt.datetime(d.year, d.month, d.day, tzinfo=SWEDISH_TIME)
    try:
        at = _dt.datetime.fromisoformat(value)
    except ValueError:
        raise _expect(option, "a date YYYY-MM-DD or a time YYYY-MM-DDTHH:MM (Swedish time)", value) from None
    return at if at.tzinfo else at.replace(tzinfo=SWEDISH_TIME)


def check_id(value: str, option: str) -> str:
    if not re.match(ID_PATTERN, value):
        raise _expect(option, "an id of lower-case letters, digits and `-` (2-63 long)", value)
    return value


def _agency(data: PolicyData, slug: str, option: str) -> str:
    if slug not in data.agencies:
        raise _expect(option, "an agency known to the policy (agencies.toml, or onboarded)", slug)
    return slug


def _record_types(values: Iterable[str], option: str) -> tuple[str, ...]:
    out = []
    for rt in values:
        if rt not in _DECIDABLE:
            raise _expect(option, "a record type from samband.schemas (samband schemas export lists them)", rt)
        if rt not in out:
            out.append(rt)
    return tuple(out)


def _basis(data: PolicyData, basis: str, option: str = "--legal-basis") -> str:
    if basis not in data.legal_bases:
        raise _expect(option, f"a legal basis from legal_bases.toml ({'; '.join(data.legal_bases)})", basis)
    return basis


def _participants(data: PolicyData, values: Iterable[str], option: str) -> dict[str, str | None]:
    known = purposes(data)
    out: dict[str, str | None] = {}
    for value in values:
        slug, sep, purpose = value.partition("=")
        _agency(data, slug, option)
        if sep and purpose not in known:
            raise _expect(option, f"a purpose from need_to_know.toml ({', '.join(sorted(known))})", purpose)
        out[slug] = purpose or None
    return out


def operation(
    data: PolicyData,
    op_id: str,
    council: str,
    *,
    action: str,
    name: str | None = None,
    participants: Iterable[str] = (),
    drop_participants: Iterable[str] = (),
    record_types: Iterable[str] = (),
    drop_record_types: Iterable[str] = (),
    legal_basis: str | None = None,
    valid_from: _dt.date | None = None,
    valid_to: _dt.date | None = None,
    open_ended: bool = False,
) -> OperationDecision:
    """An operation decision: ``action`` is create, amend or close; an amendment starts from the one in force."""
    check_id(op_id, "OPERATION")
    scope = COUNCILS[council]
    decided_by = data.regions[scope].council
    before = data.operations.get(op_id)
    if action == "create" and before is not None:
        raise _expect("OPERATION", "a new operation id (amend an existing one with `samband decision amend`)", op_id)
    if action != "create" and before is None:
        raise _expect("OPERATION", "an operation in the policy (samband decision list)", op_id)
    added = _participants(data, participants, "--participant")
    if action == "create":
        if not name:
            raise _expect("--name", "the operation's name", "nothing")
        if not added:
            raise _expect("--participant", "at least one participating agency", "nothing")
        types = _record_types(record_types, "--record-type")
        if not types:
            raise _expect("--record-type", "at least one record type", "nothing")
        start = valid_from or _dt.datetime.now(SWEDISH_TIME).date()
        return OperationDecision(
            operation=op_id,
            name=name,
            scope=scope,  # type: ignore[arg-type]
            decided_by=decided_by,
            participants=tuple(added),
            record_types=types,
            legal_basis=_basis(data, legal_basis or "LUS 2016:774"),
            purposes={a: p for a, p in added.items() if p},
            valid_from=start,
            valid_to=valid_to,
        )
    assert before is not None
    if before.scope != scope:
        raise _expect("OPERATION", f"an operation within {council}'s scope ({scope})", f"{op_id} ({before.scope})")
    dropped = {_agency(data, a, "--remove-participant") for a in drop_participants}
    members = [a for a in before.participants if a not in dropped] + [a for a in added if a not in before.participants]
    purposes_now = {a: p for a, p in before.purposes.items() if a not in dropped}
    purposes_now.update({a: p for a, p in added.items() if p})
    gone = set(_record_types(drop_record_types, "--remove-record-type"))
    types = tuple(t for t in before.record_types if t not in gone) + tuple(
        t for t in _record_types(record_types, "--record-type") if t not in before.record_types
    )
    return OperationDecision(
        operation=op_id,
        name=name or before.name,
        scope=before.scope,
        decided_by=decided_by,
        participants=tuple(members),
        record_types=types,
        legal_basis=_basis(data, legal_basis) if legal_basis else before.legal_basis,
        purposes=purposes_now,
        valid_from=valid_from or before.valid_from,
        valid_to=None if open_ended else (valid_to or before.valid_to),
        status="closed" if action == "close" else "active",
    )


def grant(
    data: PolicyData,
    grant_id: str,
    council: str,
    *,
    agency: str,
    op_id: str,
    record_types: Iterable[str],
    fields: Iterable[str],
    valid_from: _dt.datetime,
    valid_to: _dt.datetime,
    reason: str,
    legal_basis: str,
    regions: Iterable[str] = (),
) -> CooptionDecision:
    """A co-option decision (a new grant, or a new version of one)."""
    check_id(grant_id, "GRANT")
    _agency(data, agency, "--agency")
    op = data.operations.get(op_id)
    if op is None:
        raise _expect("--operation", "an operation in the policy (samband decision list)", op_id)
    if op.scope != COUNCILS[council]:
        raise _expect(
            "--operation", f"an operation within {council}'s scope ({COUNCILS[council]})", f"{op_id} ({op.scope})"
        )
    types = _record_types(record_types, "--record-type")
    if not types:
        raise _expect("--record-type", "at least one record type", "nothing")
    for rt in types:
        if rt not in op.record_types:
            raise _expect("--record-type", f"a record type of operation {op_id} ({', '.join(op.record_types)})", rt)
    names = [f for value in fields for f in value.split(",") if f]
    known = {f for rt in types for f in record_fields(rt)}
    for f in names:
        if f not in known:
            raise _expect("--field", f"a field of {', '.join(types)}", f)
    if valid_to <= valid_from:
        raise _expect("--to", f"a time after --from ({valid_from.isoformat()})", valid_to.isoformat())
    if not reason.strip():
        raise _expect("--reason", "the council's reason (recorded with the grant)", reason)
    return CooptionDecision(
        grant_id=grant_id,
        agency=agency,
        operation=op_id,
        record_types=types,
        fields=tuple(dict.fromkeys(names)),
        valid_from=valid_from,
        valid_to=valid_to,
        decided_by=data.regions[COUNCILS[council]].council,
        reason=reason,
        legal_basis=_basis(data, legal_basis),
        regions=tuple(dict.fromkeys(regions)),  # type: ignore[arg-type]
    )


def revoke(data: PolicyData, grant_id: str, council: str, *, reason: str | None = None) -> CooptionDecision:
    """The grant in force, revoked."""
    g = data.grants.get(grant_id)
    if g is None:
        raise _expect("GRANT", "a grant in the policy (samband decision list)", grant_id)
    op = data.operations.get(g.operation)
    if op is not None and op.scope != COUNCILS[council]:
        raise _expect("GRANT", f"a grant within {council}'s scope ({COUNCILS[council]})", f"{grant_id} ({op.scope})")
    terms = msgspec.structs.asdict(g)  # the grant's GrantTerms, as in force
    terms.update(decided_by=data.regions[COUNCILS[council]].council, reason=reason or g.reason, revoked=True)
    return CooptionDecision(grant_id=grant_id, **terms)


def envelope_for(record: OperationDecision | CooptionDecision, council: str, now: _dt.datetime) -> Envelope:
    """The envelope a council signs: its own region, the operation, issued now (its id is the decision's)."""
    return Envelope(
        id=new_envelope_id(),
        record=record,
        region=COUNCILS[council],  # type: ignore[arg-type]
        operation=record.operation,
        produced_at=now,
    )
