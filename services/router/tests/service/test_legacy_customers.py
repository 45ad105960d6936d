"""Customers recorded without key locks get their keys at the router's start, once, and the
customers' key indexes no query needs any more are dropped."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import IndexModel

from inbox_core.store import CUSTOMER_KEYS, CUSTOMERS, ROUTING_STATE, Store
from inbox_router.legacy_customers import BACKFILL_DOC, backfill_customer_keys, prepare_customers


async def _keys(store: Store) -> dict[str, str]:
    docs = await asyncio.wait_for(store.db[CUSTOMER_KEYS].find({}).to_list(), timeout=5)
    return {d["_id"]: d["customer_id"] for d in docs}


async def test_backfill_claims_each_key_once_and_never_takes_one_over(store: Store) -> None:
    db = store.db
    legacy: list[dict[str, Any]] = [
        {"_id": "crm-1", "identities": ["mail:cs:kim@example.com"],
         "emails": ["Kim@Example.com"], "phones": ["010-1234-5678"]},
        {"_id": "crm-2", "identities": ["kakao:shop:u-2"], "emails": ["kim@example.com"]},
        {"_id": "crm-3", "identities": ["naver_talktalk:shop:u-3"], "phones": ["+82 10 5555 6666"]},
    ]  # fmt: skip
    await asyncio.wait_for(db[CUSTOMERS].insert_many(legacy), timeout=5)
    # A key claimed already (by a customer the router linked since) stays where it is.
    await db[CUSTOMER_KEYS].insert_one({"_id": "phone:01055556666", "customer_id": "park"})
    assert await asyncio.wait_for(backfill_customer_keys(db), timeout=10)
    keys = await _keys(store)
    assert keys["identity:mail:cs:kim@example.com"] == "crm-1"
    assert keys["identity:kakao:shop:u-2"] == "crm-2"
    assert keys["identity:naver_talktalk:shop:u-3"] == "crm-3"
    assert keys["email:kim@example.com"] in {"crm-1", "crm-2"}  # one owner, never two
    assert keys["phone:01012345678"] == "crm-1"
    assert keys["phone:01055556666"] == "park"
    # Done once: a later start skips it, until the record is deleted.
    await db[CUSTOMERS].insert_one({"_id": "crm-4", "identities": ["kakao:shop:u-4"]})
    assert not await asyncio.wait_for(backfill_customer_keys(db), timeout=10)
    assert "identity:kakao:shop:u-4" not in await _keys(store)
    await db[ROUTING_STATE].delete_one({"_id": BACKFILL_DOC})
    assert await asyncio.wait_for(backfill_customer_keys(db), timeout=10)
    assert (await _keys(store))["identity:kakao:shop:u-4"] == "crm-4"
    assert (await _keys(store))["identity:kakao:shop:u-2"] == "crm-2"


async def test_start_drops_the_key_indexes_no_query_uses(store: Store) -> None:
    db = store.db
    old = [IndexModel("identities", unique=True), IndexModel("emails"), IndexModel("phones")]
    await asyncio.wait_for(db[CUSTOMERS].create_indexes(old), timeout=10)
    await asyncio.wait_for(db[CUSTOMER_KEYS].create_index("customer_id"), timeout=10)
    await asyncio.wait_for(prepare_customers(db), timeout=10)
    await asyncio.wait_for(prepare_customers(db), timeout=10)  # a second start: nothing left
    for name in (CUSTOMERS, CUSTOMER_KEYS):
        assert {ix["name"] async for ix in await db[name].list_indexes()} == {"_id_"}
