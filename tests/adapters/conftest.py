"""Helpers for the adapter tests: write an export, run it through the runtime, read the agency's dead letters."""

from __future__ import annotations

from pathlib import Path

import pytest

from samband.adapters import Positions, list_dead_letters, mapping_for, native_format, publish_records, read_source

# Records these tests publish belong to no decided operation, so a router started by another
# test (one shared server) denies them instead of delivering them into someone's sink.
OPERATION = "adapter-tests"


async def run_export(bus, agency: str, source: Path, *, positions: Positions | None = None, **kwargs):
    """Publish ``source`` with the agency's own credentials; the summary and the dead letters from this source."""
    mapping = mapping_for(agency)
    nc = await bus.connect(agency)
    try:
        summary = await publish_records(
            nc, mapping, read_source(source, native_format(mapping), positions=positions), positions=positions, **kwargs
        )
        key = str(Path(source).resolve())
        letters = [
            letter
            for _, letter in await list_dead_letters(nc)
            if letter.source == key or letter.source.startswith(key + "/")
        ]
    finally:
        await nc.close()
    return summary, letters


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    d = tmp_path / "exports"
    d.mkdir()
    return d
