"""A routed message's writes go out together, so one of them can fail while the others land.
Its redelivery must end where a single clean delivery would: the conversation stored once,
counted once, and every automatic reply, note and event showing the conversation's number,
never the number of an insert that failed (real Mongo-wire store)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from inbox_core.schema import DeliveryReport, DeliveryStatus, Event, OutboundReply, RoutedMessage
from inbox_core.settings import CoreSettings
from inbox_core.store import CONVERSATIONS, MESSAGES, OUTBOX, Store
from inbox_core.testing.plugin import MongoServer
from inbox_notifier.queue import INDEXES, Queue
from inbox_notifier.report_counters import REPORT_COUNTERS

from .conftest import routed_message

NIGHT_REPLY = "접수 번호 {{conversation.number}}번으로 접수되었습니다."
NIGHT_NOTE = "야간 접수 {{conversation.number}}"


@pytest.fixture
async def queue(mongo_server: MongoServer) -> AsyncIterator[Queue]:
    settings = CoreSettings(mongodb_url=mongo_server.url, mongodb_db=f"t_{uuid.uuid4().hex[:12]}")
    store = Store(settings)
    try:
        await asyncio.wait_for(store.ensure_indexes(INDEXES), 30)
        yield Queue(store)
    finally:
        await store.client.drop_database(settings.mongodb_db)
        await store.close()


def _night(n: int, conv: str) -> RoutedMessage:
    return routed_message(n, conv, auto_reply=NIGHT_REPLY, note=NIGHT_NOTE)


def _fail_once(monkeypatch: pytest.MonkeyPatch, target: Any, name: str) -> None:
    """The store goes away for `target.name`'s next call (the others of its round land)."""
    real = getattr(target, name)
    calls = 0

    async def flaky(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise AutoReconnect("store restarting")
        return await real(*args, **kwargs)

    monkeypatch.setattr(target, name, flaky)


async def _apply(queue: Queue, routed: RoutedMessage) -> tuple[list[Event], list[OutboundReply]]:
    return await asyncio.wait_for(queue.apply_routed(routed), 10)


async def _created_counted(queue: Queue) -> int:
    buckets = queue.db[REPORT_COUNTERS].find({"_id": {"$regex": "^h\\|"}})
    return sum([int((d.get("created") or {}).get("all", 0)) async for d in buckets])


async def _assert_numbered(
    queue: Queue, conv_id: str, events: list[Event], replies: list[OutboundReply]
) -> int:
    """Everything of the conversation shows its stored number; returns it."""
    conv = await queue.db[CONVERSATIONS].find_one({"_id": conv_id})
    assert conv is not None
    number = conv["number"]
    stored = [d async for d in queue.db[MESSAGES].find({"conversation_id": conv_id})]
    router_docs = {d["kind"]: d["text"] for d in stored if d["kind"] != "message"}
    assert router_docs == {
        "auto_reply": f"접수 번호 {number}번으로 접수되었습니다.",
        "note": f"야간 접수 {number}",
    }
    assert [r.text for r in replies] == [router_docs["auto_reply"]]
    assert replies[0].context["conversation_number"] == number
    assert {e.conversation["number"] for e in events if e.conversation} == {number}
    texts = {e.message["text"] for e in events if e.message}
    assert set(router_docs.values()) <= texts
    saved = await queue.db[OUTBOX].find_one({"_id": f"conversation.created:{conv_id}"})
    assert saved is not None
    assert {e["conversation"]["number"] for e in saved["events"]} == {number}
    assert await queue.db[CONVERSATIONS].count_documents({"_id": conv_id}) == 1
    assert len(stored) == 3  # the question, the note, the automatic reply: once each
    return int(number)


async def test_a_conversation_insert_that_failed_beside_its_reply_is_redone_with_one_number(
    queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reply, the note and the outbox document landed with a number whose conversation
    insert failed: the redelivery stores the conversation with a new number and rewrites
    them before anything is published or sent."""
    routed = _night(1, "c-insert-failed")
    _fail_once(monkeypatch, queue.hot[CONVERSATIONS], "update_one")
    with pytest.raises(AutoReconnect):
        await _apply(queue, routed)
    assert await queue.db[CONVERSATIONS].count_documents({}) == 0
    assert await queue.db[MESSAGES].count_documents({}) == 3  # written beside it

    events, replies = await _apply(queue, routed)
    number = await _assert_numbered(queue, "c-insert-failed", events, replies)
    assert await _created_counted(queue) == 1
    # Not yet marked published: a further redelivery hands back the same events.
    again, _ = await _apply(queue, routed)
    assert [e.id for e in again] == [e.id for e in events]
    assert {e.conversation["number"] for e in again if e.conversation} == {number}
    await queue.record_published([again])
    assert (await _apply(queue, routed))[0] == []
    assert await _assert_numbered(queue, "c-insert-failed", events, replies) == number
    assert await _created_counted(queue) == 1


async def test_an_outbox_write_that_failed_beside_the_conversation_is_redone_for_it(
    queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The conversation landed, its outbox document did not: the redelivery's own outbox
    document, made before it knew the conversation was there, is rewritten to show the
    stored conversation, and the conversation is counted once."""
    routed = _night(2, "c-outbox-failed")
    _fail_once(monkeypatch, queue.hot[OUTBOX], "insert_one")
    with pytest.raises(AutoReconnect):
        await _apply(queue, routed)
    first = await queue.db[CONVERSATIONS].find_one({"_id": "c-outbox-failed"})
    assert first is not None
    assert await _created_counted(queue) == 1  # made, so counted though its message failed

    events, replies = await _apply(queue, routed)
    assert await _assert_numbered(queue, "c-outbox-failed", events, replies) == first["number"]
    assert events[0].id == "conversation.created:c-outbox-failed"
    assert await _created_counted(queue) == 1
    conv = await queue.db[CONVERSATIONS].find_one({"_id": "c-outbox-failed"})
    assert conv is not None and conv["message_count"] == 1


async def test_two_deliveries_of_a_new_conversation_at_once_store_it_once(queue: Queue) -> None:
    """A racer (the same message delivered twice at the same time) loses the insert and
    applies itself to the winner's conversation, with the winner's number."""
    routed = _night(3, "c-raced")
    (events, replies), (other_events, other_replies) = await asyncio.wait_for(
        asyncio.gather(queue.apply_routed(routed), queue.apply_routed(routed)), 10
    )
    number = await _assert_numbered(queue, "c-raced", events, replies)
    assert await _assert_numbered(queue, "c-raced", other_events, other_replies) == number
    assert await _created_counted(queue) == 1


async def test_a_redelivery_that_stopped_before_its_rewrites_is_finished_by_the_next(
    queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second delivery stored the conversation but failed to rewrite what the first
    left with another number: the third finds them by their number and rewrites them."""
    routed = _night(4, "c-stopped")
    _fail_once(monkeypatch, queue.hot[CONVERSATIONS], "update_one")
    with pytest.raises(AutoReconnect):
        await _apply(queue, routed)
    _fail_once(monkeypatch, queue.hot[MESSAGES], "replace_one")
    _fail_once(monkeypatch, queue.hot[OUTBOX], "replace_one")
    with pytest.raises(AutoReconnect):
        await _apply(queue, routed)
    assert await queue.db[CONVERSATIONS].count_documents({}) == 1

    events, replies = await _apply(queue, routed)
    await _assert_numbered(queue, "c-stopped", events, replies)
    assert await _created_counted(queue) == 1


async def test_a_delivery_report_naming_a_customer_message_changes_nothing(queue: Queue) -> None:
    """The report is written in the round that reads the reply, so the write itself must
    refuse a message that is not a reply."""
    await queue.db[MESSAGES].insert_one(
        {"_id": "q1", "conversation_id": "c8", "kind": "message", "text": "언제 와요?"}
    )
    report = DeliveryReport(
        reply_id="q1",
        conversation_id="c8",
        channel="mail",
        account="cs",
        status=DeliveryStatus.SENT,
    )
    assert await asyncio.wait_for(queue.apply_delivery(report), 10) == []
    stored = await queue.db[MESSAGES].find_one({"_id": "q1"})
    assert stored is not None and "delivery" not in stored
