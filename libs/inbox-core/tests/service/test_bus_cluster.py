"""The bus against a real 3-node NATS cluster: R3 provisioning (also by several services at
once, and over streams first made with one replica) and failover of the client connection."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.aio.msg import Msg

from inbox_core import subjects
from inbox_core.bus import STREAMS, Bus
from inbox_core.errors import BusUnavailable
from inbox_core.settings import CoreSettings
from inbox_core.testing.cluster import NatsCluster


@pytest.fixture
def cluster() -> Iterator[NatsCluster]:
    root = Path(tempfile.mkdtemp(prefix="inbox-nats-cluster-"))
    try:
        with NatsCluster(root) as c:
            yield c
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def buses(cluster: NatsCluster) -> AsyncIterator[list[Bus]]:
    made: list[Bus] = []
    yield made
    await asyncio.gather(*(b.close(grace=1) for b in made), return_exceptions=True)


async def _bus(made: list[Bus], cluster: NatsCluster, replicas: int, name: str = "test") -> Bus:
    bus = Bus(CoreSettings(nats_url=cluster.url, stream_replicas=replicas), name)
    made.append(bus)
    await bus.connect(timeout=10)
    return bus


async def _replicas(bus: Bus, stream: str, consumer: str | None = None) -> int:
    """Members of the stream's (or consumer's) Raft group, the leader included."""
    if consumer is None:
        info = await bus.js.stream_info(stream)
        assert info.cluster is not None
        return len(info.cluster.replicas or []) + 1
    cinfo = await bus.js.consumer_info(stream, consumer)
    assert cinfo.cluster is not None
    return len(cinfo.cluster.replicas or []) + 1


async def _wait_replicas(bus: Bus, want: int, stream: str, consumer: str | None = None) -> int:
    deadline = time.monotonic() + 15
    while (got := await _replicas(bus, stream, consumer)) != want:
        if time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.2)
    return got


async def test_every_service_provisioning_at_once_makes_r3_streams(
    cluster: NatsCluster, buses: list[Bus]
) -> None:
    # The five services start together and each provisions every stream.
    all_buses = [await _bus(buses, cluster, 3, f"svc{i}") for i in range(5)]
    await asyncio.gather(*(b.provision() for b in all_buses))
    for spec in STREAMS:
        info = await all_buses[0].js.stream_info(spec.name)
        assert info.config.num_replicas == 3
        assert await _wait_replicas(all_buses[0], 3, spec.name) == 3


async def test_streams_and_consumers_made_with_one_replica_are_raised_to_three(
    cluster: NatsCluster, buses: list[Bus]
) -> None:
    async def handler(msg: Msg) -> None:
        return None

    # First run on the cluster with INBOX_STREAM_REPLICAS unset (1) ...
    r1 = await _bus(buses, cluster, 1, "before")
    await r1.provision()
    await r1.consumer(stream=subjects.STREAM_INBOUND, durable="router", handler=handler).start()
    await r1.publish("inbox.in.mail.shop", b"{}", msg_id="mail:shop:1")
    assert await _replicas(r1, subjects.STREAM_INBOUND) == 1
    await r1.close(grace=1)

    # ... then restarted with INBOX_STREAM_REPLICAS=3: the streams are updated in place, and
    # the durable consumer made before follows its stream.
    r3 = await _bus(buses, cluster, 3, "after")
    await r3.provision()
    await r3.consumer(stream=subjects.STREAM_INBOUND, durable="router", handler=handler).start()
    for spec in STREAMS:
        assert (await r3.js.stream_info(spec.name)).config.num_replicas == 3
        assert await _wait_replicas(r3, 3, spec.name) == 3
    assert await _wait_replicas(r3, 3, subjects.STREAM_INBOUND, "router") == 3
    assert (await r3.js.stream_info(subjects.STREAM_INBOUND)).state.messages == 1


async def test_publish_fails_over_when_the_connected_node_dies(
    cluster: NatsCluster, buses: list[Bus]
) -> None:
    bus = await _bus(buses, cluster, 3)
    await bus.provision()
    await bus.publish("inbox.in.mail.shop", b"{}", msg_id="mail:shop:1")
    assert bus.nc is not None and bus.nc.connected_url is not None
    connected = next(n for n in cluster.nodes if n.port == bus.nc.connected_url.port)

    await asyncio.to_thread(cluster.kill, connected.name)
    deadline = time.monotonic() + 20
    while True:  # as a connector does: 503 to the platform, which retries
        try:
            ack = await bus.publish("inbox.in.mail.shop", b"{}", msg_id="mail:shop:2", timeout=2)
            break
        except BusUnavailable:
            assert time.monotonic() < deadline, "the bus never failed over"
            await asyncio.sleep(0.2)
    assert not ack.duplicate
    assert bus.nc.connected_url is not None and bus.nc.connected_url.port != connected.port
    assert (await bus.js.stream_info(subjects.STREAM_INBOUND)).state.messages == 2
