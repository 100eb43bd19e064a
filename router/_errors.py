"""Errors raised by `samband.router`.

The tree::

    RouterError                 base of everything this package raises
    └── PolicyError             a policy file or decision message is invalid (names the file, the key and the value)
"""

from __future__ import annotations

__all__ = ["PolicyError", "RouterError"]


class RouterError(Exception):
    """Base class for every error raised by `samband.router`."""


class PolicyError(RouterError, ValueError):
    """Policy data failed validation."""
