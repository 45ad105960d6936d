"""Splitting a conversation: messages a customer wrote about a new topic in an old thread go
to a new conversation, linked both ways (`linked_conversation_id` → the original, whose
detail lists the new one among its linked conversations).

The thread keys of the moved messages (their own keys, and for mail our replies' Message-IDs)
are moved by the router (ThreadMove), so the customer's later replies to the split part
follow it. A key shared by messages on both sides (a chat's user key) goes with the side
that holds its latest message: that is where the customer's next chat message belongs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from inbox_core import sla as sla_clock
from inbox_core import subjects
from inbox_core.commands import ThreadMove
from inbox_core.errors import BusUnavailable
from inbox_core.schema import ConversationStatus, Event, new_id, utcnow
from inbox_core.store import CONVERSATIONS, MESSAGES
from inbox_core.text import normalise_subject
from inbox_notifier.desk import Desk
from inbox_notifier.queue import PREVIEW_CHARS, SEARCH_CHARS, conversation_view
from inbox_notifier.routing import ApiError, conflict

OPEN: Final = ConversationStatus.OPEN.value
MERGED: Final = ConversationStatus.MERGED.value
# Fields the new conversation takes from the original (how it was routed, who owns it).
INHERITED: Final = ("team", "priority", "category", "tags", "customer_id", "assignee")


def _invalid(message: str) -> ApiError:
    return ApiError(422, "invalid_split", message, [{"field": "message_ids", "message": message}])


def _keys(doc: dict[str, Any]) -> list[str]:
    """The thread keys a message stands for: its own, or for a reply sent by mail the
    Message-ID the customer's answer will refer to."""
    keys = list(doc.get("thread_keys") or [])
    sent_as = (doc.get("delivery") or {}).get("external_id")
    if sent_as and doc.get("channel") == "mail":
        keys.append(f"mail:{sent_as.strip('<>')}")
    return keys


def keys_to_move(moved: list[dict[str, Any]], kept: list[dict[str, Any]]) -> list[str]:
    """Keys of the moved messages whose latest message is among the moved ones."""
    latest_kept: dict[str, datetime] = {}
    for doc in kept:
        for key in _keys(doc):
            at = doc["created_at"]
            latest_kept[key] = max(latest_kept.get(key, at), at)
    keys: dict[str, None] = {}
    for doc in moved:
        for key in _keys(doc):
            if key not in latest_kept or doc["created_at"] >= latest_kept[key]:
                keys[key] = None
    return list(keys)


def _customer_messages(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("direction") == "in" and d.get("kind", "message") == "message"]


async def split_conversation(
    desk: Desk, conv_id: str, message_ids: list[str], agent: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Returns (the new conversation, the original after the split)."""
    conv = await desk.conversation(conv_id)
    if conv.get("status") == MERGED:
        raise conflict("already_merged", "a merged conversation has no messages to split")
    db = desk.db
    wanted = set(message_ids)
    thread = [
        dict(d)
        async for d in db[MESSAGES].find(
            {"conversation_id": conv_id}, sort=[("created_at", 1), ("_id", 1)]
        )
    ]
    moved = [d for d in thread if d["_id"] in wanted]
    kept = [d for d in thread if d["_id"] not in wanted]
    missing = wanted - {d["_id"] for d in moved}
    if missing:
        raise _invalid(f"not messages of this conversation: {', '.join(sorted(missing))[:300]}")
    moved_in, kept_in = _customer_messages(moved), _customer_messages(kept)
    if not moved_in or not kept_in:
        raise _invalid("each side of a split needs at least one customer message")
    now = utcnow()
    first, last = moved_in[0], moved_in[-1]
    subject = first.get("subject") or (first.get("text") or "")[:60] or conv.get("subject")
    answered = any(
        d.get("direction") == "out"
        and d.get("kind") == "message"
        and d["created_at"] > last["created_at"]
        for d in moved
    )
    sla_state = sla_clock.on_split(conv.get("sla") or {}, answered, now, desk.queue.clock)
    new_conv_id = new_id()
    texts = " ".join(d.get("text") or "" for d in moved_in)
    doc: dict[str, Any] = {
        "_id": new_conv_id,
        "number": await desk.queue.store.next_number("conversation"),
        "status": OPEN,
        "channel": last.get("channel") or conv.get("channel"),
        "account": last.get("account") or conv.get("account"),
        **{k: conv.get(k) for k in INHERITED},
        "subject": subject,
        "subject_norm": normalise_subject(subject),
        "customer": last.get("customer") or conv.get("customer"),
        "routing_reasons": [f"split from #{conv.get('number')} by {agent}"],
        "linked_conversation_id": conv_id,
        "split_from": conv_id,
        "created_at": first["created_at"],
        "updated_at": now,
        "last_message_at": moved[-1]["created_at"],
        "version": 1,
        "message_count": len(moved_in),
        "preview": (last.get("text") or "").strip()[:PREVIEW_CHARS],
        "search": [f"{subject or ''} {texts}"[:SEARCH_CHARS]],
        **desk.queue.sla_fields(sla_state, now),
    }
    await db[CONVERSATIONS].insert_one(doc)
    await db[MESSAGES].update_many(
        {"_id": {"$in": [d["_id"] for d in moved]}, "conversation_id": conv_id},
        {"$set": {"conversation_id": new_conv_id, "split_from": conv_id}},
    )
    original = await desk._update(
        conv_id,
        {},
        {
            "$set": {
                "message_count": len(kept_in),
                "last_message_at": kept[-1]["created_at"],
                "preview": (kept_in[-1].get("text") or "").strip()[:PREVIEW_CHARS],
            },
            "$addToSet": {"split_into": new_conv_id},
        },
        "conflict",
        "conversation changed",
    )
    await desk.queue.count_changes([(None, doc), (conv, original)])
    keys = keys_to_move(moved, kept)
    if keys:
        try:
            await desk.publisher.runtime.bus.publish_model(
                subjects.THREAD_MOVES,
                ThreadMove(
                    id=f"split-{new_conv_id}",
                    from_conversation_id=conv_id,
                    to_conversation_id=new_conv_id,
                    keys=keys,
                    reason="split",
                ),
                msg_id=f"threads.move:split:{new_conv_id}",
            )
        except BusUnavailable as err:
            raise ApiError(
                503,
                "bus_unavailable",
                "split, but the router could not be told: replies to the split part may "
                "still join the original",
            ) from err
    created = Event(
        id=f"conversation.created:{new_conv_id}",
        type="conversation.created",
        conversation_id=new_conv_id,
        conversation=conversation_view(doc),
    )
    await desk.publisher.publish(await desk.queue.save_events([created]))
    await desk._emit(original, [])
    return doc, original
