"""Errors raised by `samband.router`.

The tree::

    RouterError                 base of everything this package raises
    ├── PolicyError             a policy file or decision message is invalid (names the file, the key and the value)
    │   └── DecisionRefused     a council's decision is refused: signature, scope, replay, order or content
    └── CouncilKeyError         a council's key or the trusted public keys cannot be read
"""

from __future__ import annotations

__all__ = ["CouncilKeyError", "DecisionRefused", "PolicyError", "RouterError"]


class RouterError(Exception):
    """Base class for every error raised by `samband.router`."""


class PolicyError(RouterError, ValueError):
    """Policy data failed validation."""


class DecisionRefused(PolicyError):
    """A council's decision message was refused; the message says why, in msgspec's shape."""


class CouncilKeyError(RouterError):
    """A council's private key or the file of trusted public keys is missing or unreadable."""
