"""Find an agency's mapping: its module, or a declarative mapping file."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._errors import AdapterError
from ._mapping import AgencyMapping, native_format

__all__ = ["CORE_AGENCIES", "MAPPINGS_DIR", "mapping_for", "write_export"]

CORE_AGENCIES = (
    "polisen",
    "sakerhetspolisen",
    "aklagarmyndigheten",
    "ekobrottsmyndigheten",
    "skatteverket",
    "kriminalvarden",
    "kronofogden",
    "kustbevakningen",
    "tullverket",
    "forsakringskassan",
    "migrationsverket",
    "arbetsformedlingen",
)
MAPPINGS_DIR = Path(__file__).parent / "mappings"


def mapping_for(agency: str, *, mapping_file: Path | None = None) -> AgencyMapping:
    """The agency's mapping module, else its declarative mapping (``mapping_file`` or the packaged
    ``mappings/<agency>.toml``)."""
    if mapping_file is not None:
        from ._declarative import load_mapping

        return load_mapping(mapping_file, agency=agency)
    try:
        return importlib.import_module(f"samband.adapters.agencies.{agency}")
    except ModuleNotFoundError as exc:
        if exc.name != f"samband.adapters.agencies.{agency}":
            raise
        packaged = MAPPINGS_DIR / f"{agency}.toml"
        if packaged.is_file():
            from ._declarative import load_mapping

            return load_mapping(packaged, agency=agency)
        raise AdapterError(
            f"Expected an agency with an adapter (a mapping module or mappings/{agency}.toml), got `{agency}`"
        ) from exc


def write_export(mapping: AgencyMapping, records: Sequence[Any], directory: Path, *, name: str | None = None) -> Path:
    """Write native ``records`` as the agency's export file (``<agency>.<suffix>`` in ``directory``)."""
    fmt = native_format(mapping)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (name or f"{mapping.agency}{fmt.suffixes[0]}")
    path.write_bytes(fmt.dump(list(records)))
    return path
