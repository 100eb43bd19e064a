"""Direct gets: one stored message by sequence, or the last on a subject (at or before a sequence).

nats-py's ``get_msg`` cannot ask for the last message on a subject at or before a sequence,
which is how the audit log's writer walks back over its own batches: the server answers that
only as a batch get (``multi_last`` with ``up_to_seq``, nats-server 2.11+; a plain
``last_by_subj`` ignores ``up_to_seq``), streamed and ended by an end-of-batch status. And a
scoped audit identity may only send the last-by-subject form whose subject is in the API
subject (``$JS.API.DIRECT.GET.<stream>.<subject>``, no request body), so that its permissions
can name the one subject it may read that way.
"""

from __future__ import annotations

import datetime as _dt

import msgspec
import nats
from nats.errors import Error as NatsError

from ._errors import ReadError

__all__ = ["StoredMsg", "direct_get"]


class StoredMsg(msgspec.Struct, frozen=True):
    seq: int
    subject: str
    data: bytes
    time: _dt.datetime | None = None


async def direct_get(
    nc: nats.NATS,
    stream: str,
    *,
    seq: int | None = None,
    last_by_subj: str | None = None,
    next_by_subj: str | None = None,
    up_to_seq: int | None = None,
    timeout: float = 5.0,
) -> StoredMsg | None:
    """The message asked for, or None when there is none (the server's 404)."""
    if last_by_subj is not None and up_to_seq is not None:
        return await _last_up_to(nc, stream, last_by_subj, up_to_seq, timeout)
    if last_by_subj is not None and seq is None:
        subject, body = f"$JS.API.DIRECT.GET.{stream}.{last_by_subj}", b""
    else:
        req: dict = {}
        if seq is not None:
            req["seq"] = seq
        if last_by_subj is not None:
            req["last_by_subj"] = last_by_subj
        if next_by_subj is not None:
            req["next_by_subj"] = next_by_subj
        subject, body = f"$JS.API.DIRECT.GET.{stream}", msgspec.json.encode(req)
    try:
        msg = await nc.request(subject, body, timeout=timeout)
    except (TimeoutError, NatsError) as exc:
        raise ReadError(f"Expected a message of stream {stream}, got {exc!r}") from exc
    return _stored(stream, msg)


async def _last_up_to(nc: nats.NATS, stream: str, subject: str, up_to: int, timeout: float) -> StoredMsg | None:
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    try:
        body = msgspec.json.encode({"multi_last": [subject], "up_to_seq": up_to})
        await nc.publish(f"$JS.API.DIRECT.GET.{stream}", body, reply=inbox)
        found = None
        while True:
            msg = await sub.next_msg(timeout=timeout)
            status = (msg.headers or {}).get("Status")
            if status in ("204", "404"):  # end of the batch, or nothing at all
                return found
            found = _stored(stream, msg)
    except (TimeoutError, NatsError) as exc:
        raise ReadError(f"Expected a message of stream {stream}, got {exc!r}") from exc
    finally:
        await sub.unsubscribe()


def _stored(stream: str, msg) -> StoredMsg | None:
    headers = msg.headers or {}
    status = headers.get("Status")
    if status == "404":
        return None
    if status is not None:
        raise ReadError(
            f"Expected a message of stream {stream}, got {status} {headers.get('Description', '')}".rstrip()
        )
    stamp = headers.get("Nats-Time-Stamp")
    when = None
    if stamp:
        try:  # nanoseconds: cut to what datetime keeps
            when = _dt.datetime.fromisoformat(stamp[:26].rstrip("Z") + "+00:00")
        except ValueError:
            when = None
    return StoredMsg(int(headers.get("Nats-Sequence", 0)), headers.get("Nats-Subject", ""), msg.data, when)
