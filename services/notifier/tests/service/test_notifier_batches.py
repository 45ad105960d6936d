"""A fetched batch applied as a unit (real nats-server and Mongo-wire store): every
conversation's messages in order, unique numbers, every event once, few round trips."""

from __future__ import annotations

from collections import Counter

import aiohttp

from inbox_core import metrics
from inbox_core.bus import ORDER_KEY_HEADER, Bus
from inbox_core.schema import Event
from inbox_core.settings import CoreSettings
from inbox_core.testing.http import collect, serve
from inbox_notifier.app import create_app
from inbox_notifier.settings import NotifierSettings

from .conftest import NotifierHarness, routed_message


def _round_trips() -> float:
    samples = metrics.STORE_COMMANDS.collect()[0].samples
    return sum(s.value for s in samples if s.name.endswith("_total"))


async def test_a_waiting_batch_is_applied_in_order_with_few_round_trips(
    notifier_env: dict[str, str],
) -> None:
    conversations = 20
    bus = Bus(CoreSettings(), "test-client")
    await bus.connect(timeout=5)
    await bus.provision()
    try:
        # Waiting on the bus before the notifier starts: its first fetch takes them together.
        for turn in range(2):
            for c in range(conversations):
                routed = routed_message(
                    100 * turn + c,
                    f"conv-{c}",
                    created=turn == 0,
                    text=f"문의 {c} 차례 {turn}",
                    customer_id=f"cust-{c}",
                )
                await bus.publish_model(
                    f"inbox.routed.{routed.message.channel}.{routed.message.account}",
                    routed,
                    msg_id=f"routed:{routed.message.dedup_id}",
                    headers={ORDER_KEY_HEADER: routed.conversation_id},
                )
        before = _round_trips()
        async with serve(create_app(NotifierSettings())) as url, aiohttp.ClientSession() as http:
            harness = NotifierHarness(url, bus, http)
            got = await collect(bus.js, "inbox.events.>", 4 * conversations, timeout=30)
            spent = _round_trips() - before
            page = await harness.get("/api/conversations", limit="50")
            details = [await harness.get(f"/api/conversations/conv-{c}") for c in range(3)]
    finally:
        await bus.close(grace=1)
    events = [Event.model_validate_json(m.data) for m in got]
    kinds = Counter(e.type for e in events)
    assert kinds == Counter(
        {
            "conversation.created": conversations,
            "conversation.updated": conversations,
            "message.created": 2 * conversations,
        }
    )
    assert len({e.id for e in events}) == len(events)
    items = page["items"]
    assert len(items) == conversations
    assert len({i["number"] for i in items}) == conversations  # every number once
    assert all(i["message_count"] == 2 for i in items)
    for c, detail in enumerate(details):
        assert [m["text"] for m in detail["messages"]] == [f"문의 {c} 차례 0", f"문의 {c} 차례 1"]
        assert detail["preview"] == f"문의 {c} 차례 1"
    # Gathered calls: one at a time this was about six round trips per message; now a new
    # conversation's share is a fraction of one, and a follow-up's own is its conversation's
    # findAndModify (the state after the write, for its event and the report counters).
    # A start's own reads and marks (the queue heads, the arrivals backfill) are counted too.
    start = 6
    assert spent < 1.5 * 2 * conversations + start, f"{spent} for {2 * conversations} messages"
