"""Production layout: three hub nodes with JetStream R3 and an agency on its own leaf node."""

from __future__ import annotations

import asyncio
import random
from contextlib import ExitStack

import nats

from samband.broker_config import (
    ROUTER,
    ClusterLayout,
    Credentials,
    NatsServer,
    builtin_agencies,
    check_config,
    client_tls,
    provision_cluster,
    render_cluster,
)
from samband.observability import Pseudonymiser, load_or_create_key
from samband.observability.audit import Appender, load_or_create_signing_key
from samband.router import Router
from samband.schemas import ENVELOPE
from samband.testing import skeleton_policy

from .._support import plain_text_answer, retry_until_ready, wait_for
from ._records import vehicle_control_bytes


async def test_a_record_from_an_agency_on_its_own_leaf_node_crosses_a_three_node_cluster_to_another_agency(tmp_path):
    creds = Credentials(tmp_path / "state")
    layout = ClusterLayout.free(3, 1)
    agencies = builtin_agencies()
    paths = render_cluster(
        agencies=agencies.values(),
        creds=creds,
        out_dir=tmp_path / "prod",
        nodes=3,
        leaves=["polisen"],
        layout=layout,
    )
    for p in paths:
        check_config(p)
    hubs = [
        NatsServer(
            paths[i],
            port=layout.client_ports[i],
            http_port=layout.http_ports[i],
            log_file=tmp_path / f"node-{i + 1}.log",
        )
        for i in range(3)
    ]
    leaf = NatsServer(
        paths[3],
        port=layout.leaf_client_ports[0],
        http_port=layout.leaf_http_ports[0],
        log_file=tmp_path / "leaf-polisen.log",
    )
    stop = asyncio.Event()
    with ExitStack() as stack:
        # a node is healthy only once it sees the others: start all three together
        procs = []
        for server in hubs:
            procs.append(asyncio.get_running_loop().run_in_executor(None, server.start))
            stack.callback(server.stop)
        await asyncio.gather(*procs)
        stack.enter_context(leaf.start())
        tls = client_tls(tmp_path / "prod" / "tls" / "ca.pem")
        urls = [u.replace("nats://", "tls://") for u in layout.node_urls()]
        # every listener is TLS only: a client that does not speak it is turned away
        for port in (*layout.client_ports, layout.leaf_client_ports[0]):
            assert await plain_text_answer("127.0.0.1", port) == "(closed)"
        router_nc = await nats.connect(urls[0], nkeys_seed=str(creds.seed_path(ROUTER)), **tls)
        skv = await nats.connect(urls[2], nkeys_seed=str(creds.seed_path("skatteverket")), **tls)
        polisen = await nats.connect(
            f"tls://127.0.0.1:{layout.leaf_client_ports[0]}", nkeys_seed=str(creds.seed_path("polisen")), **tls
        )
        try:
            # what `samband broker provision --server ... --replicas 3` does
            await retry_until_ready(
                lambda: provision_cluster(
                    creds, [agencies["polisen"], agencies["skatteverket"]], urls, replicas=3, tls=tls
                )
            )
            info = await router_nc.jetstream().stream_info("AUDIT")
            assert info.config.num_replicas == 3 and len(info.cluster.replicas or []) == 2
            inbox = await skv.jetstream().stream_info("INBOX")
            assert inbox.config.num_replicas == 3
            pseudonymiser = Pseudonymiser(load_or_create_key(tmp_path / "pseudonym.key"))
            appender = Appender(router_nc, key=load_or_create_signing_key(tmp_path / "keys"))
            router = Router(
                router_nc,
                skeleton_policy(),
                pseudonymiser,
                appender=appender,
                senders={slug: a.sends for slug, a in agencies.items()},  # as `samband router run` hands them in
            )
            task = asyncio.create_task(router.run(stop))
            env, data = vehicle_control_bytes(random.Random(3))
            # Polisen publishes on its own leaf node; the PubAck comes from the hub's R3 INGEST stream.
            ack = await retry_until_ready(
                lambda: polisen.jetstream().publish("out.police.vehicle_control", data, headers={"Nats-Msg-Id": env.id})
            )
            assert ack.stream == "INGEST_polisen"
            await wait_for(lambda: router.stats.delivered.get("skatteverket", 0) >= 1, timeout=20)
            msg = await skv.jetstream().get_last_msg("INBOX", "in.police.vehicle_control")
            delivered = ENVELOPE.decode(msg.data)
            assert (delivered.id, delivered.origin) == (env.id, "polisen")
            # the leaf is bound to Polisen's account: what it sends elsewhere reaches no other account
            await polisen.publish("inbox.skatteverket.police.vehicle_control", data)
            await polisen.publish("in.police.vehicle_control", data)
            await polisen.flush()
            # then a record the proper way, on the same connection: once it has crossed the cluster,
            # anything the leaf could have pushed into the inbox directly would be there before it
            after, after_data = vehicle_control_bytes(random.Random(4))
            await polisen.jetstream().publish(
                "out.police.vehicle_control", after_data, headers={"Nats-Msg-Id": after.id}
            )
            await wait_for(lambda: router.stats.delivered.get("skatteverket", 0) >= 2, timeout=20)
            inbox = skv.jetstream()
            last = (await inbox.stream_info("INBOX")).state.last_seq
            stored = [ENVELOPE.decode((await inbox.get_msg("INBOX", s)).data).id for s in range(1, last + 1)]
            assert stored == [env.id, after.id]
            stop.set()
            await asyncio.wait_for(task, 10)
        finally:
            stop.set()
            for nc in (router_nc, skv, polisen):
                await nc.close()
