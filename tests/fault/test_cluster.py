"""A three-node cluster with replicas 3 on 127.0.0.1; the INGEST stream's leader is killed under load:
every record the adapter published is in the stream once, nothing lost."""

from __future__ import annotations

import asyncio
import random
from contextlib import ExitStack

import msgspec
import nats
import pytest

from samband.adapters import NativeRecord, publish_records
from samband.adapters.agencies import polisen
from samband.broker_config import (
    ROUTER,
    ClusterLayout,
    Credentials,
    NatsServer,
    builtin_agencies,
    client_tls,
    ingest_stream_config,
    provision_streams,
    render_cluster,
)

from .._support import retry_until_ready, wait_for
from ._procs import duplicates, stored_in

pytestmark = [pytest.mark.fault, pytest.mark.timeout(300)]

N = 10_000


async def _connect(
    layout: ClusterLayout, creds: Credentials, identity: str, urls: list[str] | None = None
) -> nats.NATS:
    # the rendered cluster is TLS only; its CA is the deployment's (render_cluster copies it beside the configs)
    return await nats.connect(
        urls or [u.replace("nats://", "tls://") for u in layout.node_urls()],
        nkeys_seed=str(creds.seed_path(identity)),
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.25,
        connect_timeout=2,
        **client_tls(creds.dir.parent / "tls" / "ca.pem"),
    )


class _Control(msgspec.Struct):
    record: dict


async def _gated(natives: list[dict], gate: asyncio.Event):
    """The records, the last third only once ``gate`` is set: the leader is killed while records are
    in flight and before the load can end, however fast or slow the machine."""
    for i, n in enumerate(natives):
        if i == 2 * len(natives) // 3:
            await gate.wait()
        yield NativeRecord(f"cluster:{i}", b"", n)


async def test_losing_the_stream_leader_of_a_three_node_cluster_under_load_loses_nothing(tmp_path):
    creds = Credentials(tmp_path / "state")
    layout = ClusterLayout.free(3, 0)
    paths = render_cluster(
        agencies=builtin_agencies().values(), creds=creds, out_dir=tmp_path / "cluster", nodes=3, layout=layout
    )
    nodes = {
        f"samband-{i + 1}": NatsServer(
            paths[i],
            port=layout.client_ports[i],
            http_port=layout.http_ports[i],
            log_file=tmp_path / f"node-{i + 1}.log",
        )
        for i in range(3)
    }
    natives = polisen.sample(random.Random(31337), N, operation="bacchus-2017", region="syd")
    for i, n in enumerate(natives):
        n["kontrollId"] = f"PM-CLUSTER-{i:05d}"
    with ExitStack() as stack:
        starting = []
        for server in nodes.values():  # a node is healthy only once it sees the others: start them together
            starting.append(asyncio.get_running_loop().run_in_executor(None, server.start))
            stack.callback(server.stop)
        await asyncio.gather(*starting)

        router = await _connect(layout, creds, ROUTER)
        ingest = ingest_stream_config("polisen")
        await retry_until_ready(lambda: provision_streams(router, [ingest], replicas=3))
        js = router.jetstream()
        info = await retry_until_ready(lambda: js.stream_info("INGEST_polisen"))
        assert info.config.num_replicas == 3

        agency = await _connect(layout, creds, "polisen")
        gate = asyncio.Event()
        # a publish the dead leader never answered is retried after the ack timeout (10 s by default)
        load = asyncio.create_task(publish_records(agency, polisen, _gated(natives, gate), ack_timeout=3))
        try:

            async def a_third_in() -> bool:
                assert not load.done(), load.exception() if load.done() else ""
                info = await retry_until_ready(lambda: js.stream_info("INGEST_polisen"))
                return info.state.messages >= N // 3

            await wait_for(a_third_in, 120, what="a third of the records stored")
            leader = (await js.stream_info("INGEST_polisen")).cluster.leader
            killed = nodes[leader]
            killed.proc.kill()  # the node holding the stream's leader dies mid-load, no goodbye
            killed.proc.wait(10)
        finally:
            gate.set()  # the last third is published while the survivors elect a new leader
        summary = await asyncio.wait_for(load, 240)
        await agency.close()
        assert summary.published + summary.duplicates == N and not summary.rejected

        after = await retry_until_ready(lambda: js.stream_info("INGEST_polisen"))
        assert after.cluster.leader != leader, "a surviving node leads the stream"
        assert after.state.messages == N
        ids = [
            msgspec.json.decode(data, type=_Control).record["control_id"]
            for data in await stored_in(router, "INGEST_polisen")
        ]
        await router.close()
    assert duplicates(ids) == {}
    assert set(ids) == {n["kontrollId"] for n in natives}
