"""Customers across channels (conversation rule 6) and what the rules need to know about them.

A customer is known by keys: its channel identity (`channel:account:id`), its e-mail address
and its phone number. Each key maps to one customer through a document in `customer_keys`
whose `_id` is the key, claimed with an atomic upsert. So the same e-mail on mail and Kakao,
or the same phone on Naver TalkTalk and Kakao, lead to one customer even when the first
messages of both channels are routed at the same moment. A key already owned by another
customer is never taken over: two existing customers are merged by an agent, not by a guess.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TypeAlias

from pymongo.errors import DuplicateKeyError

from inbox_core.batched import BatchedDatabase
from inbox_core.errors import TransientError
from inbox_core.schema import InboundMessage, utcnow
from inbox_core.store import CONVERSATIONS, CUSTOMER_KEYS, CUSTOMER_MERGES, CUSTOMERS
from inbox_router.facts import CustomerFacts
from inbox_router.ids import uuid5_hex
from inbox_router.normalise import normalise_phone

_NAMESPACE: Final = uuid.UUID("6f1c3a52-3f5e-4d43-9a53-2b8f7d0c9e11")

# Concurrent calls of a batch's messages go out together.
Db: TypeAlias = BatchedDatabase


@dataclass(frozen=True)
class CustomerKeys:
    identity: str
    email: str | None
    phone: str | None

    @classmethod
    def of(cls, message: InboundMessage) -> CustomerKeys:
        email = (message.customer.email or "").strip().lower() or None
        phone = normalise_phone(message.customer.phone)
        return cls(f"{message.channel}:{message.account}:{message.customer.id}", email, phone)

    def lock_ids(self) -> dict[str, str]:
        """Lock document ids in lookup order: the identity first, then shared keys."""
        ids = {"identity": f"identity:{self.identity}"}
        if self.email:
            ids["email"] = f"email:{self.email}"
        if self.phone:
            ids["phone"] = f"phone:{self.phone}"
        return ids


def stored_lock_ids(doc: dict[str, Any]) -> list[str]:
    """The key lock ids of a stored customer document (or merge record), as
    `CustomerKeys.lock_ids` makes them for its messages."""
    ids = [f"identity:{i}" for i in doc.get("identities") or [] if i]
    ids += [f"email:{e}" for x in doc.get("emails") or [] if (e := str(x).strip().lower())]
    ids += [f"phone:{p}" for x in doc.get("phones") or [] if (p := normalise_phone(str(x)))]
    return list(dict.fromkeys(ids))


# What the router reads of a known customer's conversations: the latest contact for its
# facts, status, channel, account and subject for rule 4 (inbox_router.conversations).
CONVERSATION_FIELDS: Final = {
    "status": 1,
    "channel": 1,
    "account": 1,
    "subject_norm": 1,
    "last_message_at": 1,
}


@dataclass(frozen=True)
class CustomerRecord:
    id: str
    vip: bool = False
    new: bool = False  # inserted by this message: no flag and no other conversation yet
    # A known customer's conversations (CONVERSATION_FIELDS), read with its document.
    conversations: tuple[dict[str, Any], ...] = field(default=(), compare=False, repr=False)


def minted_customer_id(keys: CustomerKeys) -> str:
    """The id a new customer gets from its identity: stable across redeliveries."""
    return uuid5_hex(_NAMESPACE, f"customer:{keys.identity}")


async def _claim(db: Db, lock_id: str, customer_id: str) -> str:
    try:
        result = await db[CUSTOMER_KEYS].update_one(
            {"_id": lock_id},
            {"$setOnInsert": {"customer_id": customer_id, "created_at": utcnow()}},
            upsert=True,
        )
        if result.upserted_id is not None:
            return customer_id  # ours
    except DuplicateKeyError:
        pass  # a concurrent claim won; read it back
    return await _owner(db, lock_id)


async def _owner(db: Db, lock_id: str) -> str:
    doc = await db[CUSTOMER_KEYS].find_one({"_id": lock_id})
    if doc is None:
        raise TransientError(f"customer key {lock_id!r} vanished while linking")
    return str(doc["customer_id"])


async def _repoint(db: Db, lock_id: str, old: str, new: str) -> str:
    await db[CUSTOMER_KEYS].update_one(
        {"_id": lock_id, "customer_id": old}, {"$set": {"customer_id": new}}
    )
    return await _owner(db, lock_id)


async def _owners(db: Db, lock_ids: dict[str, str]) -> dict[str, str]:
    """Lock id → customer id, for the keys already claimed."""
    docs = await db[CUSTOMER_KEYS].find_in("_id", list(lock_ids.values()))
    return {str(d["_id"]): str(d["customer_id"]) for d in docs}


def _found(keys: CustomerKeys, owners: dict[str, str]) -> str | None:
    """The customer of the first known key: identity, then e-mail, then phone. Customers
    recorded without key locks got them at the router's start (legacy_customers)."""
    return next((owners[i] for i in keys.lock_ids().values() if i in owners), None)


async def _read_known(
    db: Db, customer_id: str, projection: dict[str, Any]
) -> tuple[dict[str, Any] | None, tuple[dict[str, Any], ...]]:
    """A known customer's document and its conversations, in one round: the conversations
    are needed for its facts (and rule 4) anyway, and a merged-away customer is rare."""
    doc, mine = await asyncio.gather(
        db[CUSTOMERS].find_one({"_id": customer_id}, projection),
        db[CONVERSATIONS].find_in("customer_id", [customer_id], CONVERSATION_FIELDS),
    )
    return doc, tuple(mine)


async def find_customer(db: Db, message: InboundMessage) -> CustomerRecord | None:
    """The known customer of `message`, without creating one (for automatic mail)."""
    keys = CustomerKeys.of(message)
    customer_id = _found(keys, await _owners(db, keys.lock_ids()))
    if customer_id is None:
        return None
    doc, mine = await _read_known(db, customer_id, {"vip": 1})
    return CustomerRecord(customer_id, vip=bool(doc and doc.get("vip")), conversations=mine)


async def link_customer(db: Db, message: InboundMessage) -> CustomerRecord:
    """The customer of `message`, created or linked by e-mail/phone (idempotent)."""
    keys = CustomerKeys.of(message)
    lock_ids = keys.lock_ids()
    owners = await _owners(db, lock_ids)
    fresh = False
    if all(i in owners for i in lock_ids.values()):
        # Every key is known (a returning customer, a redelivery): nothing to claim.
        customer_id = owners[lock_ids["identity"]]
        owned = {kind for kind, i in lock_ids.items() if owners[i] == customer_id}
    else:
        found = _found(keys, owners)
        customer_id, owned = await _claim_keys(db, keys, owners, found)
        # The identity was unknown and now leads to the id it mints: a new customer.
        fresh = lock_ids["identity"] not in owners and customer_id == minted_customer_id(keys)
    return await _upsert(db, customer_id, keys, owned, message.customer.name, fresh=fresh)


async def _claim_keys(
    db: Db, keys: CustomerKeys, owners: dict[str, str], found: str | None
) -> tuple[str, set[str]]:
    lock_ids = keys.lock_ids()
    minted = minted_customer_id(keys)
    identity = lock_ids["identity"]
    customer_id = owners.get(identity) or await _claim(db, identity, found or minted)
    owned = {"identity"}
    for kind in ("email", "phone"):
        if kind not in lock_ids:
            continue
        owner = owners.get(lock_ids[kind]) or await _claim(db, lock_ids[kind], customer_id)
        if owner == customer_id:
            owned.add(kind)
        elif customer_id == minted and found is None:
            # A new identity racing another new identity with the same e-mail/phone: the
            # fresh customer yields to the one that claimed the shared key first.
            customer_id = await _repoint(db, identity, minted, owner)
            owned = {"identity", kind}
    return customer_id, owned


_FIELDS: Final = {"identity": "identities", "email": "emails", "phone": "phones"}
MAX_MERGES: Final = 8  # a chain of merged customers longer than this is a bug
_PROJECTION: Final = {"vip": 1, "name": 1, **{field: 1 for field in _FIELDS.values()}}


def _held(keys: CustomerKeys, owned: set[str]) -> dict[str, str]:
    """The customer document's list field → the value of this message it must hold."""
    values = {"identity": keys.identity, "email": keys.email, "phone": keys.phone}
    return {
        field: value
        for kind, field in _FIELDS.items()
        if (value := values[kind]) and (kind == "identity" or kind in owned)
    }


async def _insert(
    db: Db, customer_id: str, held: dict[str, str], name: str | None
) -> CustomerRecord | None:
    """A new customer as one insert of the whole document (the batched store sends a
    `$setOnInsert`-only upsert by `_id` as an insert); None when it exists already."""
    now = utcnow()
    doc: dict[str, Any] = {field: [value] for field, value in held.items()}
    doc.update(created_at=now, updated_at=now, **({"name": name} if name else {}))
    try:
        result = await db[CUSTOMERS].update_one(
            {"_id": customer_id}, {"$setOnInsert": doc}, upsert=True
        )
    except DuplicateKeyError:
        return None  # a racing copy of this message inserted it first
    return CustomerRecord(customer_id, new=True) if result.upserted_id is not None else None


async def _upsert(
    db: Db,
    customer_id: str,
    keys: CustomerKeys,
    owned: set[str],
    name: str | None,
    *,
    fresh: bool = False,
    merges: int = 0,
) -> CustomerRecord:
    """Record this message's keys and name on the customer, writing only what changes.

    A `fresh` customer (its identity just claimed for the id it mints) is inserted whole; a
    known one is read (its VIP flag is needed anyway) and updated only when this message
    brings a key or a name it does not hold yet, so a returning customer costs no write.
    When the document is missing because an agent merged the customer away after this
    message read its keys (or a key of it was claimed by a message that never recorded it
    on the customer, so the merge did not move it), the message's keys move to the customer
    it went into and the message links there. Otherwise (a customer still being inserted by
    a racing message, or one whose insert was lost) the update is an upsert, as before.
    """
    held = _held(keys, owned)
    if fresh and (inserted := await _insert(db, customer_id, held, name)) is not None:
        return inserted
    doc, mine = await _read_known(db, customer_id, _PROJECTION)
    if doc is None and merges < MAX_MERGES:
        followed = await _follow_merge(db, customer_id, keys, owned)
        if followed is not None:
            into, still = followed
            return await _upsert(db, into, keys, still, name, merges=merges + 1)
    missing = held
    if doc is not None:
        missing = {f: v for f, v in held.items() if v not in (doc.get(f) or [])}
        if not missing and (not name or doc.get("name") == name):
            return CustomerRecord(customer_id, vip=bool(doc.get("vip")), conversations=mine)
    now = utcnow()
    update: dict[str, Any] = {
        "$set": {"updated_at": now, **({"name": name} if name else {})},
        "$setOnInsert": {"created_at": now},
    }
    if missing:
        update["$addToSet"] = missing
    try:
        result = await db[CUSTOMERS].update_one({"_id": customer_id}, update, upsert=True)
    except DuplicateKeyError:
        # A concurrent upsert of the same customer inserted first; update the stored one.
        result = await db[CUSTOMERS].update_one({"_id": customer_id}, update)
    if result.upserted_id is not None:
        return CustomerRecord(customer_id, new=True)
    return CustomerRecord(customer_id, vip=bool(doc and doc.get("vip")), conversations=mine)


async def _follow_merge(
    db: Db, customer_id: str, keys: CustomerKeys, owned: set[str]
) -> tuple[str, set[str]] | None:
    """(customer merged into, kinds of this message's keys it owns now) when `customer_id`
    was merged away; None when it was not."""
    record = await db[CUSTOMER_MERGES].find_one({"_id": customer_id}, {"into": 1})
    if record is None:
        return None
    into, lock_ids = str(record["into"]), keys.lock_ids()
    still = {k for k in owned if await _repoint(db, lock_ids[k], customer_id, into) == into}
    return into, still


def customer_facts(customer: CustomerRecord | None, conversation_id: str) -> CustomerFacts:
    """VIP flag, earlier conversations and the latest contact outside this conversation."""
    if customer is None:
        return CustomerFacts()
    if customer.new:
        return CustomerFacts(id=customer.id)
    # The customer's conversations (read with its document, by the indexed customer_id),
    # counted and compared here rather than with a sorted query and a count.
    others = [d for d in customer.conversations if d["_id"] != conversation_id]
    times = [t for d in others if (t := d.get("last_message_at")) is not None]
    last: datetime | None = max(times) if times else None
    return CustomerFacts(
        id=customer.id,
        vip=customer.vip,
        earlier_conversations=len(others),
        last_other_contact_at=last,
    )
