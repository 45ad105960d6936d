"""Snooze: a pending conversation with `snoozed_until` reopens by itself at that time.

The timer is the field in the store (indexed with the status), checked on the SLA tick, so it
survives restarts. A conditional update on (status, snoozed_until) reopens each snooze once,
even with several notifier replicas. The customer writing earlier reopens the conversation as
any message does (the status is then open, and the timer no longer matches).
"""

from __future__ import annotations

from typing import Any, Final

from inbox_core import sla as sla_clock
from inbox_core.guarded_update import update_returning
from inbox_core.schema import ConversationStatus, Event, utcnow
from inbox_core.store import CONVERSATIONS
from inbox_notifier.events import EventPublisher
from inbox_notifier.queue import Queue, conversation_view
from inbox_notifier.timers import SINCE_EVER

PENDING = ConversationStatus.PENDING.value
SNOOZE_TICK_MIN_S: Final = 1.0  # how often at most the timer asks the store


async def reopen_snoozed(queue: Queue, publisher: EventPublisher, limit: int = 500) -> int:
    """Reopen the conversations whose snooze ended; returns how many."""
    db = queue.db
    now = utcnow()
    reopened = 0
    due = db[CONVERSATIONS].find(
        {"status": PENDING, "snoozed_until": {"$gte": SINCE_EVER, "$lte": now}},
        {"_id": 1, "snoozed_until": 1, "sla": 1, "version": 1},
        limit=limit,
    )
    async for doc in due:
        sla_before = dict(doc.get("sla") or {})
        sla = sla_clock.on_resume(sla_before, now, queue.clock)
        updated: dict[str, Any] | None = await update_returning(
            db[CONVERSATIONS],
            # As read: a change in between (a reply, a customer message) waits a tick.
            {
                "_id": doc["_id"],
                "status": PENDING,
                "snoozed_until": doc["snoozed_until"],
                "version": doc.get("version"),
            },
            {
                "$set": {
                    "status": ConversationStatus.OPEN.value,
                    "snoozed_until": None,
                    "updated_at": now,
                    **queue.sla_update(sla_before, sla, now),
                },
                "$inc": {"version": 1},
            },
            projection={"search": 0},
        )
        if updated is None:  # the customer or an agent changed it meanwhile
            continue
        before = {**updated, "status": PENDING, "sla": doc.get("sla") or {}}
        await queue.count_changes([(before, updated)])
        event = Event(
            id=f"conversation.updated:{updated['_id']}:v{updated.get('version', 0)}",
            type="conversation.updated",
            conversation_id=updated["_id"],
            conversation=conversation_view(updated),
        )
        await publisher.publish(await queue.save_events([event]))
        reopened += 1
    return reopened
