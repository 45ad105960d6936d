"""Partitions held by one replica at a time (NATS KV leases), against a real nats-server."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from nats.aio.msg import Msg

from inbox_core.bus import ORDER_KEY_HEADER, Bus
from inbox_core.partitions import PartitionedConsumer, PartitionSettings
from inbox_core.settings import CoreSettings

SUBJECT = "inbox.in.mail.shop"


@pytest.fixture
async def buses(core_env: dict[str, str]) -> AsyncIterator[list[Bus]]:
    made = []
    for name in ("replica-a", "replica-b"):
        bus = Bus(CoreSettings(), name)
        await bus.connect(timeout=5)
        await bus.provision()
        made.append(bus)
    yield made
    for bus in made:
        await bus.close(grace=1)


async def _publish(bus: Bus, tags: list[str]) -> None:
    for tag in tags:
        thread = tag.split("-")[0]
        await bus.publish(SUBJECT, tag.encode(), msg_id=tag, headers={ORDER_KEY_HEADER: thread})


async def _until(check: object, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while True:
            if check():  # type: ignore[operator]
                return
            await asyncio.sleep(0.1)


async def test_each_partition_has_one_holder_and_a_stopped_replica_hands_over(
    buses: list[Bus],
) -> None:
    seen: list[tuple[str, str]] = []

    def handler_for(replica: str) -> object:
        async def handle(msg: Msg) -> None:
            seen.append((replica, msg.data.decode()))

        return handle

    settings = PartitionSettings(partitions=4, lease_s=1.5)
    a, b = (
        PartitionedConsumer(bus, "INBOUND", "work", handler=handler_for(n), settings=settings)  # type: ignore[arg-type]
        for bus, n in zip(buses, "ab", strict=True)
    )
    await a.start()
    await b.start()
    await _until(lambda: len(a.held) + len(b.held) == 4 and a.held and b.held)
    assert not set(a.held) & set(b.held)  # one holder per partition
    tags = [f"t{t}-{i}" for t in range(8) for i in range(5)]
    await _publish(buses[0], tags)
    await _until(lambda: len(seen) >= len(tags))
    counts = Counter(tag for _, tag in seen)
    assert set(counts) == set(tags) and set(counts.values()) == {1}  # every message once
    for t in range(8):  # a thread's messages by one replica, in order
        mine = [(r, tag) for r, tag in seen if tag.startswith(f"t{t}-")]
        assert len({r for r, _ in mine}) == 1
        assert [tag for _, tag in mine] == [f"t{t}-{i}" for i in range(5)]

    await a.stop()  # gives its leases back: b takes every partition
    await _until(lambda: len(b.held) == 4)
    await _publish(buses[1], ["t0-5", "t1-5"])
    await _until(lambda: len(seen) >= len(tags) + 2)
    assert {r for r, tag in seen[len(tags) :]} == {"b"}
    await b.stop()


async def test_a_new_partitioning_starts_where_the_old_one_stopped(buses: list[Bus]) -> None:
    seen: list[str] = []

    async def handle(msg: Msg) -> None:
        seen.append(msg.data.decode())

    single = PartitionedConsumer(buses[0], "INBOUND", "work", handler=handle)
    await single.start()
    await _publish(buses[0], [f"old{i}-0" for i in range(10)])
    await _until(lambda: len(seen) == 10)
    await single.stop()
    await asyncio.sleep(0.3)  # the last acks reach the server

    seen.clear()
    settings = PartitionSettings(partitions=2, lease_s=1.5)
    replica = PartitionedConsumer(buses[1], "INBOUND", "work", handler=handle, settings=settings)
    await replica.start()
    await _until(lambda: len(replica.held) == 2)
    await _publish(buses[1], [f"new{i}-0" for i in range(4)])
    await _until(lambda: len(seen) >= 4)
    await asyncio.sleep(0.5)
    assert sorted(seen) == [f"new{i}-0" for i in range(4)]  # nothing of before again
    await replica.stop()
