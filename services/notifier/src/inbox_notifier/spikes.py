"""Spike detection: one kind of question (a category, or a product) suddenly arriving far more
often than usual, e.g. a coupon that does not apply during a promotion.

Every tick the arrivals of the last `INBOX_SPIKE_WINDOW_S` seconds (in whole minutes: the
current one and those before it) are counted per category and per product from the arrivals
per minute the notifier keeps (`report_counters.arrival`: one small document per minute, so a
tick reads a few documents however many conversations arrived; reading the window's
conversations took a second of the store's CPU per tick at 20,000), and compared with the
usual for that hour: the mean of the same hour on the previous 14 days, read from the report
counters (no scan). A key spikes when its count is
- at least `INBOX_SPIKE_MIN` (the floor, so a quiet shop is not alarmed by three questions),
- more than `INBOX_SPIKE_FACTOR` times the usual, and
- too many to be chance: under Poisson arrivals at the usual rate, a count this high has a
  probability below one in a million (so normal busy hours never fire).
A spike fires a `spike.detected` event once; the key fires again only after its count fell
back below the threshold and at least one window has passed (at most one per key per window,
one per burst). The claim is a conditional write in the store, so replicas fire it once.
"""

from __future__ import annotations

import contextlib
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from inbox_core import subjects
from inbox_core.errors import BusUnavailable
from inbox_core.logging import get_logger
from inbox_core.runtime import Runtime
from inbox_core.schema import SpikeEvent, utcnow
from inbox_core.store import CONVERSATIONS
from inbox_notifier.report_counters import (
    ARRIVALS,
    ARRIVALS_KEPT,
    REPORT_COUNTERS,
    arrival_ops,
    category_of,
    hour_id,
    hour_start,
    minute_id,
    minute_ids,
    split_dim_key,
)

log = get_logger(__name__)

SPIKES: Final = "report_spikes"
DIMENSIONS: Final = ("category", "product")
BASELINE_DAYS: Final = 14
CHANCE: Final = 1e-6  # a count this unlikely under the usual rate is not noise
MAX_EXAMPLES: Final = 5
# Marks a store whose arrivals per minute were counted from its conversations once (sorts
# after every minute id, so the cleanup of old minutes keeps it).
BACKFILLED: Final = "~backfilled"
# How far back a fired key's examples are looked for first (then the whole window).
EXAMPLE_SPANS_S: Final = (60, 300)
Key = tuple[str, str]  # (dimension, key)


@dataclass(frozen=True)
class SpikeRule:
    window_s: int = 900
    factor: float = 3.0
    minimum: int = 10


@dataclass(frozen=True)
class Candidate:
    dimension: str
    key: str
    count: int
    baseline: float


def poisson_tail(count: int, mean: float) -> float:
    """P(X >= count) for X ~ Poisson(mean)."""
    if count <= 0:
        return 1.0
    if mean <= 0:
        return 0.0
    # 1 - P(X <= count - 1), summed in log space for stability
    term = math.exp(-mean)
    below = 0.0
    for k in range(count):
        if k:
            term *= mean / k
        below += term
    return max(1.0 - below, 0.0)


def is_spike(count: int, baseline: float, rule: SpikeRule) -> bool:
    return (
        count >= rule.minimum
        and count > rule.factor * baseline
        and poisson_tail(count, baseline) < CHANCE
    )


def baseline_hours(now: datetime, rule: SpikeRule, days: int = BASELINE_DAYS) -> list[str]:
    """The hour buckets of the same time of day on the previous `days` days."""
    middle = now - timedelta(seconds=rule.window_s / 2)
    return [hour_id(hour_start(middle - timedelta(days=d))) for d in range(1, days + 1)]


def usual(
    hour_docs: Iterable[Mapping[str, Any]], rule: SpikeRule, days: int = BASELINE_DAYS
) -> dict[Key, float]:
    """Mean arrivals per window for each key, from hourly counter documents."""
    sums: dict[Key, float] = defaultdict(float)
    for doc in hour_docs:
        for field, n in (doc.get("created") or {}).items():
            dim, key = split_dim_key(field)
            if dim in DIMENSIONS:
                sums[(dim, key)] += n
    scale = rule.window_s / 3600 / days
    return {k: v * scale for k, v in sums.items()}


def window_minutes(now: datetime, rule: SpikeRule) -> list[str]:
    """The minutes a tick counts: the current one and those before it, `window_s` in all."""
    return minute_ids(now, max(1, math.ceil(rule.window_s / 60)))


def window_counts(minute_docs: Iterable[Mapping[str, Any]]) -> dict[Key, int]:
    """Arrivals per key over the window's documents of arrivals per minute."""
    counts: dict[Key, int] = defaultdict(int)
    for doc in minute_docs:
        for field, n in (doc.get("created") or {}).items():
            dim, key = split_dim_key(field)
            if dim in DIMENSIONS and n > 0:
                counts[(dim, key)] += int(n)
    return dict(counts)


def detect(
    counts: Mapping[Key, int], baselines: Mapping[Key, float], rule: SpikeRule
) -> list[Candidate]:
    """Keys spiking among one window's arrival counts."""
    found = []
    for (dim, key), count in sorted(counts.items()):
        base = baselines.get((dim, key), 0.0)
        if is_spike(count, base, rule):
            found.append(Candidate(dim, key, count, round(base, 2)))
    return found


def matches(doc: Mapping[str, Any], dimension: str, key: str) -> bool:
    if dimension == "category":
        return category_of(doc) == key
    return str(doc.get(dimension)) == key


@dataclass
class GateState:
    last_at: datetime | None = None
    active: bool = False


def gate(
    states: Mapping[Key, GateState], spiking: Iterable[Key], now: datetime, rule: SpikeRule
) -> tuple[set[Key], set[Key]]:
    """Which keys fire now, and which calmed down (may fire again later)."""
    spiking = set(spiking)
    fire = set()
    for key in spiking:
        state = states.get(key) or GateState()
        recent = state.last_at is not None and now - state.last_at < timedelta(
            seconds=rule.window_s
        )
        if not state.active and not recent:
            fire.add(key)
    calm = {k for k, s in states.items() if s.active and k not in spiking}
    return fire, calm


def event_for(
    candidate: Candidate, now: datetime, rule: SpikeRule, examples: list[str]
) -> SpikeEvent:
    return SpikeEvent(
        id=f"spike.detected:{candidate.dimension}:{candidate.key}:{now:%Y%m%dT%H%M%S}",
        dimension=candidate.dimension,  # type: ignore[arg-type]
        key=candidate.key,
        count=candidate.count,
        baseline=candidate.baseline,
        window_s=rule.window_s,
        examples=examples,
        at=now,
    )


class SpikeWatch:
    """The detector over the store, run on a timer by the notifier."""

    def __init__(self, runtime: Runtime, rule: SpikeRule) -> None:
        self.runtime = runtime
        self.rule = rule

    @property
    def db(self) -> AsyncDatabase[dict[str, Any]]:
        return self.runtime.store.db

    async def counts(self, now: datetime) -> dict[Key, int]:
        ids = window_minutes(now, self.rule)
        return window_counts([d async for d in self.db[ARRIVALS].find({"_id": {"$in": ids}})])

    async def examples(self, dimension: str, key: str, now: datetime) -> list[str]:
        """The newest conversations of a key that fires (so only when one does): the last
        minute's arrivals first, reaching further back only while fewer than five match."""
        found: list[str] = []
        until, start = now, now - timedelta(seconds=self.rule.window_s)
        for span_s in (*EXAMPLE_SPANS_S, self.rule.window_s):
            since = max(now - timedelta(seconds=span_s), start)
            cursor = self.db[CONVERSATIONS].find(
                {"created_at": {"$gt": since, "$lte": until}},
                {"category": 1, "product": 1, "created_at": 1, "status": 1},
            )
            docs = sorted(
                [d async for d in cursor if d.get("status") != "merged"],
                key=lambda d: (d["created_at"], d["_id"]),
                reverse=True,
            )
            found += [d["_id"] for d in docs if matches(d, dimension, key)]
            if len(found) >= MAX_EXAMPLES or since <= start:
                break
            until = since
        return found[:MAX_EXAMPLES]

    async def forget_old_minutes(self, now: datetime) -> None:
        await self.db[ARRIVALS].delete_many({"_id": {"$lt": minute_id(now - ARRIVALS_KEPT)}})

    async def baselines(self, now: datetime) -> dict[Key, float]:
        ids = baseline_hours(now, self.rule)
        docs = self.db[REPORT_COUNTERS].find({"_id": {"$in": ids}}, {"created": 1})
        return usual([d async for d in docs], self.rule)

    async def tick(self, now: datetime | None = None) -> list[SpikeEvent]:
        now = now or utcnow()
        await self.forget_old_minutes(now)
        candidates = detect(await self.counts(now), await self.baselines(now), self.rule)
        by_key = {(c.dimension, c.key): c for c in candidates}
        states = {
            (d["dimension"], d["key"]): GateState(d.get("last_at"), bool(d.get("active")))
            async for d in self.db[SPIKES].find({})
        }
        fire, calm = gate(states, by_key, now, self.rule)
        for dim, key in calm:
            await self.db[SPIKES].update_one(
                {"_id": f"{dim}:{key}", "active": True}, {"$set": {"active": False}}
            )
        fired = []
        for dim, key in sorted(fire):
            examples = await self.examples(dim, key, now)
            event = event_for(by_key[(dim, key)], now, self.rule, examples)
            if await self._claim(event, now):
                fired.append(event)
        return fired

    async def _claim(self, event: SpikeEvent, now: datetime) -> bool:
        """Fire once across replicas: the conditional upsert succeeds for one of them."""
        doc_id = f"{event.dimension}:{event.key}"
        quiet_since = now - timedelta(seconds=self.rule.window_s)
        try:
            await self.db[SPIKES].find_one_and_update(
                {
                    "_id": doc_id,
                    "active": {"$ne": True},
                    "last_at": {"$not": {"$gt": quiet_since}},
                },
                {
                    "$set": {
                        "dimension": event.dimension,
                        "key": event.key,
                        "active": True,
                        "last_at": now,
                        "event": event.model_dump(mode="json"),
                    }
                },
                upsert=True,
            )
        except DuplicateKeyError:
            return False  # another replica fired it, or it is still active
        try:
            await self.runtime.bus.publish_model(subjects.event(event.type), event, msg_id=event.id)
        except BusUnavailable as err:
            log.warning("spike not published; it fires again next tick", error=str(err))
            await self.db[SPIKES].update_one(
                {"_id": doc_id, "last_at": now}, {"$set": {"active": False, "last_at": None}}
            )
            return False
        log.info("spike detected", dimension=event.dimension, key=event.key, count=event.count)
        return True


async def backfill_arrivals(db: AsyncDatabase[dict[str, Any]], now: datetime) -> int:
    """The last hour's arrivals per minute from its conversations, once: a store from before
    they were kept has none, which would leave spikes and the live board's arrivals blind
    for an hour. Returns how many conversations were counted."""
    if await db[ARRIVALS].find_one({"_id": BACKFILLED}) is not None:
        return 0
    since = now - timedelta(hours=1)
    fields = {"category": 1, "product": 1, "created_at": 1, "status": 1}
    cursor = db[CONVERSATIONS].find({"created_at": {"$gte": since, "$lte": now}}, fields)
    conversations = [d async for d in cursor]
    await db[ARRIVALS].delete_many({"_id": {"$gte": minute_id(since), "$lte": minute_id(now)}})
    ops = arrival_ops((None, c) for c in conversations)
    if ops:
        await db[ARRIVALS].bulk_write(ops, ordered=False)
    with contextlib.suppress(DuplicateKeyError):  # another replica marked it first
        await db[ARRIVALS].insert_one({"_id": BACKFILLED, "at": now})
    return len(conversations)


async def recent_spikes(db: AsyncDatabase[dict[str, Any]], since: datetime) -> list[dict[str, Any]]:
    """Spike events fired since `since`, newest first (for the live board's banner)."""
    cursor = db[SPIKES].find({"last_at": {"$gte": since}}, sort=[("last_at", -1)], limit=20)
    return [d["event"] async for d in cursor if d.get("event")]
