"""Customers recorded without key locks get them once, at the router's start.

The router finds a customer by its keys only (`customer_keys`: `identity:`, `email:`,
`phone:` → customer). Customer documents from before the keys existed, or written into the
store by other means, were once found through indexes on `customers.identities`, `emails`
and `phones`; every customer write paid those three indexes (a multikey unique one among
them) for lookups that almost never hit. Instead, the router's start claims the keys of such
customers (`backfill_customer_keys`, before it consumes any message) and drops the indexes.

The backfill reads the customers in pages and claims each key with an insert that leaves
a key already claimed as it is (a key is never taken over: two customers sharing an e-mail
are merged by an agent, not by a guess). It is recorded in `routing_state` when done, so
later starts skip it; to run it again (after writing customer documents into the store by
hand), delete the `routing_state` document `customer_keys_backfill` and restart the router.
"""

from __future__ import annotations

import contextlib
from typing import Any, Final

from pymongo import InsertOne
from pymongo.errors import BulkWriteError, OperationFailure

from inbox_core.logging import get_logger
from inbox_core.schema import utcnow
from inbox_core.store import CUSTOMER_KEYS, CUSTOMERS, ROUTING_STATE
from inbox_router.customers import stored_lock_ids

log = get_logger(__name__)

BACKFILL_DOC: Final = "customer_keys_backfill"
PAGE: Final = 500  # customers per read and per bulk insert of their keys
# Indexes an earlier version created that no query uses any more: lookups of customers
# without key locks, and the merge's keys by customer (it moves the keys it knows by id).
OBSOLETE_INDEXES: Final = {
    CUSTOMERS: ("identities_1", "emails_1", "phones_1"),
    CUSTOMER_KEYS: ("customer_id_1",),
}


async def _claim_page(db: Any, docs: list[dict[str, Any]]) -> tuple[int, int]:
    """Claim the keys of a page of customers; (claimed, already claimed)."""
    now = utcnow()
    ops = [
        InsertOne({"_id": lock_id, "customer_id": doc["_id"], "created_at": now})
        for doc in docs
        for lock_id in stored_lock_ids(doc)
    ]
    if not ops:
        return 0, 0
    try:
        result = await db[CUSTOMER_KEYS].bulk_write(ops, ordered=False)
        return result.inserted_count, 0
    except BulkWriteError as err:
        errors = err.details.get("writeErrors", [])
        if any(e.get("code") != 11000 for e in errors):
            raise
        return err.details.get("nInserted", 0), len(errors)


async def backfill_customer_keys(db: Any) -> bool:
    """Claim the keys of every customer that lacks them, once; True when it ran now."""
    if await db[ROUTING_STATE].find_one({"_id": BACKFILL_DOC}) is not None:
        return False
    customers = claimed = taken = 0
    page: list[dict[str, Any]] = []
    projection = {"identities": 1, "emails": 1, "phones": 1}
    async for doc in db[CUSTOMERS].find({}, projection, batch_size=PAGE):
        page.append(doc)
        if len(page) >= PAGE:
            added, held = await _claim_page(db, page)
            customers, claimed, taken = customers + len(page), claimed + added, taken + held
            page = []
    added, held = await _claim_page(db, page)
    customers, claimed, taken = customers + len(page), claimed + added, taken + held
    await db[ROUTING_STATE].update_one(
        {"_id": BACKFILL_DOC},
        {"$set": {"done_at": utcnow(), "customers": customers, "claimed": claimed}},
        upsert=True,
    )
    # `taken`: keys that were claimed already (most often by the customer itself).
    log.info("customer keys backfilled", customers=customers, claimed=claimed, taken=taken)
    return True


async def drop_obsolete_indexes(db: Any) -> None:
    """Drop the key indexes an earlier version created (written for nothing)."""
    for name, obsolete in OBSOLETE_INDEXES.items():
        collection = db[name]
        names = {ix["name"] async for ix in await collection.list_indexes()}
        for index in sorted(names & set(obsolete)):
            with contextlib.suppress(OperationFailure):  # another replica dropped it first
                await collection.drop_index(index)
                log.info("obsolete index dropped", collection=name, index=index)


async def prepare_customers(db: Any) -> None:
    """Before the first message: every customer findable by its keys, no key indexes."""
    await backfill_customer_keys(db)
    await drop_obsolete_indexes(db)
