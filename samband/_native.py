"""One native export record through its agency's adapter mapping (for `policy explain --native`)."""

from __future__ import annotations

from pathlib import Path

import msgspec

from samband.adapters import NativeRecord, RejectedRecord, map_record, mapping_for, native_format, read_file
from samband.schemas import Envelope

__all__ = ["native_envelope"]


def native_envelope(
    agency: str, source: Path, line: int | None, *, mapping_file: Path | None = None
) -> Envelope | RejectedRecord:
    """The envelope the adapter makes of the record at ``source:line`` (or the first record), with
    its origin set as the router would set it (the publishing agency), or why it makes none."""
    mapping = mapping_for(agency, mapping_file=mapping_file)
    wanted = None if line is None else f"{source.name}:{line}"
    seen = []
    for item in read_file(source, native_format(mapping)):
        if not isinstance(item, (NativeRecord, RejectedRecord)):
            continue
        if wanted is not None and item.position != wanted:
            seen.append(item.position)
            continue
        if isinstance(item, RejectedRecord):
            return item
        try:
            _, env = map_record(mapping, item)
        except RejectedRecord as rej:
            return rej
        return msgspec.structs.replace(env, origin=mapping.agency)
    lines = [p.rsplit(":", 1)[1] for p in seen]
    starts = f" (records start on lines {', '.join(lines[:8])}{', ...' if len(lines) > 8 else ''})" if lines else ""
    on = f" on line {line}" if line is not None else ""
    return RejectedRecord(f"Expected a record of {agency}'s export{on}, got none{starts}", position=str(source))
