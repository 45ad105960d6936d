"""The loop guard of pollers that answer on the platform: the answers we posted, so the
poller does not record them again as answers typed on the platform (echoes).

When an agent's reply is posted, the platform lists it as the question's answer on the next
poll. Without this ledger the poller would publish it as "answered on the platform" and the
conversation would show the reply twice. The ledger holds one key per answer we sent,
`<thread key>:<text hash>`, written *before* the platform call (so a poll racing the call
already sees it). `StoreAnswerLedger` keeps it in a collection of the store, so replicas and
restarts share it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from pymongo.errors import PyMongoError

from inbox_core.errors import TransientError
from inbox_core.schema import utcnow
from inbox_core.store import Store


def answer_key(thread_key: str, answer_hash: str) -> str:
    return f"{thread_key}:{answer_hash}"


class AnswerLedger(Protocol):
    async def record(self, key: str) -> None: ...

    async def ours(self, keys: Iterable[str]) -> set[str]: ...


class MemoryAnswerLedger:
    """For a channel used without a store (unit and client tests)."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    async def record(self, key: str) -> None:
        self.keys.add(key)

    async def ours(self, keys: Iterable[str]) -> set[str]:
        return self.keys.intersection(keys)


class StoreAnswerLedger:
    """The ledger in `collection` (index its `at` field to expire old keys)."""

    def __init__(self, store: Store, collection: str) -> None:
        self.store = store
        self.collection = collection

    async def record(self, key: str) -> None:
        try:
            await self.store.db[self.collection].update_one(
                {"_id": key}, {"$setOnInsert": {"at": utcnow()}}, upsert=True
            )
        except PyMongoError as err:
            raise TransientError(f"answer ledger: {type(err).__name__}: {err}") from err

    async def ours(self, keys: Iterable[str]) -> set[str]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return set()
        cursor = self.store.db[self.collection].find({"_id": {"$in": wanted}}, {"_id": 1})
        return {str(doc["_id"]) async for doc in cursor}
