"""Versioning: an additive change with a minor bump keeps every reader working; a breaking
change needs a major bump; the committed snapshot of the published schemas holds us to it."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import ClassVar, Literal

import pytest

from samband.schemas import (
    RECORD_TYPES,
    Codec,
    DecodeError,
    PersonRef,
    Record,
    check_evolution,
    check_snapshot,
    compare_schemas,
    encode,
    json_schema,
)

from .._support import CommandRunner

SNAPSHOT = Path(__file__).parent / "snapshot"
PNR = "198503121231"


# One record type, in the versions a team might write over time.
class ControlV1_0(Record, tag="test.control", kw_only=True):
    VERSION: ClassVar[tuple[int, int]] = (1, 0)
    control_id: str
    controlled_at: _dt.datetime
    person: PersonRef
    passengers: int = 0


class ControlV1_1(Record, tag="test.control", kw_only=True):
    """1.1 adds an optional field: old readers still decode it."""

    VERSION: ClassVar[tuple[int, int]] = (1, 1)
    control_id: str
    controlled_at: _dt.datetime
    person: PersonRef
    passengers: int = 0
    seats: int | None = None


def _schema(cls):
    return json_schema(cls, "test.control")


def _evolve(old, new):
    return check_evolution("test.control", _schema(old), old.VERSION, _schema(new), new.VERSION)


def test_a_reader_of_1_0_decodes_what_a_1_1_writer_sends_with_the_tolerant_reader():
    sent = encode(
        ControlV1_1(
            control_id="K-1",
            controlled_at=_dt.datetime(2024, 5, 2, 6, tzinfo=_dt.UTC),
            person=PersonRef(pnr=PNR),
            passengers=31,
            seats=52,
        )
    )
    read = Codec(ControlV1_0, "test.control", tolerant=True).decode(sent)
    assert isinstance(read, ControlV1_0)
    assert (read.control_id, read.passengers, read.person) == ("K-1", 31, PersonRef(pnr=PNR))
    assert isinstance(read.person, PersonRef)
    # The strict reader (ingest) refuses the field it does not know, by name.
    with pytest.raises(DecodeError) as err:
        Codec(ControlV1_0, "test.control").decode(sent)
    assert str(err.value) == "test.control: Object contains unknown field `seats` - at `$`"


def test_the_tolerant_reader_is_strict_about_everything_but_unknown_fields():
    sent = b'{"type":"test.control","control_id":"K-1","controlled_at":"2024-05-02T06:00:00Z","person":{"type":"person","pnr":"198503121235","since":"1.1"}}'
    with pytest.raises(DecodeError) as err:
        Codec(ControlV1_0, "test.control", tolerant=True).decode(sent)
    assert str(err.value) == "test.control: Invalid personnummer 198503**-****: bad check digit - at `$.person`"


def test_an_optional_field_with_a_minor_bump_passes_the_check():
    assert _evolve(ControlV1_0, ControlV1_1) == []


def test_an_optional_field_without_a_minor_bump_fails_the_check():
    class Same(ControlV1_1, tag="test.control", kw_only=True):
        VERSION: ClassVar[tuple[int, int]] = (1, 0)

    assert _evolve(ControlV1_0, Same) == [
        "test.control 1.0 -> 1.0: additive change without a minor version bump: new optional field `seats` - at `$`"
    ]


class Removed(Record, tag="test.control", kw_only=True):
    VERSION: ClassVar[tuple[int, int]] = (1, 1)
    control_id: str
    controlled_at: _dt.datetime
    passengers: int = 0


class Retyped(Record, tag="test.control", kw_only=True):
    VERSION: ClassVar[tuple[int, int]] = (1, 1)
    control_id: int
    controlled_at: _dt.datetime
    person: PersonRef
    passengers: int = 0


class NewRequired(Record, tag="test.control", kw_only=True):
    VERSION: ClassVar[tuple[int, int]] = (1, 1)
    control_id: str
    controlled_at: _dt.datetime
    person: PersonRef
    passengers: int = 0
    officer: str


class NarrowedDefault(Record, tag="test.control", kw_only=True):
    VERSION: ClassVar[tuple[int, int]] = (1, 1)
    control_id: str
    controlled_at: _dt.datetime
    person: PersonRef
    passengers: int = 1


class NewValue(Record, tag="test.control", kw_only=True):
    VERSION: ClassVar[tuple[int, int]] = (1, 1)
    control_id: str
    controlled_at: _dt.datetime
    person: PersonRef | None = None
    passengers: int = 0


@pytest.mark.parametrize(
    "new,problem",
    [
        (Removed, "breaking change without a major version bump: removed field `person` - at `$`"),
        (Retyped, "breaking change without a major version bump: retyped: was string, now integer - at `$.control_id`"),
        (NewRequired, "breaking change without a major version bump: new required field `officer` - at `$`"),
        (
            NarrowedDefault,
            "breaking change without a major version bump: changed default: was 0, now 1 - at `$.passengers`",
        ),
        (NewValue, "breaking change without a major version bump: field `person` is no longer required - at `$`"),
    ],
    ids=["removed field", "retyped field", "new required field", "changed default", "made optional"],
)
def test_a_breaking_change_fails_the_check_unless_the_major_version_is_bumped(new, problem):
    assert _evolve(ControlV1_0, new)[0] == f"test.control 1.0 -> 1.1: {problem}"

    class Major(new, tag="test.control", kw_only=True):
        VERSION: ClassVar[tuple[int, int]] = (2, 0)

    assert _evolve(ControlV1_0, Major) == []


def test_a_version_never_goes_back():
    assert _evolve(ControlV1_1, ControlV1_0) == ["test.control: version went back from 1.1 to 1.0"]


class A(Record, tag="test.a", kw_only=True):
    kind: Literal["x", "y"]


class B(Record, tag="test.a", kw_only=True):
    kind: Literal["x", "y", "z"]


class Holder1(Record, tag="test.holder", kw_only=True):
    item: A | ControlV1_0


class Holder2(Record, tag="test.holder", kw_only=True):
    item: A


def test_the_checker_sees_a_new_literal_value_and_a_removed_record_type():
    changes = compare_schemas(json_schema(A, "a"), json_schema(B, "a"))
    assert [str(c) for c in changes] == ['new value "z" (older readers refuse it) - at `$.kind`']

    changes = compare_schemas(json_schema(Holder1, "h"), json_schema(Holder2, "h"))
    assert [(c.kind, str(c)) for c in changes] == [("breaking", "removed record type `test.control` - at `$.item`")]
    changes = compare_schemas(json_schema(Holder2, "h"), json_schema(Holder1, "h"))
    assert [(c.kind, str(c)) for c in changes] == [("additive", "new record type `test.control` - at `$.item`")]


def test_the_published_schemas_keep_every_promise_of_the_committed_snapshot():
    assert check_snapshot(SNAPSHOT) == []


def test_the_snapshot_check_catches_a_field_removed_from_a_real_record_type(tmp_path):
    import json
    import shutil

    shutil.copytree(SNAPSHOT, tmp_path / "snap")
    path = tmp_path / "snap" / "police.vehicle_control.json"
    doc = json.loads(path.read_text())
    # As if the snapshot had a field that the code no longer has.
    doc["$defs"]["VehicleControl"]["properties"]["trailer"] = {"type": "string"}
    doc["$defs"]["VehicleControl"]["required"].append("trailer")
    path.write_text(json.dumps(doc))
    assert check_snapshot(tmp_path / "snap") == [
        "police.vehicle_control 1.1 -> 1.1: breaking change without a major version bump: removed field `trailer` - at `$`"
    ]


def test_a_record_type_of_a_later_major_carries_the_major_in_its_tag():
    for tag, cls in RECORD_TYPES.items():
        major = cls.VERSION[0]
        assert major == 1 or tag.endswith(f".v{major}"), f"{tag} is major {major}: its tag must end in .v{major}"


def test_schemas_check_on_the_command_line_fails_naming_the_breaking_change(tmp_path):
    import json
    import shutil

    from samband.cli import cli

    shutil.copytree(SNAPSHOT, tmp_path / "snap")
    path = tmp_path / "snap" / "benefit.recovery_claim.json"
    doc = json.loads(path.read_text())
    doc["$defs"]["RecoveryClaim"]["properties"]["amount_ore"] = {"type": "string"}
    path.write_text(json.dumps(doc))
    result = CommandRunner().invoke(cli, ["schemas", "check", str(tmp_path / "snap")])
    assert result.exit_code == 1
    assert (
        "benefit.recovery_claim 1.0 -> 1.0: breaking change without a major version bump: "
        "retyped: was string, now integer - at `$.amount_ore`"
    ) in result.output
    assert CommandRunner().invoke(cli, ["schemas", "check", str(SNAPSHOT)]).exit_code == 0
