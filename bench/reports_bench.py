"""Reports at size: the report counters of 1,000,000 conversations (a year of a busy shop,
built by the same `contribution` the notifier and `inbox-reports rebuild` use), then the
store work and computation of each report, median of 5. Own embedded store, own temp dir.

The live board also reads conversations (arrivals in the last hour, due within the hour):
the store holds the last three days of them, the only ones those indexed range reads see.

    python bench/reports_bench.py [--n 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pymongo import AsyncMongoClient

from inbox_core.embedded import free_port, mongo_url, start_mongo
from inbox_core.schema import utcnow
from inbox_core.store import CONVERSATIONS
from inbox_notifier import reports
from inbox_notifier.queue import INDEXES
from inbox_notifier.report_counters import (
    ARRIVALS,
    REPORT_COUNTERS,
    accumulate,
    arrival_ops,
    day_start,
)
from inbox_notifier.spikes import SpikeRule, SpikeWatch, detect

CATEGORIES = {
    "shipping": 33,
    "refund_return_exchange": 18,
    "product": 14,
    "restock": 10,
    "defect_missing_wrong": 8,
    "identity": 4,
    "app": 4,
    "general": 9,
}
TEAMS = {"shipping": "shipping", "refund_return_exchange": "returns", "product": "product",
         "restock": "product", "defect_missing_wrong": "claims", "identity": "account",
         "app": "app", "general": "general"}  # fmt: skip
CHANNELS = ["mail", "kakao", "naver_commerce", "coupang", "elevenst", "naver_talktalk", "facebook"]
AGENTS = ["minji", "junho", "seoyeon", "jihoon", "yuna", "hana"]
PRODUCTS = [f"상품-{i:03d}" for i in range(300)]


def conversations(n: int, days: int, rng: random.Random) -> Iterator[dict[str, Any]]:
    """Conversations as the notifier stores them, spread over `days` days up to now."""
    now = utcnow()
    cats, weights = list(CATEGORIES), list(CATEGORIES.values())
    for i in range(n):
        created = now - timedelta(seconds=rng.uniform(0, days * 86400))
        category = rng.choices(cats, weights)[0]
        age = (now - created).total_seconds()
        answered = rng.random() < (0.97 if age > 86400 else 0.7)
        response = timedelta(minutes=rng.expovariate(1 / 90))
        due = created + timedelta(hours=rng.choice([1, 6, 24]))
        sla: dict[str, Any] = {"first_response_due": due, "breached": False}
        status = "open"
        resolved_at = None
        if answered and created + response < now:
            sla["first_response_at"] = created + response
            sla["first_response_by"] = rng.choice(AGENTS)
            if rng.random() < (0.95 if age > 2 * 86400 else 0.5):
                status = "resolved"
                resolved_at = min(created + response * rng.uniform(1, 6), now)
            elif rng.random() < 0.2:
                status = "pending"
        elif now > due:
            sla["breached"] = True
        yield {
            "_id": f"b{i}",
            "number": i + 1,
            "status": status,
            "channel": rng.choice(CHANNELS),
            "account": "shop",
            "team": TEAMS[category],
            "category": category,
            "product": rng.choice(PRODUCTS) if category in ("product", "restock") else None,
            "subject": f"문의 {i}",
            "created_at": created,
            "resolved_at": resolved_at,
            "resolved_by": rng.choice(AGENTS) if resolved_at else None,
            "sla": sla,
            "sla_deadline": due if status == "open" and "first_response_at" not in sla else None,
        }


async def _median_ms(call: Any, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        await call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


async def reports_bench(n: int = 1_000_000, days: int = 365, repeats: int = 5) -> None:
    print(f"(e) reports at {n:,} conversations over {days} days (embedded store, own process)")
    tmp = Path(tempfile.mkdtemp(prefix="inbox-bench-reports-"))
    port = free_port()
    proc = start_mongo(tmp / "db", port, log_dir=tmp)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url(port), tz_aware=True)
    try:
        db = client["bench"]
        recent: list[dict[str, Any]] = []
        cutoff = utcnow() - timedelta(days=3)

        def keep_recent(items: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
            for conv in items:
                if conv["created_at"] >= cutoff:
                    recent.append(conv)
                yield conv

        start = time.perf_counter()
        docs = accumulate(keep_recent(conversations(n, days, random.Random(18))))
        built = time.perf_counter() - start
        values = list(docs.values())
        for lo in range(0, len(values), 1000):
            await db[REPORT_COUNTERS].insert_many(values[lo : lo + 1000])
        await db[CONVERSATIONS].create_indexes(INDEXES[CONVERSATIONS])
        for lo in range(0, len(recent), 5000):
            await db[CONVERSATIONS].insert_many(recent[lo : lo + 5000])
            await db[ARRIVALS].bulk_write(arrival_ops((None, c) for c in recent[lo : lo + 5000]))
        print(
            f"    counters: {len(values):,} documents, computed in {built:.0f} s "
            f"({n / built:,.0f} conversations/s, the rebuild's own work); "
            f"{len(recent):,} conversations of the last 3 days stored for the live board"
        )
        now = utcnow()
        today = day_start(now)

        def summary(days: int) -> Any:
            return lambda: reports.summary(
                db, today - timedelta(days=days - 1), now, with_agents=True
            )

        def series(days: int, interval: str, by: str) -> Any:
            start = today - timedelta(days=days - 1)
            return lambda: reports.timeseries(db, start, now, interval, by, "created")

        cases = [
            ("summary, today", summary(1)),
            ("summary, last 7 days", summary(7)),
            ("summary, last 30 days", summary(30)),
            ("summary, last 365 days", summary(365)),
            ("timeseries, 30 days by day, by category", series(30, "day", "category")),
            ("timeseries, 7 days by hour, by product", series(7, "hour", "product")),
            ("live board", lambda: reports.live(db, utcnow())),
        ]
        print(f"    {'report':<42} {'ms':>7}  (median of {repeats})")
        for name, call in cases:
            print(f"    {name:<42} {await _median_ms(call, repeats):>7.1f}")
        await spike_tick_bench(db, proc.proc.pid, repeats)
    finally:
        await client.close()
        proc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def spike_tick_bench(db: Any, store_pid: int, repeats: int, n: int = 20_000) -> None:
    """A promotion: `n` conversations in the spike window. What a spike tick reads now (the
    window's arrivals per minute) against what it read before (every conversation of the
    window), with the store's CPU for each."""
    now = utcnow()
    rng = random.Random(19)
    window = [
        {**c, "_id": f"w{i}", "number": 10_000_000 + i, "created_at": now - timedelta(seconds=s)}
        for i, (c, s) in enumerate(
            (c, rng.uniform(0, 890)) for c in conversations(n, 1, random.Random(20))
        )
    ]
    for lo in range(0, n, 5000):
        await db[CONVERSATIONS].insert_many(window[lo : lo + 5000])
        await db[ARRIVALS].bulk_write(arrival_ops((None, c) for c in window[lo : lo + 5000]))
    watch = SpikeWatch(SimpleNamespace(store=SimpleNamespace(db=db)), SpikeRule())  # type: ignore[arg-type]

    async def tick() -> None:
        detect(await watch.counts(now), await watch.baselines(now), watch.rule)

    async def before() -> None:  # the tick's read before arrivals per minute
        await (
            db[CONVERSATIONS]
            .find(
                {"created_at": {"$gt": now - timedelta(seconds=900), "$lte": now}},
                {"category": 1, "product": 1, "created_at": 1, "status": 1},
                sort=[("created_at", 1)],
                limit=20_000,
            )
            .to_list()
        )

    for name, call in (("spike tick", tick), ("  before: its conversations read", before)):
        cpu = _cpu_s(store_pid)
        ms = await _median_ms(call, repeats)
        store_ms = (_cpu_s(store_pid) - cpu) / repeats * 1000
        label = f"{name} ({n:,} in the window)"
        print(f"    {label:<42} {ms:>7.1f}  (store CPU {store_ms:.0f} ms per tick)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000)
    asyncio.run(reports_bench(parser.parse_args().n))


if __name__ == "__main__":
    main()
