"""Dead letters: a rejected native record, kept in the agency's own DEADLETTER stream.

Published to ``dlq.<kind>`` with the agency's credentials, so it lands in the agency's own
account (no other party needs its raw records). A dead letter carries the raw bytes, or for
a record over `MAX_RECORD_BYTES` a reference to them (source, offset, length, sha256), the
position and the reason. Its ``Nats-Msg-Id`` is derived from the source and offset, so
re-reading a file does not dead-letter the same record twice.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from pathlib import Path

import msgspec
import nats
from nats.errors import Error as NatsError
from nats.js.errors import Error as JsError
from nats.js.errors import NotFoundError

from samband.schemas import DEAD_LETTER, MAX_RAW_BYTES, DeadLetter, RawRef

from ._errors import AdapterError, RejectedRecord

__all__ = ["DEADLETTER_STREAM_NAME", "DEAD_LETTER", "DeadLetter", "RawRef", "dead_letter_for", "list_dead_letters"]

DEADLETTER_STREAM_NAME = "DEADLETTER"


def _sha256_of_range(source: str, offset: int, length: int) -> str | None:
    path = Path(source)
    if source == "-" or not path.is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(offset)
        left = length
        while left > 0 and (chunk := f.read(min(left, 1 << 20))):
            h.update(chunk)
            left -= len(chunk)
    return h.hexdigest()


def dead_letter_for(agency: str, rej: RejectedRecord) -> tuple[str, bytes, dict[str, str]]:
    """Subject, payload and headers of the dead letter for ``rej``."""
    keep = rej.kind != "oversized" and len(rej.raw) <= MAX_RAW_BYTES
    ref = (
        None
        if keep
        else RawRef(
            source=rej.source,
            offset=rej.offset,
            length=rej.length,
            sha256=_sha256_of_range(rej.source, rej.offset, rej.length),
        )
    )
    letter = DeadLetter(
        agency=agency,
        kind=rej.kind,
        reason=rej.reason,
        field=rej.field,
        position=rej.position,
        source=rej.source,
        offset=rej.offset,
        length=rej.length,
        raw=rej.raw if keep else None,
        raw_ref=ref,
        rejected_at=_dt.datetime.now(_dt.UTC),
    )
    ident = hashlib.sha256(f"{rej.source}\0{rej.offset}\0{rej.position}\0".encode() + rej.raw).hexdigest()[:32]
    return f"dlq.{rej.kind}", msgspec.json.encode(letter), {"Nats-Msg-Id": f"dlq:{agency}:{ident}"}


async def list_dead_letters(
    nc: nats.NATS, *, limit: int | None = None, kind: str | None = None, prefix: str | None = None
) -> list[tuple[int, DeadLetter]]:
    """The agency's dead letters (read with its own credentials), oldest first, as (stream sequence, letter).

    ``prefix``: the JetStream API prefix under which another account lends its DEADLETTER stream's
    reads (its security chief's `samband console`, `chief.<agency>`); the newest ``limit`` are read."""
    js = nc.jetstream(prefix=prefix) if prefix else nc.jetstream()
    try:
        info = await js.stream_info(DEADLETTER_STREAM_NAME)
    except NotFoundError as exc:
        raise AdapterError("Expected the agency's DEADLETTER stream, got none: provision the deployment first") from exc
    except (JsError, NatsError) as exc:
        raise AdapterError(f"Expected the DEADLETTER stream's state, got {exc!r}") from exc
    out: list[tuple[int, DeadLetter]] = []
    first, last = info.state.first_seq, info.state.last_seq
    if info.state.messages == 0:
        return out
    if limit is not None and kind is None:  # only the newest are wanted: only they are read
        first = max(first, last - limit + 1)
    for seq in range(first, last + 1):
        try:
            msg = await js.get_msg(DEADLETTER_STREAM_NAME, seq)
        except NotFoundError:
            continue
        except (JsError, NatsError) as exc:
            raise AdapterError(f"Expected dead letter {seq} from the DEADLETTER stream, got {exc!r}") from exc
        # nats-py hands an empty message back as None; b"" is then a DecodeError like any bad letter
        letter = DEAD_LETTER.decode(msg.data or b"")
        if kind is None or letter.kind == kind:
            out.append((seq, letter))
    if limit is not None:
        out = out[-limit:]
    return out
