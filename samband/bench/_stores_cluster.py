"""`samband bench stores --cluster`: the same round trips on the production layout's replicas (R3).

An embedded broker stores everything once (R1), and nats-server stages an R1 atomic batch in a file
store of its own made for the batch (nats-server's ``jetstream_batching.go``, ``newBatchStore``);
a replicated stream stages it in memory and pays a replication round instead. This starts the
production layout's three hub nodes on this machine (`render_cluster`, free ports, TLS), and
times one store and one audit-shaped append at a time on streams of three replicas, with the CPU
of all three nodes per append. On one machine the three nodes share its cores and no network
lies between them: the figure says what the layout costs, not what three machines would show.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from nats.js.api import StorageType, StreamConfig

from samband.broker_config import (
    ROUTER,
    BrokerUnavailable,
    ClusterLayout,
    Credentials,
    NatsServer,
    builtin_agencies,
    client_tls,
    connect_identity,
    provision_streams,
    render_cluster,
)

from ._env import cpu_seconds, percentile
from ._stores import APPEND_MESSAGES, audit_commit_round_trip

__all__ = ["cluster_round_trips"]

NODES = 3
READY_S = 30.0  # how long a fresh cluster may answer "unavailable" while it elects its leaders


async def _made(nc, cfg: StreamConfig) -> None:
    """``cfg`` on three replicas, asked again while the fresh cluster still elects its leaders."""
    deadline = time.monotonic() + READY_S
    while True:
        try:
            await provision_streams(nc, [cfg], replicas=NODES)
            return
        except BrokerUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.25)


async def _measure(layout: ClusterLayout, creds: Credentials, payload: bytes, n: int, pids: list[int]) -> dict:
    from samband.observability.bus import AckPipeline

    # the rendered cluster speaks TLS only; its CA is the one `render_cluster` made beside the seeds
    nc = await connect_identity(
        layout.node_urls()[0].replace("nats://", "tls://"),
        creds.seed_path(ROUTER),
        ROUTER,
        state_dir=creds.dir.parent,
        first_connect=READY_S,
        options=client_tls(creds.dir.parent / "tls" / "ca.pem"),
    )
    try:
        for name, subject, allow in (("BENCH_R3", "bench.r3.>", False), ("BENCH_ATOMIC", "bench.atomic.>", True)):
            await _made(nc, StreamConfig(name=name, subjects=[subject], storage=StorageType.FILE, allow_atomic=allow))
        pipe = AckPipeline(nc)
        lat = []
        for i in range(n):
            t = time.perf_counter()
            await pipe.publish([("bench.r3.rtt", payload, {"Nats-Msg-Id": f"r3-{i}"})], 10)
            lat.append((time.perf_counter() - t) * 1000)
        # Whichever append is timed first on a fresh cluster has the longer tail (p99 2.1-3.7 ms against
        # 0.9-1.5 for the same kind timed second): a first round, not timed, so the two compare.
        await audit_commit_round_trip(pipe, payload * 2, min(n, 50))
        cpu0 = [cpu_seconds(p) for p in pids]
        append = await audit_commit_round_trip(pipe, payload * 2, n)
        cpu1 = [cpu_seconds(p) for p in pids]
        atomic = await audit_commit_round_trip(pipe, payload * 2, n, "atomic")
        await pipe.close()
    finally:
        await nc.close()
    spent = sum(b - a for a, b in zip(cpu0, cpu1, strict=True) if a is not None and b is not None)
    known = len(pids) == NODES and None not in cpu0 + cpu1
    return {
        "nodes": NODES,
        "store_rtt": {"p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99)},
        "append_rtt": append,
        "append_atomic_rtt": atomic,
        "append_broker_cpu_ms": spent / n * 1000 if known else None,
        "messages_per_append": APPEND_MESSAGES,
    }


async def cluster_round_trips(payload: bytes, n: int = 200) -> dict:
    """One store and one audit-shaped append at a time, ``n`` each, on a local three-node cluster (R3)."""
    with tempfile.TemporaryDirectory(prefix="samband-bench-cluster-") as tmp:
        root = Path(tmp)
        creds = Credentials(root / "state")
        layout = ClusterLayout.free(NODES, 0)
        paths = render_cluster(
            agencies=builtin_agencies().values(), creds=creds, out_dir=root / "cluster", nodes=NODES, layout=layout
        )
        nodes = [
            NatsServer(
                paths[i], port=layout.client_ports[i], http_port=layout.http_ports[i], log_file=root / f"node-{i}.log"
            )
            for i in range(NODES)
        ]
        with ExitStack() as stack:
            loop = asyncio.get_running_loop()
            starting = []
            for node in nodes:  # a node is ready only once it sees the others: started together
                starting.append(loop.run_in_executor(None, node.start))
                stack.callback(node.stop)
            await asyncio.gather(*starting)
            pids = [node.proc.pid for node in nodes if node.proc is not None]
            return await _measure(layout, creds, payload, n, pids)
