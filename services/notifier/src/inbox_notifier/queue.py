"""The unified queue in MongoDB: apply routed messages and delivery reports, emit events.

Idempotent under redelivery: a message is keyed by its dedup id (channel:account:external_id),
a conversation by the router's id, and every event by a deterministic id. Events go to the
outbox first, after the state they describe is saved, and are published from there, so an
event is never published for unsaved state and never lost for saved state.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from inbox_core.schema import (
    ConversationStatus,
    DeliveryReport,
    DeliveryStatus,
    Direction,
    Event,
    RoutedMessage,
    utcnow,
)
from inbox_core.store import CONVERSATIONS, MESSAGES, OUTBOX, Store

NO_DUE: Final = datetime(9999, 12, 31, tzinfo=UTC)  # sorts after every real due time
PREVIEW_CHARS: Final = 140
SEARCH_CHARS: Final = 20_000

INDEXES = {
    CONVERSATIONS: [
        IndexModel([("number", ASCENDING)], unique=True),
        IndexModel([("sort_due", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("status", ASCENDING), ("sort_due", ASCENDING)]),
        IndexModel([("team", ASCENDING), ("sort_due", ASCENDING)]),
        IndexModel([("channel", ASCENDING), ("sort_due", ASCENDING)]),
        IndexModel([("assignee", ASCENDING), ("sort_due", ASCENDING)]),
        IndexModel([("customer_id", ASCENDING)]),
        IndexModel([("tags", ASCENDING)]),
    ],
    MESSAGES: [
        IndexModel([("dedup_id", ASCENDING)], unique=True),
        IndexModel([("conversation_id", ASCENDING), ("created_at", ASCENDING)]),
        IndexModel([("reply_id", ASCENDING)], sparse=True),
    ],
    OUTBOX: [IndexModel([("published", ASCENDING), ("created_at", ASCENDING)])],
}


def conversation_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The conversation as the API and events show it."""
    sla = doc.get("sla") or {}
    return {
        "id": doc["_id"],
        "number": doc.get("number"),
        "status": doc.get("status"),
        "channel": doc.get("channel"),
        "account": doc.get("account"),
        "team": doc.get("team"),
        "priority": doc.get("priority"),
        "tags": doc.get("tags", []),
        "subject": doc.get("subject"),
        "preview": doc.get("preview"),
        "customer": doc.get("customer"),
        "customer_id": doc.get("customer_id"),
        "assignee": doc.get("assignee"),
        "sla": {
            "policy": sla.get("policy"),
            "first_response_due": sla.get("first_response_due"),
            "next_response_due": sla.get("next_response_due"),
            "breached": bool(sla.get("breached", False)),
        },
        "message_count": doc.get("message_count", 0),
        "routing_reasons": doc.get("routing_reasons", []),
        "linked_conversation_id": doc.get("linked_conversation_id"),
        "created_at": doc.get("created_at"),
        "updated_at": doc.get("updated_at"),
        "last_message_at": doc.get("last_message_at"),
    }


def message_view(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "conversation_id": doc.get("conversation_id"),
        "channel": doc.get("channel"),
        "account": doc.get("account"),
        "external_id": doc.get("external_id"),
        "direction": doc.get("direction"),
        "kind": doc.get("kind", "message"),
        "author": doc.get("author"),
        "subject": doc.get("subject"),
        "text": doc.get("text", ""),
        "full_text": doc.get("full_text"),
        "html": doc.get("html"),
        "attachments": doc.get("attachments", []),
        "flags": doc.get("flags", {}),
        "context": doc.get("context", {}),
        "delivery": doc.get("delivery"),
        "created_at": doc.get("created_at"),
    }


def _message_doc(routed: RoutedMessage) -> dict[str, Any]:
    m = routed.message
    author = m.customer.name or m.customer.email or m.customer.id
    return {
        "_id": m.id,
        "dedup_id": m.dedup_id,
        "conversation_id": routed.conversation_id,
        "channel": m.channel,
        "account": m.account,
        "external_id": m.external_id,
        "direction": m.direction.value,
        "kind": "message",
        "author": author if m.direction == Direction.IN else "page",
        "subject": m.subject,
        "text": m.text,
        "full_text": m.full_text,
        "html": m.html,
        "attachments": [
            {
                "name": a.name,
                "content_type": a.content_type,
                "size": a.size,
                "url": a.url or (a.ref if a.ref and a.ref.startswith("http") else None),
            }
            for a in m.attachments
        ],
        "flags": m.flags.model_dump(),
        "context": m.context,
        "thread_keys": m.thread_keys,
        "created_at": m.received_at,
        "stored_at": utcnow(),
    }


class Queue:
    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def db(self) -> AsyncDatabase[dict[str, Any]]:
        return self.store.db

    async def apply_routed(self, routed: RoutedMessage) -> list[Event]:
        """Store the message and its conversation; return the events to publish (saved)."""
        m = routed.message
        db = self.db
        new_doc = _message_doc(routed)
        await db[MESSAGES].update_one(
            {"dedup_id": m.dedup_id}, {"$setOnInsert": new_doc}, upsert=True
        )
        stored = await db[MESSAGES].find_one({"dedup_id": m.dedup_id})
        assert stored is not None
        conversation = await self._upsert_conversation(routed, stored)
        conv_view = conversation_view(conversation)
        events: list[Event] = []
        if routed.conversation_created:
            events.append(
                Event(
                    id=f"conversation.created:{routed.conversation_id}",
                    type="conversation.created",
                    conversation_id=routed.conversation_id,
                    conversation=conv_view,
                )
            )
        else:
            events.append(
                Event(
                    id=f"conversation.updated:{stored['_id']}",
                    type="conversation.updated",
                    conversation_id=routed.conversation_id,
                    conversation=conv_view,
                )
            )
        events.append(
            Event(
                id=f"message.created:{stored['_id']}",
                type="message.created",
                conversation_id=routed.conversation_id,
                conversation=conv_view,
                message=message_view(stored),
            )
        )
        return await self.save_events(events)

    async def _upsert_conversation(
        self, routed: RoutedMessage, stored: dict[str, Any]
    ) -> dict[str, Any]:
        db = self.db
        m = routed.message
        conv_id = routed.conversation_id
        now = utcnow()
        existing = await db[CONVERSATIONS].find_one({"_id": conv_id}, {"_id": 1})
        if existing is None:
            d = routed.decision
            number = await self.store.next_number("conversation")
            due = d.sla.first_response_due
            insert = {
                "number": number,
                "status": ConversationStatus.OPEN.value,
                "channel": m.channel,
                "account": m.account,
                "team": d.team,
                "priority": d.priority.value,
                "tags": d.tags,
                "subject": m.subject or (m.text[:60] if m.text else None),
                "customer": m.customer.model_dump(),
                "customer_id": routed.customer_id,
                "assignee": d.assignee,
                "sla": d.sla.model_dump(),
                "sort_due": due or NO_DUE,
                "routing_reasons": d.reasons,
                "linked_conversation_id": routed.linked_conversation_id,
                "created_at": m.received_at,
            }
            await db[CONVERSATIONS].update_one(
                {"_id": conv_id}, {"$setOnInsert": insert}, upsert=True
            )
        count = await db[MESSAGES].count_documents({"conversation_id": conv_id, "kind": "message"})
        text = (stored.get("text") or "").strip()
        update: dict[str, Any] = {
            "$set": {"updated_at": now},
            # Counts only grow; $max keeps a slower concurrent writer from lowering it.
            "$max": {"last_message_at": m.received_at, "message_count": count},
        }
        latest = await db[MESSAGES].find_one(
            {"conversation_id": conv_id}, sort=[("created_at", DESCENDING), ("_id", DESCENDING)]
        )
        if latest is not None and latest["_id"] == stored["_id"]:
            update["$set"]["preview"] = text[:PREVIEW_CHARS]
        if routed.reopen and m.direction == Direction.IN:
            # A customer message reopens a resolved or pending conversation.
            update["$set"]["status"] = ConversationStatus.OPEN.value
        search = f"{m.subject or ''} {text}"[:SEARCH_CHARS]
        update["$addToSet"] = {"search": search} if search.strip() else {}
        if not update["$addToSet"]:
            del update["$addToSet"]
        doc = await db[CONVERSATIONS].find_one_and_update(
            {"_id": conv_id}, update, return_document=ReturnDocument.AFTER
        )
        assert doc is not None
        return doc

    async def apply_delivery(self, report: DeliveryReport) -> list[Event]:
        delivery = {
            "status": report.status.value,
            "error": report.error,
            "at": report.at,
            "external_id": report.external_id,
        }
        msg = await self.db[MESSAGES].find_one_and_update(
            {"reply_id": report.reply_id},
            {"$set": {"delivery": delivery}},
            return_document=ReturnDocument.AFTER,
        )
        if msg is None:
            return []
        conv = await self.db[CONVERSATIONS].find_one({"_id": report.conversation_id})
        view = conversation_view(conv) if conv else None
        kind = (
            "message.delivery_failed"
            if report.status == DeliveryStatus.FAILED
            else ("conversation.updated")
        )
        event = Event(
            id=f"{kind}:{report.reply_id}:{report.status.value}",
            type=kind,  # type: ignore[arg-type]
            conversation_id=report.conversation_id,
            conversation=view,
            message=message_view(msg),
        )
        return await self.save_events([event])

    async def save_events(self, events: list[Event]) -> list[Event]:
        """Put events in the outbox (idempotent by id); return them for publishing."""
        if not events:
            return []
        docs = [
            {
                "_id": e.id,
                "event": e.model_dump(mode="json"),
                "published": False,
                "created_at": utcnow(),
            }
            for e in events
        ]
        try:
            await self.db[OUTBOX].insert_many(docs, ordered=False)
        except BulkWriteError as err:
            if any(e.get("code") != 11000 for e in err.details.get("writeErrors", [])):
                raise
        # On redelivery, hand back the saved snapshots of what is still unpublished.
        pending = self.db[OUTBOX].find({"_id": {"$in": [e.id for e in events]}, "published": False})
        saved = {d["_id"]: Event.model_validate(d["event"]) async for d in pending}
        return [saved[e.id] for e in events if e.id in saved]

    async def mark_published(self, event_ids: list[str]) -> None:
        await self.db[OUTBOX].update_many(
            {"_id": {"$in": event_ids}}, {"$set": {"published": True, "published_at": utcnow()}}
        )

    async def unpublished(self, older_than: datetime, limit: int = 500) -> list[Event]:
        cursor = self.db[OUTBOX].find(
            {"published": False, "created_at": {"$lte": older_than}},
            sort=[("created_at", ASCENDING)],
            limit=limit,
        )
        return [Event.model_validate(d["event"]) async for d in cursor]
