"""Store calls that concurrent handlers make at the same moment, sent as one round trip.

A batch consumer handles the messages of a batch concurrently, each with plain per-message
code. Through a `BatchedDatabase`, what they ask of the store at the same moment is gathered:
when an event-loop pass adds nothing new to a queue (and, for up to LINGER_S, while other
round trips of the same database are under way: their callers are likely to ask next), the
queue goes out as

- one `find({field: {"$in": [...]}})` per collection, field and projection (per MAX_IN
  values), for the `find_one({field: value})` and `find_in(field, values)` calls, and
- one unordered `bulk_write` per collection for the upserting `update_one` calls, the
  `insert_one` calls and the unordered `insert_many` and `bulk_write` calls (a claim,
  `update_one({"_id": k}, {"$setOnInsert": doc}, upsert=True)`, goes as an insert: the same
  effect for half the store's work; counter upserts on one `_id` that only `$inc` go as one,
  their increments added: they commute),

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
import functools
import inspect
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError, WriteError

T = TypeVar("T")
R = TypeVar("R")
Doc = dict[str, Any]

# Event-loop passes a queue waits while it keeps growing: handlers that resumed together
# reach their next store call within a pass or two; the cap bounds the added latency.
MAX_PASSES = 8
# How long a queue of a BatchedDatabase may wait for the database's other round trips in
# flight: their callers are the batch's other messages, likely to ask here next.
LINGER_S = 0.003
# Values per `$in` query. The embedded store checks every document an `$in` fetches against
# the whole list, so a document found by a list of n values costs about 0.05 + 0.0009·n ms
# (0.16 ms at 128, 0.07 at 32); a longer ask goes out as several lists of this size at once.
MAX_IN = 32


class InFlight:
    """Round trips under way through one BatchedDatabase."""

    def __init__(self) -> None:
        self.count = 0


class Coalescer(Generic[T, R]):
    """Gathers the items of concurrent callers and runs `run` once for all of them.

    `run` gets the items in call order and returns, at the same positions, a result or the
    exception to raise in that caller.
    """

    def __init__(
        self,
        run: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]],
        inflight: InFlight | None = None,
    ) -> None:
        self._run = run
        self._inflight = inflight
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
            loop.call_soon(self._check, len(self._items), 1, loop.time())
        return await future

    def _check(self, seen: int, passes: int, since: float) -> None:
        loop = asyncio.get_running_loop()
        if len(self._items) > seen and passes < MAX_PASSES:
            loop.call_soon(self._check, len(self._items), passes + 1, since)
            return
        if self._inflight is not None and self._inflight.count and loop.time() - since < LINGER_S:
            loop.call_later(LINGER_S / 6, self._check, len(self._items), passes, since)
            return
        self._scheduled = False
        items, futures = self._items, self._futures
        self._items, self._futures = [], []
        task = asyncio.get_running_loop().create_task(self._flush(items, futures))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush(self, items: list[T], futures: list[asyncio.Future[R]]) -> None:
        if self._inflight is not None:
            self._inflight.count += 1
        try:
            results = await self._run(items)
            if len(results) != len(items):
                raise RuntimeError(f"{len(results)} results for {len(items)} items")
        except BaseException as err:  # every caller gets the failure, cancellation too
            results = [err] * len(items)
        finally:
            if self._inflight is not None:
                self._inflight.count -= 1
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


class _Claim(InsertOne[Doc]):
    """`update_one({"_id": k}, {"$setOnInsert": doc}, upsert=True)` sent as an insert of
    `{_id: k, **doc}`: the same effect (inserted, or left as it was), and for the store an
    insert is about half the work of an upsert. A duplicate `_id` means "it was there"."""


def _claim_of(filter: Doc, update: Doc | list[Doc]) -> _Claim | None:
    if not isinstance(update, dict) or set(update) != {"$setOnInsert"} or set(filter) != {"_id"}:
        return None
    key, fields = filter["_id"], update["$setOnInsert"]
    if (
        isinstance(key, dict)
        or "_id" in fields
        or any(k.startswith("$") or "." in k for k in fields)
    ):
        return None
    return _Claim({"_id": key, **fields})


def _counter_key(op: InsertOne[Doc] | UpdateOne) -> Hashable | None:
    """Upserts by `_id` that only `$inc` (and `$setOnInsert` the bucket's fixed fields) can
    be merged: the key says which ones go together."""
    if not isinstance(op, UpdateOne) or isinstance(op, _Claim) or not op._upsert:
        return None
    update, filter = op._doc, op._filter
    if not isinstance(update, dict) or set(filter) != {"_id"} or "$inc" not in update:
        return None
    if not set(update) <= {"$inc", "$setOnInsert"} or isinstance(filter["_id"], dict):
        return None
    fixed = update.get("$setOnInsert", {})
    if set(fixed) & set(update["$inc"]):
        return None
    try:
        return (filter["_id"], repr(sorted(fixed.items())))
    except TypeError:
        return None


def _on_id(error: Doc) -> bool:
    pattern = error.get("keyPattern")
    return pattern == {"_id": 1} if pattern else " index: _id_ " in str(error.get("errmsg"))


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


@dataclass(frozen=True)
class InsertManyResult:
    inserted_ids: list[Any]
    acknowledged: bool = True


@dataclass(frozen=True)
class BulkResult:
    """What a coalesced `bulk_write` reports: the upserted ids by position."""

    upserted_ids: dict[int, Any]
    acknowledged: bool = True


class BatchedCollection:
    """One collection seen through the coalescing queues (see the module doc)."""

    def __init__(self, collection: AsyncCollection[Doc], inflight: InFlight | None = None) -> None:
        self.collection = collection
        self._inflight = inflight or InFlight()
        self._finders: dict[tuple[str, Hashable], Coalescer[list[Any], list[Doc]]] = {}
        self._writes: Coalescer[InsertOne[Doc] | UpdateOne, Any] = Coalescer(
            self._bulk, self._inflight
        )

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.collection, name)
        if not inspect.iscoroutinefunction(attr):
            return attr  # find(), aggregate() cursors and plain attributes

        @functools.wraps(attr)
        async def counted(*args: Any, **kwargs: Any) -> Any:
            self._inflight.count += 1  # the gathered queues wait for it (see LINGER_S)
            try:
                return await attr(*args, **kwargs)
            finally:
                self._inflight.count -= 1

        return counted

    async def _direct(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return await self.__getattr__(name)(*args, **kwargs)

    async def find_one(
        self, filter: Doc | None = None, projection: Doc | None = None, **kwargs: Any
    ) -> Doc | None:
        simple = _single_field(filter or {})
        if simple is None or kwargs:
            return await self._direct("find_one", filter, projection, **kwargs)
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
            finder = self._finders[key] = Coalescer(self._finder(field, projection), self._inflight)
        return await finder(list(values))

    def _finder(
        self, field: str, projection: Doc | None
    ) -> Callable[[list[list[Any]]], Awaitable[list[list[Doc]]]]:
        async def fetch(values: list[Any]) -> list[Doc]:
            return [d async for d in self.collection.find({field: {"$in": values}}, projection)]

        async def run(asks: list[list[Any]]) -> list[list[Doc]]:
            wanted = list(dict.fromkeys(v for ask in asks for v in ask))
            parts = [wanted[i : i + MAX_IN] for i in range(0, len(wanted), MAX_IN)]
            found = await asyncio.gather(*(fetch(part) for part in parts))
            docs = [d for part in found for d in part]
            if len(parts) > 1:  # a document with several of the values (an array) came twice
                docs = list({d.get("_id", id(d)): d for d in docs}.values())
            return [[d for d in docs if any(_matches(d, field, v) for v in ask)] for ask in asks]

        return run

    async def update_one(
        self, filter: Doc, update: Doc | list[Doc], upsert: bool = False, **kwargs: Any
    ) -> Any:
        """Upserts are gathered into the collection's bulk write (the result says only
        whether this one inserted); other updates go straight through, with their counts."""
        if not upsert or kwargs:
            return await self._direct("update_one", filter, update, upsert=upsert, **kwargs)
        claim = _claim_of(filter, update)
        op = claim if claim is not None else UpdateOne(filter, update, upsert=True)
        upserted = await self._writes(op)
        return UpsertResult(upserted_id=upserted)

    async def insert_one(self, document: Doc, **kwargs: Any) -> Any:
        if kwargs:
            return await self._direct("insert_one", document, **kwargs)
        await self._writes(InsertOne(document))
        return InsertResult(inserted_id=document.get("_id"))

    async def insert_many(
        self, documents: Sequence[Doc], ordered: bool = True, **kwargs: Any
    ) -> Any:
        """Unordered inserts join the collection's bulk write; like pymongo, a failed insert
        raises BulkWriteError (after the others went through)."""
        if ordered or kwargs:
            return await self._direct("insert_many", documents, ordered=ordered, **kwargs)
        await self._many([InsertOne(d) for d in documents])
        return InsertManyResult([d.get("_id") for d in documents])

    async def bulk_write(
        self, requests: Sequence[InsertOne[Doc] | UpdateOne], ordered: bool = True, **kwargs: Any
    ) -> Any:
        """An unordered bulk of inserts and updates joins the collection's bulk write."""
        simple = all(isinstance(r, InsertOne | UpdateOne) for r in requests)
        if ordered or kwargs or not simple:
            return await self._direct("bulk_write", requests, ordered=ordered, **kwargs)
        upserted = await self._many(list(requests))
        return BulkResult({i: u for i, u in enumerate(upserted) if u is not None})

    async def _many(self, ops: list[InsertOne[Doc] | UpdateOne]) -> list[Any]:
        results = await asyncio.gather(*(self._writes(op) for op in ops), return_exceptions=True)
        errors = [
            {"index": i, "code": getattr(r, "code", None), "errmsg": str(r)}
            for i, r in enumerate(results)
            if isinstance(r, BaseException)
        ]
        if errors:
            outage = next((r for r in results if isinstance(r, ConnectionFailure)), None)
            if outage is not None:
                raise outage  # the store is away: an outage, not a bad document
            upserted = [
                {"index": i, "_id": r}
                for i, r in enumerate(results)
                if r is not None and not isinstance(r, BaseException)
            ]
            raise BulkWriteError({"writeErrors": errors, "upserted": upserted})
        return list(results)

    async def _bulk(self, ops: list[InsertOne[Doc] | UpdateOne]) -> list[Any]:
        """Counter upserts on one document are merged into one (their `$inc`s add up: they
        commute), then the rest as they are; per op the result as if sent alone."""
        merged: list[InsertOne[Doc] | UpdateOne] = []
        home: list[int] = []  # op i is sent as merged[home[i]]
        counters: dict[Hashable, int] = {}
        for op in ops:
            key = _counter_key(op)
            if key is None:
                home.append(len(merged))
                merged.append(op)
                continue
            counter: Any = op  # an $inc upsert (see _counter_key)
            update: Any = counter._doc
            if key in counters:
                sent_op: Any = merged[counters[key]]
                incs = sent_op._doc["$inc"]
                for name, value in update["$inc"].items():
                    incs[name] = incs.get(name, 0) + value
                home.append(counters[key])
                continue
            counters[key] = len(merged)
            home.append(len(merged))
            merged.append(
                UpdateOne(counter._filter, {**update, "$inc": dict(update["$inc"])}, upsert=True)
            )
        sent = await self._bulk_sent(merged)
        first: set[int] = set()
        out: list[Any] = []
        for at in home:
            result = sent[at]
            # Merged counters: the first reports the insert, the others matched it.
            out.append(result if at not in first or isinstance(result, BaseException) else None)
            first.add(at)
        return out

    async def _bulk_sent(self, ops: list[InsertOne[Doc] | UpdateOne]) -> list[Any]:
        """The driver sends a bulk write of inserts and updates as an insert command, then
        an update command, one after the other; unordered, no op waits for another, so the
        inserts and the updates go as two bulk writes at once: one round trip, not two."""
        inserts = [i for i, op in enumerate(ops) if isinstance(op, InsertOne)]
        if not inserts or len(inserts) == len(ops):
            return await self._bulk_one(ops)
        updates = [i for i, op in enumerate(ops) if not isinstance(op, InsertOne)]
        parts = await asyncio.gather(
            *(self._bulk_one([ops[i] for i in at]) for at in (inserts, updates)),
            return_exceptions=True,
        )
        out: list[Any] = [None] * len(ops)
        for at, part in zip((inserts, updates), parts, strict=True):
            for j, i in enumerate(at):
                out[i] = part if isinstance(part, BaseException) else part[j]
        return out

    async def _bulk_one(self, ops: list[InsertOne[Doc] | UpdateOne]) -> list[Any]:
        """One unordered bulk write; per op the upserted id (None when it matched) or the
        error of that op alone."""
        claimed = [op._doc["_id"] if isinstance(op, _Claim) else None for op in ops]
        try:
            result = await self.collection.bulk_write(ops, ordered=False)
            upserted = dict(result.upserted_ids or {})
            return [upserted.get(i, claimed[i]) for i in range(len(ops))]
        except BulkWriteError as err:
            details = err.details
            out: list[Any] = list(claimed)
            for up in details.get("upserted", []):
                out[int(up["index"])] = up["_id"]
            for failed in details.get("writeErrors", []):
                i = int(failed["index"])
                code, message = failed.get("code"), failed.get("errmsg", "write failed")
                if code == 11000 and claimed[i] is not None and _on_id(failed):
                    out[i] = None  # the key was there already: the upsert would have matched
                    continue
                kind = DuplicateKeyError if code == 11000 else WriteError
                out[i] = kind(message, code, failed)
            return out


class BatchedDatabase:
    """A database whose collections coalesce concurrent calls (see the module doc)."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self.db = db
        self.inflight = InFlight()
        self._collections: dict[str, BatchedCollection] = {}

    def __getitem__(self, name: str) -> BatchedCollection:
        collection = self._collections.get(name)
        if collection is None:
            collection = self._collections[name] = BatchedCollection(self.db[name], self.inflight)
        return collection

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)
