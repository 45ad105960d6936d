"""Conversation resolution: which conversation does a message belong to?

Atomic under concurrency and redelivery: a thread key maps to one conversation through an
upsert on the key (`threads._id`), so two messages of a new thread processed at once get
the same conversation, and `created_by` tells, on every redelivery, which message created it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import IndexModel
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from inbox_core.errors import TransientError
from inbox_core.schema import InboundMessage, new_id, utcnow
from inbox_core.store import CUSTOMERS, THREADS

INDEXES = {
    THREADS: [IndexModel([("conversation_id", 1), ("origin", 1)])],
    CUSTOMERS: [
        IndexModel("identities", unique=True),
        IndexModel("emails"),
        IndexModel("phones"),
    ],
}


@dataclass(frozen=True)
class Resolution:
    conversation_id: str
    created: bool


async def find_conversation(db: AsyncDatabase[dict[str, Any]], keys: list[str]) -> str | None:
    """The conversation of the first key (in the order given) that is already known."""
    docs = {d["_id"]: d async for d in db[THREADS].find({"_id": {"$in": keys}})}
    for key in keys:
        if key in docs:
            return str(docs[key]["conversation_id"])
    return None


async def _claim_key(
    db: AsyncDatabase[dict[str, Any]],
    key: str,
    conversation_id: str,
    created_by: str,
    *,
    origin: bool,
) -> str:
    """Map `key` to `conversation_id` unless it is mapped already; return the winner.

    The upsert on the key is the lock: of two racing messages one inserts and both read the
    same mapping back. A racing upsert may also fail with a duplicate key; it then just reads.
    """
    try:
        await db[THREADS].update_one(
            {"_id": key},
            {
                "$setOnInsert": {
                    "conversation_id": conversation_id,
                    "created_by": created_by,
                    "origin": origin,
                    "created_at": utcnow(),
                }
            },
            upsert=True,
        )
    except DuplicateKeyError:
        pass
    doc = await db[THREADS].find_one({"_id": key}, {"conversation_id": 1})
    if doc is None:
        raise TransientError(f"thread key {key!r} vanished while resolving")
    return str(doc["conversation_id"])


async def resolve_conversation(
    db: AsyncDatabase[dict[str, Any]], message: InboundMessage
) -> Resolution:
    keys = [*message.references, *message.thread_keys]
    conversation_id = await find_conversation(db, keys)
    if conversation_id is None:
        conversation_id = await _claim_key(
            db, message.thread_keys[0], new_id(), message.dedup_id, origin=True
        )
    # Map every own key of this message, so later replies referring to it join.
    for key in message.thread_keys:
        await _claim_key(db, key, conversation_id, message.dedup_id, origin=False)
    origin = await db[THREADS].find_one(
        {"conversation_id": conversation_id, "origin": True}, {"created_by": 1}
    )
    created = origin is not None and origin.get("created_by") == message.dedup_id
    return Resolution(conversation_id, created)


async def link_customer(db: AsyncDatabase[dict[str, Any]], message: InboundMessage) -> str:
    """One customer per channel identity; the same e-mail or phone on another channel links
    to the same customer (conversation rule 6)."""
    identity = f"{message.channel}:{message.account}:{message.customer.id}"
    email = (message.customer.email or "").strip().lower() or None
    phone = "".join(ch for ch in (message.customer.phone or "") if ch.isdigit()) or None
    doc = await db[CUSTOMERS].find_one({"identities": identity}, {"_id": 1})
    if doc is None and (email or phone):
        ors: list[dict[str, Any]] = []
        if email:
            ors.append({"emails": email})
        if phone:
            ors.append({"phones": phone})
        doc = await db[CUSTOMERS].find_one({"$or": ors}, {"_id": 1})
    update: dict[str, Any] = {
        "$addToSet": {"identities": identity},
        "$set": {"updated_at": utcnow()},
    }
    if email:
        update["$addToSet"]["emails"] = email
    if phone:
        update["$addToSet"]["phones"] = phone
    if message.customer.name:
        update["$set"]["name"] = message.customer.name
    if doc is None:
        new = {
            "_id": new_id(),
            "identities": [identity],
            "emails": [email] if email else [],
            "phones": [phone] if phone else [],
            "name": message.customer.name,
            "created_at": utcnow(),
            "updated_at": utcnow(),
        }
        try:
            await db[CUSTOMERS].insert_one(new)
            return str(new["_id"])
        except DuplicateKeyError:  # a concurrent message of the same customer won
            doc = await db[CUSTOMERS].find_one({"identities": identity}, {"_id": 1})
            assert doc is not None
    await db[CUSTOMERS].update_one({"_id": doc["_id"]}, update)
    return str(doc["_id"])
