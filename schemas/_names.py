"""Names a person types (agency slugs, regions, record types): a refusal that suggests the closest one."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean", "unknown_name"]


def did_you_mean(value: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``value`` (difflib's ratio of at least 0.6), or None."""
    close = difflib.get_close_matches(value, sorted(set(choices)), n=1, cutoff=0.6)
    return close[0] if close else None


def unknown_name(kind: str, value: str, choices: Iterable[str]) -> str:
    """``Expected an agency, got `polis`; did you mean `polisen`?`` (or the choices, when none is close)."""
    choices = sorted(set(choices))
    guess = did_you_mean(value, choices)
    if guess is not None:
        return f"Expected {kind}, got `{value}`; did you mean `{guess}`?"
    return f"Expected {kind} ({', '.join(choices)}), got `{value}`"
