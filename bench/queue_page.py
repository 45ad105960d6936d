"""The queue page at size: `GET /api/conversations`'s store work for a page of 50 when the
store holds 100,000 conversations (the notifier's indexes, documents shaped as the notifier
writes them), for the pages the console asks for. Own embedded store, own temp dir.

    python bench/queue_page.py [--n 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient

from inbox_core.embedded import free_port, mongo_url, start_mongo
from inbox_core.schema import utcnow
from inbox_core.sla import NO_DUE
from inbox_core.store import CONVERSATIONS
from inbox_notifier.queue import INDEXES, conversation_view
from inbox_notifier.queue_page import (
    SORT,
    START_VIEWS,
    PageFilter,
    QueuePage,
    sort_key,
    warm_heads,
)

TEAMS = ["shipping", "refund_return_exchange", "restock", "product", "defect", "general"]
PAGES: list[tuple[str, dict[str, list[str | None]]]] = [
    ("default (all)", {}),
    ("status=open,pending (console)", {"status": ["open", "pending"]}),
    ("status=open,pending&team=shipping", {"status": ["open", "pending"], "team": ["shipping"]}),
    ("team=restock", {"team": ["restock"]}),
    ("status=resolved", {"status": ["resolved"]}),
    ("assignee=none&status=open", {"assignee": [None], "status": ["open"]}),
    # No index leads with priority or account: checked on the windows' documents.
    ("priority=urgent", {"priority": ["urgent"]}),
    (
        "status=open,pending&priority=urgent",
        {"status": ["open", "pending"], "priority": ["urgent"]},
    ),
    ("account=outlet (2%)", {"account": ["outlet"]}),
    ("status=open&account=outlet", {"status": ["open"], "account": ["outlet"]}),
]


def conversation(i: int, rng: random.Random) -> dict[str, Any]:
    """A conversation as the notifier stores it: most resolved, an active part due within
    days, a day's worth overdue."""
    now = utcnow()
    status = rng.choices(["resolved", "pending", "open"], [80, 8, 12])[0]
    due = NO_DUE
    if status == "open":
        due = now + timedelta(minutes=rng.uniform(-24 * 60, 3 * 24 * 60))
    created = now - timedelta(days=rng.uniform(0, 365))
    text = "11월 18일에 주문했는데 아직 배송 전인가요? 언제 받을 수 있을까요? " * 3
    return {
        "_id": uuid.UUID(int=rng.getrandbits(128)).hex,
        "number": i + 1,
        "status": status,
        "channel": rng.choice(["mail", "kakao", "naver_commerce", "coupang", "facebook"]),
        "account": rng.choices(["cs", "outlet"], [49, 1])[0],  # a second shop, 2%
        "team": rng.choice(TEAMS),
        "priority": rng.choice(["normal", "normal", "high", "urgent"]),
        "tags": rng.sample(["배송", "vip", "환불", "재입고"], k=rng.randint(0, 2)),
        "subject": f"배송 문의 {i}",
        "subject_norm": f"배송 문의 {i}",
        "preview": text[:140],
        "search": [f"배송 문의 {i} {text}"],
        "customer": {"id": f"c{i}@example.com", "name": "김민수", "email": f"c{i}@example.com"},
        "customer_id": uuid.UUID(int=rng.getrandbits(128)).hex,
        "assignee": rng.choice([None, None, "minji", "junho", "seoyeon"]),
        "routing_reasons": ["rule shipping: 배송"],
        "sla": {"policy": "normal", "first_response_minutes": 1440, "first_response_due": due},
        "sla_deadline": None if due == NO_DUE else due,
        "sort_due": due,
        "version": 3,
        "message_count": 2,
        "created_at": created,
        "updated_at": created,
        "last_message_at": created,
    }


async def _time_page(coll: Any, values: dict[str, list[str | None]], after: Any) -> float:
    start = time.perf_counter()
    docs = await QueuePage(coll, PageFilter(values)).read(after, 51)
    [conversation_view(d) for d in docs[:50]]
    return (time.perf_counter() - start) * 1000


async def queue_page_bench(n: int = 100_000, repeats: int = 5) -> None:
    print(f"(d) queue page: a page of 50 at {n:,} conversations (embedded store, own process)")
    tmp = Path(tempfile.mkdtemp(prefix="inbox-bench-page-"))
    port = free_port()
    proc = start_mongo(tmp / "db", port, log_dir=tmp)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url(port), tz_aware=True)
    try:
        coll = client["bench"][CONVERSATIONS]
        rng = random.Random(15)
        start = time.perf_counter()
        for lo in range(0, n, 5000):
            await coll.insert_many([conversation(i, rng) for i in range(lo, min(n, lo + 5000))])
        await coll.create_indexes(INDEXES[CONVERSATIONS])
        print(f"    seeded in {time.perf_counter() - start:.0f} s")
        # What a notifier does at start, before any agent asks (not timed: the agent waits
        # for none of it).
        await warm_heads(coll, START_VIEWS)
        print(
            f"    {'page':<38} {'start ms':>8} {'first ms':>9} {'next ms':>8}  "
            f"(start: the view's first read after a start; then median of {repeats})"
        )
        for name, values in PAGES:
            cold = await _time_page(coll, values, None)  # no remembered head unless warmed
            first = [await _time_page(coll, values, None) for _ in range(repeats)]
            page = await QueuePage(coll, PageFilter(values)).read(None, 51)
            after = sort_key(page[49]) if len(page) > 50 else None
            nxt = [await _time_page(coll, values, after) for _ in range(repeats)] if after else []
            shown = f"{statistics.median(nxt):>8.1f}" if nxt else f"{'-':>8}"
            print(f"    {name:<38} {cold:>8.1f} {statistics.median(first):>9.1f} {shown}")
        # The query this replaced: one sorted find with a limit (the store sorts it all).
        start = time.perf_counter()
        await coll.find({}, {"search": 0}, sort=SORT, limit=51).to_list()
        before_ms = (time.perf_counter() - start) * 1000
        print(f"    before (one sorted find, limit 51): {before_ms:.0f} ms")
    finally:
        await client.close()
        proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000)
    asyncio.run(queue_page_bench(parser.parse_args().n))


if __name__ == "__main__":
    main()
