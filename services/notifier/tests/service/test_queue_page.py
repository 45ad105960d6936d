"""The queue page is read from indexes: the same order and pages as a full sort, and every
query it sends is an index scan (checked with `explain` on the real Mongo-wire server)."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, IndexModel

from inbox_core.schema import utcnow
from inbox_core.sla import NO_DUE
from inbox_core.store import CONVERSATIONS, MESSAGES
from inbox_notifier import queue_page
from inbox_notifier.queue import INDEXES, OBSOLETE_MESSAGE_INDEXES
from inbox_notifier.queue_page import (
    OBSOLETE_INDEXES,
    PAGE_INDEXES,
    SORT,
    START_VIEWS,
    PageFilter,
    QueuePage,
    drop_obsolete_indexes,
    warm_heads,
)

from .conftest import NotifierHarness

TEAMS = ["shipping", "refund", "product", "general"]
STATUSES = ["open", "open", "pending", "resolved", "resolved"]


def seeded_conversations(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Conversations as the notifier stores them, with the cases that make paging hard:
    overdue ones, many due at the very same time, and every one without a running deadline
    tied at NO_DUE."""
    now = utcnow().replace(microsecond=0)
    tied_due = now + timedelta(hours=3)
    docs = []
    for i in range(count):
        status = rng.choice(STATUSES)
        if status != "open":
            due = NO_DUE
        elif i % 7 == 0:
            due = tied_due  # e.g. everything that came in over a weekend
        else:
            due = now + timedelta(minutes=rng.randint(-3000, 20000))
        # A few ids are not uuid hex (as older data may have): they must page all the same.
        conv_id = f"conv-{i}" if i % 50 == 0 else uuid.UUID(int=rng.getrandbits(128)).hex
        docs.append(
            {
                "_id": conv_id,
                "number": i + 1,
                "status": status,
                "channel": rng.choice(["mail", "kakao"]),
                "account": rng.choice(["cs", "cs", "shop"]),
                "team": rng.choice(TEAMS),
                "priority": rng.choice(["normal", "normal", "high", "urgent"]),
                "assignee": rng.choice([None, None, "minji", "junho"]),
                "tags": rng.sample(["배송", "vip", "환불"], k=rng.randint(0, 2)),
                "subject": f"문의 {i}",
                "search": [f"문의 {i} {'택배 지연' if i % 9 == 0 else '사이즈'}"],
                "sort_due": due,
            }
        )
    return docs


def expected(docs: list[dict[str, Any]], params: dict[str, str]) -> list[str]:
    def keep(doc: dict[str, Any]) -> bool:
        for name in FIELDS:
            if name in params:
                allowed = [None if v == "none" else v for v in params[name].split(",")]
                if doc.get(name) not in allowed:
                    return False
        if "tag" in params and params["tag"] not in doc["tags"]:
            return False
        return "q" not in params or any(params["q"] in s for s in doc["search"])

    kept = sorted((d for d in docs if keep(d)), key=lambda d: (d["sort_due"], d["_id"]))
    return [d["_id"] for d in kept]


FIELDS = ("status", "team", "channel", "assignee", "account", "priority")
FILTERS = [
    {},
    {"status": "open,pending"},
    {"status": "resolved"},
    {"team": "shipping"},
    {"status": "open,pending", "team": "refund"},
    {"assignee": "none", "status": "open"},
    {"tag": "vip", "channel": "kakao"},
    {"q": "택배"},
    {"priority": "urgent"},
    {"status": "open", "priority": "high,urgent"},
    {"account": "shop", "team": "refund"},
]
FILTER_IDS = [
    "default",
    "active",
    "resolved",
    "team",
    "active-team",
    "unassigned-open",
    "tag-channel",
    "search",
    "priority",
    "open-priorities",
    "account-team",
]


@pytest.fixture
async def seeded(notifier: NotifierHarness, core_env: dict[str, str]) -> Any:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        core_env["MONGODB_URL"], tz_aware=True
    )
    db = client[core_env["INBOX_MONGODB_DB"]]
    docs = seeded_conversations(700, random.Random(15))
    await asyncio.wait_for(db[CONVERSATIONS].insert_many(docs), 30)
    try:
        yield db, docs
    finally:
        await client.close()


@pytest.mark.parametrize("params", FILTERS, ids=FILTER_IDS)
async def test_pages_list_every_conversation_once_in_sla_order(
    notifier: NotifierHarness, seeded: Any, params: dict[str, str]
) -> None:
    _, docs = seeded
    seen: list[str] = []
    cursor: str | None = None
    async with asyncio.timeout(60):
        while True:
            query = {**params, "limit": "37", **({"cursor": cursor} if cursor else {})}
            page = await notifier.get("/api/conversations", **query)
            assert len(page["items"]) <= 37
            seen += [c["id"] for c in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert seen == expected(docs, params)


class RecordingCollection:
    """Passes finds through and keeps each filter, to `explain` them afterwards."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self.queries: list[dict[str, Any]] = []

    def find(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        self.queries.append(query)
        return self.collection.find(query, *args, **kwargs)


def stages(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for key in ("inputStage", "queryPlan"):
        if isinstance(plan.get(key), dict):
            found += stages(plan[key])
    for child in plan.get("inputStages", []):
        found += stages(child)
    return found


@pytest.mark.parametrize("params", FILTERS, ids=FILTER_IDS)
async def test_every_page_query_is_an_index_scan(seeded: Any, params: dict[str, str]) -> None:
    db, _ = seeded
    values = {
        k: [None if v == "none" else v for v in params[k].split(",")] for k in FIELDS if k in params
    }
    recording = RecordingCollection(db[CONVERSATIONS])
    page_filter = PageFilter(values, params.get("tag"), params.get("q"))
    first = await asyncio.wait_for(QueuePage(recording, page_filter).read(None, 51), 30)
    if len(first) == 51:  # the next page starts mid-way: ties and windows after a cursor
        last = first[-2]
        await asyncio.wait_for(
            QueuePage(recording, page_filter).read((last["sort_due"], last["_id"]), 51), 30
        )
    assert recording.queries
    for query in recording.queries:
        plan = await asyncio.wait_for(db[CONVERSATIONS].find(query, sort=SORT).explain(), 10)
        winning = stages(plan["queryPlanner"]["winningPlan"])
        names = [s["stage"] for s in winning]
        assert "COLLSCAN" not in names, (query, names)
        scans = [s for s in winning if s["stage"] == "IXSCAN"]
        assert scans, (query, names)
        # The index leads with the filter the scan is driven by, then the queue order.
        key = list(scans[0]["keyPattern"])
        assert key[-2:] == ["sort_due", "_id"], (query, key)


async def test_a_first_page_after_the_head_moved_is_still_the_queues_first(seeded: Any) -> None:
    """The first page starts where this process last saw the queue's head; a conversation
    now due before it, and the head's own conversation leaving, still give the true page."""
    db, docs = seeded
    coll = db[CONVERSATIONS]
    page_filter = PageFilter({"team": ["shipping"]})
    first = await asyncio.wait_for(QueuePage(coll, page_filter).read(None, 20), 30)
    now = utcnow().replace(microsecond=0)
    earlier = {**docs[1], "_id": "conv-earlier", "number": 10_001, "team": "shipping"}
    earlier.update(status="open", sort_due=first[0]["sort_due"] - timedelta(days=30))
    await asyncio.wait_for(coll.insert_one(earlier), 10)
    await asyncio.wait_for(
        coll.update_one({"_id": first[0]["_id"]}, {"$set": {"sort_due": NO_DUE}}), 10
    )
    docs = [d for d in docs if d["_id"] != first[0]["_id"]] + [earlier]
    again = await asyncio.wait_for(QueuePage(coll, page_filter).read(None, 20), 30)
    want = expected(docs, {"team": "shipping"})
    assert [d["_id"] for d in again] == [i for i in want if i != first[0]["_id"]][:20]
    assert again[0]["_id"] == "conv-earlier" and now > again[0]["sort_due"]


async def test_retired_indexes_are_dropped_and_the_declared_ones_kept(seeded: Any) -> None:
    """An earlier version's indexes (each one costs every write of its collection) go at
    start; a delivery report finds its reply by `_id` instead of `reply_id`."""
    db, _ = seeded
    retired = {
        CONVERSATIONS: [[("tags", 1)], [("team", 1), ("sort_due", 1)]],
        MESSAGES: [[("reply_id", 1)]],
    }
    obsolete = {CONVERSATIONS: OBSOLETE_INDEXES, MESSAGES: OBSOLETE_MESSAGE_INDEXES}
    for name, keys in retired.items():
        coll = db[name]
        async with asyncio.timeout(30):
            await coll.create_indexes([IndexModel(k) for k in keys])
            await drop_obsolete_indexes(coll, obsolete[name])
            names = {ix["name"] async for ix in await coll.list_indexes()}
        assert not names & {IndexModel(k).document["name"] for k in keys}
        declared = {IndexModel(ix.document["key"]).document["name"] for ix in INDEXES[name]}
        assert declared <= names


class CountingCollection:
    """Passes finds through and counts the documents in their ranges: what a page costs on
    the embedded store, which materialises a whole indexed range before its limit."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self.read = 0

    def find(self, query: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        counter, cursor = self, self.collection.find(query, *args, **kwargs)

        class Counted:
            async def to_list(self) -> list[dict[str, Any]]:
                counter.read += await counter.collection.count_documents(query)
                return await cursor.to_list()

        return Counted()


async def test_the_first_page_after_a_start_reads_from_the_warmed_head(
    notifier: NotifierHarness, core_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A weekend's backlog, overdue by a day or two: without a head, the first page reads
    the whole grid cell that holds it; the heads a start warms make it read about a page."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        core_env["MONGODB_URL"], tz_aware=True
    )
    coll = client[core_env["INBOX_MONGODB_DB"]][f"warm_{uuid.uuid4().hex[:8]}"]
    now = utcnow().replace(microsecond=0)
    rng = random.Random(7)
    backlog = [
        {
            "_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "status": "open",
            "assignee": rng.choice([None, "minji"]),
            "sort_due": now - timedelta(minutes=rng.randint(20 * 60, 40 * 60)),
        }
        for _ in range(400)
    ]
    try:
        async with asyncio.timeout(60):
            await coll.create_indexes(list(PAGE_INDEXES))
            await coll.insert_many(backlog)
            pages = {}
            for warmed in (False, True):
                monkeypatch.setattr(queue_page, "_heads", {})  # a process that just started
                if warmed:
                    await warm_heads(coll, START_VIEWS)
                counting = CountingCollection(coll)
                page = await QueuePage(counting, PageFilter({})).read(None, 50)
                pages[warmed] = ([d["_id"] for d in page], counting.read)
    finally:
        await client.close()
    want = [d["_id"] for d in sorted(backlog, key=lambda d: (d["sort_due"], d["_id"]))][:50]
    assert pages[False][0] == pages[True][0] == want
    cold_read, warm_read = pages[False][1], pages[True][1]
    assert cold_read >= 300  # the cell [now - 2.8 days, now - 17 hours) holds the backlog
    assert warm_read <= 120, (cold_read, warm_read)
