"""`samband bench shim`: what the one shim over nats-py internals (`observability/bus/_shim.py`) gains.

The same messages (the bench's record, with a ``Nats-Msg-Id`` and a ``traceparent`` header) are
published to one stream through `AckPipeline` three ways, in interleaved rounds on one broker:
nats-py's public path (``NATS.publish`` per message, the answers through a subscription
callback), the framed write alone (`_shim.write`), and the framed write with the answers routed
from the parser (`_shim.route`, as samband runs). The figures are the client's CPU per message
(the process's CPU time over the messages: what the shim saves is the client's, and CPU is
steadier than a rate on a shared machine) and the rate; each is the median over the rounds.
Then the same stored messages are pulled back through a `Puller` both ways: handed over from the
parser as nats-py's own ``Msg`` (`_shim.route_msgs`, as the router pulls) or through the
subscription's callback.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from samband.broker_config import ROUTER, Deployment

from ._env import publish_windowed

__all__ = ["WAYS", "shim_bench"]

# (name, framed write, answers routed from the parser)
WAYS = (
    ("nats-py public path (publish per message, subscription callback)", False, False),
    ("framed write (_shim.write), subscription callback", True, False),
    ("framed write and answers from the parser (_shim.write + _shim.route)", True, True),
)
WINDOW = 256  # answers awaited per window, as the adapters and the router send


async def _one(nc, stream_subject: str, payload: bytes, n: int, framed: bool, routed: bool, tag: str) -> dict:
    from samband.observability.bus import AckPipeline

    pipe = AckPipeline(nc, framed=framed, routed=routed)
    await pipe.start()
    items = [
        (
            stream_subject,
            payload,
            {"Nats-Msg-Id": f"{tag}-{i}", "traceparent": f"00-{i:032x}-{i + 1:016x}-01"},
        )
        for i in range(n)
    ]
    cpu0, t0 = time.process_time(), time.perf_counter()
    ok = await publish_windowed(pipe, items, WINDOW)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await pipe.close()
    return {"rate": n / seconds, "client_cpu_us": cpu / n * 1e6, "stored": ok}


async def _pull(nc, js, n: int, routed: bool, tag: str) -> dict:
    """``n`` stored records (with headers) drained through a `Puller`, records handed over from the
    parser (`_shim.route_msgs`) or through the subscription's callback."""
    from nats.js.api import AckPolicy, ConsumerConfig

    from samband.observability.bus import Puller

    await js.add_consumer("BENCH_SHIM", ConsumerConfig(durable_name=tag, ack_policy=AckPolicy.NONE))
    puller = Puller(nc, "BENCH_SHIM", tag, batch=256, routed=routed)
    await puller.start()
    got = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    while got < n:
        batch = await puller.next_batch()
        if not batch:
            break
        got += len(batch)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await puller.close()
    await js.delete_consumer("BENCH_SHIM", tag)
    return {"rate": got / seconds, "client_cpu_us": cpu / max(got, 1) * 1e6, "stored": got}


async def shim_bench(dep: Deployment, n: int, rounds: int) -> dict:
    """Per way of `WAYS`: the median rate and client CPU per message over ``rounds`` interleaved rounds."""
    from ._env import payload

    body = payload()
    nc = await dep.connect(ROUTER)
    js = nc.jetstream()
    # the router's account may not purge or delete streams: this one keeps the last ``n`` messages
    await js.add_stream(name="BENCH_SHIM", subjects=["bench.shim.>"], max_msgs=n)
    runs: dict[str, list[dict]] = {name: [] for name, _, _ in WAYS}
    pulls: dict[bool, list[dict]] = {False: [], True: []}
    try:
        for r in range(rounds):
            for k, (name, framed, routed) in enumerate(WAYS):
                runs[name].append(await _one(nc, "bench.shim.record", body, n, framed, routed, f"r{r}w{k}"))
                await asyncio.sleep(0)
            for routed in (False, True):  # the last way's messages, read back both ways
                pulls[routed].append(await _pull(nc, js, n, routed, f"pull{r}{int(routed)}"))
    finally:
        await nc.close()
    out: dict = {"records": n, "rounds": rounds, "payload_bytes": len(body), "ways": []}
    for name, framed, routed in WAYS:
        rs = runs[name]
        out["ways"].append(
            {
                "name": name,
                "framed": framed,
                "routed": routed,
                "rate": statistics.median(x["rate"] for x in rs),
                "client_cpu_us": statistics.median(x["client_cpu_us"] for x in rs),
                "stored": min(x["stored"] for x in rs),
            }
        )
    out["pull"] = [
        {
            "name": "pulled through a subscription callback"
            if not routed
            else "pulled from the parser (_shim.route_msgs)",
            "routed": routed,
            "rate": statistics.median(x["rate"] for x in pulls[routed]),
            "client_cpu_us": statistics.median(x["client_cpu_us"] for x in pulls[routed]),
            "stored": min(x["stored"] for x in pulls[routed]),
        }
        for routed in (False, True)
    ]
    out["pull_cpu_saved_us"] = out["pull"][0]["client_cpu_us"] - out["pull"][1]["client_cpu_us"]
    public, framed_only, both = out["ways"]
    out["write_cpu_saved_us"] = public["client_cpu_us"] - framed_only["client_cpu_us"]
    out["route_cpu_saved_us"] = framed_only["client_cpu_us"] - both["client_cpu_us"]
    out["rate_vs_public"] = both["rate"] / public["rate"]
    out["cpu_vs_public"] = both["client_cpu_us"] / public["client_cpu_us"]
    return out
