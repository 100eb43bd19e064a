"""A declarative mapping tried on its own sample records before anyone relies on it.

`samband onboard` calls `check_mapping` before a credential is made or the broker reloaded: a
mapping that is not TOML, names a field the record type lacks, or cannot map the records it
says its agency exports is refused with the file, the mapping's key and the value.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path
from typing import Any

from samband.schemas import ENVELOPE, PNR_SHAPE, SchemaError, encode, mask_personnummer

from ._declarative import DeclarativeMapping, load_mapping
from ._errors import MappingFileError, RejectedRecord
from ._registry import write_export
from ._runtime import map_record
from ._sources import NativeRecord, read_file

__all__ = ["check_mapping"]

SAMPLE_RECORDS = 25


def check_mapping(
    path: Path, *, agency: str, sends: tuple[str, ...] = (), records: int = SAMPLE_RECORDS
) -> DeclarativeMapping:
    """Load the mapping at ``path``, then write, read back, map and decode ``records`` of its own samples.

    Raises `MappingFileError` naming the file, the key (``$.fields.<name>``) and the value.
    """
    mapping = load_mapping(path, agency=agency)
    if sends and mapping.spec.record_type not in sends:
        raise MappingFileError(
            f"Expected a record type the agency file says it sends ({', '.join(sends)}), "
            f"got {mapping.spec.record_type!r} - at `$.record_type` in {path}"
        )
    samples = mapping.sample(random.Random(2017), records)
    with tempfile.TemporaryDirectory(prefix="samband-mapping-") as tmp:
        export = write_export(mapping, samples, Path(tmp))
        items = [i for i in read_file(export, mapping.native) if isinstance(i, (NativeRecord, RejectedRecord))]
    for n, item in enumerate(items, 1):
        if isinstance(item, RejectedRecord):
            raise MappingFileError(
                f"{item.reason} (the mapping's own sample record {n} does not read back in format "
                f"{mapping.format!r}) - at `$.format` in {path}"
            )
        try:
            _, env = map_record(mapping, item)
            ENVELOPE.decode(encode(env))  # what the router will decode
        except RejectedRecord as rej:
            raise _refused(mapping, path, n, item.value, rej.field, rej.reason) from None
        except SchemaError as exc:
            raise _refused(mapping, path, n, item.value, None, str(exc)) from None
    return mapping


def _refused(
    mapping: DeclarativeMapping, path: Path, n: int, native: Any, field: str | None, reason: str
) -> MappingFileError:
    native_path = (field or "").removeprefix("$.")
    key = next((f"$.fields.{name}" for name, f in mapping.spec.fields.items() if f.path == native_path), None)
    if key is None:
        key = "$.key" if native_path == mapping.spec.key else "$.fields"
    value = _at(native, native_path) if native_path else None
    shown = "" if value is None else f", value {PNR_SHAPE.sub(lambda m: mask_personnummer(m.group(0)), repr(value))}"
    return MappingFileError(
        f"{reason} (the mapping's own sample record {n}{f', native `{native_path}`' if native_path else ''}{shown}) "
        f"- at `{key}` in {path}"
    )


def _at(native: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if isinstance(native, dict):
            native = native.get(part)
        elif isinstance(native, list) and part.isdigit() and int(part) < len(native):
            native = native[int(part)]
        else:
            return None
    return native
