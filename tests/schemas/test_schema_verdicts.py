"""The exported JSON Schema and the decoder give the same verdict on the project's own sample
envelopes and on each of them mutated, wherever JSON Schema can express the rule.

A non-samband sender validates against `samband schemas export`: where the schema is looser
than the decoder, its record is refused on the bus after passing its own checks. The rules JSON
Schema cannot express (a check digit, a real calendar date, a birth not in the future) are listed
in INEXPRESSIBLE with the verdicts they give, so the gap is written down and cannot grow unseen.
"""

from __future__ import annotations

import copy
import json
import random
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from samband.adapters import (
    CORE_AGENCIES,
    NativeRecord,
    map_record,
    mapping_for,
    native_format,
    read_file,
    write_export,
)
from samband.schemas import ENVELOPE, DecodeError, encode, schema_documents

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "onboarding" / "mappings"
SCHEMA = schema_documents()["envelope.json"]
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


def _samples() -> dict[str, dict[str, Any]]:
    """Three envelopes from every agency's own mapping (the twelve modules and the network agencies' files)."""
    mappings = [mapping_for(a) for a in CORE_AGENCIES]
    mappings += [mapping_for(p.stem, mapping_file=p) for p in sorted(EXAMPLES.glob("*.toml"))]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mapping in mappings:
            records = mapping.sample(random.Random(f"verdict-{mapping.agency}"), 3, operation="op-1")
            # through the agency's own export format and reader, as an adapter gets them
            export = write_export(mapping, records, Path(tmp))
            items = [i for i in read_file(export, native_format(mapping)) if isinstance(i, NativeRecord)]
            for i, item in enumerate(items):
                _, env = map_record(mapping, item)
                out[f"{mapping.agency}-{i}"] = json.loads(encode(env))
    return out


SAMPLES = _samples()


def _schema_ok(doc: Any) -> bool:
    return VALIDATOR.is_valid(doc)


def _decoder_ok(doc: Any) -> bool:
    try:
        ENVELOPE.decode(json.dumps(doc).encode())
    except DecodeError:
        return False
    return True


# ---- mutations: each returns the mutated copy, or None when it does not apply to this envelope ----
Mutation = Callable[[dict[str, Any]], "dict[str, Any] | None"]


def _strings(node: Any, path: tuple = ()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, (*path, i))
    elif isinstance(node, str):
        yield path, node


def _set(doc: dict, path: tuple, value: Any) -> dict:
    out = copy.deepcopy(doc)
    node = out
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value
    return out


def _first(doc: dict, where: str, match: Callable[[tuple, str], bool], change: Callable[[str], Any]) -> dict | None:
    root = doc[where] if where else doc
    for path, value in _strings(root):
        if match(path, value):
            return _set(doc, ((where,) if where else ()) + path, change(value))
    return None


def _key(name: str) -> Callable[[tuple, str], bool]:
    return lambda path, _value: bool(path) and path[-1] == name


def _record_time(change: Callable[[str], str]) -> Mutation:
    return lambda d: _first(d, "record", lambda p, v: bool(RFC3339.match(v)), change)


def _replace(key: str, change: Callable[[str], Any]) -> Mutation:
    return lambda d: _first(d, "", _key(key), change)


def _without(*path: str) -> Mutation:
    def mutate(d: dict) -> dict | None:
        out = copy.deepcopy(d)
        node = out
        for k in path[:-1]:
            if k not in node:
                return None
            node = node[k]
        if path[-1] not in node:
            return None
        del node[path[-1]]
        return out

    return mutate


def _luhn_off(digits: str) -> str:
    return digits[:-1] + str((int(digits[-1]) + 1) % 10)


EXPRESSIBLE: dict[str, Mutation] = {
    "another schema id": lambda d: {**d, "schema": "samband.envelope/2"},
    "produced_at without an offset": lambda d: {**d, "produced_at": d["produced_at"][:19]},
    "produced_at not a time": lambda d: {**d, "produced_at": "yesterday evening"},
    "a record time without an offset": _record_time(lambda v: v[:19]),
    "a record time that is a date": _record_time(lambda v: v[:10]),
    "an unknown region": lambda d: {**d, "region": "gotland"},
    "an unknown record type": lambda d: _set(d, ("record", "type"), "police.rumour"),
    "an unknown field": lambda d: {**d, "sender_claims": "polisen"},
    "an unknown field in the record": lambda d: _set(d, ("record", "extra"), 1),
    "no operation": _without("operation"),
    "no record": _without("record"),
    "a number as text": lambda d: {**d, "operation": 2017},
    "a personnummer in month 13": _replace("pnr", lambda v: v[:4] + "13" + v[6:]),
    "a personnummer on day 32": _replace("pnr", lambda v: v[:6] + "32" + v[8:]),
    "a personnummer of 10 digits": _replace("pnr", lambda v: v[2:]),
    "an organisationsnummer with third digit 1": _replace("orgnr", lambda v: v[:2] + "1" + v[3:]),
    "an organisationsnummer without its dash": _replace("orgnr", lambda v: v.replace("-", "")),
    "a plate ending in O": _replace("plate", lambda v: v[:5] + "O"),
    "a plate in lower case": _replace("plate", str.lower),
    "named recipients removed from an intelligence note": lambda d: (
        _without("handling", "named_recipients")(d) if d["record"]["type"] == "security.intelligence_note" else None
    ),
    "no recipients named on an intelligence note": lambda d: (
        _set(d, ("handling", "named_recipients"), []) if d["record"]["type"] == "security.intelligence_note" else None
    ),
}

# Rules the decoder checks that JSON Schema cannot say, and the verdicts (schema, decoder) they give.
INEXPRESSIBLE: dict[str, tuple[Mutation, tuple[bool, bool]]] = {
    "a personnummer with a wrong check digit": (_replace("pnr", _luhn_off), (True, False)),
    "an organisationsnummer with a wrong check digit": (_replace("orgnr", _luhn_off), (True, False)),
    "a personnummer on 30 February": (_replace("pnr", lambda v: v[:4] + "0230" + v[8:]), (True, False)),
    # RFC 3339 (the schema's date-time) wants a `T`; msgspec also takes the space RFC 3339 allows by agreement
    "a time with a space for the T": (
        lambda d: {**d, "produced_at": d["produced_at"].replace("T", " ")},
        (False, True),
    ),
}


def test_every_sample_envelope_passes_both_the_exported_schema_and_the_decoder():
    assert len(SAMPLES) >= 3 * 21
    verdicts = {name: (_schema_ok(doc), _decoder_ok(doc)) for name, doc in SAMPLES.items()}
    assert {name for name, v in verdicts.items() if v != (True, True)} == set()
    types = {doc["record"]["type"] for doc in SAMPLES.values()}
    assert "security.intelligence_note" in types and "police.vehicle_control" in types


@pytest.mark.parametrize("mutation", sorted(EXPRESSIBLE))
def test_a_mutated_envelope_gets_the_same_verdict_from_the_schema_and_the_decoder(mutation):
    applied = 0
    for name, doc in SAMPLES.items():
        mutated = EXPRESSIBLE[mutation](doc)
        if mutated is None:
            continue
        applied += 1
        schema_ok, decoder_ok = _schema_ok(mutated), _decoder_ok(mutated)
        assert (schema_ok, decoder_ok) == (False, False), (
            f"{mutation} of {name}: schema {schema_ok}, decoder {decoder_ok}"
        )
    assert applied, f"no sample envelope to apply {mutation!r} to"


@pytest.mark.parametrize("mutation", sorted(INEXPRESSIBLE))
def test_what_the_schema_cannot_express_is_written_down_with_its_verdicts(mutation):
    mutate, expected = INEXPRESSIBLE[mutation]
    verdicts = {(_schema_ok(m), _decoder_ok(m)) for m in map(mutate, SAMPLES.values()) if m is not None}
    assert verdicts == {expected}
