"""SLA warning and breach timers. Deadlines live in the store (`sla_deadline`), so timers
survive restarts; a conditional update marks each deadline as warned/breached
(`sla_warned_for`, `sla_breached_for`), so each event fires exactly once per deadline, even
with several notifier replicas or after a restart.

Both timers are one field and one index `(status, sla_warn_at)`: `sla_warn_at` is the
running deadline's next timer. A writer of the SLA sets it to the warning's time; the warning
moves it on to the deadline itself (the breach), and the breach clears it. A timer found due
whose event fired already (another replica, an SLA write that set the warning's time again)
is moved on the same way, so the field is always the earliest thing still to fire, and a
conversation costs the store one timer index entry where it cost two.

The due query is an index range with both ends: the embedded store walks a range open at the
bottom from the nulls up (every open conversation whose timers are done)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final

from pymongo import UpdateOne

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
# The index the breach timer had before it shared the warning's (dropped at start, after
# `backfill_breach_timers`).
BREACH_INDEX: Final = "status_1_sla.breached_1_sla_deadline_1"
TIMER_FIELDS: Final = {
    "_id": 1,
    "sla_deadline": 1,
    "sla_warn_at": 1,
    "sla_warned_for": 1,
    "sla_breached_for": 1,
    "sla.breached": 1,
}


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


def next_timer(doc: dict[str, Any]) -> datetime | None:
    """After the warning: the breach, unless the conversation is marked breached already
    (then nothing is left to fire for this deadline)."""
    if (doc.get("sla") or {}).get("breached") is True:
        return None
    return doc.get("sla_deadline")


async def fire_due(queue: Queue, publisher: EventPublisher, limit: int = 500) -> int:
    """Emit sla.warning / sla.breached for timers that passed; returns how many fired."""
    db = queue.db
    now = utcnow()
    fired = 0
    due = [
        doc
        async for doc in db[CONVERSATIONS].find(
            {"status": OPEN, "sla_warn_at": {"$gte": SINCE_EVER, "$lte": now}},
            TIMER_FIELDS,
            limit=limit,
        )
    ]
    for doc in due:
        deadline = doc.get("sla_deadline")
        as_read = {"_id": doc["_id"], "sla_deadline": deadline}
        if deadline is None:  # no running deadline: nothing to fire
            await db[CONVERSATIONS].update_one(as_read, {"$set": {"sla_warn_at": None}})
            continue
        if doc.get("sla_warned_for") != deadline:
            updated = await update_returning(
                db[CONVERSATIONS],
                {**as_read, "sla_warned_for": {"$ne": deadline}},
                {
                    "$set": {"sla_warned_for": deadline, "sla_warn_at": next_timer(doc)},
                    "$inc": {"version": 1},
                },
                projection={"search": 0},
            )
            if updated is None:  # warned meanwhile, or the deadline moved: the next tick sees
                continue
            await _fire(queue, publisher, "sla.warning", updated, deadline)
            fired += 1
        if deadline > now:
            if doc.get("sla_warned_for") == deadline:  # warned before: on to the breach
                await db[CONVERSATIONS].update_one(
                    {**as_read, "sla_warn_at": doc["sla_warn_at"]},
                    {"$set": {"sla_warn_at": next_timer(doc)}},
                )
            continue
        if (doc.get("sla") or {}).get("breached") is True:  # breached already: done
            await db[CONVERSATIONS].update_one(as_read, {"$set": {"sla_warn_at": None}})
            continue
        updated = await update_returning(
            db[CONVERSATIONS],
            {**as_read, "sla_breached_for": {"$ne": deadline}},
            {
                "$set": {"sla_breached_for": deadline, "sla.breached": True, "sla_warn_at": None},
                "$inc": {"version": 1},
            },
            projection={"search": 0},
        )
        if updated is None:
            before = await update_returning(
                db[CONVERSATIONS],
                as_read,
                {"$set": {"sla.breached": True, "sla_warn_at": None}},
                after=False,
            )
            await queue.count_changes([(before, _breached(before))])
            continue
        await queue.count_changes([(_breached(updated, False), updated)])
        await _fire(queue, publisher, "sla.breached", updated, deadline)
        fired += 1
    return fired


async def backfill_breach_timers(queue: Queue, batch: int = 500) -> int:
    """Conversations warned under the earlier scheme (a consumed warning cleared
    `sla_warn_at`, and the breach had its own index): their timer moves on to the deadline.
    Run at start while that index exists, before it is dropped; idempotent (each write is
    guarded by the fields as read). Returns how many it moved."""
    coll = queue.db[CONVERSATIONS]
    names = {ix["name"] async for ix in await coll.list_indexes()}
    if BREACH_INDEX not in names:
        return 0
    ops = [
        UpdateOne(
            {"_id": doc["_id"], "sla_warn_at": None, "sla_deadline": doc["sla_deadline"]},
            {"$set": {"sla_warn_at": doc["sla_deadline"]}},
        )
        async for doc in coll.find({"status": OPEN, "sla_warn_at": None}, TIMER_FIELDS)
        if doc.get("sla_deadline") is not None
        and next_timer(doc) is not None
        and doc.get("sla_breached_for") != doc["sla_deadline"]
    ]
    for start in range(0, len(ops), batch):
        await coll.bulk_write(ops[start : start + batch], ordered=False)
    if ops:
        log.info("SLA breach timers moved to the shared timer field", count=len(ops))
    return len(ops)
