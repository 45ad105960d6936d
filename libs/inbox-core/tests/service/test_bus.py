"""The bus against a real nats-server: PubAck, dedup, ack/nak/DLQ policy, drain."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from nats.aio.msg import Msg

from inbox_core import subjects
from inbox_core.bus import Bus
from inbox_core.errors import BusUnavailable, InvalidPayload
from inbox_core.schema import DeadLetter
from inbox_core.settings import CoreSettings


@pytest.fixture
async def bus(core_env: dict[str, str]) -> Bus:
    bus = Bus(CoreSettings(), "test")
    await bus.connect(timeout=5)
    await bus.provision()
    yield bus
    await bus.close(grace=2)


async def _dead_letters(bus: Bus, n: int) -> list[DeadLetter]:
    sub = await bus.js.pull_subscribe(subjects.DLQ_ALL, durable="dlq-reader", stream="DLQ")
    msgs = await sub.fetch(n, timeout=5)
    return [DeadLetter.from_json(m.data) for m in msgs]


async def test_provision_is_idempotent(bus: Bus) -> None:
    await bus.provision()
    names = {s.config.name for s in await bus.js.streams_info()}
    assert {"INBOUND", "ROUTED", "EVENTS", "OUTBOUND", "DLQ"} <= names


async def test_publish_with_same_msg_id_is_stored_once(bus: Bus) -> None:
    first = await bus.publish("inbox.in.mail.shop", b"{}", msg_id="mail:shop:1")
    second = await bus.publish("inbox.in.mail.shop", b"{}", msg_id="mail:shop:1")
    assert not first.duplicate and second.duplicate
    info = await bus.js.stream_info("INBOUND")
    assert info.state.messages == 1


async def test_handled_message_is_acked_and_not_redelivered(bus: Bus) -> None:
    seen: list[bytes] = []
    done = asyncio.Event()

    async def handler(msg: Msg) -> None:
        seen.append(msg.data)
        done.set()

    await bus.consumer(stream="INBOUND", durable="t1", handler=handler).start()
    await bus.publish("inbox.in.mail.shop", b"hello", msg_id="a")
    await asyncio.wait_for(done.wait(), 5)
    await asyncio.sleep(0.3)
    info = await bus.js.consumer_info("INBOUND", "t1")
    assert seen == [b"hello"]
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_failing_message_is_retried_then_dead_lettered_without_blocking_others(
    bus: Bus,
) -> None:
    attempts: dict[bytes, int] = {}
    good = asyncio.Event()

    async def handler(msg: Msg) -> None:
        attempts[msg.data] = attempts.get(msg.data, 0) + 1
        if msg.data == b"poison":
            raise RuntimeError("boom")
        good.set()

    await bus.consumer(stream="INBOUND", durable="t2", handler=handler).start()
    await bus.publish("inbox.in.mail.shop", b"poison", msg_id="p")
    await bus.publish("inbox.in.mail.shop", b"fine", msg_id="f")
    await asyncio.wait_for(good.wait(), 5)
    letters = await _dead_letters(bus, 1)
    assert letters[0].data == "poison"
    assert letters[0].deliveries == 3  # INBOX_MAX_DELIVER in core_env
    assert "boom" in letters[0].error
    assert attempts[b"poison"] == 3 and attempts[b"fine"] == 1


async def test_invalid_payload_goes_to_dlq_at_once(bus: Bus) -> None:
    async def handler(msg: Msg) -> None:
        raise InvalidPayload("not json")

    await bus.consumer(stream="INBOUND", durable="t3", handler=handler).start()
    await bus.publish("inbox.in.kakao.shop", orjson.dumps({"x": 1}), msg_id="k")
    letters = await _dead_letters(bus, 1)
    assert letters[0].deliveries == 1
    assert letters[0].subject == "inbox.in.kakao.shop"
    assert letters[0].consumer == "t3"


async def test_publish_raises_bus_unavailable_when_server_is_gone(bus: Bus, nats_server) -> None:
    nats_server.process.kill()
    with pytest.raises(BusUnavailable):
        await bus.publish("inbox.in.mail.shop", b"x", msg_id="gone")


async def test_store_outage_is_retried_past_max_deliver_without_dead_lettering(bus: Bus) -> None:
    from pymongo.errors import AutoReconnect

    attempts = 0
    done = asyncio.Event()

    async def handler(msg: Msg) -> None:
        nonlocal attempts
        attempts += 1
        if attempts <= 5:  # more failures than INBOX_MAX_DELIVER=3
            raise AutoReconnect("store is down")
        done.set()

    await bus.consumer(stream="INBOUND", durable="t5", handler=handler).start()
    await bus.publish("inbox.in.mail.shop", b"survives", msg_id="outage")
    await asyncio.wait_for(done.wait(), 20)
    info = await bus.js.stream_info("DLQ")
    assert attempts == 6 and info.state.messages == 0
