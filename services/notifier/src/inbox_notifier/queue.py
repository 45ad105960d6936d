"""The unified queue in MongoDB: apply routed messages and delivery reports, emit events.

Idempotent under redelivery: a message is keyed by its dedup id (channel:account:external_id),
a conversation by the router's id, and every event by a deterministic id. Events go to the
outbox after the state they describe is saved, and are published from there, so an event is
never published for unsaved state and never lost for saved state.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from inbox_core import sla as sla_clock
from inbox_core.batched import BatchedDatabase
from inbox_core.errors import TransientError
from inbox_core.guarded_update import applied
from inbox_core.placeholders import fill_deferred_number
from inbox_core.schema import (
    ConversationStatus,
    DeliveryReport,
    DeliveryStatus,
    Direction,
    Event,
    OutboundReply,
    RoutedMessage,
    utcnow,
)
from inbox_core.sla import NO_DUE, BusinessClock, Clock
from inbox_core.store import CONVERSATIONS, MESSAGES, OUTBOX, Store
from inbox_core.text import normalise_subject
from inbox_notifier.queue_page import PAGE_INDEXES
from inbox_notifier.report_counters import (
    ARRIVALS,
    REPORT_COUNTERS,
    arrival_ops,
    counter_ops,
    product_of,
)

PREVIEW_CHARS: Final = 140
SEARCH_CHARS: Final = 20_000
CANNED: Final = "canned_responses"

INDEXES = {
    CONVERSATIONS: [
        IndexModel([("number", ASCENDING)], unique=True),
        *PAGE_INDEXES,  # the queue page: (filter, sort_due, _id)
        IndexModel([("customer_id", ASCENDING), ("status", ASCENDING)]),
        IndexModel([("linked_conversation_id", ASCENDING)]),
        # The SLA timers: the warning, then the breach (timers.py).
        IndexModel([("status", ASCENDING), ("sla_warn_at", ASCENDING)]),
        IndexModel([("status", ASCENDING), ("snoozed_until", ASCENDING)]),
        IndexModel([("created_at", ASCENDING)]),  # arrivals and spikes (reports)
    ],
    MESSAGES: [
        IndexModel([("dedup_id", ASCENDING)], unique=True),
        IndexModel([("conversation_id", ASCENDING), ("created_at", ASCENDING)]),
    ],
    # The relay's: only documents it may have to publish (`published: false`) have an entry.
    OUTBOX: [
        IndexModel(
            [("created_at", ASCENDING)],
            name="unpublished_created_at",
            partialFilterExpression={"published": False},
        )
    ],
    CANNED: [IndexModel([("title", ASCENDING)])],
}

# A reply's `_id` is its `reply_id` (agent, bot and automatic replies alike, since the
# first version), so a delivery report finds its message by `_id`: the sparse `reply_id`
# index an earlier version kept cost every message write and is dropped at start.
OBSOLETE_MESSAGE_INDEXES: Final = ("reply_id_1",)
# The relay's index before it was partial (every outbox document had an entry).
OBSOLETE_OUTBOX_INDEXES: Final = ("published_1_created_at_1",)
# An event published from an outbox document of a message that the bus redelivers until it
# is handled: a marker document `{_id: PUBLISHED + event id}` (see `Queue.save_events`).
PUBLISHED: Final = "published:"


def conversation_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The conversation as the API and events show it."""
    sla = doc.get("sla") or {}
    customer = doc.get("customer") or {}
    return {
        "id": doc["_id"],
        "number": doc.get("number"),
        "status": doc.get("status"),
        "channel": doc.get("channel"),
        "account": doc.get("account"),
        "team": doc.get("team"),
        "category": doc.get("category") or "general",
        "priority": doc.get("priority"),
        "tags": doc.get("tags", []),
        "subject": doc.get("subject"),
        "preview": doc.get("preview"),
        "customer": {k: customer.get(k) for k in ("id", "name", "email", "phone")},
        "customer_id": doc.get("customer_id"),
        "assignee": doc.get("assignee"),
        "version": doc.get("version", 0),
        "sla": {
            "policy": sla.get("policy"),
            "warn_at": doc.get("sla_warn_from") if doc.get("sla_deadline") else None,
            "first_response_due": None
            if sla.get("first_response_at")
            else sla.get("first_response_due"),
            "next_response_due": sla.get("next_response_due"),
            "first_response_at": sla.get("first_response_at"),
            "paused": sla.get("paused_remaining_s") is not None,
            "breached": bool(sla.get("breached", False)),
        },
        "message_count": doc.get("message_count", 0),
        "routing_reasons": doc.get("routing_reasons", []),
        "linked_conversation_id": doc.get("linked_conversation_id"),
        "created_at": doc.get("created_at"),
        "updated_at": doc.get("updated_at"),
        "last_message_at": doc.get("last_message_at"),
        "resolved_at": doc.get("resolved_at"),
        "merged_into": doc.get("merged_into"),
        "merged_from": doc.get("merged_from", []),
        "snoozed_until": doc.get("snoozed_until")
        if doc.get("status") == ConversationStatus.PENDING
        else None,
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
        "raw_url": doc.get("raw_url"),
        "superseded_by": doc.get("superseded_by"),
        "deleted_on_platform": bool(doc.get("deleted_on_platform", False)),
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
        "author": author if m.direction == Direction.IN else f"{m.channel}:{m.account}",
        "subject": m.subject,
        "text": m.text,
        "full_text": m.full_text,
        "html": m.html,
        "attachments": [
            {
                "name": a.name,
                "content_type": a.content_type,
                "size": a.size,
                "url": attachment_url(a.ref, a.url),
            }
            for a in m.attachments
        ],
        "raw_url": attachment_url(m.raw_ref, None),
        "flags": m.flags.model_dump(),
        "context": m.context,
        "thread_keys": m.thread_keys,
        "created_at": m.received_at,
        "stored_at": utcnow(),
    }


def attachment_url(ref: str | None, url: str | None) -> str | None:
    """Stored bytes are downloaded through the agent API; platform links are kept as given."""
    if ref and ref.startswith("gridfs:"):
        return f"/api/attachments/{ref}"
    return url or (ref if ref and ref.startswith("http") else None)


def stable_id(*parts: str) -> str:
    """A deterministic id, so a redelivered message creates the same note or reply."""
    return uuid.uuid5(uuid.NAMESPACE_URL, ":".join(parts)).hex


Change = tuple[dict[str, Any] | None, dict[str, Any] | None]  # a conversation (before, after)
# Writes of a message on a conversation that keeps changing under it, before giving up.
WRITE_TRIES: Final = 10


async def together(*calls: Awaitable[Any]) -> list[Any]:
    """Store calls that do not wait for each other's answers, as one round (the batched
    store merges each with the batch's calls to the same collection). The first error is
    raised once every call has finished: nothing of a failed message is still being written
    when it is retried."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)


async def insert_new(collection: Any, doc: dict[str, Any]) -> bool:
    """Insert `doc`; False when it is stored already (its _id or another unique key)."""
    try:
        await collection.insert_one(doc)
    except DuplicateKeyError:
        return False
    return True


async def _as_is(doc: dict[str, Any]) -> dict[str, Any]:
    return doc


@dataclass(frozen=True)
class _Tried:
    """What a new conversation's message wrote with a conversation insert that did not win."""

    extra: list[dict[str, Any]]  # the router's documents as made
    extra_new: list[bool]  # which of them this delivery inserted
    outbox_new: bool  # whether this delivery inserted the outbox document


def _search_text(routed: RoutedMessage, text: str) -> str:
    return f"{routed.message.subject or ''} {text}"[:SEARCH_CHARS]


def _outbox_doc(events: list[Event], source_redelivers: bool) -> dict[str, Any]:
    """The outbox document of one call's events, keyed by the first event's id."""
    ids = [e.id for e in events]
    doc: dict[str, Any] = {
        "_id": ids[0],
        "ids": ids,
        "events": [e.model_dump(mode="json") for e in events],
        "created_at": utcnow(),
    }
    if not source_redelivers:
        doc["published"] = False
    return doc


def _conversation_number(doc: dict[str, Any]) -> Any:
    """The conversation number a saved outbox document's first event (the conversation's)
    shows, if any."""
    events = doc.get("events") or [doc.get("event") or {}]
    return (events[0].get("conversation") or {}).get("number")


class Queue:
    def __init__(self, store: Store, clock: Clock | None = None, warn_ratio: float = 0.8) -> None:
        self.store = store
        self.clock = clock or BusinessClock()
        self.warn_ratio = warn_ratio
        self._hot: BatchedDatabase | None = None

    @property
    def db(self) -> AsyncDatabase[dict[str, Any]]:
        return self.store.db

    @property
    def hot(self) -> BatchedDatabase:
        """The store for the consumer's hot path: the messages of a batch are applied
        concurrently and their store calls at the same step go out together."""
        if self._hot is None or self._hot.db is not self.store.db:
            self._hot = BatchedDatabase(self.store.db)
        return self._hot

    async def count_changes(
        self, changes: list[tuple[dict[str, Any] | None, dict[str, Any] | None]]
    ) -> None:
        """Move the report counters by what these conversation writes changed (before, after).
        Only writes that were made count, so a redelivery, whose write changed nothing,
        counts nothing."""
        await together(
            self._increment(REPORT_COUNTERS, counter_ops(changes)),
            self._increment(ARRIVALS, arrival_ops(changes)),
        )

    async def _increment(self, collection: str, ops: list[UpdateOne]) -> None:
        if not ops:
            return
        try:
            await self.hot[collection].bulk_write(ops, ordered=False)
        except BulkWriteError as err:
            # Two writers creating the same new bucket: the loser's upsert hits the winner's
            # document. Retried once, the bucket exists and the $inc applies.
            errors = err.details.get("writeErrors", [])
            if not errors or any(e.get("code") != 11000 for e in errors):
                raise
            retry = [ops[e["index"]] for e in errors]
            await self.db[collection].bulk_write(retry, ordered=False)

    def sla_fields(self, sla: dict[str, Any], now: datetime) -> dict[str, Any]:
        """A new conversation's SLA fields: the state and its active deadline."""
        return {"sla": sla, **sla_clock.active_fields(sla, now, self.warn_ratio)}

    def sla_update(
        self, before: dict[str, Any], after: dict[str, Any], now: datetime
    ) -> dict[str, Any]:
        """`$set` fields for an SLA transition from the state read: only the `sla.<field>`s
        it changed (never the whole state, which would put back what another writer changed
        since the read), and the active deadline. Writers guard the write with the version
        read, and compute it again when it misses."""
        return {
            **sla_clock.sla_changes(before, after),
            **sla_clock.active_fields(after, now, self.warn_ratio),
        }

    # --- inbound ----------------------------------------------------------------------

    async def apply_routed(
        self, routed: RoutedMessage, counts: list[Change] | None = None
    ) -> tuple[list[Event], list[OutboundReply]]:
        """Store the message and its conversation. Returns the saved events to publish and
        the automatic replies to hand to the connector.

        The store calls that do not wait for each other's answers go out together (and the
        batched store merges them with the batch's other messages'), so a message takes few
        sequential round trips:

        1. the message, with a new conversation's number (the router says it is new: no
           read) or the stored conversation;
        2. a new conversation, its router note and automatic reply and the outbox document
           of its events; or a stored conversation's write with the router's documents,
           then 3. the outbox document.

        A new conversation's documents of round 2 are written before it is known whether
        its insert wins. When it does not (a redelivery, a racer), or when an earlier
        delivery of this message stopped half-way, whatever was made with a number the
        conversation does not have is rewritten before anything is published or sent
        (`_settle_router_docs`, `_settle_outbox`); a number is never rewritten once sent.

        `counts`: the report-counter changes (before, after) of the conversation writes
        made are appended there for the caller to count (the consumer counts a batch's
        with its published marks, `Notifier.handle_batch`); without it, counted here."""
        changes: list[Change] = [] if counts is None else counts
        try:
            return await self._apply_routed(routed, changes)
        finally:
            if counts is None and changes:
                await self.count_changes(changes)

    async def _apply_routed(
        self, routed: RoutedMessage, changes: list[Change]
    ) -> tuple[list[Event], list[OutboundReply]]:
        m, db, cid = routed.message, self.hot, routed.conversation_id
        doc = _message_doc(routed)
        # An insert, not an upsert: half the store's work, the same effect. A message
        # stored before (redelivered, replayed) fails on its _id or its unique dedup_id.
        existing: dict[str, Any] | None = None
        number: int | None = None
        if routed.conversation_created:
            inserted, number = await together(
                insert_new(db[MESSAGES], doc), self.store.next_number("conversation")
            )
        else:
            inserted, existing = await together(
                insert_new(db[MESSAGES], doc), db[CONVERSATIONS].find_one({"_id": cid})
            )
        stored = doc if inserted else await db[MESSAGES].find_one({"dedup_id": m.dedup_id})
        assert stored is not None
        tried: _Tried | None = None
        if existing is None:
            if number is None:  # said to exist but not stored: created here all the same
                number = await self.store.next_number("conversation")
            made = await self._create(routed, stored, inserted, number, changes)
            if not isinstance(made, _Tried):
                return made
            # A racer or an earlier delivery of this message stored it (our number is a gap).
            tried = made
            existing = await db[CONVERSATIONS].find_one({"_id": cid})
            assert existing is not None
        return await self._apply_to_stored(routed, stored, inserted, existing, changes, tried)

    async def _create(
        self,
        routed: RoutedMessage,
        stored: dict[str, Any],
        inserted: bool,
        number: int,
        changes: list[Change],
    ) -> tuple[list[Event], list[OutboundReply]] | _Tried:
        """A new conversation, written once with this message already applied, in one round
        with its router documents and its events' outbox document. `_Tried` when the
        conversation was stored already: what was written with it is settled by the caller."""
        db, cid, m = self.hot, routed.conversation_id, routed.message
        now = utcnow()
        text = (stored.get("text") or "").strip()
        search = _search_text(routed, text)
        first = self._new_conversation(routed, now)
        first["number"] = number
        first.update(self._message_fields(routed, first, now, stored))
        first.update(
            {
                "last_message_at": m.received_at,
                "version": 1,
                "message_count": 1 if inserted else await self._count(cid),
                "preview": text[:PREVIEW_CHARS],
                "search": [search] if search.strip() else [],
            }
        )
        conv = {"_id": cid, **first}  # as stored: no need to read it back
        extra, replies = self._router_actions(routed, conv)
        events = self._routed_events(routed, conv, [stored, *extra])
        outbox = _outbox_doc(events, source_redelivers=True)

        async def insert_conversation() -> bool:
            result = await db[CONVERSATIONS].update_one(
                {"_id": cid}, {"$setOnInsert": first}, upsert=True
            )
            if result.upserted_id is None:
                return False
            changes.append((None, conv))  # made: counted even if a write beside it fails
            return True

        won, extra_new, outbox_new, _ = await together(
            insert_conversation(),
            self._insert_all(extra),
            insert_new(db[OUTBOX], outbox),
            self._mark_replaced(routed),
        )
        if not won:
            return _Tried(extra, extra_new, outbox_new)
        # The conversation did not exist before this write, so nothing of it was published
        # or sent: what an earlier delivery of this message left before it failed (router
        # documents, the outbox document, made with a number never stored) becomes ours.
        await together(
            *(
                db[MESSAGES].replace_one({"_id": d["_id"]}, d)
                for d, new in zip(extra, extra_new, strict=True)
                if not new
            ),
            *([] if outbox_new else [db[OUTBOX].replace_one({"_id": outbox["_id"]}, outbox)]),
        )
        return events, replies

    async def _apply_to_stored(
        self,
        routed: RoutedMessage,
        stored: dict[str, Any],
        inserted: bool,
        existing: dict[str, Any],
        changes: list[Change],
        tried: _Tried | None,
    ) -> tuple[list[Event], list[OutboundReply]]:
        """The message on a stored conversation: its write, the router's documents (in the
        same round: their number is the conversation's already), then the events."""
        if tried is None:
            extra, _ = self._router_actions(routed, existing)
            conv, extra_new, _ = await together(
                self._write_message(routed, stored, inserted, existing, changes),
                self._insert_all(extra),
                self._mark_replaced(routed),
            )
        else:
            conv = await self._write_message(routed, stored, inserted, existing, changes)
            extra, extra_new = tried.extra, tried.extra_new
        wanted, replies = self._router_actions(routed, conv)
        saved = await self._settle_router_docs(wanted, extra, extra_new)
        events = self._routed_events(routed, conv, [stored, *saved])
        if tried is None:
            return await self.save_events(events, source_redelivers=True), replies
        return await self._settle_outbox(events, tried.outbox_new, conv.get("number")), replies

    async def _write_message(
        self,
        routed: RoutedMessage,
        stored: dict[str, Any],
        inserted: bool,
        existing: dict[str, Any],
        changes: list[Change],
    ) -> dict[str, Any]:
        """The message applied to its stored conversation: the conversation after the write,
        whose change is added to `changes` as soon as it is made."""
        db, m, cid = self.hot, routed.message, routed.conversation_id
        text = (stored.get("text") or "").strip()
        search = _search_text(routed, text)
        # A redelivery: recount, in case the first delivery stopped half-way. Counts only
        # grow; $max keeps a slower concurrent writer from lowering it.
        recount = None if inserted else await self._count(cid)
        at_ms = m.received_at.replace(microsecond=m.received_at.microsecond // 1000 * 1000)
        for _ in range(WRITE_TRIES):
            now = utcnow()
            fields = self._message_fields(routed, existing, now, stored)
            last = existing.get("last_message_at")
            if last is None or at_ms >= last:
                # The latest message as read: its preview goes in the same write. A
                # conversation's messages are applied one after another (ordering key), so
                # the read holds.
                fields["preview"] = text[:PREVIEW_CHARS]
            update: dict[str, Any] = {
                "$set": fields,
                "$max": {"last_message_at": m.received_at},
                "$inc": {"version": 1},
            }
            if recount is None:
                update["$inc"]["message_count"] = 1
            else:
                update["$max"]["message_count"] = recount
            add: dict[str, Any] = {}
            if search.strip():
                add["search"] = search
            if routed.decision.reasons and not routed.conversation_created:
                add["routing_reasons"] = {"$each": routed.decision.reasons[:10]}
            if add:
                update["$addToSet"] = add
            # Written on the conversation exactly as read (its version), so the state after
            # it is computed here: the store's findAndModify would read the whole collection.
            # Another writer in between (an agent, a timer) moves the version: read again.
            result = await db[CONVERSATIONS].update_one(
                {"_id": cid, "version": existing.get("version")}, update
            )
            if result.matched_count:
                after = applied(existing, update)
                changes.append((existing, after))
                return after
            reread = await db[CONVERSATIONS].find_one({"_id": cid})
            assert reread is not None
            existing = reread
        raise TransientError(f"conversation {cid} kept changing under its write")

    def _routed_events(
        self, routed: RoutedMessage, conv: dict[str, Any], docs: list[dict[str, Any]]
    ) -> list[Event]:
        """A routed message's events: its conversation's, then one per message stored
        (the message itself, the router's note and automatic reply)."""
        conv_view = conversation_view(conv)
        cid = routed.conversation_id
        if routed.conversation_created:
            first = Event(
                id=f"conversation.created:{cid}",
                type="conversation.created",
                conversation_id=cid,
                conversation=conv_view,
            )
        else:
            first = Event(
                id=f"conversation.updated:{docs[0]['_id']}",
                type="conversation.updated",
                conversation_id=cid,
                conversation=conv_view,
            )
        return [
            first,
            *(
                Event(
                    id=f"message.created:{doc['_id']}",
                    type="message.created",
                    conversation_id=cid,
                    conversation=conv_view,
                    message=message_view(doc),
                )
                for doc in docs
            ),
        ]

    def _new_conversation(self, routed: RoutedMessage, now: datetime) -> dict[str, Any]:
        """A conversation as the router decided it, before any message is applied."""
        m, d = routed.message, routed.decision
        sla = {**d.sla.model_dump(), "clock_started_at": m.received_at}
        subject = m.subject or (m.text[:60] if m.text else None)
        return {
            "status": ConversationStatus.OPEN.value,
            "channel": m.channel,
            "account": m.account,
            "team": d.team,
            "category": d.category,
            "priority": d.priority.value,
            "tags": d.tags,
            "subject": subject,
            "subject_norm": normalise_subject(subject),
            "customer": m.customer.model_dump(),
            "customer_id": routed.customer_id,
            "assignee": d.assignee,
            "routing_reasons": d.reasons,
            "linked_conversation_id": routed.linked_conversation_id,
            "product": product_of(m.context),
            "created_at": m.received_at,
            **self.sla_fields(sla, now),
        }

    def _message_fields(
        self,
        routed: RoutedMessage,
        conversation: dict[str, Any],
        now: datetime,
        stored: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """`$set` fields a message brings to its conversation: status and SLA clock."""
        m = routed.message
        fields: dict[str, Any] = {"updated_at": now}
        status = conversation.get("status")
        # A question deleted on the platform is recorded but does not reopen anything.
        reopen = routed.reopen and not m.context.get("deleted")
        before = conversation.get("sla") or {}
        if m.direction == Direction.IN:
            if reopen and status != ConversationStatus.OPEN:
                fields.update(self._reopen_fields(conversation, m.received_at, now))
            elif status == ConversationStatus.OPEN:
                arrived = (stored or {}).get("stored_at")
                sla = sla_clock.on_customer_message(
                    before, m.received_at, self.clock, arrived_at=arrived
                )
                fields.update(self.sla_update(before, sla, now))
        elif m.flags.echo:
            # The page answered outside the inbox (e.g. Meta Business Suite): a response.
            sla = sla_clock.on_agent_reply(before, m.received_at)
            if m.context.get("answered_on_platform") and status != ConversationStatus.RESOLVED:
                # Answered directly on the marketplace: the question is handled.
                sla = sla_clock.on_resolved(sla)
                fields.update({"status": ConversationStatus.RESOLVED.value, "resolved_at": now})
            fields.update(self.sla_update(before, sla, now))
        return fields

    async def _count(self, conversation_id: str) -> int:
        """As counted on arrival: messages that came through the channel, not the agents'
        replies (a redelivery after a reply would count the reply too)."""
        return await self.db[MESSAGES].count_documents(
            {"conversation_id": conversation_id, "kind": "message", "reply_id": {"$exists": False}}
        )

    async def _mark_replaced(self, routed: RoutedMessage) -> None:
        """An edited question supersedes its earlier text; a deleted one marks the thread's
        customer messages as deleted on the platform. Nothing is removed."""
        m = routed.message
        same = {
            "conversation_id": routed.conversation_id,
            "channel": m.channel,
            "account": m.account,
            "_id": {"$ne": m.id},
        }
        if edit_of := m.context.get("edit_of"):
            await self.db[MESSAGES].update_many(
                {**same, "external_id": edit_of, "superseded_by": None},
                {"$set": {"superseded_by": m.id}},
            )
        if m.context.get("deleted"):
            await self.db[MESSAGES].update_many(
                {**same, "direction": "in", "kind": "message"},
                {"$set": {"deleted_on_platform": True}},
            )

    def _reopen_fields(self, conv: dict[str, Any], at: datetime, now: datetime) -> dict[str, Any]:
        """A customer message on a pending or resolved conversation reopens it; its clock runs."""
        before = conv.get("sla") or {}
        sla = sla_clock.on_reopen(before, str(conv.get("status")), at, self.clock)
        fields = {"status": ConversationStatus.OPEN.value, "resolved_at": None}
        return {**fields, **self.sla_update(before, sla, now)}

    def _router_actions(
        self, routed: RoutedMessage, conv: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], list[OutboundReply]]:
        """The router's private note and automatic reply for this message (stored once per
        message) and the reply to send, made with the conversation's number."""
        m, d = routed.message, routed.decision
        docs: list[dict[str, Any]] = []
        replies: list[OutboundReply] = []
        # The router leaves a new conversation's number to us (inbox_core.placeholders); the
        # number a document was made with is kept with it (`_settle_router_docs`).
        number = conv.get("number")
        base = {
            "conversation_id": routed.conversation_id,
            "channel": m.channel,
            "account": m.account,
            "conversation_number": number,
            "stored_at": utcnow(),
        }
        note = fill_deferred_number(d.note, number) if d.note else None
        auto_reply = fill_deferred_number(d.auto_reply, number) if d.auto_reply else None
        if note:
            note_id = stable_id("note", m.dedup_id)
            docs.append(
                {
                    **base,
                    "_id": note_id,
                    "dedup_id": f"note:{m.dedup_id}",
                    "direction": "out",
                    "kind": "note",
                    "author": "router",
                    "text": note,
                }
            )
        if auto_reply and not (m.flags.auto_reply or m.flags.bounce or m.flags.list_mail):
            reply_id = stable_id("auto_reply", m.dedup_id)
            docs.append(
                {
                    **base,
                    "_id": reply_id,
                    "dedup_id": f"auto_reply:{m.dedup_id}",
                    "reply_id": reply_id,
                    "direction": "out",
                    "kind": "auto_reply",
                    "author": "router",
                    "text": auto_reply,
                    "delivery": {"status": DeliveryStatus.QUEUED.value},
                }
            )
            replies.append(
                OutboundReply(
                    id=reply_id,
                    conversation_id=routed.conversation_id,
                    channel=m.channel,
                    account=m.account,
                    customer=m.customer,
                    thread_keys=m.thread_keys,
                    in_reply_to=m.external_id,
                    subject=conv.get("subject"),
                    text=auto_reply,
                    agent="router",
                    context={
                        **m.context,
                        "conversation_number": number,
                        "last_customer_message_at": m.received_at.isoformat(),
                        "automatic": True,
                    },
                )
            )
        for i, doc in enumerate(docs, start=1):
            # Just after the message they answer, so the thread reads in order.
            doc["created_at"] = m.received_at + timedelta(milliseconds=i)
        return docs, replies

    async def _insert_all(self, docs: list[dict[str, Any]]) -> list[bool]:
        """Insert the router's documents: an insert, not an upsert (a third of the store's
        work): the _id and the dedup_id are both derived from the message, either one
        refuses a second copy. Per document, whether it was inserted."""
        return list(await asyncio.gather(*(insert_new(self.hot[MESSAGES], d) for d in docs)))

    async def _settle_router_docs(
        self,
        wanted: list[dict[str, Any]],
        tried: list[dict[str, Any]],
        inserted: list[bool],
    ) -> list[dict[str, Any]]:
        """The router's documents as stored, made with the conversation's number.

        `tried` were written (`inserted`) or found stored already. One made with another
        number (a new conversation's insert that did not win, now or in an earlier delivery
        that failed) was never sent: a reply is sent, and its event published, only once
        every write of its message is done with the conversation's number. It is rewritten."""
        db = self.hot
        found = await asyncio.gather(
            *(
                _as_is(d) if new else db[MESSAGES].find_one({"dedup_id": d["dedup_id"]})
                for d, new in zip(tried, inserted, strict=True)
            )
        )
        saved: list[dict[str, Any]] = []
        fixes = []
        for want, have in zip(wanted, found, strict=True):
            assert have is not None
            made_with = have.get("conversation_number")
            if made_with is not None and made_with != want["conversation_number"]:
                fix = {"text": want["text"], "conversation_number": want["conversation_number"]}
                fixes.append(db[MESSAGES].update_one({"_id": have["_id"]}, {"$set": fix}))
                have = {**have, **fix}
            saved.append(have)
        await together(*fixes)
        return saved

    async def apply_delivery(self, report: DeliveryReport) -> list[Event]:
        delivery = {
            "status": report.status.value,
            "error": report.error,
            "at": report.at,
            "external_id": report.external_id,
        }
        failed = report.status == DeliveryStatus.FAILED
        kind = "message.delivery_failed" if failed else "message.updated"
        event_id = f"{kind}:{report.reply_id}:{report.status.value}"
        db = self.hot
        update = {"$set": {"delivery": delivery}}
        # Everything is by _id, known from the report, so the reads and the write go out in
        # one round gathered with the batch's (findAndModify would read the whole
        # collection): the reply (a reply's _id is its reply_id; the filter leaves anything
        # else alone), its conversation (a sent mail reply's Message-ID becomes a thread key,
        # which the router claims from the same report) and the event's published mark. The
        # reply is shown as the write leaves it, whether read before or after it: the
        # reports of one conversation come one after another, and nothing else writes a
        # reply's delivery.
        msg, conv, mark, _ = await together(
            db[MESSAGES].find_one({"_id": report.reply_id}),
            db[CONVERSATIONS].find_one({"_id": report.conversation_id}),
            db[OUTBOX].find_one({"_id": PUBLISHED + event_id}),
            db[MESSAGES].bulk_write(
                [UpdateOne({"_id": report.reply_id, "reply_id": report.reply_id}, update)],
                ordered=False,
            ),
        )
        if msg is None or msg.get("reply_id") != report.reply_id:
            return []
        # No outbox document: a redelivered report applies the same delivery again and
        # computes this event again from the stored state, so what must be kept is only
        # whether it went out (its marker, `record_published`).
        if mark is not None:
            return []
        return [
            Event(
                id=event_id,
                type=kind,
                conversation_id=report.conversation_id,
                conversation=conversation_view(conv) if conv else None,
                message=message_view(applied(msg, update)),
            )
        ]

    # --- events -------------------------------------------------------------------------

    async def save_events(
        self, events: list[Event], *, source_redelivers: bool = False
    ) -> list[Event]:
        """Put events in the outbox (idempotent by id); return the still-unpublished ones.

        The events of one call (one message's, one action's) are one outbox document, keyed
        by the first event's id: one insert for the lot. How it is marked published depends
        on who publishes it again when its publish fails or the process dies first:

        - `source_redelivers`: the consumer's messages. The message is acked only after its
          events are on the bus and marked, so the bus redelivers it until they are; the
          document is never updated (an update costs the embedded store about five times
          a small insert): once its events are all published it gets a marker document
          (`record_published`), and the relay never reads it.
        - otherwise (agent actions, timers): nothing would call again, so the document is
          `published: false` until `mark_published`, and the relay publishes what is left.
        """
        if not events:
            return []
        if await insert_new(self.hot[OUTBOX], _outbox_doc(events, source_redelivers)):
            return events  # all new: nothing was published before
        return await self._unpublished(events)

    async def _unpublished(
        self, events: list[Event], saved: list[dict[str, Any]] | None = None
    ) -> list[Event]:
        """Saved before (a redelivery): the saved snapshots of what is unpublished."""
        ids = [e.id for e in events]
        if saved is None:
            saved = [d async for d in self.db[OUTBOX].find({"_id": {"$in": ids}})]
        marked: set[str] = set()
        if any("published" not in d for d in saved):
            marks = [PUBLISHED + d["_id"] for d in saved]
            found = self.db[OUTBOX].find({"_id": {"$in": marks}}, {"_id": 1})
            marked = {m["_id"].removeprefix(PUBLISHED) async for m in found}
        pending: dict[str, Event] = {}
        for d in saved:
            if d.get("published") is True or d["_id"] in marked:
                continue
            for event in _outbox_events(d):
                pending[event.id] = event
        return [pending[i] for i in ids if i in pending]

    async def _settle_outbox(
        self, events: list[Event], ours: bool, number: int | None
    ) -> list[Event]:
        """The events of a new conversation's message whose outbox document was written
        before the conversation insert was known to lose (`ours`: inserted by this delivery)
        or was found saved. Ours, or one saved with another number (by an earlier delivery
        whose insert failed), describes a conversation that was never stored and was never
        published: it becomes these events. Otherwise it is a redelivery's (`save_events`)."""
        doc = _outbox_doc(events, source_redelivers=True)
        if not ours:
            ids = [e.id for e in events]
            saved = [d async for d in self.db[OUTBOX].find({"_id": {"$in": ids}})]
            first = next((d for d in saved if d["_id"] == doc["_id"]), None)
            if first is not None and _conversation_number(first) in (None, number):
                return await self._unpublished(events, saved)
        await self.hot[OUTBOX].replace_one({"_id": doc["_id"]}, doc, upsert=True)
        return events

    async def record_published(self, documents: list[list[Event]]) -> None:
        """Mark published the outbox documents, saved with `source_redelivers`, whose events
        (each list as `save_events` returned it: a document's, keyed by its first event)
        were all published, and a delivery report's event (`apply_delivery`, keyed by its
        id): one small insert each, `{_id: PUBLISHED + key}`. A marker there already is fine
        (published twice, deduplicated by id)."""
        keys = dict.fromkeys(evs[0].id for evs in documents if evs)
        if not keys:
            return
        try:
            await self.db[OUTBOX].insert_many([{"_id": PUBLISHED + k} for k in keys], ordered=False)
        except BulkWriteError as err:
            errors = err.details.get("writeErrors", [])
            if not errors or any(e.get("code") != 11000 for e in errors):
                raise

    async def mark_published(self, event_ids: list[str], failed: list[str] | None = None) -> None:
        """Mark the outbox documents of these published events; one holding an event that
        failed (`failed`) stays for the relay, which publishes it again (deduplicated by id)."""
        query: dict[str, Any] = {"_id": {"$in": event_ids}, "published": False}
        if failed:
            query["ids"] = {"$nin": failed}
        await self.db[OUTBOX].update_many(
            query, {"$set": {"published": True, "published_at": utcnow()}}
        )

    async def unpublished(self, older_than: datetime, limit: int = 500) -> list[Event]:
        cursor = self.db[OUTBOX].find(
            {"published": False, "created_at": {"$lte": older_than}},
            sort=[("created_at", ASCENDING)],
            limit=limit,
        )
        return [event async for d in cursor for event in _outbox_events(d)]


def _outbox_events(doc: dict[str, Any]) -> list[Event]:
    """The events of an outbox document (one per document before they were grouped)."""
    raw = doc["events"] if "events" in doc else [doc["event"]]
    return [Event.model_validate(e) for e in raw]


__all__ = [
    "CANNED",
    "NO_DUE",
    "OBSOLETE_MESSAGE_INDEXES",
    "OBSOLETE_OUTBOX_INDEXES",
    "PUBLISHED",
    "WRITE_TRIES",
    "Change",
    "Queue",
    "conversation_view",
    "insert_new",
    "message_view",
    "stable_id",
    "together",
]
