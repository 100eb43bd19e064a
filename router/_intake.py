"""The edge: what an agency's record must be before the router decides anything about it.

Every value an agency chooses that the router writes into a header, a subject, a key or the
audit trail has a syntax and a length (docs/schemas.md, "What the router accepts"):

* the envelope ``id``: a UUID (RFC 9562, lower-case ``8-4-4-4-12`` hex; adapters make UUIDv7s) or a
  ULID (26 characters of Crockford base32): it becomes the delivery's ``Nats-Msg-Id``, the
  ledger's key and the audit record's envelope id;
* ``operation``: 1-64 of ``a-z 0-9 . _ -``, starting with a letter or digit;
* ``legal_basis``: at most 64 printable characters; ``traceparent``: W3C trace context;
* at most 256 ``subjects`` and 32 ``handling.named_recipients`` (agency slugs): each becomes a
  pseudonym in every audit record of the record;
* the subject's record type (``out.<type>``) must be the payload's own type (``deny.type-mismatch``),
  and one the origin's agency file lists in ``sends`` (``deny.not-a-sender-of-type``); a subject
  token that names no record type is never written anywhere in clear (it may be a personnummer).

A record that breaks one is refused with a named rule and the reason in msgspec's shape; the
refusal is audited and written, with the raw record, to the origin's own dead letters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from samband.schemas import ENVELOPE, RECORD_TYPES, DecodeError, Envelope

__all__ = [
    "MAX_NAMED_RECIPIENTS",
    "MAX_SUBJECTS",
    "Refusal",
    "check_envelope",
    "check_record",
    "subject_type",
]

# [0-9a-f] and not \d or \w: those match other scripts' digits and letters too.
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
_ULID = r"[0-7][0-9A-HJKMNP-TV-Z]{25}"
ENVELOPE_ID = re.compile(f"{_UUID}|{_ULID}")
OPERATION_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
SLUG = re.compile(r"[a-z][a-z0-9_]{1,31}")
_PRINTABLE = re.compile(r"[ -~\u00a0-\u024f]{1,64}")  # Latin text: `LUS 2016:774`, `OSL 10 kap. 28 §`
MAX_SUBJECTS = 256
MAX_NAMED_RECIPIENTS = 32


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a record is not routed: the rule (``deny.…``), the reason, and where in the record."""

    rule: str
    reason: str
    field: str | None = None


def subject_type(subject: str) -> str | None:
    """The record type named by ``ingest.<origin>.<type>``, or None if the token names none."""
    token = subject.split(".", 2)[2] if subject.count(".") >= 2 else ""
    return token if token in RECORD_TYPES else None


def _string(value: str, pattern: re.Pattern[str], expected: str, where: str) -> Refusal | None:
    if pattern.fullmatch(value):
        return None
    # The value itself is never echoed: it is the sender's, of any size, and may be a personnummer.
    return Refusal(
        "deny.invalid-envelope", f"Expected {expected}, got a string of {len(value)} characters - at `{where}`", where
    )


def check_envelope(env: Envelope) -> Refusal | None:
    """The bounds of the values that reach headers, keys, subjects and the audit trail."""
    problem = _string(env.id, ENVELOPE_ID, "a UUID or a ULID (at most 36 characters)", "$.id") or _string(
        env.operation, OPERATION_ID, "an operation id of 1-64 of `a-z 0-9 . _ -`", "$.operation"
    )
    if problem:
        return problem
    if env.legal_basis is not None and (
        p := _string(env.legal_basis, _PRINTABLE, "at most 64 printable characters", "$.legal_basis")
    ):
        return p
    if env.traceparent is not None and (
        p := _string(env.traceparent, TRACEPARENT, "a W3C traceparent", "$.traceparent")
    ):
        return p
    if len(env.subjects) > MAX_SUBJECTS:
        return Refusal(
            "deny.invalid-envelope",
            f"Expected at most {MAX_SUBJECTS} subjects, got {len(env.subjects)} - at `$.subjects`",
            "$.subjects",
        )
    named = env.handling.named_recipients or ()
    if len(named) > MAX_NAMED_RECIPIENTS:
        where = "$.handling.named_recipients"
        return Refusal(
            "deny.invalid-envelope",
            f"Expected at most {MAX_NAMED_RECIPIENTS} named recipients, got {len(named)} - at `{where}`",
            where,
        )
    for i, slug in enumerate(named):
        if p := _string(slug, SLUG, "an agency slug", f"$.handling.named_recipients[{i}]"):
            return p
    return None


def check_record(
    origin: str, subject: str, data: bytes, sends: Mapping[str, frozenset[str]]
) -> tuple[Envelope | None, Refusal | None]:
    """Decode one INGEST message and check it at the edge: (the envelope, or None) and the refusal, if any."""
    try:
        env = ENVELOPE.decode(data)
    except DecodeError as exc:
        return None, Refusal("deny.invalid-envelope", str(exc))
    if problem := check_envelope(env):
        return env, problem
    if env.origin is not None and env.origin != origin:
        # The claimed origin is checked against the account's slug pattern before it is echoed.
        claimed = f"`{env.origin}`" if SLUG.fullmatch(env.origin) else f"a string of {len(env.origin)} characters"
        reason = f"Expected origin `{origin}` (the publishing account), got {claimed} in the payload"
        return env, Refusal("deny.forged-origin", reason, "$.origin")
    named = subject_type(subject)
    if named != env.record_type:
        got = f"`{named}`" if named else "a token that names no record type"
        reason = f"Expected the subject to name the record's type `{env.record_type}`, got {got} - at `out.<type>`"
        return env, Refusal("deny.type-mismatch", reason)
    allowed = sends.get(origin, frozenset())
    if env.record_type not in allowed:
        listed = ", ".join(sorted(allowed)) or "none"
        reason = (
            f"Expected a record type `{origin}`'s agency file lists in `sends` ({listed}), "
            f"got `{env.record_type}` - at `$.record`"
        )
        return env, Refusal("deny.not-a-sender-of-type", reason, "$.record")
    return env, None
