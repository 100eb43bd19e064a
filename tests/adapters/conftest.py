"""Helpers for the adapter tests: write an export, run it through the runtime, read the agency's dead letters."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def export_dir(tmp_path: Path) -> Path:
    d = tmp_path / "exports"
    d.mkdir()
    return d
