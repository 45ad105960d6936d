"""Store calls that concurrent handlers make at the same moment, sent as one round trip.

A batch consumer handles the messages of a batch concurrently, each with plain per-message
code. Through a `BatchedDatabase`, what they ask of the store at the same moment is gathered:
when an event-loop pass adds nothing new to a queue, the queue goes out as

- one `find({field: {"$in": [...]}})` per collection, field and projection, for the
  `find_one({field: value})` and `find_in(field, values)` calls, and
- one unordered `bulk_write` per collection for the upserting `update_one` calls and the
  `insert_one` calls,

and each caller gets its own answer, or its own error: a write that fails (a bad document, a
duplicate key) fails only its caller, the other writes of the bulk go through. A lone caller
(a test, a quiet moment) makes the same single round trip it would have made anyway.

Everything else (`find_one` with a sort or several conditions, non-upserting updates whose
matched count the caller needs, `find_one_and_update`, `count_documents`, …) goes straight to
the real collection. Concurrent upserts on one key behave as they do from separate processes:
one inserts, the others match, so code written to be safe under races stays safe here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

T = TypeVar("T")
R = TypeVar("R")
Doc = dict[str, Any]

# Event-loop passes a queue waits while it keeps growing: handlers that resumed together
# reach their next store call within a pass or two; the cap bounds the added latency.
MAX_PASSES = 8


class Coalescer(Generic[T, R]):
    """Gathers the items of concurrent callers and runs `run` once for all of them.

    `run` gets the items in call order and returns, at the same positions, a result or the
    exception to raise in that caller.
    """

    def __init__(self, run: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]]) -> None:
        self._run = run
        self._items: list[T] = []
        self._futures: list[asyncio.Future[R]] = []
        self._scheduled = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def __call__(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._items.append(item)
        self._futures.append(future)
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._check, len(self._items), 1)
        return await future

    def _check(self, seen: int, passes: int) -> None:
        if len(self._items) > seen and passes < MAX_PASSES:
            asyncio.get_running_loop().call_soon(self._check, len(self._items), passes + 1)
            return
        self._scheduled = False
        items, futures = self._items, self._futures
        self._items, self._futures = [], []
        task = asyncio.get_running_loop().create_task(self._flush(items, futures))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, items: list[T], futures: list[asyncio.Future[R]]) -> None:
        try:
            results = await self._run(items)
            if len(results) != len(items):
                raise RuntimeError(f"{len(results)} results for {len(items)} items")
        except BaseException as err:  # every caller gets the failure, cancellation too
            results = [err] * len(items)
        for future, result in zip(futures, results, strict=True):
            if future.done():  # the caller was cancelled
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


@dataclass(frozen=True)
class UpsertResult:
    """What a coalesced `update_one(..., upsert=True)` reports: the inserted id, if any."""

    upserted_id: Any = None
    acknowledged: bool = True


@dataclass(frozen=True)
class InsertResult:
    inserted_id: Any
    acknowledged: bool = True


def _single_field(filter: Doc) -> tuple[str, Any] | None:
    """`(field, value)` of a filter that is one plain equality, else None."""
    if len(filter) != 1:
        return None
    ((field, value),) = filter.items()
    if field.startswith("$") or "." in field or not isinstance(value, str | int | float):
        return None
    return field, value


def _matches(doc: Doc, field: str, value: Any) -> bool:
    held = doc.get(field)
    return value in held if isinstance(held, list) else held == value


def _projection_key(projection: Doc | None) -> Hashable:
    return None if projection is None else tuple(sorted(projection.items()))


class BatchedCollection:
    """One collection seen through the coalescing queues (see the module doc)."""

    def __init__(self, collection: AsyncCollection[Doc]) -> None:
        self.collection = collection
        self._finders: dict[tuple[str, Hashable], Coalescer[list[Any], list[Doc]]] = {}
        self._writes: Coalescer[InsertOne[Doc] | UpdateOne, Any] = Coalescer(self._bulk)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collection, name)

    async def find_one(
        self, filter: Doc | None = None, projection: Doc | None = None, **kwargs: Any
    ) -> Doc | None:
        simple = _single_field(filter or {})
        if simple is None or kwargs:
            return await self.collection.find_one(filter, projection, **kwargs)
        field, value = simple
        docs = await self.find_in(field, [value], projection)
        return next((d for d in docs if _matches(d, field, value)), None)

    async def find_in(
        self, field: str, values: Sequence[Any], projection: Doc | None = None
    ) -> list[Doc]:
        """The documents whose `field` is one of `values` (one `$in` query for everyone
        asking at this moment; the field should be indexed)."""
        if not values:
            return []
        if projection is not None and field != "_id" and projection.get(field) is None:
            if all(v for v in projection.values()):  # an inclusion projection needs the field
                projection = {**projection, field: 1}
        key = (field, _projection_key(projection))
        finder = self._finders.get(key)
        if finder is None:
            finder = self._finders[key] = Coalescer(self._finder(field, projection))
        return await finder(list(values))

    def _finder(
        self, field: str, projection: Doc | None
    ) -> Callable[[list[list[Any]]], Awaitable[list[list[Doc]]]]:
        async def run(asks: list[list[Any]]) -> list[list[Doc]]:
            wanted = list(dict.fromkeys(v for ask in asks for v in ask))
            cursor = self.collection.find({field: {"$in": wanted}}, projection)
            docs = [d async for d in cursor]
            return [[d for d in docs if any(_matches(d, field, v) for v in ask)] for ask in asks]

        return run

    async def update_one(
        self, filter: Doc, update: Doc | list[Doc], upsert: bool = False, **kwargs: Any
    ) -> Any:
        """Upserts are gathered into the collection's bulk write (the result says only
        whether this one inserted); other updates go straight through, with their counts."""
        if not upsert or kwargs:
            return await self.collection.update_one(filter, update, upsert=upsert, **kwargs)
        upserted = await self._writes(UpdateOne(filter, update, upsert=True))
        return UpsertResult(upserted_id=upserted)

    async def insert_one(self, document: Doc, **kwargs: Any) -> Any:
        if kwargs:
            return await self.collection.insert_one(document, **kwargs)
        await self._writes(InsertOne(document))
        return InsertResult(inserted_id=document.get("_id"))

    async def _bulk(self, ops: list[InsertOne[Doc] | UpdateOne]) -> list[Any]:
        """One unordered bulk write; per op the upserted id (None when it matched) or the
        error of that op alone."""
        try:
            result = await self.collection.bulk_write(ops, ordered=False)
            upserted = dict(result.upserted_ids or {})
            return [upserted.get(i) for i in range(len(ops))]
        except BulkWriteError as err:
            details = err.details
            out: list[Any] = [None] * len(ops)
            for up in details.get("upserted", []):
                out[int(up["index"])] = up["_id"]
            for failed in details.get("writeErrors", []):
                code, message = failed.get("code"), failed.get("errmsg", "write failed")
                kind = DuplicateKeyError if code == 11000 else WriteError
                out[int(failed["index"])] = kind(message, code, failed)
            return out


class BatchedDatabase:
    """A database whose collections coalesce concurrent calls (see the module doc)."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.db = db
        self._collections: dict[str, BatchedCollection] = {}

    def __getitem__(self, name: str) -> BatchedCollection:
        collection = self._collections.get(name)
        if collection is None:
            collection = self._collections[name] = BatchedCollection(self.db[name])
        return collection

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)
