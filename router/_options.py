"""Command-line options more than one command takes (here and in `samband up`/`status`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

__all__ = ["policy_dir_option"]

_F = TypeVar("_F", bound=Callable[..., Any])


def policy_dir_option(help: str) -> Callable[[_F], _F]:
    """``--policy DIR`` into ``policy_dir``: an existing directory, or None for the command's default
    (``help`` says which)."""
    return click.option(
        "--policy",
        "policy_dir",
        type=click.Path(exists=True, file_okay=False, path_type=Path),
        default=None,
        help=help,
    )
