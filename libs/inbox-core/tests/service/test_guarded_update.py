"""`update_returning`: what `find_one_and_update` returns, without the store's findAndModify
(which reads the whole collection on the embedded store). Checked against the real store."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pymongo import AsyncMongoClient, ReturnDocument, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from inbox_core.guarded_update import applied, update_returning
from inbox_core.testing.plugin import MongoServer

SEOUL = timezone(timedelta(hours=9))
AT = datetime(2026, 5, 1, 9, 30, 15, 123456, tzinfo=SEOUL)


class _Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.seen[event.command_name] += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


@pytest.fixture
async def db(mongo_server: MongoServer) -> AsyncIterator[tuple[AsyncDatabase[Any], _Commands]]:
    commands = _Commands()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_server.url, tz_aware=True, tzinfo=UTC, event_listeners=[commands]
    )
    name = f"t_{uuid.uuid4().hex[:12]}"
    try:
        yield client[name], commands
    finally:
        await client.drop_database(name)
        await client.close()


def _conversation() -> dict[str, Any]:
    return {
        "_id": "c1",
        "status": "open",
        "version": 3,
        "message_count": 2,
        "last_message_at": datetime(2026, 5, 1, 0, 0, tzinfo=UTC),
        "search": ["배송 문의"],
        "tags": ["vip"],
        "sla": {"breached": False, "first_response_due": datetime(2026, 5, 1, 1, tzinfo=UTC)},
        "assignee": None,
    }


UPDATES = [
    {"$set": {"status": "resolved", "resolved_at": AT}, "$inc": {"version": 1}},
    {"$inc": {"version": 1, "message_count": 1}, "$max": {"last_message_at": AT}},
    {"$max": {"last_message_at": datetime(2020, 1, 1, tzinfo=UTC), "message_count": 7}},
    {"$min": {"message_count": 1, "first_seen": AT}},
    {"$addToSet": {"search": "배송 문의", "tags": {"$each": ["vip", "new"]}}},
    {"$push": {"notes": {"$each": ["a", "a"]}}, "$unset": {"assignee": ""}},
    {"$set": {"sla.breached": True, "sla.first_response_at": AT, "delivery.status": "sent"}},
    {"$set": {"sla": {"policy": "p"}}, "$setOnInsert": {"created_at": AT}},
]


@pytest.mark.parametrize(
    "update",
    UPDATES,
    ids=["set-inc", "inc-max", "max-lower", "min", "add-to-set", "push-unset", "dotted", "replace"],
)
async def test_the_document_after_is_the_stores_own(
    db: tuple[AsyncDatabase[Any], _Commands], update: dict[str, Any]
) -> None:
    database, _ = db
    await database["c"].insert_one(_conversation())
    stored = await asyncio.wait_for(
        database["c"].find_one_and_update(
            {"_id": "c1"}, update, return_document=ReturnDocument.AFTER
        ),
        10,
    )
    assert applied(_conversation(), update) == stored


async def test_update_returning_answers_as_find_one_and_update_without_it(
    db: tuple[AsyncDatabase[Any], _Commands],
) -> None:
    database, commands = db
    await database["c"].insert_one(_conversation())
    commands.seen.clear()
    update = {"$set": {"status": "pending"}, "$inc": {"version": 1}}
    after = await asyncio.wait_for(
        update_returning(database["c"], {"_id": "c1", "status": "open"}, update), 10
    )
    assert after is not None and after["status"] == "pending" and after["version"] == 4
    assert after == await database["c"].find_one({"_id": "c1"})
    # The filter no longer matches: nothing written, nothing returned.
    assert await update_returning(database["c"], {"_id": "c1", "status": "open"}, update) is None
    before = await update_returning(
        database["c"], {"_id": "c1"}, {"$set": {"tags": []}}, after=False, projection={"search": 0}
    )
    assert before is not None and before["tags"] == ["vip"] and "search" not in before
    assert commands.seen["findAndModify"] == 0


async def test_a_writer_in_between_makes_it_read_again_not_lose_either_write(
    db: tuple[AsyncDatabase[Any], _Commands],
) -> None:
    """Another process writes between the read and the guarded write: the write lands on the
    newer document and the answer is the state after both."""
    database, _ = db
    await database["c"].insert_one(_conversation())

    class Racing:
        """The collection, with an agent's write landing just after the first read."""

        def __init__(self) -> None:
            self.raced = False

        async def find_one(self, filter: dict[str, Any]) -> Any:
            doc = await database["c"].find_one(filter)
            if not self.raced:
                self.raced = True
                await database["c"].update_one(
                    {"_id": "c1"}, {"$set": {"assignee": "kim"}, "$inc": {"version": 1}}
                )
            return doc

        def __getattr__(self, name: str) -> Any:
            return getattr(database["c"], name)

    after = await asyncio.wait_for(
        update_returning(Racing(), {"_id": "c1"}, {"$inc": {"version": 1, "message_count": 1}}),
        10,
    )
    assert after is not None
    assert (after["assignee"], after["version"], after["message_count"]) == ("kim", 5, 3)
    assert after == await database["c"].find_one({"_id": "c1"})
