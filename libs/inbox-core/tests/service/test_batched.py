"""Concurrent store calls through BatchedDatabase: one round trip for everyone asking at the
same moment, each caller with its own answer or its own error (real Mongo-wire store)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, IndexModel, monitoring
from pymongo.errors import DuplicateKeyError

from inbox_core.batched import MAX_IN, BatchedDatabase
from inbox_core.testing.plugin import MongoServer


class _Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in {"find", "update", "insert", "delete", "findAndModify"}:
            self.seen[f"{event.command_name} {event.command.get(event.command_name)}"] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def store(mongo_server: MongoServer) -> AsyncIterator[tuple[BatchedDatabase, _Commands]]:
    commands = _Commands()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_server.url, event_listeners=[commands]
    )
    name = f"t_{uuid.uuid4().hex[:12]}"
    db = client[name]
    await db["people"].create_indexes([IndexModel("emails", unique=True, sparse=True)])
    try:
        yield BatchedDatabase(db), commands
    finally:
        await client.drop_database(name)
        await client.close()


async def test_concurrent_lookups_share_one_in_query_and_each_gets_its_own_document(
    store: tuple[BatchedDatabase, _Commands],
) -> None:
    db, commands = store
    await db.db["people"].insert_many(
        [{"_id": f"p{i}", "emails": [f"p{i}@a.kr", f"alt{i}@a.kr"]} for i in range(20)]
    )
    commands.seen.clear()
    by_id = [db["people"].find_one({"_id": f"p{i}"}, {"_id": 1}) for i in range(20)]
    by_email = [db["people"].find_one({"emails": f"alt{i}@a.kr"}) for i in range(20)]
    missing = db["people"].find_one({"_id": "nobody"}, {"_id": 1})
    found = await asyncio.wait_for(asyncio.gather(*by_id, *by_email, missing), 10)
    assert [d["_id"] for d in found[:20]] == [f"p{i}" for i in range(20)]
    assert [d["_id"] for d in found[20:40]] == [f"p{i}" for i in range(20)]
    assert found[40] is None
    # One query per field (and projection) asked by, not one per caller.
    assert commands.seen == Counter({"find people": 2})


async def test_concurrent_upserts_go_in_one_bulk_and_a_bad_one_fails_alone(
    store: tuple[BatchedDatabase, _Commands],
) -> None:
    db, commands = store
    await db.db["people"].insert_one({"_id": "taken", "emails": ["dup@a.kr"]})
    commands.seen.clear()

    async def claim(key: str, owner: str) -> Any:
        return await db["people"].update_one(
            {"_id": key}, {"$setOnInsert": {"owner": owner}}, upsert=True
        )

    # Three racers per key: exactly one inserts, the others find it there.
    racers = [claim(f"k{i}", f"owner{j}") for i in range(10) for j in range(3)]
    bad = db["people"].update_one(
        {"_id": "clash"}, {"$setOnInsert": {"emails": ["dup@a.kr"]}}, upsert=True
    )
    counts = [
        db["people"].update_one({"_id": f"n{i % 2}"}, {"$inc": {"n": 1}}, upsert=True)
        for i in range(6)
    ]
    results = await asyncio.wait_for(
        asyncio.gather(*racers, bad, *counts, return_exceptions=True), 10
    )
    # Claims ($setOnInsert on the _id) go as one insert, other upserts as one update.
    assert commands.seen == Counter({"insert people": 1, "update people": 1})
    assert isinstance(results[30], DuplicateKeyError)
    claims = results[:30]
    assert [r.upserted_id for r in results[31:]] == ["n0", "n1", None, None, None, None]
    n = {d["_id"]: d["n"] async for d in db.db["people"].find({"n": {"$exists": 1}})}
    assert n == {"n0": 3, "n1": 3}
    assert all(not isinstance(r, BaseException) for r in claims)
    for i in range(10):
        mine = claims[i * 3 : i * 3 + 3]
        assert [r.upserted_id for r in mine] == [f"k{i}", None, None]
    owners = {d["_id"]: d["owner"] async for d in db.db["people"].find({"owner": {"$exists": 1}})}
    assert owners == {f"k{i}": "owner0" for i in range(10)}
    assert await db.db["people"].count_documents({"_id": "clash"}) == 0


async def test_a_lone_caller_and_other_calls_behave_as_plain_pymongo(
    store: tuple[BatchedDatabase, _Commands],
) -> None:
    db, _ = store
    await asyncio.wait_for(db["people"].insert_one({"_id": "solo", "n": 1}), 10)
    # Not an upsert: straight through, with the counts the caller may need.
    plain = await asyncio.wait_for(
        db["people"].update_one({"_id": "solo", "n": 1}, {"$set": {"n": 2}}), 10
    )
    assert plain.matched_count == 1
    doc = await asyncio.wait_for(db["people"].find_one({"_id": "solo", "n": 2}), 10)
    assert doc == {"_id": "solo", "n": 2}
    with pytest.raises(DuplicateKeyError):
        await asyncio.wait_for(db["people"].insert_one({"_id": "solo"}), 10)


async def test_a_long_lookup_is_split_and_each_caller_gets_each_document_once(
    store: tuple[BatchedDatabase, _Commands],
) -> None:
    db, commands = store
    n = MAX_IN * 2 + 5
    await db.db["people"].insert_many(
        [{"_id": f"p{i}", "emails": [f"p{i}@a.kr", f"alt{i}@a.kr"]} for i in range(n)]
    )
    commands.seen.clear()
    # Both addresses of each person asked at once, in different lists.
    addresses = [f"{k}{i}@a.kr" for k in ("p", "alt") for i in range(n)]
    everyone = db["people"].find_in("emails", addresses)
    evens = db["people"].find_in("_id", [f"p{i}" for i in range(0, n, 2)])
    people, even = await asyncio.wait_for(asyncio.gather(everyone, evens), 10)
    assert sorted(d["_id"] for d in people) == sorted(f"p{i}" for i in range(n))
    assert sorted(d["_id"] for d in even) == sorted(f"p{i}" for i in range(0, n, 2))
    assert commands.seen["find people"] > 2  # lists of at most MAX_IN values
