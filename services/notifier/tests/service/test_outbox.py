"""The outbox keeps a call's events in one document: saved once, marked once, and never marked
while one of its events is still unpublished; the consumer's documents are marked by a marker
document and left to the message's redelivery, not the relay (real Mongo-wire store)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from inbox_core.schema import DeliveryReport, DeliveryStatus, Event, utcnow
from inbox_core.settings import CoreSettings
from inbox_core.store import MESSAGES, OUTBOX, Store
from inbox_core.testing.plugin import MongoServer
from inbox_notifier.queue import INDEXES, PUBLISHED, Queue


@pytest.fixture
async def queue(mongo_server: MongoServer) -> AsyncIterator[Queue]:
    settings = CoreSettings(mongodb_url=mongo_server.url, mongodb_db=f"t_{uuid.uuid4().hex[:12]}")
    store = Store(settings)
    try:
        yield Queue(store)
    finally:
        await store.client.drop_database(settings.mongodb_db)
        await store.close()


def _events(conv: str) -> list[Event]:
    return [
        Event(id=f"conversation.created:{conv}", type="conversation.created", conversation_id=conv),
        Event(id=f"message.created:{conv}-1", type="message.created", conversation_id=conv),
    ]


async def _relayed(queue: Queue) -> list[str]:
    return [e.id for e in await queue.unpublished(utcnow() + timedelta(seconds=1))]


async def test_a_redelivery_gets_back_only_what_is_unpublished(queue: Queue) -> None:
    events = _events("c1")
    assert await asyncio.wait_for(queue.save_events(events), 10) == events
    assert await queue.db[OUTBOX].count_documents({}) == 1  # one document for the call
    again = await asyncio.wait_for(queue.save_events(_events("c1")), 10)
    assert [e.id for e in again] == [e.id for e in events]  # not published yet: hand them back
    await queue.mark_published([e.id for e in events])
    assert await queue.save_events(_events("c1")) == []  # published: nothing twice
    assert await _relayed(queue) == []


async def test_a_document_with_a_failed_event_stays_for_the_relay(queue: Queue) -> None:
    first, second = _events("c2"), _events("c3")
    await queue.save_events(first)
    await queue.save_events(second)
    # c2's second event failed to publish; everything of c3 went out.
    await asyncio.wait_for(
        queue.mark_published([first[0].id, *(e.id for e in second)], failed=[first[1].id]), 10
    )
    assert await _relayed(queue) == [e.id for e in first]  # the whole call again, deduplicated
    await queue.mark_published([e.id for e in first])
    assert await _relayed(queue) == []


async def test_a_redelivered_messages_events_come_back_until_marked_and_never_reach_the_relay(
    queue: Queue,
) -> None:
    """The consumer's events: its message is redelivered until they are published, so the
    relay leaves them alone; once marked, a redelivery publishes nothing twice."""
    events = _events("c4")
    saved = await asyncio.wait_for(queue.save_events(events, source_redelivers=True), 10)
    assert saved == events
    assert await _relayed(queue) == []
    again = await asyncio.wait_for(queue.save_events(_events("c4"), source_redelivers=True), 10)
    assert [e.id for e in again] == [e.id for e in events]  # the message came again: resend
    await asyncio.wait_for(queue.record_published([again]), 10)
    await asyncio.wait_for(queue.record_published([again]), 10)  # a second mark is harmless
    assert await queue.save_events(_events("c4"), source_redelivers=True) == []
    assert await _relayed(queue) == []
    stored = await queue.db[OUTBOX].find_one({"_id": events[0].id})
    assert stored is not None and stored["ids"] == [e.id for e in events]  # never rewritten


async def test_a_document_saved_for_the_relay_is_found_by_its_index(queue: Queue) -> None:
    """The relay reads `published: false` documents through the partial index only."""
    await queue.store.ensure_indexes({OUTBOX: INDEXES[OUTBOX]})
    await queue.save_events(_events("c5"))
    await queue.save_events(_events("c6"), source_redelivers=True)
    query = {"published": False, "created_at": {"$lte": utcnow() + timedelta(seconds=1)}}
    plan = await asyncio.wait_for(
        queue.db[OUTBOX].find(query, sort=[("created_at", 1)], limit=500).explain(), 10
    )
    assert "IXSCAN" in str(plan["queryPlanner"]["winningPlan"])
    assert "COLLSCAN" not in str(plan["queryPlanner"]["winningPlan"])
    assert await _relayed(queue) == [e.id for e in _events("c5")]


async def test_a_delivery_reports_event_goes_out_once_and_needs_no_outbox_document(
    queue: Queue,
) -> None:
    """A redelivered report computes its event again from the stored state; once its marker
    is there, nothing is published twice."""
    await queue.db[MESSAGES].insert_one(
        {"_id": "r1", "reply_id": "r1", "conversation_id": "c7", "kind": "message", "text": "네"}
    )
    report = DeliveryReport(
        reply_id="r1",
        conversation_id="c7",
        channel="mail",
        account="cs",
        status=DeliveryStatus.SENT,
    )
    [event] = await asyncio.wait_for(queue.apply_delivery(report), 10)
    assert event.message is not None and event.message["delivery"]["status"] == "sent"
    assert [e.id for e in await queue.apply_delivery(report)] == [event.id]  # not out yet
    await asyncio.wait_for(queue.record_published([[event]]), 10)
    assert await asyncio.wait_for(queue.apply_delivery(report), 10) == []
    assert await queue.db[OUTBOX].count_documents({"_id": {"$ne": PUBLISHED + event.id}}) == 0
