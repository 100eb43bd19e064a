"""Declarative agency files: one TOML file per agency, validated with a located error."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import msgspec

from samband.schemas import REGIONS, Region

from ._errors import AgencyFileError

__all__ = ["Agency", "load_agency_file", "builtin_agencies", "SLUG_PATTERN"]

SLUG_PATTERN = r"^[a-z][a-z0-9_]{1,31}$"
Slug = msgspec.Meta(pattern=SLUG_PATTERN)


class Agency(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One agency on the bus: its slug is its NATS account name and subject token."""

    slug: str
    name: str
    tier: Literal["core", "network"]
    regions: tuple[Region, ...] = REGIONS  # type: ignore[assignment]
    sends: tuple[str, ...] = ()
    purposes: tuple[str, ...] = ()
    contact: str | None = None
    mapping: str | None = None

    def __post_init__(self) -> None:
        import re

        if not re.match(SLUG_PATTERN, self.slug):
            raise ValueError(f"Expected slug matching {SLUG_PATTERN}, got {self.slug!r}")


_decoder = msgspec.toml.decode


def load_agency_file(path: Path | str, *, text: str | None = None) -> Agency:
    path = Path(path)
    try:
        raw = text if text is not None else path.read_text(encoding="utf-8")
        return _decoder(raw, type=Agency)
    except msgspec.ValidationError as exc:
        raise AgencyFileError(f"{path}: {exc}") from exc
    except (msgspec.DecodeError, OSError, UnicodeDecodeError) as exc:
        raise AgencyFileError(f"{path}: cannot read agency file: {exc}") from exc


def builtin_agencies() -> dict[str, Agency]:
    """The agency files shipped in the package (the 12 core and 9 network agencies)."""
    out: dict[str, Agency] = {}
    folder = resources.files("samband.broker_config") / "agencies"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            agency = load_agency_file(Path(str(entry)), text=entry.read_text(encoding="utf-8"))
            out[agency.slug] = agency
    return out
