"""Find an agency's mapping: its module, or a declarative mapping file."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from samband.schemas import unknown_name

from ._errors import UnknownAgency
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


def mapping_for(agency: str, *, mapping_file: Path | None = None, onboarded: Path | None = None) -> AgencyMapping:
    """The agency's mapping: ``mapping_file`` if given, else its mapping module, else the mapping
    its deployment kept when it was onboarded (``onboarded``), else the packaged ``mappings/<agency>.toml``."""
    from ._declarative import load_mapping

    if mapping_file is not None:
        return load_mapping(mapping_file, agency=agency)
    if agency.isidentifier() and agency.islower():  # anything else is no module name (and no slug)
        try:
            return importlib.import_module(f"samband.adapters.agencies.{agency}")
        except ModuleNotFoundError as exc:
            if exc.name != f"samband.adapters.agencies.{agency}":
                raise
    if onboarded is not None:
        return load_mapping(onboarded, agency=agency)
    packaged = MAPPINGS_DIR / f"{agency}.toml"
    if packaged.is_file():
        return load_mapping(packaged, agency=agency)
    known = {*CORE_AGENCIES, *(p.stem for p in MAPPINGS_DIR.glob("*.toml"))}
    raise UnknownAgency(
        unknown_name(
            "an agency with an adapter (a mapping module, an onboarded mapping, or --mapping FILE)", agency, known
        )
    )


def write_export(mapping: AgencyMapping, records: Sequence[Any], directory: Path, *, name: str | None = None) -> Path:
    """Write native ``records`` as the agency's export file (``<agency>.<suffix>`` in ``directory``)."""
    fmt = native_format(mapping)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (name or f"{mapping.agency}{fmt.suffixes[0]}")
    path.write_bytes(fmt.dump(list(records)))
    return path
