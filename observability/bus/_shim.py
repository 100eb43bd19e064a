"""The one place samband reaches into nats-py's internals, each use with the gain that pays for it.

Everything here is probed against the installed nats-py (pinned below the next minor in
pyproject); `tests/observability/test_shims.py` fails loudly when a probed name changes shape,
and every caller has a public-API path for when a probe says no (slower, the same on the wire).

Measured with `samband bench shim` (2026-11-26, nats-py 2.16, three runs of three interleaved
rounds, 30,000 messages of 937 bytes with two headers to one stream; client CPU per message):
nats-py's public path 8.0-8.6 µs, with ``write`` 5.7-5.9 µs, with ``write`` and ``route``
4.3-4.7 µs (0.52-0.55x the CPU, 1.34-1.39x the rate); pulled back through a subscription
callback 6.4-6.9 µs, through ``route_msgs`` 4.8-4.9 µs. docs/performance.md has the table.

* ``write(nc, data, msgs, size)``: one framed buffer handed to the client's writer
  (``NATS._send_command`` then ``NATS._flush_pending`` when no flush is queued), instead of
  ``NATS.publish`` per message, which frames, validates and queues each one: 2.2-2.7 µs less
  CPU per message.
* ``route(nc, sub, handler)``: the messages of one subscription handed to a plain function
  straight from the client's protocol parser (a wrapper over ``NATS._process_msg`` that looks the
  subscription's ``Subscription._id`` up first), instead of nats-py's path for each message:
  its header parse, a ``Msg``, an asyncio queue and a hop to the subscription's task, then the
  callback's coroutine. For `AckPipeline`'s PubAcks (one per delivery: seven per record at
  Operation Bacchus fan-out): 1.3-1.4 µs less CPU per answer.
* ``route_msgs(nc, sub, handler)``: the same for a subscription whose messages are wanted as
  nats-py's own ``Msg`` (to ack them: the router's pulled INGEST records), built by
  ``NATS._build_message`` with the headers read by `_framing.parse_headers` (nats-py's rules
  without its loop over each character of a header name): 1.6-2.0 µs less CPU per record.
* ``signer(nc)``: the connection's nkey signing callback and public key
  (``NATS._signature_cb``, ``NATS._public_nkey``), lent to the audit bulk reader's second
  connection of the same identity, so it can authenticate without the seed being passed around.
"""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Callable
from typing import Any

import nats
from nats.aio.msg import Msg

from ._framing import parse_headers

__all__ = ["Handler", "can_route", "can_write", "route", "route_msgs", "signer", "unroute", "write"]

# subject, reply, payload and the raw header block (or None), as the parser cut them out
Handler = Callable[[bytes, bytes, bytes, "bytes | None"], None]
# per client: the routed subscriptions' handlers (behind a reference to call first) by subscription id
_ROUTES: weakref.WeakKeyDictionary[Any, dict[int, Callable[[], Handler | None]]] = weakref.WeakKeyDictionary()


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


def can_route(nc: nats.NATS) -> bool:
    """Whether ``route`` and ``route_msgs`` can be used with this client (else: a subscription callback)."""
    return (
        callable(getattr(nc, "_process_msg", None))
        and callable(getattr(nc, "_build_message", None))
        and isinstance(getattr(nc, "stats", None), dict)
    )


def route(nc: Any, sub: Any, handler: Handler) -> None:
    """Hand every message of ``sub`` to ``handler`` as the parser reads it (it must not block); the
    subscription's own queue and task then see none of them."""
    try:
        routes = _ROUTES[nc]
    except KeyError:
        routes = _ROUTES[nc] = {}
        original = nc._process_msg
        stats = nc.stats

        async def process_msg(sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
            try:
                to = routes[sid]()
            except KeyError:
                to = None
            if to is None:  # not routed, or its owner is gone
                await original(sid, subject, reply, data, headers)
                return
            stats["in_msgs"] += 1
            stats["in_bytes"] += len(data)
            try:
                to(subject, reply, data, headers)
            except Exception:  # a handler's bug must not end the client's read loop
                pass

        nc._process_msg = process_msg
    # held weakly when it is a method: the handlers must not keep their client alive through `_ROUTES`
    routes[sub._id] = weakref.WeakMethod(handler) if inspect.ismethod(handler) else (lambda: handler)


def route_msgs(nc: Any, sub: Any, handler: Callable[[Msg], None]) -> None:
    """As `route`, with each message handed over as nats-py's own ``Msg`` (it can be acked)."""
    build: Callable[[], Callable[..., Msg] | None] = weakref.WeakMethod(nc._build_message)
    sid = sub._id
    # weakly: the routing table must not keep the handler's owner (and through it the client) alive
    ref: Callable[[], Callable[[Msg], None] | None] = (
        weakref.WeakMethod(handler) if inspect.ismethod(handler) else (lambda: handler)
    )

    def raw(subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> None:
        to, make = ref(), build()
        if to is not None and make is not None:
            to(make(sid, subject, reply, data, parse_headers(headers)))

    route(nc, sub, raw)


def unroute(nc: Any, sub: Any) -> None:
    """``sub``'s messages go nats-py's way again (call before unsubscribing)."""
    try:
        del _ROUTES[nc][sub._id]
    except KeyError:
        pass
