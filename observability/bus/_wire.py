"""The bulk read's fast path: the NATS wire protocol spoken directly for one pull of a stream range.

Why not nats-py for this one thing: its per-message path (headers parsed into a dict, a `Msg`
object, an asyncio queue, an awaited callback) costs 20-50 µs here, so a million audit
records take a minute or more to read. Here a second connection of the same identity
(same URL, signed with the same nkey through the nats-py connection's own signing callback)
subscribes one inbox, asks the pull consumer for batches (two in flight), and cuts the
messages out of the socket buffer with `bytes.find`: no per-message object but the record.
Consumer creation and deletion, stream info and direct gets stay on nats-py.

If anything it needs is not there (a TLS server, another kind of authentication, a nats-py
whose signer `_shim.signer` cannot find) it raises `WireUnavailable` and the caller reads with nats-py.
"""

from __future__ import annotations

import asyncio
import json

import msgspec

from . import _shim
from ._errors import BusError, ReadError

__all__ = ["WireUnavailable", "wire_pull"]

_READ = 1 << 20
WAIT_NS = 500_000_000  # how long a second request after a status waits for messages


class WireUnavailable(BusError):
    """The fast path cannot be used with this connection; read with nats-py instead."""


async def wire_pull(
    nc,
    next_subject: str,
    stream: str,
    start: int,
    last: int,
    *,
    batch: int,
    with_subjects: bool,
    strict: bool,
    gap,
    with_seqs: bool = False,
) -> list:
    """Messages ``start..last`` from the pull consumer behind ``next_subject`` (see `read_range`)."""
    url = nc.connected_url
    lent = _shim.signer(nc)
    if url is None or url.scheme not in ("nats", "") or not url.hostname:
        raise WireUnavailable(f"not a plain nats:// connection: {url}")
    try:
        reader, writer = await asyncio.open_connection(url.hostname, url.port or 4222, limit=_READ * 4)
    except OSError as exc:
        raise WireUnavailable(f"Expected a second connection, got {exc!r}") from exc
    try:
        line = await asyncio.wait_for(reader.readline(), 5)
        if not line.startswith(b"INFO "):
            raise WireUnavailable(f"Expected INFO from the server, got {line[:40]!r}")
        info = json.loads(line[5:])
        if info.get("tls_required") or not info.get("headers"):
            raise WireUnavailable("the server wants TLS, or has no headers")
        connect = {
            "verbose": False,
            "pedantic": False,
            "lang": "python",
            "version": "samband-wire/1",
            "protocol": 1,
            "headers": True,
            "no_responders": True,
            "name": "samband-audit-reader",
        }
        if info.get("nonce"):
            if lent is None:
                raise WireUnavailable("the server wants an nkey signature and the connection has none to lend")
            sign, public = lent
            connect["sig"] = sign(info["nonce"]).decode()
            connect["nkey"] = public
        # the connection's own inbox prefix: a scoped identity may subscribe to nothing else
        inbox = nc.new_inbox()
        writer.write(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        await writer.drain()
        while True:
            line = await asyncio.wait_for(reader.readline(), 5)
            if line.startswith(b"PONG"):
                break
            if line.startswith(b"-ERR") or not line:
                raise WireUnavailable(f"the server refused the second connection: {line.strip()!r}")
        writer.write(f"SUB {inbox} 1\r\n".encode())
        shape = 2 if with_seqs else 1 if with_subjects else 0
        return await _pull(reader, writer, inbox, next_subject, stream, start, last, batch, shape, strict, gap)
    except (TimeoutError, OSError, ValueError) as exc:
        raise WireUnavailable(f"second connection failed: {exc!r}") from exc
    finally:
        writer.close()


async def _pull(reader, writer, inbox, next_subject, stream, start, last, batch, shape, strict, gap) -> list:
    total = last - start + 1
    out: list = []
    append = out.append
    requested = 0
    expect = start  # the next stream sequence
    retried_at = -1  # len(out) when a status last made us ask again, waiting
    wait = False  # the next request waits for messages instead of no_wait

    def ask() -> None:
        nonlocal requested, wait
        n = min(batch, total - requested)
        body = msgspec.json.encode({"batch": n, "expires": WAIT_NS} if wait else {"batch": n, "no_wait": True})
        wait = False
        requested += n
        writer.write(f"PUB {next_subject} {inbox} {len(body)}\r\n".encode() + body + b"\r\n")

    # Two requests in flight keep the server sending while we parse. Not when holes are allowed:
    # there a status ends the read, and only with one request out is it certain that no message
    # of an earlier request is still on its way behind the status of a later one.
    window = 2 * batch if strict else batch
    ask()
    if strict and requested < total:
        ask()
    await writer.drain()
    buf = b""
    while expect <= last:
        chunk = await asyncio.wait_for(reader.read(_READ), 30)
        if not chunk:
            raise ReadError(f"reading stream {stream}: the server closed the connection after {len(out)} messages")
        buf = buf + chunk if buf else chunk
        pos, n, find = 0, len(buf), buf.find
        while pos < n:
            eol = find(b"\r\n", pos)
            if eol < 0:
                break
            if buf.startswith(b"HMSG ", pos) or buf.startswith(b"MSG ", pos):
                parts = buf[pos:eol].split(b" ")
                size = int(parts[-1])
                end = eol + 2 + size
                if end + 2 > n:
                    break  # the rest of this message is in the next read
                hmsg = parts[0] == b"HMSG"
                hlen = int(parts[-2]) if hmsg else 0
                reply = parts[3] if len(parts) == (6 if hmsg else 5) else b""
                body_at = eol + 2 + hlen
                pos = end + 2
                if not reply:  # a status: 404 no messages, 408, 409
                    if not strict:
                        # A filtered consumer's no_wait request is sometimes answered `404 No Messages`
                        # while messages it filters are still ahead (seen on a fresh consumer with
                        # several filter subjects): ask once more, waiting, before taking it as the end.
                        if expect <= last and retried_at != len(out):
                            retried_at, requested, wait = len(out), len(out), True
                            continue
                        expect = last + 1
                        continue
                    status = (
                        buf[eol + 2 : body_at].split(b"\r\n")[0][9:].decode(errors="replace")
                    )  # NATS/1.0 404 No Messages
                    raise gap(
                        f"Expected seq {expect}..{last} of stream {stream}, "
                        f"got status {status} after {len(out)} messages",
                        expect,
                    )
                # $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>
                seq = int(reply.split(b".", 6)[5])
                if seq > last or expect > last:  # past the range (only a filtered read asks beyond it)
                    expect = last + 1
                    continue
                if seq != expect and (strict or seq < expect):
                    raise gap(
                        f"Expected seq {expect} of stream {stream}, got seq {seq}: "
                        f"seq {expect}..{seq - 1} are not in the stream",
                        expect,
                    )
                expect = seq + 1
                data = buf[body_at:end]
                if shape == 0:
                    append(data)
                elif shape == 1:
                    append((parts[1].decode(), data))
                else:
                    append((seq, parts[1].decode(), data))
            elif buf.startswith(b"PING", pos):
                writer.write(b"PONG\r\n")
                pos = eol + 2
            elif buf.startswith(b"-ERR", pos):
                err = buf[pos:eol].decode(errors="replace")
                if "Permissions Violation" in err and not out:  # e.g. another inbox prefix: nats-py knows it
                    raise WireUnavailable(err)
                raise ReadError(f"reading stream {stream}: {err}")
            else:  # +OK, PONG, INFO
                pos = eol + 2
        buf = buf[pos:]
        while requested - len(out) < window and requested < total:
            ask()
        await writer.drain()
    return out
