"""A newcomer takes in any source module at once: none is over 400 lines (tests excluded)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("schemas", "adapters", "broker_config", "router", "observability", "samband")
LIMIT = 400


def source_modules() -> list[Path]:
    return sorted(p for package in SOURCES for p in (REPO / package).rglob("*.py"))


def test_no_source_module_is_over_400_lines():
    modules = source_modules()
    assert len(modules) > 100  # the packages were found
    long = {
        str(p.relative_to(REPO)): n for p in modules if (n := len(p.read_text(encoding="utf-8").splitlines())) > LIMIT
    }
    assert long == {}
