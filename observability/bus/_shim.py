"""The one place samband reaches into nats-py's internals, each use with the gain that pays for it.

Everything here is probed against the installed nats-py (pinned below the next minor in
pyproject); `tests/observability/test_shims.py` fails loudly when a probed name changes shape,
and every caller has a public-API path for when a probe says no (slower, the same on the wire).

* ``write(nc, data, msgs, size)``: one framed buffer handed to the client's writer
  (``NATS._send_command`` then ``NATS._flush_pending`` when no flush is queued), instead of
  ``NATS.publish`` per message, which frames, validates and queues each one. Measured with
  `samband bench shim` (AckPipeline publishing 30,000 450-byte records with headers to a
  stream, fast path against ``NATS.publish`` per message, same run): see docs/operating.md,
  "Library internals", for the figures.
* ``signer(nc)``: the connection's nkey signing callback and public key
  (``NATS._signature_cb``, ``NATS._public_nkey``), lent to the audit bulk reader's second
  connection of the same identity, so it can authenticate without the seed being passed around.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import nats

__all__ = ["can_write", "signer", "write"]


def can_write(nc: nats.NATS) -> bool:
    """Whether ``write`` can be used with this client (else: ``NATS.publish`` per message)."""
    return callable(getattr(nc, "_send_command", None)) and callable(getattr(nc, "_flush_pending", None))


async def write(nc: Any, data: bytes, msgs: int, size: int) -> None:
    """Hand ``data`` (``msgs`` framed messages, ``size`` payload bytes) to the client's writer, in order."""
    nc.stats["out_msgs"] += msgs
    nc.stats["out_bytes"] += size
    await nc._send_command(data)
    queue = getattr(nc, "_flush_queue", None)
    if queue is not None and queue.empty():
        await nc._flush_pending()


def signer(nc: Any) -> tuple[Callable[[str], bytes], str] | None:
    """The connection's nkey signature callback and public nkey, or None (not an nkey connection)."""
    sign = getattr(nc, "_signature_cb", None)
    public = getattr(nc, "_public_nkey", None)
    if not callable(sign) or not public:
        return None
    return sign, public
