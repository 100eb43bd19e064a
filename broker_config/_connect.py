"""How one identity connects to a deployment's server: the first connection bounded, then for ever.

The first connection is tried for ``first_connect`` seconds (a broker that is starting answers
within them) and then refused with one line that names the URL, the identity and what to do;
credentials the server refuses are refused at once. Once connected, the client reconnects for
ever (a broker restart is ridden out). The audit identities listen on inboxes of their own
(`_audit.inbox_prefix`); TLS options come from the deployment (`_tls.client_tls`).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import nats
from nats.errors import Error as NatsError

from samband.observability import get_logger

from ._audit import inbox_prefix
from ._creds import AUDIT_ADMIN
from ._errors import BrokerUnavailable

__all__ = ["connect_identity"]

log = get_logger("samband.broker")


async def connect_identity(
    url: str, seed: Path, identity: str, *, state_dir: Path, first_connect: float, options: dict[str, Any]
) -> nats.NATS:
    """A connection to ``url`` as ``identity`` (its nkey seed at ``seed``), or `BrokerUnavailable`."""
    if identity == AUDIT_ADMIN and not seed.is_file():
        raise BrokerUnavailable(
            f"the audit admin's seed is not at {seed}: it is kept apart from the deployment; "
            "point SAMBAND_ADMIN_DIR at the directory that holds it"
        )
    if not seed.is_file():
        raise BrokerUnavailable(
            f"Expected credentials for `{identity}` at {seed}, found none: "
            f"is `{identity}` on this deployment ({state_dir})?"
        )
    connected = False
    first_error: list[BaseException] = []

    async def error_cb(exc: Exception) -> None:
        if connected:
            log.warning("nats connection error", identity=identity, error=repr(exc))
        else:  # before the first connection, failures are ours to report, once
            first_error[:] = [exc]

    prefix = inbox_prefix(identity)  # the audit identities listen on inboxes of their own
    settings = {
        "connect_timeout": 2,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.25,
        "error_cb": error_cb,
        **({"inbox_prefix": prefix} if prefix else {}),
        **options,
    }
    deadline = time.monotonic() + first_connect
    while True:
        nc = nats.NATS()
        try:
            # nats-py retries a first connection for ever unless both are bounded; they are set
            # back once connected (nats-py reads them from `options` on each disconnect)
            first = {**settings, "allow_reconnect": False, "max_reconnect_attempts": 1}
            await nc.connect(url, nkeys_seed=str(seed), name=f"samband-{identity}", **first)
        except (NatsError, OSError, TimeoutError) as exc:
            cause: BaseException = exc
            if isinstance(exc, nats.errors.NoServersError) and first_error:
                cause = first_error[0]  # what went wrong, not that nothing is left to try
            refused_credentials = any(w in str(cause).lower() for w in ("authorization", "authentication"))
            if refused_credentials or time.monotonic() > deadline:
                raise BrokerUnavailable(_unreachable(url, state_dir, identity, cause, refused_credentials)) from cause
            await asyncio.sleep(0.25)
            continue
        nc.options["allow_reconnect"] = options.get("allow_reconnect", True)
        nc.options["max_reconnect_attempts"] = settings["max_reconnect_attempts"]
        connected = True
        return nc


def _unreachable(url: str, state_dir: Path, identity: str, exc: BaseException, refused_credentials: bool) -> str:
    here = f"--state-dir {state_dir}"
    if refused_credentials:
        return (
            f"Expected the nats-server at {url} to accept `{identity}`, got an authorization violation: "
            f"another deployment answers on that port; start this one with `samband {here} up`"
        )
    if isinstance(exc, ConnectionRefusedError):
        why = "connection refused"
    elif isinstance(exc, TimeoutError):
        why = "no answer in time"
    else:
        why = str(exc) or type(exc).__name__
    if "maximum account active connections exceeded" in why:
        return (
            f"Expected the nats-server at {url} to take another connection as `{identity}`, got {why}: "
            "its account has as many as its agency file allows (`[limits] connections`)"
        )
    return (
        f"Expected a nats-server at {url} for `{identity}`, got {why}: "
        f"is the deployment running? Start it with `samband {here} up`"
    )
