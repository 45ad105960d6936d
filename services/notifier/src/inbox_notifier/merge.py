"""Merging two conversations that are one case (a new mail instead of a reply, the same
question on Kakao and by mail).

The other conversation's messages move into this one (the thread reads by time), notes and
delivery states included; the other becomes `merged` with `merged_into`, and the router is
asked (ThreadMove on the bus: it owns the thread keys) to lead its thread keys here, so the
customer's next message lands in the merged conversation. Until the router has done so, it
follows `merged_into` itself. Every step is idempotent: merging again after a failure half
way finishes the merge.
"""

from __future__ import annotations

from typing import Any

from inbox_core import sla as sla_clock
from inbox_core import subjects
from inbox_core.commands import ThreadMove
from inbox_core.errors import BusUnavailable
from inbox_core.schema import ConversationStatus, utcnow
from inbox_core.store import MESSAGES
from inbox_notifier.desk import Desk
from inbox_notifier.routing import ApiError, conflict

MERGED = ConversationStatus.MERGED.value
OPEN = ConversationStatus.OPEN.value


async def merge_conversations(
    desk: Desk, conv_id: str, other_id: str, agent: str
) -> dict[str, Any]:
    if conv_id == other_id:
        raise conflict("same_conversation", "a conversation cannot be merged into itself")
    target = await desk.conversation(conv_id)
    other = await desk.conversation(other_id)
    if target.get("status") == MERGED:
        raise conflict(
            "already_merged",
            f"conversation #{target.get('number')} was merged into another one; merge there",
        )
    if other.get("status") == MERGED and other.get("merged_into") != conv_id:
        raise conflict("already_merged", f"conversation #{other.get('number')} is merged already")
    db = desk.db
    now = utcnow()
    was_open = other.get("status") == OPEN
    other_sla = dict(other.get("sla") or {})
    if other.get("status") != MERGED:
        before = other
        other = await desk._update(
            other_id,
            {"version": other.get("version", 0)},
            {
                "$set": {
                    "status": MERGED,
                    "merged_into": conv_id,
                    "merged_at": now,
                    "merged_by": agent,
                    "snoozed_until": None,
                    "message_count": 0,
                    **desk.queue.sla_update(other_sla, sla_clock.on_resolved(other_sla), now),
                }
            },
            "conflict",
            "conversation #{number} changed while merging; retry",
        )
        await desk.queue.count_changes([(before, other)])
        await desk._emit(other, [])
    # The other's customer stays on its messages: a reply to them (e.g. on another channel)
    # goes to that identity, not to this conversation's.
    await db[MESSAGES].update_many(
        {"conversation_id": other_id, "customer": {"$exists": False}},
        {"$set": {"customer": other.get("customer") or {}}},
    )
    await db[MESSAGES].update_many(
        {"conversation_id": other_id},
        {"$set": {"conversation_id": conv_id, "merged_from": other_id}},
    )
    note = {
        "_id": f"merge-{other_id}",
        "dedup_id": f"merge:{other_id}",
        "conversation_id": conv_id,
        "direction": "out",
        "kind": "note",
        "author": agent,
        "text": f"#{other.get('number')} 대화를 이 대화로 합쳤습니다 "
        f"(merged conversation #{other.get('number')} into this one)",
        "created_at": now,
        "stored_at": now,
    }
    await db[MESSAGES].update_one(
        {"dedup_id": note["dedup_id"]}, {"$setOnInsert": note}, upsert=True
    )
    # As counted on arrival: messages that came through the channel, not the agents' replies.
    count = await db[MESSAGES].count_documents(
        {"conversation_id": conv_id, "kind": "message", "reply_id": {"$exists": False}}
    )
    fields: dict[str, Any] = {"message_count": count}
    if was_open and target.get("status") != OPEN:
        # The customer is waiting in the other conversation: this one is open now, on the
        # other's clock.
        fields.update({"status": OPEN, "resolved_at": None, "snoozed_until": None})
        sla = sla_clock.on_resume(other_sla, now, desk.queue.clock)
        fields.update(desk.queue.sla_update(target.get("sla") or {}, sla, now))
    update: dict[str, Any] = {
        "$set": fields,
        "$addToSet": {
            "merged_from": other_id,
            "tags": {"$each": list(other.get("tags") or [])},
        },
    }
    if other.get("last_message_at"):
        update["$max"] = {"last_message_at": other["last_message_at"]}
    updated = await desk._update(conv_id, {}, update, "conflict", "conversation changed")
    await desk.queue.count_changes([(target, updated)])
    try:
        await desk.publisher.runtime.bus.publish_model(
            subjects.THREAD_MOVES,
            ThreadMove(
                id=f"merge-{other_id}",
                from_conversation_id=other_id,
                to_conversation_id=conv_id,
                reason="merge",
            ),
            msg_id=f"threads.move:merge:{other_id}",
        )
    except BusUnavailable as err:
        raise ApiError(
            503, "bus_unavailable", "merged, but the router could not be told; merge again"
        ) from err
    await desk._emit(updated, [note])
    return updated
