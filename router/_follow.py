"""Replay a stream to its current end, then follow it: how the router reads REGISTRY and DECISIONS."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from nats.errors import Error as NatsError
from nats.js.api import DeliverPolicy
from nats.js.errors import Error as JsError

__all__ = ["replay_then_follow"]


async def replay_then_follow(js: Any, stream: str, subjects: str, handle: Callable[[Any], None], timeout: float) -> Any:
    """Subscribe ``handle`` to ``stream`` from its first message and return the subscription once every
    message up to the stream's end at the call has been handled; ``ConnectionError`` when the stream is
    unavailable or not replayed within ``timeout`` (the subscription is then dropped)."""
    try:
        last = (await js.stream_info(stream)).state.last_seq
    except (JsError, NatsError) as exc:
        raise ConnectionError(f"{stream} stream unavailable: {exc!r}") from exc
    caught_up = asyncio.Event()
    if last == 0:
        caught_up.set()

    async def on_msg(msg: Any) -> None:
        handle(msg)
        if msg.metadata.sequence.stream >= last:
            caught_up.set()

    sub = await js.subscribe(
        subjects, stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL, cb=on_msg
    )
    try:
        await asyncio.wait_for(caught_up.wait(), timeout)
    except TimeoutError as exc:
        try:
            await sub.unsubscribe()
        except (NatsError, JsError):
            pass
        raise ConnectionError(f"{stream} stream not replayed within {timeout}s") from exc
    return sub
