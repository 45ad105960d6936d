"""SLA warning and breach timers. Deadlines live in the store (`sla_warn_at`,
`sla_deadline`), so timers survive restarts; a conditional update marks each deadline as
warned/breached (`sla_warned_for`, `sla_breached_for`), so each event fires exactly once per
deadline, even with several notifier replicas or after a restart.

The due queries are index ranges with both ends: the embedded store walks a range open at
the bottom from the nulls up (every open conversation whose warning was consumed), and it
answers `sla.breached: {$ne: true}` by reading every open conversation. Both were a scan of
the open conversations on every tick."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from inbox_core.guarded_update import update_returning
from inbox_core.logging import get_logger
from inbox_core.schema import ConversationStatus, Event, utcnow
from inbox_core.store import CONVERSATIONS
from inbox_notifier.events import EventPublisher
from inbox_notifier.queue import Queue, conversation_view

log = get_logger(__name__)

OPEN = ConversationStatus.OPEN.value
# The bottom of a due range: below every stored time, above null.
SINCE_EVER: Final = datetime(1970, 1, 1, tzinfo=UTC)


async def _fire(
    queue: Queue, publisher: EventPublisher, kind: str, conv: dict[str, Any], deadline: Any
) -> None:
    event = Event(
        id=f"{kind}:{conv['_id']}:{deadline.isoformat()}",
        type=kind,  # type: ignore[arg-type]
        conversation_id=conv["_id"],
        conversation=conversation_view(conv),
    )
    await publisher.publish(await queue.save_events([event]))


def _breached(conv: dict[str, Any] | None, value: bool = True) -> dict[str, Any] | None:
    """The conversation with `sla.breached` set: the other side of the breach write, for
    the report counters."""
    if conv is None:
        return None
    return {**conv, "sla": {**(conv.get("sla") or {}), "breached": value}}


async def fire_due(queue: Queue, publisher: EventPublisher, limit: int = 500) -> int:
    """Emit sla.warning / sla.breached for deadlines that passed; returns how many fired."""
    db = queue.db
    now = utcnow()
    fired = 0
    # Warnings: a due warning is consumed (sla_warn_at cleared) whether or not it fires, so
    # the query only ever sees new ones.
    async for doc in db[CONVERSATIONS].find(
        {"status": OPEN, "sla_warn_at": {"$gte": SINCE_EVER, "$lte": now}},
        {"_id": 1, "sla_deadline": 1},
        limit=limit,
    ):
        deadline = doc.get("sla_deadline")
        updated = await update_returning(
            db[CONVERSATIONS],
            {"_id": doc["_id"], "sla_deadline": deadline, "sla_warned_for": {"$ne": deadline}},
            {"$set": {"sla_warned_for": deadline, "sla_warn_at": None}, "$inc": {"version": 1}},
            projection={"search": 0},
        )
        if updated is None:  # warned already for this deadline, or the deadline moved
            await db[CONVERSATIONS].update_one(
                {"_id": doc["_id"], "sla_deadline": deadline}, {"$set": {"sla_warn_at": None}}
            )
            continue
        if deadline is not None:
            await _fire(queue, publisher, "sla.warning", updated, deadline)
            fired += 1
    # Not breached: `false`, or no flag at all (null matches a missing field); one indexed
    # range each, where `{$ne: true}` would read every open conversation.
    due = [
        doc
        for flag in (False, None)
        async for doc in db[CONVERSATIONS].find(
            {
                "status": OPEN,
                "sla.breached": flag,
                "sla_deadline": {"$gte": SINCE_EVER, "$lte": now},
            },
            {"_id": 1, "sla_deadline": 1},
            limit=limit,
        )
    ]
    for doc in due[:limit]:
        deadline = doc["sla_deadline"]
        updated = await update_returning(
            db[CONVERSATIONS],
            {"_id": doc["_id"], "sla_deadline": deadline, "sla_breached_for": {"$ne": deadline}},
            {
                "$set": {"sla_breached_for": deadline, "sla.breached": True, "sla_warn_at": None},
                "$inc": {"version": 1},
            },
            projection={"search": 0},
        )
        if updated is None:
            before = await update_returning(
                db[CONVERSATIONS],
                {"_id": doc["_id"], "sla_deadline": deadline},
                {"$set": {"sla.breached": True}},
                after=False,
            )
            await queue.count_changes([(before, _breached(before))])
            continue
        await queue.count_changes([(_breached(updated, False), updated)])
        await _fire(queue, publisher, "sla.breached", updated, deadline)
        fired += 1
    return fired
