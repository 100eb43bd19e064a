"""`samband bench shim`: what the one shim over nats-py internals (`observability/bus/_shim.py`) gains.

The same messages (the bench's record, with a ``Nats-Msg-Id`` and a ``traceparent`` header) are
published to one stream through `AckPipeline` three ways, in interleaved rounds on one broker:
nats-py's public path (``NATS.publish`` per message, the answers through a subscription
callback), the framed write alone (`_shim.write`), and the framed write with the answers routed
from the parser (`_shim.route`, as samband runs). The figures are the client's CPU per message
(the process's CPU time over the messages: what the shim saves is the client's, and CPU is
steadier than a rate on a shared machine) and the rate; each is the median over the rounds.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from samband.broker_config import ROUTER, Deployment

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
    ok = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    for w in range(0, n, WINDOW):
        batch = await pipe.open()
        for i in range(w, min(w + WINDOW, n), 16):
            await pipe.send(batch, items[i : min(i + 16, w + WINDOW, n)])
        ok += sum(1 for r in await pipe.wait(batch, 60) if not isinstance(r, BaseException))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await pipe.close()
    return {"rate": n / seconds, "client_cpu_us": cpu / n * 1e6, "stored": ok}


async def shim_bench(dep: Deployment, n: int, rounds: int) -> dict:
    """Per way of `WAYS`: the median rate and client CPU per message over ``rounds`` interleaved rounds."""
    from ._env import payload

    body = payload()
    nc = await dep.connect(ROUTER)
    js = nc.jetstream()
    await js.add_stream(name="BENCH_SHIM", subjects=["bench.shim.>"])
    runs: dict[str, list[dict]] = {name: [] for name, _, _ in WAYS}
    try:
        for r in range(rounds):
            for k, (name, framed, routed) in enumerate(WAYS):
                runs[name].append(await _one(nc, "bench.shim.record", body, n, framed, routed, f"r{r}w{k}"))
                await js.purge_stream("BENCH_SHIM")
                await asyncio.sleep(0)
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
    public, framed_only, both = out["ways"]
    out["write_cpu_saved_us"] = public["client_cpu_us"] - framed_only["client_cpu_us"]
    out["route_cpu_saved_us"] = framed_only["client_cpu_us"] - both["client_cpu_us"]
    out["rate_vs_public"] = both["rate"] / public["rate"]
    out["cpu_vs_public"] = both["client_cpu_us"] / public["client_cpu_us"]
    return out
