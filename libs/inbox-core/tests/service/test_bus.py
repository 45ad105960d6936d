"""The bus against a real nats-server: PubAck, dedup, ack/nak/DLQ policy, drain."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from nats.aio.msg import Msg

from inbox_core import subjects
from inbox_core.bus import ORDER_KEY_HEADER, Bus
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


# --- the batch API --------------------------------------------------------------------------


async def test_batch_consumer_gets_batches_in_order_and_settles_each_message_alone(
    bus: Bus,
) -> None:
    """A batch handler sees the stream in order; a message whose outcome is an error is
    retried and dead-lettered alone while the rest of its batch is acked once."""
    from inbox_core.bus import ORDER_KEY_HEADER, order_rounds

    seen: list[bytes] = []
    rounds_seen: list[list[list[bytes]]] = []
    batch_sizes: list[int] = []
    good = asyncio.Event()

    async def handler(msgs: list[Msg]) -> list[BaseException | None]:
        batch_sizes.append(len(msgs))
        rounds_seen.append([[m.data for m in r] for r in order_rounds(msgs)])
        seen.extend(m.data for m in msgs)
        if sum(1 for d in seen if d != b"poison") >= 20:
            good.set()
        return [RuntimeError("bad document") if m.data == b"poison" else None for m in msgs]

    # Published before the consumer starts, so the first fetch takes them as one batch.
    for i in range(10):
        key = {ORDER_KEY_HEADER: f"thread-{i % 3}"}
        await bus.publish("inbox.in.mail.shop", f"m{i}".encode(), msg_id=f"b{i}", headers=key)
    await bus.publish("inbox.in.mail.shop", b"poison", msg_id="bp")
    for i in range(10, 20):
        await bus.publish("inbox.in.mail.shop", f"m{i}".encode(), msg_id=f"b{i}")
    await bus.batch_consumer(stream="INBOUND", durable="tb1", handler=handler).start()
    await asyncio.wait_for(good.wait(), 10)
    letters = await _dead_letters(bus, 1)
    assert letters[0].data == "poison" and letters[0].deliveries == 3
    assert "bad document" in letters[0].error
    good_ones = [d for d in seen if d != b"poison"]
    assert good_ones == [f"m{i}".encode() for i in range(20)]  # each once, in stream order
    assert seen.count(b"poison") == 3
    assert max(batch_sizes) > 1
    # Within the first batch, a thread's messages are in successive rounds, in order.
    first = rounds_seen[0]
    for thread in range(3):
        mine = [
            m for r in first for m in r if m in {f"m{i}".encode() for i in range(thread, 10, 3)}
        ]
        assert mine == [f"m{i}".encode() for i in range(thread, 10, 3)]
        assert all(len([m for m in r if m in mine]) <= 1 for r in first)
    await asyncio.sleep(0.3)
    info = await bus.js.consumer_info("INBOUND", "tb1")
    assert info.num_ack_pending == 0 and info.num_pending == 0


async def test_a_busy_batch_consumer_gathers_what_arrives_within_its_wait(bus: Bus) -> None:
    """At a sustained ~200 msg/s a batch is what arrived within the 50 ms wait (about ten),
    not the first message and the one after it; each message is still handled once, in
    order."""
    seen: list[bytes] = []
    batch_sizes: list[int] = []
    done = asyncio.Event()
    total = 400

    async def handler(msgs: list[Msg]) -> list[BaseException | None]:
        batch_sizes.append(len(msgs))
        seen.extend(m.data for m in msgs)
        if len(seen) >= total:
            done.set()
        return [None] * len(msgs)

    consumer = bus.batch_consumer(stream="INBOUND", durable="tgather", handler=handler)
    await consumer.start()
    async with asyncio.timeout(60):
        for i in range(total):
            await bus.publish("inbox.in.mail.shop", f"g{i}".encode(), msg_id=f"g{i}")
            await asyncio.sleep(0.005)
        await done.wait()
    assert seen == [f"g{i}".encode() for i in range(total)]
    # Once the rate is known (the first second's batches are small), batches are gathered.
    settled = batch_sizes[len(batch_sizes) // 2 :]
    assert sum(settled) / len(settled) >= 4, batch_sizes


async def test_a_batch_waits_for_an_earlier_one_sharing_a_key_the_handler_orders_by(
    bus: Bus,
) -> None:
    """A reply fetched in the next batch, while the batch of the mail it answers is still
    being handled, waits for that batch: their order headers differ (each mail is its own
    thread key), what they share is the key the handler orders by (the reference)."""
    events: list[str] = []
    first_started, release = asyncio.Event(), asyncio.Event()
    done = asyncio.Event()

    def keys_of(msg: Msg) -> list[str]:
        return [str(msg.headers.get(ORDER_KEY_HEADER)), "thread-of-first-mail"]

    async def handler(msgs: list[Msg]) -> list[BaseException | None]:
        for m in msgs:
            events.append(f"start {m.data.decode()}")
        if b"first" in [m.data for m in msgs]:
            first_started.set()
            await release.wait()
        for m in msgs:
            events.append(f"end {m.data.decode()}")
        if b"reply" in [m.data for m in msgs]:
            done.set()
        return [None] * len(msgs)

    consumer = bus.batch_consumer(
        stream="INBOUND", durable="trelated", handler=handler, keys_of=keys_of
    )
    await consumer.start()
    headers = {ORDER_KEY_HEADER: "mail:first"}
    await bus.publish("inbox.in.mail.shop", b"first", msg_id="rel-first", headers=headers)
    async with asyncio.timeout(10):
        await first_started.wait()
        headers = {ORDER_KEY_HEADER: "mail:reply"}
        await bus.publish("inbox.in.mail.shop", b"reply", msg_id="rel-reply", headers=headers)
        # The reply is fetched (in a batch of its own) while the first one is in hand.
        while (await bus.js.consumer_info("INBOUND", "trelated")).num_ack_pending < 2:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        release.set()
        await done.wait()
    assert events == ["start first", "end first", "start reply", "end reply"]


async def test_a_consumer_goes_on_after_an_unexpected_error_while_fetching(bus: Bus) -> None:
    """An error nobody planned for (a client bug, a malformed reply) is logged and the
    consumer fetches again: before, it ended the consumer's task and the service went on
    looking healthy while consuming nothing."""
    seen: list[bytes] = []
    done = asyncio.Event()

    async def handler(msgs: list[Msg]) -> list[BaseException | None]:
        seen.extend(m.data for m in msgs)
        if len(seen) >= 3:
            done.set()
        return [None] * len(msgs)

    consumer = bus.batch_consumer(stream="INBOUND", durable="tfetchbug", handler=handler)
    await consumer.start()
    fetch, calls = consumer._sub.fetch, 0

    async def fetch_failing_once(*args: object, **kwargs: object) -> list[Msg]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("unexpected")
        return await fetch(*args, **kwargs)  # type: ignore[arg-type]

    consumer._sub.fetch = fetch_failing_once  # type: ignore[method-assign]
    for i in range(3):
        await bus.publish("inbox.in.mail.shop", f"f{i}".encode(), msg_id=f"f{i}")
    async with asyncio.timeout(10):
        await done.wait()
    assert calls > 1
    assert seen == [b"f0", b"f1", b"f2"]  # each once, in order


async def test_publish_many_returns_each_pub_ack_in_order(bus: Bus) -> None:
    from inbox_core.bus import Outgoing
    from inbox_core.errors import PermanentError

    big = b"x" * (bus.nc.max_payload + 1)
    items = [
        Outgoing("inbox.in.mail.shop", b"one", msg_id="pm1"),
        Outgoing("inbox.in.mail.shop", big, msg_id="pm-big"),
        Outgoing("inbox.in.mail.shop", b"two", msg_id="pm2"),
        Outgoing("inbox.in.mail.shop", b"one again", msg_id="pm1"),
    ]
    acks = await bus.publish_many(items)
    assert isinstance(acks[1], PermanentError)
    first, second, again = acks[0], acks[2], acks[3]
    assert not first.duplicate and not second.duplicate and again.duplicate
    assert first.seq < second.seq
    info = await bus.js.stream_info("INBOUND")
    assert info.state.messages == 2


async def test_batches_overlap_but_a_thread_waits_for_its_earlier_batch(bus: Bus) -> None:
    from inbox_core.bus import ORDER_KEY_HEADER

    seen: list[bytes] = []
    finished: list[bytes] = []
    release = asyncio.Event()

    async def handler(msgs: list[Msg]) -> list[BaseException | None]:
        seen.extend(m.data for m in msgs)
        if b"A0" in [m.data for m in msgs]:
            await release.wait()  # the first batch of thread A is still being handled
        finished.extend(m.data for m in msgs)
        return [None] * len(msgs)

    async def publish(data: bytes, thread: str) -> None:
        await bus.publish(
            "inbox.in.kakao.shop", data, msg_id=data.decode(), headers={ORDER_KEY_HEADER: thread}
        )

    async def until(cond: object) -> None:
        async with asyncio.timeout(10):
            while not cond():  # type: ignore[operator]  # noqa: ASYNC110
                await asyncio.sleep(0.02)

    await bus.batch_consumer(stream="INBOUND", durable="tb2", handler=handler).start()
    await publish(b"A0", "thread-A")
    await until(lambda: b"A0" in seen)
    await publish(b"B0", "thread-B")
    await until(lambda: b"B0" in finished)  # another thread's batch goes on meanwhile
    await publish(b"A1", "thread-A")
    await asyncio.sleep(0.5)
    assert b"A1" not in seen  # waits for the batch that holds thread A
    release.set()
    await until(lambda: b"A1" in finished)
    assert finished == [b"B0", b"A0", b"A1"]


async def test_a_thread_whose_message_failed_waits_for_its_retry(bus: Bus) -> None:
    """run_rounds: when a thread's message fails and will be retried, the thread's later
    messages wait (not applied, not counted as their failures) and come after the retry;
    other threads go on; a refused message blocks nothing."""
    from inbox_core.bus import ORDER_KEY_HEADER, run_rounds
    from inbox_core.errors import PermanentError

    applied: list[bytes] = []
    tries: dict[bytes, int] = {}
    done = asyncio.Event()

    async def apply(msg: Msg) -> None:
        tries[msg.data] = tries.get(msg.data, 0) + 1
        if msg.data == b"A1" and tries[msg.data] < 3:
            raise RuntimeError("store said no")  # retried: A2, A3 must wait
        if msg.data == b"C1":
            raise PermanentError("refused")  # dead-lettered: C2 must not wait
        applied.append(msg.data)
        if {b"A3", b"B1", b"C2"} <= set(applied):
            done.set()

    async def handler(msgs: list[Msg]) -> list[BaseException | None]:
        return [r if isinstance(r, BaseException) else None for r in await run_rounds(msgs, apply)]

    for data, thread in [
        (b"A1", "A"),
        (b"B1", "B"),
        (b"A2", "A"),
        (b"C1", "C"),
        (b"A3", "A"),
        (b"C2", "C"),
    ]:
        await bus.publish(
            "inbox.in.kakao.shop", data, msg_id=data.decode(), headers={ORDER_KEY_HEADER: thread}
        )
    await bus.batch_consumer(stream="INBOUND", durable="tb3", handler=handler).start()
    await asyncio.wait_for(done.wait(), 30)
    assert [d for d in applied if d.startswith(b"A")] == [b"A1", b"A2", b"A3"]
    assert tries[b"A2"] == 1 and tries[b"A3"] == 1  # held back, never applied early
    assert applied.index(b"B1") < applied.index(b"A1")  # the other thread did not wait
    assert b"C2" in applied  # behind a refused message: not held
    letters = await _dead_letters(bus, 1)
    assert [letter.data for letter in letters] == ["C1"]  # A2, A3 were never dead-lettered
