"""`samband schemas export DIR`: JSON Schema per record type and for the envelope, and an
AsyncAPI 3.0 document of every subject of the bus that validates against the official schema."""

from __future__ import annotations

import copy
import datetime as _dt
import json
import re
from pathlib import Path

import jsonschema
import pytest

from samband.broker_config import AGENCY_STREAMS, ROUTER_STREAMS, Credentials, render_server_config
from samband.cli import cli
from samband.schemas import BUS_SUBJECTS, RECORD_TYPES, Schema, asyncapi_document, register_message

from .._support import CommandRunner

ASYNCAPI_SCHEMA = json.loads((Path(__file__).parent / "asyncapi" / "asyncapi-3.0.0-without-id.json").read_text())
VALIDATOR = jsonschema.Draft7Validator(ASYNCAPI_SCHEMA)

SAMPLE = {
    "agency": "polisen",
    "recordType": "police.vehicle_control",
    "reason": "identifier",
    "kind": "cooption",
    "decisionId": "bacchus-2024",
    "receiptKey": "0190a1b2",
    "envelopeId": "0190a1b2-0000-7000-8000-000000000000",
    "stage": "route",
    "rule": "deny.type-mismatch",
    "recipient": "skatteverket",
    "verb": "release",
}


def _instance(address: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], address)


def _matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: `*` is one token, `>` one or more at the end."""
    p, s = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(s) > i
        if i >= len(s) or (tok != "*" and tok != s[i]):
            return False
    return len(p) == len(s)


def test_export_writes_a_schema_per_record_type_the_envelope_and_the_asyncapi_document(tmp_path):
    result = CommandRunner().invoke(cli, ["schemas", "export", str(tmp_path / "out")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    files = {p.name for p in (tmp_path / "out").iterdir()}
    assert files == {f"{tag}.json" for tag in RECORD_TYPES} | {"envelope.json", "asyncapi.json"}
    assert "31 files in" in result.output
    doc = json.loads((tmp_path / "out" / "police.vehicle_control.json").read_text())
    assert (doc["title"], doc["x-samband-version"], doc["$ref"]) == (
        "police.vehicle_control",
        "1.1",
        "#/$defs/VehicleControl",
    )
    jsonschema.Draft202012Validator.check_schema(doc)
    assert CommandRunner().invoke(cli, ["schemas", "check", str(tmp_path / "out")]).exit_code == 0


def test_the_asyncapi_document_validates_against_the_official_asyncapi_3_schema(tmp_path):
    CommandRunner().invoke(cli, ["schemas", "export", str(tmp_path)])
    doc = json.loads((tmp_path / "asyncapi.json").read_text())
    assert list(VALIDATOR.iter_errors(doc)) == []
    assert doc["asyncapi"] == "3.0.0"


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d["channels"]["outbound"].update(address=5),
        lambda d: d["operations"]["send_outbound"].update(action="publish"),
        lambda d: d["components"]["schemas"]["Envelope"].update(type=5),
    ],
    ids=["address not a string", "action not send/receive", "payload schema not a schema"],
)
def test_the_validation_would_catch_a_broken_document(breakage):
    doc = copy.deepcopy(asyncapi_document())
    breakage(doc)
    assert list(VALIDATOR.iter_errors(doc)) != []


def test_every_channel_carries_its_message_schema_and_every_record_type_is_a_parameter_value():
    doc = asyncapi_document()
    for channel in doc["channels"].values():
        (ref,) = channel["messages"].values()
        message = doc["components"]["messages"][ref["$ref"].rsplit("/", 1)[-1]]
        assert "payload" in message
    assert doc["channels"]["outbound"]["parameters"]["recordType"]["enum"] == sorted(RECORD_TYPES)
    assert doc["components"]["messages"]["envelope"]["payload"] == {"$ref": "#/components/schemas/Envelope"}
    assert doc["channels"]["deadLetters"]["x-samband"] == {
        "account": "agency",
        "stream": "DEADLETTER",
        "sender": "the agency's adapter",
        "receiver": "the agency's IT team",
    }
    assert {c.__name__ for c in RECORD_TYPES.values()} <= doc["components"]["schemas"].keys()


def test_every_stream_of_the_deployment_is_described_by_a_subject_of_the_bus():
    for cfg, account in [*((c, "ROUTER") for c in ROUTER_STREAMS), *((c, "agency") for c in AGENCY_STREAMS)]:
        described = [s for s in BUS_SUBJECTS if s.stream == cfg.name and s.account == account]
        assert described, f"stream {cfg.name} ({account}) has no subject in BUS_SUBJECTS"
        for s in described:
            assert any(_matches(f, _instance(s.address)) for f in cfg.subjects), (s.address, cfg.subjects)


def test_every_subject_the_broker_lets_an_agency_or_the_router_use_is_described(tmp_path):
    config = json.loads(
        render_server_config(agencies=[], creds=Credentials(tmp_path), store_dir=tmp_path / "js", port=4222)
    )
    router = config["accounts"]["ROUTER"]
    exported = [e["service"] for e in router["exports"]]
    ours = [_instance(s.address) for s in BUS_SUBJECTS if s.account == "ROUTER"]
    for pattern in exported:
        assert any(_matches(pattern, subject) for subject in ours), pattern
    from samband.broker_config import Agency

    config = json.loads(
        render_server_config(
            agencies=[Agency(slug="polisen", name="Polismyndigheten", tier="core")],
            creds=Credentials(tmp_path),
            store_dir=tmp_path / "js",
            port=4222,
        )
    )
    agency = config["accounts"]["polisen"]
    allowed = [p for p in agency["users"][0]["permissions"]["publish"]["allow"] if not p.startswith("$JS")]
    theirs = [_instance(s.address) for s in BUS_SUBJECTS if s.account == "agency"]
    # Besides its bus subjects an agency exports two read-only JetStream APIs of its own streams to its
    # auditor (`chief.<agency>.`, docs/console.md): JetStream's API, not messages of the bus.
    bus_exports = [e["service"] for e in agency["exports"] if not e["service"].startswith("$JS.API.")]
    chief = [e["service"] for e in agency["exports"] if e["service"].startswith("$JS.API.")]
    assert chief and all(c.startswith(("$JS.API.STREAM.INFO.", "$JS.API.STREAM.MSG.GET.")) for c in chief)
    for pattern in [*allowed, *(i["to"] for i in agency["imports"]), *bus_exports]:
        assert any(_matches(pattern, subject) for subject in theirs), pattern
    for imp in config["accounts"]["ROUTER"]["imports"]:
        if imp["to"].startswith("chief."):
            continue
        assert any(_matches(imp["to"], subject) for subject in ours), imp["to"]


class AuditLine(Schema, kw_only=True):
    """Stands in for the audit record observability registers."""

    seq: int
    at: _dt.datetime


def test_a_package_that_owns_a_message_gives_it_its_payload_schema(monkeypatch):
    from samband.schemas import _export

    monkeypatch.setattr(_export, "_EXTERNAL", {})
    before = asyncapi_document()["components"]["messages"]["auditRecord"]["payload"]
    assert before == {"type": "object", "description": "Defined by samband.observability (AuditRecord)."}
    register_message("auditRecord", AuditLine)
    doc = asyncapi_document()
    assert doc["components"]["messages"]["auditRecord"]["payload"] == {"$ref": "#/components/schemas/AuditLine"}
    assert doc["components"]["schemas"]["AuditLine"]["required"] == ["seq", "at"]
    assert list(VALIDATOR.iter_errors(doc)) == []
    with pytest.raises(ValueError) as err:
        register_message("auditTrail", AuditLine)
    assert (
        str(err.value)
        == "Expected a message name one of ['auditCheckpoint', 'auditRecord', 'deadLetter', 'reviewHold', 'reviewRequest'], "
        "got 'auditTrail'"
    )
