"""JSON Schema per record type and for the envelope, and the AsyncAPI 3.0 document of the bus."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from ._bus import BUS_SUBJECTS
from ._compat import check_evolution, parse_version
from ._envelope import ENVELOPE_SCHEMA, Envelope
from ._records import RECORD_TYPES, AgencyRegistration, Receipt

__all__ = [
    "ASYNCAPI_FILE",
    "ENVELOPE_FILE",
    "JSON_SCHEMA_DIALECT",
    "asyncapi_document",
    "check_snapshot",
    "export_schemas",
    "json_schema",
    "register_message",
    "schema_documents",
    "version_of",
]

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
ENVELOPE_FILE = "envelope.json"
ASYNCAPI_FILE = "asyncapi.json"
VERSION_KEY = "x-samband-version"

# Messages on the bus whose payload types other packages own (the audit record, the
# checkpoint, the dead letter). They register their type here; until one does, the
# AsyncAPI document names the owner and leaves the payload open.
_EXTERNAL: dict[str, tuple[type, str]] = {}
_OWNERS = {
    "auditRecord": "samband.observability (AuditRecord)",
    "auditCheckpoint": "samband.observability (Checkpoint)",
    "deadLetter": "samband.adapters (DeadLetter)",
    "reviewHold": "samband.router (Hold)",
    "reviewRequest": "samband.router (ReviewRequest; the answer is a ReviewReply)",
}


def register_message(name: str, type_: type, *, title: str | None = None) -> None:
    """Give the AsyncAPI message ``name`` (``auditRecord``, ``auditCheckpoint``, ``deadLetter``) its payload type."""
    if name not in _OWNERS:
        raise ValueError(f"Expected a message name one of {sorted(_OWNERS)}, got {name!r}")
    _EXTERNAL[name] = (type_, title or type_.__name__)


def version_of(cls: type) -> tuple[int, int]:
    return getattr(cls, "VERSION", (1, 0))


# What `Envelope.__post_init__` checks across fields, said in JSON Schema: an intelligence note is
# always handling-restricted, so it names its recipients (a non-empty list).
_ENVELOPE_RULES: dict[str, Any] = {
    "if": {
        "properties": {
            "record": {"properties": {"type": {"const": "security.intelligence_note"}}, "required": ["type"]}
        },
        "required": ["record"],
    },
    "then": {
        "properties": {
            "handling": {
                "properties": {"named_recipients": {"type": "array", "minItems": 1}},
                "required": ["named_recipients"],
            }
        },
        "required": ["handling"],
    },
}


def _with_decoder_rules(defs: dict[str, Any]) -> dict[str, Any]:
    """``defs`` with the cross-field rules the decoder enforces beside the types (see `_ENVELOPE_RULES`)."""
    if "Envelope" in defs:
        defs["Envelope"] = {**defs["Envelope"], **_ENVELOPE_RULES}
    return defs


def json_schema(cls: type, name: str) -> dict[str, Any]:
    """The JSON Schema (2020-12) of ``cls`` as msgspec decodes it, with its name and version, and
    what the decoder checks beyond types wherever JSON Schema can say it (``const`` schema id,
    ``format: date-time``, identifier patterns, an intelligence note's named recipients)."""
    doc = json.loads(msgspec.json.encode(msgspec.json.schema(cls)))  # as it reads back from a file (tuples are lists)
    _with_decoder_rules(doc.get("$defs", {}))
    major, minor = version_of(cls)
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        "$id": f"urn:samband:schema:{name}:{major}",
        "title": name,
        VERSION_KEY: f"{major}.{minor}",
        **doc,
    }


def schema_documents() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema: the envelope and every record type (``<tag>.json``)."""
    docs = {ENVELOPE_FILE: json_schema(Envelope, "envelope")}
    for tag, cls in sorted(RECORD_TYPES.items()):
        docs[f"{tag}.json"] = json_schema(cls, tag)
    return docs


def _asyncapi_schema(s: Any) -> Any:
    """msgspec's JSON Schema as an AsyncAPI Schema Object: refs into components, a string discriminator."""
    if isinstance(s, dict):
        out = {}
        for k, v in s.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#/$defs/"):
                out[k] = "#/components/schemas/" + v.removeprefix("#/$defs/")
            elif k == "discriminator" and isinstance(v, dict):
                out[k] = v["propertyName"]
            else:
                out[k] = _asyncapi_schema(v)
        return out
    if isinstance(s, list):
        return [_asyncapi_schema(v) for v in s]
    return s


_HEADERS = {
    "type": "object",
    "properties": {
        "Nats-Msg-Id": {
            "type": "string",
            "description": "JetStream dedupe id (e.g. `<agency>:<native key>`, `<envelope id>:<recipient>`)",
        },
        "traceparent": {"type": "string", "description": "W3C trace context"},
        "tracestate": {"type": "string"},
    },
}

_PARAMETERS = {
    "agency": {
        "description": "The agency's slug, e.g. `polisen`; set by the server from the account, never by the sender."
    },
    "reason": {
        "description": "Why the record was rejected.",
        "enum": ["syntax", "encoding", "oversized", "truncated", "missing-field", "identifier", "date", "value"],
    },
    "kind": {"description": "The kind of council decision.", "enum": ["operation", "cooption"]},
    "decisionId": {"description": "The operation id or the co-option grant id."},
    "receiptKey": {"description": "Any key the recipient chooses, e.g. the envelope id."},
    "envelopeId": {"description": "An envelope id: a UUID or a ULID (at most 36 characters)."},
    "stage": {"description": "Where the router gave up on the record.", "enum": ["route"]},
    "recipient": {"description": "The agency a held record would be disclosed to."},
    "verb": {"description": "What the review officer asks.", "enum": ["list", "show", "release", "withhold"]},
    "rule": {
        "description": "The rule the router refused the record under.",
        "enum": [
            "deny.invalid-envelope",
            "deny.forged-origin",
            "deny.type-mismatch",
            "deny.not-a-sender-of-type",
            "deny.reused-id",
        ],
    },
}


def asyncapi_document(*, server: str = "127.0.0.1:4222") -> dict[str, Any]:
    """The AsyncAPI 3.0 document: every subject, who sends and receives, and every message's schema."""
    components: dict[str, Any] = {}
    for cls in (Envelope, AgencyRegistration, Receipt, *(t for t, _ in _EXTERNAL.values())):
        doc = json.loads(msgspec.json.encode(msgspec.json.schema(cls)))
        components.update(_asyncapi_schema(_with_decoder_rules(doc.get("$defs", {}))))
    messages: dict[str, Any] = {
        "envelope": {
            "name": "envelope",
            "title": f"Envelope ({ENVELOPE_SCHEMA})",
            "contentType": "application/json",
            "summary": "One record with everything routing and audit need; `record.type` is the record type.",
            "headers": _HEADERS,
            "payload": {"$ref": "#/components/schemas/Envelope"},
        },
        "agencyRegistration": {
            "name": "agencyRegistration",
            "title": "Agency registration",
            "contentType": "application/json",
            "payload": {"$ref": "#/components/schemas/AgencyRegistration"},
        },
        "receipt": {
            "name": "receipt",
            "title": "Receipt",
            "contentType": "application/json",
            "payload": {"$ref": "#/components/schemas/Receipt"},
        },
        "ledgerEntry": {
            "name": "ledgerEntry",
            "title": "Ledger entry",
            "contentType": "application/json",
            "payload": {
                "type": "object",
                "description": "An envelope id the router routed: its origin (`o`), the first 128 bits of the "
                "sha256 of its bytes (`h`, hex), its INGEST sequence (`s`), and `q` when it was quarantined.",
                "properties": {
                    "o": {"type": "string"},
                    "h": {"type": "string"},
                    "s": {"type": "integer"},
                    "q": {"type": "boolean"},
                },
                "required": ["o", "h", "s"],
            },
        },
    }
    for name, owner in _OWNERS.items():
        if name in _EXTERNAL:
            type_, title = _EXTERNAL[name]
            payload: dict[str, Any] = {"$ref": f"#/components/schemas/{type_.__name__}"}
        else:
            title, payload = name, {"type": "object", "description": f"Defined by {owner}."}
        messages[name] = {
            "name": name,
            "title": title,
            "contentType": "application/json",
            "headers": _HEADERS,
            "payload": payload,
        }
    params = dict(_PARAMETERS, recordType={"description": "The record type (its tag).", "enum": sorted(RECORD_TYPES)})

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for s in BUS_SUBJECTS:
        names = [p.strip("{}") for p in s.address.split(".") if p.startswith("{")]
        channel: dict[str, Any] = {
            "address": s.address,
            "title": s.channel,
            "description": f"{s.description}\n\n"
            f"Account: {s.account}. Stream: {s.stream}. Sender: {s.sender}. Receiver: {s.receiver}.",
            "messages": {s.message: {"$ref": f"#/components/messages/{s.message}"}},
            "x-samband": {"account": s.account, "stream": s.stream, "sender": s.sender, "receiver": s.receiver},
        }
        if names:
            channel["parameters"] = {n: params[n] for n in names}
        channels[s.channel] = channel
        ref = {"$ref": f"#/channels/{s.channel}"}
        msg = [{"$ref": f"#/channels/{s.channel}/messages/{s.message}"}]
        operations[f"send_{s.channel}"] = {
            "action": "send",
            "channel": ref,
            "messages": msg,
            "summary": f"{s.sender} publishes",
        }
        operations[f"receive_{s.channel}"] = {
            "action": "receive",
            "channel": ref,
            "messages": msg,
            "summary": f"{s.receiver} consumes",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "samband",
            "version": ".".join(map(str, Envelope.VERSION)) + ".0",
            "description": "The federated message bus of the Swedish multi-agency effort against organised crime "
            "(LUS 2016:774): one NATS account per agency, a router that decides need-to-know per record and "
            "recipient, and an audit trail of every disclosure.",
        },
        "defaultContentType": "application/json",
        "servers": {
            "embedded": {"host": server, "protocol": "nats", "description": "The embedded nats-server of `samband up`."}
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": components, "messages": messages},
    }


def _dump(doc: Any) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def export_schemas(directory: Path | str) -> list[Path]:
    """Write one JSON Schema per record type, the envelope's, and ``asyncapi.json``; return the files written."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, doc in {**schema_documents(), ASYNCAPI_FILE: asyncapi_document()}.items():
        path = out / name
        path.write_text(_dump(doc), encoding="utf-8")
        written.append(path)
    return written


def check_snapshot(directory: Path) -> list[str]:
    """Every problem between the snapshot in ``directory`` and the schemas of this code (empty: compatible)."""
    current = schema_documents()
    problems = []
    for path in sorted(Path(directory).glob("*.json")):
        if path.name == ASYNCAPI_FILE:
            continue
        old = json.loads(path.read_text(encoding="utf-8"))
        if path.name not in current:
            problems.append(
                f"{old.get('title', path.stem)}: removed (its readers break); keep the type until no one sends it"
            )
            continue
        new = current[path.name]
        problems += check_evolution(
            new["title"],
            old,
            parse_version(old["x-samband-version"]),
            new,
            parse_version(new["x-samband-version"]),
            shallow={"$.record"} if path.name == ENVELOPE_FILE else set(),
        )
    known = {p.name for p in Path(directory).glob("*.json")}
    problems += [
        f"{current[n]['title']}: not in the snapshot; run `samband schemas export {directory}`"
        for n in sorted(current.keys() - known)
    ]
    return problems
