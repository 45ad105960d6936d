"""Commands the router carries out for other services on its own collections (one writer
per collection): `inbox.cmd.threads.move` repoints thread keys after an agent merged or
split conversations, so the customer's next message lands where the agent put the thread;
`inbox.cmd.customers.merge` merges two customers an admin found to be one person, so the
other's next message (by any of its channels) links to the one it went into."""

from __future__ import annotations

from typing import Any

from nats.aio.msg import Msg
from pymongo.asynchronous.database import AsyncDatabase

from inbox_core.bus import Bus
from inbox_core.commands import CustomerMerge, ThreadMove, confirm_done
from inbox_core.logging import get_logger
from inbox_core.schema import utcnow
from inbox_core.store import CUSTOMER_KEYS, CUSTOMER_MERGES, CUSTOMERS, THREADS
from inbox_router.customers import stored_lock_ids

log = get_logger(__name__)
_KEPT = ("identities", "emails", "phones")


async def move_threads(db: AsyncDatabase[dict[str, Any]], move: ThreadMove) -> int:
    """Point the keys that lead to `from` at `to` (a compare-and-set per key: a key another
    message has since claimed elsewhere stays there). Returns how many moved."""
    filter_: dict[str, Any] = {"conversation_id": move.from_conversation_id}
    if move.keys is not None:
        filter_["_id"] = {"$in": move.keys}
    result = await db[THREADS].update_many(
        filter_,
        {
            "$set": {
                "conversation_id": move.to_conversation_id,
                "previous_conversation_id": move.from_conversation_id,
                "moved_by": f"{move.reason}:{move.id}",
            }
        },
    )
    log.info("thread keys moved", reason=move.reason, count=result.modified_count)
    return result.modified_count


async def merge_customers(db: AsyncDatabase[dict[str, Any]], merge: CustomerMerge) -> bool:
    """Merge `from` into `to`. Idempotent and safe to stop half-way: what the other customer
    had is recorded with its alias first, so a redelivery finishes from the record after the
    other is gone. Returns False when neither the customer nor its record is known."""
    other, into = merge.from_customer_id, merge.to_customer_id
    doc = await db[CUSTOMERS].find_one({"_id": other})
    if doc is not None:
        await db[CUSTOMER_MERGES].update_one(
            {"_id": other},
            {"$set": {"into": into, "at": utcnow(), "by": merge.by, **_had(doc)}},
            upsert=True,
        )
    else:
        doc = await db[CUSTOMER_MERGES].find_one({"_id": other, "into": into})
        if doc is None:
            log.warning("customer merge of an unknown customer ignored", command=merge.id)
            return False
    # The router finds customers by their keys: once these lead to `into`, the other's next
    # message joins it, whatever else is still to do. (A key of the other that its record
    # does not hold, or one a message reads before this, is moved by that message: it finds
    # the other gone and this merge recorded.)
    await _move_keys(db, stored_lock_ids(doc), other, into)
    # An identity belongs to one customer: it joins `into` once the other is gone. What it had
    # at that moment, in case a message added to it since the record.
    gone = await db[CUSTOMERS].find_one_and_delete({"_id": other})
    had = _had(gone or doc)
    if gone is not None:
        await _move_keys(
            db, sorted(set(stored_lock_ids(had)) - set(stored_lock_ids(doc))), other, into
        )
    await db[CUSTOMERS].update_one(
        {"_id": into},
        {
            "$addToSet": {field: {"$each": had[field]} for field in _KEPT},
            "$set": {"updated_at": utcnow()},
        },
    )
    log.info("customers merged", command=merge.id)
    return True


async def _move_keys(
    db: AsyncDatabase[dict[str, Any]], lock_ids: list[str], other: str, into: str
) -> None:
    """Point these keys of `other` at `into` (by id: a key claimed since by someone else
    stays where it is)."""
    if lock_ids:
        await db[CUSTOMER_KEYS].update_many(
            {"_id": {"$in": lock_ids}, "customer_id": other}, {"$set": {"customer_id": into}}
        )


def _had(doc: dict[str, Any]) -> dict[str, list[Any]]:
    return {field: list(doc.get(field) or []) for field in _KEPT}


def command_handler(db: AsyncDatabase[dict[str, Any]]) -> Any:
    async def handle(msg: Msg) -> None:
        await move_threads(db, ThreadMove.from_json(msg.data))

    return handle


def customer_merge_handler(db: AsyncDatabase[dict[str, Any]], bus: Bus) -> Any:
    async def handle(msg: Msg) -> None:
        await merge_customers(db, CustomerMerge.from_json(msg.data))
        await confirm_done(bus, msg)

    return handle
