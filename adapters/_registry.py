"""Find an agency's mapping module by slug."""

from __future__ import annotations

import importlib

from ._errors import AdapterError
from ._mapping import AgencyMapping

__all__ = ["mapping_for"]


def mapping_for(agency: str) -> AgencyMapping:
    try:
        return importlib.import_module(f"samband.adapters.agencies.{agency}")  # type: ignore[return-value]
    except ModuleNotFoundError as exc:
        raise AdapterError(f"Expected an agency with an outbound adapter, got `{agency}`: no mapping module") from exc
